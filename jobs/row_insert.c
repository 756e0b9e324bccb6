/*
 * Rows through codecs, write side: cells encoded as datajoint-python's insert encodes them
 * (table.py __make_placeholder, the builtin codecs) into one multi-row INSERT (jobs/row.h).
 * Store objects are written while a row is added, so they exist before the row that names them.
 */
#include "jobs/row.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codecs/attach.h"
#include "codecs/codec.h"
#include "codecs/filepath.h"
#include "codecs/hash.h"
#include "codecs/pyfloat.h"
#include "stores/paths.h"

/* Statement caps: below MariaDB's default max_allowed_packet (16 MiB) and the 65535-parameter
 * limit of both servers' protocols. */
#define INSERT_MAX_BYTES ((size_t)8 << 20)
#define INSERT_MAX_PARAMS 30000

typedef struct enc {
	bool dflt; /* SQL DEFAULT */
	dj_db_ptype type;
	int64_t i;
	double d;
	dj_buf buf; /* TEXT and BYTES */
} enc;

struct dj_insert {
	dj_row_ctx *ctx;
	dj_db_backend b;
	const dj_table *t;
	size_t ncols;
	const dj_attr **attrs;
	size_t *pkcol; /* for each primary-key attribute of t (key order): its column */
	enc *rows;     /* nrows * ncols */
	size_t nrows, cap;
};

/* What one row being encoded needs to know. */
typedef struct row_ctx {
	dj_insert *ins;
	const dj_cell *cells;
	const dj_attr *a;
	const dj_cell *cell;
} row_ctx;

static int nomem(int rc, dj_err *err)
{
	if (rc == DJ_ENOMEM && err && !err->code)
		dj_err_set(err, DJ_ENOMEM, "out of memory");
	return rc;
}

static void utc_now(int64_t *sec, int32_t *usec)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = (int64_t)ts.tv_sec;
	*usec = (int32_t)(ts.tv_nsec / 1000);
}

/* --- plain attributes (database.md §2.6) --------------------------------------------------- */

static int text_value(enc *e, dj_db_ptype type, const void *p, size_t n)
{
	e->type = type;
	return dj_buf_add(&e->buf, p, n);
}

static int int_value(enc *e, const dj_value *v, dj_err *err)
{
	int64_t x;
	uint64_t u = 0;
	if (dj_value_get_int64(v, &x) == 0) {
		e->type = DJ_DB_P_INT;
		e->i = x;
		return 0;
	}
	/* bigint unsigned: up to 9 bytes with a zero sign byte */
	if (v->u.i.n > 9 || (v->u.i.n == 9 && v->u.i.bytes[8] != 0) || (v->u.i.bytes[v->u.i.n - 1] & 0x80))
		return dj_err_set(err, DJ_EUSAGE, "integer out of range");
	for (size_t k = 0; k < v->u.i.n && k < 8; k++)
		u |= (uint64_t)v->u.i.bytes[k] << (8 * k);
	e->type = DJ_DB_P_TEXT;
	return nomem(dj_buf_addf(&e->buf, "%llu", (unsigned long long)u), err);
}

/* Python's str(date) / str(datetime): what both servers parse. */
static int datetime_value(enc *e, const dj_value *v, dj_err *err)
{
	int32_t d = v->u.dt.date;
	int64_t t = v->u.dt.time;
	int rc;
	e->type = DJ_DB_P_TEXT;
	rc = dj_buf_addf(&e->buf, "%04d-%02d-%02d", d / 10000, d / 100 % 100, d % 100);
	if (rc == 0 && t >= 0)
		rc = dj_buf_addf(&e->buf, " %02d:%02d:%02d.%06d", (int)(t / 10000000000LL),
		                 (int)(t / 100000000 % 100), (int)(t / 1000000 % 100),
		                 (int)(t % 1000000));
	return nomem(rc, err);
}

static int uuid_value(enc *e, dj_db_backend b, const uint8_t u[16], dj_err *err)
{
	static const char hex[] = "0123456789abcdef";
	int rc = 0;
	/* MySQL keeps uuids in binary(16); PostgreSQL has a native uuid (DESIGN.md decisions) */
	if (b == DJ_DB_MYSQL)
		return nomem(text_value(e, DJ_DB_P_BYTES, u, 16), err);
	e->type = DJ_DB_P_TEXT;
	for (int i = 0; rc == 0 && i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			rc = dj_buf_addc(&e->buf, '-');
		if (rc == 0 && (rc = dj_buf_addc(&e->buf, hex[u[i] >> 4])) == 0)
			rc = dj_buf_addc(&e->buf, hex[u[i] & 15]);
	}
	return nomem(rc, err);
}

