// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where a chunk of the host copy goes: its runs of data are written, its
 * runs of zeros (zero detection, at g->zgran) and the source's holes are
 * settled on the destination by the one hole rule (holes.c), merged so a
 * run of holes costs one command; and every tune.write_behind bytes the
 * flusher is asked to make the writes durable.
 */
#include <errno.h>

#include "core/hostcopy-priv.h"
#include "util/zerodetect.h"
#include "volume/io.h"

/*
 * A range of the destination must read zero (holes.c decides how).  Called
 * with the engine lock held and returns with it held, but drops it while
 * the destination is asked or zeroed: a map query or WRITE SAME is a round
 * trip behind the data queued on the destination (176 of them took 0.25 s
 * of a 1.2 s copy against tgt), and the workers must go on meanwhile --
 * settling other ranges too: a volume's map and zero ops take threads as
 * its reads and writes do (volume/io.h).  *slot holds the range's offset
 * until it is done, so the watermark stays below it.
 */
int bc_host_settle_unlocked(struct engine *g, uint64_t off, uint64_t len,
			    uint64_t *slot, struct bc_error *e)
{
	struct bc_copy_stats delta = { 0 };
	struct bc_dest_holes h = g->holes;
	struct bc_map_known known;
	int rc;

	if (!len)
		return 0;
	h.st = &delta;
	known = g->known;
	*slot = off;
	pthread_mutex_unlock(&g->lock);
	rc = bc_dest_settle(&h, &known, off, len, e);
	pthread_mutex_lock(&g->lock);
	*slot = NO_OFFSET;
	bc_map_known_merge(&g->known, &known);
	g->st->skipped_bytes += delta.skipped_bytes;
	g->st->zeroed_bytes += delta.zeroed_bytes;
	g->st->written_bytes += delta.written_bytes;
	return rc;
}

/*
 * Lock held.  Merge a worker's zero run into the pending one; a pending
 * one that does not touch it is settled first (see settle_unlocked).  On
 * failure *fail is the lowest offset left undone.
 */
int bc_host_add_hole(struct engine *g, uint64_t off, uint64_t len,
		     uint64_t *slot, uint64_t *fail, struct bc_error *e)
{
	uint64_t po = g->hole_off, pl = g->hole_len;

	if (pl && po + pl == off) {
		g->hole_len += len;
		return 0;
	}
	g->hole_off = off;
	g->hole_len = len;
	*fail = po;
	return bc_host_settle_unlocked(g, po, pl, slot, e);
}

/*
 * Count a write, and ask the flusher (hostcopy-flush.c) for a flush when
 * tune.write_behind bytes have gone out since the last one asked: the
 * worker goes on copying meanwhile.  A failure the flusher met is
 * returned here, the copy stopping at its offset.
 */
static int account_write(struct worker *w, uint64_t n)
{
	struct engine *g = w->g;
	int rc = 0;

	pthread_mutex_lock(&g->lock);
	g->st->written_bytes += n;
	g->unflushed += n;
	if (g->unflushed >= g->tune.write_behind && g->flusher_started) {
		g->unflushed = 0;
		rc = bc_host_flush_ask(g);
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
}

/* Copy one chunk through the worker's buffer, splitting out zero runs.
 * On failure *fail is the lowest offset the failure left undone. */
int bc_host_copy_chunk(struct worker *w, uint64_t off, size_t n,
		       uint64_t *fail)
{
	struct engine *g = w->g;
	void *buf = w->buf;
	size_t i = 0;
	int rc;

	*fail = off;
	rc = bc_volume_read(g->src, buf, off, n, &w->err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&g->lock);
	g->st->read_bytes += n;
	pthread_mutex_unlock(&g->lock);
	/* a stop asked for while the read was out: nothing read after it is
	 * written (a read may take long: a slow or failing target) */
	if (g->o->cancel && *g->o->cancel)
		return bc_error_set(&w->err, -EINTR, g->src->name, "copy", NULL);
	while (i < n) {
		bool zero;
		size_t run = bc_zero_run((char *)buf + i, n - i, g->zgran, &zero);

		if (zero) {
			uint64_t hfail;

			pthread_mutex_lock(&g->lock);
			rc = bc_host_add_hole(g, off + i, run, &w->settling,
					      &hfail, &w->err);
			pthread_mutex_unlock(&g->lock);
			if (rc < 0 && hfail < *fail)
				*fail = hfail;
		} else {
			rc = bc_volume_write(g->dst, (char *)buf + i, off + i,
					     run, &w->err);
			if (!rc && (rc = account_write(w, run)) < 0) {
				/* the flusher's failure, recorded at its
				 * offset: this chunk stops with it */
				w->err = *g->e;
			}
		}
		if (rc < 0)
			return rc;
		i += run;
	}
	return 0;
}

