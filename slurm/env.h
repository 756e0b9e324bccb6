/*
 * What the launcher tells a process through its environment (only runner/ and slurm/ read the
 * environment, DESIGN.md).
 */
#ifndef DJ_SLURM_ENV_H
#define DJ_SLURM_ENV_H

/*
 * Ranks the launcher started: mpirun sets OMPI_COMM_WORLD_SIZE, srun --mpi=pmix PMIX_RANK and
 * SLURM_STEP_NUM_TASKS, PMI-2 launchers PMI_SIZE. 0 = not launched by an MPI launcher;
 * -1 = launched, size unknown.
 */
int dj_launch_size(void);

/*
 * Settings djrun needs from Open MPI before MPI_Init, each only where the user set nothing:
 * OMPI_MCA_async_mpi_finalize=1, because Open MPI 4.1's MPI_Finalize ends with a fence over every
 * rank and, after a rank died under mpirun --enable-recovery, can wait forever; djrun's ranks have
 * said goodbye to each other by then, so the fence buys nothing.
 */
void dj_launch_prepare(void);

#endif
