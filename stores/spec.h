/*
 * A store's configuration (formats.md §8.3), completed with defaults and validated by
 * runner/config.c. Owned by the config that holds it; strings are malloc'd, NULL when unset.
 */
#ifndef DJ_STORES_SPEC_H
#define DJ_STORES_SPEC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dj_store_spec {
	char *name;     /* the key under "stores" */
	char *protocol; /* "file", "s3", "gcs", "azure" (lower-cased) */
	char *location;

	/* common options, defaults applied */
	int *subfolding; /* NULL/0 = flat */
	size_t nsubfolding;
	char *partition_pattern; /* NULL = none */
	int token_length;        /* clamped 4..16, default 8 */
	char *hash_prefix;       /* default "_hash"; "" = no section */
	char *schema_prefix;     /* default "_schema"; "" = no section */
	char *filepath_prefix;   /* NULL = unrestricted */
	char *stage;

	/* s3 (gcs: endpoint from STORAGE_EMULATOR_HOST, set by the runner) */
	char *endpoint, *bucket, *access_key, *secret_key, *proxy_server;
	bool secure; /* default true */
	/* gcs */
	char *token, *project;
	char *credentials_file; /* GOOGLE_APPLICATION_CREDENTIALS (or gcloud's application-default
	                           file) for token unset or "google_default"; set by the runner */
	char *metadata_host;    /* GCE_METADATA_HOST: overrides metadata.google.internal */
	/* azure */
	char *container, *account_name, *account_key, *connection_string;
} dj_store_spec;

#endif
