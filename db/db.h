/*
 * The database interface (DESIGN.md "Core interfaces"): one connection to MySQL/MariaDB or
 * PostgreSQL behind a const ops table per backend (STYLE.md §1), chosen by name from a registry.
 *
 * Contract shared by both backends:
 * - Statements take parameters written as `?` in the SQL text (PostgreSQL: rewritten to $n
 *   outside string literals, quoted identifiers and comments; the jsonb `?` operators are
 *   therefore not usable in statements that take parameters). Parameters are binary safe:
 *   MySQL binds them in a prepared statement, PostgreSQL sends bytes as binary bytea.
 *   Native prepared statements see `%` literally (database.md §0): never double it.
 * - Results stream (one row in memory at a time); at most one result set is open per
 *   connection, and nothing else may run on the connection until it is freed.
 * - Values come back as bytes in a backend-neutral text form per column class (dj_db_type):
 *   INT and DECIMAL as decimal digits, FLOAT as a round-tripping decimal (or nan/inf forms strtod
 *   reads), BOOL as "1"/"0", DATE "YYYY-MM-DD", DATETIME "YYYY-MM-DD HH:MM:SS[.fff]" (PostgreSQL
 *   timestamptz adds its offset, "+00" in the UTC session), TIME
 *   "[-]HH:MM:SS[.fff]", UUID (PostgreSQL only) as 36-character text, JSON and TEXT as UTF-8,
 *   BYTES as the raw bytes (PostgreSQL bytea is decoded). Every value is followed by a NUL byte.
 * - Sessions: autocommit on; MySQL sql_mode as datajoint-python sets it, time_zone '+00:00',
 *   utf8mb4, TCP even for "localhost"; PostgreSQL TimeZone UTC, bytea_output hex,
 *   standard_conforming_strings on, client_encoding UTF8. Times are UTC (DESIGN.md decisions).
 * - A statement that finds the connection lost is retried once on a new connection when no
 *   transaction is open (database.reconnect, as the library does). Inside a transaction the loss
 *   is reported as DJ_ETRANSIENT, the transaction is gone, and every statement fails the same way
 *   until dj_db_rollback() acknowledges it: nothing runs silently outside the transaction.
 *
 * Errors: every function returns 0 (or a documented positive value) or a negative dj_code and
 * fills `err` with one line naming the backend, user@host:port and the server's message; never
 * the password. The server's own code of the last failure stays available (dj_db_errno,
 * dj_db_sqlstate, dj_db_error_class) so callers can tell duplicate keys, deadlocks and lost
 * connections apart. A dj_db is not thread-safe: one per thread (or rank).
 */
#ifndef DJ_DB_DB_H
#define DJ_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef struct dj_db dj_db;
typedef struct dj_db_rows dj_db_rows;

typedef enum dj_db_backend { DJ_DB_MYSQL = 0, DJ_DB_POSTGRESQL = 1 } dj_db_backend;

/* database.use_tls (database.md §9.2). AUTO: try TLS, fall back to plain when the TLS attempt
 * fails for a reason other than credentials or an unreachable server. */
typedef enum dj_db_tls { DJ_DB_TLS_AUTO = 0, DJ_DB_TLS_ON = 1, DJ_DB_TLS_OFF = 2 } dj_db_tls;

typedef struct dj_db_params {
	const char *backend;  /* "mysql" or "postgresql" (required) */
	const char *host;     /* NULL = "localhost"; a plain host name, no ":port" */
	int port;             /* 0 = 3306 / 5432 */
	const char *user;     /* required */
	const char *password; /* NULL = none (server-side trust); never printed */
	const char *dbname;   /* PostgreSQL database, NULL = "postgres"; ignored on MySQL */
	dj_db_tls use_tls;
	int connect_timeout; /* seconds; 0 = 10 as the library */
	bool no_reconnect;   /* database.reconnect = false: never reconnect on a lost connection */
} dj_db_params;

/* What the last failure was, from the server's code (database.md §9.2 error mapping). */
typedef enum dj_db_errclass {
	DJ_DB_E_NONE = 0,
	DJ_DB_E_AUTH,        /* credentials refused (MySQL 1045/1698, PostgreSQL 28P01/28000) */
	DJ_DB_E_CONNECT,     /* server unreachable: refused, timeout, unknown host, TLS failure */
	DJ_DB_E_LOST,        /* an established connection was lost (2006/2013/1927, 57P01/08xxx) */
	DJ_DB_E_DUPLICATE,   /* duplicate key (1062 / 23505) */
	DJ_DB_E_FOREIGN_KEY, /* foreign-key violation (1216/1217/1451/1452/3730 / 23503) */
	DJ_DB_E_DEADLOCK,    /* deadlock, serialization failure or lock wait timeout */
	DJ_DB_E_NOT_FOUND, /* unknown database/schema/table/column (1049/1146/1054, 3D000/42P01...)
	                    */
	DJ_DB_E_SYNTAX,    /* the server could not parse the statement (1064 / 42601) */
	DJ_DB_E_OTHER,
} dj_db_errclass;

