#include "jobs/job.h"

#include "runner/exit.h"

const char *dj_job_outcome_name(dj_job_outcome o)
{
	switch (o) {
	case DJ_JOB_DONE:
		return "done";
	case DJ_JOB_FAILED:
		return "failed";
	case DJ_JOB_SKIPPED:
		return "skipped";
	case DJ_JOB_RELEASED:
		return "released";
	}
	return "?";
}

int dj_job_exit_code(const dj_tally *t, int rc)
{
	if (t->rank != 0)
		return rc < 0 ? DJ_EXIT_FAILED : DJ_EXIT_OK;
	/* A signal wins over failures: the items left were released, so requeueing is the
	 * right reaction, and the failed ones are already recorded as failed. */
	if (t->signal && !t->complete)
		return DJ_EXIT_DRAINED;
	if (rc < 0 || t->failed > 0 || !t->complete)
		return DJ_EXIT_FAILED;
	return DJ_EXIT_OK;
}
