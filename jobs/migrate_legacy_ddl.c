/* migrate legacy-external: the column changes (jobs/migrate_legacy.h): add the hidden column,
 * swap it in keeping the 0.14 column as a backup, drop the backups. MySQL/MariaDB only (0.14
 * schemas are). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/migrate_legacy.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate legacy-external: out of memory");
}

static int quote(const dj_legacy *m, dj_buf *out, const char *s, dj_err *err)
{
	return dj_db_quote_text(dj_db_backend_id(m->db), out, s, strlen(s), err);
}

/* The 2.x comment: ":<blob@store>:rest", ":<blob>:rest". */
static int new_comment(const dj_legacy *m, const dj_legacy_col *c, dj_buf *out, dj_err *err)
{
	dj_buf s = DJ_BUF_INIT;
	int rc;
	switch (c->kind) {
	case DJ_LEGACY_INBLOB:
		rc = dj_buf_addf(&s, ":<blob>:%s", c->user_comment);
		break;
	case DJ_LEGACY_INATTACH:
		rc = dj_buf_addf(&s, ":<attach>:%s", c->user_comment);
		break;
	default:
		rc = dj_buf_addf(&s, ":<%s@%s>:%s", dj_legacy_kind_name(c->kind), c->store,
		                 c->user_comment);
	}
	rc = rc < 0 ? nomem(err) : quote(m, out, s.ptr, err);
	dj_buf_dispose(&s);
	return rc;
}

static int exec_sql(dj_legacy *m, const dj_buf *sql, const dj_legacy_col *c, const char *what,
                    dj_err *err)
{
	int rc = dj_db_exec(m->db, sql->ptr, NULL, 0, err);
	if (rc < 0)
		dj_err_context(err, "migrate legacy-external %s.%s.%s: %s", m->schema_name,
		               c->table, c->column, what);
	return rc;
}

int dj_legacy_begin(dj_legacy *m, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->ncols; i++) {
		dj_legacy_col *c = &m->cols[i];
		if (c->state != DJ_LEGACY_NOT_STARTED || !c->store)
			continue;
		dj_buf sql = DJ_BUF_INIT;
		char *tmp = dj_legacy__aux(c->column, "_migrating");
		rc = tmp ? 0 : nomem(err);
		if (rc == 0 && dj_buf_adds(&sql, "ALTER TABLE ") < 0)
			rc = nomem(err);
		if (rc == 0)
			rc = dj_legacy__qtable(m, m->schema_name, c->table, &sql, err);
		if (rc == 0 && dj_buf_adds(&sql, " ADD COLUMN ") < 0)
			rc = nomem(err);
		if (rc == 0)
			rc = dj_legacy__ident(m, &sql, tmp, err);
		if (rc == 0 && dj_buf_adds(&sql, " json DEFAULT NULL COMMENT ") < 0)
			rc = nomem(err);
		if (rc == 0)
			rc = new_comment(m, c, &sql, err);
		if (rc == 0 && dj_buf_adds(&sql, " AFTER ") < 0)
			rc = nomem(err);
		if (rc == 0)
			rc = dj_legacy__ident(m, &sql, c->column, err);
		if (rc == 0)
			rc = exec_sql(m, &sql, c, "add column", err);
		if (rc == 0)
			c->state = DJ_LEGACY_IN_FLIGHT;
		free(tmp);
		dj_buf_dispose(&sql);
	}
	return rc;
}

