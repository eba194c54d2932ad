/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Template fan-out: one source copied onto several destinations by the
 * host, each source extent read once and written to every destination.
 *
 *	bc_fanout_plan		pure: which pairs of a job share one read
 *	bc_host_copy_fanout	the engine (fanout-copy.c)
 *
 * Not an API of its own: the clone session's bc_clone_run_fanout
 * (include/blkclone/clone.h) is what callers use.
 */
#ifndef BC_CORE_FANOUT_H
#define BC_CORE_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/copy.h>

/* One pair as the planner sees it. */
struct bc_fanout_pair {
	const struct bc_identity *src_id;	/* the source's identity */
	uint64_t src_size;
	uint32_t src_block;			/* the source's block size */
	enum bc_method method;			/* the pair's chosen method */
	uint64_t start;				/* where its copy starts */
};

/*
 * Pure: group the pairs that can share their reads.  Two pairs join when
 * their sources are the same bytes of one unit (bc_identity_overlap says
 * BC_OVERLAP_SAME and the sizes and block sizes agree: the identity the
 * copy check computes, never the path typed), both are host copies (an
 * in-array copy reads nothing through the host: one command per pair, as
 * without fan-out) and both start at the same offset (a resumed pair
 * that stopped elsewhere copies alone).  @group[i] is the index of the
 * first pair of i's group, so group[i] == i for a group's leader and for
 * a pair alone.  Returns how many pairs share a read with another.
 */
size_t bc_fanout_plan(const struct bc_fanout_pair *p, size_t n, size_t *group);

/* One destination of a fan-out host copy. */
struct bc_fanout_dest {
	struct bc_volume *dst;
	bool proven_zero;		/* its own hole rule (plan) */
	/* its progress callback and argument (the rest of the options are
	 * the run's: one start, one cancel, one deadline) */
	bc_progress_fn progress;
	void *progress_arg;
	struct bc_copy_stats *st;	/* its accounting; filled on failure too */
	struct bc_error *e;		/* its failure */
	int rc;				/* 0, or its failure */
};

/*
 * Copy @src from o->start to its end onto each of @d[0..n): every
 * allocated extent is read once into one buffer of a bounded pool (the
 * same pool whatever @n) and written to each destination; holes and zero
 * runs are settled on each destination by its own rule (holes.h).  A
 * destination that fails is dropped with its error and resume offset
 * (d[i].rc, .e, .st->resume_offset) and the others go on; a failure of
 * the source (a read, a stop asked for, the deadline) fails every one
 * still going.  Returns 0 when every destination succeeded, else the
 * first destination's failure in order.
 */
int bc_host_copy_fanout(struct bc_volume *src, struct bc_fanout_dest *d,
			size_t n, const struct bc_copy_opts *o);

#endif
