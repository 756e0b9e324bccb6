/*
 * The s3 request engine: sign each attempt with our own SigV4 (recipes.md §3: curl 7.88's
 * built-in signer is wrong), run many requests in one curl multi, retry transient failures
 * with exponential back-off and jitter. Everything happens in the calling thread.
 */
#include "stores/s3_internal.h"

#include <ctype.h>
#include <errno.h>
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

int dj_s3__req_init(dj_s3_store *s3, dj_s3_req *req, const char *method, const char *key,
                    dj_err *err)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->label = key;
	req->key = (dj_buf)DJ_BUF_INIT;
	req->resp = (dj_buf)DJ_BUF_INIT;
	req->resp.limit = DJ_S3_XML_LIMIT;
	req->body_fd = -1;
	/* formats.md §8.6: key = location + "/" + rel, or rel when the location is empty */
	if (*key &&
	    dj_buf_addf(&req->key, "%s%s%s", s3->location, *s3->location ? "/" : "", key) < 0)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return 0;
}

void dj_s3__req_dispose(dj_s3_req *req)
{
	dj_buf_dispose(&req->key);
	dj_buf_dispose(&req->resp);
	free(req->owned_body);
	req->owned_body = NULL;
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

static void reset_response(dj_s3_req *r)
{
	r->status = 0;
	r->have_length = r->have_total = r->too_big = false;
	r->etag[0] = '\0';
	r->mtime = 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	dj_s3_req *r = ud;
	size_t len = size * nmemb, vlen;
	const char *v;
	char num[96];
	if (len > 5 && !strncmp(line, "HTTP/", 5)) { /* a new response (after 100 Continue too) */
		const char *sp = memchr(line, ' ', len);
		reset_response(r);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
	} else if (header_is(line, len, "ETag", &v, &vlen) && vlen < sizeof(r->etag)) {
		memcpy(r->etag, v, vlen);
		r->etag[vlen] = '\0';
	} else if (header_is(line, len, "Content-Length", &v, &vlen) && vlen < sizeof(num)) {
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		r->content_length = strtoull(num, NULL, 10);
		r->have_length = true;
		if (r->abort_above && r->status == 200 && r->content_length > r->abort_above) {
			r->too_big = true; /* the caller fetches it in parallel ranges instead */
			return 0;
		}
	} else if (header_is(line, len, "Content-Range", &v, &vlen) && vlen < sizeof(num)) {
		const char *slash = memchr(v, '/', vlen);
		if (slash && slash[1] != '*') {
			memcpy(num, slash + 1, (size_t)(v + vlen - slash - 1));
			num[v + vlen - slash - 1] = '\0';
			r->total = strtoull(num, NULL, 10);
			r->have_total = true;
		}
	} else if (header_is(line, len, "Last-Modified", &v, &vlen) && vlen < sizeof(num)) {
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		r->mtime = dj_s3__parse_http_date(num);
	}
	return len;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	dj_s3_req *r = ud;
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
	dj_s3_req *r = ud;
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
	dj_s3_req *r = ud;
	if (origin != SEEK_SET || off < 0 || (size_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- one attempt ---- */

/* A body from a file is read when its request first starts, so that only the requests in
 * flight hold memory (put_file of a large file). */
static int load_body(dj_s3_store *s3, dj_s3_req *r, dj_err *err)
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
			                         s3->base.name, r->label)
			             : dj_err_set(
			                   err, DJ_ERROR,
			                   "store '%s': the source of '%s' shrank while uploading",
			                   s3->base.name, r->label);
		got += (size_t)k;
	}
	r->body = r->owned_body;
	return 0;
}

static int payload_hash(dj_s3_store *s3, dj_s3_req *r, dj_err *err)
{
	int rc;
	if (r->payload_hash[0])
		return 0;
	if ((rc = load_body(s3, r, err)) < 0)
		return rc;
	if (!r->body_len) {
		strcpy(r->payload_hash, DJ_SIGV4_EMPTY_SHA256);
		return 0;
	}
	if (s3->unsigned_payload) {
		strcpy(r->payload_hash, DJ_SIGV4_UNSIGNED_PAYLOAD);
		return 0;
	}
	return dj_sha256_hex(r->body, r->body_len, r->payload_hash, err);
}

static int build_url(dj_s3_store *s3, dj_s3_req *r, dj_buf *path, dj_buf *url, dj_err *err)
{
	if (dj_buf_adds(path, s3->ep.path) < 0 ||
	    (r->key.len && dj_buf_addf(path, "/%s", r->key.ptr) < 0) ||
	    (!path->len && dj_buf_addc(path, '/') < 0) || dj_buf_adds(url, s3->ep.base) < 0 ||
	    dj_sigv4_uri_encode(url, path->ptr, path->len, true) < 0 ||
	    (r->nquery && dj_buf_addc(url, '?') < 0))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return r->nquery ? dj_sigv4_canonical_query(url, r->query, r->nquery, err) : 0;
}

/* The headers we send are exactly the headers we sign (plus Authorization and Expect). */
static int sign_headers(dj_s3_store *s3, dj_s3_req *r, const char *path, struct curl_slist **out,
                        dj_err *err)
{
	dj_sigv4_header h[8];
	size_t n = 0;
	char date[DJ_AMZ_DATE_LEN + 1];
	dj_sigv4_result res = DJ_SIGV4_RESULT_INIT;
	dj_buf line = DJ_BUF_INIT;
	int rc = 0;
	dj_sigv4_amz_date(time(NULL), date);
	h[n++] = (dj_sigv4_header){"Host", s3->ep.host};
	h[n++] = (dj_sigv4_header){"x-amz-content-sha256", r->payload_hash};
	h[n++] = (dj_sigv4_header){"x-amz-date", date};
	if (r->range[0])
		h[n++] = (dj_sigv4_header){"Range", r->range};
	if (r->if_match[0])
		h[n++] = (dj_sigv4_header){"If-Match", r->if_match};
	if (r->content_md5[0])
		h[n++] = (dj_sigv4_header){"Content-MD5", r->content_md5};
	if (r->content_type)
		h[n++] = (dj_sigv4_header){"Content-Type", r->content_type};
	if (s3->session_token)
		h[n++] = (dj_sigv4_header){"x-amz-security-token", s3->session_token};
	if (s3->access_key) {
		dj_sigv4_key k = {s3->access_key, s3->secret_key, s3->region, "s3"};
		dj_sigv4_request sr = {r->method, path, r->query,        r->nquery,
		                       h,         n,    r->payload_hash, date};
		if ((rc = dj_sigv4_sign(&sr, &k, &res, err)) < 0)
			return rc;
	}
	for (size_t i = 0; i <= n + 1 && rc == 0; i++) {
		struct curl_slist *t;
		dj_buf_reset(&line);
		if (i < n)
			rc = dj_buf_addf(&line, "%s: %s", h[i].name, h[i].value);
		else if (i == n)
			rc = dj_buf_adds(&line, "Expect:"); /* no 100-continue round trip */
		else if (s3->access_key)
			rc = dj_buf_addf(&line, "Authorization: %s", res.authorization.ptr);
		else
			continue;
		if (rc < 0 || !(t = curl_slist_append(*out, line.ptr)))
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		else
			*out = t;
	}
	dj_sigv4_result_dispose(&res);
	dj_buf_dispose(&line);
	return rc;
}

static void set_method(CURL *e, dj_s3_req *r)
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

static void set_options(dj_s3_store *s3, CURL *e, dj_s3_req *r, const char *url,
                        struct curl_slist *hdrs)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* the signed path must reach the server */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s3->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, s3->stall_timeout_s);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_msg);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	set_method(e, r);
}

