/* codecs/blob: every golden vector of vectors/blob/index.tsv, plus hostile inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/blob.h"
#include "codecs/value.h"
#include "codecs/value_model.h"
#include "tests/unit/vectors.h"

typedef struct vec {
	const char *name, *origin, *protocol, *wrapper, *expected;
	size_t nbytes;
	dj_buf bytes;
	bool dims32, from_python;
} vec;

typedef struct vecset {
	dj_tsv tsv;
	size_t n;
	vec *v;
} vecset;

static int load_vectors(void **state)
{
	vecset *vs = calloc(1, sizeof *vs);
	char rel[512];
	dj_tsv_load(&vs->tsv, dj_test_shared_path("vectors/blob/index.tsv"));
	vs->n = vs->tsv.nrows;
	vs->v = calloc(vs->n, sizeof *vs->v);
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		v->name = dj_tsv_get(&vs->tsv, i, "name");
		v->origin = dj_tsv_get(&vs->tsv, i, "origin");
		v->protocol = dj_tsv_get(&vs->tsv, i, "protocol");
		v->wrapper = dj_tsv_get(&vs->tsv, i, "wrapper");
		v->expected = dj_tsv_get(&vs->tsv, i, "expected");
		v->nbytes = strtoull(dj_tsv_get(&vs->tsv, i, "bytes"), NULL, 10);
		/* the origin column says which blobs need the §2.8 32-bit mode ("...; dims32)") */
		v->dims32 = strstr(v->origin, "dims32") != NULL;
		v->from_python = strcmp(v->origin, "datajoint.blob.pack") == 0;
		v->bytes = (dj_buf)DJ_BUF_INIT;
		snprintf(rel, sizeof rel, "vectors/blob/%s.blob", v->name);
		dj_test_read(dj_test_shared_path(rel), &v->bytes);
	}
	assert_true(vs->n >= 90); /* the index has 93 vectors; a short read means a broken copy */
	*state = vs;
	return 0;
}

static int free_vectors(void **state)
{
	vecset *vs = *state;
	if (!vs)
		return 0; /* setup failed */
	for (size_t i = 0; i < vs->n; i++)
		dj_buf_dispose(&vs->v[i].bytes);
	free(vs->v);
	dj_tsv_free(&vs->tsv);
	free(vs);
	return 0;
}

static int unpack_vec(const vec *v, dj_value **out, dj_blob_info *info, dj_err *err)
{
	dj_blob_opts o = {.dims32 = v->dims32};
	return dj_blob_unpack((const uint8_t *)v->bytes.ptr, v->bytes.len, &o, out, info, err);
}

static bool same_bytes(const dj_buf *a, const dj_buf *b)
{
	return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

static void show_diff(const char *name, const dj_buf *got, const dj_buf *want)
{
	size_t i = 0;
	while (i < got->len && i < want->len && got->ptr[i] == want->ptr[i])
		i++;
	print_error("%s: bytes differ (got %zu, want %zu bytes, first difference at offset %zu)\n", name,
		    got->len, want->len, i);
}

/* (a) unpack, then the model must equal the `expected` column (json_equal). */
static void vectors_decode_to_expected_model(void **state)
{
	vecset *vs = *state;
	size_t bad = 0;
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		dj_err err = DJ_ERR_INIT;
		dj_value *val = NULL;
		json_t *got = NULL, *want;
		json_error_t jerr;
		if (unpack_vec(v, &val, NULL, &err) < 0 ||
		    dj_value_to_model(val, DJ_MODEL_SUMMARIZE_VECTORS, &got, &err) < 0) {
			print_error("%s: %s\n", v->name, err.msg);
			bad++;
			dj_value_free(val);
			continue;
		}
		want = json_loads(v->expected, 0, &jerr);
		if (!want)
			fail_msg("%s: expected column is not JSON: %s", v->name, jerr.text);
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
			print_error("%s: model differs\n  got:  %s\n  want: %s\n", v->name, g, w);
			free(g);
			free(w);
			bad++;
		}
		json_decref(got);
		json_decref(want);
		dj_value_free(val);
	}
	if (bad)
		fail_msg("%zu of %zu vectors decode to a different model", bad, vs->n);
}

