/*
 * migrate to-store, the verify job (jobs/migrate.h): every filled row's object is read back
 * from the store and re-hashed; it must match the metadata's hash and size, and the metadata's
 * hash must be the MD5 the server computes over the old column. A row that fails is reset to
 * NULL (the next run fills it again, replacing a damaged object) and its item fails naming it.
 *
 * Item:   u32 nrows, u32 npk, then per row: npk key fields (u32 + text), the new column's JSON
 *         (u32 + text), the server's MD5 hex of the old value (u32 + 32 characters; 0 = NULL).
 * Result: per row u8 (1 = verified) and a message (u32 + text, empty when verified).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/hash.h"
#include "codecs/object.h"
#include "jobs/migrate.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

static int verify_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_migrate *m = ctx;
	int rc;
	if (info->worker && (rc = dj_migrate__open_store(m, err)) < 0)
		return rc;
	if (!info->coordinator)
		return 0;
	m->cursor_set = false;
	/* nothing to verify unless the fill ran to its end */
	m->plan_done = m->stopped || !m->db || m->state != DJ_MIGRATE_IN_FLIGHT;
	return 0;
}

static int verify_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_migrate *m = ctx;
	dj_buf sql = DJ_BUF_INIT, where = DJ_BUF_INIT, cols = DJ_BUF_INIT, col = DJ_BUF_INIT;
	dj_buf tmp = DJ_BUF_INIT, item = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	dj_db_param *par = NULL;
	size_t np = 0, got = 0, per = m->verify_rows;
	size_t limit = per * (want < 1 ? 1 : want > 16 ? 16 : want);
	uint32_t nrows = 0;
	int rc;
	if (m->plan_done)
		return 0;
	if (!(par = calloc(m->t->npk * (m->t->npk + 1) / 2, sizeof(*par))))
		return nomem(err);
	rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0 && (dj_buf_addf(&where, "%s IS NOT NULL", tmp.ptr) < 0 ||
	                dj_buf_addf(&cols, "%s, MD5(%s)", tmp.ptr, col.ptr) < 0))
		rc = nomem(err);
	if (rc == 0)
		rc = dj_migrate__page_sql(m, &sql, cols.ptr, where.ptr, limit, par, &np, err);
	if (rc == 0)
		rc = dj_db_query(m->db, sql.ptr, par, np, &rows, err);
	if (rc == 0)
		rc = dj_migrate__learn_types(m, rows, err);
	while (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		rc = 0;
		got++;
		if (!nrows && (dj_migrate__put_u32(&item, 0) < 0 ||
		               dj_migrate__put_u32(&item, (uint32_t)m->t->npk) < 0))
			rc = nomem(err);
		for (size_t i = 0; rc == 0 && i < m->t->npk + 2; i++) {
			dj_bytes v = dj_db_rows_value(rows, i);
			if (dj_db_rows_isnull(rows, i))
				v.len = 0;
			if (dj_migrate__put_field(&item, false, v.ptr, v.len) < 0)
				rc = nomem(err);
		}
		if (rc == 0)
			rc = dj_migrate__cursor_set(m, rows, err);
		if (rc == 0 && ++nrows == per) {
			for (int i = 0; i < 4; i++)
				((uint8_t *)item.ptr)[i] = (uint8_t)(nrows >> (8 * i));
			rc = dj_job_push(sink, item.ptr, item.len, err);
			dj_buf_reset(&item);
			nrows = 0;
		}
	}
	if (rc == 0 && nrows) {
		for (int i = 0; i < 4; i++)
			((uint8_t *)item.ptr)[i] = (uint8_t)(nrows >> (8 * i));
		rc = dj_job_push(sink, item.ptr, item.len, err);
	}
	if (rc == 0 && got < limit)
		m->plan_done = true;
	dj_db_rows_free(rows);
	dj_buf_dispose(&sql), dj_buf_dispose(&where), dj_buf_dispose(&cols);
	dj_buf_dispose(&col), dj_buf_dispose(&tmp), dj_buf_dispose(&item);
	free(par);
	if (rc < 0 && rc != DJ_ESTOP)
		dj_err_context(err, "migrate %s.%s.%s: verify plan", m->schema_name, m->table_name,
		               m->attr_name);
	return rc < 0 ? rc : 0;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	                                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Check one row. Returns 0 with *bad set (and `why` filled) for a row that does not verify;
 * < 0 only for failures that say nothing about the row (a store that cannot be reached).
 */
