/*
 * Loading the configuration in datajoint-python's order (formats.md §8.1): defaults, the
 * environment, datajoint.json, DJ_STORES, the secrets directory. The stores are validated by
 * runner/config_store.c, the display form is runner/config_dump.c.
 */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "runner/config.h"
#include "runner/config_internal.h"

typedef enum kind { K_STR, K_STR_NULL, K_PORT, K_BOOL, K_TLS, K_BACKEND, K_LOGLEVEL } kind;

/* One modelled setting: its dotted key, its pydantic env var and where it lives. */
typedef struct setting {
	const char *key;
	const char *env;
	bool
	    env_wins; /* settings.py ENV_VAR_MAPPING: the file skips it when the var is non-empty */
	kind kind;
	size_t off;
} setting;

#define DB(f) offsetof(dj_config, database.f)
static const setting settings[] = {
    {"database.host", "DJ_HOST", true, K_STR, DB(host)},
    {"database.user", "DJ_USER", true, K_STR_NULL, DB(user)},
    {"database.password", "DJ_PASS", true, K_STR_NULL, DB(password)},
    {"database.backend", "DJ_BACKEND", true, K_BACKEND, DB(backend)},
    {"database.port", "DJ_PORT", true, K_PORT, DB(port)},
    {"database.name", "DJ_DATABASE_NAME", true, K_STR_NULL, DB(name)},
    {"database.reconnect", "DJ_RECONNECT", false, K_BOOL, DB(reconnect)},
    {"database.use_tls", "DJ_USE_TLS", false, K_TLS, DB(use_tls)},
    {"database.database_prefix", "DJ_DATABASE_PREFIX", true, K_STR, DB(database_prefix)},
    {"database.create_tables", "DJ_CREATE_TABLES", true, K_BOOL, DB(create_tables)},
    /* ConnectionSettings has no env_prefix, so pydantic reads plain CHARSET */
    {"connection.charset", "CHARSET", false, K_STR, DB(charset)},
    {"loglevel", "DJ_LOG_LEVEL", true, K_LOGLEVEL, offsetof(dj_config, loglevel)},
    {"safemode", "DJ_SAFEMODE", false, K_BOOL, offsetof(dj_config, safemode)},
    {"ignore_config_file", "DJ_IGNORE_CONFIG_FILE", false, K_BOOL,
     offsetof(dj_config, ignore_config_file)},
    {"query_cache", "DJ_QUERY_CACHE", false, K_STR_NULL, offsetof(dj_config, query_cache)},
    {"download_path", "DJ_DOWNLOAD_PATH", false, K_STR, offsetof(dj_config, download_path)},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Groups of settings.py's Config: a non-object value for them is a validation error there. */
static const char *const groups[] = {"database", "connection", "display", "jobs", NULL};

static const setting *find_setting(const char *key)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (!strcmp(settings[i].key, key))
			return &settings[i];
	return NULL;
}

static int set_str(char **field, const json_t *v, bool nullable)
{
	char *s;
	if (json_is_null(v) && nullable) {
		free(*field);
		*field = NULL;
		return 0;
	}
	if (!json_is_string(v) || !(s = strdup(json_string_value(v))))
		return -1;
	free(*field);
	*field = s;
	return 0;
}

static int set_choice(const json_t *v, const char *const *choices, int *out)
{
	/* pydantic Literal: an exact, case-sensitive match */
	for (int i = 0; json_is_string(v) && choices[i]; i++)
		if (!strcmp(json_string_value(v), choices[i]))
			return *out = i, 0;
	return -1;
}

static int set_port(dj_config *c, const json_t *v)
{
	long long n;
	/* port null re-runs the library's default: 5432 for postgresql, else 3306 */
	if (json_is_null(v))
		return c->database.port =
		           c->database.backend == DJ_BACKEND_POSTGRESQL ? 5432 : 3306,
		       0;
	if (dj_config__json_int(v, &n) < 0 || n < 0 || n > 65535)
		return -1;
	c->database.port = (int)n;
	return 0;
}

static const char *expected(kind k)
{
	switch (k) {
	case K_STR:
		return "a string";
	case K_STR_NULL:
		return "a string or null";
	case K_PORT:
		return "a port number";
	case K_BOOL:
		return "a boolean";
	case K_TLS:
		return "a boolean or null";
	case K_BACKEND:
		return "\"mysql\" or \"postgresql\"";
	case K_LOGLEVEL:
		return "DEBUG, INFO, WARNING, ERROR or CRITICAL";
	}
	return "another value";
}