/* (b) protocol, wrapper and size columns. */
static void vectors_report_header_and_wrapper(void **state)
{
	vecset *vs = *state;
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		dj_err err = DJ_ERR_INIT;
		dj_value *val = NULL;
		dj_blob_info info;
		if (unpack_vec(v, &val, &info, &err) < 0)
			fail_msg("%s: %s", v->name, err.msg);
		if (strcmp(info.header, v->protocol) != 0)
			fail_msg("%s: header %s, index says %s", v->name, info.header, v->protocol);
		if (info.zlib != (strcmp(v->wrapper, "zlib") == 0))
			fail_msg("%s: zlib=%d, index says %s", v->name, info.zlib, v->wrapper);
		if (info.raw_len != v->nbytes || v->bytes.len != v->nbytes)
			fail_msg("%s: %zu bytes, index says %zu", v->name, info.raw_len, v->nbytes);
		if (!info.zlib && info.body_len != info.raw_len)
			fail_msg("%s: body_len %zu for a raw blob of %zu", v->name, info.body_len, info.raw_len);
		dj_value_free(val);
	}
}

/* (c) pack(unpack(bytes)) == bytes for everything datajoint-python wrote; the rules of §2.1
 * and §2.2 must choose the same header and wrapper. MATLAB blobs are mYm-only trees, so they
 * re-emit exactly too (NaN payloads kept); the 32-bit blob cannot (we write u64 L fields). */
static void vectors_repack_exact(void **state)
{
	vecset *vs = *state;
	size_t checked = 0;
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		dj_err err = DJ_ERR_INIT;
		dj_value *val = NULL, *again = NULL;
		dj_buf out = DJ_BUF_INIT;
		if (unpack_vec(v, &val, NULL, &err) < 0 || dj_blob_pack(val, NULL, &out, &err) < 0)
			fail_msg("%s: %s", v->name, err.msg);
		if (!v->dims32) {
			if (!same_bytes(&out, &v->bytes)) {
				show_diff(v->name, &out, &v->bytes);
				fail_msg("%s: pack(unpack(bytes)) != bytes", v->name);
			}
			checked++;
		} else { /* mym32: the 64-bit re-encoding must decode to the same tree */
			if (dj_blob_unpack((const uint8_t *)out.ptr, out.len, NULL, &again, NULL, &err) < 0)
				fail_msg("%s: %s", v->name, err.msg);
			assert_true(dj_value_equal(val, again));
			assert_string_equal(dj_blob_header_needed(val), "mYm");
		}
		assert_string_equal(dj_blob_header_needed(val), v->protocol);
		dj_value_free(val);
		dj_value_free(again);
		dj_buf_dispose(&out);
	}
	assert_true(checked + 1 == vs->n);
}

/* (d) pack(from_model(expected)) == bytes: the packer checked apart from the unpacker. */
static void vectors_pack_from_model(void **state)
{
	vecset *vs = *state;
	size_t checked = 0, summarized = 0;
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		dj_err err = DJ_ERR_INIT;
		dj_value *val = NULL;
		dj_buf out = DJ_BUF_INIT;
		json_t *m = json_loads(v->expected, 0, NULL);
		int rc;
		assert_non_null(m);
		rc = dj_value_from_model(m, &val, &err);
		if (strstr(v->expected, "\"data_F_sha256\"")) {
			if (rc != DJ_ENOTSUP)
				fail_msg("%s: a summarized model must give DJ_ENOTSUP, got %d", v->name, rc);
			summarized++;
			json_decref(m);
			continue;
		}
		if (rc < 0)
			fail_msg("%s: from_model: %s", v->name, err.msg);
		if (v->from_python) {
			if (dj_blob_pack(val, NULL, &out, &err) < 0)
				fail_msg("%s: %s", v->name, err.msg);
			if (!same_bytes(&out, &v->bytes)) {
				show_diff(v->name, &out, &v->bytes);
				fail_msg("%s: pack(from_model(expected)) != bytes", v->name);
			}
			checked++;
		}
		json_decref(m);
		dj_value_free(val);
		dj_buf_dispose(&out);
	}
	assert_true(checked > 70);
	assert_int_equal(summarized, 5);
}