static int plain_value(enc *e, dj_db_backend b, const dj_attr *a, const dj_value *v, dj_err *err)
{
	switch (v->kind) {
	case DJ_V_NONE:
		e->dflt = true;
		return 0;
	case DJ_V_BOOL:
		e->type = DJ_DB_P_INT; /* MySQL tinyint 0/1; PostgreSQL boolean reads '1'/'0' */
		e->i = v->u.b;
		return 0;
	case DJ_V_INT:
		return int_value(e, v, err);
	case DJ_V_FLOAT:
		/* a NaN in a numeric attribute is written as DEFAULT (table.py) */
		e->dflt = v->u.f != v->u.f;
		e->type = DJ_DB_P_DOUBLE;
		e->d = v->u.f;
		return 0;
	case DJ_V_STR:
	case DJ_V_DECIMAL:
		return nomem(text_value(e, DJ_DB_P_TEXT, v->u.s.p, v->u.s.n), err);
	case DJ_V_BYTES:
		return nomem(text_value(e, DJ_DB_P_BYTES, v->u.s.p, v->u.s.n), err);
	case DJ_V_DATETIME:
		return datetime_value(e, v, err);
	case DJ_V_UUID:
		return uuid_value(e, b, v->u.uuid, err);
	default:
		return dj_err_set(err, DJ_EUSAGE, "a %s column cannot hold this value (kind %d)",
		                  a->type, (int)v->kind);
	}
}

/* --- hash-addressed objects (formats.md §5) ------------------------------------------------ */

/* Store `p[0..n)` once under its content hash and put its metadata into e (§5.2, §5.3). */
static int put_hash(row_ctx *r, const void *p, size_t n, enc *e, dj_err *err)
{
	const dj_store_spec *spec = NULL;
	dj_store *st = NULL;
	dj_hash_meta m = DJ_HASH_META_INIT;
	dj_buf path = DJ_BUF_INIT;
	int rc;
	if ((rc = dj_row_store(r->ins->ctx, r->a->coltype.store, &st, &spec, err)) < 0 ||
	    (rc = dj_hash_bytes(p, n, m.hash, err)) < 0 ||
	    (rc = dj_path_hash(&path, spec, r->ins->t->schema, m.hash, err)) < 0)
		goto done;
	rc = dj_store_put(st, path.ptr, p, n, DJ_STORE_IF_ABSENT, err);
	if (rc == DJ_EEXISTS) { /* deduplicated: the object is already there */
		dj_err_clear(err);
		rc = 0;
	}
	if (rc < 0)
		goto done;
	m.path = path.ptr;
	m.schema = r->ins->t->schema;
	m.store = spec->name; /* the real name, never "" (DESIGN.md decisions) */
	m.has_size = true;
	m.size = n;
	e->type = DJ_DB_P_TEXT;
	rc = dj_hash_meta_build(&e->buf, &m, err);
done:
	dj_buf_dispose(&path);
	return nomem(rc, err);
}

static int encode_blob(row_ctx *r, enc *e, dj_err *err)
{
	dj_buf packed = DJ_BUF_INIT;
	int rc;
	if (r->cell->kind != DJ_CELL_VALUE)
		return dj_err_set(err, DJ_EUSAGE, "%s takes a value", r->a->type);
	if (!r->a->coltype.has_store) {
		e->type = DJ_DB_P_BYTES;
		return dj_blob_pack(r->cell->value, NULL, &e->buf, err);
	}
	if ((rc = dj_blob_pack(r->cell->value, NULL, &packed, err)) == 0)
		rc = put_hash(r, packed.ptr, packed.len, e, err);
	dj_buf_dispose(&packed);
	return rc;
}

static int encode_attach(row_ctx *r, enc *e, dj_err *err)
{
	const dj_cell *c = r->cell;
	dj_buf payload = DJ_BUF_INIT;
	int rc;
	if (c->kind == DJ_CELL_ATTACH)
		rc = dj_attach_pack(&payload, c->name, c->data.ptr, c->data.len, err);
	else if (c->kind == DJ_CELL_PATH)
		rc = dj_attach_pack_file(&payload, c->name, err);
	else
		rc = dj_err_set(err, DJ_EUSAGE, "%s takes a file name and contents, or a path",
		                r->a->type);
	if (rc == 0 && r->a->coltype.has_store)
		rc = put_hash(r, payload.ptr, payload.len, e, err);
	else if (rc == 0) {
		e->type = DJ_DB_P_BYTES;
		dj_buf_dispose(&e->buf);
		e->buf = payload;
		payload = (dj_buf)DJ_BUF_INIT;
	}
	dj_buf_dispose(&payload);
	return rc;
}

static int encode_hash(row_ctx *r, enc *e, dj_err *err)
{
	const dj_value *v = r->cell->value;
	if (r->cell->kind != DJ_CELL_VALUE || v->kind != DJ_V_BYTES)
		return dj_err_set(err, DJ_EUSAGE, "%s takes bytes", r->a->type);
	return put_hash(r, v->u.s.p, v->u.s.n, e, err);
}

