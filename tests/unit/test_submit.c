/* slurm/: the submit script's pieces (quoting, checks, arrays, launcher, reservation mode),
 * djrun.json defaults, and what the launch environment says (dj_launch_size, dj_launch_peers).
 * The whole script is checked line by line by tests/cli/submit.sh; jobs run in
 * tests/e2e/slurm_populate.sh on a real Slurm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "slurm/env.h"
#include "slurm/submit.h"

static void quote_is(const char *in, const char *want)
{
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_shell_quote(&b, in), 0);
	assert_string_equal(b.ptr, want);
	dj_buf_dispose(&b);
}

static void shell_quoting(void **state)
{
	(void)state;
	quote_is("lab.Spikes", "lab.Spikes");
	quote_is("--where=a,b:c@d%e+f/g", "--where=a,b:c@d%e+f/g");
	quote_is("", "''");
	quote_is("a b", "'a b'");
	quote_is("it's", "'it'\\''s'");
	quote_is("'", "''\\'''");
	quote_is("$HOME", "'$HOME'");
	quote_is("a\nb", "'a\nb'");
	quote_is("*", "'*'");
	quote_is("\\", "'\\'");
	quote_is("caf\xc3\xa9", "'caf\xc3\xa9'");
}

static char *argv_populate[] = {"populate", "lab.Spikes", "--make", "./make it.py"};

static dj_submit_spec base_spec(void)
{
	dj_submit_spec s;
	memset(&s, 0, sizeof(s));
	s.djrun = "/opt/djrun/bin/djrun";
	s.workdir = "/home/me/pipe";
	s.log_dir = "/home/me/pipe/logs";
	s.argv = argv_populate;
	s.argc = 4;
	return s;
}

static char *script(const dj_submit_spec *s)
{
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	if (dj_submit_script(&b, s, &err) < 0)
		fail_msg("script: %s", err.msg);
	return dj_buf_take(&b, NULL);
}

static void check_refuses(const dj_submit_spec *s, const char *needle)
{
	dj_err err = DJ_ERR_INIT;
	dj_buf b = DJ_BUF_INIT;
	assert_int_equal(dj_submit_script(&b, s, &err), DJ_EUSAGE);
	if (!strstr(err.msg, needle))
		fail_msg("'%s' does not say '%s'", err.msg, needle);
	assert_int_equal(b.len, 0);
	dj_buf_dispose(&b);
}

static void checks(void **state)
{
	(void)state;
	static const char *good_arrays[] = {"1", "3", "0-9", "0-9%4", "1,3,5-7:2", "5%1", "0-0"};
	static const char *bad_arrays[] = {"0", "3-1", "a", "1-", "-1", "1,,2", "0-9%0", "1-5:0",
	                                   "", "1 2"};
	dj_submit_spec s = base_spec();
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_submit_check(&s, &err), 0);
	for (size_t i = 0; i < sizeof(good_arrays) / sizeof(*good_arrays); i++) {
		s.array = good_arrays[i];
		if (dj_submit_check(&s, &err) != 0)
			fail_msg("--array %s refused: %s", good_arrays[i], err.msg);
	}
	for (size_t i = 0; i < sizeof(bad_arrays) / sizeof(*bad_arrays); i++) {
		s.array = bad_arrays[i];
		check_refuses(&s, "--array takes");
	}
	s = base_spec();
	s.time = "2h";
	check_refuses(&s, "--time");
	s.time = "1-12:00:00";
	assert_int_equal(dj_submit_check(&s, &err), 0);
	s.mem = "8GB";
	check_refuses(&s, "--mem");
	s.mem = "8G";
	s.partition = "a b";
	check_refuses(&s, "--partition");
	s.partition = "x\"y";
	check_refuses(&s, "--partition");
	s.partition = NULL;
	s.nodes = -1;
	check_refuses(&s, "--nodes");
	s.nodes = 0;
	s.log_dir = "relative/logs";
	check_refuses(&s, "absolute");
	s.log_dir = "/logs/%u";
	check_refuses(&s, "'%'");
	s = base_spec();
	char *describe[] = {"describe", "lab"};
	s.argv = describe;
	s.argc = 2;
	check_refuses(&s, "populate, migrate or gc");
	s.argc = 0;
	check_refuses(&s, "populate, migrate or gc");
	char *gc[] = {"gc", "lab"};
	s.argv = gc;
	s.argc = 2;
	s.array = "3";
	check_refuses(&s, "--array is for populate");
	s = base_spec();
	char *extra[] = {"constraint=x"};
	s.sbatch_extra = extra;
	s.nsbatch_extra = 1;
	check_refuses(&s, "--name=value");
}

static void launcher_and_arrays(void **state)
{
	(void)state;
	dj_submit_spec s = base_spec();
	assert_int_equal(dj_submit_launcher(&s), DJ_LAUNCH_NONE);
	s.ntasks = 2;
	assert_int_equal(dj_submit_launcher(&s), DJ_LAUNCH_SRUN);
	s.ntasks = 0;
	s.nodes = 2;
	assert_int_equal(dj_submit_launcher(&s), DJ_LAUNCH_SRUN);
	s.nodes = 1;
	s.ntasks_per_node = 1;
	assert_int_equal(dj_submit_launcher(&s), DJ_LAUNCH_NONE);
	s.launcher = DJ_LAUNCH_MPIRUN;
	assert_int_equal(dj_submit_launcher(&s), DJ_LAUNCH_MPIRUN);

	/* an array count becomes 0..N-1; populate reserves through the jobs table */
	s = base_spec();
	s.array = "4%2";
	char *text = script(&s);
	assert_non_null(strstr(text, "\n#SBATCH --array=0-3%2\n"));
	assert_non_null(strstr(text, "\n#SBATCH --output=/home/me/pipe/logs/"
	                             "djrun-populate-lab.Spikes-%A_%a.log\n"));
	assert_non_null(strstr(text, "\n/opt/djrun/bin/djrun populate --reserve-jobs lab.Spikes "
	                             "--make './make it.py' &\n"));
	assert_null(strstr(text, "srun"));
	free(text);
	/* not twice, and never against the user's choice; gc runs as one process */
	char *chosen[] = {"populate", "lab.S", "--no-reserve-jobs", "--", "x", "--reserve-jobs"};
	s.argv = chosen;
	s.argc = 6;
	text = script(&s);
	assert_null(strstr(text, "populate --reserve-jobs"));
	free(text);
	char *after_dashes[] = {"populate", "lab.S", "--", "x", "--reserve-jobs"};
	s.argv = after_dashes;
	s.argc = 5;
	text = script(&s);
	assert_non_null(strstr(text, "djrun populate --reserve-jobs lab.S -- x --reserve-jobs &"));
	free(text);
	char *gc[] = {"gc", "lab"};
	s.argv = gc;
	s.argc = 2;
	s.array = NULL;
	text = script(&s);
	assert_non_null(strstr(text, "\n/opt/djrun/bin/djrun gc lab &\n"));
	free(text);
}

