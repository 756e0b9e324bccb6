/*
 * The `gcs` protocol (Google Cloud Storage, JSON API v1 with OAuth2 bearer tokens): object `key`
 * is object `location + "/" + key` in the store's bucket (formats.md §8.6: gcsfs' `loc/rel`).
 * Small writes are one media upload; larger ones, and the cooperative writer, upload parts in
 * parallel as temporary objects below `location/.djrun-parts/ID/` and publish them with
 * compose (at most 32 sources a call, so above 32 parts in rounds), then delete the parts: the
 * object appears whole at the final compose, never in part. DJ_STORE_IF_ABSENT is
 * ifGenerationMatch=0 on the call that publishes, atomic on the service. Large reads are
 * parallel ranged GETs pinned to the first answer's generation. Listings page with pageToken.
 */
#include "stores/gcs_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#define GS(st) ((dj_gcs_store *)(st))
#define DEFAULT_PART (8u << 20)
#define DELETE_BATCH 1000 /* DELETE requests prepared at a time (memory), run in parallel */
#define PART_KEY_CAP 64

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static int http_error(dj_gcs_store *gs, const dj_http_req *r, const char *what, const char *key,
                      dj_err *err)
{
	return dj_gcs__http_error(gs, r, what, key, err);
}

static int run_ok(dj_gcs_store *gs, dj_http_req *r, const char *what, const char *key, dj_err *err)
{
	int rc = dj_http__run1(&gs->http, r, what, err);
	return rc == 0 && !dj_http__ok(r) ? http_error(gs, r, what, key, err) : rc;
}

static int random_id(char out[17], dj_err *err)
{
	unsigned char b[8];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return dj_err_set(err, DJ_ERROR, "no random bytes for an upload id");
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* The store-relative key of part `number` of upload `id` (c = 0), or of an intermediate
 * composite (c = round). */
static void part_key(char out[PART_KEY_CAP], const char *id, unsigned round, uint32_t number)
{
	if (round)
		snprintf(out, PART_KEY_CAP, "%s/%s/c%u-%05u", DJ_GCS_PARTS_DIR, id, round, number);
	else
		snprintf(out, PART_KEY_CAP, "%s/%s/%05u", DJ_GCS_PARTS_DIR, id, number);
}

/* ---- head ---- */

static int head_object(dj_gcs_store *gs, const char *key, dj_store_stat *out, dj_err *err)
{
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&gs->http, &r, "GET", key, err)) < 0)
		return rc;
	r.query[r.nquery++] = (dj_http_param){"alt", "json"};
	r.query[r.nquery++] = (dj_http_param){"fields", "size,updated"};
	if ((rc = dj_http__run1(&gs->http, &r, "checking", err)) == 0) {
		if (r.status == 200) {
			out->exists = true;
			if (dj_gcs__parse_object(r.resp.ptr, r.resp.len, &out->size, &out->mtime) <
			    0)
				rc = dj_err_set(err, DJ_EFORMAT,
				                "store '%s': unreadable metadata of '%s'",
				                gs->base.name, key);
		} else if (r.status != 404 || dj_gcs__bucket_missing(&r)) {
			rc = http_error(gs, &r, "checking", key, err);
		}
	}
	dj_http__req_dispose(&r);
	return rc;
}

static int check_absent(dj_gcs_store *gs, const char *key, unsigned flags, dj_err *err)
{
	dj_store_stat st = {0};
	int rc;
	if (!(flags & DJ_STORE_IF_ABSENT))
		return 0;
	if ((rc = head_object(gs, key, &st, err)) < 0)
		return rc;
	return st.exists ? dj_err_set(err, DJ_EEXISTS, "store '%s': '%s' already exists",
	                              gs->base.name, key)
	                 : 0;
}

/* ---- listing ---- */

typedef struct list_ctx {
	dj_store_list_fn fn;
	void *payload;
	size_t strip; /* length of "location/" */
	size_t count;
} list_ctx;

