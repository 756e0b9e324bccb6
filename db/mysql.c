/*
 * The MySQL/MariaDB backend (libmariadb). Statements without parameters use the text protocol;
 * statements with parameters are prepared (mysql_stmt_*), so bytes travel unescaped. Results
 * stream (mysql_use_result / unbuffered statement fetch): variable-length values are fetched
 * column by column at their real length, so a 256 MB blob needs no guessed buffer.
 */
#include "db/db_internal.h"

#include <limits.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* database.md §9.2: the session datajoint-python sets up, plus UTC (DESIGN.md decisions) */
#define SESSION_SQL                                                                                \
	"SET SESSION sql_mode = 'NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,"         \
	"STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY', time_zone = '+00:00'"

#define BINARY_CHARSET 63 /* the charset number of binary strings and blobs */

typedef struct my_db {
	dj_db base;
	MYSQL *conn;
} my_db;

typedef struct my_col {
	enum enum_field_types ftype;
	unsigned decimals;
	bool variable; /* fetched at its real length with mysql_stmt_fetch_column */
	union {
		long long ll;
		float f;
		double d;
		MYSQL_TIME t;
	} fixed;
	unsigned long length;
	my_bool is_null, error;
	dj_buf text; /* the value as returned to the caller */
} my_col;

typedef struct my_rows {
	dj_db_rows base;
	MYSQL_RES *res;   /* text protocol */
	MYSQL_STMT *stmt; /* prepared statement */
	MYSQL_BIND *bind;
	my_col *cols;
} my_rows;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* mysql_init() would initialise the library lazily, which is not thread-safe */
static void lib_init(void)
{
	mysql_library_init(0, NULL, NULL);
}

static dj_db_errclass classify(unsigned e)
{
	switch (e) {
	case 1044: /* access denied to a database */
	case 1045: /* access denied for user */
	case 1251: /* client does not support the authentication protocol */
	case 1698: /* access denied (auth plugin) */
	case 1862: /* password expired */
	case 2059: /* authentication plugin cannot be loaded */
		return DJ_DB_E_AUTH;
	case 2002:
	case 2003:
	case 2004:
	case 2005:
	case 2012:
	case 2026:
		return DJ_DB_E_CONNECT;
	case 1053: /* server shutdown in progress */
	case 1927: /* connection was killed */
	case 2006: /* server has gone away */
	case 2013: /* lost connection during query */
	case 2055: /* lost connection (extended) */
	case 4031: /* disconnected by the server because of inactivity */
		return DJ_DB_E_LOST;
	case 1062:
	case 1586:
		return DJ_DB_E_DUPLICATE;
	case 1216:
	case 1217:
	case 1451:
	case 1452:
	case 3730:
		return DJ_DB_E_FOREIGN_KEY;
	case 1205:
	case 1213:
		return DJ_DB_E_DEADLOCK;
	case 1049:
	case 1051:
	case 1054:
	case 1146:
		return DJ_DB_E_NOT_FOUND;
	case 1064:
		return DJ_DB_E_SYNTAX;
	default:
		return DJ_DB_E_OTHER;
	}
}

static int fail_conn(my_db *m, dj_err *err)
{
	unsigned e = mysql_errno(m->conn);
	return dj_db__fail(&m->base, err, e ? classify(e) : DJ_DB_E_OTHER, (int)e,
	                   mysql_sqlstate(m->conn), "%s [%u]", mysql_error(m->conn), e);
}

static int fail_stmt(my_db *m, MYSQL_STMT *st, dj_err *err)
{
	unsigned e = mysql_stmt_errno(st);
	return dj_db__fail(&m->base, err, e ? classify(e) : DJ_DB_E_OTHER, (int)e,
	                   mysql_stmt_sqlstate(st), "%s [%u]", mysql_stmt_error(st), e);
}

/* --- connections ------------------------------------------------------------------------- */

static dj_db *my_create(void)
{
	my_db *m = calloc(1, sizeof(*m));
	return m ? &m->base : NULL;
}

static void my_disconnect(dj_db *db)
{
	my_db *m = (my_db *)db;
	if (m->conn)
		mysql_close(m->conn);
	m->conn = NULL;
}

static void my_destroy(dj_db *db)
{
	free(db);
}

