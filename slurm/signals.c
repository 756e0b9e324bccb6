#include "slurm/signals.h"

#include <pthread.h>
#include <string.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/*
 * Children (make commands, make servers) start with SIGUSR1 ignored, and keep it so across exec:
 * Slurm delivers a step's signals to every process of the step (srun's relay, scancel
 * --signal, --signal without B:), so without this the drain warning would kill the running makes
 * whose results the drain is waiting for. sigaction is async-signal-safe, as a fork child needs.
 */
static void ignore_usr1_in_child(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

volatile sig_atomic_t *dj_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	pthread_atfork(NULL, NULL, ignore_usr1_in_child);
	return &stop_signal;
}
