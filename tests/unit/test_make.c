/* jobs/make.h: splitting a --make command; running one make in its scratch directory (key.json,
 * environment, cwd), the result format with an .npy output, a failing make's message and stderr
 * tail, malformed or missing row.json, npy paths outside outputs/, a command that is not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/make.h"

static void split(void **state)
{
	(void)state;
	char **v = NULL;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_make_split("  python3\tmake.py  --x 1 ", &v, &err), 0);
	assert_string_equal(v[0], "python3");
	assert_string_equal(v[1], "make.py");
	assert_string_equal(v[2], "--x");
	assert_string_equal(v[3], "1");
	assert_null(v[4]);
	dj_make_argv_free(v);
	assert_int_equal(dj_make_split("   ", &v, &err), DJ_EUSAGE);
	assert_null(v);
}

/* Run `script` with /bin/sh -c (the argv form: no shell of ours). */
static int run_sh(const char *script, dj_buf *res, dj_buf *tail, dj_err *err)
{
	dj_err_clear(err);
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	return dj_make_run(argv, NULL, "{\"item_id\": 7}", NULL, 0, res, tail, err);
}

static void success_with_npy(void **state)
{
	(void)state;
	dj_buf res = {0}, tail = {0};
	dj_err err = DJ_ERR_INIT;
	const char *script =
	    "set -e; [ \"$DJRUN_SCRATCH\" = \"$(pwd)\" ]; grep -q '\"item_id\": 7' "
	    "\"$DJRUN_KEY_JSON\";"
	    "printf 'NPYDATA' > \"$DJRUN_OUTPUT_DIR/a.npy\";"
	    "printf '{\"sq\": 49, \"arr\": {\"npy\": \"a.npy\"}}' > outputs/row.json";
	assert_int_equal(run_sh(script, &res, &tail, &err), 0);
	const char *json;
	const unsigned char *data;
	size_t jlen, dlen;
	assert_int_equal(dj_make_result_split(res.ptr, res.len, &json, &jlen, &data, &dlen, &err),
	                 0);
	assert_int_equal(jlen, strlen("{\"row\":{\"sq\":49,\"arr\":{\"npy_off\":0,\"npy_len\":7}}}"));
	assert_memory_equal(json, "{\"row\":{\"sq\":49,\"arr\":{\"npy_off\":0,\"npy_len\":7}}}", jlen);
	assert_int_equal(dlen, 7);
	assert_memory_equal(data, "NPYDATA", 7);
	assert_int_equal(tail.len, 0);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void failure_tail(void **state)
{
	(void)state;
	dj_buf res = {0}, tail = {0};
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(run_sh("echo first >&2; echo 'last words' >&2; exit 4", &res, &tail, &err),
	                 DJ_ERROR);
	assert_string_equal(err.msg, "MakeError: /bin/sh exited with status 4: last words");
	assert_int_equal(tail.len, strlen("first\nlast words\n"));
	assert_memory_equal(tail.ptr, "first\nlast words\n", tail.len);
	assert_int_equal(res.len, 0);
	dj_buf_setlen(&tail, 0);
	assert_int_equal(run_sh("kill -9 $$", &res, &tail, &err), DJ_ERROR);
	assert_string_equal(err.msg, "MakeError: /bin/sh killed by signal 9");
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void bad_outputs(void **state)
{
	(void)state;
	dj_buf res = {0}, tail = {0};
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(run_sh("true", &res, &tail, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "OutputError: outputs/row.json"));
	assert_int_equal(run_sh("echo garbage > outputs/row.json", &res, &tail, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "OutputError"));
	assert_int_equal(run_sh("echo '[1]' > outputs/row.json", &res, &tail, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "not a JSON object"));
	assert_int_equal(
	    run_sh("echo '{\"a\": {\"npy\": \"../x.npy\"}}' > outputs/row.json", &res, &tail, &err),
	    DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "inside outputs/"));
	assert_int_equal(
	    run_sh("echo '{\"a\": {\"npy\": \"none.npy\"}}' > outputs/row.json", &res, &tail, &err),
	    DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "OutputError: 'a': outputs/none.npy"));
	assert_int_equal(res.len, 0);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void missing_command(void **state)
{
	(void)state;
	dj_buf res = {0}, tail = {0};
	dj_err err = DJ_ERR_INIT;
	char *argv[] = {"djrun-no-such-make-command", NULL};
	assert_int_equal(dj_make_run(argv, NULL, "{}", NULL, 0, &res, &tail, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "MakeError: cannot execute 'djrun-no-such-make-command'"));
	assert_int_equal(dj_make_result_split("x", 1, &(const char *){0}, &(size_t){0},
	                                      &(const unsigned char *){0}, &(size_t){0}, &err),
	                 DJ_EFORMAT);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(split),           cmocka_unit_test(success_with_npy),
	    cmocka_unit_test(failure_tail),    cmocka_unit_test(bad_outputs),
	    cmocka_unit_test(missing_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
