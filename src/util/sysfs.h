/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small readers of /sys/dev/block/MAJ:MIN attributes. */
#ifndef BC_SYSFS_H
#define BC_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A sysfs file into @buf, trailing newline and spaces removed. */
int bc_sysfs_read_path(const char *path, char *buf, size_t len);
/* @attr relative to the device; partitions fall back to their disk. */
int bc_sysfs_read_str(dev_t rdev, const char *attr, char *buf, size_t len);
int bc_sysfs_read_u64(dev_t rdev, const char *attr, uint64_t *out);
/* The kernel name ("sda", "loop0", "dm-3"). */
int bc_sysfs_kname(dev_t rdev, char *buf, size_t len);

/*
 * The SCSI address (H:C:T:L) of the device behind a block (@block) or
 * character node, from the realpath of its sysfs "device" link
 * (.../host0/target0:0:1/0:0:1:3); -ENODEV if it is not a SCSI device.
 */
int bc_sysfs_scsi_address(bool block, dev_t rdev, unsigned *h, unsigned *c,
			  unsigned *t, uint64_t *lun);

#endif
