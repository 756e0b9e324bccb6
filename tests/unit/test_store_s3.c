/*
 * stores/s3*.c without an S3 server: endpoints (formats.md §8.6), XML and dates, and the
 * request engine against a scripted loopback HTTP server (a forked child): retries with
 * back-off, answers cut short, a server that dies mid-upload, authentication errors.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/fake_http.h"

#include "stores/s3_internal.h"
#include "stores/store.h"

/* ---- endpoints ---- */

static void endpoint_is(const char *ep, bool secure, const char *bucket, dj_store_addressing m,
                        const char *base, const char *host, const char *path)
{
	dj_s3_endpoint e;
	dj_err err = DJ_ERR_INIT;
	if (dj_s3__endpoint(&e, ep, secure, bucket, m, &err) != 0)
		fail_msg("%s: %s", ep, err.msg);
	assert_string_equal(e.base, base);
	assert_string_equal(e.host, host);
	assert_string_equal(e.path, path);
	dj_s3__endpoint_dispose(&e);
}

static void endpoints(void **state)
{
	(void)state;
	dj_s3_endpoint e;
	dj_err err = DJ_ERR_INIT;
	/* no scheme: `secure` decides (default true) */
	endpoint_is("127.0.0.1:9000", false, "b", DJ_STORE_ADDR_AUTO, "http://127.0.0.1:9000",
	            "127.0.0.1:9000", "/b");
	endpoint_is("minio.lab:9000", true, "b", DJ_STORE_ADDR_AUTO, "https://minio.lab:9000",
	            "minio.lab:9000", "/b");
	/* an explicit scheme wins over `secure`; default ports leave the Host header */
	endpoint_is("http://minio:80/", true, "b", DJ_STORE_ADDR_AUTO, "http://minio", "minio",
	            "/b");
	endpoint_is("https://gw.example.org:443/s3/", false, "b", DJ_STORE_ADDR_AUTO,
	            "https://gw.example.org", "gw.example.org", "/s3/b");
	/* AWS: virtual-hosted when the bucket is a DNS label (botocore's choice) */
	endpoint_is("s3.amazonaws.com", true, "lab-raw", DJ_STORE_ADDR_AUTO,
	            "https://lab-raw.s3.amazonaws.com", "lab-raw.s3.amazonaws.com", "");
	endpoint_is("s3.amazonaws.com", true, "lab.raw", DJ_STORE_ADDR_AUTO,
	            "https://s3.amazonaws.com", "s3.amazonaws.com", "/lab.raw");
	endpoint_is("s3.amazonaws.com", true, "Lab_Raw", DJ_STORE_ADDR_AUTO,
	            "https://s3.amazonaws.com", "s3.amazonaws.com", "/Lab_Raw");
	endpoint_is("s3.amazonaws.com", true, "lab-raw", DJ_STORE_ADDR_PATH,
	            "https://s3.amazonaws.com", "s3.amazonaws.com", "/lab-raw");
	endpoint_is("minio.lab:9000", false, "b", DJ_STORE_ADDR_VHOST, "http://b.minio.lab:9000",
	            "b.minio.lab:9000", "");
	assert_int_equal(dj_s3__endpoint(&e, "", true, "b", DJ_STORE_ADDR_AUTO, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_s3__endpoint(&e, "h", true, "", DJ_STORE_ADDR_AUTO, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_s3__endpoint(&e, "https:///x", true, "b", DJ_STORE_ADDR_AUTO, &err),
	                 DJ_EUSAGE);
}

/* ---- XML ---- */

typedef struct items {
	char key[8][64];
	uint64_t size[8];
	int64_t mtime[8];
	int n;
} items;

static int item(const char *key, uint64_t size, int64_t mtime, bool is_dir, void *payload)
{
	items *it = payload;
	snprintf(it->key[it->n], 64, "%s%s", is_dir ? "dir:" : "", key);
	it->size[it->n] = size;
	it->mtime[it->n++] = mtime;
	return 0;
}

static const char page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>loc/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>loc/O&apos;Brien &amp; Co</Key><LastModified>2026-11-21T21:07:14.000Z"
    "</LastModified><ETag>&quot;x&quot;</ETag><Size>11</Size><StorageClass>STANDARD"
    "</StorageClass></Contents>"
    "<Contents><Key>loc/&lt;x&gt;&#39;&#xFC;&#x1F600;</Key><LastModified>2026-11-21T21:07:15Z"
    "</LastModified><Size>0</Size><Owner><ID>1</ID><DisplayName/></Owner></Contents>"
    "<Contents><Key>loc/KeyCount</Key><LastModified>2026-11-21T21:07:14.000Z</LastModified>"
    "<Size>18446744073709551615</Size></Contents>"
    "<CommonPrefixes><Prefix>loc/d&amp;r/</Prefix></CommonPrefixes>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "</ListBucketResult>";

static void xml_listing(void **state)
{
	(void)state;
	items it = {0};
	bool more;
	dj_buf next = DJ_BUF_INIT;
	assert_int_equal(dj_s3__parse_list(page, strlen(page), item, &it, &more, &next), 0);
	assert_int_equal(it.n, 4);
	assert_string_equal(it.key[3], "dir:loc/d&r/"); /* a delimiter listing's folder */
	assert_string_equal(it.key[0], "loc/O'Brien & Co");
	assert_int_equal(it.size[0], 11);
	assert_int_equal(it.mtime[0], 1795295234);
	assert_string_equal(it.key[1], "loc/<x>'\xc3\xbc\xf0\x9f\x98\x80");
	assert_int_equal(it.mtime[1], 1795295235);
	assert_string_equal(it.key[2], "loc/KeyCount");
	assert_int_equal(it.size[2], UINT64_MAX);
	assert_true(more);
	assert_string_equal(next.ptr, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	dj_buf_dispose(&next);
}

static void xml_bad_pages(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "<Error><Code>x</Code></Error>",
	    "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
	    "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents>"
	    "</ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key>",
	};
	dj_buf next = DJ_BUF_INIT;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		items it = {0};
		bool more;
		if (dj_s3__parse_list(bad[i], strlen(bad[i]), item, &it, &more, &next) !=
		    DJ_EFORMAT)
			fail_msg("accepted: %s", bad[i]);
	}
	dj_buf_dispose(&next);
}

static void xml_text(void **state)
{
	(void)state;
	static const char *const bad[] = {"&", "&amp", "&#0;", "&#xD800;", "&#x;", "&#;", "&foo;"};
	dj_buf b = DJ_BUF_INIT;
	const char *doc = "<A><Code/><Code2>no</Code2><Code>Slow&amp;Down</Code></A>", *ce, *after;
	assert_int_equal(dj_xml__escape(&b, "a&b<c>'\"d"), 0);
	assert_string_equal(b.ptr, "a&amp;b&lt;c&gt;&apos;&quot;d");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dj_buf_reset(&b);
		if (dj_xml__unescape(&b, bad[i], strlen(bad[i])) != DJ_EFORMAT)
			fail_msg("accepted: %s", bad[i]);
	}
	/* <Code/> is empty; <Code2> is another tag */
	assert_non_null(dj_xml__find(doc, doc + strlen(doc), "Code", &ce, &after));
	assert_int_equal(dj_xml__text(&b, after, doc + strlen(doc), "Code"), 0);
	assert_string_equal(b.ptr, "Slow&Down");
	assert_int_equal(dj_xml__text(&b, doc, doc + strlen(doc), "Missing"), DJ_ENOTFOUND);
	dj_buf_dispose(&b);
}

