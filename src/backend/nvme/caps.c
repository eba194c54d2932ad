// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What Identify means for a namespace's zeroing and holes (see
 * identify.h), apart from the device so it can be tested on Identify
 * data alone.
 */
#include <blkclone/volume.h>

#include "backend/backends.h"
#include "backend/nvme/caps.h"

bool bc_nvme_write_zeroes_deac(const struct bc_nvme_ns_info *ns)
{
	return ns->write_zeroes_deac && ns->dealloc_reads_zero;
}

void bc_nvme_zero_caps(const struct bc_nvme_ctrl_info *ctrl,
		       const struct bc_nvme_ns_info *ns, struct bc_caps *c)
{
	uint8_t rb = ns->dlfeat & 0x7;

	if (ctrl->oncs & BC_NVME_ONCS_WRITE_ZEROES)
		bc_feature_set(&c->zeroout, BC_SUP_YES, "Write Zeroes%s",
		     bc_nvme_write_zeroes_deac(ns) ? " with DEAC (DLFEAT bit 3)" : "");
	if (ctrl->oncs & BC_NVME_ONCS_DSM)
		bc_feature_set(&c->unmap, BC_SUP_YES, "Dataset Management, deallocate");
	else
		bc_feature_set(&c->unmap, BC_SUP_NO, "ONCS: no Dataset Management");
	/* DLFEAT bits 2:0: 001b zeros, 010b FFh, 000b not reported, others
	 * reserved; only 001b proves anything */
	if (ns->dealloc_reads_zero)
		bc_feature_set(&c->zero_init, BC_SUP_YES,
		     "DLFEAT %#x: deallocated blocks read as zeros", ns->dlfeat);
	else if (!rb)
		bc_feature_set(&c->zero_init, BC_SUP_UNKNOWN,
		     "DLFEAT %#x: read behaviour of deallocated blocks not reported",
		     ns->dlfeat);
	else
		bc_feature_set(&c->zero_init, BC_SUP_NO,
		     "DLFEAT %#x: deallocated blocks read %s", ns->dlfeat,
		     rb == 2 ? "as FFh" : "a reserved pattern, not zeros");
	bc_feature_set(&c->extent_map, BC_SUP_NO,
	     "NVMe has no allocation query; zero detection on the data read");
	c->map_source = BC_MAP_NONE;
}
