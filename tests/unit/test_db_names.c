/* db/: tiers and names (database.md §1.2-1.3), headings (§2.5, heading.py's rules), SQL helpers
 * (placeholders, quoting, number text) — everything that needs no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/db_internal.h"
#include "db/schema.h"

static void tiers(void **state)
{
	static const struct {
		const char *name;
		dj_tier tier;
		size_t master_len;
	} cases[] = {
	    {"subject", DJ_TIER_MANUAL, 0},
	    {"raw_file", DJ_TIER_MANUAL, 0},
	    {"table2_name", DJ_TIER_MANUAL, 0},
	    {"#method", DJ_TIER_LOOKUP, 0},
	    {"_recording", DJ_TIER_IMPORTED, 0},
	    {"__spikes", DJ_TIER_COMPUTED, 0},
	    {"__spikes__unit", DJ_TIER_PART, 8},
	    {"_recording__channel", DJ_TIER_PART, 10},
	    {"#method__alias", DJ_TIER_PART, 7},
	    {"session__trial", DJ_TIER_PART, 7},
	    {"~~spikes", DJ_TIER_JOBS, 0},
	    {"~lineage", DJ_TIER_HIDDEN, 0},
	    {"~jobs", DJ_TIER_HIDDEN, 0},
	    {"~external_raw", DJ_TIER_HIDDEN, 0},
	    {"Subject", DJ_TIER_OTHER, 0},
	    {"a__b__c", DJ_TIER_OTHER, 0},
	    {"___x", DJ_TIER_OTHER, 0},
	    {"x_", DJ_TIER_OTHER, 0},
	    {"x__", DJ_TIER_OTHER, 0},
	    {"2x", DJ_TIER_OTHER, 0},
	    {"#", DJ_TIER_OTHER, 0},
	    {"", DJ_TIER_OTHER, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t m = 99;
		dj_tier t = dj_tier_of(cases[i].name, &m);
		if (t != cases[i].tier || m != cases[i].master_len)
			fail_msg("'%s': tier %s master_len %zu, expected %s %zu", cases[i].name,
			         dj_tier_name(t), m, dj_tier_name(cases[i].tier),
			         cases[i].master_len);
	}
}

static void camel(void **state)
{
	static const char *const to[][2] = {
	    {"__analysis", "Analysis"},
	    {"#method", "Method"},
	    {"processed_e_m_g", "ProcessedEMG"},
	    {"a__b", "AB"},
	    {"table2_name", "Table2Name"},
	    {"session_trial", "SessionTrial"},
	    {"a_1b", "A_1b"},
	};
	static const char *const from[][2] = {
	    {"SessionTrial", "session_trial"},   {"Table2Name", "table2_name"},
	    {"ProcessedEMG", "processed_e_m_g"}, {"ABC", "a_b_c"},
	    {"Session_Trial", "session_trial"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
		dj_buf b = DJ_BUF_INIT;
		assert_int_equal(dj_name_to_camel(&b, to[i][0], NULL), 0);
		if (strcmp(b.ptr, to[i][1]))
			fail_msg("to_camel('%s') = '%s', expected '%s'", to[i][0], b.ptr, to[i][1]);
		dj_buf_dispose(&b);
	}
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		dj_buf b = DJ_BUF_INIT;
		assert_int_equal(dj_name_from_camel(&b, from[i][0], NULL), 0);
		if (strcmp(b.ptr, from[i][1]))
			fail_msg("from_camel('%s') = '%s', expected '%s'", from[i][0], b.ptr,
			         from[i][1]);
		dj_buf_dispose(&b);
	}
	for (const char *const *bad = (const char *const[]){"session", "1Abc", "Ab-c", "", NULL};
	     *bad; bad++) {
		dj_buf b = DJ_BUF_INIT;
		dj_err err = DJ_ERR_INIT;
		assert_int_equal(dj_name_from_camel(&b, *bad, &err), DJ_EFORMAT);
		assert_non_null(strstr(err.msg, "class name"));
		dj_buf_dispose(&b);
	}
	dj_buf j = DJ_BUF_INIT;
	assert_int_equal(dj_name_jobs_table(&j, "__analysis", NULL), 0);
	assert_int_equal(dj_name_jobs_table(&j, "_scan", NULL), 0);
	assert_string_equal(j.ptr, "~~analysis~~scan");
	dj_buf_dispose(&j);
}

static char *mysql_type(const char *t)
{
	static char out[128];
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_sql_type_mysql(&b, t, NULL), 0);
	snprintf(out, sizeof(out), "%s", b.ptr);
	dj_buf_dispose(&b);
	return out;
}

static char *pg_type(const char *dt, const char *udt, const char *len, const char *p, const char *s)
{
	static char out[128];
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_sql_type_pg(&b, dt, udt, len, p, s, NULL), 0);
	snprintf(out, sizeof(out), "%s", b.ptr);
	dj_buf_dispose(&b);
	return out;
}

static void sql_types(void **state)
{
	(void)state;
	assert_string_equal(mysql_type("int(11)"), "int");
	assert_string_equal(mysql_type("tinyint(4)"), "tinyint");
	assert_string_equal(mysql_type("bigint(20) unsigned"), "bigint unsigned");
	assert_string_equal(mysql_type("smallint(6)"), "smallint");
	assert_string_equal(mysql_type("float"), "float");
	assert_string_equal(mysql_type("double(8)"), "double");
	assert_string_equal(mysql_type("float(7,3)"), "float(7,3)");
	assert_string_equal(mysql_type("decimal(6,2)"), "decimal(6,2)");
	assert_string_equal(mysql_type("varchar(16)"), "varchar(16)");
	assert_string_equal(mysql_type("binary(16)"), "binary(16)");
	assert_string_equal(mysql_type("enum('a','b')"), "enum('a','b')");
	assert_string_equal(pg_type("character varying", NULL, "16", NULL, NULL), "varchar(16)");
	assert_string_equal(pg_type("character", NULL, "3", NULL, NULL), "char(3)");
	assert_string_equal(pg_type("numeric", NULL, NULL, "6", "2"), "decimal(6,2)");
	assert_string_equal(pg_type("numeric", NULL, NULL, "6", "0"), "decimal(6)");
	assert_string_equal(pg_type("numeric", NULL, NULL, NULL, NULL), "numeric");
	assert_string_equal(pg_type("USER-DEFINED", "enum_609a743e", NULL, NULL, NULL),
	                    "enum_609a743e");
	assert_string_equal(pg_type("timestamp without time zone", "timestamp", NULL, NULL, NULL),
	                    "timestamp without time zone");
}

static dj_attr attr(const char *name, const char *type, const char *dflt, const char *comment,
                    bool nullable, const char *store)
{
	dj_column_info ci = {name, type, dflt, comment, nullable};
	dj_attr a;
	assert_int_equal(dj_attr_init(&a, &ci, store, NULL), 0);
	return a;
}

static void headings(void **state)
{
	dj_attr a;
	(void)state;
	/* a core marker: DataJoint type from the comment, SQL type kept */
	a = attr("is_alive", "tinyint", NULL, ":bool:", false, NULL);
	assert_int_equal(a.kind, DJ_ATTR_CORE);
	assert_string_equal(a.type, "bool");
	assert_string_equal(a.sql_type, "tinyint");
	assert_string_equal(a.comment, "");
	assert_string_equal(a.marker, "bool");
	assert_null(a.dflt);
	dj_attr_clear(&a);
	/* MariaDB json is longtext: only the marker says json */
	a = attr("extra", "longtext", NULL, ":json:free-form", true, NULL);
	assert_int_equal(a.coltype.core, DJ_CORE_JSON);
	assert_string_equal(a.comment, "free-form");
	assert_string_equal(a.dflt, "null");
	dj_attr_clear(&a);
	/* codecs, with and without a store; <x@> resolves to the default store */
	a = attr("raw", "longtext", NULL, ":<blob@main>:int16 samples", false, NULL);
	assert_int_equal(a.kind, DJ_ATTR_CODEC);
	assert_string_equal(a.type, "<blob@main>");
	assert_string_equal(a.coltype.store, "main");
	dj_attr_clear(&a);
	a = attr("x", "json", NULL, ":<npy@>:", false, "cold");
	assert_int_equal(a.kind, DJ_ATTR_CODEC);
	assert_string_equal(a.coltype.store, "cold");
	dj_attr_clear(&a);
	a = attr("x", "json", NULL, ":<npy@>:", false, NULL);
	assert_int_equal(a.kind, DJ_ATTR_UNKNOWN);
	assert_string_equal(a.type, "<npy@>");
	dj_attr_clear(&a);
	a = attr("x", "longblob", NULL, ":<mycodec>:", false, NULL);
	assert_int_equal(a.kind, DJ_ATTR_UNKNOWN);
	dj_attr_clear(&a);
	/* a legacy marker that is not a 2.x type: the native SQL type (heading.py tolerates it) */
	a = attr("x", "binary(16)", NULL, ":blob@store:old", false, NULL);
	assert_int_equal(a.kind, DJ_ATTR_NATIVE);
	assert_string_equal(a.type, "binary(16)");
	assert_string_equal(a.marker, "blob@store");
	dj_attr_clear(&a);
	/* no marker: native, unless the SQL spelling is a core type */
	a = attr("session_idx", "smallint", NULL, "", false, NULL);
	assert_int_equal(a.kind, DJ_ATTR_NATIVE);
	assert_string_equal(a.type, "smallint");
	dj_attr_clear(&a);
	a = attr("subject", "varchar(16)", NULL, "animal id", false, NULL);
	assert_int_equal(a.kind, DJ_ATTR_CORE);
	assert_string_equal(a.comment, "animal id");
	assert_null(a.marker);
	dj_attr_clear(&a);
	/* hidden */
	a = attr("_job_duration", "float", NULL, NULL, true, NULL);
	assert_true(a.hidden);
	dj_attr_clear(&a);
}

