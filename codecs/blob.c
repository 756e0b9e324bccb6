/* The blob codec (codecs/blob.h): formats.md §2. */
#include "codecs/blob.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef DJ_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* formats.md conventions: every field is little-endian; we copy host integers byte for byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "codecs/blob.c assumes a little-endian host (formats.md: all fields are LE)"
#endif

static const uint8_t ZL_MAGIC[6] = {'Z', 'L', '1', '2', '3', 0};

/* ============================================================================================
 * Reading
 * ========================================================================================== */

typedef struct rd {
	const uint8_t *p;
	size_t pos;
	size_t lsize; /* width of an L field: 8, or 4 in the §2.8 32-bit mode */
	unsigned depth, max_depth;
	size_t budget; /* decoded bytes still allowed (max_bytes) */
	const char *where;
	dj_err *err;
} rd;

static int read_item(rd *r, size_t end, dj_value **out);

static int fail(rd *r, int code, size_t off, const char *fmt, ...) DJ_PRINTF(4, 5);
static int fail(rd *r, int code, size_t off, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return dj_err_set(r->err, code, "blob: %s at offset %zu%s", msg, off, r->where);
}

static int need(rd *r, size_t end, size_t k, const char *what)
{
	if (end - r->pos < k)
		return fail(r, DJ_EFORMAT, r->pos, "truncated %s (needs %zu bytes, %zu left)", what, k,
			    end - r->pos);
	return 0;
}

static int charge(rd *r, size_t bytes)
{
	if (bytes > r->budget)
		return fail(r, DJ_ENOMEM, r->pos, "decoded size passes the cap (max_bytes)");
	r->budget -= bytes;
	return 0;
}

static int rd_bytes(rd *r, size_t end, void *dst, size_t k, const char *what)
{
	int rc = need(r, end, k, what);
	if (rc < 0)
		return rc;
	memcpy(dst, r->p + r->pos, k);
	r->pos += k;
	return 0;
}

static int rd_u32(rd *r, size_t end, uint32_t *v, const char *what)
{
	return rd_bytes(r, end, v, 4, what);
}

/* An L field (formats.md §2.8: u64, or u32 in the 32-bit mode). */
static int rd_len(rd *r, size_t end, uint64_t *v, const char *what)
{
	uint32_t v32;
	int rc;
	if (r->lsize == 8)
		return rd_bytes(r, end, v, 8, what);
	if ((rc = rd_bytes(r, end, &v32, 4, what)) < 0)
		return rc;
	*v = v32;
	return 0;
}

/* A count of things that each take at least `min_each` bytes: checked before any allocation. */
static int rd_count(rd *r, size_t end, uint64_t min_each, size_t *count, const char *what)
{
	size_t at = r->pos;
	uint64_t c;
	int rc = rd_len(r, end, &c, what);
	if (rc < 0)
		return rc;
	if (min_each && c > (uint64_t)(end - r->pos) / min_each)
		return fail(r, DJ_EFORMAT, at, "%s %llu is more than the %zu bytes left can hold", what,
			    (unsigned long long)c, end - r->pos);
	*count = (size_t)c;
	return 0;
}

/* "Nested item with length" (formats.md §2.3): L(n) + an item that must use exactly n bytes. */
static int read_nested(rd *r, size_t end, dj_value **out)
{
	size_t at = r->pos, sub_end;
	uint64_t len;
	int rc = rd_len(r, end, &len, "nested item length");
	if (rc < 0)
		return rc;
	if (len > end - r->pos)
		return fail(r, DJ_EFORMAT, at, "nested item length %llu passes the %zu bytes left",
			    (unsigned long long)len, end - r->pos);
	sub_end = r->pos + (size_t)len;
	if ((rc = read_item(r, sub_end, out)) < 0)
		return rc;
	if (r->pos != sub_end) {
		dj_value_free(*out);
		*out = NULL;
		return fail(r, DJ_EFORMAT, at, "nested item used %zu of its %llu bytes",
			    r->pos - (at + r->lsize), (unsigned long long)len);
	}
	return 0;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
		uint32_t cp = k == 0 ? c : k == 1 ? (c & 0x1Fu) : k == 2 ? (c & 0x0Fu) : (c & 0x07u);
		if (k == 9 || n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3Fu);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false; /* overlong, out of range, surrogate: Python's decode() refuses */
		i += k + 1;
	}
	return true;
}

/* --- scalars (formats.md §2.9) --------------------------------------------------------------- */

static int read_int(rd *r, size_t end, dj_value **out)
{
	uint16_t k;
	int rc = rd_bytes(r, end, &k, 2, "int length");
	if (rc < 0 || (rc = need(r, end, k, "int bytes")) < 0 || (rc = charge(r, k)) < 0)
		return rc;
	if (!(*out = dj_value_int_bytes(r->p + r->pos, k)))
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	r->pos += k;
	return 0;
}

/* 05 str (UTF-8), 06 bytes, 'd' Decimal text: L k then k bytes. */
static int read_text(rd *r, size_t end, dj_vkind kind, dj_value **out)
{
	size_t at, k = 0;
	int rc = rd_count(r, end, 1, &k, "string length");
	if (rc < 0 || (rc = charge(r, k)) < 0)
		return rc;
	at = r->pos;
	if (kind != DJ_V_BYTES && !utf8_valid(r->p + at, k))
		return fail(r, DJ_EFORMAT, at, "invalid UTF-8 in a %s", kind == DJ_V_STR ? "str" : "decimal");
	*out = kind == DJ_V_STR ? dj_value_str((const char *)r->p + at, k)
	       : kind == DJ_V_BYTES ? dj_value_bytes(r->p + at, k) : dj_value_decimal((const char *)r->p + at, k);
	if (!*out)
		return fail(r, DJ_ENOMEM, at, "out of memory");
	r->pos += k;
	return 0;
}

