/* A plugin with the version symbol but no djrun_make: djrun must refuse to load it. */
#include <djrun_make.h>

DJRUN_MAKE_DEFINE_ABI()

DJRUN_MAKE_EXPORT int djrun_make_helper(void);
DJRUN_MAKE_EXPORT int djrun_make_helper(void)
{
	return 0;
}
