/* migrate legacy-external: one 0.14 object reference as the workers see it, and what they do
 * with it (migrate_legacy_object.c). Worker side: stores only, no database. */
#ifndef DJ_JOBS_MIGRATE_LEGACY_OBJECT_H
#define DJ_JOBS_MIGRATE_LEGACY_OBJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/migrate_legacy.h"

typedef struct dj_legacy_obj {
	dj_legacy_kind kind;
	const char *store;
	uint8_t uuid[16];
	const char *attach_name; /* ATTACH: `~external.attachment_name` */
	const char *filepath;    /* FILEPATH: the store-relative path */
	bool has_contents_hash;  /* FILEPATH: `~external.contents_hash` is set */
	uint8_t contents_hash[16];
	int64_t ts; /* FILEPATH: `~external.timestamp`, seconds since the epoch (UTC) */
} dj_legacy_obj;

/*
 * Make the 2.x form of `o` exist and append its column JSON to `json`. blob/attach: an intact
 * object already at the hash path is kept; otherwise the 0.14 object is read, checked against
 * the uuid (attachments as name NUL contents), written, and read back and re-hashed. filepath:
 * the file's path and contents are checked against the uuid and contents_hash. *copied = bytes
 * written. DJ_ENOTFOUND for a missing object, DJ_ECONFLICT ("hash mismatch: ...") for damage.
 */
int dj_legacy__convert(dj_legacy *m, const dj_legacy_obj *o, dj_buf *json, uint64_t *copied,
                       dj_err *err);

/* Check a filled value: the object the JSON names is read and re-hashed against the JSON and the
 * uuid. With m->move the 0.14 object is removed once the new one checks out. */
int dj_legacy__check(dj_legacy *m, const dj_legacy_obj *o, const char *json, size_t jn,
                     dj_err *err);

#endif
