#include "stores/paths.h"

#include <inttypes.h>
#include <string.h>

#include <openssl/rand.h>

#include "codecs/hash.h"

static int nomem(int rc, dj_err *err)
{
	return rc ? dj_err_set(err, DJ_ENOMEM, "path: out of memory") : 0;
}

/* Append s.strip("/") followed by '/', or nothing when the stripped prefix is empty. */
static int add_section(dj_buf *out, const char *prefix, dj_err *err)
{
	size_t n;
	prefix = dj_strip_slashes(prefix, &n);
	if (!n)
		return 0;
	return nomem(dj_buf_add(out, prefix, n) || dj_buf_addc(out, '/'), err);
}

int dj_path_hash(dj_buf *out, const dj_store_spec *spec, const char *schema, const char *hash,
		 dj_err *err)
{
	size_t pos = 0;
	int rc;
	if (!dj_hash_valid(hash))
		return dj_err_set(err, DJ_EUSAGE, "invalid content hash '%.40s'", hash ? hash : "");
	if (!schema || !*schema)
		return dj_err_set(err, DJ_EUSAGE, "hash path for %s: empty schema name", hash);
	if ((rc = add_section(out, spec->hash_prefix ? spec->hash_prefix : "_hash", err)) < 0 ||
	    (rc = nomem(dj_buf_adds(out, schema) || dj_buf_addc(out, '/'), err)) < 0)
		return rc;
	/* §5.1 subfolding: consecutive slices; Python's slices clamp at the end of the string */
	for (size_t i = 0; spec->subfolding && i < spec->nsubfolding; i++) {
		size_t w = spec->subfolding[i] > 0 ? (size_t)spec->subfolding[i] : 0;
		size_t take = pos >= DJ_HASH_LEN ? 0 : (w < DJ_HASH_LEN - pos ? w : DJ_HASH_LEN - pos);
		if ((rc = nomem(dj_buf_add(out, hash + pos, take) || dj_buf_addc(out, '/'), err)) < 0)
			return rc;
		pos += take;
	}
	return nomem(dj_buf_add(out, hash, DJ_HASH_LEN), err);
}

/* ---- §6.2 value rendering ---- */

/* Number of code points of valid UTF-8 text, or SIZE_MAX when invalid. */
static size_t utf8_count(const unsigned char *s, size_t n, size_t *cut50)
{
	size_t cps = 0;
	*cut50 = n;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
				    : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (!k || k > n - i)
			return SIZE_MAX;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return SIZE_MAX;
		if (cps == 50)
			*cut50 = i;
		cps++;
		i += k;
	}
	return cps;
}

/* urllib.parse.quote(s, safe=""): every byte but A-Z a-z 0-9 _ . - ~ becomes %XX. */
static int add_quoted(dj_buf *out, const char *s, size_t n, dj_err *err)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-' || c == '~')
			rc = dj_buf_addc(out, (char)c);
		else
			rc = dj_buf_addc(out, '%') || dj_buf_addc(out, hex[c >> 4]) ||
			     dj_buf_addc(out, hex[c & 15]);
	}
	return nomem(rc, err);
}

/* §6.2 rule 4: verbatim unless it holds / \ : * ? " < > | or is over 100 code points. */
static int add_str_rule(dj_buf *out, const char *s, size_t n, dj_err *err)
{
	size_t cut, cps = utf8_count((const unsigned char *)s, n, &cut);
	char md5[DJ_MD5_HEX_LEN + 1];
	dj_buf tmp = DJ_BUF_INIT;
	int rc;
	if (cps == SIZE_MAX)
		return dj_err_set(err, DJ_EFORMAT, "key value is not valid UTF-8");
	if (cps <= 100 && strcspn(s, "/\\:*?\"<>|") >= n)
		return nomem(dj_buf_add(out, s, n), err);
	if (cps > 100) {
		/* s[:50] + "_" + md5(utf8(s)).hexdigest()[:8], lengths in code points */
		if ((rc = dj_md5_hex(s, n, md5, err)) < 0)
			return rc;
		if (dj_buf_add(&tmp, s, cut) || dj_buf_addc(&tmp, '_') || dj_buf_add(&tmp, md5, 8)) {
			dj_buf_dispose(&tmp);
			return nomem(1, err);
		}
		s = tmp.ptr;
		n = tmp.len;
	}
	rc = add_quoted(out, s, n, err);
	dj_buf_dispose(&tmp);
	return rc;
}

