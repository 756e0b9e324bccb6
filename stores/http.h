/*
 * The HTTP engine of the cloud backends (s3, azure), and the transfers they share. Not for other
 * layers.
 *
 * Many requests run at once in one curl multi, at most `parallel` in flight, each retried with
 * exponential back-off and jitter on connection failures, timeouts, HTTP 5xx, 429 and 408, plus
 * whatever the backend's `retry` callback adds. The backend builds every attempt's URL and signed
 * headers in its `prepare` callback (signatures carry the time, so each retry is signed anew) and
 * turns final error answers into messages in `http_error`. Everything runs in the calling
 * thread; a dj_http belongs to one store and is used by one thread at a time.
 *
 * Object keys in requests are `location + "/" + key`, or `key` when the location is empty: the
 * s3 key and the azure blob name alike (formats.md §8.6).
 */
#ifndef DJ_STORES_HTTP_H
#define DJ_STORES_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "stores/sigv4.h"
#include "stores/store.h"

#define DJ_HTTP_BODY_LIMIT (64u << 20) /* cap on a response body kept in memory (lists, errors) */
#define DJ_HTTP_MAX_QUERY 6

/* A query parameter, raw; value NULL = a bare flag (sent as "name="). */
typedef dj_sigv4_param dj_http_param;

typedef struct dj_http_req dj_http_req;

typedef struct dj_http {
	/* set by the backend; strings borrowed from it */
	const char *store;       /* the store's name, for messages */
	const char *base;        /* scheme://host[:port]: transport errors name it */
	const char *location;    /* put in front of request keys */
	const char *code_header; /* response header carrying the service's error code, or NULL */
	void *owner;             /* the backend's store, passed to the callbacks */
	/* Build the URL (append to `url`) and add the headers (dj_http__header) of one attempt. */
	int (*prepare)(void *owner, dj_http_req *r, dj_buf *url, dj_err *err);
	/* After an attempt that got an HTTP answer: true to retry it beyond the engine's own
	 * rules. May rewrite r->status (S3 hides errors in a 200). NULL = no extra rules. */
	bool (*retry)(void *owner, dj_http_req *r);
	/* A final non-2xx answer -> code and one-line message naming store, action and key. */
	int (*http_error)(void *owner, const dj_http_req *r, const char *what, const char *key,
	                  dj_err *err);
	/* tuning (dj_http__init fills it from dj_store_opts) */
	unsigned parallel;
	int retries;
	unsigned retry_base_ms;
	long connect_timeout_ms, stall_timeout_s;
	/* state */
	void *multi; /* CURLM *: its connection pool is reused across calls */
	uint32_t jitter;
} dj_http;

struct dj_http_req {
	/* request */
	const char *method;
	dj_buf key;        /* full object key (location applied), raw; "" = the bucket/container */
	const char *label; /* what messages name: the key as given, or a prefix (borrowed) */
	dj_http_param query[DJ_HTTP_MAX_QUERY]; /* raw; values must outlive the request */
	size_t nquery;
	char range[64];        /* "bytes=a-b" or "" */
	char if_match[130];    /* ETag or "" */
	char if_none_match[8]; /* "*" or "" */
	char content_md5[32];  /* base64 or "" */
	const char *content_type;
	const char *copy_source; /* s3: x-amz-copy-source (signed), or NULL */
	const uint8_t *body; /* request body (memory), or loaded from body_fd when it starts */
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
	char code[64];      /* the value of the engine's code_header, "" when absent */
	char body_hash[65]; /* the backend's cache of a digest of the body (s3: SHA-256 hex) */
	/* engine state */
	const char *code_header;
	void *easy;    /* CURL * */
	void *headers; /* struct curl_slist *: this attempt's headers */
	uint8_t *owned_body;
	size_t sent, data_base;
	int attempts, curl_code;
	int64_t not_before_ms;
	char curl_msg[256];
	int local_code; /* a failure found on our side (overflow, memory): not retried */
	bool in_flight, finished;
};

/* ---- the engine (http.c) ---- */

/* Tuning from `o` (zeros = defaults: 8 in flight, 5 retries from 200 ms, 10 s to connect, 60 s
 * stalled), and the curl multi. The callbacks and names are the caller's to set. */
int dj_http__init(dj_http *h, const dj_store_opts *o, dj_err *err);
void dj_http__dispose(dj_http *h);

/* Set up r for `method` on `key` ("" = the bucket or container): location applied. */
int dj_http__req_init(dj_http *h, dj_http_req *r, const char *method, const char *key, dj_err *err);
void dj_http__req_dispose(dj_http_req *r);

