/*
 * populate's commit (jobs/populate.h): a batch of make results into the database.
 *
 * The fast path does a batch in a few statements: one query finds which keys are still
 * pending (in key_source, so their parents exist, and not yet in the table), one multi-row
 * INSERT per table and column set (master first, then its parts), one DELETE of the jobs, one
 * COMMIT. A key whose outputs cannot become a row (an unknown attribute, a bad npy reference)
 * fails alone before anything is written. When a statement of the batch fails (a value the
 * column refuses, a duplicate from a concurrent writer, a store error), the whole transaction
 * is rolled back and the batch is done again key by key, each key under its own savepoint, so
 * that only the culprit fails (DESIGN.md "Core interfaces": one bad key never spoils a batch).
 */
#include "jobs/populate_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "jobs/make.h"

/* One DONE result on its way into the database. */
typedef struct keyrow {
	dj_job_result *r;
	size_t idx;   /* row of p->keys */
	json_t *doc;  /* {"row": ..., "parts": ...} */
	json_t *kobj; /* the key as the make saw it */
	const unsigned char *data;
	size_t dlen;
	bool stored_ok; /* a worker wrote the store-backed outputs (dj_populate_store_outputs) */
	bool pending;
} keyrow;

/* The cells of one row of one table, columns in the order built. */
typedef struct rowcells {
	const dj_table *t;
	const char **cols;
	dj_cell *cells;
	size_t n, cap;
} rowcells;

/* A multi-row INSERT for one table and one column list. */
typedef struct group {
	const dj_table *t;
	char *sig; /* the column names joined by ',' */
	dj_insert *ins;
} group;

typedef struct groups {
	group *g;
	size_t n, cap;
} groups;

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static void rowcells_dispose(rowcells *rc)
{
	for (size_t i = 0; i < rc->n; i++)
		dj_cell_dispose(&rc->cells[i]);
	free(rc->cells);
	free(rc->cols);
	memset(rc, 0, sizeof(*rc));
}

static dj_cell *rowcells_add(rowcells *rc, const char *name)
{
	if (rc->n == rc->cap) {
		size_t cap = rc->cap ? 2 * rc->cap : 16;
		dj_cell *c = realloc(rc->cells, cap * sizeof(*c));
		if (!c)
			return NULL;
		rc->cells = c;
		const char **n = realloc(rc->cols, cap * sizeof(*n));
		if (!n)
			return NULL;
		rc->cols = n;
		rc->cap = cap;
	}
	dj_cell_init(&rc->cells[rc->n]);
	rc->cols[rc->n] = name;
	return &rc->cells[rc->n++];
}

/*
 * The cells of one row of `t`: the key's values for the key columns `t` has (the key wins over
 * the make's values), then the make's attributes from `obj`.
 */
static int row_cells(const dj_populate *p, const keyrow *k, const dj_table *t, json_t *obj,
                     const char *key, rowcells *out, dj_err *err)
{
	int rc = 0;
	out->t = t;
	for (size_t c = 0; rc == 0 && c < p->keys.ncols; c++) {
		const dj_attr *a = dj_table_attr(t, p->keys.cols[c]);
		if (!a)
			continue;
		dj_cell *cell = rowcells_add(out, a->name);
		if (!cell)
			return nomem(err);
		rc = dj_populate_key_value(&p->keys, k->idx, c, a, &cell->value, err);
		cell->kind = rc == 0 && cell->value->kind != DJ_V_NONE ? DJ_CELL_VALUE : DJ_CELL_NULL;
	}
	const char *name;
	json_t *v;
	json_object_foreach(obj, name, v)
	{
		if (rc < 0)
			break;
		const dj_attr *a = dj_table_attr(t, name);
		if (dj_keys_col(&p->keys, name) >= 0 && a)
			continue; /* the key's own value wins */
		if (!a || a->hidden)
			return dj_err_set(err, DJ_EUSAGE,
			                  "OutputError: %s %s: '%s' is not an attribute of the table",
			                  t->name, key, name);
		dj_cell *cell = rowcells_add(out, a->name);
		if (!cell)
			return nomem(err);
		rc = dj_populate_json_cell(t, a, v, k->data, k->dlen, key, k->stored_ok, cell,
		                           err);
	}
	return rc;
}

