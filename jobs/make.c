/* dj_maker: every make form behind one interface (jobs/make.h); the forms are make_*.c. */
#include "jobs/make.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "jobs/make_internal.h"

int dj_maker_open(dj_maker **out, const dj_make_opts *o, dj_err *err)
{
	*out = NULL;
	switch (o->kind) {
	case DJ_MAKE_COMMAND:
		return dj_make__command_open(out, o, err);
	case DJ_MAKE_SERVER:
		return dj_make__server_open(out, o, err);
	case DJ_MAKE_PLUGIN:
		return dj_make__plugin_open(out, o, err);
	}
	return dj_err_set(err, DJ_EUSAGE, "unknown make form %d", (int)o->kind);
}

int dj_maker_run(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
                 dj_buf *result, dj_buf *tail, dj_err *err)
{
	return m->ops->run(m, key_json, in, nin, result, tail, err);
}

void dj_maker_cancel(dj_maker *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->cancel_mu);
	m->cancelled = true;
	if (m->child)
		kill(m->child, SIGKILL);
	pthread_mutex_unlock(&m->cancel_mu);
}

void dj_make__base_init(dj_maker *m, const dj_make_ops *ops, const dj_make_opts *o)
{
	m->ops = ops;
	m->o = *o;
	m->child = 0;
	m->cancelled = false;
	pthread_mutex_init(&m->cancel_mu, NULL);
}

void dj_make__base_dispose(dj_maker *m)
{
	pthread_mutex_destroy(&m->cancel_mu);
}

bool dj_make__child_set(dj_maker *m, pid_t child)
{
	pthread_mutex_lock(&m->cancel_mu);
	bool go = !(child && m->cancelled);
	if (!go)
		kill(child, SIGKILL);
	m->child = go ? child : 0;
	pthread_mutex_unlock(&m->cancel_mu);
	return go;
}

bool dj_make__cancelled(dj_maker *m)
{
	pthread_mutex_lock(&m->cancel_mu);
	bool c = m->cancelled;
	pthread_mutex_unlock(&m->cancel_mu);
	return c;
}

pid_t dj_make__child_wait(dj_maker *m, pid_t pid, int *status)
{
	siginfo_t si;
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	if (m)
		dj_make__child_set(m, 0);
	pid_t r;
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	return r;
}

void dj_maker_close(dj_maker *m)
{
	if (m)
		m->ops->close(m);
}
