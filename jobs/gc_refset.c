/* The referenced-path set of gc (jobs/gc.h): 64-bit digests in one open-addressing table, 8 bytes
 * a slot at load <= 1/2, so 30M references take ~512 MiB on rank 0 instead of the paths. */
#include <stdlib.h>
#include <string.h>

#include "jobs/gc.h"

/* MurmurHash64A-style mixing over 8-byte words; never 0 (0 marks an empty slot). */
uint64_t dj_gc_digest(const char *p, size_t n)
{
	const uint64_t m = 0xc6a4a7935bd1e995ULL;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * m);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t k;
		memcpy(&k, p + i, 8);
		k *= m, k ^= k >> 47, k *= m;
		h ^= k, h *= m;
	}
	uint64_t t = 0;
	for (size_t j = 0; i + j < n; j++)
		t |= (uint64_t)(unsigned char)p[i + j] << (8 * j);
	h ^= t, h *= m;
	h ^= h >> 47, h *= m, h ^= h >> 47;
	return h ? h : 1;
}

static int grow(dj_gc_refset *s, dj_err *err)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	uint64_t *v = calloc(cap, sizeof(*v));
	if (!v)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory for %zu references", s->n);
	for (size_t i = 0; i < s->cap; i++) {
		uint64_t d = s->slots[i];
		if (!d)
			continue;
		size_t j = (size_t)d & (cap - 1);
		while (v[j])
			j = (j + 1) & (cap - 1);
		v[j] = d;
	}
	free(s->slots);
	s->slots = v, s->cap = cap;
	return 0;
}

static int add_digest(dj_gc_refset *s, uint64_t d, dj_err *err)
{
	if ((s->n + 1) * 2 > s->cap && grow(s, err) < 0)
		return DJ_ENOMEM;
	size_t j = (size_t)d & (s->cap - 1);
	while (s->slots[j]) {
		if (s->slots[j] == d)
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	s->slots[j] = d;
	s->n++;
	return 0;
}

int dj_gc_refset_add(dj_gc_refset *s, const char *p, size_t n, dj_err *err)
{
	return add_digest(s, dj_gc_digest(p, n), err);
}

bool dj_gc_refset_has(const dj_gc_refset *s, const char *p, size_t n)
{
	if (!s->n)
		return false;
	uint64_t d = dj_gc_digest(p, n);
	size_t j = (size_t)d & (s->cap - 1);
	while (s->slots[j]) {
		if (s->slots[j] == d)
			return true;
		j = (j + 1) & (s->cap - 1);
	}
	return false;
}

void dj_gc_refset_free(dj_gc_refset *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

bool dj_gc_covered(const dj_gc_refset *s, const char *path, size_t n)
{
	static const char man[] = ".manifest.json";
	const size_t ml = sizeof(man) - 1;
	if (n >= ml && !memcmp(path + n - ml, man, ml))
		n -= ml;
	if (dj_gc_refset_has(s, path, n))
		return true;
	for (size_t i = n; i-- > 1;) /* ancestors cut at a '/', never at position 0 */
		if (path[i] == '/' && dj_gc_refset_has(s, path, i))
			return true;
	return false;
}

bool dj_gc_hash_name(const char *name, size_t n)
{
	if (n != 26)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '2' && name[i] <= '7')))
			return false;
	return true;
}
