/* runner/config: datajoint.json + environment + secrets as datajoint-python reads them (§8). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "base/buf.h"
#include "runner/config.h"
#include "tests/unit/vectors.h"

/* ---- helpers: a project tree per test, a fake environment ---- */

static void mkdir_p(const char *path)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0700);
			*p = '/';
		}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		fail_msg("mkdir %s", tmp);
}

/* "<tmp>/<name>": a fresh directory with a .git, so the upward search stops there. */
static const char *project(const char *name)
{
	static char pool[16][1024]; /* a test holds a few project paths at once */
	static unsigned next;
	char *dir = pool[next++ % 16], git[1100];
	snprintf(dir, sizeof(pool[0]), "%s/%s", dj_test_tmpdir(), name);
	snprintf(git, sizeof(git), "%s/.git", dir);
	mkdir_p(git);
	return dir;
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[1400];
	dj_err e = DJ_ERR_INIT;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (dj_file_write(path, text, strlen(text), &e) < 0)
		fail_msg("%s", e.msg);
}

static const char *no_system_secrets(void)
{
	static char dir[1100];
	snprintf(dir, sizeof(dir), "%s/no-system-secrets", dj_test_tmpdir());
	return dir;
}

/* Load with a fake environment, searching from `start`; never looks at /run/secrets. */
static int load(dj_config *c, const char *const *env, const char *start, dj_err *e)
{
	dj_config_opts o = {env, start, NULL, no_system_secrets()};
	dj_err_clear(e);
	return dj_config_load(c, &o, e);
}

static void load_ok(dj_config *c, const char *const *env, const char *start)
{
	dj_err e = DJ_ERR_INIT;
	if (load(c, env, start, &e) < 0)
		fail_msg("load: %s", e.msg);
}

/* A project whose datajoint.json is `json`; returns its directory. */
static const char *with_file(const char *name, const char *json)
{
	const char *dir = project(name);
	put_file(dir, "datajoint.json", json);
	return dir;
}

static void load_fails(const char *const *env, const char *start, int code, const char *needle)
{
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	assert_int_equal(load(&c, env, start, &e), code);
	if (needle && !strstr(e.msg, needle))
		fail_msg("message '%s' lacks '%s'", e.msg, needle);
	assert_null(c.database.host); /* left empty */
	dj_config_free(&c);
}

/* ---- defaults and environment (§8.1 steps 1-2, §8.5) ---- */

static void defaults(void **state)
{
	(void)state;
	dj_config c;
	load_ok(&c, NULL, project("defaults"));
	assert_string_equal(c.database.host, "localhost");
	assert_int_equal(c.database.port, 3306);
	assert_int_equal(c.database.backend, DJ_BACKEND_MYSQL);
	assert_null(c.database.user);
	assert_null(c.database.password);
	assert_null(c.database.name);
	assert_int_equal(c.database.use_tls, DJ_TLS_AUTO);
	assert_true(c.database.create_tables);
	assert_true(c.database.reconnect);
	assert_string_equal(c.database.database_prefix, "");
	assert_string_equal(c.loglevel, "INFO");
	assert_true(c.safemode);
	assert_string_equal(c.download_path, ".");
	assert_null(c.query_cache);
	assert_false(c.thread_safe);
	assert_int_equal(c.nstores, 0);
	assert_null(c.config_path);
	assert_null(c.secrets_dir);
	assert_true(json_is_object(c.raw));
	dj_config_free(&c);
	dj_config_free(&c); /* twice is safe */
}

static void env_values(void **state)
{
	(void)state;
	const char *env[] = {"DJ_HOST=db.lab:3310",
	                     "DJ_USER=alice",
	                     "DJ_PASS=pw",
	                     "DJ_PORT= 3307 ",
	                     "DJ_USE_TLS=On",
	                     "DJ_SAFEMODE=no",
	                     "DJ_LOG_LEVEL=DEBUG",
	                     "DJ_DOWNLOAD_PATH=/dl",
	                     "DJ_QUERY_CACHE=/qc",
	                     "DJ_DATABASE_NAME=lab",
	                     "DJ_DATABASE_PREFIX=p_",
	                     "DJ_CREATE_TABLES=0",
	                     "DJ_THREAD_SAFE=YES",
	                     "DJ_RECONNECT=f",
	                     "PATH=/bin",
	                     NULL};
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	char *host;
	int port;
	load_ok(&c, env, project("env"));
	assert_string_equal(c.database.host, "db.lab:3310");
	assert_string_equal(c.database.user, "alice");
	assert_string_equal(c.database.password, "pw");
	assert_int_equal(c.database.port, 3307);
	assert_int_equal(c.database.use_tls, DJ_TLS_ON);
	assert_false(c.safemode);
	assert_string_equal(c.loglevel, "DEBUG");
	assert_string_equal(c.download_path, "/dl");
	assert_string_equal(c.query_cache, "/qc");
	assert_string_equal(c.database.name, "lab");
	assert_string_equal(c.database.database_prefix, "p_");
	assert_false(c.database.create_tables);
	assert_false(c.database.reconnect);
	assert_true(c.thread_safe);
	/* the port in host:port wins over database.port (connection.py) */
	assert_int_equal(dj_config_db_address(&c, &host, &port, &e), 0);
	assert_string_equal(host, "db.lab");
	assert_int_equal(port, 3310);
	free(host);
	dj_config_free(&c);
}

