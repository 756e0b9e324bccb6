/*
 * The store operations gc adds: dj_store_list_after (a listing resumed after a key: S3
 * start-after; the file store lists and skips) and dj_store_copy_many, the server-side copy gc
 * moves objects aside with: a file store in a
 * temporary directory, and the real S3 server (s3rver, DJ_TEST_S3_*: CopyObject signed with
 * SigV4). Results per key (copied, source missing, target present with DJ_STORE_IF_ABSENT), the
 * copied bytes, keys with '=' and spaces as schema sections have them, and replacement without
 * the flag. Without the S3 variables its group is skipped, unless DJ_TEST_REQUIRE_SERVICES is set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "stores/store.h"
#include "tests/unit/vectors.h"

static const char *env(const char *n)
{
	const char *v = getenv(n);
	return v && *v ? v : NULL;
}

typedef struct fx {
	dj_store *st;
	dj_store_spec spec;
	char location[1024];
	bool file;
} fx;

static int setup_file(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	dj_err err = DJ_ERR_INIT;
	snprintf(f->location, sizeof(f->location), "%s/djt_gccopy_%ld", dj_test_tmpdir(),
	         (long)getpid());
	mkdir(f->location, 0777);
	f->file = true;
	f->spec.name = "filecopy";
	f->spec.protocol = "file";
	f->spec.location = f->location;
	if (dj_store_open(&f->st, &f->spec, &err) != 0)
		fail_msg("open: %s", err.msg);
	*state = f;
	return 0;
}

static int setup_s3(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	dj_err err = DJ_ERR_INIT;
	snprintf(f->location, sizeof(f->location), "djt_gccopy_%ld", (long)getpid());
	f->spec.name = "s3copy";
	f->spec.protocol = "s3";
	f->spec.endpoint = (char *)env("DJ_TEST_S3_ENDPOINT");
	f->spec.bucket = (char *)env("DJ_TEST_S3_BUCKET");
	f->spec.access_key = (char *)env("DJ_TEST_S3_ACCESS_KEY");
	f->spec.secret_key = (char *)env("DJ_TEST_S3_SECRET_KEY");
	f->spec.location = f->location;
	if (dj_store_open(&f->st, &f->spec, &err) != 0)
		fail_msg("open: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	char cmd[1200];
	dj_store_close(f->st);
	if (f->file) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->location);
		if (system(cmd) != 0)
			return 1;
	}
	free(f);
	return 0;
}

static void put(dj_store *st, const char *key, const char *text)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_store_put(st, key, text, strlen(text), 0, &err) != 0)
		fail_msg("put %s: %s", key, err.msg);
}

static void expect(dj_store *st, const char *key, const char *text)
{
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (dj_store_get(st, key, &b, &err) != 0)
		fail_msg("get %s: %s", key, err.msg);
	assert_string_equal(b.ptr, text);
	dj_buf_dispose(&b);
}

static void absent(dj_store *st, const char *key)
{
	dj_store_stat s;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_store_head(st, key, &s, &err), 0);
	assert_false(s.exists);
}

static void copies(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	const char *a = "_schema/lab/t/k=1,j=x y/rates_XyZ98765.csv";
	const char *b = "_hash/lab/aaaaaaaaaaaaaaaaaaaaaaaaaa";
	put(f->st, a, "alpha");
	put(f->st, b, "beta");
	put(f->st, "_hash/lab/present", "old");
	const char *from[] = {a, b, "_hash/lab/missing", b};
	const char *to[] = {"trash/a.djrun-gc-trash", "_hash/lab/b2", "_hash/lab/m2",
	                    "_hash/lab/present"};
	int res[4] = {9, 9, 9, 9};
	assert_int_equal(dj_store_copy_many(f->st, from, to, 4, DJ_STORE_IF_ABSENT, res, &err), 0);
	assert_int_equal(res[0], 0);
	assert_int_equal(res[1], 0);
	assert_int_equal(res[2], DJ_ENOTFOUND);
	assert_int_equal(res[3], DJ_EEXISTS);
	expect(f->st, "trash/a.djrun-gc-trash", "alpha");
	expect(f->st, "_hash/lab/b2", "beta");
	expect(f->st, a, "alpha"); /* a copy leaves its source */
	expect(f->st, "_hash/lab/present", "old");
	absent(f->st, "_hash/lab/m2");
	/* without the flag an existing target is replaced; the copy back restores the name */
	assert_int_equal(dj_store_copy(f->st, b, "_hash/lab/present", 0, &err), 0);
	expect(f->st, "_hash/lab/present", "beta");
	assert_int_equal(dj_store_remove(f->st, a, &err), 0);
	assert_int_equal(dj_store_copy(f->st, "trash/a.djrun-gc-trash", a, DJ_STORE_IF_ABSENT, &err),
	                 0);
	expect(f->st, a, "alpha");
	assert_int_equal(dj_store_copy(f->st, "_hash/lab/gone", "_hash/lab/x", 0, &err),
	                 DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "_hash/lab/gone"));
	/* bad keys are refused before anything is tried, every result says so */
	const char *bad[] = {"../x", b};
	int r2[2] = {0, 0};
	assert_int_equal(dj_store_copy_many(f->st, bad, to, 2, 0, r2, &err), DJ_EUSAGE);
	assert_int_equal(r2[1], DJ_EUSAGE);
	/* a batch as gc sends it: 50 objects in parallel */
	const char *fk[50], *tk[50];
	char kb[50][64], tb[50][80];
	int r3[50];
	for (int i = 0; i < 50; i++) {
		snprintf(kb[i], sizeof(kb[i]), "_hash/lab/obj%02d", i);
		snprintf(tb[i], sizeof(tb[i]), "_hash/lab/obj%02d.djrun-gc-trash", i);
		put(f->st, kb[i], kb[i]);
		fk[i] = kb[i], tk[i] = tb[i];
	}
	assert_int_equal(dj_store_copy_many(f->st, fk, tk, 50, 0, r3, &err), 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(r3[i], 0);
		expect(f->st, tb[i], kb[i]);
	}
	/* clean up what the server keeps */
	const char *all[110];
	size_t n = 0;
	all[n++] = a, all[n++] = b, all[n++] = "_hash/lab/present", all[n++] = "_hash/lab/b2";
	all[n++] = "trash/a.djrun-gc-trash";
	for (int i = 0; i < 50; i++)
		all[n++] = fk[i], all[n++] = tk[i];
	assert_int_equal(dj_store_remove_many(f->st, all, n, &err), 0);
}

