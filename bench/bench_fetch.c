/*
 * bench_fetch: fetching a table of N rows with in-table <blob> values of K KB (default 10,000 rows
 * of 256 KB), on MariaDB and PostgreSQL, beside the same SELECT run by the server's own client.
 *
 *   djrun fetch+decode   dj_fetch over the table, every blob unpacked into a value tree
 *   djrun rows only      the same SELECT through db.h, values not decoded
 *   unpack only          dj_blob_unpack of the same bytes already in memory (decoding cost)
 *   mariadb --batch      `mariadb --batch --quick --raw -N -e "SELECT ..." > /dev/null`
 *   psql                 `psql -At -v FETCH_COUNT=100 -c "SELECT ..." > /dev/null` (bytea as hex)
 *
 * MB = 10^6 bytes of blob payload. The servers come from DJ_TEST_MYSQL_* / DJ_TEST_PG_* (as the
 * tests use them); a backend without its variables is skipped. The table lives in a djt_bench_<pid>
 * schema that is dropped at the end. Usage: bench_fetch [ROWS [KB]].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codecs/blob.h"
#include "db/schema.h"
#include "jobs/row.h"

typedef struct server {
	const char *name, *backend, *var;
	char host[128], port[16], user[128], pass[128], db[128];
} server;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool env(server *s, const char *suffix, char *out, size_t n)
{
	char name[64];
	const char *v;
	snprintf(name, sizeof(name), "%s_%s", s->var, suffix);
	if (!(v = getenv(name)) || !*v)
		return false;
	snprintf(out, n, "%s", v);
	return true;
}

static void die(const char *what, const dj_err *err)
{
	fprintf(stderr, "bench_fetch: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static void exec_sql(dj_db *db, const char *sql)
{
	dj_err err = DJ_ERR_INIT;
	if (dj_db_exec(db, sql, NULL, 0, &err) < 0)
		die(sql, &err);
}

static void report(const char *backend, const char *what, size_t rows, double bytes, double s)
{
	printf("%-11s %-34s %6zu %8.2f %10.0f %9.1f\n", backend, what, rows, s, (double)rows / s,
	       bytes / 1e6 / s);
}

/* A float64 vector of `kb` KB whose bytes do not compress (so the blob stays kb KB, §2.1). */
static int make_blob(dj_buf *out, size_t kb, uint64_t seed, dj_err *err)
{
	uint64_t shape = kb * 1024 / 8, x = seed * 0x9E3779B97F4A7C15ULL + 1;
	dj_value *v = dj_value_array(DJ_TYPE_FLOAT64, false, 1, &shape, err);
	dj_blob_pack_opts o = DJ_BLOB_PACK_OPTS_INIT;
	int rc;
	if (!v)
		return DJ_ENOMEM;
	for (size_t i = 0; i < v->u.arr.data_len; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(v->u.arr.data + i, &x, 8);
	}
	o.compress = false; /* zlib would not shrink random bytes; skip trying 10,000 times */
	rc = dj_blob_pack(v, &o, out, err);
	dj_value_free(v);
	return rc;
}

static void fill(dj_db *db, const char *table, size_t rows, size_t kb)
{
	enum { PER = 24 }; /* rows per INSERT: ~6 MB, under max_allowed_packet */
	dj_buf blobs[PER], sql = DJ_BUF_INIT;
	dj_db_param p[2 * PER];
	dj_err err = DJ_ERR_INIT;
	for (size_t r = 0; r < rows; r += PER) {
		size_t n = rows - r < PER ? rows - r : PER;
		dj_buf_reset(&sql);
		dj_buf_addf(&sql, "INSERT INTO %s VALUES ", table);
		for (size_t i = 0; i < n; i++) {
			blobs[i] = (dj_buf)DJ_BUF_INIT;
			if (make_blob(&blobs[i], kb, r + i + 1, &err) < 0)
				die("pack", &err);
			p[2 * i] = dj_db_int((int64_t)(r + i));
			p[2 * i + 1] = dj_db_bytes(blobs[i].ptr, blobs[i].len);
			dj_buf_adds(&sql, i ? ",(?,?)" : "(?,?)");
		}
		if (dj_db_exec(db, sql.ptr, p, 2 * n, &err) < 0)
			die("insert", &err);
		for (size_t i = 0; i < n; i++)
			dj_buf_dispose(&blobs[i]);
	}
	dj_buf_dispose(&sql);
}

