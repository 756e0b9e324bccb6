/*
 * The `file` protocol: object `key` is the local file `location/key` (formats.md §8.6).
 *
 * Writes go to a temporary name beside the target, then rename (formats.md §10.1), so a reader
 * never sees a torn object. The temporary name is `target.saving.<16 hex>`: unique per writer
 * (two ranks writing the same hash object do not share it), and never matching the GC's
 * `^[a-z2-7]{26}$` (formats.md §10.4). With DJ_STORE_IF_ABSENT the temporary file is published
 * with a rename that never replaces (renameat2 RENAME_NOREPLACE; link(2) where the file system
 * lacks it), which fails if the target appeared meanwhile, so a hash object is never
 * replaced. Data and the directory entry are fsync'ed before a put returns: the object must be
 * durable before the database row that references it commits (DESIGN.md "Rank roles"). A
 * store opened with defer_sync leaves that to dj_store_flush, which its writer calls before
 * that commit (populate: once per batch).
 */
#define _GNU_SOURCE /* syncfs */
#include "stores/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/rand.h>

#define TMP_TAG ".saving."
#define COPY_CHUNK (1u << 20)

typedef struct file_store {
	dj_store base;
	char *root; /* location without trailing '/'; "." for an empty location */
	bool sync;     /* fsync each object and its folder as it is written */
	bool deferred; /* defer_sync: file_flush syncs the file system instead */
} file_store;

#define FS(st) ((file_store *)(st))

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

static int os_fail(const dj_store *st, const char *what, const char *key, dj_err *err)
{
	return dj_err_os(err, "store '%s': cannot %s '%s'", st->name, what, key);
}

static int not_found(const dj_store *st, const char *key, dj_err *err)
{
	return dj_err_set(err, DJ_ENOTFOUND, "store '%s': '%s' not found", st->name, key);
}

static int exists_err(const dj_store *st, const char *key, dj_err *err)
{
	return dj_err_set(err, DJ_EEXISTS, "store '%s': '%s' already exists", st->name, key);
}

static int full_path(const file_store *fs, const char *key, dj_buf *out, dj_err *err)
{
	if (dj_buf_addf(out, "%s/%s", fs->root, key) < 0)
		return nomem(err);
	return 0;
}

static int tmp_path(const file_store *fs, const char *key, const char *id, dj_buf *out, dj_err *err)
{
	if (dj_buf_addf(out, "%s/%s" TMP_TAG "%s", fs->root, key, id) < 0)
		return nomem(err);
	return 0;
}

static int random_id(char out[17], dj_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[8];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return dj_err_set(err, DJ_ERROR, "random number generator failed");
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[16] = '\0';
	return 0;
}

/* fsync a directory so a new or renamed entry in it survives a crash. */
static int sync_dir(const file_store *fs, const char *dir, const char *key, dj_err *err)
{
	int fd, rc = 0;
	if (!fs->sync)
		return 0;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return os_fail(&fs->base, "open the folder of", key, err);
	/* some file systems cannot fsync a directory; the rename itself was still atomic */
	if (fsync(fd) < 0 && errno != EINVAL && errno != ENOTSUP)
		rc = os_fail(&fs->base, "sync the folder of", key, err);
	close(fd);
	return rc;
}

static int sync_parent(const file_store *fs, const char *path, const char *key, dj_err *err)
{
	const char *slash = strrchr(path, '/');
	dj_buf dir = DJ_BUF_INIT;
	int rc;
	if (!fs->sync)
		return 0;
	if (dj_buf_add(&dir, path, slash ? (size_t)(slash - path) : 0) < 0 ||
	    (!slash && dj_buf_adds(&dir, ".") < 0) || (slash == path && dj_buf_adds(&dir, "/") < 0))
		return nomem(err);
	rc = sync_dir(fs, dir.ptr, key, err);
	dj_buf_dispose(&dir);
	return rc;
}

