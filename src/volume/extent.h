/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allocation map, walked as checked extents.  A backend's map is what
 * a device or a filesystem said, so it is not trusted: each reply must
 * start exactly where the walk stands and continue without a gap or an
 * overlap, hold only non-empty extents of a known state inside the asked
 * range, at least one and no more than there was room for.  Anything else
 * is an error naming the device, the map's command (GET LBA STATUS,
 * SEEK_DATA/SEEK_HOLE), the LBA and what was wrong -- never a range passed
 * over, since a wrong "deallocated" leaves data uncopied.  A volume without
 * a usable map (bc_volume_has_map, by the caps bc_volume_caps cached; not
 * probed yet: none) is one mapped extent: all of it is read.
 */
#ifndef BC_VOLUME_EXTENT_H
#define BC_VOLUME_EXTENT_H

#include <stddef.h>
#include <stdint.h>

#include <blkclone/volume.h>

/*
 * One checked query: fills @out (room for @max) with *n >= 1 extents that
 * cover [off, off + their lengths) within [off, end).  The batch size is
 * the caller's, as it sets how much each map command asks for.
 */
int bc_extent_query(struct bc_volume *v, uint64_t off, uint64_t end,
		    struct bc_extent *out, size_t max, size_t *n,
		    struct bc_error *e);

/* [start, end) extent by extent, querying a batch at a time into @buf. */
struct bc_extent_iter {
	struct bc_volume *v;
	struct bc_extent *buf;
	size_t cap, n, i;
	uint64_t pos, end;	/* the walk stands at @pos */
};

void bc_extent_iter_init(struct bc_extent_iter *it, struct bc_volume *v,
			 uint64_t start, uint64_t end, struct bc_extent *buf,
			 size_t cap);
/* 1 and the next extent in *x; 0 once at the end; -errno (in @e). */
int bc_extent_next(struct bc_extent_iter *it, struct bc_extent *x,
		   struct bc_error *e);

#endif
