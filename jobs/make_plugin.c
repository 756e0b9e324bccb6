/* The make plugin form: a shared library with the include/djrun_make.h ABI (jobs/make.h). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <djrun_make.h>

#include "codecs/npy.h"
#include "jobs/make_internal.h"

typedef int (*abi_fn)(void);
typedef int (*init_fn)(void **state, int argc, char **argv, char *errbuf, size_t errlen);
typedef void (*fini_fn)(void *state);
typedef int (*make_fn)(const djrun_key *key, djrun_out *out);

typedef struct plugin {
	dj_maker base;
	void *lib;
	make_fn make;
	fini_fn fini;
	void *state;
} plugin;

/* One key's output: the djrun_out the plugin sees, first, then what it builds. */
typedef struct out_impl {
	djrun_out pub;
	json_t *row, *parts, *cur; /* cur: row, or the part row being filled */
	dj_buf data;               /* npy bytes, as the result format's tail */
	dj_err bad;                /* the first setter error */
	char *msg, *stack;         /* djrun_error */
} out_impl;

static int bad(out_impl *o, const char *name, const char *why)
{
	dj_err_set(&o->bad, DJ_EFORMAT, "OutputError: '%s': %s", name ? name : "(null)", why);
	return -1;
}

/* Set `name` of the current row to `v` (taken). */
static int put(djrun_out *po, const char *name, json_t *v, const char *why)
{
	out_impl *o = (out_impl *)po;
	if (!name || !*name) {
		json_decref(v);
		return bad(o, name, "an attribute needs a name");
	}
	if (!v)
		return bad(o, name, why);
	if (json_object_set_new(o->cur, name, v) < 0)
		return bad(o, name, "out of memory");
	return 0;
}

static int set_int64(djrun_out *o, const char *name, int64_t v)
{
	return put(o, name, json_integer((json_int_t)v), "out of memory");
}

static int set_double(djrun_out *o, const char *name, double v)
{
	return put(o, name, isfinite(v) ? json_real(v) : NULL,
	           "NaN and infinity cannot be stored as a number");
}

static int set_string(djrun_out *o, const char *name, const char *s, size_t len)
{
	return put(o, name, s ? json_stringn(s, len) : NULL, "text is not UTF-8");
}

static int set_bool(djrun_out *o, const char *name, int v)
{
	return put(o, name, json_boolean(v), "out of memory");
}

static int set_null(djrun_out *o, const char *name)
{
	return put(o, name, json_null(), "out of memory");
}

/* npy bytes at the end of o->data, [off, end) -> the {"npy_off", "npy_len"} value. */
static int put_npy_ref(out_impl *o, const char *name, size_t off)
{
	return put(&o->pub, name,
	           json_pack("{s:I, s:I}", "npy_off", (json_int_t)off, "npy_len",
	                     (json_int_t)(o->data.len - off)),
	           "out of memory");
}

static int set_npy(djrun_out *po, const char *name, const void *npy, size_t len)
{
	out_impl *o = (out_impl *)po;
	dj_npy a = DJ_NPY_INIT;
	dj_err e = DJ_ERR_INIT;
	int rc = npy ? dj_npy_parse(&a, npy, len, &e) : dj_err_set(&e, DJ_EFORMAT, "no bytes");
	dj_npy_dispose(&a);
	if (rc < 0)
		return bad(o, name, e.msg);
	size_t off = o->data.len;
	if (dj_buf_add(&o->data, npy, len) < 0)
		return bad(o, name, "out of memory");
	return put_npy_ref(o, name, off);
}

