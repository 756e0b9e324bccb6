/*
 * jobs/row.h without a database: values decoded from db.h's text forms, codecs through a file
 * store (hash check on read, deduplicated hash objects, schema-addressed .npy and folder
 * objects with their manifest, filepath checks), and the insert's column checks.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "codecs/hash.h"
#include "jobs/row.h"
#include "stores/paths.h"
#include "tests/unit/vectors.h"

typedef struct fx {
	dj_store_spec spec;
	char dir[1024];
	dj_row_ctx ctx;
	dj_table t;
	dj_attr attrs[8];
	size_t pk[2];
} fx;

/* A table `s`.`__t` (subject varchar key, idx int16 key, then the given column). */
static void add_attr(fx *f, const char *name, const char *sql, const char *comment, bool key)
{
	dj_column_info ci = {name, sql, NULL, comment, false};
	dj_err err = DJ_ERR_INIT;
	dj_attr *a = &f->attrs[f->t.nattrs];
	if (dj_attr_init(a, &ci, "main", &err) < 0)
		fail_msg("%s", err.msg);
	a->in_key = key;
	if (key)
		f->pk[f->t.npk++] = f->t.nattrs;
	f->t.nattrs++;
}

static int setup(void **state)
{
	static int n;
	fx *f = calloc(1, sizeof(*f));
	dj_err err = DJ_ERR_INIT;
	char cmd[2100];
	snprintf(f->dir, sizeof(f->dir), "%s/row-%d", dj_test_tmpdir(), ++n);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	f->spec.name = "main";
	f->spec.protocol = "file";
	f->spec.location = f->dir;
	f->spec.token_length = 8;
	assert_int_equal(dj_row_ctx_init(&f->ctx, &f->spec, 1, "main", &err), 0);
	f->t.schema = "s";
	f->t.name = "__t";
	f->t.attrs = f->attrs;
	f->t.pk = f->pk;
	add_attr(f, "subject", "varchar(16)", ":varchar(16):", true);
	add_attr(f, "idx", "smallint", ":int16:", true);
	add_attr(f, "_job_version", "varchar(64)", NULL, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	for (size_t i = 0; i < f->t.nattrs; i++)
		dj_attr_clear(&f->attrs[i]);
	dj_row_ctx_dispose(&f->ctx);
	free(f);
	return 0;
}

static dj_cell decode(fx *f, size_t col, dj_db_type type, const char *raw, size_t n)
{
	dj_cell c;
	dj_err err = DJ_ERR_INIT;
	dj_bytes b = {(const uint8_t *)raw, n};
	if (dj_row_decode(&f->ctx, &f->t, &f->attrs[col], type, false, b, "{k}", &c, &err) < 0)
		fail_msg("%s", err.msg);
	return c;
}

/* --- plain values (database.md §2.6) ------------------------------------------------------- */

static void plain_values(void **state)
{
	fx *f = *state;
	dj_cell c;
	int64_t x;
	add_attr(f, "n", "bigint unsigned", NULL, false);
	c = decode(f, 3, DJ_DB_T_INT, "-42", 3);
	assert_int_equal(c.value->kind, DJ_V_INT);
	assert_int_equal(dj_value_get_int64(c.value, &x), 0);
	assert_int_equal(x, -42);
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_INT, "18446744073709551615", 20); /* bigint unsigned max */
	assert_int_equal(c.value->u.i.n, 9);
	assert_int_equal(c.value->u.i.bytes[8], 0);
	assert_int_equal(c.value->u.i.bytes[0], 0xff);
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_FLOAT, "0.2", 3);
	assert_true(c.value->kind == DJ_V_FLOAT && c.value->u.f == 0.2);
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_DATETIME, "2026-11-21 20:45:30.545", 23);
	assert_int_equal(c.value->u.dt.date, 20261121);
	assert_int_equal(c.value->u.dt.time, 204530545000LL);
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_DATETIME, "2026-11-21 20:45:49.052+00", 26); /* timestamptz */
	assert_int_equal(c.value->u.dt.time, 204549052000LL);
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_DATE, "2025-11-20", 10);
	assert_true(c.value->u.dt.date == 20251120 && c.value->u.dt.time == -1);
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_DECIMAL, "24.50", 5);
	assert_true(c.value->kind == DJ_V_DECIMAL && !strcmp(c.value->u.s.p, "24.50"));
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_BOOL, "1", 1);
	assert_true(c.value->kind == DJ_V_BOOL && c.value->u.b);
	dj_cell_dispose(&c);
	c = decode(f, 3, DJ_DB_T_UUID, "2423ee6a-5582-5b9c-b559-d57496a6f8a8", 36);
	assert_true(c.value->kind == DJ_V_UUID && c.value->u.uuid[0] == 0x24 &&
	            c.value->u.uuid[15] == 0xa8);
	dj_cell_dispose(&c);
}