static int read_scalar(rd *r, size_t end, uint8_t code, dj_value **out)
{
	uint8_t b[16];
	int rc = 0;
	double d[2];
	int32_t date;
	int64_t time;
	switch (code) {
	case 0xFF:
		*out = dj_value_none();
		break;
	case 0x0B: /* any non-zero byte is True, as numpy's bool view */
		if ((rc = rd_bytes(r, end, b, 1, "bool")) == 0)
			*out = dj_value_bool(b[0] != 0);
		break;
	case 0x0D:
		if ((rc = rd_bytes(r, end, d, 8, "float")) == 0)
			*out = dj_value_float(d[0]);
		break;
	case 0x0C:
		if ((rc = rd_bytes(r, end, d, 16, "complex")) == 0)
			*out = dj_value_complex(d[0], d[1]);
		break;
	case 't':
		if ((rc = rd_bytes(r, end, &date, 4, "datetime date")) == 0 &&
		    (rc = rd_bytes(r, end, &time, 8, "datetime time")) == 0)
			*out = dj_value_datetime(date, time);
		break;
	case 'u':
		if ((rc = rd_bytes(r, end, b, 16, "uuid")) == 0)
			*out = dj_value_uuid(b);
		break;
	default:
		return fail(r, DJ_EFORMAT, r->pos - 1, "unknown item code 0x%02X", code);
	}
	if (rc == 0 && !*out)
		rc = fail(r, DJ_ENOMEM, r->pos, "out of memory");
	return rc;
}

/* --- containers 01-04 (formats.md §2.9) ------------------------------------------------------ */

static int read_seq(rd *r, size_t end, dj_vkind kind, dj_value **out)
{
	size_t count = 0;
	dj_value *v, *item;
	int rc = rd_count(r, end, r->lsize + 1, &count, "sequence count");
	if (rc < 0)
		return rc;
	if (!(v = dj_value_new(kind)))
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	for (size_t i = 0; i < count && rc == 0; i++)
		if ((rc = read_nested(r, end, &item)) == 0 && dj_value_seq_push(v, item) < 0)
			rc = fail(r, DJ_ENOMEM, r->pos, "out of memory");
	if (rc < 0)
		dj_value_free(v);
	else
		*out = v;
	return rc;
}

static int read_dict(rd *r, size_t end, dj_value **out)
{
	size_t count = 0;
	dj_value *v, *key, *val;
	int rc = rd_count(r, end, 2 * (r->lsize + 1), &count, "dict count");
	if (rc < 0)
		return rc;
	if (!(v = dj_value_new(DJ_V_DICT)))
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	for (size_t i = 0; i < count && rc == 0; i++) {
		if ((rc = read_nested(r, end, &key)) < 0)
			break;
		if ((rc = read_nested(r, end, &val)) < 0) {
			dj_value_free(key);
			break;
		}
		if (dj_value_dict_push(v, key, val) < 0)
			rc = fail(r, DJ_ENOMEM, r->pos, "out of memory");
	}
	if (rc < 0)
		dj_value_free(v);
	else
		*out = v;
	return rc;
}

/* --- arrays, structs, cells, records (formats.md §2.4-§2.7) ---------------------------------- */

typedef struct wire_shape {
	size_t ndim, count;
	uint64_t *dims;
} wire_shape;

/* ndim, then ndim dims; count = product (0 if any dim is 0, like numpy's prod). */
static int read_shape(rd *r, size_t end, wire_shape *s)
{
	size_t at;
	int rc = rd_count(r, end, r->lsize, &s->ndim, "ndim");
	s->dims = NULL;
	s->count = 1;
	if (rc < 0 || s->ndim == 0)
		return rc;
	if ((rc = charge(r, s->ndim * sizeof(uint64_t))) < 0)
		return rc;
	if (!(s->dims = malloc(s->ndim * sizeof(uint64_t))))
		return fail(r, DJ_ENOMEM, r->pos, "out of memory for %zu dims", s->ndim);
	at = r->pos;
	for (size_t i = 0; i < s->ndim; i++)
		rd_len(r, end, &s->dims[i], "shape"); /* cannot fail: ndim was checked */
	for (size_t i = 0; i < s->ndim; i++)
		if (s->dims[i] == 0)
			s->count = 0;
	for (size_t i = 0; i < s->ndim && s->count; i++) {
		if (s->dims[i] > SIZE_MAX / s->count) {
			free(s->dims);
			s->dims = NULL;
			return fail(r, DJ_EFORMAT, at, "shape product overflows");
		}
		s->count *= (size_t)s->dims[i];
	}
	return 0;
}

static int read_nested_n(rd *r, size_t end, dj_value **v, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = read_nested(r, end, &v[i]);
	return rc;
}

/* VOID (5): count nested items, each at least L + 1 bytes. */
static int read_objects(rd *r, size_t end, dj_array *a)
{
	if (a->count > (end - r->pos) / (r->lsize + 1))
		return fail(r, DJ_EFORMAT, r->pos, "%zu object elements do not fit in %zu bytes", a->count,
			    end - r->pos);
	if (a->count == 0)
		return 0;
	if (charge(r, a->count * sizeof(dj_value *)) < 0)
		return DJ_ENOMEM;
	if (!(a->objs = calloc(a->count, sizeof(dj_value *))))
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	return read_nested_n(r, end, a->objs, a->count);
}

/* Numeric, bool, char, datetime64: the element bytes are copied as one block (LE host). */
static int read_elements(rd *r, size_t end, dj_array *a)
{
	size_t per = dj_type_itemsize(a->type_id) * (a->is_complex ? 2 : 1);
	if (a->count > (end - r->pos) / per)
		return fail(r, DJ_EFORMAT, r->pos, "truncated array data (%zu elements of %zu bytes, %zu left)",
			    a->count, per, end - r->pos);
	a->data_len = a->count * per;
	if (a->data_len == 0)
		return 0;
	if (charge(r, a->data_len) < 0)
		return DJ_ENOMEM;
	if (!(a->data = malloc(a->data_len)))
		return fail(r, DJ_ENOMEM, r->pos, "out of memory for %zu bytes of array data", a->data_len);
	memcpy(a->data, r->p + r->pos, a->data_len);
	r->pos += a->data_len;
	return 0;
}

/*
 * type_id and is_complex (formats.md §2.4). Ids without a dtype (0, 1, 2, 16) and unknown ids
 * are rejected (C-REC). Python ignores is_complex for char and object arrays and fails on
 * complex datetime64; we reject all three so that the tree always says what the bytes hold.
 */
