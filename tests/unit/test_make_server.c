/* jobs/make.h, server form (--make-server): one long-lived process for many keys (same pid),
 * the request line (key, scratch with inputs/, output_dir), replies with npy values and parts,
 * error replies (kind kept, "MakeError: " added, stack as tail), a reply that is not JSON or has
 * unknown members, a server that dies (status and last stderr line, restarted for the next key)
 * or writes two lines for one key (restarted, the extra line never taken for a reply),
 * a per-key timeout, no descriptors inherited but stdin/stdout/stderr, a program that cannot
 * run, the scratch directory removed at close.
 * The servers are tests/plugins/square_server.py (python3) and small /bin/sh loops. */
#include <dirent.h>
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

#include "jobs/make.h"
#include "make_check.h"

#define SERVER DJ_TEST_SOURCE "/tests/plugins/square_server.py"

static char scratch_root[512];

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("DJ_TEST_TMP");
	snprintf(scratch_root, sizeof(scratch_root), "%s/make-server-XXXXXX", t ? t : "/tmp");
	if (t)
		mkdir(t, 0777);
	return mkdtemp(scratch_root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(scratch_root); /* fails unless every scratch directory was removed */
}

static dj_maker *open_server(char **argv, double timeout_s)
{
	dj_make_opts o = {.kind = DJ_MAKE_SERVER,
	                  .argv = argv,
	                  .scratch_root = scratch_root,
	                  .timeout_s = timeout_s};
	dj_maker *m = NULL;
	dj_err err = DJ_ERR_INIT;
	if (dj_maker_open(&m, &o, &err) < 0)
		fail_msg("open: %s", err.msg);
	return m;
}

/* Run one key; returns rc, the result in res and tail (both reset first). */
static int run(dj_maker *m, const char *key, dj_buf *res, dj_buf *tail, dj_err *err)
{
	dj_buf_setlen(res, 0);
	dj_buf_setlen(tail, 0);
	dj_err_clear(err);
	return dj_maker_run(m, key, NULL, 0, res, tail, err);
}

static long server_pid(dj_maker *m)
{
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (run(m, "{\"item_id\": 0, \"mode\": \"pid\"}", &res, &tail, &err) < 0)
		fail_msg("pid: %s", err.msg);
	const unsigned char *data;
	size_t dlen;
	json_t *doc = result_doc(&res, &data, &dlen);
	long pid = (long)json_integer_value(json_object_get(json_object_get(doc, "row"), "pid"));
	json_decref(doc);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
	assert_true(pid > 0);
	return pid;
}

