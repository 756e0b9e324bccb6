/*
 * The make of bench/populate.sh (built against djrun_make.h alone): key {"item_id": i} ->
 * sq = i*i, and with the argument `kib` also sig = 128 float64 values (1 KiB, different for
 * every key, so nothing deduplicates) for a <blob@> column.
 */
#include <string.h>

#include <djrun_make.h>

DJRUN_MAKE_DEFINE_ABI()

DJRUN_MAKE_EXPORT int djrun_make_init(void **state, int argc, char **argv, char *errbuf,
                                      size_t errlen)
{
	(void)errbuf;
	(void)errlen;
	*state = (void *)(argc > 1 && !strcmp(argv[1], "kib") ? "kib" : "");
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
	double sig[128];
	int64_t shape[1] = {128};
	for (int k = 0; k < 128; k++)
		sig[k] = (double)id->i + k / 128.0;
	return djrun_set_array(out, "sig", "float64", 1, shape, sig, sizeof(sig));
}
