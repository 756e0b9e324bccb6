/*
 * djrun submit [options] -- populate|migrate|gc ARGS...: write a Slurm batch script for the
 * command (slurm/submit.h), submit it with sbatch and print the job id; --dry-run prints the
 * script instead. Defaults come from the "submit" object of djrun.json (searched from the
 * working directory upward); the command line wins.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner/cli.h"
#include "runner/exit.h"
#include "slurm/submit.h"

static void help(void)
{
	printf(
	    "usage: djrun submit [options] -- populate|migrate|gc ARGS...\n\n"
	    "Write a Slurm batch script that runs the djrun command, submit it with sbatch and\n"
	    "print the job id. The script is kept (--script, or LOG_DIR/NAME-TIME.sbatch): #SBATCH\n"
	    "lines, no modules, the absolute path of this djrun, the command exactly as given.\n\n"
	    "resources (left out of the script when not given: the cluster's defaults apply):\n"
	    "  --nodes N  --ntasks N  --ntasks-per-node N  --cpus-per-task N\n"
	    "  --time T  --partition P  --account A  --mem M  --qos Q  --job-name NAME\n"
	    "  --array N | --array A-B[%%L]\n"
	    "                     N independent tasks (0..N-1) sharing the keys through the jobs\n"
	    "                     table (populate only; it gets --reserve-jobs); %%L runs at most\n"
	    "                     L at once\n\n"
	    "launch:\n"
	    "  --launcher srun|mpirun|none\n"
	    "                     how the ranks start (default: srun when more than one task,\n"
	    "                     else none: one process)\n"
	    "  --mpi TYPE         srun's --mpi (pmix)\n"
	    "  --signal SPEC      Slurm's warning signal before the time limit or preemption\n"
	    "                     (B:USR1@120; 'none' for no signal); the script relays it to\n"
	    "                     djrun, which drains and exits 75\n"
	    "  --requeue          on exit 75 the job requeues itself and resumes\n"
	    "  --no-requeue       (overrides djrun.json)\n"
	    "  --max-requeue N    at most N restarts (10)\n\n"
	    "files:\n"
	    "  --workdir DIR      where the job runs (the current directory)\n"
	    "  --log-dir DIR      the job's log, NAME-JOBID.log (the working directory)\n"
	    "  --script FILE      where to write the script\n"
	    "  --dry-run          print the script; write and submit nothing\n\n"
	    "Options take their value as the next argument or after '=' (--time=1:00:00).\n"
	    "djrun.json (found from the working directory upward) may hold defaults:\n"
	    "  {\"submit\": {\"partition\": \"compute\", \"time\": \"4:00:00\", \"requeue\": true,\n"
	    "              \"sbatch\": [\"--constraint=avx2\"], \"setup\": [\"source env/bin/activate\"]}}\n"
	    "(keys: the option names without dashes; \"sbatch\": more #SBATCH options; \"setup\":\n"
	    "shell lines run before djrun).\n\n"
	    "exit codes: 0 submitted (or printed), 1 sbatch refused the job, 2 usage or\n"
	    "            configuration error\n");
}

typedef struct submit_args {
	dj_submit_spec spec;
	bool requeue_set, dry_run;
	const char *script, *workdir, *log_dir;
} submit_args;

static int count(const char *opt, const char *v, int *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > INT_MAX)
		return dj_cli_usage_error("submit", "%s takes a whole number >= 1, not '%s'", opt, v);
	*out = (int)n;
	return DJ_EXIT_OK;
}

static int launcher(const char *v, dj_launcher *out)
{
	if (!strcmp(v, "srun"))
		*out = DJ_LAUNCH_SRUN;
	else if (!strcmp(v, "mpirun"))
		*out = DJ_LAUNCH_MPIRUN;
	else if (!strcmp(v, "none"))
		*out = DJ_LAUNCH_NONE;
	else if (!strcmp(v, "auto"))
		*out = DJ_LAUNCH_AUTO;
	else
		return dj_cli_usage_error("submit", "--launcher takes srun, mpirun or none, not '%s'",
		                          v);
	return DJ_EXIT_OK;
}

static int parse_args(int argc, char **argv, submit_args *a, bool *done)
{
	dj_submit_spec *s = &a->spec;
	for (int i = 1; i < argc; i++) {
		char name[64];
		const char *o = argv[i], *v = NULL, *eq;
		if (!strcmp(o, "--")) {
			s->argv = argv + i + 1;
			s->argc = (size_t)(argc - i - 1);
			break;
		}
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			help();
			*done = true;
			return DJ_EXIT_OK;
		}
		if (strncmp(o, "--", 2))
			return dj_cli_usage_error("submit",
			                          "unexpected argument '%s' (the command goes after --)",
			                          o);
		/* --name=value or --name value */
		if ((eq = strchr(o, '=')) && (size_t)(eq - o) < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - o), o);
			v = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", o);
		}
		if (!strcmp(name, "--dry-run") || !strcmp(name, "--requeue") ||
		    !strcmp(name, "--no-requeue")) {
			if (v)
				return dj_cli_usage_error("submit", "%s takes no value", name);
			if (!strcmp(name, "--dry-run"))
				a->dry_run = true;
			else
				s->requeue = !strcmp(name, "--requeue"), a->requeue_set = true;
			continue;
		}
		if (!v) {
			if (i + 1 >= argc)
				return dj_cli_usage_error("submit",
				                          "unknown option or missing value '%s'", o);
			v = argv[++i];
		}
		int rc = DJ_EXIT_OK;
		if (!strcmp(name, "--nodes"))
			rc = count(name, v, &s->nodes);
		else if (!strcmp(name, "--ntasks"))
			rc = count(name, v, &s->ntasks);
		else if (!strcmp(name, "--ntasks-per-node"))
			rc = count(name, v, &s->ntasks_per_node);
		else if (!strcmp(name, "--cpus-per-task"))
			rc = count(name, v, &s->cpus_per_task);
		else if (!strcmp(name, "--max-requeue"))
			rc = count(name, v, &s->max_requeue);
		else if (!strcmp(name, "--time"))
			s->time = v;
		else if (!strcmp(name, "--partition"))
			s->partition = v;
		else if (!strcmp(name, "--account"))
			s->account = v;
		else if (!strcmp(name, "--mem"))
			s->mem = v;
		else if (!strcmp(name, "--qos"))
			s->qos = v;
		else if (!strcmp(name, "--job-name"))
			s->job_name = v;
		else if (!strcmp(name, "--array"))
			s->array = v;
		else if (!strcmp(name, "--mpi"))
			s->mpi = v;
		else if (!strcmp(name, "--signal"))
			s->signal = strcmp(v, "none") ? v : "";
		else if (!strcmp(name, "--launcher"))
			rc = launcher(v, &s->launcher);
		else if (!strcmp(name, "--workdir"))
			a->workdir = v;
		else if (!strcmp(name, "--log-dir"))
			a->log_dir = v;
		else if (!strcmp(name, "--script"))
			a->script = v;
		else
			return dj_cli_usage_error("submit", "unknown option '%s'", name);
		if (rc != DJ_EXIT_OK)
			return rc;
	}
	if (!s->argv || s->argc == 0)
		return dj_cli_usage_error("submit", "give the djrun command after --, e.g. "
		                                    "djrun submit --ntasks 4 -- populate lab.Spikes "
		                                    "--make ./make.py");
	return DJ_EXIT_OK;
}

