#include "codecs/object.h"

#include "base/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* ---- Python json.dumps text ---- */

static int add_u16(dj_buf *out, uint32_t u)
{
	return dj_buf_addf(out, "\\u%04" PRIx32, u);
}

int dj_pyjson_str(dj_buf *out, const char *s, size_t n, dj_err *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	int rc = dj_buf_addc(out, '"');
	while (rc == 0 && i < n) {
		uint32_t c;
		size_t k = dj_utf8_next(p + i, n - i, &c);
		if (!k)
			return dj_err_set(err, DJ_EFORMAT, "json: text is not valid UTF-8 at byte %zu", i);
		i += k;
		/* json.dumps' ESCAPE_ASCII: everything outside ' '..'~' is escaped (DEL too) */
		if (c == '"' || c == '\\')
			rc = dj_buf_addc(out, '\\') || dj_buf_addc(out, (char)c);
		else if (c >= 0x20 && c < 0x7F)
			rc = dj_buf_addc(out, (char)c);
		else if (c == '\n')
			rc = dj_buf_adds(out, "\\n");
		else if (c == '\r')
			rc = dj_buf_adds(out, "\\r");
		else if (c == '\t')
			rc = dj_buf_adds(out, "\\t");
		else if (c == '\b')
			rc = dj_buf_adds(out, "\\b");
		else if (c == '\f')
			rc = dj_buf_adds(out, "\\f");
		else if (c < 0x10000)
			rc = add_u16(out, c);
		else
			rc = add_u16(out, 0xD800 + ((c - 0x10000) >> 10)) ||
			     add_u16(out, 0xDC00 + ((c - 0x10000) & 0x3FF));
	}
	if (rc == 0)
		rc = dj_buf_addc(out, '"');
	return rc ? dj_err_set(err, DJ_ENOMEM, "json: out of memory") : 0;
}

int dj_pyjson_strz(dj_buf *out, const char *s, dj_err *err)
{
	if (!s)
		return dj_buf_adds(out, "null") ? dj_err_set(err, DJ_ENOMEM, "json: out of memory") : 0;
	return dj_pyjson_str(out, s, strlen(s), err);
}

/* ---- timestamps ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Python datetime's range: 0001-01-01 .. 9999-12-31 */
#define MIN_SEC (-62135596800LL)
#define MAX_SEC (253402300799LL)

int dj_isotime_format(int64_t sec, int32_t usec, char out[DJ_ISOTIME_MAX], dj_err *err)
{
	int64_t days, rem, y;
	int m, d;
	if (sec < MIN_SEC || sec > MAX_SEC || usec < 0 || usec > 999999)
		return dj_err_set(err, DJ_EUSAGE, "timestamp out of range: %" PRId64 "s %" PRId32 "us",
				  sec, usec);
	days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	rem = sec - days * 86400;
	civil_from_days(days, &y, &m, &d);
	int n = snprintf(out, DJ_ISOTIME_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d,
			 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	/* isoformat() drops the fraction when microsecond == 0 (§6.6) */
	if (usec)
		n += snprintf(out + n, (size_t)(DJ_ISOTIME_MAX - n), ".%06d", (int)usec);
	snprintf(out + n, (size_t)(DJ_ISOTIME_MAX - n), "+00:00");
	return 0;
}

/* Read exactly `w` digits at *p. */
static bool digits(const char **p, int w, int *v)
{
	int x = 0;
	for (int i = 0; i < w; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*p += w;
	*v = x;
	return true;
}

static bool parse_offset(const char **pp, int *off_min)
{
	const char *p = *pp;
	int sign, hh, mm;
	if (*p == 'Z') {
		*off_min = 0;
		*pp = p + 1;
		return true;
	}
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!digits(&p, 2, &hh))
		return false;
	if (*p == ':')
		p++;
	if (!digits(&p, 2, &mm) || hh > 23 || mm > 59)
		return false;
	*off_min = sign * (hh * 60 + mm);
	*pp = p;
	return true;
}

static bool parse_clock(const char **pp, int *hh, int *mi, int *ss, int32_t *us)
{
	const char *p = *pp;
	int frac = 0, nd = 0;
	*mi = *ss = 0;
	*us = 0;
	/* fromisoformat (3.11): HH[:MM[:SS[.f+]]], fraction digits past six truncated */
	if (!digits(&p, 2, hh))
		return false;
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, mi))
			return false;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, ss))
				return false;
			if (*p == '.' || *p == ',') {
				for (p++; *p >= '0' && *p <= '9'; p++, nd++)
					if (nd < 6)
						frac = frac * 10 + (*p - '0');
				if (nd == 0)
					return false;
				for (int i = nd; i < 6; i++)
					frac *= 10;
			}
		}
	}
	*us = frac;
	*pp = p;
	return *hh <= 23 && *mi <= 59 && *ss <= 59;
}

