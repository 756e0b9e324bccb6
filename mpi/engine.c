#include "mpi/engine.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double dj_run__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void dj_run__nap(unsigned *idle)
{
	long ns = 20000L << (*idle < 4 ? *idle : 4);
	struct timespec ts = {0, ns > 250000 ? 250000 : ns};
	nanosleep(&ts, NULL);
	(*idle)++;
}

/* ---- fifo ---- */

static int fifo_grow(dj_run__fifo *f)
{
	size_t cap = f->cap ? f->cap * 2 : 16;
	dj_run__entry **v = malloc(cap * sizeof(*v));
	if (!v)
		return DJ_ENOMEM;
	for (size_t i = 0; i < f->len; i++)
		v[i] = f->v[(f->head + i) % f->cap];
	free(f->v);
	f->v = v;
	f->cap = cap;
	f->head = 0;
	return 0;
}

int dj_run__fifo_push(dj_run__fifo *f, dj_run__entry *e)
{
	if (f->len == f->cap && fifo_grow(f) < 0)
		return DJ_ENOMEM;
	f->v[(f->head + f->len++) % f->cap] = e;
	return 0;
}

int dj_run__fifo_push_front(dj_run__fifo *f, dj_run__entry *e)
{
	if (f->len == f->cap && fifo_grow(f) < 0)
		return DJ_ENOMEM;
	f->head = (f->head + f->cap - 1) % f->cap;
	f->v[f->head] = e;
	f->len++;
	return 0;
}

dj_run__entry *dj_run__fifo_at(const dj_run__fifo *f, size_t i)
{
	return i < f->len ? f->v[(f->head + i) % f->cap] : NULL;
}

dj_run__entry *dj_run__fifo_pop(dj_run__fifo *f)
{
	return dj_run__fifo_remove(f, 0);
}

dj_run__entry *dj_run__fifo_remove(dj_run__fifo *f, size_t i)
{
	if (i >= f->len)
		return NULL;
	dj_run__entry *e = dj_run__fifo_at(f, i);
	if (i == 0) {
		f->head = (f->head + 1) % f->cap;
	} else {
		for (size_t k = i; k + 1 < f->len; k++)
			f->v[(f->head + k) % f->cap] = f->v[(f->head + k + 1) % f->cap];
	}
	f->len--;
	return e;
}

void dj_run__entry_free(dj_run__entry *e)
{
	if (!e)
		return;
	dj_buf_dispose(&e->item);
	free(e);
}

