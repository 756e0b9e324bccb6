/*
 * The DataJoint blob codec: bytes <-> value tree (formats.md §2).
 *
 * A blob is [ZL123 zlib wrapper] + "mYm\0" or "dj0\0" + exactly one item (§2.1-§2.3). Unpacking
 * validates every length, count and shape against the bytes that remain before allocating,
 * limits nesting and caps the decoded size, so untrusted bytes never cause a crash or an
 * over-allocation. Packing reproduces datajoint-python's bytes exactly for anything Python can
 * write (header rule §2.2, zlib rule §2.1). Little-endian hosts only (checked at compile time).
 * Pure functions: no globals, safe to call from any thread on distinct values.
 */
#ifndef DJ_CODECS_BLOB_H
#define DJ_CODECS_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/value.h"

/* Default nesting limit (items inside items); Python has none (formats.md §2.13). */
#define DJ_BLOB_MAX_DEPTH 128
/* Default cap on the decoded size when dj_blob_opts.max_bytes is 0. */
#define DJ_BLOB_DEFAULT_MAX ((size_t)1 << 40)

typedef struct dj_blob_opts {
	bool dims32;      /* §2.8 old 32-bit mYm: every L field is u32. Opt-in, never guessed. */
	size_t max_bytes; /* cap on the inflated body and on the decoded tree; 0 = 1 TiB. The
	                     input also bounds both: deflate expands at most 1032:1, and every
	                     element allocated is backed by at least one input byte. */
	unsigned max_depth; /* 0 = DJ_BLOB_MAX_DEPTH */
} dj_blob_opts;

typedef struct dj_blob_info {
	char header[4];   /* "mYm" or "dj0", NUL-terminated */
	bool zlib;        /* had the ZL123 wrapper */
	size_t raw_len;   /* bytes given */
	size_t body_len;  /* header + item bytes (after inflating) */
} dj_blob_info;

/*
 * Decode the blob p[0..n) into a new tree (*out, caller frees with dj_value_free). `o` and
 * `info` may be NULL (defaults; no report). On failure *out is NULL and `err` names the offset
 * (in the inflated body when wrapped) and the item code or field:
 *   DJ_EFORMAT  malformed: missing header, truncation, unknown item code or type id (0, 1, 2,
 *               16 too), trailing bytes, a nested item not filling its length, bad zlib data,
 *               inflated size != the wrapper's length, nesting deeper than the limit,
 *               invalid UTF-8 in a str or field name;
 *   DJ_ENOTSUP  'P' (MATLAB sparse), which datajoint-python cannot read either;
 *   DJ_ENOMEM   out of memory, or the decoded size would pass max_bytes.
 * Bytes after the end of the zlib stream are ignored, as in Python (§2.1).
 */
int dj_blob_unpack(const uint8_t *p, size_t n, const dj_blob_opts *o, dj_value **out,
		   dj_blob_info *info, dj_err *err);

typedef struct dj_blob_pack_opts {
	bool compress;      /* the <blob> codec rule of §2.1 (default true) */
	const char *header; /* NULL = the §2.2 rule; "mYm" or "dj0" to keep a foreign header */
} dj_blob_pack_opts;

/* The defaults: compress = true, header by rule. */
#define DJ_BLOB_PACK_OPTS_INIT {true, NULL}

/*
 * Encode `v` and append the blob to `out` (caller-owned, not cleared; grown once to the final
 * size). `o` may be NULL (defaults). Compression uses zlib level 6, windowBits 15, memLevel 8,
 * default strategy, applied when the body is > 1000 bytes and kept only when strictly smaller,
 * so bytes equal datajoint-python's with the same zlib. Returns 0, or DJ_EUSAGE for an invalid
 * tree (inconsistent array sizes, NULL children, bad header option), DJ_ENOTSUP for something
 * the format cannot carry (a struct or record with no fields, int wider than 65535 bytes, depth
 * over DJ_BLOB_MAX_DEPTH), DJ_ENOMEM (out's limit or memory), DJ_ERROR for a zlib failure.
 * On failure `out` keeps its previous length.
 */
int dj_blob_pack(const dj_value *v, const dj_blob_pack_opts *o, dj_buf *out, dj_err *err);

/* "dj0" if anything in the tree needs a DataJoint extension (§2.2; a 0-d char array does
 * not), else "mYm". Static strings; NULL `v` gives "dj0". */
const char *dj_blob_header_needed(const dj_value *v);

#endif