/* `path` made absolute against `base` (malloc'd into *out). */
static int absolute(const char *base, const char *path, char **out)
{
	dj_buf b = DJ_BUF_INIT;
	int rc = path[0] == '/' ? dj_buf_adds(&b, path) : dj_buf_addf(&b, "%s/%s", base, path);
	while (rc == 0 && b.len > 1 && b.ptr[b.len - 1] == '/')
		dj_buf_setlen(&b, b.len - 1);
	*out = rc == 0 ? dj_buf_take(&b, NULL) : NULL;
	dj_buf_dispose(&b);
	return *out ? 0 : -1;
}

/* Write the script next to the logs (or to --script), then sbatch it. */
static int submit(submit_args *a, const dj_buf *script)
{
	dj_buf path = DJ_BUF_INIT, name = DJ_BUF_INIT, id = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	int rc = DJ_EXIT_FAILED;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	if (mkdir(a->spec.log_dir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "djrun: submit: cannot create the log directory '%s': %s\n",
		        a->spec.log_dir, strerror(errno));
		rc = DJ_EXIT_USAGE;
		goto done;
	}
	if (a->script ? dj_buf_adds(&path, a->script) < 0
	              : dj_submit_job_name(&name, &a->spec, &err) < 0 ||
	                    dj_buf_addf(&path, "%s/%s-%s-%ld.sbatch", a->spec.log_dir, name.ptr,
	                                stamp, (long)getpid()) < 0) {
		fprintf(stderr, "djrun: submit: out of memory\n");
		goto done;
	}
	if (dj_file_write(path.ptr, script->ptr, script->len, &err) < 0) {
		fprintf(stderr, "djrun: submit: %s\n", err.msg);
		rc = DJ_EXIT_USAGE;
		goto done;
	}
	chmod(path.ptr, 0755);
	if (dj_sbatch(path.ptr, &id, &err) < 0) {
		fprintf(stderr, "djrun: %s\n", err.msg);
		rc = err.code == DJ_ENOTFOUND ? DJ_EXIT_USAGE : DJ_EXIT_FAILED;
		goto done;
	}
	printf("%s\n", id.ptr);
	fprintf(stderr, "djrun: submitted job %s (script %s, log in %s)\n", id.ptr, path.ptr,
	        a->spec.log_dir);
	rc = fflush(stdout) == 0 ? DJ_EXIT_OK : DJ_EXIT_FAILED;
done:
	dj_buf_dispose(&path);
	dj_buf_dispose(&name);
	dj_buf_dispose(&id);
	return rc;
}

