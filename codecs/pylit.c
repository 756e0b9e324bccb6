/* Python literals as numpy's .npy header holds them (codecs/pylit.h). */
#include "codecs/pylit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/*
 * The .npy header is a Python literal that numpy reads with ast.literal_eval (§6.9). This file
 * carries a small parser for the literals that can appear there (str, int, bool, None, tuple,
 * list, dict) and a printer that reproduces Python's repr(), so that a structured descr is
 * re-emitted exactly as numpy would.
 */


#define LIT_MAX_DEPTH 32

void dj_pylit_free(dj_pylit *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < (l->kind == DJ_PYLIT_DICT ? 2 * l->n : l->n); i++)
		dj_pylit_free(l->items[i]);
	free(l->items);
	free(l->s);
	free(l);
}

typedef struct lexer {
	const char *start, *p, *end;
	int depth;
	const char *what;
	dj_err *err;
} lexer;

static dj_pylit *lex_fail(lexer *lx, int code, const char *what)
{
	dj_err_set(lx->err, code, "%s: %s at offset %zu", lx->what, what, (size_t)(lx->p - lx->start));
	return NULL;
}

static void skip_ws(lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')
			lx->p++;
		else if (c == '\\' && lx->end - lx->p >= 2 && lx->p[1] == '\n')
			lx->p += 2; /* explicit line joining */
		else if (c == '#')
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		else
			break;
	}
}

static dj_pylit *lit_new(lexer *lx, dj_pylit_kind k)
{
	dj_pylit *l = calloc(1, sizeof(*l));
	if (!l)
		lex_fail(lx, DJ_ENOMEM, "out of memory");
	else
		l->kind = k;
	return l;
}

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F'                 ? c - 'A' + 10
						      : -1;
}

/* Escape after a backslash in a non-raw literal: returns 0, or -1 for an invalid escape. */
static int lex_escape(lexer *lx, dj_buf *b)
{
	static const char simple_in[] = "\\'\"abfnrtv", simple_out[] = "\\'\"\a\b\f\n\r\t\v";
	char c = *lx->p++;
	const char *k = strchr(simple_in, c);
	uint32_t v = 0;
	int digits = 0;
	if (c && k)
		return dj_buf_addc(b, simple_out[k - simple_in]);
	if (c == '\n')
		return 0;
	if (c >= '0' && c <= '7') {
		v = (uint32_t)(c - '0');
		for (int i = 0; i < 2 && lx->p < lx->end && *lx->p >= '0' && *lx->p <= '7'; i++)
			v = v * 8 + (uint32_t)(*lx->p++ - '0');
		return dj_utf8_add(b, v);
	}
	digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
	if (!digits)
		return dj_buf_addc(b, '\\') || dj_buf_addc(b, c) ? -1 : 0; /* kept, as Python does */
	for (int i = 0; i < digits; i++) {
		int h = lx->p < lx->end ? hexv(*lx->p) : -1;
		if (h < 0)
			return -1;
		v = v * 16 + (uint32_t)h;
		lx->p++;
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return -1;
	return dj_utf8_add(b, v);
}

static dj_pylit *lex_string(lexer *lx)
{
	dj_buf b = DJ_BUF_INIT;
	char q;
	dj_pylit *l;
	if (*lx->p == 'u' || *lx->p == 'U')
		lx->p++;
	q = *lx->p++;
	for (;;) {
		if (lx->p >= lx->end || *lx->p == '\n') {
			dj_buf_dispose(&b);
			return lex_fail(lx, DJ_EFORMAT, "unterminated string");
		}
		char c = *lx->p++;
		if (c == q)
			break;
		if ((c == '\\' ? (lx->p < lx->end ? lex_escape(lx, &b) : -1) : dj_buf_addc(&b, c)) < 0) {
			dj_buf_dispose(&b);
			return lex_fail(lx, DJ_EFORMAT, "bad string escape");
		}
	}
	if (!(l = lit_new(lx, DJ_PYLIT_STR))) {
		dj_buf_dispose(&b);
		return NULL;
	}
	l->s = dj_buf_take(&b, &l->slen);
	if (!l->s) {
		dj_pylit_free(l);
		return lex_fail(lx, DJ_ENOMEM, "out of memory");
	}
	return l;
}

static dj_pylit *lex_int(lexer *lx, bool neg)
{
	uint64_t v = 0;
	bool any = false;
	dj_pylit *l;
	while (lx->p < lx->end && ((*lx->p >= '0' && *lx->p <= '9') || (*lx->p == '_' && any))) {
		if (*lx->p != '_') {
			unsigned d = (unsigned)(*lx->p - '0');
			if (v > (UINT64_MAX - d) / 10)
				return lex_fail(lx, DJ_EFORMAT, "integer too large");
			v = v * 10 + d;
			any = true;
		}
		lx->p++;
	}
	if (!any)
		return lex_fail(lx, DJ_EFORMAT, "expected a number");
	if ((l = lit_new(lx, DJ_PYLIT_INT))) {
		l->u = v;
		l->neg = neg && v;
	}
	return l;
}

static bool word_at(lexer *lx, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(lx->end - lx->p) < n || memcmp(lx->p, w, n) != 0)
		return false;
	if (lx->p + n < lx->end) {
		char c = lx->p[n];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_')
			return false;
	}
	lx->p += n;
	return true;
}

