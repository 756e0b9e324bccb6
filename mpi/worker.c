/*
 * A worker rank: receive items, work them in order, send results back, leave on STOP.
 *
 * The worker asks for as many items as cover about QUEUE_AHEAD_S of work beyond the one it
 * is running (from a running average of its item times), and sends its results (which ask
 * for more) when half of that is left, so a new item is always at hand without hoarding slow
 * ones. Fast items are answered in groups, slow ones one by one.
 *
 * A helper thread sends a heartbeat every heartbeat_s so that rank 0 can tell a long item from
 * a dead rank, and stops the running item at this rank's drain deadline (watch_drain). MPI is initialised THREAD_SERIALIZED and both threads take `mpi` around every
 * MPI call; the main thread never holds it while working.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/engine.h"
#include "mpi/net.h"
#include "mpi/wire.h"

#define QUEUE_AHEAD_S 0.02    /* queued work to keep beyond the running item */
#define FLUSH_SLOW_S 0.001    /* an item slower than this is answered at once */
#define FLUSH_AGE_S 0.005     /* otherwise results wait at most this long... */
#define FLUSH_COUNT 64        /* ...or until this many are waiting... */
#define FLUSH_BYTES (1 << 20) /* ...or this many bytes */
#define ROOT_SILENCE 4        /* rank 0 presumed gone after 4 x worker_timeout_s of silence */

typedef struct worker {
	const dj_job *job;
	void *ctx;
	dj_run_opts o;
	const dj_wire_link *l;
	pthread_mutex_t mpi;
	/* heartbeat thread */
	pthread_t beat;
	bool beating;
	pthread_mutex_t beat_mu;
	pthread_cond_t beat_cv;
	bool beat_stop;
	/* items and results */
	dj_run__fifo queue;
	int stop_mode;
	double heard0; /* last frame from rank 0 */
	dj_buf in, out, data;
	size_t nout;
	double out_t0;
	double avg_s; /* running average of item time; < 0 until the first item */
	dj_err *err;
} worker;

/*
 * The worker's own drain deadline: its process got the stop signal too (srun signals every
 * task, mpirun forwards it to every rank), and rank 0 gives up on it drain_timeout_s later.
 * A little before that (0.8 of it) the item it runs is stopped through the job's cancel, so
 * that its result (released) still reaches rank 0 and its make does not outlive the job.
 */
static void watch_drain(worker *w, double *deadline, bool *cancelled)
{
	if (*cancelled || !w->job->cancel || !w->o.stop || !*w->o.stop)
		return;
	double now = dj_run__now();
	if (*deadline == 0)
		*deadline = now + 0.8 * w->o.drain_timeout_s;
	else if (now > *deadline) {
		w->job->cancel(w->ctx);
		*cancelled = true;
	}
}

static void *beat_main(void *arg)
{
	worker *w = arg;
	double deadline = 0;
	bool cancelled = false;
	pthread_mutex_lock(&w->beat_mu);
	while (!w->beat_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double s = (double)ts.tv_nsec * 1e-9 + w->o.heartbeat_s;
		ts.tv_sec += (time_t)s;
		ts.tv_nsec = (long)((s - floor(s)) * 1e9);
		pthread_cond_timedwait(&w->beat_cv, &w->beat_mu, &ts);
		if (w->beat_stop)
			break;
		pthread_mutex_lock(&w->mpi);
		dj_wire_beat(w->l, 0, NULL); /* a failure shows at rank 0 as silence */
		pthread_mutex_unlock(&w->mpi);
		watch_drain(w, &deadline, &cancelled);
	}
	pthread_mutex_unlock(&w->beat_mu);
	return NULL;
}

static void beat_start(worker *w)
{
	if (!w->l->threads || w->o.worker_timeout_s <= 0)
		return;
	w->beating = pthread_create(&w->beat, NULL, beat_main, w) == 0;
}

static void beat_end(worker *w)
{
	if (!w->beating)
		return;
	pthread_mutex_lock(&w->beat_mu);
	w->beat_stop = true;
	pthread_cond_signal(&w->beat_cv);
	pthread_mutex_unlock(&w->beat_mu);
	pthread_join(w->beat, NULL);
	w->beating = false;
}

