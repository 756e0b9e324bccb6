/* migrate legacy-external: find the 0.14 columns of a schema and the state of each
 * (jobs/migrate_legacy.h). The state is the table itself: which of `a`, `_a_migrating`,
 * `_a_backup` exist. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/migrate_legacy.h"

#define TMP_SUFFIX "_migrating"
#define BAK_SUFFIX "_backup"
#define BAK_PREFIX "0.14 backup "

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate legacy-external: out of memory");
}

const char *dj_legacy_kind_name(dj_legacy_kind k)
{
	static const char *n[] = {"blob", "attach", "filepath", "inblob", "inattach"};
	return (unsigned)k < 5 ? n[k] : "?";
}

const char *dj_legacy_state_name(dj_legacy_state s)
{
	return s == DJ_LEGACY_IN_FLIGHT ? "in flight"
	       : s == DJ_LEGACY_SWAPPED ? "swapped (backup kept)"
	                                : "not started";
}

char *dj_legacy__aux(const char *col, const char *suffix)
{
	size_t n = strlen(col) + strlen(suffix) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "_%s%s", col, suffix);
	return s;
}

int dj_legacy__ident(const dj_legacy *m, dj_buf *out, const char *name, dj_err *err)
{
	return dj_db_quote_ident(dj_db_backend_id(m->db), out, name, err);
}

int dj_legacy__qtable(const dj_legacy *m, const char *schema, const char *table, dj_buf *out,
                      dj_err *err)
{
	int rc = dj_legacy__ident(m, out, schema, err);
	if (rc == 0 && dj_buf_addc(out, '.') < 0)
		rc = nomem(err);
	return rc == 0 ? dj_legacy__ident(m, out, table, err) : rc;
}

const dj_store_spec *dj_legacy__spec(const dj_legacy *m, const char *store)
{
	for (size_t i = 0; store && i < m->nspecs; i++)
		if (!strcmp(m->specs[i].name, store))
			return &m->specs[i];
	return NULL;
}

/* ":blob@store:rest" -> kind, store (malloc'd), rest. 0 when the comment has no such marker. */
static int external_marker(const char *c, dj_legacy_kind *kind, char **store, const char **rest)
{
	static const struct {
		const char *p;
		dj_legacy_kind k;
	} m[] = {{":blob@", DJ_LEGACY_BLOB},
	         {":attach@", DJ_LEGACY_ATTACH},
	         {":filepath@", DJ_LEGACY_FILEPATH}};
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(m[i].p);
		if (strncasecmp(c, m[i].p, n))
			continue;
		const char *s = c + n, *e = s;
		if (!islower((unsigned char)*s))
			return 0;
		while (isalnum((unsigned char)*e) || *e == '_' || *e == '-')
			e++;
		if (*e != ':')
			return 0;
		*kind = m[i].k;
		*store = strndup(s, (size_t)(e - s));
		*rest = e + 1;
		return *store ? 1 : -1;
	}
	return 0;
}

typedef struct colinfo {
	char *name, *type, *data_type, *comment;
	bool nullable;
} colinfo;

static void colinfo_free(colinfo *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].name), free(c[i].type), free(c[i].data_type), free(c[i].comment);
	free(c);
}

static const colinfo *find_col(const colinfo *c, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (!strcmp(c[i].name, name))
			return &c[i];
	return NULL;
}

static bool is_blob_type(const char *dt)
{
	return !strcasecmp(dt, "tinyblob") || !strcasecmp(dt, "blob") ||
	       !strcasecmp(dt, "mediumblob") || !strcasecmp(dt, "longblob");
}

static void col_clear(dj_legacy_col *c)
{
	free(c->table), free(c->column), free(c->old_type), free(c->old_comment);
	free(c->user_comment), free(c->store), free(c->fk), free(c->pk_types);
	for (size_t i = 0; i < c->npk; i++)
		free(c->pk[i]);
	free(c->pk);
	memset(c, 0, sizeof(*c));
}

static int add_col(dj_legacy *m, const char *table, const colinfo *ci, const colinfo *src,
                   dj_legacy_kind kind, char *store, const char *rest, dj_legacy_state st,
                   dj_err *err)
{
	dj_legacy_col *n = realloc(m->cols, (m->ncols + 1) * sizeof(*n));
	if (!n) {
		free(store);
		return nomem(err);
	}
	m->cols = n;
	dj_legacy_col *c = &m->cols[m->ncols++];
	memset(c, 0, sizeof(*c));
	const char *old_comment = src->comment;
	if (st == DJ_LEGACY_SWAPPED)
		old_comment += strlen(BAK_PREFIX);
	c->table = strdup(table);
	c->column = strdup(ci->name);
	c->old_type = strdup(src->type);
	c->old_comment = strdup(old_comment);
	c->user_comment = strdup(rest);
	/* swapped: the backup is nullable by construction; the new column keeps the old rule */
	c->nullable = st == DJ_LEGACY_SWAPPED ? ci->nullable : src->nullable;
	c->kind = kind;
	c->store = store;
	c->state = st;
	if (!c->table || !c->column || !c->old_type || !c->old_comment || !c->user_comment)
		return nomem(err);
	return 0;
}

