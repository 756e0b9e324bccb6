/* stores/paths: schema-addressed paths (formats.md §6.1-6.4) over vectors/paths.tsv, tokens */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "codecs/pyfloat.h"
#include "stores/paths.h"
#include "tests/unit/vectors.h"

#define MAXKEY 8

/* Typed key values for one row; text fields point into `texts`. */
typedef struct row_key {
	dj_pk_field f[MAXKEY];
	size_t n;
	char texts[MAXKEY][256];
} row_key;

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void parse_uuid(const char *s, uint8_t out[16])
{
	int k = 0;
	for (const char *p = s; *p && k < 32; p++) {
		if (*p == '-')
			continue;
		if (hexv(*p) < 0)
			fail_msg("bad uuid text %s", s);
		out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | hexv(*p) : hexv(*p) << 4);
		k++;
	}
	if (k != 32)
		fail_msg("short uuid text %s", s);
}

/* {"py": repr} values: the Python reprs the generator used */
static void parse_py(const char *repr, dj_pk_value *v, char *text)
{
	int a[7] = {0, 0, 0, 0, 0, 0, 0}, n;
	long long ll;
	if ((n = sscanf(repr, "datetime.datetime(%d, %d, %d, %d, %d, %d, %d)", &a[0], &a[1], &a[2],
			&a[3], &a[4], &a[5], &a[6])) >= 3) {
		v->kind = DJ_PK_DATETIME;
	} else if (sscanf(repr, "datetime.date(%d, %d, %d)", &a[0], &a[1], &a[2]) == 3) {
		v->kind = DJ_PK_DATE;
	} else if ((n = sscanf(repr, "datetime.time(%d, %d, %d, %d)", &a[3], &a[4], &a[5], &a[6])) >= 1) {
		v->kind = DJ_PK_TIME;
	} else if (strncmp(repr, "UUID('", 6) == 0) {
		v->kind = DJ_PK_UUID;
		parse_uuid(repr + 6, v->u.uuid);
		return;
	} else if (sscanf(repr, "numpy.int64(%lld)", &ll) == 1) {
		v->kind = DJ_PK_INT;
		v->u.i = ll;
		return;
	} else if (sscanf(repr, "Decimal('%255[^']')", text) == 1) {
		v->kind = DJ_PK_DECIMAL;
		v->u.text = text;
		return;
	} else {
		fail_msg("unknown py repr %s", repr);
	}
	v->u.t.year = a[0], v->u.t.month = a[1], v->u.t.day = a[2];
	v->u.t.hour = a[3], v->u.t.minute = a[4], v->u.t.second = a[5], v->u.t.usec = a[6];
}

static void key_from_json(json_t *pk, row_key *k)
{
	const char *name;
	json_t *val;
	k->n = 0;
	json_object_foreach(pk, name, val) {
		dj_pk_value *v = &k->f[k->n].value;
		char *text = k->texts[k->n];
		if (k->n == MAXKEY)
			fail_msg("too many key attributes");
		k->f[k->n].name = name;
		if (json_is_integer(val)) {
			v->kind = DJ_PK_INT;
			v->u.i = json_integer_value(val);
		} else if (json_is_real(val)) {
			v->kind = DJ_PK_FLOAT;
			dj_pyfloat_format(json_real_value(val), text);
			v->u.text = text;
		} else if (json_is_boolean(val)) {
			v->kind = DJ_PK_BOOL;
			v->u.b = json_is_true(val);
		} else if (json_is_string(val)) {
			v->kind = DJ_PK_STR;
			snprintf(text, 256, "%s", json_string_value(val));
			v->u.text = text;
		} else if (json_is_object(val) && json_is_string(json_object_get(val, "py"))) {
			parse_py(json_string_value(json_object_get(val, "py")), v, text);
		} else {
			fail_msg("unsupported key value for %s", name);
		}
		k->n++;
	}
}

