/*
 * migrate to-npy / to-object, the fill job (jobs/migrate_array.h).
 *
 * Item:   u32 nrows, u32 npk, u32 flags (1 = the old column is <blob@s> metadata), then per row:
 *         npk key fields (u32 + text form), the target path (u32 + text), the old value (u64 +
 *         bytes as the column holds them).
 * Result: per row u8 (1 = stored, 0 = refused) and a field (u32 + text): the column metadata,
 *         or why the value was refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codecs/object.h"
#include "jobs/migrate_array.h"

#define PAGE_BUDGET ((size_t)32 << 20) /* bytes of old values per plan query */
#define PAGE_ROWS_MAX 2048
#define FLAG_HASHED 1u
/* <blob@s> sources: the item carries metadata, not the bytes a worker will read and convert */
#define HASHED_ROWS_PER_ITEM 16

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

static int fill_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_migrate_array *ma = ctx;
	dj_migrate *m = &ma->m;
	int rc;
	if (info->worker && (rc = dj_migrate_array__open_stores(ma, err)) < 0)
		return rc;
	if (!info->coordinator)
		return 0;
	m->cursor_set = false;
	m->plan_done = false;
	if (!m->db && (rc = dj_migrate_open(m, err)) < 0)
		return rc;
	if (m->state == DJ_MIGRATE_SWAPPED || m->state == DJ_MIGRATE_DONE) {
		m->plan_done = true;
		return 0;
	}
	return dj_migrate_begin(m, err);
}

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
	for (int i = 0; i < 4; i++)
		((uint8_t *)item->ptr)[i] = (uint8_t)(nrows >> (8 * i));
	int rc = dj_job_push(sink, item->ptr, item->len, err);
	dj_buf_reset(item);
	return rc;
}

/* Append one row (key, a freshly drawn path, old value) to the item. */
static int add_row(dj_migrate_array *ma, dj_db_rows *rows, dj_buf *item, dj_err *err)
{
	dj_migrate *m = &ma->m;
	dj_buf keys = DJ_BUF_INIT, path = DJ_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->t->npk; i++) {
		dj_bytes k = dj_db_rows_value(rows, i);
		if (dj_migrate__put_field(&keys, false, k.ptr, k.len) < 0)
			rc = nomem(err);
	}
	dj_migrate__rd r = {(const uint8_t *)keys.ptr, keys.len};
	if (rc == 0)
		rc = dj_migrate_array__path(ma, &r, &path, err);
	dj_bytes v = dj_db_rows_value(rows, m->t->npk);
	if (rc == 0 && (dj_buf_add(item, keys.ptr, keys.len) < 0 ||
	                dj_migrate__put_field(item, false, path.ptr, path.len) < 0 ||
	                dj_migrate__put_field(item, true, v.ptr, v.len) < 0))
		rc = nomem(err);
	dj_buf_dispose(&keys), dj_buf_dispose(&path);
	return rc;
}

static int fill_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_migrate_array *ma = ctx;
	dj_migrate *m = &ma->m;
	dj_buf sql = DJ_BUF_INIT, where = DJ_BUF_INIT, col = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	dj_buf item = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	dj_db_param *par = NULL;
	size_t np = 0, got = 0, limit = page_rows(m);
	uint32_t nrows = 0, flags = dj_migrate_array__hashed_source(ma) ? FLAG_HASHED : 0;
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
		if (nrows && (item.len + v.len > m->item_bytes ||
		              (flags && nrows >= HASHED_ROWS_PER_ITEM))) {
			if ((rc = push_item(sink, &item, nrows, err)) < 0)
				break;
			nrows = 0;
		}
		if (!nrows && (dj_migrate__put_u32(&item, 0) < 0 ||
		               dj_migrate__put_u32(&item, (uint32_t)m->t->npk) < 0 ||
		               dj_migrate__put_u32(&item, flags) < 0))
			rc = nomem(err);
		if (rc == 0)
			rc = add_row(ma, rows, &item, err);
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

/* Python's datetime.now(timezone.utc) for the metadata and the manifest. */
static void now_utc(int64_t *sec, int32_t *usec)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = (int64_t)ts.tv_sec;
	*usec = (int32_t)(ts.tv_nsec / 1000);
}

