/*
 * Stop requests: SIGTERM (scancel, the end of a time limit), SIGINT (Ctrl-C) and SIGUSR1 (Slurm's
 * --signal=B:USR1@T preemption warning) all ask the coordinator to drain: stop dispatching, let
 * running items finish, commit, release the rest, exit 75.
 */
#ifndef DJ_SLURM_SIGNALS_H
#define DJ_SLURM_SIGNALS_H

#include <signal.h>

/*
 * Install the handlers (without SA_RESTART, so sleeps return early and the loop looks) and return
 * the flag they set to the signal's number; give it to dj_run_opts.stop. Process-wide; call once.
 * Processes forked afterwards (make commands) start with SIGUSR1 ignored, which exec keeps: under
 * Slurm every process of a step gets the drain signal, and it must not kill the running makes.
 */
volatile sig_atomic_t *dj_signals_install(void);

#endif
