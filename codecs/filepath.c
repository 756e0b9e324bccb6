#include "codecs/filepath.h"

#include <inttypes.h>
#include <string.h>

/* Does p start with prefix.strip("/") + "/"? (§7: the normalised section name) */
static bool starts_with_section(const char *p, const char *prefix)
{
	size_t n;
	prefix = dj_strip_slashes(prefix, &n);
	return strncmp(p, prefix, n) == 0 && p[n] == '/';
}

static int check_reserved(const char *p, const char *path, const char *prefix, const char *name,
			  dj_err *err)
{
	/* Python: `if hash_prefix:` — an empty string reserves nothing */
	if (!*prefix || !starts_with_section(p, prefix))
		return 0;
	return dj_err_set(err, DJ_EUSAGE, "<filepath@> cannot use reserved section '%s' (%s): '%s'",
			  prefix, name, path);
}

int dj_filepath_check(const char *hash_prefix, const char *schema_prefix,
		      const char *filepath_prefix, const char *path, dj_err *err)
{
	const char *hp = hash_prefix ? hash_prefix : "_hash";
	const char *sp = schema_prefix ? schema_prefix : "_schema";
	const char *p = path;
	int rc;
	while (*p == '/')
		p++;
	if ((rc = check_reserved(p, path, hp, "hash_prefix", err)) < 0 ||
	    (rc = check_reserved(p, path, sp, "schema_prefix", err)) < 0)
		return rc;
	if (filepath_prefix && *filepath_prefix && !starts_with_section(p, filepath_prefix))
		return dj_err_set(err, DJ_EUSAGE, "<filepath@> must use prefix '%s' (filepath_prefix): '%s'",
				  filepath_prefix, path);
	return 0;
}

static int nomem(int rc, dj_err *err)
{
	return rc ? dj_err_set(err, DJ_ENOMEM, "filepath metadata: out of memory") : 0;
}

int dj_filepath_meta_build(dj_buf *out, const char *path, const char *store, bool has_size,
			   uint64_t size, bool is_dir, int64_t ts_sec, int32_t ts_usec,
			   dj_err *err)
{
	char ts[DJ_ISOTIME_MAX];
	int rc;
	if (!path || !*path)
		return dj_err_set(err, DJ_EUSAGE, "filepath metadata: empty path");
	if (!store || !*store)
		return dj_err_set(err, DJ_EUSAGE, "filepath metadata for '%s': no store name", path);
	if ((rc = dj_isotime_format(ts_sec, ts_usec, ts, err)) < 0)
		return rc;
	/* FilepathCodec.encode's dict order: path, store, size, is_dir, timestamp */
	if ((rc = nomem(dj_buf_adds(out, "{\"path\": "), err)) ||
	    (rc = dj_pyjson_strz(out, path, err)) ||
	    (rc = nomem(dj_buf_adds(out, ", \"store\": "), err)) ||
	    (rc = dj_pyjson_strz(out, store, err)))
		return rc;
	rc = has_size ? dj_buf_addf(out, ", \"size\": %" PRIu64, size)
		      : dj_buf_adds(out, ", \"size\": null");
	if ((rc = nomem(rc, err)) ||
	    (rc = nomem(dj_buf_addf(out, ", \"is_dir\": %s, \"timestamp\": ",
				    is_dir ? "true" : "false"),
			err)) ||
	    (rc = dj_pyjson_strz(out, ts, err)))
		return rc;
	return nomem(dj_buf_addc(out, '}'), err);
}

int dj_filepath_meta_parse(dj_object_meta *m, const char *json, size_t n, dj_err *err)
{
	return dj_object_meta_parse(m, json, n, err);
}
