/*
 * Loading a schema from the catalogs (database.md §1-§3): tables and comments, columns (MySQL:
 * SHOW FULL COLUMNS, as heading.py reads them; PostgreSQL: information_schema.columns with
 * col_description), primary keys, foreign keys, then the derived facts: tiers, masters, jobs
 * tables, inherited types and the dependency order. Every query is read to the end before the
 * next one runs (a connection streams one result at a time).
 */
#include "db/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXTERNAL 256 /* tables of other schemas followed through foreign keys */

typedef struct loader {
	dj_db *db;
	dj_db_backend be;
	const char *default_store;
	dj_err *err;
} loader;

static int oom(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

/* Make room for element `n` of a growing array (capacity doubles at powers of two). */
static int grow(void **arr, size_t n, size_t size, dj_err *err)
{
	void *p;
	if (n & (n - 1))
		return 0;
	if (!(p = realloc(*arr, (n ? 2 * n : 1) * size)))
		return oom(err);
	*arr = p;
	return 0;
}

void dj_table_clear(dj_table *t)
{
	free(t->schema);
	free(t->name);
	free(t->class_name);
	free(t->comment);
	for (size_t i = 0; i < t->nattrs; i++)
		dj_attr_clear(&t->attrs[i]);
	free(t->attrs);
	free(t->pk);
	for (size_t i = 0; i < t->nfks; i++) {
		dj_fkey *f = &t->fks[i];
		for (size_t k = 0; k < f->ncols; k++) {
			free(f->cols[k]);
			free(f->ref_cols[k]);
		}
		free(f->cols);
		free(f->ref_cols);
		free(f->name);
		free(f->ref_schema);
		free(f->ref_table);
	}
	free(t->fks);
	memset(t, 0, sizeof(*t));
}

void dj_schema_free(dj_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ntables; i++)
		dj_table_clear(&s->tables[i]);
	for (size_t i = 0; i < s->next; i++)
		dj_table_clear(&s->ext[i]);
	free(s->tables);
	free(s->ext);
	free(s->order);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

/* --- lookups ------------------------------------------------------------------------------ */

static int cmp_table(const void *a, const void *b)
{
	return strcmp(((const dj_table *)a)->name, ((const dj_table *)b)->name);
}

static dj_table *find_in(dj_table *tables, size_t n, const char *name)
{
	dj_table key = {0};
	key.name = (char *)name;
	return tables ? bsearch(&key, tables, n, sizeof(*tables), cmp_table) : NULL;
}

const dj_attr *dj_table_attr(const dj_table *t, const char *name)
{
	for (size_t i = 0; i < t->nattrs; i++)
		if (!strcmp(t->attrs[i].name, name))
			return &t->attrs[i];
	return NULL;
}

static dj_table *find_ext(const dj_schema *s, const char *schema, const char *table)
{
	for (size_t i = 0; i < s->next; i++)
		if (!strcmp(s->ext[i].schema, schema) && !strcmp(s->ext[i].name, table))
			return &s->ext[i];
	return NULL;
}

static dj_table *parent_of(const dj_schema *s, const dj_fkey *fk)
{
	if (!strcmp(fk->ref_schema, s->name))
		return find_in(s->tables, s->ntables, fk->ref_table);
	return find_ext(s, fk->ref_schema, fk->ref_table);
}

const dj_table *dj_schema_parent(const dj_schema *s, const dj_fkey *fk)
{
	return parent_of(s, fk);
}

/* --- reading the catalogs ----------------------------------------------------------------- */

/* Run `sql` with the schema (and table, when given) as parameters and call `row` per row. */
typedef int (*row_fn)(loader *L, dj_db_rows *r, void *ctx);

static int each_row(loader *L, const char *sql, const char *schema, const char *table, row_fn row,
                    void *ctx)
{
	dj_db_param p[2] = {dj_db_text(schema), dj_db_text(table ? table : "")};
	dj_db_rows *r;
	int rc = dj_db_query(L->db, sql, p, table ? 2 : 1, &r, L->err);
	while (rc == 0 && (rc = dj_db_rows_next(r, L->err)) > 0)
		rc = row(L, r, ctx);
	dj_db_rows_free(r);
	return rc < 0 ? rc : 0;
}

typedef struct table_list {
	dj_table *t;
	size_t n;
	const char *schema;
} table_list;

static const char *text(dj_db_rows *r, size_t i)
{
	const char *s = dj_db_rows_text(r, i);
	return s ? s : "";
}

static int table_row(loader *L, dj_db_rows *r, void *ctx)
{
	table_list *tl = ctx;
	dj_table *t;
	if (grow((void **)&tl->t, tl->n, sizeof(*tl->t), L->err) < 0)
		return DJ_ENOMEM;
	t = &tl->t[tl->n++];
	memset(t, 0, sizeof(*t));
	t->schema = strdup(tl->schema);
	t->name = strdup(text(r, 0));
	t->comment = strdup(text(r, 1));
	return t->schema && t->name && t->comment ? 0 : oom(L->err);
}

static const char *const tables_sql[2][2] = {
    [DJ_DB_MYSQL] =
        {
            "SELECT table_name, table_comment FROM information_schema.tables "
            "WHERE table_schema = ? AND table_type = 'BASE TABLE'",
            "SELECT table_name, table_comment FROM information_schema.tables "
            "WHERE table_schema = ? AND table_type = 'BASE TABLE' AND table_name = ?",
        },
    [DJ_DB_POSTGRESQL] =
        {
            "SELECT c.relname, coalesce(obj_description(c.oid, 'pg_class'), '') "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind IN ('r', 'p')",
            "SELECT c.relname, coalesce(obj_description(c.oid, 'pg_class'), '') "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind IN ('r', 'p') AND c.relname = ?",
        },
};

/* --- columns ------------------------------------------------------------------------------ */

static int add_attr(loader *L, dj_table *t, const dj_column_info *ci)
{
	int rc;
	if (grow((void **)&t->attrs, t->nattrs, sizeof(*t->attrs), L->err) < 0)
		return DJ_ENOMEM;
	if ((rc = dj_attr_init(&t->attrs[t->nattrs], ci, L->default_store, L->err)) < 0)
		return rc;
	t->nattrs++;
	return 0;
}

static size_t field(dj_db_rows *r, const char *name)
{
	for (size_t i = 0; i < dj_db_rows_nfields(r); i++)
		if (!strcmp(dj_db_rows_name(r, i), name))
			return i;
	return (size_t)-1;
}

typedef struct show_cols {
	dj_table *t;
	size_t f_field, f_type, f_null, f_default, f_comment;
} show_cols;

static int mysql_column_row(loader *L, dj_db_rows *r, void *ctx)
{
	show_cols *sc = ctx;
	dj_buf type = DJ_BUF_INIT;
	dj_column_info ci;
	int rc;
	if (sc->f_comment == (size_t)-1) {
		sc->f_field = field(r, "Field");
		sc->f_type = field(r, "Type");
		sc->f_null = field(r, "Null");
		sc->f_default = field(r, "Default");
		sc->f_comment = field(r, "Comment");
		if (sc->f_comment == (size_t)-1 || sc->f_default == (size_t)-1)
			return dj_err_set(L->err, DJ_EFORMAT,
			                  "unexpected SHOW FULL COLUMNS output");
	}
	if ((rc = dj_sql_type_mysql(&type, text(r, sc->f_type), L->err)) < 0)
		return rc;
	ci.name = text(r, sc->f_field);
	ci.sql_type = type.ptr;
	ci.dflt = dj_db_rows_text(r, sc->f_default);
	ci.comment = dj_db_rows_text(r, sc->f_comment);
	ci.nullable = !strcmp(text(r, sc->f_null), "YES");
	rc = add_attr(L, sc->t, &ci);
	dj_buf_dispose(&type);
	return rc;
}

/* MySQL: SHOW FULL COLUMNS per table (its Default is the text heading.py reads; the
 * information_schema column quotes string defaults on MariaDB). */
static int mysql_columns(loader *L, table_list *tl)
{
	dj_buf sql = DJ_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < tl->n && rc == 0; i++) {
		show_cols sc = {&tl->t[i], 0, 0, 0, 0, (size_t)-1};
		dj_db_rows *r = NULL;
		dj_buf_reset(&sql);
		if ((rc = dj_buf_adds(&sql, "SHOW FULL COLUMNS FROM ")) < 0 ||
		    (rc = dj_db_quote_ident(L->be, &sql, tl->t[i].name, L->err)) < 0 ||
		    (rc = dj_buf_adds(&sql, " IN ")) < 0 ||
		    (rc = dj_db_quote_ident(L->be, &sql, tl->schema, L->err)) < 0)
			break;
		rc = dj_db_query(L->db, sql.ptr, NULL, 0, &r, L->err);
		while (rc == 0 && (rc = dj_db_rows_next(r, L->err)) > 0)
			rc = mysql_column_row(L, r, &sc);
		dj_db_rows_free(r);
		if (rc < 0)
			dj_err_context(L->err, "table %s.%s", tl->schema, tl->t[i].name);
	}
	dj_buf_dispose(&sql);
	return rc == DJ_ENOMEM ? oom(L->err) : rc < 0 ? rc : 0;
}

