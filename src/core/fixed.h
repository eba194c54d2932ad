/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What bc_copy_fix fixed (copy.h), as the offload walker reads it: the
 * source's map from the start offset on as it was then, and the backend's
 * hold on the content of its data extents.
 */
#ifndef BC_CORE_FIXED_H
#define BC_CORE_FIXED_H

#include <blkclone/copy.h>

struct bc_fixed {
	struct bc_volume *src;
	enum bc_method method;
	uint64_t start, end;		/* bytes */
	/* every extent of [start, end): MAPPED = held data, DEALLOCATED =
	 * a hole that read zero then (settled on the destination as one) */
	size_t n;
	struct bc_extent *x;
	struct bc_capture *cap;
};

#endif