static void env_bad_values(void **state)
{
	(void)state;
	const char *port[] = {"DJ_PORT=abc", NULL};
	const char *tls[] = {"DJ_USE_TLS=", NULL};
	const char *backend[] = {"DJ_BACKEND=PostgreSQL", NULL};
	const char *level[] = {"DJ_LOG_LEVEL=debug", NULL};
	const char *safemode[] = {"DJ_SAFEMODE=maybe", NULL};
	const char *dir = project("envbad");
	load_fails(port, dir, DJ_EFORMAT, "DJ_PORT");
	load_fails(tls, dir, DJ_EFORMAT, "DJ_USE_TLS");
	load_fails(backend, dir, DJ_EFORMAT, "DJ_BACKEND");
	load_fails(level, dir, DJ_EFORMAT, "DJ_LOG_LEVEL");
	load_fails(safemode, dir, DJ_EFORMAT, "DJ_SAFEMODE");
}

static void thread_safe_is_not_pydantic(void **state)
{
	(void)state;
	/* instance.py: only true/1/yes, exact variable name; "on" is false, not an error */
	const char *on[] = {"DJ_THREAD_SAFE=on", NULL};
	const char *lower[] = {"dj_thread_safe=true", NULL};
	dj_config c;
	load_ok(&c, on, project("tsafe"));
	assert_false(c.thread_safe);
	dj_config_free(&c);
	load_ok(&c, lower, project("tsafe"));
	assert_false(c.thread_safe);
	dj_config_free(&c);
}

static void env_names_case_insensitive(void **state)
{
	(void)state;
	/* pydantic reads dj_host; the file's skip test reads os.environ["DJ_HOST"] exactly */
	const char *env[] = {"dj_host=lower", "Dj_User=bob", NULL};
	const char *dir = with_file("envci", "{\"database\": {\"user\": \"fileuser\"}}");
	dj_config c;
	const char *dup[] = {"DJ_HOST=first", "dj_host=second", NULL};
	load_ok(&c, env, project("envci-nofile"));
	assert_string_equal(c.database.host, "lower");
	dj_config_free(&c);
	load_ok(&c, dup, project("envci-nofile")); /* one lower-cased dict: the last one wins */
	assert_string_equal(c.database.host, "second");
	dj_config_free(&c);
	load_ok(&c, env, dir);
	assert_string_equal(c.database.user, "fileuser");
	dj_config_free(&c);
}

/* ---- §8.1 QUIRK (b): the postgresql port default ---- */

static void postgres_port_quirk(void **state)
{
	(void)state;
	const char *pg[] = {"DJ_BACKEND=postgresql", NULL};
	const char *pg_port[] = {"DJ_BACKEND=postgresql", "DJ_PORT=6000", NULL};
	const char *file_pg = with_file("pgfile", "{\"database\": {\"backend\": \"postgresql\"}}");
	const char *null_port =
	    with_file("pgnull", "{\"database.backend\": \"postgresql\", \"database.port\": null}");
	dj_config c;
	load_ok(&c, pg, project("pgenv"));
	assert_int_equal(c.database.backend, DJ_BACKEND_POSTGRESQL);
	assert_int_equal(c.database.port, 5432);
	dj_config_free(&c);
	load_ok(&c, pg_port, project("pgenv"));
	assert_int_equal(c.database.port, 6000);
	dj_config_free(&c);
	/* a backend set only in datajoint.json leaves the port at 3306 */
	load_ok(&c, NULL, file_pg);
	assert_int_equal(c.database.backend, DJ_BACKEND_POSTGRESQL);
	assert_int_equal(c.database.port, 3306);
	dj_config_free(&c);
	/* an explicit null port re-derives it from the backend known at that point */
	load_ok(&c, NULL, null_port);
	assert_int_equal(c.database.port, 5432);
	dj_config_free(&c);
}

/* ---- §8.1 QUIRK (a): which env vars the file may override ---- */

