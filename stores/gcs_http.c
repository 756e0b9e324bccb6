/*
 * The gcs backend's callbacks for the HTTP engine (stores/http.h): JSON API URLs (object names
 * are one path segment, '/' encoded as %2F), a bearer token on every attempt, and the
 * service's JSON error answers turned into messages. Also the JSON it answers with.
 */
#include "stores/gcs_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

int dj_gcs__endpoint(char **out, const char *endpoint, dj_err *err)
{
	dj_buf b = DJ_BUF_INIT;
	const char *e = endpoint && *endpoint ? endpoint : DJ_GCS_DEFAULT_ENDPOINT;
	size_t n = strlen(e);
	*out = NULL;
	while (n && e[n - 1] == '/')
		n--;
	if (!strncmp(e, "http://", 7) || !strncmp(e, "https://", 8)) {
		if (dj_buf_add(&b, e, n) < 0)
			return nomem(err);
	} else if (strstr(e, "://")) {
		return dj_err_set(err, DJ_EUSAGE, "gcs endpoint '%s' is not an http(s) URL", e);
	} else if (dj_buf_addf(&b, "http://%.*s", (int)n, e) < 0) { /* STORAGE_EMULATOR_HOST */
		return nomem(err);
	}
	if (b.len == 0 || strchr(b.ptr + (b.ptr[4] == 's' ? 8 : 7), '/')) {
		dj_buf_dispose(&b);
		return dj_err_set(err, DJ_EUSAGE, "gcs endpoint '%s' must be scheme://host[:port]",
		                  e);
	}
	*out = dj_buf_take(&b, NULL);
	return 0;
}

static const char *query_value(const dj_http_req *r, const char *name)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (!strcmp(r->query[i].name, name))
			return r->query[i].value ? r->query[i].value : "";
	return NULL;
}

static int add_path(dj_buf *url, const char *s, size_t n, bool keep_slash)
{
	return dj_sigv4_uri_encode(url, s, n, keep_slash);
}

int dj_gcs__prepare(void *owner, dj_http_req *r, dj_buf *url, dj_err *err)
{
	dj_gcs_store *gs = owner;
	dj_http_param q[DJ_HTTP_MAX_QUERY + 2];
	size_t nq = r->nquery;
	bool post = !strcmp(r->method, "POST"), upload = post && query_value(r, "uploadType");
	int rc;
	if ((rc = dj_gcs__auth_token(gs->auth, r->label ? r->label : "", &gs->token, err)) < 0)
		return rc;
	memcpy(q, r->query, nq * sizeof(*q));
	if (upload)
		q[nq++] = (dj_http_param){"name", r->key.ptr ? r->key.ptr : ""};
	else if (!strcmp(r->method, "GET") && r->key.len && !query_value(r, "alt"))
		q[nq++] = (dj_http_param){"alt", "media"};
	if (dj_buf_adds(url, gs->base_url) < 0 ||
	    dj_buf_adds(url, upload ? "/upload/storage/v1/b/" : "/storage/v1/b/") < 0 ||
	    add_path(url, gs->bucket, strlen(gs->bucket), false) < 0 || dj_buf_adds(url, "/o") < 0)
		return nomem(err);
	if (post && r->copy_source &&
	    (dj_buf_addc(url, '/') < 0 ||
	     add_path(url, r->copy_source, strlen(r->copy_source), false) < 0 ||
	     dj_buf_adds(url, "/rewriteTo/b/") < 0 ||
	     add_path(url, gs->bucket, strlen(gs->bucket), false) < 0 ||
	     dj_buf_adds(url, "/o") < 0))
		return nomem(err);
	if (!upload && r->key.len &&
	    (dj_buf_addc(url, '/') < 0 || add_path(url, r->key.ptr, r->key.len, false) < 0 ||
	     (post && !r->copy_source && dj_buf_adds(url, "/compose") < 0)))
		return nomem(err);
	if (nq &&
	    (dj_buf_addc(url, '?') < 0 || (rc = dj_sigv4_canonical_query(url, q, nq, err)) < 0))
		return rc < 0 ? rc : nomem(err);
	if ((gs->token.len && dj_http__header(r, "Authorization: Bearer %s", gs->token.ptr) < 0) ||
	    (r->range[0] && dj_http__header(r, "Range: %s", r->range) < 0) ||
	    (post &&
	     dj_http__header(r, "Content-Type: %s",
	                     r->content_type ? r->content_type : "application/octet-stream") < 0))
		return nomem(err);
	return 0;
}

bool dj_gcs__retry(void *owner, dj_http_req *r)
{
	dj_gcs_store *gs = owner;
	return r->status == 401 && r->attempts == 1 && dj_gcs__auth_invalidate(gs->auth);
}

