// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FICLONERANGE (see reflink.h).  The kernel reads a src_length of 0 as
 * "to the end of the source", and a clone that fails part-way may already
 * have remapped some of its range (XFS returns EINVAL after a short
 * remap, btrfs may stop at an extent it cannot clone): so no clone here is
 * ever of length 0, a pair is never tried by cloning, and a failure counts
 * as "nothing written" only when the destination's extent map says so.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "util/reflink.h"

/* XFS_IOC_FSGEOMETRY_V1 from xfsprogs' xfs_fs.h (not in the kernel's
 * exported headers): its flags say whether the filesystem has reflink. */
struct xfs_geom_v1 {
	uint32_t blocksize, rtextsize, agblocks, agcount;
	uint32_t logblocks, sectsize, inodesize, imaxpct;
	uint64_t datablocks, rtblocks, rtextents, logstart;
	unsigned char uuid[16];
	uint32_t sunit, swidth;
	int32_t version;
	uint32_t flags, logsectsize, rtsectsize, dirblocksize;
};
_Static_assert(sizeof(struct xfs_geom_v1) == 112, "xfs_fsop_geom_v1 is 112 bytes");
#define XFS_GEOM_V1 _IOR('X', 100, struct xfs_geom_v1)
#define XFS_GEOM_FLAG_REFLINK 0x00100000u

#define BCACHEFS_MAGIC 0xca451a4eL
#define OCFS2_MAGIC 0x7461636fL
#define FUSE_MAGIC 0x65735546L

/* Does the filesystem of @fd implement FICLONERANGE? */
static enum bc_reflink_answer fs_clones(int fd, long type, char *why, size_t len)
{
	struct xfs_geom_v1 g;

	switch (type) {
	case BTRFS_SUPER_MAGIC:
		snprintf(why, len, "btrfs clones extents");
		return BC_REFLINK_YES;
	case OCFS2_MAGIC:
		snprintf(why, len, "ocfs2 clones extents");
		return BC_REFLINK_YES;
	case BCACHEFS_MAGIC:
		snprintf(why, len, "bcachefs clones extents");
		return BC_REFLINK_YES;
	case XFS_SUPER_MAGIC:
		memset(&g, 0, sizeof(g));
		if (ioctl(fd, XFS_GEOM_V1, &g) < 0) {
			snprintf(why, len, "xfs: its geometry could not be read (%s)",
				 strerror(errno));
			return BC_REFLINK_MAYBE;
		}
		if (!(g.flags & XFS_GEOM_FLAG_REFLINK)) {
			snprintf(why, len, "this xfs was made without reflink (mkfs.xfs -m reflink=0)");
			return BC_REFLINK_NO;
		}
		snprintf(why, len, "xfs with reflink");
		return BC_REFLINK_YES;
	case NFS_SUPER_MAGIC:
	case FUSE_MAGIC:
		snprintf(why, len, "%s may clone, if the server does",
			 type == NFS_SUPER_MAGIC ? "nfs" : "fuse");
		return BC_REFLINK_MAYBE;
	}
	snprintf(why, len, "the filesystem (magic 0x%lx) has no FICLONERANGE",
		 (unsigned long)type);
	return BC_REFLINK_NO;
}

enum bc_reflink_answer bc_reflink_fs(int fd, char *why, size_t len)
{
	struct statfs fs;

	if (fstatfs(fd, &fs) < 0) {
		snprintf(why, len, "fstatfs: %s", strerror(errno));
		return BC_REFLINK_MAYBE;
	}
	return fs_clones(fd, (long)fs.f_type, why, len);
}

