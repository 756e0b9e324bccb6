/*
 * Jobs-table state changes (jobs/jobtable.h, database.md §6.3-§6.6, §6.9, §5.3): one key at a
 * time as Job's methods do, and batched forms for the coordinator.
 */
#include "jobs/jobtable.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/utf8.h"
#include "codecs/blob.h"
#include "codecs/hash.h"

#define KEYS_PER_STATEMENT 500 /* IN lists stay well under both servers' parameter limits */

/* A fresh (key, 'pending', priority) row: what Python's delete-then-insert leaves (§6.3). */
#define FRESH_PENDING                                                                              \
	"status='pending', priority=%d, created_time=CURRENT_TIMESTAMP(3), "                       \
	"scheduled_time=CURRENT_TIMESTAMP(3), reserved_time=NULL, completed_time=NULL, "           \
	"duration=NULL, error_message='', error_stack=NULL, %s='', host='', pid=0, "               \
	"connection_id=0, version=''"

static int nomem(int rc, dj_err *err)
{
	if (rc == DJ_ENOMEM && err && !err->code)
		dj_err_set(err, DJ_ENOMEM, "out of memory");
	return rc;
}

static bool mysql(const dj_jobtable *jt)
{
	return jt->backend == DJ_DB_MYSQL;
}

static const char *user_col(const dj_jobtable *jt)
{
	return mysql(jt) ? "`user`" : "\"user\"";
}

static int full_name(dj_buf *out, const dj_jobtable *jt, const char *table, dj_err *err)
{
	int rc = dj_db_quote_ident(jt->backend, out, jt->schema, err);
	if (rc == 0 && (rc = dj_buf_addc(out, '.')) == 0)
		rc = dj_db_quote_ident(jt->backend, out, table, err);
	return nomem(rc, err);
}

/* CURRENT_TIMESTAMP[(3)] +/- an interval of `sec` seconds on the backend (adapter.interval_expr) */
static int interval(dj_buf *out, const dj_jobtable *jt, double sec)
{
	return mysql(jt) ? dj_buf_addf(out, "INTERVAL %.6f SECOND", sec)
	                 : dj_buf_addf(out, "INTERVAL '%.6f seconds'", sec);
}

static int quoted_list(dj_buf *out, const dj_jobtable *jt, char *const *names, size_t n,
                       dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if ((rc = i ? dj_buf_adds(out, ", ") : 0) == 0)
			rc = dj_db_quote_ident(jt->backend, out, names[i], err);
	return rc;
}

/* Where each jobs key column is in `keys`. */
static int key_map(const dj_jobtable *jt, const dj_keys *keys, int *map, dj_err *err)
{
	for (size_t k = 0; k < jt->npk; k++)
		if ((map[k] = dj_keys_col(keys, jt->pk[k])) < 0)
			return dj_err_set(err, DJ_EUSAGE, "%s.%s: the key lacks attribute '%s'",
			                  jt->schema, jt->name, jt->pk[k]);
	return 0;
}

/* `(Q(a)=?)AND(Q(b)=?)` (§4.3's dict form, values as parameters) */
static int key_cond(dj_buf *out, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                    const int *map, dj_db_param *p, size_t *np, dj_err *err)
{
	int rc = 0;
	for (size_t k = 0; rc == 0 && k < jt->npk; k++) {
		if ((rc = dj_buf_adds(out, k ? "AND(" : "(")) == 0 &&
		    (rc = dj_db_quote_ident(jt->backend, out, jt->pk[k], err)) == 0)
			rc = dj_buf_adds(out, "=?)");
		p[(*np)++] = dj_keys_param(keys, row, (size_t)map[k]);
	}
	return nomem(rc, err);
}

/* `(Q(a), Q(b)) IN ((?, ?), (?, ?))` over rows [from, to) of `keys` */
static int key_in(dj_buf *out, const dj_jobtable *jt, const dj_keys *keys, size_t from,
                  size_t to, const int *map, dj_db_param *p, size_t *np, dj_err *err)
{
	int rc = dj_buf_addc(out, '(');
	if (rc == 0 && (rc = quoted_list(out, jt, jt->pk, jt->npk, err)) == 0)
		rc = dj_buf_adds(out, ") IN (");
	for (size_t r = from; rc == 0 && r < to; r++) {
		rc = dj_buf_adds(out, r > from ? ", (" : "(");
		for (size_t k = 0; rc == 0 && k < jt->npk; k++) {
			rc = dj_buf_adds(out, k ? ", ?" : "?");
			p[(*np)++] = dj_keys_param(keys, r, (size_t)map[k]);
		}
		if (rc == 0)
			rc = dj_buf_addc(out, ')');
	}
	return nomem(rc == 0 ? dj_buf_addc(out, ')') : rc, err);
}