/* djrun's path: dj_fetch with every blob unpacked. */
static void bench_fetch(dj_db *db, const dj_table *t, const char *backend)
{
	dj_row_ctx ctx;
	dj_fetch *f;
	dj_err err = DJ_ERR_INIT;
	size_t rows = 0;
	double bytes = 0, t0 = now();
	int rc;
	dj_row_ctx_init(&ctx, NULL, 0, NULL, &err);
	if (dj_fetch_open(&f, db, &ctx, t, NULL, -1, 0, &err) < 0)
		die("fetch", &err);
	while ((rc = dj_fetch_next(f, &err)) == 1) {
		for (size_t i = 0; i < dj_fetch_ncols(f); i++) {
			dj_cell c;
			if (!strcmp(dj_fetch_attr(f, i)->name, "data"))
				bytes += (double)dj_fetch_raw(f, i, NULL).len;
			if (dj_fetch_cell(f, i, &c, &err) < 0)
				die("decode", &err);
			dj_cell_dispose(&c);
		}
		rows++;
	}
	if (rc < 0)
		die("fetch", &err);
	dj_fetch_close(f);
	dj_row_ctx_dispose(&ctx);
	report(backend, "djrun fetch+decode (dj_fetch)", rows, bytes, now() - t0);
}

/* The same SELECT through db.h, no decoding; keeps one blob to time unpacking alone. */
static void bench_rows(dj_db *db, const char *select, const char *backend, dj_buf *sample,
                       bool quiet)
{
	dj_db_rows *r;
	dj_err err = DJ_ERR_INIT;
	size_t rows = 0;
	double bytes = 0, t0 = now();
	int rc;
	if (dj_db_query(db, select, NULL, 0, &r, &err) < 0)
		die(select, &err);
	while ((rc = dj_db_rows_next(r, &err)) == 1) {
		dj_bytes v = dj_db_rows_value(r, 1);
		bytes += (double)v.len;
		if (rows++ == 0)
			dj_buf_add(sample, v.ptr, v.len);
	}
	if (rc < 0)
		die("rows", &err);
	dj_db_rows_free(r);
	if (!quiet)
		report(backend, "djrun rows only (dj_db_query)", rows, bytes, now() - t0);
}

static void bench_unpack(const dj_buf *blob, size_t rows, const char *backend)
{
	dj_err err = DJ_ERR_INIT;
	double t0 = now();
	for (size_t i = 0; i < rows; i++) {
		dj_value *v;
		if (dj_blob_unpack((const uint8_t *)blob->ptr, blob->len, NULL, &v, NULL, &err) < 0)
			die("unpack", &err);
		dj_value_free(v);
	}
	report(backend, "unpack only (in memory)", rows, (double)blob->len * (double)rows,
	       now() - t0);
}

/* The server's own client, output to /dev/null (the password travels in its environment). */
static void bench_client(server *s, const char *select, size_t rows, double bytes)
{
	char cmd[1024], label[64];
	double t0;
	if (!strcmp(s->backend, "mysql")) {
		setenv("MYSQL_PWD", s->pass, 1);
		snprintf(cmd, sizeof(cmd),
		         "mariadb --no-defaults --batch --quick --raw -N -h %s -P %s -u %s -e \"%s\" "
		         ">/dev/null",
		         s->host, s->port, s->user, select);
		snprintf(label, sizeof(label), "mariadb --batch --quick (client)");
	} else {
		setenv("PGPASSWORD", s->pass, 1);
		snprintf(cmd, sizeof(cmd),
		         "psql -X -At -v FETCH_COUNT=100 -h %s -p %s -U %s -d %s -c '%s' >/dev/null",
		         s->host, s->port, s->user, s->db[0] ? s->db : "postgres", select);
		snprintf(label, sizeof(label), "psql -At FETCH_COUNT=100 (client)");
	}
	t0 = now();
	if (system(cmd) != 0)
		fprintf(stderr, "bench_fetch: %s failed\n", cmd);
	report(s->name, label, rows, bytes, now() - t0);
}

