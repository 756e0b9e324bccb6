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

/* The columns of one table that can name objects, each with the set it feeds. */
typedef struct refcol {
	const dj_attr *a;
	dj_gc_refset *set;
} refcol;

/*
 * How a primary-key value is written back into the next page's condition: 1 as a text literal,
 * 2 as a bytes literal, 0 when its text may not compare exactly as the server orders it (float
 * text is rounded; a MySQL enum orders by its index but compares as text): the table is then
 * read in one streamed statement, since a page boundary read inexactly could skip rows.
 */
static int key_literal_kind(dj_db_backend b, const dj_attr *a)
{
	static const char *const text[] = {"tinyint", "smallint", "mediumint", "int", "integer",
	                                   "bigint", "varchar", "char", "character", "date",
	                                   "datetime", "timestamp", "timestamptz", "decimal",
	                                   "numeric", "bool", "boolean", NULL};
	const char *t = a->sql_type;
	size_t n = 0;
	if (!t)
		return 0;
	while (t[n] >= 'a' && t[n] <= 'z')
		n++;
	if (t[n] && t[n] != ' ' && t[n] != '(')
		return 0;
	if ((n == 6 && !memcmp(t, "binary", 6)) || (n == 9 && !memcmp(t, "varbinary", 9)) ||
	    (n == 5 && !memcmp(t, "bytea", 5)))
		return 2;
	if (b == DJ_DB_POSTGRESQL && n == 4 && !memcmp(t, "uuid", 4))
		return 1;
	if (strstr(t, "with time zone") && b == DJ_DB_MYSQL)
		return 0;
	for (size_t i = 0; text[i]; i++)
		if (strlen(text[i]) == n && !memcmp(t, text[i], n))
			return 1;
	return 0;
}

typedef struct table_scan {
	dj_db *db;
	dj_db_backend b;
	const dj_table *t;
	refcol *cols;
	size_t ncols;
	const dj_attr **keys; /* primary key, in table order; nkeys 0 = one streamed statement */
	size_t nkeys;
	const char *store;
	dj_gc_refs *r;
} table_scan;

static int add_error(dj_gc_refs *r, const dj_table *t, const refcol *c, size_t nc, const char *msg)
{
	dj_buf b = DJ_BUF_INIT;
	char **v = realloc(r->errors, (r->nerrors + 1) * sizeof(*v));
	if (!v)
		return DJ_ENOMEM;
	r->errors = v;
	int rc = dj_buf_addf(&b, "scan_references(%s.%s.", t->schema, t->name);
	for (size_t i = 0; rc == 0 && i < nc; i++)
		rc = dj_buf_addf(&b, "%s%s", i ? "," : "", c[i].a->name);
	if (rc < 0 || dj_buf_addf(&b, "): %s", msg) < 0 || !(v[r->nerrors] = dj_buf_take(&b, NULL))) {
		dj_buf_dispose(&b);
		return DJ_ENOMEM;
	}
	r->nerrors++;
	return 0;
}

static int quoted(dj_db_backend b, dj_buf *sql, const char *name, dj_err *qerr)
{
	return dj_db_quote_ident(b, sql, name, qerr);
}

/*
 * SELECT [keys,] cols FROM table WHERE (c1 IS NOT NULL OR ...) [AND after-last-key]
 * [ORDER BY keys LIMIT page]. After the last key: PostgreSQL compares the row (k1,...) >
 * (v1,...) on the index; MariaDB scans a row comparison from the start of the index, so it
 * gets the expanded form k1 > v1 OR (k1 = v1 AND k2 > v2) OR ..., which it reads as ranges.
 */
