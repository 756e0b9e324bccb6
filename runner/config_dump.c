/* The effective configuration as JSON for `djrun config`, secrets masked (DESIGN.md). */
#include <string.h>
#include <unistd.h>

#include "runner/config.h"
#include "runner/config_internal.h"

#define MASK "****"

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *secret(const char *s)
{
	return s ? json_string(MASK) : json_null();
}

/* Build with json_object_set_new and remember any failure instead of checking each call. */
static void put(json_t *o, const char *k, json_t *v, bool *ok)
{
	if (!v || json_object_set_new(o, k, v) < 0)
		*ok = false;
}

static json_t *subfolding(const dj_store_spec *s)
{
	json_t *a;
	if (!s->nsubfolding)
		return json_null();
	if (!(a = json_array()))
		return NULL;
	for (size_t i = 0; i < s->nsubfolding; i++)
		json_array_append_new(a, json_integer(s->subfolding[i]));
	return a;
}

/* gcsfs' token: a keyword, or a key file path; anything else may be a raw access token. */
static json_t *gcs_token(const dj_store_spec *s)
{
	static const char *const words[] = {"anon", "google_default", "cloud"};
	if (!s->token)
		return json_null();
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(s->token, words[i]))
			return json_string(s->token);
	return json_string(access(s->token, F_OK) == 0 ? s->token : MASK);
}

/* Where the gcs backend will take its access tokens from (stores/gcs_auth.c). */
static json_t *gcs_credentials(const dj_store_spec *s)
{
	const char *meta = s->metadata_host ? s->metadata_host : "metadata.google.internal";
	bool dflt = !s->token || !strcmp(s->token, "google_default");
	if (s->token && !strcmp(s->token, "anon"))
		return json_string("anonymous");
	if (dflt && s->credentials_file)
		return json_pack(
		    "s++", "key file ", s->credentials_file,
		    " (GOOGLE_APPLICATION_CREDENTIALS or gcloud's application default)");
	if (dflt || !strcmp(s->token, "cloud"))
		return json_pack("s++", "metadata server ", meta,
		                 s->token ? "" : ", else anonymous");
	return json_pack("s+", "key file ",
	                 access(s->token, F_OK) == 0 ? s->token : "(not found; not shown)");
}

static void protocol_options(json_t *o, const dj_store_spec *s, bool *ok)
{
	if (!strcmp(s->protocol, "s3")) {
		put(o, "endpoint", str_or_null(s->endpoint), ok);
		put(o, "bucket", str_or_null(s->bucket), ok);
		put(o, "access_key", str_or_null(s->access_key), ok);
		put(o, "secret_key", secret(s->secret_key), ok);
		put(o, "secure", json_boolean(s->secure), ok);
		put(o, "proxy_server", str_or_null(s->proxy_server), ok);
	} else if (!strcmp(s->protocol, "gcs")) {
		put(o, "bucket", str_or_null(s->bucket), ok);
		put(o, "token", gcs_token(s), ok);
		put(o, "project", str_or_null(s->project), ok);
		put(o, "endpoint",
		    json_string(s->endpoint ? s->endpoint : "https://storage.googleapis.com"), ok);
		put(o, "credentials", gcs_credentials(s), ok);
	} else if (!strcmp(s->protocol, "azure")) {
		put(o, "container", str_or_null(s->container), ok);
		put(o, "account_name", str_or_null(s->account_name), ok);
		put(o, "account_key", secret(s->account_key), ok);
		put(o, "connection_string", secret(s->connection_string), ok);
	}
}

json_t *dj_config_store_to_json(const dj_store_spec *s)
{
	json_t *o = json_object();
	bool ok = o != NULL;
	if (!ok)
		return NULL;
	put(o, "protocol", json_string(s->protocol), &ok);
	put(o, "location", str_or_null(s->location), &ok);
	protocol_options(o, s, &ok);
	put(o, "subfolding", subfolding(s), &ok);
	put(o, "partition_pattern", str_or_null(s->partition_pattern), &ok);
	put(o, "token_length", json_integer(s->token_length), &ok);
	put(o, "hash_prefix", str_or_null(s->hash_prefix), &ok);
	put(o, "schema_prefix", str_or_null(s->schema_prefix), &ok);
	put(o, "filepath_prefix", str_or_null(s->filepath_prefix), &ok);
	put(o, "stage", str_or_null(s->stage), &ok);
	if (!ok)
		json_decref(o), o = NULL;
	return o;
}

