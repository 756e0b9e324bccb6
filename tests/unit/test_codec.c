/* codecs/codec: type strings, comment markers, chaining (formats.md §1.1-1.2, database.md §2) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codecs/codec.h"
#include "tests/unit/vectors.h"

static dj_coltype parse_ok(const char *text, const char *dflt)
{
	dj_coltype t;
	dj_err err = DJ_ERR_INIT;
	if (dj_coltype_parse(text, strlen(text), dflt, &t, &err) < 0)
		fail_msg("'%s': %s", text, err.msg);
	return t;
}

static void parse_fails(const char *text, const char *dflt, int code, const char *needle)
{
	dj_coltype t;
	dj_err err = DJ_ERR_INIT;
	int rc = dj_coltype_parse(text, strlen(text), dflt, &t, &err);
	if (rc != code)
		fail_msg("'%s': rc %d, expected %d (%s)", text, rc, code, err.msg);
	if (needle && !strstr(err.msg, needle))
		fail_msg("'%s': message '%s' does not name '%s'", text, err.msg, needle);
}

static void codec_forms(void **state)
{
	(void)state;
	dj_coltype t = parse_ok("<blob>", "main");
	assert_int_equal(t.codec->id, DJ_CODEC_BLOB);
	assert_false(t.has_store);
	assert_string_equal(t.store, "");
	assert_int_equal(dj_coltype_column(&t), DJ_COLUMN_BYTES);
	assert_int_equal(dj_coltype_addressing(&t), DJ_ADDR_NONE);
	assert_null(dj_coltype_storer(&t));

	t = parse_ok("<blob@cold>", "main");
	assert_true(t.has_store);
	assert_string_equal(t.store, "cold");
	assert_int_equal(dj_coltype_column(&t), DJ_COLUMN_JSON);
	assert_int_equal(dj_coltype_addressing(&t), DJ_ADDR_HASH);
	assert_int_equal(dj_coltype_storer(&t)->id, DJ_CODEC_HASH); /* chained through <hash@> */

	/* <codec@> resolves to the default store's real name */
	t = parse_ok("<blob@>", "main");
	assert_true(t.has_store);
	assert_string_equal(t.store, "main");

	t = parse_ok("  < attach @ raw >  ", NULL); /* parse_type_spec strips the blanks */
	assert_int_equal(t.codec->id, DJ_CODEC_ATTACH);
	assert_string_equal(t.store, "raw");
	assert_int_equal(dj_coltype_storer(&t)->id, DJ_CODEC_HASH);
	t = parse_ok("<attach>", NULL);
	assert_int_equal(dj_coltype_column(&t), DJ_COLUMN_BYTES);

	t = parse_ok("<hash@s>", NULL);
	assert_int_equal(dj_coltype_storer(&t)->id, DJ_CODEC_HASH);
	assert_int_equal(dj_coltype_addressing(&t), DJ_ADDR_HASH);
	t = parse_ok("<object@s>", NULL);
	assert_int_equal(dj_coltype_addressing(&t), DJ_ADDR_SCHEMA);
	assert_int_equal(dj_coltype_storer(&t)->id, DJ_CODEC_OBJECT);
	t = parse_ok("<npy@>", "arrays");
	assert_string_equal(t.store, "arrays");
	assert_int_equal(dj_coltype_addressing(&t), DJ_ADDR_SCHEMA);
	assert_int_equal(dj_coltype_column(&t), DJ_COLUMN_JSON);
	t = parse_ok("<filepath@acq>", NULL);
	assert_int_equal(dj_coltype_addressing(&t), DJ_ADDR_REFERENCE);
	t = parse_ok("<blob@a@b>", NULL); /* split at the first '@' only */
	assert_string_equal(t.store, "a@b");
}

static void codec_errors(void **state)
{
	(void)state;
	parse_fails("<hash>", "main", DJ_EFORMAT, "<hash> requires @");
	parse_fails("<object>", "main", DJ_EFORMAT, "<object>");
	parse_fails("<npy>", "main", DJ_EFORMAT, "<npy>");
	parse_fails("<filepath>", "main", DJ_EFORMAT, "<filepath>");
	parse_fails("<bolb@s>", "main", DJ_ENOTSUP, "unknown codec <bolb>");
	parse_fails("<Blob>", "main", DJ_ENOTSUP, "<Blob>"); /* codec names are case-sensitive */
	parse_fails("<blob@>", NULL, DJ_EUSAGE, "stores.default");
	parse_fails("<npy@>", "", DJ_EUSAGE, "<npy@>");
	parse_fails("<>", "main", DJ_ENOTSUP, NULL);
	{
		char longname[300] = "<blob@";
		memset(longname + 6, 'x', 200);
		strcpy(longname + 206, ">");
		parse_fails(longname, NULL, DJ_EUSAGE, "too long");
	}
}

