#include "codecs/npy.h"
#include "base/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codecs/object.h"
#include "codecs/pylit.h"

/* ---- simple descriptors ---- */

typedef struct simple_dt {
	char bo;       /* '<', '>' or '|' (canonical) */
	char kind;     /* b i u f c m M S U V */
	size_t n;      /* the number after the kind */
	char unit[24]; /* "[ns]", "[10us]" or "" */
	size_t itemsize;
} simple_dt;

static const char *const dt_units[] = {"Y",  "M",  "W",  "D",  "h",  "m", "s",
				       "ms", "us", "ns", "ps", "fs", "as"};

/* "[unit]" with an optional multiplier; returns the unit index or -1. */
static int unit_index(const char *u, size_t n, bool *mult)
{
	size_t i = 1;
	*mult = false;
	if (n < 3 || u[0] != '[' || u[n - 1] != ']')
		return -1;
	while (i < n - 1 && u[i] >= '0' && u[i] <= '9')
		i++, *mult = true;
	for (int k = 0; k < 13; k++)
		if (strlen(dt_units[k]) == n - 1 - i && memcmp(u + i, dt_units[k], n - 1 - i) == 0)
			return k;
	return -1;
}

static bool size_ok(char kind, size_t n)
{
	switch (kind) {
	case 'b':
		return n == 1;
	case 'i':
	case 'u':
		return n == 1 || n == 2 || n == 4 || n == 8;
	case 'f':
		return n == 2 || n == 4 || n == 8 || n == 12 || n == 16;
	case 'c':
		return n == 8 || n == 16 || n == 24 || n == 32;
	case 'm':
	case 'M':
		return n == 8;
	default:
		return n <= SIZE_MAX / 4;
	}
}

/* Parse and canonicalise a simple dtype string as numpy's dtype.str would print it. */
static int simple_parse(const char *s, simple_dt *d, dj_err *err)
{
	const char *p = s;
	char bo = '=';
	bool have_n = false, mult;
	memset(d, 0, sizeof(*d));
	if (*p == '<' || *p == '>' || *p == '|' || *p == '=')
		bo = *p++;
	d->kind = *p == '?' ? 'b' : *p;
	if (!*p || !strchr("biufcmMSUV", d->kind)) {
		if (*p == 'O')
			return dj_err_set(err, DJ_ENOTSUP, "npy: object dtype '%.32s' needs pickle", s);
		return dj_err_set(err, DJ_EFORMAT, "npy: unknown dtype '%.32s'", s);
	}
	for (p++; *p >= '0' && *p <= '9'; p++) {
		if (d->n > SIZE_MAX / 10 - 1)
			return dj_err_set(err, DJ_EFORMAT, "npy: dtype size too large in '%.32s'", s);
		d->n = d->n * 10 + (size_t)(*p - '0');
		have_n = true;
	}
	if (!have_n)
		d->n = strchr("bmM", d->kind) ? (d->kind == 'b' ? 1 : 8) : 0;
	if (*p) {
		size_t un = strlen(p);
		if ((d->kind != 'm' && d->kind != 'M') || un >= sizeof(d->unit) ||
		    unit_index(p, un, &mult) < 0)
			return dj_err_set(err, DJ_EFORMAT, "npy: bad dtype '%.32s'", s);
		memcpy(d->unit, p, un + 1);
	}
	if (!size_ok(d->kind, d->n))
		return dj_err_set(err, DJ_EFORMAT, "npy: bad item size in dtype '%.32s'", s);
	d->itemsize = d->kind == 'U' ? d->n * 4 : d->n;
	/* dtype.str: '|' where byte order does not apply, '<' for native (little-endian hosts) */
	if (d->kind == 'S' || d->kind == 'V' || (d->kind != 'U' && d->itemsize == 1))
		d->bo = '|';
	else
		d->bo = bo == '>' ? '>' : '<';
	return 0;
}

static int simple_str(dj_buf *b, const simple_dt *d)
{
	return dj_buf_addf(b, "%c%c%zu%s", d->bo, d->kind, d->n, d->unit);
}

/* ---- structured descriptors ---- */

static int struct_check(dj_pylit *list, size_t *size, dj_err *err);

static int shape_product(const dj_pylit *shape, size_t *prod, dj_err *err)
{
	*prod = 1;
	for (size_t i = 0; i < shape->n; i++) {
		const dj_pylit *d = shape->items[i];
		if (d->kind != DJ_PYLIT_INT || d->neg)
			return dj_err_set(err, DJ_EFORMAT, "npy: bad subarray shape in descr");
		if (d->u && *prod > SIZE_MAX / d->u)
			return dj_err_set(err, DJ_EFORMAT, "npy: subarray too large in descr");
		*prod *= (size_t)d->u;
	}
	return 0;
}

