/*
 * migrate to-npy / to-object, the verify job (jobs/migrate_array.h): the old value is converted
 * again and what the store holds is re-hashed against it; the metadata must describe it.
 *
 * Item:   u32 nrows, u32 npk, u32 flags (1 = <blob@s> source), then per row: npk key fields
 *         (u32 + text), the new column's JSON (u32 + text), the old value (u64 + bytes).
 * Result: per row u8 (1 = verified) and a message (u32 + text, empty when verified).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/hash.h"
#include "codecs/object.h"
#include "jobs/migrate_array.h"

#define FLAG_HASHED 1u

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

static int verify_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_migrate_array *ma = ctx;
	dj_migrate *m = &ma->m;
	int rc;
	if (info->worker && (rc = dj_migrate_array__open_stores(ma, err)) < 0)
		return rc;
	if (!info->coordinator)
		return 0;
	m->cursor_set = false;
	m->plan_done = m->stopped || !m->db || m->state != DJ_MIGRATE_IN_FLIGHT;
	return 0;
}

static int push(dj_job_sink *sink, dj_buf *item, uint32_t nrows, dj_err *err)
{
	for (int i = 0; i < 4; i++)
		((uint8_t *)item->ptr)[i] = (uint8_t)(nrows >> (8 * i));
	int rc = dj_job_push(sink, item->ptr, item->len, err);
	dj_buf_reset(item);
	return rc;
}

static int verify_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_migrate_array *ma = ctx;
	dj_migrate *m = &ma->m;
	dj_buf sql = DJ_BUF_INIT, where = DJ_BUF_INIT, cols = DJ_BUF_INIT, col = DJ_BUF_INIT;
	dj_buf tmp = DJ_BUF_INIT, item = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	dj_db_param *par = NULL;
	size_t np = 0, got = 0, per = m->verify_rows;
	size_t limit = per * (want < 1 ? 1 : want > 16 ? 16 : want);
	uint32_t nrows = 0, flags = dj_migrate_array__hashed_source(ma) ? FLAG_HASHED : 0;
	int rc;
	if (m->plan_done)
		return 0;
	if (!(par = calloc(m->t->npk * (m->t->npk + 1) / 2, sizeof(*par))))
		return nomem(err);
	rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0 && (dj_buf_addf(&where, "%s IS NOT NULL", tmp.ptr) < 0 ||
	                dj_buf_addf(&cols, "%s, %s", tmp.ptr, col.ptr) < 0))
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
		               dj_migrate__put_u32(&item, (uint32_t)m->t->npk) < 0 ||
		               dj_migrate__put_u32(&item, flags) < 0))
			rc = nomem(err);
		for (size_t i = 0; rc == 0 && i < m->t->npk + 2; i++) {
			dj_bytes v = dj_db_rows_value(rows, i);
			if (dj_db_rows_isnull(rows, i))
				v.len = 0;
			if (dj_migrate__put_field(&item, i == m->t->npk + 1, v.ptr, v.len) < 0)
				rc = nomem(err);
		}
		if (rc == 0)
			rc = dj_migrate__cursor_set(m, rows, err);
		if (rc == 0 && (++nrows == per || item.len > m->item_bytes)) {
			rc = push(sink, &item, nrows, err);
			nrows = 0;
		}
	}
	if (rc == 0 && nrows)
		rc = push(sink, &item, nrows, err);
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

/*
 * Compare the object at `path` with `want`. 0 with a message in `why` when it differs or is
 * missing; < 0 only when the store cannot answer.
 */
static int same_object(dj_migrate *m, const char *path, dj_bytes want, dj_buf *obj,
                       dj_buf *why, dj_err *err)
{
	dj_err perr = DJ_ERR_INIT;
	char got[DJ_HASH_LEN + 1], exp[DJ_HASH_LEN + 1];
	dj_buf_reset(obj);
	int rc = dj_store_get(m->store, path, obj, &perr);
	if (rc == DJ_ENOTFOUND)
		return dj_buf_addf(why, "object missing: %s", perr.msg) < 0 ? nomem(err) : 0;
	if (rc < 0)
		return dj_err_set(err, rc, "%s", perr.msg);
	if ((rc = dj_hash_bytes(obj->ptr, obj->len, got, err)) < 0 ||
	    (rc = dj_hash_bytes(want.ptr, want.len, exp, err)) < 0)
		return rc;
	if (obj->len != want.len || strcmp(got, exp))
		return dj_buf_addf(why, "hash mismatch: store '%s' holds %s (%zu bytes) at %s, "
		                        "expected %s (%zu bytes)",
		                   m->target.store, got, obj->len, path, exp, want.len) < 0
		           ? nomem(err)
		           : 0;
	return 0;
}

