/*
 * djrun migrate legacy-external: a DataJoint 0.14 schema's external storage to the 2.x layout
 * (database.md §8.1, formats.md §5 and §7; fixture legacy014/EXPECTED.md).
 *
 * Columns it handles, per table of the schema (tables named `~...` are not user tables):
 *   blob      binary(16) ":blob@store:"     -> json ":<blob@store>:"   object copied byte for byte
 *   attach    binary(16) ":attach@store:"   -> json ":<attach@store>:" object rebuilt as
 *                                              name NUL contents (its MD5 is the 0.14 uuid)
 *   filepath  binary(16) ":filepath@store:" -> json ":<filepath@store>:" the file stays in place
 *   inblob    *blob without a marker         -> the same column, comment ":<blob>:..."
 *   inattach  *blob ":attach:"               -> the same column, comment ":<attach>:..."
 * A 0.14 uuid is the MD5 of the stored content, so the 2.x hash is base32(uuid bytes) and the
 * new object lives at the store's hash path `_hash/<schema>/<hash>`; the old one at
 * `<schema>/<h0:2>/<h2:4>/<hex>[.<attachment name>]` (0.14's default subfolding).
 *
 * Phases per external column `a` of table `t` (the state is read from which columns exist, so a
 * killed run continues where it stopped and `status` needs no bookkeeping table):
 *   begin     ADD COLUMN `_a_migrating` json NULL with the 2.x comment, after `a`.
 *   fill      job: rank 0 pages through rows with `_a_migrating` NULL (joined with
 *             `~external_<store>`); a worker copies the object (or finds it already there with
 *             the right MD5), re-reads what the store now holds and re-hashes it, and returns the
 *             metadata; rank 0 writes it, one transaction per batch.
 *   verify    job over every filled row: the object the metadata names is read and re-hashed
 *             against the metadata and the legacy uuid (filepath: size, the MD5 of the contents
 *             against `contents_hash`, the MD5 of the path against the uuid). A bad row is reset
 *             to NULL and counted; the run fails naming it. With `move`, a verified row's old
 *             object is removed here (never before its new object verified).
 *   swap      when no row is left unfilled or bad: one ALTER TABLE drops the foreign key to
 *             `~external_<store>`, renames `a` to `_a_backup` (nullable, comment
 *             "0.14 backup ..." so no reader takes it for a codec) and `_a_migrating` to `a`
 *             (NOT NULL again when it was). In-table columns get their marker then.
 *   finalize  drop every `_a_backup` column. The `~external_*` tables are kept (2.x ignores
 *             them; they still list the legacy objects, orphans included).
 * Library code: nothing is printed.
 */
#ifndef DJ_JOBS_MIGRATE_LEGACY_H
#define DJ_JOBS_MIGRATE_LEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "db/db.h"
#include "jobs/job.h"
#include "stores/spec.h"
#include "stores/store.h"

typedef enum dj_legacy_kind {
	DJ_LEGACY_BLOB,
	DJ_LEGACY_ATTACH,
	DJ_LEGACY_FILEPATH,
	DJ_LEGACY_INBLOB,
	DJ_LEGACY_INATTACH,
} dj_legacy_kind;

/* "blob", "attach", "filepath", "inblob", "inattach" (expected-migration.json's names) */
const char *dj_legacy_kind_name(dj_legacy_kind k);

typedef enum dj_legacy_state {
	DJ_LEGACY_NOT_STARTED, /* the 0.14 column alone */
	DJ_LEGACY_IN_FLIGHT,   /* `_a_migrating` exists */
	DJ_LEGACY_SWAPPED,     /* `a` is the 2.x column, `_a_backup` the 0.14 one */
} dj_legacy_state;

const char *dj_legacy_state_name(dj_legacy_state s);

typedef struct dj_legacy_col {
	char *table, *column;
	char *old_type;     /* COLUMN_TYPE of the 0.14 column: "binary(16)", "longblob" */
	char *old_comment;  /* the full 0.14 comment */
	char *user_comment; /* after the marker */
	bool nullable;
	dj_legacy_kind kind;
	char *store; /* NULL for in-table kinds */
	char *fk;    /* the foreign key to `~external_<store>` on the column, NULL if none */
	dj_legacy_state state;
	char **pk; /* the table's primary key */
	size_t npk;
	dj_db_type *pk_types; /* result classes of the key columns (learnt from the first page) */
	/* survey counts */
	uint64_t rows, values, filled, bytes, bytes_todo;
} dj_legacy_col;

