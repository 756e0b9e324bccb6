/*
 * stores/: one suite, run against every backend: `file` in a temporary directory, `s3` against
 * the real S3 server of tests/services/s3rver.sh (DJ_TEST_S3_ENDPOINT, _ACCESS_KEY,
 * _SECRET_KEY, _BUCKET), `azure` against the Azurite of tests/services/azurite.sh
 * (DJ_TEST_AZURE_ACCOUNT, _KEY, _ENDPOINT, _CONTAINER; _CONNECTION_STRING when set is what the
 * store is opened with), `gcs` against the storage emulator of tests/services/gcs.sh
 * (DJ_TEST_GCS_ENDPOINT, _BUCKET, _KEYFILE: a service account whose tokens the server issues). Each
 * test gets a fresh store whose location is its own prefix djt_<pid>_<n>. Without a service's
 * variables its group is skipped, unless DJ_TEST_REQUIRE_SERVICES is set: then it fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "codecs/hash.h"
#include "stores/azure_internal.h"
#include "stores/paths.h"
#include "stores/store.h"
#include "tests/unit/vectors.h"

typedef enum backend { FILE_STORE, S3_STORE, AZURE_STORE, GCS_STORE } backend;

typedef struct fx {
	backend kind;
	dj_store *st;
	dj_store_spec spec;
	char location[1024];
	char name[32];
} fx;

static int test_no;

static const char *env(const char *n)
{
	const char *v = getenv(n);
	return v && *v ? v : NULL;
}

static bool s3_configured(void)
{
	return env("DJ_TEST_S3_ENDPOINT") && env("DJ_TEST_S3_ACCESS_KEY") &&
	       env("DJ_TEST_S3_SECRET_KEY") && env("DJ_TEST_S3_BUCKET");
}

static bool azure_configured(void)
{
	return env("DJ_TEST_AZURE_ACCOUNT") && env("DJ_TEST_AZURE_KEY") &&
	       env("DJ_TEST_AZURE_ENDPOINT") && env("DJ_TEST_AZURE_CONTAINER");
}

static bool gcs_configured(void)
{
	return env("DJ_TEST_GCS_ENDPOINT") && env("DJ_TEST_GCS_BUCKET") &&
	       env("DJ_TEST_GCS_KEYFILE");
}

/* As the runner opens a gcs store with STORAGE_EMULATOR_HOST set: the endpoint in the spec. */
static void gcs_spec(dj_store_spec *spec, const char *name, const char *location)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = (char *)name;
	spec->protocol = "gcs";
	spec->endpoint = (char *)env("DJ_TEST_GCS_ENDPOINT");
	spec->bucket = (char *)env("DJ_TEST_GCS_BUCKET");
	spec->token = (char *)env("DJ_TEST_GCS_KEYFILE");
	spec->location = (char *)location;
	spec->token_length = 8;
}

/* As a user configures Azurite: a connection string with a BlobEndpoint, when there is one. */
static void azure_spec(dj_store_spec *spec, const char *name, const char *location)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = (char *)name;
	spec->protocol = "azure";
	spec->container = (char *)env("DJ_TEST_AZURE_CONTAINER");
	spec->connection_string = (char *)env("DJ_TEST_AZURE_CONNECTION_STRING");
	if (!spec->connection_string) {
		spec->account_name = (char *)env("DJ_TEST_AZURE_ACCOUNT");
		spec->account_key = (char *)env("DJ_TEST_AZURE_KEY");
		spec->endpoint = (char *)env("DJ_TEST_AZURE_ENDPOINT");
	}
	spec->location = (char *)location;
	spec->token_length = 8;
}

static void s3_spec(dj_store_spec *spec, const char *name, const char *location)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = (char *)name;
	spec->protocol = "s3";
	spec->endpoint = (char *)env("DJ_TEST_S3_ENDPOINT");
	spec->bucket = (char *)env("DJ_TEST_S3_BUCKET");
	spec->access_key = (char *)env("DJ_TEST_S3_ACCESS_KEY");
	spec->secret_key = (char *)env("DJ_TEST_S3_SECRET_KEY");
	spec->location = (char *)location;
	spec->secure = false;
	spec->token_length = 8;
}

static void open_or_fail(fx *f)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_store_open(&f->st, &f->spec, &err) != 0)
		fail_msg("open %s: %s", f->name, err.msg);
}

static int setup_file(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	char cmd[2200];
	snprintf(f->location, sizeof(f->location), "%s/djt_%ld_%d", dj_test_tmpdir(),
	         (long)getpid(), ++test_no);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", f->location);
	if (system(cmd) != 0)
		fail_msg("cannot create %s", f->location);
	strcpy(f->name, "filetest");
	f->spec.name = f->name;
	f->spec.protocol = "file";
	f->spec.location = f->location;
	open_or_fail(f);
	*state = f;
	return 0;
}

static int setup_s3(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	f->kind = S3_STORE;
	snprintf(f->location, sizeof(f->location), "djt_%ld_%d", (long)getpid(), ++test_no);
	strcpy(f->name, "s3test");
	s3_spec(&f->spec, f->name, f->location);
	open_or_fail(f);
	*state = f;
	return 0;
}

