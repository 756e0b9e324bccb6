/* codecs/hash: MD5 -> base32 content hash (formats.md §4), hash paths (§5.1), vectors/hash.tsv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codecs/hash.h"
#include "stores/paths.h"
#include "tests/unit/vectors.h"

/* The row's input bytes: hex, or "-" for million_a (one million 'a', elided in the table). */
static void row_input(const dj_tsv *t, size_t r, dj_buf *out)
{
	const char *hex = dj_tsv_get(t, r, "input_hex");
	if (strcmp(hex, "-") == 0) {
		if (strcmp(dj_tsv_get(t, r, "name"), "million_a") != 0)
			fail_msg("row %zu: elided input for an unknown vector", r);
		for (int i = 0; i < 1000000; i++)
			dj_buf_addc(out, 'a');
		return;
	}
	dj_test_unhex(hex, out);
}

static void hash_path(const dj_store_spec *spec, const char *schema, const char *h, dj_buf *out)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf_reset(out);
	if (dj_path_hash(out, spec, schema, h, &err) < 0)
		fail_msg("%s: %s", h, err.msg);
}

static void hash_vectors(void **state)
{
	(void)state;
	dj_tsv t;
	int flat_fold[] = {2, 2}, blobs_fold[] = {1, 3};
	dj_store_spec plain = {0}, fold22 = {0}, blobs = {0};
	size_t checked = 0;
	fold22.subfolding = flat_fold;
	fold22.nsubfolding = 2;
	blobs.hash_prefix = "/blobs/";
	blobs.subfolding = blobs_fold;
	blobs.nsubfolding = 2;
	dj_tsv_load(&t, dj_test_shared_path("vectors/hash.tsv"));
	for (size_t r = 0; r < t.nrows; r++) {
		const char *name = dj_tsv_get(&t, r, "name");
		dj_buf in = DJ_BUF_INIT, path = DJ_BUF_INIT;
		dj_err err = DJ_ERR_INIT;
		char h[DJ_HASH_LEN + 1], hex[DJ_MD5_HEX_LEN + 1];
		row_input(&t, r, &in);
		if (dj_md5_hex(in.ptr, in.len, hex, &err) < 0 || dj_hash_bytes(in.ptr, in.len, h, &err) < 0)
			fail_msg("%s: %s", name, err.msg);
		if (strcmp(hex, dj_tsv_get(&t, r, "md5_hex")) != 0)
			fail_msg("%s: md5 %s, expected %s", name, hex, dj_tsv_get(&t, r, "md5_hex"));
		if (strcmp(h, dj_tsv_get(&t, r, "hash")) != 0)
			fail_msg("%s: hash %s, expected %s", name, h, dj_tsv_get(&t, r, "hash"));
		assert_true(dj_hash_valid(h));
		hash_path(&plain, "my_schema", h, &path);
		assert_string_equal(path.ptr, dj_tsv_get(&t, r, "path_flat"));
		hash_path(&fold22, "my_schema", h, &path);
		assert_string_equal(path.ptr, dj_tsv_get(&t, r, "path_subfold_2_2"));
		hash_path(&blobs, "lab_ephys", h, &path);
		assert_string_equal(path.ptr, dj_tsv_get(&t, r, "path_subfold_1_3_prefix_blobs"));
		dj_buf_dispose(&in);
		dj_buf_dispose(&path);
		checked++;
	}
	assert_int_equal(checked, 9); /* every row of hash.tsv */
	dj_tsv_free(&t);
}

/* The streaming context must give the one-shot result whatever the chunking. */
static void hash_streaming_matches(void **state)
{
	(void)state;
	dj_tsv t;
	dj_tsv_load(&t, dj_test_shared_path("vectors/hash.tsv"));
	for (size_t r = 0; r < t.nrows; r++) {
		static const size_t chunks[] = {1, 7, 4096, 1 << 20};
		dj_buf in = DJ_BUF_INIT;
		row_input(&t, r, &in);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			dj_md5 md = DJ_MD5_INIT;
			dj_err err = DJ_ERR_INIT;
			char h[DJ_HASH_LEN + 1];
			assert_int_equal(dj_md5_init(&md, &err), 0);
			for (size_t off = 0; off < in.len; off += chunks[c]) {
				size_t n = in.len - off < chunks[c] ? in.len - off : chunks[c];
				assert_int_equal(dj_md5_update(&md, in.ptr + off, n, &err), 0);
			}
			assert_int_equal(dj_hash_final(&md, h, &err), 0);
			assert_null(md.ctx);
			if (strcmp(h, dj_tsv_get(&t, r, "hash")) != 0)
				fail_msg("%s in chunks of %zu: %s", dj_tsv_get(&t, r, "name"), chunks[c], h);
		}
		dj_buf_dispose(&in);
	}
	dj_tsv_free(&t);
}

