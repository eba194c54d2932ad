// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The offload walker: an in-array copy of the source's allocated extents
 * (all of it when the source has no map), with the source's holes settled
 * on the destination by the same rule as the host copy (holes.c).  The
 * backend's offload_copy does the commands; this file decides what to send
 * and keeps the progress exact, so a refusal part-way can be continued
 * from the first byte not copied.
 */
#include <errno.h>
#include <string.h>

#include <blkclone/copy.h>

#include "util/deadline.h"
#include "core/fixed.h"
#include "core/holes.h"
#include "volume/extent.h"
#include "volume/io.h"

#define MAP_BATCH 64
/* Bytes per call into the backend: small enough to notice a cancel and
 * report progress, large enough to keep the copy manager busy. */
#define STEP_BYTES (256ull << 20)
/* Destination bytes written (copied or zeroed) between two flushes that
 * let durable_offset move on, unless o->write_behind says otherwise: the
 * host copy's cadence (hostcopy.c). */
#define DURABLE_STEP (128ull << 20)

/*
 * Did a failed command certainly not run?  A device says so by the
 * categories of a request refused as malformed (the status decoder sorts
 * every such refusal into one of them: REJECTED where no narrower one
 * fits).  An OS error says so by its category where the backend knows (a
 * clone the kernel refused before remapping anything: NOT_SUPPORTED; one
 * that may have remapped part: OTHER); without one, -EOPNOTSUPP and
 * -EINVAL come from the backend's own checks, before anything was sent.
 */
static bool rejected_unperformed(const struct bc_error *e, int rc)
{
	if (e->status.kind == BC_STATUS_NONE) {
		if (e->status.cat != BC_CAT_OK)
			return e->status.cat == BC_CAT_NOT_SUPPORTED;
		return rc == -EOPNOTSUPP || rc == -EINVAL;
	}
	switch (e->status.cat) {
	case BC_CAT_REJECTED:
	case BC_CAT_NOT_SUPPORTED:
	case BC_CAT_OUT_OF_RANGE:
	case BC_CAT_INVALID_TOKEN:
		return true;
	default:
		return false;
	}
}

struct walk;
static int durable_step(struct walk *w, struct bc_error *e);

static int walk_data(struct walk *w, struct bc_volume *src,
		     struct bc_volume *dst, enum bc_method m, uint64_t off,
		     uint64_t len, const struct bc_copy_opts *o,
		     struct bc_copy_stats *st, struct bc_error *e)
{
	const struct bc_stop stop = { o->cancel, o->deadline };

	while (len) {
		uint64_t n = len > STEP_BYTES ? STEP_BYTES : len, done = 0;
		int rc;

		if (o->cancel && *o->cancel)
			return bc_error_set_lba(e, -EINTR, src->name, "copy",
						off / src->block_size,
						src->block_size, "interrupted");
		if (bc_deadline_passed(&o->deadline))
			return bc_deadline_error(e, src->name, "copy", off,
						 src->block_size, &o->deadline);
		bool was = st->dest_modified;

		st->dest_modified = true;
		if (o->fixed)	/* what was fixed at start, nothing later */
			rc = bc_volume_capture_copy(o->fixed->cap, src, off, dst, off,
						    n, &stop, &done, e);
		else
			rc = bc_volume_offload_copy(src, off, dst, off, n, m, &stop,
						    &done, e);
		if (done > n)
			done = n;	/* a backend never reports more */
		/* refused as malformed: the command was not performed at all */
		if (rc < 0 && !done && rejected_unperformed(e, rc)) {
			st->dest_modified = was;
			/* the first command refused unperformed: the pair is,
			 * unless a token held since start died (that is time,
			 * not the pair) */
			if (!was && !st->offloaded_bytes && e->status.kind != BC_STATUS_NONE &&
			    !(o->fixed && e->status.cat == BC_CAT_INVALID_TOKEN))
				st->offload_refused = true;
		}
		st->offloaded_bytes += done;
		st->done_bytes = off + done;
		st->resume_offset = off + done;
		if (rc < 0)
			return rc;
		off += n;
		len -= n;
		if ((rc = durable_step(w, e)) < 0)
			return rc;
		if (o->progress)
			o->progress(st, o->progress_arg);
	}
	return 0;
}

/*
 * Holes are settled only once the copy manager has accepted a command, so
 * a refusal of the first command leaves the destination untouched (and
 * --offload=require can exit 3 honestly).
 */
#define PENDING_MAX 32

struct pending {
	struct bc_dest_holes *holes;
	bool confirmed;		/* an offload command succeeded */
	size_t n;
	struct bc_extent r[PENDING_MAX];
};

static int pending_flush(struct pending *p, struct bc_copy_stats *st,
			 struct bc_error *e)
{
	for (size_t i = 0; i < p->n; i++) {
		int rc = bc_dest_settle(p->holes, NULL, p->r[i].offset, p->r[i].length, e);

		if (rc < 0) {
			/* nothing after this hole is known done */
			if (p->r[i].offset < st->resume_offset)
				st->resume_offset = p->r[i].offset;
			return rc;
		}
	}
	p->n = 0;
	return 0;
}

