// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Zeroing and discarding a SCSI LU.  Zeroing prefers WRITE SAME(16) with
 * UNMAP, which reads zero afterwards whether or not the target
 * deallocates; else UNMAP where GET LBA STATUS then proves the blocks
 * deallocated, with everything else written.
 */
#include <errno.h>
#include <stdlib.h>

#include "backend/backends.h"
#include "backend/scsi/scsi-volume.h"
#include "scsi/lu.h"
#include "scsi/unmap.h"

/*
 * What a command refused teaches is kept in the volume for every later
 * zeroing, and the host copy zeroes from several threads at once: the
 * flags are read and set with __atomic (a refusal seen twice is set
 * twice, to the same value).
 */
static bool flag(const bool *f)
{
	return __atomic_load_n(f, __ATOMIC_RELAXED);
}

static void clear_flag(bool *f)
{
	__atomic_store_n(f, false, __ATOMIC_RELAXED);
}

/*
 * Write zeros over [lba, +blocks) of the LU: WRITE SAME(16) without UNMAP
 * (one block on the wire), else WRITE(16) of a zero buffer.  For the
 * partial granules at the edges of an UNMAP, so they are short.
 */
static int zero_blocks(struct scsi_priv *p, uint64_t lba, uint64_t blocks,
		       struct bc_error *e)
{
	uint64_t step = p->bl.max_write_same ? p->bl.max_write_same : 65536;
	uint32_t bs = p->lu.block_size, chunk;
	void *z;
	int rc;

	if (step > UINT32_MAX)
		step = UINT32_MAX;
	while (blocks && !flag(&p->ws_plain_bad)) {
		uint32_t n = blocks > step ? (uint32_t)step : (uint32_t)blocks;

		rc = bc_lu_write_same16(&p->lu, lba, n, false, e);
		if (rc == -EOPNOTSUPP) {
			/* WRITE(16) from here on */
			__atomic_store_n(&p->ws_plain_bad, true, __ATOMIC_RELAXED);
			bc_error_clear(e);
			break;
		}
		if (rc < 0)
			return rc;
		lba += n;
		blocks -= n;
	}
	if (!blocks)
		return 0;
	chunk = blocks < p->max_xfer_blocks ? (uint32_t)blocks : p->max_xfer_blocks;
	z = calloc(chunk, bs);
	if (!z)
		return bc_error_set(e, -ENOMEM, p->lu.t->name, "WRITE(16)", NULL);
	for (rc = 0; blocks && !rc;) {
		uint32_t n = blocks > chunk ? chunk : (uint32_t)blocks;

		rc = bc_lu_write16(&p->lu, lba, n, z, e);
		lba += n;
		blocks -= n;
	}
	free(z);
	return rc;
}

/*
 * What an UNMAP of [lba, +blocks) did, as GET LBA STATUS reports it: an
 * UNMAP may unmap nothing at all (SBC-4 4.7.3.4.2), so blocks count as
 * zero only where they are reported deallocated (on a LU whose
 * deallocated blocks read zero, checked at probe).  Every block still
 * mapped or anchored, or that a malformed reply leaves unaccounted for,
 * is written with zeros.
 */
static int unmap_prove(struct scsi_priv *p, uint64_t lba, uint64_t blocks,
		       struct bc_error *e)
{
	struct bc_lu_lba_status st[64];
	uint64_t end = lba + blocks;

	while (lba < end) {
		size_t n = 0;
		int rc = bc_lu_get_lba_status(&p->lu, lba, st, 64, &n, e);

		if (rc == -EBADMSG || (rc == 0 && !n)) {
			/* nothing to go by: written */
			bc_error_clear(e);
			return zero_blocks(p, lba, end - lba, e);
		}
		if (rc == -EOPNOTSUPP) {
			clear_flag(&p->unmap_zeroes);
			return rc;
		}
		if (rc < 0)
			return rc;
		/* the descriptors start at @lba and are contiguous */
		for (size_t i = 0; i < n && lba < end; i++) {
			uint64_t k = st[i].blocks < end - lba ? st[i].blocks : end - lba;

			if (st[i].status != 1 && (rc = zero_blocks(p, lba, k, e)) < 0)
				return rc;
			lba += k;
		}
	}
	return 0;
}

/*
 * Zero [lba, +blocks) on an LU where deallocated blocks read zero: UNMAP
 * of whole granules, cut to the LU's limits, the partial granules at the
 * edges written (scsi/unmap.h), and whatever GET LBA STATUS does not show
 * deallocated afterwards written too.  -EOPNOTSUPP if the LU refuses UNMAP
 * or GET LBA STATUS: the engine then writes zeros over all of it, which is
 * right whatever part was done.
 */
static int zero_by_unmap(struct scsi_priv *p, uint64_t lba, uint64_t blocks,
			 struct bc_error *e)
{
	uint8_t list[BC_UNMAP_HDR_LEN + BC_UNMAP_STEP_DESC * BC_UNMAP_DESC_LEN];
	int rc;

