/* migrate legacy-external: the counts (survey) and the machine-readable plan
 * (jobs/migrate_legacy.h): every row's target, the objects to write and the `~external` rows
 * nothing references. Rank 0, read only. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/filepath.h"
#include "jobs/migrate_legacy.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate legacy-external: out of memory");
}

static char *src_col(const dj_legacy_col *c)
{
	return c->state == DJ_LEGACY_SWAPPED ? dj_legacy__aux(c->column, "_backup")
	                                     : strdup(c->column);
}

static int count_row(dj_legacy *m, const char *sql, uint64_t *v, size_t n, dj_err *err)
{
	dj_db_rows *rows = NULL;
	int rc = dj_db_query(m->db, sql, NULL, 0, &rows, err);
	if (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		rc = 0;
		for (size_t i = 0; i < n; i++) {
			const char *t = dj_db_rows_text(rows, i);
			v[i] = t ? strtoull(t, NULL, 10) : 0;
		}
	} else if (rc == 0)
		rc = dj_err_set(err, DJ_ERROR, "migrate legacy-external: no count");
	dj_db_rows_free(rows);
	return rc;
}

int dj_legacy_survey(dj_legacy *m, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->ncols; i++) {
		dj_legacy_col *c = &m->cols[i];
		dj_buf sql = DJ_BUF_INIT, a = DJ_BUF_INIT, tmp = DJ_BUF_INIT, qt = DJ_BUF_INIT;
		dj_buf qe = DJ_BUF_INIT, ext = DJ_BUF_INIT;
		char *src = src_col(c), *tn = dj_legacy__aux(c->column, "_migrating");
		uint64_t v[5] = {0};
		rc = src && tn ? 0 : nomem(err);
		if (rc == 0)
			rc = dj_legacy__ident(m, &a, src, err);
		if (rc == 0)
			rc = dj_legacy__ident(m, &tmp, tn, err);
		if (rc == 0)
			rc = dj_legacy__qtable(m, m->schema_name, c->table, &qt, err);
		if (rc == 0 && !c->store) {
			if (dj_buf_addf(&sql,
			                "SELECT COUNT(*), COUNT(%s), COALESCE(SUM(LENGTH(%s)), 0) "
			                "FROM %s",
			                a.ptr, a.ptr, qt.ptr) < 0)
				rc = nomem(err);
			if (rc == 0)
				rc = count_row(m, sql.ptr, v, 3, err);
			c->rows = v[0], c->values = v[1], c->bytes = v[2];
			c->filled = 0, c->bytes_todo = v[2];
		} else if (rc == 0) {
			bool fl = c->state == DJ_LEGACY_IN_FLIGHT;
			dj_buf cnt = DJ_BUF_INIT, todo = DJ_BUF_INIT;
			int e1 = dj_buf_addf(&ext, "~external_%s", c->store);
			if (e1 == 0 && fl)
				e1 = dj_buf_addf(&cnt, "COUNT(t.%s)", tmp.ptr) < 0 ||
				     dj_buf_addf(&todo, "t.%s IS NULL", tmp.ptr) < 0;
			else if (e1 == 0)
				e1 = dj_buf_adds(&cnt, "0") < 0 ||
				     dj_buf_adds(&todo, c->state == DJ_LEGACY_SWAPPED ? "FALSE"
				                                                      : "TRUE") < 0;
			if (e1)
				rc = nomem(err);
			if (rc == 0)
				rc = dj_legacy__qtable(m, m->schema_name, ext.ptr, &qe, err);
			if (rc == 0 &&
			    dj_buf_addf(
			        &sql,
			        "SELECT COUNT(*), COUNT(t.%s), %s, COALESCE(SUM(e.size), 0), "
			        "COALESCE(SUM(CASE WHEN %s THEN e.size END), 0) FROM %s t LEFT "
			        "JOIN %s e ON e.hash = t.%s",
			        a.ptr, cnt.ptr, todo.ptr, qt.ptr, qe.ptr, a.ptr) < 0)
				rc = nomem(err);
			dj_buf_dispose(&cnt), dj_buf_dispose(&todo);
			if (rc == 0)
				rc = count_row(m, sql.ptr, v, 5, err);
			c->rows = v[0], c->values = v[1];
			c->filled = c->state == DJ_LEGACY_SWAPPED ? v[1] : v[2];
			c->bytes = v[3], c->bytes_todo = v[4];
		}
		free(src), free(tn);
		dj_buf_dispose(&sql), dj_buf_dispose(&a), dj_buf_dispose(&tmp), dj_buf_dispose(&qt);
		dj_buf_dispose(&qe), dj_buf_dispose(&ext);
	}
	if (rc < 0)
		dj_err_context(err, "migrate legacy-external %s: survey", m->schema_name);
	return rc;
}

static int new_comment(const dj_legacy_col *c, dj_buf *out)
{
	if (c->kind == DJ_LEGACY_INBLOB)
		return dj_buf_addf(out, ":<blob>:%s", c->user_comment);
	if (c->kind == DJ_LEGACY_INATTACH)
		return dj_buf_addf(out, ":<attach>:%s", c->user_comment);
	return dj_buf_addf(out, ":<%s@%s>:%s", dj_legacy_kind_name(c->kind), c->store,
	                   c->user_comment);
}

static json_t *column_json(const dj_legacy_col *c)
{
	dj_buf nc = DJ_BUF_INIT;
	if (new_comment(c, &nc) < 0)
		return NULL;
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:s, s:s, s:s}", "table", c->table,
	              "column", c->column, "old_type", c->old_type, "old_comment", c->old_comment,
	              "nullable", c->nullable, "kind", dj_legacy_kind_name(c->kind), "store",
	              c->store ? json_string(c->store) : json_null(), "new_type",
	              c->store ? "json" : c->old_type, "new_comment", nc.ptr, "state",
	              dj_legacy_state_name(c->state));
	dj_buf_dispose(&nc);
	return j;
}

static json_t *key_json(const dj_legacy_col *c, dj_db_rows *rows)
{
	json_t *k = json_object();
	for (size_t i = 0; k && i < c->npk; i++) {
		const char *t = dj_db_rows_text(rows, i);
		dj_db_type ty = dj_db_rows_type(rows, i);
		json_t *v;
		if (ty == DJ_DB_T_INT)
			v = t[0] == '-' ? json_integer(strtoll(t, NULL, 10))
			                : json_integer((json_int_t)strtoull(t, NULL, 10));
		else if (ty == DJ_DB_T_FLOAT)
			v = json_real(strtod(t, NULL));
		else if (ty == DJ_DB_T_BYTES) {
			dj_bytes b = dj_db_rows_value(rows, i);
			char h[129] = {0};
			for (size_t j = 0; j < b.len && j < 64; j++)
				snprintf(h + 2 * j, 3, "%02x", b.ptr[j]);
			v = json_string(h);
		} else
			v = json_string(t);
		json_object_set_new(k, c->pk[i], v);
	}
	return k;
}

typedef struct plan_acc {
	json_t *objects, *rows;
	uint64_t objects_bytes, nrows;
} plan_acc;

/* Every row of one external column: its target and, for blob/attach, the object to write. */
static int plan_column(dj_legacy *m, dj_legacy_col *c, bool want_rows, plan_acc *acc, dj_err *err)
{
	dj_db_rows *rows = NULL;
	dj_buf cols = DJ_BUF_INIT;
	char *src = src_col(c);
	size_t k = c->npk;
	int rc = src ? 0 : nomem(err);
	if (rc == 0 && dj_buf_adds(&cols, "t.") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &cols, src, err);
	if (rc == 0 && dj_buf_adds(&cols, ", e.hash IS NOT NULL, e.attachment_name, e.filepath, "
	                                  "e.size, UNIX_TIMESTAMP(e.timestamp)") < 0)
		rc = nomem(err);
	m->cursor_set = false;
	if (rc == 0)
		rc = dj_legacy__page(m, c, cols.ptr, "TRUE", (size_t)1 << 40, &rows, err);
	while (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		rc = 0;
		dj_bytes u = dj_db_rows_value(rows, k);
		json_t *r = json_pack("{s:s, s:s, s:o}", "table", c->table, "column", c->column,
		                      "key", key_json(c, rows));
		if (!r) {
			rc = nomem(err);
			break;
		}
		acc->nrows++;
		if (dj_db_rows_isnull(rows, k) || u.len != 16) {
			json_object_set_new(r, "legacy_hash", json_null());
			json_object_set_new(r, "json", json_null());
		} else {
			char hx[33];
			dj_buf old = DJ_BUF_INIT, path = DJ_BUF_INIT, js = DJ_BUF_INIT;
			bool ext = dj_db_rows_text(rows, k + 1)[0] == '1';
			const char *an = dj_db_rows_text(rows, k + 2),
			           *fp = dj_db_rows_text(rows, k + 3);
			const char *sz = dj_db_rows_text(rows, k + 4),
			           *ts = dj_db_rows_text(rows, k + 5);
			uint64_t size = sz ? strtoull(sz, NULL, 10) : 0;
			for (int i = 0; i < 16; i++)
				snprintf(hx + 2 * i, 3, "%02x", u.ptr[i]);
			json_object_set_new(r, "legacy_hash", json_string(hx));
			if (!ext) {
				json_object_set_new(r, "error", json_string("no ~external row"));
			} else if (c->kind == DJ_LEGACY_FILEPATH) {
				rc = dj_filepath_meta_build(&js, fp ? fp : "", c->store, true, size,
				                            false, ts ? strtoll(ts, NULL, 10) : 0,
				                            0, err);
				json_object_set_new(r, "legacy_path", json_string(fp ? fp : ""));
				json_object_set_new(r, "new_path", json_null());
			} else {
				bool at = c->kind == DJ_LEGACY_ATTACH;
				uint64_t nsize = at ? size + strlen(an ? an : "") + 1 : size;
				if (dj_legacy__old_key(m->schema_name, u.ptr,
				                       at ? (an ? an : "") : NULL, &old) < 0)
					rc = nomem(err);
				if (rc == 0)
					rc = dj_legacy__hash_json(m, c->store, u.ptr, nsize, &path,
					                          &js, err);
				if (rc == 0) {
					json_object_set_new(r, "legacy_path", json_string(old.ptr));
					json_object_set_new(r, "new_path", json_string(path.ptr));
				}
				if (rc == 0 && !json_object_get(acc->objects, path.ptr)) {
					acc->objects_bytes += nsize;
					json_object_set_new(
					    acc->objects, path.ptr,
					    json_pack("{s:s, s:s, s:I, s:o, s:s}", "store",
					              c->store, "from", old.ptr, "size",
					              (json_int_t)nsize, "attachment_name",
					              at && an ? json_string(an) : json_null(),
					              "transform",
					              at ? "name + NUL + contents" : "copy"));
				}
			}
			if (rc == 0 && js.len)
				json_object_set_new(r, "json", json_loadb(js.ptr, js.len, 0, NULL));
			dj_buf_dispose(&old), dj_buf_dispose(&path), dj_buf_dispose(&js);
		}
		if (want_rows)
			json_array_append(acc->rows, r);
		json_decref(r);
	}
	dj_db_rows_free(rows);
	dj_buf_dispose(&cols);
	free(src);
	m->cursor_set = false;
	return rc;
}

