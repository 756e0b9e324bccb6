/*
 * djrun migrate to-npy / to-object: a <blob> (in-table) or <blob@s> (hash-addressed) column of
 * numeric arrays becomes schema-addressed (formats.md §6): <npy@store> .npy files, or
 * <object@store> chunked HDF5 files (.h5) or Zarr v2 folders (.zarr, with the .manifest.json
 * sidecar), for streaming partial reads.
 *
 * The column change is to-store's (jobs/migrate.h: begin, swap, finalize, state from the
 * columns that exist); the fill and verify jobs are these:
 *   fill    rank 0 pages the rows still to fill by primary key, draws each row's path
 *           (schema/table/key/field_TOKEN.ext, a fresh token as every 2.x write) and ships key,
 *           path and the old value; a worker unpacks the blob (<blob@s>: reads the object its
 *           metadata names and re-hashes it), converts a numeric/bool N-d array to the target
 *           format, writes the object(s) and returns the column metadata exactly as the 2.x
 *           NpyCodec / ObjectCodec write it; rank 0 writes it, one UPDATE per row, one
 *           transaction per batch. A value that is not such an array (struct, cell, string,
 *           object array, scalar, a blob that does not unpack) is refused: its row is left
 *           untouched, the item fails naming the key, the rest is converted.
 *   verify  every filled row: the worker converts the old value again and re-hashes what the
 *           store holds (each file of a Zarr folder, and its manifest) against it, and checks
 *           the metadata (dtype and shape, or size, ext, is_dir, item_count). A row that fails
 *           is reset to NULL (the next run writes it again) and its item fails naming the key.
 * Objects are written before the row naming them; a killed run leaves at most unreferenced
 * objects (the GC's to collect), never a row naming a missing or partial object.
 *
 * Library code: nothing is printed.
 */
#ifndef DJ_JOBS_MIGRATE_ARRAY_H
#define DJ_JOBS_MIGRATE_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/npy.h"
#include "codecs/value.h"
#include "codecs/zarr.h"
#include "jobs/migrate.h"
#include "jobs/row.h"

typedef enum dj_array_format {
	DJ_ARRAY_NPY,  /* <npy@s>: one .npy file */
	DJ_ARRAY_HDF5, /* <object@s>: one .h5 file, dataset "data", chunked, deflate */
	DJ_ARRAY_ZARR, /* <object@s>: a .zarr folder (v2, zlib chunks) + .manifest.json */
} dj_array_format;

/* "npy", "hdf5", "zarr"; and the path extension ".npy", ".h5", ".zarr". */
const char *dj_array_format_name(dj_array_format f);
const char *dj_array_format_ext(dj_array_format f);

#define DJ_MIGRATE_ARRAY_REFUSED_MAX 16

typedef struct dj_migrate_array {
	dj_migrate m; /* the column machinery and options of to-store (m.array_target is set) */
	dj_array_format format;
	size_t chunk_bytes; /* HDF5/Zarr chunk target (0 = DJ_CHUNK_BYTES) */
	/* rank 0 */
	dj_row_ctx keys;    /* decodes key values for the paths (no store is opened) */
	bool keys_ready;
	uint64_t rows_refused;
	char *refused[DJ_MIGRATE_ARRAY_REFUSED_MAX]; /* "Table.attr {key}: why", first ones */
	size_t nrefused;
	/* workers */
	dj_row_ctx src;     /* the stores <blob@s> values live in */
	bool src_ready;
} dj_migrate_array;

/* Check the options (m.codec must be <npy@s> for NPY, <object@s> otherwise) and derive the
 * target (every rank; no I/O). DJ_EUSAGE naming what is wrong. */
int dj_migrate_array_init(dj_migrate_array *ma, dj_err *err);
/* Free everything (dj_migrate_dispose too). Safe on a zeroed struct. */
void dj_migrate_array_dispose(dj_migrate_array *ma);

/* Rank 0, after dj_migrate_open: the survey of dj_migrate_survey_run with the byte counts of
 * <blob@s> sources taken from their metadata and sample paths drawn for the first rows. */
int dj_migrate_array_survey(dj_migrate_array *ma, dj_migrate_survey *out, dj_err *err);

extern const dj_job dj_migrate_array_fill_job;
extern const dj_job dj_migrate_array_verify_job;

/* --- shared inside migrate_array*.c ---------------------------------------------------------- */

/* What one value becomes: the array (C order for HDF5/Zarr) and the file(s). */
typedef struct dj_array_out {
	dj_value *value;  /* the unpacked blob */
	dj_npy npy;       /* the array as np.save writes it (borrows `value`) */
	dj_npy c;         /* C-ordered copy (HDF5, Zarr) */
	dj_buf file;      /* NPY, HDF5: the whole file */
	dj_zarr zarr;     /* ZARR: the folder's files */
} dj_array_out;

void dj_array_out_dispose(dj_array_out *o);

/*
 * The old value `raw` (in-table blob bytes, or <blob@s> metadata JSON when `hashed`) as the
 * target format. DJ_ENOTSUP / DJ_EFORMAT / DJ_ENOTFOUND with a message for the person when the
 * value cannot be converted (refused: not a numeric array, a blob that does not unpack, a
 * source object missing or not matching its hash); other codes (store unreachable, memory)
 * are failures of the run, not of the value.
 */
int dj_migrate_array__convert(dj_migrate_array *ma, bool hashed, dj_bytes raw,
                              dj_array_out *out, dj_err *err);
/* Is a convert error a refusal of the value (true) or a failure of the run (false)? */
bool dj_migrate_array__refusal(int rc);

/* Open the worker stores (target and sources; once). */
int dj_migrate_array__open_stores(dj_migrate_array *ma, dj_err *err);

/* Rank 0: the schema-addressed path of the row whose key fields (u32 + text, npk of them) `r`
 * reads, with a fresh token. `types` are the key columns' result classes. */
int dj_migrate_array__path(dj_migrate_array *ma, dj_migrate__rd *r, dj_buf *out, dj_err *err);

/* Is the old column hash-addressed (<blob@s>)? */
bool dj_migrate_array__hashed_source(const dj_migrate_array *ma);

#endif
