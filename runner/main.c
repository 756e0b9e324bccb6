/* djrun: the command-line tool. Dispatches to runner/cmd_*.c through one table (STYLE.md §8). */
#include <stdio.h>
#include <string.h>

#include "runner/cli.h"
#include "runner/exit.h"

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} command;

static const command commands[] = {
	{"inspect", dj_cmd_inspect, "decode a blob or .npy file and print it as JSON"},
	{"config", dj_cmd_config, "print the effective configuration (secrets masked)"},
	{"describe", dj_cmd_describe, "describe a schema's tables and headings from the database"},
	{"selftest", dj_cmd_selftest, "test aid: run a toy job through the MPI coordinator"},
	{"fetch", dj_cmd_fetch, "print a table's rows as JSON lines, every value decoded"},
	{"jobs", dj_cmd_jobs, "show, refresh or clear the jobs queue of an auto-populated table"},
	{"store", dj_cmd_store, "list, read, write, delete objects in a store; usage per schema"},
	{"populate", dj_cmd_populate, "compute the pending keys of a table with a make command"},
	{"gc", dj_cmd_gc, "find (--collect: delete) store objects no row references"},
	{"verify", dj_cmd_verify, "check that every object a schema references exists (--deep: hashes)"},
	{"submit", dj_cmd_submit, "run populate, migrate or gc as a Slurm batch job (sbatch)"},
	{"status", dj_cmd_status, "jobs-table progress of a schema's tables, with Slurm job ids"},
	{"migrate", dj_cmd_migrate, "move in-table blobs to a store, resumably, verified"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: djrun <command> [options]\n"
		     "       djrun --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'djrun <command> --help' describes a command's options.\n\n"
		     "exit codes:\n"
		     "  0   all done (including nothing to do)\n"
		     "  1   some items, or the operation, failed\n"
		     "  2   usage or configuration error; nothing ran\n"
		     "  3   database or store unreachable at start\n"
		     "  75  drained on a signal; safe to requeue\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return DJ_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return DJ_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("djrun %s\n", DJ_VERSION);
		return DJ_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "djrun: unknown command '%s'\ntry 'djrun --help'\n", argv[1]);
	return DJ_EXIT_USAGE;
}
