/*
 * Zarr v2 arrays (zarr-specs v2): the `.zarray` metadata and the chunk files of one array, as
 * zarr-python 2.x reads them: C order, chunk keys "i.j.k" ("0" for a 0-d array), every chunk
 * stored at its full chunk shape (edge chunks padded with zeros), each chunk compressed with
 * numcodecs' "zlib" codec (a zlib stream, level 6 as the rest of djrun), fill_value null.
 * `.zarray` is json.dumps(meta, indent=4, sort_keys=True) as zarr-python writes it.
 * Pure, any thread.
 */
#ifndef DJ_CODECS_ZARR_H
#define DJ_CODECS_ZARR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/npy.h"

#define DJ_ZARR_LEVEL 6

typedef struct dj_zarr_file {
	char *name;  /* relative to the array's folder: ".zarray", "0.0", ... */
	dj_buf data; /* the bytes of the file */
} dj_zarr_file;

typedef struct dj_zarr {
	dj_zarr_file *files; /* ".zarray" first, then the chunks in C order of their indices */
	size_t nfiles;
	uint64_t total; /* sum of the files' sizes */
} dj_zarr;

#define DJ_ZARR_INIT {NULL, 0, 0}

/*
 * Build the files of array `a` (C order: fortran_order false; any simple descr numpy knows,
 * not structured) chunked by dj_chunk_shape(a, chunk_bytes). DJ_EUSAGE for a Fortran-ordered or
 * structured array, DJ_ENOMEM, DJ_ERROR for a zlib failure. Dispose `out` also on failure.
 */
int dj_zarr_build(dj_zarr *out, const dj_npy *a, size_t chunk_bytes, dj_err *err);
void dj_zarr_dispose(dj_zarr *z);

#endif