static int list_item(const char *name, uint64_t size, int64_t mtime, bool is_dir, void *payload)
{
	list_ctx *c = payload;
	size_t len = strlen(name);
	dj_buf dir = DJ_BUF_INIT;
	int rc;
	c->count++;
	if (len <= c->strip)
		return 0; /* the location itself */
	if (!is_dir) {
		dj_store_entry e = {name + c->strip, size, mtime, false};
		return c->fn ? c->fn(&e, c->payload) : 0;
	}
	/* a prefix "loc/a/b/": folder "a/b" */
	if (dj_buf_add(&dir, name + c->strip, len - c->strip - (name[len - 1] == '/')) < 0)
		return DJ_ENOMEM;
	dj_store_entry e = {dir.ptr, 0, 0, true};
	rc = c->fn ? c->fn(&e, c->payload) : 0;
	dj_buf_dispose(&dir);
	return rc;
}

/* objects.list pages until done (or one page of at most max_keys when max_keys > 0); with
 * delimiter "/" when `one_level`. */
static int list_pages(dj_gcs_store *gs, const char *prefix, int max_keys, bool one_level,
                      list_ctx *c, dj_err *err)
{
	dj_buf full = DJ_BUF_INIT, token = DJ_BUF_INIT;
	char mk[16];
	bool more = true;
	int rc = 0;
	if (dj_buf_addf(&full, "%s%s%s", gs->location, *gs->location ? "/" : "", prefix) < 0)
		return nomem(err);
	snprintf(mk, sizeof(mk), "%d", max_keys > 0 ? max_keys : DJ_GCS_LIST_PAGE);
	while (more && rc == 0) {
		dj_http_req r;
		if ((rc = dj_http__req_init(&gs->http, &r, "GET", "", err)) < 0)
			break;
		r.label = prefix;
		r.query[r.nquery++] = (dj_http_param){"prefix", full.ptr};
		r.query[r.nquery++] = (dj_http_param){"maxResults", mk};
		r.query[r.nquery++] =
		    (dj_http_param){"fields", "items(name,size,updated),prefixes,nextPageToken"};
		if (token.len)
			r.query[r.nquery++] = (dj_http_param){"pageToken", token.ptr};
		if (one_level)
			r.query[r.nquery++] = (dj_http_param){"delimiter", "/"};
		if ((rc = run_ok(gs, &r, "listing", prefix, err)) == 0) {
			rc = dj_gcs__parse_list(r.resp.ptr, r.resp.len, list_item, c, &token);
			if (rc == DJ_EFORMAT || rc == DJ_ENOMEM)
				dj_err_set(err, rc, "store '%s': unreadable listing of '%s'",
				           gs->base.name, prefix);
		}
		more = token.len > 0 && max_keys <= 0;
		dj_http__req_dispose(&r);
	}
	dj_buf_dispose(&full);
	dj_buf_dispose(&token);
	return rc;
}

static size_t strip_len(const dj_gcs_store *gs)
{
	return *gs->location ? strlen(gs->location) + 1 : 0;
}

static int gcs_list(dj_store *st, const char *prefix, dj_store_list_fn fn, void *payload,
                    dj_err *err)
{
	list_ctx c = {fn, payload, strip_len(GS(st)), 0};
	return list_pages(GS(st), prefix, 0, false, &c, err);
}

static int gcs_list_dir(dj_store *st, const char *dir, dj_store_list_fn fn, void *payload,
                        dj_err *err)
{
	list_ctx c = {fn, payload, strip_len(GS(st)), 0};
	dj_buf prefix = DJ_BUF_INIT;
	int rc;
	if (dj_buf_addf(&prefix, "%s%s", dir, *dir ? "/" : "") < 0)
		return nomem(err);
	rc = list_pages(GS(st), prefix.ptr, 0, true, &c, err);
	dj_buf_dispose(&prefix);
	return rc;
}

/* A key with no object but objects below "key/" is a folder, as gcsfs says (formats.md §7). */
static int gcs_head(dj_store *st, const char *key, dj_store_stat *out, dj_err *err)
{
	dj_gcs_store *gs = GS(st);
	list_ctx c = {NULL, NULL, 0, 0};
	dj_buf dir = DJ_BUF_INIT;
	int rc;
	if ((rc = head_object(gs, key, out, err)) < 0 || out->exists)
		return rc;
	if (dj_buf_addf(&dir, "%s/", key) < 0)
		return nomem(err);
	if ((rc = list_pages(gs, dir.ptr, 1, false, &c, err)) == 0 && c.count > 0)
		out->exists = out->is_dir = true;
	dj_buf_dispose(&dir);
	return rc;
}

