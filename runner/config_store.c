/* Store specs (formats.md §8.3): defaults, allowed and required keys, validation, lookup. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "runner/config.h"
#include "runner/config_internal.h"

typedef struct protocol {
	const char *name;
	const char *const *required; /* NULL-terminated, in the order settings.py reports them */
	const char *const *extra;    /* allowed besides the common options */
} protocol;

/* settings.py get_store_spec: the common options every protocol accepts */
static const char *const common_keys[] = {
    "subfolding",      "partition_pattern", "token_length", "hash_prefix", "schema_prefix",
    "filepath_prefix", "protocol",          "location",     "stage",       NULL};
static const char *const file_req[] = {"protocol", "location", NULL};
static const char *const s3_req[] = {"protocol", "endpoint", "bucket", "location", NULL};
static const char *const gcs_req[] = {"protocol", "bucket", "location", NULL};
static const char *const az_req[] = {"protocol", "container", "location", NULL};
static const char *const no_extra[] = {NULL};
static const char *const s3_extra[] = {"endpoint", "bucket",       "access_key", "secret_key",
                                       "secure",   "proxy_server", NULL};
static const char *const gcs_extra[] = {"bucket", "token", "project", NULL};
static const char *const az_extra[] = {"container", "account_name", "account_key",
                                       "connection_string", NULL};

static const protocol protocols[] = {
    {"file", file_req, no_extra},
    {"s3", s3_req, s3_extra},
    {"gcs", gcs_req, gcs_extra},
    {"azure", az_req, az_extra},
};

static bool in_list(const char *const *list, const char *k)
{
	for (; *list; list++)
		if (!strcmp(*list, k))
			return true;
	return false;
}

static const protocol *find_protocol(const char *lower)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
		if (!strcmp(protocols[i].name, lower))
			return &protocols[i];
	return NULL;
}

