/*
 * The s3 backend's callbacks for the HTTP engine (stores/http.h): each attempt signed with our
 * own SigV4 (recipes.md §3: curl 7.88's built-in signer is wrong), S3's extra transient answers,
 * and its error answers turned into messages.
 */
#include "stores/s3_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int payload_hash(dj_s3_store *s3, dj_http_req *r, dj_err *err)
{
	if (r->body_hash[0])
		return 0;
	if (!r->body_len) {
		strcpy(r->body_hash, DJ_SIGV4_EMPTY_SHA256);
		return 0;
	}
	if (s3->unsigned_payload) {
		strcpy(r->body_hash, DJ_SIGV4_UNSIGNED_PAYLOAD);
		return 0;
	}
	return dj_sha256_hex(r->body, r->body_len, r->body_hash, err);
}

/* The headers we send are exactly the headers we sign (plus Authorization and Expect). */
static int sign_headers(dj_s3_store *s3, dj_http_req *r, const char *path, dj_err *err)
{
	dj_sigv4_header h[9];
	size_t n = 0;
	char date[DJ_AMZ_DATE_LEN + 1];
	dj_sigv4_result res = DJ_SIGV4_RESULT_INIT;
	int rc = 0;
	dj_sigv4_amz_date(time(NULL), date);
	h[n++] = (dj_sigv4_header){"Host", s3->ep.host};
	h[n++] = (dj_sigv4_header){"x-amz-content-sha256", r->body_hash};
	h[n++] = (dj_sigv4_header){"x-amz-date", date};
	if (r->range[0])
		h[n++] = (dj_sigv4_header){"Range", r->range};
	if (r->if_match[0])
		h[n++] = (dj_sigv4_header){"If-Match", r->if_match};
	if (r->content_md5[0])
		h[n++] = (dj_sigv4_header){"Content-MD5", r->content_md5};
	if (r->content_type)
		h[n++] = (dj_sigv4_header){"Content-Type", r->content_type};
	if (r->copy_source)
		h[n++] = (dj_sigv4_header){"x-amz-copy-source", r->copy_source};
	if (s3->session_token)
		h[n++] = (dj_sigv4_header){"x-amz-security-token", s3->session_token};
	if (s3->access_key) {
		dj_sigv4_key k = {s3->access_key, s3->secret_key, s3->region, "s3"};
		dj_sigv4_request sr = {r->method, path, r->query,     r->nquery,
		                       h,         n,    r->body_hash, date};
		if ((rc = dj_sigv4_sign(&sr, &k, &res, err)) < 0)
			return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = dj_http__header(r, "%s: %s", h[i].name, h[i].value);
	if (rc == 0 && s3->access_key)
		rc = dj_http__header(r, "Authorization: %s", res.authorization.ptr);
	dj_sigv4_result_dispose(&res);
	return rc < 0 ? dj_err_set(err, DJ_ENOMEM, "out of memory") : 0;
}

int dj_s3__prepare(void *owner, dj_http_req *r, dj_buf *url, dj_err *err)
{
	dj_s3_store *s3 = owner;
	dj_buf path = DJ_BUF_INIT;
	int rc;
	if ((rc = payload_hash(s3, r, err)) == 0 &&
	    (rc = dj_http__url(r, s3->ep.base, s3->ep.path, &path, url, err)) == 0)
		rc = sign_headers(s3, r, path.ptr, err);
	dj_buf_dispose(&path);
	return rc;
}

/* ---- outcomes ---- */

static bool has_code(const dj_http_req *r, const char *code)
{
	dj_buf c = DJ_BUF_INIT;
	bool yes = dj_xml__text(&c, r->resp.ptr, r->resp.ptr + r->resp.len, "Code") == 0 &&
	           strcmp(c.ptr, code) == 0;
	dj_buf_dispose(&c);
	return yes;
}

/* S3 may answer 200 to CompleteMultipartUpload and put an <Error> in the body: only a body whose
 * root element is <Error> counts (a DeleteResult lists <Error> entries of its own). */
static bool error_in_200(const dj_http_req *r)
{
	const char *p = r->resp.ptr, *end = p + r->resp.len;
	if (r->status != 200 || !r->resp.len)
		return false;
	for (;;) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (end - p < 2 || p[0] != '<' || p[1] != '?')
			break;
		if (!(p = memchr(p, '>', (size_t)(end - p))))
			return false;
		p++;
	}
	return end - p >= 7 && !strncmp(p, "<Error", 6) &&
	       (p[6] == '>' || isspace((unsigned char)p[6]));
}

bool dj_s3__retry(void *owner, dj_http_req *r)
{
	(void)owner;
	if (error_in_200(r)) {
		r->status = 500; /* reported as a server error once the retries are spent */
		return true;
	}
	return r->status == 400 && has_code(r, "RequestTimeout");
}

static bool auth_code(const char *c)
{
	static const char *const codes[] = {
	    "SignatureDoesNotMatch", "InvalidAccessKeyId", "AuthorizationHeaderMalformed",
	    "InvalidToken",          "ExpiredToken",       "TokenRefreshRequired"};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(c, codes[i]))
			return true;
	return false;
}

int dj_s3__http_error(void *owner, const dj_http_req *r, const char *what, const char *key,
                      dj_err *err)
{
	dj_s3_store *s3 = owner;
	const char *name = s3->base.name;
	dj_buf code = DJ_BUF_INIT;
	int rc;
	dj_xml__text(&code, r->resp.ptr, r->resp.ptr + r->resp.len, "Code");
	if ((r->status == 403 || r->status == 401) && auth_code(code.ptr))
		rc = dj_err_set(err, DJ_EUSAGE,
		                "store '%s': authentication failed: %s (check access_key and "
		                "secret_key) %s '%s'",
		                name, code.ptr, what, key);
	else if (r->status == 403 && !code.len)
		rc = dj_err_set(
		    err, DJ_EUSAGE,
		    "store '%s': authentication failed or access denied (HTTP 403) %s '%s'", name,
		    what, key);
	else if (r->status == 403 && !strcmp(code.ptr, "RequestTimeTooSkewed"))
		rc = dj_err_set(err, DJ_ERROR,
		                "store '%s': this machine's clock differs from the server's by "
		                "over 15 minutes (%s '%s')",
		                name, what, key);
	else if (r->status == 404 && !strcmp(code.ptr, "NoSuchBucket"))
		rc = dj_err_set(err, DJ_ENOTFOUND, "store '%s': bucket '%s' not found (%s '%s')",
		                name, s3->bucket, what, key);
	else if (r->status == 404 && !strcmp(code.ptr, "NoSuchUpload"))
		rc = dj_err_set(err, DJ_ENOTFOUND,
		                "store '%s': upload of '%s' not found (completed or aborted)", name,
		                key);
	else if (r->status == 404)
		rc = dj_err_set(err, DJ_ENOTFOUND, "store '%s': '%s' not found", name, key);
	else if (r->status == 412)
		rc = dj_err_set(err, DJ_ECONFLICT, "store '%s': '%s' changed while %s it", name,
		                key, what);
	else
		rc =
		    dj_err_set(err, r->status >= 500 || r->status == 429 ? DJ_ETRANSIENT : DJ_ERROR,
		               "store '%s': HTTP %ld%s%s %s '%s' (%d attempt%s)", name, r->status,
		               code.len ? " " : "", code.ptr, what, key, r->attempts,
		               r->attempts == 1 ? "" : "s");
	dj_buf_dispose(&code);
	return rc;
}
