/*
 * Table names (database.md §1.2, §1.3): tiers from the name grammar, class names both ways and
 * jobs-table names, as user_tables.py / utils.py compute them.
 */
#include "db/schema.h"

#include <string.h>

const char *dj_tier_name(dj_tier t)
{
	switch (t) {
	case DJ_TIER_MANUAL:
		return "manual";
	case DJ_TIER_LOOKUP:
		return "lookup";
	case DJ_TIER_IMPORTED:
		return "imported";
	case DJ_TIER_COMPUTED:
		return "computed";
	case DJ_TIER_PART:
		return "part";
	case DJ_TIER_JOBS:
		return "jobs";
	case DJ_TIER_HIDDEN:
		return "hidden";
	case DJ_TIER_OTHER:
		return "other";
	}
	return "other";
}

static bool lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* B = [a-z][a-z0-9]*(_[a-z][a-z0-9]*)* over s[0..n) */
static bool base_name(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (!lower(s[i++]))
			return false;
		while (i < n && (lower(s[i]) || digit(s[i])))
			i++;
		if (i < n && (s[i++] != '_' || i == n))
			return false;
	}
	return n > 0;
}

dj_tier dj_tier_of(const char *t, size_t *master_len)
{
	static const struct {
		const char *prefix;
		dj_tier tier;
	} prefixes[] = {{"__", DJ_TIER_COMPUTED},
	                {"_", DJ_TIER_IMPORTED},
	                {"#", DJ_TIER_LOOKUP},
	                {"", DJ_TIER_MANUAL}};
	size_t n = strlen(t);
	if (master_len)
		*master_len = 0;
	if (t[0] == '~')
		return t[1] == '~' ? DJ_TIER_JOBS : DJ_TIER_HIDDEN;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t p = strlen(prefixes[i].prefix);
		const char *rest = t + p, *sep;
		if (strncmp(t, prefixes[i].prefix, p) || !lower(*rest))
			continue;
		if (base_name(rest, n - p))
			return prefixes[i].tier;
		/* a part: <master>__<B>, where B has single underscores only */
		sep = strstr(rest, "__");
		if (sep && base_name(rest, (size_t)(sep - rest)) &&
		    base_name(sep + 2, strlen(sep + 2))) {
			if (master_len)
				*master_len = (size_t)(sep - t);
			return DJ_TIER_PART;
		}
		return DJ_TIER_OTHER;
	}
	return DJ_TIER_OTHER;
}

static bool alpha(char c)
{
	return lower(c) || (c >= 'A' && c <= 'Z');
}

static bool word(char c)
{
	return alpha(c) || digit(c) || c == '_';
}

int dj_name_to_camel(dj_buf *out, const char *t, dj_err *err)
{
	int rc = 0;
	/* re.sub(r"(^|[_\W])+[a-zA-Z]", upper of the letter, s) */
	for (size_t i = 0; t[i] && rc == 0;) {
		size_t j = i;
		while (t[j] && (t[j] == '_' || !word(t[j])))
			j++;
		if ((j > i || i == 0) && alpha(t[j])) {
			char c = t[j];
			rc = dj_buf_addc(out, lower(c) ? (char)(c - 'a' + 'A') : c);
			i = j + 1;
		} else if (j > i) {
			rc = dj_buf_add(out, t + i, j - i);
			i = j;
		} else {
			rc = dj_buf_addc(out, t[i++]);
		}
	}
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

int dj_name_from_camel(dj_buf *out, const char *cls, dj_err *err)
{
	size_t start = out->len;
	bool first = true;
	int rc = 0;
	for (const char *p = cls; *p && rc == 0; p++) {
		if (*p == '_')
			continue; /* the library drops underscores (with a warning) */
		if (first ? !(*p >= 'A' && *p <= 'Z') : !(alpha(*p) || digit(*p))) {
			dj_buf_setlen(out, start);
			return dj_err_set(err, DJ_EFORMAT,
			                  "'%s' is not a class name (^[A-Z][A-Za-z0-9]*$)", cls);
		}
		if (*p >= 'A' && *p <= 'Z') {
			if (!first)
				rc = dj_buf_addc(out, '_');
			if (rc == 0)
				rc = dj_buf_addc(out, (char)(*p - 'A' + 'a'));
		} else {
			rc = dj_buf_addc(out, *p);
		}
		first = false;
	}
	if (rc == 0 && first)
		return dj_err_set(err, DJ_EFORMAT, "'%s' is not a class name (^[A-Z][A-Za-z0-9]*$)",
		                  cls);
	return rc < 0 ? dj_err_set(err, rc, "out of memory") : 0;
}

int dj_name_jobs_table(dj_buf *out, const char *table, dj_err *err)
{
	while (*table == '_')
		table++;
	if (dj_buf_adds(out, "~~") < 0 || dj_buf_adds(out, table) < 0)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}
