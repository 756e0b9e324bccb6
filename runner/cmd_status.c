/*
 * djrun status SCHEMA[.Table] [--json]: progress of the auto-populated tables of a schema from
 * their key_source and ~~ jobs tables (database.md §5.6, §6.9), and who holds the reserved
 * keys: host and pid as the jobs table records them, mapped to Slurm job ids where Slurm can
 * tell (slurm/view.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/schema.h"
#include "jobs/jobtable.h"
#include "jobs/keysource.h"
#include "jobs/reservations.h"
#include "runner/cli.h"
#include "runner/exit.h"
#include "slurm/view.h"

typedef struct status_args {
	const char *target, *config_file;
	bool json, no_slurm;
} status_args;

static void help(void)
{
	printf("usage: djrun status SCHEMA[.Table] [--json] [--no-slurm] [--config FILE]\n\n"
	       "Progress of every Imported and Computed table of SCHEMA (or of one table):\n"
	       "  keys        key_source size, the keys not yet in the table (remaining), and\n"
	       "              those of them with no row in the jobs table yet (unqueued)\n"
	       "  jobs        the ~~ jobs table by status: pending, reserved, error, ignore,\n"
	       "              success (shared with datajoint-python workers)\n"
	       "  reserved by the workers holding reservations: host:pid as the jobs table\n"
	       "              records them, their key count and oldest reservation, and their\n"
	       "              Slurm job where Slurm can tell (scontrol listpids on this node,\n"
	       "              else squeue by host)\n\n"
	       "options:\n"
	       "  --json       one JSON object (\"format\": 1)\n"
	       "  --no-slurm   do not ask Slurm\n"
	       "  --config FILE  read FILE instead of searching for datajoint.json\n\n"
	       "exit codes: 0 shown, 1 schema or table not found or a database error,\n"
	       "            2 usage or configuration error, 3 database unreachable\n");
}

static int parse_args(int argc, char **argv, status_args *a, bool *done)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			help();
			*done = true;
			return DJ_EXIT_OK;
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else if (!strcmp(s, "--no-slurm")) {
			a->no_slurm = true;
		} else if (!strcmp(s, "--config") && i + 1 < argc) {
			a->config_file = argv[++i];
		} else if (s[0] == '-') {
			return dj_cli_usage_error("status", "unknown option '%s'", s);
		} else if (!a->target) {
			a->target = s;
		} else {
			return dj_cli_usage_error("status", "unexpected argument '%s'", s);
		}
	}
	if (!a->target || a->target[0] == '.' || a->target[0] == '\0')
		return dj_cli_usage_error("status", "expected SCHEMA or SCHEMA.Table");
	return DJ_EXIT_OK;
}

typedef struct table_status {
	bool exists;
	int64_t remaining, total, unqueued;
	dj_job_counts n;
	dj_job_holder *holders;
	size_t nholders;
} table_status;

static int read_status(dj_db *db, const dj_schema *s, const dj_table *t, table_status *st,
                       dj_err *err)
{
	dj_jobtable jt = {0};
	dj_keysource ks = {0};
	int rc;
	if ((rc = dj_jobtable_init(&jt, s, t, err)) == 0 &&
	    (rc = dj_keysource_init(&ks, s, t, err)) == 0 &&
	    (rc = dj_jobtable_exists(db, &jt, &st->exists, err)) == 0 &&
	    (rc = dj_jobs_progress(db, &jt, &st->n, err)) == 0 &&
	    (rc = dj_keysource_progress(db, &ks, NULL, &st->remaining, &st->total, err)) == 0 &&
	    (rc = dj_jobs_unqueued(db, &jt, &ks, &st->unqueued, err)) == 0)
		rc = dj_jobs_holders(db, &jt, &st->holders, &st->nholders, err);
	dj_keysource_dispose(&ks);
	dj_jobtable_dispose(&jt);
	return rc;
}

static json_t *holder_json(const dj_job_holder *h, const dj_slurm_view *v)
{
	dj_buf jobs = DJ_BUF_INIT;
	const char *how = dj_slurm_view_find(v, h->host, h->pid, &jobs);
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s?, s:s?}", "host", h->host, "pid",
	                      (json_int_t)h->pid, "connection_id", (json_int_t)h->connection_id,
	                      "keys", (json_int_t)h->keys, "since", h->since, "slurm_job",
	                      how ? jobs.ptr : NULL, "slurm_match", how);
	dj_buf_dispose(&jobs);
	return j;
}

static json_t *table_json(const dj_table *t, const table_status *st, const dj_slurm_view *v)
{
	json_t *holders = json_array();
	for (size_t i = 0; holders && i < st->nholders; i++)
		json_array_append_new(holders, holder_json(&st->holders[i], v));
	return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
	                 "table", t->class_name, "sql_name", t->name, "tier", dj_tier_name(t->tier),
	                 "jobs_table_exists", st->exists, "total", (json_int_t)st->total,
	                 "remaining", (json_int_t)st->remaining, "unqueued",
	                 (json_int_t)st->unqueued, "jobs", "pending",
	                 (json_int_t)st->n.pending, "reserved", (json_int_t)st->n.reserved,
	                 "success", (json_int_t)st->n.success, "error", (json_int_t)st->n.error,
	                 "ignore", (json_int_t)st->n.ignore, "total", (json_int_t)st->n.total,
	                 "reserved_by", holders);
}

static void table_text(const dj_schema *s, const dj_table *t, const table_status *st,
                       const dj_slurm_view *v)
{
	printf("%s.%s  (%s)\n", s->name, t->class_name, dj_tier_name(t->tier));
	printf("  keys: %lld in key_source, %lld done, %lld remaining (%lld without a job)\n",
	       (long long)st->total, (long long)(st->total - st->remaining),
	       (long long)st->remaining, (long long)st->unqueued);
	if (!st->exists)
		printf("  jobs: no jobs table yet\n");
	else
		printf("  jobs: pending %lld  reserved %lld  error %lld  ignore %lld  success %lld\n",
		       (long long)st->n.pending, (long long)st->n.reserved, (long long)st->n.error,
		       (long long)st->n.ignore, (long long)st->n.success);
	for (size_t i = 0; i < st->nholders; i++) {
		const dj_job_holder *h = &st->holders[i];
		dj_buf jobs = DJ_BUF_INIT;
		const char *how = dj_slurm_view_find(v, h->host, h->pid, &jobs);
		printf("  reserved by %s:%lld  %lld key%s since %s", h->host, (long long)h->pid,
		       (long long)h->keys, h->keys == 1 ? "" : "s", h->since);
		if (how && !strcmp(how, "node?"))
			printf("  slurm jobs on that node: %s\n", jobs.ptr);
		else if (how)
			printf("  slurm job %s\n", jobs.ptr);
		else
			printf("\n");
		dj_buf_dispose(&jobs);
	}
}

static bool auto_populated(const dj_table *t)
{
	return t->tier == DJ_TIER_COMPUTED || t->tier == DJ_TIER_IMPORTED;
}

static int status(dj_db *db, const dj_config *cfg, const status_args *a)
{
	const char *dot = strchr(a->target, '.');
	char *schema = dot ? strndup(a->target, (size_t)(dot - a->target)) : strdup(a->target);
	dj_slurm_view view;
	dj_err err = DJ_ERR_INIT;
	dj_schema s;
	json_t *tables = json_array();
	int rc = DJ_EXIT_FAILED;
	size_t shown = 0;
	memset(&view, 0, sizeof(view));
	if (!schema || !tables || dj_schema_load(db, schema, cfg->store_default, &s, &err) < 0) {
		fprintf(stderr, "djrun: status: %s\n", schema && tables ? err.msg : "out of memory");
		free(schema);
		json_decref(tables);
		return DJ_EXIT_FAILED;
	}
	const dj_table *only = dot ? dj_schema_table(&s, dot + 1) : NULL;
	if (dot && !only) {
		fprintf(stderr, "djrun: status: table '%s' not found in schema %s\n", dot + 1, schema);
		goto done;
	}
	if (only && !auto_populated(only)) {
		fprintf(stderr, "djrun: status: %s.%s is %s, not Imported or Computed: it has no jobs\n",
		        schema, only->class_name, dj_tier_name(only->tier));
		goto done;
	}
	if (!a->no_slurm && dj_slurm_view_load(&view, &err) < 0) {
		fprintf(stderr, "djrun: status: %s\n", err.msg);
		goto done;
	}
	rc = DJ_EXIT_OK;
	for (size_t i = 0; i < s.norder && rc == DJ_EXIT_OK; i++) {
		const dj_table *t = s.order[i];
		table_status st;
		memset(&st, 0, sizeof(st));
		if (only ? t != only : !auto_populated(t))
			continue;
		if (read_status(db, &s, t, &st, &err) < 0) {
			fprintf(stderr, "djrun: status: %s.%s: %s\n", schema, t->class_name, err.msg);
			rc = DJ_EXIT_FAILED;
		} else if (a->json) {
			json_array_append_new(tables, table_json(t, &st, &view));
		} else {
			table_text(&s, t, &st, &view);
		}
		free(st.holders);
		shown++;
	}
	if (rc == DJ_EXIT_OK && a->json) {
		json_t *doc = json_pack("{s:i, s:s, s:b, s:O}", "format", 1, "schema", schema, "slurm",
		                        view.available, "tables", tables);
		char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		if (text)
			printf("%s\n", text);
		else
			rc = DJ_EXIT_FAILED;
		free(text);
		json_decref(doc);
	} else if (rc == DJ_EXIT_OK && shown == 0) {
		printf("%s: no Imported or Computed tables\n", schema);
	}
	if (fflush(stdout) != 0)
		rc = DJ_EXIT_FAILED;
done:
	dj_slurm_view_dispose(&view);
	json_decref(tables);
	dj_schema_free(&s);
	free(schema);
	return rc;
}

int dj_cmd_status(int argc, char **argv)
{
	status_args a = {0};
	dj_config cfg;
	dj_db *db = NULL;
	bool done = false;
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	if ((rc = dj_cli_open_db("status", a.config_file, &cfg, &db)) != DJ_EXIT_OK)
		return rc;
	rc = status(db, &cfg, &a);
	dj_db_close(db);
	dj_config_free(&cfg);
	return rc;
}
