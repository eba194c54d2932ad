/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stacked block devices: a partition or a device-mapper linear volume (an
 * LVM LV) is a window onto the device beneath.  Resolving it lets two LVs
 * on one shared LU be cloned with that LU's copy manager.
 */
#ifndef BC_STACK_H
#define BC_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <blkclone/error.h>

#define BC_STACK_DEPTH 8

struct bc_stack {
	char bottom[80];	/* "/dev/sdb": the device at the bottom */
	dev_t bottom_rdev;
	uint64_t offset;	/* bytes into the bottom device */
	uint64_t length;	/* bytes of the window */
	unsigned depth;		/* 0: the device itself */
	char layers[256];	/* "dm-0 (linear) > sdb1 (partition) > sdb" */
	/* why the chain stops where it does, if not at a plain disk; room
	 * for a kernel name (64) and a device-mapper reason (128) */
	char why_stopped[200];
	/* the device-mapper target of the bottom device when the walk
	 * stopped at one that is not linear ("multipath", "crypt"...) */
	char bottom_dm_target[16];
};

/*
 * Follow partitions and single-target dm-linear tables down from the
 * block device @rdev.  Anything else (striped, thin, snapshot, crypt,
 * multipath...) stops the walk there, with the reason in why_stopped:
 * such a device is not a plain window onto the one beneath.
 */
int bc_stack_resolve(dev_t rdev, struct bc_stack *out, struct bc_error *e);

/*
 * Parse one dm "linear" target's table line "MAJ:MIN SECTOR" (what
 * DM_TABLE_STATUS returns).  Pure, for tests.
 */
int bc_stack_parse_linear(const char *params, unsigned *maj, unsigned *min,
			  uint64_t *sector);

#endif