/* Run `UPDATE|DELETE ... WHERE <key>` for one key; *affected gets the changed rows. */
static int one_key(dj_db *db, const dj_jobtable *jt, dj_buf *sql, dj_db_param *p, size_t np,
                   const dj_keys *keys, size_t row, const char *tail, uint64_t *affected,
                   dj_err *err)
{
	int map[64];
	int rc = jt->npk > 64 ? dj_err_set(err, DJ_EUSAGE, "key too wide") : key_map(jt, keys, map, err);
	if (rc == 0 && (rc = nomem(dj_buf_adds(sql, " WHERE "), err)) == 0)
		rc = key_cond(sql, jt, keys, row, map, p, &np, err);
	if (rc == 0 && tail)
		rc = nomem(dj_buf_adds(sql, tail), err);
	if (rc == 0)
		rc = dj_db_exec(db, sql->ptr, p, np, err);
	if (rc == 0 && affected)
		*affected = dj_db_affected_rows(db);
	return rc;
}

static int key_exists(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                      bool *exists, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, v = DJ_BUF_INIT;
	dj_db_param p[64];
	size_t np = 0;
	int map[64];
	int rc = key_map(jt, keys, map, err);
	if (rc == 0 && (rc = nomem(dj_buf_adds(&sql, "SELECT COUNT(*) FROM "), err)) == 0 &&
	    (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " WHERE "), err)) == 0 &&
	    (rc = key_cond(&sql, jt, keys, row, map, p, &np, err)) == 0)
		rc = dj_db_query_value(db, sql.ptr, p, np, &v, NULL, err);
	if (rc == 0)
		*exists = v.ptr[0] != '0';
	dj_buf_dispose(&sql);
	dj_buf_dispose(&v);
	return rc;
}

/* MySQL counts changed rows, not matched ones: 0 may still mean "exists, already so". */
static int must_exist(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                      uint64_t affected, dj_err *err)
{
	bool exists = true;
	dj_buf key = DJ_BUF_INIT;
	int rc = affected ? 0 : key_exists(db, jt, keys, row, &exists, err);
	if (rc == 0 && !exists) {
		dj_keys_text(&key, keys, row);
		rc = dj_err_set(err, DJ_ENOTFOUND, "%s.%s has no job %s", jt->schema, jt->name,
		                key.ptr);
	}
	dj_buf_dispose(&key);
	return rc;
}

static void context(dj_err *err, const char *op, const dj_jobtable *jt, const dj_keys *keys,
                    size_t row)
{
	dj_buf key = DJ_BUF_INIT;
	if (keys && row < keys->n)
		dj_keys_text(&key, keys, row);
	dj_err_context(err, "%s %s.%s%s%s", op, jt->schema, jt->name, key.len ? " " : "", key.ptr);
	dj_buf_dispose(&key);
}

/* --- refresh (§6.3) ------------------------------------------------------------------------- */

/* The jobs key attributes key_source has, in key_source order. */
static size_t common_cols(const dj_jobtable *jt, const dj_keysource *ks, const char **out)
{
	size_t n = 0;
	for (size_t i = 0; i < ks->nattrs && n < 64; i++)
		for (size_t k = 0; k < jt->npk; k++)
			if (!strcmp(ks->attrs[i], jt->pk[k]))
				out[n++] = ks->attrs[i];
	return n;
}

/* `(<cols>) [NOT] IN (SELECT DISTINCT <cols> FROM <key_source> [WHERE (restriction)])` */
static int in_keysource(dj_buf *out, const dj_jobtable *jt, const dj_keysource *ks,
                        const char *restriction, bool negate, dj_err *err)
{
	const char *cols[64];
	size_t n = common_cols(jt, ks, cols);
	int rc;
	if (n == 0)
		return dj_err_set(err, DJ_EUSAGE, "%s.%s shares no key attribute with key_source",
		                  jt->schema, jt->name);
	rc = dj_buf_addc(out, '(');
	for (size_t i = 0; rc == 0 && i < n; i++)
		if ((rc = i ? dj_buf_adds(out, ", ") : 0) == 0)
			rc = dj_db_quote_ident(jt->backend, out, cols[i], err);
	if (rc == 0 && (rc = dj_buf_adds(out, negate ? ") NOT IN (" : ") IN (")) == 0 &&
	    (rc = dj_keysource_select(out, ks, cols, n, true, restriction, false, err)) == 0)
		rc = dj_buf_addc(out, ')');
	return nomem(rc, err);
}

