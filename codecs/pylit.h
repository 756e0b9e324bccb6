/*
 * Python literals (str, int, bool, None, tuple, list, dict) as ast.literal_eval reads them, and
 * repr() to print them back exactly: the .npy header is such a literal (formats.md §6.9).
 * A parsed tree is owned by the caller (dj_pylit_free). Pure functions, any thread.
 */
#ifndef DJ_CODECS_PYLIT_H
#define DJ_CODECS_PYLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef enum { DJ_PYLIT_STR, DJ_PYLIT_INT, DJ_PYLIT_BOOL, DJ_PYLIT_NONE, DJ_PYLIT_TUPLE, DJ_PYLIT_LIST, DJ_PYLIT_DICT } dj_pylit_kind;

typedef struct dj_pylit {
	dj_pylit_kind kind;
	bool neg;        /* INT */
	uint64_t u;      /* INT magnitude, BOOL 0/1 */
	char *s;         /* STR: UTF-8, NUL-terminated */
	size_t slen;
	struct dj_pylit **items; /* TUPLE/LIST: n items; DICT: n pairs as 2n entries */
	size_t n;
} dj_pylit;

/* Parse p[0..n) as exactly one literal (whitespace and comments around it allowed). Errors name
 * `what` and the offset: DJ_EFORMAT, DJ_ENOMEM. *out is NULL on failure. */
int dj_pylit_parse(const char *p, size_t n, const char *what, dj_pylit **out, dj_err *err);
void dj_pylit_free(dj_pylit *l);

/* Append repr(l) / repr(str) as Python prints it. 0, or -1 when out of memory or s is not
 * UTF-8. */
int dj_pylit_repr(dj_buf *b, const dj_pylit *l);
int dj_pylit_repr_str(dj_buf *b, const char *s, size_t n);

#endif