/* The part table a make names in "parts": the master's part by class or SQL name. */
static const dj_table *part_table(const dj_populate *p, const char *name)
{
	const char *dot = strrchr(name, '.');
	const char *own = dot ? dot + 1 : name;
	char cls[512];
	snprintf(cls, sizeof(cls), "%s.%s", p->t->class_name, own);
	const dj_table *t = dj_schema_table(&p->s, cls);
	if (!t)
		t = dj_schema_table(&p->s, name);
	return t && t->master == p->t ? t : NULL;
}

/* Every row of a key: [0] the master's, then its parts' (`*n` rows). */
static int key_rows(const dj_populate *p, const keyrow *k, const char *key, rowcells **out,
                    size_t *n, dj_err *err)
{
	json_t *row = json_object_get(k->doc, "row");
	json_t *parts = json_object_get(k->doc, "parts");
	size_t cap = 1;
	const char *pname;
	json_t *plist;
	*out = NULL;
	*n = 0;
	if (!json_is_object(row))
		return dj_err_set(err, DJ_EFORMAT, "OutputError: %s %s: no row", p->t->name, key);
	if (parts && !json_is_object(parts))
		return dj_err_set(err, DJ_EFORMAT, "OutputError: %s %s: \"parts\" is not an object",
		                  p->t->name, key);
	json_object_foreach(parts, pname, plist)
	{
		if (!json_is_array(plist))
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: %s %s: part '%s' is not a list of rows",
			                  p->t->name, key, pname);
		cap += json_array_size(plist);
	}
	rowcells *rows = calloc(cap, sizeof(*rows));
	if (!rows)
		return nomem(err);
	*out = rows;
	int rc = row_cells(p, k, p->t, row, key, &rows[(*n)++], err);
	json_object_foreach(parts, pname, plist)
	{
		if (rc < 0)
			break;
		const dj_table *pt = part_table(p, pname);
		if (!pt) {
			rc = dj_err_set(err, DJ_EUSAGE, "OutputError: %s %s: '%s' is not a part of %s",
			                p->t->name, key, pname, p->t->class_name);
			break;
		}
		size_t i;
		json_t *prow;
		json_array_foreach(plist, i, prow)
		{
			if (!json_is_object(prow)) {
				rc = dj_err_set(err, DJ_EFORMAT,
				                "OutputError: %s %s: row %zu of part '%s' is not an "
				                "object",
				                p->t->name, key, i + 1, pname);
				break;
			}
			if ((rc = row_cells(p, k, pt, prow, key, &rows[(*n)++], err)) < 0)
				break;
		}
	}
	return rc;
}

static void rows_free(rowcells *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		rowcells_dispose(&rows[i]);
	free(rows);
}

/* ---- multi-row inserts ---- */

static void groups_dispose(groups *gs)
{
	for (size_t i = 0; i < gs->n; i++) {
		dj_insert_free(gs->g[i].ins);
		free(gs->g[i].sig);
	}
	free(gs->g);
	memset(gs, 0, sizeof(*gs));
}

/* Encode a row into the INSERT of its table and column list (objects are written now). */
static int groups_add(groups *gs, dj_populate *p, const rowcells *r, dj_err *err)
{
	dj_buf sig = DJ_BUF_INIT;
	for (size_t i = 0; i < r->n; i++)
		if (dj_buf_adds(&sig, r->cols[i]) < 0 || dj_buf_addc(&sig, ',') < 0 ||
		    (i + 1 == r->n && dj_buf_addc(&sig, 0) < 0)) {
			dj_buf_dispose(&sig);
			return nomem(err);
		}
	const char *s = sig.ptr ? sig.ptr : "";
	group *g = NULL;
	for (size_t i = 0; i < gs->n && !g; i++)
		if (gs->g[i].t == r->t && !strcmp(gs->g[i].sig, s))
			g = &gs->g[i];
	int rc = 0;
	if (!g) {
		if (gs->n == gs->cap) {
			size_t cap = gs->cap ? 2 * gs->cap : 4;
			group *ng = realloc(gs->g, cap * sizeof(*ng));
			if (!ng) {
				dj_buf_dispose(&sig);
				return nomem(err);
			}
			gs->g = ng;
			gs->cap = cap;
		}
		g = &gs->g[gs->n];
		memset(g, 0, sizeof(*g));
		g->t = r->t;
		if (!(g->sig = strdup(s))) {
			dj_buf_dispose(&sig);
			return nomem(err);
		}
		gs->n++;
		rc = dj_insert_new(&g->ins, &p->rc, dj_db_backend_id(p->db), r->t, r->cols, r->n,
		                   err);
	}
	dj_buf_dispose(&sig);
	return rc < 0 ? rc : dj_insert_add(g->ins, r->cells, err);
}

