/* codecs/value (tree), codecs/pyfloat (repr), codecs/value_model (ints, floats). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/buf.h"
#include "codecs/blob.h"
#include "codecs/pyfloat.h"
#include "codecs/value.h"
#include "codecs/value_model.h"
#include "tests/unit/vectors.h"

static void expect_int_bytes(int64_t x, const char *hex)
{
	dj_buf want = DJ_BUF_INIT;
	dj_value *v = dj_value_int64(x);
	int64_t back = 0;
	dj_test_unhex(hex, &want);
	assert_non_null(v);
	assert_int_equal(v->kind, DJ_V_INT);
	if (v->u.i.n != want.len || memcmp(v->u.i.bytes, want.ptr, want.len) != 0)
		fail_msg("int %lld: %zu bytes, want %s", (long long)x, v->u.i.n, hex);
	assert_int_equal(dj_value_get_int64(v, &back), 0);
	assert_true(back == x);
	dj_value_free(v);
	dj_buf_dispose(&want);
}

/* formats.md §2.9: k = bit_length(|v|) // 8 + 1 */
static void int64_width_rule(void **state)
{
	(void)state;
	expect_int_bytes(0, "00");
	expect_int_bytes(127, "7f");
	expect_int_bytes(128, "8000");
	expect_int_bytes(-128, "80ff");
	expect_int_bytes(-127, "81");
	expect_int_bytes(-255, "01ff");
	expect_int_bytes(255, "ff00");
	expect_int_bytes(-32768, "0080ff");
	expect_int_bytes(INT64_MAX, "ffffffffffffff7f");
	expect_int_bytes(INT64_MIN, "0000000000000080ff"); /* 9 bytes: 2^63 has bit_length 64 */
}

