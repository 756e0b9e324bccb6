/*
 * Book-keeping shared by the local loop (standalone.c) and the MPI coordinator
 * (coordinator.c): the queue of planned items, the batch of results waiting for commit, the
 * tally, stop conditions. No MPI here. Semi-private to mpi/ (dj_run__ names).
 *
 * Every planned item is one dj_run__entry with exactly one owner at a time: the pending queue,
 * a worker's in-flight queue (coordinator), the commit batch, or the caller about to release
 * it. Commit and release free it, so an item can never be committed twice.
 */
#ifndef DJ_MPI_ENGINE_H
#define DJ_MPI_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "jobs/job.h"
#include "mpi/run.h"

typedef struct dj_run__entry {
	uint64_t id;
	dj_buf item;
	unsigned lost; /* times it was running on a worker that was lost */
} dj_run__entry;

/* A ring of entry pointers; oldest first. */
typedef struct dj_run__fifo {
	dj_run__entry **v;
	size_t head, len, cap;
} dj_run__fifo;

int dj_run__fifo_push(dj_run__fifo *f, dj_run__entry *e);
int dj_run__fifo_push_front(dj_run__fifo *f, dj_run__entry *e);
dj_run__entry *dj_run__fifo_pop(dj_run__fifo *f);
dj_run__entry *dj_run__fifo_at(const dj_run__fifo *f, size_t i);
/* Remove and return entry i (0 = oldest), keeping the order of the others. */
dj_run__entry *dj_run__fifo_remove(dj_run__fifo *f, size_t i);
/* Free the ring; entries still in it are freed too. */
void dj_run__fifo_dispose(dj_run__fifo *f);

void dj_run__entry_free(dj_run__entry *e);

/* Why dispatch stopped. */
enum { DJ_RUN__GO = 0, DJ_RUN__STOP_SIGNAL, DJ_RUN__STOP_FAILED_ITEM, DJ_RUN__STOP_ERROR };

typedef struct dj_run__engine {
	const dj_job *job;
	void *ctx;
	dj_run_opts o; /* defaults resolved */
	dj_tally *t;
	dj_err *err;        /* the run's error: first fatal message */
	int rc;             /* first fatal error, 0 if none */
	bool commit_failed; /* after a failed commit nothing more is committed, only released */
	int stop;           /* DJ_RUN__* */
	dj_job_sink sink;
	dj_run__fifo pending;
	uint64_t next_id;
	bool plan_done;
	/* the commit batch: up to o.batch_size results, their entries and data */
	dj_job_result *batch;
	dj_run__entry **batch_entry;
	dj_buf *batch_data;
	size_t nbatch;
	double batch_t0; /* when the oldest result in the batch arrived */
	double t0, next_progress;
} dj_run__engine;

double dj_run__now(void);

/* Sleep while a polling loop has nothing to do: 20 us, doubling with each idle round up to
 * 250 us; the caller resets *idle to 0 when something happened. Ranks share cores, so they
 * must not spin, yet a worker waiting for items must not wait long. */
void dj_run__nap(unsigned *idle);

/* DJ_EUSAGE unless plan, work and commit are set. Every rank checks, so all agree. */
int dj_run__check_job(const dj_job *job, dj_err *err);

/* Fill unset options with their defaults (workers use this too). */
void dj_run__resolve_opts(dj_run_opts *o);

/* Check the job and options (DJ_EUSAGE naming what is wrong), resolve defaults into e->o. */
int dj_run__engine_init(dj_run__engine *e, const dj_job *job, void *ctx, const dj_run_opts *o,
                        dj_tally *t, dj_err *err);
/* Free what is left (normally nothing: see dj_run__engine_end). */
void dj_run__engine_dispose(dj_run__engine *e);

/* Record a fatal error (keeps the first) and stop dispatching; returns rc. */
int dj_run__fail(dj_run__engine *e, int rc);

/* Look at the stop flag and call progress when due. */
void dj_run__tick(dj_run__engine *e, double now);

/* When fewer than `low` items are pending, ask plan for more (unless stopping or done). */
int dj_run__refill(dj_run__engine *e, size_t low);

/* The next pending item to dispatch, or NULL (none, or stopping). */
dj_run__entry *dj_run__next(dj_run__engine *e);

/*
 * An item came back from work: takes `en` and the bytes of `data` (left empty), adds them to
 * the batch and commits when the batch is full. A failure (werr->code != 0) with
 * stop_on_error stops dispatching. After a failed commit the item is released instead.
 */
int dj_run__finished(dj_run__engine *e, dj_run__entry *en, const dj_err *werr, dj_buf *data,
                     double work_s, int rank);

/* Commit the batch if it is full, its oldest result is max_latency_s old, or `force`. */
int dj_run__commit_due(dj_run__engine *e, double now, bool force);

/* Hand entries to the job's release callback (in batch_size chunks) and free them. */
int dj_run__release(dj_run__engine *e, dj_run__entry **v, size_t n);

/* Release every pending item (once dispatch has stopped). */
int dj_run__release_pending(dj_run__engine *e);

/* Work one item in this process: clears `out`, fills `werr` and `*secs`. */
void dj_run__work_one(const dj_job *job, void *ctx, const dj_bytes *item, dj_buf *out, dj_err *werr,
                      double *secs);

/* End of the loop: commit what is batched, release what is pending, set the tally's end
 * fields. Returns the run's result (0, DJ_ESTOP, or the first error). */
int dj_run__engine_end(dj_run__engine *e);

#endif
