// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host copy engine: walk the source's allocation, read what is
 * allocated, write what is not zero, and make sure every other byte of the
 * destination reads zero -- by proof (the destination is known zero
 * there), or by the cheapest zeroing command the destination has.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blkclone/copy.h>

#include "util/deadline.h"
#include "core/holes.h"
#include "util/zerodetect.h"
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
 * Ask the destination to make its writes durable every WRITE_BEHIND bytes
 * written, from the worker that crossed the mark while the others go on:
 * the cache the destination holds stays bounded, its write-back overlaps
 * the copy instead of all following it in the final SYNCHRONIZE CACHE or
 * fsync, and a destination that cannot write is found out early.  Against
 * tgt the scattered 4 GiB case went from 1.34 to 1.14 s (median of 5).
 */
#define WRITE_BEHIND (128ull << 20)
#define MAP_BATCH 64
#define MAX_WORKERS 16
#define NO_OFFSET UINT64_MAX

struct chunk {
	uint64_t off;
	uint64_t len;
};

struct engine;

struct worker {
	pthread_t thread;
	struct engine *g;
	void *buf;
	struct bc_error err;
	uint64_t inflight;	/* chunk being copied, or NO_OFFSET */
	uint64_t settling;	/* hole being settled, or NO_OFFSET */
};

struct engine {
	struct bc_volume *src, *dst;
	const struct bc_caps *sc, *dc;
	const struct bc_copy_opts *o;
	struct bc_copy_stats *st;
	struct bc_error *e;
	struct bc_dest_holes holes;
	uint32_t align;		/* I/O alignment: the larger block size */
	uint32_t zgran;		/* zero detection granularity */
	uint32_t chunk;
	struct timespec t0, last_progress;

	/* Everything below is shared with the workers, under @lock. */
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct chunk queue[2 * MAX_WORKERS];
	unsigned q_head, q_len;
	bool producing_done;
	int failed;		/* first error, 0 if none */
	uint64_t fail_off;	/* lowest offset any failure left undone */
	uint64_t produced;	/* the producer's position */
	uint64_t unflushed;	/* bytes written since the last flush */
	uint64_t write_behind;	/* flush every this many bytes written */
	/* Everything below this offset is on the destination's stable
	 * storage: written before a flush that succeeded.  A failed flush
	 * may have lost any write after that, so the copy resumes here. */
	uint64_t durable;
	/* a destination range waiting to be made zero, merged so that runs
	 * of holes cost one command */
	uint64_t hole_off, hole_len;
	uint64_t producer_settling;	/* as worker.settling */
	pthread_mutex_t settle_lock;	/* one settle_unlocked at a time */
	unsigned n_workers;
	struct worker workers[MAX_WORKERS];
};

