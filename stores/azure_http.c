/*
 * The azure backend's callbacks for the HTTP engine (stores/http.h): every attempt signed with
 * SharedKey (HMAC-SHA256 of the canonical string, x-ms-date, x-ms-version), and the service's
 * error answers turned into messages. recipes.md §4 lists the pitfalls met on Azurite: the
 * account name twice in the canonicalized resource of path-style URLs (it is in the path),
 * Content-Length 0 signed as "", and no header curl might add that we did not sign.
 */
#include "stores/azure_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

void dj_azure__date(int64_t t, char out[30])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ---- the string to sign ---- */

/* "name:value" lines by name (a name that is a prefix of another sorts first). */
static int cmp_header(const void *a, const void *b)
{
	const unsigned char *x = *(const unsigned char *const *)a;
	const unsigned char *y = *(const unsigned char *const *)b;
	for (;; x++, y++) {
		unsigned cx = *x == ':' ? 0 : *x, cy = *y == ':' ? 0 : *y;
		if (cx != cy || !cx)
			return (int)cx - (int)cy;
	}
}

static int cmp_param(const void *a, const void *b)
{
	const dj_http_param *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/* "\nname:value" per query parameter, names lower-case and sorted, values raw. Our parameter
 * names are lower-case already and never repeat. */
static int canonical_query(dj_buf *out, const dj_http_param *q, size_t n)
{
	dj_http_param *v = n ? malloc(n * sizeof(*v)) : NULL;
	int rc = 0;
	if (n && !v)
		return DJ_ENOMEM;
	if (n)
		memcpy(v, q, n * sizeof(*v));
	if (n)
		qsort(v, n, sizeof(*v), cmp_param);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = dj_buf_addf(out, "\n%s:%s", v[i].name, v[i].value ? v[i].value : "");
	free(v);
	return rc;
}

int dj_azure__string_to_sign(dj_buf *out, const dj_azure_sign_in *in, dj_err *err)
{
	const char **ms = in->nms ? malloc(in->nms * sizeof(*ms)) : NULL;
	char len[24] = "";
	int rc;
	if (in->nms && !ms)
		return nomem(err);
	if (in->content_length)
		snprintf(len, sizeof(len), "%llu", (unsigned long long)in->content_length);
#define V(s) ((s) ? (s) : "")
	/* verb, Content-Encoding, -Language, -Length, -MD5, -Type, Date, If-Modified-Since,
	 * If-Match, If-None-Match, If-Unmodified-Since, Range */
	rc = dj_buf_addf(out, "%s\n\n\n%s\n%s\n%s\n\n\n%s\n%s\n\n%s\n", in->method, len,
	                 V(in->content_md5), V(in->content_type), V(in->if_match),
	                 V(in->if_none_match), V(in->range));
#undef V
	for (size_t i = 0; i < in->nms; i++)
		ms[i] = in->ms_headers[i];
	if (in->nms)
		qsort(ms, in->nms, sizeof(*ms), cmp_header);
	for (size_t i = 0; i < in->nms && rc == 0; i++)
		rc = dj_buf_addf(out, "%s\n", ms[i]);
	if (rc == 0)
		rc = dj_buf_addf(out, "/%s%s", in->account, in->path);
	if (rc == 0)
		rc = canonical_query(out, in->query, in->nquery);
	free(ms);
	return rc < 0 ? nomem(err) : 0;
}

int dj_azure__signature(const char *key_b64, const char *s, size_t n, char out[45], dj_err *err)
{
	size_t klen = strlen(key_b64), pad = 0;
	unsigned char *key = malloc(klen / 4 * 3 + 3), md[32];
	unsigned mdlen = 0;
	int k, rc = 0;
	if (!key)
		return nomem(err);
	/* EVP_DecodeBlock counts padding as zero bytes: take them off again */
	k = klen % 4 == 0 ? EVP_DecodeBlock(key, (const unsigned char *)key_b64, (int)klen) : -1;
	while (klen > pad && pad < 2 && key_b64[klen - 1 - pad] == '=')
		pad++;
	if (k <= 0 || (size_t)k < pad)
		rc = dj_err_set(err, DJ_EUSAGE, "account_key is not valid base64");
	else if (!HMAC(EVP_sha256(), key, k - (int)pad, (const unsigned char *)s, n, md, &mdlen) ||
	         mdlen != 32)
		rc = dj_err_set(err, DJ_ERROR, "HMAC-SHA256 failed");
	else
		EVP_EncodeBlock((unsigned char *)out, md, 32);
	memset(key, 0, klen / 4 * 3 + 3);
	free(key);
	return rc;
}

/* ---- prepare ---- */

typedef struct ms_set {
	char date[64], version[64], blob_type[40];
	const char *v[3];
	size_t n;
} ms_set;

/* PUT without a query string is Put Blob: the only request that names a blob type. */
static void ms_headers(const dj_http_req *r, ms_set *m)
{
	char d[30];
	dj_azure__date((int64_t)time(NULL), d);
	snprintf(m->date, sizeof(m->date), "x-ms-date:%s", d);
	snprintf(m->version, sizeof(m->version), "x-ms-version:%s", DJ_AZURE_VERSION);
	strcpy(m->blob_type, "x-ms-blob-type:BlockBlob");
	m->n = 0;
	m->v[m->n++] = m->date;
	m->v[m->n++] = m->version;
	if (!strcmp(r->method, "PUT") && r->nquery == 0)
		m->v[m->n++] = m->blob_type;
}

static int authorize(dj_azure_store *az, dj_http_req *r, const char *path, const ms_set *m,
                     dj_err *err)
{
	bool put = !strcmp(r->method, "PUT");
	dj_azure_sign_in in = {r->method,   put ? r->body_len : 0, r->content_md5, r->content_type,
	                       r->if_match, r->if_none_match,      r->range,       m->v,
	                       m->n,        az->acct.name,         path,           r->query,
	                       r->nquery};
	dj_buf sts = DJ_BUF_INIT;
	char sig[45];
	int rc;
	if ((rc = dj_azure__string_to_sign(&sts, &in, err)) == 0 &&
	    (rc = dj_azure__signature(az->acct.key, sts.ptr, sts.len, sig, err)) == 0 &&
	    dj_http__header(r, "Authorization: SharedKey %s:%s", az->acct.name, sig) < 0)
		rc = nomem(err);
	dj_buf_dispose(&sts);
	return rc;
}

int dj_azure__prepare(void *owner, dj_http_req *r, dj_buf *url, dj_err *err)
{
	dj_azure_store *az = owner;
	dj_buf path = DJ_BUF_INIT;
	ms_set m;
	const char *enc, *q;
	int rc;
	if ((rc = dj_http__url(r, az->acct.base, az->path_base, &path, url, err)) < 0)
		goto done;
	ms_headers(r, &m);
	for (size_t i = 0; i < m.n && rc == 0; i++) {
		const char *colon = strchr(m.v[i], ':');
		rc = dj_http__header(r, "%.*s: %s", (int)(colon - m.v[i]), m.v[i], colon + 1);
	}
	if (rc == 0 && r->range[0])
		rc = dj_http__header(r, "Range: %s", r->range);
	if (rc == 0 && r->if_match[0])
		rc = dj_http__header(r, "If-Match: %s", r->if_match);
	if (rc == 0 && r->if_none_match[0])
		rc = dj_http__header(r, "If-None-Match: %s", r->if_none_match);
	if (rc == 0 && r->content_md5[0])
		rc = dj_http__header(r, "Content-MD5: %s", r->content_md5);
	if (rc == 0 && r->content_type)
		rc = dj_http__header(r, "Content-Type: %s", r->content_type);
	if (rc < 0) {
		rc = nomem(err);
		goto done;
	}
	if (az->acct.key) { /* sign the path exactly as the URL carries it (percent-encoded) */
		enc = url->ptr + strlen(az->acct.base);
		q = strchr(enc, '?');
		dj_buf_reset(&path);
		if (dj_buf_add(&path, enc, q ? (size_t)(q - enc) : strlen(enc)) < 0)
			rc = nomem(err);
		else
			rc = authorize(az, r, path.ptr, &m, err);
	}
done:
	dj_buf_dispose(&path);
	return rc;
}

/* ---- errors ---- */

static const char *code_of(const dj_http_req *r, dj_buf *tmp)
{
	if (r->code[0])
		return r->code;
	if (dj_xml__text(tmp, r->resp.ptr, r->resp.ptr + r->resp.len, "Code") == 0)
		return tmp->ptr;
	return "";
}

static bool auth_code(const char *c)
{
	return !strcmp(c, "AuthenticationFailed") || !strcmp(c, "AuthorizationFailure") ||
	       !strcmp(c, "InvalidAuthenticationInfo") || !*c;
}

int dj_azure__http_error(void *owner, const dj_http_req *r, const char *what, const char *key,
                         dj_err *err)
{
	dj_azure_store *az = owner;
	const char *name = az->base.name;
	dj_buf tmp = DJ_BUF_INIT;
	const char *code = code_of(r, &tmp);
	int rc;
	if ((r->status == 403 || r->status == 401) && auth_code(code))
		rc = dj_err_set(err, DJ_EUSAGE,
		                "store '%s': authentication failed: %s (check account_name and "
		                "account_key, or connection_string) %s '%s'",
		                name, *code ? code : "HTTP 403", what, key);
	else if (r->status == 403)
		rc = dj_err_set(err, DJ_EUSAGE, "store '%s': access denied: %s %s '%s'", name, code,
		                what, key);
	else if (r->status == 404 && !strcmp(code, "ContainerNotFound"))
		rc = dj_err_set(err, DJ_ENOTFOUND, "store '%s': container '%s' not found (%s '%s')",
		                name, az->container, what, key);
	else if (r->status == 404)
		rc = dj_err_set(err, DJ_ENOTFOUND, "store '%s': '%s' not found", name, key);
	else if (r->if_none_match[0] && (r->status == 409 || r->status == 412))
		rc = dj_err_set(err, DJ_EEXISTS, "store '%s': '%s' already exists", name, key);
	else if (r->status == 412)
		rc = dj_err_set(err, DJ_ECONFLICT, "store '%s': '%s' changed while %s it", name,
		                key, what);
	else
		rc = dj_err_set(
		    err, r->status >= 500 || r->status == 429 ? DJ_ETRANSIENT : DJ_ERROR,
		    "store '%s': HTTP %ld%s%s %s '%s' (%d attempt%s)", name, r->status,
		    *code ? " " : "", code, what, key, r->attempts, r->attempts == 1 ? "" : "s");
	dj_buf_dispose(&tmp);
	return rc;
}