static const char *opt_str(json_t *in, const char *key)
{
	json_t *v = json_object_get(in, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Expected path with {TOKEN} replaced by `token`. */
static void expect_path(const char *pattern, const char *token, dj_buf *out)
{
	const char *t = strstr(pattern, "{TOKEN}");
	if (!t)
		fail_msg("no {TOKEN} in %s", pattern);
	dj_buf_add(out, pattern, (size_t)(t - pattern));
	dj_buf_adds(out, token);
	dj_buf_adds(out, t + 7);
}

static void run_row(const dj_tsv *t, size_t r, bool random)
{
	const char *name = dj_tsv_get(t, r, "name");
	json_error_t je;
	json_t *in = json_loads(dj_tsv_get(t, r, "inputs"), 0, &je);
	int used = atoi(dj_tsv_get(t, r, "token_length_used"));
	char token[DJ_TOKEN_MAX + 1], got_token[DJ_TOKEN_MAX + 1];
	dj_store_spec spec = {0};
	dj_schema_path_args a = {0};
	dj_buf path = DJ_BUF_INIT, want = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	row_key k;
	if (!in)
		fail_msg("%s: bad inputs JSON: %s", name, je.text);
	key_from_json(json_object_get(in, "primary_key"), &k);
	spec.schema_prefix = (char *)opt_str(in, "schema_prefix");
	spec.partition_pattern = (char *)opt_str(in, "partition_pattern");
	spec.token_length = json_is_integer(json_object_get(in, "token_length"))
				    ? (int)json_integer_value(json_object_get(in, "token_length"))
				    : 8;
	a.schema = opt_str(in, "schema");
	a.table = opt_str(in, "table");
	a.field = opt_str(in, "field");
	a.ext = opt_str(in, "ext");
	a.key = k.f;
	a.nkey = k.n;
	/* a fixed token of the length Python used, taken from the alphabet's two ends */
	for (int i = 0; i < used; i++)
		token[i] = DJ_TOKEN_ALPHABET[(i * 37) % 64];
	token[used] = '\0';
	a.token = random ? NULL : token;
	if (dj_path_schema(&path, &spec, &a, got_token, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	if ((int)strlen(got_token) != used || strspn(got_token, DJ_TOKEN_ALPHABET) != (size_t)used)
		fail_msg("%s: token '%s', expected %d alphabet characters", name, got_token, used);
	expect_path(dj_tsv_get(t, r, "path"), got_token, &want);
	if (strcmp(path.ptr, want.ptr) != 0)
		fail_msg("%s:\n  got  %s\n  want %s", name, path.ptr, want.ptr);
	dj_buf_dispose(&path);
	dj_buf_dispose(&want);
	json_decref(in);
}

static void paths_vectors_fixed_token(void **state)
{
	(void)state;
	dj_tsv t;
	dj_tsv_load(&t, dj_test_shared_path("vectors/paths.tsv"));
	assert_int_equal(t.nrows, 25);
	for (size_t r = 0; r < t.nrows; r++)
		run_row(&t, r, false);
	dj_tsv_free(&t);
}

static void paths_vectors_random_token(void **state)
{
	(void)state;
	dj_tsv t;
	dj_tsv_load(&t, dj_test_shared_path("vectors/paths.tsv"));
	for (size_t r = 0; r < t.nrows; r++)
		run_row(&t, r, true);
	dj_tsv_free(&t);
}

static void token_clamps_and_varies(void **state)
{
	(void)state;
	char a[DJ_TOKEN_MAX + 1], b[DJ_TOKEN_MAX + 1];
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_path_token(a, 2, &err), 4);
	assert_int_equal(strlen(a), 4);
	assert_int_equal(dj_path_token(a, 20, &err), 16);
	assert_int_equal(strlen(a), 16);
	assert_int_equal(strspn(a, DJ_TOKEN_ALPHABET), 16);
	assert_int_equal(dj_path_token(b, 16, &err), 16);
	assert_string_not_equal(a, b); /* 2^-96 chance of a false failure */
	assert_int_equal(dj_path_token(a, -5, &err), 4);
}

static void render(const dj_pk_value *v, const char *want)
{
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (dj_path_pk_value(&b, v, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(b.ptr, want);
	dj_buf_dispose(&b);
}

static void pk_value_rules(void **state)
{
	(void)state;
	char long_uni[400] = "";
	dj_pk_value v = {0};
	v.kind = DJ_PK_TIME;
	v.u.t.hour = 9, v.u.t.minute = 5, v.u.t.second = 7, v.u.t.usec = 120;
	render(&v, "09:05:07.000120");
	v.kind = DJ_PK_DATETIME; /* glibc %Y does not pad years below 1000 */
	v.u.t.year = 999, v.u.t.month = 2, v.u.t.day = 3;
	render(&v, "999-02-03T09-05-07");
	v.kind = DJ_PK_DATE;
	render(&v, "0999-02-03");
	v.kind = DJ_PK_INT;
	v.u.i = -42;
	render(&v, "-42");
	v.kind = DJ_PK_UINT;
	v.u.u = UINT64_MAX;
	render(&v, "18446744073709551615");
	v.kind = DJ_PK_BOOL;
	v.u.b = false;
	render(&v, "False");
	v.kind = DJ_PK_STR;
	v.u.text = "100%~ok_.-";
	render(&v, "100%~ok_.-"); /* no unsafe character: verbatim, '%' included */
	v.u.text = "a b|c";
	render(&v, "a%20b%7Cc"); /* once quoted, the space is encoded too */
	v.u.text = "";
	render(&v, "");
	/* 101 code points of 'é': cut after 50 code points (100 bytes), md5 of the whole */
	for (int i = 0; i < 101; i++)
		strcat(long_uni, "\xc3\xa9");
	v.u.text = long_uni;
	{
		dj_buf b = DJ_BUF_INIT;
		dj_err err = DJ_ERR_INIT;
		assert_int_equal(dj_path_pk_value(&b, &v, &err), 0);
		assert_int_equal(b.len, 50 * 6 + 1 + 8);
		assert_int_equal(strncmp(b.ptr, "%C3%A9%C3%A9", 12), 0);
		assert_int_equal(b.ptr[300], '_');
		dj_buf_dispose(&b);
	}
	v.u.text = "\xff";
	{
		dj_buf b = DJ_BUF_INIT;
		dj_err err = DJ_ERR_INIT;
		assert_int_equal(dj_path_pk_value(&b, &v, &err), DJ_EFORMAT);
		dj_buf_dispose(&b);
	}
}

static void schema_path_edges(void **state)
{
	(void)state;
	dj_pk_field key[2] = {{"a", {.kind = DJ_PK_INT, .u.i = 1}}, {"b", {.kind = DJ_PK_INT, .u.i = 2}}};
	dj_store_spec spec = {0};
	dj_schema_path_args a = {"s", "t", "f", key, 2, ".x", "TOKEN"};
	dj_buf p = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	/* a repeated placeholder repeats the segment, as re.findall does; {{b}} still matches b */
	spec.partition_pattern = "{a}/{a}/x{{b}}";
	assert_int_equal(dj_path_schema(&p, &spec, &a, NULL, &err), 0);
	assert_string_equal(p.ptr, "_schema/a=1/a=1/b=2/s/t/f_TOKEN.x");
	dj_buf_reset(&p);
	spec.partition_pattern = "{a-b}/{}";
	assert_int_equal(dj_path_schema(&p, &spec, &a, NULL, &err), 0);
	assert_string_equal(p.ptr, "_schema/s/t/a=1/b=2/f_TOKEN.x");
	dj_buf_reset(&p);
	a.token = "bad token";
	assert_int_equal(dj_path_schema(&p, &spec, &a, NULL, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	a.token = "TOKEN";
	a.table = "";
	assert_int_equal(dj_path_schema(&p, &spec, &a, NULL, &err), DJ_EUSAGE);
	dj_buf_dispose(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(paths_vectors_fixed_token), cmocka_unit_test(paths_vectors_random_token),
		cmocka_unit_test(token_clamps_and_varies),   cmocka_unit_test(pk_value_rules),
		cmocka_unit_test(schema_path_edges),
	};
	return cmocka_run_group_tests_name("paths", tests, NULL, NULL);
}
