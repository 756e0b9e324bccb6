/* gc's fast reading of a reference (jobs/gc.h): `path` and `store` taken straight from the JSON
 * text of a metadata value, without building a jansson tree. The reference scan reads millions
 * of these small objects, and the tree cost twice the time of the rest of the scan. Anything
 * the scanner is not sure to read exactly as jansson does (an escape in a key or in the two
 * values, a repeated key, a malformed top level) is left to the full parser. */
#include <string.h>

#include "jobs/gc.h"

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* A string starting at p (at '"'): its body [*s, *s + *n), *esc when it holds a backslash.
 * Returns the position after the closing quote, NULL when unterminated or holding a control
 * character (invalid JSON: the full parser decides). */
static const char *string_end(const char *p, const char *end, const char **s, size_t *n,
                              bool *esc)
{
	const char *q = ++p;
	*esc = false;
	while (q < end) {
		unsigned char c = (unsigned char)*q;
		if (c == '"') {
			*s = p, *n = (size_t)(q - p);
			return q + 1;
		}
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			*esc = true;
			q += 2;
			continue;
		}
		q++;
	}
	return NULL;
}

/* Skip one value that is not one of the two we want: a string, number, literal, or a nested
 * array/object matched bracket by bracket (strings inside respected). NULL when malformed. */
static const char *value_end(const char *p, const char *end)
{
	const char *s;
	size_t n, depth = 0;
	bool esc;
	if (p >= end)
		return NULL;
	if (*p == '"')
		return string_end(p, end, &s, &n, &esc);
	if (*p != '{' && *p != '[') {
		const char *q = p;
		while (q < end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' ||
		                   *q == 'e' || *q == 'E' || (*q >= 'a' && *q <= 'z')))
			q++;
		if (q == p)
			return NULL;
		if (*p >= 'a' && *p <= 'z') { /* literals only: true false null */
			size_t k = (size_t)(q - p);
			if (!((k == 4 && !memcmp(p, "true", 4)) || (k == 5 && !memcmp(p, "false", 5)) ||
			      (k == 4 && !memcmp(p, "null", 4))))
				return NULL;
		}
		return q;
	}
	for (const char *q = p; q < end;) {
		switch (*q) {
		case '"':
			if (!(q = string_end(q, end, &s, &n, &esc)))
				return NULL;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return q + 1;
			break;
		default:
			break;
		}
		q++;
	}
	return NULL;
}

int dj_gc__json_ref(const char *json, size_t n, dj_gc_ref *out)
{
	const char *p = json, *end = json + n;
	bool have_path = false, have_store = false;
	memset(out, 0, sizeof(*out));
	p = skip_ws(p, end);
	if (p == end)
		return DJ_GC_JSON_UNSURE;
	if (*p != '{')
		return DJ_GC_JSON_NONE; /* a string, number or array names nothing */
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		p++;
	else
		for (;;) {
			const char *k, *v = NULL;
			size_t kn, vn = 0;
			bool kesc, vesc = false;
			if (p >= end || *p != '"' || !(p = string_end(p, end, &k, &kn, &kesc)))
				return DJ_GC_JSON_UNSURE;
			if (kesc)
				return DJ_GC_JSON_UNSURE; /* "pa\u0074h" is "path" */
			p = skip_ws(p, end);
			if (p >= end || *p != ':')
				return DJ_GC_JSON_UNSURE;
			p = skip_ws(p + 1, end);
			bool is_path = kn == 4 && !memcmp(k, "path", 4);
			bool is_store = kn == 5 && !memcmp(k, "store", 5);
			if ((is_path && have_path) || (is_store && have_store))
				return DJ_GC_JSON_UNSURE; /* a repeated key: the last wins in jansson */
			if ((is_path || is_store) && p < end && *p == '"') {
				if (!(p = string_end(p, end, &v, &vn, &vesc)) || vesc)
					return DJ_GC_JSON_UNSURE;
			} else if (!(p = value_end(p, end))) {
				return DJ_GC_JSON_UNSURE;
			}
			if (is_path)
				have_path = true, out->path = v, out->path_len = vn;
			if (is_store)
				have_store = true, out->store = v, out->store_len = vn;
			p = skip_ws(p, end);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end);
				continue;
			}
			if (p < end && *p == '}') {
				p++;
				break;
			}
			return DJ_GC_JSON_UNSURE;
		}
	if (skip_ws(p, end) != end)
		return DJ_GC_JSON_UNSURE;
	return out->path && out->store ? DJ_GC_JSON_REF : DJ_GC_JSON_NONE;
}
