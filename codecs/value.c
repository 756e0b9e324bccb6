/* The value tree (codecs/value.h): constructors, free, push, type table, equality. */
#include "codecs/value.h"

#include <stdlib.h>
#include <string.h>

/* --- type table (formats.md §2.4) ---------------------------------------------------------- */

static const char *const dt_units[] = {"Y", "M", "W", "D", "h", "m", "s",
				       "ms", "us", "ns", "ps", "fs", "as"};

static const struct {
	uint32_t id;
	uint8_t size;
	const char *name;
} type_table[] = {
	{DJ_TYPE_BOOL, 1, "bool"},     {DJ_TYPE_CHAR, 2, "S1"},       {DJ_TYPE_OBJECT, 0, "object"},
	{DJ_TYPE_FLOAT64, 8, "float64"}, {DJ_TYPE_FLOAT32, 4, "float32"}, {DJ_TYPE_INT8, 1, "int8"},
	{DJ_TYPE_UINT8, 1, "uint8"},   {DJ_TYPE_INT16, 2, "int16"},   {DJ_TYPE_UINT16, 2, "uint16"},
	{DJ_TYPE_INT32, 4, "int32"},   {DJ_TYPE_UINT32, 4, "uint32"}, {DJ_TYPE_INT64, 8, "int64"},
	{DJ_TYPE_UINT64, 8, "uint64"},
};

static bool is_datetime(uint32_t id)
{
	return id >= DJ_TYPE_DATETIME64 && id <= DJ_TYPE_DATETIME64_LAST;
}

size_t dj_type_itemsize(uint32_t type_id)
{
	if (is_datetime(type_id))
		return 8;
	for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
		if (type_table[i].id == type_id)
			return type_table[i].size;
	return 0;
}

const char *dj_type_name(uint32_t type_id)
{
	static const char *const dt_names[] = {
		"datetime64[Y]", "datetime64[M]", "datetime64[W]", "datetime64[D]", "datetime64[h]",
		"datetime64[m]", "datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]",
		"datetime64[ps]", "datetime64[fs]", "datetime64[as]"};
	if (is_datetime(type_id))
		return dt_names[type_id - DJ_TYPE_DATETIME64];
	for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
		if (type_table[i].id == type_id)
			return type_table[i].name;
	return NULL;
}

uint32_t dj_type_from_name(const char *name)
{
	size_t n;
	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
		if (strcmp(type_table[i].name, name) == 0)
			return type_table[i].id;
	if (strncmp(name, "datetime64[", 11) != 0)
		return 0;
	n = strlen(name + 11);
	for (uint32_t k = 0; k < sizeof dt_units / sizeof dt_units[0]; k++)
		if (n == strlen(dt_units[k]) + 1 && strncmp(name + 11, dt_units[k], n - 1) == 0 &&
		    name[11 + n - 1] == ']')
			return DJ_TYPE_DATETIME64 + k;
	return 0;
}

/* --- free ------------------------------------------------------------------------------------ */

static void free_list(dj_value **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		dj_value_free(v[i]);
	free(v);
}