/* The model of the decoded tree rebuilds the same tree (exercises to_model/from_model on the
 * MATLAB and 32-bit vectors too, and the never-summarize mode). */
static void vectors_model_round_trip(void **state)
{
	vecset *vs = *state;
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		dj_err err = DJ_ERR_INIT;
		dj_value *val = NULL, *back = NULL;
		json_t *m = NULL;
		dj_buf text = DJ_BUF_INIT;
		if (unpack_vec(v, &val, NULL, &err) < 0 || dj_value_to_model(val, SIZE_MAX, &m, &err) < 0 ||
		    dj_value_from_model(m, &back, &err) < 0)
			fail_msg("%s: %s", v->name, err.msg);
		if (!dj_value_equal(val, back))
			fail_msg("%s: from_model(to_model(tree)) differs from tree", v->name);
		if (dj_value_model_text(val, DJ_MODEL_SUMMARIZE_VECTORS, &text, &err) < 0)
			fail_msg("%s: %s", v->name, err.msg);
		if (!v->dims32 && strcmp(text.ptr, v->expected) != 0 && !strstr(v->expected, "\\u"))
			fail_msg("%s: compact text differs\n got:  %s\n want: %s", v->name, text.ptr, v->expected);
		json_decref(m);
		dj_value_free(val);
		dj_value_free(back);
		dj_buf_dispose(&text);
	}
}

/* Every strict prefix of every vector is an error, never a crash or a huge allocation. */
static void vectors_every_truncation_fails(void **state)
{
	vecset *vs = *state;
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		dj_blob_opts o = {.dims32 = v->dims32};
		for (size_t len = 0; len < v->bytes.len; len++) {
			dj_err err = DJ_ERR_INIT;
			dj_value *val = (dj_value *)1;
			int rc = dj_blob_unpack((const uint8_t *)v->bytes.ptr, len, &o, &val, NULL, &err);
			if (rc != DJ_EFORMAT || val != NULL || !err.msg[0])
				fail_msg("%s: prefix of %zu bytes gave rc %d", v->name, len, rc);
		}
	}
}

/* Flip every byte of every vector: errors are fine, crashes are not; whatever decodes must
 * survive pack + unpack unchanged. */
static void vectors_every_byte_flipped(void **state)
{
	vecset *vs = *state;
	size_t ok = 0, failed = 0;
	for (size_t i = 0; i < vs->n; i++) {
		vec *v = &vs->v[i];
		dj_blob_opts o = {.dims32 = v->dims32};
		uint8_t *copy = malloc(v->bytes.len);
		for (size_t at = 0; at < v->bytes.len; at++) {
			dj_err err = DJ_ERR_INIT;
			dj_value *val = NULL, *again = NULL;
			dj_buf out = DJ_BUF_INIT;
			memcpy(copy, v->bytes.ptr, v->bytes.len);
			copy[at] ^= 0xFF;
			if (dj_blob_unpack(copy, v->bytes.len, &o, &val, NULL, &err) < 0) {
				assert_non_null(strstr(err.msg, "blob: "));
				failed++;
				continue;
			}
			ok++;
			if (dj_blob_pack(val, NULL, &out, &err) == 0) {
				assert_int_equal(dj_blob_unpack((const uint8_t *)out.ptr, out.len, NULL, &again, NULL, &err), 0);
				assert_true(dj_value_equal(val, again));
			}
			dj_value_free(val);
			dj_value_free(again);
			dj_buf_dispose(&out);
		}
		free(copy);
	}
	assert_true(ok > 0 && failed > 0);
}

