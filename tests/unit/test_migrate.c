/* jobs/migrate: item fields, option checks, and the fill and verify work callbacks on a real
 * file store in a scratch directory (no database: workers never touch one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "codecs/hash.h"
#include "jobs/migrate.h"

static char root[256];
static int folds[2] = {2, 2};
static dj_store_spec spec;

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/djt_migrate_XXXXXX");
	if (!mkdtemp(root))
		return -1;
	memset(&spec, 0, sizeof(spec));
	spec.name = (char *)"f";
	spec.protocol = (char *)"file";
	spec.location = root;
	spec.subfolding = folds;
	spec.nsubfolding = 2;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void fields_round_trip_and_truncation(void **state)
{
	(void)state;
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_migrate__put_u32(&b, 7), 0);
	assert_int_equal(dj_migrate__put_field(&b, false, "abc", 3), 0);
	assert_int_equal(dj_migrate__put_field(&b, true, "xy", 2), 0);
	dj_migrate__rd r = {(const uint8_t *)b.ptr, b.len};
	uint32_t v = 0;
	dj_bytes f;
	assert_int_equal(dj_migrate__get_u32(&r, &v, &err), 0);
	assert_int_equal(v, 7);
	assert_int_equal(dj_migrate__get_field(&r, false, &f, &err), 0);
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.ptr, "abc", 3);
	assert_int_equal(dj_migrate__get_field(&r, true, &f, &err), 0);
	assert_memory_equal(f.ptr, "xy", 2);
	assert_int_equal(r.left, 0);
	assert_int_equal(dj_migrate__get_u32(&r, &v, &err), DJ_EFORMAT);
	/* a length past the end is refused, not read */
	dj_migrate__rd bad = {(const uint8_t *)b.ptr + 4, 6};
	dj_err_clear(&err);
	assert_int_equal(dj_migrate__get_field(&bad, false, &f, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "truncated"));
	dj_buf_dispose(&b);
}

static void init_checks_codec_and_store(void **state)
{
	(void)state;
	dj_migrate m;
	dj_err err = DJ_ERR_INIT;
	const char *bad[] = {"<npy@f>", "<blob>", "<hash@f>", "int32", "<blob@nope>"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&m, 0, sizeof(m));
		m.specs = &spec, m.nspecs = 1, m.codec = bad[i];
		dj_err_clear(&err);
		assert_int_equal(dj_migrate_init(&m, &err), DJ_EUSAGE);
	}
	memset(&m, 0, sizeof(m));
	m.specs = &spec, m.nspecs = 1, m.codec = "<attach@>", m.default_store = "f";
	assert_int_equal(dj_migrate_init(&m, &err), 0);
	assert_string_equal(m.target.store, "f");
	assert_ptr_equal(m.spec, &spec);
	assert_int_equal(m.target.codec->id, DJ_CODEC_ATTACH);
}

/* A one-row item as rank 0 builds it: npk = 1. */
static void fill_item(dj_buf *item, const void *val, size_t n)
{
	assert_int_equal(dj_migrate__put_u32(item, 1), 0);
	assert_int_equal(dj_migrate__put_u32(item, 1), 0);
	assert_int_equal(dj_migrate__put_field(item, false, "42", 2), 0);
	assert_int_equal(dj_migrate__put_field(item, true, val, n), 0);
}

static void worker(dj_migrate *m)
{
	dj_err err = DJ_ERR_INIT;
	dj_run_info info = {1, 2, false, true};
	memset(m, 0, sizeof(*m));
	m->specs = &spec, m->nspecs = 1, m->codec = "<blob@f>", m->schema_name = "lab";
	assert_int_equal(dj_migrate_init(m, &err), 0);
	assert_int_equal(dj_migrate_fill_job.start(m, &info, &err), 0);
}

static void read_file(const char *rel, dj_buf *out)
{
	char p[512];
	dj_err err = DJ_ERR_INIT;
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	dj_buf_reset(out);
	assert_int_equal(dj_file_read(p, out, &err), 0);
}

