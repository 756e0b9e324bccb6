/* migrate to-store: options, the table's migration state, and the survey behind the dry-run
 * plan and `status` (jobs/migrate.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/hash.h"
#include "jobs/migrate.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate: out of memory");
}

const char *dj_migrate_state_name(dj_migrate_state s)
{
	switch (s) {
	case DJ_MIGRATE_NOT_STARTED:
		return "not started";
	case DJ_MIGRATE_IN_FLIGHT:
		return "in flight";
	case DJ_MIGRATE_SWAPPED:
		return "swapped (backup kept)";
	case DJ_MIGRATE_DONE:
		return "done";
	}
	return "?";
}

/* The target store's spec, or DJ_EUSAGE. */
static int find_spec(dj_migrate *m, dj_err *err)
{
	m->spec = NULL;
	for (size_t i = 0; i < m->nspecs; i++)
		if (!strcmp(m->specs[i].name, m->target.store))
			m->spec = &m->specs[i];
	if (!m->spec)
		return dj_err_set(err, DJ_EUSAGE, "migrate: store '%s' is not configured",
		                  m->target.store);
	return 0;
}

int dj_migrate_init(dj_migrate *m, dj_err *err)
{
	const char *c = m->codec ? m->codec : "";
	if (!m->item_bytes)
		m->item_bytes = (size_t)4 << 20;
	if (!m->verify_rows)
		m->verify_rows = 64;
	if (!m->codec)
		return 0; /* status: dj_migrate_open infers it from the table */
	int rc = dj_coltype_parse(c, strlen(c), m->default_store, &m->target, err);
	if (rc < 0)
		return dj_err_set(err, DJ_EUSAGE, "migrate: --codec: %s", err->msg);
	if (m->array_target) {
		if (!dj_migrate__array_codec(&m->target))
			return dj_err_set(err, DJ_EUSAGE,
			                  "migrate: the target must be <npy@store> or <object@store>, "
			                  "not '%s'", c);
		return find_spec(m, err);
	}
	if (!m->target.codec || !m->target.has_store ||
	    (m->target.codec->id != DJ_CODEC_BLOB && m->target.codec->id != DJ_CODEC_ATTACH))
		return dj_err_set(err, DJ_EUSAGE,
		                  "migrate: --codec must be <blob@store> or <attach@store>, not '%s'",
		                  c);
	return find_spec(m, err);
}

/* Without --codec (status): the target from the new column, or from the swapped column. */
static int infer_target(dj_migrate *m, dj_err *err)
{
	const dj_attr *tmp = dj_table_attr(m->t, m->tmp_col);
	const dj_attr *from = tmp ? tmp : m->a;
	if (from->kind != DJ_ATTR_CODEC || !from->coltype.codec || !from->coltype.has_store)
		return dj_err_set(err, DJ_EUSAGE,
		                  "%s.%s.%s: no migration in flight (give --codec to plan one)",
		                  m->t->schema, m->t->name, m->a->name);
	m->target = from->coltype;
	return find_spec(m, err);
}

static char *join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

bool dj_migrate__array_codec(const dj_coltype *t)
{
	return t->codec && t->has_store &&
	       (t->codec->id == DJ_CODEC_NPY || t->codec->id == DJ_CODEC_OBJECT);
}

