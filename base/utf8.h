/*
 * Strict UTF-8, as Python's bytes.decode("utf-8") accepts it: no overlong forms, no surrogates,
 * nothing above U+10FFFF. Pure functions, any thread.
 */
#ifndef DJ_BASE_UTF8_H
#define DJ_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Decode one sequence at s[0..n), n >= 1: its length in bytes, or 0 when invalid. */
size_t dj_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Append code point c (<= U+10FFFF) as UTF-8. 0 or DJ_ENOMEM. */
int dj_utf8_add(dj_buf *b, uint32_t c);

/* Is p[0..n) valid UTF-8? */
bool dj_utf8_valid(const void *p, size_t n);

#endif
