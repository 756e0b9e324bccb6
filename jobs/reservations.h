/*
 * Who holds the reservations of a jobs table (database.md §6.7): the reserved rows grouped by
 * the worker that took them, for `djrun status` (which maps host and pid to a Slurm job); and
 * how many remaining keys have no job yet.
 */
#ifndef DJ_JOBS_RESERVATIONS_H
#define DJ_JOBS_RESERVATIONS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "db/db.h"
#include "jobs/jobtable.h"
#include "jobs/keysource.h"

typedef struct dj_job_holder {
	char host[256];        /* as the worker recorded it (platform.node()) */
	int64_t pid;           /* the worker's pid on that host */
	int64_t connection_id; /* its connection (the smallest, if it reserved over several) */
	int64_t keys;          /* reserved keys it holds */
	char since[32];        /* its oldest reserved_time, "YYYY-MM-DD HH:MM:SS[.fff]" */
} dj_job_holder;

/*
 * One entry per (host, pid) holding 'reserved' rows of `jt`, most keys first, then by host and
 * pid; *out is malloc'd (free()), *n its length; none (and no table) gives *out = NULL, *n = 0.
 */
int dj_jobs_holders(dj_db *db, const dj_jobtable *jt, dj_job_holder **out, size_t *n,
                    dj_err *err);

/*
 * Keys of key_source not yet in the target and without a row in the jobs table (no job queued
 * for them yet, e.g. added since the last refresh); with no jobs table, every remaining key.
 */
int dj_jobs_unqueued(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks, int64_t *n,
                     dj_err *err);

#endif
