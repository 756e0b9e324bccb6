/* jobs/migrate_legacy: 0.14 object keys, the 2.x metadata of a legacy uuid, and the worker side
 * (convert, check, --move) on a real file store in a scratch directory (no database: workers
 * never touch one). Expected texts come from fixtures/legacy014/expected-migration.json. */
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

#include "codecs/hash.h"
#include "jobs/migrate_legacy.h"
#include "jobs/migrate_legacy_object.h"

static char root[256];
static dj_store_spec spec;
static dj_legacy m;

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/djt_legacy_XXXXXX");
	if (!mkdtemp(root))
		return -1;
	memset(&spec, 0, sizeof(spec));
	spec.name = (char *)"archive";
	spec.protocol = (char *)"file";
	spec.location = root;
	memset(&m, 0, sizeof(m));
	m.schema_name = "fx_legacy014";
	m.specs = &spec;
	m.nspecs = 1;
	m.no_sync = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	dj_legacy_dispose(&m);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void md5(const void *p, size_t n, uint8_t out[16])
{
	dj_md5 h = DJ_MD5_INIT;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_md5_init(&h, &err), 0);
	assert_int_equal(dj_md5_update(&h, p, n, &err), 0);
	assert_int_equal(dj_md5_final(&h, out, &err), 0);
}

static void unhex(const char *s, uint8_t out[16])
{
	for (int i = 0; i < 16; i++) {
		unsigned v = 0;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void write_file(const char *rel, const void *p, size_t n)
{
	char path[512], dir[600];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	snprintf(dir, sizeof dir, "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(dir), 0);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static bool exists(const char *rel)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", root, rel);
	return stat(path, &st) == 0;
}

static void read_file(const char *rel, dj_buf *out)
{
	char path[512];
	dj_err err = DJ_ERR_INIT;
	snprintf(path, sizeof path, "%s/%s", root, rel);
	assert_int_equal(dj_file_read(path, out, &err), 0);
}

static void legacy_paths_and_metadata(void **state)
{
	(void)state;
	uint8_t u[16];
	dj_buf key = DJ_BUF_INIT, path = DJ_BUF_INIT, json = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	unhex("19c9864389f4377b35de1484c6e85b61", u);
	assert_int_equal(dj_legacy__old_key("fx_legacy014", u, "animal1.png", &key), 0);
	assert_string_equal(key.ptr,
	                    "fx_legacy014/19/c9/19c9864389f4377b35de1484c6e85b61.animal1.png");
	assert_int_equal(dj_legacy__hash_json(&m, "archive", u, 180, &path, &json, &err), 0);
	assert_string_equal(path.ptr, "_hash/fx_legacy014/dheymq4j6q3xwno6cscmn2c3me");
	/* json.dumps of the dict the reference migration wrote */
	assert_string_equal(json.ptr, "{\"hash\": \"dheymq4j6q3xwno6cscmn2c3me\", \"path\": "
	                              "\"_hash/fx_legacy014/dheymq4j6q3xwno6cscmn2c3me\", "
	                              "\"schema\": \"fx_legacy014\", \"store\": \"archive\", "
	                              "\"size\": 180}");
	dj_buf_reset(&key);
	unhex("0d4d2b3742be8a50865d000d62500ea9", u);
	assert_int_equal(dj_legacy__old_key("s", u, NULL, &key), 0);
	assert_string_equal(key.ptr, "s/0d/4d/0d4d2b3742be8a50865d000d62500ea9");
	dj_buf_reset(&path), dj_buf_reset(&json);
	assert_int_equal(dj_legacy__hash_json(&m, "nope", u, 1, &path, &json, &err), DJ_EUSAGE);
	assert_string_equal(dj_legacy_kind_name(DJ_LEGACY_INATTACH), "inattach");
	dj_buf_dispose(&key), dj_buf_dispose(&path), dj_buf_dispose(&json);
}

static void blob_copied_checked_moved(void **state)
{
	(void)state;
	const char body[] = "mYm\0A not really a blob, bytes are bytes";
	dj_legacy_obj o;
	dj_buf json = DJ_BUF_INIT, old = DJ_BUF_INIT, got = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	uint64_t copied = 0;
	char hash[DJ_HASH_LEN + 1], newkey[128];
	memset(&o, 0, sizeof(o));
	o.kind = DJ_LEGACY_BLOB;
	o.store = "archive";
	md5(body, sizeof body, o.uuid);
	dj_hash_from_digest(o.uuid, hash);
	snprintf(newkey, sizeof newkey, "_hash/fx_legacy014/%s", hash);
	assert_int_equal(dj_legacy__old_key("fx_legacy014", o.uuid, NULL, &old), 0);
	/* missing 0.14 object */
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "is missing"));
	/* a damaged 0.14 object is not copied */
	write_file(old.ptr, "xx", 2);
	dj_err_clear(&err);
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), DJ_ECONFLICT);
	assert_non_null(strstr(err.msg, "hash mismatch"));
	assert_false(exists(newkey));
	write_file(old.ptr, body, sizeof body);
	dj_err_clear(&err);
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), 0);
	assert_int_equal(copied, sizeof body);
	read_file(newkey, &got);
	assert_int_equal(got.len, sizeof body);
	assert_memory_equal(got.ptr, body, sizeof body);
	assert_non_null(strstr(json.ptr, hash));
	char size[32];
	snprintf(size, sizeof size, "\"size\": %zu}", sizeof body);
	assert_non_null(strstr(json.ptr, size));
	/* again: the intact object is kept, nothing written */
	dj_buf_reset(&json);
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), 0);
	assert_int_equal(copied, 0);
	/* check without move keeps the 0.14 object */
	assert_int_equal(dj_legacy__check(&m, &o, json.ptr, json.len, &err), 0);
	assert_true(exists(old.ptr));
	/* corrupted new object: detected, and --move keeps the 0.14 object */
	m.move = true;
	write_file(newkey, "corrupt", 7);
	assert_int_equal(dj_legacy__check(&m, &o, json.ptr, json.len, &err), DJ_ECONFLICT);
	assert_non_null(strstr(err.msg, "hash mismatch"));
	assert_true(exists(old.ptr));
	/* a refill repairs it from the 0.14 object; then --move removes that */
	dj_buf_reset(&json);
	dj_err_clear(&err);
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), 0);
	assert_int_equal(copied, sizeof body);
	assert_int_equal(dj_legacy__check(&m, &o, json.ptr, json.len, &err), 0);
	assert_false(exists(old.ptr));
	/* and the new object alone is enough for a later convert */
	dj_buf_reset(&json);
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), 0);
	m.move = false;
	dj_buf_dispose(&json), dj_buf_dispose(&old), dj_buf_dispose(&got);
}