static int pg_column_row(loader *L, dj_db_rows *r, void *ctx)
{
	table_list *tl = ctx;
	dj_table *t = find_in(tl->t, tl->n, text(r, 0));
	dj_buf type = DJ_BUF_INIT;
	dj_column_info ci;
	int rc;
	if (!t)
		return 0; /* a view's columns */
	if ((rc = dj_sql_type_pg(&type, text(r, 2), dj_db_rows_text(r, 3), dj_db_rows_text(r, 6),
	                         dj_db_rows_text(r, 7), dj_db_rows_text(r, 8), L->err)) < 0)
		return rc;
	ci.name = text(r, 1);
	ci.sql_type = type.ptr;
	ci.nullable = !strcmp(text(r, 4), "YES");
	ci.dflt = dj_db_rows_text(r, 5);
	ci.comment = dj_db_rows_text(r, 9);
	rc = add_attr(L, t, &ci);
	dj_buf_dispose(&type);
	return rc;
}

/* database.md §2.5's query, schema-wide; format('%I.%I') instead of the unquoted concatenation */
static const char pg_columns_sql[2][700] = {
    "SELECT c.table_name, c.column_name, c.data_type, c.udt_name, c.is_nullable, "
    "c.column_default, c.character_maximum_length, c.numeric_precision, c.numeric_scale, "
    "col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, "
    "c.ordinal_position) FROM information_schema.columns c WHERE c.table_schema = ? "
    "ORDER BY c.table_name, c.ordinal_position",
    "SELECT c.table_name, c.column_name, c.data_type, c.udt_name, c.is_nullable, "
    "c.column_default, c.character_maximum_length, c.numeric_precision, c.numeric_scale, "
    "col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, "
    "c.ordinal_position) FROM information_schema.columns c WHERE c.table_schema = ? "
    "AND c.table_name = ? ORDER BY c.table_name, c.ordinal_position",
};

