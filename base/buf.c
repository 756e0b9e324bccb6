#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char dj_buf__empty[1];

int dj_buf_grow(dj_buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;
	if (extra > SIZE_MAX - b->len - 1)
		return DJ_ENOMEM;
	need = b->len + extra;
	if (b->limit && need > b->limit)
		return DJ_ENOMEM;
	if (need + 1 <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need + 1)
		ncap = ncap > SIZE_MAX / 2 ? need + 1 : ncap * 2;
	p = realloc(b->cap ? b->ptr : NULL, ncap);
	if (!p)
		return DJ_ENOMEM;
	if (!b->cap)
		p[0] = '\0';
	b->ptr = p;
	b->cap = ncap;
	return 0;
}

int dj_buf_add(dj_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (dj_buf_grow(b, n) < 0)
		return DJ_ENOMEM;
	memcpy(b->ptr + b->len, p, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int dj_buf_addc(dj_buf *b, char c)
{
	return dj_buf_add(b, &c, 1);
}

int dj_buf_adds(dj_buf *b, const char *s)
{
	return dj_buf_add(b, s, strlen(s));
}

int dj_buf_addf(dj_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || dj_buf_grow(b, (size_t)n) < 0)
		return DJ_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void dj_buf_setlen(dj_buf *b, size_t len)
{
	if (!b->cap)
		return;
	b->len = len < b->cap ? len : b->cap - 1;
	b->ptr[b->len] = '\0';
}

void dj_buf_reset(dj_buf *b)
{
	dj_buf_setlen(b, 0);
}

char *dj_buf_take(dj_buf *b, size_t *len)
{
	char *p = b->cap ? b->ptr : calloc(1, 1);
	if (len)
		*len = b->len;
	b->ptr = dj_buf__empty;
	b->len = b->cap = 0;
	return p;
}

void dj_buf_dispose(dj_buf *b)
{
	if (b->cap)
		free(b->ptr);
	b->ptr = dj_buf__empty;
	b->len = b->cap = 0;
}

const char *dj_strip_slashes(const char *s, size_t *len)
{
	size_t n;
	while (*s == '/')
		s++;
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	*len = n;
	return s;
}

int dj_file_read(const char *path, dj_buf *out, dj_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return dj_err_os(err, "cannot open '%s'", path);
	if (fstat(fd, &sb) == 0 && sb.st_size > 0 && dj_buf_grow(out, (size_t)sb.st_size) < 0) {
		close(fd);
		return dj_err_set(err, DJ_ENOMEM, "cannot read '%s': out of memory", path);
	}
	for (;;) {
		ssize_t n;
		if (dj_buf_grow(out, 65536) < 0) {
			close(fd);
			return dj_err_set(err, DJ_ENOMEM, "cannot read '%s': out of memory", path);
		}
		n = read(fd, out->ptr + out->len, out->cap - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = dj_err_os(err, "cannot read '%s'", path);
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->ptr[out->len] = '\0';
	}
	close(fd);
	return 0;
}

int dj_file_write(const char *path, const void *p, size_t n, dj_err *err)
{
	dj_buf tmp = DJ_BUF_INIT;
	const char *c = p;
	int fd, rc = 0;
	if (dj_buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = dj_err_os(err, "cannot create '%s'", tmp.ptr);
		goto done;
	}
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = dj_err_os(err, "cannot write '%s'", tmp.ptr);
			close(fd);
			unlink(tmp.ptr);
			goto done;
		}
		c += w;
		n -= (size_t)w;
	}
	if (close(fd) < 0) {
		rc = dj_err_os(err, "cannot write '%s'", tmp.ptr);
		unlink(tmp.ptr);
		goto done;
	}
	if (rename(tmp.ptr, path) < 0) {
		rc = dj_err_os(err, "cannot rename '%s' to '%s'", tmp.ptr, path);
		unlink(tmp.ptr);
	}
done:
	dj_buf_dispose(&tmp);
	return rc;
}