/*
 * 1. new = (key_source & r) - target - jobs, as one INSERT ... SELECT. The status literal sits
 * outside the DISTINCT subquery so that PostgreSQL coerces it to the enum column; a key another
 * worker inserts meanwhile is skipped (Python ignores its DuplicateError).
 */
static int refresh_add(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                       const dj_refresh_opts *o, int64_t *added, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	const char *cols[64];
	int rc = 0;
	if (common_cols(jt, ks, cols) != jt->npk)
		return dj_err_set(err, DJ_EUSAGE, "%s.%s: key_source lacks a jobs key attribute",
		                  jt->schema, jt->name);
	if ((rc = nomem(dj_buf_adds(&sql, "INSERT INTO "), err)) == 0 &&
	    (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " ("), err)) == 0 &&
	    (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, ", status, priority, scheduled_time) SELECT "), err)) == 0 &&
	    (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_addf(&sql, ", 'pending', %d, CURRENT_TIMESTAMP(3) + ", o->priority),
	                err)) == 0 &&
	    (rc = nomem(interval(&sql, jt, o->delay), err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " FROM ("), err)) == 0 &&
	    (rc = dj_keysource_select(&sql, ks, cols, jt->npk, true, o->restriction, true, err)) ==
	        0 &&
	    (rc = nomem(dj_buf_adds(&sql, " AND ("), err)) == 0 &&
	    (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, ") NOT IN (SELECT "), err)) == 0 &&
	    (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " FROM "), err)) == 0 &&
	    (rc = full_name(&sql, jt, jt->name, err)) == 0)
		rc = nomem(dj_buf_addf(&sql, ")) AS %s", mysql(jt) ? "`$new`" : "\"$new\""), err);
	if (rc == 0 && mysql(jt)) { /* a no-op update: duplicates count 0 changed rows */
		rc = nomem(dj_buf_adds(&sql, " ON DUPLICATE KEY UPDATE status = "), err);
		if (rc == 0 && (rc = full_name(&sql, jt, jt->name, err)) == 0)
			rc = nomem(dj_buf_adds(&sql, ".status"), err);
	} else if (rc == 0) {
		rc = nomem(dj_buf_adds(&sql, " ON CONFLICT DO NOTHING"), err);
	}
	if (rc == 0 && (rc = dj_db_exec(db, sql.ptr, NULL, 0, err)) == 0)
		*added = (int64_t)dj_db_affected_rows(db);
	dj_buf_dispose(&sql);
	return rc;
}

/* UPDATE J SET <fresh pending row> WHERE <cond>: re-pend and orphan steps (2, 4). */
static int repend(dj_db *db, const dj_jobtable *jt, int priority, const dj_buf *cond,
                  int64_t *n, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	int rc = nomem(dj_buf_adds(&sql, "UPDATE "), err);
	if (rc == 0 && (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
	    (rc = nomem(dj_buf_addf(&sql, " SET " FRESH_PENDING " WHERE %s", priority, user_col(jt),
	                            cond->ptr),
	                err)) == 0 &&
	    (rc = dj_db_exec(db, sql.ptr, NULL, 0, err)) == 0)
		*n = (int64_t)dj_db_affected_rows(db);
	dj_buf_dispose(&sql);
	return rc;
}

/* 2. keep_completed: success rows in (key_source & r) but not in the target */
static int refresh_repend(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                          const dj_refresh_opts *o, int64_t *n, dj_err *err)
{
	dj_buf cond = DJ_BUF_INIT;
	int rc = nomem(dj_buf_adds(&cond, "status = 'success' AND "), err);
	if (rc == 0 && (rc = in_keysource(&cond, jt, ks, o->restriction, false, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&cond, " AND ("), err)) == 0 &&
	    (rc = quoted_list(&cond, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&cond, ") NOT IN (SELECT "), err)) == 0 &&
	    (rc = quoted_list(&cond, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&cond, " FROM "), err)) == 0 &&
	    (rc = full_name(&cond, jt, jt->target->name, err)) == 0 &&
	    (rc = nomem(dj_buf_addc(&cond, ')'), err)) == 0)
		rc = repend(db, jt, o->priority, &cond, n, err);
	dj_buf_dispose(&cond);
	return rc;
}

/* 3. stale: old rows (not ignore) whose key left the *restricted* key_source (§6.3, §10.12) */
static int refresh_stale(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                         const dj_refresh_opts *o, int64_t *n, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	int rc = nomem(dj_buf_adds(&sql, "DELETE FROM "), err);
	if (rc == 0 && (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " WHERE created_time < CURRENT_TIMESTAMP - "), err)) == 0 &&
	    (rc = nomem(interval(&sql, jt, o->stale_timeout), err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " AND status <> 'ignore' AND "), err)) == 0 &&
	    (rc = in_keysource(&sql, jt, ks, o->restriction, true, err)) == 0 &&
	    (rc = dj_db_exec(db, sql.ptr, NULL, 0, err)) == 0)
		*n = (int64_t)dj_db_affected_rows(db);
	dj_buf_dispose(&sql);
	return rc;
}

