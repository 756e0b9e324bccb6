/*
 * A database connection from the effective configuration (database.md §9.1): backend, host
 * ("host:port" wins over database.port), user, password, database.name (PostgreSQL), use_tls and
 * reconnect, as datajoint-python reads them. The runner owns the configuration; db/ only sees
 * dj_db_params.
 */
#ifndef DJ_RUNNER_DB_CONNECT_H
#define DJ_RUNNER_DB_CONNECT_H

#include <stdbool.h>

#include "db/db.h"
#include "runner/config.h"

/*
 * Fill `p` from `cfg`. `*host` receives the malloc'd host name `p->host` points to (the caller
 * frees it after the connection is opened); the other strings are borrowed from `cfg`.
 * DJ_EUSAGE when database.user is not set; DJ_EFORMAT for a bad "host:port".
 */
int dj_db_params_from_config(dj_db_params *p, char **host, const dj_config *cfg, dj_err *err);

/*
 * Open a connection from `cfg`. `*attempted` (may be NULL) tells whether the server was tried:
 * false means the configuration itself is unusable (exit code 2), true that the server could not
 * be reached or refused the credentials (exit code 3). Errors as dj_db_open.
 */
int dj_db_open_config(dj_db **out, const dj_config *cfg, bool *attempted, dj_err *err);

#endif