static int check_npy(dj_migrate *m, dj_bytes json, const dj_array_out *o, dj_buf *obj,
                     dj_buf *why, dj_err *err)
{
	dj_npy_meta meta = {0};
	dj_buf dt = DJ_BUF_INIT;
	dj_err perr = DJ_ERR_INIT;
	int rc = 0;
	if (dj_npy_meta_parse(&meta, (const char *)json.ptr, json.len, &perr) < 0)
		rc = dj_buf_addf(why, "bad metadata: %s", perr.msg);
	else if (!meta.store || strcmp(meta.store, m->target.store))
		rc = dj_buf_addf(why, "metadata names store '%s', not '%s'",
		                 meta.store ? meta.store : "null", m->target.store);
	else if ((rc = dj_npy_dtype_name(&dt, o->npy.descr, false, err)) < 0)
		goto out;
	else if (strcmp(dt.ptr, meta.dtype) || meta.ndim != o->npy.ndim ||
	         (meta.ndim && memcmp(meta.shape, o->npy.shape, meta.ndim * sizeof(*meta.shape))))
		rc = dj_buf_addf(why, "metadata dtype/shape (%s) do not describe the value (%s)",
		                 meta.dtype, dt.ptr);
	else
		rc = same_object(m, meta.path, dj_buf_bytes(&o->file), obj, why, err);
out:
	dj_npy_meta_dispose(&meta);
	dj_buf_dispose(&dt);
	return rc < 0 && !err->code ? nomem(err) : rc < 0 ? rc : 0;
}

/* The manifest must list the folder's files with their sizes. */
static int check_manifest(dj_migrate *m, const char *path, const dj_zarr *z, dj_buf *obj,
                          dj_buf *why, dj_err *err)
{
	dj_buf key = DJ_BUF_INIT;
	dj_manifest man = {0};
	dj_err perr = DJ_ERR_INIT;
	int rc = dj_buf_addf(&key, "%s.manifest.json", path) < 0 ? nomem(err) : 0;
	dj_buf_reset(obj);
	if (rc == 0 && (rc = dj_store_get(m->store, key.ptr, obj, &perr)) < 0) {
		if (rc == DJ_ENOTFOUND)
			rc = dj_buf_addf(why, "manifest missing: %s", perr.msg) < 0 ? nomem(err) : 0;
		else
			dj_err_set(err, rc, "%s", perr.msg);
		goto out;
	}
	if (rc == 0 && dj_manifest_parse(&man, obj->ptr, obj->len, &perr) < 0) {
		rc = dj_buf_addf(why, "bad manifest %s: %s", key.ptr, perr.msg) < 0 ? nomem(err) : 0;
		goto out;
	}
	bool ok = rc == 0 && man.nfiles == z->nfiles && man.total_size == z->total;
	for (size_t i = 0; ok && i < z->nfiles; i++)
		ok = !strcmp(man.paths[i], z->files[i].name) && man.sizes[i] == z->files[i].data.len;
	if (rc == 0 && !ok)
		rc = dj_buf_addf(why, "manifest %s does not list the folder's files", key.ptr) < 0
		         ? nomem(err)
		         : 0;
out:
	dj_manifest_dispose(&man);
	dj_buf_dispose(&key);
	return rc;
}

