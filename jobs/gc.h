/*
 * djrun gc: garbage collection of one store's hash and schema sections for one or more schemas
 * (database.md §7), run as three dj_job passes over the engine (mpi/run.h), and safe while
 * writers keep inserting.
 *
 * What is an orphan: exactly the library's rules. References are the `path` of the JSON value of
 * every hash-addressed (<hash@>, <blob@>, <attach@>) and schema-addressed (<object@>, <npy@>)
 * column of every table, kept when their `store` equals the collected store exactly (a missing
 * or null store never matches). Listed are the base32-named files under
 * [hash_prefix/]SCHEMA/ (no .manifest.json) and every file under [schema_prefix/]SCHEMA/. A hash
 * file is live when its path is referenced; a schema file when it, or the path without
 * `.manifest.json`, or one of its ancestor folders is referenced. DESIGN.md adds: any JSON
 * column with `path` + `store` values (unknown codecs included) protects its paths in both
 * sections, and a reference-scan error blocks deletion like a listing error.
 *
 * Passes (the tool calls dj_run once per pass, collectively, with the same ctx):
 *   LIST    rank 0 scans references (start) and plans listing shards. Object stores: the 32
 *           first characters of the hash, and one prefix per schema section. File stores:
 *           rank 0 reads the hash folder once with readdir (no stat), counts referenced names
 *           on the spot and sends the other names to workers in batches to be stat'ed;
 *           sub-folders (subfolding) and the schema section's first-key folders are recursive
 *           shards. A listing item stops after list_chunk records (default 1,000,000, ~100 MB)
 *           and returns where it stopped; the rest of its prefix becomes a continuation shard
 *           (S3 start-after) listed in a further LIST pass, so however large a section is, no
 *           item's result nears the engine's 1 GiB cap. The reference scan reads each table's
 *           reference columns in primary-key pages (jobs/gc_refs.c) and takes `path`/`store`
 *           from the JSON text without a parse tree (jobs/gc_json.c).
 *           Workers return compact records (path, size, mtime); rank 0 decides each
 *           record as it commits. The whole listing is never held: rank 0 keeps a set of
 *           64-bit digests of referenced paths (a collision can only keep an orphan, never
 *           delete a live object) and the list of orphans.
 *   DELETE  (--collect, no scan error) rank 0 first re-scans every reference (dj_gc_recheck):
 *           candidates referenced meanwhile are kept. Workers then move candidates aside in
 *           batches of 1000 ("tombstone": file stores rename `key` to `key.djrun-gc-trash` in
 *           the same folder; other stores copy to that key, server-side where the backend can
 *           (dj_store_copy_many: S3 CopyObject), else GET + PUT, and delete the original with
 *           DeleteObjects) instead of deleting them.
 *   SETTLE  rank 0 waits `hold_s`, then scans every reference once more (dj_gc_postcheck;
 *           MySQL/MariaDB with READ UNCOMMITTED, so rows inserted but not yet committed count):
 *           a tombstoned object that a row now names is moved back (restore), the others are
 *           purged (file stores then prune empty folders, as the library does).
 *
 * Why that never deletes a referenced object. A new object is protected by the grace period
 * (its store mtime younger than grace_s is never a candidate). An old object a writer re-uses
 * (dedup hit: the writer sees the object, skips the upload, inserts a row naming it) is either
 * referenced at the re-check (kept) or its row appears later; the object is then still in the
 * trash, and the post-check restores it, unless the writer's gap between finding the object
 * and its INSERT (PostgreSQL: its COMMIT) is longer than hold_s plus the DELETE pass. That gap is
 * the one assumption; hold_s (default 30 s) is its bound. A row naming a tombstoned object is
 * unreadable only until the restore. Trash left by an interrupted run (name ending
 * .djrun-gc-trash) is picked up by the next --collect: restored if referenced, else purged.
 *
 * Error policy: any listing error or reference-scan error is recorded in scan_errors and no
 * object is tombstoned; a tombstone, restore or purge failure counts in `errors` and leaves the
 * object (or its trash copy) in place.
 */
#ifndef DJ_JOBS_GC_H
#define DJ_JOBS_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "db/db.h"
#include "db/schema.h"
#include "jobs/job.h"
#include "stores/spec.h"
#include "stores/store.h"

#define DJ_GC_TRASH ".djrun-gc-trash"
#define DJ_GC_BATCH 1000 /* objects per delete item (one S3 DeleteObjects) */
#define DJ_GC_REF_PAGE 10000 /* rows per primary-key page of the reference scan */
#define DJ_GC_LIST_CHUNK 1000000 /* listing records per item (~100 MB), far below the 1 GiB cap */

/* --- a set of path digests (jobs/gc_refset.c) ------------------------------------------- */

