/*
 * djrun migrate legacy-external SCHEMA: a DataJoint 0.14 schema's external storage to the 2.x
 * layout (jobs/migrate_legacy.h).
 *   djrun migrate legacy-external SCHEMA [--dry-run | --execute [--move] | --finalize]
 *   djrun migrate status SCHEMA            (a schema name alone: this migration's progress)
 * The plan (dry run) is the default; --execute runs fill, verify and swap over MPI when
 * launched by mpirun/srun (rank 0 the only database writer), else in one process.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/migrate_legacy.h"
#include "mpi/run.h"
#include "runner/cli.h"
#include "runner/db_connect.h"
#include "runner/exit.h"
#include "slurm/env.h"
#include "slurm/signals.h"

/* Throughput and per-object cost assumed by the plan's estimate (bench/migrate_legacy.sh
 * measures the real ones). */
#define EST_MB_PER_S 150.0
#define EST_OBJECTS_PER_S 500.0

static void help(FILE *out)
{
	fprintf(
	    out,
	    "usage: djrun migrate legacy-external SCHEMA [--dry-run | --execute | --finalize]\n"
	    "       djrun migrate status SCHEMA\n\n"
	    "DataJoint 0.14 external storage to the 2.x layout. binary(16) columns marked\n"
	    ":blob@store:, :attach@store:, :filepath@store: become json columns with the 2.x\n"
	    "metadata (:<blob@store>: ...); objects are copied from <schema>/<ab>/<cd>/<uuid> to\n"
	    "_hash/<schema>/<base32 of the uuid> in the same store (attachments rebuilt as\n"
	    "name NUL contents; files of filepath columns stay where they are). In-table blob and\n"
	    ":attach: columns get their :<blob>: / :<attach>: marker. Steps, each resumable:\n"
	    "  1. add the hidden column _<attr>_migrating (json) per external column\n"
	    "  2. fill it: workers copy and re-hash the objects, rank 0 writes the metadata\n"
	    "  3. verify: every object is read back and re-hashed against the metadata and the\n"
	    "     0.14 uuid; a bad row is reset and the run fails naming it\n"
	    "     (--move: the 0.14 object is removed once its new object verified)\n"
	    "  4. swap: the foreign key to ~external_<store> is dropped, <attr> becomes the json\n"
	    "     column and the 0.14 one is kept as _<attr>_backup\n"
	    "  5. --finalize (a separate run) drops the _<attr>_backup columns; the ~external_*\n"
	    "     tables are kept (2.x ignores them; they list the 0.14 objects)\n"
	    "A killed run continues where it stopped: filled rows are verified, not copied again.\n"
	    "Stop other writers to the schema while it runs.\n\n"
	    "options:\n"
	    "  --dry-run        print the plan only (the default)\n"
	    "  --execute        run the migration\n"
	    "  --move           with --execute: remove each 0.14 object after its copy verified\n"
	    "  --until STEP     with --execute: stop after 'fill' or 'verify' (no swap)\n"
	    "  --finalize       drop the backup columns of a swapped migration\n"
	    "  --rows           with --json: the plan lists every row's target\n"
	    "  --item-rows N    rows per work item (64)\n"
	    "  --batch N        work items per commit (100)\n"
	    "  --no-sync        file store: no fsync per object (scratch stores, benchmarks)\n"
	    "  --progress S     a progress line on stderr every S seconds\n"
	    "  --config FILE    datajoint.json to use (its stores name the 0.14 stores)\n"
	    "  --json           the plan, status or report as one JSON object on stdout\n\n"
	    "exit codes: 0 done (or nothing to do), 1 failed (see the message), 2 usage,\n"
	    "            3 database unreachable, 75 stopped by a signal (run again)\n");
}

typedef struct args {
	const char *schema, *config_file, *until;
	bool status, execute, finalize, move, json, rows, no_sync;
	double item_rows, batch, progress_s;
} args;

static bool takes_value(const char *o)
{
	static const char *v[] = {"--config", "--codec",     "--until",   "--item-mb",
	                          "--batch",  "--item-rows", "--progress"};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!strcmp(o, v[i]))
			return true;
	return false;
}

