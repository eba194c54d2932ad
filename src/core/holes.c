// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The one rule for destination holes (see holes.h): a range is left alone
 * only when it is proven to read zero; otherwise it gets the cheapest
 * command that guarantees zeros, and plain zero writes as the last resort.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/holes.h"
#include "volume/io.h"

#define MAP_BATCH 64
#define ZERO_CHUNK (1u << 20)

void bc_dest_holes_init(struct bc_dest_holes *h, struct bc_volume *dst,
			const struct bc_caps *dc, bool proven_zero,
			struct bc_copy_stats *st)
{
	h->dst = dst;
	h->proven_zero = proven_zero;
	h->map_proves = bc_volume_has_map(dst, dc) &&
			dc->zero_init.state == BC_SUP_YES;
	h->st = st;
}

static int write_zeros(const struct bc_dest_holes *h, uint64_t off,
		       uint64_t len, struct bc_error *e)
{
	void *z;
	int rc = 0;

	if (posix_memalign(&z, 4096, ZERO_CHUNK))
		return bc_error_set(e, -ENOMEM, h->dst->name, "write zeros", NULL);
	memset(z, 0, ZERO_CHUNK);
	for (uint64_t p = off; p < off + len && !rc; p += ZERO_CHUNK) {
		size_t n = off + len - p < ZERO_CHUNK ? (size_t)(off + len - p) :
							ZERO_CHUNK;

		rc = bc_volume_write(h->dst, z, p, n, e);
		if (!rc)
			h->st->written_bytes += n;
	}
	free(z);
	return rc;
}

/* Zero a range that is not proven zero. */
static int zero_range(const struct bc_dest_holes *h, uint64_t off,
		      uint64_t len, struct bc_error *e)
{
	int rc = bc_volume_zero(h->dst, off, len, BC_ZERO_MAY_UNMAP, e);

	if (rc == -EOPNOTSUPP) {
		if (e)
			bc_error_clear(e);
		return write_zeros(h, off, len, e);
	}
	if (rc == 0)
		h->st->zeroed_bytes += len;
	return rc;
}

int bc_dest_settle(const struct bc_dest_holes *h, struct bc_map_known *known,
		   uint64_t off, uint64_t len, struct bc_error *e)
{
	struct bc_extent ext[MAP_BATCH];
	uint64_t end = off + len;

	if (!len)
		return 0;
	if (h->proven_zero) {
		h->st->skipped_bytes += len;
		return 0;
	}
	if (!h->map_proves)
		return zero_range(h, off, len, e);
	while (off < end) {
		uint64_t ask = end;
		size_t n = 0;
		int rc;

		if (known && off >= known->off && off < known->end) {
			uint64_t l = (known->end < end ? known->end : end) - off;

			if ((rc = zero_range(h, off, l, e)) < 0)
				return rc;
			off += l;
			continue;
		}
		if (known && known->ask_far)
			ask = h->dst->size;
		rc = bc_volume_map(h->dst, off, ask - off, ext, MAP_BATCH, &n, e);
		if (rc < 0)
			return rc;
		if (!n)
			return zero_range(h, off, end - off, e);
		for (size_t i = 0; i < n && off < end; i++) {
			uint64_t l = ext[i].length;
			bool mapped = ext[i].state != BC_EXTENT_DEALLOCATED;

			if (ext[i].offset != off || !l)
				return zero_range(h, off, end - off, e);
			if (l > ask - off)
				l = ask - off;
			if (known && mapped) {
				known->off = off;
				known->end = off + l;
			}
			if (l > end - off)
				l = end - off;
			if (known && off + l == end)
				known->ask_far = mapped;
			if (!mapped)
				h->st->skipped_bytes += l;
			else if ((rc = zero_range(h, off, l, e)) < 0)
				return rc;
			off += l;
		}
	}
	return 0;
}

void bc_map_known_merge(struct bc_map_known *into,
			const struct bc_map_known *from)
{
	if (from->end >= into->end)
		*into = *from;
	else
		into->ask_far = from->ask_far;
}
