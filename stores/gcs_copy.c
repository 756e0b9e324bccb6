/*
 * Server-side copies for the gcs backend (dj_store_copy_many): objects.rewrite for each pair,
 * requests in parallel; nothing passes through the client. DJ_STORE_IF_ABSENT is
 * ifGenerationMatch=0 on the destination, atomic on the service (no HEAD first, unlike s3). A
 * rewrite the service does not finish in one call (large objects across locations or storage
 * classes) answers with a rewriteToken: those pairs go again with it until done.
 */
#include "stores/gcs_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

/* A 2xx answer: done, or the token to continue with (into tok). DJ_EFORMAT when unreadable. */
static int rewrite_state(const dj_http_req *r, dj_buf *tok, bool *done)
{
	json_t *j = r->resp.len ? json_loadb(r->resp.ptr, r->resp.len, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(j, "rewriteToken"));
	int rc = 0;
	*done = json_is_true(json_object_get(j, "done"));
	dj_buf_reset(tok);
	if (!json_is_object(j) || (!*done && !t))
		rc = DJ_EFORMAT;
	else if (!*done && dj_buf_adds(tok, t) < 0)
		rc = DJ_ENOMEM;
	json_decref(j);
	return rc;
}

/* The result of a failed rewrite: the source missing, the target present, or an error. */
static int copy_outcome(dj_gcs_store *gs, const dj_http_req *r, const char *from, const char *to,
                        dj_err *e)
{
	if (r->status == 404 && !dj_gcs__bucket_missing(r))
		return dj_err_set(e, DJ_ENOTFOUND, "store '%s': '%s' not found", gs->base.name,
		                  from);
	if (r->status == 412) /* only ever sent with ifGenerationMatch=0 */
		return dj_err_set(e, DJ_EEXISTS, "store '%s': '%s' already exists", gs->base.name,
		                  to);
	return dj_gcs__http_error(gs, r, "copying", to, e);
}

/* One round: rewrites for pairs idx[0..m); unfinished ones are moved to the front of idx and
 * counted in *left. Sets results; *first keeps the first real failure. */
static int rewrite_round(dj_gcs_store *gs, const char *const *from, const char *const *to,
                         unsigned flags, size_t *idx, size_t m, dj_buf *src, dj_buf *tok,
                         int *results, size_t *left, int *first, dj_err *err)
{
	const char **keys = calloc(m, sizeof(*keys));
	dj_http_req **v = NULL;
	dj_err e = DJ_ERR_INIT;
	int rc = keys ? 0 : nomem(err);
	*left = 0;
	for (size_t k = 0; rc == 0 && k < m; k++)
		keys[k] = to[idx[k]];
	if (rc == 0 && !(v = dj_http__req_each(&gs->http, m, "POST", keys, err)))
		rc = DJ_ENOMEM;
	for (size_t k = 0; rc == 0 && k < m; k++) {
		dj_http_req *r = v[k];
		r->copy_source = src[idx[k]].ptr; /* prepare: .../o/SOURCE/rewriteTo/b/B/o/KEY */
		r->label = to[idx[k]];
		r->content_type = "application/json";
		r->body = (const uint8_t *)"{}";
		r->body_len = 2;
		if (flags & DJ_STORE_IF_ABSENT)
			r->query[r->nquery++] = (dj_http_param){"ifGenerationMatch", "0"};
		if (tok[idx[k]].len)
			r->query[r->nquery++] = (dj_http_param){"rewriteToken", tok[idx[k]].ptr};
	}
	if (rc == 0)
		rc = dj_http__run(&gs->http, v, m, false, "copying", err);
	for (size_t k = 0; rc == 0 && k < m; k++) {
		size_t i = idx[k];
		bool done = true;
		dj_err_clear(&e);
		if (!dj_http__ok(v[k]))
			results[i] = copy_outcome(gs, v[k], from[i], to[i], &e);
		else if (rewrite_state(v[k], &tok[i], &done) < 0)
			results[i] =
			    dj_err_set(&e, DJ_EFORMAT, "store '%s': unreadable answer copying '%s'",
			               gs->base.name, to[i]);
		else if (!done)
			idx[(*left)++] = i; /* k >= *left: nothing pending is overwritten */
		if (results[i] < 0 && results[i] != DJ_ENOTFOUND && results[i] != DJ_EEXISTS &&
		    !*first) {
			*first = results[i];
			*err = e;
		}
	}
	dj_http__req_array_free(v, m);
	free(keys);
	return rc;
}

int dj_gcs__copy_many(dj_store *st, const char *const *from, const char *const *to, size_t n,
                      unsigned flags, int *results, dj_err *err)
{
	dj_gcs_store *gs = (dj_gcs_store *)st;
	size_t *idx = calloc(n, sizeof(*idx)), m = n;
	dj_buf *src = calloc(n, sizeof(*src)), *tok = calloc(n, sizeof(*tok));
	int rc = idx && src && tok ? 0 : nomem(err), first = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		idx[i] = i;
		src[i] = (dj_buf)DJ_BUF_INIT;
		tok[i] = (dj_buf)DJ_BUF_INIT;
		if (dj_buf_addf(&src[i], "%s%s%s", gs->location, *gs->location ? "/" : "",
		                from[i]) < 0)
			rc = nomem(err);
	}
	while (rc == 0 && m > 0)
		rc = rewrite_round(gs, from, to, flags, idx, m, src, tok, results, &m, &first, err);
	if (rc < 0)
		for (size_t i = 0; i < n; i++)
			results[i] = rc;
	for (size_t i = 0; src && tok && i < n; i++) {
		dj_buf_dispose(&src[i]);
		dj_buf_dispose(&tok[i]);
	}
	free(idx), free(src), free(tok);
	return rc < 0 ? rc : first;
}