static void dates(void **state)
{
	(void)state;
	assert_int_equal(dj_http__parse_iso8601("2026-11-21T21:07:14.000Z"), 1795295234);
	assert_int_equal(dj_http__parse_iso8601("2026-11-21T21:07:14Z"), 1795295234);
	assert_int_equal(dj_http__parse_iso8601("2026-11-21 21:07:14"), -1);
	assert_int_equal(dj_http__parse_iso8601("2026-13-21T21:07:14Z"), -1);
	assert_int_equal(dj_http__parse_date("Sat, 21 Nov 2026 21:07:14 GMT"), 1795295234);
	assert_int_equal(dj_http__parse_date("Sat, 21 Foo 2026 21:07:14 GMT"), -1);
	assert_int_equal(dj_http__parse_date("yesterday"), -1);
}

/* ---- a scripted HTTP server (tests/unit/fake_http.c) ---- */

/* no alarm shorter than the longest retry back-off these tests provoke */
static const fake_http_opts s3_http = {.timeout_s = 60};

static dj_store *open_at(int port, int retries)
{
	char ep[64];
	dj_store_spec spec = {0};
	dj_store_opts o = {0};
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	spec.name = "fake";
	spec.protocol = "s3";
	spec.endpoint = ep;
	spec.bucket = "bkt";
	spec.location = "loc";
	spec.access_key = "AKID";
	spec.secret_key = "SECRET";
	o.retries = retries;
	o.retry_base_ms = 1;
	o.connect_timeout_ms = 2000;
	o.stall_timeout_s = 5;
	if (dj_store_open_opts(&st, &spec, &o, &err) != 0)
		fail_msg("%s", err.msg);
	return st;
}

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
#define SLOW_DOWN                                                                                  \
	"HTTP/1.1 503 Slow Down\r\nContent-Length: 47\r\nConnection: close\r\n\r\n"                \
	"<Error><Code>SlowDown</Code><Message/></Error>\n"
#define CUT_SHORT "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789"

