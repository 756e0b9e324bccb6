/*
 * Lists of primary keys (jobs/keys.h).
 */
#include "jobs/keys.h"

#include <stdlib.h>
#include <string.h>

void dj_keys_init(dj_keys *k)
{
	memset(k, 0, sizeof(*k));
}

void dj_keys_dispose(dj_keys *k)
{
	for (size_t i = 0; i < k->ncols; i++)
		free(k->cols[i]);
	for (size_t i = 0; i < k->n * k->ncols; i++)
		free(k->vals[i]);
	free(k->cols);
	free(k->types);
	free(k->vals);
	free(k->lens);
	dj_keys_init(k);
}

int dj_keys_set_cols(dj_keys *k, const char *const *cols, const dj_db_type *types, size_t n,
                     dj_err *err)
{
	if (k->n || k->ncols)
		return dj_err_set(err, DJ_EUSAGE, "the key columns are already set");
	k->cols = calloc(n ? n : 1, sizeof(*k->cols));
	k->types = calloc(n ? n : 1, sizeof(*k->types));
	if (!k->cols || !k->types)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!(k->cols[i] = strdup(cols[i]))) {
			k->ncols = i;
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
		}
		k->types[i] = types ? types[i] : DJ_DB_T_TEXT;
	}
	k->ncols = n;
	return 0;
}

static int grow(dj_keys *k, dj_err *err)
{
	size_t cap = k->cap ? 2 * k->cap : 64;
	char **vals;
	size_t *lens;
	if (k->n < k->cap)
		return 0;
	vals = realloc(k->vals, cap * (k->ncols ? k->ncols : 1) * sizeof(*vals));
	if (vals)
		k->vals = vals;
	lens = vals ? realloc(k->lens, cap * (k->ncols ? k->ncols : 1) * sizeof(*lens)) : NULL;
	if (!vals || !lens)
		return dj_err_set(err, DJ_ENOMEM, "out of memory for %zu keys", cap);
	k->lens = lens;
	k->cap = cap;
	return 0;
}

int dj_keys_add(dj_keys *k, const char *const *vals, const size_t *lens, dj_err *err)
{
	size_t base = k->n * k->ncols;
	int rc = grow(k, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < k->ncols; i++) {
		size_t n = vals[i] ? (lens ? lens[i] : strlen(vals[i])) : 0;
		char *v = NULL;
		if (vals[i] && (v = malloc(n + 1))) {
			memcpy(v, vals[i], n);
			v[n] = '\0';
		}
		if (vals[i] && !v) {
			while (i-- > 0)
				free(k->vals[base + i]);
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
		}
		k->vals[base + i] = v;
		k->lens[base + i] = n;
	}
	k->n++;
	return 0;
}

int dj_keys_add_from(dj_keys *k, const dj_keys *from, size_t row, dj_err *err)
{
	const char *vals[64];
	size_t lens[64];
	if (k->ncols > 64)
		return dj_err_set(err, DJ_EUSAGE, "a key of %zu columns is too wide", k->ncols);
	for (size_t i = 0; i < k->ncols; i++) {
		int c = dj_keys_col(from, k->cols[i]);
		if (c < 0)
			return dj_err_set(err, DJ_EUSAGE, "the key lacks attribute '%s'", k->cols[i]);
		vals[i] = from->vals[row * from->ncols + (size_t)c];
		lens[i] = from->lens[row * from->ncols + (size_t)c];
	}
	return dj_keys_add(k, vals, lens, err);
}

static int take_columns(dj_keys *k, dj_db_rows *r, dj_err *err)
{
	size_t n = dj_db_rows_nfields(r);
	const char *names[64];
	dj_db_type types[64];
	if (n > 64)
		return dj_err_set(err, DJ_EUSAGE, "a key of %zu columns is too wide", n);
	for (size_t i = 0; i < n; i++) {
		names[i] = dj_db_rows_name(r, i);
		types[i] = dj_db_rows_type(r, i);
	}
	return dj_keys_set_cols(k, names, types, n, err);
}

