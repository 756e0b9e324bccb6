/* djrun verify as a dj_job (jobs/verify.h). */
#include "jobs/verify.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/hash.h"

/* A packed reference: kind ('H' hash, 'S' schema), is_dir (0 no, 1 yes, 2 unknown), size
 * (UINT64_MAX unknown), hash[26] (zeros for none), then store, path and "table.column", each
 * as u16/u32 length + bytes. */
typedef struct ref {
	char kind;
	uint8_t is_dir;
	uint64_t size;
	char hash[DJ_HASH_LEN + 1];
	const char *store, *path, *label;
	size_t store_len, path_len, label_len;
} ref;

static int pack(dj_buf *b, const ref *r)
{
	uint16_t sl = (uint16_t)r->store_len, ll = (uint16_t)r->label_len;
	uint32_t pl = (uint32_t)r->path_len;
	if (dj_buf_addc(b, r->kind) < 0 || dj_buf_addc(b, (char)r->is_dir) < 0 ||
	    dj_buf_add(b, &r->size, 8) < 0 || dj_buf_add(b, r->hash, DJ_HASH_LEN) < 0 ||
	    dj_buf_add(b, &sl, 2) < 0 || dj_buf_add(b, r->store, sl) < 0 || dj_buf_add(b, &pl, 4) < 0 ||
	    dj_buf_add(b, r->path, pl) < 0 || dj_buf_add(b, &ll, 2) < 0 ||
	    dj_buf_add(b, r->label, ll) < 0)
		return DJ_ENOMEM;
	return 0;
}

/* Unpack the reference at *p (< end); advances *p. 0, or DJ_EFORMAT. */
static int unpack(const uint8_t **p, const uint8_t *end, ref *r)
{
	const uint8_t *q = *p;
	uint16_t sl, ll;
	uint32_t pl;
	if (end - q < 2 + 8 + DJ_HASH_LEN + 2)
		return DJ_EFORMAT;
	r->kind = (char)q[0], r->is_dir = q[1];
	memcpy(&r->size, q + 2, 8);
	memcpy(r->hash, q + 10, DJ_HASH_LEN);
	r->hash[DJ_HASH_LEN] = 0;
	q += 10 + DJ_HASH_LEN;
	memcpy(&sl, q, 2), q += 2;
	if ((size_t)(end - q) < (size_t)sl + 4)
		return DJ_EFORMAT;
	r->store = (const char *)q, r->store_len = sl, q += sl;
	memcpy(&pl, q, 4), q += 4;
	if ((size_t)(end - q) < (size_t)pl + 2)
		return DJ_EFORMAT;
	r->path = (const char *)q, r->path_len = pl, q += pl;
	memcpy(&ll, q, 2), q += 2;
	if ((size_t)(end - q) < ll)
		return DJ_EFORMAT;
	r->label = (const char *)q, r->label_len = ll, q += ll;
	*p = q;
	return 0;
}

/* ---- rank 0: the reference scan ---- */

static int scan_value(dj_verify *v, char kind, const char *label, const char *json, size_t n)
{
	json_error_t je;
	json_t *j = json_loadb(json, n, JSON_DECODE_ANY, &je);
	json_t *path = json_object_get(j, "path"), *st = json_object_get(j, "store");
	int rc = 0;
	if (json_is_string(path) && json_is_string(st) &&
	    (!v->store_filter || !strcmp(v->store_filter, json_string_value(st)))) {
		ref r;
		memset(&r, 0, sizeof(r));
		json_t *h = json_object_get(j, "hash"), *sz = json_object_get(j, "size"),
		       *dir = json_object_get(j, "is_dir");
		r.kind = kind;
		r.is_dir = json_is_boolean(dir) ? json_is_true(dir) : 2;
		r.size = json_is_integer(sz) ? (uint64_t)json_integer_value(sz) : UINT64_MAX;
		if (json_is_string(h) && json_string_length(h) == DJ_HASH_LEN)
			memcpy(r.hash, json_string_value(h), DJ_HASH_LEN);
		r.store = json_string_value(st), r.store_len = json_string_length(st);
		r.path = json_string_value(path), r.path_len = json_string_length(path);
		r.label = label, r.label_len = strlen(label);
		if ((rc = pack(&v->refs, &r)) == 0)
			v->nrefs++;
	}
	json_decref(j);
	return rc;
}

