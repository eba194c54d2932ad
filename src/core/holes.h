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
 * The destination's map as it last answered, kept for the rest of a copy.
 * A query is a round trip, and not always a cheap one: tgt answers GET
 * LBA STATUS with SEEK_DATA/SEEK_HOLE on its backing file, which on tmpfs
 * walks every page to the next hole; a copy onto 4 GiB of old data asked
 * once per hole and spent 6 of its 8 s there.  So a query asks from the
 * hole to the end of the volume, and the answer (up to BC_MAP_KNOWN
 * extents) settles every later hole it covers without asking again:
 *  - mapped or anchored there: zeroed (right whatever the map says now);
 *  - deallocated there: still reads zero, because a copy never writes a
 *    range it settles as a hole (the source's holes and zero runs are
 *    disjoint from the data it writes, and each is settled once), and a
 *    write to one LBA changes no other LBA's data (SBC-4), so neither our
 *    writes beside it nor a thin target allocating around them change
 *    what it reads.  A writer outside the copy breaks the copy anyway:
 *    the host lock and the job's rules keep it out.
 * The caller keeps it (under its lock) and hands each settle a copy.
 */
#define BC_MAP_KNOWN 64

struct bc_map_known {
	struct bc_extent ext[BC_MAP_KNOWN];	/* contiguous, checked */
	size_t n;
};

/* Make [off, off+len) of the destination read zero, or prove it does.
 * @known (may be NULL: one query per hole, about it only): what earlier
 * answers told, replaced by a newer answer. */
int bc_dest_settle(const struct bc_dest_holes *h, struct bc_map_known *known,
		   uint64_t off, uint64_t len, struct bc_error *e);

/* A settle's copy back into the caller's: the answer that reaches
 * further wins. */
void bc_map_known_merge(struct bc_map_known *into,
			const struct bc_map_known *from);

#endif