static int setup_azure(void **state)
{
	static bool container_ready;
	fx *f = calloc(1, sizeof(*f));
	dj_err err = DJ_ERR_INIT;
	f->kind = AZURE_STORE;
	snprintf(f->location, sizeof(f->location), "djt_%ld_%d", (long)getpid(), ++test_no);
	strcpy(f->name, "aztest");
	azure_spec(&f->spec, f->name, f->location);
	open_or_fail(f);
	/* djrun never creates containers; tests do (tests/services/azurite.sh did too) */
	if (!container_ready && dj_azure__create_container(f->st, &err) != 0)
		fail_msg("container: %s", err.msg);
	container_ready = true;
	*state = f;
	return 0;
}

static int setup_gcs(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	f->kind = GCS_STORE;
	snprintf(f->location, sizeof(f->location), "djt_%ld_%d", (long)getpid(), ++test_no);
	strcpy(f->name, "gcstest");
	gcs_spec(&f->spec, f->name, f->location);
	open_or_fail(f);
	*state = f;
	return 0;
}

/* ---- helpers ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct keylist {
	char **v;
	uint64_t *size;
	size_t n, cap;
} keylist;

static int collect(const dj_store_entry *e, void *payload)
{
	keylist *k = payload;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 64;
		k->v = realloc(k->v, k->cap * sizeof(*k->v));
		k->size = realloc(k->size, k->cap * sizeof(*k->size));
	}
	k->size[k->n] = e->size;
	k->v[k->n++] = strdup(e->key);
	return 0;
}

static void keylist_free(keylist *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	free(k->size);
	memset(k, 0, sizeof(*k));
}

static void list_ok(dj_store *st, const char *prefix, keylist *k)
{
	dj_err err = DJ_ERR_INIT;
	keylist_free(k);
	if (dj_store_list(st, prefix, collect, k, &err) != 0)
		fail_msg("list '%s': %s", prefix, err.msg);
}

static int teardown(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	keylist k = {0};
	if (f->kind != FILE_STORE && dj_store_list(f->st, "", collect, &k, &err) == 0 && k.n)
		dj_store_remove_many(f->st, (const char *const *)k.v, k.n, &err);
	keylist_free(&k);
	dj_store_close(f->st);
	if (f->kind == FILE_STORE) {
		char cmd[2200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->location);
		if (system(cmd) != 0)
			fail_msg("cannot remove %s", f->location);
	}
	free(f);
	return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
}

static void put_ok(dj_store *st, const char *key, const void *p, size_t n)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_store_put(st, key, p, n, 0, &err) != 0)
		fail_msg("put '%s': %s", key, err.msg);
}

static void get_eq(dj_store *st, const char *key, const void *p, size_t n)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	if (dj_store_get(st, key, &b, &err) != 0)
		fail_msg("get '%s': %s", key, err.msg);
	if (b.len != n || memcmp(b.ptr, p, n) != 0)
		fail_msg("get '%s': %zu bytes differ from the %zu put", key, b.len, n);
	dj_buf_dispose(&b);
}

static void range_eq(dj_store *st, const char *key, uint64_t off, size_t n, const uint8_t *all,
                     size_t size)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	size_t want = off >= size ? 0 : size - (size_t)off;
	if (n && n < want)
		want = n;
	dj_buf_adds(&b, "pre"); /* get_range appends */
	if (dj_store_get_range(st, key, off, n, &b, &err) != 0)
		fail_msg("get_range '%s' %llu+%zu: %s", key, (unsigned long long)off, n, err.msg);
	if (b.len != want + 3 || memcmp(b.ptr, "pre", 3) ||
	    (want && memcmp(b.ptr + 3, all + off, want)))
		fail_msg("get_range '%s' %llu+%zu: got %zu bytes, want %zu", key,
		         (unsigned long long)off, n, b.len - 3, want);
	dj_buf_dispose(&b);
}

/* ---- the suite ---- */

static void round_trip(void **state)
{
	fx *f = *state;
	uint8_t bin[256 * 4], big[300000];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i % 256);
	fill(big, sizeof(big), 7);
	put_ok(f->st, "rt/bytes.bin", bin, sizeof(bin));
	get_eq(f->st, "rt/bytes.bin", bin, sizeof(bin));
	put_ok(f->st, "rt/big", big, sizeof(big));
	get_eq(f->st, "rt/big", big, sizeof(big));
	/* without DJ_STORE_IF_ABSENT an object is replaced */
	put_ok(f->st, "rt/bytes.bin", big, 1000);
	get_eq(f->st, "rt/bytes.bin", big, 1000);
	put_ok(f->st, "rt/empty", "", 0);
	get_eq(f->st, "rt/empty", "", 0);
}

