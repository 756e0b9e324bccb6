/* jobs/job.h through dj_run_local (mpi/standalone.c, mpi/engine.c) with toy jobs: every item
 * committed once, failures counted, stop-on-error, batches bounded by size and latency, the
 * plan pulled in batches, a stop signal drains, plan and commit failures release the rest. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "jobs/job.h"
#include "mpi/engine.h"
#include "mpi/run.h"
#include "runner/exit.h"

#define MAXN 2000

typedef struct toy {
	unsigned n;          /* items 1..n */
	unsigned next;       /* last planned */
	unsigned fail_every; /* work fails on multiples */
	unsigned sleep_us;   /* work sleeps */
	unsigned stop_at;    /* work raises the stop flag on this item */
	unsigned plan_fail_at_call, commit_fail_at_call;
	volatile sig_atomic_t *flag;
	/* what happened */
	unsigned committed[MAXN + 1], failed[MAXN + 1], released[MAXN + 1];
	unsigned worked;
	unsigned plan_calls, commit_calls;
	unsigned batch_sizes[MAXN];
	unsigned max_unworked_at_plan; /* planned but not yet worked when plan was called again */
	double first_commit_gap;       /* not used by every test */
	bool started, finished_with_tally;
} toy;

static unsigned item_num(const dj_bytes *b)
{
	char s[16] = {0};
	memcpy(s, b->ptr, b->len < 15 ? b->len : 15);
	return (unsigned)strtoul(s, NULL, 10);
}

static int t_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	toy *t = ctx;
	(void)err;
	assert_true(info->coordinator && info->worker && info->size == 1);
	t->started = true;
	return 0;
}

static int t_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	toy *t = ctx;
	char s[16];
	if (++t->plan_calls == t->plan_fail_at_call)
		return dj_err_set(err, DJ_ETRANSIENT, "key source query timed out");
	unsigned unworked = t->next - t->worked;
	if (unworked > t->max_unworked_at_plan)
		t->max_unworked_at_plan = unworked;
	for (size_t i = 0; i < want && t->next < t->n; i++) {
		int n = snprintf(s, sizeof(s), "%u", ++t->next);
		int rc = dj_job_push(sink, s, (size_t)n, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int t_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	toy *t = ctx;
	unsigned n = item_num(item);
	t->worked++;
	if (t->sleep_us) {
		struct timespec ts = {0, (long)t->sleep_us * 1000L};
		nanosleep(&ts, NULL);
	}
	if (t->stop_at && n == t->stop_at)
		*t->flag = SIGTERM;
	if (t->fail_every && n % t->fail_every == 0) {
		dj_buf_addf(result, "trace %u", n); /* details beyond the message reach commit */
		return dj_err_set(err, DJ_ERROR, "item %u fails", n);
	}
	return dj_buf_addf(result, "%u", 2 * n);
}

static int t_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	toy *t = ctx;
	if (++t->commit_calls == t->commit_fail_at_call)
		return dj_err_set(err, DJ_ETRANSIENT, "deadlock found when trying to get lock");
	t->batch_sizes[t->commit_calls - 1] = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		unsigned k = item_num(&res[i].item);
		assert_true(k >= 1 && k <= t->n);
		assert_int_equal(res[i].id, k); /* ids follow plan order */
		if (res[i].err.code) {
			assert_int_equal(res[i].outcome, DJ_JOB_FAILED);
			assert_non_null(strstr(res[i].err.msg, "fails"));
			char trace[32];
			snprintf(trace, sizeof(trace), "trace %u", k);
			assert_int_equal(res[i].data.len, strlen(trace));
			assert_memory_equal(res[i].data.ptr, trace, strlen(trace));
			t->failed[k]++;
			continue;
		}
		assert_int_equal(res[i].outcome, DJ_JOB_DONE);
		assert_int_equal(item_num(&res[i].data), 2 * k);
		t->committed[k]++;
	}
	return 0;
}

static int t_release(void *ctx, const dj_bytes *items, size_t n, dj_err *err)
{
	toy *t = ctx;
	(void)err;
	for (size_t i = 0; i < n; i++)
		t->released[item_num(&items[i])]++;
	return 0;
}

static void t_finish(void *ctx, const dj_tally *tally)
{
	toy *t = ctx;
	t->finished_with_tally = tally != NULL;
}

static const dj_job toy_job = {.name = "toy",
                               .start = t_start,
                               .plan = t_plan,
                               .work = t_work,
                               .commit = t_commit,
                               .release = t_release,
                               .finish = t_finish};

static toy *new_toy(unsigned n)
{
	toy *t = calloc(1, sizeof(*t));
	t->n = n;
	return t;
}

static int run(toy *t, dj_run_opts *o, dj_tally *tally, dj_err *err)
{
	return dj_run_local(&toy_job, t, o, tally, err);
}

/* Every item ends in exactly one of committed, failed, released; each at most once. */
static void assert_each_once(const toy *t, unsigned planned)
{
	for (unsigned k = 1; k <= planned; k++)
		assert_int_equal(t->committed[k] + t->failed[k] + t->released[k], 1);
	for (unsigned k = planned + 1; k <= t->n; k++)
		assert_int_equal(t->committed[k] + t->failed[k] + t->released[k], 0);
}

