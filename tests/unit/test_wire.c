/* mpi/wire.c: the coordinator's frames round-trip, and every cut or corrupt frame is refused
 * with DJ_EFORMAT (never read past its end: ASan watches). No MPI needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "mpi/wire.h"

static dj_bytes bytes(const void *p, size_t n)
{
	return (dj_bytes){(const uint8_t *)p, n};
}

/* Decode `m` as ITEMS into ids/items; returns the record count or < 0. */
static int read_items(const void *p, size_t n, uint64_t *ids, dj_bytes *items, dj_err *err)
{
	dj_wire_reader r;
	int count = 0, rc;
	dj_wire_reader_init(&r, p, n);
	if ((rc = dj_wire_items_open(&r, err)) < 0)
		return rc;
	while ((rc = dj_wire_item_next(&r, &ids[count], &items[count], err)) > 0)
		count++;
	return rc < 0 ? rc : count;
}

static void items_round_trip(void **state)
{
	(void)state;
	const char bin[] = {'a', 0, 'b', (char)0xff};
	dj_buf m = DJ_BUF_INIT;
	assert_int_equal(dj_wire_items_begin(&m), 0);
	assert_int_equal(dj_wire_item_add(&m, 1, bytes("17", 2)), 0);
	assert_int_equal(dj_wire_item_add(&m, 2, bytes("", 0)), 0);
	assert_int_equal(dj_wire_item_add(&m, UINT64_MAX, bytes(bin, sizeof(bin))), 0);
	uint64_t ids[4];
	dj_bytes items[4];
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(read_items(m.ptr, m.len, ids, items, &err), 3);
	assert_true(ids[0] == 1 && ids[1] == 2 && ids[2] == UINT64_MAX);
	assert_int_equal(items[0].len, 2);
	assert_memory_equal(items[0].ptr, "17", 2);
	assert_int_equal(items[1].len, 0);
	assert_int_equal(items[2].len, sizeof(bin));
	assert_memory_equal(items[2].ptr, bin, sizeof(bin));
	/* an empty ITEMS frame is valid and holds nothing */
	assert_int_equal(dj_wire_items_begin(&m), 0);
	assert_int_equal(read_items(m.ptr, m.len, ids, items, &err), 0);
	dj_buf_dispose(&m);
}

static void results_round_trip(void **state)
{
	(void)state;
	dj_buf m = DJ_BUF_INIT;
	dj_wire_result ok = {.id = 7, .code = 0, .work_s = 0.25, .data = bytes("50", 2)};
	dj_wire_result bad = {
	    .id = 9, .code = DJ_EFORMAT, .work_s = 1e-6, .msg = bytes("item 9: no", 10)};
	assert_int_equal(dj_wire_results_begin(&m, 12, DJ_WIRE_FLAG_BEATS), 0);
	assert_int_equal(dj_wire_result_add(&m, &ok), 0);
	assert_int_equal(dj_wire_result_add(&m, &bad), 0);

	dj_wire_reader r;
	dj_wire_result got;
	uint32_t want;
	uint8_t flags;
	dj_err err = DJ_ERR_INIT;
	dj_wire_reader_init(&r, m.ptr, m.len);
	assert_int_equal(dj_wire_results_open(&r, &want, &flags, &err), 0);
	assert_int_equal(want, 12);
	assert_int_equal(flags, DJ_WIRE_FLAG_BEATS);
	assert_int_equal(dj_wire_result_next(&r, &got, &err), 1);
	assert_true(got.id == 7 && got.code == 0 && got.work_s == 0.25 && got.msg.len == 0);
	assert_int_equal(got.data.len, 2);
	assert_memory_equal(got.data.ptr, "50", 2);
	assert_int_equal(dj_wire_result_next(&r, &got, &err), 1);
	assert_true(got.id == 9 && got.code == DJ_EFORMAT && got.work_s == 1e-6);
	assert_int_equal(got.msg.len, 10);
	assert_memory_equal(got.msg.ptr, "item 9: no", 10);
	assert_int_equal(dj_wire_result_next(&r, &got, &err), 0);
	dj_buf_dispose(&m);
}

