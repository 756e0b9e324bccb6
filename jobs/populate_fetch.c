/*
 * populate --fetch Table.attr (jobs/populate.h): rank 0 reads an ancestor's attribute for each
 * key and ships it with the work item, so the make finds it as inputs/<Table>.<attr><ext>
 * without a database connection of its own (DESIGN.md "The make protocol").
 *
 * Files, by what the attribute holds:
 *   array values (<blob>, <blob@>)   .npy, written as np.save writes the array Python fetches
 *   <npy@>                           .npy, the stored file as it is
 *   <attach>, <attach@>              the attachment, named <Table>.<attr>.<its file name>
 *   <object@>, <filepath@> files     the object's bytes, with its extension
 *   <object@> folders                .json: the metadata (path, store) to read it lazily
 *   anything else                    .json: numbers, strings, null; other blob values in the
 *                                    JSON value model of codecs/value_model.h
 * The table's primary key must be part of the key (an ancestor or key_source parent), so
 * each key names exactly one row; a key without that row fails ("InputError").
 *
 * Item layout: "<index>\n<key JSON>" NUL, then per input [u32 name length][name][u64 length]
 * [bytes], little-endian.
 *
 * Rank 0 reads the inputs of each chunk of keys it plans with one query per --fetch table
 * (dj_populate_prefetch: `(key) IN (...)` lists of PREFETCH_KEYS keys), not one per key.
 */
#include "jobs/populate_internal.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/npy.h"
#include "codecs/value_model.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static bool in_key_source(const dj_populate *p, const char *name)
{
	for (size_t i = 0; i < p->ks.nattrs; i++)
		if (!strcmp(p->ks.attrs[i], name))
			return true;
	return false;
}

int dj_populate_fetch_prepare(dj_populate *p, dj_err *err)
{
	if (p->nfetch == 0)
		return 0;
	p->fetch_t = calloc(p->nfetch, sizeof(*p->fetch_t));
	p->fetch_a = calloc(p->nfetch, sizeof(*p->fetch_a));
	if (!p->fetch_t || !p->fetch_a)
		return nomem(err);
	for (size_t i = 0; i < p->nfetch; i++) {
		const char *spec = p->fetch[i];
		const char *dot = strrchr(spec, '.');
		if (!dot || dot == spec || !dot[1])
			return dj_err_set(err, DJ_EUSAGE, "--fetch '%s': expected Table.attr", spec);
		char *tname = strndup(spec, (size_t)(dot - spec));
		if (!tname)
			return nomem(err);
		const dj_table *t = dj_schema_table(&p->s, tname);
		free(tname);
		const dj_attr *a = t ? dj_table_attr(t, dot + 1) : NULL;
		if (!t || !a)
			return dj_err_set(err, DJ_EUSAGE, "--fetch '%s': no such %s in schema %s",
			                  spec, t ? "attribute" : "table", p->s.name);
		for (size_t k = 0; k < t->npk; k++)
			if (!in_key_source(p, t->attrs[t->pk[k]].name))
				return dj_err_set(err, DJ_EUSAGE,
				                  "--fetch '%s': %s's key attribute '%s' is not part "
				                  "of %s's key: fetch from an ancestor",
				                  spec, t->class_name, t->attrs[t->pk[k]].name,
				                  p->t->class_name);
		p->fetch_t[i] = t;
		p->fetch_a[i] = a;
	}
	return 0;
}

/* ` "a"=1 AND "b"='x'` over t's key, from key `row` of p->keys (literals: dj_fetch takes none
 * as parameters). */
