/* gc's tombstone, restore and purge batches (jobs/gc.h). File stores move objects with rename(2)
 * inside their folder; other stores copy to the trash key (server-side where they can) and delete
 * with DeleteObjects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/gc.h"

enum { OK = 0, MISSING = 1, FAILED = 2 };

typedef struct batch {
	char op, section;
	size_t n;
	uint64_t *idx;
	const char **keys; /* NUL-terminated copies */
	char *mem;
	uint8_t *status;
	dj_err first; /* first failure */
} batch;

static void batch_free(batch *b)
{
	free(b->idx), free(b->keys), free(b->mem), free(b->status);
}

static int batch_parse(const dj_bytes *item, batch *b, dj_err *err)
{
	const uint8_t *p = item->ptr + 2, *end = item->ptr + item->len;
	size_t cap = 0, n = 0;
	memset(b, 0, sizeof(*b));
	if (item->len < 2)
		return dj_err_set(err, DJ_EFORMAT, "gc: bad batch");
	b->op = (char)item->ptr[0], b->section = (char)item->ptr[1];
	for (const uint8_t *q = p; end - q >= 12; n++) {
		uint32_t len;
		memcpy(&len, q + 8, 4);
		q += 12 + len;
	}
	b->idx = malloc((n + 1) * sizeof(*b->idx));
	b->keys = malloc((n + 1) * sizeof(*b->keys));
	b->status = calloc(n + 1, 1);
	b->mem = malloc(item->len + n + 1);
	if (!b->idx || !b->keys || !b->status || !b->mem)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	for (size_t i = 0; i < n; i++) {
		uint32_t len;
		memcpy(&b->idx[i], p, 8), memcpy(&len, p + 8, 4);
		if ((size_t)(end - p) < 12 + (size_t)len)
			return dj_err_set(err, DJ_EFORMAT, "gc: truncated batch");
		memcpy(b->mem + cap, p + 12, len);
		b->mem[cap + len] = 0;
		b->keys[i] = b->mem + cap;
		cap += len + 1;
		p += 12 + len;
	}
	b->n = n;
	return 0;
}

static bool is_file(const dj_gc *g)
{
	return !strcmp(dj_store_scheme(g->st), "file");
}

int dj_gc__file_path(const dj_gc *g, dj_buf *out, const char *key, const char *suffix)
{
	const char *loc = g->spec->location ? g->spec->location : "";
	size_t n = strlen(loc);
	while (n > 1 && loc[n - 1] == '/')
		n--;
	dj_buf_reset(out);
	if (n == 0)
		return dj_buf_addf(out, "./%s%s", key, suffix);
	if (n == 1 && loc[0] == '/')
		return dj_buf_addf(out, "/%s%s", key, suffix);
	return dj_buf_addf(out, "%.*s/%s%s", (int)n, loc, key, suffix);
}

static void fail(batch *b, size_t i, const char *what, const char *msg)
{
	b->status[i] = FAILED;
	dj_err_set(&b->first, DJ_ERROR, "cannot %s '%s': %s", what, b->keys[i], msg);
}

/* rename from -> to for every key (file stores). */
static void file_moves(const dj_gc *g, batch *b, bool to_trash)
{
	dj_buf src = DJ_BUF_INIT, dst = DJ_BUF_INIT;
	for (size_t i = 0; i < b->n; i++) {
		if (dj_gc__file_path(g, &src, b->keys[i], to_trash ? "" : DJ_GC_TRASH) < 0 ||
		    dj_gc__file_path(g, &dst, b->keys[i], to_trash ? DJ_GC_TRASH : "") < 0) {
			fail(b, i, "move", "out of memory");
			continue;
		}
		if (rename(src.ptr, dst.ptr) == 0)
			continue;
		if (errno == ENOENT)
			b->status[i] = MISSING;
		else
			fail(b, i, to_trash ? "tombstone" : "restore", strerror(errno));
	}
	dj_buf_dispose(&src), dj_buf_dispose(&dst);
}

/* One move by GET + PUT: for backends without server-side copies, and for a key the copy could
 * not find (a server may read a copy source differently from a GET). */
static int fetch_put(dj_gc *g, const char *from, const char *to, bool to_trash, dj_buf *data,
                     dj_err *e)
{
	int rc;
	dj_buf_reset(data);
	if ((rc = dj_store_get(g->st, from, data, e)) < 0)
		return rc;
	rc = dj_store_put(g->st, to, data->ptr, data->len, to_trash ? 0 : DJ_STORE_IF_ABSENT, e);
	return rc == DJ_EEXISTS ? 0 : rc;
}

