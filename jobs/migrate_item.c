/* The bytes migrate items are made of, and the SQL pieces every migrate phase shares
 * (jobs/migrate.h). Fields are little-endian u32/u64 lengths followed by their bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/migrate.h"
#include "stores/paths.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

int dj_migrate__get_u32(dj_migrate__rd *r, uint32_t *v, dj_err *err)
{
	*v = 0;
	if (r->left < 4)
		return dj_err_set(err, DJ_EFORMAT, "migrate: truncated work item");
	for (int i = 3; i >= 0; i--)
		*v = (*v << 8) | r->p[i];
	r->p += 4, r->left -= 4;
	return 0;
}

int dj_migrate__get_u64(dj_migrate__rd *r, uint64_t *v, dj_err *err)
{
	*v = 0;
	if (r->left < 8)
		return dj_err_set(err, DJ_EFORMAT, "migrate: truncated work item");
	for (int i = 7; i >= 0; i--)
		*v = (*v << 8) | r->p[i];
	r->p += 8, r->left -= 8;
	return 0;
}

int dj_migrate__get_field(dj_migrate__rd *r, bool wide, dj_bytes *out, dj_err *err)
{
	uint64_t n = 0;
	uint32_t n32 = 0;
	int rc = wide ? dj_migrate__get_u64(r, &n, err) : dj_migrate__get_u32(r, &n32, err);
	out->ptr = NULL, out->len = 0;
	if (rc < 0)
		return rc;
	if (!wide)
		n = n32;
	if (n > r->left)
		return dj_err_set(err, DJ_EFORMAT, "migrate: truncated work item");
	out->ptr = r->p, out->len = (size_t)n;
	r->p += n, r->left -= (size_t)n;
	return 0;
}

int dj_migrate__put_u32(dj_buf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return dj_buf_add(b, x, 4);
}

int dj_migrate__put_u64(dj_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return dj_buf_add(b, x, 8);
}

int dj_migrate__put_field(dj_buf *b, bool wide, const void *p, size_t n)
{
	int rc = wide ? dj_migrate__put_u64(b, n) : dj_migrate__put_u32(b, (uint32_t)n);
	return rc < 0 ? rc : dj_buf_add(b, p, n);
}

int dj_migrate__ident(const dj_migrate *m, dj_buf *out, const char *name, dj_err *err)
{
	return dj_db_quote_ident(dj_db_backend_id(m->db), out, name, err);
}

/* Key value i as a parameter: binary columns (MySQL uuids) as bytes, the rest as text. */
static dj_db_param key_param(const dj_migrate *m, size_t i, dj_bytes v)
{
	if (m->pk_types && m->pk_types[i] == DJ_DB_T_BYTES)
		return dj_db_bytes(v.ptr, v.len);
	return dj_db_textn((const char *)v.ptr, v.len);
}

int dj_migrate__key_params(const dj_migrate *m, dj_migrate__rd *r, dj_db_param *par,
                           dj_err *err)
{
	for (size_t i = 0; i < m->t->npk; i++) {
		dj_bytes v;
		int rc = dj_migrate__get_field(r, false, &v, err);
		if (rc < 0)
			return rc;
		par[i] = key_param(m, i, v);
	}
	return 0;
}

int dj_migrate__key_text(const dj_migrate *m, dj_migrate__rd *r, dj_buf *out, dj_err *err)
{
	int rc = dj_buf_addc(out, '{');
	for (size_t i = 0; rc == 0 && i < m->t->npk; i++) {
		dj_bytes v;
		if ((rc = dj_migrate__get_field(r, false, &v, err)) < 0)
			return rc;
		const dj_attr *a = &m->t->attrs[m->t->pk[i]];
		bool num = m->pk_types && (m->pk_types[i] == DJ_DB_T_INT ||
		                           m->pk_types[i] == DJ_DB_T_FLOAT ||
		                           m->pk_types[i] == DJ_DB_T_DECIMAL);
		rc = dj_buf_addf(out, "%s%s=", i ? ", " : "", a->name);
		if (rc == 0 && m->pk_types && m->pk_types[i] == DJ_DB_T_BYTES) {
			rc = dj_buf_adds(out, "0x");
			for (size_t k = 0; rc == 0 && k < v.len; k++)
				rc = dj_buf_addf(out, "%02x", v.ptr[k]);
		} else if (rc == 0) {
			rc = num ? 0 : dj_buf_addc(out, '\'');
			if (rc == 0)
				rc = dj_buf_add(out, v.ptr, v.len);
			if (rc == 0 && !num)
				rc = dj_buf_addc(out, '\'');
		}
	}
	if (rc == 0)
		rc = dj_buf_addc(out, '}');
	return rc < 0 ? nomem(err) : 0;
}

