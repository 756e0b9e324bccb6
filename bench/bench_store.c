/*
 * bench_store: the store backends, timed. bench/store.sh runs it (with the test servers) and
 * puts cp and dd beside the file figures. MB = 10^6 bytes; one run of each (the objects are
 * large enough for the timings to settle), data checked after each round trip.
 *
 *   bench_store file DIR MB OP   one operation on one MB-megabyte object in DIR/store, in
 *                                seconds: src (write DIR/src.bin), put / put-nosync (put_file of
 *                                it, with fsync or without), put-mem (from memory), get (into
 *                                memory)
 *   bench_store s3|azure|gcs MB  upload and download of MB megabytes: parts (8 MiB, 8 in
 *                                flight; gcs: composed) against one single-stream request
 *   bench_store list KIND N      N small objects: put (8 threads), list, remove_many, objects/s;
 *                                KIND is s3, azure, gcs or file:DIR
 *
 * s3, azure and gcs read the test servers' variables (tests/services/s3rver.sh, azurite.sh,
 * gcs.sh) and work below a location of their own, removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stores/azure_internal.h"
#include "stores/store.h"

#define MB 1000000.0
#define THREADS 8

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const dj_err *err)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

static const char *env(const char *n)
{
	const char *v = getenv(n);
	if (!v || !*v) {
		fprintf(stderr, "bench_store: %s is not set (tests/services/*.sh start)\n", n);
		exit(2);
	}
	return v;
}

static void fill(uint8_t *p, size_t n)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
	for (size_t i = n & ~(size_t)7; i < n; i++)
		p[i] = (uint8_t)i;
}

static void spec_for(const char *kind, dj_store_spec *spec, char *loc)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = (char *)kind;
	spec->protocol = (char *)kind;
	spec->location = loc;
	if (!strcmp(kind, "s3")) {
		spec->endpoint = (char *)env("DJ_TEST_S3_ENDPOINT");
		spec->bucket = (char *)env("DJ_TEST_S3_BUCKET");
		spec->access_key = (char *)env("DJ_TEST_S3_ACCESS_KEY");
		spec->secret_key = (char *)env("DJ_TEST_S3_SECRET_KEY");
	} else if (!strcmp(kind, "azure")) {
		spec->container = (char *)env("DJ_TEST_AZURE_CONTAINER");
		spec->connection_string = (char *)env("DJ_TEST_AZURE_CONNECTION_STRING");
	} else if (!strcmp(kind, "gcs")) {
		spec->endpoint = (char *)env("DJ_TEST_GCS_ENDPOINT");
		spec->bucket = (char *)env("DJ_TEST_GCS_BUCKET");
		spec->token = (char *)env("DJ_TEST_GCS_KEYFILE");
	} else if (strcmp(kind, "file") != 0) {
		fprintf(stderr, "bench_store: unknown store kind '%s'\n", kind);
		exit(2);
	}
}

static dj_store *open_opts(const dj_store_spec *spec, const dj_store_opts *o)
{
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	if (dj_store_open_opts(&st, spec, o, &err) < 0)
		die("open", &err);
	if (!strcmp(spec->protocol, "azure") && dj_azure__create_container(st, &err) < 0)
		die("container", &err);
	return st;
}

static void report(const char *what, double bytes, double secs)
{
	printf("%-44s %9.1f MB/s  (%.2f s)\n", what, bytes / MB / secs, secs);
	fflush(stdout);
}

static void get_check(dj_store *st, const char *key, const uint8_t *want, size_t n, double *secs)
{
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	double t0;
	if (dj_buf_grow(&b, n) < 0)
		die("memory", NULL);
	memset(b.ptr, 0, n); /* touch the pages before timing */
	t0 = now();
	if (dj_store_get(st, key, &b, &err) < 0)
		die(key, &err);
	*secs = now() - t0;
	if (b.len != n || memcmp(b.ptr, want, n) != 0) {
		fprintf(stderr, "bench_store: '%s' came back different\n", key);
		exit(1);
	}
	dj_buf_dispose(&b);
}

/* ---- file ---- */

