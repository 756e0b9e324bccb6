/*
 * Which Slurm job a process belongs to, for `djrun status`: the jobs table records each
 * reservation's host and pid (database.md §6.7) and nothing Slurm-specific, so the job is
 * found from Slurm's side, read once per status call:
 *  - on this node, `scontrol listpids` maps every pid of every local job step to its job
 *    (exact);
 *  - elsewhere, `squeue` tells which running jobs have the host in their node list (exact when
 *    one job runs there, else the candidates).
 * Without Slurm (commands missing or failing) the view is empty and status shows host:pid.
 */
#ifndef DJ_SLURM_VIEW_H
#define DJ_SLURM_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef struct dj_slurm_pid {
	int64_t pid;
	char job[64]; /* as squeue shows it: "1234", or "1234_5" for an array task */
} dj_slurm_pid;

typedef struct dj_slurm_running {
	char job[64];   /* display id ("1234_5") */
	char raw[32];   /* the job's own id (%A) */
	char **hosts;   /* expanded node list, NULL-terminated */
} dj_slurm_running;

typedef struct dj_slurm_view {
	bool available;        /* squeue answered */
	char node[256];        /* this host's name (uname), for the listpids match */
	dj_slurm_pid *pids;    /* from scontrol listpids on this node */
	size_t npids;
	dj_slurm_running *jobs; /* running jobs, from squeue */
	size_t njobs;
} dj_slurm_view;

/* Read Slurm's view. 0 also when Slurm is absent (available = false); < 0 out of memory. */
int dj_slurm_view_load(dj_slurm_view *v, dj_err *err);
void dj_slurm_view_dispose(dj_slurm_view *v);

/*
 * The job(s) of process `pid` on `host`: appends the job ids to `jobs` (comma-separated) and
 * returns "pid" (exact: listpids on this node), "node" (the one job running on that host),
 * "node?" (several jobs run there: all listed) or NULL (none known).
 */
const char *dj_slurm_view_find(const dj_slurm_view *v, const char *host, int64_t pid,
                               dj_buf *jobs);

#endif
