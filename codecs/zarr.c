/* Zarr v2 array files (codecs/zarr.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codecs/array_c.h"
#include "codecs/zarr.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "zarr: out of memory");
}

static dj_zarr_file *add_file(dj_zarr *z, const char *name)
{
	dj_zarr_file *f = realloc(z->files, (z->nfiles + 1) * sizeof(*f));
	if (!f)
		return NULL;
	z->files = f;
	f = &z->files[z->nfiles];
	f->data = (dj_buf)DJ_BUF_INIT;
	if (!(f->name = strdup(name)))
		return NULL;
	z->nfiles++;
	return f;
}

/* A JSON list of ints at indent 4 inside the top-level object, as json.dumps(indent=4). */
static int int_list(dj_buf *b, const uint64_t *v, size_t n)
{
	int rc = dj_buf_adds(b, n ? "[\n" : "[]");
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = dj_buf_addf(b, "        %" PRIu64 "%s\n", v[i], i + 1 < n ? "," : "");
	if (rc == 0 && n)
		rc = dj_buf_adds(b, "    ]");
	return rc;
}

static int zarray(dj_buf *b, const dj_npy *a, const uint64_t *chunk)
{
	int rc = dj_buf_adds(b, "{\n    \"chunks\": ");
	if (rc == 0)
		rc = int_list(b, chunk, a->ndim);
	if (rc == 0)
		rc = dj_buf_addf(b,
		                 ",\n    \"compressor\": {\n        \"id\": \"zlib\",\n        "
		                 "\"level\": %d\n    },\n    \"dtype\": \"%s\",\n    \"fill_value\": "
		                 "null,\n    \"filters\": null,\n    \"order\": \"C\",\n    \"shape\": ",
		                 DJ_ZARR_LEVEL, a->descr);
	if (rc == 0)
		rc = int_list(b, a->shape, a->ndim);
	if (rc == 0)
		rc = dj_buf_adds(b, ",\n    \"zarr_format\": 2\n}");
	return rc;
}

static int compress_into(dj_buf *out, const uint8_t *p, size_t n, dj_err *err)
{
	uLongf cap = compressBound((uLong)n);
	if (dj_buf_grow(out, cap) < 0)
		return nomem(err);
	if (compress2((Bytef *)out->ptr, &cap, p, (uLong)n, DJ_ZARR_LEVEL) != Z_OK)
		return dj_err_set(err, DJ_ERROR, "zarr: zlib compression failed");
	dj_buf_setlen(out, cap);
	return 0;
}

/* Copy chunk `ci` (chunk indices) of C-ordered `a` into `buf` (chunk-shaped, zero padded). */
static void gather(const dj_npy *a, const uint64_t *chunk, const uint64_t *ci, uint8_t *buf,
                   size_t chunk_elems)
{
	size_t n = a->ndim, isz = a->itemsize;
	uint64_t idx[DJ_NPY_MAX_NDIM] = {0};
	memset(buf, 0, chunk_elems * isz);
	/* rows of the last dimension: contiguous in both the array and the chunk */
	uint64_t last = chunk[n - 1], start = ci[n - 1] * last;
	uint64_t run = start + last <= a->shape[n - 1] ? last : a->shape[n - 1] - start;
	for (size_t e = 0; e < chunk_elems; e += last) {
		bool inside = true;
		uint64_t off = 0;
		for (size_t k = 0; k < n; k++) {
			uint64_t g = ci[k] * chunk[k] + idx[k];
			inside = inside && g < a->shape[k];
			off = off * a->shape[k] + g;
		}
		if (inside && run)
			memcpy(buf + e * isz, a->data.ptr + off * isz, run * isz);
		for (size_t k = n - 1; k-- > 0;) {
			if (++idx[k] < chunk[k])
				break;
			idx[k] = 0;
		}
	}
}

int dj_zarr_build(dj_zarr *out, const dj_npy *a, size_t chunk_bytes, dj_err *err)
{
	uint64_t chunk[DJ_NPY_MAX_NDIM], nch[DJ_NPY_MAX_NDIM], ci[DJ_NPY_MAX_NDIM] = {0};
	size_t n = a->ndim, chunk_elems = 1, nchunks = 1;
	uint8_t *buf = NULL;
	dj_zarr_file *f;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (a->fortran_order || a->structured || n > DJ_NPY_MAX_NDIM)
		return dj_err_set(err, DJ_EUSAGE, "zarr: needs a simple C-ordered array");
	dj_chunk_shape(a, chunk_bytes, chunk);
	for (size_t k = 0; k < n; k++) {
		nch[k] = (a->shape[k] + chunk[k] - 1) / chunk[k];
		chunk_elems *= chunk[k];
		nchunks *= nch[k];
	}
	if (!(f = add_file(out, ".zarray")) || zarray(&f->data, a, chunk) < 0)
		return nomem(err);
	out->total = f->data.len;
	if (n == 0) { /* one element, key "0" */
		if (!(f = add_file(out, "0")))
			return nomem(err);
		rc = compress_into(&f->data, a->data.ptr, a->itemsize, err);
		out->total += f->data.len;
		return rc;
	}
	if (nchunks && !(buf = malloc(chunk_elems * a->itemsize)))
		return nomem(err);
	for (size_t c = 0; rc == 0 && c < nchunks; c++) {
		dj_buf key = DJ_BUF_INIT;
		for (size_t k = 0; rc == 0 && k < n; k++)
			rc = dj_buf_addf(&key, "%s%" PRIu64, k ? "." : "", ci[k]);
		if (rc < 0 || !(f = add_file(out, key.ptr)))
			rc = nomem(err);
		dj_buf_dispose(&key);
		if (rc < 0)
			break;
		gather(a, chunk, ci, buf, chunk_elems);
		rc = compress_into(&f->data, buf, chunk_elems * a->itemsize, err);
		out->total += f->data.len;
		for (size_t k = n; k-- > 0;) {
			if (++ci[k] < nch[k])
				break;
			ci[k] = 0;
		}
	}
	free(buf);
	return rc;
}

void dj_zarr_dispose(dj_zarr *z)
{
	for (size_t i = 0; i < z->nfiles; i++) {
		free(z->files[i].name);
		dj_buf_dispose(&z->files[i].data);
	}
	free(z->files);
	memset(z, 0, sizeof(*z));
}
