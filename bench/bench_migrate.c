/*
 * bench_migrate: the two limits of `djrun migrate to-store`, measured the way migrate moves the
 * bytes. bench/migrate.sh runs it beside the migration itself. MB = 10^6 bytes.
 *
 *   bench_migrate select SQL      stream the result of SQL (one bytes column) through the
 *                                 database layer, counting bytes: the raw SELECT limit.
 *                                 Connects with DJ_TEST_MYSQL_HOST/PORT/USER/PASS.
 *   bench_migrate write DIR N KB [sync]  MD5 + put of N distinct KB-kilobyte objects (bytes from
 *                                 memory) into a file store at DIR under _hash/bench/ paths,
 *                                 without fsync unless `sync`: the raw store-write limit.
 * Each prints one line: "<what> <bytes> <seconds> <MB/s>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codecs/hash.h"
#include "db/db.h"
#include "stores/paths.h"
#include "stores/store.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const dj_err *err)
{
	fprintf(stderr, "bench_migrate: %s: %s\n", what, err->msg);
	exit(1);
}

static const char *env(const char *n)
{
	const char *v = getenv(n);
	if (!v || !*v) {
		fprintf(stderr, "bench_migrate: %s is not set (tests/services/mariadb.sh start)\n", n);
		exit(2);
	}
	return v;
}

static int bench_select(const char *sql)
{
	dj_err err = DJ_ERR_INIT;
	dj_db *db = NULL;
	dj_db_rows *rows = NULL;
	dj_db_params p;
	memset(&p, 0, sizeof(p));
	p.backend = "mysql";
	p.host = env("DJ_TEST_MYSQL_HOST");
	p.port = atoi(env("DJ_TEST_MYSQL_PORT"));
	p.user = env("DJ_TEST_MYSQL_USER");
	p.password = getenv("DJ_TEST_MYSQL_PASS");
	if (dj_db_open(&db, &p, &err) < 0)
		die("connect", &err);
	double t0 = now();
	uint64_t bytes = 0;
	int rc;
	if (dj_db_query(db, sql, NULL, 0, &rows, &err) < 0)
		die("query", &err);
	while ((rc = dj_db_rows_next(rows, &err)) == 1)
		bytes += dj_db_rows_value(rows, 0).len;
	if (rc < 0)
		die("rows", &err);
	dj_db_rows_free(rows);
	double t = now() - t0;
	printf("select %llu %.3f %.1f\n", (unsigned long long)bytes, t, (double)bytes / 1e6 / t);
	dj_db_close(db);
	return 0;
}

static int bench_write(const char *dir, long n, long kb, bool sync)
{
	dj_err err = DJ_ERR_INIT;
	dj_store_spec spec;
	dj_store_opts o;
	dj_store *st = NULL;
	size_t size = (size_t)kb * 1024;
	uint8_t *buf = malloc(size);
	memset(&spec, 0, sizeof(spec));
	memset(&o, 0, sizeof(o));
	spec.name = (char *)"bench";
	spec.protocol = (char *)"file";
	spec.location = (char *)dir;
	o.no_sync = !sync;
	if (!buf)
		return 1;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	if (dj_store_open_opts(&st, &spec, &o, &err) < 0)
		die("open store", &err);
	double t0 = now();
	for (long i = 0; i < n; i++) {
		char hash[DJ_HASH_LEN + 1];
		dj_buf path = DJ_BUF_INIT;
		memcpy(buf, &i, sizeof(i)); /* distinct objects */
		if (dj_hash_bytes(buf, size, hash, &err) < 0 ||
		    dj_path_hash(&path, &spec, "bench", hash, &err) < 0 ||
		    dj_store_put(st, path.ptr, buf, size, DJ_STORE_IF_ABSENT, &err) < 0)
			die("put", &err);
		dj_buf_dispose(&path);
	}
	double t = now() - t0;
	double bytes = (double)n * (double)size;
	printf("write %.0f %.3f %.1f\n", bytes, t, bytes / 1e6 / t);
	dj_store_close(st);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "select"))
		return bench_select(argv[2]);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "write"))
		return bench_write(argv[2], atol(argv[3]), atol(argv[4]),
		                   argc == 6 && !strcmp(argv[5], "sync"));
	fprintf(stderr, "usage: bench_migrate select SQL | write DIR N KB [sync]\n");
	return 2;
}
