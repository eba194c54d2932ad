// SPDX-License-Identifier: LGPL-2.1-or-later
/* Cutting an NVMe command at window boundaries (see cut.h). */
#include <errno.h>

#include "backend/nvme/cut.h"

int bc_nvme_cut_run(const struct bc_stack_seg *s, size_t ns, uint64_t src_off,
		    const struct bc_stack_seg *d, size_t nd, uint64_t dst_off,
		    uint64_t len, uint32_t bs, bc_nvme_piece_fn fn, void *ctx,
		    uint64_t *done)
{
	struct bc_seg_piece pc[16];
	uint64_t at = 0;

	*done = 0;
	if (!bs || src_off % bs || dst_off % bs || len % bs || !ns || !nd)
		return -ERANGE;
	/* the lists are back to back from 0: the whole range is checked
	 * before any command, not a batch of pieces at a time */
	if (src_off > UINT64_MAX - len || dst_off > UINT64_MAX - len ||
	    src_off + len > s[ns - 1].start + s[ns - 1].length ||
	    dst_off + len > d[nd - 1].start + d[nd - 1].length)
		return -ERANGE;
	while (at < len) {
		size_t n = 0;
		uint64_t covered = 0;

		if (bc_segs_cut(s, ns, src_off + at, d, nd, dst_off + at, len - at,
				pc, sizeof(pc) / sizeof(pc[0]), &n, &covered) < 0 || !n)
			return -ERANGE;
		for (size_t i = 0; i < n; i++) {
			uint64_t got = 0, blocks = pc[i].length / bs;
			int rc;

			/* windows whose offsets are not block aligned would
			 * cut a block in two: the open checks, this guards */
			if (pc[i].src_unit % bs || pc[i].dst_unit % bs ||
			    pc[i].length % bs)
				return -ERANGE;
			rc = fn(ctx, pc[i].src_off / bs, pc[i].src_unit / bs, pc[i].dst_unit / bs,
				blocks, &got);
			if (got > blocks)	/* never claim more than was asked */
				got = blocks;
			*done += got * bs;
			if (rc < 0)
				return rc;
			if (got != blocks)
				return -EIO;
		}
		at += covered;
	}
	return 0;
}