void dj_run__fifo_dispose(dj_run__fifo *f)
{
	dj_run__entry *e;
	while ((e = dj_run__fifo_pop(f)))
		dj_run__entry_free(e);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/* ---- engine ---- */

static const char *job_name(const dj_run__engine *e)
{
	return e->job->name ? e->job->name : "job";
}

static int sink_push(dj_job_sink *sink, const void *item, size_t len, dj_err *err)
{
	dj_run__engine *e = (dj_run__engine *)((char *)sink - offsetof(dj_run__engine, sink));
	/* The flag is read here too, so a long plan (a big key query) ends soon after a signal */
	if (e->stop || (e->o.stop && *e->o.stop))
		return DJ_ESTOP; /* no message: plan just returns, and that is not an error */
	if (len > DJ_RUN_ITEM_MAX)
		return dj_err_set(err, DJ_ENOMEM, "item of %zu bytes is over the %zu-byte cap", len,
		                  DJ_RUN_ITEM_MAX);
	dj_run__entry *en = calloc(1, sizeof(*en));
	if (!en)
		return dj_err_set(err, DJ_ENOMEM, "out of memory queueing an item");
	en->item = (dj_buf)DJ_BUF_INIT;
	if (dj_buf_add(&en->item, item, len) < 0 || dj_run__fifo_push(&e->pending, en) < 0) {
		dj_run__entry_free(en);
		return dj_err_set(err, DJ_ENOMEM, "out of memory queueing an item");
	}
	en->id = ++e->next_id;
	e->t->planned++;
	e->t->item_bytes += len;
	return 0;
}

int dj_run__check_job(const dj_job *job, dj_err *err)
{
	const char *name = job && job->name ? job->name : "job";
	if (!job || !job->plan || !job->work || !job->commit)
		return dj_err_set(err, DJ_EUSAGE, "%s: plan, work and commit are required", name);
	return 0;
}

void dj_run_opts_init(dj_run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->batch_size = 100;
	o->max_latency_s = 1;
	o->max_inflight = 256;
	o->plan_batch = 1000;
	o->drain_timeout_s = 20;
	o->heartbeat_s = 0.5;
	o->worker_timeout_s = 30;
	o->rank0_works = true;
}

void dj_run__resolve_opts(dj_run_opts *o)
{
	dj_run_opts d;
	dj_run_opts_init(&d);
	if (!o->batch_size)
		o->batch_size = d.batch_size;
	if (!o->max_inflight)
		o->max_inflight = d.max_inflight;
	if (!o->plan_batch)
		o->plan_batch = d.plan_batch;
	if (o->heartbeat_s <= 0)
		o->heartbeat_s = d.heartbeat_s;
	if (o->max_latency_s < 0)
		o->max_latency_s = 0;
	if (o->drain_timeout_s < 0)
		o->drain_timeout_s = 0;
}

int dj_run__engine_init(dj_run__engine *e, const dj_job *job, void *ctx, const dj_run_opts *o,
                        dj_tally *t, dj_err *err)
{
	memset(e, 0, sizeof(*e));
	int rc = dj_run__check_job(job, err);
	if (rc < 0)
		return rc;
	e->job = job;
	e->ctx = ctx;
	e->o = *o;
	dj_run__resolve_opts(&e->o);
	e->t = t;
	e->err = err;
	e->sink.push = sink_push;
	e->batch = calloc(e->o.batch_size, sizeof(*e->batch));
	e->batch_entry = calloc(e->o.batch_size, sizeof(*e->batch_entry));
	e->batch_data = calloc(e->o.batch_size, sizeof(*e->batch_data));
	if (!e->batch || !e->batch_entry || !e->batch_data) {
		dj_run__engine_dispose(e);
		return dj_err_set(err, DJ_ENOMEM, "out of memory for a batch of %zu",
		                  e->o.batch_size);
	}
	e->t0 = dj_run__now();
	e->next_progress = e->t0 + e->o.progress_s;
	return 0;
}

void dj_run__engine_dispose(dj_run__engine *e)
{
	for (size_t i = 0; i < e->nbatch; i++) {
		dj_run__entry_free(e->batch_entry[i]);
		dj_buf_dispose(&e->batch_data[i]);
	}
	free(e->batch);
	free(e->batch_entry);
	free(e->batch_data);
	dj_run__fifo_dispose(&e->pending);
	e->batch = NULL;
	e->batch_entry = NULL;
	e->batch_data = NULL;
	e->nbatch = 0;
}

int dj_run__fail(dj_run__engine *e, int rc)
{
	if (!e->rc)
		e->rc = rc;
	e->stop = DJ_RUN__STOP_ERROR;
	return rc;
}

void dj_run__tick(dj_run__engine *e, double now)
{
	if (e->o.stop && *e->o.stop && !e->t->signal) {
		e->t->signal = (int)*e->o.stop;
		if (!e->stop)
			e->stop = DJ_RUN__STOP_SIGNAL;
	}
	if (e->o.progress && e->o.progress_s > 0 && now >= e->next_progress) {
		e->t->wall_s = now - e->t0;
		e->o.progress(e->o.arg, e->t);
		e->next_progress = now + e->o.progress_s;
	}
}

int dj_run__refill(dj_run__engine *e, size_t low)
{
	if (e->plan_done || e->stop || e->pending.len >= low)
		return 0;
	uint64_t before = e->t->planned;
	dj_err perr = DJ_ERR_INIT;
	double t0 = dj_run__now();
	int rc = e->job->plan(e->ctx, &e->sink, e->o.plan_batch, &perr);
	e->t->plan_s += dj_run__now() - t0;
	if (rc == DJ_ESTOP)
		return 0; /* a push saw the stop: not an error */
	if (rc < 0) {
		dj_err_set(e->err, rc, "%s: plan: %s", job_name(e), perr.msg);
		return dj_run__fail(e, rc);
	}
	if (e->t->planned == before)
		e->plan_done = true;
	return 0;
}

dj_run__entry *dj_run__next(dj_run__engine *e)
{
	return e->stop ? NULL : dj_run__fifo_pop(&e->pending);
}

void dj_run__work_one(const dj_job *job, void *ctx, const dj_bytes *item, dj_buf *out, dj_err *werr,
                      double *secs)
{
	dj_err_clear(werr);
	dj_buf_reset(out);
	double t0 = dj_run__now();
	int rc = job->work(ctx, item, out, werr);
	*secs = dj_run__now() - t0;
	if (rc >= 0)
		dj_err_clear(werr); /* success: whatever work left in err does not count */
	else if (!werr->code)
		dj_err_set(werr, rc, "%s", dj_strerror(rc)); /* work forgot the message */
	else if (!werr->msg[0])
		snprintf(werr->msg, sizeof(werr->msg), "%s", dj_strerror(werr->code));
}

/* Report each result of a finished commit (or release) to the tool. */
static void report(dj_run__engine *e, const dj_job_result *r, size_t n)
{
	if (!e->o.on_result)
		return;
	for (size_t i = 0; i < n; i++)
		e->o.on_result(e->o.arg, &r[i]);
}

static void count_outcome(dj_tally *t, const dj_job_result *r)
{
	switch (r->outcome) {
	case DJ_JOB_DONE:
		t->done++;
		break;
	case DJ_JOB_FAILED:
		t->failed++;
		break;
	case DJ_JOB_SKIPPED:
		t->skipped++;
		break;
	case DJ_JOB_RELEASED:
		t->released++;
		break;
	}
	t->result_bytes += r->data.len;
	t->work_s += r->work_s;
}

static void clear_batch(dj_run__engine *e)
{
	for (size_t i = 0; i < e->nbatch; i++) {
		dj_run__entry_free(e->batch_entry[i]);
		e->batch_entry[i] = NULL;
		dj_buf_dispose(&e->batch_data[i]);
	}
	e->nbatch = 0;
}

/* Commit failed: nothing of the batch was applied, so its items go back to the job. */
static int release_batch(dj_run__engine *e)
{
	int rc = dj_run__release(e, e->batch_entry, e->nbatch);
	for (size_t i = 0; i < e->nbatch; i++) {
		e->batch_entry[i] = NULL;
		dj_buf_dispose(&e->batch_data[i]);
	}
	e->nbatch = 0;
	return rc;
}

static int commit_batch(dj_run__engine *e)
{
	if (!e->nbatch)
		return 0;
	dj_err cerr = DJ_ERR_INIT;
	double t0 = dj_run__now();
	int rc = e->job->commit(e->ctx, e->batch, e->nbatch, &cerr);
	e->t->commit_s += dj_run__now() - t0;
	e->t->commits++;
	if (rc < 0) {
		dj_err_set(e->err, rc, "%s: commit of %zu results: %s", job_name(e), e->nbatch,
		           cerr.msg);
		dj_run__fail(e, rc);
		e->commit_failed = true;
		release_batch(e);
		return rc;
	}
	for (size_t i = 0; i < e->nbatch; i++)
		count_outcome(e->t, &e->batch[i]);
	report(e, e->batch, e->nbatch);
	clear_batch(e);
	return 0;
}

int dj_run__commit_due(dj_run__engine *e, double now, bool force)
{
	if (!e->nbatch)
		return 0;
	if (force || e->nbatch >= e->o.batch_size || now - e->batch_t0 >= e->o.max_latency_s)
		return commit_batch(e);
	return 0;
}

int dj_run__finished(dj_run__engine *e, dj_run__entry *en, const dj_err *werr, dj_buf *data,
                     double work_s, int rank)
{
	if (e->commit_failed) {
		dj_buf_dispose(data);
		return dj_run__release(e, &en, 1);
	}
	if (!e->nbatch)
		e->batch_t0 = dj_run__now();
	size_t i = e->nbatch++;
	e->batch_entry[i] = en;
	e->batch_data[i] = *data;
	*data = (dj_buf)DJ_BUF_INIT;
	dj_job_result *r = &e->batch[i];
	memset(r, 0, sizeof(*r));
	r->id = en->id;
	r->item = dj_buf_bytes(&en->item);
	r->data = dj_buf_bytes(&e->batch_data[i]);
	r->err = *werr;
	r->work_s = work_s;
	r->rank = rank;
	r->outcome = werr->code ? DJ_JOB_FAILED : DJ_JOB_DONE;
	if (werr->code && e->o.stop_on_error && !e->stop) {
		e->stop = DJ_RUN__STOP_FAILED_ITEM;
		e->t->stopped_on_error = true;
	}
	if (e->nbatch >= e->o.batch_size)
		return commit_batch(e);
	return 0;
}

static int release_chunk(dj_run__engine *e, dj_run__entry **v, size_t n, dj_bytes *items,
                         dj_job_result *res)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		items[i] = dj_buf_bytes(&v[i]->item);
		memset(&res[i], 0, sizeof(res[i]));
		res[i].id = v[i]->id;
		res[i].item = items[i];
		res[i].outcome = DJ_JOB_RELEASED;
		res[i].rank = -1;
	}
	if (e->job->release) {
		dj_err rerr = DJ_ERR_INIT;
		rc = e->job->release(e->ctx, items, n, &rerr);
		if (rc < 0) {
			/* Keep going: the run still ends, and the message says what was left. */
			dj_err_set(e->err, rc, "%s: release of %zu items: %s", job_name(e), n,
			           rerr.msg);
			if (!e->rc)
				e->rc = rc;
		}
	}
	e->t->released += n;
	report(e, res, n);
	return rc;
}

