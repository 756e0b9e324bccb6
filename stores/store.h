/*
 * Object stores: one interface over the `file`, `s3` and `azure` protocols (DESIGN.md "Store";
 * STYLE.md §1).
 *
 * A store is opened from one dj_store_spec (formats.md §8.3). Keys are the relative paths of
 * formats.md §5.1 (hash section), §6.1 (schema section) and §7 (filepath); the backend puts the
 * store's `location` in front exactly as formats.md §8.6 says (file: `location/key`; s3 object
 * key and azure blob name: `location + "/" + key`, or `key` when location is empty). A key is non-empty, has no
 * leading or trailing '/' and no "." or ".." segment; anything else is refused with DJ_EUSAGE.
 *
 * Errors (STYLE.md §2): every function returns 0 or a negative DJ_E* code and fills `err` with
 * one line naming the store and the key, never a credential or a signed URL. Codes shared by
 * all operations: DJ_EUSAGE (bad key or argument; also bad credentials: "authentication
 * failed"), DJ_ENOTSUP (the backend lacks the operation), DJ_ETRANSIENT (the server stayed
 * unreachable or kept failing after the retries), DJ_ENOMEM, DJ_ERROR (anything else).
 *
 * Threads and ranks: a dj_store is used by one thread at a time (its connections and buffers are
 * not locked); open one per thread or rank. Parallelism inside one call (S3 parts, Azure blocks,
 * ranges) needs no threads. The first s3 or azure open initialises libcurl: open one before
 * starting threads.
 * Several processes may write parts of the same object (dj_store_writer).
 */
#ifndef DJ_STORES_STORE_H
#define DJ_STORES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "stores/spec.h"

typedef struct dj_store dj_store;
typedef struct dj_store_ops dj_store_ops;

/* put flags */
#define DJ_STORE_IF_ABSENT 0x1u /* write nothing if the key exists (formats.md §5.2, §10.1) */

/* S3 request addressing (formats.md §8.6). */
typedef enum dj_store_addressing {
	DJ_STORE_ADDR_AUTO =
	    0,              /* virtual-host for *.amazonaws.com with a DNS-safe bucket, else path */
	DJ_STORE_ADDR_PATH, /* {endpoint}/{bucket}/{key} */
	DJ_STORE_ADDR_VHOST, /* {bucket}.{endpoint}/{key} */
} dj_store_addressing;

/*
 * Tuning and what the spec cannot say. Zero means the default everywhere, so `{0}` is the usual
 * value. Strings are copied at open.
 */
typedef struct dj_store_opts {
	const char *region;     /* s3 signing region; NULL = "us-east-1" (formats.md §8.6 C-REC) */
	const char *access_key; /* s3 keys used when the spec has none (the caller may take them */
	const char
	    *secret_key; /*   from the AWS environment); no keys at all = unsigned requests */
	const char *session_token; /* s3: sent as x-amz-security-token when set */
	dj_store_addressing addressing;
	unsigned parallel; /* requests in flight within one call; 0 = 8 */
	size_t part_size;  /* s3 part, azure block, ranged-GET chunk; 0 = 8 MiB (s3 min 5 MiB) */
	size_t multipart_threshold; /* put/put_file above this: s3 multipart upload, azure blocks
	                               and Put Block List; 0 = 2 * part_size */
	int retries;             /* extra attempts after a transient failure; 0 = 5, < 0 = none */
	unsigned retry_base_ms;  /* first back-off, doubled each time with jitter; 0 = 200 */
	long connect_timeout_ms; /* 0 = 10000 */
	long stall_timeout_s;    /* abort a transfer that moves nothing for this long; 0 = 60 */
	bool unsigned_payload;   /* s3: sign bodies as UNSIGNED-PAYLOAD instead of hashing them */
	bool no_sync;            /* file: skip fsync (scratch stores, benchmarks) */
	bool defer_sync;         /* file: no fsync per write; dj_store_flush makes everything
	                          * written so far durable at once (one syncfs per batch) */
} dj_store_opts;

/* What dj_store_head reports. */
typedef struct dj_store_stat {
	bool exists; /* an object, or (is_dir) a directory / key prefix */
	bool is_dir; /* file: a directory; s3: no object but keys below "key/" */
	uint64_t size;
	int64_t mtime; /* seconds since the epoch (UTC); 0 when unknown (s3 prefixes) */
} dj_store_stat;

/* One object in a listing. `key` is relative to the location and lives until the callback returns.
 * is_dir only from dj_store_list_dir: a folder (no trailing '/'; size and mtime 0). */
