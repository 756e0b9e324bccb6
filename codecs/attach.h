/*
 * Attachments (<attach>, <attach@>): the payload `filename 00 contents` (formats.md §3) and
 * the download-side file naming. The payload is never compressed and has no header.
 */
#ifndef DJ_CODECS_ATTACH_H
#define DJ_CODECS_ATTACH_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/*
 * Append the payload for a file given by name and contents: name + NUL + bytes. `name` must be
 * a non-empty base name (no '/'), valid UTF-8. DJ_EUSAGE naming it otherwise, DJ_ENOMEM
 * (out->limit is honoured).
 */
int dj_attach_pack(dj_buf *out, const char *name, const void *p, size_t n, dj_err *err);

/*
 * Append the payload for the file at `path`: its base name (Path(path).name: the last
 * component, trailing '/' ignored) + NUL + its contents. DJ_ENOTFOUND if missing, DJ_EUSAGE for
 * a directory ("<attach> does not support directories"), DJ_ERROR on read errors; err names
 * the path.
 */
int dj_attach_pack_file(dj_buf *out, const char *path, dj_err *err);

/*
 * Split a payload at its first NUL: `name` and `contents` borrow from `payload`. The name must
 * be valid UTF-8 (Python decodes it). DJ_EFORMAT when there is no NUL or the name is bad.
 */
int dj_attach_split(dj_bytes payload, dj_bytes *name, dj_bytes *contents, dj_err *err);

/*
 * Write `contents` under `dir` (created with parents if missing) as Python's decode does and
 * append the path used ("dir/name") to `path_out`:
 *   dir/name if it does not exist, or exists with identical contents (reused, not rewritten);
 *   otherwise the first of dir/stem_1.suffix, dir/stem_2.suffix, ... that does not exist or
 *   holds identical contents (stem/suffix split at the last dot as Python 3.11 PurePath does:
 *   "a.tar.gz" -> "a.tar" + ".gz"; ".bashrc" and "a." have no suffix).
 * New files are written atomically (temporary file + rename), unlike Python. Deliberately
 * stricter than Python: a name that is empty, ".", ".." or contains '/' is refused
 * (DJ_EFORMAT) instead of escaping `dir`; an existing non-regular file counts as different.
 * DJ_ERROR / DJ_ENOTFOUND on I/O errors with the path in `err`.
 */
int dj_attach_save(const char *dir, dj_bytes name, dj_bytes contents, dj_buf *path_out,
		   dj_err *err);

#endif
