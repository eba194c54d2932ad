// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host copy engine: walk the source's allocation, read what is
 * allocated, write what is not zero, and make sure every other byte of the
 * destination reads zero -- by proof (the destination is known zero
 * there), or by the cheapest zeroing command the destination has.  This
 * file sizes the engine and walks the source; the workers and the
 * destination side are hostcopy-pool.c and hostcopy-write.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/hostcopy-priv.h"
#include "util/deadline.h"
#include "volume/extent.h"
#include "volume/io.h"

#define DEFAULT_CHUNK (1u << 20)
/* Bounds on a device's optimal transfer length as the I/O size: an odd
 * report must not make tiny commands or a huge buffer pool. */
#define MIN_CHUNK (64u << 10)
#define MAX_CHUNK (8u << 20)
/* The buffer pool, all workers together: keeps RSS bounded whatever the
 * volumes report and however many workers run. */
#define POOL_BYTES (32u << 20)
/*
 * Ask the destination to make its writes durable every so many bytes
 * written (the flusher sends it while the workers go on): the cache the
 * destination holds stays bounded, its write-back overlaps the copy
 * instead of all following it in the final SYNCHRONIZE CACHE or fsync,
 * and a destination that cannot write is found out early.  The controller
 * (iotune.h) moves it within [MIN_WB, MAX_WB] from the flushes' latency,
 * starting at WRITE_BEHIND; a caller's o->write_behind is kept as given.
 */
#define WRITE_BEHIND (128ull << 20)
#define MIN_WB (32ull << 20)
#define MAX_WB (1ull << 30)
#define MAP_BATCH 64

/*
 * Lock held.  The source's pending hole goes to the workers, who settle
 * it beside the data: in the producer, one settle at a time would stop
 * the walk for a round trip per hole (against tgt, a copy onto old data
 * ran at half qemu-img's speed that way).
 */
static int queue_src_hole(struct engine *g)
{
	uint64_t off = g->src_hole_off, len = g->src_hole_len;
	int rc;

	if (!len)
		return g->failed;
	/* Onto a destination proven zero a hole needs nothing (holes.c):
	 * it is done here, not handed to a worker in 1 GiB pieces -- a
	 * 16 TiB thin LU's holes were 16k hand-offs that did nothing, ten
	 * times the context switches of the 1 GiB LU with the same data. */
	if (g->holes.proven_zero) {
		g->st->skipped_bytes += len;
		g->src_hole_len = 0;
		return g->failed;
	}
	/* queued first, then cleared: the watermark stays below it */
	rc = bc_host_queue_hole(g, off, len);
	if (!rc)
		g->src_hole_len = 0;
	return rc;
}

/* A hole of the source: grows the pending one, or queues that and
 * becomes the pending one (lock not held). */
static int produce_hole(struct engine *g, uint64_t off, uint64_t len)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = g->failed;
	if (!rc && g->src_hole_len && g->src_hole_off + g->src_hole_len == off) {
		g->src_hole_len += len;
	} else if (!rc && !(rc = queue_src_hole(g))) {
		g->src_hole_off = off;
		g->src_hole_len = len;
	}
	/* the pending hole now holds the watermark */
	if (!rc)
		g->produced = off + len;
	bc_host_progress(g, false);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

/* Data of the source: after the pending hole, so the queue stays in
 * order (lock not held). */
static int produce_data(struct engine *g, uint64_t off, uint64_t len)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = queue_src_hole(g);
	pthread_mutex_unlock(&g->lock);
	return rc < 0 ? rc : bc_host_queue_data(g, off, len);
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * Re-cut the source's extents to the I/O alignment (the larger block
 * size): a block is a hole only if the source's map says all of it is,
 * so a 512-byte extent never leads to an unaligned write on a 4096-byte
 * destination.  Holes that would need the next map reply to be complete
 * are left for that reply; progress is always made.  @in is a checked
 * reply (volume/extent.h): contiguous from @pos, inside [pos, end).
 */