static void script_details(void **state)
{
	(void)state;
	dj_submit_spec s = base_spec();
	s.ntasks = 4;
	s.cpus_per_task = 3;
	s.mpi = "pmix_v4";
	s.job_name = "nightly";
	s.signal = "";
	char *text = script(&s);
	assert_non_null(strstr(text, "#!/bin/bash\n"));
	assert_non_null(strstr(text, "\n#SBATCH --job-name=nightly\n"));
	assert_non_null(strstr(text, "\n#SBATCH --output=/home/me/pipe/logs/nightly-%j.log\n"));
	assert_non_null(strstr(text, "\nsrun --mpi=pmix_v4 --cpus-per-task=3 /opt/djrun/bin/djrun "
	                             "populate lab.Spikes"));
	assert_null(strstr(text, "#SBATCH --signal"));
	assert_null(strstr(text, "requeue"));
	assert_null(strstr(text, "module "));
	free(text);
	s = base_spec();
	s.requeue = true;
	text = script(&s);
	assert_non_null(strstr(text, "\n#SBATCH --signal=B:USR1@120\n"));
	assert_non_null(strstr(text, "\n#SBATCH --requeue\n"));
	assert_non_null(strstr(text, "\n#SBATCH --open-mode=append\n"));
	assert_non_null(strstr(text, "-lt 10 ]; then\n"));
	assert_non_null(strstr(text, "scontrol requeue \"$SLURM_JOB_ID\""));
	free(text);
	/* a job name from an odd target keeps to [A-Za-z0-9._-] */
	char *odd[] = {"populate", "lab.Sp ikes$x"};
	s = base_spec();
	s.argv = odd;
	s.argc = 2;
	dj_buf name = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	assert_int_equal(dj_submit_job_name(&name, &s, &err), 0);
	assert_string_equal(name.ptr, "djrun-populate-lab.Sp_ikes_x");
	dj_buf_dispose(&name);
}