static void file_vs_env_per_key(void **state)
{
	(void)state;
	const char *env[] = {"DJ_HOST=envhost",    "DJ_USE_TLS=true",       "DJ_SAFEMODE=true",
	                     "DJ_LOG_LEVEL=ERROR", "DJ_DOWNLOAD_PATH=/env", "DJ_QUERY_CACHE=/envq",
	                     "DJ_PASS=envpw",      "DJ_CREATE_TABLES=true", NULL};
	const char *dir =
	    with_file("perkey", "{\"database\": {\"host\": \"filehost\", \"use_tls\": "
	                        "false, \"password\": \"filepw\", \"create_tables\": "
	                        "false}, \"safemode\": false, \"loglevel\": \"WARNING\", "
	                        "\"download_path\": \"/file\", \"query_cache\": null}");
	dj_config c;
	load_ok(&c, env, dir);
	assert_string_equal(c.database.host, "envhost"); /* in the table: env wins */
	assert_string_equal(c.database.password, "envpw");
	assert_true(c.database.create_tables);
	assert_string_equal(c.loglevel, "ERROR");
	assert_int_equal(c.database.use_tls, DJ_TLS_OFF); /* not in the table: file wins */
	assert_false(c.safemode);
	assert_string_equal(c.download_path, "/file");
	assert_null(c.query_cache);
	dj_config_free(&c);
}

static void empty_env_var_quirks(void **state)
{
	(void)state;
	/* an empty DJ_HOST does not block the file; an empty DJ_USER is a value ("" not None),
	 * so the secrets file cannot fill it */
	const char *env[] = {"DJ_HOST=", "DJ_USER=", NULL};
	const char *dir = with_file("emptyenv", "{\"database.host\": \"filehost\"}");
	char sec[1200];
	dj_config c;
	snprintf(sec, sizeof(sec), "%s/.secrets", dir);
	mkdir_p(sec);
	put_file(sec, "database.user", "secretuser\n");
	load_ok(&c, env, dir);
	assert_string_equal(c.database.host, "filehost");
	assert_string_equal(c.database.user, "");
	dj_config_free(&c);
}

/* ---- §8.2: datajoint.json shape ---- */

static void nested_and_flat_mixed(void **state)
{
	(void)state;
	const char *a =
	    with_file("mixed-a", "{\"database\": {\"host\": \"nested\", \"port\": 3400, "
	                         "\"unknown\": 1}, \"database.host\": \"flat\", "
	                         "\"database.user\": \"u\", \"whatever\": {\"x\": 1}, "
	                         "\"a.b.c\": 1, \"display\": {\"limit\": 3}}");
	const char *b = with_file("mixed-b", "{\"database.host\": \"flat\", \"database\": "
	                                     "{\"host\": \"nested\", \"port\": \"3401\"}}");
	dj_config c;
	load_ok(&c, NULL, a);
	assert_string_equal(c.database.host, "flat"); /* later key wins */
	assert_int_equal(c.database.port, 3400);
	assert_string_equal(c.database.user, "u");
	dj_config_free(&c);
	load_ok(&c, NULL, b);
	assert_string_equal(c.database.host, "nested");
	assert_int_equal(c.database.port, 3401); /* pydantic lax: "3401" is an int */
	dj_config_free(&c);
}

static void flat_store_keys(void **state)
{
	(void)state;
	/* three-part keys set one attribute; "stores": {...} replaces a whole store; the two-part
	 * "stores.default" is silently ignored (§8.2 QUIRK) */
	const char *dir = with_file(
	    "flatstores", "{\"stores.early.token_length\": 12,"
	                  " \"stores\": {\"early\": {\"protocol\": \"file\", \"location\": \"/x\"},"
	                  "             \"late\": {\"protocol\": \"file\", \"location\": \"/y\"}},"
	                  " \"stores.late.token_length\": 12, \"stores.default\": \"late\"}");
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	const dj_store_spec *s;
	load_ok(&c, NULL, dir);
	assert_int_equal(c.nstores, 2);
	assert_int_equal(dj_config_store(&c, "early", &s, &e), 0);
	assert_int_equal(s->token_length, 8);
	assert_int_equal(dj_config_store(&c, "late", &s, &e), 0);
	assert_int_equal(s->token_length, 12);
	assert_null(c.store_default);
	assert_int_equal(dj_config_store(&c, NULL, &s, &e), DJ_ENOTFOUND);
	assert_non_null(strstr(e.msg, "stores.default is not configured"));
	dj_config_free(&c);
}

static void bad_json_names_file_and_line(void **state)
{
	(void)state;
	const char *dir =
	    with_file("badjson", "{\n  \"stores\": {\n    \"secret_key\": SeCrEtXyZ\n}}");
	char want[1200];
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	snprintf(want, sizeof(want), "%s/datajoint.json:3:", dir);
	assert_int_equal(load(&c, NULL, dir, &e), DJ_EFORMAT);
	assert_non_null(strstr(e.msg, want));
	assert_null(strstr(e.msg, "SeCrEtXyZ")); /* jansson's "near '...'" is cut */
	dj_config_free(&c);
	load_fails(NULL, with_file("arrayjson", "[1, 2]"), DJ_EFORMAT, "expected a JSON object");
}