/* "protocol" lower-cased (§8.3: validation compares it lower-cased; C-REC stores it so). */
static int parse_protocol(dj_store_spec *s, const json_t *obj, const protocol **p, dj_err *err)
{
	const json_t *v = json_object_get(obj, "protocol");
	if (!v)
		return dj_err_set(err, DJ_EUSAGE, "config.stores[\"%s\"] is missing: protocol",
		                  s->name);
	if (!json_is_string(v))
		return dj_err_set(err, DJ_EUSAGE,
		                  "config.stores[\"%s\"]: protocol must be a string", s->name);
	if (!(s->protocol = strdup(json_string_value(v))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (char *c = s->protocol; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (!(*p = find_protocol(s->protocol)))
		return dj_err_set(err, DJ_EUSAGE,
		                  "unknown protocol \"%s\" in config.stores[\"%s\"] "
		                  "(built-in: file, s3, gcs, azure)",
		                  s->protocol, s->name);
	return 0;
}

/* Required keys are checked for presence (a null counts), then unknown keys (§8.3). */
static int check_keys(const char *name, const json_t *obj, const protocol *p, dj_err *err)
{
	char list[400] = "";
	const char *k;
	const json_t *v;
	for (const char *const *r = p->required; *r; r++)
		if (!json_object_get(obj, *r))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			         list[0] ? ", " : "", *r);
	if (list[0])
		return dj_err_set(err, DJ_EUSAGE, "config.stores[\"%s\"] is missing: %s", name,
		                  list);
	json_object_foreach((json_t *)obj, k, v)
	{
		(void)v;
		if (!in_list(common_keys, k) && !in_list(p->extra, k))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			         list[0] ? ", " : "", k);
	}
	if (list[0])
		return dj_err_set(err, DJ_EUSAGE, "Invalid key(s) in config.stores[\"%s\"]: %s",
		                  name, list);
	return 0;
}

/* A string option; absent keeps `dflt`, null gives NULL unless `nonnull`. */
static int opt_str(const dj_store_spec *s, const json_t *obj, const char *key, const char *dflt,
                   bool nonnull, char **out, dj_err *err)
{
	const json_t *v = json_object_get(obj, key);
	const char *val = dflt;
	if (v && json_is_string(v))
		val = json_string_value(v);
	else if (v && (nonnull || !json_is_null(v)))
		return dj_err_set(err, DJ_EUSAGE,
		                  "config.stores[\"%s\"]: %s must be a string, not %s", s->name,
		                  key, dj_config__type(v));
	else if (v)
		val = NULL;
	if (val && !(*out = strdup(val)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

/* subfolding: null or [] = flat; else positive fold lengths (hash_registry._subfold). */
static int opt_subfolding(dj_store_spec *s, const json_t *obj, dj_err *err)
{
	const json_t *v = json_object_get(obj, "subfolding"), *e;
	size_t i;
	if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0))
		return 0;
	if (!json_is_array(v))
		goto bad;
	if (!(s->subfolding = calloc(json_array_size(v), sizeof(int))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	json_array_foreach(v, i, e)
	{
		if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 64)
			goto bad;
		s->subfolding[s->nsubfolding++] = (int)json_integer_value(e);
	}
	return 0;
bad:
	return dj_err_set(err, DJ_EUSAGE,
	                  "config.stores[\"%s\"]: subfolding must be a list of positive integers",
	                  s->name);
}

static int opt_token_length(dj_store_spec *s, const json_t *obj, dj_err *err)
{
	const json_t *v = json_object_get(obj, "token_length");
	long long n = 8;
	if (v && !json_is_integer(v))
		return dj_err_set(err, DJ_EUSAGE,
		                  "config.stores[\"%s\"]: token_length must be an integer",
		                  s->name);
	if (v)
		n = json_integer_value(v);
	/* storage.generate_token clamps instead of rejecting (§6.3) */
	s->token_length = n < 4 ? 4 : n > 16 ? 16 : (int)n;
	return 0;
}

/* s3 "secure": storage.py tests Python truthiness, so "false" (a non-empty string) is true. */
static bool truthy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_TRUE:
		return true;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0.0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_OBJECT:
		return json_object_size(v) > 0;
	default:
		return false;
	}
}

static char *norm_prefix(const char *p, char *buf, size_t n)
{
	size_t len;
	p = dj_strip_slashes(p, &len);
	snprintf(buf, n, "%.*s/", (int)len, p);
	return buf;
}

/* §8.3: the non-empty section prefixes, as strip("/") + "/", must not prefix one another. */
static int check_prefixes(const dj_store_spec *s, dj_err *err)
{
	const char *names[] = {"hash_prefix", "schema_prefix", "filepath_prefix"};
	const char *vals[] = {s->hash_prefix, s->schema_prefix, s->filepath_prefix};
	char a[512], b[512];
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++) {
			if (!vals[i] || !*vals[i] || !vals[j] || !*vals[j])
				continue;
			norm_prefix(vals[i], a, sizeof(a));
			norm_prefix(vals[j], b, sizeof(b));
			if (!strncmp(a, b, strlen(b)) || !strncmp(b, a, strlen(a)))
				return dj_err_set(
				    err, DJ_EUSAGE,
				    "config.stores[\"%s\"]: %s=\"%s\" and %s=\"%s\" "
				    "overlap; section prefixes must be mutually exclusive",
				    s->name, names[i], vals[i], names[j], vals[j]);
		}
	return 0;
}

static int parse_strings(dj_store_spec *s, const json_t *o, dj_err *err)
{
	int rc;
	if ((rc = opt_str(s, o, "location", NULL, true, &s->location, err)) < 0 ||
	    (rc = opt_str(s, o, "partition_pattern", NULL, false, &s->partition_pattern, err)) <
	        0 ||
	    (rc = opt_str(s, o, "hash_prefix", "_hash", true, &s->hash_prefix, err)) < 0 ||
	    (rc = opt_str(s, o, "schema_prefix", "_schema", true, &s->schema_prefix, err)) < 0 ||
	    (rc = opt_str(s, o, "filepath_prefix", NULL, false, &s->filepath_prefix, err)) < 0 ||
	    (rc = opt_str(s, o, "stage", NULL, false, &s->stage, err)) < 0 ||
	    (rc = opt_str(s, o, "endpoint", NULL, false, &s->endpoint, err)) < 0 ||
	    (rc = opt_str(s, o, "bucket", NULL, false, &s->bucket, err)) < 0 ||
	    (rc = opt_str(s, o, "access_key", NULL, false, &s->access_key, err)) < 0 ||
	    (rc = opt_str(s, o, "secret_key", NULL, false, &s->secret_key, err)) < 0 ||
	    (rc = opt_str(s, o, "proxy_server", NULL, false, &s->proxy_server, err)) < 0 ||
	    (rc = opt_str(s, o, "token", NULL, false, &s->token, err)) < 0 ||
	    (rc = opt_str(s, o, "project", NULL, false, &s->project, err)) < 0 ||
	    (rc = opt_str(s, o, "container", NULL, false, &s->container, err)) < 0 ||
	    (rc = opt_str(s, o, "account_name", NULL, false, &s->account_name, err)) < 0 ||
	    (rc = opt_str(s, o, "account_key", NULL, false, &s->account_key, err)) < 0 ||
	    (rc = opt_str(s, o, "connection_string", NULL, false, &s->connection_string, err)) < 0)
		return rc;
	return 0;
}