/* --- hostile inputs ---------------------------------------------------------------------------- */

static int unpack_hex(const char *spaced, dj_blob_opts *o, dj_value **out, dj_err *err)
{
	char hex[4096];
	size_t k = 0;
	dj_buf b = DJ_BUF_INIT;
	int rc;
	for (const char *c = spaced; *c && k + 1 < sizeof hex; c++)
		if (*c != ' ')
			hex[k++] = *c;
	hex[k] = '\0';
	dj_test_unhex(hex, &b);
	rc = dj_blob_unpack((const uint8_t *)b.ptr, b.len, o, out, NULL, err);
	dj_buf_dispose(&b);
	return rc;
}

static void expect_error(const char *hex, int code, const char *needle)
{
	dj_err err = DJ_ERR_INIT;
	dj_value *v = NULL;
	int rc = unpack_hex(hex, NULL, &v, &err);
	if (rc != code || v != NULL)
		fail_msg("%s: rc %d (%s), expected %d", hex, rc, err.msg, code);
	if (needle && !strstr(err.msg, needle))
		fail_msg("%s: message '%s' lacks '%s'", hex, err.msg, needle);
}

static void hostile_item_codes(void **state)
{
	(void)state;
	expect_error("646A3000 07", DJ_EFORMAT, "unknown item code 0x07 at offset 4");
	expect_error("6D596D00 50 0100000000000000", DJ_ENOTSUP, "sparse");
	expect_error("616263 00 FF", DJ_EFORMAT, "missing protocol header");
	expect_error("646A30", DJ_EFORMAT, "missing protocol header");
	expect_error("", DJ_EFORMAT, "empty");
	expect_error("646A3000 FF 00", DJ_EFORMAT, "trailing bytes after the item at offset 5");
	/* every code byte not in formats.md §2.3 is refused, naming the offset */
	for (int c = 0; c < 256; c++) {
		char hex[64];
		if (strchr("ASCFPdtu", c) || c == 0xFF || (c >= 1 && c <= 6) || (c >= 0x0A && c <= 0x0D))
			continue;
		snprintf(hex, sizeof hex, "646A3000%02X", c);
		expect_error(hex, DJ_EFORMAT, "unknown item code");
	}
}

static void hostile_type_ids(void **state)
{
	(void)state;
	/* A, ndim 1, shape [1], type id, complex 0, 8 data bytes */
	const uint32_t bad_ids[] = {0, 1, 2, 16, 17, 65535, 65549, 0xFFFFFFFF};
	for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
		char hex[256];
		uint32_t id = bad_ids[i];
		snprintf(hex, sizeof hex, "6D596D00 41 0100000000000000 0100000000000000 %02X%02X%02X%02X 00000000 "
			 "0000000000000000", id & 0xFF, (id >> 8) & 0xFF, (id >> 16) & 0xFF, id >> 24);
		expect_error(hex, DJ_EFORMAT, "unknown array type id");
	}
	/* complex char / datetime64 arrays are refused (Python ignores or fails on the flag) */
	expect_error("6D596D00 41 0100000000000000 0100000000000000 04000000 01000000 61006200", DJ_EFORMAT,
		     "complex flag");
}

