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

/*
 * What the destination's map said that stays true for the rest of a copy:
 * a range reported mapped or anchored is zeroed without asking again --
 * zeroing is right whatever the map says, only a proof of zero needs a
 * fresh answer.  A query is a round trip, and not always a cheap one: tgt
 * answers GET LBA STATUS with SEEK_DATA/SEEK_HOLE on its backing file,
 * which on tmpfs walks every page to the next hole; a copy onto 4 GiB of
 * old data asked once per hole and spent 6 of its 8 s there.  A query
 * asks about the hole only, as long as holes come out deallocated (on a
 * thin destination a longer question costs more on some backends); once
 * one comes out mapped through its end, the next asks to the end of the
 * volume, to learn how far the old data goes.  The caller keeps it, under
 * its lock, and hands each settle a copy (bc_map_known_merge).
 */
struct bc_map_known {
	uint64_t off, end;	/* reported mapped or anchored */
	bool ask_far;		/* the last hole asked about was mapped
				 * through its end */
};

/* Make [off, off+len) of the destination read zero, or prove it does.
 * @known (may be NULL): what earlier answers told, updated. */
int bc_dest_settle(const struct bc_dest_holes *h, struct bc_map_known *known,
		   uint64_t off, uint64_t len, struct bc_error *e);

/* A settle's copy back into the caller's: the answer that reaches
 * further wins (equal: the later one). */
void bc_map_known_merge(struct bc_map_known *into,
			const struct bc_map_known *from);

#endif
