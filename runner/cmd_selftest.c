/*
 * djrun selftest run [options]: a hidden command that drives the coordinator (mpi/run.h) with
 * a toy job, for the e2e tests and the dispatch measurements. Items are the numbers 1..N;
 * work computes n*n+1 (or fails for every K-th item, or sleeps); commit appends one line per
 * item to --out on rank 0, a stand-in for the database:
 *   done <n> <n*n+1> <rank>   failed <n> [<detail>] <message>   released <n>
 * Under mpirun or srun it runs over MPI; alone, in one process.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs/job.h"
#include "mpi/run.h"
#include "runner/cli.h"
#include "runner/exit.h"
#include "slurm/env.h"
#include "slurm/signals.h"

typedef struct toy {
	uint64_t items, next;
	uint64_t fail_every;
	uint64_t sleep_ms;
	uint64_t kill_on; /* work kills its own rank on this item (a crashing make plugin) */
	const char *out, *pid_dir;
	FILE *f;
	int rank;
	bool json;
} toy;

/* The signal that asks for a drain. A handler can only write a global; it is process state,
 * not job state, and the engine only reads it through dj_run_opts.stop. */
/* Ranks the launcher started: mpirun sets OMPI_COMM_WORLD_SIZE, srun --mpi=pmix PMIX_RANK and
 * SLURM_STEP_NUM_TASKS, PMI-2 launchers PMI_SIZE. 0 = not launched; -1 = launched, size
 * unknown. (To move to slurm/env.c once that exists.) */
/* ---- the toy job ---- */

static int toy_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	toy *t = ctx;
	t->rank = info->rank;
	if (t->pid_dir) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/rank.%d", t->pid_dir, info->rank);
		FILE *p = fopen(path, "w");
		if (!p)
			return dj_err_os(err, "cannot write '%s'", path);
		fprintf(p, "%ld\n", (long)getpid());
		fclose(p);
	}
	if (info->coordinator && t->out && !(t->f = fopen(t->out, "a")))
		return dj_err_os(err, "cannot open '%s'", t->out);
	return 0;
}

static int toy_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	toy *t = ctx;
	char buf[32];
	for (size_t i = 0; i < want && t->next < t->items; i++) {
		int n = snprintf(buf, sizeof(buf), "%" PRIu64, ++t->next);
		int rc = dj_job_push(sink, buf, (size_t)n, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		; /* a signal on a worker does not cut the item short */
}

static int toy_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	toy *t = ctx;
	char buf[32];
	if (item->len == 0 || item->len >= sizeof(buf))
		return dj_err_set(err, DJ_EFORMAT, "selftest item of %zu bytes", item->len);
	memcpy(buf, item->ptr, item->len);
	buf[item->len] = 0;
	uint64_t n = strtoull(buf, NULL, 10);
	if (t->kill_on == n)
		raise(SIGKILL);
	if (t->sleep_ms)
		sleep_ms(t->sleep_ms);
	if (t->fail_every && n % t->fail_every == 0) {
		dj_buf_addf(result, "detail-%" PRIu64, n); /* as a make's stderr tail would be */
		return dj_err_set(err, DJ_ERROR,
		                  "item %" PRIu64 " fails by design (--fail-every %" PRIu64 ")", n,
		                  t->fail_every);
	}
	return dj_buf_addf(result, "%" PRIu64, n * n + 1);
}

static int toy_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	toy *t = ctx;
	if (!t->f)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const dj_job_result *r = &res[i];
		if (r->outcome == DJ_JOB_DONE)
			fprintf(t->f, "done %.*s %.*s %d\n", (int)r->item.len,
			        (const char *)r->item.ptr, (int)r->data.len,
			        (const char *)r->data.ptr, r->rank);
		else
			fprintf(t->f, "failed %.*s [%.*s] %s\n", (int)r->item.len,
			        (const char *)r->item.ptr, (int)r->data.len,
			        (const char *)r->data.ptr, r->err.msg);
	}
	/* the batch is "one transaction": it reaches the file whole, or the run failed */
	if (fflush(t->f) != 0)
		return dj_err_os(err, "cannot write '%s'", t->out);
	return 0;
}

static int toy_release(void *ctx, const dj_bytes *items, size_t n, dj_err *err)
{
	toy *t = ctx;
	if (!t->f)
		return 0;
	for (size_t i = 0; i < n; i++)
		fprintf(t->f, "released %.*s\n", (int)items[i].len, (const char *)items[i].ptr);
	if (fflush(t->f) != 0)
		return dj_err_os(err, "cannot write '%s'", t->out);
	return 0;
}