static void get_range(void **state)
{
	fx *f = *state;
	uint8_t d[1000];
	fill(d, sizeof(d), 3);
	put_ok(f->st, "r/obj", d, sizeof(d));
	range_eq(f->st, "r/obj", 0, 10, d, sizeof(d));
	range_eq(f->st, "r/obj", 500, 1, d, sizeof(d));
	range_eq(f->st, "r/obj", 990, 100, d, sizeof(d)); /* short at the end */
	range_eq(f->st, "r/obj", 10, 0, d, sizeof(d));    /* to the end */
	range_eq(f->st, "r/obj", 1000, 5, d, sizeof(d));  /* at the end: nothing */
	range_eq(f->st, "r/obj", 5000, 5, d, sizeof(d));  /* past it: nothing */
}

static void head(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	dj_store_stat s;
	time_t now = time(NULL);
	put_ok(f->st, "h/dir/obj", "12345", 5);
	assert_int_equal(dj_store_head(f->st, "h/dir/obj", &s, &err), 0);
	assert_true(s.exists);
	assert_false(s.is_dir);
	assert_int_equal(s.size, 5);
	assert_true(s.mtime > now - 3600 && s.mtime < now + 3600);
	assert_int_equal(dj_store_head(f->st, "h/dir", &s, &err), 0);
	assert_true(s.exists && s.is_dir);
	assert_int_equal(dj_store_head(f->st, "h/di", &s, &err), 0);
	assert_false(s.exists);
	assert_int_equal(dj_store_head(f->st, "h/nothing/here", &s, &err), 0);
	assert_false(s.exists);
	assert_int_equal(err.code, 0);
}

typedef struct sized_key {
	char *key;
	uint64_t size;
} sized_key;

static int cmp_sized(const void *a, const void *b)
{
	return strcmp(((const sized_key *)a)->key, ((const sized_key *)b)->key);
}

/*
 * The listing must hold exactly `want`, in byte order. s3rver walks its folders instead
 * (each folder's names sorted, so "a/b/1" comes before "a-b"): for s3 the order is checked
 * after sorting, which real S3 would not need.
 */
static void expect_keys(const fx *f, keylist *k, const char *const *want, size_t n)
{
	if (f->kind == S3_STORE && k->n > 1) {
		sized_key *v = malloc(k->n * sizeof(*v));
		for (size_t i = 0; i < k->n; i++)
			v[i] = (sized_key){k->v[i], k->size[i]};
		qsort(v, k->n, sizeof(*v), cmp_sized);
		for (size_t i = 0; i < k->n; i++)
			k->v[i] = v[i].key, k->size[i] = v[i].size;
		free(v);
	}
	for (size_t i = 0; i < n && i < k->n; i++)
		if (strcmp(k->v[i], want[i]) != 0)
			fail_msg("listing[%zu] = '%s', want '%s'", i, k->v[i], want[i]);
	if (k->n != n)
		fail_msg("listing has %zu keys, want %zu", k->n, n);
}

static int stop_at_two(const dj_store_entry *e, void *payload)
{
	(void)e;
	return ++*(int *)payload == 2 ? DJ_ESTOP : 0;
}

static void list_prefix(void **state)
{
	fx *f = *state;
	static const char *const all[] = {"a-b",  "a.b",     "a/b/1", "a/b/2",
	                                  "a/bc", "a/x/y/z", "a0",    "b"};
	static const char *const ab[] = {"a/b/1", "a/b/2", "a/bc"};
	dj_err err = DJ_ERR_INIT;
	keylist k = {0};
	int calls = 0;
	/* put in scrambled order; listings come back in byte order of the keys */
	for (size_t i = 0; i < 8; i++)
		put_ok(f->st, all[(i * 5) % 8], all[(i * 5) % 8], strlen(all[(i * 5) % 8]));
	list_ok(f->st, "", &k);
	expect_keys(f, &k, all, 8);
	assert_int_equal(k.size[2], strlen("a/b/1"));
	list_ok(f->st, "a/b", &k);
	expect_keys(f, &k, ab, 3);
	list_ok(f->st, "a/b/", &k);
	expect_keys(f, &k, ab, 2);
	list_ok(f->st, "zz", &k);
	expect_keys(f, &k, NULL, 0);
	list_ok(f->st, "no/such/dir/", &k);
	expect_keys(f, &k, NULL, 0);
	assert_int_equal(dj_store_list(f->st, "", stop_at_two, &calls, &err), DJ_ESTOP);
	assert_int_equal(calls, 2);
	assert_non_null(strstr(err.msg, "stopped"));
	keylist_free(&k);
}

/* One level, folders marked with a trailing '/', sorted: "a|b/|" */
static int note_level(const dj_store_entry *e, void *payload)
{
	keylist *k = payload;
	char name[512];
	snprintf(name, sizeof(name), "%s%s", e->key, e->is_dir ? "/" : "");
	if (e->is_dir)
		assert_int_equal(e->size, 0);
	dj_store_entry copy = *e;
	copy.key = name;
	return collect(&copy, k);
}

