/*
 * djrun fetch SCHEMA.Table [--where SQL] [--limit N]: rows as JSON lines, every attribute
 * decoded through its codec (jobs/row.h). Arrays are {"dtype", "shape", "data"} with data in C
 * (row-major) order, as numpy shows them.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/attach.h"
#include "codecs/pyfloat.h"
#include "codecs/value_model.h"
#include "db/schema.h"
#include "jobs/row.h"
#include "runner/cli.h"
#include "runner/config.h"
#include "runner/db_connect.h"
#include "runner/exit.h"


typedef struct fetch_args {
	const char *target, *where, *config_file, *download;
	long long limit;
	bool hidden, load;
} fetch_args;

static void help(void)
{
	printf("usage: djrun fetch SCHEMA.Table [--where SQL] [--limit N] [--hidden] [--load]\n"
	       "                   [--download DIR] [--config FILE]\n\n"
	       "Print the rows of a table as JSON lines (one object per row, ordered by the primary\n"
	       "key), every attribute decoded as datajoint-python decodes it: blobs unpacked\n"
	       "(<blob@> read from the store and hash-checked), json parsed, dates and datetimes as\n"
	       "ISO text, decimals and uuids as strings, bytes as {\"$base64\": ...}, arrays as\n"
	       "{\"dtype\", \"shape\", \"data\"} (data in C order), attachments as {\"$attach\"},\n"
	       "<npy@> as {\"$npy\"} metadata and <object@>/<filepath@> as {\"$object\"} metadata\n"
	       "(nothing is downloaded unless asked).\n\n"
	       "options:\n"
	       "  --where SQL     restrict the rows (SQL text, as a string restriction in Python)\n"
	       "  --limit N       at most N rows\n"
	       "  --hidden        include hidden attributes (_job_start_time, ...)\n"
	       "  --load          read <npy@> arrays and print them like blob arrays\n"
	       "  --download DIR  save attachments under DIR (as Python does) and print their path\n"
	       "  --config FILE   read FILE instead of searching for datajoint.json\n"
	       "  --help          this text\n\n"
	       "exit codes:\n"
	       "  0   rows printed (including none)\n"
	       "  1   schema or table not found, or a database, store or decoding error\n"
	       "  2   usage or configuration error\n"
	       "  3   database unreachable or credentials refused\n");
}

static int parse_args(int argc, char **argv, fetch_args *a, bool *done)
{
	a->limit = -1;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		char *end;
		bool more = i + 1 < argc;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			help();
			*done = true;
			return DJ_EXIT_OK;
		} else if (!strcmp(s, "--where") && more) {
			a->where = argv[++i];
		} else if (!strcmp(s, "--limit") && more) {
			a->limit = strtoll(argv[++i], &end, 10);
			if (*end || a->limit < 0)
				return dj_cli_usage_error("fetch", "--limit takes a count, not '%s'",
				                          argv[i]);
		} else if (!strcmp(s, "--download") && more) {
			a->download = argv[++i];
		} else if (!strcmp(s, "--config") && more) {
			a->config_file = argv[++i];
		} else if (!strcmp(s, "--hidden")) {
			a->hidden = true;
		} else if (!strcmp(s, "--load")) {
			a->load = true;
		} else if (s[0] == '-') {
			return dj_cli_usage_error("fetch", "unknown option '%s'", s);
		} else if (!a->target) {
			a->target = s;
		} else {
			return dj_cli_usage_error("fetch", "unexpected argument '%s'", s);
		}
	}
	if (!a->target || !strchr(a->target, '.') || a->target[0] == '.')
		return dj_cli_usage_error("fetch", "expected SCHEMA.Table");
	return DJ_EXIT_OK;
}

/* --- values as JSON -------------------------------------------------------------------------- */

static json_t *base64(const void *p, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *s = p;
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	json_t *j;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
		             (i + 2 < n ? s[i + 2] : 0);
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? abc[v & 63] : '=';
	}
	*o = '\0';
	j = json_pack("{s:s}", "$base64", out);
	free(out);
	return j;
}

static json_t *real(double d)
{
	if (isnan(d))
		return json_string("nan");
	if (isinf(d))
		return json_string(d > 0 ? "inf" : "-inf");
	return json_real(d);
}

