/* djrun config: print the effective configuration, secrets masked (formats.md §8). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/cli.h"
#include "runner/config.h"
#include "runner/exit.h"

extern char **environ;

typedef struct config_args {
	const char *config_file;
	const char *store; /* NULL = whole configuration; "" = stores.default */
	bool json;
} config_args;

static void help(void)
{
	printf("usage: djrun config [--config FILE] [--json] [--store NAME]\n\n"
	       "Print the effective configuration: defaults, DJ_* environment, datajoint.json\n"
	       "(searched from the working directory upward) and the secrets directory, read\n"
	       "as datajoint-python 2.x reads them. Secrets are shown as ****.\n\n"
	       "options:\n"
	       "  --config FILE  read FILE instead of searching for datajoint.json\n"
	       "  --json         print one JSON object instead of key = value lines\n"
	       "  --store NAME   print one store (\"\" = stores.default) and check it\n"
	       "  --help         this text\n\n"
	       "exit codes:\n"
	       "  0   configuration is valid\n"
	       "  2   usage or configuration error (message on stderr)\n");
}

/* The value of "--opt VALUE" or "--opt=VALUE" at argv[*i], else NULL (not this option). */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, bool *missing)
{
	size_t n = strlen(opt);
	if (strncmp(argv[*i], opt, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/* 0, DJ_EXIT_OK after --help (a = NULL), or DJ_EXIT_USAGE. */
static int parse_args(int argc, char **argv, config_args *a, bool *done)
{
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			help();
			*done = true;
			return DJ_EXIT_OK;
		}
		if (!strcmp(argv[i], "--json"))
			a->json = true;
		else if ((v = opt_value(argc, argv, &i, "--config", &missing)))
			a->config_file = v;
		else if ((v = opt_value(argc, argv, &i, "--store", &missing)))
			a->store = v;
		else if (missing)
			return dj_cli_usage_error(argv[0], "option '%s' needs a value", argv[i]);
		else
			return dj_cli_usage_error(argv[0], "unknown option '%s'", argv[i]);
	}
	return DJ_EXIT_OK;
}

/* "a.b.c = value" lines: strings as they are, everything else as compact JSON. */
static void print_text(const char *prefix, const json_t *v)
{
	const char *k;
	json_t *e;
	char *s;
	if (json_is_object(v) && json_object_size(v) > 0) {
		json_object_foreach((json_t *)v, k, e)
		{
			size_t n = strlen(prefix) + strlen(k) + 2;
			char *key = malloc(n);
			if (!key)
				return;
			snprintf(key, n, "%s%s%s", prefix, *prefix ? "." : "", k);
			print_text(key, e);
			free(key);
		}
		return;
	}
	if (json_is_string(v)) {
		printf("%s = %s\n", prefix, json_string_value(v));
		return;
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	printf("%s = %s\n", prefix, s ? s : "?");
	free(s);
}

static int config_error(const dj_err *err)
{
	fprintf(stderr, "djrun: config: %s\n", err->msg);
	return DJ_EXIT_USAGE;
}

/* The whole configuration, or {"stores": {name: spec}} for --store. */
static int build(const dj_config *cfg, const config_args *a, json_t **out, dj_err *err)
{
	const dj_store_spec *spec;
	json_t *st;
	int rc;
	if (!a->store)
		return dj_config_to_json(cfg, out, err);
	if ((rc = dj_config_store(cfg, a->store, &spec, err)) < 0 ||
	    (rc = dj_config_check_store(spec, err)) < 0)
		return rc;
	*out = json_object();
	st = json_object();
	if (!*out || !st ||
	    json_object_set_new(st, spec->name, dj_config_store_to_json(spec)) < 0 ||
	    json_object_set_new(*out, "stores", st) < 0) {
		json_decref(*out);
		*out = NULL;
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	return 0;
}

int dj_cmd_config(int argc, char **argv)
{
	config_args a = {0};
	dj_config_opts o = {0};
	dj_config cfg;
	dj_err err = DJ_ERR_INIT;
	json_t *doc = NULL;
	bool done = false;
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	o.envp = (const char *const *)environ;
	o.config_file = a.config_file;
	if (dj_config_load(&cfg, &o, &err) < 0)
		return config_error(&err);
	if (build(&cfg, &a, &doc, &err) < 0) {
		dj_config_free(&cfg);
		return config_error(&err);
	}
	if (a.json)
		json_dumpf(doc, stdout, JSON_INDENT(2)), putchar('\n');
	else
		print_text("", doc);
	json_decref(doc);
	dj_config_free(&cfg);
	return fflush(stdout) == 0 ? DJ_EXIT_OK : DJ_EXIT_FAILED;
}