static int check_row(dj_migrate *m, dj_bytes json, dj_bytes md5hex, dj_buf *obj, bool *bad,
                     dj_buf *why, dj_err *err)
{
	dj_hash_meta meta = DJ_HASH_META_INIT;
	dj_err perr = DJ_ERR_INIT;
	char src[DJ_HASH_LEN + 1], got[DJ_HASH_LEN + 1];
	uint8_t digest[DJ_MD5_LEN];
	int rc = 0;
	*bad = true;
	if (dj_hash_meta_parse(&meta, (const char *)json.ptr, json.len, &perr) < 0) {
		rc = dj_buf_addf(why, "bad metadata: %s", perr.msg);
		goto out;
	}
	if (!meta.store || strcmp(meta.store, m->target.store)) {
		rc = dj_buf_addf(why, "metadata names store '%s', not '%s'",
		                 meta.store ? meta.store : "null", m->target.store);
		goto out;
	}
	bool hex_ok = md5hex.len == DJ_MD5_HEX_LEN;
	for (size_t i = 0; hex_ok && i < DJ_MD5_LEN; i++) {
		int hi = hexval(md5hex.ptr[2 * i]), lo = hexval(md5hex.ptr[2 * i + 1]);
		hex_ok = hi >= 0 && lo >= 0;
		digest[i] = (uint8_t)(hi * 16 + lo);
	}
	if (!hex_ok) {
		rc = dj_buf_adds(why, "the old column is NULL or unreadable");
		goto out;
	}
	dj_hash_from_digest(digest, src);
	if (strcmp(src, meta.hash)) {
		rc = dj_buf_addf(why, "metadata hash %s is not the old value's hash %s", meta.hash,
		                 src);
		goto out;
	}
	dj_buf_reset(obj);
	rc = dj_store_get(m->store, meta.path, obj, &perr);
	if (rc == DJ_ENOTFOUND) {
		rc = dj_buf_addf(why, "object missing: %s", perr.msg);
		goto out;
	}
	if (rc < 0) {
		dj_err_set(err, rc, "%s", perr.msg);
		goto out;
	}
	if ((rc = dj_hash_bytes(obj->ptr, obj->len, got, err)) < 0)
		goto out;
	if (strcmp(got, meta.hash) || (meta.has_size && meta.size != obj->len)) {
		rc = dj_buf_addf(why, "hash mismatch: store '%s' holds %s (%zu bytes) at %s, "
		                 "expected %s",
		                 m->target.store, got, obj->len, meta.path, meta.hash);
		goto out;
	}
	*bad = false;
out:
	dj_hash_meta_dispose(&meta);
	if (rc > 0)
		rc = 0;
	return rc < 0 && !err->code ? nomem(err) : rc;
}

static int verify_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	dj_migrate *m = ctx;
	dj_migrate__rd r = {item->ptr, item->len};
	dj_buf obj = DJ_BUF_INIT, why = DJ_BUF_INIT;
	uint32_t n = 0, npk = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_bytes k, json, md5;
		bool bad = false;
		for (size_t c = 0; rc == 0 && c < npk; c++)
			rc = dj_migrate__get_field(&r, false, &k, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, false, &json, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, false, &md5, err);
		dj_buf_reset(&why);
		if (rc == 0)
			rc = check_row(m, json, md5, &obj, &bad, &why, err);
		if (rc == 0) {
			uint8_t ok = bad ? 0 : 1;
			if (dj_buf_add(result, &ok, 1) < 0 ||
			    dj_migrate__put_field(result, false, why.ptr, why.len) < 0)
				rc = nomem(err);
		}
	}
	dj_buf_dispose(&obj), dj_buf_dispose(&why);
	return rc;
}

