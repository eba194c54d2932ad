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
#define PRODUCER MAX_WORKERS		/* the producer's settle slot */
#define WRITE_BEHIND (128ull << 20)	/* as hostcopy.c, per destination */
#define MAP_BATCH 64

struct fdst {
	struct bc_fanout_dest *d;
	const struct bc_caps *dc;
	struct bc_dest_holes holes;
	int failed;			/* its first error, 0 if none */
	uint64_t fail_off;		/* lowest offset it may lack */
	uint64_t unflushed, durable;	/* as struct engine's */
	uint64_t hole_off, hole_len;	/* its pending hole */
	/* ranges being settled on it, one slot per worker and the
	 * producer's: each holds the watermark below itself */
	uint64_t settling[MAX_WORKERS + 1];
	pthread_mutex_t settle_lock;	/* one settle at a time on it */
};

struct fan;

struct fworker {
	pthread_t thread;
	struct fan *g;
	unsigned slot;
	void *buf;
	uint64_t inflight;		/* chunk being copied, or NO_OFFSET */
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
	pthread_cond_t not_empty, not_full;
	struct chunk queue[QLEN];
	unsigned q_head, q_len;
	bool producing_done;
	int failed;			/* the shared side failed: all stop */
	uint64_t fail_off;
	struct bc_error err;
	uint64_t produced;
	uint64_t producer_at;		/* hole being handed out, or NO_OFFSET */
	size_t live;			/* destinations not failed */
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
	if (g->producer_at < w)
		w = g->producer_at;
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
	if (!force && since(&g->last_progress) < 0.25)
		return;
	clock_gettime(CLOCK_MONOTONIC, &g->last_progress);
	for (size_t i = 0; i < g->n; i++)
		if (g->d[i].d->progress)
			g->d[i].d->progress(g->d[i].d->st, g->d[i].d->progress_arg);
}