static void retry_then_ok(void **state)
{
	(void)state;
	const char *const script[] = {SLOW_DOWN, CUT_SHORT, OK_HELLO};
	fake_http s = fake_http_serve(script, 3, &s3_http);
	dj_store *st = open_at(s.port, 3);
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	char *log;
	dj_buf_adds(&b, ">");
	if (dj_store_get(st, "a b/c+d", &b, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(b.ptr, ">hello"); /* the cut-short attempt left nothing behind */
	log = fake_http_finish(&s);
	assert_string_equal(log, "GET /bkt/loc/a%20b/c%2Bd HTTP/1.1\n"
	                         "GET /bkt/loc/a%20b/c%2Bd HTTP/1.1\n"
	                         "GET /bkt/loc/a%20b/c%2Bd HTTP/1.1\n");
	free(log);
	dj_buf_dispose(&b);
	dj_store_close(st);
}

static void retries_run_out(void **state)
{
	(void)state;
	const char *const script[] = {SLOW_DOWN, SLOW_DOWN, SLOW_DOWN};
	fake_http s = fake_http_serve(script, 3, &s3_http);
	dj_store *st = open_at(s.port, 2);
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_store_get(st, "k", &b, &err), DJ_ETRANSIENT);
	assert_string_equal(err.msg, "store 'fake': HTTP 503 SlowDown reading 'k' (3 attempts)");
	free(fake_http_finish(&s));
	dj_store_close(st);
}

static void upload_dies(void **state)
{
	(void)state;
	const char *const script[] = {FAKE_HTTP_DROP, FAKE_HTTP_DROP};
	fake_http s = fake_http_serve(script, 2, &s3_http);
	dj_store *st = open_at(s.port, 1);
	dj_err err = DJ_ERR_INIT;
	static char data[1 << 20];
	char *log;
	assert_int_equal(dj_store_put(st, "up/obj", data, sizeof(data), 0, &err), DJ_ETRANSIENT);
	assert_non_null(strstr(err.msg, "store 'fake': writing 'up/obj': "));
	assert_non_null(strstr(err.msg, "2 attempts"));
	assert_null(strstr(err.msg, "SECRET"));
	log = fake_http_finish(&s);
	assert_string_equal(log, "PUT /bkt/loc/up/obj HTTP/1.1\nPUT /bkt/loc/up/obj HTTP/1.1\n");
	free(log);
	dj_store_close(st);
}

static void no_server(void **state)
{
	(void)state;
	const char *const script[] = {OK_HELLO};
	fake_http s = fake_http_serve(script, 1, &s3_http);
	dj_store *st = open_at(s.port, 1), *gone;
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	/* take the port, then let it go: nothing listens there any more */
	assert_int_equal(dj_store_get(st, "k", &b, &err), 0);
	free(fake_http_finish(&s));
	gone = open_at(s.port, 1);
	assert_int_equal(dj_store_get(gone, "k", &b, &err), DJ_ETRANSIENT);
	assert_non_null(strstr(err.msg, "2 attempts"));
	assert_non_null(strstr(err.msg, "http://127.0.0.1:"));
	dj_store_close(gone);
	dj_store_close(st);
	dj_buf_dispose(&b);
}

static void http_errors(void **state)
{
	(void)state;
	const char *const script[] = {
	    "HTTP/1.1 403 Forbidden\r\nContent-Length: 50\r\nConnection: close\r\n\r\n"
	    "<Error><Code>SignatureDoesNotMatch</Code></Error>\n",
	    "HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n", /* HEAD: no body */
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 41\r\nConnection: close\r\n\r\n"
	    "<Error><Code>NoSuchBucket</Code></Error>\n",
	    "HTTP/1.1 400 Bad Request\r\nContent-Length: 47\r\nConnection: close\r\n\r\n"
	    "<Error><Code>InvalidArgument</Code></Error>\n   ",
	};
	fake_http s = fake_http_serve(script, 4, &s3_http);
	dj_store *st = open_at(s.port, 3);
	dj_err err = DJ_ERR_INIT;
	dj_store_stat stat;
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_store_put(st, "x", "1", 1, 0, &err), DJ_EUSAGE);
	assert_string_equal(err.msg, "store 'fake': authentication failed: SignatureDoesNotMatch "
	                             "(check access_key and secret_key) writing 'x'");
	dj_err_clear(&err);
	assert_int_equal(dj_store_head(st, "x", &stat, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "authentication failed or access denied (HTTP 403)"));
	dj_err_clear(&err);
	assert_int_equal(dj_store_get(st, "x", &b, &err), DJ_ENOTFOUND);
	assert_string_equal(err.msg, "store 'fake': bucket 'bkt' not found (reading 'x')");
	dj_err_clear(&err);
	assert_int_equal(dj_store_remove(st, "x", &err), DJ_ERROR);
	assert_string_equal(err.msg,
	                    "store 'fake': HTTP 400 InvalidArgument deleting 'x' (1 attempt)");
	free(fake_http_finish(&s));
	dj_store_close(st);
	dj_buf_dispose(&b);
}