static void int_views(void **state)
{
	int64_t x = 0;
	const uint8_t big[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1}; /* 2^72 + 1 */
	const uint8_t negwide[10] = {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
	dj_value *a = dj_value_int_bytes(big, 10), *b = dj_value_int_bytes(negwide, 10);
	dj_value *z = dj_value_int_bytes(NULL, 0), *none = dj_value_none();
	(void)state;
	assert_int_equal(dj_value_get_int64(a, &x), DJ_ENOTSUP);
	assert_int_equal(dj_value_get_int64(b, &x), 0);
	assert_true(x == -2);
	assert_int_equal(dj_value_get_int64(z, &x), 0); /* k = 0 means 0 */
	assert_true(x == 0);
	assert_int_equal(dj_value_get_int64(none, &x), DJ_EUSAGE);
	dj_value_free(none);
	dj_value_free(a);
	dj_value_free(b);
	dj_value_free(z);
}

static void constructors_and_push(void **state)
{
	const uint8_t u[16] = {0x3f, 0x25, 0x04, 0xe0, 0x4f, 0x89, 0x11, 0xd3, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33, 0x01};
	dj_value *l = dj_value_new(DJ_V_LIST), *d = dj_value_new(DJ_V_DICT), *s = dj_value_str("a\0b", 3);
	dj_err err = DJ_ERR_INIT;
	uint64_t shape[2] = {2, 3};
	dj_value *arr = dj_value_array(DJ_TYPE_FLOAT32, true, 2, shape, &err);
	(void)state;
	assert_int_equal(s->u.s.n, 3);
	assert_int_equal(s->u.s.p[3], '\0');
	assert_int_equal(arr->u.arr.count, 6);
	assert_int_equal(arr->u.arr.data_len, 6 * 4 * 2);
	assert_non_null(arr->u.arr.data);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(dj_value_seq_push(l, dj_value_int64(i)), 0);
	assert_int_equal(l->u.seq.n, 1000);
	assert_int_equal(l->u.seq.items[999]->u.i.bytes[0], 999 & 0xFF);
	for (int i = 0; i < 37; i++)
		assert_int_equal(dj_value_dict_push(d, dj_value_int64(i), dj_value_uuid(u)), 0);
	assert_int_equal(d->u.seq.n, 37);
	assert_memory_equal(d->u.seq.items[73]->u.uuid, u, 16);
	assert_int_equal(dj_value_seq_push(d, dj_value_none()), DJ_EUSAGE); /* a dict is not a seq */
	/* unknown type ids and overflowing shapes are refused */
	assert_null(dj_value_array(16, false, 0, NULL, &err));
	assert_int_equal(err.code, DJ_EFORMAT);
	dj_err_clear(&err);
	assert_null(dj_value_array(DJ_TYPE_FLOAT64, false, 2, (uint64_t[]){1ull << 40, 1ull << 40}, &err));
	dj_value_free(l);
	dj_value_free(d);
	dj_value_free(s);
	dj_value_free(arr);
}

static void type_table(void **state)
{
	(void)state;
	assert_int_equal(dj_type_itemsize(DJ_TYPE_CHAR), 2);
	assert_int_equal(dj_type_itemsize(DJ_TYPE_OBJECT), 0);
	assert_int_equal(dj_type_itemsize(65544), 8);
	assert_int_equal(dj_type_itemsize(16), 0);
	assert_string_equal(dj_type_name(65544), "datetime64[us]");
	assert_string_equal(dj_type_name(DJ_TYPE_CHAR), "S1");
	assert_null(dj_type_name(0));
	assert_null(dj_type_name(65549));
	for (uint32_t id = 0; id < 70000; id++)
		if (dj_type_name(id))
			assert_int_equal(dj_type_from_name(dj_type_name(id)), id);
	assert_int_equal(dj_type_from_name("datetime64[x]"), 0);
	assert_int_equal(dj_type_from_name("float16"), 0);
}

static void equality(void **state)
{
	dj_value *a = dj_value_float(NAN), *b = dj_value_float(-NAN), *c = dj_value_float(0.0), *d = dj_value_float(-0.0);
	dj_value *i1 = dj_value_int_bytes((const uint8_t *)"\x05", 1), *i2 = dj_value_int_bytes((const uint8_t *)"\x05\x00", 2);
	dj_value *t = dj_value_new(DJ_V_TUPLE), *l = dj_value_new(DJ_V_LIST);
	(void)state;
	assert_true(dj_value_equal(a, a));
	assert_false(dj_value_equal(a, b)); /* NaN payload/sign bits matter */
	assert_false(dj_value_equal(c, d));
	assert_false(dj_value_equal(i1, i2)); /* wire width matters */
	assert_false(dj_value_equal(t, l));   /* tuple vs list */
	assert_true(dj_value_equal(NULL, NULL));
	assert_false(dj_value_equal(t, NULL));
	dj_value *vals[] = {a, b, c, d, i1, i2, t, l};
	for (size_t i = 0; i < 8; i++)
		dj_value_free(vals[i]);
}

static void expect_repr(double x, const char *want)
{
	char got[DJ_PYFLOAT_MAX];
	double back;
	int n = dj_pyfloat_format(x, got);
	if (strcmp(got, want) != 0 || n != (int)strlen(want))
		fail_msg("repr(%.17g): got '%s', want '%s'", x, got, want);
	assert_int_equal(dj_pyfloat_parse(got, strlen(got), &back), 0);
	if (!isnan(x))
		assert_memory_equal(&back, &x, 8);
}

/* Python's repr(): shortest round-trip digits, fixed for -4 <= exp < 16. */
static void pyfloat_repr(void **state)
{
	(void)state;
	expect_repr(0.1, "0.1");
	expect_repr(7.0, "7.0");
	expect_repr(1e16, "1e+16");
	expect_repr(1e15, "1000000000000000.0");
	expect_repr(3e31, "3e+31");
	expect_repr(5e-324, "5e-324");
	expect_repr(1e-05, "1e-05");
	expect_repr(0.0001, "0.0001");
	expect_repr(-0.0, "-0.0");
	expect_repr(0.0, "0.0");
	expect_repr(123456789012345678.0, "1.2345678901234568e+17");
	expect_repr(-0.037, "-0.037");
	expect_repr(13.856406460551018, "13.856406460551018");
	expect_repr(1.7976931348623157e308, "1.7976931348623157e+308");
	expect_repr(2.2250738585072014e-308, "2.2250738585072014e-308");
	expect_repr(1e23, "1e+23");
	expect_repr(9007199254740993.0, "9007199254740992.0");
	expect_repr(0.30000000000000004, "0.30000000000000004");
	expect_repr(1.5e-5, "1.5e-05");
	expect_repr(123.456, "123.456");
	expect_repr((double)0.1f, "0.10000000149011612");
	expect_repr(INFINITY, "inf");
	expect_repr(-INFINITY, "-inf");
	expect_repr(NAN, "nan");
}

static void pyfloat_parse(void **state)
{
	double d;
	(void)state;
	assert_int_equal(dj_pyfloat_parse("1e+16", 5, &d), 0);
	assert_true(d == 1e16);
	assert_int_equal(dj_pyfloat_parse("-Infinity", 9, &d), 0);
	assert_true(isinf(d) && d < 0);
	assert_int_equal(dj_pyfloat_parse(".5", 2, &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(dj_pyfloat_parse("1e400", 5, &d), 0); /* Python: inf */
	assert_true(isinf(d));
	assert_int_equal(dj_pyfloat_parse("0x10", 4, &d), DJ_EFORMAT);
	assert_int_equal(dj_pyfloat_parse(" 1", 2, &d), DJ_EFORMAT);
	assert_int_equal(dj_pyfloat_parse("1e", 2, &d), DJ_EFORMAT);
	assert_int_equal(dj_pyfloat_parse("", 0, &d), DJ_EFORMAT);
	assert_int_equal(dj_pyfloat_parse("1.5x", 3, &d), 0); /* only n bytes are read */
	assert_true(d == 1.5);
}

/* Arbitrary-size ints through the model: decimal <-> two's complement, both ways. */
static void model_big_ints(void **state)
{
	const char *cases[][2] = {
		{"{\"t\":\"int\",\"nbytes\":24,\"v\":\"-25523987234234287910987234987098245697129798713407812347\"}", NULL},
		{"{\"t\":\"int\",\"nbytes\":9,\"v\":\"-9223372036854775808\"}", NULL},
		{"{\"t\":\"int\",\"nbytes\":9,\"v\":\"18446744073709551615\"}", NULL},
		{"{\"t\":\"int\",\"nbytes\":1,\"v\":\"-128\"}", NULL},
		{"{\"t\":\"int\",\"nbytes\":0,\"v\":\"0\"}", NULL},
		{"{\"t\":\"int\",\"nbytes\":1,\"v\":\"128\"}", "bad"},
		{"{\"t\":\"int\",\"nbytes\":1,\"v\":\"-129\"}", "bad"},
		{"{\"t\":\"int\",\"nbytes\":8,\"v\":\"12a\"}", "bad"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		dj_err err = DJ_ERR_INIT;
		json_t *m = json_loads(cases[i][0], 0, NULL), *back = NULL;
		dj_value *v = NULL;
		int rc = dj_value_from_model(m, &v, &err);
		if (cases[i][1]) {
			assert_int_equal(rc, DJ_EFORMAT);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(dj_value_to_model(v, 64, &back, &err), 0);
			if (!json_equal(m, back))
				fail_msg("int model round trip: %s", cases[i][0]);
		}
		json_decref(m);
		json_decref(back);
		dj_value_free(v);
	}
}

/* float32 NaN as 8 hex digits, complex pairs, summary head and hash, chars with a pair. */
static void model_arrays(void **state)
{
	dj_err err = DJ_ERR_INIT;
	uint64_t three[1] = {3}, hundred[1] = {100};
	dj_value *f = dj_value_array(DJ_TYPE_FLOAT32, false, 1, three, &err);
	dj_value *big = dj_value_array(DJ_TYPE_INT16, false, 1, hundred, &err);
	dj_value *ch = dj_value_array(DJ_TYPE_CHAR, false, 1, three, &err);
	const uint32_t nan32 = 0x7fc00001;
	const float vals[2] = {0.1f, -2.5f};
	const uint16_t units[3] = {'h', 0xD83D, 0xDE00};
	dj_buf text = DJ_BUF_INIT;
	(void)state;
	memcpy(f->u.arr.data, vals, 8);
	memcpy(f->u.arr.data + 8, &nan32, 4);
	assert_int_equal(dj_value_model_text(f, 64, &text, &err), 0);
	assert_string_equal(text.ptr, "{\"t\":\"A\",\"type_id\":7,\"dtype\":\"float32\",\"complex\":false,\"shape\":[3],"
				      "\"data_F\":[\"0.10000000149011612\",\"-2.5\",\"nan:0x7fc00001\"]}");
	dj_buf_reset(&text);
	for (int i = 0; i < 100; i++)
		memcpy(big->u.arr.data + 2 * i, &(int16_t){(int16_t)(i - 50)}, 2);
	assert_int_equal(dj_value_model_text(big, 64, &text, &err), 0);
	assert_non_null(strstr(text.ptr, "\"n\":100,\"data_F_sha256\":\""));
	assert_non_null(strstr(text.ptr, "\"data_F_head\":[\"-50\",\"-49\",\"-48\",\"-47\",\"-46\",\"-45\",\"-44\",\"-43\"]"));
	dj_buf_reset(&text);
	assert_int_equal(dj_value_model_text(big, SIZE_MAX, &text, &err), 0);
	assert_non_null(strstr(text.ptr, "\"data_F\":[\"-50\""));
	dj_buf_reset(&text);
	memcpy(ch->u.arr.data, units, 6);
	assert_int_equal(dj_value_model_text(ch, 64, &text, &err), 0);
	assert_non_null(strstr(text.ptr, "\"chars_F\":\"h\xF0\x9F\x98\x80\""));
	{ /* and back: the pair comes back as two units */
		json_t *m = json_loads(text.ptr, 0, NULL);
		dj_value *v = NULL;
		assert_int_equal(dj_value_from_model(m, &v, &err), 0);
		assert_true(dj_value_equal(v, ch));
		dj_value_free(v);
		json_decref(m);
	}
	/* a lone surrogate has no JSON form */
	memcpy(ch->u.arr.data + 2, &(uint16_t){0xDC00}, 2);
	dj_err_clear(&err);
	dj_buf_reset(&text);
	assert_int_equal(dj_value_model_text(ch, 64, &text, &err), DJ_ENOTSUP);
	dj_value_free(f);
	dj_value_free(big);
	dj_value_free(ch);
	dj_buf_dispose(&text);
}

static void model_rejects_bad_nodes(void **state)
{
	const char *bad[] = {
		"{\"t\":\"nope\"}",
		"{\"v\":1}",
		"{\"t\":\"float\",\"v\":\"abc\"}",
		"{\"t\":\"float\",\"v\":\"nan:0x7ff8\"}",
		"{\"t\":\"uuid\",\"v\":\"3f2504e0-4f89-11d3-9a0c-0305e82c330\"}",
		"{\"t\":\"bytes\",\"hex\":\"0g\"}",
		"{\"t\":\"A\",\"type_id\":6,\"dtype\":\"float64\",\"complex\":false,\"shape\":[2],\"data_F\":[\"1.0\"]}",
		"{\"t\":\"A\",\"type_id\":6,\"dtype\":\"int8\",\"complex\":false,\"shape\":[1],\"data_F\":[\"1.0\"]}",
		"{\"t\":\"A\",\"type_id\":9,\"dtype\":\"uint8\",\"complex\":false,\"shape\":[1],\"data_F\":[\"256\"]}",
		"{\"t\":\"A\",\"type_id\":9,\"dtype\":\"uint8\",\"complex\":false,\"shape\":[1],\"data_F\":[\"-1\"]}",
		"{\"t\":\"A\",\"type_id\":4,\"dtype\":\"S1\",\"complex\":false,\"shape\":[1,3],\"chars_F\":\"ab\"}",
		"{\"t\":\"A\",\"type_id\":16,\"complex\":false,\"shape\":[0],\"data_F\":[]}",
		"{\"t\":\"dict\",\"items\":[[{\"t\":\"none\"}]]}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		dj_err err = DJ_ERR_INIT;
		json_t *m = json_loads(bad[i], 0, NULL);
		dj_value *v = (dj_value *)1;
		assert_non_null(m);
		if (dj_value_from_model(m, &v, &err) != DJ_EFORMAT || v != NULL)
			fail_msg("model accepted: %s", bad[i]);
		assert_non_null(strstr(err.msg, "model: "));
		json_decref(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(int64_width_rule),
		cmocka_unit_test(int_views),
		cmocka_unit_test(constructors_and_push),
		cmocka_unit_test(type_table),
		cmocka_unit_test(equality),
		cmocka_unit_test(pyfloat_repr),
		cmocka_unit_test(pyfloat_parse),
		cmocka_unit_test(model_big_ints),
		cmocka_unit_test(model_arrays),
		cmocka_unit_test(model_rejects_bad_nodes),
	};
	return cmocka_run_group_tests_name("value", tests, NULL, NULL);
}
