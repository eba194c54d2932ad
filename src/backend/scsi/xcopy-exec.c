// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * EXTENDED COPY(LID1) between two SCSI LUs: the parameter lists built by
 * src/scsi/xcopy.c, sent to the source LU one command at a time.
 */
#include <errno.h>

#include "backend/backends.h"
#include "backend/scsi/scsi-volume.h"
#include "scsi/lu.h"
#include "scsi/xcopy.h"

/* Generous: a copy manager may take long for 65535 blocks on slow media. */
#define XCOPY_TIMEOUT_MS 120000

/*
 * A zero-block segment: SPC says nothing is copied and it is not an
 * error, but the copy manager must find both LUs -- LIO answers COPY
 * ABORTED 0D/02 here for a LU it cannot reach.  So the pair is confirmed
 * without writing.
 */
static int xcopy_confirm_pair(struct bc_volume *src, const struct bc_designator *sd,
			      struct bc_volume *dst, const struct bc_designator *dd,
			      uint64_t lba, uint64_t dlba, struct bc_error *e)
{
	uint8_t list[BC_XCOPY_HDR_LEN + 2 * BC_XCOPY_CSCD_LEN + BC_XCOPY_SEG_LEN];
	struct bc_xcopy_segment probe = { lba, dlba, 0 };
	int l = bc_xcopy_build_list(list, sizeof(list), sd, src->block_size,
				    dd, dst->block_size, &probe, 1);

	if (l < 0)
		return bc_error_set(e, l, src->name, "EXTENDED COPY(LID1)",
				    "cannot build the parameter list");
	return bc_lu_extended_copy(&sp(src)->lu, list, (uint32_t)l, lba,
				   XCOPY_TIMEOUT_MS, e);
}

/*
 * EXTENDED COPY(LID1) of [src_off, src_off+len) onto dst_off, both SCSI
 * LUs, sent to the source LU: commands cut to the copy manager's limits,
 * one after the other.  On COPY ABORTED the segments the sense data
 * reports finished count as done and nothing else does; *done is always
 * exact.
 */
int bc_scsi_xcopy_exec(struct bc_volume *src, uint64_t src_off,
		       struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		       uint64_t *done, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	const struct bc_designator *sd, *dd;
	struct bc_xcopy_segment seg[128];
	struct bc_xcopy_shape shape;
	uint8_t list[BC_XCOPY_HDR_LEN + 2 * BC_XCOPY_CSCD_LEN +
		     128 * BC_XCOPY_SEG_LEN];
	uint64_t bs = src->block_size, lba, dlba, left;
	int rc;

	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (src->block_size != dst->block_size || src_off % bs ||
	    dst_off % bs || len % bs)
		return bc_error_set(e, -EINVAL, dst->name, "EXTENDED COPY(LID1)",
				    "ranges must be whole blocks of one size");
	sd = bc_xcopy_pick_designator(sc->id.designators, sc->id.n_designators);
	dd = bc_xcopy_pick_designator(dc->id.designators, dc->id.n_designators);
	if (!sd || !dd)
		return bc_error_set(e, -EOPNOTSUPP, !sd ? src->name : dst->name,
				    "EXTENDED COPY(LID1)",
				    "no NAA designator to name the LU in an 0xE4 descriptor");
	if (bc_xcopy_shape(&sc->xcopy_lim, src->block_size, &shape) < 0)
		return bc_error_set(e, -EOPNOTSUPP, src->name, "EXTENDED COPY(LID1)",
				    "the copy manager's limits leave no room for a segment");
	lba = scsi_lba(src, src_off, NULL);
	dlba = scsi_lba(dst, dst_off, NULL);
	left = len / bs;
	if (!len)
		return xcopy_confirm_pair(src, sd, dst, dd, lba, dlba, e);
	while (left) {
		uint64_t covered = 0;
		size_t n = bc_xcopy_cut(&shape, lba, dlba, left, seg, 128, &covered);
		int l = bc_xcopy_build_list(list, sizeof(list), sd, src->block_size,
					    dd, dst->block_size, seg, n);

		if (l < 0)
			return bc_error_set(e, l, src->name, "EXTENDED COPY(LID1)",
					    "cannot build the parameter list");
		rc = bc_lu_extended_copy(&sp(src)->lu, list, (uint32_t)l, lba,
					 XCOPY_TIMEOUT_MS, e);
		if (rc < 0) {
			size_t k = rc == -ECANCELED ?
				   bc_xcopy_segments_done(&e->status, n) : 0;

			for (size_t i = 0; i < k; i++)
				*done += (uint64_t)seg[i].blocks * bs;
			break;
		}
		lba += covered;
		dlba += covered;
		left -= covered;
		*done += covered * bs;
	}
	/* the copy manager wrote behind the kernel's page cache */
	if (sp(dst)->data && *done)
		bc_blk_invalidate(sp(dst)->data);
	return rc;
}
