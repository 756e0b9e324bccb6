/*
 * stores/azure*.c without a server: connection strings and endpoints (formats.md §8.6), the
 * SharedKey string to sign and signature (expected values computed with Python's hmac), List
 * Blobs pages, block ids; then the backend against a scripted loopback HTTP server (a forked
 * child): request lines, retries, error codes from x-ms-error-code, conditional puts, paging.
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

#include "stores/azure_internal.h"
#include "stores/store.h"

#define DEV_KEY DJ_AZURE_DEV_KEY

/* ---- accounts ---- */

static void account_is(const char *cs, const char *name, const char *key, const char *ep,
                       const char *want_name, const char *want_key, const char *want_base,
                       const char *want_path)
{
	dj_azure_account a;
	dj_err err = DJ_ERR_INIT;
	if (dj_azure__account(&a, cs, name, key, ep, &err) != 0)
		fail_msg("%s: %s", cs ? cs : "-", err.msg);
	assert_string_equal(a.name, want_name);
	if (want_key)
		assert_string_equal(a.key, want_key);
	else
		assert_null(a.key);
	assert_string_equal(a.base, want_base);
	assert_string_equal(a.path, want_path);
	dj_azure__account_dispose(&a);
}

static void accounts(void **state)
{
	(void)state;
	dj_azure_account a;
	dj_err err = DJ_ERR_INIT;
	/* Azurite as its users configure it: BlobEndpoint with the account in the path */
	account_is("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" DEV_KEY
	           ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
	           NULL, NULL, NULL, "devstoreaccount1", DEV_KEY, "http://127.0.0.1:10000",
	           "/devstoreaccount1");
	account_is("UseDevelopmentStorage=true", NULL, NULL, NULL, "devstoreaccount1", DEV_KEY,
	           "http://127.0.0.1:10000", "/devstoreaccount1");
	/* Azure: https://{account}.blob.{suffix}; names and keys case-insensitively */
	account_is("accountname=lab;accountkey=a2V5;EndpointSuffix=core.chinacloudapi.cn", NULL,
	           NULL, NULL, "lab", "a2V5", "https://lab.blob.core.chinacloudapi.cn", "");
	account_is(NULL, "lab", "a2V5", NULL, "lab", "a2V5", "https://lab.blob.core.windows.net",
	           "");
	account_is(NULL, "lab", NULL, NULL, "lab", NULL, "https://lab.blob.core.windows.net", "");
	/* the connection string wins where it says something; the spec fills the gaps */
	account_is("AccountName=cs;DefaultEndpointsProtocol=http", "spec", "a2V5", NULL, "cs",
	           "a2V5", "http://cs.blob.core.windows.net", "");
	/* an explicit endpoint (tests, programs) wins over everything; trailing '/' dropped */
	account_is("AccountName=a;BlobEndpoint=http://x:1/a", NULL, NULL, "http://h:2/acc//", "a",
	           NULL, "http://h:2", "/acc");
	assert_int_equal(dj_azure__account(&a, "AccountKey=a2V5", NULL, NULL, NULL, &err),
	                 DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "account_name"));
	dj_err_clear(&err);
	assert_int_equal(dj_azure__account(&a, "AccountName=x;AccountKey", NULL, NULL, NULL, &err),
	                 DJ_EUSAGE);
	assert_null(strstr(err.msg, "AccountKey"));
	dj_err_clear(&err);
	assert_int_equal(dj_azure__account(&a,
	                                   "AccountName=x;SharedAccessSignature=sv=1&sig=S3CR3T",
	                                   NULL, NULL, NULL, &err),
	                 DJ_ENOTSUP);
	assert_null(strstr(err.msg, "S3CR3T"));
	dj_err_clear(&err);
	assert_int_equal(dj_azure__account(&a, "AccountName=x;DefaultEndpointsProtocol=ftp", NULL,
	                                   NULL, NULL, &err),
	                 DJ_EUSAGE);
	dj_err_clear(&err);
	assert_int_equal(dj_azure__account(&a, NULL, "x", NULL, "ftp://h/x", &err), DJ_EUSAGE);
}