static void all_items_once(void **state)
{
	(void)state;
	toy *t = new_toy(1000);
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.batch_size = 100;
	o.plan_batch = 64;
	o.max_latency_s = 60;
	assert_int_equal(run(t, &o, &tally, &err), 0);
	assert_each_once(t, 1000);
	assert_true(t->started && t->finished_with_tally);
	assert_true(tally.complete);
	assert_int_equal(tally.planned, 1000);
	assert_int_equal(tally.done, 1000);
	assert_int_equal(tally.failed + tally.released + tally.skipped, 0);
	assert_int_equal(tally.commits, 10);
	assert_int_equal(t->plan_calls, 1000 / 64 + 1 + 1); /* 16 with items, 1 empty */
	assert_int_equal(dj_job_exit_code(&tally, 0), DJ_EXIT_OK);
	free(t);
}

static void failures_are_counted(void **state)
{
	(void)state;
	toy *t = new_toy(100);
	t->fail_every = 10;
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	assert_int_equal(run(t, &o, &tally, &err), 0); /* failed items are not a run error */
	assert_each_once(t, 100);
	assert_int_equal(tally.failed, 10);
	assert_int_equal(tally.done, 90);
	assert_true(t->failed[10] && t->failed[100] && !t->failed[11]);
	assert_true(tally.complete);
	assert_int_equal(dj_job_exit_code(&tally, 0), DJ_EXIT_FAILED);
	free(t);
}

static void stop_on_error_stops_dispatch(void **state)
{
	(void)state;
	toy *t = new_toy(100);
	t->fail_every = 5;
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.stop_on_error = true;
	o.batch_size = 3;
	o.plan_batch = 20;
	assert_int_equal(run(t, &o, &tally, &err), 0);
	assert_int_equal(t->worked, 5); /* nothing after the first failure */
	assert_true(t->committed[4] && t->failed[5]);
	assert_int_equal(tally.released, 15); /* the rest of the plan batch */
	assert_int_equal(t->plan_calls, 1);   /* and no more planning */
	assert_each_once(t, 20);
	assert_true(tally.stopped_on_error && !tally.complete);
	assert_int_equal(dj_job_exit_code(&tally, 0), DJ_EXIT_FAILED);
	free(t);
}

static void batches_bounded_by_size(void **state)
{
	(void)state;
	toy *t = new_toy(50);
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.batch_size = 7;
	o.max_latency_s = 60;
	assert_int_equal(run(t, &o, &tally, &err), 0);
	assert_int_equal(t->commit_calls, 8);
	for (unsigned i = 0; i < 7; i++)
		assert_int_equal(t->batch_sizes[i], 7);
	assert_int_equal(t->batch_sizes[7], 1);
	free(t);
}

static void batches_bounded_by_latency(void **state)
{
	(void)state;
	toy *t = new_toy(30);
	t->sleep_us = 5000;
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.batch_size = 1000;
	o.max_latency_s = 0.025;
	assert_int_equal(run(t, &o, &tally, &err), 0);
	/* 5 ms items, 25 ms latency: a batch spans at most 6 items (fewer on a slow machine) */
	assert_true(t->commit_calls >= 5);
	for (unsigned i = 0; i < t->commit_calls; i++)
		assert_true(t->batch_sizes[i] >= 1 && t->batch_sizes[i] <= 6);
	/* latency 0: every result is committed on its own */
	toy *u = new_toy(10);
	o.max_latency_s = 0;
	assert_int_equal(run(u, &o, &tally, &err), 0);
	assert_int_equal(u->commit_calls, 10);
	free(t);
	free(u);
}

static void plan_in_batches(void **state)
{
	(void)state;
	toy *t = new_toy(95);
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.plan_batch = 10;
	assert_int_equal(run(t, &o, &tally, &err), 0);
	assert_int_equal(t->plan_calls, 11); /* 10 calls with items, 1 that ends the plan */
	assert_int_equal(t->max_unworked_at_plan, 0); /* never asked for more than needed */
	assert_each_once(t, 95);
	free(t);
}

static void signal_drains_and_releases(void **state)
{
	(void)state;
	static volatile sig_atomic_t flag;
	flag = 0;
	toy *t = new_toy(100);
	t->stop_at = 30;
	t->flag = &flag;
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.stop = &flag;
	o.plan_batch = 50;
	o.max_latency_s = 60;
	int rc = run(t, &o, &tally, &err);
	assert_int_equal(rc, DJ_ESTOP);
	assert_non_null(strstr(err.msg, "signal 15"));
	assert_int_equal(tally.signal, SIGTERM);
	assert_int_equal(t->worked, 30); /* the running item finishes, nothing new starts */
	assert_int_equal(tally.done, 30);
	assert_int_equal(tally.released, 20); /* planned, not started */
	assert_each_once(t, 50);
	assert_int_equal(dj_job_exit_code(&tally, rc), DJ_EXIT_DRAINED);
	free(t);
}

