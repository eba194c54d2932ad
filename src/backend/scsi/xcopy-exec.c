// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * EXTENDED COPY(LID1) between two SCSI LUs: the parameter lists built by
 * src/scsi/xcopy.c, sent to the source LU, several commands in flight
 * where the copy manager allows it (a copy manager such as LIO's runs each
 * command as a read then a write of one chunk at a time, so one command
 * never overlaps its own read and write; several commands can).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "backend/backends.h"
#include "backend/scsi/scsi-volume.h"
#include "scsi/lu.h"
#include "scsi/xcopy.h"

/* Generous: a copy manager may take long for 65535 blocks on slow media. */
#define XCOPY_TIMEOUT_MS 120000
/* Segments per command at most (the list buffer's size). */
#define XCOPY_SEGS 128
#define XCOPY_LIST_MAX (BC_XCOPY_HDR_LEN + 2 * BC_XCOPY_CSCD_LEN + \
			XCOPY_SEGS * BC_XCOPY_SEG_LEN)
/* Commands in flight at most, whatever the copy manager allows: a few
 * overlap one command's read with another's write; more only queue up
 * in the array and make a failure's redo longer. */
#define XCOPY_CAP 4

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

/* One command: a contiguous piece of the copy, in the order sent. */
enum xc_state { XC_FREE = 0, XC_RUNNING, XC_DONE, XC_FAILED };

struct xc_slot {
	struct bc_xcopy_segment seg[XCOPY_SEGS];
	size_t n;
	uint64_t lba, covered;	/* first source LBA, blocks */
	enum xc_state state;
	int rc;
	struct bc_error e;
};

/*
 * The commands of one call.  Pieces are handed out in order; a command
 * settles into the done prefix only when every piece before it has, so
 * done never counts a later piece that finished while an earlier one
 * failed.  At most @width are out (and, until the first succeeded, only
 * one: a copy manager that refuses the pair refuses before anything is
 * written, and the caller takes "nothing done" as "nothing written").
 */
struct xc_run {
	struct bc_volume *src, *dst;
	const struct bc_designator *sd, *dd;
	struct bc_xcopy_shape shape;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned width;
	uint64_t lba, dlba, left;	/* not yet handed out */
	uint64_t sent, settled;		/* commands handed out, in the prefix */
	uint64_t done_blocks;		/* the prefix */
	bool stop;			/* a command failed: send no more */
	struct xc_slot slot[XCOPY_CAP];
};

static int xc_send(struct xc_run *r, struct xc_slot *s, uint8_t *list)
{
	int l = bc_xcopy_build_list(list, XCOPY_LIST_MAX, r->sd, r->src->block_size,
				    r->dd, r->dst->block_size, s->seg, s->n);

	bc_error_clear(&s->e);
	if (l < 0)
		return bc_error_set(&s->e, l, r->src->name, "EXTENDED COPY(LID1)",
				    "cannot build the parameter list");
	return bc_lu_extended_copy(&sp(r->src)->lu, list, (uint32_t)l, s->lba,
				   XCOPY_TIMEOUT_MS, &s->e);
}

/* Send pieces until none is left or one failed; any number of these run
 * at once. */
