/*
 * jobs/jobtable.h on both servers.
 *
 * - declare: in a djt_* copy of the fixture's DDL, ~~recording / ~~spikes / ~~summary created by
 *   djrun equal the ones datajoint-python created (MySQL: SHOW CREATE TABLE; PostgreSQL:
 *   columns, types, defaults, comments, index, table comment), with the same ~lineage rows;
 * - on the fixture itself, in order: progress() equals the fixture's jobs.progress(); refresh
 *   adds the one key without a job, removes stale rows outside key_source, re-pends the orphan
 *   a killed Python worker left; djrun does not reserve what Python reserved, errored or
 *   ignored; reserve/complete/error/ignore leave the rows Python leaves: an error() with the
 *   fixture's message and stack stores the same error_message and error_stack bytes (plain dj0
 *   and zlib-wrapped) as Python did; batched reserve/release/complete; scheduling in the future;
 *   clear-errors; the restricted-refresh stale quirk (§6.3).
 */
#include <math.h>
#include <sys/utsname.h>

#include "jobs/jobtable.h"
#include "jobs/keys.h"
#include "jobs/keysource.h"
#include "tests/integration/test_rows_util.h"

typedef struct jobs_ctx {
	target *t;
	dj_schema s;
	dj_keysource ks;
	dj_jobtable jt;
} jobs_ctx;

