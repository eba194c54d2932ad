/*
 * bc_job_wait_exit (include/blkclone/job.h): woken by the end of the
 * process a job record names, and never by another process that holds
 * its pid.  Every case is decided by what the call returns, not by how
 * long it took: a wait that is not woken runs into its 60 s limit and
 * returns 0, which fails the case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "blkclone/job.h"

#define LONG_MS 60000

/* What names a job's process (a whole record is large). */
struct who {
	int pid;
	uint64_t pid_start;
	char boot_id[sizeof(((struct bc_job *)0)->boot_id)];
};

/* A child that reports its own (pid, start time, boot) on @rep and then
 * runs until @hold's write end is closed; @j names it. */
static pid_t child(struct bc_job *j, int hold[2])
{
	struct who w;
	int rep[2];
	pid_t pid;

	assert_int_equal(pipe(rep), 0);
	assert_int_equal(pipe(hold), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static struct bc_job me;
		struct bc_error e = { 0 };
		char c;

		close(rep[0]);
		close(hold[1]);
		if (bc_job_set_self(&me, &e) < 0)
			_exit(2);
		w.pid = me.pid;
		w.pid_start = me.pid_start;
		memcpy(w.boot_id, me.boot_id, sizeof(w.boot_id));
		if (write(rep[1], &w, sizeof(w)) != (ssize_t)sizeof(w))
			_exit(3);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(rep[1]);
	close(hold[0]);
	assert_int_equal(read(rep[0], &w, sizeof(w)), (ssize_t)sizeof(w));
	close(rep[0]);
	j->pid = w.pid;
	j->pid_start = w.pid_start;
	memcpy(j->boot_id, w.boot_id, sizeof(j->boot_id));
	assert_int_equal(j->pid, pid);
	return pid;
}

/* The job's process runs: 0 at once with no time to wait; woken (1) by
 * its end, well before the limit. */
static void test_woken_by_the_end(void **state)
{
	static struct bc_job j;
	int hold[2], status;
	pid_t pid;

	(void)state;
	pid = child(&j, hold);
	assert_int_equal(bc_job_wait_exit(&j, 0), 0);
	close(hold[1]);		/* the child ends now */
	assert_int_equal(bc_job_wait_exit(&j, LONG_MS), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* ended and reaped: no such process */
	assert_int_equal(bc_job_wait_exit(&j, LONG_MS), 1);
}

/* A process with the job's pid that is not the job's (another start
 * time, another boot): the job has ended, at once, and the process that
 * holds the pid now is not waited on. */
static void test_not_the_jobs_process(void **state)
{
	static struct bc_job j;
	struct bc_error e = { 0 };

	(void)state;
	assert_int_equal(bc_job_set_self(&j, &e), 0);
	assert_int_equal(bc_job_wait_exit(&j, 0), 0);	/* this one runs */
	j.pid_start++;
	assert_int_equal(bc_job_wait_exit(&j, LONG_MS), 1);
	j.pid_start--;
	j.boot_id[0] = j.boot_id[0] == '0' ? '1' : '0';
	assert_int_equal(bc_job_wait_exit(&j, LONG_MS), 1);
}

/* A pid no process can have: refused, not waited on. */
static void test_bad_pid(void **state)
{
	static struct bc_job j;

	(void)state;
	j.pid = 0;
	assert_true(bc_job_wait_exit(&j, LONG_MS) < 0);
	j.pid = -1;
	assert_true(bc_job_wait_exit(&j, LONG_MS) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_woken_by_the_end),
		cmocka_unit_test(test_not_the_jobs_process),
		cmocka_unit_test(test_bad_pid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
