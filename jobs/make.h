/*
 * The per-key make protocol (DESIGN.md "The make protocol"), command form: one process per key.
 *
 * For each key a scratch directory is made under `scratch_root`:
 *   <scratch>/key.json        the key, one JSON object {"attr": value, ...}
 *   <scratch>/outputs/        where the make writes row.json and any .npy files it names
 * The command runs with no shell (argv as given), cwd = <scratch>, stdin /dev/null, stdout to
 * <scratch>/stdout.log, stderr to <scratch>/stderr.log, and in its environment
 *   DJRUN_KEY_JSON=<scratch>/key.json  DJRUN_OUTPUT_DIR=<scratch>/outputs  DJRUN_SCRATCH=<scratch>
 * Exit 0 = success: outputs/row.json must hold one JSON object of attribute values; a value
 * {"npy": "file.npy"} names a .npy file in outputs/ (for <blob> columns). Any other exit status
 * is a failure whose details are the tail of stderr. The scratch directory is removed after.
 *
 * The result bytes (dj_make_run, success) are self-contained, to travel to rank 0:
 *   <row JSON, each {"npy": f} replaced by {"npy_off": O, "npy_len": L}> NUL <npy bytes ...>
 * Library code: nothing is printed; the process' own signal handlers and stdio are untouched.
 */
#ifndef DJ_JOBS_MAKE_H
#define DJ_JOBS_MAKE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define DJ_MAKE_TAIL_MAX 4000 /* bytes of stderr kept for error_stack */

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
 * stderr line), or "OutputError: ..." for a missing or malformed row.json, and appends the
 * stderr tail (at most DJ_MAKE_TAIL_MAX bytes) to `tail`.
 */
int dj_make_run(char *const *argv, const char *scratch_root, const char *key_json, dj_buf *result,
                dj_buf *tail, dj_err *err);

/*
 * Split a result made by dj_make_run: `*json` / `*jlen` the row JSON, `*data` / `*dlen` the
 * appended npy bytes (offsets in the JSON are relative to it). DJ_EFORMAT without the NUL.
 */
int dj_make_result_split(const void *p, size_t n, const char **json, size_t *jlen,
                         const unsigned char **data, size_t *dlen, dj_err *err);

#endif
