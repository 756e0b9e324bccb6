/* jobs/make.h, command form: splitting a --make command; running one make in its scratch
 * directory (key.json, environment, cwd, inputs/), the result format with an .npy output, part
 * rows from outputs/parts/<Part>.jsonl (npy values too; bad lines named by file and line), a
 * failing make's message and stderr tail, malformed or missing row.json, npy paths outside
 * outputs/, a command that is not there; the same command through dj_maker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include <cmocka.h>

#include "jobs/make.h"
#include "make_check.h"

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
	FILE *f = fopen("/dev/null", "r"); /* not close-on-exec: the make must not see it */
	const char *script =
	    "set -e; [ \"$DJRUN_SCRATCH\" = \"$(pwd)\" ]; grep -q '\"item_id\": 7' "
	    "\"$DJRUN_KEY_JSON\"; [ \"$(ls /proc/self/fd | tr '\\n' ' ')\" = '0 1 2 3 ' ];"
	    "printf 'NPYDATA' > \"$DJRUN_OUTPUT_DIR/a.npy\";"
	    "printf '{\"sq\": 49, \"arr\": {\"npy\": \"a.npy\"}}' > outputs/row.json";
	if (run_sh(script, &res, &tail, &err) < 0)
		fail_msg("%s: %.*s", err.msg, (int)tail.len, tail.len ? tail.ptr : "");
	fclose(f);
	const char *json;
	const unsigned char *data;
	size_t jlen, dlen;
	assert_int_equal(dj_make_result_split(res.ptr, res.len, &json, &jlen, &data, &dlen, &err),
	                 0);
	assert_int_equal(jlen,
	                 strlen("{\"row\":{\"sq\":49,\"arr\":{\"npy_off\":0,\"npy_len\":7}}}"));
	assert_memory_equal(json, "{\"row\":{\"sq\":49,\"arr\":{\"npy_off\":0,\"npy_len\":7}}}",
	                    jlen);
	assert_int_equal(dlen, 7);
	assert_memory_equal(data, "NPYDATA", 7);
	assert_int_equal(tail.len, 0);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

/* {"file": f}: the file's bytes travel with its name; a folder or a missing file is refused. */
static void file_outputs(void **state)
{
	(void)state;
	dj_buf res = {0}, tail = {0};
	dj_err err = DJ_ERR_INIT;
	const char *script = "set -e; mkdir -p outputs/sub; printf 'REPORT' > outputs/sub/r.txt;"
	                     "printf '{\"doc\": {\"file\": \"sub/r.txt\"}}' > outputs/row.json";
	if (run_sh(script, &res, &tail, &err) < 0)
		fail_msg("%s", err.msg);
	const char *json;
	const unsigned char *data;
	size_t jlen, dlen;
	assert_int_equal(dj_make_result_split(res.ptr, res.len, &json, &jlen, &data, &dlen, &err),
	                 0);
	const char *want =
	    "{\"row\":{\"doc\":{\"file_off\":0,\"file_len\":6,\"file_name\":\"r.txt\"}}}";
	assert_int_equal(jlen, strlen(want));
	assert_memory_equal(json, want, jlen);
	assert_int_equal(dlen, 6);
	assert_memory_equal(data, "REPORT", 6);
	dj_buf_setlen(&res, 0);
	assert_int_equal(run_sh("mkdir outputs/d; echo '{\"a\": {\"file\": \"d\"}}' > "
	                        "outputs/row.json",
	                        &res, &tail, &err),
	                 DJ_EFORMAT);
	assert_string_equal(err.msg, "OutputError: outputs/row.json: 'a': outputs/d is a folder (a "
	                             "file is taken)");
	assert_int_equal(
	    run_sh("echo '{\"a\": {\"file\": \"x\", \"npy\": \"y\"}}' > outputs/row.json", &res,
	           &tail, &err),
	    DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "{\"file\": \"name\"}"));
	assert_int_equal(res.len, 0);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void *cancel_soon(void *m)
{
	struct timespec nap = {0, 300000000L};
	nanosleep(&nap, NULL);
	dj_maker_cancel(m);
	return NULL;
}

static double mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* dj_maker_cancel from another thread stops the running key (command: its process; server:
 * its process group) with DJ_ESTOP, and every later key at once. */