static json_t *database(const dj_db_config *d, bool *ok)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	put(o, "host", json_string(d->host), ok);
	put(o, "port", json_integer(d->port), ok);
	put(o, "user", str_or_null(d->user), ok);
	put(o, "password", secret(d->password), ok);
	put(o, "backend", json_string(d->backend == DJ_BACKEND_POSTGRESQL ? "postgresql" : "mysql"),
	    ok);
	put(o, "name", str_or_null(d->name), ok);
	put(o, "use_tls", d->use_tls == DJ_TLS_AUTO ? json_null() : json_boolean(d->use_tls), ok);
	put(o, "reconnect", json_boolean(d->reconnect), ok);
	put(o, "database_prefix", json_string(d->database_prefix), ok);
	put(o, "create_tables", json_boolean(d->create_tables), ok);
	return o;
}

static json_t *stores(const dj_config *c, bool *ok)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	put(o, "default", str_or_null(c->store_default), ok);
	put(o, "filepath_default", str_or_null(c->store_filepath_default), ok);
	for (size_t i = 0; i < c->nstores; i++)
		put(o, c->stores[i].name, dj_config_store_to_json(&c->stores[i]), ok);
	return o;
}

/* database.md §6.11: the jobs.* settings with their defaults and env vars. */
static int jobs(const dj_config *c, json_t *o, bool *ok, dj_err *err)
{
	static const struct {
		const char *key, *env;
		char type; /* b(ool), i(nt), s(tring or null) */
		long long dflt;
	} t[] = {
	    {"auto_refresh", "DJ_JOBS_AUTO_REFRESH", 'b', 1},
	    {"keep_completed", "DJ_JOBS_KEEP_COMPLETED", 'b', 0},
	    {"stale_timeout", "DJ_JOBS_STALE_TIMEOUT", 'i', 3600},
	    {"default_priority", "DJ_JOBS_DEFAULT_PRIORITY", 'i', 5},
	    {"version_method", "DJ_JOBS_VERSION_METHOD", 's', 0},
	    {"allow_new_pk_fields_in_computed_tables",
	     "DJ_JOBS_ALLOW_NEW_PK_FIELDS_IN_COMPUTED_TABLES", 'b', 0},
	    {"add_job_metadata", "DJ_JOBS_ADD_JOB_METADATA", 'b', 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char key[128];
		bool b;
		long long n;
		const char *s;
		int rc = 0;
		snprintf(key, sizeof(key), "jobs.%s", t[i].key);
		if (t[i].type == 'b' &&
		    (rc = dj_config_get_bool(c, key, t[i].env, t[i].dflt, &b, err)) == 0)
			put(o, t[i].key, json_boolean(b), ok);
		else if (t[i].type == 'i' &&
		         (rc = dj_config_get_int(c, key, t[i].env, t[i].dflt, &n, err)) == 0)
			put(o, t[i].key, json_integer(n), ok);
		else if (t[i].type == 's' &&
		         (rc = dj_config_get_str(c, key, t[i].env, NULL, &s, err)) == 0)
			put(o, t[i].key, str_or_null(s), ok);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void top_level(const dj_config *c, json_t *o, bool *ok)
{
	json_t *conn = json_object();
	put(o, "config_file", str_or_null(c->config_path), ok);
	put(o, "secrets_dir", str_or_null(c->secrets_dir), ok);
	put(o, "database", database(&c->database, ok), ok);
	if (conn)
		put(conn, "charset", json_string(c->database.charset), ok);
	put(o, "connection", conn, ok);
	put(o, "loglevel", json_string(c->loglevel), ok);
	put(o, "safemode", json_boolean(c->safemode), ok);
	put(o, "download_path", json_string(c->download_path), ok);
	put(o, "query_cache", str_or_null(c->query_cache), ok);
	put(o, "thread_safe", json_boolean(c->thread_safe), ok);
	put(o, "ignore_config_file", json_boolean(c->ignore_config_file), ok);
	put(o, "stores", stores(c, ok), ok);
}

int dj_config_to_json(const dj_config *cfg, json_t **out, dj_err *err)
{
	json_t *o = json_object(), *j = json_object();
	bool ok = o && j;
	int rc = 0;
	*out = NULL;
	if (ok)
		top_level(cfg, o, &ok);
	if (ok && (rc = jobs(cfg, j, &ok, err)) < 0) {
		json_decref(o);
		json_decref(j);
		return rc;
	}
	put(o, "jobs", j, &ok);
	if (!ok) {
		json_decref(o);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}
