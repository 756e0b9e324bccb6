/* gc as a dj_job (jobs/gc.h): the callbacks of the three passes. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/gc.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Rank 0, first pass: connect, load the schemas, scan references. */
static int scan_first(dj_gc *g, dj_err *err)
{
	double t0 = mono();
	int rc;
	if ((rc = g->connect(g->connect_arg, &g->db, err)) < 0)
		return rc;
	if (!(g->schemas = calloc(g->nschemas, sizeof(*g->schemas))))
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	for (size_t i = 0; i < g->nschemas; i++) {
		if ((rc = dj_schema_load(g->db, g->schema_names[i], g->default_store,
		                         &g->schemas[i], err)) < 0)
			return rc;
		g->nloaded++;
	}
	if ((rc = dj_gc_scan_refs_paged(g->db, g->schemas, g->nloaded, dj_store_name(g->st),
	                                false, g->scan_page, &g->refs, err)) < 0)
		return rc;
	for (size_t i = 0; i < g->refs.nerrors; i++)
		if (dj_gc__add_error(g, "%s", g->refs.errors[i]) < 0)
			return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	g->stats.hash_referenced = g->refs.hash.n;
	g->stats.schema_referenced = g->refs.schema.n;
	g->stats.other_referenced = g->refs.other.n;
	g->stats.scan_s = mono() - t0;
	return 0;
}

static int gc_start(void *ctx, const dj_run_info *info, dj_err *err)
{
	dj_gc *g = ctx;
	int rc;
	if (!g->st && (rc = dj_store_open(&g->st, g->spec, err)) < 0)
		return rc;
	g->next_obj = 0;
	if (!info->coordinator || g->pass != DJ_GC_LIST || g->started)
		return 0;
	g->started = true;
	return scan_first(g, err);
}

static int gc_plan(void *ctx, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_gc *g = ctx;
	if (g->pass == DJ_GC_LIST)
		return dj_gc__plan_list(g, sink, want, err);
	if (!g->collect || g->nscan_errors)
		return 0;
	return dj_gc__plan_objs(g, sink, want, err);
}

static int gc_work(void *ctx, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	dj_gc *g = ctx;
	if (item->len < 2)
		return dj_err_set(err, DJ_EFORMAT, "gc: empty item");
	if (g->pass == DJ_GC_LIST)
		return dj_gc__work_list(g, item, result, err);
	return dj_gc__work_objs(g, item, result, err);
}

static int gc_commit(void *ctx, dj_job_result *res, size_t n, dj_err *err)
{
	dj_gc *g = ctx;
	int rc;
	for (size_t i = 0; i < n; i++) {
		dj_job_result *r = &res[i];
		if (g->pass != DJ_GC_LIST) {
			if ((rc = dj_gc__commit_objs(g, r, err)) < 0)
				return rc;
			r->outcome = DJ_JOB_DONE;
			continue;
		}
		if (r->err.code) {
			if (dj_gc__add_error(g, "%s", r->err.msg) < 0)
				return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			continue; /* outcome FAILED: the run reports it too */
		}
		char t = (char)r->item.ptr[0];
		if (t == 'C')
			t = (char)r->item.ptr[1];
		char section = t == 'H' || t == 'N' ? 'H' : 'S';
		if ((rc = dj_gc__decide(g, section, r->item.ptr[0] == 'N', &r->data, err)) < 0)
			return rc;
	}
	return 0;
}

static int gc_release(void *ctx, const dj_bytes *items, size_t n, dj_err *err)
{
	dj_gc *g = ctx;
	(void)items;
	/* an unlisted shard makes the listing partial: nothing may be deleted */
	if (g->pass == DJ_GC_LIST && n &&
	    dj_gc__add_error(g, "listing interrupted: %zu shard(s) not listed", n) < 0)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	return 0;
}

const dj_job dj_gc_job = {
    .name = "gc",
    .start = gc_start,
    .plan = gc_plan,
    .work = gc_work,
    .commit = gc_commit,
    .release = gc_release,
    .finish = NULL,
};