static void digest_encoding(void **state)
{
	(void)state;
	uint8_t zero[DJ_MD5_LEN] = {0}, ones[DJ_MD5_LEN];
	char h[DJ_HASH_LEN + 1];
	memset(ones, 0xFF, sizeof(ones));
	dj_hash_from_digest(zero, h);
	assert_string_equal(h, "aaaaaaaaaaaaaaaaaaaaaaaaaa");
	/* the 26th character carries 3 bits then two zero bits: 11100 = '4' */
	dj_hash_from_digest(ones, h);
	assert_string_equal(h, "77777777777777777777777774");
}

static void hash_validation(void **state)
{
	(void)state;
	assert_true(dj_hash_valid("2qoyzwmpaczaj2mabgmoz6ccpy"));
	assert_false(dj_hash_valid(NULL));
	assert_false(dj_hash_valid(""));
	assert_false(dj_hash_valid("2qoyzwmpaczaj2mabgmoz6ccp"));   /* 25 */
	assert_false(dj_hash_valid("2qoyzwmpaczaj2mabgmoz6ccpya")); /* 27 */
	assert_false(dj_hash_valid("2QOYZWMPACZAJ2MABGMOZ6CCPY"));  /* upper case */
	assert_false(dj_hash_valid("2qoyzwmpaczaj2mabgmoz6ccp1"));  /* '1' is not base32 */
	assert_false(dj_hash_valid("2qoyzwmpaczaj2mabgmoz6ccp8"));
	assert_false(dj_hash_valid("2qoyzwmpaczaj2mabgmoz6ccp="));
}

static void context_misuse(void **state)
{
	(void)state;
	dj_md5 md = DJ_MD5_INIT;
	dj_err err = DJ_ERR_INIT;
	uint8_t d[DJ_MD5_LEN];
	assert_int_equal(dj_md5_update(&md, "x", 1, &err), DJ_ERROR);
	assert_non_null(strstr(err.msg, "md5"));
	dj_err_clear(&err);
	assert_int_equal(dj_md5_final(&md, d, &err), DJ_ERROR);
	dj_md5_dispose(&md); /* safe on INIT */
	assert_int_equal(dj_md5_init(&md, &err), 0);
	dj_md5_dispose(&md);
	assert_null(md.ctx);
}

static void hash_path_edges(void **state)
{
	(void)state;
	const char *h = "2qoyzwmpaczaj2mabgmoz6ccpy";
	dj_store_spec spec = {0};
	dj_buf p = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	int folds[] = {20, 10, 5};
	spec.hash_prefix = "";
	hash_path(&spec, "s", h, &p);
	assert_string_equal(p.ptr, "s/2qoyzwmpaczaj2mabgmoz6ccpy");
	spec.hash_prefix = "///";
	hash_path(&spec, "s", h, &p);
	assert_string_equal(p.ptr, "s/2qoyzwmpaczaj2mabgmoz6ccpy");
	spec.hash_prefix = "a/b/";
	hash_path(&spec, "s", h, &p);
	assert_string_equal(p.ptr, "a/b/s/2qoyzwmpaczaj2mabgmoz6ccpy");
	/* Python slices clamp: the folds run out of hash and give short, then empty, segments */
	spec.subfolding = folds;
	spec.nsubfolding = 3;
	hash_path(&spec, "s", h, &p);
	assert_string_equal(p.ptr, "a/b/s/2qoyzwmpaczaj2mabgmo/z6ccpy//2qoyzwmpaczaj2mabgmoz6ccpy");
	dj_buf_reset(&p);
	assert_int_equal(dj_path_hash(&p, &spec, "s", "2QOYZWMPACZAJ2MABGMOZ6CCPY", &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "2QOYZ"));
	dj_err_clear(&err);
	assert_int_equal(dj_path_hash(&p, &spec, "", h, &err), DJ_EUSAGE);
	dj_buf_dispose(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_vectors),    cmocka_unit_test(hash_streaming_matches),
		cmocka_unit_test(digest_encoding), cmocka_unit_test(hash_validation),
		cmocka_unit_test(context_misuse),  cmocka_unit_test(hash_path_edges),
	};
	return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
