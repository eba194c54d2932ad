/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host copy's I/O shape chosen from what the copy observes, not from
 * constants tuned on one machine: a pure controller (no I/O, no clock, no
 * threads), fed one interval's observations at a time by the engine
 * (hostcopy-pool.c) and tested over a table (tests/unit/test-iotune.c).
 *
 *  - queue depth (chunks in flight): hill climbing on throughput.  From
 *    the depth it holds, it tries one more (or one fewer); a depth that
 *    moves more bytes per second by more than TOL is kept, one that is as
 *    fast with fewer commands in flight is kept too (less load on the
 *    target, less memory), anything else goes back and waits HOLD
 *    intervals before trying the other way.  On a shared host one
 *    interval's rate is as much the neighbours' as the depth's, and a
 *    probe that lands in a quiet moment once would be kept (4838a44's
 *    controller walked from 16 down to 5 in flight that way and lost a
 *    quarter of a full copy's speed to its own starting shape).  So a
 *    probe is judged WINS times, the held depth measured again between
 *    the trials, and each trial must win against the highest rate the
 *    held depth showed since the probe (or the walk of kept probes)
 *    began: one lucky probe, or one held interval in a busy moment, is
 *    not enough to move.  Between probes the held depth's rate follows
 *    the target, so a target that slows or speeds up is followed.
 *    Within [min_depth, max_depth]: equal, the caller fixed it, and
 *    nothing is tried.
 *  - chunk size: the source's data extents, as they come: the smallest
 *    power of two that holds their mean size, within the limits (a
 *    command never spans extents, so larger buffers only cost memory).
 *  - write-behind (bytes written between flushes): from the flushes' own
 *    latency.  A flush in flight most of the interval means they cannot
 *    keep up: twice the bytes per flush.  One that takes almost no time is
 *    cheap: half, so the target's dirty cache stays small.
 */
#ifndef BC_CORE_IOTUNE_H
#define BC_CORE_IOTUNE_H

#include <stdbool.h>
#include <stdint.h>

struct bc_iotune_limits {
	unsigned max_depth;		/* workers started (>= 1) */
	unsigned min_depth;		/* 0 or 1: from 1; max_depth: fixed */
	uint32_t min_chunk, max_chunk;	/* max: the buffers' size */
	uint32_t gran;			/* a chunk is a multiple of this */
	uint64_t min_wb, max_wb;	/* equal: write-behind is fixed */
};

/* One interval, as the engine saw it. */
struct bc_iotune_obs {
	double seconds;			/* its length (> 0) */
	uint64_t bytes;			/* bytes of chunks completed */
	double inflight;		/* chunks in flight, on average */
	double latency;			/* seconds per chunk, on average */
	uint64_t extents, extent_bytes;	/* data extents queued: count, bytes */
	unsigned flushes;		/* write-behind flushes completed */
	double flush_seconds;		/* their latency, summed */
};

struct bc_iotune {
	/* the outputs */
	unsigned depth;
	uint32_t chunk;
	uint64_t write_behind;
	/* the climb */
	unsigned best_depth;		/* the depth held */
	double mark;			/* bytes/s a probe must match (see above) */
	int dir;			/* +1 or -1: the next probe's way */
	unsigned hold;			/* intervals to wait before a probe */
	unsigned probe;			/* a probe to try again next, or 0 */
	unsigned wins;			/* trials the probe has won so far */
	bool walking;			/* a probe was kept: the mark stays */
};

#define BC_IOTUNE_TOL 0.05
#define BC_IOTUNE_HOLD 4
#define BC_IOTUNE_WINS 2

/* Start at @depth, @chunk and @wb (clamped into @l). */
void bc_iotune_init(struct bc_iotune *t, const struct bc_iotune_limits *l,
		    unsigned depth, uint32_t chunk, uint64_t wb);

/* One interval's observations in; depth, chunk and write_behind out.
 * Observations with no time or no bytes change nothing. */
void bc_iotune_step(struct bc_iotune *t, const struct bc_iotune_limits *l,
		    const struct bc_iotune_obs *o);

#endif
