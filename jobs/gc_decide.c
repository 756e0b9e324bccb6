/* gc's decisions on rank 0 (jobs/gc.h): orphan or live for each listed record, the re-check
 * before tombstones and the post-check after them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/gc.h"

int dj_gc__add_error(dj_gc *g, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char **v = realloc(g->scan_errors, (g->nscan_errors + 1) * sizeof(*v));
	if (!v)
		return DJ_ENOMEM;
	g->scan_errors = v;
	if (!(v[g->nscan_errors] = strdup(msg)))
		return DJ_ENOMEM;
	g->nscan_errors++;
	return 0;
}

static int add_obj(dj_gc *g, char section, const char *p, size_t n, uint64_t size, uint8_t state,
                   bool leftover, dj_err *err)
{
	if (g->nobjs == g->capobjs) {
		size_t cap = g->capobjs ? g->capobjs * 2 : 1024;
		dj_gc_obj *v = realloc(g->objs, cap * sizeof(*v));
		if (!v)
			return dj_err_set(err, DJ_ENOMEM, "gc: out of memory for %zu orphans", g->nobjs);
		g->objs = v, g->capobjs = cap;
	}
	dj_gc_obj *o = &g->objs[g->nobjs];
	o->off = g->arena.len;
	o->size = size, o->section = section, o->state = state, o->leftover = leftover;
	if (dj_buf_add(&g->arena, p, n) < 0 || dj_buf_addc(&g->arena, 0) < 0)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory for %zu orphans", g->nobjs);
	g->nobjs++;
	return 0;
}

int dj_gc__decide(dj_gc *g, char section, bool unreferenced, const dj_bytes *records,
                  dj_err *err)
{
	const uint8_t *p = records->ptr, *end = p + records->len;
	const size_t tl = strlen(DJ_GC_TRASH);
	int rc;
	while (p < end) {
		uint64_t size;
		int64_t mtime;
		uint32_t n;
		if (end - p < 21)
			return dj_err_set(err, DJ_EFORMAT, "gc: truncated listing record");
		uint8_t kind = p[0];
		memcpy(&size, p + 1, 8), memcpy(&mtime, p + 9, 8), memcpy(&n, p + 17, 4);
		p += 21;
		if ((size_t)(end - p) < n)
			return dj_err_set(err, DJ_EFORMAT, "gc: truncated listing record");
		const char *path = (const char *)p;
		p += n;
		if (kind == 2) { /* the listing was cut here: list the rest in another shard */
			if ((rc = dj_gc__add_continuation(g, path, n, err)) < 0)
				return rc;
			continue;
		}
		g->stats.listed++;
		if (kind == 1) { /* trash of an interrupted run: the post-check decides */
			g->stats.leftovers++;
			if (g->collect &&
			    (rc = add_obj(g, section, path, n - tl, size, DJ_GC_ST_TOMB, true, err)) < 0)
				return rc;
			continue;
		}
		if (section == 'H')
			g->stats.hash_stored++;
		else
			g->stats.schema_stored++;
		if (!unreferenced && dj_gc_refs_live(&g->refs, section, path, n))
			continue;
		bool young = g->grace_s > 0 && (double)mtime > (double)g->now - g->grace_s;
		if (section == 'H') {
			g->stats.hash_orphaned++, g->stats.hash_orphaned_bytes += size;
			g->stats.hash_young += young;
		} else {
			g->stats.schema_orphaned++, g->stats.schema_orphaned_bytes += size;
			g->stats.schema_young += young;
		}
		if ((rc = add_obj(g, section, path, n, size, young ? DJ_GC_ST_YOUNG : DJ_GC_ST_CAND,
		                  false, err)) < 0)
			return rc;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A fresh reference scan; its errors join scan_errors. */
