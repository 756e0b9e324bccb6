/* codecs/attach: payload layout and download naming (formats.md §3), vectors/hash.tsv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "codecs/attach.h"
#include "codecs/hash.h"
#include "tests/unit/vectors.h"

/* The attach_payload row of hash.tsv: 'report.txt' NUL 'hello\n', with its content hash. */
static void vector_payload(dj_buf *payload, char hash[DJ_HASH_LEN + 1])
{
	dj_tsv t;
	bool found = false;
	dj_tsv_load(&t, dj_test_shared_path("vectors/hash.tsv"));
	for (size_t r = 0; r < t.nrows; r++)
		if (strcmp(dj_tsv_get(&t, r, "name"), "attach_payload") == 0) {
			dj_test_unhex(dj_tsv_get(&t, r, "input_hex"), payload);
			snprintf(hash, DJ_HASH_LEN + 1, "%s", dj_tsv_get(&t, r, "hash"));
			found = true;
		}
	dj_tsv_free(&t);
	assert_true(found);
}

static void pack_matches_vector(void **state)
{
	(void)state;
	dj_buf want = DJ_BUF_INIT, got = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	char want_hash[DJ_HASH_LEN + 1], h[DJ_HASH_LEN + 1], path[1200];
	vector_payload(&want, want_hash);
	assert_int_equal(dj_attach_pack(&got, "report.txt", "hello\n", 6, &err), 0);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.ptr, want.ptr, want.len);
	assert_int_equal(dj_hash_bytes(got.ptr, got.len, h, &err), 0);
	assert_string_equal(h, want_hash); /* <attach@> hashes the whole payload */
	/* from a file: only the base name goes in */
	snprintf(path, sizeof(path), "%s/src", dj_test_tmpdir());
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/src/report.txt", dj_test_tmpdir());
	assert_int_equal(dj_file_write(path, "hello\n", 6, &err), 0);
	dj_buf_reset(&got);
	assert_int_equal(dj_attach_pack_file(&got, path, &err), 0);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.ptr, want.ptr, want.len);
	dj_buf_dispose(&want);
	dj_buf_dispose(&got);
}