static void level_is(dj_store *st, const char *dir, const char *want)
{
	dj_err err = DJ_ERR_INIT;
	keylist k = {0};
	char got[2048] = "";
	if (dj_store_list_dir(st, dir, note_level, &k, &err) != 0)
		fail_msg("list_dir '%s': %s", dir, err.msg);
	if (k.n)
		qsort(k.v, k.n, sizeof(*k.v), cmp_str);
	for (size_t i = 0; i < k.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s|", k.v[i]);
	if (strcmp(got, want) != 0)
		fail_msg("list_dir '%s': '%s', want '%s'", dir, got, want);
	keylist_free(&k);
}

static void list_dir(void **state)
{
	fx *f = *state;
	static const char *const keys[] = {"ld/a",     "ld/b/c",   "ld/b/d/e",
	                                   "ld/x.y/z", "ld/q/r/s", "ldz"};
	for (size_t i = 0; i < 6; i++)
		put_ok(f->st, keys[i], "12345", 5);
	level_is(f->st, "", "ld/|ldz|");
	level_is(f->st, "ld/b", "ld/b/c|ld/b/d/|");
	level_is(f->st, "ld/b/d", "ld/b/d/e|");
	level_is(f->st, "ld/none", "");
	/* s3rver reports a common prefix only for a folder with an object directly in it: its
	 * walk does not descend below the delimiter (real S3, MinIO and Azurite do), so "ld/q"
	 * holding only "ld/q/r/s" is missing there */
	level_is(f->st, "ld",
	         f->kind == S3_STORE ? "ld/a|ld/b/|ld/x.y/|" : "ld/a|ld/b/|ld/q/|ld/x.y/|");
}

static void list_paging(void **state)
{
	fx *f = *state;
	enum { N = 1100 }; /* more than one ListObjectsV2 page and one DeleteObjects batch */
	char **keys = calloc(N, sizeof(*keys));
	dj_err err = DJ_ERR_INIT;
	keylist k = {0};
	for (int i = 0; i < N; i++) {
		keys[i] = malloc(32);
		snprintf(keys[i], 32, "many/k%05d", i);
		put_ok(f->st, keys[i], keys[i], 4);
	}
	put_ok(f->st, "manz", "x", 1);
	list_ok(f->st, "many/", &k);
	expect_keys(f, &k, (const char *const *)keys, N);
	assert_int_equal(dj_store_remove_many(f->st, (const char *const *)keys, N, &err), 0);
	list_ok(f->st, "", &k);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.v[0], "manz");
	keylist_free(&k);
	for (int i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
}

static void remove_objects(void **state)
{
	fx *f = *state;
	const char *const keys[] = {"rm/a", "rm/b", "rm/never-written"};
	dj_err err = DJ_ERR_INIT;
	dj_store_stat s;
	keylist k = {0};
	put_ok(f->st, "rm/a", "a", 1);
	put_ok(f->st, "rm/b", "b", 1);
	put_ok(f->st, "rm/c", "c", 1);
	assert_int_equal(dj_store_remove(f->st, "rm/c", &err), 0);
	assert_int_equal(dj_store_head(f->st, "rm/c", &s, &err), 0);
	assert_false(s.exists);
	assert_int_equal(dj_store_remove(f->st, "rm/c", &err), 0); /* already gone: fine */
	assert_int_equal(dj_store_remove_many(f->st, keys, 3, &err), 0);
	list_ok(f->st, "rm/", &k);
	assert_int_equal(k.n, 0);
	keylist_free(&k);
}

static void missing(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_store_get(f->st, "no/such/key", &b, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no/such/key"));
	assert_non_null(strstr(err.msg, f->name));
	dj_err_clear(&err);
	assert_int_equal(dj_store_get_range(f->st, "no/such/key", 0, 10, &b, &err), DJ_ENOTFOUND);
	assert_int_equal(b.len, 0);
	dj_buf_dispose(&b);
}

static void if_absent(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_store_put(f->st, "ia/obj", "first", 5, DJ_STORE_IF_ABSENT, &err), 0);
	assert_int_equal(dj_store_put(f->st, "ia/obj", "second", 6, DJ_STORE_IF_ABSENT, &err),
	                 DJ_EEXISTS);
	assert_non_null(strstr(err.msg, "ia/obj"));
	get_eq(f->st, "ia/obj", "first", 5);
	dj_err_clear(&err);
	/* a folder counts as present too on the file protocol (formats.md §5.2: "file or
	 * directory"); S3 and Azure have no folders to be in the way */
	put_ok(f->st, "ia/dir/x", "x", 1);
	if (f->kind == FILE_STORE)
		assert_int_equal(dj_store_put(f->st, "ia/dir", "y", 1, DJ_STORE_IF_ABSENT, &err),
		                 DJ_EEXISTS);
}

/* ---- cooperative writer: parts from two processes, out of order ---- */

#define PART (5u << 20) /* the S3 minimum */
#define NPARTS 4
#define TOTAL (3 * PART + 12345)

static uint8_t *writer_data(void)
{
	uint8_t *d = malloc(TOTAL);
	fill(d, TOTAL, 11);
	return d;
}

static size_t part_len(uint32_t n)
{
	return n < NPARTS ? PART : TOTAL - 3 * PART;
}

/* The child: its own store handle, the writer rebuilt from its four fields. */
static void child_parts(fx *f, const dj_store_writer *w, const uint8_t *d, int fd)
{
	dj_store *st = NULL;
	dj_store_writer w2 = DJ_STORE_WRITER_INIT;
	dj_err err = DJ_ERR_INIT;
	static const uint32_t mine[] = {4, 2};
	if (dj_store_open(&st, &f->spec, &err) < 0 ||
	    dj_store_writer_set(&w2, w->key, w->id, w->part_size, w->flags, &err) < 0)
		_exit(2);
	for (int i = 0; i < 2; i++) {
		dj_store_part p;
		uint32_t n = mine[i];
		if (dj_store_writer_part(st, &w2, n, d + (n - 1) * PART, part_len(n), &p, &err) <
		        0 ||
		    write(fd, &p, sizeof(p)) != sizeof(p))
			_exit(3);
	}
	dj_store_writer_dispose(&w2);
	dj_store_close(st);
	_exit(0);
}

static void writer_parts(void **state)
{
	fx *f = *state;
	uint8_t *d = writer_data();
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part parts[NPARTS];
	dj_err err = DJ_ERR_INIT;
	keylist k = {0};
	int pfd[2], status;
	pid_t pid;
	assert_int_equal(
	    dj_store_writer_create(f->st, "w/big.bin", PART, DJ_STORE_IF_ABSENT, &w, &err), 0);
	assert_non_null(w.id);
	assert_int_equal(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		child_parts(f, &w, d, pfd[1]);
	}
	close(pfd[1]);
	/* this process: parts 3 then 1; the child: 4 then 2 */
	assert_int_equal(dj_store_writer_part(f->st, &w, 3, d + 2 * PART, PART, &parts[0], &err),
	                 0);
	assert_int_equal(dj_store_writer_part(f->st, &w, 1, d, PART, &parts[1], &err), 0);
	assert_int_equal(read(pfd[0], &parts[2], sizeof(parts[2])), sizeof(parts[2]));
	assert_int_equal(read(pfd[0], &parts[3], sizeof(parts[3])), sizeof(parts[3]));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* nothing is visible before complete */
	list_ok(f->st, "w/", &k);
	for (size_t i = 0; i < k.n; i++)
		assert_string_not_equal(k.v[i], "w/big.bin");
	if (dj_store_writer_complete(f->st, &w, parts, NPARTS, &err) != 0)
		fail_msg("complete: %s", err.msg);
	get_eq(f->st, "w/big.bin", d, TOTAL);
	range_eq(f->st, "w/big.bin", PART - 7, 20, d, TOTAL);       /* across a part seam */
	range_eq(f->st, "w/big.bin", PART / 2, 2 * PART, d, TOTAL); /* several chunks */
	range_eq(f->st, "w/big.bin", 3 * PART - 1, 0, d, TOTAL);    /* to the end */
	dj_store_writer_dispose(&w);
	/* if-absent: the object exists now */
	assert_int_equal(
	    dj_store_writer_create(f->st, "w/big.bin", PART, DJ_STORE_IF_ABSENT, &w, &err),
	    DJ_EEXISTS);
	keylist_free(&k);
	free(d);
}

static void writer_misuse(void **state)
{
	fx *f = *state;
	uint8_t *d = writer_data();
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part parts[2];
	dj_store_stat s;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_store_writer_create(f->st, "wm/obj", PART, 0, &w, &err), 0);
	assert_int_equal(dj_store_writer_part(f->st, &w, 1, d, PART, &parts[0], &err), 0);
	assert_int_equal(dj_store_writer_part(f->st, &w, 3, d, 10, &parts[1], &err), 0);
	/* part 2 missing: refused, nothing published */
	assert_int_equal(dj_store_writer_complete(f->st, &w, parts, 2, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "part 2"));
	dj_err_clear(&err);
	assert_int_equal(dj_store_writer_part(f->st, &w, 1, d, PART + 1, &parts[0], &err),
	                 DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_store_writer_abort(f->st, &w, &err), 0);
	assert_int_equal(dj_store_head(f->st, "wm/obj", &s, &err), 0);
	assert_false(s.exists);
	dj_store_writer_dispose(&w);
	free(d);
}