static int add_uuid(dj_buf *out, const uint8_t u[16], dj_err *err)
{
	char s[37];
	size_t k = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[k++] = '-';
		k += (size_t)snprintf(s + k, sizeof(s) - k, "%02x", u[i]);
	}
	return add_str_rule(out, s, k, err);
}

int dj_path_pk_value(dj_buf *out, const dj_pk_value *v, dj_err *err)
{
	switch (v->kind) {
	case DJ_PK_INT:
		return nomem(dj_buf_addf(out, "%" PRId64, v->u.i), err);
	case DJ_PK_UINT:
		return nomem(dj_buf_addf(out, "%" PRIu64, v->u.u), err);
	case DJ_PK_BOOL:
		return nomem(dj_buf_adds(out, v->u.b ? "True" : "False"), err);
	case DJ_PK_FLOAT: /* rule 1: str(float) verbatim, never escaped */
		if (!v->u.text)
			return dj_err_set(err, DJ_EUSAGE, "key value: float without text");
		return nomem(dj_buf_adds(out, v->u.text), err);
	case DJ_PK_STR:
	case DJ_PK_DECIMAL:
		if (!v->u.text)
			return dj_err_set(err, DJ_EUSAGE, "key value: string without text");
		return add_str_rule(out, v->u.text, strlen(v->u.text), err);
	case DJ_PK_UUID:
		return add_uuid(out, v->u.uuid, err);
	case DJ_PK_DATE:
		return nomem(dj_buf_addf(out, "%04d-%02d-%02d", v->u.t.year, v->u.t.month, v->u.t.day),
			     err);
	case DJ_PK_DATETIME:
		/* strftime's %Y is not zero-padded on glibc (Python on Linux) */
		return nomem(dj_buf_addf(out, "%d-%02d-%02dT%02d-%02d-%02d", v->u.t.year, v->u.t.month,
					 v->u.t.day, v->u.t.hour, v->u.t.minute, v->u.t.second),
			     err);
	case DJ_PK_TIME: /* rule 3: isoformat() and not escaped (QUIRK) */
		if (v->u.t.usec)
			return nomem(dj_buf_addf(out, "%02d:%02d:%02d.%06d", v->u.t.hour, v->u.t.minute,
						 v->u.t.second, v->u.t.usec),
				     err);
		return nomem(dj_buf_addf(out, "%02d:%02d:%02d", v->u.t.hour, v->u.t.minute,
					 v->u.t.second),
			     err);
	}
	return dj_err_set(err, DJ_EUSAGE, "key value: unknown kind %d", (int)v->kind);
}

/* ---- token ---- */

int dj_path_token(char out[DJ_TOKEN_MAX + 1], int len, dj_err *err)
{
	static const char alphabet[] = DJ_TOKEN_ALPHABET;
	unsigned char rnd[DJ_TOKEN_MAX];
	len = len < DJ_TOKEN_MIN ? DJ_TOKEN_MIN : len > DJ_TOKEN_MAX ? DJ_TOKEN_MAX : len;
	if (RAND_bytes(rnd, len) != 1)
		return dj_err_set(err, DJ_ERROR, "token: random generator failed");
	/* 256 is a multiple of 64, so the low six bits are uniform over the alphabet */
	for (int i = 0; i < len; i++)
		out[i] = alphabet[rnd[i] & 63];
	out[len] = '\0';
	return len;
}

static bool token_ok(const char *t)
{
	size_t n = strlen(t);
	return n >= 1 && n <= DJ_TOKEN_MAX && strspn(t, DJ_TOKEN_ALPHABET) == n;
}

/* ---- schema path ---- */

