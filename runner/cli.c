#include "runner/cli.h"

#include <stdarg.h>
#include <stdio.h>

#include "runner/exit.h"

int dj_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("djrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'djrun %s --help'\n", cmd);
	return DJ_EXIT_USAGE;
}
