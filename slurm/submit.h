/*
 * `djrun submit`: a djrun command (populate, migrate, gc) as a Slurm batch job.
 *
 * The batch script is meant to be read and kept: #SBATCH lines for what was asked, no module
 * commands, the absolute path of the djrun binary, the exact command with every argument
 * shell-quoted, the launcher (`srun --mpi=pmix`, `mpirun`, or none for one process) and a
 * signal relay. Slurm's warning signal (`--signal=B:USR1@120`) and `scancel --batch` reach
 * only the batch shell; the script passes them on to djrun as SIGUSR1, on which djrun drains
 * (finishes running keys, commits them, releases the rest) and exits 75. With requeue the
 * script then requeues its own job, so a job stopped by its time limit or by preemption
 * resumes where it left off: done keys are in the table, released ones pending again.
 *
 * Array mode: every array task is an independent djrun (one process, or a small MPI job) and
 * the tasks share the keys through the jobs table, so `populate` gets --reserve-jobs.
 */
#ifndef DJ_SLURM_SUBMIT_H
#define DJ_SLURM_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"

/* The launcher line of the script; AUTO = srun when more than one task is asked, else none. */
typedef enum dj_launcher {
	DJ_LAUNCH_AUTO = 0,
	DJ_LAUNCH_NONE,   /* djrun runs in the batch shell's allocation as one process */
	DJ_LAUNCH_SRUN,   /* srun --mpi=<mpi> (pmix by default) */
	DJ_LAUNCH_MPIRUN, /* mpirun, which finds the allocation itself */
} dj_launcher;

#define DJ_SUBMIT_SIGNAL_DEFAULT "B:USR1@120"
#define DJ_SUBMIT_MAX_REQUEUE_DEFAULT 10

/*
 * What to ask Slurm for. 0 / NULL leaves an option out of the script (Slurm's or the
 * cluster's default applies). Strings are borrowed.
 */
typedef struct dj_submit_spec {
	int nodes, ntasks, ntasks_per_node, cpus_per_task;
	const char *time, *partition, *account, *mem, *qos, *job_name;
	const char *array;   /* "N" (= 0-(N-1)), "A-B", "A-B%L", "1,3,5", ...; NULL = no array */
	dj_launcher launcher;
	const char *mpi;     /* srun --mpi= value; NULL = "pmix" */
	const char *signal;  /* --signal value; NULL = DJ_SUBMIT_SIGNAL_DEFAULT, "" = none */
	bool requeue;        /* #SBATCH --requeue, and the script requeues itself on exit 75 */
	int max_requeue;     /* ... while SLURM_RESTART_COUNT is below this; 0 = the default */
	const char *log_dir; /* absolute; the log is <log_dir>/<job name>-%j.log (%A_%a arrays) */
	const char *workdir; /* absolute; the script cd's there (datajoint.json is found from it) */
	const char *djrun;   /* absolute path of the djrun binary */
	char *const *argv;   /* the djrun command: "populate", "lab.Spikes", ... */
	size_t argc;
	char *const *sbatch_extra; /* more #SBATCH options, each one "--name=value" */
	size_t nsbatch_extra;
	char *const *setup; /* shell lines run before djrun (environment activation), verbatim */
	size_t nsetup;
} dj_submit_spec;

/*
 * Check the spec: a known subcommand (populate, migrate, gc), values Slurm accepts in an
 * #SBATCH line (no whitespace or quotes, numbers > 0, array and time syntax), absolute paths.
 * DJ_EUSAGE with a message naming the option.
 */
int dj_submit_check(const dj_submit_spec *s, dj_err *err);

/* The launcher the script will use (resolves AUTO). */
dj_launcher dj_submit_launcher(const dj_submit_spec *s);

/* The job name: s->job_name, else "djrun-<command>[-<first argument>]" in [A-Za-z0-9._-]. */
int dj_submit_job_name(dj_buf *out, const dj_submit_spec *s, dj_err *err);

/* The batch script, appended to `out`. Runs dj_submit_check first. */
int dj_submit_script(dj_buf *out, const dj_submit_spec *s, dj_err *err);

/*
 * `arg` as one shell word: as is when it is non-empty and made of [A-Za-z0-9_@%+=:,./-] only,
 * else in single quotes with each ' written as '\''. Any byte string round-trips through bash.
 */
int dj_shell_quote(dj_buf *out, const char *arg);

/*
 * Defaults from the "submit" object of a djrun.json, keyed by the option names without their
 * dashes ("nodes", "ntasks-per-node", "time", "requeue", "sbatch": [...], "setup": [...]).
 * Fills the fields still unset in `s`, borrowing strings from `doc` (keep it alive); the lists
 * s->sbatch_extra and s->setup it sets are malloc'd arrays the caller free()s. A missing
 * "submit" leaves `s` alone. DJ_EFORMAT naming the key for an unknown key or a wrong type.
 */
int dj_submit_apply_config(dj_submit_spec *s, bool *requeue_set, const json_t *doc,
                           dj_err *err);

/*
 * Find djrun.json from `start_dir` upward and parse it: *doc = NULL when there is none (not an
 * error), else the caller's to json_decref; *path (may be NULL) gets its malloc'd path.
 */
int dj_submit_find_config(const char *start_dir, json_t **doc, char **path, dj_err *err);

/* The absolute path of the running djrun binary (/proc/self/exe). */
int dj_submit_self_path(dj_buf *out, dj_err *err);

/*
 * Submit `script_path` with `sbatch --parsable`; the job id (e.g. "1234", no cluster suffix)
 * is appended to `jobid`. DJ_ENOTFOUND when sbatch is not installed, DJ_ERROR with sbatch's
 * own message when it refuses the job.
 */
int dj_sbatch(const char *script_path, dj_buf *jobid, dj_err *err);

#endif
