// SPDX-License-Identifier: LGPL-2.1-or-later
/* NVMe Copy descriptors and limits (see copy.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "nvme/copy.h"

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int bc_nvme_copy_cut(const struct bc_nvme_copy_limits *l, uint64_t src_lba,
		     uint64_t blocks, struct bc_nvme_copy_range *out,
		     size_t max, size_t *n, uint64_t *covered)
{
	uint64_t per_range, per_cmd, done = 0;
	size_t k = 0, ranges;

	if (!l->mssrl || !l->mcl || !l->msrc)
		return -EINVAL;
	per_range = l->mssrl > 65536 ? 65536 : l->mssrl;	/* NLB: 16 bits */
	per_cmd = l->mcl;
	ranges = l->msrc < max ? l->msrc : max;
	if (ranges > BC_NVME_COPY_MAX_RANGES)
		ranges = BC_NVME_COPY_MAX_RANGES;
	while (done < blocks && k < ranges && done < per_cmd) {
		uint64_t c = blocks - done;

		if (c > per_range)
			c = per_range;
		if (c > per_cmd - done)
			c = per_cmd - done;
		out[k++] = (struct bc_nvme_copy_range){ src_lba + done, (uint32_t)c };
		done += c;
	}
	*n = k;
	*covered = done;
	return 0;
}

int bc_nvme_copy_build(uint8_t *buf, size_t len,
		       const struct bc_nvme_copy_range *r, size_t n)
{
	if (n == 0 || n > BC_NVME_COPY_MAX_RANGES || n * BC_NVME_COPY_DESC_LEN > len)
		return -ENOSPC;
	memset(buf, 0, n * BC_NVME_COPY_DESC_LEN);
	for (size_t i = 0; i < n; i++) {
		uint8_t *d = buf + i * BC_NVME_COPY_DESC_LEN;

		if (!r[i].blocks || r[i].blocks > 65536)
			return -EINVAL;
		put_le(d + 8, r[i].slba, 8);
		put_le(d + 16, r[i].blocks - 1, 2);
	}
	return (int)(n * BC_NVME_COPY_DESC_LEN);
}

/*
 * The kernel device first: the strings are the device's word and may be
 * copied from another namespace; the device number is the one thing
 * both volumes' Copy commands would really go to.  (A long SUBNQN is cut
 * at the end, never the device.)
 */
int bc_nvme_copy_domain(char *buf, size_t len, const struct bc_nvme_ns_ref *r)
{
	int n = snprintf(buf, len, "nvme:dev%u:%u:ns%u:%s:%.200s",
			 major(r->dev), minor(r->dev), r->nsid, r->serial,
			 r->subnqn[0] ? r->subnqn : "-");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

bool bc_nvme_same_namespace(const struct bc_nvme_ns_ref *a,
			    const struct bc_nvme_ns_ref *b)
{
	return a->dev && a->dev == b->dev && a->nsid == b->nsid &&
	       !strcmp(a->subnqn, b->subnqn) && !strcmp(a->serial, b->serial);
}
