/* codecs/object + filepath: JSON column values (formats.md §5.3, §6.6, §7), manifest, times */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codecs/filepath.h"
#include "base/utf8.h"
#include "codecs/hash.h"
#include "codecs/object.h"
#include "stores/paths.h"
#include "tests/unit/vectors.h"

#define TS 1787142896LL /* 2026-08-19T12:34:56Z */

static void pyjson_escaping(void **state)
{
	(void)state;
	/* json.dumps({'a': '\x7f\x01"\\\n\t/é😀'}) as Python 3.11 prints it */
	const char *in = "\x7f\x01\"\\\n\t/\xc3\xa9\xf0\x9f\x98\x80\b\f\r";
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_pyjson_str(&b, in, strlen(in), &err), 0);
	assert_string_equal(b.ptr, "\"\\u007f\\u0001\\\"\\\\\\n\\t/\\u00e9\\ud83d\\ude00\\b\\f\\r\"");
	dj_buf_reset(&b);
	assert_int_equal(dj_pyjson_strz(&b, NULL, &err), 0);
	assert_string_equal(b.ptr, "null");
	assert_int_equal(dj_pyjson_str(&b, "\xc0\xaf", 2, &err), DJ_EFORMAT); /* overlong '/' */
	dj_err_clear(&err);
	assert_int_equal(dj_pyjson_str(&b, "\xed\xa0\x80", 3, &err), DJ_EFORMAT); /* surrogate */
	assert_false(dj_utf8_valid("\xf4\x90\x80\x80", 4));                      /* > U+10FFFF */
	assert_true(dj_utf8_valid("caf\xc3\xa9", 5));
	dj_buf_dispose(&b);
}

static void isotime(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t sec;
		int32_t usec;
	} reads[] = {
		{"2026-08-19T12:34:56.123456+00:00", TS, 123456},
		{"2026-08-19T12:34:56Z", TS, 0},
		{"2026-08-19T14:34:56.5+02:00", TS, 500000},
		{"2026-08-19", 1787097600LL, 0},
		{"2026-08-19 12:34", 1787142840LL, 0},
		{"2024-02-29T23:59:59.999999-0130", 1709256599LL, 999999},
		{"2026-08-19T12:34:56.1234567", TS, 123456}, /* Python 3.11 truncates */
		{"2026-08-19T12", 1787140800LL, 0},
	};
	static const char *const bad[] = {"2026-02-30", "2026-8-19", "2026-08-19T25:00",
					  "2026-08-19T12:34:56+", "2026-08-19T12:34:56.",
					  "2026-08-19T12:34:56 ", "", "x"};
	char out[DJ_ISOTIME_MAX];
	dj_err err = DJ_ERR_INIT;
	int64_t s;
	int32_t us;
	assert_int_equal(dj_isotime_format(TS, 123456, out, &err), 0);
	assert_string_equal(out, "2026-08-19T12:34:56.123456+00:00");
	assert_int_equal(dj_isotime_format(TS, 0, out, &err), 0);
	assert_string_equal(out, "2026-08-19T12:34:56+00:00"); /* microseconds omitted when zero */
	assert_int_equal(dj_isotime_format(-1, 1, out, &err), 0);
	assert_string_equal(out, "1969-12-31T23:59:59.000001+00:00");
	assert_int_equal(dj_isotime_format(-62135596800LL, 0, out, &err), 0);
	assert_string_equal(out, "0001-01-01T00:00:00+00:00");
	assert_int_equal(dj_isotime_format(253402300799LL, 999999, out, &err), 0);
	assert_string_equal(out, "9999-12-31T23:59:59.999999+00:00");
	assert_int_equal(dj_isotime_format(253402300800LL, 0, out, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_isotime_format(0, 1000000, out, &err), DJ_EUSAGE);
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		dj_err_clear(&err);
		if (dj_isotime_parse(reads[i].text, &s, &us, &err) < 0)
			fail_msg("%s: %s", reads[i].text, err.msg);
		if (s != reads[i].sec || us != reads[i].usec)
			fail_msg("%s: %lld.%06d", reads[i].text, (long long)s, us);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dj_err_clear(&err);
		if (dj_isotime_parse(bad[i], &s, &us, &err) != DJ_EFORMAT)
			fail_msg("accepted '%s'", bad[i]);
	}
}