static int start(dj_s3_store *s3, dj_s3_req *r, dj_err *err)
{
	dj_buf path = DJ_BUF_INIT, url = DJ_BUF_INIT;
	struct curl_slist *hdrs = NULL;
	CURL *e = NULL;
	int rc;
	if (r->attempts == 0 && r->data_buf)
		r->data_base = r->data_buf->len;
	if ((rc = payload_hash(s3, r, err)) < 0 || (rc = build_url(s3, r, &path, &url, err)) < 0 ||
	    (rc = sign_headers(s3, r, path.ptr, &hdrs, err)) < 0)
		goto done;
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
	set_options(s3, e, r, url.ptr, hdrs);
	if (curl_multi_add_handle(s3->multi, e) != CURLM_OK) {
		rc = dj_err_set(err, DJ_ERROR, "cannot start an HTTP request");
		goto done;
	}
	r->easy = e, r->headers = hdrs, r->in_flight = true;
	e = NULL, hdrs = NULL;
done:
	if (e)
		curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	dj_buf_dispose(&path);
	dj_buf_dispose(&url);
	return rc;
}

static void release(dj_s3_store *s3, dj_s3_req *r)
{
	if (r->easy) {
		curl_multi_remove_handle(s3->multi, r->easy);
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

static bool has_code(const dj_s3_req *r, const char *code)
{
	dj_buf c = DJ_BUF_INIT;
	bool yes = dj_s3__xml_text(&c, r->resp.ptr, r->resp.ptr + r->resp.len, "Code") == 0 &&
	           strcmp(c.ptr, code) == 0;
	dj_buf_dispose(&c);
	return yes;
}

/* S3 may answer 200 to CompleteMultipartUpload and put an <Error> in the body: only a body whose
 * root element is <Error> counts (a DeleteResult lists <Error> entries of its own). */
static bool error_in_200(const dj_s3_req *r)
{
	const char *p = r->resp.ptr, *end = p + r->resp.len;
	if (r->status != 200 || !r->resp.len)
		return false;
	for (;;) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (end - p < 2 || p[0] != '<' || p[1] != '?')
			break;
		if (!(p = memchr(p, '>', (size_t)(end - p))))
			return false;
		p++;
	}
	return end - p >= 7 && !strncmp(p, "<Error", 6) &&
	       (p[6] == '>' || isspace((unsigned char)p[6]));
}

static bool transient_status(const dj_s3_req *r)
{
	return r->status >= 500 || r->status == 429 || r->status == 408 ||
	       (r->status == 400 && has_code(r, "RequestTimeout")) || error_in_200(r);
}

static int64_t backoff_ms(dj_s3_store *s3, int attempt)
{
	int64_t d = (int64_t)s3->retry_base_ms << (attempt < 16 ? attempt - 1 : 15);
	if (d > MAX_BACKOFF_MS)
		d = MAX_BACKOFF_MS;
	s3->jitter = s3->jitter * 1103515245u + 12345u;
	return d / 2 + (int64_t)((s3->jitter >> 8) % (uint32_t)(d / 2 + 1));
}

/* A transfer ended: finished (any HTTP answer, or an error) or scheduled for another try. */
static void finish_attempt(dj_s3_store *s3, dj_s3_req *r, int code)
{
	long status = 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	release(s3, r);
	r->attempts++;
	r->curl_code = code;
	if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && r->too_big))
		r->status = status;
	if (error_in_200(r))
		r->status = 500;
	bool again = !r->local_code && !(code == CURLE_WRITE_ERROR && r->too_big) &&
	             ((code != CURLE_OK && transient_curl(code)) ||
	              (code == CURLE_OK && transient_status(r)));
	if (again && r->attempts <= s3->retries) {
		r->not_before_ms = now_ms() + backoff_ms(s3, r->attempts);
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
static int transport_error(dj_s3_store *s3, const dj_s3_req *r, const char *what, dj_err *err)
{
	const char *msg = r->curl_msg[0] ? r->curl_msg : curl_easy_strerror((CURLcode)r->curl_code);
	if (r->local_code == DJ_ENOMEM)
		return dj_err_set(err, DJ_ENOMEM, "store '%s': %s '%s': out of memory",
		                  s3->base.name, what, r->label);
	if (r->local_code)
		return dj_err_set(err, r->local_code,
		                  "store '%s': %s '%s': more data than asked for", s3->base.name,
		                  what, r->label);
	if (r->curl_code == CURLE_OK || (r->curl_code == CURLE_WRITE_ERROR && r->too_big))
		return 0;
	return dj_err_set(err, transient_curl(r->curl_code) ? DJ_ETRANSIENT : DJ_ERROR,
	                  "store '%s': %s '%s': %s (%s, %d attempt%s)", s3->base.name, what,
	                  r->label, msg, s3->ep.base, r->attempts, r->attempts == 1 ? "" : "s");
}

/* ---- the loop ---- */

static void cancel_all(dj_s3_store *s3, dj_s3_req **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (reqs[i]->in_flight)
			release(s3, reqs[i]);
}

/* Start what may start now (up to s3->parallel in flight). */
static int start_ready(dj_s3_store *s3, dj_s3_req **reqs, size_t n, size_t *active, size_t *first,
                       dj_err *err)
{
	int64_t now = now_ms();
	int rc;
	while (*first < n && reqs[*first]->finished)
		(*first)++;
	for (size_t i = *first; i < n && *active < s3->parallel; i++) {
		dj_s3_req *r = reqs[i];
		if (r->finished || r->in_flight || r->not_before_ms > now)
			continue;
		if ((rc = start(s3, r, err)) < 0)
			return rc;
		(*active)++;
	}
	return 0;
}

/* Milliseconds until a waiting retry is due (1000 when none is), for curl_multi_poll. */
static int next_wait(dj_s3_req **reqs, size_t n, size_t first)
{
	int64_t now = now_ms(), wait = 1000;
	for (size_t i = first; i < n; i++) {
		const dj_s3_req *r = reqs[i];
		if (!r->finished && !r->in_flight && r->not_before_ms - now < wait)
			wait = r->not_before_ms - now;
	}
	return wait > 0 ? (int)wait : 0;
}

/* Collect finished transfers; 1 = stop (an answer the caller must report), < 0 = error. */
static int collect(dj_s3_store *s3, bool stop_on_error, const char *what, size_t *active,
                   size_t *done, dj_err *err)
{
	CURLMsg *m;
	int left, rc = 0;
	while (rc == 0 && (m = curl_multi_info_read(s3->multi, &left))) {
		dj_s3_req *r;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		finish_attempt(s3, r, m->data.result);
		(*active)--;
		if (!r->finished)
			continue;
		(*done)++;
		if ((rc = transport_error(s3, r, what, err)) == 0 && stop_on_error && !dj_s3__ok(r))
			rc = 1;
	}
	return rc;
}

int dj_s3__run(dj_s3_store *s3, dj_s3_req **reqs, size_t n, bool stop_on_error, const char *what,
               dj_err *err)
{
	size_t active = 0, done = 0, first = 0;
	int rc = 0, running;
	while (done < n && rc == 0) {
		if ((rc = start_ready(s3, reqs, n, &active, &first, err)) < 0)
			break;
		curl_multi_perform(s3->multi, &running);
		if ((rc = collect(s3, stop_on_error, what, &active, &done, err)) == 0 && done < n)
			curl_multi_poll(s3->multi, NULL, 0, next_wait(reqs, n, first), NULL);
	}
	cancel_all(s3, reqs, n);
	return rc > 0 ? 0 : rc;
}

/* ---- HTTP errors ---- */

static bool auth_code(const char *c)
{
	static const char *const codes[] = {
	    "SignatureDoesNotMatch", "InvalidAccessKeyId", "AuthorizationHeaderMalformed",
	    "InvalidToken",          "ExpiredToken",       "TokenRefreshRequired"};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(c, codes[i]))
			return true;
	return false;
}