static int page_sql(const table_scan *ts, dj_buf *sql, const dj_buf *last, bool first,
                    size_t page, dj_err *qerr)
{
	dj_db_backend b = ts->b;
	int rc = dj_buf_adds(sql, "SELECT ");
	for (size_t i = 0; rc == 0 && i < ts->nkeys; i++)
		if ((rc = quoted(b, sql, ts->keys[i]->name, qerr)) == 0)
			rc = dj_buf_addc(sql, ',');
	for (size_t i = 0; rc == 0 && i < ts->ncols; i++)
		if ((rc = i ? dj_buf_addc(sql, ',') : 0) == 0)
			rc = quoted(b, sql, ts->cols[i].a->name, qerr);
	if (rc == 0 && (rc = dj_buf_adds(sql, " FROM ")) == 0 &&
	    (rc = quoted(b, sql, ts->t->schema, qerr)) == 0 && (rc = dj_buf_addc(sql, '.')) == 0 &&
	    (rc = quoted(b, sql, ts->t->name, qerr)) == 0)
		rc = dj_buf_adds(sql, " WHERE (");
	for (size_t i = 0; rc == 0 && i < ts->ncols; i++)
		if ((rc = dj_buf_adds(sql, i ? " OR " : "")) == 0 &&
		    (rc = quoted(b, sql, ts->cols[i].a->name, qerr)) == 0)
			rc = dj_buf_adds(sql, " IS NOT NULL");
	if (rc == 0)
		rc = dj_buf_addc(sql, ')');
	if (rc == 0 && !first && b == DJ_DB_POSTGRESQL) {
		rc = dj_buf_adds(sql, " AND (");
		for (size_t i = 0; rc == 0 && i < ts->nkeys; i++)
			if ((rc = dj_buf_adds(sql, i ? "," : "")) == 0)
				rc = quoted(b, sql, ts->keys[i]->name, qerr);
		if (rc == 0)
			rc = dj_buf_adds(sql, ") > (");
		for (size_t i = 0; rc == 0 && i < ts->nkeys; i++) {
			bool bytes = key_literal_kind(b, ts->keys[i]) == 2;
			if ((rc = dj_buf_adds(sql, i ? "," : "")) == 0)
				rc = bytes ? dj_db_quote_bytes(b, sql, last[i].ptr, last[i].len, qerr)
				           : dj_db_quote_text(b, sql, last[i].ptr, last[i].len, qerr);
		}
		if (rc == 0)
			rc = dj_buf_addc(sql, ')');
	} else if (rc == 0 && !first) {
		rc = dj_buf_adds(sql, " AND (");
		for (size_t i = 0; rc == 0 && i < ts->nkeys; i++) {
			rc = dj_buf_adds(sql, i ? " OR (" : "(");
			for (size_t k = 0; rc == 0 && k <= i; k++) {
				bool bytes = key_literal_kind(b, ts->keys[k]) == 2;
				if ((rc = dj_buf_adds(sql, k ? " AND " : "")) == 0 &&
				    (rc = quoted(b, sql, ts->keys[k]->name, qerr)) == 0 &&
				    (rc = dj_buf_adds(sql, k < i ? " = " : " > ")) == 0)
					rc = bytes ? dj_db_quote_bytes(b, sql, last[k].ptr, last[k].len,
					                               qerr)
					           : dj_db_quote_text(b, sql, last[k].ptr, last[k].len,
					                              qerr);
			}
			if (rc == 0)
				rc = dj_buf_addc(sql, ')');
		}
		if (rc == 0)
			rc = dj_buf_addc(sql, ')');
	}
	if (rc == 0 && ts->nkeys) {
		rc = dj_buf_adds(sql, " ORDER BY ");
		for (size_t i = 0; rc == 0 && i < ts->nkeys; i++)
			if ((rc = dj_buf_adds(sql, i ? "," : "")) == 0)
				rc = quoted(b, sql, ts->keys[i]->name, qerr);
		if (rc == 0)
			rc = dj_buf_addf(sql, " LIMIT %zu", page);
	}
	return rc;
}

/*
 * Read one table's reference columns: primary-key pages of `page` rows (keyset pagination: no
 * statement runs longer than a page, and nothing of a page is kept but its last key), or one
 * streamed statement when the key cannot be paged exactly. A failure adds to r->errors (and so
 * blocks deletion); only running out of memory returns < 0.
 */