/* mkdir -p of the folders of `key` below the location (which exists: checked at open). */
static int make_parents(const file_store *fs, const char *key, dj_err *err)
{
	dj_buf dir = DJ_BUF_INIT;
	int rc = 0;
	if (dj_buf_adds(&dir, fs->root) < 0)
		return nomem(err);
	for (const char *p = key, *slash; (slash = strchr(p, '/')); p = slash + 1) {
		if (dj_buf_addc(&dir, '/') < 0 || dj_buf_add(&dir, p, (size_t)(slash - p)) < 0) {
			rc = nomem(err);
			break;
		}
		if (mkdir(dir.ptr, 0777) == 0) {
			if ((rc = sync_parent(fs, dir.ptr, key, err)) < 0)
				break;
		} else if (errno != EEXIST) {
			rc = os_fail(&fs->base, "create the folders of", key, err);
			break;
		}
	}
	dj_buf_dispose(&dir);
	return rc;
}

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Copy all of `src` to `dst` (both at offset 0): sendfile, or read/write where it is refused. */
static int copy_fd(int dst, int src)
{
	char *buf;
	ssize_t r;
	while ((r = sendfile(dst, src, NULL, 1u << 30)) > 0)
		;
	if (r == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (!(buf = malloc(COPY_CHUNK)))
		return -1;
	while ((r = read(src, buf, COPY_CHUNK)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || write(dst, buf, (size_t)r) != r) {
			free(buf);
			return -1;
		}
	}
	free(buf);
	return 0;
}

/* rename(2) that fails with EEXIST instead of replacing: 1 done, 0 not supported here (old
 * kernels, NFS), -1 failed (errno set). */
static int rename_noreplace(const char *from, const char *to)
{
#if defined(SYS_renameat2)
	if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0)
		return 1;
	return errno == EINVAL || errno == ENOSYS || errno == ENOTSUP ? 0 : -1;
#else
	(void)from;
	(void)to;
	return 0;
#endif
}

/*
 * Move the finished temporary file to `path`. With DJ_STORE_IF_ABSENT a rename that never
 * replaces (one directory change), else link(2), which also refuses an existing target
 * atomically (two: link and unlink); file systems with neither fall back to
 * check-then-rename, which is what datajoint-python does (formats.md §5.2).
 */
static int publish(const file_store *fs, const char *key, const char *tmp, const char *path,
                   unsigned flags, dj_err *err)
{
	int nr = flags & DJ_STORE_IF_ABSENT ? rename_noreplace(tmp, path) : 0;
	if (nr == 1)
		return sync_parent(fs, path, key, err);
	if (nr < 0 && errno == EEXIST) {
		unlink(tmp);
		return exists_err(&fs->base, key, err);
	}
	if (nr < 0) {
		int rc = os_fail(&fs->base, "publish", key, err);
		unlink(tmp);
		return rc;
	}
	if (!(flags & DJ_STORE_IF_ABSENT) || link(tmp, path) < 0) {
		struct stat sb;
		int e = errno;
		if ((flags & DJ_STORE_IF_ABSENT) && e == EEXIST) {
			unlink(tmp);
			return exists_err(&fs->base, key, err);
		}
		if ((flags & DJ_STORE_IF_ABSENT) && e != EPERM && e != ENOTSUP && e != EXDEV &&
		    e != EMLINK && e != ENOSYS) {
			unlink(tmp);
			errno = e;
			return os_fail(&fs->base, "publish", key, err);
		}
		if ((flags & DJ_STORE_IF_ABSENT) && lstat(path, &sb) == 0) {
			unlink(tmp);
			return exists_err(&fs->base, key, err);
		}
		if (rename(tmp, path) < 0) {
			int rc = os_fail(&fs->base, "publish", key, err);
			unlink(tmp);
			return rc;
		}
	} else {
		unlink(tmp);
	}
	return sync_parent(fs, path, key, err);
}

/* Make the data durable, close, publish; removes the temporary file on any failure. */
static int finish_tmp(const file_store *fs, const char *key, int fd, const char *tmp,
                      const char *path, unsigned flags, dj_err *err)
{
	int rc = 0;
	if (fs->sync && fsync(fd) < 0)
		rc = os_fail(&fs->base, "write", key, err);
	if (close(fd) < 0 && rc == 0)
		rc = os_fail(&fs->base, "write", key, err);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	return publish(fs, key, tmp, path, flags, err);
}

typedef int (*fill_fn)(int fd, const void *ctx);

static int fill_mem(int fd, const void *ctx)
{
	const dj_bytes *b = ctx;
	return pwrite_all(fd, b->ptr, b->len, 0);
}