static bool field_name_ok(const dj_pylit *name)
{
	if (name->kind == DJ_PYLIT_STR)
		return true;
	return name->kind == DJ_PYLIT_TUPLE && name->n == 2 && name->items[0]->kind == DJ_PYLIT_STR &&
	       name->items[1]->kind == DJ_PYLIT_STR;
}

/* Canonicalise the field format in place and return its size. */
static int field_format(dj_pylit *fmt, size_t *size, dj_err *err)
{
	dj_buf b = DJ_BUF_INIT;
	simple_dt d;
	int rc;
	if (fmt->kind == DJ_PYLIT_LIST)
		return struct_check(fmt, size, err);
	if (fmt->kind != DJ_PYLIT_STR)
		return dj_err_set(err, DJ_ENOTSUP, "npy: unsupported field format in descr");
	if ((rc = simple_parse(fmt->s, &d, err)) < 0)
		return rc;
	if (simple_str(&b, &d) < 0)
		return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	free(fmt->s);
	fmt->s = dj_buf_take(&b, &fmt->slen);
	*size = d.itemsize;
	return fmt->s ? 0 : dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
}

/* A structured descr: [(name, format[, shape]), ...]; sums the item size. */
static int struct_check(dj_pylit *list, size_t *size, dj_err *err)
{
	*size = 0;
	for (size_t i = 0; i < list->n; i++) {
		dj_pylit *f = list->items[i];
		size_t fsize, prod = 1;
		int rc;
		if (f->kind != DJ_PYLIT_TUPLE || (f->n != 2 && f->n != 3) || !field_name_ok(f->items[0]))
			return dj_err_set(err, DJ_EFORMAT, "npy: descr field %zu is not (name, format)", i);
		if ((rc = field_format(f->items[1], &fsize, err)) < 0)
			return rc;
		if (f->n == 3) {
			dj_pylit *sh = f->items[2];
			if (sh->kind == DJ_PYLIT_INT) {
				/* numpy turns a bare int into a 1-tuple; print it that way */
				dj_pylit *t = calloc(1, sizeof(*t));
				dj_pylit **items = malloc(sizeof(*items));
				if (!t || !items) {
					free(t);
					free(items);
					return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
				}
				t->kind = DJ_PYLIT_TUPLE;
				t->items = items;
				t->items[0] = sh;
				t->n = 1;
				f->items[2] = sh = t;
			}
			if (sh->kind != DJ_PYLIT_TUPLE)
				return dj_err_set(err, DJ_EFORMAT, "npy: descr field %zu has a bad shape", i);
			if ((rc = shape_product(sh, &prod, err)) < 0)
				return rc;
		}
		if ((prod && fsize > SIZE_MAX / prod) || fsize * prod > SIZE_MAX - *size)
			return dj_err_set(err, DJ_EFORMAT, "npy: structured item size overflows");
		*size += fsize * prod;
	}
	return 0;
}

