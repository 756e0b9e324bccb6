/* Running Slurm's commands (slurm/command.h), sbatch, and finding our own binary. */
#include "slurm/submit.h"
#include "slurm/command.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int dj_submit_self_path(dj_buf *out, dj_err *err)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0 || (size_t)n >= sizeof(path) - 1)
		return dj_err_os(err, "submit: cannot find the djrun binary (/proc/self/exe)");
	path[n] = '\0';
	return dj_buf_adds(out, path) ? dj_err_set(err, DJ_ENOMEM, "submit: out of memory") : 0;
}

/* Read both pipes to the end (the commands write little; poll keeps either from filling up). */
static int drain(int out_fd, int err_fd, dj_buf *out, dj_buf *errs)
{
	struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
	dj_buf *dst[2] = {out, errs};
	int open_fds = 2;
	char chunk[4096];
	while (open_fds > 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[i].fd = -1;
				open_fds--;
			} else if (dst[i] && dj_buf_add(dst[i], chunk, (size_t)n) < 0) {
				return -1;
			}
		}
	}
	return 0;
}

int dj_slurm_command(char *const argv[], dj_buf *out, dj_buf *errs, int *status, dj_err *err)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, st = 0, rc = 0;
	pid_t pid;
	*status = 127;
	if (pipe(po) < 0 || pipe(pe) < 0) {
		rc = dj_err_os(err, "%s: pipe", argv[0]);
		goto done;
	}
	if ((pid = fork()) < 0) {
		rc = dj_err_os(err, "%s: fork", argv[0]);
		goto done;
	}
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]), close(pe[1]);
	po[1] = pe[1] = -1;
	if (drain(po[0], pe[0], out, errs) < 0)
		rc = dj_err_os(err, "%s: reading its output", argv[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 127;
done:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return rc;
}

int dj_sbatch(const char *script_path, dj_buf *jobid, dj_err *err)
{
	char *argv[] = {"sbatch", "--parsable", (char *)script_path, NULL};
	dj_buf out = DJ_BUF_INIT, errs = DJ_BUF_INIT;
	int status, rc = dj_slurm_command(argv, &out, &errs, &status, err);
	if (rc < 0)
		goto done;
	/* "1234" or "1234;cluster", then a newline */
	size_t n = strcspn(out.ptr, ";\n");
	while (errs.len && (errs.ptr[errs.len - 1] == '\n' || errs.ptr[errs.len - 1] == ' '))
		dj_buf_setlen(&errs, errs.len - 1);
	if (status == 127)
		rc = dj_err_set(err, DJ_ENOTFOUND, "submit: sbatch not found (is Slurm installed?)");
	else if (status != 0 || n == 0)
		rc = dj_err_set(err, DJ_ERROR, "submit: sbatch refused the job: %s",
		                errs.len ? errs.ptr : "no message");
	else if (strspn(out.ptr, "0123456789_") != n)
		rc = dj_err_set(err, DJ_ERROR, "submit: unexpected sbatch output '%.*s'", (int)n,
		                out.ptr);
	else if (dj_buf_add(jobid, out.ptr, n) < 0)
		rc = dj_err_set(err, DJ_ENOMEM, "submit: out of memory");
done:
	dj_buf_dispose(&out);
	dj_buf_dispose(&errs);
	return rc;
}