static int read_type(rd *r, size_t end, dj_array *a)
{
	size_t at = r->pos;
	uint32_t cplx;
	int rc;
	if ((rc = rd_u32(r, end, &a->type_id, "array type id")) < 0 ||
	    (rc = rd_u32(r, end, &cplx, "array complex flag")) < 0)
		return rc;
	if (!dj_type_name(a->type_id))
		return fail(r, DJ_EFORMAT, at, "unknown array type id %u", (unsigned)a->type_id);
	a->is_complex = cplx != 0; /* Python: any non-zero value */
	if (a->is_complex && (a->type_id == DJ_TYPE_CHAR || a->type_id == DJ_TYPE_OBJECT ||
			      a->type_id >= DJ_TYPE_DATETIME64))
		return fail(r, DJ_EFORMAT, at + 4, "complex flag on a %s array", dj_type_name(a->type_id));
	return 0;
}

static int read_array(rd *r, size_t end, dj_value **out)
{
	wire_shape s;
	dj_value *v;
	int rc = read_shape(r, end, &s);
	if (rc < 0)
		return rc;
	if (!(v = dj_value_new(DJ_V_ARRAY))) {
		free(s.dims);
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	}
	v->u.arr.ndim = s.ndim;
	v->u.arr.shape = s.dims;
	v->u.arr.count = s.count;
	if ((rc = read_type(r, end, &v->u.arr)) == 0)
		rc = v->u.arr.type_id == DJ_TYPE_OBJECT ? read_objects(r, end, &v->u.arr)
							  : read_elements(r, end, &v->u.arr);
	if (rc < 0)
		dj_value_free(v);
	else
		*out = v;
	return rc;
}

/* nfields NUL-terminated UTF-8 names (formats.md §2.5, §2.7). */
static int read_names(rd *r, size_t end, size_t nfields, char ***names)
{
	if (charge(r, nfields * sizeof(char *)) < 0)
		return DJ_ENOMEM;
	if (!(*names = calloc(nfields, sizeof(char *))))
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	for (size_t i = 0; i < nfields; i++) {
		const uint8_t *s = r->p + r->pos, *z = memchr(s, 0, end - r->pos);
		size_t k;
		if (!z)
			return fail(r, DJ_EFORMAT, r->pos, "field name %zu has no NUL terminator", i);
		k = (size_t)(z - s);
		if (!utf8_valid(s, k))
			return fail(r, DJ_EFORMAT, r->pos, "field name %zu is not UTF-8", i);
		if (charge(r, k + 1) < 0)
			return DJ_ENOMEM;
		if (!((*names)[i] = malloc(k + 1)))
			return fail(r, DJ_ENOMEM, r->pos, "out of memory");
		memcpy((*names)[i], s, k + 1);
		r->pos += k + 1;
	}
	return 0;
}

/* nfields for S and F; 0 fields: Python returns np.array(None) without reading names, but its
 * writer adds one 00 — accept that byte only when it is the last one (formats.md §2.5). */
static int read_nfields(rd *r, size_t end, size_t min_each, size_t *nfields)
{
	size_t at = r->pos;
	uint32_t nf;
	int rc = rd_u32(r, end, &nf, "field count");
	if (rc < 0)
		return rc;
	if (nf == 0 && end - r->pos == 1 && r->p[r->pos] == 0)
		r->pos++;
	if (min_each && nf > (end - r->pos) / min_each)
		return fail(r, DJ_EFORMAT, at, "%u fields do not fit in %zu bytes", (unsigned)nf, end - r->pos);
	*nfields = nf;
	return 0;
}

static int read_struct(rd *r, size_t end, dj_value **out)
{
	wire_shape s;
	dj_value *v;
	size_t nf = 0, total;
	int rc = read_shape(r, end, &s);
	if (rc < 0)
		return rc;
	if (!(v = dj_value_new(DJ_V_STRUCT))) {
		free(s.dims);
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	}
	v->u.st.ndim = s.ndim;
	v->u.st.shape = s.dims;
	v->u.st.count = s.count;
	if ((rc = read_nfields(r, end, 1, &nf)) < 0 || nf == 0)
		goto done;
	v->u.st.nfields = nf;
	if ((rc = read_names(r, end, nf, &v->u.st.fields)) < 0)
		goto done;
	/* count * nfields values, each an L + item: bounded by the bytes left before allocating */
	if (s.count > (end - r->pos) / ((uint64_t)nf * (r->lsize + 1))) {
		rc = fail(r, DJ_EFORMAT, r->pos, "%zu struct elements of %zu fields do not fit", s.count, nf);
		goto done;
	}
	total = s.count * nf;
	if (total && ((rc = charge(r, total * sizeof(dj_value *))) < 0 ||
		      !(v->u.st.elems = calloc(total, sizeof(dj_value *))))) {
		rc = rc < 0 ? rc : fail(r, DJ_ENOMEM, r->pos, "out of memory");
		goto done;
	}
	rc = read_nested_n(r, end, v->u.st.elems, total);
done:
	if (rc < 0)
		dj_value_free(v);
	else
		*out = v;
	return rc;
}

static int read_cell(rd *r, size_t end, dj_value **out)
{
	wire_shape s;
	dj_value *v;
	int rc = read_shape(r, end, &s);
	if (rc < 0)
		return rc;
	if (!(v = dj_value_new(DJ_V_CELL))) {
		free(s.dims);
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	}
	v->u.cell.ndim = s.ndim;
	v->u.cell.shape = s.dims;
	v->u.cell.count = s.count;
	if (s.count > (end - r->pos) / (r->lsize + 1))
		rc = fail(r, DJ_EFORMAT, r->pos, "%zu cell elements do not fit in %zu bytes", s.count, end - r->pos);
	else if (s.count && ((rc = charge(r, s.count * sizeof(dj_value *))) < 0 ||
			     !(v->u.cell.elems = calloc(s.count, sizeof(dj_value *)))))
		rc = rc < 0 ? rc : fail(r, DJ_ENOMEM, r->pos, "out of memory");
	else
		rc = read_nested_n(r, end, v->u.cell.elems, s.count);
	if (rc < 0)
		dj_value_free(v);
	else
		*out = v;
	return rc;
}

