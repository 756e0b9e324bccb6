/*
 * Python float text: repr() of a double, and its inverse.
 *
 * Used by the value model (vectors/README.md) and `djrun inspect blob`, which must print floats
 * exactly as Python's repr() does so that JSON models compare as text.
 */
#ifndef DJ_CODECS_PYFLOAT_H
#define DJ_CODECS_PYFLOAT_H

#include <stddef.h>

/* Longest repr plus NUL ("-2.2250738585072014e-308" is 24 characters). */
#define DJ_PYFLOAT_MAX 32

/*
 * Write repr(x) into `out` (NUL-terminated) and return its length. Shortest digits that read
 * back to the same double; fixed notation when the decimal exponent e of the first digit is in
 * -4 <= e < 16 (with ".0" appended to integral values), else scientific with a sign and at least
 * two exponent digits ("1e+16", "5e-324"); "inf", "-inf", "nan" (the sign of a NaN is dropped,
 * as in Python). Never fails.
 */
int dj_pyfloat_format(double x, char out[DJ_PYFLOAT_MAX]);

/*
 * Parse Python float text of exactly `n` bytes: decimal or scientific notation with an optional
 * sign, or inf/infinity/nan in any case. No blanks, no hex floats, no underscores. Returns 0, or
 * DJ_EFORMAT (nothing else is touched then).
 */
int dj_pyfloat_parse(const char *s, size_t n, double *out);

#endif