static int pending_add(struct pending *p, uint64_t off, uint64_t len,
		       struct bc_copy_stats *st, struct bc_error *e)
{
	int rc;

	if (p->n && p->r[p->n - 1].offset + p->r[p->n - 1].length == off) {
		p->r[p->n - 1].length += len;
		return 0;
	}
	if (p->n == PENDING_MAX && (rc = pending_flush(p, st, e)) < 0)
		return rc;
	p->r[p->n++] = (struct bc_extent){ off, len, BC_EXTENT_DEALLOCATED };
	return p->confirmed ? pending_flush(p, st, e) : 0;
}

/* What the walk needs beside the volumes. */
struct walk {
	struct bc_volume *src, *dst;
	enum bc_method m;
	bool src_zero;		/* the source's holes read zero */
	const struct bc_copy_opts *o;
	struct bc_copy_stats *st;
	struct pending pend;
	uint64_t cadence;	/* destination bytes between flushes */
	uint64_t written_at_flush;	/* offloaded + zeroed + written then */
};

/*
 * Let st->durable_offset follow the copy, as the host copy's does: the
 * point below which every range is done (the walk is in order: every
 * command below it completed, every hole below it settled) and on the
 * destination's stable storage.  A copy manager writes through the
 * destination's cache as WRITE does: EXTENDED COPY (SPC-5) and WRITE
 * USING TOKEN (SBC-4) have no FUA bit, and NVMe Copy is sent without
 * one; a reflink is metadata until fdatasync.  So the offset only passes
 * what a flush that came after it succeeded covers (SYNCHRONIZE CACHE,
 * NVMe Flush, fdatasync): one flush per cadence of bytes written, none
 * while only proven-zero holes were skipped, and none ever under
 * BC_FLUSH_NEVER (the offset then passes only what was skipped before
 * anything was written).  1 when it moved on.
 */
static int durable_step(struct walk *w, struct bc_error *e)
{
	struct bc_copy_stats *st = w->st;
	uint64_t to = st->resume_offset;
	/* copied, zeroed, or zeros written where no zeroing command is */
	uint64_t written = st->offloaded_bytes + st->zeroed_bytes + st->written_bytes;
	int rc;

	/* a hole still waiting for the copy manager's first yes is not
	 * settled yet */
	if (w->pend.n && w->pend.r[0].offset < to)
		to = w->pend.r[0].offset;
	if (to <= st->durable_offset)
		return 0;
	if (written != w->written_at_flush) {
		/* BC_FLUSH_NEVER: no flush is sent, so what was written
		 * since the start is never known durable */
		if (w->o->flush == BC_FLUSH_NEVER ||
		    written - w->written_at_flush < w->cadence)
			return 0;
		if (bc_volume_can_flush(w->dst) &&
		    (rc = bc_volume_flush(w->dst, e)) < 0) {
			/* what came after the last good flush may be lost */
			st->resume_offset = st->durable_offset;
			return rc;
		}
		w->written_at_flush = written;
	}
	st->durable_offset = to;
	return 1;
}

/*
 * Ask the copy manager to accept the pair before anything is written: its
 * refusal then means "not in one copy domain", and a later COPY ABORTED
 * means "failed part-way".  The backend writes nothing to answer;
 * -EOPNOTSUPP without a status or category means it cannot tell without
 * copying.
 */
static int ask_pair(struct walk *w, uint64_t pos, struct bc_error *e)
{
	uint64_t none = 0;
	int rc = bc_volume_offload_copy(w->src, pos, w->dst, pos, 0, w->m,
					NULL, &none, e);

	if (rc == 0) {
		w->pend.confirmed = true;
	} else if (rc != -EOPNOTSUPP || e->status.kind != BC_STATUS_NONE ||
		   e->status.cat == BC_CAT_NOT_SUPPORTED) {
		/* only a device's refusal is worth remembering: a
		 * filesystem answers again for free */
		w->st->offload_refused = e->status.kind != BC_STATUS_NONE;
		return rc;
	} else {
		bc_error_clear(e);	/* cannot ask: find out by copying */
	}
	return 0;
}

/* One extent of the source map: a hole settled on the destination (once
 * the copy manager has accepted a command), or data sent to be copied. */
static int walk_extent(struct walk *w, const struct bc_extent *x,
		       struct bc_error *e)
{
	struct bc_volume *src = w->src;
	struct bc_copy_stats *st = w->st;
	uint64_t pos = x->offset, len = x->length, before = st->offloaded_bytes;
	int rc;