/* Classify the columns of one table. */
static int classify(dj_legacy *m, const char *table, const colinfo *ci, size_t n, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const colinfo *c = &ci[i];
		dj_legacy_kind kind;
		char *store = NULL, *tmp = NULL, *bak = NULL;
		const char *rest = NULL;
		if (c->name[0] == '_' &&
		    (strstr(c->name, TMP_SUFFIX) || strstr(c->name, BAK_SUFFIX)))
			continue; /* looked at through its column */
		tmp = dj_legacy__aux(c->name, TMP_SUFFIX);
		bak = dj_legacy__aux(c->name, BAK_SUFFIX);
		if (!tmp || !bak) {
			free(tmp), free(bak);
			return nomem(err);
		}
		const colinfo *b = find_col(ci, n, bak);
		int k;
		if (!strcasecmp(c->data_type, "binary") &&
		    (k = external_marker(c->comment, &kind, &store, &rest)) != 0) {
			rc = k < 0 ? nomem(err)
			           : add_col(m, table, c, c, kind, store, rest,
			                     find_col(ci, n, tmp) ? DJ_LEGACY_IN_FLIGHT
			                                          : DJ_LEGACY_NOT_STARTED,
			                     err);
		} else if (b && !strncmp(b->comment, BAK_PREFIX, strlen(BAK_PREFIX)) &&
		           (k = external_marker(b->comment + strlen(BAK_PREFIX), &kind, &store,
		                                &rest)) != 0) {
			rc = k < 0 ? nomem(err)
			           : add_col(m, table, c, b, kind, store, rest, DJ_LEGACY_SWAPPED,
			                     err);
		} else if (is_blob_type(c->data_type) && c->comment[0] != ':') {
			rc = add_col(m, table, c, c, DJ_LEGACY_INBLOB, NULL, c->comment,
			             DJ_LEGACY_NOT_STARTED, err);
		} else if (is_blob_type(c->data_type) && !strncmp(c->comment, ":attach:", 8)) {
			rc = add_col(m, table, c, c, DJ_LEGACY_INATTACH, NULL, c->comment + 8,
			             DJ_LEGACY_NOT_STARTED, err);
		}
		free(tmp), free(bak);
	}
	return rc;
}

static int strlist_add(char ***list, size_t *n, const char *s)
{
	char **l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l)
		return -1;
	*list = l;
	if (!(l[*n] = strdup(s)))
		return -1;
	(*n)++;
	return 0;
}

/* Primary keys and foreign keys to `~external_*` of every column found. */
static int keys(dj_legacy *m, dj_err *err)
{
	dj_db_rows *rows = NULL;
	dj_db_param p = dj_db_text(m->schema_name);
	int rc =
	    dj_db_query(m->db,
	                "SELECT TABLE_NAME, COLUMN_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME "
	                "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND "
	                "(CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME LIKE "
	                "'~external%') ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
	                &p, 1, &rows, err);
	while (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		rc = 0;
		const char *t = dj_db_rows_text(rows, 0), *col = dj_db_rows_text(rows, 1);
		const char *cn = dj_db_rows_text(rows, 2), *ref = dj_db_rows_text(rows, 3);
		for (size_t i = 0; rc == 0 && i < m->ncols; i++) {
			dj_legacy_col *c = &m->cols[i];
			if (strcmp(c->table, t))
				continue;
			if (!strcmp(cn, "PRIMARY") && strlist_add(&c->pk, &c->npk, col) < 0)
				rc = nomem(err);
			else if (ref && !strcmp(col, c->column) && !c->fk && !(c->fk = strdup(cn)))
				rc = nomem(err);
		}
	}
	dj_db_rows_free(rows);
	for (size_t i = 0; rc == 0 && i < m->ncols; i++) {
		if (!m->cols[i].npk)
			rc = dj_err_set(err, DJ_EUSAGE,
			                "migrate legacy-external: table %s has no primary key",
			                m->cols[i].table);
		else if (!(m->cols[i].pk_types = calloc(m->cols[i].npk, sizeof(dj_db_type))))
			rc = nomem(err);
	}
	return rc;
}

