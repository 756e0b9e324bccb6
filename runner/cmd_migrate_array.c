/*
 * djrun migrate to-npy / to-object: array blobs become schema-addressed objects
 * (jobs/migrate_array.h).
 *   djrun migrate to-npy SCHEMA.Table.attr [--store NAME] [--execute | --finalize]
 *   djrun migrate to-object SCHEMA.Table.attr --format hdf5|zarr [--store NAME] [...]
 * The plan (dry run) is the default; --execute runs fill, verify and swap over MPI when
 * launched by mpirun/srun (rank 0 the only database writer), else in one process.
 * `djrun migrate status SCHEMA.Table.attr` (runner/cmd_migrate.c) shows one in flight.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codecs/hdf5_write.h"
#include "jobs/job.h"
#include "jobs/migrate_array.h"
#include "mpi/run.h"
#include "runner/cli.h"
#include "runner/exit.h"
#include "slurm/env.h"
#include "slurm/signals.h"

/* Throughput assumed by the plan's time estimate (decode + convert + write, then verify). */
#define EST_MB_PER_S 100.0

static void help(FILE *out)
{
	fprintf(
	    out,
	    "usage: djrun migrate to-npy SCHEMA.Table.attr [--store NAME] [options]\n"
	    "       djrun migrate to-object SCHEMA.Table.attr --format hdf5|zarr [--store NAME] "
	    "[options]\n"
	    "       djrun migrate status SCHEMA.Table.attr\n\n"
	    "A <blob> (in-table) or <blob@> (hash-addressed) column of numeric arrays becomes\n"
	    "schema-addressed: _schema/<schema>/<table>/<key>/<attr>_<token>.npy files (<npy@store>),\n"
	    "or <object@store> objects for streaming partial reads: one chunked, deflated HDF5 file\n"
	    "(.h5, dataset \"data\"%s) or a Zarr v2 folder (.zarr, zlib chunks) with a .manifest.json.\n"
	    "Only numeric and bool N-d arrays convert: any other value (struct, cell, string, object\n"
	    "array, scalar) is refused naming its key, its row is left as it is, the rest is\n"
	    "converted, and the run exits 1 without swapping. Steps, each resumable:\n"
	    "  1. add the hidden column _<attr>_migrating (json, marker :<npy@store>:)\n"
	    "  2. fill it: workers convert and write the objects, rank 0 writes the metadata\n"
	    "  3. verify: every value is converted again and what the store holds is re-hashed\n"
	    "     against it; a bad row is reset and the run fails naming it\n"
	    "  4. swap: <attr> becomes the new column, the old one is kept as _<attr>_backup\n"
	    "  5. --finalize (a separate run) drops _<attr>_backup\n"
	    "A killed run continues where it stopped: filled rows are verified, not rewritten.\n"
	    "Stop other writers to the table during the swap.\n\n"
	    "options:\n"
	    "  --store NAME     the target store (stores.default)\n"
	    "  --format F       to-object: hdf5 or zarr\n"
	    "  --dry-run        print the plan only (the default)\n"
	    "  --execute        run the migration\n"
	    "  --until STEP     with --execute: stop after 'fill' or 'verify' (no swap)\n"
	    "  --finalize       drop the backup column of a swapped migration\n"
	    "  --item-mb N      MB of old values per work item (4)\n"
	    "  --chunk-mb N     hdf5/zarr: uncompressed MB per chunk (1)\n"
	    "  --batch N        work items per commit (100)\n"
	    "  --no-sync        file store: no fsync per object (scratch stores, benchmarks)\n"
	    "  --progress S     a progress line on stderr every S seconds\n"
	    "  --config FILE    datajoint.json to use\n"
	    "  --json           the plan or report as one JSON object on stdout\n\n"
	    "exit codes: 0 done (or nothing to do), 1 failed (values refused or rows not verified),\n"
	    "            2 usage, 3 database unreachable, 75 stopped by a signal (run again)\n",
	    dj_hdf5_built() ? "" : "; not in this build: no HDF5 library");
}

