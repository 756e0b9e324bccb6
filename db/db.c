/*
 * The backend-neutral half of db.h: the registry, parameter checks, the reconnect rule, the
 * transaction state and the result-set accessors. Backends (mysql.c, postgres.c) only talk to
 * their server.
 */
#include "db/db_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	const dj_db_ops *ops;
} registry[] = {
    {"mysql", &dj_db_mysql_ops},
    {"postgresql", &dj_db_postgres_ops},
};

static const dj_db_ops *find_ops(const char *name)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (name && !strcmp(name, registry[i].name))
			return registry[i].ops;
	return NULL;
}

static const dj_db_ops *ops_of(dj_db_backend b)
{
	return b == DJ_DB_POSTGRESQL ? &dj_db_postgres_ops : &dj_db_mysql_ops;
}

int dj_db_backend_parse(const char *name, dj_db_backend *out, dj_err *err)
{
	const dj_db_ops *ops = find_ops(name);
	if (!ops)
		return dj_err_set(err, DJ_EUSAGE,
		                  "unknown database backend '%s' (mysql or postgresql)",
		                  name ? name : "");
	*out = ops->id;
	return 0;
}

dj_db_param dj_db_text(const char *s)
{
	return dj_db_textn(s, strlen(s));
}

/* --- errors ------------------------------------------------------------------------------ */

int dj_db__class_code(dj_db_errclass cls)
{
	switch (cls) {
	case DJ_DB_E_NONE:
		return 0;
	case DJ_DB_E_AUTH:
		return DJ_EUSAGE;
	case DJ_DB_E_CONNECT:
		return DJ_ETRANSIENT;
	case DJ_DB_E_LOST:
		return DJ_ETRANSIENT;
	case DJ_DB_E_DUPLICATE:
		return DJ_EEXISTS;
	case DJ_DB_E_FOREIGN_KEY:
		return DJ_ERROR;
	case DJ_DB_E_DEADLOCK:
		return DJ_ECONFLICT;
	case DJ_DB_E_NOT_FOUND:
		return DJ_ENOTFOUND;
	case DJ_DB_E_SYNTAX:
		return DJ_ERROR;
	case DJ_DB_E_OTHER:
		return DJ_ERROR;
	}
	return DJ_ERROR;
}

int dj_db__fail(dj_db *db, dj_err *err, dj_db_errclass cls, int server_errno, const char *sqlstate,
                const char *fmt, ...)
{
	char msg[448];
	va_list ap;
	int code = dj_db__class_code(cls);
	db->errclass = cls;
	db->server_errno = server_errno;
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", sqlstate ? sqlstate : "");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dj_err_set(err, code ? code : DJ_ERROR, "%s: %s", db->address, msg);
}

void dj_db__ok(dj_db *db)
{
	db->errclass = DJ_DB_E_NONE;
	db->server_errno = 0;
	db->sqlstate[0] = '\0';
}

/* A failure that is the caller's, not the server's. */
static int usage(dj_db *db, dj_err *err, const char *what)
{
	db->errclass = DJ_DB_E_OTHER;
	db->server_errno = 0;
	db->sqlstate[0] = '\0';
	return dj_err_set(err, DJ_EUSAGE, "%s: %s", db->address, what);
}

static void err_copy(dj_err *to, const dj_err *from)
{
	if (from->code)
		dj_err_set(to, from->code, "%s", from->msg);
}

dj_db_errclass dj_db_error_class(const dj_db *db)
{
	return db->errclass;
}

int dj_db_errno(const dj_db *db)
{
	return db->server_errno;
}

const char *dj_db_sqlstate(const dj_db *db)
{
	return db->sqlstate;
}

/* --- connections ------------------------------------------------------------------------- */

static char *dup_or_null(const char *s, bool *fail)
{
	char *d;
	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*fail = true;
	return d;
}

static void free_strings(dj_db *db)
{
	free(db->host);
	free(db->user);
	if (db->password) {
		/* do not leave the secret in freed memory */
		volatile char *p = db->password;
		while (*p)
			*p++ = 0;
		free(db->password);
	}
	free(db->dbname);
}

