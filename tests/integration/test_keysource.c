/*
 * jobs/keysource.h on both servers, results compared as sets (database.md Q7):
 * - the fixture pipeline: key_source, pending keys and progress() of Recording, Spikes and
 *   Summary equal EXPECTED.md's "State of every key_source key" and final progress();
 *   restrictions on key_source attributes and on a parent's secondary attribute;
 * - renamed foreign keys (-> Cell.proj(pre='cell'), -> Cell.proj(post='cell'), -> Param) and
 *   parents sharing a secondary attribute name, in a djt_* schema of the test's own (§4.5).
 */
#include "jobs/keys.h"
#include "jobs/keysource.h"
#include "tests/integration/test_rows_util.h"

/* Keys as "name=value|..." with names sorted: the backends order key_source columns apart. */
static json_t *key_set(const dj_keys *k)
{
	json_t *set = json_object();
	for (size_t r = 0; r < k->n; r++) {
		dj_buf s = DJ_BUF_INIT;
		bool used[64] = {false};
		for (size_t n = 0; n < k->ncols; n++) {
			size_t best = SIZE_MAX;
			for (size_t c = 0; c < k->ncols; c++)
				if (!used[c] && (best == SIZE_MAX || strcmp(k->cols[c], k->cols[best]) < 0))
					best = c;
			used[best] = true;
			dj_buf_addf(&s, "%s%s=%s", n ? "|" : "", k->cols[best],
			            k->vals[r * k->ncols + best]);
		}
		json_object_set_new(set, s.ptr, json_true());
		dj_buf_dispose(&s);
	}
	return set;
}

static json_t *query_set(target *t, const char *sql)
{
	dj_keys k;
	dj_err err = DJ_ERR_INIT;
	json_t *set;
	dj_keys_init(&k);
	if (dj_keys_query(&k, t->db, sql, NULL, 0, &err) < 0)
		fail_msg("%s: %s\n%s", t->backend, err.msg, sql);
	set = key_set(&k);
	assert_int_equal(json_object_size(set), k.n); /* no duplicate keys */
	dj_keys_dispose(&k);
	return set;
}

/* "a=1|b=x;a=2|b=y" as a set */
static json_t *want_set(const char *list)
{
	json_t *set = json_object();
	char *copy = strdup(list), *save = NULL;
	for (char *s = strtok_r(copy, ";", &save); s; s = strtok_r(NULL, ";", &save))
		json_object_set_new(set, s, json_true());
	free(copy);
	return set;
}

static void same_set(target *t, const char *what, json_t *want, json_t *got)
{
	if (!json_equal(want, got)) {
		char *a = json_dumps(want, JSON_SORT_KEYS), *b = json_dumps(got, JSON_SORT_KEYS);
		fail_msg("%s: %s:\n  want %s\n  got  %s", t->backend, what, a, b);
	}
	json_decref(want);
	json_decref(got);
}

static void check(target *t, const dj_keysource *ks, const char *restriction, bool pending,
                  const char *want, const char *what)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if ((pending ? dj_keysource_pending_sql(&sql, ks, restriction, &err)
	             : dj_keysource_sql(&sql, ks, restriction, &err)) < 0)
		fail_msg("%s", err.msg);
	same_set(t, what, want_set(want), query_set(t, sql.ptr));
	dj_buf_dispose(&sql);
}

static void progress(target *t, const dj_keysource *ks, const char *restriction,
                     int64_t remaining, int64_t total)
{
	int64_t r = -1, n = -1;
	dj_err err = DJ_ERR_INIT;
	if (dj_keysource_progress(t->db, ks, restriction, &r, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r, remaining);
	assert_int_equal(n, total);
}

#define S(subject, idx) "session_idx=" #idx "|subject=" subject
#define M(subject, idx, m) "method=" m "|session_idx=" #idx "|subject=" subject

static void keysource(target *t, const dj_schema *s, const char *table, dj_keysource *ks)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_keysource_init(ks, s, must_table(s, table), &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
}

/* key_source restricted by `rig`, a secondary attribute of the parent session */
static void restricted_by_parent(target *t, const dj_keysource *ks)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (dj_keysource_sql(&sql, ks, "rig IS NULL", &err) < 0)
		fail_msg("%s", err.msg);
	same_set(t, "Recording key_source & rig IS NULL",
	         query_set(t, "SELECT subject, session_idx FROM fx_ephys.session WHERE rig IS NULL"),
	         query_set(t, sql.ptr));
	dj_buf_dispose(&sql);
}

static void fixture_recording(void **state)
{
	target *t = need(state);
	dj_schema s = load_schema(t, "fx_ephys");
	dj_keysource ks;
	keysource(t, &s, "Recording", &ks);
	assert_int_equal(ks.nattrs, 2);
	check(t, &ks, NULL, false,
	      S("mouse01", 1) ";" S("mouse01", 2) ";" S("mouse02", 1) ";" S("mouse02", 2) ";" S(
	          "mouse02", 3) ";" S("mouse03", 1) ";" S("mouse03", 2) ";" S("rat01", 1) ";" S("rat01",
	                                                                                     2),
	      "Recording key_source");
	check(t, &ks, NULL, true,
	      S("mouse01", 2) ";" S("mouse02", 2) ";" S("mouse03", 1) ";" S("mouse03", 2) ";" S(
	          "rat01", 1) ";" S("rat01", 2),
	      "Recording pending");
	check(t, &ks, "subject = 'mouse02'", true, S("mouse02", 2), "Recording pending & mouse02");
	progress(t, &ks, NULL, 6, 9);
	progress(t, &ks, "subject LIKE 'mouse%'", 4, 7);
	restricted_by_parent(t, &ks);
	dj_keysource_dispose(&ks);
	dj_schema_free(&s);
}