static void open_jobs(jobs_ctx *c, target *t, const char *schema, const char *table)
{
	dj_err err = DJ_ERR_INIT;
	c->t = t;
	c->s = load_schema(t, schema);
	if (dj_keysource_init(&c->ks, &c->s, must_table(&c->s, table), &err) < 0 ||
	    dj_jobtable_init(&c->jt, &c->s, must_table(&c->s, table), &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
}

static void close_jobs(jobs_ctx *c)
{
	dj_jobtable_dispose(&c->jt);
	dj_keysource_dispose(&c->ks);
	dj_schema_free(&c->s);
}

/* Keys of the jobs table from "a,b,c" values (text, as the server would return them). */
static dj_keys keys_of(const dj_jobtable *jt, const char *list)
{
	dj_keys k;
	dj_err err = DJ_ERR_INIT;
	char *copy = strdup(list), *save = NULL, *one, *save2;
	dj_keys_init(&k);
	if (dj_keys_set_cols(&k, (const char *const *)jt->pk, NULL, jt->npk, &err) < 0)
		fail_msg("%s", err.msg);
	for (one = strtok_r(copy, ";", &save); one; one = strtok_r(NULL, ";", &save)) {
		const char *vals[8];
		size_t n = 0;
		for (char *v = strtok_r(one, ",", &save2); v && n < 8; v = strtok_r(NULL, ",", &save2))
			vals[n++] = v;
		assert_int_equal(n, jt->npk);
		if (dj_keys_add(&k, vals, NULL, &err) < 0)
			fail_msg("%s", err.msg);
	}
	free(copy);
	return k;
}

static const char *q(const target *t)
{
	return is_pg(t) ? "\"" : "`";
}

/* One column of one job row as text ("" when NULL or absent). */
static char *job_col(jobs_ctx *c, const char *col, const char *where)
{
	char sql[1024];
	snprintf(sql, sizeof(sql), "SELECT %s%s%s FROM %s.%s%s%s WHERE %s", q(c->t), col, q(c->t),
	         c->jt.schema, q(c->t), c->jt.name, q(c->t), where);
	return query_text(c->t->db, sql, NULL, 0);
}

static void expect_col(jobs_ctx *c, const char *col, const char *where, const char *want)
{
	char *got = job_col(c, col, where);
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s.%s where %s: want '%s', got '%s'", c->t->backend, c->jt.name, col,
		         where, want, got);
	free(got);
}

static dj_job_counts counts(jobs_ctx *c)
{
	dj_job_counts n;
	dj_err err = DJ_ERR_INIT;
	if (dj_jobs_progress(c->t->db, &c->jt, &n, &err) < 0)
		fail_msg("%s", err.msg);
	return n;
}

static void expect_counts(jobs_ctx *c, int64_t pending, int64_t reserved, int64_t success,
                          int64_t error, int64_t ignore)
{
	dj_job_counts n = counts(c);
	if (n.pending != pending || n.reserved != reserved || n.success != success ||
	    n.error != error || n.ignore != ignore ||
	    n.total != pending + reserved + success + error + ignore)
		fail_msg("%s: %s progress: pending %lld reserved %lld success %lld error %lld ignore "
		         "%lld total %lld",
		         c->t->backend, c->jt.name, (long long)n.pending, (long long)n.reserved,
		         (long long)n.success, (long long)n.error, (long long)n.ignore,
		         (long long)n.total);
}

static dj_refresh_result refresh(jobs_ctx *c, const dj_refresh_opts *o)
{
	dj_refresh_result r;
	dj_err err = DJ_ERR_INIT;
	if (dj_jobs_refresh(c->t->db, &c->jt, &c->ks, o, &r, &err) < 0)
		fail_msg("%s: %s", c->t->backend, err.msg);
	return r;
}

static bool reserve(jobs_ctx *c, const char *key, const dj_job_worker *w)
{
	dj_keys k = keys_of(&c->jt, key);
	dj_err err = DJ_ERR_INIT;
	bool ok = false;
	if (dj_jobs_reserve(c->t->db, &c->jt, &k, 0, w, &ok, &err) < 0)
		fail_msg("%s: %s", c->t->backend, err.msg);
	dj_keys_dispose(&k);
	return ok;
}

static dj_job_worker worker(target *t)
{
	dj_job_worker w;
	dj_err err = DJ_ERR_INIT;
	if (dj_job_worker_init(&w, t->db, "djrun-test", &err) < 0)
		fail_msg("%s", err.msg);
	return w;
}

#define SPK(s, i, m) "subject='" s "' AND session_idx=" #i " AND method='" m "'"
#define REC(s, i) "subject='" s "' AND session_idx=" #i

/* --- the fixture's state as Python left it --------------------------------------------------- */

static void fixture_progress(void **state)
{
	target *t = need(state);
	jobs_ctx c;
	open_jobs(&c, t, "fx_ephys", "Recording");
	expect_counts(&c, 2, 0, 0, 2, 1);
	close_jobs(&c);
	open_jobs(&c, t, "fx_ephys", "Spikes");
	expect_counts(&c, 3, 1, 8, 1, 0);
	assert_string_equal(c.jt.name, "~~spikes");
	assert_int_equal(c.jt.npk, 3);
	close_jobs(&c);
	open_jobs(&c, t, "fx_ephys", "Summary");
	expect_counts(&c, 1, 0, 0, 0, 0);
	close_jobs(&c);
}

/* djrun does not take what Python reserved, errored or ignored (§6.4) */
static void respects_python(void **state)
{
	target *t = need(state);
	dj_job_worker w = worker(t);
	jobs_ctx c;
	char *pid;
	open_jobs(&c, t, "fx_ephys", "Spikes");
	pid = job_col(&c, "pid", SPK("mouse02", 1, "template"));
	assert_true(atoi(pid) > 0);
	assert_false(reserve(&c, "mouse02,1,template", &w)); /* reserved by a dead worker */
	assert_false(reserve(&c, "mouse01,1,template", &w)); /* error */
	assert_false(reserve(&c, "mouse01,1,threshold", &w)); /* success */
	assert_false(reserve(&c, "mouse01,9,threshold", &w)); /* no such job */
	expect_col(&c, "pid", SPK("mouse02", 1, "template"), pid); /* untouched */
	free(pid);
	close_jobs(&c);
	open_jobs(&c, t, "fx_ephys", "Recording");
	assert_false(reserve(&c, "rat01,2", &w)); /* ignore */
	close_jobs(&c);
}

/* refresh: add the key without a job; stale and orphan handling as the library does (§6.3) */
static void refresh_fixture(void **state)
{
	target *t = need(state);
	dj_refresh_opts o = DJ_REFRESH_OPTS_INIT;
	dj_refresh_result r;
	jobs_ctx c;
	char *v;
	open_jobs(&c, t, "fx_ephys", "Recording");
	o.stale_timeout = 0;
	r = refresh(&c, &o);
	assert_int_equal(r.added, 1); /* mouse03/2: in key_source, no job row */
	expect_col(&c, "status", REC("mouse03", 2), "pending");
	expect_col(&c, "priority", REC("mouse03", 2), "5");
	v = job_col(&c, "scheduled_time", REC("mouse03", 2));
	assert_true(strlen(v) >= 19);
	free(v);
	r = refresh(&c, &o);
	assert_int_equal(r.added, 0);
	expect_counts(&c, 3, 0, 0, 2, 1);
	close_jobs(&c);

	open_jobs(&c, t, "fx_ephys", "Spikes");
	o.keep_completed = true;
	r = refresh(&c, &o);
	assert_int_equal(r.added + r.re_pended + r.removed + r.orphaned, 0);
	/* success rows of keys that left key_source (S2, S9), older than a second: removed */
	o.stale_timeout = 1;
	r = refresh(&c, &o);
	assert_int_equal(r.removed, 4);
	assert_int_equal(r.added, 0);
	expect_counts(&c, 3, 1, 4, 1, 0);
	/* the row a SIGKILLed Python worker left reserved: a fresh pending row */
	o.orphan_timeout = 1;
	o.priority = 3;
	r = refresh(&c, &o);
	assert_int_equal(r.orphaned, 1);
	expect_col(&c, "status", SPK("mouse02", 1, "template"), "pending");
	expect_col(&c, "priority", SPK("mouse02", 1, "template"), "3");
	expect_col(&c, "host", SPK("mouse02", 1, "template"), "");
	expect_col(&c, "pid", SPK("mouse02", 1, "template"), "0");
	expect_col(&c, "reserved_time", SPK("mouse02", 1, "template"), "");
	expect_counts(&c, 4, 0, 4, 1, 0);
	close_jobs(&c);
}

/* keep_completed re-pends a success row whose target row is gone (§6.3 step 2) */
static void refresh_repend(void **state)
{
	target *t = need(state);
	dj_refresh_opts o = DJ_REFRESH_OPTS_INIT;
	dj_refresh_result r;
	jobs_ctx c;
	open_jobs(&c, t, "fx_ephys", "Spikes");
	exec_sql(t->db, "DELETE FROM fx_ephys.__summary WHERE " SPK("mouse02", 1, "threshold"));
	exec_sql(t->db, "DELETE FROM fx_ephys.__spikes__unit WHERE " SPK("mouse02", 1, "threshold"));
	exec_sql(t->db, "DELETE FROM fx_ephys.__spikes WHERE " SPK("mouse02", 1, "threshold"));
	o.stale_timeout = 0;
	r = refresh(&c, &o);
	assert_int_equal(r.re_pended, 0); /* keep_completed off: left alone */
	o.keep_completed = true;
	o.priority = 2;
	r = refresh(&c, &o);
	assert_int_equal(r.re_pended, 1);
	expect_col(&c, "status", SPK("mouse02", 1, "threshold"), "pending");
	expect_col(&c, "priority", SPK("mouse02", 1, "threshold"), "2");
	expect_col(&c, "duration", SPK("mouse02", 1, "threshold"), "");
	expect_col(&c, "completed_time", SPK("mouse02", 1, "threshold"), "");
	expect_counts(&c, 5, 0, 3, 1, 0);
	close_jobs(&c);
}

/* pending selection: due, by priority then scheduled_time (§5.3) */
static void pending_order(void **state)
{
	target *t = need(state);
	dj_keys k;
	dj_err err = DJ_ERR_INIT;
	jobs_ctx c;
	int last = -1;
	open_jobs(&c, t, "fx_ephys", "Spikes");
	dj_keys_init(&k);
	if (dj_jobs_pending(t->db, &c.jt, &c.ks, NULL, -1, -1, &k, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(k.n, 5);
	for (size_t i = 0; i < k.n; i++) {
		char where[200], *p;
		snprintf(where, sizeof(where), "subject='%s' AND session_idx=%s AND method='%s'",
		         k.vals[i * 3], k.vals[i * 3 + 1], k.vals[i * 3 + 2]);
		p = job_col(&c, "priority", where);
		assert_true(atoi(p) >= last);
		last = atoi(p);
		free(p);
	}
	dj_keys_dispose(&k);
	dj_keys_init(&k);
	if (dj_jobs_pending(t->db, &c.jt, &c.ks, "method = 'manual'", 1, 2, &k, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(k.n, 2); /* three manual jobs of priority 1, limit 2 */
	for (size_t i = 0; i < k.n; i++)
		assert_string_equal(k.vals[i * 3 + 2], "manual");
	dj_keys_dispose(&k);
	close_jobs(&c);
}

/* reserve / complete / ignore leave the rows Python leaves (§6.4, §6.5, §6.9) */
static void one_key_states(void **state)
{
	target *t = need(state);
	dj_job_worker w = worker(t);
	dj_err err = DJ_ERR_INIT;
	struct utsname u;
	char pid[32], conn[32];
	dj_keys k;
	jobs_ctx c;
	dj_db *other;
	dj_db_params p = {0};
	open_jobs(&c, t, "fx_ephys", "Spikes");
	assert_true(reserve(&c, "mouse01,1,manual", &w));
	assert_false(reserve(&c, "mouse01,1,manual", &w));
	uname(&u);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	snprintf(conn, sizeof(conn), "%lld", (long long)dj_db_connection_id(t->db));
	expect_col(&c, "status", SPK("mouse01", 1, "manual"), "reserved");
	expect_col(&c, "host", SPK("mouse01", 1, "manual"), u.nodename);
	expect_col(&c, "pid", SPK("mouse01", 1, "manual"), pid);
	expect_col(&c, "connection_id", SPK("mouse01", 1, "manual"), conn);
	expect_col(&c, "user", SPK("mouse01", 1, "manual"), w.user);
	expect_col(&c, "version", SPK("mouse01", 1, "manual"), "djrun-test");
	assert_true(strchr(w.user, '@') != NULL || is_pg(t)); /* MySQL user() is user@host */
	/* a second connection loses the race for the same key */
	p.backend = t->backend;
	p.host = t->host;
	p.port = atoi(t->port);
	p.user = t->user;
	p.password = t->pass;
	p.dbname = t->dbname[0] ? t->dbname : NULL;
	if (dj_db_open(&other, &p, &err) < 0)
		fail_msg("%s", err.msg);
	k = keys_of(&c.jt, "mouse02,3,manual");
	{
		bool a = false, b = false;
		dj_job_worker w2 = w;
		w2.connection_id = dj_db_connection_id(other);
		assert_int_equal(dj_jobs_reserve(other, &c.jt, &k, 0, &w2, &a, &err), 0);
		assert_int_equal(dj_jobs_reserve(t->db, &c.jt, &k, 0, &w, &b, &err), 0);
		assert_true(a && !b);
	}
	dj_db_close(other);
	/* complete: delete, or success with completed_time and duration when keep_completed */
	assert_int_equal(dj_jobs_complete(t->db, &c.jt, &k, 0, false, NAN, &err), 0);
	expect_col(&c, "status", SPK("mouse02", 3, "manual"), "");
	dj_keys_dispose(&k);
	k = keys_of(&c.jt, "mouse01,1,manual");
	assert_int_equal(dj_jobs_complete(t->db, &c.jt, &k, 0, true, 1.5, &err), 0);
	expect_col(&c, "status", SPK("mouse01", 1, "manual"), "success");
	expect_col(&c, "duration", SPK("mouse01", 1, "manual"), "1.5");
	expect_col(&c, "host", SPK("mouse01", 1, "manual"), u.nodename); /* left as it was */
	/* the same again changes nothing on MySQL (0 changed rows) but the row exists */
	assert_int_equal(dj_jobs_complete(t->db, &c.jt, &k, 0, true, 1.5, &err), 0);
	dj_keys_dispose(&k);
	k = keys_of(&c.jt, "rat01,9,manual");
	assert_int_equal(dj_jobs_complete(t->db, &c.jt, &k, 0, true, NAN, &err), DJ_ENOTFOUND);
	/* ignore: a missing job is inserted, an existing one changes status */
	err = (dj_err)DJ_ERR_INIT;
	assert_int_equal(dj_jobs_ignore(t->db, &c.jt, &k, 0, 5, &err), 0);
	expect_col(&c, "status", SPK("rat01", 9, "manual"), "ignore");
	expect_col(&c, "priority", SPK("rat01", 9, "manual"), "5");
	assert_int_equal(dj_jobs_ignore(t->db, &c.jt, &k, 0, 5, &err), 0);
	dj_keys_dispose(&k);
	close_jobs(&c);
}

/* --- error(): the same bytes Python stored (§6.6) --------------------------------------------
 */

static char *stack_of(jobs_ctx *c, const char *where)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_rows *r;
	dj_err err = DJ_ERR_INIT;
	dj_value *v;
	char *s;
	dj_buf_addf(&sql, "SELECT error_stack FROM %s.%s%s%s WHERE %s", c->jt.schema, q(c->t),
	            c->jt.name, q(c->t), where);
	if (dj_db_query(c->t->db, sql.ptr, NULL, 0, &r, &err) < 0 || dj_db_rows_next(r, &err) != 1)
		fail_msg("%s: %s", sql.ptr, err.msg);
	if (dj_blob_unpack(dj_db_rows_value(r, 0).ptr, dj_db_rows_value(r, 0).len, NULL, &v, NULL,
	                   &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(v->kind, DJ_V_STR);
	s = strdup(v->u.s.p);
	dj_value_free(v);
	dj_db_rows_free(r);
	dj_buf_dispose(&sql);
	return s;
}

static char *stack_hex(jobs_ctx *c, const char *where)
{
	char sql[600];
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s.%s%s%s WHERE %s",
	         is_pg(c->t) ? "encode(error_stack, 'hex')" : "lower(hex(error_stack))", c->jt.schema,
	         q(c->t), c->jt.name, q(c->t), where);
	return query_text(c->t->db, sql, NULL, 0);
}

static void same_error(jobs_ctx *c, const char *python, const char *djrun, const char *message)
{
	dj_keys k;
	dj_err err = DJ_ERR_INIT;
	char *stack = stack_of(c, python), *want, *got;
	/* the key of the row djrun writes, from its WHERE text */
	{
		char sql[600];
		snprintf(sql, sizeof(sql), "SELECT * FROM %s.%s%s%s WHERE %s", c->jt.schema, q(c->t),
		         c->jt.name, q(c->t), djrun);
		dj_keys_init(&k);
		if (dj_keys_query(&k, c->t->db, sql, NULL, 0, &err) < 0 || k.n != 1)
			fail_msg("%s: %s", sql, err.msg);
	}
	if (dj_jobs_error(c->t->db, &c->jt, &k, 0, message, stack, &err) < 0)
		fail_msg("%s: %s", c->t->backend, err.msg);
	dj_keys_dispose(&k);
	want = job_col(c, "error_message", python);
	got = job_col(c, "error_message", djrun);
	assert_string_equal(want, got);
	free(want);
	free(got);
	want = stack_hex(c, python);
	got = stack_hex(c, djrun);
	if (strcmp(want, got) != 0)
		fail_msg("%s: error_stack bytes differ from Python's", c->t->backend);
	free(want);
	free(got);
	expect_col(c, "status", djrun, "error");
	free(stack);
}

static void error_bytes(void **state)
{
	target *t = need(state);
	jobs_ctx c;
	char *msg, *longer;
	size_t n;
	dj_buf cut = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	open_jobs(&c, t, "fx_ephys", "Spikes");
	/* a plain dj0 stack (405 bytes) */
	msg = job_col(&c, "error_message", SPK("mouse01", 1, "template"));
	same_error(&c, SPK("mouse01", 1, "template"), SPK("mouse02", 1, "manual"), msg);
	free(msg);
	close_jobs(&c);
	open_jobs(&c, t, "fx_ephys", "Recording");
	/* a zlib-wrapped stack and a message Python cut to 2047 characters: give djrun the
	 * uncut form (its first 2035 characters and more) */
	msg = job_col(&c, "error_message", REC("rat01", 1));
	n = strlen(msg);
	assert_true(n >= 2047 && !strcmp(msg + n - 12, "...truncated"));
	longer = malloc(n + 200);
	memcpy(longer, msg, n - 12);
	strcpy(longer + n - 12, ", raw/rat01/s1_part99.fxr and more and more and more and more");
	same_error(&c, REC("rat01", 1), REC("mouse03", 1), longer);
	assert_int_equal(dj_jobs_cut_message(&cut, longer, &err), 0);
	assert_string_equal(cut.ptr, msg);
	dj_buf_dispose(&cut);
	/* 2047 characters exactly are kept; non-ASCII counts as one character */
	memset(longer, 'x', n);
	memcpy(longer, "\xc3\xa9", 2);
	longer[2048] = '\0';
	assert_int_equal(dj_jobs_cut_message(&cut, longer, &err), 0);
	assert_int_equal(cut.len, 2048);
	dj_buf_dispose(&cut);
	free(longer);
	free(msg);
	close_jobs(&c);
}

/* --- batched forms for the coordinator ------------------------------------------------------ */

static void batched(void **state)
{
	target *t = need(state);
	dj_job_worker w = worker(t);
	dj_err err = DJ_ERR_INIT;
	jobs_ctx c;
	dj_keys ks, some;
	bool taken[16];
	double durations[16];
	size_t n = 0, released = 0, pending;
	dj_buf sql = DJ_BUF_INIT;
	open_jobs(&c, t, "fx_ephys", "Spikes");
	pending = (size_t)counts(&c).pending;
	/* every key_source key at once: only the pending, due ones are taken */
	dj_keys_init(&ks);
	if (dj_keysource_sql(&sql, &c.ks, NULL, &err) < 0 ||
	    dj_keys_query(&ks, t->db, sql.ptr, NULL, 0, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(ks.n, 9);
	if (dj_jobs_reserve_many(t->db, &c.jt, &ks, &w, taken, &n, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	assert_int_equal(n, pending);
	expect_counts(&c, 0, (int64_t)pending, counts(&c).success, counts(&c).error,
	              counts(&c).ignore);
	assert_int_equal(dj_jobs_reserve_many(t->db, &c.jt, &ks, &w, taken, &n, &err), 0);
	assert_int_equal(n, 0);
	/* give them back */
	assert_int_equal(dj_jobs_release_many(t->db, &c.jt, &ks, &w, &released, &err), 0);
	assert_int_equal(released, pending);
	expect_col(&c, "host", SPK("mouse02", 1, "manual"), "");
	assert_int_equal(dj_jobs_reserve_many(t->db, &c.jt, &ks, &w, taken, &n, &err), 0);
	assert_int_equal(n, pending);
	/* complete them: keep_completed with durations, then delete */
	dj_keys_init(&some);
	dj_keys_set_cols(&some, (const char *const *)c.jt.pk, NULL, c.jt.npk, &err);
	for (size_t i = 0; i < ks.n; i++) {
		if (!taken[i])
			continue;
		dj_keys_add_from(&some, &ks, i, &err);
		durations[some.n - 1] = some.n == 1 ? NAN : 0.25 * (double)some.n;
	}
	assert_int_equal(dj_jobs_complete_many(t->db, &c.jt, &some, true, durations, &err), 0);
	assert_int_equal(counts(&c).reserved, 0);
	{
		char where[200], want[32];
		snprintf(where, sizeof(where), "subject='%s' AND session_idx=%s AND method='%s'",
		         some.vals[3], some.vals[4], some.vals[5]);
		snprintf(want, sizeof(want), "%g", 0.5);
		expect_col(&c, "duration", where, want);
		expect_col(&c, "status", where, "success");
	}
	assert_int_equal(dj_jobs_complete_many(t->db, &c.jt, &some, false, NULL, &err), 0);
	assert_int_equal(counts(&c).pending + counts(&c).reserved, 0);
	dj_keys_dispose(&some);
	dj_keys_dispose(&ks);
	dj_buf_dispose(&sql);
	close_jobs(&c);
}

/* delay > 0: scheduled in the future, not reservable, not selected */
static void scheduled_later(void **state)
{
	target *t = need(state);
	dj_job_worker w = worker(t);
	dj_refresh_opts o = DJ_REFRESH_OPTS_INIT;
	dj_err err = DJ_ERR_INIT;
	dj_keys k;
	jobs_ctx c;
	open_jobs(&c, t, "fx_ephys", "Summary");
	k = keys_of(&c.jt, "mouse02,3,template");
	assert_int_equal(dj_jobs_complete(t->db, &c.jt, &k, 0, false, NAN, &err), 0);
	o.stale_timeout = 0;
	o.delay = 3600;
	assert_int_equal(refresh(&c, &o).added, 1);
	assert_false(reserve(&c, "mouse02,3,template", &w));
	dj_keys_dispose(&k);
	dj_keys_init(&k);
	assert_int_equal(dj_jobs_pending(t->db, &c.jt, &c.ks, NULL, -1, -1, &k, &err), 0);
	assert_int_equal(k.n, 0);
	dj_keys_dispose(&k);
	close_jobs(&c);
}

static void clear_errors_and_quirk(void **state)
{
	target *t = need(state);
	dj_refresh_opts o = DJ_REFRESH_OPTS_INIT;
	dj_err err = DJ_ERR_INIT;
	int64_t n = 0;
	jobs_ctx c;
	open_jobs(&c, t, "fx_ephys", "Recording");
	assert_int_equal(dj_jobs_clear_errors(t->db, &c.jt, &n, &err), 0);
	assert_int_equal(n, 3); /* Python's two, and the one djrun wrote */
	/* a restricted refresh removes old jobs outside the restriction (§6.3, §10.12):
	 * mouse01/2 (pending since generation) goes, mouse03/2 (added a moment ago) stays */
	o.restriction = "subject = 'rat01'";
	o.stale_timeout = 600; /* the fixture's rows are older; rows made by this run are not */
	{
		dj_refresh_result r = refresh(&c, &o);
		assert_int_equal(r.added, 1); /* rat01/1 lost its error row: pending again */
		assert_int_equal(r.removed, 1);
	}
	expect_col(&c, "status", REC("mouse01", 2), "");
	expect_col(&c, "status", REC("rat01", 2), "ignore"); /* ignore is never stale */
	close_jobs(&c);
}

/* --- declaration: the library's exact DDL (§6.2) --------------------------------------------
 */

static char *show_create(target *t, const char *schema, const char *table)
{
	dj_err err = DJ_ERR_INIT;
	dj_db_rows *r;
	char sql[300], *s;
	snprintf(sql, sizeof(sql), "SHOW CREATE TABLE `%s`.`%s`", schema, table);
	if (dj_db_query(t->db, sql, NULL, 0, &r, &err) < 0 || dj_db_rows_next(r, &err) != 1)
		fail_msg("%s: %s", sql, err.msg);
	s = strdup(dj_db_rows_text(r, 1));
	dj_db_rows_free(r);
	return s;
}

/* PostgreSQL: what the catalogs say about a table, with the schema name replaced by "S". */
static char *pg_describe(target *t, const char *schema, const char *table)
{
	dj_err err = DJ_ERR_INIT;
	dj_db_param p[4] = {dj_db_text(schema), dj_db_text(table), dj_db_text(schema),
	                    dj_db_text(table)};
	dj_db_rows *r;
	dj_buf out = DJ_BUF_INIT;
	const char *sql =
	    "SELECT c.column_name || ' ' || c.data_type || ' ' || c.udt_name || ' ' || "
	    "c.is_nullable || ' ' || coalesce(c.column_default, '-') || ' ' || "
	    "coalesce(c.character_maximum_length::text, '-') || ' ' || "
	    "coalesce(c.datetime_precision::text, '-') || ' ' || "
	    "coalesce(col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, "
	    "c.ordinal_position), '-') FROM information_schema.columns c "
	    "WHERE c.table_schema = ? AND c.table_name = ? "
	    "UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = ? AND tablename = ?";
	if (dj_db_query(t->db, sql, p, 4, &r, &err) < 0)
		fail_msg("%s", err.msg);
	while (dj_db_rows_next(r, &err) == 1)
		dj_buf_addf(&out, "%s\n", dj_db_rows_text(r, 0));
	dj_db_rows_free(r);
	return dj_buf_take(&out, NULL);
}

static char *replace(const char *s, const char *from, const char *to)
{
	dj_buf out = DJ_BUF_INIT;
	const char *at;
	while ((at = strstr(s, from))) {
		dj_buf_add(&out, s, (size_t)(at - s));
		dj_buf_adds(&out, to);
		s = at + strlen(from);
	}
	dj_buf_adds(&out, s);
	return dj_buf_take(&out, NULL);
}

static void same_ddl(target *t, const char *to, const char *table)
{
	char *want, *got, *w2;
	if (is_pg(t)) {
		char sql[300], *a, *b;
		want = pg_describe(t, "fx_ephys", table);
		got = pg_describe(t, to, table);
		snprintf(sql, sizeof(sql), "SELECT obj_description('fx_ephys.\"%s\"'::regclass)", table);
		a = query_text(t->db, sql, NULL, 0);
		snprintf(sql, sizeof(sql), "SELECT obj_description('%s.\"%s\"'::regclass)", to, table);
		b = query_text(t->db, sql, NULL, 0);
		w2 = replace(a, "fx_ephys", to);
		assert_string_equal(w2, b);
		free(w2);
		free(a);
		free(b);
	} else {
		want = show_create(t, "fx_ephys", table);
		got = show_create(t, to, table);
	}
	w2 = replace(want, "fx_ephys", to);
	if (strcmp(w2, got) != 0) {
		size_t i = 0, line = 0;
		while (w2[i] && w2[i] == got[i])
			i++;
		while (i > 0 && w2[i - 1] != '\n')
			i--;
		line = i;
		fail_msg("%s: %s differs from the line:\n--- python\n%.300s\n--- djrun\n%.300s",
		         t->backend, table, w2 + line, got + line);
	}
	free(w2);
	free(want);
	free(got);
}

static void declare_exact(void **state)
{
	target *t = need(state);
	static const char *const tables[] = {"Recording", "Spikes", "Summary"};
	char to[64], sql[300];
	dj_err err = DJ_ERR_INIT;
	snprintf(to, sizeof(to), "%s", djt_name());
	copy_schema(t, "fx_ephys", to);
	for (size_t i = 0; i < 3; i++) {
		jobs_ctx c;
		bool created = false;
		open_jobs(&c, t, to, tables[i]);
		assert_int_equal(dj_jobtable_declare(t->db, &c.jt, &created, &err), 0);
		assert_true(created);
		assert_int_equal(dj_jobtable_declare(t->db, &c.jt, &created, &err), 0);
		assert_false(created);
		same_ddl(t, to, c.jt.name);
		expect_counts(&c, 0, 0, 0, 0, 0);
		/* lineage rows as the library writes them for a jobs table */
		snprintf(sql, sizeof(sql),
		         "SELECT COUNT(*) FROM %s.%s~lineage%s WHERE table_name = '%s' AND lineage = "
		         "concat('%s.', table_name, '.', attribute_name)",
		         to, q(t), q(t), c.jt.name, to);
		assert_int_equal(query_int(t->db, sql, NULL, 0), (long long)c.jt.npk);
		close_jobs(&c);
	}
	if (!is_pg(t)) {
		char *a = show_create(t, "fx_ephys", "~lineage"), *b = show_create(t, to, "~lineage");
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	drop_schema(t, to);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(declare_exact),   BOTH(fixture_progress),       BOTH(respects_python),
	    BOTH(refresh_fixture), BOTH(refresh_repend),         BOTH(pending_order),
	    BOTH(one_key_states),  BOTH(error_bytes),            BOTH(batched),
	    BOTH(scheduled_later), BOTH(clear_errors_and_quirk),
	};
	return cmocka_run_group_tests_name("jobs", tests, group_setup, group_teardown);
}
