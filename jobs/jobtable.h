/*
 * Jobs tables `~~<name>` (database.md §6): declared with the library's exact DDL, and every
 * state change datajoint-python's Job class makes (refresh, reserve, complete, error, ignore,
 * progress), so that `Table.jobs` in Python reads what djrun wrote and djrun respects what
 * Python workers wrote. Batched forms take many keys in one statement for the coordinator
 * (rank 0, DESIGN.md "Rank roles").
 *
 * Keys (jobs/keys.h) are matched by column name: a key list may carry more columns (e.g.
 * key_source keys) than the jobs table's primary key. All statements run in autocommit mode, as
 * Python's do, unless the caller has a transaction open (then they join it). Times come from
 * the server (CURRENT_TIMESTAMP), in the session's UTC (DESIGN.md decisions).
 *
 * Where the library loops (refresh inserts, deletes and re-inserts key by key) djrun issues one
 * statement with the same end state: new jobs by INSERT ... SELECT, stale jobs by one DELETE,
 * orphaned and re-pended jobs by one UPDATE that resets every column to what a fresh
 * (key, 'pending', priority) row holds.
 */
#ifndef DJ_JOBS_JOBTABLE_H
#define DJ_JOBS_JOBTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "db/db.h"
#include "db/schema.h"
#include "jobs/keys.h"
#include "jobs/keysource.h"

#define DJ_JOB_MESSAGE_MAX 2047 /* error_message varchar(2047), §6.6 */

typedef struct dj_jobtable {
	dj_db_backend backend;
	const dj_table *target; /* borrowed from its schema */
	char *schema;
	char *name;   /* "~~spikes" */
	char **pk;    /* the FK-derived primary-key attributes of the target, target key order */
	char **decl;  /* their declared types (marker, else SQL type) for the DDL */
	size_t npk;
} dj_jobtable;

/*
 * Describe the jobs table of `target` (Imported or Computed) of schema `s` (§6.2): its name and
 * primary key, the target's key attributes covered by a primary foreign key. DJ_EUSAGE when none
 * is ("no FK-derived primary key attributes"). Nothing is sent to the server. Dispose
 * afterwards, also on failure.
 */
int dj_jobtable_init(dj_jobtable *jt, const dj_schema *s, const dj_table *target, dj_err *err);
void dj_jobtable_dispose(dj_jobtable *jt);

/* Whether the table exists. */
int dj_jobtable_exists(dj_db *db, const dj_jobtable *jt, bool *exists, dj_err *err);

/*
 * The statements that declare it, exactly as the library sends them (§6.2), one per string
 * appended to `out` NUL-separated (*n counts them): MySQL one CREATE TABLE; PostgreSQL
 * CREATE TYPE (the status enum), CREATE TABLE, CREATE INDEX, COMMENT ON TABLE and one
 * COMMENT ON COLUMN per marked column. DJ_ENOTSUP for a key attribute type the backend cannot
 * declare (a PostgreSQL enum key).
 */
int dj_jobtable_ddl(dj_buf *out, size_t *n, const dj_jobtable *jt, dj_err *err);

/*
 * Create the table when missing (Python: `if not is_declared: declare()`), then its ~lineage
 * rows: the ~lineage table if missing, DELETE this table's rows, upsert one row per key
 * attribute ('<schema>.~~name.<attr>', §1.5). On PostgreSQL the enum type is created only when
 * the schema lacks it. *created (may be NULL) tells whether it was made now. DJ_EUSAGE inside a
 * transaction (the library refuses to declare there too).
 */
int dj_jobtable_declare(dj_db *db, const dj_jobtable *jt, bool *created, dj_err *err);

/* --- who reserves (§6.7) -------------------------------------------------------------------- */

typedef struct dj_job_worker {
	char host[256];     /* uname nodename (platform.node()) */
	int64_t pid;        /* getpid() of the worker */
	int64_t connection_id;
	char user[256];     /* MySQL user() "user@host", PostgreSQL current_user */
	char version[65];   /* jobs.version_method result, cut to 64 characters */
} dj_job_worker;

/* Fill `w` for this process and connection; `version` may be NULL (""). */
int dj_job_worker_init(dj_job_worker *w, dj_db *db, const char *version, dj_err *err);

/* --- refresh (§6.3) ------------------------------------------------------------------------- */

typedef struct dj_refresh_opts {
	const char *restriction; /* SQL restriction of key_source, NULL = none */
	double delay;            /* seconds until new jobs may run (populate uses -1) */
	int priority;            /* for new and re-pended jobs (jobs.default_priority = 5) */
	double stale_timeout;    /* jobs.stale_timeout (3600); <= 0 skips the stale step */
	double orphan_timeout;   /* <= 0: no orphan step (Python's None) */
	bool keep_completed;     /* jobs.keep_completed: re-pend success rows (§6.3 step 2) */
} dj_refresh_opts;

#define DJ_REFRESH_OPTS_INIT {NULL, 0, 5, 3600, 0, false}

typedef struct dj_refresh_result {
	int64_t added, removed, orphaned, re_pended;
} dj_refresh_result;

