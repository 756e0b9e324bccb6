/* migrate to-store: the column changes (jobs/migrate.h): add the new column, swap it in by
 * rename keeping the old one as a backup, drop the backup. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/migrate.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

static bool is_pg(const dj_migrate *m)
{
	return dj_db_backend_id(m->db) == DJ_DB_POSTGRESQL;
}

/* The new column's comment as a quoted literal: ':<blob@store>:<user comment>'. */
static int new_comment(const dj_migrate *m, dj_buf *out, dj_err *err)
{
	dj_buf c = DJ_BUF_INIT;
	int rc = dj_buf_addf(&c, ":<%s@%s>:%s", m->target.codec->name, m->target.store,
	                     m->a->comment ? m->a->comment : "");
	if (rc == 0)
		rc = dj_db_quote_text(dj_db_backend_id(m->db), out, c.ptr, c.len, err);
	else
		rc = nomem(err);
	dj_buf_dispose(&c);
	return rc;
}

/* The old column's comment, as it was (marker and user comment). */
static int old_comment(const dj_migrate *m, dj_buf *out, dj_err *err)
{
	dj_buf c = DJ_BUF_INIT;
	int rc = m->a->marker ? dj_buf_addf(&c, ":%s:", m->a->marker) : 0;
	if (rc == 0)
		rc = dj_buf_adds(&c, m->a->comment ? m->a->comment : "");
	if (rc == 0)
		rc = dj_db_quote_text(dj_db_backend_id(m->db), out, c.ptr, c.len, err);
	else
		rc = nomem(err);
	dj_buf_dispose(&c);
	return rc;
}

