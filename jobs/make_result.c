/* The result format every make form produces (jobs/make.h), and its checks (make_internal.h). */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jobs/make_internal.h"

int dj_make__is_ident(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

int dj_make__error_msg(dj_err *err, const char *msg)
{
	const char *colon = strstr(msg, ": ");
	if (colon && dj_make__is_ident(msg, (size_t)(colon - msg)))
		return dj_err_set(err, DJ_ERROR, "%s", msg);
	return dj_err_set(err, DJ_ERROR, "MakeError: %s", *msg ? msg : "make failed");
}

/* f must name a file inside the output directory: relative, no "..", not empty. */
static int inside(const char *f)
{
	if (!*f || f[0] == '/')
		return 0;
	for (const char *p = f; (p = strstr(p, "..")); p += 2)
		if ((p == f || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
			return 0;
	return 1;
}

int dj_make__npy_refs(json_t *obj, const char *outdir, dj_buf *data, const char *what, dj_err *err)
{
	char path[DJ_MAKE_PATH_MAX + 256];
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		if (!json_is_object(v))
			continue;
		json_t *npy = json_object_get(v, "npy"), *file = json_object_get(v, "file");
		json_t *f = npy ? npy : file;
		if (!json_is_string(f) || json_object_size(v) != 1)
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: %s: '%s': an object value must be "
			                  "{\"npy\": \"file.npy\"} or {\"file\": \"name\"}",
			                  what, k);
		const char *name = json_string_value(f);
		if (!inside(name))
			return dj_err_set(
			    err, DJ_EFORMAT,
			    "OutputError: %s: '%s': %s '%s' must be a path inside outputs/", what, k,
			    npy ? "npy file" : "file", name);
		size_t off = data->len;
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", outdir, name);
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: %s: '%s': outputs/%s is a folder (a file is "
			                  "taken)",
			                  what, k, name);
		int rc = dj_file_read(path, data, err);
		if (rc < 0) {
			dj_err_clear(err);
			return dj_err_set(err, rc, "OutputError: %s: '%s': cannot read outputs/%s",
			                  what, k, name);
		}
		const char *base = strrchr(name, '/');
		json_t *ref = npy ? json_pack("{s:I, s:I}", "npy_off", (json_int_t)off, "npy_len",
		                              (json_int_t)(data->len - off))
		                  : json_pack("{s:I, s:I, s:s}", "file_off", (json_int_t)off,
		                              "file_len", (json_int_t)(data->len - off), "file_name",
		                              base ? base + 1 : name);
		if (!ref || json_object_set_new(obj, k, ref) < 0)
			return dj_err_set(err, DJ_ENOMEM, "out of memory");
	}
	return 0;
}

int dj_make__parts_refs(json_t *parts, const char *outdir, dj_buf *data, const char *what,
                        dj_err *err)
{
	const char *name;
	json_t *rows;
	if (!json_is_object(parts))
		return dj_err_set(err, DJ_EFORMAT,
		                  "OutputError: %s: \"parts\" must be {\"Part\": [rows]}", what);
	json_object_foreach(parts, name, rows)
	{
		if (!dj_make__is_ident(name, strlen(name)))
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: %s: '%s' is not a part table name", what,
			                  name);
		if (!json_is_array(rows))
			return dj_err_set(err, DJ_EFORMAT,
			                  "OutputError: %s: parts '%s' must be a list of objects",
			                  what, name);
		size_t i;
		json_t *r;
		json_array_foreach(rows, i, r)
		{
			char w[400];
			snprintf(w, sizeof(w), "%s: parts '%s' row %zu", what, name, i + 1);
			if (!json_is_object(r))
				return dj_err_set(err, DJ_EFORMAT,
				                  "OutputError: %s is not an object", w);
			int rc = dj_make__npy_refs(r, outdir, data, w, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* One <Part>.jsonl file: an object per non-blank line, appended to `rows`. */
static int read_part_file(const char *path, const char *label, json_t *rows, const char *outdir,
                          dj_buf *data, dj_err *err)
{
	dj_buf text = DJ_BUF_INIT;
	int rc = dj_file_read(path, &text, err);
	if (rc < 0) {
		dj_buf_dispose(&text);
		dj_err_clear(err);
		return dj_err_set(err, rc, "OutputError: cannot read %s", label);
	}
	const char *p = text.ptr, *end = text.ptr + text.len;
	for (size_t line = 1; rc == 0 && p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *s = p;
		p = nl ? nl + 1 : end;
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s == e)
			continue;
		char w[400];
		json_error_t je;
		snprintf(w, sizeof(w), "%s line %zu", label, line);
		json_t *o = json_loadb(s, (size_t)(e - s), JSON_REJECT_DUPLICATES, &je);
		if (!o)
			rc = dj_err_set(err, DJ_EFORMAT, "OutputError: %s: not JSON: %s", w,
			                je.text);
		else if (!json_is_object(o))
			rc = dj_err_set(err, DJ_EFORMAT, "OutputError: %s: not a JSON object", w);
		else if ((rc = dj_make__npy_refs(o, outdir, data, w, err)) == 0 &&
		         json_array_append(rows, o) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		json_decref(o);
	}
	dj_buf_dispose(&text);
	return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int dj_make__read_parts(const char *outdir, json_t **parts, dj_buf *data, dj_err *err)
{
	char dir[DJ_MAKE_PATH_MAX + 16], path[DJ_MAKE_PATH_MAX + 300], label[320];
	struct dirent **ents = NULL;
	*parts = NULL;
	snprintf(dir, sizeof(dir), "%s/parts", outdir);
	int n = scandir(dir, &ents, NULL, by_name);
	if (n < 0)
		return 0; /* no parts/ folder: no part rows */
	int rc = 0;
	json_t *all = json_object();
	if (!all)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		const char *f = ents[i]->d_name;
		size_t len = strlen(f);
		if (rc < 0 || !strcmp(f, ".") || !strcmp(f, ".."))
			continue;
		if (len <= 6 || strcmp(f + len - 6, ".jsonl") || !dj_make__is_ident(f, len - 6)) {
			rc =
			    dj_err_set(err, DJ_EFORMAT,
			               "OutputError: outputs/parts/%s: expected <Part>.jsonl files "
			               "only",
			               f);
			continue;
		}
		json_t *rows = json_array();
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		snprintf(label, sizeof(label), "outputs/parts/%s", f);
		if (!rows || json_object_setn_new(all, f, len - 6, rows) < 0)
			rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
		else
			rc = read_part_file(path, label, rows, outdir, data, err);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (rc < 0)
		json_decref(all);
	else
		*parts = all;
	return rc;
}

int dj_make__result(dj_buf *result, json_t *row, json_t *parts, const dj_buf *data, dj_err *err)
{
	json_t *doc = json_pack("{s:O}", "row", row);
	if (doc && parts && json_object_set(doc, "parts", parts) < 0) {
		json_decref(doc);
		doc = NULL;
	}
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	int rc = 0;
	if (!text || dj_buf_adds(result, text) < 0 || dj_buf_addc(result, 0) < 0 ||
	    dj_buf_add(result, data->ptr, data->len) < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	free(text);
	return rc;
}

int dj_make_result_split(const void *p, size_t n, const char **json, size_t *jlen,
                         const unsigned char **data, size_t *dlen, dj_err *err)
{
	const char *nul = memchr(p, 0, n);
	if (!nul)
		return dj_err_set(err, DJ_EFORMAT, "make result without its row");
	*json = p;
	*jlen = (size_t)(nul - (const char *)p);
	*data = (const unsigned char *)nul + 1;
	*dlen = n - *jlen - 1;
	return 0;
}
