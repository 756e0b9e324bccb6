/*
 * The `s3` protocol: object `key` is bucket object `location + "/" + key` (formats.md §8.6),
 * addressed path-style on non-AWS endpoints as botocore does. Writes are single PUTs, or
 * multipart uploads with parts sent in parallel above the threshold (formats.md §10.2: no
 * temporary names on cloud stores; an unfinished multipart upload is invisible). Large reads are
 * parallel ranged GETs pinned to the first answer's ETag with If-Match.
 */
#include "stores/s3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "codecs/hash.h"

#define S3(st) ((dj_s3_store *)(st))
#define DEFAULT_PART (8u << 20)

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

/* ---- head / exists ---- */

static int head_object(dj_s3_store *s3, const char *key, dj_store_stat *out, dj_err *err)
{
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&s3->http, &r, "HEAD", key, err)) < 0)
		return rc;
	if ((rc = dj_http__run1(&s3->http, &r, "checking", err)) == 0) {
		if (r.status == 200) {
			out->exists = true;
			out->size = r.content_length;
			out->mtime = r.mtime > 0 ? r.mtime : 0;
		} else if (r.status != 404) {
			rc = dj_s3__http_error(s3, &r, "checking", key, err);
		}
	}
	dj_http__req_dispose(&r);
	return rc;
}

static int exists_err(dj_s3_store *s3, const char *key, dj_err *err)
{
	return dj_err_set(err, DJ_EEXISTS, "store '%s': '%s' already exists", s3->base.name, key);
}

/* DJ_STORE_IF_ABSENT: datajoint-python checks existence, then writes (formats.md §5.2). */
static int check_absent(dj_s3_store *s3, const char *key, unsigned flags, dj_err *err)
{
	dj_store_stat st = {0};
	int rc;
	if (!(flags & DJ_STORE_IF_ABSENT))
		return 0;
	if ((rc = head_object(s3, key, &st, err)) < 0)
		return rc;
	return st.exists ? exists_err(s3, key, err) : 0;
}

/* ---- listing ---- */

typedef struct list_ctx {
	dj_s3_store *s3;
	dj_store_list_fn fn;
	void *payload;
	size_t strip; /* length of "location/" */
	size_t count;
} list_ctx;

static int list_item(const char *key, uint64_t size, int64_t mtime, bool is_dir, void *payload)
{
	list_ctx *c = payload;
	size_t len = strlen(key);
	dj_buf dir = DJ_BUF_INIT;
	int rc;
	c->count++;
	if (len <= c->strip)
		return 0; /* the location itself as a "directory marker" object */
	if (!is_dir) {
		dj_store_entry e = {key + c->strip, size, mtime > 0 ? mtime : 0, false};
		return c->fn ? c->fn(&e, c->payload) : 0;
	}
	/* a common prefix "loc/a/b/": folder "a/b" */
	if (dj_buf_add(&dir, key + c->strip, len - c->strip - (key[len - 1] == '/')) < 0)
		return DJ_ENOMEM;
	dj_store_entry e = {dir.ptr, 0, 0, true};
	rc = c->fn ? c->fn(&e, c->payload) : 0;
	dj_buf_dispose(&dir);
	return rc;
}

/* ListObjectsV2 pages until done (or one page of at most max_keys when max_keys > 0); with a
 * delimiter "/" when `one_level`. */
static int list_pages_after(dj_s3_store *s3, const char *prefix, const char *after, int max_keys,
                            bool one_level, list_ctx *c, dj_err *err);

static int list_pages(dj_s3_store *s3, const char *prefix, int max_keys, bool one_level,
                      list_ctx *c, dj_err *err)
{
	return list_pages_after(s3, prefix, NULL, max_keys, one_level, c, err);
}