static dj_pylit *lex_value(lexer *lx);

static int push_item(dj_pylit *l, dj_pylit *item)
{
	dj_pylit **n = realloc(l->items, (l->n + 1) * sizeof(*n));
	if (!n)
		return -1;
	l->items = n;
	l->items[l->n++] = item;
	return 0;
}

/* Comma-separated items up to `close`; a tuple of one item needs its trailing comma. */
static dj_pylit *lex_seq(lexer *lx, dj_pylit_kind kind, char close)
{
	dj_pylit *l = lit_new(lx, kind), *item;
	bool comma = false;
	if (!l)
		return NULL;
	for (;;) {
		skip_ws(lx);
		if (lx->p < lx->end && *lx->p == close) {
			lx->p++;
			break;
		}
		if (l->n && !comma)
			goto bad;
		if (!(item = lex_value(lx)))
			goto fail;
		if (push_item(l, item) < 0) {
			dj_pylit_free(item);
			lex_fail(lx, DJ_ENOMEM, "out of memory");
			goto fail;
		}
		skip_ws(lx);
		comma = lx->p < lx->end && *lx->p == ',';
		if (comma)
			lx->p++;
	}
	if (kind == DJ_PYLIT_TUPLE && l->n == 1 && !comma) {
		/* "(x)" is x itself, not a tuple */
		item = l->items[0];
		l->n = 0;
		dj_pylit_free(l);
		return item;
	}
	return l;
bad:
	lex_fail(lx, DJ_EFORMAT, "expected ',' between items");
fail:
	dj_pylit_free(l);
	return NULL;
}

static dj_pylit *lex_dict(lexer *lx)
{
	dj_pylit *l = lit_new(lx, DJ_PYLIT_DICT), *k = NULL, *v = NULL;
	if (!l)
		return NULL;
	for (;;) {
		skip_ws(lx);
		if (lx->p < lx->end && *lx->p == '}') {
			lx->p++;
			return l;
		}
		if (!(k = lex_value(lx)))
			goto fail;
		skip_ws(lx);
		if (lx->p >= lx->end || *lx->p++ != ':') {
			lex_fail(lx, DJ_EFORMAT, "expected ':' in dict");
			goto fail;
		}
		if (!(v = lex_value(lx)))
			goto fail;
		dj_pylit **n = realloc(l->items, (2 * l->n + 2) * sizeof(*n));
		if (!n) {
			lex_fail(lx, DJ_ENOMEM, "out of memory");
			goto fail;
		}
		l->items = n;
		l->items[2 * l->n] = k;
		l->items[2 * l->n + 1] = v;
		l->n++;
		k = v = NULL;
		skip_ws(lx);
		if (lx->p < lx->end && *lx->p == ',')
			lx->p++;
		else if (lx->p >= lx->end || *lx->p != '}') {
			lex_fail(lx, DJ_EFORMAT, "expected ',' or '}' in dict");
			goto fail;
		}
	}
fail:
	dj_pylit_free(k);
	dj_pylit_free(v);
	dj_pylit_free(l);
	return NULL;
}

static dj_pylit *lex_value(lexer *lx)
{
	dj_pylit *l = NULL;
	char c;
	skip_ws(lx);
	if (lx->p >= lx->end)
		return lex_fail(lx, DJ_EFORMAT, "unexpected end");
	if (++lx->depth > LIT_MAX_DEPTH)
		return lex_fail(lx, DJ_EFORMAT, "nested too deeply");
	c = *lx->p;
	if (c == '\'' || c == '"' ||
	    ((c == 'u' || c == 'U') && lx->end - lx->p > 1 && (lx->p[1] == '\'' || lx->p[1] == '"')))
		l = lex_string(lx);
	else if (c >= '0' && c <= '9')
		l = lex_int(lx, false);
	else if (c == '-' || c == '+') {
		lx->p++;
		skip_ws(lx);
		l = lex_int(lx, c == '-');
	} else if (c == '(' || c == '[' || c == '{') {
		lx->p++;
		l = c == '(' ? lex_seq(lx, DJ_PYLIT_TUPLE, ')') : c == '[' ? lex_seq(lx, DJ_PYLIT_LIST, ']')
								: lex_dict(lx);
	} else if (word_at(lx, "True")) {
		if ((l = lit_new(lx, DJ_PYLIT_BOOL)))
			l->u = 1;
	} else if (word_at(lx, "False")) {
		l = lit_new(lx, DJ_PYLIT_BOOL);
	} else if (word_at(lx, "None"))
		l = lit_new(lx, DJ_PYLIT_NONE);
	else
		l = lex_fail(lx, DJ_EFORMAT, "unexpected character");
	lx->depth--;
	return l;
}