static void run(server *s, size_t rows, size_t kb)
{
	dj_db_params p = {0};
	dj_db *db;
	dj_err err = DJ_ERR_INIT;
	dj_schema sch;
	dj_buf sample = DJ_BUF_INIT;
	char schema[64], table[128], select[256];
	bool pg = !strcmp(s->backend, "postgresql");
	double t0;
	p.backend = s->backend;
	p.host = s->host;
	p.port = atoi(s->port);
	p.user = s->user;
	p.password = s->pass;
	p.dbname = s->db[0] ? s->db : NULL;
	if (dj_db_open(&db, &p, &err) < 0)
		die(s->name, &err);
	snprintf(schema, sizeof(schema), "djt_bench_%ld", (long)getpid());
	snprintf(table, sizeof(table), "%s.bench", schema);
	snprintf(select, sizeof(select), "SELECT id, data FROM %s", table);
	if (pg) {
		char sql[256];
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
		exec_sql(db, sql);
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
		exec_sql(db, sql);
		snprintf(sql, sizeof(sql), "CREATE TABLE %s (id integer NOT NULL, data bytea NOT NULL, "
		                           "PRIMARY KEY (id))", table);
		exec_sql(db, sql);
		snprintf(sql, sizeof(sql), "COMMENT ON COLUMN %s.data IS ':<blob>:'", table);
		exec_sql(db, sql);
	} else {
		char sql[256];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", schema);
		exec_sql(db, sql);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", schema);
		exec_sql(db, sql);
		snprintf(sql, sizeof(sql), "CREATE TABLE %s (id int NOT NULL COMMENT ':int32:', data "
		                           "longblob NOT NULL COMMENT ':<blob>:', PRIMARY KEY (id)) "
		                           "ENGINE=InnoDB", table);
		exec_sql(db, sql);
	}
	t0 = now();
	fill(db, table, rows, kb);
	fprintf(stderr, "%s: %zu rows of %zu KB inserted in %.1f s\n", s->name, rows, kb,
	        now() - t0);
	if (dj_schema_load(db, schema, NULL, &sch, &err) < 0)
		die("schema", &err);
	/* once to warm the server's cache, then measured in the order listed */
	bench_rows(db, select, s->name, &sample, true);
	dj_buf_reset(&sample);
	bench_rows(db, select, s->name, &sample, false);
	bench_fetch(db, dj_schema_table(&sch, "bench"), s->name);
	bench_unpack(&sample, rows, s->name);
	bench_client(s, select, rows, (double)sample.len * (double)rows);
	dj_schema_free(&sch);
	dj_buf_dispose(&sample);
	if (pg) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
		exec_sql(db, sql);
	} else {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP DATABASE %s", schema);
		exec_sql(db, sql);
	}
	dj_db_close(db);
}

int main(int argc, char **argv)
{
	server servers[] = {{"mariadb", "mysql", "DJ_TEST_MYSQL", "", "", "", "", ""},
	                    {"postgresql", "postgresql", "DJ_TEST_PG", "", "", "", "", ""}};
	size_t rows = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t kb = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
	printf("%-11s %-34s %6s %8s %10s %9s\n", "backend", "what", "rows", "s", "rows/s", "MB/s");
	for (size_t i = 0; i < 2; i++) {
		server *s = &servers[i];
		if (!env(s, "HOST", s->host, sizeof(s->host)) ||
		    !env(s, "PORT", s->port, sizeof(s->port)) ||
		    !env(s, "USER", s->user, sizeof(s->user)) ||
		    !env(s, "PASS", s->pass, sizeof(s->pass))) {
			fprintf(stderr, "%s: %s_* not set, skipped\n", s->name, s->var);
			continue;
		}
		env(s, "DB", s->db, sizeof(s->db));
		run(s, rows, kb);
	}
	return 0;
}
