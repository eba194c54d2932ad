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

/* The extent of @k holding @off, or NULL. */
static const struct bc_extent *known_at(const struct bc_map_known *k,
					uint64_t off)
{
	for (size_t i = 0; i < k->n; i++)
		if (off >= k->ext[i].offset &&
		    off - k->ext[i].offset < k->ext[i].length)
			return &k->ext[i];
	return NULL;
}

static uint64_t known_end(const struct bc_map_known *k)
{
	return k->n ? k->ext[k->n - 1].offset + k->ext[k->n - 1].length : 0;
}

/*
 * Ask the map from @off -- to the end of the volume when @far (the answer
 * is kept for later holes), else to @end -- into @k.  The answer is cut
 * where it stops being contiguous from @off or leaves the range asked;
 * one that says nothing usable leaves @k as it was and returns 0 with
 * *n 0.  -errno on failure.
 */
static int ask_map(const struct bc_dest_holes *h, struct bc_map_known *k,
		   bool far, uint64_t off, uint64_t end, size_t *n,
		   struct bc_error *e)
{
	struct bc_extent ext[BC_MAP_KNOWN];
	uint64_t stop = far ? h->dst->size : end, pos = off;
	size_t got = 0, i = 0;
	int rc = bc_volume_map(h->dst, off, stop - off, ext, BC_MAP_KNOWN,
			       &got, e);

	if (rc < 0)
		return rc;
	for (; i < got && i < BC_MAP_KNOWN && pos < stop; i++) {
		if (ext[i].offset != pos || !ext[i].length)
			break;
		if (ext[i].length > stop - pos)
			ext[i].length = stop - pos;
		pos += ext[i].length;
	}
	*n = i;
	if (i) {
		memcpy(k->ext, ext, i * sizeof(ext[0]));
		k->n = i;
	}
	return 0;
}

int bc_dest_settle(const struct bc_dest_holes *h, struct bc_map_known *known,
		   uint64_t off, uint64_t len, struct bc_error *e)
{
	struct bc_map_known local = { .n = 0 };
	struct bc_map_known *k = known ? known : &local;
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
		const struct bc_extent *x = known_at(k, off);
		uint64_t l;
		int rc;

		if (!x) {
			size_t n = 0;

			rc = ask_map(h, k, known != NULL, off, end, &n, e);
			if (rc < 0)
				return rc;
			if (!n || !(x = known_at(k, off)))
				return zero_range(h, off, end - off, e);
		}
		l = x->offset + x->length - off;
		if (l > end - off)
			l = end - off;
		if (x->state == BC_EXTENT_DEALLOCATED)
			h->st->skipped_bytes += l;
		else if ((rc = zero_range(h, off, l, e)) < 0)
			return rc;
		off += l;
	}
	return 0;
}

void bc_map_known_merge(struct bc_map_known *into,
			const struct bc_map_known *from)
{
	if (known_end(from) > known_end(into)) {
		memcpy(into->ext, from->ext, from->n * sizeof(from->ext[0]));
		into->n = from->n;
	}
}
