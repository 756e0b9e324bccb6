/* base/: error struct and growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "tests/unit/vectors.h"

static void err_keeps_first_message(void **state)
{
	(void)state;
	dj_err e = DJ_ERR_INIT;
	assert_int_equal(dj_err_set(&e, DJ_EFORMAT, "bad blob at offset %d", 12), DJ_EFORMAT);
	assert_int_equal(dj_err_set(&e, DJ_ERROR, "second"), DJ_ERROR);
	assert_int_equal(e.code, DJ_EFORMAT);
	assert_string_equal(e.msg, "bad blob at offset 12");
	dj_err_context(&e, "table '%s'", "lab.rec");
	assert_string_equal(e.msg, "table 'lab.rec': bad blob at offset 12");
}

static void err_is_one_line(void **state)
{
	(void)state;
	dj_err e = DJ_ERR_INIT;
	dj_err_set(&e, DJ_ERROR, "line one\nline two");
	assert_null(strchr(e.msg, '\n'));
}

static void err_os_maps_enoent(void **state)
{
	(void)state;
	dj_err e = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_file_read("/nonexistent/djrun-test", &b, &e), DJ_ENOTFOUND);
	assert_non_null(strstr(e.msg, "/nonexistent/djrun-test"));
	assert_non_null(strstr(e.msg, "No such file"));
	dj_buf_dispose(&b);
}

static void buf_grows_and_takes(void **state)
{
	(void)state;
	dj_buf b = DJ_BUF_INIT;
	size_t n;
	char *p;
	assert_string_equal(b.ptr, "");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(dj_buf_addf(&b, "%d,", i), 0);
	assert_int_equal(strncmp(b.ptr, "0,1,2,", 6), 0);
	assert_int_equal(b.ptr[b.len], '\0');
	p = dj_buf_take(&b, &n);
	assert_int_equal(n, strlen(p));
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	free(p);
}

static void buf_limit_refuses(void **state)
{
	(void)state;
	dj_buf b = DJ_BUF_INIT;
	b.limit = 10;
	assert_int_equal(dj_buf_add(&b, "0123456789", 10), 0);
	assert_int_equal(dj_buf_add(&b, "x", 1), DJ_ENOMEM);
	assert_int_equal(b.len, 10);
	assert_int_equal(dj_buf_grow(&b, SIZE_MAX), DJ_ENOMEM);
	dj_buf_dispose(&b);
}

static void file_write_then_read(void **state)
{
	(void)state;
	char path[1200];
	dj_err e = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	snprintf(path, sizeof(path), "%s/f.bin", dj_test_tmpdir());
	assert_int_equal(dj_file_write(path, "a\0b", 3, &e), 0);
	assert_int_equal(dj_file_read(path, &b, &e), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.ptr, "a\0b", 3);
	dj_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(err_keeps_first_message), cmocka_unit_test(err_is_one_line),
		cmocka_unit_test(err_os_maps_enoent),      cmocka_unit_test(buf_grows_and_takes),
		cmocka_unit_test(buf_limit_refuses),       cmocka_unit_test(file_write_then_read),
	};
	return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
