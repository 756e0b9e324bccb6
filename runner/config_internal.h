/* Helpers shared by runner/config*.c only (STYLE.md §5: dj_<module>__name inside a layer). */
#ifndef DJ_RUNNER_CONFIG_INTERNAL_H
#define DJ_RUNNER_CONFIG_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "base/err.h"
#include "runner/config.h"

/* The value of `name` in envp, or NULL. _ci: case-insensitive and the last match wins, as
 * pydantic-settings (case_sensitive=False) reads it; _exact: as os.environ.get reads it. */
const char *dj_config__env_ci(const char *const *envp, const char *name);
const char *dj_config__env_exact(const char *const *envp, const char *name);

/* pydantic lax conversions; 0 or -1 (not convertible). */
int dj_config__str_bool(const char *s, bool *out);
int dj_config__json_bool(const json_t *v, bool *out);
int dj_config__json_int(const json_t *v, long long *out);
/* "string", "integer", ... for messages. */
const char *dj_config__type(const json_t *v);
/* strdup that treats NULL as NULL. */
char *dj_config__strdup(const char *s);

/*
 * Fill cfg->store_default, store_filepath_default and stores[] from the effective `stores`
 * object, validating every store (§8.3). Names in `skip` (an object used as a set) are stores
 * that only the secrets directory created; they are left out.
 */
int dj_config__build_stores(dj_config *cfg, const json_t *stores, const json_t *skip, dj_err *err);
void dj_config__free_store(dj_store_spec *s);

/* State of one load, beyond what ends up in dj_config. */
typedef struct loader {
	dj_config *cfg;
	const char *const *envp;
	json_t *stores;      /* the effective "stores" dict (§8.2) */
	json_t *secret_only; /* names of stores created only by secrets files (a set) */
	const char *src;     /* for messages: the file being applied */
} loader;

/* stores[store][attr] = v (taking the reference), creating the store's dict; `what` names the
 * source for the error when stores[store] is not an object. */
int dj_config__set_store_attr(loader *l, const char *store, const char *attr, json_t *v,
                              const char *what, dj_err *err);

/* runner/config_files.c: §8.1 steps 3 and 5. */
/* Search upward from `start` for datajoint.json; *out = malloc'd path or NULL (not found). */
int dj_config__find_file(const char *start, char **out, dj_err *err);
/* .secrets/ beside `config_path` if a directory, else `system_dir` if one, else NULL. */
char *dj_config__secrets_dir(const char *config_path, const char *system_dir);
/* Fill gaps from the secrets directory `dir`. */
int dj_config__load_secrets(loader *l, const char *dir, dj_err *err);

#endif