typedef struct args {
	const char *action, *target, *store, *format, *config_file, *until;
	bool execute, finalize, json, no_sync;
	double item_mb, chunk_mb, batch, progress_s;
} args;

static int parse_args(int argc, char **argv, args *a, bool *done)
{
	int rc;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			help(stdout);
			*done = true;
			return DJ_EXIT_OK;
		}
		if (!strcmp(o, "--execute"))
			a->execute = true;
		else if (!strcmp(o, "--dry-run"))
			a->execute = false;
		else if (!strcmp(o, "--finalize"))
			a->finalize = true;
		else if (!strcmp(o, "--json"))
			a->json = true;
		else if (!strcmp(o, "--no-sync"))
			a->no_sync = true;
		else if (o[0] != '-') {
			if (!a->action)
				a->action = o;
			else if (!a->target)
				a->target = o;
			else
				return dj_cli_usage_error("migrate", "unexpected argument '%s'", o);
		} else if (i + 1 >= argc)
			return dj_cli_usage_error("migrate", "unknown option or missing value '%s'",
			                          o);
		else if (!strcmp(o, "--store"))
			a->store = argv[++i];
		else if (!strcmp(o, "--format"))
			a->format = argv[++i];
		else if (!strcmp(o, "--config"))
			a->config_file = argv[++i];
		else if (!strcmp(o, "--until"))
			a->until = argv[++i];
		else if (!strcmp(o, "--item-mb")) {
			if ((rc = dj_cli_number("migrate", o, argv[++i], &a->item_mb)))
				return rc;
		} else if (!strcmp(o, "--chunk-mb")) {
			if ((rc = dj_cli_number("migrate", o, argv[++i], &a->chunk_mb)))
				return rc;
		} else if (!strcmp(o, "--batch")) {
			if ((rc = dj_cli_number("migrate", o, argv[++i], &a->batch)))
				return rc;
		} else if (!strcmp(o, "--progress")) {
			if ((rc = dj_cli_number("migrate", o, argv[++i], &a->progress_s)))
				return rc;
		} else
			return dj_cli_usage_error("migrate", "unknown option '%s'", o);
	}
	bool npy = !strcmp(a->action, "to-npy");
	if (!a->target)
		return dj_cli_usage_error("migrate", "expected SCHEMA.Table.attr");
	if (npy && a->format && strcmp(a->format, "npy"))
		return dj_cli_usage_error("migrate", "to-npy writes .npy; --format is for to-object");
	if (!npy && !a->format)
		return dj_cli_usage_error("migrate", "to-object needs --format hdf5 or --format zarr");
	if (!npy && strcmp(a->format, "hdf5") && strcmp(a->format, "zarr"))
		return dj_cli_usage_error("migrate", "--format takes hdf5 or zarr, not '%s'",
		                          a->format);
	if (a->until && strcmp(a->until, "fill") && strcmp(a->until, "verify"))
		return dj_cli_usage_error("migrate", "--until takes 'fill' or 'verify'");
	if (a->finalize && a->execute)
		return dj_cli_usage_error("migrate", "--finalize is a step of its own");
	return DJ_EXIT_OK;
}

static int split_target(const char *s, char **schema, char **table, char **attr)
{
	const char *d1 = strchr(s, '.'), *d2 = d1 ? strrchr(s, '.') : NULL;
	*schema = *table = *attr = NULL;
	if (!d1 || d2 == d1 || d1 == s || d2[1] == 0 || d2 == d1 + 1)
		return dj_cli_usage_error("migrate", "expected SCHEMA.Table.attr, not '%s'", s);
	*schema = strndup(s, (size_t)(d1 - s));
	*table = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
	*attr = strdup(d2 + 1);
	return DJ_EXIT_OK;
}

/* The rank a launcher gave this process (only rank 0 prints plans). */
static int launch_rank(void)
{
	const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return atoi(v);
	}
	return 0;
}

