/*
 * The `azure` protocol (Azure Blob storage, REST with SharedKey): object `key` is block blob
 * `location + "/" + key` in the store's container (formats.md §8.6: adlfs' `loc/rel`). Writes
 * are one Put Blob, or above the threshold blocks sent in parallel and committed with Put Block
 * List; uncommitted blocks are invisible, so a reader never sees a part (formats.md §10.2).
 * Large reads are parallel ranged GETs pinned to the first answer's ETag. Listings page with
 * List Blobs markers.
 */
#include "stores/azure_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#define AZ(st) ((dj_azure_store *)(st))
#define DEFAULT_PART (8u << 20)
#define DELETE_BATCH 1000 /* DELETE requests prepared at a time (memory), run in parallel */
#define BLOCK_ID_CAP 48

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static int http_error(dj_azure_store *az, const dj_http_req *r, const char *what, const char *key,
                      dj_err *err)
{
	return dj_azure__http_error(az, r, what, key, err);
}

/* Run one request that must succeed. */
static int run_ok(dj_azure_store *az, dj_http_req *r, const char *what, const char *key,
                  dj_err *err)
{
	int rc = dj_http__run1(&az->http, r, what, err);
	return rc == 0 && !dj_http__ok(r) ? http_error(az, r, what, key, err) : rc;
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

/* ---- head ---- */

static int head_object(dj_azure_store *az, const char *key, dj_store_stat *out, dj_err *err)
{
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&az->http, &r, "HEAD", key, err)) < 0)
		return rc;
	if ((rc = dj_http__run1(&az->http, &r, "checking", err)) == 0) {
		if (r.status == 200) {
			out->exists = true;
			out->size = r.content_length;
			out->mtime = r.mtime > 0 ? r.mtime : 0;
		} else if (r.status != 404 || !strcmp(r.code, "ContainerNotFound")) {
			rc = http_error(az, &r, "checking", key, err);
		}
	}
	dj_http__req_dispose(&r);
	return rc;
}

static int exists_err(dj_azure_store *az, const char *key, dj_err *err)
{
	return dj_err_set(err, DJ_EEXISTS, "store '%s': '%s' already exists", az->base.name, key);
}

static int check_absent(dj_azure_store *az, const char *key, unsigned flags, dj_err *err)
{
	dj_store_stat st = {0};
	int rc;
	if (!(flags & DJ_STORE_IF_ABSENT))
		return 0;
	if ((rc = head_object(az, key, &st, err)) < 0)
		return rc;
	return st.exists ? exists_err(az, key, err) : 0;
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
		dj_store_entry e = {name + c->strip, size, mtime > 0 ? mtime : 0, false};
		return c->fn ? c->fn(&e, c->payload) : 0;
	}
	/* a <BlobPrefix> "loc/a/b/": folder "a/b" */
	if (dj_buf_add(&dir, name + c->strip, len - c->strip - (name[len - 1] == '/')) < 0)
		return DJ_ENOMEM;
	dj_store_entry e = {dir.ptr, 0, 0, true};
	rc = c->fn ? c->fn(&e, c->payload) : 0;
	dj_buf_dispose(&dir);
	return rc;
}

/* List Blobs pages until done (or one page of at most max_keys when max_keys > 0); with a
 * delimiter "/" when `one_level`. */
