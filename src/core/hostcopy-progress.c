// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host copy's progress reports, on their own: the workers
 * (hostcopy-pool.c), the flusher (hostcopy-flush.c) and the producer
 * (hostcopy.c) all report, and the pool starts the flusher -- kept in
 * the pool, the report made the pool and the flusher call each other.
 */
#include <time.h>

#include "core/hostcopy-priv.h"

double bc_host_elapsed(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) +
	       (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

/* With the lock held. */
void bc_host_progress(struct engine *g, bool force)
{
	g->st->done_bytes = bc_host_watermark(g);
	g->st->seconds = bc_host_elapsed(&g->t0);
	if (!g->o->progress)
		return;
	if (!force && !g->durable_news && bc_host_elapsed(&g->last_progress) < 0.25)
		return;
	g->durable_news = false;
	clock_gettime(CLOCK_MONOTONIC, &g->last_progress);
	g->o->progress(g->st, g->o->progress_arg);
}
