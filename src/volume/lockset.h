/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host locks one destination holds (src/volume/lock.h), gathered while
 * it is opened: a backend takes the names its transport knows before it
 * connects (an iSCSI target and LUN), then every designator that names
 * the unit uniquely once the volume can be probed, so the unit is held
 * however it is reached.  Each name is taken once: a second flock of one
 * file would conflict with our own first.
 */
#ifndef BC_LOCKSET_H
#define BC_LOCKSET_H

#include <stdbool.h>
#include <stddef.h>

#include <blkclone/error.h>
#include <blkclone/volume.h>

#define BC_LOCK_KEY_MAX 128

struct bc_lock;

struct bc_lockset {
	struct bc_lock *chain;
	size_t n;
	char keys[BC_MAX_DESIGNATORS + 2][BC_LOCK_KEY_MAX];
	char shown[320];	/* the volume as errors name it */
	char holder[400];	/* "pid N writing ADDR since TIME" */
};

/* Empty, naming @shown in errors and in what a holder says of itself. */
void bc_lockset_init(struct bc_lockset *s, const char *shown);

/* Take @key (once), exclusive or @shared; bc_lock_take's returns. */
int bc_lockset_take(struct bc_lockset *s, const char *key, bool shared,
		    struct bc_error *e);

/*
 * Take the lock of every designator of @v's caps that names its unit
 * uniquely (probing @v if it was not yet).  A window (a partition, an
 * LV) takes them @shared with other windows' writers and keeps out only a
 * writer of the whole unit; windows are kept apart by O_EXCL and the
 * overlap check.
 */
int bc_lockset_take_designators(struct bc_lockset *s, struct bc_volume *v,
				bool shared, struct bc_error *e);

/*
 * Finish an open: on @rc 0 the volume *@out keeps the locks until it is
 * closed; otherwise they are let go, *@out is closed and set to NULL.
 * Returns @rc.
 */
int bc_lockset_settle(struct bc_lockset *s, int rc, struct bc_volume **out);

#endif
