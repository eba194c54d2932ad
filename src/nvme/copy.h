/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NVMe Copy (opcode 19h), source range descriptor format 0: cutting a copy
 * into commands that respect MSSRL (blocks per range), MCL (blocks per
 * command) and MSRC (ranges per command), and the descriptor bytes.  Pure,
 * tested in tests/unit/test-nvme.c.  QEMU answers a range over MSSRL with
 * Internal Error rather than a limit error, so the limits are ours to keep.
 */
#ifndef BC_NVME_COPY_H
#define BC_NVME_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <blkclone/volume.h>

#define BC_NVME_OPC_COPY	0x19
#define BC_NVME_COPY_DESC_LEN	32
#define BC_NVME_COPY_MAX_RANGES	256	/* NR is 8 bits, 0's based */

struct bc_nvme_copy_range {
	uint64_t slba;
	uint32_t blocks;	/* 1-based here; the descriptor holds blocks - 1 */
};

/*
 * Ranges for one Copy command of [src_lba, src_lba + blocks): at most
 * @max; *covered = the blocks they hold (> 0 whenever blocks > 0 and the
 * limits are usable).  -EINVAL for zero limits.
 */
int bc_nvme_copy_cut(const struct bc_nvme_copy_limits *l, uint64_t src_lba,
		     uint64_t blocks, struct bc_nvme_copy_range *out,
		     size_t max, size_t *n, uint64_t *covered);

/* Format 0 descriptors into @buf; returns the bytes used or -ENOSPC. */
int bc_nvme_copy_build(uint8_t *buf, size_t len,
		       const struct bc_nvme_copy_range *r, size_t n);

/* A namespace as the device names it, and the kernel device it was
 * reached through (its block device, nvmeXnY). */
struct bc_nvme_ns_ref {
	const char *subnqn;	/* "" when the controller reports none */
	const char *serial;
	uint32_t nsid;
	dev_t dev;
};

/*
 * The copy domain of a namespace: volumes with equal domains are windows
 * on one namespace, between which Copy format 0 may run.  Length, or
 * -ENAMETOOLONG.
 */
int bc_nvme_copy_domain(char *buf, size_t len, const struct bc_nvme_ns_ref *r);

/* May Copy format 0 sent to @a's namespace write @b's LBAs?  Only
 * when both were reached through one kernel device and it reports one
 * SUBNQN, serial and NSID for both. */
bool bc_nvme_same_namespace(const struct bc_nvme_ns_ref *a,
			    const struct bc_nvme_ns_ref *b);

#endif
