/*
 * populate's store-backed outputs written where the make ran (jobs/populate_internal.h).
 *
 * Under MPI, rank 0 would otherwise encode every <blob@>/<npy@>/<object@>/... output and
 * write it to the store while it commits: all the bytes cross to rank 0 and one process does
 * all the store I/O. Instead the working rank encodes them with the same row layer rank 0 uses
 * (jobs/row_insert.c: same paths, same metadata bytes), writes the objects, and sends rank 0
 * only their metadata. The objects exist before any row names them, as on rank 0; a key whose
 * commit then fails leaves unreferenced objects, which gc collects (as in datajoint-python).
 * Each object is synced as it is written (no deferred sync): rank 0 cannot flush another
 * node's writes before it commits.
 */
#include "jobs/populate_internal.h"

#include <stdlib.h>
#include <string.h>

#include "jobs/make.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "out of memory");
}

int dj_populate_worker_stores(dj_populate *p, dj_err *err)
{
	int rc;
	if (!p->have_wrc) {
		if ((rc = dj_row_ctx_init(&p->wrc, p->specs, p->nspecs, p->default_store, err)) < 0)
			return rc;
		p->have_wrc = true;
	}
	return 0;
}

/* The heading unpacked and the stores ready, once per working thread. */
static int prepare(dj_populate *p, dj_err *err)
{
	int rc;
	if (!p->wt) {
		if ((rc = dj_tables_unpack(p->heading.ptr, p->heading.len, p->default_store, &p->wt,
		                           &p->nwt, err)) < 0)
			return rc;
		if (p->nwt == 0)
			return dj_err_set(err, DJ_EFORMAT, "populate: an empty table heading");
	}
	return dj_populate_worker_stores(p, err);
}

void dj_populate_store_dispose(dj_populate *p)
{
	if (p->have_wrc)
		dj_row_ctx_dispose(&p->wrc);
	dj_tables_free(p->wt, p->nwt);
	p->wt = NULL;
	p->nwt = 0;
	p->have_wrc = false;
}

/* What one result is rewritten with. */
typedef struct outputs {
	dj_populate *p;
	json_t *key;         /* the key the make saw */
	const char *keytext; /* for messages */
	const unsigned char *data;
	size_t dlen;
} outputs;

/*
 * Write the store-backed values of one row object `obj` of table `t` and replace each with
 * {"stored": metadata}. The row's cells: its primary key (from the key, else from `obj`, as
 * rank 0 builds them) and the store-backed values.
 */
static int store_row(outputs *o, const dj_table *t, json_t *obj, dj_err *err)
{
	size_t cap = t->npk + json_object_size(obj), n = 0, nstored = 0;
	const char **cols = calloc(cap ? cap : 1, sizeof(*cols));
	dj_cell *cells = calloc(cap ? cap : 1, sizeof(*cells));
	dj_insert *ins = NULL;
	int rc = cols && cells ? 0 : nomem(err);
	for (size_t k = 0; rc == 0 && k < t->npk; k++) {
		const dj_attr *a = &t->attrs[t->pk[k]];
		json_t *kv = json_object_get(o->key, a->name), *v = json_object_get(obj, a->name);
		dj_cell_init(&cells[n]);
		cols[n] = a->name;
		if (kv) { /* the key's own value wins, as on rank 0 */
			rc = dj_populate_key_from_json(a, kv, &cells[n].value, err);
			cells[n].kind = rc == 0 && cells[n].value->kind != DJ_V_NONE ? DJ_CELL_VALUE
			                                                            : DJ_CELL_NULL;
		} else if (v) {
			rc = dj_populate_json_cell(t, a, v, o->data, o->dlen, o->keytext, false,
			                           &cells[n], err);
		} else {
			rc = dj_err_set(err, DJ_EUSAGE, "OutputError: %s %s: key attribute '%s' has no "
			                "value", t->name, o->keytext, a->name);
		}
		n++;
	}
	const char *name;
	json_t *v;
	json_object_foreach(obj, name, v)
	{
		const dj_attr *a = dj_table_attr(t, name);
		if (rc < 0)
			break;
		if (!a || a->in_key || a->hidden || !dj_attr_is_stored(a) || json_is_null(v))
			continue; /* rank 0 takes (or refuses) it */
		dj_cell_init(&cells[n]);
		cols[n] = a->name;
		rc = dj_populate_json_cell(t, a, v, o->data, o->dlen, o->keytext, false, &cells[n++],
		                           err);
		nstored++;
	}
	/* the backend only shapes the key cells' encodings, which are not used */
	if (rc == 0 && nstored &&
	    (rc = dj_insert_new(&ins, &o->p->wrc, DJ_DB_MYSQL, t, cols, n, err)) == 0 &&
	    (rc = dj_insert_add(ins, cells, err)) < 0 && !strstr(err->msg, "Error: "))
		dj_err_context(err, "DataJointError");
	for (size_t i = t->npk; rc == 0 && nstored && i < n; i++) {
		dj_bytes text;
		bool dflt;
		if ((rc = dj_insert_encoded(ins, 0, i, &text, &dflt, err)) < 0)
			break;
		json_t *st = dflt ? json_null()
		                  : json_pack("{s:s%}", "stored", (const char *)text.ptr, text.len);
		if (!st || json_object_set_new(obj, cols[i], st) < 0)
			rc = nomem(err);
	}
	dj_insert_free(ins);
	for (size_t i = 0; cells && i < n; i++)
		dj_cell_dispose(&cells[i]);
	free(cells);
	free(cols);
	return rc;
}

