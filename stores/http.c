/*
 * The request engine of the cloud backends: many requests in one curl multi, each attempt
 * prepared (URL, signed headers) by the backend, transient failures retried with exponential
 * back-off and jitter. Everything happens in the calling thread.
 */
#include "stores/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define MAX_BACKOFF_MS 20000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dj_http__init(dj_http *h, const dj_store_opts *o, dj_err *err)
{
	static bool curl_ready;
	if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
		curl_ready = true;
	h->parallel = o->parallel ? o->parallel : 8;
	h->retries = o->retries > 0 ? o->retries : o->retries < 0 ? 0 : 5;
	h->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : 200;
	h->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
	h->stall_timeout_s = o->stall_timeout_s > 0 ? o->stall_timeout_s : 60;
	h->jitter = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)h;
	if (!(h->multi = curl_multi_init()))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

void dj_http__dispose(dj_http *h)
{
	if (h->multi)
		curl_multi_cleanup(h->multi);
	h->multi = NULL;
}

int dj_http__req_init(dj_http *h, dj_http_req *r, const char *method, const char *key, dj_err *err)
{
	const char *loc = h->location ? h->location : "";
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->label = key;
	r->key = (dj_buf)DJ_BUF_INIT;
	r->resp = (dj_buf)DJ_BUF_INIT;
	r->resp.limit = DJ_HTTP_BODY_LIMIT;
	r->body_fd = -1;
	/* formats.md §8.6: key = location + "/" + rel, or rel when the location is empty */
	if (*key && dj_buf_addf(&r->key, "%s%s%s", loc, *loc ? "/" : "", key) < 0)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

void dj_http__req_dispose(dj_http_req *r)
{
	dj_buf_dispose(&r->key);
	dj_buf_dispose(&r->resp);
	free(r->owned_body);
	r->owned_body = NULL;
}

int dj_http__header(dj_http_req *r, const char *fmt, ...)
{
	dj_buf line = DJ_BUF_INIT;
	struct curl_slist *t = NULL;
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = dj_buf_grow(&line, 128);
	if (rc == 0) {
		va_list aq;
		int n;
		va_copy(aq, ap);
		n = vsnprintf(line.ptr, line.cap, fmt, aq);
		va_end(aq);
		if (n < 0)
			rc = DJ_ENOMEM;
		else if ((size_t)n >= line.cap && (rc = dj_buf_grow(&line, (size_t)n + 1)) == 0)
			vsnprintf(line.ptr, line.cap, fmt, ap);
	}
	va_end(ap);
	if (rc == 0 && (t = curl_slist_append(r->headers, line.ptr)))
		r->headers = t;
	dj_buf_dispose(&line);
	return rc == 0 && t ? 0 : DJ_ENOMEM;
}

int dj_http__url(const dj_http_req *r, const char *base, const char *path_prefix, dj_buf *path,
                 dj_buf *url, dj_err *err)
{
	if (dj_buf_adds(path, path_prefix) < 0 ||
	    (r->key.len && dj_buf_addf(path, "/%s", r->key.ptr) < 0) ||
	    (!path->len && dj_buf_addc(path, '/') < 0) || dj_buf_adds(url, base) < 0 ||
	    dj_sigv4_uri_encode(url, path->ptr, path->len, true) < 0 ||
	    (r->nquery && dj_buf_addc(url, '?') < 0))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return r->nquery ? dj_sigv4_canonical_query(url, r->query, r->nquery, err) : 0;
}

/* ---- curl callbacks ---- */

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	line += n + 1, len -= n + 1;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len && isspace((unsigned char)line[len - 1]))
		len--;
	*value = line, *vlen = len;
	return true;
}

static void reset_response(dj_http_req *r)
{
	r->status = 0;
	r->have_length = r->have_total = r->too_big = false;
	r->etag[0] = r->code[0] = '\0';
	r->mtime = 0;
}

