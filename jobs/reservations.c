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

int dj_jobs_unqueued(dj_db *db, const dj_jobtable *jt, const dj_keysource *ks, int64_t *n,
                     dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, v = DJ_BUF_INIT, cols = DJ_BUF_INIT;
	bool exists = false, isnull = false;
	int rc;
	*n = 0;
	if ((rc = dj_jobtable_exists(db, jt, &exists, err)) < 0)
		return rc;
	if (!exists) {
		int64_t total;
		return dj_keysource_progress(db, ks, NULL, n, &total, err);
	}
	/* a, b: the jobs table's key, quoted for the backend */
	for (size_t i = 0; rc == 0 && i < jt->npk; i++)
		if ((rc = i ? dj_buf_addc(&cols, ',') : 0) == 0)
			rc = dj_db_quote_ident(jt->backend, &cols, jt->pk[i], err);
	if (rc == 0)
		rc = dj_buf_adds(&sql, "SELECT COUNT(*) FROM (");
	if (rc == 0)
		rc = dj_keysource_select(&sql, ks, (const char *const *)jt->pk, jt->npk, true, NULL,
		                         true, err);
	if (rc == 0)
		rc = dj_buf_addf(&sql, ") AS remaining_keys WHERE (%s) NOT IN (SELECT %s FROM ",
		                 cols.ptr, cols.ptr);
	if (rc == 0 && (rc = dj_db_quote_ident(jt->backend, &sql, jt->schema, err)) == 0 &&
	    (rc = dj_buf_addc(&sql, '.')) == 0 &&
	    (rc = dj_db_quote_ident(jt->backend, &sql, jt->name, err)) == 0 &&
	    (rc = dj_buf_addc(&sql, ')')) == 0)
		rc = dj_db_query_value(db, sql.ptr, NULL, 0, &v, &isnull, err);
	if (rc == 0 && !isnull)
		*n = strtoll(v.ptr, NULL, 10);
	dj_buf_dispose(&sql);
	dj_buf_dispose(&v);
	dj_buf_dispose(&cols);
	return rc == DJ_ENOMEM ? dj_err_set(err, rc, "%s: out of memory", jt->name) : rc;
}
