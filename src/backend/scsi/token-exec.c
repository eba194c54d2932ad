// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Token copy between two SCSI LUs: POPULATE TOKEN on the source, WRITE
 * USING TOKEN on the destination, RECEIVE ROD TOKEN INFORMATION for how
 * far each got, bounded by a cancel, the copy's deadline and a stall.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backends.h"
#include "backend/scsi/scsi-volume.h"
#include "scsi/lu.h"
#include "scsi/token.h"
#include "util/deadline.h"

/*
 * List identifiers are per I_T nexus; a nexus may be shared with other
 * processes (SG_IO on one host port), so the pid is part of the id.
 */
static uint32_t next_list_id(struct scsi_priv *p)
{
	p->list_seq = (p->list_seq + 1) & 0xfff;
	return ((uint32_t)getpid() & 0xfffff) << 12 | p->list_seq;
}

int bc_scsi_token_populate(struct bc_volume *src, const struct bc_token_range *r,
			   size_t n, uint32_t rod_type, uint32_t inactivity_s,
			   uint8_t *token, uint64_t *represented, struct bc_error *e)
{
	struct scsi_priv *p = sp(src);
	struct bc_token_status ts;
	uint8_t pl[BC_TOKEN_HDR_LEN + BC_TOKEN_POPULATE_RANGES * BC_TOKEN_RANGE_LEN];
	uint32_t id = next_list_id(p);
	uint64_t blocks = 0;
	int l, rc;

	if (!n || n > BC_TOKEN_POPULATE_RANGES)
		return bc_error_set(e, -EINVAL, src->name, "POPULATE TOKEN",
				    "%zu ranges", n);
	for (size_t i = 0; i < n; i++)
		blocks += r[i].blocks;
	l = bc_token_build_populate_rod(pl, sizeof(pl), inactivity_s, rod_type, r, n);
	if (l < 0)
		return bc_error_set(e, l, src->name, "POPULATE TOKEN", "parameter list");
	rc = bc_lu_populate_token(&p->lu, id, pl, (uint32_t)l, r[0].lba, e);
	if (rc < 0)
		return rc;
	rc = bc_lu_rrti(&p->lu, id, r[0].lba, &ts, e);
	if (rc < 0)
		return rc;
	/* a token represents a prefix of the ranges: never more than asked */
	if (!ts.has_token || !ts.transfer_count || ts.transfer_count > blocks)
		return bc_error_set_lba(e, -EIO, src->name, "POPULATE TOKEN", r[0].lba,
					src->block_size,
					"no usable token (copy status %#x, %llu blocks)",
					ts.copy_status, (unsigned long long)ts.transfer_count);
	memcpy(token, ts.token, BC_TOKEN_LEN);
	explicit_bzero(ts.token, sizeof(ts.token));
	*represented = ts.transfer_count;
	return 0;
}

/* POPULATE TOKEN of [lba, lba+blocks) with the default ROD type. */
static int token_populate(struct bc_volume *src, uint64_t lba, uint64_t blocks,
			  uint8_t *token, uint64_t *represented,
			  struct bc_error *e)
{
	struct bc_token_range r = { lba, (uint32_t)blocks };

	return bc_scsi_token_populate(src, &r, 1, 0, 0, token, represented, e);
}

/* RECEIVE ROD TOKEN INFORMATION polls after COPY OPERATION ABORT before
 * blkclone stops waiting for the operation to end (at most about 10 s at
 * the longest status delay honoured). */
#define ABORT_POLLS 10
/* How long a copy manager may show no progress when VPD 0x8F gives no
 * default inactivity timeout. */
#define TOKEN_STALL_S 60

static bool in_progress(const struct bc_token_status *ts)
{
	return (ts->copy_status & 0x70) == 0x10;
}

/* The device's estimated status update delay, within 10 ms..1 s. */
static void status_pause(const struct bc_token_status *ts)
{
	uint32_t ms = ts->status_delay_ms;
	struct timespec t;

	ms = ms < 10 ? 10 : ms > 1000 ? 1000 : ms;
	t.tv_sec = ms / 1000;
	t.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&t, NULL);
}

/*
 * Stop WRITE USING TOKEN list @id, for a cancel (@err -EINTR, @why NULL)
 * or because it ran past a bound (@err -ETIME for the copy's deadline,
 * -ETIMEDOUT for a stall; @why says which): COPY OPERATION ABORT, then at
 * most ABORT_POLLS polls for the operation to end.  It fails either way:
 * with @err once it ended (a bound names RECEIVE ROD TOKEN INFORMATION);
 * -EINPROGRESS naming COPY OPERATION ABORT if it may still be writing the
 * destination (the copy executor then does not go on on the host).  *ts
 * holds the last status.
 */
static int token_stop(struct bc_volume *dst, uint32_t id, uint64_t lba,
		      int err, const char *why, struct bc_token_status *ts,
		      struct bc_error *e)
{
	struct scsi_priv *p = sp(dst);
	struct bc_error ae = { 0 };
	char abort_said[360] = "";
	bool ended = false;

