/*
 * The engine that runs a dj_job (jobs/job.h): over MPI, or in one plain process.
 *
 * This header does not include mpi.h: runner/ and jobs/ call the engine through it. Only
 * the files in mpi/ touch MPI (DESIGN.md "Who may include whom").
 *
 * Rank 0 plans, dispatches items dynamically (each worker says how many it wants in flight,
 * from its own item times, up to max_inflight: no static split), commits results in batches
 * bounded by size and latency, and is the only rank that calls plan, commit and release.
 * Other ranks only call start, work and finish.
 *
 * Stopping. The tool's signal handler sets *stop (the signal number). Rank 0 then stops
 * planning and dispatching, tells workers to finish the item they are running and drop the
 * ones queued behind it, waits up to drain_timeout_s, commits what finished and releases the
 * rest; dj_run returns DJ_ESTOP. Rank 0's own item (a job with work_beside_coordinator) shares
 * the job's context, so it is waited for: at drain_timeout_s the job's `cancel` is called to
 * end it (populate: its make is killed and its key released). Workers ignore *stop, but for
 * their own item: rank 0 decides for everyone (under srun every task gets the SIGTERM), and
 * a worker whose process got it calls `cancel` 0.8 drain_timeout_s later if still working.
 *
 * Lost workers. Workers send a heartbeat every heartbeat_s (from a helper thread, so a long
 * work call does not silence them). A worker silent for worker_timeout_s (during a signal
 * drain: two heartbeats) is presumed dead: the item it was running is dispatched again unless
 * it was already lost once (then it fails: it may be what kills workers), the items queued
 * behind it are dispatched again (during a drain: released), and anything it sends later is
 * ignored, so no item is committed twice. Whether a run can survive a dead rank at all is the
 * launcher's choice: a default mpirun aborts the whole job, SIGTERM to every rank and SIGKILL
 * 1 s later (tests/e2e/run_worker_killed.sh); `mpirun --enable-recovery` lets the survivors
 * finish the run.
 */
#ifndef DJ_MPI_RUN_H
#define DJ_MPI_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "jobs/job.h"

/* Items and results larger than this are refused (DJ_ENOMEM): a corrupt length must not
 * become an allocation, and MPI counts are int. */
#define DJ_RUN_ITEM_MAX ((size_t)1 << 30)

typedef struct dj_run_opts {
	size_t batch_size;       /* results per commit at most (default 100) */
	double max_latency_s;    /* a finished result waits at most this long for its commit (1) */
	size_t max_inflight;     /* items a worker may hold, running + queued (default 256);
	                          * each asks for ~20 ms of work, so only tiny items reach it */
	size_t plan_batch;       /* `want` passed to plan (default 1000) */
	bool stop_on_error;      /* a failed item stops dispatching (default: suppress, go on) */
	double drain_timeout_s;  /* after a stop signal, wait this long for running items (20) */
	double heartbeat_s;      /* worker <-> rank 0 heartbeat period (0.5) */
	double worker_timeout_s; /* silence after which a rank is presumed dead (30; 0 = never) */
	bool rank0_works;        /* rank 0 also works items when the job allows it (true) */
	int launched_size;       /* ranks the launcher started, from the environment (runner/
	                          * or slurm/ reads it): > 1 runs over MPI, 0/1 in-process,
	                          * -1 (launched, size unknown) initialises MPI to find out */

	/* Tool-supplied, all optional. */
	const volatile sig_atomic_t *stop; /* nonzero (a signal number) = drain and stop */
	double progress_s;                 /* period of `progress` (0 = never) */
	void (*progress)(void *arg, const dj_tally *t);       /* rank 0, every progress_s seconds */
	void (*on_result)(void *arg, const dj_job_result *r); /* rank 0: each item's outcome,
	                                                       * after its commit or release */
	void *arg;                                            /* passed to progress and on_result */
} dj_run_opts;

/* Fill `o` with the defaults above. */
void dj_run_opts_init(dj_run_opts *o);

/*
 * Run `job` to the end: dj_run_mpi when o->launched_size says a launcher started more than
 * one rank (or -1), else dj_run_local. Collective under MPI: every rank calls it with its own
 * ctx. Fills `t` (complete on rank 0, see dj_tally). Returns 0 when the run ended normally
 * (failed items are counted, not errors), DJ_ESTOP when a signal drained it, DJ_EUSAGE for bad
 * options, else < 0 with `err` set: plan or commit failed, all workers were lost, or MPI
 * failed. Items not committed have been released (dj_tally.released) unless the process was
 * killed before it could.
 */
int dj_run(const dj_job *job, void *ctx, const dj_run_opts *o, dj_tally *t, dj_err *err);

/*
 * The same over MPI: initialises MPI unless the tool did (threads: serialized, for the
 * heartbeat), runs rank 0 as coordinator and the others as workers on a duplicated
 * communicator. With one rank, rank 0 works the items itself. Workers return 0 unless they
 * lost rank 0 or MPI failed. MPI stays initialised: see dj_run_finalize.
 */
int dj_run_mpi(const dj_job *job, void *ctx, const dj_run_opts *o, dj_tally *t, dj_err *err);

/*
 * Finalise MPI if dj_run initialised it; a no-op otherwise (and after a local run). Call it
 * once, after the results and summary are written and flushed: when the launcher is already
 * tearing the job down (mpirun after a SIGTERM), MPI_Finalize blocks until the process is
 * killed. It is skipped when a worker was still running an item at the drain deadline
 * (finalize would wait for that item); the launcher then ends the job.
 */
void dj_run_finalize(void);

/*
 * For a tool that runs several jobs in a row (populate SCHEMA): this process's rank and the
 * run's size, initialising MPI when `launched_size` says a launcher started ranks (as dj_run
 * would); 0 and 1 without. Then dj_run_share gives every rank rank 0's bytes (`data` on rank 0
 * is sent, elsewhere replaced); a no-op without MPI. Both collective.
 */
int dj_run_rank(int launched_size, int *rank, int *size, dj_err *err);
int dj_run_share(dj_buf *data, dj_err *err);

/* The same callbacks in one process, no MPI at all: plan, work, commit in a loop. */
int dj_run_local(const dj_job *job, void *ctx, const dj_run_opts *o, dj_tally *t, dj_err *err);

#endif
