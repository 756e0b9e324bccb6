/*
 * The PostgreSQL backend (libpq). Statements go through PQexecParams / PQsendQueryParams with
 * `?` rewritten to $n; bytes are sent as binary bytea parameters, everything else as text the
 * server converts. Queries run in single-row mode so results stream; bytea comes back in the
 * hex text form and is decoded here, so callers see raw bytes.
 */
#include "db/db_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* built-in type OIDs (pg_type.dat); stable across server versions */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
	OID_CHAR = 18,
	OID_NAME = 19,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_OID = 26,
	OID_JSON = 114,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_BPCHAR = 1042,
	OID_VARCHAR = 1043,
	OID_DATE = 1082,
	OID_TIME = 1083,
	OID_TIMESTAMP = 1114,
	OID_TIMESTAMPTZ = 1184,
	OID_TIMETZ = 1266,
	OID_NUMERIC = 1700,
	OID_UUID = 2950,
	OID_JSONB = 3802,
};

/* Session settings (DESIGN.md: times are UTC; callers get bytea in one form). */
#define SESSION_OPTIONS "-c TimeZone=UTC -c bytea_output=hex -c standard_conforming_strings=on"

typedef struct pg_db {
	dj_db base;
	PGconn *conn;
	Oid *enums; /* enum type OIDs known at connect time, sorted */
	size_t nenums;
} pg_db;

typedef struct pg_rows {
	dj_db_rows base;
	PGresult *res;    /* holds the current row (single-row mode) */
	bool pending_row; /* res holds a row next() has not returned yet */
	bool finished;    /* every result of the statement has been read */
	dj_buf *decoded;  /* per field: decoded bytea */
} pg_rows;

/* Parameters in the form PQexecParams takes. */
typedef struct pg_params {
	dj_buf sql;
	const char **values;
	int *lengths, *formats;
	Oid *types;
	char **owned; /* text copies and number strings */
	size_t n;
} pg_params;

static dj_db_errclass classify_state(const char *s)
{
	static const struct {
		const char *state;
		dj_db_errclass cls;
	} map[] = {
	    {"23505", DJ_DB_E_DUPLICATE}, {"23503", DJ_DB_E_FOREIGN_KEY},
	    {"40P01", DJ_DB_E_DEADLOCK},  {"40001", DJ_DB_E_DEADLOCK},
	    {"55P03", DJ_DB_E_DEADLOCK},  {"3D000", DJ_DB_E_NOT_FOUND},
	    {"3F000", DJ_DB_E_NOT_FOUND}, {"42P01", DJ_DB_E_NOT_FOUND},
	    {"42703", DJ_DB_E_NOT_FOUND}, {"42704", DJ_DB_E_NOT_FOUND},
	    {"42601", DJ_DB_E_SYNTAX},    {"28P01", DJ_DB_E_AUTH},
	    {"28000", DJ_DB_E_AUTH},      {"57P01", DJ_DB_E_LOST},
	    {"57P02", DJ_DB_E_LOST},      {"57P03", DJ_DB_E_LOST},
	};
	if (!s)
		return DJ_DB_E_OTHER;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(s, map[i].state))
			return map[i].cls;
	return !strncmp(s, "08", 2) ? DJ_DB_E_LOST : DJ_DB_E_OTHER;
}