static void bad_values_in_file(void **state)
{
	(void)state;
	load_fails(NULL, with_file("badport", "{\"database\": {\"port\": \"abc\"}}"), DJ_EFORMAT,
	           "database.port");
	load_fails(NULL, with_file("badhost", "{\"database.host\": 5}"), DJ_EFORMAT,
	           "datajoint.json: database.host: expected a string");
	load_fails(NULL, with_file("baddb", "{\"database\": \"x\"}"), DJ_EFORMAT, "database");
	load_fails(NULL, with_file("badjobs", "{\"jobs\": 3}"), DJ_EFORMAT, "jobs");
	load_fails(NULL, with_file("badstores", "{\"stores\": []}"), DJ_EFORMAT, "stores");
	load_fails(NULL, with_file("badlevel", "{\"loglevel\": \"info\"}"), DJ_EFORMAT, "loglevel");
}

/* ---- §8.1 step 3: discovery ---- */

static void discovery_walks_up(void **state)
{
	(void)state;
	const char *dir = with_file("walk", "{\"database.host\": \"found\"}");
	char start[1200], want[1200], hg[1200];
	dj_config c;
	snprintf(start, sizeof(start), "%s/a/b/c", dir);
	mkdir_p(start);
	load_ok(&c, NULL, start);
	assert_string_equal(c.database.host, "found");
	snprintf(want, sizeof(want), "%s/datajoint.json", dir);
	assert_string_equal(c.config_path, want);
	dj_config_free(&c);
	/* a .hg (or .git) below the file stops the search */
	snprintf(hg, sizeof(hg), "%s/a/.hg", dir);
	mkdir_p(hg);
	load_ok(&c, NULL, start);
	assert_string_equal(c.database.host, "localhost");
	assert_null(c.config_path);
	dj_config_free(&c);
}

static void discovery_skips_non_files(void **state)
{
	(void)state;
	const char *dir = with_file("nonfile", "{\"database.host\": \"top\"}");
	char sub[1200];
	dj_config c;
	snprintf(sub, sizeof(sub), "%s/sub/datajoint.json", dir); /* a directory, not a file */
	mkdir_p(sub);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	load_ok(&c, NULL, sub);
	assert_string_equal(c.database.host, "top");
	dj_config_free(&c);
}

static void explicit_config_file(void **state)
{
	(void)state;
	const char *found = with_file("explicit-found", "{\"database.host\": \"found\"}");
	const char *other = with_file("explicit-other", "{\"database.host\": \"other\"}");
	const char *ign[] = {"DJ_IGNORE_CONFIG_FILE=true", NULL};
	char path[1200], missing[1200];
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	dj_config_opts o = {ign, found, path, no_system_secrets()};
	snprintf(path, sizeof(path), "%s/datajoint.json", other);
	assert_int_equal(dj_config_load(&c, &o, &e), 0);
	assert_string_equal(c.database.host, "other");
	dj_config_free(&c);
	snprintf(missing, sizeof(missing), "%s/nope.json", other);
	o.config_file = missing;
	assert_int_equal(dj_config_load(&c, &o, &e), DJ_ENOTFOUND);
	assert_non_null(strstr(e.msg, "nope.json"));
	dj_config_free(&c);
}

/* ---- §8.1 steps 4-5: DJ_STORES and secrets ---- */

static void dj_stores_replaces(void **state)
{
	(void)state;
	const char *dir = with_file("djstores", "{\"stores\": {\"default\": \"main\", \"main\": "
	                                        "{\"protocol\": \"file\", \"location\": \"/m\"}}}");
	const char *env[] = {"DJ_STORES={\"other\": {\"protocol\": \"gcs\", \"bucket\": \"b\", "
	                     "\"location\": \"l\"}}",
	                     "DJ_IGNORE_CONFIG_FILE=1", NULL};
	const char *env2[] = {env[0], NULL};
	const char *bad[] = {"DJ_STORES={nope", NULL};
	const char *arr[] = {"DJ_STORES=[]", NULL};
	const char *empty[] = {"DJ_STORES=", NULL};
	dj_config c;
	load_ok(&c, env2, dir);
	assert_int_equal(c.nstores, 1);
	assert_string_equal(c.stores[0].name, "other");
	assert_null(c.store_default);
	dj_config_free(&c);
	load_ok(&c, env, dir); /* applied even when the file is ignored */
	assert_int_equal(c.nstores, 1);
	assert_null(c.config_path);
	dj_config_free(&c);
	load_ok(&c, empty, dir); /* empty = unset */
	assert_string_equal(c.store_default, "main");
	dj_config_free(&c);
	load_fails(bad, dir, DJ_EFORMAT, "DJ_STORES");
	load_fails(arr, dir, DJ_EFORMAT, "DJ_STORES: expected a JSON object");
}