static bool valid_date(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

int dj_isotime_parse(const char *s, int64_t *sec, int32_t *usec, dj_err *err)
{
	const char *p = s;
	int y, mo, d, hh = 0, mi = 0, ss = 0, off = 0;
	int32_t us = 0;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d) || !valid_date(y, mo, d))
		goto bad;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (!parse_clock(&p, &hh, &mi, &ss, &us))
			goto bad;
		if (*p && !parse_offset(&p, &off))
			goto bad;
	}
	if (*p)
		goto bad;
	*sec = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - (int64_t)off * 60;
	*usec = us;
	return 0;
bad:
	return dj_err_set(err, DJ_EFORMAT, "bad ISO timestamp '%.64s'", s);
}

/* ---- jansson helpers ---- */

static int load_object(json_t **out, const char *json, size_t n, const char *what, dj_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(json, n, 0, &je);
	if (!root)
		return dj_err_set(err, DJ_EFORMAT, "%s: bad JSON at line %d: %s", what, je.line, je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return dj_err_set(err, DJ_EFORMAT, "%s: JSON is not an object", what);
	}
	*out = root;
	return 0;
}

/* Copy key `k` of `o` into *out: string -> strdup, null/absent -> NULL (error if required). */
static int get_str(json_t *o, const char *k, bool required, char **out, const char *what,
		   dj_err *err)
{
	json_t *v = json_object_get(o, k);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return dj_err_set(err, DJ_EFORMAT, "%s: missing \"%s\"", what, k);
		return 0;
	}
	if (!json_is_string(v))
		return dj_err_set(err, DJ_EFORMAT, "%s: \"%s\" is not a string", what, k);
	*out = strdup(json_string_value(v));
	return *out ? 0 : dj_err_set(err, DJ_ENOMEM, "%s: out of memory", what);
}

/* Key `k`: non-negative integer -> *has = true; null/absent -> *has = false. */
static int get_uint(json_t *o, const char *k, bool *has, uint64_t *out, const char *what,
		    dj_err *err)
{
	json_t *v = json_object_get(o, k);
	*has = false;
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return dj_err_set(err, DJ_EFORMAT, "%s: \"%s\" is not a non-negative integer", what, k);
	*out = (uint64_t)json_integer_value(v);
	*has = true;
	return 0;
}

static int nomem(int rc, dj_err *err)
{
	return rc ? dj_err_set(err, DJ_ENOMEM, "json: out of memory") : 0;
}

/* `, "key": ` (or `{"key": ` for the first key) */
static int key(dj_buf *out, const char *k, bool first, dj_err *err)
{
	return nomem(dj_buf_adds(out, first ? "{\"" : ", \"") || dj_buf_adds(out, k) ||
			     dj_buf_adds(out, "\": "),
		     err);
}

/* ---- <object@> metadata ---- */

int dj_object_meta_build(dj_buf *out, const dj_object_meta *m, dj_err *err)
{
	char ts[DJ_ISOTIME_MAX];
	int rc;
	if (!m->path || !*m->path)
		return dj_err_set(err, DJ_EUSAGE, "object metadata: empty path");
	if (!m->store || !*m->store)
		return dj_err_set(err, DJ_EUSAGE, "object metadata for '%s': no store name", m->path);
	if (!m->has_size || !m->has_timestamp)
		return dj_err_set(err, DJ_EUSAGE, "object metadata for '%s': size and timestamp needed",
				  m->path);
	if ((rc = dj_isotime_format(m->ts_sec, m->ts_usec, ts, err)) < 0)
		return rc;
	if ((rc = key(out, "path", true, err)) || (rc = dj_pyjson_strz(out, m->path, err)) ||
	    (rc = key(out, "store", false, err)) || (rc = dj_pyjson_strz(out, m->store, err)) ||
	    (rc = key(out, "size", false, err)) ||
	    (rc = nomem(dj_buf_addf(out, "%" PRIu64, m->size), err)) ||
	    (rc = key(out, "ext", false, err)) || (rc = dj_pyjson_strz(out, m->ext, err)) ||
	    (rc = key(out, "is_dir", false, err)) ||
	    (rc = nomem(dj_buf_adds(out, m->is_dir ? "true" : "false"), err)) ||
	    (rc = key(out, "item_count", false, err)))
		return rc;
	rc = m->has_item_count ? dj_buf_addf(out, "%" PRIu64, m->item_count)
			       : dj_buf_adds(out, "null");
	if ((rc = nomem(rc, err)) || (rc = key(out, "timestamp", false, err)) ||
	    (rc = dj_pyjson_strz(out, ts, err)))
		return rc;
	return nomem(dj_buf_addc(out, '}'), err);
}

