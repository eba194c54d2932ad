/*
 * Run a command and write what it cost, for bench/bench-iscsi.sh (built
 * by it with cc; not part of blkclone):
 *   measure OUTFILE CMD [ARGS...]
 * OUTFILE gets "SECONDS MAXRSS_KIB RCHAR WCHAR CPU SWITCHES": wall time; peak resident
 * set (the kernel's ru_maxrss, what GNU time's %M prints; like time, this
 * small program is what the child was before exec, so that is the floor);
 * bytes the process read and wrote through system calls, sockets and
 * files alike (for an iSCSI initiator: the data it moved plus the
 * protocol), from /proc/PID/io read while it is a zombie (waited for with
 * WNOWAIT), so every thread's count is in; the CPU seconds it spent, user
 * and system, all threads; and its context switches, voluntary and not
 * (ru_nvcsw + ru_nivcsw: each hand-off between threads costs two).
 * Exits as the command did.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	unsigned long long rchar = 0, wchar = 0;
	struct rusage ru;
	siginfo_t si;
	char path[64], line[128];
	FILE *f;
	int status;
	pid_t pid;

	if (argc < 3)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &b);
	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	if ((f = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "rchar: %llu", &rchar);
			sscanf(line, "wchar: %llu", &wchar);
		}
		fclose(f);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return 2;
	if (!(f = fopen(argv[1], "w")))
		return 2;
	fprintf(f, "%.3f %ld %llu %llu %.3f %ld\n", (double)(b.tv_sec - a.tv_sec) +
		(double)(b.tv_nsec - a.tv_nsec) / 1e9, ru.ru_maxrss, rchar, wchar,
		(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
		ru.ru_nvcsw + ru.ru_nivcsw);
	fclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
