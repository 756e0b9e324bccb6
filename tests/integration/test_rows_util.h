/*
 * Shared by the rows, key_source and jobs integration tests (header only, static functions):
 * the two servers as targets, the fixture pipeline restored under its own names fx_lab /
 * fx_ephys with the server's client (as fixtures_restore.py does) and dropped at the end
 * (fx_ephys first), its stores extracted into a temporary folder with datajoint.json pointing
 * there, and djt_<pid>_<n> schemas copied from the fixture's DDL.
 *
 * A target whose DJ_TEST_* variables are missing is skipped, or fails when
 * DJ_TEST_REQUIRE_SERVICES is set.
 */
#ifndef DJ_TESTS_ROWS_UTIL_H
#define DJ_TESTS_ROWS_UTIL_H

#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/schema.h"
#include "jobs/row.h"
#include "runner/config.h"
#include "tests/unit/vectors.h"

/* not every test program uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"

typedef struct target {
	const char *backend;
	const char *var; /* DJ_TEST_MYSQL / DJ_TEST_PG */
	const char *dump, *expected, *store_main, *store_deep;
	char host[128], port[16], user[128], pass[128], dbname[128];
	dj_db *db;
	json_t *exp;
	char root[512]; /* extracted stores: root/main, root/deep */
	dj_config cfg;
	bool cfg_loaded;
	dj_row_ctx ctx;
} target;

#define TARGET(b, v, d, e, m, dp)                                                                  \
	{                                                                                          \
		.backend = b, .var = v, .dump = d, .expected = e, .store_main = m, .store_deep = dp \
	}

static target mysql_target =
    TARGET("mysql", "DJ_TEST_MYSQL", "fixtures/pipeline/mariadb.sql",
           "fixtures/pipeline/expected.json", "fixtures/pipeline/store-main.tar.gz",
           "fixtures/pipeline/store-deep.tar.gz");
static target pg_target =
    TARGET("postgresql", "DJ_TEST_PG", "fixtures/pipeline/postgres.sql",
           "fixtures/pipeline/expected-postgres.json",
           "fixtures/pipeline/postgres-store-main.tar.gz",
           "fixtures/pipeline/postgres-store-deep.tar.gz");

static inline bool is_pg(const target *t)
{
	return !strcmp(t->backend, "postgresql");
}

static inline dj_db_backend backend_of(const target *t)
{
	return is_pg(t) ? DJ_DB_POSTGRESQL : DJ_DB_MYSQL;
}

static bool env_get(const target *t, const char *suffix, char *out, size_t n)
{
	char name[64];
	const char *v;
	snprintf(name, sizeof(name), "%s_%s", t->var, suffix);
	if (!(v = getenv(name)) || !*v)
		return false;
	snprintf(out, n, "%s", v);
	return true;
}