static const char *secrets_project(const char *name)
{
	const char *dir =
	    with_file(name, "{\"database\": {\"host\": \"h\"}, \"stores\": {\"main\": "
	                    "{\"protocol\": \"s3\", \"endpoint\": \"e\", \"bucket\": "
	                    "\"b\", \"location\": \"l\", \"access_key\": \"filekey\"}}}");
	char sec[1200];
	snprintf(sec, sizeof(sec), "%s/.secrets", dir);
	mkdir_p(sec);
	put_file(sec, "database.user", "  secretuser\n");
	put_file(sec, "database.password", "secretpw\n");
	put_file(sec, "stores.main.access_key", "secretkey");
	put_file(sec, "stores.main.secret_key", "\tsecretsecret\n");
	put_file(sec, "stores.ghost.secret_key", "x");      /* a store only secrets name */
	put_file(sec, ".stores.main.stage", "hidden");      /* dot files are skipped */
	put_file(sec, "stores.main.stage.x", "four parts"); /* not three parts */
	put_file(sec, "datajoint.json", "{\"database.host\": \"no\"}"); /* never read */
	return dir;
}

static void secrets_fill_gaps_only(void **state)
{
	(void)state;
	const char *dir = secrets_project("secrets");
	const char *env[] = {"DJ_PASS=envpw", NULL};
	const dj_store_spec *s;
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	load_ok(&c, env, dir);
	assert_string_equal(c.database.host, "h");
	assert_string_equal(c.database.user, "secretuser"); /* stripped */
	assert_string_equal(c.database.password, "envpw");  /* env beats secrets */
	assert_int_equal(dj_config_store(&c, "main", &s, &e), 0);
	assert_string_equal(s->access_key, "filekey"); /* the file beats secrets */
	assert_string_equal(s->secret_key, "secretsecret");
	assert_null(s->stage);
	assert_int_equal(c.nstores, 1); /* "ghost" exists only in secrets: left out */
	assert_non_null(strstr(c.secrets_dir, "/.secrets"));
	dj_config_free(&c);
}

static void secrets_skipped_when_ignored(void **state)
{
	(void)state;
	const char *dir = secrets_project("secrets-ign");
	const char *ign[] = {"DJ_IGNORE_CONFIG_FILE=TRUE", NULL};
	const char *file_ign = with_file("secrets-fileign", "{\"ignore_config_file\": true}");
	char sec[1200];
	dj_config c;
	load_ok(&c, ign, dir);
	assert_null(c.database.user);
	assert_null(c.secrets_dir);
	assert_string_equal(c.database.host, "localhost");
	dj_config_free(&c);
	/* the file itself may set ignore_config_file: settings.py re-tests it before secrets */
	snprintf(sec, sizeof(sec), "%s/.secrets", file_ign);
	mkdir_p(sec);
	put_file(sec, "database.user", "u");
	load_ok(&c, NULL, file_ign);
	assert_null(c.database.user);
	dj_config_free(&c);
}

static void system_secrets_dir(void **state)
{
	(void)state;
	const char *dir = project("syssecrets");
	char sys[1200];
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	dj_config_opts o = {NULL, dir, NULL, sys};
	snprintf(sys, sizeof(sys), "%s/run-secrets", dir);
	mkdir_p(sys);
	put_file(sys, "database.password", "syspw");
	assert_int_equal(dj_config_load(&c, &o, &e), 0);
	assert_string_equal(c.database.password, "syspw");
	assert_string_equal(c.secrets_dir, sys);
	dj_config_free(&c);
}

/* ---- §8.3: store specs ---- */

