/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FICLONERANGE between image files, the file backend's offload.  A pair
 * is judged from the filesystem alone (nothing is cloned to find out),
 * and a clone that fails says whether it provably changed nothing.
 */
#ifndef BC_REFLINK_H
#define BC_REFLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bc_reflink_answer {
	BC_REFLINK_NO,		/* the filesystem cannot clone this pair */
	BC_REFLINK_MAYBE,	/* it may: only a clone can tell (NFS, FUSE) */
	BC_REFLINK_YES,		/* it can, as far as it says without cloning */
};

/*
 * May [0, @src_size) of @src_fd be cloned onto the same range of @dst_fd
 * (@dst_size bytes long)?  Looks at the devices, the filesystem and its
 * block size; writes nothing.  @why says what decided.
 */
enum bc_reflink_answer bc_reflink_pair(int src_fd, uint64_t src_size,
				       int dst_fd, uint64_t dst_size,
				       char *why, size_t len);

/*
 * Does the filesystem of @fd clone extents at all?  What bc_reflink_pair
 * says of the filesystem alone (YES, NO, or MAYBE where only a clone can
 * tell); writes nothing.
 */
enum bc_reflink_answer bc_reflink_fs(int fd, char *why, size_t len);

/*
 * Clone exactly [@off, @off+@len) of @src_fd onto the same range of
 * @dst_fd (@len > 0: never the kernel's "0 = to the end of the source").
 * 0 or -errno; on failure *@untouched says whether the destination's
 * extents over the range were the same before and after (FIEMAP), i.e.
 * the kernel provably remapped nothing.  A filesystem without FIEMAP
 * cannot prove it: false.
 */
int bc_reflink_range(int src_fd, int dst_fd, uint64_t off, uint64_t len,
		     bool *untouched);

#endif