static int object_meta_fill(dj_object_meta *m, json_t *o, dj_err *err)
{
	const char *w = "object metadata";
	json_t *v;
	int rc;
	if ((rc = get_str(o, "path", true, &m->path, w, err)) ||
	    (rc = get_str(o, "store", false, &m->store, w, err)) ||
	    (rc = get_str(o, "ext", false, &m->ext, w, err)) ||
	    (rc = get_str(o, "hash", false, &m->hash, w, err)) ||
	    (rc = get_str(o, "url", false, &m->url, w, err)) ||
	    (rc = get_str(o, "mime_type", false, &m->mime_type, w, err)))
		return rc;
	/* ObjectRef.from_json reads data["size"]: the key must exist */
	if (!json_object_get(o, "size"))
		return dj_err_set(err, DJ_EFORMAT, "object metadata for '%s': missing \"size\"", m->path);
	if ((rc = get_uint(o, "size", &m->has_size, &m->size, w, err)) ||
	    (rc = get_uint(o, "item_count", &m->has_item_count, &m->item_count, w, err)))
		return rc;
	v = json_object_get(o, "is_dir");
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return dj_err_set(err, DJ_EFORMAT, "object metadata for '%s': \"is_dir\" is not a bool",
				  m->path);
	m->is_dir = v && json_is_true(v);
	v = json_object_get(o, "timestamp");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return dj_err_set(err, DJ_EFORMAT, "object metadata: \"timestamp\" is not a string");
		if ((rc = dj_isotime_parse(json_string_value(v), &m->ts_sec, &m->ts_usec, err)) < 0)
			return rc;
		m->has_timestamp = true;
	}
	return 0;
}

int dj_object_meta_parse(dj_object_meta *m, const char *json, size_t n, dj_err *err)
{
	json_t *o;
	int rc;
	memset(m, 0, sizeof(*m));
	if ((rc = load_object(&o, json, n, "object metadata", err)) < 0)
		return rc;
	rc = object_meta_fill(m, o, err);
	json_decref(o);
	return rc;
}

void dj_object_meta_dispose(dj_object_meta *m)
{
	free(m->path);
	free(m->store);
	free(m->ext);
	free(m->hash);
	free(m->url);
	free(m->mime_type);
	memset(m, 0, sizeof(*m));
}

/* ---- manifest ---- */

