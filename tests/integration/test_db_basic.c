/*
 * db/db.h against the real servers (both backends, same tests): connecting and the session,
 * clear errors for a wrong password and a closed port, binary-safe parameters and results,
 * transactions and savepoints, quoting round trips, the reconnect rule, streaming results.
 * Each backend works in its own schema djt_<pid>_<n>, dropped at the end.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"

typedef struct target {
	const char *backend; /* "mysql" / "postgresql" */
	const char *var;     /* DJ_TEST_MYSQL / DJ_TEST_PG */
	int n;               /* schema number */
	char host[128], user[128], pass[128], dbname[128], schema[64];
	int port;
	dj_db *db;
} target;

static target mysql_target = {"mysql", "DJ_TEST_MYSQL", 1, "", "", "", "", "", 0, NULL};
static target pg_target = {"postgresql", "DJ_TEST_PG", 2, "", "", "", "", "", 0, NULL};

/* --- helpers --------------------------------------------------------------------------------- */

/* The variable DJ_TEST_<backend>_<suffix>, or false when it is not set. */
static bool env(const target *t, const char *suffix, char *out, size_t n)
{
	char name[64];
	const char *v;
	snprintf(name, sizeof(name), "%s_%s", t->var, suffix);
	v = getenv(name);
	if (!v || !*v)
		return false;
	snprintf(out, n, "%s", v);
	return true;
}

static dj_db_params params_of(const target *t)
{
	dj_db_params p = {0};
	p.backend = t->backend;
	p.host = t->host;
	p.port = t->port;
	p.user = t->user;
	p.password = t->pass;
	p.dbname = t->dbname[0] ? t->dbname : NULL;
	p.connect_timeout = 5;
	return p;
}

#define OK(call)                                                                                   \
	do {                                                                                       \
		if ((call) < 0)                                                                    \
			fail_msg("%s:%d: %s", __FILE__, __LINE__, err.msg);                        \
	} while (0)

