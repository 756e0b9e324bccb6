/* The per-key make protocol, command form: a process per key (jobs/make.h). */
#define _GNU_SOURCE /* close_range */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/make_internal.h"

extern char **environ;

void dj_make_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int dj_make_split(const char *cmd, char ***argv, dj_err *err)
{
	size_t n = 0, cap = 8;
	char **v = calloc(cap, sizeof(*v));
	*argv = NULL;
	if (!v)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (const char *p = cmd; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (n + 2 > cap) {
			char **nv = realloc(v, 2 * cap * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
			cap *= 2;
		}
		if (!(v[n++] = strndup(s, (size_t)(p - s))))
			goto nomem;
		v[n] = NULL;
	}
	if (n == 0) {
		free(v);
		return dj_err_set(err, DJ_EUSAGE, "empty make command");
	}
	*argv = v;
	return 0;
nomem:
	dj_make_argv_free(v);
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

/* `p` (owned) made absolute when it exists: the make runs with its scratch directory as cwd,
 * where a relative path no longer points at it. */
static char *absolute(char *p)
{
	char *abs = p && p[0] != '/' ? realpath(p, NULL) : NULL;
	if (!abs)
		return p;
	free(p);
	return abs;
}

/* The program to exec: argv0 itself if it has a '/', else the first match on $PATH; absolute. */
char *dj_make__resolve(const char *argv0)
{
	if (strchr(argv0, '/'))
		return absolute(strdup(argv0));
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *e = strchr(path, ':');
		size_t n = e ? (size_t)(e - path) : strlen(path);
		char *cand = malloc(n + strlen(argv0) + 2);
		if (!cand)
			return NULL;
		snprintf(cand, n + strlen(argv0) + 2, "%.*s/%s", (int)n, n ? path : ".", argv0);
		if (access(cand, X_OK) == 0)
			return absolute(cand);
		free(cand);
		path += n + (e ? 1 : 0);
	}
	return strdup(argv0); /* not found: dj_make_run's access() check reports it */
}

/* The environment plus our three variables, as a NULL-terminated array of owned strings. */
static char **make_env(const char *scratch)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "DJRUN_", 6) && !(env[k++] = strdup(environ[i])))
			goto fail;
	const char *fmt[] = {"DJRUN_KEY_JSON=%s/key.json", "DJRUN_OUTPUT_DIR=%s/outputs",
	                     "DJRUN_SCRATCH=%s"};
	for (size_t i = 0; i < 3; i++) {
		size_t len = strlen(fmt[i]) + strlen(scratch) + 1;
		if (!(env[k] = malloc(len)))
			goto fail;
		snprintf(env[k++], len, fmt[i], scratch);
	}
	return env;
fail:
	dj_make_argv_free(env);
	return NULL;
}

/* The last DJ_MAKE_TAIL_MAX bytes of a file (appended to out; nothing if absent). */
static void file_tail(const char *path, dj_buf *out)
{
	dj_buf all = DJ_BUF_INIT;
	dj_err e = DJ_ERR_INIT;
	if (dj_file_read(path, &all, &e) == 0)
		dj_make__tail_add(out, all.ptr, all.len);
	dj_buf_dispose(&all);
}

/* outputs/row.json and outputs/parts/<Part>.jsonl -> the result format of make.h. */
static int read_outputs(const char *scratch, dj_buf *result, dj_err *err)
{
	char outdir[DJ_MAKE_PATH_MAX + 16], path[DJ_MAKE_PATH_MAX + 32];
	json_error_t je;
	snprintf(outdir, sizeof(outdir), "%s/outputs", scratch);
	snprintf(path, sizeof(path), "%s/row.json", outdir);
	json_t *row = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *parts = NULL;
	dj_buf data = DJ_BUF_INIT;
	int rc;
	if (!row)
		return dj_err_set(err, DJ_EFORMAT, "OutputError: outputs/row.json: %s", je.text);
	if (!json_is_object(row))
		rc = dj_err_set(err, DJ_EFORMAT,
		                "OutputError: outputs/row.json is not a JSON object");
	else if ((rc = dj_make__npy_refs(row, outdir, &data, "outputs/row.json", err)) == 0 &&
	         (rc = dj_make__read_parts(outdir, &parts, &data, err)) == 0)
		rc = dj_make__result(result, row, parts, &data, err);
	json_decref(row);
	json_decref(parts);
	dj_buf_dispose(&data);
	return rc;
}

