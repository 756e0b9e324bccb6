/*
 * djrun jobs SCHEMA.Table [status|refresh|clear-errors]: the jobs queue `~~name` of an
 * Imported or Computed table (database.md §6), read and changed as datajoint-python's
 * Table.jobs does, with the jobs.* settings of datajoint.json (§6.11).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/schema.h"
#include "jobs/jobtable.h"
#include "jobs/keysource.h"
#include "runner/cli.h"
#include "runner/config.h"
#include "runner/db_connect.h"
#include "runner/exit.h"


typedef struct jobs_args {
	const char *target, *action, *where, *config_file;
	const char *priority, *delay, *stale, *orphan; /* NULL: the configuration's */
	bool json;
} jobs_args;

static void help(void)
{
	printf("usage: djrun jobs SCHEMA.Table [status|refresh|clear-errors] [options]\n\n"
	       "The jobs queue of an Imported or Computed table (its ~~table), as\n"
	       "datajoint-python's Table.jobs keeps it:\n"
	       "  status        (default) job counts by status, and key_source progress\n"
	       "  refresh       declare the queue if missing; add pending jobs for keys of\n"
	       "                key_source not yet computed; remove stale jobs; re-pend orphans\n"
	       "  clear-errors  delete the jobs in 'error' (a later refresh adds them again)\n\n"
	       "options:\n"
	       "  --where SQL           restrict key_source (SQL text, as in Python)\n"
	       "  --priority N          priority of new jobs (jobs.default_priority, 5)\n"
	       "  --delay SECONDS       new jobs become due after this (0)\n"
	       "  --stale-timeout S     remove jobs older than this whose key left key_source\n"
	       "                        (jobs.stale_timeout, 3600; 0 = never)\n"
	       "  --orphan-timeout S    re-pend jobs reserved longer than this (none)\n"
	       "  --json                one JSON object (\"format\": 1) instead of text\n"
	       "  --config FILE         read FILE instead of searching for datajoint.json\n"
	       "  --help                this text\n\n"
	       "exit codes:\n"
	       "  0   done\n"
	       "  1   schema or table not found, not auto-populated, or a database error\n"
	       "  2   usage or configuration error\n"
	       "  3   database unreachable or credentials refused\n");
}

static int parse_args(int argc, char **argv, jobs_args *a, bool *done)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		bool more = i + 1 < argc;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			help();
			*done = true;
			return DJ_EXIT_OK;
		} else if (!strcmp(s, "--where") && more) {
			a->where = argv[++i];
		} else if (!strcmp(s, "--priority") && more) {
			a->priority = argv[++i];
		} else if (!strcmp(s, "--delay") && more) {
			a->delay = argv[++i];
		} else if (!strcmp(s, "--stale-timeout") && more) {
			a->stale = argv[++i];
		} else if (!strcmp(s, "--orphan-timeout") && more) {
			a->orphan = argv[++i];
		} else if (!strcmp(s, "--config") && more) {
			a->config_file = argv[++i];
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else if (s[0] == '-') {
			return dj_cli_usage_error("jobs", "unknown option '%s'", s);
		} else if (!a->target) {
			a->target = s;
		} else if (!a->action) {
			a->action = s;
		} else {
			return dj_cli_usage_error("jobs", "unexpected argument '%s'", s);
		}
	}
	if (!a->target || !strchr(a->target, '.') || a->target[0] == '.')
		return dj_cli_usage_error("jobs", "expected SCHEMA.Table");
	if (!a->action)
		a->action = "status";
	if (strcmp(a->action, "status") && strcmp(a->action, "refresh") &&
	    strcmp(a->action, "clear-errors"))
		return dj_cli_usage_error("jobs", "unknown action '%s'", a->action);
	return DJ_EXIT_OK;
}

static bool number(const char *s, double *out)
{
	char *end;
	*out = strtod(s, &end);
	return *s && !*end;
}

