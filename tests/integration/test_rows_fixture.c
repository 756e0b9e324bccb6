/*
 * jobs/row.h on the real fixture pipeline, on both servers.
 *
 * 1. Every value of every row of every table in expected.json / expected-postgres.json decodes
 *    to the value datajoint-python decoded, in the fixture's notation ($date, $datetime,
 *    $decimal, $uuid, $dict, $tuple, $ndarray summaries, $attach, $npy, $object); hidden
 *    _job_* columns against the fixture's raw record.
 * 2. Round trip: every row of fx_ephys is decoded and written by djrun into a fresh djt_*
 *    schema made from the fixture's DDL; stored bytes read back identical where the format is
 *    deterministic (in-table blobs and attachments, hash metadata except the schema in its path,
 *    .npy files and object contents), and the copy decodes to expected.json again.
 */
#include <openssl/evp.h>

#include "base/utf8.h"
#include "codecs/hash.h"
#include "tests/integration/test_rows_util.h"

/* --- values in the fixture's notation (tests/integration/fixtures_restore.py) -------------- */

static json_t *tagged(const char *tag, json_t *v)
{
	json_t *o = json_object();
	json_object_set_new(o, tag, v);
	return o;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static json_t *element(const dj_array *a, size_t f)
{
	const uint8_t *p = a->data + f * dj_type_itemsize(a->type_id);
	switch (a->type_id) {
	case DJ_TYPE_FLOAT64: {
		double d;
		memcpy(&d, p, 8);
		return json_real(d);
	}
	case DJ_TYPE_FLOAT32: {
		float x;
		memcpy(&x, p, 4);
		return json_real(x);
	}
	case DJ_TYPE_BOOL:
		return json_boolean(*p);
	case DJ_TYPE_INT8:
		return json_integer((int8_t)*p);
	case DJ_TYPE_UINT8:
		return json_integer(*p);
	case DJ_TYPE_INT16: {
		int16_t x;
		memcpy(&x, p, 2);
		return json_integer(x);
	}
	case DJ_TYPE_UINT16: {
		uint16_t x;
		memcpy(&x, p, 2);
		return json_integer(x);
	}
	case DJ_TYPE_INT32: {
		int32_t x;
		memcpy(&x, p, 4);
		return json_integer(x);
	}
	case DJ_TYPE_UINT32: {
		uint32_t x;
		memcpy(&x, p, 4);
		return json_integer(x);
	}
	default: {
		int64_t x;
		memcpy(&x, p, 8);
		return json_integer(x);
	}
	}
}

static double num(const json_t *v)
{
	return json_is_boolean(v) ? json_is_true(v) : json_number_value(v);
}

/* ndarray_summary(): C-order values, their little-endian bytes' SHA-256, whole or head/min/max */
static json_t *ndarray(const dj_array *a)
{
	size_t item = dj_type_itemsize(a->type_id), n = a->count;
	uint8_t *c = malloc(n * item + 1);
	json_t *vals = json_array(), *shape = json_array(), *o = json_object();
	size_t *idx = calloc(a->ndim + 1, sizeof(*idx));
	char hex[65];
	if (a->is_complex || a->type_id == DJ_TYPE_CHAR || a->type_id == DJ_TYPE_OBJECT)
		fail_msg("unhandled array type %u in the fixture check", a->type_id);
	for (size_t k = 0; k < a->ndim; k++)
		json_array_append_new(shape, json_integer((json_int_t)a->shape[k]));
	for (size_t i = 0; i < n; i++) { /* i walks C order; f is the column-major offset */
		size_t f = 0, stride = 1;
		for (size_t k = 0; k < a->ndim; k++) {
			f += idx[k] * stride;
			stride *= a->shape[k];
		}
		memcpy(c + i * item, a->data + f * item, item);
		json_array_append_new(vals, element(a, f));
		for (size_t k = a->ndim; k-- > 0;) {
			if (++idx[k] < a->shape[k])
				break;
			idx[k] = 0;
		}
	}
	sha256_hex(c, n * item, hex);
	json_object_set_new(o, "dtype", json_string(dj_type_name(a->type_id)));
	json_object_set_new(o, "shape", shape);
	json_object_set_new(o, "nbytes", json_integer((json_int_t)(n * item)));
	json_object_set_new(o, "sha256_le", json_string(hex));
	if (n <= 16) {
		json_object_set(o, "values", vals);
	} else {
		json_t *head = json_array(), *lo = json_array_get(vals, 0), *hi = lo;
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(vals, i);
			if (i < 6)
				json_array_append(head, v);
			lo = num(v) < num(lo) ? v : lo;
			hi = num(v) > num(hi) ? v : hi;
		}
		json_object_set_new(o, "head", head);
		json_object_set(o, "min", lo);
		json_object_set(o, "max", hi);
	}
	json_decref(vals);
	free(idx);
	free(c);
	return tagged("$ndarray", o);
}