/* Run the INSERTs: the master's first (its parts refer to it). */
static int groups_exec(groups *gs, dj_populate *p, dj_err *err)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < gs->n; i++) {
			group *g = &gs->g[i];
			if ((g->t == p->t) != (pass == 0) || !dj_insert_pending(g->ins))
				continue;
			int rc = dj_insert_exec(g->ins, p->db, err);
			if (rc < 0)
				return rc;
		}
	return 0;
}

/* ---- the database side of one batch ---- */

static int quote_table(dj_buf *out, const dj_populate *p, const dj_table *t, dj_err *err)
{
	dj_db_backend b = dj_db_backend_id(p->db);
	if (dj_db_quote_ident(b, out, t->schema, err) < 0 || dj_buf_addc(out, '.') < 0 ||
	    dj_db_quote_ident(b, out, t->name, err) < 0)
		return err->code ? err->code : nomem(err);
	return 0;
}

/*
 * Which of `rows` are still pending: in key_source (restricted as planned) and not in the
 * table. One query: SELECT key FROM (pending key_source) WHERE (key) IN ((...), ...).
 */
static int mark_pending(dj_populate *p, keyrow *rows, size_t n, dj_err *err)
{
	size_t nk = p->keys.ncols, per = 500;
	dj_db_backend b = dj_db_backend_id(p->db);
	int rc = 0;
	for (size_t from = 0; rc == 0 && from < n; from += per) {
		size_t to = from + per < n ? from + per : n;
		dj_buf sql = DJ_BUF_INIT;
		dj_keys still;
		dj_db_param *par = calloc((to - from) * nk + 1, sizeof(*par));
		size_t np = 0;
		dj_keys_init(&still);
		rc = par && dj_buf_adds(&sql, "SELECT * FROM (") == 0 ? 0 : nomem(err);
		if (rc == 0)
			rc = dj_keysource_select(&sql, &p->ks, (const char *const *)p->keys.cols, nk,
			                         true, p->where, true, err);
		if (rc == 0 && dj_buf_addf(&sql, ") AS %s WHERE (", b == DJ_DB_MYSQL ? "`$pk`"
		                                                                    : "\"$pk\"") < 0)
			rc = nomem(err);
		for (size_t c = 0; rc == 0 && c < nk; c++)
			if ((c && dj_buf_addc(&sql, ',') < 0) ||
			    dj_db_quote_ident(b, &sql, p->keys.cols[c], err) < 0)
				rc = err->code ? err->code : nomem(err);
		if (rc == 0 && dj_buf_adds(&sql, ") IN (") < 0)
			rc = nomem(err);
		for (size_t i = from; rc == 0 && i < to; i++) {
			if (dj_buf_adds(&sql, i > from ? ",(" : "(") < 0)
				rc = nomem(err);
			for (size_t c = 0; rc == 0 && c < nk; c++) {
				par[np++] = dj_keys_param(&p->keys, rows[i].idx, c);
				if (dj_buf_adds(&sql, c ? ",?" : "?") < 0)
					rc = nomem(err);
			}
			if (rc == 0 && dj_buf_addc(&sql, ')') < 0)
				rc = nomem(err);
		}
		if (rc == 0 && (dj_buf_addc(&sql, ')') < 0 || dj_buf_addc(&sql, 0) < 0))
			rc = nomem(err);
		if (rc == 0)
			rc = dj_keys_query(&still, p->db, sql.ptr, par, np, err);
		for (size_t s = 0; rc == 0 && s < still.n; s++)
			for (size_t i = from; i < to; i++)
				if (!rows[i].pending && dj_keys_equal(&still, s, &p->keys, rows[i].idx)) {
					rows[i].pending = true;
					break;
				}
		free(par);
		dj_keys_dispose(&still);
		dj_buf_dispose(&sql);
	}
	return rc;
}

