#include "codecs/attach.h"
#include "base/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codecs/object.h"

static int nomem(dj_err *err, const char *what)
{
	return dj_err_set(err, DJ_ENOMEM, "attach '%s': out of memory or over the size cap", what);
}

int dj_attach_pack(dj_buf *out, const char *name, const void *p, size_t n, dj_err *err)
{
	size_t len = out->len;
	if (!*name || strchr(name, '/') || !dj_utf8_valid(name, strlen(name)))
		return dj_err_set(err, DJ_EUSAGE, "attach: '%s' is not a valid file name", name);
	/* §3: filename, one NUL, the raw contents */
	if (dj_buf_add(out, name, strlen(name) + 1) < 0 || dj_buf_add(out, p, n) < 0) {
		dj_buf_setlen(out, len);
		return nomem(err, name);
	}
	return 0;
}

int dj_attach_pack_file(dj_buf *out, const char *path, dj_err *err)
{
	char name[1024];
	size_t n = strlen(path), len = out->len;
	const char *base;
	struct stat st;
	int rc;
	if (stat(path, &st) < 0)
		return dj_err_os(err, "attachment file '%s'", path);
	if (S_ISDIR(st.st_mode))
		return dj_err_set(err, DJ_EUSAGE, "<attach> does not support directories: '%s'", path);
	/* Path(path).name: the last component; a trailing '/' does not make an empty name */
	while (n > 1 && path[n - 1] == '/')
		n--;
	for (base = path + n; base > path && base[-1] != '/'; base--)
		;
	if ((size_t)(path + n - base) >= sizeof(name))
		return dj_err_set(err, DJ_EUSAGE, "attach: file name too long: '%s'", path);
	memcpy(name, base, (size_t)(path + n - base));
	name[path + n - base] = '\0';
	if (!*name || strchr(name, '/') || !dj_utf8_valid(name, strlen(name)))
		return dj_err_set(err, DJ_EUSAGE, "attach: '%s' has no valid file name", path);
	if (dj_buf_add(out, name, strlen(name) + 1) < 0)
		return nomem(err, path);
	if ((rc = dj_file_read(path, out, err)) < 0)
		dj_buf_setlen(out, len);
	return rc;
}

int dj_attach_split(dj_bytes payload, dj_bytes *name, dj_bytes *contents, dj_err *err)
{
	const uint8_t *nul = payload.len ? memchr(payload.ptr, 0, payload.len) : NULL;
	size_t k;
	if (!nul)
		return dj_err_set(err, DJ_EFORMAT, "attach payload of %zu bytes has no NUL after the name",
				  payload.len);
	k = (size_t)(nul - payload.ptr);
	if (!dj_utf8_valid(payload.ptr, k))
		return dj_err_set(err, DJ_EFORMAT, "attach payload: file name is not valid UTF-8");
	name->ptr = payload.ptr;
	name->len = k;
	contents->ptr = nul + 1;
	contents->len = payload.len - k - 1;
	return 0;
}

/* ---- saving ---- */

static int mkdirs(const char *dir, dj_err *err)
{
	char tmp[4096];
	size_t n = strlen(dir);
	if (n == 0)
		return 0;
	if (n >= sizeof(tmp))
		return dj_err_set(err, DJ_EUSAGE, "download path too long: '%.64s...'", dir);
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
			return dj_err_os(err, "cannot create download directory '%s'", tmp);
		tmp[i] = c;
	}
	return 0;
}

enum { ABSENT, SAME, DIFFERENT };

/* Compare the file at `path` with `c` without reading more than needed. */
static int compare_file(const char *path, dj_bytes c, int *state, dj_err *err)
{
	unsigned char chunk[65536];
	struct stat st;
	size_t off = 0;
	int fd;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			*state = ABSENT;
			return 0;
		}
		return dj_err_os(err, "cannot stat '%s'", path);
	}
	*state = DIFFERENT;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != (uint64_t)c.len)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dj_err_os(err, "cannot open '%s'", path);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return dj_err_os(err, "cannot read '%s'", path);
		}
		if (r == 0 || (size_t)r > c.len - off || memcmp(chunk, c.ptr + off, (size_t)r) != 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	if (off == c.len)
		*state = SAME;
	return 0;
}

/* Python 3.11 PurePath.suffix: from the last dot, unless the dot is first or last. */
static size_t suffix_at(dj_bytes name)
{
	for (size_t i = name.len; i-- > 0;)
		if (name.ptr[i] == '.')
			return i > 0 && i < name.len - 1 ? i : name.len;
	return name.len;
}

static int candidate(dj_buf *p, const char *dir, dj_bytes name, unsigned long counter)
{
	size_t s = suffix_at(name);
	dj_buf_reset(p);
	/* str(Path(".") / name) is just the name */
	if (strcmp(dir, ".") == 0)
		dir = "";
	if (*dir && (dj_buf_adds(p, dir) < 0 || (dir[strlen(dir) - 1] != '/' && dj_buf_addc(p, '/') < 0)))
		return DJ_ENOMEM;
	if (dj_buf_add(p, name.ptr, s) < 0)
		return DJ_ENOMEM;
	if (counter && dj_buf_addf(p, "_%lu", counter) < 0)
		return DJ_ENOMEM;
	return dj_buf_add(p, name.ptr + s, name.len - s);
}

static bool bad_name(dj_bytes name)
{
	return name.len == 0 || memchr(name.ptr, '/', name.len) || memchr(name.ptr, 0, name.len) ||
	       (name.len == 1 && name.ptr[0] == '.') ||
	       (name.len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.');
}

int dj_attach_save(const char *dir, dj_bytes name, dj_bytes contents, dj_buf *path_out,
		   dj_err *err)
{
	dj_buf p = DJ_BUF_INIT;
	int state = ABSENT, rc;
	unsigned long counter = 0;
	if (bad_name(name))
		return dj_err_set(err, DJ_EFORMAT, "attach: refusing file name '%.*s'",
				  (int)(name.len > 200 ? 200 : name.len), (const char *)name.ptr);
	if ((rc = mkdirs(dir, err)) < 0)
		return rc;
	/* §3: reuse an identical file, else try stem_1.suffix, stem_2.suffix, ... */
	for (;;) {
		if (candidate(&p, dir, name, counter) < 0) {
			rc = nomem(err, dir);
			goto done;
		}
		if ((rc = compare_file(p.ptr, contents, &state, err)) < 0 || state != DIFFERENT)
			break;
		if (++counter == 0) {
			rc = dj_err_set(err, DJ_ERROR, "attach: no free name for '%s'", p.ptr);
			goto done;
		}
	}
	if (rc == 0 && state == ABSENT)
		rc = dj_file_write(p.ptr, contents.ptr, contents.len, err);
	if (rc == 0 && dj_buf_add(path_out, p.ptr, p.len) < 0)
		rc = nomem(err, p.ptr);
done:
	dj_buf_dispose(&p);
	return rc;
}