/* ---- repr() ---- */

/* str.isprintable() for non-ASCII code points, approximated by the ranges that matter in
 * field names: C1 controls, NBSP, soft hyphen, Unicode spaces/format characters, surrogates,
 * private use and non-characters are escaped as Python does. */
static bool printable(uint32_t c)
{
	return !(c <= 0xA0 || c == 0xAD || (c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD ||
		 c == 0x70F || c == 0x180E || c == 0x1680 || (c >= 0x2000 && c <= 0x200F) ||
		 (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) || c == 0x3000 ||
		 (c >= 0xD800 && c <= 0xF8FF) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) ||
		 c >= 0xFFFE);
}

int dj_pylit_repr_str(dj_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
	int rc = dj_buf_addc(b, q);
	for (size_t i = 0, k; i < n && rc == 0; i += k) {
		uint32_t c;
		if (!(k = dj_utf8_next(p + i, n - i, &c)))
			return -1;
		if (c == (uint32_t)q || c == '\\')
			rc = dj_buf_addc(b, '\\') || dj_buf_addc(b, (char)c);
		else if (c == '\t' || c == '\n' || c == '\r')
			rc = dj_buf_adds(b, c == '\t' ? "\\t" : c == '\n' ? "\\n" : "\\r");
		else if (c < 0x20 || c == 0x7F)
			rc = dj_buf_addf(b, "\\x%02x", c);
		else if (c < 0x7F || printable(c))
			rc = dj_buf_add(b, s + i, k);
		else
			rc = dj_buf_addf(b, c <= 0xFF ? "\\x%02" PRIx32 : c <= 0xFFFF ? "\\u%04" PRIx32
										: "\\U%08" PRIx32,
					 c);
	}
	return rc || dj_buf_addc(b, q) ? -1 : 0;
}

int dj_pylit_repr(dj_buf *b, const dj_pylit *l)
{
	int rc = 0;
	switch (l->kind) {
	case DJ_PYLIT_STR:
		return dj_pylit_repr_str(b, l->s, l->slen);
	case DJ_PYLIT_INT:
		return dj_buf_addf(b, "%s%" PRIu64, l->neg ? "-" : "", l->u);
	case DJ_PYLIT_BOOL:
		return dj_buf_adds(b, l->u ? "True" : "False");
	case DJ_PYLIT_NONE:
		return dj_buf_adds(b, "None");
	case DJ_PYLIT_TUPLE:
	case DJ_PYLIT_LIST:
		rc = dj_buf_addc(b, l->kind == DJ_PYLIT_TUPLE ? '(' : '[');
		for (size_t i = 0; i < l->n && rc == 0; i++)
			rc = (i && dj_buf_adds(b, ", ")) || dj_pylit_repr(b, l->items[i]);
		if (rc == 0 && l->kind == DJ_PYLIT_TUPLE && l->n == 1)
			rc = dj_buf_addc(b, ',');
		return rc || dj_buf_addc(b, l->kind == DJ_PYLIT_TUPLE ? ')' : ']') ? -1 : 0;
	case DJ_PYLIT_DICT:
		rc = dj_buf_addc(b, '{');
		for (size_t i = 0; i < l->n && rc == 0; i++)
			rc = (i && dj_buf_adds(b, ", ")) || dj_pylit_repr(b, l->items[2 * i]) ||
			     dj_buf_adds(b, ": ") || dj_pylit_repr(b, l->items[2 * i + 1]);
		return rc || dj_buf_addc(b, '}') ? -1 : 0;
	}
	return -1;
}


int dj_pylit_parse(const char *p, size_t n, const char *what, dj_pylit **out, dj_err *err)
{
	lexer lx = {p, p, p + n, 0, what, err};
	dj_pylit *l = lex_value(&lx);
	*out = NULL;
	if (!l)
		return err && err->code ? err->code : DJ_EFORMAT;
	skip_ws(&lx);
	if (lx.p != lx.end) {
		dj_pylit_free(l);
		return dj_err_set(err, DJ_EFORMAT, "%s: text after the literal at offset %zu", what,
				  (size_t)(lx.p - lx.start));
	}
	*out = l;
	return 0;
}
