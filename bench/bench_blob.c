/*
 * bench_blob: blob pack/unpack throughput on a 100 MB float64 array against the floor each
 * path cannot beat (memcpy; plain zlib compress2 level 6 / uncompress). Best of 3 runs each.
 * Run in a Release build without sanitizers: ./bench_blob [megabytes]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "codecs/blob.h"

#define RUNS 3

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what, const dj_err *err)
{
	fprintf(stderr, "bench_blob: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static dj_value *make_array(size_t n, int kind)
{
	dj_err err = DJ_ERR_INIT;
	uint64_t shape[1] = {n};
	dj_value *v = dj_value_array(DJ_TYPE_FLOAT64, false, 1, shape, &err);
	double *d;
	if (!v)
		die("array", &err);
	d = (double *)v->u.arr.data;
	for (size_t i = 0; i < n; i++) {
		if (kind == 0) { /* random bits: zlib cannot shrink them */
			uint64_t b = next();
			memcpy(&d[i], &b, 8);
		} else if (kind == 1) {
			d[i] = 0.0;
		} else { /* small random ints: compressible, but not trivially */
			d[i] = (double)(next() % 16);
		}
	}
	return v;
}

/* Keeps the compiler from dropping a malloc + memcpy + free whose result is never read. */
static void touch(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* Timed steps get fresh output memory, as a decoder would, except the *_WARM ones, which
 * reuse a buffer that has been written before (a worker packing item after item). */
typedef enum step { MEMCPY_FRESH, MEMCPY_WARM, PACK, PACK_WARM, UNPACK, COMPRESS2, UNCOMPRESS } step;

typedef struct ctx {
	const dj_value *v;
	const uint8_t *src; /* the array bytes (memcpy) or the packed blob (unpack) */
	size_t src_len, raw_len;
	uint8_t *warm;
	dj_buf reuse;
	dj_blob_pack_opts popts;
} ctx;

static double run_once(step s, ctx *c)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf out = DJ_BUF_INIT;
	dj_value *tree = NULL;
	uint8_t *dst = NULL;
	uLongf zlen;
	double t0 = now(), t;
	switch (s) {
	case MEMCPY_FRESH:
		dst = malloc(c->src_len);
		memcpy(dst, c->src, c->src_len);
		touch(dst);
		break;
	case MEMCPY_WARM:
		memcpy(c->warm, c->src, c->src_len);
		touch(c->warm);
		break;
	case PACK_WARM:
		dj_buf_reset(&c->reuse);
		if (dj_blob_pack(c->v, &c->popts, &c->reuse, &err) < 0)
			die("pack", &err);
		break;
	case PACK:
		if (dj_blob_pack(c->v, &c->popts, &out, &err) < 0)
			die("pack", &err);
		break;
	case UNPACK:
		if (dj_blob_unpack(c->src, c->src_len, NULL, &tree, NULL, &err) < 0)
			die("unpack", &err);
		break;
	case COMPRESS2:
		zlen = compressBound(c->src_len);
		dst = malloc(zlen);
		if (compress2(dst, &zlen, c->src, c->src_len, 6) != Z_OK)
			die("compress2", NULL);
		break;
	case UNCOMPRESS:
		zlen = c->raw_len;
		dst = malloc(zlen);
		if (uncompress(dst, &zlen, c->src, c->src_len) != Z_OK || zlen != c->raw_len)
			die("uncompress", NULL);
		break;
	}
	t = now() - t0;
	free(dst);
	dj_buf_dispose(&out);
	dj_value_free(tree);
	return t;
}

static double best(step s, ctx *c)
{
	double b = 1e30;
	for (int i = 0; i < RUNS; i++) {
		double t = run_once(s, c);
		b = t < b ? t : b;
	}
	return b;
}

static void line(const char *what, size_t mb_bytes, double t, const char *base, double tb)
{
	double r = (double)mb_bytes / 1e6;
	printf("%-34s %8.0f MB/s   %-22s %8.0f MB/s   ratio %.2f\n", what, r / t, base, r / tb, tb / t);
}