/* --- keys --------------------------------------------------------------------------------- */

static const char *const pk_sql[2][2] = {
    [DJ_DB_MYSQL] =
        {
            "SELECT table_name, column_name FROM information_schema.key_column_usage "
            "WHERE table_schema = ? AND constraint_name = 'PRIMARY' "
            "ORDER BY table_name, ordinal_position",
            "SELECT table_name, column_name FROM information_schema.key_column_usage "
            "WHERE table_schema = ? AND constraint_name = 'PRIMARY' AND table_name = ? "
            "ORDER BY table_name, ordinal_position",
        },
    [DJ_DB_POSTGRESQL] =
        {
            "SELECT kcu.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_schema = "
            "tc.constraint_schema AND kcu.constraint_name = tc.constraint_name AND kcu.table_name "
            "= tc.table_name WHERE tc.table_schema = ? AND tc.constraint_type = 'PRIMARY KEY' "
            "ORDER BY kcu.table_name, kcu.ordinal_position",
            "SELECT kcu.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_schema = "
            "tc.constraint_schema AND kcu.constraint_name = tc.constraint_name AND kcu.table_name "
            "= tc.table_name WHERE tc.table_schema = ? AND tc.constraint_type = 'PRIMARY KEY' "
            "AND tc.table_name = ? ORDER BY kcu.table_name, kcu.ordinal_position",
        },
};

static size_t attr_index(const dj_table *t, const char *name)
{
	for (size_t i = 0; i < t->nattrs; i++)
		if (!strcmp(t->attrs[i].name, name))
			return i;
	return (size_t)-1;
}

