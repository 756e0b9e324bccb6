/* migrate legacy-external: keyset pages over a table joined with its `~external_<store>`, and
 * the key pieces every phase shares (jobs/migrate_legacy.h). Keys travel in items as u32
 * length-prefixed text (bytes for binary columns). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/hash.h"
#include "codecs/object.h"
#include "jobs/migrate.h"
#include "jobs/migrate_legacy.h"
#include "stores/paths.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate legacy-external: out of memory");
}

static int get_key(const uint8_t **p, size_t *left, dj_bytes *v, dj_err *err)
{
	dj_migrate__rd r = {*p, *left};
	int rc = dj_migrate__get_field(&r, false, v, err);
	*p = r.p, *left = r.left;
	return rc;
}

static dj_db_param key_param(const dj_legacy_col *c, size_t i, dj_bytes v)
{
	if (c->pk_types[i] == DJ_DB_T_BYTES)
		return dj_db_bytes(v.ptr, v.len);
	return dj_db_textn((const char *)v.ptr, v.len);
}

int dj_legacy__key_params(const dj_legacy_col *c, const uint8_t **p, size_t *left, dj_db_param *par,
                          dj_err *err)
{
	for (size_t i = 0; i < c->npk; i++) {
		dj_bytes v;
		int rc = get_key(p, left, &v, err);
		if (rc < 0)
			return rc;
		par[i] = key_param(c, i, v);
	}
	return 0;
}

int dj_legacy__key_text(const dj_legacy_col *c, const uint8_t **p, size_t *left, dj_buf *out,
                        dj_err *err)
{
	int rc = dj_buf_addc(out, '{');
	for (size_t i = 0; rc == 0 && i < c->npk; i++) {
		dj_bytes v;
		if ((rc = get_key(p, left, &v, err)) < 0)
			return rc;
		dj_db_type t = c->pk_types[i];
		bool num = t == DJ_DB_T_INT || t == DJ_DB_T_FLOAT || t == DJ_DB_T_DECIMAL;
		rc = dj_buf_addf(out, "%s%s=", i ? ", " : "", c->pk[i]);
		if (rc == 0 && t == DJ_DB_T_BYTES) {
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

int dj_legacy__key_where(const dj_legacy *m, const dj_legacy_col *c, dj_buf *sql, dj_err *err)
{
	int rc = dj_buf_adds(sql, " WHERE ") < 0 ? nomem(err) : 0;
	for (size_t i = 0; rc == 0 && i < c->npk; i++) {
		if ((i && dj_buf_adds(sql, " AND ") < 0) ||
		    dj_legacy__ident(m, sql, c->pk[i], err) < 0 || dj_buf_adds(sql, "=?") < 0)
			rc = err->code ? err->code : nomem(err);
	}
	return rc;
}

static int key_list(const dj_legacy *m, const dj_legacy_col *c, dj_buf *sql, dj_err *err)
{
	for (size_t i = 0; i < c->npk; i++)
		if ((i && dj_buf_adds(sql, ", ") < 0) || dj_buf_adds(sql, "t.") < 0 ||
		    dj_legacy__ident(m, sql, c->pk[i], err) < 0)
			return err->code ? err->code : nomem(err);
	return 0;
}

/* ` AND ((k0 > ?) OR (k0 = ? AND k1 > ?) ...)`: MariaDB turns this into index ranges, where a
 * row comparison could rescan the table from its start on every page. */
static int after_cursor(const dj_legacy *m, const dj_legacy_col *c, dj_buf *sql, dj_db_param *par,
                        size_t *np, dj_err *err)
{
	dj_db_param v[64];
	const uint8_t *p = (const uint8_t *)m->cursor.ptr;
	size_t left = m->cursor.len;
	if (c->npk > 64)
		return dj_err_set(err, DJ_ENOTSUP,
		                  "migrate legacy-external: key of over 64 columns");
	int rc = dj_legacy__key_params(c, &p, &left, v, err);
	if (rc == 0 && dj_buf_adds(sql, " AND (") < 0)
		rc = nomem(err);
	for (size_t i = 0; rc == 0 && i < c->npk; i++) {
		rc = dj_buf_adds(sql, i ? " OR (" : "(") < 0 ? nomem(err) : 0;
		for (size_t j = 0; rc == 0 && j <= i; j++) {
			if ((j && dj_buf_adds(sql, " AND ") < 0) || dj_buf_adds(sql, "t.") < 0 ||
			    dj_legacy__ident(m, sql, c->pk[j], err) < 0 ||
			    dj_buf_adds(sql, j < i ? " = ?" : " > ?") < 0)
				rc = err->code ? err->code : nomem(err);
			par[(*np)++] = v[j];
		}
		if (rc == 0 && dj_buf_adds(sql, ")") < 0)
			rc = nomem(err);
	}
	if (rc == 0 && dj_buf_adds(sql, ")") < 0)
		rc = nomem(err);
	return rc;
}

