#include "slurm/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "slurm/command.h"

/* Run a command; its stdout in `out` only when it exits 0. */
static int capture(char *const argv[], dj_buf *out, bool *ok, dj_err *err)
{
	int status;
	int rc = dj_slurm_command(argv, out, NULL, &status, err);
	*ok = rc == 0 && status == 0;
	if (rc == DJ_ENOMEM || (rc < 0 && err->code == DJ_ENOMEM))
		return DJ_ENOMEM;
	return 0;
}

static void free_hosts(char **hosts)
{
	for (size_t i = 0; hosts && hosts[i]; i++)
		free(hosts[i]);
	free(hosts);
}

/* A node list ("n1", "n[01-03],gpu1") as host names; compressed lists through scontrol. */
static int expand_nodes(const char *list, char ***out, dj_err *err)
{
	dj_buf text = DJ_BUF_INIT;
	bool ok = true;
	size_t n = 0;
	int rc = 0;
	*out = NULL;
	if (strchr(list, '[')) {
		char *argv[] = {"scontrol", "show", "hostnames", (char *)list, NULL};
		if ((rc = capture(argv, &text, &ok, err)) < 0 || !ok)
			goto done;
	} else if ((rc = dj_buf_adds(&text, list)) < 0) {
		goto done;
	}
	for (char *p = text.ptr; *p; p++)
		if (*p == ',' || *p == '\n')
			*p = ' ';
	size_t cap = 1;
	for (const char *p = text.ptr; *p; p++)
		cap += *p == ' ';
	char **hosts = calloc(cap + 1, sizeof(*hosts));
	if (!hosts) {
		rc = DJ_ENOMEM;
		goto done;
	}
	for (char *save = NULL, *tok = strtok_r(text.ptr, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		if (!(hosts[n++] = strdup(tok))) {
			free_hosts(hosts);
			rc = DJ_ENOMEM;
			goto done;
		}
	}
	*out = hosts;
done:
	dj_buf_dispose(&text);
	return rc;
}

static int load_running(dj_slurm_view *v, dj_err *err)
{
	char *argv[] = {"squeue", "-h", "-t", "R", "-o", "%A|%i|%N", NULL};
	dj_buf text = DJ_BUF_INIT;
	bool ok;
	int rc = capture(argv, &text, &ok, err);
	if (rc < 0 || !ok)
		goto done;
	v->available = true;
	size_t cap = 1;
	for (const char *p = text.ptr; *p; p++)
		cap += *p == '\n';
	if (!(v->jobs = calloc(cap, sizeof(*v->jobs)))) {
		rc = DJ_ENOMEM;
		goto done;
	}
	for (char *save = NULL, *line = strtok_r(text.ptr, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
		if (!bar2)
			continue;
		*bar1 = *bar2 = '\0';
		dj_slurm_running *j = &v->jobs[v->njobs];
		snprintf(j->raw, sizeof(j->raw), "%s", line);
		snprintf(j->job, sizeof(j->job), "%s", bar1 + 1);
		if ((rc = expand_nodes(bar2 + 1, &j->hosts, err)) == 0 && j->hosts)
			v->njobs++;
	}
done:
	dj_buf_dispose(&text);
	return rc;
}

/* `scontrol listpids`: "PID JOBID STEPID LOCALID GLOBALID" lines for this node's steps. */
static int load_pids(dj_slurm_view *v, dj_err *err)
{
	char *argv[] = {"scontrol", "listpids", NULL};
	dj_buf text = DJ_BUF_INIT;
	bool ok;
	int rc = capture(argv, &text, &ok, err);
	if (rc < 0 || !ok)
		goto done;
	size_t cap = 1;
	for (const char *p = text.ptr; *p; p++)
		cap += *p == '\n';
	if (!(v->pids = calloc(cap, sizeof(*v->pids)))) {
		rc = DJ_ENOMEM;
		goto done;
	}
	for (char *save = NULL, *line = strtok_r(text.ptr, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		long long pid;
		char job[32];
		if (sscanf(line, "%lld %31s", &pid, job) != 2)
			continue; /* the header */
		dj_slurm_pid *p = &v->pids[v->npids++];
		p->pid = pid;
		snprintf(p->job, sizeof(p->job), "%s", job);
		/* show an array task as squeue does */
		for (size_t i = 0; i < v->njobs; i++)
			if (!strcmp(v->jobs[i].raw, job))
				snprintf(p->job, sizeof(p->job), "%s", v->jobs[i].job);
	}
done:
	dj_buf_dispose(&text);
	return rc;
}

int dj_slurm_view_load(dj_slurm_view *v, dj_err *err)
{
	struct utsname u;
	int rc;
	memset(v, 0, sizeof(*v));
	if (uname(&u) == 0)
		snprintf(v->node, sizeof(v->node), "%s", u.nodename);
	if ((rc = load_running(v, err)) == 0 && v->available)
		rc = load_pids(v, err);
	if (rc < 0) {
		dj_slurm_view_dispose(v);
		return dj_err_set(err, DJ_ENOMEM, "slurm: out of memory");
	}
	return 0;
}

void dj_slurm_view_dispose(dj_slurm_view *v)
{
	for (size_t i = 0; i < v->njobs; i++)
		free_hosts(v->jobs[i].hosts);
	free(v->jobs);
	free(v->pids);
	memset(v, 0, sizeof(*v));
}

const char *dj_slurm_view_find(const dj_slurm_view *v, const char *host, int64_t pid,
                               dj_buf *jobs)
{
	size_t found = 0;
	if (!v->available)
		return NULL;
	if (!strcmp(host, v->node) && v->pids) { /* slurmd runs here: listpids knows them all */
		for (size_t i = 0; i < v->npids; i++)
			if (v->pids[i].pid == pid)
				return dj_buf_adds(jobs, v->pids[i].job) == 0 ? "pid" : NULL;
		return NULL;
	}
	for (size_t i = 0; i < v->njobs; i++)
		for (char **h = v->jobs[i].hosts; *h; h++)
			if (!strcmp(*h, host)) {
				if (found++)
					dj_buf_addc(jobs, ',');
				dj_buf_adds(jobs, v->jobs[i].job);
				break;
			}
	return found == 0 ? NULL : found == 1 ? "node" : "node?";
}