/* Run statements in order; on PostgreSQL inside one transaction (its DDL is transactional). */
static int run_all(dj_migrate *m, dj_buf *stmts, size_t n, dj_err *err)
{
	int rc = 0;
	bool tx = is_pg(m) && n > 1;
	if (tx && (rc = dj_db_begin(m->db, err)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = dj_db_exec(m->db, stmts[i].ptr, NULL, 0, err);
	if (tx && rc == 0)
		rc = dj_db_commit(m->db, err);
	else if (tx) {
		dj_err ignore = DJ_ERR_INIT;
		dj_db_rollback(m->db, &ignore);
	}
	return rc;
}

static void dispose_all(dj_buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dj_buf_dispose(&b[i]);
}

int dj_migrate_begin(dj_migrate *m, dj_err *err)
{
	dj_buf st[2] = {DJ_BUF_INIT, DJ_BUF_INIT}, col = DJ_BUF_INIT;
	size_t n = 0;
	int rc;
	if (m->state != DJ_MIGRATE_NOT_STARTED)
		return 0;
	if ((rc = dj_migrate__ident(m, &col, m->tmp_col, err)) < 0)
		goto out;
	if (is_pg(m)) {
		rc = dj_buf_addf(&st[0], "ALTER TABLE %s ADD COLUMN %s jsonb", m->qtable, col.ptr);
		if (rc == 0)
			rc = dj_buf_addf(&st[1], "COMMENT ON COLUMN %s.%s IS ", m->qtable, col.ptr);
		if (rc == 0)
			rc = new_comment(m, &st[1], err);
		n = 2;
	} else {
		/* right after the old column: the heading keeps its order through the swap */
		dj_buf after = DJ_BUF_INIT;
		rc = dj_migrate__ident(m, &after, m->a->name, err);
		if (rc == 0)
			rc = dj_buf_addf(&st[0], "ALTER TABLE %s ADD COLUMN %s json DEFAULT NULL COMMENT ",
			                 m->qtable, col.ptr);
		if (rc == 0)
			rc = new_comment(m, &st[0], err);
		if (rc == 0)
			rc = dj_buf_addf(&st[0], " AFTER %s", after.ptr);
		dj_buf_dispose(&after);
		n = 1;
	}
	if (rc < 0 && !err->code)
		rc = nomem(err);
	if (rc == 0)
		rc = run_all(m, st, n, err);
	if (rc == 0)
		rc = dj_migrate_open(m, err); /* reload: the heading changed */
	if (rc < 0)
		dj_err_context(err, "migrate %s.%s.%s: add column %s", m->schema_name,
		               m->table_name, m->attr_name, m->tmp_col);
out:
	dispose_all(st, 2);
	dj_buf_dispose(&col);
	return rc;
}

int dj_migrate_unfilled(dj_migrate *m, uint64_t *out, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, col = DJ_BUF_INIT, tmp = DJ_BUF_INIT, v = DJ_BUF_INIT;
	*out = 0;
	int rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0)
		rc = dj_buf_addf(&sql, "SELECT COUNT(*) FROM %s WHERE %s IS NOT NULL AND %s IS NULL",
		                 m->qtable, col.ptr, tmp.ptr) < 0
		         ? nomem(err)
		         : 0;
	if (rc == 0)
		rc = dj_db_query_value(m->db, sql.ptr, NULL, 0, &v, NULL, err);
	if (rc == 0)
		*out = strtoull(v.ptr, NULL, 10);
	dj_buf_dispose(&sql), dj_buf_dispose(&col), dj_buf_dispose(&tmp), dj_buf_dispose(&v);
	return rc;
}

int dj_migrate_swap(dj_migrate *m, dj_err *err)
{
	dj_buf st[4] = {DJ_BUF_INIT, DJ_BUF_INIT, DJ_BUF_INIT, DJ_BUF_INIT};
	dj_buf col = DJ_BUF_INIT, tmp = DJ_BUF_INIT, bak = DJ_BUF_INIT;
	uint64_t left = 0;
	size_t n = 0;
	int rc;
	if (m->state != DJ_MIGRATE_IN_FLIGHT)
		return dj_err_set(err, DJ_EUSAGE, "migrate: nothing to swap (%s)",
		                  dj_migrate_state_name(m->state));
	if ((rc = dj_migrate_unfilled(m, &left, err)) < 0)
		return rc;
	if (left)
		return dj_err_set(err, DJ_ECONFLICT,
		                  "migrate %s.%s.%s: %" PRIu64 " rows are not migrated yet; not swapping",
		                  m->t->schema, m->t->name, m->a->name, left);
	rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0)
		rc = dj_migrate__ident(m, &bak, m->bak_col, err);
	if (rc < 0)
		goto out;
	if (is_pg(m)) {
		rc = dj_buf_addf(&st[n++], "ALTER TABLE %s RENAME COLUMN %s TO %s", m->qtable, col.ptr,
		                 bak.ptr);
		if (rc == 0)
			rc = dj_buf_addf(&st[n++], "ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL",
			                 m->qtable, bak.ptr);
		if (rc == 0)
			rc = dj_buf_addf(&st[n++], "ALTER TABLE %s RENAME COLUMN %s TO %s", m->qtable,
			                 tmp.ptr, col.ptr);
		if (rc == 0 && !m->src_nullable)
			rc = dj_buf_addf(&st[n++], "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL",
			                 m->qtable, col.ptr);
	} else {
		/* one statement: the table never shows a half-swapped heading */
		rc = dj_buf_addf(&st[n++], "ALTER TABLE %s CHANGE COLUMN %s %s %s NULL COMMENT ",
		                 m->qtable, col.ptr, bak.ptr, m->src_sqltype);
		if (rc == 0)
			rc = old_comment(m, &st[0], err);
		if (rc == 0)
			rc = dj_buf_addf(&st[0], ", CHANGE COLUMN %s %s json %s COMMENT ", tmp.ptr,
			                 col.ptr, m->src_nullable ? "DEFAULT NULL" : "NOT NULL");
		if (rc == 0)
			rc = new_comment(m, &st[0], err);
	}
	if (rc < 0 && !err->code)
		rc = nomem(err);
	if (rc == 0)
		rc = run_all(m, st, n, err);
	if (rc == 0)
		rc = dj_migrate_open(m, err);
	if (rc < 0)
		dj_err_context(err, "migrate %s.%s.%s: swap", m->schema_name, m->table_name,
		               m->attr_name);
out:
	dispose_all(st, 4);
	dj_buf_dispose(&col), dj_buf_dispose(&tmp), dj_buf_dispose(&bak);
	return rc;
}

int dj_migrate_finalize(dj_migrate *m, dj_err *err)
{
	dj_buf st = DJ_BUF_INIT, bak = DJ_BUF_INIT;
	if (m->state != DJ_MIGRATE_SWAPPED)
		return dj_err_set(err, DJ_EUSAGE,
		                  "migrate %s.%s.%s: --finalize needs a swapped migration (state: %s)",
		                  m->schema_name, m->table_name, m->attr_name,
		                  dj_migrate_state_name(m->state));
	int rc = dj_migrate__ident(m, &bak, m->bak_col, err);
	if (rc == 0)
		rc = dj_buf_addf(&st, "ALTER TABLE %s DROP COLUMN %s", m->qtable, bak.ptr) < 0
		         ? nomem(err)
		         : 0;
	if (rc == 0)
		rc = dj_db_exec(m->db, st.ptr, NULL, 0, err);
	if (rc == 0)
		rc = dj_migrate_open(m, err);
	dj_buf_dispose(&st), dj_buf_dispose(&bak);
	return rc;
}
