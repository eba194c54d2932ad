/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What Identify means for a namespace's zeroing and holes (caps.c). */
#ifndef BC_BACKEND_NVME_CAPS_H
#define BC_BACKEND_NVME_CAPS_H

#include <stdbool.h>

#include <blkclone/volume.h>

#include "nvme/identify.h"

/*
 * Zeroout (Write Zeroes), unmap (Dataset Management), zero_init (yes
 * only for DLFEAT read behaviour 001b; unknown when not reported) and
 * extent_map (never: NVMe has no allocation query) into @c.
 */
void bc_nvme_zero_caps(const struct bc_nvme_ctrl_info *ctrl,
		       const struct bc_nvme_ns_info *ns, struct bc_caps *c);
/* Write Zeroes may set DEAC: the namespace deallocates that way (DLFEAT
 * bit 3) and deallocated blocks read zero.  Zeros either way. */
bool bc_nvme_write_zeroes_deac(const struct bc_nvme_ns_info *ns);

#endif
