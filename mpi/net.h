/*
 * Moving wire frames (mpi/wire.h) over MPI: one communicator duplicated from MPI_COMM_WORLD
 * (so our tags never meet the application's or a library's), errors returned rather than
 * fatal. Private to mpi/; the only header besides the .c files that includes mpi.h.
 */
#ifndef DJ_MPI_NET_H
#define DJ_MPI_NET_H

#include <mpi.h>
#include <stdbool.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/job.h"
#include "mpi/run.h"

typedef struct dj_wire_link {
	MPI_Comm comm;
	int rank, size;
	bool threads; /* MPI_THREAD_SERIALIZED or better: workers can beat from a thread */
} dj_wire_link;

/* Turn an MPI return code into a dj_err naming `what`; returns DJ_ERROR (0 for MPI_SUCCESS). */
int dj_wire_mpi_err(int mpirc, dj_err *err, const char *what, int peer);

/*
 * Receive one waiting frame from `src` (MPI_ANY_SOURCE allowed) without blocking: *got = 0
 * when none is waiting; else *tag, *from and `m` (reset first) are filled. Matched probe +
 * receive, so it is safe next to another thread's sends.
 */
int dj_wire_poll(const dj_wire_link *l, int src, int *got, int *tag, int *from, dj_buf *m,
                 dj_err *err);

/* Blocking send of a frame (workers: rank 0 is always receiving). */
int dj_wire_send(const dj_wire_link *l, int dest, int tag, const dj_buf *m, dj_err *err);

/* A heartbeat: an empty frame sent without blocking; its request is freed at once. */
int dj_wire_beat(const dj_wire_link *l, int dest, dj_err *err);

/*
 * Rank 0's sends never block: each frame is posted with MPI_Isend and its buffer kept here
 * until the send completes, so a slow or dead worker cannot hold the coordinator.
 */
typedef struct dj_wire_outbox {
	struct dj_wire_post {
		MPI_Request req;
		dj_buf buf;
		int dest;
	} * v;
	size_t n, cap;
} dj_wire_outbox;

/* Post `m` to `dest` (the buffer is taken; `m` is left empty). */
int dj_wire_post(dj_wire_outbox *o, const dj_wire_link *l, int dest, int tag, dj_buf *m,
                 dj_err *err);
/* Complete what has been sent; frees those buffers. */
int dj_wire_outbox_progress(dj_wire_outbox *o, dj_err *err);
/* Wait (polling) until every send has completed or `deadline` (dj_run__now) passes; sends
 * still open then are to ranks that stopped listening: their requests are freed unfinished. */
void dj_wire_outbox_close(dj_wire_outbox *o, double deadline);

/*
 * The two roles of dj_run_mpi (size > 1). The coordinator (rank 0, coordinator.c) sets
 * *can_finalize to false when a worker was still running an item at the drain deadline
 * (MPI_Finalize would wait for it). Workers (worker.c) fill only t->rank and t->size.
 */
int dj_run__coordinate(const dj_job *job, void *ctx, const dj_run_opts *o, const dj_wire_link *l,
                       dj_tally *t, dj_err *err, bool *can_finalize);
int dj_run__serve(const dj_job *job, void *ctx, const dj_run_opts *o, const dj_wire_link *l,
                  dj_tally *t, dj_err *err);

#endif
