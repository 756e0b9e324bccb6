/*
 * migrate legacy-external: the fill and verify jobs (jobs/migrate_legacy.h). Rank 0 pages
 * through the rows of each in-flight column by primary key; workers convert or check the
 * objects; rank 0 writes (fill) or resets (verify) the hidden column, one transaction per batch.
 *
 * Item:   u32 nrows, u32 column index, u32 kind, u32 npk, the store name (u32 + text): workers
 *         have no database, so an item says all they need. Then per row: npk key fields (u32 length
 * + text), the uuid (u32 + 16 bytes), u32 flags (1: a ~external row exists, 2: contents_hash set),
 *         attachment name, file path, contents hash (u32 + bytes each), u64 timestamp, and for
 *         verify the filled JSON (u32 + text).
 * Result: per row u32 status (0 ok), u32 + text (the JSON, or the error), u64 bytes written.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/migrate.h"
#include "jobs/migrate_legacy.h"
#include "jobs/migrate_legacy_object.h"

#define PAGE_ROWS_MAX 2048

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate legacy-external: out of memory");
}

typedef struct row {
	dj_legacy_obj o;
	bool has_ext;
	dj_bytes json;
	char name[256], path[1024]; /* NUL-terminated copies */
} row;

static int put_text(dj_buf *b, const char *s)
{
	return dj_migrate__put_field(b, false, s ? s : "", s ? strlen(s) : 0);
}

/* One row of a page (key, 0.14 value, the ~external columns [, the JSON]) into the item. */
static int put_row(const dj_legacy_col *c, dj_db_rows *rows, bool verify, dj_buf *item, dj_err *err)
{
	size_t k = c->npk;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < k; i++) {
		dj_bytes v = dj_db_rows_value(rows, i);
		rc = dj_migrate__put_field(item, false, v.ptr, v.len);
	}
	dj_bytes uuid = dj_db_rows_value(rows, k);
	bool ext = !dj_db_rows_isnull(rows, k + 1) && dj_db_rows_text(rows, k + 1)[0] == '1';
	bool ch = !dj_db_rows_isnull(rows, k + 4) && dj_db_rows_value(rows, k + 4).len == 16;
	const char *ts = dj_db_rows_text(rows, k + 5);
	if (rc == 0)
		rc = dj_migrate__put_field(item, false, uuid.ptr, uuid.len);
	if (rc == 0)
		rc = dj_migrate__put_u32(item, (ext ? 1u : 0u) | (ch ? 2u : 0u));
	if (rc == 0)
		rc = put_text(item, dj_db_rows_text(rows, k + 2));
	if (rc == 0)
		rc = put_text(item, dj_db_rows_text(rows, k + 3));
	if (rc == 0)
		rc = dj_migrate__put_field(item, false, dj_db_rows_value(rows, k + 4).ptr,
		                           ch ? 16 : 0);
	if (rc == 0)
		rc = dj_migrate__put_u64(item, ts ? (uint64_t)strtoll(ts, NULL, 10) : 0);
	if (rc == 0 && verify) {
		dj_bytes j = dj_db_rows_value(rows, k + 6);
		rc = dj_migrate__put_field(item, false, j.ptr, j.len);
	}
	return rc < 0 ? nomem(err) : 0;
}

static int copy_text(dj_bytes v, char *out, size_t cap, dj_err *err)
{
	if (v.len >= cap || memchr(v.ptr, 0, v.len))
		return dj_err_set(err, DJ_EFORMAT,
		                  "migrate legacy-external: bad name in work item");
	memcpy(out, v.ptr, v.len);
	out[v.len] = 0;
	return 0;
}

/* Read one row back (keys skipped: the caller reads them when it needs them). */
static int get_row(const dj_legacy_col *c, dj_migrate__rd *r, bool verify, row *x, dj_err *err)
{
	dj_bytes v, name, path, ch;
	uint32_t flags = 0;
	uint64_t ts = 0;
	int rc = 0;
	memset(x, 0, sizeof(*x));
	for (size_t i = 0; rc == 0 && i < c->npk; i++)
		rc = dj_migrate__get_field(r, false, &v, err);
	if (rc == 0)
		rc = dj_migrate__get_field(r, false, &v, err);
	if (rc == 0 && v.len != 16)
		rc = dj_err_set(err, DJ_EFORMAT,
		                "migrate legacy-external: a 0.14 value is not 16 "
		                "bytes");
	if (rc == 0)
		memcpy(x->o.uuid, v.ptr, 16);
	if (rc == 0)
		rc = dj_migrate__get_u32(r, &flags, err);
	if (rc == 0)
		rc = dj_migrate__get_field(r, false, &name, err);
	if (rc == 0)
		rc = dj_migrate__get_field(r, false, &path, err);
	if (rc == 0)
		rc = dj_migrate__get_field(r, false, &ch, err);
	if (rc == 0)
		rc = dj_migrate__get_u64(r, &ts, err);
	if (rc == 0 && verify)
		rc = dj_migrate__get_field(r, false, &x->json, err);
	if (rc == 0)
		rc = copy_text(name, x->name, sizeof x->name, err);
	if (rc == 0)
		rc = copy_text(path, x->path, sizeof x->path, err);
	if (rc < 0)
		return rc;
	x->has_ext = flags & 1;
	x->o.kind = c->kind;
	x->o.store = c->store;
	x->o.attach_name = x->name;
	x->o.filepath = x->path;
	x->o.has_contents_hash = (flags & 2) && ch.len == 16;
	if (x->o.has_contents_hash)
		memcpy(x->o.contents_hash, ch.ptr, 16);
	x->o.ts = (int64_t)ts;
	return 0;
}

