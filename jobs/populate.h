/*
 * populate as a dj_job (jobs/job.h, database.md §5): rank 0 plans the pending keys (directly,
 * or through the `~~` jobs table with reservations), any rank runs the make (jobs/make.h),
 * rank 0 inserts each key's row in one transaction per batch with a savepoint per key.
 *
 * Items are "<index>\n<key JSON>" (index into the planned key list on rank 0). Results are
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
	dj_make_opts make;      /* the make: command, server or plugin */
	/* rank 0: how to connect, and the stores */
	int (*connect)(void *arg, dj_db **db, dj_err *err);
	void *connect_arg;
	const dj_store_spec *specs;
	size_t nspecs;
	const char *default_store;

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
	dj_keys keys;    /* planned keys */
	size_t next;  /* next key of `keys` to plan */
} dj_populate;

/* The job: start, plan, work, commit, release, finish. */
extern const dj_job dj_populate_job;

/* Free what the run left in `p` (the database connection included). Safe on any rank. */
void dj_populate_dispose(dj_populate *p);

#endif