/* Rows whose 0.14 value is set and whose new value is not. */
static int unfilled(dj_legacy *m, const dj_legacy_col *c, uint64_t *out, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, v = DJ_BUF_INIT;
	char *tmp = dj_legacy__aux(c->column, "_migrating");
	int rc = tmp && dj_buf_adds(&sql, "SELECT COUNT(*) FROM ") == 0 ? 0 : nomem(err);
	if (rc == 0)
		rc = dj_legacy__qtable(m, m->schema_name, c->table, &sql, err);
	if (rc == 0 && dj_buf_adds(&sql, " WHERE ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, c->column, err);
	if (rc == 0 && dj_buf_adds(&sql, " IS NOT NULL AND ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, tmp, err);
	if (rc == 0 && dj_buf_adds(&sql, " IS NULL") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_db_query_value(m->db, sql.ptr, NULL, 0, &v, NULL, err);
	*out = rc == 0 ? strtoull(v.ptr, NULL, 10) : 0;
	free(tmp);
	dj_buf_dispose(&sql), dj_buf_dispose(&v);
	return rc;
}

/* One statement: the table never shows a half-swapped heading. The foreign key to
 * `~external_<store>` goes (2.x tables do not reference it); its index stays with the backup. */
static int swap_one(dj_legacy *m, dj_legacy_col *c, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, bc = DJ_BUF_INIT;
	char *tmp = dj_legacy__aux(c->column, "_migrating");
	char *bak = dj_legacy__aux(c->column, "_backup");
	int rc = tmp && bak && dj_buf_adds(&sql, "ALTER TABLE ") == 0 ? 0 : nomem(err);
	if (rc == 0)
		rc = dj_legacy__qtable(m, m->schema_name, c->table, &sql, err);
	if (rc == 0 && c->fk) {
		rc = dj_buf_adds(&sql, " DROP FOREIGN KEY ") < 0 ? nomem(err) : 0;
		if (rc == 0)
			rc = dj_legacy__ident(m, &sql, c->fk, err);
		if (rc == 0 && dj_buf_adds(&sql, ",") < 0)
			rc = nomem(err);
	}
	if (rc == 0 && dj_buf_adds(&sql, " CHANGE COLUMN ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, c->column, err);
	if (rc == 0 && dj_buf_adds(&sql, " ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, bak, err);
	if (rc == 0 && (dj_buf_addf(&sql, " %s NULL COMMENT ", c->old_type) < 0 ||
	                dj_buf_addf(&bc, "0.14 backup %s", c->old_comment) < 0))
		rc = nomem(err);
	if (rc == 0)
		rc = quote(m, &sql, bc.ptr, err);
	if (rc == 0 && dj_buf_adds(&sql, ", CHANGE COLUMN ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, tmp, err);
	if (rc == 0 && dj_buf_adds(&sql, " ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, c->column, err);
	if (rc == 0 &&
	    dj_buf_addf(&sql, " json %s COMMENT ", c->nullable ? "DEFAULT NULL" : "NOT NULL") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = new_comment(m, c, &sql, err);
	if (rc == 0)
		rc = exec_sql(m, &sql, c, "swap", err);
	if (rc == 0)
		c->state = DJ_LEGACY_SWAPPED;
	free(tmp), free(bak);
	dj_buf_dispose(&sql), dj_buf_dispose(&bc);
	return rc;
}

/* In-table columns: the marker only (MODIFY restates type, nullability and comment). */
static int mark_one(dj_legacy *m, dj_legacy_col *c, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	int rc = dj_buf_adds(&sql, "ALTER TABLE ") < 0 ? nomem(err) : 0;
	if (rc == 0)
		rc = dj_legacy__qtable(m, m->schema_name, c->table, &sql, err);
	if (rc == 0 && dj_buf_adds(&sql, " MODIFY COLUMN ") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_legacy__ident(m, &sql, c->column, err);
	if (rc == 0 && dj_buf_addf(&sql, " %s %s COMMENT ", c->old_type,
	                           c->nullable ? "DEFAULT NULL" : "NOT NULL") < 0)
		rc = nomem(err);
	if (rc == 0)
		rc = new_comment(m, c, &sql, err);
	if (rc == 0)
		rc = exec_sql(m, &sql, c, "comment", err);
	if (rc == 0)
		c->state = DJ_LEGACY_SWAPPED;
	dj_buf_dispose(&sql);
	return rc;
}

int dj_legacy_swap(dj_legacy *m, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->ncols; i++) {
		dj_legacy_col *c = &m->cols[i];
		uint64_t left = 0;
		if (c->state != DJ_LEGACY_IN_FLIGHT)
			continue;
		if ((rc = unfilled(m, c, &left, err)) < 0)
			break;
		if (left)
			return dj_err_set(err, DJ_ECONFLICT,
			                  "migrate legacy-external %s.%s.%s: %" PRIu64
			                  " rows are not migrated yet; not swapping",
			                  m->schema_name, c->table, c->column, left);
	}
	for (size_t i = 0; rc == 0 && i < m->ncols; i++)
		if (m->cols[i].state == DJ_LEGACY_IN_FLIGHT)
			rc = swap_one(m, &m->cols[i], err);
	for (size_t i = 0; rc == 0 && i < m->ncols; i++)
		if (!m->cols[i].store && m->cols[i].state == DJ_LEGACY_NOT_STARTED)
			rc = mark_one(m, &m->cols[i], err);
	return rc;
}

int dj_legacy_finalize(dj_legacy *m, size_t *dropped, dj_err *err)
{
	int rc = 0;
	*dropped = 0;
	for (size_t i = 0; i < m->ncols; i++)
		if (m->cols[i].store && m->cols[i].state != DJ_LEGACY_SWAPPED)
			return dj_err_set(
			    err, DJ_EUSAGE,
			    "migrate legacy-external %s.%s.%s: --finalize needs every "
			    "column swapped (this one: %s); run --execute first",
			    m->schema_name, m->cols[i].table, m->cols[i].column,
			    dj_legacy_state_name(m->cols[i].state));
	for (size_t i = 0; rc == 0 && i < m->ncols; i++) {
		dj_legacy_col *c = &m->cols[i];
		if (!c->store)
			continue;
		dj_buf sql = DJ_BUF_INIT;
		char *bak = dj_legacy__aux(c->column, "_backup");
		rc = bak && dj_buf_adds(&sql, "ALTER TABLE ") == 0 ? 0 : nomem(err);
		if (rc == 0)
			rc = dj_legacy__qtable(m, m->schema_name, c->table, &sql, err);
		if (rc == 0 && dj_buf_adds(&sql, " DROP COLUMN ") < 0)
			rc = nomem(err);
		if (rc == 0)
			rc = dj_legacy__ident(m, &sql, bak, err);
		if (rc == 0)
			rc = exec_sql(m, &sql, c, "drop backup", err);
		if (rc == 0)
			(*dropped)++;
		free(bak);
		dj_buf_dispose(&sql);
	}
	return rc;
}
