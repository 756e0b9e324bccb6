/*
 * One array as an HDF5 file that h5py reads back unchanged: one dataset (DJ_HDF5_DATASET) at
 * the file's root, chunked by dj_chunk_shape, deflate level 6, no object timestamps (so the
 * same array always gives the same bytes), little-endian types as h5py maps numpy's:
 * integers, float32/64, bool as h5py's enum (int8: FALSE=0, TRUE=1), complex as h5py's
 * compound {r, i}. A 0-d array is a scalar dataset (HDF5 cannot chunk those). The file is
 * built in memory (HDF5's core driver, no file on disk) with the serial HDF5 library.
 *
 * The HDF5 library is not thread-safe: call from one thread of a process at a time.
 * When djrun is built without HDF5 every call fails with DJ_ENOTSUP saying so.
 */
#ifndef DJ_CODECS_HDF5_WRITE_H
#define DJ_CODECS_HDF5_WRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/npy.h"

#define DJ_HDF5_DATASET "data"

/* Was djrun built with the HDF5 library? */
bool dj_hdf5_built(void);

/*
 * Append the file for C-ordered array `a` (fortran_order false) to `out`. DJ_ENOTSUP for a
 * dtype h5py cannot read back as the same numpy dtype (datetime64, strings, structured) or when
 * built without HDF5; DJ_EUSAGE for a Fortran-ordered array; DJ_ERROR naming the HDF5 call
 * that failed; DJ_ENOMEM.
 */
int dj_hdf5_write(dj_buf *out, const dj_npy *a, size_t chunk_bytes, dj_err *err);

#endif
