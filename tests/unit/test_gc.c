/* jobs/gc: the pure parts — the digest set, the library's coverage and file-name rules
 * (database.md §7.3-§7.4), and reference extraction from raw column values (§7.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jobs/gc.h"

static void refset_grows_and_finds(void **state)
{
	(void)state;
	dj_gc_refset s = {0};
	dj_err err = DJ_ERR_INIT;
	char p[64];
	for (int i = 0; i < 100000; i++) {
		snprintf(p, sizeof(p), "_hash/lab/%026d", i);
		assert_int_equal(dj_gc_refset_add(&s, p, strlen(p), &err), 0);
	}
	snprintf(p, sizeof(p), "_hash/lab/%026d", 7);
	assert_int_equal(dj_gc_refset_add(&s, p, strlen(p), &err), 0);
	assert_int_equal(s.n, 100000); /* a duplicate is not added twice */
	assert_true(s.cap >= 2 * s.n);
	for (int i = 0; i < 100000; i += 997) {
		snprintf(p, sizeof(p), "_hash/lab/%026d", i);
		assert_true(dj_gc_refset_has(&s, p, strlen(p)));
	}
	int found = 0;
	for (int i = 100000; i < 200000; i++) {
		snprintf(p, sizeof(p), "_hash/lab/%026d", i);
		found += dj_gc_refset_has(&s, p, strlen(p));
	}
	assert_int_equal(found, 0);
	assert_true(dj_gc_digest("", 0) != 0);
	assert_true(dj_gc_digest("a", 1) != dj_gc_digest("b", 1));
	assert_true(dj_gc_digest("abcdefgh1", 9) != dj_gc_digest("abcdefgh2", 9));
	dj_gc_refset_free(&s);
	assert_false(dj_gc_refset_has(&s, "x", 1));
}

static void add(dj_gc_refset *s, const char *p)
{
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_gc_refset_add(s, p, strlen(p), &err), 0);
}

static bool covered(const dj_gc_refset *s, const char *p)
{
	return dj_gc_covered(s, p, strlen(p));
}

static void coverage_rules(void **state)
{
	(void)state;
	dj_gc_refset s = {0};
	add(&s, "_schema/lab/t/k=1/report_AbCd1234");      /* a folder object */
	add(&s, "_schema/lab/t/k=1/rates_XyZ98765.csv");   /* a file object */
	/* exact, inside the folder at any depth, the manifest sidecar */
	assert_true(covered(&s, "_schema/lab/t/k=1/rates_XyZ98765.csv"));
	assert_true(covered(&s, "_schema/lab/t/k=1/report_AbCd1234/units.csv"));
	assert_true(covered(&s, "_schema/lab/t/k=1/report_AbCd1234/plots/a.txt"));
	assert_true(covered(&s, "_schema/lab/t/k=1/report_AbCd1234.manifest.json"));
	/* a superseded token, a sibling with the same prefix, another key, a file's manifest
	 * name for a different object */
	assert_false(covered(&s, "_schema/lab/t/k=1/report_OlD00000/units.csv"));
	assert_false(covered(&s, "_schema/lab/t/k=1/report_AbCd12345"));
	assert_false(covered(&s, "_schema/lab/t/k=2/rates_XyZ98765.csv"));
	assert_false(covered(&s, "_schema/lab/t/k=1/rates_XyZ98765.csv.bak"));
	assert_true(covered(&s, "_schema/lab/t/k=1/rates_XyZ98765.csv.manifest.json"));
	/* ancestors are cut at '/' other than position 0 */
	dj_gc_refset r = {0};
	add(&r, "");
	assert_false(covered(&r, "/x/y"));
	dj_gc_refset_free(&r);
	dj_gc_refset_free(&s);
}

static void hash_names(void **state)
{
	(void)state;
	assert_true(dj_gc_hash_name("2qoyzwmpaczaj2mabgmoz6ccpy", 26));
	assert_false(dj_gc_hash_name("2qoyzwmpaczaj2mabgmoz6ccp", 25));
	assert_false(dj_gc_hash_name("2qoyzwmpaczaj2mabgmoz6ccpyy", 27));
	assert_false(dj_gc_hash_name("2QOYZWMPACZAJ2MABGMOZ6CCPY", 26)); /* upper case */
	assert_false(dj_gc_hash_name("0qoyzwmpaczaj2mabgmoz6ccpy", 26)); /* 0 and 1: not base32 */
	assert_false(dj_gc_hash_name("8qoyzwmpaczaj2mabgmoz6ccpy", 26));
	assert_false(dj_gc_hash_name("2qoyzwmpaczaj2m.manifest.j", 26));
}

