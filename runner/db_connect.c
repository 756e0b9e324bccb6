#include "runner/db_connect.h"

#include <stdlib.h>

int dj_db_params_from_config(dj_db_params *p, char **host, const dj_config *cfg, dj_err *err)
{
	const dj_db_config *d = &cfg->database;
	int port = 0, rc;
	*host = NULL;
	if (!d->user || !*d->user)
		return dj_err_set(err, DJ_EUSAGE,
		                  "database.user is not set (DJ_USER, datajoint.json "
		                  "or the secrets directory)");
	if ((rc = dj_config_db_address(cfg, host, &port, err)) < 0)
		return rc;
	p->backend = d->backend == DJ_BACKEND_POSTGRESQL ? "postgresql" : "mysql";
	p->host = *host;
	p->port = port;
	p->user = d->user;
	p->password = d->password;
	p->dbname = d->name;
	p->use_tls = d->use_tls == DJ_TLS_ON    ? DJ_DB_TLS_ON
	             : d->use_tls == DJ_TLS_OFF ? DJ_DB_TLS_OFF
	                                        : DJ_DB_TLS_AUTO;
	p->connect_timeout = 0;
	p->no_reconnect = !d->reconnect;
	return 0;
}

int dj_db_open_config(dj_db **out, const dj_config *cfg, bool *attempted, dj_err *err)
{
	dj_db_params p = {0};
	char *host = NULL;
	int rc;
	*out = NULL;
	if (attempted)
		*attempted = false;
	if ((rc = dj_db_params_from_config(&p, &host, cfg, err)) == 0 &&
	    (rc = dj_db_new(out, &p, err)) == 0) {
		if (attempted)
			*attempted = true;
		if ((rc = dj_db_connect(*out, err)) < 0) {
			dj_db_close(*out);
			*out = NULL;
		}
	}
	free(host);
	return rc;
}
