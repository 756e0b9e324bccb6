/*
 * Pure helpers of the azure backend: connection strings and endpoints (formats.md §8.6), List
 * Blobs pages, block ids. No I/O.
 */
#include "stores/azure_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

/* ---- account ---- */

void dj_azure__account_dispose(dj_azure_account *a)
{
	free(a->name);
	if (a->key) {
		memset(a->key, 0, strlen(a->key));
		free(a->key);
	}
	free(a->base);
	free(a->path);
	memset(a, 0, sizeof(*a));
}

/* The settings of a connection string we use; pointers into a private copy. */
typedef struct conn {
	char *copy;
	const char *protocol, *name, *key, *endpoint, *suffix, *sas;
	bool dev;
} conn;

static int parse_conn(conn *c, const char *s, dj_err *err)
{
	memset(c, 0, sizeof(*c));
	if (!s || !*s)
		return 0;
	if (!(c->copy = strdup(s)))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (char *save = NULL, *tok = strtok_r(c->copy, ";", &save); tok;
	     tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');
		while (isspace((unsigned char)*tok))
			tok++;
		if (!*tok)
			continue;
		if (!eq || eq == tok)
			return dj_err_set(
			    err, DJ_EUSAGE,
			    "connection_string: expected Name=value settings separated "
			    "by ';'");
		*eq = '\0';
		if (!strcasecmp(tok, "DefaultEndpointsProtocol"))
			c->protocol = eq + 1;
		else if (!strcasecmp(tok, "AccountName"))
			c->name = eq + 1;
		else if (!strcasecmp(tok, "AccountKey"))
			c->key = eq + 1;
		else if (!strcasecmp(tok, "BlobEndpoint"))
			c->endpoint = eq + 1;
		else if (!strcasecmp(tok, "EndpointSuffix"))
			c->suffix = eq + 1;
		else if (!strcasecmp(tok, "SharedAccessSignature"))
			c->sas = eq + 1;
		else if (!strcasecmp(tok, "UseDevelopmentStorage"))
			c->dev = !strcasecmp(eq + 1, "true");
	}
	return 0;
}

static const char *nonempty(const char *a)
{
	return a && *a ? a : NULL;
}

