/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Destination ranges that must read zero after a copy (the source's holes):
 * skipped where that is proven, zeroed with the cheapest guaranteed
 * command elsewhere.  Shared by the host copy engine and the offload
 * walker so both follow one safety rule.
 */
#ifndef BC_HOLES_H
#define BC_HOLES_H

#include <stdbool.h>
#include <stdint.h>

#include <blkclone/copy.h>

struct bc_dest_holes {
	struct bc_volume *dst;
	bool proven_zero;	/* the whole destination reads zero (created,
				 * --dest-zeroed) */
	bool map_proves;	/* dst map + zero_init: deallocated reads zero */
	struct bc_copy_stats *st;	/* skipped/zeroed/written bytes */
};

/* Set map_proves from the destination's capabilities. */
void bc_dest_holes_init(struct bc_dest_holes *h, struct bc_volume *dst,
			const struct bc_caps *dc, bool proven_zero,
			struct bc_copy_stats *st);

/* Make [off, off+len) of the destination read zero, or prove it does. */
int bc_dest_settle(const struct bc_dest_holes *h, uint64_t off, uint64_t len,
		   struct bc_error *e);

#endif
