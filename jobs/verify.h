/*
 * djrun verify: the reverse of gc. Every object that a row of the schema references (hash- and
 * schema-addressed codec columns, database.md §7.2) must exist in its store; with `deep`, hash
 * objects are read back and must hash (formats.md §4) and size to their metadata, and file
 * objects of <object@> must have the metadata's size. Run as a dj_job: rank 0 scans the
 * database and plans batches of references, any rank checks a batch against the stores (each
 * rank opens the stores it needs), rank 0 collects the problems.
 */
#ifndef DJ_JOBS_VERIFY_H
#define DJ_JOBS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "db/db.h"
#include "db/schema.h"
#include "jobs/job.h"
#include "stores/spec.h"
#include "stores/store.h"

#define DJ_VERIFY_BATCH 200

typedef struct dj_verify {
	/* set by the tool */
	const char *schema_name;
	const char *store_filter; /* NULL = every store */
	bool deep;
	const dj_store_spec *specs;
	size_t nspecs;
	const char *default_store;
	int (*connect)(void *arg, dj_db **db, dj_err *err);
	void *connect_arg;

	/* state */
	dj_db *db;
	dj_schema schema;
	bool have_schema;
	dj_buf refs; /* packed references (see verify.c), planned in batches */
	size_t nrefs, next_off;
	dj_store **stores; /* per spec, opened on first use */
	/* results, rank 0 */
	uint64_t checked, missing, corrupt, errors; /* rank 0 */
	uint64_t bytes_read;                     /* this rank (--deep) */
	dj_buf problems; /* "missing\t<store>\t<path>\t<table.column>\n" lines */
} dj_verify;

extern const dj_job dj_verify_job;
void dj_verify_dispose(dj_verify *v);

#endif
