/*
 * populate's values (jobs/populate_internal.h): key values read from the database text or
 * from the key JSON the make saw, and the make's JSON output values, as cells for the row
 * layer. Rank 0 builds rows from them; workers build the store-backed cells they write.
 */
#include "jobs/populate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

/* "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" -> a datetime value (date only: time -1). */
static dj_value *datetime_of(const char *s, bool with_time)
{
	int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
	long us = 0;
	if (sscanf(s, "%d-%d-%d", &y, &mo, &d) != 3)
		return NULL;
	if (!with_time)
		return dj_value_datetime(y * 10000 + mo * 100 + d, -1);
	const char *t = strpbrk(s, " T");
	if (t && sscanf(t + 1, "%d:%d:%d", &h, &mi, &sec) != 3)
		return NULL;
	const char *dot = t ? strchr(t, '.') : NULL;
	if (dot) { /* the fraction as microseconds, whatever its digits */
		char frac[7] = "000000";
		for (int i = 0; i < 6 && dot[1 + i] >= '0' && dot[1 + i] <= '9'; i++)
			frac[i] = dot[1 + i];
		us = strtol(frac, NULL, 10);
	}
	return dj_value_datetime(y * 10000 + mo * 100 + d,
	                         (int64_t)h * 10000000000LL + (int64_t)mi * 100000000LL +
	                             (int64_t)sec * 1000000LL + us);
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (or 32 hex digits) -> 16 bytes. */
static bool uuid_parse(const char *s, size_t n, uint8_t out[16])
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < 32; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (c == '-')
			continue;
		if (v < 0)
			return false;
		out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
		k++;
	}
	return k == 32;
}

int dj_populate_key_value(const dj_keys *k, size_t row, size_t col, const dj_attr *a,
                          dj_value **out, dj_err *err)
{
	const char *v = k->vals[row * k->ncols + col];
	size_t n = k->lens[row * k->ncols + col];
	dj_db_type ty = k->types ? k->types[col] : DJ_DB_T_TEXT;
	uint8_t u[16];
	*out = NULL;
	if (!v)
		*out = dj_value_none();
	else if (a && !strcmp(a->type, "uuid") && n == 16 && ty == DJ_DB_T_BYTES)
		*out = dj_value_uuid((const uint8_t *)v);
	else if (ty == DJ_DB_T_UUID || (a && !strcmp(a->type, "uuid")))
		*out = uuid_parse(v, n, u) ? dj_value_uuid(u) : NULL;
	else if (ty == DJ_DB_T_BOOL) /* PostgreSQL sends 't' / 'f' */
		*out = dj_value_bool(v[0] == 't' || v[0] == '1');
	else if (ty == DJ_DB_T_INT)
		*out = dj_value_int64(strtoll(v, NULL, 10));
	else if (ty == DJ_DB_T_FLOAT)
		*out = dj_value_float(strtod(v, NULL));
	else if (ty == DJ_DB_T_DECIMAL)
		*out = dj_value_decimal(v, n);
	else if (ty == DJ_DB_T_DATE || ty == DJ_DB_T_DATETIME)
		*out = datetime_of(v, ty == DJ_DB_T_DATETIME);
	else if (ty == DJ_DB_T_BYTES)
		*out = dj_value_bytes(v, n);
	else
		*out = dj_value_str(v, n);
	if (!*out)
		return dj_err_set(err, DJ_EFORMAT, "key column '%s': cannot read the value '%.*s'",
		                  k->cols[col], (int)(n > 64 ? 64 : n), v);
	return 0;
}

/* Path(name).suffix: from the last dot, "" without one (or for a leading dot only). */
static const char *suffix(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot && dot > name && dot[1] ? dot : "";
}

/*
 * A {"file": f} output ({"file_off", "file_len", "file_name"} in the result): its bytes for an
 * <attach>/<attach@> (with its name), <object@> (with its suffix as the extension, as Python
 * records a file path's), <hash@> or bytes column.
 */
static int file_cell(const dj_table *t, const dj_attr *a, json_t *v, const unsigned char *data,
                     size_t dlen, const char *key, dj_cell *c, dj_err *err)
{
	json_int_t off = json_integer_value(json_object_get(v, "file_off"));
	json_int_t len = json_integer_value(json_object_get(v, "file_len"));
	const char *name = json_string_value(json_object_get(v, "file_name"));
	int id = a->kind == DJ_ATTR_CODEC ? (int)a->coltype.codec->id : -1;
	bool bytes = a->kind == DJ_ATTR_NATIVE || (a->kind == DJ_ATTR_CORE &&
	                                           a->coltype.core == DJ_CORE_BYTES);
	if (!name || off < 0 || len < 0 || (size_t)off > dlen || (size_t)len > dlen - (size_t)off)
		return dj_err_set(err, DJ_EFORMAT, "OutputError: %s %s.%s: bad file reference",
		                  t->name, key, a->name);
	if (id != DJ_CODEC_ATTACH && id != DJ_CODEC_OBJECT && id != DJ_CODEC_HASH && !bytes)
		return dj_err_set(err, DJ_EUSAGE,
		                  "OutputError: %s %s.%s: a {\"file\": ...} value goes to an "
		                  "<attach>, <object@>, <hash@> or bytes column, not %s",
		                  t->name, key, a->name, a->type);
	if (id == DJ_CODEC_ATTACH) {
		c->kind = DJ_CELL_ATTACH;
		if (!(c->name = strdup(name)) ||
		    dj_buf_add(&c->data, data + off, (size_t)len) < 0)
			return nomem(err);
		return 0;
	}
	if (id == DJ_CODEC_OBJECT && !(c->name = strdup(suffix(name))))
		return nomem(err);
	c->kind = DJ_CELL_VALUE;
	return (c->value = dj_value_bytes(data + off, (size_t)len)) ? 0 : nomem(err);
}