/* Write the Zarr folder's files, then its manifest (formats.md §6.6). */
static int put_zarr(dj_migrate *m, const char *path, const dj_zarr *z, int64_t sec,
                    int32_t usec, dj_err *err)
{
	dj_manifest_file *mf = calloc(z->nfiles ? z->nfiles : 1, sizeof(*mf));
	dj_buf key = DJ_BUF_INIT, man = DJ_BUF_INIT;
	int rc = mf ? 0 : nomem(err);
	for (size_t i = 0; rc == 0 && i < z->nfiles; i++) {
		dj_buf_reset(&key);
		mf[i].path = z->files[i].name;
		mf[i].size = z->files[i].data.len;
		if (dj_buf_addf(&key, "%s/%s", path, z->files[i].name) < 0)
			rc = nomem(err);
		else
			rc = dj_store_put(m->store, key.ptr, z->files[i].data.ptr,
			                  z->files[i].data.len, 0, err);
	}
	if (rc == 0)
		rc = dj_manifest_build(&man, mf, z->nfiles, sec, usec, err);
	dj_buf_reset(&key);
	if (rc == 0 && dj_buf_addf(&key, "%s.manifest.json", path) < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_store_put(m->store, key.ptr, man.ptr, man.len, 0, err);
	free(mf);
	dj_buf_dispose(&key), dj_buf_dispose(&man);
	return rc;
}

/* Store one converted value at `path`; its column metadata into `json`. */
static int store_one(dj_migrate_array *ma, const char *path, const dj_array_out *o,
                     dj_buf *json, dj_err *err)
{
	dj_migrate *m = &ma->m;
	dj_object_meta meta = DJ_OBJECT_META_INIT;
	int64_t sec;
	int32_t usec;
	int rc;
	now_utc(&sec, &usec);
	if (ma->format == DJ_ARRAY_ZARR)
		rc = put_zarr(m, path, &o->zarr, sec, usec, err);
	else
		rc = dj_store_put(m->store, path, o->file.ptr, o->file.len, 0, err);
	if (rc < 0)
		return rc;
	if (ma->format == DJ_ARRAY_NPY)
		return dj_npy_meta_build(json, path, m->target.store, &o->npy, err);
	/* what ObjectCodec writes for a file (.h5) or for a staged .zarr folder (§6.5, §9) */
	meta.path = (char *)path;
	meta.store = m->target.store;
	meta.has_size = true;
	meta.size = ma->format == DJ_ARRAY_ZARR ? o->zarr.total : o->file.len;
	meta.ext = (char *)dj_array_format_ext(ma->format);
	meta.is_dir = ma->format == DJ_ARRAY_ZARR;
	meta.has_item_count = meta.is_dir;
	meta.item_count = o->zarr.nfiles;
	meta.has_timestamp = true;
	meta.ts_sec = sec;
	meta.ts_usec = usec;
	return dj_object_meta_build(json, &meta, err);
}

static int fill_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	dj_migrate_array *ma = ctx;
	dj_migrate__rd r = {item->ptr, item->len};
	dj_buf json = DJ_BUF_INIT;
	uint32_t n = 0, npk = 0, flags = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &flags, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_bytes k, path, v;
		dj_array_out o;
		dj_err why = DJ_ERR_INIT;
		for (size_t c = 0; rc == 0 && c < npk; c++)
			rc = dj_migrate__get_field(&r, false, &k, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, false, &path, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, true, &v, err);
		if (rc < 0)
			break;
		char *p = strndup((const char *)path.ptr, path.len);
		dj_buf_reset(&json);
		rc = p ? dj_migrate_array__convert(ma, flags & FLAG_HASHED, v, &o, &why) : nomem(err);
		if (p && rc == 0)
			rc = store_one(ma, p, &o, &json, err);
		else if (p && dj_migrate_array__refusal(rc)) {
			rc = 0; /* refused: the row stays as it is */
			if (dj_buf_adds(&json, why.msg) < 0)
				rc = nomem(err);
		} else if (p)
			dj_err_set(err, rc, "%s", why.msg);
		uint8_t stored = why.code ? 0 : 1;
		if (rc == 0 && (dj_buf_add(result, &stored, 1) < 0 ||
		                dj_migrate__put_field(result, false, json.ptr, json.len) < 0))
			rc = nomem(err);
		free(p);
		if (p)
			dj_array_out_dispose(&o);
	}
	dj_buf_dispose(&json);
	return rc;
}

