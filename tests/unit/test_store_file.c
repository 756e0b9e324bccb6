/*
 * stores/store.c and stores/file.c: the registry, the wrappers' checks and NULL slots, and what
 * only the file protocol can show (temporary names, byte-order walks, link-based if-absent).
 * The behaviour shared with s3 is tests/integration/test_store_suite.c.
 */
#include <dirent.h>
#include <regex.h>
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

static int test_no;

typedef struct fx {
	dj_store *st;
	dj_store_spec spec;
	char dir[1024];
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	dj_err err = DJ_ERR_INIT;
	char cmd[2100];
	snprintf(f->dir, sizeof(f->dir), "%s/file-%d", dj_test_tmpdir(), ++test_no);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	f->spec.name = "local";
	f->spec.protocol = "file";
	f->spec.location = f->dir;
	if (dj_store_open(&f->st, &f->spec, &err) != 0)
		fail_msg("%s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	dj_store_close(f->st);
	free(f);
	return 0;
}

static void put_ok(dj_store *st, const char *key, const char *s)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_store_put(st, key, s, strlen(s), 0, &err) != 0)
		fail_msg("put '%s': %s", key, err.msg);
}

static void get_is(dj_store *st, const char *key, const char *s)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	if (dj_store_get(st, key, &b, &err) != 0)
		fail_msg("get '%s': %s", key, err.msg);
	assert_string_equal(b.ptr, s);
	dj_buf_dispose(&b);
}

/* Names in `dir` (not recursive) matching `pattern`. */
static int count_names(const char *dir, const char *pattern)
{
	regex_t re;
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;
	assert_non_null(d);
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	while ((de = readdir(d)))
		n += regexec(&re, de->d_name, 0, NULL, 0) == 0;
	regfree(&re);
	closedir(d);
	return n;
}

/* ---- registry and opening ---- */

static void registry(void **state)
{
	(void)state;
	const dj_store_ops *ops;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_store_backend("file", "x", &ops, &err), 0);
	assert_string_equal(ops->scheme, "file");
	assert_int_equal(dj_store_backend("s3", "x", &ops, &err), 0);
	assert_int_equal(dj_store_backend("azure", "x", &ops, &err), 0);
	assert_string_equal(ops->scheme, "azure");
	assert_int_equal(dj_store_backend("gcs", "raw", &ops, &err), 0);
	assert_string_equal(ops->scheme, "gcs");
	assert_int_equal(dj_store_backend("ftp", "raw", &ops, &err), DJ_EUSAGE);
	assert_string_equal(err.msg, "store 'raw': unknown protocol 'ftp'");
	dj_err_clear(&err);
	assert_int_equal(dj_store_backend("S3", "raw", &ops, &err),
	                 DJ_EUSAGE); /* lower-case only */
	dj_err_clear(&err);
	assert_int_equal(dj_store_backend(NULL, "raw", &ops, &err), DJ_EUSAGE);
}

static void open_errors(void **state)
{
	(void)state;
	dj_store_spec spec = {0};
	dj_store *st = (dj_store *)&spec;
	dj_err err = DJ_ERR_INIT;
	char path[1100];
	spec.name = "gone";
	spec.protocol = "file";
	spec.location = "/no/such/dir";
	assert_int_equal(dj_store_open(&st, &spec, &err), DJ_ENOTFOUND);
	assert_null(st);
	assert_non_null(strstr(err.msg, "store 'gone'"));
	assert_non_null(strstr(err.msg, "/no/such/dir"));
	dj_err_clear(&err);
	spec.protocol = "gcs"; /* no bucket */
	assert_int_equal(dj_store_open(&st, &spec, &err), DJ_EUSAGE);
	assert_null(st);
	assert_non_null(strstr(err.msg, "store 'gone'"));
	dj_err_clear(&err);
	/* a trailing '/' on the location changes nothing */
	snprintf(path, sizeof(path), "%s/", dj_test_tmpdir());
	spec.protocol = "file";
	spec.location = path;
	assert_int_equal(dj_store_open(&st, &spec, &err), 0);
	assert_string_equal(dj_store_name(st), "gone");
	assert_string_equal(dj_store_scheme(st), "file");
	put_ok(st, "slash/x", "x");
	snprintf(path, sizeof(path), "%s/slash/x", dj_test_tmpdir());
	assert_int_equal(access(path, F_OK), 0);
	dj_store_close(st);
	dj_store_close(NULL);
}

