/* codecs/array_c, codecs/zarr, codecs/hdf5_write: the chunked array files of migrate to-object
 * (h5py/zarr read them back in tests/e2e/migrate_array.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "codecs/array_c.h"
#include "codecs/hdf5_write.h"
#include "codecs/zarr.h"

/* A borrowed int32 array view with F-ordered data. */
static dj_npy view_i32(int32_t *data, size_t ndim, uint64_t *shape, bool fortran)
{
	dj_npy a = DJ_NPY_INIT;
	a.descr = (char *)"<i4";
	a.ndim = ndim;
	a.shape = shape;
	a.count = 1;
	for (size_t k = 0; k < ndim; k++)
		a.count *= shape[k];
	a.itemsize = 4;
	a.fortran_order = fortran;
	a.data.ptr = (const uint8_t *)data;
	a.data.len = a.count * 4;
	return a;
}

static void c_order_2d_3d(void **state)
{
	(void)state;
	dj_err err = DJ_ERR_INIT;
	int32_t f2[6] = {0, 1, 2, 3, 4, 5}; /* (i, j) at i + 2j */
	uint64_t s2[2] = {2, 3};
	dj_npy in = view_i32(f2, 2, s2, true), out;
	assert_int_equal(dj_npy_c_order(&out, &in, &err), 0);
	const int32_t want2[6] = {0, 2, 4, 1, 3, 5};
	assert_false(out.fortran_order);
	assert_memory_equal(out.data.ptr, want2, sizeof(want2));
	dj_npy_dispose(&out);

	int32_t f3[24];
	uint64_t s3[3] = {2, 3, 4};
	for (int i = 0; i < 24; i++)
		f3[i] = i; /* (i, j, k) at i + 2j + 6k */
	in = view_i32(f3, 3, s3, true);
	assert_int_equal(dj_npy_c_order(&out, &in, &err), 0);
	const int32_t *c = (const int32_t *)out.data.ptr;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 4; k++)
				assert_int_equal(c[(i * 3 + j) * 4 + k], i + 2 * j + 6 * k);
	dj_npy_dispose(&out);
}

static void chunk_shapes(void **state)
{
	(void)state;
	uint64_t shape[3] = {1000, 300, 0}, chunk[3];
	dj_npy a = DJ_NPY_INIT;
	a.ndim = 2, a.shape = shape, a.itemsize = 8;
	dj_chunk_shape(&a, (size_t)1 << 20, chunk);
	assert_int_equal(chunk[0], (1u << 20) / 2400);
	assert_int_equal(chunk[1], 300);
	shape[0] = 10; /* fewer rows than fit */
	dj_chunk_shape(&a, (size_t)1 << 20, chunk);
	assert_int_equal(chunk[0], 10);
	a.ndim = 3, shape[0] = 0; /* empty extents: chunks stay at least 1 */
	dj_chunk_shape(&a, 64, chunk);
	assert_int_equal(chunk[0], 1);
	assert_int_equal(chunk[2], 1);
}

static void inflate_all(const dj_buf *z, uint8_t *out, size_t n)
{
	uLongf got = n;
	assert_int_equal(uncompress(out, &got, (const Bytef *)z->ptr, z->len), Z_OK);
	assert_int_equal(got, n);
}

