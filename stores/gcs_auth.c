/*
 * The gcs backend's credentials, as gcsfs takes its `token` (formats.md §8.6): a service
 * account's JWT bearer grant (RFC 7523, RS256 over the key file's PEM private_key), an
 * authorized_user's refresh_token grant, the metadata server, or nothing (anonymous). Access
 * tokens are cached per credential for the whole process and shared by every store and thread
 * using it; the tokens come from blocking requests on their own curl handle, made from the
 * engine's prepare callback, so one request waits while the others in flight go on.
 */
#include "stores/gcs_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define MAX_TOKEN_BODY (1u << 20)
#define GRANT_ATTEMPTS 3
#define METADATA_PROBE_MS 3000 /* token unset: how long the metadata server may take to answer */
#define JWT_LIFETIME 3600      /* the longest Google accepts */
#define REFUSED_GRACE_S 10     /* dj_gcs__auth_invalidate: younger tokens are not fetched again */

/* One credential's token, shared process-wide; `lock` is held while fetching. */
typedef struct cached {
	struct cached *next;
	char *id; /* kind + file or metadata host */
	unsigned refs;
	pthread_mutex_t lock;
	char *token;
	int64_t refresh_at; /* CLOCK_REALTIME seconds */
	int64_t fetched_at;
	bool anonymous; /* token unset and nobody answered: send nothing */
} cached;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached *cache_head;

struct dj_gcs_auth {
	char *store;
	dj_gcs_auth_kind kind;
	char *file;          /* key file, or NULL */
	char *metadata_host; /* host[:port] */
	long timeout_ms;
	cached *c; /* NULL for anon */
};

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

int64_t dj_gcs__refresh_after(int64_t expires_in)
{
	int64_t margin = expires_in / 2 < 300 ? expires_in / 2 : 300;
	return expires_in - margin;
}

/* ---- the cache ---- */

static cached *cache_get(const char *id)
{
	cached *c;
	pthread_mutex_lock(&cache_lock);
	for (c = cache_head; c && strcmp(c->id, id) != 0; c = c->next)
		;
	if (!c && (c = calloc(1, sizeof(*c))) && !(c->id = strdup(id))) {
		free(c);
		c = NULL;
	} else if (c && !c->refs) {
		pthread_mutex_init(&c->lock, NULL);
		c->next = cache_head;
		cache_head = c;
	}
	if (c)
		c->refs++;
	pthread_mutex_unlock(&cache_lock);
	return c;
}

static void cache_put(cached *c)
{
	pthread_mutex_lock(&cache_lock);
	if (--c->refs == 0) {
		cached **p = &cache_head;
		while (*p != c)
			p = &(*p)->next;
		*p = c->next;
		pthread_mutex_destroy(&c->lock);
		free(c->id);
		free(c->token);
		free(c);
	}
	pthread_mutex_unlock(&cache_lock);
}

/* ---- setup ---- */

int dj_gcs__auth_new(dj_gcs_auth **out, const char *store, const char *token,
                     const char *credentials_file, const char *metadata_host, long timeout_ms,
                     dj_err *err)
{
	dj_gcs_auth *a = calloc(1, sizeof(*a));
	dj_buf id = DJ_BUF_INIT;
	const char *file = NULL;
	*out = NULL;
	if (!a)
		return nomem(err);
	a->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	if (!token)
		a->kind = DJ_GCS_AUTH_DEFAULT, file = credentials_file;
	else if (!strcmp(token, "anon"))
		a->kind = DJ_GCS_AUTH_ANON;
	else if (!strcmp(token, "google_default"))
		a->kind = DJ_GCS_AUTH_DEFAULT, file = credentials_file;
	else if (!strcmp(token, "cloud"))
		a->kind = DJ_GCS_AUTH_METADATA;
	else
		a->kind = DJ_GCS_AUTH_SERVICE_ACCOUNT,
		file = token; /* or authorized_user: read later */
	if (a->kind == DJ_GCS_AUTH_DEFAULT && file && *file)
		a->kind = DJ_GCS_AUTH_SERVICE_ACCOUNT; /* the file's "type" decides, when read */
	else if (a->kind == DJ_GCS_AUTH_DEFAULT && token)
		a->kind =
		    DJ_GCS_AUTH_METADATA; /* google_default without a file: the metadata server */
	if (!(a->store = strdup(store ? store : "?")) || (file && !(a->file = strdup(file))) ||
	    !(a->metadata_host =
	          strdup(metadata_host && *metadata_host ? metadata_host : DJ_GCS_METADATA_HOST)))
		goto oom;
	if (a->kind != DJ_GCS_AUTH_ANON) {
		if (dj_buf_addf(&id, "%d:%s", (int)a->kind, a->file ? a->file : a->metadata_host) <
		        0 ||
		    !(a->c = cache_get(id.ptr)))
			goto oom;
	}
	dj_buf_dispose(&id);
	*out = a;
	return 0;
oom:
	dj_buf_dispose(&id);
	dj_gcs__auth_free(a);
	return nomem(err);
}