static dj_db *open_db(const target *t)
{
	dj_db_params p = params_of(t);
	dj_err err = DJ_ERR_INIT;
	dj_db *db = NULL;
	if (dj_db_open(&db, &p, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	return db;
}

static void exec(dj_db *db, const char *sql)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_db_exec(db, sql, NULL, 0, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
}

static void execf(dj_db *db, const char *fmt, ...) DJ_PRINTF(2, 3);
static void execf(dj_db *db, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	exec(db, sql);
}

/* The first value of a query as a string (static buffer), "NULL" for SQL NULL. */
static const char *value(dj_db *db, const char *sql)
{
	static char out[512];
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	bool null = false;
	if (dj_db_query_value(db, sql, NULL, 0, &b, &null, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
	snprintf(out, sizeof(out), "%s", null ? "NULL" : b.ptr);
	dj_buf_dispose(&b);
	return out;
}

static bool is_pg(const target *t)
{
	return !strcmp(t->backend, "postgresql");
}

/* "`s`.`name`" / "\"s\".\"name\"" in a static buffer */
static const char *tbl(const target *t, const char *name)
{
	static char out[256];
	char q = is_pg(t) ? '"' : '`';
	snprintf(out, sizeof(out), "%c%s%c.%c%s%c", q, t->schema, q, q, name, q);
	return out;
}

static int setup(void **state)
{
	target *t = *state;
	char port[16];
	/* without the variables the tests skip (need()), or fail under DJ_TEST_REQUIRE_SERVICES */
	if (!env(t, "HOST", t->host, sizeof(t->host)) || !env(t, "PORT", port, sizeof(port)) ||
	    !env(t, "USER", t->user, sizeof(t->user)) || !env(t, "PASS", t->pass, sizeof(t->pass)))
		return 0;
	if (is_pg(t))
		env(t, "DB", t->dbname, sizeof(t->dbname));
	t->port = atoi(port);
	snprintf(t->schema, sizeof(t->schema), "djt_%ld_%d", (long)getpid(), t->n);
	t->db = open_db(t);
	if (is_pg(t))
		execf(t->db, "CREATE SCHEMA \"%s\"", t->schema);
	else
		execf(t->db, "CREATE DATABASE `%s`", t->schema);
	return 0;
}

static int teardown(void **state)
{
	target *t = *state;
	if (!t->db)
		return 0;
	if (is_pg(t))
		execf(t->db, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", t->schema);
	else
		execf(t->db, "DROP DATABASE IF EXISTS `%s`", t->schema);
	dj_db_close(t->db);
	t->db = NULL;
	return 0;
}

/* The target of a test whose setup connected; skip (or fail, when services are required) if the
 * server's variables were not set. */
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

/* --- connecting --------------------------------------------------------------------------------
 */

static void connect_session(void **state)
{
	target *t = need(state);
	dj_db *db = t->db;
	assert_string_equal(dj_db_backend_name(db), t->backend);
	assert_true(strlen(dj_db_server_version(db)) > 0);
	assert_true(dj_db_connection_id(db) > 0);
	assert_string_equal(value(db, "SELECT 1"), "1");
	if (is_pg(t)) {
		assert_string_equal(value(db, "SHOW TimeZone"), "UTC");
		assert_string_equal(value(db, "SHOW bytea_output"), "hex");
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)dj_db_connection_id(db));
		assert_string_equal(value(db, "SELECT pg_backend_pid()"), id);
	} else {
		assert_string_equal(value(db, "SELECT @@session.time_zone"), "+00:00");
		assert_string_equal(value(db, "SELECT @@character_set_client"), "utf8mb4");
		assert_non_null(
		    strstr(value(db, "SELECT @@session.sql_mode"), "STRICT_ALL_TABLES"));
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)dj_db_connection_id(db));
		assert_string_equal(value(db, "SELECT CONNECTION_ID()"), id);
	}
	/* utf8 text survives */
	assert_string_equal(value(db, "SELECT 'caf\xc3\xa9 \xc2\xb5-probe \xe2\x9c\x93'"),
	                    "caf\xc3\xa9 \xc2\xb5-probe \xe2\x9c\x93");
}

static void wrong_password(void **state)
{
	target *t = need(state);
	dj_db_params p = params_of(t);
	dj_err err = DJ_ERR_INIT;
	dj_db *db = NULL;
	char who[300];
	p.password = "not-the-password";
	assert_int_equal(dj_db_open(&db, &p, &err), DJ_EUSAGE);
	assert_null(db);
	snprintf(who, sizeof(who), "%s@%s:%d", t->user, t->host, t->port);
	if (!strstr(err.msg, who) || !strstr(err.msg, "authentication failed"))
		fail_msg("message does not name %s as an authentication failure: %s", who, err.msg);
	assert_null(strstr(err.msg, "not-the-password"));
	/* the class is kept for the caller (dj_db_new + dj_db_connect keeps the handle) */
	assert_int_equal(dj_db_new(&db, &p, &err), 0);
	assert_int_equal(dj_db_connect(db, &err), DJ_EUSAGE);
	assert_int_equal(dj_db_error_class(db), DJ_DB_E_AUTH);
	dj_db_close(db);
}

static int closed_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
	port = ntohs(a.sin_port);
	close(fd); /* bound but never listening: connections are refused */
	return port;
}

static void unreachable(void **state)
{
	target *t = need(state);
	dj_db_params p = params_of(t);
	dj_err err = DJ_ERR_INIT;
	dj_db *db = NULL;
	p.host = "127.0.0.1";
	p.port = closed_port();
	assert_int_equal(dj_db_new(&db, &p, &err), 0);
	assert_int_equal(dj_db_connect(db, &err), DJ_ETRANSIENT);
	assert_int_equal(dj_db_error_class(db), DJ_DB_E_CONNECT);
	assert_non_null(strstr(err.msg, "cannot connect"));
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	/* statements on a handle that never connected try again and fail the same way */
	dj_err_clear(&err);
	assert_int_equal(dj_db_exec(db, "SELECT 1", NULL, 0, &err), DJ_ETRANSIENT);
	dj_db_close(db);
}

