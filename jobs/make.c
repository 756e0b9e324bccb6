/* dj_maker: every make form behind one interface (jobs/make.h); the forms are make_*.c. */
#include "jobs/make.h"

#include "jobs/make_internal.h"

int dj_maker_open(dj_maker **out, const dj_make_opts *o, dj_err *err)
{
	*out = NULL;
	switch (o->kind) {
	case DJ_MAKE_COMMAND:
		return dj_make__command_open(out, o, err);
	case DJ_MAKE_SERVER:
		return dj_make__server_open(out, o, err);
	case DJ_MAKE_PLUGIN:
		return dj_make__plugin_open(out, o, err);
	}
	return dj_err_set(err, DJ_EUSAGE, "unknown make form %d", (int)o->kind);
}

int dj_maker_run(dj_maker *m, const char *key_json, const dj_make_input *in, size_t nin,
                 dj_buf *result, dj_buf *tail, dj_err *err)
{
	return m->ops->run(m, key_json, in, nin, result, tail, err);
}

void dj_maker_close(dj_maker *m)
{
	if (m)
		m->ops->close(m);
}
