/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host copy engine's parts, shared by its files (not an API):
 * hostcopy.c walks the source's map and hands out data and holes,
 * hostcopy-pool.c runs the workers and knows what is done, and
 * hostcopy-write.c puts a chunk on the destination (data runs written,
 * zero runs and holes settled, the write-behind flush asked for), and
 * hostcopy-flush.c is the flusher thread that sends those flushes.  The
 * I/O shape (queue depth, chunk size, write-behind) is iotune.h's.
 */
#ifndef BC_CORE_HOSTCOPY_H
#define BC_CORE_HOSTCOPY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <blkclone/copy.h>

#include "core/holes.h"
#include "core/iotune.h"

#define MAX_WORKERS BC_COPY_MAX_DEPTH
#define NO_OFFSET UINT64_MAX
/* write-behind flushes asked for and not yet sent, at most: a worker
 * waits for the flusher beyond that (a destination whose flushes cannot
 * keep up must slow the copy, not pile up requests) */
#define FLUSH_RING 4

/* A range of the source for a worker: data to copy, or a hole to settle
 * on the destination. */
struct chunk {
	uint64_t off;
	uint64_t len;
	bool hole;
};

struct engine;

struct worker {
	pthread_t thread;
	struct engine *g;
	void *buf;
	struct bc_error err;
	uint64_t inflight;	/* chunk being copied, or NO_OFFSET */
	uint64_t settling;	/* zero run being settled, or NO_OFFSET */
};

struct engine {
	struct bc_volume *src, *dst;
	const struct bc_caps *sc, *dc;
	const struct bc_copy_opts *o;
	struct bc_copy_stats *st;
	struct bc_error *e;
	struct bc_dest_holes holes;
	struct bc_map_known known;	/* under @lock (holes.h) */
	uint32_t align;		/* I/O alignment: the larger block size */
	uint32_t zgran;		/* zero detection granularity */
	uint32_t buf_size;	/* each worker's buffer: the largest chunk */
	struct bc_iotune_limits lim;
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
	uint64_t unflushed;	/* bytes written since the last flush asked */
	/* the I/O shape now: tune.depth chunks in flight at most, cut at
	 * tune.chunk, a flush asked for every tune.write_behind bytes */
	struct bc_iotune tune;
	unsigned active;	/* workers copying a chunk */
	/* the interval being observed for the controller */
	struct timespec iv_start;
	struct bc_iotune_obs iv;
	unsigned iv_chunks;
	/* write-behind flushes asked of the flusher: a ring of the
	 * watermark and bc_host_wrote() when each was asked */
	struct { uint64_t mark, wrote; } flush_req[FLUSH_RING];
	unsigned fr_head, fr_len;
	pthread_cond_t flush_cv;	/* a request came, or stopping */
	pthread_cond_t flush_done;	/* a request was served */
	bool flusher_stop;
	bool flusher_started;
	pthread_t flusher;
	struct bc_error flush_err;
	/* Everything below this offset is on the destination's stable
	 * storage: written before a flush that succeeded.  A failed flush
	 * may have lost any write after that, so the copy resumes here. */
	uint64_t durable;
	/* st->durable_offset moved on since the last progress report:
	 * rare (once per write_behind bytes) and worth telling at once, as
	 * a job records where a crash would resume */
	bool durable_news;
	/* bc_host_wrote() when the last flush that succeeded was sent */
	uint64_t flushed_through;
	/* the source's hole the producer is growing: extents of holes in a
	 * row (a map reply may cut one) are queued as one, when data or a
	 * hole that does not touch it comes, or the source ends */
	uint64_t src_hole_off, src_hole_len;
	/* the workers' zero runs (zero detection) waiting to be made zero
	 * on the destination, merged so that runs of them cost one command */
	uint64_t hole_off, hole_len;
	uint64_t producer_settling;	/* as worker.settling, for finish() */
	unsigned n_workers;
	unsigned started;	/* worker threads running */
	struct worker workers[MAX_WORKERS];
};

/* Lowest byte not known done -- what a failed or stopped copy resumes
 * from, and the progress reported: call with the lock held.  Here, not in
 * a .c, so the pool and the writes both read it without calling each
 * other. */
