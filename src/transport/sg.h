/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SCSI commands over SG_IO (sg.c). */
#ifndef BC_TRANSPORT_SG_H
#define BC_TRANSPORT_SG_H

#include <stdbool.h>
#include <stddef.h>
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
 * a path the map chooses.  A map has no H:C:T:L of its own, so the one
 * of @paths[0] (a SCSI disk's block device, one the map may use) names
 * the target and the copy domain.  A command that fails on the map with
 * a path error is sent again on each of @paths (@n of them) that sysfs
 * says is running, until one answers.
 */
int bc_sg_open_via(const char *path, const dev_t *paths, size_t n, bool write,
		   struct bc_scsi_transport **out, struct bc_error *e);

#endif
