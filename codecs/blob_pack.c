/* Blob encoding (codecs/blob.h): formats.md §2; the reader is blob_unpack.c. */
#include "codecs/blob.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* formats.md conventions: every field is little-endian; we copy host integers byte for byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "codecs/blob.c assumes a little-endian host (formats.md: all fields are LE)"
#endif

static const uint8_t ZL_MAGIC[6] = {'Z', 'L', '1', '2', '3', 0};

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