static void large_objects(void **state)
{
	fx *f = *state;
	size_t n = 20u * 1024 * 1024 + 3; /* s3: over the multipart threshold, several ranges */
	uint8_t *d = malloc(n);
	char path[1100];
	dj_err err = DJ_ERR_INIT;
	FILE *fp;
	fill(d, n, 5);
	put_ok(f->st, "large/mem", d, n);
	get_eq(f->st, "large/mem", d, n);
	range_eq(f->st, "large/mem", (8u << 20) - 5, 20, d, n);
	range_eq(f->st, "large/mem", 7u << 20, 3u << 20, d, n);
	snprintf(path, sizeof(path), "%s/large-src-%d", dj_test_tmpdir(), test_no);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(d, 1, n, fp), n);
	fclose(fp);
	if (dj_store_put_file(f->st, "large/file", path, 0, &err) != 0)
		fail_msg("put_file: %s", err.msg);
	get_eq(f->st, "large/file", d, n);
	assert_int_equal(dj_store_put_file(f->st, "large/x", "/no/such/file", 0, &err),
	                 DJ_ENOTFOUND);
	unlink(path);
	free(d);
}

static void special_keys(void **state)
{
	fx *f = *state;
	static const char *const keys[] = {
	    "sp/a b/with space.bin",
	    "sp/plus+and=equals",
	    "sp/\"(x)*!~$,;:@[]{}",
	    "sp/pct%20not-escaped",
	    "sp/\xc3\xbc\xc3\xb1\xc3\xaf"
	    "c\xc3\xb6"
	    "d\xc3\xa9/\xe1\x88\xb4\xf0\x9f\x98\x80",
	    "sp/subject_id=42/session_date=2024-01-15/raw_AbC-_9xY.zarr",
	};
	/* XML-special characters: s3rver escapes them twice in listings, so only read and write
	 * them here; dj_s3__parse_list's decoding is unit-tested against S3's single escaping */
	static const char *const xml_keys[] = {"sx/O'Brien&Co", "sx/a<b>c", "sx/amp&amp;lt;"};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	const char *sorted[sizeof(keys) / sizeof(keys[0])];
	dj_err err = DJ_ERR_INIT;
	dj_store_stat s;
	keylist k = {0};
	for (size_t i = 0; i < n; i++) {
		put_ok(f->st, keys[i], keys[i], strlen(keys[i]));
		get_eq(f->st, keys[i], keys[i], strlen(keys[i]));
		assert_int_equal(dj_store_head(f->st, keys[i], &s, &err), 0);
		assert_true(s.exists);
		sorted[i] = keys[i];
	}
	for (size_t i = 0; i < n; i++) /* byte order */
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(sorted[j], sorted[i]) < 0) {
				const char *t = sorted[i];
				sorted[i] = sorted[j], sorted[j] = t;
			}
	list_ok(f->st, "sp/", &k);
	expect_keys(f, &k, sorted, n);
	list_ok(f->st, "sp/a b/", &k); /* a prefix with a space */
	assert_int_equal(k.n, 1);
	assert_int_equal(dj_store_remove_many(f->st, keys, n, &err), 0);
	list_ok(f->st, "sp/", &k);
	assert_int_equal(k.n, 0);
	for (size_t i = 0; i < 3; i++) {
		put_ok(f->st, xml_keys[i], xml_keys[i], strlen(xml_keys[i]));
		get_eq(f->st, xml_keys[i], xml_keys[i], strlen(xml_keys[i]));
		assert_int_equal(dj_store_head(f->st, xml_keys[i], &s, &err), 0);
		assert_true(s.exists);
	}
	assert_int_equal(dj_store_remove_many(f->st, xml_keys, 3, &err), 0); /* escaped in XML */
	for (size_t i = 0; i < 3; i++) {
		/* not head: for a missing key it lists "key/", and s3rver signs query values with
		 * encodeURIComponent, which leaves ' ( ) * ! unescaped (SignatureDoesNotMatch) */
		dj_buf b = DJ_BUF_INIT;
		assert_int_equal(dj_store_get(f->st, xml_keys[i], &b, &err), DJ_ENOTFOUND);
		dj_err_clear(&err);
		dj_buf_dispose(&b);
	}
	keylist_free(&k);
}

