/* migrate legacy-external, worker side: one 0.14 object to its 2.x form, and the check of a
 * 2.x object against its metadata and 0.14 uuid (jobs/migrate_legacy.h). Every check re-reads
 * what the store holds now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/filepath.h"
#include "codecs/hash.h"
#include "codecs/object.h"
#include "jobs/migrate_legacy.h"
#include "jobs/migrate_legacy_object.h"

static int nomem(dj_err *err)
{
	return dj_err_set(err, DJ_ENOMEM, "migrate legacy-external: out of memory");
}

static void hex(const uint8_t d[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* MD5 of p[0..n) equals `uuid`; otherwise err names what and both digests. */
static int md5_is(const void *p, size_t n, const uint8_t uuid[16], const char *what, dj_err *err)
{
	dj_md5 h = DJ_MD5_INIT;
	uint8_t d[16];
	char a[33], b[33];
	int rc = dj_md5_init(&h, err);
	if (rc == 0)
		rc = dj_md5_update(&h, p, n, err);
	if (rc == 0)
		rc = dj_md5_final(&h, d, err);
	dj_md5_dispose(&h);
	if (rc < 0 || !memcmp(d, uuid, 16))
		return rc;
	hex(d, a), hex(uuid, b);
	return dj_err_set(err, DJ_ECONFLICT, "hash mismatch: %s has MD5 %s, expected %s", what, a,
	                  b);
}

/* The store now holds `key` with MD5 `uuid`: 1; absent or different: 0 (size in *n). */
static int holds(dj_store *st, const char *key, const uint8_t uuid[16], dj_buf *tmp, size_t *n,
                 dj_err *err)
{
	dj_err e2 = DJ_ERR_INIT;
	dj_buf_reset(tmp);
	int rc = dj_store_get(st, key, tmp, err);
	if (rc == DJ_ENOTFOUND) {
		dj_err_clear(err);
		return 0;
	}
	if (rc < 0)
		return rc;
	*n = tmp->len;
	return md5_is(tmp->ptr, tmp->len, uuid, key, &e2) == 0;
}

int dj_legacy__convert(dj_legacy *m, const dj_legacy_obj *o, dj_buf *json, uint64_t *copied,
                       dj_err *err)
{
	dj_store *st = NULL;
	dj_buf path = DJ_BUF_INIT, old = DJ_BUF_INIT, data = DJ_BUF_INIT, tmp = DJ_BUF_INIT;
	size_t n = 0;
	*copied = 0;
	int rc = dj_legacy__store(m, o->store, &st, err);
	if (rc < 0)
		return rc;
	if (o->kind == DJ_LEGACY_FILEPATH) {
		/* the file stays: check it is the one 0.14 recorded, and describe it */
		rc = md5_is(o->filepath, strlen(o->filepath), o->uuid, "the recorded file path",
		            err);
		if (rc == 0 && (rc = dj_store_get(st, o->filepath, &data, err)) == DJ_ENOTFOUND)
			dj_err_clear(err),
			    dj_err_set(err, DJ_ENOTFOUND, "file %s is missing from store %s",
			               o->filepath, o->store);
		if (rc == 0 && o->has_contents_hash)
			rc = md5_is(data.ptr, data.len, o->contents_hash, o->filepath, err);
		if (rc == 0)
			rc = dj_filepath_meta_build(json, o->filepath, o->store, true, data.len,
			                            false, o->ts, 0, err);
		goto out;
	}
	rc = dj_legacy__hash_json(m, o->store, o->uuid, 0, &path, &tmp, err); /* the path */
	dj_buf_reset(&tmp);
	if (rc < 0)
		goto out;
	/* already there (deduplicated, or written by a run that was killed) and intact: keep it */
	int have = holds(st, path.ptr, o->uuid, &tmp, &n, err);
	if (have < 0) {
		rc = have;
		goto out;
	}
	if (!have) {
		if (dj_legacy__old_key(m->schema_name, o->uuid,
		                       o->kind == DJ_LEGACY_ATTACH ? o->attach_name : NULL,
		                       &old) < 0) {
			rc = nomem(err);
			goto out;
		}
		if (o->kind == DJ_LEGACY_ATTACH &&
		    dj_buf_add(&data, o->attach_name, strlen(o->attach_name) + 1) < 0) {
			rc = nomem(err);
			goto out;
		}
		rc = dj_store_get(st, old.ptr, &data, err);
		if (rc == DJ_ENOTFOUND)
			dj_err_clear(err),
			    rc = dj_err_set(err, DJ_ENOTFOUND,
			                    "0.14 object %s is missing from store %s", old.ptr,
			                    o->store);
		if (rc == 0)
			rc = md5_is(data.ptr, data.len, o->uuid, old.ptr, err);
		if (rc == 0)
			rc = dj_store_put(st, path.ptr, data.ptr, data.len, 0, err);
		if (rc == 0)
			*copied = data.len;
		/* what the store now holds, not what was sent */
		if (rc == 0 && (have = holds(st, path.ptr, o->uuid, &tmp, &n, err)) <= 0)
			rc =
			    have < 0
			        ? have
			        : dj_err_set(err, DJ_ECONFLICT,
			                     "hash mismatch: %s reads back different from what was "
			                     "written",
			                     path.ptr);
	}
	if (rc == 0) {
		dj_buf_reset(&path);
		rc = dj_legacy__hash_json(m, o->store, o->uuid, n, &path, json, err);
	}
out:
	dj_buf_dispose(&path), dj_buf_dispose(&old), dj_buf_dispose(&data), dj_buf_dispose(&tmp);
	return rc;
}