static void iso_datetime(char *out, size_t n, int32_t d, int64_t t, bool iso_t)
{
	int len = snprintf(out, n, "%04d-%02d-%02d", d / 10000, d / 100 % 100, d % 100);
	if (t < 0)
		return;
	len += snprintf(out + len, n - (size_t)len, "%c%02d:%02d:%02d", iso_t ? 'T' : ' ',
	                (int)(t / 10000000000LL), (int)(t / 100000000 % 100),
	                (int)(t / 1000000 % 100));
	if (t % 1000000) /* isoformat() omits a zero fraction */
		snprintf(out + len, n - (size_t)len, ".%06d", (int)(t % 1000000));
}

static json_t *value_fix(const dj_value *v)
{
	char buf[80];
	json_t *o;
	int64_t x;
	switch (v->kind) {
	case DJ_V_NONE:
		return json_null();
	case DJ_V_BOOL:
		return json_boolean(v->u.b);
	case DJ_V_INT:
		assert_int_equal(dj_value_get_int64(v, &x), 0);
		return json_integer(x);
	case DJ_V_FLOAT:
		return json_real(v->u.f);
	case DJ_V_STR:
		return json_stringn(v->u.s.p, v->u.s.n);
	case DJ_V_DECIMAL:
		return tagged("$decimal", json_stringn(v->u.s.p, v->u.s.n));
	case DJ_V_DATETIME:
		iso_datetime(buf, sizeof(buf), v->u.dt.date, v->u.dt.time, true);
		return tagged(v->u.dt.time < 0 ? "$date" : "$datetime", json_string(buf));
	case DJ_V_UUID:
		for (int i = 0, k = 0; i < 16; i++)
			k += sprintf(buf + k, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "",
			             v->u.uuid[i]);
		return tagged("$uuid", json_string(buf));
	case DJ_V_TUPLE:
	case DJ_V_LIST:
		o = json_array();
		for (size_t i = 0; i < v->u.seq.n; i++)
			json_array_append_new(o, value_fix(v->u.seq.items[i]));
		return v->kind == DJ_V_TUPLE ? tagged("$tuple", o) : o;
	case DJ_V_DICT:
		o = json_object();
		for (size_t i = 0; i < v->u.seq.n; i++) {
			const dj_value *k = v->u.seq.items[2 * i];
			assert_int_equal(k->kind, DJ_V_STR);
			json_object_set_new(o, k->u.s.p, value_fix(v->u.seq.items[2 * i + 1]));
		}
		return tagged("$dict", o);
	case DJ_V_ARRAY:
		return ndarray(&v->u.arr);
	default:
		fail_msg("unhandled value kind %d in the fixture check", (int)v->kind);
	}
	return NULL;
}

