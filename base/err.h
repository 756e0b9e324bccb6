/*
 * Errors: a code for the program, one line for the person (STYLE.md §2).
 *
 * Every fallible function returns int: 0 on success, a negative DJ_E* code on failure, and
 * fills a caller-owned dj_err. The first message set is kept (the root cause); layers above add
 * their noun with dj_err_context(). Messages are one line and never contain credentials.
 */
#ifndef DJ_BASE_ERR_H
#define DJ_BASE_ERR_H

#include <stddef.h>

#if defined(__GNUC__)
#define DJ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DJ_PRINTF(f, a)
#endif

typedef enum dj_code {
	DJ_OK = 0,
	DJ_ERROR = -1,      /* anything without a code of its own */
	DJ_ENOTFOUND = -2,  /* object, file, table, key or store absent */
	DJ_EEXISTS = -3,    /* already there */
	DJ_ENOTSUP = -4,    /* not built in, or a feature the format does not allow */
	DJ_EFORMAT = -5,    /* malformed input: blob, npy, JSON, config */
	DJ_ECONFLICT = -6,  /* somebody else changed it first */
	DJ_ETRANSIENT = -7, /* worth retrying */
	DJ_ESTOP = -8,      /* asked to drain and stop */
	DJ_ENOMEM = -9,     /* allocation failed or a declared size is over its cap */
	DJ_EUSAGE = -10,    /* bad arguments or configuration */
} dj_code;

typedef struct dj_err {
	int code;
	char msg[512];
} dj_err;

#define DJ_ERR_INIT {0, {0}}

/* Set code and message unless a message is already set; returns `code`. NULL `e` is allowed. */
int dj_err_set(dj_err *e, int code, const char *fmt, ...) DJ_PRINTF(3, 4);

/* As dj_err_set with DJ_ERROR (DJ_ENOTFOUND for ENOENT), appending ": strerror(errno)". */
int dj_err_os(dj_err *e, const char *fmt, ...) DJ_PRINTF(2, 3);

/* Prepend "ctx: " to an existing message (no-op when nothing is set). */
void dj_err_context(dj_err *e, const char *fmt, ...) DJ_PRINTF(2, 3);

void dj_err_clear(dj_err *e);

/* A short fixed name for a code, e.g. "format error". */
const char *dj_strerror(int code);

#endif
