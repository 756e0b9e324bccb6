/*
 * AWS Signature Version 4 (header form) on OpenSSL's HMAC-SHA256 and SHA-256.
 *
 * The signer canonicalises everything itself (curl 7.88's CURLOPT_AWS_SIGV4 neither sorts the
 * query nor writes bare flags as "name=", and verifying servers reject it: recipes.md §3):
 *   method \n URI (each path segment RFC 3986-encoded once, '/' kept) \n query (name=value
 *   pairs, both encoded, sorted by name then value; a bare flag becomes "name=") \n headers
 *   (lower-case names, values trimmed with inner runs of spaces collapsed, sorted, repeated
 *   names joined by ',') \n signed header names \n payload hash.
 * Pure functions; any thread. Nothing here stores or prints a secret.
 */
#ifndef DJ_STORES_SIGV4_H
#define DJ_STORES_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"

#define DJ_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define DJ_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DJ_SHA256_HEX_LEN 64
#define DJ_AMZ_DATE_LEN 16 /* "YYYYMMDDTHHMMSSZ" */

/* A query parameter, raw (not encoded). value NULL = a bare flag such as `uploads`. */
typedef struct dj_sigv4_param {
	const char *name;
	const char *value;
} dj_sigv4_param;

/* A header to sign, as sent (any case, untrimmed). */
typedef struct dj_sigv4_header {
	const char *name;
	const char *value;
} dj_sigv4_header;

typedef struct dj_sigv4_key {
	const char *access_key;
	const char *secret_key;
	const char *region;  /* NULL = "us-east-1" */
	const char *service; /* NULL = "s3" */
} dj_sigv4_key;

typedef struct dj_sigv4_request {
	const char *method;
	const char *path; /* raw absolute path, e.g. "/bucket/a b+c"; NULL or "" = "/" */
	const dj_sigv4_param *query;
	size_t nquery;
	const dj_sigv4_header *headers; /* every header to sign: host and x-amz-date at least */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body, or DJ_SIGV4_UNSIGNED_PAYLOAD */
	const char *amz_date;     /* the x-amz-date value; its first 8 characters date the scope */
} dj_sigv4_request;

/* Every intermediate value, so tests can compare each with the published examples. */
typedef struct dj_sigv4_result {
	dj_buf canonical_request;
	dj_buf string_to_sign;
	dj_buf authorization; /* the Authorization header value */
	char signature[DJ_SHA256_HEX_LEN + 1];
} dj_sigv4_result;

#define DJ_SIGV4_RESULT_INIT                                                                       \
	{                                                                                          \
		DJ_BUF_INIT, DJ_BUF_INIT, DJ_BUF_INIT,                                             \
		{                                                                                  \
			0                                                                          \
		}                                                                                  \
	}

/*
 * Sign `r` with `k`; fills *out (caller-owned, dj_sigv4_result_dispose; cleared first).
 * DJ_EUSAGE for a missing method, key, date or payload hash, or an amz_date that is not 16
 * characters; DJ_ENOMEM; DJ_ERROR if OpenSSL fails.
 */
int dj_sigv4_sign(const dj_sigv4_request *r, const dj_sigv4_key *k, dj_sigv4_result *out,
                  dj_err *err);
void dj_sigv4_result_dispose(dj_sigv4_result *r);

/* The derived key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service), "aws4_request"). */
int dj_sigv4_signing_key(const dj_sigv4_key *k, const char *date8, uint8_t out[32], dj_err *err);

/* Append s[0..n) percent-encoded (RFC 3986 unreserved kept; '/' kept when keep_slash). */
int dj_sigv4_uri_encode(dj_buf *out, const char *s, size_t n, bool keep_slash);

/* Append the canonical query string; it is also a valid URL query, so URLs use it as is. */
int dj_sigv4_canonical_query(dj_buf *out, const dj_sigv4_param *q, size_t n, dj_err *err);

/* Lower-case hex SHA-256 of p[0..n). */
int dj_sha256_hex(const void *p, size_t n, char out[DJ_SHA256_HEX_LEN + 1], dj_err *err);

/* `t` as "YYYYMMDDTHHMMSSZ" (UTC). */
void dj_sigv4_amz_date(time_t t, char out[DJ_AMZ_DATE_LEN + 1]);

#endif