static void defaults(void **state)
{
	static const struct {
		const char *type, *dflt;
		bool nullable;
		const char *want;
	} cases[] = {
	    /* the fixture's values (expected.json, expected-postgres.json) */
	    {"varchar(64)", "Mus musculus", false, "\"Mus musculus\""},
	    {"varchar(64)", "", false, "\"\""},
	    {"datetime(3)", "current_timestamp(3)", false, "current_timestamp(3)"},
	    {"int", "0", false, "0"},
	    {"decimal(6,2)", NULL, true, "null"},
	    {"varchar(64)", "'Mus musculus'::character varying", false,
	     "\"'Mus musculus'::character varying\""},
	    {"bigint", "'0'::bigint", false, "'0'::bigint"},
	    {"timestamp without time zone", "CURRENT_TIMESTAMP(3)", false, "CURRENT_TIMESTAMP(3)"},
	    /* TEMPORAL and ENUM quote too, except the one literal */
	    {"timestamp", "CURRENT_TIMESTAMP", false, "CURRENT_TIMESTAMP"},
	    {"timestamp", "current_timestamp()", false, "\"current_timestamp()\""},
	    {"enum('a','b')", "a", false, "\"a\""},
	    {"char(2)", "ab", false, "\"ab\""},
	    {"date", "2020-01-01", false, "2020-01-01"},
	    {"int", NULL, false, NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dj_attr a = attr("c", cases[i].type, cases[i].dflt, NULL, cases[i].nullable, NULL);
		if (cases[i].want ? !a.dflt || strcmp(a.dflt, cases[i].want) : a.dflt != NULL)
			fail_msg("%s default %s: got %s, expected %s", cases[i].type,
			         cases[i].dflt ? cases[i].dflt : "(none)",
			         a.dflt ? a.dflt : "(none)",
			         cases[i].want ? cases[i].want : "(none)");
		dj_attr_clear(&a);
	}
}

static void inherit(void **state)
{
	dj_attr parent = attr("session_idx", "smallint", NULL, ":int16:", false, NULL);
	dj_attr child = attr("session_idx", "smallint", NULL, NULL, false, NULL);
	(void)state;
	assert_int_equal(dj_attr_inherit(&child, &parent, NULL), 0);
	assert_string_equal(child.type, "int16");
	assert_int_equal(child.kind, DJ_ATTR_CORE);
	assert_int_equal(child.coltype.core, DJ_CORE_INT16);
	assert_true(child.inherited);
	assert_string_equal(child.sql_type, "smallint");
	dj_attr_clear(&child);
	dj_attr_clear(&parent);
}

static void placeholders(void **state)
{
	static const char *const cases[][2] = {
	    {"SELECT ?", "SELECT $1"},
	    {"INSERT INTO t VALUES (?, ?, ?)", "INSERT INTO t VALUES ($1, $2, $3)"},
	    {"SELECT '?', \"a?b\", ? -- ?\n, ?", "SELECT '?', \"a?b\", $1 -- ?\n, $2"},
	    {"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
	    {"SELECT E'\\' ?', ?", "SELECT E'\\' ?', $1"},
	    {"SELECT $$ ? $$, $tag$?$tag$, ?", "SELECT $$ ? $$, $tag$?$tag$, $1"},
	    {"SELECT /* ? */ ?", "SELECT /* ? */ $1"},
	    {"SELECT format('%I.%I', ?, ?)", "SELECT format('%I.%I', $1, $2)"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dj_buf b = DJ_BUF_INIT;
		size_t n;
		assert_int_equal(dj_db__pg_placeholders(&b, cases[i][0], &n, NULL), 0);
		if (strcmp(b.ptr, cases[i][1]))
			fail_msg("'%s' -> '%s', expected '%s'", cases[i][0], b.ptr, cases[i][1]);
		dj_buf_dispose(&b);
	}
}

static char *quoted(dj_db_backend be, int what, const char *s, size_t n)
{
	static char out[256];
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	int rc = what == 0   ? dj_db_quote_ident(be, &b, s, &err)
	         : what == 1 ? dj_db_quote_text(be, &b, s, n, &err)
	                     : dj_db_quote_bytes(be, &b, s, n, &err);
	snprintf(out, sizeof(out), "%s", rc < 0 ? "ERROR" : b.ptr);
	dj_buf_dispose(&b);
	return out;
}

static void quoting(void **state)
{
	(void)state;
	assert_string_equal(quoted(DJ_DB_MYSQL, 0, "a`b", 0), "`a``b`");
	assert_string_equal(quoted(DJ_DB_POSTGRESQL, 0, "a\"b", 0), "\"a\"\"b\"");
	assert_string_equal(quoted(DJ_DB_MYSQL, 0, "", 0), "ERROR");
	assert_string_equal(quoted(DJ_DB_MYSQL, 1, "a'b\\c\0d\n", 8), "'a\\'b\\\\c\\0d\\n'");
	assert_string_equal(quoted(DJ_DB_POSTGRESQL, 1, "a'b\\c", 5), "'a''b\\c'");
	assert_string_equal(quoted(DJ_DB_POSTGRESQL, 1, "a\0b", 3), "ERROR");
	assert_string_equal(quoted(DJ_DB_MYSQL, 2, "\0\xff", 2), "X'00ff'");
	assert_string_equal(quoted(DJ_DB_POSTGRESQL, 2, "\0\xff", 2), "'\\x00ff'::bytea");
	assert_string_equal(quoted(DJ_DB_MYSQL, 2, "", 0), "X''");
}

static void numbers(void **state)
{
	static const double values[] = {0.1, 1.0 / 3, 1e300, -2.5, 123456789012345678.0, 5e-324};
	char buf[40];
	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		dj_db__format_double(buf, sizeof(buf), values[i], false);
		assert_true(strtod(buf, NULL) == values[i]);
	}
	dj_db__format_double(buf, sizeof(buf), 0.1, false);
	assert_string_equal(buf, "0.1");
	dj_db__format_double(buf, sizeof(buf), (float)0.1, true);
	assert_string_equal(buf, "0.1");
	dj_db__format_double(buf, sizeof(buf), 1.0 / 0.0, false);
	assert_string_equal(buf, "inf");
}

static void params(void **state)
{
	dj_db *db = NULL;
	dj_db_params p = {0};
	dj_err err = DJ_ERR_INIT;
	(void)state;
	p.backend = "oracle";
	p.user = "u";
	assert_int_equal(dj_db_new(&db, &p, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "oracle"));
	dj_err_clear(&err);
	p.backend = "mysql";
	p.user = NULL;
	assert_int_equal(dj_db_new(&db, &p, &err), DJ_EUSAGE);
	dj_err_clear(&err);
	p.backend = "postgresql";
	p.user = "alice";
	p.password = "s3cret";
	assert_int_equal(dj_db_new(&db, &p, &err), 0);
	assert_string_equal(dj_db_address(db), "postgresql://alice@localhost:5432/postgres");
	assert_null(strstr(dj_db_address(db), "s3cret"));
	assert_int_equal(dj_db_connection_id(db), 0);
	assert_false(dj_db_in_transaction(db));
	/* transaction calls without a transaction are refused without touching the network */
	assert_int_equal(dj_db_commit(db, &err), DJ_EUSAGE);
	assert_int_equal(dj_db_rollback(db, NULL), 0);
	dj_db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tiers),        cmocka_unit_test(camel),    cmocka_unit_test(sql_types),
	    cmocka_unit_test(headings),     cmocka_unit_test(defaults), cmocka_unit_test(inherit),
	    cmocka_unit_test(placeholders), cmocka_unit_test(quoting),  cmocka_unit_test(numbers),
	    cmocka_unit_test(params),
	};
	return cmocka_run_group_tests_name("db_names", tests, NULL, NULL);
}
