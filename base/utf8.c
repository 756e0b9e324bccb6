/* Strict UTF-8 (Python's decode("utf-8") rules). */
#include "base/utf8.h"

/* Decode one UTF-8 sequence at s[0..n) strictly (no overlongs, surrogates or > U+10FFFF).
 * Returns its length, or 0 when invalid. */
size_t dj_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c = s[0], min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0)
		len = 2, c &= 0x1F, min = 0x80;
	else if ((c & 0xF0) == 0xE0)
		len = 3, c &= 0x0F, min = 0x800;
	else if ((c & 0xF8) == 0xF0)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

bool dj_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint32_t c;
	for (size_t i = 0, k; i < n; i += k)
		if (!(k = dj_utf8_next(s + i, n - i, &c)))
			return false;
	return true;
}

int dj_utf8_add(dj_buf *b, uint32_t c)
{
	char t[4];
	size_t n;
	if (c < 0x80) {
		t[0] = (char)c, n = 1;
	} else if (c < 0x800) {
		t[0] = (char)(0xC0 | (c >> 6)), t[1] = (char)(0x80 | (c & 0x3F)), n = 2;
	} else if (c < 0x10000) {
		t[0] = (char)(0xE0 | (c >> 12)), t[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		t[2] = (char)(0x80 | (c & 0x3F)), n = 3;
	} else {
		t[0] = (char)(0xF0 | (c >> 18)), t[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		t[2] = (char)(0x80 | ((c >> 6) & 0x3F)), t[3] = (char)(0x80 | (c & 0x3F)), n = 4;
	}
	return dj_buf_add(b, t, n);
}