static void rows_npy_parts(void **state)
{
	(void)state;
	char *argv[] = {"python3", SERVER, "--parts", NULL};
	dj_maker *m = open_server(argv, 0);
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	long pid = server_pid(m);
	for (int i = 1; i <= 20; i++) {
		char key[64];
		snprintf(key, sizeof(key), "{\"item_id\": %d}", i);
		assert_int_equal(run(m, key, &res, &tail, &err), 0);
		const unsigned char *data;
		size_t dlen;
		json_t *doc = result_doc(&res, &data, &dlen), *row = json_object_get(doc, "row");
		assert_int_equal(json_integer_value(json_object_get(row, "sq")), i * i);
		assert_true(json_real_value(json_object_get(row, "root")) == i * 0.5);
		assert_arr3(json_object_get(row, "arr"), data, dlen, i);
		json_t *d = json_object_get(json_object_get(doc, "parts"), "Detail");
		assert_int_equal(json_array_size(d), 3);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 2), "val")),
		                 2 * i);
		json_decref(doc);
	}
	assert_int_equal(server_pid(m), pid); /* one process for every key */
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void error_replies(void **state)
{
	(void)state;
	char *argv[] = {"python3", SERVER, "--fail", "4", NULL};
	dj_maker *m = open_server(argv, 0);
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	long pid = server_pid(m);
	assert_int_equal(run(m, "{\"item_id\": 8}", &res, &tail, &err), DJ_ERROR);
	assert_string_equal(err.msg, "ValueError: boom for item 8");
	assert_int_equal(res.len, 0);
	assert_non_null(strstr(tail.ptr, "Traceback (most recent call last)"));
	assert_non_null(strstr(tail.ptr, "ValueError: boom for item 8"));
	assert_int_equal(run(m, "{\"item_id\": 9}", &res, &tail, &err), 0);
	assert_int_equal(server_pid(m), pid); /* an error reply keeps the server */
	dj_maker_close(m);

	/* a kind-less error, unknown members, a non-object reply, no row, bad parts */
	static const struct {
		const char *reply, *msg;
	} bad[] = {
	    {"{\"error\": \"plain words\"}", "MakeError: plain words"},
	    {"{\"row\": {}, \"rows\": 1}",
	     "OutputError: make server reply: unexpected member 'rows'"},
	    {"[1, 2]", "OutputError: make server reply is not a JSON object: '[1, 2]'"},
	    {"{\"parts\": {}}",
	     "OutputError: make server reply has no \"row\" object (or \"error\")"},
	    {"{\"row\": {}, \"parts\": {\"P\": [1]}}",
	     "OutputError: make server reply: parts 'P' row 1 is not an object"},
	    {"{\"row\": {}, \"parts\": {\"bad name\": []}}",
	     "OutputError: make server reply: 'bad name' is not a part table name"},
	    {"{\"row\": {\"a\": {\"npy\": \"none.npy\"}}}",
	     "OutputError: make server reply row: 'a': cannot read outputs/none.npy"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char script[300];
		snprintf(script, sizeof(script), "while read l; do echo '%s'; done", bad[i].reply);
		char *sh[] = {"/bin/sh", "-c", script, NULL};
		m = open_server(sh, 0);
		assert_true(run(m, "{\"item_id\": 1}", &res, &tail, &err) < 0);
		if (strcmp(err.msg, bad[i].msg))
			fail_msg("case %zu: got '%s'", i, err.msg);
		assert_int_equal(res.len, 0);
		dj_maker_close(m);
	}
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void garbage_and_death_restart(void **state)
{
	(void)state;
	char *argv[] = {"python3", SERVER, NULL};
	dj_maker *m = open_server(argv, 0);
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	long pid = server_pid(m);
	assert_int_equal(run(m, "{\"item_id\": 3, \"mode\": \"garbage\"}", &res, &tail, &err),
	                 DJ_EFORMAT);
	assert_string_equal(err.msg,
	                    "OutputError: make server reply is not JSON: 'this is not json'");
	long pid2 = server_pid(m);
	assert_true(pid2 != pid);
	assert_int_equal(run(m, "{\"item_id\": 9, \"mode\": \"die\"}", &res, &tail, &err),
	                 DJ_ERROR);
	assert_string_equal(err.msg,
	                    "MakeError: make server exited with status 5: about to die on item 9");
	assert_string_equal(tail.ptr, "about to die on item 9\n");
	long pid3 = server_pid(m);
	assert_true(pid3 != pid2);
	assert_int_equal(run(m, "{\"item_id\": 2}", &res, &tail, &err), 0);
	dj_maker_close(m);

	/* a server that is gone before the first key, and one that never answers in time */
	char *gone[] = {"/bin/sh", "-c", "echo 'bad config' >&2; exit 1", NULL};
	m = open_server(gone, 0);
	assert_int_equal(run(m, "{\"item_id\": 1}", &res, &tail, &err), DJ_ERROR);
	assert_string_equal(err.msg, "MakeError: make server exited with status 1: bad config");
	assert_int_equal(run(m, "{\"item_id\": 1}", &res, &tail, &err), DJ_ERROR);
	assert_string_equal(err.msg, "MakeError: make server exited with status 1: bad config");
	dj_maker_close(m);
	m = open_server(argv, 2);
	pid = server_pid(m);
	assert_int_equal(run(m, "{\"item_id\": 5, \"mode\": \"sleep\"}", &res, &tail, &err),
	                 DJ_ERROR);
	assert_string_equal(err.msg, "MakeError: make server timed out after 2 s");
	assert_true(server_pid(m) != pid);
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void inputs_and_request(void **state)
{
	(void)state;
	char *argv[] = {"python3", SERVER, NULL};
	dj_maker *m = open_server(argv, 0);
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_make_input in[] = {{"A.x.json", "[1, 2]", 6}, {"B.y.npy", "0123456789", 10}};
	assert_int_equal(
	    dj_maker_run(m, "{\"item_id\": 1, \"mode\": \"inputs\"}", in, 2, &res, &tail, &err), 0);
	assert_string_equal(res.ptr, "{\"row\":{\"input_bytes\":16}}");
	dj_maker_close(m);

	/* the request line itself, as a shell server sees it */
	char script[2200];
	snprintf(script, sizeof(script),
	         "read l; case \"$l\" in '{\"key\":{\"id\":1},\"scratch\":\"%s/djrun-make-'*"
	         "'\",\"inputs\":{\"A.x.json\":\"%s/djrun-make-'*'/inputs/A.x.json\"},"
	         "\"output_dir\":\"%s/djrun-make-'*'/outputs\"}') echo '{\"row\": {\"ok\": 1}}';; "
	         "*) echo \"$l\" >&2; echo '{\"error\": \"BadRequest: see stderr\"}';; esac",
	         scratch_root, scratch_root, scratch_root);
	char *sh[] = {"/bin/sh", "-c", script, NULL};
	m = open_server(sh, 0);
	if (dj_maker_run(m, "{\"id\": 1}", in, 1, &res, &tail, &err) < 0)
		fail_msg("%s: %s", err.msg, tail.ptr);
	assert_string_equal(res.ptr + strlen(res.ptr) - 2, "}}");
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

/* Two reply lines for one key: the second is not taken as the next key's reply; the server is
 * restarted instead (the reply of the new one carries its own pid). */
static void two_lines_restart(void **state)
{
	(void)state;
	char *sh[] = {"/bin/sh", "-c",
	              "while read l; do printf '{\"row\": {\"n\": 1, \"pid\": %s}}\\n"
	              "{\"row\": {\"n\": 2, \"pid\": %s}}\\n' $$ $$; done",
	              NULL};
	dj_maker *m = open_server(sh, 0);
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	json_int_t pid = 0;
	for (int k = 0; k < 3; k++) {
		if (run(m, "{}", &res, &tail, &err) < 0)
			fail_msg("%s", err.msg);
		const unsigned char *data;
		size_t dlen;
		json_t *doc = result_doc(&res, &data, &dlen), *row = json_object_get(doc, "row");
		assert_int_equal(json_integer_value(json_object_get(row, "n")), 1);
		assert_true(json_integer_value(json_object_get(row, "pid")) != pid);
		pid = json_integer_value(json_object_get(row, "pid"));
		json_decref(doc);
	}
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

/* The server inherits none of our other descriptors (MPI or database sockets in djrun). */
static void only_stdio_inherited(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/null", "r"); /* not close-on-exec */
	assert_non_null(f);
	char *sh[] = {"/bin/sh", "-c",
	              "while read l; do echo \"{\\\"row\\\": {\\\"fds\\\": \\\"$(ls /proc/self/fd "
	              "| tr '\\n' ' ')\\\"}}\"; done",
	              NULL};
	dj_maker *m = open_server(sh, 0);
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (run(m, "{}", &res, &tail, &err) < 0)
		fail_msg("%s", err.msg);
	/* ls' own 0, 1, 2 and the directory it reads */
	assert_string_equal(res.ptr, "{\"row\":{\"fds\":\"0 1 2 3 \"}}");
	dj_maker_close(m);
	fclose(f);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
}

static void cannot_start(void **state)
{
	(void)state;
	char *argv[] = {"djrun-no-such-make-server", NULL};
	dj_make_opts o = {.kind = DJ_MAKE_SERVER, .argv = argv};
	dj_maker *m = NULL;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_maker_open(&m, &o, &err), DJ_ENOTFOUND);
	assert_string_equal(err.msg, "MakeError: cannot execute make server "
	                             "'djrun-no-such-make-server': No such file or directory");
	assert_null(m);
	dj_make_opts empty = {.kind = DJ_MAKE_SERVER};
	assert_int_equal(dj_maker_open(&m, &empty, &err), DJ_EUSAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rows_npy_parts),
	    cmocka_unit_test(error_replies),
	    cmocka_unit_test(garbage_and_death_restart),
	    cmocka_unit_test(inputs_and_request),
	    cmocka_unit_test(two_lines_restart),
	    cmocka_unit_test(only_stdio_inherited),
	    cmocka_unit_test(cannot_start),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