/* Parse descr text (structured: a list literal) into canonical text and its item size. */
static int descr_canonical(const char *descr, bool structured, dj_buf *canon, size_t *itemsize,
			   dj_err *err)
{
	simple_dt d;
	dj_pylit *l;
	int rc;
	if (!structured) {
		if ((rc = simple_parse(descr, &d, err)) < 0)
			return rc;
		*itemsize = d.itemsize;
		return simple_str(canon, &d) < 0 ? dj_err_set(err, DJ_ENOMEM, "npy: out of memory") : 0;
	}
	if ((rc = dj_pylit_parse(descr, strlen(descr), "npy descr", &l, err)) < 0)
		return rc;
	if (l->kind != DJ_PYLIT_LIST)
		rc = dj_err_set(err, DJ_EFORMAT, "npy: structured descr is not a list: '%.40s'", descr);
	else if ((rc = struct_check(l, itemsize, err)) == 0 && dj_pylit_repr(canon, l) < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	dj_pylit_free(l);
	return rc;
}

/* ---- header parsing ---- */

static uint32_t rd_le(const uint8_t *p, int n)
{
	uint32_t v = 0;
	for (int i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

/* Header bytes as UTF-8: v1/v2 are Latin-1 (numpy decodes 'latin1'), v3 is UTF-8. */
static int header_text(dj_buf *t, const uint8_t *h, size_t n, int version, dj_err *err)
{
	if (version == 3) {
		if (!dj_utf8_valid(h, n))
			return dj_err_set(err, DJ_EFORMAT, "npy: v3 header is not UTF-8");
		return dj_buf_add(t, h, n) < 0 ? dj_err_set(err, DJ_ENOMEM, "npy: out of memory") : 0;
	}
	for (size_t i = 0; i < n; i++)
		if (dj_utf8_add(t, h[i]) < 0)
			return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	return 0;
}

static dj_pylit *dict_get(const dj_pylit *d, const char *key)
{
	dj_pylit *found = NULL;
	for (size_t i = 0; i < d->n; i++) {
		const dj_pylit *k = d->items[2 * i];
		if (k->kind == DJ_PYLIT_STR && strcmp(k->s, key) == 0)
			found = d->items[2 * i + 1]; /* the last duplicate wins, as in a Python dict */
	}
	return found;
}

static bool keys_exact(const dj_pylit *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const dj_pylit *k = d->items[2 * i];
		if (k->kind != DJ_PYLIT_STR || (strcmp(k->s, "descr") && strcmp(k->s, "fortran_order") &&
					   strcmp(k->s, "shape")))
			return false;
	}
	return dict_get(d, "descr") && dict_get(d, "fortran_order") && dict_get(d, "shape");
}

static int take_shape(dj_npy *out, const dj_pylit *sh, dj_err *err)
{
	if (sh->kind != DJ_PYLIT_TUPLE)
		return dj_err_set(err, DJ_EFORMAT, "npy: 'shape' is not a tuple");
	if (sh->n > DJ_NPY_MAX_NDIM)
		return dj_err_set(err, DJ_EFORMAT, "npy: %zu dimensions (max %d)", sh->n, DJ_NPY_MAX_NDIM);
	out->ndim = sh->n;
	out->count = 1;
	if (sh->n && !(out->shape = malloc(sh->n * sizeof(*out->shape))))
		return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	for (size_t i = 0; i < sh->n; i++) {
		const dj_pylit *d = sh->items[i];
		if (d->kind != DJ_PYLIT_INT || d->neg)
			return dj_err_set(err, DJ_EFORMAT, "npy: 'shape' entry %zu is not a size", i);
		out->shape[i] = d->u;
	}
	/* any zero dimension makes the array empty, whatever the others say */
	for (size_t i = 0; i < sh->n; i++)
		if (out->shape[i] == 0)
			out->count = 0;
	for (size_t i = 0; i < sh->n && out->count; i++) {
		if (out->shape[i] > SIZE_MAX / out->count)
			return dj_err_set(err, DJ_EFORMAT, "npy: shape element count overflows");
		out->count *= (size_t)out->shape[i];
	}
	return 0;
}

static int take_dict(dj_npy *out, const dj_pylit *d, dj_err *err)
{
	dj_pylit *descr;
	const dj_pylit *fo;
	dj_buf canon = DJ_BUF_INIT;
	int rc;
	if (d->kind != DJ_PYLIT_DICT || !keys_exact(d))
		return dj_err_set(err, DJ_EFORMAT,
				  "npy: header is not a dict of descr, fortran_order and shape");
	descr = dict_get(d, "descr");
	fo = dict_get(d, "fortran_order");
	if (fo->kind != DJ_PYLIT_BOOL)
		return dj_err_set(err, DJ_EFORMAT, "npy: 'fortran_order' is not a bool");
	out->fortran_order = fo->u != 0;
	if ((rc = take_shape(out, dict_get(d, "shape"), err)) < 0)
		return rc;
	if (descr->kind == DJ_PYLIT_STR) {
		rc = descr_canonical(descr->s, false, &canon, &out->itemsize, err);
	} else if (descr->kind == DJ_PYLIT_LIST) {
		/* canonicalised in place: the tree is ours */
		out->structured = true;
		if ((rc = struct_check(descr, &out->itemsize, err)) == 0 && dj_pylit_repr(&canon, descr) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	} else {
		rc = dj_err_set(err, DJ_ENOTSUP, "npy: unsupported 'descr' (subarray or other)");
	}
	if (rc == 0 && !(out->descr = dj_buf_take(&canon, NULL)))
		rc = dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	dj_buf_dispose(&canon);
	if (rc == 0 && out->itemsize && out->count > SIZE_MAX / out->itemsize)
		rc = dj_err_set(err, DJ_EFORMAT, "npy: data size overflows");
	return rc;
}

static int parse_impl(dj_npy *out, const uint8_t *p, size_t n, bool need_data, dj_err *err)
{
	size_t off, hl;
	dj_buf text = DJ_BUF_INIT;
	dj_pylit *root;
	int rc;
	memset(out, 0, sizeof(*out));
	if (n < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
		return dj_err_set(err, DJ_EFORMAT, "npy: not an .npy file (bad magic)");
	if (p[7] != 0 || p[6] < 1 || p[6] > 3)
		return dj_err_set(err, DJ_ENOTSUP, "npy: unsupported format version %d.%d", p[6], p[7]);
	out->version = p[6];
	off = out->version == 1 ? 10 : 12;
	if (n < off)
		return dj_err_set(err, DJ_EFORMAT, "npy: truncated before the header length");
	hl = rd_le(p + 8, out->version == 1 ? 2 : 4);
	if (hl > n - off)
		return dj_err_set(err, DJ_EFORMAT, "npy: header of %zu bytes overruns the %zu-byte input",
				  hl, n);
	out->header.ptr = p + off;
	out->header.len = hl;
	out->data_offset = off + hl;
	if ((rc = header_text(&text, p + off, hl, out->version, err)) < 0)
		goto done;
	if ((rc = dj_pylit_parse(text.ptr, text.len, "npy header", &root, err)) < 0)
		goto done;
	rc = take_dict(out, root, err);
	dj_pylit_free(root);
	if (rc == 0 && need_data) {
		size_t need = out->count * out->itemsize;
		if (need > n - out->data_offset)
			rc = dj_err_set(err, DJ_EFORMAT, "npy: data needs %zu bytes, %zu present", need,
					n - out->data_offset);
		out->data.ptr = p + out->data_offset;
		out->data.len = rc ? 0 : need;
	}
done:
	dj_buf_dispose(&text);
	return rc;
}

int dj_npy_parse(dj_npy *out, const void *p, size_t n, dj_err *err)
{
	return parse_impl(out, p, n, true, err);
}

int dj_npy_parse_header(dj_npy *out, const void *p, size_t n, dj_err *err)
{
	return parse_impl(out, p, n, false, err);
}

void dj_npy_dispose(dj_npy *a)
{
	free(a->descr);
	free(a->shape);
	free(a->own);
	memset(a, 0, sizeof(*a));
}

/* ---- header writing ---- */

/* The dict text np.save builds (format.py _write_array_header), as UTF-8. */
static int header_dict(dj_buf *t, const dj_npy *a, const char *canon)
{
	int rc = dj_buf_adds(t, "{'descr': ");
	if (rc == 0)
		rc = a->structured ? dj_buf_adds(t, canon) : dj_pylit_repr_str(t, canon, strlen(canon));
	if (rc == 0)
		rc = dj_buf_addf(t, ", 'fortran_order': %s, 'shape': (",
				 a->fortran_order ? "True" : "False");
	for (size_t i = 0; i < a->ndim && rc == 0; i++)
		rc = dj_buf_addf(t, "%s%" PRIu64, i ? ", " : "", a->shape[i]);
	if (rc == 0)
		rc = dj_buf_adds(t, a->ndim == 1 ? ",), }" : "), }");
	if (rc == 0 && a->ndim) {
		/* growth room: 21 - len(repr(shape[-1 if fortran_order else 0])) spaces */
		char digits[24];
		int d = snprintf(digits, sizeof(digits), "%" PRIu64,
				 a->shape[a->fortran_order ? a->ndim - 1 : 0]);
		for (int i = d; i < 21 && rc == 0; i++)
			rc = dj_buf_addc(t, ' ');
	}
	return rc;
}

/* Latin-1 bytes of UTF-8 text; false when a code point is above U+00FF. */
static bool to_latin1(dj_buf *out, const dj_buf *t, int *rc)
{
	for (size_t i = 0, k; i < t->len; i += k) {
		uint32_t c;
		k = dj_utf8_next((const unsigned char *)t->ptr + i, t->len - i, &c);
		if (!k || c > 0xFF)
			return false;
		if (dj_buf_addc(out, (char)c) < 0) {
			*rc = -1;
			return false;
		}
	}
	return true;
}

static int emit_header(dj_buf *out, const dj_buf *text, dj_err *err)
{
	dj_buf l1 = DJ_BUF_INIT;
	const dj_buf *body = text;
	int rc = 0, version = 1, lenw;
	size_t hlen, pad;
	/* _wrap_header_guess_version: 1.0, then 2.0 (too long), then 3.0 (not Latin-1) */
	if (to_latin1(&l1, text, &rc))
		body = &l1;
	else if (rc < 0)
		goto nomem;
	else
		version = 3;
	hlen = body->len + 1;
	lenw = 2;
	pad = 64 - (6 + 2 + 2 + hlen) % 64;
	if (version == 1 && hlen + pad > 65535)
		version = 2;
	if (version != 1) {
		lenw = 4;
		pad = 64 - (6 + 2 + 4 + hlen) % 64;
		if (hlen + pad > UINT32_MAX) {
			dj_buf_dispose(&l1);
			return dj_err_set(err, DJ_EFORMAT, "npy: header too large");
		}
	}
	uint8_t pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (uint8_t)version, 0};
	for (int i = 0; i < lenw; i++)
		pre[8 + i] = (uint8_t)((hlen + pad) >> (8 * i));
	if (dj_buf_add(out, pre, (size_t)(8 + lenw)) < 0 || dj_buf_add(out, body->ptr, body->len) < 0 ||
	    dj_buf_grow(out, pad + 1) < 0)
		goto nomem;
	memset(out->ptr + out->len, ' ', pad);
	out->ptr[out->len + pad] = '\n';
	dj_buf_setlen(out, out->len + pad + 1);
	dj_buf_dispose(&l1);
	return 0;
nomem:
	dj_buf_dispose(&l1);
	return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
}

static int write_header(dj_buf *out, const dj_npy *a, size_t *need, dj_err *err)
{
	dj_buf canon = DJ_BUF_INIT, text = DJ_BUF_INIT;
	size_t itemsize, count = 1;
	int rc;
	if (!a->descr)
		return dj_err_set(err, DJ_EUSAGE, "npy: no descr");
	if ((rc = descr_canonical(a->descr, a->structured, &canon, &itemsize, err)) < 0)
		goto done;
	for (size_t i = 0; i < a->ndim; i++)
		count = a->shape[i] == 0 ? 0 : count;
	for (size_t i = 0; i < a->ndim && count; i++) {
		if (a->shape[i] > SIZE_MAX / count) {
			rc = dj_err_set(err, DJ_EFORMAT, "npy: shape element count overflows");
			goto done;
		}
		count *= (size_t)a->shape[i];
	}
	if (itemsize && count > SIZE_MAX / itemsize) {
		rc = dj_err_set(err, DJ_EFORMAT, "npy: data size overflows");
		goto done;
	}
	*need = count * itemsize;
	if (header_dict(&text, a, canon.ptr) < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	else
		rc = emit_header(out, &text, err);
done:
	dj_buf_dispose(&canon);
	dj_buf_dispose(&text);
	return rc;
}

int dj_npy_write_header(dj_buf *out, const dj_npy *a, dj_err *err)
{
	size_t need;
	return write_header(out, a, &need, err);
}

int dj_npy_write(dj_buf *out, const dj_npy *a, dj_err *err)
{
	size_t len = out->len, need = 0;
	int rc = write_header(out, a, &need, err);
	if (rc < 0)
		return rc;
	if (a->data.len != need) {
		dj_buf_setlen(out, len);
		return dj_err_set(err, DJ_EUSAGE, "npy: data holds %zu bytes, shape and dtype need %zu",
				  a->data.len, need);
	}
	if (dj_buf_add(out, a->data.ptr, a->data.len) < 0) {
		dj_buf_setlen(out, len);
		return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	}
	return 0;
}

/* ---- dtype names (§6.8) ---- */

int dj_npy_dtype_name(dj_buf *out, const char *descr, bool structured, dj_err *err)
{
	static const char *const names[] = {"b", "bool", "i", "int", "u", "uint", "f", "float",
					    "c", "complex", "M", "datetime64", "m", "timedelta64"};
	dj_buf canon = DJ_BUF_INIT;
	simple_dt d;
	size_t itemsize;
	int rc;
	if (structured) {
		/* _struct_list_str prints the packed field list as the descr list */
		if ((rc = descr_canonical(descr, true, &canon, &itemsize, err)) == 0 &&
		    dj_buf_add(out, canon.ptr, canon.len) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
		dj_buf_dispose(&canon);
		return rc;
	}
	if ((rc = simple_parse(descr, &d, err)) < 0)
		return rc;
	/* str(dtype): flexible (S U V) and non-native types print dtype.str, others dtype.name */
	if (strchr("SUV", d.kind) || d.bo == '>')
		rc = simple_str(out, &d);
	else
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i += 2)
			if (names[i][0] == d.kind) {
				rc = d.kind == 'b' ? dj_buf_adds(out, "bool")
				     : strchr("mM", d.kind)
					 ? dj_buf_addf(out, "%s%s", names[i + 1], d.unit)
					 : dj_buf_addf(out, "%s%zu", names[i + 1], d.itemsize * 8);
				break;
			}
	return rc < 0 ? dj_err_set(err, DJ_ENOMEM, "npy: out of memory") : 0;
}

static int name_to_simple(const char *s, dj_buf *b)
{
	static const struct {
		const char *prefix;
		char kind;
	} fam[] = {{"uint", 'u'}, {"int", 'i'}, {"float", 'f'}, {"complex", 'c'}};
	char *end;
	if (strcmp(s, "bool") == 0)
		return dj_buf_adds(b, "|b1");
	if (strncmp(s, "datetime64", 10) == 0)
		return dj_buf_addf(b, "<M8%s", s + 10);
	if (strncmp(s, "timedelta64", 11) == 0)
		return dj_buf_addf(b, "<m8%s", s + 11);
	for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		size_t n = strlen(fam[i].prefix);
		if (strncmp(s, fam[i].prefix, n) == 0 && s[n] >= '1' && s[n] <= '9') {
			unsigned long bits = strtoul(s + n, &end, 10);
			if (*end || bits % 8 || bits > 256)
				return 1;
			return dj_buf_addf(b, "<%c%lu", fam[i].kind, bits / 8);
		}
	}
	return 1;
}

int dj_npy_descr_from_dtype(const char *dtype, char **descr, bool *structured, dj_err *err)
{
	dj_buf raw = DJ_BUF_INIT, canon = DJ_BUF_INIT;
	size_t itemsize;
	int rc;
	*descr = NULL;
	*structured = dtype[0] == '[';
	if (*structured || strchr("<>|=", dtype[0]))
		rc = dj_buf_adds(&raw, dtype);
	else if ((rc = name_to_simple(dtype, &raw)) > 0) {
		dj_buf_dispose(&raw);
		return dj_err_set(err, DJ_ENOTSUP, "npy: unknown dtype '%.64s'", dtype);
	}
	if (rc < 0) {
		dj_buf_dispose(&raw);
		return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	}
	rc = descr_canonical(raw.ptr, *structured, &canon, &itemsize, err);
	dj_buf_dispose(&raw);
	if (rc == 0 && !(*descr = dj_buf_take(&canon, NULL)))
		rc = dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	dj_buf_dispose(&canon);
	return rc;
}

/* ---- dj_array conversions ---- */

static int type_descr(const dj_array *a, char *buf, size_t n, size_t *comp, dj_err *err)
{
	static const char *const ints[] = {"|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8"};
	uint32_t t = a->type_id;
	*comp = dj_type_itemsize(t);
	if (a->is_complex && t != DJ_TYPE_FLOAT32 && t != DJ_TYPE_FLOAT64)
		return dj_err_set(err, DJ_ENOTSUP, "npy: complex %s arrays have no npy dtype",
				  dj_type_name(t) ? dj_type_name(t) : "?");
	if (t == DJ_TYPE_BOOL)
		snprintf(buf, n, "|b1");
	else if (t == DJ_TYPE_FLOAT64 || t == DJ_TYPE_FLOAT32)
		snprintf(buf, n, "<%c%zu", a->is_complex ? 'c' : 'f', *comp * (a->is_complex ? 2 : 1));
	else if (t >= DJ_TYPE_INT8 && t <= DJ_TYPE_UINT64)
		snprintf(buf, n, "%s", ints[t - DJ_TYPE_INT8]);
	else if (t >= DJ_TYPE_DATETIME64 && t <= DJ_TYPE_DATETIME64_LAST)
		snprintf(buf, n, "<M8[%s]", dt_units[t - DJ_TYPE_DATETIME64]);
	else
		return dj_err_set(err, DJ_ENOTSUP, "npy: %s arrays cannot be stored as .npy",
				  t == DJ_TYPE_CHAR ? "char" : t == DJ_TYPE_OBJECT ? "object" : "unknown");
	return 0;
}

/* More than one dimension above 1 and no empty one: numpy's F- but not C-contiguous case. */
static bool needs_order(size_t ndim, const uint64_t *shape, size_t count)
{
	size_t big = 0;
	for (size_t i = 0; i < ndim; i++)
		big += shape[i] > 1;
	return count > 0 && big >= 2;
}

int dj_npy_from_array(dj_npy *out, const dj_array *a, dj_err *err)
{
	char descr[32];
	size_t comp;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = type_descr(a, descr, sizeof(descr), &comp, err)) < 0)
		return rc;
	if (a->data_len != a->count * comp * (a->is_complex ? 2 : 1))
		return dj_err_set(err, DJ_EUSAGE, "npy: array data length does not match its shape");
	out->descr = strdup(descr);
	out->shape = a->ndim ? malloc(a->ndim * sizeof(*out->shape)) : NULL;
	if (!out->descr || (a->ndim && !out->shape))
		return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	if (a->ndim)
		memcpy(out->shape, a->shape, a->ndim * sizeof(*out->shape));
	out->ndim = a->ndim;
	out->count = a->count;
	out->itemsize = comp * (a->is_complex ? 2 : 1);
	/* Python's reader returns reshape(shape, order="F"); np.save writes it column-major with
	 * fortran_order True unless it is also C-contiguous (at most one dimension above 1) */
	out->fortran_order = needs_order(a->ndim, a->shape, a->count);
	if (!a->is_complex) {
		out->data.ptr = a->data;
		out->data.len = a->data_len;
		return 0;
	}
	if (a->data_len && !(out->own = malloc(a->data_len)))
		return dj_err_set(err, DJ_ENOMEM, "npy: out of memory");
	for (size_t i = 0; i < a->count; i++) {
		memcpy(out->own + 2 * i * comp, a->data + i * comp, comp);
		memcpy(out->own + (2 * i + 1) * comp, a->data + (a->count + i) * comp, comp);
	}
	out->data.ptr = out->own;
	out->data.len = a->data_len;
	return 0;
}

static int npy_type_id(const simple_dt *d, uint32_t *id, bool *cplx)
{
	static const char ints[] = "iuiuiuiu";
	bool mult;
	int u;
	*cplx = false;
	switch (d->kind) {
	case 'b':
		*id = DJ_TYPE_BOOL;
		return 0;
	case 'i':
	case 'u':
		for (uint32_t k = 0; k < 8; k++)
			if (ints[k] == d->kind && (size_t)1 << (k / 2) == d->n) {
				*id = DJ_TYPE_INT8 + k;
				return 0;
			}
		return -1;
	case 'c':
		*cplx = true;
		/* fall through */
	case 'f':
		if (d->itemsize == (*cplx ? 16u : 8u))
			*id = DJ_TYPE_FLOAT64;
		else if (d->itemsize == (*cplx ? 8u : 4u))
			*id = DJ_TYPE_FLOAT32;
		else
			return -1;
		return 0;
	case 'M':
		u = unit_index(d->unit, strlen(d->unit), &mult);
		if (u < 0 || mult)
			return -1;
		*id = DJ_TYPE_DATETIME64 + (uint32_t)u;
		return 0;
	default:
		return -1;
	}
}

static void put_comp(uint8_t *dst, const uint8_t *src, size_t comp, bool swap)
{
	if (!swap) {
		memcpy(dst, src, comp);
		return;
	}
	for (size_t i = 0; i < comp; i++)
		dst[i] = src[comp - 1 - i];
}

typedef struct fill_plan {
	size_t comp, count;
	bool cplx, swap;
} fill_plan;

static void put_elem(uint8_t *dst, const uint8_t *src, size_t di, const fill_plan *f)
{
	put_comp(dst + di * f->comp, src, f->comp, f->swap);
	if (f->cplx)
		put_comp(dst + (f->count + di) * f->comp, src + f->comp, f->comp, f->swap);
}

/* Walk the C-ordered source linearly; the column-major destination index follows an
 * odometer over the dimensions (last index fastest). */
static void fill_transposed(uint8_t *dst, const uint8_t *src, const dj_npy *a, const fill_plan *f)
{
	size_t idx[DJ_NPY_MAX_NDIM] = {0}, fstride[DJ_NPY_MAX_NDIM], di = 0;
	size_t step = f->comp * (f->cplx ? 2 : 1);
	for (size_t k = 0; k < a->ndim; k++)
		fstride[k] = k ? fstride[k - 1] * (size_t)a->shape[k - 1] : 1;
	for (size_t s = 0; s < a->count; s++) {
		put_elem(dst, src + s * step, di, f);
		for (size_t k = a->ndim; k-- > 0;) {
			di += fstride[k];
			if (++idx[k] < a->shape[k])
				break;
			di -= (size_t)a->shape[k] * fstride[k];
			idx[k] = 0;
		}
	}
}

int dj_npy_to_array(const dj_npy *a, dj_value **out, dj_err *err)
{
	simple_dt d;
	uint32_t id;
	fill_plan f;
	dj_value *v;
	int rc;
	*out = NULL;
	if (a->structured)
		return dj_err_set(err, DJ_ENOTSUP, "npy: structured dtype %.40s has no array form",
				  a->descr);
	if ((rc = simple_parse(a->descr, &d, err)) < 0)
		return rc;
	if (npy_type_id(&d, &id, &f.cplx) < 0)
		return dj_err_set(err, DJ_ENOTSUP, "npy: dtype '%s' has no blob array type", a->descr);
	if (a->data.len != a->count * d.itemsize)
		return dj_err_set(err, DJ_EUSAGE, "npy: data length does not match shape and dtype");
	if (!(v = dj_value_array(id, f.cplx, a->ndim, a->shape, err)))
		return err && err->code ? err->code : DJ_ENOMEM;
	f.comp = d.itemsize / (f.cplx ? 2 : 1);
	f.count = a->count;
	f.swap = d.bo == '>' && f.comp > 1;
	if (needs_order(a->ndim, a->shape, a->count) && !a->fortran_order)
		fill_transposed(v->u.arr.data, a->data.ptr, a, &f);
	else if (!f.cplx && !f.swap && a->data.len)
		memcpy(v->u.arr.data, a->data.ptr, a->data.len);
	else
		for (size_t i = 0; i < a->count; i++)
			put_elem(v->u.arr.data, a->data.ptr + i * d.itemsize, i, &f);
	*out = v;
	return 0;
}

/* ---- <npy@> metadata (§6.8) ---- */

int dj_npy_meta_build(dj_buf *out, const char *path, const char *store, const dj_npy *a,
		      dj_err *err)
{
	dj_buf dt = DJ_BUF_INIT;
	int rc;
	if (!path || !*path || !store || !*store)
		return dj_err_set(err, DJ_EUSAGE, "npy metadata: path and a resolved store are needed");
	if ((rc = dj_npy_dtype_name(&dt, a->descr, a->structured, err)) < 0)
		goto done;
	/* NpyCodec.encode's dict order: path, store, dtype, shape */
	if ((rc = dj_buf_adds(out, "{\"path\": ")) < 0 || (rc = dj_pyjson_strz(out, path, err)) < 0 ||
	    (rc = dj_buf_adds(out, ", \"store\": ")) < 0 ||
	    (rc = dj_pyjson_strz(out, store, err)) < 0 ||
	    (rc = dj_buf_adds(out, ", \"dtype\": ")) < 0 ||
	    (rc = dj_pyjson_str(out, dt.ptr, dt.len, err)) < 0 ||
	    (rc = dj_buf_adds(out, ", \"shape\": [")) < 0)
		goto done;
	for (size_t i = 0; i < a->ndim && rc == 0; i++)
		rc = dj_buf_addf(out, "%s%" PRIu64, i ? ", " : "", a->shape[i]);
	if (rc == 0)
		rc = dj_buf_adds(out, "]}");
done:
	dj_buf_dispose(&dt);
	if (rc < 0 && (!err || !err->code))
		rc = dj_err_set(err, DJ_ENOMEM, "npy metadata: out of memory");
	return rc;
}

static int meta_str(json_t *o, const char *k, bool required, char **out, dj_err *err)
{
	json_t *v = json_object_get(o, k);
	*out = NULL;
	if (!v || json_is_null(v))
		return required ? dj_err_set(err, DJ_EFORMAT, "npy metadata: missing \"%s\"", k) : 0;
	if (!json_is_string(v))
		return dj_err_set(err, DJ_EFORMAT, "npy metadata: \"%s\" is not a string", k);
	*out = strdup(json_string_value(v));
	return *out ? 0 : dj_err_set(err, DJ_ENOMEM, "npy metadata: out of memory");
}

static int meta_fill(dj_npy_meta *m, json_t *o, dj_err *err)
{
	json_t *sh = json_object_get(o, "shape"), *d;
	size_t i;
	int rc;
	if ((rc = meta_str(o, "path", true, &m->path, err)) < 0 ||
	    (rc = meta_str(o, "store", false, &m->store, err)) < 0 ||
	    (rc = meta_str(o, "dtype", true, &m->dtype, err)) < 0)
		return rc;
	if (!json_is_array(sh) || json_array_size(sh) > DJ_NPY_MAX_NDIM)
		return dj_err_set(err, DJ_EFORMAT, "npy metadata for '%s': bad \"shape\"", m->path);
	m->ndim = json_array_size(sh);
	if (m->ndim && !(m->shape = malloc(m->ndim * sizeof(*m->shape))))
		return dj_err_set(err, DJ_ENOMEM, "npy metadata: out of memory");
	json_array_foreach(sh, i, d) {
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return dj_err_set(err, DJ_EFORMAT, "npy metadata for '%s': bad \"shape\"", m->path);
		m->shape[i] = (uint64_t)json_integer_value(d);
	}
	return 0;
}

int dj_npy_meta_parse(dj_npy_meta *m, const char *json, size_t n, dj_err *err)
{
	json_error_t je;
	json_t *o;
	int rc;
	memset(m, 0, sizeof(*m));
	if (!(o = json_loadb(json, n, 0, &je)))
		return dj_err_set(err, DJ_EFORMAT, "npy metadata: bad JSON: %s", je.text);
	rc = json_is_object(o) ? meta_fill(m, o, err)
			       : dj_err_set(err, DJ_EFORMAT, "npy metadata: not a JSON object");
	json_decref(o);
	return rc;
}

void dj_npy_meta_dispose(dj_npy_meta *m)
{
	free(m->path);
	free(m->store);
	free(m->dtype);
	free(m->shape);
	memset(m, 0, sizeof(*m));
}