/* ---- deletes ---- */

static bool delete_ok(const dj_http_req *r)
{
	return dj_http__ok(r) || (r->status == 404 && !dj_gcs__bucket_missing(r));
}

static int gcs_remove(dj_store *st, const char *key, dj_err *err)
{
	dj_gcs_store *gs = GS(st);
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&gs->http, &r, "DELETE", key, err)) < 0)
		return rc;
	if ((rc = dj_http__run1(&gs->http, &r, "deleting", err)) == 0 && !delete_ok(&r))
		rc = http_error(gs, &r, "deleting", key, err);
	dj_http__req_dispose(&r);
	return rc;
}

/* The JSON API's batch endpoint needs multipart/mixed bodies; parallel DELETEs on one
 * connection pool do the same work with the engine we have. */
static int gcs_remove_many(dj_store *st, const char *const *keys, size_t n, dj_err *err)
{
	dj_gcs_store *gs = GS(st);
	int rc = 0;
	for (size_t at = 0; rc == 0 && at < n; at += DELETE_BATCH) {
		size_t k = n - at < DELETE_BATCH ? n - at : DELETE_BATCH;
		dj_http_req **v = dj_http__req_each(&gs->http, k, "DELETE", keys + at, err);
		if (!v)
			return DJ_ENOMEM;
		rc = dj_http__run(&gs->http, v, k, false, "deleting", err);
		for (size_t i = 0; rc == 0 && i < k; i++)
			if (!delete_ok(v[i]))
				rc = http_error(gs, v[i], "deleting", keys[at + i], err);
		dj_http__req_array_free(v, k);
	}
	return rc;
}

/* ---- writes ---- */

/* Media uploads of n objects keys[i] = src bytes [off_i, off_i + len_i): one request each, in
 * parallel. `if_absent` puts ifGenerationMatch=0 on each. */
static int upload_each(dj_gcs_store *gs, const char *const *keys, const dj_http_body *src,
                       uint64_t ps, size_t n, bool if_absent, const char *what, dj_err *err)
{
	dj_http_req **v = dj_http__req_each(&gs->http, n, "POST", keys, err);
	int rc;
	if (!v)
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t off = (uint64_t)i * ps;
		uint64_t len = src->size - off < ps ? src->size - off : ps;
		v[i]->query[v[i]->nquery++] = (dj_http_param){"uploadType", "media"};
		if (if_absent)
			v[i]->query[v[i]->nquery++] = (dj_http_param){"ifGenerationMatch", "0"};
		dj_http__set_body(v[i], src, off, (size_t)len);
	}
	rc = dj_http__run_all(&gs->http, v, n, what, err);
	dj_http__req_array_free(v, n);
	return rc;
}

/* Keys of parts first .. first+n-1 of upload `id` (one block; free it). */
static char **part_keys(const char *id, unsigned round, uint32_t first, size_t n)
{
	char **v = malloc((n ? n : 1) * (sizeof(char *) + PART_KEY_CAP));
	char *blk = (char *)(v + n);
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i] = blk + i * PART_KEY_CAP;
		part_key(v[i], id, round, first + (uint32_t)i);
	}
	return v;
}

static int upload_parts(dj_gcs_store *gs, const char *id, const dj_http_body *src, uint64_t ps,
                        uint32_t first, size_t n, dj_err *err)
{
	char **keys = part_keys(id, 0, first, n);
	int rc;
	if (!keys)
		return nomem(err);
	rc = upload_each(gs, (const char *const *)keys, src, ps, n, false, "uploading a part of",
	                 err);
	free(keys);
	return rc;
}

