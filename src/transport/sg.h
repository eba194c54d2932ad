/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SCSI commands over SG_IO (sg.c). */
#ifndef BC_TRANSPORT_SG_H
#define BC_TRANSPORT_SG_H

#include <stdbool.h>
#include <sys/types.h>

#include <blkclone/error.h>

struct bc_scsi_transport;

/*
 * A transport to the LU behind @path (/dev/sdX, /dev/sgN, or a link to
 * one), read-only unless @write.  0, or -errno with @e filled.
 */
int bc_sg_open(const char *path, bool write, struct bc_scsi_transport **out,
	       struct bc_error *e);

/*
 * The same for a dm-multipath map's node @path: SG_IO on it goes down
 * the path the kernel uses now.  A map has no H:C:T:L of its own, so the
 * one of its path @via (a SCSI disk's block device) names the target and
 * the copy domain.
 */
int bc_sg_open_via(const char *path, dev_t via, bool write,
		   struct bc_scsi_transport **out, struct bc_error *e);

#endif
