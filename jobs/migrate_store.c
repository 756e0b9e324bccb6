/*
 * migrate to-store, the fill job (jobs/migrate.h): rank 0 pages through the rows whose new
 * column is NULL by primary key, workers store the bytes as hash-addressed objects, rank 0
 * writes the metadata.
 *
 * Item:   u32 nrows, u32 npk, then per row: npk key fields (u32 length + text form), the old value (u64
 *         length + bytes, exactly as the column holds them).
 * Result: per row the metadata JSON (u32 length + text), in item order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/hash.h"
#include "codecs/object.h"
#include "jobs/migrate.h"

#define PAGE_BUDGET ((size_t)32 << 20) /* bytes of old values per plan query */
#define PAGE_ROWS_MAX 2048

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

int dj_migrate__open_store(dj_migrate *m, dj_err *err)
{
	dj_store_opts o;
	if (m->store)
		return 0;
	memset(&o, 0, sizeof(o));
	o.no_sync = m->no_sync;
	return dj_store_open_opts(&m->store, m->spec, &o, err);
}

static int fill_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_migrate *m = ctx;
	int rc;
	if (info->worker && (rc = dj_migrate__open_store(m, err)) < 0)
		return rc;
	if (!info->coordinator)
		return 0;
	m->cursor_set = false;
	m->plan_done = false;
	if (!m->db && (rc = dj_migrate_open(m, err)) < 0)
		return rc;
	if (m->state == DJ_MIGRATE_SWAPPED || m->state == DJ_MIGRATE_DONE) {
		m->plan_done = true; /* nothing to fill */
		return 0;
	}
	return dj_migrate_begin(m, err);
}

/* Rows per page: the page budget over the mean value size seen so far. */
static size_t page_rows(const dj_migrate *m)
{
	if (!m->rows_planned)
		return 16;
	uint64_t mean = m->bytes_planned / m->rows_planned;
	size_t n = mean ? (size_t)(PAGE_BUDGET / (mean + 1)) : PAGE_ROWS_MAX;
	return n < 1 ? 1 : n > PAGE_ROWS_MAX ? PAGE_ROWS_MAX : n;
}

static int push_item(dj_job_sink *sink, dj_buf *item, uint32_t nrows, dj_err *err)
{
	/* the row count goes first: patch it in */
	for (int i = 0; i < 4; i++)
		((uint8_t *)item->ptr)[i] = (uint8_t)(nrows >> (8 * i));
	int rc = dj_job_push(sink, item->ptr, item->len, err);
	dj_buf_reset(item);
	return rc;
}

static int fill_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_migrate *m = ctx;
	dj_buf sql = DJ_BUF_INIT, where = DJ_BUF_INIT, col = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	dj_buf item = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	dj_db_param *par = NULL;
	size_t np = 0, got = 0, limit = page_rows(m);
	uint32_t nrows = 0;
	int rc = 0;
	(void)want;
	if (m->plan_done)
		return 0;
	if (!(par = calloc(m->t->npk * (m->t->npk + 1) / 2, sizeof(*par))))
		return nomem(err);
	rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0 && dj_buf_addf(&where, "%s IS NULL AND %s IS NOT NULL", tmp.ptr, col.ptr) < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_migrate__page_sql(m, &sql, col.ptr, where.ptr, limit, par, &np, err);
	if (rc == 0)
		rc = dj_db_query(m->db, sql.ptr, par, np, &rows, err);
	if (rc == 0)
		rc = dj_migrate__learn_types(m, rows, err);
	while (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		dj_bytes v = dj_db_rows_value(rows, m->t->npk);
		rc = 0;
		got++;
		if (nrows && item.len + v.len > m->item_bytes) {
			if ((rc = push_item(sink, &item, nrows, err)) < 0)
				break;
			nrows = 0;
		}
		if (!nrows && (dj_migrate__put_u32(&item, 0) < 0 ||
		               dj_migrate__put_u32(&item, (uint32_t)m->t->npk) < 0))
			rc = nomem(err);
		for (size_t i = 0; rc == 0 && i < m->t->npk; i++) {
			dj_bytes k = dj_db_rows_value(rows, i);
			if (dj_migrate__put_field(&item, false, k.ptr, k.len) < 0)
				rc = nomem(err);
		}
		if (rc == 0 && dj_migrate__put_field(&item, true, v.ptr, v.len) < 0)
			rc = nomem(err);
		if (rc == 0)
			rc = dj_migrate__cursor_set(m, rows, err);
		nrows++;
		m->rows_planned++;
		m->bytes_planned += v.len;
	}
	if (rc == 0 && nrows)
		rc = push_item(sink, &item, nrows, err);
	if (rc == 0 && got < limit)
		m->plan_done = true;
	dj_db_rows_free(rows);
	dj_buf_dispose(&sql), dj_buf_dispose(&where), dj_buf_dispose(&col), dj_buf_dispose(&tmp);
	dj_buf_dispose(&item);
	free(par);
	if (rc < 0 && rc != DJ_ESTOP)
		dj_err_context(err, "migrate %s.%s.%s: plan", m->schema_name, m->table_name,
		               m->attr_name);
	return rc < 0 ? rc : 0;
}

