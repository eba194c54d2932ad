// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Generic Linux block devices (loop, dm, md, rbd, partitions).  I/O is
 * O_DIRECT so the copy sees what the device holds, not a stale page cache;
 * the destination is opened O_EXCL so a mounted or otherwise claimed
 * device is refused.  Block devices have no allocation query, except that
 * a loop device's backing file can be asked with SEEK_DATA/SEEK_HOLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backends.h"
#include "volume/devid.h"
#include "volume/identity.h"
#include "util/fdio.h"
#include "util/sysfs.h"

struct blk_priv {
	int fd;
	dev_t rdev;
	char kname[64];
	/* loop devices: the backing file, for the allocation map */
	int backing_fd;
	uint64_t backing_offset;
	char backing_path[4096];
};

static struct blk_priv *bp(struct bc_volume *v)
{
	return v->priv;
}

/*
 * A block volume whose stack stopped at a device-mapper target that is
 * no plain window (a snapshot, thin, crypt, raid... device, or a
 * multipath map whose paths do not name one LU): the copy managers'
 * methods are refused with that reason, and the host copies it.
 */
static void stack_refusal(dev_t rdev, struct bc_caps *c)
{
	struct bc_stack *s = malloc(sizeof(*s));

	if (s && bc_stack_resolve(rdev, s, NULL) == 0 && s->why_stopped[0] &&
	    (s->bottom_dm_target[0] || s->multipath)) {
		bc_feature_set(&c->xcopy, BC_SUP_NO, "%s", s->why_stopped);
		bc_feature_set(&c->token, BC_SUP_NO, "%s", s->why_stopped);
		bc_feature_set(&c->nvme_copy, BC_SUP_NO, "%s", s->why_stopped);
	}
	free(s);
}

static int blk_probe(struct bc_volume *v, struct bc_caps *c,
		     struct bc_error *e)
{
	struct blk_priv *p = bp(v);
	unsigned int pbs = 0, io_opt = 0;
	uint64_t discard_max = 0, wz_max = 0;

	snprintf(c->id.backend, sizeof(c->id.backend), "block");
	snprintf(c->id.location, sizeof(c->id.location), "block:%u:%u",
		 major(p->rdev), minor(p->rdev));
	c->size = v->size;
	c->block_size = v->block_size;
	if (ioctl(p->fd, BLKPBSZGET, &pbs) == 0)
		c->physical_block_size = pbs;
	if (ioctl(p->fd, BLKIOOPT, &io_opt) == 0)
		c->opt_transfer = io_opt;
	c->read_only = !v->writable;
	bc_sysfs_read_u64(p->rdev, "queue/discard_max_bytes", &discard_max);
	bc_sysfs_read_u64(p->rdev, "queue/write_zeroes_max_bytes", &wz_max);
	{
		uint64_t max_kb = 0;

		if (bc_sysfs_read_u64(p->rdev, "queue/max_sectors_kb",
				      &max_kb) == 0)
			c->max_transfer = (uint32_t)(max_kb * 1024);
	}
	if (discard_max)
		bc_feature_set(&c->unmap, BC_SUP_YES,
			    "BLKDISCARD (%s discards)", p->kname);
	else
		bc_feature_set(&c->unmap, BC_SUP_NO,
			    "%s: queue/discard_max_bytes is 0", p->kname);
	if (wz_max)
		bc_feature_set(&c->zeroout, BC_SUP_YES,
			    "%s offloads write zeroes (BLKZEROOUT)", p->kname);
	else
		bc_feature_set(&c->zeroout, BC_SUP_YES,
			    "BLKZEROOUT (%s: the kernel writes zero pages)",
			    p->kname);
	bc_feature_set(&c->write_same, BC_SUP_NO, "%s",
		    "generic block device: no SCSI WRITE SAME");
	/* The unit beneath: the bottom device of partitions and dm-linear
	 * volumes, a loop device's backing file, a multipath device's LU.
	 * Overlapping windows on it are refused (bc_copy_check). */
	bc_devid_block(p->rdev, &c->id);
	stack_refusal(p->rdev, c);
	if (p->backing_fd >= 0) {
		struct stat bst;

		/* the backing file as we hold it, should /dev lack the loop
		 * device's node; the same form as the file backend's key */
		if (strcmp(c->id.unit, "file") && fstat(p->backing_fd, &bst) == 0) {
			c->id.n_unit_keys = 0;
			snprintf(c->id.unit, sizeof(c->id.unit), "file");
			bc_identity_add_key(&c->id, "file:%u:%u:%" PRIu64,
					    major(bst.st_dev), minor(bst.st_dev),
					    (uint64_t)bst.st_ino);
			bc_identity_add_key(&c->id, "dev:%u:%u", major(p->rdev),
					    minor(p->rdev));
			snprintf(c->id.lu_location, sizeof(c->id.lu_location), "%s",
				 c->id.unit_keys[0]);
			c->id.lu_offset = p->backing_offset;
			bc_identity_describe(&c->id, NULL);
		}
		c->map_source = BC_MAP_BACKING_FILE;
		bc_feature_set(&c->extent_map, BC_SUP_YES,
			    "SEEK_DATA/SEEK_HOLE on the loop device's backing file %s",
			    p->backing_path);
		/* A loop device turns discard into a punched hole in its
		 * backing file, and holes read as zeros. */
		bc_feature_set(&c->zero_init, BC_SUP_YES,
			    "discarded blocks are holes in the backing file %s",
			    p->backing_path);
		c->provisioning = BC_PROV_THIN;
	} else {
		c->map_source = BC_MAP_NONE;
		bc_feature_set(&c->extent_map, BC_SUP_NO,
			    "%s: block devices have no allocation query; zero detection on the data read",
			    p->kname);
		bc_feature_set(&c->zero_init, BC_SUP_UNKNOWN,
			    "%s: Linux does not say whether discarded blocks read as zeros",
			    p->kname);
	}
	(void)e;
	return 0;
}

