/* A plugin built for another ABI version: djrun must refuse to load it. */
#include <djrun_make.h>

DJRUN_MAKE_EXPORT int djrun_make_abi(void)
{
	return DJRUN_MAKE_ABI + 1;
}

DJRUN_MAKE_EXPORT int djrun_make(const djrun_key *key, djrun_out *out)
{
	(void)key;
	return djrun_set_int64(out, "sq", 1);
}