static void write_source(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t off = 0;
	while (fd >= 0 && off < n) {
		ssize_t w = write(fd, p + off, n - off < (8u << 20) ? n - off : (8u << 20));
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (fd < 0 || off < n || fsync(fd) < 0 || close(fd) < 0)
		die(path, NULL);
}

/* One operation, timed alone (bench/store.sh syncs between them and keeps the best run):
 * src writes DIR/src.bin; put and put-nosync copy it to object "obj" with put_file; put-mem
 * stores the same bytes from memory; get reads "obj" back into memory. Prints seconds. */
static int bench_file(const char *dir, size_t n, const char *op)
{
	char loc[4096], src[4096];
	dj_store_spec spec;
	dj_store_opts o = {0};
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	uint8_t *d = malloc(n);
	double t0, t = 0;
	if (!d)
		die("memory", NULL);
	fill(d, n);
	snprintf(loc, sizeof(loc), "%s/store", dir);
	snprintf(src, sizeof(src), "%s/src.bin", dir);
	if (mkdir(loc, 0755) < 0 && errno != EEXIST)
		die(loc, NULL);
	spec_for("file", &spec, loc);
	o.no_sync = !strcmp(op, "put-nosync");
	st = open_opts(&spec, &o);
	if (!strcmp(op, "src")) {
		write_source(src, d, n);
	} else if (!strcmp(op, "put") || !strcmp(op, "put-nosync")) {
		t0 = now(); /* bench/store.sh deleted "obj" and synced */
		if (dj_store_put_file(st, "obj", src, 0, &err) < 0)
			die("put_file", &err);
		t = now() - t0;
	} else if (!strcmp(op, "put-mem")) {
		t0 = now();
		if (dj_store_put(st, "mem", d, n, 0, &err) < 0)
			die("put", &err);
		t = now() - t0;
		if (dj_store_remove(st, "mem", &err) < 0)
			die("remove", &err);
	} else if (!strcmp(op, "get")) {
		get_check(st, "obj", d, n, &t);
	} else {
		fprintf(stderr, "bench_store: unknown file operation '%s'\n", op);
		return 2;
	}
	printf("%.4f\n", t);
	dj_store_close(st);
	free(d);
	return 0;
}

/* ---- s3 / azure: parts against one stream ---- */

/* One thread of a cooperative upload: parts first, first + step, ... with its own store. */
typedef struct part_job {
	const dj_store_spec *spec;
	const dj_store_writer *w;
	const uint8_t *d;
	size_t n;
	uint32_t first, step, nparts;
	dj_store_part *parts;
} part_job;

static void *write_parts(void *arg)
{
	part_job *j = arg;
	dj_store *st = open_opts(j->spec, NULL);
	dj_err err = DJ_ERR_INIT;
	for (uint32_t k = j->first; k <= j->nparts; k += j->step) {
		size_t off = (size_t)(k - 1) * j->w->part_size;
		size_t len = j->n - off < j->w->part_size ? j->n - off : j->w->part_size;
		if (dj_store_writer_part(st, j->w, k, j->d + off, len, &j->parts[k - 1], &err) < 0)
			die("writer_part", &err);
	}
	dj_store_close(st);
	return NULL;
}

/* Where the time of a parallel upload goes: the parts, then the server's complete. */
static void cooperative(dj_store *st, const dj_store_spec *spec, const uint8_t *d, size_t n)
{
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_err err = DJ_ERR_INIT;
	uint32_t np = (uint32_t)((n + (8u << 20) - 1) / (8u << 20));
	dj_store_part *parts = calloc(np, sizeof(*parts));
	pthread_t th[THREADS];
	part_job jobs[THREADS];
	double t0, tp, tc;
	if (!parts || dj_store_writer_create(st, "coop.bin", 8u << 20, 0, &w, &err) < 0)
		die("writer", &err);
	t0 = now();
	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (part_job){spec, &w, d, n, (uint32_t)i + 1, THREADS, np, parts};
		pthread_create(&th[i], NULL, write_parts, &jobs[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	tp = now() - t0;
	t0 = now();
	if (dj_store_writer_complete(st, &w, parts, np, &err) < 0)
		die("complete", &err);
	tc = now() - t0;
	printf("  writer, 8 threads: parts %.2f s (%.1f MB/s), then complete %.2f s\n", tp,
	       (double)n / MB / tp, tc);
	if (dj_store_remove(st, "coop.bin", &err) < 0)
		die("remove", &err);
	dj_store_writer_dispose(&w);
	free(parts);
}

static double timed_put(dj_store *st, const char *key, const uint8_t *d, size_t n)
{
	dj_err err = DJ_ERR_INIT;
	double t0 = now();
	if (dj_store_put(st, key, d, n, 0, &err) < 0)
		die(key, &err);
	return now() - t0;
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Best of 2 rounds, each running all four transfers: the local servers' speed wanders. */
static int bench_cloud(const char *kind, size_t n)
{
	char loc[64];
	dj_store_spec spec;
	dj_store_opts par = {0}, one = {0}, one_get = {0};
	dj_store *sp, *s1, *sg;
	dj_err err = DJ_ERR_INIT;
	const char *const keys[] = {"parts.bin", "single.bin"};
	uint8_t *d = malloc(n);
	double up_p = 1e9, up_1 = 1e9, down_p = 1e9, down_1 = 1e9, t;
	if (!d)
		die("memory", NULL);
	fill(d, n);
	snprintf(loc, sizeof(loc), "djbench_%ld", (long)getpid());
	spec_for(kind, &spec, loc);
	par.part_size = 8u << 20; /* 8 in flight: the default */
	one.multipart_threshold = n + 1;
	one.parallel = 1;
	one_get.part_size = n + 1; /* larger than the object: one plain GET */
	one_get.parallel = 1;
	sp = open_opts(&spec, &par);
	s1 = open_opts(&spec, &one);
	sg = open_opts(&spec, &one_get);
	for (int round = 0; round < 2; round++) {
		up_p = MIN(up_p, timed_put(sp, "parts.bin", d, n));
		up_1 = MIN(up_1, timed_put(s1, "single.bin", d, n));
		get_check(sp, "parts.bin", d, n, &t);
		down_p = MIN(down_p, t);
		get_check(sg, "single.bin", d, n, &t);
		down_1 = MIN(down_1, t);
	}
	printf("%s: %.0f MB, best of 2\n", kind, (double)n / MB);
	report("  upload, 8 MiB parts x 8 in flight", (double)n, up_p);
	report("  upload, one request", (double)n, up_1);
	report("  download, 8 MiB ranges x 8 in flight", (double)n, down_p);
	report("  download, one request", (double)n, down_1);
	cooperative(sp, &spec, d, n);
	if (dj_store_remove_many(sp, keys, 2, &err) < 0)
		die("remove", &err);
	dj_store_close(sg);
	dj_store_close(s1);
	dj_store_close(sp);
	free(d);
	return 0;
}

/* ---- many small objects ---- */

typedef struct putter {
	const dj_store_spec *spec;
	char **keys;
	size_t from, to;
} putter;

static void *put_some(void *arg)
{
	putter *p = arg;
	dj_store *st = open_opts(p->spec, NULL);
	dj_err err = DJ_ERR_INIT;
	char body[100];
	memset(body, 'x', sizeof(body));
	for (size_t i = p->from; i < p->to; i++)
		if (dj_store_put(st, p->keys[i], body, sizeof(body), 0, &err) < 0)
			die(p->keys[i], &err);
	dj_store_close(st);
	return NULL;
}

static int count(const dj_store_entry *e, void *payload)
{
	(void)e;
	++*(size_t *)payload;
	return 0;
}

static int bench_list(const char *what, size_t n)
{
	char loc[4096];
	const char *kind = strncmp(what, "file:", 5) ? what : "file";
	dj_store_spec spec;
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	char **keys = calloc(n, sizeof(*keys));
	pthread_t th[THREADS];
	putter pt[THREADS];
	size_t seen = 0;
	double t0, t;
	if (!strcmp(kind, "file")) {
		snprintf(loc, sizeof(loc), "%s/many", what + 5);
		if (mkdir(loc, 0755) < 0 && errno != EEXIST)
			die(loc, NULL);
	} else {
		snprintf(loc, sizeof(loc), "djbench_%ld", (long)getpid());
	}
	spec_for(kind, &spec, loc);
	st = open_opts(&spec, NULL); /* first open (libcurl) before the threads */
	for (size_t i = 0; i < n; i++) {
		keys[i] = malloc(48);
		snprintf(keys[i], 48, "many/%02zu/k%06zu", i % 100, i);
	}
	t0 = now();
	for (int i = 0; i < THREADS; i++) {
		pt[i] =
		    (putter){&spec, keys, n * (size_t)i / THREADS, n * (size_t)(i + 1) / THREADS};
		pthread_create(&th[i], NULL, put_some, &pt[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	t = now() - t0;
	printf("%s: %zu objects of 100 bytes\n", kind, n);
	printf("  put (8 threads)        %9.0f objects/s  (%.2f s)\n", (double)n / t, t);
	t0 = now();
	if (dj_store_list(st, "many/", count, &seen, &err) < 0)
		die("list", &err);
	t = now() - t0;
	if (seen != n)
		fprintf(stderr, "bench_store: listed %zu of %zu objects\n", seen, n);
	printf("  list                   %9.0f objects/s  (%.2f s)\n", (double)seen / t, t);
	t0 = now();
	if (dj_store_remove_many(st, (const char *const *)keys, n, &err) < 0)
		die("remove_many", &err);
	t = now() - t0;
	printf("  remove_many            %9.0f objects/s  (%.2f s)\n", (double)n / t, t);
	fflush(stdout);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	dj_store_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "file"))
		return bench_file(argv[2], (size_t)(strtod(argv[3], NULL) * MB), argv[4]);
	if (argc == 3 &&
	    (!strcmp(argv[1], "s3") || !strcmp(argv[1], "azure") || !strcmp(argv[1], "gcs")))
		return bench_cloud(argv[1], (size_t)(strtod(argv[2], NULL) * MB));
	if (argc == 4 && !strcmp(argv[1], "list"))
		return bench_list(argv[2], strtoul(argv[3], NULL, 10));
	fprintf(stderr,
	        "usage: bench_store file DIR MB src|put|put-nosync|put-mem|get | s3|azure|gcs MB"
	        " | list s3|azure|gcs|file:DIR N\n");
	return 2;
}