/* {"sourceObjects":[{"name": full name}...], "destination":{"contentType":...}} */
static char *compose_body(dj_gcs_store *gs, char *const *srcs, size_t n)
{
	json_t *arr = json_array(), *o;
	dj_buf name = DJ_BUF_INIT;
	char *s = NULL;
	for (size_t i = 0; arr && i < n; i++) {
		dj_buf_reset(&name);
		if (dj_buf_addf(&name, "%s%s%s", gs->location, *gs->location ? "/" : "", srcs[i]) <
		        0 ||
		    json_array_append_new(arr, json_pack("{s:s}", "name", name.ptr)) < 0)
			goto done;
	}
	o = json_pack("{s:O, s:{s:s}}", "sourceObjects", arr, "destination", "contentType",
	              "application/octet-stream");
	if (o)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
done:
	json_decref(arr);
	dj_buf_dispose(&name);
	return s;
}

/* Compose groups of at most 32 of srcs[0..n) into dests[0..ceil(n/32)), in parallel. */
static int compose_round(dj_gcs_store *gs, char *const *srcs, size_t n, char *const *dests,
                         bool if_absent, const char *label, dj_err *err)
{
	size_t k = (n + DJ_GCS_MAX_COMPOSE - 1) / DJ_GCS_MAX_COMPOSE;
	dj_http_req **v = dj_http__req_each(&gs->http, k, "POST", (const char *const *)dests, err);
	char **bodies = calloc(k ? k : 1, sizeof(*bodies));
	int rc = v && bodies ? 0 : (v ? nomem(err) : DJ_ENOMEM);
	for (size_t i = 0; rc == 0 && i < k; i++) {
		size_t at = i * DJ_GCS_MAX_COMPOSE;
		size_t m = n - at < DJ_GCS_MAX_COMPOSE ? n - at : DJ_GCS_MAX_COMPOSE;
		if (!(bodies[i] = compose_body(gs, srcs + at, m))) {
			rc = nomem(err);
			break;
		}
		v[i]->label = label;
		v[i]->body = (const uint8_t *)bodies[i];
		v[i]->body_len = strlen(bodies[i]);
		v[i]->content_type = "application/json";
		if (if_absent)
			v[i]->query[v[i]->nquery++] = (dj_http_param){"ifGenerationMatch", "0"};
	}
	if (rc == 0)
		rc = dj_http__run_all(&gs->http, v, k, "completing the upload of", err);
	for (size_t i = 0; bodies && i < k; i++)
		free(bodies[i]);
	free(bodies);
	dj_http__req_array_free(v, k);
	return rc;
}

/* Everything below .djrun-parts/ID/: the upload's parts and composites. Best effort. */
static int drop_upload(dj_gcs_store *gs, const char *id, dj_err *err);

/*
 * Publish parts 1..n of upload `id` as `key`: composites of 32 in rounds while more than 32
 * remain, then the final compose (ifGenerationMatch=0 with DJ_STORE_IF_ABSENT), then the parts
 * and composites are deleted whatever happened (the object, when published, stands alone).
 */
static int compose_parts(dj_gcs_store *gs, const char *key, const char *id, size_t n,
                         unsigned flags, dj_err *err)
{
	char **srcs = part_keys(id, 0, 1, n), **dests = NULL;
	unsigned round = 0;
	dj_err ignored = DJ_ERR_INIT;
	int rc = srcs ? 0 : nomem(err);
	while (rc == 0 && n > DJ_GCS_MAX_COMPOSE) {
		size_t k = (n + DJ_GCS_MAX_COMPOSE - 1) / DJ_GCS_MAX_COMPOSE;
		if (!(dests = part_keys(id, ++round, 1, k))) {
			rc = nomem(err);
			break;
		}
		rc = compose_round(gs, srcs, n, dests, false, key, err);
		free(srcs);
		srcs = dests, dests = NULL, n = k;
	}
	if (rc == 0) {
		char *const final[] = {(char *)key};
		rc = compose_round(gs, srcs, n, final, flags & DJ_STORE_IF_ABSENT, key, err);
	}
	free(srcs);
	drop_upload(gs, id, &ignored);
	return rc;
}

/* Part size for `size` bytes: the configured one, grown to stay within the part limit. */
static uint64_t part_size_for(const dj_gcs_store *gs, uint64_t size)
{
	uint64_t ps = gs->part_size;
	while ((size + ps - 1) / ps > DJ_STORE_MAX_PARTS)
		ps *= 2;
	return ps;
}

