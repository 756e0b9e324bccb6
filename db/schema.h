/*
 * Schema introspection (database.md §1-§3): the tables of one DataJoint schema read from the
 * server's catalogs, with tiers, class names, headings (attributes with their DataJoint types),
 * primary keys, foreign keys, masters and parts, jobs tables, and the dependency order.
 *
 * Types follow DESIGN.md's decisions: the `:type:` comment marker first, the SQL type second
 * (MariaDB reports json as longtext, which only the marker tells apart); a foreign-key column
 * without a marker takes the type of the column it references (the library does not copy
 * markers into children). Everything a loaded dj_schema points to is owned by it.
 */
#ifndef DJ_DB_SCHEMA_H
#define DJ_DB_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/codec.h"
#include "db/db.h"

/* --- names (§1.2, §1.3): pure functions ---------------------------------------------------- */

typedef enum dj_tier {
	DJ_TIER_MANUAL,   /* name */
	DJ_TIER_LOOKUP,   /* #name */
	DJ_TIER_IMPORTED, /* _name */
	DJ_TIER_COMPUTED, /* __name */
	DJ_TIER_PART,     /* <master>__name */
	DJ_TIER_JOBS,     /* ~~name: the jobs queue of an Imported/Computed table */
	DJ_TIER_HIDDEN,   /* any other ~name: ~lineage, legacy ~jobs, ~log, ~external_* */
	DJ_TIER_OTHER,    /* not a DataJoint table name */
} dj_tier;

/* "manual", "lookup", "imported", "computed", "part", "jobs", "hidden", "other" */
const char *dj_tier_name(dj_tier t);

/* The tier of a table name, by full-string match of the name grammar (as _get_tier does).
 * For a part, `*master_len` (may be NULL) is the length of the master's name, else 0. */
dj_tier dj_tier_of(const char *table, size_t *master_len);

/* to_camel_case: "__spikes" -> "Spikes", "#method" -> "Method", "processed_e_m_g" ->
 * "ProcessedEMG". Appended to `out`. DJ_ENOMEM only. */
int dj_name_to_camel(dj_buf *out, const char *table, dj_err *err);

/* from_camel_case: "SessionTrial" -> "session_trial", "ABC" -> "a_b_c" (underscores in the
 * class name are dropped). DJ_EFORMAT (naming it) when the result is not ^[A-Z][A-Za-z0-9]*$. */
int dj_name_from_camel(dj_buf *out, const char *cls, dj_err *err);

/* The jobs table of `table`: "~~" + the name without its leading underscores (§1.2). */
int dj_name_jobs_table(dj_buf *out, const char *table, dj_err *err);

/* --- headings (§2) ------------------------------------------------------------------------ */

typedef enum dj_attr_kind {
	DJ_ATTR_CORE,    /* a core type (int32, varchar(16), uuid, json, ...): `coltype` valid */
	DJ_ATTR_CODEC,   /* <blob>, <blob@store>, ...: `coltype` valid */
	DJ_ATTR_NATIVE,  /* a plain SQL type (int, double, longblob, timestamp) */
	DJ_ATTR_UNKNOWN, /* a codec this build does not know, or <x@> with no default store */
} dj_attr_kind;

typedef struct dj_attr {
	char *name;
	char *type;     /* DataJoint type: "int16", "<blob@main>"; the SQL type for natives */
	char *sql_type; /* as the library normalises it (§2.5): "smallint", "varchar(16)" */
	char *comment;  /* the user comment, marker removed ("" when none) */
	char *dflt;     /* the library's Attribute.default: NULL (none), "null" for nullable
	                   columns, "\"text\"" for strings, else the server's text */
	char *marker;   /* the :type: marker text as stored, NULL without one */
	dj_attr_kind kind;
	dj_coltype coltype; /* valid for CORE and CODEC */
	bool nullable, in_key, hidden;
	bool inherited; /* no marker: type taken from the referenced column of a foreign key */
} dj_attr;

/* One column as the catalog reports it (the input of dj_attr_init). */
typedef struct dj_column_info {
	const char *name;
	const char *sql_type; /* already normalised (dj_sql_type_mysql / _pg) */
	const char *dflt;     /* the catalog's default text; NULL = none */
	const char *comment;  /* NULL = none */
	bool nullable;
} dj_column_info;

/*
 * Fill `a` from one column (pure; heading.py's rules): the marker gives the type (codecs resolve
 * `<x@>` to `default_store`, which may be NULL), hidden = name starts with '_', the default as the
 * library reports it. Does not set in_key or inherited. DJ_ENOMEM only: an unknown type is not an
 * error here (kind tells). Free with dj_attr_clear.
 */
int dj_attr_init(dj_attr *a, const dj_column_info *ci, const char *default_store, dj_err *err);
void dj_attr_clear(dj_attr *a);

/* Take the type of `from` (the referenced column of a foreign key) for an unmarked column. */
int dj_attr_inherit(dj_attr *a, const dj_attr *from, dj_err *err);

