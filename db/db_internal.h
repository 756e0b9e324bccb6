/*
 * Inside the database layer: the backend ops table, the common part of a connection and of a
 * result set (each backend's struct starts with it), and helpers the backends share.
 * Not for use outside db/ (tests may include it for the pure helpers).
 */
#ifndef DJ_DB_DB_INTERNAL_H
#define DJ_DB_DB_INTERNAL_H

#include "db/db.h"

typedef struct dj_db_ops {
	const char *name; /* registry name: "mysql", "postgresql" */
	dj_db_backend id;
	int default_port;
	const char *begin_sql;
	/* allocate the backend's struct (zeroed, base.ops set by the caller) */
	dj_db *(*create)(void);
	/* connect and set the session up; fills the base's version and connection id */
	int (*connect)(dj_db *db, dj_err *err);
	void (*disconnect)(dj_db *db); /* safe when not connected */
	void (*destroy)(dj_db *db);    /* frees the backend's struct (after disconnect) */
	int (*exec)(dj_db *db, const char *sql, const dj_db_param *p, size_t n, dj_err *err);
	int (*query)(dj_db *db, const char *sql, const dj_db_param *p, size_t n, dj_db_rows **out,
	             dj_err *err);
	/* 1 row, 0 end, <0 error; fills the base's current-row views */
	int (*next)(dj_db_rows *r, dj_err *err);
	void (*rows_free)(dj_db_rows *r);
	int (*quote_ident)(dj_buf *out, const char *name, dj_err *err);
	int (*quote_text)(dj_buf *out, const char *s, size_t n, dj_err *err);
	int (*quote_bytes)(dj_buf *out, const void *p, size_t n, dj_err *err);
} dj_db_ops;

extern const dj_db_ops dj_db_mysql_ops;
extern const dj_db_ops dj_db_postgres_ops;

struct dj_db {
	const dj_db_ops *ops;
	/* parameters (owned copies) */
	char *host, *user, *password, *dbname;
	int port;
	dj_db_tls use_tls;
	int connect_timeout;
	bool no_reconnect;
	char address[256]; /* mysql://user@host:port */
	/* session */
	bool connected;
	bool in_tx;
	bool tx_lost; /* the connection died inside the open transaction */
	dj_db_rows *open_rows;
	char version[128];
	int64_t connection_id;
	unsigned reconnects;
	uint64_t affected;
	/* last failure */
	dj_db_errclass errclass;
	int server_errno;
	char sqlstate[6];
};

struct dj_db_rows {
	dj_db *db;
	size_t nfields;
	char **names;      /* owned, nfields */
	dj_db_type *types; /* owned, nfields */
	/* current row, set by next() */
	const uint8_t **vals;
	size_t *lens;
	bool *nulls;
	bool done;
};

/* Allocate the per-field arrays of `r` for `n` fields. DJ_ENOMEM. */
int dj_db__rows_init(dj_db_rows *r, dj_db *db, size_t n, dj_err *err);
void dj_db__rows_release(dj_db_rows *r);

/*
 * Record a failure on `db` (class, server errno, SQLSTATE) and set `err` with the code the class
 * maps to; the message is prefixed with the connection's address. Returns the code.
 */
int dj_db__fail(dj_db *db, dj_err *err, dj_db_errclass cls, int server_errno, const char *sqlstate,
                const char *fmt, ...) DJ_PRINTF(6, 7);
/* The dj_code a class maps to. */
int dj_db__class_code(dj_db_errclass cls);
void dj_db__ok(dj_db *db);

/* Rewrite `?` placeholders to $1..$n outside literals, quoted identifiers and comments; the
 * number found goes to *count. DJ_ENOMEM only. */
int dj_db__pg_placeholders(dj_buf *out, const char *sql, size_t *count, dj_err *err);

/* Shortest decimal text that reads back to exactly `v` (float when `single`). */
void dj_db__format_double(char *buf, size_t n, double v, bool single);

/* Lower-case hex of `p` appended to `out`. */
int dj_db__hex(dj_buf *out, const void *p, size_t n);

#endif