static int scan_column(dj_verify *v, const dj_table *t, const dj_attr *a, char kind, dj_err *err)
{
	dj_db_backend b = dj_db_backend_id(v->db);
	dj_buf sql = DJ_BUF_INIT;
	char label[512];
	dj_db_rows *rows = NULL;
	int rc, more;
	snprintf(label, sizeof(label), "%s.%s", t->name, a->name);
	if (dj_buf_adds(&sql, "SELECT ") < 0 || dj_db_quote_ident(b, &sql, a->name, err) < 0 ||
	    dj_buf_adds(&sql, " FROM ") < 0 || dj_db_quote_ident(b, &sql, t->schema, err) < 0 ||
	    dj_buf_addc(&sql, '.') < 0 || dj_db_quote_ident(b, &sql, t->name, err) < 0) {
		dj_buf_dispose(&sql);
		return dj_err_set(err, DJ_ENOMEM, "verify: out of memory");
	}
	rc = dj_db_query(v->db, sql.ptr, NULL, 0, &rows, err);
	dj_buf_dispose(&sql);
	if (rc < 0) {
		dj_err_context(err, "verify: %s.%s", t->schema, label);
		return rc;
	}
	while ((more = dj_db_rows_next(rows, err)) == 1) {
		dj_bytes val = dj_db_rows_value(rows, 0);
		if (dj_db_rows_isnull(rows, 0) || !val.len)
			continue;
		if ((rc = scan_value(v, kind, label, (const char *)val.ptr, val.len)) < 0)
			break;
	}
	dj_db_rows_free(rows);
	if (rc < 0)
		return dj_err_set(err, DJ_ENOMEM, "verify: out of memory");
	return more < 0 ? more : 0;
}

static int v_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_verify *v = ctx;
	int rc;
	if (!(v->stores = calloc(v->nspecs + 1, sizeof(*v->stores))))
		return dj_err_set(err, DJ_ENOMEM, "verify: out of memory");
	if (!info->coordinator)
		return 0;
	if ((rc = v->connect(v->connect_arg, &v->db, err)) < 0)
		return rc;
	if ((rc = dj_schema_load(v->db, v->schema_name, v->default_store, &v->schema, err)) < 0)
		return rc;
	v->have_schema = true;
	for (size_t i = 0; i < v->schema.ntables; i++) {
		const dj_table *t = &v->schema.tables[i];
		for (size_t k = 0; k < t->nattrs; k++) {
			const dj_attr *a = &t->attrs[k];
			if (a->kind != DJ_ATTR_CODEC ||
			    dj_coltype_column(&a->coltype) != DJ_COLUMN_JSON)
				continue;
			dj_addressing ad = dj_coltype_addressing(&a->coltype);
			if (ad != DJ_ADDR_HASH && ad != DJ_ADDR_SCHEMA)
				continue;
			if ((rc = scan_column(v, t, a, ad == DJ_ADDR_HASH ? 'H' : 'S', err)) < 0)
				return rc;
		}
	}
	return 0;
}

static int v_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_verify *v = ctx;
	const uint8_t *end = (const uint8_t *)v->refs.ptr + v->refs.len;
	for (size_t k = 0; k < want && v->next_off < v->refs.len; k++) {
		const uint8_t *start = (const uint8_t *)v->refs.ptr + v->next_off, *p = start;
		ref r;
		for (int i = 0; i < DJ_VERIFY_BATCH && p < end; i++)
			if (unpack(&p, end, &r) < 0)
				return dj_err_set(err, DJ_EFORMAT, "verify: corrupt reference list");
		int rc = dj_job_push(sink, start, (size_t)(p - start), err);
		if (rc < 0)
			return rc == DJ_ESTOP ? 0 : rc;
		v->next_off += (size_t)(p - start);
	}
	return 0;
}

/* ---- any rank: check one batch ---- */

static dj_store *store_for(dj_verify *v, const ref *r, dj_err *err)
{
	for (size_t i = 0; i < v->nspecs; i++) {
		const char *n = v->specs[i].name;
		if (strlen(n) != r->store_len || memcmp(n, r->store, r->store_len))
			continue;
		if (!v->stores[i] && dj_store_open(&v->stores[i], &v->specs[i], err) < 0)
			return NULL;
		return v->stores[i];
	}
	dj_err_set(err, DJ_ENOTFOUND, "store '%.*s' is not configured", (int)r->store_len, r->store);
	return NULL;
}

static int problem(dj_buf *out, const char *what, const ref *r, const char *detail)
{
	return dj_buf_addf(out, "%s\t%.*s\t%.*s\t%.*s\t%s\n", what, (int)r->store_len, r->store,
	                   (int)r->path_len, r->path, (int)r->label_len, r->label, detail);
}

