/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing to a socket from a caller's thread without SIGPIPE: a library
 * must not change the process's signal handling, yet a write to a socket
 * the peer closed raises SIGPIPE, whose default is to end the process.
 * libiscsi sends data-out with writev (no MSG_NOSIGNAL), so the iSCSI
 * session blocks the signal around such a write and takes back one the
 * write raised; a lost connection is then told by the write's error.
 */
#ifndef BC_SIGPIPE_H
#define BC_SIGPIPE_H

#include <signal.h>

struct bc_sigpipe_guard {
	sigset_t old;		/* the thread's mask before */
};

/* Block SIGPIPE in this thread until bc_sigpipe_restore. */
void bc_sigpipe_block(struct bc_sigpipe_guard *g);

/*
 * The thread's mask back as it was, a SIGPIPE that came meanwhile taken
 * back first -- unless the thread had the signal blocked already: then
 * it may be the caller's own, and stays pending for it.  Whether a write
 * met EPIPE is not asked: libiscsi may answer a failed write with 0.
 */
void bc_sigpipe_restore(struct bc_sigpipe_guard *g);

#endif
