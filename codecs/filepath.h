/*
 * <filepath@store>: references to objects that already exist in a store (formats.md §7).
 * Nothing is written to the store; only the path is checked and recorded. Pure functions.
 */
#ifndef DJ_CODECS_FILEPATH_H
#define DJ_CODECS_FILEPATH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/object.h"

/*
 * Check an inserted path against a store's sections, exactly as §7 steps 2-3:
 * p = path without leading '/'; for each non-empty hash_prefix / schema_prefix, p must not start
 * with prefix.strip("/") + "/" (a path equal to the bare prefix passes, as in Python); if
 * filepath_prefix is set, p must start with filepath_prefix.strip("/") + "/".
 * The prefixes are the store spec's (stores/spec.h); NULL means the §8.3 default ("_hash",
 * "_schema", no filepath_prefix). Returns 0 or DJ_EUSAGE with a message naming the path and
 * the section. The existence check (step 4) is the caller's, through the store.
 */
int dj_filepath_check(const char *hash_prefix, const char *schema_prefix,
		      const char *filepath_prefix, const char *path, dj_err *err);

/*
 * Append the column value: {"path": P, "store": S, "size": N|null, "is_dir": B, "timestamp": T}
 * with `path` exactly as given (not normalised), `store` the resolved non-empty store name,
 * size written only when has_size (Python writes null for folders and failed size calls),
 * timestamp UTC as isoformat(). DJ_EUSAGE / DJ_EFORMAT / DJ_ENOMEM.
 */
int dj_filepath_meta_build(dj_buf *out, const char *path, const char *store, bool has_size,
			   uint64_t size, bool is_dir, int64_t ts_sec, int32_t ts_usec,
			   dj_err *err);

/* Parse a filepath column value (ObjectRef.from_json rules: see dj_object_meta_parse). */
int dj_filepath_meta_parse(dj_object_meta *m, const char *json, size_t n, dj_err *err);

#endif