static int collect(const dj_store_entry *e, void *payload)
{
	dj_buf *b = payload;
	return dj_buf_addf(b, "%s;", e->key);
}

static void list_after(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	dj_buf got = DJ_BUF_INIT;
	const char *keys[] = {"s/a/1", "s/a/2", "s/a/3", "s/b/1", "s/b=2/x", "t/1"};
	for (size_t i = 0; i < 6; i++)
		put(f->st, keys[i], "x");
	assert_int_equal(dj_store_list_after(f->st, "s/", "s/a/2", collect, &got, &err), 0);
	assert_string_equal(got.ptr, "s/a/3;s/b/1;s/b=2/x;");
	dj_buf_reset(&got);
	assert_int_equal(dj_store_list_after(f->st, "s/", "s/b=2/x", collect, &got, &err), 0);
	assert_string_equal(got.ptr, "");
	assert_int_equal(dj_store_list_after(f->st, "s/", NULL, collect, &got, &err), 0);
	assert_string_equal(got.ptr, "s/a/1;s/a/2;s/a/3;s/b/1;s/b=2/x;");
	dj_buf_reset(&got);
	/* an `after` before the prefix lists the whole prefix */
	assert_int_equal(dj_store_list_after(f->st, "s/b", "a", collect, &got, &err), 0);
	assert_string_equal(got.ptr, "s/b/1;s/b=2/x;");
	assert_int_equal(dj_store_remove_many(f->st, keys, 6, &err), 0);
	dj_buf_dispose(&got);
}

int main(void)
{
	const struct CMUnitTest file_tests[] = {
		cmocka_unit_test_setup_teardown(copies, setup_file, teardown),
		cmocka_unit_test_setup_teardown(list_after, setup_file, teardown),
	};
	const struct CMUnitTest s3_tests[] = {
		cmocka_unit_test_setup_teardown(copies, setup_s3, teardown),
		cmocka_unit_test_setup_teardown(list_after, setup_s3, teardown),
	};
	int rc = cmocka_run_group_tests_name("gc-copy-file", file_tests, NULL, NULL);
	if (env("DJ_TEST_S3_ENDPOINT") && env("DJ_TEST_S3_ACCESS_KEY") &&
	    env("DJ_TEST_S3_SECRET_KEY") && env("DJ_TEST_S3_BUCKET")) {
		rc |= cmocka_run_group_tests_name("gc-copy-s3", s3_tests, NULL, NULL);
	} else if (env("DJ_TEST_REQUIRE_SERVICES")) {
		fprintf(stderr, "gc-copy-s3: DJ_TEST_S3_* are required (DJ_TEST_REQUIRE_SERVICES)\n");
		rc |= 1;
	} else {
		printf("gc-copy-s3: skipped (no DJ_TEST_S3_* variables)\n");
	}
	return rc;
}