typedef struct dj_gc_refset {
	uint64_t *slots; /* open addressing; 0 = empty */
	size_t cap, n;
} dj_gc_refset;

uint64_t dj_gc_digest(const char *p, size_t n);
int dj_gc_refset_add(dj_gc_refset *s, const char *p, size_t n, dj_err *err);
bool dj_gc_refset_has(const dj_gc_refset *s, const char *p, size_t n);
void dj_gc_refset_free(dj_gc_refset *s);

/* The library's coverage rule for a schema-section file (database.md §7.4). */
bool dj_gc_covered(const dj_gc_refset *s, const char *path, size_t n);
/* The hash-section file-name rule: ^[a-z2-7]{26}$ and not *.manifest.json. */
bool dj_gc_hash_name(const char *name, size_t n);

/* --- reference scan (jobs/gc_refs.c), rank 0 ---------------------------------------------- */

typedef struct dj_gc_refs {
	dj_gc_refset hash, schema; /* the library's two sets */
	dj_gc_refset other;        /* JSON columns that are not hash/schema codecs (conservative) */
	size_t columns, rows;
	char **errors; /* "scan_references(schema.table.column): message" */
	size_t nerrors;
} dj_gc_refs;

/*
 * Scan every table of `schemas` for references into store `store` (never NULL): each table's
 * reference columns together, in primary-key pages of DJ_GC_REF_PAGE rows (one streamed
 * statement for a key whose values cannot be written back exactly, e.g. float). A table or
 * column that cannot be read adds to out->errors (and so blocks deletion); only a failure to
 * allocate returns < 0. `dirty` reads with READ UNCOMMITTED on MySQL/MariaDB.
 */
int dj_gc_scan_refs(dj_db *db, const dj_schema *schemas, size_t nschemas, const char *store,
                    bool dirty, dj_gc_refs *out, dj_err *err);
/* The same with pages of `page` rows (0 = DJ_GC_REF_PAGE). */
int dj_gc_scan_refs_paged(dj_db *db, const dj_schema *schemas, size_t nschemas, const char *store,
                          bool dirty, size_t page, dj_gc_refs *out, dj_err *err);
void dj_gc_refs_free(dj_gc_refs *r);

/* Whether a path of `section` ('H' hash, 'S' schema) is live under `r`. */
bool dj_gc_refs_live(const dj_gc_refs *r, char section, const char *path, size_t n);

/* Add one reference from a raw JSON column value (text) if it names `store`; the pure part of
 * the scan. Returns 1 when a path was added, 0 when none, < 0 out of memory. */
int dj_gc_refs_add_json(dj_gc_refset *set, const char *json, size_t n, const char *store,
                        dj_err *err);

/* The fast reading of one metadata value (jobs/gc_json.c): REF when the text is an object whose
 * `path` and `store` are strings without escapes (out points into the text), NONE when it
 * certainly names nothing (not an object, or either key missing or not a string), UNSURE when
 * only the full parser can tell (escapes in those keys or values, a repeated key, malformed). */
typedef struct dj_gc_ref {
	const char *path, *store;
	size_t path_len, store_len;
} dj_gc_ref;
enum { DJ_GC_JSON_NONE = 0, DJ_GC_JSON_REF = 1, DJ_GC_JSON_UNSURE = 2 };
int dj_gc__json_ref(const char *json, size_t n, dj_gc_ref *out);

/* --- the job ------------------------------------------------------------------------------- */

typedef enum dj_gc_pass { DJ_GC_LIST, DJ_GC_DELETE, DJ_GC_SETTLE } dj_gc_pass;

/* The library's statistics (database.md §7.6) plus djrun's own. */
typedef struct dj_gc_stats {
	uint64_t hash_referenced, hash_stored, hash_orphaned, hash_orphaned_bytes;
	uint64_t schema_referenced, schema_stored, schema_orphaned, schema_orphaned_bytes;
	uint64_t hash_deleted, schema_deleted, bytes_freed, errors;
	uint64_t hash_young, schema_young; /* orphans within the grace period: kept */
	uint64_t kept_by_recheck;          /* candidates referenced at the re-check */
	uint64_t restored;                 /* tombstoned, then referenced: moved back */
	uint64_t missing;                  /* candidates gone before their tombstone */
	uint64_t leftovers;                /* trash of an earlier run found by the listing */
	uint64_t other_referenced;         /* conservative references (other JSON columns) */
	uint64_t listed;                   /* every record the listing returned */
	double scan_s, list_s, recheck_s, delete_s, settle_s, purge_s; /* settle_s: post-check */
} dj_gc_stats;