int dj_legacy__page(dj_legacy *m, const dj_legacy_col *c, const char *cols, const char *where,
                    size_t limit, dj_db_rows **rows, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, ext = DJ_BUF_INIT;
	size_t np = 0;
	dj_db_param *par = calloc(c->npk * (c->npk + 1) / 2 + 1, sizeof(*par));
	char *src = c->state == DJ_LEGACY_SWAPPED ? dj_legacy__aux(c->column, "_backup")
	                                          : strdup(c->column);
	int rc = par && src ? 0 : nomem(err);
	*rows = NULL;
	if (rc == 0 && dj_buf_adds(&sql, "SELECT ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = key_list(m, c, &sql, err);
	if (rc == 0 && (dj_buf_addf(&sql, ", %s FROM ", cols) < 0 ||
	                dj_buf_addf(&ext, "~external_%s", c->store) < 0))
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__qtable(m, m->schema_name, c->table, &sql, err);
	if (rc == 0 && dj_buf_adds(&sql, " t LEFT JOIN ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__qtable(m, m->schema_name, ext.ptr, &sql, err);
	if (rc == 0 && dj_buf_adds(&sql, " e ON e.hash = t.") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, src, err);
	if (rc == 0 && dj_buf_addf(&sql, " WHERE %s", where) < 0)
		rc = nomem(err);
	if (rc == 0 && m->cursor_set)
		rc = after_cursor(m, c, &sql, par, &np, err);
	if (rc == 0 && dj_buf_adds(&sql, " ORDER BY ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = key_list(m, c, &sql, err);
	if (rc == 0 && dj_buf_addf(&sql, " LIMIT %zu", limit) < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_db_query(m->db, sql.ptr, par, np, rows, err);
	if (rc == 0)
		rc = dj_legacy__learn_types((dj_legacy_col *)c, *rows, err);
	dj_buf_dispose(&sql), dj_buf_dispose(&ext);
	free(par), free(src);
	return rc;
}

int dj_legacy__cursor_set(dj_legacy *m, const dj_legacy_col *c, dj_db_rows *rows, dj_err *err)
{
	dj_buf_reset(&m->cursor);
	for (size_t i = 0; i < c->npk; i++) {
		dj_bytes v = dj_db_rows_value(rows, i);
		if (dj_migrate__put_field(&m->cursor, false, v.ptr, v.len) < 0)
			return nomem(err);
	}
	m->cursor_set = true;
	return 0;
}

int dj_legacy__learn_types(dj_legacy_col *c, dj_db_rows *rows, dj_err *err)
{
	(void)err;
	for (size_t i = 0; i < c->npk && i < dj_db_rows_nfields(rows); i++)
		c->pk_types[i] = dj_db_rows_type(rows, i);
	return 0;
}

int dj_legacy__old_key(const char *schema, const uint8_t uuid[16], const char *attach_name,
                       dj_buf *out)
{
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", uuid[i]);
	int rc = dj_buf_addf(out, "%s/%.2s/%.2s/%s", schema, hex, hex + 2, hex);
	if (rc == 0 && attach_name)
		rc = dj_buf_addf(out, ".%s", attach_name);
	return rc;
}

int dj_legacy__hash_json(const dj_legacy *m, const char *store, const uint8_t uuid[16],
                         uint64_t size, dj_buf *path, dj_buf *json, dj_err *err)
{
	dj_hash_meta meta = DJ_HASH_META_INIT;
	const dj_store_spec *spec = dj_legacy__spec(m, store);
	if (!spec)
		return dj_err_set(err, DJ_EUSAGE,
		                  "migrate legacy-external: store '%s' is not "
		                  "configured",
		                  store);
	dj_hash_from_digest(uuid, meta.hash);
	int rc = dj_path_hash(path, spec, m->schema_name, meta.hash, err);
	if (rc < 0)
		return rc;
	meta.path = path->ptr;
	meta.schema = (char *)m->schema_name;
	meta.store = (char *)store;
	meta.has_size = true;
	meta.size = size;
	return dj_hash_meta_build(json, &meta, err);
}
