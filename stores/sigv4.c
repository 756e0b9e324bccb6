/*
 * AWS Signature Version 4 (see sigv4.h). The canonical forms follow AWS's "Create a canonical
 * request" rules for S3: the path is encoded once (S3 does not normalise or double-encode it).
 */
#include "stores/sigv4.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char hexd[] = "0123456789abcdef";

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[p[i] >> 4];
		out[2 * i + 1] = hexd[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int dj_sigv4_uri_encode(dj_buf *out, const char *s, size_t n, bool keep_slash)
{
	static const char HEX[] = "0123456789ABCDEF";
	if (dj_buf_grow(out, n) < 0)
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = {'%', HEX[c >> 4], HEX[c & 15]};
		int rc = (c < 0x80 && unreserved(c)) || (keep_slash && c == '/')
		             ? dj_buf_addc(out, (char)c)
		             : dj_buf_add(out, esc, 3);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int dj_sha256_hex(const void *p, size_t n, char out[DJ_SHA256_HEX_LEN + 1], dj_err *err)
{
	uint8_t md[32];
	unsigned len = 0;
	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != sizeof(md))
		return dj_err_set(err, DJ_ERROR, "SHA-256 failed");
	to_hex(md, sizeof(md), out);
	return 0;
}

static int hmac(const void *key, size_t keylen, const char *msg, size_t n, uint8_t out[32],
                dj_err *err)
{
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, n, out, &len) ||
	    len != 32)
		return dj_err_set(err, DJ_ERROR, "HMAC-SHA256 failed");
	return 0;
}

static const char *region_of(const dj_sigv4_key *k)
{
	return k->region && *k->region ? k->region : "us-east-1";
}

static const char *service_of(const dj_sigv4_key *k)
{
	return k->service && *k->service ? k->service : "s3";
}

int dj_sigv4_signing_key(const dj_sigv4_key *k, const char *date8, uint8_t out[32], dj_err *err)
{
	const char *steps[3] = {region_of(k), service_of(k), "aws4_request"};
	dj_buf secret = DJ_BUF_INIT;
	uint8_t cur[32];
	int rc;
	if (dj_buf_addf(&secret, "AWS4%s", k->secret_key) < 0)
		return nomem(err);
	rc = hmac(secret.ptr, secret.len, date8, 8, cur, err);
	/* the secret is not left behind in freed memory */
	memset(secret.ptr, 0, secret.len);
	dj_buf_dispose(&secret);
	for (int i = 0; rc == 0 && i < 3; i++)
		rc = hmac(cur, sizeof(cur), steps[i], strlen(steps[i]), cur, err);
	if (rc == 0)
		memcpy(out, cur, 32);
	return rc;
}

/* ---- canonical query ---- */

typedef struct enc_pair {
	char *name, *value; /* encoded */
} enc_pair;

static int cmp_pair(const void *a, const void *b)
{
	const enc_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s)
{
	dj_buf b = DJ_BUF_INIT;
	if (dj_sigv4_uri_encode(&b, s, strlen(s), false) < 0 || dj_buf_grow(&b, 1) < 0) {
		dj_buf_dispose(&b);
		return NULL;
	}
	return dj_buf_take(&b, NULL);
}

int dj_sigv4_canonical_query(dj_buf *out, const dj_sigv4_param *q, size_t n, dj_err *err)
{
	enc_pair *v = n ? calloc(n, sizeof(*v)) : NULL;
	int rc = 0;
	if (n && !v)
		return nomem(err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		v[i].name = encode_dup(q[i].name);
		v[i].value = encode_dup(q[i].value ? q[i].value : "");
		if (!v[i].name || !v[i].value)
			rc = nomem(err);
	}
	if (rc == 0 && n)
		qsort(v, n, sizeof(*v), cmp_pair);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (dj_buf_addf(out, "%s%s=%s", i ? "&" : "", v[i].name, v[i].value) < 0)
			rc = nomem(err);
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return rc;
}

/* ---- canonical headers ---- */

typedef struct canon_hdr {
	char *name;  /* lower-case */
	char *value; /* trimmed, runs of blanks collapsed */
	size_t order;
} canon_hdr;

static int cmp_hdr(const void *a, const void *b)
{
	const canon_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static char *trim_dup(const char *s)
{
	char *d = malloc(strlen(s) + 1), *o = d;
	bool blank = false;
	if (!d)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			blank = true;
			continue;
		}
		if (blank && o != d)
			*o++ = ' ';
		blank = false;
		*o++ = *s;
	}
	*o = '\0';
	return d;
}