static void tls(void **state)
{
	target *t = need(state);
	dj_db_params p = params_of(t);
	dj_err err = DJ_ERR_INIT;
	dj_db *db = NULL;
	/* the test servers run without TLS: required TLS is a connection error, auto falls back */
	p.use_tls = DJ_DB_TLS_ON;
	if (dj_db_open(&db, &p, &err) == 0) {
		dj_db_close(db); /* a server with TLS after all */
	} else {
		assert_int_equal(err.code, DJ_ETRANSIENT);
	}
	p.use_tls = DJ_DB_TLS_AUTO;
	dj_err_clear(&err);
	assert_int_equal(dj_db_open(&db, &p, &err), 0);
	dj_db_close(db);
	p.use_tls = DJ_DB_TLS_OFF;
	assert_int_equal(dj_db_open(&db, &p, &err), 0);
	dj_db_close(db);
}

/* --- binary safety -----------------------------------------------------------------------------
 */

static void make_blob_table(target *t, const char *name)
{
	if (is_pg(t))
		execf(t->db,
		      "CREATE TABLE %s (id integer NOT NULL, data bytea, doc jsonb, u uuid, "
		      "txt varchar(255), num double precision, big bigint, PRIMARY KEY (id))",
		      tbl(t, name));
	else
		execf(t->db,
		      "CREATE TABLE %s (id int NOT NULL, data longblob, doc json, u binary(16), "
		      "txt varchar(255), num double, big bigint, PRIMARY KEY (id)) ENGINE=InnoDB",
		      tbl(t, name));
}

static void check_row(dj_db_rows *r, const uint8_t *data, size_t n, const char *uuid_text,
                      const uint8_t *uuid, bool pg)
{
	dj_bytes v = dj_db_rows_value(r, 0);
	assert_int_equal(dj_db_rows_type(r, 0), DJ_DB_T_BYTES);
	if (v.len != n || memcmp(v.ptr, data, n))
		fail_msg("bytes differ: %zu bytes back, %zu sent", v.len, n);
	v = dj_db_rows_value(r, 1);
	assert_int_equal(dj_db_rows_type(r, 1), pg ? DJ_DB_T_UUID : DJ_DB_T_BYTES);
	if (pg)
		assert_string_equal(dj_db_rows_text(r, 1), uuid_text);
	else
		assert_memory_equal(v.ptr, uuid, 16);
	assert_int_equal(dj_db_rows_type(r, 2), DJ_DB_T_JSON);
	assert_non_null(strstr(dj_db_rows_text(r, 2), "\"k\""));
	assert_true(dj_db_rows_isnull(r, 3));
	assert_null(dj_db_rows_text(r, 3));
	assert_int_equal(dj_db_rows_type(r, 4), DJ_DB_T_FLOAT);
	assert_true(strtod(dj_db_rows_text(r, 4), NULL) == 0.1);
	assert_int_equal(dj_db_rows_type(r, 5), DJ_DB_T_INT);
	assert_string_equal(dj_db_rows_text(r, 5), "-9223372036854775808");
}

static void read_back(target *t, const uint8_t *data, size_t n, const char *uuid_text,
                      const uint8_t *uuid, bool with_params)
{
	char sql[512];
	dj_db_param key = dj_db_int(1);
	dj_db_rows *r;
	dj_err err = DJ_ERR_INIT;
	snprintf(sql, sizeof(sql), "SELECT data, u, doc, txt, num, big FROM %s WHERE id = %s",
	         tbl(t, "blobs"), with_params ? "?" : "1");
	OK(dj_db_query(t->db, sql, &key, with_params ? 1 : 0, &r, &err));
	assert_int_equal(dj_db_rows_nfields(r), 6);
	assert_string_equal(dj_db_rows_name(r, 0), "data");
	assert_int_equal(dj_db_rows_next(r, &err), 1);
	check_row(r, data, n, uuid_text, uuid, is_pg(t));
	assert_int_equal(dj_db_rows_next(r, &err), 0);
	dj_db_rows_free(r);
}