static void wake_all(struct fan *g)
{
	pthread_cond_broadcast(&g->not_empty);
	pthread_cond_broadcast(&g->not_full);
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
	struct bc_copy_stats *st = d->d->st;
	int rc;

	if (!len)
		return 0;
	h.st = &delta;
	d->settling[slot] = off;
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_lock(&d->settle_lock);
	rc = bc_dest_settle(&h, off, len, e);
	pthread_mutex_unlock(&d->settle_lock);
	pthread_mutex_lock(&g->lock);
	d->settling[slot] = NO_OFFSET;
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

/* Count a write to @d and flush it every write_behind bytes (as
 * hostcopy-write.c's account_write, per destination). */
static int account_write(struct fworker *w, struct fdst *d, uint64_t n,
			 uint64_t *fail)
{
	struct fan *g = w->g;
	uint64_t mark = 0;
	bool flush = false;
	int rc;

	pthread_mutex_lock(&g->lock);
	d->d->st->written_bytes += n;
	d->unflushed += n;
	if (d->unflushed >= g->write_behind && bc_volume_can_flush(d->d->dst)) {
		d->unflushed = 0;
		d->d->st->flushes++;
		mark = wm_dest(g, d);
		flush = true;
	}
	pthread_mutex_unlock(&g->lock);
	if (!flush)
		return 0;
	rc = bc_volume_flush(d->d->dst, &w->err);
	pthread_mutex_lock(&g->lock);
	if (rc == 0 && mark > d->durable)
		d->durable = mark;
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

/* Read one chunk once, then put it on every destination still going.
 * Failures are recorded (lock not held). */
static void copy_chunk(struct fworker *w, uint64_t off, size_t n)
{
	struct fan *g = w->g;
	int rc = bc_volume_read(g->src, w->buf, off, n, &w->err);

	pthread_mutex_lock(&g->lock);
	if (rc < 0) {
		source_failed(g, rc, off, &w->err);
		pthread_mutex_unlock(&g->lock);
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
	}
	pthread_mutex_unlock(&g->lock);
	for (size_t i = 0; i < g->n; i++) {
		struct fdst *d = &g->d[i];
		uint64_t fail;
		bool skip;

		pthread_mutex_lock(&g->lock);
		skip = d->failed || g->failed;
		pthread_mutex_unlock(&g->lock);
		if (skip)
			continue;
		bc_error_clear(&w->err);
		if ((rc = put_chunk(w, d, off, n, &fail)) < 0) {
			pthread_mutex_lock(&g->lock);
			dest_failed(g, d, rc, fail, &w->err);
			pthread_mutex_unlock(&g->lock);
		}
	}
}

static void *worker_main(void *arg)
{
	struct fworker *w = arg;
	struct fan *g = w->g;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct chunk c;

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
		} else {
			pthread_mutex_unlock(&g->lock);
			copy_chunk(w, c.off, (size_t)c.len);
			pthread_mutex_lock(&g->lock);
		}
		w->inflight = NO_OFFSET;
		progress(g, false);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* The producer's: a hole of the source onto every destination. */
static int produce_hole(struct fan *g, uint64_t off, uint64_t len)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	/* holds every destination's watermark until each has the hole
	 * pending (or settled) */
	g->producer_at = off;
	g->produced = off + len;
	for (size_t i = 0; i < g->n && !g->failed; i++) {
		struct fdst *d = &g->d[i];
		struct bc_error e = { 0 };
		uint64_t fail = off;

		if (d->failed)
			continue;
		if ((rc = add_hole(g, d, off, len, PRODUCER, &fail, &e)) < 0)
			dest_failed(g, d, rc, fail, &e);
	}
	g->producer_at = NO_OFFSET;
	progress(g, false);
	rc = stopped(g) ? -ECANCELED : 0;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

static int queue_data(struct fan *g, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	int rc;

	pthread_mutex_lock(&g->lock);
	while (off < end && !stopped(g)) {
		uint64_t n = end - off < g->chunk ? end - off : g->chunk;

		while (g->q_len == QLEN && !stopped(g))
			pthread_cond_wait(&g->not_full, &g->lock);
		if (stopped(g))
			break;
		g->queue[(g->q_head + g->q_len) % QLEN] = (struct chunk){ off, n };
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
			rc = ext[i].state != BC_EXTENT_MAPPED ?
			     produce_hole(g, pos, len) : queue_data(g, pos, len);
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
		if (posix_memalign(&w->buf, 4096, g->chunk))
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

/* Workers, I/O size and alignment over the source and every
 * destination: the I/O size as a single copy would choose it with the
 * destinations' largest optimal and smallest maximum transfer. */
static void size_fan(struct fan *g)
{
	unsigned nw = g->src->io_threads;
	uint32_t opt = 0, max = 0;
	struct bc_caps *mc = calloc(1, sizeof(*mc));

	g->align = g->src->block_size;
	for (size_t i = 0; i < g->n; i++) {
		const struct bc_volume *v = g->d[i].d->dst;
		const struct bc_caps *dc = g->d[i].dc;

		if (v->io_threads < nw)
			nw = v->io_threads;
		if (v->block_size > g->align)
			g->align = v->block_size;
		if (dc->opt_transfer > opt)
			opt = dc->opt_transfer;
		if (dc->max_transfer && (!max || dc->max_transfer < max))
			max = dc->max_transfer;
	}
	g->n_workers = nw < 1 ? 1 : nw > MAX_WORKERS ? MAX_WORKERS : nw;
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
	g->producer_at = NO_OFFSET;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->not_empty, NULL);
	pthread_cond_init(&g->not_full, NULL);
	if ((rc = bc_volume_caps(src, &g->sc, &g->err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct fdst *d = &g->d[i];

		d->d = &dd[i];
		d->fail_off = NO_OFFSET;
		for (unsigned s = 0; s <= MAX_WORKERS; s++)
			d->settling[s] = NO_OFFSET;
		pthread_mutex_init(&d->settle_lock, NULL);
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
		dd[i].st->total_bytes = src->size;
		dd[i].st->resume_offset = pos;
		dd[i].st->chunk_bytes = g->chunk;
		dd[i].st->workers = g->n_workers;
	}
	clock_gettime(CLOCK_MONOTONIC, &g->t0);
	g->last_progress = g->t0;
	return 0;
}

static void fan_free(struct fan *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->n_workers; i++)
		free(g->w[i].buf);
	if (g->d)
		for (size_t i = 0; i < g->n; i++)
			pthread_mutex_destroy(&g->d[i].settle_lock);
	pthread_cond_destroy(&g->not_full);
	pthread_cond_destroy(&g->not_empty);
	pthread_mutex_destroy(&g->lock);
	free(g->d);
	free(g);
}

/* Single-threaded again: each destination's last hole, its flush, and
 * what it says (rc, error, resume offset). */
static int finish(struct fan *g)
{
	int first = 0;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->n; i++) {
		struct fdst *d = &g->d[i];
		struct bc_fanout_dest *dd = d->d;
		struct bc_error e = { 0 };
		int rc = 0;

		if (!d->failed && !g->failed) {
			uint64_t ho = d->hole_off, hl = d->hole_len;

			d->hole_len = 0;
			if ((rc = settle(g, d, ho, hl, PRODUCER, &e)) < 0)
				dest_failed(g, d, rc, ho, &e);
		}
		if (!d->failed && !g->failed && bc_volume_can_flush(dd->dst) &&
		    (rc = bc_volume_flush(dd->dst, &e)) < 0)
			dest_failed(g, d, rc, d->durable, &e);
		if (!d->failed && g->failed)
			*dd->e = g->err;
		dd->rc = d->failed ? d->failed : g->failed;
		dd->st->resume_offset = dd->rc ? wm_dest(g, d) : g->src->size;
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