static void set_options(MYSQL *c, const dj_db *db, bool tls)
{
	unsigned int timeout = (unsigned)db->connect_timeout, proto = MYSQL_PROTOCOL_TCP;
	my_bool yes = 1, no = 0;
	mysql_optionsv(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	/* PyMySQL always uses TCP; libmariadb would take "localhost" for the Unix socket */
	mysql_optionsv(c, MYSQL_OPT_PROTOCOL, &proto);
	mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (tls) {
		/* PyMySQL's ssl={}: encrypted, server certificate not verified */
		mysql_optionsv(c, MYSQL_OPT_SSL_ENFORCE, &yes);
		mysql_optionsv(c, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &no);
	}
}

static int connect_once(my_db *m, bool tls, dj_err *err)
{
	dj_db *db = &m->base;
	MYSQL *c;
	pthread_once(&lib_once, lib_init);
	if (!(c = mysql_init(NULL)))
		return dj_db__fail(db, err, DJ_DB_E_OTHER, 0, NULL, "out of memory");
	set_options(c, db, tls);
	if (!mysql_real_connect(c, db->host, db->user, db->password ? db->password : "", NULL,
	                        (unsigned)db->port, NULL, 0)) {
		unsigned e = mysql_errno(c);
		dj_db_errclass cls = classify(e) == DJ_DB_E_AUTH ? DJ_DB_E_AUTH : DJ_DB_E_CONNECT;
		int rc =
		    dj_db__fail(db, err, cls, (int)e, mysql_sqlstate(c), "%s%s: %s [%u]",
		                cls == DJ_DB_E_AUTH ? "authentication failed" : "cannot connect",
		                tls ? " (TLS)" : "", mysql_error(c), e);
		mysql_close(c);
		return rc;
	}
	m->conn = c;
	if (mysql_real_query(c, SESSION_SQL, strlen(SESSION_SQL)) != 0) {
		int rc = fail_conn(m, err);
		dj_err_context(err, "cannot set up the session");
		my_disconnect(db);
		return rc;
	}
	snprintf(db->version, sizeof(db->version), "%s", mysql_get_server_info(c));
	db->connection_id = (int64_t)mysql_thread_id(c);
	return 0;
}

static int my_connect(dj_db *db, dj_err *err)
{
	my_db *m = (my_db *)db;
	dj_err first = DJ_ERR_INIT;
	int rc;
	my_disconnect(db);
	if (db->use_tls != DJ_DB_TLS_AUTO)
		return connect_once(m, db->use_tls == DJ_DB_TLS_ON, err);
	/* database.md §9.2: TLS first, then without; but a refused password or an unreachable
	 * server will not change without TLS */
	if ((rc = connect_once(m, true, &first)) == 0)
		return 0;
	if (db->errclass == DJ_DB_E_AUTH || db->server_errno == 2002 || db->server_errno == 2003 ||
	    db->server_errno == 2005) {
		dj_err_set(err, first.code, "%s", first.msg);
		return rc;
	}
	return connect_once(m, false, err);
}

/* --- statements -------------------------------------------------------------------------- */

static int param_error(my_db *m, dj_err *err, const char *fmt, size_t a, size_t b)
{
	char msg[160];
	snprintf(msg, sizeof(msg), fmt, a, b);
	m->base.errclass = DJ_DB_E_OTHER;
	return dj_err_set(err, DJ_EUSAGE, "%s: %s", m->base.address, msg);
}

static void bind_param(MYSQL_BIND *b, const dj_db_param *p)
{
	switch (p->type) {
	case DJ_DB_P_NULL:
		b->buffer_type = MYSQL_TYPE_NULL;
		break;
	case DJ_DB_P_INT:
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->buffer = (void *)&p->i; /* input buffers are only read */
		break;
	case DJ_DB_P_DOUBLE:
		b->buffer_type = MYSQL_TYPE_DOUBLE;
		b->buffer = (void *)&p->d;
		break;
	case DJ_DB_P_TEXT:
	case DJ_DB_P_BYTES:
		b->buffer_type = p->type == DJ_DB_P_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
		b->buffer = (void *)(p->p ? p->p : "");
		b->buffer_length = (unsigned long)p->n;
		break;
	}
}

/* Prepare `sql`, bind `p` and execute; `*out` is the executed statement. */
static int prepare_run(my_db *m, const char *sql, const dj_db_param *p, size_t n, MYSQL_STMT **out,
                       dj_err *err)
{
	MYSQL_STMT *st = mysql_stmt_init(m->conn);
	MYSQL_BIND *b = NULL;
	int rc = 0;
	*out = NULL;
	if (!st)
		return fail_conn(m, err);
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		rc = fail_stmt(m, st, err);
		goto done;
	}
	if (mysql_stmt_param_count(st) != n) {
		rc = param_error(m, err,
		                 "the statement has %zu placeholders but %zu parameters were given",
		                 (size_t)mysql_stmt_param_count(st), n);
		goto done;
	}
	if (!(b = calloc(n ? n : 1, sizeof(*b)))) {
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if ((p[i].type == DJ_DB_P_TEXT || p[i].type == DJ_DB_P_BYTES) &&
		    p[i].n > ULONG_MAX) {
			rc = param_error(m, err, "parameter %zu is too large (%zu bytes)", i + 1,
			                 p[i].n);
			goto done;
		}
		bind_param(&b[i], &p[i]);
	}
	if (mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0)
		rc = fail_stmt(m, st, err);
done:
	free(b);
	if (rc < 0)
		mysql_stmt_close(st);
	else
		*out = st;
	return rc;
}

