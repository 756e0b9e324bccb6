/*
 * A sample --make-plugin for the tests and bench_make (built against djrun_make.h alone).
 * Key {"item_id": i} -> sq = i*i, root = i/2, arr = float64 [i, i+1, i+2], and with "parts"
 * part rows Detail {k, val = i*k} for k = 0..2 (val as a 0-d int32 array for k = 2).
 * Arguments (--make-plugin 'square.so ARGS'): fail=N fails items i % N == 0 with a ValueError
 * and a stack; parts adds the part rows; min sets sq only (the bench's trivial make);
 * bad_dtype gives set_array an unknown dtype; refuse makes djrun_make_init fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <djrun_make.h>

DJRUN_MAKE_DEFINE_ABI()

typedef struct conf {
	long fail;
	int parts, min, bad_dtype;
	long calls;
} conf;

DJRUN_MAKE_EXPORT int djrun_make_init(void **state, int argc, char **argv, char *errbuf,
                                      size_t errlen)
{
	conf *c = calloc(1, sizeof(*c));
	if (!c)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "fail=", 5))
			c->fail = strtol(argv[i] + 5, NULL, 10);
		else if (!strcmp(argv[i], "parts"))
			c->parts = 1;
		else if (!strcmp(argv[i], "min"))
			c->min = 1;
		else if (!strcmp(argv[i], "bad_dtype"))
			c->bad_dtype = 1;
		else {
			snprintf(errbuf, errlen, "unknown argument '%s'", argv[i]);
			free(c);
			return 1;
		}
	}
	*state = c;
	return 0;
}

DJRUN_MAKE_EXPORT void djrun_make_fini(void *state)
{
	free(state);
}

DJRUN_MAKE_EXPORT int djrun_make(const djrun_key *key, djrun_out *out)
{
	conf *c = key->state;
	const djrun_attr *id = djrun_key_attr(key, "item_id");
	if (!id || id->type != DJRUN_INT64)
		return djrun_error(out, "KeyError: item_id", NULL);
	int64_t i = id->i;
	c->calls++;
	if (c->fail && i % c->fail == 0) {
		char msg[100], stack[200];
		snprintf(msg, sizeof(msg), "ValueError: boom for item %lld", (long long)i);
		snprintf(stack, sizeof(stack), "square.c: djrun_make\nitem %lld of call %ld\n",
		         (long long)i, c->calls);
		return djrun_error(out, msg, stack);
	}
	const djrun_input *x = djrun_key_input(key, "Item.x.json"); /* with --fetch Item.x */
	if (x) {
		char text[64];
		snprintf(text, sizeof(text), "%.*s", (int)(x->len < 63 ? x->len : 63),
		         (const char *)x->data);
		if (strtod(text, NULL) != (double)i + 0.5)
			return djrun_error(out, "InputError: Item.x is not item_id + 0.5", text);
	}
	if (djrun_set_int64(out, "sq", i * i) < 0 || c->min)
		return 0;
	double arr[3] = {(double)i, i + 1.0, i + 2.0};
	int64_t shape[1] = {3};
	djrun_set_double(out, "root", (double)i * 0.5);
	djrun_set_array(out, "arr", c->bad_dtype ? "float65" : "<f8", 1, shape, arr, sizeof(arr));
	for (int k = 0; c->parts && k < 3; k++) {
		djrun_add_part(out, "Detail");
		djrun_set_int64(out, "k", k);
		djrun_set_int64(out, "val", i * k);
		if (k == 2) {
			int32_t v = (int32_t)(i * k);
			djrun_set_array(out, "vec", "int32", 0, NULL, &v, sizeof(v));
		}
	}
	return djrun_end_part(out);
}