static json_t *element(const dj_array *a, size_t f, bool imag)
{
	size_t item = dj_type_itemsize(a->type_id);
	const uint8_t *p = a->data + (imag ? a->count + f : f) * item;
	union {
		double d;
		float f;
		int64_t i64;
		uint64_t u64;
		int32_t i32;
		uint32_t u32;
		int16_t i16;
		uint16_t u16;
	} v;
	memcpy(&v, p, item);
	switch (a->type_id) {
	case DJ_TYPE_FLOAT64:
		return real(v.d);
	case DJ_TYPE_FLOAT32:
		return real(v.f);
	case DJ_TYPE_BOOL:
		return json_boolean(*p);
	case DJ_TYPE_INT8:
		return json_integer((int8_t)*p);
	case DJ_TYPE_UINT8:
		return json_integer(*p);
	case DJ_TYPE_INT16:
		return json_integer(v.i16);
	case DJ_TYPE_UINT16:
		return json_integer(v.u16);
	case DJ_TYPE_INT32:
		return json_integer(v.i32);
	case DJ_TYPE_UINT32:
		return json_integer(v.u32);
	case DJ_TYPE_UINT64:
		return v.u64 > INT64_MAX ? json_real((double)v.u64) : json_integer((json_int_t)v.u64);
	default: /* int64 and datetime64 (its integer count) */
		return json_integer(v.i64);
	}
}

/* A numeric array: wire data is column-major; print it row-major as numpy shows it. */
static json_t *array_json(const dj_array *a)
{
	json_t *shape = json_array(), *data = json_array();
	size_t idx[64] = {0};
	if (a->ndim > 64)
		return NULL;
	for (size_t k = 0; k < a->ndim; k++)
		json_array_append_new(shape, json_integer((json_int_t)a->shape[k]));
	for (size_t i = 0; i < a->count; i++) {
		size_t f = 0, stride = 1;
		for (size_t k = 0; k < a->ndim; k++) {
			f += idx[k] * stride;
			stride *= a->shape[k];
		}
		if (a->is_complex)
			json_array_append_new(data, json_pack("[o,o]", element(a, f, false),
			                                      element(a, f, true)));
		else
			json_array_append_new(data, element(a, f, false));
		for (size_t k = a->ndim; k-- > 0;)
			if (++idx[k] < a->shape[k])
				break;
			else
				idx[k] = 0;
	}
	return json_pack("{s:s, s:o, s:o}", "dtype",
	                 a->is_complex ? (a->type_id == DJ_TYPE_FLOAT32 ? "complex64" : "complex128")
	                               : dj_type_name(a->type_id),
	                 "shape", shape, "data", data);
}

static json_t *value_json(const dj_value *v);

static json_t *seq_json(const dj_value *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->u.seq.n; i++)
		json_array_append_new(a, value_json(v->u.seq.items[i]));
	return a;
}

/* Dicts with string keys as objects; others as {"$dict": [[key, value], ...]}. */
static json_t *dict_json(const dj_value *v)
{
	bool strs = true;
	json_t *o;
	for (size_t i = 0; i < v->u.seq.n; i++)
		strs = strs && v->u.seq.items[2 * i]->kind == DJ_V_STR;
	o = strs ? json_object() : json_array();
	for (size_t i = 0; i < v->u.seq.n; i++) {
		const dj_value *k = v->u.seq.items[2 * i], *x = v->u.seq.items[2 * i + 1];
		if (strs)
			json_object_set_new(o, k->u.s.p, value_json(x));
		else
			json_array_append_new(o, json_pack("[o,o]", value_json(k), value_json(x)));
	}
	return strs ? o : json_pack("{s:o}", "$dict", o);
}

static json_t *datetime_json(int32_t d, int64_t t)
{
	char buf[48];
	int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02d", d / 10000, d / 100 % 100, d % 100);
	if (t >= 0) {
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "T%02d:%02d:%02d",
		              (int)(t / 10000000000LL), (int)(t / 100000000 % 100),
		              (int)(t / 1000000 % 100));
		if (t % 1000000) /* isoformat() omits a zero fraction */
			snprintf(buf + n, sizeof(buf) - (size_t)n, ".%06d", (int)(t % 1000000));
	}
	return json_string(buf);
}