/* Column classes of a result (see the value forms above). */
typedef enum dj_db_type {
	DJ_DB_T_OTHER = 0,
	DJ_DB_T_INT,
	DJ_DB_T_FLOAT,
	DJ_DB_T_DECIMAL,
	DJ_DB_T_TEXT,
	DJ_DB_T_BYTES,
	DJ_DB_T_JSON, /* MySQL JSON, MariaDB json (when the server says so), PostgreSQL json/jsonb
	               */
	DJ_DB_T_DATE,
	DJ_DB_T_DATETIME,
	DJ_DB_T_TIME,
	DJ_DB_T_UUID, /* PostgreSQL uuid; MySQL uuids are BYTES (binary(16)) */
	DJ_DB_T_BOOL, /* PostgreSQL boolean; MySQL bool is tinyint, i.e. INT */
	DJ_DB_T_ENUM, /* PostgreSQL: enum types that existed when the connection was opened (a
	                 streaming result cannot look types up); newer ones read as OTHER */
} dj_db_type;

/* A statement parameter; TEXT and BYTES point at memory the caller keeps until the call returns. */
typedef enum dj_db_ptype {
	DJ_DB_P_NULL,
	DJ_DB_P_INT,
	DJ_DB_P_DOUBLE,
	DJ_DB_P_TEXT,
	DJ_DB_P_BYTES
} dj_db_ptype;

typedef struct dj_db_param {
	dj_db_ptype type;
	int64_t i;
	double d;
	const void *p;
	size_t n;
} dj_db_param;

static inline dj_db_param dj_db_null(void)
{
	dj_db_param v = {DJ_DB_P_NULL, 0, 0, NULL, 0};
	return v;
}
static inline dj_db_param dj_db_int(int64_t i)
{
	dj_db_param v = {DJ_DB_P_INT, i, 0, NULL, 0};
	return v;
}
static inline dj_db_param dj_db_double(double d)
{
	dj_db_param v = {DJ_DB_P_DOUBLE, 0, d, NULL, 0};
	return v;
}
/* Text must be valid UTF-8; PostgreSQL refuses text with a NUL byte (DJ_EFORMAT): use bytes. */
static inline dj_db_param dj_db_textn(const char *s, size_t n)
{
	dj_db_param v = {DJ_DB_P_TEXT, 0, 0, s, n};
	return v;
}
dj_db_param dj_db_text(const char *s);
static inline dj_db_param dj_db_bytes(const void *p, size_t n)
{
	dj_db_param v = {DJ_DB_P_BYTES, 0, 0, p, n};
	return v;
}

/* --- connections ------------------------------------------------------------------------ */

/*
 * Check `p` and make an unconnected handle (no network). `*out` owns copies of every string.
 * DJ_EUSAGE for an unknown backend or a missing user (err names the parameter).
 */
int dj_db_new(dj_db **out, const dj_db_params *p, dj_err *err);

/*
 * Connect (or reconnect: an open transaction and result set are dropped) and set the session
 * up. On failure the handle stays usable for
 * dj_db_error_class()/dj_db_errno() and dj_db_close(). Returns 0; DJ_EUSAGE when the server
 * refused the credentials (DJ_DB_E_AUTH; err names user@host:port) or the PostgreSQL database
 * does not exist (DJ_DB_E_NOT_FOUND); DJ_ETRANSIENT when the server cannot be reached
 * (DJ_DB_E_CONNECT); DJ_ERROR otherwise.
 */
int dj_db_connect(dj_db *db, dj_err *err);

/* dj_db_new + dj_db_connect; `*out` is NULL on failure. */
int dj_db_open(dj_db **out, const dj_db_params *p, dj_err *err);

/* Close the connection (an open transaction is rolled back by the server) and free. NULL ok.
 * A result set still open is freed first. */
void dj_db_close(dj_db *db);

dj_db_backend dj_db_backend_id(const dj_db *db);
const char *dj_db_backend_name(const dj_db *db); /* "mysql" or "postgresql" */
/* "mysql://user@host:port" (PostgreSQL: ".../dbname"): for messages, never with a password. */
const char *dj_db_address(const dj_db *db);
/* The server's version string ("10.11.19-MariaDB-...", "15.20"); "" before connecting. */
const char *dj_db_server_version(const dj_db *db);
/* The session id the server knows this connection by (MySQL CONNECTION_ID(), PostgreSQL
 * pg_backend_pid()); what the jobs tables record (database.md §6.7). 0 when not connected. */
int64_t dj_db_connection_id(const dj_db *db);
/* How many times this handle reconnected after a lost connection. */
unsigned dj_db_reconnects(const dj_db *db);

/* The last failure's class, server error number (MySQL; 0 on PostgreSQL or for client-side
 * failures) and SQLSTATE ("" when none). Reset by every successful statement. */
dj_db_errclass dj_db_error_class(const dj_db *db);
int dj_db_errno(const dj_db *db);
const char *dj_db_sqlstate(const dj_db *db);