static size_t align_extents(const struct bc_extent *in, size_t n,
			    struct bc_extent *out, uint64_t pos, uint64_t end,
			    uint64_t align, bool src_zero_init)
{
	uint64_t cur = pos, last = pos;
	bool last_hole = false;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = in[i].offset, e = s + in[i].length;
		bool hole = in[i].state != BC_EXTENT_MAPPED && src_zero_init;

		last = e;
		last_hole = hole;
		if (hole) {
			uint64_t hs = round_up(s, align), he = e / align * align;

			if (e >= end)
				he = end;
			if (hs < he) {
				if (cur < hs)
					out[k++] = (struct bc_extent){ cur, hs - cur,
								       BC_EXTENT_MAPPED };
				out[k++] = (struct bc_extent){ hs, he - hs,
							       BC_EXTENT_DEALLOCATED };
				cur = he;
			}
		}
		if (last >= end)
			break;
	}
	if (cur < last) {
		/* The tail: data up to a whole block (or the end), unless it is
		 * a partial hole the next map reply can complete. */
		uint64_t stop = round_up(last, align);

		if (stop > end)
			stop = end;
		if (k == 0 || !last_hole || stop == end)
			out[k++] = (struct bc_extent){ cur, stop - cur,
						       BC_EXTENT_MAPPED };
	}
	if (k == 0)	/* never stall: at least one aligned block of data */
		out[k++] = (struct bc_extent){ pos, (round_up(pos + 1, align) > end ?
					       end : round_up(pos + 1, align)) - pos,
					       BC_EXTENT_MAPPED };
	return k;
}

static int next_extents(struct engine *g, uint64_t pos, uint64_t end,
			struct bc_extent *ext, size_t *n, struct bc_error *e)
{
	struct bc_extent raw[MAP_BATCH];
	size_t got = 0;
	int rc = bc_extent_query(g->src, pos, end, raw, MAP_BATCH, &got, e);

	if (rc < 0)
		return rc;
	*n = align_extents(raw, got, ext, pos, end, g->align,
			   g->sc->zero_init.state == BC_SUP_YES);
	return 0;
}