int dj_legacy_open(dj_legacy *m, dj_err *err)
{
	dj_db_rows *rows = NULL;
	colinfo *ci = NULL;
	size_t n = 0;
	char *table = NULL;
	int rc = 0;
	if (!m->db && (rc = m->connect(m->connect_arg, &m->db, err)) < 0)
		return rc;
	if (dj_db_backend_id(m->db) != DJ_DB_MYSQL)
		return dj_err_set(
		    err, DJ_EUSAGE,
		    "migrate legacy-external: DataJoint 0.14 schemas are MySQL/MariaDB "
		    "only");
	for (size_t i = 0; i < m->ncols; i++)
		col_clear(&m->cols[i]);
	free(m->cols);
	m->cols = NULL, m->ncols = 0;
	dj_buf v = DJ_BUF_INIT;
	dj_db_param p = dj_db_text(m->schema_name);
	rc = dj_db_query_value(m->db,
	                       "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
	                       "SCHEMA_NAME = ?",
	                       &p, 1, &v, NULL, err);
	bool found = rc == 0 && strcmp(v.ptr, "0");
	dj_buf_dispose(&v);
	if (rc < 0)
		return rc;
	if (!found)
		return dj_err_set(err, DJ_ENOTFOUND, "migrate legacy-external: no schema '%s'",
		                  m->schema_name);
	rc = dj_db_query(m->db,
	                 "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.DATA_TYPE, "
	                 "c.IS_NULLABLE, c.COLUMN_COMMENT FROM information_schema.COLUMNS c JOIN "
	                 "information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND "
	                 "t.TABLE_NAME = c.TABLE_NAME WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = "
	                 "'BASE TABLE' AND c.TABLE_NAME NOT LIKE '~%' ORDER BY c.TABLE_NAME, "
	                 "c.ORDINAL_POSITION",
	                 &p, 1, &rows, err);
	while (rc == 0) {
		int more = dj_db_rows_next(rows, err);
		if (more < 0) {
			rc = more;
			break;
		}
		const char *t = more ? dj_db_rows_text(rows, 0) : NULL;
		if (table && (!t || strcmp(t, table))) {
			rc = classify(m, table, ci, n, err);
			colinfo_free(ci, n);
			ci = NULL, n = 0;
			free(table);
			table = NULL;
		}
		if (!more || rc < 0)
			break;
		if (!table && !(table = strdup(t))) {
			rc = nomem(err);
			break;
		}
		colinfo *x = realloc(ci, (n + 1) * sizeof(*x));
		if (!x) {
			rc = nomem(err);
			break;
		}
		ci = x;
		const char *cm = dj_db_rows_text(rows, 5);
		ci[n].name = strdup(dj_db_rows_text(rows, 1));
		ci[n].type = strdup(dj_db_rows_text(rows, 2));
		ci[n].data_type = strdup(dj_db_rows_text(rows, 3));
		ci[n].nullable = !strcmp(dj_db_rows_text(rows, 4), "YES");
		ci[n].comment = strdup(cm ? cm : "");
		n++;
		if (!ci[n - 1].name || !ci[n - 1].type || !ci[n - 1].data_type ||
		    !ci[n - 1].comment)
			rc = nomem(err);
	}
	dj_db_rows_free(rows);
	colinfo_free(ci, n);
	free(table);
	if (rc == 0)
		rc = keys(m, err);
	for (size_t i = 0; rc == 0 && i < m->ncols; i++)
		if (m->cols[i].store && !dj_legacy__spec(m, m->cols[i].store))
			rc = dj_err_set(
			    err, DJ_EUSAGE,
			    "migrate legacy-external: %s.%s uses store '%s', which is not "
			    "configured (stores.%s in datajoint.json)",
			    m->cols[i].table, m->cols[i].column, m->cols[i].store,
			    m->cols[i].store);
	if (rc < 0)
		dj_err_context(err, "migrate legacy-external %s", m->schema_name);
	return rc;
}

void dj_legacy_dispose(dj_legacy *m)
{
	for (size_t i = 0; i < m->ncols; i++)
		col_clear(&m->cols[i]);
	free(m->cols);
	m->cols = NULL, m->ncols = 0;
	if (m->stores) {
		for (size_t i = 0; i < m->nspecs; i++)
			if (m->stores[i])
				dj_store_close(m->stores[i]);
		free(m->stores);
		m->stores = NULL;
	}
	dj_buf_dispose(&m->cursor);
	if (m->db)
		dj_db_close(m->db);
	m->db = NULL;
}

int dj_legacy__store(dj_legacy *m, const char *name, dj_store **out, dj_err *err)
{
	dj_store_opts o;
	if (!m->stores && !(m->stores = calloc(m->nspecs ? m->nspecs : 1, sizeof(*m->stores))))
		return nomem(err);
	for (size_t i = 0; i < m->nspecs; i++) {
		if (strcmp(m->specs[i].name, name))
			continue;
		if (!m->stores[i]) {
			memset(&o, 0, sizeof(o));
			o.no_sync = m->no_sync;
			int rc = dj_store_open_opts(&m->stores[i], &m->specs[i], &o, err);
			if (rc < 0)
				return rc;
		}
		*out = m->stores[i];
		return 0;
	}
	return dj_err_set(err, DJ_EUSAGE, "migrate legacy-external: store '%s' is not configured",
	                  name);
}