/* 4. orphans: reserved longer than orphan_timeout ago (Python never checks the process) */
static int refresh_orphans(dj_db *db, const dj_jobtable *jt, const dj_refresh_opts *o,
                           int64_t *n, dj_err *err)
{
	dj_buf cond = DJ_BUF_INIT;
	int rc = nomem(dj_buf_adds(&cond, "status = 'reserved' AND reserved_time < "
	                                  "CURRENT_TIMESTAMP - "),
	               err);
	if (rc == 0 && (rc = nomem(interval(&cond, jt, o->orphan_timeout), err)) == 0)
		rc = repend(db, jt, o->priority, &cond, n, err);
	dj_buf_dispose(&cond);
	return rc;
}

/*
 * Whether to run a statement again that InnoDB chose as a deadlock victim: it happens when
 * workers (djrun ranks, array tasks, Python) refresh and reserve in one jobs table at once, and
 * the victim's statement or transaction was rolled back whole. Only when the caller had no
 * transaction open (its earlier statements are gone with the rollback), at most 5 tries.
 */
static bool deadlock_retry(dj_db *db, bool caller_tx, int attempt, dj_err *err)
{
	if (caller_tx || attempt >= 4 || dj_db_error_class(db) != DJ_DB_E_DEADLOCK)
		return false;
	dj_err_clear(err);
	struct timespec nap = {0, 20000000L << attempt}; /* 20 ms, 40, 80, 160 */
	nanosleep(&nap, NULL);
	return true;
}

static int refresh_once(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                        const dj_refresh_opts *o, dj_refresh_result *res, dj_err *err)
{
	int rc;
	memset(res, 0, sizeof(*res));
	if ((rc = dj_jobtable_declare(db, jt, NULL, err)) < 0)
		return rc;
	rc = refresh_add(db, jt, ks, o, &res->added, err);
	if (rc == 0 && o->keep_completed)
		rc = refresh_repend(db, jt, ks, o, &res->re_pended, err);
	if (rc == 0 && o->stale_timeout > 0)
		rc = refresh_stale(db, jt, ks, o, &res->removed, err);
	if (rc == 0 && o->orphan_timeout > 0)
		rc = refresh_orphans(db, jt, o, &res->orphaned, err);
	if (rc < 0)
		context(err, "refresh", jt, NULL, 0);
	return rc;
}

int dj_jobs_refresh(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                    const dj_refresh_opts *o, dj_refresh_result *res, dj_err *err)
{
	bool caller_tx = dj_db_in_transaction(db);
	int rc;
	for (int attempt = 0;; attempt++)
		if ((rc = refresh_once(db, jt, ks, o, res, err)) == 0 ||
		    !deadlock_retry(db, caller_tx, attempt, err))
			return rc;
}

/* §5.3 step 4 */
int dj_jobs_pending(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                    const char *restriction, int max_priority, int64_t limit, dj_keys *out,
                    dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	int rc = nomem(dj_buf_adds(&sql, "SELECT "), err);
	if (rc == 0 && (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " FROM "), err)) == 0 &&
	    (rc = full_name(&sql, jt, jt->name, err)) == 0)
		rc = nomem(dj_buf_adds(&sql, " WHERE status = 'pending' AND scheduled_time <= "
		                             "CURRENT_TIMESTAMP(3)"),
		           err);
	if (rc == 0 && restriction && *restriction && ks &&
	    (rc = nomem(dj_buf_adds(&sql, " AND "), err)) == 0)
		rc = in_keysource(&sql, jt, ks, restriction, false, err);
	if (rc == 0 && max_priority >= 0)
		rc = nomem(dj_buf_addf(&sql, " AND priority <= %d", max_priority), err);
	if (rc == 0)
		rc = nomem(dj_buf_addf(&sql, mysql(jt) ? " ORDER BY `priority` ASC, `scheduled_time` ASC"
		                                       : " ORDER BY \"priority\" ASC, "
		                                         "\"scheduled_time\" ASC"),
		           err);
	if (rc == 0 && limit >= 0)
		rc = nomem(dj_buf_addf(&sql, " LIMIT %lld", (long long)limit), err);
	if (rc == 0)
		rc = dj_keys_query(out, db, sql.ptr, NULL, 0, err);
	if (rc < 0)
		context(err, "pending jobs of", jt, NULL, 0);
	dj_buf_dispose(&sql);
	return rc;
}

/* --- one key -------------------------------------------------------------------------------- */