static int key_restriction(dj_buf *out, const dj_populate *p, const dj_table *t, size_t row,
                           dj_err *err)
{
	dj_db_backend b = dj_db_backend_id(p->db);
	for (size_t k = 0; k < t->npk; k++) {
		const char *name = t->attrs[t->pk[k]].name;
		int c = dj_keys_col(&p->keys, name);
		if (c < 0)
			return dj_err_set(err, DJ_EUSAGE, "--fetch: key attribute '%s' missing", name);
		const char *v = p->keys.vals[row * p->keys.ncols + (size_t)c];
		size_t n = p->keys.lens[row * p->keys.ncols + (size_t)c];
		dj_db_type ty = p->keys.types ? p->keys.types[c] : DJ_DB_T_TEXT;
		int rc = (k && dj_buf_adds(out, " AND ") < 0) ? DJ_ENOMEM : 0;
		if (rc == 0)
			rc = dj_db_quote_ident(b, out, name, err);
		if (rc == 0)
			rc = v ? dj_buf_addc(out, '=') : dj_buf_adds(out, " IS NULL");
		if (rc == 0 && v)
			rc = ty == DJ_DB_T_BYTES ? dj_db_quote_bytes(b, out, v, n, err)
			                         : dj_db_quote_text(b, out, v, n, err);
		if (rc < 0)
			return err->code ? err->code : nomem(err);
	}
	return 0;
}

static int add_input(dj_buf *item, const char *name, const void *data, size_t len, dj_err *err)
{
	uint8_t h[8];
	size_t nl = strlen(name);
	for (int i = 0; i < 4; i++)
		h[i] = (uint8_t)(nl >> (8 * i));
	int rc = dj_buf_add(item, h, 4) < 0 || dj_buf_add(item, name, nl) < 0 ? DJ_ENOMEM : 0;
	for (int i = 0; i < 8; i++)
		h[i] = (uint8_t)((uint64_t)len >> (8 * i));
	if (rc == 0 && (dj_buf_add(item, h, 8) < 0 || dj_buf_add(item, data, len) < 0))
		rc = DJ_ENOMEM;
	return rc < 0 ? nomem(err) : 0;
}

/* A plain value as JSON text: numbers, strings, null, else the value model. */
static int value_json(const dj_value *v, dj_buf *out, dj_err *err)
{
	json_t *j = NULL;
	int64_t iv;
	switch (v->kind) {
	case DJ_V_NONE:
		j = json_null();
		break;
	case DJ_V_BOOL:
		j = json_boolean(v->u.b);
		break;
	case DJ_V_INT:
		j = dj_value_get_int64(v, &iv) == 0 ? json_integer((json_int_t)iv) : NULL;
		break;
	case DJ_V_FLOAT:
		j = json_real(v->u.f);
		break;
	case DJ_V_STR:
		j = json_stringn(v->u.s.p, v->u.s.n);
		break;
	default:
		break;
	}
	int rc = 0;
	if (!j && (rc = dj_value_to_model(v, 0, &j, err)) < 0)
		return rc;
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	rc = s && dj_buf_adds(out, s) == 0 ? 0 : nomem(err);
	free(s);
	return rc;
}