static int count(const dj_store_entry *e, void *payload)
{
	*(int *)payload += (int)e->size;
	assert_true(!strcmp(e->key, "p/1") || !strcmp(e->key, "p/2")); /* location stripped */
	return 0;
}

#define XML_OK(body)                                                                               \
	"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n" body

static void multipart_and_paging(void **state)
{
	(void)state;
	const char *const script[] = {
	    XML_OK("<InitiateMultipartUploadResult><UploadId>u+1/=</UploadId>"
	           "</InitiateMultipartUploadResult>"),
	    "HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    /* S3 may report a failed completion as 200 with an <Error> body: retried */
	    XML_OK("<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code></Error>"),
	    XML_OK("<CompleteMultipartUploadResult><ETag>\"e-1\"</ETag>"
	           "</CompleteMultipartUploadResult>"),
	    XML_OK("<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>loc/p/1</Key>"
	           "<Size>1</Size></Contents><NextContinuationToken>t/+=</NextContinuationToken>"
	           "</ListBucketResult>"),
	    XML_OK("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>loc/p/2</Key>"
	           "<Size>2</Size></Contents></ListBucketResult>"),
	};
	fake_http s = fake_http_serve(script, 6, &s3_http);
	dj_store *st = open_at(s.port, 3);
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part p;
	dj_err err = DJ_ERR_INIT;
	int n = 0;
	char *log;
	assert_int_equal(dj_store_writer_create(st, "m/o", DJ_S3_MIN_PART, 0, &w, &err), 0);
	assert_string_equal(w.id, "u+1/=");
	assert_int_equal(dj_store_writer_part(st, &w, 1, "abc", 3, &p, &err), 0);
	assert_string_equal(p.etag, "\"e1\"");
	if (dj_store_writer_complete(st, &w, &p, 1, &err) != 0)
		fail_msg("%s", err.msg);
	dj_store_writer_dispose(&w);
	assert_int_equal(dj_store_list(st, "p/", NULL, NULL, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_store_list(st, "p/", count, &n, &err), 0);
	assert_int_equal(n, 3); /* sizes 1 + 2 */
	log = fake_http_finish(&s);
	assert_string_equal(log,
	                    "POST /bkt/loc/m/o?uploads= HTTP/1.1\n"
	                    "PUT /bkt/loc/m/o?partNumber=1&uploadId=u%2B1%2F%3D HTTP/1.1\n"
	                    "POST /bkt/loc/m/o?uploadId=u%2B1%2F%3D HTTP/1.1\n"
	                    "POST /bkt/loc/m/o?uploadId=u%2B1%2F%3D HTTP/1.1\n"
	                    "GET /bkt?list-type=2&max-keys=1000&prefix=loc%2Fp%2F HTTP/1.1\n"
	                    "GET /bkt?continuation-token=t%2F%2B%3D&list-type=2&prefix=loc%2Fp%2F "
	                    "HTTP/1.1\n");
	free(log);
	dj_store_close(st);
}

static void open_checks(void **state)
{
	(void)state;
	dj_store_spec spec = {0};
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	spec.name = "half";
	spec.protocol = "s3";
	spec.endpoint = "localhost:1";
	spec.bucket = "b";
	spec.access_key = "only-the-key";
	spec.secret_key = "";
	assert_int_equal(dj_store_open(&st, &spec, &err), DJ_EUSAGE);
	assert_string_equal(err.msg, "store 'half': access_key and secret_key go together");
	dj_err_clear(&err);
	spec.access_key = "";
	spec.endpoint = NULL;
	assert_int_equal(dj_store_open(&st, &spec, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "store 'half'"));
	dj_err_clear(&err);
	/* writers need parts of at least 5 MiB on S3 */
	spec.endpoint = "localhost:1";
	assert_int_equal(dj_store_open(&st, &spec, &err), 0);
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	assert_int_equal(dj_store_writer_create(st, "k", 1 << 20, 0, &w, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "5 MiB"));
	dj_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(endpoints),
	    cmocka_unit_test(xml_listing),
	    cmocka_unit_test(xml_bad_pages),
	    cmocka_unit_test(xml_text),
	    cmocka_unit_test(dates),
	    cmocka_unit_test(retry_then_ok),
	    cmocka_unit_test(retries_run_out),
	    cmocka_unit_test(upload_dies),
	    cmocka_unit_test(no_server),
	    cmocka_unit_test(http_errors),
	    cmocka_unit_test(multipart_and_paging),
	    cmocka_unit_test(open_checks),
	};
	return cmocka_run_group_tests_name("store_s3", tests, NULL, NULL);
}
