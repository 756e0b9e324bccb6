/* codecs/npy: .npy parse/write (formats.md §6.9), dtype text (§6.8), vectors/npy/ */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "codecs/npy.h"
#include "tests/unit/vectors.h"

/* Decode a Python str repr ("'...'" or "\"...\"") as the index's header_text column holds it. */
static void py_unrepr(const char *s, dj_buf *out)
{
	size_t n = strlen(s);
	if (n < 2 || (s[0] != '"' && s[0] != '\'') || s[n - 1] != s[0])
		fail_msg("not a str repr: %s", s);
	for (size_t i = 1; i < n - 1; i++) {
		char c = s[i];
		if (c != '\\') {
			dj_buf_addc(out, c);
			continue;
		}
		c = s[++i];
		if (c == 'n')
			dj_buf_addc(out, '\n');
		else if (c == 't')
			dj_buf_addc(out, '\t');
		else if (c == 'x') {
			unsigned v;
			if (sscanf(s + i + 1, "%2x", &v) != 1)
				fail_msg("bad \\x in %s", s);
			dj_buf_addc(out, (char)v);
			i += 2;
		} else
			dj_buf_addc(out, c);
	}
}

static void load_npy(const char *name, dj_buf *file, dj_npy *a)
{
	char rel[256];
	dj_err err = DJ_ERR_INIT;
	snprintf(rel, sizeof(rel), "vectors/npy/%s.npy", name);
	dj_test_read(dj_test_shared_path(rel), file);
	if (dj_npy_parse(a, file->ptr, file->len, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
}

static void check_row(const dj_tsv *t, size_t r)
{
	const char *name = dj_tsv_get(t, r, "name");
	dj_buf file = DJ_BUF_INIT, text = DJ_BUF_INIT, out = DJ_BUF_INIT, dt = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	json_error_t je;
	json_t *meta = json_loads(dj_tsv_get(t, r, "metadata_json"), 0, &je);
	json_t *shape = json_object_get(meta, "shape");
	char *descr = NULL;
	bool structured;
	dj_npy a;
	if (!meta)
		fail_msg("%s: bad metadata_json", name);
	load_npy(name, &file, &a);
	/* header text and data offset exactly as the index says */
	py_unrepr(dj_tsv_get(t, r, "header_text"), &text);
	if (a.header.len != text.len || memcmp(a.header.ptr, text.ptr, text.len) != 0)
		fail_msg("%s: header text differs", name);
	assert_int_equal(a.data_offset, strtoul(dj_tsv_get(t, r, "data_offset"), NULL, 10));
	assert_int_equal(a.version, atoi(dj_tsv_get(t, r, "header_version")));
	assert_int_equal(a.data.len, file.len - a.data_offset);
	/* dtype and shape as the <npy@> metadata records them */
	assert_int_equal(dj_npy_dtype_name(&dt, a.descr, a.structured, &err), 0);
	if (strcmp(dt.ptr, json_string_value(json_object_get(meta, "dtype"))) != 0)
		fail_msg("%s: dtype '%s', expected '%s'", name, dt.ptr,
			 json_string_value(json_object_get(meta, "dtype")));
	assert_int_equal(a.ndim, json_array_size(shape));
	for (size_t i = 0; i < a.ndim; i++)
		assert_int_equal(a.shape[i], json_integer_value(json_array_get(shape, i)));
	/* the reverse mapping gives back the descr */
	assert_int_equal(dj_npy_descr_from_dtype(dt.ptr, &descr, &structured, &err), 0);
	assert_string_equal(descr, a.descr);
	assert_int_equal(structured, a.structured);
	/* the metadata text is byte-identical to what Python stored */
	assert_int_equal(dj_npy_meta_build(&out, "...", "...", &a, &err), 0);
	assert_string_equal(out.ptr, dj_tsv_get(t, r, "metadata_json"));
	/* re-writing the parsed array gives np.save's bytes */
	dj_buf_reset(&out);
	if (dj_npy_write(&out, &a, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	if (out.len != file.len || memcmp(out.ptr, file.ptr, file.len) != 0)
		fail_msg("%s: re-written bytes differ", name);
	free(descr);
	dj_npy_dispose(&a);
	dj_buf_dispose(&file);
	dj_buf_dispose(&text);
	dj_buf_dispose(&out);
	dj_buf_dispose(&dt);
	json_decref(meta);
}

static void npy_vectors(void **state)
{
	(void)state;
	dj_tsv t;
	dj_tsv_load(&t, dj_test_shared_path("vectors/npy/index.tsv"));
	assert_int_equal(t.nrows, 11);
	for (size_t r = 0; r < t.nrows; r++)
		check_row(&t, r);
	dj_tsv_free(&t);
}

/* Every truncation of every vector is refused; the header alone parses with parse_header. */
static void npy_truncations(void **state)
{
	(void)state;
	dj_tsv t;
	dj_tsv_load(&t, dj_test_shared_path("vectors/npy/index.tsv"));
	for (size_t r = 0; r < t.nrows; r++) {
		dj_buf file = DJ_BUF_INIT;
		dj_npy a, b;
		dj_err err = DJ_ERR_INIT;
		load_npy(dj_tsv_get(&t, r, "name"), &file, &a);
		for (size_t n = 0; n < file.len; n++) {
			/* copy to an exact-size allocation so ASan sees any over-read */
			uint8_t *cut = malloc(n ? n : 1);
			memcpy(cut, file.ptr, n);
			dj_err_clear(&err);
			int rc = dj_npy_parse(&b, cut, n, &err);
			if (n < a.data_offset + a.data.len && rc != DJ_EFORMAT)
				fail_msg("%s cut at %zu: rc %d", dj_tsv_get(&t, r, "name"), n, rc);
			dj_npy_dispose(&b);
			dj_err_clear(&err);
			rc = dj_npy_parse_header(&b, cut, n, &err);
			assert_int_equal(rc, n >= a.data_offset ? 0 : DJ_EFORMAT);
			if (rc == 0)
				assert_int_equal(b.data_offset, a.data_offset);
			dj_npy_dispose(&b);
			free(cut);
		}
		dj_npy_dispose(&a);
		dj_buf_dispose(&file);
	}
	dj_tsv_free(&t);
}

/* A header in any spelling numpy reads; v1 framing with the given text padded by nothing. */
static void make_npy(dj_buf *out, int version, const char *text, const void *data, size_t n)
{
	size_t hl = strlen(text);
	uint8_t pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (uint8_t)version, 0,
			   (uint8_t)hl, (uint8_t)(hl >> 8), (uint8_t)(hl >> 16), (uint8_t)(hl >> 24)};
	dj_buf_reset(out);
	dj_buf_add(out, pre, version == 1 ? 10 : 12);
	dj_buf_adds(out, text);
	dj_buf_add(out, data, n);
}

static void respelled_headers_rewrite_exactly(void **state)
{
	(void)state;
	static const char *const spellings[] = {
		"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}",
		"{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(2,3)}\n",
		"  {'descr' : u'=f8' , 'fortran_order':False, 'shape' : ( 2 , 3 , ) , }   \n",
		"{'descr': 'f8', 'fortran_order': False, 'shape': (2, 3), 'shape': (2, 3)}",
		"{'descr':\n '<f8', # comment\n 'fortran_order': False, 'shape': (2, 3)}",
	};
	dj_buf ref = DJ_BUF_INIT, in = DJ_BUF_INIT, out = DJ_BUF_INIT;
	dj_npy a;
	dj_test_read(dj_test_shared_path("vectors/npy/f8_2x3.npy"), &ref);
	for (int v = 1; v <= 3; v++)
		for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
			dj_err err = DJ_ERR_INIT;
			make_npy(&in, v, spellings[i], ref.ptr + 128, 48);
			if (dj_npy_parse(&a, in.ptr, in.len, &err) < 0)
				fail_msg("v%d spelling %zu: %s", v, i, err.msg);
			dj_buf_reset(&out);
			assert_int_equal(dj_npy_write(&out, &a, &err), 0);
			if (out.len != ref.len || memcmp(out.ptr, ref.ptr, ref.len) != 0)
				fail_msg("v%d spelling %zu: not np.save's bytes", v, i);
			dj_npy_dispose(&a);
		}
	dj_buf_dispose(&ref);
	dj_buf_dispose(&in);
	dj_buf_dispose(&out);
}

static void expect_reject(const char *text, int code)
{
	static const uint8_t data[64];
	dj_buf in = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_npy a;
	make_npy(&in, 1, text, data, sizeof(data));
	if (dj_npy_parse(&a, in.ptr, in.len, &err) != code)
		fail_msg("accepted or wrong code for: %s (%s)", text, err.msg);
	assert_true(err.msg[0] != '\0');
	dj_npy_dispose(&a);
	dj_buf_dispose(&in);
}

static void bad_headers_rejected(void **state)
{
	(void)state;
	char deep[300];
	expect_reject("{'descr': '<f8', 'fortran_order': False}", DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}", DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': False, 'shape': (3)}", DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': False, 'shape': [3]}", DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}", DJ_EFORMAT);
	expect_reject("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", DJ_ENOTSUP);
	expect_reject("{'descr': '<x4', 'fortran_order': False, 'shape': (1,)}", DJ_EFORMAT);
	expect_reject("{'descr': '<i3', 'fortran_order': False, 'shape': (1,)}", DJ_EFORMAT);
	expect_reject("{'descr': '<M8[parsec]', 'fortran_order': False, 'shape': (1,)}", DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': False, 'shape': (9,)}", DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296,"
		      " 4294967296)}",
		      DJ_EFORMAT);
	expect_reject("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} x", DJ_EFORMAT);
	expect_reject("{'descr': '<f8, 'fortran_order': False, 'shape': (1,)}", DJ_EFORMAT);
	expect_reject("{'descr': [('a', '<i4', 'x')], 'fortran_order': False, 'shape': (1,)}",
		      DJ_EFORMAT);
	expect_reject("{'descr': ('<f8', (2,)), 'fortran_order': False, 'shape': (1,)}", DJ_ENOTSUP);
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	expect_reject(deep, DJ_EFORMAT);
	{
		dj_buf in = DJ_BUF_INIT;
		dj_err err = DJ_ERR_INIT;
		dj_npy a;
		make_npy(&in, 4, "{}", NULL, 0);
		assert_int_equal(dj_npy_parse(&a, in.ptr, in.len, &err), DJ_ENOTSUP);
		dj_npy_dispose(&a);
		dj_err_clear(&err);
		make_npy(&in, 1, "{}", NULL, 0);
		in.ptr[8] = (char)0xFF; /* header length beyond the input */
		assert_int_equal(dj_npy_parse(&a, in.ptr, in.len, &err), DJ_EFORMAT);
		dj_npy_dispose(&a);
		dj_err_clear(&err);
		in.ptr[0] = 'X';
		assert_int_equal(dj_npy_parse(&a, in.ptr, in.len, &err), DJ_EFORMAT);
		dj_npy_dispose(&a);
		dj_buf_dispose(&in);
	}
}

static void dtype_names(void **state)
{
	(void)state;
	static const char *const pairs[][3] = {
		/* descr as written, canonical descr, str(dtype) */
		{"<f8", "<f8", "float64"},          {"|b1", "|b1", "bool"},
		{"<c16", "<c16", "complex128"},     {"<M8[ns]", "<M8[ns]", "datetime64[ns]"},
		{"<U3", "<U3", "<U3"},              {"|S3", "|S3", "|S3"},
		{">f8", ">f8", ">f8"},              {"|u1", "|u1", "uint8"},
		{"<i8", "<i8", "int64"},            {"<f2", "<f2", "float16"},
		{"<m8[s]", "<m8[s]", "timedelta64[s]"}, {">u1", "|u1", "uint8"},
		{"=i4", "<i4", "int32"},            {"<M8", "<M8", "datetime64"},
		{"|V8", "|V8", "|V8"},              {">M8[us]", ">M8[us]", ">M8[us]"},
		{"<f16", "<f16", "float128"},       {">U2", ">U2", ">U2"},
		{"<M8[10ns]", "<M8[10ns]", "datetime64[10ns]"}, {"?", "|b1", "bool"},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		dj_buf name = DJ_BUF_INIT;
		dj_err err = DJ_ERR_INIT;
		char *descr = NULL;
		bool st = true;
		if (dj_npy_dtype_name(&name, pairs[i][0], false, &err) < 0)
			fail_msg("%s: %s", pairs[i][0], err.msg);
		if (strcmp(name.ptr, pairs[i][2]) != 0)
			fail_msg("%s: '%s', expected '%s'", pairs[i][0], name.ptr, pairs[i][2]);
		assert_int_equal(dj_npy_descr_from_dtype(name.ptr, &descr, &st, &err), 0);
		assert_false(st);
		if (strcmp(descr, pairs[i][1]) != 0)
			fail_msg("%s back: '%s', expected '%s'", name.ptr, descr, pairs[i][1]);
		free(descr);
		dj_buf_dispose(&name);
	}
	{
		dj_err err = DJ_ERR_INIT;
		char *descr = NULL;
		bool st;
		assert_int_equal(dj_npy_descr_from_dtype("object", &descr, &st, &err), DJ_ENOTSUP);
		assert_null(descr);
	}
}

/* Structured descrs re-print as repr() does; the header version follows numpy's rule. */
static void npy_struct_versions(void **state)
{
	(void)state;
	static const uint8_t data[64];
	dj_npy a = DJ_NPY_INIT, b;
	dj_buf out = DJ_BUF_INIT, name = DJ_BUF_INIT, many = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	uint64_t one = 1;
	a.ndim = 1;
	a.shape = &one;
	a.structured = true;
	/* spacing, an int subarray shape, a nested struct, a title and a quote are normalised */
	a.descr = "[ ( 'a','<i4' ),(\"it's\", '=f8', 2), ('n', [('x', '|u1')]), (('T', 'b'), '<i2')]";
	a.data.ptr = data;
	a.data.len = 4 + 16 + 1 + 2;
	assert_int_equal(dj_npy_write(&out, &a, &err), 0);
	assert_int_equal(dj_npy_parse(&b, out.ptr, out.len, &err), 0);
	assert_string_equal(b.descr, "[('a', '<i4'), (\"it's\", '<f8', (2,)), ('n', [('x', '|u1')]), "
				     "(('T', 'b'), '<i2')]");
	assert_int_equal(b.itemsize, 23);
	assert_int_equal(b.version, 1);
	assert_int_equal(b.data_offset % 64, 0);
	assert_int_equal(dj_npy_dtype_name(&name, b.descr, true, &err), 0);
	assert_string_equal(name.ptr, b.descr);
	dj_npy_dispose(&b);
	/* Latin-1 name: still 1.0, written as one byte 0xE9 */
	a.descr = "[('caf\xc3\xa9', '|u1')]";
	a.data.len = 1;
	dj_buf_reset(&out);
	assert_int_equal(dj_npy_write(&out, &a, &err), 0);
	assert_int_equal(out.ptr[6], 1);
	assert_non_null(memchr(out.ptr, 0xE9, out.len));
	assert_int_equal(dj_npy_parse(&b, out.ptr, out.len, &err), 0);
	assert_string_equal(b.descr, a.descr);
	dj_npy_dispose(&b);
	/* beyond Latin-1: version 3.0, UTF-8 */
	a.descr = "[('\xe2\x82\xac', '|u1')]";
	dj_buf_reset(&out);
	assert_int_equal(dj_npy_write(&out, &a, &err), 0);
	assert_int_equal(out.ptr[6], 3);
	assert_int_equal(dj_npy_parse(&b, out.ptr, out.len, &err), 0);
	assert_string_equal(b.descr, a.descr);
	assert_int_equal(b.data_offset % 64, 0);
	dj_npy_dispose(&b);
	/* over 65535 header bytes: version 2.0 */
	dj_buf_adds(&many, "[");
	for (int i = 0; i < 6000; i++)
		dj_buf_addf(&many, "%s('f%05d', '|u1')", i ? ", " : "", i);
	dj_buf_adds(&many, "]");
	a.descr = many.ptr;
	a.data.ptr = (const uint8_t *)many.ptr; /* any 6000 bytes */
	a.data.len = 6000;
	dj_buf_reset(&out);
	assert_int_equal(dj_npy_write(&out, &a, &err), 0);
	assert_int_equal(out.ptr[6], 2);
	assert_int_equal(dj_npy_parse(&b, out.ptr, out.len, &err), 0);
	assert_int_equal(b.data_offset % 64, 0);
	assert_int_equal(b.itemsize, 6000);
	assert_string_equal(b.descr, many.ptr);
	dj_npy_dispose(&b);
	dj_buf_dispose(&out);
	dj_buf_dispose(&name);
	dj_buf_dispose(&many);
}

/* When magic + length + text + '\n' is already a multiple of 64, numpy pads 64 more. */
static void npy_full_pad(void **state)
{
	(void)state;
	static const uint8_t data[8];
	dj_npy a = DJ_NPY_INIT;
	dj_buf out = DJ_BUF_INIT, d = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	uint64_t one = 1;
	bool seen = false;
	a.ndim = 1;
	a.shape = &one;
	a.structured = true;
	a.data.ptr = data;
	a.data.len = 1;
	for (int k = 1; k <= 64; k++) {
		size_t text;
		dj_buf_reset(&d);
		dj_buf_adds(&d, "[('");
		for (int i = 0; i < k; i++)
			dj_buf_addc(&d, 'n');
		dj_buf_adds(&d, "', '|u1')]");
		a.descr = d.ptr;
		/* the dict text plus 21 - len("1") growth spaces */
		text = strlen("{'descr': ") + d.len + strlen(", 'fortran_order': False, 'shape': (1,), }") + 20;
		dj_buf_reset(&out);
		assert_int_equal(dj_npy_write(&out, &a, &err), 0);
		size_t hlen = out.len - 1 - 10;
		if ((10 + text + 1) % 64 == 0) {
			assert_int_equal(hlen, text + 1 + 64);
			seen = true;
		} else {
			assert_int_equal((10 + hlen) % 64, 0);
			assert_true(hlen - text - 1 < 64);
		}
	}
	assert_true(seen);
	dj_buf_dispose(&out);
	dj_buf_dispose(&d);
}

static dj_value *to_value(const char *name)
{
	dj_buf file = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_value *v = NULL;
	dj_npy a;
	load_npy(name, &file, &a);
	if (dj_npy_to_array(&a, &v, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	dj_npy_dispose(&a);
	dj_buf_dispose(&file);
	return v;
}

/* np.save of the array Python's blob reader would build from `v` (F-ordered) */
static void assert_saves_as(const dj_value *v, const char *name)
{
	char rel[256];
	dj_buf file = DJ_BUF_INIT, out = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_npy a;
	snprintf(rel, sizeof(rel), "vectors/npy/%s.npy", name);
	dj_test_read(dj_test_shared_path(rel), &file);
	if (dj_npy_from_array(&a, &v->u.arr, &err) < 0 || dj_npy_write(&out, &a, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	if (out.len != file.len || memcmp(out.ptr, file.ptr, file.len) != 0)
		fail_msg("%s: bytes from the array differ from np.save's", name);
	dj_npy_dispose(&a);
	dj_buf_dispose(&file);
	dj_buf_dispose(&out);
}

static void array_conversions(void **state)
{
	(void)state;
	static const char *const same[] = {"i4_1d", "u1_0d", "b1_bool", "c16", "m8_ns", "f4_empty"};
	static const double f8_wire[] = {0, 3, 1, 4, 2, 5};
	dj_value *c = to_value("f8_2x3"), *f = to_value("f8_fortran_2x3"), *v;
	/* C order is transposed to the wire's column-major order; F order is taken as is */
	assert_int_equal(c->u.arr.type_id, DJ_TYPE_FLOAT64);
	assert_int_equal(c->u.arr.ndim, 2);
	assert_memory_equal(c->u.arr.data, f8_wire, sizeof(f8_wire));
	assert_true(dj_value_equal(c, f));
	/* Python's reader returns an F-ordered 2x3 array: np.save writes fortran_order True */
	assert_saves_as(c, "f8_fortran_2x3");
	dj_value_free(c);
	dj_value_free(f);
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		v = to_value(same[i]);
		assert_saves_as(v, same[i]);
		dj_value_free(v);
	}
	v = to_value("c16");
	assert_true(v->u.arr.is_complex);
	assert_memory_equal(v->u.arr.data, ((const double[]){1.0, 2.0}), 16); /* re, then im */
	dj_value_free(v);
	v = to_value("m8_ns");
	assert_int_equal(v->u.arr.type_id, DJ_TYPE_DATETIME64 + 9);
	dj_value_free(v);
	v = to_value("be_f8"); /* big-endian data is swapped to the wire's little-endian */
	assert_memory_equal(v->u.arr.data, ((const double[]){1.5}), 8);
	dj_value_free(v);
	{
		dj_buf file = DJ_BUF_INIT;
		dj_err err = DJ_ERR_INIT;
		dj_npy a;
		load_npy("u5_unicode", &file, &a);
		assert_int_equal(dj_npy_to_array(&a, &v, &err), DJ_ENOTSUP);
		dj_npy_dispose(&a);
		dj_buf_reset(&file);
		dj_err_clear(&err);
		load_npy("struct", &file, &a);
		assert_int_equal(dj_npy_to_array(&a, &v, &err), DJ_ENOTSUP);
		dj_npy_dispose(&a);
		dj_buf_dispose(&file);
	}
}

/* A 2x3x4 C-ordered int16 array lands column-major; F order round-trips through from_array. */
static void transpose_3d(void **state)
{
	(void)state;
	int16_t c_order[24];
	uint64_t shape[3] = {2, 3, 4};
	dj_npy a = DJ_NPY_INIT, back;
	dj_value *v;
	dj_err err = DJ_ERR_INIT;
	for (int i = 0; i < 24; i++)
		c_order[i] = (int16_t)i;
	a.descr = "<i2";
	a.ndim = 3;
	a.shape = shape;
	a.count = 24;
	a.data.ptr = (const uint8_t *)c_order;
	a.data.len = sizeof(c_order);
	assert_int_equal(dj_npy_to_array(&a, &v, &err), 0);
	for (int i0 = 0; i0 < 2; i0++)
		for (int i1 = 0; i1 < 3; i1++)
			for (int i2 = 0; i2 < 4; i2++) {
				int16_t x;
				memcpy(&x, v->u.arr.data + 2 * (i0 + 2 * (i1 + 3 * i2)), 2);
				assert_int_equal(x, i0 * 12 + i1 * 4 + i2);
			}
	assert_int_equal(dj_npy_from_array(&back, &v->u.arr, &err), 0);
	assert_true(back.fortran_order);
	assert_ptr_equal(back.data.ptr, v->u.arr.data); /* borrowed, no copy */
	assert_string_equal(back.descr, "<i2");
	dj_npy_dispose(&back);
	dj_value_free(v);
}

static void meta_parse(void **state)
{
	(void)state;
	const char *j = "{\"store\": null, \"path\": \"p/x.npy\", \"shape\": [1000, 32], "
			"\"dtype\": \"float64\"}";
	dj_npy_meta m;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_npy_meta_parse(&m, j, strlen(j), &err), 0);
	assert_string_equal(m.path, "p/x.npy");
	assert_null(m.store);
	assert_string_equal(m.dtype, "float64");
	assert_int_equal(m.ndim, 2);
	assert_int_equal(m.shape[1], 32);
	dj_npy_meta_dispose(&m);
	j = "{\"path\": \"p\", \"dtype\": \"float64\", \"shape\": [-1]}";
	assert_int_equal(dj_npy_meta_parse(&m, j, strlen(j), &err), DJ_EFORMAT);
	dj_npy_meta_dispose(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(npy_vectors),
		cmocka_unit_test(npy_truncations),
		cmocka_unit_test(respelled_headers_rewrite_exactly),
		cmocka_unit_test(bad_headers_rejected),
		cmocka_unit_test(dtype_names),
		cmocka_unit_test(npy_struct_versions),
		cmocka_unit_test(npy_full_pad),
		cmocka_unit_test(array_conversions),
		cmocka_unit_test(transpose_3d),
		cmocka_unit_test(meta_parse),
	};
	return cmocka_run_group_tests_name("npy", tests, NULL, NULL);
}