static int list_pages(dj_azure_store *az, const char *prefix, int max_keys, bool one_level,
                      list_ctx *c, dj_err *err)
{
	dj_buf full = DJ_BUF_INIT, marker = DJ_BUF_INIT;
	char mk[16];
	bool more = true;
	int rc = 0;
	if (dj_buf_addf(&full, "%s%s%s", az->location, *az->location ? "/" : "", prefix) < 0)
		return nomem(err);
	snprintf(mk, sizeof(mk), "%d", max_keys > 0 ? max_keys : DJ_AZURE_LIST_PAGE);
	while (more && rc == 0) {
		dj_http_req r;
		if ((rc = dj_http__req_init(&az->http, &r, "GET", "", err)) < 0)
			break;
		r.label = prefix;
		r.query[r.nquery++] = (dj_http_param){"restype", "container"};
		r.query[r.nquery++] = (dj_http_param){"comp", "list"};
		r.query[r.nquery++] = (dj_http_param){"prefix", full.ptr};
		r.query[r.nquery++] = (dj_http_param){"maxresults", mk};
		if (marker.len)
			r.query[r.nquery++] = (dj_http_param){"marker", marker.ptr};
		if (one_level)
			r.query[r.nquery++] = (dj_http_param){"delimiter", "/"};
		if ((rc = run_ok(az, &r, "listing", prefix, err)) == 0) {
			rc = dj_azure__parse_list(r.resp.ptr, r.resp.len, list_item, c, &marker);
			if (rc == DJ_EFORMAT || rc == DJ_ENOMEM)
				dj_err_set(err, rc, "store '%s': unreadable listing of '%s'",
				           az->base.name, prefix);
		}
		more = marker.len > 0 && max_keys <= 0;
		dj_http__req_dispose(&r);
	}
	dj_buf_dispose(&full);
	dj_buf_dispose(&marker);
	return rc;
}

static int az_list(dj_store *st, const char *prefix, dj_store_list_fn fn, void *payload,
                   dj_err *err)
{
	dj_azure_store *az = AZ(st);
	list_ctx c = {fn, payload, *az->location ? strlen(az->location) + 1 : 0, 0};
	return list_pages(az, prefix, 0, false, &c, err);
}

static int az_list_dir(dj_store *st, const char *dir, dj_store_list_fn fn, void *payload,
                       dj_err *err)
{
	dj_azure_store *az = AZ(st);
	list_ctx c = {fn, payload, *az->location ? strlen(az->location) + 1 : 0, 0};
	dj_buf prefix = DJ_BUF_INIT;
	int rc;
	if (dj_buf_addf(&prefix, "%s%s", dir, *dir ? "/" : "") < 0)
		return nomem(err);
	rc = list_pages(az, prefix.ptr, 0, true, &c, err);
	dj_buf_dispose(&prefix);
	return rc;
}

/* A key with no blob but blobs below "key/" is a folder, as adlfs says (formats.md §7). */
static int az_head(dj_store *st, const char *key, dj_store_stat *out, dj_err *err)
{
	dj_azure_store *az = AZ(st);
	list_ctx c = {NULL, NULL, 0, 0};
	dj_buf dir = DJ_BUF_INIT;
	int rc;
	if ((rc = head_object(az, key, out, err)) < 0 || out->exists)
		return rc;
	if (dj_buf_addf(&dir, "%s/", key) < 0)
		return nomem(err);
	if ((rc = list_pages(az, dir.ptr, 1, false, &c, err)) == 0 && c.count > 0)
		out->exists = out->is_dir = true;
	dj_buf_dispose(&dir);
	return rc;
}

/* ---- writes ---- */

static int put_blob(dj_azure_store *az, const char *key, const dj_http_body *src, unsigned flags,
                    dj_err *err)
{
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&az->http, &r, "PUT", key, err)) < 0)
		return rc;
	dj_http__set_body(&r, src, 0, (size_t)src->size);
	if (flags & DJ_STORE_IF_ABSENT) /* atomic on the service: 409 when the blob exists */
		strcpy(r.if_none_match, "*");
	rc = run_ok(az, &r, "writing", key, err);
	dj_http__req_dispose(&r);
	return rc;
}

