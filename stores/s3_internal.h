/*
 * Inside the s3 backend: the store struct, its callbacks for the shared HTTP engine (stores/http.h;
 * signing and errors in s3_http.c) and the pure helpers (s3_xml.c: endpoints, listings) that unit
 * tests reach directly. Not for other layers.
 */
#ifndef DJ_STORES_S3_INTERNAL_H
#define DJ_STORES_S3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "stores/http.h"
#include "stores/sigv4.h"
#include "stores/store.h"

#define DJ_S3_MIN_PART (5u << 20) /* S3: every part but the last */
#define DJ_S3_MAX_PART (5ull << 30)
#define DJ_S3_DELETE_BATCH 1000 /* DeleteObjects limit */

/* ---- endpoint (formats.md §8.6) ---- */

typedef struct dj_s3_endpoint {
	char *base; /* scheme://host[:port] for URLs */
	char *host; /* Host header value (port only when not the scheme's default) */
	char *path; /* raw path before the key: "/bucket" (path style) or "" (virtual host), after
	               any path in the endpoint */
} dj_s3_endpoint;

/*
 * Resolve the spec's endpoint: kept as is when it starts with http:// or https://, else
 * https:// when `secure`, http:// otherwise. AUTO addressing uses the virtual host for
 * *.amazonaws.com endpoints when the bucket is a DNS label (lower-case letters, digits, '-',
 * no dots on https), path style everywhere else. DJ_EUSAGE for an empty endpoint or bucket.
 */
int dj_s3__endpoint(dj_s3_endpoint *out, const char *endpoint, bool secure, const char *bucket,
                    dj_store_addressing mode, dj_err *err);
void dj_s3__endpoint_dispose(dj_s3_endpoint *e);

/* ---- listings ---- */

/* One <Contents> entry of a ListObjectsV2 page, key decoded; or (is_dir) the <Prefix> of one
 * <CommonPrefixes> of a listing with a delimiter (size and mtime 0). */
typedef int (*dj_s3_list_item_fn)(const char *key, uint64_t size, int64_t mtime, bool is_dir,
                                  void *payload);

/*
 * Parse a ListBucketResult page: fn for each <Contents>, then for each <CommonPrefixes>, then
 * *truncated and the NextContinuationToken into `next` (reset first; "" when absent).
 * DJ_EFORMAT for a malformed page; fn's negative code stops it.
 */
int dj_s3__parse_list(const char *xml, size_t n, dj_s3_list_item_fn fn, void *payload,
                      bool *truncated, dj_buf *next);

/* ---- the store ---- */

typedef struct dj_s3_store {
	dj_store base;
	dj_http http; /* owner = this store; location, base point into it */
	dj_s3_endpoint ep;
	char *bucket;
	char *location; /* "" or the spec's location, used verbatim (formats.md §8.6) */
	char *access_key, *secret_key, *session_token, *region; /* keys NULL = unsigned requests */
	size_t part_size, multipart_threshold;
	bool unsigned_payload;
} dj_s3_store;

/* ---- the engine's callbacks (s3_http.c) ---- */

/* Sign one attempt with our own SigV4 (recipes.md §3: curl 7.88's built-in signer is wrong):
 * the URL into `url`, the signed headers onto r. */
int dj_s3__prepare(void *s3, dj_http_req *r, dj_buf *url, dj_err *err);

/* S3's extra transient answers: 400 RequestTimeout, and an <Error> in a 200 (turned into 500). */
bool dj_s3__retry(void *s3, dj_http_req *r);

/* Turn a final non-2xx answer into a code and a message naming the store, the action and the
 * key: authentication failures, 404, 412, throttling... Returns the code. */
int dj_s3__http_error(void *s3, const dj_http_req *r, const char *what, const char *key,
                      dj_err *err);

#endif
