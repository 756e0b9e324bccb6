/*
 * jobs/jobtable.h without a database: the jobs-table DDL equals, character for character, the
 * statements database.md §6.2 records from the library for `djt_pipe`.`__analysis` (read from
 * ../shared/spec/database.md), the jobs key is the FK-derived part of the target's key, and
 * error messages are cut as §6.6 says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/jobtable.h"
#include "tests/unit/vectors.h"

typedef struct fx {
	dj_schema s;
	dj_table t;
	dj_attr attrs[4];
	size_t pk[4];
	dj_fkey fks[2];
	char *cols1[2], *ref1[2], *cols2[1], *ref2[1];
} fx;

/* __analysis(-> session(subject_id int32, session_idx int16), -> #method(method varchar(16)),
 * run int16 | result): FK-inherited columns carry no marker (§2.1). */
static void make(fx *f, dj_db_backend b, bool extra_key)
{
	static const struct {
		const char *name, *my, *pg, *comment;
	} cols[] = {
	    {"subject_id", "int", "integer", NULL},
	    {"session_idx", "smallint", "smallint", NULL},
	    {"method", "varchar(16)", "varchar(16)", NULL},
	    {"run", "smallint", "smallint", ":int16:"},
	};
	dj_err err = DJ_ERR_INIT;
	memset(f, 0, sizeof(*f));
	f->s.name = "djt_pipe";
	f->s.backend = b;
	f->t.schema = "djt_pipe";
	f->t.name = "__analysis";
	f->t.tier = DJ_TIER_COMPUTED;
	f->t.attrs = f->attrs;
	f->t.pk = f->pk;
	for (size_t i = 0; i < (extra_key ? 4u : 3u); i++) {
		dj_column_info ci = {cols[i].name, b == DJ_DB_MYSQL ? cols[i].my : cols[i].pg, NULL,
		                     cols[i].comment, false};
		assert_int_equal(dj_attr_init(&f->attrs[i], &ci, NULL, &err), 0);
		f->attrs[i].in_key = true;
		f->pk[f->t.npk++] = i;
		f->t.nattrs++;
	}
	f->cols1[0] = f->ref1[0] = "subject_id";
	f->cols1[1] = f->ref1[1] = "session_idx";
	f->cols2[0] = f->ref2[0] = "method";
	f->fks[0] = (dj_fkey){"fk1", "djt_pipe", "session", f->cols1, f->ref1, 2, true, false, true};
	f->fks[1] = (dj_fkey){"fk2", "djt_pipe", "#method", f->cols2, f->ref2, 1, true, false, true};
	f->t.fks = f->fks;
	f->t.nfks = 2;
}

static void unmake(fx *f)
{
	for (size_t i = 0; i < f->t.nattrs; i++)
		dj_attr_clear(&f->attrs[i]);
}

/* The code block after `marker` in the spec's "Exact DDL" passage. */
static char *spec_block(const char *marker)
{
	dj_buf spec = DJ_BUF_INIT;
	const char *at, *start, *end;
	char *out;
	dj_test_read(dj_test_shared_path("spec/database.md"), &spec);
	at = strstr(spec.ptr, "Exact DDL for T = `__analysis");
	assert_non_null(at);
	at = strstr(at, marker);
	assert_non_null(at);
	start = strstr(at, "```\n") + 4;
	end = strstr(start, "\n```");
	out = strndup(start, (size_t)(end - start));
	dj_buf_dispose(&spec);
	return out;
}

