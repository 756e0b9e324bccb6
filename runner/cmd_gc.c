/*
 * djrun gc SCHEMA... [--store S] [--collect] [--grace 24h] [--hold 30s] [--json]: find (and with
 * --collect delete) the objects of a store that no row references (jobs/gc.h), over MPI when
 * launched by mpirun/srun, else in one process.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/gc.h"
#include "mpi/run.h"
#include "runner/cli.h"
#include "runner/db_connect.h"
#include "runner/exit.h"
#include "slurm/env.h"
#include "slurm/signals.h"

static void help(FILE *out)
{
	fprintf(out,
	        "usage: djrun gc SCHEMA... [--store S] [--collect] [--grace 24h] [--json]\n\n"
	        "Find the objects of a store's hash and schema sections that no row of the\n"
	        "schemas references (datajoint-python's GarbageCollector rules), and with\n"
	        "--collect delete them. Under mpirun/srun rank 0 scans the database and decides,\n"
	        "the other ranks list and delete shards of the store in parallel.\n\n"
	        "Safety: an object younger than the grace period is kept; candidates are re-checked\n"
	        "against the database before they are moved aside, and checked again after --hold:\n"
	        "an object a row started to name meanwhile is moved back. Any listing or database\n"
	        "error blocks deletion.\n\n"
	        "options:\n"
	        "  --store S      the store to collect (default: stores.default)\n"
	        "  --collect      delete the orphans (default: dry run, report only)\n"
	        "  --grace D      keep objects younger than D (default 24h; 0s, 90s, 30m, 2h, 7d)\n"
	        "  --hold D       wait D before the post-deletion check (default 30s)\n"
	        "  --json         one JSON object with the statistics, orphan lists included\n"
	        "  --list         also list the orphan paths in the text report\n"
	        "  --scan-page N  rows per primary-key page of the reference scan (default 10000)\n"
	        "  --list-chunk N listing records per work item (default 1000000)\n"
	        "  --config FILE  datajoint.json to use\n\n"
	        "exit codes: 0 done, 1 errors (deletion blocked by a scan error, or deletions\n"
	        "            failed), 2 usage or configuration, 3 database or store unreachable\n");
}

typedef struct args {
	const char **schemas;
	size_t nschemas;
	const char *store, *config_file;
	bool collect, json, list;
	double grace_s, hold_s;
	size_t scan_page, list_chunk;
} args;

/* "24h", "30m", "90s", "7d", "90" (seconds). */
static int duration(const char *opt, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	double mul = 1;
	if (!errno && end != s && v >= 0) {
		if (!strcmp(end, "") || !strcmp(end, "s"))
			mul = 1;
		else if (!strcmp(end, "m"))
			mul = 60;
		else if (!strcmp(end, "h"))
			mul = 3600;
		else if (!strcmp(end, "d"))
			mul = 86400;
		else
			mul = -1;
		if (mul > 0) {
			*out = v * mul;
			return 0;
		}
	}
	return dj_cli_usage_error("gc", "%s takes a duration such as 0s, 30m, 24h, not '%s'", opt,
	                          s);
}

static int parse_args(int argc, char **argv, args *a, bool *done)
{
	int rc;
	a->grace_s = 86400, a->hold_s = 30;
	if (!(a->schemas = calloc((size_t)argc + 1, sizeof(*a->schemas))))
		return DJ_EXIT_FAILED;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			help(stdout);
			*done = true;
			return DJ_EXIT_OK;
		}
		if (!strcmp(o, "--collect"))
			a->collect = true;
		else if (!strcmp(o, "--json"))
			a->json = true;
		else if (!strcmp(o, "--list"))
			a->list = true;
		else if (o[0] != '-')
			a->schemas[a->nschemas++] = o;
		else if (i + 1 >= argc)
			return dj_cli_usage_error("gc", "unknown option or missing value '%s'", o);
		else if (!strcmp(o, "--store"))
			a->store = argv[++i];
		else if (!strcmp(o, "--config"))
			a->config_file = argv[++i];
		else if (!strcmp(o, "--grace")) {
			if ((rc = duration(o, argv[++i], &a->grace_s)))
				return rc;
		} else if (!strcmp(o, "--scan-page") || !strcmp(o, "--list-chunk")) {
			char *end;
			long long v = strtoll(argv[++i], &end, 10);
			if (*end || end == argv[i] || v < 1 || v > 100000000)
				return dj_cli_usage_error("gc", "%s takes a count, not '%s'", o, argv[i]);
			*(!strcmp(o, "--scan-page") ? &a->scan_page : &a->list_chunk) = (size_t)v;
		} else if (!strcmp(o, "--hold")) {
			if ((rc = duration(o, argv[++i], &a->hold_s)))
				return rc;
		} else
			return dj_cli_usage_error("gc", "unknown option '%s'", o);
	}
	if (!a->nschemas)
		return dj_cli_usage_error("gc", "at least one schema is required");
	return DJ_EXIT_OK;
}