/* --- schema-addressed objects (formats.md §6) ---------------------------------------------- */

/* A key value as the Python type the column would give it (§6.2 C-REC). */
static int pk_value(dj_pk_value *pv, const dj_value *v, char *fbuf, dj_err *err)
{
	int64_t x;
	switch (v->kind) {
	case DJ_V_INT:
		if (dj_value_get_int64(v, &x) < 0)
			return dj_err_set(err, DJ_EUSAGE, "key integer out of range");
		pv->kind = DJ_PK_INT;
		pv->u.i = x;
		return 0;
	case DJ_V_BOOL:
		pv->kind = DJ_PK_BOOL;
		pv->u.b = v->u.b;
		return 0;
	case DJ_V_FLOAT:
		dj_pyfloat_format(v->u.f, fbuf);
		pv->kind = DJ_PK_FLOAT;
		pv->u.text = fbuf;
		return 0;
	case DJ_V_STR:
	case DJ_V_DECIMAL:
		pv->kind = v->kind == DJ_V_STR ? DJ_PK_STR : DJ_PK_DECIMAL;
		pv->u.text = v->u.s.p;
		return 0;
	case DJ_V_UUID:
		pv->kind = DJ_PK_UUID;
		memcpy(pv->u.uuid, v->u.uuid, 16);
		return 0;
	case DJ_V_DATETIME: {
		int32_t d = v->u.dt.date;
		int64_t t = v->u.dt.time < 0 ? 0 : v->u.dt.time;
		pv->kind = v->u.dt.time < 0 ? DJ_PK_DATE : DJ_PK_DATETIME;
		pv->u.t.year = d / 10000;
		pv->u.t.month = d / 100 % 100;
		pv->u.t.day = d % 100;
		pv->u.t.hour = (int)(t / 10000000000LL);
		pv->u.t.minute = (int)(t / 100000000 % 100);
		pv->u.t.second = (int)(t / 1000000 % 100);
		pv->u.t.usec = (int)(t % 1000000);
		return 0;
	}
	default:
		return dj_err_set(err, DJ_EUSAGE, "a key value of kind %d cannot name a path",
		                  (int)v->kind);
	}
}

/* The object path of this row's attribute: _schema/schema/table/k=v/.../field_TOKEN[ext]. */
static int schema_path(row_ctx *r, const dj_store_spec *spec, const char *ext, dj_buf *out,
                       dj_err *err)
{
	const dj_table *t = r->ins->t;
	dj_pk_field *key = calloc(t->npk ? t->npk : 1, sizeof(*key));
	char(*fbuf)[DJ_PYFLOAT_MAX] = calloc(t->npk ? t->npk : 1, sizeof(*fbuf));
	dj_schema_path_args a = {t->schema, t->name, r->a->name, key, t->npk, ext, NULL};
	int rc = key && fbuf ? 0 : dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t k = 0; rc == 0 && k < t->npk; k++) {
		const dj_cell *c = &r->cells[r->ins->pkcol[k]];
		key[k].name = t->attrs[t->pk[k]].name;
		if (c->kind != DJ_CELL_VALUE)
			rc = dj_err_set(err, DJ_EUSAGE, "key attribute '%s' has no value",
			                key[k].name);
		else
			rc = pk_value(&key[k].value, c->value, fbuf[k], err);
	}
	if (rc == 0)
		rc = dj_path_schema(out, spec, &a, NULL, err);
	free(key);
	free(fbuf);
	return rc;
}

static int npy_put(row_ctx *r, const dj_npy *a, dj_bytes file, enc *e, dj_err *err)
{
	const dj_store_spec *spec = NULL;
	dj_store *st = NULL;
	dj_buf path = DJ_BUF_INIT;
	int rc;
	if ((rc = dj_row_store(r->ins->ctx, r->a->coltype.store, &st, &spec, err)) == 0 &&
	    (rc = schema_path(r, spec, ".npy", &path, err)) == 0 &&
	    (rc = dj_store_put(st, path.ptr, file.ptr, file.len, 0, err)) == 0) {
		e->type = DJ_DB_P_TEXT;
		rc = dj_npy_meta_build(&e->buf, path.ptr, spec->name, a, err);
	}
	dj_buf_dispose(&path);
	return rc;
}

