/*
 * The JSON "expected model" of a value tree (vectors/README.md, the `expected` column of
 * vectors/blob/index.tsv). It describes the wire content exactly enough to rebuild the bytes,
 * and it is what `djrun inspect blob` prints.
 *
 * Floats are Python repr() text ("0.1", "1e+16", "-0.0", "inf"), NaN is "nan:0x" + its exact
 * bits (16 hex digits for float64, 8 for float32), float32 elements are the repr of their exact
 * double value; integers are decimal strings (0A ints of any width); char arrays are `chars_F`
 * (each u16 unit as one character; a valid surrogate pair becomes one code point).
 */
#ifndef DJ_CODECS_VALUE_MODEL_H
#define DJ_CODECS_VALUE_MODEL_H

#include <stddef.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "codecs/value.h"

/* The threshold the golden vectors use. */
#define DJ_MODEL_SUMMARIZE_VECTORS 64

/*
 * Build the model of `v` into a new JSON object (*out; caller releases with json_decref).
 * A numeric/bool/datetime64 array with more than `summarize_over` elements is summarized as
 * `n`, `data_F_sha256` (SHA-256 of the raw element bytes, real parts then imaginary parts) and
 * `data_F_head` (first 8 elements); SIZE_MAX never summarizes. Char and object arrays are never
 * summarized. Returns 0; DJ_EUSAGE for an invalid tree; DJ_ENOTSUP for what JSON cannot carry
 * (a lone UTF-16 surrogate in a char array, invalid UTF-8 in a str, a dimension > INT64_MAX);
 * DJ_ENOMEM.
 */
int dj_value_to_model(const dj_value *v, size_t summarize_over, json_t **out, dj_err *err);

/*
 * Rebuild a tree from a model (*out; caller frees with dj_value_free). Returns 0; DJ_EFORMAT
 * for a malformed model (err names the key); DJ_ENOTSUP for a summarized array (its data is not
 * in the model); DJ_ENOMEM.
 */
int dj_value_from_model(const json_t *m, dj_value **out, dj_err *err);

/* dj_value_to_model rendered as compact JSON text (JSON_COMPACT), appended to `out`. */
int dj_value_model_text(const dj_value *v, size_t summarize_over, dj_buf *out, dj_err *err);

#endif
