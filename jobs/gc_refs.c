/* gc's reference scan (database.md §7.2, jobs/gc.h): every column that can name an object in the
 * store, streamed from the server one row at a time. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/gc.h"

int dj_gc_refs_add_json(dj_gc_refset *set, const char *json, size_t n, const char *store,
                        dj_err *err)
{
	json_error_t je;
	dj_gc_ref fast;
	int rc = dj_gc__json_ref(json, n, &fast);
	if (rc == DJ_GC_JSON_NONE)
		return 0;
	if (rc == DJ_GC_JSON_REF) {
		if (fast.store_len != strlen(store) || memcmp(fast.store, store, fast.store_len))
			return 0;
		rc = dj_gc_refset_add(set, fast.path, fast.path_len, err);
		return rc < 0 ? rc : 1;
	}
	json_t *v = json_loadb(json, n, JSON_DECODE_ANY, &je);
	rc = 0;
	if (!v)
		return 0; /* unparsable: no reference, as the library */
	json_t *path = json_object_get(v, "path"), *st = json_object_get(v, "store");
	if (json_is_string(path) && json_is_string(st) && !strcmp(json_string_value(st), store)) {
		rc = dj_gc_refset_add(set, json_string_value(path), json_string_length(path), err);
		rc = rc < 0 ? rc : 1;
	}
	json_decref(v);
	return rc;
}

/* Which set a column feeds, NULL when it names no object. */
static dj_gc_refset *column_set(dj_gc_refs *r, const dj_attr *a)
{
	if (a->kind == DJ_ATTR_CODEC) {
		if (dj_coltype_column(&a->coltype) != DJ_COLUMN_JSON)
			return NULL;
		switch (dj_coltype_addressing(&a->coltype)) {
		case DJ_ADDR_HASH:
			return &r->hash;
		case DJ_ADDR_SCHEMA:
			return &r->schema;
		default:
			return NULL; /* <filepath@>: never collected, never scanned */
		}
	}
	/* DESIGN.md: any JSON column whose values carry path + store protects them */
	if (a->kind == DJ_ATTR_CORE && a->coltype.core == DJ_CORE_JSON)
		return &r->other;
	if ((a->kind == DJ_ATTR_UNKNOWN || a->kind == DJ_ATTR_NATIVE) && a->sql_type &&
	    (!strcmp(a->sql_type, "json") || !strcmp(a->sql_type, "jsonb") ||
	     !strcmp(a->sql_type, "longtext")))
		return &r->other;
	return NULL;
}

static int add_error(dj_gc_refs *r, const dj_table *t, const dj_attr *a, const char *msg)
{
	char **v = realloc(r->errors, (r->nerrors + 1) * sizeof(*v));
	if (!v)
		return DJ_ENOMEM;
	r->errors = v;
	size_t n = strlen(t->schema) + strlen(t->name) + strlen(a->name) + strlen(msg) + 40;
	if (!(v[r->nerrors] = malloc(n)))
		return DJ_ENOMEM;
	snprintf(v[r->nerrors++], n, "scan_references(%s.%s.%s): %s", t->schema, t->name, a->name,
	         msg);
	return 0;
}

static int scan_column(dj_db *db, const dj_table *t, const dj_attr *a, dj_gc_refset *set,
                       const char *store, dj_gc_refs *r, dj_err *err)
{
	dj_db_backend b = dj_db_backend_id(db);
	dj_buf sql = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	dj_err qerr = DJ_ERR_INIT;
	int rc = 0, more;
	if (dj_buf_adds(&sql, "SELECT ") < 0 || dj_db_quote_ident(b, &sql, a->name, &qerr) < 0 ||
	    dj_buf_adds(&sql, " FROM ") < 0 || dj_db_quote_ident(b, &sql, t->schema, &qerr) < 0 ||
	    dj_buf_addc(&sql, '.') < 0 || dj_db_quote_ident(b, &sql, t->name, &qerr) < 0 ||
	    dj_buf_adds(&sql, " WHERE ") < 0 || dj_db_quote_ident(b, &sql, a->name, &qerr) < 0 ||
	    dj_buf_adds(&sql, " IS NOT NULL") < 0) {
		dj_buf_dispose(&sql);
		if (qerr.code)
			return add_error(r, t, a, qerr.msg);
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	}
	r->columns++;
	if (dj_db_query(db, sql.ptr, NULL, 0, &rows, &qerr) < 0) {
		dj_buf_dispose(&sql);
		return add_error(r, t, a, qerr.msg) < 0 ? dj_err_set(err, DJ_ENOMEM, "gc: oom") : 0;
	}
	while ((more = dj_db_rows_next(rows, &qerr)) == 1) {
		dj_bytes v = dj_db_rows_value(rows, 0);
		r->rows++;
		if (dj_db_rows_isnull(rows, 0) || !v.len)
			continue;
		if ((rc = dj_gc_refs_add_json(set, (const char *)v.ptr, v.len, store, err)) < 0)
			break;
	}
	dj_db_rows_free(rows);
	dj_buf_dispose(&sql);
	if (rc < 0)
		return rc;
	if (more < 0 && add_error(r, t, a, qerr.msg) < 0)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	return 0;
}

int dj_gc_scan_refs(dj_db *db, const dj_schema *schemas, size_t nschemas, const char *store,
                    bool dirty, dj_gc_refs *out, dj_err *err)
{
	int rc = 0;
	bool mysql = dj_db_backend_id(db) == DJ_DB_MYSQL;
	memset(out, 0, sizeof(*out));
	if (dirty && mysql &&
	    (rc = dj_db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", NULL,
	                     0, err)) < 0)
		return rc;
	for (size_t s = 0; rc == 0 && s < nschemas; s++)
		for (size_t i = 0; rc == 0 && i < schemas[s].ntables; i++) {
			const dj_table *t = &schemas[s].tables[i];
			for (size_t k = 0; rc == 0 && k < t->nattrs; k++) {
				dj_gc_refset *set = column_set(out, &t->attrs[k]);
				if (set)
					rc = scan_column(db, t, &t->attrs[k], set, store, out, err);
			}
		}
	if (dirty && mysql) {
		dj_err e2 = DJ_ERR_INIT;
		int r2 = dj_db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		                    NULL, 0, &e2);
		if (rc == 0 && r2 < 0)
			rc = r2, *err = e2;
	}
	return rc;
}

void dj_gc_refs_free(dj_gc_refs *r)
{
	dj_gc_refset_free(&r->hash);
	dj_gc_refset_free(&r->schema);
	dj_gc_refset_free(&r->other);
	for (size_t i = 0; i < r->nerrors; i++)
		free(r->errors[i]);
	free(r->errors);
	memset(r, 0, sizeof(*r));
}

bool dj_gc_refs_live(const dj_gc_refs *r, char section, const char *path, size_t n)
{
	if (section == 'H')
		return dj_gc_refset_has(&r->hash, path, n) || dj_gc_refset_has(&r->other, path, n);
	return dj_gc_covered(&r->schema, path, n) || dj_gc_covered(&r->other, path, n);
}
