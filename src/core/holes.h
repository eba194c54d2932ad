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

/*
 * Whether to ask the destination's map before zeroing a hole.  A query
 * that finds nothing deallocated is a round trip wasted, and not always a
 * cheap one: tgt answers GET LBA STATUS with SEEK_DATA/SEEK_HOLE on its
 * backing file, which on tmpfs walks every page up to the next hole (a
 * copy onto 4 GiB of old data spent 6 of its 8 s there).  So after
 * BC_MAP_ASK_MISSES queries in a row proved nothing, holes are zeroed
 * without asking -- always correct, only maybe more work -- and every
 * BC_MAP_ASK_AGAIN-th hole asks again, so a destination that turns thin
 * further on is followed.  Where the zeroing fell back to written zeros,
 * a query is always cheaper: asking never stops.  Pure: the caller keeps
 * the state (under its lock) and tells each settle's outcome.
 */
#define BC_MAP_ASK_MISSES 4
#define BC_MAP_ASK_AGAIN 16

struct bc_map_ask {
	unsigned misses;	/* queries in a row that proved nothing */
	unsigned unasked;	/* holes zeroed without asking since */
};

bool bc_map_ask_next(const struct bc_map_ask *a);
/* A settle is done: @asked the map, which @proved some bytes zero;
 * @wrote_zeros: zeros were written (no zeroing command). */
void bc_map_ask_done(struct bc_map_ask *a, bool asked, bool proved,
		     bool wrote_zeros);

#endif