/* Put Block for parts first .. first+n-1 of upload `id`: part i = bytes [i*ps, ...) of src. */
static int put_blocks(dj_azure_store *az, const char *key, const char *id, const dj_http_body *src,
                      uint64_t ps, uint32_t first, size_t n, dj_err *err)
{
	dj_http_req **v = dj_http__req_array(&az->http, n, "PUT", key, err);
	char(*ids)[BLOCK_ID_CAP] = calloc(n ? n : 1, sizeof(*ids));
	int rc = v && ids ? 0 : (v ? nomem(err) : DJ_ENOMEM);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint64_t off = (uint64_t)i * ps;
		uint64_t len = src->size - off < ps ? src->size - off : ps;
		if (dj_azure__block_id(ids[i], sizeof(ids[i]), id, first + (uint32_t)i) < 0)
			rc = dj_err_set(err, DJ_EUSAGE, "store '%s': bad upload id for '%s'",
			                az->base.name, key);
		v[i]->query[v[i]->nquery++] = (dj_http_param){"comp", "block"};
		v[i]->query[v[i]->nquery++] = (dj_http_param){"blockid", ids[i]};
		dj_http__set_body(v[i], src, off, (size_t)len);
	}
	if (rc == 0)
		rc = dj_http__run_all(&az->http, v, n, "uploading a block of", err);
	free(ids);
	dj_http__req_array_free(v, n);
	return rc;
}

static int block_list_xml(dj_buf *b, const char *id, size_t n)
{
	char bid[BLOCK_ID_CAP];
	if (dj_buf_adds(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>") < 0)
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (dj_azure__block_id(bid, sizeof(bid), id, (uint32_t)i + 1) < 0 ||
		    dj_buf_addf(b, "<Latest>%s</Latest>", bid) < 0)
			return DJ_ENOMEM;
	return dj_buf_adds(b, "</BlockList>");
}

/* Put Block List of parts 1..n: the blob appears whole, or not at all. */
static int commit_blocks(dj_azure_store *az, const char *key, const char *id, size_t n,
                         unsigned flags, dj_err *err)
{
	dj_buf body = DJ_BUF_INIT;
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&az->http, &r, "PUT", key, err)) < 0)
		return rc;
	if (block_list_xml(&body, id, n) < 0) {
		rc = nomem(err);
		goto done;
	}
	r.query[r.nquery++] = (dj_http_param){"comp", "blocklist"};
	r.body = (const uint8_t *)body.ptr;
	r.body_len = body.len;
	if (flags & DJ_STORE_IF_ABSENT)
		strcpy(r.if_none_match, "*");
	rc = run_ok(az, &r, "completing the upload of", key, err);
done:
	dj_buf_dispose(&body);
	dj_http__req_dispose(&r);
	return rc;
}

/* Part size for `size` bytes: the configured one, grown to stay within the part limit. */
static uint64_t part_size_for(const dj_azure_store *az, uint64_t size)
{
	uint64_t ps = az->part_size;
	while ((size + ps - 1) / ps > DJ_STORE_MAX_PARTS)
		ps *= 2;
	return ps;
}

static int put_src(dj_azure_store *az, const char *key, const dj_http_body *src, unsigned flags,
                   dj_err *err)
{
	uint64_t ps;
	char id[17];
	int rc;
	if (src->size <= az->put_threshold)
		return put_blob(az, key, src, flags, err);
	/* a blob that is there already costs one HEAD, not the upload of all its blocks */
	if ((rc = check_absent(az, key, flags, err)) < 0 || (rc = random_id(id, err)) < 0)
		return rc;
	ps = part_size_for(az, src->size);
	if ((rc = put_blocks(az, key, id, src, ps, 1, (size_t)((src->size + ps - 1) / ps), err)) <
	    0)
		return rc; /* uncommitted blocks are invisible and expire on the service */
	return commit_blocks(az, key, id, (size_t)((src->size + ps - 1) / ps), flags, err);
}

static int az_put(dj_store *st, const char *key, const void *p, size_t n, unsigned flags,
                  dj_err *err)
{
	dj_http_body src = {p, -1, n};
	return put_src(AZ(st), key, &src, flags, err);
}