/* As list_pages, keys after `after` only (S3 start-after; NULL = from the start). */
static int list_pages_after(dj_s3_store *s3, const char *prefix, const char *after, int max_keys,
                            bool one_level, list_ctx *c, dj_err *err)
{
	dj_buf full = DJ_BUF_INIT, token = DJ_BUF_INIT, start = DJ_BUF_INIT;
	char mk[16];
	bool more = true;
	int rc = 0;
	if (dj_buf_addf(&full, "%s%s%s", s3->location, *s3->location ? "/" : "", prefix) < 0 ||
	    (after && dj_buf_addf(&start, "%s%s%s", s3->location, *s3->location ? "/" : "",
	                          after) < 0)) {
		dj_buf_dispose(&full);
		dj_buf_dispose(&start);
		return nomem(err);
	}
	snprintf(mk, sizeof(mk), "%d", max_keys > 0 ? max_keys : 1000);
	while (more && rc == 0) {
		dj_http_req r;
		if ((rc = dj_http__req_init(&s3->http, &r, "GET", "", err)) < 0)
			break;
		r.label = prefix;
		r.query[r.nquery++] = (dj_http_param){"list-type", "2"};
		r.query[r.nquery++] = (dj_http_param){"prefix", full.ptr};
		r.query[r.nquery++] = (dj_http_param){token.len ? "continuation-token" : "max-keys",
		                                      token.len ? token.ptr : mk};
		if (one_level)
			r.query[r.nquery++] = (dj_http_param){"delimiter", "/"};
		if (after && !token.len)
			r.query[r.nquery++] = (dj_http_param){"start-after", start.ptr};
		if ((rc = dj_http__run1(&s3->http, &r, "listing", err)) == 0 && !dj_http__ok(&r))
			rc = dj_s3__http_error(s3, &r, "listing", prefix, err);
		if (rc == 0) {
			rc = dj_s3__parse_list(r.resp.ptr, r.resp.len, list_item, c, &more, &token);
			if (rc == DJ_EFORMAT || rc == DJ_ENOMEM)
				dj_err_set(err, rc, "store '%s': unreadable listing of '%s'",
				           s3->base.name, prefix);
		}
		more = more && max_keys <= 0;
		dj_http__req_dispose(&r);
	}
	dj_buf_dispose(&full);
	dj_buf_dispose(&token);
	dj_buf_dispose(&start);
	return rc;
}

static int s3_list_after(dj_store *st, const char *prefix, const char *after, dj_store_list_fn fn,
                         void *payload, dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	list_ctx c = {s3, fn, payload, *s3->location ? strlen(s3->location) + 1 : 0, 0};
	return list_pages_after(s3, prefix, after, 0, false, &c, err);
}

static int s3_list(dj_store *st, const char *prefix, dj_store_list_fn fn, void *payload,
                   dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	list_ctx c = {s3, fn, payload, *s3->location ? strlen(s3->location) + 1 : 0, 0};
	return list_pages(s3, prefix, 0, false, &c, err);
}

static int s3_list_dir(dj_store *st, const char *dir, dj_store_list_fn fn, void *payload,
                       dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	list_ctx c = {s3, fn, payload, *s3->location ? strlen(s3->location) + 1 : 0, 0};
	dj_buf prefix = DJ_BUF_INIT;
	int rc;
	if (dj_buf_addf(&prefix, "%s%s", dir, *dir ? "/" : "") < 0)
		return nomem(err);
	rc = list_pages(s3, prefix.ptr, 0, true, &c, err);
	dj_buf_dispose(&prefix);
	return rc;
}

/* A key with no object but objects below "key/" is a folder, as s3fs says (formats.md §7). */
static int s3_head(dj_store *st, const char *key, dj_store_stat *out, dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	list_ctx c = {s3, NULL, NULL, 0, 0};
	dj_buf dir = DJ_BUF_INIT;
	int rc;
	if ((rc = head_object(s3, key, out, err)) < 0 || out->exists)
		return rc;
	if (dj_buf_addf(&dir, "%s/", key) < 0)
		return nomem(err);
	if ((rc = list_pages(s3, dir.ptr, 1, false, &c, err)) == 0 && c.count > 0)
		out->exists = out->is_dir = true;
	dj_buf_dispose(&dir);
	return rc;
}

