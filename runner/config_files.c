/* Finding datajoint.json and reading the secrets directory (formats.md §8.1 steps 3 and 5). */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "runner/config.h"
#include "runner/config_internal.h"

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* True when `dir` has a datajoint.json (*found set) or is where the search stops. */
static bool search_stops(const char *dir, char **found, char *path, size_t n)
{
	const char *sep = strcmp(dir, "/") ? "/" : "";
	snprintf(path, n, "%s%s%s", dir, sep, DJ_CONFIG_FILENAME);
	if (is_file(path))
		return (*found = strdup(path)), true;
	/* settings.py find_config_file: a .git or .hg (any kind) marks the project root */
	snprintf(path, n, "%s%s.git", dir, sep);
	if (exists(path))
		return true;
	snprintf(path, n, "%s%s.hg", dir, sep);
	return exists(path) || !strcmp(dir, "/");
}

int dj_config__find_file(const char *start, char **out, dj_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	*out = NULL;
	/* the library searches from the resolved working directory (Path.resolve) */
	if (!realpath(start, dir))
		return dj_err_os(err, "cannot resolve directory '%s'", start);
	while (!search_stops(dir, out, path, sizeof(path))) {
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	return 0;
}

char *dj_config__secrets_dir(const char *config_path, const char *system_dir)
{
	if (config_path) {
		const char *slash = strrchr(config_path, '/');
		char dir[PATH_MAX + 16];
		if (!slash)
			snprintf(dir, sizeof(dir), ".secrets");
		else
			snprintf(dir, sizeof(dir), "%.*s/.secrets", (int)(slash - config_path),
			         config_path);
		if (is_dir(dir))
			return strdup(dir);
	}
	return is_dir(system_dir) ? strdup(system_dir) : NULL;
}

/* The file's text without surrounding whitespace (str.strip), as a JSON string. */
static int read_secret(const char *path, json_t **out, dj_err *err)
{
	dj_buf b = DJ_BUF_INIT;
	size_t start = 0, end;
	int rc = dj_file_read(path, &b, err);
	*out = NULL;
	if (rc < 0)
		return rc;
	end = b.len;
	while (start < end && isspace((unsigned char)b.ptr[start]))
		start++;
	while (end > start && isspace((unsigned char)b.ptr[end - 1]))
		end--;
	*out = json_stringn(b.ptr + start, end - start);
	dj_buf_dispose(&b);
	if (!*out) /* invalid UTF-8 or a NUL byte; never quote the content */
		return dj_err_set(err, DJ_EFORMAT, "secret file '%s': not valid UTF-8 text", path);
	return 0;
}

static int db_secret(const char *dir, const char *name, char **field, dj_err *err)
{
	char path[PATH_MAX + 64];
	json_t *v;
	int rc;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* secrets only fill what the environment and datajoint.json left unset */
	if (*field || !is_file(path))
		return 0;
	if ((rc = read_secret(path, &v, err)) < 0)
		return rc;
	if (!(*field = strdup(json_string_value(v))))
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	json_decref(v);
	return rc;
}

/* "stores.<store>.<attr>": exactly three parts; fills stores[store][attr] if absent. */
static int store_secret(loader *l, const char *dir, const char *fname, dj_err *err)
{
	const char *a = fname + 7, *b = strchr(a, '.');
	char path[PATH_MAX + 300], store[256];
	json_t *obj, *v;
	int rc;
	if (strncmp(fname, "stores.", 7) || !b || strchr(b + 1, '.') ||
	    b - a >= (long)sizeof(store))
		return 0;
	snprintf(store, sizeof(store), "%.*s", (int)(b - a), a);
	snprintf(path, sizeof(path), "%s/%s", dir, fname);
	if (!is_file(path))
		return 0;
	obj = json_object_get(l->stores, store);
	if (json_is_object(obj) && json_object_get(obj, b + 1))
		return 0;
	if (!obj && json_object_set_new(l->secret_only, store, json_true()) < 0)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	if ((rc = read_secret(path, &v, err)) < 0)
		return rc;
	return dj_config__set_store_attr(l, store, b + 1, v, path, err);
}

int dj_config__load_secrets(loader *l, const char *dir, dj_err *err)
{
	DIR *d;
	struct dirent *e;
	int rc;
	if ((rc = db_secret(dir, "database.user", &l->cfg->database.user, err)) < 0 ||
	    (rc = db_secret(dir, "database.password", &l->cfg->database.password, err)) < 0)
		return rc;
	if (!(d = opendir(dir)))
		return dj_err_os(err, "cannot read secrets directory '%s'", dir);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && (rc = store_secret(l, dir, e->d_name, err)) < 0)
			break;
	closedir(d);
	return rc;
}