/* What became of an orphan (or a leftover tombstone) held by rank 0. */
enum {
	DJ_GC_ST_YOUNG,    /* within the grace period: kept */
	DJ_GC_ST_CAND,     /* to be tombstoned (--collect) */
	DJ_GC_ST_KEPT,     /* referenced at the re-check: kept */
	DJ_GC_ST_TOMB,     /* moved to its trash name, waiting for the post-check */
	DJ_GC_ST_MISSING,  /* gone before its tombstone */
	DJ_GC_ST_FAILED,   /* tombstone, restore or purge failed: left where it was */
	DJ_GC_ST_RESTORE,  /* referenced at the post-check: to move back */
	DJ_GC_ST_PURGE,    /* unreferenced at the post-check: to delete */
	DJ_GC_ST_RESTORED,
	DJ_GC_ST_PURGED,
};

/* One orphan (or tombstone) held by rank 0: offset of its path in the arena. */
typedef struct dj_gc_obj {
	size_t off;
	uint64_t size;
	char section;     /* 'H' or 'S' */
	uint8_t state;    /* DJ_GC_ST_* */
	bool leftover;    /* trash of an earlier run (not one of this run's orphans) */
} dj_gc_obj;

typedef struct dj_gc {
	/* set by the tool, every rank */
	const char *const *schema_names;
	size_t nschemas;
	const dj_store_spec *spec; /* the collected store */
	const char *default_store;
	bool collect;
	double grace_s, hold_s;
	size_t scan_page;  /* rows per reference-scan page; 0 = DJ_GC_REF_PAGE */
	size_t list_chunk; /* listing records per item; 0 = DJ_GC_LIST_CHUNK */
	int64_t now; /* time the run started (UTC seconds); grace counts from it */
	int (*connect)(void *arg, dj_db **db, dj_err *err); /* rank 0 */
	void *connect_arg;
	dj_gc_pass pass; /* the tool sets it before each dj_run */

	/* run state */
	dj_store *st;
	dj_db *db;
	dj_schema *schemas;
	size_t nloaded;
	dj_gc_refs refs;
	char **scan_errors; /* listing and reference errors, in order */
	size_t nscan_errors;
	char delete_error[512]; /* the first tombstone/restore/purge failure */
	dj_gc_stats stats;
	dj_buf arena; /* orphan paths, NUL-terminated */
	dj_gc_obj *objs;
	size_t nobjs, capobjs;
	/* plan cursors */
	char **shards;
	size_t nshards, next_shard, next_obj;
	bool planned;
	bool started;
} dj_gc;

extern const dj_job dj_gc_job;

/* Rank 0 after a LIST pass: shards still to list (continuations of listings cut at list_chunk
 * records). The tool then runs another LIST pass. */
bool dj_gc_list_pending(const dj_gc *g);
/* Rank 0 between LIST and DELETE: re-scan references and drop candidates now live. Nothing to
 * do for a dry run or after scan errors. */
int dj_gc_recheck(dj_gc *g, dj_err *err);
/* Rank 0 between DELETE and SETTLE: wait hold_s, scan again (dirty reads on MySQL), mark each
 * tombstone for restore or purge. */
int dj_gc_postcheck(dj_gc *g, dj_err *err);
/* The orphan paths of a section, sorted (pointers into the arena; free the array). */
int dj_gc_orphans(const dj_gc *g, char section, const char ***out, size_t *n, dj_err *err);
void dj_gc_dispose(dj_gc *g);

/* Internal to jobs/gc*.c. */
int dj_gc__add_error(dj_gc *g, const char *fmt, ...) DJ_PRINTF(2, 3);
/* `unreferenced`: the records were already found unreferenced (file-store name batches). */
int dj_gc__decide(dj_gc *g, char section, bool unreferenced, const dj_bytes *records,
                  dj_err *err);
int dj_gc__plan_list(dj_gc *g, dj_job_sink *sink, size_t want, dj_err *err);
int dj_gc__work_list(dj_gc *g, const dj_bytes *item, dj_buf *result, dj_err *err);
/* A listing cut at list_chunk records goes on in a new shard (`rest`: section letter, prefix,
 * '\n', last key listed), planned by the next LIST pass (dj_gc_list_pending). */
int dj_gc__add_continuation(dj_gc *g, const char *rest, size_t n, dj_err *err);
int dj_gc__plan_objs(dj_gc *g, dj_job_sink *sink, size_t want, dj_err *err);
int dj_gc__work_objs(dj_gc *g, const dj_bytes *item, dj_buf *result, dj_err *err);
int dj_gc__commit_objs(dj_gc *g, const dj_job_result *r, dj_err *err);
/* location/key+suffix of a file store, as stores/file.c builds it (replaces `out`). */
int dj_gc__file_path(const dj_gc *g, dj_buf *out, const char *key, const char *suffix);

#endif