typedef struct dj_store_entry {
	const char *key;
	uint64_t size;
	int64_t mtime;
	bool is_dir;
} dj_store_entry;

/* Return 0 to go on, or a negative DJ_E* code to stop the listing (dj_store_list returns it). */
typedef int (*dj_store_list_fn)(const dj_store_entry *e, void *payload);

/*
 * A cooperative upload of one object (S3 multipart upload; azure: uncommitted blocks whose ids
 * derive from the upload id and the part number; file: a temporary file written with pwrite). Part `n` (1-based) covers bytes [(n-1)*part_size, n*part_size); every part but the
 * last has exactly part_size bytes. The four fields are all another process needs to write
 * parts: send them however the job likes (the API knows nothing of MPI). Strings are owned.
 */
typedef struct dj_store_writer {
	char *key;
	char *id; /* backend upload id (S3 UploadId; azure: block-id prefix; file: temporary-name
	             suffix) */
	uint64_t part_size;
	unsigned flags; /* DJ_STORE_IF_ABSENT applies at complete */
} dj_store_writer;

#define DJ_STORE_WRITER_INIT                                                                       \
	{                                                                                          \
		NULL, NULL, 0, 0                                                                   \
	}
#define DJ_STORE_MAX_PARTS 10000 /* S3's limit, applied to every backend */

/* What a finished part reports; complete needs one per part, in any order. */
typedef struct dj_store_part {
	uint32_t number;
	uint64_t size;
	char etag[128]; /* s3: the ETag returned by UploadPart; file: "" */
} dj_store_part;

/*
 * A backend (STYLE.md §1): a const table, one per protocol. NULL slots are allowed for every
 * operation but open and close; the dj_store_* wrappers turn them into DJ_ENOTSUP (remove_many:
 * a loop over remove). Wrappers validate keys and arguments before calling a slot.
 */
struct dj_store_ops {
	const char *scheme; /* protocol name as in the spec: "file", "s3", "azure", "gcs" */
	int (*open)(dj_store **out, const dj_store_spec *spec, const dj_store_opts *opts,
	            dj_err *err);
	void (*close)(dj_store *st);
	int (*put)(dj_store *st, const char *key, const void *p, size_t n, unsigned flags,
	           dj_err *err);
	int (*put_file)(dj_store *st, const char *key, const char *path, unsigned flags,
	                dj_err *err);
	int (*get)(dj_store *st, const char *key, dj_buf *out, dj_err *err);
	int (*get_range)(dj_store *st, const char *key, uint64_t off, size_t n, dj_buf *out,
	                 dj_err *err);
	int (*head)(dj_store *st, const char *key, dj_store_stat *out, dj_err *err);
	int (*list)(dj_store *st, const char *prefix, dj_store_list_fn fn, void *payload,
	            dj_err *err);
	int (*remove)(dj_store *st, const char *key, dj_err *err);
	int (*remove_many)(dj_store *st, const char *const *keys, size_t n, dj_err *err);
	int (*writer_create)(dj_store *st, dj_store_writer *w, dj_err *err); /* sets w->id */
	int (*writer_part)(dj_store *st, const dj_store_writer *w, uint32_t number, const void *p,
	                   size_t n, dj_store_part *out, dj_err *err);
	int (*writer_complete)(dj_store *st, const dj_store_writer *w, const dj_store_part *parts,
	                       size_t nparts, dj_err *err); /* parts sorted and checked */
	int (*writer_abort)(dj_store *st, const dj_store_writer *w, dj_err *err);
	int (*list_dir)(dj_store *st, const char *dir, dj_store_list_fn fn, void *payload,
	                dj_err *err);
	int (*flush)(dj_store *st, dj_err *err); /* optional: NULL = writes durable on return */
	/* optional: dj_store_copy_many (keys checked, n > 0, results pre-set to 0) */
	int (*copy_many)(dj_store *st, const char *const *from, const char *const *to, size_t n,
	                 unsigned flags, int *results, dj_err *err);
	/* optional: dj_store_list_after (NULL: the wrapper lists and skips) */
	int (*list_after)(dj_store *st, const char *prefix, const char *after, dj_store_list_fn fn,
	                  void *payload, dj_err *err);
};

/* The first member of every backend's own struct (e.g. `struct file_store { dj_store base; …}`). */
struct dj_store {
	const dj_store_ops *ops;
	char name[64]; /* store name from the spec, for messages */
};

