// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host copy's flusher: one thread that sends the write-behind flushes
 * the workers ask for (hostcopy-write.c), one at a time, in order, so no
 * worker stalls on SYNCHRONIZE CACHE while the others wait for its chunk.
 * Each is sent with IMMED where the target honours it (volume/io.h
 * bc_volume_flush_early): it then holds no slot of the session's queue
 * while the target writes back.  A flush that returned early proves
 * nothing durable; only a whole one moves the durable mark a failed copy
 * resumes from.  The final flush is never early: it is the main thread's,
 * after this thread is stopped (hostcopy.c finish).
 */
#include <errno.h>
#include <time.h>

#include "core/hostcopy-priv.h"
#include "volume/io.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *flusher_main(void *arg)
{
	struct engine *g = arg;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		uint64_t mark, wrote;
		bool early = false;
		double t;
		int rc;

		while (!g->fr_len && !g->flusher_stop && !g->failed)
			pthread_cond_wait(&g->flush_cv, &g->lock);
		if (g->failed || !g->fr_len)
			break;
		mark = g->flush_req[g->fr_head].mark;
		wrote = g->flush_req[g->fr_head].wrote;
		pthread_mutex_unlock(&g->lock);

		t = now_s();
		rc = bc_volume_flush_early(g->dst, &early, &g->flush_err);
		t = now_s() - t;

		pthread_mutex_lock(&g->lock);
		g->fr_head = (g->fr_head + 1) % FLUSH_RING;
		g->fr_len--;
		pthread_cond_broadcast(&g->flush_done);
		g->iv.flushes++;
		g->iv.flush_seconds += t;
		if (rc < 0) {
			/* what was written since the last whole flush may
			 * be lost: a resume starts there */
			bc_host_record_failure(g, rc, g->durable, &g->flush_err);
			break;
		}
		bc_host_flushed(g, early ? g->flushed_through : wrote);
		if (early)
			g->st->immed_flushes++;
		else if (mark > g->durable)
			g->durable = mark;
		/* a whole flush covers the whole destination: also what an
		 * offload wrote before this host copy took over (below its
		 * start); a job records where a crash would resume at once,
		 * so this thread tells it: the workers may all be held by a
		 * source that hangs, and none would report it */
		if (!early && g->durable > g->st->durable_offset) {
			g->st->durable_offset = g->durable;
			g->durable_news = true;
			bc_host_progress(g, false);
		}
	}
	pthread_cond_broadcast(&g->flush_done);
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int bc_host_flusher_start(struct engine *g, struct bc_error *e)
{
	if (!bc_volume_can_flush(g->dst) || g->o->flush == BC_FLUSH_NEVER)
		return 0;
	if (pthread_create(&g->flusher, NULL, flusher_main, g))
		return bc_error_set(e, -EAGAIN, g->dst->name, "copy",
				    "cannot start the flush thread");
	g->flusher_started = true;
	return 0;
}

void bc_host_flusher_stop(struct engine *g)
{
	if (!g->flusher_started)
		return;
	pthread_mutex_lock(&g->lock);
	g->flusher_stop = true;
	pthread_cond_broadcast(&g->flush_cv);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->flusher, NULL);
	g->flusher_started = false;
}

int bc_host_flush_ask(struct engine *g)
{
	while (g->fr_len == FLUSH_RING && !g->failed)
		pthread_cond_wait(&g->flush_done, &g->lock);
	if (g->failed)
		return g->failed;
	g->flush_req[(g->fr_head + g->fr_len) % FLUSH_RING].mark =
		bc_host_watermark(g);
	g->flush_req[(g->fr_head + g->fr_len) % FLUSH_RING].wrote =
		bc_host_wrote(g);
	g->fr_len++;
	g->st->flushes++;
	pthread_cond_signal(&g->flush_cv);
	return 0;
}
