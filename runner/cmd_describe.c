/*
 * djrun describe SCHEMA[.Table] [--json]: what the database says about a DataJoint schema —
 * tables in dependency order with tier and class name, parents, and each heading (DataJoint
 * type, key, default, comment) — read from the catalogs as datajoint-python reads them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/schema.h"
#include "runner/cli.h"
#include "runner/config.h"
#include "runner/db_connect.h"
#include "runner/exit.h"


typedef struct describe_args {
	const char *target; /* SCHEMA or SCHEMA.Table */
	const char *config_file;
	bool json;
} describe_args;

static void help(void)
{
	printf(
	    "usage: djrun describe SCHEMA[.Table] [--json] [--config FILE]\n\n"
	    "Describe a DataJoint schema, or one table of it, from the database catalogs:\n"
	    "tables in dependency order with their tier and class name, parents (foreign keys),\n"
	    "and each attribute's DataJoint type, key membership, default and comment.\n"
	    "Table may be the SQL name (__spikes__unit), the class name (Spikes, Spikes.Unit)\n"
	    "or the snake name without its tier prefix (spikes). Connection settings come from\n"
	    "DJ_HOST, DJ_PORT, DJ_USER, DJ_PASS, DJ_BACKEND, DJ_DATABASE_NAME and "
	    "datajoint.json.\n\n"
	    "options:\n"
	    "  --json         one JSON object (\"format\": 1) instead of text\n"
	    "  --config FILE  read FILE instead of searching for datajoint.json\n"
	    "  --help         this text\n\n"
	    "exit codes:\n"
	    "  0   described\n"
	    "  1   schema or table not found, or a database error\n"
	    "  2   usage or configuration error\n"
	    "  3   database unreachable or credentials refused\n");
}

static int parse_args(int argc, char **argv, describe_args *a, bool *done)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			help();
			*done = true;
			return DJ_EXIT_OK;
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else if (!strcmp(s, "--config") && i + 1 < argc) {
			a->config_file = argv[++i];
		} else if (!strncmp(s, "--config=", 9)) {
			a->config_file = s + 9;
		} else if (s[0] == '-') {
			return dj_cli_usage_error("describe", "unknown option '%s'", s);
		} else if (!a->target) {
			a->target = s;
		} else {
			return dj_cli_usage_error("describe", "unexpected argument '%s'", s);
		}
	}
	if (!a->target || !a->target[0] || a->target[0] == '.')
		return dj_cli_usage_error("describe", "expected SCHEMA or SCHEMA.Table");
	return DJ_EXIT_OK;
}

/* --- text ---------------------------------------------------------------------------------- */

static void print_parents(const dj_table *t)
{
	for (size_t i = 0; i < t->nfks; i++) {
		const dj_fkey *f = &t->fks[i];
		printf("  -> %s.%s", f->ref_schema, f->ref_table);
		if (f->aliased) {
			printf(" (");
			for (size_t k = 0; k < f->ncols; k++)
				printf("%s%s=%s", k ? ", " : "", f->cols[k], f->ref_cols[k]);
			printf(")");
		}
		printf("%s\n", f->primary ? "" : "  [secondary]");
	}
}

static int width(const dj_table *t, bool type)
{
	size_t w = 4;
	for (size_t i = 0; i < t->nattrs; i++) {
		size_t n = strlen(type ? t->attrs[i].type : t->attrs[i].name);
		w = n > w ? n : w;
	}
	return (int)(w > 40 ? 40 : w);
}

static void print_table(const dj_table *t)
{
	int wn = width(t, false), wt = width(t, true);
	printf("%s.%s  %s  %s", t->schema, t->name, t->class_name, dj_tier_name(t->tier));
	if (t->master)
		printf("  (part of %s)", t->master->class_name);
	if (t->jobs)
		printf("  (jobs: %s)", t->jobs->name);
	if (t->target)
		printf("  (jobs of %s)", t->target->name);
	printf("\n");
	if (t->comment[0])
		printf("  # %s\n", t->comment);
	print_parents(t);
	printf("    %-*s  %-*s  %-14s  %s\n", wn, "name", wt, "type", "default", "comment");
	for (size_t i = 0; i < t->nattrs; i++) {
		const dj_attr *a = &t->attrs[i];
		printf("  %c %-*s  %-*s  %-14s  %s%s%s\n", a->in_key ? '*' : ' ', wn, a->name, wt,
		       a->type, a->dflt ? a->dflt : "", a->comment,
		       a->hidden && a->comment[0] ? " " : "", a->hidden ? "[hidden]" : "");
	}
}

/* Dependency order first, then the tables outside it (jobs, hidden, keyless). */
static void each_table(const dj_schema *s, void (*fn)(const dj_table *, void *), void *ctx)
{
	for (size_t i = 0; i < s->norder; i++)
		fn(s->order[i], ctx);
	for (size_t i = 0; i < s->ntables; i++) {
		bool listed = false;
		for (size_t k = 0; k < s->norder && !listed; k++)
			listed = s->order[k] == &s->tables[i];
		if (!listed)
			fn(&s->tables[i], ctx);
	}
}

static void print_one(const dj_table *t, void *ctx)
{
	bool *first = ctx;
	if (!*first)
		printf("\n");
	*first = false;
	print_table(t);
}