/* The file for one fetched cell: its name suffix and bytes (store objects read through rc). */
static int cell_file(dj_row_ctx *rc_, dj_cell *c, dj_buf *suffix, dj_buf *out, dj_err *err)
{
	switch (c->kind) {
	case DJ_CELL_NULL:
		return dj_buf_adds(suffix, ".json") < 0 || dj_buf_adds(out, "null") < 0 ? nomem(err)
		                                                                       : 0;
	case DJ_CELL_ATTACH:
		if (!c->name || strchr(c->name, '/'))
			return dj_err_set(err, DJ_EFORMAT, "attachment without a plain file name");
		return dj_buf_addf(suffix, ".%s", c->name) < 0 ||
		               dj_buf_add(out, c->data.ptr, c->data.len) < 0
		           ? nomem(err)
		           : 0;
	case DJ_CELL_NPY:
		if (dj_buf_adds(suffix, ".npy") < 0)
			return nomem(err);
		return dj_row_npy_read(rc_, &c->npy, out, err);
	case DJ_CELL_OBJECT:
		if (!c->obj.is_dir) {
			if (dj_buf_adds(suffix, c->obj.ext ? c->obj.ext : "") < 0)
				return nomem(err);
			return dj_row_object_read(rc_, &c->obj, NULL, out, err);
		} else {
			json_t *j = json_pack("{s:s, s:s?}", "path", c->obj.path, "store",
			                      c->obj.store);
			char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
			json_decref(j);
			int rc = s && dj_buf_adds(suffix, ".json") == 0 && dj_buf_adds(out, s) == 0
			             ? 0
			             : nomem(err);
			free(s);
			return rc;
		}
	case DJ_CELL_VALUE:
		if (c->value->kind == DJ_V_ARRAY) {
			dj_npy npy = DJ_NPY_INIT;
			int rc = dj_npy_from_array(&npy, &c->value->u.arr, err);
			if (rc == 0)
				rc = dj_npy_write(out, &npy, err);
			dj_npy_dispose(&npy);
			if (rc == 0 && dj_buf_adds(suffix, ".npy") < 0)
				rc = nomem(err);
			if (rc == 0 || rc == DJ_ENOMEM)
				return rc;
			dj_err_clear(err); /* an array .npy cannot hold: the value model */
			dj_buf_setlen(out, 0);
			dj_buf_setlen(suffix, 0);
		}
		if (dj_buf_adds(suffix, ".json") < 0)
			return nomem(err);
		return value_json(c->value, out, err);
	default:
		return dj_err_set(err, DJ_EFORMAT, "unexpected cell kind %d", (int)c->kind);
	}
}

/* Column `name` of the fetch's result, or ncols. */
static size_t fetch_col(dj_fetch *f, const char *name)
{
	size_t col = 0;
	while (col < dj_fetch_ncols(f) && strcmp(dj_fetch_attr(f, col)->name, name))
		col++;
	return col;
}

/*
 * The input record of --fetch spec `i` from the fetch's current row, appended to `rec`:
 * [u32 name length][name][u64 length][bytes]. A store-backed value for a worker to read
 * (p->remote_inputs) is "@name" with "<type> NUL <class byte><metadata>".
 */
static int input_record(dj_populate *p, size_t i, dj_fetch *f, dj_buf *rec, dj_err *err)
{
	const dj_table *t = p->fetch_t[i];
	dj_buf suffix = DJ_BUF_INIT, data = DJ_BUF_INIT, name = DJ_BUF_INIT;
	dj_cell cell;
	size_t col = fetch_col(f, p->fetch_a[i]->name);
	int rc = 0;
	dj_cell_init(&cell);
	if (col == dj_fetch_ncols(f))
		rc = dj_err_set(err, DJ_ENOTFOUND, "InputError: %s.%s was not fetched",
		                t->class_name, p->fetch_a[i]->name);
	const dj_attr *a = rc == 0 ? dj_fetch_attr(f, col) : NULL;
	bool isnull = false;
	dj_bytes raw = rc == 0 ? dj_fetch_raw(f, col, &isnull) : (dj_bytes){NULL, 0};
	if (rc == 0 && p->remote_inputs && !isnull && dj_attr_is_stored(a)) {
		if (dj_buf_addc(&name, '@') < 0 || dj_buf_adds(&data, a->type) < 0 ||
		    dj_buf_addc(&data, 0) < 0 ||
		    dj_buf_addc(&data, (char)dj_fetch_dbtype(f, col)) < 0 ||
		    dj_buf_add(&data, raw.ptr, raw.len) < 0)
			rc = nomem(err);
	} else {
		if (rc == 0)
			rc = dj_fetch_cell(f, col, &cell, err);
		if (rc == 0)
			rc = cell_file(&p->rc, &cell, &suffix, &data, err);
	}
	if (rc == 0 && (dj_buf_adds(&name, p->fetch[i]) < 0 ||
	                dj_buf_add(&name, suffix.ptr, suffix.len) < 0 || dj_buf_addc(&name, 0) < 0))
		rc = nomem(err);
	if (rc == 0)
		rc = add_input(rec, name.ptr, data.ptr, data.len, err);
	dj_cell_dispose(&cell);
	dj_buf_dispose(&suffix);
	dj_buf_dispose(&data);
	dj_buf_dispose(&name);
	return rc;
}