/* error.message and error.errors[0].reason of a JSON error answer ("" when absent). */
static void error_fields(const dj_http_req *r, char *msg, size_t mcap, char *reason, size_t rcap)
{
	json_t *j = r->resp.len ? json_loadb(r->resp.ptr, r->resp.len, 0, NULL) : NULL;
	json_t *e = json_object_get(j, "error");
	const char *m = json_string_value(json_object_get(e, "message"));
	const char *why = json_string_value(
	    json_object_get(json_array_get(json_object_get(e, "errors"), 0), "reason"));
	snprintf(msg, mcap, "%s", m ? m : "");
	snprintf(reason, rcap, "%s", why ? why : "");
	if (!m && !j && r->resp.len && r->resp.len < mcap) /* a plain-text answer */
		snprintf(msg, mcap, "%.*s", (int)r->resp.len, r->resp.ptr);
	json_decref(j);
}

bool dj_gcs__bucket_missing(const dj_http_req *r)
{
	char msg[256], reason[64];
	if (r->status != 404)
		return false;
	error_fields(r, msg, sizeof(msg), reason, sizeof(reason));
	return !r->key.len || strstr(msg, "bucket") != NULL;
}

int dj_gcs__http_error(void *owner, const dj_http_req *r, const char *what, const char *key,
                       dj_err *err)
{
	dj_gcs_store *gs = owner;
	const char *name = gs->base.name, *gen = query_value(r, "ifGenerationMatch");
	char msg[256], reason[64];
	error_fields(r, msg, sizeof(msg), reason, sizeof(reason));
	if (r->status == 401)
		return dj_err_set(err, DJ_EUSAGE,
		                  "store '%s': authentication failed: %s (check the store's token) "
		                  "%s '%s'",
		                  name, *msg ? msg : "HTTP 401", what, key);
	if (r->status == 403)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': access denied: %s %s '%s'", name,
		                  *msg ? msg : "HTTP 403", what, key);
	if (r->status == 404 && (!r->key.len || strstr(msg, "bucket")))
		return dj_err_set(err, DJ_ENOTFOUND, "store '%s': bucket '%s' not found (%s '%s')",
		                  name, gs->bucket, what, key);
	if (r->status == 404)
		return dj_err_set(err, DJ_ENOTFOUND, "store '%s': '%s' not found", name, key);
	if (r->status == 412 && gen && !strcmp(gen, "0"))
		return dj_err_set(err, DJ_EEXISTS, "store '%s': '%s' already exists", name, key);
	if (r->status == 412)
		return dj_err_set(err, DJ_ECONFLICT, "store '%s': '%s' changed while %s it", name,
		                  key, what);
	return dj_err_set(err, r->status >= 500 || r->status == 429 ? DJ_ETRANSIENT : DJ_ERROR,
	                  "store '%s': HTTP %ld%s%s%s%s %s '%s' (%d attempt%s)", name, r->status,
	                  *reason ? " " : "", reason, *msg ? ": " : "", msg, what, key, r->attempts,
	                  r->attempts == 1 ? "" : "s");
}

/* ---- answers ---- */

/* "123" (the JSON API sends 64-bit numbers as strings) or 123. */
static bool number(const json_t *v, uint64_t *out)
{
	char *end;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v) || !json_string_length(v))
		return false;
	*out = strtoull(json_string_value(v), &end, 10);
	return *end == '\0';
}

static int64_t updated(const json_t *o)
{
	const char *s = json_string_value(json_object_get(o, "updated"));
	int64_t t = s ? dj_http__parse_iso8601(s) : -1;
	return t > 0 ? t : 0;
}

int dj_gcs__parse_object(const char *json, size_t n, uint64_t *size, int64_t *mtime)
{
	json_t *j = json_loadb(json ? json : "", n, 0, NULL);
	int rc = number(json_object_get(j, "size"), size) ? 0 : DJ_EFORMAT;
	*mtime = updated(j);
	json_decref(j);
	return rc;
}

int dj_gcs__parse_list(const char *json, size_t n, dj_gcs_list_item_fn fn, void *payload,
                       dj_buf *next)
{
	json_t *j = json_loadb(json ? json : "", n, 0, NULL), *items, *prefixes, *v;
	const char *token;
	size_t i;
	int rc = 0;
	dj_buf_reset(next);
	if (!json_is_object(j)) {
		rc = DJ_EFORMAT;
		goto done;
	}
	items = json_object_get(j, "items");
	prefixes = json_object_get(j, "prefixes");
	if ((items && !json_is_array(items)) || (prefixes && !json_is_array(prefixes))) {
		rc = DJ_EFORMAT;
		goto done;
	}
	json_array_foreach(items, i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));
		uint64_t size;
		if (!name || !number(json_object_get(v, "size"), &size)) {
			rc = DJ_EFORMAT;
			goto done;
		}
		if ((rc = fn(name, size, updated(v), false, payload)) < 0)
			goto done;
	}
	json_array_foreach(prefixes, i, v)
	{
		if (!json_is_string(v)) {
			rc = DJ_EFORMAT;
			goto done;
		}
		if ((rc = fn(json_string_value(v), 0, 0, true, payload)) < 0)
			goto done;
	}
	token = json_string_value(json_object_get(j, "nextPageToken"));
	if (token && dj_buf_adds(next, token) < 0)
		rc = DJ_ENOMEM;
done:
	json_decref(j);
	return rc;
}