/* The part of the target a make names in "parts", by class or SQL name (as rank 0 finds it). */
static const dj_table *part_of(const dj_populate *p, const char *name)
{
	const char *dot = strrchr(name, '.');
	const char *own = dot ? dot + 1 : name;
	size_t ml = strlen(p->wt[0].class_name);
	for (size_t i = 1; i < p->nwt; i++) {
		const dj_table *t = &p->wt[i];
		if (t->master != &p->wt[0])
			continue;
		if (!strcmp(t->name, name) ||
		    (!strncmp(t->class_name, p->wt[0].class_name, ml) && t->class_name[ml] == '.' &&
		     !strcmp(t->class_name + ml + 1, own)))
			return t;
	}
	return NULL;
}

/* Every row object of the doc: (table, object) pairs through fn. Unknown parts are left to
 * rank 0, which fails the key naming them. */
static int each_row(outputs *o, json_t *doc, int (*fn)(outputs *, const dj_table *, json_t *,
                                                       dj_err *),
                    dj_err *err)
{
	json_t *row = json_object_get(doc, "row"), *parts = json_object_get(doc, "parts");
	const char *pname;
	json_t *plist;
	int rc = json_is_object(row) ? fn(o, &o->p->wt[0], row, err) : 0;
	if (!json_is_object(parts))
		return rc;
	json_object_foreach(parts, pname, plist)
	{
		const dj_table *pt = part_of(o->p, pname);
		size_t i;
		json_t *prow;
		if (!pt || !json_is_array(plist))
			continue;
		json_array_foreach(plist, i, prow)
		{
			if (rc < 0)
				return rc;
			if (json_is_object(prow))
				rc = fn(o, pt, prow, err);
		}
	}
	return rc;
}

/* An {"npy_off", "npy_len"} (or file_) value still referenced: its bytes copied into `keep`. */
static int repack_value(json_t *v, const unsigned char *data, size_t dlen, dj_buf *keep,
                        dj_err *err)
{
	bool file = json_object_get(v, "file_off") != NULL;
	const char *ko = file ? "file_off" : "npy_off";
	json_t *jo = json_object_get(v, ko), *jl = json_object_get(v, file ? "file_len" : "npy_len");
	if (!json_is_integer(jo) || !json_is_integer(jl))
		return 0;
	json_int_t off = json_integer_value(jo), len = json_integer_value(jl);
	if (off < 0 || len < 0 || (size_t)off > dlen || (size_t)len > dlen - (size_t)off)
		return 0; /* rank 0 reports the bad reference */
	json_int_t at = (json_int_t)keep->len;
	if (dj_buf_add(keep, data + off, (size_t)len) < 0 ||
	    json_object_set_new(v, ko, json_integer(at)) < 0)
		return nomem(err);
	return 0;
}

static int repack_doc(json_t *doc, const unsigned char *data, size_t dlen, dj_buf *keep,
                      dj_err *err)
{
	json_t *row = json_object_get(doc, "row"), *parts = json_object_get(doc, "parts");
	const char *name, *pname;
	json_t *v, *plist;
	int rc = 0;
	json_object_foreach(row, name, v)
	{
		if (rc == 0 && json_is_object(v))
			rc = repack_value(v, data, dlen, keep, err);
	}
	json_object_foreach(parts, pname, plist)
	{
		size_t i;
		json_t *prow;
		json_array_foreach(plist, i, prow)
		{
			json_object_foreach(prow, name, v)
			{
				if (rc == 0 && json_is_object(v))
					rc = repack_value(v, data, dlen, keep, err);
			}
		}
	}
	return rc;
}

int dj_populate_store_outputs(dj_populate *p, const char *kjson, size_t klen, dj_buf *result,
                              dj_err *err)
{
	const char *json;
	size_t jlen;
	const unsigned char *data;
	size_t dlen;
	json_error_t je;
	json_t *doc = NULL, *kobj = NULL;
	dj_buf keep = DJ_BUF_INIT, out = DJ_BUF_INIT;
	char *text = NULL;
	int rc = prepare(p, err);
	if (rc == 0 &&
	    (rc = dj_make_result_split(result->ptr, result->len, &json, &jlen, &data, &dlen, err)) ==
	        0 &&
	    (!(doc = json_loadb(json, jlen, 0, &je)) || !(kobj = json_loadb(kjson, klen, 0, &je))))
		rc = dj_err_set(err, DJ_EFORMAT, "OutputError: %s: unreadable make result: %s",
		                p->wt[0].name, je.text);
	if (rc == 0) {
		outputs o = {p, kobj, kjson, data, dlen};
		json_object_del(doc, "worker_stored"); /* only this code says so */
		rc = each_row(&o, doc, store_row, err);
	}
	if (rc == 0)
		rc = repack_doc(doc, data, dlen, &keep, err);
	if (rc == 0 && json_object_set_new(doc, "worker_stored", json_true()) < 0)
		rc = nomem(err);
	if (rc == 0 && !(text = json_dumps(doc, JSON_COMPACT)))
		rc = nomem(err);
	if (rc == 0 && (dj_buf_adds(&out, text) < 0 || dj_buf_addc(&out, 0) < 0 ||
	                dj_buf_add(&out, keep.ptr, keep.len) < 0))
		rc = nomem(err);
	if (rc == 0) {
		dj_buf_dispose(result);
		*result = out;
		out = (dj_buf)DJ_BUF_INIT;
	}
	free(text);
	json_decref(doc);
	json_decref(kobj);
	dj_buf_dispose(&keep);
	dj_buf_dispose(&out);
	return rc;
}
