/*
 * Fetching rows of one table with their values decoded on demand (jobs/row.h).
 */
#include "jobs/row.h"

#include <stdlib.h>
#include <string.h>

struct dj_fetch {
	dj_db *db;
	dj_row_ctx *ctx;
	const dj_table *t;
	dj_db_rows *rows;
	const dj_attr **attrs; /* the selected attributes, in table order */
	size_t ncols;
	size_t *keycols; /* positions of the primary-key attributes among them */
	size_t nkey;
	dj_buf key; /* the current row's key text, built on demand */
	bool key_ok;
};

static int select_sql(dj_buf *sql, const dj_fetch *f, dj_db_backend b, const char *where,
                      int64_t limit, unsigned flags, dj_err *err)
{
	const dj_table *t = f->t;
	int rc = dj_buf_adds(sql, "SELECT ");
	for (size_t i = 0; rc == 0 && i < f->ncols; i++)
		if ((rc = i ? dj_buf_addc(sql, ',') : 0) == 0)
			rc = dj_db_quote_ident(b, sql, f->attrs[i]->name, err);
	if (rc == 0 && (rc = dj_buf_adds(sql, " FROM ")) == 0 &&
	    (rc = dj_db_quote_ident(b, sql, t->schema, err)) == 0 &&
	    (rc = dj_buf_addc(sql, '.')) == 0)
		rc = dj_db_quote_ident(b, sql, t->name, err);
	if (rc == 0 && where && *where)
		rc = dj_buf_addf(sql, " WHERE (%s)", where);
	if (rc == 0 && (flags & DJ_FETCH_ORDER_PK) && t->npk) {
		rc = dj_buf_adds(sql, " ORDER BY ");
		for (size_t k = 0; rc == 0 && k < t->npk; k++)
			if ((rc = k ? dj_buf_addc(sql, ',') : 0) == 0)
				rc = dj_db_quote_ident(b, sql, t->attrs[t->pk[k]].name, err);
	}
	if (rc == 0 && limit >= 0)
		rc = dj_buf_addf(sql, " LIMIT %lld", (long long)limit);
	return rc;
}

static int choose_columns(dj_fetch *f, unsigned flags, dj_err *err)
{
	const dj_table *t = f->t;
	f->attrs = calloc(t->nattrs ? t->nattrs : 1, sizeof(*f->attrs));
	f->keycols = calloc(t->npk ? t->npk : 1, sizeof(*f->keycols));
	if (!f->attrs || !f->keycols)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->nattrs; i++)
		if (!t->attrs[i].hidden || (flags & DJ_FETCH_HIDDEN))
			f->attrs[f->ncols++] = &t->attrs[i];
	for (size_t k = 0; k < t->npk; k++)
		for (size_t i = 0; i < f->ncols; i++)
			if (f->attrs[i] == &t->attrs[t->pk[k]])
				f->keycols[f->nkey++] = i;
	return 0;
}

int dj_fetch_open(dj_fetch **out, dj_db *db, dj_row_ctx *c, const dj_table *t, const char *where,
                  int64_t limit, unsigned flags, dj_err *err)
{
	dj_fetch *f = calloc(1, sizeof(*f));
	dj_buf sql = DJ_BUF_INIT;
	int rc;
	*out = NULL;
	if (!f)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	f->db = db;
	f->ctx = c;
	f->t = t;
	f->key = (dj_buf)DJ_BUF_INIT;
	if ((rc = choose_columns(f, flags, err)) == 0 &&
	    (rc = select_sql(&sql, f, dj_db_backend_id(db), where, limit, flags, err)) == 0)
		rc = dj_db_query(db, sql.ptr, NULL, 0, &f->rows, err);
	dj_buf_dispose(&sql);
	if (rc < 0) {
		if (rc == DJ_ENOMEM && err && !err->code)
			dj_err_set(err, rc, "out of memory");
		dj_err_context(err, "fetch %s.%s", t->schema, t->name);
		dj_fetch_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

int dj_fetch_next(dj_fetch *f, dj_err *err)
{
	int rc = dj_db_rows_next(f->rows, err);
	f->key_ok = false;
	if (rc < 0)
		dj_err_context(err, "fetch %s.%s", f->t->schema, f->t->name);
	return rc;
}

size_t dj_fetch_ncols(const dj_fetch *f)
{
	return f->ncols;
}

const dj_attr *dj_fetch_attr(const dj_fetch *f, size_t i)
{
	return f->attrs[i];
}

dj_bytes dj_fetch_raw(const dj_fetch *f, size_t i, bool *isnull)
{
	if (isnull)
		*isnull = dj_db_rows_isnull(f->rows, i);
	return dj_db_rows_value(f->rows, i);
}

dj_db_type dj_fetch_dbtype(const dj_fetch *f, size_t i)
{
	return dj_db_rows_type(f->rows, i);
}

/* One key value for messages: numbers bare, text quoted, bytes as X'..' (database.md §4.3). */
static int key_value(dj_buf *out, dj_db_type type, bool isnull, dj_bytes v)
{
	static const char hex[] = "0123456789abcdef";
	int rc = 0;
	if (isnull)
		return dj_buf_adds(out, "NULL");
	switch (type) {
	case DJ_DB_T_INT:
	case DJ_DB_T_FLOAT:
	case DJ_DB_T_DECIMAL:
	case DJ_DB_T_BOOL:
		return dj_buf_add(out, v.ptr, v.len);
	case DJ_DB_T_BYTES:
		rc = dj_buf_adds(out, "X'");
		for (size_t i = 0; rc == 0 && i < v.len && i < 32; i++)
			if ((rc = dj_buf_addc(out, hex[v.ptr[i] >> 4])) == 0)
				rc = dj_buf_addc(out, hex[v.ptr[i] & 15]);
		return rc == 0 ? dj_buf_addc(out, '\'') : rc;
	default:
		return dj_buf_addf(out, "'%.*s'", (int)(v.len > 64 ? 64 : v.len),
		                   (const char *)v.ptr);
	}
}

const char *dj_fetch_key(const dj_fetch *f)
{
	dj_fetch *m = (dj_fetch *)f; /* the text is a cache of the current row */
	int rc;
	if (f->key_ok)
		return f->key.ptr;
	dj_buf_reset(&m->key);
	rc = dj_buf_addc(&m->key, '{');
	for (size_t k = 0; rc == 0 && k < f->nkey; k++) {
		size_t i = f->keycols[k];
		bool isnull;
		dj_bytes v = dj_fetch_raw(f, i, &isnull);
		if ((rc = dj_buf_addf(&m->key, "%s%s=", k ? ", " : "", f->attrs[i]->name)) == 0)
			rc = key_value(&m->key, dj_fetch_dbtype(f, i), isnull, v);
	}
	if (rc == 0)
		rc = dj_buf_addc(&m->key, '}');
	m->key_ok = rc == 0;
	return rc == 0 ? f->key.ptr : "{?}";
}

int dj_fetch_cell(dj_fetch *f, size_t i, dj_cell *out, dj_err *err)
{
	bool isnull;
	dj_bytes raw = dj_fetch_raw(f, i, &isnull);
	return dj_row_decode(f->ctx, f->t, f->attrs[i], dj_fetch_dbtype(f, i), isnull, raw,
	                     dj_fetch_key(f), out, err);
}

void dj_fetch_close(dj_fetch *f)
{
	if (!f)
		return;
	dj_db_rows_free(f->rows);
	free(f->attrs);
	free(f->keycols);
	dj_buf_dispose(&f->key);
	free(f);
}
