/*
 * .npy files as <npy@> stores them (formats.md §6.7-6.9) and the <npy@> column metadata.
 *
 * dj_npy_parse() reads versions 1.0, 2.0 and 3.0 with numpy's rules (the header is a Python
 * dict literal with exactly 'descr', 'fortran_order', 'shape', in any order and spacing).
 * dj_npy_write() produces exactly the bytes np.save(..., allow_pickle=False) writes for the same
 * array: keys sorted, numpy's growth spaces, padding to 64, version 1.0 unless the header needs
 * 2.0 (over 65535 bytes) or 3.0 (not Latin-1).
 *
 * Ownership: a dj_npy owns `descr`, `shape` and `own`; `data` may borrow the parsed input (or a
 * dj_array), which must then outlive it. dj_npy_dispose() frees what it owns. Pure, any thread.
 */
#ifndef DJ_CODECS_NPY_H
#define DJ_CODECS_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/value.h"

#define DJ_NPY_MAX_NDIM 64

typedef struct dj_npy {
	/* Simple dtype: numpy's dtype.str ("<f8", "|b1", "<M8[ns]", "<U3", ">f8").
	 * Structured: repr() of numpy's descr list ("[('a', '<i4'), ('b', '<f8')]"). */
	char *descr;
	bool structured;
	bool fortran_order; /* data is column-major */
	size_t ndim;
	uint64_t *shape;    /* ndim entries; NULL for 0-d */
	size_t count;       /* product of shape (1 for 0-d) */
	size_t itemsize;    /* bytes per element */
	/* as read by dj_npy_parse (0 / empty otherwise) */
	int version;        /* 1, 2 or 3 */
	dj_bytes header;    /* header text bytes (after the length field, through the final '\n') */
	size_t data_offset; /* where the array data starts */
	/* count * itemsize bytes of element data */
	dj_bytes data;
	uint8_t *own;       /* non-NULL when `data` points into memory this struct owns */
} dj_npy;

#define DJ_NPY_INIT {0}

/*
 * Parse a whole .npy file p[0..n). `data` borrows from p. Descriptors are canonicalised as
 * numpy would re-save them ("=f8" -> "<f8", "<i1" -> "|i1"); descr may be any numpy type but
 * object ('O'); strict bounds: the header, count * itemsize (overflow-checked) and ndim are
 * checked against the bytes present before anything is allocated. Bytes after the data are
 * ignored, as np.load does. DJ_EFORMAT naming the problem, DJ_ENOTSUP for object/subarray
 * descriptors, DJ_ENOMEM. `out` is overwritten; dispose it afterwards, also on failure.
 */
int dj_npy_parse(dj_npy *out, const void *p, size_t n, dj_err *err);

/*
 * As dj_npy_parse for a buffer holding at least the whole header (e.g. the first bytes of a
 * ranged read): fills everything but `data`, so `data_offset` and count * itemsize locate the
 * data. DJ_EFORMAT when the header is incomplete.
 */
int dj_npy_parse_header(dj_npy *out, const void *p, size_t n, dj_err *err);

/* Append np.save's header (magic, version, length, text, padding) for `a`'s descr,
 * fortran_order and shape. DJ_EFORMAT for an invalid descr, DJ_ENOMEM. */
int dj_npy_write_header(dj_buf *out, const dj_npy *a, dj_err *err);
/* Append the header and a->data (which must hold count * itemsize bytes). */
int dj_npy_write(dj_buf *out, const dj_npy *a, dj_err *err);

void dj_npy_dispose(dj_npy *a);

/*
 * Append Python's str(dtype) for a descr (§6.8): "float64", "bool", "int8", "complex128",
 * "datetime64[ns]", "timedelta64[s]" for native byte order; dtype.str for flexible or
 * non-native types ("<U3", "|S3", "|V8", ">f8"); the descr list text for structured dtypes.
 * DJ_EFORMAT for an invalid descr.
 */
int dj_npy_dtype_name(dj_buf *out, const char *descr, bool structured, dj_err *err);

/*
 * The reverse: a metadata dtype string to a canonical descr (malloc'd into *descr).
 * Accepts the names above, "bool", "[u]intN", "floatN", "complexN", "datetime64[unit]",
 * "timedelta64[unit]", dtype.str forms ("<f8", "|S3"), and a structured list literal.
 * DJ_EFORMAT / DJ_ENOTSUP naming the text, DJ_ENOMEM.
 */
int dj_npy_descr_from_dtype(const char *dtype, char **descr, bool *structured, dj_err *err);

/*
 * View a numeric/bool/datetime64 array (codecs/value.h, column-major wire order) as an npy,
 * choosing the layout np.save writes for the array Python's blob reader returns (an F-ordered
 * reshape): fortran_order is true when two or more dimensions exceed 1 (and none is 0), and
 * the data is then the wire data unchanged. Real arrays are borrowed without copying (`a` must
 * outlive `out`); complex ones are interleaved into `own`. DJ_ENOTSUP for char, object and
 * complex integer arrays, DJ_ENOMEM.
 */
int dj_npy_from_array(dj_npy *out, const dj_array *a, dj_err *err);

/*
 * Convert a parsed npy with a numeric, bool or datetime64 descr into a new DJ_V_ARRAY value
 * (column-major, little-endian, complex split into real then imaginary parts): C-ordered data
 * is transposed, big-endian data byte-swapped. DJ_ENOTSUP for other dtypes (strings,
 * structured, float16, timedelta, unit multipliers), DJ_ENOMEM.
 */
int dj_npy_to_array(const dj_npy *a, dj_value **out, dj_err *err);

/*
 * Append the <npy@> column value {"path": P, "store": S, "dtype": D, "shape": [..]} (§6.8),
 * with D = dj_npy_dtype_name(descr). `store` must be the resolved non-empty store name.
 */
int dj_npy_meta_build(dj_buf *out, const char *path, const char *store, const dj_npy *a,
		      dj_err *err);

typedef struct dj_npy_meta {
	char *path;
	char *store; /* NULL = null/absent */
	char *dtype;
	size_t ndim;
	uint64_t *shape;
} dj_npy_meta;

/* Parse an <npy@> column value; path, dtype and shape are required. Dispose afterwards. */
int dj_npy_meta_parse(dj_npy_meta *m, const char *json, size_t n, dj_err *err);
void dj_npy_meta_dispose(dj_npy_meta *m);

#endif