static double mb(uint64_t b)
{
	return (double)b / 1e6;
}

static const char *target_text(const dj_migrate_array *ma, char *buf, size_t n)
{
	const dj_migrate *m = &ma->m;
	snprintf(buf, n, "<%s@%s>%s%s", m->target.codec->name, m->target.store,
	         ma->format == DJ_ARRAY_NPY ? "" : " as ", ma->format == DJ_ARRAY_NPY ? ""
	                                                  : dj_array_format_name(ma->format));
	return buf;
}

static void print_plan(const args *a, dj_migrate_array *ma, const dj_migrate_survey *s)
{
	dj_migrate *m = &ma->m;
	char t[200];
	uint64_t todo = s->values > s->filled ? s->values - s->filled : 0;
	double est = mb(s->bytes_todo) / EST_MB_PER_S;
	const char *src = dj_migrate_array__hashed_source(ma) ? "<blob@> objects" : "in-table";
	if (a->json) {
		json_t *paths = json_array();
		for (size_t i = 0; i < s->nsamples; i++)
			json_array_append_new(paths, json_pack("{s:s, s:s}", "key",
			                                       s->sample_keys[i], "path",
			                                       s->samples[i]));
		json_t *j = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:f}",
		    "action", "plan", "table", a->target, "codec", target_text(ma, t, sizeof t),
		    "format", dj_array_format_name(ma->format), "state",
		    dj_migrate_state_name(m->state), "dry_run", 1, "rows", (json_int_t)s->rows,
		    "values", (json_int_t)s->values, "filled", (json_int_t)s->filled, "to_fill",
		    (json_int_t)todo, "bytes", (json_int_t)s->bytes, "bytes_to_fill",
		    (json_int_t)s->bytes_todo, "sample_paths", paths, "estimate_s", est);
		if (j)
			json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
		return;
	}
	printf("migrate %s -> %s (dry run: nothing changed; --execute runs it)\n", a->target,
	       target_text(ma, t, sizeof t));
	printf("  state        %s\n", dj_migrate_state_name(m->state));
	printf("  rows         %" PRIu64 " (%" PRIu64 " with a value, %" PRIu64 " migrated)\n",
	       s->rows, s->values, s->filled);
	if (m->state == DJ_MIGRATE_NOT_STARTED || m->state == DJ_MIGRATE_IN_FLIGHT) {
		printf("  to migrate   %" PRIu64 " rows, %.1f MB of %.1f MB of packed blobs (%s)\n",
		       todo, mb(s->bytes_todo), mb(s->bytes), src);
		printf("  store        %s (%s, location '%s')\n", m->target.store,
		       m->spec->protocol ? m->spec->protocol : "?",
		       m->spec->location ? m->spec->location : "");
		for (size_t i = 0; i < s->nsamples; i++)
			printf("  path         %s  %s\n", s->samples[i], s->sample_keys[i]);
		printf("  paths        one per row; each write draws a new token (as datajoint-python)\n");
		printf("  columns      %s %s (json), then swap it in as %s; the old column stays as "
		       "%s until --finalize\n",
		       m->state == DJ_MIGRATE_IN_FLIGHT ? "filling" : "add", m->tmp_col, m->a->name,
		       m->bak_col);
		printf("  refusals     values that are not numeric/bool arrays are refused at run time "
		       "(named; their rows stay)\n");
		printf("  estimate     %.1f s at %.0f MB/s (plus a verify pass converting again)\n", est,
		       EST_MB_PER_S);
	} else if (m->state == DJ_MIGRATE_SWAPPED) {
		printf("  next         --finalize drops %s\n", m->bak_col);
	}
}

