/*
 * Jobs tables: what they are called, their key, their exact DDL and declaration with lineage
 * rows, the worker identity, progress (jobs/jobtable.h, database.md §6.2, §6.7, §6.9, §1.5).
 */
#include "jobs/jobtable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "codecs/codec.h"
#include "codecs/hash.h"

/* The status enum as the library declares it: values in declared order (§6.2). */
#define STATUS_ENUM "enum('pending', 'reserved', 'success', 'error', 'ignore')"

/* The secondary attributes of every jobs table, in order (§6.2 table). */
static const struct jobcol {
	const char *name, *dj, *mysql, *pg, *tail; /* tail: nullability and default */
} jobcols[] = {
	{"status", STATUS_ENUM, STATUS_ENUM, NULL, "NOT NULL"},
	{"priority", "int8", "tinyint", "smallint", "NOT NULL"},
	{"created_time", "datetime(3)", "datetime(3)", "timestamp(3)",
	 "NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"},
	{"scheduled_time", "datetime(3)", "datetime(3)", "timestamp(3)",
	 "NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"},
	{"reserved_time", "datetime(3)", "datetime(3)", "timestamp(3)", "DEFAULT NULL"},
	{"completed_time", "datetime(3)", "datetime(3)", "timestamp(3)", "DEFAULT NULL"},
	{"duration", "float64", "double", "double precision", "DEFAULT NULL"},
	{"error_message", "varchar(2047)", "varchar(2047)", "varchar(2047)", "NOT NULL DEFAULT ''"},
	{"error_stack", "<blob>", "longblob", "bytea", "DEFAULT NULL"},
	{"user", "varchar(255)", "varchar(255)", "varchar(255)", "NOT NULL DEFAULT ''"},
	{"host", "varchar(255)", "varchar(255)", "varchar(255)", "NOT NULL DEFAULT ''"},
	{"pid", "int32", "int", "integer", "NOT NULL DEFAULT '0'"},
	{"connection_id", "int64", "bigint", "bigint", "NOT NULL DEFAULT '0'"},
	{"version", "varchar(64)", "varchar(64)", "varchar(64)", "NOT NULL DEFAULT ''"},
};
#define NJOBCOLS (sizeof(jobcols) / sizeof(jobcols[0]))

static int nomem(int rc, dj_err *err)
{
	if (rc == DJ_ENOMEM && err && !err->code)
		dj_err_set(err, DJ_ENOMEM, "out of memory");
	return rc;
}

/* --- the table and its key ------------------------------------------------------------------ */

/* _get_fk_derived_pk_attrs: key attributes named by a primary foreign key, in key order. */
static bool fk_derived(const dj_table *t, const char *name)
{
	for (size_t i = 0; i < t->nfks; i++)
		for (size_t k = 0; t->fks[i].primary && k < t->fks[i].ncols; k++)
			if (!strcmp(t->fks[i].cols[k], name))
				return true;
	return false;
}