/* Metadata given without a file is stored as given (formats.md §6.5 pass-through). */
static int npy_meta_as_given(row_ctx *r, enc *e, dj_err *err)
{
	const dj_npy_meta *m = &r->cell->npy;
	const dj_store_spec *spec = NULL;
	dj_store *st = NULL;
	dj_npy a = DJ_NPY_INIT;
	int rc;
	if (!m->path)
		return dj_err_set(err, DJ_EUSAGE, "%s metadata without a path", r->a->type);
	if ((rc = dj_row_store(r->ins->ctx, m->store ? m->store : r->a->coltype.store, &st,
	                       &spec, err)) < 0 ||
	    (rc = dj_npy_descr_from_dtype(m->dtype, &a.descr, &a.structured, err)) < 0)
		goto done;
	a.ndim = m->ndim;
	a.shape = m->shape;
	e->type = DJ_DB_P_TEXT;
	rc = dj_npy_meta_build(&e->buf, m->path, spec->name, &a, err);
	a.shape = NULL; /* borrowed */
done:
	dj_npy_dispose(&a);
	return rc;
}

static int encode_npy(row_ctx *r, enc *e, dj_err *err)
{
	const dj_cell *c = r->cell;
	dj_npy a = DJ_NPY_INIT;
	dj_buf file = DJ_BUF_INIT;
	int rc;
	if (c->kind == DJ_CELL_NPY && c->data.len == 0)
		return npy_meta_as_given(r, e, err);
	if (c->kind == DJ_CELL_NPY) {
		if ((rc = dj_npy_parse(&a, c->data.ptr, c->data.len, err)) == 0)
			rc = npy_put(r, &a, dj_buf_bytes(&c->data), e, err);
	} else if (c->kind == DJ_CELL_VALUE && c->value->kind == DJ_V_ARRAY) {
		if ((rc = dj_npy_from_array(&a, &c->value->u.arr, err)) == 0 &&
		    (rc = dj_npy_write(&file, &a, err)) == 0)
			rc = npy_put(r, &a, dj_buf_bytes(&file), e, err);
	} else {
		rc = dj_err_set(err, DJ_EUSAGE, "%s takes an array or a .npy file", r->a->type);
	}
	dj_npy_dispose(&a);
	dj_buf_dispose(&file);
	return rc;
}

/* Path(p).suffix: from the last dot of the last component, "" when none (or a leading dot). */
static const char *path_suffix(const char *p)
{
	const char *name = strrchr(p, '/'), *dot;
	name = name ? name + 1 : p;
	dot = strrchr(name, '.');
	return dot && dot > name && dot[1] ? dot : "";
}

