/* populate as a dj_job (jobs/populate.h, database.md §5). */
#include "jobs/populate_internal.h"

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

/*
 * Key `row` of p->keys as the JSON object the make reads: numbers for numeric columns, uuids in
 * their canonical text, dates, times and decimals as the server's text (Python's str() of them).
 */
static char *key_json(const dj_populate *p, size_t row)
{
	const dj_keys *k = &p->keys;
	json_t *o = json_object();
	for (size_t c = 0; o && c < k->ncols; c++) {
		dj_value *v = NULL;
		dj_err e = DJ_ERR_INIT;
		json_t *j = NULL;
		int64_t iv;
		const dj_attr *a = p->t ? dj_table_attr(p->t, k->cols[c]) : NULL;
		if (dj_populate_key_value(k, row, c, a, &v, &e) < 0) {
			json_decref(o);
			return NULL;
		}
		switch (v->kind) {
		case DJ_V_NONE:
			j = json_null();
			break;
		case DJ_V_BOOL:
			j = json_boolean(v->u.b);
			break;
		case DJ_V_INT:
			j = dj_value_get_int64(v, &iv) == 0 ? json_integer((json_int_t)iv) : NULL;
			break;
		case DJ_V_FLOAT:
			j = json_real(v->u.f);
			break;
		case DJ_V_UUID: {
			char u[37];
			static const char hex[] = "0123456789abcdef";
			size_t n = 0;
			for (int i = 0; i < 16; i++) {
				if (i == 4 || i == 6 || i == 8 || i == 10)
					u[n++] = '-';
				u[n++] = hex[v->u.uuid[i] >> 4];
				u[n++] = hex[v->u.uuid[i] & 15];
			}
			u[n] = 0;
			j = json_string(u);
			break;
		}
		default: /* the server's text; bytes keys that are not UTF-8 become hex */
			if (k->types && k->types[c] == DJ_DB_T_BYTES) {
				dj_buf hx = DJ_BUF_INIT;
				for (size_t i = 0; i < k->lens[row * k->ncols + c]; i++)
					dj_buf_addf(&hx, "%02x",
					            (unsigned char)k->vals[row * k->ncols + c][i]);
				j = json_stringn(hx.ptr ? hx.ptr : "", hx.len);
				dj_buf_dispose(&hx);
			} else {
				j = json_stringn(k->vals[row * k->ncols + c],
				                 k->lens[row * k->ncols + c]);
			}
		}
		dj_value_free(v);
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
int dj_populate_item_parse(const dj_bytes *item, size_t *idx, const char **json, size_t *jlen,
                      dj_err *err)
{
	const char *s = (const char *)item->ptr;
	const char *nl = memchr(s, '\n', item->len);
	*idx = 0, *json = NULL, *jlen = 0; /* defined on failure too */
	if (!nl || nl == s)
		return dj_err_set(err, DJ_EFORMAT, "populate: malformed work item");
	const char *end = memchr(nl + 1, 0, item->len - (size_t)(nl + 1 - s));
	*idx = (size_t)strtoull(s, NULL, 10);
	*json = nl + 1;
	*jlen = (size_t)((end ? end : s + item->len) - (nl + 1));
	return 0;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- start ---- */

static int pop_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_populate *p = ctx;
	int rc;
	if (info->worker && (rc = dj_maker_open(&p->maker, &p->make, err)) < 0)
		return rc;
	p->reserve_floor = info->size > 4 ? 4 * (size_t)info->size : 16;
	p->reserve_chunk = p->reserve_floor;
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
	if ((rc = dj_row_ctx_init(&p->rc, p->specs, p->nspecs, p->default_store, err)) < 0)
		return rc;
	p->rc.defer_sync = true; /* one flush per batch, before its commit (populate_commit.c) */
	return dj_populate_fetch_prepare(p, err);
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
		if (p->priority >= 0)
			o.priority = p->priority;
		if ((rc = dj_jobs_refresh(p->db, &p->jt, &p->ks, &o, &r, err)) < 0)
			return rc;
		return dj_jobs_pending(p->db, &p->jt, &p->ks, p->where, p->priority, p->max_calls,
		                       &p->keys, err);
	}
	dj_buf sql = {0};
	if ((rc = dj_keysource_pending_sql(&sql, &p->ks, p->where, err)) == 0 && p->max_calls >= 0)
		rc = dj_buf_addf(&sql, " LIMIT %" PRId64, p->max_calls);
	if (rc == 0)
		rc = dj_keys_query(&p->keys, p->db, (const char *)sql.ptr, NULL, 0, err);
	dj_buf_dispose(&sql);
	return rc;
}

/*
 * A key whose inputs cannot be fetched fails here, before any make: an error job with the
 * message (reserved mode), or just a message in the run's error (direct mode). Database errors
 * stop the plan.
 */
static int input_failed(dj_populate *p, size_t row, dj_err *err)
{
	int code = err->code;
	if (code != DJ_ENOTFOUND && code != DJ_EFORMAT && code != DJ_EUSAGE && code != DJ_ENOTSUP)
		return code;
	dj_err why = *err;
	if (p->input_failures++ == 0)
		p->input_error = why;
	dj_err_clear(err);
	return p->reserve ? dj_jobs_error(p->db, &p->jt, &p->keys, row, why.msg, "", err) : 0;
}

/* 1 = pushed, 0 = the key failed fetching its inputs (not planned), < 0 = stop. */
static int push_key(dj_populate *p, dj_job_sink *sink, size_t row, dj_err *err)
{
	char *kj = key_json(p, row);
	dj_buf item = {0};
	int rc = kj ? dj_buf_addf(&item, "%zu\n%s", row, kj) : -1;
	if (rc == 0 && p->nfetch && dj_buf_addc(&item, 0) < 0)
		rc = -1;
	if (rc < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	else if (p->nfetch && (rc = dj_populate_fetch_inputs(p, row, &item, err)) < 0)
		rc = input_failed(p, row, err);
	else if ((rc = dj_job_push(sink, item.ptr, item.len, err)) == 0)
		rc = 1;
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
	/* Reserve a little at a time: keys reserved here are out of reach of every other worker
	 * (Python's or another djrun's) until they are done. How much is a little follows the
	 * pace: asked again within half a second, the chunk doubles (fast keys: fewer round
	 * trips); after longer, it halves back toward its floor (slow keys: nothing hoarded). */
	if (p->reserve) {
		double now = mono_now();
		if (p->last_plan > 0 && now - p->last_plan < 0.5 && p->reserve_chunk < want)
			p->reserve_chunk *= 2;
		else if (p->last_plan > 0 && now - p->last_plan > 2 &&
		         p->reserve_chunk / 2 >= p->reserve_floor)
			p->reserve_chunk /= 2;
		p->last_plan = now;
		if (want > p->reserve_chunk)
			want = p->reserve_chunk;
	}
	while (p->next < p->keys.n) {
		size_t end = p->next + want < p->keys.n ? p->next + want : p->keys.n;
		size_t pushed = 0;
		if (!p->reserve) {
			if ((rc = dj_populate_prefetch(p, p->next, end, NULL, err)) < 0)
				return rc;
			for (; p->next < end; p->next++)
				if ((rc = push_key(p, sink, p->next, err)) < 0)
					return rc;
				else
					pushed += (size_t)rc;
			if (pushed)
				return 0;
			continue;
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
		if (rc == 0 && n)
			rc = dj_populate_prefetch(p, p->next, end, got, err);
		size_t i = p->next;
		for (; rc == 0 && i < end; i++)
			if (got[i - p->next] && (rc = push_key(p, sink, i, err)) > 0) {
				pushed++;
				rc = 0;
			}
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
	int rc = dj_populate_item_parse(item, &idx, &json, &jlen, err);
	if (rc < 0)
		return rc;
	char *kj = strndup(json, jlen);
	dj_buf tail = {0};
	if (!kj)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	dj_make_input *in = NULL;
	size_t nin = 0;
	dj_buf *held = NULL;
	rc = dj_populate_item_inputs(item, &in, &nin, err);
	if (rc == 0)
		rc = dj_populate_inputs_resolve(p, in, nin, &held, err);
	if (rc == 0)
		rc = dj_maker_run(p->maker, kj, in, nin, result, &tail, err);
	if (rc == 0 && p->heading.len)
		rc = dj_populate_store_outputs(p, kj, strlen(kj), result, err);
	dj_populate_inputs_free(in, nin);
	for (size_t i = 0; held && i < nin; i++)
		dj_buf_dispose(&held[i]);
	free(held);
	if (rc < 0) {
		dj_buf_setlen(result, 0);
		dj_buf_add(result, tail.ptr, tail.len);
	}
	free(kj);
	dj_buf_dispose(&tail);
	return rc;
}

/* ---- commit (jobs/populate_commit.c) ---- */

static int pop_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	return dj_populate_commit(ctx, res, n, err);
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
		if ((rc = dj_populate_item_parse(&items[i], &idx, &json, &jlen, err)) == 0 && idx < p->keys.n)
			rc = dj_keys_add_from(&sub, &p->keys, idx, err);
	}
	if (rc == 0)
		rc = dj_jobs_release_many(p->db, &p->jt, &sub, &p->w, NULL, err);
	dj_keys_dispose(&sub);
	return rc;
}

/* At the drain deadline: the make of rank 0's own item is stopped (its key released). */
static void pop_cancel(void *ctx)
{
	dj_populate *p = ctx;
	dj_maker_cancel(p->maker);
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
	dj_populate_store_dispose(p);
	dj_populate_prefetch_free(p);
	free(p->fetch_t);
	free(p->fetch_a);
	p->fetch_t = NULL;
	p->fetch_a = NULL;
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
    .cancel = pop_cancel,
    .work_beside_coordinator = true, /* work touches only the maker, the item and its own
	                                  * stores (wt, wrc) */
};
