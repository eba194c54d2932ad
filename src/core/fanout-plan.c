// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which pairs of a job share their source reads (see fanout.h).  Pure.
 */
#include "core/fanout.h"
#include "volume/identity.h"

static bool same_source(const struct bc_fanout_pair *a,
			const struct bc_fanout_pair *b)
{
	const char *key;

	if (!a->src_id || !b->src_id || a->src_size != b->src_size ||
	    a->src_block != b->src_block)
		return false;
	return bc_identity_overlap(a->src_id, a->src_size, b->src_id,
				   b->src_size, &key) == BC_OVERLAP_SAME;
}

static bool can_share(const struct bc_fanout_pair *a,
		      const struct bc_fanout_pair *b)
{
	return a->method == BC_METHOD_HOST && b->method == BC_METHOD_HOST &&
	       a->start == b->start && same_source(a, b);
}

size_t bc_fanout_plan(const struct bc_fanout_pair *p, size_t n, size_t *group)
{
	size_t shared = 0;

	for (size_t i = 0; i < n; i++) {
		group[i] = i;
		/* the first earlier leader it can share with; a leader is
		 * compared, never a member, so a group is one source */
		for (size_t j = 0; j < i; j++)
			if (group[j] == j && can_share(&p[j], &p[i])) {
				group[i] = j;
				break;
			}
	}
	for (size_t i = 0; i < n; i++) {
		bool with_other = group[i] != i;

		for (size_t k = i + 1; k < n && !with_other; k++)
			with_other = group[k] == i;
		shared += with_other;
	}
	return shared;
}