static json_t *uuid_json(const uint8_t *u)
{
	char buf[40];
	for (int i = 0, k = 0; i < 16; i++)
		k += snprintf(buf + k, sizeof(buf) - (size_t)k, "%s%02x",
		              i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", u[i]);
	return json_string(buf);
}

/* What has no natural JSON form (structs, cells, records, char and object arrays): the value
 * model `djrun inspect blob` prints. */
static json_t *model_json(const dj_value *v)
{
	json_t *m = NULL;
	dj_err err = DJ_ERR_INIT;
	if (dj_value_to_model(v, SIZE_MAX, &m, &err) < 0)
		return json_pack("{s:s}", "$error", err.msg);
	return json_pack("{s:o}", "$model", m);
}

static json_t *value_json(const dj_value *v)
{
	int64_t x;
	switch (v->kind) {
	case DJ_V_NONE:
		return json_null();
	case DJ_V_BOOL:
		return json_boolean(v->u.b);
	case DJ_V_INT:
		if (dj_value_get_int64(v, &x) == 0)
			return json_integer(x);
		return model_json(v);
	case DJ_V_FLOAT:
		return real(v->u.f);
	case DJ_V_COMPLEX:
		return json_pack("[o,o]", real(v->u.c.re), real(v->u.c.im));
	case DJ_V_STR:
	case DJ_V_DECIMAL:
		return json_stringn(v->u.s.p, v->u.s.n);
	case DJ_V_BYTES:
		return base64(v->u.s.p, v->u.s.n);
	case DJ_V_DATETIME:
		return datetime_json(v->u.dt.date, v->u.dt.time);
	case DJ_V_UUID:
		return uuid_json(v->u.uuid);
	case DJ_V_TUPLE:
	case DJ_V_LIST:
	case DJ_V_SET:
		return seq_json(v);
	case DJ_V_DICT:
		return dict_json(v);
	case DJ_V_ARRAY:
		if (v->u.arr.type_id != DJ_TYPE_CHAR && v->u.arr.type_id != DJ_TYPE_OBJECT &&
		    !(v->u.arr.is_complex && v->u.arr.type_id != DJ_TYPE_FLOAT64 &&
		      v->u.arr.type_id != DJ_TYPE_FLOAT32))
			return array_json(&v->u.arr);
		return model_json(v);
	default:
		return model_json(v);
	}
}

/* --- cells ----------------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *object_json(const dj_object_meta *m)
{
	char ts[DJ_ISOTIME_MAX] = "";
	json_t *o = json_pack("{s:s, s:o, s:b}", "path", m->path, "store", str_or_null(m->store),
	                      "is_dir", m->is_dir);
	json_object_set_new(o, "size", m->has_size ? json_integer((json_int_t)m->size) : json_null());
	json_object_set_new(o, "ext", str_or_null(m->ext));
	json_object_set_new(o, "item_count", m->has_item_count
	                                         ? json_integer((json_int_t)m->item_count)
	                                         : json_null());
	if (m->has_timestamp && dj_isotime_format(m->ts_sec, m->ts_usec, ts, NULL) == 0)
		json_object_set_new(o, "timestamp", json_string(ts));
	return json_pack("{s:o}", "$object", o);
}

static json_t *npy_json(dj_row_ctx *ctx, const dj_npy_meta *m, bool load, dj_err *err)
{
	json_t *shape = json_array(), *j;
	dj_value *arr = NULL;
	if (load) {
		if (dj_row_npy_load(ctx, m, &arr, err) < 0)
			return NULL;
		j = value_json(arr);
		dj_value_free(arr);
		json_decref(shape);
		return j;
	}
	for (size_t k = 0; k < m->ndim; k++)
		json_array_append_new(shape, json_integer((json_int_t)m->shape[k]));
	return json_pack("{s:{s:s, s:o, s:s, s:o}}", "$npy", "path", m->path, "store",
	                 str_or_null(m->store), "dtype", m->dtype, "shape", shape);
}

static json_t *attach_json(const dj_cell *c, const char *dir, dj_err *err)
{
	json_t *o = json_pack("{s:s, s:I}", "name", c->name, "size", (json_int_t)c->data.len);
	if (dir) { /* saved as Python's attach decode does (formats.md §3) */
		dj_buf path = DJ_BUF_INIT;
		dj_bytes name = {(const uint8_t *)c->name, strlen(c->name)};
		if (dj_attach_save(dir, name, dj_buf_bytes(&c->data), &path, err) < 0) {
			json_decref(o);
			dj_buf_dispose(&path);
			return NULL;
		}
		json_object_set_new(o, "path", json_string(path.ptr));
		dj_buf_dispose(&path);
	}
	return json_pack("{s:o}", "$attach", o);
}

static json_t *cell_json(dj_row_ctx *ctx, const dj_attr *a, const dj_cell *c,
                         const fetch_args *args, dj_err *err)
{
	switch (c->kind) {
	case DJ_CELL_VALUE:
		if (a->kind == DJ_ATTR_CORE && !a->coltype.codec && a->coltype.core == DJ_CORE_JSON) {
			json_t *j = json_loadb(c->value->u.s.p, c->value->u.s.n, JSON_DECODE_ANY, NULL);
			if (j)
				return j;
		}
		return value_json(c->value);
	case DJ_CELL_ATTACH:
		return attach_json(c, args->download, err);
	case DJ_CELL_NPY:
		return npy_json(ctx, &c->npy, args->load, err);
	case DJ_CELL_OBJECT:
		return object_json(&c->obj);
	default:
		return json_null();
	}
}

/* --- printing ------------------------------------------------------------------------------- */