/* One key's inputs, one query per --fetch table (the fallback of a key not prefetched). */
static int fetch_one(dj_populate *p, size_t row, dj_buf *item, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->nfetch; i++) {
		const dj_table *t = p->fetch_t[i];
		dj_buf where = DJ_BUF_INIT;
		dj_fetch *f = NULL;
		if ((rc = key_restriction(&where, p, t, row, err)) == 0 &&
		    (rc = dj_buf_addc(&where, 0) < 0 ? nomem(err) : 0) == 0)
			rc = dj_fetch_open(&f, p->db, &p->rc, t, where.ptr, 2, 0, err);
		int got = rc == 0 ? dj_fetch_next(f, err) : rc;
		if (got == 0)
			rc = dj_err_set(err, DJ_ENOTFOUND, "InputError: %s has no row for this key",
			                t->class_name);
		else if (got < 0)
			rc = got;
		if (rc == 0)
			rc = input_record(p, i, f, item, err);
		if (rc == 0 && dj_fetch_next(f, err) == 1)
			rc = dj_err_set(err, DJ_EUSAGE, "InputError: %s has several rows for this key",
			                t->class_name);
		if (rc < 0)
			dj_err_context(err, "--fetch %s", p->fetch[i]);
		dj_fetch_close(f);
		dj_buf_dispose(&where);
	}
	return rc;
}

/* --- a chunk of keys at once --------------------------------------------------------------- */

#define PREFETCH_KEYS 500 /* keys per IN (...) list: statement size stays small */

struct dj_populate_prefetch {
	size_t from, to; /* rows of p->keys */
	dj_buf *rec;     /* (to - from) * nfetch records */
	dj_err *err;     /* per row: why its inputs failed (code 0: none) */
	bool *done;      /* per (row, spec): a record or an error is there */
};

void dj_populate_prefetch_free(dj_populate *p)
{
	struct dj_populate_prefetch *pf = p->prefetch;
	if (!pf)
		return;
	size_t n = (pf->to - pf->from) * p->nfetch;
	for (size_t k = 0; pf->rec && k < n; k++)
		dj_buf_dispose(&pf->rec[k]);
	free(pf->rec);
	free(pf->err);
	free(pf->done);
	free(pf);
	p->prefetch = NULL;
}

/* Whether the fetch's current row is the row of key `row` (t's key values equal). */
static bool same_key(const dj_populate *p, const dj_table *t, dj_fetch *f, const size_t *kcol,
                     const size_t *fcol, size_t row)
{
	for (size_t k = 0; k < t->npk; k++) {
		bool isnull;
		dj_bytes v = dj_fetch_raw(f, fcol[k], &isnull);
		const char *kv = p->keys.vals[row * p->keys.ncols + kcol[k]];
		size_t kn = p->keys.lens[row * p->keys.ncols + kcol[k]];
		if (isnull || !kv || kn != v.len || memcmp(kv, v.ptr, kn))
			return false;
	}
	return true;
}