int dj_populate_json_cell(const dj_table *t, const dj_attr *a, json_t *v,
                          const unsigned char *data, size_t dlen, const char *key,
                          bool stored_ok, dj_cell *c, dj_err *err)
{
	c->kind = DJ_CELL_VALUE;
	if (json_is_null(v)) {
		c->kind = DJ_CELL_NULL;
		return 0;
	}
	json_t *stored = json_is_object(v) ? json_object_get(v, "stored") : NULL;
	if (stored && stored_ok && json_is_string(stored) && dj_attr_is_stored(a)) {
		c->kind = DJ_CELL_ENCODED;
		return dj_buf_add(&c->data, json_string_value(stored), json_string_length(stored)) < 0
		           ? nomem(err)
		           : 0;
	}
	if (json_is_object(v) && json_object_get(v, "file_off"))
		return file_cell(t, a, v, data, dlen, key, c, err);
	if (json_is_object(v)) {
		json_int_t off = json_integer_value(json_object_get(v, "npy_off"));
		json_int_t len = json_integer_value(json_object_get(v, "npy_len"));
		if (!json_object_get(v, "npy_off") || off < 0 || len < 0 || (size_t)off > dlen ||
		    (size_t)len > dlen - (size_t)off)
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: %s %s.%s: bad npy reference", t->name, key,
			                  a->name);
		if (a->kind == DJ_ATTR_CODEC && a->coltype.codec->id == DJ_CODEC_NPY) {
			c->kind = DJ_CELL_NPY;
			return dj_buf_add(&c->data, data + off, (size_t)len) < 0 ? nomem(err) : 0;
		}
		dj_npy npy = DJ_NPY_INIT;
		int rc = dj_npy_parse(&npy, data + off, (size_t)len, err);
		if (rc == 0)
			rc = dj_npy_to_array(&npy, &c->value, err);
		dj_npy_dispose(&npy);
		if (rc < 0)
			dj_err_context(err, "OutputError: %s %s.%s", t->name, key, a->name);
		return rc;
	}
	if (json_is_integer(v))
		c->value = dj_value_int64((int64_t)json_integer_value(v));
	else if (json_is_real(v))
		c->value = dj_value_float(json_real_value(v));
	else if (json_is_boolean(v))
		c->value = dj_value_bool(json_is_true(v));
	else if (json_is_string(v))
		c->value = dj_value_str(json_string_value(v), json_string_length(v));
	else
		return dj_err_set(err, DJ_EUSAGE,
		                  "OutputError: %s %s.%s: JSON arrays are not taken (write an .npy "
		                  "file and give {\"npy\": \"file.npy\"})",
		                  t->name, key, a->name);
	return c->value ? 0 : nomem(err);
}

int dj_populate_key_from_json(const dj_attr *a, json_t *v, dj_value **out, dj_err *err)
{
	bool core = a && a->kind == DJ_ATTR_CORE && !a->coltype.codec;
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t n = s ? json_string_length(v) : 0;
	uint8_t u[16];
	*out = NULL;
	if (json_is_null(v))
		*out = dj_value_none();
	else if (json_is_boolean(v))
		*out = dj_value_bool(json_is_true(v));
	else if (json_is_integer(v))
		*out = dj_value_int64((int64_t)json_integer_value(v));
	else if (json_is_real(v))
		*out = dj_value_float(json_real_value(v));
	else if (!s)
		return dj_err_set(err, DJ_EFORMAT, "key attribute '%s': not a scalar",
		                  a ? a->name : "?");
	else if (core && a->coltype.core == DJ_CORE_UUID)
		*out = uuid_parse(s, n, u) ? dj_value_uuid(u) : NULL;
	else if (core && (a->coltype.core == DJ_CORE_DATE || a->coltype.core == DJ_CORE_DATETIME))
		*out = datetime_of(s, a->coltype.core == DJ_CORE_DATETIME);
	else if (core && a->coltype.core == DJ_CORE_DECIMAL)
		*out = dj_value_decimal(s, n);
	else
		*out = dj_value_str(s, n);
	if (!*out)
		return dj_err_set(err, DJ_EFORMAT, "key attribute '%s': cannot read the value '%.*s'",
		                  a ? a->name : "?", (int)(n > 64 ? 64 : n), s ? s : "");
	return 0;
}