/* UPDATE J SET status=?, host=?, pid=?, connection_id=?, user=?, version=?,
 * reserved_time=CURRENT_TIMESTAMP(3) (§6.4) */
static int reserve_head(dj_buf *sql, const dj_jobtable *jt, const dj_job_worker *w,
                        dj_db_param *p, dj_err *err)
{
	int rc = nomem(dj_buf_adds(sql, "UPDATE "), err);
	if (rc == 0 && (rc = full_name(sql, jt, jt->name, err)) == 0)
		rc = nomem(dj_buf_addf(sql,
		                       " SET status=?, host=?, pid=?, connection_id=?, %s=?, version=?, "
		                       "reserved_time=CURRENT_TIMESTAMP(3)",
		                       user_col(jt)),
		           err);
	p[0] = dj_db_text("reserved");
	p[1] = dj_db_text(w->host);
	p[2] = dj_db_int(w->pid);
	p[3] = dj_db_int(w->connection_id);
	p[4] = dj_db_text(w->user);
	p[5] = dj_db_text(w->version);
	return rc;
}

#define DUE " AND status='pending' AND scheduled_time <= CURRENT_TIMESTAMP(3)"

int dj_jobs_reserve(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                    const dj_job_worker *w, bool *reserved, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param p[6 + 64];
	uint64_t n = 0;
	int rc = reserve_head(&sql, jt, w, p, err);
	*reserved = false;
	if (rc == 0)
		rc = one_key(db, jt, &sql, p, 6, keys, row, DUE, &n, err);
	*reserved = rc == 0 && n == 1; /* changed rows: pending -> reserved always changes */
	if (rc < 0)
		context(err, "reserve", jt, keys, row);
	dj_buf_dispose(&sql);
	return rc;
}

int dj_jobs_complete(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                     bool keep_completed, double duration, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param p[1 + 64];
	size_t np = 0;
	uint64_t n = 0;
	int rc;
	if (!keep_completed) {
		rc = nomem(dj_buf_adds(&sql, "DELETE FROM "), err);
		if (rc == 0 && (rc = full_name(&sql, jt, jt->name, err)) == 0)
			rc = one_key(db, jt, &sql, p, 0, keys, row, NULL, NULL, err);
	} else {
		rc = nomem(dj_buf_adds(&sql, "UPDATE "), err);
		if (rc == 0 && (rc = full_name(&sql, jt, jt->name, err)) == 0)
			rc = nomem(dj_buf_adds(&sql, " SET status='success', "
			                             "completed_time=CURRENT_TIMESTAMP"),
			           err);
		if (rc == 0 && !isnan(duration)) {
			rc = nomem(dj_buf_adds(&sql, ", duration=?"), err);
			p[np++] = dj_db_double(duration);
		}
		if (rc == 0 && (rc = one_key(db, jt, &sql, p, np, keys, row, NULL, &n, err)) == 0)
			rc = must_exist(db, jt, keys, row, n, err);
	}
	if (rc < 0)
		context(err, "complete", jt, keys, row);
	dj_buf_dispose(&sql);
	return rc;
}

int dj_jobs_cut_message(dj_buf *out, const char *message, dj_err *err)
{
	static const char tail[] = "...truncated";
	size_t n = strlen(message), chars = 0, cut = 0;
	const unsigned char *s = (const unsigned char *)message;
	for (size_t i = 0; i < n; chars++) {
		uint32_t cp;
		size_t len = dj_utf8_next(s + i, n - i, &cp);
		if (!len)
			return dj_err_set(err, DJ_EFORMAT, "error message is not valid UTF-8");
		i += len;
		if (chars + 1 == DJ_JOB_MESSAGE_MAX - (sizeof(tail) - 1))
			cut = i; /* after 2035 characters */
	}
	/* len(message) > 2047 characters: the first 2035 and "...truncated" (§6.6) */
	if (chars > DJ_JOB_MESSAGE_MAX)
		return nomem(dj_buf_add(out, message, cut) || dj_buf_adds(out, tail) ? DJ_ENOMEM : 0,
		             err);
	return nomem(dj_buf_add(out, message, n), err);
}