enum bc_reflink_answer bc_reflink_pair(int src_fd, uint64_t src_size,
				       int dst_fd, uint64_t dst_size,
				       char *why, size_t len)
{
	struct stat ss, ds;
	struct statfs fs;
	enum bc_reflink_answer a;
	char fsw[160];

	if (fstat(src_fd, &ss) < 0 || fstat(dst_fd, &ds) < 0 ||
	    fstatfs(dst_fd, &fs) < 0) {
		snprintf(why, len, "fstat: %s", strerror(errno));
		return BC_REFLINK_MAYBE;
	}
	/* FICLONERANGE needs one filesystem and one mount (EXDEV) */
	if (ss.st_dev != ds.st_dev) {
		snprintf(why, len, "source and destination are on different filesystems");
		return BC_REFLINK_NO;
	}
	a = fs_clones(dst_fd, (long)fs.f_type, fsw, sizeof(fsw));
	if (a == BC_REFLINK_NO) {
		snprintf(why, len, "%s", fsw);
		return a;
	}
	/*
	 * Clones move whole filesystem blocks.  Only the source's last block
	 * may be partial, and only where the clone ends at the end of both
	 * files: inside a longer destination it would bring the bytes past
	 * the source's end along (the kernel refuses it, EINVAL).
	 */
	if (fs.f_bsize > 0 && src_size % (uint64_t)fs.f_bsize &&
	    dst_size != src_size) {
		snprintf(why, len,
			 "the source's size (%" PRIu64 " bytes) ends in a partial last block of the filesystem's %ld-byte blocks, "
			 "which cannot be cloned inside a longer destination (%" PRIu64 " bytes)",
			 src_size, (long)fs.f_bsize, dst_size);
		return BC_REFLINK_NO;
	}
	snprintf(why, len, "%s", fsw);
	return a;
}

/* FNV-1a over 64-bit words */
static void mix(uint64_t *h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		*h ^= (v >> (i * 8)) & 0xff;
		*h *= 0x100000001b3ull;
	}
}

#define FIEMAP_BATCH 64

/*
 * A digest of @fd's extents that meet [off, off+len): where they are on
 * the disk, how long, and their flags (shared, unwritten...).  A clone
 * that remapped anything there changes it.
 */
static int extents_digest(int fd, uint64_t off, uint64_t len, uint64_t *out)
{
	struct {
		struct fiemap m;
		struct fiemap_extent e[FIEMAP_BATCH];
	} b;
	uint64_t pos = off, end = off + len, h = 0xcbf29ce484222325ull;
	uint32_t flags = FIEMAP_FLAG_SYNC;	/* dirty pages become extents */

	while (pos < end) {
		const struct fiemap_extent *last;

		/* all of it: valgrind does not see the kernel fill the
		 * extents, and zeros are what an unused one holds anyway */
		memset(&b, 0, sizeof(b));
		b.m.fm_start = pos;
		b.m.fm_length = end - pos;
		b.m.fm_flags = flags;
		b.m.fm_extent_count = FIEMAP_BATCH;
		if (ioctl(fd, FS_IOC_FIEMAP, &b.m) < 0)
			return -errno;
		flags = 0;
		if (!b.m.fm_mapped_extents)
			break;
		for (uint32_t i = 0; i < b.m.fm_mapped_extents; i++) {
			mix(&h, b.e[i].fe_logical);
			mix(&h, b.e[i].fe_physical);
			mix(&h, b.e[i].fe_length);
			mix(&h, b.e[i].fe_flags);
		}
		last = &b.e[b.m.fm_mapped_extents - 1];
		if ((last->fe_flags & FIEMAP_EXTENT_LAST) ||
		    last->fe_logical + last->fe_length <= pos)
			break;
		pos = last->fe_logical + last->fe_length;
	}
	*out = h;
	return 0;
}

int bc_reflink_range(int src_fd, int dst_fd, uint64_t off, uint64_t len,
		     bool *untouched)
{
	struct file_clone_range r = {
		.src_fd = src_fd,
		.src_offset = off,
		.src_length = len,
		.dest_offset = off,
	};
	uint64_t before = 0, after = 0;
	bool known;
	int err;

	*untouched = false;
	if (!len)
		return -EINVAL;		/* would mean "to the end" */
	known = extents_digest(dst_fd, off, len, &before) == 0;
	if (ioctl(dst_fd, FICLONERANGE, &r) == 0)
		return 0;
	err = -errno;
	*untouched = known && extents_digest(dst_fd, off, len, &after) == 0 &&
		     before == after;
	return err;
}