/* json columns: objects are dicts in the fixture's notation */
static json_t *json_fix(const json_t *j)
{
	const char *k;
	json_t *v, *o;
	size_t i;
	if (json_is_object(j)) {
		o = json_object();
		json_object_foreach((json_t *)j, k, v)
			json_object_set_new(o, k, json_fix(v));
		return tagged("$dict", o);
	}
	if (json_is_array(j)) {
		o = json_array();
		json_array_foreach(j, i, v)
			json_array_append_new(o, json_fix(v));
		return o;
	}
	return json_deep_copy(j);
}

static json_t *file_fix(const dj_buf *b)
{
	char hex[65];
	json_t *o = json_object();
	sha256_hex(b->ptr, b->len, hex);
	json_object_set_new(o, "size", json_integer((json_int_t)b->len));
	json_object_set_new(o, "sha256", json_string(hex));
	if (dj_utf8_valid(b->ptr, b->len))
		json_object_set_new(o, "text", json_stringn(b->ptr, b->len));
	return o;
}

typedef struct folder_ctx {
	target *t;
	const dj_object_meta *m;
	json_t *files;
} folder_ctx;

static int folder_file(const dj_store_entry *e, void *payload)
{
	folder_ctx *f = payload;
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (dj_row_object_read(&f->t->ctx, f->m, e->key, &b, &err) < 0)
		fail_msg("%s", err.msg);
	json_object_set_new(f->files, e->key, file_fix(&b));
	dj_buf_dispose(&b);
	return 0;
}

/* ObjectRef.verify(): the manifest's files exist with their sizes */
static bool verify_folder(target *t, const dj_object_meta *m, json_t *files)
{
	dj_store *st = NULL;
	dj_buf key = DJ_BUF_INIT, text = DJ_BUF_INIT;
	dj_manifest man = {0};
	dj_err err = DJ_ERR_INIT;
	bool ok;
	dj_buf_addf(&key, "%s.manifest.json", m->path);
	ok = dj_row_store(&t->ctx, m->store, &st, NULL, &err) == 0 &&
	     dj_store_get(st, key.ptr, &text, &err) == 0 &&
	     dj_manifest_parse(&man, text.ptr, text.len, &err) == 0;
	for (size_t i = 0; ok && i < man.nfiles; i++) {
		json_t *f = json_object_get(files, man.paths[i]);
		ok = f && (uint64_t)json_integer_value(json_object_get(f, "size")) == man.sizes[i];
	}
	dj_manifest_dispose(&man);
	dj_buf_dispose(&key);
	dj_buf_dispose(&text);
	return ok;
}

static json_t *object_fix(target *t, const dj_object_meta *m)
{
	json_t *o;
	dj_err err = DJ_ERR_INIT;
	if (!m->is_dir) {
		dj_buf b = DJ_BUF_INIT;
		if (dj_row_object_read(&t->ctx, m, NULL, &b, &err) < 0)
			fail_msg("%s", err.msg);
		o = file_fix(&b);
		dj_buf_dispose(&b);
		json_object_set_new(o, "is_dir", json_false());
	} else {
		folder_ctx f = {t, m, json_object()};
		if (dj_row_object_list(&t->ctx, m, folder_file, &f, &err) < 0)
			fail_msg("%s", err.msg);
		o = json_object();
		json_object_set_new(o, "is_dir", json_true());
		json_object_set_new(o, "verify", json_boolean(verify_folder(t, m, f.files)));
		json_object_set_new(o, "files", f.files);
	}
	return tagged("$object", o);
}

static json_t *npy_fix(target *t, const dj_npy_meta *m)
{
	dj_value *arr;
	dj_err err = DJ_ERR_INIT;
	json_t *o = json_object(), *shape = json_array(), *summary;
	if (dj_row_npy_load(&t->ctx, m, &arr, &err) < 0)
		fail_msg("%s", err.msg);
	summary = ndarray(&arr->u.arr);
	for (size_t k = 0; k < m->ndim; k++)
		json_array_append_new(shape, json_integer((json_int_t)m->shape[k]));
	json_object_set_new(o, "shape", shape);
	json_object_set_new(o, "dtype", json_string(m->dtype));
	json_object_set(o, "array", json_object_get(summary, "$ndarray"));
	json_decref(summary);
	dj_value_free(arr);
	return tagged("$npy", o);
}