/* MySQL's reported type as the library keeps it: the display width of integer and float types
 * removed ("int(11)" -> "int", "bigint(20) unsigned" -> "bigint unsigned"). */
int dj_sql_type_mysql(dj_buf *out, const char *type, dj_err *err);
/* PostgreSQL's information_schema type as the library rebuilds it: USER-DEFINED -> udt_name,
 * character(n) -> char(n), character varying(n) -> varchar(n), numeric(p,s) -> decimal(p,s)
 * (decimal(p) for scale 0); NULL numbers mean "not reported". */
int dj_sql_type_pg(dj_buf *out, const char *data_type, const char *udt_name, const char *char_len,
                   const char *num_precision, const char *num_scale, dj_err *err);

/* --- tables and schemas (§1, §3) ---------------------------------------------------------- */

typedef struct dj_fkey {
	char *name;       /* constraint name */
	char *ref_schema; /* the referenced (parent) table */
	char *ref_table;
	char **cols;     /* child columns, in constraint order */
	char **ref_cols; /* the parent column each maps to (renamed keys differ) */
	size_t ncols;
	bool primary; /* every child column is in the child's primary key */
	bool aliased; /* some child column is named differently from its parent column */
	bool multi;   /* the child columns are not exactly the child's primary key */
} dj_fkey;

typedef struct dj_table {
	char *schema;
	char *name;       /* SQL name: "__spikes__unit" */
	char *class_name; /* "Spikes" ; a part: "Spikes.Unit" */
	char *comment;
	dj_tier tier;
	const struct dj_table *master; /* parts: the master (same schema), else NULL */
	const struct dj_table *target; /* jobs tables: the table they queue for, if present */
	const struct dj_table *jobs;   /* Imported/Computed tables: their ~~ table, if present */
	dj_attr *attrs;
	size_t nattrs;
	size_t *pk; /* indices into attrs, in primary-key order */
	size_t npk;
	dj_fkey *fks; /* foreign keys in constraint-name order (MySQL: _ibfk_1, _ibfk_2, ...) */
	size_t nfks;
} dj_table;

typedef struct dj_schema {
	char *name;
	dj_db_backend backend;
	dj_table *tables; /* every base table, `~` tables included, sorted by name */
	size_t ntables;
	/* the dependency listing (§1.4): tables with a primary key whose name does not start with
	 * '~', parents before children, each part right after its master */
	const dj_table **order;
	size_t norder;
	/* tables of other schemas that foreign keys reference (parents only; loaded to resolve
	 * inherited types) */
	dj_table *ext;
	size_t next;
} dj_schema;

/* Whether schema `name` exists (information_schema.schemata). */
int dj_schema_exists(dj_db *db, const char *name, bool *exists, dj_err *err);

/*
 * Load schema `name`. `default_store` (stores.default, may be NULL) resolves `<codec@>` markers.
 * `out` need not be initialised; on failure it is left empty (dj_schema_free is safe).
 * Returns 0; DJ_ENOTFOUND when the schema does not exist; DJ_EFORMAT when foreign keys form a
 * cycle; database errors as db.h. `err` names the schema and table.
 */
int dj_schema_load(dj_db *db, const char *name, const char *default_store, dj_schema *out,
                   dj_err *err);
void dj_schema_free(dj_schema *s);

/*
 * A table by SQL name ("__spikes__unit"), class name ("Spikes", "Spikes.Unit", "SpikesUnit"),
 * or snake name without prefix ("spikes"), tried as schema.get_table does: the exact name, then
 * with the prefixes "", "#", "_", "__". NULL when absent. Searches own tables only.
 */
const dj_table *dj_schema_table(const dj_schema *s, const char *name);

/* The attribute named `name`, NULL when absent. */
const dj_attr *dj_table_attr(const dj_table *t, const char *name);

/* Free what a table holds (attributes, key, foreign keys) and zero it; its links are borrowed. */
void dj_table_clear(dj_table *t);

/*
 * Tables as bytes, for ranks without a database (populate's workers encode store-backed
 * outputs): schema, names, comment, tier, attributes (types as the heading gives them) and the
 * primary key; a part's `master` when its master is among them. Foreign keys and the
 * target/jobs links are not carried. Unpacking parses each attribute's type again with
 * `default_store` (the same configuration on every rank). DJ_EFORMAT for bytes this did not
 * write. Free with dj_tables_free.
 */
int dj_tables_pack(dj_buf *out, const dj_table *const *t, size_t n, dj_err *err);
int dj_tables_unpack(const void *p, size_t len, const char *default_store, dj_table **out,
                     size_t *n, dj_err *err);
void dj_tables_free(dj_table *t, size_t n);

/* The parent table of foreign key `fk` (own or external), NULL if it was not loaded. */
const dj_table *dj_schema_parent(const dj_schema *s, const dj_fkey *fk);

#endif