static int my_exec(dj_db *db, const char *sql, const dj_db_param *p, size_t n, dj_err *err)
{
	my_db *m = (my_db *)db;
	MYSQL_STMT *st;
	MYSQL_RES *res;
	int rc;
	if (n) {
		if ((rc = prepare_run(m, sql, p, n, &st, err)) < 0)
			return rc;
		db->affected = mysql_stmt_affected_rows(st);
		mysql_stmt_close(st); /* discards rows, if any */
		return 0;
	}
	if (mysql_real_query(m->conn, sql, strlen(sql)) != 0)
		return fail_conn(m, err);
	if ((res = mysql_store_result(m->conn)))
		mysql_free_result(res);
	else if (mysql_field_count(m->conn) != 0)
		return fail_conn(m, err);
	db->affected = mysql_affected_rows(m->conn);
	return 0;
}

/* --- results ----------------------------------------------------------------------------- */

static bool is_json(const MYSQL_FIELD *f)
{
	MARIADB_CONST_STRING attr = {0};
	/* MariaDB reports json columns as longtext; its extended metadata names the format */
	return mariadb_field_attr(&attr, f, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 &&
	       attr.length == 4 && !strncmp(attr.str, "json", 4);
}

static dj_db_type my_type(const MYSQL_FIELD *f)
{
	switch (f->type) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_YEAR:
		return DJ_DB_T_INT;
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
		return DJ_DB_T_FLOAT;
	case MYSQL_TYPE_DECIMAL:
	case MYSQL_TYPE_NEWDECIMAL:
		return DJ_DB_T_DECIMAL;
	case MYSQL_TYPE_DATE:
	case MYSQL_TYPE_NEWDATE:
		return DJ_DB_T_DATE;
	case MYSQL_TYPE_DATETIME:
	case MYSQL_TYPE_TIMESTAMP:
	case MYSQL_TYPE_DATETIME2:
	case MYSQL_TYPE_TIMESTAMP2:
		return DJ_DB_T_DATETIME;
	case MYSQL_TYPE_TIME:
	case MYSQL_TYPE_TIME2:
		return DJ_DB_T_TIME;
	case MYSQL_TYPE_JSON:
		return DJ_DB_T_JSON;
	case MYSQL_TYPE_ENUM:
	case MYSQL_TYPE_SET:
		return DJ_DB_T_ENUM;
	case MYSQL_TYPE_BIT:
	case MYSQL_TYPE_GEOMETRY:
		return DJ_DB_T_BYTES;
	case MYSQL_TYPE_NULL:
		return DJ_DB_T_OTHER;
	default:
		if (f->flags & (ENUM_FLAG | SET_FLAG))
			return DJ_DB_T_ENUM;
		if (is_json(f))
			return DJ_DB_T_JSON;
		return f->charsetnr == BINARY_CHARSET ? DJ_DB_T_BYTES : DJ_DB_T_TEXT;
	}
}

