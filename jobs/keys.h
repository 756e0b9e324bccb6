/*
 * A list of primary keys (key_source keys, jobs-table keys) as the database returned them:
 * one row of column values per key, kept in db.h's text forms (bytes for binary columns such
 * as MySQL uuids) so that they can be bound back as statement parameters unchanged.
 *
 * Ownership: a dj_keys owns its names and values (dj_keys_dispose). Not thread-safe.
 */
#ifndef DJ_JOBS_KEYS_H
#define DJ_JOBS_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"
#include "db/db.h"

typedef struct dj_keys {
	size_t ncols;
	char **cols;        /* column names */
	dj_db_type *types;  /* column classes (BYTES values are bound as bytes) */
	size_t n, cap;      /* keys held, room */
	char **vals;        /* n * ncols values, each NUL-terminated; NULL = SQL NULL */
	size_t *lens;       /* n * ncols byte lengths */
} dj_keys;

void dj_keys_init(dj_keys *k);
void dj_keys_dispose(dj_keys *k);

/* Name the columns of an empty list (types may be NULL: all text). DJ_EUSAGE if keys exist. */
int dj_keys_set_cols(dj_keys *k, const char *const *cols, const dj_db_type *types, size_t n,
                     dj_err *err);

/* Append one key: `vals[i]` of `lens[i]` bytes (lens NULL: strlen; vals[i] NULL: SQL NULL). */
int dj_keys_add(dj_keys *k, const char *const *vals, const size_t *lens, dj_err *err);

/* Append key `row` of `from`, taking the columns of `k` by name. DJ_EUSAGE naming a column
 * `from` lacks. */
int dj_keys_add_from(dj_keys *k, const dj_keys *from, size_t row, dj_err *err);

/*
 * Run `sql` and append every row as a key. An empty list takes the result's column names and
 * types; otherwise the result must have the same number of columns. Errors as dj_db_query.
 */
int dj_keys_query(dj_keys *k, dj_db *db, const char *sql, const dj_db_param *p, size_t np,
                  dj_err *err);

/* Index of column `name`, or -1. */
int dj_keys_col(const dj_keys *k, const char *name);

/* Whether row `ra` of `a` and row `rb` of `b` hold the same values (byte for byte, NULL equal
 * only to NULL), column by column in order: both must have the same columns. */
bool dj_keys_equal(const dj_keys *a, size_t ra, const dj_keys *b, size_t rb);

/* Value (row, col) as a statement parameter (borrowed from `k`). */
dj_db_param dj_keys_param(const dj_keys *k, size_t row, size_t col);

/* "{subject='mouse01', session_idx=1}" for messages (appended). */
int dj_keys_text(dj_buf *out, const dj_keys *k, size_t row);

#endif
