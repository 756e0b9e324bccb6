/*
 * Test helpers shared by the unit tests: where ../shared is, TSV tables, files, hex.
 * Everything here aborts the test (cmocka fail_msg) rather than returning errors.
 */
#ifndef DJ_TESTS_VECTORS_H
#define DJ_TESTS_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct dj_tsv {
	size_t nrows, ncols;
	char **head;   /* ncols column names */
	char ***rows;  /* nrows rows of ncols fields each (missing trailing fields are "") */
} dj_tsv;

/* $DJ_SHARED_DIR, or ../shared relative to the source tree. */
const char *dj_test_shared_dir(void);
/* A fresh empty directory for this test program under $DJ_TEST_TMP (or /tmp). */
const char *dj_test_tmpdir(void);
/* "<shared>/<rel>" in a static buffer (valid until the next call). */
const char *dj_test_shared_path(const char *rel);

void dj_tsv_load(dj_tsv *t, const char *path);
/* Field `col` of row `r`; fails the test if the column does not exist. */
const char *dj_tsv_get(const dj_tsv *t, size_t r, const char *col);
void dj_tsv_free(dj_tsv *t);

/* Read a whole file (fails the test when it cannot). */
void dj_test_read(const char *path, dj_buf *out);
/* Decode hex into out; fails the test on bad hex. */
void dj_test_unhex(const char *hex, dj_buf *out);

#endif
