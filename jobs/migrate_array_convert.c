/*
 * migrate to-npy / to-object: what one value becomes (jobs/migrate_array.h), the stores the
 * workers use, and the schema-addressed path of a row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/array_c.h"
#include "codecs/blob.h"
#include "codecs/hash.h"
#include "codecs/hdf5_write.h"
#include "codecs/object.h"
#include "codecs/pyfloat.h"
#include "jobs/migrate_array.h"
#include "stores/paths.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

const char *dj_array_format_name(dj_array_format f)
{
	switch (f) {
	case DJ_ARRAY_NPY:
		return "npy";
	case DJ_ARRAY_HDF5:
		return "hdf5";
	case DJ_ARRAY_ZARR:
		return "zarr";
	}
	return "?";
}

const char *dj_array_format_ext(dj_array_format f)
{
	switch (f) {
	case DJ_ARRAY_NPY:
		return ".npy";
	case DJ_ARRAY_HDF5:
		return ".h5";
	case DJ_ARRAY_ZARR:
		return ".zarr";
	}
	return "";
}

int dj_migrate_array_init(dj_migrate_array *ma, dj_err *err)
{
	ma->m.array_target = true;
	int rc = dj_migrate_init(&ma->m, err);
	if (rc < 0)
		return rc;
	if (!ma->chunk_bytes)
		ma->chunk_bytes = DJ_CHUNK_BYTES;
	if (!ma->m.codec)
		return 0; /* status */
	dj_codec_id want = ma->format == DJ_ARRAY_NPY ? DJ_CODEC_NPY : DJ_CODEC_OBJECT;
	if (ma->m.target.codec->id != want)
		return dj_err_set(err, DJ_EUSAGE, "migrate: --format %s writes <%s@store>",
		                  dj_array_format_name(ma->format),
		                  want == DJ_CODEC_NPY ? "npy" : "object");
	if (ma->format == DJ_ARRAY_HDF5 && !dj_hdf5_built())
		return dj_err_set(err, DJ_EUSAGE,
		                  "migrate: --format hdf5: this djrun was built without the HDF5 "
		                  "library (install libhdf5-dev and rebuild)");
	return 0;
}

void dj_migrate_array_dispose(dj_migrate_array *ma)
{
	dj_migrate_dispose(&ma->m);
	if (ma->keys_ready)
		dj_row_ctx_dispose(&ma->keys);
	if (ma->src_ready)
		dj_row_ctx_dispose(&ma->src);
	for (size_t i = 0; i < ma->nrefused; i++)
		free(ma->refused[i]);
	ma->nrefused = 0;
	ma->keys_ready = ma->src_ready = false;
}

void dj_array_out_dispose(dj_array_out *o)
{
	dj_npy_dispose(&o->npy);
	dj_npy_dispose(&o->c);
	dj_value_free(o->value);
	dj_buf_dispose(&o->file);
	dj_zarr_dispose(&o->zarr);
	memset(o, 0, sizeof(*o));
}

bool dj_migrate_array__refusal(int rc)
{
	return rc == DJ_ENOTSUP || rc == DJ_EFORMAT || rc == DJ_ENOTFOUND;
}

bool dj_migrate_array__hashed_source(const dj_migrate_array *ma)
{
	const dj_attr *a = ma->m.a;
	return a && a->kind == DJ_ATTR_CODEC && a->coltype.codec &&
	       a->coltype.codec->id == DJ_CODEC_BLOB && a->coltype.has_store;
}

int dj_migrate_array__open_stores(dj_migrate_array *ma, dj_err *err)
{
	int rc = dj_migrate__open_store(&ma->m, err);
	if (rc == 0 && !ma->src_ready) {
		rc = dj_row_ctx_init(&ma->src, ma->m.specs, ma->m.nspecs, ma->m.default_store, err);
		ma->src_ready = true;
	}
	return rc;
}