static void config_defaults(void **state)
{
	(void)state;
	json_error_t je;
	json_t *doc = json_loads("{\"other\": 1, \"submit\": {\"nodes\": 2, \"time\": \"1:00:00\", "
	                         "\"partition\": \"short\", \"requeue\": true, \"launcher\": "
	                         "\"mpirun\", \"sbatch\": [\"--qos=low\"], \"setup\": [\"ml x\"]}}",
	                         0, &je);
	assert_non_null(doc);
	dj_submit_spec s = base_spec();
	dj_err err = DJ_ERR_INIT;
	bool requeue_set = false;
	s.time = "5"; /* from the command line: kept */
	assert_int_equal(dj_submit_apply_config(&s, &requeue_set, doc, &err), 0);
	assert_int_equal(s.nodes, 2);
	assert_string_equal(s.time, "5");
	assert_string_equal(s.partition, "short");
	assert_true(s.requeue);
	assert_int_equal(s.launcher, DJ_LAUNCH_MPIRUN);
	assert_int_equal(s.nsbatch_extra, 1);
	assert_string_equal(s.sbatch_extra[0], "--qos=low");
	assert_string_equal(s.setup[0], "ml x");
	free((void *)s.sbatch_extra);
	free((void *)s.setup);
	/* --no-requeue on the command line wins */
	s = base_spec();
	requeue_set = true;
	assert_int_equal(dj_submit_apply_config(&s, &requeue_set, doc, &err), 0);
	assert_false(s.requeue);
	free((void *)s.sbatch_extra);
	free((void *)s.setup);
	json_decref(doc);

	static const char *bad[] = {
	    "{\"submit\": {\"nodes\": \"2\"}}",   "{\"submit\": {\"nodes\": 0}}",
	    "{\"submit\": {\"launcher\": \"x\"}}", "{\"submit\": {\"sbatch\": \"--a=b\"}}",
	    "{\"submit\": {\"sbatch\": [1]}}",     "{\"submit\": {\"bogus\": 1}}",
	    "{\"submit\": []}",                    "{\"submit\": {\"requeue\": \"yes\"}}",
	    "{\"submit\": {\"array\": 3}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		doc = json_loads(bad[i], 0, &je);
		assert_non_null(doc);
		s = base_spec();
		requeue_set = false;
		dj_err_clear(&err);
		if (dj_submit_apply_config(&s, &requeue_set, doc, &err) != DJ_EFORMAT)
			fail_msg("accepted %s", bad[i]);
		free((void *)s.sbatch_extra);
		free((void *)s.setup);
		json_decref(doc);
	}
}

static void config_search(void **state)
{
	(void)state;
	const char *base = getenv("DJ_TEST_TMP") ? getenv("DJ_TEST_TMP") : "/tmp";
	char root[512], deep[600], file[600];
	snprintf(root, sizeof(root), "%s/submit_conf_%d", base, (int)getpid());
	snprintf(deep, sizeof(deep), "%s/a/b", root);
	snprintf(file, sizeof(file), "%s/djrun.json", root);
	mkdir(base, 0777);
	mkdir(root, 0777);
	snprintf(deep, sizeof(deep), "%s/a", root);
	mkdir(deep, 0777);
	snprintf(deep, sizeof(deep), "%s/a/b", root);
	mkdir(deep, 0777);
	json_t *doc = NULL;
	char *path = NULL;
	dj_err err = DJ_ERR_INIT;
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("{\"submit\": {\"nodes\": 3}}", f);
	fclose(f);
	assert_int_equal(dj_submit_find_config(deep, &doc, &path, &err), 0);
	assert_non_null(doc);
	assert_string_equal(path, file);
	json_decref(doc);
	free(path);
	f = fopen(file, "w");
	fputs("{\"submit\": ", f);
	fclose(f);
	assert_int_equal(dj_submit_find_config(deep, &doc, &path, &err), DJ_EFORMAT);
	assert_non_null(strstr(err.msg, "djrun.json"));
	assert_null(doc);
	unlink(file);
	rmdir(deep);
	snprintf(deep, sizeof(deep), "%s/a", root);
	rmdir(deep);
	rmdir(root);
}

static void launch_environment(void **state)
{
	(void)state;
	static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
	                             "SLURM_STEP_NUM_TASKS", "SLURM_ARRAY_TASK_COUNT"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		unsetenv(vars[i]);
	assert_int_equal(dj_launch_size(), 0);
	assert_int_equal(dj_launch_peers(), 1);
	/* array tasks, each one process */
	setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
	assert_int_equal(dj_launch_peers(), 3);
	/* srun without MPI: every task a peer */
	setenv("SLURM_STEP_NUM_TASKS", "2", 1);
	assert_int_equal(dj_launch_peers(), 6);
	unsetenv("SLURM_ARRAY_TASK_COUNT");
	assert_int_equal(dj_launch_peers(), 2);
	/* srun --mpi=pmix: ranks of one job, not peers */
	setenv("PMIX_RANK", "1", 1);
	assert_int_equal(dj_launch_size(), 2);
	assert_int_equal(dj_launch_peers(), 1);
	unsetenv("PMIX_RANK");
	setenv("SLURM_STEP_NUM_TASKS", "x", 1);
	assert_int_equal(dj_launch_peers(), 1);
	unsetenv("SLURM_STEP_NUM_TASKS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(shell_quoting),   cmocka_unit_test(checks),
	    cmocka_unit_test(launcher_and_arrays), cmocka_unit_test(script_details),
	    cmocka_unit_test(config_defaults), cmocka_unit_test(config_search),
	    cmocka_unit_test(launch_environment),
	};
	return cmocka_run_group_tests_name("submit", tests, NULL, NULL);
}
