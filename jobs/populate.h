/*
 * populate as a dj_job (jobs/job.h, database.md §5): rank 0 plans the pending keys (directly,
 * or through the `~~` jobs table with reservations), any rank runs the make (jobs/make.h),
 * rank 0 inserts each key's row in one transaction per batch with a savepoint per key.
 *
 * Items are "<index>\n<key JSON>" (index into the planned key list on rank 0), then the
 * fetched inputs after a NUL (jobs/populate_fetch.c). Results are
 * dj_make_run's bytes; a failed make's result is its stderr tail (error_stack).
 *
 * Every rank fills a dj_populate with the same options; rank 0's `start` calls `connect` to
 * open the database (only rank 0 connects), loads the schema and finds the table.
 */
#ifndef DJ_JOBS_POPULATE_H
#define DJ_JOBS_POPULATE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "db/db.h"
#include "db/schema.h"
#include "jobs/job.h"
#include "jobs/jobtable.h"
#include "jobs/keys.h"
#include "jobs/keysource.h"
#include "jobs/make.h"
#include "jobs/row.h"
#include "stores/spec.h"

typedef struct dj_populate {
	/* options (every rank) */
	const char *schema_name;
	const char *table_name; /* class name ("Square") or SQL name ("__square") */
	const char *where;      /* SQL restriction of key_source, NULL = none */
	bool reserve;           /* through the jobs table */
	int64_t max_calls;      /* < 0: no limit */
	int priority;           /* jobs: priority of new jobs and most urgent taken; < 0 = none
	                         * (new jobs get jobs.default_priority, 5) */
	const char *const *fetch; /* "Table.attr" inputs for the make (jobs/populate_fetch.c) */
	size_t nfetch;
	dj_make_opts make;      /* the make: command, server or plugin */
	/* rank 0: how to connect, and the stores */
	int (*connect)(void *arg, dj_db **db, dj_err *err);
	void *connect_arg;
	const dj_store_spec *specs;
	size_t nspecs;
	const char *default_store;
	/* every rank, the same (dj_run_share): the target table and its parts (dj_tables_pack)
	 * when workers write the store-backed outputs themselves; empty: rank 0 writes them while
	 * it commits. Borrowed. */
	dj_bytes heading;
	/* every rank, the same: workers read the store-backed --fetch inputs themselves (rank 0
	 * ships the row's metadata); false: rank 0 reads them. Set under MPI. */
	bool remote_inputs;

	/* state (rank 0), owned */
	dj_db *db;
	bool have_schema, have_ks, have_jt, planned_keys;
	dj_schema s;
	const dj_table *t;
	dj_keysource ks;
	dj_jobtable jt;
	dj_row_ctx rc;
	dj_job_worker w;
	dj_maker *maker; /* every rank that works */
	const dj_table **fetch_t; /* per --fetch: the table and attribute */
	const dj_attr **fetch_a;
	struct dj_populate_prefetch *prefetch; /* the planned chunk's inputs (populate_fetch.c) */
	uint64_t input_failures; /* keys failed fetching their inputs (not planned) */
	dj_err input_error;      /* the first of those failures */
	dj_keys keys;    /* planned keys */
	size_t next;  /* next key of `keys` to plan */
	size_t reserve_chunk, reserve_floor; /* keys reserved per plan call at most, its floor */
	double last_plan;                    /* monotonic time of the last plan call */
	/* state of the working thread when it writes outputs (jobs/populate_store.c), owned */
	dj_table *wt;    /* the unpacked heading: [0] the target, then its parts */
	size_t nwt;
	bool have_wrc;
	dj_row_ctx wrc;  /* its stores (not rank 0's commit context: another thread) */
} dj_populate;

/* The job: start, plan, work, commit, release, finish. */
extern const dj_job dj_populate_job;

/* For populate's own files. Item "<index>\n<key JSON>" -> the index and the JSON. */
int dj_populate_item_parse(const dj_bytes *item, size_t *idx, const char **json, size_t *jlen,
                           dj_err *err);
/* Rank 0's commit of a batch of results (jobs/populate_commit.c). */
int dj_populate_commit(dj_populate *p, dj_job_result *res, size_t n, dj_err *err);
/* Key value (row, col) of `k` as a value of attribute `a` (may be NULL): int, float, decimal,
 * date/datetime, uuid, bytes or str by the column's class. DJ_EFORMAT when it does not parse. */
int dj_populate_key_value(const dj_keys *k, size_t row, size_t col, const dj_attr *a,
                          dj_value **out, dj_err *err);

/* --fetch (jobs/populate_fetch.c): resolve the specs (rank 0, at start); append key `row`'s
 * inputs to a work item; read them back on the working rank (names owned by *in). */
int dj_populate_fetch_prepare(dj_populate *p, dj_err *err);
int dj_populate_fetch_inputs(dj_populate *p, size_t row, dj_buf *item, dj_err *err);
/* Read the inputs of keys [from, to) of p->keys (those with want[row - from], all when want is
 * NULL) with one query per --fetch table, for dj_populate_fetch_inputs to take (rank 0). A
 * key's own failure (no row, an undecodable value) is kept for it; < 0 only for the database.
 * Replaces the previous chunk; dj_populate_prefetch_free drops it. */
int dj_populate_prefetch(dj_populate *p, size_t from, size_t to, const bool *want, dj_err *err);
void dj_populate_prefetch_free(dj_populate *p);
int dj_populate_item_inputs(const dj_bytes *item, dj_make_input **in, size_t *nin, dj_err *err);
void dj_populate_inputs_free(dj_make_input *in, size_t nin);

/* Free what the run left in `p` (the database connection included). Safe on any rank. */
void dj_populate_dispose(dj_populate *p);

#endif