/* Convert and store one value; `src` names its origin ("<file>: key" or "VAR (key)"). */
static int set_value(dj_config *c, const setting *st, const json_t *v, const char *src, dj_err *err)
{
	static const char *const backends[] = {"mysql", "postgresql", NULL};
	static const char *const levels[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", NULL};
	void *field = (char *)c + st->off;
	int rc = -1, i;
	bool b;
	switch (st->kind) {
	case K_STR:
		rc = set_str(field, v, false);
		break;
	case K_STR_NULL:
		rc = set_str(field, v, true);
		break;
	case K_PORT:
		rc = set_port(c, v);
		break;
	case K_BOOL:
		if ((rc = dj_config__json_bool(v, &b)) == 0)
			*(bool *)field = b;
		break;
	case K_TLS:
		if (json_is_null(v))
			rc = 0, *(dj_tls *)field = DJ_TLS_AUTO;
		else if ((rc = dj_config__json_bool(v, &b)) == 0)
			*(dj_tls *)field = b ? DJ_TLS_ON : DJ_TLS_OFF;
		break;
	case K_BACKEND:
		if ((rc = set_choice(v, backends, &i)) == 0)
			*(dj_backend *)field = (dj_backend)i;
		break;
	case K_LOGLEVEL:
		if ((rc = set_choice(v, levels, &i)) == 0)
			rc = set_str(field, v, false);
		break;
	}
	if (rc < 0)
		return dj_err_set(err, DJ_EFORMAT, "%s: expected %s, got %s", src,
		                  expected(st->kind), dj_config__type(v));
	return 0;
}

static int defaults(dj_config *c, dj_err *err)
{
	c->database.host = strdup("localhost");
	c->database.database_prefix = strdup("");
	c->database.charset = strdup("");
	c->loglevel = strdup("INFO");
	c->download_path = strdup(".");
	c->raw = json_object();
	if (!c->database.host || !c->database.database_prefix || !c->database.charset ||
	    !c->loglevel || !c->download_path || !c->raw)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	c->database.use_tls = DJ_TLS_AUTO;
	c->database.reconnect = c->database.create_tables = c->safemode = true;
	return 0;
}

/* Step 2 of §8.1: pydantic reads every modelled variable when the settings are built. */
static int apply_env(loader *l, dj_err *err)
{
	bool port_set = false;
	const char *tsafe;
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *val = dj_config__env_ci(l->envp, settings[i].env);
		char src[128];
		json_t *v;
		int rc;
		if (!val)
			continue;
		snprintf(src, sizeof(src), "%s (%s)", settings[i].env, settings[i].key);
		if (!(v = json_string(val)))
			return dj_err_set(err, DJ_EFORMAT, "%s: not valid UTF-8", src);
		rc = set_value(l->cfg, &settings[i], v, src, err);
		json_decref(v);
		if (rc < 0)
			return rc;
		port_set |= settings[i].kind == K_PORT;
	}
	/* §8.1 QUIRK (b): the port default is decided here, from the start-up backend only */
	if (!port_set)
		l->cfg->database.port =
		    l->cfg->database.backend == DJ_BACKEND_POSTGRESQL ? 5432 : 3306;
	/* instance.py reads DJ_THREAD_SAFE itself: exact name, anything else is false */
	tsafe = dj_config__env_exact(l->envp, "DJ_THREAD_SAFE");
	l->cfg->thread_safe = tsafe && (!strcasecmp(tsafe, "true") || !strcmp(tsafe, "1") ||
	                                !strcasecmp(tsafe, "yes"));
	return 0;
}

/* A file value for a modelled key, unless §8.1 QUIRK (a) says its env var wins. */
static int apply_setting(loader *l, const char *key, const json_t *v, dj_err *err)
{
	const setting *st = find_setting(key);
	const char *env;
	char src[1200];
	if (!st)
		return 0; /* §8.2: unknown keys are ignored */
	env = dj_config__env_exact(l->envp, st->env);
	if (st->env_wins && env && *env)
		return 0;
	snprintf(src, sizeof(src), "%s: %s", l->src, key);
	return set_value(l->cfg, st, v, src, err);
}