/* The bytes of a <blob@s> value: the object its metadata names, re-hashed (formats.md §4). */
static int read_hashed(dj_migrate_array *ma, dj_bytes json, dj_buf *out, dj_err *err)
{
	dj_hash_meta meta = DJ_HASH_META_INIT;
	dj_store *st = NULL;
	char got[DJ_HASH_LEN + 1];
	int rc = dj_hash_meta_parse(&meta, (const char *)json.ptr, json.len, err);
	if (rc == 0)
		rc = dj_row_store(&ma->src, meta.store, &st, NULL, err);
	if (rc == DJ_ENOTFOUND) /* a store that is not configured: no value can come from it */
		rc = dj_err_set(err, DJ_EUSAGE, "%s", err->msg);
	if (rc == 0)
		rc = dj_store_get(st, meta.path, out, err);
	if (rc == 0)
		rc = dj_hash_bytes(out->ptr, out->len, got, err);
	if (rc == 0 && strcmp(got, meta.hash))
		rc = dj_err_set(err, DJ_EFORMAT,
		                "the source object %s does not match its hash (holds %s)", meta.path,
		                got);
	dj_hash_meta_dispose(&meta);
	return rc;
}

/* Why a decoded blob is not a numeric array, for the refusal message. */
static const char *what_it_is(const dj_value *v)
{
	switch (v->kind) {
	case DJ_V_ARRAY:
		if (v->u.arr.type_id == DJ_TYPE_CHAR)
			return "a char array (MATLAB string)";
		if (v->u.arr.type_id == DJ_TYPE_OBJECT)
			return "an object array";
		return "an array of a type the target cannot hold";
	case DJ_V_STRUCT:
		return "a MATLAB struct";
	case DJ_V_CELL:
		return "a MATLAB cell array";
	case DJ_V_RECORD:
		return "a numpy structured array";
	case DJ_V_STR:
		return "a string";
	case DJ_V_BYTES:
		return "bytes";
	case DJ_V_DICT:
		return "a dict";
	case DJ_V_LIST:
	case DJ_V_TUPLE:
	case DJ_V_SET:
		return "a list, tuple or set";
	case DJ_V_NONE:
		return "None";
	default:
		return "a scalar, not an array";
	}
}

int dj_migrate_array__convert(dj_migrate_array *ma, bool hashed, dj_bytes raw,
                              dj_array_out *out, dj_err *err)
{
	dj_buf bytes = DJ_BUF_INIT;
	dj_err why = DJ_ERR_INIT;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (hashed && (rc = read_hashed(ma, raw, &bytes, err)) < 0)
		goto out;
	if (hashed)
		raw = dj_buf_bytes(&bytes);
	if ((rc = dj_blob_unpack(raw.ptr, raw.len, NULL, &out->value, NULL, &why)) < 0) {
		rc = rc == DJ_ENOMEM ? dj_err_set(err, rc, "%s", why.msg)
		                     : dj_err_set(err, DJ_EFORMAT, "the blob does not unpack: %s",
		                                  why.msg);
		goto out;
	}
	const dj_value *v = out->value;
	bool numeric = v->kind == DJ_V_ARRAY && v->u.arr.type_id != DJ_TYPE_CHAR &&
	               v->u.arr.type_id != DJ_TYPE_OBJECT;
	if (!numeric || dj_npy_from_array(&out->npy, &v->u.arr, &why) < 0) {
		rc = dj_err_set(err, DJ_ENOTSUP, "%s cannot go to %s: only numeric and bool arrays can",
		                numeric ? why.msg : what_it_is(v), dj_array_format_name(ma->format));
		goto out;
	}
	if (ma->format == DJ_ARRAY_NPY) {
		rc = dj_npy_write(&out->file, &out->npy, err);
		goto out;
	}
	if ((rc = dj_npy_c_order(&out->c, &out->npy, err)) < 0)
		goto out;
	if (ma->format == DJ_ARRAY_HDF5)
		rc = dj_hdf5_write(&out->file, &out->c, ma->chunk_bytes, err);
	else
		rc = dj_zarr_build(&out->zarr, &out->c, ma->chunk_bytes, err);
out:
	dj_buf_dispose(&bytes);
	return rc;
}