static dj_db_rows *rows_alloc(void)
{
	my_rows *r = calloc(1, sizeof(*r));
	return r ? &r->base : NULL;
}

static int describe(my_rows *r, MYSQL_RES *meta, dj_db *db, dj_err *err)
{
	unsigned nf = mysql_num_fields(meta);
	MYSQL_FIELD *f = mysql_fetch_fields(meta);
	int rc = dj_db__rows_init(&r->base, db, nf, err);
	for (unsigned i = 0; rc == 0 && i < nf; i++) {
		r->base.types[i] = my_type(&f[i]);
		if (!(r->base.names[i] = strndup(f[i].name, f[i].name_length)))
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	return rc;
}

static void bind_result_col(MYSQL_BIND *b, my_col *c, const MYSQL_FIELD *f)
{
	c->ftype = f->type;
	c->decimals = f->decimals;
	switch (f->type) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_YEAR:
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->buffer = &c->fixed.ll;
		b->is_unsigned = (f->flags & UNSIGNED_FLAG) != 0;
		break;
	case MYSQL_TYPE_FLOAT:
		b->buffer_type = MYSQL_TYPE_FLOAT;
		b->buffer = &c->fixed.f;
		break;
	case MYSQL_TYPE_DOUBLE:
		b->buffer_type = MYSQL_TYPE_DOUBLE;
		b->buffer = &c->fixed.d;
		break;
	case MYSQL_TYPE_DATE:
	case MYSQL_TYPE_NEWDATE:
	case MYSQL_TYPE_TIME:
	case MYSQL_TYPE_DATETIME:
	case MYSQL_TYPE_TIMESTAMP:
		b->buffer_type = f->type == MYSQL_TYPE_NEWDATE ? MYSQL_TYPE_DATE : f->type;
		b->buffer = &c->fixed.t;
		b->buffer_length = sizeof(c->fixed.t);
		break;
	default:
		c->variable = true;
		b->buffer_type =
		    f->charsetnr == BINARY_CHARSET ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
		break;
	}
	b->length = &c->length;
	b->is_null = &c->is_null;
	b->error = &c->error;
}

static int bind_results(my_rows *r, MYSQL_RES *meta, dj_err *err)
{
	size_t nf = r->base.nfields;
	MYSQL_FIELD *f = mysql_fetch_fields(meta);
	r->bind = calloc(nf ? nf : 1, sizeof(*r->bind));
	r->cols = calloc(nf ? nf : 1, sizeof(*r->cols));
	if (!r->bind || !r->cols)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t i = 0; i < nf; i++) {
		r->cols[i].text = (dj_buf)DJ_BUF_INIT;
		bind_result_col(&r->bind[i], &r->cols[i], &f[i]);
	}
	if (mysql_stmt_bind_result(r->stmt, r->bind) != 0)
		return fail_stmt((my_db *)r->base.db, r->stmt, err);
	return 0;
}

static int query_stmt(my_db *m, my_rows *r, const char *sql, const dj_db_param *p, size_t n,
                      dj_err *err)
{
	MYSQL_RES *meta;
	int rc;
	if ((rc = prepare_run(m, sql, p, n, &r->stmt, err)) < 0)
		return rc;
	if (!(meta = mysql_stmt_result_metadata(r->stmt))) {
		m->base.affected = mysql_stmt_affected_rows(r->stmt);
		r->base.done = true;
		return dj_db__rows_init(&r->base, &m->base, 0, err);
	}
	if ((rc = describe(r, meta, &m->base, err)) == 0)
		rc = bind_results(r, meta, err);
	mysql_free_result(meta);
	return rc;
}

static int query_text(my_db *m, my_rows *r, const char *sql, dj_err *err)
{
	if (mysql_real_query(m->conn, sql, strlen(sql)) != 0)
		return fail_conn(m, err);
	if (!(r->res = mysql_use_result(m->conn))) {
		if (mysql_field_count(m->conn) != 0)
			return fail_conn(m, err);
		m->base.affected = mysql_affected_rows(m->conn);
		r->base.done = true;
		return dj_db__rows_init(&r->base, &m->base, 0, err);
	}
	return describe(r, r->res, &m->base, err);
}

