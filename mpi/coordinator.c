/*
 * Rank 0 under MPI: plan, dispatch, collect, commit, stop, and watch for silent workers.
 *
 * Dispatch is pull-driven: each worker states in every RESULTS frame how many items it wants
 * in flight (from its own item times), and rank 0 tops it up to min(want, max_inflight) from
 * the pending queue. A worker answers in the order it was given, so its in-flight queue here
 * is a FIFO whose head is the item it is running.
 *
 * The loop never blocks: frames go out through non-blocking sends (net.c outbox) and come in
 * by polling, with a short sleep when nothing happened (the ranks share cores with workers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/engine.h"
#include "mpi/local.h"
#include "mpi/net.h"
#include "mpi/wire.h"

#define FRAME_SOFT_MAX ((size_t)4 << 20) /* items per ITEMS frame: stop adding past 4 MiB */
#define LOST_TWICE 2                     /* an item on two lost workers fails, not retried */
#define LOCAL_INFLIGHT 2 /* rank 0's own worker: the item it runs and one queued */

typedef struct peer {
	dj_run__fifo inflight; /* sent, no result yet; oldest first */
	size_t want;           /* in flight the worker asked for; 0 until its hello */
	double heard;          /* when its last frame arrived */
	bool beats;            /* it sends heartbeats, so silence means it is gone */
	bool stop_sent;
	bool gone; /* said bye or presumed lost */
	bool lost; /* presumed dead: whatever it sends from now on is ignored */
} peer;

typedef struct coord {
	dj_run__engine e;
	const dj_wire_link *l;
	peer *p; /* by rank; p[0]: rank 0's own worker thread, when there is one */
	dj_run__local *lw;
	int live;
	dj_wire_outbox out;
	dj_buf in, frame, data;
	double next_beat;
	double deadline; /* drain deadline after a signal; 0 = none */
	char worker_err[300];
} coord;

static void note_worker_error(coord *c, int rank, const char *msg)
{
	if (!c->worker_err[0])
		snprintf(c->worker_err, sizeof(c->worker_err), "rank %d: %.250s", rank, msg);
}

/* Put a departed worker's items back at the front of the queue, in their order. The head was
 * running when a worker was lost: it is charged, and fails if it was charged before. */
static int take_back(coord *c, int rank, bool blame_head)
{
	peer *p = &c->p[rank];
	dj_run__entry *head = blame_head ? dj_run__fifo_pop(&p->inflight) : NULL;
	while (p->inflight.len) {
		dj_run__entry *en = dj_run__fifo_remove(&p->inflight, p->inflight.len - 1);
		if (dj_run__fifo_push_front(&c->e.pending, en) < 0) {
			dj_run__entry_free(en);
			return dj_run__fail(&c->e,
			                    dj_err_set(c->e.err, DJ_ENOMEM, "out of memory"));
		}
		if (!c->e.stop)
			c->e.t->redispatched++;
	}
	if (!head)
		return 0;
	if (++head->lost < LOST_TWICE) {
		if (!c->e.stop)
			c->e.t->redispatched++;
		if (dj_run__fifo_push_front(&c->e.pending, head) < 0) {
			dj_run__entry_free(head);
			return dj_run__fail(&c->e,
			                    dj_err_set(c->e.err, DJ_ENOMEM, "out of memory"));
		}
		return 0;
	}
	dj_err werr = DJ_ERR_INIT;
	dj_err_set(&werr, DJ_ERROR,
	           "not retried: lost worker twice while running it (last rank %d)", rank);
	dj_buf none = DJ_BUF_INIT;
	return dj_run__finished(&c->e, head, &werr, &none, 0, rank);
}

static bool work_left(const coord *c)
{
	if (!c->e.plan_done || c->e.pending.len)
		return true;
	for (int r = c->lw ? 0 : 1; r < c->l->size; r++)
		if (!c->p[r].gone && c->p[r].inflight.len)
			return true;
	return false;
}

static void leave(coord *c, int rank, bool lost)
{
	peer *p = &c->p[rank];
	p->gone = true;
	p->lost = lost;
	c->live--;
	if (lost)
		c->e.t->workers_lost++;
	take_back(c, rank, lost);
	if (c->live == 0 && !c->lw && !c->e.stop && work_left(c)) {
		dj_err_set(c->e.err, DJ_ERROR, "no worker rank left (%s)",
		           c->worker_err[0] ? c->worker_err : "all presumed lost");
		dj_run__fail(&c->e, DJ_ERROR);
	}
}