/* Store one value as a hash object; its metadata appended to `result` (u32 + JSON). */
static int store_one(dj_migrate *m, dj_bytes v, dj_buf *check, dj_buf *result, dj_err *err)
{
	dj_hash_meta meta = DJ_HASH_META_INIT;
	dj_buf path = DJ_BUF_INIT, json = DJ_BUF_INIT;
	char again[DJ_HASH_LEN + 1];
	int rc = dj_hash_bytes(v.ptr, v.len, meta.hash, err);
	if (rc == 0)
		rc = dj_migrate__path(m, m->schema_name, meta.hash, &path, err);
	if (rc == 0)
		rc = dj_store_put(m->store, path.ptr, v.ptr, v.len, DJ_STORE_IF_ABSENT, err);
	if (rc == DJ_EEXISTS) {
		/* already there (deduplicated, or written by a run that was killed): keep it only if
		 * it holds these bytes; a damaged object is replaced */
		dj_err_clear(err);
		dj_buf_reset(check);
		rc = dj_store_get(m->store, path.ptr, check, err);
		if (rc == 0)
			rc = dj_hash_bytes(check->ptr, check->len, again, err);
		if (rc == 0 && (check->len != v.len || strcmp(again, meta.hash)))
			rc = dj_store_put(m->store, path.ptr, v.ptr, v.len, 0, err);
	}
	if (rc == 0) {
		meta.path = path.ptr;
		meta.schema = (char *)m->schema_name;
		meta.store = m->target.store;
		meta.has_size = true;
		meta.size = v.len;
		rc = dj_hash_meta_build(&json, &meta, err);
	}
	if (rc == 0 && dj_migrate__put_field(result, false, json.ptr, json.len) < 0)
		rc = nomem(err);
	dj_buf_dispose(&path), dj_buf_dispose(&json);
	return rc;
}

static int fill_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	dj_migrate *m = ctx;
	dj_migrate__rd r = {item->ptr, item->len};
	dj_buf check = DJ_BUF_INIT;
	uint32_t n = 0, npk = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_bytes k, v;
		for (size_t c = 0; rc == 0 && c < npk; c++)
			rc = dj_migrate__get_field(&r, false, &k, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, true, &v, err);
		if (rc == 0)
			rc = store_one(m, v, &check, result, err);
	}
	dj_buf_dispose(&check);
	return rc;
}

/* `UPDATE t SET tmp=? WHERE k1=? AND ... AND tmp IS NULL` (or `tmp=NULL` with reset). */
int dj_migrate__update_sql(dj_migrate *m, bool reset, dj_buf *sql, dj_err *err)
{
	dj_buf tmp = DJ_BUF_INIT;
	int rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0 && dj_buf_addf(sql, "UPDATE %s SET %s=%s WHERE ", m->qtable, tmp.ptr,
	                           reset ? "NULL" : "?") < 0)
		rc = nomem(err);
	for (size_t i = 0; rc == 0 && i < m->t->npk; i++) {
		if ((i && dj_buf_adds(sql, " AND ") < 0) ||
		    dj_migrate__ident(m, sql, m->t->attrs[m->t->pk[i]].name, err) < 0 ||
		    dj_buf_adds(sql, "=?") < 0)
			rc = err->code ? err->code : nomem(err);
	}
	if (rc == 0 && dj_buf_addf(sql, " AND %s IS %sNULL", tmp.ptr, reset ? "NOT " : "") < 0)
		rc = nomem(err);
	dj_buf_dispose(&tmp);
	return rc;
}

static int fill_commit_one(dj_migrate *m, const char *sql, dj_job_result *res, dj_db_param *par,
                           dj_err *err)
{
	dj_migrate__rd r = {res->item.ptr, res->item.len};
	dj_migrate__rd out = {res->data.ptr, res->data.len};
	uint32_t n = 0, npk = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_bytes v, json;
		rc = dj_migrate__key_params(m, &r, par + 1, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, true, &v, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&out, false, &json, err);
		if (rc < 0)
			break;
		par[0] = dj_db_textn((const char *)json.ptr, json.len);
		if ((rc = dj_db_exec(m->db, sql, par, m->t->npk + 1, err)) < 0)
			break;
		if (dj_db_affected_rows(m->db)) {
			m->rows_filled++;
			m->bytes_filled += v.len;
		}
	}
	return rc;
}

static int fill_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	dj_migrate *m = ctx;
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param *par = calloc(m->t->npk + 1, sizeof(*par));
	uint64_t rows0 = m->rows_filled, bytes0 = m->bytes_filled;
	int rc = par ? dj_migrate__update_sql(m, false, &sql, err) : nomem(err);
	if (rc == 0)
		rc = dj_db_begin(m->db, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (res[i].outcome == DJ_JOB_DONE)
			rc = fill_commit_one(m, sql.ptr, &res[i], par, err);
	if (rc == 0)
		rc = dj_db_commit(m->db, err);
	if (rc < 0) {
		dj_err ignore = DJ_ERR_INIT;
		if (dj_db_in_transaction(m->db))
			dj_db_rollback(m->db, &ignore);
		m->rows_filled = rows0, m->bytes_filled = bytes0;
		dj_err_context(err, "migrate %s.%s.%s: commit", m->schema_name, m->table_name,
		               m->attr_name);
	}
	dj_buf_dispose(&sql);
	free(par);
	return rc;
}

static void fill_finish(void *ctx, const dj_tally *t)
{
	dj_migrate *m = ctx;
	if (t && (t->signal || !t->complete))
		m->stopped = true;
}

const dj_job dj_migrate_fill_job = {
    .name = "migrate",
    .start = fill_start,
    .plan = fill_plan,
    .work = fill_work,
    .commit = fill_commit,
    .finish = fill_finish,
};