/* `~external_<store>` rows no column references (0.14 leaves them after deletes). */
static int unreferenced(dj_legacy *m, json_t *out, dj_err *err)
{
	dj_db_rows *tabs = NULL, *rows = NULL;
	dj_db_param p = dj_db_text(m->schema_name);
	char **names = NULL;
	size_t n = 0;
	int rc =
	    dj_db_query(m->db,
	                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? "
	                "AND TABLE_NAME LIKE '~external\\_%' ORDER BY TABLE_NAME",
	                &p, 1, &tabs, err);
	while (rc == 0 && (rc = dj_db_rows_next(tabs, err)) == 1) {
		char **x = realloc(names, (n + 1) * sizeof(*x));
		rc = x && (x[n] = strdup(dj_db_rows_text(tabs, 0))) ? 0 : nomem(err);
		if (x)
			names = x, n += rc == 0;
	}
	dj_db_rows_free(tabs);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *store = names[i] + strlen("~external_");
		dj_buf sql = DJ_BUF_INIT;
		rc = dj_buf_adds(&sql,
		                 "SELECT e.hash, e.size, e.attachment_name, e.filepath FROM ") < 0
		         ? nomem(err)
		         : 0;
		if (rc == 0)
			rc = dj_legacy__qtable(m, m->schema_name, names[i], &sql, err);
		if (rc == 0 && dj_buf_adds(&sql, " e WHERE TRUE") < 0)
			rc = nomem(err);
		for (size_t j = 0; rc == 0 && j < m->ncols; j++) {
			const dj_legacy_col *c = &m->cols[j];
			char *src = c->store && !strcmp(c->store, store) ? src_col(c) : NULL;
			if (!src)
				continue;
			rc = dj_buf_adds(&sql, " AND NOT EXISTS (SELECT 1 FROM ") < 0 ? nomem(err)
			                                                              : 0;
			if (rc == 0)
				rc = dj_legacy__qtable(m, m->schema_name, c->table, &sql, err);
			if (rc == 0 && dj_buf_adds(&sql, " t WHERE t.") < 0)
				rc = nomem(err);
			if (rc == 0)
				rc = dj_legacy__ident(m, &sql, src, err);
			if (rc == 0 && dj_buf_adds(&sql, " = e.hash)") < 0)
				rc = nomem(err);
			free(src);
		}
		if (rc == 0 && dj_buf_adds(&sql, " ORDER BY e.hash") < 0)
			rc = nomem(err);
		if (rc == 0)
			rc = dj_db_query(m->db, sql.ptr, NULL, 0, &rows, err);
		while (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
			rc = 0;
			dj_bytes u = dj_db_rows_value(rows, 0);
			const char *an = dj_db_rows_text(rows, 2), *fp = dj_db_rows_text(rows, 3);
			char hx[33] = {0};
			dj_buf old = DJ_BUF_INIT;
			for (size_t b = 0; b < 16 && b < u.len; b++)
				snprintf(hx + 2 * b, 3, "%02x", u.ptr[b]);
			if (!fp && u.len == 16 &&
			    dj_legacy__old_key(m->schema_name, u.ptr, an, &old) < 0)
				rc = nomem(err);
			json_array_append_new(
			    out,
			    json_pack("{s:s, s:s, s:I, s:s}", "store", store, "hash", hx, "size",
			              (json_int_t)strtoull(dj_db_rows_text(rows, 1), NULL, 10),
			              "path", fp ? fp : old.ptr));
			dj_buf_dispose(&old);
		}
		dj_db_rows_free(rows);
		rows = NULL;
		dj_buf_dispose(&sql);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int dj_legacy_plan_json(dj_legacy *m, bool want_rows, dj_buf *out, dj_err *err)
{
	plan_acc acc = {json_object(), json_array(), 0, 0};
	json_t *cols = json_array(), *unref = json_array();
	int rc = acc.objects && acc.rows && cols && unref ? 0 : nomem(err);
	uint64_t values = 0, todo = 0, bytes_todo = 0;
	for (size_t i = 0; rc == 0 && i < m->ncols; i++) {
		dj_legacy_col *c = &m->cols[i];
		json_t *cj = column_json(c);
		if (!cj) {
			rc = nomem(err);
			break;
		}
		json_object_set_new(cj, "rows", json_integer((json_int_t)c->rows));
		json_object_set_new(cj, "values", json_integer((json_int_t)c->values));
		json_object_set_new(cj, "migrated", json_integer((json_int_t)c->filled));
		json_array_append_new(cols, cj);
		if (c->store) {
			values += c->values;
			todo += c->values - (c->filled < c->values ? c->filled : c->values);
			bytes_todo += c->bytes_todo;
			rc = plan_column(m, c, want_rows, &acc, err);
		}
	}
	if (rc == 0)
		rc = unreferenced(m, unref, err);
	json_t *j = NULL;
	if (rc == 0)
		j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I}", "action",
		              "plan", "schema", m->schema_name, "columns", cols, "objects",
		              acc.objects, "rows", acc.rows, "unreferenced_external", unref,
		              "values", (json_int_t)values, "values_to_migrate", (json_int_t)todo,
		              "objects_to_write", (json_int_t)json_object_size(acc.objects),
		              "object_bytes", (json_int_t)acc.objects_bytes, "bytes_to_copy",
		              (json_int_t)bytes_todo);
	else
		json_decref(cols), json_decref(unref), json_decref(acc.objects),
		    json_decref(acc.rows);
	if (rc == 0 && !want_rows)
		json_object_del(j, "rows");
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (rc == 0 && (!s || dj_buf_adds(out, s) < 0))
		rc = nomem(err);
	free(s);
	json_decref(j);
	return rc;
}
