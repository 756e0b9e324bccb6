/* The per-key make protocol, command form (jobs/make.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "jobs/make.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The program to exec: argv0 itself if it has a '/', else the first match on $PATH. */
static char *resolve(const char *argv0)
{
	if (strchr(argv0, '/'))
		return strdup(argv0);
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
			return cand;
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
	dj_buf all = {0};
	dj_err e = DJ_ERR_INIT;
	if (dj_file_read(path, &all, &e) == 0) {
		size_t off = all.len > DJ_MAKE_TAIL_MAX ? all.len - DJ_MAKE_TAIL_MAX : 0;
		dj_buf_add(out, (const char *)all.ptr + off, all.len - off);
	}
	dj_buf_dispose(&all);
}

/* The last non-empty line of `t` (for the one-line message), at most 300 bytes. */
static void last_line(const dj_buf *t, char *out, size_t cap)
{
	size_t end = t->len;
	const char *s = (const char *)t->ptr;
	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '))
		end--;
	size_t beg = end;
	while (beg > 0 && s[beg - 1] != '\n')
		beg--;
	size_t n = end - beg;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s + beg, n);
	out[n] = 0;
}

/* outputs/row.json -> the result format of make.h. */
static int read_row(const char *scratch, dj_buf *result, dj_err *err)
{
	char path[4200];
	json_error_t je;
	snprintf(path, sizeof(path), "%s/outputs/row.json", scratch);
	json_t *row = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	dj_buf data = {0};
	int rc = 0;
	if (!row)
		return dj_err_set(err, DJ_EFORMAT, "OutputError: outputs/row.json: %s", je.text);
	if (!json_is_object(row)) {
		rc = dj_err_set(err, DJ_EFORMAT,
		                "OutputError: outputs/row.json is not a JSON object");
		goto done;
	}
	const char *k;
	json_t *v;
	json_object_foreach(row, k, v)
	{
		json_t *f = json_is_object(v) ? json_object_get(v, "npy") : NULL;
		if (!json_is_object(v))
			continue;
		if (!json_is_string(f) || json_object_size(v) != 1) {
			rc = dj_err_set(
			    err, DJ_EFORMAT,
			    "OutputError: outputs/row.json: '%s': an object value must be "
			    "{\"npy\": \"file.npy\"}",
			    k);
			goto done;
		}
		const char *name = json_string_value(f);
		if (!*name || name[0] == '/' || strstr(name, "..")) {
			rc = dj_err_set(
			    err, DJ_EFORMAT,
			    "OutputError: '%s': npy file '%s' must be a path inside outputs/", k,
			    name);
			goto done;
		}
		size_t off = data.len;
		snprintf(path, sizeof(path), "%s/outputs/%s", scratch, name);
		if ((rc = dj_file_read(path, &data, err)) < 0) {
			dj_err_context(err, "OutputError: '%s': outputs/%s", k, name);
			goto done;
		}
		json_t *ref = json_pack("{s:I, s:I}", "npy_off", (json_int_t)off, "npy_len",
		                        (json_int_t)(data.len - off));
		if (!ref || json_object_set_new(row, k, ref) < 0) {
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
			goto done;
		}
	}
	json_t *doc = json_pack("{s:O}", "row", row);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text || dj_buf_adds(result, text) < 0 || dj_buf_addc(result, 0) < 0 ||
	    dj_buf_add(result, data.ptr, data.len) < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	free(text);
done:
	json_decref(row);
	dj_buf_dispose(&data);
	return rc;
}