static void fixture_pipeline(void **state)
{
	(void)state;
	const char *dir = project("fixture");
	const char *env[] = {"DJ_JOBS_ADD_JOB_METADATA=false", "DJ_JOBS_KEEP_COMPLETED=yes", NULL};
	dj_buf text = DJ_BUF_INIT, out = DJ_BUF_INIT;
	char root[1200], sub[1300];
	const dj_store_spec *s;
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	bool b;
	long long n;
	dj_test_read(dj_test_shared_path("fixtures/pipeline/datajoint.json"), &text);
	snprintf(root, sizeof(root), "%s/store", dir);
	for (const char *p = text.ptr; *p; p++) {
		if (!strncmp(p, "${STORE_ROOT}", 13)) {
			dj_buf_adds(&out, root);
			p += 12;
		} else
			dj_buf_addc(&out, *p);
	}
	put_file(dir, "datajoint.json", out.ptr);
	load_ok(&c, env, dir);
	assert_int_equal(c.nstores, 2);
	assert_string_equal(c.store_default, "main");
	assert_string_equal(c.store_filepath_default, "main");
	assert_int_equal(dj_config_store(&c, NULL, &s, &e), 0);
	assert_string_equal(s->name, "main");
	assert_int_equal(dj_config_store(&c, "", &s, &e), 0);
	assert_string_equal(s->name, "main");
	assert_string_equal(s->protocol, "file");
	snprintf(sub, sizeof(sub), "%s/main", root);
	assert_string_equal(s->location, sub);
	assert_int_equal(s->nsubfolding, 0);
	assert_null(s->subfolding);
	assert_int_equal(s->token_length, 8);
	assert_string_equal(s->hash_prefix, "_hash");
	assert_string_equal(s->schema_prefix, "_schema");
	assert_null(s->filepath_prefix);
	assert_null(s->partition_pattern);
	/* the location does not exist yet; the check is separate from loading */
	assert_int_equal(dj_config_check_store(s, &e), DJ_ENOTFOUND);
	assert_non_null(strstr(e.msg, "'main'"));
	mkdir_p(sub);
	dj_err_clear(&e);
	assert_int_equal(dj_config_check_store(s, &e), 0);
	assert_int_equal(dj_config_filepath_store(&c, NULL, &s, &e), 0);
	assert_string_equal(s->name, "main");
	assert_int_equal(dj_config_store(&c, "deep", &s, &e), 0);
	assert_int_equal(s->nsubfolding, 2);
	assert_int_equal(s->subfolding[0], 2);
	assert_int_equal(s->subfolding[1], 2);
	/* jobs.* is read through the getters: the file beats DJ_JOBS_* (database.md §6.11) */
	assert_int_equal(dj_config_get_bool(&c, "jobs.add_job_metadata", "DJ_JOBS_ADD_JOB_METADATA",
	                                    false, &b, &e),
	                 0);
	assert_true(b);
	assert_int_equal(
	    dj_config_get_bool(&c, "jobs.keep_completed", "DJ_JOBS_KEEP_COMPLETED", false, &b, &e),
	    0);
	assert_true(b);
	assert_int_equal(
	    dj_config_get_int(&c, "jobs.stale_timeout", "DJ_JOBS_STALE_TIMEOUT", 3600, &n, &e), 0);
	assert_int_equal(n, 3600);
	assert_int_equal(dj_config_store(&c, "nope", &s, &e), DJ_ENOTFOUND);
	dj_buf_dispose(&text);
	dj_buf_dispose(&out);
	dj_config_free(&c);
}

/* Load {"stores": {"s": <spec>}}; returns the load status, message in `e`. */
static int load_store(const char *spec, dj_config *c, dj_err *e)
{
	static int n;
	char name[64], json[2048];
	snprintf(name, sizeof(name), "store-%d", n++);
	snprintf(json, sizeof(json), "{\"stores\": {\"s\": %s}}", spec);
	return load(c, NULL, with_file(name, json), e);
}

static void store_fails(const char *spec, int code, const char *needle)
{
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	assert_int_equal(load_store(spec, &c, &e), code);
	if (!strstr(e.msg, needle))
		fail_msg("%s: message '%s' lacks '%s'", spec, e.msg, needle);
	dj_config_free(&c);
}

static void store_key_rules(void **state)
{
	(void)state;
	store_fails("{\"protocol\": \"file\", \"location\": \"/x\", \"project_name\": \"p\", "
	            "\"region\": \"r\"}",
	            DJ_EUSAGE, "Invalid key(s) in config.stores[\"s\"]: project_name, region");
	store_fails("{\"protocol\": \"file\", \"location\": \"/x\", \"bucket\": \"b\"}", DJ_EUSAGE,
	            "Invalid key(s) in config.stores[\"s\"]: bucket");
	store_fails("{\"protocol\": \"s3\", \"location\": \"l\"}", DJ_EUSAGE,
	            "config.stores[\"s\"] is missing: endpoint, bucket");
	store_fails("{\"protocol\": \"azure\", \"location\": \"l\"}", DJ_EUSAGE,
	            "is missing: container");
	store_fails("{\"protocol\": \"gcs\", \"bucket\": \"b\"}", DJ_EUSAGE,
	            "is missing: location");
	store_fails("{\"location\": \"l\"}", DJ_EUSAGE, "is missing: protocol");
	store_fails("{\"protocol\": \"ftp\", \"location\": \"l\"}", DJ_EUSAGE, "protocol \"ftp\"");
	store_fails("\"main\"", DJ_EUSAGE, "must be an object");
	store_fails("{\"protocol\": \"file\", \"location\": \"/x\", \"token_length\": \"9\"}",
	            DJ_EUSAGE, "token_length");
	store_fails("{\"protocol\": \"file\", \"location\": \"/x\", \"subfolding\": [2, \"2\"]}",
	            DJ_EUSAGE, "subfolding");
	store_fails("{\"protocol\": \"file\", \"location\": null}", DJ_EUSAGE, "location");
}

