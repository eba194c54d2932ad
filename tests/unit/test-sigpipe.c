// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SIGPIPE held off around a write (src/util/sigpipe.h), with the signal's
 * default action in force: a guard that let the signal through ends this
 * test by SIGPIPE, which the harness reports as a failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/sigpipe.h"

/* A write to a pipe nobody reads: EPIPE, and SIGPIPE raised at this
 * thread. */
static void write_to_closed_pipe(void)
{
	int fd[2];
	ssize_t n;

	assert_int_equal(pipe(fd), 0);
	close(fd[0]);
	n = write(fd[1], "x", 1);
	assert_int_equal(n, -1);
	assert_int_equal(errno, EPIPE);
	close(fd[1]);
}

static int pipe_pending(void)
{
	sigset_t pending;

	assert_int_equal(sigpending(&pending), 0);
	return sigismember(&pending, SIGPIPE);
}

static int pipe_blocked(void)
{
	sigset_t now;

	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &now), 0);
	return sigismember(&now, SIGPIPE);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_DFL);
	return 0;
}

/* The signal the write raised is taken back: the process lives on, and
 * nothing is pending or blocked after. */
static void test_raised_signal_taken_back(void **state)
{
	struct bc_sigpipe_guard g;

	(void)state;
	bc_sigpipe_block(&g);
	assert_true(pipe_blocked());
	write_to_closed_pipe();
	assert_true(pipe_pending());
	bc_sigpipe_restore(&g);
	assert_false(pipe_pending());
	assert_false(pipe_blocked());
}

/* No write failed: the mask is as it was. */
static void test_nothing_raised(void **state)
{
	struct bc_sigpipe_guard g;

	(void)state;
	bc_sigpipe_block(&g);
	bc_sigpipe_restore(&g);
	assert_false(pipe_pending());
	assert_false(pipe_blocked());
}

/* A caller that blocks SIGPIPE itself keeps its pending signal: it may
 * be the caller's own, and the caller will look for it. */
static void test_callers_own_signal_kept(void **state)
{
	struct bc_sigpipe_guard g;
	struct timespec none = { 0, 0 };
	sigset_t pipe_set;

	(void)state;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &pipe_set, NULL), 0);
	write_to_closed_pipe();
	bc_sigpipe_block(&g);
	write_to_closed_pipe();
	bc_sigpipe_restore(&g);
	assert_true(pipe_blocked());
	assert_true(pipe_pending());
	assert_int_equal(sigtimedwait(&pipe_set, NULL, &none), SIGPIPE);
	assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raised_signal_taken_back),
		cmocka_unit_test(test_nothing_raised),
		cmocka_unit_test(test_callers_own_signal_kept),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