/* inputs/<name> for each input; names must stay inside inputs/. */
static int write_inputs(const char *scratch, const dj_make_input *in, size_t nin, dj_err *err)
{
	char path[4200];
	if (nin == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/inputs", scratch);
	if (mkdir(path, 0777) < 0)
		return dj_err_os(err, "MakeError: cannot make '%s'", path);
	for (size_t i = 0; i < nin; i++) {
		if (!*in[i].name || strchr(in[i].name, '/') || !strcmp(in[i].name, "..") ||
		    !strcmp(in[i].name, "."))
			return dj_err_set(err, DJ_EUSAGE, "MakeError: bad input name '%s'",
			                  in[i].name);
		snprintf(path, sizeof(path), "%s/inputs/%s", scratch, in[i].name);
		int rc = dj_file_write(path, in[i].data, in[i].len, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int dj_make_run(char *const *argv, const char *scratch_root, const char *key_json,
                const dj_make_input *in, size_t nin, dj_buf *result, dj_buf *tail, dj_err *err)
{
	char scratch[4096], path[4200];
	const char *root = scratch_root ? scratch_root : getenv("TMPDIR");
	if (!root || !*root)
		root = "/tmp";
	snprintf(scratch, sizeof(scratch), "%s/djrun-make-XXXXXX", root);
	if (!mkdtemp(scratch))
		return dj_err_os(err, "MakeError: cannot make a scratch directory in '%s'", root);
	int rc = 0;
	char *prog = NULL;
	char **env = NULL;
	int fd_out = -1, fd_err = -1, fd_in = -1;
	snprintf(path, sizeof(path), "%s/outputs", scratch);
	if (mkdir(path, 0777) < 0) {
		rc = dj_err_os(err, "MakeError: cannot make '%s'", path);
		goto done;
	}
	snprintf(path, sizeof(path), "%s/key.json", scratch);
	if ((rc = dj_file_write(path, key_json, strlen(key_json), err)) < 0 ||
	    (rc = write_inputs(scratch, in, nin, err)) < 0)
		goto done;
	prog = resolve(argv[0]);
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
		execve(prog, argv, env);
		static const char msg[] = "djrun: cannot execute the make command\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
		_exit(errno == ENOENT ? 127 : 126);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = dj_err_os(err, "MakeError: waitpid");
			goto done;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if ((rc = read_row(scratch, result, err)) < 0)
			file_tail(path, tail);
		goto done;
	}
	file_tail(path, tail);
	char line[300];
	last_line(tail, line, sizeof(line));
	if (WIFEXITED(status))
		rc = dj_err_set(err, DJ_ERROR, "MakeError: %s exited with status %d%s%s", argv[0],
		                WEXITSTATUS(status), *line ? ": " : "", line);
	else
		rc = dj_err_set(err, DJ_ERROR, "MakeError: %s killed by signal %d%s%s", argv[0],
		                WTERMSIG(status), *line ? ": " : "", line);
done:
	if (fd_out >= 0)
		close(fd_out);
	if (fd_err >= 0)
		close(fd_err);
	if (fd_in >= 0)
		close(fd_in);
	free(prog);
	dj_make_argv_free(env);
	nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

int dj_make_result_split(const void *p, size_t n, const char **json, size_t *jlen,
                         const unsigned char **data, size_t *dlen, dj_err *err)
{
	const char *nul = memchr(p, 0, n);
	if (!nul)
		return dj_err_set(err, DJ_EFORMAT, "make result without its row");
	*json = p;
	*jlen = (size_t)(nul - (const char *)p);
	*data = (const unsigned char *)nul + 1;
	*dlen = n - *jlen - 1;
	return 0;
}

/* --- dj_maker ------------------------------------------------------------------------------ */

struct dj_maker {
	dj_make_opts o;
};

int dj_maker_open(dj_maker **out, const dj_make_opts *o, dj_err *err)
{
	*out = NULL;
	if (o->kind != DJ_MAKE_COMMAND)
		return dj_err_set(err, DJ_ENOTSUP, "this make form is not built yet");
	if (!o->argv || !o->argv[0])
		return dj_err_set(err, DJ_EUSAGE, "empty make command");
	dj_maker *m = calloc(1, sizeof(*m));
	if (!m)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	m->o = *o;
	*out = m;
	return 0;
}

int dj_maker_run(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
                 dj_buf *result, dj_buf *tail, dj_err *err)
{
	return dj_make_run(m->o.argv, m->o.scratch_root, key_json, in, nin, result, tail, err);
}

void dj_maker_close(dj_maker *m)
{
	free(m);
}