int dj_keys_query(dj_keys *k, dj_db *db, const char *sql, const dj_db_param *p, size_t np,
                  dj_err *err)
{
	dj_db_rows *r;
	const char *vals[64];
	size_t lens[64];
	int rc = dj_db_query(db, sql, p, np, &r, err);
	if (rc < 0)
		return rc;
	if (k->ncols == 0 && k->n == 0)
		rc = take_columns(k, r, err);
	else if (dj_db_rows_nfields(r) != k->ncols)
		rc = dj_err_set(err, DJ_EUSAGE, "a query for keys of %zu columns returned %zu",
		                k->ncols, dj_db_rows_nfields(r));
	while (rc == 0 && (rc = dj_db_rows_next(r, err)) == 1) {
		for (size_t i = 0; i < k->ncols; i++) {
			dj_bytes v = dj_db_rows_value(r, i);
			vals[i] = dj_db_rows_isnull(r, i) ? NULL : (const char *)v.ptr;
			lens[i] = v.len;
		}
		rc = dj_keys_add(k, vals, lens, err);
	}
	dj_db_rows_free(r);
	return rc < 0 ? rc : 0;
}

int dj_keys_col(const dj_keys *k, const char *name)
{
	for (size_t i = 0; i < k->ncols; i++)
		if (!strcmp(k->cols[i], name))
			return (int)i;
	return -1;
}

bool dj_keys_equal(const dj_keys *a, size_t ra, const dj_keys *b, size_t rb)
{
	if (a->ncols != b->ncols)
		return false;
	for (size_t c = 0; c < a->ncols; c++) {
		const char *x = a->vals[ra * a->ncols + c], *y = b->vals[rb * b->ncols + c];
		size_t n = a->lens[ra * a->ncols + c];
		if (!x || !y ? x != y : n != b->lens[rb * b->ncols + c] || memcmp(x, y, n))
			return false;
	}
	return true;
}

dj_db_param dj_keys_param(const dj_keys *k, size_t row, size_t col)
{
	const char *v = k->vals[row * k->ncols + col];
	size_t n = k->lens[row * k->ncols + col];
	if (!v)
		return dj_db_null();
	return k->types[col] == DJ_DB_T_BYTES ? dj_db_bytes(v, n) : dj_db_textn(v, n);
}

int dj_keys_text(dj_buf *out, const dj_keys *k, size_t row)
{
	static const char hex[] = "0123456789abcdef";
	int rc = dj_buf_addc(out, '{');
	for (size_t i = 0; rc == 0 && i < k->ncols; i++) {
		const char *v = k->vals[row * k->ncols + i];
		size_t n = k->lens[row * k->ncols + i];
		rc = dj_buf_addf(out, "%s%s=", i ? ", " : "", k->cols[i]);
		if (rc < 0)
			break;
		if (!v) {
			rc = dj_buf_adds(out, "NULL");
		} else if (k->types[i] == DJ_DB_T_BYTES) {
			rc = dj_buf_adds(out, "X'");
			for (size_t j = 0; rc == 0 && j < n; j++)
				if ((rc = dj_buf_addc(out, hex[(uint8_t)v[j] >> 4])) == 0)
					rc = dj_buf_addc(out, hex[(uint8_t)v[j] & 15]);
			if (rc == 0)
				rc = dj_buf_addc(out, '\'');
		} else if (k->types[i] == DJ_DB_T_INT || k->types[i] == DJ_DB_T_FLOAT ||
		           k->types[i] == DJ_DB_T_DECIMAL) {
			rc = dj_buf_add(out, v, n);
		} else {
			rc = dj_buf_addf(out, "'%.*s'", (int)n, v);
		}
	}
	return rc == 0 ? dj_buf_addc(out, '}') : rc;
}