static int on_result(coord *c, int rank, const dj_wire_result *res)
{
	peer *p = &c->p[rank];
	size_t i = 0;
	while (i < p->inflight.len && dj_run__fifo_at(&p->inflight, i)->id != res->id)
		i++;
	if (i == p->inflight.len)
		return dj_run__fail(&c->e, dj_err_set(c->e.err, DJ_EFORMAT,
		                                      "rank %d returned item %llu it does not hold",
		                                      rank, (unsigned long long)res->id));
	dj_run__entry *en = dj_run__fifo_remove(&p->inflight, i);
	dj_err werr = DJ_ERR_INIT;
	if (res->code) {
		size_t n =
		    res->msg.len < sizeof(werr.msg) - 1 ? res->msg.len : sizeof(werr.msg) - 1;
		werr.code = res->code;
		memcpy(werr.msg, res->msg.ptr, n);
	}
	dj_buf_reset(&c->data);
	if (dj_buf_add(&c->data, res->data.ptr, res->data.len) < 0) {
		dj_run__entry_free(en);
		return dj_run__fail(&c->e, dj_err_set(c->e.err, DJ_ENOMEM, "out of memory"));
	}
	return dj_run__finished(&c->e, en, &werr, &c->data, res->work_s, rank);
}

static int on_results(coord *c, int rank)
{
	dj_wire_reader r;
	dj_wire_result res;
	uint32_t want;
	uint8_t flags;
	int rc;
	dj_wire_reader_init(&r, c->in.ptr, c->in.len);
	if ((rc = dj_wire_results_open(&r, &want, &flags, c->e.err)) < 0)
		return dj_run__fail(&c->e, rc);
	c->p[rank].want = want;
	c->p[rank].beats = flags & DJ_WIRE_FLAG_BEATS;
	while ((rc = dj_wire_result_next(&r, &res, c->e.err)) > 0)
		if ((rc = on_result(c, rank, &res)) < 0)
			return rc;
	return rc < 0 ? dj_run__fail(&c->e, rc) : 0;
}

static void on_bye(coord *c, int rank)
{
	dj_wire_reader r;
	dj_bytes msg;
	int32_t code = 0;
	dj_err perr = DJ_ERR_INIT;
	dj_wire_reader_init(&r, c->in.ptr, c->in.len);
	if (dj_wire_bye_decode(&r, &code, &msg, &perr) < 0)
		note_worker_error(c, rank, perr.msg);
	else if (code)
		note_worker_error(c, rank, (const char *)msg.ptr); /* NUL-terminated by dj_buf */
	leave(c, rank, false);
}

/*
 * Handle what has arrived; at most a bounded number of frames so the timers still run. A bad
 * frame stops the run (dj_run__fail) but the loop goes on, to tell the workers and collect
 * what they finish; only a failing MPI receive ends the loop (< 0).
 */
static int receive(coord *c, double now, bool *busy)
{
	for (int k = 0; k < 256; k++) {
		int got, tag, from, rc;
		if ((rc = dj_wire_poll(c->l, MPI_ANY_SOURCE, &got, &tag, &from, &c->in, c->e.err)) <
		    0)
			return dj_run__fail(&c->e, rc);
		if (!got)
			return 0;
		*busy = true;
		peer *p = &c->p[from];
		if (p->lost || p->gone)
			continue; /* presumed dead (its items went elsewhere), or it said bye */
		p->heard = now;
		if (tag == DJ_WIRE_BEAT)
			p->beats = true;
		else if (tag == DJ_WIRE_RESULTS)
			on_results(c, from);
		else if (tag == DJ_WIRE_BYE)
			on_bye(c, from);
	}
	return 0;
}

