/*
 * The store registry and the dj_store_* wrappers: argument checks, NULL slots -> DJ_ENOTSUP,
 * remove_many's fallback. Backends never see an invalid key.
 */
#include "stores/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const dj_store_ops dj_store_file_ops;
extern const dj_store_ops dj_store_s3_ops;
extern const dj_store_ops dj_store_azure_ops;
extern const dj_store_ops dj_store_gcs_ops;

/* Every protocol datajoint-python knows (formats.md §8.3); NULL = known but not built in. */
static const struct {
	const char *scheme;
	const dj_store_ops *ops;
} registry[] = {
    {"file", &dj_store_file_ops},
    {"s3", &dj_store_s3_ops},
    {"azure", &dj_store_azure_ops},
    {"gcs", &dj_store_gcs_ops},
};

int dj_store_backend(const char *scheme, const char *store, const dj_store_ops **out, dj_err *err)
{
	const char *s = store ? store : "?";
	*out = NULL;
	if (!scheme || !*scheme)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': no protocol", s);
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++) {
		if (strcmp(registry[i].scheme, scheme) != 0)
			continue;
		if (!registry[i].ops)
			return dj_err_set(err, DJ_ENOTSUP,
			                  "store '%s': protocol '%s' is not built in", s, scheme);
		*out = registry[i].ops;
		return 0;
	}
	return dj_err_set(err, DJ_EUSAGE, "store '%s': unknown protocol '%s'", s, scheme);
}

int dj_store_open(dj_store **out, const dj_store_spec *spec, dj_err *err)
{
	return dj_store_open_opts(out, spec, NULL, err);
}

int dj_store_open_opts(dj_store **out, const dj_store_spec *spec, const dj_store_opts *opts,
                       dj_err *err)
{
	static const dj_store_opts defaults;
	const dj_store_ops *ops;
	const char *name = spec && spec->name ? spec->name : "?";
	int rc;
	*out = NULL;
	if (!spec)
		return dj_err_set(err, DJ_EUSAGE, "no store spec");
	if ((rc = dj_store_backend(spec->protocol, name, &ops, err)) < 0)
		return rc;
	if ((rc = ops->open(out, spec, opts ? opts : &defaults, err)) < 0)
		return rc;
	(*out)->ops = ops;
	snprintf((*out)->name, sizeof((*out)->name), "%s", name);
	return 0;
}

void dj_store_close(dj_store *st)
{
	if (st)
		st->ops->close(st);
}

const char *dj_store_name(const dj_store *st)
{
	return st->name;
}

const char *dj_store_scheme(const dj_store *st)
{
	return st->ops->scheme;
}

static bool dot_segment(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/*
 * Keys are relative paths (formats.md §5.1, §6.1, §7). A prefix may also be "" or end in '/'.
 * Refusing '/'-leading keys and dot segments keeps every object under the location: Python's
 * pathlib would let "/abs" or "../x" escape it on the file protocol (§7). Empty inner segments
 * ("a//b") are allowed: odd subfolding settings make them (§5.1 slices), and pathlib collapses
 * them on the file protocol just as the file system does.
 */
static int check_path(const dj_store *st, const char *key, bool prefix, dj_err *err)
{
	const char *what = prefix ? "prefix" : "key";
	if (!key)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': no %s", st->name, what);
	if (prefix && !*key)
		return 0;
	if (*key == '/')
		goto bad;
	for (const char *p = key;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		/* a prefix's last segment is a partial name: "a/" or "a/.h" are fine */
		if (prefix && !slash)
			return 0;
		if ((!slash && n == 0) || dot_segment(p, n))
			goto bad;
		if (!slash)
			return 0;
		p = slash + 1;
	}
bad:
	return dj_err_set(err, DJ_EUSAGE, "store '%s': invalid %s '%s'", st->name, what, key);
}

#define CHECK_SLOT(st, slot, err)                                                                  \
	do {                                                                                       \
		if (!(st)->ops->slot)                                                              \
			return dj_err_set(err, DJ_ENOTSUP,                                         \
			                  "store '%s': protocol '%s' has no " #slot, (st)->name,   \
			                  (st)->ops->scheme);                                      \
	} while (0)

int dj_store_put(dj_store *st, const char *key, const void *p, size_t n, unsigned flags,
                 dj_err *err)
{
	int rc;
	CHECK_SLOT(st, put, err);
	if ((rc = check_path(st, key, false, err)) < 0)
		return rc;
	if (!p && n)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': put '%s': no data", st->name, key);
	return st->ops->put(st, key, p ? p : "", n, flags, err);
}

int dj_store_put_file(dj_store *st, const char *key, const char *path, unsigned flags, dj_err *err)
{
	int rc;
	CHECK_SLOT(st, put_file, err);
	if ((rc = check_path(st, key, false, err)) < 0)
		return rc;
	if (!path || !*path)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': put '%s': no source file", st->name,
		                  key);
	return st->ops->put_file(st, key, path, flags, err);
}

