/* gc's listing pass (jobs/gc.h): rank 0 cuts the two sections into shards, workers list a shard
 * and return compact records. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/gc.h"

#define ALPHABET "abcdefghijklmnopqrstuvwxyz234567"
#define TMP_TAG ".saving."       /* stores/file.c: an upload in progress */
#define TMP_MIN_AGE (3600 * 6)  /* younger temporaries are uploads, not objects */

/* Section root "[prefix/]schema" (no trailing '/'). */
static int section_root(dj_buf *out, const char *prefix, const char *dflt, const char *schema)
{
	size_t n;
	const char *p = dj_strip_slashes(prefix ? prefix : dflt, &n);
	dj_buf_reset(out);
	if (n && (dj_buf_add(out, p, n) < 0 || dj_buf_addc(out, '/') < 0))
		return DJ_ENOMEM;
	return dj_buf_adds(out, schema);
}

static int add_shard(dj_gc *g, char type, const char *prefix, dj_err *err)
{
	char **v = realloc(g->shards, (g->nshards + 1) * sizeof(*v));
	if (!v)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	g->shards = v;
	size_t n = strlen(prefix);
	if (!(v[g->nshards] = malloc(n + 2)))
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	v[g->nshards][0] = type;
	memcpy(v[g->nshards] + 1, prefix, n + 1);
	g->nshards++;
	return 0;
}

typedef struct dir_walk {
	dj_gc *g;
	int depth; /* 0: the schema folder, 1: a table folder */
	bool has_files;
	dj_err *err;
} dir_walk;

static int schema_dir(dj_gc *g, const char *dir, int depth, dj_err *err);

static int on_dir_entry(const dj_store_entry *e, void *payload)
{
	dir_walk *w = payload;
	dj_buf p = DJ_BUF_INIT;
	int rc;
	if (!e->is_dir) {
		w->has_files = true;
		return 0;
	}
	if (w->depth >= 1) { /* a first-key folder: one recursive shard */
		if (dj_buf_addf(&p, "%s/", e->key) < 0)
			return dj_err_set(w->err, DJ_ENOMEM, "gc: out of memory");
		rc = add_shard(w->g, 'S', p.ptr, w->err);
		dj_buf_dispose(&p);
		return rc;
	}
	return schema_dir(w->g, e->key, w->depth + 1, w->err);
}

/* Shards of one folder of the schema section: sub-folders below, 'D' for its own files. */
static int schema_dir(dj_gc *g, const char *dir, int depth, dj_err *err)
{
	dir_walk w = {g, depth, false, err};
	dj_err lerr = DJ_ERR_INIT;
	int rc = dj_store_list_dir(g->st, dir, on_dir_entry, &w, &lerr);
	if (rc == DJ_ENOMEM || (rc < 0 && err->code))
		return rc;
	if (rc < 0)
		return dj_gc__add_error(g, "list_schema_paths(%s): %s", dir, lerr.msg);
	return w.has_files ? add_shard(g, 'D', dir, err) : 0;
}

/* --- worker side ---------------------------------------------------------------------------- */

typedef struct lister {
	char type;
	int64_t now;
	dj_buf *out;
	dj_err *err;
	size_t chunk, nrec; /* records per item (0 = no limit) and so far */
	dj_buf last;        /* the last key listed */
	bool cut;           /* stopped at `chunk` records: the rest is a continuation shard */
} lister;

static bool ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && !memcmp(s + n - k, suf, k);
}

static int put_record(lister *l, uint8_t kind, const dj_store_entry *e, size_t len)
{
	uint32_t n = (uint32_t)len;
	uint64_t size = e->size;
	int64_t mtime = e->mtime;
	if (dj_buf_grow(l->out, 21 + len) < 0)
		return dj_err_set(l->err, DJ_ENOMEM, "gc: listing result too large");
	char *p = l->out->ptr + l->out->len;
	p[0] = (char)kind;
	memcpy(p + 1, &size, 8), memcpy(p + 9, &mtime, 8), memcpy(p + 17, &n, 4);
	memcpy(p + 21, e->key, len);
	dj_buf_setlen(l->out, l->out->len + 21 + len);
	return 0;
}