/* `(k1, k2) IN ((v, v), ...)` for the wanted rows [from, to) of the chunk. */
static int in_list(dj_buf *out, const dj_populate *p, const dj_table *t, const size_t *kcol,
                   size_t from, size_t to, const bool *want, size_t base, dj_err *err)
{
	dj_db_backend b = dj_db_backend_id(p->db);
	bool first = true;
	int rc = dj_buf_addc(out, '(') < 0 ? nomem(err) : 0;
	for (size_t k = 0; rc == 0 && k < t->npk; k++)
		if ((k && dj_buf_addc(out, ',') < 0) ||
		    dj_db_quote_ident(b, out, t->attrs[t->pk[k]].name, err) < 0)
			rc = err->code ? err->code : nomem(err);
	if (rc == 0 && dj_buf_adds(out, ") IN (") < 0)
		rc = nomem(err);
	for (size_t r = from; rc == 0 && r < to; r++) {
		if (want && !want[r - base])
			continue;
		if (dj_buf_adds(out, first ? "(" : ",(") < 0)
			rc = nomem(err);
		first = false;
		for (size_t k = 0; rc == 0 && k < t->npk; k++) {
			const char *v = p->keys.vals[r * p->keys.ncols + kcol[k]];
			size_t n = p->keys.lens[r * p->keys.ncols + kcol[k]];
			dj_db_type ty = p->keys.types ? p->keys.types[kcol[k]] : DJ_DB_T_TEXT;
			if (k && dj_buf_addc(out, ',') < 0)
				rc = nomem(err);
			else if (!v)
				rc = dj_buf_adds(out, "NULL") < 0 ? nomem(err) : 0;
			else if ((ty == DJ_DB_T_BYTES ? dj_db_quote_bytes(b, out, v, n, err)
			                              : dj_db_quote_text(b, out, v, n, err)) < 0)
				rc = err->code ? err->code : nomem(err);
		}
		if (rc == 0 && dj_buf_addc(out, ')') < 0)
			rc = nomem(err);
	}
	if (rc == 0 && (dj_buf_addc(out, ')') < 0 || dj_buf_addc(out, 0) < 0))
		rc = nomem(err);
	return first ? 1 : rc; /* 1: no row wanted */
}

/* Spec `i` for the chunk's wanted rows: one query per PREFETCH_KEYS keys. */
static int prefetch_spec(dj_populate *p, size_t i, const bool *want, dj_err *err)
{
	struct dj_populate_prefetch *pf = p->prefetch;
	const dj_table *t = p->fetch_t[i];
	size_t *kcol = calloc(t->npk + 1, sizeof(*kcol)), *fcol = calloc(t->npk + 1, sizeof(*fcol));
	int rc = kcol && fcol ? 0 : nomem(err);
	for (size_t k = 0; rc == 0 && k < t->npk; k++) {
		int c = dj_keys_col(&p->keys, t->attrs[t->pk[k]].name);
		if (c < 0)
			rc = dj_err_set(err, DJ_EUSAGE, "--fetch: key attribute '%s' missing",
			                t->attrs[t->pk[k]].name);
		else
			kcol[k] = (size_t)c;
	}
	for (size_t from = pf->from; rc == 0 && from < pf->to; from += PREFETCH_KEYS) {
		size_t to = from + PREFETCH_KEYS < pf->to ? from + PREFETCH_KEYS : pf->to;
		dj_buf where = DJ_BUF_INIT;
		dj_fetch *f = NULL;
		int r = in_list(&where, p, t, kcol, from, to, want, pf->from, err);
		if (r == 1) {
			dj_buf_dispose(&where);
			continue;
		}
		rc = r < 0 ? r : dj_fetch_open(&f, p->db, &p->rc, t, where.ptr, -1, 0, err);
		for (size_t k = 0; rc == 0 && k < t->npk; k++)
			if ((fcol[k] = fetch_col(f, t->attrs[t->pk[k]].name)) == dj_fetch_ncols(f))
				rc = dj_err_set(err, DJ_EFORMAT, "--fetch %s: key column missing",
				                p->fetch[i]);
		while (rc == 0 && (r = dj_fetch_next(f, err)) == 1) {
			size_t first = SIZE_MAX;
			for (size_t row = from; row < to; row++) {
				size_t k = (row - pf->from) * p->nfetch + i;
				if ((want && !want[row - pf->from]) || pf->done[k] ||
				    !same_key(p, t, f, kcol, fcol, row))
					continue;
				dj_err e = DJ_ERR_INIT;
				int x = first == SIZE_MAX ? input_record(p, i, f, &pf->rec[k], &e)
				                          : dj_buf_add(&pf->rec[k], pf->rec[first].ptr,
				                                       pf->rec[first].len) < 0
				                                ? nomem(&e)
				                                : 0;
				pf->done[k] = true;
				if (x == DJ_ENOMEM) {
					*err = e;
					rc = x;
				} else if (x < 0 && !pf->err[row - pf->from].code) {
					dj_err_context(&e, "--fetch %s", p->fetch[i]);
					pf->err[row - pf->from] = e;
				} else if (x == 0 && first == SIZE_MAX) {
					first = k;
				}
			}
		}
		if (rc == 0 && r < 0)
			rc = r;
		dj_fetch_close(f);
		dj_buf_dispose(&where);
	}
	for (size_t row = pf->from; rc == 0 && row < pf->to; row++) {
		size_t k = (row - pf->from) * p->nfetch + i;
		if ((want && !want[row - pf->from]) || pf->done[k])
			continue;
		pf->done[k] = true;
		if (!pf->err[row - pf->from].code)
			dj_err_set(&pf->err[row - pf->from], DJ_ENOTFOUND,
			           "--fetch %s: InputError: %s has no row for this key", p->fetch[i],
			           t->class_name);
	}
	free(kcol);
	free(fcol);
	return rc;
}