static void fixture_spikes_summary(void **state)
{
	target *t = need(state);
	dj_schema s = load_schema(t, "fx_ephys");
	dj_keysource ks;
	keysource(t, &s, "Spikes", &ks);
	assert_int_equal(ks.nattrs, 3);
	check(t, &ks, NULL, true,
	      M("mouse01", 1, "manual") ";" M("mouse01", 1, "template") ";" M(
	          "mouse02", 1, "manual") ";" M("mouse02", 1, "template") ";" M("mouse02", 3,
	                                                                        "manual"),
	      "Spikes pending");
	check(t, &ks, "method = 'threshold'", false,
	      M("mouse01", 1, "threshold") ";" M("mouse02", 1, "threshold") ";" M(
	          "mouse02", 3, "threshold"),
	      "Spikes key_source & threshold");
	progress(t, &ks, NULL, 5, 9);
	progress(t, &ks, "subject = 'mouse02'", 3, 6);
	dj_keysource_dispose(&ks);
	keysource(t, &s, "__summary", &ks);
	check(t, &ks, NULL, false,
	      M("mouse01", 1, "threshold") ";" M("mouse02", 1, "threshold") ";" M(
	          "mouse02", 3, "template") ";" M("mouse02", 3, "threshold"),
	      "Summary key_source");
	check(t, &ks, NULL, true, M("mouse02", 3, "template"), "Summary pending");
	progress(t, &ks, NULL, 1, 4);
	dj_keysource_dispose(&ks);
	dj_schema_free(&s);
}

static void not_auto_populated(void **state)
{
	target *t = need(state);
	dj_schema s = load_schema(t, "fx_lab");
	dj_keysource ks;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_keysource_init(&ks, &s, must_table(&s, "subject"), &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "must have dependencies from its primary key"));
	dj_keysource_dispose(&ks);
	dj_schema_free(&s);
}

/* Renamed foreign keys and clashing secondary names (database.md §4.5). */
static void aliased_parents(void **state)
{
	target *t = need(state);
	const char *n = djt_name();
	char q[8];
	dj_schema s;
	dj_keysource ks;
	snprintf(q, sizeof(q), "%s", is_pg(t) ? "\"" : "`");
	drop_schema(t, n);
	exec_sql(t->db, is_pg(t) ? "CREATE SCHEMA %s" : "CREATE DATABASE %s", n);
	exec_sql(t->db, "CREATE TABLE %s.cell (cell int NOT NULL, note varchar(16) NOT NULL, "
	                "PRIMARY KEY (cell))", n);
	exec_sql(t->db, "CREATE TABLE %s.%s#param%s (param int NOT NULL, note varchar(16) NOT NULL, "
	                "PRIMARY KEY (param))", n, q, q);
	exec_sql(t->db, "CREATE TABLE %s.__pair (pre int NOT NULL, post int NOT NULL, param int NOT "
	                "NULL, w double precision, PRIMARY KEY (pre, post, param), "
	                "FOREIGN KEY (pre) REFERENCES %s.cell (cell), "
	                "FOREIGN KEY (post) REFERENCES %s.cell (cell), "
	                "FOREIGN KEY (param) REFERENCES %s.%s#param%s (param))", n, n, n, n, q, q);
	exec_sql(t->db, "CREATE TABLE %s.__combo (cell int NOT NULL, param int NOT NULL, "
	                "PRIMARY KEY (cell, param), FOREIGN KEY (cell) REFERENCES %s.cell (cell), "
	                "FOREIGN KEY (param) REFERENCES %s.%s#param%s (param))", n, n, n, q, q);
	exec_sql(t->db, "INSERT INTO %s.cell VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d')", n);
	exec_sql(t->db, "INSERT INTO %s.%s#param%s VALUES (1,'x'),(2,'y')", n, q, q);
	exec_sql(t->db, "INSERT INTO %s.__pair VALUES (1,2,1,0.5),(2,1,1,0.5),(1,1,2,NULL)", n);
	exec_sql(t->db, "INSERT INTO %s.__combo VALUES (1,1),(4,2)", n);
	s = load_schema(t, n);
	keysource(t, &s, "__pair", &ks);
	assert_int_equal(ks.nattrs, 3);
	assert_non_null(strstr(ks.from, " AS ")); /* renamed: subqueries */
	progress(t, &ks, NULL, 29, 32);
	progress(t, &ks, "pre < 3 AND param = 1", 6, 8);
	check(t, &ks, "pre = 1 AND post = 2", true, "param=2|post=2|pre=1",
	      "__pair pending & pre=1 & post=2");
	dj_keysource_dispose(&ks);
	keysource(t, &s, "__combo", &ks);
	assert_non_null(strstr(ks.from, "SELECT")); /* both parents have `note` */
	progress(t, &ks, NULL, 6, 8);
	check(t, &ks, "cell = 4", false, "cell=4|param=1;cell=4|param=2", "__combo & cell=4");
	dj_keysource_dispose(&ks);
	dj_schema_free(&s);
	drop_schema(t, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(fixture_recording),
	    BOTH(fixture_spikes_summary),
	    BOTH(not_auto_populated),
	    BOTH(aliased_parents),
	};
	return cmocka_run_group_tests_name("keysource", tests, group_setup, group_teardown);
}