static int ref(dj_gc_refset *s, const char *json, const char *store)
{
	dj_err err = DJ_ERR_INIT;
	return dj_gc_refs_add_json(s, json, strlen(json), store, &err);
}

static void references_from_values(void **state)
{
	(void)state;
	dj_gc_refset s = {0};
	assert_int_equal(ref(&s, "{\"hash\":\"h\",\"path\":\"_hash/l/a\",\"store\":\"main\",\"size\":3}", "main"), 1);
	assert_int_equal(ref(&s, "{\"path\":\"_hash/l/b\",\"store\":\"other\"}", "main"), 0);
	assert_int_equal(ref(&s, "{\"path\":\"_hash/l/c\"}", "main"), 0);              /* no store */
	assert_int_equal(ref(&s, "{\"path\":\"_hash/l/d\",\"store\":null}", "main"), 0); /* null */
	assert_int_equal(ref(&s, "{\"path\":7,\"store\":\"main\"}", "main"), 0);
	assert_int_equal(ref(&s, "not json", "main"), 0);
	assert_int_equal(ref(&s, "[\"_hash/l/e\"]", "main"), 0);
	assert_int_equal(ref(&s, "\"_hash/l/f\"", "main"), 0);
	assert_int_equal(ref(&s, "{\"path\":\"_hash/l/g\",\"store\":\"Main\"}", "main"), 0); /* exact */
	assert_int_equal(s.n, 1);
	assert_true(dj_gc_refset_has(&s, "_hash/l/a", 9));
	assert_false(dj_gc_refset_has(&s, "_hash/l/b", 9));
	dj_gc_refset_free(&s);
}

/* What the full parser says a value names (the library's rule), for comparison. */
static int jansson_ref(const char *json, size_t n, const char *store, char *path, size_t cap)
{
	json_error_t je;
	json_t *v = json_loadb(json, n, JSON_DECODE_ANY, &je);
	int found = 0;
	json_t *p = v ? json_object_get(v, "path") : NULL, *st = v ? json_object_get(v, "store") : NULL;
	if (json_is_string(p) && json_is_string(st) && !strcmp(json_string_value(st), store)) {
		snprintf(path, cap, "%s", json_string_value(p));
		found = 1;
	}
	json_decref(v);
	return found;
}

/* The fast reader agrees with jansson whenever it answers (REF or NONE), and says UNSURE on
 * escapes and repeated keys; random mutations of real metadata never make it disagree. */
