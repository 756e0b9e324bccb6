/* Exit codes, defined once (STYLE.md §8); repeated in --help and the README. */
#ifndef DJ_RUNNER_EXIT_H
#define DJ_RUNNER_EXIT_H

enum {
	DJ_EXIT_OK = 0,          /* all done, including nothing to do */
	DJ_EXIT_FAILED = 1,      /* some items (or the one operation) failed */
	DJ_EXIT_USAGE = 2,       /* usage or configuration error; nothing ran */
	DJ_EXIT_UNREACHABLE = 3, /* database or store unreachable at start */
	DJ_EXIT_DRAINED = 75,    /* EX_TEMPFAIL: drained on a signal, safe to requeue */
};

#endif