/* --- statements -------------------------------------------------------------------------- */

/*
 * Run one statement that returns no rows to the caller (rows, if any, are discarded).
 * Returns 0; on failure the dj_code of the error class: DJ_EEXISTS (duplicate key),
 * DJ_ECONFLICT (deadlock / lock timeout: retry the transaction), DJ_ENOTFOUND (unknown object),
 * DJ_ETRANSIENT (connection lost and not recoverable here), DJ_EUSAGE (parameter count or type
 * mismatch, a result set still open), DJ_EFORMAT (text with NUL on PostgreSQL), else DJ_ERROR.
 */
int dj_db_exec(dj_db *db, const char *sql, const dj_db_param *params, size_t nparams, dj_err *err);

/* Rows changed by the last successful dj_db_exec (MySQL: changed rows, as PyMySQL reports). */
uint64_t dj_db_affected_rows(const dj_db *db);

/*
 * Run a query and open its result set; `*out` is freed with dj_db_rows_free(). A statement that
 * yields no result set gives a result with 0 fields and no rows. Errors as dj_db_exec.
 */
int dj_db_query(dj_db *db, const char *sql, const dj_db_param *params, size_t nparams,
                dj_db_rows **out, dj_err *err);

/* Advance to the next row: 1 = a row, 0 = no more rows, <0 = error (DJ_ETRANSIENT when the
 * connection was lost mid-result: it is not retried). */
int dj_db_rows_next(dj_db_rows *r, dj_err *err);

size_t dj_db_rows_nfields(const dj_db_rows *r);
const char *dj_db_rows_name(const dj_db_rows *r, size_t i);
dj_db_type dj_db_rows_type(const dj_db_rows *r, size_t i);
/* The current row's value i: borrowed until the next dj_db_rows_next/free; NUL-terminated. */
bool dj_db_rows_isnull(const dj_db_rows *r, size_t i);
dj_bytes dj_db_rows_value(const dj_db_rows *r, size_t i);
const char *dj_db_rows_text(const dj_db_rows *r, size_t i); /* NULL for SQL NULL */

/* Free a result set; rows not yet read are read and dropped. NULL ok. */
void dj_db_rows_free(dj_db_rows *r);

/* The first column of the first row into `out` (appended); `*isnull` (may be NULL) tells SQL
 * NULL. DJ_ENOTFOUND when there is no row. */
int dj_db_query_value(dj_db *db, const char *sql, const dj_db_param *params, size_t nparams,
                      dj_buf *out, bool *isnull, dj_err *err);

/* --- transactions (database.md §9.2) ------------------------------------------------------ */

/* MySQL START TRANSACTION WITH CONSISTENT SNAPSHOT / PostgreSQL BEGIN. DJ_EUSAGE if one is
 * open (no nesting: use savepoints). */
int dj_db_begin(dj_db *db, dj_err *err);
/* DJ_EUSAGE without a transaction; DJ_ETRANSIENT when the connection was lost before or during
 * COMMIT (the outcome is then unknown only if lost during COMMIT; err says which). The
 * transaction is closed either way. */
int dj_db_commit(dj_db *db, dj_err *err);
/* Always closes the transaction; 0 when there is none, or when the connection was lost (the
 * server discarded the work). */
int dj_db_rollback(dj_db *db, dj_err *err);
bool dj_db_in_transaction(const dj_db *db);
/* SAVEPOINT / RELEASE SAVEPOINT / ROLLBACK TO SAVEPOINT `name` (quoted); DJ_EUSAGE outside a
 * transaction. */
int dj_db_savepoint(dj_db *db, const char *name, dj_err *err);
int dj_db_release(dj_db *db, const char *name, dj_err *err);
int dj_db_rollback_to(dj_db *db, const char *name, dj_err *err);

/* --- quoting ----------------------------------------------------------------------------- */

/* Append `name` as an identifier: MySQL `a``b`, PostgreSQL "a""b". DJ_EFORMAT for "" or NUL. */
int dj_db_quote_ident(dj_db_backend b, dj_buf *out, const char *name, dj_err *err);
/* Append a string literal. MySQL escapes with backslashes (\0 \' \" \\ \n \r \Z: sql_mode has no
 * NO_BACKSLASH_ESCAPES), PostgreSQL doubles quotes (standard_conforming_strings) and refuses NUL
 * (DJ_EFORMAT: quote it as bytes). */
int dj_db_quote_text(dj_db_backend b, dj_buf *out, const char *s, size_t n, dj_err *err);
/* Append a binary literal: MySQL X'..', PostgreSQL '\x..'::bytea. */
int dj_db_quote_bytes(dj_db_backend b, dj_buf *out, const void *p, size_t n, dj_err *err);

/* The backend named `name` ("mysql", "postgresql"); DJ_EUSAGE naming it when unknown. */
int dj_db_backend_parse(const char *name, dj_db_backend *out, dj_err *err);

#endif
