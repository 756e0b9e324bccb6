/*
 * djrun populate SCHEMA.Table --make 'CMD ...' [options]: compute the pending keys of an
 * Imported or Computed table with a make command per key (jobs/populate.h, jobs/make.h),
 * under mpirun/srun over MPI (rank 0 the only database writer), else in one process.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/job.h"
#include "jobs/make.h"
#include "jobs/populate.h"
#include "mpi/run.h"
#include "runner/cli.h"
#include "runner/db_connect.h"
#include "runner/exit.h"
#include "slurm/env.h"
#include "slurm/signals.h"
#include "slurm/submit.h"

/* As runner/cmd_selftest.c: ranks the launcher started (0 = none, -1 = unknown). */
static void help(FILE *out)
{
	fprintf(
	    out,
	    "usage: djrun populate SCHEMA.Table --make 'CMD ARGS' [options]\n"
	    "       djrun populate SCHEMA.Table [options] -- CMD ARGS...\n"
	    "       djrun populate SCHEMA.Table --make-server 'CMD ARGS' | --make-plugin LIB.so\n"
	    "       djrun populate SCHEMA [options]   (every table djrun.json gives a make)\n\n"
	    "Compute the pending keys of an Imported or Computed table (key_source minus the\n"
	    "table), one make command per key. Under mpirun/srun rank 0 plans and inserts, every\n"
	    "other rank runs makes; alone it does everything in one process.\n\n"
	    "The make protocol. For each key djrun makes a scratch directory and runs CMD there\n"
	    "(no shell: --make is split on spaces; use the form after -- for other arguments):\n"
	    "  key.json       the key, a JSON object  {\"subject_id\": 1, \"session\": \"a\"}\n"
	    "  environment    DJRUN_KEY_JSON (key.json), DJRUN_OUTPUT_DIR (outputs/),\n"
	    "                 DJRUN_SCRATCH (the directory)\n"
	    "  outputs/row.json  written by the make: one JSON object of the row's non-key\n"
	    "                 attributes; numbers, strings, booleans, null; for an array\n"
	    "                 {\"npy\": \"x.npy\"} names a .npy file the make wrote in outputs/\n"
	    "                 (stored as the array; for <blob>, <blob@>, <npy@>), {\"file\": \"f\"}\n"
	    "                 any file there (for <attach>, <attach@>, <object@>, <hash@>)\n"
	    "  outputs/parts/<Part>.jsonl  part rows: one JSON object per line, values as above\n"
	    "  exit status    0 = success; anything else fails the key, and the tail of stderr\n"
	    "                 becomes the job's error_stack (message \"MakeError: ...\")\n\n"
	    "--make-server 'CMD': one process per rank for every key (no interpreter start-up per\n"
	    "key), run in this directory. Per key djrun makes the scratch directory as above and\n"
	    "writes one line to its stdin:\n"
	    "  {\"key\": {...}, \"scratch\": DIR, \"inputs\": {\"name\": PATH}, \"output_dir\": DIR}\n"
	    "and reads one line from its stdout (write it and flush):\n"
	    "  {\"row\": {...}, \"parts\": {\"Part\": [{...}]}}   values as in row.json, .npy files\n"
	    "                                                relative to output_dir\n"
	    "  {\"error\": \"Kind: message\", \"stack\": \"...\"}  the key failed\n"
	    "stderr is kept as error_stack when no stack is given. A server that exits or replies\n"
	    "with something not JSON fails that key and is restarted for the next one.\n\n"
	    "--make-plugin 'LIB.so ARGS': a C library built with the installed header djrun_make.h\n"
	    "(ABI version DJRUN_MAKE_ABI), loaded once per rank; ARGS go to its djrun_make_init.\n"
	    "It runs inside djrun: a plugin that crashes takes its rank down.\n\n"
	    "options:\n"
	    "  --make 'CMD'       the make command (or argv after --)\n"
	    "  --make-server 'CMD'  a long-lived make speaking JSON lines (above)\n"
	    "  --make-plugin 'LIB.so ARGS'  a C make plugin (djrun_make.h)\n"
	    "  --where SQL        restrict key_source (SQL text, as a string restriction)\n"
	    "  --reserve-jobs     reserve keys through the ~~ jobs table (default with > 1 rank)\n"
	    "  --no-reserve-jobs  direct mode even under MPI\n"
	    "  --max-calls N      at most N keys\n"
	    "  --priority P       jobs: new jobs get priority P, and only jobs of priority <= P\n"
	    "                     are taken (smaller = more urgent; default: all, new ones 5)\n"
	    "  --fetch T.attr     give the make attribute attr of ancestor table T as a file in\n"
	    "                     inputs/ (T.attr.npy for arrays and <npy@>, T.attr.json for\n"
	    "                     plain values, the file itself for attachments and objects);\n"
	    "                     repeatable. Rank 0 reads them; workers need no database\n"
	    "  --stop-on-error    stop dispatching after the first failed key\n"
	    "  --scratch DIR      where scratch directories go ($TMPDIR or /tmp)\n"
	    "  --batch N          keys per commit (100)\n"
	    "  --drain-timeout S  after a stop signal, wait S seconds for the running makes (20),\n"
	    "                     then stop them; their keys go back to pending\n"
	    "  --progress S       progress on stderr every S seconds (a bar on a terminal every\n"
	    "                     0.5 s, else a line every 30 s; 0 = none)\n"
	    "  --config FILE      datajoint.json to use\n"
	    "  --pipeline FILE    the pipeline file (default: djrun.json from here upward)\n"
	    "  --json             one JSON object per key on stdout, then a summary\n\n"
	    "The pipeline file. djrun.json's \"populate\" object gives each table its make:\n"
	    "  {\"populate\": {\"Square\": {\"make\": \"python3 square.py\",\n"
	    "                           \"fetch\": [\"Item.x\"], \"where\": \"item_id < 100\"},\n"
	    "                \"Stats\": {\"make_plugin\": \"./libstats.so\"}}}\n"
	    "(\"make\" may also be an argv array; keys: make, make_server, make_plugin, fetch,\n"
	    "where). `djrun populate SCHEMA` runs every table of SCHEMA listed there, parents\n"
	    "first, stopping at a drain; for SCHEMA.Table the command line wins over its entry.\n\n"
	    "exit codes: 0 all done (or nothing to do), 1 some keys failed, 2 usage,\n"
	    "            3 database unreachable, 75 drained on a signal (safe to requeue)\n");
}