static int put_src(dj_gcs_store *gs, const char *key, const dj_http_body *src, unsigned flags,
                   dj_err *err)
{
	const char *const keys[] = {key};
	uint64_t ps;
	size_t n;
	char id[17];
	int rc;
	if (src->size <= gs->put_threshold)
		return upload_each(gs, keys, src, src->size ? src->size : 1, 1,
		                   flags & DJ_STORE_IF_ABSENT, "writing", err);
	/* an object that is there already costs one request, not the upload of all its parts */
	if ((rc = check_absent(gs, key, flags, err)) < 0 || (rc = random_id(id, err)) < 0)
		return rc;
	ps = part_size_for(gs, src->size);
	n = (size_t)((src->size + ps - 1) / ps);
	if ((rc = upload_parts(gs, id, src, ps, 1, n, err)) < 0) {
		dj_err ignored = DJ_ERR_INIT;
		drop_upload(gs, id, &ignored);
		return rc;
	}
	return compose_parts(gs, key, id, n, flags, err);
}

static int gcs_put(dj_store *st, const char *key, const void *p, size_t n, unsigned flags,
                   dj_err *err)
{
	dj_http_body src = {p, -1, n};
	return put_src(GS(st), key, &src, flags, err);
}

static int gcs_put_file(dj_store *st, const char *key, const char *path, unsigned flags,
                        dj_err *err)
{
	dj_http_body src;
	int rc;
	if ((rc = dj_http__body_file(&GS(st)->http, path, &src, err)) < 0)
		return rc;
	rc = put_src(GS(st), key, &src, flags, err);
	close(src.fd);
	return rc;
}

/* ---- reads: a plain GET, and above part_size parallel ranges pinned to its generation ---- */

/* Append [off, off+len) of `key` fetched as parallel ranges (generation `gen` when known). */
static int fetch_ranges(dj_gcs_store *gs, const char *key, uint64_t off, uint64_t len,
                        const char *gen, dj_buf *out, dj_err *err)
{
	size_t chunk = gs->part_size, n = (size_t)((len + chunk - 1) / chunk);
	dj_http_req **v;
	int rc;
	if (len == 0)
		return 0;
	if (len > SIZE_MAX - out->len - 1 || dj_buf_grow(out, (size_t)len) < 0)
		return dj_err_set(err, DJ_ENOMEM,
		                  "store '%s': '%s': %llu bytes do not fit in memory",
		                  gs->base.name, key, (unsigned long long)len);
	if (!(v = dj_http__req_array(&gs->http, n, "GET", key, err)))
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t a = off + i * chunk, k = len - i * chunk < chunk ? len - i * chunk : chunk;
		snprintf(v[i]->range, sizeof(v[i]->range), "bytes=%llu-%llu", (unsigned long long)a,
		         (unsigned long long)(a + k - 1));
		if (*gen)
			v[i]->query[v[i]->nquery++] = (dj_http_param){"ifGenerationMatch", gen};
		v[i]->data_at = (uint8_t *)out->ptr + out->len + i * chunk;
		v[i]->data_cap = (size_t)k;
	}
	rc = dj_http__run_all(&gs->http, v, n, "reading", err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (v[i]->data_len != v[i]->data_cap)
			rc = dj_err_set(err, DJ_ECONFLICT,
			                "store '%s': '%s' changed while reading it", gs->base.name,
			                key);
	if (rc == 0)
		dj_buf_setlen(out, out->len + (size_t)len);
	dj_http__req_array_free(v, n);
	return rc;
}

static int gcs_get(dj_store *st, const char *key, dj_buf *out, dj_err *err)
{
	dj_gcs_store *gs = GS(st);
	dj_http_req r;
	char gen[64];
	int rc;
	if ((rc = dj_http__req_init(&gs->http, &r, "GET", key, err)) < 0)
		return rc;
	r.data_buf = out;
	r.abort_above = gs->part_size;
	if ((rc = dj_http__run1(&gs->http, &r, "reading", err)) == 0) {
		if (r.too_big) {
			snprintf(gen, sizeof(gen), "%s", r.code);
			rc = fetch_ranges(gs, key, 0, r.content_length, gen, out, err);
		} else if (!dj_http__ok(&r)) {
			rc = http_error(gs, &r, "reading", key, err);
		}
	}
	dj_http__req_dispose(&r);
	return rc;
}

