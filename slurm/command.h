/* Running a Slurm client command (sbatch, squeue, scontrol) and collecting what it prints. */
#ifndef DJ_SLURM_COMMAND_H
#define DJ_SLURM_COMMAND_H

#include "base/buf.h"
#include "base/err.h"

/*
 * Run argv (searched in PATH, no shell) to its end; stdout and stderr are appended to `out` and
 * `errs` (either may be NULL: discarded). *status is the exit status, 127 when the program
 * could not be started, 128 + N when signal N ended it. < 0 only when the run itself failed
 * (fork, pipes).
 */
int dj_slurm_command(char *const argv[], dj_buf *out, dj_buf *errs, int *status, dj_err *err);

#endif