static double ms_since(struct timespec t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* Declared sizes are checked against the bytes left before allocating: these fail at once
 * (an attempt to allocate 2^62 elements would abort under ASan). */
static void hostile_absurd_sizes(void **state)
{
	struct timespec t0;
	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* 2^62 float64 elements in a 40-byte blob */
	expect_error("6D596D00 41 0100000000000000 0000000000000040 06000000 00000000 0000000000000000",
		     DJ_EFORMAT, "truncated array data");
	/* 2^62 dimensions */
	expect_error("6D596D00 41 0000000000000040 0100000000000000", DJ_EFORMAT, "ndim");
	/* shape 2^32 x 2^32 x 2^32 overflows */
	expect_error("6D596D00 41 0300000000000000 0000000001000000 0000000001000000 0000000001000000 "
		     "06000000 00000000", DJ_EFORMAT, "overflows");
	/* a dimension of 0 makes the rest harmless (numpy's prod): empty 0 x 2^62 array is valid */
	{
		dj_err err = DJ_ERR_INIT;
		dj_value *v = NULL;
		assert_int_equal(unpack_hex("6D596D00 41 0200000000000000 0000000000000000 0000000000000040 "
					    "06000000 00000000", NULL, &v, &err), 0);
		assert_int_equal(v->u.arr.count, 0);
		dj_value_free(v);
	}
	/* 2^62-element list, dict, cell, struct, object array, string */
	expect_error("646A3000 02 0000000000000040", DJ_EFORMAT, "sequence count");
	expect_error("646A3000 04 0000000000000040 00", DJ_EFORMAT, "dict count");
	expect_error("6D596D00 43 0100000000000000 0000000000000040", DJ_EFORMAT, "cell elements");
	expect_error("6D596D00 53 0100000000000000 0000000000000040 01000000 6100", DJ_EFORMAT, "struct elements");
	expect_error("6D596D00 53 0100000000000000 0100000000000000 FFFFFFFF 6100", DJ_EFORMAT, "fields");
	expect_error("646A3000 41 0100000000000000 0000000000000040 05000000 00000000", DJ_EFORMAT, "object elements");
	expect_error("646A3000 05 0000000000000040 41", DJ_EFORMAT, "string length");
	expect_error("646A3000 0A FFFF 00", DJ_EFORMAT, "int bytes");
	/* a zlib wrapper claiming 2^60 bytes from a 10-byte stream */
	expect_error("5A4C31323300 0000000000000010 789C030000000001", DJ_EFORMAT, "more than");
	assert_true(ms_since(t0) < 1000.0);
}

static void hostile_nesting(void **state)
{
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_value *v = NULL;
	const int deep = 300;
	(void)state;
	/* [[[...[None]...]]]: list of one item, each length = rest */
	dj_buf_add(&b, "dj0", 4);
	for (int i = 0; i < deep; i++) {
		uint64_t count = 1, len = 1 + (uint64_t)(deep - 1 - i) * 17;
		dj_buf_addc(&b, 0x02);
		dj_buf_add(&b, &count, 8);
		dj_buf_add(&b, &len, 8);
	}
	dj_buf_addc(&b, (char)0xFF);
	assert_int_equal(dj_blob_unpack((const uint8_t *)b.ptr, b.len, NULL, &v, NULL, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "nested deeper than 128"));
	assert_null(v);
	/* the same bytes with a raised limit decode */
	dj_err_clear(&err);
	assert_int_equal(dj_blob_unpack((const uint8_t *)b.ptr, b.len, &(dj_blob_opts){.max_depth = 400},
					&v, NULL, &err), 0);
	dj_value_free(v);
	dj_buf_dispose(&b);
}

static void hostile_nested_lengths(void **state)
{
	(void)state;
	/* list of one item whose length says 2 but the item (None) uses 1 */
	expect_error("646A3000 02 0100000000000000 0200000000000000 FF FF", DJ_EFORMAT, "used 1 of its 2 bytes");
	/* length past the end */
	expect_error("646A3000 02 0100000000000000 0900000000000000 FF", DJ_EFORMAT, "passes the");
	/* an item that would run past its length */
	expect_error("646A3000 02 0100000000000000 0200000000000000 0A01 0005", DJ_EFORMAT, "truncated int length");
	expect_error("646A3000 02 0100000000000000 0100000000000000 0B 01", DJ_EFORMAT, "truncated bool");
	/* invalid UTF-8 in str and field names */
	expect_error("646A3000 05 0200000000000000 C328", DJ_EFORMAT, "UTF-8");
	expect_error("6D596D00 53 0100000000000000 0100000000000000 01000000 FF00 0900000000000000 FF",
		     DJ_EFORMAT, "not UTF-8");
	/* record fields must be arrays */
	expect_error("646A3000 46 01000000 7800 FF", DJ_EFORMAT, "not an array");
}

static void zlib_wrapper_errors(void **state)
{
	vecset *vs = *state;
	const vec *z = NULL;
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_value *v = NULL;
	uint64_t L;
	for (size_t i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].name, "arr_zeros_100x100_zlib") == 0)
			z = &vs->v[i];
	assert_non_null(z);
	memcpy(&L, z->bytes.ptr + 6, 8);
	assert_int_equal(L, 80037); /* formats.md §2.12 */
	/* wrapper length one off either way */
	for (int d = -1; d <= 1; d += 2) {
		uint64_t bad = L + (uint64_t)(int64_t)d;
		dj_buf_reset(&b);
		dj_buf_add(&b, z->bytes.ptr, z->bytes.len);
		memcpy(b.ptr + 6, &bad, 8);
		dj_err_clear(&err);
		assert_int_equal(dj_blob_unpack((const uint8_t *)b.ptr, b.len, NULL, &v, NULL, &err), DJ_EFORMAT);
		assert_non_null(strstr(err.msg, "differs from the wrapper length"));
	}
	/* bytes after the zlib stream are ignored, as in Python */
	dj_buf_reset(&b);
	dj_buf_add(&b, z->bytes.ptr, z->bytes.len);
	dj_buf_add(&b, "junk", 4);
	dj_err_clear(&err);
	assert_int_equal(dj_blob_unpack((const uint8_t *)b.ptr, b.len, NULL, &v, NULL, &err), 0);
	assert_int_equal(v->u.arr.count, 10000);
	dj_value_free(v);
	/* a corrupted stream (checksum) */
	dj_buf_reset(&b);
	dj_buf_add(&b, z->bytes.ptr, z->bytes.len);
	b.ptr[b.len - 1] ^= 1;
	dj_err_clear(&err);
	assert_int_equal(dj_blob_unpack((const uint8_t *)b.ptr, b.len, NULL, &v, NULL, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "zlib"));
	/* garbage after the magic */
	expect_error("5A4C31323300 0500000000000000 0102030405060708", DJ_EFORMAT, "bad zlib stream");
	expect_error("5A4C31323300 0500", DJ_EFORMAT, "truncated zlib wrapper");
	/* the cap: 80037 inflated bytes over max_bytes 1000 */
	dj_err_clear(&err);
	assert_int_equal(dj_blob_unpack((const uint8_t *)z->bytes.ptr, z->bytes.len,
					&(dj_blob_opts){.max_bytes = 1000}, &v, NULL, &err), DJ_ENOMEM);
	dj_buf_dispose(&b);
}