int dj_jobs_error(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                  const char *message, const char *stack, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, msg = DJ_BUF_INIT, blob = DJ_BUF_INIT;
	dj_db_param p[2 + 64];
	dj_value *v = NULL;
	size_t np = 1;
	uint64_t n = 0;
	int rc = dj_jobs_cut_message(&msg, message, err);
	if (rc == 0 && stack && !dj_utf8_valid(stack, strlen(stack)))
		rc = dj_err_set(err, DJ_EFORMAT, "error stack is not valid UTF-8");
	/* error_stack is a <blob> of the stack str: dj0 + 05 + length + UTF-8 (§6.6) */
	if (rc == 0 && stack && !(v = dj_value_str(stack, strlen(stack))))
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (rc == 0 && stack)
		rc = dj_blob_pack(v, NULL, &blob, err);
	if (rc == 0 && (rc = nomem(dj_buf_adds(&sql, "UPDATE "), err)) == 0 &&
	    (rc = full_name(&sql, jt, jt->name, err)) == 0)
		rc = nomem(dj_buf_adds(&sql, stack ? " SET status='error', completed_time="
		                                     "CURRENT_TIMESTAMP, error_message=?, error_stack=?"
		                                   : " SET status='error', completed_time="
		                                     "CURRENT_TIMESTAMP, error_message=?"),
		           err);
	p[0] = dj_db_textn(msg.ptr, msg.len);
	if (stack)
		p[np++] = dj_db_bytes(blob.ptr, blob.len);
	if (rc == 0 && (rc = one_key(db, jt, &sql, p, np, keys, row, NULL, &n, err)) == 0)
		rc = must_exist(db, jt, keys, row, n, err);
	if (rc < 0)
		context(err, "error", jt, keys, row);
	dj_value_free(v);
	dj_buf_dispose(&sql);
	dj_buf_dispose(&msg);
	dj_buf_dispose(&blob);
	return rc;
}

static int insert_ignore(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                         int priority, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param p[64];
	int map[64];
	int rc = key_map(jt, keys, map, err);
	if (rc == 0 && (rc = nomem(dj_buf_adds(&sql, "INSERT INTO "), err)) == 0 &&
	    (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " ("), err)) == 0 &&
	    (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0)
		rc = nomem(dj_buf_adds(&sql, ", status, priority) VALUES ("), err);
	for (size_t k = 0; rc == 0 && k < jt->npk; k++) {
		rc = nomem(dj_buf_adds(&sql, "?, "), err);
		p[k] = dj_keys_param(keys, row, (size_t)map[k]);
	}
	if (rc == 0 && (rc = nomem(dj_buf_addf(&sql, "'ignore', %d)", priority), err)) == 0)
		rc = dj_db_exec(db, sql.ptr, p, jt->npk, err);
	dj_buf_dispose(&sql);
	return rc;
}

int dj_jobs_ignore(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                   int priority, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param p[64];
	uint64_t n = 0;
	bool exists = true;
	int rc = nomem(dj_buf_adds(&sql, "UPDATE "), err);
	if (rc == 0 && (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " SET status='ignore'"), err)) == 0)
		rc = one_key(db, jt, &sql, p, 0, keys, row, NULL, &n, err);
	if (rc == 0 && n == 0)
		rc = key_exists(db, jt, keys, row, &exists, err);
	if (rc == 0 && !exists)
		rc = insert_ignore(db, jt, keys, row, priority, err);
	if (rc < 0)
		context(err, "ignore", jt, keys, row);
	dj_buf_dispose(&sql);
	return rc;
}

/* --- many keys ------------------------------------------------------------------------------ */

/* The same key in two lists (values compared as the server returned them). */
static bool same_key(const dj_keys *a, size_t ra, const int *ma, const dj_keys *b, size_t rb,
                     const int *mb, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t ia = ra * a->ncols + (size_t)ma[k], ib = rb * b->ncols + (size_t)mb[k];
		if (!a->vals[ia] || !b->vals[ib] || a->lens[ia] != b->lens[ib] ||
		    memcmp(a->vals[ia], b->vals[ib], a->lens[ia]) != 0)
			return false;
	}
	return true;
}

static void mark(const dj_jobtable *jt, const dj_keys *keys, const int *map, const dj_keys *got,
                 bool *reserved, size_t *n)
{
	int gm[64];
	for (size_t k = 0; k < jt->npk; k++)
		gm[k] = dj_keys_col(got, jt->pk[k]);
	for (size_t g = 0; g < got->n; g++)
		for (size_t i = 0; i < keys->n; i++)
			if (!reserved[i] && same_key(keys, i, map, got, g, gm, jt->npk)) {
				reserved[i] = true;
				(*n)++;
				break;
			}
}

/* PostgreSQL: UPDATE ... WHERE <keys> AND due RETURNING <key> */
static int reserve_chunk_pg(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t from,
                            size_t to, const int *map, const dj_job_worker *w, dj_keys *got,
                            dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param *p = malloc((6 + (to - from) * jt->npk) * sizeof(*p));
	size_t np = 6;
	int rc = p ? reserve_head(&sql, jt, w, p, err) : dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (rc == 0 && (rc = nomem(dj_buf_adds(&sql, " WHERE "), err)) == 0 &&
	    (rc = key_in(&sql, jt, keys, from, to, map, p, &np, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, DUE " RETURNING "), err)) == 0 &&
	    (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0)
		rc = dj_keys_query(got, db, sql.ptr, p, np, err);
	free(p);
	dj_buf_dispose(&sql);
	return rc;
}