static void pack_errors(void **state)
{
	(void)state;
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	char path[1200];
	assert_int_equal(dj_attach_pack(&b, "a/b", "x", 1, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_attach_pack(&b, "", "x", 1, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_attach_pack(&b, "bad\xff", "x", 1, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(b.len, 0);
	assert_int_equal(dj_attach_pack_file(&b, dj_test_tmpdir(), &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "directories"));
	dj_err_clear(&err);
	snprintf(path, sizeof(path), "%s/absent.bin", dj_test_tmpdir());
	assert_int_equal(dj_attach_pack_file(&b, path, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "absent.bin"));
	dj_err_clear(&err);
	b.limit = 4; /* the buffer's cap is honoured and the buffer left as it was */
	assert_int_equal(dj_attach_pack(&b, "name", "x", 1, &err), DJ_ENOMEM);
	assert_int_equal(b.len, 0);
	dj_buf_dispose(&b);
}

static void split_payload(void **state)
{
	(void)state;
	dj_buf p = DJ_BUF_INIT;
	dj_bytes name, contents;
	dj_err err = DJ_ERR_INIT;
	char h[DJ_HASH_LEN + 1];
	vector_payload(&p, h);
	assert_int_equal(dj_attach_split(dj_buf_bytes(&p), &name, &contents, &err), 0);
	assert_int_equal(name.len, 10);
	assert_memory_equal(name.ptr, "report.txt", 10);
	assert_int_equal(contents.len, 6);
	assert_memory_equal(contents.ptr, "hello\n", 6);
	/* split at the first NUL; later NULs belong to the contents */
	assert_int_equal(dj_attach_split((dj_bytes){(const uint8_t *)"a\0b\0c", 5}, &name, &contents,
					 &err),
			 0);
	assert_int_equal(name.len, 1);
	assert_int_equal(contents.len, 3);
	assert_memory_equal(contents.ptr, "b\0c", 3);
	assert_int_equal(dj_attach_split((dj_bytes){(const uint8_t *)"x\0", 2}, &name, &contents, &err),
			 0);
	assert_int_equal(contents.len, 0);
	assert_int_equal(dj_attach_split((dj_bytes){(const uint8_t *)"noname", 6}, &name, &contents,
					 &err),
			 DJ_EFORMAT);
	dj_err_clear(&err);
	assert_int_equal(dj_attach_split((dj_bytes){NULL, 0}, &name, &contents, &err), DJ_EFORMAT);
	dj_err_clear(&err);
	assert_int_equal(dj_attach_split((dj_bytes){(const uint8_t *)"\xc3\0x", 3}, &name, &contents,
					 &err),
			 DJ_EFORMAT);
	dj_buf_dispose(&p);
}

/* Save and check the returned path and the file's contents. */
static void save(const char *dir, const char *name, const char *contents, const char *want_rel)
{
	dj_buf path = DJ_BUF_INIT, back = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	char want[1400];
	dj_bytes n = {(const uint8_t *)name, strlen(name)};
	dj_bytes c = {(const uint8_t *)contents, strlen(contents)};
	if (dj_attach_save(dir, n, c, &path, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	snprintf(want, sizeof(want), "%s/%s", dir, want_rel);
	assert_string_equal(path.ptr, want);
	dj_test_read(path.ptr, &back);
	assert_string_equal(back.ptr, contents);
	dj_buf_dispose(&path);
	dj_buf_dispose(&back);
}

static void save_collisions(void **state)
{
	(void)state;
	char dir[1200], sub[1300];
	struct stat st1, st2;
	dj_buf path = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	snprintf(dir, sizeof(dir), "%s/dl/nested", dj_test_tmpdir()); /* created with parents */
	save(dir, "report.txt", "one", "report.txt");
	snprintf(sub, sizeof(sub), "%s/report.txt", dir);
	assert_int_equal(stat(sub, &st1), 0);
	save(dir, "report.txt", "one", "report.txt"); /* identical: reused, not rewritten */
	assert_int_equal(stat(sub, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	save(dir, "report.txt", "two", "report_1.txt");
	save(dir, "report.txt", "three", "report_2.txt");
	save(dir, "report.txt", "two", "report_1.txt"); /* the first identical candidate wins */
	save(dir, "report.txt", "thre", "report_3.txt"); /* same size, other bytes */
	/* stem/suffix at the last dot, Python 3.11 PurePath rules */
	save(dir, "a.tar.gz", "x", "a.tar.gz");
	save(dir, "a.tar.gz", "y", "a.tar_1.gz");
	save(dir, ".bashrc", "x", ".bashrc");
	save(dir, ".bashrc", "y", ".bashrc_1");
	save(dir, "a.", "x", "a.");
	save(dir, "a.", "y", "a._1");
	save(dir, "plain", "", "plain");
	save(dir, "plain", "z", "plain_1");
	/* an existing directory of that name counts as different contents */
	snprintf(sub, sizeof(sub), "%s/folder.d", dir);
	mkdir(sub, 0777);
	save(dir, "folder.d", "x", "folder_1.d");
	/* names that would escape the directory are refused */
	assert_int_equal(dj_attach_save(dir, (dj_bytes){(const uint8_t *)"../x", 4},
					(dj_bytes){(const uint8_t *)"x", 1}, &path, &err),
			 DJ_EFORMAT);
	dj_err_clear(&err);
	assert_int_equal(dj_attach_save(dir, (dj_bytes){(const uint8_t *)"..", 2},
					(dj_bytes){(const uint8_t *)"x", 1}, &path, &err),
			 DJ_EFORMAT);
	dj_err_clear(&err);
	assert_int_equal(dj_attach_save(dir, (dj_bytes){(const uint8_t *)"", 0},
					(dj_bytes){(const uint8_t *)"x", 1}, &path, &err),
			 DJ_EFORMAT);
	assert_int_equal(path.len, 0);
	dj_buf_dispose(&path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pack_matches_vector), cmocka_unit_test(pack_errors),
		cmocka_unit_test(split_payload),       cmocka_unit_test(save_collisions),
	};
	return cmocka_run_group_tests_name("attach", tests, NULL, NULL);
}
