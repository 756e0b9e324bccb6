/* The batch script of `djrun submit` (slurm/submit.h). */
#include "slurm/submit.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int nomem(int rc, dj_err *err)
{
	return rc == DJ_ENOMEM ? dj_err_set(err, DJ_ENOMEM, "submit: out of memory") : rc;
}

int dj_shell_quote(dj_buf *out, const char *arg)
{
	static const char safe[] = "_@%+=:,./-";
	bool bare = *arg != '\0';
	int rc = 0;
	for (const char *p = arg; *p && bare; p++)
		bare = isalnum((unsigned char)*p) || strchr(safe, *p);
	if (bare)
		return dj_buf_adds(out, arg);
	rc = dj_buf_addc(out, '\'');
	for (const char *p = arg; *p && rc == 0; p++)
		rc = *p == '\'' ? dj_buf_adds(out, "'\\''") : dj_buf_addc(out, *p);
	return rc ? rc : dj_buf_addc(out, '\'');
}

/* A value for an #SBATCH line: one word, no quoting sbatch or the shell would interpret. */
static bool sbatch_word(const char *v)
{
	if (!*v)
		return false;
	for (const char *p = v; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) || strchr("'\"\\`$#", *p))
			return false;
	return true;
}

static bool all_of(const char *v, const char *chars)
{
	if (!*v)
		return false;
	for (const char *p = v; *p; p++)
		if (!isdigit((unsigned char)*p) && !strchr(chars, *p))
			return false;
	return true;
}

/* Unsigned decimal at *p; advances it. */
static bool digits(const char **p, long *v)
{
	char *end;
	if (!isdigit((unsigned char)**p))
		return false;
	errno = 0;
	*v = strtol(*p, &end, 10);
	*p = end;
	return errno == 0;
}

/* Slurm's array syntax: RANGE[,RANGE...][%LIMIT], RANGE = A[-B[:STEP]]; or a plain count N. */
static bool array_syntax(const char *v)
{
	const char *p = v;
	long a, b, step, limit;
	for (;;) {
		if (!digits(&p, &a))
			return false;
		if (*p == '-') {
			p++;
			if (!digits(&p, &b) || b < a)
				return false;
			if (*p == ':' && (p++, !digits(&p, &step) || step < 1))
				return false;
		}
		if (*p != ',')
			break;
		p++;
	}
	if (*p == '%' && (p++, !digits(&p, &limit) || limit < 1))
		return false;
	return *p == '\0';
}

/* "N" alone (optionally "N%L") means N tasks, 0..N-1: Slurm would read it as the task id N. */
static bool array_count(const char *v, long *n, const char **limit)
{
	const char *p = v;
	if (!digits(&p, n) || (*p && *p != '%'))
		return false;
	*limit = p;
	return true;
}

static bool is_command(const char *c)
{
	return !strcmp(c, "populate") || !strcmp(c, "migrate") || !strcmp(c, "gc");
}