/* Fill the hidden _job_* columns of the master row of key `idx` when the table has them. */
static int job_metadata(dj_populate *p, size_t idx, double work_s, dj_err *err)
{
	if (!dj_table_attr(p->t, "_job_start_time"))
		return 0;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	double start = (double)tv.tv_sec + tv.tv_usec / 1e6 - work_s;
	time_t sec = (time_t)start;
	struct tm tm;
	char ts[64];
	localtime_r(&sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%06ld", (long)((start - (double)sec) * 1e6));
	dj_db_backend b = dj_db_backend_id(p->db);
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param *par = calloc(p->keys.ncols + 3, sizeof(*par));
	size_t np = 3;
	int rc = par ? 0 : nomem(err);
	if (rc == 0 && (dj_buf_adds(&sql, "UPDATE ") < 0 || quote_table(&sql, p, p->t, err) < 0 ||
	                dj_buf_adds(&sql, " SET _job_start_time=?, _job_duration=?, "
	                                  "_job_version=?") < 0))
		rc = err->code ? err->code : nomem(err);
	for (size_t c = 0; rc == 0 && c < p->keys.ncols; c++) {
		if (!dj_table_attr(p->t, p->keys.cols[c]))
			continue;
		if (dj_buf_adds(&sql, np > 3 ? " AND " : " WHERE ") < 0 ||
		    dj_db_quote_ident(b, &sql, p->keys.cols[c], err) < 0 ||
		    dj_buf_adds(&sql, "=?") < 0)
			rc = err->code ? err->code : nomem(err);
		par[np++] = dj_keys_param(&p->keys, idx, c);
	}
	if (rc == 0 && dj_buf_addc(&sql, 0) < 0)
		rc = nomem(err);
	if (rc == 0) {
		par[0] = dj_db_text(ts);
		par[1] = dj_db_double(work_s);
		par[2] = dj_db_text("");
		rc = dj_db_exec(p->db, sql.ptr, par, np, err);
	}
	free(par);
	dj_buf_dispose(&sql);
	return rc;
}

/* Text with every byte outside printable ASCII (but \n, \t) replaced by '?', NUL-terminated. */
static char *ascii_copy(const void *ptr, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = ((const unsigned char *)ptr)[i];
		s[i] = (ch >= 0x20 && ch < 0x7f) || ch == '\n' || ch == '\t' ? (char)ch : '?';
	}
	s[n] = 0;
	return s;
}

/* The jobs-table error() of one key: message "<Kind>: <message>", stack = stderr tail. */
static int job_error(dj_populate *p, size_t idx, const char *msg, const dj_bytes *stack,
                     dj_err *err)
{
	char *m = ascii_copy(msg, strlen(msg));
	char *s = ascii_copy(stack->ptr, stack->len);
	int rc = m && s ? dj_jobs_error(p->db, &p->jt, &p->keys, idx, m, s, err) : nomem(err);
	free(m);
	free(s);
	return rc;
}

/* A key whose rows could not be made or inserted fails with "<Kind>: ..." (no row). */
static void fail_key(keyrow *k, const dj_err *e)
{
	int code = e->code ? e->code : DJ_ERROR;
	dj_err_clear(&k->r->err);
	if (!strstr(e->msg, "Error: "))
		dj_err_set(&k->r->err, code, "DataJointError: %s", e->msg);
	else
		k->r->err = *e;
	k->r->outcome = DJ_JOB_FAILED;
	k->r->data.len = 0; /* the make's result, not a stack */
}

