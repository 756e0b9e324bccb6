/*
 * Inside the gcs backend: the store struct, its credentials (gcs_auth.c: service-account JWT
 * bearer grant, authorized_user refresh grant, metadata server, anonymous), its callbacks for
 * the shared HTTP engine (gcs_http.c: JSON API URLs, bearer tokens, error answers) and the pure
 * helpers unit tests reach directly. Not for other layers.
 */
#ifndef DJ_STORES_GCS_INTERNAL_H
#define DJ_STORES_GCS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "stores/http.h"
#include "stores/store.h"

#define DJ_GCS_DEFAULT_ENDPOINT "https://storage.googleapis.com"
#define DJ_GCS_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define DJ_GCS_METADATA_HOST "metadata.google.internal"
#define DJ_GCS_SCOPE "https://www.googleapis.com/auth/devstorage.read_write"
#define DJ_GCS_MAX_COMPOSE 32           /* source objects per compose call */
#define DJ_GCS_LIST_PAGE 1000           /* objects.list maxResults limit */
#define DJ_GCS_PARTS_DIR ".djrun-parts" /* below the location: parts of unfinished uploads */

/* ---- credentials (gcs_auth.c) ---- */

typedef enum dj_gcs_auth_kind {
	DJ_GCS_AUTH_ANON,            /* no Authorization header */
	DJ_GCS_AUTH_SERVICE_ACCOUNT, /* JWT bearer grant signed with the key file's private_key */
	DJ_GCS_AUTH_USER,            /* authorized_user: refresh_token grant */
	DJ_GCS_AUTH_METADATA,        /* the metadata server's token endpoint */
	DJ_GCS_AUTH_DEFAULT, /* token unset: key file, else metadata server, else anonymous */
} dj_gcs_auth_kind;

/*
 * What the store's `token` says (gcsfs semantics, formats.md §8.6): "anon"; "google_default"
 * (the credentials file when one is given, else the metadata server); "cloud" (the metadata
 * server); NULL (as google_default, falling back to anonymous when neither answers); anything
 * else is a path to a service_account or authorized_user JSON file. `credentials_file` is the
 * GOOGLE_APPLICATION_CREDENTIALS (or gcloud's application-default file) the runner found;
 * `metadata_host` overrides metadata.google.internal (GCE_METADATA_HOST). Nothing is read or
 * sent here: the files are read on the first request, so every credential problem is reported
 * as "authentication failed" there. DJ_ENOMEM only.
 */
typedef struct dj_gcs_auth dj_gcs_auth;
int dj_gcs__auth_new(dj_gcs_auth **out, const char *store, const char *token,
                     const char *credentials_file, const char *metadata_host, long timeout_ms,
                     dj_err *err);
void dj_gcs__auth_free(dj_gcs_auth *a);
dj_gcs_auth_kind dj_gcs__auth_kind(const dj_gcs_auth *a);

/*
 * A valid access token into out (reset first; "" = send no Authorization). Tokens are cached
 * process-wide per credential (every store and thread with the same key file shares one) and
 * fetched again when less than min(300 s, half the lifetime) remains; the cache is locked, so
 * concurrent callers fetch once. `key` names the object in messages. DJ_EUSAGE
 * "authentication failed: ..." for a missing or malformed key file, a refused grant or no
 * credentials at all; DJ_ETRANSIENT when the token endpoint stayed unreachable.
 */
int dj_gcs__auth_token(dj_gcs_auth *a, const char *key, dj_buf *out, dj_err *err);

/* The storage API refused the cached token (401: revoked, or expired early by clock skew):
 * fetch a new one at the next request. False (nothing to retry) when anonymous or when the token
 * is only seconds old. */
bool dj_gcs__auth_invalidate(dj_gcs_auth *a);

/* The JWT bearer assertion for a service account, RS256-signed with the PEM `private_key`:
 * header.claims.signature, base64url. Unit tests verify it with the public key. DJ_EUSAGE for
 * a key OpenSSL cannot read (never quoted). */
int dj_gcs__jwt(dj_buf *out, const char *private_key_pem, const char *key_id,
                const char *client_email, const char *scope, const char *audience, int64_t iat,
                dj_err *err);

/* base64url without padding (RFC 7515 §2). */
int dj_gcs__b64url(dj_buf *out, const void *p, size_t n);

/* Seconds after which a token obtained with `expires_in` is fetched again. */
int64_t dj_gcs__refresh_after(int64_t expires_in);

/* ---- JSON answers (gcs_http.c) ---- */

/* One object of a listing ("name" full, decoded), or one of its "prefixes" (is_dir). */
typedef int (*dj_gcs_list_item_fn)(const char *name, uint64_t size, int64_t mtime, bool is_dir,
                                   void *payload);

/* Parse an objects.list page: fn for each item and prefix, nextPageToken into `next` (reset
 * first; "" at the end). DJ_EFORMAT for a malformed page; fn's negative code stops it. */
int dj_gcs__parse_list(const char *json, size_t n, dj_gcs_list_item_fn fn, void *payload,
                       dj_buf *next);

/* size and updated of an object resource. DJ_EFORMAT when they are missing. */
int dj_gcs__parse_object(const char *json, size_t n, uint64_t *size, int64_t *mtime);

/* ---- the store ---- */

typedef struct dj_gcs_store {
	dj_store base;
	dj_http http; /* owner = this store; location, base point into it */
	dj_gcs_auth *auth;
	char *base_url; /* scheme://host[:port] */
	char *bucket;
	char *location; /* "" or the spec's location, used verbatim (formats.md §8.6) */
	size_t part_size, put_threshold;
	dj_buf token; /* the bearer token of the request being prepared */
} dj_gcs_store;

/*
 * Requests the store makes, told apart by prepare from method, key and query (gcs_http.c):
 * GET key + no "alt" in the query = media download (alt=media added); GET key + alt=json =
 * object metadata; GET "" = objects.list; POST with uploadType = media upload (the key goes in
 * "name"); POST key with r->copy_source (the full source name) = objects.rewrite of it into
 * key; POST key otherwise = compose into key; DELETE key = objects.delete.
 * The engine's code_header is x-goog-generation: r->code is the object's generation.
 */
int dj_gcs__prepare(void *gs, dj_http_req *r, dj_buf *url, dj_err *err);
bool dj_gcs__retry(void *gs, dj_http_req *r); /* 401: a new token, once */
int dj_gcs__http_error(void *gs, const dj_http_req *r, const char *what, const char *key,
                       dj_err *err);

/* A 404 that says the bucket, not the object, is missing. */
bool dj_gcs__bucket_missing(const dj_http_req *r);

/* dj_store_copy_many (gcs_copy.c): objects.rewrite per pair, in parallel. */
int dj_gcs__copy_many(dj_store *st, const char *const *from, const char *const *to, size_t n,
                      unsigned flags, int *results, dj_err *err);

/* The endpoint: NULL/"" = storage.googleapis.com; "host:port" = http://host:port (the
 * STORAGE_EMULATOR_HOST convention); else an http(s) URL, trailing '/' dropped. DJ_EUSAGE. */
int dj_gcs__endpoint(char **out, const char *endpoint, dj_err *err);

#endif