int dj_submit_check(const dj_submit_spec *s, dj_err *err)
{
	const struct {
		const char *name, *v;
	} words[] = {{"--partition", s->partition}, {"--account", s->account},
	             {"--qos", s->qos},             {"--job-name", s->job_name},
	             {"--mpi", s->mpi}};
	const struct {
		const char *name;
		int v;
	} counts[] = {{"--nodes", s->nodes},
	              {"--ntasks", s->ntasks},
	              {"--ntasks-per-node", s->ntasks_per_node},
	              {"--cpus-per-task", s->cpus_per_task},
	              {"--max-requeue", s->max_requeue}};
	long n;
	const char *limit;
	if (s->argc < 1 || !is_command(s->argv[0]))
		return dj_err_set(err, DJ_EUSAGE,
		                  "submit: give the djrun command after --: populate, migrate or gc "
		                  "(not '%s')",
		                  s->argc ? s->argv[0] : "");
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].v && !sbatch_word(words[i].v))
			return dj_err_set(err, DJ_EUSAGE,
			                  "submit: %s takes one word without spaces or quotes, not '%s'",
			                  words[i].name, words[i].v);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (counts[i].v < 0)
			return dj_err_set(err, DJ_EUSAGE, "submit: %s takes a number >= 1",
			                  counts[i].name);
	if (s->time && !(all_of(s->time, ":-") || !strcmp(s->time, "UNLIMITED") ||
	                 !strcmp(s->time, "infinite")))
		return dj_err_set(err, DJ_EUSAGE,
		                  "submit: --time takes minutes, MM:SS, HH:MM:SS or D-HH:MM:SS, not '%s'",
		                  s->time);
	if (s->mem) {
		size_t len = strlen(s->mem);
		bool ok = len > 0 && isdigit((unsigned char)s->mem[0]);
		for (size_t i = 1; ok && i < len; i++)
			ok = isdigit((unsigned char)s->mem[i]) ||
			     (i == len - 1 && strchr("KMGTkmgt", s->mem[i]));
		if (!ok)
			return dj_err_set(err, DJ_EUSAGE,
			                  "submit: --mem takes a size like 4000, 500M or 8G, not '%s'",
			                  s->mem);
	}
	if (s->array && (!array_syntax(s->array) || (array_count(s->array, &n, &limit) && n < 1)))
		return dj_err_set(err, DJ_EUSAGE,
		                  "submit: --array takes a task count N or Slurm's A-B[%%L] form, not "
		                  "'%s'",
		                  s->array);
	if (s->array && strcmp(s->argv[0], "populate"))
		return dj_err_set(err, DJ_EUSAGE,
		                  "submit: --array is for populate (its tasks share keys through the "
		                  "jobs table); run %s as one job, with --ntasks for more ranks",
		                  s->argv[0]);
	if (s->signal && *s->signal && !(all_of(s->signal, ":@") || sbatch_word(s->signal)))
		return dj_err_set(err, DJ_EUSAGE, "submit: --signal takes [B:]SIG[@SECONDS], not '%s'",
		                  s->signal);
	if (!s->djrun || s->djrun[0] != '/' || !s->workdir || s->workdir[0] != '/' ||
	    !s->log_dir || s->log_dir[0] != '/')
		return dj_err_set(err, DJ_EUSAGE, "submit: the djrun binary, working directory and "
		                                  "log directory must be absolute paths");
	if (!sbatch_word(s->log_dir) || strchr(s->log_dir, '%'))
		return dj_err_set(err, DJ_EUSAGE,
		                  "submit: the log directory '%s' must not contain spaces, quotes or "
		                  "'%%' (it goes into an #SBATCH line)",
		                  s->log_dir);
	for (size_t i = 0; i < s->nsbatch_extra; i++)
		if (strncmp(s->sbatch_extra[i], "--", 2) || !sbatch_word(s->sbatch_extra[i]))
			return dj_err_set(err, DJ_EUSAGE,
			                  "submit: an extra sbatch option must look like --name=value, "
			                  "not '%s'",
			                  s->sbatch_extra[i]);
	for (size_t i = 0; i < s->nsetup; i++)
		if (strchr(s->setup[i], '\n'))
			return dj_err_set(err, DJ_EUSAGE, "submit: a setup line holds one line");
	for (size_t i = 0; i < s->argc; i++)
		if (!s->argv[i])
			return dj_err_set(err, DJ_EUSAGE, "submit: null argument");
	return 0;
}

static long total_tasks(const dj_submit_spec *s)
{
	if (s->ntasks)
		return s->ntasks;
	return (long)(s->nodes ? s->nodes : 1) * (s->ntasks_per_node ? s->ntasks_per_node : 1);
}

dj_launcher dj_submit_launcher(const dj_submit_spec *s)
{
	if (s->launcher != DJ_LAUNCH_AUTO)
		return s->launcher;
	return total_tasks(s) > 1 ? DJ_LAUNCH_SRUN : DJ_LAUNCH_NONE;
}

int dj_submit_job_name(dj_buf *out, const dj_submit_spec *s, dj_err *err)
{
	int rc;
	if (s->job_name)
		return nomem(dj_buf_adds(out, s->job_name), err);
	rc = dj_buf_addf(out, "djrun-%s", s->argc ? s->argv[0] : "job");
	/* the first argument when it is a target (populate lab.Spikes), not an option */
	if (rc == 0 && s->argc > 1 && s->argv[1][0] != '-' && s->argv[1][0]) {
		rc = dj_buf_addc(out, '-');
		for (const char *p = s->argv[1]; *p && rc == 0 && p - s->argv[1] < 64; p++)
			rc = dj_buf_addc(out, isalnum((unsigned char)*p) || strchr("._-", *p) ? *p : '_');
	}
	return nomem(rc, err);
}