/* §2.5: Python's writer emits one 00 after an empty name list; accept both forms, never emit. */
static void struct_without_fields(void **state)
{
	dj_err err = DJ_ERR_INIT;
	dj_value *v = NULL;
	dj_buf out = DJ_BUF_INIT;
	(void)state;
	assert_int_equal(unpack_hex("6D596D00 53 0200000000000000 0100000000000000 0100000000000000 00000000 00",
				    NULL, &v, &err), 0);
	assert_int_equal(v->kind, DJ_V_STRUCT);
	assert_int_equal(v->u.st.nfields, 0);
	assert_int_equal(dj_blob_pack(v, NULL, &out, &err), DJ_ENOTSUP);
	assert_int_equal(out.len, 0);
	dj_value_free(v);
	dj_err_clear(&err);
	assert_int_equal(unpack_hex("6D596D00 53 0200000000000000 0100000000000000 0100000000000000 00000000",
				    NULL, &v, &err), 0);
	dj_value_free(v);
	expect_error("6D596D00 53 0200000000000000 0100000000000000 0100000000000000 00000000 0000",
		     DJ_EFORMAT, "trailing");
	dj_buf_dispose(&out);
}

/* Streaming deflate must equal zlib.compress(body) (level 6) byte for byte, for data bigger
 * than the staging buffer and the deflate window; compress=false gives the raw body. */
