/*
 * Tables as bytes (db/schema.h dj_tables_pack): a JSON array, one object per table, written
 * and read here only. JSON keeps the format readable in a debugger and lets a field be added
 * without breaking an older reader of the same build; it is not a stable interface.
 */
#include "db/schema.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *attr_pack(const dj_attr *a)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:b,s:b,s:b,s:b}", "name",
	                 str_or_null(a->name), "type", str_or_null(a->type), "sql_type",
	                 str_or_null(a->sql_type), "comment", str_or_null(a->comment), "dflt",
	                 str_or_null(a->dflt), "marker", str_or_null(a->marker), "kind",
	                 (int)a->kind, "nullable", a->nullable, "in_key", a->in_key, "hidden",
	                 a->hidden, "inherited", a->inherited);
}

static json_t *table_pack(const dj_table *t, const dj_table *const *all, size_t n)
{
	json_t *attrs = json_array(), *pk = json_array();
	int master = -1;
	for (size_t i = 0; t->master && i < n; i++)
		if (all[i] == t->master)
			master = (int)i;
	for (size_t i = 0; attrs && i < t->nattrs; i++)
		if (json_array_append_new(attrs, attr_pack(&t->attrs[i])) < 0) {
			json_decref(attrs);
			attrs = NULL;
		}
	for (size_t i = 0; pk && i < t->npk; i++)
		if (json_array_append_new(pk, json_integer((json_int_t)t->pk[i])) < 0) {
			json_decref(pk);
			pk = NULL;
		}
	if (!attrs || !pk) {
		json_decref(attrs);
		json_decref(pk);
		return NULL;
	}
	return json_pack("{s:o,s:o,s:o,s:o,s:i,s:i,s:o,s:o}", "schema", str_or_null(t->schema),
	                 "name", str_or_null(t->name), "class", str_or_null(t->class_name),
	                 "comment", str_or_null(t->comment), "tier", (int)t->tier, "master",
	                 master, "attrs", attrs, "pk", pk);
}

int dj_tables_pack(dj_buf *out, const dj_table *const *t, size_t n, dj_err *err)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, table_pack(t[i], t, n)) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	int rc = s && dj_buf_adds(out, s) == 0 ? 0 : nomem(err);
	free(s);
	return rc;
}

/* A string member: NULL for JSON null or absent; *fail on anything else or no memory. */
static char *member(json_t *o, const char *key, bool *fail)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return NULL;
	char *s = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
	if (!s)
		*fail = true;
	return s;
}

static int attr_unpack(json_t *o, const char *default_store, dj_attr *a, dj_err *err)
{
	bool fail = !json_is_object(o);
	memset(a, 0, sizeof(*a));
	a->name = member(o, "name", &fail);
	a->type = member(o, "type", &fail);
	a->sql_type = member(o, "sql_type", &fail);
	a->comment = member(o, "comment", &fail);
	a->dflt = member(o, "dflt", &fail);
	a->marker = member(o, "marker", &fail);
	a->kind = (dj_attr_kind)json_integer_value(json_object_get(o, "kind"));
	a->nullable = json_is_true(json_object_get(o, "nullable"));
	a->in_key = json_is_true(json_object_get(o, "in_key"));
	a->hidden = json_is_true(json_object_get(o, "hidden"));
	a->inherited = json_is_true(json_object_get(o, "inherited"));
	if (fail || !a->name || !a->type)
		return dj_err_set(err, DJ_EFORMAT, "table heading: a malformed attribute");
	if (a->kind == DJ_ATTR_CORE || a->kind == DJ_ATTR_CODEC) {
		dj_err e = DJ_ERR_INIT;
		if (dj_coltype_parse(a->type, strlen(a->type), default_store, &a->coltype, &e) < 0)
			return dj_err_set(err, DJ_EFORMAT, "table heading: attribute '%s': %s",
			                  a->name, e.msg);
	}
	return 0;
}

static int table_unpack(json_t *o, const char *default_store, dj_table *t, dj_err *err)
{
	bool fail = !json_is_object(o);
	json_t *attrs = json_object_get(o, "attrs"), *pk = json_object_get(o, "pk");
	t->schema = member(o, "schema", &fail);
	t->name = member(o, "name", &fail);
	t->class_name = member(o, "class", &fail);
	t->comment = member(o, "comment", &fail);
	t->tier = (dj_tier)json_integer_value(json_object_get(o, "tier"));
	if (fail || !t->schema || !t->name || !json_is_array(attrs) || !json_is_array(pk))
		return dj_err_set(err, DJ_EFORMAT, "table heading: a malformed table");
	size_t na = json_array_size(attrs), np = json_array_size(pk);
	t->attrs = calloc(na ? na : 1, sizeof(*t->attrs));
	t->pk = calloc(np ? np : 1, sizeof(*t->pk));
	if (!t->attrs || !t->pk)
		return nomem(err);
	for (size_t i = 0; i < na; i++) {
		int rc = attr_unpack(json_array_get(attrs, i), default_store, &t->attrs[i], err);
		t->nattrs = i + 1; /* cleared by dj_table_clear, also the failed one */
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < np; i++) {
		json_int_t k = json_integer_value(json_array_get(pk, i));
		if (k < 0 || (size_t)k >= na)
			return dj_err_set(err, DJ_EFORMAT, "table heading: a key index out of range");
		t->pk[i] = (size_t)k;
	}
	t->npk = np;
	return 0;
}

int dj_tables_unpack(const void *p, size_t len, const char *default_store, dj_table **out,
                     size_t *n, dj_err *err)
{
	json_error_t je;
	json_t *arr = json_loadb(p, len, 0, &je);
	*out = NULL;
	*n = 0;
	if (!json_is_array(arr)) {
		json_decref(arr);
		return dj_err_set(err, DJ_EFORMAT, "table heading: not a JSON array");
	}
	size_t cnt = json_array_size(arr);
	dj_table *t = calloc(cnt ? cnt : 1, sizeof(*t));
	int rc = t ? 0 : nomem(err);
	size_t done = 0;
	for (; rc == 0 && done < cnt; done++)
		rc = table_unpack(json_array_get(arr, done), default_store, &t[done], err);
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		json_int_t m = json_integer_value(json_object_get(json_array_get(arr, i), "master"));
		if (m >= (json_int_t)cnt)
			rc = dj_err_set(err, DJ_EFORMAT, "table heading: a master out of range");
		else if (m >= 0)
			t[i].master = &t[m];
	}
	json_decref(arr);
	if (rc < 0) {
		dj_tables_free(t, done);
		return rc;
	}
	*out = t;
	*n = cnt;
	return 0;
}

void dj_tables_free(dj_table *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		dj_table_clear(&t[i]);
	free(t);
}
