/*
 * The make of bench/populate.sh (built against djrun_make.h alone): key {"item_id": i} ->
 * sq = i*i, and with the argument `kib` also sig = 128 float64 values (1 KiB, different for
 * every key, so nothing deduplicates) for a <blob@> column; `mib`: 131,072 values (1 MiB).
 */
#include <stdlib.h>
#include <string.h>

#include <djrun_make.h>

DJRUN_MAKE_DEFINE_ABI()

DJRUN_MAKE_EXPORT int djrun_make_init(void **state, int argc, char **argv, char *errbuf,
                                      size_t errlen)
{
	(void)errbuf;
	(void)errlen;
	*state = (void *)(argc > 1 && !strcmp(argv[1], "kib")   ? "kib"
	                  : argc > 1 && !strcmp(argv[1], "mib") ? "mib"
	                                                         : "");
	return 0;
}

DJRUN_MAKE_EXPORT int djrun_make(const djrun_key *key, djrun_out *out)
{
	const djrun_attr *id = djrun_key_attr(key, "item_id");
	if (!id || id->type != DJRUN_INT64)
		return djrun_error(out, "KeyError: item_id", NULL);
	if (djrun_set_int64(out, "sq", id->i * id->i) < 0)
		return -1;
	if (!*(const char *)key->state)
		return 0;
	int64_t n = strcmp(key->state, "mib") ? 128 : 131072;
	int64_t shape[1] = {n};
	double *sig = malloc((size_t)n * sizeof(*sig));
	if (!sig)
		return djrun_error(out, "MemoryError: 1 MiB", NULL);
	for (int64_t k = 0; k < n; k++)
		sig[k] = (double)id->i + (double)k / (double)n;
	int rc = djrun_set_array(out, "sig", "float64", 1, shape, sig, (size_t)n * sizeof(*sig));
	free(sig);
	return rc;
}