static int pk_row(loader *L, dj_db_rows *r, void *ctx)
{
	table_list *tl = ctx;
	dj_table *t = find_in(tl->t, tl->n, text(r, 0));
	size_t i;
	if (!t || (i = attr_index(t, text(r, 1))) == (size_t)-1)
		return 0;
	if (grow((void **)&t->pk, t->npk, sizeof(*t->pk), L->err) < 0)
		return DJ_ENOMEM;
	t->pk[t->npk++] = i;
	t->attrs[i].in_key = true;
	return 0;
}

/* Foreign keys, one row per column, in constraint order. MySQL: constraint names in numeric
 * order (_ibfk_2 before _ibfk_10), i.e. declaration order; PostgreSQL as dependencies.py. */
static const char *const fk_sql[2][2] = {
    [DJ_DB_MYSQL] =
        {
            "SELECT table_name, constraint_name, column_name, referenced_table_schema, "
            "referenced_table_name, referenced_column_name FROM "
            "information_schema.key_column_usage "
            "WHERE table_schema = ? AND referenced_table_name IS NOT NULL "
            "ORDER BY table_name, length(constraint_name), constraint_name, ordinal_position",
            "SELECT table_name, constraint_name, column_name, referenced_table_schema, "
            "referenced_table_name, referenced_column_name FROM "
            "information_schema.key_column_usage "
            "WHERE table_schema = ? AND referenced_table_name IS NOT NULL AND table_name = ? "
            "ORDER BY table_name, length(constraint_name), constraint_name, ordinal_position",
        },
    [DJ_DB_POSTGRESQL] =
        {
            "SELECT cl1.relname, c.conname, a1.attname, ns2.nspname, cl2.relname, a2.attname "
            "FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl1 ON c.conrelid = cl1.oid "
            "JOIN pg_catalog.pg_namespace ns1 ON cl1.relnamespace = ns1.oid "
            "JOIN pg_catalog.pg_class cl2 ON c.confrelid = cl2.oid "
            "JOIN pg_catalog.pg_namespace ns2 ON cl2.relnamespace = ns2.oid "
            "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS cols(conkey, "
            "confkey, ord) JOIN pg_catalog.pg_attribute a1 ON a1.attrelid = cl1.oid AND a1.attnum "
            "= "
            "cols.conkey JOIN pg_catalog.pg_attribute a2 ON a2.attrelid = cl2.oid AND a2.attnum = "
            "cols.confkey WHERE c.contype = 'f' AND ns1.nspname = ? "
            "ORDER BY cl1.relname, c.conname, cols.ord",
            "SELECT cl1.relname, c.conname, a1.attname, ns2.nspname, cl2.relname, a2.attname "
            "FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl1 ON c.conrelid = cl1.oid "
            "JOIN pg_catalog.pg_namespace ns1 ON cl1.relnamespace = ns1.oid "
            "JOIN pg_catalog.pg_class cl2 ON c.confrelid = cl2.oid "
            "JOIN pg_catalog.pg_namespace ns2 ON cl2.relnamespace = ns2.oid "
            "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS cols(conkey, "
            "confkey, ord) JOIN pg_catalog.pg_attribute a1 ON a1.attrelid = cl1.oid AND a1.attnum "
            "= "
            "cols.conkey JOIN pg_catalog.pg_attribute a2 ON a2.attrelid = cl2.oid AND a2.attnum = "
            "cols.confkey WHERE c.contype = 'f' AND ns1.nspname = ? AND cl1.relname = ? "
            "ORDER BY cl1.relname, c.conname, cols.ord",
        },
};

static int new_fk(loader *L, dj_table *t, dj_db_rows *r)
{
	dj_fkey *f;
	if (grow((void **)&t->fks, t->nfks, sizeof(*t->fks), L->err) < 0)
		return DJ_ENOMEM;
	f = &t->fks[t->nfks++];
	memset(f, 0, sizeof(*f));
	f->name = strdup(text(r, 1));
	f->ref_schema = strdup(text(r, 3));
	f->ref_table = strdup(text(r, 4));
	return f->name && f->ref_schema && f->ref_table ? 0 : oom(L->err);
}

