#include "codecs/codec.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HASH_VIA (&dj_codecs[DJ_CODEC_HASH])

/* Indexed by dj_codec_id. §1.1 table; store_via is the chaining of resolve_dtype (<hash@s>). */
const dj_codec_info dj_codecs[] = {
	{"blob", DJ_CODEC_BLOB, true, false, DJ_COLUMN_BYTES, DJ_COLUMN_JSON, DJ_ADDR_NONE,
	 DJ_ADDR_HASH, HASH_VIA},
	{"attach", DJ_CODEC_ATTACH, true, false, DJ_COLUMN_BYTES, DJ_COLUMN_JSON, DJ_ADDR_NONE,
	 DJ_ADDR_HASH, HASH_VIA},
	{"hash", DJ_CODEC_HASH, true, true, DJ_COLUMN_JSON, DJ_COLUMN_JSON, DJ_ADDR_HASH,
	 DJ_ADDR_HASH, NULL},
	{"object", DJ_CODEC_OBJECT, true, true, DJ_COLUMN_JSON, DJ_COLUMN_JSON, DJ_ADDR_SCHEMA,
	 DJ_ADDR_SCHEMA, NULL},
	{"npy", DJ_CODEC_NPY, true, true, DJ_COLUMN_JSON, DJ_COLUMN_JSON, DJ_ADDR_SCHEMA,
	 DJ_ADDR_SCHEMA, NULL},
	{"filepath", DJ_CODEC_FILEPATH, true, true, DJ_COLUMN_JSON, DJ_COLUMN_JSON,
	 DJ_ADDR_REFERENCE, DJ_ADDR_REFERENCE, NULL},
};
const size_t dj_ncodecs = sizeof(dj_codecs) / sizeof(dj_codecs[0]);

const dj_codec_info *dj_codec_find(const char *name, size_t n)
{
	for (size_t i = 0; i < dj_ncodecs; i++)
		if (strlen(dj_codecs[i].name) == n && memcmp(dj_codecs[i].name, name, n) == 0)
			return &dj_codecs[i];
	return NULL;
}

/* ---- parsing ---- */

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n)
{
	while (*n && blank(**s))
		(*s)++, (*n)--;
	while (*n && blank((*s)[*n - 1]))
		(*n)--;
}

static void strip_chars(const char **s, size_t *n, const char *set)
{
	while (*n && strchr(set, **s))
		(*s)++, (*n)--;
	while (*n && strchr(set, (*s)[*n - 1]))
		(*n)--;
}

static int parse_codec(const char *s, size_t n, const char *dflt, dj_coltype *out, dj_err *err)
{
	const char *at, *name = s, *store = NULL;
	size_t nname, nstore = 0;
	/* parse_type_spec: spec.strip("<>").strip(), split at the first '@', strip both parts */
	strip_chars(&name, &n, "<>");
	trim(&name, &n);
	at = memchr(name, '@', n);
	nname = at ? (size_t)(at - name) : n;
	if (at) {
		store = at + 1;
		nstore = n - nname - 1;
		trim(&store, &nstore);
	}
	trim(&name, &nname);
	out->codec = dj_codec_find(name, nname);
	if (!out->codec)
		return dj_err_set(err, DJ_ENOTSUP, "unknown codec <%.*s>", (int)nname, name);
	if (!at && out->codec->store_required)
		return dj_err_set(err, DJ_EFORMAT, "<%s> requires @ (store only): '%.*s'",
				  out->codec->name, (int)n, name);
	out->has_store = at != NULL;
	if (at && nstore == 0) {
		/* DESIGN.md: `<codec@>` means stores.default, recorded by its real name */
		if (!dflt || !*dflt)
			return dj_err_set(err, DJ_EUSAGE, "<%s@> needs stores.default, which is not set",
					  out->codec->name);
		store = dflt;
		nstore = strlen(dflt);
	}
	if (nstore >= sizeof(out->store))
		return dj_err_set(err, DJ_EUSAGE, "store name too long in <%.*s>", (int)n, name);
	memcpy(out->store, store ? store : "", nstore);
	out->store[nstore] = '\0';
	return 0;
}

