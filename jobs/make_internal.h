/*
 * Shared by the make forms (jobs/make_command.c, make_server.c, make_plugin.c, make_result.c);
 * no other layer includes it. Nothing here prints or reads the environment, except
 * dj_make__scratch_new's $TMPDIR default (as the command form always did).
 */
#ifndef DJ_JOBS_MAKE_INTERNAL_H
#define DJ_JOBS_MAKE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "jobs/make.h"

#define DJ_MAKE_PATH_MAX 4096

/* A fresh <root>/djrun-make-XXXXXX with an empty outputs/ and, when nin > 0, inputs/<name>
 * files (names must be plain file names). `dir` (cap DJ_MAKE_PATH_MAX) gets its path, also on
 * failure when it was made ("" otherwise), so the caller always removes it. */
int dj_make__scratch_new(char *dir, const char *root, const dj_make_input *in, size_t nin,
                         dj_err *err);
/* Make a used scratch directory as new: remove all but an empty outputs/, then write the
 * inputs. (A directory per key costs more than the make on a disk file system; the server form
 * reuses one.) */
int dj_make__scratch_clear(const char *dir, const dj_make_input *in, size_t nin, dj_err *err);
/* Remove a scratch directory and everything under it ("" is a no-op). */
void dj_make__scratch_remove(const char *dir);

/* Append to a stderr tail, keeping only its last DJ_MAKE_TAIL_MAX bytes. */
void dj_make__tail_add(dj_buf *tail, const void *p, size_t n);
/* The last non-empty line of `t` (for a one-line message), at most cap - 1 bytes. */
void dj_make__last_line(const dj_buf *t, char *out, size_t cap);
/* The code of a make killed by signal `sig`: DJ_ESTOP for SIGTERM and SIGINT (the job is being
 * shut down around it — Slurm and mpirun signal every process — so the key is released, not
 * failed), DJ_ERROR for any other signal (a crash, the OOM killer's SIGKILL). */
int dj_make__signal_code(int sig);

/* Set err to a make's own failure message: kept as is when it reads "<Kind>: <message>"
 * (Kind an identifier, as Python's exception names), else prefixed with "MakeError: ". */
int dj_make__error_msg(dj_err *err, const char *msg);

/*
 * Replace every {"npy": "f"} value of object `obj` by {"npy_off": O, "npy_len": L}, appending
 * the bytes of <outdir>/f to `data` (O relative to its start). Any other object value, a path
 * leaving outdir, or an unreadable file is an "OutputError: <what>: '<attr>': ..." error.
 */
int dj_make__npy_refs(json_t *obj, const char *outdir, dj_buf *data, const char *what, dj_err *err);

/* Check `parts` is {"Name": [{...}, ...], ...} with identifier names, then npy_refs each row. */
int dj_make__parts_refs(json_t *parts, const char *outdir, dj_buf *data, const char *what,
                        dj_err *err);

/* <outdir>/parts/<Part>.jsonl files -> *parts ({"Part": [rows]}, NULL when there is no parts/
 * folder), rows' npy values resolved into `data`. Errors name the file and line. */
int dj_make__read_parts(const char *outdir, json_t **parts, dj_buf *data, dj_err *err);

/* Append the result format of make.h: {"row": row, "parts": parts (when not NULL)} NUL data. */
int dj_make__result(dj_buf *result, json_t *row, json_t *parts, const dj_buf *data, dj_err *err);

/* The program to exec for argv0: itself if it has a '/', else the first match on $PATH (argv0
 * itself when none: exec then reports it). NULL when out of memory. */
char *dj_make__resolve(const char *argv0);

/* --- the forms behind dj_maker (make.c dispatches) ---------------------------------------- */

typedef struct dj_make_ops {
	int (*run)(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
	           dj_buf *result, dj_buf *tail, dj_err *err);
	void (*close)(dj_maker *m);
} dj_make_ops;

/* Every form's state starts with this (the form's struct extends it). */
struct dj_maker {
	const dj_make_ops *ops;
	dj_make_opts o;
	pthread_mutex_t cancel_mu; /* guards child and cancelled (dj_maker_cancel's thread) */
	pid_t child;               /* what dj_maker_cancel kills: a pid, -pgid, or 0 for none */
	bool cancelled;
};

/* Fill the shared part (a form's open, first); dispose it in the form's close, last. */
void dj_make__base_init(dj_maker *m, const dj_make_ops *ops, const dj_make_opts *o);
void dj_make__base_dispose(dj_maker *m);
/*
 * The process (pid) or process group (-pgid) running the current key, for dj_maker_cancel:
 * set it once started, set 0 before reaping it (so a reaped pid, which the system may reuse,
 * is never signalled). Setting a process after the maker was cancelled kills it at once and
 * returns false.
 */
bool dj_make__child_set(dj_maker *m, pid_t child);
bool dj_make__cancelled(dj_maker *m);
/* Wait for `pid` to exit without reaping it, clear it from `m` (may be NULL), then reap it.
 * Returns waitpid's result; *status its status. */
pid_t dj_make__child_wait(dj_maker *m, pid_t pid, int *status);

int dj_make__command_open(dj_maker **out, const dj_make_opts *o, dj_err *err);
int dj_make__server_open(dj_maker **out, const dj_make_opts *o, dj_err *err);
int dj_make__plugin_open(dj_maker **out, const dj_make_opts *o, dj_err *err);

/* True when `s` is an identifier ([A-Za-z_][A-Za-z0-9_]*), as part and kind names must be. */
int dj_make__is_ident(const char *s, size_t n);

#endif
