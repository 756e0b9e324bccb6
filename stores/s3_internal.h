/*
 * Inside the s3 backend: the store struct, the request engine (s3_http.c) and the pure helpers
 * (s3_xml.c: XML, dates, endpoints) that unit tests reach directly. Not for other layers.
 */
#ifndef DJ_STORES_S3_INTERNAL_H
#define DJ_STORES_S3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "stores/sigv4.h"
#include "stores/store.h"

#define DJ_S3_MIN_PART (5u << 20) /* S3: every part but the last */
#define DJ_S3_MAX_PART (5ull << 30)
#define DJ_S3_DELETE_BATCH 1000     /* DeleteObjects limit */
#define DJ_S3_XML_LIMIT (64u << 20) /* cap on a response body kept in memory (listings, errors) */

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

/* ---- XML (S3 responses are small, flat and entity-escaped; no DTDs, no CDATA) ---- */

/*
 * Find the next element <tag> (or <tag attr...>, or <tag/>) in [p, end). Returns a pointer to its
 * content and sets *content_end to the start of its closing tag; *after points past the element.
 * NULL when there is none (or it is not closed).
 */
const char *dj_s3__xml_find(const char *p, const char *end, const char *tag,
                            const char **content_end, const char **after);

/* Append the text p[0..n) with the five named entities and &#N; / &#xH; references decoded
 * (as UTF-8). DJ_EFORMAT for an unknown or bad reference, DJ_ENOMEM. */
int dj_s3__xml_unescape(dj_buf *out, const char *p, size_t n);

/* Append `s` escaped for XML text (& < > " '). */
int dj_s3__xml_escape(dj_buf *out, const char *s);

/* The decoded text of the first <tag> in [p, end) into out (reset first); DJ_ENOTFOUND if none. */
int dj_s3__xml_text(dj_buf *out, const char *p, const char *end, const char *tag);

/* One <Contents> entry of a ListObjectsV2 page, key decoded. */
typedef int (*dj_s3_list_item_fn)(const char *key, uint64_t size, int64_t mtime, void *payload);

/*
 * Parse a ListBucketResult page: fn for each <Contents>, then *truncated and the
 * NextContinuationToken into `next` (reset first; "" when absent). DJ_EFORMAT for a malformed
 * page; fn's negative code stops it.
 */
int dj_s3__parse_list(const char *xml, size_t n, dj_s3_list_item_fn fn, void *payload,
                      bool *truncated, dj_buf *next);

/* "2026-11-21T21:07:14.000Z" -> seconds since the epoch; -1 when malformed. */
int64_t dj_s3__parse_iso8601(const char *s);
/* "Sat, 21 Nov 2026 21:07:14 GMT" (RFC 7231 IMF-fixdate) -> seconds; -1 when malformed. */
int64_t dj_s3__parse_http_date(const char *s);

/* ---- the store ---- */

typedef struct dj_s3_store {
	dj_store base;
	dj_s3_endpoint ep;
	char *bucket;
	char *location; /* "" or the spec's location, used verbatim (formats.md §8.6) */
	char *access_key, *secret_key, *session_token, *region; /* keys NULL = unsigned requests */
	unsigned parallel;
	size_t part_size, multipart_threshold;
	int retries;
	unsigned retry_base_ms;
	long connect_timeout_ms, stall_timeout_s;
	bool unsigned_payload;
	void *multi;     /* CURLM *: its connection pool is reused across calls */
	uint32_t jitter; /* back-off jitter state */
} dj_s3_store;

/* ---- one HTTP request and the engine that runs many at once ---- */

typedef struct dj_s3_req {
	/* request */
	const char *method;
	dj_buf key;              /* full object key (location applied), raw; "" = the bucket */
	const char *label;       /* what messages name: the key as given, or a prefix (borrowed) */
	dj_sigv4_param query[3]; /* raw; values must outlive the request */
	size_t nquery;
	char range[64];       /* "bytes=a-b" or "" */
	char if_match[130];   /* ETag or "" */
	char content_md5[32]; /* base64 or "" */
	const char *content_type;
	const uint8_t *body; /* request body (memory), or loaded from body_fd at start */
	size_t body_len;
	int body_fd; /* >= 0: body = body_len bytes of this file from body_off */
	uint64_t body_off;
	/* response */
	long status;
	dj_buf resp;      /* non-2xx bodies, and 2xx bodies with no data sink */
	dj_buf *data_buf; /* 2xx body appended here when set */
	uint8_t *data_at; /* or written here, at most data_cap bytes */
	size_t data_cap, data_len;
	uint64_t abort_above; /* 200 with a larger Content-Length: stop, set too_big */
	bool too_big;
	char etag[130];
	uint64_t content_length, total; /* total: from Content-Range "…/total" */
	bool have_length, have_total;
	int64_t mtime;
	/* engine state */
	void *easy;    /* CURL * */
	void *headers; /* struct curl_slist * */
	uint8_t *owned_body;
	char payload_hash[DJ_SHA256_HEX_LEN + 1];
	size_t sent, data_base;
	int attempts, curl_code;
	int64_t not_before_ms;
	char curl_msg[256];
	int local_code; /* a failure found on our side (overflow, memory): not retried */
	bool in_flight, finished;
} dj_s3_req;

/* Set up req for `method` on `key` ("" = bucket); location is applied here. */
int dj_s3__req_init(dj_s3_store *s3, dj_s3_req *req, const char *method, const char *key,
                    dj_err *err);
void dj_s3__req_dispose(dj_s3_req *req);

/*
 * Run n requests, at most s3->parallel at a time, each retried with back-off on connection
 * failures, timeouts, HTTP 5xx, 429 and S3's RequestTimeout. Returns 0 when every request got
 * a final HTTP answer (any status: callers judge it); with stop_on_error a non-2xx answer stops
 * the rest. DJ_ETRANSIENT when retries ran out; DJ_ERROR for other transport failures. `what`
 * and the keys name the operation in err.
 */
int dj_s3__run(dj_s3_store *s3, dj_s3_req **reqs, size_t n, bool stop_on_error, const char *what,
               dj_err *err);

/* Turn a final non-2xx answer into a code and a message naming the store, the action and the
 * key: authentication failures, 404, 412, throttling... Returns the code. */
int dj_s3__http_error(dj_s3_store *s3, const dj_s3_req *req, const char *what, const char *key,
                      dj_err *err);

static inline bool dj_s3__ok(const dj_s3_req *r)
{
	return r->status >= 200 && r->status < 300;
}

#endif
