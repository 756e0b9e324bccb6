#include "tests/unit/fake_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void log_line(const char *buf, const char *eoh, const fake_http_opts *o, int log)
{
	(void)!write(log, buf, (size_t)(strchr(buf, '\r') - buf));
	for (size_t i = 0; o && i < o->nshow; i++) {
		const char *h = strstr(buf, o->show[i]);
		if (h && h < eoh && write(log, " |", 2) == 2)
			(void)!write(log, h + 2, (size_t)(strchr(h + 2, '\r') - h - 2));
	}
	(void)!write(log, "\n", 1);
	if (o && o->check)
		o->check(buf, log);
}

/* Read one request: log its head, then drain (and maybe log) the body unless dropping. */
static void read_request(int c, bool drop, const fake_http_opts *o, int log)
{
	char buf[65536], *eoh = NULL, *cl;
	size_t len = 0, body = 0, have;
	bool show_body;
	while (!eoh && len < sizeof(buf) - 1) {
		ssize_t k = read(c, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0)
			return;
		len += (size_t)k;
		buf[len] = '\0';
		eoh = strstr(buf, "\r\n\r\n");
	}
	if (!eoh)
		return;
	log_line(buf, eoh, o, log);
	if ((cl = strstr(buf, "\r\nContent-Length:"))) /* as curl writes it */
		body = strtoul(cl + 17, NULL, 10);
	if (drop) /* the server dies mid-upload: a few body bytes at most */
		return;
	show_body = o && o->log_body_when && strstr(buf, o->log_body_when);
	have = len - (size_t)(eoh + 4 - buf);
	memmove(buf, eoh + 4, have);
	while (have < body) {
		size_t at = show_body ? have : 0;
		ssize_t k = read(c, buf + at, sizeof(buf) - 1 - at);
		if (k <= 0 || (show_body && at + (size_t)k >= sizeof(buf) - 1))
			return;
		have += (size_t)k;
	}
	if (show_body && write(log, buf, have) >= 0)
		(void)!write(log, "\n", 1);
}

static int answer(int c, const char *entry, const fake_http_opts *o)
{
	const char *body;
	char len[64];
	if (!o || !o->add_length)
		return write(c, entry, strlen(entry)) < 0 ? -1 : 0;
	body = strstr(entry, "\r\n\r\n") + 4;
	snprintf(len, sizeof(len), "Content-Length: %zu\r\n\r\n", strlen(body));
	return write(c, entry, (size_t)(body - 2 - entry)) < 0 || write(c, len, strlen(len)) < 0 ||
			       write(c, body, strlen(body)) < 0
		       ? -1
		       : 0;
}

fake_http fake_http_serve(const char *const *script, size_t n, const fake_http_opts *o)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), pfd[2], one = 1;
	fake_http s;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(pipe(pfd), 0);
	s.port = ntohs(a.sin_port);
	if ((s.pid = fork()) == 0) {
		alarm(o && o->timeout_s ? o->timeout_s : 20); /* a failed test leaves no server */
		close(pfd[0]);
		for (size_t i = 0; i < n; i++) {
			int c = accept(lfd, NULL, NULL);
			bool drop = !strcmp(script[i], FAKE_HTTP_DROP);
			if (c < 0)
				_exit(1);
			read_request(c, drop, o, pfd[1]);
			if (!drop && answer(c, script[i], o) < 0)
				_exit(1);
			close(c);
		}
		_exit(0);
	}
	close(lfd);
	close(pfd[1]);
	s.log = pfd[0];
	return s;
}

char *fake_http_finish(fake_http *s)
{
	char *log = calloc(1, 65536);
	size_t len = 0;
	ssize_t k;
	int status;
	while ((k = read(s->log, log + len, 65535 - len)) > 0)
		len += (size_t)k;
	close(s->log);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	return log;
}