#define NAMES_PER_SHARD 4096

/*
 * The hash section of a file store, read by rank 0 with readdir alone (one pass, no stat):
 * sub-folders (subfolding) become recursive shards; a referenced object is counted on the spot
 * (its size and mtime do not matter); the other base32 names (and trash names) go to workers in
 * batches to be stat'ed. A flat folder of millions of objects is thus read once, not once per
 * shard, and only orphans cost a stat.
 */
static int hash_dir_file(dj_gc *g, const char *root, dj_err *err)
{
	dj_buf dir = DJ_BUF_INIT, names = DJ_BUF_INIT, key = DJ_BUF_INIT;
	size_t nnames = 0, tl = strlen(DJ_GC_TRASH), rootlen = strlen(root);
	struct dirent *de;
	int rc = 0;
	DIR *d;
	if (dj_gc__file_path(g, &dir, root, "") < 0 || dj_buf_add(&key, root, rootlen) < 0 ||
	    dj_buf_addc(&key, '/') < 0) {
		dj_buf_dispose(&dir), dj_buf_dispose(&key);
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	}
	if (!(d = opendir(dir.ptr))) {
		if (errno != ENOENT && errno != ENOTDIR)
			rc = dj_gc__add_error(g, "list_hash_paths(%s): store '%s': cannot list: %s",
			                      root, dj_store_name(g->st), strerror(errno));
		dj_buf_dispose(&dir), dj_buf_dispose(&key);
		return rc < 0 ? dj_err_set(err, DJ_ENOMEM, "gc: out of memory") : 0;
	}
	/* per entry: no allocation, no formatting, no stat (d_type) */
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		unsigned char type = de->d_type;
		if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
			continue;
		bool hash = dj_gc_hash_name(n, len);
		bool trash = !hash && len == 26 + tl && !memcmp(n + 26, DJ_GC_TRASH, tl) &&
		             dj_gc_hash_name(n, 26);
		if (type == DT_UNKNOWN || (type == DT_DIR && (hash || trash))) {
			struct stat sb;
			if (fstatat(dirfd(d), n, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			type = S_ISDIR(sb.st_mode) ? DT_DIR : DT_REG;
		}
		dj_buf_setlen(&key, rootlen + 1);
		if (dj_buf_add(&key, n, len) < 0) {
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		if (type == DT_DIR) {
			if (dj_buf_addc(&key, '/') < 0)
				rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			else
				rc = add_shard(g, 'H', key.ptr, err);
			continue;
		}
		if (!hash && !trash)
			continue;
		if (hash && dj_gc_refs_live(&g->refs, 'H', key.ptr, key.len)) {
			g->stats.hash_stored++; /* referenced: no stat needed */
			continue;
		}
		if ((!nnames && dj_buf_add(&names, root, rootlen) < 0) ||
		    dj_buf_addc(&names, '\n') < 0 || dj_buf_add(&names, n, len) < 0) {
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		if (++nnames == NAMES_PER_SHARD) {
			rc = add_shard(g, 'N', names.ptr, err);
			dj_buf_reset(&names), nnames = 0;
		}
	}
	if (rc == 0 && errno && !de)
		rc = dj_gc__add_error(g, "list_hash_paths(%s): store '%s': cannot list: %s", root,
		                      dj_store_name(g->st), strerror(errno));
	if (rc == 0 && nnames)
		rc = add_shard(g, 'N', names.ptr, err);
	closedir(d);
	dj_buf_dispose(&dir), dj_buf_dispose(&names), dj_buf_dispose(&key);
	return rc;
}

/* Worker: stat a batch of names of one hash folder ('N' items). */
static int stat_names(dj_gc *g, const char *item, lister *l, dj_err *err)
{
	const char *nl = strchr(item, '\n');
	dj_buf dir = DJ_BUF_INIT, key = DJ_BUF_INIT;
	size_t rootlen = nl ? (size_t)(nl - item) : 0;
	int rc = 0, fd = -1;
	if (!nl)
		return dj_err_set(err, DJ_EFORMAT, "gc: bad name batch");
	if (dj_buf_add(&key, item, rootlen) < 0 || dj_buf_addc(&key, '/') < 0 ||
	    dj_gc__file_path(g, &dir, key.ptr, "") < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	else if ((fd = open(dir.ptr, O_RDONLY | O_DIRECTORY)) < 0)
		rc = dj_err_os(err, "list_hash_paths(%.*s): store '%s': cannot open", (int)rootlen,
		               item, dj_store_name(g->st));
	for (const char *n = nl + 1; rc == 0 && *n;) {
		const char *e = strchr(n, '\n');
		size_t len = e ? (size_t)(e - n) : strlen(n);
		struct stat sb;
		dj_buf_setlen(&key, rootlen + 1);
		if (dj_buf_add(&key, n, len) < 0) {
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		n += len + (e != NULL);
		const char *name = key.ptr + rootlen + 1;
		if (fstatat(fd, name, &sb, 0) < 0) {
			if (errno == ENOENT)
				continue; /* gone meanwhile: not listed, as the library */
			rc = dj_err_os(err, "list_hash_paths(%.*s): store '%s': cannot stat '%s'",
			               (int)rootlen, item, dj_store_name(g->st), name);
			break;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		dj_store_entry ent = {key.ptr, (uint64_t)sb.st_size, (int64_t)sb.st_mtime, false};
		rc = put_record(l, dj_gc_hash_name(name, len) ? 0 : 1, &ent, key.len);
	}
	if (fd >= 0)
		close(fd);
	dj_buf_dispose(&dir), dj_buf_dispose(&key);
	return rc;
}

static int make_shards(dj_gc *g, dj_err *err)
{
	dj_buf root = DJ_BUF_INIT;
	int rc = 0;
	char pre[512];
	for (size_t s = 0; rc == 0 && s < g->nschemas; s++) {
		if (section_root(&root, g->spec->hash_prefix, "_hash", g->schema_names[s]) < 0) {
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
			break;
		}
		if (!strcmp(dj_store_scheme(g->st), "file"))
			rc = hash_dir_file(g, root.ptr, err);
		for (const char *c = ALPHABET; rc == 0 && *c && strcmp(dj_store_scheme(g->st), "file");
		     c++) {
			snprintf(pre, sizeof(pre), "%s/%c", root.ptr, *c);
			rc = add_shard(g, 'H', pre, err);
		}
		if (rc == 0 &&
		    section_root(&root, g->spec->schema_prefix, "_schema", g->schema_names[s]) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
		/* file stores: one shard per first-key folder (real folders, found cheaply);
		 * object stores: one prefix listing, since a delimiter listing of s3rver misses
		 * folders that hold no object directly */
		if (rc == 0 && !strcmp(dj_store_scheme(g->st), "file"))
			rc = schema_dir(g, root.ptr, 0, err);
		else if (rc == 0 && dj_buf_addc(&root, '/') < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
		else if (rc == 0)
			rc = add_shard(g, 'S', root.ptr, err);
	}
	dj_buf_dispose(&root);
	return rc;
}

int dj_gc__plan_list(dj_gc *g, dj_job_sink *sink, size_t want, dj_err *err)
{
	int rc;
	if (!g->planned) {
		g->planned = true;
		if ((rc = make_shards(g, err)) < 0)
			return rc;
	}
	for (size_t k = 0; k < want && g->next_shard < g->nshards; k++, g->next_shard++) {
		const char *s = g->shards[g->next_shard];
		if ((rc = dj_job_push(sink, s, strlen(s), err)) < 0)
			return rc == DJ_ESTOP ? 0 : rc;
	}
	return 0;
}

static int on_entry_kind(lister *l, const dj_store_entry *e);

/* Every listed entry: recorded or not, and the listing cut after `chunk` records, so that no
 * item's result grows past the engine's cap however large a section is. */
static int on_entry(const dj_store_entry *e, void *payload)
{
	lister *l = payload;
	size_t before = l->out->len;
	int rc = on_entry_kind(l, e);
	if (rc < 0 || !l->chunk)
		return rc;
	l->nrec += l->out->len > before;
	if (l->nrec < l->chunk)
		return 0;
	dj_buf_reset(&l->last);
	if (dj_buf_adds(&l->last, e->key) < 0)
		return dj_err_set(l->err, DJ_ENOMEM, "gc: out of memory");
	l->cut = true;
	return DJ_ESTOP;
}

static int on_entry_kind(lister *l, const dj_store_entry *e)
{
	size_t len = strlen(e->key);
	const char *slash = strrchr(e->key, '/');
	const char *name = slash ? slash + 1 : e->key;
	size_t nlen = len - (size_t)(name - e->key);
	size_t tl = strlen(DJ_GC_TRASH);
	bool trash = ends_with(name, nlen, DJ_GC_TRASH);
	if (e->is_dir)
		return 0;
	if (l->type == 'H') {
		if (dj_gc_hash_name(name, nlen))
			return put_record(l, 0, e, len);
		if (trash && dj_gc_hash_name(name, nlen - tl))
			return put_record(l, 1, e, len);
		return 0;
	}
	if (strstr(name, TMP_TAG) && e->mtime > l->now - TMP_MIN_AGE)
		return 0;
	return put_record(l, trash ? 1 : 0, e, len);
}

/* Item types: 'H'/'S' a prefix of the hash/schema section, 'D' one folder's files (schema
 * section), 'N' a batch of hash names to stat (file stores), 'C' a continuation: the section
 * letter, the prefix, '\n' and the last key already listed. */
int dj_gc__work_list(dj_gc *g, const dj_bytes *item, dj_buf *result, dj_err *err)
{
	char type = (char)item->ptr[0];
	size_t skip = type == 'C' ? 2 : 1;
	if (item->len < skip)
		return dj_err_set(err, DJ_EFORMAT, "gc: bad listing item");
	char *prefix = strndup((const char *)item->ptr + skip, item->len - skip);
	char *after = NULL;
	lister l = {type == 'C' ? (char)item->ptr[1] : type, g->now, result, err,
	            g->list_chunk ? g->list_chunk : DJ_GC_LIST_CHUNK, 0, DJ_BUF_INIT, false};
	int rc;
	if (!prefix)
		return dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	if (type == 'C' && (after = strchr(prefix, '\n')))
		*after++ = 0;
	l.type = l.type == 'D' ? 'S' : l.type;
	if (type == 'N') {
		rc = stat_names(g, prefix, &l, err);
	} else if (type == 'D') {
		l.chunk = 0; /* one folder's own files: listed whole */
		rc = dj_store_list_dir(g->st, prefix, on_entry, &l, err);
	} else {
		rc = dj_store_list_after(g->st, prefix, after, on_entry, &l, err);
	}
	if (rc == DJ_ESTOP && l.cut) { /* the rest of the prefix: a continuation record */
		dj_err_clear(err);
		dj_store_entry mark = {NULL, 0, 0, false};
		dj_buf k = DJ_BUF_INIT;
		if (dj_buf_addc(&k, l.type) < 0 || dj_buf_adds(&k, prefix) < 0 ||
		    dj_buf_addc(&k, '\n') < 0 || dj_buf_add(&k, l.last.ptr, l.last.len) < 0) {
			rc = dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
		} else {
			mark.key = k.ptr;
			rc = put_record(&l, 2, &mark, k.len);
		}
		dj_buf_dispose(&k);
	}
	if (rc < 0 && type != 'N')
		dj_err_context(err, "%s(%s)", l.type == 'H' ? "list_hash_paths" : "list_schema_paths",
		               prefix);
	dj_buf_dispose(&l.last);
	free(prefix);
	return rc;
}

int dj_gc__add_continuation(dj_gc *g, const char *rest, size_t n, dj_err *err)
{
	char *s = strndup(rest, n);
	int rc = s ? add_shard(g, 'C', s, err) : dj_err_set(err, DJ_ENOMEM, "gc: out of memory");
	free(s);
	return rc;
}
