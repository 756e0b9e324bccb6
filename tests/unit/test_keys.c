/*
 * jobs/keys.c without a database: dj_keys_equal compares whole rows byte for byte (embedded
 * NULs and lengths included, NULL only equal to NULL) across two lists with the same columns;
 * dj_keys_add_from takes columns by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/keys.h"

static void equal_rows(void **state)
{
	(void)state;
	dj_keys a, b;
	dj_err err = DJ_ERR_INIT;
	const char *cols[] = {"subject", "blob"};
	const char *ba[] = {"blob", "subject"};
	dj_keys_init(&a);
	dj_keys_init(&b);
	assert_int_equal(dj_keys_set_cols(&a, cols, NULL, 2, &err), 0);
	assert_int_equal(dj_keys_set_cols(&b, cols, NULL, 2, &err), 0);
	const char *r0[] = {"mouse1", "a\0b"}, *r1[] = {"mouse1", "a\0c"}, *r2[] = {"mouse1", NULL};
	size_t l[] = {6, 3};
	assert_int_equal(dj_keys_add(&a, r0, l, &err), 0);
	assert_int_equal(dj_keys_add(&a, r1, l, &err), 0);
	assert_int_equal(dj_keys_add(&a, r2, l, &err), 0);
	assert_int_equal(dj_keys_add(&b, r1, l, &err), 0);
	assert_int_equal(dj_keys_add(&b, r2, l, &err), 0);
	assert_false(dj_keys_equal(&a, 0, &b, 0)); /* differ after the embedded NUL */
	assert_true(dj_keys_equal(&a, 1, &b, 0));
	assert_true(dj_keys_equal(&a, 2, &b, 1)); /* NULL == NULL */
	assert_false(dj_keys_equal(&a, 1, &b, 1)); /* value vs NULL */
	size_t shorter[] = {6, 1};
	assert_int_equal(dj_keys_add(&b, r0, shorter, &err), 0);
	assert_false(dj_keys_equal(&a, 0, &b, 2)); /* "a" vs "a\0b" */
	dj_keys c;
	dj_keys_init(&c);
	assert_int_equal(dj_keys_set_cols(&c, ba, NULL, 2, &err), 0);
	assert_int_equal(dj_keys_add_from(&c, &a, 1, &err), 0); /* by name: swapped */
	assert_memory_equal(c.vals[0], "a\0c", 3);
	assert_string_equal(c.vals[1], "mouse1");
	dj_keys_dispose(&a);
	dj_keys_dispose(&b);
	dj_keys_dispose(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(equal_rows)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