/* Every operation with this store must fail as an authentication error naming store and key. */
static void refused(dj_store *st, const char *code, const char *secret)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	dj_store_stat s;
	char want[256];
	snprintf(want, sizeof(want), "store 'badkey': authentication failed: %s", code);
	assert_int_equal(dj_store_put(st, "auth/x", "x", 1, 0, &err), DJ_EUSAGE);
	if (!strstr(err.msg, want) || !strstr(err.msg, "auth/x") || strstr(err.msg, secret))
		fail_msg("put: %s", err.msg);
	dj_err_clear(&err);
	assert_int_equal(dj_store_get(st, "auth/x", &b, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "authentication failed"));
	dj_err_clear(&err);
	assert_int_equal(dj_store_head(st, "auth/x", &s, &err), DJ_EUSAGE); /* HEAD: no body */
	assert_non_null(strstr(err.msg, "authentication failed"));
	dj_buf_dispose(&b);
}

static void bad_credentials(void **state)
{
	static const char wrong_b64[] = "d3Jvbmcta2V5LWZvci1kanJ1bi10ZXN0cw=="; /* base64, wrong */
	fx *f = *state;
	dj_store_spec spec;
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	char cs[1024];
	switch (f->kind) {
	case FILE_STORE:
		print_message("file protocol: no credentials to get wrong\n");
		return;
	case S3_STORE:
		s3_spec(&spec, "badkey", f->location);
		spec.secret_key = "not-the-secret";
		assert_int_equal(dj_store_open(&st, &spec, &err), 0);
		refused(st, "SignatureDoesNotMatch", "not-the-secret");
		dj_store_close(st);
		spec.access_key = "nobody";
		assert_int_equal(dj_store_open(&st, &spec, &err), 0);
		assert_int_equal(dj_store_put(st, "auth/x", "x", 1, 0, &err), DJ_EUSAGE);
		assert_non_null(strstr(err.msg, "InvalidAccessKeyId"));
		dj_store_close(st);
		return;
	case AZURE_STORE:
		azure_spec(&spec, "badkey", f->location);
		spec.connection_string = NULL;
		spec.account_name = (char *)env("DJ_TEST_AZURE_ACCOUNT");
		spec.account_key = (char *)wrong_b64;
		spec.endpoint = (char *)env("DJ_TEST_AZURE_ENDPOINT");
		assert_int_equal(dj_store_open(&st, &spec, &err), 0);
		refused(st, "AuthorizationFailure", wrong_b64);
		dj_store_close(st);
		/* the same wrong key in a connection string: the message never quotes it */
		snprintf(cs, sizeof(cs),
		         "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
		         "BlobEndpoint=%s",
		         env("DJ_TEST_AZURE_ACCOUNT"), wrong_b64, env("DJ_TEST_AZURE_ENDPOINT"));
		azure_spec(&spec, "badkey", f->location);
		spec.connection_string = cs;
		assert_int_equal(dj_store_open(&st, &spec, &err), 0);
		refused(st, "AuthorizationFailure", wrong_b64);
		dj_store_close(st);
		/* a key that is not base64 is refused before anything is sent */
		spec.connection_string = NULL;
		spec.account_name = (char *)env("DJ_TEST_AZURE_ACCOUNT");
		spec.account_key = "not base64!";
		spec.endpoint = (char *)env("DJ_TEST_AZURE_ENDPOINT");
		assert_int_equal(dj_store_open(&st, &spec, &err), 0);
		assert_int_equal(dj_store_put(st, "auth/x", "x", 1, 0, &err), DJ_EUSAGE);
		assert_non_null(strstr(err.msg, "account_key is not valid base64"));
		assert_null(strstr(err.msg, "not base64!"));
		dj_store_close(st);
		return;
	case GCS_STORE:
		/* the right account with another private key: the token endpoint refuses the JWT */
		gcs_spec(&spec, "badkey", f->location);
		spec.token = (char *)env("DJ_TEST_GCS_WRONG_KEYFILE");
		assert_int_equal(dj_store_open(&st, &spec, &err), 0);
		refused(st, "invalid_grant", "PRIVATE KEY");
		dj_store_close(st);
		/* no token at all on a bucket that needs one: the storage API refuses */
		spec.token = "anon";
		assert_int_equal(dj_store_open(&st, &spec, &err), 0);
		refused(st, "Invalid Credentials", "anon");
		dj_store_close(st);
		return;
	}
}