static int apply_group(loader *l, const char *group, const json_t *obj, dj_err *err)
{
	const char *k;
	const json_t *v;
	char key[512];
	if (!json_is_object(obj))
		return dj_err_set(err, DJ_EFORMAT, "%s: %s: expected an object, got %s", l->src,
		                  group, dj_config__type(obj));
	json_object_foreach((json_t *)obj, k, v)
	{
		int rc;
		snprintf(key, sizeof(key), "%s.%s", group, k);
		if ((rc = apply_setting(l, key, v, err)) < 0)
			return rc;
	}
	return 0;
}

/* §8.2: "stores": {...} replaces each top-level entry it names. */
static int merge_stores(loader *l, const json_t *obj, dj_err *err)
{
	const char *k;
	const json_t *v;
	if (!json_is_object(obj))
		return dj_err_set(err, DJ_EFORMAT, "%s: stores: expected an object, got %s", l->src,
		                  dj_config__type(obj));
	json_object_foreach((json_t *)obj, k,
	                    v) if (json_object_set_new(l->stores, k, json_deep_copy(v)) <
	                           0) return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

int dj_config__set_store_attr(loader *l, const char *store, const char *attr, json_t *v,
                              const char *what, dj_err *err)
{
	json_t *s = json_object_get(l->stores, store);
	if (!s) {
		if (!(s = json_object()) || json_object_set_new(l->stores, store, s) < 0)
			return json_decref(v), dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	if (!json_is_object(s)) {
		json_decref(v);
		return dj_err_set(err, DJ_EFORMAT, "%s: stores.%s is %s, not a store object", what,
		                  store, dj_config__type(s));
	}
	if (json_object_set_new(s, attr, v) < 0)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

static int apply_flat_store(loader *l, const char *key, const json_t *v, dj_err *err)
{
	const char *a = key + strlen("stores."), *b = strchr(a, '.');
	char store[512];
	if (!b || strchr(b + 1, '.') || (size_t)(b - a) >= sizeof(store))
		return 0; /* not exactly three parts: settings.py ignores it */
	snprintf(store, sizeof(store), "%.*s", (int)(b - a), a);
	return dj_config__set_store_attr(l, store, b + 1, json_deep_copy(v), l->src, err);
}

static bool is_group(const char *k)
{
	for (const char *const *g = groups; *g; g++)
		if (!strcmp(*g, k))
			return true;
	return false;
}

/* settings.py _update_from_flat_dict, key by key in document order. */
static int apply_entry(loader *l, const char *key, const json_t *v, dj_err *err)
{
	const char *dot = strchr(key, '.');
	if (!strcmp(key, "stores"))
		return merge_stores(l, v, err);
	if (is_group(key)) {
		/* display and jobs are not modelled: read later through dj_config_get_* */
		bool modelled = !strcmp(key, "database") || !strcmp(key, "connection");
		return modelled || !json_is_object(v) ? apply_group(l, key, v, err) : 0;
	}
	if (!dot)
		return apply_setting(l, key, v, err);
	if (!strncmp(key, "stores.", 7))
		return apply_flat_store(l, key, v, err); /* two-part "stores.default": ignored */
	if (!strchr(dot + 1, '.'))
		return apply_setting(l, key, v, err);
	return 0;
}

/* "invalid token near 'x'": jansson quotes the input, which may hold a secret. */
static void strip_near(char *text)
{
	char *near = strstr(text, " near ");
	if (near)
		*near = '\0';
}

static int read_file(loader *l, const char *path, dj_err *err)
{
	dj_buf b = DJ_BUF_INIT;
	json_error_t je;
	json_t *doc;
	int rc = dj_file_read(path, &b, err);
	if (rc < 0)
		return rc;
	doc = json_loadb(b.ptr, b.len, JSON_DECODE_ANY, &je);
	dj_buf_dispose(&b);
	if (!doc) {
		strip_near(je.text);
		return dj_err_set(err, DJ_EFORMAT, "%s:%d:%d: invalid JSON: %s", path, je.line,
		                  je.column, je.text);
	}
	if (!json_is_object(doc)) {
		rc = dj_err_set(err, DJ_EFORMAT, "%s: expected a JSON object, got %s", path,
		                dj_config__type(doc));
		json_decref(doc);
		return rc;
	}
	json_decref(l->cfg->raw);
	l->cfg->raw = doc;
	return 0;
}

static int load_file(loader *l, const char *path, dj_err *err)
{
	const char *k;
	json_t *v;
	int rc;
	if (!(l->cfg->config_path = strdup(path)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	if ((rc = read_file(l, path, err)) < 0)
		return rc;
	l->src = l->cfg->config_path;
	json_object_foreach(l->cfg->raw, k, v) if ((rc = apply_entry(l, k, v, err)) < 0) return rc;
	return 0;
}

/* Step 4 of §8.1: DJ_STORES (exact name, read with os.environ) replaces the whole dict. */
static int apply_stores_env(loader *l, dj_err *err)
{
	const char *raw = dj_config__env_exact(l->envp, "DJ_STORES");
	json_error_t je;
	json_t *doc;
	if (!raw || !*raw)
		return 0;
	if (!(doc = json_loads(raw, JSON_DECODE_ANY, &je))) {
		strip_near(je.text);
		return dj_err_set(err, DJ_EFORMAT, "DJ_STORES:%d:%d: invalid JSON: %s", je.line,
		                  je.column, je.text);
	}
	if (!json_is_object(doc)) {
		int rc = dj_err_set(err, DJ_EFORMAT, "DJ_STORES: expected a JSON object, got %s",
		                    dj_config__type(doc));
		json_decref(doc);
		return rc;
	}
	json_decref(l->stores);
	l->stores = doc;
	return 0;
}

static int copy_env(dj_config *c, const char *const *envp, dj_err *err)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; envp && envp[i]; i++)
		n += !strncasecmp(envp[i], "DJ_", 3);
	if (!(c->env = calloc(n + 1, sizeof(char *))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncasecmp(envp[i], "DJ_", 3) && !(c->env[k++] = strdup(envp[i])))
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

/* Step 3: the explicit file, or the one found by searching upward. */
static int read_config_file(loader *l, const dj_config_opts *o, dj_err *err)
{
	char *found = NULL;
	int rc;
	if (o->config_file)
		return load_file(l, o->config_file, err);
	if ((rc = dj_config__find_file(o->start_dir ? o->start_dir : ".", &found, err)) < 0 ||
	    !found)
		return rc;
	rc = load_file(l, found, err);
	free(found);
	return rc;
}

static int load_steps(loader *l, const dj_config_opts *o, dj_err *err)
{
	dj_config *c = l->cfg;
	int rc;
	if ((rc = defaults(c, err)) < 0 || (rc = copy_env(c, l->envp, err)) < 0 ||
	    (rc = apply_env(l, err)) < 0)
		return rc;
	/* an explicit --config is a stronger request than DJ_IGNORE_CONFIG_FILE */
	if (o->config_file)
		c->ignore_config_file = false;
	if (!c->ignore_config_file && (rc = read_config_file(l, o, err)) < 0)
		return rc;
	if ((rc = apply_stores_env(l, err)) < 0)
		return rc;
	/* settings.py tests ignore_config_file again here, after the file may have set it */
	if (!c->ignore_config_file) {
		c->secrets_dir = dj_config__secrets_dir(
		    c->config_path,
		    o->system_secrets_dir ? o->system_secrets_dir : DJ_CONFIG_SYSTEM_SECRETS);
		if (c->secrets_dir && (rc = dj_config__load_secrets(l, c->secrets_dir, err)) < 0)
			return rc;
	}
	return dj_config__build_stores(c, l->stores, l->secret_only, err);
}

int dj_config_load(dj_config *cfg, const dj_config_opts *opts, dj_err *err)
{
	static const dj_config_opts none = {0};
	loader l = {cfg, opts && opts->envp ? opts->envp : NULL, json_object(), json_object(), ""};
	int rc;
	memset(cfg, 0, sizeof(*cfg));
	if (!l.stores || !l.secret_only)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	else
		rc = load_steps(&l, opts ? opts : &none, err);
	json_decref(l.stores);
	json_decref(l.secret_only);
	if (rc < 0)
		dj_config_free(cfg);
	return rc;
}

void dj_config_free(dj_config *cfg)
{
	dj_db_config *d = &cfg->database;
	char *strs[] = {d->host,
	                d->user,
	                d->password,
	                d->name,
	                d->database_prefix,
	                d->charset,
	                cfg->loglevel,
	                cfg->download_path,
	                cfg->query_cache,
	                cfg->store_default,
	                cfg->store_filepath_default,
	                cfg->config_path,
	                cfg->secrets_dir};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(strs[i]);
	for (size_t i = 0; i < cfg->nstores; i++)
		dj_config__free_store(&cfg->stores[i]);
	free(cfg->stores);
	for (size_t i = 0; cfg->env && cfg->env[i]; i++)
		free(cfg->env[i]);
	free(cfg->env);
	json_decref(cfg->raw);
	memset(cfg, 0, sizeof(*cfg));
}
