/*
 * db/schema.h on the real fixture pipeline (written by datajoint-python), on both servers: the
 * dumps are restored under their own names fx_lab / fx_ephys (part of the stored paths) with the
 * server's client, as tests/integration/fixtures_restore.py does, and dropped at the end
 * (fx_ephys first). Every table of expected.json / expected-postgres.json is compared column by
 * column with what dj_schema_load reports; then tiers, masters and parts, jobs tables, inherited
 * types, foreign keys, lookups and the dependency order.
 */
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/schema.h"
#include "tests/unit/vectors.h"

typedef struct target {
	const char *backend;
	const char *var; /* DJ_TEST_MYSQL / DJ_TEST_PG */
	const char *dump, *expected;
	char host[128], port[16], user[128], pass[128], dbname[128];
	dj_db *db;
	json_t *exp;
	size_t ntables, ncolumns; /* compared, for the summary line */
} target;

static target mysql_target = {"mysql",
                              "DJ_TEST_MYSQL",
                              "fixtures/pipeline/mariadb.sql",
                              "fixtures/pipeline/expected.json",
                              "",
                              "",
                              "",
                              "",
                              "",
                              NULL,
                              NULL,
                              0,
                              0};
static target pg_target = {"postgresql",
                           "DJ_TEST_PG",
                           "fixtures/pipeline/postgres.sql",
                           "fixtures/pipeline/expected-postgres.json",
                           "",
                           "",
                           "",
                           "",
                           "",
                           NULL,
                           NULL,
                           0,
                           0};

static bool is_pg(const target *t)
{
	return !strcmp(t->backend, "postgresql");
}

static bool env(const target *t, const char *suffix, char *out, size_t n)
{
	char name[64];
	const char *v;
	snprintf(name, sizeof(name), "%s_%s", t->var, suffix);
	if (!(v = getenv(name)) || !*v)
		return false;
	snprintf(out, n, "%s", v);
	return true;
}

static void exec(dj_db *db, const char *sql)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_db_exec(db, sql, NULL, 0, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
}

static void drop_fixture(target *t)
{
	/* fx_ephys has foreign keys into fx_lab */
	if (is_pg(t)) {
		exec(t->db, "DROP SCHEMA IF EXISTS fx_ephys CASCADE");
		exec(t->db, "DROP SCHEMA IF EXISTS fx_lab CASCADE");
	} else {
		exec(t->db, "DROP DATABASE IF EXISTS fx_ephys");
		exec(t->db, "DROP DATABASE IF EXISTS fx_lab");
	}
}

/* Load the dump with the server's own client; the password travels in its environment. */
static void restore(const target *t)
{
	const char *dump = dj_test_shared_path(t->dump);
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open(dump, O_RDONLY), out = open("/dev/null", O_WRONLY);
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
			_exit(126);
		if (is_pg(t)) {
			setenv("PGPASSWORD", t->pass, 1);
			execlp("psql", "psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-h", t->host,
			       "-p", t->port, "-U", t->user, "-d",
			       t->dbname[0] ? t->dbname : "postgres", (char *)NULL);
		} else {
			setenv("MYSQL_PWD", t->pass, 1);
			execlp("mariadb", "mariadb", "--no-defaults", "-h", t->host, "-P", t->port,
			       "-u", t->user, (char *)NULL);
		}
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: restoring %s failed (status %d)", t->backend, dump, status);
}