/* ---- writes ---- */

static int single_put(dj_s3_store *s3, const char *key, const dj_http_body *src, dj_err *err)
{
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&s3->http, &r, "PUT", key, err)) < 0)
		return rc;
	dj_http__set_body(&r, src, 0, (size_t)src->size);
	if ((rc = dj_http__run1(&s3->http, &r, "writing", err)) == 0 && !dj_http__ok(&r))
		rc = dj_s3__http_error(s3, &r, "writing", key, err);
	dj_http__req_dispose(&r);
	return rc;
}

static int create_upload(dj_s3_store *s3, const char *key, char **id, dj_err *err)
{
	dj_buf v = DJ_BUF_INIT;
	dj_http_req r;
	int rc;
	*id = NULL;
	if ((rc = dj_http__req_init(&s3->http, &r, "POST", key, err)) < 0)
		return rc;
	r.query[0] = (dj_sigv4_param){"uploads", NULL};
	r.nquery = 1;
	r.content_type = "application/xml";
	if ((rc = dj_http__run1(&s3->http, &r, "starting an upload of", err)) == 0 && !dj_http__ok(&r))
		rc = dj_s3__http_error(s3, &r, "starting an upload of", key, err);
	if (rc == 0 && (dj_xml__text(&v, r.resp.ptr, r.resp.ptr + r.resp.len, "UploadId") < 0 ||
	                !v.len || !(*id = dj_buf_take(&v, NULL))))
		rc = dj_err_set(err, DJ_ERROR, "store '%s': no UploadId in the answer for '%s'",
		                s3->base.name, key);
	dj_buf_dispose(&v);
	dj_http__req_dispose(&r);
	return rc;
}

static int abort_upload(dj_s3_store *s3, const char *key, const char *id, dj_err *err)
{
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&s3->http, &r, "DELETE", key, err)) < 0)
		return rc;
	r.query[0] = (dj_sigv4_param){"uploadId", id};
	r.nquery = 1;
	/* best effort: s3rver answers 405 (recipes.md §3); a gone upload is already aborted */
	if ((rc = dj_http__run1(&s3->http, &r, "aborting the upload of", err)) == 0 && !dj_http__ok(&r) &&
	    r.status != 404 && r.status != 405 && r.status != 501)
		rc = dj_s3__http_error(s3, &r, "aborting the upload of", key, err);
	dj_http__req_dispose(&r);
	return rc;
}

static int complete_xml(dj_buf *b, const dj_store_part *parts, size_t n)
{
	if (dj_buf_adds(b, "<CompleteMultipartUpload>") < 0)
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (dj_buf_addf(b, "<Part><PartNumber>%u</PartNumber><ETag>", parts[i].number) <
		        0 ||
		    dj_xml__escape(b, parts[i].etag) < 0 || dj_buf_adds(b, "</ETag></Part>") < 0)
			return DJ_ENOMEM;
	return dj_buf_adds(b, "</CompleteMultipartUpload>");
}

static int complete_upload(dj_s3_store *s3, const char *key, const char *id,
                           const dj_store_part *parts, size_t n, dj_err *err)
{
	dj_buf body = DJ_BUF_INIT;
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&s3->http, &r, "POST", key, err)) < 0)
		return rc;
	if (complete_xml(&body, parts, n) < 0) {
		rc = nomem(err);
		goto done;
	}
	r.query[0] = (dj_sigv4_param){"uploadId", id};
	r.nquery = 1;
	r.content_type = "application/xml";
	r.body = (const uint8_t *)body.ptr;
	r.body_len = body.len;
	if ((rc = dj_http__run1(&s3->http, &r, "completing the upload of", err)) == 0 && !dj_http__ok(&r))
		rc = dj_s3__http_error(s3, &r, "completing the upload of", key, err);