/* A server that ignores Range (or, like the emulator, answers an unsatisfiable one with the
 * whole object) sent everything at out[base..]: keep [off, off+n). */
static void keep_slice(dj_buf *out, size_t base, uint64_t off, size_t n)
{
	size_t have = out->len - base, from = off < have ? (size_t)off : have;
	size_t k = n && n < have - from ? n : have - from;
	memmove(out->ptr + base, out->ptr + base + from, k);
	dj_buf_setlen(out, base + k);
}

static int gcs_get_range(dj_store *st, const char *key, uint64_t off, size_t n, dj_buf *out,
                         dj_err *err)
{
	dj_gcs_store *gs = GS(st);
	uint64_t first = n && n < gs->part_size ? n : gs->part_size, end;
	size_t base = out->len;
	dj_http_req r;
	char gen[64];
	int rc;
	if (off == 0 && n == 0) /* the whole object: no Range header, so empty objects work too */
		return gcs_get(st, key, out, err);
	if ((rc = dj_http__req_init(&gs->http, &r, "GET", key, err)) < 0)
		return rc;
	snprintf(r.range, sizeof(r.range), "bytes=%llu-%llu", (unsigned long long)off,
	         (unsigned long long)(off + first - 1));
	r.data_buf = out;
	if ((rc = dj_http__run1(&gs->http, &r, "reading", err)) < 0 || r.status == 416) {
		/* 416: off is at or past the end: no bytes */
	} else if (r.status == 200) {
		keep_slice(out, base, off, n);
	} else if (r.status != 206 || !r.have_total) {
		rc = http_error(gs, &r, "reading", key, err);
	} else {
		end = n && off + n < r.total ? off + n : r.total;
		snprintf(gen, sizeof(gen), "%s", r.code);
		if (off + r.data_len < end)
			rc = fetch_ranges(gs, key, off + r.data_len, end - off - r.data_len, gen,
			                  out, err);
	}
	dj_http__req_dispose(&r);
	return rc;
}

/* ---- cooperative writer: parts as temporary objects from any process, compose ---- */

typedef struct keys_ctx {
	char **v;
	size_t n, cap;
} keys_ctx;

static int collect_key(const dj_store_entry *e, void *payload)
{
	keys_ctx *k = payload;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 64;
		char **v = realloc(k->v, cap * sizeof(*v));
		if (!v)
			return DJ_ENOMEM;
		k->v = v, k->cap = cap;
	}
	if (!(k->v[k->n] = strdup(e->key)))
		return DJ_ENOMEM;
	k->n++;
	return 0;
}

static int drop_upload(dj_gcs_store *gs, const char *id, dj_err *err)
{
	keys_ctx k = {NULL, 0, 0};
	list_ctx c = {collect_key, &k, strip_len(gs), 0};
	char prefix[PART_KEY_CAP];
	int rc;
	snprintf(prefix, sizeof(prefix), "%s/%s/", DJ_GCS_PARTS_DIR, id);
	if ((rc = list_pages(gs, prefix, 0, false, &c, err)) == 0 && k.n)
		rc = gcs_remove_many(&gs->base, (const char *const *)k.v, k.n, err);
	for (size_t i = 0; i < k.n; i++)
		free(k.v[i]);
	free(k.v);
	return rc;
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	return n > 0 && n <= 32 && strspn(id, "0123456789abcdef") == n;
}

static int bad_id(dj_gcs_store *gs, const dj_store_writer *w, dj_err *err)
{
	return dj_err_set(err, DJ_EUSAGE, "store '%s': upload '%s': bad upload id", gs->base.name,
	                  w->key);
}

static int gcs_writer_create(dj_store *st, dj_store_writer *w, dj_err *err)
{
	dj_gcs_store *gs = GS(st);
	char id[17];
	int rc;
	if ((rc = check_absent(gs, w->key, w->flags, err)) < 0 || (rc = random_id(id, err)) < 0)
		return rc;
	if (!(w->id = strdup(id)))
		return nomem(err);
	return 0;
}