/* F: field items follow without length (formats.md §2.7); each must be an A or F item. */
static int read_record(rd *r, size_t end, dj_value **out)
{
	dj_value *v = dj_value_new(DJ_V_RECORD);
	size_t nf = 0;
	int rc;
	if (!v)
		return fail(r, DJ_ENOMEM, r->pos, "out of memory");
	if ((rc = read_nfields(r, end, 2, &nf)) < 0 || nf == 0)
		goto done;
	v->u.rec.nfields = nf;
	if ((rc = read_names(r, end, nf, &v->u.rec.fields)) < 0)
		goto done;
	if ((rc = charge(r, nf * sizeof(dj_value *))) < 0)
		goto done;
	if (!(v->u.rec.vals = calloc(nf, sizeof(dj_value *)))) {
		rc = fail(r, DJ_ENOMEM, r->pos, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nf && rc == 0; i++) {
		size_t at = r->pos;
		if ((rc = read_item(r, end, &v->u.rec.vals[i])) == 0 && v->u.rec.vals[i]->kind != DJ_V_ARRAY &&
		    v->u.rec.vals[i]->kind != DJ_V_RECORD)
			rc = fail(r, DJ_EFORMAT, at, "record field '%s' is not an array", v->u.rec.fields[i]);
	}
done:
	if (rc < 0)
		dj_value_free(v);
	else
		*out = v;
	return rc;
}

/* One item (formats.md §2.3): the code byte, then its layout. */
static int read_item(rd *r, size_t end, dj_value **out)
{
	size_t at = r->pos;
	uint8_t code;
	int rc;
	*out = NULL;
	if (r->depth >= r->max_depth)
		return fail(r, DJ_EFORMAT, at, "items nested deeper than %u", r->max_depth);
	if ((rc = rd_bytes(r, end, &code, 1, "item code")) < 0 || (rc = charge(r, sizeof(dj_value))) < 0)
		return rc;
	r->depth++;
	switch (code) {
	case 'A': rc = read_array(r, end, out); break;
	case 'S': rc = read_struct(r, end, out); break;
	case 'C': rc = read_cell(r, end, out); break;
	case 'F': rc = read_record(r, end, out); break;
	case 0x01: rc = read_seq(r, end, DJ_V_TUPLE, out); break;
	case 0x02: rc = read_seq(r, end, DJ_V_LIST, out); break;
	case 0x03: rc = read_seq(r, end, DJ_V_SET, out); break;
	case 0x04: rc = read_dict(r, end, out); break;
	case 0x05: rc = read_text(r, end, DJ_V_STR, out); break;
	case 0x06: rc = read_text(r, end, DJ_V_BYTES, out); break;
	case 'd': rc = read_text(r, end, DJ_V_DECIMAL, out); break;
	case 0x0A: rc = read_int(r, end, out); break;
	case 'P':
		rc = fail(r, DJ_ENOTSUP, at, "MATLAB sparse array (item code 'P') is not supported");
		break;
	default: rc = read_scalar(r, end, code, out); break;
	}
	r->depth--;
	if (rc < 0) {
		dj_value_free(*out);
		*out = NULL;
	}
	return rc;
}

/* --- the ZL123 wrapper (formats.md §2.1) ----------------------------------------------------- */

#ifdef DJ_HAVE_LIBDEFLATE
static int inflate_all(const uint8_t *in, size_t n, uint8_t *dst, size_t len, dj_err *err)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	enum libdeflate_result res;
	if (!d)
		return dj_err_set(err, DJ_ENOMEM, "blob: out of memory for the inflater");
	/* Known size: SHORT_OUTPUT / INSUFFICIENT_SPACE mean "inflated size != L". Bytes after the
	 * end of the zlib stream are ignored, as by Python's zlib.decompress. */
	res = libdeflate_zlib_decompress(d, in, n, dst, len, NULL);
	libdeflate_free_decompressor(d);
	if (res == LIBDEFLATE_SUCCESS)
		return 0;
	if (res == LIBDEFLATE_SHORT_OUTPUT || res == LIBDEFLATE_INSUFFICIENT_SPACE)
		return dj_err_set(err, DJ_EFORMAT, "blob: inflated size differs from the wrapper length %zu "
				  "at offset 6", len);
	return dj_err_set(err, DJ_EFORMAT, "blob: bad zlib stream after the wrapper header");
}
#else
static int inflate_all(const uint8_t *in, size_t n, uint8_t *dst, size_t len, dj_err *err)
{
	z_stream zs;
	uint8_t probe;
	int zrc = Z_OK;
	memset(&zs, 0, sizeof zs);
	if (inflateInit(&zs) != Z_OK)
		return dj_err_set(err, DJ_ENOMEM, "blob: out of memory for the inflater");
	zs.next_in = (Bytef *)in;
	zs.next_out = dst;
	while (zrc == Z_OK) {
		size_t in_left = n - (size_t)((const uint8_t *)zs.next_in - in);
		size_t out_left = len - (size_t)(zs.next_out - dst);
		zs.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
		if (out_left == 0) { /* L reached: any further output is a size mismatch */
			zs.next_out = &probe;
			zs.avail_out = 1;
		} else {
			zs.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
		}
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (out_left == 0 && zs.avail_out == 0)
			zrc = Z_BUF_ERROR - 100; /* produced more than L */
		if (zrc == Z_BUF_ERROR && zs.avail_in == 0)
			break;
	}
	inflateEnd(&zs);
	if (zrc == Z_STREAM_END && zs.total_out == len)
		return 0;
	if (zrc == Z_STREAM_END || zrc == Z_BUF_ERROR - 100)
		return dj_err_set(err, DJ_EFORMAT, "blob: inflated size differs from the wrapper length %zu "
				  "at offset 6", len);
	return dj_err_set(err, DJ_EFORMAT, "blob: bad zlib stream after the wrapper header");
}
#endif