static void attachment_rebuilt(void **state)
{
	(void)state;
	const char contents[] = "two-photon imaging protocol v1\n";
	char payload[64];
	size_t n = strlen(contents);
	dj_legacy_obj o;
	dj_buf json = DJ_BUF_INIT, old = DJ_BUF_INIT, got = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	uint64_t copied = 0;
	char hash[DJ_HASH_LEN + 1], newkey[128];
	memcpy(payload, "doc.txt", 8); /* name NUL contents */
	memcpy(payload + 8, contents, n);
	memset(&o, 0, sizeof(o));
	o.kind = DJ_LEGACY_ATTACH;
	o.store = "archive";
	o.attach_name = "doc.txt";
	md5(payload, 8 + n, o.uuid);
	dj_hash_from_digest(o.uuid, hash);
	snprintf(newkey, sizeof newkey, "_hash/fx_legacy014/%s", hash);
	assert_int_equal(dj_legacy__old_key("fx_legacy014", o.uuid, "doc.txt", &old), 0);
	write_file(old.ptr, contents, n); /* 0.14 stored the contents only */
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), 0);
	read_file(newkey, &got);
	assert_int_equal(got.len, 8 + n);
	assert_memory_equal(got.ptr, payload, 8 + n);
	char size[32];
	snprintf(size, sizeof size, "\"size\": %zu}", 8 + n);
	assert_non_null(strstr(json.ptr, size));
	assert_int_equal(dj_legacy__check(&m, &o, json.ptr, json.len, &err), 0);
	dj_buf_dispose(&json), dj_buf_dispose(&old), dj_buf_dispose(&got);
}

static void filepath_described_in_place(void **state)
{
	(void)state;
	const char *rel = "scans/animal1/scan1.tif", data[] = "II*\0 a tiff, say";
	dj_legacy_obj o;
	dj_buf json = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	uint64_t copied = 1;
	memset(&o, 0, sizeof(o));
	o.kind = DJ_LEGACY_FILEPATH;
	o.store = "archive";
	o.filepath = rel;
	o.ts = 1795293937; /* 2026-11-21T20:45:37Z */
	md5(rel, strlen(rel), o.uuid);
	o.has_contents_hash = true;
	md5(data, sizeof data, o.contents_hash);
	write_file(rel, data, sizeof data);
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), 0);
	assert_int_equal(copied, 0);
	char want[256];
	snprintf(want, sizeof want,
	         "{\"path\": \"%s\", \"store\": \"archive\", \"size\": %zu, \"is_dir\": false, "
	         "\"timestamp\": \"2026-11-21T20:45:37+00:00\"}",
	         rel, sizeof data);
	assert_string_equal(json.ptr, want);
	assert_int_equal(dj_legacy__check(&m, &o, json.ptr, json.len, &err), 0);
	assert_true(exists(rel)); /* the file stays */
	/* changed since 0.14 recorded it */
	write_file(rel, "other", 5);
	assert_int_equal(dj_legacy__check(&m, &o, json.ptr, json.len, &err), DJ_ECONFLICT);
	dj_buf_reset(&json);
	dj_err_clear(&err);
	assert_int_equal(dj_legacy__convert(&m, &o, &json, &copied, &err), DJ_ECONFLICT);
	assert_non_null(strstr(err.msg, "hash mismatch"));
	dj_buf_dispose(&json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(legacy_paths_and_metadata),
	    cmocka_unit_test(blob_copied_checked_moved),
	    cmocka_unit_test(attachment_rebuilt),
	    cmocka_unit_test(filepath_described_in_place),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
