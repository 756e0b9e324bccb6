/*
 * Shared by populate's own files (jobs/populate*.c): values as cells, and the outputs a
 * worker writes to the stores itself.
 */
#ifndef DJ_JOBS_POPULATE_INTERNAL_H
#define DJ_JOBS_POPULATE_INTERNAL_H

#include <jansson.h>

#include "jobs/populate.h"

/*
 * One JSON output value of the make -> a cell for attribute `a` of `t` (`data`/`dlen`: the
 * result's npy bytes that {"npy_off", "npy_len"} values point into; `key` names the row in
 * messages). With `stored_ok`, a store-backed attribute's {"stored": "<metadata>"} (written by
 * a worker, dj_populate_store_outputs) becomes a DJ_CELL_ENCODED cell. Errors "OutputError: ...".
 */
int dj_populate_json_cell(const dj_table *t, const dj_attr *a, json_t *v,
                          const unsigned char *data, size_t dlen, const char *key,
                          bool stored_ok, dj_cell *c, dj_err *err);

/* A key value of the key JSON (jobs/populate.c key_json) as the value of attribute `a`: dates,
 * datetimes, decimals and uuids from their text, numbers and strings as they are. */
int dj_populate_key_from_json(const dj_attr *a, json_t *v, dj_value **out, dj_err *err);

/*
 * Worker side (p->heading set): write the store-backed outputs of one make result to the
 * stores, as rank 0's insert would (same objects, same metadata), and rewrite `result` so
 * that those values become {"stored": "<metadata>"}, their npy bytes are dropped, and the doc
 * says "worker_stored": true. `kjson` is the key the make saw. A failure fails the key.
 */
int dj_populate_store_outputs(dj_populate *p, const char *kjson, size_t klen, dj_buf *result,
                              dj_err *err);

/* The working thread's stores (p->wrc), opened once. */
int dj_populate_worker_stores(dj_populate *p, dj_err *err);

/*
 * Worker side (p->remote_inputs): read the store-backed inputs rank 0 left to the worker
 * ("@Table.attr" items: the attribute's type and the row's metadata) from the stores and turn
 * them into the files rank 0 would have shipped (names as dj_populate_fetch_inputs gives them).
 * Their bytes go into `*held` (nin buffers, NULL when there were none): dispose each, then
 * free it, after the make. Errors "InputError: ...".
 */
int dj_populate_inputs_resolve(dj_populate *p, dj_make_input *in, size_t nin, dj_buf **held,
                               dj_err *err);

/* Free the worker-side state (tables, stores). */
void dj_populate_store_dispose(dj_populate *p);

#endif
