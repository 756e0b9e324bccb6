/* jobs/make.h, plugin form (--make-plugin, include/djrun_make.h): the sample tests/plugins/
 * square.c loaded once for many keys (init arguments, state, fini), typed key attributes,
 * fetched inputs as bytes, int/double/array values written as .npy, part rows (int and 0-d
 * array values; a value absent from one part row), no init arguments (argv = the path), a
 * failed key's
 * "Kind: message" and stack, setter errors as OutputError, init refusing to start, a library
 * built for another ABI version, one without djrun_make, a path that is not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/make.h"
#include "make_check.h"

#define PLUGIN(name) DJ_TEST_PLUGINS "/" name ".so"

static int open_plugin(dj_maker **m, const char *path, char **argv, dj_err *err)
{
	dj_make_opts o = {.kind = DJ_MAKE_PLUGIN, .plugin = path, .argv = argv};
	dj_err_clear(err);
	return dj_maker_open(m, &o, err);
}

static int run(dj_maker *m, const char *key, dj_buf *res, dj_buf *tail, dj_err *err)
{
	dj_buf_setlen(res, 0);
	dj_buf_setlen(tail, 0);
	dj_err_clear(err);
	return dj_maker_run(m, key, NULL, 0, res, tail, err);
}

static void rows_arrays_parts(void **state)
{
	(void)state;
	char *argv[] = {PLUGIN("square"), "parts", "fail=4", NULL};
	dj_maker *m = NULL;
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (open_plugin(&m, PLUGIN("square"), argv, &err) < 0)
		fail_msg("%s", err.msg);
	for (int i = 1; i <= 9; i++) {
		char key[64];
		snprintf(key, sizeof(key), "{\"item_id\": %d, \"name\": \"x\"}", i);
		int rc = run(m, key, &res, &tail, &err);
		if (i % 4 == 0) {
			char msg[64], stack[100];
			snprintf(msg, sizeof(msg), "ValueError: boom for item %d", i);
			/* the stack counts calls: the state lives across keys */
			snprintf(stack, sizeof(stack), "square.c: djrun_make\nitem %d of call %d\n",
			         i, i);
			assert_int_equal(rc, DJ_ERROR);
			assert_string_equal(err.msg, msg);
			assert_string_equal(tail.ptr, stack);
			assert_int_equal(res.len, 0);
			continue;
		}
		assert_int_equal(rc, 0);
		const unsigned char *data;
		size_t dlen, len;
		json_t *doc = result_doc(&res, &data, &dlen), *row = json_object_get(doc, "row");
		assert_int_equal(json_object_size(row), 3);
		assert_int_equal(json_integer_value(json_object_get(row, "sq")), i * i);
		assert_true(json_real_value(json_object_get(row, "root")) == i * 0.5);
		assert_arr3(json_object_get(row, "arr"), data, dlen, i);
		json_t *d = json_object_get(json_object_get(doc, "parts"), "Detail");
		assert_int_equal(json_array_size(d), 3);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 1), "val")),
		                 i);
		assert_null(json_object_get(json_array_get(d, 1), "vec"));
		const unsigned char *p =
		    npy_ref(json_object_get(json_array_get(d, 2), "vec"), data, dlen, &len);
		assert_int_equal(len, 128 + 4);
		assert_true(has_text(p, 128, "'descr': '<i4'"));
		assert_true(has_text(p, 128, "'shape': ()"));
		int32_t v;
		memcpy(&v, p + 128, 4);
		assert_int_equal(v, 2 * i);
		json_decref(doc);
	}
	/* a key without item_id: the plugin's own KeyError */
	assert_int_equal(run(m, "{\"other\": 1.5}", &res, &tail, &err), DJ_ERROR);
	assert_string_equal(err.msg, "KeyError: item_id");
	dj_maker_close(m);

	/* "min": only sq, no "parts" member */
	char *min[] = {PLUGIN("square"), "min", NULL};
	assert_int_equal(open_plugin(&m, PLUGIN("square"), min, &err), 0);
	assert_int_equal(run(m, "{\"item_id\": 3}", &res, &tail, &err), 0);
	assert_string_equal(res.ptr, "{\"row\":{\"sq\":9}}");
	assert_int_equal(res.len, strlen(res.ptr) + 1);
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

/* Fetched inputs reach the plugin as bytes (the sample checks Item.x.json = item_id + 0.5). */
static void inputs(void **state)
{
	(void)state;
	dj_maker *m = NULL;
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(open_plugin(&m, PLUGIN("square"), NULL, &err), 0);
	dj_make_input good = {"Item.x.json", "3.5", 3}, bad = {"Item.x.json", "7", 1};
	assert_int_equal(dj_maker_run(m, "{\"item_id\": 3}", &good, 1, &res, &tail, &err), 0);
	dj_buf_setlen(&res, 0);
	assert_int_equal(dj_maker_run(m, "{\"item_id\": 3}", &bad, 1, &res, &tail, &err), DJ_ERROR);
	assert_string_equal(err.msg, "InputError: Item.x is not item_id + 0.5");
	assert_string_equal(tail.ptr, "7");
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void setter_errors(void **state)
{
	(void)state;
	char *argv[] = {PLUGIN("square"), "bad_dtype", NULL};
	dj_maker *m = NULL;
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(open_plugin(&m, PLUGIN("square"), argv, &err), 0);
	assert_int_equal(run(m, "{\"item_id\": 2}", &res, &tail, &err), DJ_EFORMAT);
	if (strncmp(err.msg, "OutputError: 'arr': ", 20) || !strstr(err.msg, "float65"))
		fail_msg("got '%s'", err.msg);
	assert_int_equal(res.len, 0);
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void refused(void **state)
{
	(void)state;
	dj_maker *m = NULL;
	dj_err err = DJ_ERR_INIT;
	char *argv[] = {PLUGIN("square"), "bogus", NULL};
	assert_int_equal(open_plugin(&m, PLUGIN("square"), argv, &err), DJ_EUSAGE);
	assert_string_equal(err.msg,
	                    "MakeError: plugin '" PLUGIN("square") "' refused to start: "
	                                                           "unknown argument 'bogus'");
	assert_null(m);
	assert_int_equal(open_plugin(&m, PLUGIN("wrong_abi"), NULL, &err), DJ_ENOTSUP);
	assert_string_equal(
	    err.msg,
	    "MakeError: plugin '" PLUGIN(
	        "wrong_abi") "' was built for "
	                     "djrun make ABI 2, this djrun has ABI 1: rebuild it with this "
	                     "djrun's djrun_make.h");
	assert_int_equal(open_plugin(&m, PLUGIN("no_make"), NULL, &err), DJ_ENOTSUP);
	assert_string_equal(err.msg, "MakeError: plugin '" PLUGIN("no_make") "' has no djrun_make");
	assert_int_equal(open_plugin(&m, "/nonexistent/lib.so", NULL, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "MakeError: cannot load plugin: /nonexistent/lib.so"));
	/* a shared library that is not a plugin at all */
	assert_int_equal(open_plugin(&m, "libz.so.1", NULL, &err), DJ_ENOTSUP);
	assert_string_equal(err.msg,
	                    "MakeError: plugin 'libz.so.1' has no djrun_make_abi (build it "
	                    "with djrun_make.h and DJRUN_MAKE_DEFINE_ABI())");
	assert_int_equal(open_plugin(&m, NULL, NULL, &err), DJ_EUSAGE);
	assert_null(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rows_arrays_parts),
	    cmocka_unit_test(inputs),
	    cmocka_unit_test(setter_errors),
	    cmocka_unit_test(refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
