/*
 * Rows through codecs: any attribute of a fetched row decoded into a cell, and cells encoded
 * into a multi-row INSERT the way datajoint-python writes them (formats.md §1-§7,
 * database.md §2.6-§2.7). db/ knows nothing of stores (DESIGN.md layering), so the codec-aware
 * row layer lives here, above db/, codecs/ and stores/.
 *
 * What a decoded cell holds, per attribute type:
 *   NULL                      DJ_CELL_NULL (codecs are not called for NULL, as in Python)
 *   int8..int64, native ints  VALUE DJ_V_INT      MySQL bool (tinyint) too: Python reads an int
 *   bool on PostgreSQL        VALUE DJ_V_BOOL
 *   float32/float64           VALUE DJ_V_FLOAT    (float32 columns: the double the server sends)
 *   decimal                   VALUE DJ_V_DECIMAL  (the server's text, "24.50")
 *   date / datetime           VALUE DJ_V_DATETIME (date only: time = -1)
 *   uuid                      VALUE DJ_V_UUID     (MySQL binary(16), PostgreSQL uuid)
 *   char/varchar/enum/time    VALUE DJ_V_STR
 *   json                      VALUE DJ_V_STR holding the JSON text as the server returns it
 *                             (MySQL: as stored; PostgreSQL jsonb: normalised). Parse it with
 *                             jansson when needed: a value tree cannot tell JSON objects from
 *                             Python dicts, and the text keeps numbers exact.
 *   bytes, native blobs       VALUE DJ_V_BYTES
 *   <blob>, <blob@s>          VALUE: the unpacked tree (<blob@s>: fetched from the metadata's
 *                             `path`, never a recomputed one, and re-hashed: formats.md §4)
 *   <hash@s>                  VALUE DJ_V_BYTES (fetched and re-hashed)
 *   <attach>, <attach@s>      DJ_CELL_ATTACH: `name` and `data` (nothing is written to disk)
 *   <npy@s>                   DJ_CELL_NPY: the metadata only (lazy); dj_row_npy_load reads it
 *   <object@s>, <filepath@s>  DJ_CELL_OBJECT: the metadata only (lazy); dj_row_object_read
 * An unknown codec fails with DJ_ENOTSUP naming it.
 *
 * Errors name the table, the row's key and the column:
 *   "fx_ephys._recording {subject='mouse01', session_idx=1}.raw: store 'main': ..."
 * Library code: nothing is printed. A dj_row_ctx and the objects made from it belong to one
 * thread (its stores are not locked).
 */
#ifndef DJ_JOBS_ROW_H
#define DJ_JOBS_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/blob.h"
#include "codecs/npy.h"
#include "codecs/object.h"
#include "codecs/value.h"
#include "db/db.h"
#include "db/schema.h"
#include "stores/spec.h"
#include "stores/store.h"

/* --- stores by name ------------------------------------------------------------------------ */

/*
 * The stores a run may touch, opened on first use. `specs` and `default_store` are borrowed
 * (the configuration outlives the context). A store name of NULL, "" or JSON null means
 * stores.default (formats.md §1.2 C-REC).
 */
typedef struct dj_row_ctx {
	const dj_store_spec *specs;
	size_t nspecs;
	const char *default_store; /* stores.default, NULL when unset */
	dj_store **open;           /* one slot per spec, NULL until opened */
	dj_blob_opts blob;         /* unpack limits ({0}: the defaults) */
	bool defer_sync;           /* open stores with defer_sync: call dj_row_ctx_flush before
	                            * committing rows that name what was written */
} dj_row_ctx;

/* Zero `c` and remember the stores. DJ_ENOMEM only. Dispose afterwards, also on failure. */
int dj_row_ctx_init(dj_row_ctx *c, const dj_store_spec *specs, size_t nspecs,
                    const char *default_store, dj_err *err);
/* dj_store_flush every store opened through `c` (the first failure is returned). */
int dj_row_ctx_flush(dj_row_ctx *c, dj_err *err);
/* Close the stores opened through `c`. Safe on a zeroed context. */
void dj_row_ctx_dispose(dj_row_ctx *c);

/*
 * The store named `name` (NULL or "" = the default), opened once. `*spec` (may be NULL) is the
 * store's configuration. DJ_ENOTFOUND when not configured (err names it), else dj_store_open's
 * errors. The store stays owned by the context.
 */
int dj_row_store(dj_row_ctx *c, const char *name, dj_store **st, const dj_store_spec **spec,
                 dj_err *err);

