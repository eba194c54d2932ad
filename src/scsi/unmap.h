/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Zeroing a range with UNMAP on a LU whose unmapped blocks read zero
 * (LBPRZ xx1b): SBC lets a device ignore the part of an UNMAP that covers
 * only part of a granule (VPD 0xB0 OPTIMAL UNMAP GRANULARITY, from UNMAP
 * GRANULARITY ALIGNMENT), so such blocks may keep their old data.  Only
 * whole granules are unmapped; the partial ones at the edges are zeroed
 * explicitly.  An UNMAP may also unmap nothing at all (SBC-4 4.7.3.4.2):
 * the caller proves the whole granules with GET LBA STATUS afterwards and
 * writes whatever is not deallocated.  Pure: planning and the parameter
 * list, no I/O.
 */
#ifndef BC_SCSI_UNMAP_H
#define BC_SCSI_UNMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BC_UNMAP_HDR_LEN	8
#define BC_UNMAP_DESC_LEN	16
/* Descriptors in one planned command (the list stays about 1 KiB). */
#define BC_UNMAP_STEP_DESC	64

/* What VPD 0xB0 reported. */
struct bc_unmap_geom {
	uint32_t granularity;		/* blocks; 0 (not reported) or 1: any */
	uint32_t alignment;		/* blocks; meaningful only with ugavalid */
	bool ugavalid;
	uint32_t max_lba_count;		/* per command; 0 or FFFFFFFFh: no limit */
	uint32_t max_descriptors;	/* per command; FFFFFFFFh: no limit,
					 * 0: not reported, one is sent */
};

struct bc_unmap_range {
	uint64_t lba;
	uint32_t blocks;
};

/*
 * One UNMAP command's worth of a range and what must be zeroed with it.
 * Send the descriptors first, then zero head and tail: with UGAVALID=0
 * the granule boundaries are unknown, so the descriptor covers the whole
 * piece and head/tail (the g-1 blocks at either end, where any partial
 * granule lies) overlap it.  With the alignment known they are disjoint.
 */
struct bc_unmap_step {
	uint64_t head_lba, head_blocks;		/* zero explicitly */
	size_t n_desc;
	struct bc_unmap_range desc[BC_UNMAP_STEP_DESC];
	uint64_t tail_lba, tail_blocks;		/* zero explicitly */
	uint64_t consumed;			/* blocks from @lba this step settles */
};

/*
 * Plan the first step of making [lba, lba + blocks) read zero.  Call again
 * from lba + consumed until nothing is left; consumed is never 0 for a
 * non-empty range.  A range with no whole granule, or a LU whose per-command
 * limit is below one granule, comes back as one head to zero and no
 * descriptors.  -EINVAL for a range that wraps.
 */
int bc_unmap_plan_step(uint64_t lba, uint64_t blocks,
		       const struct bc_unmap_geom *g, struct bc_unmap_step *out);

/* UNMAP parameter list for @n descriptors: its length, or -EINVAL (none,
 * too many for the 16-bit length) / -ENOSPC (@len too small). */
int bc_unmap_build_list(uint8_t *buf, size_t len,
			const struct bc_unmap_range *r, size_t n);

#endif