/* Split "http[s]://host[:port][/path]" into base and path (no trailing '/'). */
static int split_endpoint(dj_azure_account *a, const char *ep, dj_err *err)
{
	const char *rest, *slash;
	size_t plen;
	if (!strncmp(ep, "http://", 7))
		rest = ep + 7;
	else if (!strncmp(ep, "https://", 8))
		rest = ep + 8;
	else
		return dj_err_set(err, DJ_EUSAGE,
		                  "azure endpoint '%s' must start with http:// or https://", ep);
	slash = strchr(rest, '/');
	if ((slash ? (size_t)(slash - rest) : strlen(rest)) == 0)
		return dj_err_set(err, DJ_EUSAGE, "azure endpoint '%s' has no host", ep);
	plen = slash ? strlen(slash) : 0;
	while (plen > 0 && slash[plen - 1] == '/')
		plen--;
	a->base = slash ? strndup(ep, (size_t)(slash - ep)) : strdup(ep);
	a->path = slash ? strndup(slash, plen) : strdup("");
	return a->base && a->path ? 0 : dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static int pick(dj_azure_account *a, const conn *c, const char *account_name,
                const char *account_key, const char *endpoint, dj_err *err)
{
	const char *name = nonempty(c->name), *key = nonempty(c->key), *ep = nonempty(endpoint);
	char buf[512];
	if (c->dev) {
		name = name ? name : DJ_AZURE_DEV_ACCOUNT;
		key = key ? key : DJ_AZURE_DEV_KEY;
		snprintf(buf, sizeof(buf), "http://127.0.0.1:10000/%s", name);
		ep = ep ? ep : buf;
	}
	name = name ? name : nonempty(account_name);
	key = key ? key : nonempty(account_key);
	if (!name)
		return dj_err_set(err, DJ_EUSAGE,
		                  "azure store needs account_name (or AccountName in "
		                  "connection_string)");
	ep = ep ? ep : nonempty(c->endpoint);
	if (!ep) {
		const char *proto = nonempty(c->protocol) ? c->protocol : "https";
		if (strcmp(proto, "http") != 0 && strcmp(proto, "https") != 0)
			return dj_err_set(err, DJ_EUSAGE,
			                  "connection_string: DefaultEndpointsProtocol must be "
			                  "http or https");
		snprintf(buf, sizeof(buf), "%s://%s.blob.%s", proto, name,
		         nonempty(c->suffix) ? c->suffix : "core.windows.net");
		ep = buf;
	}
	if (!(a->name = strdup(name)) || (key && !(a->key = strdup(key))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	return split_endpoint(a, ep, err);
}

int dj_azure__account(dj_azure_account *out, const char *connection_string,
                      const char *account_name, const char *account_key, const char *endpoint,
                      dj_err *err)
{
	conn c;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = parse_conn(&c, connection_string, err)) == 0) {
		if (nonempty(c.sas) && !nonempty(c.key) && !nonempty(account_key))
			rc = dj_err_set(err, DJ_ENOTSUP,
			                "connection_string: SharedAccessSignature is not supported "
			                "(use AccountKey)");
		else
			rc = pick(out, &c, account_name, account_key, endpoint, err);
	}
	if (c.copy) {
		memset(c.copy, 0, strlen(connection_string));
		free(c.copy);
	}
	if (rc < 0)
		dj_azure__account_dispose(out);
	return rc;
}

/* ---- listings ---- */

static int hexval(char c)
{
	return isdigit((unsigned char)c)    ? c - '0'
	       : isxdigit((unsigned char)c) ? (c | 32) - 'a' + 10
	                                    : -1;
}

/* <Name Encoded="true">: the name holds characters XML cannot carry, percent-encoded. */
static int decode_name(dj_buf *name, const char *open_tag_end, const char *start)
{
	dj_buf raw = DJ_BUF_INIT;
	static const char attr[] = "Encoded=\"true\"";
	const char *lt = start;
	bool encoded = false;
	int rc = 0;
	while (lt > open_tag_end && *lt != '<')
		lt--;
	for (const char *q = lt; !encoded && q + sizeof(attr) - 1 <= start; q++)
		encoded = !strncmp(q, attr, sizeof(attr) - 1);
	if (!encoded)
		return 0;
	if (dj_buf_add(&raw, name->ptr, name->len) < 0)
		return DJ_ENOMEM;
	dj_buf_reset(name);
	for (size_t i = 0; i < raw.len && rc == 0; i++) {
		int hi, lo;
		if (raw.ptr[i] == '%' && i + 2 < raw.len && (hi = hexval(raw.ptr[i + 1])) >= 0 &&
		    (lo = hexval(raw.ptr[i + 2])) >= 0) {
			rc = dj_buf_addc(name, (char)(hi << 4 | lo));
			i += 2;
		} else {
			rc = dj_buf_addc(name, raw.ptr[i]);
		}
	}
	dj_buf_dispose(&raw);
	return rc;
}

static int parse_blob(const char *p, const char *end, dj_buf *name, uint64_t *size, int64_t *mtime)
{
	const char *ce, *after, *c = dj_xml__find(p, end, "Name", &ce, &after);
	dj_buf tmp = DJ_BUF_INIT;
	char *endp;
	int rc;
	dj_buf_reset(name);
	if (!c)
		return DJ_EFORMAT;
	if ((rc = dj_xml__unescape(name, c, (size_t)(ce - c))) < 0 ||
	    (rc = decode_name(name, p, c)) < 0)
		return rc;
	if (size && (rc = dj_xml__text(&tmp, p, end, "Content-Length")) == 0) {
		*size = strtoull(tmp.ptr, &endp, 10);
		if (endp == tmp.ptr || *endp)
			rc = DJ_EFORMAT;
	}
	if (rc == 0 && mtime && dj_xml__text(&tmp, p, end, "Last-Modified") == 0)
		*mtime = dj_http__parse_date(tmp.ptr); /* -1 = unknown */
	dj_buf_dispose(&tmp);
	return rc == DJ_ENOTFOUND ? DJ_EFORMAT : rc;
}

int dj_azure__parse_list(const char *xml, size_t n, dj_azure_list_item_fn fn, void *payload,
                         dj_buf *next)
{
	const char *end = xml + n, *ce, *after, *root, *blobs, *bend, *p;
	dj_buf name = DJ_BUF_INIT;
	int rc = 0;
	dj_buf_reset(next);
	if (!(root = dj_xml__find(xml, end, "EnumerationResults", &ce, &after)))
		return DJ_EFORMAT;
	end = ce;
	if ((blobs = dj_xml__find(root, end, "Blobs", &bend, &after))) {
		/* entries in document order: <Blob> and <BlobPrefix> interleave */
		for (p = blobs; rc == 0 && p < bend;) {
			const char *b1e, *b1a, *b2e, *b2a;
			const char *b1 = dj_xml__find(p, bend, "Blob", &b1e, &b1a);
			const char *b2 = dj_xml__find(p, bend, "BlobPrefix", &b2e, &b2a);
			uint64_t size = 0;
			int64_t mtime = 0;
			if (!b1 && !b2)
				break;
			if (b1 && (!b2 || b1 < b2)) {
				if ((rc = parse_blob(b1, b1e, &name, &size, &mtime)) == 0)
					rc = fn(name.ptr, size, mtime, false, payload);
				p = b1a;
			} else {
				if ((rc = parse_blob(b2, b2e, &name, NULL, NULL)) == 0)
					rc = fn(name.ptr, 0, 0, true, payload);
				p = b2a;
			}
		}
	}
	if (rc == 0 && dj_xml__text(next, root, end, "NextMarker") == DJ_ENOMEM)
		rc = DJ_ENOMEM;
	dj_buf_dispose(&name);
	return rc;
}

/* ---- block ids ---- */

int dj_azure__block_id(char *out, size_t cap, const char *id, uint32_t number)
{
	char raw[64];
	int n = snprintf(raw, sizeof(raw), "%s-%06u", id, (unsigned)number);
	if (n < 0 || (size_t)n >= sizeof(raw) || cap < ((size_t)n + 2) / 3 * 4 + 1)
		return DJ_EUSAGE;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, n);
	return 0;
}
