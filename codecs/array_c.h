/*
 * Arrays for the chunked formats (HDF5, Zarr): a C-ordered copy of an npy array (the blob
 * reader's arrays arrive column-major) and the chunk shape both formats use.
 * Pure, any thread.
 */
#ifndef DJ_CODECS_ARRAY_C_H
#define DJ_CODECS_ARRAY_C_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "codecs/npy.h"

/* Uncompressed bytes a chunk aims at (zarr's and h5py's guidance: 0.1-10 MB). */
#define DJ_CHUNK_BYTES ((size_t)1 << 20)

/*
 * A new npy `out` with `in`'s descr and shape and its elements in C (row-major) order
 * (fortran_order false); `out` owns everything. DJ_ENOMEM. Dispose `out` also on failure.
 */
int dj_npy_c_order(dj_npy *out, const dj_npy *in, dj_err *err);

/*
 * The chunk shape (ndim entries into `chunk`): whole trailing dimensions, and as many rows of
 * the first dimension as fit in about `target` bytes (at least 1; every extent at least 1, as
 * both formats require). Nothing for 0-d arrays.
 */
void dj_chunk_shape(const dj_npy *a, size_t target, uint64_t *chunk);

#endif