static int fk_row(loader *L, dj_db_rows *r, void *ctx)
{
	table_list *tl = ctx;
	dj_table *t = find_in(tl->t, tl->n, text(r, 0));
	dj_fkey *f;
	size_t k;
	if (!t)
		return 0;
	f = t->nfks ? &t->fks[t->nfks - 1] : NULL;
	if ((!f || strcmp(f->name, text(r, 1))) && new_fk(L, t, r) < 0)
		return DJ_ENOMEM;
	f = &t->fks[t->nfks - 1];
	if (grow((void **)&f->cols, f->ncols, sizeof(*f->cols), L->err) < 0 ||
	    grow((void **)&f->ref_cols, f->ncols, sizeof(*f->ref_cols), L->err) < 0)
		return DJ_ENOMEM;
	k = f->ncols++;
	f->cols[k] = strdup(text(r, 2));
	f->ref_cols[k] = strdup(text(r, 5));
	return f->cols[k] && f->ref_cols[k] ? 0 : oom(L->err);
}

/* primary / aliased / multi, as dependencies.py sets the edge properties (§3.3) */
static void fk_flags(dj_table *t)
{
	for (size_t i = 0; i < t->nfks; i++) {
		dj_fkey *f = &t->fks[i];
		size_t in_pk = 0;
		f->primary = true;
		f->aliased = false;
		for (size_t k = 0; k < f->ncols; k++) {
			const dj_attr *a = dj_table_attr(t, f->cols[k]);
			bool key = a && a->in_key;
			in_pk += key;
			f->primary = f->primary && key;
			f->aliased = f->aliased || strcmp(f->cols[k], f->ref_cols[k]);
		}
		f->multi = !(f->primary && in_pk == t->npk && f->ncols == t->npk);
	}
}

/* --- one schema's tables (or one table) --------------------------------------------------- */

static int load_tables(loader *L, const char *schema, const char *only, table_list *tl)
{
	int be = L->be, w = only != NULL, rc;
	tl->schema = schema;
	if ((rc = each_row(L, tables_sql[be][w], schema, only, table_row, tl)) < 0)
		return rc;
	if (tl->n > 1)
		qsort(tl->t, tl->n, sizeof(*tl->t), cmp_table);
	if (be == DJ_DB_MYSQL)
		rc = mysql_columns(L, tl);
	else
		rc = each_row(L, pg_columns_sql[w], schema, only, pg_column_row, tl);
	if (rc == 0)
		rc = each_row(L, pk_sql[be][w], schema, only, pk_row, tl);
	if (rc == 0)
		rc = each_row(L, fk_sql[be][w], schema, only, fk_row, tl);
	for (size_t i = 0; rc == 0 && i < tl->n; i++)
		fk_flags(&tl->t[i]);
	return rc;
}

static void list_free(table_list *tl)
{
	for (size_t i = 0; i < tl->n; i++)
		dj_table_clear(&tl->t[i]);
	free(tl->t);
	tl->t = NULL;
	tl->n = 0;
}

/* The first parent in another schema that is not loaded yet, or NULL. */
static const dj_fkey *missing_parent(const dj_schema *s)
{
	for (size_t x = 0; x < s->ntables + s->next; x++) {
		const dj_table *t = x < s->ntables ? &s->tables[x] : &s->ext[x - s->ntables];
		for (size_t j = 0; j < t->nfks; j++) {
			const dj_fkey *f = &t->fks[j];
			if (strcmp(f->ref_schema, s->name) &&
			    !find_ext(s, f->ref_schema, f->ref_table))
				return f;
		}
	}
	return NULL;
}

/* Follow foreign keys into other schemas until every parent is loaded (inherited types). A
 * parent that cannot be read (no privilege) ends the walk: its columns stay native. */
static int load_external(loader *L, dj_schema *s)
{
	const dj_fkey *f;
	while (s->next < MAX_EXTERNAL && (f = missing_parent(s))) {
		table_list tl = {0};
		int rc = load_tables(L, f->ref_schema, f->ref_table, &tl);
		if (rc == 0 && tl.n != 1)
			rc = 1; /* not visible: stop here */
		if (rc == 0 &&
		    (rc = grow((void **)&s->ext, s->next, sizeof(*s->ext), L->err)) == 0) {
			s->ext[s->next++] = tl.t[0];
			free(tl.t);
			continue;
		}
		list_free(&tl);
		return rc < 0 ? rc : 0;
	}
	return 0;
}

/* --- derived facts ------------------------------------------------------------------------ */