static void key_checks(void **state)
{
	fx *f = *state;
	static const char *const bad[] = {"", "/abs", "a/../b", "./a", "a/", "..", "a/./b", "a/.."};
	dj_err err = DJ_ERR_INIT;
	dj_store_stat s;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dj_store_put(f->st, bad[i], "x", 1, 0, &err), DJ_EUSAGE);
		assert_non_null(strstr(err.msg, "invalid key"));
		dj_err_clear(&err);
		assert_int_equal(dj_store_head(f->st, bad[i], &s, &err), DJ_EUSAGE);
		dj_err_clear(&err);
	}
	assert_int_equal(dj_store_list(f->st, "/x", NULL, NULL, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	/* "a//b" is what odd subfolding settings produce; the file system collapses it */
	put_ok(f->st, "a//b", "ab");
	get_is(f->st, "a/b", "ab");
	/* dots inside names are fine */
	put_ok(f->st, "a/.hidden/..x", "dots");
	get_is(f->st, "a/.hidden/..x", "dots");
}

/* ---- NULL slots ---- */

typedef struct fake_store {
	dj_store base;
	int removes;
} fake_store;

static int fake_remove(dj_store *st, const char *key, dj_err *err)
{
	(void)key, (void)err;
	((fake_store *)st)->removes++;
	return 0;
}

static void fake_close(dj_store *st)
{
	(void)st;
}

static void null_slots(void **state)
{
	(void)state;
	static const dj_store_ops ops = {
	    .scheme = "fake", .close = fake_close, .remove = fake_remove};
	fake_store fs = {{&ops, "mock"}, 0};
	const char *const keys[] = {"a", "b", "c"};
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_store_get(&fs.base, "a", &b, &err), DJ_ENOTSUP);
	assert_string_equal(err.msg, "store 'mock': protocol 'fake' has no get");
	dj_err_clear(&err);
	assert_int_equal(dj_store_put(&fs.base, "a", "x", 1, 0, &err), DJ_ENOTSUP);
	dj_err_clear(&err);
	assert_int_equal(dj_store_writer_create(&fs.base, "a", 100, 0, &w, &err), DJ_ENOTSUP);
	dj_err_clear(&err);
	/* remove_many falls back to one remove per key */
	assert_int_equal(dj_store_remove_many(&fs.base, keys, 3, &err), 0);
	assert_int_equal(fs.removes, 3);
	assert_int_equal(dj_store_remove_many(&fs.base, keys, 0, &err), 0);
}

/* ---- temporary names (formats.md §10.1, §10.4) ---- */

#define GC_NAME "^[a-z2-7]{26}$"
#define TMP_NAME "^obj\\.saving\\.[0-9a-f]{16}$"

static void temp_names(void **state)
{
	fx *f = *state;
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part p;
	dj_err err = DJ_ERR_INIT;
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/t", f->dir);
	assert_int_equal(dj_store_writer_create(f->st, "t/obj", 4, 0, &w, &err), 0);
	assert_int_equal(count_names(dir, TMP_NAME), 1);
	assert_int_equal(count_names(dir, GC_NAME), 0);
	assert_int_equal(dj_store_writer_part(f->st, &w, 1, "abcd", 4, &p, &err), 0);
	assert_int_equal(dj_store_writer_abort(f->st, &w, &err), 0);
	assert_int_equal(count_names(dir, TMP_NAME), 0);
	/* writing to an aborted upload */
	assert_int_equal(dj_store_writer_part(f->st, &w, 1, "abcd", 4, &p, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "t/obj"));
	dj_err_clear(&err);
	assert_int_equal(dj_store_writer_abort(f->st, &w, &err), 0); /* twice is fine */
	dj_store_writer_dispose(&w);
	/* a failed publish removes its temporary file: the target is a non-empty folder */
	put_ok(f->st, "t/obj/inside/x", "x");
	assert_true(dj_store_put(f->st, "t/obj", "data", 4, 0, &err) < 0);
	assert_non_null(strstr(err.msg, "t/obj"));
	assert_int_equal(count_names(dir, "saving"), 0);
	dj_err_clear(&err);
	/* a hash object: its temporary name is never a GC candidate, and none is left behind */
	put_ok(f->st, "_hash/s/2qoyzwmpaczaj2mabgmoz6ccpy", "");
	snprintf(dir, sizeof(dir), "%s/_hash/s", f->dir);
	assert_int_equal(count_names(dir, GC_NAME), 1);
	assert_int_equal(count_names(dir, "saving"), 0);
}

static void if_absent_link(void **state)
{
	fx *f = *state;
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part p[2];
	dj_err err = DJ_ERR_INIT;
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/ia", f->dir);
	assert_int_equal(dj_store_writer_create(f->st, "ia/obj", 4, DJ_STORE_IF_ABSENT, &w, &err),
	                 0);
	assert_int_equal(dj_store_writer_part(f->st, &w, 2, "ef", 2, &p[0], &err), 0);
	assert_int_equal(dj_store_writer_part(f->st, &w, 1, "abcd", 4, &p[1], &err), 0);
	/* someone else publishes the object first: ours is dropped, theirs kept */
	put_ok(f->st, "ia/obj", "theirs");
	assert_int_equal(dj_store_writer_complete(f->st, &w, p, 2, &err), DJ_EEXISTS);
	get_is(f->st, "ia/obj", "theirs");
	assert_int_equal(count_names(dir, "saving"), 0);
	dj_store_writer_dispose(&w);
	dj_err_clear(&err);
	/* a short upload is refused: part 2 declared but never written */
	assert_int_equal(dj_store_writer_create(f->st, "ia/short", 4, 0, &w, &err), 0);
	assert_int_equal(dj_store_writer_part(f->st, &w, 1, "abcd", 4, &p[0], &err), 0);
	p[1] = (dj_store_part){2, 3, ""};
	assert_int_equal(dj_store_writer_complete(f->st, &w, p, 2, &err), DJ_ERROR);
	assert_non_null(strstr(err.msg, "holds 4 bytes"));
	assert_int_equal(dj_store_writer_abort(f->st, &w, &err), 0);
	dj_store_writer_dispose(&w);
}

