/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The clone session's insides, for the files that run sessions together
 * (clone-fanout.c): not an API.
 */
#ifndef BC_CORE_CLONE_PRIV_H
#define BC_CORE_CLONE_PRIV_H

#include <blkclone/clone.h>

struct bc_clone {
	struct bc_clone_opts o;		/* o.copy as the run will see it */
	struct bc_volume *src, *dst;
	const struct bc_caps *sc, *dc;
	bool ran_ok;
	struct bc_clone_result r;
	/* what bc_clone_start fixed (o.copy.fixed points here), and the
	 * method it could not fix a point in time with */
	struct bc_fixed *fixed;
	struct bc_fallback start_fb;
};

/* bc_clone_run in two halves around the copy itself: begin checks the
 * plan and fixes the point in time (0 to go on, else the session's
 * failure); end takes the copy's @rc and does what a run does after it
 * (refusal memory, outcome, hint), returning @rc. */
int bc_clone_run_begin(struct bc_clone *c, struct bc_error *e);
/* Do two paths name one file or one block device (stat)? */
bool bc_clone_same_object(const char *a, const char *b);
int bc_clone_run_end(struct bc_clone *c, int rc, struct bc_error *e);

#endif