static void binary_roundtrip(void **state)
{
	target *t = need(state);
	static const uint8_t uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
	                                 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
	const char *uuid_text = "12345678-9abc-def0-0011-223344556677";
	size_t n = 256 * 4 + (1 << 20);
	uint8_t *data = malloc(n);
	dj_err err = DJ_ERR_INIT;
	assert_non_null(data);
	/* every byte value, runs of NULs, then a megabyte of pseudo-random bytes */
	for (size_t i = 0; i < n; i++)
		data[i] = i < 256 ? (uint8_t)i : i < 512 ? 0 : (uint8_t)((i * 2654435761u) >> 13);
	make_blob_table(t, "blobs");
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s (id, data, doc, u, txt, num, big) VALUES (?, ?, ?, ?, ?, ?, ?)",
	         tbl(t, "blobs"));
	dj_db_param p[7] = {dj_db_int(1),
	                    dj_db_bytes(data, n),
	                    dj_db_text("{\"k\": [1, \"caf\\u00e9\"]}"),
	                    is_pg(t) ? dj_db_text(uuid_text) : dj_db_bytes(uuid, 16),
	                    dj_db_null(),
	                    dj_db_double(0.1),
	                    dj_db_int(INT64_MIN)};
	OK(dj_db_exec(t->db, sql, p, 7, &err));
	assert_int_equal(dj_db_affected_rows(t->db), 1);
	read_back(t, data, n, uuid_text, uuid, true);  /* MySQL: prepared statement results */
	read_back(t, data, n, uuid_text, uuid, false); /* MySQL: text protocol results */
	/* empty bytes are not NULL */
	dj_db_param e[2] = {dj_db_int(2), dj_db_bytes("", 0)};
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id, data) VALUES (?, ?)", tbl(t, "blobs"));
	OK(dj_db_exec(t->db, sql, e, 2, &err));
	snprintf(sql, sizeof(sql), "SELECT data IS NULL, length(data) FROM %s WHERE id = 2",
	         tbl(t, "blobs"));
	assert_string_equal(value(t->db, sql), "0");
	/* PostgreSQL text cannot carry NUL: a clear error, not a truncated value */
	if (is_pg(t)) {
		dj_db_param bad[2] = {dj_db_int(3), dj_db_textn("a\0b", 3)};
		snprintf(sql, sizeof(sql), "INSERT INTO %s (id, txt) VALUES (?, ?)",
		         tbl(t, "blobs"));
		assert_int_equal(dj_db_exec(t->db, sql, bad, 2, &err), DJ_EFORMAT);
	}
	free(data);
}

/* --- transactions ------------------------------------------------------------------------------
 */

static void count_is(target *t, const char *table, const char *want)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tbl(t, table));
	assert_string_equal(value(t->db, sql), want);
}

static void insert_id(target *t, const char *table, int id)
{
	execf(t->db, "INSERT INTO %s (id) VALUES (%d)", tbl(t, table), id);
}