/*
 * refresh(): declare the table if missing, then
 *  1. add (key_source & restriction) - target - jobs as pending, scheduled at
 *     CURRENT_TIMESTAMP(3) + delay (one INSERT ... SELECT; a key another worker added meanwhile
 *     is skipped, as Python ignores its duplicate-key error);
 *  2. keep_completed: success rows whose key is in the restricted key_source but not in the
 *     target become fresh pending rows;
 *  3. stale_timeout > 0: rows older than it (created_time), not 'ignore', whose key is outside
 *     the *restricted* key_source are deleted (as the library does, §6.3 / §10.12);
 *  4. orphan_timeout > 0: 'reserved' rows reserved longer ago become fresh pending rows.
 * `ks` must be the key_source of the jobs table's target. A deadlock victim (workers refreshing
 * at once) is run again, with a back-off of 20-160 ms, unless the caller's transaction is open.
 */
int dj_jobs_refresh(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                    const dj_refresh_opts *o, dj_refresh_result *res, dj_err *err);

/*
 * populate's selection (§5.3 step 4): pending jobs scheduled by now, ordered by priority then
 * scheduled_time, restricted (when `restriction` is given) to keys of the restricted key_source,
 * and to priority <= max_priority when max_priority >= 0; at most `limit` (< 0: all). Appends
 * the jobs-table keys to `out` (empty: takes the key columns).
 */
int dj_jobs_pending(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks,
                    const char *restriction, int max_priority, int64_t limit, dj_keys *out,
                    dj_err *err);

/* --- one key -------------------------------------------------------------------------------- */

/*
 * reserve() (§6.4): the conditional UPDATE; *reserved is true when exactly one row changed,
 * i.e. the job was pending, scheduled by now, and nobody else took it first. A job in any
 * other state, in the future, or absent is not reserved (not an error).
 */
int dj_jobs_reserve(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                    const dj_job_worker *w, bool *reserved, dj_err *err);

/*
 * complete() (§6.5): delete the row, or with keep_completed set status 'success',
 * completed_time = CURRENT_TIMESTAMP and duration (NAN = leave it). keep_completed and a
 * missing row: DJ_ENOTFOUND (Python's update1 raises).
 */
int dj_jobs_complete(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                     bool keep_completed, double duration, dj_err *err);

/*
 * error() (§6.6): status 'error', completed_time = CURRENT_TIMESTAMP, error_message = `message`
 * cut as the library cuts it (over 2047 characters: the first 2035 + "...truncated"),
 * error_stack = `stack` blob-packed as a Python str (zlib-wrapped when that is shorter and the
 * blob exceeds 1000 bytes); stack NULL leaves error_stack as it was. Any current status.
 * DJ_ENOTFOUND when the row does not exist (nothing is inserted). DJ_EFORMAT for non-UTF-8 text.
 */
int dj_jobs_error(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                  const char *message, const char *stack, dj_err *err);

/* ignore() (§6.9): an existing row gets status 'ignore'; a missing one is inserted with it. */
int dj_jobs_ignore(dj_db *db, const dj_jobtable *jt, const dj_keys *keys, size_t row,
                   int priority, dj_err *err);

/* The message error() stores (appended to `out`): `message` cut to 2047 characters. */
int dj_jobs_cut_message(dj_buf *out, const char *message, dj_err *err);

/* --- many keys in one statement (the coordinator's forms) --------------------------------- */

/*
 * Reserve every pending, due key of `keys` at once; reserved[i] (keys->n entries) tells which
 * were taken, *n the count. PostgreSQL: one UPDATE ... RETURNING. MySQL (no UPDATE RETURNING):
 * SELECT ... FOR UPDATE of the due pending rows, then one UPDATE of those, in a transaction (the
 * caller's if open), so a concurrent single-key reserve waits and then finds them reserved.
 * Deadlock victims are run again as in dj_jobs_refresh.
 */
int dj_jobs_reserve_many(dj_db *db, const dj_jobtable *jt, const dj_keys *keys,
                         const dj_job_worker *w, bool *reserved, size_t *n, dj_err *err);

/* complete() for many keys: one DELETE, or one UPDATE (durations NULL: leave them). */
int dj_jobs_complete_many(dj_db *db, const dj_jobtable *jt, const dj_keys *keys,
                          bool keep_completed, const double *durations, dj_err *err);

/*
 * Give reservations back (a drained worker's keys, DESIGN.md "Rank roles"): rows of `keys`
 * still 'reserved' by this worker (host, pid, connection_id) become 'pending' again with their
 * reservation fields cleared. *n (may be NULL) counts them.
 */
int dj_jobs_release_many(dj_db *db, const dj_jobtable *jt, const dj_keys *keys,
                         const dj_job_worker *w, size_t *n, dj_err *err);

/* --- status --------------------------------------------------------------------------------- */

typedef struct dj_job_counts {
	int64_t pending, reserved, success, error, ignore, total;
} dj_job_counts;

/* jobs.progress() (§6.9): counts by status; all zero when the table does not exist. */
int dj_jobs_progress(dj_db *db, const dj_jobtable *jt, dj_job_counts *out, dj_err *err);

/* Delete the 'error' rows (Python: T.jobs.errors.delete()); *n (may be NULL) counts them. */
int dj_jobs_clear_errors(dj_db *db, const dj_jobtable *jt, int64_t *n, dj_err *err);

#endif