/* Inflate a wrapped blob into a new buffer of exactly L bytes (caller frees *body). */
static int unwrap(const uint8_t *p, size_t n, const dj_blob_opts *o, uint8_t **body, size_t *blen,
		  dj_err *err)
{
	size_t lsize = o->dims32 ? 4 : 8, hdr = 6 + lsize, zn, bound;
	uint64_t L = 0;
	int rc;
	if (n < hdr)
		return dj_err_set(err, DJ_EFORMAT, "blob: truncated zlib wrapper length at offset 6");
	memcpy(&L, p + 6, lsize);
	zn = n - hdr;
	/* deflate expands at most 1032:1; a larger L is a lie we refuse before allocating */
	bound = zn > (SIZE_MAX - 1024) / 1032 ? SIZE_MAX : zn * 1032 + 1024;
	if (L > bound)
		return dj_err_set(err, DJ_EFORMAT, "blob: wrapper length %llu at offset 6 is more than a "
				  "%zu-byte zlib stream can hold", (unsigned long long)L, zn);
	if (L > o->max_bytes)
		return dj_err_set(err, DJ_ENOMEM, "blob: wrapper length %llu at offset 6 passes the cap of %zu",
				  (unsigned long long)L, o->max_bytes);
	if (!(*body = malloc(L ? (size_t)L : 1)))
		return dj_err_set(err, DJ_ENOMEM, "blob: out of memory for %llu inflated bytes",
				  (unsigned long long)L);
	*blen = (size_t)L;
	if ((rc = inflate_all(p + hdr, zn, *body, *blen, err)) < 0) {
		free(*body);
		*body = NULL;
	}
	return rc;
}

int dj_blob_unpack(const uint8_t *p, size_t n, const dj_blob_opts *o, dj_value **out,
		   dj_blob_info *info, dj_err *err)
{
	dj_blob_opts opts = o ? *o : (dj_blob_opts){0};
	uint8_t *inflated = NULL;
	const uint8_t *body = p;
	size_t blen = n;
	rd r;
	int rc;
	*out = NULL;
	if (!opts.max_bytes)
		opts.max_bytes = DJ_BLOB_DEFAULT_MAX;
	if (info)
		memset(info, 0, sizeof *info);
	if (!p || n == 0)
		return dj_err_set(err, DJ_EFORMAT, "blob: empty");
	if (n >= 6 && memcmp(p, ZL_MAGIC, 6) == 0) {
		if ((rc = unwrap(p, n, &opts, &inflated, &blen, err)) < 0)
			return rc;
		body = inflated;
	}
	if (info) {
		info->zlib = inflated != NULL;
		info->raw_len = n;
		info->body_len = blen;
	}
	if (blen < 4 || (memcmp(body, "mYm", 4) != 0 && memcmp(body, "dj0", 4) != 0)) {
		free(inflated);
		return dj_err_set(err, DJ_EFORMAT, "blob: missing protocol header (mYm/dj0) at offset 0%s",
				  inflated ? " of the inflated body" : "");
	}
	if (info)
		memcpy(info->header, body, 4);
	r = (rd){body, 4, opts.dims32 ? 4 : 8, 0, opts.max_depth ? opts.max_depth : DJ_BLOB_MAX_DEPTH,
		 opts.max_bytes, inflated ? " of the inflated body" : "", err};
	rc = read_item(&r, blen, out);
	if (rc == 0 && r.pos != blen) {
		rc = fail(&r, DJ_EFORMAT, r.pos, "%zu trailing bytes after the item", blen - r.pos);
		dj_value_free(*out);
		*out = NULL;
	}
	free(inflated);
	return rc;
}

/* ============================================================================================
 * Writing
 *
 * Two passes: size_item() validates the tree and records the encoded size of every container
 * (pre-order), so write_item() can emit each nested length before its item and the output is
 * grown once. Array data is handed to the writer by pointer: a memcpy into the output, or fed
 * straight to deflate, never staged.
 * ========================================================================================== */

typedef struct sizes {
	size_t *v;
	size_t n, cap;
} sizes;

static bool is_leaf(const dj_value *v)
{
	switch (v->kind) {
	case DJ_V_TUPLE: case DJ_V_LIST: case DJ_V_SET: case DJ_V_DICT:
	case DJ_V_STRUCT: case DJ_V_CELL: case DJ_V_RECORD:
		return false;
	case DJ_V_ARRAY:
		return v->u.arr.type_id != DJ_TYPE_OBJECT;
	default:
		return true;
	}
}

/* Encoded size of a leaf (formats.md §2.4, §2.9); the tree was validated by size_item. */
static size_t leaf_size(const dj_value *v)
{
	switch (v->kind) {
	case DJ_V_NONE: return 1;
	case DJ_V_BOOL: return 2;
	case DJ_V_INT: return 3 + v->u.i.n;
	case DJ_V_FLOAT: return 9;
	case DJ_V_COMPLEX: return 17;
	case DJ_V_STR: case DJ_V_BYTES: case DJ_V_DECIMAL: return 9 + v->u.s.n;
	case DJ_V_DATETIME: return 13;
	case DJ_V_UUID: return 17;
	default: return 1 + 8 + 8 * v->u.arr.ndim + 8 + v->u.arr.data_len;
	}
}

static int add_sz(size_t *acc, size_t x, dj_err *err)
{
	if (x > SIZE_MAX - *acc)
		return dj_err_set(err, DJ_ENOMEM, "blob: packed size overflows");
	*acc += x;
	return 0;
}

static int bad_tree(dj_err *err, const char *what)
{
	return dj_err_set(err, DJ_EUSAGE, "blob: invalid value tree: %s", what);
}

static size_t count_of(size_t ndim, const uint64_t *shape, bool *ok)
{
	size_t c = 1;
	*ok = ndim == 0 || shape != NULL;
	for (size_t i = 0; *ok && i < ndim; i++)
		if (shape[i] == 0)
			return 0;
	for (size_t i = 0; *ok && i < ndim; i++) {
		if (shape[i] > SIZE_MAX / c) {
			*ok = false;
			return 0;
		}
		c *= (size_t)shape[i];
	}
	return c;
}