static void my_rows_free(dj_db_rows *base)
{
	my_rows *r = (my_rows *)base;
	if (r->res)
		mysql_free_result(r->res); /* reads what is left of an unbuffered result */
	if (r->stmt)
		mysql_stmt_close(r->stmt);
	if (r->cols)
		for (size_t i = 0; i < base->nfields; i++)
			dj_buf_dispose(&r->cols[i].text);
	free(r->cols);
	free(r->bind);
	dj_db__rows_release(base);
	free(r);
}

static int my_query(dj_db *db, const char *sql, const dj_db_param *p, size_t n, dj_db_rows **out,
                    dj_err *err)
{
	my_db *m = (my_db *)db;
	my_rows *r = (my_rows *)rows_alloc();
	int rc;
	if (!r)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	rc = n ? query_stmt(m, r, sql, p, n, err) : query_text(m, r, sql, err);
	if (rc < 0) {
		my_rows_free(&r->base);
		return rc;
	}
	*out = &r->base;
	return 0;
}

static int next_text(my_rows *r, dj_err *err)
{
	my_db *m = (my_db *)r->base.db;
	MYSQL_ROW row = mysql_fetch_row(r->res);
	unsigned long *len;
	if (!row)
		return mysql_errno(m->conn) ? fail_conn(m, err) : 0;
	len = mysql_fetch_lengths(r->res);
	for (size_t i = 0; i < r->base.nfields; i++) {
		/* libmariadb terminates every field of a fetched row with a NUL */
		r->base.nulls[i] = row[i] == NULL;
		r->base.vals[i] = (const uint8_t *)row[i];
		r->base.lens[i] = row[i] ? len[i] : 0;
	}
	return 1;
}

static int format_time(dj_buf *out, const my_col *c)
{
	const MYSQL_TIME *t = &c->fixed.t;
	char frac[8] = "";
	int rc = 0;
	if (c->decimals >= 1 && c->decimals <= 6) {
		snprintf(frac, sizeof(frac), ".%06lu", t->second_part % 1000000);
		frac[1 + c->decimals] = '\0';
	}
	if (c->ftype != MYSQL_TYPE_TIME)
		rc = dj_buf_addf(out, "%04u-%02u-%02u", t->year, t->month, t->day);
	if (rc == 0 && c->ftype != MYSQL_TYPE_TIME && c->ftype != MYSQL_TYPE_DATE &&
	    c->ftype != MYSQL_TYPE_NEWDATE)
		rc = dj_buf_addf(out, " %02u:%02u:%02u%s", t->hour, t->minute, t->second, frac);
	if (rc == 0 && c->ftype == MYSQL_TYPE_TIME)
		rc = dj_buf_addf(out, "%s%02u:%02u:%02u%s", t->neg ? "-" : "",
		                 t->hour + 24 * t->day, t->minute, t->second, frac);
	return rc;
}

static int format_fixed(my_col *c, const MYSQL_BIND *b)
{
	char num[40];
	dj_buf_reset(&c->text);
	switch (b->buffer_type) {
	case MYSQL_TYPE_LONGLONG:
		if (b->is_unsigned)
			snprintf(num, sizeof(num), "%llu", (unsigned long long)c->fixed.ll);
		else
			snprintf(num, sizeof(num), "%lld", c->fixed.ll);
		return dj_buf_adds(&c->text, num);
	case MYSQL_TYPE_FLOAT:
		dj_db__format_double(num, sizeof(num), c->fixed.f, true);
		return dj_buf_adds(&c->text, num);
	case MYSQL_TYPE_DOUBLE:
		dj_db__format_double(num, sizeof(num), c->fixed.d, false);
		return dj_buf_adds(&c->text, num);
	default:
		return format_time(&c->text, c);
	}
}