int dj_db_new(dj_db **out, const dj_db_params *p, dj_err *err)
{
	const dj_db_ops *ops = find_ops(p->backend);
	bool fail = false;
	dj_db *db;
	*out = NULL;
	if (!ops)
		return dj_err_set(err, DJ_EUSAGE,
		                  "unknown database backend '%s' (mysql or postgresql)",
		                  p->backend ? p->backend : "");
	if (!p->user || !*p->user)
		return dj_err_set(err, DJ_EUSAGE, "%s: no database user given", ops->name);
	if (p->port < 0 || p->port > 65535)
		return dj_err_set(err, DJ_EUSAGE, "%s: bad port %d", ops->name, p->port);
	if (!(db = ops->create()))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	db->ops = ops;
	db->host = dup_or_null(p->host && *p->host ? p->host : "localhost", &fail);
	db->user = dup_or_null(p->user, &fail);
	db->password = dup_or_null(p->password, &fail);
	db->dbname = dup_or_null(
	    ops->id == DJ_DB_POSTGRESQL ? (p->dbname && *p->dbname ? p->dbname : "postgres") : NULL,
	    &fail);
	db->port = p->port ? p->port : ops->default_port;
	db->use_tls = p->use_tls;
	db->connect_timeout = p->connect_timeout > 0 ? p->connect_timeout : 10;
	db->no_reconnect = p->no_reconnect;
	if (fail) {
		dj_db_close(db);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	snprintf(db->address, sizeof(db->address), "%s://%s@%s:%d%s%s", ops->name, db->user,
	         db->host, db->port, db->dbname ? "/" : "", db->dbname ? db->dbname : "");
	*out = db;
	return 0;
}

int dj_db_connect(dj_db *db, dj_err *err)
{
	int rc;
	if (db->open_rows)
		dj_db_rows_free(db->open_rows);
	if (db->connected)
		db->ops->disconnect(db);
	db->connected = false;
	db->in_tx = db->tx_lost = false;
	if ((rc = db->ops->connect(db, err)) < 0)
		return rc;
	db->connected = true;
	dj_db__ok(db);
	return 0;
}

int dj_db_open(dj_db **out, const dj_db_params *p, dj_err *err)
{
	int rc = dj_db_new(out, p, err);
	if (rc < 0)
		return rc;
	if ((rc = dj_db_connect(*out, err)) < 0) {
		dj_db_close(*out);
		*out = NULL;
	}
	return rc;
}

void dj_db_close(dj_db *db)
{
	if (!db)
		return;
	if (db->open_rows)
		dj_db_rows_free(db->open_rows);
	if (db->connected)
		db->ops->disconnect(db);
	free_strings(db);
	db->ops->destroy(db);
}

dj_db_backend dj_db_backend_id(const dj_db *db)
{
	return db->ops->id;
}

const char *dj_db_backend_name(const dj_db *db)
{
	return db->ops->name;
}

const char *dj_db_address(const dj_db *db)
{
	return db->address;
}

const char *dj_db_server_version(const dj_db *db)
{
	return db->version;
}

int64_t dj_db_connection_id(const dj_db *db)
{
	return db->connected ? db->connection_id : 0;
}

unsigned dj_db_reconnects(const dj_db *db)
{
	return db->reconnects;
}

uint64_t dj_db_affected_rows(const dj_db *db)
{
	return db->affected;
}

bool dj_db_in_transaction(const dj_db *db)
{
	return db->in_tx;
}

/* --- the reconnect rule ------------------------------------------------------------------ */

typedef struct stmt {
	const char *sql;
	const dj_db_param *params;
	size_t n;
	dj_db_rows **rows; /* NULL: exec */
} stmt;

static int attempt(dj_db *db, const stmt *s, dj_err *err)
{
	if (s->rows)
		return db->ops->query(db, s->sql, s->params, s->n, s->rows, err);
	return db->ops->exec(db, s->sql, s->params, s->n, err);
}

/* The connection died under us: forget it, and remember whether a transaction died with it. */
static void mark_lost(dj_db *db)
{
	db->ops->disconnect(db);
	db->connected = false;
	if (db->in_tx)
		db->tx_lost = true;
}

static int tx_lost_error(dj_db *db, dj_err *err)
{
	db->errclass = DJ_DB_E_LOST;
	return dj_err_set(err, DJ_ETRANSIENT,
	                  "%s: the connection was lost inside a transaction (the server rolled it "
	                  "back); roll back before running more statements",
	                  db->address);
}

static int reconnect(dj_db *db, dj_err *err)
{
	int rc = db->ops->connect(db, err);
	if (rc < 0)
		return rc;
	db->connected = true;
	db->reconnects++;
	return 0;
}

/*
 * Run a statement; a lost connection outside a transaction is reconnected and the statement
 * retried once (database.reconnect, as the library does); inside one it is reported.
 */
static int run(dj_db *db, const stmt *s, dj_err *err)
{
	dj_err first = DJ_ERR_INIT;
	int rc;
	if (db->open_rows)
		return usage(db, err, "a result set is still open on this connection");
	if (db->tx_lost)
		return tx_lost_error(db, err);
	if (!db->connected && (rc = reconnect(db, err)) < 0)
		return rc;
	dj_db__ok(db);
	if ((rc = attempt(db, s, &first)) == 0) {
		dj_db__ok(db);
		return 0;
	}
	if (db->errclass != DJ_DB_E_LOST) {
		err_copy(err, &first);
		return rc;
	}
	mark_lost(db);
	if (db->in_tx) {
		dj_err_set(err, DJ_ETRANSIENT,
		           "%s (inside a transaction: not retried, the server "
		           "rolled it back)",
		           first.msg);
		return DJ_ETRANSIENT;
	}
	if (db->no_reconnect) {
		err_copy(err, &first);
		return DJ_ETRANSIENT;
	}
	if ((rc = reconnect(db, err)) < 0)
		return rc;
	if ((rc = attempt(db, s, err)) == 0)
		dj_db__ok(db);
	else if (db->errclass == DJ_DB_E_LOST)
		mark_lost(db);
	return rc;
}

int dj_db_exec(dj_db *db, const char *sql, const dj_db_param *params, size_t nparams, dj_err *err)
{
	stmt s = {sql, params, nparams, NULL};
	return run(db, &s, err);
}

int dj_db_query(dj_db *db, const char *sql, const dj_db_param *params, size_t nparams,
                dj_db_rows **out, dj_err *err)
{
	stmt s = {sql, params, nparams, out};
	int rc;
	*out = NULL;
	if ((rc = run(db, &s, err)) == 0)
		db->open_rows = *out;
	return rc;
}

int dj_db_query_value(dj_db *db, const char *sql, const dj_db_param *params, size_t nparams,
                      dj_buf *out, bool *isnull, dj_err *err)
{
	dj_db_rows *r;
	int rc = dj_db_query(db, sql, params, nparams, &r, err);
	if (rc < 0)
		return rc;
	rc = dj_db_rows_next(r, err);
	if (rc == 0 || (rc > 0 && r->nfields == 0))
		rc = dj_err_set(err, DJ_ENOTFOUND, "%s: the query returned no value", db->address);
	else if (rc > 0) {
		if (isnull)
			*isnull = r->nulls[0];
		rc = dj_buf_add(out, r->vals[0], r->lens[0]);
		if (rc < 0)
			dj_err_set(err, rc, "out of memory");
	}
	dj_db_rows_free(r);
	return rc;
}

/* --- results ----------------------------------------------------------------------------- */

int dj_db__rows_init(dj_db_rows *r, dj_db *db, size_t n, dj_err *err)
{
	r->db = db;
	r->nfields = n;
	r->names = calloc(n ? n : 1, sizeof(*r->names));
	r->types = calloc(n ? n : 1, sizeof(*r->types));
	r->vals = calloc(n ? n : 1, sizeof(*r->vals));
	r->lens = calloc(n ? n : 1, sizeof(*r->lens));
	r->nulls = calloc(n ? n : 1, sizeof(*r->nulls));
	if (!r->names || !r->types || !r->vals || !r->lens || !r->nulls)
		return dj_err_set(err, DJ_ENOMEM, "out of memory for a result of %zu columns", n);
	return 0;
}

void dj_db__rows_release(dj_db_rows *r)
{
	if (r->names)
		for (size_t i = 0; i < r->nfields; i++)
			free(r->names[i]);
	free(r->names);
	free(r->types);
	free(r->vals);
	free(r->lens);
	free(r->nulls);
}

int dj_db_rows_next(dj_db_rows *r, dj_err *err)
{
	dj_db *db = r->db;
	int rc;
	if (r->done)
		return 0;
	rc = db->ops->next(r, err);
	/* a lost connection is closed in dj_db_rows_free: the result still points into it */
	if (rc <= 0)
		r->done = true;
	return rc;
}

size_t dj_db_rows_nfields(const dj_db_rows *r)
{
	return r->nfields;
}

const char *dj_db_rows_name(const dj_db_rows *r, size_t i)
{
	return i < r->nfields ? r->names[i] : NULL;
}

dj_db_type dj_db_rows_type(const dj_db_rows *r, size_t i)
{
	return i < r->nfields ? r->types[i] : DJ_DB_T_OTHER;
}

bool dj_db_rows_isnull(const dj_db_rows *r, size_t i)
{
	return i >= r->nfields || r->nulls[i];
}

dj_bytes dj_db_rows_value(const dj_db_rows *r, size_t i)
{
	dj_bytes v = {(const uint8_t *)"", 0};
	if (i < r->nfields && !r->nulls[i] && r->vals[i]) {
		v.ptr = r->vals[i];
		v.len = r->lens[i];
	}
	return v;
}

const char *dj_db_rows_text(const dj_db_rows *r, size_t i)
{
	if (i >= r->nfields || r->nulls[i])
		return NULL;
	return r->vals[i] ? (const char *)r->vals[i] : "";
}

void dj_db_rows_free(dj_db_rows *r)
{
	dj_db *db;
	if (!r)
		return;
	db = r->db;
	if (db->open_rows == r)
		db->open_rows = NULL;
	db->ops->rows_free(r);
	/* a loss noticed while reading or draining the rows */
	if (db->errclass == DJ_DB_E_LOST && db->connected)
		mark_lost(db);
}

/* --- transactions ------------------------------------------------------------------------ */

int dj_db_begin(dj_db *db, dj_err *err)
{
	int rc;
	if (db->in_tx)
		return usage(db, err, "a transaction is already open (use savepoints to nest)");
	if ((rc = dj_db_exec(db, db->ops->begin_sql, NULL, 0, err)) < 0)
		return rc;
	db->in_tx = true;
	return 0;
}

int dj_db_commit(dj_db *db, dj_err *err)
{
	int rc;
	if (!db->in_tx)
		return usage(db, err, "COMMIT without a transaction");
	if (db->tx_lost) {
		rc = tx_lost_error(db, err);
		db->in_tx = db->tx_lost = false;
		return rc;
	}
	rc = dj_db_exec(db, "COMMIT", NULL, 0, err);
	if (rc < 0 && db->tx_lost)
		dj_err_context(err, "lost during COMMIT, the outcome is unknown");
	db->in_tx = db->tx_lost = false;
	return rc;
}

int dj_db_rollback(dj_db *db, dj_err *err)
{
	int rc = 0;
	if (!db->in_tx)
		return 0;
	if (!db->tx_lost && db->connected) {
		dj_err local = DJ_ERR_INIT;
		rc = dj_db_exec(db, "ROLLBACK", NULL, 0, &local);
		/* a lost connection discards the transaction: that is what was asked for */
		if (rc < 0 && db->tx_lost)
			rc = 0;
		else if (rc < 0)
			err_copy(err, &local);
	}
	db->in_tx = db->tx_lost = false;
	return rc;
}

static int savepoint_stmt(dj_db *db, const char *verb, const char *name, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	int rc;
	if (!db->in_tx)
		return usage(db, err, "savepoints need an open transaction");
	if ((rc = dj_buf_adds(&sql, verb)) < 0 || (rc = dj_buf_addc(&sql, ' ')) < 0 ||
	    (rc = db->ops->quote_ident(&sql, name, err)) < 0)
		goto done;
	rc = dj_db_exec(db, sql.ptr, NULL, 0, err);
done:
	if (rc == DJ_ENOMEM)
		dj_err_set(err, rc, "out of memory");
	dj_buf_dispose(&sql);
	return rc;
}

int dj_db_savepoint(dj_db *db, const char *name, dj_err *err)
{
	return savepoint_stmt(db, "SAVEPOINT", name, err);
}

int dj_db_release(dj_db *db, const char *name, dj_err *err)
{
	return savepoint_stmt(db, "RELEASE SAVEPOINT", name, err);
}

int dj_db_rollback_to(dj_db *db, const char *name, dj_err *err)
{
	return savepoint_stmt(db, "ROLLBACK TO SAVEPOINT", name, err);
}

/* --- quoting ----------------------------------------------------------------------------- */

int dj_db_quote_ident(dj_db_backend b, dj_buf *out, const char *name, dj_err *err)
{
	return ops_of(b)->quote_ident(out, name, err);
}

int dj_db_quote_text(dj_db_backend b, dj_buf *out, const char *s, size_t n, dj_err *err)
{
	return ops_of(b)->quote_text(out, s, n, err);
}

int dj_db_quote_bytes(dj_db_backend b, dj_buf *out, const void *p, size_t n, dj_err *err)
{
	return ops_of(b)->quote_bytes(out, p, n, err);
}

int dj_db__hex(dj_buf *out, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *s = p;
	int rc;
	if (n > (SIZE_MAX - 1) / 2)
		return DJ_ENOMEM;
	if ((rc = dj_buf_grow(out, 2 * n)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		out->ptr[out->len++] = digits[s[i] >> 4];
		out->ptr[out->len++] = digits[s[i] & 15];
	}
	out->ptr[out->len] = '\0';
	return 0;
}

/* --- helpers ----------------------------------------------------------------------------- */

void dj_db__format_double(char *buf, size_t n, double v, bool single)
{
	if (isnan(v)) {
		snprintf(buf, n, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, n, v < 0 ? "-inf" : "inf");
		return;
	}
	/* the fewest digits that read back to the same value, as the server's own text does */
	for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
			return;
	}
}

/* Skip a '...' literal ('' inside), a "..." identifier ("" inside) or E'..' (backslashes). */
static const char *skip_quoted(const char *p, char q, bool backslash)
{
	for (p++; *p; p++) {
		if (backslash && *p == '\\' && p[1]) {
			p++;
		} else if (*p == q) {
			if (p[1] != q)
				return p + 1;
			p++;
		}
	}
	return p;
}

/* $tag$ ... $tag$; returns NULL when `p` does not open a dollar quote. */
static const char *skip_dollar(const char *p)
{
	const char *q = p + 1, *end;
	size_t n;
	while (*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
	       (q > p + 1 && *q >= '0' && *q <= '9'))
		q++;
	if (*q != '$')
		return NULL;
	n = (size_t)(q - p + 1);
	for (end = q + 1; *end; end++)
		if (*end == '$' && !strncmp(end, p, n))
			return end + n;
	return end;
}

static const char *skip_comment(const char *p)
{
	if (p[0] == '-' && p[1] == '-') {
		while (*p && *p != '\n')
			p++;
		return p;
	}
	if (p[0] == '/' && p[1] == '*') {
		const char *e = strstr(p + 2, "*/");
		return e ? e + 2 : p + strlen(p);
	}
	return NULL;
}

static bool word_char(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* The end of a literal, quoted identifier or comment starting at `p`; NULL if none starts. */
static const char *skip_token(const char *p, const char *start)
{
	const char *q;
	bool after_word = p > start && word_char(p[-1]);
	if (*p == '\'') {
		/* E'...' takes backslash escapes: an E that is a word of its own */
		bool e = after_word && (p[-1] == 'E' || p[-1] == 'e') &&
		         (p - 1 == start || !word_char(p[-2]));
		return skip_quoted(p, '\'', e);
	}
	if (*p == '"')
		return skip_quoted(p, '"', false);
	if (*p == '$' && !after_word && (q = skip_dollar(p)))
		return q;
	return skip_comment(p);
}

int dj_db__pg_placeholders(dj_buf *out, const char *sql, size_t *count, dj_err *err)
{
	const char *p = sql, *q;
	size_t n = 0;
	int rc = 0;
	while (*p && rc == 0) {
		if ((q = skip_token(p, sql))) {
			rc = dj_buf_add(out, p, (size_t)(q - p));
			p = q;
		} else if (*p == '?') {
			rc = dj_buf_addf(out, "$%zu", ++n);
			p++;
		} else {
			rc = dj_buf_addc(out, *p++);
		}
	}
	*count = n;
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}
