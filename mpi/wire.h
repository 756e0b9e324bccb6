/*
 * Message framing between rank 0 and workers. Pure byte encoding (no mpi.h here, so unit
 * tests run it without MPI); mpi/net.h moves the frames over a duplicated communicator.
 *
 * Every frame starts with DJ_WIRE_VERSION; integers are little-endian whatever the host;
 * the MPI tag says which frame it is:
 *   ITEMS    rank 0 -> worker  [ver] then records [u64 id][u32 len][len bytes] to the end
 *   RESULTS  worker -> rank 0  [ver][u32 want][u8 flags] then records
 *                              [u64 id][i32 code][f64 work_s][u16 n][n bytes message]
 *                              [u32 len][len bytes data] to the end. `want` is how many items
 *                              the worker would like in flight; a RESULTS frame with no
 *                              records is its first request (hello).
 *   STOP     rank 0 -> worker  [ver][u8 mode]
 *   BYE      worker -> rank 0  [ver][i32 code][message to the end]: the worker has left
 *   BEAT     both ways         empty (no version byte): I am alive
 * Readers check every length against what is left before using it (DJ_EFORMAT).
 */
#ifndef DJ_MPI_WIRE_H
#define DJ_MPI_WIRE_H

#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define DJ_WIRE_VERSION 1

enum dj_wire_tag {
	DJ_WIRE_ITEMS = 101,
	DJ_WIRE_RESULTS = 102,
	DJ_WIRE_STOP = 103,
	DJ_WIRE_BYE = 104,
	DJ_WIRE_BEAT = 105,
};

enum dj_wire_stop_mode {
	DJ_WIRE_STOP_FINISH = 1, /* work off the queue, then leave (normal end) */
	DJ_WIRE_STOP_DROP = 2,   /* finish the running item, drop the queued ones, leave */
};

enum { DJ_WIRE_FLAG_BEATS = 1 }; /* RESULTS flags: this worker sends heartbeats */

/* A bounded reader over one received frame. */
typedef struct dj_wire_reader {
	const uint8_t *p;
	size_t len, off;
} dj_wire_reader;

void dj_wire_reader_init(dj_wire_reader *r, const void *p, size_t len);

/* ITEMS */
int dj_wire_items_begin(dj_buf *m);
int dj_wire_item_add(dj_buf *m, uint64_t id, dj_bytes item);
/* Open a frame (checks the version), then read records: 1 = one read, 0 = end, < 0 error. */
int dj_wire_items_open(dj_wire_reader *r, dj_err *err);
int dj_wire_item_next(dj_wire_reader *r, uint64_t *id, dj_bytes *item, dj_err *err);

/* RESULTS */
typedef struct dj_wire_result {
	uint64_t id;
	int32_t code; /* 0 or the DJ_E* code work returned */
	double work_s;
	dj_bytes msg; /* one line, at most 65535 bytes (longer is cut) */
	dj_bytes data;
} dj_wire_result;

int dj_wire_results_begin(dj_buf *m, uint32_t want, uint8_t flags);
int dj_wire_result_add(dj_buf *m, const dj_wire_result *res);
int dj_wire_results_open(dj_wire_reader *r, uint32_t *want, uint8_t *flags, dj_err *err);
int dj_wire_result_next(dj_wire_reader *r, dj_wire_result *out, dj_err *err);

/* STOP and BYE */
int dj_wire_stop_encode(dj_buf *m, int mode);
int dj_wire_stop_decode(dj_wire_reader *r, int *mode, dj_err *err);
int dj_wire_bye_encode(dj_buf *m, int32_t code, const char *msg);
int dj_wire_bye_decode(dj_wire_reader *r, int32_t *code, dj_bytes *msg, dj_err *err);

#endif