int dj_legacy__check(dj_legacy *m, const dj_legacy_obj *o, const char *json, size_t jn, dj_err *err)
{
	dj_store *st = NULL;
	dj_buf data = DJ_BUF_INIT, old = DJ_BUF_INIT;
	int rc = dj_legacy__store(m, o->store, &st, err);
	if (rc < 0)
		return rc;
	if (o->kind == DJ_LEGACY_FILEPATH) {
		dj_object_meta fm = DJ_OBJECT_META_INIT;
		rc = dj_filepath_meta_parse(&fm, json, jn, err);
		if (rc == 0)
			rc = md5_is(fm.path, strlen(fm.path), o->uuid, "the file path", err);
		if (rc == 0 && (rc = dj_store_get(st, fm.path, &data, err)) == DJ_ENOTFOUND)
			dj_err_clear(err),
			    dj_err_set(err, DJ_ENOTFOUND, "file %s is missing from store %s",
			               fm.path, o->store);
		if (rc == 0 && (!fm.has_size || fm.size != data.len))
			rc = dj_err_set(err, DJ_ECONFLICT, "size mismatch: %s holds %zu bytes",
			                fm.path, data.len);
		if (rc == 0 && o->has_contents_hash)
			rc = md5_is(data.ptr, data.len, o->contents_hash, fm.path, err);
		dj_object_meta_dispose(&fm);
		dj_buf_dispose(&data);
		return rc;
	}
	dj_hash_meta hm = DJ_HASH_META_INIT;
	char want[DJ_HASH_LEN + 1];
	dj_hash_from_digest(o->uuid, want);
	rc = dj_hash_meta_parse(&hm, json, jn, err);
	if (rc == 0 && strcmp(hm.hash, want))
		rc = dj_err_set(err, DJ_ECONFLICT,
		                "hash mismatch: metadata hash %s, the 0.14 uuid "
		                "gives %s",
		                hm.hash, want);
	if (rc == 0 && (rc = dj_store_get(st, hm.path, &data, err)) == DJ_ENOTFOUND)
		dj_err_clear(err),
		    dj_err_set(err, DJ_ENOTFOUND, "object %s is missing from store %s", hm.path,
		               o->store);
	if (rc == 0)
		rc = md5_is(data.ptr, data.len, o->uuid, hm.path, err);
	if (rc == 0 && (!hm.has_size || hm.size != data.len))
		rc = dj_err_set(err, DJ_ECONFLICT, "size mismatch: %s holds %zu bytes", hm.path,
		                data.len);
	if (rc == 0 && m->move) {
		/* verified: the 0.14 object may go (a missing one was removed before) */
		if (dj_legacy__old_key(m->schema_name, o->uuid,
		                       o->kind == DJ_LEGACY_ATTACH ? o->attach_name : NULL,
		                       &old) < 0)
			rc = nomem(err);
		else
			rc = dj_store_remove(st, old.ptr, err);
	}
	dj_hash_meta_dispose(&hm);
	dj_buf_dispose(&data), dj_buf_dispose(&old);
	return rc;
}
