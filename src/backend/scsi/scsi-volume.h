/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A SCSI logical unit as a volume: what the files of src/backend/scsi/
 * share.  lu-volume.c opens the volume (over libiscsi, over SG_IO, or
 * over a transport the caller made), moves its data and holds the ops
 * table; probe.c finds what the LU can do; zero.c zeroes and discards;
 * xcopy-exec.c and token-exec.c have the copy manager copy.
 */
#ifndef BC_BACKEND_SCSI_VOLUME_H
#define BC_BACKEND_SCSI_VOLUME_H

#include <stdbool.h>
#include <stdint.h>

#include <blkclone/volume.h>

#include "scsi/lu.h"
#include "scsi/token.h"
#include "scsi/unmap.h"
#include "volume/segments.h"

struct scsi_priv {
	struct bc_lu lu;
	/* SG_IO volumes: data through the block device (O_DIRECT, threads),
	 * commands to the LU beneath at base_lba (a partition or LV window) */
	struct bc_volume *data;
	uint64_t base_lba;
	char layers[256];
	/* the volume's windows onto the LU: one for an LU, a partition or a
	 * one-segment LV (at base_lba), one per segment of an LV of several
	 * (src/volume/segments.h); commands are cut at their boundaries */
	size_t n_segs;
	struct bc_stack_seg segs[BC_STACK_SEGS];
	/* the LU is reached through a dm-multipath map (SG_IO to its node) */
	bool multipath;
	struct bc_lu_capacity cap;
	struct bc_lu_block_limits bl;
	struct bc_lu_provisioning lbp;
	bool gls;		/* GET LBA STATUS works */
	bool ws_unmap;		/* WRITE SAME(16)+UNMAP usable */
	/* UNMAP may make zeros (LBPU, LBPRZ xx1b, GET LBA STATUS): whole
	 * granules unmapped, the partial ones written (scsi/unmap.h), and
	 * what GET LBA STATUS then shows mapped or anchored written too */
	bool unmap_zeroes;
	struct bc_unmap_geom ugeom;
	bool ws_plain_bad;	/* WRITE SAME(16) without UNMAP refused */
	uint32_t max_xfer_blocks;
	struct bc_tpc_info tpc;	/* VPD 0x8F */
	uint32_t list_seq;	/* token copy list identifiers */
	/* SYNCHRONIZE CACHE with IMMED was refused (ILLEGAL REQUEST): sent
	 * without from then on.  Read and set with __atomic: any thread. */
	bool immed_refused;
};

static inline struct scsi_priv *sp(struct bc_volume *v)
{
	return v->priv;
}

/*
 * The LBA of byte @off of the volume on the LU, and in *run the bytes
 * from there that stay in its window (UINT64_MAX - @off when the volume
 * is one window).  A request is cut at *run so each piece is one range of
 * LBAs; lu-volume.c's ops do the cutting, the files beneath see pieces.
 */
static inline uint64_t scsi_lba(struct bc_volume *v, uint64_t off,
				uint64_t *run)
{
	struct scsi_priv *p = v->priv;
	uint64_t unit = 0, r = 0;

	if (p->n_segs > 1 && bc_segs_locate(p->segs, p->n_segs, off, &unit, &r) == 0) {
		if (run)
			*run = r;
		return unit / v->block_size;
	}
	if (run)
		*run = UINT64_MAX - off;
	return off / v->block_size + p->base_lba;
}

/* probe.c: the ->probe op. */
int bc_scsi_probe(struct bc_volume *v, struct bc_caps *c, struct bc_error *e);

/* zero.c: the ->zero and ->discard ops. */
int bc_scsi_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		 unsigned flags, struct bc_error *e);
int bc_scsi_discard(struct bc_volume *v, uint64_t off, uint64_t len,
		    struct bc_error *e);

/*
 * The copy manager's copy of [src_off, src_off+len) onto dst_off, both
 * volumes SCSI LUs (lu-volume.c checks): EXTENDED COPY(LID1) in
 * xcopy-exec.c, POPULATE TOKEN/WRITE USING TOKEN in token-exec.c.
 * *done is what the destination is known to hold.
 */
int bc_scsi_xcopy_exec(struct bc_volume *src, uint64_t src_off,
		       struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		       uint64_t *done, struct bc_error *e);
/* @stop: a cancel or the deadline aborts the IMMED copy it polls */
int bc_scsi_token_exec(struct bc_volume *src, uint64_t src_off,
		       struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		       const struct bc_stop *stop, uint64_t *done,
		       struct bc_error *e);

/*
 * The two halves of a token copy (token-exec.c), for token-capture.c too.
 * Populate: one token for the @n ranges of @src (absolute LBAs, at most
 * BC_TOKEN_POPULATE_RANGES), ROD type @rod_type (0 the default) and
 * inactivity timeout @inactivity_s (0 the default); *represented is the
 * blocks it stands for, a prefix of the ranges.  Write: blocks
 * [rod_off, +blocks) of @token's ROD onto @dlba of @dst, following short
 * transfers; *written is what the destination confirmed, also on failure.
 */
#define BC_TOKEN_POPULATE_RANGES 64
int bc_scsi_token_populate(struct bc_volume *src, const struct bc_token_range *r,
			   size_t n, uint32_t rod_type, uint32_t inactivity_s,
			   uint8_t *token, uint64_t *represented, struct bc_error *e);
int bc_scsi_token_write(struct bc_volume *dst, const uint8_t *token,
			uint64_t rod_off, uint64_t dlba, uint64_t blocks,
			uint32_t stall_s, const struct bc_stop *stop,
			uint64_t *written, struct bc_error *e);
/* token-capture.c: the ->capture, ->capture_copy, ->capture_free ops of
 * a token copy (lu-volume.c checks the method and the destination). */
int bc_scsi_token_capture(struct bc_volume *src, struct bc_volume *dst,
			  const struct bc_extent *x, size_t n,
			  const struct bc_stop *stop, struct bc_capture **out,
			  char *said, size_t said_len, struct bc_error *e);
int bc_scsi_token_capture_copy(struct bc_capture *c, struct bc_volume *src,
			       uint64_t src_off, struct bc_volume *dst,
			       uint64_t dst_off, uint64_t len,
			       const struct bc_stop *stop, uint64_t *done,
			       struct bc_error *e);
void bc_scsi_capture_free(struct bc_capture *c);
/* An expired, cancelled or deleted token (INVALID TOKEN OPERATION, ASC
 * 23h with ASCQ 07h/08h/09h). */
bool bc_scsi_token_stale(const struct bc_error *e);
/* How long a token copy may show no progress before it is taken for
 * stuck: the source's default inactivity timeout. */
uint32_t bc_scsi_token_stall_s(const struct bc_volume *src);

#endif
