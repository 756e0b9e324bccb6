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
 * Independent djrun processes Slurm started side by side, which can share keys only through the
 * jobs table: the tasks of a job array (SLURM_ARRAY_TASK_COUNT), times the tasks of an srun step
 * launched without MPI (SLURM_STEP_NUM_TASKS with no PMI/PMIx/Open MPI rank variable). 1 when this process is alone (or the tasks are ranks of one MPI job, which
 * dj_launch_size counts instead). populate reserves jobs by default when this is > 1.
 */
int dj_launch_peers(void);

/*
 * Settings djrun needs from Open MPI before MPI_Init, each only where the user set nothing:
 * OMPI_MCA_async_mpi_finalize=1, because Open MPI 4.1's MPI_Finalize ends with a fence over every
 * rank and, after a rank died under mpirun --enable-recovery, can wait forever; djrun's ranks have
 * said goodbye to each other by then, so the fence buys nothing.
 */
void dj_launch_prepare(void);

#endif