static void zarr_files(void **state)
{
	(void)state;
	dj_err err = DJ_ERR_INIT;
	uint8_t data[15];
	uint64_t shape[2] = {5, 3};
	for (int i = 0; i < 15; i++)
		data[i] = (uint8_t)(i + 1);
	dj_npy a = DJ_NPY_INIT;
	a.descr = (char *)"|u1", a.ndim = 2, a.shape = shape, a.count = 15, a.itemsize = 1;
	a.data.ptr = data, a.data.len = 15;
	dj_zarr z = DJ_ZARR_INIT;
	assert_int_equal(dj_zarr_build(&z, &a, 6, &err), 0); /* 2 rows of 3 per chunk */
	assert_int_equal(z.nfiles, 4);
	assert_string_equal(z.files[0].name, ".zarray");
	assert_string_equal(z.files[1].name, "0.0");
	assert_string_equal(z.files[3].name, "2.0");
	dj_buf_addc(&z.files[0].data, 0);
	assert_string_equal(z.files[0].data.ptr,
	                    "{\n    \"chunks\": [\n        2,\n        3\n    ],\n"
	                    "    \"compressor\": {\n        \"id\": \"zlib\",\n        \"level\": 6\n"
	                    "    },\n    \"dtype\": \"|u1\",\n    \"fill_value\": null,\n"
	                    "    \"filters\": null,\n    \"order\": \"C\",\n    \"shape\": [\n"
	                    "        5,\n        3\n    ],\n    \"zarr_format\": 2\n}");
	uint8_t c[6];
	inflate_all(&z.files[3].data, c, 6); /* the edge chunk: row 4, then zero padding */
	const uint8_t want[6] = {13, 14, 15, 0, 0, 0};
	assert_memory_equal(c, want, 6);
	uint64_t total = 0;
	for (size_t i = 0; i < z.nfiles; i++)
		total += z.files[i].data.len - (i == 0); /* the NUL added above */
	assert_int_equal(z.total, total);
	dj_zarr_dispose(&z);

	double x = 2.5; /* 0-d: key "0" */
	dj_npy s = DJ_NPY_INIT;
	s.descr = (char *)"<f8", s.count = 1, s.itemsize = 8;
	s.data.ptr = (const uint8_t *)&x, s.data.len = 8;
	assert_int_equal(dj_zarr_build(&z, &s, 6, &err), 0);
	assert_int_equal(z.nfiles, 2);
	assert_string_equal(z.files[1].name, "0");
	double y = 0;
	inflate_all(&z.files[1].data, (uint8_t *)&y, 8);
	assert_true(y == 2.5);
	dj_zarr_dispose(&z);

	a.fortran_order = true; /* needs C order */
	assert_int_equal(dj_zarr_build(&z, &a, 6, &err), DJ_EUSAGE);
	dj_zarr_dispose(&z);
}

static void hdf5_files(void **state)
{
	(void)state;
	dj_err err = DJ_ERR_INIT;
	int32_t data[12];
	uint64_t shape[2] = {4, 3};
	for (int i = 0; i < 12; i++)
		data[i] = i * 7;
	dj_npy a = view_i32(data, 2, shape, false);
	dj_buf f1 = DJ_BUF_INIT, f2 = DJ_BUF_INIT;
	if (!dj_hdf5_built()) {
		assert_int_equal(dj_hdf5_write(&f1, &a, 16, &err), DJ_ENOTSUP);
		assert_non_null(strstr(err.msg, "without the HDF5 library"));
		return;
	}
	assert_int_equal(dj_hdf5_write(&f1, &a, 16, &err), 0);
	assert_true(f1.len > 8);
	assert_memory_equal(f1.ptr, "\x89HDF\r\n\x1a\n", 8);
	/* the same array, the same bytes: verify re-hashes against a second conversion */
	assert_int_equal(dj_hdf5_write(&f2, &a, 16, &err), 0);
	assert_int_equal(f1.len, f2.len);
	assert_memory_equal(f1.ptr, f2.ptr, f1.len);
	dj_buf_dispose(&f2);
	a.descr = (char *)"<M8[ns]", a.itemsize = 8, a.count = 6, a.data.len = 48;
	err = (dj_err)DJ_ERR_INIT;
	assert_int_equal(dj_hdf5_write(&f2, &a, 16, &err), DJ_ENOTSUP);
	assert_non_null(strstr(err.msg, "<M8[ns]"));
	assert_int_equal(f2.len, 0);
	dj_buf_dispose(&f1), dj_buf_dispose(&f2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(c_order_2d_3d),
	    cmocka_unit_test(chunk_shapes),
	    cmocka_unit_test(zarr_files),
	    cmocka_unit_test(hdf5_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