static void object_meta(void **state)
{
	(void)state;
	dj_object_meta m = DJ_OBJECT_META_INIT, r;
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	m.path = "_schema/lab/recording/recording_id=1/raw_data_Ab3dE_9x.dat";
	m.store = "main";
	m.has_size = true;
	m.size = 1024;
	m.ext = ".dat";
	m.has_timestamp = true;
	m.ts_sec = TS;
	m.ts_usec = 123456;
	assert_int_equal(dj_object_meta_build(&b, &m, &err), 0);
	/* the §6.6 example, byte for byte as json.dumps(dict) writes it */
	assert_string_equal(b.ptr, "{\"path\": \"_schema/lab/recording/recording_id=1/raw_data_Ab3dE_9x.dat\", "
				   "\"store\": \"main\", \"size\": 1024, \"ext\": \".dat\", \"is_dir\": false, "
				   "\"item_count\": null, \"timestamp\": \"2026-08-19T12:34:56.123456+00:00\"}");
	assert_int_equal(dj_object_meta_parse(&r, b.ptr, b.len, &err), 0);
	assert_string_equal(r.path, m.path);
	assert_string_equal(r.store, "main");
	assert_true(r.has_size && r.size == 1024 && !r.is_dir && !r.has_item_count);
	assert_true(r.has_timestamp && r.ts_sec == TS && r.ts_usec == 123456);
	dj_object_meta_dispose(&r);
	/* a folder: ext null, item_count set */
	m.ext = NULL;
	m.is_dir = true;
	m.has_item_count = true;
	m.item_count = 3;
	m.ts_usec = 0;
	dj_buf_reset(&b);
	assert_int_equal(dj_object_meta_build(&b, &m, &err), 0);
	assert_non_null(strstr(b.ptr, "\"ext\": null, \"is_dir\": true, \"item_count\": 3, "
				      "\"timestamp\": \"2026-08-19T12:34:56+00:00\"}"));
	/* never write a null or empty store */
	m.store = "";
	assert_int_equal(dj_object_meta_build(&b, &m, &err), DJ_EUSAGE);
	dj_buf_dispose(&b);
}

static void object_meta_read(void **state)
{
	(void)state;
	const char *full = "{\"timestamp\": \"2026-08-19T12:34:56Z\", \"path\": \"p\", \"size\": null, "
			   "\"store\": null, \"hash\": \"2qoyzwmpaczaj2mabgmoz6ccpy\", \"url\": \"s3://b/p\", "
			   "\"mime_type\": \"text/plain\", \"other\": [1]}";
	const char *bad[] = {"{\"size\": 1}", "{\"path\": \"p\"}", "{\"path\": 1, \"size\": 1}",
			     "{\"path\": \"p\", \"size\": -1}", "{\"path\": \"p\", \"size\": 1, \"is_dir\": 1}",
			     "{\"path\": \"p\", \"size\": 1, \"timestamp\": \"yesterday\"}", "[1]", "{"};
	dj_object_meta r;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_object_meta_parse(&r, full, strlen(full), &err), 0);
	assert_false(r.has_size);
	assert_null(r.store);
	assert_null(r.ext);
	assert_string_equal(r.hash, "2qoyzwmpaczaj2mabgmoz6ccpy");
	assert_string_equal(r.url, "s3://b/p");
	assert_string_equal(r.mime_type, "text/plain");
	assert_int_equal(r.ts_sec, TS);
	dj_object_meta_dispose(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dj_err_clear(&err);
		if (dj_object_meta_parse(&r, bad[i], strlen(bad[i]), &err) != DJ_EFORMAT)
			fail_msg("accepted %s", bad[i]);
		dj_object_meta_dispose(&r);
	}
}