int dj_store_get(dj_store *st, const char *key, dj_buf *out, dj_err *err)
{
	int rc;
	CHECK_SLOT(st, get, err);
	if ((rc = check_path(st, key, false, err)) < 0)
		return rc;
	return st->ops->get(st, key, out, err);
}

int dj_store_get_range(dj_store *st, const char *key, uint64_t off, size_t n, dj_buf *out,
                       dj_err *err)
{
	int rc;
	CHECK_SLOT(st, get_range, err);
	if ((rc = check_path(st, key, false, err)) < 0)
		return rc;
	return st->ops->get_range(st, key, off, n, out, err);
}

int dj_store_head(dj_store *st, const char *key, dj_store_stat *out, dj_err *err)
{
	int rc;
	memset(out, 0, sizeof(*out));
	CHECK_SLOT(st, head, err);
	if ((rc = check_path(st, key, false, err)) < 0)
		return rc;
	return st->ops->head(st, key, out, err);
}

int dj_store_list(dj_store *st, const char *prefix, dj_store_list_fn fn, void *payload, dj_err *err)
{
	int rc;
	CHECK_SLOT(st, list, err);
	if ((rc = check_path(st, prefix, true, err)) < 0)
		return rc;
	if (!fn)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': list without a callback", st->name);
	rc = st->ops->list(st, prefix, fn, payload, err);
	if (rc < 0)
		dj_err_set(err, rc, "store '%s': listing '%s' stopped by its callback (%s)",
		           st->name, prefix, dj_strerror(rc));
	return rc;
}

int dj_store_list_dir(dj_store *st, const char *dir, dj_store_list_fn fn, void *payload,
                      dj_err *err)
{
	int rc;
	CHECK_SLOT(st, list_dir, err);
	if (!dir)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': no folder", st->name);
	if (*dir && (rc = check_path(st, dir, false, err)) < 0)
		return rc;
	if (!fn)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': list without a callback", st->name);
	rc = st->ops->list_dir(st, dir, fn, payload, err);
	if (rc < 0)
		dj_err_set(err, rc, "store '%s': listing '%s' stopped by its callback (%s)",
		           st->name, dir, dj_strerror(rc));
	return rc;
}

int dj_store_remove(dj_store *st, const char *key, dj_err *err)
{
	int rc;
	CHECK_SLOT(st, remove, err);
	if ((rc = check_path(st, key, false, err)) < 0)
		return rc;
	return st->ops->remove(st, key, err);
}

int dj_store_flush(dj_store *st, dj_err *err)
{
	return st->ops->flush ? st->ops->flush(st, err) : 0;
}

int dj_store_remove_many(dj_store *st, const char *const *keys, size_t n, dj_err *err)
{
	int rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = check_path(st, keys[i], false, err)) < 0)
			return rc;
	if (n == 0)
		return 0;
	if (st->ops->remove_many)
		return st->ops->remove_many(st, keys, n, err);
	CHECK_SLOT(st, remove, err);
	for (size_t i = 0; i < n; i++)
		if ((rc = st->ops->remove(st, keys[i], err)) < 0)
			return rc;
	return 0;
}

int dj_store_writer_create(dj_store *st, const char *key, uint64_t part_size, unsigned flags,
                           dj_store_writer *w, dj_err *err)
{
	int rc;
	CHECK_SLOT(st, writer_create, err);
	if ((rc = check_path(st, key, false, err)) < 0)
		return rc;
	if (part_size == 0)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': upload '%s': part size 0", st->name,
		                  key);
	if ((rc = dj_store_writer_set(w, key, NULL, part_size, flags, err)) < 0)
		return rc;
	if ((rc = st->ops->writer_create(st, w, err)) < 0)
		dj_store_writer_dispose(w);
	return rc;
}

int dj_store_writer_set(dj_store_writer *w, const char *key, const char *id, uint64_t part_size,
                        unsigned flags, dj_err *err)
{
	dj_store_writer nw = {strdup(key), id ? strdup(id) : NULL, part_size, flags};
	if (!nw.key || (id && !nw.id)) {
		dj_store_writer_dispose(&nw);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	*w = nw;
	return 0;
}

void dj_store_writer_dispose(dj_store_writer *w)
{
	free(w->key);
	free(w->id);
	*w = (dj_store_writer)DJ_STORE_WRITER_INIT;
}

static int check_writer(dj_store *st, const dj_store_writer *w, dj_err *err)
{
	int rc;
	if ((rc = check_path(st, w->key, false, err)) < 0)
		return rc;
	if (!w->id || !*w->id || w->part_size == 0)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': upload '%s' was not created",
		                  st->name, w->key);
	return 0;
}