static int check_array(const dj_array *a, dj_err *err)
{
	size_t item = dj_type_itemsize(a->type_id);
	bool ok;
	if (!dj_type_name(a->type_id))
		return bad_tree(err, "unknown array type id");
	if (count_of(a->ndim, a->shape, &ok) != a->count || !ok)
		return bad_tree(err, "array count differs from its shape");
	if (a->is_complex && (a->type_id == DJ_TYPE_CHAR || a->type_id == DJ_TYPE_OBJECT ||
			      a->type_id >= DJ_TYPE_DATETIME64))
		return bad_tree(err, "complex char, object or datetime64 array");
	if (a->type_id == DJ_TYPE_OBJECT)
		return a->count && !a->objs ? bad_tree(err, "object array without elements") : 0;
	if (a->count > SIZE_MAX / (item * 2) || a->data_len != a->count * item * (a->is_complex ? 2 : 1) ||
	    (a->data_len && !a->data))
		return bad_tree(err, "array data_len differs from count * itemsize");
	return 0;
}

static int check_leaf(const dj_value *v, dj_err *err)
{
	switch (v->kind) {
	case DJ_V_INT:
		if (v->u.i.n > 0xFFFF)
			return dj_err_set(err, DJ_ENOTSUP, "blob: int wider than 65535 bytes");
		return v->u.i.n && !v->u.i.bytes ? bad_tree(err, "int without bytes") : 0;
	case DJ_V_STR: case DJ_V_BYTES: case DJ_V_DECIMAL:
		return v->u.s.n && !v->u.s.p ? bad_tree(err, "string without bytes") : 0;
	case DJ_V_ARRAY:
		return check_array(&v->u.arr, err);
	case DJ_V_NONE: case DJ_V_BOOL: case DJ_V_FLOAT: case DJ_V_COMPLEX: case DJ_V_DATETIME: case DJ_V_UUID:
		return 0;
	default:
		return bad_tree(err, "unknown node kind");
	}
}

static int size_item(const dj_value *v, unsigned depth, sizes *sz, size_t *out, dj_err *err);

/* Children each written as L + item. */
static int size_nested(dj_value *const *c, size_t n, unsigned depth, sizes *sz, size_t *acc, dj_err *err)
{
	size_t s;
	int rc;
	if (n && !c)
		return bad_tree(err, "container without elements");
	for (size_t i = 0; i < n; i++)
		if ((rc = size_item(c[i], depth, sz, &s, err)) < 0 || (rc = add_sz(acc, s, err)) < 0 ||
		    (rc = add_sz(acc, 8, err)) < 0)
			return rc;
	return 0;
}

static int size_names(char *const *names, size_t n, size_t *acc, dj_err *err)
{
	int rc;
	if (n == 0)
		return dj_err_set(err, DJ_ENOTSUP, "blob: struct or record without fields (formats.md §2.5)");
	if (n > UINT32_MAX || !names)
		return bad_tree(err, "bad field list");
	for (size_t i = 0; i < n; i++)
		if (!names[i] || (rc = add_sz(acc, strlen(names[i]) + 1, err)) < 0)
			return names[i] ? rc : bad_tree(err, "NULL field name");
	return 0;
}

static int size_record(const dj_value *v, unsigned depth, sizes *sz, size_t *acc, dj_err *err)
{
	size_t s;
	int rc = size_names(v->u.rec.fields, v->u.rec.nfields, acc, err);
	if (rc < 0)
		return rc;
	if (!v->u.rec.vals)
		return bad_tree(err, "record without values");
	for (size_t i = 0; i < v->u.rec.nfields; i++) {
		const dj_value *f = v->u.rec.vals[i];
		if (!f || (f->kind != DJ_V_ARRAY && f->kind != DJ_V_RECORD))
			return bad_tree(err, "record field is not an array or record");
		if ((rc = size_item(f, depth, sz, &s, err)) < 0 || (rc = add_sz(acc, s, err)) < 0)
			return rc;
	}
	return 0;
}

static int size_container(const dj_value *v, unsigned depth, sizes *sz, size_t *acc, dj_err *err)
{
	bool ok;
	int rc;
	switch (v->kind) {
	case DJ_V_TUPLE: case DJ_V_LIST: case DJ_V_SET:
		*acc = 9;
		return size_nested(v->u.seq.items, v->u.seq.n, depth, sz, acc, err);
	case DJ_V_DICT:
		*acc = 9;
		return size_nested(v->u.seq.items, 2 * v->u.seq.n, depth, sz, acc, err);
	case DJ_V_ARRAY:
		*acc = 1 + 8 + 8 * v->u.arr.ndim + 8;
		if ((rc = check_array(&v->u.arr, err)) < 0)
			return rc;
		return size_nested(v->u.arr.objs, v->u.arr.count, depth, sz, acc, err);
	case DJ_V_CELL:
		*acc = 1 + 8 + 8 * v->u.cell.ndim;
		if (count_of(v->u.cell.ndim, v->u.cell.shape, &ok) != v->u.cell.count || !ok)
			return bad_tree(err, "cell count differs from its shape");
		return size_nested(v->u.cell.elems, v->u.cell.count, depth, sz, acc, err);
	case DJ_V_STRUCT:
		*acc = 1 + 8 + 8 * v->u.st.ndim + 4;
		if (count_of(v->u.st.ndim, v->u.st.shape, &ok) != v->u.st.count || !ok)
			return bad_tree(err, "struct count differs from its shape");
		if ((rc = size_names(v->u.st.fields, v->u.st.nfields, acc, err)) < 0)
			return rc;
		if (v->u.st.count > SIZE_MAX / v->u.st.nfields)
			return bad_tree(err, "struct size overflows");
		return size_nested(v->u.st.elems, v->u.st.count * v->u.st.nfields, depth, sz, acc, err);
	default: /* DJ_V_RECORD */
		*acc = 1 + 4;
		return size_record(v, depth, sz, acc, err);
	}
}

static int size_item(const dj_value *v, unsigned depth, sizes *sz, size_t *out, dj_err *err)
{
	size_t slot;
	int rc;
	if (!v)
		return bad_tree(err, "NULL node");
	if (is_leaf(v)) {
		if ((rc = check_leaf(v, err)) < 0)
			return rc;
		*out = leaf_size(v);
		return 0;
	}
	if (depth >= DJ_BLOB_MAX_DEPTH)
		return dj_err_set(err, DJ_ENOTSUP, "blob: value nested deeper than %d", DJ_BLOB_MAX_DEPTH);
	if (sz->n == sz->cap) {
		size_t ncap = sz->cap ? 2 * sz->cap : 64;
		size_t *p = realloc(sz->v, ncap * sizeof *p);
		if (!p)
			return dj_err_set(err, DJ_ENOMEM, "blob: out of memory");
		sz->v = p;
		sz->cap = ncap;
	}
	slot = sz->n++; /* pre-order number of this container */
	if ((rc = size_container(v, depth + 1, sz, out, err)) < 0)
		return rc;
	sz->v[slot] = *out;
	return 0;
}