void dj_gcs__auth_free(dj_gcs_auth *a)
{
	if (!a)
		return;
	if (a->c)
		cache_put(a->c);
	free(a->store);
	free(a->file);
	free(a->metadata_host);
	free(a);
}

dj_gcs_auth_kind dj_gcs__auth_kind(const dj_gcs_auth *a)
{
	return a->kind;
}

/* ---- JWT ---- */

int dj_gcs__b64url(dj_buf *out, const void *p, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1, len;
	char *s;
	if (dj_buf_grow(out, cap) < 0)
		return DJ_ENOMEM;
	s = out->ptr + out->len;
	len = (size_t)EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	while (len && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++)
		s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	dj_buf_setlen(out, out->len + len);
	return 0;
}

static int b64url_json(dj_buf *out, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = s ? dj_gcs__b64url(out, s, strlen(s)) : DJ_ENOMEM;
	free(s);
	json_decref(j);
	return rc;
}

static int rs256(dj_buf *out, const char *pem, const char *msg, size_t n, dj_err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t len = 0;
	int rc = 0;
	if (!bio || !ctx)
		rc = nomem(err);
	else if (!pk || EVP_PKEY_base_id(pk) != EVP_PKEY_RSA)
		rc = dj_err_set(err, DJ_EUSAGE, "private_key is not a PEM RSA private key");
	else if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	         EVP_DigestSignUpdate(ctx, msg, n) != 1 ||
	         EVP_DigestSignFinal(ctx, NULL, &len) != 1 || !(sig = malloc(len)) ||
	         EVP_DigestSignFinal(ctx, sig, &len) != 1)
		rc = dj_err_set(err, DJ_ERROR, "cannot sign the token request with private_key");
	else if (dj_gcs__b64url(out, sig, len) < 0)
		rc = nomem(err);
	free(sig);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return rc;
}

int dj_gcs__jwt(dj_buf *out, const char *private_key_pem, const char *key_id,
                const char *client_email, const char *scope, const char *audience, int64_t iat,
                dj_err *err)
{
	json_t *head = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	json_t *claims =
	    json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", client_email, "scope", scope, "aud",
	              audience, "iat", (json_int_t)iat, "exp", (json_int_t)(iat + JWT_LIFETIME));
	size_t start = out->len;
	if (head && key_id && *key_id &&
	    json_object_set_new(head, "kid", json_string(key_id)) < 0) {
		json_decref(head);
		json_decref(claims);
		return nomem(err);
	}
	if (b64url_json(out, head) < 0 || dj_buf_addc(out, '.') < 0 || b64url_json(out, claims) < 0)
		return nomem(err);
	{
		/* the signature covers header.claims as written so far */
		size_t n = out->len - start;
		char *msg = malloc(n ? n : 1);
		int rc;
		if (!msg)
			return nomem(err);
		memcpy(msg, out->ptr + start, n);
		rc = dj_buf_addc(out, '.') < 0 ? nomem(err)
		                               : rs256(out, private_key_pem, msg, n, err);
		free(msg);
		return rc;
	}
}

/* ---- one grant ---- */

typedef struct grant {
	dj_buf body;
	long status;
	int curl_code;
	char curl_msg[CURL_ERROR_SIZE];
} grant;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	dj_buf *b = ud;
	size_t n = size * nmemb;
	if (b->len + n > MAX_TOKEN_BODY || dj_buf_add(b, p, n) < 0)
		return 0;
	return n;
}

/* One attempt: POST `form` to url (form NULL: GET with Metadata-Flavor). */
static void grant_once(grant *g, const char *url, const char *form, long timeout_ms)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	dj_buf_reset(&g->body);
	g->status = 0;
	g->curl_msg[0] = '\0';
	if (!e) {
		g->curl_code = CURLE_OUT_OF_MEMORY;
		return;
	}
	h = curl_slist_append(h, form ? "Content-Type: application/x-www-form-urlencoded"
	                              : "Metadata-Flavor: Google");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 3 * timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &g->body);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, g->curl_msg);
	if (form)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, form);
	g->curl_code = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &g->status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
}

static bool unreachable(int code)
{
	return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_CONNECT ||
	       code == CURLE_OPERATION_TIMEDOUT;
}

/*
 * Run the grant with retries on transport failures and 5xx, then take access_token and
 * expires_in from the answer. `probe`: one short attempt, and an unreachable server is
 * DJ_ENOTFOUND without a message (token unset: fall back to anonymous).
 */
