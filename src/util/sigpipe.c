// SPDX-License-Identifier: LGPL-2.1-or-later
/* SIGPIPE held off around a caller's socket write (sigpipe.h). */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "util/sigpipe.h"

void bc_sigpipe_block(struct bc_sigpipe_guard *g)
{
	sigset_t pipe;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

void bc_sigpipe_restore(struct bc_sigpipe_guard *g)
{
	sigset_t pipe, pending;
	struct timespec none = { 0, 0 };

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	if (!sigismember(&g->old, SIGPIPE) &&
	    !sigpending(&pending) && sigismember(&pending, SIGPIPE))
		(void)sigtimedwait(&pipe, NULL, &none);
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}