static void toy_finish(void *ctx, const dj_tally *tally)
{
	toy *t = ctx;
	(void)tally;
	if (t->f)
		fclose(t->f);
	t->f = NULL;
}

static const dj_job toy_job = {
    .name = "selftest",
    .start = toy_start,
    .plan = toy_plan,
    .work = toy_work,
    .commit = toy_commit,
    .release = toy_release,
    .finish = toy_finish,
};

/* ---- output (rank 0 only) ---- */

static void progress(void *arg, const dj_tally *t)
{
	(void)arg;
	fprintf(stderr,
	        "selftest: %" PRIu64 " planned, %" PRIu64 " done, %" PRIu64
	        " failed, %.0f items/s, "
	        "%.1f s\n",
	        t->planned, t->done, t->failed,
	        t->wall_s > 0 ? (double)(t->done + t->failed) / t->wall_s : 0.0, t->wall_s);
}

static void on_result(void *arg, const dj_job_result *r)
{
	const toy *t = arg;
	if (!t->json)
		return;
	json_t *j =
	    json_pack("{s:s#, s:s, s:i}", "item", (const char *)r->item.ptr, (int)r->item.len,
	              "outcome", dj_job_outcome_name(r->outcome), "rank", r->rank);
	if (j && r->outcome == DJ_JOB_FAILED)
		json_object_set_new(j, "error", json_string(r->err.msg));
	if (j)
		json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
}

/* The --json summary: the tally as one object, "format": 1. */
static json_t *tally_json(const dj_tally *t, int rc, const dj_err *err)
{
	const struct {
		const char *key;
		uint64_t n;
	} counts[] = {
	    {"planned", t->planned},
	    {"done", t->done},
	    {"failed", t->failed},
	    {"skipped", t->skipped},
	    {"released", t->released},
	    {"redispatched", t->redispatched},
	    {"workers_lost", t->workers_lost},
	    {"commits", t->commits},
	};
	json_t *j = json_pack("{s:i, s:s, s:i}", "format", 1, "job", "selftest", "ranks", t->size);
	if (!j)
		return NULL;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		json_object_set_new(j, counts[i].key, json_integer((json_int_t)counts[i].n));
	double rate = t->wall_s > 0 ? (double)(t->done + t->failed) / t->wall_s : 0;
	json_object_set_new(j, "wall_s", json_real(t->wall_s));
	json_object_set_new(j, "work_s", json_real(t->work_s));
	json_object_set_new(j, "commit_s", json_real(t->commit_s));
	json_object_set_new(j, "items_per_s", json_real(rate));
	json_object_set_new(j, "signal", json_integer(t->signal));
	json_object_set_new(j, "complete", json_boolean(t->complete));
	json_object_set_new(j, "stopped_on_error", json_boolean(t->stopped_on_error));
	json_object_set_new(j, "exit", json_integer(dj_job_exit_code(t, rc)));
	json_object_set_new(j, "error", rc < 0 ? json_string(err->msg) : json_null());
	return j;
}

static void summary(const toy *o, const dj_tally *t, int rc, const dj_err *err)
{
	double rate = t->wall_s > 0 ? (double)(t->done + t->failed) / t->wall_s : 0;
	fprintf(stderr,
	        "selftest: %d ranks, %" PRIu64 " planned, %" PRIu64 " done, %" PRIu64
	        " failed, %" PRIu64 " released, %" PRIu64 " lost workers, %" PRIu64
	        " commits, %.3f s, %.0f items/s\n",
	        t->size, t->planned, t->done, t->failed, t->released, t->workers_lost, t->commits,
	        t->wall_s, rate);
	if (rc < 0)
		fprintf(stderr, "djrun: %s\n", err->msg);
	if (!o->json)
		return;
	json_t *j = tally_json(t, rc, err);
	if (j)
		json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
}

/* ---- options ---- */