int dj_run__release(dj_run__engine *e, dj_run__entry **v, size_t n)
{
	size_t chunk = e->o.batch_size;
	int rc = 0;
	dj_bytes *items = malloc(chunk * sizeof(*items));
	dj_job_result *res = malloc(chunk * sizeof(*res));
	if (!items || !res) {
		rc =
		    dj_run__fail(e, dj_err_set(e->err, DJ_ENOMEM, "out of memory releasing items"));
		goto done;
	}
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		int r = release_chunk(e, v + off, k, items, res);
		if (r < 0 && !rc)
			rc = r;
	}
done:
	for (size_t i = 0; i < n; i++)
		dj_run__entry_free(v[i]);
	free(items);
	free(res);
	return rc;
}

int dj_run__release_pending(dj_run__engine *e)
{
	int rc = 0;
	while (e->pending.len) {
		dj_run__entry *v[64];
		size_t n = 0;
		while (n < 64 && e->pending.len)
			v[n++] = dj_run__fifo_pop(&e->pending);
		int r = dj_run__release(e, v, n);
		if (r < 0 && !rc)
			rc = r;
	}
	return rc;
}

int dj_run__engine_end(dj_run__engine *e)
{
	/* What finished is committed even after a plan or MPI failure: the work is valid. */
	if (!e->commit_failed)
		dj_run__commit_due(e, dj_run__now(), true);
	release_batch(e); /* empty unless that commit failed */
	dj_run__release_pending(e);
	dj_tally *t = e->t;
	t->wall_s = dj_run__now() - e->t0;
	t->complete = e->plan_done && !e->rc && !t->released &&
	              t->done + t->failed + t->skipped == t->planned;
	if (e->rc)
		return e->rc;
	if (t->signal && !t->complete)
		return dj_err_set(e->err, DJ_ESTOP, "%s: stopped by signal %d; %llu items released",
		                  job_name(e), t->signal, (unsigned long long)t->released);
	return 0;
}