/* Falsy values mean "not set" where the library tests truthiness. */
static void drop_empty(char **p)
{
	if (*p && !**p) {
		free(*p);
		*p = NULL;
	}
}

static int check_s3(const dj_store_spec *s, dj_err *err)
{
	/* storage.py StorageBackend: endpoint and bucket must be non-empty; keys both or neither */
	if (!s->endpoint || !s->bucket)
		return dj_err_set(err, DJ_EUSAGE, "config.stores[\"%s\"]: s3 needs a non-empty %s",
		                  s->name, s->endpoint ? "bucket" : "endpoint");
	if (!s->access_key != !s->secret_key)
		return dj_err_set(err, DJ_EUSAGE,
		                  "config.stores[\"%s\"]: incomplete S3 credentials: set both "
		                  "access_key and secret_key, or neither",
		                  s->name);
	return 0;
}

static int dup_env(char **out, const char *v, dj_err *err)
{
	if (v && *v && !(*out = strdup(v)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

/*
 * gcs: what gcsfs and google-auth take from the environment. STORAGE_EMULATOR_HOST replaces the
 * endpoint (gcsfs); the credentials of token unset or "google_default" are
 * GOOGLE_APPLICATION_CREDENTIALS, else gcloud's application-default file when it exists
 * ($CLOUDSDK_CONFIG or ~/.config/gcloud), else the metadata server at GCE_METADATA_HOST.
 */
static int gcs_environment(dj_store_spec *s, dj_err *err)
{
	const char *cred = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	const char *dir = getenv("CLOUDSDK_CONFIG"), *home = getenv("HOME");
	dj_buf adc = DJ_BUF_INIT;
	int rc;
	if ((!cred || !*cred) && ((dir && *dir) || (home && *home))) {
		if ((dir && *dir ? dj_buf_addf(&adc, "%s", dir)
		                 : dj_buf_addf(&adc, "%s/.config/gcloud", home)) < 0 ||
		    dj_buf_adds(&adc, "/application_default_credentials.json") < 0)
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
		if (access(adc.ptr, F_OK) == 0)
			cred = adc.ptr;
	}
	if ((rc = dup_env(&s->endpoint, getenv("STORAGE_EMULATOR_HOST"), err)) == 0 &&
	    (rc = dup_env(&s->credentials_file, cred, err)) == 0)
		rc = dup_env(&s->metadata_host, getenv("GCE_METADATA_HOST"), err);
	dj_buf_dispose(&adc);
	return rc;
}

static int parse_store(dj_store_spec *s, const char *name, const json_t *o, dj_err *err)
{
	const protocol *p;
	const json_t *secure = json_object_get(o, "secure");
	int rc;
	if (!(s->name = strdup(name)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (!json_is_object(o))
		return dj_err_set(err, DJ_EUSAGE, "config.stores[\"%s\"] must be an object, not %s",
		                  name, dj_config__type(o));
	if ((rc = parse_protocol(s, o, &p, err)) < 0 || (rc = check_keys(name, o, p, err)) < 0 ||
	    (rc = parse_strings(s, o, err)) < 0 || (rc = opt_subfolding(s, o, err)) < 0 ||
	    (rc = opt_token_length(s, o, err)) < 0)
		return rc;
	s->secure = secure ? truthy(secure) : true;
	drop_empty(&s->access_key);
	drop_empty(&s->secret_key);
	drop_empty(&s->endpoint);
	drop_empty(&s->bucket);
	drop_empty(&s->partition_pattern);
	drop_empty(&s->filepath_prefix);
	if (!strcmp(p->name, "s3") && (rc = check_s3(s, err)) < 0)
		return rc;
	if (!strcmp(p->name, "gcs") && (rc = gcs_environment(s, err)) < 0)
		return rc;
	return check_prefixes(s, err);
}

void dj_config__free_store(dj_store_spec *s)
{
	char **strs[] = {
	    &s->name,         &s->protocol,      &s->location,          &s->partition_pattern,
	    &s->hash_prefix,  &s->schema_prefix, &s->filepath_prefix,   &s->stage,
	    &s->endpoint,     &s->bucket,        &s->access_key,        &s->secret_key,
	    &s->proxy_server, &s->token,         &s->project,           &s->container,
	    &s->account_name, &s->account_key,   &s->connection_string, &s->credentials_file,
	    &s->metadata_host};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	free(s->subfolding);
	memset(s, 0, sizeof(*s));
}

/* stores.default / stores.filepath_default: a string naming a configured store (§8.3). */
static int default_name(const json_t *stores, const char *key, char **out, dj_err *err)
{
	const json_t *v = json_object_get(stores, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return dj_err_set(err, DJ_EUSAGE, "stores.%s must be a string, not %s", key,
		                  dj_config__type(v));
	if (!(*out = strdup(json_string_value(v))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

static const dj_store_spec *find(const dj_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nstores; i++)
		if (!strcmp(cfg->stores[i].name, name))
			return &cfg->stores[i];
	return NULL;
}

static int check_default(const dj_config *cfg, const char *key, const char *name, dj_err *err)
{
	if (name && !find(cfg, name))
		return dj_err_set(err, DJ_EUSAGE,
		                  "stores.%s names store '%s', which is not configured", key, name);
	return 0;
}

int dj_config__build_stores(dj_config *cfg, const json_t *stores, const json_t *skip, dj_err *err)
{
	const char *k;
	const json_t *v;
	int rc;
	if ((rc = default_name(stores, "default", &cfg->store_default, err)) < 0 ||
	    (rc = default_name(stores, "filepath_default", &cfg->store_filepath_default, err)) < 0)
		return rc;
	if (!(cfg->stores = calloc(json_object_size(stores) + 1, sizeof(*cfg->stores))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	json_object_foreach((json_t *)stores, k, v)
	{
		if (!strcmp(k, "default") || !strcmp(k, "filepath_default") ||
		    json_object_get(skip, k))
			continue;
		rc = parse_store(&cfg->stores[cfg->nstores++], k, v, err);
		if (rc < 0)
			return rc;
	}
	if ((rc = check_default(cfg, "default", cfg->store_default, err)) < 0)
		return rc;
	return check_default(cfg, "filepath_default", cfg->store_filepath_default, err);
}

static int resolve(const dj_config *cfg, const char *name, const char *dflt, const char *key,
                   const dj_store_spec **out, dj_err *err)
{
	*out = NULL;
	if (!name || !*name) {
		if (!dflt)
			return dj_err_set(err, DJ_ENOTFOUND,
			                  "no store name given and stores.%s is not configured",
			                  key);
		name = dflt;
	}
	if (!(*out = find(cfg, name)))
		return dj_err_set(err, DJ_ENOTFOUND,
		                  "store '%s' is requested but not configured in stores", name);
	return 0;
}

int dj_config_store(const dj_config *cfg, const char *name, const dj_store_spec **out, dj_err *err)
{
	return resolve(cfg, name, cfg->store_default, "default", out, err);
}

int dj_config_filepath_store(const dj_config *cfg, const char *name, const dj_store_spec **out,
                             dj_err *err)
{
	return resolve(cfg, name, cfg->store_filepath_default, "filepath_default", out, err);
}

int dj_config_check_store(const dj_store_spec *spec, dj_err *err)
{
	struct stat st;
	/* storage.py: an empty location is not checked (it means the working directory) */
	if (strcmp(spec->protocol, "file") != 0 || !spec->location || !*spec->location)
		return 0;
	if (stat(spec->location, &st) < 0 || !S_ISDIR(st.st_mode))
		return dj_err_set(err, DJ_ENOTFOUND,
		                  "store '%s': location '%s' is not an existing directory",
		                  spec->name, spec->location);
	return 0;
}