/* Reset the bad rows of one result; *nbad counts them, `msg` gets the first "key: why". */
static int verify_commit_one(dj_migrate *m, const char *reset_sql, dj_job_result *res,
                             dj_db_param *par, size_t *nbad, dj_buf *msg, dj_err *err)
{
	dj_migrate__rd r = {res->item.ptr, res->item.len};
	dj_migrate__rd out = {res->data.ptr, res->data.len};
	uint32_t n = 0, npk = 0;
	*nbad = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_migrate__rd key = r;
		dj_bytes skip, why;
		rc = dj_migrate__key_params(m, &r, par, err);
		for (int f = 0; rc == 0 && f < 2; f++)
			rc = dj_migrate__get_field(&r, false, &skip, err);
		if (rc == 0 && out.left < 1)
			rc = dj_err_set(err, DJ_EFORMAT, "migrate: truncated verify result");
		if (rc < 0)
			break;
		uint8_t ok = out.p[0];
		out.p++, out.left--;
		if ((rc = dj_migrate__get_field(&out, false, &why, err)) < 0)
			break;
		if (ok) {
			m->rows_verified++;
			continue;
		}
		if ((rc = dj_db_exec(m->db, reset_sql, par, m->t->npk, err)) < 0)
			break;
		m->rows_reset += dj_db_affected_rows(m->db);
		if (!(*nbad)++ && (dj_migrate__key_text(m, &key, msg, err) < 0 ||
		                   dj_buf_adds(msg, ": ") < 0 ||
		                   dj_buf_add(msg, why.ptr, why.len) < 0))
			rc = err->code ? err->code : nomem(err);
	}
	return rc;
}

static int verify_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	dj_migrate *m = ctx;
	dj_buf sql = DJ_BUF_INIT, msg = DJ_BUF_INIT;
	dj_db_param *par = calloc(m->t->npk, sizeof(*par));
	uint64_t verified0 = m->rows_verified, bad0 = m->rows_bad, reset0 = m->rows_reset;
	int rc = par ? dj_migrate__update_sql(m, true, &sql, err) : nomem(err);
	if (rc == 0)
		rc = dj_db_begin(m->db, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t nbad = 0;
		if (res[i].outcome != DJ_JOB_DONE)
			continue;
		dj_buf_reset(&msg);
		if ((rc = verify_commit_one(m, sql.ptr, &res[i], par, &nbad, &msg, err)) < 0)
			break;
		if (nbad) {
			m->rows_bad += nbad;
			res[i].outcome = DJ_JOB_FAILED;
			dj_err_set(&res[i].err, DJ_EFORMAT, "%s.%s %s (%zu bad rows in this batch)",
			           m->t->name, m->a->name, msg.ptr, nbad);
			if (!m->first_bad[0])
				snprintf(m->first_bad, sizeof(m->first_bad), "%s.%s %s", m->t->name,
				         m->a->name, msg.ptr);
		}
	}
	if (rc == 0)
		rc = dj_db_commit(m->db, err);
	if (rc < 0) {
		dj_err ignore = DJ_ERR_INIT;
		if (dj_db_in_transaction(m->db))
			dj_db_rollback(m->db, &ignore);
		m->rows_verified = verified0, m->rows_bad = bad0, m->rows_reset = reset0;
		dj_err_context(err, "migrate %s.%s.%s: verify commit", m->schema_name,
		               m->table_name, m->attr_name);
	}
	dj_buf_dispose(&sql), dj_buf_dispose(&msg);
	free(par);
	return rc;
}

static void verify_finish(void *ctx, const dj_tally *t)
{
	dj_migrate *m = ctx;
	if (t && (t->signal || !t->complete))
		m->stopped = true;
}

const dj_job dj_migrate_verify_job = {
    .name = "migrate verify",
    .start = verify_start,
    .plan = verify_plan,
    .work = verify_work,
    .commit = verify_commit,
    .finish = verify_finish,
};