done:
	dj_buf_dispose(&body);
	dj_http__req_dispose(&r);
	return rc;
}

/* Upload src as parts numbered first, first+1, ... (part i = bytes [i*part_size, ...) of src),
 * n of them, in parallel; fills parts[0..n). */
static int upload_parts(dj_s3_store *s3, const char *key, const char *id, const dj_http_body *src,
                        uint64_t part_size, uint32_t first, size_t n, dj_store_part *parts,
                        dj_err *err)
{
	dj_http_req **v = dj_http__req_array(&s3->http, n, "PUT", key, err);
	char(*num)[12] = calloc(n ? n : 1, sizeof(*num));
	int rc = v && num ? 0 : (v ? nomem(err) : DJ_ENOMEM);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint64_t off = (uint64_t)i * part_size;
		uint64_t len = src->size - off < part_size ? src->size - off : part_size;
		snprintf(num[i], sizeof(num[i]), "%u", (unsigned)(first + i));
		v[i]->query[0] = (dj_sigv4_param){"partNumber", num[i]};
		v[i]->query[1] = (dj_sigv4_param){"uploadId", id};
		v[i]->nquery = 2;
		dj_http__set_body(v[i], src, off, (size_t)len);
		parts[i] = (dj_store_part){first + (uint32_t)i, len, {0}};
	}
	if (rc == 0)
		rc = dj_http__run_all(&s3->http, v, n, "uploading a part of", err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!v[i]->etag[0] || strlen(v[i]->etag) >= sizeof(parts[i].etag))
			rc = dj_err_set(err, DJ_ERROR, "store '%s': no ETag for part %u of '%s'",
			                s3->base.name, parts[i].number, key);
		else
			strcpy(parts[i].etag, v[i]->etag);
	}
	free(num);
	dj_http__req_array_free(v, n);
	return rc;
}

/* Part size for `size` bytes: the configured one, grown to stay within 10,000 parts. */
static uint64_t part_size_for(const dj_s3_store *s3, uint64_t size)
{
	uint64_t ps = s3->part_size;
	while ((size + ps - 1) / ps > DJ_STORE_MAX_PARTS)
		ps *= 2;
	return ps;
}

static int multipart_put(dj_s3_store *s3, const char *key, const dj_http_body *src, dj_err *err)
{
	uint64_t ps = part_size_for(s3, src->size);
	size_t n = (size_t)((src->size + ps - 1) / ps);
	dj_store_part *parts = calloc(n, sizeof(*parts));
	char *id = NULL;
	int rc;
	if (!parts)
		return nomem(err);
	if ((rc = create_upload(s3, key, &id, err)) == 0 &&
	    ((rc = upload_parts(s3, key, id, src, ps, 1, n, parts, err)) < 0 ||
	     (rc = complete_upload(s3, key, id, parts, n, err)) < 0))
		abort_upload(s3, key, id, NULL); /* the first error is the one to report */
	free(id);
	free(parts);
	return rc;
}

static int put_src(dj_s3_store *s3, const char *key, const dj_http_body *src, unsigned flags,
                   dj_err *err)
{
	int rc;
	if ((rc = check_absent(s3, key, flags, err)) < 0)
		return rc;
	if (src->size <= s3->multipart_threshold)
		return single_put(s3, key, src, err);
	return multipart_put(s3, key, src, err);
}

static int s3_put(dj_store *st, const char *key, const void *p, size_t n, unsigned flags,
                  dj_err *err)
{
	dj_http_body src = {p, -1, n};
	return put_src(S3(st), key, &src, flags, err);
}

static int s3_put_file(dj_store *st, const char *key, const char *path, unsigned flags, dj_err *err)
{
	dj_http_body src;
	int rc;
	if ((rc = dj_http__body_file(&S3(st)->http, path, &src, err)) < 0)
		return rc;
	rc = put_src(S3(st), key, &src, flags, err);
	close(src.fd);
	return rc;
}