static json_t *cell_fix(target *t, const dj_attr *a, const dj_cell *c)
{
	json_t *o, *j;
	switch (c->kind) {
	case DJ_CELL_NULL:
		return json_null();
	case DJ_CELL_VALUE:
		if (a->kind == DJ_ATTR_CORE && !a->coltype.codec && a->coltype.core == DJ_CORE_JSON) {
			json_error_t jerr;
			if (!(j = json_loadb(c->value->u.s.p, c->value->u.s.n, JSON_DECODE_ANY, &jerr)))
				fail_msg("%s: bad JSON: %s", a->name, jerr.text);
			o = json_fix(j);
			json_decref(j);
			return o;
		}
		return value_fix(c->value);
	case DJ_CELL_ATTACH:
		o = file_fix(&c->data);
		json_object_set_new(o, "name", json_string(c->name));
		return tagged("$attach", o);
	case DJ_CELL_NPY:
		return npy_fix(t, &c->npy);
	case DJ_CELL_OBJECT:
		return object_fix(t, &c->obj);
	default:
		fail_msg("unexpected cell kind %d", (int)c->kind);
	}
	return NULL;
}

/* --- comparing ----------------------------------------------------------------------------- */

static bool close_enough(double a, double b)
{
	double d = a > b ? a - b : b - a, m = (a < 0 ? -a : a) > (b < 0 ? -b : b) ? a : b;
	return d <= 1e-12 * (m < 0 ? -m : m) || d == 0;
}

/* Equal JSON, numbers compared as doubles; inside $attach / $object only the keys the
 * fixture records (it leaves "text" out of binary files). */
static bool same(const json_t *want, const json_t *got, bool subset)
{
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_number(want) && json_is_number(got))
		return close_enough(json_number_value(want), json_number_value(got));
	if (json_typeof(want) != json_typeof(got))
		return false;
	if (json_is_array(want)) {
		if (json_array_size(want) != json_array_size(got))
			return false;
		json_array_foreach(want, i, v) if (!same(v, json_array_get(got, i), subset)) return false;
		return true;
	}
	if (json_is_object(want)) {
		if (!subset && json_object_size(want) != json_object_size(got))
			return false;
		json_object_foreach((json_t *)want, k, v)
		{
			bool sub = subset || !strcmp(k, "$attach") || !strcmp(k, "$object");
			json_t *g = json_object_get(got, k);
			if (!g || !same(v, g, sub))
				return false;
		}
		return true;
	}
	return json_equal(want, got);
}

static char *key_text(json_t *row, json_t *pk)
{
	json_t *k = json_array();
	size_t i;
	json_t *name;
	char *s;
	json_array_foreach(pk, i, name)
		json_array_append(k, json_object_get(row, json_string_value(name)));
	s = json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(k);
	return s;
}

/* Every row of `tb` decoded, as {key text: {column: fixture value}}. */
static json_t *fetch_fix(target *t, const dj_table *tb, json_t *pk, bool hidden)
{
	dj_fetch *f;
	dj_err err = DJ_ERR_INIT;
	json_t *rows = json_object();
	int rc;
	if (dj_fetch_open(&f, t->db, &t->ctx, tb, NULL, -1, hidden ? DJ_FETCH_HIDDEN : 0, &err) <
	    0)
		fail_msg("%s", err.msg);
	while ((rc = dj_fetch_next(f, &err)) == 1) {
		json_t *row = json_object();
		char *key;
		for (size_t i = 0; i < dj_fetch_ncols(f); i++) {
			dj_cell c;
			if (dj_fetch_cell(f, i, &c, &err) < 0)
				fail_msg("%s: %s", t->backend, err.msg);
			json_object_set_new(row, dj_fetch_attr(f, i)->name,
			                    cell_fix(t, dj_fetch_attr(f, i), &c));
			dj_cell_dispose(&c);
		}
		key = key_text(row, pk);
		json_object_set_new(rows, key, row);
		free(key);
	}
	if (rc < 0)
		fail_msg("%s", err.msg);
	dj_fetch_close(f);
	return rows;
}

