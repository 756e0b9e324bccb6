/*
 * One attribute from what the catalog says about its column (database.md §2.5), with the rules of
 * heading.py: SQL type normalisation per backend, the `:type:` marker, hidden names, and the
 * default as Attribute.default reports it.
 */
#include "db/schema.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* `s` starts with `word` (any case), followed by nothing (if `bare_ok`) or by \s*\(.+\)$ */
static bool word_paren(const char *s, const char *word, bool bare_ok)
{
	size_t w = strlen(word), n = strlen(s);
	const char *p = s + w;
	if (n < w || strncasecmp(s, word, w))
		return false;
	if (!*p)
		return bare_ok;
	while (blank(*p))
		p++;
	/* '.' matches anything but a newline, and at least one character */
	return *p == '(' && n >= 2 && s[n - 1] == ')' && (size_t)(s + n - 1 - (p + 1)) >= 1 &&
	       !memchr(p, '\n', (size_t)(s + n - p));
}

/* declare.py's ENUM, TEMPORAL and STRING patterns: the types whose defaults are quoted */
static bool string_type(const char *t)
{
	return word_paren(t, "enum", false) || word_paren(t, "char", false) ||
	       word_paren(t, "varchar", false) || word_paren(t, "time", true) ||
	       word_paren(t, "timestamp", true) || word_paren(t, "year", true);
}

/* INTEGER (re.match: a prefix) or FLOAT (whole) as declare.py spells them */
static bool int_or_float(const char *t)
{
	static const char *const ints[] = {"tinyint", "smallint", "mediumint", "bigint", "int"};
	static const char *const floats[] = {"double", "float", "real"};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (!strncasecmp(t, ints[i], strlen(ints[i])))
			return true;
	if (!strcasecmp(t, "serial"))
		return true;
	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		size_t w = strlen(floats[i]);
		const char *p = t + w, *close;
		if (strncasecmp(t, floats[i], w))
			continue;
		while (blank(*p))
			p++;
		if (*p == '(' && (close = strrchr(p, ')')) && close > p + 1)
			p = close + 1;
		else if (p != t + w && *p != 'u' && *p != 'U')
			return false;
		while (blank(*p))
			p++;
		return !*p || !strcasecmp(p, "unsigned");
	}
	return false;
}

int dj_sql_type_mysql(dj_buf *out, const char *type, dj_err *err)
{
	const char *p = NULL;
	int rc;
	if (int_or_float(type)) {
		/* re.sub(r"\(\d+\)", "", type, count=1) */
		for (p = strchr(type, '('); p; p = strchr(p + 1, '(')) {
			const char *q = p + 1;
			while (*q >= '0' && *q <= '9')
				q++;
			if (q > p + 1 && *q == ')')
				break;
		}
	}
	if (p) {
		const char *close = strchr(p, ')');
		rc = dj_buf_add(out, type, (size_t)(p - type));
		if (rc == 0)
			rc = dj_buf_adds(out, close + 1);
	} else {
		rc = dj_buf_adds(out, type);
	}
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

int dj_sql_type_pg(dj_buf *out, const char *data_type, const char *udt_name, const char *char_len,
                   const char *num_precision, const char *num_scale, dj_err *err)
{
	int rc;
	if (!strcmp(data_type, "USER-DEFINED"))
		rc = dj_buf_adds(out, udt_name ? udt_name : "");
	else if (!strcmp(data_type, "character") && char_len)
		rc = dj_buf_addf(out, "char(%s)", char_len);
	else if (!strcmp(data_type, "character varying") && char_len)
		rc = dj_buf_addf(out, "varchar(%s)", char_len);
	else if (!strcmp(data_type, "numeric") && num_precision)
		rc = num_scale && atol(num_scale) > 0
		         ? dj_buf_addf(out, "decimal(%s,%s)", num_precision, num_scale)
		         : dj_buf_addf(out, "decimal(%s)", num_precision);
	else
		rc = dj_buf_adds(out, data_type);
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

static char *dupn(const char *s, size_t n, bool *fail)
{
	char *d = strndup(s ? s : "", s ? n : 0);
	if (!d)
		*fail = true;
	return d;
}

static char *dup(const char *s, bool *fail)
{
	return dupn(s, s ? strlen(s) : 0, fail);
}

/* Attribute.default (heading.py): strings quoted unless CURRENT_TIMESTAMP, nullable = "null" */
static char *library_default(const dj_column_info *ci, bool *fail)
{
	size_t n;
	char *d;
	if (ci->nullable)
		return dup("null", fail);
	if (!ci->dflt)
		return NULL;
	if (!string_type(ci->sql_type) || !strcmp(ci->dflt, "CURRENT_TIMESTAMP"))
		return dup(ci->dflt, fail);
	n = strlen(ci->dflt);
	if (!(d = malloc(n + 3))) {
		*fail = true;
		return NULL;
	}
	d[0] = '"';
	memcpy(d + 1, ci->dflt, n);
	d[n + 1] = '"';
	d[n + 2] = '\0';
	return d;
}

/* The type from the marker (or the SQL spelling, when that is itself a core type). */
static void classify(dj_attr *a, const char *type, size_t n, bool marked, const char *default_store)
{
	dj_err ignore = DJ_ERR_INIT;
	bool codec = n && type[0] == '<';
	if (dj_coltype_parse(type, n, default_store, &a->coltype, &ignore) == 0)
		a->kind = codec ? DJ_ATTR_CODEC : DJ_ATTR_CORE;
	else
		/* heading.py keeps unknown codecs as placeholders that fail on use, and treats any
		 * other unknown marker (legacy ":blob@store:") as the native SQL type */
		a->kind = codec ? DJ_ATTR_UNKNOWN : DJ_ATTR_NATIVE;
	if (!marked && a->kind != DJ_ATTR_CORE)
		a->kind = DJ_ATTR_NATIVE;
}

int dj_attr_init(dj_attr *a, const dj_column_info *ci, const char *default_store, dj_err *err)
{
	const char *type, *user;
	size_t tlen, ulen;
	bool fail = false, marked = dj_comment_split(ci->comment, &type, &tlen, &user, &ulen);
	memset(a, 0, sizeof(*a));
	a->name = dup(ci->name, &fail);
	a->sql_type = dup(ci->sql_type, &fail);
	a->comment = dupn(user, ulen, &fail);
	a->dflt = library_default(ci, &fail);
	a->nullable = ci->nullable;
	a->hidden = ci->name[0] == '_';
	if (marked) {
		a->marker = dupn(type, tlen, &fail);
		classify(a, type, tlen, true, default_store);
	} else {
		classify(a, ci->sql_type, strlen(ci->sql_type), false, default_store);
	}
	/* the DataJoint type is the marker, unless the marker is not a type this build reads */
	a->type = a->kind == DJ_ATTR_NATIVE ? dup(ci->sql_type, &fail) : dupn(type, tlen, &fail);
	if (!marked && a->kind == DJ_ATTR_CORE) {
		free(a->type);
		a->type = dup(ci->sql_type, &fail);
	}
	if (fail) {
		dj_attr_clear(a);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	return 0;
}

int dj_attr_inherit(dj_attr *a, const dj_attr *from, dj_err *err)
{
	char *t = strdup(from->type);
	if (!t)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	free(a->type);
	a->type = t;
	a->kind = from->kind;
	a->coltype = from->coltype;
	a->inherited = true;
	return 0;
}

void dj_attr_clear(dj_attr *a)
{
	free(a->name);
	free(a->type);
	free(a->sql_type);
	free(a->comment);
	free(a->dflt);
	free(a->marker);
	memset(a, 0, sizeof(*a));
}