/* ---- reads ---- */

static int s3_get(dj_store *st, const char *key, dj_buf *out, dj_err *err)
{
	return dj_http__get(&S3(st)->http, key, S3(st)->part_size, out, err);
}

static int s3_get_range(dj_store *st, const char *key, uint64_t off, size_t n, dj_buf *out,
                        dj_err *err)
{
	return dj_http__get_range(&S3(st)->http, key, off, n, S3(st)->part_size, out, err);
}

/* ---- deletes ---- */

static int s3_remove(dj_store *st, const char *key, dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	dj_http_req r;
	int rc;
	if ((rc = dj_http__req_init(&s3->http, &r, "DELETE", key, err)) < 0)
		return rc;
	if ((rc = dj_http__run1(&s3->http, &r, "deleting", err)) == 0 && !dj_http__ok(&r) && r.status != 404)
		rc = dj_s3__http_error(s3, &r, "deleting", key, err);
	dj_http__req_dispose(&r);
	return rc;
}

static int md5_base64(const dj_buf *b, char out[32], dj_err *err)
{
	dj_md5 h = DJ_MD5_INIT;
	uint8_t d[DJ_MD5_LEN];
	int rc;
	if ((rc = dj_md5_init(&h, err)) < 0 || (rc = dj_md5_update(&h, b->ptr, b->len, err)) < 0 ||
	    (rc = dj_md5_final(&h, d, err)) < 0) {
		dj_md5_dispose(&h);
		return rc;
	}
	EVP_EncodeBlock((unsigned char *)out, d, DJ_MD5_LEN);
	return 0;
}