static void fill_writes_object_and_python_metadata(void **state)
{
	(void)state;
	dj_migrate m;
	dj_err err = DJ_ERR_INIT;
	dj_buf item = DJ_BUF_INIT, res = DJ_BUF_INIT, want = DJ_BUF_INIT, got = DJ_BUF_INIT;
	const char val[] = "mYm\0A some packed bytes";
	char h[DJ_HASH_LEN + 1];
	worker(&m);
	fill_item(&item, val, sizeof(val));
	dj_bytes it = dj_buf_bytes(&item);
	assert_int_equal(dj_migrate_fill_job.work(&m, &it, &res, &err), 0);
	assert_int_equal(dj_hash_bytes(val, sizeof(val), h, &err), 0);
	dj_buf_addf(&want,
	            "{\"hash\": \"%s\", \"path\": \"_hash/lab/%.2s/%.2s/%s\", \"schema\": \"lab\", "
	            "\"store\": \"f\", \"size\": %zu}",
	            h, h, h + 2, h, sizeof(val));
	dj_migrate__rd r = {(const uint8_t *)res.ptr, res.len};
	dj_bytes json;
	assert_int_equal(dj_migrate__get_field(&r, false, &json, &err), 0);
	assert_int_equal(json.len, want.len);
	assert_memory_equal(json.ptr, want.ptr, want.len);
	char rel[128];
	snprintf(rel, sizeof(rel), "_hash/lab/%.2s/%.2s/%s", h, h + 2, h);
	read_file(rel, &got);
	assert_int_equal(got.len, sizeof(val));
	assert_memory_equal(got.ptr, val, sizeof(val));

	/* a damaged object at that path (a run killed mid-write elsewhere, bit rot) is replaced */
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(dj_file_write(p, "garbage", 7, &err), 0);
	dj_buf_reset(&res);
	assert_int_equal(dj_migrate_fill_job.work(&m, &it, &res, &err), 0);
	read_file(rel, &got);
	assert_int_equal(got.len, sizeof(val));
	assert_memory_equal(got.ptr, val, sizeof(val));

	/* verify: a good row passes; after corruption it fails with "hash mismatch" */
	char md5[DJ_MD5_HEX_LEN + 1];
	assert_int_equal(dj_md5_hex(val, sizeof(val), md5, &err), 0);
	for (int round = 0; round < 3; round++) {
		dj_buf v = DJ_BUF_INIT, out = DJ_BUF_INIT;
		dj_migrate__put_u32(&v, 1), dj_migrate__put_u32(&v, 1);
		dj_migrate__put_field(&v, false, "42", 2);
		dj_migrate__put_field(&v, false, want.ptr, want.len);
		dj_migrate__put_field(&v, false, round == 2 ? "00000000000000000000000000000000" : md5,
		                      32);
		if (round == 1)
			assert_int_equal(dj_file_write(p, "garbage", 7, &err), 0);
		dj_bytes vb = dj_buf_bytes(&v);
		assert_int_equal(dj_migrate_verify_job.work(&m, &vb, &out, &err), 0);
		dj_migrate__rd o = {(const uint8_t *)out.ptr, out.len};
		assert_true(o.left >= 1);
		uint8_t ok = o.p[0];
		o.p++, o.left--;
		dj_bytes why;
		assert_int_equal(dj_migrate__get_field(&o, false, &why, &err), 0);
		if (round == 0) {
			assert_int_equal(ok, 1);
			assert_int_equal(why.len, 0);
		} else {
			assert_int_equal(ok, 0);
			char w[600];
			snprintf(w, sizeof(w), "%.*s", (int)why.len, (const char *)why.ptr);
			assert_non_null(strstr(w, round == 1 ? "hash mismatch" : "not the old value"));
		}
		dj_buf_dispose(&v), dj_buf_dispose(&out);
	}
	/* a missing object is a bad row too, not a failed item */
	unlink(p);
	{
		dj_buf v = DJ_BUF_INIT, out = DJ_BUF_INIT;
		dj_migrate__put_u32(&v, 1), dj_migrate__put_u32(&v, 1);
		dj_migrate__put_field(&v, false, "42", 2);
		dj_migrate__put_field(&v, false, want.ptr, want.len);
		dj_migrate__put_field(&v, false, md5, 32);
		dj_bytes vb = dj_buf_bytes(&v);
		assert_int_equal(dj_migrate_verify_job.work(&m, &vb, &out, &err), 0);
		assert_int_equal(((const uint8_t *)out.ptr)[0], 0);
		assert_non_null(strstr(out.ptr + 5, "object missing"));
		dj_buf_dispose(&v), dj_buf_dispose(&out);
	}
	/* a truncated item fails the item */
	dj_bytes cut = {it.ptr, it.len - 3};
	dj_buf_reset(&res);
	dj_err_clear(&err);
	assert_int_equal(dj_migrate_fill_job.work(&m, &cut, &res, &err), DJ_EFORMAT);
	dj_migrate_dispose(&m);
	dj_buf_dispose(&item), dj_buf_dispose(&res), dj_buf_dispose(&want), dj_buf_dispose(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fields_round_trip_and_truncation),
	    cmocka_unit_test(init_checks_codec_and_store),
	    cmocka_unit_test(fill_writes_object_and_python_metadata),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
