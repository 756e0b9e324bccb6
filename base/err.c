#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_va(dj_err *e, int code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	/* one line: the message may end up in a jobs table's error_message */
	for (char *p = e->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

int dj_err_set(dj_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	if (!e || e->code != 0)
		return code;
	va_start(ap, fmt);
	set_va(e, code, fmt, ap);
	va_end(ap);
	return code;
}

int dj_err_os(dj_err *e, const char *fmt, ...)
{
	int saved = errno;
	int code = saved == ENOENT ? DJ_ENOTFOUND : saved == EEXIST ? DJ_EEXISTS : DJ_ERROR;
	va_list ap;
	if (!e || e->code != 0)
		return code;
	va_start(ap, fmt);
	set_va(e, code, fmt, ap);
	va_end(ap);
	size_t n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(saved));
	return code;
}

void dj_err_context(dj_err *e, const char *fmt, ...)
{
	char ctx[256], old[sizeof(e->msg)];
	va_list ap;
	if (!e || e->code == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	/* truncating the tail of an over-long message is intended */
	size_t n = strlen(ctx);
	if (n > sizeof(e->msg) - 3)
		n = sizeof(e->msg) - 3;
	memcpy(e->msg, ctx, n);
	memcpy(e->msg + n, ": ", 2);
	size_t room = sizeof(e->msg) - n - 3, k = strlen(old);
	if (k > room)
		k = room;
	memcpy(e->msg + n + 2, old, k);
	e->msg[n + 2 + k] = '\0';
}

void dj_err_clear(dj_err *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

const char *dj_strerror(int code)
{
	switch ((dj_code)code) {
	case DJ_OK: return "ok";
	case DJ_ERROR: return "error";
	case DJ_ENOTFOUND: return "not found";
	case DJ_EEXISTS: return "already exists";
	case DJ_ENOTSUP: return "not supported";
	case DJ_EFORMAT: return "format error";
	case DJ_ECONFLICT: return "conflict";
	case DJ_ETRANSIENT: return "transient error";
	case DJ_ESTOP: return "stopped";
	case DJ_ENOMEM: return "out of memory";
	case DJ_EUSAGE: return "usage error";
	}
	return "unknown error";
}