static void commit_failure_releases(void **state)
{
	(void)state;
	toy *t = new_toy(100);
	t->commit_fail_at_call = 2;
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.batch_size = 10;
	o.plan_batch = 40;
	int rc = run(t, &o, &tally, &err);
	assert_int_equal(rc, DJ_ETRANSIENT);
	assert_non_null(strstr(err.msg, "toy: commit of 10 results: deadlock"));
	assert_int_equal(t->commit_calls, 2); /* nothing committed after the failure */
	assert_int_equal(tally.done, 10);     /* the first batch */
	assert_int_equal(tally.released, 30); /* the failed batch and the rest of the plan */
	assert_each_once(t, 40);
	assert_int_equal(dj_job_exit_code(&tally, rc), DJ_EXIT_FAILED);
	free(t);
}

static void plan_failure_releases(void **state)
{
	(void)state;
	toy *t = new_toy(100);
	t->plan_fail_at_call = 2;
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	o.plan_batch = 10;
	int rc = run(t, &o, &tally, &err);
	assert_int_equal(rc, DJ_ETRANSIENT);
	assert_non_null(strstr(err.msg, "toy: plan: key source query timed out"));
	assert_int_equal(tally.done, 10); /* worked before the second plan call: committed */
	assert_each_once(t, 10);
	assert_int_equal(dj_job_exit_code(&tally, rc), DJ_EXIT_FAILED);
	free(t);
}

static int no_items(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	(void)ctx, (void)sink, (void)want, (void)err;
	return 0;
}

static void nothing_to_do_and_usage(void **state)
{
	(void)state;
	dj_job j = toy_job;
	j.plan = no_items;
	toy *t = new_toy(0);
	dj_run_opts o;
	dj_tally tally;
	dj_err err = DJ_ERR_INIT;
	dj_run_opts_init(&o);
	assert_int_equal(dj_run(&j, t, &o, &tally, &err), 0); /* launched_size 0: local */
	assert_true(tally.complete && tally.planned == 0 && t->commit_calls == 0);
	assert_int_equal(dj_job_exit_code(&tally, 0), DJ_EXIT_OK);
	j.work = NULL;
	assert_int_equal(dj_run(&j, t, &o, &tally, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "toy: plan, work and commit are required"));
	free(t);
}

static void exit_codes(void **state)
{
	(void)state;
	dj_tally t;
	memset(&t, 0, sizeof(t));
	t.complete = true;
	assert_int_equal(dj_job_exit_code(&t, 0), DJ_EXIT_OK);
	t.failed = 1;
	assert_int_equal(dj_job_exit_code(&t, 0), DJ_EXIT_FAILED);
	t.signal = SIGUSR1; /* complete anyway: the signal changed nothing */
	assert_int_equal(dj_job_exit_code(&t, 0), DJ_EXIT_FAILED);
	t.complete = false;
	assert_int_equal(dj_job_exit_code(&t, DJ_ESTOP), DJ_EXIT_DRAINED);
	t.signal = 0;
	assert_int_equal(dj_job_exit_code(&t, DJ_ERROR), DJ_EXIT_FAILED);
	t.rank = 2; /* a worker: only its own errors count */
	assert_int_equal(dj_job_exit_code(&t, 0), DJ_EXIT_OK);
	assert_int_equal(dj_job_exit_code(&t, DJ_ERROR), DJ_EXIT_FAILED);
}

static void fifo_keeps_order(void **state)
{
	(void)state;
	dj_run__fifo f = {0};
	dj_run__entry e[40];
	for (unsigned i = 0; i < 40; i++) {
		e[i].id = i;
		assert_int_equal(dj_run__fifo_push(&f, &e[i]), 0);
		if (i % 3 == 0) /* wrap the ring around while growing */
			assert_int_equal(dj_run__fifo_pop(&f)->id, i / 3);
	}
	assert_int_equal(dj_run__fifo_remove(&f, 2)->id, 16);
	assert_int_equal(dj_run__fifo_push_front(&f, &e[16]), 0);
	assert_int_equal(dj_run__fifo_at(&f, 0)->id, 16);
	assert_int_equal(dj_run__fifo_at(&f, 1)->id, 14);
	assert_int_equal(dj_run__fifo_at(&f, 3)->id, 17);
	assert_null(dj_run__fifo_at(&f, f.len));
	while (f.len) /* entries live on the stack: empty the ring before disposing */
		dj_run__fifo_pop(&f);
	dj_run__fifo_dispose(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(all_items_once),
	    cmocka_unit_test(failures_are_counted),
	    cmocka_unit_test(stop_on_error_stops_dispatch),
	    cmocka_unit_test(batches_bounded_by_size),
	    cmocka_unit_test(batches_bounded_by_latency),
	    cmocka_unit_test(plan_in_batches),
	    cmocka_unit_test(signal_drains_and_releases),
	    cmocka_unit_test(commit_failure_releases),
	    cmocka_unit_test(plan_failure_releases),
	    cmocka_unit_test(nothing_to_do_and_usage),
	    cmocka_unit_test(exit_codes),
	    cmocka_unit_test(fifo_keeps_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
