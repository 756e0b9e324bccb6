/*
 * What the cloud backends share above the engine: request batches, upload bodies, whole and
 * ranged reads as parallel ranged GETs, and the formats their services speak (HTTP dates,
 * ISO 8601, a little XML).
 */
#include "stores/http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/utf8.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

int dj_http__run1(dj_http *h, dj_http_req *r, const char *what, dj_err *err)
{
	return dj_http__run(h, &r, 1, false, what, err);
}

int dj_http__run_all(dj_http *h, dj_http_req **reqs, size_t n, const char *what, dj_err *err)
{
	int rc = dj_http__run(h, reqs, n, true, what, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (reqs[i]->finished && !dj_http__ok(reqs[i]))
			rc = h->http_error(h->owner, reqs[i], what, reqs[i]->label, err);
	return rc;
}

/* n requests in one block; request i is for keys[i], or for `key` when keys is NULL. */
static dj_http_req **req_block(dj_http *h, size_t n, const char *method, const char *key,
                               const char *const *keys, dj_err *err)
{
	dj_http_req **v = calloc(n ? n : 1, sizeof(*v) + sizeof(dj_http_req));
	dj_http_req *blk = (dj_http_req *)(v + n);
	if (!v) {
		nomem(err);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = &blk[i];
		if (dj_http__req_init(h, v[i], method, keys ? keys[i] : key, err) < 0) {
			for (size_t j = 0; j <= i; j++)
				dj_http__req_dispose(v[j]);
			free(v);
			return NULL;
		}
	}
	return v;
}

dj_http_req **dj_http__req_array(dj_http *h, size_t n, const char *method, const char *key,
                                 dj_err *err)
{
	return req_block(h, n, method, key, NULL, err);
}

dj_http_req **dj_http__req_each(dj_http *h, size_t n, const char *method, const char *const *keys,
                                dj_err *err)
{
	return req_block(h, n, method, NULL, keys, err);
}

void dj_http__req_array_free(dj_http_req **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		dj_http__req_dispose(v[i]);
	free(v);
}

void dj_http__set_body(dj_http_req *r, const dj_http_body *src, uint64_t off, size_t len)
{
	r->body_len = len;
	if (src->mem) {
		r->body = src->mem + off;
	} else {
		r->body_fd = src->fd;
		r->body_off = off;
	}
}

int dj_http__body_file(dj_http *h, const char *path, dj_http_body *src, dj_err *err)
{
	struct stat sb;
	*src = (dj_http_body){NULL, -1, 0};
	if ((src->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dj_err_os(err, "store '%s': cannot read '%s'", h->store, path);
	if (fstat(src->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(src->fd);
		src->fd = -1;
		return dj_err_set(err, DJ_EUSAGE, "store '%s': '%s' is not a regular file",
		                  h->store, path);
	}
	src->size = (uint64_t)sb.st_size;
	return 0;
}

/* ---- reads ---- */

/* Append [off, off+len) of `key` fetched as parallel ranges of `chunk`, pinned to `etag`. */
static int ranged_fetch(dj_http *h, const char *key, uint64_t off, uint64_t len, size_t chunk,
                        const char *etag, dj_buf *out, dj_err *err)
{
	size_t n = (size_t)((len + chunk - 1) / chunk);
	dj_http_req **v;
	int rc = 0;
	if (len == 0)
		return 0;
	if (len > SIZE_MAX - out->len - 1 || dj_buf_grow(out, (size_t)len) < 0)
		return dj_err_set(err, DJ_ENOMEM,
		                  "store '%s': '%s': %llu bytes do not fit in memory", h->store,
		                  key, (unsigned long long)len);
	if (!(v = dj_http__req_array(h, n, "GET", key, err)))
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t a = off + i * chunk, k = len - i * chunk < chunk ? len - i * chunk : chunk;
		snprintf(v[i]->range, sizeof(v[i]->range), "bytes=%llu-%llu", (unsigned long long)a,
		         (unsigned long long)(a + k - 1));
		snprintf(v[i]->if_match, sizeof(v[i]->if_match), "%s", etag ? etag : "");
		v[i]->data_at = (uint8_t *)out->ptr + out->len + i * chunk;
		v[i]->data_cap = (size_t)k;
	}
	rc = dj_http__run_all(h, v, n, "reading", err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (v[i]->data_len != v[i]->data_cap)
			rc = dj_err_set(err, DJ_ECONFLICT,
			                "store '%s': '%s' changed while reading it", h->store, key);
	if (rc == 0)
		dj_buf_setlen(out, out->len + (size_t)len);
	dj_http__req_array_free(v, n);
	return rc;
}

int dj_http__get(dj_http *h, const char *key, size_t chunk, dj_buf *out, dj_err *err)
{
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(h, &r, "GET", key, err)) < 0)
		return rc;
	r.data_buf = out;
	r.abort_above = chunk;
	if ((rc = dj_http__run1(h, &r, "reading", err)) == 0) {
		if (r.too_big)
			rc = ranged_fetch(h, key, 0, r.content_length, chunk, r.etag, out, err);
		else if (!dj_http__ok(&r))
			rc = h->http_error(h->owner, &r, "reading", key, err);
	}
	dj_http__req_dispose(&r);
	return rc;
}

/* A server that ignores Range sent the whole object at out[base..]: keep [off, off+n). */
static void keep_slice(dj_buf *out, size_t base, uint64_t off, size_t n)
{
	size_t have = out->len - base, from = off < have ? (size_t)off : have;
	size_t k = n && n < have - from ? n : have - from;
	memmove(out->ptr + base, out->ptr + base + from, k);
	dj_buf_setlen(out, base + k);
}

int dj_http__get_range(dj_http *h, const char *key, uint64_t off, size_t n, size_t chunk,
                       dj_buf *out, dj_err *err)
{
	uint64_t first = n && n < chunk ? n : chunk, end;
	size_t base = out->len;
	dj_http_req r;
	int rc;
	if (off == 0 && n == 0) /* the whole object: no Range header, so empty objects work too */
		return dj_http__get(h, key, chunk, out, err);
	if ((rc = dj_http__req_init(h, &r, "GET", key, err)) < 0)
		return rc;
	snprintf(r.range, sizeof(r.range), "bytes=%llu-%llu", (unsigned long long)off,
	         (unsigned long long)(off + first - 1));
	r.data_buf = out;
	if ((rc = dj_http__run1(h, &r, "reading", err)) < 0 || r.status == 416) {
		/* 416: off is at or past the end: no bytes */
	} else if (r.status == 200) {
		keep_slice(out, base, off, n);
	} else if (r.status != 206 || !r.have_total) {
		rc = h->http_error(h->owner, &r, "reading", key, err);
	} else {
		end = n && off + n < r.total ? off + n : r.total;
		if (off + r.data_len < end)
			rc = ranged_fetch(h, key, off + r.data_len, end - off - r.data_len, chunk,
			                  r.etag, out, err);
	}
	dj_http__req_dispose(&r);
	return rc;
}

/* ---- dates ---- */

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {0};
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -1;
	tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
	return (int64_t)timegm(&tm);
}

int64_t dj_http__parse_iso8601(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || !n)
		return -1;
	s += n;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			;
	return *s == 'Z' && !s[1] ? utc(y, mo, d, h, mi, sec) : -1;
}