static uint32_t want(const worker *w)
{
	size_t max = w->o.max_inflight, n = 2;
	if (w->avg_s >= 0)
		n = 1 + (size_t)ceil(QUEUE_AHEAD_S / (w->avg_s > 1e-7 ? w->avg_s : 1e-7));
	if (n < 2)
		n = 2;
	return (uint32_t)(n < max ? n : max);
}

static int send_frame(worker *w, int tag, const dj_buf *m)
{
	pthread_mutex_lock(&w->mpi);
	int rc = dj_wire_send(w->l, 0, tag, m, w->err);
	pthread_mutex_unlock(&w->mpi);
	return rc;
}

static int flush(worker *w)
{
	if (!w->nout)
		return 0;
	int rc = send_frame(w, DJ_WIRE_RESULTS, &w->out);
	w->nout = 0;
	dj_wire_results_begin(&w->out, want(w), w->beating ? DJ_WIRE_FLAG_BEATS : 0);
	return rc;
}

static int on_items(worker *w)
{
	dj_wire_reader r;
	dj_bytes item;
	uint64_t id;
	int rc;
	dj_wire_reader_init(&r, w->in.ptr, w->in.len);
	if ((rc = dj_wire_items_open(&r, w->err)) < 0)
		return rc;
	while ((rc = dj_wire_item_next(&r, &id, &item, w->err)) > 0) {
		dj_run__entry *en = calloc(1, sizeof(*en));
		if (!en)
			return dj_err_set(w->err, DJ_ENOMEM, "out of memory for an item");
		en->id = id;
		en->item = (dj_buf)DJ_BUF_INIT;
		if (dj_buf_add(&en->item, item.ptr, item.len) < 0 ||
		    dj_run__fifo_push(&w->queue, en) < 0) {
			dj_run__entry_free(en);
			return dj_err_set(w->err, DJ_ENOMEM, "out of memory for an item");
		}
	}
	return rc;
}

/* Take in everything rank 0 has sent so far. */
static int receive(worker *w)
{
	for (;;) {
		int got, tag, from, rc;
		pthread_mutex_lock(&w->mpi);
		rc = dj_wire_poll(w->l, 0, &got, &tag, &from, &w->in, w->err);
		pthread_mutex_unlock(&w->mpi);
		if (rc < 0 || !got)
			return rc;
		w->heard0 = dj_run__now();
		if (tag == DJ_WIRE_ITEMS && (rc = on_items(w)) < 0)
			return rc;
		if (tag == DJ_WIRE_STOP) {
			dj_wire_reader r;
			dj_wire_reader_init(&r, w->in.ptr, w->in.len);
			if ((rc = dj_wire_stop_decode(&r, &w->stop_mode, w->err)) < 0)
				return rc;
		}
	}
}

static int add_result(worker *w, uint64_t id, const dj_err *werr, double secs)
{
	dj_wire_result res = {.id = id, .code = werr->code, .work_s = secs};
	res.msg = (dj_bytes){(const uint8_t *)werr->msg, werr->code ? strlen(werr->msg) : 0};
	res.data = dj_buf_bytes(&w->data); /* after a failure too: the job's details */
	if (dj_wire_result_add(&w->out, &res) < 0)
		return dj_err_set(w->err, DJ_ENOMEM, "result of item %llu: %zu bytes is too large",
		                  (unsigned long long)id, w->data.len);
	if (!w->nout++)
		w->out_t0 = dj_run__now();
	w->avg_s = w->avg_s < 0 ? secs : 0.8 * w->avg_s + 0.2 * secs;
	/* Results double as the request for more: send them while half the wanted queue is
	 * still left, so the next items arrive before this worker runs dry. */
	bool low = w->queue.len <= want(w) / 2;
	bool flush_now = secs >= FLUSH_SLOW_S || low || w->nout >= FLUSH_COUNT ||
	                 w->out.len >= FLUSH_BYTES || dj_run__now() - w->out_t0 >= FLUSH_AGE_S;
	return flush_now ? flush(w) : 0;
}