/* Whether the populate command already chooses its reservation mode. */
static bool chooses_reservation(const dj_submit_spec *s)
{
	for (size_t i = 1; i < s->argc; i++) {
		if (!strcmp(s->argv[i], "--"))
			return false;
		if (!strcmp(s->argv[i], "--reserve-jobs") || !strcmp(s->argv[i], "--no-reserve-jobs"))
			return true;
	}
	return false;
}

static int sbatch_line(dj_buf *out, const char *name, const char *value)
{
	return value ? dj_buf_addf(out, "#SBATCH --%s=%s\n", name, value) : 0;
}

static int sbatch_count(dj_buf *out, const char *name, int value)
{
	return value > 0 ? dj_buf_addf(out, "#SBATCH --%s=%d\n", name, value) : 0;
}

static int directives(dj_buf *out, const dj_submit_spec *s, const char *name, dj_err *err)
{
	char array[64];
	const char *array_value = s->array, *limit;
	long n;
	int rc;
	if (s->array && array_count(s->array, &n, &limit)) {
		snprintf(array, sizeof(array), "0-%ld%s", n - 1, limit);
		array_value = array;
	}
	const char *signal = s->signal ? s->signal : DJ_SUBMIT_SIGNAL_DEFAULT;
	if ((rc = sbatch_line(out, "job-name", name)) || (rc = sbatch_count(out, "nodes", s->nodes)) ||
	    (rc = sbatch_count(out, "ntasks", s->ntasks)) ||
	    (rc = sbatch_count(out, "ntasks-per-node", s->ntasks_per_node)) ||
	    (rc = sbatch_count(out, "cpus-per-task", s->cpus_per_task)) ||
	    (rc = sbatch_line(out, "mem", s->mem)) || (rc = sbatch_line(out, "time", s->time)) ||
	    (rc = sbatch_line(out, "partition", s->partition)) ||
	    (rc = sbatch_line(out, "account", s->account)) ||
	    (rc = sbatch_line(out, "qos", s->qos)) || (rc = sbatch_line(out, "array", array_value)))
		return nomem(rc, err);
	rc = dj_buf_addf(out, "#SBATCH --output=%s/%s-%s.log\n", s->log_dir, name,
	                 s->array ? "%A_%a" : "%j");
	/* a requeued job writes on in the same log instead of truncating it */
	if (rc == 0 && s->requeue)
		rc = dj_buf_adds(out, "#SBATCH --open-mode=append\n");
	if (rc == 0 && *signal)
		rc = sbatch_line(out, "signal", signal);
	if (rc == 0 && s->requeue)
		rc = dj_buf_adds(out, "#SBATCH --requeue\n");
	for (size_t i = 0; rc == 0 && i < s->nsbatch_extra; i++)
		rc = dj_buf_addf(out, "#SBATCH %s\n", s->sbatch_extra[i]);
	return nomem(rc, err);
}

/* The launcher words and the djrun command, on one line. */
static int command_line(dj_buf *out, const dj_submit_spec *s)
{
	int rc = 0;
	switch (dj_submit_launcher(s)) {
	case DJ_LAUNCH_SRUN:
		rc = dj_buf_addf(out, "srun --mpi=%s ", s->mpi ? s->mpi : "pmix");
		/* Slurm 22.05's srun does not inherit the batch job's --cpus-per-task */
		if (rc == 0 && s->cpus_per_task > 0)
			rc = dj_buf_addf(out, "--cpus-per-task=%d ", s->cpus_per_task);
		break;
	case DJ_LAUNCH_MPIRUN:
		rc = dj_buf_adds(out, "mpirun ");
		break;
	default:
		break;
	}
	if (rc == 0)
		rc = dj_shell_quote(out, s->djrun);
	for (size_t i = 0; rc == 0 && i < s->argc; i++) {
		if ((rc = dj_buf_addc(out, ' ')) == 0)
			rc = dj_shell_quote(out, s->argv[i]);
		/* array tasks (or several independent jobs) share keys through the jobs table */
		if (rc == 0 && i == 0 && s->array && !strcmp(s->argv[0], "populate") &&
		    !chooses_reservation(s))
			rc = dj_buf_adds(out, " --reserve-jobs");
	}
	return rc;
}