int64_t dj_http__parse_date(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4] = {0};
	int d, y, h, mi, sec, n = 0;
	const char *m;
	if (sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT%n", &d, mon, &y, &h, &mi, &sec, &n) != 6 ||
	    !n || strlen(mon) != 3 || !(m = strstr(months, mon)) || (m - months) % 3)
		return -1;
	return utc(y, (int)(m - months) / 3 + 1, d, h, mi, sec);
}

/* ---- XML ---- */

const char *dj_xml__find(const char *p, const char *end, const char *tag, const char **content_end,
                         const char **after)
{
	size_t tl = strlen(tag);
	while (p && p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *gt, *close;
		if (!lt || (size_t)(end - lt) < tl + 2)
			return NULL;
		p = lt + 1;
		if (strncmp(p, tag, tl) != 0 || !strchr(" \t\r\n/>", p[tl]))
			continue;
		if (!(gt = memchr(p, '>', (size_t)(end - p))))
			return NULL;
		if (gt[-1] == '/') { /* <tag/>: empty content */
			*content_end = gt;
			*after = gt + 1;
			return gt;
		}
		for (close = gt + 1; close < end; close++) {
			close = memchr(close, '<', (size_t)(end - close));
			if (!close)
				return NULL;
			if ((size_t)(end - close) >= tl + 3 && close[1] == '/' &&
			    strncmp(close + 2, tag, tl) == 0 && close[2 + tl] == '>') {
				*content_end = close;
				*after = close + tl + 3;
				return gt + 1;
			}
		}
		return NULL;
	}
	return NULL;
}

static int add_entity(dj_buf *out, const char *e, size_t n)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
	char num[16], *endp;
	unsigned long cp;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strlen(named[i].name) == n && !strncmp(e, named[i].name, n))
			return dj_buf_addc(out, named[i].c);
	if (n < 2 || n > 10 || e[0] != '#')
		return DJ_EFORMAT;
	memcpy(num, e + 1, n - 1);
	num[n - 1] = '\0';
	if (num[0] == 'x' || num[0] == 'X')
		cp = strtoul(num + 1, &endp, 16);
	else
		cp = strtoul(num, &endp, 10);
	if (*endp || endp == num || (endp == num + 1 && (num[0] == 'x' || num[0] == 'X')))
		return DJ_EFORMAT;
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return DJ_EFORMAT;
	return dj_utf8_add(out, (uint32_t)cp);
}

int dj_xml__unescape(dj_buf *out, const char *p, size_t n)
{
	const char *end = p + n;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *semi;
		int rc;
		if (!amp)
			return dj_buf_add(out, p, (size_t)(end - p));
		if (dj_buf_add(out, p, (size_t)(amp - p)) < 0)
			return DJ_ENOMEM;
		if (!(semi = memchr(amp, ';', (size_t)(end - amp))))
			return DJ_EFORMAT;
		if ((rc = add_entity(out, amp + 1, (size_t)(semi - amp - 1))) < 0)
			return rc;
		p = semi + 1;
	}
	return 0;
}

int dj_xml__escape(dj_buf *out, const char *s)
{
	for (; *s; s++) {
		const char *e = *s == '&'    ? "&amp;"
		                : *s == '<'  ? "&lt;"
		                : *s == '>'  ? "&gt;"
		                : *s == '"'  ? "&quot;"
		                : *s == '\'' ? "&apos;"
		                             : NULL;
		if ((e ? dj_buf_adds(out, e) : dj_buf_addc(out, *s)) < 0)
			return DJ_ENOMEM;
	}
	return 0;
}

int dj_xml__text(dj_buf *out, const char *p, const char *end, const char *tag)
{
	const char *ce, *after, *c = dj_xml__find(p, end, tag, &ce, &after);
	dj_buf_reset(out);
	if (!c)
		return DJ_ENOTFOUND;
	return dj_xml__unescape(out, c, (size_t)(ce - c));
}
