/*
 * Content hash (formats.md §4): lowercase base32 of MD5, no padding, exactly 26 characters.
 *
 * MD5 comes from OpenSSL's EVP interface, so hashing runs at `openssl speed md5` speed; this
 * module adds no per-byte work. A dj_md5 is a streaming context for objects hashed in chunks.
 * Contexts are independent: one per thread, never shared.
 */
#ifndef DJ_CODECS_HASH_H
#define DJ_CODECS_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define DJ_HASH_LEN 26     /* characters of a content hash */
#define DJ_MD5_LEN 16      /* bytes of an MD5 digest */
#define DJ_MD5_HEX_LEN 32  /* characters of an MD5 hexdigest */

typedef struct dj_md5 {
	void *ctx; /* EVP_MD_CTX *, NULL when not started */
} dj_md5;

#define DJ_MD5_INIT {NULL}

/* Start a digest. DJ_ENOMEM, or DJ_ENOTSUP if OpenSSL refuses MD5 (FIPS mode). */
int dj_md5_init(dj_md5 *h, dj_err *err);
/* Feed n bytes (n may be 0). DJ_ERROR if the context was not started or OpenSSL fails. */
int dj_md5_update(dj_md5 *h, const void *p, size_t n, dj_err *err);
/* Finish into `digest` and release the context (h returns to INIT, also on failure). */
int dj_md5_final(dj_md5 *h, uint8_t digest[DJ_MD5_LEN], dj_err *err);
/* Release a context that was not finished. Safe on INIT. */
void dj_md5_dispose(dj_md5 *h);

/* Finish `h` and write the 26-character content hash plus NUL into `out`. */
int dj_hash_final(dj_md5 *h, char out[DJ_HASH_LEN + 1], dj_err *err);
/* One-shot content hash of p[0..n). */
int dj_hash_bytes(const void *p, size_t n, char out[DJ_HASH_LEN + 1], dj_err *err);
/* One-shot MD5 hexdigest (lowercase, 32 characters plus NUL), as Python's md5().hexdigest(). */
int dj_md5_hex(const void *p, size_t n, char out[DJ_MD5_HEX_LEN + 1], dj_err *err);

/* Encode a digest: RFC 4648 base32, lower-cased, the six '=' of padding dropped. Never fails. */
void dj_hash_from_digest(const uint8_t digest[DJ_MD5_LEN], char out[DJ_HASH_LEN + 1]);

/* True when `s` is exactly 26 characters of [a-z2-7] (NUL-terminated). */
bool dj_hash_valid(const char *s);

#endif