int dj_jobtable_init(dj_jobtable *jt, const dj_schema *s, const dj_table *target, dj_err *err)
{
	dj_buf name = DJ_BUF_INIT;
	int rc;
	memset(jt, 0, sizeof(*jt));
	jt->backend = s->backend;
	jt->target = target;
	jt->pk = calloc(target->npk ? target->npk : 1, sizeof(*jt->pk));
	jt->decl = calloc(target->npk ? target->npk : 1, sizeof(*jt->decl));
	if (!jt->pk || !jt->decl || !(jt->schema = strdup(target->schema)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	if ((rc = dj_name_jobs_table(&name, target->name, err)) < 0)
		return rc;
	jt->name = dj_buf_take(&name, NULL);
	for (size_t k = 0; k < target->npk; k++) {
		const dj_attr *a = &target->attrs[target->pk[k]];
		if (!fk_derived(target, a->name))
			continue; /* a native key attribute: dropped, as the library does (§6.2) */
		/* original_type (the marker) if any, else the SQL type as read back */
		jt->pk[jt->npk] = strdup(a->name);
		jt->decl[jt->npk] = strdup(a->marker ? a->marker : a->sql_type);
		if (!jt->pk[jt->npk++] || !jt->decl[jt->npk - 1])
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	if (!jt->name || jt->npk == 0)
		return jt->name ? dj_err_set(err, DJ_EUSAGE,
		                             "cannot create jobs table for %s.%s: no FK-derived "
		                             "primary key attributes found",
		                             target->schema, target->name)
		                : dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

void dj_jobtable_dispose(dj_jobtable *jt)
{
	for (size_t i = 0; i < jt->npk; i++) {
		free(jt->pk[i]);
		free(jt->decl[i]);
	}
	free(jt->pk);
	free(jt->decl);
	free(jt->schema);
	free(jt->name);
	memset(jt, 0, sizeof(*jt));
}

static int full_name(dj_buf *out, dj_db_backend b, const char *schema, const char *table,
                     dj_err *err)
{
	int rc = dj_db_quote_ident(b, out, schema, err);
	if (rc == 0 && (rc = dj_buf_addc(out, '.')) == 0)
		rc = dj_db_quote_ident(b, out, table, err);
	return nomem(rc, err);
}

int dj_jobtable_exists(dj_db *db, const dj_jobtable *jt, bool *exists, dj_err *err)
{
	dj_db_param p[2] = {dj_db_text(jt->schema), dj_db_text(jt->name)};
	dj_buf v = DJ_BUF_INIT;
	int rc = dj_db_query_value(db,
	                           "SELECT COUNT(*) FROM information_schema.tables WHERE "
	                           "table_schema = ? AND table_name = ?",
	                           p, 2, &v, NULL, err);
	if (rc == 0)
		*exists = v.ptr[0] != '0';
	dj_buf_dispose(&v);
	return rc;
}

/* --- DDL (§6.2, §2.4) ----------------------------------------------------------------------- */

/* enum_ + the first 8 hex digits of MD5 of the sorted values joined by '_' (§2.4). */
static int pg_enum_name(char out[16], dj_err *err)
{
	static const char sorted[] = "error_ignore_pending_reserved_success";
	char hex[DJ_MD5_HEX_LEN + 1];
	int rc = dj_md5_hex(sorted, sizeof(sorted) - 1, hex, err);
	if (rc == 0)
		snprintf(out, 16, "enum_%.8s", hex);
	return rc;
}

/* The SQL type a core type declares on `b` (§2.2); NULL when the backend cannot. */
static const char *core_sql(dj_db_backend b, const dj_coltype *ct, const char *decl, char *buf,
                            size_t n)
{
	bool my = b == DJ_DB_MYSQL;
	switch (ct->core) {
	case DJ_CORE_INT8:
		return my ? "tinyint" : "smallint";
	case DJ_CORE_INT16:
		return "smallint";
	case DJ_CORE_INT32:
		return my ? "int" : "integer";
	case DJ_CORE_INT64:
		return "bigint";
	case DJ_CORE_FLOAT32:
		return my ? "float" : "real";
	case DJ_CORE_FLOAT64:
		return my ? "double" : "double precision";
	case DJ_CORE_BOOL:
		return my ? "tinyint" : "boolean";
	case DJ_CORE_UUID:
		return my ? "binary(16)" : "uuid";
	case DJ_CORE_DATE:
		return "date";
	case DJ_CORE_DATETIME:
		if (ct->params[0] < 0)
			return my ? "datetime" : "timestamp";
		snprintf(buf, n, "%s(%d)", my ? "datetime" : "timestamp", ct->params[0]);
		return buf;
	case DJ_CORE_CHAR:
	case DJ_CORE_VARCHAR:
		snprintf(buf, n, "%s(%d)", ct->core == DJ_CORE_CHAR ? "char" : "varchar",
		         ct->params[0]);
		return buf;
	case DJ_CORE_DECIMAL:
		snprintf(buf, n, "%s(%d,%d)", my ? "decimal" : "numeric", ct->params[0],
		         ct->params[1]);
		return buf;
	case DJ_CORE_ENUM:
		return my ? decl : NULL; /* a PostgreSQL enum key would need the parent's type */
	default:
		return NULL; /* json/bytes cannot be keys; legacy markers are not declarable */
	}
}

/* One key column: a core type gets its SQL type and a `:type:` comment, a native type is used
 * as read back, with no comment (§2.1, §6.2). */
static int key_column(const dj_jobtable *jt, size_t k, const char **sql, bool *marked,
                      char *buf, size_t n, dj_err *err)
{
	dj_coltype ct;
	dj_err ignore = DJ_ERR_INIT;
	*marked = dj_coltype_parse(jt->decl[k], strlen(jt->decl[k]), NULL, &ct, &ignore) == 0 &&
	          !ct.codec;
	*sql = *marked ? core_sql(jt->backend, &ct, jt->decl[k], buf, n) : jt->decl[k];
	if (!*sql)
		return dj_err_set(err, DJ_ENOTSUP, "%s.%s: key attribute '%s' of type %s cannot be "
		                  "declared in a jobs table on %s", jt->schema, jt->name, jt->pk[k],
		                  jt->decl[k], jt->backend == DJ_DB_MYSQL ? "MySQL" : "PostgreSQL");
	return 0;
}

/* MySQL: `COMMENT "..."` in double quotes, as the library writes it. */
static int my_comment(dj_buf *out, const char *text)
{
	int rc = dj_buf_adds(out, " COMMENT \"");
	for (const char *p = text; rc == 0 && *p; p++)
		rc = (*p == '"' || *p == '\\') ? dj_buf_addf(out, "\\%c", *p) : dj_buf_addc(out, *p);
	return rc == 0 ? dj_buf_addc(out, '"') : rc;
}

static int column(dj_buf *out, const dj_jobtable *jt, const char *name, const char *sql,
                  const char *tail, const char *marker, dj_err *err)
{
	int rc = dj_db_quote_ident(jt->backend, out, name, err);
	if (rc == 0)
		rc = dj_buf_addf(out, " %s %s", sql, tail);
	if (rc == 0 && marker && jt->backend == DJ_DB_MYSQL) {
		char c[300];
		snprintf(c, sizeof(c), ":%s:", marker);
		rc = my_comment(out, c);
	}
	return nomem(rc == 0 ? dj_buf_adds(out, ",\n") : rc, err);
}

static int create_table(dj_buf *out, const dj_jobtable *jt, const char *enum_type, dj_err *err)
{
	dj_db_backend b = jt->backend;
	char buf[64];
	int rc = dj_buf_adds(out, "CREATE TABLE IF NOT EXISTS ");
	if (rc == 0 && (rc = full_name(out, b, jt->schema, jt->name, err)) == 0)
		rc = dj_buf_adds(out, " (\n");
	for (size_t k = 0; rc == 0 && k < jt->npk; k++) {
		const char *sql;
		bool marked;
		if ((rc = key_column(jt, k, &sql, &marked, buf, sizeof(buf), err)) == 0)
			rc = column(out, jt, jt->pk[k], sql, "NOT NULL", marked ? jt->decl[k] : NULL,
			            err);
	}
	for (size_t i = 0; rc == 0 && i < NJOBCOLS; i++) {
		const struct jobcol *c = &jobcols[i];
		const char *sql = b == DJ_DB_MYSQL ? c->mysql : c->pg ? c->pg : enum_type;
		rc = column(out, jt, c->name, sql, c->tail, c->dj, err);
	}
	if (rc == 0)
		rc = dj_buf_adds(out, "PRIMARY KEY (");
	for (size_t k = 0; rc == 0 && k < jt->npk; k++)
		if ((rc = k ? dj_buf_adds(out, ", ") : 0) == 0)
			rc = dj_db_quote_ident(b, out, jt->pk[k], err);
	if (rc == 0 && b == DJ_DB_MYSQL)
		rc = dj_buf_adds(out, "),\nindex (`status`,`priority`,`scheduled_time`)\n) "
		                      "ENGINE=InnoDB, COMMENT \"Job queue for ");
	else if (rc == 0)
		rc = dj_buf_adds(out, ")\n)");
	if (rc == 0 && b == DJ_DB_MYSQL && (rc = full_name(out, b, jt->schema, jt->target->name,
	                                                  err)) == 0)
		rc = dj_buf_addc(out, '"');
	return nomem(rc, err);
}

/* Close one statement of the NUL-separated list. */
static int end_stmt(dj_buf *out, size_t *n, int rc, dj_err *err)
{
	if (rc == 0 && (rc = dj_buf_addc(out, '\0')) == 0)
		(*n)++;
	return nomem(rc, err);
}

static int pg_index(dj_buf *out, const dj_jobtable *jt, dj_err *err)
{
	char idx[128];
	int rc;
	/* create_index_ddl: "idx_" + table + "_" + the column names joined by "_", cut to 30 */
	snprintf(idx, sizeof(idx), "idx_%s_%.30s", jt->name, "status_priority_scheduled_time");
	if ((rc = dj_buf_adds(out, "CREATE INDEX ")) == 0 &&
	    (rc = dj_db_quote_ident(DJ_DB_POSTGRESQL, out, idx, err)) == 0 &&
	    (rc = dj_buf_adds(out, " ON ")) == 0 &&
	    (rc = full_name(out, DJ_DB_POSTGRESQL, jt->schema, jt->name, err)) == 0)
		rc = dj_buf_adds(out, " (\"status\", \"priority\", \"scheduled_time\")");
	return rc;
}

/* COMMENT ON TABLE|COLUMN <name>[.<col>] IS '<text>' */
static int pg_comment(dj_buf *out, const dj_jobtable *jt, const char *col, const char *text,
                      dj_err *err)
{
	int rc = dj_buf_adds(out, col ? "COMMENT ON COLUMN " : "COMMENT ON TABLE ");
	if (rc == 0)
		rc = full_name(out, DJ_DB_POSTGRESQL, jt->schema, jt->name, err);
	if (rc == 0 && col && (rc = dj_buf_addc(out, '.')) == 0)
		rc = dj_db_quote_ident(DJ_DB_POSTGRESQL, out, col, err);
	if (rc == 0 && (rc = dj_buf_adds(out, " IS ")) == 0)
		rc = dj_db_quote_text(DJ_DB_POSTGRESQL, out, text, strlen(text), err);
	return rc;
}

/* PostgreSQL's statements after CREATE TABLE: index, table comment (always issued, even
 * empty), one comment per column with a marker (§2.1). */
static int pg_post(dj_buf *out, size_t *n, const dj_jobtable *jt, dj_err *err)
{
	dj_buf text = DJ_BUF_INIT;
	char buf[64];
	int rc = end_stmt(out, n, pg_index(out, jt, err), err);
	if (rc == 0 && (rc = dj_buf_adds(&text, "Job queue for ")) == 0)
		rc = full_name(&text, DJ_DB_POSTGRESQL, jt->schema, jt->target->name, err);
	if (rc == 0)
		rc = end_stmt(out, n, pg_comment(out, jt, NULL, text.ptr, err), err);
	for (size_t i = 0; rc == 0 && i < jt->npk + NJOBCOLS; i++) {
		const char *name = i < jt->npk ? jt->pk[i] : jobcols[i - jt->npk].name, *sql;
		const char *marker = i < jt->npk ? jt->decl[i] : jobcols[i - jt->npk].dj;
		bool marked = true;
		if (i < jt->npk && (rc = key_column(jt, i, &sql, &marked, buf, sizeof(buf), err)) < 0)
			break;
		if (!marked)
			continue;
		dj_buf_reset(&text);
		if ((rc = dj_buf_addf(&text, ":%s:", marker)) == 0)
			rc = end_stmt(out, n, pg_comment(out, jt, name, text.ptr, err), err);
	}
	dj_buf_dispose(&text);
	return nomem(rc, err);
}

int dj_jobtable_ddl(dj_buf *out, size_t *n, const dj_jobtable *jt, dj_err *err)
{
	char en[16];
	dj_buf type = DJ_BUF_INIT;
	int rc = 0;
	*n = 0;
	if (jt->backend == DJ_DB_MYSQL)
		return end_stmt(out, n, create_table(out, jt, NULL, err), err);
	/* CREATE TYPE "s"."enum_609a743e" AS ENUM ('pending', ...) (declared order, §2.4) */
	if ((rc = pg_enum_name(en, err)) == 0)
		rc = full_name(&type, DJ_DB_POSTGRESQL, jt->schema, en, err);
	if (rc == 0)
		rc = end_stmt(out, n,
		              dj_buf_addf(out,
		                          "CREATE TYPE %s AS ENUM ('pending', 'reserved', 'success', "
		                          "'error', 'ignore')",
		                          type.ptr),
		              err);
	if (rc == 0)
		rc = end_stmt(out, n, create_table(out, jt, type.ptr, err), err);
	if (rc == 0)
		rc = pg_post(out, n, jt, err);
	dj_buf_dispose(&type);
	return rc;
}

/* --- declaration and lineage (§6.2, §1.5) --------------------------------------------------- */

static int lineage_table(dj_db *db, const dj_jobtable *jt, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	bool my = jt->backend == DJ_DB_MYSQL;
	int rc = dj_buf_adds(&sql, "CREATE TABLE IF NOT EXISTS ");
	if (rc == 0 && (rc = full_name(&sql, jt->backend, jt->schema, "~lineage", err)) == 0)
		rc = dj_buf_adds(
		    &sql, my ? " (\n`table_name` VARCHAR(64) NOT NULL COMMENT \"table name within the "
		               "schema\",\n`attribute_name` VARCHAR(64) NOT NULL COMMENT \"attribute "
		               "name\",\n`lineage` VARCHAR(255) NOT NULL COMMENT \"origin: "
		               "schema.table.attribute\",\nPRIMARY KEY (`table_name`, "
		               "`attribute_name`)\n) ENGINE=InnoDB"
		             : " (\n\"table_name\" VARCHAR(64) NOT NULL,\n\"attribute_name\" "
		               "VARCHAR(64) NOT NULL,\n\"lineage\" VARCHAR(255) NOT NULL,\nPRIMARY "
		               "KEY (\"table_name\", \"attribute_name\")\n)");
	if (rc == 0)
		rc = dj_db_exec(db, sql.ptr, NULL, 0, err);
	dj_buf_dispose(&sql);
	return nomem(rc, err);
}

/* The jobs table's key attributes are native there (no foreign keys): lineage = itself. */
static int lineage_rows(dj_db *db, const dj_jobtable *jt, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, lin = DJ_BUF_INIT;
	dj_db_param *p = calloc(3 * jt->npk + 1, sizeof(*p));
	size_t *off = calloc(jt->npk + 1, sizeof(*off));
	int rc = p && off ? lineage_table(db, jt, err) : DJ_ENOMEM;
	if (rc == 0 && (rc = dj_buf_adds(&sql, "DELETE FROM ")) == 0 &&
	    (rc = full_name(&sql, jt->backend, jt->schema, "~lineage", err)) == 0 &&
	    (rc = dj_buf_adds(&sql, " WHERE table_name = ?")) == 0) {
		p[0] = dj_db_text(jt->name);
		rc = dj_db_exec(db, sql.ptr, p, 1, err);
	}
	dj_buf_reset(&sql);
	if (rc == 0 && (rc = dj_buf_adds(&sql, "INSERT INTO ")) == 0 &&
	    (rc = full_name(&sql, jt->backend, jt->schema, "~lineage", err)) == 0)
		rc = dj_buf_adds(&sql, " (table_name, attribute_name, lineage) VALUES ");
	for (size_t k = 0; rc == 0 && k < jt->npk; k++) {
		off[k] = lin.len;
		rc = dj_buf_addf(&lin, "%s.%s.%s%c", jt->schema, jt->name, jt->pk[k], '\0');
		if (rc == 0)
			rc = dj_buf_adds(&sql, k ? ", (?, ?, ?)" : "(?, ?, ?)");
	}
	for (size_t k = 0; rc == 0 && k < jt->npk; k++) {
		p[3 * k] = dj_db_text(jt->name);
		p[3 * k + 1] = dj_db_text(jt->pk[k]);
		p[3 * k + 2] = dj_db_text(lin.ptr + off[k]);
	}
	if (rc == 0)
		rc = dj_buf_adds(&sql, jt->backend == DJ_DB_MYSQL
		                           ? " ON DUPLICATE KEY UPDATE table_name = VALUES(table_name), "
		                             "attribute_name = VALUES(attribute_name), lineage = "
		                             "VALUES(lineage)"
		                           : " ON CONFLICT (table_name, attribute_name) DO UPDATE SET "
		                             "lineage = EXCLUDED.lineage");
	if (rc == 0)
		rc = dj_db_exec(db, sql.ptr, p, 3 * jt->npk, err);
	free(p);
	free(off);
	dj_buf_dispose(&sql);
	dj_buf_dispose(&lin);
	return nomem(rc, err);
}

static int pg_type_exists(dj_db *db, const dj_jobtable *jt, bool *exists, dj_err *err)
{
	char en[16];
	dj_buf v = DJ_BUF_INIT;
	int rc = pg_enum_name(en, err);
	dj_db_param p[2] = {dj_db_text(jt->schema), dj_db_text(en)};
	if (rc == 0)
		rc = dj_db_query_value(db,
		                       "SELECT COUNT(*) FROM pg_catalog.pg_type t JOIN "
		                       "pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
		                       "WHERE n.nspname = ? AND t.typname = ?",
		                       p, 2, &v, NULL, err);
	if (rc == 0)
		*exists = v.ptr[0] != '0';
	dj_buf_dispose(&v);
	return rc;
}

static int run_ddl(dj_db *db, const dj_jobtable *jt, dj_err *err)
{
	dj_buf ddl = DJ_BUF_INIT;
	size_t n = 0;
	bool have_type = false;
	const char *stmt;
	int rc = dj_jobtable_ddl(&ddl, &n, jt, err);
	if (rc == 0 && jt->backend == DJ_DB_POSTGRESQL)
		rc = pg_type_exists(db, jt, &have_type, err);
	stmt = ddl.ptr;
	for (size_t i = 0; rc == 0 && i < n; i++, stmt += strlen(stmt) + 1)
		if (!(i == 0 && have_type)) /* the library ignores "type exists"; djrun asks first */
			rc = dj_db_exec(db, stmt, NULL, 0, err);
	dj_buf_dispose(&ddl);
	return rc;
}

int dj_jobtable_declare(dj_db *db, const dj_jobtable *jt, bool *created, dj_err *err)
{
	bool exists = false;
	int rc;
	if (created)
		*created = false;
	if (dj_db_in_transaction(db))
		return dj_err_set(err, DJ_EUSAGE, "cannot declare %s.%s inside a transaction",
		                  jt->schema, jt->name);
	if ((rc = dj_jobtable_exists(db, jt, &exists, err)) < 0 || exists)
		return rc;
	if ((rc = run_ddl(db, jt, err)) == 0 && (rc = lineage_rows(db, jt, err)) == 0 && created)
		*created = true;
	if (rc < 0)
		dj_err_context(err, "declare %s.%s", jt->schema, jt->name);
	return rc;
}

/* --- worker identity (§6.7) ----------------------------------------------------------------- */

int dj_job_worker_init(dj_job_worker *w, dj_db *db, const char *version, dj_err *err)
{
	struct utsname u;
	dj_buf user = DJ_BUF_INIT;
	int rc;
	memset(w, 0, sizeof(*w));
	if (uname(&u) == 0)
		snprintf(w->host, sizeof(w->host), "%s", u.nodename);
	w->pid = (int64_t)getpid();
	w->connection_id = dj_db_connection_id(db);
	snprintf(w->version, sizeof(w->version), "%.64s", version ? version : "");
	rc = dj_db_query_value(db,
	                       dj_db_backend_id(db) == DJ_DB_MYSQL ? "SELECT user()"
	                                                           : "SELECT current_user",
	                       NULL, 0, &user, NULL, err);
	if (rc == 0)
		snprintf(w->user, sizeof(w->user), "%s", user.ptr);
	dj_buf_dispose(&user);
	return rc;
}

/* --- status (§6.9) -------------------------------------------------------------------------- */

static int64_t *count_slot(dj_job_counts *c, const char *status)
{
	if (!strcmp(status, "pending"))
		return &c->pending;
	if (!strcmp(status, "reserved"))
		return &c->reserved;
	if (!strcmp(status, "success"))
		return &c->success;
	if (!strcmp(status, "error"))
		return &c->error;
	if (!strcmp(status, "ignore"))
		return &c->ignore;
	return NULL;
}

int dj_jobs_progress(dj_db *db, const dj_jobtable *jt, dj_job_counts *out, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_rows *r = NULL;
	bool exists = false;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = dj_jobtable_exists(db, jt, &exists, err)) < 0 || !exists)
		return rc;
	if ((rc = dj_buf_adds(&sql, "SELECT status, COUNT(*) AS n FROM ")) == 0 &&
	    (rc = full_name(&sql, jt->backend, jt->schema, jt->name, err)) == 0 &&
	    (rc = dj_buf_adds(&sql, " GROUP BY status")) == 0)
		rc = dj_db_query(db, sql.ptr, NULL, 0, &r, err);
	while (rc == 0 && (rc = dj_db_rows_next(r, err)) == 1) {
		int64_t *slot = count_slot(out, dj_db_rows_text(r, 0));
		int64_t n = strtoll(dj_db_rows_text(r, 1), NULL, 10);
		if (slot)
			*slot = n;
		out->total += n;
		rc = 0;
	}
	dj_db_rows_free(r);
	dj_buf_dispose(&sql);
	return nomem(rc < 0 ? rc : 0, err);
}

int dj_jobs_clear_errors(dj_db *db, const dj_jobtable *jt, int64_t *n, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	int rc = dj_buf_adds(&sql, "DELETE FROM ");
	if (rc == 0 && (rc = full_name(&sql, jt->backend, jt->schema, jt->name, err)) == 0 &&
	    (rc = dj_buf_adds(&sql, " WHERE status = 'error'")) == 0)
		rc = dj_db_exec(db, sql.ptr, NULL, 0, err);
	if (rc == 0 && n)
		*n = (int64_t)dj_db_affected_rows(db);
	dj_buf_dispose(&sql);
	return nomem(rc, err);
}