int dj_cmd_submit(int argc, char **argv)
{
	submit_args a;
	dj_buf self = DJ_BUF_INIT, script = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	json_t *conf = NULL;
	char cwd[PATH_MAX], *workdir = NULL, *log_dir = NULL, *conf_path = NULL;
	bool done = false;
	memset(&a, 0, sizeof(a));
	int rc = parse_args(argc, argv, &a, &done);
	if (rc != DJ_EXIT_OK || done)
		return rc;
	rc = DJ_EXIT_USAGE;
	if (!getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "djrun: submit: cannot read the working directory: %s\n",
		        strerror(errno));
		goto out;
	}
	if (absolute(cwd, a.workdir ? a.workdir : cwd, &workdir) < 0)
		goto nomem;
	if (dj_submit_find_config(workdir, &conf, &conf_path, &err) < 0 ||
	    dj_submit_apply_config(&a.spec, &a.requeue_set, conf, &err) < 0) {
		fprintf(stderr, "djrun: submit: %s\n", err.msg);
		goto out;
	}
	/* a relative log-dir from djrun.json is relative to the working directory */
	if (absolute(workdir, a.log_dir ? a.log_dir : a.spec.log_dir ? a.spec.log_dir : workdir,
	             &log_dir) < 0)
		goto nomem;
	if (dj_submit_self_path(&self, &err) < 0) {
		fprintf(stderr, "djrun: %s\n", err.msg);
		goto out;
	}
	a.spec.workdir = workdir;
	a.spec.log_dir = log_dir;
	a.spec.djrun = self.ptr;
	if (dj_submit_script(&script, &a.spec, &err) < 0) {
		rc = dj_cli_usage_error("submit", "%s", err.msg + (strncmp(err.msg, "submit: ", 8)
		                                                       ? 0
		                                                       : 8));
		goto out;
	}
	if (a.dry_run) {
		fwrite(script.ptr, 1, script.len, stdout);
		rc = fflush(stdout) == 0 ? DJ_EXIT_OK : DJ_EXIT_FAILED;
	} else {
		rc = submit(&a, &script);
	}
	goto out;
nomem:
	fprintf(stderr, "djrun: submit: out of memory\n");
	rc = DJ_EXIT_FAILED;
out:
	free((void *)a.spec.sbatch_extra);
	free((void *)a.spec.setup);
	free(workdir);
	free(log_dir);
	free(conf_path);
	json_decref(conf);
	dj_buf_dispose(&self);
	dj_buf_dispose(&script);
	return rc;
}