static int run_grant(dj_gcs_auth *a, const char *url, const char *form, const char *key, bool probe,
                     dj_err *err)
{
	grant g = {DJ_BUF_INIT, 0, 0, {0}};
	json_t *j = NULL, *tok, *exp;
	int rc = 0;
	for (int i = 0; i < (probe ? 1 : GRANT_ATTEMPTS); i++) {
		if (i) {
			struct timespec ts = {0, 200000000L << (i - 1)};
			nanosleep(&ts, NULL);
		}
		grant_once(&g, url, form,
		           probe && a->timeout_ms > METADATA_PROBE_MS ? METADATA_PROBE_MS
		                                                      : a->timeout_ms);
		if (g.curl_code == CURLE_OK && g.status < 500)
			break;
	}
	if (probe && unreachable(g.curl_code)) {
		rc = DJ_ENOTFOUND;
		goto done;
	}
	if (g.curl_code != CURLE_OK) {
		rc = dj_err_set(err, DJ_ETRANSIENT, "store '%s': no access token for '%s': %s (%s)",
		                a->store, key,
		                g.curl_msg[0] ? g.curl_msg : curl_easy_strerror(g.curl_code), url);
		goto done;
	}
	j = g.body.len ? json_loadb(g.body.ptr, g.body.len, 0, NULL) : NULL;
	if (g.status != 200) {
		const char *code = json_string_value(json_object_get(j, "error"));
		const char *desc = json_string_value(json_object_get(j, "error_description"));
		rc = dj_err_set(err, g.status >= 500 ? DJ_ETRANSIENT : DJ_EUSAGE,
		                "store '%s': authentication failed: %s%s%s%s for '%s' (HTTP %ld "
		                "from %s)",
		                a->store, code ? code : "token refused", desc ? " (" : "",
		                desc ? desc : "", desc ? ")" : "", key, g.status, url);
		goto done;
	}
	tok = json_object_get(j, "access_token");
	exp = json_object_get(j, "expires_in");
	if (!json_is_string(tok) || !json_string_length(tok) || (exp && !json_is_integer(exp))) {
		rc = dj_err_set(err, DJ_EUSAGE,
		                "store '%s': authentication failed: no access_token in the answer "
		                "of %s",
		                a->store, url);
		goto done;
	}
	free(a->c->token);
	if (!(a->c->token = strdup(json_string_value(tok)))) {
		rc = nomem(err);
		goto done;
	}
	a->c->fetched_at = now_s();
	a->c->refresh_at =
	    now_s() + dj_gcs__refresh_after(exp ? (int64_t)json_integer_value(exp) : 3600);
done:
	json_decref(j);
	dj_buf_dispose(&g.body);
	return rc;
}

/* ---- key files ---- */

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* form field "&name=value", value URL-encoded */
static int form_add(dj_buf *b, const char *name, const char *value)
{
	char *v = curl_easy_escape(NULL, value, 0);
	int rc = v ? dj_buf_addf(b, "%s%s=%s", b->len ? "&" : "", name, v) : DJ_ENOMEM;
	curl_free(v);
	return rc;
}

static int bad_file(dj_gcs_auth *a, const char *key, const char *why, dj_err *err)
{
	return dj_err_set(err, DJ_EUSAGE,
	                  "store '%s': authentication failed: key file '%s' %s (for '%s')",
	                  a->store, a->file, why, key);
}

static int missing_field(dj_gcs_auth *a, const char *key, const char *type, const char *field,
                         dj_err *err)
{
	char why[160];
	snprintf(why, sizeof(why), "(%s) has no %s", type, field);
	return bad_file(a, key, why, err);
}

static int service_account(dj_gcs_auth *a, const json_t *j, const char *key, dj_err *err)
{
	const char *email = jstr(j, "client_email"), *pem = jstr(j, "private_key");
	const char *uri = jstr(j, "token_uri");
	dj_buf jwt = DJ_BUF_INIT, form = DJ_BUF_INIT;
	int rc;
	if (!email || !pem)
		return missing_field(a, key, "service_account",
		                     email ? "private_key" : "client_email", err);
	uri = uri && *uri ? uri : DJ_GCS_DEFAULT_TOKEN_URI;
	if ((rc = dj_gcs__jwt(&jwt, pem, jstr(j, "private_key_id"), email, DJ_GCS_SCOPE, uri,
	                      now_s(), err)) < 0) {
		if (rc == DJ_EUSAGE) { /* an unreadable key: say which file, never quote it */
			dj_err_clear(err);
			rc = bad_file(a, key, "has a private_key OpenSSL cannot read", err);
		}
	} else if (form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer") <
	               0 ||
	           form_add(&form, "assertion", jwt.ptr) < 0) {
		rc = nomem(err);
	} else {
		rc = run_grant(a, uri, form.ptr, key, false, err);
	}
	dj_buf_dispose(&jwt);
	dj_buf_dispose(&form);
	return rc;
}