static void fast_reader_agrees_with_jansson(void **state)
{
	(void)state;
	static const char *const cases[] = {
		"{\"hash\":\"h\",\"path\":\"_hash/l/a\",\"schema\":\"l\",\"store\":\"main\",\"size\":3}",
		" { \"path\" : \"_hash/l/a\" , \"store\" : \"main\" } ",
		"{\"path\":\"_hash/l/\\u0061\",\"store\":\"main\"}",   /* escape in path */
		"{\"pa\\u0074h\":\"_hash/l/b\",\"store\":\"main\"}",    /* escape in key */
		"{\"path\":\"x\",\"path\":\"y\",\"store\":\"main\"}", /* repeated key */
		"{\"store\":\"main\",\"path\":\"_hash/l/c\",\"x\":{\"path\":\"no\",\"a\":[1,\"}\",{}]}}",
		"{\"meta\":\"a\\\"b\",\"path\":\"_s/o\",\"store\":\"main\",\"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null}",
		"{\"path\":\"p\",\"store\":\"main\"", /* unterminated */
		"{\"path\":\"p\",\"store\":\"main\"} x",
		"{\"path\":\"p\",\"store\":\"mainx\"}",
		"{\"path\":\"p\",\"store\":\"mai\"}",
		"{\"path\":[\"p\"],\"store\":\"main\"}",
		"{\"path\":\"p\",\"store\":nul}",
		"{}", "[]", "", "   ", "\"path\"", "7", "{\"path\":\"\",\"store\":\"main\"}",
		"{\"path\":\"caf\xc3\xa9\",\"store\":\"main\"}",
	};
	const char *base = cases[0];
	char buf[256], jpath[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases) + 20000; i++) {
		size_t n;
		if (i < sizeof(cases) / sizeof(*cases)) {
			n = strlen(cases[i]);
			memcpy(buf, cases[i], n);
		} else { /* a few random byte changes of real metadata */
			static const char alphabet[] = "{}[]\",:\\ auhstorepmin0-e.";
			n = strlen(base);
			memcpy(buf, base, n);
			for (int k = 0; k < 1 + (int)(i % 3); k++)
				buf[(size_t)rand() % n] = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
		}
		dj_gc_ref r;
		int fast = dj_gc__json_ref(buf, n, &r);
		int full = jansson_ref(buf, n, "main", jpath, sizeof(jpath));
		if (fast == DJ_GC_JSON_UNSURE)
			continue;
		bool fast_found = fast == DJ_GC_JSON_REF && r.store_len == 4 && !memcmp(r.store, "main", 4);
		/* the fast reader may only keep more (malformed text it reads leniently), never less */
		if (full) {
			assert_true(fast_found);
			assert_int_equal(r.path_len, strlen(jpath));
			assert_memory_equal(r.path, jpath, r.path_len);
		}
		if (i < sizeof(cases) / sizeof(*cases) && fast_found != (full != 0))
			fail_msg("case %zu: fast %d, jansson %d", i, fast_found, full);
	}
	dj_gc_ref r;
	assert_int_equal(dj_gc__json_ref(cases[2], strlen(cases[2]), &r), DJ_GC_JSON_UNSURE);
	assert_int_equal(dj_gc__json_ref(cases[3], strlen(cases[3]), &r), DJ_GC_JSON_UNSURE);
	assert_int_equal(dj_gc__json_ref(cases[4], strlen(cases[4]), &r), DJ_GC_JSON_UNSURE);
	/* through the scan's entry point, escapes still resolve */
	dj_gc_refset s = {0};
	assert_int_equal(ref(&s, cases[2], "main"), 1);
	assert_true(dj_gc_refset_has(&s, "_hash/l/a", 9));
	assert_int_equal(ref(&s, cases[4], "main"), 1); /* the last "path" wins, as in jansson */
	assert_true(dj_gc_refset_has(&s, "y", 1));
	dj_gc_refset_free(&s);
}

static bool live(const dj_gc_refs *r, char section, const char *p)
{
	return dj_gc_refs_live(r, section, p, strlen(p));
}

static void live_by_section(void **state)
{
	(void)state;
	dj_gc_refs r;
	memset(&r, 0, sizeof(r));
	add(&r.hash, "_hash/l/aaaaaaaaaaaaaaaaaaaaaaaaaa");
	add(&r.schema, "_schema/l/t/k=1/o_TOKEN123");
	add(&r.other, "_schema/l/t/k=2/custom_TOKEN456"); /* a JSON column of an unknown codec */
	assert_true(live(&r, 'H', "_hash/l/aaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_false(live(&r, 'H', "_hash/l/bbbbbbbbbbbbbbbbbbbbbbbbbb"));
	assert_false(live(&r, 'S', "_hash/l/aaaaaaaaaaaaaaaaaaaaaaaaaa")); /* sets per section */
	assert_true(live(&r, 'S', "_schema/l/t/k=1/o_TOKEN123/x"));
	assert_true(live(&r, 'S', "_schema/l/t/k=2/custom_TOKEN456/y"));
	assert_true(live(&r, 'H', "_schema/l/t/k=2/custom_TOKEN456")); /* other: both */
	assert_false(live(&r, 'S', "_schema/l/t/k=3/o_TOKEN123"));
	dj_gc_refs_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refset_grows_and_finds), cmocka_unit_test(coverage_rules),
		cmocka_unit_test(hash_names),             cmocka_unit_test(references_from_values),
		cmocka_unit_test(live_by_section),        cmocka_unit_test(fast_reader_agrees_with_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
