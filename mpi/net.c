#include "mpi/net.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/engine.h"
#include "mpi/wire.h"

int dj_wire_mpi_err(int mpirc, dj_err *err, const char *what, int peer)
{
	char text[MPI_MAX_ERROR_STRING];
	int n = 0;
	if (mpirc == MPI_SUCCESS)
		return 0;
	if (MPI_Error_string(mpirc, text, &n) != MPI_SUCCESS)
		snprintf(text, sizeof(text), "MPI error %d", mpirc);
	if (peer >= 0)
		return dj_err_set(err, DJ_ERROR, "%s (rank %d): %s", what, peer, text);
	return dj_err_set(err, DJ_ERROR, "%s: %s", what, text);
}

int dj_wire_poll(const dj_wire_link *l, int src, int *got, int *tag, int *from, dj_buf *m,
                 dj_err *err)
{
	MPI_Message msg;
	MPI_Status st;
	int flag = 0, count = 0;
	*got = 0;
	int rc = MPI_Improbe(src, MPI_ANY_TAG, l->comm, &flag, &msg, &st);
	if (rc != MPI_SUCCESS)
		return dj_wire_mpi_err(rc, err, "MPI_Improbe", src);
	if (!flag)
		return 0;
	MPI_Get_count(&st, MPI_BYTE, &count);
	dj_buf_reset(m);
	if (count < 0 || (size_t)count > DJ_RUN_ITEM_MAX + 65536 ||
	    dj_buf_grow(m, (size_t)count) < 0) {
		char sink;
		MPI_Mrecv(&sink, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE); /* consume it anyway */
		return dj_err_set(err, DJ_ENOMEM, "frame of %d bytes from rank %d is over the cap",
		                  count, st.MPI_SOURCE);
	}
	rc = MPI_Mrecv(m->ptr, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
	if (rc != MPI_SUCCESS)
		return dj_wire_mpi_err(rc, err, "MPI_Mrecv", st.MPI_SOURCE);
	dj_buf_setlen(m, (size_t)count);
	*got = 1;
	*tag = st.MPI_TAG;
	*from = st.MPI_SOURCE;
	return 0;
}

int dj_wire_send(const dj_wire_link *l, int dest, int tag, const dj_buf *m, dj_err *err)
{
	if (m->len > INT_MAX)
		return dj_err_set(err, DJ_ENOMEM, "frame of %zu bytes is too large", m->len);
	int rc = MPI_Send(m->ptr, (int)m->len, MPI_BYTE, dest, tag, l->comm);
	return dj_wire_mpi_err(rc, err, "MPI_Send", dest);
}

int dj_wire_beat(const dj_wire_link *l, int dest, dj_err *err)
{
	static char nothing; /* an empty frame reads no bytes, but MPI wants an address */
	MPI_Request req;
	int rc = MPI_Isend(&nothing, 0, MPI_BYTE, dest, DJ_WIRE_BEAT, l->comm, &req);
	if (rc == MPI_SUCCESS)
		rc = MPI_Request_free(&req);
	return dj_wire_mpi_err(rc, err, "heartbeat", dest);
}

int dj_wire_post(dj_wire_outbox *o, const dj_wire_link *l, int dest, int tag, dj_buf *m,
                 dj_err *err)
{
	if (m->len > INT_MAX)
		return dj_err_set(err, DJ_ENOMEM, "frame of %zu bytes is too large", m->len);
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct dj_wire_post *v = realloc(o->v, cap * sizeof(*v));
		if (!v)
			return dj_err_set(err, DJ_ENOMEM, "out of memory posting a frame");
		o->v = v;
		o->cap = cap;
	}
	struct dj_wire_post *p = &o->v[o->n];
	p->buf = *m;
	p->dest = dest;
	*m = (dj_buf)DJ_BUF_INIT;
	int rc = MPI_Isend(p->buf.ptr, (int)p->buf.len, MPI_BYTE, dest, tag, l->comm, &p->req);
	if (rc != MPI_SUCCESS) {
		dj_buf_dispose(&p->buf);
		return dj_wire_mpi_err(rc, err, "MPI_Isend", dest);
	}
	o->n++;
	return 0;
}

int dj_wire_outbox_progress(dj_wire_outbox *o, dj_err *err)
{
	int ret = 0;
	for (size_t i = 0; i < o->n;) {
		int done = 0;
		int rc = MPI_Test(&o->v[i].req, &done, MPI_STATUS_IGNORE);
		if (rc != MPI_SUCCESS) {
			ret = dj_wire_mpi_err(rc, err, "MPI_Test", o->v[i].dest);
			done = 1; /* the request is spent either way */
		}
		if (!done) {
			i++;
			continue;
		}
		dj_buf_dispose(&o->v[i].buf);
		o->v[i] = o->v[--o->n];
	}
	return ret;
}

void dj_wire_outbox_close(dj_wire_outbox *o, double deadline)
{
	struct timespec nap = {0, 200000};
	while (o->n && dj_run__now() < deadline) {
		dj_wire_outbox_progress(o, NULL);
		if (o->n)
			nanosleep(&nap, NULL);
	}
	for (size_t i = 0; i < o->n; i++) {
		/* The peer is gone (or stuck): MPI would never complete these. Freeing the request
		 * and the buffer is safe because nobody will read it any more. */
		MPI_Request_free(&o->v[i].req);
		dj_buf_dispose(&o->v[i].buf);
	}
	free(o->v);
	memset(o, 0, sizeof(*o));
}