/* Results of rank 0's own worker. */
static int collect_local(coord *c, bool *busy)
{
	uint64_t id;
	dj_err werr;
	double secs;
	peer *p = &c->p[0];
	while (c->lw && dj_run__local_take(c->lw, &id, &werr, &c->data, &secs) == 1) {
		size_t i = 0;
		*busy = true;
		while (i < p->inflight.len && dj_run__fifo_at(&p->inflight, i)->id != id)
			i++;
		if (i == p->inflight.len)
			continue; /* dropped by a stop meanwhile: released already */
		dj_run__entry *en = dj_run__fifo_remove(&p->inflight, i);
		int rc = dj_run__finished(&c->e, en, &werr, &c->data, secs, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Rank 0's own worker takes items only when no worker rank is waiting for some. */
static int dispatch_local(coord *c)
{
	peer *p = &c->p[0];
	dj_run__entry *en;
	while (p->inflight.len < LOCAL_INFLIGHT && (en = dj_run__next(&c->e))) {
		if (dj_run__fifo_push(&p->inflight, en) < 0) {
			dj_run__entry_free(en);
			return dj_run__fail(&c->e,
			                    dj_err_set(c->e.err, DJ_ENOMEM, "out of memory"));
		}
		int rc = dj_run__local_push(c->lw, en->id, dj_buf_bytes(&en->item), c->e.err);
		if (rc < 0)
			return dj_run__fail(&c->e, rc);
	}
	return 0;
}

/* A stop: the queued items of rank 0's own worker go back to pending (then released). */
static void drop_local(coord *c)
{
	uint64_t ids[LOCAL_INFLIGHT + 8];
	size_t n;
	peer *p = &c->p[0];
	if (!c->lw)
		return;
	dj_run__local_drop(c->lw, ids, sizeof(ids) / sizeof(ids[0]), &n);
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < p->inflight.len; i++)
			if (dj_run__fifo_at(&p->inflight, i)->id == ids[k]) {
				dj_run__entry *en = dj_run__fifo_remove(&p->inflight, i);
				if (dj_run__fifo_push_front(&c->e.pending, en) < 0)
					dj_run__entry_free(en);
				break;
			}
}

static int send_items(coord *c, int rank, size_t room)
{
	peer *p = &c->p[rank];
	dj_run__entry *en;
	dj_wire_items_begin(&c->frame);
	while (room-- && c->frame.len < FRAME_SOFT_MAX && (en = dj_run__next(&c->e))) {
		if (dj_wire_item_add(&c->frame, en->id, dj_buf_bytes(&en->item)) < 0 ||
		    dj_run__fifo_push(&p->inflight, en) < 0) {
			dj_run__entry_free(en);
			return dj_run__fail(&c->e,
			                    dj_err_set(c->e.err, DJ_ENOMEM, "out of memory"));
		}
	}
	int rc = dj_wire_post(&c->out, c->l, rank, DJ_WIRE_ITEMS, &c->frame, c->e.err);
	return rc < 0 ? dj_run__fail(&c->e, rc) : 0;
}

static int dispatch(coord *c, bool *busy)
{
	size_t max = c->e.o.max_inflight;
	int rc = dj_run__refill(&c->e, (size_t)c->live * max + 1);
	for (int r = 1; rc == 0 && r < c->l->size && c->e.pending.len && !c->e.stop; r++) {
		peer *p = &c->p[r];
		size_t cap = p->want < max ? p->want : max;
		if (p->gone || p->stop_sent || p->inflight.len >= cap)
			continue;
		*busy = true;
		rc = send_items(c, r, cap - p->inflight.len);
	}
	if (rc == 0 && c->lw && !c->e.stop)
		rc = dispatch_local(c);
	return rc;
}

static void send_stops(coord *c, int mode)
{
	for (int r = 1; r < c->l->size; r++) {
		peer *p = &c->p[r];
		if (p->gone || p->stop_sent)
			continue;
		dj_err serr = DJ_ERR_INIT;
		if (dj_wire_stop_encode(&c->frame, mode) == 0 &&
		    dj_wire_post(&c->out, c->l, r, DJ_WIRE_STOP, &c->frame, &serr) == 0)
			p->stop_sent = true;
		else
			leave(c, r, true); /* cannot reach it: treat as lost */
	}
}

static void beat_and_watch(coord *c, double now)
{
	const dj_run_opts *o = &c->e.o;
	bool beat = now >= c->next_beat;
	/* During a signal drain the launcher may kill us any second (a default mpirun does so
	 * 1 s after its own SIGTERM, and sends that SIGTERM when a rank dies), so a worker that
	 * misses two heartbeats is given up: its items are released, never committed twice. */
	double limit = o->worker_timeout_s;
	if (c->deadline && (limit <= 0 || limit > 2 * o->heartbeat_s))
		limit = 2 * o->heartbeat_s;
	if (beat)
		c->next_beat = now + o->heartbeat_s;
	for (int r = 1; r < c->l->size; r++) {
		peer *p = &c->p[r];
		if (p->gone)
			continue;
		if (beat && !p->stop_sent)
			dj_wire_beat(c->l, r, NULL); /* a failure shows up as silence */
		/* A worker without heartbeats is silent while it works: judge it only by items,
		 * and never by the short drain limit. */
		double lim = p->beats ? limit : o->worker_timeout_s;
		bool judged = p->beats || p->inflight.len;
		if (lim > 0 && judged && now - p->heard > lim)
			leave(c, r, true);
	}
}

static void loop(coord *c)
{
	dj_run__engine *e = &c->e;
	unsigned idle = 0;
	while (c->live > 0 || (c->lw && c->p[0].inflight.len)) {
		double now = dj_run__now();
		bool busy = false;
		if (receive(c, now, &busy) < 0)
			break;
		collect_local(c, &busy);
		dj_run__tick(e, now);
		if (!e->stop)
			dispatch(c, &busy);
		if (e->stop) {
			if (e->stop == DJ_RUN__STOP_SIGNAL && !c->deadline)
				c->deadline = now + e->o.drain_timeout_s;
			send_stops(c, DJ_WIRE_STOP_DROP);
			drop_local(c);
			/* The launcher may kill us any moment now (mpirun: 1 s after its SIGTERM):
			 * settle every item as soon as its fate is known, nothing waits. */
			dj_run__commit_due(e, now, true);
			dj_run__release_pending(e);
		}
		if (!e->stop && !work_left(c))
			send_stops(c, DJ_WIRE_STOP_FINISH);
		dj_run__commit_due(e, now, false);
		beat_and_watch(c, now);
		dj_wire_outbox_progress(&c->out, NULL);
		if (c->deadline && now > c->deadline)
			break;
		if (busy)
			idle = 0;
		else
			dj_run__nap(&idle);
	}
}

/* After the loop: workers still holding items missed the drain deadline (or the loop ended on
 * an error). Their items are released; returns whether any worker is still running. */
static bool abandon_stragglers(coord *c)
{
	bool any = false;
	for (int r = 1; r < c->l->size; r++) {
		if (c->p[r].gone)
			continue;
		any = true;
		c->p[r].gone = true;
		take_back(c, r, false); /* into pending: released by dj_run__engine_end */
	}
	return any;
}

static int coord_init(coord *c, const dj_job *job, void *ctx, const dj_run_opts *o,
                      const dj_wire_link *l, dj_tally *t, dj_err *err)
{
	memset(c, 0, sizeof(*c));
	c->in = c->frame = c->data = (dj_buf)DJ_BUF_INIT;
	int rc = dj_run__engine_init(&c->e, job, ctx, o, t, err);
	if (rc < 0)
		return rc;
	c->l = l;
	c->p = calloc((size_t)l->size, sizeof(*c->p));
	if (!c->p)
		return dj_err_set(err, DJ_ENOMEM, "out of memory for %d ranks", l->size);
	c->live = l->size - 1;
	double now = dj_run__now();
	for (int r = 1; r < l->size; r++)
		c->p[r].heard = now;
	c->next_beat = now;
	return 0;
}

static void coord_dispose(coord *c)
{
	dj_run__local_free(c->lw);
	if (c->p)
		for (int r = 0; r < c->l->size; r++)
			dj_run__fifo_dispose(&c->p[r].inflight);
	free(c->p);
	dj_buf_dispose(&c->in);
	dj_buf_dispose(&c->frame);
	dj_buf_dispose(&c->data);
	dj_run__engine_dispose(&c->e);
}

int dj_run__coordinate(const dj_job *job, void *ctx, const dj_run_opts *o, const dj_wire_link *l,
                       dj_tally *t, dj_err *err, bool *can_finalize)
{
	coord c;
	*can_finalize = true;
	int rc = coord_init(&c, job, ctx, o, l, t, err);
	if (rc < 0) {
		coord_dispose(&c);
		return rc; /* the workers are told nothing: MPI itself failed to set up */
	}
	bool local = job->work_beside_coordinator && o->rank0_works;
	dj_run_info info = {.rank = 0, .size = l->size, .coordinator = true, .worker = local};
	if (job->start && (rc = job->start(ctx, &info, err)) < 0) {
		dj_err_context(err, "%s: start on rank 0", job->name ? job->name : "job");
		dj_run__fail(&c.e, rc);
	} else if (local && (rc = dj_run__local_start(&c.lw, job, ctx, err)) < 0) {
		dj_run__fail(&c.e, rc);
	}
	loop(&c);
	/* Rank 0's own item, if it still runs (the loop ended on a deadline or an error), is
	 * stopped through the job's cancel and waited for: its work shares the job's context,
	 * which the caller frees next. */
	if (c.lw) {
		bool busy = false;
		if (c.p[0].inflight.len && job->cancel)
			job->cancel(ctx);
		drop_local(&c);
		dj_run__local_stop(c.lw);
		collect_local(&c, &busy);
		while (c.p[0].inflight.len) { /* lost in a drop race: give it back */
			dj_run__entry *en = dj_run__fifo_pop(&c.p[0].inflight);
			if (dj_run__fifo_push_front(&c.e.pending, en) < 0)
				dj_run__entry_free(en);
		}
	}
	if (abandon_stragglers(&c))
		*can_finalize = false;
	for (int r = 1; r < l->size; r++)
		if (c.p[r].lost && dj_wire_stop_encode(&c.frame, DJ_WIRE_STOP_DROP) == 0)
			dj_wire_post(&c.out, l, r, DJ_WIRE_STOP, &c.frame, NULL); /* if alive */
	rc = dj_run__engine_end(&c.e);
	t->rank = 0;
	t->size = l->size;
	dj_wire_outbox_close(&c.out, dj_run__now() + 1.0);
	coord_dispose(&c);
	if (job->finish)
		job->finish(ctx, t);
	return rc;
}