static int az_put_file(dj_store *st, const char *key, const char *path, unsigned flags, dj_err *err)
{
	dj_http_body src;
	int rc;
	if ((rc = dj_http__body_file(&AZ(st)->http, path, &src, err)) < 0)
		return rc;
	rc = put_src(AZ(st), key, &src, flags, err);
	close(src.fd);
	return rc;
}

/* ---- reads ---- */

static int az_get(dj_store *st, const char *key, dj_buf *out, dj_err *err)
{
	return dj_http__get(&AZ(st)->http, key, AZ(st)->part_size, out, err);
}

static int az_get_range(dj_store *st, const char *key, uint64_t off, size_t n, dj_buf *out,
                        dj_err *err)
{
	return dj_http__get_range(&AZ(st)->http, key, off, n, AZ(st)->part_size, out, err);
}

/* ---- deletes ---- */

static int az_remove(dj_store *st, const char *key, dj_err *err)
{
	dj_azure_store *az = AZ(st);
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&az->http, &r, "DELETE", key, err)) < 0)
		return rc;
	if ((rc = dj_http__run1(&az->http, &r, "deleting", err)) == 0 && !dj_http__ok(&r) &&
	    (r.status != 404 || !strcmp(r.code, "ContainerNotFound")))
		rc = http_error(az, &r, "deleting", key, err);
	dj_http__req_dispose(&r);
	return rc;
}

/* Blob Batch would need multipart/mixed bodies; parallel DELETEs on one connection pool do the
 * same work with the engine we have. */
static int az_remove_many(dj_store *st, const char *const *keys, size_t n, dj_err *err)
{
	dj_azure_store *az = AZ(st);
	int rc = 0;
	for (size_t at = 0; rc == 0 && at < n; at += DELETE_BATCH) {
		size_t k = n - at < DELETE_BATCH ? n - at : DELETE_BATCH;
		dj_http_req **v = dj_http__req_each(&az->http, k, "DELETE", keys + at, err);
		if (!v)
			return DJ_ENOMEM;
		rc = dj_http__run(&az->http, v, k, false, "deleting", err);
		for (size_t i = 0; rc == 0 && i < k; i++)
			if (!dj_http__ok(v[i]) &&
			    (v[i]->status != 404 || !strcmp(v[i]->code, "ContainerNotFound")))
				rc = http_error(az, v[i], "deleting", keys[at + i], err);
		dj_http__req_array_free(v, k);
	}
	return rc;
}

/* ---- cooperative writer: blocks from any process, one Put Block List ---- */

static int az_writer_create(dj_store *st, dj_store_writer *w, dj_err *err)
{
	dj_azure_store *az = AZ(st);
	char id[17];
	int rc;
	if (w->part_size > DJ_AZURE_MAX_BLOCK)
		return dj_err_set(err, DJ_EUSAGE,
		                  "store '%s': upload '%s': azure blocks are at most 4000 MiB, not "
		                  "%llu bytes",
		                  st->name, w->key, (unsigned long long)w->part_size);
	if ((rc = check_absent(az, w->key, w->flags, err)) < 0 || (rc = random_id(id, err)) < 0)
		return rc;
	if (!(w->id = strdup(id)))
		return nomem(err);
	return 0;
}

static int az_writer_part(dj_store *st, const dj_store_writer *w, uint32_t number, const void *p,
                          size_t n, dj_store_part *out, dj_err *err)
{
	dj_http_body src = {p, -1, n};
	int rc = put_blocks(AZ(st), w->key, w->id, &src, w->part_size, number, 1, err);
	if (rc == 0)
		*out = (dj_store_part){number, n, {0}};
	return rc;
}

static int az_writer_complete(dj_store *st, const dj_store_writer *w, const dj_store_part *parts,
                              size_t nparts, dj_err *err)
{
	(void)parts; /* checked by the wrapper: numbers 1..nparts, sizes consistent */
	return commit_blocks(AZ(st), w->key, w->id, nparts, w->flags, err);
}

/* Azure has no call to drop uncommitted blocks: they stay invisible and the service deletes
 * them after a week, or drops them at the blob's next commit. */
