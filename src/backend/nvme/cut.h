/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An NVMe command over a range of a volume that is several windows onto
 * one namespace (an LV of several segments): the range is cut at every
 * window boundary of either side with bc_segs_cut, and each piece is one
 * run of namespace LBAs for @fn.  Kept apart from namespace.c so the
 * cutting and its accounting run without a device (tests/unit/test-nvme.c).
 */
#ifndef BC_BACKEND_NVME_CUT_H
#define BC_BACKEND_NVME_CUT_H

#include <stddef.h>
#include <stdint.h>

#include "volume/segments.h"

/*
 * One piece: @blocks blocks from namespace LBA @slba onto @dlba; @vlba is
 * the source volume's LBA of the first (for errors).  *done_blocks is the
 * prefix the device confirmed; 0 or -errno.
 */
typedef int (*bc_nvme_piece_fn)(void *ctx, uint64_t vlba, uint64_t slba,
				uint64_t dlba, uint64_t blocks,
				uint64_t *done_blocks);

/*
 * Run @fn over [src_off, +len) of the volume @s onto [dst_off, +len) of
 * @d (byte offsets in the volumes, all multiples of @bs), piece by piece
 * in order.  *done (bytes) is the pieces finished plus the confirmed
 * prefix of the one that failed: a prefix, as one uncut command reports.
 * -ERANGE when the range runs past either list or is not block aligned
 * on the namespace (nothing was run), -EIO when a piece reported less
 * than it was given without an error, else @fn's error.
 */
int bc_nvme_cut_run(const struct bc_stack_seg *s, size_t ns, uint64_t src_off,
		    const struct bc_stack_seg *d, size_t nd, uint64_t dst_off,
		    uint64_t len, uint32_t bs, bc_nvme_piece_fn fn, void *ctx,
		    uint64_t *done);

#endif
