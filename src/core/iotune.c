// SPDX-License-Identifier: LGPL-2.1-or-later
/* The host copy's adaptive I/O shape (iotune.h says how and why). */
#include "core/iotune.h"

static uint32_t clamp_chunk(const struct bc_iotune_limits *l, uint64_t c)
{
	uint32_t g = l->gran ? l->gran : 1;

	if (c > l->max_chunk)
		c = l->max_chunk;
	if (c < l->min_chunk)
		c = l->min_chunk;
	c = c / g * g;
	return c < g ? g : (uint32_t)c;
}

static uint64_t clamp_wb(const struct bc_iotune_limits *l, uint64_t wb)
{
	if (wb < l->min_wb)
		wb = l->min_wb;
	if (wb > l->max_wb)
		wb = l->max_wb;
	return wb;
}

/* The depth's bounds: [1, workers], or narrower where the caller fixed
 * it (a minimum above the maximum is the maximum). */
static unsigned depth_max(const struct bc_iotune_limits *l)
{
	return l->max_depth ? l->max_depth : 1;
}

static unsigned depth_min(const struct bc_iotune_limits *l)
{
	unsigned max = depth_max(l);

	return !l->min_depth ? 1 : l->min_depth > max ? max : l->min_depth;
}

void bc_iotune_init(struct bc_iotune *t, const struct bc_iotune_limits *l,
		    unsigned depth, uint32_t chunk, uint64_t wb)
{
	unsigned min = depth_min(l), max = depth_max(l);

	*t = (struct bc_iotune){ 0 };
	t->depth = depth < min ? min : depth > max ? max : depth;
	t->best_depth = t->depth;
	t->chunk = clamp_chunk(l, chunk);
	t->write_behind = clamp_wb(l, wb);
	/* from the top, fewer is tried first; from below, more */
	t->dir = t->depth == max ? -1 : +1;
}

/* The depth one step @dir from @d, or @d when that is out of bounds. */
static unsigned next_depth(unsigned d, int dir, unsigned min, unsigned max)
{
	if (dir < 0)
		return d > min ? d - 1 : d;
	return d < max ? d + 1 : d;
}

/* A probe's trial at @rate: more by more than TOL, or (fewer in flight)
 * no less by more than TOL, than the mark. */
static bool trial_won(const struct bc_iotune *t, double rate)
{
	if (t->depth > t->best_depth)
		return rate > t->mark * (1 + BC_IOTUNE_TOL);
	return rate >= t->mark * (1 - BC_IOTUNE_TOL);
}

static void step_depth(struct bc_iotune *t, unsigned min, unsigned max,
		       double rate)
{
	unsigned next;

	if (t->depth != t->best_depth) {
		/* the interval was a probe's trial */
		if (!trial_won(t, rate)) {
			t->depth = t->best_depth;
			t->dir = -t->dir;
			t->hold = BC_IOTUNE_HOLD;
			t->wins = 0;
			t->walking = false;
			return;
		}
		if (++t->wins < BC_IOTUNE_WINS) {
			/* once may be luck: the held depth again, then this */
			t->probe = t->depth;
			t->depth = t->best_depth;
			return;
		}
		t->wins = 0;
		t->best_depth = t->depth;
		/* the highest rate stays the mark: a walk down by steps
		 * each a little slower must not add up */
		if (rate > t->mark)
			t->mark = rate;
		next = next_depth(t->depth, t->dir, min, max);
		t->walking = next != t->depth;	/* go on the same way */
		t->depth = next;
		return;
	}
	/* the held depth, measured again: within a probe's trials or a
	 * walk the mark is the highest rate seen, otherwise the latest */
	if (t->probe || t->walking) {
		if (rate > t->mark)
			t->mark = rate;
	} else {
		t->mark = rate;
	}
	if (t->probe) {
		t->depth = t->probe;
		t->probe = 0;
		return;
	}
	if (t->hold) {
		t->hold--;
		return;
	}
	next = next_depth(t->depth, t->dir, min, max);
	if (next == t->depth) {
		t->dir = -t->dir;
		next = next_depth(t->depth, t->dir, min, max);
	}
	t->depth = next;
}

static void step_chunk(struct bc_iotune *t, const struct bc_iotune_limits *l,
		       const struct bc_iotune_obs *o)
{
	uint64_t mean, c = 1;

	if (!o->extents)
		return;
	mean = o->extent_bytes / o->extents;
	while (c < mean && c < l->max_chunk)
		c <<= 1;
	t->chunk = clamp_chunk(l, c);
}

static void step_write_behind(struct bc_iotune *t,
			      const struct bc_iotune_limits *l,
			      const struct bc_iotune_obs *o)
{
	double busy;

	if (!o->flushes)
		return;
	busy = o->flush_seconds / o->seconds;
	if (busy > 0.5)
		t->write_behind = clamp_wb(l, t->write_behind * 2);
	else if (busy < 0.1)
		t->write_behind = clamp_wb(l, t->write_behind / 2);
}

void bc_iotune_step(struct bc_iotune *t, const struct bc_iotune_limits *l,
		    const struct bc_iotune_obs *o)
{
	if (!(o->seconds > 0) || !o->bytes)
		return;
	if (depth_min(l) < depth_max(l))
		step_depth(t, depth_min(l), depth_max(l),
			   (double)o->bytes / o->seconds);
	step_chunk(t, l, o);
	step_write_behind(t, l, o);
}
