/*
 * djrun_make.h: the C ABI of `djrun populate --make-plugin lib.so` (installed with djrun).
 *
 * A plugin is a shared library built against this header alone (no djrun library to link):
 *
 *   #include <djrun_make.h>
 *   DJRUN_MAKE_DEFINE_ABI()                                  // djrun_make_abi()
 *   DJRUN_MAKE_EXPORT int djrun_make(const djrun_key *key, djrun_out *out)
 *   {
 *       const djrun_attr *id = djrun_key_attr(key, "item_id");
 *       if (!id || id->type != DJRUN_INT64)
 *           return djrun_error(out, "KeyError: item_id", NULL);
 *       return djrun_set_int64(out, "sq", id->i * id->i);
 *   }
 *   cc -shared -fPIC -O2 -I<prefix>/include square.c -o libsquare.so
 *
 * Symbols djrun looks up (dlopen once per rank, RTLD_NOW | RTLD_LOCAL):
 *   int  djrun_make_abi(void)            required: the DJRUN_MAKE_ABI it was built with;
 *                                        djrun refuses a library built for another version
 *   int  djrun_make_init(void **state, int argc, char **argv, char *errbuf, size_t errlen)
 *                                        optional, once per rank before the first key: argv is
 *                                        `--make-plugin 'lib.so ARGS...'` split on spaces
 *                                        (argv[0] the library). Non-zero refuses to start, with
 *                                        the message written to errbuf. *state is handed to
 *                                        every djrun_make call as key->state, so a plugin needs
 *                                        no globals
 *   void djrun_make_fini(void *state)    optional, once at the end
 *   int  djrun_make(const djrun_key *key, djrun_out *out)
 *                                        required, once per key: 0 = success (the row and part
 *                                        rows set through `out`), non-zero = the key failed
 *                                        (give the reason with djrun_error)
 *
 * Rules:
 * - djrun_make runs on every rank, in djrun's own process, one key at a time per rank (on rank 0
 *   in a thread beside the coordinator, so keep no state outside `key->state`); it must not
 *   touch the database (rank 0 inserts what it returns). A plugin that crashes or
 *   calls exit() kills its rank: the coordinator's lost-worker handling then releases or
 *   re-dispatches that rank's keys. Use --make-server for code you do not trust.
 * - `key`, everything it points to, and `out` are valid during the call only; `out` copies
 *   what it is given (keep no pointer to either after djrun_make returns).
 * - Values go to the master row until djrun_add_part(out, "Part") starts a row of a part table;
 *   later values go to that row until the next djrun_add_part or djrun_end_part.
 * - A setter returns 0, or -1 for a bad value (unknown dtype, data size not matching the
 *   shape, invalid .npy bytes, text not UTF-8, NaN): the key then fails with
 *   "OutputError: <why>" whatever djrun_make returns.
 * - Error messages read "<Kind>: <message>" (as Python exception names); a message without a
 *   kind is taken as "MakeError: <message>". `stack` (or NULL) becomes the job's error_stack.
 */
#ifndef DJRUN_MAKE_H
#define DJRUN_MAKE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DJRUN_MAKE_ABI 1

#if defined(__GNUC__)
#define DJRUN_MAKE_EXPORT __attribute__((visibility("default")))
#else
#define DJRUN_MAKE_EXPORT
#endif

/* The value types of key attributes. */
typedef enum djrun_type {
	DJRUN_NULL = 0,
	DJRUN_INT64 = 1,  /* integer columns */
	DJRUN_DOUBLE = 2, /* float and double columns */
	DJRUN_STRING = 3, /* everything else, as in the command form's key.json: uuids in their
	                   * canonical text, dates, times and decimals as Python's str() */
} djrun_type;

/* One attribute of the key. */
typedef struct djrun_attr {
	const char *name;
	djrun_type type;
	int64_t i;     /* DJRUN_INT64 */
	double d;      /* DJRUN_DOUBLE */
	const char *s; /* DJRUN_STRING: NUL-terminated, `len` bytes */
	size_t len;
} djrun_attr;

/* One fetched input (--fetch): what the command form finds as inputs/<name>. */
typedef struct djrun_input {
	const char *name; /* "Recording.trace.npy" */
	const void *data;
	size_t len;
} djrun_input;