static void free_names(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void dj_value_free(dj_value *v)
{
	if (!v)
		return;
	switch (v->kind) {
	case DJ_V_INT:
		free(v->u.i.bytes);
		break;
	case DJ_V_STR: case DJ_V_BYTES: case DJ_V_DECIMAL:
		free(v->u.s.p);
		break;
	case DJ_V_TUPLE: case DJ_V_LIST: case DJ_V_SET:
		free_list(v->u.seq.items, v->u.seq.n);
		break;
	case DJ_V_DICT:
		free_list(v->u.seq.items, 2 * v->u.seq.n);
		break;
	case DJ_V_ARRAY:
		free(v->u.arr.shape);
		free(v->u.arr.data);
		free_list(v->u.arr.objs, v->u.arr.objs ? v->u.arr.count : 0);
		break;
	case DJ_V_STRUCT:
		free(v->u.st.shape);
		free_names(v->u.st.fields, v->u.st.nfields);
		free_list(v->u.st.elems, v->u.st.elems ? v->u.st.count * v->u.st.nfields : 0);
		break;
	case DJ_V_CELL:
		free(v->u.cell.shape);
		free_list(v->u.cell.elems, v->u.cell.elems ? v->u.cell.count : 0);
		break;
	case DJ_V_RECORD:
		free_names(v->u.rec.fields, v->u.rec.nfields);
		free_list(v->u.rec.vals, v->u.rec.vals ? v->u.rec.nfields : 0);
		break;
	default:
		break;
	}
	free(v);
}

/* --- constructors ---------------------------------------------------------------------------- */

dj_value *dj_value_new(dj_vkind kind)
{
	dj_value *v = calloc(1, sizeof *v);
	if (v)
		v->kind = kind;
	return v;
}

dj_value *dj_value_none(void)
{
	return dj_value_new(DJ_V_NONE);
}

dj_value *dj_value_bool(bool b)
{
	dj_value *v = dj_value_new(DJ_V_BOOL);
	if (v)
		v->u.b = b;
	return v;
}

/* formats.md §2.9: k = bit_length(|v|) // 8 + 1, so -128 takes two bytes (80 FF). */
dj_value *dj_value_int64(int64_t x)
{
	uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
	uint64_t ux = (uint64_t)x;
	uint8_t le[9];
	size_t bits = 0, k;
	while (bits < 64 && (mag >> bits) != 0)
		bits++;
	k = bits / 8 + 1;
	for (size_t i = 0; i < k; i++)
		le[i] = i < 8 ? (uint8_t)(ux >> (8 * i)) : (x < 0 ? 0xFF : 0x00);
	return dj_value_int_bytes(le, k);
}

dj_value *dj_value_int_bytes(const uint8_t *le, size_t n)
{
	dj_value *v = dj_value_new(DJ_V_INT);
	if (!v || n == 0)
		return v;
	v->u.i.bytes = malloc(n);
	if (!v->u.i.bytes) {
		free(v);
		return NULL;
	}
	memcpy(v->u.i.bytes, le, n);
	v->u.i.n = n;
	return v;
}

dj_value *dj_value_float(double f)
{
	dj_value *v = dj_value_new(DJ_V_FLOAT);
	if (v)
		v->u.f = f;
	return v;
}

dj_value *dj_value_complex(double re, double im)
{
	dj_value *v = dj_value_new(DJ_V_COMPLEX);
	if (v) {
		v->u.c.re = re;
		v->u.c.im = im;
	}
	return v;
}

static dj_value *new_text(dj_vkind kind, const void *p, size_t n)
{
	dj_value *v;
	if (n == SIZE_MAX)
		return NULL;
	v = dj_value_new(kind);
	if (!v)
		return NULL;
	v->u.s.p = malloc(n + 1);
	if (!v->u.s.p) {
		free(v);
		return NULL;
	}
	if (n)
		memcpy(v->u.s.p, p, n);
	v->u.s.p[n] = '\0';
	v->u.s.n = n;
	return v;
}

dj_value *dj_value_str(const char *p, size_t n)
{
	return new_text(DJ_V_STR, p, n);
}

dj_value *dj_value_bytes(const void *p, size_t n)
{
	return new_text(DJ_V_BYTES, p, n);
}

dj_value *dj_value_decimal(const char *text, size_t n)
{
	return new_text(DJ_V_DECIMAL, text, n);
}

dj_value *dj_value_datetime(int32_t date, int64_t time)
{
	dj_value *v = dj_value_new(DJ_V_DATETIME);
	if (v) {
		v->u.dt.date = date;
		v->u.dt.time = time;
	}
	return v;
}

dj_value *dj_value_uuid(const uint8_t bytes[16])
{
	dj_value *v = dj_value_new(DJ_V_UUID);
	if (v)
		memcpy(v->u.uuid, bytes, 16);
	return v;
}

/* Product of a shape; 0 if any dimension is 0 (numpy's prod), -1 on overflow. */
static int shape_count(size_t ndim, const uint64_t *shape, size_t *count)
{
	size_t c = 1;
	for (size_t i = 0; i < ndim; i++)
		if (shape[i] == 0) {
			*count = 0;
			return 0;
		}
	for (size_t i = 0; i < ndim; i++) {
		if (shape[i] > SIZE_MAX || c > SIZE_MAX / (size_t)shape[i])
			return -1;
		c *= (size_t)shape[i];
	}
	*count = c;
	return 0;
}

static int array_alloc(dj_array *a, size_t ndim, const uint64_t *shape, size_t itemsize, dj_err *err)
{
	size_t per = itemsize * (a->is_complex ? 2 : 1);
	if (ndim > SIZE_MAX / sizeof(uint64_t) || shape_count(ndim, shape, &a->count) < 0)
		return dj_err_set(err, DJ_EFORMAT, "array shape overflows");
	if (ndim) {
		a->shape = malloc(ndim * sizeof(uint64_t));
		if (!a->shape)
			return dj_err_set(err, DJ_ENOMEM, "out of memory for array shape");
		memcpy(a->shape, shape, ndim * sizeof(uint64_t));
	}
	a->ndim = ndim;
	if (a->type_id == DJ_TYPE_OBJECT) {
		if (a->count && !(a->objs = calloc(a->count, sizeof(dj_value *))))
			return dj_err_set(err, DJ_ENOMEM, "out of memory for %zu array elements", a->count);
		return 0;
	}
	if (a->count > SIZE_MAX / per)
		return dj_err_set(err, DJ_EFORMAT, "array data size overflows");
	a->data_len = a->count * per;
	if (a->data_len && !(a->data = calloc(1, a->data_len)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory for %zu bytes of array data", a->data_len);
	return 0;
}

/*
 * Also accepts DJ_TYPE_OBJECT (an extension of the header's contract): then `objs` holds
 * `count` NULL slots for the caller to fill and `data` stays NULL.
 */
dj_value *dj_value_array(uint32_t type_id, bool is_complex, size_t ndim, const uint64_t *shape,
			 dj_err *err)
{
	dj_value *v;
	if (!dj_type_name(type_id)) {
		dj_err_set(err, DJ_EFORMAT, "unknown array type id %u", (unsigned)type_id);
		return NULL;
	}
	v = dj_value_new(DJ_V_ARRAY);
	if (!v) {
		dj_err_set(err, DJ_ENOMEM, "out of memory");
		return NULL;
	}
	v->u.arr.type_id = type_id;
	v->u.arr.is_complex = is_complex;
	if (array_alloc(&v->u.arr, ndim, shape, dj_type_itemsize(type_id), err) < 0) {
		dj_value_free(v);
		return NULL;
	}
	return v;
}

/* --- push: capacity is implicit, max(4, next power of two >= n), so no cap field --------- */

static int grow_items(dj_value ***items, size_t n, size_t per)
{
	size_t ncap;
	dj_value **p;
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0; /* room left */
	ncap = n ? 2 * n : 4;
	if (ncap > SIZE_MAX / per / sizeof(dj_value *))
		return DJ_ENOMEM;
	p = realloc(*items, ncap * per * sizeof(dj_value *));
	if (!p)
		return DJ_ENOMEM;
	*items = p;
	return 0;
}

int dj_value_seq_push(dj_value *seq, dj_value *item)
{
	if (!seq || !item || (seq->kind != DJ_V_TUPLE && seq->kind != DJ_V_LIST && seq->kind != DJ_V_SET)) {
		dj_value_free(item);
		return DJ_EUSAGE;
	}
	if (grow_items(&seq->u.seq.items, seq->u.seq.n, 1) < 0) {
		dj_value_free(item);
		return DJ_ENOMEM;
	}
	seq->u.seq.items[seq->u.seq.n++] = item;
	return 0;
}

int dj_value_dict_push(dj_value *dict, dj_value *key, dj_value *val)
{
	int rc = 0;
	if (!dict || !key || !val || dict->kind != DJ_V_DICT)
		rc = DJ_EUSAGE;
	else if (grow_items(&dict->u.seq.items, dict->u.seq.n, 2) < 0)
		rc = DJ_ENOMEM;
	if (rc < 0) {
		dj_value_free(key);
		dj_value_free(val);
		return rc;
	}
	dict->u.seq.items[2 * dict->u.seq.n] = key;
	dict->u.seq.items[2 * dict->u.seq.n + 1] = val;
	dict->u.seq.n++;
	return 0;
}

/* --- int64 view ------------------------------------------------------------------------------ */

int dj_value_get_int64(const dj_value *v, int64_t *out)
{
	const uint8_t *b;
	size_t n;
	uint64_t u = 0;
	uint8_t ext;
	if (!v || v->kind != DJ_V_INT)
		return DJ_EUSAGE;
	b = v->u.i.bytes;
	n = v->u.i.n;
	if (n == 0) { /* formats.md §2.9: k = 0 means 0 */
		*out = 0;
		return 0;
	}
	ext = (b[n - 1] & 0x80) ? 0xFF : 0x00;
	for (size_t i = 8; i < n; i++)
		if (b[i] != ext)
			return DJ_ENOTSUP;
	if (n > 8 && ((b[7] & 0x80) ? 0xFF : 0x00) != ext)
		return DJ_ENOTSUP;
	for (size_t i = 0; i < 8; i++)
		u |= (uint64_t)(i < n ? b[i] : ext) << (8 * i);
	memcpy(out, &u, sizeof u); /* two's complement reinterpretation without UB */
	return 0;
}

/* --- equality -------------------------------------------------------------------------------- */

static bool list_equal(dj_value *const *a, dj_value *const *b, size_t n)
{
	if (n && (!a || !b))
		return a == b;
	for (size_t i = 0; i < n; i++)
		if (!dj_value_equal(a[i], b[i]))
			return false;
	return true;
}

static bool names_equal(char *const *a, char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool shape_equal(size_t na, const uint64_t *a, size_t nb, const uint64_t *b)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static bool array_equal(const dj_array *a, const dj_array *b)
{
	if (a->type_id != b->type_id || a->is_complex != b->is_complex || a->count != b->count ||
	    !shape_equal(a->ndim, a->shape, b->ndim, b->shape))
		return false;
	if (a->type_id == DJ_TYPE_OBJECT)
		return list_equal(a->objs, b->objs, a->count);
	return a->data_len == b->data_len && (a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0);
}

static bool compound_equal(const dj_value *a, const dj_value *b)
{
	switch (a->kind) {
	case DJ_V_TUPLE: case DJ_V_LIST: case DJ_V_SET:
		return a->u.seq.n == b->u.seq.n && list_equal(a->u.seq.items, b->u.seq.items, a->u.seq.n);
	case DJ_V_DICT:
		return a->u.seq.n == b->u.seq.n && list_equal(a->u.seq.items, b->u.seq.items, 2 * a->u.seq.n);
	case DJ_V_ARRAY:
		return array_equal(&a->u.arr, &b->u.arr);
	case DJ_V_STRUCT:
		return shape_equal(a->u.st.ndim, a->u.st.shape, b->u.st.ndim, b->u.st.shape) &&
		       a->u.st.count == b->u.st.count && a->u.st.nfields == b->u.st.nfields &&
		       names_equal(a->u.st.fields, b->u.st.fields, a->u.st.nfields) &&
		       list_equal(a->u.st.elems, b->u.st.elems, a->u.st.count * a->u.st.nfields);
	case DJ_V_CELL:
		return shape_equal(a->u.cell.ndim, a->u.cell.shape, b->u.cell.ndim, b->u.cell.shape) &&
		       a->u.cell.count == b->u.cell.count &&
		       list_equal(a->u.cell.elems, b->u.cell.elems, a->u.cell.count);
	case DJ_V_RECORD:
		return a->u.rec.nfields == b->u.rec.nfields &&
		       names_equal(a->u.rec.fields, b->u.rec.fields, a->u.rec.nfields) &&
		       list_equal(a->u.rec.vals, b->u.rec.vals, a->u.rec.nfields);
	default:
		return false;
	}
}

bool dj_value_equal(const dj_value *a, const dj_value *b)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case DJ_V_NONE:
		return true;
	case DJ_V_BOOL:
		return a->u.b == b->u.b;
	case DJ_V_INT:
		return a->u.i.n == b->u.i.n && (a->u.i.n == 0 || memcmp(a->u.i.bytes, b->u.i.bytes, a->u.i.n) == 0);
	case DJ_V_FLOAT: /* bit equality: NaN payloads and -0.0 matter (formats.md §2.13) */
		return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
	case DJ_V_COMPLEX:
		return memcmp(&a->u.c.re, &b->u.c.re, sizeof(double)) == 0 &&
		       memcmp(&a->u.c.im, &b->u.c.im, sizeof(double)) == 0;
	case DJ_V_STR: case DJ_V_BYTES: case DJ_V_DECIMAL:
		return a->u.s.n == b->u.s.n && (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
	case DJ_V_DATETIME:
		return a->u.dt.date == b->u.dt.date && a->u.dt.time == b->u.dt.time;
	case DJ_V_UUID:
		return memcmp(a->u.uuid, b->u.uuid, 16) == 0;
	default:
		return compound_equal(a, b);
	}
}