static int work_next(worker *w)
{
	dj_run__entry *en = dj_run__fifo_pop(&w->queue);
	dj_bytes item = dj_buf_bytes(&en->item);
	dj_err werr = DJ_ERR_INIT;
	double secs;
	dj_run__work_one(w->job, w->ctx, &item, &w->data, &werr, &secs);
	int rc = add_result(w, en->id, &werr, secs);
	dj_run__entry_free(en);
	return rc;
}

static int wait_for_items(worker *w, unsigned *idle)
{
	int rc = flush(w);
	double limit = ROOT_SILENCE * w->o.worker_timeout_s;
	if (rc == 0 && w->o.worker_timeout_s > 0 && dj_run__now() - w->heard0 > limit)
		rc = dj_err_set(w->err, DJ_ERROR, "rank %d: no word from rank 0 for %.0f s",
		                w->l->rank, limit);
	dj_run__nap(idle);
	return rc;
}

static int serve_loop(worker *w)
{
	unsigned idle = 0;
	int rc = dj_wire_results_begin(&w->out, want(w), w->beating ? DJ_WIRE_FLAG_BEATS : 0);
	if (rc == 0)
		rc = send_frame(w, DJ_WIRE_RESULTS, &w->out); /* hello: the first request */
	while (rc == 0) {
		if ((rc = receive(w)) < 0 || w->stop_mode == DJ_WIRE_STOP_DROP)
			break;
		if (w->queue.len) {
			idle = 0;
			rc = work_next(w);
		} else if (w->stop_mode == DJ_WIRE_STOP_FINISH) {
			break;
		} else {
			rc = wait_for_items(w, &idle);
		}
	}
	if (rc == 0)
		rc = flush(w);
	dj_run__fifo_dispose(&w->queue); /* dropped: rank 0 releases what it did not get back */
	return rc;
}

static void worker_init(worker *w, const dj_job *job, void *ctx, const dj_run_opts *o,
                        const dj_wire_link *l, dj_err *err)
{
	memset(w, 0, sizeof(*w));
	w->job = job;
	w->ctx = ctx;
	w->o = *o;
	dj_run__resolve_opts(&w->o);
	w->l = l;
	w->err = err;
	w->in = w->out = w->data = (dj_buf)DJ_BUF_INIT;
	w->avg_s = -1;
	w->heard0 = dj_run__now();
	pthread_mutex_init(&w->mpi, NULL);
	pthread_mutex_init(&w->beat_mu, NULL);
	pthread_cond_init(&w->beat_cv, NULL);
}

static void worker_dispose(worker *w)
{
	dj_buf_dispose(&w->in);
	dj_buf_dispose(&w->out);
	dj_buf_dispose(&w->data);
	pthread_mutex_destroy(&w->mpi);
	pthread_mutex_destroy(&w->beat_mu);
	pthread_cond_destroy(&w->beat_cv);
}

int dj_run__serve(const dj_job *job, void *ctx, const dj_run_opts *o, const dj_wire_link *l,
                  dj_tally *t, dj_err *err)
{
	worker w;
	dj_err serr = DJ_ERR_INIT; /* start's failure goes to rank 0, not to this rank's exit */
	int rc = 0;
	worker_init(&w, job, ctx, o, l, err);
	t->rank = l->rank;
	t->size = l->size;
	beat_start(&w); /* before start: a slow start must not look like a dead rank */
	dj_run_info info = {.rank = l->rank, .size = l->size, .coordinator = false, .worker = true};
	int src = job->start ? job->start(ctx, &info, &serr) : 0;
	if (src < 0) {
		if (!serr.code)
			dj_err_set(&serr, src, "%s", dj_strerror(src));
		dj_err_context(&serr, "%s: start on rank %d", job->name ? job->name : "job",
		               l->rank);
	} else {
		rc = serve_loop(&w);
	}
	beat_end(&w); /* every heartbeat now precedes the bye */
	dj_buf bye = DJ_BUF_INIT;
	if (dj_wire_bye_encode(&bye, serr.code ? serr.code : rc, serr.code ? serr.msg : err->msg) ==
	    0)
		send_frame(&w, DJ_WIRE_BYE, &bye);
	dj_buf_dispose(&bye);
	worker_dispose(&w);
	if (job->finish)
		job->finish(ctx, NULL);
	return rc;
}