/* --- cells --------------------------------------------------------------------------------- */

typedef enum dj_cell_kind {
	DJ_CELL_NULL = 0, /* SQL NULL (encode: SQL DEFAULT, as Python sends None) */
	DJ_CELL_DEFAULT,  /* encode only: leave the column to its default (SQL DEFAULT) */
	DJ_CELL_VALUE,    /* `value` */
	DJ_CELL_ATTACH,   /* `name` + `data` */
	DJ_CELL_NPY,      /* `npy` metadata; encode: `data` holds the .npy file to store */
	DJ_CELL_OBJECT,   /* `obj` metadata (<object@>, <filepath@>) */
	DJ_CELL_PATH,     /* encode only: `name` is a local file or folder (<attach>, <object@>) */
	DJ_CELL_ENCODED,  /* encode only, store-backed codecs: `data` is the column's value as
	                   * dj_insert_encoded gave it where the object was written (populate's
	                   * workers write objects; rank 0 inserts the metadata they return) */
} dj_cell_kind;

/*
 * One attribute value. Everything in it is owned by it (dj_cell_dispose). Encode inputs:
 *   plain attributes   VALUE of the kind listed above (a DJ_V_STR for json: JSON text;
 *                      DJ_V_INT/BOOL/FLOAT/DECIMAL/STR/DATETIME/UUID/BYTES as the column needs)
 *   <blob>, <blob@>    VALUE: any tree (packed with compression, formats.md §2.1)
 *   <hash@>            VALUE DJ_V_BYTES
 *   <attach>,<attach@> ATTACH (name + contents) or PATH (a local file)
 *   <npy@>             VALUE DJ_V_ARRAY (written as np.save would for the array the blob reader
 *                      returns), or NPY with `data` = a complete .npy file (stored as is)
 *   <object@>          VALUE DJ_V_BYTES with `name` = extension or NULL, or PATH (file or folder)
 *   <filepath@>        VALUE DJ_V_STR: the path relative to the store (must exist)
 *   <npy@>/<object@>/<filepath@> also take NPY/OBJECT metadata without data: stored as given
 *                      (Python's dict-with-"path" pass-through, formats.md §6.5)
 */
typedef struct dj_cell {
	dj_cell_kind kind;
	dj_value *value;
	char *name;
	dj_buf data;
	dj_npy_meta npy;
	dj_object_meta obj;
} dj_cell;

void dj_cell_init(dj_cell *c);
/* Free what `c` holds; it returns to the state dj_cell_init leaves (kind NULL). */
void dj_cell_dispose(dj_cell *c);

/* --- decoding one value -------------------------------------------------------------------- */

/*
 * Decode one column value of table `t` (attribute `a`) into `out` (initialised here; dispose it
 * afterwards, also on failure). `dbtype` is the result column's class, `raw` the value as
 * db.h returns it. `key` (may be NULL) names the row in messages. Store-backed codecs read
 * their object now (<blob@>, <attach@>, <hash@>); <npy@>, <object@>, <filepath@> do not.
 * DJ_EFORMAT for a value that does not parse (bad blob, JSON or metadata, a hash mismatch),
 * DJ_ENOTSUP for an unknown codec, store errors as store.h.
 */
int dj_row_decode(dj_row_ctx *c, const dj_table *t, const dj_attr *a, dj_db_type dbtype,
                  bool isnull, dj_bytes raw, const char *key, dj_cell *out, dj_err *err);

/* Read the whole .npy file of an <npy@> cell into `out` (appended). */
int dj_row_npy_read(dj_row_ctx *c, const dj_npy_meta *m, dj_buf *out, dj_err *err);
/*
 * Read and parse the .npy of an <npy@> cell into a new array value (*out; column-major like a
 * blob array, see dj_npy_to_array). The file's dtype and shape must match the metadata
 * (DJ_EFORMAT otherwise).
 */
int dj_row_npy_load(dj_row_ctx *c, const dj_npy_meta *m, dj_value **out, dj_err *err);

/*
 * Read an <object@>/<filepath@> object into `out` (appended): the file itself, or with
 * `member` (a path relative to the folder) one file of a folder object. DJ_EUSAGE for a member
 * of a file object or a folder without one.
 */
int dj_row_object_read(dj_row_ctx *c, const dj_object_meta *m, const char *member, dj_buf *out,
                       dj_err *err);

/* Call fn for every file of a folder object; entry keys are relative to the folder. */
int dj_row_object_list(dj_row_ctx *c, const dj_object_meta *m, dj_store_list_fn fn,
                       void *payload, dj_err *err);

