#include "slurm/env.h"

#include <stdlib.h>

int dj_launch_size(void)
{
	const char *v;
	if ((v = getenv("OMPI_COMM_WORLD_SIZE")) || (v = getenv("PMI_SIZE")))
		return atoi(v);
	if (getenv("PMIX_RANK"))
		return (v = getenv("SLURM_STEP_NUM_TASKS")) ? atoi(v) : -1;
	return 0;
}

void dj_launch_prepare(void)
{
	setenv("OMPI_MCA_async_mpi_finalize", "1", 0);
}
