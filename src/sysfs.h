/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small readers of /sys/dev/block/MAJ:MIN attributes. */
#ifndef BC_SYSFS_H
#define BC_SYSFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* @attr relative to the device; partitions fall back to their disk. */
int bc_sysfs_read_str(dev_t rdev, const char *attr, char *buf, size_t len);
int bc_sysfs_read_u64(dev_t rdev, const char *attr, uint64_t *out);
/* The kernel name ("sda", "loop0", "dm-3"). */
int bc_sysfs_kname(dev_t rdev, char *buf, size_t len);

#endif