static int setup(void **state)
{
	target *t = *state;
	dj_db_params p = {0};
	dj_err err = DJ_ERR_INIT;
	json_error_t jerr;
	if (!env(t, "HOST", t->host, sizeof(t->host)) ||
	    !env(t, "PORT", t->port, sizeof(t->port)) ||
	    !env(t, "USER", t->user, sizeof(t->user)) || !env(t, "PASS", t->pass, sizeof(t->pass)))
		return 0; /* need() skips, or fails under DJ_TEST_REQUIRE_SERVICES */
	if (is_pg(t))
		env(t, "DB", t->dbname, sizeof(t->dbname));
	p.backend = t->backend;
	p.host = t->host;
	p.port = atoi(t->port);
	p.user = t->user;
	p.password = t->pass;
	p.dbname = t->dbname[0] ? t->dbname : NULL;
	if (dj_db_open(&t->db, &p, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	if (!(t->exp = json_load_file(dj_test_shared_path(t->expected), 0, &jerr)))
		fail_msg("%s: %s", t->expected, jerr.text);
	drop_fixture(t);
	restore(t);
	return 0;
}

static int teardown(void **state)
{
	target *t = *state;
	if (t->db) {
		drop_fixture(t);
		dj_db_close(t->db);
	}
	json_decref(t->exp);
	t->db = NULL;
	t->exp = NULL;
	return 0;
}

static target *need(void **state)
{
	target *t = *state;
	if (!t->db) {
		if (getenv("DJ_TEST_REQUIRE_SERVICES"))
			fail_msg("%s_* variables are not set but DJ_TEST_REQUIRE_SERVICES is",
			         t->var);
		skip();
	}
	return t;
}

static dj_schema load(target *t, const char *name)
{
	dj_schema s;
	dj_err err = DJ_ERR_INIT;
	if (dj_schema_load(t->db, name, NULL, &s, &err) < 0)
		fail_msg("%s: %s", t->backend, err.msg);
	return s;
}

/* --- the fixture's records ---------------------------------------------------------------------
 */

/* The fixture writes the server's type text; the heading keeps the library's normalised form. */
static void normalise(const target *t, const char *in, char *out, size_t n)
{
	static const char *const ints[] = {"tinyint", "smallint", "mediumint", "bigint", "int"};
	unsigned p, s;
	snprintf(out, n, "%s", in);
	if (is_pg(t)) {
		if (!strncmp(in, "character varying(", 18))
			snprintf(out, n, "varchar(%s", in + 18);
		else if (!strncmp(in, "character(", 10))
			snprintf(out, n, "char(%s", in + 10);
		else if (sscanf(in, "numeric(%u,%u)", &p, &s) == 2)
			snprintf(out, n, s ? "decimal(%u,%u)" : "decimal(%u)", p, s);
		return;
	}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		size_t w = strlen(ints[i]);
		char *paren;
		if (strncmp(in, ints[i], w))
			continue;
		if ((paren = strchr(out, '(')) && strchr(paren, ')'))
			memmove(paren, strchr(paren, ')') + 1, strlen(strchr(paren, ')') + 1) + 1);
		return;
	}
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void same_str(const char *where, const char *what, const char *want, const char *got)
{
	if (want ? !got || strcmp(want, got) : got != NULL)
		fail_msg("%s: %s is '%s', the fixture says '%s'", where, what, got ? got : "(none)",
		         want ? want : "(none)");
}

static void check_column(target *t, const char *where, json_t *c, const dj_attr *a)
{
	const char *comment = jstr(c, "comment"), *type, *user;
	size_t tlen, ulen;
	char sql[256], w[512];
	bool marked = dj_comment_split(comment, &type, &tlen, &user, &ulen);
	snprintf(w, sizeof(w), "%s.%s", where, a->name);
	same_str(w, "name", jstr(c, "name"), a->name);
	if (json_is_true(json_object_get(c, "in_key")) != a->in_key ||
	    json_is_true(json_object_get(c, "nullable")) != a->nullable ||
	    json_is_true(json_object_get(c, "hidden")) != a->hidden)
		fail_msg("%s: in_key/nullable/hidden %d/%d/%d differ from the fixture", w,
		         a->in_key, a->nullable, a->hidden);
	normalise(t, jstr(c, "sql_type"), sql, sizeof(sql));
	same_str(w, "sql_type", sql, a->sql_type);
	same_str(w, "default", jstr(c, "default"), a->dflt);
	same_str(w, "codec", jstr(c, "codec"),
	         a->kind == DJ_ATTR_CODEC ? a->coltype.codec->name : NULL);
	same_str(w, "store", jstr(c, "store"),
	         a->kind == DJ_ATTR_CODEC && a->coltype.has_store ? a->coltype.store : NULL);
	if (strlen(a->comment) != ulen || strncmp(a->comment, user, ulen))
		fail_msg("%s: comment '%s', the fixture's column comment is '%s'", w, a->comment,
		         comment);
	/* the DataJoint type is the marker, wherever there is one */
	if (marked && (strlen(a->type) != tlen || strncmp(a->type, type, tlen)))
		fail_msg("%s: type '%s', marker '%.*s'", w, a->type, (int)tlen, type);
	if (marked != (a->marker != NULL))
		fail_msg("%s: marker %s, the fixture's comment is '%s'", w,
		         a->marker ? a->marker : "(none)", comment);
	t->ncolumns++;
}

static void check_table(target *t, const char *sname, const char *tname, json_t *exp,
                        const dj_table *tab)
{
	json_t *pk = json_object_get(exp, "primary_key"), *cols = json_object_get(exp, "columns");
	char where[300];
	snprintf(where, sizeof(where), "%s %s.%s", t->backend, sname, tname);
	if (!tab)
		fail_msg("%s: not found", where);
	same_str(where, "comment", jstr(exp, "comment"), tab->comment);
	if (json_array_size(pk) != tab->npk)
		fail_msg("%s: %zu key columns, the fixture has %zu", where, tab->npk,
		         json_array_size(pk));
	for (size_t i = 0; i < tab->npk; i++)
		same_str(where, "primary key column", json_string_value(json_array_get(pk, i)),
		         tab->attrs[tab->pk[i]].name);
	if (json_array_size(cols) != tab->nattrs)
		fail_msg("%s: %zu columns, the fixture has %zu", where, tab->nattrs,
		         json_array_size(cols));
	for (size_t i = 0; i < tab->nattrs; i++)
		check_column(t, where, json_array_get(cols, i), &tab->attrs[i]);
	t->ntables++;
}

static void fixture_headings(void **state)
{
	target *t = need(state);
	json_t *schemas = json_object_get(t->exp, "schemas"), *tables, *exp;
	const char *sname, *tname;
	json_object_foreach(schemas, sname, tables)
	{
		dj_schema s = load(t, sname);
		if (json_object_size(tables) != s.ntables)
			fail_msg("%s %s: %zu tables, the fixture has %zu", t->backend, sname,
			         s.ntables, json_object_size(tables));
		json_object_foreach(tables, tname, exp)
		    check_table(t, sname, tname, exp, dj_schema_table(&s, tname));
		dj_schema_free(&s);
	}
	print_message("%s: %zu tables, %zu columns match the fixture\n", t->backend, t->ntables,
	              t->ncolumns);
	assert_int_equal(t->ntables, 14);
}

/* --- derived facts -----------------------------------------------------------------------------
 */

static const dj_table *table(const dj_schema *s, const char *name)
{
	const dj_table *t = dj_schema_table(s, name);
	if (!t)
		fail_msg("%s: no table '%s'", s->name, name);
	return t;
}

static void tiers_and_parts(void **state)
{
	static const struct {
		const char *name, *cls;
		dj_tier tier;
		const char *master, *jobs;
	} want[] = {
	    {"#method", "Method", DJ_TIER_LOOKUP, NULL, NULL},
	    {"session", "Session", DJ_TIER_MANUAL, NULL, NULL},
	    {"raw_file", "RawFile", DJ_TIER_MANUAL, NULL, NULL},
	    {"_recording", "Recording", DJ_TIER_IMPORTED, NULL, "~~recording"},
	    {"_recording__channel", "Recording.Channel", DJ_TIER_PART, "_recording", NULL},
	    {"__spikes", "Spikes", DJ_TIER_COMPUTED, NULL, "~~spikes"},
	    {"__spikes__unit", "Spikes.Unit", DJ_TIER_PART, "__spikes", NULL},
	    {"__summary", "Summary", DJ_TIER_COMPUTED, NULL, "~~summary"},
	    {"~lineage", "~lineage", DJ_TIER_HIDDEN, NULL, NULL},
	    {"~~spikes", "~~spikes", DJ_TIER_JOBS, NULL, NULL},
	};
	target *t = need(state);
	dj_schema s = load(t, "fx_ephys");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const dj_table *x = table(&s, want[i].name);
		if (x->tier != want[i].tier || strcmp(x->class_name, want[i].cls))
			fail_msg("%s: %s %s, expected %s %s", x->name, dj_tier_name(x->tier),
			         x->class_name, dj_tier_name(want[i].tier), want[i].cls);
		same_str(x->name, "master", want[i].master, x->master ? x->master->name : NULL);
		same_str(x->name, "jobs table", want[i].jobs, x->jobs ? x->jobs->name : NULL);
	}
	assert_string_equal(table(&s, "~~recording")->target->name, "_recording");
	/* lookups as schema.get_table: class names, Master.Part, names without prefix */
	assert_string_equal(table(&s, "Spikes")->name, "__spikes");
	assert_string_equal(table(&s, "spikes")->name, "__spikes");
	assert_string_equal(table(&s, "Spikes.Unit")->name, "__spikes__unit");
	assert_string_equal(table(&s, "Recording.Channel")->name, "_recording__channel");
	assert_string_equal(table(&s, "RawFile")->name, "raw_file");
	assert_string_equal(table(&s, "Method")->name, "#method");
	assert_null(dj_schema_table(&s, "Nope"));
	assert_null(dj_schema_table(&s, "Spikes.Nope"));
	assert_null(dj_schema_table(&s, "lineage")); /* hidden tables only by their exact name */
	dj_schema_free(&s);
}

static const dj_fkey *fk_to(const dj_table *t, const char *parent)
{
	for (size_t i = 0; i < t->nfks; i++)
		if (!strcmp(t->fks[i].ref_table, parent))
			return &t->fks[i];
	fail_msg("%s: no foreign key to %s", t->name, parent);
	return NULL;
}

static void keys_and_types(void **state)
{
	target *t = need(state);
	dj_schema s = load(t, "fx_ephys");
	const dj_table *spikes = table(&s, "__spikes"), *unit = table(&s, "__spikes__unit");
	const dj_table *session = table(&s, "session"), *rec = table(&s, "_recording");
	const dj_fkey *f;
	/* Spikes: -> Recording, -> Method. Parents come in dependencies.py's order: MySQL's
	 * _ibfk_<n> is declaration order, PostgreSQL sorts by the <table>_<cols>_fkey names. */
	assert_int_equal(spikes->nfks, 2);
	assert_string_equal(spikes->fks[0].ref_table, is_pg(t) ? "#method" : "_recording");
	assert_string_equal(spikes->fks[1].ref_table, is_pg(t) ? "_recording" : "#method");
	f = fk_to(spikes, "_recording");
	assert_true(f->primary && !f->aliased && f->multi);
	assert_int_equal(f->ncols, 2);
	f = fk_to(rec, "session");
	assert_true(f->primary && !f->aliased && !f->multi);
	f = fk_to(unit, "__spikes");
	assert_true(f->primary && f->multi);
	/* a parent in another schema */
	f = fk_to(session, "subject");
	assert_string_equal(f->ref_schema, "fx_lab");
	assert_non_null(dj_schema_parent(&s, f));
	/* inherited key columns carry no marker: the type comes from the referenced column */
	const struct {
		const dj_table *t;
		const char *col, *type;
	} inh[] = {
	    {session, "subject", "varchar(16)"}, /* from fx_lab.subject */
	    {spikes, "session_idx", "int16"},    /* via _recording from session */
	    {spikes, "method", "varchar(16)"},   /* from #method */
	    {unit, "session_idx", "int16"},      /* via __spikes */
	    {rec, "subject", "varchar(16)"},
	};
	for (size_t i = 0; i < sizeof(inh) / sizeof(inh[0]); i++) {
		const dj_attr *a = dj_table_attr(inh[i].t, inh[i].col);
		assert_non_null(a);
		if (strcmp(a->type, inh[i].type) || !a->inherited || a->marker)
			fail_msg("%s.%s: type %s (inherited %d), expected inherited %s",
			         inh[i].t->name, a->name, a->type, a->inherited, inh[i].type);
	}
	/* every inherited type equals its parent column's */
	for (size_t i = 0; i < s.ntables; i++)
		for (size_t k = 0; k < s.tables[i].nfks; k++) {
			const dj_fkey *fk = &s.tables[i].fks[k];
			const dj_table *p = dj_schema_parent(&s, fk);
			assert_non_null(p);
			for (size_t c = 0; c < fk->ncols; c++) {
				const dj_attr *a = dj_table_attr(&s.tables[i], fk->cols[c]);
				const dj_attr *b = dj_table_attr(p, fk->ref_cols[c]);
				if (a->inherited && strcmp(a->type, b->type))
					fail_msg("%s.%s: %s, parent %s", s.tables[i].name, a->name,
					         a->type, b->type);
			}
		}
	/* jobs tables have no foreign keys: their session_idx stays native (spec §6.2) */
	const dj_attr *js = dj_table_attr(table(&s, "~~spikes"), "session_idx");
	assert_int_equal(js->kind, DJ_ATTR_NATIVE);
	assert_string_equal(js->type, "smallint");
	/* MariaDB json is longtext; the marker makes it json */
	dj_schema lab = load(t, "fx_lab");
	const dj_attr *extra = dj_table_attr(table(&lab, "subject"), "extra");
	assert_int_equal(extra->kind, DJ_ATTR_CORE);
	assert_int_equal(extra->coltype.core, DJ_CORE_JSON);
	assert_string_equal(extra->sql_type, is_pg(t) ? "jsonb" : "longtext");
	dj_schema_free(&lab);
	dj_schema_free(&s);
}

static void dependency_order(void **state)
{
	target *t = need(state);
	dj_schema s = load(t, "fx_ephys");
	size_t expect = 0;
	for (size_t i = 0; i < s.ntables; i++)
		expect += s.tables[i].name[0] != '~' && s.tables[i].npk > 0;
	assert_int_equal(s.norder, expect);
	assert_int_equal(s.norder, 8);
	for (size_t i = 0; i < s.norder; i++) {
		const dj_table *c = s.order[i];
		/* parents before children */
		for (size_t k = 0; k < c->nfks; k++) {
			const dj_table *p = dj_schema_parent(&s, &c->fks[k]);
			size_t j;
			if (strcmp(c->fks[k].ref_schema, "fx_ephys"))
				continue;
			for (j = 0; j < i && s.order[j] != p; j++)
				;
			if (j == i)
				fail_msg("%s comes before its parent %s", c->name, p->name);
		}
		/* a part right after its master (or after the master's other parts) */
		if (c->master) {
			size_t j = i;
			while (j > 0 && s.order[j - 1] != c->master) {
				if (s.order[j - 1]->master != c->master)
					fail_msg("%s is not right after its master %s", c->name,
					         c->master->name);
				j--;
			}
		}
	}
	dj_schema_free(&s);
	dj_schema lab = load(t, "fx_lab");
	assert_int_equal(lab.norder, 1);
	assert_string_equal(lab.order[0]->name, "subject");
	dj_schema_free(&lab);
}

static void missing_schema(void **state)
{
	target *t = need(state);
	dj_schema s;
	dj_err err = DJ_ERR_INIT;
	char name[64];
	snprintf(name, sizeof(name), "djt_%ld_missing", (long)getpid());
	assert_int_equal(dj_schema_load(t->db, name, NULL, &s, &err), DJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, name));
	assert_int_equal(s.ntables, 0);
	dj_schema_free(&s);
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate(fn, &mysql_target), cmocka_unit_test_prestate(fn, &pg_target)

static int group_setup(void **state)
{
	(void)state;
	return setup((void *[]){&mysql_target}) || setup((void *[]){&pg_target});
}

static int group_teardown(void **state)
{
	(void)state;
	return teardown((void *[]){&mysql_target}) || teardown((void *[]){&pg_target});
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(fixture_headings), BOTH(tiers_and_parts), BOTH(keys_and_types),
	    BOTH(dependency_order), BOTH(missing_schema),
	};
	return cmocka_run_group_tests_name("db_schema", tests, group_setup, group_teardown);
}