	if (!p->tpc.copy_abort)
		snprintf(abort_said, sizeof(abort_said),
			 "not offered by the LU (VPD 0x8F)");
	else if (bc_lu_copy_abort(&p->lu, id, lba, &ae) < 0)
		snprintf(abort_said, sizeof(abort_said), "refused (%.340s)",
			 ae.detail[0] ? ae.detail : strerror(-ae.err));
	for (int i = 0; i < ABORT_POLLS; i++) {
		struct bc_error re = { 0 };

		if (bc_lu_rrti(&p->lu, id, lba, ts, &re) < 0)
			break;		/* no answer: it may still run */
		if (!in_progress(ts)) {
			ended = true;
			break;
		}
		status_pause(ts);
	}
	if (ended && !why)
		return bc_error_set_lba(e, -EINTR, dst->name, "WRITE USING TOKEN", lba,
					dst->block_size, "aborted (COPY OPERATION ABORT) after %llu blocks",
					(unsigned long long)ts->transfer_count);
	if (ended)
		return bc_error_set_lba(e, err, dst->name,
					"RECEIVE ROD TOKEN INFORMATION", lba, dst->block_size,
					"%s; stopped with COPY OPERATION ABORT after %llu blocks",
					why, (unsigned long long)ts->transfer_count);
	/* no sense status in @e: the failure is not the device refusing the
	 * copy (that would read as "nothing written") */
	return bc_error_set_lba(e, -EINPROGRESS, dst->name, "COPY OPERATION ABORT", lba,
				dst->block_size,
				"%s, and the operation is still in progress after %d polls of RECEIVE ROD TOKEN INFORMATION (%s): the copy manager may still be writing the destination; let it finish before copying again",
				abort_said[0] ? abort_said : "accepted", ABORT_POLLS,
				why ? why : "interrupted");
}

/*
 * Wait for WRITE USING TOKEN list @id: RECEIVE ROD TOKEN INFORMATION until
 * the operation is no longer in progress, honouring the device's
 * estimated status update delay.  Bounded: a cancel, the copy's deadline,
 * or @stall_s seconds without the transfer count moving stop it
 * (token_stop).  *ts holds the last status either way.
 */
static int token_wait(struct bc_volume *dst, uint32_t id, uint64_t lba,
		      uint32_t stall_s, const struct bc_stop *stop,
		      struct bc_token_status *ts, struct bc_error *e)
{
	struct scsi_priv *p = sp(dst);
	uint64_t count = UINT64_MAX, since = bc_now_ms();
	char why[200];

	for (;;) {
		int rc = bc_lu_rrti(&p->lu, id, lba, ts, e);
		uint64_t now = bc_now_ms();

		if (rc < 0)
			return rc;
		if (!in_progress(ts))
			break;
		if (ts->transfer_count != count) {
			count = ts->transfer_count;
			since = now;
		}
		if (stop->cancel && *stop->cancel)
			return token_stop(dst, id, lba, -EINTR, NULL, ts, e);
		if (bc_deadline_passed(&stop->deadline)) {
			snprintf(why, sizeof(why),
				 "still in progress when the copy's --timeout=%u s ran out",
				 stop->deadline.seconds);
			return token_stop(dst, id, lba, -ETIME, why, ts, e);
		}
		if (now - since >= (uint64_t)stall_s * 1000u) {
			snprintf(why, sizeof(why),
				 "still in progress, without progress for %u s (the ROD token inactivity timeout, VPD 0x8F)",
				 stall_s);
			return token_stop(dst, id, lba, -ETIMEDOUT, why, ts, e);
		}
		status_pause(ts);
	}
	if (ts->copy_status == 0x60)
		return bc_error_set_lba(e, -EINTR, dst->name, "WRITE USING TOKEN", lba,
					dst->block_size, "aborted (COPY OPERATION ABORT) after %llu blocks",
					(unsigned long long)ts->transfer_count);
	if (ts->copy_status == 0x02)
		return bc_error_set_lba(e, -ECANCELED, dst->name, "WRITE USING TOKEN", lba,
					dst->block_size, "the copy failed after %llu blocks",
					(unsigned long long)ts->transfer_count);
	return 0;
}

bool bc_scsi_token_stale(const struct bc_error *e)
{
	return e->status.cat == BC_CAT_INVALID_TOKEN &&
	       (e->status.ascq == 0x07 || e->status.ascq == 0x08 ||
		e->status.ascq == 0x09);
}

uint32_t bc_scsi_token_stall_s(const struct bc_volume *src)
{
	/* a token lives this long unused (the default is asked for): a
	 * copy manager that shows no progress for as long is taken for
	 * stuck */
	return src->caps.token_lim.default_inactivity_s ?
	       src->caps.token_lim.default_inactivity_s : TOKEN_STALL_S;
}