static int blk_read(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		    struct bc_error *e)
{
	return bc_fd_read_full(bp(v)->fd, buf, len, off, v->name,
			       v->block_size, e);
}

static int blk_write(struct bc_volume *v, const void *buf, uint64_t off,
		     size_t len, struct bc_error *e)
{
	return bc_fd_write_full(bp(v)->fd, buf, len, off, v->name,
				v->block_size, e);
}

/* Map a loop device through its backing file's holes. */
static int blk_map(struct bc_volume *v, uint64_t off, uint64_t len,
		   struct bc_extent *out, size_t max, size_t *n,
		   struct bc_error *e)
{
	struct blk_priv *p = bp(v);
	uint64_t end = off + len > v->size ? v->size : off + len;

	return bc_fd_seek_map(p->backing_fd, p->backing_offset, off, end,
			      v->block_size, out, max, n, v->name,
			      v->block_size, e);
}

static int blk_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		    unsigned flags, struct bc_error *e)
{
	int fd = bp(v)->fd;
	uint64_t range[2];

	/* PUNCH_HOLE on a block device means "zero, and deallocate if you
	 * can, but never by writing"; ZERO_RANGE may write.  Both leave the
	 * range reading zeros, and both fail fast if unsupported. */
	if ((flags & BC_ZERO_MAY_UNMAP) &&
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	range[0] = off;
	range[1] = len;
	if (ioctl(fd, BLKZEROOUT, range) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
		return bc_error_set_lba(e, -errno, v->name, "BLKZEROOUT",
					off / v->block_size, v->block_size,
					NULL);
	return bc_fd_write_zeros(fd, off, len, true, v->name, v->block_size,
				 e);
}

static int blk_discard(struct bc_volume *v, uint64_t off, uint64_t len,
		       struct bc_error *e)
{
	uint64_t range[2] = { off, len };

	if (ioctl(bp(v)->fd, BLKDISCARD, range) < 0)
		return bc_error_set_lba(e, -errno, v->name, "BLKDISCARD",
					off / v->block_size, v->block_size,
					NULL);
	return 0;
}

static int blk_flush(struct bc_volume *v, struct bc_error *e)
{
	if (fsync(bp(v)->fd) < 0)
		return bc_error_set(e, -errno, v->name, "fsync", NULL);
	return 0;
}

static int blk_drop_cache(struct bc_volume *v, struct bc_error *e)
{
	int fd = bp(v)->fd, err;

	/* BLKFLSBUF writes the device's dirty pages back and drops them */
	if (ioctl(fd, BLKFLSBUF, 0) == 0)
		return 0;
	if (errno != EACCES && errno != EPERM && errno != ENOTTY)
		return bc_error_set(e, -errno, v->name, "BLKFLSBUF", NULL);
	/* without CAP_SYS_ADMIN: the same for pages nobody has mapped */
	if (fsync(fd) < 0)
		return bc_error_set(e, -errno, v->name, "fsync", NULL);
	err = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return err ? bc_error_set(e, -err, v->name, "posix_fadvise(DONTNEED)", NULL) : 0;
}

static void blk_close(struct bc_volume *v)
{
	struct blk_priv *p = bp(v);

	if (p->backing_fd >= 0)
		close(p->backing_fd);
	if (p->fd >= 0)
		close(p->fd);
}

static const struct bc_volume_ops blk_ops = {
	.name = "block",
	.probe = blk_probe,
	.read = blk_read,
	.write = blk_write,
	.map = NULL,	/* set per device: only loop devices have a map */
	.zero = blk_zero,
	.discard = blk_discard,
	.flush = blk_flush,
	.drop_cache = blk_drop_cache,
	.close = blk_close,
};

static const struct bc_volume_ops blk_loop_ops = {
	.name = "block",
	.probe = blk_probe,
	.read = blk_read,
	.write = blk_write,
	.map = blk_map,
	.zero = blk_zero,
	.discard = blk_discard,
	.flush = blk_flush,
	.drop_cache = blk_drop_cache,
	.close = blk_close,
};

/*
 * A loop device's backing file, verified to be the very inode the loop
 * driver uses (the sysfs path may name a file since replaced).
 */
static void open_loop_backing(struct blk_priv *p)
{
	struct loop_info64 li;
	struct stat st;
	int fd;

	p->backing_fd = -1;
	/* LOOP_GET_STATUS64 (0x4c05) carries no size in its number, so
	 * valgrind cannot tell that it fills li: zeroed, it reads defined */
	memset(&li, 0, sizeof(li));
	if (ioctl(p->fd, LOOP_GET_STATUS64, &li) < 0)
		return;
	if (bc_sysfs_read_str(p->rdev, "loop/backing_file", p->backing_path,
			      sizeof(p->backing_path)) < 0)
		return;
	fd = open(p->backing_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || st.st_ino != li.lo_inode ||
	    st.st_dev != li.lo_device || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	p->backing_fd = fd;
	p->backing_offset = li.lo_offset;
}

int bc_blk_open(const char *path, unsigned flags, struct bc_volume **out,
		struct bc_error *e)
{
	struct bc_volume *v;
	struct blk_priv *p;
	struct stat st;
	uint64_t size;
	int bs, fd, ro = 0;
	int oflags = O_DIRECT | O_CLOEXEC;

	oflags |= (flags & BC_OPEN_WRITE) ? O_RDWR | O_EXCL : O_RDONLY;
	fd = open(path, oflags);
	if (fd < 0) {
		int err = -errno;

		return bc_error_set(e, err, path, "open",
				    err == -EBUSY ?
				    "device is in use (mounted, or opened exclusively by another program)" :
				    NULL);
	}
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) ||
	    ioctl(fd, BLKGETSIZE64, &size) < 0 ||
	    ioctl(fd, BLKSSZGET, &bs) < 0) {
		int err = errno ? -errno : -ENOTBLK;

		close(fd);
		return bc_error_set(e, err, path, "open",
				    "not a usable block device");
	}
	if ((flags & BC_OPEN_WRITE) && ioctl(fd, BLKROGET, &ro) == 0 && ro) {
		close(fd);
		return bc_error_set(e, -EROFS, path, "open",
				    "block device is read-only");
	}
	v = bc_volume_alloc(&blk_ops, path, sizeof(*p));
	if (!v) {
		close(fd);
		return bc_error_set(e, -ENOMEM, path, "open", NULL);
	}
	p = v->priv;
	p->fd = fd;
	p->rdev = st.st_rdev;
	bc_sysfs_kname(st.st_rdev, p->kname, sizeof(p->kname));
	p->backing_fd = -1;
	/* only the whole loop device: LOOP_GET_STATUS64 on a partition
	 * (loop0p1) answers for the whole device, and its backing file's
	 * holes would be read at the wrong offset */
	if (!strncmp(p->kname, "loop", 4) && p->kname[4] &&
	    strspn(p->kname + 4, "0123456789") == strlen(p->kname + 4)) {
		open_loop_backing(p);
		if (p->backing_fd >= 0)
			v->ops = &blk_loop_ops;
	}
	v->size = size;
	v->block_size = (uint32_t)bs;
	v->writable = !!(flags & BC_OPEN_WRITE);
	v->has_mode = true;
	v->mode = st.st_mode & 07777;
	/* O_DIRECT I/O is synchronous per call: threads keep a queue of
	 * requests in flight on the device. */
	v->io_threads = 8;
	*out = v;
	return 0;
}

int bc_blk_invalidate(struct bc_volume *v)
{
	struct blk_priv *p = bp(v);

	if (v->ops != &blk_ops && v->ops != &blk_loop_ops)
		return -EINVAL;
	/* BLKFLSBUF writes back and then drops the device's page cache */
	return ioctl(p->fd, BLKFLSBUF, 0) < 0 ? -errno : 0;
}

dev_t bc_blk_rdev(struct bc_volume *v)
{
	return bp(v)->rdev;
}

/* any device node no more specific backend took */
static bool blk_claims(const struct bc_open_req *r)
{
	return r->kind == BC_ADDR_SCSI || r->kind == BC_ADDR_NVME ||
	       r->kind == BC_ADDR_BLOCK;
}

static int blk_open_req(const struct bc_open_req *r, struct bc_volume **out,
			struct bc_error *e)
{
	return bc_blk_open(r->addr, r->flags, out, e);
}

const struct bc_backend bc_backend_block = {
	.name = "block",
	.claims = blk_claims,
	.open = blk_open_req,
};