static int delete_xml(dj_s3_store *s3, dj_buf *b, const char *const *keys, size_t n)
{
	if (dj_buf_adds(
	        b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>") < 0)
		return DJ_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (dj_buf_adds(b, "<Object><Key>") < 0 ||
		    (*s3->location &&
		     (dj_xml__escape(b, s3->location) < 0 || dj_buf_addc(b, '/') < 0)) ||
		    dj_xml__escape(b, keys[i]) < 0 || dj_buf_adds(b, "</Key></Object>") < 0)
			return DJ_ENOMEM;
	return dj_buf_adds(b, "</Delete>");
}

/* Quiet mode lists only the keys that could not be deleted. */
static int delete_errors(dj_s3_store *s3, const dj_http_req *r, dj_err *err)
{
	const char *p = r->resp.ptr, *end = p + r->resp.len, *ce, *after, *e;
	dj_buf key = DJ_BUF_INIT, code = DJ_BUF_INIT;
	int rc = 0;
	if ((e = dj_xml__find(p, end, "Error", &ce, &after))) {
		dj_xml__text(&key, e, ce, "Key");
		dj_xml__text(&code, e, ce, "Code");
		rc = dj_err_set(err, DJ_ERROR, "store '%s': cannot delete '%s': %s", s3->base.name,
		                key.ptr, code.len ? code.ptr : "error");
	}
	dj_buf_dispose(&key);
	dj_buf_dispose(&code);
	return rc;
}

static int s3_remove_many(dj_store *st, const char *const *keys, size_t n, dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	size_t nb = (n + DJ_S3_DELETE_BATCH - 1) / DJ_S3_DELETE_BATCH;
	dj_http_req **v = dj_http__req_array(&s3->http, nb, "POST", "", err);
	dj_buf *bodies = calloc(nb, sizeof(*bodies));
	int rc = v && bodies ? 0 : (v ? nomem(err) : DJ_ENOMEM);
	for (size_t i = 0; rc == 0 && i < nb; i++) {
		size_t k = n - i * DJ_S3_DELETE_BATCH;
		bodies[i] = (dj_buf)DJ_BUF_INIT;
		if (delete_xml(s3, &bodies[i], keys + i * DJ_S3_DELETE_BATCH,
		               k < DJ_S3_DELETE_BATCH ? k : DJ_S3_DELETE_BATCH) < 0) {
			rc = nomem(err);
			break;
		}
		v[i]->label = keys[i * DJ_S3_DELETE_BATCH];
		v[i]->query[0] = (dj_sigv4_param){"delete", NULL};
		v[i]->nquery = 1;
		v[i]->content_type = "application/xml";
		v[i]->body = (const uint8_t *)bodies[i].ptr;
		v[i]->body_len = bodies[i].len;
		rc = md5_base64(&bodies[i], v[i]->content_md5, err); /* DeleteObjects requires it */
	}
	if (rc == 0)
		rc = dj_http__run_all(&s3->http, v, nb, "deleting", err);
	for (size_t i = 0; rc == 0 && i < nb; i++)
		rc = delete_errors(s3, v[i], err);
	for (size_t i = 0; bodies && i < nb; i++)
		dj_buf_dispose(&bodies[i]);
	free(bodies);
	dj_http__req_array_free(v, nb);
	return rc;
}

/* ---- server-side copies ---- */

/* x-amz-copy-source: "/bucket/key", percent-encoded except '/' and "=:@,;" — AWS decodes every
 * escape, while s3rver only decodeURI()s (it keeps %3D as is), and '=' fills schema-section
 * keys. A key the two still read differently fails as "not found", never as another object. */
static int copy_source(dj_s3_store *s3, dj_buf *out, const char *key)
{
	static const char keep[] = "=:@,;";
	dj_buf full = DJ_BUF_INIT;
	int rc = 0;
	if (dj_buf_addc(out, '/') < 0 || dj_sigv4_uri_encode(out, s3->bucket, strlen(s3->bucket),
	                                                    false) < 0 ||
	    dj_buf_addc(out, '/') < 0 ||
	    (*s3->location && dj_buf_addf(&full, "%s/", s3->location) < 0) ||
	    dj_buf_adds(&full, key) < 0)
		rc = DJ_ENOMEM;
	for (size_t i = 0; rc == 0 && i < full.len; i++) {
		char c = full.ptr[i];
		if (c && strchr(keep, c))
			rc = dj_buf_addc(out, c);
		else
			rc = dj_sigv4_uri_encode(out, &full.ptr[i], 1, true);
	}
	dj_buf_dispose(&full);
	return rc;
}

/* The outcome of one answer: 0, DJ_ENOTFOUND (NoSuchKey), or an error into e. */
static int copy_outcome(dj_s3_store *s3, const dj_http_req *r, const char *from, dj_err *e)
{
	dj_buf code = DJ_BUF_INIT;
	int rc;
	if (dj_http__ok(r))
		return 0;
	dj_xml__text(&code, r->resp.ptr, r->resp.ptr + r->resp.len, "Code");
	if (r->status == 404 && (!code.len || !strcmp(code.ptr, "NoSuchKey")))
		rc = dj_err_set(e, DJ_ENOTFOUND, "store '%s': '%s' not found", s3->base.name, from);
	else
		rc = dj_s3__http_error(s3, r, "copying", from, e);
	dj_buf_dispose(&code);
	return rc;
}

/* DJ_STORE_IF_ABSENT: one HEAD per target, in parallel; present targets get DJ_EEXISTS. */
static int mark_present(dj_s3_store *s3, const char *const *to, size_t n, int *results,
                        dj_err *err)
{
	dj_http_req **v = dj_http__req_each(&s3->http, n, "HEAD", to, err);
	int rc;
	if (!v)
		return DJ_ENOMEM;
	if ((rc = dj_http__run(&s3->http, v, n, false, "checking", err)) == 0)
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (v[i]->status == 200)
				results[i] = DJ_EEXISTS;
			else if (v[i]->status != 404)
				rc = dj_s3__http_error(s3, v[i], "checking", to[i], err);
		}
	dj_http__req_array_free(v, n);
	return rc;
}

/* CopyObject for each pair, requests in parallel. */
static int s3_copy_many(dj_store *st, const char *const *from, const char *const *to, size_t n,
                        unsigned flags, int *results, dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	const char **keys = calloc(n, sizeof(*keys));
	size_t *idx = calloc(n, sizeof(*idx)), m = 0;
	dj_buf *src = calloc(n, sizeof(*src));
	dj_http_req **v = NULL;
	dj_err e = DJ_ERR_INIT;
	int rc = keys && idx && src ? 0 : nomem(err), first = 0;
	if (rc == 0 && (flags & DJ_STORE_IF_ABSENT))
		rc = mark_present(s3, to, n, results, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (results[i] == 0)
			idx[m] = i, keys[m++] = to[i];
	if (rc == 0 && m && !(v = dj_http__req_each(&s3->http, m, "PUT", keys, err)))
		rc = DJ_ENOMEM;
	for (size_t k = 0; rc == 0 && k < m; k++) {
		src[k] = (dj_buf)DJ_BUF_INIT;
		if (copy_source(s3, &src[k], from[idx[k]]) < 0)
			rc = nomem(err);
		v[k]->copy_source = src[k].ptr;
		v[k]->label = to[idx[k]];
	}
	if (rc == 0 && m)
		rc = dj_http__run(&s3->http, v, m, false, "copying", err);
	for (size_t k = 0; rc == 0 && k < m; k++) {
		dj_err_clear(&e);
		results[idx[k]] = copy_outcome(s3, v[k], from[idx[k]], &e);
		if (results[idx[k]] < 0 && results[idx[k]] != DJ_ENOTFOUND && !first) {
			first = results[idx[k]];
			*err = e;
		}
	}
	if (rc < 0)
		for (size_t i = 0; i < n; i++)
			results[i] = results[i] == DJ_EEXISTS ? DJ_EEXISTS : rc;
	for (size_t k = 0; src && k < m; k++)
		dj_buf_dispose(&src[k]);
	dj_http__req_array_free(v, m);
	free(keys), free(idx), free(src);
	return rc < 0 ? rc : first;
}

/* ---- cooperative writer: one multipart upload, parts from any process ---- */

static int s3_writer_create(dj_store *st, dj_store_writer *w, dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	int rc;
	if (w->part_size < DJ_S3_MIN_PART || w->part_size > DJ_S3_MAX_PART)
		return dj_err_set(
		    err, DJ_EUSAGE,
		    "store '%s': upload '%s': s3 parts must be 5 MiB to 5 GiB, not %llu "
		    "bytes",
		    st->name, w->key, (unsigned long long)w->part_size);
	if ((rc = check_absent(s3, w->key, w->flags, err)) < 0)
		return rc;
	return create_upload(s3, w->key, &w->id, err);
}

static int s3_writer_part(dj_store *st, const dj_store_writer *w, uint32_t number, const void *p,
                          size_t n, dj_store_part *out, dj_err *err)
{
	dj_http_body src = {p, -1, n};
	return upload_parts(S3(st), w->key, w->id, &src, w->part_size, number, 1, out, err);
}

static int s3_writer_complete(dj_store *st, const dj_store_writer *w, const dj_store_part *parts,
                              size_t nparts, dj_err *err)
{
	dj_s3_store *s3 = S3(st);
	int rc;
	if ((rc = check_absent(s3, w->key, w->flags, err)) < 0) {
		if (rc == DJ_EEXISTS)
			abort_upload(s3, w->key, w->id, NULL);
		return rc;
	}
	return complete_upload(s3, w->key, w->id, parts, nparts, err);
}

static int s3_writer_abort(dj_store *st, const dj_store_writer *w, dj_err *err)
{
	return abort_upload(S3(st), w->key, w->id, err);
}

/* ---- open / close ---- */

static void s3_close(dj_store *st)
{
	dj_s3_store *s3 = S3(st);
	dj_http__dispose(&s3->http);
	dj_s3__endpoint_dispose(&s3->ep);
	free(s3->bucket);
	free(s3->location);
	free(s3->access_key);
	if (s3->secret_key) {
		memset(s3->secret_key, 0, strlen(s3->secret_key));
		free(s3->secret_key);
	}
	free(s3->session_token);
	free(s3->region);
	free(s3);
}

static const char *nonempty(const char *a)
{
	return a && *a ? a : NULL;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = true;
	return d;
}

/* formats.md §8.6: empty keys count as absent; the spec's keys win over the caller's. */
static int set_credentials(dj_s3_store *s3, const dj_store_spec *spec, const dj_store_opts *o,
                           bool *oom, dj_err *err)
{
	const char *ak = nonempty(spec->access_key), *sk = nonempty(spec->secret_key);
	if (!ak && !sk)
		ak = nonempty(o->access_key), sk = nonempty(o->secret_key);
	if (!ak != !sk)
		return dj_err_set(err, DJ_EUSAGE, "access_key and secret_key go together");
	s3->access_key = dup_or_null(ak, oom);
	s3->secret_key = dup_or_null(sk, oom);
	s3->session_token = dup_or_null(nonempty(o->session_token), oom);
	return 0;
}

static void set_tuning(dj_s3_store *s3, const dj_store_opts *o)
{
	s3->part_size = o->part_size ? o->part_size : DEFAULT_PART;
	if (s3->part_size < DJ_S3_MIN_PART)
		s3->part_size = DJ_S3_MIN_PART;
	s3->multipart_threshold =
	    o->multipart_threshold ? o->multipart_threshold : 2 * s3->part_size;
	s3->unsigned_payload = o->unsigned_payload;
}

static int s3_open(dj_store **out, const dj_store_spec *spec, const dj_store_opts *o, dj_err *err)
{
	dj_s3_store *s3 = calloc(1, sizeof(*s3));
	bool oom = !s3;
	int rc;
	if (oom)
		return nomem(err);
	set_tuning(s3, o);
	s3->bucket = dup_or_null(spec->bucket ? spec->bucket : "", &oom);
	s3->location = dup_or_null(spec->location ? spec->location : "", &oom);
	s3->region = dup_or_null(nonempty(o->region) ? o->region : "us-east-1", &oom);
	if ((rc = dj_s3__endpoint(&s3->ep, spec->endpoint, spec->secure, spec->bucket,
	                          o->addressing, err)) < 0 ||
	    (rc = set_credentials(s3, spec, o, &oom, err)) < 0)
		goto fail;
	if (oom) {
		rc = nomem(err);
		goto fail;
	}
	if ((rc = dj_http__init(&s3->http, o, err)) < 0)
		goto fail;
	s3->http.store = s3->base.name;
	s3->http.base = s3->ep.base;
	s3->http.location = s3->location;
	s3->http.owner = s3;
	s3->http.prepare = dj_s3__prepare;
	s3->http.retry = dj_s3__retry;
	s3->http.http_error = dj_s3__http_error;
	*out = &s3->base;
	return 0;
fail:
	dj_err_context(err, "store '%s'", spec->name ? spec->name : "?");
	s3_close(&s3->base);
	return rc;
}

const dj_store_ops dj_store_s3_ops = {
    .scheme = "s3",
    .open = s3_open,
    .close = s3_close,
    .put = s3_put,
    .put_file = s3_put_file,
    .get = s3_get,
    .get_range = s3_get_range,
    .head = s3_head,
    .list = s3_list,
    .remove = s3_remove,
    .remove_many = s3_remove_many,
    .writer_create = s3_writer_create,
    .writer_part = s3_writer_part,
    .writer_complete = s3_writer_complete,
    .writer_abort = s3_writer_abort,
    .list_dir = s3_list_dir,
    .copy_many = s3_copy_many,
    .list_after = s3_list_after,
};