static void core_types(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		dj_core_type t;
		int p0, p1;
	} ok[] = {
		{"int32", DJ_CORE_INT32, -1, -1},       {"INT8", DJ_CORE_INT8, -1, -1},
		{"float64", DJ_CORE_FLOAT64, -1, -1},   {"bool", DJ_CORE_BOOL, -1, -1},
		{"uuid", DJ_CORE_UUID, -1, -1},         {"jsonb", DJ_CORE_JSON, -1, -1},
		{"bytes", DJ_CORE_BYTES, -1, -1},       {"date", DJ_CORE_DATE, -1, -1},
		{"datetime", DJ_CORE_DATETIME, -1, -1}, {"datetime(3)", DJ_CORE_DATETIME, 3, -1},
		{"datetime (6)", DJ_CORE_DATETIME, 6, -1}, {"char(8)", DJ_CORE_CHAR, 8, -1},
		{"varchar(255)", DJ_CORE_VARCHAR, 255, -1}, {"decimal(6, 2)", DJ_CORE_DECIMAL, 6, 2},
		{"DECIMAL(10 ,0)", DJ_CORE_DECIMAL, 10, 0}, {"enum('a', 'b')", DJ_CORE_ENUM, -1, -1},
		{"uint16", DJ_CORE_LEGACY_UINT16, -1, -1}, {" int64 ", DJ_CORE_INT64, -1, -1},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		dj_coltype t = parse_ok(ok[i].text, NULL);
		if (t.codec || t.core != ok[i].t || t.params[0] != ok[i].p0 || t.params[1] != ok[i].p1)
			fail_msg("'%s': core %d (%d, %d)", ok[i].text, (int)t.core, t.params[0], t.params[1]);
	}
	assert_int_equal(dj_coltype_column(&(dj_coltype){.core = DJ_CORE_BYTES}), DJ_COLUMN_BYTES);
	assert_int_equal(dj_coltype_column(&(dj_coltype){.core = DJ_CORE_JSON}), DJ_COLUMN_JSON);
	assert_int_equal(dj_coltype_column(&(dj_coltype){.core = DJ_CORE_INT32}), DJ_COLUMN_VALUE);
	parse_fails("int", NULL, DJ_ENOTSUP, "'int'");
	parse_fails("varchar", NULL, DJ_ENOTSUP, NULL);
	parse_fails("varchar(x)", NULL, DJ_ENOTSUP, NULL);
	parse_fails("enum()", NULL, DJ_ENOTSUP, NULL);
	parse_fails("decimal(6)", NULL, DJ_ENOTSUP, NULL);
	parse_fails("decimal( 6,2)", NULL, DJ_ENOTSUP, NULL); /* no blank after "(" in the regex */
	parse_fails("int32x", NULL, DJ_ENOTSUP, NULL);
	parse_fails("longblob", NULL, DJ_ENOTSUP, NULL);
	parse_fails("", NULL, DJ_ENOTSUP, NULL);
}

static void split(const char *c, bool want, const char *type, const char *user)
{
	const char *t, *u;
	size_t tn, un;
	bool got = dj_comment_split(c, &t, &tn, &u, &un);
	if (got != want)
		fail_msg("'%s': marker %d, expected %d", c ? c : "(null)", got, want);
	if (strlen(type) != tn || strncmp(t, type, tn) != 0)
		fail_msg("'%s': type '%.*s', expected '%s'", c, (int)tn, t, type);
	if (strlen(user) != un || strncmp(u, user, un) != 0)
		fail_msg("'%s': comment '%.*s', expected '%s'", c, (int)un, u, user);
}

static void comment_markers(void **state)
{
	(void)state;
	split(":<blob@raw>:raw traces", true, "<blob@raw>", "raw traces");
	split(":int32:", true, "int32", "");
	split(":enum('a', 'b'):state", true, "enum('a', 'b')", "state");
	split(":a:b:c", true, "a", "b:c");
	split(":<blob>:line one\nline two", true, "<blob>", "line one"); /* '.' stops at \n */
	split("plain comment", false, "", "plain comment");
	split("::nothing", false, "", "::nothing");
	split(":unterminated", false, "", ":unterminated");
	split("", false, "", "");
	split(NULL, false, "", "");
	{
		const char *t, *u;
		size_t tn, un;
		dj_coltype ct;
		dj_err err = DJ_ERR_INIT;
		assert_true(dj_comment_split(":<npy@>:waveforms", &t, &tn, &u, &un));
		assert_int_equal(dj_coltype_parse(t, tn, "main", &ct, &err), 0);
		assert_int_equal(ct.codec->id, DJ_CODEC_NPY);
		assert_string_equal(ct.store, "main");
	}
}

static void registry_table(void **state)
{
	(void)state;
	assert_int_equal(dj_ncodecs, 6);
	for (size_t i = 0; i < dj_ncodecs; i++) {
		const dj_codec_info *c = &dj_codecs[i];
		assert_int_equal(c->id, (dj_codec_id)i);
		assert_ptr_equal(dj_codec_find(c->name, strlen(c->name)), c);
		/* only blob and attach can live in the table; everything in a store is JSON */
		assert_int_equal(!c->store_required, c->id == DJ_CODEC_BLOB || c->id == DJ_CODEC_ATTACH);
		assert_int_equal(c->column_store, DJ_COLUMN_JSON);
	}
	assert_null(dj_codec_find("blobs", 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(codec_forms),     cmocka_unit_test(codec_errors),
		cmocka_unit_test(core_types),      cmocka_unit_test(comment_markers),
		cmocka_unit_test(registry_table),
	};
	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