static void help(FILE *out)
{
	fprintf(
	    out,
	    "usage: djrun selftest run [options]\n\n"
	    "Run a toy job through the coordinator (a test aid, not a user command). Items are\n"
	    "1..N; work returns n*n+1; commit appends 'done N VALUE RANK', 'failed N [DETAIL] "
	    "MSG'\n"
	    "or 'released N' lines to --out on rank 0. Over MPI under mpirun/srun, else "
	    "in-process.\n\n"
	    "  --items N          items to plan (100)\n"
	    "  --fail-every K     every K-th item fails\n"
	    "  --sleep-ms MS      work sleeps this long per item\n"
	    "  --kill-on N        work kills its own rank (SIGKILL) on item N\n"
	    "  --out FILE         rank 0's commit log (appended)\n"
	    "  --pid-dir DIR      each rank writes DIR/rank.R with its pid\n"
	    "  --batch N          results per commit (100)\n"
	    "  --latency-ms MS    longest wait of a result for its commit (1000)\n"
	    "  --max-inflight N   items a worker may hold (256)\n"
	    "  --plan-batch N     items asked of plan per call (1000)\n"
	    "  --stop-on-error    stop dispatching after the first failed item\n"
	    "  --drain-timeout S  after SIGTERM/SIGINT/SIGUSR1, wait this long for running items "
	    "(20)\n"
	    "  --worker-timeout S a rank silent this long is presumed dead (30; 0 = never)\n"
	    "  --heartbeat S      heartbeat period (0.5)\n"
	    "  --progress S       a progress line on stderr every S seconds\n"
	    "  --local            run in-process even under a launcher\n"
	    "  --json             one JSON object per item on stdout, then a summary\n\n"
	    "exit codes: 0 all done, 1 some items failed, 2 usage, 75 drained on a signal\n");
}

typedef struct cli {
	toy toy;
	dj_run_opts o;
	bool local;
} cli;

static int set_option(cli *c, const char *a, double v)
{
	if (!strcmp(a, "--items"))
		c->toy.items = (uint64_t)v;
	else if (!strcmp(a, "--fail-every"))
		c->toy.fail_every = (uint64_t)v;
	else if (!strcmp(a, "--kill-on"))
		c->toy.kill_on = (uint64_t)v;
	else if (!strcmp(a, "--sleep-ms"))
		c->toy.sleep_ms = (uint64_t)v;
	else if (!strcmp(a, "--batch"))
		c->o.batch_size = (size_t)v;
	else if (!strcmp(a, "--latency-ms"))
		c->o.max_latency_s = v / 1000;
	else if (!strcmp(a, "--max-inflight"))
		c->o.max_inflight = (size_t)v;
	else if (!strcmp(a, "--plan-batch"))
		c->o.plan_batch = (size_t)v;
	else if (!strcmp(a, "--drain-timeout"))
		c->o.drain_timeout_s = v;
	else if (!strcmp(a, "--worker-timeout"))
		c->o.worker_timeout_s = v;
	else if (!strcmp(a, "--heartbeat"))
		c->o.heartbeat_s = v;
	else if (!strcmp(a, "--progress"))
		c->o.progress_s = v;
	else
		return dj_cli_usage_error("selftest", "unknown option '%s'", a);
	return 0;
}

static int parse_args(int argc, char **argv, cli *c)
{
	if (argc < 2 || strcmp(argv[1], "run")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
			return help(stdout), 1;
		return dj_cli_usage_error("selftest", "expected 'run'");
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		double v = 0;
		int rc;
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return help(stdout), 1;
		if (!strcmp(a, "--stop-on-error"))
			c->o.stop_on_error = true;
		else if (!strcmp(a, "--json"))
			c->toy.json = true;
		else if (!strcmp(a, "--local"))
			c->local = true;
		else if (i + 1 >= argc)
			return dj_cli_usage_error("selftest",
			                          "unknown option or missing value '%s'", a);
		else if (!strcmp(a, "--out"))
			c->toy.out = argv[++i];
		else if (!strcmp(a, "--pid-dir"))
			c->toy.pid_dir = argv[++i];
		else if ((rc = dj_cli_number("selftest", a, argv[++i], &v)) || (rc = set_option(c, a, v)))
			return rc;
	}
	return 0;
}

int dj_cmd_selftest(int argc, char **argv)
{
	cli c;
	dj_tally t;
	dj_err err = DJ_ERR_INIT;
	memset(&c, 0, sizeof(c));
	c.toy.items = 100;
	dj_run_opts_init(&c.o);
	int rc = parse_args(argc, argv, &c);
	if (rc)
		return rc == 1 ? DJ_EXIT_OK : rc;
	c.o.launched_size = c.local ? 0 : dj_launch_size();
	c.o.stop = dj_signals_install();
	c.o.progress = progress;
	c.o.on_result = on_result;
	c.o.arg = &c.toy;
	dj_launch_prepare();
	rc = dj_run(&toy_job, &c.toy, &c.o, &t, &err);
	if (rc == DJ_EUSAGE)
		return dj_cli_usage_error("selftest", "%s", err.msg);
	if (t.rank == 0)
		summary(&c.toy, &t, rc, &err);
	else if (rc < 0)
		fprintf(stderr, "djrun: selftest: rank %d: %s\n", t.rank, err.msg);
	fflush(stdout);
	fflush(stderr);
	dj_run_finalize();
	return dj_job_exit_code(&t, rc);
}