/* Compare one table with its expected rows; returns the number of values compared. */
static size_t check_table(target *t, const dj_table *tb, json_t *exp, const char *where)
{
	json_t *pk = json_object_get(exp, "primary_key"), *want = json_object_get(exp, "rows");
	json_t *raw = json_object_get(json_object_get(exp, "raw"), "rows");
	json_t *hidden = json_object_get(json_object_get(exp, "raw"), "hidden_columns");
	bool with_hidden = json_array_size(hidden) > 0 && !strncmp(tb->schema, "fx_", 3);
	json_t *got = fetch_fix(t, tb, pk, with_hidden), *row;
	size_t n = 0, i;
	assert_int_equal(json_object_size(got), json_array_size(want));
	json_array_foreach(want, i, row)
	{
		char *key = key_text(row, pk);
		json_t *g = json_object_get(got, key), *v;
		const char *col;
		if (!g)
			fail_msg("%s: %s row %s not fetched", t->backend, where, key);
		json_object_foreach(row, col, v)
		{
			if (!same(v, json_object_get(g, col), false)) {
				char *a = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				char *b = json_dumps(json_object_get(g, col), JSON_ENCODE_ANY | JSON_COMPACT);
				fail_msg("%s: %s %s.%s:\n  want %.600s\n  got  %.600s", t->backend, where,
				         key, col, a, b);
			}
			n++;
		}
		free(key);
	}
	json_array_foreach(with_hidden ? raw : NULL, i, row)
	{ /* the fixture records hidden columns raw, keyed by "key" */
		char *key = key_text(json_object_get(row, "key"), pk);
		json_t *g = json_object_get(got, key), *col;
		size_t k;
		json_array_foreach(hidden, k, col)
		{
			const char *c = json_string_value(col);
			if (!same(json_object_get(row, c), json_object_get(g, c), false))
				fail_msg("%s: %s %s.%s differs", t->backend, where, key, c);
			n++;
		}
		free(key);
	}
	json_decref(got);
	return n;
}

static size_t check_schema(target *t, const char *fixture_name, const char *name)
{
	json_t *tables = json_object_get(json_object_get(t->exp, "schemas"), fixture_name), *exp;
	dj_schema s = load_schema(t, name);
	const char *tname;
	size_t n = 0;
	json_object_foreach(tables, tname, exp)
	{
		char where[160];
		const dj_table *tb = dj_schema_table(&s, tname);
		if (strcmp(name, fixture_name) != 0 && tname[0] == '~')
			continue; /* copies hold no ~ tables */
		snprintf(where, sizeof(where), "%s.%s", name, tname);
		if (!tb || strcmp(tb->name, tname) != 0)
			fail_msg("%s: %s not found", t->backend, where);
		n += check_table(t, tb, exp, where);
	}
	dj_schema_free(&s);
	return n;
}

static void fixture_values(void **state)
{
	target *t = need(state);
	size_t n = check_schema(t, "fx_lab", "fx_lab") + check_schema(t, "fx_ephys", "fx_ephys");
	print_message("%s: %zu fixture values decoded as datajoint-python decoded them\n",
	              t->backend, n);
	assert_true(n >= 790);
}

/* --- round trip ---------------------------------------------------------------------------- */

static void mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
}

typedef struct dl_ctx {
	target *t;
	const dj_object_meta *m;
	const char *dir;
} dl_ctx;