/* Remember a refusal for the report (the first ones verbatim). */
static int note_refused(dj_migrate_array *ma, dj_migrate__rd key, dj_bytes why, dj_buf *msg,
                        dj_err *err)
{
	dj_migrate *m = &ma->m;
	dj_buf_reset(msg);
	ma->rows_refused++;
	if (dj_buf_addf(msg, "%s.%s ", m->t->name, m->a->name) < 0 ||
	    dj_migrate__key_text(m, &key, msg, err) < 0 || dj_buf_adds(msg, ": refused: ") < 0 ||
	    dj_buf_add(msg, why.ptr, why.len) < 0)
		return err->code ? err->code : nomem(err);
	if (ma->nrefused < DJ_MIGRATE_ARRAY_REFUSED_MAX &&
	    !(ma->refused[ma->nrefused++] = strdup(msg->ptr)))
		return nomem(err);
	return 0;
}

static int fill_commit_one(dj_migrate_array *ma, const char *sql, dj_job_result *res,
                           dj_db_param *par, dj_err *err)
{
	dj_migrate *m = &ma->m;
	dj_migrate__rd r = {res->item.ptr, res->item.len};
	dj_migrate__rd out = {res->data.ptr, res->data.len};
	dj_buf msg = DJ_BUF_INIT, first = DJ_BUF_INIT;
	uint32_t n = 0, npk = 0, flags = 0, refused = 0;
	int rc = dj_migrate__get_u32(&r, &n, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &npk, err);
	if (rc == 0)
		rc = dj_migrate__get_u32(&r, &flags, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		dj_migrate__rd key = r;
		dj_bytes path, v, json;
		rc = dj_migrate__key_params(m, &r, par + 1, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, false, &path, err);
		if (rc == 0)
			rc = dj_migrate__get_field(&r, true, &v, err);
		if (rc == 0 && out.left < 1)
			rc = dj_err_set(err, DJ_EFORMAT, "migrate: truncated fill result");
		if (rc < 0)
			break;
		uint8_t stored = out.p[0];
		out.p++, out.left--;
		if ((rc = dj_migrate__get_field(&out, false, &json, err)) < 0)
			break;
		if (!stored) {
			if ((rc = note_refused(ma, key, json, &msg, err)) < 0)
				break;
			if (!refused++ && dj_buf_adds(&first, msg.ptr) < 0)
				rc = nomem(err);
			continue;
		}
		par[0] = dj_db_textn((const char *)json.ptr, json.len);
		if ((rc = dj_db_exec(m->db, sql, par, m->t->npk + 1, err)) < 0)
			break;
		if (dj_db_affected_rows(m->db)) {
			m->rows_filled++;
			m->bytes_filled += v.len;
		}
	}
	if (rc == 0 && refused) {
		res->outcome = DJ_JOB_FAILED;
		dj_err_set(&res->err, DJ_ENOTSUP, "%s%s", first.ptr,
		           refused > 1 ? " (and more rows of this batch)" : "");
	}
	dj_buf_dispose(&msg), dj_buf_dispose(&first);
	return rc;
}

static int fill_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	dj_migrate_array *ma = ctx;
	dj_migrate *m = &ma->m;
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param *par = calloc(m->t->npk + 1, sizeof(*par));
	uint64_t rows0 = m->rows_filled, bytes0 = m->bytes_filled, ref0 = ma->rows_refused;
	size_t nref0 = ma->nrefused;
	int rc = par ? dj_migrate__update_sql(m, false, &sql, err) : nomem(err);
	if (rc == 0)
		rc = dj_db_begin(m->db, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (res[i].outcome == DJ_JOB_DONE)
			rc = fill_commit_one(ma, sql.ptr, &res[i], par, err);
	if (rc == 0)
		rc = dj_db_commit(m->db, err);
	if (rc < 0) {
		dj_err ignore = DJ_ERR_INIT;
		if (dj_db_in_transaction(m->db))
			dj_db_rollback(m->db, &ignore);
		m->rows_filled = rows0, m->bytes_filled = bytes0, ma->rows_refused = ref0;
		while (ma->nrefused > nref0)
			free(ma->refused[--ma->nrefused]);
		dj_err_context(err, "migrate %s.%s.%s: commit", m->schema_name, m->table_name,
		               m->attr_name);
	}
	dj_buf_dispose(&sql);
	free(par);
	return rc;
}

static void fill_finish(void *ctx, const dj_tally *t)
{
	dj_migrate_array *ma = ctx;
	if (t && (t->signal || !t->complete))
		ma->m.stopped = true;
}

const dj_job dj_migrate_array_fill_job = {
    .name = "migrate",
    .start = fill_start,
    .plan = fill_plan,
    .work = fill_work,
    .commit = fill_commit,
    .finish = fill_finish,
};
