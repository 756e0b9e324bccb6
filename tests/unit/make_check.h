/* Helpers of the make tests (test_make*.c): reading a make result back. */
#ifndef DJ_TESTS_MAKE_CHECK_H
#define DJ_TESTS_MAKE_CHECK_H

#include <jansson.h>
#include <string.h>

#include "jobs/make.h"

/* The doc of a result (parsed) and its npy bytes; fails the test for a malformed result. */
static inline json_t *result_doc(const dj_buf *res, const unsigned char **data, size_t *dlen)
{
	const char *json;
	size_t jlen;
	dj_err err = DJ_ERR_INIT;
	json_error_t je;
	assert_int_equal(dj_make_result_split(res->ptr, res->len, &json, &jlen, data, dlen, &err),
	                 0);
	json_t *doc = json_loadb(json, jlen, 0, &je);
	assert_non_null(doc);
	return doc;
}

/* The npy bytes an {"npy_off", "npy_len"} value refers to. */
static inline const unsigned char *npy_ref(json_t *v, const unsigned char *data, size_t dlen,
                                           size_t *len)
{
	assert_true(json_is_object(v));
	json_int_t off = json_integer_value(json_object_get(v, "npy_off"));
	*len = (size_t)json_integer_value(json_object_get(v, "npy_len"));
	assert_true(off >= 0 && (size_t)off + *len <= dlen);
	return data + off;
}

/* Whether text `s` occurs in p[0..n). */
static inline int has_text(const unsigned char *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(p + i, s, k))
			return 1;
	return 0;
}

/* The float64 vector [i, i+1, i+2] the sample makes write as arr (header checked by prefix). */
static inline void assert_arr3(json_t *v, const unsigned char *data, size_t dlen, double i)
{
	size_t len;
	const unsigned char *p = npy_ref(v, data, dlen, &len);
	assert_int_equal(len, 128 + 24);
	assert_memory_equal(p, "\x93NUMPY\x01\x00", 8);
	assert_true(has_text(p, 128, "'descr': '<f8'"));
	assert_true(has_text(p, 128, "'shape': (3,)"));
	double want[3] = {i, i + 1, i + 2};
	assert_memory_equal(p + 128, want, sizeof(want));
}

#endif