static inline uint64_t bc_host_watermark(const struct engine *g)
{
	uint64_t w = g->produced;

	if (g->q_len && g->queue[g->q_head].off < w)
		w = g->queue[g->q_head].off;
	for (unsigned i = 0; i < g->n_workers; i++)
		if (g->workers[i].inflight < w)
			w = g->workers[i].inflight;
	if (g->src_hole_len && g->src_hole_off < w)
		w = g->src_hole_off;
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

/* What the copy put on the destination so far (lock held), every way:
 * what was written since a flush is what the flush makes durable. */
static inline uint64_t bc_host_wrote(const struct engine *g)
{
	return g->st->written_bytes + g->st->zeroed_bytes +
	       g->st->offloaded_bytes;
}

/* Lock held: a flush sent when bc_host_wrote() was @mark succeeded. */
static inline void bc_host_flushed(struct engine *g, uint64_t mark)
{
	g->st->dest_flushes++;
	if (mark > g->flushed_through)
		g->flushed_through = mark;
}

/* Record a failure (lock held); the first error is the one reported.
 * Here, not in a .c, as the watermark: the pool, the writes and the
 * flusher all record failures without calling each other. */
static inline void bc_host_record_failure(struct engine *g, int rc, uint64_t off,
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
	pthread_cond_broadcast(&g->flush_cv);
	pthread_cond_broadcast(&g->flush_done);
}

/* hostcopy-progress.c: seconds since @a (CLOCK_MONOTONIC); lock held:
 * done_bytes and seconds, and the caller's progress callback at most
 * every 0.25 s, at once when @force or durable_offset moved on. */
double bc_host_elapsed(const struct timespec *a);
void bc_host_progress(struct engine *g, bool force);
/* Lock not held: queue [off, off + len) for the workers in chunks;
 * returns the first failure so far (0 if none). */
int bc_host_queue_data(struct engine *g, uint64_t off, uint64_t len);
/* Lock held: queue the hole [off, off + len) for the workers to settle,
 * in pieces; returns the first failure so far (0 if none). */
int bc_host_queue_hole(struct engine *g, uint64_t off, uint64_t len);
/* Lock not held: buffers and threads for g->n_workers workers. */
int bc_host_pool_start(struct engine *g, struct bc_error *e);
/* Lock not held: nothing more comes (@rc < 0: the producer failed, at
 * g->produced); wait for every worker started. */
void bc_host_pool_join(struct engine *g, int rc, struct bc_error *e);

/* Lock held: a chunk of @len bytes took @secs; closes the controller's
 * interval when it is long enough (hostcopy-pool.c). */
void bc_host_observe_chunk(struct engine *g, uint64_t len, double secs);

/* hostcopy-flush.c.  Lock not held: start the flusher (when the copy
 * flushes at all); stop it once every request is served. */
int bc_host_flusher_start(struct engine *g, struct bc_error *e);
void bc_host_flusher_stop(struct engine *g);
/* Lock held: a write-behind flush is due; waits while FLUSH_RING are
 * pending.  Returns the first failure so far (0 if none). */
int bc_host_flush_ask(struct engine *g);

/* hostcopy-write.c */
int bc_host_settle_unlocked(struct engine *g, uint64_t off, uint64_t len,
			    uint64_t *slot, struct bc_error *e);
int bc_host_add_hole(struct engine *g, uint64_t off, uint64_t len,
		     uint64_t *slot, uint64_t *fail, struct bc_error *e);
/* Lock not held.  On failure *fail is the lowest offset left undone. */
int bc_host_copy_chunk(struct worker *w, uint64_t off, size_t n,
		       uint64_t *fail);

/* hostcopy.c, for the fan-out engine (fanout-copy.c): @in a checked
 * extent reply from @pos, cut to @align (holes only whole blocks); the
 * I/O size for @workers buffers, whole granules of @gran. */
struct bc_extent;
size_t bc_host_align_extents(const struct bc_extent *in, size_t n,
			     struct bc_extent *out, uint64_t pos, uint64_t end,
			     uint64_t align, bool src_zero_init);
uint32_t bc_host_pick_chunk(uint32_t want, const struct bc_caps *sc,
			    const struct bc_caps *dc, unsigned workers,
			    uint32_t gran);

#endif