static int fill_copy(int fd, const void *ctx)
{
	return copy_fd(fd, *(const int *)ctx);
}

/* The put procedure of formats.md §10.1, with a unique temporary name. */
static int write_object(file_store *fs, const char *key, unsigned flags, fill_fn fill,
                        const void *ctx, dj_err *err)
{
	dj_buf path = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	struct stat sb;
	char id[17];
	int fd, rc;
	if ((rc = full_path(fs, key, &path, err)) < 0)
		goto done;
	if ((flags & DJ_STORE_IF_ABSENT) && lstat(path.ptr, &sb) == 0) {
		rc = exists_err(&fs->base, key, err);
		goto done;
	}
	if ((rc = random_id(id, err)) < 0 || (rc = tmp_path(fs, key, id, &tmp, err)) < 0)
		goto done;
	/* the temporary file sits beside the object: its folders are made only when missing */
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == ENOENT) {
		if ((rc = make_parents(fs, key, err)) < 0)
			goto done;
		fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	}
	if (fd < 0) {
		rc = os_fail(&fs->base, "create a temporary file for", key, err);
		goto done;
	}
	if (fill(fd, ctx) < 0) {
		rc = os_fail(&fs->base, "write", key, err);
		close(fd);
		unlink(tmp.ptr);
		goto done;
	}
	rc = finish_tmp(fs, key, fd, tmp.ptr, path.ptr, flags, err);
done:
	dj_buf_dispose(&path);
	dj_buf_dispose(&tmp);
	return rc;
}

static int file_put(dj_store *st, const char *key, const void *p, size_t n, unsigned flags,
                    dj_err *err)
{
	dj_bytes b = {p, n};
	return write_object(FS(st), key, flags, fill_mem, &b, err);
}

