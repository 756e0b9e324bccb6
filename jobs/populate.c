/* populate as a dj_job (jobs/populate.h, database.md §5). */
#include "jobs/populate.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "jobs/make.h"

/* ---- helpers ---- */

/* `s`.`t` or "s"."t" appended. */
static int quote_table(dj_buf *out, const dj_populate *p, dj_err *err)
{
	dj_db_backend b = dj_db_backend_id(p->db);
	if (dj_db_quote_ident(b, out, p->t->schema, err) < 0 || dj_buf_addc(out, '.') < 0 ||
	    dj_db_quote_ident(b, out, p->t->name, err) < 0)
		return err->code ? err->code : dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

/* ` WHERE a=? AND b=?` over the key columns the target has; params filled (room: ncols). */
static int key_where(dj_buf *out, const dj_populate *p, size_t row, dj_db_param *par, size_t *np,
                     dj_err *err)
{
	dj_db_backend b = dj_db_backend_id(p->db);
	*np = 0;
	for (size_t c = 0; c < p->keys.ncols; c++) {
		if (!dj_table_attr(p->t, p->keys.cols[c]))
			continue;
		if (dj_buf_adds(out, *np ? " AND " : " WHERE ") < 0 ||
		    dj_db_quote_ident(b, out, p->keys.cols[c], err) < 0 ||
		    dj_buf_adds(out, "=?") < 0)
			return err->code ? err->code : dj_err_set(err, DJ_ENOMEM, "out of memory");
		par[(*np)++] = dj_keys_param(&p->keys, row, c);
	}
	return 0;
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

/* Key `row` of p->keys as a JSON object (numbers for numeric columns). */
static char *key_json(const dj_keys *k, size_t row)
{
	json_t *o = json_object();
	for (size_t c = 0; o && c < k->ncols; c++) {
		const char *v = k->vals[row * k->ncols + c];
		size_t len = k->lens[row * k->ncols + c];
		json_t *j;
		dj_db_type ty = k->types ? k->types[c] : DJ_DB_T_TEXT;
		if (!v)
			j = json_null();
		else if (ty == DJ_DB_T_INT)
			j = json_integer((json_int_t)strtoll(v, NULL, 10));
		else if (ty == DJ_DB_T_FLOAT)
			j = json_real(strtod(v, NULL));
		else
			j = json_stringn_nocheck(v, len);
		if (!j || json_object_set_new(o, k->cols[c], j) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

/* Item "<index>\n<key JSON>" -> index and the JSON's start. */
static int item_parse(const dj_bytes *item, size_t *idx, const char **json, size_t *jlen,
                      dj_err *err)
{
	const char *s = (const char *)item->ptr;
	const char *nl = memchr(s, '\n', item->len);
	*idx = 0, *json = NULL, *jlen = 0; /* defined on failure too */
	if (!nl || nl == s)
		return dj_err_set(err, DJ_EFORMAT, "populate: malformed work item");
	*idx = (size_t)strtoull(s, NULL, 10);
	*json = nl + 1;
	*jlen = item->len - (size_t)(nl + 1 - s);
	return 0;
}

/* ---- start ---- */

static int pop_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_populate *p = ctx;
	int rc;
	if (info->worker && (rc = dj_maker_open(&p->maker, &p->make, err)) < 0)
		return rc;
	if (!info->coordinator)
		return 0;
	if ((rc = p->connect(p->connect_arg, &p->db, err)) < 0)
		return rc;
	if ((rc = dj_schema_load(p->db, p->schema_name, p->default_store, &p->s, err)) < 0)
		return rc;
	p->have_schema = true;
	if (!(p->t = dj_schema_table(&p->s, p->table_name)))
		return dj_err_set(err, DJ_ENOTFOUND, "table '%s' not found in schema %s",
		                  p->table_name, p->schema_name);
	if (p->t->tier != DJ_TIER_COMPUTED && p->t->tier != DJ_TIER_IMPORTED)
		return dj_err_set(err, DJ_EUSAGE, "%s.%s is %s, not Imported or Computed",
		                  p->t->schema, p->t->name, dj_tier_name(p->t->tier));
	p->have_ks = true;
	if ((rc = dj_keysource_init(&p->ks, &p->s, p->t, err)) < 0)
		return rc;
	if (p->reserve) {
		p->have_jt = true;
		if ((rc = dj_jobtable_init(&p->jt, &p->s, p->t, err)) < 0 ||
		    (rc = dj_job_worker_init(&p->w, p->db, NULL, err)) < 0)
			return rc;
	}
	return dj_row_ctx_init(&p->rc, p->specs, p->nspecs, p->default_store, err);
}

/* ---- plan ---- */

static int load_keys(dj_populate *p, dj_err *err)
{
	int rc;
	dj_keys_init(&p->keys);
	p->planned_keys = true;
	if (p->reserve) {
		dj_refresh_opts o = DJ_REFRESH_OPTS_INIT;
		dj_refresh_result r;
		o.restriction = p->where;
		o.delay = -1;
		if ((rc = dj_jobs_refresh(p->db, &p->jt, &p->ks, &o, &r, err)) < 0)
			return rc;
		return dj_jobs_pending(p->db, &p->jt, &p->ks, p->where, -1, p->max_calls, &p->keys,
		                       err);
	}
	dj_buf sql = {0};
	if ((rc = dj_keysource_pending_sql(&sql, &p->ks, p->where, err)) == 0 && p->max_calls >= 0)
		rc = dj_buf_addf(&sql, " LIMIT %" PRId64, p->max_calls);
	if (rc == 0)
		rc = dj_keys_query(&p->keys, p->db, (const char *)sql.ptr, NULL, 0, err);
	dj_buf_dispose(&sql);
	return rc;
}

static int push_key(dj_populate *p, dj_job_sink *sink, size_t row, dj_err *err)
{
	char *kj = key_json(&p->keys, row);
	dj_buf item = {0};
	int rc = kj ? dj_buf_addf(&item, "%zu\n%s", row, kj) : -1;
	if (rc < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	else
		rc = dj_job_push(sink, item.ptr, item.len, err);
	free(kj);
	dj_buf_dispose(&item);
	return rc;
}

static int pop_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_populate *p = ctx;
	int rc;
	if (!p->planned_keys && (rc = load_keys(p, err)) < 0)
		return rc;
	if (want == 0)
		want = 1;
	while (p->next < p->keys.n) {
		size_t end = p->next + want < p->keys.n ? p->next + want : p->keys.n;
		size_t pushed = 0;
		if (!p->reserve) {
			for (; p->next < end; p->next++)
				if ((rc = push_key(p, sink, p->next, err)) < 0)
					return rc;
			return 0;
		}
		dj_keys sub;
		dj_keys_init(&sub);
		bool *got = calloc(end - p->next, sizeof(bool));
		size_t n = 0;
		rc = got ? dj_keys_set_cols(&sub, (const char *const *)p->keys.cols, p->keys.types,
		                            p->keys.ncols, err)
		         : dj_err_set(err, DJ_ENOMEM, "out of memory");
		for (size_t i = p->next; rc == 0 && i < end; i++)
			rc = dj_keys_add_from(&sub, &p->keys, i, err);
		if (rc == 0)
			rc = dj_jobs_reserve_many(p->db, &p->jt, &sub, &p->w, got, &n, err);
		size_t i = p->next;
		for (; rc == 0 && i < end; i++)
			if (got[i - p->next] && (rc = push_key(p, sink, i, err)) == 0)
				pushed++;
		if (rc < 0 && got) { /* reserved here but not planned (stopping): give them back */
			dj_keys left;
			dj_err e2 = DJ_ERR_INIT;
			dj_keys_init(&left);
			int r2 = dj_keys_set_cols(&left, (const char *const *)p->keys.cols,
			                          p->keys.types, p->keys.ncols, &e2);
			for (size_t j = i > p->next ? i - 1 : i; r2 == 0 && j < end; j++)
				if (got[j - p->next])
					r2 = dj_keys_add_from(&left, &p->keys, j, &e2);
			if (r2 == 0 && left.n)
				dj_jobs_release_many(p->db, &p->jt, &left, &p->w, NULL, &e2);
			dj_keys_dispose(&left);
		}
		/* keys not reserved (taken by another worker) are simply not planned */
		p->next = end;
		free(got);
		dj_keys_dispose(&sub);
		if (rc < 0)
			return rc;
		if (pushed)
			return 0;
	}
	return 0;
}

/* ---- work ---- */

static int pop_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	dj_populate *p = ctx;
	size_t idx, jlen;
	const char *json;
	int rc = item_parse(item, &idx, &json, &jlen, err);
	if (rc < 0)
		return rc;
	char *kj = strndup(json, jlen);
	dj_buf tail = {0};
	if (!kj)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	rc = dj_maker_run(p->maker, kj, NULL, 0, result, &tail, err);
	if (rc < 0) {
		dj_buf_setlen(result, 0);
		dj_buf_add(result, tail.ptr, tail.len);
	}
	free(kj);
	dj_buf_dispose(&tail);
	return rc;
}

/* ---- commit ---- */

/* One JSON value of row.json (or the key) -> a cell for attribute `a`. */
static int json_cell(const dj_populate *p, const dj_attr *a, json_t *v, const unsigned char *data,
                     size_t dlen, const char *key, dj_cell *c, dj_err *err)
{
	(void)p;
	c->kind = DJ_CELL_VALUE;
	if (json_is_null(v)) {
		c->kind = DJ_CELL_NULL;
		return 0;
	}
	if (json_is_object(v)) {
		json_int_t off = json_integer_value(json_object_get(v, "npy_off"));
		json_int_t len = json_integer_value(json_object_get(v, "npy_len"));
		if (off < 0 || len < 0 || (size_t)off > dlen || (size_t)len > dlen - (size_t)off)
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: %s %s.%s: bad npy reference", p->t->name,
			                  key, a->name);
		if (!strncmp(a->type, "<npy", 4)) {
			c->kind = DJ_CELL_NPY;
			return dj_buf_add(&c->data, data + off, (size_t)len);
		}
		dj_npy npy = DJ_NPY_INIT;
		int rc = dj_npy_parse(&npy, data + off, (size_t)len, err);
		if (rc == 0)
			rc = dj_npy_to_array(&npy, &c->value, err);
		dj_npy_dispose(&npy);
		if (rc < 0)
			dj_err_context(err, "OutputError: %s %s.%s", p->t->name, key, a->name);
		return rc;
	}
	if (json_is_integer(v))
		c->value = dj_value_int64((int64_t)json_integer_value(v));
	else if (json_is_real(v))
		c->value = dj_value_float(json_real_value(v));
	else if (json_is_boolean(v))
		c->value = dj_value_bool(json_is_true(v));
	else if (json_is_string(v))
		c->value = dj_value_str(json_string_value(v), json_string_length(v));
	else
		return dj_err_set(err, DJ_EUSAGE,
		                  "OutputError: %s %s.%s: JSON arrays are not taken (write an .npy "
		                  "file and give {\"npy\": \"file.npy\"})",
		                  p->t->name, key, a->name);
	if (!c->value)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

/* Fill the hidden _job_* columns of the row(s) of key `row` when the table has them. */
static int job_metadata(dj_populate *p, size_t row, double work_s, dj_err *err)
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
	dj_buf sql = {0};
	dj_db_param *par = calloc(p->keys.ncols + 3, sizeof(*par));
	size_t np = 0;
	int rc = par ? 0 : dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (rc == 0 && (dj_buf_adds(&sql, "UPDATE ") < 0 || quote_table(&sql, p, err) < 0 ||
	                dj_buf_adds(&sql, " SET _job_start_time=?, _job_duration=?, "
	                                  "_job_version=?") < 0 ||
	                key_where(&sql, p, row, par + 3, &np, err) < 0 || dj_buf_addc(&sql, 0) < 0))
		rc = err->code ? err->code : dj_err_set(err, DJ_ENOMEM, "out of memory");
	np += 3;
	if (rc == 0) {
		par[0] = dj_db_text(ts);
		par[1] = dj_db_double(work_s);
		par[2] = dj_db_text("");
		rc = dj_db_exec(p->db, (const char *)sql.ptr, par, np, err);
	}
	free(par);
	dj_buf_dispose(&sql);
	return rc;
}

/* Insert the row of one result. 1 = the key is no longer pending (skipped), 0 = inserted. */
static int insert_one(dj_populate *p, const dj_job_result *r, size_t idx, const char *kjson,
                      size_t kjlen, dj_err *err)
{
	dj_buf keytext = {0}, sql = {0};
	dj_keys_text(&keytext, &p->keys, idx);
	dj_buf_addc(&keytext, 0);
	const char *key = keytext.ptr ? (const char *)keytext.ptr : "{}";
	json_t *kobj = NULL, *doc = NULL, *row;
	dj_insert *ins = NULL;
	dj_cell *cells = NULL;
	const char **cols = NULL;
	size_t ncols = 0;
	int rc;

	/* still pending? */
	dj_db_param *par = calloc(p->keys.ncols + 1, sizeof(*par));
	size_t np = 0;
	dj_buf one = {0};
	bool isnull = false;
	rc = par ? 0 : dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (rc == 0 &&
	    (dj_buf_adds(&sql, "SELECT COUNT(*) FROM ") < 0 || quote_table(&sql, p, err) < 0 ||
	     key_where(&sql, p, idx, par, &np, err) < 0 || dj_buf_addc(&sql, 0) < 0))
		rc = err->code ? err->code : dj_err_set(err, DJ_ENOMEM, "out of memory");
	if (rc == 0)
		rc = dj_db_query_value(p->db, (const char *)sql.ptr, par, np, &one, &isnull, err);
	if (rc == 0 && dj_buf_addc(&one, 0) == 0 && strtoll((const char *)one.ptr, NULL, 10) > 0)
		rc = 1;
	dj_buf_dispose(&one);
	free(par);
	if (rc != 0)
		goto done;

	const char *json;
	const unsigned char *data;
	size_t jlen, dlen;
	json_error_t je;
	if ((rc = dj_make_result_split(r->data.ptr, r->data.len, &json, &jlen, &data, &dlen, err)) <
	    0)
		goto done;
	doc = json_loadb(json, jlen, 0, &je);
	row = json_object_get(doc, "row");
	kobj = json_loadb(kjson, kjlen, 0, &je);
	if (!row || !kobj || !json_is_object(row) || !json_is_object(kobj)) {
		rc = dj_err_set(err, DJ_EFORMAT, "OutputError: %s %s: unreadable row", p->t->name,
		                key);
		goto done;
	}
	size_t cap = json_object_size(row) + json_object_size(kobj);
	cells = calloc(cap ? cap : 1, sizeof(*cells));
	cols = calloc(cap ? cap : 1, sizeof(*cols));
	if (!cells || !cols) {
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < cap; i++)
		dj_cell_init(&cells[i]);
	for (int pass = 0; pass < 2; pass++) {
		const char *name;
		json_t *v;
		json_object_foreach(pass ? row : kobj, name, v)
		{
			const dj_attr *a = dj_table_attr(p->t, name);
			if (pass && json_object_get(kobj, name))
				continue; /* the key's own value wins */
			if (!a && !pass)
				continue; /* a key_source attribute the table lacks */
			if (!a || a->hidden) {
				rc = dj_err_set(
				    err, DJ_EUSAGE,
				    "OutputError: %s %s: '%s' is not an attribute of the "
				    "table",
				    p->t->name, key, name);
				goto done;
			}
			cols[ncols] = name;
			if ((rc = json_cell(p, a, v, data, dlen, key, &cells[ncols++], err)) < 0)
				goto done;
		}
	}
	if ((rc = dj_insert_new(&ins, &p->rc, dj_db_backend_id(p->db), p->t, cols, ncols, err)) <
	        0 ||
	    (rc = dj_insert_add(ins, cells, err)) < 0 || (rc = dj_insert_exec(ins, p->db, err)) < 0)
		goto done;
	rc = job_metadata(p, idx, r->work_s, err);
done:
	dj_insert_free(ins);
	for (size_t i = 0; cells && i < ncols; i++)
		dj_cell_dispose(&cells[i]);
	free(cells);
	free(cols);
	json_decref(doc);
	json_decref(kobj);
	dj_buf_dispose(&sql);
	dj_buf_dispose(&keytext);
	return rc;
}

/* The jobs-table error() of one key: message "<Kind>: <message>", stack = stderr tail. */
static int job_error(dj_populate *p, size_t idx, const char *msg, const dj_bytes *stack,
                     dj_err *err)
{
	char *m = ascii_copy(msg, strlen(msg));
	char *s = ascii_copy(stack->ptr, stack->len);
	int rc = m && s ? dj_jobs_error(p->db, &p->jt, &p->keys, idx, m, s, err)
	                : dj_err_set(err, DJ_ENOMEM, "out of memory");
	free(m);
	free(s);
	return rc;
}

static int pop_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	dj_populate *p = ctx;
	int rc = dj_db_begin(p->db, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		dj_job_result *r = &res[i];
		size_t idx, jlen;
		const char *kjson;
		if ((rc = item_parse(&r->item, &idx, &kjson, &jlen, err)) < 0)
			break;
		if (idx >= p->keys.n) {
			rc = dj_err_set(err, DJ_EFORMAT, "populate: work item %zu out of range",
			                idx);
			break;
		}
		bool commit_failed = false;
		if (r->outcome == DJ_JOB_DONE) {
			dj_err e = DJ_ERR_INIT;
			if ((rc = dj_db_savepoint(p->db, "djrun_key", err)) < 0)
				break;
			int ins = insert_one(p, r, idx, kjson, jlen, &e);
			if (ins < 0) {
				if ((rc = dj_db_rollback_to(p->db, "djrun_key", err)) < 0)
					break;
				dj_err_clear(&r->err);
				if (!strstr(e.msg, "Error: "))
					dj_err_set(&r->err, ins, "DataJointError: %s", e.msg);
				else
					r->err = e;
				r->outcome = DJ_JOB_FAILED;
				commit_failed = true;
			} else if (ins == 1) {
				r->outcome = DJ_JOB_SKIPPED;
			}
			if ((rc = dj_db_release(p->db, "djrun_key", err)) < 0)
				break;
		}
		if (!p->reserve)
			continue;
		if (r->outcome == DJ_JOB_FAILED) {
			dj_bytes stack = r->data; /* work failed: the make's stderr tail */
			if (commit_failed)        /* data is the make's result, not a stack */
				stack.len = 0;
			rc = job_error(p, idx, r->err.msg, &stack, err);
		} else {
			rc = dj_jobs_complete(p->db, &p->jt, &p->keys, idx, false, NAN, err);
		}
	}
	if (rc == 0)
		return dj_db_commit(p->db, err);
	dj_err e2 = DJ_ERR_INIT;
	dj_db_rollback(p->db, &e2);
	return rc;
}

/* ---- release, finish ---- */

static int pop_release(void *ctx, const dj_bytes *items, size_t n, dj_err *err)
{
	dj_populate *p = ctx;
	if (!p->reserve || !p->db || n == 0)
		return 0;
	dj_keys sub;
	dj_keys_init(&sub);
	int rc = dj_keys_set_cols(&sub, (const char *const *)p->keys.cols, p->keys.types,
	                          p->keys.ncols, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t idx, jlen;
		const char *json;
		if ((rc = item_parse(&items[i], &idx, &json, &jlen, err)) == 0 && idx < p->keys.n)
			rc = dj_keys_add_from(&sub, &p->keys, idx, err);
	}
	if (rc == 0)
		rc = dj_jobs_release_many(p->db, &p->jt, &sub, &p->w, NULL, err);
	dj_keys_dispose(&sub);
	return rc;
}

static void pop_finish(void *ctx, const dj_tally *t)
{
	(void)ctx;
	(void)t;
}

void dj_populate_dispose(dj_populate *p)
{
	dj_maker_close(p->maker);
	p->maker = NULL;
	if (p->planned_keys)
		dj_keys_dispose(&p->keys);
	dj_row_ctx_dispose(&p->rc);
	if (p->have_jt)
		dj_jobtable_dispose(&p->jt);
	if (p->have_ks)
		dj_keysource_dispose(&p->ks);
	if (p->have_schema)
		dj_schema_free(&p->s);
	if (p->db)
		dj_db_close(p->db);
	p->db = NULL;
	p->planned_keys = p->have_jt = p->have_ks = p->have_schema = false;
}

const dj_job dj_populate_job = {
    .name = "populate",
    .start = pop_start,
    .plan = pop_plan,
    .work = pop_work,
    .commit = pop_commit,
    .release = pop_release,
    .finish = pop_finish,
};