static void long_message_is_cut(void **state)
{
	(void)state;
	size_t n = 70000;
	char *msg = malloc(n);
	memset(msg, 'x', n);
	dj_buf m = DJ_BUF_INIT;
	dj_wire_result bad = {.id = 1, .code = DJ_ERROR, .msg = bytes(msg, n)};
	dj_wire_results_begin(&m, 1, 0);
	assert_int_equal(dj_wire_result_add(&m, &bad), 0);
	dj_wire_reader r;
	dj_wire_result got;
	uint32_t want;
	uint8_t flags;
	dj_err err = DJ_ERR_INIT;
	dj_wire_reader_init(&r, m.ptr, m.len);
	dj_wire_results_open(&r, &want, &flags, &err);
	assert_int_equal(dj_wire_result_next(&r, &got, &err), 1);
	assert_int_equal(got.msg.len, 0xffff);
	free(msg);
	dj_buf_dispose(&m);
}

static void stop_and_bye_round_trip(void **state)
{
	(void)state;
	dj_buf m = DJ_BUF_INIT;
	dj_wire_reader r;
	dj_err err = DJ_ERR_INIT;
	int mode = 0;
	assert_int_equal(dj_wire_stop_encode(&m, DJ_WIRE_STOP_DROP), 0);
	dj_wire_reader_init(&r, m.ptr, m.len);
	assert_int_equal(dj_wire_stop_decode(&r, &mode, &err), 0);
	assert_int_equal(mode, DJ_WIRE_STOP_DROP);

	int32_t code = 0;
	dj_bytes msg;
	assert_int_equal(dj_wire_bye_encode(&m, DJ_ENOTFOUND, "make server missing"), 0);
	dj_wire_reader_init(&r, m.ptr, m.len);
	assert_int_equal(dj_wire_bye_decode(&r, &code, &msg, &err), 0);
	assert_int_equal(code, DJ_ENOTFOUND);
	assert_int_equal(msg.len, strlen("make server missing"));
	assert_memory_equal(msg.ptr, "make server missing", msg.len);
	dj_buf_dispose(&m);
}

/* Every proper prefix of a frame with records is refused or reads fewer whole records. */
static void cut_frames_are_refused(void **state)
{
	(void)state;
	dj_buf m = DJ_BUF_INIT;
	dj_wire_result res = {
	    .id = 3, .code = DJ_ERROR, .msg = bytes("nope", 4), .data = bytes("data", 4)};
	dj_wire_results_begin(&m, 4, 0);
	dj_wire_result_add(&m, &res);
	size_t whole = m.len;
	for (size_t cut = 0; cut < whole; cut++) {
		/* a heap copy of exactly `cut` bytes: ASan flags any read past it */
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, m.ptr, cut);
		dj_wire_reader r;
		dj_wire_result got;
		uint32_t want;
		uint8_t flags;
		dj_err err = DJ_ERR_INIT;
		dj_wire_reader_init(&r, p, cut);
		int rc = dj_wire_results_open(&r, &want, &flags, &err);
		if (rc == 0)
			rc = dj_wire_result_next(&r, &got, &err);
		/* the only prefix that is a valid frame is the bare header (no records) */
		if (cut == 6)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, DJ_EFORMAT);
		free(p);
	}
	dj_buf_dispose(&m);
}

static void bad_version_and_lengths_are_refused(void **state)
{
	(void)state;
	dj_buf m = DJ_BUF_INIT;
	uint64_t ids[2];
	dj_bytes items[2];
	dj_err err = DJ_ERR_INIT;
	dj_wire_items_begin(&m);
	dj_wire_item_add(&m, 1, bytes("abc", 3));
	m.ptr[0] = 9; /* version */
	assert_int_equal(read_items(m.ptr, m.len, ids, items, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "version 9"));
	m.ptr[0] = DJ_WIRE_VERSION;
	m.ptr[9] = (char)0xff; /* item length low byte: 255 > what is left */
	dj_err_clear(&err);
	assert_int_equal(read_items(m.ptr, m.len, ids, items, &err), DJ_EFORMAT);
	int mode;
	dj_wire_reader r;
	dj_wire_stop_encode(&m, 7);
	dj_wire_reader_init(&r, m.ptr, m.len);
	assert_int_equal(dj_wire_stop_decode(&r, &mode, &err), DJ_EFORMAT);
	dj_buf_dispose(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(items_round_trip),
	    cmocka_unit_test(results_round_trip),
	    cmocka_unit_test(long_message_is_cut),
	    cmocka_unit_test(stop_and_bye_round_trip),
	    cmocka_unit_test(cut_frames_are_refused),
	    cmocka_unit_test(bad_version_and_lengths_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