typedef struct dj_legacy {
	/* options: every rank, the same */
	const char *schema_name;
	const dj_store_spec *specs;
	size_t nspecs;
	bool move;        /* remove each old object once its new one verified */
	size_t item_rows; /* rows per work item (0 = 64) */
	bool no_sync;
	int (*connect)(void *arg, dj_db **db, dj_err *err);
	void *connect_arg;

	/* rank 0 */
	dj_db *db;
	dj_legacy_col *cols;
	size_t ncols;
	size_t plan_col; /* the column the plan is at */
	dj_buf cursor;   /* the last planned key of plan_col: npk u32 fields */
	bool cursor_set, plan_done, stopped;
	uint64_t rows_filled, bytes_copied, rows_verified, rows_bad, rows_reset, rows_failed;
	char first_bad[512];

	/* worker: one open store per configured store, opened on first use */
	dj_store **stores;
} dj_legacy;

/* Rank 0: connect (if needed) and read the schema's legacy columns and their states. DJ_ENOTFOUND
 * for a missing schema; DJ_EUSAGE for a store no config names. */
int dj_legacy_open(dj_legacy *m, dj_err *err);

/* Rank 0: the counts of every column (rows, values, filled, bytes). */
int dj_legacy_survey(dj_legacy *m, dj_err *err);

/* Rank 0: the plan as JSON (columns, objects, unreferenced_external, and with `rows` every
 * row's target), the layout of fixtures/legacy014/expected-migration.json. */
int dj_legacy_plan_json(dj_legacy *m, bool rows, dj_buf *out, dj_err *err);

/* Rank 0: add `_a_migrating` to every column not started. */
int dj_legacy_begin(dj_legacy *m, dj_err *err);

/* Rank 0: swap every in-flight column with nothing left to fill, then mark the in-table ones.
 * DJ_ECONFLICT naming a column that still has unfilled rows. */
int dj_legacy_swap(dj_legacy *m, dj_err *err);

/* Rank 0: drop the backup columns. DJ_EUSAGE while any column is not swapped. */
int dj_legacy_finalize(dj_legacy *m, size_t *dropped, dj_err *err);

void dj_legacy_dispose(dj_legacy *m);

extern const dj_job dj_legacy_fill_job;
extern const dj_job dj_legacy_verify_job;

/* --- shared inside migrate_legacy*.c ------------------------------------------------------- */

int dj_legacy__ident(const dj_legacy *m, dj_buf *out, const char *name, dj_err *err);
/* `schema`.`table` */
int dj_legacy__qtable(const dj_legacy *m, const char *table, const char *name, dj_buf *out,
                      dj_err *err);
/* `_<col><suffix>` */
char *dj_legacy__aux(const char *col, const char *suffix);
/* The key columns as text parameters (bytes for binary keys) from u32 fields read off `r`. */
int dj_legacy__key_params(const dj_legacy_col *c, const uint8_t **p, size_t *left, dj_db_param *par,
                          dj_err *err);
/* "{a=1, b='x'}" from u32 key fields. */
int dj_legacy__key_text(const dj_legacy_col *c, const uint8_t **p, size_t *left, dj_buf *out,
                        dj_err *err);
/* ` WHERE k1=? AND ...` appended. */
int dj_legacy__key_where(const dj_legacy *m, const dj_legacy_col *c, dj_buf *sql, dj_err *err);
/* Keyset page over column `c` of rows matching `where` (its columns qualified with `t.`),
 * joined with `~external_<store>` as `e`: SELECT t.k..., <cols> FROM t LEFT JOIN e ...
 * [AND keys after the cursor] ORDER BY keys LIMIT n. */
int dj_legacy__page(dj_legacy *m, const dj_legacy_col *c, const char *cols, const char *where,
                    size_t limit, dj_db_rows **rows, dj_err *err);
int dj_legacy__cursor_set(dj_legacy *m, const dj_legacy_col *c, dj_db_rows *rows, dj_err *err);
int dj_legacy__learn_types(dj_legacy_col *c, dj_db_rows *rows, dj_err *err);
const dj_store_spec *dj_legacy__spec(const dj_legacy *m, const char *store);
/* Worker: the open store named `name`. */
int dj_legacy__store(dj_legacy *m, const char *name, dj_store **out, dj_err *err);
/* The 0.14 object key of `uuid` in `schema`; attachments append "." name. */
int dj_legacy__old_key(const char *schema, const uint8_t uuid[16], const char *attach_name,
                       dj_buf *out);
/* The 2.x metadata JSON of a blob/attach object (size = bytes of the new object). */
int dj_legacy__hash_json(const dj_legacy *m, const char *store, const uint8_t uuid[16],
                         uint64_t size, dj_buf *path, dj_buf *json, dj_err *err);

#endif