static int file_put_file(dj_store *st, const char *key, const char *path, unsigned flags,
                         dj_err *err)
{
	struct stat sb;
	int src, rc;
	if ((src = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dj_err_os(err, "store '%s': cannot read '%s'", st->name, path);
	if (fstat(src, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = dj_err_set(err, DJ_EUSAGE, "store '%s': '%s' is not a regular file", st->name,
		                path);
	} else {
		rc = write_object(FS(st), key, flags, fill_copy, &src, err);
	}
	close(src);
	return rc;
}

/* Open `key` for reading; DJ_ENOTFOUND for a missing key or a directory. */
/* One copy: a hard link published like a new object (no bytes move); a real copy where the
 * file system has no hard links. */
static int copy_one(file_store *fs, const char *from, const char *to, unsigned flags, dj_err *err)
{
	dj_buf src = DJ_BUF_INIT, path = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	struct stat sb;
	char id[17];
	int rc, fd;
	if ((rc = full_path(fs, from, &src, err)) < 0 || (rc = full_path(fs, to, &path, err)) < 0)
		goto done;
	if (lstat(src.ptr, &sb) < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? not_found(&fs->base, from, err)
		                                         : os_fail(&fs->base, "read", from, err);
		goto done;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = not_found(&fs->base, from, err); /* a folder is no object (dj_store_get) */
		goto done;
	}
	if ((flags & DJ_STORE_IF_ABSENT) && lstat(path.ptr, &sb) == 0) {
		rc = exists_err(&fs->base, to, err);
		goto done;
	}
	if ((rc = make_parents(fs, to, err)) < 0 || (rc = random_id(id, err)) < 0 ||
	    (rc = tmp_path(fs, to, id, &tmp, err)) < 0)
		goto done;
	if (link(src.ptr, tmp.ptr) == 0) {
		rc = publish(fs, to, tmp.ptr, path.ptr, flags, err);
		goto done;
	}
	if (errno == ENOENT) {
		rc = not_found(&fs->base, from, err);
		goto done;
	}
	if ((fd = open(src.ptr, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT ? not_found(&fs->base, from, err)
		                     : os_fail(&fs->base, "read", from, err);
		goto done;
	}
	rc = write_object(fs, to, flags, fill_copy, &fd, err);
	close(fd);
done:
	dj_buf_dispose(&src), dj_buf_dispose(&path), dj_buf_dispose(&tmp);
	return rc;
}

static int file_copy_many(dj_store *st, const char *const *from, const char *const *to,
                          size_t n, unsigned flags, int *results, dj_err *err)
{
	int first = 0;
	dj_err e = DJ_ERR_INIT;
	for (size_t i = 0; i < n; i++) {
		dj_err_clear(&e);
		results[i] = copy_one(FS(st), from[i], to[i], flags, &e);
		if (results[i] < 0 && results[i] != DJ_ENOTFOUND && results[i] != DJ_EEXISTS &&
		    !first) {
			first = results[i];
			*err = e;
		}
	}
	return first;
}

static int open_object(const file_store *fs, const char *key, int *fd, uint64_t *size, dj_err *err)
{
	dj_buf path = DJ_BUF_INIT;
	struct stat sb;
	int rc = 0;
	if ((rc = full_path(fs, key, &path, err)) < 0)
		return rc;
	if ((*fd = open(path.ptr, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? not_found(&fs->base, key, err)
		                                         : os_fail(&fs->base, "open", key, err);
	} else if (fstat(*fd, &sb) < 0 || S_ISDIR(sb.st_mode)) {
		rc = S_ISDIR(sb.st_mode) ? dj_err_set(err, DJ_ENOTFOUND,
		                                      "store '%s': '%s' is a folder, not an object",
		                                      fs->base.name, key)
		                         : os_fail(&fs->base, "stat", key, err);
		close(*fd);
		*fd = -1;
	} else {
		*size = (uint64_t)sb.st_size;
	}
	dj_buf_dispose(&path);
	return rc;
}

/* Append n bytes from offset `off` (fewer at end of file) to `out`. */
static int read_at(const file_store *fs, const char *key, int fd, uint64_t off, uint64_t n,
                   dj_buf *out, dj_err *err)
{
	size_t got = 0;
	if (n > SIZE_MAX - 1 || dj_buf_grow(out, (size_t)n) < 0)
		return dj_err_set(err, DJ_ENOMEM,
		                  "store '%s': '%s': %llu bytes do not fit in memory",
		                  fs->base.name, key, (unsigned long long)n);
	while (got < n) {
		ssize_t r =
		    pread(fd, out->ptr + out->len + got, (size_t)n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return os_fail(&fs->base, "read", key, err);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	dj_buf_setlen(out, out->len + got);
	return 0;
}

static int file_get_range(dj_store *st, const char *key, uint64_t off, size_t n, dj_buf *out,
                          dj_err *err)
{
	uint64_t size = 0, want; /* set by open_object; gcc -O2 cannot see it */
	int fd, rc;
	if ((rc = open_object(FS(st), key, &fd, &size, err)) < 0)
		return rc;
	want = off >= size ? 0 : size - off;
	if (n && n < want)
		want = n;
	rc = want ? read_at(FS(st), key, fd, off, want, out, err) : 0;
	close(fd);
	return rc;
}

static int file_get(dj_store *st, const char *key, dj_buf *out, dj_err *err)
{
	return file_get_range(st, key, 0, 0, out, err);
}

static int file_head(dj_store *st, const char *key, dj_store_stat *out, dj_err *err)
{
	dj_buf path = DJ_BUF_INIT;
	struct stat sb;
	int rc = 0;
	if ((rc = full_path(FS(st), key, &path, err)) < 0)
		return rc;
	if (stat(path.ptr, &sb) == 0) {
		out->exists = true;
		out->is_dir = S_ISDIR(sb.st_mode);
		out->size = out->is_dir ? 0 : (uint64_t)sb.st_size;
		out->mtime = (int64_t)sb.st_mtime;
	} else if (errno != ENOENT && errno != ENOTDIR) {
		rc = os_fail(st, "stat", key, err);
	}
	dj_buf_dispose(&path);
	return rc;
}

/* ---- listing: a sorted directory walk ---- */

typedef struct walk_ent {
	char *name; /* folders carry a trailing '/' so that sorting names sorts full keys */
	uint64_t size;
	int64_t mtime;
} walk_ent;

typedef struct walk {
	file_store *fs;
	dj_store_list_fn fn;
	void *payload;
	dj_err *err;
} walk;

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const walk_ent *)a)->name, ((const walk_ent *)b)->name);
}

static void free_ents(walk_ent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Classify one directory entry: 1 file, 2 folder, 0 skip (symlinked folders: no loops). */
static int classify(DIR *d, const char *name, struct stat *sb)
{
	if (fstatat(dirfd(d), name, sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (S_ISLNK(sb->st_mode))
		return fstatat(dirfd(d), name, sb, 0) == 0 && S_ISREG(sb->st_mode);
	return S_ISREG(sb->st_mode) ? 1 : S_ISDIR(sb->st_mode) ? 2 : 0;
}

/* Read the entries of `dir` whose names start with `np`, sorted. ENOENT = none. */
static int read_dir(walk *w, const char *dir, const char *rel, const char *np, walk_ent **out,
                    size_t *nout)
{
	size_t n = 0, cap = 0, npl = strlen(np);
	walk_ent *v = NULL;
	struct dirent *de;
	DIR *d;
	*out = NULL, *nout = 0;
	if (!(d = opendir(dir)))
		return errno == ENOENT || errno == ENOTDIR
		           ? 0
		           : os_fail(&w->fs->base, "list", *rel ? rel : ".", w->err);
	while ((errno = 0, de = readdir(d))) {
		struct stat sb;
		int kind;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    strncmp(de->d_name, np, npl) != 0 || !(kind = classify(d, de->d_name, &sb)))
			continue;
		if (n == cap) {
			walk_ent *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));
			if (!nv)
				goto oom;
			v = nv;
		}
		v[n].size = (uint64_t)sb.st_size;
		v[n].mtime = (int64_t)sb.st_mtime;
		if (!(v[n].name = malloc(strlen(de->d_name) + 2)))
			goto oom;
		sprintf(v[n].name, "%s%s", de->d_name, kind == 2 ? "/" : "");
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_ent);
	*out = v, *nout = n;
	return 0;
oom:
	closedir(d);
	free_ents(v, n);
	return nomem(w->err);
}

/* Report the files below folder `rel` ("" = the location) in key order. */
static int walk_dir(walk *w, const char *rel, const char *np)
{
	dj_buf dir = DJ_BUF_INIT, key = DJ_BUF_INIT;
	walk_ent *v;
	size_t n;
	int rc;
	if (dj_buf_addf(&dir, "%s%s%s", w->fs->root, *rel ? "/" : "", rel) < 0)
		return nomem(w->err);
	rc = read_dir(w, dir.ptr, rel, np, &v, &n);
	dj_buf_dispose(&dir);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t len = strlen(v[i].name);
		dj_buf_reset(&key);
		if (dj_buf_addf(&key, "%s%s%s", rel, *rel ? "/" : "", v[i].name) < 0) {
			rc = nomem(w->err);
		} else if (v[i].name[len - 1] == '/') {
			dj_buf_setlen(&key, key.len - 1);
			rc = walk_dir(w, key.ptr, "");
		} else {
			dj_store_entry e = {key.ptr, v[i].size, v[i].mtime, false};
			rc = w->fn(&e, w->payload);
		}
	}
	dj_buf_dispose(&key);
	free_ents(v, n);
	return rc;
}

static int file_list(dj_store *st, const char *prefix, dj_store_list_fn fn, void *payload,
                     dj_err *err)
{
	walk w = {FS(st), fn, payload, err};
	const char *slash = strrchr(prefix, '/');
	dj_buf rel = DJ_BUF_INIT;
	int rc;
	if (slash && dj_buf_add(&rel, prefix, (size_t)(slash - prefix)) < 0)
		return nomem(err);
	rc = walk_dir(&w, rel.ptr, slash ? slash + 1 : prefix);
	dj_buf_dispose(&rel);
	return rc;
}

static int file_list_dir(dj_store *st, const char *dir, dj_store_list_fn fn, void *payload,
                         dj_err *err)
{
	walk w = {FS(st), fn, payload, err};
	dj_buf path = DJ_BUF_INIT, key = DJ_BUF_INIT;
	walk_ent *v;
	size_t n;
	int rc;
	if (dj_buf_addf(&path, "%s%s%s", w.fs->root, *dir ? "/" : "", dir) < 0)
		return nomem(err);
	rc = read_dir(&w, path.ptr, dir, "", &v, &n);
	dj_buf_dispose(&path);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t len = strlen(v[i].name);
		bool is_dir = v[i].name[len - 1] == '/';
		dj_buf_reset(&key);
		if (dj_buf_addf(&key, "%s%s%.*s", dir, *dir ? "/" : "", (int)(len - is_dir),
		                v[i].name) < 0) {
			rc = nomem(err);
		} else {
			dj_store_entry e = {key.ptr, is_dir ? 0 : v[i].size, is_dir ? 0 : v[i].mtime,
			                    is_dir};
			rc = fn(&e, payload);
		}
	}
	dj_buf_dispose(&key);
	free_ents(v, n);
	return rc;
}

static int file_remove(dj_store *st, const char *key, dj_err *err)
{
	dj_buf path = DJ_BUF_INIT;
	struct stat sb;
	int rc = 0;
	if ((rc = full_path(FS(st), key, &path, err)) < 0)
		return rc;
	if (unlink(path.ptr) < 0 && errno != ENOENT && errno != ENOTDIR) {
		rc = lstat(path.ptr, &sb) == 0 && S_ISDIR(sb.st_mode)
		         ? dj_err_set(err, DJ_EUSAGE, "store '%s': '%s' is a folder", st->name, key)
		         : os_fail(st, "remove", key, err);
	}
	dj_buf_dispose(&path);
	return rc;
}

/* ---- cooperative writer: parts pwrite'd into one temporary file ---- */

static int file_writer_create(dj_store *st, dj_store_writer *w, dj_err *err)
{
	file_store *fs = FS(st);
	dj_buf path = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	struct stat sb;
	char id[17];
	int fd, rc;
	if ((rc = full_path(fs, w->key, &path, err)) < 0)
		goto done;
	if ((w->flags & DJ_STORE_IF_ABSENT) && lstat(path.ptr, &sb) == 0) {
		rc = exists_err(st, w->key, err);
		goto done;
	}
	if ((rc = make_parents(fs, w->key, err)) < 0 || (rc = random_id(id, err)) < 0 ||
	    (rc = tmp_path(fs, w->key, id, &tmp, err)) < 0)
		goto done;
	if ((fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
		rc = os_fail(st, "create a temporary file for", w->key, err);
		goto done;
	}
	close(fd);
	if (!(w->id = strdup(id))) {
		unlink(tmp.ptr);
		rc = nomem(err);
	}
done:
	dj_buf_dispose(&path);
	dj_buf_dispose(&tmp);
	return rc;
}

static int open_upload(const file_store *fs, const dj_store_writer *w, dj_buf *tmp, int *fd,
                       dj_err *err)
{
	int rc;
	if ((rc = tmp_path(fs, w->key, w->id, tmp, err)) < 0)
		return rc;
	if ((*fd = open(tmp->ptr, O_WRONLY | O_CLOEXEC)) >= 0)
		return 0;
	if (errno == ENOENT)
		return dj_err_set(err, DJ_ENOTFOUND,
		                  "store '%s': upload of '%s' not found (completed or aborted)",
		                  fs->base.name, w->key);
	return os_fail(&fs->base, "open the upload of", w->key, err);
}

/* Each part is made durable by its own writer: on NFS or Lustre another client's fsync at
 * complete would not flush this client's cache. */
static int file_writer_part(dj_store *st, const dj_store_writer *w, uint32_t number, const void *p,
                            size_t n, dj_store_part *out, dj_err *err)
{
	file_store *fs = FS(st);
	dj_buf tmp = DJ_BUF_INIT;
	int fd, rc;
	if ((rc = open_upload(fs, w, &tmp, &fd, err)) == 0) {
		if (pwrite_all(fd, p, n, (uint64_t)(number - 1) * w->part_size) < 0 ||
		    (fs->sync && fdatasync(fd) < 0))
			rc = os_fail(st, "write a part of", w->key, err);
		if (close(fd) < 0 && rc == 0)
			rc = os_fail(st, "write a part of", w->key, err);
	}
	out->number = number;
	out->size = n;
	dj_buf_dispose(&tmp);
	return rc;
}

static int file_writer_complete(dj_store *st, const dj_store_writer *w, const dj_store_part *parts,
                                size_t nparts, dj_err *err)
{
	file_store *fs = FS(st);
	uint64_t total = (uint64_t)(nparts - 1) * w->part_size + parts[nparts - 1].size;
	dj_buf tmp = DJ_BUF_INIT, path = DJ_BUF_INIT;
	struct stat sb;
	int fd, rc;
	if ((rc = open_upload(fs, w, &tmp, &fd, err)) < 0 ||
	    (rc = full_path(fs, w->key, &path, err)) < 0)
		goto done;
	if (fstat(fd, &sb) < 0 ||
	    ((uint64_t)sb.st_size > total && ftruncate(fd, (off_t)total) < 0)) {
		rc = os_fail(st, "complete the upload of", w->key, err);
		close(fd);
	} else if ((uint64_t)sb.st_size < total) {
		rc = dj_err_set(
		    err, DJ_ERROR, "store '%s': upload of '%s' holds %llu bytes, its parts %llu",
		    st->name, w->key, (unsigned long long)sb.st_size, (unsigned long long)total);
		close(fd);
	} else {
		rc = finish_tmp(fs, w->key, fd, tmp.ptr, path.ptr, w->flags, err);
	}
done:
	dj_buf_dispose(&tmp);
	dj_buf_dispose(&path);
	return rc;
}

static int file_writer_abort(dj_store *st, const dj_store_writer *w, dj_err *err)
{
	dj_buf tmp = DJ_BUF_INIT;
	int rc;
	if ((rc = tmp_path(FS(st), w->key, w->id, &tmp, err)) == 0 && unlink(tmp.ptr) < 0 &&
	    errno != ENOENT)
		rc = os_fail(st, "abort the upload of", w->key, err);
	dj_buf_dispose(&tmp);
	return rc;
}

/* ---- open / close ---- */

static void file_close(dj_store *st)
{
	free(FS(st)->root);
	free(st);
}

/* formats.md §8.3: the location must be an existing directory when the backend is created. */
static int file_open(dj_store **out, const dj_store_spec *spec, const dj_store_opts *opts,
                     dj_err *err)
{
	const char *loc = spec->location ? spec->location : "";
	size_t n = strlen(loc);
	file_store *fs;
	struct stat sb;
	while (n > 1 && loc[n - 1] == '/')
		n--;
	if (!(fs = calloc(1, sizeof(*fs))))
		return nomem(err);
	/* "/" becomes "" so that "/" + key is still an absolute path; "" means the cwd */
	fs->root = n == 0 ? strdup(".") : loc[0] == '/' && n == 1 ? strdup("") : strndup(loc, n);
	fs->sync = !opts->no_sync && !opts->defer_sync;
	fs->deferred = !opts->no_sync && opts->defer_sync;
	if (!fs->root) {
		free(fs);
		return nomem(err);
	}
	if (stat(*fs->root ? fs->root : "/", &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		file_close(&fs->base);
		return dj_err_set(err, DJ_ENOTFOUND,
		                  "store '%s': location '%s' is not an existing directory",
		                  spec->name ? spec->name : "?", loc);
	}
	*out = &fs->base;
	return 0;
}

/* One syncfs(2) for everything written since the last: far cheaper than an fsync of each small
 * object and its folder, and just as durable once it returns. */
static int file_flush(dj_store *st, dj_err *err)
{
	file_store *fs = FS(st);
	if (!fs->deferred)
		return 0;
	int fd = open(*fs->root ? fs->root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return os_fail(st, "open", "the store's location", err);
	int rc = syncfs(fd) < 0 ? os_fail(st, "sync", "the store's file system", err) : 0;
	close(fd);
	return rc;
}

const dj_store_ops dj_store_file_ops = {
    .scheme = "file",
    .open = file_open,
    .close = file_close,
    .put = file_put,
    .put_file = file_put_file,
    .get = file_get,
    .get_range = file_get_range,
    .head = file_head,
    .list = file_list,
    .remove = file_remove,
    .remove_many = NULL, /* the wrapper's loop over remove is all a local disk needs */
    .writer_create = file_writer_create,
    .writer_part = file_writer_part,
    .writer_complete = file_writer_complete,
    .writer_abort = file_writer_abort,
    .list_dir = file_list_dir,
    .flush = file_flush,
    .copy_many = file_copy_many,
};
