/*
 * libFuzzer target for codecs/blob: unpack in both L-width modes (formats.md §2.8); whatever
 * decodes must pack and decode again to an equal tree, and its model must render.
 */
#include <stdint.h>
#include <stdlib.h>

#include "codecs/blob.h"
#include "codecs/value_model.h"

static void round_trip(const dj_value *v)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf out = DJ_BUF_INIT, text = DJ_BUF_INIT;
	dj_value *again = NULL;
	int rc = dj_blob_pack(v, NULL, &out, &err);
	if (rc == 0) {
		if (dj_blob_unpack((const uint8_t *)out.ptr, out.len, NULL, &again, NULL, &err) != 0 ||
		    !dj_value_equal(v, again))
			abort(); /* pack produced bytes we cannot read back identically */
	} else if (rc != DJ_ENOTSUP) {
		abort(); /* a decoded tree is always valid; only 0-field structs are refused */
	}
	/* the model may refuse lone surrogates or huge dims (DJ_ENOTSUP), nothing else */
	err = (dj_err)DJ_ERR_INIT;
	rc = dj_value_model_text(v, DJ_MODEL_SUMMARIZE_VECTORS, &text, &err);
	if (rc != 0 && rc != DJ_ENOTSUP)
		abort();
	dj_value_free(again);
	dj_buf_dispose(&out);
	dj_buf_dispose(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int dims32 = 0; dims32 <= 1; dims32++) {
		dj_blob_opts o = {.dims32 = dims32 != 0, .max_bytes = (size_t)64 << 20};
		dj_err err = DJ_ERR_INIT;
		dj_value *v = NULL;
		if (dj_blob_unpack(data, size, &o, &v, NULL, &err) == 0) {
			round_trip(v);
			dj_value_free(v);
		} else if (v != NULL || !err.msg[0]) {
			abort(); /* failures leave no tree and always say why */
		}
	}
	return 0;
}