/* ---- walks ---- */

typedef struct seen {
	char keys[16][64];
	int n;
} seen;

static int record(const dj_store_entry *e, void *payload)
{
	seen *s = payload;
	if (s->n < 16)
		snprintf(s->keys[s->n++], 64, "%s", e->key);
	return 0;
}

static void byte_order(void **state)
{
	fx *f = *state;
	static const char *const want[] = {"x/a-b", "x/a.b", "x/a/x", "x/a/y/z", "x/a0", "x/link"};
	dj_err err = DJ_ERR_INIT;
	char target[1100], link[1100];
	seen s = {0};
	put_ok(f->st, "x/a0", "");
	put_ok(f->st, "x/a/y/z", "");
	put_ok(f->st, "x/a.b", "");
	put_ok(f->st, "x/a/x", "");
	put_ok(f->st, "x/a-b", "");
	/* a symlinked file is listed; a symlinked folder is not walked (no loops) */
	snprintf(target, sizeof(target), "%s/x/a0", f->dir);
	snprintf(link, sizeof(link), "%s/x/link", f->dir);
	assert_int_equal(symlink(target, link), 0);
	snprintf(target, sizeof(target), "%s/x", f->dir);
	snprintf(link, sizeof(link), "%s/x/loop", f->dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(dj_store_list(f->st, "x/", record, &s, &err), 0);
	assert_int_equal(s.n, 6);
	for (int i = 0; i < 6; i++)
		assert_string_equal(s.keys[i], want[i]);
	s.n = 0;
	assert_int_equal(dj_store_list(f->st, "x/a", record, &s, &err), 0);
	assert_int_equal(s.n, 5);
}

static void folders(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	dj_store_stat s;
	put_ok(f->st, "d/sub/x", "x");
	assert_int_equal(dj_store_get(f->st, "d/sub", &b, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "folder"));
	dj_err_clear(&err);
	assert_int_equal(dj_store_remove(f->st, "d/sub", &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_store_put_file(f->st, "d/y", f->dir, 0, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_store_head(f->st, "d/sub", &s, &err), 0);
	assert_true(s.exists && s.is_dir);
	assert_int_equal(s.size, 0);
	/* under a file: not found, not an error */
	assert_int_equal(dj_store_head(f->st, "d/sub/x/deeper", &s, &err), 0);
	assert_false(s.exists);
	assert_int_equal(dj_store_get(f->st, "d/sub/x/deeper", &b, &err), DJ_ENOTFOUND);
	dj_buf_dispose(&b);
}

static void no_sync(void **state)
{
	fx *f = *state;
	dj_store_opts o = {0};
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	o.no_sync = true;
	assert_int_equal(dj_store_open_opts(&st, &f->spec, &o, &err), 0);
	put_ok(st, "ns/a", "fast");
	get_is(f->st, "ns/a", "fast");
	dj_store_close(st);
}

/* defer_sync: puts without fsync, one flush (syncfs) after; a flush that cannot reach the
 * store's location fails, naming the store. Backends without a flush op flush as a no-op. */
static void deferred_sync(void **state)
{
	fx *f = *state;
	dj_store_opts o = {0};
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	char cmd[2100];
	o.defer_sync = true;
	assert_int_equal(dj_store_open_opts(&st, &f->spec, &o, &err), 0);
	put_ok(st, "ds/a", "later");
	put_ok(st, "ds/b/c", "durable");
	assert_int_equal(dj_store_flush(st, &err), 0);
	get_is(f->st, "ds/a", "later");
	get_is(f->st, "ds/b/c", "durable");
	assert_int_equal(dj_store_flush(f->st, &err), 0); /* synced as it wrote: nothing to do */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_true(dj_store_flush(st, &err) < 0);
	assert_non_null(strstr(err.msg, "store 'local'"));
	dj_store_close(st);
}

static void buffer_limit(void **state)
{
	fx *f = *state;
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	put_ok(f->st, "lim/a", "0123456789");
	b.limit = 4;
	assert_int_equal(dj_store_get(f->st, "lim/a", &b, &err), DJ_ENOMEM);
	assert_non_null(strstr(err.msg, "lim/a"));
	assert_int_equal(b.len, 0);
	dj_err_clear(&err);
	assert_int_equal(dj_store_get_range(f->st, "lim/a", 8, 0, &b, &err), 0);
	assert_string_equal(b.ptr, "89");
	dj_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(registry),
	    cmocka_unit_test(open_errors),
	    cmocka_unit_test(null_slots),
	    cmocka_unit_test_setup_teardown(key_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(temp_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(if_absent_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(byte_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(folders, setup, teardown),
	    cmocka_unit_test_setup_teardown(no_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(deferred_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(buffer_limit, setup, teardown),
	};
	return cmocka_run_group_tests_name("store_file", tests, NULL, NULL);
}
