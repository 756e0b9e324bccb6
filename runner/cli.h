/*
 * Subcommands of the djrun tool. Each takes the arguments after its name (argv[0] is the
 * subcommand name), writes results to stdout and everything else to stderr, and returns an
 * exit code from runner/exit.h.
 */
#ifndef DJ_RUNNER_CLI_H
#define DJ_RUNNER_CLI_H

#include "db/db.h"
#include "runner/config.h"

int dj_cmd_inspect(int argc, char **argv); /* runner/cmd_inspect.c */
int dj_cmd_config(int argc, char **argv);  /* runner/cmd_config.c */
int dj_cmd_describe(int argc, char **argv); /* runner/cmd_describe.c */
int dj_cmd_selftest(int argc, char **argv); /* runner/cmd_selftest.c (test aid) */
int dj_cmd_fetch(int argc, char **argv);    /* runner/cmd_fetch.c */
int dj_cmd_jobs(int argc, char **argv);     /* runner/cmd_jobs.c */
int dj_cmd_store(int argc, char **argv);    /* runner/cmd_store.c */
int dj_cmd_populate(int argc, char **argv); /* runner/cmd_populate.c */
int dj_cmd_gc(int argc, char **argv);       /* runner/cmd_gc.c */
int dj_cmd_verify(int argc, char **argv);   /* runner/cmd_verify.c */
int dj_cmd_submit(int argc, char **argv);   /* runner/cmd_submit.c */
int dj_cmd_status(int argc, char **argv);   /* runner/cmd_status.c */
int dj_cmd_migrate(int argc, char **argv);  /* runner/cmd_migrate.c */
int dj_cmd_migrate_legacy(int argc, char **argv); /* runner/cmd_migrate_legacy.c */
bool dj_cmd_migrate_legacy_wants(int argc, char **argv); /* migrate legacy-external, status SCHEMA */
int dj_cmd_migrate_array(int argc, char **argv); /* runner/cmd_migrate_array.c: to-npy, to-object */
bool dj_cmd_migrate_array_wants(int argc, char **argv); /* migrate to-npy, to-object */

/*
 * Load the configuration as datajoint-python would: the process environment, and datajoint.json
 * found from the working directory upward, or `config_file` when given (--config). On failure
 * prints "djrun: <cmd>: <message>" and returns DJ_EXIT_USAGE; else DJ_EXIT_OK, and *cfg is the
 * caller's to dj_config_free().
 */
int dj_cli_load_config(const char *cmd, const char *config_file, dj_config *cfg);

/*
 * dj_cli_load_config(), then connect to the configured database. Returns DJ_EXIT_OK (the caller
 * closes *db and frees *cfg), DJ_EXIT_USAGE for a configuration error, DJ_EXIT_UNREACHABLE when
 * a server was tried and could not be reached or refused the credentials; the message is printed.
 */
int dj_cli_open_db(const char *cmd, const char *config_file, dj_config *cfg, dj_db **db);

/*
 * How a job's `start` opens the database on rank 0: pass dj_cli_connect with a dj_cli_conn.
 * `attempted` tells afterwards whether a server was tried (exit 3) or the configuration was
 * unusable (exit 2).
 */
typedef struct dj_cli_conn {
	const dj_config *cfg;
	bool attempted;
} dj_cli_conn;
int dj_cli_connect(void *arg, dj_db **db, dj_err *err);

/* Option `opt`'s value `s` as a number >= 0 in *out; otherwise the usage error of `cmd` is
 * printed and DJ_EXIT_USAGE returned. */
int dj_cli_number(const char *cmd, const char *opt, const char *s, double *out);

/* "djrun: <msg>" plus "try 'djrun <cmd> --help'" on stderr; returns DJ_EXIT_USAGE. */
int dj_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

#endif