/* ---- SharedKey ---- */

static void string_to_sign(void **state)
{
	(void)state;
	static const char *const ms[] = {"x-ms-version:2021-08-06",
	                                 "x-ms-date:Sat, 21 Nov 2026 21:07:14 GMT",
	                                 "x-ms-blob-type:BlockBlob"};
	static const dj_http_param q[] = {{"restype", "container"},
	                                  {"prefix", "loc/a b"},
	                                  {"marker", "2!abc+/="},
	                                  {"comp", "list"}};
	dj_azure_sign_in put = {.method = "PUT",
	                        .content_length = 11,
	                        .if_none_match = "*",
	                        .ms_headers = ms,
	                        .nms = 3,
	                        .account = "devstoreaccount1",
	                        .path = "/devstoreaccount1/cont/loc/a%20b.bin"};
	dj_azure_sign_in list = {.method = "GET",
	                         .ms_headers = ms,
	                         .nms = 2,
	                         .account = "myaccount",
	                         .path = "/cont",
	                         .query = q,
	                         .nquery = 4};
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	char sig[45];
	/* headers sorted; the account twice for path-style URLs; Content-Length as sent */
	assert_int_equal(dj_azure__string_to_sign(&b, &put, &err), 0);
	assert_string_equal(b.ptr, "PUT\n\n\n11\n\n\n\n\n\n*\n\n\n"
	                           "x-ms-blob-type:BlockBlob\n"
	                           "x-ms-date:Sat, 21 Nov 2026 21:07:14 GMT\n"
	                           "x-ms-version:2021-08-06\n"
	                           "/devstoreaccount1/devstoreaccount1/cont/loc/a%20b.bin");
	assert_int_equal(dj_azure__signature(DEV_KEY, b.ptr, b.len, sig, &err), 0);
	assert_string_equal(sig, "oMDIevKmGJ631yPDvxwX/Lq7pBg9gnGghWFGJTqX4ss=");
	/* no body: Content-Length signed as ""; query parameters sorted, values raw */
	dj_buf_reset(&b);
	list.ms_headers = ms;
	list.nms = 2;
	assert_int_equal(dj_azure__string_to_sign(&b, &list, &err), 0);
	assert_string_equal(b.ptr, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
	                           "x-ms-date:Sat, 21 Nov 2026 21:07:14 GMT\n"
	                           "x-ms-version:2021-08-06\n"
	                           "/myaccount/cont\ncomp:list\nmarker:2!abc+/=\nprefix:loc/a b\n"
	                           "restype:container");
	assert_int_equal(dj_azure__signature(DEV_KEY, b.ptr, b.len, sig, &err), 0);
	assert_string_equal(sig, "gK8iQCnBqhiv0l2StUhxN1WlSPxvWbt90hDsA1n/tSU=");
	assert_int_equal(dj_azure__signature("not base64!", "x", 1, sig, &err), DJ_EUSAGE);
	assert_string_equal(err.msg, "account_key is not valid base64");
	dj_buf_dispose(&b);
}

static void dates_and_ids(void **state)
{
	(void)state;
	char d[30], id[48];
	dj_azure__date(1795295234, d);
	assert_string_equal(d, "Sat, 21 Nov 2026 21:07:14 GMT");
	assert_int_equal(dj_azure__block_id(id, sizeof(id), "0123456789abcdef", 7), 0);
	assert_string_equal(id, "MDEyMzQ1Njc4OWFiY2RlZi0wMDAwMDc=");
	assert_int_equal(dj_azure__block_id(id, sizeof(id), "0123456789abcdef", 10000), 0);
	assert_int_equal(strlen(id), 32); /* every block of a blob: the same length */
	assert_int_equal(dj_azure__block_id(id, 8, "0123456789abcdef", 1), DJ_EUSAGE);
}

