/*
 * djrun migrate to-store: an in-table <blob> or <attach> column becomes hash-addressed
 * (<blob@store>, <attach@store>) the way datajoint-python expects it (database.md §8.9,
 * formats.md §5). The packed bytes move unchanged: MD5 -> path -> object -> JSON metadata,
 * exactly the objects and metadata a 2.x insert writes for the same value.
 *
 * The column change, per attribute `a` of table `t` (phases, each resumable):
 *   begin   ADD COLUMN `_a_migrating` json/jsonb NULL with the comment ":<blob@store>:<user
 *           comment>" (hidden from the library: the name starts with '_').
 *   fill    a job (dj_migrate_fill_job): rank 0 reads rows whose new column is NULL by
 *           primary-key ranges (keyset pages, ORDER BY the key) and ships their bytes to the
 *           workers; a worker hashes, writes the object if absent (an existing object whose
 *           content does not match its hash is rewritten) and returns the metadata; rank 0
 *           writes it with one UPDATE per row in one transaction per batch.
 *   verify  a job (dj_migrate_verify_job) over every filled row: the worker reads the object
 *           the metadata names, re-hashes it and compares with the metadata and with the
 *           server's MD5 of the old column. A row that fails is reset to NULL (the next run
 *           fills it again) and counted; the run then fails naming the key.
 *   swap    only when every non-NULL old value has a verified new value: the old column is
 *           renamed `_a_backup` (made nullable, so inserts from the library still work) and the
 *           new one takes the name `a` (NOT NULL again if `a` was). MySQL: one ALTER TABLE;
 *           PostgreSQL: one transaction.
 *   finalize  DROP COLUMN `_a_backup` (a separate, explicit step).
 * The state of a migration is the table itself (which of the three columns exist), so a killed
 * run continues where it stopped and `status` needs no bookkeeping table.
 *
 * Items are batches of rows of about `item_bytes` (binary, see migrate_item.c). Every rank
 * builds a dj_migrate with the same options; rank 0's `start` connects and loads the schema,
 * workers open the target store. Library code: nothing is printed.
 */
#ifndef DJ_JOBS_MIGRATE_H
#define DJ_JOBS_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/codec.h"
#include "db/db.h"
#include "db/schema.h"
#include "jobs/job.h"
#include "stores/spec.h"
#include "stores/store.h"

#define DJ_MIGRATE_TMP_SUFFIX "_migrating"
#define DJ_MIGRATE_BAK_SUFFIX "_backup"

typedef enum dj_migrate_state {
	DJ_MIGRATE_NOT_STARTED, /* the in-table column alone */
	DJ_MIGRATE_IN_FLIGHT,   /* `_a_migrating` exists: filling / verifying */
	DJ_MIGRATE_SWAPPED,     /* `a` is the store column, `_a_backup` holds the old bytes */
	DJ_MIGRATE_DONE,        /* `a` is the store column, no backup */
} dj_migrate_state;

/* "not started", "in flight", "swapped (backup kept)", "done" */
const char *dj_migrate_state_name(dj_migrate_state s);

typedef struct dj_migrate_survey {
	uint64_t rows;         /* rows of the table */
	uint64_t values;       /* rows whose old column is not NULL */
	uint64_t filled;       /* rows whose new column is set */
	uint64_t bytes;        /* bytes in the old column */
	uint64_t bytes_todo;   /* bytes of the rows still to fill */
	char *samples[3];      /* target paths of the first rows still to fill (malloc'd) */
	char *sample_keys[3];  /* their keys, "{id=1}" */
	size_t nsamples;
} dj_migrate_survey;

void dj_migrate_survey_dispose(dj_migrate_survey *s);

typedef struct dj_migrate {
	/* options: every rank, the same */
	const char *schema_name;
	const char *table_name; /* class or SQL name */
	const char *attr_name;
	const char *codec; /* "<blob@store>", "<attach@store>", "<blob@>" (= stores.default) */
	const dj_store_spec *specs;
	size_t nspecs;
	const char *default_store;
	size_t item_bytes;   /* bytes of old values per work item (0 = 4 MiB) */
	size_t verify_rows;  /* rows per verify item (0 = 64) */
	bool no_sync;        /* file store: skip fsync (benchmarks, scratch stores) */
	bool array_target;   /* migrate to-npy / to-object (jobs/migrate_array.h): the codec is
	                        <npy@s> or <object@s> and the source a <blob> or <blob@> column */
	/* rank 0: how to connect */
	int (*connect)(void *arg, dj_db **db, dj_err *err);
	void *connect_arg;

	/* derived from the options on every rank (dj_migrate_init) */
	dj_coltype target;
	const dj_store_spec *spec;

	/* rank 0 state, owned */
	dj_db *db;
	bool have_schema;
	dj_schema s;
	const dj_table *t;
	const dj_attr *a;      /* the attribute named attr_name (old or, swapped, new column) */
	char *tmp_col, *bak_col;
	char *qtable;          /* quoted schema.table */
	dj_migrate_state state;
	char *src_sqltype;     /* the old column's SQL type (for the swap) */
	bool src_nullable;
	dj_db_type *pk_types;  /* result classes of the key columns (learnt from the first page) */
	dj_buf cursor;         /* the last planned key: npk values, each u32 length + bytes */
	bool cursor_set, plan_done, stopped;
	/* counts of this process's runs (rank 0) */
	uint64_t rows_planned, bytes_planned;
	uint64_t rows_filled, bytes_filled, rows_verified, rows_bad, rows_reset;
	char first_bad[512];   /* the first verification failure, for the report */

	/* worker state */
	dj_store *store;
} dj_migrate;