/* From prepare: add one header line ("Name: value") to this attempt. DJ_ENOMEM. */
int dj_http__header(dj_http_req *r, const char *fmt, ...) DJ_PRINTF(2, 3);

/* From prepare: `path_prefix` + "/" + key ("/" when both are empty) into `path`, raw, and the URL
 * base + encoded path + "?" + encoded, sorted query into `url`. */
int dj_http__url(const dj_http_req *r, const char *base, const char *path_prefix, dj_buf *path,
                 dj_buf *url, dj_err *err);

/*
 * Run n requests. Returns 0 when every request got a final HTTP answer (any status: callers
 * judge it); with stop_on_error a non-2xx answer stops the rest. DJ_ETRANSIENT when retries ran
 * out; DJ_ERROR for other transport failures. `what` and the labels name the operation in err.
 */
int dj_http__run(dj_http *h, dj_http_req **reqs, size_t n, bool stop_on_error, const char *what,
                 dj_err *err);

static inline bool dj_http__ok(const dj_http_req *r)
{
	return r->status >= 200 && r->status < 300;
}

/* ---- shared transfers (http_io.c) ---- */

/* Run one request; 0 when it got an HTTP answer (status left for the caller). */
int dj_http__run1(dj_http *h, dj_http_req *r, const char *what, dj_err *err);

/* Run a batch that must all succeed; the first failed answer becomes the error (http_error). */
int dj_http__run_all(dj_http *h, dj_http_req **reqs, size_t n, const char *what, dj_err *err);

/* n initialised requests for `key`, or one for each of keys[0..n) (pointers into one block,
 * freed with dj_http__req_array_free); NULL with err set. */
dj_http_req **dj_http__req_array(dj_http *h, size_t n, const char *method, const char *key,
                                 dj_err *err);
dj_http_req **dj_http__req_each(dj_http *h, size_t n, const char *method, const char *const *keys,
                                dj_err *err);
void dj_http__req_array_free(dj_http_req **v, size_t n);

/* Where an upload's bytes come from: memory, or a file read part by part. */
typedef struct dj_http_body {
	const uint8_t *mem;
	int fd;
	uint64_t size;
} dj_http_body;

/* Make r's body the bytes [off, off+len) of src. */
void dj_http__set_body(dj_http_req *r, const dj_http_body *src, uint64_t off, size_t len);

/* Open the regular file `path` as a body source (caller closes src->fd). DJ_ENOTFOUND,
 * DJ_EUSAGE for a non-regular file, DJ_ERROR. */
int dj_http__body_file(dj_http *h, const char *path, dj_http_body *src, dj_err *err);

/*
 * Whole-object and ranged reads (dj_store_get / dj_store_get_range semantics): a plain GET
 * first, so small and empty objects come back in one round trip; above `chunk` bytes the
 * transfer stops at the headers and the object is fetched as parallel ranged GETs of `chunk`
 * bytes pinned to the first answer's ETag (If-Match: DJ_ECONFLICT if it changes).
 */
int dj_http__get(dj_http *h, const char *key, size_t chunk, dj_buf *out, dj_err *err);
int dj_http__get_range(dj_http *h, const char *key, uint64_t off, size_t n, size_t chunk,
                       dj_buf *out, dj_err *err);

/* ---- formats (http_io.c) ---- */

/* "Sat, 21 Nov 2026 21:07:14 GMT" (RFC 7231 IMF-fixdate) -> seconds; -1 when malformed. */
int64_t dj_http__parse_date(const char *s);
/* "2026-11-21T21:07:14.000Z" -> seconds since the epoch; -1 when malformed. */
int64_t dj_http__parse_iso8601(const char *s);

/*
 * The little XML the services speak (small, flat, entity-escaped; no DTDs, no CDATA).
 * xml_find: the next element <tag> (or <tag attr...>, or <tag/>) in [p, end); returns its
 * content and sets *content_end to the start of its closing tag, *after past the element; NULL
 * when there is none or it is not closed. xml_unescape: append p[0..n) with the five named
 * entities and &#N; / &#xH; decoded (DJ_EFORMAT for a bad reference). xml_escape: append s
 * escaped for XML text. xml_text: the decoded text of the first <tag> in [p, end) into out
 * (reset first); DJ_ENOTFOUND if none.
 */
const char *dj_xml__find(const char *p, const char *end, const char *tag, const char **content_end,
                         const char **after);
int dj_xml__unescape(dj_buf *out, const char *p, size_t n);
int dj_xml__escape(dj_buf *out, const char *s);
int dj_xml__text(dj_buf *out, const char *p, const char *end, const char *tag);

#endif
