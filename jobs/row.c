/*
 * Rows through codecs, read side: stores by name, cells, decoding one value, and the lazy
 * loads of <npy@> and <object@>/<filepath@> cells (jobs/row.h).
 */
#include "jobs/row.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/attach.h"
#include "codecs/codec.h"
#include "codecs/filepath.h"
#include "codecs/hash.h"

/* --- stores by name ------------------------------------------------------------------------ */

int dj_row_ctx_init(dj_row_ctx *c, const dj_store_spec *specs, size_t nspecs,
                    const char *default_store, dj_err *err)
{
	memset(c, 0, sizeof(*c));
	c->specs = specs;
	c->nspecs = nspecs;
	c->default_store = default_store;
	if (nspecs && !(c->open = calloc(nspecs, sizeof(*c->open))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

void dj_row_ctx_dispose(dj_row_ctx *c)
{
	for (size_t i = 0; c->open && i < c->nspecs; i++)
		dj_store_close(c->open[i]);
	free(c->open);
	c->open = NULL;
}

int dj_row_ctx_flush(dj_row_ctx *c, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; c->open && i < c->nspecs; i++) {
		int r = c->open[i] ? dj_store_flush(c->open[i], err) : 0;
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

int dj_row_store(dj_row_ctx *c, const char *name, dj_store **st, const dj_store_spec **spec,
                 dj_err *err)
{
	/* formats.md §1.2 C-REC: null, missing and "" all mean stores.default */
	if (!name || !*name)
		name = c->default_store;
	if (!name || !*name)
		return dj_err_set(err, DJ_ENOTFOUND, "no store named and stores.default is not set");
	for (size_t i = 0; i < c->nspecs; i++) {
		if (strcmp(c->specs[i].name, name) != 0)
			continue;
		if (!c->open[i]) {
			dj_store_opts o = {0};
			o.defer_sync = c->defer_sync;
			int rc = dj_store_open_opts(&c->open[i], &c->specs[i], &o, err);
			if (rc < 0)
				return rc;
		}
		*st = c->open[i];
		if (spec)
			*spec = &c->specs[i];
		return 0;
	}
	return dj_err_set(err, DJ_ENOTFOUND, "store '%s' is not configured", name);
}

/* --- cells --------------------------------------------------------------------------------- */

void dj_cell_init(dj_cell *c)
{
	memset(c, 0, sizeof(*c));
	c->data = (dj_buf)DJ_BUF_INIT;
}

void dj_cell_dispose(dj_cell *c)
{
	dj_value_free(c->value);
	free(c->name);
	dj_buf_dispose(&c->data);
	dj_npy_meta_dispose(&c->npy);
	dj_object_meta_dispose(&c->obj);
	dj_cell_init(c);
}

/* --- plain attributes (database.md §2.6) --------------------------------------------------- */

static int bad_value(dj_err *err, const char *what, dj_bytes raw)
{
	return dj_err_set(err, DJ_EFORMAT, "cannot read %s from '%.*s'", what,
	                  (int)(raw.len > 40 ? 40 : raw.len), (const char *)raw.ptr);
}

static int parse_int(dj_bytes raw, dj_value **out, dj_err *err)
{
	const char *s = (const char *)raw.ptr; /* NUL-terminated by db.h */
	char *end;
	errno = 0;
	if (s[0] != '-') {
		unsigned long long u = strtoull(s, &end, 10);
		if (errno || end == s || *end)
			return bad_value(err, "an integer", raw);
		if (u > INT64_MAX) { /* bigint unsigned: a Python int, 9 bytes on the wire */
			uint8_t le[9];
			for (int i = 0; i < 8; i++)
				le[i] = (uint8_t)(u >> (8 * i));
			le[8] = 0;
			*out = dj_value_int_bytes(le, 9);
			return 0;
		}
		*out = dj_value_int64((int64_t)u);
		return 0;
	}
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return bad_value(err, "an integer", raw);
	*out = dj_value_int64(v);
	return 0;
}

static int parse_float(dj_bytes raw, dj_value **out, dj_err *err)
{
	const char *s = (const char *)raw.ptr;
	char *end;
	double d = strtod(s, &end);
	if (end == s || *end)
		return bad_value(err, "a float", raw);
	*out = dj_value_float(d);
	return 0;
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DD[ HH:MM:SS[.f...]][+00]" (db.h's DATE and DATETIME forms). */
static int parse_datetime(dj_bytes raw, bool date_only, dj_value **out, dj_err *err)
{
	const char *s = (const char *)raw.ptr;
	int y, mo, d, h = 0, mi = 0, se = 0;
	int64_t us = 0, scale = 100000;
	size_t i = 19;
	if (raw.len < 10 || s[4] != '-' || s[7] != '-' || (y = digits(s, 4)) < 0 ||
	    (mo = digits(s + 5, 2)) < 0 || (d = digits(s + 8, 2)) < 0)
		return bad_value(err, "a date", raw);
	if (date_only || raw.len == 10) {
		*out = dj_value_datetime((y * 100 + mo) * 100 + d, date_only ? -1 : 0);
		return 0;
	}
	if (raw.len < 19 || s[13] != ':' || s[16] != ':' || (h = digits(s + 11, 2)) < 0 ||
	    (mi = digits(s + 14, 2)) < 0 || (se = digits(s + 17, 2)) < 0)
		return bad_value(err, "a datetime", raw);
	if (i < raw.len && s[i] == '.')
		for (i++; i < raw.len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			us += scale ? (s[i] - '0') * scale : 0;
	*out = dj_value_datetime((y * 100 + mo) * 100 + d,
	                         ((int64_t)(h * 100 + mi) * 100 + se) * 1000000 + us);
	return 0;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A uuid from 16 raw bytes (MySQL binary(16)) or its 36-character text (PostgreSQL). */
static int parse_uuid(dj_bytes raw, dj_value **out, dj_err *err)
{
	uint8_t b[16];
	size_t k = 0;
	if (raw.len == 16) {
		*out = dj_value_uuid(raw.ptr);
		return 0;
	}
	for (size_t i = 0; i < raw.len && k < 32; i++) {
		int hi = raw.ptr[i] == '-' ? -2 : hexval(raw.ptr[i]);
		if (hi == -2)
			continue;
		if (hi < 0)
			return bad_value(err, "a uuid", raw);
		b[k / 2] = (uint8_t)(k % 2 ? (b[k / 2] | hi) : hi << 4);
		k++;
	}
	if (k != 32)
		return bad_value(err, "a uuid", raw);
	*out = dj_value_uuid(b);
	return 0;
}

static bool core_is(const dj_attr *a, dj_core_type t)
{
	return a->kind == DJ_ATTR_CORE && a->coltype.codec == NULL && a->coltype.core == t;
}

static int decode_plain(const dj_attr *a, dj_db_type dbtype, dj_bytes raw, dj_value **out,
                        dj_err *err)
{
	int rc = 0;
	*out = NULL;
	if (core_is(a, DJ_CORE_UUID))
		rc = parse_uuid(raw, out, err);
	else if (core_is(a, DJ_CORE_JSON))
		*out = dj_value_str((const char *)raw.ptr, raw.len);
	else {
		switch (dbtype) {
		case DJ_DB_T_INT:
			rc = parse_int(raw, out, err);
			break;
		case DJ_DB_T_FLOAT:
			rc = parse_float(raw, out, err);
			break;
		case DJ_DB_T_DECIMAL:
			*out = dj_value_decimal((const char *)raw.ptr, raw.len);
			break;
		case DJ_DB_T_DATE:
		case DJ_DB_T_DATETIME:
			rc = parse_datetime(raw, dbtype == DJ_DB_T_DATE, out, err);
			break;
		case DJ_DB_T_UUID:
			rc = parse_uuid(raw, out, err);
			break;
		case DJ_DB_T_BOOL:
			*out = dj_value_bool(raw.len && raw.ptr[0] == '1');
			break;
		case DJ_DB_T_BYTES:
			*out = dj_value_bytes(raw.ptr, raw.len);
			break;
		default: /* text, enum, json, time and anything else: the server's text */
			*out = dj_value_str((const char *)raw.ptr, raw.len);
		}
	}
	if (rc == 0 && !*out)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	return rc;
}

/* --- store-backed codecs ------------------------------------------------------------------- */

/* Fetch a hash-addressed object by its stored `path` and check its hash (formats.md §4, §5.3). */
static int hash_get(dj_row_ctx *c, dj_bytes json, dj_buf *out, dj_err *err)
{
	dj_hash_meta m = DJ_HASH_META_INIT;
	dj_store *st = NULL;
	char got[DJ_HASH_LEN + 1];
	int rc;
	if ((rc = dj_hash_meta_parse(&m, (const char *)json.ptr, json.len, err)) < 0 ||
	    (rc = dj_row_store(c, m.store, &st, NULL, err)) < 0 ||
	    (rc = dj_store_get(st, m.path, out, err)) < 0 ||
	    (rc = dj_hash_bytes(out->ptr, out->len, got, err)) < 0)
		goto done;
	if (strcmp(got, m.hash) != 0)
		rc = dj_err_set(err, DJ_EFORMAT, "hash mismatch: expected %s, got %s for '%s'", m.hash,
		                got, m.path);
done:
	dj_hash_meta_dispose(&m);
	return rc;
}

static int decode_blob(dj_row_ctx *c, const dj_attr *a, dj_bytes raw, dj_cell *out, dj_err *err)
{
	dj_buf obj = DJ_BUF_INIT;
	int rc = 0;
	if (a->coltype.has_store) {
		if ((rc = hash_get(c, raw, &obj, err)) < 0)
			goto done;
		raw = dj_buf_bytes(&obj);
	}
	if ((rc = dj_blob_unpack(raw.ptr, raw.len, &c->blob, &out->value, NULL, err)) == 0)
		out->kind = DJ_CELL_VALUE;
done:
	dj_buf_dispose(&obj);
	return rc;
}

static int decode_attach(dj_row_ctx *c, const dj_attr *a, dj_bytes raw, dj_cell *out,
                         dj_err *err)
{
	dj_buf obj = DJ_BUF_INIT;
	dj_bytes name, contents;
	int rc = 0;
	if (a->coltype.has_store) {
		if ((rc = hash_get(c, raw, &obj, err)) < 0)
			goto done;
		raw = dj_buf_bytes(&obj);
	}
	if ((rc = dj_attach_split(raw, &name, &contents, err)) < 0)
		goto done;
	if (!(out->name = strndup((const char *)name.ptr, name.len)) ||
	    dj_buf_add(&out->data, contents.ptr, contents.len) < 0) {
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory for an attachment of %zu bytes",
		                contents.len);
		goto done;
	}
	out->kind = DJ_CELL_ATTACH;
done:
	dj_buf_dispose(&obj);
	return rc;
}

static int decode_codec(dj_row_ctx *c, const dj_attr *a, dj_bytes raw, dj_cell *out,
                        dj_err *err)
{
	const char *json = (const char *)raw.ptr;
	int rc;
	switch (a->coltype.codec->id) {
	case DJ_CODEC_BLOB:
		return decode_blob(c, a, raw, out, err);
	case DJ_CODEC_ATTACH:
		return decode_attach(c, a, raw, out, err);
	case DJ_CODEC_HASH:
		if ((rc = hash_get(c, raw, &out->data, err)) < 0)
			return rc;
		if (!(out->value = dj_value_bytes(out->data.ptr, out->data.len)))
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
		dj_buf_dispose(&out->data);
		out->kind = DJ_CELL_VALUE;
		return 0;
	case DJ_CODEC_NPY:
		if ((rc = dj_npy_meta_parse(&out->npy, json, raw.len, err)) == 0)
			out->kind = DJ_CELL_NPY;
		return rc;
	case DJ_CODEC_OBJECT:
		if ((rc = dj_object_meta_parse(&out->obj, json, raw.len, err)) == 0)
			out->kind = DJ_CELL_OBJECT;
		return rc;
	case DJ_CODEC_FILEPATH:
		if ((rc = dj_filepath_meta_parse(&out->obj, json, raw.len, err)) == 0)
			out->kind = DJ_CELL_OBJECT;
		return rc;
	}
	return dj_err_set(err, DJ_ENOTSUP, "unknown codec");
}

int dj_row_decode(dj_row_ctx *c, const dj_table *t, const dj_attr *a, dj_db_type dbtype,
                  bool isnull, dj_bytes raw, const char *key, dj_cell *out, dj_err *err)
{
	int rc = 0;
	dj_cell_init(out);
	if (isnull)
		return 0; /* codecs never see NULL (formats.md §1.1) */
	if (a->kind == DJ_ATTR_UNKNOWN)
		rc = dj_err_set(err, DJ_ENOTSUP, "unknown codec or store in type '%s'", a->type);
	else if (a->kind == DJ_ATTR_CODEC)
		rc = decode_codec(c, a, raw, out, err);
	else if ((rc = decode_plain(a, dbtype, raw, &out->value, err)) == 0)
		out->kind = DJ_CELL_VALUE;
	if (rc < 0) {
		dj_err_context(err, "%s.%s%s%s.%s", t->schema, t->name, key ? " " : "",
		               key ? key : "", a->name);
		dj_cell_dispose(out);
	}
	return rc;
}

/* --- lazy loads ---------------------------------------------------------------------------- */

int dj_row_npy_read(dj_row_ctx *c, const dj_npy_meta *m, dj_buf *out, dj_err *err)
{
	dj_store *st = NULL;
	int rc = dj_row_store(c, m->store, &st, NULL, err);
	return rc < 0 ? rc : dj_store_get(st, m->path, out, err);
}

/* The file must say what the column says (NpyRef answers dtype/shape from the metadata). */
static int npy_matches(const dj_npy *a, const dj_npy_meta *m, dj_err *err)
{
	dj_buf dt = DJ_BUF_INIT;
	int rc = dj_npy_dtype_name(&dt, a->descr, a->structured, err);
	bool same = rc == 0 && !strcmp(dt.ptr, m->dtype) && a->ndim == m->ndim;
	for (size_t i = 0; same && i < a->ndim; i++)
		same = a->shape[i] == m->shape[i];
	if (rc == 0 && !same)
		rc = dj_err_set(err, DJ_EFORMAT, "'%s' holds %s with %zu dimensions, the column says %s",
		                m->path, dt.ptr, a->ndim, m->dtype);
	dj_buf_dispose(&dt);
	return rc;
}

int dj_row_npy_load(dj_row_ctx *c, const dj_npy_meta *m, dj_value **out, dj_err *err)
{
	dj_buf file = DJ_BUF_INIT;
	dj_npy a = DJ_NPY_INIT;
	int rc;
	*out = NULL;
	if ((rc = dj_row_npy_read(c, m, &file, err)) == 0 &&
	    (rc = dj_npy_parse(&a, file.ptr, file.len, err)) == 0 &&
	    (rc = npy_matches(&a, m, err)) == 0)
		rc = dj_npy_to_array(&a, out, err);
	dj_npy_dispose(&a);
	dj_buf_dispose(&file);
	return rc;
}

int dj_row_object_read(dj_row_ctx *c, const dj_object_meta *m, const char *member, dj_buf *out,
                       dj_err *err)
{
	dj_buf key = DJ_BUF_INIT;
	dj_store *st = NULL;
	int rc;
	if (m->is_dir != (member != NULL))
		return dj_err_set(err, DJ_EUSAGE, "'%s' is a %s: %s", m->path,
		                  m->is_dir ? "folder" : "file",
		                  m->is_dir ? "name a file in it" : "it has no members");
	if ((rc = dj_row_store(c, m->store, &st, NULL, err)) < 0)
		return rc;
	if (member)
		rc = dj_buf_addf(&key, "%s/%s", m->path, member);
	else
		rc = dj_buf_adds(&key, m->path);
	if (rc == 0)
		rc = dj_store_get(st, key.ptr, out, err);
	dj_buf_dispose(&key);
	return rc;
}

typedef struct strip_ctx {
	size_t skip;
	dj_store_list_fn fn;
	void *payload;
} strip_ctx;

static int strip_prefix(const dj_store_entry *e, void *payload)
{
	strip_ctx *s = payload;
	dj_store_entry rel = *e;
	rel.key += s->skip;
	return s->fn(&rel, s->payload);
}

int dj_row_object_list(dj_row_ctx *c, const dj_object_meta *m, dj_store_list_fn fn,
                       void *payload, dj_err *err)
{
	dj_buf prefix = DJ_BUF_INIT;
	dj_store *st = NULL;
	strip_ctx s = {0, fn, payload};
	int rc;
	if (!m->is_dir)
		return dj_err_set(err, DJ_EUSAGE, "'%s' is a file, not a folder", m->path);
	if ((rc = dj_row_store(c, m->store, &st, NULL, err)) < 0)
		return rc;
	if ((rc = dj_buf_addf(&prefix, "%s/", m->path)) == 0) {
		s.skip = prefix.len;
		rc = dj_store_list(st, prefix.ptr, strip_prefix, &s, err);
	}
	dj_buf_dispose(&prefix);
	return rc;
}