static json_t *path_list(const dj_gc *g, char section)
{
	const char **v = NULL;
	size_t n = 0;
	dj_err err = DJ_ERR_INIT;
	json_t *a = json_array();
	if (dj_gc_orphans(g, section, &v, &n, &err) == 0)
		for (size_t i = 0; a && i < n; i++)
			json_array_append_new(a, json_string(v[i]));
	free(v);
	return a;
}

static json_t *stats_json(const dj_gc *g, const args *a, double wall, int ranks)
{
	const dj_gc_stats *s = &g->stats;
	json_t *errs = json_array();
	for (size_t i = 0; i < g->nscan_errors; i++)
		json_array_append_new(errs, json_string(g->scan_errors[i]));
	uint64_t objects = s->hash_stored + s->schema_stored;
	json_t *j = json_object();
	/* the library's keys, in its order (database.md §7.6) */
	json_object_set_new(j, "hash_paths_referenced", json_integer((json_int_t)s->hash_referenced));
	json_object_set_new(j, "hash_paths_stored", json_integer((json_int_t)s->hash_stored));
	json_object_set_new(j, "hash_paths_orphaned", json_integer((json_int_t)s->hash_orphaned));
	json_object_set_new(j, "hash_paths_orphaned_bytes",
	                    json_integer((json_int_t)s->hash_orphaned_bytes));
	json_object_set_new(j, "orphaned_hash_paths", path_list(g, 'H'));
	json_object_set_new(j, "schema_paths_referenced",
	                    json_integer((json_int_t)s->schema_referenced));
	json_object_set_new(j, "schema_paths_stored", json_integer((json_int_t)s->schema_stored));
	json_object_set_new(j, "schema_paths_orphaned", json_integer((json_int_t)s->schema_orphaned));
	json_object_set_new(j, "schema_paths_orphaned_bytes",
	                    json_integer((json_int_t)s->schema_orphaned_bytes));
	json_object_set_new(j, "orphaned_schema_paths", path_list(g, 'S'));
	json_object_set_new(j, "hash_paths_deleted", json_integer((json_int_t)s->hash_deleted));
	json_object_set_new(j, "schema_paths_deleted", json_integer((json_int_t)s->schema_deleted));
	json_object_set_new(j, "deleted", json_integer((json_int_t)(s->hash_deleted + s->schema_deleted)));
	json_object_set_new(j, "bytes_freed", json_integer((json_int_t)s->bytes_freed));
	json_object_set_new(j, "errors", json_integer((json_int_t)s->errors));
	json_object_set_new(j, "scan_errors", errs);
	json_object_set_new(j, "dry_run", json_boolean(!a->collect));
	/* djrun's own */
	json_object_set_new(j, "store", json_string(g->spec->name));
	json_object_set_new(j, "grace_s", json_real(a->grace_s));
	json_object_set_new(j, "hash_paths_within_grace", json_integer((json_int_t)s->hash_young));
	json_object_set_new(j, "schema_paths_within_grace",
	                    json_integer((json_int_t)s->schema_young));
	json_object_set_new(j, "kept_by_recheck", json_integer((json_int_t)s->kept_by_recheck));
	json_object_set_new(j, "restored", json_integer((json_int_t)s->restored));
	json_object_set_new(j, "missing", json_integer((json_int_t)s->missing));
	json_object_set_new(j, "trash_from_earlier_runs", json_integer((json_int_t)s->leftovers));
	json_object_set_new(j, "other_paths_referenced",
	                    json_integer((json_int_t)s->other_referenced));
	json_object_set_new(j, "delete_error",
	                    g->delete_error[0] ? json_string(g->delete_error) : json_null());
	json_object_set_new(j, "ranks", json_integer(ranks));
	json_object_set_new(j, "scan_s", json_real(s->scan_s));
	json_object_set_new(j, "list_s", json_real(s->list_s));
	json_object_set_new(j, "recheck_s", json_real(s->recheck_s));
	json_object_set_new(j, "delete_s", json_real(s->delete_s));
	json_object_set_new(j, "postcheck_s", json_real(s->settle_s));
	json_object_set_new(j, "purge_s", json_real(s->purge_s));
	json_object_set_new(j, "seconds", json_real(wall));
	json_object_set_new(j, "objects_per_s", json_real(wall > 0 ? (double)objects / wall : 0));
	return j;
}

