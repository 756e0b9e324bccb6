/* C-ordered copies and chunk shapes for the chunked formats (codecs/array_c.h). */
#include <stdlib.h>
#include <string.h>

#include "codecs/array_c.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "array: out of memory");
}

int dj_npy_c_order(dj_npy *out, const dj_npy *in, dj_err *err)
{
	size_t n = in->ndim, isz = in->itemsize;
	memset(out, 0, sizeof(*out));
	out->descr = strdup(in->descr);
	out->shape = n ? malloc(n * sizeof(*out->shape)) : NULL;
	out->own = in->data.len ? malloc(in->data.len) : NULL;
	if (!out->descr || (n && !out->shape) || (in->data.len && !out->own))
		return nomem(err);
	if (n)
		memcpy(out->shape, in->shape, n * sizeof(*out->shape));
	out->structured = in->structured;
	out->ndim = n;
	out->count = in->count;
	out->itemsize = isz;
	out->data.ptr = out->own;
	out->data.len = in->data.len;
	if (!in->data.len)
		return 0;
	if (!in->fortran_order || n < 2) {
		memcpy(out->own, in->data.ptr, in->data.len);
		return 0;
	}
	/* walk the C order with a multi-index, keeping the matching column-major offset */
	uint64_t *idx = calloc(n, sizeof(*idx)), *fstride = malloc(n * sizeof(*fstride));
	if (!idx || !fstride) {
		free(idx), free(fstride);
		return nomem(err);
	}
	fstride[0] = 1;
	for (size_t k = 1; k < n; k++)
		fstride[k] = fstride[k - 1] * in->shape[k - 1];
	uint64_t f = 0;
	for (size_t e = 0; e < in->count; e++) {
		memcpy(out->own + e * isz, in->data.ptr + f * isz, isz);
		for (size_t k = n; k-- > 0;) {
			if (++idx[k] < in->shape[k]) {
				f += fstride[k];
				break;
			}
			f -= fstride[k] * (idx[k] - 1);
			idx[k] = 0;
		}
	}
	free(idx), free(fstride);
	return 0;
}

void dj_chunk_shape(const dj_npy *a, size_t target, uint64_t *chunk)
{
	uint64_t row = a->itemsize ? a->itemsize : 1;
	if (!a->ndim)
		return;
	for (size_t k = 1; k < a->ndim; k++) {
		chunk[k] = a->shape[k] ? a->shape[k] : 1;
		row = row < ((uint64_t)1 << 62) / chunk[k] ? row * chunk[k] : (uint64_t)1 << 62;
	}
	uint64_t rows = target / row;
	if (rows < 1)
		rows = 1;
	if (a->shape[0] && rows > a->shape[0])
		rows = a->shape[0];
	chunk[0] = rows;
}