static int run_single(const args *a, dj_migrate_array *ma, dj_cli_conn *c)
{
	dj_migrate *m = &ma->m;
	dj_err err = DJ_ERR_INIT;
	dj_migrate_survey s;
	memset(&s, 0, sizeof(s));
	int rc = dj_migrate_open(m, &err);
	if (rc == 0 && a->finalize) {
		rc = dj_migrate_finalize(m, &err);
		if (rc == 0 && !a->json)
			printf("migrate %s: dropped %s; done\n", a->target, m->bak_col);
		else if (rc == 0)
			printf("{\"action\":\"finalize\",\"table\":\"%s\",\"state\":\"%s\"}\n",
			       a->target, dj_migrate_state_name(m->state));
	} else if (rc == 0) {
		rc = dj_migrate_array_survey(ma, &s, &err);
		if (rc == 0)
			print_plan(a, ma, &s);
	}
	dj_migrate_survey_dispose(&s);
	if (rc == 0)
		return DJ_EXIT_OK;
	fprintf(stderr, "djrun: migrate: %s\n", err.msg);
	if (!m->db)
		return c->attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	return rc == DJ_EUSAGE ? DJ_EXIT_USAGE : DJ_EXIT_FAILED;
}

static void progress(void *arg, const dj_tally *t)
{
	const dj_migrate_array *ma = arg;
	const dj_migrate *m = &ma->m;
	fprintf(stderr,
	        "migrate: %" PRIu64 " rows (%.1f MB) converted, %" PRIu64 " refused, %" PRIu64
	        " verified, %" PRIu64 " bad, %.1f s\n",
	        m->rows_filled, mb(m->bytes_filled), ma->rows_refused, m->rows_verified,
	        m->rows_bad, t->wall_s);
}

static void on_result(void *arg, const dj_job_result *r)
{
	(void)arg;
	if (r->outcome == DJ_JOB_FAILED)
		fprintf(stderr, "djrun: migrate: %s\n", r->err.msg);
}

typedef struct outcome {
	int rc_fill, rc_verify, rc_swap;
	dj_err err;
	double wall_s, fill_s;
	uint64_t failed;
	bool swapped;
	int ranks;
} outcome;

static const char *ending(const args *a, const dj_migrate_array *ma, const outcome *o, int *code)
{
	const dj_migrate *m = &ma->m;
	*code = DJ_EXIT_OK;
	if (o->rc_fill == DJ_ESTOP || o->rc_verify == DJ_ESTOP) {
		*code = DJ_EXIT_DRAINED;
		return "stopped by a signal (run again to continue)";
	}
	if (o->rc_fill < 0 || o->rc_verify < 0 || o->rc_swap < 0 || o->failed || m->rows_bad ||
	    ma->rows_refused)
		*code = DJ_EXIT_FAILED;
	if (*code && m->rows_bad)
		return "rows failed verification and were reset (run again to refill them)";
	if (*code && ma->rows_refused)
		return "values refused (their rows are unchanged); not swapped";
	if (*code)
		return "failed";
	if (!o->swapped && a->until)
		return a->until[0] == 'f' ? "stopped after fill (--until)"
		                          : "stopped after verify (--until)";
	if (!o->swapped && m->state == DJ_MIGRATE_SWAPPED)
		return "already swapped (--finalize drops the backup)";
	if (!o->swapped && m->state == DJ_MIGRATE_DONE)
		return "already done";
	return o->swapped ? "swapped" : "not swapped";
}