	while (blocks) {
		struct bc_unmap_step s;

		rc = bc_unmap_plan_step(lba, blocks, &p->ugeom, &s);
		if (rc < 0 || !s.consumed)
			return bc_error_set_lba(e, -EINVAL, p->lu.t->name, "UNMAP", lba,
						p->lu.block_size, "range outside the LU");
		if (s.n_desc) {
			int l = bc_unmap_build_list(list, sizeof(list), s.desc, s.n_desc);

			if (l < 0)
				return bc_error_set(e, l, p->lu.t->name, "UNMAP",
						    "parameter list");
			rc = bc_lu_unmap_list(&p->lu, list, (uint16_t)l, s.desc[0].lba, e);
			if (rc == -EOPNOTSUPP) {
				clear_flag(&p->unmap_zeroes);
				return rc;
			}
			if (rc < 0)
				return rc;
		}
		/* after the UNMAP: with UGAVALID=0 the edges overlap it */
		if (s.head_blocks &&
		    (rc = zero_blocks(p, s.head_lba, s.head_blocks, e)) < 0)
			return rc;
		if (s.tail_blocks &&
		    (rc = zero_blocks(p, s.tail_lba, s.tail_blocks, e)) < 0)
			return rc;
		if (s.n_desc) {
			/* the descriptors are contiguous; the edges written
			 * above need no proof */
			uint64_t a = s.desc[0].lba;
			uint64_t b = s.desc[s.n_desc - 1].lba + s.desc[s.n_desc - 1].blocks;

			if (s.head_blocks && a < s.head_lba + s.head_blocks)
				a = s.head_lba + s.head_blocks;
			if (s.tail_blocks && b > s.tail_lba)
				b = s.tail_lba;
			if (a < b && (rc = unmap_prove(p, a, b - a, e)) < 0)
				return rc;
		}
		lba += s.consumed;
		blocks -= s.consumed;
	}
	return 0;
}

/*
 * Make a range read zero.  WRITE SAME(16)+UNMAP of a zero block reads
 * zero afterwards whatever the target does (SBC-4 4.7.3.4.4: it may not
 * unmap where that would change what is read); it is bounded by the
 * reported maximum WRITE SAME length (and 32 bits of blocks).  Without it,
 * on an LBPRZ xx1b LU with GET LBA STATUS, UNMAP by whole granules, proven
 * afterwards, with everything not proven written.
 */
int bc_scsi_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		 unsigned flags, struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	uint64_t lba = scsi_lba(v, off, NULL);
	uint64_t blocks = len / v->block_size, first = lba;
	uint64_t step = p->bl.max_write_same ? p->bl.max_write_same : 65536;
	int rc = 0;

	if (!(flags & BC_ZERO_MAY_UNMAP) || (!flag(&p->ws_unmap) && !flag(&p->unmap_zeroes)))
		return -EOPNOTSUPP;	/* the engine writes zeros */
	if (step > UINT32_MAX)
		step = UINT32_MAX;
	while (blocks && flag(&p->ws_unmap)) {
		uint32_t n = blocks > step ? (uint32_t)step : (uint32_t)blocks;

		rc = bc_lu_write_same16_unmap(&p->lu, lba, n, e);
		if (rc == -EOPNOTSUPP && lba == first) {
			clear_flag(&p->ws_unmap);	/* not really supported */
			if (!flag(&p->unmap_zeroes))
				return rc;
			bc_error_clear(e);
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		lba += n;
		blocks -= n;
	}
	/* WRITE SAME+UNMAP refused, here or in another thread meanwhile:
	 * UNMAP where it may make zeros, else the engine writes them (over
	 * all of the range, which is right whatever part was done) */
	if (!rc && blocks)
		rc = flag(&p->unmap_zeroes) ? zero_by_unmap(p, lba, blocks, e) :
					      -EOPNOTSUPP;
	/* the LU changed behind the block device's page cache */
	if (p->data)
		bc_blk_invalidate(p->data);
	return rc;
}

/*
 * Deallocate a range (no promise of zeros): UNMAP cut to the LU's LBA-count
 * and descriptor limits.  Partial granules are left to the LU.
 */
int bc_scsi_discard(struct bc_volume *v, uint64_t off, uint64_t len,
		    struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	struct bc_unmap_geom g = p->ugeom;
	uint8_t list[BC_UNMAP_HDR_LEN + BC_UNMAP_STEP_DESC * BC_UNMAP_DESC_LEN];
	uint64_t lba = scsi_lba(v, off, NULL);
	uint64_t blocks = len / v->block_size;
	int rc = 0;

	g.granularity = 1;	/* every block asked for; the LU drops partials */
	while (blocks && rc == 0) {
		struct bc_unmap_step s;
		int l;

		if (bc_unmap_plan_step(lba, blocks, &g, &s) < 0 || !s.n_desc)
			return bc_error_set_lba(e, -EINVAL, v->name, "UNMAP", lba,
						v->block_size, "range outside the LU");
		l = bc_unmap_build_list(list, sizeof(list), s.desc, s.n_desc);
		rc = l < 0 ? bc_error_set(e, l, v->name, "UNMAP", "parameter list") :
		     bc_lu_unmap_list(&p->lu, list, (uint16_t)l, lba, e);
		lba += s.consumed;
		blocks -= s.consumed;
	}
	if (p->data)
		bc_blk_invalidate(p->data);
	return rc;
}
