/*
 * The gcs backend beyond the shared suite (test_store_suite.c), against tests/services/gcs.sh:
 * every way to get a token (service account JWT, authorized_user refresh, metadata server,
 * google_default, token unset falling back to anonymous), tokens cached and refreshed, clear
 * errors for bad key files, compose in rounds (more than 32 parts) leaving no parts behind, and
 * server-side copies (objects.rewrite).
 * The server counts the grants it gave (/_djtest/grants) and sets token lifetimes
 * (/_djtest/ttl). Needs DJ_TEST_GCS_*; exits 77 without them unless DJ_TEST_REQUIRE_SERVICES.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "stores/store.h"
#include "tests/unit/vectors.h"

static char location[64];
static char keyfile[1100]; /* the service account with this run's own private_key_id */
static char kid[64], meta_host[128];

static const char *env(const char *n)
{
	const char *v = getenv(n);
	return v && *v ? v : NULL;
}

static dj_store_spec spec_with(const char *token, const char *bucket)
{
	dj_store_spec s;
	memset(&s, 0, sizeof(s));
	s.name = "gcsauth";
	s.protocol = "gcs";
	s.endpoint = (char *)env("DJ_TEST_GCS_ENDPOINT");
	s.bucket = (char *)(bucket ? bucket : env("DJ_TEST_GCS_BUCKET"));
	s.token = (char *)token;
	s.location = location;
	s.token_length = 8;
	return s;
}

static dj_store *open_spec(const dj_store_spec *s, const dj_store_opts *o)
{
	dj_store *st = NULL;
	dj_err err = DJ_ERR_INIT;
	if (dj_store_open_opts(&st, s, o, &err) != 0)
		fail_msg("open: %s", err.msg);
	return st;
}

/* How many grants of `kind` ("jwt", "refresh", "metadata") the server gave `client` (the JWT's
 * kid, the client_id, the metadata Host): other tests using the server meanwhile do not count. */
static long grants_to(const char *kind, const char *client)
{
	char cmd[768], out[512] = "";
	FILE *p;
	json_t *j;
	long n;
	snprintf(cmd, sizeof(cmd), "curl -sf '%s/_djtest/grants?kind=%s&client=%s'",
	         env("DJ_TEST_GCS_ENDPOINT"), kind, client);
	assert_non_null(p = popen(cmd, "r"));
	assert_true(fread(out, 1, sizeof(out) - 1, p) > 0);
	pclose(p);
	assert_non_null(j = json_loads(out, 0, NULL));
	n = (long)json_integer_value(json_object_get(j, "n"));
	json_decref(j);
	return n;
}

static long grants(const char *kind)
{
	return grants_to(kind, !strcmp(kind, "jwt")       ? kid
	                       : !strcmp(kind, "refresh") ? "djtest-client"
	                                                  : meta_host);
}

static void set_ttl(int seconds)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "curl -sf -o /dev/null -X POST '%s/_djtest/ttl?seconds=%d'",
	         env("DJ_TEST_GCS_ENDPOINT"), seconds);
	assert_int_equal(system(cmd), 0);
}

static void put_get(dj_store *st, const char *key)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	if (dj_store_put(st, key, key, strlen(key), 0, &err) != 0)
		fail_msg("put '%s': %s", key, err.msg);
	if (dj_store_get(st, key, &b, &err) != 0)
		fail_msg("get '%s': %s", key, err.msg);
	assert_int_equal(b.len, strlen(key));
	assert_memory_equal(b.ptr, key, b.len);
	dj_buf_dispose(&b);
}

/* put must fail with an authentication error whose message holds `want`. */
static void put_refused(dj_store *st, const char *want)
{
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_store_put(st, "auth/x", "x", 1, 0, &err), DJ_EUSAGE);
	if (!strstr(err.msg, "store 'gcsauth': authentication failed") || !strstr(err.msg, want) ||
	    !strstr(err.msg, "auth/x"))
		fail_msg("message: %s", err.msg);
}

static void service_account_token_shared_and_cached(void **state)
{
	(void)state;
	dj_store_spec s = spec_with(keyfile, NULL);
	dj_store *a = open_spec(&s, NULL), *b = open_spec(&s, NULL);
	long before = grants("jwt");
	char key[32];
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "sa/%d", i);
		put_get(i % 2 ? a : b, key);
	}
	/* twenty requests from two stores with the same key file: one grant */
	assert_int_equal(grants("jwt") - before, 1);
	dj_store_close(a);
	dj_store_close(b);
}

