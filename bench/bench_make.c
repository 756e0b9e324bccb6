/*
 * bench_make: the per-key cost of each make form alone (jobs/make.h), in this process, no
 * database: keys {"item_id": i} through dj_maker_run, results checked. Forms, each with a
 * trivial make that sets sq = i*i:
 *   command  python3 per key (reads key.json, writes outputs/row.json)
 *   server   python3 tests/plugins/square_server.py --min (one process, JSON lines)
 *   plugin   plugins/square.so min (djrun_make.h)
 * Baselines from the same run: fork+exec+wait of /bin/true and `python3 -c pass` (the floor
 * of a command form), a python3 server answering a constant line with no JSON work (the floor
 * of the server form's pipe round trip; `sed -u` the same without python), what a fresh
 * scratch directory per key would cost in /tmp (why the server form empties one instead), and
 * a json_loads + json_dumps of the key (a floor for the plugin form). Goals (issue 5): server >=
 * 2,000 keys/s, plugin well under 0.1 ms/key. Usage: ./bench_make [server-keys]   (command: 1/100
 * of it, plugin: 10x; default 20000)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/make.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const dj_err *err)
{
	fprintf(stderr, "bench_make: %s: %s\n", what, err->msg);
	exit(1);
}

/* Run n keys through a maker; with `check`, every result must carry the right sq. Returns
 * seconds. */
static double run_keys(const char *what, const dj_make_opts *o, size_t n, int check)
{
	dj_maker *m = NULL;
	dj_err err = DJ_ERR_INIT;
	dj_buf res = DJ_BUF_INIT, tail = DJ_BUF_INIT;
	if (dj_maker_open(&m, o, &err) < 0)
		die(what, &err);
	/* one key first: a server's or interpreter's start-up is not per-key cost */
	if (dj_maker_run(m, "{\"item_id\": 0}", NULL, 0, &res, &tail, &err) < 0)
		die(what, &err);
	double t0 = now();
	for (size_t i = 1; i <= n; i++) {
		char key[64], want[64];
		snprintf(key, sizeof(key), "{\"item_id\": %zu}", i);
		snprintf(want, sizeof(want), "\"sq\":%zu", i * i);
		dj_buf_setlen(&res, 0);
		if (dj_maker_run(m, key, NULL, 0, &res, &tail, &err) < 0)
			die(what, &err);
		if (check && !strstr(res.ptr, want)) {
			fprintf(stderr, "bench_make: %s: wrong result %s\n", what, res.ptr);
			exit(1);
		}
	}
	double t = now() - t0;
	dj_maker_close(m);
	dj_buf_dispose(&res);
	dj_buf_dispose(&tail);
	return t;
}

/* fork + exec + wait of argv, n times. */
static double spawn(char *const *argv, size_t n)
{
	double t0 = now();
	for (size_t i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			execvp(argv[0], argv);
			_exit(127);
		}
		int st;
		waitpid(pid, &st, 0);
	}
	return now() - t0;
}

/* What a new scratch directory per key would cost (no inputs, nothing written). */
static double scratch(size_t n)
{
	double t0 = now();
	for (size_t i = 0; i < n; i++) {
		char d[64] = "/tmp/djrun-make-XXXXXX", o[80];
		if (!mkdtemp(d))
			exit(1);
		snprintf(o, sizeof(o), "%s/outputs", d);
		if (mkdir(o, 0777) < 0 || rmdir(o) < 0 || rmdir(d) < 0)
			exit(1);
	}
	return now() - t0;
}

static void line(const char *name, size_t n, double t)
{
	printf("%-46s %8zu keys %10.1f keys/s %10.1f us/key\n", name, n, n / t, t / n * 1e6);
}

int main(int argc, char **argv)
{
	size_t ns = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000, nc = ns / 100 ? ns / 100 : 1,
	       np = ns * 10;
	char *py_make[] = {"python3", "-c",
	                   "import json, os\n"
	                   "k = json.load(open(os.environ['DJRUN_KEY_JSON']))\n"
	                   "json.dump({'sq': k['item_id'] ** 2},"
	                   " open(os.environ['DJRUN_OUTPUT_DIR'] + '/row.json', 'w'))\n",
	                   NULL};
	char *server[] = {"python3", DJ_TEST_SOURCE "/tests/plugins/square_server.py", "--min",
	                  NULL};
	char *constant[] = {"python3", "-c",
	                    "import sys\n"
	                    "for l in sys.stdin:\n"
	                    "    sys.stdout.write('{\"row\": {}}\\n'); sys.stdout.flush()\n",
	                    NULL};
	char *sed[] = {"sed", "-u", "s/.*/{\"row\": {}}/", NULL};
	char *plugin_args[] = {DJ_TEST_PLUGINS "/square.so", "min", NULL};
	char *bin_true[] = {"/bin/true", NULL}, *py_pass[] = {"python3", "-c", "pass", NULL};

	dj_make_opts cmd = {.kind = DJ_MAKE_COMMAND, .argv = py_make};
	dj_make_opts srv = {.kind = DJ_MAKE_SERVER, .argv = server};
	dj_make_opts cst = {.kind = DJ_MAKE_SERVER, .argv = constant};
	dj_make_opts sd = {.kind = DJ_MAKE_SERVER, .argv = sed};
	dj_make_opts plg = {.kind = DJ_MAKE_PLUGIN, .plugin = plugin_args[0], .argv = plugin_args};

	printf("make forms, trivial make (sq = i*i), one process, no database\n");
	line("command: python3 per key", nc, run_keys("command", &cmd, nc, 1));
	line("  baseline: fork+exec+wait /bin/true", nc, spawn(bin_true, nc));
	line("  baseline: fork+exec+wait python3 -c pass", nc, spawn(py_pass, nc));
	line("server: python3 square_server.py --min", ns, run_keys("server", &srv, ns, 1));
	line("  baseline: python3 server, constant reply", ns, run_keys("constant", &cst, ns, 0));
	line("  baseline: sed -u, constant reply (no python)", ns, run_keys("sed", &sd, ns, 0));
	line("  for scale: a new scratch dir per key (not done)", ns, scratch(ns));
	line("plugin: square.so min", np, run_keys("plugin", &plg, np, 1));
	double t0 = now();
	for (size_t i = 0; i < np; i++) {
		char key[64];
		json_error_t je;
		snprintf(key, sizeof(key), "{\"item_id\": %zu}", i);
		json_t *j = json_loads(key, 0, &je);
		char *s = json_dumps(j, JSON_COMPACT);
		free(s);
		json_decref(j);
	}
	line("  baseline: json_loads + json_dumps of the key", np, now() - t0);
	printf("goals: server >= 2000 keys/s, plugin < 100 us/key\n");
	return 0;
}
