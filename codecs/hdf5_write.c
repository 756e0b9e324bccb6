/* Arrays as HDF5 files, built in memory (codecs/hdf5_write.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/array_c.h"
#include "codecs/hdf5_write.h"

#ifndef DJ_HAVE_HDF5

bool dj_hdf5_built(void)
{
	return false;
}

int dj_hdf5_write(dj_buf *out, const dj_npy *a, size_t chunk_bytes, dj_err *err)
{
	(void)out, (void)a, (void)chunk_bytes;
	return dj_err_set(err, DJ_ENOTSUP,
	                  "hdf5: this djrun was built without the HDF5 library (libhdf5-dev)");
}

#else

#include <hdf5.h>

bool dj_hdf5_built(void)
{
	return true;
}

/* The file type for numpy descr `d` (little-endian or byte-order-free), as h5py makes it;
 * H5I_INVALID_HID with err set when there is none. The caller closes it. */
static hid_t file_type(const char *d, dj_err *err)
{
	static const hid_t *ints[2][4] = {
	    {&H5T_STD_I8LE_g, &H5T_STD_I16LE_g, &H5T_STD_I32LE_g, &H5T_STD_I64LE_g},
	    {&H5T_STD_U8LE_g, &H5T_STD_U16LE_g, &H5T_STD_U32LE_g, &H5T_STD_U64LE_g},
	};
	char kind = d[0] ? d[1] : 0;
	int n = d[0] && d[1] ? atoi(d + 2) : 0;
	hid_t t = H5I_INVALID_HID;
	int8_t v;
	if (d[0] != '<' && d[0] != '|')
		kind = 0; /* big-endian data never comes from a blob */
	switch (kind) {
	case 'b':
		if (n == 1 && (t = H5Tenum_create(H5T_NATIVE_INT8)) >= 0) {
			v = 0;
			H5Tenum_insert(t, "FALSE", &v);
			v = 1;
			H5Tenum_insert(t, "TRUE", &v);
		}
		break;
	case 'i':
	case 'u':
		for (int k = 0; k < 4; k++)
			if (n == 1 << k)
				t = H5Tcopy(*ints[kind == 'u'][k]);
		break;
	case 'f':
		if (n == 4 || n == 8)
			t = H5Tcopy(n == 4 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE);
		break;
	case 'c':
		if ((n == 8 || n == 16) && (t = H5Tcreate(H5T_COMPOUND, (size_t)n)) >= 0) {
			hid_t part = n == 8 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
			H5Tinsert(t, "r", 0, part);
			H5Tinsert(t, "i", (size_t)n / 2, part);
		}
		break;
	default:
		break;
	}
	if (t < 0)
		dj_err_set(err, DJ_ENOTSUP, "hdf5: dtype '%s' has no HDF5 type h5py reads back as it",
		           d);
	return t;
}

int dj_hdf5_write(dj_buf *out, const dj_npy *a, size_t chunk_bytes, dj_err *err)
{
	hsize_t dims[DJ_NPY_MAX_NDIM], chunk[DJ_NPY_MAX_NDIM];
	uint64_t c64[DJ_NPY_MAX_NDIM];
	hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
	hid_t dcpl = H5I_INVALID_HID, file = H5I_INVALID_HID, dset = H5I_INVALID_HID;
	const char *what = NULL;
	char name[64];
	int rc = 0;
	if (a->fortran_order || a->ndim > DJ_NPY_MAX_NDIM)
		return dj_err_set(err, DJ_EUSAGE, "hdf5: needs a C-ordered array");
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* library code never prints */
	if ((type = file_type(a->descr, err)) < 0)
		return err->code;
	dj_chunk_shape(a, chunk_bytes, c64);
	for (size_t k = 0; k < a->ndim; k++)
		dims[k] = a->shape[k], chunk[k] = c64[k];
	/* a name no other open in-memory file of this process has */
	snprintf(name, sizeof(name), "djrun-mem-%p.h5", (void *)out);
	if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
	    H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0)
		what = "H5Pset_fapl_core";
	else if ((file = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
		what = "H5Fcreate";
	else if ((space = a->ndim ? H5Screate_simple((int)a->ndim, dims, NULL)
	                          : H5Screate(H5S_SCALAR)) < 0)
		what = "H5Screate";
	else if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_obj_track_times(dcpl, 0) < 0)
		what = "H5Pcreate";
	else if (a->ndim && (H5Pset_chunk(dcpl, (int)a->ndim, chunk) < 0 ||
	                     H5Pset_deflate(dcpl, 6) < 0))
		what = "H5Pset_chunk";
	else if ((dset = H5Dcreate2(file, DJ_HDF5_DATASET, type, space, H5P_DEFAULT, dcpl,
	                            H5P_DEFAULT)) < 0)
		what = "H5Dcreate2";
	else if (a->count && H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data.ptr) < 0)
		what = "H5Dwrite";
	else if (H5Dclose(dset) < 0 || (dset = H5I_INVALID_HID, H5Fflush(file, H5F_SCOPE_GLOBAL) < 0))
		what = "H5Fflush";
	if (!what) {
		ssize_t n = H5Fget_file_image(file, NULL, 0);
		size_t at = out->len;
		if (n < 0)
			what = "H5Fget_file_image";
		else if (dj_buf_grow(out, (size_t)n) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "hdf5: out of memory");
		else if (H5Fget_file_image(file, out->ptr + at, (size_t)n) != n)
			what = "H5Fget_file_image";
		else
			dj_buf_setlen(out, at + (size_t)n);
	}
	if (what)
		rc = dj_err_set(err, DJ_ERROR, "hdf5: %s failed", what);
	if (dset >= 0)
		H5Dclose(dset);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	if (file >= 0)
		H5Fclose(file);
	if (fapl >= 0)
		H5Pclose(fapl);
	H5Tclose(type);
	return rc;
}

#endif
