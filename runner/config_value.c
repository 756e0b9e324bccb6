/* Value conversion and the generic setting getters (pydantic lax mode, formats.md §8.5). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runner/config.h"
#include "runner/config_internal.h"

static const char *env_match(const char *entry, const char *name, bool ci)
{
	size_t n = strlen(name);
	if ((ci ? strncasecmp(entry, name, n) : strncmp(entry, name, n)) != 0 || entry[n] != '=')
		return NULL;
	return entry + n + 1;
}

const char *dj_config__env_ci(const char *const *envp, const char *name)
{
	const char *v = NULL;
	/* pydantic-settings lower-cases every name into one dict: the last entry wins */
	for (size_t i = 0; envp && envp[i]; i++) {
		const char *m = env_match(envp[i], name, true);
		if (m)
			v = m;
	}
	return v;
}

const char *dj_config__env_exact(const char *const *envp, const char *name)
{
	for (size_t i = 0; envp && envp[i]; i++) {
		const char *m = env_match(envp[i], name, false);
		if (m)
			return m;
	}
	return NULL;
}

int dj_config__str_bool(const char *s, bool *out)
{
	/* pydantic: these strings, compared lower-cased, and nothing else (no trimming) */
	static const char *const yes[] = {"1", "on", "t", "true", "y", "yes"};
	static const char *const no[] = {"0", "off", "f", "false", "n", "no"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i]))
			return *out = true, 0;
		if (!strcasecmp(s, no[i]))
			return *out = false, 0;
	}
	return -1;
}

int dj_config__json_bool(const json_t *v, bool *out)
{
	if (json_is_boolean(v))
		return *out = json_is_true(v), 0;
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
		return *out = json_integer_value(v) == 1, 0;
	if (json_is_string(v))
		return dj_config__str_bool(json_string_value(v), out);
	return -1;
}

static int str_int(const char *s, long long *out)
{
	char *end;
	long long n;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	*out = n;
	return 0;
}

int dj_config__json_int(const json_t *v, long long *out)
{
	if (json_is_integer(v))
		return *out = json_integer_value(v), 0;
	if (json_is_real(v)) {
		/* pydantic accepts a float only when it has no fractional part */
		double d = json_real_value(v);
		if (d != (double)(long long)d || d < (double)LLONG_MIN || d >= (double)LLONG_MAX)
			return -1;
		return *out = (long long)d, 0;
	}
	if (json_is_string(v))
		return str_int(json_string_value(v), out);
	return -1;
}

const char *dj_config__type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "value";
}

char *dj_config__strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * The last value of "group.attr" in the file, in document order: settings.py applies nested
 * groups and flat dot keys one after the other, so a later occurrence overwrites an earlier one.
 */
static const json_t *file_value(const json_t *raw, const char *key)
{
	const char *dot = strchr(key, '.'), *k;
	const json_t *found = NULL, *v;
	size_t glen = dot ? (size_t)(dot - key) : strlen(key);
	json_object_foreach((json_t *)raw, k, v)
	{
		if (!strcmp(k, key))
			found = v;
		else if (dot && json_is_object(v) && strlen(k) == glen && !strncmp(k, key, glen) &&
		         json_object_get(v, dot + 1))
			found = json_object_get(v, dot + 1);
	}
	return found;
}

/* The value to convert, as JSON: the file's, else the env var's as a string, else NULL. */
static int lookup(const dj_config *cfg, const char *key, const char *env, json_t **out, char *src,
                  size_t srcsz, dj_err *err)
{
	const json_t *v = cfg->raw ? file_value(cfg->raw, key) : NULL;
	const char *e;
	*out = NULL;
	if (v) {
		snprintf(src, srcsz, "%s: %s", cfg->config_path ? cfg->config_path : "config", key);
		*out = json_incref((json_t *)v);
		return 0;
	}
	e = env ? dj_config__env_ci((const char *const *)cfg->env, env) : NULL;
	if (!e)
		return 0;
	snprintf(src, srcsz, "%s (%s)", env, key);
	if (!(*out = json_string(e)))
		return dj_err_set(err, DJ_EFORMAT, "%s: not valid UTF-8", src);
	return 0;
}

int dj_config_get_bool(const dj_config *cfg, const char *key, const char *env, bool dflt, bool *out,
                       dj_err *err)
{
	char src[512];
	json_t *v;
	int rc = lookup(cfg, key, env, &v, src, sizeof(src), err);
	if (rc < 0 || !v)
		return rc < 0 ? rc : (*out = dflt, 0);
	if (dj_config__json_bool(v, out) < 0)
		rc = dj_err_set(err, DJ_EFORMAT, "%s: expected a boolean, got %s", src,
		                dj_config__type(v));
	json_decref(v);
	return rc;
}

int dj_config_get_int(const dj_config *cfg, const char *key, const char *env, long long dflt,
                      long long *out, dj_err *err)
{
	char src[512];
	json_t *v;
	int rc = lookup(cfg, key, env, &v, src, sizeof(src), err);
	if (rc < 0 || !v)
		return rc < 0 ? rc : (*out = dflt, 0);
	if (dj_config__json_int(v, out) < 0)
		rc = dj_err_set(err, DJ_EFORMAT, "%s: expected an integer, got %s", src,
		                dj_config__type(v));
	json_decref(v);
	return rc;
}

int dj_config_get_str(const dj_config *cfg, const char *key, const char *env, const char *dflt,
                      const char **out, dj_err *err)
{
	const json_t *v = cfg->raw ? file_value(cfg->raw, key) : NULL;
	const char *e;
	if (v) {
		if (json_is_null(v))
			return *out = NULL, 0;
		if (!json_is_string(v))
			return dj_err_set(err, DJ_EFORMAT, "%s: %s: expected a string, got %s",
			                  cfg->config_path ? cfg->config_path : "config", key,
			                  dj_config__type(v));
		return *out = json_string_value(v), 0;
	}
	e = env ? dj_config__env_ci((const char *const *)cfg->env, env) : NULL;
	*out = e ? e : dflt;
	return 0;
}

int dj_config_db_address(const dj_config *cfg, char **host, int *port, dj_err *err)
{
	const char *h = cfg->database.host, *colon = strchr(h, ':');
	long long n;
	*host = NULL;
	*port = cfg->database.port;
	if (colon) {
		/* connection.py: host, port = host.split(":"); port = int(port) */
		if (strchr(colon + 1, ':') || str_int(colon + 1, &n) < 0 || n < 0 || n > 65535)
			return dj_err_set(err, DJ_EFORMAT,
			                  "database.host '%s': expected 'host' or 'host:port'", h);
		*port = (int)n;
		*host = strndup(h, (size_t)(colon - h));
	} else {
		*host = strdup(h);
	}
	return *host ? 0 : dj_err_set(err, DJ_ENOMEM, "out of memory");
}
