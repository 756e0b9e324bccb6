/*
 * dj_tables_pack / dj_tables_unpack (db/table_wire.c): a master and its part survive the trip
 * with every attribute field, the types parsed again (codec, store, core type; `<blob@>` resolved
 * to the default store), the key and the part's master link; malformed bytes are DJ_EFORMAT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/schema.h"

static void attr(dj_attr *a, const char *name, const char *sql, const char *comment,
                 bool nullable, bool key)
{
	dj_err err = DJ_ERR_INIT;
	dj_column_info ci = {name, sql, NULL, comment, nullable};
	assert_int_equal(dj_attr_init(a, &ci, "main", &err), 0);
	a->in_key = key;
}

static void table(dj_table *t, const char *name, const char *cls, dj_tier tier, size_t nattrs,
                  size_t npk)
{
	memset(t, 0, sizeof(*t));
	t->schema = strdup("lab");
	t->name = strdup(name);
	t->class_name = strdup(cls);
	t->comment = strdup("a table");
	t->tier = tier;
	t->attrs = calloc(nattrs, sizeof(*t->attrs));
	t->nattrs = nattrs;
	t->pk = calloc(npk, sizeof(*t->pk));
	t->npk = npk;
	for (size_t i = 0; i < npk; i++)
		t->pk[i] = i;
}

static void round_trip(void **state)
{
	(void)state;
	dj_table m, p;
	table(&m, "__feat", "Feat", DJ_TIER_COMPUTED, 4, 2);
	attr(&m.attrs[0], "rec_id", "int", ":int32:", false, true);
	attr(&m.attrs[1], "rec_date", "date", ":date:", false, true);
	attr(&m.attrs[2], "trace", "json", ":<blob@>:the trace", false, false);
	attr(&m.attrs[3], "extra", "json", ":<npy@s3>:", true, false);
	table(&p, "__feat__peak", "Feat.Peak", DJ_TIER_PART, 3, 2);
	attr(&p.attrs[0], "rec_id", "int", ":int32:", false, true);
	attr(&p.attrs[1], "peak", "smallint", NULL, false, true);
	attr(&p.attrs[2], "_hidden", "double", ":float64:", false, false);
	p.master = &m;
	const dj_table *both[] = {&m, &p};
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_table *t = NULL;
	size_t n = 0;
	assert_int_equal(dj_tables_pack(&b, both, 2, &err), 0);
	assert_int_equal(dj_tables_unpack(b.ptr, b.len, "main", &t, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].name, "__feat");
	assert_string_equal(t[0].class_name, "Feat");
	assert_int_equal(t[0].tier, DJ_TIER_COMPUTED);
	assert_null(t[0].master);
	assert_ptr_equal(t[1].master, &t[0]);
	assert_int_equal(t[1].npk, 2);
	assert_int_equal(t[1].pk[1], 1);
	for (size_t k = 0; k < 2; k++) {
		const dj_table *a = both[k], *u = &t[k];
		assert_int_equal(u->nattrs, a->nattrs);
		for (size_t i = 0; i < a->nattrs; i++) {
			assert_string_equal(u->attrs[i].name, a->attrs[i].name);
			assert_string_equal(u->attrs[i].type, a->attrs[i].type);
			assert_string_equal(u->attrs[i].sql_type, a->attrs[i].sql_type);
			assert_string_equal(u->attrs[i].comment, a->attrs[i].comment);
			assert_int_equal(u->attrs[i].kind, a->attrs[i].kind);
			assert_int_equal(u->attrs[i].nullable, a->attrs[i].nullable);
			assert_int_equal(u->attrs[i].in_key, a->attrs[i].in_key);
			assert_int_equal(u->attrs[i].hidden, a->attrs[i].hidden);
			assert_ptr_equal(u->attrs[i].coltype.codec, a->attrs[i].coltype.codec);
			assert_string_equal(u->attrs[i].coltype.store, a->attrs[i].coltype.store);
			assert_int_equal(u->attrs[i].coltype.core, a->attrs[i].coltype.core);
		}
	}
	assert_string_equal(t[0].attrs[2].coltype.store, "main"); /* <blob@> */
	assert_string_equal(t[0].attrs[3].coltype.store, "s3");
	assert_true(t[1].attrs[2].hidden);
	dj_tables_free(t, n);
	dj_buf_dispose(&b);
	dj_table_clear(&m);
	dj_table_clear(&p);
}

static void malformed(void **state)
{
	(void)state;
	dj_err err = DJ_ERR_INIT;
	dj_table *t = (dj_table *)1;
	size_t n = 9;
	static const char *bad[] = {
	    "", "{}", "[1]", "[{\"schema\":\"s\",\"name\":\"t\",\"attrs\":[],\"pk\":[0]}]",
	    "[{\"schema\":\"s\",\"name\":\"t\",\"attrs\":[{\"name\":\"a\"}],\"pk\":[]}]",
	    "[{\"schema\":\"s\",\"name\":\"t\",\"attrs\":[],\"pk\":[],\"master\":3}]",
	    "[{\"schema\":\"s\",\"name\":\"t\",\"attrs\":[{\"name\":\"a\",\"type\":\"<nope@x>\","
	    "\"kind\":1}],\"pk\":[]}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dj_err_clear(&err);
		assert_int_equal(dj_tables_unpack(bad[i], strlen(bad[i]), NULL, &t, &n, &err),
		                 DJ_EFORMAT);
		assert_null(t);
		assert_int_equal(n, 0);
		assert_non_null(strstr(err.msg, "table heading"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(round_trip), cmocka_unit_test(malformed)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