/*
 * Look up the backend for `scheme` (exact, lower-case). Returns 0 and sets *out; DJ_ENOTSUP
 * "protocol 'azure' is not built in" for a known protocol without code in this build;
 * DJ_EUSAGE "unknown protocol" otherwise. `store` (may be NULL) only names the store in err.
 */
int dj_store_backend(const char *scheme, const char *store, const dj_store_ops **out, dj_err *err);

/*
 * Open the store described by `spec` (not borrowed: the store copies what it keeps). `opts` may
 * be NULL. file: the location must be an existing directory (DJ_ENOTFOUND). s3: nothing is sent
 * yet; bad credentials show on the first request. On failure *out is NULL.
 */
int dj_store_open(dj_store **out, const dj_store_spec *spec, dj_err *err);
int dj_store_open_opts(dj_store **out, const dj_store_spec *spec, const dj_store_opts *opts,
                       dj_err *err);

/* Release the store and its connections. NULL is a no-op. */
void dj_store_close(dj_store *st);

const char *dj_store_name(const dj_store *st);
const char *dj_store_scheme(const dj_store *st);

/*
 * Store p[0..n) as object `key`, atomically: a reader sees the old object or the whole new one,
 * never a part (file: temporary name + rename, formats.md §10.1; azure: one Put Blob, or blocks
 * in parallel and Put Block List above the threshold; s3: one PUT, or a multipart
 * upload above the threshold with parts sent in parallel). Parent folders are created.
 * DJ_STORE_IF_ABSENT: if anything exists at `key` nothing is written and DJ_EEXISTS is
 * returned (the hash-object rule of formats.md §5.2; callers usually treat it as success).
 * Without the flag an existing object is replaced.
 */
int dj_store_put(dj_store *st, const char *key, const void *p, size_t n, unsigned flags,
                 dj_err *err);

/* As dj_store_put, streaming the local file `path` (never read whole into memory). DJ_ENOTFOUND
 * when `path` is missing (err names the path). */
int dj_store_put_file(dj_store *st, const char *key, const char *path, unsigned flags, dj_err *err);

/*
 * Read the whole object `key` and append it to `out` (caller-owned, not cleared; its limit is
 * honoured: DJ_ENOMEM past it). s3 fetches large objects as parallel ranged GETs pinned to one
 * ETag (DJ_ECONFLICT if the object changes meanwhile). DJ_ENOTFOUND if `key` is absent or a
 * directory.
 */
int dj_store_get(dj_store *st, const char *key, dj_buf *out, dj_err *err);

/*
 * Read bytes [off, off+n) of object `key` and append them to `out` (caller-owned, not cleared).
 * n == 0 reads to the end; a shorter object yields fewer bytes, not an error (off at or past the
 * end yields none). Returns 0; DJ_ENOTFOUND if `key` is absent; DJ_ETRANSIENT once retries are
 * spent; else DJ_ERROR. `err` names the store and the key.
 */
int dj_store_get_range(dj_store *st, const char *key, uint64_t off, size_t n, dj_buf *out,
                       dj_err *err);

/*
 * Fill *out for `key`. A missing key is not an error: 0 with out->exists false. A key with
 * objects below "key/" reports is_dir (file: a directory), as datajoint-python's exists/is_dir
 * do for <filepath@> (formats.md §7).
 */
int dj_store_head(dj_store *st, const char *key, dj_store_stat *out, dj_err *err);

/*
 * Call fn for every object whose key starts with `prefix` (a string prefix, not a folder: "a/b"
 * matches "a/b/c" and "a/bc"; "" lists the whole location), recursively, in byte order of the
 * keys (as S3 lists them; the file walk sorts to match; s3rver walks its folders instead, and
 * may then skip keys across pages). Pages of the server are fetched internally. Directories are not
 * reported, only the objects in them. Returns 0 when the listing is complete, fn's negative code
 * when fn stopped it (err then says so unless fn filled it), or an error; a listing that fails
 * half-way has already called fn for some entries.
 */
int dj_store_list(dj_store *st, const char *prefix, dj_store_list_fn fn, void *payload,
                  dj_err *err);

/*
 * One level of the tree: fn for each object directly in folder `dir` ("" = the top of the
 * location; no trailing '/') and for each sub-folder holding objects (is_dir), keys relative to
 * the location as in dj_store_list ("_hash/lab" for dir "_hash"). Order unspecified; a missing
 * folder lists nothing. s3 and azure: a listing with delimiter "/". Returns as dj_store_list.
 */
int dj_store_list_dir(dj_store *st, const char *dir, dj_store_list_fn fn, void *payload,
                      dj_err *err);