static bool is_word(unsigned char c)
{
	/* \w of a Python str pattern; non-ASCII letters are approximated by any byte >= 0x80 */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

static const dj_pk_field *find_key(const dj_schema_path_args *a, const char *name, size_t n)
{
	for (size_t i = 0; i < a->nkey; i++)
		if (strncmp(a->key[i].name, name, n) == 0 && a->key[i].name[n] == '\0')
			return &a->key[i];
	return NULL;
}

static bool in_pattern(const char *pat, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = pat; p && *p; p++) {
		const char *q = p + 1;
		if (*p != '{')
			continue;
		while (is_word((unsigned char)*q))
			q++;
		if (q > p + 1 && *q == '}') {
			if ((size_t)(q - p - 1) == len && strncmp(p + 1, name, len) == 0)
				return true;
			p = q;
		}
	}
	return false;
}

static int add_segment(dj_buf *out, const dj_pk_field *f, dj_err *err)
{
	int rc;
	if ((rc = nomem(dj_buf_adds(out, f->name) || dj_buf_addc(out, '='), err)) < 0 ||
	    (rc = dj_path_pk_value(out, &f->value, err)) < 0)
		return rc;
	return nomem(dj_buf_addc(out, '/'), err);
}

/* re.findall(r"\{(\w+)\}", pattern), in pattern order; each name present in the key. */
static int add_partitions(dj_buf *out, const dj_schema_path_args *a, const char *pat, dj_err *err)
{
	for (const char *p = pat; p && *p; p++) {
		const char *q = p + 1;
		const dj_pk_field *f;
		int rc;
		if (*p != '{')
			continue;
		while (is_word((unsigned char)*q))
			q++;
		if (q == p + 1 || *q != '}')
			continue;
		if ((f = find_key(a, p + 1, (size_t)(q - p - 1))) && (rc = add_segment(out, f, err)) < 0)
			return rc;
		p = q;
	}
	return 0;
}

static int check_args(const dj_schema_path_args *a, dj_err *err)
{
	if (!a->schema || !*a->schema || !a->table || !*a->table || !a->field || !*a->field)
		return dj_err_set(err, DJ_EUSAGE, "schema path: schema, table and field are required");
	for (size_t i = 0; i < a->nkey; i++)
		if (!a->key[i].name || !*a->key[i].name)
			return dj_err_set(err, DJ_EUSAGE, "schema path for %s.%s: key %zu has no name",
					  a->schema, a->table, i);
	if (a->token && !token_ok(a->token))
		return dj_err_set(err, DJ_EUSAGE, "schema path: bad token '%.20s'", a->token);
	return 0;
}

int dj_path_schema(dj_buf *out, const dj_store_spec *spec, const dj_schema_path_args *a,
		   char *token_out, dj_err *err)
{
	const char *pat = spec->partition_pattern;
	char token[DJ_TOKEN_MAX + 1];
	int rc;
	if ((rc = check_args(a, err)) < 0)
		return rc;
	if (a->token)
		snprintf(token, sizeof(token), "%s", a->token);
	else if ((rc = dj_path_token(token, spec->token_length, err)) < 0)
		return rc;
	if ((rc = add_section(out, spec->schema_prefix ? spec->schema_prefix : "_schema", err)) < 0 ||
	    (rc = add_partitions(out, a, pat, err)) < 0 ||
	    (rc = nomem(dj_buf_addf(out, "%s/%s/", a->schema, a->table), err)) < 0)
		return rc;
	for (size_t i = 0; i < a->nkey; i++)
		if (!in_pattern(pat, a->key[i].name) && (rc = add_segment(out, &a->key[i], err)) < 0)
			return rc;
	if ((rc = nomem(dj_buf_addf(out, "%s_%s", a->field, token), err)) < 0)
		return rc;
	if (a->ext && *a->ext && (rc = nomem((a->ext[0] != '.' && dj_buf_addc(out, '.')) ||
						     dj_buf_adds(out, a->ext),
					     err)) < 0)
		return rc;
	if (token_out)
		memcpy(token_out, token, strlen(token) + 1);
	return 0;
}
