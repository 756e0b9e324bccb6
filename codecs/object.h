/*
 * JSON column values of the store-backed codecs and the folder manifest:
 *   <object@>  metadata (formats.md §6.6) and its `.manifest.json` sidecar,
 *   <hash@>/<blob@>/<attach@> hash metadata (formats.md §5.3),
 * plus the Python-compatible JSON text writers (dj_pyjson_*) that npy.c and filepath.c share.
 *
 * Written text is byte-for-byte what Python's json.dumps(dict) gives for the same dict: keys in
 * the order the library builds them, separators ", " and ": ", non-ASCII escaped as lowercase
 * \uXXXX (surrogate pairs above U+FFFF). Readers (jansson) accept any JSON spelling, as both
 * database servers normalise JSON. Structures own their strings (malloc'd; NULL = null/absent);
 * release them with the matching _dispose(). Pure functions, any thread.
 */
#ifndef DJ_CODECS_OBJECT_H
#define DJ_CODECS_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/hash.h"

/* ---- Python json.dumps text ---- */

/*
 * Append the JSON string literal for UTF-8 text s[0..n) as json.dumps(ensure_ascii=True) writes
 * it: \" \\ \n \r \t \b \f, other controls and all non-ASCII as \u00XX / \uXXXX (lowercase
 * hex). DJ_EFORMAT if `s` is not valid UTF-8 (Python strings cannot hold such bytes), DJ_ENOMEM.
 */
int dj_pyjson_str(dj_buf *out, const char *s, size_t n, dj_err *err);
/* As dj_pyjson_str for a NUL-terminated string, or `null` when s is NULL. */
int dj_pyjson_strz(dj_buf *out, const char *s, dj_err *err);

/* ---- timestamps: Python datetime.isoformat() of an aware UTC datetime ---- */

#define DJ_ISOTIME_MAX 40

/*
 * Format UTC time `sec` (seconds since 1970-01-01, years 1..9999) plus `usec` (0..999999) as
 * "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00", the fraction omitted when usec is 0 (§6.6).
 * DJ_EUSAGE when out of range.
 */
int dj_isotime_format(int64_t sec, int32_t usec, char out[DJ_ISOTIME_MAX], dj_err *err);
/*
 * Parse what Python's datetime.fromisoformat() reads back from that: "YYYY-MM-DD" then 'T' or
 * ' ' and HH[:MM[:SS[.fff...]]] (digits past six truncated), then "Z" (readers accept it),
 * "+HH:MM", "-HH:MM", "+HHMM" or nothing (naive = UTC).
 * A date alone is midnight. Converts to UTC. DJ_EFORMAT naming the text on anything else.
 */
int dj_isotime_parse(const char *s, int64_t *sec, int32_t *usec, dj_err *err);

/* ---- <object@> metadata (§6.6) ---- */

typedef struct dj_object_meta {
	char *path;     /* required */
	char *store;    /* NULL = null/absent (readers then use stores.default) */
	bool has_size;  /* the "size" key is required, its value may be null */
	uint64_t size;
	char *ext;      /* NULL = null; "" is kept (a file path without suffix) */
	bool is_dir;
	bool has_item_count;
	uint64_t item_count;
	bool has_timestamp;
	int64_t ts_sec; /* UTC */
	int32_t ts_usec;
	char *hash;      /* optional (readers only): 26-char content hash */
	char *url;       /* optional (readers only) */
	char *mime_type; /* optional (readers only) */
} dj_object_meta;

#define DJ_OBJECT_META_INIT {0}

/*
 * Append the column value Python's ObjectCodec writes:
 *   {"path": P, "store": S, "size": N, "ext": E|null, "is_dir": B, "item_count": N|null,
 *    "timestamp": T}
 * `store` must be a non-empty resolved store name (DESIGN.md: never null or ""), has_size and
 * has_timestamp must be set; hash/url/mime_type are never written (Python does not).
 * DJ_EUSAGE naming the missing field, DJ_EFORMAT for non-UTF-8 text, DJ_ENOMEM.
 */
int dj_object_meta_build(dj_buf *out, const dj_object_meta *m, dj_err *err);
/*
 * Parse a column value (JSON text of n bytes) into `m` (overwritten; dispose it afterwards,
 * also on failure). Requires an object with a string "path" and a "size" key (integer >= 0
 * or null); the other keys are optional with Python's defaults (is_dir false). Unknown keys are
 * ignored. DJ_EFORMAT naming the key on a wrong type or bad timestamp.
 */
int dj_object_meta_parse(dj_object_meta *m, const char *json, size_t n, dj_err *err);
void dj_object_meta_dispose(dj_object_meta *m);

/* ---- folder manifest sidecar (§6.6) ---- */

typedef struct dj_manifest_file {
	const char *path; /* POSIX path relative to the folder, UTF-8 */
	uint64_t size;
} dj_manifest_file;

/*
 * Append the bytes Python's put_folder writes to `<path>.manifest.json`: json.dumps(manifest,
 * indent=2) of {"files": [{"path", "size"}...], "total_size", "item_count", "created"} with
 * total_size the sum of sizes, item_count = n, files in the given (os.walk) order, no final
 * newline. DJ_EUSAGE for a bad time, DJ_EFORMAT for non-UTF-8 paths, DJ_ENOMEM.
 */
int dj_manifest_build(dj_buf *out, const dj_manifest_file *files, size_t n, int64_t created_sec,
		      int32_t created_usec, dj_err *err);

typedef struct dj_manifest {
	size_t nfiles;
	char **paths;     /* nfiles malloc'd strings */
	uint64_t *sizes;  /* nfiles entries */
	uint64_t total_size;
	uint64_t item_count;
} dj_manifest;

/* Parse a manifest (any JSON spelling). DJ_EFORMAT naming what is wrong. Dispose afterwards. */
int dj_manifest_parse(dj_manifest *m, const char *json, size_t n, dj_err *err);
void dj_manifest_dispose(dj_manifest *m);

/* ---- hash metadata of <hash@>, <blob@>, <attach@> (§5.3) ---- */

typedef struct dj_hash_meta {
	char hash[DJ_HASH_LEN + 1];
	char *path;    /* required: readers use it, never recompute it */
	char *schema;  /* NULL when absent */
	char *store;   /* NULL = null/absent (stores.default) */
	bool has_size;
	uint64_t size;
} dj_hash_meta;

#define DJ_HASH_META_INIT {{0}, NULL, NULL, NULL, false, 0}

/*
 * Append {"hash": H, "path": P, "schema": S, "store": T, "size": N} (put_hash's key order).
 * hash must be valid, path/schema/store non-empty (store = the resolved name), has_size set.
 * DJ_EUSAGE naming the field, DJ_EFORMAT for non-UTF-8 text, DJ_ENOMEM.
 */
int dj_hash_meta_build(dj_buf *out, const dj_hash_meta *m, dj_err *err);
/*
 * Parse a hash metadata column value. "hash" (valid 26-char) and "path" (string) are required;
 * "schema", "store" (string or null) and "size" (integer or null) are optional.
 */
int dj_hash_meta_parse(dj_hash_meta *m, const char *json, size_t n, dj_err *err);
void dj_hash_meta_dispose(dj_hash_meta *m);

#endif
