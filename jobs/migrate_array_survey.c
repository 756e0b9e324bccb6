/* migrate to-npy / to-object: the survey behind the dry-run plan (jobs/migrate_array.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/migrate_array.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

/* <blob@s> sources: bytes are the objects' sizes from the metadata, not the JSON's length. */
static int hashed_bytes(dj_migrate_array *ma, dj_migrate_survey *out, dj_err *err)
{
	dj_migrate *m = &ma->m;
	dj_buf sql = DJ_BUF_INIT, col = DJ_BUF_INIT, tmp = DJ_BUF_INIT, size = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	bool pg = dj_db_backend_id(m->db) == DJ_DB_POSTGRESQL;
	bool inflight = m->state == DJ_MIGRATE_IN_FLIGHT;
	int rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0 && inflight)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0 && (pg ? dj_buf_addf(&size, "COALESCE((%s::jsonb->>'size')::bigint, 0)", col.ptr)
	                   : dj_buf_addf(&size,
	                                 "COALESCE(CAST(JSON_UNQUOTE(JSON_EXTRACT(%s, '$.size')) "
	                                 "AS UNSIGNED), 0)",
	                                 col.ptr)) < 0)
		rc = nomem(err);
	if (rc == 0 &&
	    dj_buf_addf(&sql, "SELECT COALESCE(SUM(%s), 0), COALESCE(SUM(CASE WHEN %s%s THEN %s "
	                      "ELSE 0 END), 0) FROM %s",
	                size.ptr, inflight ? tmp.ptr : "TRUE", inflight ? " IS NULL" : "", size.ptr,
	                m->qtable) < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_db_query(m->db, sql.ptr, NULL, 0, &rows, err);
	if (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		const char *a = dj_db_rows_text(rows, 0), *b = dj_db_rows_text(rows, 1);
		out->bytes = a ? strtoull(a, NULL, 10) : 0;
		out->bytes_todo = b ? strtoull(b, NULL, 10) : 0;
		rc = 0;
	}
	dj_db_rows_free(rows);
	dj_buf_dispose(&sql), dj_buf_dispose(&col), dj_buf_dispose(&tmp), dj_buf_dispose(&size);
	return rc < 0 ? rc : 0;
}

/* The first rows still to fill: their keys and paths (with tokens of their own: every write
 * draws a new one). */
static int samples(dj_migrate_array *ma, dj_migrate_survey *out, dj_err *err)
{
	dj_migrate *m = &ma->m;
	dj_buf sql = DJ_BUF_INIT, where = DJ_BUF_INIT, col = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	dj_db_param par[1];
	size_t np = 0;
	bool inflight = m->state == DJ_MIGRATE_IN_FLIGHT;
	int rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0 && inflight)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0 && dj_buf_addf(&where, "%s%s%s IS NOT NULL", inflight ? tmp.ptr : "",
	                           inflight ? " IS NULL AND " : "", col.ptr) < 0)
		rc = nomem(err);
	bool saved = m->cursor_set;
	m->cursor_set = false;
	if (rc == 0)
		rc = dj_migrate__page_sql(m, &sql, col.ptr, where.ptr, 3, par, &np, err);
	m->cursor_set = saved;
	if (rc == 0)
		rc = dj_db_query(m->db, sql.ptr, NULL, 0, &rows, err);
	if (rc == 0)
		rc = dj_migrate__learn_types(m, rows, err);
	while (rc == 0 && out->nsamples < 3 && (rc = dj_db_rows_next(rows, err)) == 1) {
		dj_buf key = DJ_BUF_INIT, path = DJ_BUF_INIT, kb = DJ_BUF_INIT;
		rc = 0;
		for (size_t i = 0; rc == 0 && i < m->t->npk; i++) {
			dj_bytes k = dj_db_rows_value(rows, i);
			rc = dj_migrate__put_field(&kb, false, k.ptr, k.len) < 0 ? nomem(err) : 0;
		}
		dj_migrate__rd r1 = {(const uint8_t *)kb.ptr, kb.len}, r2 = r1;
		if (rc == 0)
			rc = dj_migrate__key_text(m, &r1, &key, err);
		if (rc == 0)
			rc = dj_migrate_array__path(ma, &r2, &path, err);
		if (rc == 0) {
			out->sample_keys[out->nsamples] = dj_buf_take(&key, NULL);
			out->samples[out->nsamples++] = dj_buf_take(&path, NULL);
		}
		dj_buf_dispose(&key), dj_buf_dispose(&path), dj_buf_dispose(&kb);
	}
	dj_db_rows_free(rows);
	dj_buf_dispose(&sql), dj_buf_dispose(&where), dj_buf_dispose(&col), dj_buf_dispose(&tmp);
	return rc < 0 ? rc : 0;
}

int dj_migrate_array_survey(dj_migrate_array *ma, dj_migrate_survey *out, dj_err *err)
{
	dj_migrate *m = &ma->m;
	int rc = dj_migrate_survey_run(m, out, err);
	bool active = m->state == DJ_MIGRATE_NOT_STARTED || m->state == DJ_MIGRATE_IN_FLIGHT;
	if (rc == 0 && active && dj_migrate_array__hashed_source(ma))
		rc = hashed_bytes(ma, out, err);
	if (rc == 0 && active)
		rc = samples(ma, out, err);
	return rc;
}