/* --- fetching rows ------------------------------------------------------------------------- */

typedef struct dj_fetch dj_fetch;

#define DJ_FETCH_HIDDEN 0x1u   /* also the hidden attributes (_job_*, _singleton) */
#define DJ_FETCH_ORDER_PK 0x2u /* ORDER BY the primary key (Python leaves order to the server) */

/*
 * Start `SELECT <attributes> FROM <t> [WHERE (where)] [ORDER BY pk] [LIMIT limit]` on `db`
 * (limit < 0: none). `where` is SQL text used verbatim, as Python uses a string restriction.
 * The table, context and connection must outlive the fetch; nothing else may run on `db`
 * until dj_fetch_close. Errors as dj_db_query, naming the table.
 */
int dj_fetch_open(dj_fetch **out, dj_db *db, dj_row_ctx *c, const dj_table *t, const char *where,
                  int64_t limit, unsigned flags, dj_err *err);
/* 1 = a row, 0 = no more rows, < 0 = error. */
int dj_fetch_next(dj_fetch *f, dj_err *err);
size_t dj_fetch_ncols(const dj_fetch *f);
const dj_attr *dj_fetch_attr(const dj_fetch *f, size_t i);
/* The current row's raw value of column i (borrowed until the next row) and its class. */
dj_bytes dj_fetch_raw(const dj_fetch *f, size_t i, bool *isnull);
dj_db_type dj_fetch_dbtype(const dj_fetch *f, size_t i);
/* The current row's key for messages: "{subject='mouse01', session_idx=1}". */
const char *dj_fetch_key(const dj_fetch *f);
/* Decode column i of the current row (dj_row_decode). */
int dj_fetch_cell(dj_fetch *f, size_t i, dj_cell *out, dj_err *err);
/* Free the fetch (unread rows are drained). NULL ok. */
void dj_fetch_close(dj_fetch *f);

/* --- encoding rows: a multi-row INSERT ----------------------------------------------------- */

typedef struct dj_insert dj_insert;

/*
 * A batch of rows for table `t` of a schema on backend `b`, with the columns `cols` (visible
 * attributes of `t`; every primary-key attribute must be among them). DJ_EUSAGE naming an
 * unknown, hidden or duplicated column, or a missing key attribute.
 */
int dj_insert_new(dj_insert **out, dj_row_ctx *c, dj_db_backend b, const dj_table *t,
                  const char *const *cols, size_t ncols, dj_err *err);

/*
 * Encode one row (`cells` in column order; they are only read) and keep it for the next
 * dj_insert_exec. Store objects are written now, before any row that names them exists
 * (DESIGN.md): hash-addressed objects only if absent (formats.md §5.2), schema-addressed ones
 * at a new random path (§6.1, §6.3). Metadata records the real store name (DESIGN.md
 * decisions). A failure leaves the batch as it was (objects already written stay: they are
 * unreferenced and GC collects them). DJ_EUSAGE for a value the column cannot take.
 */
int dj_insert_add(dj_insert *ins, const dj_cell *cells, dj_err *err);

/*
 * The encoded value of column `col` of waiting row `row` (borrowed until the next exec or
 * free): `*text` is the SQL text a store-backed column gets (its JSON metadata); `*is_default`
 * when the cell was NULL or DEFAULT. DJ_EUSAGE for an index out of range or a column whose
 * value is not text.
 */
int dj_insert_encoded(const dj_insert *ins, size_t row, size_t col, dj_bytes *text,
                      bool *is_default, dj_err *err);

/* Whether attribute `a` writes objects to a store on insert (<blob@>, <attach@>, <hash@>,
 * <npy@>, <object@>, <filepath@>: the codecs a DJ_CELL_ENCODED cell may stand for). */
bool dj_attr_is_stored(const dj_attr *a);

/* Rows waiting for dj_insert_exec. */
size_t dj_insert_pending(const dj_insert *ins);

/*
 * Insert the waiting rows: `INSERT INTO t (cols) VALUES (...), (...)`, as few statements as the
 * size caps allow (statement bytes and parameter count), NULL and DEFAULT cells as SQL DEFAULT
 * (Python's placeholder for None). Runs inside the caller's transaction if one is open. The
 * waiting rows are dropped whether it succeeds or not. Errors as dj_db_exec (DJ_EEXISTS for a
 * duplicate key), naming the table.
 */
int dj_insert_exec(dj_insert *ins, dj_db *db, dj_err *err);

void dj_insert_free(dj_insert *ins);

#endif