/* Delete object `key`. Deleting a missing key succeeds (S3 cannot tell the difference). file: a
 * directory is refused (DJ_EUSAGE); s3: a bare prefix holds no object, so nothing happens.
 * Empty parent folders are left in place. */
int dj_store_remove(dj_store *st, const char *key, dj_err *err);

/* Delete n objects (s3: DeleteObjects, 1000 keys a request, requests in parallel). Stops at the
 * first failure; err names the first key that could not be deleted. */
int dj_store_remove_many(dj_store *st, const char *const *keys, size_t n, dj_err *err);

/*
 * Make every object written through `st` so far durable (a store opened with defer_sync:
 * file syncs its file system once). 0 at once for backends whose writes are durable when they
 * return (s3, azure). Call it before committing rows that name those objects.
 */
int dj_store_flush(dj_store *st, dj_err *err);

/*
 * Start a cooperative upload of `key` with parts of `part_size` bytes (s3: 5 MiB ... 5 GiB;
 * azure: at most 4000 MiB).
 * Fills *w (caller-owned; dj_store_writer_dispose). With DJ_STORE_IF_ABSENT and `key` already
 * present, returns DJ_EEXISTS and starts nothing. Nothing is visible at `key` before complete.
 */
int dj_store_writer_create(dj_store *st, const char *key, uint64_t part_size, unsigned flags,
                           dj_store_writer *w, dj_err *err);

/* Rebuild in *w (copied strings) a writer created elsewhere, from its four fields. */
int dj_store_writer_set(dj_store_writer *w, const char *key, const char *id, uint64_t part_size,
                        unsigned flags, dj_err *err);

/*
 * Write part `number` (1 ... DJ_STORE_MAX_PARTS) = p[0..n), n <= part_size, from any process
 * holding the writer's fields; parts may arrive in any order and be rewritten. Fills *out for
 * complete. DJ_ENOTFOUND when the upload no longer exists (aborted or completed).
 */
int dj_store_writer_part(dj_store *st, const dj_store_writer *w, uint32_t number, const void *p,
                         size_t n, dj_store_part *out, dj_err *err);

/*
 * Publish the object from its parts (any order; numbers 1..k each once, all but the last of
 * part_size bytes: else DJ_EUSAGE and nothing is published). With DJ_STORE_IF_ABSENT and `key`
 * present by now: DJ_EEXISTS, the upload is aborted and the existing object kept.
 */
int dj_store_writer_complete(dj_store *st, const dj_store_writer *w, const dj_store_part *parts,
                             size_t nparts, dj_err *err);

/* Drop an unfinished upload. Best effort: a server that cannot abort (s3rver answers 405) keeps
 * the parts until its own clean-up; that still returns 0. azure has no abort at all: the
 * uncommitted blocks stay invisible until the service drops them (a week) or the blob's next
 * commit does, and later writer_part calls cannot tell that the upload was aborted. */
int dj_store_writer_abort(dj_store *st, const dj_store_writer *w, dj_err *err);

/* Free the writer's strings; it returns to DJ_STORE_WRITER_INIT. */
void dj_store_writer_dispose(dj_store_writer *w);

/*
 * Copy object from[i] to to[i] for i < n inside the store, on the server's side where the
 * backend can (s3: CopyObject requests in parallel, nothing passes through the client; file: a
 * hard link, or a copy across devices). The copy is atomic at to[i] as dj_store_put is.
 * DJ_STORE_IF_ABSENT: a to[i] that exists is left alone (its result DJ_EEXISTS).
 * results[i] (caller's array of n) becomes 0, DJ_ENOTFOUND (from[i] missing), DJ_EEXISTS, or
 * another negative code. Returns 0 when every result is one of the first three; else the first
 * other failure, err naming it (a bad key, DJ_ENOTSUP for a backend without copies, or DJ_ENOMEM
 * set every result to the code). dj_store_copy is the same for one key, returning its result.
 */
int dj_store_copy_many(dj_store *st, const char *const *from, const char *const *to, size_t n,
                       unsigned flags, int *results, dj_err *err);
int dj_store_copy(dj_store *st, const char *from, const char *to, unsigned flags, dj_err *err);

/*
 * dj_store_list restricted to keys after `after` in byte order (a key, not a prefix; NULL or ""
 * = from the start), to resume a listing that stopped at `after`: s3 sends it as start-after;
 * backends without the slot list from the start and skip (correct, not cheaper).
 */
int dj_store_list_after(dj_store *st, const char *prefix, const char *after, dj_store_list_fn fn,
                        void *payload, dj_err *err);

#endif