typedef struct djrun_key {
	size_t nattrs;
	const djrun_attr *attrs;
	size_t ninputs;
	const djrun_input *inputs;
	const char *json; /* the key as one JSON object */
	void *state;      /* what djrun_make_init stored (NULL without it) */
} djrun_key;

/* Where a make puts its results: call through the djrun_set_* helpers below. */
typedef struct djrun_out djrun_out;
struct djrun_out {
	int abi; /* DJRUN_MAKE_ABI of the djrun that made it */
	int (*set_int64)(djrun_out *o, const char *name, int64_t v);
	int (*set_double)(djrun_out *o, const char *name, double v);
	int (*set_string)(djrun_out *o, const char *name, const char *s, size_t len);
	int (*set_bool)(djrun_out *o, const char *name, int v);
	int (*set_null)(djrun_out *o, const char *name);
	/* An n-d array, stored as the .npy np.save writes (C order). dtype: numpy's dtype.str
	 * ("<f8", "<i4", "|u1", "|b1") or name ("float64", "int32", "uint8", "bool"); `nbytes`
	 * must be the product of the shape times the item size. */
	int (*set_array)(djrun_out *o, const char *name, const char *dtype, int ndim,
	                 const int64_t *shape, const void *data, size_t nbytes);
	/* A whole .npy file's bytes (checked). */
	int (*set_npy)(djrun_out *o, const char *name, const void *npy, size_t len);
	int (*add_part)(djrun_out *o, const char *part);
	int (*end_part)(djrun_out *o);
	/* The key failed: message "<Kind>: <message>", stack NULL or the error_stack text. The
	 * first call wins. Returns -1, so `return djrun_error(out, ...)` fails the key. */
	int (*error)(djrun_out *o, const char *message, const char *stack);
};

/* The required version symbol, defined for the plugin. */
#define DJRUN_MAKE_DEFINE_ABI()                                                                    \
	DJRUN_MAKE_EXPORT int djrun_make_abi(void)                                                 \
	{                                                                                          \
		return DJRUN_MAKE_ABI;                                                             \
	}

static inline const djrun_attr *djrun_key_attr(const djrun_key *k, const char *name)
{
	for (size_t i = 0; i < k->nattrs; i++)
		if (!strcmp(k->attrs[i].name, name))
			return &k->attrs[i];
	return NULL;
}

static inline const djrun_input *djrun_key_input(const djrun_key *k, const char *name)
{
	for (size_t i = 0; i < k->ninputs; i++)
		if (!strcmp(k->inputs[i].name, name))
			return &k->inputs[i];
	return NULL;
}

static inline int djrun_set_int64(djrun_out *o, const char *name, int64_t v)
{
	return o->set_int64(o, name, v);
}
static inline int djrun_set_double(djrun_out *o, const char *name, double v)
{
	return o->set_double(o, name, v);
}
static inline int djrun_set_string(djrun_out *o, const char *name, const char *s)
{
	return o->set_string(o, name, s, strlen(s));
}
static inline int djrun_set_bool(djrun_out *o, const char *name, int v)
{
	return o->set_bool(o, name, v);
}
static inline int djrun_set_null(djrun_out *o, const char *name)
{
	return o->set_null(o, name);
}
static inline int djrun_set_array(djrun_out *o, const char *name, const char *dtype, int ndim,
                                  const int64_t *shape, const void *data, size_t nbytes)
{
	return o->set_array(o, name, dtype, ndim, shape, data, nbytes);
}
static inline int djrun_set_npy(djrun_out *o, const char *name, const void *npy, size_t len)
{
	return o->set_npy(o, name, npy, len);
}
static inline int djrun_add_part(djrun_out *o, const char *part)
{
	return o->add_part(o, part);
}
static inline int djrun_end_part(djrun_out *o)
{
	return o->end_part(o);
}
static inline int djrun_error(djrun_out *o, const char *message, const char *stack)
{
	return o->error(o, message, stack);
}

/* What the plugin exports (declared here so a mismatched definition fails to compile). */
DJRUN_MAKE_EXPORT int djrun_make_abi(void);
DJRUN_MAKE_EXPORT int djrun_make_init(void **state, int argc, char **argv, char *errbuf,
                                      size_t errlen);
DJRUN_MAKE_EXPORT void djrun_make_fini(void *state);
DJRUN_MAKE_EXPORT int djrun_make(const djrun_key *key, djrun_out *out);

#ifdef __cplusplus
}
#endif

#endif
