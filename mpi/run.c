/*
 * dj_run and dj_run_mpi: the MPI life cycle around the roles (coordinator.c, worker.c).
 */
#include <string.h>

#include "mpi/engine.h"
#include "mpi/net.h"
#include "mpi/run.h"

/* MPI is process state, not job state: whether dj_run_mpi initialised it, and whether it may
 * be finalised, outlive the run until the tool calls dj_run_finalize(). */
static struct {
	bool own;     /* dj_run_mpi called MPI_Init */
	bool abandon; /* a worker was still busy at the drain deadline: do not finalise */
} mpi_state;

int dj_run(const dj_job *job, void *ctx, const dj_run_opts *o, dj_tally *t, dj_err *err)
{
	if (o->launched_size > 1 || o->launched_size < 0)
		return dj_run_mpi(job, ctx, o, t, err);
	return dj_run_local(job, ctx, o, t, err);
}

/* MPI_Init unless the tool did it; returns whether we own the finalize. */
static int init_mpi(bool *own, int *provided, dj_err *err)
{
	int inited = 0, rc;
	MPI_Initialized(&inited);
	*own = !inited;
	if (inited)
		rc = MPI_Query_thread(provided);
	else
		rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
	return dj_wire_mpi_err(rc, err, "cannot initialise MPI", -1);
}

static int open_link(dj_wire_link *l, int provided, dj_err *err)
{
	int rc = MPI_Comm_dup(MPI_COMM_WORLD, &l->comm);
	if (rc != MPI_SUCCESS)
		return dj_wire_mpi_err(rc, err, "MPI_Comm_dup", -1);
	/* errors come back as codes: a dead peer must not abort rank 0 */
	MPI_Comm_set_errhandler(l->comm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(l->comm, &l->rank);
	MPI_Comm_size(l->comm, &l->size);
	l->threads = provided >= MPI_THREAD_SERIALIZED;
	return 0;
}

int dj_run_mpi(const dj_job *job, void *ctx, const dj_run_opts *o, dj_tally *t, dj_err *err)
{
	dj_wire_link l;
	bool own = false, can_finalize = true;
	int provided = 0, rc;
	memset(t, 0, sizeof(*t));
	memset(&l, 0, sizeof(l));
	if ((rc = dj_run__check_job(job, err)) < 0)
		return rc; /* before MPI: every rank refuses alike */
	if ((rc = init_mpi(&own, &provided, err)) < 0)
		return rc;
	mpi_state.own = mpi_state.own || own;
	if ((rc = open_link(&l, provided, err)) < 0)
		return rc;
	if (l.size == 1)
		rc = dj_run_local(job, ctx, o, t, err); /* rank 0 works the items itself */
	else if (l.rank == 0)
		rc = dj_run__coordinate(job, ctx, o, &l, t, err, &can_finalize);
	else
		rc = dj_run__serve(job, ctx, o, &l, t, err);
	t->rank = l.rank;
	t->size = l.size;
	if (can_finalize)
		MPI_Comm_free(&l.comm);
	else
		mpi_state.abandon = true;
	return rc;
}

static bool shared_mpi; /* dj_run_rank found ranks: dj_run_share broadcasts */

int dj_run_rank(int launched_size, int *rank, int *size, dj_err *err)
{
	bool own = false;
	int provided = 0, rc;
	*rank = 0;
	*size = 1;
	if (launched_size <= 1 && launched_size >= 0)
		return 0;
	if ((rc = init_mpi(&own, &provided, err)) < 0)
		return rc;
	mpi_state.own = mpi_state.own || own;
	MPI_Comm_rank(MPI_COMM_WORLD, rank);
	MPI_Comm_size(MPI_COMM_WORLD, size);
	shared_mpi = *size > 1;
	return 0;
}

int dj_run_share(dj_buf *data, dj_err *err)
{
	if (!shared_mpi)
		return 0;
	int rank = 0;
	unsigned long long n = data->len;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	int rc = MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
	if (rc != MPI_SUCCESS || n > DJ_RUN_ITEM_MAX)
		return dj_wire_mpi_err(rc != MPI_SUCCESS ? rc : MPI_ERR_COUNT, err,
		                       "cannot share rank 0's data", -1);
	if (rank != 0) {
		dj_buf_reset(data);
		if (dj_buf_grow(data, (size_t)n + 1) < 0)
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	if (n && (rc = MPI_Bcast(data->ptr, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD)) != MPI_SUCCESS)
		return dj_wire_mpi_err(rc, err, "cannot share rank 0's data", -1);
	if (rank != 0)
		dj_buf_setlen(data, (size_t)n);
	return 0;
}

void dj_run_finalize(void)
{
	/* Finalizing would wait for a worker still inside an item past the drain deadline;
	 * leaving without it lets the launcher end the job instead. */
	if (mpi_state.own && !mpi_state.abandon)
		MPI_Finalize();
	mpi_state.own = false;
}
