#include "tests/unit/vectors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

const char *dj_test_shared_dir(void)
{
	const char *d = getenv("DJ_SHARED_DIR");
	return d && *d ? d : "../shared";
}

const char *dj_test_tmpdir(void)
{
	static char dir[1024];
	if (!dir[0]) {
		const char *base = getenv("DJ_TEST_TMP");
		char cmd[2200];
		snprintf(dir, sizeof(dir), "%s/unit-%ld", base && *base ? base : "/tmp", (long)getpid());
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
		if (system(cmd) != 0)
			fail_msg("cannot create %s", dir);
	}
	return dir;
}

const char *dj_test_shared_path(const char *rel)
{
	static char path[2048];
	snprintf(path, sizeof(path), "%s/%s", dj_test_shared_dir(), rel);
	return path;
}

void dj_test_read(const char *path, dj_buf *out)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_file_read(path, out, &err) < 0)
		fail_msg("%s", err.msg);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void dj_test_unhex(const char *hex, dj_buf *out)
{
	size_t n = strlen(hex);
	if (n % 2)
		fail_msg("odd hex length: %s", hex);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval((unsigned char)hex[i]), lo = hexval((unsigned char)hex[i + 1]);
		if (hi < 0 || lo < 0)
			fail_msg("bad hex: %s", hex);
		dj_buf_addc(out, (char)(hi * 16 + lo));
	}
}

static char **split_line(char *line, size_t *n)
{
	size_t cap = 8, k = 0;
	char **f = malloc(cap * sizeof(*f));
	for (;;) {
		char *tab = strchr(line, '\t');
		if (k == cap)
			f = realloc(f, (cap *= 2) * sizeof(*f));
		if (tab)
			*tab = '\0';
		f[k++] = strdup(line);
		if (!tab)
			break;
		line = tab + 1;
	}
	*n = k;
	return f;
}

void dj_tsv_load(dj_tsv *t, const char *path)
{
	dj_buf b = DJ_BUF_INIT;
	char *line, *save = NULL;
	size_t cap = 0;
	memset(t, 0, sizeof(*t));
	dj_test_read(path, &b);
	for (line = strtok_r(b.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n;
		char **f;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		if (!*line)
			continue;
		f = split_line(line, &n);
		if (!t->head) {
			t->head = f;
			t->ncols = n;
			continue;
		}
		if (n < t->ncols) {
			f = realloc(f, t->ncols * sizeof(*f));
			for (size_t i = n; i < t->ncols; i++)
				f[i] = strdup("");
		} else {
			for (size_t i = t->ncols; i < n; i++)
				free(f[i]);
		}
		if (t->nrows == cap)
			t->rows = realloc(t->rows, (cap = cap ? cap * 2 : 64) * sizeof(*t->rows));
		t->rows[t->nrows++] = f;
	}
	dj_buf_dispose(&b);
	if (!t->head)
		fail_msg("empty table %s", path);
}

const char *dj_tsv_get(const dj_tsv *t, size_t r, const char *col)
{
	for (size_t c = 0; c < t->ncols; c++)
		if (strcmp(t->head[c], col) == 0)
			return t->rows[r][c];
	fail_msg("no column '%s'", col);
	return NULL;
}

void dj_tsv_free(dj_tsv *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	for (size_t c = 0; c < t->ncols; c++)
		free(t->head[c]);
	free(t->rows);
	free(t->head);
	memset(t, 0, sizeof(*t));
}
