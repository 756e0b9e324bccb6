/* Placeholder until the real command lands. */
#include "runner/cli.h"
#include "runner/exit.h"

int dj_cmd_inspect(int argc, char **argv)
{
	(void)argc;
	return dj_cli_usage_error(argv[0], "'inspect' is not built yet");
}