static void *xc_worker(void *arg)
{
	struct xc_run *r = arg;
	uint8_t *list = malloc(XCOPY_LIST_MAX);

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct xc_slot *s;
		int rc;

		while (!r->stop && r->left &&
		       r->sent - r->settled >= (r->settled ? r->width : 1))
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop || !r->left)
			break;
		s = &r->slot[r->sent % r->width];
		s->n = bc_xcopy_cut(&r->shape, r->lba, r->dlba, r->left, s->seg,
				    XCOPY_SEGS, &s->covered);
		s->lba = r->lba;
		s->state = XC_RUNNING;
		r->lba += s->covered;
		r->dlba += s->covered;
		r->left -= s->covered;
		r->sent++;
		pthread_mutex_unlock(&r->lock);
		if (!list || !s->covered)	/* no buffer; a shape that cuts nothing */
			rc = bc_error_set(&s->e, !list ? -ENOMEM : -EOPNOTSUPP, r->src->name,
					  "EXTENDED COPY(LID1)", !list ? NULL :
					  "the copy manager's limits leave no room for a segment");
		else
			rc = xc_send(r, s, list);
		pthread_mutex_lock(&r->lock);
		s->rc = rc;
		s->state = rc < 0 ? XC_FAILED : XC_DONE;
		if (rc < 0)
			r->stop = true;
		while (r->settled < r->sent &&
		       r->slot[r->settled % r->width].state == XC_DONE) {
			struct xc_slot *f = &r->slot[r->settled % r->width];

			r->done_blocks += f->covered;
			f->state = XC_FREE;
			r->settled++;
		}
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	free(list);
	return NULL;
}

/* Run the pieces on @r->width threads (this one included); then the
 * prefix, and the first failed piece's error and finished segments. */
static int xc_run_all(struct xc_run *r, uint64_t *done, struct bc_error *e)
{
	pthread_t th[XCOPY_CAP];
	unsigned started = 0;
	uint64_t bs = r->src->block_size;
	int rc = 0;

	for (; started + 1 < r->width; started++)
		if (pthread_create(&th[started], NULL, xc_worker, r))
			break;	/* fewer threads: still correct */
	xc_worker(r);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	*done += r->done_blocks * bs;
	/* every thread is gone: a piece past the prefix failed or none did */
	if (r->settled < r->sent) {
		struct xc_slot *f = &r->slot[r->settled % r->width];
		size_t k = f->rc == -ECANCELED ?
			   bc_xcopy_segments_done(&f->e.status, f->n) : 0;

		for (size_t i = 0; i < k; i++)
			*done += (uint64_t)f->seg[i].blocks * bs;
		*e = f->e;
		rc = f->rc < 0 ? f->rc : -EIO;
	}
	return rc;
}

/*
 * EXTENDED COPY(LID1) of [src_off, src_off+len) onto dst_off, both SCSI
 * LUs, sent to the source LU: commands cut to the copy manager's limits,
 * as many at once as it and the transport allow (at most XCOPY_CAP).
 * *done is the contiguous prefix that is copied: on COPY ABORTED the
 * segments the sense data reports finished count as done and nothing
 * else does, nor anything after the first command that failed (whose
 * error is the one reported).
 */
int bc_scsi_xcopy_exec(struct bc_volume *src, uint64_t src_off,
		       struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		       uint64_t *done, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	const struct bc_designator *sd, *dd;
	struct xc_run *r;
	uint64_t bs = src->block_size;
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
	if (!len)
		return xcopy_confirm_pair(src, sd, dst, dd, scsi_lba(src, src_off, NULL),
					  scsi_lba(dst, dst_off, NULL), e);
	r = calloc(1, sizeof(*r));
	if (!r)
		return bc_error_set(e, -ENOMEM, src->name, "EXTENDED COPY(LID1)", NULL);
	if (bc_xcopy_shape(&sc->xcopy_lim, src->block_size, &r->shape) < 0) {
		free(r);
		return bc_error_set(e, -EOPNOTSUPP, src->name, "EXTENDED COPY(LID1)",
				    "the copy manager's limits leave no room for a segment");
	}
	r->src = src;
	r->dst = dst;
	r->sd = sd;
	r->dd = dd;
	r->width = bc_xcopy_concurrency(&sc->xcopy_lim, sp(src)->lu.t->max_queue,
					XCOPY_CAP);
	r->lba = scsi_lba(src, src_off, NULL);
	r->dlba = scsi_lba(dst, dst_off, NULL);
	r->left = len / bs;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	rc = xc_run_all(r, done, e);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
	/* the copy manager wrote behind the kernel's page cache */
	if (sp(dst)->data && *done)
		bc_blk_invalidate(sp(dst)->data);
	return rc;
}