/* Tier, master and class name ("Spikes", a part "Spikes.Unit", other tables their SQL name). */
static int name_table(loader *L, dj_schema *s, dj_table *t, bool own)
{
	dj_buf cls = DJ_BUF_INIT;
	size_t mlen = 0;
	int rc = 0;
	t->tier = dj_tier_of(t->name, &mlen);
	if (t->tier == DJ_TIER_PART) {
		char *m = strndup(t->name, mlen);
		if (!m)
			return oom(L->err);
		t->master = own ? find_in(s->tables, s->ntables, m) : NULL;
		rc = dj_name_to_camel(&cls, m, L->err);
		free(m);
		/* the part's class name comes from its own segment */
		if (rc == 0 && (rc = dj_buf_addc(&cls, '.')) == 0)
			rc = dj_name_to_camel(&cls, t->name + mlen + 2, L->err);
	} else if (t->tier <= DJ_TIER_COMPUTED) {
		rc = dj_name_to_camel(&cls, t->name, L->err);
	} else {
		rc = dj_buf_adds(&cls, t->name);
	}
	if (rc < 0) {
		dj_buf_dispose(&cls);
		return oom(L->err);
	}
	t->class_name = dj_buf_take(&cls, NULL);
	return t->class_name ? 0 : oom(L->err);
}

/* ~~x queues for _x or __x (§1.2; should both exist, Python gives them one queue: Q10) */
static void link_jobs(dj_schema *s, dj_table *jobs)
{
	static const char *const prefixes[] = {"__", "_"};
	for (size_t i = 0; i < 2 && !jobs->target; i++) {
		size_t n = strlen(prefixes[i]) + strlen(jobs->name + 2) + 1;
		char *want = malloc(n);
		dj_table *t;
		if (!want)
			return;
		snprintf(want, n, "%s%s", prefixes[i], jobs->name + 2);
		t = find_in(s->tables, s->ntables, want);
		if (t && (t->tier == DJ_TIER_COMPUTED || t->tier == DJ_TIER_IMPORTED)) {
			jobs->target = t;
			t->jobs = jobs;
		}
		free(want);
	}
}

/* The loaded parent table of foreign-key column `col` and the parent column's name. */
static const dj_table *col_parent(const dj_schema *s, const dj_table *t, const char *col,
                                  const char **ref_col)
{
	for (size_t i = 0; i < t->nfks; i++)
		for (size_t k = 0; k < t->fks[i].ncols; k++)
			if (!strcmp(t->fks[i].cols[k], col)) {
				*ref_col = t->fks[i].ref_cols[k];
				return parent_of(s, &t->fks[i]);
			}
	return NULL;
}

/* Unmarked foreign-key columns take the referenced column's type (DESIGN.md decisions); a
 * chain of such columns settles from the top, one link per pass. */
static int inherit_types(loader *L, dj_schema *s)
{
	bool changed = true;
	for (int pass = 0; changed && pass < 64; pass++) {
		changed = false;
		for (size_t x = 0; x < s->ntables + s->next; x++) {
			dj_table *t = x < s->ntables ? &s->tables[x] : &s->ext[x - s->ntables];
			for (size_t i = 0; i < t->nattrs; i++) {
				dj_attr *a = &t->attrs[i];
				const char *ref = NULL, *ref2 = NULL;
				const dj_table *pt;
				const dj_attr *from;
				int rc;
				if (a->marker || a->inherited ||
				    !(pt = col_parent(s, t, a->name, &ref)) ||
				    !(from = dj_table_attr(pt, ref)))
					continue;
				/* the parent's column is itself inherited and not settled yet */
				if (!from->marker && !from->inherited &&
				    col_parent(s, pt, from->name, &ref2))
					continue;
				if ((rc = dj_attr_inherit(a, from, L->err)) < 0)
					return rc;
				changed = true;
			}
		}
	}
	return 0;
}

/* --- dependency order (§1.4, §3.3: dependencies.py topo_sort) ----------------------------- */

typedef struct graph {
	const dj_table **node;
	size_t n;
	size_t (*edge)[2]; /* parent, child as node indices */
	size_t nedges;
} graph;

static size_t node_of(const graph *g, const dj_table *t)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->node[i] == t)
			return i;
	return (size_t)-1;
}

static int add_edge(graph *g, size_t from, size_t to, dj_err *err)
{
	if (grow((void **)&g->edge, g->nedges, sizeof(*g->edge), err) < 0)
		return DJ_ENOMEM;
	g->edge[g->nedges][0] = from;
	g->edge[g->nedges][1] = to;
	g->nedges++;
	return 0;
}

