/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What kind of volume an address names.  Pure classification of the
 * string, then a look at the file system object (stat, sysfs) it names.
 */
#ifndef BC_ADDRESS_H
#define BC_ADDRESS_H

#include <stddef.h>
#include <sys/types.h>

enum bc_addr_kind {
	BC_ADDR_INVALID = 0,
	BC_ADDR_ISCSI,		/* iscsi://... */
	BC_ADDR_FILE,		/* a regular file, or one to be created */
	BC_ADDR_BLOCK,		/* a block device with no better backend */
	BC_ADDR_SCSI,		/* a SCSI disk (sd) or generic (sg) node */
	BC_ADDR_NVME,		/* an NVMe namespace block device */
};

const char *bc_addr_kind_name(enum bc_addr_kind k);

/*
 * @addr for messages and JSON: a secret typed into the user part of an
 * URL ("scheme://user:secret@host") is replaced by "***".  Returns @buf.
 */
const char *bc_addr_display(const char *addr, char *buf, size_t len);

/*
 * Classify by the string alone: an URL scheme or a path.  Returns
 * BC_ADDR_ISCSI, BC_ADDR_FILE for any path (refined by bc_addr_resolve),
 * or BC_ADDR_INVALID with @why filled.
 */
enum bc_addr_kind bc_addr_classify(const char *addr, char *why, size_t whylen);

/*
 * Classify a block device by its kernel name as found under /sys/block or
 * /sys/class/block ("sda", "nvme0n1", "dm-0", "loop3", "sda1").
 */
enum bc_addr_kind bc_addr_kind_of_blockdev(const char *kname, int is_partition);

/*
 * Look at the object a path names: regular file, block device (and which
 * kind), SCSI generic char device.  A missing path is BC_ADDR_FILE when
 * @may_create, else an error.  Returns the kind or BC_ADDR_INVALID, -errno
 * in *err and a reason in @why.
 */
enum bc_addr_kind bc_addr_resolve(const char *path, int may_create, int *err,
				  char *why, size_t whylen);

#endif