static void manifest(void **state)
{
	(void)state;
	/* json.dumps(manifest, indent=2), checked against Python 3.11's output */
	static const char want[] = "{\n"
				   "  \"files\": [\n"
				   "    {\n"
				   "      \"path\": \"subdir/file3.txt\",\n"
				   "      \"size\": 8\n"
				   "    },\n"
				   "    {\n"
				   "      \"path\": \"caf\\u00e9/\\ud83d\\ude00.bin\",\n"
				   "      \"size\": 0\n"
				   "    }\n"
				   "  ],\n"
				   "  \"total_size\": 8,\n"
				   "  \"item_count\": 2,\n"
				   "  \"created\": \"2026-08-19T12:34:56.123456+00:00\"\n"
				   "}";
	static const char want_empty[] = "{\n  \"files\": [],\n  \"total_size\": 0,\n"
					 "  \"item_count\": 0,\n  \"created\": \"2026-01-01T00:00:00+00:00\"\n}";
	dj_manifest_file files[] = {{"subdir/file3.txt", 8}, {"caf\xc3\xa9/\xf0\x9f\x98\x80.bin", 0}};
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_manifest m;
	assert_int_equal(dj_manifest_build(&b, files, 2, TS, 123456, &err), 0);
	assert_string_equal(b.ptr, want);
	assert_int_equal(dj_manifest_parse(&m, b.ptr, b.len, &err), 0);
	assert_int_equal(m.nfiles, 2);
	assert_string_equal(m.paths[1], files[1].path);
	assert_int_equal(m.sizes[0], 8);
	assert_int_equal(m.total_size, 8);
	assert_int_equal(m.item_count, 2);
	dj_manifest_dispose(&m);
	dj_buf_reset(&b);
	assert_int_equal(dj_manifest_build(&b, NULL, 0, 1767225600LL, 0, &err), 0);
	assert_string_equal(b.ptr, want_empty);
	assert_int_equal(dj_manifest_parse(&m, "{\"files\": [{\"path\": \"x\"}]}", 26, &err), DJ_EFORMAT);
	dj_manifest_dispose(&m);
	dj_buf_dispose(&b);
}

/* Hash metadata of the blob_int_list vector, as put_hash returns it for store "main". */
static void hash_meta(void **state)
{
	(void)state;
	dj_tsv t;
	dj_buf in = DJ_BUF_INIT, path = DJ_BUF_INIT, b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_store_spec spec = {0};
	dj_hash_meta m = DJ_HASH_META_INIT, r;
	dj_tsv_load(&t, dj_test_shared_path("vectors/hash.tsv"));
	for (size_t i = 0; i < t.nrows; i++)
		if (strcmp(dj_tsv_get(&t, i, "name"), "blob_int_list") == 0)
			dj_test_unhex(dj_tsv_get(&t, i, "input_hex"), &in);
	dj_tsv_free(&t);
	assert_int_equal(in.len, 49);
	assert_int_equal(dj_hash_bytes(in.ptr, in.len, m.hash, &err), 0);
	assert_int_equal(dj_path_hash(&path, &spec, "lab_ephys", m.hash, &err), 0);
	m.path = path.ptr;
	m.schema = "lab_ephys";
	m.store = "main";
	m.has_size = true;
	m.size = in.len;
	assert_int_equal(dj_hash_meta_build(&b, &m, &err), 0);
	assert_string_equal(b.ptr, "{\"hash\": \"jqlotyk3mrdu4s2wxirlwf72vy\", "
				   "\"path\": \"_hash/lab_ephys/jqlotyk3mrdu4s2wxirlwf72vy\", "
				   "\"schema\": \"lab_ephys\", \"store\": \"main\", \"size\": 49}");
	assert_int_equal(dj_hash_meta_parse(&r, b.ptr, b.len, &err), 0);
	assert_string_equal(r.hash, m.hash);
	assert_string_equal(r.path, m.path);
	assert_string_equal(r.schema, "lab_ephys");
	assert_string_equal(r.store, "main");
	assert_true(r.has_size && r.size == 49);
	dj_hash_meta_dispose(&r);
	/* readers need only hash and path; a store of null means stores.default */
	{
		const char *j = "{\"hash\": \"jqlotyk3mrdu4s2wxirlwf72vy\", \"path\": \"x\", \"store\": null}";
		assert_int_equal(dj_hash_meta_parse(&r, j, strlen(j), &err), 0);
	}
	assert_null(r.store);
	assert_null(r.schema);
	assert_false(r.has_size);
	dj_hash_meta_dispose(&r);
	assert_int_equal(dj_hash_meta_parse(&r, "{\"hash\": \"JQLO\", \"path\": \"x\"}", 29, &err),
			 DJ_EFORMAT);
	dj_hash_meta_dispose(&r);
	dj_err_clear(&err);
	m.store = NULL;
	assert_int_equal(dj_hash_meta_build(&b, &m, &err), DJ_EUSAGE);
	dj_buf_dispose(&in);
	dj_buf_dispose(&path);
	dj_buf_dispose(&b);
}