static void store_defaults_and_options(void **state)
{
	(void)state;
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	assert_int_equal(
	    load_store("{\"protocol\": \"S3\", \"endpoint\": \"minio:9000\", "
	               "\"bucket\": \"b\", \"location\": \"\", \"token_length\": 2, "
	               "\"access_key\": \"\", \"secret_key\": \"\", \"subfolding\": [], "
	               "\"stage\": \"st\", \"proxy_server\": null}",
	               &c, &e),
	    0);
	assert_string_equal(c.stores[0].protocol, "s3"); /* lower-cased */
	assert_true(c.stores[0].secure);                 /* s3 default */
	assert_int_equal(c.stores[0].token_length, 4);   /* clamped */
	assert_null(c.stores[0].access_key);             /* "" = absent */
	assert_null(c.stores[0].secret_key);
	assert_null(c.stores[0].subfolding);
	assert_string_equal(c.stores[0].stage, "st");
	dj_config_free(&c);
	assert_int_equal(
	    load_store("{\"protocol\": \"s3\", \"endpoint\": \"e\", \"bucket\": \"b\", "
	               "\"location\": \"l\", \"secure\": false, \"token_length\": 99}",
	               &c, &e),
	    0);
	assert_false(c.stores[0].secure);
	assert_int_equal(c.stores[0].token_length, 16);
	dj_config_free(&c);
	assert_int_equal(load_store("{\"protocol\": \"azure\", \"container\": \"c\", \"location\": "
	                            "\"l\", \"account_name\": \"a\", \"account_key\": \"k\"}",
	                            &c, &e),
	                 0);
	assert_string_equal(c.stores[0].account_key, "k");
	assert_int_equal(dj_config_check_store(&c.stores[0], &e), 0); /* nothing local to check */
	dj_config_free(&c);
}

static void store_s3_credentials(void **state)
{
	(void)state;
	store_fails("{\"protocol\": \"s3\", \"endpoint\": \"e\", \"bucket\": \"b\", \"location\": "
	            "\"l\", \"access_key\": \"k\"}",
	            DJ_EUSAGE, "access_key and secret_key");
	store_fails("{\"protocol\": \"s3\", \"endpoint\": \"e\", \"bucket\": \"b\", \"location\": "
	            "\"l\", \"access_key\": \"\", \"secret_key\": \"s\"}",
	            DJ_EUSAGE, "access_key and secret_key");
	store_fails("{\"protocol\": \"s3\", \"endpoint\": \"\", \"bucket\": \"b\", \"location\": "
	            "\"l\"}",
	            DJ_EUSAGE, "endpoint");
}

static void store_prefix_clash(void **state)
{
	(void)state;
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	store_fails("{\"protocol\": \"file\", \"location\": \"/x\", \"hash_prefix\": \"a\", "
	            "\"schema_prefix\": \"a/b/\"}",
	            DJ_EUSAGE, "hash_prefix=\"a\" and schema_prefix=\"a/b/\" overlap");
	store_fails("{\"protocol\": \"file\", \"location\": \"/x\", \"filepath_prefix\": "
	            "\"/_hash/\"}",
	            DJ_EUSAGE, "overlap");
	store_fails("{\"protocol\": \"file\", \"location\": \"/x\", \"schema_prefix\": \"_hash\"}",
	            DJ_EUSAGE, "overlap");
	/* "a" and "ab" do not clash; empty prefixes are not compared */
	assert_int_equal(
	    load_store("{\"protocol\": \"file\", \"location\": \"/x\", \"hash_prefix\": "
	               "\"a\", \"schema_prefix\": \"ab\", \"filepath_prefix\": \"\"}",
	               &c, &e),
	    0);
	assert_null(c.stores[0].filepath_prefix);
	dj_config_free(&c);
	assert_int_equal(
	    load_store("{\"protocol\": \"file\", \"location\": \"/x\", \"hash_prefix\": "
	               "\"\", \"schema_prefix\": \"\"}",
	               &c, &e),
	    0);
	dj_config_free(&c);
}

static void store_defaults_must_exist(void **state)
{
	(void)state;
	load_fails(NULL, with_file("dangling", "{\"stores\": {\"default\": \"nope\"}}"), DJ_EUSAGE,
	           "stores.default names store 'nope'");
	load_fails(NULL, with_file("notstr", "{\"stores\": {\"filepath_default\": 3}}"), DJ_EUSAGE,
	           "stores.filepath_default must be a string");
}

/* ---- helpers for later readers, display ---- */

static void db_address_forms(void **state)
{
	(void)state;
	const char *bad[] = {"DJ_HOST=[::1]:3306", NULL};
	const char *badport[] = {"DJ_HOST=h:x", NULL};
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	char *host = NULL;
	int port;
	load_ok(&c, NULL, project("addr"));
	assert_int_equal(dj_config_db_address(&c, &host, &port, &e), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 3306);
	free(host);
	dj_config_free(&c);
	load_ok(&c, bad, project("addr"));
	assert_int_equal(dj_config_db_address(&c, &host, &port, &e), DJ_EFORMAT);
	dj_config_free(&c);
	dj_err_clear(&e);
	load_ok(&c, badport, project("addr"));
	assert_int_equal(dj_config_db_address(&c, &host, &port, &e), DJ_EFORMAT);
	dj_config_free(&c);
}