static int report(const args *a, dj_migrate_array *ma, const outcome *o)
{
	dj_migrate *m = &ma->m;
	char t[200];
	int code;
	const char *end = ending(a, ma, o, &code);
	double rate = o->fill_s > 0 ? mb(m->bytes_filled) / o->fill_s : 0;
	const char *codec = m->target.codec ? target_text(ma, t, sizeof t) : "?";
	if (a->json) {
		json_t *refused = json_array();
		for (size_t i = 0; i < ma->nrefused; i++)
			json_array_append_new(refused, json_string(ma->refused[i]));
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, "
		                      "s:b, s:f, s:f, s:f, s:i, s:s, s:s}",
		                      "action", "execute", "table", a->target, "codec", codec,
		                      "format", dj_array_format_name(ma->format), "ranks", o->ranks,
		                      "rows_stored", (json_int_t)m->rows_filled, "bytes_stored",
		                      (json_int_t)m->bytes_filled, "rows_refused",
		                      (json_int_t)ma->rows_refused, "rows_verified",
		                      (json_int_t)m->rows_verified, "rows_bad",
		                      (json_int_t)m->rows_bad, "items_failed", (json_int_t)o->failed,
		                      "refused", refused, "swapped", o->swapped, "wall_s", o->wall_s,
		                      "fill_s", o->fill_s, "fill_mb_per_s", rate, "exit", code,
		                      "state", dj_migrate_state_name(m->state), "end", end);
		if (j)
			json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	}
	fprintf(stderr,
	        "migrate %s -> %s: %d ranks, %" PRIu64 " rows (%.1f MB of blobs) converted in %.2f s "
	        "(%.1f MB/s), %" PRIu64 " refused, %" PRIu64 " verified, %" PRIu64
	        " bad, %.2f s in all; %s\n",
	        a->target, codec, o->ranks, m->rows_filled, mb(m->bytes_filled), o->fill_s, rate,
	        ma->rows_refused, m->rows_verified, m->rows_bad, o->wall_s, end);
	for (size_t i = 0; i < ma->nrefused; i++)
		fprintf(stderr, "djrun: migrate: %s\n", ma->refused[i]);
	if (ma->rows_refused > ma->nrefused)
		fprintf(stderr, "djrun: migrate: ... %" PRIu64 " refused values in all\n",
		        ma->rows_refused);
	if (o->err.code && o->err.code != DJ_ESTOP)
		fprintf(stderr, "djrun: migrate: %s\n", o->err.msg);
	if (m->first_bad[0])
		fprintf(stderr, "djrun: migrate: first bad row: %s\n", m->first_bad);
	return code;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_execute(const args *a, dj_migrate_array *ma, dj_cli_conn *c)
{
	dj_migrate *m = &ma->m;
	dj_run_opts o;
	dj_tally t;
	outcome out;
	memset(&out, 0, sizeof(out));
	memset(&t, 0, sizeof(t));
	dj_run_opts_init(&o);
	o.launched_size = dj_launch_size();
	o.max_inflight = 4; /* items are MBs: bound what sits in memory per worker */
	o.plan_batch = 4;
	if (a->batch >= 1)
		o.batch_size = (size_t)a->batch;
	o.stop = dj_signals_install();
	o.progress_s = a->progress_s;
	o.progress = progress;
	o.on_result = on_result;
	o.arg = ma;
	dj_launch_prepare();
	double t0 = now_s();
	out.rc_fill = dj_run(&dj_migrate_array_fill_job, ma, &o, &t, &out.err);
	out.fill_s = now_s() - t0;
	out.ranks = t.size;
	out.failed = t.failed;
	bool rank0 = t.rank == 0;
	int early = 0;
	if (rank0 && out.rc_fill < 0) {
		m->stopped = true;
		if (!m->db || out.rc_fill == DJ_EUSAGE)
			early = out.rc_fill == DJ_EUSAGE || !c->attempted ? DJ_EXIT_USAGE
			                                                  : DJ_EXIT_UNREACHABLE;
	}
	int wexit = dj_job_exit_code(&t, out.rc_fill);
	if (!a->until || strcmp(a->until, "fill")) {
		dj_err verr = DJ_ERR_INIT;
		out.rc_verify = dj_run(&dj_migrate_array_verify_job, ma, &o, &t, &verr);
		out.failed += rank0 ? t.failed : 0;
		if (out.rc_verify < 0 && !out.err.code)
			out.err = verr;
		if (!rank0 && wexit == 0)
			wexit = dj_job_exit_code(&t, out.rc_verify);
	}
	/* refused values stay in the old column: the column cannot change type under them */
	if (rank0 && !a->until && !m->stopped && out.rc_fill == 0 && out.rc_verify == 0 &&
	    !out.failed && !m->rows_bad && !ma->rows_refused && m->state == DJ_MIGRATE_IN_FLIGHT) {
		out.rc_swap = dj_migrate_swap(m, &out.err);
		out.swapped = out.rc_swap == 0;
	}
	out.wall_s = now_s() - t0;
	if (early) {
		fprintf(stderr, "djrun: %s\n", out.err.msg);
		fflush(stderr);
		dj_run_finalize();
		return early;
	}
	int code = rank0 ? report(a, ma, &out) : wexit;
	if (!rank0 && out.err.code && out.err.code != DJ_ESTOP)
		fprintf(stderr, "djrun: migrate: rank %d: %s\n", t.rank, out.err.msg);
	fflush(stdout);
	fflush(stderr);
	dj_run_finalize();
	return code;
}