static void uncompressed(size_t n)
{
	dj_value *v = make_array(n, 0);
	dj_buf blob = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	ctx c = {.v = v, .reuse = DJ_BUF_INIT, .popts = {.compress = false}};
	double tf, tw;
	if (dj_blob_pack(v, &c.popts, &blob, &err) < 0)
		die("pack", &err);
	c.src = v->u.arr.data;
	c.src_len = v->u.arr.data_len;
	c.warm = malloc(c.src_len);
	memset(c.warm, 1, c.src_len);
	tf = best(MEMCPY_FRESH, &c);
	tw = best(MEMCPY_WARM, &c);
	printf("-- uncompressed path: %zu MB float64, random bits (compress=false)\n", c.src_len / 1000000);
	line("memcpy to fresh malloc", c.src_len, tf, "memcpy warm dst", tw);
	line("pack into a new dj_buf", c.src_len, best(PACK, &c), "memcpy fresh dst", tf);
	line("pack into a reused dj_buf", c.src_len, best(PACK_WARM, &c), "memcpy warm dst", tw);
	c.src = (const uint8_t *)blob.ptr;
	c.src_len = blob.len;
	line("unpack (new tree)", v->u.arr.data_len, best(UNPACK, &c), "memcpy fresh dst", tf);
	line("unpack (new tree)", v->u.arr.data_len, best(UNPACK, &c), "memcpy warm dst", tw);
	free(c.warm);
	dj_buf_dispose(&c.reuse);
	dj_buf_dispose(&blob);
	dj_value_free(v);
}

static void compressed(size_t n, int kind, const char *label)
{
	dj_value *v = make_array(n, kind);
	dj_buf blob = DJ_BUF_INIT, body = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	ctx c = {.v = v, .reuse = DJ_BUF_INIT, .popts = {.compress = true}};
	uLongf zlen;
	uint8_t *z;
	double tp, tz;
	if (dj_blob_pack(v, &c.popts, &blob, &err) < 0 ||
	    dj_blob_pack(v, &(dj_blob_pack_opts){.compress = false}, &body, &err) < 0)
		die("pack", &err);
	if (memcmp(blob.ptr, "ZL123", 5) != 0)
		die("blob was not compressed", NULL);
	/* the plain-zlib baseline over the same body bytes; its stream must equal ours */
	c.src = (const uint8_t *)body.ptr;
	c.src_len = body.len;
	tz = best(COMPRESS2, &c);
	tp = best(PACK, &c);
	zlen = compressBound(body.len);
	z = malloc(zlen);
	compress2(z, &zlen, (const Bytef *)body.ptr, body.len, 6);
	if (zlen + 14 != blob.len || memcmp(z, blob.ptr + 14, zlen) != 0)
		die("streamed deflate differs from compress2", NULL);
	printf("-- compressed path: %zu MB float64, %s (zlib %zu -> %lu bytes)\n", body.len / 1000000, label,
	       body.len, (unsigned long)zlen);
	line("pack (compress=true)", body.len, tp, "zlib compress2(6)", tz);
	c.src = z;
	c.src_len = zlen;
	c.raw_len = body.len;
	tz = best(UNCOMPRESS, &c);
	c.src = (const uint8_t *)blob.ptr;
	c.src_len = blob.len;
	line("unpack", body.len, best(UNPACK, &c), "zlib uncompress", tz);
	free(z);
	dj_buf_dispose(&blob);
	dj_buf_dispose(&body);
	dj_value_free(v);
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
	size_t n = mb * 1000 * 1000 / 8;
	printf("bench_blob: best of %d runs, MB = 10^6 bytes of array data\n", RUNS);
	uncompressed(n);
	compressed(n, 1, "zeros");
	compressed(n, 2, "small random ints 0..15");
	return 0;
}
