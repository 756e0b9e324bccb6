/* Python float repr() and parsing (codecs/pyfloat.h). */
#include "codecs/pyfloat.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

/*
 * Shortest round-trip digits: the correctly rounded p-digit form for the smallest p that reads
 * back to x (glibc printf/strtod are exact). Fills digits (no dot, no trailing zeros) and the
 * decimal exponent of the first digit.
 */
static size_t shortest_digits(double x, char digits[20], int *exp10)
{
	char buf[40];
	size_t k = 0;
	char *e;
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, sizeof buf, "%.*e", p - 1, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	for (const char *c = buf; *c && *c != 'e'; c++)
		if (*c >= '0' && *c <= '9')
			digits[k++] = *c;
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	e = strchr(buf, 'e');
	*exp10 = e ? atoi(e + 1) : 0;
	return k;
}

/* Python switches to scientific notation outside -4 <= exp < 16 (float_repr_style 'short'). */
static int format_fixed(char *o, const char *d, size_t k, int e)
{
	int n = 0;
	if (e < 0) {
		n += sprintf(o + n, "0.");
		for (int i = -1; i > e; i--)
			o[n++] = '0';
		memcpy(o + n, d, k);
		n += (int)k;
	} else {
		for (int i = 0; i <= e; i++)
			o[n++] = (size_t)i < k ? d[i] : '0';
		o[n++] = '.';
		if ((size_t)e + 1 < k) {
			memcpy(o + n, d + e + 1, k - (size_t)e - 1);
			n += (int)(k - (size_t)e - 1);
		} else {
			o[n++] = '0';
		}
	}
	o[n] = '\0';
	return n;
}

static int format_sci(char *o, const char *d, size_t k, int e)
{
	int n = 0;
	o[n++] = d[0];
	if (k > 1) {
		o[n++] = '.';
		memcpy(o + n, d + 1, k - 1);
		n += (int)(k - 1);
	}
	n += sprintf(o + n, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
	return n;
}

int dj_pyfloat_format(double x, char out[DJ_PYFLOAT_MAX])
{
	char digits[20];
	size_t k;
	int e, n = 0;
	if (isnan(x))
		return sprintf(out, "nan");
	if (isinf(x))
		return sprintf(out, x < 0 ? "-inf" : "inf");
	if (signbit(x))
		out[n++] = '-';
	if (x == 0)
		return n + sprintf(out + n, "0.0");
	k = shortest_digits(fabs(x), digits, &e);
	if (e >= -4 && e < 16)
		return n + format_fixed(out + n, digits, k, e);
	return n + format_sci(out + n, digits, k, e);
}

/* [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)? — the subset repr() produces. */
static bool is_decimal(const char *s, size_t n)
{
	size_t i = 0, mant = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		mant++;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			mant++;
	if (mant == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t ed = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			ed++;
		if (ed == 0)
			return false;
	}
	return i == n;
}

static int parse_special(const char *s, size_t n, double *out)
{
	bool neg = n > 0 && s[0] == '-';
	size_t off = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
	const char *w = s + off;
	size_t m = n - off;
	if ((m == 3 && strncasecmp(w, "inf", 3) == 0) || (m == 8 && strncasecmp(w, "infinity", 8) == 0)) {
		*out = neg ? -INFINITY : INFINITY;
		return 0;
	}
	if (m == 3 && strncasecmp(w, "nan", 3) == 0) {
		*out = neg ? -NAN : NAN;
		return 0;
	}
	return DJ_EFORMAT;
}

int dj_pyfloat_parse(const char *s, size_t n, double *out)
{
	char small[128], *copy = small;
	double v;
	if (!s)
		return DJ_EFORMAT;
	if (!is_decimal(s, n))
		return parse_special(s, n, out);
	if (n >= sizeof small && !(copy = malloc(n + 1)))
		return DJ_EFORMAT;
	memcpy(copy, s, n);
	copy[n] = '\0';
	v = strtod(copy, NULL); /* exact (correctly rounded) in glibc; overflow gives ±inf like Python */
	if (copy != small)
		free(copy);
	*out = v;
	return 0;
}