/* Copy a header value into a fixed field, or leave it alone when it does not fit. */
static void keep(char *dst, size_t cap, const char *v, size_t vlen)
{
	if (vlen < cap) {
		memcpy(dst, v, vlen);
		dst[vlen] = '\0';
	}
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	dj_http_req *r = ud;
	size_t len = size * nmemb, vlen;
	const char *v;
	char num[96];
	if (len > 5 && !strncmp(line, "HTTP/", 5)) { /* a new response (after 100 Continue too) */
		const char *sp = memchr(line, ' ', len);
		reset_response(r);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
	} else if (header_is(line, len, "ETag", &v, &vlen)) {
		keep(r->etag, sizeof(r->etag), v, vlen);
	} else if (header_is(line, len, "Content-Length", &v, &vlen) && vlen < sizeof(num)) {
		keep(num, sizeof(num), v, vlen);
		r->content_length = strtoull(num, NULL, 10);
		r->have_length = true;
		if (r->abort_above && r->status == 200 && r->content_length > r->abort_above) {
			r->too_big = true; /* the caller fetches it in parallel ranges instead */
			return 0;
		}
	} else if (header_is(line, len, "Content-Range", &v, &vlen) && vlen < sizeof(num)) {
		const char *slash = memchr(v, '/', vlen);
		if (slash && slash[1] != '*') {
			keep(num, sizeof(num), slash + 1, (size_t)(v + vlen - slash - 1));
			r->total = strtoull(num, NULL, 10);
			r->have_total = true;
		}
	} else if (header_is(line, len, "Last-Modified", &v, &vlen) && vlen < sizeof(num)) {
		keep(num, sizeof(num), v, vlen);
		r->mtime = dj_http__parse_date(num);
	} else if (r->code_header && header_is(line, len, r->code_header, &v, &vlen)) {
		keep(r->code, sizeof(r->code), v, vlen);
	}
	return len;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	dj_http_req *r = ud;
	size_t len = size * nmemb;
	if (r->status >= 200 && r->status < 300 && r->data_at) {
		if (len > r->data_cap - r->data_len) {
			r->local_code = DJ_ERROR; /* more bytes than the range asked for */
			return 0;
		}
		memcpy(r->data_at + r->data_len, p, len);
		r->data_len += len;
		return len;
	}
	if (r->status >= 200 && r->status < 300 && r->data_buf) {
		if (dj_buf_add(r->data_buf, p, len) < 0) {
			r->local_code = DJ_ENOMEM;
			return 0;
		}
		r->data_len += len;
		return len;
	}
	if (dj_buf_add(&r->resp, p, len) < 0) {
		r->local_code = DJ_ENOMEM;
		return 0;
	}
	return len;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud)
{
	dj_http_req *r = ud;
	size_t k = r->body_len - r->sent;
	if (k > size * nmemb)
		k = size * nmemb;
	if (k)
		memcpy(p, r->body + r->sent, k);
	r->sent += k;
	return k;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	dj_http_req *r = ud;
	if (origin != SEEK_SET || off < 0 || (size_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- one attempt ---- */

/* A body from a file is read when its request first starts, so that only the requests in
 * flight hold memory (put_file of a large file). */
static int load_body(dj_http *h, dj_http_req *r, dj_err *err)
{
	size_t got = 0;
	if (r->body_fd < 0 || r->owned_body)
		return 0;
	if (!(r->owned_body = malloc(r->body_len ? r->body_len : 1)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	while (got < r->body_len) {
		ssize_t k = pread(r->body_fd, r->owned_body + got, r->body_len - got,
		                  (off_t)(r->body_off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? dj_err_os(err, "store '%s': cannot read the source of '%s'",
			                         h->store, r->label)
			             : dj_err_set(
			                   err, DJ_ERROR,
			                   "store '%s': the source of '%s' shrank while uploading",
			                   h->store, r->label);
		got += (size_t)k;
	}
	r->body = r->owned_body;
	return 0;
}

static void set_method(CURL *e, dj_http_req *r)
{
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) { /* never curl's stdin */
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
	}
}

static void set_options(dj_http *h, CURL *e, dj_http_req *r, const char *url)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* the signed path must reach the server */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, h->stall_timeout_s);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_msg);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	set_method(e, r);
}

static int start(dj_http *h, dj_http_req *r, dj_err *err)
{
	dj_buf url = DJ_BUF_INIT;
	CURL *e = NULL;
	int rc;
	if (r->attempts == 0 && r->data_buf)
		r->data_base = r->data_buf->len;
	r->code_header = h->code_header;
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	if ((rc = load_body(h, r, err)) < 0 || (rc = h->prepare(h->owner, r, &url, err)) < 0)
		goto done;
	/* no 100-continue round trip */
	if (dj_http__header(r, "Expect:") < 0) {
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		goto done;
	}
	if (!(e = curl_easy_init())) {
		rc = dj_err_set(err, DJ_ENOMEM, "cannot create an HTTP request");
		goto done;
	}
	/* a retry starts from scratch: body from the start, earlier bytes of the answer dropped */
	r->sent = 0, r->data_len = 0, r->local_code = 0, r->curl_msg[0] = '\0';
	if (r->data_buf)
		dj_buf_setlen(r->data_buf, r->data_base);
	dj_buf_reset(&r->resp);
	reset_response(r);
	set_options(h, e, r, url.ptr);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		rc = dj_err_set(err, DJ_ERROR, "cannot start an HTTP request");
		goto done;
	}
	r->easy = e, r->in_flight = true;
	e = NULL;
done:
	if (e)
		curl_easy_cleanup(e);
	if (rc < 0) {
		curl_slist_free_all(r->headers);
		r->headers = NULL;
	}
	dj_buf_dispose(&url);
	return rc;
}

static void release(dj_http *h, dj_http_req *r)
{
	if (r->easy) {
		curl_multi_remove_handle(h->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	r->easy = NULL, r->headers = NULL, r->in_flight = false;
}

/* ---- outcomes ---- */

static bool transient_curl(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static int64_t backoff_ms(dj_http *h, int attempt)
{
	int64_t d = (int64_t)h->retry_base_ms << (attempt < 16 ? attempt - 1 : 15);
	if (d > MAX_BACKOFF_MS)
		d = MAX_BACKOFF_MS;
	h->jitter = h->jitter * 1103515245u + 12345u;
	return d / 2 + (int64_t)((h->jitter >> 8) % (uint32_t)(d / 2 + 1));
}

/* A transfer ended: finished (any HTTP answer, or an error) or scheduled for another try. */
static void finish_attempt(dj_http *h, dj_http_req *r, int code)
{
	long status = 0;
	bool answered, again;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	release(h, r);
	r->attempts++;
	r->curl_code = code;
	answered = code == CURLE_OK || (code == CURLE_WRITE_ERROR && r->too_big);
	if (answered)
		r->status = status;
	again = false;
	if (!r->local_code && code == CURLE_OK)
		again = (h->retry && h->retry(h->owner, r)) || r->status >= 500 ||
		        r->status == 429 || r->status == 408;
	else if (!r->local_code && !answered)
		again = transient_curl(code);
	if (again && r->attempts <= h->retries) {
		r->not_before_ms = now_ms() + backoff_ms(h, r->attempts);
		return;
	}
	r->finished = true;
	if (r->owned_body) { /* no more attempts: a put_file holds only the parts in flight */
		free(r->owned_body);
		r->owned_body = NULL;
		r->body = NULL;
	}
}

/* The error of a finished request that got no usable HTTP answer, else 0. */
static int transport_error(dj_http *h, const dj_http_req *r, const char *what, dj_err *err)
{
	const char *msg = r->curl_msg[0] ? r->curl_msg : curl_easy_strerror((CURLcode)r->curl_code);
	if (r->local_code == DJ_ENOMEM)
		return dj_err_set(err, DJ_ENOMEM, "store '%s': %s '%s': out of memory", h->store,
		                  what, r->label);
	if (r->local_code)
		return dj_err_set(err, r->local_code,
		                  "store '%s': %s '%s': more data than asked for", h->store, what,
		                  r->label);
	if (r->curl_code == CURLE_OK || (r->curl_code == CURLE_WRITE_ERROR && r->too_big))
		return 0;
	return dj_err_set(err, transient_curl(r->curl_code) ? DJ_ETRANSIENT : DJ_ERROR,
	                  "store '%s': %s '%s': %s (%s, %d attempt%s)", h->store, what, r->label,
	                  msg, h->base, r->attempts, r->attempts == 1 ? "" : "s");
}

/* ---- the loop ---- */

static void cancel_all(dj_http *h, dj_http_req **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (reqs[i]->in_flight)
			release(h, reqs[i]);
}

/* Start what may start now (up to h->parallel in flight). */
static int start_ready(dj_http *h, dj_http_req **reqs, size_t n, size_t *active, size_t *first,
                       dj_err *err)
{
	int64_t now = now_ms();
	int rc;
	while (*first < n && reqs[*first]->finished)
		(*first)++;
	for (size_t i = *first; i < n && *active < h->parallel; i++) {
		dj_http_req *r = reqs[i];
		if (r->finished || r->in_flight || r->not_before_ms > now)
			continue;
		if ((rc = start(h, r, err)) < 0)
			return rc;
		(*active)++;
	}
	return 0;
}

/* Milliseconds until a waiting retry is due (1000 when none is), for curl_multi_poll. */
static int next_wait(dj_http_req **reqs, size_t n, size_t first)
{
	int64_t now = now_ms(), wait = 1000;
	for (size_t i = first; i < n; i++) {
		const dj_http_req *r = reqs[i];
		if (!r->finished && !r->in_flight && r->not_before_ms - now < wait)
			wait = r->not_before_ms - now;
	}
	return wait > 0 ? (int)wait : 0;
}

/* Collect finished transfers; 1 = stop (an answer the caller must report), < 0 = error. */
static int collect(dj_http *h, bool stop_on_error, const char *what, size_t *active, size_t *done,
                   dj_err *err)
{
	CURLMsg *m;
	int left, rc = 0;
	while (rc == 0 && (m = curl_multi_info_read(h->multi, &left))) {
		dj_http_req *r;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		finish_attempt(h, r, m->data.result);
		(*active)--;
		if (!r->finished)
			continue;
		(*done)++;
		if ((rc = transport_error(h, r, what, err)) == 0 && stop_on_error &&
		    !dj_http__ok(r))
			rc = 1;
	}
	return rc;
}

int dj_http__run(dj_http *h, dj_http_req **reqs, size_t n, bool stop_on_error, const char *what,
                 dj_err *err)
{
	size_t active = 0, done = 0, first = 0;
	int rc = 0, running;
	while (done < n && rc == 0) {
		if ((rc = start_ready(h, reqs, n, &active, &first, err)) < 0)
			break;
		curl_multi_perform(h->multi, &running);
		if ((rc = collect(h, stop_on_error, what, &active, &done, err)) == 0 && done < n)
			curl_multi_poll(h->multi, NULL, 0, next_wait(reqs, n, first), NULL);
	}
	cancel_all(h, reqs, n);
	return rc > 0 ? 0 : rc;
}