/* Check the options and derive `target` and `spec` (every rank; no I/O). DJ_EUSAGE naming what
 * is wrong: a codec other than <blob@s>/<attach@s> (<npy@s>/<object@s> with array_target), a
 * store that is not configured. */
int dj_migrate_init(dj_migrate *m, dj_err *err);

/*
 * Rank 0 (or a single process): connect, load the schema, find the table and the attribute,
 * work out the state and check the column can be migrated to the target (same codec, in-table
 * source; in flight: the new column's marker names the same target). DJ_ENOTFOUND for an
 * unknown table or attribute, DJ_EUSAGE for a column that cannot take this migration.
 */
int dj_migrate_open(dj_migrate *m, dj_err *err);

/* Rank 0: counts and sample paths for the plan or the status (state must be NOT_STARTED or
 * IN_FLIGHT; other states give zeros but `rows`). Array targets (<npy@>, <object@>): no sample
 * paths (their paths are drawn per row: dj_migrate_array_survey). */
int dj_migrate_survey_run(dj_migrate *m, dj_migrate_survey *out, dj_err *err);

/* Rank 0: add the new column when the migration has not started (state becomes IN_FLIGHT). */
int dj_migrate_begin(dj_migrate *m, dj_err *err);

/* Rank 0: rows whose old value is set and whose new value is not (0 before the swap = every row
 * filled). */
int dj_migrate_unfilled(dj_migrate *m, uint64_t *out, dj_err *err);

/* Rank 0: the swap (IN_FLIGHT -> SWAPPED). Refuses (DJ_ECONFLICT, naming the count) while any
 * row is unfilled. */
int dj_migrate_swap(dj_migrate *m, dj_err *err);

/* Rank 0: drop the backup column (SWAPPED -> DONE). DJ_EUSAGE in any other state. */
int dj_migrate_finalize(dj_migrate *m, dj_err *err);

/* Free everything (the connection and store included). Safe on any rank and on a zeroed m. */
void dj_migrate_dispose(dj_migrate *m);

extern const dj_job dj_migrate_fill_job;
extern const dj_job dj_migrate_verify_job;

/* --- shared inside the migrate files (migrate_*.c) ----------------------------------------- */

/* <npy@s> or <object@s>: a target of migrate to-npy / to-object. */
bool dj_migrate__array_codec(const dj_coltype *t);

/* Item reader: the next length-prefixed field. */
typedef struct dj_migrate__rd {
	const uint8_t *p;
	size_t left;
} dj_migrate__rd;
int dj_migrate__get_u32(dj_migrate__rd *r, uint32_t *v, dj_err *err);
int dj_migrate__get_u64(dj_migrate__rd *r, uint64_t *v, dj_err *err);
/* A field of u32 length (u64 when `wide`) and its bytes (borrowed). */
int dj_migrate__get_field(dj_migrate__rd *r, bool wide, dj_bytes *out, dj_err *err);
int dj_migrate__put_u32(dj_buf *b, uint32_t v);
int dj_migrate__put_u64(dj_buf *b, uint64_t v);
int dj_migrate__put_field(dj_buf *b, bool wide, const void *p, size_t n);

/* ` WHERE k1=? AND k2=?` (or `(k1,k2) > (?,?)` with `after`) for the key values read from `r`;
 * params appended to `par` (room for npk). */
int dj_migrate__key_params(const dj_migrate *m, dj_migrate__rd *r, dj_db_param *par,
                           dj_err *err);
/* "{id=3, name='a'}" from key values read from `r`. */
int dj_migrate__key_text(const dj_migrate *m, dj_migrate__rd *r, dj_buf *out, dj_err *err);
/* Append quoted identifier / `schema`.`table`. */
int dj_migrate__ident(const dj_migrate *m, dj_buf *out, const char *name, dj_err *err);
/* The keyset page query of the plan: SELECT k..., <cols> FROM t WHERE <where> [AND (k...) >
 * (cursor)] ORDER BY k... LIMIT n. Params (cursor values) into `par` (room npk * (npk + 1) / 2),
 * count in *np. */
int dj_migrate__page_sql(dj_migrate *m, dj_buf *sql, const char *cols, const char *where,
                         size_t limit, dj_db_param *par, size_t *np, dj_err *err);
/* Remember the key of the current row of `rows` (the first npk columns) as the cursor. */
int dj_migrate__cursor_set(dj_migrate *m, dj_db_rows *rows, dj_err *err);
/* Open the target store (workers; once). */
int dj_migrate__open_store(dj_migrate *m, dj_err *err);
/* `UPDATE t SET tmp=? WHERE k1=? AND ... AND tmp IS NULL`; with `reset`: `SET tmp=NULL ...
 * AND tmp IS NOT NULL` (parameters: the key only). */
int dj_migrate__update_sql(dj_migrate *m, bool reset, dj_buf *sql, dj_err *err);
/* Learn the key columns' result classes from a page whose first npk columns are the key. */
int dj_migrate__learn_types(dj_migrate *m, dj_db_rows *rows, dj_err *err);
/* Hash path of `hash` in the target store for the table's schema. */
int dj_migrate__path(const dj_migrate *m, const char *schema, const char *hash, dj_buf *out,
                     dj_err *err);

#endif