/* refresh() arguments: the options, else jobs.* from the configuration (§6.11). */
static int refresh_opts(const dj_config *cfg, const jobs_args *a, dj_refresh_opts *o, dj_err *err)
{
	long long prio, stale;
	bool keep;
	double v;
	int rc;
	*o = (dj_refresh_opts)DJ_REFRESH_OPTS_INIT;
	o->restriction = a->where;
	if ((rc = dj_config_get_int(cfg, "jobs.default_priority", "DJ_JOBS_DEFAULT_PRIORITY", 5,
	                            &prio, err)) < 0 ||
	    (rc = dj_config_get_int(cfg, "jobs.stale_timeout", "DJ_JOBS_STALE_TIMEOUT", 3600, &stale,
	                            err)) < 0 ||
	    (rc = dj_config_get_bool(cfg, "jobs.keep_completed", "DJ_JOBS_KEEP_COMPLETED", false,
	                             &keep, err)) < 0)
		return rc;
	o->priority = (int)prio;
	o->stale_timeout = (double)stale;
	o->keep_completed = keep;
	if (a->priority && (!number(a->priority, &v) || v != (int)v))
		return dj_err_set(err, DJ_EUSAGE, "--priority takes an integer, not '%s'", a->priority);
	if (a->priority)
		o->priority = (int)v;
	if ((a->delay && !number(a->delay, &o->delay)) ||
	    (a->stale && !number(a->stale, &o->stale_timeout)) ||
	    (a->orphan && !number(a->orphan, &o->orphan_timeout)))
		return dj_err_set(err, DJ_EUSAGE, "--delay and the timeouts take seconds");
	return 0;
}

static int print_json(json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	if (!text)
		return DJ_EXIT_FAILED;
	printf("%s\n", text);
	free(text);
	return DJ_EXIT_OK;
}

static int status(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks, const jobs_args *a,
                  dj_err *err)
{
	dj_job_counts n;
	int64_t remaining = 0, total = 0;
	bool exists = false;
	if (dj_jobtable_exists(db, jt, &exists, err) < 0 || dj_jobs_progress(db, jt, &n, err) < 0 ||
	    dj_keysource_progress(db, ks, a->where, &remaining, &total, err) < 0)
		return DJ_EXIT_FAILED;
	if (a->json)
		return print_json(json_pack(
		    "{s:i, s:s, s:s, s:b, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "format", 1,
		    "table", jt->target->name, "jobs_table", jt->name, "exists", exists, "remaining",
		    (json_int_t)remaining, "total", (json_int_t)total, "jobs", "pending",
		    (json_int_t)n.pending, "reserved", (json_int_t)n.reserved, "success",
		    (json_int_t)n.success, "error", (json_int_t)n.error, "ignore", (json_int_t)n.ignore,
		    "total", (json_int_t)n.total));
	printf("%s.%s  jobs: %s%s\n", jt->schema, jt->target->name, jt->name,
	       exists ? "" : " (not declared)");
	printf("  key_source: %lld keys, %lld remaining\n", (long long)total, (long long)remaining);
	printf("  jobs: pending %lld  reserved %lld  success %lld  error %lld  ignore %lld  total "
	       "%lld\n",
	       (long long)n.pending, (long long)n.reserved, (long long)n.success, (long long)n.error,
	       (long long)n.ignore, (long long)n.total);
	return DJ_EXIT_OK;
}

static int refresh(dj_db *db, const dj_config *cfg, const dj_jobtable *jt, const dj_keysource *ks,
                   const jobs_args *a, dj_err *err)
{
	dj_refresh_opts o;
	dj_refresh_result r;
	int rc = refresh_opts(cfg, a, &o, err);
	if (rc < 0) /* a bad option or jobs.* setting */
		return DJ_EXIT_USAGE;
	if (dj_jobs_refresh(db, jt, ks, &o, &r, err) < 0)
		return DJ_EXIT_FAILED;
	if (a->json)
		return print_json(json_pack("{s:i, s:s, s:I, s:I, s:I, s:I}", "format", 1, "jobs_table",
		                            jt->name, "added", (json_int_t)r.added, "removed",
		                            (json_int_t)r.removed, "orphaned", (json_int_t)r.orphaned,
		                            "re_pended", (json_int_t)r.re_pended));
	printf("%s.%s: added %lld, removed %lld, orphaned %lld, re-pended %lld\n", jt->schema,
	       jt->name, (long long)r.added, (long long)r.removed, (long long)r.orphaned,
	       (long long)r.re_pended);
	return DJ_EXIT_OK;
}