/* Edges: every foreign key inside the schema; plus, for a part, each parent that is neither its
 * master nor another part of that master becomes a parent of the master too. */
static int build_edges(const dj_schema *s, graph *g, dj_err *err)
{
	for (size_t c = 0; c < g->n; c++) {
		const dj_table *t = g->node[c];
		size_t m = t->master ? node_of(g, t->master) : (size_t)-1;
		for (size_t i = 0; i < t->nfks; i++) {
			const dj_table *p =
			    strcmp(t->fks[i].ref_schema, s->name) ? NULL : parent_of(s, &t->fks[i]);
			size_t pi = p ? node_of(g, p) : (size_t)-1;
			if (pi == (size_t)-1)
				continue;
			if (add_edge(g, pi, c, err) < 0)
				return DJ_ENOMEM;
			if (m != (size_t)-1 && pi != m && p->master != t->master &&
			    add_edge(g, pi, m, err) < 0)
				return DJ_ENOMEM;
		}
	}
	return 0;
}

/* Kahn's algorithm; among ready tables the first by name, so the order is reproducible. */
static int topo(const dj_schema *s, graph *g, const dj_table **out, dj_err *err)
{
	size_t *indeg = calloc(g->n ? g->n : 1, sizeof(*indeg)), placed = 0;
	bool *done = calloc(g->n ? g->n : 1, sizeof(*done));
	int rc = 0;
	if (!indeg || !done)
		rc = oom(err);
	for (size_t e = 0; rc == 0 && e < g->nedges; e++)
		indeg[g->edge[e][1]]++;
	while (rc == 0 && placed < g->n) {
		size_t pick = (size_t)-1;
		for (size_t i = 0; i < g->n && pick == (size_t)-1; i++)
			if (!done[i] && indeg[i] == 0)
				pick = i;
		if (pick == (size_t)-1) {
			for (size_t i = 0; i < g->n && pick == (size_t)-1; i++)
				if (!done[i])
					pick = i;
			rc = dj_err_set(err, DJ_EFORMAT,
			                "schema %s: foreign keys form a cycle through %s", s->name,
			                g->node[pick]->name);
			break;
		}
		done[pick] = true;
		out[placed++] = g->node[pick];
		for (size_t e = 0; e < g->nedges; e++)
			if (g->edge[e][0] == pick)
				indeg[g->edge[e][1]]--;
	}
	free(indeg);
	free(done);
	return rc;
}

static size_t index_of(const dj_table **v, size_t n, const dj_table *t)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == t)
			return i;
	return (size_t)-1;
}

/* "bring parts up to their masters", exactly as topo_sort walks the list */
static void parts_after_masters(const dj_table **v, size_t n)
{
	size_t pos = n ? n - 1 : 0;
	const dj_table **placed = calloc(n ? n : 1, sizeof(*placed));
	size_t nplaced = 0;
	if (!placed)
		return;
	while (pos > 1) {
		const dj_table *part = v[pos];
		size_t m = part->master ? index_of(v, n, part->master) : (size_t)-1;
		if (m == (size_t)-1 || index_of(placed, nplaced, part) != (size_t)-1) {
			pos--;
			continue;
		}
		placed[nplaced++] = part;
		if (pos > m + 1) {
			memmove(&v[m + 2], &v[m + 1], (pos - m - 1) * sizeof(*v));
			v[m + 1] = part;
		}
	}
	free(placed);
}

static int dependency_order(dj_schema *s, dj_err *err)
{
	graph g = {0};
	int rc = 0;
	g.node = calloc(s->ntables ? s->ntables : 1, sizeof(*g.node));
	s->order = calloc(s->ntables ? s->ntables : 1, sizeof(*s->order));
	if (!g.node || !s->order)
		rc = oom(err);
	for (size_t i = 0; rc == 0 && i < s->ntables; i++)
		if (s->tables[i].npk && s->tables[i].name[0] != '~')
			g.node[g.n++] = &s->tables[i];
	if (rc == 0)
		rc = build_edges(s, &g, err);
	if (rc == 0)
		rc = topo(s, &g, s->order, err);
	if (rc == 0) {
		s->norder = g.n;
		parts_after_masters(s->order, s->norder);
	}
	free(g.node);
	free(g.edge);
	return rc;
}