static int download(const dj_store_entry *e, void *payload)
{
	dl_ctx *d = payload;
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", d->dir, e->key);
	mkdirs(path);
	if (dj_row_object_read(&d->t->ctx, d->m, e->key, &b, &err) < 0 ||
	    dj_file_write(path, b.ptr, b.len, &err) < 0)
		fail_msg("%s", err.msg);
	dj_buf_dispose(&b);
	return 0;
}

/* A decoded cell turned into what an insert takes to write the same thing again. */
static void to_input(target *t, const dj_attr *a, dj_cell *c)
{
	static int folders;
	dj_err err = DJ_ERR_INIT;
	if (c->kind == DJ_CELL_NPY) {
		if (dj_row_npy_read(&t->ctx, &c->npy, &c->data, &err) < 0)
			fail_msg("%s", err.msg);
	} else if (c->kind == DJ_CELL_OBJECT && !strcmp(a->coltype.codec->name, "filepath")) {
		char *p = strdup(c->obj.path);
		dj_object_meta_dispose(&c->obj);
		c->value = dj_value_str(p, strlen(p));
		c->kind = DJ_CELL_VALUE;
		free(p);
	} else if (c->kind == DJ_CELL_OBJECT && !c->obj.is_dir) {
		dj_buf b = DJ_BUF_INIT;
		if (dj_row_object_read(&t->ctx, &c->obj, NULL, &b, &err) < 0)
			fail_msg("%s", err.msg);
		c->value = dj_value_bytes(b.ptr, b.len);
		c->name = c->obj.ext ? strdup(c->obj.ext) : NULL;
		dj_object_meta_dispose(&c->obj);
		c->kind = DJ_CELL_VALUE;
		dj_buf_dispose(&b);
	} else if (c->kind == DJ_CELL_OBJECT) {
		char dir[700];
		dl_ctx d = {t, &c->obj, dir};
		snprintf(dir, sizeof(dir), "%s/folder%d", t->root, ++folders);
		mkdir(dir, 0755);
		if (dj_row_object_list(&t->ctx, &c->obj, download, &d, &err) < 0)
			fail_msg("%s", err.msg);
		dj_object_meta_dispose(&c->obj);
		c->name = strdup(dir);
		c->kind = DJ_CELL_PATH;
	}
}