typedef struct folder {
	dj_store *st;
	dj_buf files;    /* NUL-separated relative paths, in walk order */
	dj_buf sizes;    /* one uint64_t per file */
	size_t nfiles;
	uint64_t total;
} folder;

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of a directory (malloc'd strings). */
static int list_dir(const char *dir, char ***names, size_t *n, dj_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;
	*names = NULL;
	*n = 0;
	if (!d)
		return dj_err_os(err, "cannot open folder '%s'", dir);
	while ((de = readdir(d))) {
		char **grown;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(grown = realloc(*names, cap * sizeof(**names))))
				break;
			*names = grown;
		}
		if (!((*names)[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (de)
		return dj_err_set(err, DJ_ENOMEM, "out of memory listing '%s'", dir);
	qsort(*names, *n, sizeof(**names), cmp_names);
	return 0;
}

/* os.walk order (top-down: a folder's files, then each sub-folder), names sorted. */
static int walk(folder *f, const char *root, const char *rel, const char *dest, dj_err *err)
{
	char **names;
	size_t n;
	int rc = 0;
	dj_buf dir = DJ_BUF_INIT, src = DJ_BUF_INIT, key = DJ_BUF_INIT, sub = DJ_BUF_INIT;
	if (nomem(dj_buf_addf(&dir, "%s%s%s", root, *rel ? "/" : "", rel), err) < 0 ||
	    (rc = list_dir(dir.ptr, &names, &n, err)) < 0)
		goto done;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct stat sb;
			dj_buf_reset(&src);
			dj_buf_reset(&sub);
			if ((rc = nomem(dj_buf_addf(&src, "%s/%s", dir.ptr, names[i]), err)) < 0 ||
			    (rc = nomem(dj_buf_addf(&sub, "%s%s%s", rel, *rel ? "/" : "", names[i]),
			                err)) < 0)
				break;
			if (stat(src.ptr, &sb) < 0) {
				rc = dj_err_os(err, "cannot stat '%s'", src.ptr);
			} else if (pass == 0 && S_ISREG(sb.st_mode)) {
				dj_buf_reset(&key);
				if ((rc = nomem(dj_buf_addf(&key, "%s/%s", dest, sub.ptr), err)) == 0 &&
				    (rc = dj_store_put_file(f->st, key.ptr, src.ptr, 0, err)) == 0 &&
				    (rc = nomem(dj_buf_add(&f->files, sub.ptr, sub.len + 1), err)) == 0 &&
				    (rc = nomem(dj_buf_add(&f->sizes, &(uint64_t){(uint64_t)sb.st_size},
				                           sizeof(uint64_t)),
				                err)) == 0) {
					f->nfiles++;
					f->total += (uint64_t)sb.st_size;
				}
			} else if (pass == 1 && S_ISDIR(sb.st_mode)) {
				rc = walk(f, root, sub.ptr, dest, err);
			}
		}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
done:
	dj_buf_dispose(&dir);
	dj_buf_dispose(&src);
	dj_buf_dispose(&key);
	dj_buf_dispose(&sub);
	return rc;
}

/* storage.put_folder: the files, then `<path>.manifest.json` (formats.md §6.6). */
static int put_folder(dj_store *st, const char *local, const char *path, int64_t sec,
                      int32_t usec, folder *f, dj_err *err)
{
	dj_manifest_file *mf = NULL;
	dj_buf manifest = DJ_BUF_INIT, key = DJ_BUF_INIT;
	const char *p;
	int rc;
	f->st = st;
	if ((rc = walk(f, local, "", path, err)) < 0)
		return rc;
	if (!(mf = calloc(f->nfiles ? f->nfiles : 1, sizeof(*mf))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	p = f->files.ptr;
	for (size_t i = 0; i < f->nfiles; i++, p += strlen(p) + 1) {
		mf[i].path = p;
		memcpy(&mf[i].size, f->sizes.ptr + i * sizeof(uint64_t), sizeof(uint64_t));
	}
	if ((rc = dj_manifest_build(&manifest, mf, f->nfiles, sec, usec, err)) == 0 &&
	    (rc = nomem(dj_buf_addf(&key, "%s.manifest.json", path), err)) == 0)
		rc = dj_store_put(st, key.ptr, manifest.ptr, manifest.len, 0, err);
	free(mf);
	dj_buf_dispose(&manifest);
	dj_buf_dispose(&key);
	return rc;
}

static int object_from_path(row_ctx *r, dj_store *st, const dj_store_spec *spec,
                            dj_object_meta *m, dj_buf *path, dj_err *err)
{
	const char *local = r->cell->name;
	struct stat sb;
	folder f = {NULL, DJ_BUF_INIT, DJ_BUF_INIT, 0, 0};
	dj_buf content = DJ_BUF_INIT;
	int rc;
	if (!local || stat(local, &sb) < 0)
		return dj_err_os(err, "source path not found: '%s'", local ? local : "");
	m->is_dir = S_ISDIR(sb.st_mode);
	if (!m->is_dir && !(m->ext = strdup(path_suffix(local))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	if ((rc = schema_path(r, spec, m->ext, path, err)) < 0)
		return rc;
	if (m->is_dir) {
		if ((rc = put_folder(st, local, path->ptr, m->ts_sec, m->ts_usec, &f, err)) == 0) {
			m->size = f.total;
			m->has_item_count = true;
			m->item_count = f.nfiles;
		}
	} else if ((rc = dj_file_read(local, &content, err)) == 0 &&
	           (rc = dj_store_put(st, path->ptr, content.ptr, content.len, 0, err)) == 0) {
		m->size = content.len;
	}
	dj_buf_dispose(&f.files);
	dj_buf_dispose(&f.sizes);
	dj_buf_dispose(&content);
	return rc;
}

static int encode_object(row_ctx *r, enc *e, dj_err *err)
{
	const dj_cell *c = r->cell;
	const dj_store_spec *spec = NULL;
	dj_store *st = NULL;
	dj_object_meta m = DJ_OBJECT_META_INIT;
	dj_buf path = DJ_BUF_INIT;
	int rc;
	if (c->kind == DJ_CELL_OBJECT) /* metadata as given (formats.md §6.5) */
		m = c->obj;
	if ((rc = dj_row_store(r->ins->ctx, m.store ? m.store : r->a->coltype.store, &st, &spec,
	                       err)) < 0)
		return rc;
	e->type = DJ_DB_P_TEXT;
	if (c->kind == DJ_CELL_OBJECT) {
		m.store = spec->name;
		return dj_object_meta_build(&e->buf, &m, err);
	}
	m.has_size = m.has_timestamp = true;
	utc_now(&m.ts_sec, &m.ts_usec);
	if (c->kind == DJ_CELL_PATH) {
		rc = object_from_path(r, st, spec, &m, &path, err);
	} else if (c->kind == DJ_CELL_VALUE && c->value->kind == DJ_V_BYTES) {
		/* bytes, or Python's (ext, bytes) tuple: ext recorded as given */
		const dj_value *v = c->value;
		if (c->name && !(m.ext = strdup(c->name)))
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		else if ((rc = schema_path(r, spec, m.ext, &path, err)) == 0)
			rc = dj_store_put(st, path.ptr, v->u.s.p, v->u.s.n, 0, err);
		m.size = v->u.s.n;
	} else {
		rc = dj_err_set(err, DJ_EUSAGE, "%s takes bytes or a path", r->a->type);
	}
	if (rc == 0) {
		m.path = path.ptr;
		m.store = spec->name;
		rc = dj_object_meta_build(&e->buf, &m, err);
	}
	free(m.ext);
	dj_buf_dispose(&path);
	return rc;
}

/* <filepath@s>: an existing object, checked and recorded (formats.md §7). */
static int encode_filepath(row_ctx *r, enc *e, dj_err *err)
{
	const dj_cell *c = r->cell;
	const dj_store_spec *spec = NULL;
	dj_store *st = NULL;
	dj_store_stat sb;
	const char *p;
	int64_t sec;
	int32_t usec;
	int rc;
	if (c->kind == DJ_CELL_OBJECT) {
		if ((rc = dj_row_store(r->ins->ctx, c->obj.store ? c->obj.store : r->a->coltype.store,
		                       &st, &spec, err)) < 0)
			return rc;
		e->type = DJ_DB_P_TEXT;
		return dj_filepath_meta_build(&e->buf, c->obj.path, spec->name, c->obj.has_size,
		                              c->obj.size, c->obj.is_dir, c->obj.ts_sec,
		                              c->obj.ts_usec, err);
	}
	if (c->kind != DJ_CELL_VALUE || c->value->kind != DJ_V_STR)
		return dj_err_set(err, DJ_EUSAGE, "%s takes a path in the store", r->a->type);
	p = c->value->u.s.p;
	if ((rc = dj_row_store(r->ins->ctx, r->a->coltype.store, &st, &spec, err)) < 0 ||
	    (rc = dj_filepath_check(spec->hash_prefix, spec->schema_prefix, spec->filepath_prefix,
	                            p, err)) < 0)
		return rc;
	while (*p == '/')
		p++;
	if ((rc = dj_store_head(st, p, &sb, err)) < 0)
		return rc;
	if (!sb.exists)
		return dj_err_set(err, DJ_ENOTFOUND, "'%s' does not exist in store '%s'",
		                  c->value->u.s.p, spec->name);
	utc_now(&sec, &usec);
	e->type = DJ_DB_P_TEXT;
	return dj_filepath_meta_build(&e->buf, c->value->u.s.p, spec->name, !sb.is_dir, sb.size,
	                              sb.is_dir, sec, usec, err);
}

/* --- rows ---------------------------------------------------------------------------------- */

/* A uuid given as text (Python accepts uuid.UUID(value)): parsed as the reader parses it. */
static int uuid_text(row_ctx *r, enc *e, dj_err *err)
{
	const dj_value *v = r->cell->value;
	dj_bytes text = {(const uint8_t *)v->u.s.p, v->u.s.n};
	dj_cell tmp;
	int rc = dj_row_decode(r->ins->ctx, r->ins->t, r->a, DJ_DB_T_UUID, false, text, NULL, &tmp,
	                       err);
	if (rc == 0)
		rc = uuid_value(e, r->ins->b, tmp.value->u.uuid, err);
	dj_cell_dispose(&tmp);
	return rc;
}

bool dj_attr_is_stored(const dj_attr *a)
{
	if (a->kind != DJ_ATTR_CODEC || !a->coltype.codec)
		return false;
	switch (a->coltype.codec->id) {
	case DJ_CODEC_BLOB:
	case DJ_CODEC_ATTACH:
		return a->coltype.has_store;
	case DJ_CODEC_HASH:
	case DJ_CODEC_NPY:
	case DJ_CODEC_OBJECT:
	case DJ_CODEC_FILEPATH:
		return true;
	}
	return false;
}

static int encode_cell(row_ctx *r, enc *e, dj_err *err)
{
	const dj_attr *a = r->a;
	if (r->cell->kind == DJ_CELL_NULL || r->cell->kind == DJ_CELL_DEFAULT) {
		e->dflt = true; /* Python sends None as DEFAULT */
		return 0;
	}
	if (r->cell->kind == DJ_CELL_ENCODED) {
		if (!dj_attr_is_stored(a))
			return dj_err_set(err, DJ_EUSAGE, "a %s column takes no stored metadata",
			                  a->type);
		e->type = DJ_DB_P_TEXT;
		return dj_buf_add(&e->buf, r->cell->data.ptr, r->cell->data.len) < 0
		           ? dj_err_set(err, DJ_ENOMEM, "out of memory")
		           : 0;
	}
	if (a->kind == DJ_ATTR_UNKNOWN)
		return dj_err_set(err, DJ_ENOTSUP, "unknown codec or store in type '%s'", a->type);
	if (a->kind != DJ_ATTR_CODEC) {
		if (r->cell->kind != DJ_CELL_VALUE)
			return dj_err_set(err, DJ_EUSAGE, "a %s column takes a plain value", a->type);
		if (r->cell->value->kind == DJ_V_STR && a->kind == DJ_ATTR_CORE &&
		    !a->coltype.codec && a->coltype.core == DJ_CORE_UUID)
			return uuid_text(r, e, err);
		return plain_value(e, r->ins->b, a, r->cell->value, err);
	}
	switch (a->coltype.codec->id) {
	case DJ_CODEC_BLOB:
		return encode_blob(r, e, err);
	case DJ_CODEC_ATTACH:
		return encode_attach(r, e, err);
	case DJ_CODEC_HASH:
		return encode_hash(r, e, err);
	case DJ_CODEC_NPY:
		return encode_npy(r, e, err);
	case DJ_CODEC_OBJECT:
		return encode_object(r, e, err);
	case DJ_CODEC_FILEPATH:
		return encode_filepath(r, e, err);
	}
	return dj_err_set(err, DJ_ENOTSUP, "unknown codec in '%s'", a->type);
}

static void enc_init(enc *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].buf = (dj_buf)DJ_BUF_INIT;
	}
}

static void enc_clear(enc *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dj_buf_dispose(&e[i].buf);
	enc_init(e, n);
}

int dj_insert_add(dj_insert *ins, const dj_cell *cells, dj_err *err)
{
	row_ctx r = {ins, cells, NULL, NULL};
	enc *row;
	int rc = 0;
	if (ins->nrows == ins->cap) {
		size_t cap = ins->cap ? 2 * ins->cap : 16;
		enc *grown = realloc(ins->rows, cap * ins->ncols * sizeof(*grown));
		if (!grown)
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
		ins->rows = grown;
		ins->cap = cap;
	}
	row = &ins->rows[ins->nrows * ins->ncols];
	enc_init(row, ins->ncols);
	for (size_t i = 0; rc == 0 && i < ins->ncols; i++) {
		r.a = ins->attrs[i];
		r.cell = &cells[i];
		if ((rc = encode_cell(&r, &row[i], err)) < 0)
			dj_err_context(err, "insert %s.%s.%s", ins->t->schema, ins->t->name,
			               r.a->name);
	}
	if (rc < 0) {
		enc_clear(row, ins->ncols);
		return rc;
	}
	ins->nrows++;
	return 0;
}

int dj_insert_encoded(const dj_insert *ins, size_t row, size_t col, dj_bytes *text,
                      bool *is_default, dj_err *err)
{
	if (row >= ins->nrows || col >= ins->ncols)
		return dj_err_set(err, DJ_EUSAGE, "insert: no row %zu column %zu", row, col);
	const enc *e = &ins->rows[row * ins->ncols + col];
	*is_default = e->dflt;
	text->ptr = (const uint8_t *)e->buf.ptr;
	text->len = e->buf.len;
	if (!e->dflt && e->type != DJ_DB_P_TEXT)
		return dj_err_set(err, DJ_EUSAGE, "insert: column %zu is not text", col);
	return 0;
}

size_t dj_insert_pending(const dj_insert *ins)
{
	return ins->nrows;
}

static int find_attr(const dj_table *t, const char *name, const dj_attr **out, dj_err *err)
{
	const dj_attr *a = dj_table_attr(t, name);
	if (!a)
		return dj_err_set(err, DJ_EUSAGE, "%s.%s has no attribute '%s'", t->schema, t->name,
		                  name);
	if (a->hidden) /* Python's insert rejects hidden attributes (database.md §2.7) */
		return dj_err_set(err, DJ_EUSAGE, "%s.%s: '%s' is hidden", t->schema, t->name,
		                  name);
	*out = a;
	return 0;
}

static int map_columns(dj_insert *ins, const char *const *cols, dj_err *err)
{
	const dj_table *t = ins->t;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < ins->ncols; i++) {
		rc = find_attr(t, cols[i], &ins->attrs[i], err);
		for (size_t k = 0; rc == 0 && k < i; k++)
			if (ins->attrs[k] == ins->attrs[i])
				rc = dj_err_set(err, DJ_EUSAGE, "column '%s' given twice", cols[i]);
	}
	for (size_t k = 0; rc == 0 && k < t->npk; k++) {
		size_t i = 0;
		while (i < ins->ncols && ins->attrs[i] != &t->attrs[t->pk[k]])
			i++;
		if (i == ins->ncols)
			rc = dj_err_set(err, DJ_EUSAGE, "%s.%s: key attribute '%s' is missing",
			                t->schema, t->name, t->attrs[t->pk[k]].name);
		ins->pkcol[k] = i;
	}
	return rc;
}

int dj_insert_new(dj_insert **out, dj_row_ctx *c, dj_db_backend b, const dj_table *t,
                  const char *const *cols, size_t ncols, dj_err *err)
{
	dj_insert *ins = calloc(1, sizeof(*ins));
	int rc;
	*out = NULL;
	if (!ins || !(ins->attrs = calloc(ncols ? ncols : 1, sizeof(*ins->attrs))) ||
	    !(ins->pkcol = calloc(t->npk ? t->npk : 1, sizeof(*ins->pkcol)))) {
		dj_insert_free(ins);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	ins->ctx = c;
	ins->b = b;
	ins->t = t;
	ins->ncols = ncols;
	if (ncols == 0)
		rc = dj_err_set(err, DJ_EUSAGE, "%s.%s: no columns to insert", t->schema, t->name);
	else
		rc = map_columns(ins, cols, err);
	if (rc < 0) {
		dj_insert_free(ins);
		return rc;
	}
	*out = ins;
	return 0;
}

/* --- the statement ------------------------------------------------------------------------- */

static int insert_head(dj_buf *sql, const dj_insert *ins, dj_err *err)
{
	int rc = dj_buf_adds(sql, "INSERT INTO ");
	if (rc == 0 && (rc = dj_db_quote_ident(ins->b, sql, ins->t->schema, err)) == 0 &&
	    (rc = dj_buf_addc(sql, '.')) == 0 &&
	    (rc = dj_db_quote_ident(ins->b, sql, ins->t->name, err)) == 0)
		rc = dj_buf_adds(sql, " (");
	for (size_t i = 0; rc == 0 && i < ins->ncols; i++)
		if ((rc = i ? dj_buf_addc(sql, ',') : 0) == 0)
			rc = dj_db_quote_ident(ins->b, sql, ins->attrs[i]->name, err);
	return rc == 0 ? dj_buf_adds(sql, ") VALUES ") : rc;
}

static dj_db_param enc_param(const enc *e)
{
	switch (e->type) {
	case DJ_DB_P_INT:
		return dj_db_int(e->i);
	case DJ_DB_P_DOUBLE:
		return dj_db_double(e->d);
	case DJ_DB_P_TEXT:
		return dj_db_textn(e->buf.ptr, e->buf.len);
	case DJ_DB_P_BYTES:
		return dj_db_bytes(e->buf.ptr, e->buf.len);
	default:
		return dj_db_null();
	}
}

/* Rows [from, *to) that fit the caps (at least one), as one INSERT. */
static int insert_batch(dj_insert *ins, dj_db *db, size_t from, size_t *to, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT;
	dj_db_param *p = NULL;
	size_t np = 0, bytes = 0, r = from;
	int rc = insert_head(&sql, ins, err);
	if (rc == 0 && !(p = malloc(ins->ncols * (ins->nrows - from) * sizeof(*p))))
		rc = DJ_ENOMEM;
	for (; rc == 0 && r < ins->nrows; r++) {
		const enc *row = &ins->rows[r * ins->ncols];
		size_t rb = 0;
		for (size_t i = 0; i < ins->ncols; i++)
			rb += row[i].buf.len;
		if (r > from && (bytes + rb > INSERT_MAX_BYTES || np + ins->ncols > INSERT_MAX_PARAMS))
			break;
		bytes += rb;
		rc = dj_buf_adds(&sql, r > from ? ",(" : "(");
		for (size_t i = 0; rc == 0 && i < ins->ncols; i++) {
			rc = dj_buf_adds(&sql, row[i].dflt ? "DEFAULT" : "?");
			if (rc == 0 && !row[i].dflt)
				p[np++] = enc_param(&row[i]);
			if (rc == 0 && i + 1 < ins->ncols)
				rc = dj_buf_addc(&sql, ',');
		}
		if (rc == 0)
			rc = dj_buf_addc(&sql, ')');
	}
	if (rc == 0)
		rc = dj_db_exec(db, sql.ptr, p, np, err);
	*to = r;
	free(p);
	dj_buf_dispose(&sql);
	return nomem(rc, err);
}

int dj_insert_exec(dj_insert *ins, dj_db *db, dj_err *err)
{
	size_t from = 0, to;
	int rc = 0;
	while (rc == 0 && from < ins->nrows) {
		rc = insert_batch(ins, db, from, &to, err);
		from = to;
	}
	if (rc < 0)
		dj_err_context(err, "insert %s.%s", ins->t->schema, ins->t->name);
	enc_clear(ins->rows, ins->nrows * ins->ncols);
	ins->nrows = 0;
	return rc;
}

void dj_insert_free(dj_insert *ins)
{
	if (!ins)
		return;
	if (ins->rows)
		enc_clear(ins->rows, ins->nrows * ins->ncols);
	free(ins->rows);
	free(ins->attrs);
	free(ins->pkcol);
	free(ins);
}