static bool eq_ci(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Skip blanks, then read one or more digits into *v (bounded). */
static bool number(const char **p, const char *end, int *v)
{
	long x = 0;
	const char *q = *p;
	if (q == end || *q < '0' || *q > '9')
		return false;
	for (; q < end && *q >= '0' && *q <= '9'; q++)
		x = x < 100000000 ? x * 10 + (*q - '0') : x;
	*v = (int)x;
	*p = q;
	return true;
}

static const char *skip_blank(const char *p, const char *end)
{
	while (p < end && blank(*p))
		p++;
	return p;
}

/* "word\s*\(" at the start (case-insensitive); returns the position after '(' or NULL. */
static const char *open_paren(const char *s, size_t n, const char *word)
{
	size_t w = strlen(word);
	const char *p;
	if (n < w || strncasecmp(s, word, w) != 0)
		return NULL;
	p = skip_blank(s + w, s + n);
	return p < s + n && *p == '(' ? p + 1 : NULL;
}

/* word\s*\(\d+\)$ and decimal\s*\(\d+\s*,\s*\d+\)$ */
static bool param_type(const char *s, size_t n, const char *word, int nparams, int *params)
{
	const char *end = s + n, *p = open_paren(s, n, word);
	if (!p || !number(&p, end, &params[0]))
		return false;
	if (nparams == 2) {
		p = skip_blank(p, end);
		if (p == end || *p++ != ',')
			return false;
		p = skip_blank(p, end);
		if (!number(&p, end, &params[1]))
			return false;
	}
	return p + 1 == end && *p == ')';
}

static const struct {
	const char *word;
	dj_core_type t;
} plain_core[] = {
	{"float32", DJ_CORE_FLOAT32}, {"float64", DJ_CORE_FLOAT64}, {"int64", DJ_CORE_INT64},
	{"int32", DJ_CORE_INT32},     {"int16", DJ_CORE_INT16},     {"int8", DJ_CORE_INT8},
	{"bool", DJ_CORE_BOOL},       {"uuid", DJ_CORE_UUID},       {"json", DJ_CORE_JSON},
	{"jsonb", DJ_CORE_JSON},      {"bytes", DJ_CORE_BYTES},     {"date", DJ_CORE_DATE},
	{"datetime", DJ_CORE_DATETIME},
	{"uint8", DJ_CORE_LEGACY_UINT8},   {"uint16", DJ_CORE_LEGACY_UINT16},
	{"uint32", DJ_CORE_LEGACY_UINT32}, {"uint64", DJ_CORE_LEGACY_UINT64},
	{"int24", DJ_CORE_LEGACY_INT24},   {"uint24", DJ_CORE_LEGACY_UINT24},
};

static bool parse_core(const char *s, size_t n, dj_coltype *out)
{
	const char *p;
	for (size_t i = 0; i < sizeof(plain_core) / sizeof(plain_core[0]); i++)
		if (eq_ci(s, n, plain_core[i].word)) {
			out->core = plain_core[i].t;
			return true;
		}
	if (param_type(s, n, "datetime", 1, out->params))
		out->core = DJ_CORE_DATETIME;
	else if (param_type(s, n, "char", 1, out->params))
		out->core = DJ_CORE_CHAR;
	else if (param_type(s, n, "varchar", 1, out->params))
		out->core = DJ_CORE_VARCHAR;
	else if (param_type(s, n, "decimal", 2, out->params))
		out->core = DJ_CORE_DECIMAL;
	/* enum\s*\(.+\)$: at least one character (no newline) between the parentheses */
	else if ((p = open_paren(s, n, "enum")) && s + n - p >= 2 && s[n - 1] == ')' &&
		 !memchr(p, '\n', (size_t)(s + n - p)))
		out->core = DJ_CORE_ENUM;
	else
		return false;
	return true;
}

int dj_coltype_parse(const char *text, size_t n, const char *default_store, dj_coltype *out,
		     dj_err *err)
{
	memset(out, 0, sizeof(*out));
	out->params[0] = out->params[1] = -1;
	trim(&text, &n);
	/* declare.py's CODEC pattern: <.+>$ */
	if (n >= 3 && text[0] == '<' && text[n - 1] == '>')
		return parse_codec(text, n, default_store, out, err);
	if (n && parse_core(text, n, out))
		return 0;
	return dj_err_set(err, DJ_ENOTSUP, "not a core type or codec: '%.*s'", (int)(n > 200 ? 200 : n),
			  text);
}

dj_column_kind dj_coltype_column(const dj_coltype *t)
{
	if (!t->codec)
		return t->core == DJ_CORE_BYTES  ? DJ_COLUMN_BYTES
		       : t->core == DJ_CORE_JSON ? DJ_COLUMN_JSON
						 : DJ_COLUMN_VALUE;
	return t->has_store ? t->codec->column_store : t->codec->column_plain;
}

dj_addressing dj_coltype_addressing(const dj_coltype *t)
{
	if (!t->codec)
		return DJ_ADDR_NONE;
	return t->has_store ? t->codec->addr_store : t->codec->addr_plain;
}

const dj_codec_info *dj_coltype_storer(const dj_coltype *t)
{
	if (!t->codec || !t->has_store)
		return NULL;
	return t->codec->store_via ? t->codec->store_via : t->codec;
}

bool dj_comment_split(const char *comment, const char **type, size_t *type_len,
		      const char **user, size_t *user_len)
{
	const char *c = comment ? comment : "", *close;
	*type = c;
	*type_len = 0;
	*user = c;
	*user_len = strlen(c);
	if (c[0] != ':' || !(close = strchr(c + 1, ':')) || close == c + 1)
		return false;
	*type = c + 1;
	*type_len = (size_t)(close - c - 1);
	*user = close + 1;
	*user_len = strcspn(close + 1, "\n");
	return true;
}
