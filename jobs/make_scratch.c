/* Scratch directories and stderr tails shared by the make forms (make_internal.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jobs/make_internal.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void dj_make__scratch_remove(const char *dir)
{
	if (*dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* inputs/<name> for each input; names must stay inside inputs/. */
static int write_inputs(const char *scratch, const dj_make_input *in, size_t nin, dj_err *err)
{
	char path[DJ_MAKE_PATH_MAX + 300];
	snprintf(path, sizeof(path), "%s/inputs", scratch);
	if (mkdir(path, 0777) < 0)
		return dj_err_os(err, "MakeError: cannot make '%s'", path);
	for (size_t i = 0; i < nin; i++) {
		if (!*in[i].name || strchr(in[i].name, '/') || !strcmp(in[i].name, "..") ||
		    !strcmp(in[i].name, "."))
			return dj_err_set(err, DJ_EUSAGE, "MakeError: bad input name '%s'",
			                  in[i].name);
		snprintf(path, sizeof(path), "%s/inputs/%s", scratch, in[i].name);
		int rc = dj_file_write(path, in[i].data, in[i].len, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Everything under the scratch directory but the (emptied) outputs/ folder itself. */
static int clear_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	if (ftw->level == 0 ||
	    (ftw->level == 1 && flag == FTW_DP && !strcmp(path + ftw->base, "outputs")))
		return 0;
	return remove(path);
}

int dj_make__scratch_clear(const char *dir, const dj_make_input *in, size_t nin, dj_err *err)
{
	char path[DJ_MAKE_PATH_MAX + 16];
	if (nftw(dir, clear_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return dj_err_os(err, "MakeError: cannot empty the scratch directory '%s'", dir);
	snprintf(path, sizeof(path), "%s/outputs", dir); /* in case the make replaced it */
	if (mkdir(path, 0777) < 0 && errno != EEXIST)
		return dj_err_os(err, "MakeError: cannot make '%s'", path);
	return nin ? write_inputs(dir, in, nin, err) : 0;
}

int dj_make__scratch_new(char *dir, const char *root, const dj_make_input *in, size_t nin,
                         dj_err *err)
{
	char path[DJ_MAKE_PATH_MAX + 16];
	if (!root)
		root = getenv("TMPDIR");
	if (!root || !*root)
		root = "/tmp";
	dir[0] = 0;
	if (strlen(root) > DJ_MAKE_PATH_MAX - 64)
		return dj_err_set(err, DJ_EUSAGE, "MakeError: scratch path '%s' is too long", root);
	snprintf(dir, DJ_MAKE_PATH_MAX, "%s/djrun-make-XXXXXX", root);
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		return dj_err_os(err, "MakeError: cannot make a scratch directory in '%s'", root);
	}
	snprintf(path, sizeof(path), "%s/outputs", dir);
	if (mkdir(path, 0777) < 0)
		return dj_err_os(err, "MakeError: cannot make '%s'", path);
	return nin ? write_inputs(dir, in, nin, err) : 0;
}

void dj_make__tail_add(dj_buf *tail, const void *p, size_t n)
{
	if (n >= DJ_MAKE_TAIL_MAX) {
		p = (const char *)p + (n - DJ_MAKE_TAIL_MAX);
		n = DJ_MAKE_TAIL_MAX;
	}
	if (tail->len + n > DJ_MAKE_TAIL_MAX) {
		size_t drop = tail->len + n - DJ_MAKE_TAIL_MAX;
		memmove(tail->ptr, tail->ptr + drop, tail->len - drop);
		dj_buf_setlen(tail, tail->len - drop);
	}
	dj_buf_add(tail, p, n);
}

void dj_make__last_line(const dj_buf *t, char *out, size_t cap)
{
	size_t end = t->len;
	const char *s = (const char *)t->ptr;
	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '))
		end--;
	size_t beg = end;
	while (beg > 0 && s[beg - 1] != '\n')
		beg--;
	size_t n = end - beg;
	if (n >= cap)
		n = cap - 1;
	if (n) /* t may be an all-zero dj_buf: ptr NULL */
		memcpy(out, s + beg, n);
	out[n] = 0;
}

int dj_make__signal_code(int sig)
{
	return sig == SIGTERM || sig == SIGINT ? DJ_ESTOP : DJ_ERROR;
}
