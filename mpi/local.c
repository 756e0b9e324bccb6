/* Rank 0's own worker thread (mpi/local.h). */
#include "mpi/local.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/engine.h"

typedef struct litem {
	uint64_t id;
	dj_buf bytes; /* the item; then the result's data */
	dj_err err;
	double work_s;
	struct litem *next;
} litem;

struct dj_run__local {
	const dj_job *job;
	void *ctx;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	litem *todo, *todo_tail; /* queued */
	litem *done, *done_tail; /* finished, not yet taken */
	size_t load;             /* queued + running */
	bool quit, joined;
};

static void append(litem **head, litem **tail, litem *it)
{
	it->next = NULL;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
}

static litem *pop(litem **head, litem **tail)
{
	litem *it = *head;
	if (it && !(*head = it->next))
		*tail = NULL;
	return it;
}

static void *run(void *arg)
{
	dj_run__local *lw = arg;
	dj_buf out = DJ_BUF_INIT;
	pthread_mutex_lock(&lw->mu);
	for (;;) {
		while (!lw->quit && !lw->todo)
			pthread_cond_wait(&lw->cv, &lw->mu);
		if (lw->quit)
			break;
		litem *it = pop(&lw->todo, &lw->todo_tail);
		pthread_mutex_unlock(&lw->mu);
		dj_bytes item = dj_buf_bytes(&it->bytes);
		dj_run__work_one(lw->job, lw->ctx, &item, &out, &it->err, &it->work_s);
		dj_buf tmp = it->bytes; /* the result replaces the item */
		it->bytes = out;
		out = tmp;
		pthread_mutex_lock(&lw->mu);
		append(&lw->done, &lw->done_tail, it);
		lw->load--;
	}
	pthread_mutex_unlock(&lw->mu);
	dj_buf_dispose(&out);
	return NULL;
}

int dj_run__local_start(dj_run__local **out, const dj_job *job, void *ctx, dj_err *err)
{
	dj_run__local *lw = calloc(1, sizeof(*lw));
	*out = NULL;
	if (!lw)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	lw->job = job;
	lw->ctx = ctx;
	pthread_mutex_init(&lw->mu, NULL);
	pthread_cond_init(&lw->cv, NULL);
	if (pthread_create(&lw->th, NULL, run, lw) != 0) {
		pthread_cond_destroy(&lw->cv);
		pthread_mutex_destroy(&lw->mu);
		free(lw);
		return dj_err_set(err, DJ_ERROR, "cannot start rank 0's worker thread");
	}
	*out = lw;
	return 0;
}

int dj_run__local_push(dj_run__local *lw, uint64_t id, dj_bytes item, dj_err *err)
{
	litem *it = calloc(1, sizeof(*it));
	if (!it || dj_buf_add(&it->bytes, item.ptr, item.len) < 0) {
		free(it);
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	it->id = id;
	pthread_mutex_lock(&lw->mu);
	append(&lw->todo, &lw->todo_tail, it);
	lw->load++;
	pthread_cond_signal(&lw->cv);
	pthread_mutex_unlock(&lw->mu);
	return 0;
}

size_t dj_run__local_load(dj_run__local *lw)
{
	pthread_mutex_lock(&lw->mu);
	size_t n = lw->load;
	pthread_mutex_unlock(&lw->mu);
	return n;
}

int dj_run__local_take(dj_run__local *lw, uint64_t *id, dj_err *werr, dj_buf *data,
                       double *work_s)
{
	pthread_mutex_lock(&lw->mu);
	litem *it = pop(&lw->done, &lw->done_tail);
	pthread_mutex_unlock(&lw->mu);
	if (!it)
		return 0;
	*id = it->id;
	*werr = it->err;
	*work_s = it->work_s;
	dj_buf_dispose(data);
	*data = it->bytes;
	free(it);
	return 1;
}

void dj_run__local_drop(dj_run__local *lw, uint64_t *ids, size_t cap, size_t *n)
{
	*n = 0;
	pthread_mutex_lock(&lw->mu);
	while (lw->todo && *n < cap) {
		litem *it = pop(&lw->todo, &lw->todo_tail);
		ids[(*n)++] = it->id;
		lw->load--;
		dj_buf_dispose(&it->bytes);
		free(it);
	}
	pthread_mutex_unlock(&lw->mu);
}

void dj_run__local_stop(dj_run__local *lw)
{
	if (!lw || lw->joined)
		return;
	pthread_mutex_lock(&lw->mu);
	lw->quit = true;
	pthread_cond_signal(&lw->cv);
	pthread_mutex_unlock(&lw->mu);
	pthread_join(lw->th, NULL);
	lw->joined = true;
}

void dj_run__local_free(dj_run__local *lw)
{
	if (!lw)
		return;
	dj_run__local_stop(lw);
	litem *it;
	while ((it = pop(&lw->todo, &lw->todo_tail)) || (it = pop(&lw->done, &lw->done_tail))) {
		dj_buf_dispose(&it->bytes);
		free(it);
	}
	pthread_cond_destroy(&lw->cv);
	pthread_mutex_destroy(&lw->mu);
	free(lw);
}