/* Copy key -> key.trash (or back) for every key, server-side where the store can (S3
 * CopyObject in parallel), then delete the sources with DeleteObjects. */
static void copy_moves(dj_gc *g, batch *b, bool to_trash)
{
	dj_buf data = DJ_BUF_INIT, name = DJ_BUF_INIT;
	const char **done = malloc((b->n + 1) * sizeof(*done));
	const char **from = malloc((b->n + 1) * sizeof(*from));
	const char **to = malloc((b->n + 1) * sizeof(*to));
	char **names = calloc(b->n + 1, sizeof(*names));
	int *res = calloc(b->n + 1, sizeof(*res));
	size_t nd = 0;
	dj_err e = DJ_ERR_INIT;
	bool oom = !done || !names || !from || !to || !res;
	for (size_t i = 0; !oom && i < b->n; i++) {
		dj_buf_reset(&name);
		if (dj_buf_addf(&name, "%s%s", b->keys[i], DJ_GC_TRASH) < 0 ||
		    !(names[i] = strdup(name.ptr)))
			oom = true;
		else
			from[i] = to_trash ? b->keys[i] : names[i], to[i] = to_trash ? names[i] : b->keys[i];
	}
	if (oom) {
		for (size_t i = 0; i < b->n; i++)
			fail(b, i, "move", "out of memory");
		goto out;
	}
	/* the copies' own failures are retried one by one below */
	dj_store_copy_many(g->st, from, to, b->n, to_trash ? 0 : DJ_STORE_IF_ABSENT, res, &e);
	for (size_t i = 0; i < b->n; i++) {
		int rc = res[i] == DJ_EEXISTS ? 0 : res[i];
		if (rc < 0) {
			dj_err_clear(&e);
			rc = fetch_put(g, from[i], to[i], to_trash, &data, &e);
		}
		if (rc == DJ_ENOTFOUND) {
			b->status[i] = MISSING;
			continue;
		}
		if (rc < 0) {
			fail(b, i, to_trash ? "tombstone" : "restore", e.msg);
			continue;
		}
		done[nd++] = from[i];
	}
	dj_err_clear(&e);
	if (nd && dj_store_remove_many(g->st, done, nd, &e) < 0) {
		/* the copies exist; the sources may partly remain: both are safe, report it */
		for (size_t i = 0; i < b->n; i++)
			if (b->status[i] == OK)
				fail(b, i, "delete", e.msg);
	}
out:
	for (size_t i = 0; names && i < b->n; i++)
		free(names[i]);
	free(names), free(done), free(from), free(to), free(res);
	dj_buf_dispose(&data), dj_buf_dispose(&name);
}

/* rmdir the now empty folders above `key`, up to (not including) the store root. */
static void prune(const dj_gc *g, const char *key)
{
	dj_buf p = DJ_BUF_INIT;
	char *k = strdup(key), *slash;
	while (k && (slash = strrchr(k, '/'))) {
		*slash = 0;
		if (dj_gc__file_path(g, &p, k, "") < 0 || rmdir(p.ptr) < 0)
			break;
	}
	free(k);
	dj_buf_dispose(&p);
}

static void purge(dj_gc *g, batch *b)
{
	dj_buf name = DJ_BUF_INIT;
	char **names = calloc(b->n + 1, sizeof(*names));
	dj_err e = DJ_ERR_INIT;
	size_t n = 0;
	for (size_t i = 0; names && i < b->n; i++) {
		dj_buf_reset(&name);
		if (dj_buf_addf(&name, "%s%s", b->keys[i], DJ_GC_TRASH) < 0 ||
		    !(names[n] = strdup(name.ptr)))
			break;
		n++;
	}
	if (!names || n < b->n) {
		for (size_t i = 0; i < b->n; i++)
			fail(b, i, "purge", "out of memory");
	} else if (dj_store_remove_many(g->st, (const char *const *)names, n, &e) < 0) {
		for (size_t i = 0; i < b->n; i++)
			fail(b, i, "purge", e.msg);
	} else if (is_file(g)) {
		/* one attempt per folder: keys of a batch come in listing order */
		const char *last = NULL;
		size_t lastlen = 0;
		for (size_t i = 0; i < b->n; i++) {
			const char *slash = strrchr(b->keys[i], '/');
			size_t len = slash ? (size_t)(slash - b->keys[i]) : 0;
			if (last && len == lastlen && !memcmp(last, b->keys[i], len))
				continue;
			last = b->keys[i], lastlen = len;
			prune(g, b->keys[i]);
		}
	}
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	dj_buf_dispose(&name);
}

