/*
 * The gcs backend's pure parts: the RS256 JWT of the service-account grant (verified here with
 * the public half of a key generated for the test), base64url, the refresh schedule, endpoint
 * parsing, the JSON API's answers and its error messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "stores/gcs_internal.h"

/* base64url (no padding) -> bytes */
static size_t unb64url(const char *s, size_t n, unsigned char *out)
{
	char buf[4096];
	size_t m = 0;
	int k;
	assert_true(n + 4 < sizeof(buf));
	for (size_t i = 0; i < n; i++)
		buf[m++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (m % 4)
		buf[m++] = '=';
	k = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)m);
	assert_true(k >= 0);
	return (size_t)k - (n % 4 == 2 ? 2 : n % 4 == 3 ? 1 : 0);
}

static json_t *segment_json(const char *s, size_t n)
{
	unsigned char raw[4096];
	size_t len = unb64url(s, n, raw);
	json_t *j = json_loadb((const char *)raw, len, 0, NULL);
	assert_non_null(j);
	return j;
}

static char *pem_of(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &p);
	s = strndup(p, (size_t)n);
	BIO_free(b);
	return s;
}

static bool verifies(EVP_PKEY *k, const char *msg, size_t n, const unsigned char *sig,
                     size_t siglen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k) == 1 &&
	          EVP_DigestVerify(c, sig, siglen, (const unsigned char *)msg, n) == 1;
	EVP_MD_CTX_free(c);
	return ok;
}

static void jwt_signed_with_the_key(void **state)
{
	(void)state;
	EVP_PKEY *k = EVP_RSA_gen(1024);
	char *pem = pem_of(k);
	dj_buf jwt = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	const char *d1, *d2;
	unsigned char sig[512];
	size_t siglen;
	json_t *h, *c;
	assert_int_equal(dj_gcs__jwt(&jwt, pem, "kid-1", "sa@p.iam.gserviceaccount.com",
	                             DJ_GCS_SCOPE, "https://oauth2.googleapis.com/token",
	                             1700000000, &err),
	                 0);
	assert_null(strpbrk(jwt.ptr, "+/= \n"));
	d1 = strchr(jwt.ptr, '.');
	assert_non_null(d1);
	d2 = strchr(d1 + 1, '.');
	assert_non_null(d2);
	h = segment_json(jwt.ptr, (size_t)(d1 - jwt.ptr));
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-1");
	c = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
	                    "sa@p.iam.gserviceaccount.com");
	assert_string_equal(json_string_value(json_object_get(c, "scope")),
	                    "https://www.googleapis.com/auth/devstorage.read_write");
	assert_string_equal(json_string_value(json_object_get(c, "aud")),
	                    "https://oauth2.googleapis.com/token");
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1700000000);
	assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1700003600);
	siglen = unb64url(d2 + 1, strlen(d2 + 1), sig);
	assert_int_equal(siglen, 128);
	assert_true(verifies(k, jwt.ptr, (size_t)(d2 - jwt.ptr), sig, siglen));
	/* another message does not verify: the signature covers header.claims */
	assert_false(verifies(k, jwt.ptr, (size_t)(d2 - jwt.ptr) - 1, sig, siglen));
	json_decref(h);
	json_decref(c);
	dj_buf_dispose(&jwt);
	free(pem);
	EVP_PKEY_free(k);
}

static void jwt_refuses_bad_keys(void **state)
{
	(void)state;
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	char *pem = pem_of(ec);
	dj_buf jwt = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(
	    dj_gcs__jwt(&jwt, "-----BEGIN PRIVATE KEY-----\nnope\n", NULL, "a", "s", "u", 1, &err),
	    DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "not a PEM RSA private key"));
	assert_null(strstr(err.msg, "nope"));
	dj_err_clear(&err);
	dj_buf_reset(&jwt);
	assert_int_equal(dj_gcs__jwt(&jwt, pem, NULL, "a", "s", "u", 1, &err), DJ_EUSAGE);
	dj_buf_dispose(&jwt);
	free(pem);
	EVP_PKEY_free(ec);
}