/*
 * Insert the rows of the pending keys. per_key: each key under its own savepoint, and a failure
 * fails that key only. Else one INSERT per table and column list for all the keys; a failure
 * there returns 1: the caller rolls the transaction back and comes back key by key. A key
 * whose outputs cannot become rows fails alone either way (nothing of it was written).
 */
static int insert_rows(dj_populate *p, keyrow *rows, size_t n, bool per_key, dj_err *err)
{
	groups gs = {0};
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		keyrow *k = &rows[i];
		if (!k->pending || k->r->outcome != DJ_JOB_DONE)
			continue;
		dj_buf keytext = DJ_BUF_INIT;
		rowcells *kr = NULL;
		size_t nkr = 0;
		dj_err e = DJ_ERR_INIT;
		int r = dj_keys_text(&keytext, &p->keys, k->idx) == 0 && dj_buf_addc(&keytext, 0) == 0
		            ? key_rows(p, k, keytext.ptr, &kr, &nkr, &e)
		            : nomem(&e);
		if (r < 0) {
			fail_key(k, &e);
		} else if (per_key && (rc = dj_db_savepoint(p->db, "djrun_key", err)) == 0) {
			for (size_t j = 0; r == 0 && j < nkr; j++)
				r = groups_add(&gs, p, &kr[j], &e);
			if (r == 0 && (r = groups_exec(&gs, p, &e)) == 0)
				r = job_metadata(p, k->idx, k->r->work_s, &e);
			if (r < 0 && (rc = dj_db_rollback_to(p->db, "djrun_key", err)) == 0)
				fail_key(k, &e);
			if (rc == 0)
				rc = dj_db_release(p->db, "djrun_key", err);
			groups_dispose(&gs);
		} else if (!per_key) {
			for (size_t j = 0; r == 0 && j < nkr; j++)
				r = groups_add(&gs, p, &kr[j], &e);
			if (r < 0)
				rc = 1;
		}
		rows_free(kr, nkr);
		dj_buf_dispose(&keytext);
	}
	if (rc == 0 && !per_key) {
		dj_err e = DJ_ERR_INIT;
		if (groups_exec(&gs, p, &e) < 0)
			rc = 1;
		for (size_t i = 0; rc == 0 && i < n; i++)
			if (rows[i].pending && rows[i].r->outcome == DJ_JOB_DONE &&
			    job_metadata(p, rows[i].idx, rows[i].r->work_s, &e) < 0)
				rc = 1;
	}
	groups_dispose(&gs);
	return rc;
}

