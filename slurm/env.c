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

/* A positive count from the environment, else 0. */
static long count(const char *name)
{
	const char *v = getenv(name);
	char *end = NULL;
	long n = v ? strtol(v, &end, 10) : 0;
	return v && *v && !*end && n > 0 ? n : 0;
}

int dj_launch_peers(void)
{
	long n = 1, array = count("SLURM_ARRAY_TASK_COUNT"), step = count("SLURM_STEP_NUM_TASKS");
	if (array > 1)
		n = array;
	/* only srun's tasks have SLURM_STEP_NUM_TASKS (the batch shell has SLURM_NTASKS with -n,
	 * yet runs djrun as one process); with PMIx or PMI they are ranks, not peers */
	if (step > 1 && dj_launch_size() == 0)
		n = n * step;
	return n > 1000000 ? 1000000 : (int)n;
}

void dj_launch_prepare(void)
{
	setenv("OMPI_MCA_async_mpi_finalize", "1", 0);
}