int dj_gc__work_objs(dj_gc *g, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	batch b;
	int rc = batch_parse(item, &b, err);
	if (rc == 0) {
		if (b.op == 'P')
			purge(g, &b);
		else if (is_file(g))
			file_moves(g, &b, b.op == 'T');
		else
			copy_moves(g, &b, b.op == 'T');
		if (dj_buf_add(result, b.status, b.n) < 0 ||
		    (b.first.code && dj_buf_adds(result, b.first.msg) < 0))
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	}
	batch_free(&b);
	return rc;
}

/* --- rank 0 ---------------------------------------------------------------------------------- */

static char op_of(const dj_gc *g, const dj_gc_obj *o)
{
	if (g->pass == DJ_GC_DELETE)
		return o->state == DJ_GC_ST_CAND ? 'T' : 0;
	return o->state == DJ_GC_ST_RESTORE ? 'R' : o->state == DJ_GC_ST_PURGE ? 'P' : 0;
}

int dj_gc__plan_objs(dj_gc *g, dj_job_sink *sink, size_t want, dj_err *err)
{
	dj_buf it = DJ_BUF_INIT;
	int rc = 0;
	for (size_t pushed = 0; rc == 0 && pushed < want && g->next_obj < g->nobjs; pushed++) {
		char op = 0, sec = 0;
		size_t k = 0;
		dj_buf_reset(&it);
		for (; g->next_obj < g->nobjs && k < DJ_GC_BATCH; g->next_obj++) {
			const dj_gc_obj *o = &g->objs[g->next_obj];
			char c = op_of(g, o);
			if (!c)
				continue;
			if (k && (c != op || o->section != sec))
				break;
			if (!k) {
				op = c, sec = o->section;
				if (dj_buf_addc(&it, op) < 0 || dj_buf_addc(&it, sec) < 0)
					goto oom;
			}
			uint64_t idx = g->next_obj;
			const char *path = g->arena.ptr + o->off;
			uint32_t len = (uint32_t)strlen(path);
			if (dj_buf_add(&it, &idx, 8) < 0 || dj_buf_add(&it, &len, 4) < 0 ||
			    dj_buf_add(&it, path, len) < 0)
				goto oom;
			k++;
		}
		if (!k)
			break;
		if ((rc = dj_job_push(sink, it.ptr, it.len, err)) == DJ_ESTOP)
			rc = 0; /* the engine stops; what is tombstoned stays for the post-check */
	}
	dj_buf_dispose(&it);
	return rc;
oom:
	dj_buf_dispose(&it);
	return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
}

int dj_gc__commit_objs(dj_gc *g, const dj_job_result *r, dj_err *err)
{
	batch b;
	int rc = batch_parse(&r->item, &b, err);
	if (rc < 0) {
		batch_free(&b);
		return rc;
	}
	bool have = r->err.code == 0 && r->data.len >= b.n;
	const char *msg = have ? (const char *)r->data.ptr + b.n : r->err.msg;
	size_t mlen = have ? r->data.len - b.n : strlen(r->err.msg);
	bool logged = false;
	for (size_t i = 0; i < b.n; i++) {
		if (b.idx[i] >= g->nobjs)
			continue;
		dj_gc_obj *o = &g->objs[b.idx[i]];
		int st = have ? r->data.ptr[i] : FAILED;
		if (st == FAILED) {
			g->stats.errors++;
			o->state = b.op == 'T' ? DJ_GC_ST_FAILED : o->state;
			if (b.op == 'R' || b.op == 'P')
				o->state = DJ_GC_ST_FAILED; /* the trash copy stays; next run decides */
			if (!logged && mlen && !g->delete_error[0])
				snprintf(g->delete_error, sizeof(g->delete_error), "%.*s", (int)mlen,
				         msg);
			logged = true;
			continue;
		}
		switch (b.op) {
		case 'T':
			o->state = st == MISSING ? DJ_GC_ST_MISSING : DJ_GC_ST_TOMB;
			g->stats.missing += st == MISSING;
			break;
		case 'R':
			if (st == MISSING) { /* the trash copy vanished: say so loudly */
				g->stats.errors++;
				o->state = DJ_GC_ST_FAILED;
				if (!g->delete_error[0])
					snprintf(g->delete_error, sizeof(g->delete_error),
					         "cannot restore '%s': its trash copy is gone",
					         g->arena.ptr + o->off);
				break;
			}
			o->state = DJ_GC_ST_RESTORED;
			g->stats.restored++;
			break;
		default:
			o->state = DJ_GC_ST_PURGED;
			if (!o->leftover) {
				if (o->section == 'H')
					g->stats.hash_deleted++;
				else
					g->stats.schema_deleted++;
				g->stats.bytes_freed += o->size;
			}
		}
	}
	batch_free(&b);
	return 0;
}