static int authorized_user(dj_gcs_auth *a, const json_t *j, const char *key, dj_err *err)
{
	static const char *const need[] = {"client_id", "client_secret", "refresh_token"};
	const char *uri = jstr(j, "token_uri");
	dj_buf form = DJ_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < 3; i++)
		if (!jstr(j, need[i]))
			return missing_field(a, key, "authorized_user", need[i], err);
	if (form_add(&form, "grant_type", "refresh_token") < 0 ||
	    form_add(&form, "client_id", jstr(j, "client_id")) < 0 ||
	    form_add(&form, "client_secret", jstr(j, "client_secret")) < 0 ||
	    form_add(&form, "refresh_token", jstr(j, "refresh_token")) < 0)
		rc = nomem(err);
	else
		rc = run_grant(a, uri && *uri ? uri : DJ_GCS_DEFAULT_TOKEN_URI, form.ptr, key,
		               false, err);
	dj_buf_dispose(&form);
	return rc;
}

/* Read the key file and run the grant its "type" asks for. */
static int from_file(dj_gcs_auth *a, const char *key, dj_err *err)
{
	json_error_t je;
	json_t *j;
	const char *type;
	int rc;
	FILE *f = fopen(a->file, "r");
	if (!f)
		return bad_file(a, key, errno == ENOENT ? "not found" : strerror(errno), err);
	j = json_loadf(f, 0, &je);
	fclose(f);
	if (!json_is_object(j)) {
		char why[300];
		snprintf(why, sizeof(why), "is not a JSON object (line %d: %s)", je.line,
		         j ? "not an object" : je.text);
		json_decref(j);
		return bad_file(a, key, why, err);
	}
	type = jstr(j, "type");
	if (type && !strcmp(type, "service_account"))
		rc = service_account(a, j, key, err);
	else if (type && !strcmp(type, "authorized_user"))
		rc = authorized_user(a, j, key, err);
	else
		rc = bad_file(
		    a, key, "is neither a service_account nor an authorized_user credential", err);
	json_decref(j);
	return rc;
}

static int from_metadata(dj_gcs_auth *a, const char *key, bool probe, dj_err *err)
{
	dj_buf url = DJ_BUF_INIT;
	int rc;
	if (dj_buf_addf(&url,
	                "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
	                a->metadata_host) < 0)
		return nomem(err);
	rc = run_grant(a, url.ptr, NULL, key, probe, err);
	if (rc == DJ_ETRANSIENT && !probe) {
		dj_err_clear(err);
		rc =
		    dj_err_set(err, DJ_EUSAGE,
		               "store '%s': authentication failed: no credentials for '%s': no key "
		               "file, and the metadata server %s did not answer",
		               a->store, key, a->metadata_host);
	}
	dj_buf_dispose(&url);
	return rc;
}

int dj_gcs__auth_token(dj_gcs_auth *a, const char *key, dj_buf *out, dj_err *err)
{
	int rc = 0;
	dj_buf_reset(out);
	if (a->kind == DJ_GCS_AUTH_ANON)
		return 0;
	pthread_mutex_lock(&a->c->lock);
	if (!a->c->anonymous && (!a->c->token || now_s() >= a->c->refresh_at)) {
		if (a->kind == DJ_GCS_AUTH_SERVICE_ACCOUNT)
			rc = from_file(a, key, err);
		else if (a->kind == DJ_GCS_AUTH_METADATA)
			rc = from_metadata(a, key, false, err);
		else if ((rc = from_metadata(a, key, true, err)) == DJ_ENOTFOUND)
			a->c->anonymous = true,
			rc = 0; /* as gcsfs: nothing answered, go anonymous */
	}
	if (rc == 0 && !a->c->anonymous && dj_buf_adds(out, a->c->token) < 0)
		rc = nomem(err);
	pthread_mutex_unlock(&a->c->lock);
	return rc;
}

bool dj_gcs__auth_invalidate(dj_gcs_auth *a)
{
	bool again = false;
	if (a->kind == DJ_GCS_AUTH_ANON)
		return false;
	pthread_mutex_lock(&a->c->lock);
	/* a token fetched moments ago is as good as a new one: refused, it stays refused */
	if (a->c->token && !a->c->anonymous && now_s() - a->c->fetched_at >= REFUSED_GRACE_S) {
		a->c->refresh_at = 0;
		again = true;
	}
	pthread_mutex_unlock(&a->c->lock);
	return again;
}