typedef struct args {
	const char *target, *make, *where, *config_file, *scratch;
	char **make_argv; /* after -- (borrowed from argv) */
	const char *make_server, *make_plugin; /* --make-server 'CMD', --make-plugin 'LIB ARGS' */
	const char *pipeline;                  /* --pipeline FILE (else djrun.json upward) */
	int reserve;      /* -1 default, 0, 1 */
	const char *fetch[64]; /* --fetch Table.attr, repeatable */
	size_t nfetch;
	int priority; /* -1 none */
	int64_t max_calls;
	bool json, stop_on_error;
	/* for progress: the run in flight, its label, and whether stderr is a terminal */
	const dj_populate *pop;
	char label[300];
	bool tty, progress_set;
	double batch, progress_s;
	double drain_s; /* < 0: the engine's default */
} args;

static int parse_args(int argc, char **argv, args *a, bool *done)
{
	double v;
	int rc;
	a->reserve = -1;
	a->max_calls = -1;
	a->priority = -1;
	a->drain_s = -1;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			help(stdout);
			*done = true;
			return DJ_EXIT_OK;
		}
		if (!strcmp(o, "--")) {
			if (i + 1 >= argc)
				return dj_cli_usage_error("populate", "no command after --");
			a->make_argv = argv + i + 1;
			break;
		}
		if (!strcmp(o, "--reserve-jobs"))
			a->reserve = 1;
		else if (!strcmp(o, "--no-reserve-jobs"))
			a->reserve = 0;
		else if (!strcmp(o, "--json"))
			a->json = true;
		else if (!strcmp(o, "--stop-on-error"))
			a->stop_on_error = true;
		else if (o[0] != '-') {
			if (a->target)
				return dj_cli_usage_error("populate", "unexpected argument '%s'",
				                          o);
			a->target = o;
		} else if (i + 1 >= argc)
			return dj_cli_usage_error("populate",
			                          "unknown option or missing value '%s'", o);
		else if (!strcmp(o, "--make"))
			a->make = argv[++i];
		else if (!strcmp(o, "--make-server"))
			a->make_server = argv[++i];
		else if (!strcmp(o, "--make-plugin"))
			a->make_plugin = argv[++i];
		else if (!strcmp(o, "--where"))
			a->where = argv[++i];
		else if (!strcmp(o, "--fetch")) {
			if (a->nfetch == sizeof(a->fetch) / sizeof(a->fetch[0]))
				return dj_cli_usage_error("populate", "too many --fetch");
			a->fetch[a->nfetch++] = argv[++i];
		} else if (!strcmp(o, "--priority")) {
			if ((rc = dj_cli_number("populate", o, argv[++i], &v)))
				return rc;
			if (v > 127)
				return dj_cli_usage_error("populate", "--priority takes 0 to 127");
			a->priority = (int)v;
		}
		else if (!strcmp(o, "--config"))
			a->config_file = argv[++i];
		else if (!strcmp(o, "--pipeline"))
			a->pipeline = argv[++i];
		else if (!strcmp(o, "--scratch"))
			a->scratch = argv[++i];
		else if (!strcmp(o, "--max-calls")) {
			if ((rc = dj_cli_number("populate", o, argv[++i], &v)))
				return rc;
			a->max_calls = (int64_t)v;
		} else if (!strcmp(o, "--batch")) {
			if ((rc = dj_cli_number("populate", o, argv[++i], &a->batch)))
				return rc;
		} else if (!strcmp(o, "--drain-timeout")) {
			if ((rc = dj_cli_number("populate", o, argv[++i], &a->drain_s)))
				return rc;
		} else if (!strcmp(o, "--progress")) {
			if ((rc = dj_cli_number("populate", o, argv[++i], &a->progress_s)))
				return rc;
			a->progress_set = true;
		} else
			return dj_cli_usage_error("populate", "unknown option '%s'", o);
	}
	const char *dot = a->target ? strchr(a->target, '.') : NULL;
	if (!a->target || a->target[0] == '.' || (dot && !dot[1]))
		return dj_cli_usage_error("populate", "expected SCHEMA.Table or SCHEMA");
	if (!!a->make + !!a->make_argv + !!a->make_server + !!a->make_plugin > 1)
		return dj_cli_usage_error("populate",
		                          "give one make command: one of --make 'CMD', -- CMD, "
		                          "--make-server 'CMD' or --make-plugin LIB");
	return DJ_EXIT_OK;
}