static void getters(void **state)
{
	(void)state;
	const char *dir =
	    with_file("getters", "{\"jobs\": {\"stale_timeout\": 60, \"version_method\": "
	                         "\"git\"}, \"jobs.stale_timeout\": 90, "
	                         "\"jobs.default_priority\": \"high\"}");
	const char *env[] = {"DJ_JOBS_AUTO_REFRESH=nah", NULL};
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	long long n;
	const char *s;
	bool b;
	load_ok(&c, env, dir);
	assert_int_equal(dj_config_get_int(&c, "jobs.stale_timeout", NULL, 0, &n, &e), 0);
	assert_int_equal(n, 90); /* the later flat key wins */
	assert_int_equal(dj_config_get_str(&c, "jobs.version_method", NULL, NULL, &s, &e), 0);
	assert_string_equal(s, "git");
	assert_int_equal(dj_config_get_int(&c, "jobs.default_priority", NULL, 5, &n, &e),
	                 DJ_EFORMAT);
	assert_non_null(strstr(e.msg, "jobs.default_priority"));
	dj_err_clear(&e);
	assert_int_equal(
	    dj_config_get_bool(&c, "jobs.auto_refresh", "DJ_JOBS_AUTO_REFRESH", true, &b, &e),
	    DJ_EFORMAT);
	assert_non_null(strstr(e.msg, "DJ_JOBS_AUTO_REFRESH"));
	dj_config_free(&c);
}

static void json_masks_secrets(void **state)
{
	(void)state;
	const char *dir = with_file(
	    "mask", "{\"database\": {\"password\": \"pw-S3CR3T\"}, \"stores\": {\"default\": "
	            "\"s\", \"s\": {\"protocol\": \"s3\", \"endpoint\": \"e\", \"bucket\": \"b\", "
	            "\"location\": \"l\", \"access_key\": \"AK\", \"secret_key\": \"sk-S3CR3T\"}, "
	            "\"g\": {\"protocol\": \"gcs\", \"bucket\": \"b\", \"location\": \"l\", "
	            "\"token\": \"tok-S3CR3T\"}, \"a\": {\"protocol\": \"azure\", \"container\": "
	            "\"c\", \"location\": \"l\", \"account_key\": \"ak-S3CR3T\", "
	            "\"connection_string\": \"cs-S3CR3T\"}}}");
	dj_config c;
	dj_err e = DJ_ERR_INIT;
	json_t *j;
	char *text;
	load_ok(&c, NULL, dir);
	assert_int_equal(dj_config_to_json(&c, &j, &e), 0);
	text = json_dumps(j, JSON_COMPACT);
	assert_null(strstr(text, "S3CR3T"));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "database"), "password")), "****");
	assert_non_null(strstr(text, "\"access_key\":\"AK\""));
	assert_non_null(strstr(text, "\"secret_key\":\"****\""));
	assert_non_null(strstr(text, "\"token\":\"****\""));
	assert_non_null(strstr(text, "\"connection_string\":\"****\""));
	assert_non_null(strstr(text, "\"add_job_metadata\":false"));
	free(text);
	json_decref(j);
	dj_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults),
	    cmocka_unit_test(env_values),
	    cmocka_unit_test(env_bad_values),
	    cmocka_unit_test(thread_safe_is_not_pydantic),
	    cmocka_unit_test(env_names_case_insensitive),
	    cmocka_unit_test(postgres_port_quirk),
	    cmocka_unit_test(file_vs_env_per_key),
	    cmocka_unit_test(empty_env_var_quirks),
	    cmocka_unit_test(nested_and_flat_mixed),
	    cmocka_unit_test(flat_store_keys),
	    cmocka_unit_test(bad_json_names_file_and_line),
	    cmocka_unit_test(bad_values_in_file),
	    cmocka_unit_test(discovery_walks_up),
	    cmocka_unit_test(discovery_skips_non_files),
	    cmocka_unit_test(explicit_config_file),
	    cmocka_unit_test(dj_stores_replaces),
	    cmocka_unit_test(secrets_fill_gaps_only),
	    cmocka_unit_test(secrets_skipped_when_ignored),
	    cmocka_unit_test(system_secrets_dir),
	    cmocka_unit_test(fixture_pipeline),
	    cmocka_unit_test(store_key_rules),
	    cmocka_unit_test(store_defaults_and_options),
	    cmocka_unit_test(store_s3_credentials),
	    cmocka_unit_test(store_prefix_clash),
	    cmocka_unit_test(store_defaults_must_exist),
	    cmocka_unit_test(db_address_forms),
	    cmocka_unit_test(getters),
	    cmocka_unit_test(json_masks_secrets),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