static void exec_sql(dj_db *db, const char *fmt, ...) DJ_PRINTF(2, 3);
static void exec_sql(dj_db *db, const char *fmt, ...)
{
	dj_err err = DJ_ERR_INIT;
	char sql[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (dj_db_exec(db, sql, NULL, 0, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
}

/* The first column of the first row as text ("" for NULL or no row). */
static char *query_text(dj_db *db, const char *sql, const dj_db_param *p, size_t n)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf out = DJ_BUF_INIT;
	bool isnull = false;
	int rc = dj_db_query_value(db, sql, p, n, &out, &isnull, &err);
	if (rc < 0 && rc != DJ_ENOTFOUND)
		fail_msg("%s: %s", sql, err.msg);
	return dj_buf_take(&out, NULL);
}

static long long query_int(dj_db *db, const char *sql, const dj_db_param *p, size_t n)
{
	char *s = query_text(db, sql, p, n);
	long long v = atoll(s);
	free(s);
	return v;
}

static void drop_schema(target *t, const char *name)
{
	if (is_pg(t))
		exec_sql(t->db, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", name);
	else
		exec_sql(t->db, "DROP DATABASE IF EXISTS `%s`", name);
}

/* A fresh schema name for this process; every one is dropped at teardown (before fx_*). */
static int djt_count;
static const char *djt_name(void)
{
	static char name[64];
	snprintf(name, sizeof(name), "djt_%ld_%d", (long)getpid(), ++djt_count);
	return name;
}

static void drop_djt(target *t)
{
	char name[64];
	for (int i = 1; i <= djt_count; i++) {
		snprintf(name, sizeof(name), "djt_%ld_%d", (long)getpid(), i);
		drop_schema(t, name);
	}
}

static void run_child(char *const argv[], const char *in_path, const char *pwvar, const char *pw)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out = open("/dev/null", O_WRONLY);
		if (in_path) {
			int in = open(in_path, O_RDONLY);
			if (in < 0 || dup2(in, 0) < 0)
				_exit(126);
		}
		if (out < 0 || dup2(out, 1) < 0)
			_exit(126);
		if (pwvar)
			setenv(pwvar, pw, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s failed (status %d)", argv[0], status);
}

/* Load the dump with the server's own client; the password travels in its environment. */
static void restore(const target *t)
{
	char dump[1024];
	snprintf(dump, sizeof(dump), "%s", dj_test_shared_path(t->dump));
	if (is_pg(t)) {
		char *argv[] = {"psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-h", (char *)t->host,
		                "-p", (char *)t->port, "-U", (char *)t->user, "-d",
		                (char *)(t->dbname[0] ? t->dbname : "postgres"), NULL};
		run_child(argv, dump, "PGPASSWORD", t->pass);
	} else {
		char *argv[] = {"mariadb", "--no-defaults", "-h", (char *)t->host, "-P",
		                (char *)t->port,   "-u",          (char *)t->user, NULL};
		run_child(argv, dump, "MYSQL_PWD", t->pass);
	}
}

static void extract(const char *tarball, const char *dir)
{
	char tar[1024];
	char *argv[] = {"tar", "-xzf", tar, "-C", (char *)dir, NULL};
	snprintf(tar, sizeof(tar), "%s", dj_test_shared_path(tarball));
	if (mkdir(dir, 0755) < 0)
		fail_msg("mkdir %s", dir);
	run_child(argv, NULL, NULL, NULL);
}

/* Stores extracted under t->root and a datajoint.json naming them, loaded as djrun loads it. */
static void stores_setup(target *t)
{
	char path[600], json[2048];
	dj_config_opts o = {0};
	const char *const envp[] = {NULL};
	dj_err err = DJ_ERR_INIT;
	snprintf(t->root, sizeof(t->root), "%s/%s", dj_test_tmpdir(), t->backend);
	if (mkdir(t->root, 0755) < 0)
		fail_msg("mkdir %s", t->root);
	snprintf(path, sizeof(path), "%s/main", t->root);
	extract(t->store_main, path);
	snprintf(path, sizeof(path), "%s/deep", t->root);
	extract(t->store_deep, path);
	snprintf(json, sizeof(json),
	         "{\"stores\": {\"default\": \"main\", \"filepath_default\": \"main\",\n"
	         " \"main\": {\"protocol\": \"file\", \"location\": \"%s/main\"},\n"
	         " \"deep\": {\"protocol\": \"file\", \"location\": \"%s/deep\", "
	         "\"subfolding\": [2, 2]}},\n \"jobs\": {\"add_job_metadata\": true}}\n",
	         t->root, t->root);
	snprintf(path, sizeof(path), "%s/datajoint.json", t->root);
	if (dj_file_write(path, json, strlen(json), &err) < 0)
		fail_msg("%s", err.msg);
	o.envp = envp;
	o.config_file = path;
	if (dj_config_load(&t->cfg, &o, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	t->cfg_loaded = true;
	if (dj_row_ctx_init(&t->ctx, t->cfg.stores, t->cfg.nstores, t->cfg.store_default, &err) < 0)
		fail_msg("%s", err.msg);
}

static void drop_fixture(target *t)
{
	drop_djt(t); /* copies refer to fx_lab */
	drop_schema(t, "fx_ephys"); /* fx_ephys has foreign keys into fx_lab */
	drop_schema(t, "fx_lab");
}

static int fx_setup(void **state)
{
	target *t = *state;
	dj_db_params p = {0};
	dj_err err = DJ_ERR_INIT;
	json_error_t jerr;
	if (!env_get(t, "HOST", t->host, sizeof(t->host)) ||
	    !env_get(t, "PORT", t->port, sizeof(t->port)) ||
	    !env_get(t, "USER", t->user, sizeof(t->user)) ||
	    !env_get(t, "PASS", t->pass, sizeof(t->pass)))
		return 0; /* need() skips, or fails under DJ_TEST_REQUIRE_SERVICES */
	if (is_pg(t))
		env_get(t, "DB", t->dbname, sizeof(t->dbname));
	p.backend = t->backend;
	p.host = t->host;
	p.port = atoi(t->port);
	p.user = t->user;
	p.password = t->pass;
	p.dbname = t->dbname[0] ? t->dbname : NULL;
	if (dj_db_open(&t->db, &p, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	if (!(t->exp = json_load_file(dj_test_shared_path(t->expected), 0, &jerr)))
		fail_msg("%s: %s", t->expected, jerr.text);
	drop_fixture(t);
	restore(t);
	/* the restore created enum types after this connection cached them: reconnect */
	if (dj_db_connect(t->db, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	stores_setup(t);
	return 0;
}

static int fx_teardown(void **state)
{
	target *t = *state;
	if (t->db) {
		char cmd[600];
		drop_fixture(t);
		dj_db_close(t->db);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
		if (t->root[0] && system(cmd) != 0)
			fail_msg("%s", cmd);
	}
	dj_row_ctx_dispose(&t->ctx);
	if (t->cfg_loaded)
		dj_config_free(&t->cfg);
	json_decref(t->exp);
	t->db = NULL;
	t->exp = NULL;
	t->cfg_loaded = false;
	return 0;
}

static target *need(void **state)
{
	target *t = *state;
	if (!t->db) {
		if (getenv("DJ_TEST_REQUIRE_SERVICES"))
			fail_msg("%s_* variables are not set but DJ_TEST_REQUIRE_SERVICES is",
			         t->var);
		skip();
	}
	return t;
}

static dj_schema load_schema(target *t, const char *name)
{
	dj_schema s;
	dj_err err = DJ_ERR_INIT;
	if (dj_schema_load(t->db, name, t->cfg.store_default, &s, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	return s;
}

static const dj_table *must_table(const dj_schema *s, const char *name)
{
	const dj_table *tb = dj_schema_table(s, name);
	if (!tb)
		fail_msg("%s.%s not found", s->name, name);
	return tb;
}

/* --- copying the fixture's DDL into a new schema ----------------------------------------------
 */

static void copy_table_mysql(target *t, const char *from, const char *to, const char *table)
{
	dj_err err = DJ_ERR_INIT;
	dj_db_rows *r;
	char sql[512];
	char *ddl;
	snprintf(sql, sizeof(sql), "SHOW CREATE TABLE `%s`.`%s`", from, table);
	if (dj_db_query(t->db, sql, NULL, 0, &r, &err) < 0 || dj_db_rows_next(r, &err) != 1)
		fail_msg("%s: %s", sql, err.msg);
	ddl = strdup(dj_db_rows_text(r, 1));
	dj_db_rows_free(r);
	/* same-schema references are unqualified: they resolve in the current database */
	exec_sql(t->db, "USE `%s`", to);
	if (dj_db_exec(t->db, ddl, NULL, 0, &err) < 0)
		fail_msg("%s: %s", ddl, err.msg);
	free(ddl);
}

static void copy_table_pg(target *t, const char *from, const char *to, const char *table)
{
	dj_err err = DJ_ERR_INIT;
	dj_db_rows *r;
	dj_db_param p[2] = {dj_db_text(from), dj_db_text(table)};
	char prefix[160], *defs[16];
	size_t n = 0;
	exec_sql(t->db, "CREATE TABLE \"%s\".\"%s\" (LIKE \"%s\".\"%s\" INCLUDING ALL)", to, table,
	         from, table);
	if (dj_db_query(t->db,
	                "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class r "
	                "ON r.oid = c.conrelid JOIN pg_namespace s ON s.oid = r.relnamespace "
	                "WHERE s.nspname = ? AND r.relname = ? AND c.contype = 'f' ORDER BY c.conname",
	                p, 2, &r, &err) < 0)
		fail_msg("%s", err.msg);
	while (n < 16 && dj_db_rows_next(r, &err) == 1)
		defs[n++] = strdup(dj_db_rows_text(r, 0));
	dj_db_rows_free(r);
	snprintf(prefix, sizeof(prefix), "REFERENCES %s.", from);
	for (size_t i = 0; i < n; i++) {
		char *at = strstr(defs[i], prefix);
		if (at) /* same-schema parent: point it at the copy */
			exec_sql(t->db, "ALTER TABLE \"%s\".\"%s\" ADD %.*sREFERENCES \"%s\".%s", to, table,
			         (int)(at - defs[i]), defs[i], to, at + strlen(prefix));
		else
			exec_sql(t->db, "ALTER TABLE \"%s\".\"%s\" ADD %s", to, table, defs[i]);
		free(defs[i]);
	}
}

/* New schema `to` with the user tables of `from` (dependency order, foreign keys included,
 * no rows, no ~ tables). */
static void copy_schema(target *t, const char *from, const char *to)
{
	dj_schema s = load_schema(t, from);
	drop_schema(t, to);
	if (is_pg(t)) {
		exec_sql(t->db, "CREATE SCHEMA \"%s\"", to);
	} else { /* tables declared later take the schema's default collation */
		dj_db_param p = dj_db_text(from);
		char *coll = query_text(t->db,
		                        "SELECT default_collation_name FROM "
		                        "information_schema.schemata WHERE schema_name = ?",
		                        &p, 1);
		exec_sql(t->db, "CREATE DATABASE `%s` COLLATE %s", to, coll);
		free(coll);
	}
	for (size_t i = 0; i < s.norder; i++) {
		if (is_pg(t))
			copy_table_pg(t, from, to, s.order[i]->name);
		else
			copy_table_mysql(t, from, to, s.order[i]->name);
	}
	dj_schema_free(&s);
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate(fn, &mysql_target), cmocka_unit_test_prestate(fn, &pg_target)

static int group_setup(void **state)
{
	(void)state;
	return fx_setup((void *[]){&mysql_target}) || fx_setup((void *[]){&pg_target});
}

static int group_teardown(void **state)
{
	(void)state;
	return fx_teardown((void *[]){&mysql_target}) || fx_teardown((void *[]){&pg_target});
}

#endif
