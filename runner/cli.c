#include "runner/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "runner/db_connect.h"
#include "runner/exit.h"

extern char **environ;

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

int dj_cli_load_config(const char *cmd, const char *config_file, dj_config *cfg)
{
	dj_config_opts o = {0};
	dj_err err = DJ_ERR_INIT;
	o.envp = (const char *const *)environ;
	o.config_file = config_file;
	if (dj_config_load(cfg, &o, &err) < 0) {
		fprintf(stderr, "djrun: %s: %s\n", cmd, err.msg);
		return DJ_EXIT_USAGE;
	}
	return DJ_EXIT_OK;
}

int dj_cli_open_db(const char *cmd, const char *config_file, dj_config *cfg, dj_db **db)
{
	dj_err err = DJ_ERR_INIT;
	bool attempted = false;
	int rc = dj_cli_load_config(cmd, config_file, cfg);
	if (rc != DJ_EXIT_OK)
		return rc;
	if (dj_db_open_config(db, cfg, &attempted, &err) < 0) {
		fprintf(stderr, "djrun: %s: %s\n", cmd, err.msg);
		dj_config_free(cfg);
		return attempted ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	}
	return DJ_EXIT_OK;
}

int dj_cli_connect(void *arg, dj_db **db, dj_err *err)
{
	dj_cli_conn *c = arg;
	return dj_db_open_config(db, c->cfg, &c->attempted, err);
}

int dj_cli_number(const char *cmd, const char *opt, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	*out = 0; /* defined on failure too */
	if (errno || end == s || *end || v < 0)
		return dj_cli_usage_error(cmd, "%s takes a number >= 0, not '%s'", opt, s);
	*out = v;
	return 0;
}
