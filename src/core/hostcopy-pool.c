// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host copy's worker pool: a bounded queue of chunks and the threads
 * that copy them (their progress is reported by hostcopy-progress.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/hostcopy-priv.h"
#include "util/deadline.h"

/*
 * Lock held: a chunk of @len bytes took @secs.  An interval of at least
 * IV_BYTES and IV_SECONDS goes to the controller, whose depth, chunk and
 * write-behind take effect from the next chunk on: long enough that one
 * slow command does not decide, short enough that a 100 MiB copy adapts.
 */
#define IV_BYTES (32ull << 20)
#define IV_SECONDS 0.05

void bc_host_observe_chunk(struct engine *g, uint64_t len, double secs)
{
	struct bc_iotune_obs *o = &g->iv;
	unsigned depth = g->tune.depth;
	double t = bc_host_elapsed(&g->iv_start);

	o->bytes += len;
	o->latency += secs;	/* summed here, a mean below */
	g->iv_chunks++;
	if (o->bytes < IV_BYTES || t < IV_SECONDS)
		return;
	o->seconds = t;
	o->inflight = o->latency / t;	/* Little's law */
	o->latency /= g->iv_chunks;
	bc_iotune_step(&g->tune, &g->lim, o);
	*o = (struct bc_iotune_obs){ 0 };
	g->iv_chunks = 0;
	clock_gettime(CLOCK_MONOTONIC, &g->iv_start);
	if (g->tune.depth > depth)
		pthread_cond_broadcast(&g->not_empty);
}

/* Lock not held: one piece of a source hole made to read zero on the
 * destination (holes.c's rule), beside the other workers' commands. */
static int settle(struct worker *w, uint64_t off, uint64_t len)
{
	struct engine *g = w->g;
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = bc_host_settle_unlocked(g, off, len, &w->settling, &w->err);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *g = w->g;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct timespec t0;
		struct chunk c;
		uint64_t fail;
		int rc;

		/* a chunk, when fewer than tune.depth are being copied */
		while (!g->failed && (g->q_len || !g->producing_done) &&
		       (!g->q_len || g->active >= g->tune.depth))
			pthread_cond_wait(&g->not_empty, &g->lock);
		if (g->failed || !g->q_len)
			break;
		c = g->queue[g->q_head];
		g->q_head = (g->q_head + 1) % (2 * MAX_WORKERS);
		g->q_len--;
		g->active++;
		w->inflight = c.off;
		pthread_cond_signal(&g->not_full);
		pthread_mutex_unlock(&g->lock);
		clock_gettime(CLOCK_MONOTONIC, &t0);

		fail = c.off;
		if (g->o->cancel && *g->o->cancel)
			rc = bc_error_set(&w->err, -EINTR, g->src->name, "copy",
					  NULL);
		else if (bc_deadline_passed(&g->o->deadline))
			rc = bc_deadline_error(&w->err, g->src->name, "copy", c.off,
					       g->src->block_size, &g->o->deadline);
		else if (c.hole)
			rc = settle(w, c.off, c.len);
		else
			rc = bc_host_copy_chunk(w, c.off, (size_t)c.len, &fail);

		pthread_mutex_lock(&g->lock);
		w->inflight = NO_OFFSET;
		g->active--;
		/* room for one more chunk: one waiter is enough (waking all
		 * of them on every chunk cost a sixth of a copy's context
		 * switches).  Once the producer is done and the queue is dry,
		 * every waiter -- those held back by the depth too -- must
		 * see it and exit: then all. */
		if (g->producing_done && !g->q_len)
			pthread_cond_broadcast(&g->not_empty);
		else
			pthread_cond_signal(&g->not_empty);
		if (rc < 0) {
			bc_host_record_failure(g, rc, fail, &w->err);
			break;
		}
		/* the controller climbs on data moved: a hole's bytes (a map
		 * query or a WRITE SAME for any length) would swamp them */
		if (!c.hole)
			bc_host_observe_chunk(g, c.len, bc_host_elapsed(&t0));
		bc_host_progress(g, false);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/*
 * A hole is settled in pieces of at most this much, each by one worker:
 * a large hole onto old data (WRITE SAME after WRITE SAME, each bounded
 * by the LU's maximum) is spread over the workers, while a hole on a
 * thin destination costs a few map queries, not one per data chunk.
 */
#define HOLE_PIECE (1ull << 30)

/* Lock held.  Queue [off, off + len) in items of at most @piece bytes
 * (in order: the queue's head is the lowest offset not handed out). */
static int queue_locked(struct engine *g, uint64_t off, uint64_t len,
			uint64_t piece, bool hole)
{
	uint64_t end = off + len;

	while (off < end && !g->failed) {
		uint64_t n = end - off < piece ? end - off : piece;

		while (g->q_len == 2 * MAX_WORKERS && !g->failed)
			pthread_cond_wait(&g->not_full, &g->lock);
		if (g->failed)
			break;
		g->queue[(g->q_head + g->q_len) % (2 * MAX_WORKERS)] =
			(struct chunk){ off, n, hole };
		g->q_len++;
		off += n;
		if (off > g->produced)
			g->produced = off;
		pthread_cond_signal(&g->not_empty);
	}
	return g->failed;
}

/* Hand a data range to the workers in chunks (lock not held). */
int bc_host_queue_data(struct engine *g, uint64_t off, uint64_t len)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	g->iv.extents++;
	g->iv.extent_bytes += len;
	rc = queue_locked(g, off, len, g->tune.chunk, false);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

int bc_host_queue_hole(struct engine *g, uint64_t off, uint64_t len)
{
	return queue_locked(g, off, len, HOLE_PIECE, true);
}

int bc_host_pool_start(struct engine *g, struct bc_error *e)
{
	for (unsigned i = 0; i < g->n_workers; i++) {
		struct worker *w = &g->workers[i];

		w->g = g;
		w->inflight = NO_OFFSET;
		w->settling = NO_OFFSET;
		if (posix_memalign(&w->buf, 4096, g->buf_size))
			return bc_error_set(e, -ENOMEM, g->src->name, "copy", NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &g->iv_start);
	if (bc_host_flusher_start(g, e) < 0)
		return -EAGAIN;
	for (; g->started < g->n_workers; g->started++) {
		if (pthread_create(&g->workers[g->started].thread, NULL,
				   worker_main, &g->workers[g->started]))
			return bc_error_set(e, -EAGAIN, g->src->name, "copy",
					    "cannot start I/O threads");
	}
	return 0;
}

void bc_host_pool_join(struct engine *g, int rc, struct bc_error *e)
{
	pthread_mutex_lock(&g->lock);
	g->producing_done = true;
	if (rc < 0 && !g->failed)
		bc_host_record_failure(g, rc, g->produced, e);
	pthread_cond_broadcast(&g->not_empty);
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < g->started; i++)
		pthread_join(g->workers[i].thread, NULL);
	bc_host_flusher_stop(g);
}
