// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fan-out host copy (fanout.h): the single copy's engine
 * (hostcopy*.c) with one source and many destinations.  The source's map
 * is cut as a single copy cuts it (bc_host_align_extents), its data is
 * read once per chunk into a worker's buffer and written from that
 * buffer to every destination still going, and its holes and zero runs
 * are settled on each destination by that destination's own rule
 * (holes.c): skipped where it is proven zero, zeroed otherwise.  The
 * buffers are the single copy's pool (bounded whatever the number of
 * destinations); each destination adds only its bookkeeping.
 *
 * A destination's failure is its own: it is dropped with the lowest
 * offset it may lack (its watermark at the failure) and the others go
 * on -- eight clones of a template where one LUN fails are seven good
 * clones and one to resume, not eight to redo.  A failure of what all
 * share (a source read, a stop asked for, the deadline) stops every one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fanout.h"
#include "core/holes.h"
#include "core/hostcopy-priv.h"
#include "util/deadline.h"
#include "util/zerodetect.h"
#include "volume/extent.h"
#include "volume/io.h"

#define QLEN (2 * MAX_WORKERS)
#define LAST MAX_WORKERS		/* the settle slot of finish() */
#define WRITE_BEHIND (128ull << 20)	/* as hostcopy.c, per destination */
#define MAP_BATCH 64

struct fan;

struct fdst {
	struct fan *g;
	struct bc_fanout_dest *d;
	const struct bc_caps *dc;
	struct bc_dest_holes holes;
	struct bc_map_known known;	/* under the lock (holes.h) */
	int failed;			/* its first error, 0 if none */
	uint64_t fail_off;		/* lowest offset it may lack */
	uint64_t unflushed, durable;	/* as struct engine's */
	uint64_t flushed_through;	/* written + zeroed when the last
					 * flush that succeeded was sent */
	uint64_t hole_off, hole_len;	/* its pending hole */
	/* ranges being settled on it, one slot per worker and finish()'s:
	 * each holds the watermark below itself */
	uint64_t settling[MAX_WORKERS + 1];
	/* workers using it now, and how many it takes at once (its
	 * io_threads): the pool is larger than any one volume takes */
	unsigned busy, limit;
};

struct fan;

/* A range of the source for the workers: data to read and write, or a
 * hole to settle on every destination.  Holes go to the workers too: a
 * settle may be a round trip per destination (GET LBA STATUS, WRITE
 * SAME), and N of them in a row in the producer would starve the queue. */
struct fitem {
	uint64_t off, len;
	bool hole;
};

struct fworker {
	pthread_t thread;
	struct fan *g;
	unsigned slot;
	void *buf;
	uint64_t inflight;		/* chunk being copied, or NO_OFFSET */
	bool *todo;			/* destinations this item still needs */
	struct bc_error err;
};

struct fan {
	struct bc_volume *src;
	const struct bc_caps *sc;
	const struct bc_copy_opts *o;
	size_t n;
	struct fdst *d;
	uint32_t align, zgran, chunk;
	uint64_t write_behind;
	struct timespec t0, last_progress;

	/* Everything below is shared with the workers, under @lock. */
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full, slot_free;
	unsigned src_busy, src_limit;	/* as fdst's, for the source's reads */
	struct fitem queue[QLEN];
	unsigned q_head, q_len;
	bool producing_done;
	int failed;			/* the shared side failed: all stop */
	uint64_t fail_off;
	struct bc_error err;
	uint64_t produced;
	size_t live;			/* destinations not failed */
	/* a destination's durable_offset moved on since the last progress
	 * report: told at once (a job records where a crash resumes) */
	bool durable_news;
	unsigned n_workers, started;
	struct fworker w[MAX_WORKERS];
};

static bool stopped(const struct fan *g)
{
	return g->failed || !g->live;
}

/* Lowest source offset not handed out or still in a worker's hands
 * (lock held). */
static uint64_t wm_source(const struct fan *g)
{
	uint64_t w = g->produced;

	if (g->q_len && g->queue[g->q_head].off < w)
		w = g->queue[g->q_head].off;
	for (unsigned i = 0; i < g->n_workers; i++)
		if (g->w[i].inflight < w)
			w = g->w[i].inflight;
	if (g->failed && g->fail_off < w)
		w = g->fail_off;
	return w;
}