static int fetch_variable(my_rows *r, size_t i, dj_err *err)
{
	my_col *c = &r->cols[i];
	MYSQL_BIND b;
	unsigned long got = 0;
	dj_buf_reset(&c->text);
	if (dj_buf_grow(&c->text, c->length) < 0)
		return dj_err_set(err, DJ_ENOMEM,
		                  "out of memory for a value of %lu bytes in column '%s'",
		                  c->length, r->base.names[i]);
	if (c->length == 0)
		return 0;
	memset(&b, 0, sizeof(b));
	b.buffer_type = r->bind[i].buffer_type;
	b.buffer = c->text.ptr;
	b.buffer_length = c->length;
	b.length = &got;
	if (mysql_stmt_fetch_column(r->stmt, &b, (unsigned)i, 0) != 0)
		return fail_stmt((my_db *)r->base.db, r->stmt, err);
	dj_buf_setlen(&c->text, c->length);
	return 0;
}

static int next_stmt(my_rows *r, dj_err *err)
{
	int f = mysql_stmt_fetch(r->stmt);
	if (f == MYSQL_NO_DATA)
		return 0;
	if (f == 1)
		return fail_stmt((my_db *)r->base.db, r->stmt, err);
	for (size_t i = 0; i < r->base.nfields; i++) {
		my_col *c = &r->cols[i];
		int rc;
		r->base.nulls[i] = c->is_null;
		if (c->is_null)
			continue;
		rc = c->variable ? fetch_variable(r, i, err) : format_fixed(c, &r->bind[i]);
		if (rc < 0)
			return rc == DJ_ENOMEM ? dj_err_set(err, rc, "out of memory") : rc;
		r->base.vals[i] = (const uint8_t *)c->text.ptr;
		r->base.lens[i] = c->text.len;
	}
	return 1;
}

static int my_next(dj_db_rows *base, dj_err *err)
{
	my_rows *r = (my_rows *)base;
	if (r->res)
		return next_text(r, err);
	if (r->stmt && r->base.nfields)
		return next_stmt(r, err);
	return 0;
}

/* --- quoting ----------------------------------------------------------------------------- */

static int my_quote_ident(dj_buf *out, const char *name, dj_err *err)
{
	int rc;
	if (!name || !*name)
		return dj_err_set(err, DJ_EFORMAT, "empty identifier");
	if ((rc = dj_buf_addc(out, '`')) < 0)
		return dj_err_set(err, rc, "out of memory");
	for (const char *p = name; *p && rc == 0; p++)
		rc = *p == '`' ? dj_buf_adds(out, "``") : dj_buf_addc(out, *p);
	if (rc == 0)
		rc = dj_buf_addc(out, '`');
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

static int my_quote_text(dj_buf *out, const char *s, size_t n, dj_err *err)
{
	int rc = dj_buf_addc(out, '\'');
	for (size_t i = 0; i < n && rc == 0; i++) {
		switch (s[i]) {
		case '\0':
			rc = dj_buf_adds(out, "\\0");
			break;
		case '\'':
			rc = dj_buf_adds(out, "\\'");
			break;
		case '"':
			rc = dj_buf_adds(out, "\\\"");
			break;
		case '\\':
			rc = dj_buf_adds(out, "\\\\");
			break;
		case '\n':
			rc = dj_buf_adds(out, "\\n");
			break;
		case '\r':
			rc = dj_buf_adds(out, "\\r");
			break;
		case '\x1a':
			rc = dj_buf_adds(out, "\\Z");
			break;
		default:
			rc = dj_buf_addc(out, s[i]);
			break;
		}
	}
	if (rc == 0)
		rc = dj_buf_addc(out, '\'');
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

static int my_quote_bytes(dj_buf *out, const void *p, size_t n, dj_err *err)
{
	int rc = dj_buf_adds(out, "X'");
	if (rc == 0)
		rc = dj_db__hex(out, p, n);
	if (rc == 0)
		rc = dj_buf_addc(out, '\'');
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

const dj_db_ops dj_db_mysql_ops = {
    .name = "mysql",
    .id = DJ_DB_MYSQL,
    .default_port = 3306,
    .begin_sql = "START TRANSACTION WITH CONSISTENT SNAPSHOT",
    .create = my_create,
    .connect = my_connect,
    .disconnect = my_disconnect,
    .destroy = my_destroy,
    .exec = my_exec,
    .query = my_query,
    .next = my_next,
    .rows_free = my_rows_free,
    .quote_ident = my_quote_ident,
    .quote_text = my_quote_text,
    .quote_bytes = my_quote_bytes,
};