static int check_one(dj_verify *v, const ref *r, dj_buf *out, dj_buf *data)
{
	dj_err err = DJ_ERR_INIT;
	dj_store_stat st;
	char detail[600] = "", got[DJ_HASH_LEN + 1];
	char *path = strndup(r->path, r->path_len);
	dj_store *s = path ? store_for(v, r, &err) : NULL;
	int rc = 0;
	if (!path)
		return DJ_ENOMEM;
	if (!s) {
		rc = problem(out, "error", r, err.msg);
		goto done;
	}
	if (dj_store_head(s, path, &st, &err) < 0) {
		rc = problem(out, "error", r, err.msg);
		goto done;
	}
	if (!st.exists) {
		rc = problem(out, "missing", r, "");
		goto done;
	}
	if (r->kind == 'S') {
		if (r->is_dir == 1 && !st.is_dir)
			snprintf(detail, sizeof(detail), "a file where the metadata says folder");
		else if (r->is_dir == 0 && st.is_dir)
			snprintf(detail, sizeof(detail), "a folder where the metadata says file");
		else if (v->deep && r->is_dir == 0 && r->size != UINT64_MAX && st.size != r->size)
			snprintf(detail, sizeof(detail), "size %llu, metadata says %llu",
			         (unsigned long long)st.size, (unsigned long long)r->size);
		if (!detail[0] && r->is_dir == 1) {
			dj_buf m = DJ_BUF_INIT;
			dj_store_stat ms;
			if (dj_buf_addf(&m, "%s.manifest.json", path) < 0)
				rc = DJ_ENOMEM;
			else if (dj_store_head(s, m.ptr, &ms, &err) == 0 && !ms.exists)
				snprintf(detail, sizeof(detail), "its .manifest.json is missing");
			dj_buf_dispose(&m);
		}
		if (detail[0])
			rc = problem(out, "corrupt", r, detail);
		goto done;
	}
	if (st.is_dir) {
		rc = problem(out, "corrupt", r, "a folder where a hash object should be");
		goto done;
	}
	if (r->size != UINT64_MAX && st.size != r->size) {
		snprintf(detail, sizeof(detail), "size %llu, metadata says %llu",
		         (unsigned long long)st.size, (unsigned long long)r->size);
		rc = problem(out, "corrupt", r, detail);
		goto done;
	}
	if (v->deep && r->hash[0]) {
		dj_buf_reset(data);
		if (dj_store_get(s, path, data, &err) < 0) {
			rc = problem(out, "error", r, err.msg);
			goto done;
		}
		v->bytes_read += data->len;
		if (dj_hash_bytes(data->ptr, data->len, got, &err) < 0)
			rc = problem(out, "error", r, err.msg);
		else if (strcmp(got, r->hash)) {
			snprintf(detail, sizeof(detail), "content hash %s, metadata says %s", got,
			         r->hash);
			rc = problem(out, "corrupt", r, detail);
		}
	}
done:
	free(path);
	return rc < 0 ? DJ_ENOMEM : 0;
}

static int v_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	dj_verify *v = ctx;
	const uint8_t *p = item->ptr, *end = p + item->len;
	dj_buf data = DJ_BUF_INIT;
	uint32_t n = 0;
	int rc = 0;
	/* result: u32 references checked, then problem lines */
	if (dj_buf_add(result, &n, 4) < 0)
		return dj_err_set(err, DJ_ENOMEM, "verify: out of memory");
	while (rc == 0 && p < end) {
		ref r;
		if (unpack(&p, end, &r) < 0)
			rc = dj_err_set(err, DJ_EFORMAT, "verify: corrupt batch");
		else if (check_one(v, &r, result, &data) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "verify: out of memory");
		else
			n++;
	}
	memcpy(result->ptr, &n, 4);
	dj_buf_dispose(&data);
	return rc;
}

static int v_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	dj_verify *v = ctx;
	for (size_t i = 0; i < n; i++) {
		const dj_job_result *r = &res[i];
		uint32_t k = 0;
		if (r->data.len >= 4)
			memcpy(&k, r->data.ptr, 4);
		v->checked += k;
		if (r->data.len <= 4)
			continue;
		const char *s = (const char *)r->data.ptr + 4, *e = (const char *)r->data.ptr + r->data.len;
		for (const char *l = s; l < e;) {
			const char *nl = memchr(l, '\n', (size_t)(e - l));
			size_t len = nl ? (size_t)(nl - l) + 1 : (size_t)(e - l);
			v->missing += !strncmp(l, "missing\t", 8);
			v->corrupt += !strncmp(l, "corrupt\t", 8);
			v->errors += !strncmp(l, "error\t", 6);
			if (dj_buf_add(&v->problems, l, len) < 0)
				return dj_err_set(err, DJ_ENOMEM, "verify: out of memory");
			l += len;
		}
	}
	return 0;
}

void dj_verify_dispose(dj_verify *v)
{
	for (size_t i = 0; v->stores && i < v->nspecs; i++)
		dj_store_close(v->stores[i]);
	free(v->stores);
	v->stores = NULL;
	if (v->have_schema)
		dj_schema_free(&v->schema);
	v->have_schema = false;
	dj_db_close(v->db);
	v->db = NULL;
	dj_buf_dispose(&v->refs);
	dj_buf_dispose(&v->problems);
}

const dj_job dj_verify_job = {
    .name = "verify",
    .start = v_start,
    .plan = v_plan,
    .work = v_work,
    .commit = v_commit,
};