/* ---- the fixture pipeline's stores, mirrored through the store under test ---- */

typedef struct mirror {
	dj_store *src, *dst;
	const dj_store_spec *spec; /* the fixture store's path settings */
	size_t nhash;
} mirror;

/* Every hash object sits at dj_path_hash(schema, hash of its bytes) (formats.md §5.1). */
static void check_hash_path(const mirror *m, const char *key, const dj_buf *b)
{
	char h[DJ_HASH_LEN + 1], schema[128];
	dj_err err = DJ_ERR_INIT;
	dj_buf path = DJ_BUF_INIT;
	const char *s = key + strlen("_hash/"), *slash = strchr(s, '/');
	assert_non_null(slash);
	snprintf(schema, sizeof(schema), "%.*s", (int)(slash - s), s);
	assert_int_equal(dj_hash_bytes(b->ptr, b->len, h, &err), 0);
	assert_int_equal(dj_path_hash(&path, m->spec, schema, h, &err), 0);
	assert_string_equal(path.ptr, key);
	dj_buf_dispose(&path);
}

static int mirror_one(const dj_store_entry *e, void *payload)
{
	mirror *m = payload;
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	unsigned flags = 0;
	if (dj_store_get(m->src, e->key, &b, &err) != 0)
		fail_msg("fixture get '%s': %s", e->key, err.msg);
	if (!strncmp(e->key, "_hash/", 6)) {
		check_hash_path(m, e->key, &b);
		flags = DJ_STORE_IF_ABSENT;
		m->nhash++;
	}
	if (dj_store_put(m->dst, e->key, b.ptr, b.len, flags, &err) != 0)
		fail_msg("put '%s': %s", e->key, err.msg);
	if (flags && dj_store_put(m->dst, e->key, "", 0, flags, &err) != DJ_EEXISTS)
		fail_msg("'%s' was overwritten", e->key);
	get_eq(m->dst, e->key, b.ptr, b.len);
	dj_buf_dispose(&b);
	return 0;
}