static void b64url_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} v[] = {{"", 0, ""},        {"f", 1, "Zg"},        {"fo", 2, "Zm8"},
	         {"foo", 3, "Zm9v"}, {"foob", 4, "Zm9vYg"}, {"\xfb\xff", 2, "-_8"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		dj_buf b = DJ_BUF_INIT;
		assert_int_equal(dj_gcs__b64url(&b, v[i].in, v[i].n), 0);
		assert_string_equal(b.len ? b.ptr : "", v[i].out);
		dj_buf_dispose(&b);
	}
}

static void refresh_schedule(void **state)
{
	(void)state;
	assert_int_equal(dj_gcs__refresh_after(3600), 3300); /* 5 minutes early */
	assert_int_equal(dj_gcs__refresh_after(300), 150);   /* short-lived: half-way */
	assert_int_equal(dj_gcs__refresh_after(4), 2);
}

static void endpoints(void **state)
{
	(void)state;
	static const char *const good[][2] = {
	    {"", "https://storage.googleapis.com"},
	    {"127.0.0.1:9023", "http://127.0.0.1:9023"},
	    {"http://localhost:4443/", "http://localhost:4443"},
	    {"https://storage.example.org", "https://storage.example.org"},
	};
	char *e;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_gcs__endpoint(&e, NULL, &err), 0);
	assert_string_equal(e, "https://storage.googleapis.com");
	free(e);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(dj_gcs__endpoint(&e, good[i][0], &err), 0);
		assert_string_equal(e, good[i][1]);
		free(e);
	}
	assert_int_equal(dj_gcs__endpoint(&e, "ftp://x", &err), DJ_EUSAGE);
	assert_null(e);
	dj_err_clear(&err);
	assert_int_equal(dj_gcs__endpoint(&e, "http://x/storage/v1", &err), DJ_EUSAGE);
	assert_null(e);
}

typedef struct seen {
	char text[512];
	int stop_at;
	int n;
} seen;

static int note(const char *name, uint64_t size, int64_t mtime, bool is_dir, void *payload)
{
	seen *s = payload;
	size_t len = strlen(s->text);
	snprintf(s->text + len, sizeof(s->text) - len, "%s%s:%llu:%lld|", is_dir ? "D " : "", name,
	         (unsigned long long)size, (long long)mtime);
	return ++s->n == s->stop_at ? DJ_ESTOP : 0;
}

static void list_pages(void **state)
{
	(void)state;
	const char *page =
	    "{\"kind\":\"storage#objects\",\"nextPageToken\":\"tok/1\",\"prefixes\":[\"loc/d/\"],"
	    "\"items\":[{\"name\":\"loc/a b\",\"size\":\"12\",\"updated\":"
	    "\"2026-11-21T21:07:14.000Z\"},{\"name\":\"loc/"
	    "\\u00fc\",\"size\":\"18446744073709551615\"}]}";
	seen s = {"", 0, 0};
	dj_buf next = DJ_BUF_INIT;
	assert_int_equal(dj_gcs__parse_list(page, strlen(page), note, &s, &next), 0);
	assert_string_equal(s.text, "loc/a b:12:1795295234|loc/\xc3\xbc:18446744073709551615:0|"
	                            "D loc/d/:0:0|");
	assert_string_equal(next.ptr, "tok/1");
	/* the last page: no token; an empty page has neither items nor prefixes */
	s = (seen){"", 0, 0};
	assert_int_equal(dj_gcs__parse_list("{\"kind\":\"storage#objects\"}", 26, note, &s, &next),
	                 0);
	assert_int_equal(next.len, 0);
	assert_int_equal(s.n, 0);
	/* the callback stops it */
	s = (seen){"", 1, 0};
	assert_int_equal(dj_gcs__parse_list(page, strlen(page), note, &s, &next), DJ_ESTOP);
	/* malformed pages */
	assert_int_equal(dj_gcs__parse_list("[1]", 3, note, &s, &next), DJ_EFORMAT);
	assert_int_equal(dj_gcs__parse_list("{\"items\":[{\"name\":\"x\"}]}", 24, note, &s, &next),
	                 DJ_EFORMAT);
	assert_int_equal(dj_gcs__parse_list("{\"items\":{}}", 12, note, &s, &next), DJ_EFORMAT);
	assert_int_equal(dj_gcs__parse_list("{\"items\":[", 10, note, &s, &next), DJ_EFORMAT);
	dj_buf_dispose(&next);
}