/* Which columns exist tells the state (see migrate.h). */
static int find_state(dj_migrate *m, dj_err *err)
{
	const dj_attr *tmp = dj_table_attr(m->t, m->tmp_col);
	const dj_attr *bak = dj_table_attr(m->t, m->bak_col);
	const dj_attr *a = m->a;
	const char *tname = m->target.codec->name;
	bool codec_same = a->kind == DJ_ATTR_CODEC && a->coltype.codec &&
	                  a->coltype.codec->id == m->target.codec->id;
	/* to-npy / to-object read <blob> and <blob@s> columns */
	bool array = dj_migrate__array_codec(&m->target);
	bool blob_source = a->kind == DJ_ATTR_CODEC && a->coltype.codec &&
	                   a->coltype.codec->id == DJ_CODEC_BLOB;
	if (codec_same && a->coltype.has_store) {
		if (strcmp(a->coltype.store, m->target.store))
			return dj_err_set(err, DJ_EUSAGE,
			                  "%s.%s.%s is already %s, not <%s@%s>", m->t->schema,
			                  m->t->name, a->name, a->type, tname, m->target.store);
		m->state = bak ? DJ_MIGRATE_SWAPPED : DJ_MIGRATE_DONE;
		return 0;
	}
	if (array && !blob_source)
		return dj_err_set(err, DJ_EUSAGE,
		                  "%s.%s.%s is %s: only a <blob> or <blob@> column can become <%s@%s>",
		                  m->t->schema, m->t->name, a->name, a->type, tname, m->target.store);
	if (!array && !codec_same)
		return dj_err_set(err, DJ_EUSAGE,
		                  "%s.%s.%s is %s: only an in-table <%s> column can become <%s@%s>",
		                  m->t->schema, m->t->name, a->name, a->type, tname, tname,
		                  m->target.store);
	if (!tmp) {
		m->state = DJ_MIGRATE_NOT_STARTED;
		return 0;
	}
	if (tmp->kind != DJ_ATTR_CODEC || !tmp->coltype.codec ||
	    tmp->coltype.codec->id != m->target.codec->id || !tmp->coltype.has_store ||
	    strcmp(tmp->coltype.store, m->target.store))
		return dj_err_set(err, DJ_ECONFLICT,
		                  "%s.%s: a migration of %s to %s is in flight (column %s); finish it "
		                  "with that --codec",
		                  m->t->schema, m->t->name, a->name, tmp->type, m->tmp_col);
	m->state = DJ_MIGRATE_IN_FLIGHT;
	return 0;
}

int dj_migrate_open(dj_migrate *m, dj_err *err)
{
	int rc;
	if (!m->db && (rc = m->connect(m->connect_arg, &m->db, err)) < 0)
		return rc;
	if (m->have_schema) {
		dj_schema_free(&m->s);
		m->have_schema = false;
	}
	if ((rc = dj_schema_load(m->db, m->schema_name, m->default_store, &m->s, err)) < 0)
		return rc;
	m->have_schema = true;
	if (!(m->t = dj_schema_table(&m->s, m->table_name)))
		return dj_err_set(err, DJ_ENOTFOUND, "table '%s' not found in schema %s",
		                  m->table_name, m->schema_name);
	if (!(m->a = dj_table_attr(m->t, m->attr_name)))
		return dj_err_set(err, DJ_ENOTFOUND, "%s.%s has no attribute '%s'", m->t->schema,
		                  m->t->name, m->attr_name);
	if (m->a->in_key)
		return dj_err_set(err, DJ_EUSAGE, "%s.%s.%s is part of the primary key",
		                  m->t->schema, m->t->name, m->a->name);
	if (strlen(m->attr_name) + 1 + strlen(DJ_MIGRATE_TMP_SUFFIX) > 63)
		return dj_err_set(err, DJ_EUSAGE, "attribute name '%s' is too long to migrate",
		                  m->attr_name);
	free(m->tmp_col), free(m->bak_col), free(m->qtable), free(m->src_sqltype);
	m->tmp_col = join3("_", m->attr_name, DJ_MIGRATE_TMP_SUFFIX);
	m->bak_col = join3("_", m->attr_name, DJ_MIGRATE_BAK_SUFFIX);
	m->src_sqltype = strdup(m->a->sql_type ? m->a->sql_type : "longblob");
	m->src_nullable = m->a->nullable;
	dj_buf q = DJ_BUF_INIT;
	if (dj_migrate__ident(m, &q, m->t->schema, err) < 0 || dj_buf_addc(&q, '.') < 0 ||
	    dj_migrate__ident(m, &q, m->t->name, err) < 0) {
		dj_buf_dispose(&q);
		return err->code ? err->code : nomem(err);
	}
	m->qtable = dj_buf_take(&q, NULL);
	if (!m->tmp_col || !m->bak_col || !m->src_sqltype || !m->qtable)
		return nomem(err);
	if (m->t->npk == 0)
		return dj_err_set(err, DJ_EUSAGE, "%s.%s has no primary key", m->t->schema,
		                  m->t->name);
	if (!m->target.codec && (rc = infer_target(m, err)) < 0)
		return rc;
	return find_state(m, err);
}