/* --- the writer: a memory cursor, or a deflate stream with a small staging buffer ------------ */

#define STAGE 16384

typedef struct wr {
	uint8_t *dst; /* memory mode: preallocated, large enough */
	size_t len;
	z_stream *zs; /* deflate mode */
	uint8_t *stage;
	size_t slen;
	size_t out_left; /* output bytes not yet handed to zlib */
	bool full;       /* output space ran out: the stream would not be smaller */
	bool zfail;
} wr;

static void z_outspace(wr *w)
{
	if (w->zs->avail_out == 0 && w->out_left) {
		size_t k = w->out_left > UINT_MAX ? UINT_MAX : w->out_left;
		w->zs->avail_out = (uInt)k;
		w->out_left -= k;
	}
}

/* Feed bytes to deflate; flush = Z_FINISH drives the stream to its end. */
static void z_feed(wr *w, const uint8_t *p, size_t n, int flush)
{
	for (;;) {
		size_t k = n > UINT_MAX ? UINT_MAX : n;
		int zrc;
		z_outspace(w);
		if (w->zs->avail_out == 0) {
			w->full = true;
			return;
		}
		w->zs->next_in = (Bytef *)p;
		w->zs->avail_in = (uInt)k;
		zrc = deflate(w->zs, n - k == 0 ? flush : Z_NO_FLUSH);
		p += k - w->zs->avail_in;
		n -= k - w->zs->avail_in;
		if (zrc == Z_STREAM_END)
			return;
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			w->zfail = true;
			return;
		}
		if (n == 0 && flush == Z_NO_FLUSH && w->zs->avail_out != 0)
			return;
	}
}

static void put(wr *w, const void *p, size_t n)
{
	if (!w->zs) {
		memcpy(w->dst + w->len, p, n);
		w->len += n;
		return;
	}
	if (w->full || w->zfail)
		return;
	if (n <= STAGE - w->slen) {
		memcpy(w->stage + w->slen, p, n);
		w->slen += n;
		return;
	}
	z_feed(w, w->stage, w->slen, Z_NO_FLUSH);
	w->slen = 0;
	if (n <= STAGE) {
		memcpy(w->stage, p, n);
		w->slen = n;
	} else {
		z_feed(w, p, n, Z_NO_FLUSH); /* big array data: straight from the tree */
	}
}

static void put_u8(wr *w, uint8_t x) { put(w, &x, 1); }
static void put_u32(wr *w, uint32_t x) { put(w, &x, 4); }
static void put_u64(wr *w, uint64_t x) { put(w, &x, 8); }

static void write_item(wr *w, const dj_value *v, const size_t *sz, size_t *idx);

static void write_nested(wr *w, dj_value *const *c, size_t n, const size_t *sz, size_t *idx)
{
	for (size_t i = 0; i < n; i++) {
		put_u64(w, is_leaf(c[i]) ? leaf_size(c[i]) : sz[*idx]);
		write_item(w, c[i], sz, idx);
	}
}

static void write_shape(wr *w, size_t ndim, const uint64_t *shape)
{
	put_u64(w, ndim);
	if (ndim)
		put(w, shape, ndim * sizeof(uint64_t));
}

static void write_names(wr *w, char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(w, names[i], strlen(names[i]) + 1);
}

static void write_array(wr *w, const dj_array *a, const size_t *sz, size_t *idx)
{
	put_u8(w, 'A');
	write_shape(w, a->ndim, a->shape);
	put_u32(w, a->type_id);
	put_u32(w, a->is_complex ? 1 : 0);
	if (a->type_id == DJ_TYPE_OBJECT)
		write_nested(w, a->objs, a->count, sz, idx);
	else if (a->data_len)
		put(w, a->data, a->data_len);
}

static void write_text(wr *w, uint8_t code, const dj_value *v)
{
	put_u8(w, code);
	put_u64(w, v->u.s.n);
	if (v->u.s.n)
		put(w, v->u.s.p, v->u.s.n);
}

static void write_leaf(wr *w, const dj_value *v)
{
	uint8_t b;
	switch (v->kind) {
	case DJ_V_NONE: put_u8(w, 0xFF); break;
	case DJ_V_BOOL: b = v->u.b; put_u8(w, 0x0B); put_u8(w, b); break;
	case DJ_V_INT:
		put_u8(w, 0x0A);
		put(w, &(uint16_t){(uint16_t)v->u.i.n}, 2);
		if (v->u.i.n)
			put(w, v->u.i.bytes, v->u.i.n);
		break;
	case DJ_V_FLOAT: put_u8(w, 0x0D); put(w, &v->u.f, 8); break;
	case DJ_V_COMPLEX: put_u8(w, 0x0C); put(w, &v->u.c.re, 8); put(w, &v->u.c.im, 8); break;
	case DJ_V_STR: write_text(w, 0x05, v); break;
	case DJ_V_BYTES: write_text(w, 0x06, v); break;
	case DJ_V_DECIMAL: write_text(w, 'd', v); break;
	case DJ_V_DATETIME: put_u8(w, 't'); put(w, &v->u.dt.date, 4); put(w, &v->u.dt.time, 8); break;
	case DJ_V_UUID: put_u8(w, 'u'); put(w, v->u.uuid, 16); break;
	default: write_array(w, &v->u.arr, NULL, NULL); break;
	}
}