static int rescan(dj_gc *g, bool dirty, dj_gc_refs *r, dj_err *err)
{
	int rc = dj_gc_scan_refs_paged(g->db, g->schemas, g->nloaded, dj_store_name(g->st), dirty,
	                               g->scan_page, r, err);
	for (size_t i = 0; rc == 0 && i < r->nerrors; i++)
		if (dj_gc__add_error(g, "%s", r->errors[i]) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	return rc;
}

bool dj_gc_list_pending(const dj_gc *g)
{
	return g->next_shard < g->nshards;
}

int dj_gc_recheck(dj_gc *g, dj_err *err)
{
	dj_gc_refs r;
	double t0 = now_s();
	size_t ncand = 0;
	int rc;
	if (!g->collect || g->nscan_errors)
		return 0;
	for (size_t i = 0; i < g->nobjs; i++)
		ncand += g->objs[i].state == DJ_GC_ST_CAND || g->objs[i].state == DJ_GC_ST_TOMB;
	if (!ncand)
		return 0;
	if ((rc = rescan(g, false, &r, err)) == 0 && g->nscan_errors == 0) {
		for (size_t i = 0; i < g->nobjs; i++) {
			dj_gc_obj *o = &g->objs[i];
			if (o->state == DJ_GC_ST_CAND &&
			    dj_gc_refs_live(&r, o->section, g->arena.ptr + o->off,
			                    strlen(g->arena.ptr + o->off)))
				o->state = DJ_GC_ST_KEPT, g->stats.kept_by_recheck++;
		}
	}
	dj_gc_refs_free(&r);
	g->stats.recheck_s = now_s() - t0;
	return rc;
}

int dj_gc_postcheck(dj_gc *g, dj_err *err)
{
	dj_gc_refs r;
	double t0 = now_s();
	size_t ntomb = 0;
	int rc;
	for (size_t i = 0; i < g->nobjs; i++)
		ntomb += g->objs[i].state == DJ_GC_ST_TOMB;
	if (!ntomb)
		return 0;
	if (g->hold_s > 0) {
		struct timespec ts = {(time_t)g->hold_s,
		                      (long)((g->hold_s - (double)(time_t)g->hold_s) * 1e9)};
		while (nanosleep(&ts, &ts) != 0)
			;
	}
	size_t before = g->nscan_errors;
	rc = rescan(g, true, &r, err);
	bool unsure = rc < 0 || g->nscan_errors > before; /* then restore everything */
	for (size_t i = 0; i < g->nobjs; i++) {
		dj_gc_obj *o = &g->objs[i];
		if (o->state != DJ_GC_ST_TOMB)
			continue;
		bool live = unsure || dj_gc_refs_live(&r, o->section, g->arena.ptr + o->off,
		                                      strlen(g->arena.ptr + o->off));
		o->state = live ? DJ_GC_ST_RESTORE : DJ_GC_ST_PURGE;
	}
	dj_gc_refs_free(&r);
	g->stats.settle_s = now_s() - t0;
	return rc;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int dj_gc_orphans(const dj_gc *g, char section, const char ***out, size_t *n, dj_err *err)
{
	const char **v = malloc((g->nobjs + 1) * sizeof(*v));
	size_t k = 0;
	if (!v)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	for (size_t i = 0; i < g->nobjs; i++)
		if (g->objs[i].section == section && !g->objs[i].leftover)
			v[k++] = g->arena.ptr + g->objs[i].off;
	qsort(v, k, sizeof(*v), cmp_path); /* strcmp: code-point order for UTF-8, as sorted() */
	*out = v, *n = k;
	return 0;
}

void dj_gc_dispose(dj_gc *g)
{
	dj_store_close(g->st);
	g->st = NULL;
	dj_gc_refs_free(&g->refs);
	for (size_t i = 0; i < g->nloaded; i++)
		dj_schema_free(&g->schemas[i]);
	free(g->schemas);
	g->schemas = NULL, g->nloaded = 0;
	dj_db_close(g->db);
	g->db = NULL;
	for (size_t i = 0; i < g->nscan_errors; i++)
		free(g->scan_errors[i]);
	free(g->scan_errors);
	g->scan_errors = NULL, g->nscan_errors = 0;
	for (size_t i = 0; i < g->nshards; i++)
		free(g->shards[i]);
	free(g->shards);
	g->shards = NULL, g->nshards = 0;
	dj_buf_dispose(&g->arena);
	free(g->objs);
	g->objs = NULL, g->nobjs = g->capobjs = 0;
}
