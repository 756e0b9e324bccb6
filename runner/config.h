/*
 * djrun configuration: defaults, DJ_* environment, datajoint.json and the secrets directory,
 * read the way datajoint-python 2.x reads them (formats.md §8, database.md §9), so a lab's
 * existing configuration works unchanged. Where the library only warns (a datajoint.json it
 * cannot parse, a value of the wrong type) djrun fails: a batch job must not run on defaults.
 *
 * A loaded dj_config owns every string in it; it is read-only after dj_config_load and may be
 * shared by threads that only read it. Only runner/ code reads the process environment, and
 * even there the environment is a parameter (dj_config_opts.envp).
 */
#ifndef DJ_RUNNER_CONFIG_H
#define DJ_RUNNER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "stores/spec.h"

#define DJ_CONFIG_FILENAME "datajoint.json"
#define DJ_CONFIG_SYSTEM_SECRETS "/run/secrets/datajoint"

typedef enum dj_backend { DJ_BACKEND_MYSQL = 0, DJ_BACKEND_POSTGRESQL = 1 } dj_backend;

/* database.use_tls: null = try TLS and fall back (database.md §9.2). */
typedef enum dj_tls { DJ_TLS_AUTO = -1, DJ_TLS_OFF = 0, DJ_TLS_ON = 1 } dj_tls;

typedef struct dj_db_config {
	char *host;     /* never NULL; may be "host:port" (see dj_config_db_address) */
	int port;       /* 3306, or 5432 when DJ_BACKEND=postgresql at start-up */
	char *user;     /* NULL = unset */
	char *password; /* NULL = unset; never print it */
	dj_backend backend;
	char *name; /* PostgreSQL database; NULL = unset ("postgres") */
	dj_tls use_tls;
	bool reconnect;        /* default true */
	char *database_prefix; /* default "" (deprecated) */
	bool create_tables;    /* default true */
	char *charset;         /* connection.charset, default "" */
} dj_db_config;

typedef struct dj_config {
	dj_db_config database;
	char *loglevel;      /* DEBUG, INFO (default), WARNING, ERROR or CRITICAL */
	bool safemode;       /* default true */
	char *download_path; /* default "." */
	char *query_cache;   /* NULL = unset */
	bool thread_safe;    /* DJ_THREAD_SAFE in true/1/yes */
	bool ignore_config_file;

	char *store_default;          /* stores.default; NULL = unset */
	char *store_filepath_default; /* stores.filepath_default; NULL = unset */
	dj_store_spec *stores;        /* validated, in configuration order */
	size_t nstores;

	json_t *raw;       /* datajoint.json as parsed (an empty object when none was read) */
	char *config_path; /* the datajoint.json read, NULL if none */
	char *secrets_dir; /* the secrets directory read, NULL if none */
	char **env;        /* copy of the DJ_* entries of the environment, NULL-terminated */
} dj_config;

typedef struct dj_config_opts {
	const char *const *envp;        /* "NAME=value" entries, NULL-terminated; NULL = empty */
	const char *start_dir;          /* where the datajoint.json search starts; NULL = "." */
	const char *config_file;        /* djrun --config FILE: read it instead of searching */
	const char *system_secrets_dir; /* NULL = DJ_CONFIG_SYSTEM_SECRETS */
} dj_config_opts;

/*
 * Load the configuration (formats.md §8.1): defaults, then the environment, then datajoint.json
 * (searched upward from start_dir, or opts->config_file), then DJ_STORES, then the secrets
 * directory filling gaps; then validate every store (§8.3) without touching the filesystem.
 * `cfg` need not be initialised. Returns 0, or DJ_EFORMAT (bad JSON or value; err names the
 * file and line, or the key / variable), DJ_ENOTFOUND (opts->config_file absent), DJ_EUSAGE
 * (invalid store configuration), DJ_ERROR (I/O), DJ_ENOMEM. On failure `cfg` is left empty;
 * dj_config_free is safe either way. Messages never contain secret values.
 */
int dj_config_load(dj_config *cfg, const dj_config_opts *opts, dj_err *err);

/* Release everything `cfg` owns and zero it. Safe on a zeroed or already freed config. */
void dj_config_free(dj_config *cfg);

/*
 * The store named `name`; NULL or "" selects stores.default (DESIGN.md: "<codec@>" means the
 * default store). `*out` is borrowed from `cfg`. DJ_ENOTFOUND when the store is not configured
 * or no default is set; err names the store.
 */
int dj_config_store(const dj_config *cfg, const char *name, const dj_store_spec **out, dj_err *err);

/* As dj_config_store, but NULL or "" selects stores.filepath_default (formats.md §7). */
int dj_config_filepath_store(const dj_config *cfg, const char *name, const dj_store_spec **out,
                             dj_err *err);

/*
 * Checks that touch the filesystem, done when a backend is opened (formats.md §8.3): a `file`
 * store's non-empty location must be an existing directory. Other protocols: nothing to check.
 * Returns 0 or DJ_ENOTFOUND naming the store and the location.
 */
int dj_config_check_store(const dj_store_spec *spec, dj_err *err);

/*
 * The host and port to connect to: "host:port" in database.host wins over database.port, as
 * datajoint-python's Connection does (exactly one ':' allowed). `*host` is malloc'd, owned by
 * the caller. DJ_EFORMAT when the host has several ':' or a bad port.
 */
int dj_config_db_address(const dj_config *cfg, char **host, int *port, dj_err *err);

/*
 * Settings the loader does not model (e.g. "jobs.add_job_metadata", database.md §6.11), read the
 * way the library reads a "group.attr" key without a §8.5 env-var exception: the last value for
 * `key` in datajoint.json (nested {"jobs": {...}} or flat "jobs.x", document order) wins, else
 * the environment variable `env` (a DJ_* name, since only those are kept; may be NULL; matched
 * case-insensitively, like pydantic), else `dflt`. Values are converted like pydantic's lax
 * mode; DJ_EFORMAT naming the key or variable when the value has the wrong type. get_str: `*out` is
 * borrowed from `cfg`, NULL for a JSON null or a NULL default.
 */
int dj_config_get_bool(const dj_config *cfg, const char *key, const char *env, bool dflt, bool *out,
                       dj_err *err);
int dj_config_get_int(const dj_config *cfg, const char *key, const char *env, long long dflt,
                      long long *out, dj_err *err);
int dj_config_get_str(const dj_config *cfg, const char *key, const char *env, const char *dflt,
                      const char **out, dj_err *err);

/*
 * The effective configuration as a new JSON object for display: database, connection, top-level
 * settings, stores (every option with its default applied), jobs and where it came from.
 * Secrets (database.password, stores.*.secret_key, account_key, connection_string, token) are
 * replaced by "****" when set. Returns 0 or DJ_EFORMAT (a jobs.* value of the wrong type).
 */
int dj_config_to_json(const dj_config *cfg, json_t **out, dj_err *err);

/* One store as JSON, masked like dj_config_to_json. NULL on allocation failure. */
json_t *dj_config_store_to_json(const dj_store_spec *spec);

#endif