static int clear_errors(dj_db *db, const dj_jobtable *jt, const jobs_args *a, dj_err *err)
{
	int64_t n = 0;
	bool exists = false;
	if (dj_jobtable_exists(db, jt, &exists, err) < 0 ||
	    (exists && dj_jobs_clear_errors(db, jt, &n, err) < 0))
		return DJ_EXIT_FAILED;
	if (a->json)
		return print_json(json_pack("{s:i, s:s, s:I}", "format", 1, "jobs_table", jt->name,
		                            "deleted", (json_int_t)n));
	printf("%s.%s: %lld error job(s) deleted\n", jt->schema, jt->name, (long long)n);
	return DJ_EXIT_OK;
}

static int run(dj_db *db, const dj_config *cfg, const dj_schema *s, const dj_table *t,
               const jobs_args *a, dj_err *err)
{
	dj_jobtable jt = {0};
	dj_keysource ks = {0};
	int rc = DJ_EXIT_FAILED;
	if (t->tier != DJ_TIER_COMPUTED && t->tier != DJ_TIER_IMPORTED) {
		dj_err_set(err, DJ_EUSAGE, "%s.%s is %s, not Imported or Computed: it has no jobs",
		           t->schema, t->name, dj_tier_name(t->tier));
		return DJ_EXIT_FAILED;
	}
	if (dj_jobtable_init(&jt, s, t, err) == 0 && dj_keysource_init(&ks, s, t, err) == 0) {
		if (!strcmp(a->action, "refresh"))
			rc = refresh(db, cfg, &jt, &ks, a, err);
		else if (!strcmp(a->action, "clear-errors"))
			rc = clear_errors(db, &jt, a, err);
		else
			rc = status(db, &jt, &ks, a, err);
	}
	dj_keysource_dispose(&ks);
	dj_jobtable_dispose(&jt);
	return rc;
}

static int jobs(dj_db *db, const dj_config *cfg, const jobs_args *a)
{
	const char *dot = strchr(a->target, '.');
	char *schema = strndup(a->target, (size_t)(dot - a->target));
	const dj_table *t;
	dj_err err = DJ_ERR_INIT;
	dj_schema s;
	int rc = DJ_EXIT_FAILED;
	if (!schema || dj_schema_load(db, schema, cfg->store_default, &s, &err) < 0) {
		fprintf(stderr, "djrun: jobs: %s\n", schema ? err.msg : "out of memory");
		free(schema);
		return DJ_EXIT_FAILED;
	}
	if (!(t = dj_schema_table(&s, dot + 1)))
		fprintf(stderr, "djrun: jobs: table '%s' not found in schema %s\n", dot + 1, schema);
	else if ((rc = run(db, cfg, &s, t, a, &err)) != DJ_EXIT_OK)
		fprintf(stderr, "djrun: jobs: %s\n", err.msg[0] ? err.msg : "failed");
	if (fflush(stdout) != 0)
		rc = DJ_EXIT_FAILED;
	dj_schema_free(&s);
	free(schema);
	return rc;
}

int dj_cmd_jobs(int argc, char **argv)
{
	jobs_args a = {0};
	dj_config cfg;
	dj_db *db = NULL;
	bool done = false;
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	if ((rc = dj_cli_open_db("jobs", a.config_file, &cfg, &db)) != DJ_EXIT_OK)
		return rc;
	rc = jobs(db, &cfg, &a);
	dj_db_close(db);
	dj_config_free(&cfg);
	return rc;
}