static int key_list(dj_migrate *m, dj_buf *sql, dj_err *err)
{
	for (size_t i = 0; i < m->t->npk; i++) {
		if ((i && dj_buf_adds(sql, ", ") < 0) ||
		    dj_migrate__ident(m, sql, m->t->attrs[m->t->pk[i]].name, err) < 0)
			return err->code ? err->code : nomem(err);
	}
	return 0;
}

/*
 * ` AND (k...) > (cursor)`. PostgreSQL walks the key index for a row comparison; MySQL/MariaDB
 * may not, so there it is spelled out as (k0 > ?) OR (k0 = ? AND k1 > ?) OR ..., which they
 * turn into index ranges (every page would otherwise rescan the table from its start).
 */
static int after_cursor(dj_migrate *m, dj_buf *sql, dj_db_param *par, size_t *np, dj_err *err)
{
	size_t npk = m->t->npk;
	dj_db_param *v = calloc(npk, sizeof(*v));
	dj_migrate__rd r = {(const uint8_t *)m->cursor.ptr, m->cursor.len};
	int rc = v ? dj_migrate__key_params(m, &r, v, err) : nomem(err);
	bool rows = dj_db_backend_id(m->db) == DJ_DB_POSTGRESQL || npk == 1;
	if (rc == 0 && rows) {
		if (dj_buf_adds(sql, " AND (") < 0 || (rc = key_list(m, sql, err)) < 0 ||
		    dj_buf_adds(sql, ") > (") < 0)
			rc = err->code ? err->code : nomem(err);
		for (size_t i = 0; rc == 0 && i < npk; i++) {
			if (dj_buf_adds(sql, i ? ", ?" : "?") < 0)
				rc = nomem(err);
			par[(*np)++] = v[i];
		}
		if (rc == 0 && dj_buf_adds(sql, ")") < 0)
			rc = nomem(err);
	} else if (rc == 0) {
		rc = dj_buf_adds(sql, " AND (") < 0 ? nomem(err) : 0;
		for (size_t i = 0; rc == 0 && i < npk; i++) {
			rc = dj_buf_adds(sql, i ? " OR (" : "(") < 0 ? nomem(err) : 0;
			for (size_t j = 0; rc == 0 && j <= i; j++) {
				if ((j && dj_buf_adds(sql, " AND ") < 0) ||
				    dj_migrate__ident(m, sql, m->t->attrs[m->t->pk[j]].name, err) < 0 ||
				    dj_buf_adds(sql, j < i ? " = ?" : " > ?") < 0)
					rc = err->code ? err->code : nomem(err);
				par[(*np)++] = v[j];
			}
			if (rc == 0 && dj_buf_adds(sql, ")") < 0)
				rc = nomem(err);
		}
		if (rc == 0 && dj_buf_adds(sql, ")") < 0)
			rc = nomem(err);
	}
	free(v);
	return rc;
}

int dj_migrate__page_sql(dj_migrate *m, dj_buf *sql, const char *cols, const char *where,
                         size_t limit, dj_db_param *par, size_t *np, dj_err *err)
{
	int rc;
	*np = 0;
	if (dj_buf_adds(sql, "SELECT ") < 0 || (rc = key_list(m, sql, err)) < 0)
		return err->code ? err->code : nomem(err);
	if (dj_buf_addf(sql, ", %s FROM %s WHERE %s", cols, m->qtable, where) < 0)
		return nomem(err);
	if (m->cursor_set && (rc = after_cursor(m, sql, par, np, err)) < 0)
		return rc;
	if (dj_buf_adds(sql, " ORDER BY ") < 0 || (rc = key_list(m, sql, err)) < 0 ||
	    dj_buf_addf(sql, " LIMIT %zu", limit) < 0)
		return err->code ? err->code : nomem(err);
	return 0;
}

int dj_migrate__cursor_set(dj_migrate *m, dj_db_rows *rows, dj_err *err)
{
	dj_buf_reset(&m->cursor);
	for (size_t i = 0; i < m->t->npk; i++) {
		dj_bytes v = dj_db_rows_value(rows, i);
		if (dj_migrate__put_field(&m->cursor, false, v.ptr, v.len) < 0)
			return nomem(err);
	}
	m->cursor_set = true;
	return 0;
}

int dj_migrate__path(const dj_migrate *m, const char *schema, const char *hash, dj_buf *out,
                     dj_err *err)
{
	return dj_path_hash(out, m->spec, schema, hash, err);
}
