/* Blob decoding (codecs/blob.h): formats.md §2; the writer is blob_pack.c. */
#include "codecs/blob.h"

#include "base/utf8.h"

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
	if (kind != DJ_V_BYTES && !dj_utf8_valid(r->p + at, k))
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
		if (!dj_utf8_valid(s, k))
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
