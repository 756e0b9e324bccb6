/*
 * The default key_source of an auto-populated table and its pending keys, as SQL on both
 * backends (database.md §4, §5.6).
 *
 * key_source = the natural join of the primary parents' primary keys (§3.3 order: the table's
 * foreign keys in constraint order), a renamed foreign key (-> Parent.proj(new='old'))
 * contributing the parent key under the child's names; its primary key is the union of the
 * parents' (renamed) keys in order of appearance. pending = key_source minus the table,
 * anti-joined on the table's primary key only (§4.2). A custom key_source cannot be read from
 * the database (§4.1, Q3): callers add their own SQL restriction instead.
 *
 * Restrictions are SQL text used verbatim as ` WHERE (restriction)`, as datajoint-python uses a
 * string restriction (§4.3): they may name key_source attributes and, when a parent is joined
 * as a table rather than a subquery, its other columns. Parents are joined as tables unless one
 * is renamed or two share a column name that is not a key of both; then each parent becomes a
 * `(SELECT key FROM parent) AS $n` subquery (§4.4), and only key_source attributes can be named.
 * The SQL differs from Python's text but selects the same rows (results are compared as sets,
 * Q7).
 */
#ifndef DJ_JOBS_KEYSOURCE_H
#define DJ_JOBS_KEYSOURCE_H

#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "db/db.h"
#include "db/schema.h"

typedef struct dj_keysource {
	dj_db_backend backend;
	const dj_table *target; /* borrowed from the schema, which must outlive this */
	char *from;             /* the FROM clause: parents joined */
	char **attrs;           /* key_source's primary key, heading order */
	size_t nattrs;
} dj_keysource;

/*
 * Build the default key_source of `t` (an Imported or Computed table of `s`). Parents in other
 * schemas must be among the schema's loaded external tables (dj_schema_load loads them).
 * DJ_EUSAGE when `t` has no primary parent ("a table must have dependencies from its primary
 * key for auto-populate to work") or lacks a key_source attribute; DJ_ENOTFOUND when a parent
 * was not loaded. Dispose afterwards, also on failure.
 */
int dj_keysource_init(dj_keysource *ks, const dj_schema *s, const dj_table *t, dj_err *err);
void dj_keysource_dispose(dj_keysource *ks);

/* `SELECT <key_source key> FROM <parents> [WHERE (restriction)]` appended to `out`. */
int dj_keysource_sql(dj_buf *out, const dj_keysource *ks, const char *restriction, dj_err *err);

/* The pending keys (§4.2, direct mode): key_source & restriction, minus the target. */
int dj_keysource_pending_sql(dj_buf *out, const dj_keysource *ks, const char *restriction,
                             dj_err *err);

/*
 * The general form the jobs tables use: `SELECT [DISTINCT] <cols> FROM <parents> WHERE
 * [(restriction) AND] [<target key> NOT IN (SELECT ... FROM target)]`. `cols` must be
 * key_source attributes (NULL: all of them). `pending` adds the anti-join; with neither a
 * restriction nor `pending` there is no WHERE.
 */
int dj_keysource_select(dj_buf *out, const dj_keysource *ks, const char *const *cols,
                        size_t ncols, bool distinct, const char *restriction, bool pending,
                        dj_err *err);

/*
 * `(<target key ∩ key_source>) NOT IN (SELECT ... FROM target)`: the target's primary-key
 * attributes that key_source also has, in the target's key order (§4.5).
 */
int dj_keysource_not_in_target(dj_buf *out, const dj_keysource *ks, dj_err *err);

/* T.progress(restriction): total keys of key_source & restriction, and those not in T (§5.6). */
int dj_keysource_progress(dj_db *db, const dj_keysource *ks, const char *restriction,
                          int64_t *remaining, int64_t *total, dj_err *err);

#endif
