/*
 * The per-key make protocol (DESIGN.md "The make protocol"): three forms behind one interface.
 *
 * Command form (--make, dj_make_run): one process per key. For each key a scratch directory is
 * made under `scratch_root`:
 *   <scratch>/key.json        the key, one JSON object {"attr": value, ...}
 *   <scratch>/inputs/<name>   the key's fetched inputs (dj_make_input), when there are any
 *   <scratch>/outputs/        where the make writes row.json, parts/ and any .npy files it names
 * The command runs with no shell (argv as given), cwd = <scratch>, stdin /dev/null, stdout to
 * <scratch>/stdout.log, stderr to <scratch>/stderr.log, and in its environment
 *   DJRUN_KEY_JSON=<scratch>/key.json  DJRUN_OUTPUT_DIR=<scratch>/outputs  DJRUN_SCRATCH=<scratch>
 * Exit 0 = success: outputs/row.json must hold one JSON object of attribute values; a value
 * {"npy": "file.npy"} names a .npy file in outputs/ (for <blob>, <blob@> and <npy@> columns),
 * {"file": "name"} any file in outputs/ (for <attach>, <attach@>, <object@>, <hash@> and bytes
 * columns: the file's contents, and for attachments its name). Part rows go in
 * outputs/parts/<Part>.jsonl, one JSON object per line (the part's own attributes, values as
 * in row.json; blank lines skipped); a file with no rows gives an empty list. Any other exit
 * status is a failure whose details are the tail of stderr. The scratch directory is removed.
 *
 * Server form (--make-server, DJ_MAKE_SERVER): one long-lived process per maker (per rank),
 * started at dj_maker_open with no shell, in djrun's working directory, in a process group of
 * its own (a Ctrl-C for djrun's drain does not kill it mid-key). Its stdin and stdout are the
 * protocol channel (one socket: write and flush every reply), its stderr is captured. It has
 * one scratch directory, made at open and emptied before each key (inputs/ then written,
 * outputs/ empty: a directory per key costs more than a trivial make on a disk file system),
 * and per key one request line is written:
 *   {"key": {...}, "scratch": "<scratch>", "inputs": {"name": "<scratch>/inputs/name"},
 *    "output_dir": "<scratch>/outputs"}
 * The server answers with exactly one line:
 *   {"row": {...}, "parts": {"Part": [{...}, ...]}}    ("parts" optional; values as in
 *                                                      row.json, {"npy": f} relative to
 *                                                      output_dir)
 *   {"error": "Kind: message", "stack": "..."}        a failed key ("stack" optional)
 * The error's `tail` is "stack" when given, else what the server wrote on stderr since the
 * previous key ended (or since it started). A reply that is not a JSON object, a server that exits
 * (or closes stdout), and a key over `timeout_s` fail that key ("OutputError: make server reply is
 * not JSON: ...", "MakeError: make server exited with status N: <last stderr line>", "MakeError:
 * make server timed out after S s"); the server is then stopped and a new one started for the next
 * key. So is a server that wrote more than its one line for the previous key (out of step).
 * dj_maker_close closes its stdin and waits up to 2 s for it to exit, then kills it.
 *
 * Plugin form (--make-plugin, DJ_MAKE_PLUGIN): a shared library with the ABI of the installed
 * header include/djrun_make.h, dlopen'ed once per maker; djrun_make() runs in this process and
 * thread, so a plugin that crashes kills its rank. Errors: "MakeError: ..." (or the plugin's own
 * "Kind: message"), "OutputError: ..." for a setter given bad values.
 *
 * The result bytes (success) are self-contained, to travel to rank 0:
 *   <doc JSON> NUL <npy bytes ...>
 * where doc is {"row": {attr: value, ...}, "parts": {"PartName": [{...}, ...], ...}} ("parts"
 * may be absent), and each {"npy": f} value is replaced by {"npy_off": O, "npy_len": L}, the
 * file's bytes at offset O of the npy bytes ({"file": f}: {"file_off": O, "file_len": L,
 * "file_name": basename}). Every make form (command, server, plugin)
 * produces this same format, so rank 0 does not care which ran.
 * Library code: nothing is printed; the process' own signal handlers and stdio are untouched
 * (writes to a server use MSG_NOSIGNAL: a dead server is no SIGPIPE).
 */