int dj_populate_prefetch(dj_populate *p, size_t from, size_t to, const bool *want, dj_err *err)
{
	dj_populate_prefetch_free(p);
	if (!p->nfetch || to <= from)
		return 0;
	size_t n = (to - from) * p->nfetch;
	struct dj_populate_prefetch *pf = calloc(1, sizeof(*pf));
	if (!pf)
		return nomem(err);
	p->prefetch = pf;
	pf->from = from;
	pf->to = to;
	pf->rec = calloc(n, sizeof(*pf->rec));
	pf->err = calloc(to - from, sizeof(*pf->err));
	pf->done = calloc(n, sizeof(*pf->done));
	if (!pf->rec || !pf->err || !pf->done)
		return nomem(err);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->nfetch; i++)
		rc = prefetch_spec(p, i, want, err);
	if (rc < 0)
		dj_populate_prefetch_free(p);
	return rc;
}

int dj_populate_fetch_inputs(dj_populate *p, size_t row, dj_buf *item, dj_err *err)
{
	struct dj_populate_prefetch *pf = p->prefetch;
	if (!pf || row < pf->from || row >= pf->to ||
	    !pf->done[(row - pf->from) * p->nfetch + p->nfetch - 1])
		return fetch_one(p, row, item, err);
	if (pf->err[row - pf->from].code) {
		*err = pf->err[row - pf->from];
		return err->code;
	}
	for (size_t i = 0; i < p->nfetch; i++) {
		dj_buf *r = &pf->rec[(row - pf->from) * p->nfetch + i];
		if (dj_buf_add(item, r->ptr, r->len) < 0)
			return nomem(err);
	}
	return 0;
}

int dj_populate_item_inputs(const dj_bytes *item, dj_make_input **in, size_t *nin, dj_err *err)
{
	const uint8_t *s = item->ptr, *nul = memchr(s, 0, item->len);
	size_t off = nul ? (size_t)(nul - s) + 1 : item->len, n = 0, cap = 0;
	dj_make_input *v = NULL;
	*in = NULL;
	*nin = 0;
	while (off < item->len) {
		uint64_t nl = 0, len = 0;
		if (item->len - off < 4)
			goto bad;
		for (int i = 0; i < 4; i++)
			nl |= (uint64_t)s[off + (size_t)i] << (8 * i);
		off += 4;
		if (nl == 0 || item->len - off < nl + 8)
			goto bad;
		const char *name = (const char *)s + off;
		off += nl;
		for (int i = 0; i < 8; i++)
			len |= (uint64_t)s[off + (size_t)i] << (8 * i);
		off += 8;
		if (item->len - off < len)
			goto bad;
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			dj_make_input *nv = realloc(v, cap * sizeof(*nv));
			if (!nv) {
				free(v);
				return nomem(err);
			}
			v = nv;
		}
		char *nm = strndup(name, (size_t)nl);
		if (!nm)
			goto bad;
		v[n].name = nm;
		v[n].data = s + off;
		v[n].len = (size_t)len;
		n++;
		off += (size_t)len;
	}
	*in = v;
	*nin = n;
	return 0;