static void cancel_running(void **state)
{
	(void)state;
	static char *cmd[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30", NULL};
	static char *srv[] = {"/bin/sh", "-c", "trap '' TERM; read line; sleep 30", NULL};
	char **argv[] = {cmd, srv};
	dj_make_kind kinds[] = {DJ_MAKE_COMMAND, DJ_MAKE_SERVER};
	for (int k = 0; k < 2; k++) {
		dj_make_opts o = {.kind = kinds[k], .argv = argv[k]};
		dj_maker *m = NULL;
		dj_buf res = {0}, tail = {0};
		dj_err err = DJ_ERR_INIT;
		pthread_t th;
		assert_int_equal(dj_maker_open(&m, &o, &err), 0);
		double t0 = mono();
		assert_int_equal(pthread_create(&th, NULL, cancel_soon, m), 0);
		assert_int_equal(dj_maker_run(m, "{}", NULL, 0, &res, &tail, &err), DJ_ESTOP);
		pthread_join(th, NULL);
		assert_true(mono() - t0 < 10);
		assert_non_null(strstr(err.msg, "stopped"));
		dj_err_clear(&err);
		assert_int_equal(dj_maker_run(m, "{}", NULL, 0, &res, &tail, &err), DJ_ESTOP);
		dj_maker_close(m);
		dj_buf_dispose(&res);
		dj_buf_dispose(&tail);
	}
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
	assert_string_equal(err.msg, "OutputError: outputs/row.json: 'a': cannot read "
	                             "outputs/none.npy");
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

static void parts_files(void **state)
{
	(void)state;
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	const char *script =
	    "set -e; mkdir outputs/parts; printf 'NPY1' > outputs/p.npy;"
	    "printf '{\"k\": 0, \"v\": \"a\"}\n\n{\"k\": 1, \"v\": {\"npy\": \"p.npy\"}}' "
	    "> outputs/parts/Detail.jsonl; : > outputs/parts/Empty.jsonl;"
	    "printf 'ROWNPY' > outputs/r.npy; echo '{\"x\": {\"npy\": \"r.npy\"}}' > "
	    "outputs/row.json";
	assert_int_equal(run_sh(script, &res, &tail, &err), 0);
	const unsigned char *data;
	size_t dlen, len;
	json_t *doc = result_doc(&res, &data, &dlen);
	assert_memory_equal(
	    npy_ref(json_object_get(json_object_get(doc, "row"), "x"), data, dlen, &len), "ROWNPY",
	    6);
	json_t *parts = json_object_get(doc, "parts");
	assert_int_equal(json_object_size(parts), 2);
	assert_int_equal(json_array_size(json_object_get(parts, "Empty")), 0);
	json_t *d = json_object_get(parts, "Detail");
	assert_int_equal(json_array_size(d), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "v")), "a");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 1), "k")), 1);
	const unsigned char *p =
	    npy_ref(json_object_get(json_array_get(d, 1), "v"), data, dlen, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(p, "NPY1", 4);
	json_decref(doc);
	dj_buf_setlen(&res, 0);

	/* no parts/ folder: no "parts" member */
	assert_int_equal(run_sh("echo '{}' > outputs/row.json", &res, &tail, &err), 0);
	doc = result_doc(&res, &data, &dlen);
	assert_null(json_object_get(doc, "parts"));
	json_decref(doc);
	dj_buf_setlen(&res, 0);

	static const struct {
		const char *script, *msg;
	} bad[] = {
	    {"printf '{\"k\": 1}\n{\"k\": 2\n' > outputs/parts/P.jsonl",
	     "OutputError: outputs/parts/P.jsonl line 2: not JSON: "},
	    {"printf '\n\n[1]\n' > outputs/parts/P.jsonl",
	     "OutputError: outputs/parts/P.jsonl line 3: not a JSON object"},
	    {"printf '{\"a\": {\"npy\": \"/etc/x\"}}' > outputs/parts/P.jsonl",
	     "OutputError: outputs/parts/P.jsonl line 1: 'a': npy file '/etc/x' must be a path "
	     "inside outputs/"},
	    {": > outputs/parts/notes.txt",
	     "OutputError: outputs/parts/notes.txt: expected <Part>.jsonl files only"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char full[600];
		snprintf(full, sizeof(full),
		         "echo '{}' > outputs/row.json; mkdir outputs/parts; %s", bad[i].script);
		assert_int_equal(run_sh(full, &res, &tail, &err), DJ_EFORMAT);
		if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)))
			fail_msg("case %zu: got '%s'", i, err.msg);
		assert_int_equal(res.len, 0);
	}
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

/* The command form through dj_maker, with inputs: the make finds them as inputs/<name>. */
static void maker_inputs(void **state)
{
	(void)state;
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	char *argv[] = {"/bin/sh", "-c",
	                "set -e; [ \"$(cat inputs/a.json)\" = '[1, 2]' ];"
	                "echo \"{\\\"n\\\": $(wc -c < inputs/b.bin)}\" > outputs/row.json",
	                NULL};
	dj_make_opts o = {.kind = DJ_MAKE_COMMAND, .argv = argv};
	dj_make_input in[] = {{"a.json", "[1, 2]", 6}, {"b.bin", "\0\1\2", 3}};
	dj_maker *m = NULL;
	assert_int_equal(dj_maker_open(&m, &o, &err), 0);
	assert_int_equal(dj_maker_run(m, "{\"item_id\": 1}", in, 2, &res, &tail, &err), 0);
	assert_string_equal(res.ptr, "{\"row\":{\"n\":3}}");
	dj_make_input evil = {"../x", "", 0};
	assert_int_equal(dj_maker_run(m, "{}", &evil, 1, &res, &tail, &err), DJ_EUSAGE);
	assert_string_equal(err.msg, "MakeError: bad input name '../x'");
	dj_maker_close(m);
	dj_make_opts none = {.kind = DJ_MAKE_COMMAND};
	assert_int_equal(dj_maker_open(&m, &none, &err), DJ_EUSAGE);
	assert_null(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(split),           cmocka_unit_test(success_with_npy), cmocka_unit_test(file_outputs), cmocka_unit_test(cancel_running),
	    cmocka_unit_test(failure_tail),    cmocka_unit_test(bad_outputs),
	    cmocka_unit_test(missing_command), cmocka_unit_test(parts_files),
	    cmocka_unit_test(maker_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