static double elapsed(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) +
	       (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

/* Lowest byte not known done: call with the lock held. */
static uint64_t watermark(struct engine *g)
{
	uint64_t w = g->produced;

	if (g->q_len && g->queue[g->q_head].off < w)
		w = g->queue[g->q_head].off;
	for (unsigned i = 0; i < g->n_workers; i++)
		if (g->workers[i].inflight < w)
			w = g->workers[i].inflight;
	if (g->hole_len && g->hole_off < w)
		w = g->hole_off;
	if (g->producer_settling < w)
		w = g->producer_settling;
	for (unsigned i = 0; i < g->n_workers; i++)
		if (g->workers[i].settling < w)
			w = g->workers[i].settling;
	if (g->failed && g->fail_off < w)
		w = g->fail_off;
	return w;
}

/* With the lock held. */
static void progress(struct engine *g, bool force)
{
	g->st->done_bytes = watermark(g);
	g->st->seconds = elapsed(&g->t0);
	if (!g->o->progress)
		return;
	if (!force && elapsed(&g->last_progress) < 0.25)
		return;
	clock_gettime(CLOCK_MONOTONIC, &g->last_progress);
	g->o->progress(g->st, g->o->progress_arg);
}

/* Record a failure (lock held); the first error is the one reported. */
static void record_failure(struct engine *g, int rc, uint64_t off,
			   const struct bc_error *e)
{
	if (!g->failed) {
		g->failed = rc;
		if (e != g->e)
			*g->e = *e;
	}
	if (off < g->fail_off)
		g->fail_off = off;
	pthread_cond_broadcast(&g->not_empty);
	pthread_cond_broadcast(&g->not_full);
}

/*
 * A range of the destination must read zero (holes.c decides how).  Called
 * with the engine lock held and returns with it held, but drops it while
 * the destination is asked or zeroed: a map query or WRITE SAME is a round
 * trip behind the data queued on the destination (176 of them took 0.25 s
 * of a 1.2 s copy against tgt), and the workers must go on meanwhile.
 * Settling is serialised by settle_lock (the volume's map and zero paths
 * are not promised thread-safe with each other), and *slot holds the
 * range's offset until it is done, so the watermark stays below it.
 */
static int settle_unlocked(struct engine *g, uint64_t off, uint64_t len,
			   uint64_t *slot, struct bc_error *e)
{
	struct bc_copy_stats delta = { 0 };
	struct bc_dest_holes h = g->holes;
	int rc;

	if (!len)
		return 0;
	h.st = &delta;
	*slot = off;
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_lock(&g->settle_lock);
	rc = bc_dest_settle(&h, off, len, e);
	pthread_mutex_unlock(&g->settle_lock);
	pthread_mutex_lock(&g->lock);
	*slot = NO_OFFSET;
	g->st->skipped_bytes += delta.skipped_bytes;
	g->st->zeroed_bytes += delta.zeroed_bytes;
	g->st->written_bytes += delta.written_bytes;
	return rc;
}

/*
 * Lock held.  Merge a hole into the pending one; a pending hole that does
 * not touch it is settled first (see settle_unlocked).  On failure *fail
 * is the lowest offset left undone.
 */
static int add_hole(struct engine *g, uint64_t off, uint64_t len,
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
	return settle_unlocked(g, po, pl, slot, e);
}

/*
 * Count a write, and be the worker that flushes when write_behind bytes
 * have gone out since the last flush (see WRITE_BEHIND).  On a failed
 * flush *fail is the last durable offset: what was written since may be
 * lost.
 */
static int account_write(struct worker *w, uint64_t n, uint64_t *fail)
{
	struct engine *g = w->g;
	uint64_t mark = 0;
	bool flush = false;
	int rc;

	pthread_mutex_lock(&g->lock);
	g->st->written_bytes += n;
	g->unflushed += n;
	if (g->unflushed >= g->write_behind && bc_volume_can_flush(g->dst)) {
		g->unflushed = 0;
		g->st->flushes++;
		/* every byte below the watermark was written before this */
		mark = watermark(g);
		flush = true;
	}
	pthread_mutex_unlock(&g->lock);
	if (!flush)
		return 0;
	rc = bc_volume_flush(g->dst, &w->err);
	pthread_mutex_lock(&g->lock);
	if (rc == 0 && mark > g->durable)
		g->durable = mark;
	if (rc < 0)
		*fail = g->durable;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

/* Copy one chunk through the worker's buffer, splitting out zero runs.
 * On failure *fail is the lowest offset the failure left undone. */
static int copy_chunk(struct worker *w, uint64_t off, size_t n,
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
		size_t run = 0;
		bool zero = bc_is_zero((char *)buf + i,
				       n - i < g->zgran ? n - i : g->zgran);

		/* extend the run while pieces keep the same kind */
		while (i + run < n) {
			size_t piece = n - i - run < g->zgran ?
				       n - i - run : g->zgran;

			if (bc_is_zero((char *)buf + i + run, piece) != zero)
				break;
			run += piece;
		}
		if (zero) {
			uint64_t hfail;

			pthread_mutex_lock(&g->lock);
			rc = add_hole(g, off + i, run, &w->settling, &hfail,
				      &w->err);
			pthread_mutex_unlock(&g->lock);
			if (rc < 0 && hfail < *fail)
				*fail = hfail;
		} else {
			rc = bc_volume_write(g->dst, (char *)buf + i, off + i,
					     run, &w->err);
			if (!rc) {
				uint64_t ffail = NO_OFFSET;

				rc = account_write(w, run, &ffail);
				if (rc < 0 && ffail < *fail)
					*fail = ffail;
			}
		}
		if (rc < 0)
			return rc;
		i += run;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *g = w->g;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct chunk c;
		uint64_t fail;
		int rc;

		while (!g->q_len && !g->producing_done && !g->failed)
			pthread_cond_wait(&g->not_empty, &g->lock);
		if (g->failed || !g->q_len)
			break;
		c = g->queue[g->q_head];
		g->q_head = (g->q_head + 1) % (2 * MAX_WORKERS);
		g->q_len--;
		w->inflight = c.off;
		pthread_cond_signal(&g->not_full);
		pthread_mutex_unlock(&g->lock);

		fail = c.off;
		if (g->o->cancel && *g->o->cancel)
			rc = bc_error_set(&w->err, -EINTR, g->src->name, "copy",
					  NULL);
		else if (bc_deadline_passed(&g->dst->deadline))
			rc = bc_deadline_error(&w->err, g->src->name, "copy", c.off,
					       g->src->block_size, &g->dst->deadline);
		else
			rc = copy_chunk(w, c.off, (size_t)c.len, &fail);

		pthread_mutex_lock(&g->lock);
		w->inflight = NO_OFFSET;
		if (rc < 0) {
			record_failure(g, rc, fail, &w->err);
			break;
		}
		progress(g, false);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Hand a data range to the workers in chunks (lock not held). */
static int produce_data(struct engine *g, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	int rc = 0;

	pthread_mutex_lock(&g->lock);
	while (off < end && !g->failed) {
		uint64_t n = end - off < g->chunk ? end - off : g->chunk;

		while (g->q_len == 2 * MAX_WORKERS && !g->failed)
			pthread_cond_wait(&g->not_full, &g->lock);
		if (g->failed)
			break;
		g->queue[(g->q_head + g->q_len) % (2 * MAX_WORKERS)] =
			(struct chunk){ off, n };
		g->q_len++;
		off += n;
		g->produced = off;
		pthread_cond_signal(&g->not_empty);
	}
	rc = g->failed;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

static int produce_hole(struct engine *g, uint64_t off, uint64_t len)
{
	struct bc_error e = { 0 };
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = g->failed;
	if (!rc) {
		uint64_t fail;

		/* produced first: the pending hole now holds the watermark */
		g->produced = off + len;
		rc = add_hole(g, off, len, &g->producer_settling, &fail, &e);
		if (rc < 0)
			record_failure(g, rc, fail, &e);
		progress(g, false);
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
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
 * MAX_CHUNK], else DEFAULT_CHUNK; never above either's maximum transfer
 * (a longer one would only be split again) nor its share of the buffer
 * pool; a whole number of zero-detection granules.
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
		if (max && c > max)
			c = max;
	}
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

int bc_host_copy(struct bc_volume *src, struct bc_volume *dst,
		 bool dest_proven_zero, const struct bc_copy_opts *o,
		 struct bc_copy_stats *st, struct bc_error *e)
{
	struct bc_extent ext[2 * MAP_BATCH + 2];
	struct engine *g;
	uint64_t pos, end = src->size;
	unsigned started = 0;
	int rc;

	g = calloc(1, sizeof(*g));
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
	pthread_mutex_init(&g->settle_lock, NULL);
	g->producer_settling = NO_OFFSET;
	pthread_cond_init(&g->not_empty, NULL);
	pthread_cond_init(&g->not_full, NULL);

	pos = o->start / g->align * g->align;
	g->produced = pos;
	g->durable = pos;
	g->write_behind = o->write_behind ? o->write_behind : WRITE_BEHIND;
	st->total_bytes = end;
	st->resume_offset = pos;
	/* What other writers left in the page cache must reach the device
	 * (or a loop device's backing file) before we map and read it. */
	if (bc_volume_can_flush(src) && (rc = bc_volume_flush(src, e)) < 0)
		goto out_free;

	g->n_workers = pick_workers(src, dst);
	g->chunk = pick_chunk(o->chunk, g->sc, g->dc, g->n_workers, g->zgran);
	st->chunk_bytes = g->chunk;
	st->workers = g->n_workers;
	for (unsigned i = 0; i < g->n_workers; i++) {
		struct worker *w = &g->workers[i];

		w->g = g;
		w->inflight = NO_OFFSET;
		w->settling = NO_OFFSET;
		if (posix_memalign(&w->buf, 4096, g->chunk)) {
			rc = bc_error_set(e, -ENOMEM, src->name, "copy", NULL);
			goto out_join;
		}
	}
	for (; started < g->n_workers; started++) {
		if (pthread_create(&g->workers[started].thread, NULL,
				   worker_main, &g->workers[started])) {
			rc = bc_error_set(e, -EAGAIN, src->name, "copy",
					  "cannot start I/O threads");
			goto out_join;
		}
	}

	while (pos < end) {
		size_t n = 0;

		if ((o->cancel && *o->cancel) || bc_deadline_passed(&dst->deadline)) {
			struct bc_error ce = { 0 };
			int crc = o->cancel && *o->cancel ?
				  bc_error_set(&ce, -EINTR, src->name, "copy", NULL) :
				  bc_deadline_error(&ce, src->name, "copy", pos,
						    src->block_size, &dst->deadline);

			pthread_mutex_lock(&g->lock);
			record_failure(g, crc, pos, &ce);
			pthread_mutex_unlock(&g->lock);
			break;
		}
		struct bc_error me = { 0 };

		rc = next_extents(g, pos, end, ext, &n, &me);
		if (rc < 0) {
			pthread_mutex_lock(&g->lock);
			record_failure(g, rc, pos, &me);
			pthread_mutex_unlock(&g->lock);
			break;
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
				break;
			pos += len;
		}
		if (rc < 0)
			break;
	}
	rc = 0;
out_join:
	pthread_mutex_lock(&g->lock);
	g->producing_done = true;
	if (rc < 0 && !g->failed)
		record_failure(g, rc, pos, e);
	pthread_cond_broadcast(&g->not_empty);
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(g->workers[i].thread, NULL);

	/* Single-threaded again from here. */
	rc = g->failed;
	if (!rc) {
		struct bc_error he = { 0 };

		uint64_t ho, hl;

		pthread_mutex_lock(&g->lock);
		ho = g->hole_off;
		hl = g->hole_len;
		g->hole_len = 0;
		rc = settle_unlocked(g, ho, hl, &g->producer_settling, &he);
		if (rc < 0)
			record_failure(g, rc, ho, &he);
		pthread_mutex_unlock(&g->lock);
	}
	if (!rc && bc_volume_can_flush(dst) && (rc = bc_volume_flush(dst, e)) < 0) {
		g->failed = rc;
		g->fail_off = g->durable;	/* the writes since may be lost */
	}
	st->resume_offset = rc < 0 ? watermark(g) : end;
	progress(g, true);
	for (unsigned i = 0; i < g->n_workers; i++)
		free(g->workers[i].buf);
out_free:
	pthread_cond_destroy(&g->not_full);
	pthread_cond_destroy(&g->not_empty);
	pthread_mutex_destroy(&g->settle_lock);
	pthread_mutex_destroy(&g->lock);
	free(g);
	return rc;
}