/* --- entry points ------------------------------------------------------------------------- */

int dj_schema_exists(dj_db *db, const char *name, bool *exists, dj_err *err)
{
	dj_db_param p = dj_db_text(name);
	dj_buf v = DJ_BUF_INIT;
	int rc = dj_db_query_value(db,
	                           "SELECT count(*) FROM information_schema.schemata "
	                           "WHERE schema_name = ?",
	                           &p, 1, &v, NULL, err);
	*exists = rc == 0 && strcmp(v.ptr, "0") != 0;
	dj_buf_dispose(&v);
	return rc;
}

static int derive(loader *L, dj_schema *s)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < s->ntables; i++)
		rc = name_table(L, s, &s->tables[i], true);
	for (size_t i = 0; rc == 0 && i < s->ntables; i++)
		if (s->tables[i].tier == DJ_TIER_JOBS)
			link_jobs(s, &s->tables[i]);
	for (size_t i = 0; rc == 0 && i < s->next; i++)
		rc = name_table(L, s, &s->ext[i], false);
	if (rc == 0)
		rc = inherit_types(L, s);
	if (rc == 0)
		rc = dependency_order(s, L->err);
	return rc;
}

int dj_schema_load(dj_db *db, const char *name, const char *default_store, dj_schema *out,
                   dj_err *err)
{
	loader L = {db, dj_db_backend_id(db), default_store, err};
	table_list tl = {0};
	bool exists = false;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = dj_schema_exists(db, name, &exists, err)) < 0)
		return rc;
	if (!exists)
		return dj_err_set(err, DJ_ENOTFOUND, "schema '%s' not found on %s", name,
		                  dj_db_address(db));
	out->backend = L.be;
	if (!(out->name = strdup(name)))
		return oom(err);
	rc = load_tables(&L, name, NULL, &tl);
	out->tables = tl.t;
	out->ntables = tl.n;
	if (rc == 0)
		rc = load_external(&L, out);
	if (rc == 0)
		rc = derive(&L, out);
	if (rc < 0) {
		dj_err_context(err, "schema %s", name);
		dj_schema_free(out);
	}
	return rc;
}

static const dj_table *find_prefixed(const dj_schema *s, const char *base)
{
	static const char *const prefixes[] = {"", "#", "_", "__"};
	char buf[300];
	for (size_t i = 0; i < 4; i++) {
		const dj_table *t;
		snprintf(buf, sizeof(buf), "%s%s", prefixes[i], base);
		if ((t = find_in(s->tables, s->ntables, buf)) && t->tier != DJ_TIER_JOBS &&
		    t->tier != DJ_TIER_HIDDEN)
			return t;
	}
	return NULL;
}

/* "Master.Part": the master by class name, then <master>__<snake part>. */
static const dj_table *find_part(const dj_schema *s, const char *name, const char *dot)
{
	char master_cls[256], buf[300];
	dj_buf part = DJ_BUF_INIT;
	const dj_table *m, *t = NULL;
	dj_err ignore = DJ_ERR_INIT;
	if ((size_t)(dot - name) >= sizeof(master_cls))
		return NULL;
	memcpy(master_cls, name, (size_t)(dot - name));
	master_cls[dot - name] = '\0';
	if ((m = dj_schema_table(s, master_cls)) &&
	    dj_name_from_camel(&part, dot + 1, &ignore) == 0) {
		snprintf(buf, sizeof(buf), "%s__%s", m->name, part.ptr);
		t = find_in(s->tables, s->ntables, buf);
	}
	dj_buf_dispose(&part);
	return t;
}

const dj_table *dj_schema_table(const dj_schema *s, const char *name)
{
	const dj_table *t = find_in(s->tables, s->ntables, name);
	const char *dot = strchr(name, '.');
	dj_buf snake = DJ_BUF_INIT;
	dj_err ignore = DJ_ERR_INIT;
	if (t)
		return t;
	if (dot)
		return find_part(s, name, dot);
	if (name[0] >= 'A' && name[0] <= 'Z') {
		if (dj_name_from_camel(&snake, name, &ignore) == 0)
			t = find_prefixed(s, snake.ptr);
		dj_buf_dispose(&snake);
		return t;
	}
	return find_prefixed(s, name);
}