static uint64_t u64_of(dj_db_rows *r, size_t i)
{
	const char *s = dj_db_rows_text(r, i);
	return s ? strtoull(s, NULL, 10) : 0;
}

/* Learn the key columns' result classes from a page (the first npk columns). */
static int learn_types(dj_migrate *m, dj_db_rows *rows, dj_err *err)
{
	if (m->pk_types)
		return 0;
	if (!(m->pk_types = calloc(m->t->npk, sizeof(*m->pk_types))))
		return nomem(err);
	for (size_t i = 0; i < m->t->npk; i++)
		m->pk_types[i] = dj_db_rows_type(rows, i);
	return 0;
}

int dj_migrate__learn_types(dj_migrate *m, dj_db_rows *rows, dj_err *err)
{
	return learn_types(m, rows, err);
}

/* The first rows still to fill: their keys and target paths. */
static int samples(dj_migrate *m, dj_migrate_survey *out, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, where = DJ_BUF_INIT, col = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	dj_db_param par[1];
	size_t np = 0;
	int rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0 && m->state == DJ_MIGRATE_IN_FLIGHT)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0)
		rc = dj_buf_addf(&where, "%s%s%s IS NOT NULL",
		                 m->state == DJ_MIGRATE_IN_FLIGHT ? tmp.ptr : "",
		                 m->state == DJ_MIGRATE_IN_FLIGHT ? " IS NULL AND " : "", col.ptr) < 0
		         ? nomem(err)
		         : 0;
	bool saved = m->cursor_set;
	m->cursor_set = false;
	if (rc == 0)
		rc = dj_migrate__page_sql(m, &sql, col.ptr, where.ptr, 3, par, &np, err);
	m->cursor_set = saved;
	if (rc == 0)
		rc = dj_db_query(m->db, sql.ptr, NULL, 0, &rows, err);
	if (rc == 0)
		rc = learn_types(m, rows, err);
	while (rc == 0 && out->nsamples < 3 && (rc = dj_db_rows_next(rows, err)) == 1) {
		dj_buf key = DJ_BUF_INIT, path = DJ_BUF_INIT, kb = DJ_BUF_INIT;
		char hash[DJ_HASH_LEN + 1];
		dj_bytes v = dj_db_rows_value(rows, m->t->npk);
		rc = 0;
		for (size_t i = 0; rc == 0 && i < m->t->npk; i++) {
			dj_bytes k = dj_db_rows_value(rows, i);
			rc = dj_migrate__put_field(&kb, false, k.ptr, k.len) < 0 ? nomem(err) : 0;
		}
		dj_migrate__rd r = {(const uint8_t *)kb.ptr, kb.len};
		if (rc == 0)
			rc = dj_migrate__key_text(m, &r, &key, err);
		if (rc == 0)
			rc = dj_hash_bytes(v.ptr, v.len, hash, err);
		if (rc == 0)
			rc = dj_migrate__path(m, m->t->schema, hash, &path, err);
		if (rc == 0) {
			out->sample_keys[out->nsamples] = dj_buf_take(&key, NULL);
			out->samples[out->nsamples++] = dj_buf_take(&path, NULL);
		}
		dj_buf_dispose(&key), dj_buf_dispose(&path), dj_buf_dispose(&kb);
	}
	dj_db_rows_free(rows);
	dj_buf_dispose(&sql), dj_buf_dispose(&where), dj_buf_dispose(&col), dj_buf_dispose(&tmp);
	return rc < 0 ? rc : 0;
}

