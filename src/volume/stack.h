/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stacked block devices: a partition or a device-mapper linear volume (an
 * LVM LV) is a window onto the device beneath, an LV of several segments
 * a list of windows, and a dm-multipath map passes through to the LU its
 * paths reach.  Resolving the stack lets two LVs on one shared LU be
 * cloned with that LU's copy manager.
 */
#ifndef BC_STACK_H
#define BC_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <blkclone/error.h>

#include "volume/segments.h"

#define BC_STACK_DEPTH 8
#define BC_STACK_PATHS 16

/* One path of a dm-multipath map at the bottom of a stack. */
struct bc_stack_path {
	char name[32];		/* "sdb" */
	dev_t rdev;
	char state[24];		/* sysfs device/state: "running", "offline"... */
	bool has_dm_state;	/* the map's status line was read */
	bool dm_active;		/* the map may send I/O to it */
	unsigned fail_count;	/* as the map counts them */
	unsigned group;		/* priority group, 1-based */
	bool usable;		/* running and active */
	char designator[80];	/* its first unique designator key, "" none */
};

struct bc_stack {
	char bottom[80];	/* "/dev/sdb": the device at the bottom */
	dev_t bottom_rdev;
	/* The window when there is one (n_segs == 1); for an LV of several
	 * segments the first segment's offset, and segs[] says the rest. */
	uint64_t offset;	/* bytes into the bottom device */
	uint64_t length;	/* bytes of the device resolved */
	unsigned depth;		/* 0: the device itself */
	char layers[256];	/* "dm-0 (linear) > sdb1 (partition) > sdb" */
	/* why the chain stops where it does, if not at a plain disk or a
	 * multipath map whose paths all name one LU; room for a kernel
	 * name (64) and a device-mapper reason (128) */
	char why_stopped[200];
	/* the device-mapper target of the bottom device: "multipath" when
	 * the bottom is a multipath map, or the target the walk stopped at
	 * ("crypt", "snapshot"...) */
	char bottom_dm_target[16];
	/* every byte of the device, as windows onto the bottom device:
	 * ascending, back to back from 0 (at least one) */
	size_t n_segs;
	struct bc_stack_seg segs[BC_STACK_SEGS];
	/* the bottom is a dm-multipath map (its paths below, in the
	 * table's order); multipath_ok when all of them name one LU, at
	 * least one is usable and all are SCSI disks: SCSI commands then go
	 * to the map's node, which the kernel sends down the current path */
	bool multipath;
	bool multipath_ok;
	/* its paths name different LUs: writes would land on whichever the
	 * map chooses, so the map is refused whole */
	bool multipath_split;
	size_t n_paths;
	struct bc_stack_path paths[BC_STACK_PATHS];
	int usable_path;	/* index of the first usable path, -1 none */
};

/*
 * Follow partitions, dm-linear tables (of one or several targets) and
 * dm-multipath maps down from the block device @rdev.  Anything else
 * (striped, thin, snapshot, crypt, raid, cache...) stops the walk there,
 * with the reason in why_stopped: such a device is not a plain window
 * onto the one beneath.  Segments that end on different devices stop
 * the walk at @rdev itself.
 */
int bc_stack_resolve(dev_t rdev, struct bc_stack *out, struct bc_error *e);

/*
 * Parse one dm "linear" target's table line "MAJ:MIN SECTOR" (what
 * DM_TABLE_STATUS returns).  Pure, for tests.
 */
int bc_stack_parse_linear(const char *params, unsigned *maj, unsigned *min,
			  uint64_t *sector);

/* "snapshot", "thin"... : the reason a target is no window, in words,
 * for why_stopped ("dm-3 is a dm-snapshot: not a plain window onto the
 * LU").  Pure. */
void bc_stack_refusal(char *buf, size_t len, const char *kname,
		      const char *target);

#endif