typedef struct worker {
	int id, failures;
} worker;

/* One store per thread (stores/store.h), all with the same key file: the cache is shared. */
static void *thread_puts(void *arg)
{
	worker *w = arg;
	dj_store_spec s = spec_with(keyfile, NULL);
	dj_store *st = NULL;
	dj_err err = DJ_ERR_INIT;
	char key[32];
	if (dj_store_open(&st, &s, &err) != 0)
		return w->failures++, NULL;
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "thr/%d/%d", w->id, i);
		if (dj_store_put(st, key, key, strlen(key), 0, &err) != 0)
			w->failures++;
	}
	dj_store_close(st);
	return NULL;
}

static void token_fetched_once_by_concurrent_threads(void **state)
{
	(void)state;
	enum { T = 6 };
	dj_store_spec s = spec_with(keyfile, NULL);
	dj_store *holder = open_spec(&s, NULL); /* keeps the cache entry alive for all threads */
	pthread_t th[T];
	worker w[T];
	long before = grants("jwt");
	for (int i = 0; i < T; i++) {
		w[i] = (worker){i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, thread_puts, &w[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(grants("jwt") - before, 1);
	dj_store_close(holder);
}

static void token_refreshed_before_expiry(void **state)
{
	(void)state;
	dj_store_spec s = spec_with(keyfile, NULL);
	dj_store *st;
	long before;
	set_ttl(4); /* fetched again when half the lifetime is left: after 2 s */
	st = open_spec(&s, NULL);
	before = grants("jwt");
	put_get(st, "refresh/1");
	put_get(st, "refresh/2");
	assert_int_equal(grants("jwt") - before, 1);
	sleep(3);
	put_get(st, "refresh/3");
	assert_int_equal(grants("jwt") - before, 2);
	set_ttl(3600);
	dj_store_close(st);
}

static void revoked_token_fetched_again(void **state)
{
	(void)state;
	dj_store_spec s = spec_with(env("DJ_TEST_GCS_USERFILE"), NULL);
	dj_store *st = open_spec(&s, NULL);
	char cmd[512];
	long before = grants("refresh");
	put_get(st, "revoke/1");
	sleep(11); /* a token seconds old is not fetched again (it would be refused again) */
	snprintf(cmd, sizeof(cmd),
	         "curl -sf -o /dev/null -X POST '%s/_djtest/revoke?grant=refresh'",
	         env("DJ_TEST_GCS_ENDPOINT"));
	assert_int_equal(system(cmd), 0);
	put_get(st, "revoke/2"); /* 401, a new token, the same request again */
	assert_int_equal(grants("refresh") - before, 2);
	assert_int_equal(system(cmd), 0);
	{
		/* just refreshed: refused at once means refused for good */
		dj_err err = DJ_ERR_INIT;
		assert_int_equal(dj_store_put(st, "revoke/3", "x", 1, 0, &err), DJ_EUSAGE);
		assert_non_null(strstr(err.msg, "authentication failed: Invalid Credentials"));
	}
	dj_store_close(st);
}

static void authorized_user_refresh_grant(void **state)
{
	(void)state;
	dj_store_spec s = spec_with(env("DJ_TEST_GCS_USERFILE"), NULL);
	dj_store *st = open_spec(&s, NULL);
	long before = grants("refresh");
	put_get(st, "user/a");
	put_get(st, "user/b");
	assert_int_equal(grants("refresh") - before, 1);
	dj_store_close(st);
}

static void metadata_server(void **state)
{
	(void)state;
	dj_store_spec s = spec_with("cloud", NULL);
	dj_store *st;
	long before = grants("metadata");
	s.metadata_host = meta_host;
	st = open_spec(&s, NULL);
	put_get(st, "meta/cloud");
	dj_store_close(st);
	/* google_default without a credentials file, and token unset: the metadata server too */
	s.token = "google_default";
	st = open_spec(&s, NULL);
	put_get(st, "meta/default");
	dj_store_close(st);
	s.token = NULL;
	st = open_spec(&s, NULL);
	put_get(st, "meta/unset");
	dj_store_close(st);
	assert_int_equal(grants("metadata") - before, 3);
	/* "cloud" with nobody answering: a clear error, not anonymous requests */
	s.token = "cloud";
	s.metadata_host = "127.0.0.1:1";
	st = open_spec(&s, NULL);
	put_refused(st, "the metadata server 127.0.0.1:1 did not answer");
	dj_store_close(st);
}

static void google_default_key_file(void **state)
{
	(void)state;
	dj_store_spec s = spec_with("google_default", NULL);
	dj_store *st;
	long before = grants("jwt");
	s.credentials_file = (char *)keyfile; /* GOOGLE_APPLICATION_CREDENTIALS */
	s.metadata_host = "127.0.0.1:1";
	st = open_spec(&s, NULL);
	put_get(st, "gd/x");
	assert_int_equal(grants("jwt") - before, 1);
	dj_store_close(st);
}

static void unset_token_falls_back_to_anonymous(void **state)
{
	(void)state;
	dj_store_spec s = spec_with(NULL, env("DJ_TEST_GCS_PUBLIC_BUCKET"));
	dj_store *st;
	s.metadata_host = "127.0.0.1:1"; /* no metadata server, no key file: as gcsfs, anonymous */
	st = open_spec(&s, NULL);
	put_get(st, "anon/x");
	dj_store_close(st);
	s.bucket = (char *)env("DJ_TEST_GCS_BUCKET"); /* a bucket that needs a token */
	st = open_spec(&s, NULL);
	put_refused(st, "Invalid Credentials");
	dj_store_close(st);
	s.token = "anon";
	st = open_spec(&s, NULL);
	put_refused(st, "Invalid Credentials");
	dj_store_close(st);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void bad_key_files(void **state)
{
	(void)state;
	char path[1100], json[1024];
	dj_store_spec s = spec_with("/no/such/key.json", NULL);
	dj_store *st = open_spec(&s, NULL);
	put_refused(st, "key file '/no/such/key.json' not found");
	dj_store_close(st);
	snprintf(path, sizeof(path), "%s/gcs-key-%d.json", dj_test_tmpdir(), (int)getpid());
	s.token = path;
	write_file(path, "{\"type\": \"service_account\", \"client_email\": ");
	st = open_spec(&s, NULL);
	put_refused(st, "is not a JSON object (line 1");
	dj_store_close(st);
	write_file(path, "{\"type\": \"external_account\"}");
	st = open_spec(&s, NULL);
	put_refused(st, "neither a service_account nor an authorized_user");
	dj_store_close(st);
	write_file(path, "{\"type\": \"service_account\", \"client_email\": \"a@b\"}");
	st = open_spec(&s, NULL);
	put_refused(st, "has no private_key");
	dj_store_close(st);
	write_file(path, "{\"type\": \"service_account\", \"client_email\": \"a@b\", "
	                 "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nS3CR3T\\n\"}");
	st = open_spec(&s, NULL);
	{
		dj_err err = DJ_ERR_INIT;
		assert_int_equal(dj_store_put(st, "auth/x", "x", 1, 0, &err), DJ_EUSAGE);
		assert_non_null(strstr(err.msg, "private_key OpenSSL cannot read"));
		assert_null(strstr(err.msg, "S3CR3T"));
	}
	dj_store_close(st);
	/* an authorized_user whose refresh token the server does not know */
	snprintf(json, sizeof(json),
	         "{\"type\": \"authorized_user\", \"client_id\": \"djtest-client\", "
	         "\"client_secret\": \"x\", \"refresh_token\": \"y\", \"token_uri\": \"%s/token\"}",
	         env("DJ_TEST_GCS_ENDPOINT"));
	write_file(path, json);
	st = open_spec(&s, NULL);
	put_refused(st, "invalid_client");
	dj_store_close(st);
	unlink(path);
}

typedef struct counter {
	size_t n;
} counter;

static int count(const dj_store_entry *e, void *payload)
{
	(void)e;
	((counter *)payload)->n++;
	return 0;
}

static size_t parts_left(dj_store *st)
{
	dj_err err = DJ_ERR_INIT;
	counter c = {0};
	assert_int_equal(dj_store_list(st, ".djrun-parts/", count, &c, &err), 0);
	return c.n;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
}

static void compose_in_rounds(void **state)
{
	(void)state;
	enum { PS = 4096, N = 40 * PS + 100 }; /* 41 parts: two composites, then the object */
	dj_store_spec s = spec_with(keyfile, NULL);
	dj_store_opts o = {0};
	uint8_t *d = malloc(N);
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	dj_store *st;
	o.part_size = PS;
	o.multipart_threshold = PS;
	st = open_spec(&s, &o);
	fill(d, N, 9);
	assert_int_equal(dj_store_put(st, "compose/obj", d, N, DJ_STORE_IF_ABSENT, &err), 0);
	assert_int_equal(dj_store_get(st, "compose/obj", &b, &err), 0); /* ranged: 41 chunks */
	assert_int_equal(b.len, N);
	assert_memory_equal(b.ptr, d, N);
	assert_int_equal(parts_left(st), 0);
	assert_int_equal(dj_store_put(st, "compose/obj", d, N, DJ_STORE_IF_ABSENT, &err),
	                 DJ_EEXISTS);
	dj_buf_dispose(&b);
	dj_store_close(st);
	free(d);
}

static void writer_many_parts_and_abort(void **state)
{
	(void)state;
	enum { PS = 1024, NP = 70 }; /* 70 parts: three composites, then the object */
	dj_store_spec s = spec_with(keyfile, NULL);
	dj_store *st = open_spec(&s, NULL);
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part *parts = calloc(NP, sizeof(*parts));
	uint8_t *d = malloc(NP * PS);
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	dj_store_stat stat;
	fill(d, NP * PS, 4);
	assert_int_equal(dj_store_writer_create(st, "wm/70", PS, DJ_STORE_IF_ABSENT, &w, &err), 0);
	for (uint32_t i = NP; i >= 1; i--) /* last part first */
		assert_int_equal(
		    dj_store_writer_part(st, &w, i, d + (i - 1) * PS, PS, &parts[NP - i], &err), 0);
	assert_int_equal(parts_left(st), NP);
	assert_int_equal(dj_store_head(st, "wm/70", &stat, &err), 0);
	assert_false(stat.exists);
	if (dj_store_writer_complete(st, &w, parts, NP, &err) != 0)
		fail_msg("complete: %s", err.msg);
	assert_int_equal(dj_store_get(st, "wm/70", &b, &err), 0);
	assert_int_equal(b.len, NP * PS);
	assert_memory_equal(b.ptr, d, NP * PS);
	assert_int_equal(parts_left(st), 0);
	dj_store_writer_dispose(&w);
	/* abort drops the parts written so far; nothing is published */
	assert_int_equal(dj_store_writer_create(st, "wm/aborted", PS, 0, &w, &err), 0);
	for (uint32_t i = 1; i <= 3; i++)
		assert_int_equal(dj_store_writer_part(st, &w, i, d, PS, &parts[i - 1], &err), 0);
	assert_int_equal(parts_left(st), 3);
	assert_int_equal(dj_store_writer_abort(st, &w, &err), 0);
	assert_int_equal(parts_left(st), 0);
	assert_int_equal(dj_store_head(st, "wm/aborted", &stat, &err), 0);
	assert_false(stat.exists);
	/* a forged upload id is refused before any request */
	free(w.id);
	w.id = strdup("../../etc");
	assert_int_equal(dj_store_writer_abort(st, &w, &err), DJ_EUSAGE);
	dj_store_writer_dispose(&w);
	dj_buf_dispose(&b);
	free(d);
	free(parts);
	dj_store_close(st);
}

static void server_side_copies(void **state)
{
	(void)state;
	dj_store_spec s = spec_with(keyfile, NULL);
	dj_store *st = open_spec(&s, NULL);
	const char *from[] = {"cp/a", "cp/missing", "cp/a", "cp/b"};
	const char *to[] = {"cp/a2", "cp/x", "cp/b", "cp/deep/b2"};
	int results[4];
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	put_get(st, "cp/a");
	put_get(st, "cp/b");
	assert_int_equal(dj_store_copy_many(st, from, to, 4, DJ_STORE_IF_ABSENT, results, &err), 0);
	assert_int_equal(results[0], 0);
	assert_int_equal(results[1], DJ_ENOTFOUND);
	assert_int_equal(results[2], DJ_EEXISTS); /* ifGenerationMatch=0 on the target */
	assert_int_equal(results[3], 0);
	assert_int_equal(dj_store_get(st, "cp/a2", &b, &err), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.ptr, "cp/a", 4);
	dj_buf_reset(&b);
	assert_int_equal(dj_store_get(st, "cp/b", &b, &err), 0); /* not overwritten */
	assert_memory_equal(b.ptr, "cp/b", 4);
	dj_buf_reset(&b);
	assert_int_equal(dj_store_get(st, "cp/deep/b2", &b, &err), 0);
	assert_memory_equal(b.ptr, "cp/b", 4);
	/* without the flag the target is replaced */
	assert_int_equal(dj_store_copy(st, "cp/a", "cp/b", 0, &err), 0);
	dj_buf_reset(&b);
	assert_int_equal(dj_store_get(st, "cp/b", &b, &err), 0);
	assert_memory_equal(b.ptr, "cp/a", 4);
	assert_int_equal(dj_store_copy(st, "cp/none", "cp/y", 0, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "cp/none"));
	dj_buf_dispose(&b);
	dj_store_close(st);
}

static int keys_of(const dj_store_entry *e, void *payload)
{
	char ***v = payload;
	size_t n = 0;
	while ((*v)[n])
		n++;
	*v = realloc(*v, (n + 2) * sizeof(**v));
	(*v)[n] = strdup(e->key);
	(*v)[n + 1] = NULL;
	return 0;
}

/* Everything this program wrote, in both buckets. */
static int cleanup(void **state)
{
	(void)state;
	const char *buckets[] = {env("DJ_TEST_GCS_BUCKET"), env("DJ_TEST_GCS_PUBLIC_BUCKET")};
	for (int i = 0; i < 2; i++) {
		dj_store_spec s = spec_with(i ? "anon" : keyfile, buckets[i]);
		dj_store *st = open_spec(&s, NULL);
		char **keys = calloc(1, sizeof(*keys));
		size_t n = 0;
		dj_err err = DJ_ERR_INIT;
		dj_store_list(st, "", keys_of, &keys, &err);
		while (keys[n])
			n++;
		dj_store_remove_many(st, (const char *const *)keys, n, &err);
		for (size_t k = 0; k < n; k++)
			free(keys[k]);
		free(keys);
		dj_store_close(st);
	}
	return 0;
}

/* The test server's service account with a private_key_id of this run's own. */
static int own_key_file(void)
{
	json_t *j = json_load_file(env("DJ_TEST_GCS_KEYFILE"), 0, NULL);
	int rc;
	snprintf(kid, sizeof(kid), "djgcs-%ld", (long)getpid());
	snprintf(keyfile, sizeof(keyfile), "%s/gcs-sa-%ld.json", dj_test_tmpdir(), (long)getpid());
	rc = j && json_object_set_new(j, "private_key_id", json_string(kid)) == 0 &&
	             json_dump_file(j, keyfile, 0) == 0
	         ? 0
	         : -1;
	if (rc < 0)
		fprintf(stderr, "cannot write %s\n", keyfile);
	json_decref(j);
	return rc;
}

int main(void)
{
	int rc;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(service_account_token_shared_and_cached),
	    cmocka_unit_test(token_fetched_once_by_concurrent_threads),
	    cmocka_unit_test(token_refreshed_before_expiry),
	    cmocka_unit_test(revoked_token_fetched_again),
	    cmocka_unit_test(authorized_user_refresh_grant),
	    cmocka_unit_test(metadata_server),
	    cmocka_unit_test(google_default_key_file),
	    cmocka_unit_test(unset_token_falls_back_to_anonymous),
	    cmocka_unit_test(bad_key_files),
	    cmocka_unit_test(compose_in_rounds),
	    cmocka_unit_test(writer_many_parts_and_abort),
	    cmocka_unit_test(server_side_copies),
	};
	if (!env("DJ_TEST_GCS_ENDPOINT") || !env("DJ_TEST_GCS_KEYFILE") ||
	    !env("DJ_TEST_GCS_USERFILE") || !env("DJ_TEST_GCS_PUBLIC_BUCKET") ||
	    !env("DJ_TEST_GCS_METADATA_HOST")) {
		if (env("DJ_TEST_REQUIRE_SERVICES")) {
			fprintf(stderr, "store-gcs: DJ_TEST_GCS_* variables are required "
			                "(DJ_TEST_REQUIRE_SERVICES is set)\n");
			return 1;
		}
		printf(
		    "store-gcs: skipped (no DJ_TEST_GCS_* variables; see tests/services/gcs.sh)\n");
		return 77;
	}
	snprintf(location, sizeof(location), "djgcs_%ld", (long)getpid());
	if (own_key_file() < 0)
		return 1;
	/* the metadata server under another name: its Host header tells our grants apart */
	snprintf(meta_host, sizeof(meta_host), "localhost%s",
	         strchr(env("DJ_TEST_GCS_METADATA_HOST"), ':'));
	rc = cmocka_run_group_tests_name("store-gcs-auth", tests, NULL, cleanup);
	unlink(keyfile);
	return rc;
}
