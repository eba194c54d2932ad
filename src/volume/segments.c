// SPDX-License-Identifier: LGPL-2.1-or-later
/* Windows onto a unit, and cutting a copy at their boundaries (see
 * segments.h). */
#include <errno.h>

#include "volume/segments.h"

int bc_segs_check(const struct bc_stack_seg *segs, size_t n)
{
	uint64_t at = 0;

	if (!n || n > BC_STACK_SEGS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (segs[i].start != at || !segs[i].length ||
		    segs[i].length > UINT64_MAX - at ||
		    segs[i].offset > UINT64_MAX - segs[i].length)
			return -EINVAL;
		at += segs[i].length;
	}
	return 0;
}

int bc_segs_locate(const struct bc_stack_seg *segs, size_t n, uint64_t off,
		   uint64_t *unit_off, uint64_t *run)
{
	for (size_t i = 0; i < n; i++) {
		const struct bc_stack_seg *g = &segs[i];

		if (off >= g->start && off - g->start < g->length) {
			*unit_off = g->offset + (off - g->start);
			*run = g->length - (off - g->start);
			return 0;
		}
	}
	return -ERANGE;
}

int bc_segs_cut(const struct bc_stack_seg *s, size_t ns, uint64_t src_off,
		const struct bc_stack_seg *d, size_t nd, uint64_t dst_off,
		uint64_t len, struct bc_seg_piece *out, size_t max, size_t *n,
		uint64_t *covered)
{
	uint64_t got = 0;
	size_t k = 0;

	*n = 0;
	*covered = 0;
	while (got < len && k < max) {
		uint64_t su, sr, du, dr, run = len - got;

		if (src_off > UINT64_MAX - got || dst_off > UINT64_MAX - got ||
		    bc_segs_locate(s, ns, src_off + got, &su, &sr) < 0 ||
		    bc_segs_locate(d, nd, dst_off + got, &du, &dr) < 0)
			return -ERANGE;
		if (run > sr)
			run = sr;
		if (run > dr)
			run = dr;
		out[k++] = (struct bc_seg_piece){ src_off + got, dst_off + got,
						  su, du, run };
		got += run;
	}
	*n = k;
	*covered = got;
	return 0;
}

int bc_segs_overlap(const struct bc_stack_seg *a, size_t na,
		    const struct bc_stack_seg *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++) {
			uint64_t a0 = a[i].offset, a1 = a0 + a[i].length;
			uint64_t b0 = b[j].offset, b1 = b0 + b[j].length;

			if (a0 < b1 && b0 < a1)
				return 1;
		}
	return 0;
}