/* --- JSON ---------------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const char *kind_name(dj_attr_kind k)
{
	switch (k) {
	case DJ_ATTR_CORE:
		return "core";
	case DJ_ATTR_CODEC:
		return "codec";
	case DJ_ATTR_NATIVE:
		return "native";
	case DJ_ATTR_UNKNOWN:
		return "unknown";
	}
	return "unknown";
}

static json_t *attr_json(const dj_attr *a)
{
	bool codec = a->kind == DJ_ATTR_CODEC;
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:s, s:o, s:o, s:b}", "name",
	                 a->name, "type", a->type, "sql_type", a->sql_type, "kind",
	                 kind_name(a->kind), "in_key", a->in_key, "nullable", a->nullable, "hidden",
	                 a->hidden, "default", str_or_null(a->dflt), "comment", a->comment, "codec",
	                 str_or_null(codec ? a->coltype.codec->name : NULL), "store",
	                 str_or_null(codec && a->coltype.has_store ? a->coltype.store : NULL),
	                 "inherited", a->inherited);
}

static json_t *fk_json(const dj_fkey *f)
{
	json_t *map = json_object();
	for (size_t k = 0; map && k < f->ncols; k++)
		json_object_set_new(map, f->cols[k], json_string(f->ref_cols[k]));
	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:b, s:b}", "constraint", f->name, "schema",
	                 f->ref_schema, "table", f->ref_table, "attr_map", map ? map : json_null(),
	                 "primary", f->primary, "aliased", f->aliased, "multi", f->multi);
}

static json_t *table_json(const dj_table *t)
{
	json_t *cols = json_array(), *pk = json_array(), *parents = json_array();
	for (size_t i = 0; cols && i < t->nattrs; i++)
		json_array_append_new(cols, attr_json(&t->attrs[i]));
	for (size_t i = 0; pk && i < t->npk; i++)
		json_array_append_new(pk, json_string(t->attrs[t->pk[i]].name));
	for (size_t i = 0; parents && i < t->nfks; i++)
		json_array_append_new(parents, fk_json(&t->fks[i]));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:o}", "name", t->name,
	                 "class", t->class_name, "tier", dj_tier_name(t->tier), "master",
	                 str_or_null(t->master ? t->master->name : NULL), "jobs_table",
	                 str_or_null(t->jobs ? t->jobs->name : NULL), "jobs_of",
	                 str_or_null(t->target ? t->target->name : NULL), "comment", t->comment,
	                 "primary_key", pk ? pk : json_null(), "parents",
	                 parents ? parents : json_null(), "columns", cols ? cols : json_null());
}

static void add_json(const dj_table *t, void *ctx)
{
	json_array_append_new((json_t *)ctx, table_json(t));
}

static int print_json(const dj_schema *s, const dj_table *only, dj_db *db)
{
	json_t *tables = json_array(), *order = json_array(), *doc;
	char *text;
	if (only)
		json_array_append_new(tables, table_json(only));
	else
		each_table(s, add_json, tables);
	for (size_t i = 0; order && i < s->norder; i++)
		json_array_append_new(order, json_string(s->order[i]->name));
	doc =
	    json_pack("{s:i, s:s, s:s, s:s, s:o, s:o}", "format", 1, "schema", s->name, "backend",
	              dj_db_backend_name(db), "server_version", dj_db_server_version(db), "tables",
	              tables ? tables : json_null(), "order", order ? order : json_null());
	text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	if (!text) {
		fprintf(stderr, "djrun: describe: out of memory\n");
		return DJ_EXIT_FAILED;
	}
	printf("%s\n", text);
	free(text);
	return DJ_EXIT_OK;
}

/* --- command ------------------------------------------------------------------------------- */

static int describe(dj_db *db, const dj_config *cfg, const describe_args *a)
{
	const char *dot = strchr(a->target, '.');
	char *schema = dot ? strndup(a->target, (size_t)(dot - a->target)) : strdup(a->target);
	const dj_table *only = NULL;
	dj_err err = DJ_ERR_INIT;
	dj_schema s;
	int rc = DJ_EXIT_FAILED;
	if (!schema || dj_schema_load(db, schema, cfg->store_default, &s, &err) < 0) {
		fprintf(stderr, "djrun: describe: %s\n", schema ? err.msg : "out of memory");
		free(schema);
		return DJ_EXIT_FAILED;
	}
	if (dot && !(only = dj_schema_table(&s, dot + 1))) {
		fprintf(stderr, "djrun: describe: table '%s' not found in schema %s\n", dot + 1,
		        schema);
		goto done;
	}
	if (a->json) {
		rc = print_json(&s, only, db);
	} else {
		bool first = true;
		if (only)
			print_table(only);
		else
			each_table(&s, print_one, &first);
		rc = DJ_EXIT_OK;
	}
	if (fflush(stdout) != 0)
		rc = DJ_EXIT_FAILED;
done:
	dj_schema_free(&s);
	free(schema);
	return rc;
}

int dj_cmd_describe(int argc, char **argv)
{
	describe_args a = {0};
	dj_config cfg;
	dj_db *db = NULL;
	bool done = false;
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	if ((rc = dj_cli_open_db("describe", a.config_file, &cfg, &db)) != DJ_EXIT_OK)
		return rc;
	rc = describe(db, &cfg, &a);
	dj_db_close(db);
	dj_config_free(&cfg);
	return rc;
}
