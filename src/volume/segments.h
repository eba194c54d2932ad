/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A volume as a list of windows onto the unit beneath: an LVM LV of
 * several segments is one window per segment (src/volume/stack.h).  A
 * copy between two such volumes is cut at every segment boundary of
 * either side, so that each piece lies in one window of each and can be
 * handed to the copy manager as one range of LBAs.  Pure, tested in
 * tests/unit/test-segments.c.
 */
#ifndef BC_SEGMENTS_H
#define BC_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#define BC_STACK_SEGS 32

/* Bytes [start, start+length) of the volume are bytes [offset, +length)
 * of the unit beneath. */
struct bc_stack_seg {
	uint64_t start;
	uint64_t length;
	uint64_t offset;
};

/*
 * Are @segs (@n of them) a valid list: ascending, back to back from
 * byte 0, none empty, no sum past 2^64?  0 or -EINVAL.
 */
int bc_segs_check(const struct bc_stack_seg *segs, size_t n);

/*
 * Where byte @off of the volume lies on the unit (*unit_off) and how many
 * bytes from there stay in the same window (*run).  -ERANGE when @off is
 * past the last segment.
 */
int bc_segs_locate(const struct bc_stack_seg *segs, size_t n, uint64_t off,
		   uint64_t *unit_off, uint64_t *run);

/* One piece of a cut copy: bytes of the source's unit onto the
 * destination's, and where in the volumes the piece starts. */
struct bc_seg_piece {
	uint64_t src_off, dst_off;	/* in the volumes */
	uint64_t src_unit, dst_unit;	/* on the units beneath */
	uint64_t length;
};

/*
 * Cut [src_off, +len) of @s onto @d at dst_off into pieces that each lie
 * in one segment of both, in order, at most @max of them: *n pieces,
 * *covered the bytes they hold (a prefix of @len; call again from there
 * for the rest).  -ERANGE when a range runs past either list.
 */
int bc_segs_cut(const struct bc_stack_seg *s, size_t ns, uint64_t src_off,
		const struct bc_stack_seg *d, size_t nd, uint64_t dst_off,
		uint64_t len, struct bc_seg_piece *out, size_t max, size_t *n,
		uint64_t *covered);

/*
 * Do the unit ranges of two lists share a byte?  Each list is the unit
 * bytes of one volume; used for the same-volume rule.
 */
int bc_segs_overlap(const struct bc_stack_seg *a, size_t na,
		    const struct bc_stack_seg *b, size_t nb);

#endif