/* The jobs table: done and skipped keys complete (one statement), failures recorded. */
static int settle_jobs(dj_populate *p, keyrow *rows, size_t n, dj_err *err)
{
	dj_keys fin;
	dj_keys_init(&fin);
	int rc = dj_keys_set_cols(&fin, (const char *const *)p->keys.cols, p->keys.types,
	                          p->keys.ncols, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (rows[i].r->outcome != DJ_JOB_FAILED)
			rc = dj_keys_add_from(&fin, &p->keys, rows[i].idx, err);
	if (rc == 0 && fin.n)
		rc = dj_jobs_complete_many(p->db, &p->jt, &fin, false, NULL, err);
	dj_keys_dispose(&fin);
	return rc;
}

/*
 * Makes interrupted by SIGTERM/SIGINT (the launcher shutting the job down around them,
 * DJ_ESTOP) are not the key's fault: their jobs go back to pending, outcome released.
 */
static int release_interrupted(dj_populate *p, dj_job_result *res, size_t n, const size_t *idx,
                               dj_err *err)
{
	dj_keys back;
	dj_keys_init(&back);
	int rc = dj_keys_set_cols(&back, (const char *const *)p->keys.cols, p->keys.types,
	                          p->keys.ncols, err);
	/* RELEASED too: a batch retried key by key releases them again (the first try's
	 * release was rolled back with it) */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (res[i].err.code == DJ_ESTOP &&
		    (res[i].outcome == DJ_JOB_FAILED || res[i].outcome == DJ_JOB_RELEASED)) {
			res[i].outcome = DJ_JOB_RELEASED;
			rc = dj_keys_add_from(&back, &p->keys, idx[i], err);
		}
	if (rc == 0 && back.n)
		rc = dj_jobs_release_many(p->db, &p->jt, &back, &p->w, NULL, err);
	dj_keys_dispose(&back);
	return rc;
}

int dj_populate_commit(dj_populate *p, dj_job_result *res, size_t n, dj_err *err)
{
	keyrow *rows = calloc(n ? n : 1, sizeof(*rows));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t nrows = 0;
	int rc = rows && idx ? 0 : nomem(err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *kjson;
		size_t jlen;
		if ((rc = dj_populate_item_parse(&res[i].item, &idx[i], &kjson, &jlen, err)) < 0)
			break;
		if (idx[i] >= p->keys.n) {
			rc = dj_err_set(err, DJ_EFORMAT, "populate: work item %zu out of range",
			                idx[i]);
			break;
		}
		if (res[i].outcome != DJ_JOB_DONE)
			continue;
		keyrow *k = &rows[nrows++];
		const char *json;
		size_t dl;
		json_error_t je;
		dj_err e = DJ_ERR_INIT;
		k->r = &res[i];
		k->idx = idx[i];
		if (dj_make_result_split(res[i].data.ptr, res[i].data.len, &json, &dl, &k->data,
		                         &k->dlen, &e) < 0 ||
		    !(k->doc = json_loadb(json, dl, 0, &je)) ||
		    !(k->kobj = json_loadb(kjson, jlen, 0, &je))) {
			if (!e.code)
				dj_err_set(&e, DJ_EFORMAT, "OutputError: %s: unreadable make result",
				           p->t->name);
			fail_key(k, &e);
		}
		k->stored_ok = p->heading.len && k->doc &&
		               json_is_true(json_object_get(k->doc, "worker_stored"));
	}
	for (size_t i = 0; rc == 0 && !p->reserve && i < n; i++)
		if (res[i].outcome == DJ_JOB_FAILED && res[i].err.code == DJ_ESTOP)
			res[i].outcome = DJ_JOB_RELEASED;
	for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
		bool per_key = attempt == 1;
		for (size_t i = 0; i < nrows; i++)
			rows[i].pending = false;
		if ((rc = dj_db_begin(p->db, err)) < 0)
			break;
		if ((rc = mark_pending(p, rows, nrows, err)) == 0)
			rc = insert_rows(p, rows, nrows, per_key, err);
		for (size_t i = 0; rc == 0 && i < nrows; i++)
			if (!rows[i].pending && rows[i].r->outcome == DJ_JOB_DONE)
				rows[i].r->outcome = DJ_JOB_SKIPPED;
		if (rc == 0 && p->reserve)
			rc = settle_jobs(p, rows, nrows, err);
		if (rc == 0 && p->reserve)
			rc = release_interrupted(p, res, n, idx, err);
		for (size_t i = 0; rc == 0 && p->reserve && i < n; i++) {
			if (res[i].outcome != DJ_JOB_FAILED)
				continue;
			dj_bytes stack = res[i].data; /* work failed: the make's stderr tail */
			rc = job_error(p, idx[i], res[i].err.msg, &stack, err);
		}
		if (rc == 0) /* the objects the rows name are durable before the rows are */
			rc = dj_row_ctx_flush(&p->rc, err);
		if (rc == 0) {
			rc = dj_db_commit(p->db, err);
			break;
		}
		dj_err e2 = DJ_ERR_INIT;
		dj_db_rollback(p->db, &e2);
		if (rc != 1)
			break;
		rc = 0; /* the batch failed as a whole: once more, key by key */
		for (size_t i = 0; i < nrows; i++)
			if (rows[i].r->outcome == DJ_JOB_SKIPPED)
				rows[i].r->outcome = DJ_JOB_DONE;
	}
	for (size_t i = 0; rows && i < nrows; i++) {
		json_decref(rows[i].doc);
		json_decref(rows[i].kobj);
	}
	free(rows);
	free(idx);
	return rc;
}