int dj_s3__http_error(dj_s3_store *s3, const dj_s3_req *r, const char *what, const char *key,
                      dj_err *err)
{
	const char *name = s3->base.name;
	dj_buf code = DJ_BUF_INIT;
	int rc;
	dj_s3__xml_text(&code, r->resp.ptr, r->resp.ptr + r->resp.len, "Code");
	if ((r->status == 403 || r->status == 401) && auth_code(code.ptr))
		rc = dj_err_set(err, DJ_EUSAGE,
		                "store '%s': authentication failed: %s (check access_key and "
		                "secret_key) %s '%s'",
		                name, code.ptr, what, key);
	else if (r->status == 403 && !code.len)
		rc = dj_err_set(
		    err, DJ_EUSAGE,
		    "store '%s': authentication failed or access denied (HTTP 403) %s '%s'", name,
		    what, key);
	else if (r->status == 403 && !strcmp(code.ptr, "RequestTimeTooSkewed"))
		rc = dj_err_set(err, DJ_ERROR,
		                "store '%s': this machine's clock differs from the server's by "
		                "over 15 minutes (%s '%s')",
		                name, what, key);
	else if (r->status == 404 && !strcmp(code.ptr, "NoSuchBucket"))
		rc = dj_err_set(err, DJ_ENOTFOUND, "store '%s': bucket '%s' not found (%s '%s')",
		                name, s3->bucket, what, key);
	else if (r->status == 404 && !strcmp(code.ptr, "NoSuchUpload"))
		rc = dj_err_set(err, DJ_ENOTFOUND,
		                "store '%s': upload of '%s' not found (completed or aborted)", name,
		                key);
	else if (r->status == 404)
		rc = dj_err_set(err, DJ_ENOTFOUND, "store '%s': '%s' not found", name, key);
	else if (r->status == 412)
		rc = dj_err_set(err, DJ_ECONFLICT, "store '%s': '%s' changed while %s it", name,
		                key, what);
	else
		rc =
		    dj_err_set(err, r->status >= 500 || r->status == 429 ? DJ_ETRANSIENT : DJ_ERROR,
		               "store '%s': HTTP %ld%s%s %s '%s' (%d attempt%s)", name, r->status,
		               code.len ? " " : "", code.ptr, what, key, r->attempts,
		               r->attempts == 1 ? "" : "s");
	dj_buf_dispose(&code);
	return rc;
}