/* JSON text with floats as Python's repr() (jansson prints 17 digits: 0.20000000000000001). */
static int emit(dj_buf *out, const json_t *j)
{
	char num[DJ_PYFLOAT_MAX];
	const char *k;
	json_t *v;
	size_t i;
	int rc = 0;
	char *text;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		rc = dj_buf_addc(out, '{');
		i = 0;
		json_object_foreach((json_t *)j, k, v)
		{
			json_t *key = json_string(k);
			if (rc == 0 && i++)
				rc = dj_buf_addc(out, ',');
			if (rc == 0 && (rc = emit(out, key)) == 0 && (rc = dj_buf_addc(out, ':')) == 0)
				rc = emit(out, v);
			json_decref(key);
		}
		return rc == 0 ? dj_buf_addc(out, '}') : rc;
	case JSON_ARRAY:
		rc = dj_buf_addc(out, '[');
		json_array_foreach(j, i, v)
		{
			if (rc == 0 && i)
				rc = dj_buf_addc(out, ',');
			if (rc == 0)
				rc = emit(out, v);
		}
		return rc == 0 ? dj_buf_addc(out, ']') : rc;
	case JSON_REAL:
		dj_pyfloat_format(json_real_value(j), num);
		return dj_buf_adds(out, num);
	default:
		if (!(text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT)))
			return DJ_ENOMEM;
		rc = dj_buf_adds(out, text);
		free(text);
		return rc;
	}
}

/* --- the command ----------------------------------------------------------------------------- */

static int print_rows(dj_db *db, dj_row_ctx *ctx, const dj_table *t, const fetch_args *a,
                      dj_err *err)
{
	dj_fetch *f;
	dj_buf line = DJ_BUF_INIT;
	int rc = dj_fetch_open(&f, db, ctx, t, a->where, a->limit,
	                       DJ_FETCH_ORDER_PK | (a->hidden ? DJ_FETCH_HIDDEN : 0), err);
	while (rc == 0 && (rc = dj_fetch_next(f, err)) == 1) {
		json_t *row = json_object();
		rc = 0;
		for (size_t i = 0; rc == 0 && i < dj_fetch_ncols(f); i++) {
			dj_cell c;
			json_t *v = NULL;
			if ((rc = dj_fetch_cell(f, i, &c, err)) == 0 &&
			    !(v = cell_json(ctx, dj_fetch_attr(f, i), &c, a, err)))
				rc = err->code ? err->code : dj_err_set(err, DJ_ENOMEM, "out of memory");
			if (rc < 0 && !strstr(err->msg, dj_fetch_key(f)))
				dj_err_context(err, "%s.%s %s.%s", t->schema, t->name, dj_fetch_key(f),
				               dj_fetch_attr(f, i)->name);
			if (v)
				json_object_set_new(row, dj_fetch_attr(f, i)->name, v);
			dj_cell_dispose(&c);
		}
		if (rc == 0 && (rc = emit(&line, row)) == 0 && (rc = dj_buf_addc(&line, '\n')) == 0)
			fwrite(line.ptr, 1, line.len, stdout);
		if (rc < 0 && !err->code)
			dj_err_set(err, rc, "out of memory");
		dj_buf_reset(&line);
		json_decref(row);
	}
	dj_fetch_close(f);
	dj_buf_dispose(&line);
	return rc < 0 ? rc : 0;
}

static int fetch(dj_db *db, const dj_config *cfg, const fetch_args *a)
{
	const char *dot = strchr(a->target, '.');
	char *schema = strndup(a->target, (size_t)(dot - a->target));
	const dj_table *t;
	dj_row_ctx ctx = {0};
	dj_err err = DJ_ERR_INIT;
	dj_schema s;
	int rc = DJ_EXIT_FAILED;
	if (!schema || dj_schema_load(db, schema, cfg->store_default, &s, &err) < 0) {
		fprintf(stderr, "djrun: fetch: %s\n", schema ? err.msg : "out of memory");
		free(schema);
		return DJ_EXIT_FAILED;
	}
	if (!(t = dj_schema_table(&s, dot + 1)))
		fprintf(stderr, "djrun: fetch: table '%s' not found in schema %s\n", dot + 1, schema);
	else if (dj_row_ctx_init(&ctx, cfg->stores, cfg->nstores, cfg->store_default, &err) < 0 ||
	         print_rows(db, &ctx, t, a, &err) < 0)
		fprintf(stderr, "djrun: fetch: %s\n", err.msg);
	else
		rc = DJ_EXIT_OK;
	if (fflush(stdout) != 0)
		rc = DJ_EXIT_FAILED;
	dj_row_ctx_dispose(&ctx);
	dj_schema_free(&s);
	free(schema);
	return rc;
}

int dj_cmd_fetch(int argc, char **argv)
{
	fetch_args a = {0};
	dj_config cfg;
	dj_db *db = NULL;
	bool done = false;
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	if ((rc = dj_cli_open_db("fetch", a.config_file, &cfg, &db)) != DJ_EXIT_OK)
		return rc;
	rc = fetch(db, &cfg, &a);
	dj_db_close(db);
	dj_config_free(&cfg);
	return rc;
}
