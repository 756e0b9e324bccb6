/*
 * Pure helpers of the s3 backend: endpoint resolution (formats.md §8.6) and ListObjectsV2
 * pages. No I/O.
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

/* ---- listings ---- */

static int parse_contents(const char *p, const char *end, dj_buf *key, uint64_t *size,
                          int64_t *mtime)
{
	dj_buf tmp = DJ_BUF_INIT;
	char *endp;
	int rc;
	if ((rc = dj_xml__text(key, p, end, "Key")) < 0)
		return rc == DJ_ENOTFOUND ? DJ_EFORMAT : rc;
	if ((rc = dj_xml__text(&tmp, p, end, "Size")) == 0) {
		*size = strtoull(tmp.ptr, &endp, 10);
		if (endp == tmp.ptr || *endp)
			rc = DJ_EFORMAT;
	}
	if (rc == 0 && dj_xml__text(&tmp, p, end, "LastModified") == 0)
		*mtime = dj_http__parse_iso8601(tmp.ptr); /* optional: -1 or 0 = unknown */
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
	if (!(root = dj_xml__find(xml, end, "ListBucketResult", &ce, &after)))
		return DJ_EFORMAT;
	end = ce;
	for (p = root; rc == 0 && (p = dj_xml__find(p, end, "Contents", &ce, &after));
	     p = after) {
		uint64_t size = 0;
		int64_t mtime = 0;
		if ((rc = parse_contents(p, ce, &key, &size, &mtime)) == 0)
			rc = fn(key.ptr, size, mtime, false, payload);
	}
	for (p = root; rc == 0 && (p = dj_xml__find(p, end, "CommonPrefixes", &ce, &after));
	     p = after)
		if ((rc = dj_xml__text(&key, p, ce, "Prefix")) == 0)
			rc = fn(key.ptr, 0, 0, true, payload);
		else if (rc == DJ_ENOTFOUND)
			rc = DJ_EFORMAT;
	if (rc == 0 && dj_xml__text(&tmp, root, end, "IsTruncated") == 0)
		*truncated = strcmp(tmp.ptr, "true") == 0;
	if (rc == 0 && *truncated && dj_xml__text(next, root, end, "NextContinuationToken") < 0)
		rc = DJ_EFORMAT; /* truncated without a token: we could not go on */
	dj_buf_dispose(&key);
	dj_buf_dispose(&tmp);
	return rc;
}