/* libpq's message without its trailing newline(s). */
static const char *trimmed(const char *msg, char *buf, size_t n)
{
	size_t len;
	snprintf(buf, n, "%s", msg ? msg : "");
	len = strlen(buf);
	while (len && isspace((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
	return buf;
}

static int fail_conn(pg_db *p, dj_err *err)
{
	char msg[400];
	dj_db_errclass cls = PQstatus(p->conn) == CONNECTION_BAD ? DJ_DB_E_LOST : DJ_DB_E_OTHER;
	return dj_db__fail(&p->base, err, cls, 0, NULL, "%s",
	                   trimmed(PQerrorMessage(p->conn), msg, sizeof(msg)));
}

static int fail_result(pg_db *p, const PGresult *res, dj_err *err)
{
	char buf[400];
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	dj_db_errclass cls = classify_state(state);
	if (PQstatus(p->conn) == CONNECTION_BAD)
		cls = DJ_DB_E_LOST;
	if (!msg)
		msg = trimmed(PQerrorMessage(p->conn), buf, sizeof(buf));
	return dj_db__fail(&p->base, err, cls, 0, state, "%s%s%s%s [%s]", msg, detail ? " (" : "",
	                   detail ? detail : "", detail ? ")" : "", state ? state : "no SQLSTATE");
}

static void drain(PGconn *c)
{
	PGresult *r;
	while ((r = PQgetResult(c)))
		PQclear(r);
}

/* --- connections ------------------------------------------------------------------------- */

static dj_db *pg_create(void)
{
	pg_db *p = calloc(1, sizeof(*p));
	return p ? &p->base : NULL;
}

static void pg_disconnect(dj_db *db)
{
	pg_db *p = (pg_db *)db;
	if (p->conn)
		PQfinish(p->conn);
	p->conn = NULL;
	free(p->enums);
	p->enums = NULL;
	p->nenums = 0;
}

static void pg_destroy(dj_db *db)
{
	free(db);
}

/* libpq prints NOTICEs (e.g. "schema ... does not exist, skipping") to stderr by default;
 * library code never prints */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Connection failures carry no SQLSTATE in libpq: classify by the server's (English) text. */
static dj_db_errclass classify_connect(const char *msg)
{
	if (strstr(msg, "authentication failed") || strstr(msg, "no pg_hba.conf entry") ||
	    strstr(msg, "no password supplied") ||
	    (strstr(msg, "role \"") && strstr(msg, "does not exist")))
		return DJ_DB_E_AUTH;
	if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
		return DJ_DB_E_NOT_FOUND;
	return DJ_DB_E_CONNECT;
}

static int cmp_oid(const void *a, const void *b)
{
	Oid x = *(const Oid *)a, y = *(const Oid *)b;
	return x < y ? -1 : x > y;
}

/* The enum types, so results can say DJ_DB_T_ENUM (a result set cannot look them up while it
 * streams). Types created later read as DJ_DB_T_OTHER until the next connection. */
static int load_enums(pg_db *p, dj_err *err)
{
	PGresult *res = PQexec(p->conn, "SELECT oid FROM pg_catalog.pg_type WHERE typtype = 'e'");
	int rc = 0, n;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = fail_result(p, res, err);
		goto done;
	}
	n = PQntuples(res);
	if (n && !(p->enums = calloc((size_t)n, sizeof(*p->enums)))) {
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		goto done;
	}
	for (int i = 0; i < n; i++)
		p->enums[i] = (Oid)strtoul(PQgetvalue(res, i, 0), NULL, 10);
	p->nenums = (size_t)n;
	if (p->nenums > 1)
		qsort(p->enums, p->nenums, sizeof(*p->enums), cmp_oid);
done:
	PQclear(res);
	return rc;
}

static int pg_connect(dj_db *db, dj_err *err)
{
	pg_db *p = (pg_db *)db;
	char port[16], timeout[16], msg[400];
	/* database.md §9.2; AUTO = libpq's "prefer": TLS first, plain if the server has none */
	const char *sslmode = db->use_tls == DJ_DB_TLS_ON    ? "require"
	                      : db->use_tls == DJ_DB_TLS_OFF ? "disable"
	                                                     : "prefer";
	const char *keys[] = {"host",
	                      "port",
	                      "user",
	                      "password",
	                      "dbname",
	                      "sslmode",
	                      "connect_timeout",
	                      "options",
	                      "client_encoding",
	                      "application_name",
	                      NULL};
	const char *vals[] = {db->host,   port,    db->user, db->password,
	                      db->dbname, sslmode, timeout,  SESSION_OPTIONS,
	                      "UTF8",     "djrun", NULL};
	pg_disconnect(db);
	snprintf(port, sizeof(port), "%d", db->port);
	snprintf(timeout, sizeof(timeout), "%d", db->connect_timeout);
	if (!(p->conn = PQconnectdbParams(keys, vals, 0)))
		return dj_db__fail(db, err, DJ_DB_E_OTHER, 0, NULL, "out of memory");
	if (PQstatus(p->conn) != CONNECTION_OK) {
		dj_db_errclass cls;
		trimmed(PQerrorMessage(p->conn), msg, sizeof(msg));
		cls = classify_connect(msg);
		pg_disconnect(db);
		return dj_db__fail(db, err, cls, 0, NULL, "%s: %s",
		                   cls == DJ_DB_E_AUTH        ? "authentication failed"
		                   : cls == DJ_DB_E_NOT_FOUND ? "no such database"
		                                              : "cannot connect",
		                   msg);
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	snprintf(db->version, sizeof(db->version), "%s",
	         PQparameterStatus(p->conn, "server_version")
	             ? PQparameterStatus(p->conn, "server_version")
	             : "");
	db->connection_id = PQbackendPID(p->conn);
	if (load_enums(p, err) < 0) {
		pg_disconnect(db);
		return DJ_ERROR;
	}
	return 0;
}

/* --- parameters -------------------------------------------------------------------------- */

static void params_free(pg_params *pp)
{
	dj_buf_dispose(&pp->sql);
	if (pp->owned)
		for (size_t i = 0; i < pp->n; i++)
			free(pp->owned[i]);
	free(pp->owned);
	free(pp->values);
	free(pp->lengths);
	free(pp->formats);
	free(pp->types);
}

static int param_error(pg_db *p, dj_err *err, int code, const char *fmt, ...) DJ_PRINTF(4, 5);

static int param_error(pg_db *p, dj_err *err, int code, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->base.errclass = DJ_DB_E_OTHER;
	return dj_err_set(err, code, "%s: %s", p->base.address, msg);
}

static int text_param(pg_db *p, pg_params *pp, size_t i, const dj_db_param *v, dj_err *err)
{
	char num[40];
	const char *src = num;
	size_t n;
	if (v->type == DJ_DB_P_INT) {
		snprintf(num, sizeof(num), "%lld", (long long)v->i);
	} else if (v->type == DJ_DB_P_DOUBLE) {
		dj_db__format_double(num, sizeof(num), v->d, false);
		/* the server's spellings of the special values */
		if (!strcmp(num, "nan"))
			strcpy(num, "NaN");
		else if (!strcmp(num, "inf"))
			strcpy(num, "Infinity");
		else if (!strcmp(num, "-inf"))
			strcpy(num, "-Infinity");
	} else {
		src = v->p ? v->p : "";
		if (memchr(src, '\0', v->n))
			return param_error(
			    p, err, DJ_EFORMAT,
			    "parameter %zu: text with a NUL byte (PostgreSQL text cannot "
			    "hold NUL; pass it as bytes)",
			    i + 1);
	}
	n = v->type == DJ_DB_P_TEXT ? v->n : strlen(num);
	/* text parameters are C strings: copy, then terminate */
	if (!(pp->owned[i] = malloc(n + 1)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory for parameter %zu", i + 1);
	memcpy(pp->owned[i], src, n);
	pp->owned[i][n] = '\0';
	pp->values[i] = pp->owned[i];
	return 0;
}

static int params_build(pg_db *p, pg_params *pp, const char *sql, const dj_db_param *v, size_t n,
                        dj_err *err)
{
	size_t found = 0;
	int rc;
	memset(pp, 0, sizeof(*pp));
	pp->sql = (dj_buf)DJ_BUF_INIT;
	pp->n = n;
	if (!n)
		return dj_buf_adds(&pp->sql, sql) < 0 ? dj_err_set(err, DJ_ENOMEM, "out of memory")
		                                      : 0;
	if ((rc = dj_db__pg_placeholders(&pp->sql, sql, &found, err)) < 0)
		return rc;
	if (found != n)
		return param_error(
		    p, err, DJ_EUSAGE,
		    "the statement has %zu placeholders but %zu parameters were given", found, n);
	pp->values = calloc(n, sizeof(*pp->values));
	pp->lengths = calloc(n, sizeof(*pp->lengths));
	pp->formats = calloc(n, sizeof(*pp->formats));
	pp->types = calloc(n, sizeof(*pp->types));
	pp->owned = calloc(n, sizeof(*pp->owned));
	if (!pp->values || !pp->lengths || !pp->formats || !pp->types || !pp->owned)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (v[i].type == DJ_DB_P_NULL)
			continue; /* values[i] NULL is SQL NULL */
		if (v[i].type == DJ_DB_P_BYTES) {
			if (v[i].n > INT_MAX)
				return param_error(p, err, DJ_EUSAGE,
				                   "parameter %zu is too large (%zu bytes)", i + 1,
				                   v[i].n);
			pp->values[i] = v[i].p ? v[i].p : "";
			pp->lengths[i] = (int)v[i].n;
			pp->formats[i] = 1;
			pp->types[i] = OID_BYTEA;
		} else if ((rc = text_param(p, pp, i, &v[i], err)) < 0) {
			return rc;
		}
	}
	return 0;
}

/* --- statements -------------------------------------------------------------------------- */

static int pg_exec(dj_db *db, const char *sql, const dj_db_param *v, size_t n, dj_err *err)
{
	pg_db *p = (pg_db *)db;
	pg_params pp;
	PGresult *res;
	int rc = params_build(p, &pp, sql, v, n, err);
	if (rc < 0)
		goto done;
	res = PQexecParams(p->conn, pp.sql.ptr, (int)n, pp.types, pp.values, pp.lengths, pp.formats,
	                   0);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		db->affected = strtoull(PQcmdTuples(res), NULL, 10);
		break;
	default:
		rc = fail_result(p, res, err);
	}
	PQclear(res);
done:
	params_free(&pp);
	return rc;
}

static dj_db_type pg_type(const pg_db *p, Oid t)
{
	switch (t) {
	case OID_BOOL:
		return DJ_DB_T_BOOL;
	case OID_BYTEA:
		return DJ_DB_T_BYTES;
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		return DJ_DB_T_INT;
	case OID_FLOAT4:
	case OID_FLOAT8:
		return DJ_DB_T_FLOAT;
	case OID_NUMERIC:
		return DJ_DB_T_DECIMAL;
	case OID_CHAR:
	case OID_NAME:
	case OID_TEXT:
	case OID_BPCHAR:
	case OID_VARCHAR:
		return DJ_DB_T_TEXT;
	case OID_JSON:
	case OID_JSONB:
		return DJ_DB_T_JSON;
	case OID_DATE:
		return DJ_DB_T_DATE;
	case OID_TIMESTAMP:
	case OID_TIMESTAMPTZ:
		return DJ_DB_T_DATETIME;
	case OID_TIME:
	case OID_TIMETZ:
		return DJ_DB_T_TIME;
	case OID_UUID:
		return DJ_DB_T_UUID;
	default:
		return p->nenums && bsearch(&t, p->enums, p->nenums, sizeof(Oid), cmp_oid)
		           ? DJ_DB_T_ENUM
		           : DJ_DB_T_OTHER;
	}
}

static int describe(pg_rows *r, pg_db *p, const PGresult *res, dj_err *err)
{
	int nf = PQnfields(res);
	int rc = dj_db__rows_init(&r->base, &p->base, (size_t)nf, err);
	if (rc == 0 && !(r->decoded = calloc(nf ? (size_t)nf : 1, sizeof(*r->decoded))))
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (int i = 0; rc == 0 && i < nf; i++) {
		r->decoded[i] = (dj_buf)DJ_BUF_INIT;
		r->base.types[i] = pg_type(p, PQftype(res, i));
		if (!(r->base.names[i] = strdup(PQfname(res, i))))
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	return rc;
}

static void pg_rows_free(dj_db_rows *base)
{
	pg_rows *r = (pg_rows *)base;
	pg_db *p = (pg_db *)base->db;
	PQclear(r->res);
	if (!r->finished && p->conn)
		drain(
		    p->conn); /* the rest of the rows: the connection is busy until they are read */
	if (r->decoded)
		for (size_t i = 0; i < base->nfields; i++)
			dj_buf_dispose(&r->decoded[i]);
	free(r->decoded);
	dj_db__rows_release(base);
	free(r);
}

/* The first result tells the columns, or the error. */
static int first_result(pg_db *p, pg_rows *r, dj_err *err)
{
	r->res = PQgetResult(p->conn);
	switch (PQresultStatus(r->res)) {
	case PGRES_SINGLE_TUPLE:
		r->pending_row = true;
		return describe(r, p, r->res, err);
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		p->base.affected = strtoull(PQcmdTuples(r->res), NULL, 10);
		drain(p->conn);
		r->finished = true;
		return describe(r, p, r->res, err);
	default: {
		int rc = r->res ? fail_result(p, r->res, err) : fail_conn(p, err);
		drain(p->conn);
		r->finished = true;
		return rc;
	}
	}
}

static int pg_query(dj_db *db, const char *sql, const dj_db_param *v, size_t n, dj_db_rows **out,
                    dj_err *err)
{
	pg_db *p = (pg_db *)db;
	pg_rows *r = calloc(1, sizeof(*r));
	pg_params pp;
	int rc = params_build(p, &pp, sql, v, n, err);
	if (!r && rc == 0)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (r)
		r->base.db = db;
	if (rc < 0)
		goto done;
	if (!PQsendQueryParams(p->conn, pp.sql.ptr, (int)n, pp.types, pp.values, pp.lengths,
	                       pp.formats, 0)) {
		r->finished = true;
		rc = fail_conn(p, err);
		goto done;
	}
	PQsetSingleRowMode(p->conn);
	rc = first_result(p, r, err);
done:
	params_free(&pp);
	if (rc < 0 && r) {
		r->finished = true;
		pg_rows_free(&r->base);
	} else if (rc == 0) {
		*out = &r->base;
	}
	return rc;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

/* Hex digit values; 0xFF for anything else. Built once (a table beats branches on the bulk
 * bytea path: hex doubles every blob on the wire). */
static uint8_t hex_table[256];
static pthread_once_t hex_once = PTHREAD_ONCE_INIT;

static void hex_init(void)
{
	memset(hex_table, 0xFF, sizeof(hex_table));
	for (int c = 0; c < 256; c++)
		if (hexval((char)c) >= 0)
			hex_table[c] = (uint8_t)hexval((char)c);
}

static int decode_bytea(dj_buf *out, const char *v, size_t n)
{
	dj_buf_reset(out);
	if (n >= 2 && v[0] == '\\' && v[1] == 'x') {
		size_t k = (n - 2) / 2;
		const uint8_t *h = (const uint8_t *)v + 2;
		uint8_t *o, bad = 0;
		if ((n & 1) || dj_buf_grow(out, k) < 0)
			return (n & 1) ? DJ_EFORMAT : DJ_ENOMEM;
		pthread_once(&hex_once, hex_init);
		o = (uint8_t *)out->ptr;
		for (size_t i = 0; i < k; i++) {
			uint8_t hi = hex_table[h[2 * i]], lo = hex_table[h[2 * i + 1]];
			bad |= (uint8_t)(hi | lo); /* any 0xFF sets the high bits */
			o[i] = (uint8_t)(hi << 4 | (lo & 15));
		}
		if (bad & 0xF0)
			return DJ_EFORMAT;
		dj_buf_setlen(out, k);
		return 0;
	} else {
		/* the old escape format, should a server override bytea_output */
		size_t k = 0;
		unsigned char *raw = PQunescapeBytea((const unsigned char *)v, &k);
		int rc = raw ? dj_buf_add(out, raw, k) : DJ_ENOMEM;
		PQfreemem(raw);
		return rc;
	}
}

static int fill_row(pg_rows *r, dj_err *err)
{
	for (size_t i = 0; i < r->base.nfields; i++) {
		const char *v = PQgetvalue(r->res, 0, (int)i);
		size_t n = (size_t)PQgetlength(r->res, 0, (int)i);
		r->base.nulls[i] = PQgetisnull(r->res, 0, (int)i);
		r->base.vals[i] = (const uint8_t *)v;
		r->base.lens[i] = r->base.nulls[i] ? 0 : n;
		if (r->base.nulls[i])
			continue;
		if (r->base.types[i] == DJ_DB_T_BYTES) {
			int rc = decode_bytea(&r->decoded[i], v, n);
			if (rc < 0)
				return dj_err_set(err, rc, "%s: cannot decode bytea in column '%s'",
				                  r->base.db->address, r->base.names[i]);
			r->base.vals[i] = (const uint8_t *)r->decoded[i].ptr;
			r->base.lens[i] = r->decoded[i].len;
		} else if (r->base.types[i] == DJ_DB_T_BOOL) {
			r->base.vals[i] = (const uint8_t *)(v[0] == 't' ? "1" : "0");
			r->base.lens[i] = 1;
		}
	}
	return 1;
}

static int pg_next(dj_db_rows *base, dj_err *err)
{
	pg_rows *r = (pg_rows *)base;
	pg_db *p = (pg_db *)base->db;
	int rc;
	if (r->pending_row) {
		r->pending_row = false;
		return fill_row(r, err);
	}
	if (r->finished)
		return 0;
	PQclear(r->res);
	r->res = PQgetResult(p->conn);
	switch (PQresultStatus(r->res)) {
	case PGRES_SINGLE_TUPLE:
		return fill_row(r, err);
	case PGRES_TUPLES_OK:
		drain(p->conn);
		r->finished = true;
		return 0;
	default:
		rc = r->res ? fail_result(p, r->res, err) : fail_conn(p, err);
		drain(p->conn);
		r->finished = true;
		return rc;
	}
}

/* --- quoting ----------------------------------------------------------------------------- */

static int quote_doubling(dj_buf *out, const char *s, size_t n, char q)
{
	int rc = dj_buf_addc(out, q);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (s[i] == q)
			rc = dj_buf_addc(out, q);
		if (rc == 0)
			rc = dj_buf_addc(out, s[i]);
	}
	if (rc == 0)
		rc = dj_buf_addc(out, q);
	return rc;
}

static int pg_quote_ident(dj_buf *out, const char *name, dj_err *err)
{
	if (!name || !*name)
		return dj_err_set(err, DJ_EFORMAT, "empty identifier");
	return quote_doubling(out, name, strlen(name), '"') < 0
	           ? dj_err_set(err, DJ_ENOMEM, "out of memory")
	           : 0;
}

static int pg_quote_text(dj_buf *out, const char *s, size_t n, dj_err *err)
{
	if (memchr(s, '\0', n))
		return dj_err_set(err, DJ_EFORMAT,
		                  "PostgreSQL text cannot hold a NUL byte; quote it as bytes");
	return quote_doubling(out, s, n, '\'') < 0 ? dj_err_set(err, DJ_ENOMEM, "out of memory")
	                                           : 0;
}

static int pg_quote_bytes(dj_buf *out, const void *p, size_t n, dj_err *err)
{
	int rc = dj_buf_adds(out, "'\\x");
	if (rc == 0)
		rc = dj_db__hex(out, p, n);
	if (rc == 0)
		rc = dj_buf_adds(out, "'::bytea");
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

const dj_db_ops dj_db_postgres_ops = {
    .name = "postgresql",
    .id = DJ_DB_POSTGRESQL,
    .default_port = 5432,
    .begin_sql = "BEGIN",
    .create = pg_create,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .destroy = pg_destroy,
    .exec = pg_exec,
    .query = pg_query,
    .next = pg_next,
    .rows_free = pg_rows_free,
    .quote_ident = pg_quote_ident,
    .quote_text = pg_quote_text,
    .quote_bytes = pg_quote_bytes,
};