static void report(const dj_gc *g, const args *a, double wall, int ranks)
{
	json_t *j = stats_json(g, a, wall, ranks);
	if (!j)
		return;
	if (a->json) {
		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	} else {
		const char *k;
		json_t *v;
		printf("gc");
		for (size_t i = 0; i < a->nschemas; i++)
			printf(" %s", a->schemas[i]);
		printf(", store '%s' (%s):\n", g->spec->name, a->collect ? "collect" : "dry run");
		json_object_foreach(j, k, v)
		{
			if (json_is_array(v)) {
				printf("  %-28s %zu%s\n", k, json_array_size(v),
				       a->list || !strcmp(k, "scan_errors") ? ":" : "");
				size_t i;
				json_t *e;
				if (a->list || !strcmp(k, "scan_errors"))
					json_array_foreach(v, i, e) printf("    %s\n", json_string_value(e));
			} else if (json_is_real(v)) {
				printf("  %-28s %.3f\n", k, json_real_value(v));
			} else if (json_is_integer(v)) {
				printf("  %-28s %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
			} else if (json_is_string(v)) {
				printf("  %-28s %s\n", k, json_string_value(v));
			} else if (json_is_boolean(v)) {
				printf("  %-28s %s\n", k, json_is_true(v) ? "true" : "false");
			}
		}
	}
	json_decref(j);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int dj_cmd_gc(int argc, char **argv)
{
	args a;
	dj_config cfg;
	dj_gc g;
	dj_run_opts o;
	dj_tally t;
	dj_err err = DJ_ERR_INIT;
	const dj_store_spec *spec = NULL;
	bool done = false;
	memset(&a, 0, sizeof(a));
	memset(&g, 0, sizeof(g));
	memset(&t, 0, sizeof(t));
	memset(&cfg, 0, sizeof(cfg));
	g.arena = (dj_buf)DJ_BUF_INIT;
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done) {
		free(a.schemas);
		return rc;
	}
	if ((rc = dj_cli_load_config("gc", a.config_file, &cfg)) != DJ_EXIT_OK) {
		free(a.schemas);
		return rc;
	}
	if (dj_config_store(&cfg, a.store, &spec, &err) < 0) {
		fprintf(stderr, "djrun: gc: %s\n", err.msg);
		rc = DJ_EXIT_USAGE;
		goto out;
	}
	if (dj_config_check_store(spec, &err) < 0) {
		fprintf(stderr, "djrun: gc: %s\n", err.msg);
		rc = DJ_EXIT_UNREACHABLE;
		goto out;
	}
	dj_cli_conn c = {&cfg, false};
	g.schema_names = a.schemas;
	g.nschemas = a.nschemas;
	g.spec = spec;
	g.default_store = cfg.store_default;
	g.collect = a.collect;
	g.grace_s = a.grace_s;
	g.hold_s = a.hold_s;
	g.scan_page = a.scan_page;
	g.list_chunk = a.list_chunk;
	g.now = (int64_t)time(NULL);
	g.connect = dj_cli_connect;
	g.connect_arg = &c;
	dj_run_opts_init(&o);
	o.launched_size = dj_launch_size();
	o.worker_timeout_s = 600; /* rank 0 scans the database between passes */
	o.batch_size = 4;        /* rank 0 decides each shard as it arrives: nothing to batch */
	o.max_latency_s = 0.005; /* and nothing to wait for */
	o.max_inflight = 4;
	o.stop = dj_signals_install();
	dj_launch_prepare();

	/* MPI up front: the LIST passes that follow a cut listing are agreed with dj_run_share */
	int my_rank = 0, nranks = 1;
	if (dj_run_rank(o.launched_size, &my_rank, &nranks, &err) < 0) {
		fprintf(stderr, "djrun: gc: %s\n", err.msg);
		rc = DJ_EXIT_FAILED;
		goto out;
	}
	double t0 = mono();
	/* every rank runs the three passes; rank 0 plans nothing once something failed */
	g.pass = DJ_GC_LIST;
	int rc1 = dj_run(&dj_gc_job, &g, &o, &t, &err);
	g.stats.list_s = t.wall_s;
	bool rank0 = t.rank == 0;
	/* listings cut at --list-chunk records go on in further LIST passes; rank 0 decides and
	 * every rank follows (dj_run is collective) */
	for (;;) {
		dj_buf more = DJ_BUF_INIT;
		dj_err e2 = DJ_ERR_INIT;
		bool again = rank0 && rc1 == 0 && !(o.stop && *o.stop) && dj_gc_list_pending(&g);
		if (dj_buf_addc(&more, again ? 1 : 0) < 0 || dj_run_share(&more, &e2) < 0 ||
		    more.len != 1) {
			dj_buf_dispose(&more);
			if (rank0 && rc1 == 0)
				rc1 = DJ_ERROR, dj_err_set(&err, DJ_ERROR, "listing: %s", e2.msg);
			break;
		}
		again = more.ptr[0] == 1;
		dj_buf_dispose(&more);
		if (!again)
			break;
		int rcn = dj_run(&dj_gc_job, &g, &o, &t, &err);
		g.stats.list_s += t.wall_s;
		if (rank0 && rcn < 0)
			rc1 = rcn;
	}
	dj_err err1 = err;
	if (rank0 && rc1 < 0) {
		g.collect = false;
		if (rc1 != DJ_ESTOP &&
		    dj_gc__add_error(&g, "%s", err.msg[0] ? err.msg : "listing failed") < 0)
			rc1 = DJ_ENOMEM;
	}
	if (rank0 && rc1 == 0 && dj_gc_recheck(&g, &err) < 0) {
		g.collect = false;
		dj_gc__add_error(&g, "re-check: %s", err.msg);
	}
	dj_err_clear(&err);
	g.pass = DJ_GC_DELETE;
	double t1 = mono();
	int rc2 = dj_run(&dj_gc_job, &g, &o, &t, &err);
	g.stats.delete_s = mono() - t1;
	if (rank0 && rc2 < 0 && rc2 != DJ_ESTOP)
		fprintf(stderr, "djrun: gc: delete pass: %s\n", err.msg);
	if (rank0 && o.stop && *o.stop)
		g.hold_s = 0; /* asked to stop: settle what is tombstoned at once */
	dj_err_clear(&err);
	if (rank0 && dj_gc_postcheck(&g, &err) < 0)
		fprintf(stderr, "djrun: gc: post-check: %s (everything moved aside is restored)\n",
		        err.msg);
	dj_err_clear(&err);
	g.pass = DJ_GC_SETTLE;
	dj_run_opts o3 = o;
	o3.stop = NULL; /* tombstones are settled even after a stop signal */
	double t3 = mono();
	int rc3 = dj_run(&dj_gc_job, &g, &o3, &t, &err);
	g.stats.purge_s = mono() - t3;
	if (rank0 && rc3 < 0)
		fprintf(stderr, "djrun: gc: settle pass: %s (trash stays for the next run)\n",
		        err.msg);
	double wall = mono() - t0;

	if (!rank0) {
		rc = rc1 < 0 || rc2 < 0 || rc3 < 0 ? DJ_EXIT_FAILED : DJ_EXIT_OK;
	} else if (rc1 < 0 && !g.db && rc1 != DJ_ESTOP) {
		/* start failed: configuration, unreachable server, unknown schema */
		fprintf(stderr, "djrun: %s\n", err1.msg);
		rc = c.attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	} else {
		report(&g, &a, wall, t.size);
		for (size_t i = 0; i < g.nscan_errors; i++)
			fprintf(stderr, "djrun: gc: %s\n", g.scan_errors[i]);
		if (g.nscan_errors && a.collect)
			fprintf(stderr, "djrun: gc: refusing to delete: %zu scan error(s)\n",
			        g.nscan_errors);
		if (g.delete_error[0])
			fprintf(stderr, "djrun: gc: %s\n", g.delete_error);
		rc = g.nscan_errors || g.stats.errors || rc2 < 0 || rc3 < 0 ? DJ_EXIT_FAILED
		                                                            : DJ_EXIT_OK;
		if (rc1 == DJ_ESTOP || rc2 == DJ_ESTOP)
			rc = DJ_EXIT_DRAINED;
	}
	fflush(stdout);
	fflush(stderr);
	dj_gc_dispose(&g);
	dj_run_finalize();
out:
	dj_config_free(&cfg);
	free(a.schemas);
	return rc;
}