	if (len % src->block_size)
		return bc_error_set_lba(e, -EIO, src->name, "map",
					pos / src->block_size, src->block_size,
					"extent is not whole blocks");
	/* A hole reads zero only if the source says so. */
	if (x->state != BC_EXTENT_MAPPED && w->src_zero) {
		rc = pending_add(&w->pend, pos, len, st, e);
		if (rc < 0)
			return rc;
		st->done_bytes = pos + len;
		st->resume_offset = pos + len;
		/* a report follows each advance (copy.h) */
		if ((rc = durable_step(w, e)) > 0 && w->o->progress)
			w->o->progress(st, w->o->progress_arg);
		return rc < 0 ? rc : 0;
	}
	rc = walk_data(w, src, w->dst, w->m, pos, len, w->o, st, e);
	if (st->offloaded_bytes > before && !w->pend.confirmed) {
		struct bc_error pe = { 0 };
		int prc;

		w->pend.confirmed = true;
		if ((prc = pending_flush(&w->pend, st, &pe)) < 0) {
			*e = pe;
			return prc;
		}
	}
	/* Unconfirmed holes before a failure were never settled: not done. */
	if (rc < 0 && !w->pend.confirmed && w->pend.n)
		st->resume_offset = w->pend.r[0].offset;
	return rc;
}

/* The next extent: from what was fixed at start, or the source's map. */
static int next_extent(const struct bc_fixed *fx, size_t *i,
		       struct bc_extent_iter *it, struct bc_extent *x,
		       struct bc_error *e)
{
	if (!fx)
		return bc_extent_next(it, x, e);
	if (*i == fx->n)
		return 0;
	*x = fx->x[(*i)++];
	return 1;
}

/* What this copy put on the destination, every way it did. */
static uint64_t wrote(const struct bc_copy_stats *st)
{
	return st->offloaded_bytes + st->written_bytes + st->zeroed_bytes;
}

static int offload_walk(struct bc_volume *src, struct bc_volume *dst,
			enum bc_method m, bool dest_proven_zero,
			const struct bc_copy_opts *o, struct bc_copy_stats *st,
			struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	const struct bc_fixed *fx = o->fixed;
	struct bc_extent ext[MAP_BATCH], x;
	struct bc_extent_iter it;
	struct bc_dest_holes holes;
	struct walk w = { .src = src, .dst = dst, .m = m, .o = o, .st = st,
			  .pend = { .holes = &holes },
			  .cadence = o->write_behind ? o->write_behind : DURABLE_STEP };
	uint64_t pos = o->start, end = src->size;
	size_t fi = 0;
	int rc;

	if (!bc_volume_can_offload(src))
		return bc_error_set(e, -EOPNOTSUPP, src->name, "offload copy",
				    "%s is not implemented for this volume",
				    bc_method_name(m));
	if (fx && (fx->src != src || fx->method != m || fx->start != pos ||
		   fx->end != end))
		return bc_error_set(e, -EINVAL, src->name, "offload copy",
				    "the point in time was fixed for another copy");
	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (pos % src->block_size || end % src->block_size)
		return bc_error_set(e, -EINVAL, src->name, "offload copy",
				    "an in-array copy moves whole blocks");
	bc_dest_holes_init(&holes, dst, dc, dest_proven_zero, st);
	w.src_zero = sc->zero_init.state == BC_SUP_YES;
	st->resume_offset = pos;
	st->done_bytes = pos;
	if (st->durable_offset > pos)
		st->durable_offset = pos;
	w.written_at_flush = st->offloaded_bytes + st->zeroed_bytes + st->written_bytes;

	/* Data other writers left in a cache must be on the medium the copy
	 * manager reads (when fixed, it was, at start). */
	if (!fx && bc_volume_can_flush(src) && (rc = bc_volume_flush(src, e)) < 0)
		return rc;
	if (!fx && pos < end && (rc = ask_pair(&w, pos, e)) < 0)
		return rc;
	bc_extent_iter_init(&it, src, pos, end, ext, MAP_BATCH);
	while ((rc = next_extent(fx, &fi, &it, &x, e)) > 0)
		if ((rc = walk_extent(&w, &x, e)) < 0)
			return rc;
	if (rc < 0 || (rc = pending_flush(&w.pend, st, e)) < 0)
		return rc;
	/* The copy manager wrote the destination; make it durable there
	 * (unless the caller flushes itself: BC_FLUSH_NEVER). */
	if (o->flush != BC_FLUSH_NEVER && bc_volume_can_flush(dst)) {
		if ((rc = bc_volume_flush(dst, e)) < 0)
			return rc;
		st->dest_flushes++;
		st->unflushed_bytes = 0;
	}
	st->done_bytes = end;
	st->resume_offset = end;
	/* durable only as far as a flush covered (BC_FLUSH_NEVER: none) */
	if (o->flush != BC_FLUSH_NEVER || !bc_volume_can_flush(dst))
		st->durable_offset = end;
	if (o->progress)
		o->progress(st, o->progress_arg);
	return 0;
}

int bc_offload_copy(struct bc_volume *src, struct bc_volume *dst,
		    enum bc_method m, bool dest_proven_zero,
		    const struct bc_copy_opts *o, struct bc_copy_stats *st,
		    struct bc_error *e)
{
	uint64_t before = wrote(st), flushes = st->dest_flushes;
	int rc = offload_walk(src, dst, m, dest_proven_zero, o, st, e);

	/* not flushed at the end (never, failed, or nothing to flush):
	 * what it wrote stays to be flushed */
	if (st->dest_flushes == flushes)
		st->unflushed_bytes += wrote(st) - before;
	return rc;
}
