/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The unit beneath a kernel block device, for "same volume" checks
 * (src/volume/identity.h): partitions and dm-linear volumes are followed down to
 * the bottom device (src/volume/stack.h), which is named by its device number;
 * a loop device also by its backing file (device and inode, the loop's
 * offset added), a dm-multipath device by its paths (their SCSI
 * addresses, and the unique designators the kernel read from their VPD
 * page 0x83).  A virtio disk, an md array or a loop device's partitions
 * are so windows on one bottom device, and overlapping ones are refused.
 */
#ifndef BC_DEVID_H
#define BC_DEVID_H

#include <sys/types.h>

#include <blkclone/volume.h>

/*
 * Fill @id's unit, keys, lu_offset (where the device starts on the
 * unit), lu_location, stack and identity for block device @rdev.  Never
 * fails: what cannot be followed is its own unit.
 */
void bc_devid_block(dev_t rdev, struct bc_identity *id);

/*
 * Fill @id's multipath map and paths and the reason the stack walk
 * stopped, from block device @rdev's stack (src/volume/stack.h); the
 * fields stay empty when it cannot be resolved.
 */
void bc_devid_stack_info(dev_t rdev, struct bc_identity *id);

/*
 * The block device (sd) the kernel made of SCSI generic node @chr, as
 * /dev/NAME in @path; -ENODEV when the LU has none (a tape, a disk
 * without the sd driver).
 */
int bc_devid_sg_block(dev_t chr, dev_t *blk, char *path, size_t len);

#endif
