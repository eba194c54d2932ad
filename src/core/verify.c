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
#include "volume/io.h"

#define VCHUNK (1u << 20)
#define MAP_BATCH 64

static bool proven_zero_by_map(struct bc_volume *v, const struct bc_caps *c,
			       uint64_t off, uint64_t len, struct bc_error *e)
{
	struct bc_extent ext[4];
	size_t n = 0;

	if (!bc_volume_has_map(v, c) || c->zero_init.state != BC_SUP_YES)
		return false;
	if (bc_volume_map(v, off, len, ext, 4, &n, e) < 0 || !n)
		return false;
	/* deallocated only: an anchored block is not proven zero, and the
	 * copy wrote it (engine's hole rule) */
	return ext[0].offset == off && ext[0].length >= len &&
	       ext[0].state == BC_EXTENT_DEALLOCATED;
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

int bc_verify(struct bc_volume *src, struct bc_volume *dst,
	      const struct bc_copy_opts *o, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	struct bc_extent ext[MAP_BATCH];
	unsigned char *a = NULL, *b = NULL;
	uint64_t pos = 0, end = src->size;
	int rc;

	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (posix_memalign((void **)&a, 4096, VCHUNK) ||
	    posix_memalign((void **)&b, 4096, VCHUNK)) {
		rc = bc_error_set(e, -ENOMEM, dst->name, "verify", NULL);
		goto out;
	}
	while (pos < end) {
		size_t n = 1;

		if (bc_volume_has_map(src, sc)) {
			rc = bc_volume_map(src, pos, end - pos, ext, MAP_BATCH,
					   &n, e);
			if (rc < 0)
				goto out;
		} else {
			ext[0] = (struct bc_extent){ pos, end - pos,
						     BC_EXTENT_MAPPED };
		}
		for (size_t i = 0; i < n && pos < end; i++) {
			bool src_zero = ext[i].state != BC_EXTENT_MAPPED &&
					sc->zero_init.state == BC_SUP_YES;
			uint64_t xend = ext[i].offset + ext[i].length;

			if (ext[i].offset != pos || !ext[i].length) {
				rc = bc_error_set(e, -EIO, src->name, "map",
						  "inconsistent allocation map");
				goto out;
			}
			if (xend > end)
				xend = end;
			if (src_zero && proven_zero_by_map(dst, dc, pos,
							   xend - pos, e)) {
				pos = xend;
				continue;
			}
			while (pos < xend) {
				size_t len = xend - pos < VCHUNK ?
					     (size_t)(xend - pos) : VCHUNK;
				size_t at = 0;

				if (o && o->cancel && *o->cancel) {
					rc = bc_error_set(e, -EINTR, dst->name,
							  "verify", "interrupted");
					goto out;
				}
				if (bc_deadline_passed(&dst->deadline)) {
					rc = bc_deadline_error(e, dst->name, "verify", pos,
							       dst->block_size, &dst->deadline);
					goto out;
				}
				if (!src_zero &&
				    (rc = bc_volume_read(src, a, pos, len, e)) < 0)
					goto out;
				if ((rc = bc_volume_read(dst, b, pos, len, e)) < 0)
					goto out;
				if (src_zero ? !bc_is_zero(b, len)
					     : memcmp(a, b, len) != 0) {
					first_diff(src_zero ? NULL : a, b, len,
						   &at);
					rc = mismatch(dst, pos + at, e);
					goto out;
				}
				pos += len;
			}
		}
	}
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}