static int check_object(dj_migrate_array *ma, dj_bytes json, const dj_array_out *o,
                        dj_buf *obj, dj_buf *why, dj_err *err)
{
	dj_migrate *m = &ma->m;
	dj_object_meta meta = DJ_OBJECT_META_INIT;
	dj_err perr = DJ_ERR_INIT;
	dj_buf key = DJ_BUF_INIT;
	bool zarr = ma->format == DJ_ARRAY_ZARR;
	uint64_t size = zarr ? o->zarr.total : o->file.len;
	const char *ext = dj_array_format_ext(ma->format);
	int rc = 0;
	if (dj_object_meta_parse(&meta, (const char *)json.ptr, json.len, &perr) < 0)
		rc = dj_buf_addf(why, "bad metadata: %s", perr.msg);
	else if (!meta.store || strcmp(meta.store, m->target.store))
		rc = dj_buf_addf(why, "metadata names store '%s', not '%s'",
		                 meta.store ? meta.store : "null", m->target.store);
	else if (!meta.ext || strcmp(meta.ext, ext))
		rc = dj_buf_addf(why, "metadata ext %s is not %s (written with another --format?)",
		                 meta.ext ? meta.ext : "null", ext);
	else if (meta.is_dir != zarr || !meta.has_size || meta.size != size ||
	         meta.has_item_count != zarr || (zarr && meta.item_count != o->zarr.nfiles))
		rc = dj_buf_addf(why, "metadata size/is_dir/item_count do not describe the value");
	else if (!zarr)
		rc = same_object(m, meta.path, dj_buf_bytes(&o->file), obj, why, err);
	for (size_t i = 0; zarr && rc == 0 && !why->len && i < o->zarr.nfiles; i++) {
		dj_buf_reset(&key);
		if (dj_buf_addf(&key, "%s/%s", meta.path, o->zarr.files[i].name) < 0)
			rc = nomem(err);
		else
			rc = same_object(m, key.ptr, dj_buf_bytes(&o->zarr.files[i].data), obj, why,
			                 err);
	}
	if (zarr && rc == 0 && !why->len)
		rc = check_manifest(m, meta.path, &o->zarr, obj, why, err);
	dj_object_meta_dispose(&meta);
	dj_buf_dispose(&key);
	return rc < 0 && !err->code ? nomem(err) : rc < 0 ? rc : 0;
}

static int verify_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	dj_migrate_array *ma = ctx;
	dj_migrate__rd r = {item->ptr, item->len};
	dj_buf obj = DJ_BUF_INIT, why = DJ_BUF_INIT;
	uint32_t n = 0, npk = 0, flags = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &flags, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_bytes k, json, old;
		dj_array_out o;
		dj_err cerr = DJ_ERR_INIT;
		for (size_t c = 0; rc == 0 && c < npk; c++)
			rc = dj_migrate__get_field(&r, false, &k, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, false, &json, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, true, &old, err);
		if (rc < 0)
			break;
		dj_buf_reset(&why);
		rc = dj_migrate_array__convert(ma, flags & FLAG_HASHED, old, &o, &cerr);
		if (rc < 0 && dj_migrate_array__refusal(rc))
			rc = dj_buf_addf(&why, "the old value no longer converts: %s", cerr.msg) < 0
			         ? nomem(err)
			         : 0;
		else if (rc < 0)
			dj_err_set(err, rc, "%s", cerr.msg);
		else if (ma->format == DJ_ARRAY_NPY)
			rc = check_npy(&ma->m, json, &o, &obj, &why, err);
		else
			rc = check_object(ma, json, &o, &obj, &why, err);
		dj_array_out_dispose(&o);
		if (rc == 0) {
			uint8_t ok = why.len ? 0 : 1;
			if (dj_buf_add(result, &ok, 1) < 0 ||
			    dj_migrate__put_field(result, false, why.ptr, why.len) < 0)
				rc = nomem(err);
		}
	}
	dj_buf_dispose(&obj), dj_buf_dispose(&why);
	return rc;
}

static int verify_commit_one(dj_migrate *m, const char *reset_sql, dj_job_result *res,
                             dj_db_param *par, size_t *nbad, dj_buf *msg, dj_err *err)
{
	dj_migrate__rd r = {res->item.ptr, res->item.len};
	dj_migrate__rd out = {res->data.ptr, res->data.len};
	uint32_t n = 0, npk = 0, flags = 0;
	*nbad = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &flags, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_migrate__rd key = r;
		dj_bytes skip, why;
		rc = dj_migrate__key_params(m, &r, par, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, false, &skip, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, true, &skip, err);
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
	dj_migrate_array *ma = ctx;
	dj_migrate *m = &ma->m;
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
	dj_migrate_array *ma = ctx;
	if (t && (t->signal || !t->complete))
		ma->m.stopped = true;
}

const dj_job dj_migrate_array_verify_job = {
    .name = "migrate verify",
    .start = verify_start,
    .plan = verify_plan,
    .work = verify_work,
    .commit = verify_commit,
    .finish = verify_finish,
};
