/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * EXTENDED COPY (LID1): the parameter list as bytes, and how a copy is cut
 * into commands that fit the copy manager's limits.  Everything here is
 * pure (no I/O) so it is tested byte for byte; src/backend/scsi/xcopy-exec.c
 * sends it.
 */
#ifndef BC_SCSI_XCOPY_H
#define BC_SCSI_XCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/volume.h>

#define BC_XCOPY_HDR_LEN	16
#define BC_XCOPY_CSCD_LEN	32	/* 0xE4 identification descriptor */
#define BC_XCOPY_SEG_LEN	28	/* 0x02 block -> block */
#define BC_XCOPY_SEG_MAX_BLOCKS	65535	/* NUMBER OF BLOCKS is 16 bits */

/* One 0x02 segment: block -> block, CSCD 0 is the source, 1 the destination. */
struct bc_xcopy_segment {
	uint64_t src_lba;
	uint64_t dst_lba;
	uint16_t blocks;
};

/*
 * The designator an 0xE4 CSCD names a LU by: the first NAA designator of
 * the LU itself (association 0), preferring the 16-byte NAA-6 that LIO
 * requires.  NULL when the LU has none.
 */
const struct bc_designator *bc_xcopy_pick_designator(const struct bc_designator *d,
						     size_t n);

/*
 * Build the parameter list: header (LIST ID USAGE 11b: no list identifier,
 * nothing held, so concurrent copies cannot collide), two 0xE4 CSCDs
 * (@src then @dst, each with its block length), then @nseg 0x02 segments.
 * A single segment of zero blocks makes the pair check (nothing copied).
 * Returns the list length, or -EINVAL if a designator is unusable or
 * -ENOSPC if @len is too small.
 */
int bc_xcopy_build_list(uint8_t *buf, size_t len,
			const struct bc_designator *src, uint32_t src_block,
			const struct bc_designator *dst, uint32_t dst_block,
			const struct bc_xcopy_segment *seg, size_t nseg);

/* The 16-byte EXTENDED COPY(LID1) CDB for a list of @list_len bytes. */
void bc_xcopy_build_cdb(uint8_t cdb[16], uint32_t list_len);

/*
 * Limits a command must fit, from RECEIVE COPY OPERATING PARAMETERS and
 * the block size: blocks per segment and segments per command, both >= 1.
 */
struct bc_xcopy_shape {
	uint32_t seg_blocks;	/* <= 65535 */
	uint32_t segs_per_cmd;
};

int bc_xcopy_shape(const struct bc_xcopy_limits *l, uint32_t block_size,
		   struct bc_xcopy_shape *out);

/*
 * Cut [lba, lba + blocks) (source) onto @dst_lba into at most @max
 * segments of the shape; returns how many were filled and sets *covered
 * to the blocks they cover.
 */
size_t bc_xcopy_cut(const struct bc_xcopy_shape *s, uint64_t src_lba,
		    uint64_t dst_lba, uint64_t blocks,
		    struct bc_xcopy_segment *out, size_t max, uint64_t *covered);

/*
 * After COPY ABORTED: how many of the command's @nseg segments are known
 * finished.  SPC puts the number of the segment being processed in the
 * COMMAND-SPECIFIC INFORMATION field; without it nothing is known done
 * (LIO never says), so the whole command is redone or continued on the
 * host from its first segment.
 */
size_t bc_xcopy_segments_done(const struct bc_status *st, size_t nseg);

/*
 * How many EXTENDED COPY commands to keep in flight at once: what the copy
 * manager allows (RECEIVE COPY OPERATING PARAMETERS: MAXIMUM CONCURRENT
 * COPIES, and TOTAL CONCURRENT COPIES where that is smaller; a field of 0,
 * not reported, allows one), what the transport takes (@max_queue, 0 as
 * 1), and never more than @cap.  Always >= 1.
 */
unsigned bc_xcopy_concurrency(const struct bc_xcopy_limits *l,
			      unsigned max_queue, unsigned cap);

#endif