int dj_store_writer_part(dj_store *st, const dj_store_writer *w, uint32_t number, const void *p,
                         size_t n, dj_store_part *out, dj_err *err)
{
	int rc;
	CHECK_SLOT(st, writer_part, err);
	if ((rc = check_writer(st, w, err)) < 0)
		return rc;
	if (number < 1 || number > DJ_STORE_MAX_PARTS || n > w->part_size || (!p && n))
		return dj_err_set(
		    err, DJ_EUSAGE,
		    "store '%s': upload '%s': bad part %u (%zu bytes, part size %llu)", st->name,
		    w->key, number, n, (unsigned long long)w->part_size);
	memset(out, 0, sizeof(*out));
	return st->ops->writer_part(st, w, number, p ? p : "", n, out, err);
}

static int cmp_part(const void *a, const void *b)
{
	uint32_t x = ((const dj_store_part *)a)->number, y = ((const dj_store_part *)b)->number;
	return x < y ? -1 : x > y;
}

/* Numbers 1..k each once; every part but the last exactly part_size bytes. */
static int check_parts(dj_store *st, const dj_store_writer *w, const dj_store_part *parts, size_t n,
                       dj_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (parts[i].number != i + 1)
			return dj_err_set(err, DJ_EUSAGE,
			                  "store '%s': upload '%s': part %zu missing", st->name,
			                  w->key, i + 1);
		if (parts[i].size > w->part_size || (i + 1 < n && parts[i].size != w->part_size))
			return dj_err_set(err, DJ_EUSAGE,
			                  "store '%s': upload '%s': part %u has %llu bytes, "
			                  "part size is %llu",
			                  st->name, w->key, parts[i].number,
			                  (unsigned long long)parts[i].size,
			                  (unsigned long long)w->part_size);
	}
	return 0;
}

int dj_store_writer_complete(dj_store *st, const dj_store_writer *w, const dj_store_part *parts,
                             size_t nparts, dj_err *err)
{
	dj_store_part *sorted;
	int rc;
	CHECK_SLOT(st, writer_complete, err);
	if ((rc = check_writer(st, w, err)) < 0)
		return rc;
	if (nparts == 0 || nparts > DJ_STORE_MAX_PARTS)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': upload '%s': %zu parts", st->name,
		                  w->key, nparts);
	if (!(sorted = malloc(nparts * sizeof(*sorted))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	memcpy(sorted, parts, nparts * sizeof(*sorted));
	qsort(sorted, nparts, sizeof(*sorted), cmp_part);
	if ((rc = check_parts(st, w, sorted, nparts, err)) == 0)
		rc = st->ops->writer_complete(st, w, sorted, nparts, err);
	free(sorted);
	return rc;
}

int dj_store_writer_abort(dj_store *st, const dj_store_writer *w, dj_err *err)
{
	int rc;
	CHECK_SLOT(st, writer_abort, err);
	if ((rc = check_writer(st, w, err)) < 0)
		return rc;
	return st->ops->writer_abort(st, w, err);
}

int dj_store_copy_many(dj_store *st, const char *const *from, const char *const *to, size_t n,
                       unsigned flags, int *results, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if ((rc = check_path(st, from[i], false, err)) == 0)
			rc = check_path(st, to[i], false, err);
	if (rc == 0 && !st->ops->copy_many)
		rc = dj_err_set(err, DJ_ENOTSUP, "store '%s': protocol '%s' has no copy", st->name,
		                st->ops->scheme);
	for (size_t i = 0; i < n; i++)
		results[i] = rc;
	if (rc < 0 || n == 0)
		return rc;
	return st->ops->copy_many(st, from, to, n, flags, results, err);
}

int dj_store_copy(dj_store *st, const char *from, const char *to, unsigned flags, dj_err *err)
{
	int result = 0, rc = dj_store_copy_many(st, &from, &to, 1, flags, &result, err);
	if (rc == 0 && result < 0)
		dj_err_set(err, result, "store '%s': cannot copy '%s' to '%s': %s", st->name, from,
		           to, result == DJ_ENOTFOUND ? "not found" : "already exists");
	return rc < 0 ? rc : result;
}

typedef struct after_ctx {
	const char *after;
	dj_store_list_fn fn;
	void *payload;
} after_ctx;

static int skip_to_after(const dj_store_entry *e, void *payload)
{
	after_ctx *c = payload;
	return strcmp(e->key, c->after) <= 0 ? 0 : c->fn(e, c->payload);
}

int dj_store_list_after(dj_store *st, const char *prefix, const char *after, dj_store_list_fn fn,
                        void *payload, dj_err *err)
{
	after_ctx c = {after, fn, payload};
	int rc;
	if (!after || !*after)
		return dj_store_list(st, prefix, fn, payload, err);
	if ((rc = check_path(st, after, false, err)) < 0)
		return rc;
	if (!st->ops->list_after)
		return dj_store_list(st, prefix, skip_to_after, &c, err);
	if ((rc = check_path(st, prefix, true, err)) < 0)
		return rc;
	if (!fn)
		return dj_err_set(err, DJ_EUSAGE, "store '%s': list without a callback", st->name);
	return st->ops->list_after(st, prefix, after, fn, payload, err);
}
