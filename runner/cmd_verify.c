/*
 * djrun verify SCHEMA [--store S] [--deep] [--json]: every object the schema's rows reference
 * exists (jobs/verify.h); with --deep hash objects are re-hashed. Over MPI under mpirun/srun.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/verify.h"
#include "mpi/run.h"
#include "runner/cli.h"
#include "runner/db_connect.h"
#include "runner/exit.h"
#include "slurm/env.h"
#include "slurm/signals.h"

static void help(FILE *out)
{
	fprintf(out, "usage: djrun verify SCHEMA [--store S] [--deep] [--json]\n\n"
	             "Check that every object the schema's rows reference (hash- and schema-addressed\n"
	             "columns) exists in its store and has the metadata's size; with --deep, read\n"
	             "each hash object back and check its content hash. Problems are printed one a\n"
	             "line: KIND<TAB>STORE<TAB>PATH<TAB>TABLE.COLUMN<TAB>DETAIL, KIND one of\n"
	             "missing, corrupt, error.\n\n"
	             "options:\n"
	             "  --store S      only references into store S\n"
	             "  --deep         re-hash hash objects, compare file sizes of objects\n"
	             "  --json         one JSON object: counts and problems\n"
	             "  --config FILE  datajoint.json to use\n\n"
	             "exit codes: 0 all present, 1 something missing or corrupt, 2 usage,\n"
	             "            3 database unreachable\n");
}

static void report(const dj_verify *v, bool json, double wall)
{
	if (!json) {
		fwrite(v->problems.ptr, 1, v->problems.len, stdout);
		fprintf(stderr,
		        "verify %s: %" PRIu64 " references checked, %" PRIu64 " missing, %" PRIu64
		        " corrupt, %" PRIu64 " errors, %.3f s\n",
		        v->schema_name, v->checked, v->missing, v->corrupt, v->errors, wall);
		return;
	}
	json_t *probs = json_array();
	const char *s = v->problems.ptr, *e = s + v->problems.len;
	while (s < e) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		char *line = strndup(s, nl ? (size_t)(nl - s) : (size_t)(e - s));
		char *f[5] = {0};
		char *p = line;
		for (int i = 0; p && i < 5; i++) {
			f[i] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = 0;
		}
		json_array_append_new(probs, json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?}", "kind", f[0],
		                                       "store", f[1], "path", f[2], "column", f[3],
		                                       "detail", f[4]));
		free(line);
		s = nl ? nl + 1 : e;
	}
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:f}", "schema", v->schema_name,
	                      "checked", (json_int_t)v->checked, "missing", (json_int_t)v->missing,
	                      "corrupt", (json_int_t)v->corrupt, "errors", (json_int_t)v->errors,
	                      "problems", probs, "seconds", wall);
	if (j)
		json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
}

int dj_cmd_verify(int argc, char **argv)
{
	const char *schema = NULL, *store = NULL, *config_file = NULL;
	bool deep = false, json = false;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			help(stdout);
			return DJ_EXIT_OK;
		}
		if (!strcmp(o, "--deep"))
			deep = true;
		else if (!strcmp(o, "--json"))
			json = true;
		else if (o[0] != '-' && !schema)
			schema = o;
		else if (o[0] != '-')
			return dj_cli_usage_error("verify", "unexpected argument '%s'", o);
		else if (i + 1 >= argc)
			return dj_cli_usage_error("verify", "unknown option or missing value '%s'", o);
		else if (!strcmp(o, "--store"))
			store = argv[++i];
		else if (!strcmp(o, "--config"))
			config_file = argv[++i];
		else
			return dj_cli_usage_error("verify", "unknown option '%s'", o);
	}
	if (!schema)
		return dj_cli_usage_error("verify", "expected a SCHEMA");
	dj_config cfg;
	int rc = dj_cli_load_config("verify", config_file, &cfg);
	if (rc != DJ_EXIT_OK)
		return rc;
	dj_verify v;
	dj_run_opts o;
	dj_tally t;
	dj_err err = DJ_ERR_INIT;
	dj_cli_conn c = {&cfg, false};
	memset(&v, 0, sizeof(v));
	memset(&t, 0, sizeof(t));
	v.refs = (dj_buf)DJ_BUF_INIT;
	v.problems = (dj_buf)DJ_BUF_INIT;
	v.schema_name = schema;
	v.store_filter = store;
	v.deep = deep;
	v.specs = cfg.stores;
	v.nspecs = cfg.nstores;
	v.default_store = cfg.store_default;
	v.connect = dj_cli_connect;
	v.connect_arg = &c;
	dj_run_opts_init(&o);
	o.launched_size = dj_launch_size();
	o.stop = dj_signals_install();
	dj_launch_prepare();
	rc = dj_run(&dj_verify_job, &v, &o, &t, &err);
	if (t.rank != 0) {
		rc = rc < 0 ? DJ_EXIT_FAILED : DJ_EXIT_OK;
	} else if (rc < 0 && !v.db && rc != DJ_ESTOP) {
		fprintf(stderr, "djrun: %s\n", err.msg);
		rc = c.attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	} else if (rc < 0 && rc != DJ_ESTOP) {
		fprintf(stderr, "djrun: verify: %s\n", err.msg);
		rc = DJ_EXIT_FAILED;
	} else {
		report(&v, json, t.wall_s);
		rc = v.missing || v.corrupt || v.errors || t.failed || rc == DJ_ESTOP
		         ? (rc == DJ_ESTOP ? DJ_EXIT_DRAINED : DJ_EXIT_FAILED)
		         : DJ_EXIT_OK;
	}
	fflush(stdout);
	fflush(stderr);
	dj_verify_dispose(&v);
	dj_run_finalize();
	dj_config_free(&cfg);
	return rc;
}