static void check_fp(const dj_store_spec *spec, const char *path, int want)
{
	dj_err err = DJ_ERR_INIT;
	int rc = dj_filepath_check(spec->hash_prefix, spec->schema_prefix, spec->filepath_prefix, path,
				   &err);
	if (rc != want)
		fail_msg("'%s': rc %d, expected %d (%s)", path, rc, want, err.msg);
	if (rc && !strstr(err.msg, path))
		fail_msg("message does not name the path: %s", err.msg);
}

static void filepath_rules(void **state)
{
	(void)state;
	dj_store_spec spec = {0}; /* defaults: _hash, _schema, no filepath_prefix */
	check_fp(&spec, "subject01/session001/data.bin", 0);
	check_fp(&spec, "_hash/lab/x", DJ_EUSAGE);
	check_fp(&spec, "///_schema/lab/x", DJ_EUSAGE); /* leading '/' stripped first */
	check_fp(&spec, "_hash", 0);                     /* the bare prefix passes (§7 step 2) */
	check_fp(&spec, "_hashes/x", 0);
	spec.hash_prefix = "/blobs/";
	spec.schema_prefix = ""; /* an empty prefix reserves nothing */
	check_fp(&spec, "_hash/x", 0);
	check_fp(&spec, "_schema/x", 0);
	check_fp(&spec, "blobs/x", DJ_EUSAGE);
	spec.filepath_prefix = "/raw/";
	check_fp(&spec, "raw/a.bin", 0);
	check_fp(&spec, "/raw/a.bin", 0);
	check_fp(&spec, "raw", DJ_EUSAGE);
	check_fp(&spec, "rawdata/a.bin", DJ_EUSAGE);
}

static void filepath_meta(void **state)
{
	(void)state;
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_object_meta r;
	assert_int_equal(dj_filepath_meta_build(&b, "subject01/session001/data.bin", "acquisition", true,
						1048576, false, TS, 123456, &err),
			 0);
	assert_string_equal(b.ptr, "{\"path\": \"subject01/session001/data.bin\", \"store\": \"acquisition\", "
				   "\"size\": 1048576, \"is_dir\": false, "
				   "\"timestamp\": \"2026-08-19T12:34:56.123456+00:00\"}");
	assert_int_equal(dj_filepath_meta_parse(&r, b.ptr, b.len, &err), 0);
	assert_string_equal(r.store, "acquisition");
	assert_int_equal(r.size, 1048576);
	dj_object_meta_dispose(&r);
	dj_buf_reset(&b);
	assert_int_equal(dj_filepath_meta_build(&b, "/abs/dir", "s", false, 0, true, TS, 0, &err), 0);
	assert_string_equal(b.ptr, "{\"path\": \"/abs/dir\", \"store\": \"s\", \"size\": null, "
				   "\"is_dir\": true, \"timestamp\": \"2026-08-19T12:34:56+00:00\"}");
	assert_int_equal(dj_filepath_meta_build(&b, "x", NULL, false, 0, true, TS, 0, &err), DJ_EUSAGE);
	dj_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pyjson_escaping), cmocka_unit_test(isotime),
		cmocka_unit_test(object_meta),     cmocka_unit_test(object_meta_read),
		cmocka_unit_test(manifest),        cmocka_unit_test(hash_meta),
		cmocka_unit_test(filepath_rules),  cmocka_unit_test(filepath_meta),
	};
	return cmocka_run_group_tests_name("object", tests, NULL, NULL);
}