/* ---- listings ---- */

typedef struct seen {
	char text[1024];
	size_t n;
} seen;

static int note(const char *name, uint64_t size, int64_t mtime, bool is_dir, void *payload)
{
	seen *s = payload;
	s->n += (size_t)snprintf(s->text + s->n, sizeof(s->text) - s->n, "%s%s=%llu@%lld;", name,
	                         is_dir ? "/" : "", (unsigned long long)size, (long long)mtime);
	return 0;
}

static void listing(void **state)
{
	(void)state;
	static const char page[] =
	    "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" "
	    "ContainerName=\"c\"><Prefix>loc/</Prefix><MaxResults>2</MaxResults><Blobs>"
	    "<Blob><Name>loc/O&apos;Brien&amp;Co</Name><Properties>"
	    "<Last-Modified>Sat, 21 Nov 2026 21:07:14 GMT</Last-Modified>"
	    "<Etag>0x8D</Etag><Content-Length>12</Content-Length></Properties></Blob>"
	    "<BlobPrefix><Name>loc/dir/</Name></BlobPrefix>"
	    "<Blob><Name Encoded=\"true\">loc/%01ctl</Name><Properties>"
	    "<Content-Length>0</Content-Length></Properties></Blob>"
	    "</Blobs><NextMarker>2!68!bWFya2Vy</NextMarker></EnumerationResults>";
	static const char last[] = "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>";
	seen s = {{0}, 0};
	dj_buf next = DJ_BUF_INIT;
	assert_int_equal(dj_azure__parse_list(page, strlen(page), note, &s, &next), 0);
	assert_string_equal(s.text, "loc/O'Brien&Co=12@1795295234;loc/dir//=0@0;loc/\x01"
	                            "ctl=0@0;");
	assert_string_equal(next.ptr, "2!68!bWFya2Vy");
	memset(&s, 0, sizeof(s));
	assert_int_equal(dj_azure__parse_list(last, strlen(last), note, &s, &next), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(next.len, 0);
	assert_int_equal(dj_azure__parse_list("<Error/>", 8, note, &s, &next), DJ_EFORMAT);
	assert_int_equal(dj_azure__parse_list("<EnumerationResults><Blobs><Blob><Size>1</Size>"
	                                      "</Blob></Blobs></EnumerationResults>",
	                                      87, note, &s, &next),
	                 DJ_EFORMAT);
	dj_buf_dispose(&next);
}

/* ---- a scripted HTTP server (tests/unit/fake_http.c) ---- */

static const char *const shown[] = {"\r\nx-ms-blob-type:", "\r\nIf-None-Match:", "\r\nRange:",
				    "\r\nIf-Match:"};

/* Every request must carry our SharedKey signature and the API version. */
static void check_signed(const char *head, int log)
{
	if (!strstr(head, "\r\nAuthorization: SharedKey acct:") ||
	    !strstr(head, "\r\nx-ms-version: " DJ_AZURE_VERSION "\r\n"))
		(void)!write(log, "UNSIGNED\n", 9);
}

static const fake_http_opts azure_http = {
	.show = shown,
	.nshow = sizeof(shown) / sizeof(shown[0]),
	.check = check_signed,
	.add_length = true,
	.log_body_when = "comp=blocklist ",
};

static dj_store *open_at(int port, size_t part)
{
	char cs[512];
	dj_store_spec spec = {0};
	dj_store_opts o = {0};
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	snprintf(cs, sizeof(cs),
	         "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=" DEV_KEY
	         ";BlobEndpoint=http://127.0.0.1:%d/acct",
	         port);
	spec.name = "fake";
	spec.protocol = "azure";
	spec.container = "cont";
	spec.location = "loc";
	spec.connection_string = cs;
	o.retries = 2;
	o.retry_base_ms = 1;
	o.connect_timeout_ms = 2000;
	o.stall_timeout_s = 5;
	o.part_size = part;
	o.multipart_threshold = part;
	if (dj_store_open_opts(&st, &spec, &o, &err) != 0)
		fail_msg("%s", err.msg);
	return st;
}

/* The server adds Content-Length for what follows the blank line. */
#define ANSWER(status, headers, body)                                                              \
	"HTTP/1.1 " status "\r\nConnection: close\r\n" headers "\r\n" body

#define BUSY ANSWER("503 Server Busy", "x-ms-error-code: ServerBusy\r\n", "")
#define CREATED ANSWER("201 Created", "", "")

static void requests(void **state)
{
	(void)state;
	const char *const script[] = {
	    BUSY,
	    CREATED, /* put: retried */
	    ANSWER("409 Conflict", "x-ms-error-code: BlobAlreadyExists\r\n", ""),
	    ANSWER("200 OK", "ETag: \"0x1\"\r\n", "hello"),                   /* get */
	    ANSWER("404 Not Found", "x-ms-error-code: BlobNotFound\r\n", ""), /* head */
	    ANSWER("200 OK", "",
	           "<EnumerationResults><Blobs></Blobs><NextMarker>"
	           "</NextMarker></EnumerationResults>"),
	    ANSWER("403 Forbidden", "x-ms-error-code: AuthenticationFailed\r\n", ""),
	    ANSWER("202 Accepted", "", ""), /* delete */
	};
	fake_http s = fake_http_serve(script, 8, &azure_http);
	dj_store *st = open_at(s.port, 1 << 20);
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	dj_store_stat stat;
	char *log;
	if (dj_store_put(st, "a b/c+d", "12345", 5, 0, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dj_store_put(st, "x", "1", 1, DJ_STORE_IF_ABSENT, &err), DJ_EEXISTS);
	assert_string_equal(err.msg, "store 'fake': 'x' already exists");
	dj_err_clear(&err);
	assert_int_equal(dj_store_get(st, "x", &b, &err), 0);
	assert_string_equal(b.ptr, "hello");
	assert_int_equal(dj_store_head(st, "x", &stat, &err), 0); /* 404: absent; then "x/" */
	assert_false(stat.exists);
	assert_int_equal(dj_store_get(st, "x", &b, &err), DJ_EUSAGE);
	assert_string_equal(err.msg, "store 'fake': authentication failed: AuthenticationFailed "
	                             "(check account_name and account_key, or "
	                             "connection_string) reading 'x'");
	assert_null(strstr(err.msg, DEV_KEY));
	dj_err_clear(&err);
	assert_int_equal(dj_store_remove(st, "x", &err), 0);
	log = fake_http_finish(&s);
	assert_string_equal(
	    log, "PUT /acct/cont/loc/a%20b/c%2Bd HTTP/1.1 |x-ms-blob-type: BlockBlob\n"
	         "PUT /acct/cont/loc/a%20b/c%2Bd HTTP/1.1 |x-ms-blob-type: BlockBlob\n"
	         "PUT /acct/cont/loc/x HTTP/1.1 |x-ms-blob-type: BlockBlob |If-None-Match: *\n"
	         "GET /acct/cont/loc/x HTTP/1.1\n"
	         "HEAD /acct/cont/loc/x HTTP/1.1\n"
	         "GET /acct/cont?comp=list&maxresults=1&prefix=loc%2Fx%2F&restype=container "
	         "HTTP/1.1\n"
	         "GET /acct/cont/loc/x HTTP/1.1\n"
	         "DELETE /acct/cont/loc/x HTTP/1.1\n");
	free(log);
	dj_buf_dispose(&b);
	dj_store_close(st);
}

static int add_size(const dj_store_entry *e, void *payload)
{
	*(uint64_t *)payload += e->size;
	assert_true(!strcmp(e->key, "p/1") || !strcmp(e->key, "p/2")); /* location stripped */
	return 0;
}

/* The block id of part n as it appears in a URL. */
static void url_block_id(char *out, size_t cap, const char *id, uint32_t n)
{
	char raw[48];
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_azure__block_id(raw, sizeof(raw), id, n), 0);
	assert_int_equal(dj_sigv4_uri_encode(&b, raw, strlen(raw), false), 0);
	snprintf(out, cap, "%s", b.ptr);
	dj_buf_dispose(&b);
}

static void blocks_and_paging(void **state)
{
	(void)state;
	const char *const script[] = {
	    CREATED,
	    CREATED,
	    BUSY,
	    CREATED, /* two blocks, then the list (retried) */
	    ANSWER("200 OK", "",
	           "<EnumerationResults><Blobs><Blob><Name>loc/p/1</Name>"
	           "<Properties><Content-Length>1</Content-Length></Properties></Blob>"
	           "</Blobs><NextMarker>m/+=</NextMarker></EnumerationResults>"),
	    ANSWER("200 OK", "",
	           "<EnumerationResults><Blobs><Blob><Name>loc/p/2</Name>"
	           "<Properties><Content-Length>2</Content-Length></Properties></Blob>"
	           "</Blobs><NextMarker/></EnumerationResults>"),
	};
	fake_http s = fake_http_serve(script, 6, &azure_http);
	dj_store *st = open_at(s.port, 4);
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part p[2];
	dj_err err = DJ_ERR_INIT;
	char *log, want[4096], u1[64], u2[64], r1[48], r2[48];
	uint64_t total = 0;
	assert_int_equal(dj_store_writer_create(st, "m/o", 4, 0, &w, &err), 0);
	assert_int_equal(strlen(w.id), 16);
	/* parts in any order, from any process that knows the four fields */
	assert_int_equal(dj_store_writer_part(st, &w, 2, "ef", 2, &p[1], &err), 0);
	assert_int_equal(dj_store_writer_part(st, &w, 1, "abcd", 4, &p[0], &err), 0);
	if (dj_store_writer_complete(st, &w, p, 2, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dj_store_list(st, "p/", add_size, &total, &err), 0);
	assert_int_equal(total, 3);
	log = fake_http_finish(&s);
	url_block_id(u1, sizeof(u1), w.id, 1);
	url_block_id(u2, sizeof(u2), w.id, 2);
	dj_azure__block_id(r1, sizeof(r1), w.id, 1);
	dj_azure__block_id(r2, sizeof(r2), w.id, 2);
	snprintf(want, sizeof(want),
	         "PUT /acct/cont/loc/m/o?blockid=%s&comp=block HTTP/1.1\n"
	         "PUT /acct/cont/loc/m/o?blockid=%s&comp=block HTTP/1.1\n"
	         "PUT /acct/cont/loc/m/o?comp=blocklist HTTP/1.1\n"
	         "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>%s</Latest>"
	         "<Latest>%s</Latest></BlockList>\n"
	         "PUT /acct/cont/loc/m/o?comp=blocklist HTTP/1.1\n"
	         "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>%s</Latest>"
	         "<Latest>%s</Latest></BlockList>\n"
	         "GET /acct/cont?comp=list&maxresults=5000&prefix=loc%%2Fp%%2F&restype=container "
	         "HTTP/1.1\n"
	         "GET /acct/cont?comp=list&marker=m%%2F%%2B%%3D&maxresults=5000&prefix=loc%%2Fp%%2F"
	         "&restype=container HTTP/1.1\n",
	         u2, u1, r1, r2, r1, r2);
	assert_string_equal(log, want);
	free(log);
	dj_store_writer_dispose(&w);
	dj_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(accounts),      cmocka_unit_test(string_to_sign),
	    cmocka_unit_test(dates_and_ids), cmocka_unit_test(listing),
	    cmocka_unit_test(requests),      cmocka_unit_test(blocks_and_paging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