int bc_scsi_token_write(struct bc_volume *dst, const uint8_t *token,
			uint64_t rod_off, uint64_t dlba, uint64_t blocks,
			uint32_t stall_s, const struct bc_stop *stop,
			uint64_t *written, struct bc_error *e)
{
	uint8_t pl[536 + BC_TOKEN_RANGE_LEN];
	int rc = 0;

	*written = 0;
	while (*written < blocks) {
		uint64_t left = blocks - *written, d = dlba + *written;
		struct bc_token_range r = { d, (uint32_t)(left > UINT32_MAX ? UINT32_MAX : left) };
		struct bc_token_status ts;
		uint32_t id = next_list_id(sp(dst));
		/* IMMED where the operation can be aborted: a cancel then
		 * stops the copy manager too */
		bool immed = sp(dst)->tpc.copy_abort;
		int l = bc_token_build_write(pl, sizeof(pl), rod_off + *written,
					     token, &r, 1, immed);

		if (l < 0) {
			rc = bc_error_set(e, l, dst->name, "WRITE USING TOKEN",
					  "parameter list");
			break;
		}
		rc = bc_lu_write_using_token(&sp(dst)->lu, id, pl, (uint32_t)l, d, e);
		if (rc == -ECANCELED) {
			/* COPY ABORTED: the list's status says how far the
			 * destination got */
			struct bc_error re = { 0 };

			if (bc_lu_rrti(&sp(dst)->lu, id, d, &ts, &re) == 0 &&
			    ts.transfer_count && ts.transfer_count <= r.blocks)
				*written += ts.transfer_count;
		}
		if (rc < 0)
			break;
		rc = token_wait(dst, id, d, stall_s, stop, &ts, e);
		if (rc < 0) {
			/* what the destination confirmed before it stopped */
			if (ts.transfer_count && ts.transfer_count <= r.blocks)
				*written += ts.transfer_count;
			break;
		}
		if (!ts.transfer_count || ts.transfer_count > r.blocks) {
			rc = bc_error_set_lba(e, -EIO, dst->name, "WRITE USING TOKEN",
					      d, dst->block_size,
					      "transfer count %llu of %llu blocks",
					      (unsigned long long)ts.transfer_count,
					      (unsigned long long)r.blocks);
			break;
		}
		/* short: the rest follows at a larger offset into the ROD */
		*written += ts.transfer_count;
	}
	explicit_bzero(pl, sizeof(pl));
	return rc;
}

/*
 * Token copy of [lba, +blocks) onto dlba, the copy reading the source as
 * it goes (bulk): populate a token for as much as the limits allow, write
 * it, and when a token went stale populate once more for what is left
 * (the source is meant to be still: the new token has the same content).
 * *done counts blocks the destination confirmed.
 */
static int token_copy(struct bc_volume *src, struct bc_volume *dst,
		      uint64_t lba, uint64_t dlba, uint64_t blocks,
		      const struct bc_stop *stop, uint64_t *done_blocks,
		      struct bc_error *e)
{
	const struct bc_caps *sc = &src->caps;
	uint64_t max = sc->token_lim.max_token_transfer;
	uint32_t stall_s = bc_scsi_token_stall_s(src);
	uint8_t token[BC_TOKEN_LEN];
	bool repopulated = false;
	int rc = 0;

	*done_blocks = 0;
	if (!max || max > UINT32_MAX)
		max = UINT32_MAX;
	if (sc->token_lim.optimal_transfer && sc->token_lim.optimal_transfer < max)
		max = sc->token_lim.optimal_transfer;
	while (*done_blocks < blocks && rc == 0) {
		uint64_t want = blocks - *done_blocks, rep = 0, w = 0;

		if (want > max)
			want = max;
		rc = token_populate(src, lba + *done_blocks, want, token, &rep, e);
		if (rc < 0)
			break;
		rc = bc_scsi_token_write(dst, token, 0, dlba + *done_blocks, rep,
					 stall_s, stop, &w, e);
		*done_blocks += w;
		if (rc < 0 && bc_scsi_token_stale(e) && !repopulated) {
			/* once in a row: a new token for what is left */
			repopulated = true;
			bc_error_clear(e);
			rc = 0;
			continue;
		}
		if (rc == 0)
			repopulated = false;
	}
	explicit_bzero(token, sizeof(token));
	return rc;
}

/*
 * Token copy of [src_off, src_off+len) onto dst_off, both SCSI LUs:
 * token_copy on whole blocks; *done is what the destination confirmed.
 */
int bc_scsi_token_exec(struct bc_volume *src, uint64_t src_off,
		       struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		       const struct bc_stop *stop, uint64_t *done,
		       struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	uint64_t blocks = 0;
	int rc;

	if (!len)	/* a token cannot be tried without writing */
		return bc_error_set(e, -EOPNOTSUPP, src->name, "token copy",
				    "the pair cannot be checked without copying");
	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (src->block_size != dst->block_size || src_off % src->block_size ||
	    dst_off % src->block_size || len % src->block_size)
		return bc_error_set(e, -EINVAL, dst->name, "token copy",
				    "ranges must be whole blocks of one size");
	rc = token_copy(src, dst, scsi_lba(src, src_off, NULL),
			scsi_lba(dst, dst_off, NULL),
			len / src->block_size, stop, &blocks, e);
	*done = blocks * src->block_size;
	if (sp(dst)->data && *done)
		bc_blk_invalidate(sp(dst)->data);
	return rc;
}