/* MySQL: lock the due pending rows, then update exactly those (no UPDATE ... RETURNING). */
static int reserve_chunk_my(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t from,
                            size_t to, const int *map, const dj_job_worker *w, dj_keys *got,
                            dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param *p = malloc((6 + (to - from) * jt->npk) * sizeof(*p));
	size_t np = 0;
	int gm[64];
	int rc = p ? nomem(dj_buf_adds(&sql, "SELECT "), err)
	           : dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (rc == 0 && (rc = quoted_list(&sql, jt, jt->pk, jt->npk, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " FROM "), err)) == 0 &&
	    (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, " WHERE "), err)) == 0 &&
	    (rc = key_in(&sql, jt, keys, from, to, map, p, &np, err)) == 0 &&
	    (rc = nomem(dj_buf_adds(&sql, DUE " FOR UPDATE"), err)) == 0)
		rc = dj_keys_query(got, db, sql.ptr, p, np, err);
	if (rc == 0 && got->n) {
		for (size_t k = 0; k < jt->npk; k++)
			gm[k] = dj_keys_col(got, jt->pk[k]);
		dj_buf_reset(&sql);
		np = 6;
		free(p);
		if (!(p = malloc((6 + got->n * jt->npk) * sizeof(*p))))
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		if (rc == 0 && (rc = reserve_head(&sql, jt, w, p, err)) == 0 &&
		    (rc = nomem(dj_buf_adds(&sql, " WHERE "), err)) == 0 &&
		    (rc = key_in(&sql, jt, got, 0, got->n, gm, p, &np, err)) == 0)
			rc = dj_db_exec(db, sql.ptr, p, np, err);
		if (rc == 0 && dj_db_affected_rows(db) != got->n)
			rc = dj_err_set(err, DJ_ECONFLICT, "%llu of %zu locked jobs were reserved",
			                (unsigned long long)dj_db_affected_rows(db), got->n);
	}
	free(p);
	dj_buf_dispose(&sql);
	return rc;
}

static int reserve_many_once(dj_db *db, const dj_jobtable *jt, const dj_keys *keys,
                             const dj_job_worker *w, bool *reserved, size_t *n, dj_err *err)
{
	int map[64];
	bool own_tx = mysql(jt) && !dj_db_in_transaction(db);
	int rc = jt->npk > 64 ? dj_err_set(err, DJ_EUSAGE, "key too wide") : key_map(jt, keys, map, err);
	*n = 0;
	memset(reserved, 0, keys->n * sizeof(*reserved));
	if (rc == 0 && own_tx)
		rc = dj_db_begin(db, err);
	for (size_t from = 0; rc == 0 && from < keys->n; from += KEYS_PER_STATEMENT) {
		size_t to = from + KEYS_PER_STATEMENT < keys->n ? from + KEYS_PER_STATEMENT : keys->n;
		dj_keys got;
		dj_keys_init(&got);
		rc = mysql(jt) ? reserve_chunk_my(db, jt, keys, from, to, map, w, &got, err)
		               : reserve_chunk_pg(db, jt, keys, from, to, map, w, &got, err);
		if (rc == 0)
			mark(jt, keys, map, &got, reserved, n);
		dj_keys_dispose(&got);
	}
	if (own_tx && rc == 0)
		rc = dj_db_commit(db, err);
	else if (own_tx)
		dj_db_rollback(db, NULL);
	if (rc < 0) {
		memset(reserved, 0, keys->n * sizeof(*reserved));
		*n = 0;
		context(err, "reserve", jt, NULL, 0);
	}
	return rc;
}

int dj_jobs_reserve_many(dj_db *db, const dj_jobtable *jt, const dj_keys *keys,
                         const dj_job_worker *w, bool *reserved, size_t *n, dj_err *err)
{
	bool caller_tx = dj_db_in_transaction(db);
	int rc;
	for (int attempt = 0;; attempt++)
		if ((rc = reserve_many_once(db, jt, keys, w, reserved, n, err)) == 0 ||
		    !deadlock_retry(db, caller_tx, attempt, err))
			return rc;
}

