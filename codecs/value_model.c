/* Value tree <-> JSON model (codecs/value_model.h, vectors/README.md). */
#include "codecs/value_model.h"

#include "base/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "codecs/pyfloat.h"

#define MODEL_MAX_DEPTH 256

/* ============================================================================================
 * Arbitrary-size ints (formats.md §2.9): two's-complement little-endian bytes <-> decimal
 * ========================================================================================== */

/* Magnitude of a two's-complement LE number as 32-bit limbs (least significant first). */
static uint32_t *int_magnitude(const uint8_t *le, size_t n, size_t *nl, bool *neg)
{
	size_t limbs = n / 4 + 1;
	uint32_t *m = calloc(limbs, sizeof *m);
	unsigned carry = 1;
	*neg = n && (le[n - 1] & 0x80);
	if (!m)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned b = le[i];
		if (*neg) { /* negate: invert and add one */
			b = (~b & 0xFFu) + carry;
			carry = b >> 8;
			b &= 0xFF;
		}
		m[i / 4] |= (uint32_t)b << (8 * (i % 4));
	}
	*nl = limbs;
	return m;
}

static int int_to_decimal(const uint8_t *le, size_t n, dj_buf *out)
{
	size_t nl, nchunks = 0;
	bool neg;
	uint32_t *m = int_magnitude(le, n, &nl, &neg);
	uint32_t *chunks = m ? malloc((nl * 10 / 9 + 2) * sizeof *chunks) : NULL;
	int rc = 0;
	if (!chunks) {
		free(m);
		return DJ_ENOMEM;
	}
	while (nl && m[nl - 1] == 0)
		nl--;
	do { /* repeated division by 10^9: base-1e9 digits, least significant first */
		uint64_t rem = 0;
		for (size_t i = nl; i-- > 0;) {
			uint64_t cur = (rem << 32) | m[i];
			m[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		chunks[nchunks++] = (uint32_t)rem;
		while (nl && m[nl - 1] == 0)
			nl--;
	} while (nl);
	if (neg && (nchunks > 1 || chunks[0] != 0))
		rc = dj_buf_addc(out, '-');
	rc = rc ? rc : dj_buf_addf(out, "%" PRIu32, chunks[nchunks - 1]);
	for (size_t i = nchunks - 1; rc == 0 && i-- > 0;)
		rc = dj_buf_addf(out, "%09" PRIu32, chunks[i]);
	free(m);
	free(chunks);
	return rc;
}

/* Decimal text -> `nbytes` two's-complement LE bytes; DJ_EFORMAT if it is not an integer or
 * does not fit. */
static int int_from_decimal(const char *s, size_t nbytes, uint8_t *le)
{
	bool neg = *s == '-';
	size_t nl = nbytes / 4 + 2;
	uint32_t *m;
	int rc = 0;
	if (*s == '-' || *s == '+')
		s++;
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return DJ_EFORMAT;
	if (!(m = calloc(nl, sizeof *m)))
		return DJ_ENOMEM;
	for (; *s && rc == 0; s++) { /* m = m * 10 + digit */
		uint64_t carry = (uint64_t)(*s - '0');
		for (size_t i = 0; i < nl; i++) {
			uint64_t cur = (uint64_t)m[i] * 10 + carry;
			m[i] = (uint32_t)cur;
			carry = cur >> 32;
		}
		if (carry || m[nl - 1] || m[nl - 2] >> 16)
			rc = DJ_EFORMAT; /* far out of range; exact check below */
	}
	for (size_t i = 0; rc == 0 && i < nl * 4; i++) {
		uint8_t b = (uint8_t)(m[i / 4] >> (8 * (i % 4)));
		if (i >= nbytes && b)
			rc = DJ_EFORMAT;
		else if (i < nbytes)
			le[i] = b;
	}
	if (rc == 0 && neg) { /* two's complement negate in place */
		unsigned carry = 1;
		for (size_t i = 0; i < nbytes; i++) {
			unsigned b = (~(unsigned)le[i] & 0xFFu) + carry;
			carry = b >> 8;
			le[i] = (uint8_t)b;
		}
	}
	/* sign must match: a positive top bit set (or a negative that wrapped to >= 0) overflowed */
	if (rc == 0 && nbytes) {
		bool top = le[nbytes - 1] & 0x80, zero = true;
		for (size_t i = 0; i < nbytes; i++)
			zero = zero && le[i] == 0;
		if (top != (neg && !zero))
			rc = DJ_EFORMAT;
	}
	free(m);
	return rc;
}

/* ============================================================================================
 * Tree -> model
 * ========================================================================================== */

typedef struct tm_ctx {
	size_t so; /* summarize_over */
	dj_err *err;
} tm_ctx;

static json_t *node_to_model(const dj_value *v, tm_ctx *c, unsigned depth);

static int oom(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "model: out of memory");
}

/* json_object_set_new that turns a NULL value (allocation or UTF-8 failure) into an error. */
static int put(json_t *o, const char *key, json_t *val, tm_ctx *c)
{
	if (!val)
		return dj_err_set(c->err, DJ_ENOTSUP, "model: cannot represent '%s' in JSON", key);
	if (json_object_set_new(o, key, val) < 0)
		return oom(c->err);
	return 0;
}

static json_t *float_json(double d)
{
	char b[DJ_PYFLOAT_MAX];
	uint64_t bits;
	if (isnan(d)) {
		memcpy(&bits, &d, 8);
		snprintf(b, sizeof b, "nan:0x%016" PRIx64, bits);
	} else {
		dj_pyfloat_format(d, b);
	}
	return json_string(b);
}

static json_t *float32_json(float f)
{
	char b[DJ_PYFLOAT_MAX];
	uint32_t bits;
	if (isnan(f)) {
		memcpy(&bits, &f, 4);
		snprintf(b, sizeof b, "nan:0x%08" PRIx32, bits);
		return json_string(b);
	}
	return float_json((double)f); /* the exact double value of the float32 */
}

static json_t *int_json(int64_t x)
{
	char b[24];
	snprintf(b, sizeof b, "%" PRId64, x);
	return json_string(b);
}

/* One real component of element i (floats, ints, datetime64 as text; bool as JSON bool). */
static json_t *elem_part(const dj_array *a, size_t i)
{
	const uint8_t *p = a->data + i * dj_type_itemsize(a->type_id);
	union { int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
		int64_t i64; uint64_t u64; float f; double d; } x;
	char b[24];
	memcpy(&x, p, dj_type_itemsize(a->type_id));
	switch (a->type_id) {
	case DJ_TYPE_BOOL: return json_boolean(x.u8 != 0);
	case DJ_TYPE_FLOAT64: return float_json(x.d);
	case DJ_TYPE_FLOAT32: return float32_json(x.f);
	case DJ_TYPE_INT8: return int_json(x.i8);
	case DJ_TYPE_UINT8: return int_json(x.u8);
	case DJ_TYPE_INT16: return int_json(x.i16);
	case DJ_TYPE_UINT16: return int_json(x.u16);
	case DJ_TYPE_INT32: return int_json(x.i32);
	case DJ_TYPE_UINT32: return int_json(x.u32);
	case DJ_TYPE_UINT64:
		snprintf(b, sizeof b, "%" PRIu64, x.u64);
		return json_string(b);
	default: return int_json(x.i64); /* int64, datetime64 */
	}
}

static json_t *elem_json(const dj_array *a, size_t i)
{
	json_t *pair;
	if (!a->is_complex)
		return elem_part(a, i);
	pair = json_array(); /* [re, im]: imaginary parts follow all real parts (formats.md §2.4) */
	if (pair && (json_array_append_new(pair, elem_part(a, i)) < 0 ||
		     json_array_append_new(pair, elem_part(a, a->count + i)) < 0)) {
		json_decref(pair);
		return NULL;
	}
	return pair;
}

static json_t *elems_json(const dj_array *a, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, elem_json(a, i)) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static json_t *shape_json(size_t ndim, const uint64_t *shape)
{
	json_t *s = json_array();
	for (size_t i = 0; s && i < ndim; i++)
		if (shape[i] > INT64_MAX || json_array_append_new(s, json_integer((json_int_t)shape[i])) < 0) {
			json_decref(s);
			return NULL;
		}
	return s;
}

/* u16 code units as UTF-8, one character per unit; a valid surrogate pair is one code point. */
static json_t *chars_json(const dj_array *a)
{
	dj_buf b = DJ_BUF_INIT;
	json_t *s = NULL;
	for (size_t i = 0; i < a->count; i++) {
		uint16_t u, lo = 0;
		uint32_t cp;
		memcpy(&u, a->data + 2 * i, 2);
		if (i + 1 < a->count)
			memcpy(&lo, a->data + 2 * i + 2, 2);
		cp = u;
		if (u >= 0xD800 && u <= 0xDBFF && lo >= 0xDC00 && lo <= 0xDFFF) {
			cp = 0x10000 + (((uint32_t)u - 0xD800) << 10) + (lo - 0xDC00u);
			i++;
		} else if (u >= 0xD800 && u <= 0xDFFF) {
			goto done; /* a lone surrogate has no UTF-8 form */
		}
		if (dj_utf8_add(&b, cp) < 0)
			goto done;
	}
	s = json_stringn(b.ptr, b.len);
done:
	dj_buf_dispose(&b);
	return s;
}

static json_t *sha256_json(const uint8_t *p, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	if (EVP_Digest(n ? p : (const uint8_t *)"", n, md, &mdlen, EVP_sha256(), NULL) != 1)
		return NULL;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return json_string(hex);
}

static json_t *objs_json(dj_value *const *objs, size_t n, tm_ctx *c, unsigned depth)
{
	json_t *arr = json_array();
	if (!arr) {
		oom(c->err);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = node_to_model(objs ? objs[i] : NULL, c, depth);
		if (!e || json_array_append_new(arr, e) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int array_data(json_t *o, const dj_array *a, tm_ctx *c, unsigned depth)
{
	json_t *d;
	if (a->type_id == DJ_TYPE_CHAR)
		return put(o, "chars_F", chars_json(a), c);
	if (a->type_id == DJ_TYPE_OBJECT)
		return (d = objs_json(a->objs, a->count, c, depth)) ? put(o, "data_F", d, c) : DJ_ERROR;
	if (a->count <= c->so)
		return put(o, "data_F", elems_json(a, a->count), c);
	if (put(o, "n", json_integer((json_int_t)a->count), c) < 0 ||
	    put(o, "data_F_sha256", sha256_json(a->data, a->data_len), c) < 0)
		return DJ_ERROR;
	return put(o, "data_F_head", elems_json(a, a->count < 8 ? a->count : 8), c);
}

static int array_model(json_t *o, const dj_array *a, tm_ctx *c, unsigned depth)
{
	size_t item = dj_type_itemsize(a->type_id);
	if (!dj_type_name(a->type_id) ||
	    (a->type_id != DJ_TYPE_OBJECT && a->data_len != a->count * item * (a->is_complex ? 2 : 1)))
		return dj_err_set(c->err, DJ_EUSAGE, "model: invalid array node");
	if (put(o, "type_id", json_integer(a->type_id), c) < 0 ||
	    put(o, "dtype", json_string(dj_type_name(a->type_id)), c) < 0 ||
	    put(o, "complex", json_boolean(a->is_complex), c) < 0 ||
	    put(o, "shape", shape_json(a->ndim, a->shape), c) < 0)
		return DJ_ERROR;
	return array_data(o, a, c, depth);
}

static json_t *names_json(char *const *names, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(names[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static int struct_model(json_t *o, const dj_value *v, tm_ctx *c, unsigned depth)
{
	json_t *elems = json_array();
	int rc = 0;
	if (!elems)
		return oom(c->err);
	for (size_t e = 0; rc == 0 && e < v->u.st.count && v->u.st.nfields; e++) {
		json_t *rec = objs_json(v->u.st.elems ? v->u.st.elems + e * v->u.st.nfields : NULL,
					v->u.st.nfields, c, depth);
		if (!rec || json_array_append_new(elems, rec) < 0)
			rc = DJ_ERROR;
	}
	if (rc < 0) {
		json_decref(elems);
		return rc;
	}
	if (put(o, "shape", shape_json(v->u.st.ndim, v->u.st.shape), c) < 0 ||
	    put(o, "fields", names_json(v->u.st.fields, v->u.st.nfields), c) < 0) {
		json_decref(elems);
		return DJ_ERROR;
	}
	return put(o, "elements_F", elems, c);
}

static int record_model(json_t *o, const dj_value *v, tm_ctx *c, unsigned depth)
{
	json_t *fields = json_array();
	if (!fields)
		return oom(c->err);
	for (size_t i = 0; i < v->u.rec.nfields; i++) {
		json_t *node = node_to_model(v->u.rec.vals ? v->u.rec.vals[i] : NULL, c, depth);
		json_t *pair = node ? json_pack("[so]", v->u.rec.fields[i], node) : NULL;
		if (!pair || json_array_append_new(fields, pair) < 0) {
			json_decref(fields);
			return pair ? oom(c->err) : dj_err_set(c->err, DJ_ENOTSUP, "model: bad record field");
		}
	}
	return put(o, "fields", fields, c);
}

static int dict_model(json_t *o, const dj_value *v, tm_ctx *c, unsigned depth)
{
	json_t *items = json_array();
	if (!items)
		return oom(c->err);
	for (size_t i = 0; i < v->u.seq.n; i++) {
		json_t *pair = objs_json(v->u.seq.items + 2 * i, 2, c, depth);
		if (!pair || json_array_append_new(items, pair) < 0) {
			json_decref(items);
			return DJ_ERROR;
		}
	}
	return put(o, "items", items, c);
}

static int text_model(json_t *o, const dj_value *v, tm_ctx *c)
{
	dj_buf hex = DJ_BUF_INIT;
	int rc;
	if (v->kind != DJ_V_BYTES)
		return put(o, "v", json_stringn(v->u.s.p ? v->u.s.p : "", v->u.s.n), c);
	for (size_t i = 0; i < v->u.s.n; i++)
		dj_buf_addf(&hex, "%02x", (unsigned char)v->u.s.p[i]);
	rc = put(o, "hex", json_stringn(hex.ptr, hex.len), c);
	dj_buf_dispose(&hex);
	return rc;
}

static int scalar_model(json_t *o, const dj_value *v, tm_ctx *c)
{
	dj_buf dec = DJ_BUF_INIT;
	char u[40];
	const uint8_t *b = v->u.uuid;
	int rc;
	switch (v->kind) {
	case DJ_V_NONE: return 0;
	case DJ_V_BOOL: return put(o, "v", json_boolean(v->u.b), c);
	case DJ_V_INT:
		if (int_to_decimal(v->u.i.bytes, v->u.i.n, &dec) < 0)
			return oom(c->err);
		rc = put(o, "nbytes", json_integer((json_int_t)v->u.i.n), c);
		rc = rc ? rc : put(o, "v", json_stringn(dec.ptr, dec.len), c);
		dj_buf_dispose(&dec);
		return rc;
	case DJ_V_FLOAT: return put(o, "v", float_json(v->u.f), c);
	case DJ_V_COMPLEX:
		rc = put(o, "re", float_json(v->u.c.re), c);
		return rc ? rc : put(o, "im", float_json(v->u.c.im), c);
	case DJ_V_DATETIME:
		rc = put(o, "date", json_integer(v->u.dt.date), c);
		return rc ? rc : put(o, "time", json_integer(v->u.dt.time), c);
	case DJ_V_UUID:
		snprintf(u, sizeof u, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
			 b[14], b[15]);
		return put(o, "v", json_string(u), c);
	default:
		return text_model(o, v, c);
	}
}

static const char *const kind_names[] = {
	[DJ_V_NONE] = "none", [DJ_V_BOOL] = "bool", [DJ_V_INT] = "int", [DJ_V_FLOAT] = "float",
	[DJ_V_COMPLEX] = "complex", [DJ_V_STR] = "str", [DJ_V_BYTES] = "bytes",
	[DJ_V_DECIMAL] = "decimal", [DJ_V_DATETIME] = "datetime", [DJ_V_UUID] = "uuid",
	[DJ_V_TUPLE] = "tuple", [DJ_V_LIST] = "list", [DJ_V_SET] = "set", [DJ_V_DICT] = "dict",
	[DJ_V_ARRAY] = "A", [DJ_V_STRUCT] = "S", [DJ_V_CELL] = "C", [DJ_V_RECORD] = "F",
};

static int fill_model(json_t *o, const dj_value *v, tm_ctx *c, unsigned depth)
{
	json_t *items;
	switch (v->kind) {
	case DJ_V_TUPLE: case DJ_V_LIST: case DJ_V_SET:
		items = objs_json(v->u.seq.items, v->u.seq.n, c, depth);
		return items ? put(o, "items", items, c) : DJ_ERROR;
	case DJ_V_DICT:
		return dict_model(o, v, c, depth);
	case DJ_V_ARRAY:
		return array_model(o, &v->u.arr, c, depth);
	case DJ_V_STRUCT:
		return struct_model(o, v, c, depth);
	case DJ_V_CELL:
		if (put(o, "shape", shape_json(v->u.cell.ndim, v->u.cell.shape), c) < 0)
			return DJ_ERROR;
		items = objs_json(v->u.cell.elems, v->u.cell.count, c, depth);
		return items ? put(o, "elements_F", items, c) : DJ_ERROR;
	case DJ_V_RECORD:
		return record_model(o, v, c, depth);
	default:
		return scalar_model(o, v, c);
	}
}

static json_t *node_to_model(const dj_value *v, tm_ctx *c, unsigned depth)
{
	json_t *o;
	if (!v || (unsigned)v->kind > DJ_V_RECORD) {
		dj_err_set(c->err, DJ_EUSAGE, "model: invalid value tree (NULL or unknown node)");
		return NULL;
	}
	if (depth >= MODEL_MAX_DEPTH) {
		dj_err_set(c->err, DJ_ENOTSUP, "model: value nested deeper than %d", MODEL_MAX_DEPTH);
		return NULL;
	}
	if (!(o = json_object()) || json_object_set_new(o, "t", json_string(kind_names[v->kind])) < 0) {
		json_decref(o);
		oom(c->err);
		return NULL;
	}
	if (fill_model(o, v, c, depth + 1) < 0) {
		dj_err_set(c->err, DJ_ENOMEM, "model: out of memory");
		json_decref(o);
		return NULL;
	}
	return o;
}

int dj_value_to_model(const dj_value *v, size_t summarize_over, json_t **out, dj_err *err)
{
	dj_err local = DJ_ERR_INIT;
	tm_ctx c = {summarize_over, err ? err : &local};
	*out = node_to_model(v, &c, 0);
	return *out ? 0 : (c.err->code ? c.err->code : DJ_ERROR);
}

int dj_value_model_text(const dj_value *v, size_t summarize_over, dj_buf *out, dj_err *err)
{
	json_t *m;
	char *s;
	int rc = dj_value_to_model(v, summarize_over, &m, err);
	if (rc < 0)
		return rc;
	s = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (!s)
		return dj_err_set(err, DJ_ENOMEM, "model: out of memory");
	rc = dj_buf_adds(out, s);
	free(s);
	return rc < 0 ? dj_err_set(err, DJ_ENOMEM, "model: out of memory") : 0;
}

/* ============================================================================================
 * Model -> tree
 * ========================================================================================== */

static int from_node(const json_t *m, unsigned depth, dj_value **out, dj_err *err);

static int bad(dj_err *err, const char *t, const char *key)
{
	return dj_err_set(err, DJ_EFORMAT, "model: '%s' node: missing or bad '%s'", t, key);
}

static const char *get_str(const json_t *m, const char *key)
{
	return json_string_value(json_object_get(m, key));
}

/* "nan:0x<hex>" with exactly `digits` hex digits. */
static int parse_nan(const char *s, int digits, uint64_t *bits)
{
	char *end;
	if (strncmp(s, "nan:0x", 6) != 0 || strlen(s + 6) != (size_t)digits ||
	    strspn(s + 6, "0123456789abcdefABCDEF") != (size_t)digits)
		return DJ_EFORMAT;
	*bits = strtoull(s + 6, &end, 16);
	return 0;
}

static int parse_f64(const char *s, double *d)
{
	uint64_t bits;
	if (!s)
		return DJ_EFORMAT;
	if (strncmp(s, "nan:", 4) == 0) {
		if (parse_nan(s, 16, &bits) < 0)
			return DJ_EFORMAT;
		memcpy(d, &bits, 8);
		return 0;
	}
	return dj_pyfloat_parse(s, strlen(s), d);
}

static int parse_f32(const char *s, float *f)
{
	uint64_t bits;
	uint32_t b32;
	double d;
	if (s && strncmp(s, "nan:", 4) == 0) {
		if (parse_nan(s, 8, &bits) < 0)
			return DJ_EFORMAT;
		b32 = (uint32_t)bits;
		memcpy(f, &b32, 4);
		return 0;
	}
	if (parse_f64(s, &d) < 0)
		return DJ_EFORMAT;
	*f = (float)d;
	return 0;
}

/* One real component: bool (JSON bool) or text; written LE at p. */
static int parse_part(uint32_t type, const json_t *j, uint8_t *p)
{
	const char *s = json_string_value(j);
	size_t k = dj_type_itemsize(type);
	uint8_t le[8];
	double d;
	float f;
	if (type == DJ_TYPE_BOOL) {
		if (!json_is_boolean(j))
			return DJ_EFORMAT;
		*p = json_is_true(j) ? 1 : 0;
		return 0;
	}
	if (type == DJ_TYPE_FLOAT64)
		return parse_f64(s, &d) < 0 ? DJ_EFORMAT : (memcpy(p, &d, 8), 0);
	if (type == DJ_TYPE_FLOAT32)
		return parse_f32(s, &f) < 0 ? DJ_EFORMAT : (memcpy(p, &f, 4), 0);
	/* integers and datetime64: signed types are two's complement, so the decimal parser with
	 * k bytes checks the range exactly; unsigned ones get one spare byte that must stay 0 */
	if (!s)
		return DJ_EFORMAT;
	if (type == DJ_TYPE_UINT8 || type == DJ_TYPE_UINT16 || type == DJ_TYPE_UINT32 || type == DJ_TYPE_UINT64) {
		uint8_t wide[9];
		if (*s == '-' || int_from_decimal(s, k + 1, wide) < 0 || wide[k] != 0)
			return DJ_EFORMAT;
		memcpy(p, wide, k);
		return 0;
	}
	if (int_from_decimal(s, k, le) < 0)
		return DJ_EFORMAT;
	memcpy(p, le, k);
	return 0;
}

static int parse_shape(const json_t *m, size_t *ndim, uint64_t **shape)
{
	const json_t *s = json_object_get(m, "shape");
	size_t n = json_array_size(s);
	*shape = NULL;
	*ndim = n;
	if (!json_is_array(s))
		return DJ_EFORMAT;
	if (n && !(*shape = calloc(n, sizeof(uint64_t))))
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *d = json_array_get(s, i);
		if (!json_is_integer(d) || json_integer_value(d) < 0) {
			free(*shape);
			*shape = NULL;
			return DJ_EFORMAT;
		}
		(*shape)[i] = (uint64_t)json_integer_value(d);
	}
	return 0;
}

/* chars_F: each code point becomes one u16 unit (a pair above U+FFFF). */
static int parse_chars(const char *s, size_t n, dj_array *a)
{
	size_t units = 0, i = 0;
	uint16_t *u = malloc(2 * n + 2);
	if (!u)
		return DJ_ENOMEM;
	while (i < n) {
		uint8_t c = (uint8_t)s[i];
		size_t k = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
		uint32_t cp = k == 0 ? c : k == 1 ? (c & 0x1Fu) : k == 2 ? (c & 0x0Fu) : (c & 0x07u);
		for (size_t j = 1; j <= k && i + j < n; j++) /* jansson strings are valid UTF-8 */
			cp = (cp << 6) | ((uint8_t)s[i + j] & 0x3Fu);
		i += k + 1;
		if (cp >= 0x10000) {
			u[units++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
			u[units++] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
		} else {
			u[units++] = (uint16_t)cp;
		}
	}
	if (units != a->count) {
		free(u);
		return DJ_EFORMAT;
	}
	if (units)
		memcpy(a->data, u, 2 * units);
	free(u);
	return 0;
}

static int parse_elems(const json_t *d, dj_array *a, unsigned depth, dj_err *err)
{
	size_t k = dj_type_itemsize(a->type_id);
	if (!json_is_array(d) || json_array_size(d) != a->count)
		return bad(err, "A", "data_F");
	for (size_t i = 0; i < a->count; i++) {
		const json_t *e = json_array_get(d, i);
		int rc;
		if (a->type_id == DJ_TYPE_OBJECT) {
			if ((rc = from_node(e, depth, &a->objs[i], err)) < 0)
				return rc;
			continue;
		}
		if (a->is_complex ? (!json_is_array(e) || json_array_size(e) != 2 ||
				     parse_part(a->type_id, json_array_get(e, 0), a->data + i * k) < 0 ||
				     parse_part(a->type_id, json_array_get(e, 1), a->data + (a->count + i) * k) < 0)
				  : parse_part(a->type_id, e, a->data + i * k) < 0)
			return dj_err_set(err, DJ_EFORMAT, "model: bad data_F element %zu for %s", i,
					  dj_type_name(a->type_id));
	}
	return 0;
}

static int array_from(const json_t *m, unsigned depth, dj_value **out, dj_err *err)
{
	const json_t *tid = json_object_get(m, "type_id"), *cx = json_object_get(m, "complex");
	const char *dtype = get_str(m, "dtype"), *chars;
	uint64_t *shape;
	size_t ndim;
	int rc;
	if (json_object_get(m, "data_F_sha256") || json_object_get(m, "n"))
		return dj_err_set(err, DJ_ENOTSUP, "model: a summarized array has no data to rebuild");
	if (!json_is_integer(tid) || json_integer_value(tid) < 0 || json_integer_value(tid) > UINT32_MAX ||
	    !dj_type_name((uint32_t)json_integer_value(tid)))
		return bad(err, "A", "type_id");
	if (dtype && strcmp(dtype, dj_type_name((uint32_t)json_integer_value(tid))) != 0)
		return bad(err, "A", "dtype");
	if (cx && !json_is_boolean(cx))
		return bad(err, "A", "complex");
	if ((rc = parse_shape(m, &ndim, &shape)) < 0)
		return rc == DJ_ENOMEM ? oom(err) : bad(err, "A", "shape");
	*out = dj_value_array((uint32_t)json_integer_value(tid), json_is_true(cx), ndim, shape, err);
	free(shape);
	if (!*out)
		return err && err->code ? err->code : DJ_ENOMEM;
	if ((*out)->u.arr.type_id != DJ_TYPE_CHAR)
		return parse_elems(json_object_get(m, "data_F"), &(*out)->u.arr, depth, err);
	if (!(chars = get_str(m, "chars_F")))
		return bad(err, "A", "chars_F");
	if ((rc = parse_chars(chars, json_string_length(json_object_get(m, "chars_F")), &(*out)->u.arr)) < 0)
		return rc == DJ_ENOMEM ? oom(err) : bad(err, "A", "chars_F (length differs from shape)");
	return 0;
}

static int nodes_from(const json_t *arr, dj_value **dst, size_t n, unsigned depth, dj_err *err)
{
	int rc;
	if (!json_is_array(arr) || json_array_size(arr) != n)
		return dj_err_set(err, DJ_EFORMAT, "model: element list has %zu entries, expected %zu",
				  json_array_size(arr), n);
	for (size_t i = 0; i < n; i++)
		if ((rc = from_node(json_array_get(arr, i), depth, &dst[i], err)) < 0)
			return rc;
	return 0;
}

/* Field names: plain strings (S) or the first entry of [name, node] pairs (F). */
static const json_t *field_name(const json_t *arr, size_t i)
{
	const json_t *e = json_array_get(arr, i);
	return json_is_array(e) ? json_array_get(e, 0) : e;
}

static int names_from(const json_t *arr, size_t n, char ***names, dj_err *err)
{
	if (!(*names = calloc(n ? n : 1, sizeof(char *))))
		return oom(err);
	for (size_t i = 0; i < n; i++) {
		const json_t *j = field_name(arr, i);
		const char *s = json_string_value(j);
		if (!s || strlen(s) != json_string_length(j)) /* no NULs: names are NUL-terminated */
			return dj_err_set(err, DJ_EFORMAT, "model: bad field name %zu", i);
		if (!((*names)[i] = strdup(s)))
			return oom(err);
	}
	return 0;
}

static int struct_from(const json_t *m, unsigned depth, dj_value *v, dj_err *err)
{
	const json_t *fields = json_object_get(m, "fields"), *elems = json_object_get(m, "elements_F");
	size_t nf = json_array_size(fields);
	int rc;
	if ((rc = parse_shape(m, &v->u.st.ndim, &v->u.st.shape)) < 0)
		return rc == DJ_ENOMEM ? oom(err) : bad(err, "S", "shape");
	if (!json_is_array(fields) || !json_is_array(elems))
		return bad(err, "S", "fields");
	v->u.st.count = json_array_size(elems);
	v->u.st.nfields = nf;
	if ((rc = names_from(fields, nf, &v->u.st.fields, err)) < 0)
		return rc;
	if (nf && v->u.st.count && !(v->u.st.elems = calloc(v->u.st.count * nf, sizeof(dj_value *))))
		return oom(err);
	for (size_t e = 0; e < v->u.st.count && nf; e++)
		if ((rc = nodes_from(json_array_get(elems, e), v->u.st.elems + e * nf, nf, depth, err)) < 0)
			return rc;
	return 0;
}

static int cell_from(const json_t *m, unsigned depth, dj_value *v, dj_err *err)
{
	const json_t *elems = json_object_get(m, "elements_F");
	int rc;
	if ((rc = parse_shape(m, &v->u.cell.ndim, &v->u.cell.shape)) < 0)
		return rc == DJ_ENOMEM ? oom(err) : bad(err, "C", "shape");
	if (!json_is_array(elems))
		return bad(err, "C", "elements_F");
	v->u.cell.count = json_array_size(elems);
	if (v->u.cell.count && !(v->u.cell.elems = calloc(v->u.cell.count, sizeof(dj_value *))))
		return oom(err);
	return nodes_from(elems, v->u.cell.elems, v->u.cell.count, depth, err);
}

static int record_from(const json_t *m, unsigned depth, dj_value *v, dj_err *err)
{
	const json_t *fields = json_object_get(m, "fields");
	size_t nf = json_array_size(fields);
	int rc;
	if (!json_is_array(fields))
		return bad(err, "F", "fields");
	v->u.rec.nfields = nf;
	if ((rc = names_from(fields, nf, &v->u.rec.fields, err)) < 0)
		return rc;
	if (!(v->u.rec.vals = calloc(nf ? nf : 1, sizeof(dj_value *))))
		return oom(err);
	for (size_t i = 0; i < nf; i++) {
		const json_t *pair = json_array_get(fields, i);
		if (json_array_size(pair) != 2)
			return bad(err, "F", "fields");
		if ((rc = from_node(json_array_get(pair, 1), depth, &v->u.rec.vals[i], err)) < 0)
			return rc;
	}
	return 0;
}

static int seq_from(const json_t *m, unsigned depth, dj_value *v, dj_err *err)
{
	const json_t *items = json_object_get(m, "items");
	dj_value *a, *b;
	int rc;
	if (!json_is_array(items))
		return bad(err, "list", "items");
	for (size_t i = 0; i < json_array_size(items); i++) {
		const json_t *it = json_array_get(items, i);
		if (v->kind != DJ_V_DICT) {
			if ((rc = from_node(it, depth, &a, err)) < 0)
				return rc;
			if (dj_value_seq_push(v, a) < 0)
				return oom(err);
			continue;
		}
		if (json_array_size(it) != 2)
			return bad(err, "dict", "items");
		if ((rc = from_node(json_array_get(it, 0), depth, &a, err)) < 0)
			return rc;
		if ((rc = from_node(json_array_get(it, 1), depth, &b, err)) < 0) {
			dj_value_free(a);
			return rc;
		}
		if (dj_value_dict_push(v, a, b) < 0)
			return oom(err);
	}
	return 0;
}

static int uuid_from(const char *s, uint8_t out[16])
{
	size_t k = 0;
	if (!s || strlen(s) != 36)
		return DJ_EFORMAT;
	for (size_t i = 0; i < 36; i++) {
		unsigned x;
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return DJ_EFORMAT;
			continue;
		}
		if (sscanf(s + i, "%2x", &x) != 1 || !strchr("0123456789abcdefABCDEF", s[i]) || !s[i + 1] ||
		    !strchr("0123456789abcdefABCDEF", s[i + 1]))
			return DJ_EFORMAT;
		out[k++] = (uint8_t)x;
		i++;
	}
	return 0;
}

static int hex_from(const char *s, dj_value **out)
{
	size_t n = s ? strlen(s) : 1;
	uint8_t *b;
	if (n % 2 || strspn(s, "0123456789abcdefABCDEF") != n || !(b = malloc(n / 2 + 1)))
		return DJ_EFORMAT;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned x;
		sscanf(s + 2 * i, "%2x", &x);
		b[i] = (uint8_t)x;
	}
	*out = dj_value_bytes(b, n / 2);
	free(b);
	return *out ? 0 : DJ_ENOMEM;
}

static int int_from(const json_t *m, dj_value **out, dj_err *err)
{
	const json_t *nb = json_object_get(m, "nbytes");
	const char *s = get_str(m, "v");
	uint8_t *le;
	size_t k;
	if (!json_is_integer(nb) || json_integer_value(nb) < 0 || json_integer_value(nb) > 0xFFFF || !s)
		return bad(err, "int", "nbytes");
	k = (size_t)json_integer_value(nb);
	if (!(le = malloc(k ? k : 1)))
		return oom(err);
	if (int_from_decimal(s, k, le) < 0) {
		free(le);
		return bad(err, "int", "v");
	}
	*out = dj_value_int_bytes(le, k);
	free(le);
	return *out ? 0 : oom(err);
}

static int float_field(const json_t *m, const char *t, const char *key, double *d, dj_err *err)
{
	return parse_f64(get_str(m, key), d) < 0 ? bad(err, t, key) : 0;
}

static int scalar_from(const char *t, const json_t *m, dj_value **out, dj_err *err)
{
	const char *s = get_str(m, "v");
	const json_t *vj = json_object_get(m, "v");
	double a, b;
	uint8_t u[16];
	if (strcmp(t, "none") == 0)
		*out = dj_value_none();
	else if (strcmp(t, "bool") == 0)
		*out = json_is_boolean(vj) ? dj_value_bool(json_is_true(vj)) : NULL;
	else if (strcmp(t, "int") == 0)
		return int_from(m, out, err);
	else if (strcmp(t, "float") == 0)
		return float_field(m, t, "v", &a, err) ? DJ_EFORMAT : ((*out = dj_value_float(a)) ? 0 : oom(err));
	else if (strcmp(t, "complex") == 0)
		return float_field(m, t, "re", &a, err) || float_field(m, t, "im", &b, err)
			       ? DJ_EFORMAT : ((*out = dj_value_complex(a, b)) ? 0 : oom(err));
	else if (strcmp(t, "str") == 0 || strcmp(t, "decimal") == 0)
		*out = !s ? NULL : t[0] == 's' ? dj_value_str(s, json_string_length(vj))
						: dj_value_decimal(s, json_string_length(vj));
	else if (strcmp(t, "bytes") == 0)
		return hex_from(get_str(m, "hex"), out) < 0 ? bad(err, t, "hex") : 0;
	else if (strcmp(t, "uuid") == 0)
		*out = uuid_from(s, u) == 0 ? dj_value_uuid(u) : NULL;
	else if (strcmp(t, "datetime") == 0)
		*out = json_is_integer(json_object_get(m, "date")) && json_is_integer(json_object_get(m, "time"))
			       ? dj_value_datetime((int32_t)json_integer_value(json_object_get(m, "date")),
						   json_integer_value(json_object_get(m, "time")))
			       : NULL;
	else
		return dj_err_set(err, DJ_EFORMAT, "model: unknown node type '%s'", t);
	return *out ? 0 : bad(err, t, "v");
}

static int from_node(const json_t *m, unsigned depth, dj_value **out, dj_err *err)
{
	static const struct { const char *t; dj_vkind k; } compound[] = {
		{"tuple", DJ_V_TUPLE}, {"list", DJ_V_LIST}, {"set", DJ_V_SET}, {"dict", DJ_V_DICT},
		{"S", DJ_V_STRUCT}, {"C", DJ_V_CELL}, {"F", DJ_V_RECORD}};
	const char *t = get_str(m, "t");
	int rc;
	*out = NULL;
	if (!json_is_object(m) || !t)
		return dj_err_set(err, DJ_EFORMAT, "model: node is not an object with a 't' key");
	if (depth >= MODEL_MAX_DEPTH)
		return dj_err_set(err, DJ_ENOTSUP, "model: nested deeper than %d", MODEL_MAX_DEPTH);
	if (strcmp(t, "A") == 0)
		rc = array_from(m, depth + 1, out, err);
	else
		rc = 1;
	for (size_t i = 0; rc == 1 && i < sizeof compound / sizeof compound[0]; i++) {
		if (strcmp(t, compound[i].t) != 0)
			continue;
		if (!(*out = dj_value_new(compound[i].k)))
			return oom(err);
		rc = compound[i].k == DJ_V_STRUCT ? struct_from(m, depth + 1, *out, err)
		     : compound[i].k == DJ_V_CELL ? cell_from(m, depth + 1, *out, err)
		     : compound[i].k == DJ_V_RECORD ? record_from(m, depth + 1, *out, err)
						    : seq_from(m, depth + 1, *out, err);
	}
	if (rc == 1)
		rc = scalar_from(t, m, out, err);
	if (rc < 0) {
		dj_value_free(*out);
		*out = NULL;
	}
	return rc;
}

int dj_value_from_model(const json_t *m, dj_value **out, dj_err *err)
{
	return from_node(m, 0, out, err);
}