static void pack_large_matches_compress2(void **state)
{
	const size_t n = 3 * 1000 * 1000 + 7;
	uint64_t shape[1] = {n};
	dj_err err = DJ_ERR_INIT;
	dj_value *v = dj_value_array(DJ_TYPE_FLOAT64, false, 1, shape, &err), *back = NULL;
	dj_buf out = DJ_BUF_INIT, raw = DJ_BUF_INIT;
	dj_blob_pack_opts plain = {.compress = false};
	uint32_t seed = 12345;
	uLongf zlen;
	uint8_t *z;
	uint64_t L;
	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		double d;
		seed = seed * 1103515245u + 12345u;
		d = (double)((seed >> 16) % 50);
		memcpy(v->u.arr.data + 8 * i, &d, 8);
	}
	assert_int_equal(dj_blob_pack(v, &plain, &raw, &err), 0);
	assert_int_equal(raw.len, 4 + 1 + 8 + 8 + 8 + 8 * n);
	assert_memory_equal(raw.ptr, "mYm\0A", 5);
	assert_int_equal(dj_blob_pack(v, NULL, &out, &err), 0);
	zlen = compressBound(raw.len);
	z = malloc(zlen);
	assert_int_equal(compress2(z, &zlen, (const Bytef *)raw.ptr, raw.len, 6), Z_OK);
	assert_int_equal(out.len, 14 + zlen);
	assert_memory_equal(out.ptr, "ZL123\0", 6);
	memcpy(&L, out.ptr + 6, 8);
	assert_int_equal(L, raw.len);
	assert_memory_equal(out.ptr + 14, z, zlen);
	assert_int_equal(dj_blob_unpack((const uint8_t *)out.ptr, out.len, NULL, &back, NULL, &err), 0);
	assert_true(dj_value_equal(v, back));
	free(z);
	dj_value_free(v);
	dj_value_free(back);
	dj_buf_dispose(&out);
	dj_buf_dispose(&raw);
}

/* §2.2 header rule, beyond what the vectors show. */
static void header_rule(void **state)
{
	dj_err err = DJ_ERR_INIT;
	uint64_t one[1] = {1};
	dj_value *c0 = dj_value_array(DJ_TYPE_CHAR, false, 0, NULL, &err);
	dj_value *b0 = dj_value_array(DJ_TYPE_BOOL, false, 0, NULL, &err);
	dj_value *o1 = dj_value_array(DJ_TYPE_OBJECT, false, 1, (uint64_t[]){0}, &err);
	dj_value *cell = dj_value_new(DJ_V_CELL);
	dj_buf out = DJ_BUF_INIT;
	(void)state;
	assert_string_equal(dj_blob_header_needed(c0), "mYm"); /* 0-d char stays mYm (QUIRK) */
	assert_string_equal(dj_blob_header_needed(b0), "dj0");
	assert_string_equal(dj_blob_header_needed(o1), "dj0"); /* even an empty object array */
	cell->u.cell.ndim = 1;
	cell->u.cell.shape = malloc(8);
	memcpy(cell->u.cell.shape, one, 8);
	cell->u.cell.count = 1;
	cell->u.cell.elems = calloc(1, sizeof(dj_value *));
	cell->u.cell.elems[0] = dj_value_array(DJ_TYPE_FLOAT64, false, 1, one, &err);
	assert_string_equal(dj_blob_header_needed(cell), "mYm");
	dj_value_free(cell->u.cell.elems[0]);
	cell->u.cell.elems[0] = dj_value_int64(5);
	assert_string_equal(dj_blob_header_needed(cell), "dj0");
	assert_int_equal(dj_blob_pack(cell, NULL, &out, &err), 0);
	assert_memory_equal(out.ptr, "dj0\0C", 5);
	/* a foreign header can be kept on request; nonsense is refused */
	dj_buf_reset(&out);
	assert_int_equal(dj_blob_pack(cell, &(dj_blob_pack_opts){.compress = true, .header = "mYm"}, &out, &err), 0);
	assert_memory_equal(out.ptr, "mYm\0C", 5);
	assert_int_equal(dj_blob_pack(cell, &(dj_blob_pack_opts){.header = "xyz"}, &out, &err), DJ_EUSAGE);
	dj_value_free(c0);
	dj_value_free(b0);
	dj_value_free(o1);
	dj_value_free(cell);
	dj_buf_dispose(&out);
}