/* `UPDATE J SET ..., duration = CASE WHEN <key> THEN ? ... ELSE duration END` */
static int duration_case(dj_buf *sql, const dj_jobtable *jt, const dj_keys *keys, size_t from,
                         size_t to, const int *map, const double *durations, dj_db_param *p,
                         size_t *np, dj_err *err)
{
	int rc = nomem(dj_buf_adds(sql, ", duration = CASE"), err);
	for (size_t r = from; rc == 0 && r < to; r++) {
		if (isnan(durations[r]))
			continue;
		if ((rc = nomem(dj_buf_adds(sql, " WHEN "), err)) == 0 &&
		    (rc = key_cond(sql, jt, keys, r, map, p, np, err)) == 0)
			rc = nomem(dj_buf_adds(sql, mysql(jt) ? " THEN ?"
			                                      : " THEN CAST(? AS double precision)"),
			           err);
		p[(*np)++] = dj_db_double(durations[r]);
	}
	return rc == 0 ? nomem(dj_buf_adds(sql, " ELSE duration END"), err) : rc;
}

int dj_jobs_complete_many(dj_db *db, const dj_jobtable *jt, const dj_keys *keys,
                          bool keep_completed, const double *durations, dj_err *err)
{
	int map[64];
	int rc = jt->npk > 64 ? dj_err_set(err, DJ_EUSAGE, "key too wide") : key_map(jt, keys, map, err);
	for (size_t from = 0; rc == 0 && from < keys->n; from += KEYS_PER_STATEMENT) {
		size_t to = from + KEYS_PER_STATEMENT < keys->n ? from + KEYS_PER_STATEMENT : keys->n;
		dj_buf sql = DJ_BUF_INIT;
		dj_db_param *p = malloc(2 * (to - from) * (jt->npk + 1) * sizeof(*p));
		size_t np = 0;
		if (!p)
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		if (rc == 0)
			rc = nomem(dj_buf_adds(&sql, keep_completed ? "UPDATE " : "DELETE FROM "), err);
		if (rc == 0)
			rc = full_name(&sql, jt, jt->name, err);
		if (rc == 0 && keep_completed)
			rc = nomem(dj_buf_adds(&sql, " SET status='success', "
			                             "completed_time=CURRENT_TIMESTAMP"),
			           err);
		if (rc == 0 && keep_completed && durations)
			rc = duration_case(&sql, jt, keys, from, to, map, durations, p, &np, err);
		if (rc == 0 && (rc = nomem(dj_buf_adds(&sql, " WHERE "), err)) == 0 &&
		    (rc = key_in(&sql, jt, keys, from, to, map, p, &np, err)) == 0)
			rc = dj_db_exec(db, sql.ptr, p, np, err);
		free(p);
		dj_buf_dispose(&sql);
	}
	if (rc < 0)
		context(err, "complete", jt, NULL, 0);
	return rc;
}

int dj_jobs_release_many(dj_db *db, const dj_jobtable *jt, const dj_keys *keys,
                         const dj_job_worker *w, size_t *n, dj_err *err)
{
	int map[64];
	int rc = jt->npk > 64 ? dj_err_set(err, DJ_EUSAGE, "key too wide") : key_map(jt, keys, map, err);
	if (n)
		*n = 0;
	for (size_t from = 0; rc == 0 && from < keys->n; from += KEYS_PER_STATEMENT) {
		size_t to = from + KEYS_PER_STATEMENT < keys->n ? from + KEYS_PER_STATEMENT : keys->n;
		dj_buf sql = DJ_BUF_INIT;
		dj_db_param *p = malloc(((to - from) * jt->npk + 3) * sizeof(*p));
		size_t np = 0;
		rc = p ? nomem(dj_buf_adds(&sql, "UPDATE "), err)
		       : dj_err_set(err, DJ_ENOMEM, "out of memory");
		if (rc == 0 && (rc = full_name(&sql, jt, jt->name, err)) == 0 &&
		    (rc = nomem(dj_buf_addf(&sql,
		                            " SET status='pending', reserved_time=NULL, host='', pid=0, "
		                            "connection_id=0, %s='', version='' WHERE ",
		                            user_col(jt)),
		                err)) == 0 &&
		    (rc = key_in(&sql, jt, keys, from, to, map, p, &np, err)) == 0 &&
		    (rc = nomem(dj_buf_adds(&sql, " AND status='reserved' AND host=? AND pid=? AND "
		                                  "connection_id=?"),
		                err)) == 0) {
			p[np++] = dj_db_text(w->host);
			p[np++] = dj_db_int(w->pid);
			p[np++] = dj_db_int(w->connection_id);
			rc = dj_db_exec(db, sql.ptr, p, np, err);
		}
		if (rc == 0 && n)
			*n += (size_t)dj_db_affected_rows(db);
		free(p);
		dj_buf_dispose(&sql);
	}
	if (rc < 0)
		context(err, "release", jt, NULL, 0);
	return rc;
}