static const char relay_text[] =
    "# Slurm's warning signal (--signal=B:...) and `scancel --batch` reach this shell only: pass\n"
    "# them on to djrun as SIGUSR1, on which it finishes and commits the running keys, releases\n"
    "# the others and exits 75.\n"
    "relayed=0 djrun_pid=\n"
    "relay() { relayed=1; [ -z \"$djrun_pid\" ] || kill -USR1 \"$djrun_pid\" 2>/dev/null; }\n"
    "trap relay USR1 TERM INT\n\n";

static const char wait_text[] =
    "djrun_pid=$!\n"
    "[ \"$relayed\" = 0 ] || kill -USR1 \"$djrun_pid\" 2>/dev/null\n"
    "wait \"$djrun_pid\"; rc=$?\n"
    "# a relayed signal interrupts wait: wait again for djrun's own exit status\n"
    "while [ \"$relayed\" = 1 ]; do relayed=0; wait \"$djrun_pid\"; rc=$?; done\n"
    "echo \"djrun submit: djrun exited with status $rc at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n";

int dj_submit_script(dj_buf *out, const dj_submit_spec *s, dj_err *err)
{
	dj_buf name = DJ_BUF_INIT;
	int rc;
	if ((rc = dj_submit_check(s, err)) < 0 || (rc = dj_submit_job_name(&name, s, err)) < 0)
		goto done;
	if (!sbatch_word(name.ptr)) {
		rc = dj_err_set(err, DJ_EUSAGE, "submit: bad job name '%s'", name.ptr);
		goto done;
	}
	if ((rc = dj_buf_addf(out,
	                      "#!/bin/bash\n"
	                      "# Written by djrun submit (djrun %s). Submit it again with: sbatch "
	                      "THIS_FILE\n",
	                      DJ_VERSION)) ||
	    (rc = directives(out, s, name.ptr, err)))
		goto done;
	rc = dj_buf_adds(out, "\nset -u\ncd ");
	if (rc == 0 && (rc = dj_shell_quote(out, s->workdir)) == 0)
		rc = dj_buf_adds(out, " || exit 2\n");
	for (size_t i = 0; rc == 0 && i < s->nsetup; i++)
		rc = dj_buf_addf(out, "%s\n", s->setup[i]);
	if (rc == 0)
		rc = dj_buf_adds(out,
		                 "echo \"djrun submit: job $SLURM_JOB_ID${SLURM_ARRAY_TASK_ID:+ (array "
		                 "task $SLURM_ARRAY_TASK_ID)}, restart ${SLURM_RESTART_COUNT:-0}, on "
		                 "$(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n\n");
	if (rc == 0)
		rc = dj_buf_adds(out, relay_text);
	if (rc == 0)
		rc = command_line(out, s);
	if (rc == 0)
		rc = dj_buf_adds(out, " &\n");
	if (rc == 0)
		rc = dj_buf_adds(out, wait_text);
	if (rc == 0 && s->requeue)
		rc = dj_buf_addf(
		    out,
		    "# drained (time limit, preemption): requeue, and the job resumes where it "
		    "stopped\n"
		    "if [ \"$rc\" = 75 ] && [ \"${SLURM_RESTART_COUNT:-0}\" -lt %d ]; then\n"
		    "\techo \"djrun submit: requeueing job $SLURM_JOB_ID\"\n"
		    "\tscontrol requeue \"$SLURM_JOB_ID\"\n"
		    "fi\n",
		    s->max_requeue > 0 ? s->max_requeue : DJ_SUBMIT_MAX_REQUEUE_DEFAULT);
	if (rc == 0)
		rc = dj_buf_adds(out, "exit \"$rc\"\n");
	rc = nomem(rc, err);
done:
	dj_buf_dispose(&name);
	return rc;
}