static void uuid_and_json_by_marker(void **state)
{
	fx *f = *state;
	dj_cell c;
	add_attr(f, "u", "binary(16)", ":uuid:", false);
	add_attr(f, "j", "longtext", ":json:notes", false);
	c = decode(f, 3, DJ_DB_T_BYTES, "0123456789abcdef", 16);
	assert_true(c.value->kind == DJ_V_UUID && c.value->u.uuid[0] == '0');
	dj_cell_dispose(&c);
	c = decode(f, 4, DJ_DB_T_TEXT, "{\"a\": 1}", 8); /* MariaDB: json reported as longtext */
	assert_true(c.value->kind == DJ_V_STR && !strcmp(c.value->u.s.p, "{\"a\": 1}"));
	dj_cell_dispose(&c);
}

/* --- hash-addressed objects (formats.md §4, §5) ---------------------------------------------
 */

/* Insert one row through dj_insert_add (no database): store objects are written there. */
static int add_row(fx *f, const char *const *cols, size_t ncols, const dj_cell *cells,
                   dj_err *err)
{
	dj_insert *ins;
	int rc = dj_insert_new(&ins, &f->ctx, DJ_DB_MYSQL, &f->t, cols, ncols, err);
	if (rc == 0)
		rc = dj_insert_add(ins, cells, err);
	dj_insert_free(ins);
	return rc;
}

static void key_cells(dj_cell *c)
{
	dj_cell_init(&c[0]);
	dj_cell_init(&c[1]);
	c[0].kind = c[1].kind = DJ_CELL_VALUE;
	c[0].value = dj_value_str("mouse 1/a", 9); /* '/' is percent-encoded in paths */
	c[1].value = dj_value_int64(3);
}

static bool exists(fx *f, const char *rel)
{
	char path[2048];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	return stat(path, &sb) == 0;
}

static void blob_in_store(void **state)
{
	fx *f = *state;
	const char *cols[] = {"subject", "idx", "b"};
	dj_cell c[3], got;
	dj_buf packed = DJ_BUF_INIT, meta = DJ_BUF_INIT, path = DJ_BUF_INIT;
	dj_hash_meta m = DJ_HASH_META_INIT;
	dj_err err = DJ_ERR_INIT;
	char hash[DJ_HASH_LEN + 1], file[2100];
	add_attr(f, "b", "json", ":<blob@main>:", false);
	key_cells(c);
	dj_cell_init(&c[2]);
	c[2].kind = DJ_CELL_VALUE;
	c[2].value = dj_value_float(1.5);
	assert_int_equal(add_row(f, cols, 3, c, &err), 0);
	assert_int_equal(add_row(f, cols, 3, c, &err), 0); /* the same object: deduplicated */
	assert_int_equal(dj_blob_pack(c[2].value, NULL, &packed, &err), 0);
	assert_int_equal(dj_hash_bytes(packed.ptr, packed.len, hash, &err), 0);
	assert_int_equal(dj_path_hash(&path, &f->spec, "s", hash, &err), 0);
	assert_true(exists(f, path.ptr));
	/* decoding reads the stored path and checks the hash */
	strcpy(m.hash, hash);
	m.path = path.ptr;
	m.schema = "s";
	m.store = "main";
	m.has_size = true;
	m.size = packed.len;
	assert_int_equal(dj_hash_meta_build(&meta, &m, &err), 0);
	got = decode(f, 3, DJ_DB_T_JSON, meta.ptr, meta.len);
	assert_true(dj_value_equal(got.value, c[2].value));
	dj_cell_dispose(&got);
	/* a changed object is refused */
	snprintf(file, sizeof(file), "%s/%s", f->dir, path.ptr);
	assert_int_equal(dj_file_write(file, "dj0\0\x0d\0\0\0\0\0\0\0\0", 13, &err), 0);
	assert_int_equal(dj_row_decode(&f->ctx, &f->t, &f->attrs[3], DJ_DB_T_JSON, false,
	                               dj_buf_bytes(&meta), "{k}", &got, &err),
	                 DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "hash mismatch"));
	assert_non_null(strstr(err.msg, "s.__t {k}.b"));
	for (int i = 0; i < 3; i++)
		dj_cell_dispose(&c[i]);
	dj_buf_dispose(&packed);
	dj_buf_dispose(&meta);
	dj_buf_dispose(&path);
}

/* --- schema-addressed objects (formats.md §6) ------------------------------------------------
 */

typedef struct found {
	char keys[8][512];
	size_t n;
} found;

static int collect(const dj_store_entry *e, void *payload)
{
	found *fd = payload;
	if (fd->n < 8)
		snprintf(fd->keys[fd->n++], sizeof(fd->keys[0]), "%s", e->key);
	return 0;
}

static void list_store(fx *f, const char *prefix, found *fd)
{
	dj_store *st;
	dj_err err = DJ_ERR_INIT;
	memset(fd, 0, sizeof(*fd));
	assert_int_equal(dj_row_store(&f->ctx, NULL, &st, NULL, &err), 0);
	assert_int_equal(dj_store_list(st, prefix, collect, fd, &err), 0);
}

