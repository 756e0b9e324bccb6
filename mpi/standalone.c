/*
 * dj_run_local: the job's callbacks in one process, no MPI. The same book-keeping as the
 * coordinator (engine.c), so batching, stop-on-error, signals and release behave alike; the
 * commit latency is checked between items (a long item delays the commit of earlier ones).
 */
#include <string.h>

#include "mpi/engine.h"
#include "mpi/run.h"

static int work_loop(dj_run__engine *e)
{
	dj_buf out = DJ_BUF_INIT;
	dj_err werr = DJ_ERR_INIT;
	int rc = 0;
	for (;;) {
		double now = dj_run__now();
		dj_run__tick(e, now);
		if ((rc = dj_run__commit_due(e, now, false)) < 0)
			break;
		if ((rc = dj_run__refill(e, 1)) < 0)
			break;
		dj_run__entry *en = dj_run__next(e);
		if (!en)
			break;
		dj_bytes item = dj_buf_bytes(&en->item);
		double secs;
		dj_run__work_one(e->job, e->ctx, &item, &out, &werr, &secs);
		if ((rc = dj_run__finished(e, en, &werr, &out, secs, 0)) < 0)
			break;
	}
	dj_buf_dispose(&out);
	return rc;
}

int dj_run_local(const dj_job *job, void *ctx, const dj_run_opts *o, dj_tally *t, dj_err *err)
{
	dj_run__engine e;
	memset(t, 0, sizeof(*t));
	t->size = 1;
	int rc = dj_run__engine_init(&e, job, ctx, o, t, err);
	if (rc < 0)
		return rc;
	dj_run_info info = {.rank = 0, .size = 1, .coordinator = true, .worker = true};
	if (job->start && (rc = job->start(ctx, &info, err)) < 0) {
		dj_err_context(err, "%s: start", job->name ? job->name : "job");
		dj_run__fail(&e, rc);
	} else {
		work_loop(&e);
	}
	rc = dj_run__engine_end(&e);
	dj_run__engine_dispose(&e);
	if (job->finish)
		job->finish(ctx, t);
	return rc;
}