#ifndef DJ_JOBS_MAKE_H
#define DJ_JOBS_MAKE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define DJ_MAKE_TAIL_MAX 4000 /* bytes of stderr kept for error_stack */

/* One fetched input of a key (--fetch): a file the make finds as inputs/<name>. */
typedef struct dj_make_input {
	const char *name; /* "Recording.trace.npy", "Session.session_date.json" */
	const void *data;
	size_t len;
} dj_make_input;

/*
 * Split `cmd` on spaces and tabs into a NULL-terminated argv (no quoting rules: use the
 * argv form after `--` for arguments with spaces). DJ_EUSAGE for an empty command. Free with
 * dj_make_argv_free.
 */
int dj_make_split(const char *cmd, char ***argv, dj_err *err);
void dj_make_argv_free(char **argv);

/*
 * Run the make for one key. `key_json` is the key object's text; `scratch_root` NULL means
 * $TMPDIR or /tmp. On success appends the result (format above) to `result` and returns 0.
 * On failure returns < 0 with `err` "MakeError: ..." (the exit status or signal and the last
 * stderr line), or "OutputError: ..." for a missing or malformed row.json or part file (naming
 * the file and line), and appends the stderr tail (at most DJ_MAKE_TAIL_MAX bytes) to `tail`.
 */
int dj_make_run(char *const *argv, const char *scratch_root, const char *key_json,
                const dj_make_input *in, size_t nin, dj_buf *result, dj_buf *tail, dj_err *err);

/* --- every make form behind one interface ------------------------------------------------ */

typedef enum dj_make_kind {
	DJ_MAKE_COMMAND, /* a process per key (dj_make_run) */
	DJ_MAKE_SERVER,  /* one long-lived process per rank, JSON lines */
	DJ_MAKE_PLUGIN,  /* a shared library with the djrun_make.h ABI */
} dj_make_kind;

typedef struct dj_make_opts {
	dj_make_kind kind;
	/* COMMAND, SERVER: the program and its arguments. PLUGIN: NULL, or the arguments given
	 * to djrun_make_init (argv[0] conventionally the library path). Borrowed. */
	char *const *argv;
	const char *plugin;       /* PLUGIN: path of the shared library */
	const char *scratch_root; /* NULL = $TMPDIR or /tmp */
	double timeout_s;         /* SERVER: per-key limit, 0 = none */
} dj_make_opts;

/* A make ready to run keys; one per rank (one thread). */
typedef struct dj_maker dj_maker;

/* Prepare a make (SERVER: start the process; PLUGIN: load the library, check its ABI version
 * and run its djrun_make_init). DJ_EUSAGE for bad options, DJ_ENOTSUP for a plugin built
 * for another ABI or missing djrun_make, else the error of starting it. `o` is copied; what
 * it points to must outlive the maker. */
int dj_maker_open(dj_maker **out, const dj_make_opts *o, dj_err *err);

/*
 * Run the make for one key, as dj_make_run (same result format, same error forms and `tail`),
 * with the inputs given. A failure of one key leaves the maker usable for the next one (a
 * server that died is restarted for the next key).
 */
int dj_maker_run(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
                 dj_buf *result, dj_buf *tail, dj_err *err);

/*
 * From another thread: stop the key `m` is running now (COMMAND: SIGKILL to its process;
 * SERVER: to the server's process group) and refuse every later key; they fail with DJ_ESTOP
 * ("... stopped"), so their jobs are released, not failed. A plugin's make runs in the
 * caller's thread and cannot be stopped. For a run's drain deadline. NULL ok.
 */
void dj_maker_cancel(dj_maker *m);

/* Stop and free the make (SERVER: close its stdin, wait, kill it if it lingers; PLUGIN: its
 * djrun_make_fini, then dlclose). NULL ok. */
void dj_maker_close(dj_maker *m);

/*
 * Split a result made by dj_make_run: `*json` / `*jlen` the doc JSON, `*data` / `*dlen` the
 * appended npy bytes (offsets in the JSON are relative to it). DJ_EFORMAT without the NUL.
 */
int dj_make_result_split(const void *p, size_t n, const char **json, size_t *jlen,
                         const unsigned char **data, size_t *dlen, dj_err *err);

#endif