static void npy_and_folder(void **state)
{
	fx *f = *state;
	const char *cols[] = {"subject", "idx", "a", "o"};
	uint64_t shape[2] = {2, 3};
	dj_cell c[4];
	dj_err err = DJ_ERR_INIT;
	found fd;
	char dir[1100], file[2048];
	add_attr(f, "a", "json", ":<npy@main>:", false);
	add_attr(f, "o", "json", ":<object@>:", false); /* <x@> = stores.default */
	key_cells(c);
	dj_cell_init(&c[2]);
	dj_cell_init(&c[3]);
	c[2].kind = DJ_CELL_VALUE;
	c[2].value = dj_value_array(DJ_TYPE_FLOAT64, false, 2, shape, &err);
	snprintf(dir, sizeof(dir), "%s/../folder-%p", f->dir, (void *)f);
	mkdir(dir, 0755);
	snprintf(file, sizeof(file), "%s/b.txt", dir);
	dj_file_write(file, "bb", 2, &err);
	snprintf(file, sizeof(file), "%s/sub", dir);
	mkdir(file, 0755);
	snprintf(file, sizeof(file), "%s/sub/a.txt", dir);
	dj_file_write(file, "a", 1, &err);
	c[3].kind = DJ_CELL_PATH;
	c[3].name = strdup(dir);
	if (add_row(f, cols, 4, c, &err) < 0)
		fail_msg("%s", err.msg);
	list_store(f, "_schema/s/__t/subject=mouse%201%2Fa/idx=3/", &fd);
	/* a_TOKEN.npy, then the folder: its files and the manifest sidecar */
	assert_int_equal(fd.n, 4);
	assert_true(strlen(fd.keys[0]) == strlen("_schema/s/__t/subject=mouse%201%2Fa/idx=3/") +
	                                      strlen("a_") + 8 + 4);
	/* byte order: o_TOKEN.manifest.json sorts before o_TOKEN/... */
	assert_non_null(strstr(fd.keys[1], ".manifest.json"));
	assert_non_null(strstr(fd.keys[2], "/b.txt"));
	assert_non_null(strstr(fd.keys[3], "/sub/a.txt"));
	{ /* the manifest lists the files in os.walk order: a folder's files, then sub-folders */
		dj_buf man = DJ_BUF_INIT;
		snprintf(file, sizeof(file), "%s/%s", f->dir, fd.keys[1]);
		dj_test_read(file, &man);
		assert_true(strstr(man.ptr, "\"b.txt\"") < strstr(man.ptr, "\"sub/a.txt\""));
		assert_non_null(strstr(man.ptr, "\"total_size\": 3"));
		dj_buf_dispose(&man);
	}
	for (int i = 0; i < 4; i++)
		dj_cell_dispose(&c[i]);
}

static void column_checks(void **state)
{
	fx *f = *state;
	dj_insert *ins = NULL;
	dj_err err = DJ_ERR_INIT;
	const char *hidden[] = {"subject", "idx", "_job_version"};
	const char *nokey[] = {"subject"};
	const char *unknown[] = {"subject", "idx", "nope"};
	assert_int_equal(dj_insert_new(&ins, &f->ctx, DJ_DB_MYSQL, &f->t, hidden, 3, &err),
	                 DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "hidden"));
	dj_err_clear(&err);
	assert_int_equal(dj_insert_new(&ins, &f->ctx, DJ_DB_MYSQL, &f->t, nokey, 1, &err),
	                 DJ_EUSAGE);
	assert_non_null(strstr(err.msg, "key attribute 'idx' is missing"));
	dj_err_clear(&err);
	assert_int_equal(dj_insert_new(&ins, &f->ctx, DJ_DB_MYSQL, &f->t, unknown, 3, &err),
	                 DJ_EUSAGE);
	assert_null(ins);
}

static void filepath_and_unknown(void **state)
{
	fx *f = *state;
	const char *cols[] = {"subject", "idx", "p"};
	dj_cell c[3], got;
	dj_err err = DJ_ERR_INIT;
	add_attr(f, "p", "json", ":<filepath@main>:", false);
	add_attr(f, "x", "json", ":<nosuch@main>:", false);
	key_cells(c);
	dj_cell_init(&c[2]);
	c[2].kind = DJ_CELL_VALUE;
	c[2].value = dj_value_str("raw/missing.bin", 15);
	assert_int_equal(add_row(f, cols, 3, c, &err), DJ_ENOTFOUND);
	dj_err_clear(&err);
	dj_value_free(c[2].value);
	c[2].value = dj_value_str("_hash/s/x", 9); /* a reserved section */
	assert_int_equal(add_row(f, cols, 3, c, &err), DJ_EUSAGE);
	assert_int_equal(dj_row_decode(&f->ctx, &f->t, &f->attrs[4], DJ_DB_T_JSON, false,
	                               (dj_bytes){(const uint8_t *)"{}", 2}, NULL, &got, &err),
	                 DJ_ENOTSUP);
	for (int i = 0; i < 3; i++)
		dj_cell_dispose(&c[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(plain_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(uuid_and_json_by_marker, setup, teardown),
	    cmocka_unit_test_setup_teardown(blob_in_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(npy_and_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(column_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(filepath_and_unknown, setup, teardown),
	};
	return cmocka_run_group_tests_name("row_codec", tests, NULL, NULL);
}
