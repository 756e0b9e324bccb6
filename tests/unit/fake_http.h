/*
 * A scripted HTTP server for unit tests of the store backends: a forked child on a loopback port
 * answers one connection per script entry, in order, then exits. It logs one line per request
 * ("METHOD /path HTTP/1.1", plus chosen headers) to a pipe that fake_http_finish() returns.
 */
#ifndef DJ_TESTS_FAKE_HTTP_H
#define DJ_TESTS_FAKE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A script entry that reads the request head, then closes without answering (a dying server). */
#define FAKE_HTTP_DROP "!drop-request"

typedef struct fake_http_opts {
	const char *const *show; /* header prefixes such as "\r\nRange:" to append as " |Range: ..." */
	size_t nshow;
	/* Called with the request head; may write extra log lines (e.g. "UNSIGNED\n"). */
	void (*check)(const char *head, int log);
	bool add_length;           /* entries are "status+headers\r\n\r\nbody": add Content-Length */
	const char *log_body_when; /* log the request body when the head contains this text */
	unsigned timeout_s;        /* the child exits after this many seconds (0 = 20) */
} fake_http_opts;

typedef struct fake_http {
	pid_t pid;
	int port;
	int log; /* read end of the request log */
} fake_http;

/* Start the server (fails the test when it cannot). `o` may be NULL. */
fake_http fake_http_serve(const char *const *script, size_t n, const fake_http_opts *o);
/* Wait for the server to exit; return its request log (caller frees). */
char *fake_http_finish(fake_http *s);

#endif