int dj_manifest_build(dj_buf *out, const dj_manifest_file *files, size_t n, int64_t created_sec,
		      int32_t created_usec, dj_err *err)
{
	char ts[DJ_ISOTIME_MAX];
	uint64_t total = 0;
	int rc;
	if ((rc = dj_isotime_format(created_sec, created_usec, ts, err)) < 0)
		return rc;
	/* json.dumps(indent=2): item separator "," + newline, key separator ": ", "[]" when empty */
	if ((rc = nomem(dj_buf_adds(out, n ? "{\n  \"files\": [\n" : "{\n  \"files\": []"), err)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		total += files[i].size;
		if ((rc = nomem(dj_buf_adds(out, "    {\n      \"path\": "), err)) ||
		    (rc = dj_pyjson_strz(out, files[i].path, err)) ||
		    (rc = nomem(dj_buf_addf(out, ",\n      \"size\": %" PRIu64 "\n    }%s\n",
					    files[i].size, i + 1 < n ? "," : ""),
				err)))
			return rc;
	}
	if (n && (rc = nomem(dj_buf_adds(out, "  ]"), err)))
		return rc;
	if ((rc = nomem(dj_buf_addf(out,
				    ",\n  \"total_size\": %" PRIu64 ",\n  \"item_count\": %zu,\n"
				    "  \"created\": ",
				    total, n),
			err)) ||
	    (rc = dj_pyjson_strz(out, ts, err)))
		return rc;
	return nomem(dj_buf_adds(out, "\n}"), err);
}

static int manifest_fill(dj_manifest *m, json_t *o, dj_err *err)
{
	json_t *files = json_object_get(o, "files"), *f;
	size_t i;
	bool has;
	int rc;
	if (!json_is_array(files))
		return dj_err_set(err, DJ_EFORMAT, "manifest: \"files\" is not a list");
	m->nfiles = json_array_size(files);
	m->paths = calloc(m->nfiles ? m->nfiles : 1, sizeof(*m->paths));
	m->sizes = calloc(m->nfiles ? m->nfiles : 1, sizeof(*m->sizes));
	if (!m->paths || !m->sizes)
		return dj_err_set(err, DJ_ENOMEM, "manifest: out of memory");
	json_array_foreach(files, i, f) {
		if (!json_is_object(f))
			return dj_err_set(err, DJ_EFORMAT, "manifest: files[%zu] is not an object", i);
		if ((rc = get_str(f, "path", true, &m->paths[i], "manifest file", err)) ||
		    (rc = get_uint(f, "size", &has, &m->sizes[i], "manifest file", err)))
			return rc;
		if (!has)
			return dj_err_set(err, DJ_EFORMAT, "manifest: files[%zu] has no size", i);
	}
	if ((rc = get_uint(o, "total_size", &has, &m->total_size, "manifest", err)) ||
	    (rc = get_uint(o, "item_count", &has, &m->item_count, "manifest", err)))
		return rc;
	return 0;
}

int dj_manifest_parse(dj_manifest *m, const char *json, size_t n, dj_err *err)
{
	json_t *o;
	int rc;
	memset(m, 0, sizeof(*m));
	if ((rc = load_object(&o, json, n, "manifest", err)) < 0)
		return rc;
	rc = manifest_fill(m, o, err);
	json_decref(o);
	return rc;
}

void dj_manifest_dispose(dj_manifest *m)
{
	if (m->paths)
		for (size_t i = 0; i < m->nfiles; i++)
			free(m->paths[i]);
	free(m->paths);
	free(m->sizes);
	memset(m, 0, sizeof(*m));
}

/* ---- hash metadata ---- */

int dj_hash_meta_build(dj_buf *out, const dj_hash_meta *m, dj_err *err)
{
	int rc;
	if (!dj_hash_valid(m->hash))
		return dj_err_set(err, DJ_EUSAGE, "hash metadata: invalid hash '%.40s'", m->hash);
	if (!m->path || !*m->path || !m->schema || !*m->schema)
		return dj_err_set(err, DJ_EUSAGE, "hash metadata for %s: path and schema needed",
				  m->hash);
	if (!m->store || !*m->store)
		return dj_err_set(err, DJ_EUSAGE, "hash metadata for '%s': no store name", m->path);
	if (!m->has_size)
		return dj_err_set(err, DJ_EUSAGE, "hash metadata for '%s': no size", m->path);
	if ((rc = key(out, "hash", true, err)) || (rc = dj_pyjson_strz(out, m->hash, err)) ||
	    (rc = key(out, "path", false, err)) || (rc = dj_pyjson_strz(out, m->path, err)) ||
	    (rc = key(out, "schema", false, err)) || (rc = dj_pyjson_strz(out, m->schema, err)) ||
	    (rc = key(out, "store", false, err)) || (rc = dj_pyjson_strz(out, m->store, err)) ||
	    (rc = key(out, "size", false, err)))
		return rc;
	return nomem(dj_buf_addf(out, "%" PRIu64 "}", m->size), err);
}

static int hash_meta_fill(dj_hash_meta *m, json_t *o, dj_err *err)
{
	const char *w = "hash metadata";
	json_t *h = json_object_get(o, "hash");
	int rc;
	if (!json_is_string(h) || !dj_hash_valid(json_string_value(h)))
		return dj_err_set(err, DJ_EFORMAT, "hash metadata: missing or invalid \"hash\"");
	memcpy(m->hash, json_string_value(h), DJ_HASH_LEN + 1);
	if ((rc = get_str(o, "path", true, &m->path, w, err)) ||
	    (rc = get_str(o, "schema", false, &m->schema, w, err)) ||
	    (rc = get_str(o, "store", false, &m->store, w, err)) ||
	    (rc = get_uint(o, "size", &m->has_size, &m->size, w, err)))
		return rc;
	return 0;
}

int dj_hash_meta_parse(dj_hash_meta *m, const char *json, size_t n, dj_err *err)
{
	json_t *o;
	int rc;
	memset(m, 0, sizeof(*m));
	if ((rc = load_object(&o, json, n, "hash metadata", err)) < 0)
		return rc;
	rc = hash_meta_fill(m, o, err);
	json_decref(o);
	return rc;
}

void dj_hash_meta_dispose(dj_hash_meta *m)
{
	free(m->path);
	free(m->schema);
	free(m->store);
	memset(m, 0, sizeof(*m));
}