static uint32_t min_nonzero(uint32_t a, uint32_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/*
 * The I/O size: the caller's, else the larger optimal transfer length the
 * two volumes report (VPD B0, the kernel's io_opt) within [MIN_CHUNK,
 * MAX_CHUNK], else DEFAULT_CHUNK; the caller's too never above either's
 * maximum transfer (the LU would refuse a longer one) nor its share of
 * the buffer pool; a whole number of zero-detection granules.
 */
static uint32_t pick_chunk(uint32_t want, const struct bc_caps *sc,
			   const struct bc_caps *dc, unsigned workers,
			   uint32_t gran)
{
	uint32_t c = want, opt = sc->opt_transfer > dc->opt_transfer ?
				 sc->opt_transfer : dc->opt_transfer;
	uint32_t max = min_nonzero(sc->max_transfer, dc->max_transfer);

	if (!c) {
		c = opt ? opt : DEFAULT_CHUNK;
		if (c < MIN_CHUNK)
			c = MIN_CHUNK;
		if (c > MAX_CHUNK)
			c = MAX_CHUNK;
	}
	if (max && c > max)
		c = max;
	if (c > POOL_BYTES / workers)
		c = POOL_BYTES / workers;
	if (c < gran)
		c = gran;
	return c / gran * gran;
}

static unsigned pick_workers(const struct bc_volume *src,
			     const struct bc_volume *dst)
{
	unsigned n = src->io_threads < dst->io_threads ? src->io_threads :
							 dst->io_threads;

	if (n < 1)
		n = 1;
	return n > MAX_WORKERS ? MAX_WORKERS : n;
}

/* Caps, geometry and locks; the workers are sized later (size_pool). */
static int engine_new(struct bc_volume *src, struct bc_volume *dst,
		      bool dest_proven_zero, const struct bc_copy_opts *o,
		      struct bc_copy_stats *st, struct bc_error *e,
		      struct engine **out)
{
	struct engine *g = calloc(1, sizeof(*g));
	uint64_t pos;
	int rc;

	if (!g)
		return bc_error_set(e, -ENOMEM, src->name, "copy", NULL);
	*g = (struct engine){ .src = src, .dst = dst, .o = o, .st = st, .e = e,
			      .fail_off = NO_OFFSET };
	if ((rc = bc_volume_caps(src, &g->sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &g->dc, e)) < 0) {
		free(g);
		return rc;
	}
	bc_dest_holes_init(&g->holes, dst, g->dc, dest_proven_zero, st);
	g->align = src->block_size > dst->block_size ? src->block_size :
						       dst->block_size;
	g->zgran = g->align > 4096 ? g->align : 4096;
	clock_gettime(CLOCK_MONOTONIC, &g->t0);
	g->last_progress = g->t0;
	pthread_mutex_init(&g->lock, NULL);
	g->producer_settling = NO_OFFSET;
	pthread_cond_init(&g->not_empty, NULL);
	pthread_cond_init(&g->not_full, NULL);
	pthread_cond_init(&g->flush_cv, NULL);
	pthread_cond_init(&g->flush_done, NULL);

	pos = o->start / g->align * g->align;
	g->produced = pos;
	g->durable = pos;
	/* what an earlier part (an offload that fell back) left unflushed */
	g->flushed_through = bc_host_wrote(g) - st->unflushed_bytes;
	st->total_bytes = src->size;
	st->resume_offset = pos;
	/* a caller's earlier part (an offload before a fallback) counts
	 * only from the first flush on, which covers it too */
	if (st->durable_offset > pos)
		st->durable_offset = pos;
	*out = g;
	return 0;
}

/*
 * The workers, one per command the volumes take at once; each with a
 * buffer of the largest chunk (pick_chunk).  The controller starts with
 * all of them at that chunk, and moves depth within [1, workers], chunk
 * within [MIN_CHUNK, buffer] and write-behind (above); a caller's chunk,
 * write-behind and fixed depth are kept as given, its depth otherwise a
 * cap.
 */
static void size_pool(struct engine *g)
{
	const struct bc_copy_opts *o = g->o;
	uint64_t wb = o->write_behind ? o->write_behind : WRITE_BEHIND;

	g->n_workers = pick_workers(g->src, g->dst);
	/* a fixed depth needs no more workers, nor buffers, than it keeps
	 * busy (and leaves each a larger share of the pool); a cap leaves
	 * the workers as many */
	if (o->depth && o->depth_fixed && o->depth < g->n_workers)
		g->n_workers = o->depth;
	g->buf_size = pick_chunk(o->chunk, g->sc, g->dc, g->n_workers, g->zgran);
	g->lim = (struct bc_iotune_limits){
		.max_depth = o->depth && o->depth < g->n_workers ? o->depth :
								  g->n_workers,
		.min_depth = o->depth_fixed ? o->depth : 1,
		.min_chunk = o->chunk || MIN_CHUNK > g->buf_size ? g->buf_size :
								   MIN_CHUNK,
		.max_chunk = g->buf_size,
		.gran = g->zgran,
		.min_wb = o->write_behind ? wb : MIN_WB,
		.max_wb = o->write_behind ? wb : MAX_WB,
	};
	bc_iotune_init(&g->tune, &g->lim, g->lim.max_depth, g->buf_size, wb);
	g->st->chunk_bytes = g->buf_size;
	g->st->workers = g->n_workers;
}

static void engine_free(struct engine *g)
{
	for (unsigned i = 0; i < g->n_workers; i++)
		free(g->workers[i].buf);
	pthread_cond_destroy(&g->flush_done);
	pthread_cond_destroy(&g->flush_cv);
	pthread_cond_destroy(&g->not_full);
	pthread_cond_destroy(&g->not_empty);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* Lock not held.  Record a failure of the producer's at @pos. */
static void producer_failed(struct engine *g, int rc, uint64_t pos,
			    const struct bc_error *e)
{
	pthread_mutex_lock(&g->lock);
	bc_host_record_failure(g, rc, pos, e);
	pthread_mutex_unlock(&g->lock);
}

/* The producer: the source's extents, re-cut to the I/O alignment, as
 * data for the workers or holes to settle.  Failures are recorded. */
static void walk_source(struct engine *g)
{
	struct bc_extent ext[2 * MAP_BATCH + 2];
	uint64_t pos = g->produced, end = g->src->size;
	const struct bc_copy_opts *o = g->o;

	while (pos < end) {
		struct bc_error me = { 0 };
		size_t n = 0;
		int rc;

		if ((o->cancel && *o->cancel) ||
		    bc_deadline_passed(&g->o->deadline)) {
			rc = o->cancel && *o->cancel ?
			     bc_error_set(&me, -EINTR, g->src->name, "copy", NULL) :
			     bc_deadline_error(&me, g->src->name, "copy", pos,
					       g->src->block_size,
					       &g->o->deadline);
			producer_failed(g, rc, pos, &me);
			return;
		}
		rc = next_extents(g, pos, end, ext, &n, &me);
		if (rc < 0) {
			producer_failed(g, rc, pos, &me);
			return;
		}
		for (size_t i = 0; i < n && pos < end; i++) {
			uint64_t len = ext[i].length;

			if (ext[i].offset != pos)
				break;
			if (len > end - pos)
				len = end - pos;
			rc = ext[i].state != BC_EXTENT_MAPPED ?
			     produce_hole(g, pos, len) :
			     produce_data(g, pos, len);
			if (rc < 0)
				return;
			pos += len;
		}
	}
	/* the last hole (a failure is recorded already) */
	pthread_mutex_lock(&g->lock);
	queue_src_hole(g);
	pthread_mutex_unlock(&g->lock);
}

/* Single-threaded again: the last pending hole, the destination made
 * durable, and where a resume would start. */
static int finish(struct engine *g, struct bc_error *e)
{
	int rc = g->failed;

	if (!rc) {
		struct bc_error he = { 0 };
		uint64_t ho, hl;

		pthread_mutex_lock(&g->lock);
		ho = g->hole_off;
		hl = g->hole_len;
		g->hole_len = 0;
		rc = bc_host_settle_unlocked(g, ho, hl, &g->producer_settling,
					     &he);
		if (rc < 0)
			bc_host_record_failure(g, rc, ho, &he);
		pthread_mutex_unlock(&g->lock);
	}
	if (!rc && bc_volume_can_flush(g->dst) && g->o->flush != BC_FLUSH_NEVER) {
		if ((rc = bc_volume_flush(g->dst, e)) < 0) {
			g->failed = rc;
			g->fail_off = g->durable; /* the writes since may be lost */
		} else {
			bc_host_flushed(g, bc_host_wrote(g));
		}
	}
	g->st->unflushed_bytes = bc_host_wrote(g) - g->flushed_through;
	g->st->depth = g->tune.depth;
	g->st->write_behind = g->tune.write_behind;
	g->st->resume_offset = rc < 0 ? bc_host_watermark(g) : g->src->size;
	/* durable to the end only when the final flush said so (or the
	 * destination has nothing to flush); under BC_FLUSH_NEVER nothing
	 * was flushed, so nothing more is known durable than before */
	if (!rc && (g->o->flush != BC_FLUSH_NEVER || !bc_volume_can_flush(g->dst)))
		g->st->durable_offset = g->src->size;
	bc_host_progress(g, true);
	return rc;
}

int bc_host_copy(struct bc_volume *src, struct bc_volume *dst,
		 bool dest_proven_zero, const struct bc_copy_opts *o,
		 struct bc_copy_stats *st, struct bc_error *e)
{
	struct engine *g = NULL;
	int rc = engine_new(src, dst, dest_proven_zero, o, st, e, &g);

	if (rc < 0)
		return rc;
	/* What other writers left in the page cache must reach the device
	 * (or a loop device's backing file) before we map and read it. */
	if (bc_volume_can_flush(src) && (rc = bc_volume_flush(src, e)) < 0) {
		engine_free(g);
		return rc;
	}
	size_pool(g);
	rc = bc_host_pool_start(g, e);
	if (rc == 0)
		walk_source(g);
	bc_host_pool_join(g, rc, e);
	rc = finish(g, e);
	engine_free(g);
	return rc;
}

/* For the fan-out engine (fanout-copy.c): the same cut of the source's
 * map and the same I/O size, so one source copied to many destinations
 * follows the rules a single copy does. */
size_t bc_host_align_extents(const struct bc_extent *in, size_t n,
			     struct bc_extent *out, uint64_t pos, uint64_t end,
			     uint64_t align, bool src_zero_init)
{
	return align_extents(in, n, out, pos, end, align, src_zero_init);
}

uint32_t bc_host_pick_chunk(uint32_t want, const struct bc_caps *sc,
			    const struct bc_caps *dc, unsigned workers,
			    uint32_t gran)
{
	return pick_chunk(want, sc, dc, workers, gran);
}