bool dj_cmd_migrate_legacy_wants(int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL};
	size_t n = 0;
	for (int i = 1; i < argc && n < 2; i++) {
		if (argv[i][0] == '-') {
			i += takes_value(argv[i]);
			continue;
		}
		pos[n++] = argv[i];
	}
	if (pos[0] && !strcmp(pos[0], "legacy-external"))
		return true;
	/* status of a whole schema (to-store names SCHEMA.Table.attr) */
	return pos[0] && !strcmp(pos[0], "status") && pos[1] && !strchr(pos[1], '.');
}

static int parse_args(int argc, char **argv, args *a, bool *done)
{
	int rc;
	const char *action = NULL;
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
		else if (!strcmp(o, "--move"))
			a->move = true;
		else if (!strcmp(o, "--json"))
			a->json = true;
		else if (!strcmp(o, "--rows"))
			a->rows = true;
		else if (!strcmp(o, "--no-sync"))
			a->no_sync = true;
		else if (o[0] != '-') {
			if (!action)
				action = o;
			else if (!a->schema)
				a->schema = o;
			else
				return dj_cli_usage_error("migrate", "unexpected argument '%s'", o);
		} else if (i + 1 >= argc)
			return dj_cli_usage_error("migrate", "unknown option or missing value '%s'",
			                          o);
		else if (!strcmp(o, "--config"))
			a->config_file = argv[++i];
		else if (!strcmp(o, "--until"))
			a->until = argv[++i];
		else if (!strcmp(o, "--item-rows")) {
			if ((rc = dj_cli_number("migrate", o, argv[++i], &a->item_rows)))
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
	a->status = action && !strcmp(action, "status");
	if (!a->schema)
		return dj_cli_usage_error("migrate", "legacy-external expects a SCHEMA");
	if (a->until && strcmp(a->until, "fill") && strcmp(a->until, "verify"))
		return dj_cli_usage_error("migrate", "--until takes 'fill' or 'verify'");
	if (a->finalize && a->execute)
		return dj_cli_usage_error("migrate", "--finalize is a step of its own");
	if (a->move && !a->execute)
		return dj_cli_usage_error("migrate", "--move goes with --execute");
	if (a->status && (a->execute || a->finalize))
		return dj_cli_usage_error("migrate", "status changes nothing");
	return DJ_EXIT_OK;
}

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

/* "2.5 MB", "12.0 kB", "37 B" */
static const char *size_text(uint64_t b, char *buf, size_t n)
{
	if (b >= 1000000)
		snprintf(buf, n, "%.1f MB", mb(b));
	else if (b >= 1000)
		snprintf(buf, n, "%.1f kB", (double)b / 1e3);
	else
		snprintf(buf, n, "%" PRIu64 " B", b);
	return buf;
}

static double estimate_s(uint64_t bytes, uint64_t objects)
{
	return mb(bytes) / EST_MB_PER_S + (double)objects / EST_OBJECTS_PER_S;
}

static void print_columns(const dj_legacy *m)
{
	for (size_t i = 0; i < m->ncols; i++) {
		const dj_legacy_col *c = &m->cols[i];
		char name[160], kind[80], sz[32];
		snprintf(name, sizeof name, "%s.%s", c->table, c->column);
		snprintf(kind, sizeof kind, "%s%s%s", dj_legacy_kind_name(c->kind),
		         c->store ? "@" : "", c->store ? c->store : "");
		if (c->store)
			printf("  column       %-24s %-16s %s: %" PRIu64 " rows, %" PRIu64
			       " values, %" PRIu64 " migrated, %s to read\n",
			       name, kind, dj_legacy_state_name(c->state), c->rows, c->values,
			       c->filled, size_text(c->bytes_todo, sz, sizeof sz));
		else
			printf("  column       %-24s %-16s marker only: %" PRIu64 " rows\n", name,
			       kind, c->rows);
	}
}

/* Plan (dry run) or status: rank 0 alone, no engine. */
static int run_single(const args *a, dj_legacy *m, dj_cli_conn *c)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf js = DJ_BUF_INIT;
	int rc = dj_legacy_open(m, &err);
	if (rc == 0)
		rc = dj_legacy_survey(m, &err);
	if (rc == 0 && !a->status)
		rc = dj_legacy_plan_json(m, a->rows, &js, &err);
	if (rc == 0 && a->json && !a->status) {
		/* the estimate is the tool's (its rates), not the library's */
		json_t *pj = json_loadb(js.ptr, js.len, 0, NULL);
		uint64_t ob =
		    pj ? (uint64_t)json_integer_value(json_object_get(pj, "objects_to_write")) : 0;
		uint64_t by =
		    pj ? (uint64_t)json_integer_value(json_object_get(pj, "bytes_to_copy")) : 0;
		if (pj)
			json_object_set_new(pj, "estimate_s", json_real(estimate_s(by, ob)));
		if (pj)
			json_dumpf(pj, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(pj);
	} else if (rc == 0 && a->json) {
		json_t *cols = json_array();
		for (size_t i = 0; i < m->ncols; i++) {
			const dj_legacy_col *x = &m->cols[i];
			json_array_append_new(
			    cols,
			    json_pack(
			        "{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:I}", "table", x->table,
			        "column", x->column, "kind", dj_legacy_kind_name(x->kind), "store",
			        x->store ? json_string(x->store) : json_null(), "state",
			        x->store ? dj_legacy_state_name(x->state) : "to mark", "rows",
			        (json_int_t)x->rows, "values", (json_int_t)x->values, "migrated",
			        (json_int_t)x->filled, "bytes_to_copy", (json_int_t)x->bytes_todo));
		}
		json_t *j = json_pack("{s:s, s:s, s:o}", "action", "status", "schema", a->schema,
		                      "columns", cols);
		if (j)
			json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	} else if (rc == 0) {
		uint64_t todo = 0, bytes = 0, objects = 0, obytes = 0, unref = 0;
		json_t *pj = a->status ? NULL : json_loadb(js.ptr, js.len, 0, NULL);
		for (size_t i = 0; i < m->ncols; i++)
			if (m->cols[i].store) {
				todo += m->cols[i].values > m->cols[i].filled
				            ? m->cols[i].values - m->cols[i].filled
				            : 0;
				bytes += m->cols[i].bytes_todo;
			}
		printf("migrate legacy-external %s%s\n", a->schema,
		       a->status ? "" : " (dry run: nothing changed; --execute runs it)");
		if (!m->ncols)
			printf("  nothing to migrate: no 0.14 column in this schema\n");
		print_columns(m);
		char sz[32];
		printf("  to migrate   %" PRIu64 " values, %s to read\n", todo,
		       size_text(bytes, sz, sizeof sz));
		if (pj) {
			objects =
			    (uint64_t)json_integer_value(json_object_get(pj, "objects_to_write"));
			obytes = (uint64_t)json_integer_value(json_object_get(pj, "object_bytes"));
			unref = json_array_size(json_object_get(pj, "unreferenced_external"));
			printf("  objects      %" PRIu64 " to write (%s) under _hash/%s/\n",
			       objects, size_text(obytes, sz, sizeof sz), a->schema);
			const char *k;
			json_t *v;
			size_t shown = 0;
			json_object_foreach(json_object_get(pj, "objects"), k, v)
			{
				if (shown++ == 3)
					break;
				printf("  path         %s  <- %s\n", k,
				       json_string_value(json_object_get(v, "from")));
			}
			printf("  unreferenced %" PRIu64
			       " ~external rows no row uses (not migrated)\n",
			       unref);
			printf(
			    "  estimate     %.1f s at %.0f MB/s and %.0f objects/s (plus a verify "
			    "pass reading them back)\n",
			    estimate_s(bytes, objects), EST_MB_PER_S, EST_OBJECTS_PER_S);
		}
		json_decref(pj);
	}
	dj_buf_dispose(&js);
	if (rc == 0)
		return DJ_EXIT_OK;
	fprintf(stderr, "djrun: migrate: %s\n", err.msg);
	if (!m->db)
		return c->attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	return rc == DJ_EUSAGE ? DJ_EXIT_USAGE : DJ_EXIT_FAILED;
}

static int run_finalize(const args *a, dj_legacy *m, dj_cli_conn *c)
{
	dj_err err = DJ_ERR_INIT;
	size_t dropped = 0;
	int rc = dj_legacy_open(m, &err);
	if (rc == 0)
		rc = dj_legacy_finalize(m, &dropped, &err);
	if (rc == 0 && a->json)
		printf("{\"action\":\"finalize\",\"schema\":\"%s\",\"dropped\":%zu}\n", a->schema,
		       dropped);
	else if (rc == 0)
		printf("migrate legacy-external %s: dropped %zu backup column%s%s\n", a->schema,
		       dropped, dropped == 1 ? "" : "s", dropped ? "; done" : " (nothing to do)");
	if (rc == 0)
		return DJ_EXIT_OK;
	fprintf(stderr, "djrun: migrate: %s\n", err.msg);
	if (!m->db)
		return c->attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	return rc == DJ_EUSAGE ? DJ_EXIT_USAGE : DJ_EXIT_FAILED;
}

static void progress(void *arg, const dj_tally *t)
{
	const dj_legacy *m = arg;
	fprintf(stderr,
	        "migrate: %" PRIu64 " rows filled (%.1f MB written), %" PRIu64 " verified, %" PRIu64
	        " bad, %.1f s\n",
	        m->rows_filled, mb(m->bytes_copied), m->rows_verified, m->rows_bad, t->wall_s);
}

static void on_result(void *arg, const dj_job_result *r)
{
	(void)arg;
	if (r->outcome == DJ_JOB_FAILED)
		fprintf(stderr, "djrun: migrate: %s\n", r->err.msg);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct outcome {
	int rc_fill, rc_verify, rc_swap, ranks;
	dj_err err;
	double wall_s, fill_s;
	uint64_t failed;
	bool swapped;
} outcome;

static int report(const args *a, dj_legacy *m, const outcome *o)
{
	int code = DJ_EXIT_OK;
	const char *end = o->swapped ? "swapped" : "not swapped";
	size_t inflight = 0, swapped = 0;
	for (size_t i = 0; i < m->ncols; i++) {
		inflight += m->cols[i].store && m->cols[i].state == DJ_LEGACY_IN_FLIGHT;
		swapped += m->cols[i].store && m->cols[i].state == DJ_LEGACY_SWAPPED;
	}
	if (o->rc_fill == DJ_ESTOP || o->rc_verify == DJ_ESTOP)
		code = DJ_EXIT_DRAINED, end = "stopped by a signal (run again to continue)";
	else if (o->rc_fill < 0 || o->rc_verify < 0 || o->rc_swap < 0 || o->failed || m->rows_bad ||
	         m->rows_failed)
		code = DJ_EXIT_FAILED;
	if (code == DJ_EXIT_FAILED && m->rows_bad)
		end = "rows failed verification and were reset (run again to refill them)";
	else if (code == DJ_EXIT_FAILED && m->rows_failed)
		end = "rows could not be migrated (see the first error)";
	else if (code == DJ_EXIT_FAILED)
		end = "failed";
	else if (!o->swapped && a->until)
		end = a->until[0] == 'f' ? "stopped after fill (--until)"
		                         : "stopped after verify (--until)";
	else if (!o->swapped && !inflight && swapped)
		end = "already swapped (--finalize drops the backups)";
	else if (!o->swapped && !inflight)
		end = "nothing to migrate";
	double rate = o->fill_s > 0 ? mb(m->bytes_copied) / o->fill_s : 0;
	if (a->json) {
		json_t *j = json_pack(
		    "{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:f, s:f, s:f, s:i, "
		    "s:s}",
		    "action", "execute", "schema", a->schema, "ranks", o->ranks, "rows_filled",
		    (json_int_t)m->rows_filled, "bytes_written", (json_int_t)m->bytes_copied,
		    "rows_verified", (json_int_t)m->rows_verified, "rows_bad",
		    (json_int_t)m->rows_bad, "rows_failed", (json_int_t)m->rows_failed,
		    "items_failed", (json_int_t)o->failed, "swapped", o->swapped, "moved", a->move,
		    "wall_s", o->wall_s, "fill_s", o->fill_s, "fill_mb_per_s", rate, "exit", code,
		    "end", end);
		if (j && code == DJ_EXIT_FAILED)
			json_object_set_new(
			    j, "error", json_string(m->first_bad[0] ? m->first_bad : o->err.msg));
		if (j)
			json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	}
	fprintf(stderr,
	        "migrate legacy-external %s: %d ranks, %" PRIu64
	        " rows filled (%.1f MB written) in "
	        "%.2f s (%.1f MB/s), %" PRIu64 " verified, %" PRIu64 " bad, %" PRIu64
	        " failed, %.2f s in all; %s\n",
	        a->schema, o->ranks, m->rows_filled, mb(m->bytes_copied), o->fill_s, rate,
	        m->rows_verified, m->rows_bad, m->rows_failed, o->wall_s, end);
	if (o->err.code && o->err.code != DJ_ESTOP)
		fprintf(stderr, "djrun: migrate: %s\n", o->err.msg);
	if (m->first_bad[0])
		fprintf(stderr, "djrun: migrate: first bad row: %s\n", m->first_bad);
	return code;
}

static int run_execute(const args *a, dj_legacy *m, dj_cli_conn *c)
{
	dj_run_opts o;
	dj_tally t;
	outcome out;
	memset(&out, 0, sizeof(out));
	memset(&t, 0, sizeof(t));
	dj_run_opts_init(&o);
	o.launched_size = dj_launch_size();
	o.max_inflight = 4; /* items are whole objects: bound what sits in memory per worker */
	o.plan_batch = 4;
	if (a->batch >= 1)
		o.batch_size = (size_t)a->batch;
	o.stop = dj_signals_install();
	o.progress_s = a->progress_s;
	o.progress = progress;
	o.on_result = on_result;
	o.arg = m;
	dj_launch_prepare();
	double t0 = now_s();
	out.rc_fill = dj_run(&dj_legacy_fill_job, m, &o, &t, &out.err);
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
		out.rc_verify = dj_run(&dj_legacy_verify_job, m, &o, &t, &verr);
		out.failed += rank0 ? t.failed : 0;
		if (out.rc_verify < 0 && !out.err.code)
			out.err = verr;
		if (!rank0 && wexit == 0)
			wexit = dj_job_exit_code(&t, out.rc_verify);
	}
	if (rank0 && !a->until && !m->stopped && out.rc_fill == 0 && out.rc_verify == 0 &&
	    !out.failed && !m->rows_bad && !m->rows_failed) {
		bool any = false;
		for (size_t i = 0; i < m->ncols; i++)
			any |= m->cols[i].state == DJ_LEGACY_IN_FLIGHT ||
			       (!m->cols[i].store && m->cols[i].state == DJ_LEGACY_NOT_STARTED);
		if (any) {
			out.rc_swap = dj_legacy_swap(m, &out.err);
			out.swapped = out.rc_swap == 0;
		}
	}
	out.wall_s = now_s() - t0;
	if (early) {
		fprintf(stderr, "djrun: %s\n", out.err.msg);
		fflush(stderr);
		dj_run_finalize();
		return early;
	}
	int code = rank0 ? report(a, m, &out) : wexit;
	if (!rank0 && out.err.code && out.err.code != DJ_ESTOP)
		fprintf(stderr, "djrun: migrate: rank %d: %s\n", t.rank, out.err.msg);
	fflush(stdout);
	fflush(stderr);
	dj_run_finalize();
	return code;
}

int dj_cmd_migrate_legacy(int argc, char **argv)
{
	args a;
	dj_config cfg;
	dj_legacy m;
	bool done = false;
	memset(&a, 0, sizeof(a));
	memset(&m, 0, sizeof(m));
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	if ((rc = dj_cli_load_config("migrate", a.config_file, &cfg)) != DJ_EXIT_OK)
		return rc;
	dj_cli_conn c = {&cfg, false};
	m.schema_name = a.schema;
	m.specs = cfg.stores;
	m.nspecs = cfg.nstores;
	m.move = a.move;
	m.item_rows = a.item_rows >= 1 ? (size_t)a.item_rows : 0;
	m.no_sync = a.no_sync;
	m.connect = dj_cli_connect;
	m.connect_arg = &c;
	if (a.execute)
		rc = run_execute(&a, &m, &c);
	else if (launch_rank() != 0)
		rc = DJ_EXIT_OK; /* under a launcher only rank 0 plans, reports or finalizes */
	else if (a.finalize)
		rc = run_finalize(&a, &m, &c);
	else
		rc = run_single(&a, &m, &c);
	dj_legacy_dispose(&m);
	dj_config_free(&cfg);
	return rc;
}