/* The item header: row count, column index and, in `wc`, what a worker needs of the column. */
static int get_head(dj_migrate__rd *r, uint32_t *n, uint32_t *ci, dj_legacy_col *wc, char *store,
                    size_t cap, dj_err *err)
{
	uint32_t kind = 0, npk = 0;
	dj_bytes st;
	memset(wc, 0, sizeof(*wc));
	int rc = dj_migrate__get_u32(r, n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(r, ci, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(r, &kind, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(r, &npk, err);
	if (rc == 0)
		rc = dj_migrate__get_field(r, false, &st, err);
	if (rc == 0)
		rc = copy_text(st, store, cap, err);
	if (rc == 0 && (kind > DJ_LEGACY_FILEPATH || npk == 0 || npk > 64))
		rc = dj_err_set(err, DJ_EFORMAT, "migrate legacy-external: bad work item");
	wc->kind = (dj_legacy_kind)kind;
	wc->npk = npk;
	wc->store = store;
	return rc;
}

/* --- plan (rank 0) ------------------------------------------------------------------------ */

static int push_item(dj_job_sink *sink, dj_buf *item, uint32_t nrows, dj_err *err)
{
	for (int i = 0; i < 4; i++)
		((uint8_t *)item->ptr)[i] = (uint8_t)(nrows >> (8 * i));
	int rc = dj_job_push(sink, item->ptr, item->len, err);
	dj_buf_reset(item);
	return rc;
}

static int plan_page(dj_legacy *m, dj_legacy_col *c, bool verify, dj_job_sink *sink, size_t want,
                     size_t *got, dj_err *err)
{
	dj_buf cols = DJ_BUF_INIT, where = DJ_BUF_INIT, item = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	size_t per = m->item_rows ? m->item_rows : 64;
	size_t limit = per * (want ? want : 1);
	uint32_t nrows = 0;
	char *tmp = dj_legacy__aux(c->column, "_migrating");
	int rc = tmp ? 0 : nomem(err);
	*got = 0;
	if (limit > PAGE_ROWS_MAX)
		limit = PAGE_ROWS_MAX;
	if (rc == 0 && dj_buf_adds(&cols, "t.") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &cols, c->column, err);
	if (rc == 0 && dj_buf_adds(&cols, ", e.hash IS NOT NULL, e.attachment_name, e.filepath, "
	                                  "e.contents_hash, UNIX_TIMESTAMP(e.timestamp)") < 0)
		rc = nomem(err);
	if (rc == 0 && verify && dj_buf_adds(&cols, ", t.") < 0)
		rc = nomem(err);
	if (rc == 0 && verify)
		rc = dj_legacy__ident(m, &cols, tmp, err);
	if (rc == 0 && dj_buf_adds(&where, "t.") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &where, tmp, err);
	if (rc == 0 && dj_buf_adds(&where, verify ? " IS NOT NULL" : " IS NULL AND t.") < 0)
		rc = nomem(err);
	if (rc == 0 && !verify)
		rc = dj_legacy__ident(m, &where, c->column, err);
	if (rc == 0 && !verify && dj_buf_adds(&where, " IS NOT NULL") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__page(m, c, cols.ptr, where.ptr, limit, &rows, err);
	while (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		rc = 0;
		(*got)++;
		if (!nrows && (dj_migrate__put_u32(&item, 0) < 0 ||
		               dj_migrate__put_u32(&item, (uint32_t)m->plan_col) < 0 ||
		               dj_migrate__put_u32(&item, (uint32_t)c->kind) < 0 ||
		               dj_migrate__put_u32(&item, (uint32_t)c->npk) < 0 ||
		               put_text(&item, c->store) < 0))
			rc = nomem(err);
		if (rc == 0)
			rc = put_row(c, rows, verify, &item, err);
		if (rc == 0)
			rc = dj_legacy__cursor_set(m, c, rows, err);
		if (rc == 0 && ++nrows == per) {
			rc = push_item(sink, &item, nrows, err);
			nrows = 0;
		}
	}
	if (rc == 0 && nrows)
		rc = push_item(sink, &item, nrows, err);
	if (rc == 0 && *got < limit) {
		/* this column is planned: the next one */
		m->plan_col++;
		m->cursor_set = false;
	}
	dj_db_rows_free(rows);
	dj_buf_dispose(&cols), dj_buf_dispose(&where), dj_buf_dispose(&item);
	free(tmp);
	if (rc < 0 && rc != DJ_ESTOP)
		dj_err_context(err, "migrate legacy-external %s.%s.%s: plan", m->schema_name,
		               c->table, c->column);
	return rc;
}

static int plan(dj_legacy *m, bool verify, dj_job_sink *sink, size_t want, dj_err *err)
{
	while (!m->plan_done) {
		if (m->plan_col >= m->ncols) {
			m->plan_done = true;
			break;
		}
		dj_legacy_col *c = &m->cols[m->plan_col];
		if (c->state != DJ_LEGACY_IN_FLIGHT) {
			m->plan_col++;
			continue;
		}
		size_t got = 0;
		int rc = plan_page(m, c, verify, sink, want, &got, err);
		if (rc < 0)
			return rc == DJ_ESTOP ? 0 : rc;
		if (got)
			return 0;
	}
	return 0;
}

static int start(dj_legacy *m, const dj_run_info *info, bool fill, dj_err *err)
{
	int rc;
	if (!info->coordinator)
		return 0;
	m->plan_col = 0;
	m->cursor_set = false;
	m->plan_done = m->stopped;
	if (m->stopped)
		return 0;
	if (!m->db && (rc = dj_legacy_open(m, err)) < 0)
		return rc;
	return fill ? dj_legacy_begin(m, err) : 0;
}

/* --- work (any rank) ---------------------------------------------------------------------- */

static int work(dj_legacy *m, const dj_bytes *item, bool verify, dj_buf *result, dj_err *err)
{
	dj_migrate__rd r = {item->ptr, item->len};
	dj_buf json = DJ_BUF_INIT;
	dj_legacy_col wc;
	char store[256];
	uint32_t n = 0, ci = 0;
	row x;
	int rc = get_head(&r, &n, &ci, &wc, store, sizeof store, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_err e = DJ_ERR_INIT;
		uint64_t copied = 0;
		if ((rc = get_row(&wc, &r, verify, &x, err)) < 0)
			break;
		dj_buf_reset(&json);
		int one = !x.has_ext ? dj_err_set(&e, DJ_ENOTFOUND,
		                                  "no ~external_%s row for this "
		                                  "uuid",
		                                  x.o.store)
		          : verify
		              ? dj_legacy__check(m, &x.o, (const char *)x.json.ptr, x.json.len, &e)
		              : dj_legacy__convert(m, &x.o, &json, &copied, &e);
		if (one == DJ_ENOMEM) {
			*err = e;
			rc = one;
			break;
		}
		const char *txt = one < 0 ? e.msg : json.ptr;
		if (dj_migrate__put_u32(result, one < 0 ? 1u : 0u) < 0 ||
		    put_text(result, txt) < 0 || dj_migrate__put_u64(result, copied) < 0)
			rc = nomem(err);
	}
	dj_buf_dispose(&json);
	return rc;
}

/* --- commit (rank 0) ---------------------------------------------------------------------- */

static void note_bad(dj_legacy *m, const dj_legacy_col *c, dj_migrate__rd key, const char *msg)
{
	dj_buf k = DJ_BUF_INIT;
	dj_err e = DJ_ERR_INIT;
	if (m->first_bad[0])
		return;
	const uint8_t *p = key.p;
	size_t left = key.left;
	if (dj_legacy__key_text(c, &p, &left, &k, &e) == 0)
		snprintf(m->first_bad, sizeof m->first_bad, "%s.%s %s: %s", c->table, c->column,
		         k.ptr, msg);
	dj_buf_dispose(&k);
}

static int update_sql(dj_legacy *m, const dj_legacy_col *c, bool reset, dj_buf *sql, dj_err *err)
{
	char *tmp = dj_legacy__aux(c->column, "_migrating");
	int rc = tmp && dj_buf_adds(sql, "UPDATE ") == 0 ? 0 : nomem(err);
	if (rc == 0)
		rc = dj_legacy__qtable(m, m->schema_name, c->table, sql, err);
	if (rc == 0 && dj_buf_adds(sql, " SET ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, sql, tmp, err);
	if (rc == 0 && dj_buf_adds(sql, reset ? "=NULL" : "=?") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__key_where(m, c, sql, err);
	if (rc == 0 && dj_buf_adds(sql, " AND ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, sql, tmp, err);
	if (rc == 0 && dj_buf_adds(sql, reset ? " IS NOT NULL" : " IS NULL") < 0)
		rc = nomem(err);
	free(tmp);
	return rc;
}

static int commit_one(dj_legacy *m, bool verify, dj_job_result *res, dj_err *err)
{
	dj_migrate__rd r = {res->item.ptr, res->item.len};
	dj_migrate__rd out = {res->data.ptr, res->data.len};
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param par[65];
	dj_legacy_col wc;
	char store[256];
	uint32_t n = 0, ci = 0;
	row x;
	int rc = get_head(&r, &n, &ci, &wc, store, sizeof store, err);
	if (rc == 0 && ci >= m->ncols)
		rc = dj_err_set(err, DJ_EFORMAT, "migrate legacy-external: bad work item");
	if (rc < 0)
		return rc;
	const dj_legacy_col *c = &m->cols[ci];
	rc = update_sql(m, c, verify, &sql, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		uint32_t status = 1;
		uint64_t copied = 0;
		dj_bytes txt;
		dj_migrate__rd key = r;
		const uint8_t *p = r.p;
		size_t left = r.left;
		rc = dj_legacy__key_params(c, &p, &left, par + (verify ? 0 : 1), err);
		if (rc == 0)
			rc = get_row(c, &r, verify, &x, err);
		if (rc == 0)
			rc = dj_migrate__get_u32(&out, &status, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&out, false, &txt, err);
		if (rc == 0)
			rc = dj_migrate__get_u64(&out, &copied, err);
		if (rc < 0)
			break;
		if (verify && status == 0) {
			m->rows_verified++;
			continue;
		}
		if (status != 0) {
			char msg[400];
			snprintf(msg, sizeof msg, "%.*s", (int)(txt.len < 399 ? txt.len : 399),
			         (const char *)txt.ptr);
			note_bad(m, c, key, msg);
			if (!verify) {
				m->rows_failed++;
				continue;
			}
			m->rows_bad++;
			rc = dj_db_exec(m->db, sql.ptr, par, c->npk, err);
			if (rc == 0 && dj_db_affected_rows(m->db))
				m->rows_reset++;
			continue;
		}
		par[0] = dj_db_textn((const char *)txt.ptr, txt.len);
		rc = dj_db_exec(m->db, sql.ptr, par, c->npk + 1, err);
		if (rc == 0 && dj_db_affected_rows(m->db)) {
			m->rows_filled++;
			m->bytes_copied += copied;
		}
	}
	dj_buf_dispose(&sql);
	return rc;
}

static int commit(dj_legacy *m, bool verify, dj_job_result *res, size_t n, dj_err *err)
{
	uint64_t saved[6] = {m->rows_filled, m->bytes_copied, m->rows_verified,
	                     m->rows_bad,    m->rows_failed,  m->rows_reset};
	int rc = dj_db_begin(m->db, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (res[i].outcome == DJ_JOB_DONE)
			rc = commit_one(m, verify, &res[i], err);
	if (rc == 0)
		rc = dj_db_commit(m->db, err);
	if (rc < 0) {
		dj_err ignore = DJ_ERR_INIT;
		if (dj_db_in_transaction(m->db))
			dj_db_rollback(m->db, &ignore);
		m->rows_filled = saved[0], m->bytes_copied = saved[1], m->rows_verified = saved[2];
		m->rows_bad = saved[3], m->rows_failed = saved[4], m->rows_reset = saved[5];
		dj_err_context(err, "migrate legacy-external %s: commit", m->schema_name);
	}
	return rc;
}

static void finish(void *ctx, const dj_tally *t)
{
	dj_legacy *m = ctx;
	if (t && (t->signal || !t->complete))
		m->stopped = true;
}

static int fill_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	return start(ctx, info, true, err);
}
static int verify_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	return start(ctx, info, false, err);
}
static int fill_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	return plan(ctx, false, sink, want, err);
}
static int verify_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	return plan(ctx, true, sink, want, err);
}
static int fill_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	return work(ctx, item, false, result, err);
}
static int verify_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	return work(ctx, item, true, result, err);
}
static int fill_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	return commit(ctx, false, res, n, err);
}
static int verify_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	return commit(ctx, true, res, n, err);
}

const dj_job dj_legacy_fill_job = {
    .name = "migrate legacy-external",
    .start = fill_start,
    .plan = fill_plan,
    .work = fill_work,
    .commit = fill_commit,
    .finish = finish,
};

const dj_job dj_legacy_verify_job = {
    .name = "migrate legacy-external verify",
    .start = verify_start,
    .plan = verify_plan,
    .work = verify_work,
    .commit = verify_commit,
    .finish = finish,
};
