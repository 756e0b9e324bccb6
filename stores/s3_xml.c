/*
 * Pure helpers of the s3 backend: endpoint resolution (formats.md §8.6), the little XML S3
 * speaks, and its two date formats. No I/O.
 */
#include "stores/s3_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- endpoint ---- */

static bool dns_bucket(const char *b, bool https)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return false;
	for (const char *p = b; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' ||
		      (*p == '.' && !https)))
			return false;
	return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && strncmp(s + n - k, suffix, k) == 0;
}

void dj_s3__endpoint_dispose(dj_s3_endpoint *e)
{
	free(e->base);
	free(e->host);
	free(e->path);
	memset(e, 0, sizeof(*e));
}

int dj_s3__endpoint(dj_s3_endpoint *out, const char *endpoint, bool secure, const char *bucket,
                    dj_store_addressing mode, dj_err *err)
{
	const char *scheme = secure ? "https" : "http", *rest = endpoint, *slash, *colon;
	dj_buf base = DJ_BUF_INIT, host = DJ_BUF_INIT, path = DJ_BUF_INIT;
	size_t hlen, plen, name_len;
	bool vhost;
	memset(out, 0, sizeof(*out));
	if (!endpoint || !*endpoint || !bucket || !*bucket)
		return dj_err_set(err, DJ_EUSAGE, "s3 store needs an endpoint and a bucket");
	if (!strncmp(endpoint, "http://", 7) || !strncmp(endpoint, "https://", 8)) {
		scheme = endpoint[4] == 's' ? "https" : "http";
		rest = endpoint + strlen(scheme) + 3;
	}
	slash = strchr(rest, '/');
	hlen = slash ? (size_t)(slash - rest) : strlen(rest);
	plen = slash ? strlen(slash) : 0;
	while (plen > 0 && slash[plen - 1] == '/')
		plen--;
	if (hlen == 0)
		return dj_err_set(err, DJ_EUSAGE, "s3 endpoint '%s' has no host", endpoint);
	/* the Host header carries the port only when it is not the scheme's default */
	colon = memchr(rest, ':', hlen);
	name_len = colon ? (size_t)(colon - rest) : hlen;
	if (colon && ((!strcmp(scheme, "https") && !strncmp(colon, ":443", hlen - name_len)) ||
	              (!strcmp(scheme, "http") && !strncmp(colon, ":80", hlen - name_len))))
		hlen = name_len;
	vhost = mode == DJ_STORE_ADDR_VHOST ||
	        (mode == DJ_STORE_ADDR_AUTO && ends_with(rest, name_len, "amazonaws.com") &&
	         dns_bucket(bucket, !strcmp(scheme, "https")));
	if ((vhost && dj_buf_addf(&host, "%s.", bucket) < 0) || dj_buf_add(&host, rest, hlen) < 0 ||
	    dj_buf_addf(&base, "%s://%s", scheme, host.ptr) < 0 ||
	    (plen && dj_buf_add(&path, slash, plen) < 0) ||
	    (!vhost && dj_buf_addf(&path, "/%s", bucket) < 0) || dj_buf_grow(&path, 1) < 0) {
		dj_buf_dispose(&base);
		dj_buf_dispose(&host);
		dj_buf_dispose(&path);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	out->base = dj_buf_take(&base, NULL);
	out->host = dj_buf_take(&host, NULL);
	out->path = dj_buf_take(&path, NULL);
	return 0;
}

/* ---- XML ---- */

const char *dj_s3__xml_find(const char *p, const char *end, const char *tag,
                            const char **content_end, const char **after)
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

static int add_utf8(dj_buf *out, unsigned long cp)
{
	char b[4];
	size_t n;
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return DJ_EFORMAT;
	if (cp < 0x80) {
		b[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 63)), n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 63));
		b[2] = (char)(0x80 | (cp & 63)), n = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 63));
		b[2] = (char)(0x80 | ((cp >> 6) & 63)), b[3] = (char)(0x80 | (cp & 63)), n = 4;
	}
	return dj_buf_add(out, b, n);
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
	return add_utf8(out, cp);
}

int dj_s3__xml_unescape(dj_buf *out, const char *p, size_t n)
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

int dj_s3__xml_escape(dj_buf *out, const char *s)
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

int dj_s3__xml_text(dj_buf *out, const char *p, const char *end, const char *tag)
{
	const char *ce, *after, *c = dj_s3__xml_find(p, end, tag, &ce, &after);
	dj_buf_reset(out);
	if (!c)
		return DJ_ENOTFOUND;
	return dj_s3__xml_unescape(out, c, (size_t)(ce - c));
}

/* ---- listings ---- */

static int parse_contents(const char *p, const char *end, dj_buf *key, uint64_t *size,
                          int64_t *mtime)
{
	dj_buf tmp = DJ_BUF_INIT;
	char *endp;
	int rc;
	if ((rc = dj_s3__xml_text(key, p, end, "Key")) < 0)
		return rc == DJ_ENOTFOUND ? DJ_EFORMAT : rc;
	if ((rc = dj_s3__xml_text(&tmp, p, end, "Size")) == 0) {
		*size = strtoull(tmp.ptr, &endp, 10);
		if (endp == tmp.ptr || *endp)
			rc = DJ_EFORMAT;
	}
	if (rc == 0 && dj_s3__xml_text(&tmp, p, end, "LastModified") == 0)
		*mtime = dj_s3__parse_iso8601(tmp.ptr); /* optional: -1 or 0 = unknown */
	dj_buf_dispose(&tmp);
	return rc == DJ_ENOTFOUND ? DJ_EFORMAT : rc;
}

int dj_s3__parse_list(const char *xml, size_t n, dj_s3_list_item_fn fn, void *payload,
                      bool *truncated, dj_buf *next)
{
	const char *end = xml + n, *p, *ce, *after, *root;
	dj_buf key = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	int rc = 0;
	*truncated = false;
	dj_buf_reset(next);
	if (!(root = dj_s3__xml_find(xml, end, "ListBucketResult", &ce, &after)))
		return DJ_EFORMAT;
	end = ce;
	for (p = root; rc == 0 && (p = dj_s3__xml_find(p, end, "Contents", &ce, &after));
	     p = after) {
		uint64_t size = 0;
		int64_t mtime = 0;
		if ((rc = parse_contents(p, ce, &key, &size, &mtime)) == 0)
			rc = fn(key.ptr, size, mtime, payload);
	}
	if (rc == 0 && dj_s3__xml_text(&tmp, root, end, "IsTruncated") == 0)
		*truncated = strcmp(tmp.ptr, "true") == 0;
	if (rc == 0 && *truncated && dj_s3__xml_text(next, root, end, "NextContinuationToken") < 0)
		rc = DJ_EFORMAT; /* truncated without a token: we could not go on */
	dj_buf_dispose(&key);
	dj_buf_dispose(&tmp);
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

int64_t dj_s3__parse_iso8601(const char *s)
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

int64_t dj_s3__parse_http_date(const char *s)
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
