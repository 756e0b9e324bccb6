/* The make server form: one long-lived process per maker, JSON lines (jobs/make.h). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/make_internal.h"

extern char **environ;

#define REPLY_MAX ((size_t)64 << 20) /* a reply line; arrays travel as .npy files */
#define STOP_WAIT_S 2.0

typedef struct server {
	dj_maker base;
	char *prog;
	pid_t pid;                      /* 0 when not running */
	int io;                         /* our end of the server's stdin + stdout */
	int errfd;                      /* its stderr */
	int status;                     /* wait status once reaped */
	dj_buf in;                      /* bytes read from its stdout, not yet a whole line */
	dj_buf errtxt;                  /* its stderr during the current key (tail) */
	char scratch[DJ_MAKE_PATH_MAX]; /* made at open, emptied before each key */
} server;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read what stderr has now (non-blocking) into the key's tail. 1 at EOF, else 0. */
static int drain_stderr(server *s)
{
	char buf[8192];
	for (;;) {
		ssize_t n = read(s->errfd, buf, sizeof(buf));
		if (n > 0) {
			dj_make__tail_add(&s->errtxt, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0;
	}
}

/* The server runs in a process group of its own: kill it and whatever it started. */
static void kill_group(pid_t pid)
{
	if (kill(-pid, SIGKILL) < 0)
		kill(pid, SIGKILL);
}

static void close_fds(server *s)
{
	if (s->io >= 0)
		close(s->io);
	if (s->errfd >= 0)
		close(s->errfd);
	s->io = s->errfd = -1;
	dj_buf_setlen(&s->in, 0);
}

/* Wait up to `wait_s` for the server to exit (collecting its stderr), then SIGKILL it. */
static void reap(server *s, double wait_s)
{
	double end = now_s() + wait_s;
	int eof = 0;
	dj_make__child_set(&s->base, 0); /* never signalled again once reaped */
	while (s->pid) {
		pid_t r = waitpid(s->pid, &s->status, WNOHANG);
		if (r == s->pid || (r < 0 && errno != EINTR)) {
			s->pid = 0;
			break;
		}
		if (r == 0 && now_s() >= end) {
			kill_group(s->pid);
			end = INFINITY; /* waitpid now returns soon */
		}
		if (!eof && s->errfd >= 0) {
			struct pollfd pf = {s->errfd, POLLIN, 0};
			if (poll(&pf, 1, 10) > 0)
				eof = drain_stderr(s);
		} else {
			poll(NULL, 0, 5);
		}
	}
	if (!eof && s->errfd >= 0)
		drain_stderr(s);
	close_fds(s);
}

static int server_start(server *s, dj_err *err)
{
	int sv[2] = {-1, -1}, ep[2] = {-1, -1}, xp[2] = {-1, -1};
	char *const *argv = s->base.o.argv;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0 || pipe2(xp, O_CLOEXEC) < 0) {
		int rc = dj_err_os(err, "MakeError: cannot start the make server");
		for (int i = 0; i < 2; i++) {
			if (sv[i] >= 0)
				close(sv[i]);
			if (ep[i] >= 0)
				close(ep[i]);
		}
		return rc;
	}
	pid_t pid = fork();
	if (pid == 0) { /* only async-signal-safe calls from here */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		if (dup2(sv[1], 0) >= 0 && dup2(sv[1], 1) >= 0 && dup2(ep[1], 2) >= 0) {
#ifdef CLOSE_RANGE_CLOEXEC
			/* no inherited MPI or database sockets: the server sees only 0, 1, 2 */
			close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
			execve(s->prog, argv, environ);
		}
		int e = errno;
		ssize_t w = write(xp[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	int e = 0, rc = 0;
	dj_buf_setlen(&s->errtxt, 0);
	close(sv[1]);
	close(ep[1]);
	close(xp[1]);
	if (pid < 0) {
		rc = dj_err_os(err, "MakeError: fork");
		close(sv[0]);
		close(ep[0]);
		close(xp[0]);
		return rc;
	}
	setpgid(pid, pid); /* also here: no window where a kill of the group misses it */
	s->pid = pid;
	s->io = sv[0];
	s->errfd = ep[0];
	ssize_t n;
	while ((n = read(xp[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(xp[0]);
	if (n == (ssize_t)sizeof(e)) { /* the exec failed */
		reap(s, 1);
		errno = e;
		return dj_err_os(err, "MakeError: cannot execute make server '%s'", argv[0]);
	}
	fcntl(s->io, F_SETFL, fcntl(s->io, F_GETFL) | O_NONBLOCK);
	fcntl(s->errfd, F_SETFL, fcntl(s->errfd, F_GETFL) | O_NONBLOCK);
	return 0;
}

/* The server is gone or unusable: stop it and describe how it ended. */
static int server_died(server *s, dj_buf *tail, dj_err *err)
{
	char line[300];
	reap(s, 1);
	dj_make__tail_add(tail, s->errtxt.ptr, s->errtxt.len);
	dj_make__last_line(&s->errtxt, line, sizeof(line));
	if (WIFSIGNALED(s->status))
		return dj_err_set(err, dj_make__signal_code(WTERMSIG(s->status)),
		                  "MakeError: make server killed by signal %d%s%s",
		                  WTERMSIG(s->status), *line ? ": " : "", line);
	return dj_err_set(err, DJ_ERROR, "MakeError: make server exited with status %d%s%s",
	                  WEXITSTATUS(s->status), *line ? ": " : "", line);
}

/* Send `req` (a line) and read one reply line into s->in (its '\n' at *len). */
static int exchange(server *s, const char *req, size_t rlen, size_t *len, dj_buf *tail, dj_err *err)
{
	double deadline = s->base.o.timeout_s > 0 ? now_s() + s->base.o.timeout_s : INFINITY;
	size_t sent = 0, scanned = 0;
	for (;;) {
		char *nl = memchr(s->in.ptr + scanned, '\n', s->in.len - scanned);
		if (nl) {
			*len = (size_t)(nl - s->in.ptr);
			return 0;
		}
		scanned = s->in.len;
		if (s->in.len > REPLY_MAX) {
			reap(s, 0);
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: make server reply longer than %zu bytes",
			                  REPLY_MAX);
		}
		struct pollfd pf[2] = {{s->io, (short)(POLLIN | (sent < rlen ? POLLOUT : 0)), 0},
		                       {s->errfd, POLLIN, 0}};
		double left = deadline - now_s();
		if (left <= 0) {
			kill_group(s->pid);
			reap(s, 1);
			dj_make__tail_add(tail, s->errtxt.ptr, s->errtxt.len);
			return dj_err_set(err, DJ_ERROR,
			                  "MakeError: make server timed out after %g s",
			                  s->base.o.timeout_s);
		}
		int r = poll(pf, 2, left > 3.6e6 ? 3600 * 1000 : (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR)
			return dj_err_os(err, "MakeError: poll");
		if (r <= 0)
			continue;
		if (pf[1].revents)
			drain_stderr(s);
		if (sent < rlen && (pf[0].revents & POLLOUT)) {
			ssize_t n = send(s->io, req + sent, rlen - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return server_died(s, tail, err); /* EPIPE, ECONNRESET */
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (dj_buf_grow(&s->in, 65536) < 0)
				return dj_err_set(err, DJ_ENOMEM, "out of memory");
			ssize_t n = read(s->io, s->in.ptr + s->in.len, s->in.cap - s->in.len - 1);
			if (n > 0)
				dj_buf_setlen(&s->in, s->in.len + (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				return server_died(s, tail, err);
		}
	}
}

/* Whether the server wrote something while no key was asked of it. */
static int stale_output(server *s)
{
	char c;
	ssize_t n = recv(s->io, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 1;
}

/* The request line of make.h for one key. */
static int request(dj_buf *out, const char *scratch, const char *key_json, const dj_make_input *in,
                   size_t nin, dj_err *err)
{
	char path[DJ_MAKE_PATH_MAX + 300];
	json_error_t je;
	json_t *key = json_loads(key_json, 0, &je);
	if (!key)
		return dj_err_set(err, DJ_EUSAGE, "MakeError: the key is not JSON: %s", je.text);
	json_t *ins = json_object();
	for (size_t i = 0; ins && i < nin; i++) {
		snprintf(path, sizeof(path), "%s/inputs/%s", scratch, in[i].name);
		if (json_object_set_new(ins, in[i].name, json_string(path)) < 0) {
			json_decref(ins);
			ins = NULL;
		}
	}
	snprintf(path, sizeof(path), "%s/outputs", scratch);
	json_t *req = json_pack("{s:o, s:s, s:o?, s:s}", "key", key, "scratch", scratch, "inputs",
	                        ins, "output_dir", path);
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	int rc = 0;
	if (!text || dj_buf_adds(out, text) < 0 || dj_buf_addc(out, '\n') < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	free(text);
	return rc;
}

/* One reply line -> result, or the key's own error. */
static int reply(server *s, const char *line, size_t len, const char *scratch, dj_buf *result,
                 dj_buf *tail, dj_err *err)
{
	char outdir[DJ_MAKE_PATH_MAX + 16];
	json_error_t je;
	json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	dj_buf data = DJ_BUF_INIT;
	int rc = 0;
	if (!doc || !json_is_object(doc)) {
		char head[81];
		snprintf(head, sizeof(head), "%.*s", (int)(len < 80 ? len : 80), line);
		for (char *c = head; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = '?';
		rc = dj_err_set(err, DJ_EFORMAT, "OutputError: make server reply is not %s: '%s'",
		                doc ? "a JSON object" : "JSON", head);
		json_decref(doc);
		reap(s, 0); /* out of step with us: start afresh */
		dj_make__tail_add(tail, s->errtxt.ptr, s->errtxt.len);
		return rc;
	}
	json_t *e = json_object_get(doc, "error"), *row = json_object_get(doc, "row");
	json_t *parts = json_object_get(doc, "parts");
	const char *k;
	json_t *v;
	json_object_foreach(doc, k, v)
	{
		if (strcmp(k, "error") && strcmp(k, "stack") && strcmp(k, "row") &&
		    strcmp(k, "parts"))
			rc =
			    dj_err_set(err, DJ_EFORMAT,
			               "OutputError: make server reply: unexpected member '%s'", k);
	}
	snprintf(outdir, sizeof(outdir), "%s/outputs", scratch);
	if (rc < 0) {
	} else if (e) {
		json_t *stack = json_object_get(doc, "stack");
		rc = dj_make__error_msg(err, json_is_string(e)
		                                 ? json_string_value(e)
		                                 : "make server gave a non-string error");
		if (json_is_string(stack))
			dj_make__tail_add(tail, json_string_value(stack),
			                  json_string_length(stack));
		else
			dj_make__tail_add(tail, s->errtxt.ptr, s->errtxt.len);
	} else if (!json_is_object(row)) {
		rc = dj_err_set(err, DJ_EFORMAT,
		                "OutputError: make server reply has no \"row\" object (or "
		                "\"error\")");
	} else if ((rc = dj_make__npy_refs(row, outdir, &data, "make server reply row", err)) ==
	               0 &&
	           (!parts || (rc = dj_make__parts_refs(parts, outdir, &data, "make server reply",
	                                                err)) == 0)) {
		rc = dj_make__result(result, row, parts, &data, err);
	}
	if (rc < 0 && !e)
		dj_make__tail_add(tail, s->errtxt.ptr, s->errtxt.len);
	json_decref(doc);
	dj_buf_dispose(&data);
	return rc;
}

static int server_run(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
                      dj_buf *result, dj_buf *tail, dj_err *err)
{
	server *s = (server *)m;
	dj_buf req = DJ_BUF_INIT;
	size_t len = 0;
	int rc;
	if (s->pid && (s->in.len || stale_output(s))) /* more than one line for the last key */
		reap(s, 0);                           /* out of step: start afresh */
	if (dj_make__cancelled(m))
		return dj_err_set(err, DJ_ESTOP, "MakeError: make server stopped (the run's drain "
		                                 "deadline)");
	if (!s->pid && (rc = server_start(s, err)) < 0)
		return rc;
	dj_make__child_set(m, -s->pid); /* its process group */
	if ((rc = dj_make__scratch_clear(s->scratch, in, nin, err)) == 0 &&
	    (rc = request(&req, s->scratch, key_json, in, nin, err)) == 0 &&
	    (rc = exchange(s, req.ptr, req.len, &len, tail, err)) == 0) {
		drain_stderr(s);
		rc = reply(s, s->in.ptr, len, s->scratch, result, tail, err);
		if (s->pid) { /* keep what follows the line (nothing, for a well-behaved server) */
			memmove(s->in.ptr, s->in.ptr + len + 1, s->in.len - len - 1);
			dj_buf_setlen(&s->in, s->in.len - len - 1);
		}
	}
	dj_buf_dispose(&req);
	dj_buf_setlen(&s->errtxt, 0); /* a key's stderr: what came since the last key ended */
	dj_make__child_set(m, 0);
	if (rc < 0 && dj_make__cancelled(m)) {
		dj_err_clear(err);
		rc = dj_err_set(err, DJ_ESTOP, "MakeError: make server stopped (the run's drain "
		                               "deadline)");
	}
	return rc;
}

static void server_close(dj_maker *m)
{
	server *s = (server *)m;
	if (s->pid) {
		shutdown(s->io, SHUT_WR); /* end of its stdin: a server's cue to exit */
		reap(s, STOP_WAIT_S);
	}
	close_fds(s);
	dj_make__scratch_remove(s->scratch);
	dj_buf_dispose(&s->in);
	dj_buf_dispose(&s->errtxt);
	free(s->prog);
	dj_make__base_dispose(&s->base);
	free(s);
}

static const dj_make_ops server_ops = {server_run, server_close};

int dj_make__server_open(dj_maker **out, const dj_make_opts *o, dj_err *err)
{
	if (!o->argv || !o->argv[0])
		return dj_err_set(err, DJ_EUSAGE, "empty make server command");
	server *s = calloc(1, sizeof(*s));
	if (!s || !(s->prog = dj_make__resolve(o->argv[0]))) {
		free(s);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	dj_make__base_init(&s->base, &server_ops, o);
	s->io = s->errfd = -1;
	s->in = (dj_buf)DJ_BUF_INIT;
	s->errtxt = (dj_buf)DJ_BUF_INIT;
	int rc = dj_make__scratch_new(s->scratch, o->scratch_root, NULL, 0, err);
	if (rc == 0)
		rc = server_start(s, err);
	if (rc < 0) {
		server_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}