/* Lowest byte not known done on @d: its progress and resume offset
 * (lock held). */
static uint64_t wm_dest(const struct fan *g, const struct fdst *d)
{
	uint64_t w = wm_source(g);

	if (d->hole_len && d->hole_off < w)
		w = d->hole_off;
	for (unsigned i = 0; i <= MAX_WORKERS; i++)
		if (d->settling[i] < w)
			w = d->settling[i];
	if (d->failed && d->fail_off < w)
		w = d->fail_off;
	return w;
}

static double since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) +
	       (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

/* Lock held.  Every destination's progress, each to its own callback. */
static void progress(struct fan *g, bool force)
{
	double t = since(&g->t0);

	for (size_t i = 0; i < g->n; i++) {
		g->d[i].d->st->done_bytes = wm_dest(g, &g->d[i]);
		g->d[i].d->st->seconds = t;
	}
	if (!force && !g->durable_news && since(&g->last_progress) < 0.25)
		return;
	g->durable_news = false;
	clock_gettime(CLOCK_MONOTONIC, &g->last_progress);
	for (size_t i = 0; i < g->n; i++)
		if (g->d[i].d->progress)
			g->d[i].d->progress(g->d[i].d->st, g->d[i].d->progress_arg);
}

static void wake_all(struct fan *g)
{
	pthread_cond_broadcast(&g->not_empty);
	pthread_cond_broadcast(&g->not_full);
	pthread_cond_broadcast(&g->slot_free);
}

/* Lock held.  @d failed at @off: dropped, resuming from its watermark. */
static void dest_failed(struct fan *g, struct fdst *d, int rc, uint64_t off,
			const struct bc_error *e)
{
	uint64_t w;

	if (d->failed)
		return;
	w = wm_dest(g, d);
	d->failed = rc;
	d->fail_off = off < w ? off : w;
	d->hole_len = 0;	/* below fail_off, or past it: redone either way */
	if (e != d->d->e)
		*d->d->e = *e;
	if (--g->live == 0)
		wake_all(g);
}

/* Lock held.  What all destinations share failed at @off. */
static void source_failed(struct fan *g, int rc, uint64_t off,
			  const struct bc_error *e)
{
	if (!g->failed) {
		g->failed = rc;
		g->err = *e;
	}
	if (off < g->fail_off)
		g->fail_off = off;
	wake_all(g);
}

/*
 * Lock held on entry and exit, dropped while @d is asked or zeroed (as
 * bc_host_settle_unlocked, and for the same reason: the others go on).
 */
static int settle(struct fan *g, struct fdst *d, uint64_t off, uint64_t len,
		  unsigned slot, struct bc_error *e)
{
	struct bc_copy_stats delta = { 0 };
	struct bc_dest_holes h = d->holes;
	struct bc_map_known known;
	struct bc_copy_stats *st = d->d->st;
	int rc;

	if (!len)
		return 0;
	h.st = &delta;
	known = d->known;
	d->settling[slot] = off;
	pthread_mutex_unlock(&g->lock);
	rc = bc_dest_settle(&h, &known, off, len, e);
	pthread_mutex_lock(&g->lock);
	d->settling[slot] = NO_OFFSET;
	bc_map_known_merge(&d->known, &known);
	st->skipped_bytes += delta.skipped_bytes;
	st->zeroed_bytes += delta.zeroed_bytes;
	st->written_bytes += delta.written_bytes;
	return rc;
}

/* Lock held.  Merge a hole into @d's pending one, settling that first
 * when they do not touch; on failure *fail is the lowest offset undone. */
static int add_hole(struct fan *g, struct fdst *d, uint64_t off, uint64_t len,
		    unsigned slot, uint64_t *fail, struct bc_error *e)
{
	uint64_t po = d->hole_off, pl = d->hole_len;

	if (pl && po + pl == off) {
		d->hole_len += len;
		return 0;
	}
	d->hole_off = off;
	d->hole_len = len;
	*fail = po;
	return settle(g, d, po, pl, slot, e);
}

/* What @d was sent so far, written or zeroed (lock held). */
static uint64_t dest_wrote(const struct fdst *d)
{
	return d->d->st->written_bytes + d->d->st->zeroed_bytes;
}

/* A flush of @d sent after @wrote bytes succeeded (lock held): what
 * copy --json's flush object reports. */
static void dest_flushed(struct fdst *d, uint64_t wrote)
{
	d->d->st->dest_flushes++;
	if (wrote > d->flushed_through)
		d->flushed_through = wrote;
}

/* Count a write to @d and flush it every write_behind bytes (as
 * hostcopy-write.c's account_write, per destination). */
static int account_write(struct fworker *w, struct fdst *d, uint64_t n,
			 uint64_t *fail)
{
	struct fan *g = w->g;
	uint64_t mark = 0, wrote = 0;
	bool flush = false;
	int rc;

	pthread_mutex_lock(&g->lock);
	d->d->st->written_bytes += n;
	d->unflushed += n;
	if (d->unflushed >= g->write_behind && bc_volume_can_flush(d->d->dst) &&
	    g->o->flush != BC_FLUSH_NEVER) {
		d->unflushed = 0;
		d->d->st->flushes++;
		mark = wm_dest(g, d);
		wrote = dest_wrote(d);
		flush = true;
	}
	pthread_mutex_unlock(&g->lock);
	if (!flush)
		return 0;
	rc = bc_volume_flush(d->d->dst, &w->err);
	pthread_mutex_lock(&g->lock);
	if (rc == 0)
		dest_flushed(d, wrote);
	if (rc == 0 && mark > d->durable)
		d->durable = mark;
	if (rc == 0 && d->durable > d->d->st->durable_offset) {
		d->d->st->durable_offset = d->durable;
		g->durable_news = true;	/* the worker reports it */
	}
	if (rc < 0)
		*fail = d->durable;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

/* The chunk in @w's buffer onto @d: its data runs written, its zero
 * runs settled.  On failure *fail is the lowest offset left undone. */
static int put_chunk(struct fworker *w, struct fdst *d, uint64_t off, size_t n,
		     uint64_t *fail)
{
	struct fan *g = w->g;
	const char *buf = w->buf;
	size_t i = 0;
	int rc = 0;

	*fail = off;
	while (i < n && rc == 0) {
		bool zero;
		size_t run = bc_zero_run(buf + i, n - i, g->zgran, &zero);

		if (zero) {
			uint64_t hfail = off + i;

			pthread_mutex_lock(&g->lock);
			rc = add_hole(g, d, off + i, run, w->slot, &hfail, &w->err);
			pthread_mutex_unlock(&g->lock);
			if (rc < 0 && hfail < *fail)
				*fail = hfail;
		} else {
			rc = bc_volume_write(d->d->dst, buf + i, off + i, run, &w->err);
			if (rc == 0) {
				uint64_t ffail = NO_OFFSET;

				rc = account_write(w, d, run, &ffail);
				if (rc < 0 && ffail < *fail)
					*fail = ffail;
			}
		}
		i += run;
	}
	return rc;
}

typedef int (*put_fn)(struct fworker *w, struct fdst *d, uint64_t off,
		      uint64_t len, uint64_t *fail);

/*
 * Lock held.  Call @put for every destination still going, each once,
 * within its limit of workers at a time: a busy one is passed over for
 * the next and come back to, so one slow destination does not hold a
 * worker from the others, and the first one tried turns with the item
 * (@first) so the workers spread over all of them.  @put runs with the
 * lock dropped; its failure is its destination's.
 */
static void each_dest(struct fworker *w, size_t first, put_fn put,
		      uint64_t off, uint64_t len)
{
	struct fan *g = w->g;
	size_t left = 0;

	for (size_t i = 0; i < g->n; i++) {
		w->todo[i] = !g->d[i].failed;
		left += w->todo[i];
	}
	while (left && !g->failed) {
		struct fdst *d = NULL;
		uint64_t fail = off;
		int rc;

		for (size_t k = 0; k < g->n && !d; k++) {
			size_t i = (first + k) % g->n;

			if (!w->todo[i])
				continue;
			if (g->d[i].failed) {
				w->todo[i] = false;
				left--;
			} else if (g->d[i].busy < g->d[i].limit) {
				d = &g->d[i];
				w->todo[i] = false;
				left--;
			}
		}
		if (!d) {
			if (left)
				pthread_cond_wait(&g->slot_free, &g->lock);
			continue;
		}
		d->busy++;
		pthread_mutex_unlock(&g->lock);
		bc_error_clear(&w->err);
		rc = put(w, d, off, len, &fail);
		pthread_mutex_lock(&g->lock);
		d->busy--;
		pthread_cond_broadcast(&g->slot_free);
		if (rc < 0)
			dest_failed(g, d, rc, fail, &w->err);
	}
}

static int put_data(struct fworker *w, struct fdst *d, uint64_t off,
		    uint64_t len, uint64_t *fail)
{
	return put_chunk(w, d, off, (size_t)len, fail);
}

/* A hole of the source onto @d (lock not held). */
static int put_hole(struct fworker *w, struct fdst *d, uint64_t off,
		    uint64_t len, uint64_t *fail)
{
	struct fan *g = w->g;
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = add_hole(g, d, off, len, w->slot, fail, &w->err);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

/* Read one chunk once (within the source's limit of readers), then put
 * it on every destination still going.  Lock held; failures recorded. */
static void copy_chunk(struct fworker *w, uint64_t off, size_t n)
{
	struct fan *g = w->g;
	int rc;

	while (g->src_busy >= g->src_limit && !stopped(g))
		pthread_cond_wait(&g->slot_free, &g->lock);
	if (stopped(g))
		return;
	g->src_busy++;
	pthread_mutex_unlock(&g->lock);
	rc = bc_volume_read(g->src, w->buf, off, n, &w->err);
	pthread_mutex_lock(&g->lock);
	g->src_busy--;
	pthread_cond_broadcast(&g->slot_free);
	if (rc < 0) {
		source_failed(g, rc, off, &w->err);
		return;
	}
	/* each pair's copy needed these bytes: each counts them, and the
	 * result says they were shared (bc_clone_result.fanout) */
	for (size_t i = 0; i < g->n; i++)
		if (!g->d[i].failed)
			g->d[i].d->st->read_bytes += n;
	/* a stop asked for while the read was out: nothing is written */
	if (g->o->cancel && *g->o->cancel) {
		bc_error_set(&w->err, -EINTR, g->src->name, "copy", NULL);
		source_failed(g, -EINTR, off, &w->err);
		return;
	}
	each_dest(w, (size_t)(off / g->chunk % g->n), put_data, off, n);
}

static void *worker_main(void *arg)
{
	struct fworker *w = arg;
	struct fan *g = w->g;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct fitem c;

		while (!g->q_len && !g->producing_done && !stopped(g))
			pthread_cond_wait(&g->not_empty, &g->lock);
		if (stopped(g) || !g->q_len)
			break;
		c = g->queue[g->q_head];
		g->q_head = (g->q_head + 1) % QLEN;
		g->q_len--;
		w->inflight = c.off;
		pthread_cond_signal(&g->not_full);
		if (g->o->cancel && *g->o->cancel) {
			bc_error_set(&w->err, -EINTR, g->src->name, "copy", NULL);
			source_failed(g, -EINTR, c.off, &w->err);
		} else if (bc_deadline_passed(&g->o->deadline)) {
			bc_deadline_error(&w->err, g->src->name, "copy", c.off,
					  g->src->block_size, &g->o->deadline);
			source_failed(g, -ETIME, c.off, &w->err);
		} else if (c.hole) {
			each_dest(w, (size_t)(c.off / g->chunk % g->n), put_hole,
				  c.off, c.len);
		} else {
			copy_chunk(w, c.off, (size_t)c.len);
		}
		/* a stop of all may have left this item undone on some
		 * destination: it is where they resume, at the latest */
		if (g->failed && c.off < g->fail_off)
			g->fail_off = c.off;
		w->inflight = NO_OFFSET;
		progress(g, false);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Hand [off, off + len) to the workers: data in chunks, a hole whole. */
static int queue_range(struct fan *g, uint64_t off, uint64_t len, bool hole)
{
	uint64_t end = off + len;
	int rc;

	pthread_mutex_lock(&g->lock);
	while (off < end && !stopped(g)) {
		uint64_t n = hole || end - off < g->chunk ? end - off : g->chunk;

		while (g->q_len == QLEN && !stopped(g))
			pthread_cond_wait(&g->not_full, &g->lock);
		if (stopped(g))
			break;
		g->queue[(g->q_head + g->q_len) % QLEN] = (struct fitem){ off, n, hole };
		g->q_len++;
		off += n;
		g->produced = off;
		pthread_cond_signal(&g->not_empty);
	}
	rc = stopped(g) ? -ECANCELED : 0;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

static void producer_failed(struct fan *g, int rc, uint64_t pos,
			    const struct bc_error *e)
{
	pthread_mutex_lock(&g->lock);
	source_failed(g, rc, pos, e);
	pthread_mutex_unlock(&g->lock);
}

/* The source's extents, cut as a single copy cuts them, handed out. */
static void walk_source(struct fan *g)
{
	struct bc_extent raw[MAP_BATCH], ext[2 * MAP_BATCH + 2];
	uint64_t pos = g->produced, end = g->src->size;
	const struct bc_copy_opts *o = g->o;

	while (pos < end) {
		struct bc_error me = { 0 };
		size_t got = 0, n;
		int rc;

		if ((o->cancel && *o->cancel) || bc_deadline_passed(&o->deadline)) {
			rc = o->cancel && *o->cancel ?
			     bc_error_set(&me, -EINTR, g->src->name, "copy", NULL) :
			     bc_deadline_error(&me, g->src->name, "copy", pos,
					       g->src->block_size, &o->deadline);
			producer_failed(g, rc, pos, &me);
			return;
		}
		rc = bc_extent_query(g->src, pos, end, raw, MAP_BATCH, &got, &me);
		if (rc < 0) {
			producer_failed(g, rc, pos, &me);
			return;
		}
		n = bc_host_align_extents(raw, got, ext, pos, end, g->align,
					  g->sc->zero_init.state == BC_SUP_YES);
		for (size_t i = 0; i < n && pos < end; i++) {
			uint64_t len = ext[i].length;

			if (ext[i].offset != pos)
				break;
			if (len > end - pos)
				len = end - pos;
			rc = queue_range(g, pos, len, ext[i].state != BC_EXTENT_MAPPED);
			if (rc < 0)
				return;
			pos += len;
		}
	}
}

static int pool_start(struct fan *g, struct bc_error *e)
{
	for (unsigned i = 0; i < g->n_workers; i++) {
		struct fworker *w = &g->w[i];

		w->g = g;
		w->slot = i;
		w->inflight = NO_OFFSET;
		w->todo = calloc(g->n, sizeof(*w->todo));
		if (!w->todo || posix_memalign(&w->buf, 4096, g->chunk))
			return bc_error_set(e, -ENOMEM, g->src->name, "copy", NULL);
	}
	for (; g->started < g->n_workers; g->started++)
		if (pthread_create(&g->w[g->started].thread, NULL, worker_main,
				   &g->w[g->started]))
			return bc_error_set(e, -EAGAIN, g->src->name, "copy",
					    "cannot start I/O threads");
	return 0;
}

static void pool_join(struct fan *g)
{
	pthread_mutex_lock(&g->lock);
	g->producing_done = true;
	pthread_cond_broadcast(&g->not_empty);
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < g->started; i++)
		pthread_join(g->w[i].thread, NULL);
}

static unsigned at_least_one(unsigned n)
{
	return n ? n : 1;
}

/*
 * Workers, I/O size and alignment over the source and every destination.
 * Each volume takes at most its io_threads of them at once (its limit);
 * there are enough workers to keep the source and every destination
 * busy, up to MAX_WORKERS, and their buffers are the single copy's pool
 * (bc_host_pick_chunk caps the chunk at its share), so memory does not
 * grow with the number of destinations.  The I/O size is the one a
 * single copy would choose with the destinations' largest optimal and
 * smallest maximum transfer.
 */
static void size_fan(struct fan *g)
{
	unsigned nw;
	uint32_t opt = 0, max = 0;
	struct bc_caps *mc = calloc(1, sizeof(*mc));

	g->align = g->src->block_size;
	g->src_limit = at_least_one(g->src->io_threads);
	nw = g->src_limit;
	for (size_t i = 0; i < g->n; i++) {
		const struct bc_volume *v = g->d[i].d->dst;
		const struct bc_caps *dc = g->d[i].dc;

		g->d[i].limit = at_least_one(v->io_threads);
		nw += g->d[i].limit;
		if (v->block_size > g->align)
			g->align = v->block_size;
		if (dc->opt_transfer > opt)
			opt = dc->opt_transfer;
		if (dc->max_transfer && (!max || dc->max_transfer < max))
			max = dc->max_transfer;
	}
	g->n_workers = nw > MAX_WORKERS ? MAX_WORKERS : nw;
	/* a caller's depth: this many commands in flight at most */
	if (g->o->depth && g->o->depth < g->n_workers)
		g->n_workers = g->o->depth;
	g->zgran = g->align > 4096 ? g->align : 4096;
	if (mc) {
		mc->opt_transfer = opt;
		mc->max_transfer = max;
		g->chunk = bc_host_pick_chunk(g->o->chunk, g->sc, mc, g->n_workers,
					      g->zgran);
		free(mc);
	} else {
		g->chunk = bc_host_pick_chunk(g->o->chunk, g->sc, g->d[0].dc,
					      g->n_workers, g->zgran);
	}
}

static int fan_new(struct bc_volume *src, struct bc_fanout_dest *dd, size_t n,
		   const struct bc_copy_opts *o, struct fan **out)
{
	struct fan *g = calloc(1, sizeof(*g));
	uint64_t pos;
	int rc;

	*out = g;
	if (!g || !(g->d = calloc(n, sizeof(*g->d))))
		return -ENOMEM;
	g->src = src;
	g->o = o;
	g->n = n;
	g->live = n;
	g->fail_off = NO_OFFSET;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->not_empty, NULL);
	pthread_cond_init(&g->not_full, NULL);
	pthread_cond_init(&g->slot_free, NULL);
	if ((rc = bc_volume_caps(src, &g->sc, &g->err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct fdst *d = &g->d[i];

		d->g = g;
		d->d = &dd[i];
		d->fail_off = NO_OFFSET;
		for (unsigned s = 0; s <= MAX_WORKERS; s++)
			d->settling[s] = NO_OFFSET;
		if ((rc = bc_volume_caps(dd[i].dst, &d->dc, dd[i].e)) < 0)
			return rc;
		bc_dest_holes_init(&d->holes, dd[i].dst, d->dc, dd[i].proven_zero,
				   dd[i].st);
	}
	size_fan(g);
	pos = o->start / g->align * g->align;
	g->produced = pos;
	g->write_behind = o->write_behind ? o->write_behind : WRITE_BEHIND;
	for (size_t i = 0; i < n; i++) {
		g->d[i].durable = pos;
		g->d[i].flushed_through = dest_wrote(&g->d[i]);
		dd[i].st->total_bytes = src->size;
		dd[i].st->resume_offset = pos;
		dd[i].st->durable_offset = pos;
		dd[i].st->chunk_bytes = g->chunk;
		dd[i].st->workers = g->n_workers;
		/* no controller here (iotune.h is the single copy's): every
		 * worker in flight, write-behind as set; said so, not 0 */
		dd[i].st->depth = g->n_workers;
		dd[i].st->write_behind = o->flush == BC_FLUSH_NEVER ? 0 : g->write_behind;
	}
	clock_gettime(CLOCK_MONOTONIC, &g->t0);
	g->last_progress = g->t0;
	return 0;
}

static void fan_free(struct fan *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->n_workers; i++) {
		free(g->w[i].buf);
		free(g->w[i].todo);
	}
	pthread_cond_destroy(&g->slot_free);
	pthread_cond_destroy(&g->not_full);
	pthread_cond_destroy(&g->not_empty);
	pthread_mutex_destroy(&g->lock);
	free(g->d);
	free(g);
}

/* One destination's end: its last pending hole settled, then the flush
 * that makes it durable.  Lock not held. */
static void *end_dest(void *arg)
{
	struct fdst *d = arg;
	struct fan *g = d->g;
	struct bc_error e = { 0 };
	uint64_t wrote;
	int rc = 0;

	pthread_mutex_lock(&g->lock);
	if (!d->failed && !g->failed) {
		uint64_t ho = d->hole_off, hl = d->hole_len;

		d->hole_len = 0;
		if ((rc = settle(g, d, ho, hl, LAST, &e)) < 0)
			dest_failed(g, d, rc, ho, &e);
	}
	if (d->failed || g->failed || !bc_volume_can_flush(d->d->dst) ||
	    g->o->flush == BC_FLUSH_NEVER) {
		pthread_mutex_unlock(&g->lock);
		return NULL;
	}
	wrote = dest_wrote(d);
	pthread_mutex_unlock(&g->lock);
	rc = bc_volume_flush(d->d->dst, &e);
	pthread_mutex_lock(&g->lock);
	if (rc < 0)
		dest_failed(g, d, rc, d->durable, &e);
	else
		dest_flushed(d, wrote);
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/*
 * The workers are gone: every destination's end (end_dest), MAX_WORKERS
 * at a time in threads of their own -- a flush waits for the storage to
 * write back what it holds, and N of them one after the other would add
 * up -- then what each says (rc, error, resume offset).
 */
static int finish(struct fan *g)
{
	pthread_t t[MAX_WORKERS];
	int first = 0;

	for (size_t i = 0; i < g->n; i += MAX_WORKERS) {
		size_t k = g->n - i < MAX_WORKERS ? g->n - i : MAX_WORKERS;
		bool started[MAX_WORKERS] = { false };

		for (size_t j = 0; j < k; j++)
			started[j] = pthread_create(&t[j], NULL, end_dest,
						    &g->d[i + j]) == 0;
		for (size_t j = 0; j < k; j++) {
			if (started[j])
				pthread_join(t[j], NULL);
			else
				end_dest(&g->d[i + j]);	/* no thread: here */
		}
	}
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->n; i++) {
		struct fdst *d = &g->d[i];
		struct bc_fanout_dest *dd = d->d;

		if (!d->failed && g->failed)
			*dd->e = g->err;
		dd->rc = d->failed ? d->failed : g->failed;
		dd->st->resume_offset = dd->rc ? wm_dest(g, d) : g->src->size;
		dd->st->unflushed_bytes = dest_wrote(d) - d->flushed_through;
		/* flushed at the end, or nothing to flush; under
		 * BC_FLUSH_NEVER nothing is known durable past the start */
		if (!dd->rc && (g->o->flush != BC_FLUSH_NEVER ||
				!bc_volume_can_flush(dd->dst)))
			dd->st->durable_offset = g->src->size;
		if (dd->rc && !first)
			first = dd->rc;
	}
	progress(g, true);
	pthread_mutex_unlock(&g->lock);
	return first;
}

int bc_host_copy_fanout(struct bc_volume *src, struct bc_fanout_dest *d,
			size_t n, const struct bc_copy_opts *o)
{
	struct bc_error e = { 0 };
	struct fan *g = NULL;
	int rc;

	if (!n)
		return 0;
	rc = fan_new(src, d, n, o, &g);
	/* as bc_host_copy: other writers' pages reach the source first */
	if (rc == 0 && bc_volume_can_flush(src))
		rc = bc_volume_flush(src, &e);
	if (rc == 0)
		rc = pool_start(g, &e);
	if (rc < 0) {
		if (g && e.err == 0)
			e = g->err.err ? g->err : e;
		if (!e.err)
			bc_error_set(&e, rc, src->name, "copy", NULL);
		for (size_t i = 0; i < n; i++) {
			d[i].rc = rc;
			if (!d[i].e->err)
				*d[i].e = e;
		}
		if (g)
			pool_join(g);
		fan_free(g);
		return rc;
	}
	walk_source(g);
	pool_join(g);
	rc = finish(g);
	fan_free(g);
	return rc;
}