/* Append "name:value\n" lines to `ch` and "a;b;c" to `sh`. */
static int canonical_headers(const dj_sigv4_header *h, size_t n, dj_buf *ch, dj_buf *sh,
                             dj_err *err)
{
	canon_hdr *v = calloc(n ? n : 1, sizeof(*v));
	int rc = 0;
	if (!v)
		return nomem(err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		v[i] = (canon_hdr){lower_dup(h[i].name), trim_dup(h[i].value ? h[i].value : ""), i};
		if (!v[i].name || !v[i].value)
			rc = nomem(err);
	}
	if (rc == 0 && n)
		qsort(v, n, sizeof(*v), cmp_hdr);
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool same = i > 0 && strcmp(v[i].name, v[i - 1].name) == 0;
		bool next_same = i + 1 < n && strcmp(v[i].name, v[i + 1].name) == 0;
		if ((!same && dj_buf_addf(ch, "%s:", v[i].name) < 0) ||
		    dj_buf_addf(ch, "%s%s", v[i].value, next_same ? "," : "\n") < 0 ||
		    (!same && dj_buf_addf(sh, "%s%s", sh->len ? ";" : "", v[i].name) < 0))
			rc = nomem(err);
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return rc;
}

/* ---- the signature ---- */

static int canonical_request(const dj_sigv4_request *r, dj_buf *out, dj_buf *signed_hdrs,
                             dj_err *err)
{
	const char *path = r->path && *r->path ? r->path : "/";
	int rc;
	if (dj_buf_addf(out, "%s\n", r->method) < 0 ||
	    dj_sigv4_uri_encode(out, path, strlen(path), true) < 0 || dj_buf_addc(out, '\n') < 0)
		return nomem(err);
	if ((rc = dj_sigv4_canonical_query(out, r->query, r->nquery, err)) < 0)
		return rc;
	if (dj_buf_addc(out, '\n') < 0)
		return nomem(err);
	if ((rc = canonical_headers(r->headers, r->nheaders, out, signed_hdrs, err)) < 0)
		return rc;
	if (dj_buf_addf(out, "\n%s\n%s", signed_hdrs->ptr, r->payload_hash) < 0)
		return nomem(err);
	return 0;
}

static int check_request(const dj_sigv4_request *r, const dj_sigv4_key *k, dj_err *err)
{
	if (!r->method || !*r->method || !r->payload_hash || !*r->payload_hash)
		return dj_err_set(err, DJ_EUSAGE, "sigv4: no method or payload hash");
	if (!r->amz_date || strlen(r->amz_date) != DJ_AMZ_DATE_LEN)
		return dj_err_set(err, DJ_EUSAGE, "sigv4: x-amz-date must be YYYYMMDDTHHMMSSZ");
	if (!k->access_key || !*k->access_key || !k->secret_key)
		return dj_err_set(err, DJ_EUSAGE, "sigv4: no access key");
	return 0;
}

int dj_sigv4_sign(const dj_sigv4_request *r, const dj_sigv4_key *k, dj_sigv4_result *out,
                  dj_err *err)
{
	dj_buf sh = DJ_BUF_INIT;
	char date8[9], creq_hash[DJ_SHA256_HEX_LEN + 1];
	uint8_t key[32], sig[32];
	int rc;
	*out = (dj_sigv4_result)DJ_SIGV4_RESULT_INIT;
	if ((rc = check_request(r, k, err)) < 0)
		return rc;
	memcpy(date8, r->amz_date, 8);
	date8[8] = '\0';
	if ((rc = canonical_request(r, &out->canonical_request, &sh, err)) < 0 ||
	    (rc = dj_sha256_hex(out->canonical_request.ptr, out->canonical_request.len, creq_hash,
	                        err)) < 0)
		goto done;
	if (dj_buf_addf(&out->string_to_sign, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
	                r->amz_date, date8, region_of(k), service_of(k), creq_hash) < 0) {
		rc = nomem(err);
		goto done;
	}
	if ((rc = dj_sigv4_signing_key(k, date8, key, err)) < 0 ||
	    (rc = hmac(key, sizeof(key), out->string_to_sign.ptr, out->string_to_sign.len, sig,
	               err)) < 0)
		goto done;
	to_hex(sig, sizeof(sig), out->signature);
	if (dj_buf_addf(&out->authorization,
	                "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
	                "Signature=%s",
	                k->access_key, date8, region_of(k), service_of(k), sh.ptr,
	                out->signature) < 0)
		rc = nomem(err);
done:
	memset(key, 0, sizeof(key));
	dj_buf_dispose(&sh);
	if (rc < 0)
		dj_sigv4_result_dispose(out);
	return rc;
}

void dj_sigv4_result_dispose(dj_sigv4_result *r)
{
	dj_buf_dispose(&r->canonical_request);
	dj_buf_dispose(&r->string_to_sign);
	dj_buf_dispose(&r->authorization);
	r->signature[0] = '\0';
}

void dj_sigv4_amz_date(time_t t, char out[DJ_AMZ_DATE_LEN + 1])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, DJ_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != DJ_AMZ_DATE_LEN)
		memcpy(out, "19700101T000000Z", DJ_AMZ_DATE_LEN + 1);
}
