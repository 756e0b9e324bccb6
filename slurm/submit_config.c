/* Defaults of `djrun submit` from the "submit" object of djrun.json (slurm/submit.h). */
#include "slurm/submit.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_NAME "djrun.json"

int dj_submit_find_config(const char *start_dir, json_t **doc, char **path, dj_err *err)
{
	dj_buf dir = DJ_BUF_INIT, file = DJ_BUF_INIT;
	json_error_t je;
	int rc = 0;
	*doc = NULL;
	if (path)
		*path = NULL;
	if ((rc = dj_buf_adds(&dir, start_dir)) < 0)
		goto done;
	for (;;) {
		dj_buf_reset(&file);
		if ((rc = dj_buf_addf(&file, "%s%s" CONFIG_NAME, dir.ptr,
		                      dir.len && dir.ptr[dir.len - 1] == '/' ? "" : "/")) < 0)
			goto done;
		if (access(file.ptr, F_OK) == 0)
			break;
		char *slash = strrchr(dir.ptr, '/');
		if (!slash || dir.len <= 1) { /* reached the root: no djrun.json */
			rc = 0;
			goto done;
		}
		dj_buf_setlen(&dir, slash == dir.ptr ? 1 : (size_t)(slash - dir.ptr));
	}
	if (!(*doc = json_load_file(file.ptr, 0, &je))) {
		rc = dj_err_set(err, DJ_EFORMAT, "%s: line %d: %s", file.ptr, je.line, je.text);
		goto done;
	}
	if (path)
		*path = dj_buf_take(&file, NULL);
done:
	if (rc == DJ_ENOMEM)
		dj_err_set(err, rc, "submit: out of memory");
	dj_buf_dispose(&dir);
	dj_buf_dispose(&file);
	return rc;
}

static int bad(dj_err *err, const char *key, const char *want)
{
	return dj_err_set(err, DJ_EFORMAT, "djrun.json: submit.%s must be %s", key, want);
}

/* A JSON array of strings, borrowed as a NULL-free char * list (malloc'd array of pointers). */
static int strings(const json_t *v, const char *key, char *const **out, size_t *n, dj_err *err)
{
	if (!json_is_array(v))
		return bad(err, key, "a list of strings");
	size_t len = json_array_size(v);
	char **list = calloc(len + 1, sizeof(*list));
	if (!list)
		return dj_err_set(err, DJ_ENOMEM, "submit: out of memory");
	for (size_t i = 0; i < len; i++) {
		const json_t *e = json_array_get(v, i);
		if (!json_is_string(e)) {
			free(list);
			return bad(err, key, "a list of strings");
		}
		list[i] = (char *)json_string_value(e);
	}
	*out = list;
	*n = len;
	return 0;
}

int dj_submit_apply_config(dj_submit_spec *s, bool *requeue_set, const json_t *doc,
                           dj_err *err)
{
	const json_t *sec = doc ? json_object_get(doc, "submit") : NULL;
	const char *key;
	json_t *v;
	if (!sec)
		return 0;
	if (!json_is_object(sec))
		return dj_err_set(err, DJ_EFORMAT, "djrun.json: \"submit\" must be an object");
	json_object_foreach((json_t *)sec, key, v)
	{
		struct {
			const char *name;
			int *field;
		} ints[] = {{"nodes", &s->nodes},
		            {"ntasks", &s->ntasks},
		            {"ntasks-per-node", &s->ntasks_per_node},
		            {"cpus-per-task", &s->cpus_per_task},
		            {"max-requeue", &s->max_requeue}};
		struct {
			const char *name;
			const char **field;
		} strs[] = {{"time", &s->time},         {"partition", &s->partition},
		            {"account", &s->account},   {"mem", &s->mem},
		            {"qos", &s->qos},           {"job-name", &s->job_name},
		            {"array", &s->array},       {"mpi", &s->mpi},
		            {"signal", &s->signal},     {"log-dir", &s->log_dir}};
		bool known = false;
		for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]) && !known; i++) {
			if (strcmp(key, ints[i].name))
				continue;
			known = true;
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > INT_MAX)
				return bad(err, key, "an integer >= 1");
			if (*ints[i].field == 0)
				*ints[i].field = (int)json_integer_value(v);
		}
		for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]) && !known; i++) {
			if (strcmp(key, strs[i].name))
				continue;
			known = true;
			/* "array": 3 is as natural as "array": "0-2%1" */
			if (!strcmp(key, "array") && json_is_integer(v))
				return bad(err, key, "a string (\"3\" or \"0-9%4\")");
			if (!json_is_string(v))
				return bad(err, key, "a string");
			if (!*strs[i].field)
				*strs[i].field = json_string_value(v);
		}
		if (known)
			continue;
		if (!strcmp(key, "requeue")) {
			if (!json_is_boolean(v))
				return bad(err, key, "true or false");
			if (!*requeue_set) {
				s->requeue = json_is_true(v);
				*requeue_set = true;
			}
		} else if (!strcmp(key, "launcher")) {
			const char *l = json_string_value(v);
			dj_launcher k = !l                      ? (dj_launcher)-1
			                : !strcmp(l, "srun")    ? DJ_LAUNCH_SRUN
			                : !strcmp(l, "mpirun")  ? DJ_LAUNCH_MPIRUN
			                : !strcmp(l, "none")    ? DJ_LAUNCH_NONE
			                : !strcmp(l, "auto")    ? DJ_LAUNCH_AUTO
			                                        : (dj_launcher)-1;
			if ((int)k < 0)
				return bad(err, key, "\"srun\", \"mpirun\", \"none\" or \"auto\"");
			if (s->launcher == DJ_LAUNCH_AUTO)
				s->launcher = k;
		} else if (!strcmp(key, "sbatch")) {
			if (!s->sbatch_extra) {
				int rc = strings(v, key, &s->sbatch_extra, &s->nsbatch_extra, err);
				if (rc < 0)
					return rc;
			}
		} else if (!strcmp(key, "setup")) {
			if (!s->setup) {
				int rc = strings(v, key, &s->setup, &s->nsetup, err);
				if (rc < 0)
					return rc;
			}
		} else {
			return dj_err_set(err, DJ_EFORMAT, "djrun.json: unknown submit setting '%s'", key);
		}
	}
	return 0;
}
