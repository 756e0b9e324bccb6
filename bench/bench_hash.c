/*
 * bench_hash: content hashing (MD5 -> base32, formats.md §4) of 256 MB, streamed in 16 KiB and
 * 8 MiB chunks and in one call. Prints MB/s (10^6 bytes); bench/run puts
 * `openssl speed -evp md5` beside it. Best of 3. Usage: ./bench_hash [megabytes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codecs/hash.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double stream(const unsigned char *p, size_t n, size_t chunk, char out[DJ_HASH_LEN + 1])
{
	dj_err err = DJ_ERR_INIT;
	dj_md5 h;
	double t0 = now();
	if (dj_md5_init(&h, &err) < 0)
		goto fail;
	for (size_t off = 0; off < n; off += chunk)
		if (dj_md5_update(&h, p + off, n - off < chunk ? n - off : chunk, &err) < 0)
			goto fail;
	if (dj_hash_final(&h, out, &err) < 0)
		goto fail;
	dj_md5_dispose(&h);
	return now() - t0;
fail:
	fprintf(stderr, "bench_hash: %s\n", err.msg);
	exit(1);
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256, n = mb * 1000000;
	unsigned char *p = malloc(n);
	char h1[DJ_HASH_LEN + 1], h2[DJ_HASH_LEN + 1], h3[DJ_HASH_LEN + 1];
	double best16k = 1e9, best8m = 1e9, bestone = 1e9;
	dj_err err = DJ_ERR_INIT;
	if (!p)
		return 1;
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 2654435761u >> 13);
	for (int r = 0; r < 3; r++) {
		double t = stream(p, n, 16384, h1);
		best16k = t < best16k ? t : best16k;
		t = stream(p, n, 8 << 20, h2);
		best8m = t < best8m ? t : best8m;
		double t0 = now();
		if (dj_hash_bytes(p, n, h3, &err) < 0) {
			fprintf(stderr, "bench_hash: %s\n", err.msg);
			return 1;
		}
		t = now() - t0;
		bestone = t < bestone ? t : bestone;
	}
	if (strcmp(h1, h2) || strcmp(h1, h3)) {
		fprintf(stderr, "bench_hash: chunked and one-shot hashes differ\n");
		return 1;
	}
	printf("hash %zu MB, 16 KiB chunks   %8.0f MB/s\n", mb, (double)n / 1e6 / best16k);
	printf("hash %zu MB, 8 MiB chunks    %8.0f MB/s\n", mb, (double)n / 1e6 / best8m);
	printf("hash %zu MB, one call        %8.0f MB/s\n", mb, (double)n / 1e6 / bestone);
	free(p);
	return 0;
}