int dj_migrate_survey_run(dj_migrate *m, dj_migrate_survey *out, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, col = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	dj_db_rows *rows = NULL;
	memset(out, 0, sizeof(*out));
	bool active = m->state == DJ_MIGRATE_NOT_STARTED || m->state == DJ_MIGRATE_IN_FLIGHT;
	bool inflight = m->state == DJ_MIGRATE_IN_FLIGHT;
	dj_buf len = DJ_BUF_INIT; /* what OCTET_LENGTH measures (PostgreSQL: json(b) as text) */
	int rc = dj_migrate__ident(m, &col, m->a->name, err);
	if (rc == 0 && inflight)
		rc = dj_migrate__ident(m, &tmp, m->tmp_col, err);
	if (rc == 0 && dj_buf_addf(&len, "%s%s", col.ptr,
	                           dj_db_backend_id(m->db) == DJ_DB_POSTGRESQL &&
	                                   dj_coltype_column(&m->a->coltype) == DJ_COLUMN_JSON
	                               ? "::text"
	                               : "") < 0)
		rc = nomem(err);
	if (rc == 0 && active && inflight)
		rc = dj_buf_addf(&sql,
		                 "SELECT COUNT(*), COUNT(%s), COALESCE(SUM(OCTET_LENGTH(%s)), 0), "
		                 "COUNT(%s), COALESCE(SUM(CASE WHEN %s IS NULL THEN "
		                 "OCTET_LENGTH(%s) ELSE 0 END), 0) FROM %s",
		                 col.ptr, len.ptr, tmp.ptr, tmp.ptr, len.ptr, m->qtable);
	else if (rc == 0 && active)
		rc = dj_buf_addf(&sql,
		                 "SELECT COUNT(*), COUNT(%s), COALESCE(SUM(OCTET_LENGTH(%s)), 0), "
		                 "0, COALESCE(SUM(OCTET_LENGTH(%s)), 0) FROM %s",
		                 col.ptr, len.ptr, len.ptr, m->qtable);
	else if (rc == 0)
		rc = dj_buf_addf(&sql, "SELECT COUNT(*), COUNT(%s), 0, COUNT(%s), 0 FROM %s",
		                 col.ptr, col.ptr, m->qtable);
	if (rc > 0)
		rc = 0;
	if (rc < 0 && !err->code)
		rc = nomem(err);
	if (rc == 0)
		rc = dj_db_query(m->db, sql.ptr, NULL, 0, &rows, err);
	if (rc == 0 && (rc = dj_db_rows_next(rows, err)) == 1) {
		out->rows = u64_of(rows, 0);
		out->values = u64_of(rows, 1);
		out->bytes = u64_of(rows, 2);
		out->filled = u64_of(rows, 3);
		out->bytes_todo = u64_of(rows, 4);
		rc = 0;
	}
	dj_db_rows_free(rows);
	if (rc == 0 && active && !dj_migrate__array_codec(&m->target))
		rc = samples(m, out, err);
	dj_buf_dispose(&sql), dj_buf_dispose(&col), dj_buf_dispose(&tmp), dj_buf_dispose(&len);
	return rc < 0 ? rc : 0;
}

void dj_migrate_survey_dispose(dj_migrate_survey *s)
{
	for (size_t i = 0; i < s->nsamples; i++)
		free(s->samples[i]), free(s->sample_keys[i]);
	memset(s, 0, sizeof(*s));
}

void dj_migrate_dispose(dj_migrate *m)
{
	if (m->have_schema)
		dj_schema_free(&m->s);
	m->have_schema = false;
	dj_db_close(m->db);
	dj_store_close(m->store);
	free(m->tmp_col), free(m->bak_col), free(m->qtable), free(m->src_sqltype);
	free(m->pk_types);
	dj_buf_dispose(&m->cursor);
	m->db = NULL, m->store = NULL, m->tmp_col = m->bak_col = m->qtable = NULL;
	m->src_sqltype = NULL, m->pk_types = NULL;
}