static int set_array(djrun_out *po, const char *name, const char *dtype, int ndim,
                     const int64_t *shape, const void *data, size_t nbytes)
{
	out_impl *o = (out_impl *)po;
	dj_npy a = DJ_NPY_INIT, chk = DJ_NPY_INIT;
	dj_err e = DJ_ERR_INIT;
	dj_buf hdr = DJ_BUF_INIT;
	uint64_t dims[DJ_NPY_MAX_NDIM];
	char why[600];
	int rc = 0;
	if (!dtype || ndim < 0 || ndim > DJ_NPY_MAX_NDIM || (ndim && !shape) || (nbytes && !data))
		return bad(o, name, "set_array needs a dtype, 0-64 dimensions, a shape and data");
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return bad(o, name, "negative array dimension");
		dims[i] = (uint64_t)shape[i];
	}
	if ((rc = dj_npy_descr_from_dtype(dtype, &a.descr, &a.structured, &e)) == 0) {
		a.ndim = (size_t)ndim;
		a.shape = ndim ? dims : NULL;
		rc = dj_npy_write_header(&hdr, &a, &e);
		a.shape = NULL; /* borrowed */
	}
	if (rc == 0)
		rc = dj_npy_parse_header(&chk, hdr.ptr, hdr.len, &e);
	if (rc == 0 && chk.count * chk.itemsize != nbytes) {
		snprintf(why, sizeof(why), "%zu data bytes for an array of %zu x %zu bytes", nbytes,
		         chk.count, chk.itemsize);
		dj_err_set(&e, DJ_EFORMAT, "%s", why);
		rc = -1;
	}
	size_t off = o->data.len;
	if (rc == 0 &&
	    (dj_buf_add(&o->data, hdr.ptr, hdr.len) < 0 || dj_buf_add(&o->data, data, nbytes) < 0))
		rc = dj_err_set(&e, DJ_ENOMEM, "out of memory");
	dj_npy_dispose(&a);
	dj_npy_dispose(&chk);
	dj_buf_dispose(&hdr);
	if (rc < 0) {
		dj_buf_setlen(&o->data, off);
		return bad(o, name, e.msg);
	}
	return put_npy_ref(o, name, off);
}

static int add_part(djrun_out *po, const char *part)
{
	out_impl *o = (out_impl *)po;
	if (!part || !dj_make__is_ident(part, strlen(part)))
		return bad(o, part, "not a part table name");
	json_t *rows = json_object_get(o->parts, part), *r = json_object();
	if (!rows && (!(rows = json_array()) || json_object_set_new(o->parts, part, rows) < 0))
		rows = NULL;
	if (!rows || !r || json_array_append_new(rows, r) < 0)
		return bad(o, part, "out of memory");
	o->cur = r;
	return 0;
}

static int end_part(djrun_out *po)
{
	out_impl *o = (out_impl *)po;
	o->cur = o->row;
	return 0;
}

static int set_error(djrun_out *po, const char *message, const char *stack)
{
	out_impl *o = (out_impl *)po;
	if (!o->msg) {
		o->msg = strdup(message ? message : "");
		o->stack = stack ? strdup(stack) : NULL;
	}
	return -1;
}

/* key_json -> the attributes (borrowing the strings of `key`, which must outlive them). */
static int key_attrs(json_t *key, djrun_attr **out, size_t *n, dj_err *err)
{
	const char *name;
	json_t *v;
	djrun_attr *a = calloc(json_object_size(key) + 1, sizeof(*a));
	*out = a, *n = 0;
	if (!a)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	json_object_foreach(key, name, v)
	{
		djrun_attr *x = &a[(*n)++];
		x->name = name;
		if (json_is_integer(v)) {
			x->type = DJRUN_INT64;
			x->i = (int64_t)json_integer_value(v);
		} else if (json_is_real(v)) {
			x->type = DJRUN_DOUBLE;
			x->d = json_real_value(v);
		} else if (json_is_boolean(v)) {
			x->type = DJRUN_INT64;
			x->i = json_is_true(v);
		} else if (json_is_string(v)) {
			x->type = DJRUN_STRING;
			x->s = json_string_value(v);
			x->len = json_string_length(v);
		} else if (!json_is_null(v)) {
			return dj_err_set(err, DJ_EUSAGE,
			                  "MakeError: key attribute '%s' is not a "
			                  "number, string or null",
			                  name);
		}
	}
	return 0;
}

