/* gc's listing pass (jobs/gc.h): rank 0 cuts the two sections into shards, workers list a shard
 * and return compact records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/gc.h"

#define ALPHABET "abcdefghijklmnopqrstuvwxyz234567"
#define TMP_TAG ".saving."       /* stores/file.c: an upload in progress */
#define TMP_MIN_AGE (3600 * 6)  /* younger temporaries are uploads, not objects */

/* Section root "[prefix/]schema" (no trailing '/'). */
static int section_root(dj_buf *out, const char *prefix, const char *dflt, const char *schema)
{
	size_t n;
	const char *p = dj_strip_slashes(prefix ? prefix : dflt, &n);
	dj_buf_reset(out);
	if (n && (dj_buf_add(out, p, n) < 0 || dj_buf_addc(out, '/') < 0))
		return DJ_ENOMEM;
	return dj_buf_adds(out, schema);
}

static int add_shard(dj_gc *g, char type, const char *prefix, dj_err *err)
{
	char **v = realloc(g->shards, (g->nshards + 1) * sizeof(*v));
	if (!v)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	g->shards = v;
	size_t n = strlen(prefix);
	if (!(v[g->nshards] = malloc(n + 2)))
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	v[g->nshards][0] = type;
	memcpy(v[g->nshards] + 1, prefix, n + 1);
	g->nshards++;
	return 0;
}

typedef struct dir_walk {
	dj_gc *g;
	int depth; /* 0: the schema folder, 1: a table folder */
	bool has_files;
	dj_err *err;
} dir_walk;

static int schema_dir(dj_gc *g, const char *dir, int depth, dj_err *err);

static int on_dir_entry(const dj_store_entry *e, void *payload)
{
	dir_walk *w = payload;
	dj_buf p = DJ_BUF_INIT;
	int rc;
	if (!e->is_dir) {
		w->has_files = true;
		return 0;
	}
	if (w->depth >= 1) { /* a first-key folder: one recursive shard */
		if (dj_buf_addf(&p, "%s/", e->key) < 0)
			return dj_err_set(w->err, DJ_ENOMEM, "gc: out of memory");
		rc = add_shard(w->g, 'S', p.ptr, w->err);
		dj_buf_dispose(&p);
		return rc;
	}
	return schema_dir(w->g, e->key, w->depth + 1, w->err);
}

/* Shards of one folder of the schema section: sub-folders below, 'D' for its own files. */
static int schema_dir(dj_gc *g, const char *dir, int depth, dj_err *err)
{
	dir_walk w = {g, depth, false, err};
	dj_err lerr = DJ_ERR_INIT;
	int rc = dj_store_list_dir(g->st, dir, on_dir_entry, &w, &lerr);
	if (rc == DJ_ENOMEM || (rc < 0 && err->code))
		return rc;
	if (rc < 0)
		return dj_gc__add_error(g, "list_schema_paths(%s): %s", dir, lerr.msg);
	return w.has_files ? add_shard(g, 'D', dir, err) : 0;
}

static int make_shards(dj_gc *g, dj_err *err)
{
	dj_buf root = DJ_BUF_INIT;
	int rc = 0;
	char pre[512];
	for (size_t s = 0; rc == 0 && s < g->nschemas; s++) {
		if (section_root(&root, g->spec->hash_prefix, "_hash", g->schema_names[s]) < 0) {
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		for (const char *c = ALPHABET; rc == 0 && *c; c++) {
			snprintf(pre, sizeof(pre), "%s/%c", root.ptr, *c);
			rc = add_shard(g, 'H', pre, err);
		}
		if (rc == 0 &&
		    section_root(&root, g->spec->schema_prefix, "_schema", g->schema_names[s]) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
		/* file stores: one shard per first-key folder (real folders, found cheaply);
		 * object stores: one prefix listing, since a delimiter listing of s3rver misses
		 * folders that hold no object directly */
		if (rc == 0 && !strcmp(dj_store_scheme(g->st), "file"))
			rc = schema_dir(g, root.ptr, 0, err);
		else if (rc == 0 && dj_buf_addc(&root, '/') < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
		else if (rc == 0)
			rc = add_shard(g, 'S', root.ptr, err);
	}
	dj_buf_dispose(&root);
	return rc;
}

int dj_gc__plan_list(dj_gc *g, dj_job_sink *sink, size_t want, dj_err *err)
{
	int rc;
	if (!g->planned) {
		g->planned = true;
		if ((rc = make_shards(g, err)) < 0)
			return rc;
	}
	for (size_t k = 0; k < want && g->next_shard < g->nshards; k++, g->next_shard++) {
		const char *s = g->shards[g->next_shard];
		if ((rc = dj_job_push(sink, s, strlen(s), err)) < 0)
			return rc == DJ_ESTOP ? 0 : rc;
	}
	return 0;
}

/* --- worker side ---------------------------------------------------------------------------- */

typedef struct lister {
	char type;
	int64_t now;
	dj_buf *out;
	dj_err *err;
} lister;

static bool ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && !memcmp(s + n - k, suf, k);
}

static int put_record(lister *l, uint8_t kind, const dj_store_entry *e, size_t len)
{
	uint32_t n = (uint32_t)len;
	uint64_t size = e->size;
	int64_t mtime = e->mtime;
	if (dj_buf_addc(l->out, (char)kind) < 0 || dj_buf_add(l->out, &size, 8) < 0 ||
	    dj_buf_add(l->out, &mtime, 8) < 0 || dj_buf_add(l->out, &n, 4) < 0 ||
	    dj_buf_add(l->out, e->key, len) < 0)
		return dj_err_set(l->err, DJ_ENOMEM, "gc: listing result too large");
	return 0;
}

static int on_entry(const dj_store_entry *e, void *payload)
{
	lister *l = payload;
	size_t len = strlen(e->key);
	const char *slash = strrchr(e->key, '/');
	const char *name = slash ? slash + 1 : e->key;
	size_t nlen = len - (size_t)(name - e->key);
	size_t tl = strlen(DJ_GC_TRASH);
	bool trash = ends_with(name, nlen, DJ_GC_TRASH);
	if (e->is_dir)
		return 0;
	if (l->type == 'H') {
		if (dj_gc_hash_name(name, nlen))
			return put_record(l, 0, e, len);
		if (trash && dj_gc_hash_name(name, nlen - tl))
			return put_record(l, 1, e, len);
		return 0;
	}
	if (strstr(name, TMP_TAG) && e->mtime > l->now - TMP_MIN_AGE)
		return 0;
	return put_record(l, trash ? 1 : 0, e, len);
}

int dj_gc__work_list(dj_gc *g, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	char *prefix = strndup((const char *)item->ptr + 1, item->len - 1);
	lister l = {(char)item->ptr[0], g->now, result, err};
	int rc;
	if (!prefix)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	l.type = l.type == 'D' ? 'S' : l.type;
	if (item->ptr[0] == 'D')
		rc = dj_store_list_dir(g->st, prefix, on_entry, &l, err);
	else
		rc = dj_store_list(g->st, prefix, on_entry, &l, err);
	if (rc < 0)
		dj_err_context(err, "%s(%s)",
		               item->ptr[0] == 'H' ? "list_hash_paths" : "list_schema_paths",
		               prefix);
	free(prefix);
	return rc;
}
