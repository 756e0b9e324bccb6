/*
 * Rank 0's own worker: a thread that works items beside the coordinator loop, so a run of N
 * ranks computes on N ranks, not N - 1 (jobs that allow it: dj_job.work_beside_coordinator).
 *
 * The coordinator hands it items (copied) and collects results by polling; the thread only
 * calls the job's work callback, never MPI or the engine. Internal to mpi/.
 */
#ifndef DJ_MPI_LOCAL_H
#define DJ_MPI_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/job.h"

typedef struct dj_run__local dj_run__local;

/* Start the thread. DJ_ENOMEM / DJ_ERROR (pthread) with err set. */
int dj_run__local_start(dj_run__local **out, const dj_job *job, void *ctx, dj_err *err);

/* Queue one item (its bytes are copied). */
int dj_run__local_push(dj_run__local *lw, uint64_t id, dj_bytes item, dj_err *err);

/* Items queued or running. */
size_t dj_run__local_load(dj_run__local *lw);

/* One finished result, if any: 1 and the fields filled (data replaced), 0 when none. */
int dj_run__local_take(dj_run__local *lw, uint64_t *id, dj_err *werr, dj_buf *data,
                       double *work_s);

/* Drop the queued items that have not started; their ids go to ids[] (room: cap), *n the
 * count. The running item, if any, goes on. */
void dj_run__local_drop(dj_run__local *lw, uint64_t *ids, size_t cap, size_t *n);

/* Ask the thread to end after its running item, wait for it, free everything but the results
 * not yet taken, which are returned by dj_run__local_take until it gives 0; then free. */
void dj_run__local_stop(dj_run__local *lw);
void dj_run__local_free(dj_run__local *lw);

#endif
