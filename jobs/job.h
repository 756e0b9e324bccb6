/*
 * The job interface: every batch job is plan -> work -> commit (DESIGN.md "The one idea").
 *
 * A job is a const table of callbacks plus a caller-owned `void *ctx` that every callback
 * receives (no globals). The engine (mpi/run.h: dj_run, dj_run_mpi, dj_run_local) moves items
 * and results as opaque byte strings; it knows nothing of tables or stores, and this header
 * knows nothing of MPI.
 *
 *   plan    rank 0: push work items into a sink, about `want` per call. Called again whenever
 *           the engine's queue runs low, so a huge plan never sits in memory at once. A call
 *           that pushes nothing ends the plan.
 *   work    any rank: one item -> result bytes. A failure (return < 0, `err` set) becomes that
 *           item's result, with the code and the one-line message; the rank goes on.
 *   commit  rank 0: a batch of results at once (populate: one transaction per batch, each
 *           item under its own savepoint). Sets each result's outcome.
 *   release rank 0: items that were planned but will not be committed in this run (stopped by
 *           a signal, by --stop-on-error, or lost with a worker); populate sets their reserved
 *           jobs back to pending.
 *   finish  every rank, after the loop.
 *
 * Each process has its own `ctx`: under MPI, the tool builds one on every rank before dj_run
 * and `start` tells it which role the rank plays (rank 0 opens the database, workers do not).
 */
#ifndef DJ_JOBS_JOB_H
#define DJ_JOBS_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* Where plan puts items. Implemented by the engine; the job only calls dj_job_push(). */
typedef struct dj_job_sink {
	int (*push)(struct dj_job_sink *sink, const void *item, size_t len, dj_err *err);
} dj_job_sink;

/*
 * Queue one item (the bytes are copied). Returns 0, DJ_ENOMEM past the engine's item size cap
 * (DJ_RUN_ITEM_MAX), or DJ_ESTOP when the run is stopping: plan should then return at once.
 */
static inline int dj_job_push(dj_job_sink *sink, const void *item, size_t len, dj_err *err)
{
	return sink->push(sink, item, len, err);
}

/* What became of one item. */
typedef enum dj_job_outcome {
	DJ_JOB_DONE,     /* committed */
	DJ_JOB_FAILED,   /* work or commit failed; counted, reported, exit code 1 */
	DJ_JOB_SKIPPED,  /* commit found nothing to do (e.g. the key is no longer pending) */
	DJ_JOB_RELEASED, /* not finished in this run; handed to `release` */
} dj_job_outcome;

/* "done", "failed", "skipped", "released". */
const char *dj_job_outcome_name(dj_job_outcome o);

/*
 * One item's result as commit sees it. Everything it points to is owned by the engine and
 * valid only during the commit (or on_result) call.
 */
typedef struct dj_job_result {
	uint64_t id;            /* engine-assigned, 1, 2, ... in plan order */
	dj_bytes item;          /* the item as planned */
	dj_bytes data;          /* what work appended, after a failure too (populate: the
	                         * make's stderr tail for error_stack) */
	dj_err err;             /* work's code and message; commit may set it for a failure of
	                         * its own (then also set outcome to DJ_JOB_FAILED) */
	double work_s;          /* seconds inside work */
	int rank;               /* rank that worked it */
	dj_job_outcome outcome; /* in: DONE if err.code == 0 else FAILED; commit may change it */
} dj_job_result;

/* Where this process sits in the run; given to `start`. */
typedef struct dj_run_info {
	int rank;         /* 0 = the coordinator (plans, commits, the only database writer) */
	int size;         /* ranks in the run; 1 for dj_run_local */
	bool coordinator; /* plan, commit, release and finish(tally) run here */
	bool worker;      /* work runs here (rank 0 only when size == 1) */
} dj_run_info;

/* Counts and times of one run, complete on rank 0 (workers get only `rank` and `size`). */
typedef struct dj_tally {
	uint64_t planned, done, failed, skipped, released;
	uint64_t redispatched; /* items taken back from a lost worker and dispatched again */
	uint64_t workers_lost; /* worker ranks presumed dead (silent past worker_timeout_s) */
	uint64_t commits;      /* commit calls (batches) */
	uint64_t item_bytes, result_bytes;
	double plan_s, work_s, commit_s, wall_s; /* work_s sums every rank's time in work */
	int rank, size;
	int signal;            /* the signal that stopped the run early, 0 if none */
	bool stopped_on_error; /* --stop-on-error ended dispatch */
	bool complete;         /* the plan ran out and every planned item has an outcome */
} dj_tally;

typedef struct dj_job {
	const char *name; /* "populate", "selftest": used in messages */

	/* Optional. Every rank, before the loop. A failure on rank 0 ends the run before planning;
	 * on a worker it takes that worker out of the run. */
	int (*start)(void *ctx, const dj_run_info *info, dj_err *err);

	/* Rank 0. Push about `want` items (a hint, not a limit) with dj_job_push; pushing none
	 * ends the plan. Returns 0 or < 0 (the run stops; items already planned are released). */
	int (*plan)(void *ctx, dj_job_sink *sink, size_t want, dj_err *err);

	/* Any rank. Append the result of `item` to `result` (empty on entry). Returns 0, or < 0
	 * with `err` set: the item fails, the rank goes on, and whatever was appended still
	 * reaches commit (details that do not fit a one-line message). Must not print or exit. */
	int (*work)(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err);

	/* Rank 0. Apply `n` results (successes and failures) and set each outcome. Returns 0;
	 * < 0 means nothing of this batch was applied: those items are released and the run
	 * stops. */
	int (*commit)(void *ctx, dj_job_result *res, size_t n, dj_err *err);

	/* Optional, rank 0. Items that will not be committed in this run (see above). A failure
	 * is reported (the run's error) but the run still ends normally. */
	int (*release)(void *ctx, const dj_bytes *items, size_t n, dj_err *err);

	/* Optional. Every rank, after the loop; `t` is the run's tally on rank 0, NULL elsewhere.
	 */
	void (*finish)(void *ctx, const dj_tally *t);

	/* Under MPI, rank 0 also works items, in a thread of its own beside plan and commit
	 * (then `start` on rank 0 sees info->worker). Only for jobs whose work shares nothing
	 * with plan, commit and release but read-only options. */
	bool work_beside_coordinator;
	/* Optional. Called from another thread of the process when a running `work` must end
	 * soon: on rank 0 when the run ends (a drain deadline passed, or an error) while its own
	 * item still runs (work_beside_coordinator), on a worker when its process got the stop
	 * signal and drain_timeout_s has passed. Thread-safe; later items may fail at once. */
	void (*cancel)(void *ctx);
} dj_job;

/*
 * The tool's exit code (runner/exit.h) for a run that returned `rc` with tally `t`. On rank 0:
 * 75 when a signal stopped it before it was complete (safe to requeue: nothing half done, the
 * rest released); 1 when it failed (rc < 0) or any item failed or was left over; else 0
 * (including nothing to do). On a worker rank: 0 unless rc < 0 (a non-zero worker exit makes
 * mpirun abort the job, so only real worker errors give 1).
 */
int dj_job_exit_code(const dj_tally *t, int rc);

#endif
