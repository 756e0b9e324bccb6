#include "mpi/wire.h"

#include <string.h>

#include "mpi/run.h"

/* ---- writing: explicit little-endian so the frame does not depend on the host ---- */

static int put_le(dj_buf *m, uint64_t v, int nbytes)
{
	uint8_t b[8];
	for (int i = 0; i < nbytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return dj_buf_add(m, b, (size_t)nbytes);
}

static int put_f64(dj_buf *m, double d)
{
	uint64_t v;
	memcpy(&v, &d, sizeof(v));
	return put_le(m, v, 8);
}

static int begin(dj_buf *m)
{
	dj_buf_reset(m);
	return put_le(m, DJ_WIRE_VERSION, 1);
}

int dj_wire_items_begin(dj_buf *m)
{
	return begin(m);
}

int dj_wire_item_add(dj_buf *m, uint64_t id, dj_bytes item)
{
	if (item.len > DJ_RUN_ITEM_MAX)
		return DJ_ENOMEM;
	size_t mark = m->len;
	if (put_le(m, id, 8) < 0 || put_le(m, item.len, 4) < 0 ||
	    dj_buf_add(m, item.ptr, item.len) < 0) {
		dj_buf_setlen(m, mark);
		return DJ_ENOMEM;
	}
	return 0;
}

int dj_wire_results_begin(dj_buf *m, uint32_t want, uint8_t flags)
{
	if (begin(m) < 0 || put_le(m, want, 4) < 0 || put_le(m, flags, 1) < 0)
		return DJ_ENOMEM;
	return 0;
}

int dj_wire_result_add(dj_buf *m, const dj_wire_result *res)
{
	size_t msglen = res->msg.len > 0xffff ? 0xffff : res->msg.len;
	if (res->data.len > DJ_RUN_ITEM_MAX)
		return DJ_ENOMEM;
	size_t mark = m->len;
	if (put_le(m, res->id, 8) < 0 || put_le(m, (uint32_t)res->code, 4) < 0 ||
	    put_f64(m, res->work_s) < 0 || put_le(m, msglen, 2) < 0 ||
	    dj_buf_add(m, res->msg.ptr, msglen) < 0 || put_le(m, res->data.len, 4) < 0 ||
	    dj_buf_add(m, res->data.ptr, res->data.len) < 0) {
		dj_buf_setlen(m, mark);
		return DJ_ENOMEM;
	}
	return 0;
}

int dj_wire_stop_encode(dj_buf *m, int mode)
{
	return begin(m) < 0 || put_le(m, (uint64_t)mode, 1) < 0 ? DJ_ENOMEM : 0;
}

int dj_wire_bye_encode(dj_buf *m, int32_t code, const char *msg)
{
	if (begin(m) < 0 || put_le(m, (uint32_t)code, 4) < 0 || dj_buf_adds(m, msg ? msg : "") < 0)
		return DJ_ENOMEM;
	return 0;
}

/* ---- reading ---- */

void dj_wire_reader_init(dj_wire_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

static int get_le(dj_wire_reader *r, int nbytes, uint64_t *v, dj_err *err)
{
	*v = 0;
	if (r->len - r->off < (size_t)nbytes)
		return dj_err_set(err, DJ_EFORMAT, "wire frame cut short at byte %zu of %zu",
		                  r->off, r->len);
	uint64_t x = 0;
	for (int i = 0; i < nbytes; i++)
		x |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
	r->off += (size_t)nbytes;
	*v = x;
	return 0;
}

static int get_bytes(dj_wire_reader *r, size_t n, dj_bytes *out, dj_err *err)
{
	out->ptr = NULL;
	out->len = 0;
	if (r->len - r->off < n)
		return dj_err_set(err, DJ_EFORMAT,
		                  "wire frame declares %zu bytes at byte %zu but has %zu left", n,
		                  r->off, r->len - r->off);
	out->ptr = r->p + r->off;
	out->len = n;
	r->off += n;
	return 0;
}

static int open_frame(dj_wire_reader *r, dj_err *err)
{
	uint64_t v;
	if (get_le(r, 1, &v, err) < 0)
		return DJ_EFORMAT;
	if (v != DJ_WIRE_VERSION)
		return dj_err_set(err, DJ_EFORMAT, "wire frame version %u, expected %u",
		                  (unsigned)v, DJ_WIRE_VERSION);
	return 0;
}

int dj_wire_items_open(dj_wire_reader *r, dj_err *err)
{
	return open_frame(r, err);
}

int dj_wire_item_next(dj_wire_reader *r, uint64_t *id, dj_bytes *item, dj_err *err)
{
	uint64_t len;
	if (r->off == r->len)
		return 0;
	if (get_le(r, 8, id, err) < 0 || get_le(r, 4, &len, err) < 0 ||
	    get_bytes(r, (size_t)len, item, err) < 0)
		return DJ_EFORMAT;
	return 1;
}

int dj_wire_results_open(dj_wire_reader *r, uint32_t *want, uint8_t *flags, dj_err *err)
{
	uint64_t w, f;
	if (open_frame(r, err) < 0 || get_le(r, 4, &w, err) < 0 || get_le(r, 1, &f, err) < 0)
		return DJ_EFORMAT;
	*want = (uint32_t)w;
	*flags = (uint8_t)f;
	return 0;
}

int dj_wire_result_next(dj_wire_reader *r, dj_wire_result *out, dj_err *err)
{
	uint64_t code, secs, msglen, len;
	if (r->off == r->len)
		return 0;
	if (get_le(r, 8, &out->id, err) < 0 || get_le(r, 4, &code, err) < 0 ||
	    get_le(r, 8, &secs, err) < 0 || get_le(r, 2, &msglen, err) < 0 ||
	    get_bytes(r, (size_t)msglen, &out->msg, err) < 0 || get_le(r, 4, &len, err) < 0 ||
	    get_bytes(r, (size_t)len, &out->data, err) < 0)
		return DJ_EFORMAT;
	out->code = (int32_t)(uint32_t)code;
	memcpy(&out->work_s, &secs, sizeof(secs));
	return 1;
}

int dj_wire_stop_decode(dj_wire_reader *r, int *mode, dj_err *err)
{
	uint64_t v;
	if (open_frame(r, err) < 0 || get_le(r, 1, &v, err) < 0)
		return DJ_EFORMAT;
	if (v != DJ_WIRE_STOP_FINISH && v != DJ_WIRE_STOP_DROP)
		return dj_err_set(err, DJ_EFORMAT, "unknown stop mode %u", (unsigned)v);
	*mode = (int)v;
	return 0;
}

int dj_wire_bye_decode(dj_wire_reader *r, int32_t *code, dj_bytes *msg, dj_err *err)
{
	uint64_t v;
	if (open_frame(r, err) < 0 || get_le(r, 4, &v, err) < 0 ||
	    get_bytes(r, r->len - r->off, msg, err) < 0)
		return DJ_EFORMAT;
	*code = (int32_t)(uint32_t)v;
	return 0;
}