/* dj_make_run, and the command maker's key (`m` set: dj_maker_cancel can stop it). */
static int run_command(dj_maker *m, char *const *argv, const char *scratch_root,
                       const char *key_json, const dj_make_input *in, size_t nin,
                       dj_buf *result, dj_buf *tail, dj_err *err)
{
	char scratch[DJ_MAKE_PATH_MAX], path[DJ_MAKE_PATH_MAX + 32];
	char *prog = NULL;
	char **env = NULL;
	int fd_out = -1, fd_err = -1, fd_in = -1;
	int rc = dj_make__scratch_new(scratch, scratch_root, in, nin, err);
	if (rc < 0)
		goto done;
	snprintf(path, sizeof(path), "%s/key.json", scratch);
	if ((rc = dj_file_write(path, key_json, strlen(key_json), err)) < 0)
		goto done;
	prog = dj_make__resolve(argv[0]);
	env = make_env(scratch);
	snprintf(path, sizeof(path), "%s/stdout.log", scratch);
	fd_out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	snprintf(path, sizeof(path), "%s/stderr.log", scratch);
	fd_err = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (prog && access(prog, X_OK) < 0) { /* fail here, not in a child that cannot exec */
		rc = dj_err_os(err, "MakeError: cannot execute '%s'", argv[0]);
		goto done;
	}
	if (!prog || !env || fd_out < 0 || fd_err < 0 || fd_in < 0) {
		rc = dj_err_os(err, "MakeError: cannot start the make in '%s'", scratch);
		goto done;
	}
	pid_t pid = fork();
	if (pid < 0) {
		rc = dj_err_os(err, "MakeError: fork");
		goto done;
	}
	if (pid == 0) { /* only async-signal-safe calls from here */
		if (dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0 || dup2(fd_err, 2) < 0 ||
		    chdir(scratch) < 0)
			_exit(126);
#ifdef CLOSE_RANGE_CLOEXEC
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC); /* no inherited MPI or database sockets */
#endif
		execve(prog, argv, env);
		static const char msg[] = "djrun: cannot execute the make command\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
		_exit(errno == ENOENT ? 127 : 126);
	}
	int status = 0;
	if (m)
		dj_make__child_set(m, pid); /* cancelled already: killed at once */
	if (dj_make__child_wait(m, pid, &status) < 0) {
		rc = dj_err_os(err, "MakeError: waitpid");
		goto done;
	}
	if (m && dj_make__cancelled(m)) {
		rc = dj_err_set(err, DJ_ESTOP, "MakeError: %s stopped (the run's drain deadline)",
		                argv[0]);
		goto done;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if ((rc = read_outputs(scratch, result, err)) < 0)
			file_tail(path, tail);
		goto done;
	}
	file_tail(path, tail);
	char line[300];
	dj_make__last_line(tail, line, sizeof(line));
	if (WIFEXITED(status))
		rc = dj_err_set(err, DJ_ERROR, "MakeError: %s exited with status %d%s%s", argv[0],
		                WEXITSTATUS(status), *line ? ": " : "", line);
	else
		rc = dj_err_set(err, dj_make__signal_code(WTERMSIG(status)),
		                "MakeError: %s killed by signal %d%s%s", argv[0], WTERMSIG(status),
		                *line ? ": " : "", line);
done:
	if (fd_out >= 0)
		close(fd_out);
	if (fd_err >= 0)
		close(fd_err);
	if (fd_in >= 0)
		close(fd_in);
	free(prog);
	dj_make_argv_free(env);
	dj_make__scratch_remove(scratch);
	return rc;
}

/* --- as a dj_maker ------------------------------------------------------------------------ */

int dj_make_run(char *const *argv, const char *scratch_root, const char *key_json,
                const dj_make_input *in, size_t nin, dj_buf *result, dj_buf *tail, dj_err *err)
{
	return run_command(NULL, argv, scratch_root, key_json, in, nin, result, tail, err);
}

static int command_run(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
                       dj_buf *result, dj_buf *tail, dj_err *err)
{
	if (dj_make__cancelled(m))
		return dj_err_set(err, DJ_ESTOP, "MakeError: %s stopped (the run's drain deadline)",
		                  m->o.argv[0]);
	return run_command(m, m->o.argv, m->o.scratch_root, key_json, in, nin, result, tail, err);
}

static void command_close(dj_maker *m)
{
	dj_make__base_dispose(m);
	free(m);
}

static const dj_make_ops command_ops = {command_run, command_close};

int dj_make__command_open(dj_maker **out, const dj_make_opts *o, dj_err *err)
{
	if (!o->argv || !o->argv[0])
		return dj_err_set(err, DJ_EUSAGE, "empty make command");
	dj_maker *m = calloc(1, sizeof(*m));
	if (!m)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	dj_make__base_init(m, &command_ops, o);
	*out = m;
	return 0;
}