/* A key value (decoded as the row layer decodes it) as the Python type it would have (§6.2). */
static int pk_value(dj_pk_value *pv, const dj_value *v, char *fbuf, dj_err *err)
{
	int64_t x;
	switch (v->kind) {
	case DJ_V_INT:
		if (dj_value_get_int64(v, &x) < 0)
			return dj_err_set(err, DJ_EUSAGE, "key integer out of range");
		pv->kind = DJ_PK_INT, pv->u.i = x;
		return 0;
	case DJ_V_BOOL:
		pv->kind = DJ_PK_BOOL, pv->u.b = v->u.b;
		return 0;
	case DJ_V_FLOAT:
		dj_pyfloat_format(v->u.f, fbuf);
		pv->kind = DJ_PK_FLOAT, pv->u.text = fbuf;
		return 0;
	case DJ_V_STR:
	case DJ_V_DECIMAL:
		pv->kind = v->kind == DJ_V_STR ? DJ_PK_STR : DJ_PK_DECIMAL;
		pv->u.text = v->u.s.p;
		return 0;
	case DJ_V_UUID:
		pv->kind = DJ_PK_UUID;
		memcpy(pv->u.uuid, v->u.uuid, 16);
		return 0;
	case DJ_V_DATETIME: {
		int32_t d = v->u.dt.date;
		int64_t t = v->u.dt.time < 0 ? 0 : v->u.dt.time;
		pv->kind = v->u.dt.time < 0 ? DJ_PK_DATE : DJ_PK_DATETIME;
		pv->u.t.year = d / 10000, pv->u.t.month = d / 100 % 100, pv->u.t.day = d % 100;
		pv->u.t.hour = (int)(t / 10000000000LL);
		pv->u.t.minute = (int)(t / 100000000 % 100);
		pv->u.t.second = (int)(t / 1000000 % 100);
		pv->u.t.usec = (int)(t % 1000000);
		return 0;
	}
	default:
		return dj_err_set(err, DJ_EUSAGE, "a key value of kind %d cannot name a path",
		                  (int)v->kind);
	}
}

int dj_migrate_array__path(dj_migrate_array *ma, dj_migrate__rd *r, dj_buf *out, dj_err *err)
{
	const dj_table *t = ma->m.t;
	size_t npk = t->npk;
	dj_pk_field *key = calloc(npk, sizeof(*key));
	char(*fbuf)[DJ_PYFLOAT_MAX] = calloc(npk, sizeof(*fbuf));
	dj_cell *cells = calloc(npk, sizeof(*cells));
	int rc = key && fbuf && cells ? 0 : nomem(err);
	if (rc == 0 && !ma->keys_ready) {
		rc = dj_row_ctx_init(&ma->keys, NULL, 0, NULL, err);
		ma->keys_ready = true;
	}
	for (size_t k = 0; k < npk && cells; k++)
		dj_cell_init(&cells[k]);
	for (size_t k = 0; rc == 0 && k < npk; k++) {
		const dj_attr *a = &t->attrs[t->pk[k]];
		dj_bytes v;
		key[k].name = a->name;
		rc = dj_migrate__get_field(r, false, &v, err);
		if (rc == 0)
			rc = dj_row_decode(&ma->keys, t, a, ma->m.pk_types[k], false, v, NULL,
			                   &cells[k], err);
		if (rc == 0 && cells[k].kind != DJ_CELL_VALUE)
			rc = dj_err_set(err, DJ_EUSAGE, "key attribute '%s' has no value", a->name);
		if (rc == 0)
			rc = pk_value(&key[k].value, cells[k].value, fbuf[k], err);
	}
	dj_schema_path_args pa = {t->schema, t->name, ma->m.a->name, key, npk,
	                          dj_array_format_ext(ma->format), NULL};
	if (rc == 0)
		rc = dj_path_schema(out, ma->m.spec, &pa, NULL, err);
	for (size_t k = 0; k < npk && cells; k++)
		dj_cell_dispose(&cells[k]);
	free(key), free(fbuf), free(cells);
	return rc;
}
