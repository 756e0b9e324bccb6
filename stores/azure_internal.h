/*
 * Inside the azure backend: the store struct, its callbacks for the shared HTTP engine
 * (stores/http.h; SharedKey signing and errors in azure_http.c) and the pure helpers
 * (azure_parse.c: connection strings, endpoints, listings) that unit tests reach directly.
 * Not for other layers.
 */
#ifndef DJ_STORES_AZURE_INTERNAL_H
#define DJ_STORES_AZURE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "stores/http.h"
#include "stores/store.h"

#define DJ_AZURE_VERSION "2021-08-06"      /* x-ms-version sent with every request */
#define DJ_AZURE_MAX_PUT (5000ull << 20)   /* Put Blob limit for this version */
#define DJ_AZURE_MAX_BLOCK (4000ull << 20) /* Put Block limit for this version */
#define DJ_AZURE_LIST_PAGE 5000            /* List Blobs maxresults limit */
/* The well-known key of the storage emulator (UseDevelopmentStorage=true), published by
 * Microsoft; not a secret. */
#define DJ_AZURE_DEV_ACCOUNT "devstoreaccount1"
#define DJ_AZURE_DEV_KEY                                                                           \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/* ---- account and endpoint (formats.md §8.6) ---- */

typedef struct dj_azure_account {
	char *name; /* account name, NULL when unknown */
	char *key;  /* base64 account key, NULL = unsigned (anonymous) requests */
	char *base; /* scheme://host[:port] */
	char *path; /* raw path before "/container": "" or "/account" (emulator, path style) */
} dj_azure_account;

/*
 * Work out the account from a store spec: connection_string (AccountName, AccountKey,
 * BlobEndpoint, DefaultEndpointsProtocol, EndpointSuffix; UseDevelopmentStorage=true = the
 * emulator on 127.0.0.1:10000) wins where it says something, as adlfs passes it to the SDK
 * alone; account_name and account_key fill the gaps. `endpoint` (NULL in configurations: the
 * spec has no such field for azure) overrides the blob endpoint, e.g.
 * "http://127.0.0.1:10000/devstoreaccount1". Without any endpoint:
 * https://{account}.blob.core.windows.net. DJ_EUSAGE for a malformed connection string, no
 * account name, an endpoint that is not http(s); DJ_ENOTSUP for SharedAccessSignature.
 * Messages never quote the connection string (it holds the key).
 */
int dj_azure__account(dj_azure_account *out, const char *connection_string,
                      const char *account_name, const char *account_key, const char *endpoint,
                      dj_err *err);
void dj_azure__account_dispose(dj_azure_account *a);

/* ---- SharedKey (azure_http.c) ---- */

/* One request to sign: the header values that take part ("" or NULL when absent). */
typedef struct dj_azure_sign_in {
	const char *method;
	uint64_t content_length; /* 0 is signed as "" (versions since 2015-02-21) */
	const char *content_md5, *content_type, *if_match, *if_none_match, *range;
	const char *const *ms_headers; /* "x-ms-name:value" lines, lower-case names, any order */
	size_t nms;
	const char *account;
	const char *path; /* the request path exactly as sent (percent-encoded) */
	const dj_http_param *query;
	size_t nquery;
} dj_azure_sign_in;

/* The string to sign (Authorize with Shared Key, Blob service, version 2009-09-19 and later)
 * into `out` (appended). DJ_ENOMEM. */
int dj_azure__string_to_sign(dj_buf *out, const dj_azure_sign_in *in, dj_err *err);

/* base64(HMAC-SHA256(base64-decoded key, s)) into out (44 characters + NUL). DJ_EUSAGE when the
 * key is not base64 ("account_key is not valid base64", never the key itself). */
int dj_azure__signature(const char *key_b64, const char *s, size_t n, char out[45], dj_err *err);

/* "Sat, 21 Nov 2026 21:07:14 GMT" for x-ms-date. */
void dj_azure__date(int64_t t, char out[30]);

/* ---- listings (azure_parse.c) ---- */

/* One <Blob> of a List Blobs page (name decoded), or one <BlobPrefix> (is_dir; size 0). */
typedef int (*dj_azure_list_item_fn)(const char *name, uint64_t size, int64_t mtime, bool is_dir,
                                     void *payload);

/* Parse an EnumerationResults page: fn for each entry, then the NextMarker into `next` (reset
 * first; "" at the end). DJ_EFORMAT for a malformed page; fn's negative code stops it. */
int dj_azure__parse_list(const char *xml, size_t n, dj_azure_list_item_fn fn, void *payload,
                         dj_buf *next);

/* Block id of part `number` of upload `id`: base64 of "<id>-<number, 6 digits>", so any process
 * knowing the upload id writes the right block; every id of one blob has the same length. */
int dj_azure__block_id(char *out, size_t cap, const char *id, uint32_t number);

/* ---- the store ---- */

typedef struct dj_azure_store {
	dj_store base;
	dj_http http; /* owner = this store; location, base point into it */
	dj_azure_account acct;
	char *container;
	char *location;  /* "" or the spec's location, used verbatim (formats.md §8.6) */
	char *path_base; /* acct.path + "/" + container: the raw path before every blob name */
	size_t part_size, put_threshold;
} dj_azure_store;

/* The engine's callbacks (azure_http.c). */
int dj_azure__prepare(void *az, dj_http_req *r, dj_buf *url, dj_err *err);
int dj_azure__http_error(void *az, const dj_http_req *r, const char *what, const char *key,
                         dj_err *err);

/*
 * Create the store's container (tests and benchmarks only: djrun never creates containers).
 * 0 when it was created or already exists.
 */
int dj_azure__create_container(dj_store *st, dj_err *err);

#endif
