#include "jobs/reservations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dj_jobs_holders(dj_db *db, const dj_jobtable *jt, dj_job_holder **out, size_t *n,
                    dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_rows *r = NULL;
	dj_job_holder *list = NULL;
	size_t len = 0, cap = 0;
	bool exists = false;
	int rc;
	*out = NULL;
	*n = 0;
	if ((rc = dj_jobtable_exists(db, jt, &exists, err)) < 0 || !exists)
		return rc;
	if ((rc = dj_buf_adds(&sql, "SELECT host, pid, MIN(connection_id), COUNT(*), "
	                            "MIN(reserved_time) FROM ")) == 0 &&
	    (rc = dj_db_quote_ident(jt->backend, &sql, jt->schema, err)) == 0 &&
	    (rc = dj_buf_addc(&sql, '.')) == 0 &&
	    (rc = dj_db_quote_ident(jt->backend, &sql, jt->name, err)) == 0 &&
	    (rc = dj_buf_adds(&sql, " WHERE status = 'reserved' GROUP BY host, pid "
	                            "ORDER BY COUNT(*) DESC, host, pid")) == 0)
		rc = dj_db_query(db, sql.ptr, NULL, 0, &r, err);
	while (rc == 0 && (rc = dj_db_rows_next(r, err)) == 1) {
		if (len == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			dj_job_holder *p = realloc(list, ncap * sizeof(*p));
			if (!p) {
				rc = DJ_ENOMEM;
				break;
			}
			list = p;
			cap = ncap;
		}
		dj_job_holder *h = &list[len++];
		const char *host = dj_db_rows_text(r, 0), *since = dj_db_rows_text(r, 4);
		memset(h, 0, sizeof(*h));
		snprintf(h->host, sizeof(h->host), "%s", host ? host : "");
		h->pid = dj_db_rows_text(r, 1) ? strtoll(dj_db_rows_text(r, 1), NULL, 10) : 0;
		h->connection_id = dj_db_rows_text(r, 2) ? strtoll(dj_db_rows_text(r, 2), NULL, 10) : 0;
		h->keys = strtoll(dj_db_rows_text(r, 3), NULL, 10);
		snprintf(h->since, sizeof(h->since), "%s", since ? since : "");
		rc = 0;
	}
	dj_db_rows_free(r);
	dj_buf_dispose(&sql);
	if (rc < 0) {
		free(list);
		return rc == DJ_ENOMEM ? dj_err_set(err, rc, "%s: out of memory", jt->name) : rc;
	}
	*out = list;
	*n = len;
	return 0;
}