static void write_item(wr *w, const dj_value *v, const size_t *sz, size_t *idx)
{
	uint8_t seq_code[] = {[DJ_V_TUPLE] = 0x01, [DJ_V_LIST] = 0x02, [DJ_V_SET] = 0x03, [DJ_V_DICT] = 0x04};
	if (is_leaf(v)) {
		write_leaf(w, v);
		return;
	}
	(*idx)++; /* this container's pre-order slot; its size was written by the parent */
	switch (v->kind) {
	case DJ_V_TUPLE: case DJ_V_LIST: case DJ_V_SET: case DJ_V_DICT:
		put_u8(w, seq_code[v->kind]);
		put_u64(w, v->u.seq.n);
		write_nested(w, v->u.seq.items, (v->kind == DJ_V_DICT ? 2 : 1) * v->u.seq.n, sz, idx);
		break;
	case DJ_V_ARRAY:
		write_array(w, &v->u.arr, sz, idx);
		break;
	case DJ_V_CELL:
		put_u8(w, 'C');
		write_shape(w, v->u.cell.ndim, v->u.cell.shape);
		write_nested(w, v->u.cell.elems, v->u.cell.count, sz, idx);
		break;
	case DJ_V_STRUCT:
		put_u8(w, 'S');
		write_shape(w, v->u.st.ndim, v->u.st.shape);
		put_u32(w, (uint32_t)v->u.st.nfields);
		write_names(w, v->u.st.fields, v->u.st.nfields);
		write_nested(w, v->u.st.elems, v->u.st.count * v->u.st.nfields, sz, idx);
		break;
	default: /* DJ_V_RECORD: whole items, no lengths (formats.md §2.7) */
		put_u8(w, 'F');
		put_u32(w, (uint32_t)v->u.rec.nfields);
		write_names(w, v->u.rec.fields, v->u.rec.nfields);
		for (size_t i = 0; i < v->u.rec.nfields; i++)
			write_item(w, v->u.rec.vals[i], sz, idx);
		break;
	}
}

/* --- header rule (formats.md §2.2) ----------------------------------------------------------- */

static bool needs_dj0(const dj_value *v)
{
	size_t n;
	switch (v->kind) {
	case DJ_V_ARRAY:
		return v->u.arr.type_id == DJ_TYPE_OBJECT || v->u.arr.type_id >= DJ_TYPE_DATETIME64 ||
		       (v->u.arr.ndim == 0 && v->u.arr.type_id != DJ_TYPE_CHAR); /* 0-d char: mYm (QUIRK) */
	case DJ_V_CELL:
		for (size_t i = 0; i < v->u.cell.count; i++)
			if (needs_dj0(v->u.cell.elems[i]))
				return true;
		return false;
	case DJ_V_STRUCT:
		n = v->u.st.count * v->u.st.nfields;
		for (size_t i = 0; i < n; i++)
			if (needs_dj0(v->u.st.elems[i]))
				return true;
		return false;
	default:
		return true;
	}
}

const char *dj_blob_header_needed(const dj_value *v)
{
	return !v || needs_dj0(v) ? "dj0" : "mYm";
}

/* --- pack -------------------------------------------------------------------------------------- */

static void write_body(wr *w, const char *header, const dj_value *v, const size_t *sz)
{
	size_t idx = 0;
	put(w, header, 4);
	write_item(w, v, sz, &idx);
}

/*
 * §2.1: wrap only if the body is > 1000 bytes and the wrapped form is strictly smaller. Deflate
 * writes straight into `dst` (body_len - 14 bytes: a stream that does not fit is not smaller),
 * fed in the same byte sequence as Python's zlib.compress(body), so the stream is identical
 * (deflate's output does not depend on how its input is split when flushing only at the end).
 * Returns 1 if wrapped, 0 if not smaller, or a negative code.
 */
static int pack_deflated(const char *header, const dj_value *v, const size_t *sz, size_t body_len,
			 uint8_t *dst, size_t *outlen, dj_err *err)
{
	z_stream zs;
	wr w = {0};
	uint64_t L = body_len;
	size_t room = body_len - 14;
	memset(&zs, 0, sizeof zs);
	if (!(w.stage = malloc(STAGE)))
		return dj_err_set(err, DJ_ENOMEM, "blob: out of memory");
	if (deflateInit2(&zs, 6, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(w.stage);
		return dj_err_set(err, DJ_ERROR, "blob: deflateInit2 failed");
	}
	w.zs = &zs;
	zs.next_out = dst + 14;
	w.out_left = room;
	write_body(&w, header, v, sz);
	if (!w.full && !w.zfail)
		z_feed(&w, w.stage, w.slen, Z_FINISH);
	free(w.stage);
	deflateEnd(&zs);
	if (w.zfail)
		return dj_err_set(err, DJ_ERROR, "blob: deflate failed");
	if (w.full || zs.total_out + 14 >= body_len)
		return 0;
	memcpy(dst, ZL_MAGIC, 6);
	memcpy(dst + 6, &L, 8);
	*outlen = 14 + (size_t)zs.total_out;
	return 1;
}

static int pick_header(const dj_value *v, const dj_blob_pack_opts *o, const char **h, dj_err *err)
{
	*h = dj_blob_header_needed(v);
	if (o && o->header) {
		if (strcmp(o->header, "mYm") != 0 && strcmp(o->header, "dj0") != 0)
			return dj_err_set(err, DJ_EUSAGE, "blob: header option must be mYm or dj0, not '%s'", o->header);
		*h = o->header;
	}
	return 0;
}

int dj_blob_pack(const dj_value *v, const dj_blob_pack_opts *o, dj_buf *out, dj_err *err)
{
	sizes sz = {0};
	size_t item_len, body_len, outlen = 0;
	const char *header;
	wr w = {0};
	int rc;
	if ((rc = size_item(v, 0, &sz, &item_len, err)) < 0 || (rc = pick_header(v, o, &header, err)) < 0)
		goto done;
	body_len = item_len + 4;
	if (body_len < item_len || (rc = dj_buf_grow(out, body_len)) < 0) {
		rc = dj_err_set(err, DJ_ENOMEM, "blob: cannot grow the output to %zu bytes", item_len);
		goto done;
	}
	if ((!o || o->compress) && body_len > 1000) {
		rc = pack_deflated(header, v, sz.v, body_len, (uint8_t *)out->ptr + out->len, &outlen, err);
		if (rc < 0)
			goto done;
		if (rc == 1) {
			dj_buf_setlen(out, out->len + outlen);
			rc = 0;
			goto done;
		}
	}
	w.dst = (uint8_t *)out->ptr + out->len;
	write_body(&w, header, v, sz.v);
	dj_buf_setlen(out, out->len + body_len);
	rc = 0;
done:
	free(sz.v);
	return rc;
}
