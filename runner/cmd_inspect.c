/*
 * djrun inspect blob|npy FILE: decode a DataJoint blob or an .npy file and print it as JSON on
 * stdout (one line). The value model is the one of ../shared/vectors/README.md, so what this
 * prints can be compared with the golden vectors and with what datajoint-python decodes.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "codecs/blob.h"
#include "codecs/npy.h"
#include "codecs/value_model.h"
#include "runner/cli.h"
#include "runner/exit.h"

typedef struct inspect_opts {
	const char *what; /* "blob" or "npy" */
	const char *file; /* "-" = stdin */
	size_t summary;   /* arrays with more elements are summarised; SIZE_MAX = never */
	bool dims32;
	bool info;
} inspect_opts;

static void help(FILE *out)
{
	fprintf(out,
		"usage: djrun inspect blob [--summary N] [--dims32] [--info] FILE\n"
		"       djrun inspect npy [--summary N] FILE\n\n"
		"Decode FILE ('-' for standard input) and print it as one line of JSON.\n"
		"  blob   a DataJoint blob: in-table <blob> bytes or a <blob@> object (mYm or dj0,\n"
		"         zlib-wrapped or not); prints the value tree\n"
		"  npy    an .npy file as <npy@> stores it; prints header, dtype, shape and values\n\n"
		"  --summary N  arrays of more than N elements show n, data_F_sha256, data_F_head\n"
		"  --dims32     read blobs written by the old 32-bit MATLAB mym\n"
		"  --info       blob: wrap the value with the header, zlib flag and sizes\n");
}

static int parse_args(int argc, char **argv, inspect_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->summary = SIZE_MAX;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			help(stdout);
			return 1;
		} else if (!strcmp(a, "--summary") && i + 1 < argc) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(argv[++i], &end, 10);
			if (errno || *end || end == argv[i])
				return dj_cli_usage_error("inspect", "--summary takes a number, not '%s'", argv[i]);
			o->summary = (size_t)n;
		} else if (!strcmp(a, "--dims32")) {
			o->dims32 = true;
		} else if (!strcmp(a, "--info")) {
			o->info = true;
		} else if (a[0] == '-' && a[1]) {
			return dj_cli_usage_error("inspect", "unknown option '%s'", a);
		} else if (!o->what) {
			o->what = a;
		} else if (!o->file) {
			o->file = a;
		} else {
			return dj_cli_usage_error("inspect", "unexpected argument '%s'", a);
		}
	}
	if (!o->what || !o->file)
		return dj_cli_usage_error("inspect", "expected 'blob FILE' or 'npy FILE'");
	if (strcmp(o->what, "blob") && strcmp(o->what, "npy"))
		return dj_cli_usage_error("inspect", "unknown kind '%s' (blob or npy)", o->what);
	return 0;
}

static int print_json(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	if (!text) {
		fprintf(stderr, "djrun: inspect: out of memory\n");
		return DJ_EXIT_FAILED;
	}
	puts(text);
	free(text);
	return DJ_EXIT_OK;
}

static int inspect_blob(const inspect_opts *o, const dj_buf *in, dj_err *err)
{
	dj_blob_opts bo = {0};
	dj_blob_info info;
	dj_value *v = NULL;
	json_t *model = NULL;
	bo.dims32 = o->dims32;
	if (dj_blob_unpack((const uint8_t *)in->ptr, in->len, &bo, &v, &info, err) < 0)
		return DJ_EXIT_FAILED;
	int rc = dj_value_to_model(v, o->summary, &model, err);
	dj_value_free(v);
	if (rc < 0)
		return DJ_EXIT_FAILED;
	if (o->info)
		model = json_pack("{s:s, s:b, s:I, s:I, s:o}", "header", info.header, "zlib",
				  info.zlib, "bytes", (json_int_t)info.raw_len, "body_bytes",
				  (json_int_t)info.body_len, "value", model);
	return print_json(model);
}

/* The values of an npy array, as the blob value model (column-major data_F), or null with the
 * reason when the dtype has no value-tree form (strings, structured, float16...). */
static json_t *npy_values(const dj_npy *a, size_t summary)
{
	dj_err e = DJ_ERR_INIT;
	dj_value *v = NULL;
	json_t *m = NULL;
	if (dj_npy_to_array(a, &v, &e) < 0 || dj_value_to_model(v, summary, &m, &e) < 0) {
		dj_value_free(v);
		return json_pack("{s:n, s:s}", "value", "reason", e.msg);
	}
	dj_value_free(v);
	return json_pack("{s:o}", "value", m);
}

static int inspect_npy(const inspect_opts *o, const dj_buf *in, dj_err *err)
{
	dj_npy a = DJ_NPY_INIT;
	dj_buf dtype = DJ_BUF_INIT;
	json_t *out = NULL, *shape;
	int rc = DJ_EXIT_FAILED;
	if (dj_npy_parse(&a, in->ptr, in->len, err) < 0 ||
	    dj_npy_dtype_name(&dtype, a.descr, a.structured, err) < 0)
		goto done;
	shape = json_array();
	for (size_t i = 0; i < a.ndim; i++)
		json_array_append_new(shape, json_integer((json_int_t)a.shape[i]));
	out = json_pack("{s:s, s:s#, s:I, s:s, s:s, s:b, s:o}", "version",
			a.version == 1 ? "1.0" : a.version == 2 ? "2.0" : "3.0", "header",
			(const char *)a.header.ptr, a.header.len, "data_offset",
			(json_int_t)a.data_offset, "descr", a.descr, "dtype", dtype.ptr,
			"fortran_order", a.fortran_order, "shape", shape);
	if (!out) {
		dj_err_set(err, DJ_ENOMEM, "out of memory");
		goto done;
	}
	json_t *values = npy_values(&a, o->summary);
	json_object_update(out, values); /* copies the members, does not take `values` */
	json_decref(values);
	rc = print_json(out);
done:
	dj_buf_dispose(&dtype);
	dj_npy_dispose(&a);
	return rc;
}

int dj_cmd_inspect(int argc, char **argv)
{
	inspect_opts o;
	dj_buf in = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc == 1 ? DJ_EXIT_OK : rc;
	if (dj_file_read(strcmp(o.file, "-") ? o.file : "/dev/stdin", &in, &err) < 0) {
		fprintf(stderr, "djrun: inspect: %s\n", err.msg);
		dj_buf_dispose(&in);
		return DJ_EXIT_FAILED;
	}
	rc = !strcmp(o.what, "blob") ? inspect_blob(&o, &in, &err) : inspect_npy(&o, &in, &err);
	if (rc != DJ_EXIT_OK && err.code)
		fprintf(stderr, "djrun: inspect %s '%s': %s\n", o.what, o.file, err.msg);
	dj_buf_dispose(&in);
	return rc;
}
