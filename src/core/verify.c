// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Verification after a copy: every byte of the destination over the
 * source's size must equal the source.  Where the source's map proves a
 * range reads zero, only the destination is read (and skipped too when its
 * own map proves it zero), so verifying a thin volume stays cheap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <blkclone/copy.h>

#include "util/deadline.h"
#include "util/zerodetect.h"
#include "volume/extent.h"
#include "volume/io.h"

#define VCHUNK (1u << 20)
#define MAP_BATCH 64

/* Only a map the walk would trust proves zeros: anything odd reads. */
static bool proven_zero_by_map(struct bc_volume *v, const struct bc_caps *c,
			       uint64_t off, uint64_t len, struct bc_error *e)
{
	struct bc_extent ext[4];
	size_t n = 0;

	if (!bc_volume_has_map(v, c) || c->zero_init.state != BC_SUP_YES)
		return false;
	if (bc_extent_query(v, off, off + len, ext, 4, &n, e) < 0)
		return false;
	/* deallocated only: an anchored block is not proven zero, and the
	 * copy wrote it (engine's hole rule) */
	return ext[0].length == len && ext[0].state == BC_EXTENT_DEALLOCATED;
}

static int first_diff(const unsigned char *a, const unsigned char *b,
		      size_t len, size_t *at)
{
	for (size_t i = 0; i < len; i++) {
		if ((a ? a[i] : 0) != b[i]) {
			*at = i;
			return 1;
		}
	}
	return 0;
}

static int mismatch(struct bc_volume *dst, uint64_t off, struct bc_error *e)
{
	return bc_error_set_lba(e, -EILSEQ, dst->name, "verify",
				off / dst->block_size, dst->block_size,
				"destination differs from the source");
}

/* [pos, end) of one extent: the destination must equal the source, or
 * read zero where the source's map proves it does (@src_zero). */
static int verify_range(struct bc_volume *src, struct bc_volume *dst,
			uint64_t pos, uint64_t end, bool src_zero,
			unsigned char *a, unsigned char *b,
			const struct bc_copy_opts *o, struct bc_error *e)
{
	while (pos < end) {
		size_t len = end - pos < VCHUNK ? (size_t)(end - pos) : VCHUNK;
		size_t at = 0;
		int rc;

		if (o && o->cancel && *o->cancel)
			return bc_error_set(e, -EINTR, dst->name, "verify",
					    "interrupted");
		if (o && bc_deadline_passed(&o->deadline))
			return bc_deadline_error(e, dst->name, "verify", pos,
						 dst->block_size, &o->deadline);
		if (!src_zero && (rc = bc_volume_read(src, a, pos, len, e)) < 0)
			return rc;
		if ((rc = bc_volume_read(dst, b, pos, len, e)) < 0)
			return rc;
		if (src_zero ? !bc_is_zero(b, len) : memcmp(a, b, len) != 0) {
			first_diff(src_zero ? NULL : a, b, len, &at);
			return mismatch(dst, pos + at, e);
		}
		pos += len;
	}
	return 0;
}

int bc_verify(struct bc_volume *src, struct bc_volume *dst,
	      const struct bc_copy_opts *o, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	struct bc_extent ext[MAP_BATCH], x;
	struct bc_extent_iter it;
	unsigned char *a = NULL, *b = NULL;
	int rc;

	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (posix_memalign((void **)&a, 4096, VCHUNK) ||
	    posix_memalign((void **)&b, 4096, VCHUNK)) {
		rc = bc_error_set(e, -ENOMEM, dst->name, "verify", NULL);
		goto out;
	}
	bc_extent_iter_init(&it, src, 0, src->size, ext, MAP_BATCH);
	while ((rc = bc_extent_next(&it, &x, e)) > 0) {
		bool src_zero = x.state != BC_EXTENT_MAPPED &&
				sc->zero_init.state == BC_SUP_YES;

		if (src_zero && proven_zero_by_map(dst, dc, x.offset, x.length, e))
			continue;
		rc = verify_range(src, dst, x.offset, x.offset + x.length,
				  src_zero, a, b, o, e);
		if (rc < 0)
			break;
	}
out:
	free(a);
	free(b);
	return rc;
}
