/*
 * Subcommands of the djrun tool. Each takes the arguments after its name (argv[0] is the
 * subcommand name), writes results to stdout and everything else to stderr, and returns an
 * exit code from runner/exit.h.
 */
#ifndef DJ_RUNNER_CLI_H
#define DJ_RUNNER_CLI_H

int dj_cmd_inspect(int argc, char **argv); /* runner/cmd_inspect.c */
int dj_cmd_config(int argc, char **argv);  /* runner/cmd_config.c */
int dj_cmd_describe(int argc, char **argv); /* runner/cmd_describe.c */
int dj_cmd_fetch(int argc, char **argv);    /* runner/cmd_fetch.c */
int dj_cmd_jobs(int argc, char **argv);     /* runner/cmd_jobs.c */
int dj_cmd_store(int argc, char **argv);    /* runner/cmd_store.c */

/* "djrun: <msg>" plus "try 'djrun <cmd> --help'" on stderr; returns DJ_EXIT_USAGE. */
int dj_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

#endif
