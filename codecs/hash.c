#include "codecs/hash.h"

#include <string.h>

#include <openssl/evp.h>

int dj_md5_init(dj_md5 *h, dj_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	h->ctx = NULL;
	if (!ctx)
		return dj_err_set(err, DJ_ENOMEM, "md5: out of memory");
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return dj_err_set(err, DJ_ENOTSUP, "md5: refused by OpenSSL (FIPS mode?)");
	}
	h->ctx = ctx;
	return 0;
}

int dj_md5_update(dj_md5 *h, const void *p, size_t n, dj_err *err)
{
	if (!h->ctx)
		return dj_err_set(err, DJ_ERROR, "md5: update on a context that was not started");
	if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
		return dj_err_set(err, DJ_ERROR, "md5: digest update failed");
	return 0;
}

int dj_md5_final(dj_md5 *h, uint8_t digest[DJ_MD5_LEN], dj_err *err)
{
	unsigned int len = 0;
	int ok;
	if (!h->ctx)
		return dj_err_set(err, DJ_ERROR, "md5: final on a context that was not started");
	ok = EVP_DigestFinal_ex(h->ctx, digest, &len) == 1 && len == DJ_MD5_LEN;
	dj_md5_dispose(h);
	return ok ? 0 : dj_err_set(err, DJ_ERROR, "md5: digest final failed");
}

void dj_md5_dispose(dj_md5 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void dj_hash_from_digest(const uint8_t digest[DJ_MD5_LEN], char out[DJ_HASH_LEN + 1])
{
	/* §4: 5 bits per character, most significant first; 128 bits give 25 full characters
	 * and a 26th holding the last 3 bits followed by two zero bits. */
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned int acc = 0, bits = 0;
	size_t k = 0;
	for (size_t i = 0; i < DJ_MD5_LEN; i++) {
		acc = (acc << 8) | digest[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[k++] = alphabet[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits)
		out[k++] = alphabet[(acc << (5 - bits)) & 31];
	out[k] = '\0';
}

int dj_hash_final(dj_md5 *h, char out[DJ_HASH_LEN + 1], dj_err *err)
{
	uint8_t d[DJ_MD5_LEN];
	int rc = dj_md5_final(h, d, err);
	if (rc < 0)
		return rc;
	dj_hash_from_digest(d, out);
	return 0;
}

static int md5_oneshot(const void *p, size_t n, uint8_t d[DJ_MD5_LEN], dj_err *err)
{
	dj_md5 h = DJ_MD5_INIT;
	int rc;
	if ((rc = dj_md5_init(&h, err)) < 0)
		return rc;
	if ((rc = dj_md5_update(&h, p, n, err)) < 0) {
		dj_md5_dispose(&h);
		return rc;
	}
	return dj_md5_final(&h, d, err);
}

int dj_hash_bytes(const void *p, size_t n, char out[DJ_HASH_LEN + 1], dj_err *err)
{
	uint8_t d[DJ_MD5_LEN];
	int rc = md5_oneshot(p, n, d, err);
	if (rc < 0)
		return rc;
	dj_hash_from_digest(d, out);
	return 0;
}

int dj_md5_hex(const void *p, size_t n, char out[DJ_MD5_HEX_LEN + 1], dj_err *err)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[DJ_MD5_LEN];
	int rc = md5_oneshot(p, n, d, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < DJ_MD5_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[DJ_MD5_HEX_LEN] = '\0';
	return 0;
}

bool dj_hash_valid(const char *s)
{
	size_t i;
	if (!s)
		return false;
	for (i = 0; i < DJ_HASH_LEN; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
			return false;
	}
	return s[i] == '\0';
}