static void mysql_ddl(void **state)
{
	fx f;
	dj_jobtable jt;
	dj_buf ddl = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	size_t n = 0;
	char *want = spec_block("MySQL:");
	(void)state;
	make(&f, DJ_DB_MYSQL, false);
	assert_int_equal(dj_jobtable_init(&jt, &f.s, &f.t, &err), 0);
	assert_string_equal(jt.name, "~~analysis");
	assert_int_equal(dj_jobtable_ddl(&ddl, &n, &jt, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ddl.ptr, want);
	free(want);
	dj_buf_dispose(&ddl);
	dj_jobtable_dispose(&jt);
	unmake(&f);
}

static void postgres_ddl(void **state)
{
	fx f;
	dj_jobtable jt;
	dj_buf ddl = DJ_BUF_INIT, stmt = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	size_t n = 0, k = 0;
	char *want = spec_block("PostgreSQL (statements in this order):"), *save = NULL;
	const char *got;
	(void)state;
	make(&f, DJ_DB_POSTGRESQL, false);
	assert_int_equal(dj_jobtable_init(&jt, &f.s, &f.t, &err), 0);
	assert_int_equal(dj_jobtable_ddl(&ddl, &n, &jt, &err), 0);
	/* CREATE TYPE, CREATE TABLE, CREATE INDEX, COMMENT ON TABLE, one comment per marked column
	 * (method, and the 14 job columns) */
	assert_int_equal(n, 4 + 1 + 14);
	got = ddl.ptr;
	for (char *line = strtok_r(want, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == ' ')
			continue; /* the spec's annotations */
		dj_buf_addf(&stmt, "%s%s", stmt.len ? "\n" : "", line);
		if (!strncmp(stmt.ptr, "CREATE TABLE", 12) && strcmp(line, ")") != 0)
			continue;
		assert_string_equal(got, stmt.ptr);
		got += strlen(got) + 1;
		dj_buf_reset(&stmt);
		k++;
	}
	assert_int_equal(k, 7); /* the spec spells out the first seven */
	free(want);
	dj_buf_dispose(&ddl);
	dj_buf_dispose(&stmt);
	dj_jobtable_dispose(&jt);
	unmake(&f);
}

/* A native key attribute (`run`) is not part of the jobs key (§6.2). */
static void native_key_dropped(void **state)
{
	fx f;
	dj_jobtable jt;
	dj_err err = DJ_ERR_INIT;
	(void)state;
	make(&f, DJ_DB_MYSQL, true);
	assert_int_equal(dj_jobtable_init(&jt, &f.s, &f.t, &err), 0);
	assert_int_equal(jt.npk, 3);
	assert_string_equal(jt.pk[2], "method");
	dj_jobtable_dispose(&jt);
	f.t.nfks = 0; /* no primary parent: no jobs table */
	assert_int_equal(dj_jobtable_init(&jt, &f.s, &f.t, &err), DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "no FK-derived primary key attributes"));
	dj_jobtable_dispose(&jt);
	unmake(&f);
}

static void message_cut(void **state)
{
	dj_buf out = DJ_BUF_INIT, in = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	(void)state;
	/* 2048 characters, the first a two-byte one: 2035 kept + "...truncated" = 2047 */
	dj_buf_adds(&in, "\xc2\xb5");
	for (int i = 1; i < 2048; i++)
		dj_buf_addc(&in, 'a' + i % 26);
	assert_int_equal(dj_jobs_cut_message(&out, in.ptr, &err), 0);
	assert_int_equal(out.len, 2035 + 1 + 12);
	assert_string_equal(out.ptr + out.len - 12, "...truncated");
	assert_memory_equal(out.ptr, in.ptr, 2036);
	dj_buf_reset(&out);
	dj_buf_setlen(&in, in.len - 1); /* 2047 characters stay as they are */
	assert_int_equal(dj_jobs_cut_message(&out, in.ptr, &err), 0);
	assert_string_equal(out.ptr, in.ptr);
	dj_buf_reset(&out);
	assert_int_equal(dj_jobs_cut_message(&out, "bad \xff", &err), DJ_EFORMAT);
	dj_buf_dispose(&out);
	dj_buf_dispose(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(mysql_ddl),
	    cmocka_unit_test(postgres_ddl),
	    cmocka_unit_test(native_key_dropped),
	    cmocka_unit_test(message_cut),
	};
	return cmocka_run_group_tests_name("row_jobs", tests, NULL, NULL);
}
