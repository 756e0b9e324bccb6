/*
 * dj_buf: a growable byte buffer (after git's strbuf and curl's dynbuf).
 *
 * Invariants: `ptr` is never NULL (a shared empty string until it first grows) and is always
 * followed by a NUL byte, yet holds binary data by `len`. `limit` (0 = none) caps `len`: an
 * append that would pass it fails with DJ_ENOMEM and leaves the buffer as it was, so a corrupt
 * length turns into an error instead of an OOM kill. The owner calls dj_buf_dispose() or
 * dj_buf_take().
 */
#ifndef DJ_BASE_BUF_H
#define DJ_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

extern char dj_buf__empty[1];

typedef struct dj_buf {
	char *ptr;
	size_t len;
	size_t cap;   /* 0 while ptr is the shared empty string */
	size_t limit; /* 0 = no cap */
} dj_buf;

#define DJ_BUF_INIT {dj_buf__empty, 0, 0, 0}

/* A borrowed byte range. */
typedef struct dj_bytes {
	const uint8_t *ptr;
	size_t len;
} dj_bytes;

/* Make room for `extra` more bytes (plus the NUL). 0 or DJ_ENOMEM. */
int dj_buf_grow(dj_buf *b, size_t extra);
int dj_buf_add(dj_buf *b, const void *p, size_t n);
int dj_buf_addc(dj_buf *b, char c);
int dj_buf_adds(dj_buf *b, const char *s);
int dj_buf_addf(dj_buf *b, const char *fmt, ...) DJ_PRINTF(2, 3);
/* Set len (must be <= cap, or 0) and re-terminate. */
void dj_buf_setlen(dj_buf *b, size_t len);
void dj_buf_reset(dj_buf *b);
/* Hand the memory to the caller (malloc'd, NUL-terminated, never NULL unless out of memory);
 * the buffer returns to INIT. `len` may be NULL. */
char *dj_buf_take(dj_buf *b, size_t *len);
void dj_buf_dispose(dj_buf *b);

static inline dj_bytes dj_buf_bytes(const dj_buf *b)
{
	dj_bytes v = {(const uint8_t *)b->ptr, b->len};
	return v;
}

/* Python's s.strip("/"): returns where the stripped text starts in `s` and sets *len to its
 * length (0 when nothing but slashes). Store section prefixes are compared in this form
 * (formats.md §5.1, §7, §8.3). */
const char *dj_strip_slashes(const char *s, size_t *len);

/* Read a whole file into `out` (appended). DJ_ENOTFOUND if absent; err names the path. */
int dj_file_read(const char *path, dj_buf *out, dj_err *err);
/* Write bytes to `path` through `path.tmp.<pid>` and rename. */
int dj_file_write(const char *path, const void *p, size_t n, dj_err *err);

#endif