/* Invalid trees are refused, not written. */
static void pack_rejects_bad_trees(void **state)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf out = DJ_BUF_INIT;
	uint64_t two[1] = {2};
	dj_value *a = dj_value_array(DJ_TYPE_INT32, false, 1, two, &err);
	dj_value *l = dj_value_new(DJ_V_LIST);
	(void)state;
	a->u.arr.data_len = 4; /* lies about its size */
	assert_int_equal(dj_blob_pack(a, NULL, &out, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "data_len"));
	assert_int_equal(out.len, 0);
	/* deeper than the limit */
	for (int i = 0; i < DJ_BLOB_MAX_DEPTH + 5; i++) {
		dj_value *outer = dj_value_new(DJ_V_LIST);
		assert_int_equal(dj_value_seq_push(outer, l), 0);
		l = outer;
	}
	dj_err_clear(&err);
	assert_int_equal(dj_blob_pack(l, NULL, &out, &err), DJ_ENOTSUP);
	assert_int_equal(dj_blob_pack(NULL, NULL, &out, &err), DJ_EUSAGE);
	dj_value_free(a);
	dj_value_free(l);
	dj_buf_dispose(&out);
}

/* §2.8: the 32-bit vector does not decode in the default mode, and 64-bit blobs are not
 * silently accepted in 32-bit mode when their structure disagrees. */
static void dims32_is_opt_in(void **state)
{
	vecset *vs = *state;
	for (size_t i = 0; i < vs->n; i++) {
		dj_err err = DJ_ERR_INIT;
		dj_value *v = NULL;
		if (!vs->v[i].dims32)
			continue;
		assert_int_not_equal(dj_blob_unpack((const uint8_t *)vs->v[i].bytes.ptr, vs->v[i].bytes.len, NULL, &v,
						    NULL, &err), 0);
		assert_null(v);
		return;
	}
	fail_msg("no dims32 vector in the index");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vectors_decode_to_expected_model),
		cmocka_unit_test(vectors_report_header_and_wrapper),
		cmocka_unit_test(vectors_repack_exact),
		cmocka_unit_test(vectors_pack_from_model),
		cmocka_unit_test(vectors_model_round_trip),
		cmocka_unit_test(vectors_every_truncation_fails),
		cmocka_unit_test(vectors_every_byte_flipped),
		cmocka_unit_test(zlib_wrapper_errors),
		cmocka_unit_test(dims32_is_opt_in),
		cmocka_unit_test(hostile_item_codes),
		cmocka_unit_test(hostile_type_ids),
		cmocka_unit_test(hostile_absurd_sizes),
		cmocka_unit_test(hostile_nesting),
		cmocka_unit_test(hostile_nested_lengths),
		cmocka_unit_test(struct_without_fields),
		cmocka_unit_test(pack_large_matches_compress2),
		cmocka_unit_test(header_rule),
		cmocka_unit_test(pack_rejects_bad_trees),
	};
	return cmocka_run_group_tests_name("blob", tests, load_vectors, free_vectors);
}