static void mirror_fixture(fx *f, const char *tarball, const dj_store_spec *spec)
{
	char dir[1100], cmd[6000];
	dj_store_spec src_spec = *spec;
	mirror m = {NULL, f->st, spec, 0};
	dj_err err = DJ_ERR_INIT;
	keylist a = {0}, b = {0};
	snprintf(dir, sizeof(dir), "%s/fixture-%d", dj_test_tmpdir(), test_no);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && tar xzf '%s' -C '%s'", dir, dir,
	         dj_test_shared_path(tarball), dir);
	if (system(cmd) != 0)
		fail_msg("cannot unpack %s", tarball);
	src_spec.name = "fixture";
	src_spec.protocol = "file";
	src_spec.location = dir;
	if (dj_store_open(&m.src, &src_spec, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dj_store_list(m.src, "", mirror_one, &m, &err), 0);
	assert_true(m.nhash > 0);
	list_ok(m.src, "", &a);
	list_ok(f->st, "", &b);
	expect_keys(f, &b, (const char *const *)a.v, a.n);
	keylist_free(&a);
	keylist_free(&b);
	dj_store_close(m.src);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void fixture_main(void **state)
{
	dj_store_spec spec = {0}; /* fixtures/pipeline/datajoint.json "main": flat */
	mirror_fixture(*state, "fixtures/pipeline/store-main.tar.gz", &spec);
}

static void fixture_deep(void **state)
{
	int folds[] = {2, 2};
	dj_store_spec spec = {0}; /* "deep": subfolding [2, 2] */
	spec.subfolding = folds;
	spec.nsubfolding = 2;
	mirror_fixture(*state, "fixtures/pipeline/store-deep.tar.gz", &spec);
}

#define SUITE(setup)                                                                               \
	cmocka_unit_test_setup_teardown(round_trip, setup, teardown),                              \
	    cmocka_unit_test_setup_teardown(get_range, setup, teardown),                           \
	    cmocka_unit_test_setup_teardown(head, setup, teardown),                                \
	    cmocka_unit_test_setup_teardown(list_prefix, setup, teardown),                         \
	    cmocka_unit_test_setup_teardown(list_dir, setup, teardown),                            \
	    cmocka_unit_test_setup_teardown(list_paging, setup, teardown),                         \
	    cmocka_unit_test_setup_teardown(remove_objects, setup, teardown),                      \
	    cmocka_unit_test_setup_teardown(missing, setup, teardown),                             \
	    cmocka_unit_test_setup_teardown(if_absent, setup, teardown),                           \
	    cmocka_unit_test_setup_teardown(writer_parts, setup, teardown),                        \
	    cmocka_unit_test_setup_teardown(writer_misuse, setup, teardown),                       \
	    cmocka_unit_test_setup_teardown(large_objects, setup, teardown),                       \
	    cmocka_unit_test_setup_teardown(special_keys, setup, teardown),                        \
	    cmocka_unit_test_setup_teardown(bad_credentials, setup, teardown),                     \
	    cmocka_unit_test_setup_teardown(fixture_main, setup, teardown),                        \
	    cmocka_unit_test_setup_teardown(fixture_deep, setup, teardown)

int main(void)
{
	const struct CMUnitTest file_tests[] = {SUITE(setup_file)};
	const struct CMUnitTest s3_tests[] = {SUITE(setup_s3)};
	const struct CMUnitTest azure_tests[] = {SUITE(setup_azure)};
	const struct CMUnitTest gcs_tests[] = {SUITE(setup_gcs)};
	int rc = cmocka_run_group_tests_name("store-file", file_tests, NULL, NULL);
	if (s3_configured()) {
		rc |= cmocka_run_group_tests_name("store-s3", s3_tests, NULL, NULL);
	} else if (env("DJ_TEST_REQUIRE_SERVICES")) {
		fprintf(stderr,
		        "store-s3: DJ_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY and _BUCKET "
		        "are required (DJ_TEST_REQUIRE_SERVICES is set)\n");
		rc |= 1;
	} else {
		printf("store-s3: skipped (no DJ_TEST_S3_* variables; see "
		       "tests/services/s3rver.sh)\n");
	}
	if (azure_configured()) {
		rc |= cmocka_run_group_tests_name("store-azure", azure_tests, NULL, NULL);
	} else if (env("DJ_TEST_REQUIRE_SERVICES")) {
		fprintf(stderr,
		        "store-azure: DJ_TEST_AZURE_ACCOUNT, _KEY, _ENDPOINT and _CONTAINER are "
		        "required (DJ_TEST_REQUIRE_SERVICES is set)\n");
		rc |= 1;
	} else {
		printf("store-azure: skipped (no DJ_TEST_AZURE_* variables; see "
		       "tests/services/azurite.sh)\n");
	}
	if (gcs_configured()) {
		rc |= cmocka_run_group_tests_name("store-gcs", gcs_tests, NULL, NULL);
	} else if (env("DJ_TEST_REQUIRE_SERVICES")) {
		fprintf(stderr,
		        "store-gcs: DJ_TEST_GCS_ENDPOINT, _BUCKET and _KEYFILE are required "
		        "(DJ_TEST_REQUIRE_SERVICES is set)\n");
		rc |= 1;
	} else {
		printf(
		    "store-gcs: skipped (no DJ_TEST_GCS_* variables; see tests/services/gcs.sh)\n");
	}
	return rc;
}