/*
 * Progress on rank 0: on a terminal a bar redrawn in place, otherwise (a Slurm log) one line
 * per period. The total is the pending keys found at the start of the run.
 */
static void progress(void *arg, const dj_tally *t)
{
	const args *a = arg;
	uint64_t total = a->pop && a->pop->planned_keys ? (uint64_t)a->pop->keys.n : 0;
	uint64_t n = t->done + t->failed + t->skipped;
	double rate = t->wall_s > 0 ? (double)n / t->wall_s : 0;
	double pct = total ? 100.0 * (double)n / (double)total : 0;
	char eta[32] = "?";
	if (total && rate > 0)
		snprintf(eta, sizeof(eta), "%.0f s", (double)(total > n ? total - n : 0) / rate);
	if (a->tty) {
		char bar[31];
		size_t fill = total ? (size_t)(30.0 * (double)n / (double)total) : 0;
		for (size_t i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = 0;
		fprintf(stderr,
		        "\r%s [%s] %3.0f%% %" PRIu64 "/%" PRIu64 " keys, %" PRIu64
		        " failed, %.1f keys/s, ETA %s   ",
		        a->label, bar, pct, n, total, t->failed, rate, eta);
	} else {
		fprintf(stderr,
		        "populate %s: %" PRIu64 " of %" PRIu64 " keys (%.0f%%), %" PRIu64
		        " failed, %.1f keys/s, %.0f s, ETA %s\n",
		        a->label, n, total, pct, t->failed, rate, t->wall_s, eta);
	}
}

static void on_result(void *arg, const dj_job_result *r)
{
	const args *a = arg;
	if (!a->json)
		return;
	size_t idx, jlen;
	const char *kj = NULL;
	dj_err e = DJ_ERR_INIT;
	json_error_t je;
	json_t *key = dj_populate_item_parse(&r->item, &idx, &kj, &jlen, &e) == 0
	                  ? json_loadb(kj, jlen, 0, &je)
	                  : NULL;
	json_t *j = json_pack("{s:o?, s:s, s:i}", "key", key, "outcome",
	                      dj_job_outcome_name(r->outcome), "rank", r->rank);
	if (j && r->outcome == DJ_JOB_FAILED)
		json_object_set_new(j, "error", json_string(r->err.msg));
	if (j)
		json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
}

static void summary(const args *a, const char *target, const dj_tally *t, int rc,
                    const dj_err *err)
{
	double rate = t->wall_s > 0 ? (double)(t->done + t->failed) / t->wall_s : 0;
	fprintf(stderr,
	        "populate %s: %d ranks, %" PRIu64 " keys planned, %" PRIu64 " done, %" PRIu64
	        " failed, %" PRIu64 " skipped, %" PRIu64 " released, %.3f s, %.1f keys/s, "
	        "%.1f MB moved\n",
	        target, t->size, t->planned, t->done, t->failed, t->skipped, t->released,
	        t->wall_s, rate, (double)(t->item_bytes + t->result_bytes) / 1e6);
	if (rc < 0 && rc != DJ_ESTOP)
		fprintf(stderr, "djrun: populate: %s\n", err->msg);
	if (!a->json)
		return;
	json_t *j = json_pack(
	    "{s:i, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:i, s:b}", "format", 1, "job",
	    "populate", "table", target, "ranks", t->size, "planned", (json_int_t)t->planned,
	    "done", (json_int_t)t->done, "failed", (json_int_t)t->failed, "skipped",
	    (json_int_t)t->skipped, "released", (json_int_t)t->released, "wall_s", t->wall_s,
	    "keys_per_s", rate, "exit", dj_job_exit_code(t, rc), "complete", t->complete);
	if (j) {
		/* items (keys, fetched inputs) to the workers, results (rows, outputs) back */
		json_object_set_new(j, "bytes_moved",
		                    json_integer((json_int_t)(t->item_bytes + t->result_bytes)));
		json_object_set_new(j, "error",
		                    rc < 0 && rc != DJ_ESTOP ? json_string(err->msg) : json_null());
		json_dumpf(j, stdout, JSON_COMPACT);
	}
	fputc('\n', stdout);
	json_decref(j);
}

/* What one table's run needs beyond the shared options: from the command line, or from its
 * entry in djrun.json's "populate" object. */
typedef struct table_opts {
	const char *make, *make_server, *make_plugin; /* one of them, or make_argv */
	char **make_argv;
	char *argv_buf[64]; /* a JSON array "make": [...] */
	const char *where;
	const char *fetch[64];
	size_t nfetch;
} table_opts;

/* The "populate" entry of `table` ("Table", "schema.Table" or its SQL name), NULL if none. */
static json_t *pipeline_entry(json_t *doc, const char *schema, const char *cls, const char *sql)
{
	json_t *pop = json_object_get(doc, "populate");
	const char *k;
	json_t *v;
	json_object_foreach(pop, k, v)
	{
		const char *dot = strrchr(k, '.');
		const char *name = k;
		if (dot && strchr(k, '.') == dot && !strncmp(k, schema, (size_t)(dot - k)) &&
		    strlen(schema) == (size_t)(dot - k))
			name = dot + 1;
		if (!strcmp(name, cls) || (sql && !strcmp(name, sql)))
			return v;
	}
	return NULL;
}

/* Fill what `t` still lacks from a pipeline entry. Usage errors are printed. */
static int from_entry(table_opts *t, json_t *e, const char *label)
{
	const char *k;
	json_t *v;
	if (!json_is_object(e))
		return dj_cli_usage_error("populate", "djrun.json: populate.%s is not an object",
		                          label);
	json_object_foreach(e, k, v)
	{
		bool str = json_is_string(v);
		const char *sv = str ? json_string_value(v) : NULL;
		bool have = t->make || t->make_server || t->make_plugin || t->make_argv;
		if (!strcmp(k, "make") && json_is_array(v)) {
			size_t i, n = json_array_size(v);
			json_t *x;
			if (n == 0 || n >= sizeof(t->argv_buf) / sizeof(t->argv_buf[0]))
				return dj_cli_usage_error("populate",
				                          "djrun.json: populate.%s.make: 1 to 63 words",
				                          label);
			json_array_foreach(v, i, x)
			{
				if (!json_is_string(x))
					return dj_cli_usage_error(
					    "populate", "djrun.json: populate.%s.make: strings only",
					    label);
				t->argv_buf[i] = (char *)json_string_value(x);
			}
			t->argv_buf[n] = NULL;
			if (!have)
				t->make_argv = t->argv_buf;
		} else if (!strcmp(k, "make") && str) {
			if (!have)
				t->make = sv;
		} else if (!strcmp(k, "make_server") && str) {
			if (!have)
				t->make_server = sv;
		} else if (!strcmp(k, "make_plugin") && str) {
			if (!have)
				t->make_plugin = sv;
		} else if (!strcmp(k, "where") && str) {
			if (!t->where)
				t->where = sv;
		} else if (!strcmp(k, "fetch") && json_is_array(v)) {
			size_t i;
			json_t *x;
			if (t->nfetch)
				continue; /* the command line's --fetch wins */
			json_array_foreach(v, i, x)
			{
				if (!json_is_string(x) || t->nfetch == 64)
					return dj_cli_usage_error(
					    "populate", "djrun.json: populate.%s.fetch: up to 64 strings",
					    label);
				t->fetch[t->nfetch++] = json_string_value(x);
			}
		} else {
			return dj_cli_usage_error(
			    "populate",
			    "djrun.json: populate.%s: unknown key or wrong type '%s' (make, "
			    "make_server, make_plugin, fetch, where)",
			    label, k);
		}
	}
	return DJ_EXIT_OK;
}

/*
 * Under MPI, the working ranks read the store-backed inputs and write the store-backed outputs
 * themselves (jobs/populate.h `remote_inputs`, `heading`; *mpi tells): rank 0 reads the heading
 * of `table` and its parts and every rank gets it. Empty when nothing of them is store-backed,
 * without MPI, or when rank 0 cannot read it (the run's own start then reports why).
 * Collective under MPI.
 */
static int share_heading(dj_config *cfg, const char *schema, const char *table, dj_buf *out,
                         bool *mpi)
{
	dj_err err = DJ_ERR_INIT;
	int rank = 0, size = 1;
	*mpi = false;
	if (dj_launch_size() <= 1 || dj_run_rank(dj_launch_size(), &rank, &size, &err) < 0 ||
	    size <= 1)
		return 0;
	*mpi = true;
	if (rank == 0) {
		dj_db *db = NULL;
		dj_schema s;
		bool attempted = false, stored = false;
		memset(&s, 0, sizeof(s));
		if (dj_db_open_config(&db, cfg, &attempted, &err) == 0 &&
		    dj_schema_load(db, schema, cfg->store_default, &s, &err) == 0) {
			const dj_table *t = dj_schema_table(&s, table);
			const dj_table **all = calloc(s.ntables + 1, sizeof(*all));
			size_t n = 0;
			if (t && all) {
				all[n++] = t;
				for (size_t i = 0; i < s.ntables; i++)
					if (s.tables[i].master == t)
						all[n++] = &s.tables[i];
			}
			for (size_t i = 0; i < n; i++)
				for (size_t k = 0; k < all[i]->nattrs; k++)
					stored = stored || dj_attr_is_stored(&all[i]->attrs[k]);
			if (stored && dj_tables_pack(out, all, n, &err) < 0)
				dj_buf_reset(out);
			free(all);
		}
		dj_schema_free(&s);
		if (db)
			dj_db_close(db);
	}
	if (dj_run_share(out, &err) < 0) {
		fprintf(stderr, "djrun: populate: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Populate one table: returns the exit code of its run; *stop when the run was drained by a
 * signal (the pipeline stops there). */
static int populate_table(args *a, const table_opts *to, dj_config *cfg, const char *schema,
                          const char *table, bool *stop)
{
	dj_populate p;
	dj_run_opts o;
	dj_tally t;
	dj_err err = DJ_ERR_INIT;
	char **split = NULL;
	int rc;
	memset(&p, 0, sizeof(p));
	memset(&t, 0, sizeof(t));
	const char *make_text = to->make ? to->make : to->make_server ? to->make_server
	                                                              : to->make_plugin;
	if (!make_text && !to->make_argv)
		return dj_cli_usage_error("populate",
		                          "%s.%s: give the make command: --make 'CMD', -- CMD, "
		                          "--make-server, --make-plugin, or an entry in djrun.json",
		                          schema, table);
	if (make_text && dj_make_split(make_text, &split, &err) < 0)
		return dj_cli_usage_error("populate", "%s: %s",
		                          to->make          ? "--make"
		                          : to->make_server ? "--make-server"
		                                            : "--make-plugin",
		                          err.msg);
	dj_cli_conn c = {cfg, false};
	dj_run_opts_init(&o);
	o.launched_size = dj_launch_size();
	dj_buf heading = DJ_BUF_INIT;
	bool mpi = false;
	if (share_heading(cfg, schema, table, &heading, &mpi) < 0) {
		dj_make_argv_free(split);
		return DJ_EXIT_FAILED;
	}
	p.heading = (dj_bytes){(const uint8_t *)heading.ptr, heading.len};
	p.remote_inputs = mpi;
	p.schema_name = schema;
	p.table_name = table;
	p.where = to->where;
	/* reserve by default when other processes work the same table: MPI ranks, srun tasks
	 * without MPI, Slurm array tasks */
	p.reserve = a->reserve >= 0 ? a->reserve == 1
	                            : o.launched_size > 1 || o.launched_size < 0 ||
	                                  dj_launch_peers() > 1;
	p.max_calls = a->max_calls;
	p.priority = a->priority;
	p.fetch = to->fetch;
	p.nfetch = to->nfetch;
	p.make.kind = to->make_server   ? DJ_MAKE_SERVER
	              : to->make_plugin ? DJ_MAKE_PLUGIN
	                                : DJ_MAKE_COMMAND;
	p.make.argv = to->make_argv ? to->make_argv : split;
	p.make.plugin = to->make_plugin ? split[0] : NULL; /* the rest: djrun_make_init's argv */
	p.make.scratch_root = a->scratch;
	p.connect = dj_cli_connect;
	p.connect_arg = &c;
	p.specs = cfg->stores;
	p.nspecs = cfg->nstores;
	p.default_store = cfg->store_default;
	o.stop_on_error = a->stop_on_error;
	if (a->batch >= 1)
		o.batch_size = (size_t)a->batch;
	if (a->drain_s >= 0)
		o.drain_timeout_s = a->drain_s;
	o.stop = dj_signals_install();
	a->pop = &p;
	a->tty = isatty(2);
	snprintf(a->label, sizeof(a->label), "%s.%s", schema, table);
	o.progress_s = a->progress_set ? a->progress_s : a->tty ? 0.5 : 30;
	o.progress = progress;
	o.on_result = on_result;
	o.arg = a;
	dj_launch_prepare();
	rc = dj_run(&dj_populate_job, &p, &o, &t, &err);
	*stop = rc == DJ_ESTOP;
	if (rc == DJ_EUSAGE) {
		rc = dj_cli_usage_error("populate", "%s", err.msg);
	} else if (t.rank == 0 && !p.db && rc < 0) {
		/* start failed before a connection: unusable config or server unreachable */
		fprintf(stderr, "djrun: %s\n", err.msg); /* "populate: start: ..." */
		rc = c.attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	} else {
		if (t.rank == 0 && p.input_failures)
			fprintf(stderr,
			        "djrun: populate: %" PRIu64 " keys failed fetching their inputs "
			        "(not computed), first: %s\n",
			        p.input_failures, p.input_error.msg);
		if (t.rank == 0 && a->tty && o.progress_s > 0)
			fputc('\n', stderr); /* end the bar's line */
		if (t.rank == 0) {
			char target[600];
			snprintf(target, sizeof(target), "%s.%s", schema, table);
			summary(a, target, &t, rc, &err);
		}
		else if (rc < 0)
			fprintf(stderr, "djrun: populate: rank %d: %s\n", t.rank, err.msg);
		rc = dj_job_exit_code(&t, rc);
		if (rc == DJ_EXIT_OK && p.input_failures)
			rc = DJ_EXIT_FAILED;
	}
	fflush(stdout);
	fflush(stderr);
	a->pop = NULL;
	dj_populate_dispose(&p);
	dj_buf_dispose(&heading);
	dj_make_argv_free(split);
	return rc;
}

/*
 * The tables of `schema` that djrun.json gives a make, in dependency order (parents first),
 * as "Class\n" lines: rank 0 reads the schema; every rank gets the same list (dj_run_share).
 */
static int pipeline_order(dj_config *cfg, json_t *doc, const char *schema, dj_buf *list)
{
	dj_err err = DJ_ERR_INIT;
	int rank = 0, size = 1, rc = dj_run_rank(dj_launch_size(), &rank, &size, &err);
	if (rc < 0) {
		fprintf(stderr, "djrun: populate: %s\n", err.msg);
		return DJ_EXIT_FAILED;
	}
	int code = DJ_EXIT_OK;
	if (rank == 0) {
		dj_db *db = NULL;
		dj_schema s;
		memset(&s, 0, sizeof(s));
		bool attempted = false;
		if (dj_db_open_config(&db, cfg, &attempted, &err) < 0) {
			fprintf(stderr, "djrun: populate: %s\n", err.msg);
			code = attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
		} else if (dj_schema_load(db, schema, cfg->store_default, &s, &err) < 0) {
			fprintf(stderr, "djrun: populate: %s\n", err.msg);
			code = DJ_EXIT_USAGE;
		}
		for (size_t i = 0; code == DJ_EXIT_OK && i < s.norder; i++) {
			const dj_table *t = s.order[i];
			if ((t->tier != DJ_TIER_COMPUTED && t->tier != DJ_TIER_IMPORTED) || t->master)
				continue;
			if (pipeline_entry(doc, schema, t->class_name, t->name))
				dj_buf_addf(list, "%s\n", t->class_name);
		}
		if (code != DJ_EXIT_OK) { /* the others learn it from the list */
			dj_buf_reset(list);
			dj_buf_addf(list, "!%d", code);
		}
		dj_schema_free(&s);
		if (db)
			dj_db_close(db);
	}
	if ((rc = dj_run_share(list, &err)) < 0) {
		fprintf(stderr, "djrun: populate: %s\n", err.msg);
		return DJ_EXIT_FAILED;
	}
	if (list->len && ((const char *)list->ptr)[0] == '!')
		return (int)strtol((const char *)list->ptr + 1, NULL, 10);
	return DJ_EXIT_OK;
}

int dj_cmd_populate(int argc, char **argv)
{
	args a;
	dj_config cfg;
	table_opts to;
	bool done = false, stop = false;
	json_t *doc = NULL;
	char *doc_path = NULL;
	dj_err err = DJ_ERR_INIT;
	memset(&a, 0, sizeof(a));
	memset(&to, 0, sizeof(to));
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	if (a.pipeline) {
		json_error_t je;
		if (!(doc = json_load_file(a.pipeline, JSON_REJECT_DUPLICATES, &je)))
			return dj_cli_usage_error("populate", "%s: %s", a.pipeline, je.text);
	} else if (dj_submit_find_config(".", &doc, &doc_path, &err) < 0) {
		return dj_cli_usage_error("populate", "%s", err.msg);
	}
	free(doc_path);
	if ((rc = dj_cli_load_config("populate", a.config_file, &cfg)) != DJ_EXIT_OK) {
		json_decref(doc);
		return rc;
	}
	const char *dot = strchr(a.target, '.');
	char *schema = strndup(a.target, dot ? (size_t)(dot - a.target) : strlen(a.target));
	if (!schema) {
		rc = DJ_EXIT_FAILED;
		fprintf(stderr, "djrun: populate: out of memory\n");
	} else if (dot) { /* one table: the command line, then its djrun.json entry */
		json_t *e = pipeline_entry(doc, schema, dot + 1, NULL);
		to.make = a.make;
		to.make_server = a.make_server;
		to.make_plugin = a.make_plugin;
		to.make_argv = a.make_argv;
		to.where = a.where;
		memcpy(to.fetch, a.fetch, sizeof(to.fetch));
		to.nfetch = a.nfetch;
		rc = e ? from_entry(&to, e, dot + 1) : DJ_EXIT_OK;
		if (rc == DJ_EXIT_OK)
			rc = populate_table(&a, &to, &cfg, schema, dot + 1, &stop);
	} else { /* the whole pipeline of djrun.json, parents first */
		dj_buf list = DJ_BUF_INIT;
		if (!json_object_size(json_object_get(doc, "populate")))
			rc = dj_cli_usage_error("populate",
			                        "%s: no djrun.json with a \"populate\" object here "
			                        "(or give SCHEMA.Table)",
			                        schema);
		else if (a.make || a.make_server || a.make_plugin || a.make_argv || a.nfetch ||
		         a.where)
			rc = dj_cli_usage_error("populate", "a whole pipeline takes its make, fetch "
			                                    "and where from djrun.json");
		else
			rc = pipeline_order(&cfg, doc, schema, &list);
		char *save = NULL;
		for (char *name = rc == DJ_EXIT_OK && list.len ? strtok_r(list.ptr, "\n", &save)
		                                               : NULL;
		     name && !stop; name = strtok_r(NULL, "\n", &save)) {
			table_opts one;
			memset(&one, 0, sizeof(one));
			int r = from_entry(&one, pipeline_entry(doc, schema, name, NULL), name);
			if (r == DJ_EXIT_OK)
				r = populate_table(&a, &one, &cfg, schema, name, &stop);
			if (r > rc || stop)
				rc = stop ? DJ_EXIT_DRAINED : r;
		}
		dj_buf_dispose(&list);
	}
	dj_run_finalize();
	free(schema);
	json_decref(doc);
	dj_config_free(&cfg);
	return rc;
}