static void object_resource(void **state)
{
	(void)state;
	const char *o = "{\"name\":\"x\",\"size\":\"5\",\"updated\":\"2026-11-21T21:07:14.123Z\"}";
	uint64_t size;
	int64_t mtime;
	assert_int_equal(dj_gcs__parse_object(o, strlen(o), &size, &mtime), 0);
	assert_int_equal(size, 5);
	assert_int_equal(mtime, 1795295234);
	assert_int_equal(dj_gcs__parse_object("{\"size\":\"5x\"}", 13, &size, &mtime), DJ_EFORMAT);
	assert_int_equal(dj_gcs__parse_object("", 0, &size, &mtime), DJ_EFORMAT);
}

/* An answer as the engine leaves it, for http_error. */
static void answer(dj_http_req *r, long status, const char *key, const char *body)
{
	memset(r, 0, sizeof(*r));
	r->method = "GET";
	r->status = status;
	r->attempts = 1;
	dj_buf_adds(&r->key, key);
	dj_buf_adds(&r->resp, body);
}

static const char *gcs_error(long status, const char *key, const char *body, const char *gen,
                             int *code)
{
	static dj_err err;
	dj_gcs_store gs;
	dj_http_req r;
	memset(&gs, 0, sizeof(gs));
	strcpy(gs.base.name, "g");
	gs.bucket = "bkt";
	answer(&r, status, key, body);
	if (gen)
		r.query[r.nquery++] = (dj_http_param){"ifGenerationMatch", gen};
	dj_err_clear(&err);
	*code = dj_gcs__http_error(&gs, &r, "reading", key, &err);
	dj_buf_dispose(&r.key);
	dj_buf_dispose(&r.resp);
	return err.msg;
}

#define GCS_ERR(m, r)                                                                              \
	"{\"error\":{\"code\":" #r ",\"message\":\"" m "\",\"errors\":[{\"message\":\"" m          \
	"\",\"domain\":\"global\",\"reason\":\"x\"}]}}"

static void error_messages(void **state)
{
	(void)state;
	int code;
	assert_string_equal(
	    gcs_error(401, "loc/k", GCS_ERR("Invalid Credentials", 401), NULL, &code),
	    "store 'g': authentication failed: Invalid Credentials (check the "
	    "store's token) reading 'loc/k'");
	assert_int_equal(code, DJ_EUSAGE);
	assert_non_null(
	    strstr(gcs_error(403, "loc/k", GCS_ERR("sa does not have access", 403), NULL, &code),
	           "access denied: sa does not have access"));
	assert_int_equal(code, DJ_EUSAGE);
	assert_string_equal(gcs_error(404, "loc/k", "No such object: bkt/loc/k", NULL, &code),
	                    "store 'g': 'loc/k' not found");
	assert_int_equal(code, DJ_ENOTFOUND);
	assert_non_null(
	    strstr(gcs_error(404, "loc/k", GCS_ERR("The specified bucket does not exist.", 404),
	                     NULL, &code),
	           "bucket 'bkt' not found"));
	assert_int_equal(code, DJ_ENOTFOUND);
	assert_non_null(strstr(gcs_error(412, "loc/k", GCS_ERR("pre-conditions", 412), "0", &code),
	                       "already exists"));
	assert_int_equal(code, DJ_EEXISTS);
	assert_non_null(
	    strstr(gcs_error(412, "loc/k", "", "1795", &code), "changed while reading"));
	assert_int_equal(code, DJ_ECONFLICT);
	assert_non_null(strstr(gcs_error(503, "loc/k", GCS_ERR("Backend Error", 503), NULL, &code),
	                       "HTTP 503 x: Backend Error reading 'loc/k'"));
	assert_int_equal(code, DJ_ETRANSIENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(jwt_signed_with_the_key),
	    cmocka_unit_test(jwt_refuses_bad_keys),
	    cmocka_unit_test(b64url_vectors),
	    cmocka_unit_test(refresh_schedule),
	    cmocka_unit_test(endpoints),
	    cmocka_unit_test(list_pages),
	    cmocka_unit_test(object_resource),
	    cmocka_unit_test(error_messages),
	};
	return cmocka_run_group_tests_name("gcs", tests, NULL, NULL);
}