static void transactions(void **state)
{
	target *t = need(state);
	dj_db *db = t->db;
	dj_err err = DJ_ERR_INIT;
	execf(db, "CREATE TABLE %s (id int NOT NULL, PRIMARY KEY (id))%s", tbl(t, "tx"),
	      is_pg(t) ? "" : " ENGINE=InnoDB");
	/* rollback discards */
	OK(dj_db_begin(db, &err));
	assert_true(dj_db_in_transaction(db));
	insert_id(t, "tx", 1);
	assert_int_equal(dj_db_begin(db, &err), DJ_EUSAGE); /* no nesting */
	dj_err_clear(&err);
	OK(dj_db_rollback(db, &err));
	assert_false(dj_db_in_transaction(db));
	count_is(t, "tx", "0");
	/* a savepoint rollback discards only the inner part */
	OK(dj_db_begin(db, &err));
	insert_id(t, "tx", 1);
	OK(dj_db_savepoint(db, "item 1", &err));
	insert_id(t, "tx", 2);
	OK(dj_db_rollback_to(db, "item 1", &err));
	OK(dj_db_release(db, "item 1", &err));
	OK(dj_db_savepoint(db, "item`2\"", &err));
	insert_id(t, "tx", 3);
	OK(dj_db_release(db, "item`2\"", &err));
	OK(dj_db_commit(db, &err));
	count_is(t, "tx", "2");
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT sum(id) FROM %s", tbl(t, "tx"));
	assert_string_equal(value(db, sql), "4");
	/* savepoints need a transaction; commit needs one */
	assert_int_equal(dj_db_savepoint(db, "x", &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_db_commit(db, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	/* a duplicate key is told apart by class and server code */
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES (?)", tbl(t, "tx"));
	dj_db_param one = dj_db_int(1);
	assert_int_equal(dj_db_exec(db, sql, &one, 1, &err), DJ_EEXISTS);
	assert_int_equal(dj_db_error_class(db), DJ_DB_E_DUPLICATE);
	if (is_pg(t))
		assert_string_equal(dj_db_sqlstate(db), "23505");
	else
		assert_int_equal(dj_db_errno(db), 1062);
	dj_err_clear(&err);
	/* a savepoint keeps one bad item from spoiling the batch (PostgreSQL aborts otherwise) */
	OK(dj_db_begin(db, &err));
	OK(dj_db_savepoint(db, "s", &err));
	assert_int_equal(dj_db_exec(db, sql, &one, 1, &err), DJ_EEXISTS);
	dj_err_clear(&err);
	OK(dj_db_rollback_to(db, "s", &err));
	insert_id(t, "tx", 5);
	OK(dj_db_commit(db, &err));
	count_is(t, "tx", "3");
}

/* --- quoting -----------------------------------------------------------------------------------
 */

static void literal_roundtrip(target *t, const char *s, size_t n, bool bytes)
{
	dj_db_backend be = dj_db_backend_id(t->db);
	dj_buf sql = DJ_BUF_INIT;
	dj_db_rows *r;
	dj_err err = DJ_ERR_INIT;
	dj_bytes v;
	assert_int_equal(dj_buf_adds(&sql, "SELECT "), 0);
	OK(bytes ? dj_db_quote_bytes(be, &sql, s, n, &err)
	         : dj_db_quote_text(be, &sql, s, n, &err));
	OK(dj_db_query(t->db, sql.ptr, NULL, 0, &r, &err));
	assert_int_equal(dj_db_rows_next(r, &err), 1);
	v = dj_db_rows_value(r, 0);
	if (v.len != n || memcmp(v.ptr, s, n))
		fail_msg("%s literal of %zu bytes came back as %zu bytes", bytes ? "bytes" : "text",
		         n, v.len);
	if (bytes)
		assert_int_equal(dj_db_rows_type(r, 0), DJ_DB_T_BYTES);
	dj_db_rows_free(r);
	dj_buf_dispose(&sql);
}

static void quoting(void **state)
{
	target *t = need(state);
	dj_db_backend be = dj_db_backend_id(t->db);
	const char *weird = "we`ird\"na'me\\";
	const char text[] = "it's \"quoted\" \\ back\\slash\n\r\x1a % ?";
	char all[256];
	dj_buf sql = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	literal_roundtrip(t, text, sizeof(text) - 1, false);
	literal_roundtrip(t, all, 256, true);
	literal_roundtrip(t, "", 0, true);
	if (!is_pg(t))
		literal_roundtrip(t, "nul\0inside", 10, false);
	else
		assert_int_equal(dj_db_quote_text(be, &sql, "a\0b", 3, &err), DJ_EFORMAT);
	/* identifiers: a table and a column with both quote characters */
	dj_buf_reset(&sql);
	dj_buf_addf(&sql, "CREATE TABLE ");
	OK(dj_db_quote_ident(be, &sql, t->schema, &err));
	dj_buf_addc(&sql, '.');
	OK(dj_db_quote_ident(be, &sql, weird, &err));
	dj_buf_adds(&sql, " (");
	OK(dj_db_quote_ident(be, &sql, weird, &err));
	dj_buf_adds(&sql, " varchar(200))");
	exec(t->db, sql.ptr);
	dj_buf_reset(&sql);
	dj_buf_adds(&sql, "INSERT INTO ");
	OK(dj_db_quote_ident(be, &sql, t->schema, &err));
	dj_buf_addc(&sql, '.');
	OK(dj_db_quote_ident(be, &sql, weird, &err));
	dj_buf_adds(&sql, " VALUES (");
	OK(dj_db_quote_text(be, &sql, text, sizeof(text) - 1, &err));
	dj_buf_adds(&sql, ")");
	exec(t->db, sql.ptr);
	dj_buf_reset(&sql);
	dj_buf_adds(&sql, "SELECT ");
	OK(dj_db_quote_ident(be, &sql, weird, &err));
	dj_buf_adds(&sql, " FROM ");
	OK(dj_db_quote_ident(be, &sql, t->schema, &err));
	dj_buf_addc(&sql, '.');
	OK(dj_db_quote_ident(be, &sql, weird, &err));
	assert_string_equal(value(t->db, sql.ptr), text);
	dj_buf_dispose(&sql);
}

/* --- lost connections --------------------------------------------------------------------------
 */

static void kill_connection(target *t, dj_db *victim)
{
	dj_db *killer = open_db(t);
	char sql[512];
	struct timespec pause = {0, 200 * 1000 * 1000};
	snprintf(sql, sizeof(sql),
	         is_pg(t) ? "SELECT pg_terminate_backend(%lld)" : "KILL CONNECTION %lld",
	         (long long)dj_db_connection_id(victim));
	exec(killer, sql);
	dj_db_close(killer);
	nanosleep(&pause, NULL); /* the server closes the socket asynchronously */
}

static void reconnect(void **state)
{
	target *t = need(state);
	dj_db *db = open_db(t);
	dj_err err = DJ_ERR_INIT;
	int64_t id = dj_db_connection_id(db);
	char sql[512];
	execf(t->db, "CREATE TABLE %s (id int NOT NULL, PRIMARY KEY (id))%s", tbl(t, "rc"),
	      is_pg(t) ? "" : " ENGINE=InnoDB");
	/* outside a transaction: the next statement reconnects and runs */
	kill_connection(t, db);
	assert_string_equal(value(db, "SELECT 2"), "2");
	assert_int_equal(dj_db_reconnects(db), 1);
	assert_true(dj_db_connection_id(db) != id);
	/* inside one: reported, never retried, until rollback acknowledges it */
	OK(dj_db_begin(db, &err));
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES (1)", tbl(t, "rc"));
	OK(dj_db_exec(db, sql, NULL, 0, &err));
	kill_connection(t, db);
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES (2)", tbl(t, "rc"));
	assert_int_equal(dj_db_exec(db, sql, NULL, 0, &err), DJ_ETRANSIENT);
	assert_int_equal(dj_db_error_class(db), DJ_DB_E_LOST);
	assert_non_null(strstr(err.msg, "transaction"));
	dj_err_clear(&err);
	assert_int_equal(dj_db_exec(db, sql, NULL, 0, &err), DJ_ETRANSIENT);
	dj_err_clear(&err);
	assert_int_equal(dj_db_commit(db, &err), DJ_ETRANSIENT);
	dj_err_clear(&err);
	assert_false(dj_db_in_transaction(db));
	OK(dj_db_rollback(db, &err));
	assert_int_equal(dj_db_reconnects(db), 1);
	count_is(t, "rc", "0");
	/* and afterwards statements run again, on a new connection */
	OK(dj_db_exec(db, sql, NULL, 0, &err));
	assert_int_equal(dj_db_reconnects(db), 2);
	count_is(t, "rc", "1");
	/* database.reconnect = false: the loss is reported outside transactions too */
	dj_db_close(db);
	dj_db_params p = params_of(t);
	p.no_reconnect = true;
	OK(dj_db_open(&db, &p, &err));
	kill_connection(t, db);
	assert_int_equal(dj_db_exec(db, "SELECT 1", NULL, 0, &err), DJ_ETRANSIENT);
	dj_db_close(db);
}

/* --- results -----------------------------------------------------------------------------------
 */

static void streaming(void **state)
{
	target *t = need(state);
	dj_db *db = t->db;
	dj_err err = DJ_ERR_INIT;
	dj_db_rows *r;
	char sql[512];
	long sum = 0;
	int rows = 0, rc;
	execf(db, "CREATE TABLE %s (id int NOT NULL, v varchar(16), PRIMARY KEY (id))",
	      tbl(t, "many"));
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id, v) VALUES (?, ?)", tbl(t, "many"));
	OK(dj_db_begin(db, &err));
	for (int i = 1; i <= 2000; i++) {
		char v[16];
		snprintf(v, sizeof(v), "v%d", i);
		dj_db_param p[2] = {dj_db_int(i), dj_db_text(v)};
		OK(dj_db_exec(db, sql, p, 2, &err));
	}
	OK(dj_db_commit(db, &err));
	snprintf(sql, sizeof(sql), "SELECT id, v FROM %s WHERE id > ? ORDER BY id", tbl(t, "many"));
	dj_db_param zero = dj_db_int(0);
	OK(dj_db_query(db, sql, &zero, 1, &r, &err));
	while ((rc = dj_db_rows_next(r, &err)) > 0) {
		sum += atol(dj_db_rows_text(r, 0));
		rows++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(rows, 2000);
	assert_int_equal(sum, 2000L * 2001 / 2);
	dj_db_rows_free(r);
	/* one result at a time; freeing early makes the connection usable again */
	snprintf(sql, sizeof(sql), "SELECT id FROM %s", tbl(t, "many"));
	OK(dj_db_query(db, sql, NULL, 0, &r, &err));
	assert_int_equal(dj_db_rows_next(r, &err), 1);
	assert_int_equal(dj_db_exec(db, "SELECT 1", NULL, 0, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	dj_db_rows_free(r);
	assert_string_equal(value(db, "SELECT 3"), "3");
	/* a statement without rows gives an empty result */
	snprintf(sql, sizeof(sql), "UPDATE %s SET v = 'x' WHERE id <= 10", tbl(t, "many"));
	OK(dj_db_query(db, sql, NULL, 0, &r, &err));
	assert_int_equal(dj_db_rows_nfields(r), 0);
	assert_int_equal(dj_db_rows_next(r, &err), 0);
	dj_db_rows_free(r);
	/* parameter count, syntax and unknown tables are told apart */
	snprintf(sql, sizeof(sql), "SELECT id FROM %s WHERE id = ?", tbl(t, "many"));
	assert_int_equal(dj_db_exec(db, sql, NULL, 0, &err), DJ_ERROR);
	dj_err_clear(&err);
	dj_db_param two[2] = {dj_db_int(1), dj_db_int(2)};
	assert_int_equal(dj_db_exec(db, sql, two, 2, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_db_exec(db, "SELEC 1", NULL, 0, &err), DJ_ERROR);
	assert_int_equal(dj_db_error_class(db), DJ_DB_E_SYNTAX);
	dj_err_clear(&err);
	snprintf(sql, sizeof(sql), "SELECT * FROM %s", tbl(t, "no_such_table"));
	assert_int_equal(dj_db_exec(db, sql, NULL, 0, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no_such_table"));
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &mysql_target),              \
	    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &pg_target)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(connect_session),  BOTH(wrong_password), BOTH(unreachable), BOTH(tls),
	    BOTH(binary_roundtrip), BOTH(transactions),   BOTH(quoting),     BOTH(reconnect),
	    BOTH(streaming),
	};
	return cmocka_run_group_tests_name("db_basic", tests, NULL, NULL);
}
