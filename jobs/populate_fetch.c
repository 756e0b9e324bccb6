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
 */
#include "jobs/populate_internal.h"

#include <jansson.h>
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

int dj_populate_fetch_inputs(dj_populate *p, size_t row, dj_buf *item, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->nfetch; i++) {
		const dj_table *t = p->fetch_t[i];
		dj_buf where = DJ_BUF_INIT, suffix = DJ_BUF_INIT, data = DJ_BUF_INIT, name = DJ_BUF_INIT;
		dj_fetch *f = NULL;
		dj_cell cell;
		dj_cell_init(&cell);
		if ((rc = key_restriction(&where, p, t, row, err)) == 0 &&
		    (rc = dj_buf_addc(&where, 0) < 0 ? nomem(err) : 0) == 0)
			rc = dj_fetch_open(&f, p->db, &p->rc, t, where.ptr, 2, 0, err);
		int got = rc == 0 ? dj_fetch_next(f, err) : rc;
		if (got == 0)
			rc = dj_err_set(err, DJ_ENOTFOUND, "InputError: %s has no row for this key",
			                t->class_name);
		else if (got < 0)
			rc = got;
		size_t col = 0;
		while (rc == 0 && col < dj_fetch_ncols(f) && strcmp(dj_fetch_attr(f, col)->name, p->fetch_a[i]->name))
			col++;
		if (rc == 0 && col == dj_fetch_ncols(f))
			rc = dj_err_set(err, DJ_ENOTFOUND, "InputError: %s.%s was not fetched",
			                t->class_name, p->fetch_a[i]->name);
		const dj_attr *a = rc == 0 ? dj_fetch_attr(f, col) : NULL;
		bool isnull = false;
		dj_bytes raw = rc == 0 ? dj_fetch_raw(f, col, &isnull) : (dj_bytes){NULL, 0};
		if (rc == 0 && p->remote_inputs && !isnull && dj_attr_is_stored(a)) {
			/* the worker reads the object: "@name", "<type> NUL <class byte><metadata>" */
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
		if (rc == 0 && dj_fetch_next(f, err) == 1)
			rc = dj_err_set(err, DJ_EUSAGE, "InputError: %s has several rows for this key",
			                t->class_name);
		if (rc == 0 && (dj_buf_adds(&name, p->fetch[i]) < 0 ||
		                dj_buf_add(&name, suffix.ptr, suffix.len) < 0 ||
		                dj_buf_addc(&name, 0) < 0))
			rc = nomem(err);
		if (rc == 0)
			rc = add_input(item, name.ptr, data.ptr, data.len, err);
		if (rc < 0)
			dj_err_context(err, "--fetch %s", p->fetch[i]);
		dj_cell_dispose(&cell);
		dj_fetch_close(f);
		dj_buf_dispose(&where);
		dj_buf_dispose(&suffix);
		dj_buf_dispose(&data);
		dj_buf_dispose(&name);
	}
	return rc;
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