static int plugin_run(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
                      dj_buf *result, dj_buf *tail, dj_err *err)
{
	plugin *p = (plugin *)m;
	json_error_t je;
	json_t *key = json_loads(key_json, 0, &je);
	djrun_attr *attrs = NULL;
	djrun_input *inputs = NULL;
	out_impl o = {
	    .pub = {DJRUN_MAKE_ABI, set_int64, set_double, set_string, set_bool, set_null,
	            set_array, set_npy, add_part, end_part, set_error},
	    .row = json_object(),
	    .parts = json_object(),
	    .data = DJ_BUF_INIT,
	    .bad = DJ_ERR_INIT,
	};
	djrun_key k = {0};
	int rc = 0;
	o.cur = o.row;
	if (!key || !json_is_object(key))
		rc = dj_err_set(err, DJ_EUSAGE, "MakeError: the key is not a JSON object");
	else if (!o.row || !o.parts || !(inputs = calloc(nin + 1, sizeof(*inputs))))
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	else
		rc = key_attrs(key, &attrs, &k.nattrs, err);
	if (rc < 0)
		goto done;
	for (size_t i = 0; i < nin; i++)
		inputs[i] = (djrun_input){in[i].name, in[i].data, in[i].len};
	k.attrs = attrs;
	k.inputs = inputs;
	k.ninputs = nin;
	k.json = key_json;
	k.state = p->state;
	int mrc = p->make(&k, &o.pub);
	if (o.bad.code) {
		rc = dj_err_set(err, o.bad.code, "%s", o.bad.msg);
	} else if (mrc != 0 || o.msg) {
		char fallback[64];
		snprintf(fallback, sizeof(fallback), "djrun_make returned %d", mrc);
		rc = dj_make__error_msg(err, o.msg && *o.msg ? o.msg : fallback);
		if (o.stack)
			dj_make__tail_add(tail, o.stack, strlen(o.stack));
	} else {
		rc = dj_make__result(result, o.row, json_object_size(o.parts) ? o.parts : NULL,
		                     &o.data, err);
	}
done:
	json_decref(key);
	json_decref(o.row);
	json_decref(o.parts);
	dj_buf_dispose(&o.data);
	free(o.msg);
	free(o.stack);
	free(attrs);
	free(inputs);
	return rc;
}

static void plugin_close(dj_maker *m)
{
	plugin *p = (plugin *)m;
	if (p->fini)
		p->fini(p->state);
	if (p->lib)
		dlclose(p->lib);
	dj_make__base_dispose(&p->base);
	free(p);
}

static const dj_make_ops plugin_ops = {plugin_run, plugin_close};

/* dlsym as a function pointer (POSIX guarantees the conversion). */
static void *sym(void *lib, const char *name)
{
	dlerror();
	return dlsym(lib, name);
}

static int plugin_load(plugin *p, const char *path, dj_err *err)
{
	char local[DJ_MAKE_PATH_MAX];
	/* dlopen searches the library path for a bare name; a file here is what was meant */
	if (!strchr(path, '/') && access(path, F_OK) == 0) {
		snprintf(local, sizeof(local), "./%s", path);
		path = local;
	}
	if (!(p->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
		return dj_err_set(err, DJ_ENOTFOUND, "MakeError: cannot load plugin: %s",
		                  dlerror());
	abi_fn abi;
	*(void **)&abi = sym(p->lib, "djrun_make_abi");
	*(void **)&p->make = sym(p->lib, "djrun_make");
	if (!abi)
		return dj_err_set(err, DJ_ENOTSUP,
		                  "MakeError: plugin '%s' has no djrun_make_abi (build it with "
		                  "djrun_make.h and DJRUN_MAKE_DEFINE_ABI())",
		                  path);
	int v = abi();
	if (v != DJRUN_MAKE_ABI)
		return dj_err_set(
		    err, DJ_ENOTSUP,
		    "MakeError: plugin '%s' was built for djrun make ABI %d, this djrun "
		    "has ABI %d: rebuild it with this djrun's djrun_make.h",
		    path, v, DJRUN_MAKE_ABI);
	if (!p->make)
		return dj_err_set(err, DJ_ENOTSUP, "MakeError: plugin '%s' has no djrun_make",
		                  path);
	init_fn init;
	*(void **)&init = sym(p->lib, "djrun_make_init");
	*(void **)&p->fini = sym(p->lib, "djrun_make_fini");
	if (init) {
		char msg[400] = "";
		char *none[] = {(char *)path, NULL};
		char **argv = p->base.o.argv ? (char **)p->base.o.argv : none;
		int argc = 0;
		while (argv[argc])
			argc++;
		if (init(&p->state, argc, argv, msg, sizeof(msg)) != 0) {
			p->fini = NULL; /* init failed: nothing to finish */
			msg[sizeof(msg) - 1] = 0;
			return dj_err_set(err, DJ_EUSAGE,
			                  "MakeError: plugin '%s' refused to start%s%s", path,
			                  *msg ? ": " : "", msg);
		}
	}
	return 0;
}

int dj_make__plugin_open(dj_maker **out, const dj_make_opts *o, dj_err *err)
{
	if (!o->plugin || !*o->plugin)
		return dj_err_set(err, DJ_EUSAGE, "no make plugin library given");
	plugin *p = calloc(1, sizeof(*p));
	if (!p)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	dj_make__base_init(&p->base, &plugin_ops, o);
	p->base.o = *o;
	int rc = plugin_load(p, o->plugin, err);
	if (rc < 0) {
		p->fini = NULL;
		plugin_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return 0;
}