/* Read all rows of `tb` and write them into the same table of schema `to`. */
static size_t copy_rows(target *t, const dj_table *tb, const dj_table *dst)
{
	dj_fetch *f;
	dj_insert *ins;
	dj_err err = DJ_ERR_INIT;
	const char *cols[64];
	size_t ncols, nrows = 0;
	dj_cell *cells;
	int rc;
	if (dj_fetch_open(&f, t->db, &t->ctx, tb, NULL, -1, 0, &err) < 0)
		fail_msg("%s", err.msg);
	ncols = dj_fetch_ncols(f);
	for (size_t i = 0; i < ncols; i++)
		cols[i] = dj_fetch_attr(f, i)->name;
	cells = calloc(ncols * 64, sizeof(*cells));
	while ((rc = dj_fetch_next(f, &err)) == 1) {
		assert_true(nrows < 64);
		for (size_t i = 0; i < ncols; i++) {
			dj_cell *c = &cells[nrows * ncols + i];
			if (dj_fetch_cell(f, i, c, &err) < 0)
				fail_msg("%s", err.msg);
			to_input(t, dj_fetch_attr(f, i), c);
		}
		nrows++;
	}
	assert_int_equal(rc, 0);
	dj_fetch_close(f); /* one result set at a time: insert after reading */
	if (dj_insert_new(&ins, &t->ctx, backend_of(t), dst, cols, ncols, &err) < 0)
		fail_msg("%s", err.msg);
	for (size_t r = 0; r < nrows; r++)
		if (dj_insert_add(ins, &cells[r * ncols], &err) < 0)
			fail_msg("%s: %s", t->backend, err.msg);
	assert_int_equal(dj_insert_pending(ins), nrows);
	if (dj_insert_exec(ins, t->db, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	dj_insert_free(ins);
	for (size_t i = 0; i < nrows * ncols; i++)
		dj_cell_dispose(&cells[i]);
	free(cells);
	return nrows;
}

/* All rows' raw columns of one table, ordered by key: [[col values as text or hex]...] */
static json_t *raw_rows(target *t, const char *schema, const dj_table *tb)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_db_rows *r;
	json_t *rows = json_array();
	dj_buf_addf(&sql, "SELECT * FROM ");
	dj_db_quote_ident(backend_of(t), &sql, schema, &err);
	dj_buf_addc(&sql, '.');
	dj_db_quote_ident(backend_of(t), &sql, tb->name, &err);
	dj_buf_adds(&sql, " ORDER BY ");
	for (size_t k = 0; k < tb->npk; k++) {
		if (k)
			dj_buf_addc(&sql, ',');
		dj_db_quote_ident(backend_of(t), &sql, tb->attrs[tb->pk[k]].name, &err);
	}
	if (dj_db_query(t->db, sql.ptr, NULL, 0, &r, &err) < 0)
		fail_msg("%s: %s", sql.ptr, err.msg);
	while (dj_db_rows_next(r, &err) == 1) {
		json_t *row = json_object();
		for (size_t i = 0; i < dj_db_rows_nfields(r); i++) {
			dj_bytes v = dj_db_rows_value(r, i);
			json_t *x = json_null();
			if (!dj_db_rows_isnull(r, i) && dj_db_rows_type(r, i) == DJ_DB_T_BYTES) {
				char hex[65];
				sha256_hex(v.ptr, v.len, hex);
				x = json_string(hex);
			} else if (!dj_db_rows_isnull(r, i)) {
				x = json_stringn((const char *)v.ptr, v.len);
			}
			json_object_set_new(row, dj_db_rows_name(r, i), x);
		}
		json_array_append_new(rows, row);
	}
	dj_db_rows_free(r);
	dj_buf_dispose(&sql);
	return rows;
}

static json_t *parse(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);
	if (!j)
		fail_msg("not JSON: %s", s);
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Two objects of one store hold the same bytes (.npy files are copied as they are). */
static void same_file(target *t, const char *store, const char *a, const char *b)
{
	dj_store *st = NULL;
	dj_buf x = DJ_BUF_INIT, y = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (dj_row_store(&t->ctx, store, &st, NULL, &err) < 0 || dj_store_get(st, a, &x, &err) < 0 ||
	    dj_store_get(st, b, &y, &err) < 0)
		fail_msg("%s", err.msg);
	if (x.len != y.len || memcmp(x.ptr, y.ptr, x.len) != 0)
		fail_msg("%s: '%s' and '%s' differ", t->backend, a, b);
	dj_buf_dispose(&x);
	dj_buf_dispose(&y);
}

/* The stored form of one column, original against copy; counts what it compared. */
static void compare_column(target *t, const dj_attr *a, const char *to, json_t *o, json_t *c,
                           size_t *bytes_same, size_t *meta_same)
{
	json_t *jo, *jc;
	if (json_is_null(o) || !json_is_string(o) || a->kind != DJ_ATTR_CODEC ||
	    !a->coltype.has_store) {
		if (!json_equal(o, c))
			fail_msg("%s: %s: stored value differs", t->backend, a->name);
		if (a->kind == DJ_ATTR_CODEC && !json_is_null(o))
			(*bytes_same)++;
		return;
	}
	jo = parse(json_string_value(o));
	jc = parse(json_string_value(c));
	assert_string_equal(jstr(jo, "store"), jstr(jc, "store"));
	if (json_object_get(jo, "hash")) { /* hash metadata: identical but for the schema */
		char path[512];
		const char *p = jstr(jo, "path"), *at = strstr(p, "fx_ephys");
		snprintf(path, sizeof(path), "%.*s%s%s", (int)(at - p), p, to, at + 8);
		assert_string_equal(jstr(jo, "hash"), jstr(jc, "hash"));
		assert_int_equal(json_integer_value(json_object_get(jo, "size")),
		                 json_integer_value(json_object_get(jc, "size")));
		assert_string_equal(jstr(jc, "schema"), to);
		assert_string_equal(jstr(jc, "path"), path);
		(*meta_same)++;
	} else if (!strcmp(a->coltype.codec->name, "filepath")) {
		assert_string_equal(jstr(jo, "path"), jstr(jc, "path"));
		assert_true(json_equal(json_object_get(jo, "size"), json_object_get(jc, "size")));
		(*meta_same)++;
	} else { /* npy, object: same shape of metadata, a new path under the copy */
		const char *keys[] = {"dtype", "shape", "size", "ext", "is_dir", "item_count"};
		char prefix[300];
		snprintf(prefix, sizeof(prefix), "_schema/%s/", to);
		for (size_t k = 0; k < 6; k++)
			if (!json_object_get(jo, keys[k]) != !json_object_get(jc, keys[k]) ||
			    (json_object_get(jo, keys[k]) &&
			     !json_equal(json_object_get(jo, keys[k]), json_object_get(jc, keys[k]))))
				fail_msg("%s: %s: '%s' differs:\n  %s\n  %s", t->backend, a->name, keys[k],
				         json_string_value(o), json_string_value(c));
		assert_true(!strncmp(jstr(jc, "path"), prefix, strlen(prefix)));
		if (json_object_get(jo, "dtype"))
			same_file(t, jstr(jo, "store"), jstr(jo, "path"), jstr(jc, "path"));
		(*meta_same)++;
	}
	json_decref(jo);
	json_decref(jc);
}

static void compare_tables(target *t, const dj_table *tb, const char *to, size_t *bytes_same,
                           size_t *meta_same)
{
	json_t *orig = raw_rows(t, "fx_ephys", tb), *copy = raw_rows(t, to, tb), *row;
	size_t i;
	assert_int_equal(json_array_size(orig), json_array_size(copy));
	json_array_foreach(orig, i, row)
	{
		for (size_t k = 0; k < tb->nattrs; k++) {
			const dj_attr *a = &tb->attrs[k];
			if (a->hidden)
				continue;
			compare_column(t, a, to, json_object_get(row, a->name),
			               json_object_get(json_array_get(copy, i), a->name), bytes_same,
			               meta_same);
		}
	}
	json_decref(orig);
	json_decref(copy);
}

static void round_trip(void **state)
{
	target *t = need(state);
	char to[64];
	dj_schema from, dst;
	size_t rows = 0, bytes_same = 0, meta_same = 0, values;
	snprintf(to, sizeof(to), "%s", djt_name());
	copy_schema(t, "fx_ephys", to);
	from = load_schema(t, "fx_ephys");
	dst = load_schema(t, to);
	for (size_t i = 0; i < from.norder; i++)
		rows += copy_rows(t, from.order[i], must_table(&dst, from.order[i]->name));
	for (size_t i = 0; i < from.norder; i++)
		compare_tables(t, from.order[i], to, &bytes_same, &meta_same);
	values = check_schema(t, "fx_ephys", to);
	print_message("%s: round trip of %zu rows: %zu in-table codec values byte-identical, %zu "
	              "store metadata equal, %zu values decode as expected.json\n",
	              t->backend, rows, bytes_same, meta_same, values);
	assert_int_equal(rows, 52);
	dj_schema_free(&from);
	dj_schema_free(&dst);
	drop_schema(t, to);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(fixture_values),
	    BOTH(round_trip),
	};
	return cmocka_run_group_tests_name("rows_fixture", tests, group_setup, group_teardown);
}