bad:
	for (size_t i = 0; i < n; i++)
		free((char *)v[i].name);
	free(v);
	return dj_err_set(err, DJ_EFORMAT, "populate: malformed inputs in a work item");
}

/* One "@name" input: its object read from the store, as rank 0 would have shipped it. */
static int resolve_one(dj_populate *p, dj_make_input *in, dj_buf *held, dj_err *err)
{
	const char *spec = in->name + 1, *dot = strrchr(spec, '.');
	const char *d = in->data, *nul = memchr(d, 0, in->len);
	if (!dot || !nul || (size_t)(nul - d) + 2 > in->len)
		return dj_err_set(err, DJ_EFORMAT, "populate: a malformed deferred input");
	char comment[DJ_STORE_NAME_MAX + 64], *tname = strndup(spec, (size_t)(dot - spec));
	snprintf(comment, sizeof(comment), ":%s:", d);
	dj_column_info ci = {dot + 1, "json", NULL, comment, false};
	dj_attr a;
	dj_table t;
	dj_cell cell;
	dj_buf suffix = DJ_BUF_INIT, name = DJ_BUF_INIT;
	dj_db_type ty = (dj_db_type)(unsigned char)nul[1];
	dj_bytes raw = {(const uint8_t *)nul + 2, in->len - (size_t)(nul - d) - 2};
	memset(&t, 0, sizeof(t));
	t.schema = (char *)p->schema_name;
	t.name = t.class_name = tname;
	dj_cell_init(&cell);
	int rc = tname ? dj_attr_init(&a, &ci, p->default_store, err) : nomem(err);
	if (rc == 0) {
		rc = dj_row_decode(&p->wrc, &t, &a, ty, false, raw, NULL, &cell, err);
		if (rc == 0)
			rc = cell_file(&p->wrc, &cell, &suffix, held, err);
		if (rc == 0 && (dj_buf_adds(&name, spec) < 0 ||
		                dj_buf_add(&name, suffix.ptr, suffix.len) < 0 || dj_buf_addc(&name, 0) < 0))
			rc = nomem(err);
		if (rc < 0)
			dj_err_context(err, "InputError: --fetch %s", spec);
		dj_attr_clear(&a);
	}
	if (rc == 0) {
		free((char *)in->name);
		in->name = name.ptr; /* owned, as the others */
		name = (dj_buf)DJ_BUF_INIT;
		in->data = held->ptr;
		in->len = held->len;
	}
	dj_cell_dispose(&cell);
	dj_buf_dispose(&suffix);
	dj_buf_dispose(&name);
	free(tname);
	return rc;
}

int dj_populate_inputs_resolve(dj_populate *p, dj_make_input *in, size_t nin, dj_buf **held,
                               dj_err *err)
{
	int rc = 0;
	*held = NULL;
	for (size_t i = 0; rc == 0 && i < nin; i++) {
		if (in[i].name[0] != '@')
			continue;
		if (!*held && !(*held = calloc(nin, sizeof(**held))))
			return nomem(err);
		if ((rc = dj_populate_worker_stores(p, err)) == 0)
			rc = resolve_one(p, &in[i], &(*held)[i], err);
	}
	return rc;
}

void dj_populate_inputs_free(dj_make_input *in, size_t nin)
{
	for (size_t i = 0; i < nin; i++)
		free((char *)in[i].name);
	free(in);
}