static int gcs_writer_part(dj_store *st, const dj_store_writer *w, uint32_t number, const void *p,
                           size_t n, dj_store_part *out, dj_err *err)
{
	dj_http_body src = {p, -1, n};
	int rc;
	if (!valid_id(w->id))
		return bad_id(GS(st), w, err);
	rc = upload_parts(GS(st), w->id, &src, w->part_size, number, 1, err);
	if (rc == 0)
		*out = (dj_store_part){number, n, {0}};
	return rc;
}

static int gcs_writer_complete(dj_store *st, const dj_store_writer *w, const dj_store_part *parts,
                               size_t nparts, dj_err *err)
{
	(void)parts; /* checked by the wrapper: numbers 1..nparts, sizes consistent */
	if (!valid_id(w->id))
		return bad_id(GS(st), w, err);
	return compose_parts(GS(st), w->key, w->id, nparts, w->flags, err);
}

static int gcs_writer_abort(dj_store *st, const dj_store_writer *w, dj_err *err)
{
	if (!valid_id(w->id))
		return bad_id(GS(st), w, err);
	return drop_upload(GS(st), w->id, err);
}

/* ---- open / close ---- */

static void gcs_close(dj_store *st)
{
	dj_gcs_store *gs = GS(st);
	dj_http__dispose(&gs->http);
	dj_gcs__auth_free(gs->auth);
	dj_buf_dispose(&gs->token);
	free(gs->base_url);
	free(gs->bucket);
	free(gs->location);
	free(gs);
}

static int gcs_setup(dj_gcs_store *gs, const dj_store_spec *spec, const dj_store_opts *o,
                     dj_err *err)
{
	int rc;
	if (!spec->bucket || !*spec->bucket)
		return dj_err_set(err, DJ_EUSAGE, "gcs store needs a bucket");
	if ((rc = dj_gcs__endpoint(&gs->base_url, spec->endpoint, err)) < 0 ||
	    (rc = dj_gcs__auth_new(&gs->auth, spec->name, spec->token, spec->credentials_file,
	                           spec->metadata_host, o->connect_timeout_ms, err)) < 0)
		return rc;
	if (!(gs->bucket = strdup(spec->bucket)) ||
	    !(gs->location = strdup(spec->location ? spec->location : "")))
		return nomem(err);
	gs->part_size = o->part_size ? o->part_size : DEFAULT_PART;
	gs->put_threshold = o->multipart_threshold ? o->multipart_threshold : 2 * gs->part_size;
	if ((rc = dj_http__init(&gs->http, o, err)) < 0)
		return rc;
	gs->http.store = gs->base.name;
	gs->http.base = gs->base_url;
	gs->http.location = gs->location;
	gs->http.code_header = "x-goog-generation"; /* errors are JSON bodies: see gcs_internal.h */
	gs->http.owner = gs;
	gs->http.prepare = dj_gcs__prepare;
	gs->http.retry = dj_gcs__retry;
	gs->http.http_error = dj_gcs__http_error;
	return 0;
}

static int gcs_open(dj_store **out, const dj_store_spec *spec, const dj_store_opts *o, dj_err *err)
{
	dj_gcs_store *gs = calloc(1, sizeof(*gs));
	int rc;
	if (!gs)
		return nomem(err);
	/* the name is set by dj_store_open after this returns; messages from here need it now */
	snprintf(gs->base.name, sizeof(gs->base.name), "%s", spec->name ? spec->name : "?");
	if ((rc = gcs_setup(gs, spec, o, err)) < 0) {
		dj_err_context(err, "store '%s'", spec->name ? spec->name : "?");
		gcs_close(&gs->base);
		return rc;
	}
	*out = &gs->base;
	return 0;
}

const dj_store_ops dj_store_gcs_ops = {
    .scheme = "gcs",
    .open = gcs_open,
    .close = gcs_close,
    .put = gcs_put,
    .put_file = gcs_put_file,
    .get = gcs_get,
    .get_range = gcs_get_range,
    .head = gcs_head,
    .list = gcs_list,
    .remove = gcs_remove,
    .remove_many = gcs_remove_many,
    .writer_create = gcs_writer_create,
    .writer_part = gcs_writer_part,
    .writer_complete = gcs_writer_complete,
    .writer_abort = gcs_writer_abort,
    .list_dir = gcs_list_dir,
    .copy_many = dj_gcs__copy_many,
};