/* The action is the first argument that is neither an option nor an option's value. */
bool dj_cmd_migrate_array_wants(int argc, char **argv)
{
	static const char *const valued[] = {"--store", "--format", "--config", "--until",
	                                     "--item-mb", "--chunk-mb", "--batch", "--progress",
	                                     "--codec"};
	for (int i = 1; i < argc; i++) {
		bool skip = false;
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			skip = skip || !strcmp(argv[i], valued[k]);
		if (skip) {
			i++;
			continue;
		}
		if (argv[i][0] != '-')
			return !strcmp(argv[i], "to-npy") || !strcmp(argv[i], "to-object");
	}
	return false;
}

int dj_cmd_migrate_array(int argc, char **argv)
{
	args a;
	dj_config cfg;
	dj_migrate_array ma;
	dj_err err = DJ_ERR_INIT;
	bool done = false;
	char *schema = NULL, *table = NULL, *attr = NULL;
	char codec[DJ_STORE_NAME_MAX + 16];
	memset(&a, 0, sizeof(a));
	memset(&ma, 0, sizeof(ma));
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	if ((rc = split_target(a.target, &schema, &table, &attr)) != DJ_EXIT_OK)
		goto out_args;
	if (!schema || !table || !attr) {
		fprintf(stderr, "djrun: migrate: out of memory\n");
		rc = DJ_EXIT_FAILED;
		goto out_args;
	}
	if ((rc = dj_cli_load_config("migrate", a.config_file, &cfg)) != DJ_EXIT_OK)
		goto out_args;
	dj_cli_conn c = {&cfg, false};
	ma.format = !strcmp(a.action, "to-npy")           ? DJ_ARRAY_NPY
	            : !strcmp(a.format, "hdf5")          ? DJ_ARRAY_HDF5
	                                                 : DJ_ARRAY_ZARR;
	snprintf(codec, sizeof(codec), "<%s@%s>", ma.format == DJ_ARRAY_NPY ? "npy" : "object",
	         a.store ? a.store : "");
	ma.m.schema_name = schema;
	ma.m.table_name = table;
	ma.m.attr_name = attr;
	ma.m.codec = codec;
	ma.m.specs = cfg.stores;
	ma.m.nspecs = cfg.nstores;
	ma.m.default_store = cfg.store_default;
	ma.m.item_bytes = a.item_mb > 0 ? (size_t)(a.item_mb * 1048576.0) : 0;
	ma.m.no_sync = a.no_sync;
	ma.m.connect = dj_cli_connect;
	ma.m.connect_arg = &c;
	ma.chunk_bytes = a.chunk_mb > 0 ? (size_t)(a.chunk_mb * 1048576.0) : 0;
	if (dj_migrate_array_init(&ma, &err) < 0)
		rc = dj_cli_usage_error("migrate", "%s", err.msg);
	else if (a.execute)
		rc = run_execute(&a, &ma, &c);
	else if (launch_rank() == 0)
		rc = run_single(&a, &ma, &c);
	else
		rc = DJ_EXIT_OK; /* under a launcher only rank 0 plans or finalizes */
	dj_migrate_array_dispose(&ma);
	dj_config_free(&cfg);
out_args:
	free(schema), free(table), free(attr);
	return rc;
}