static int scan_table(table_scan *ts, size_t page, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, *last = NULL;
	dj_db_rows *rows = NULL;
	dj_err qerr = DJ_ERR_INIT;
	bool first = true;
	int rc = 0, more;
	if (ts->nkeys && !(last = calloc(ts->nkeys, sizeof(*last))))
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	for (size_t i = 0; i < ts->nkeys; i++)
		last[i] = (dj_buf)DJ_BUF_INIT;
	ts->r->columns += ts->ncols;
	for (;;) {
		size_t got = 0;
		dj_buf_reset(&sql);
		if (page_sql(ts, &sql, last, first, page, &qerr) < 0) {
			if (!qerr.code)
				rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			else if (add_error(ts->r, ts->t, ts->cols, ts->ncols, qerr.msg) < 0)
				rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		if (dj_db_query(ts->db, sql.ptr, NULL, 0, &rows, &qerr) < 0) {
			if (add_error(ts->r, ts->t, ts->cols, ts->ncols, qerr.msg) < 0)
				rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		while (rc == 0 && (more = dj_db_rows_next(rows, &qerr)) == 1) {
			got++;
			ts->r->rows++;
			for (size_t i = 0; rc == 0 && i < ts->nkeys; i++) {
				dj_bytes v = dj_db_rows_value(rows, i);
				dj_buf_reset(&last[i]);
				if (dj_buf_add(&last[i], v.ptr, v.len) < 0)
					rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			}
			for (size_t c = 0; rc == 0 && c < ts->ncols; c++) {
				dj_bytes v = dj_db_rows_value(rows, ts->nkeys + c);
				if (dj_db_rows_isnull(rows, ts->nkeys + c) || !v.len)
					continue;
				if (dj_gc_refs_add_json(ts->cols[c].set, (const char *)v.ptr, v.len,
				                        ts->store, err) < 0)
					rc = DJ_ENOMEM;
			}
		}
		dj_db_rows_free(rows);
		rows = NULL;
		if (rc < 0)
			break;
		if (more < 0) {
			if (add_error(ts->r, ts->t, ts->cols, ts->ncols, qerr.msg) < 0)
				rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		if (!ts->nkeys || got < page)
			break;
		first = false;
	}
	for (size_t i = 0; i < ts->nkeys; i++)
		dj_buf_dispose(&last[i]);
	free(last);
	dj_buf_dispose(&sql);
	return rc;
}

static int scan_one(dj_db *db, const dj_table *t, const char *store, size_t page,
                    dj_gc_refs *out, dj_err *err)
{
	table_scan ts = {db, dj_db_backend_id(db), t, NULL, 0, NULL, 0, store, out};
	int rc = 0;
	ts.cols = calloc(t->nattrs + 1, sizeof(*ts.cols));
	ts.keys = calloc(t->nattrs + 1, sizeof(*ts.keys));
	if (!ts.cols || !ts.keys)
		rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	for (size_t k = 0; rc == 0 && k < t->nattrs; k++) {
		const dj_attr *a = &t->attrs[k];
		dj_gc_refset *set = column_set(out, a);
		if (set)
			ts.cols[ts.ncols++] = (refcol){a, set};
		if (a->in_key)
			ts.keys[ts.nkeys++] = a;
	}
	for (size_t k = 0; k < ts.nkeys; k++)
		if (!key_literal_kind(ts.b, ts.keys[k]))
			ts.nkeys = 0; /* read in one statement: see key_literal_kind */
	if (rc == 0 && ts.ncols)
		rc = scan_table(&ts, page ? page : DJ_GC_REF_PAGE, err);
	free(ts.cols), free(ts.keys);
	return rc;
}

int dj_gc_scan_refs(dj_db *db, const dj_schema *schemas, size_t nschemas, const char *store,
                    bool dirty, dj_gc_refs *out, dj_err *err)
{
	return dj_gc_scan_refs_paged(db, schemas, nschemas, store, dirty, 0, out, err);
}

int dj_gc_scan_refs_paged(dj_db *db, const dj_schema *schemas, size_t nschemas, const char *store,
                          bool dirty, size_t page, dj_gc_refs *out, dj_err *err)
{
	int rc = 0;
	bool mysql = dj_db_backend_id(db) == DJ_DB_MYSQL;
	memset(out, 0, sizeof(*out));
	if (dirty && mysql &&
	    (rc = dj_db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", NULL,
	                     0, err)) < 0)
		return rc;
	for (size_t s = 0; rc == 0 && s < nschemas; s++)
		for (size_t i = 0; rc == 0 && i < schemas[s].ntables; i++)
			rc = scan_one(db, &schemas[s].tables[i], store, page, out, err);
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