static int az_writer_abort(dj_store *st, const dj_store_writer *w, dj_err *err)
{
	(void)st, (void)w, (void)err;
	return 0;
}

/* ---- container (tests and benchmarks) ---- */

int dj_azure__create_container(dj_store *st, dj_err *err)
{
	dj_azure_store *az = AZ(st);
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&az->http, &r, "PUT", "", err)) < 0)
		return rc;
	r.label = az->container;
	r.query[r.nquery++] = (dj_http_param){"restype", "container"};
	if ((rc = dj_http__run1(&az->http, &r, "creating container", err)) == 0 &&
	    !dj_http__ok(&r) && !(r.status == 409 && !strcmp(r.code, "ContainerAlreadyExists")))
		rc = http_error(az, &r, "creating container", az->container, err);
	dj_http__req_dispose(&r);
	return rc;
}

/* ---- open / close ---- */

static void az_close(dj_store *st)
{
	dj_azure_store *az = AZ(st);
	dj_http__dispose(&az->http);
	dj_azure__account_dispose(&az->acct);
	free(az->container);
	free(az->location);
	free(az->path_base);
	free(az);
}

static int az_setup(dj_azure_store *az, const dj_store_spec *spec, const dj_store_opts *o,
                    dj_err *err)
{
	dj_buf pb = DJ_BUF_INIT;
	int rc;
	if (!spec->container || !*spec->container)
		return dj_err_set(err, DJ_EUSAGE, "azure store needs a container");
	if ((rc = dj_azure__account(&az->acct, spec->connection_string, spec->account_name,
	                            spec->account_key, spec->endpoint, err)) < 0)
		return rc;
	if (!(az->container = strdup(spec->container)) ||
	    !(az->location = strdup(spec->location ? spec->location : "")) ||
	    dj_buf_addf(&pb, "%s/%s", az->acct.path, spec->container) < 0 ||
	    !(az->path_base = dj_buf_take(&pb, NULL)))
		return nomem(err);
	az->part_size = o->part_size ? o->part_size : DEFAULT_PART;
	if (az->part_size > DJ_AZURE_MAX_BLOCK)
		az->part_size = DJ_AZURE_MAX_BLOCK;
	az->put_threshold = o->multipart_threshold ? o->multipart_threshold : 2 * az->part_size;
	if (az->put_threshold > DJ_AZURE_MAX_PUT)
		az->put_threshold = DJ_AZURE_MAX_PUT;
	if ((rc = dj_http__init(&az->http, o, err)) < 0)
		return rc;
	az->http.store = az->base.name;
	az->http.base = az->acct.base;
	az->http.location = az->location;
	az->http.code_header = "x-ms-error-code";
	az->http.owner = az;
	az->http.prepare = dj_azure__prepare;
	az->http.http_error = dj_azure__http_error;
	return 0;
}

static int az_open(dj_store **out, const dj_store_spec *spec, const dj_store_opts *o, dj_err *err)
{
	dj_azure_store *az = calloc(1, sizeof(*az));
	int rc;
	if (!az)
		return nomem(err);
	if ((rc = az_setup(az, spec, o, err)) < 0) {
		dj_err_context(err, "store '%s'", spec->name ? spec->name : "?");
		az_close(&az->base);
		return rc;
	}
	*out = &az->base;
	return 0;
}

const dj_store_ops dj_store_azure_ops = {
    .scheme = "azure",
    .open = az_open,
    .close = az_close,
    .put = az_put,
    .put_file = az_put_file,
    .get = az_get,
    .get_range = az_get_range,
    .head = az_head,
    .list = az_list,
    .remove = az_remove,
    .remove_many = az_remove_many,
    .writer_create = az_writer_create,
    .writer_part = az_writer_part,
    .writer_complete = az_writer_complete,
    .writer_abort = az_writer_abort,
    .list_dir = az_list_dir,
};
