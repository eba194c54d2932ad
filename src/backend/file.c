// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Regular files (raw images).  The allocation map comes from
 * SEEK_DATA/SEEK_HOLE; holes always read as zeros, and punching a hole is
 * both the cheapest and the thinnest way to zero a range.  In-filesystem
 * offload is FICLONERANGE (reflink) when source and destination share a
 * filesystem that supports it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backends.h"
#include "util/fdio.h"
#include "util/reflink.h"
#include "volume/identity.h"

/* Files have no block size of their own; 512 keeps LBAs in messages
 * comparable with disks. */
#define FILE_BLOCK 512

struct file_priv {
	int fd;
	dev_t dev;
	ino_t ino;
	long fs_type;
	char path[4096];
};

static struct file_priv *fp(struct bc_volume *v)
{
	return v->priv;
}

static const char *fs_name(long type, int *reflink)
{
	*reflink = 0;
	switch (type) {
	case BTRFS_SUPER_MAGIC: *reflink = 1; return "btrfs";
	case XFS_SUPER_MAGIC: *reflink = 2; return "xfs";
	case EXT4_SUPER_MAGIC: return "ext2/3/4";
	case TMPFS_MAGIC: return "tmpfs";
	case NFS_SUPER_MAGIC: *reflink = 2; return "nfs";
	case 0x65735546: *reflink = 2; return "fuse";
	case 0x7461636f: *reflink = 1; return "ocfs2";
	case 0xca451a4e: *reflink = 1; return "bcachefs";
	}
	return "unknown";
}

static int file_probe(struct bc_volume *v, struct bc_caps *c,
		      struct bc_error *e)
{
	struct file_priv *p = fp(v);
	const char *fs;
	int reflink;

	snprintf(c->id.backend, sizeof(c->id.backend), "file");
	snprintf(c->id.location, sizeof(c->id.location),
		 "file:%u:%u:%" PRIu64, major(p->dev), minor(p->dev),
		 (uint64_t)p->ino);
	/* a file is its own "LU" (whole, from byte 0): loop devices over
	 * it name it the same way, so overlaps with them are refused */
	snprintf(c->id.lu_location, sizeof(c->id.lu_location), "%s",
		 c->id.location);
	c->id.lu_offset = 0;
	snprintf(c->id.unit, sizeof(c->id.unit), "file");
	bc_identity_add_key(&c->id, "%s", c->id.location);
	bc_identity_describe(&c->id, NULL);
	snprintf(c->id.copy_domain, sizeof(c->id.copy_domain),
		 "fs:%u:%u", major(p->dev), minor(p->dev));
	c->size = v->size;
	c->block_size = v->block_size;
	c->physical_block_size = 4096;
	c->read_only = access(p->path, W_OK) != 0;
	c->any_length = true;

	fs = fs_name(p->fs_type, &reflink);
	/* XFS says in its geometry whether it was made with reflink: a yes
	 * is known without a clone (and so a point in time fixed at start,
	 * plan.c); a no stays for the pair's own check, which says why */
	if (p->fs_type == XFS_SUPER_MAGIC) {
		char why[160];

		if (bc_reflink_fs(p->fd, why, sizeof(why)) == BC_REFLINK_YES)
			reflink = 1;
	}
	c->reflink.state = reflink == 1 ? BC_SUP_YES :
			   reflink == 2 ? BC_SUP_UNKNOWN : BC_SUP_NO;
	snprintf(c->reflink.reason, sizeof(c->reflink.reason),
		 reflink == 1 ? "%s supports FICLONERANGE" :
		 reflink == 2 ? "%s may support FICLONERANGE (tried on copy)" :
				"%s has no reflink", fs);

	c->extent_map.state = BC_SUP_YES;
	c->map_source = BC_MAP_SEEK_HOLE;
	snprintf(c->extent_map.reason, sizeof(c->extent_map.reason),
		 "SEEK_DATA/SEEK_HOLE on %s", fs);
	c->zero_init.state = BC_SUP_YES;
	snprintf(c->zero_init.reason, sizeof(c->zero_init.reason),
		 "holes in a file always read as zeros");
	c->provisioning = BC_PROV_THIN;
	c->unmap.state = BC_SUP_YES;
	snprintf(c->unmap.reason, sizeof(c->unmap.reason),
		 "fallocate(PUNCH_HOLE) where %s supports it", fs);
	c->zeroout.state = BC_SUP_YES;
	snprintf(c->zeroout.reason, sizeof(c->zeroout.reason),
		 "fallocate(PUNCH_HOLE), else written zeros");
	c->write_same.state = BC_SUP_NO;
	snprintf(c->write_same.reason, sizeof(c->write_same.reason),
		 "not a SCSI device");
	(void)e;
	return 0;
}

static int file_read(struct bc_volume *v, void *buf, uint64_t off,
		     size_t len, struct bc_error *e)
{
	return bc_fd_read_full(fp(v)->fd, buf, len, off, v->name,
			       v->block_size, e);
}

static int file_write(struct bc_volume *v, const void *buf, uint64_t off,
		      size_t len, struct bc_error *e)
{
	return bc_fd_write_full(fp(v)->fd, buf, len, off, v->name,
				v->block_size, e);
}

static int file_map(struct bc_volume *v, uint64_t off, uint64_t len,
		    struct bc_extent *out, size_t max, size_t *n,
		    struct bc_error *e)
{
	uint64_t end = off + len > v->size ? v->size : off + len;

	return bc_fd_seek_map(fp(v)->fd, 0, off, end, 1, out, max, n, v->name,
			      v->block_size, e);
}

static int file_punch(struct bc_volume *v, uint64_t off, uint64_t len,
		      struct bc_error *e)
{
	if (fallocate(fp(v)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0) {
		int err = -errno;

		if (err == -EOPNOTSUPP || err == -ENOSYS)
			return -EOPNOTSUPP;
		return bc_error_set_lba(e, err, v->name,
					"fallocate(PUNCH_HOLE)",
					off / v->block_size, v->block_size,
					NULL);
	}
	return 0;
}

static int file_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		     unsigned flags, struct bc_error *e)
{
	int rc;

	/* Beyond EOF there is nothing to zero: a file reads zeros there
	 * (and growing it is resize's job). */
	if (off >= v->size)
		return 0;
	if (off + len > v->size)
		len = v->size - off;
	if (flags & BC_ZERO_MAY_UNMAP) {
		rc = file_punch(v, off, len, e);
		if (rc != -EOPNOTSUPP)
			return rc;
	}
	if (fallocate(fp(v)->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	return bc_fd_write_zeros(fp(v)->fd, off, len, false, v->name,
				 v->block_size, e);
}

static int file_discard(struct bc_volume *v, uint64_t off, uint64_t len,
			struct bc_error *e)
{
	return file_punch(v, off, len, e);
}

static int file_flush(struct bc_volume *v, struct bc_error *e)
{
	if (fdatasync(fp(v)->fd) < 0)
		return bc_error_set(e, -errno, v->name, "fdatasync", NULL);
	return 0;
}

/*
 * The OS said why a clone did not happen; status.cat tells the offload
 * walker whether the destination may have been written (offload.c).
 */
static int clone_error(struct bc_error *e, int err, struct bc_volume *dst,
		       uint64_t off, bool refused, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int clone_error(struct bc_error *e, int err, struct bc_volume *dst,
		       uint64_t off, bool refused, const char *fmt, ...)
{
	char detail[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	bc_error_set_lba(e, err, dst->name, "FICLONERANGE", off / dst->block_size,
			 dst->block_size, "%s", detail);
	memset(&e->status, 0, sizeof(e->status));
	e->status.cat = refused ? BC_CAT_NOT_SUPPORTED : BC_CAT_OTHER;
	return err;
}

static int file_drop_cache(struct bc_volume *v, struct bc_error *e)
{
	int err;

	if (fdatasync(fp(v)->fd) < 0)
		return bc_error_set(e, -errno, v->name, "fdatasync", NULL);
	err = posix_fadvise(fp(v)->fd, 0, 0, POSIX_FADV_DONTNEED);
	return err ? bc_error_set(e, -err, v->name, "posix_fadvise(DONTNEED)", NULL) : 0;
}

static int file_offload_copy(struct bc_volume *src, uint64_t src_off,
			     struct bc_volume *dst, uint64_t dst_off,
			     uint64_t len, enum bc_method method,
			     const struct bc_stop *stop,
			     uint64_t *done, struct bc_error *e)
{
	char why[300];
	bool untouched;
	int rc;

	*done = 0;
	if (method != BC_METHOD_REFLINK || src->ops != dst->ops)
		return bc_error_set(e, -EOPNOTSUPP, dst->name, "offload copy",
				    "files only offload with reflink");
	if (!len) {
		/* Asked to accept the pair without writing: the filesystem
		 * can say no; only a clone can say yes. */
		switch (bc_reflink_pair(fp(src)->fd, src->size, fp(dst)->fd,
					dst->size, why, sizeof(why))) {
		case BC_REFLINK_NO:
			bc_error_set(e, -EOPNOTSUPP, dst->name, "reflink",
				     "from %s: %s", src->name, why);
			e->status.cat = BC_CAT_NOT_SUPPORTED;	/* refused */
			return -EOPNOTSUPP;
		case BC_REFLINK_MAYBE:
		case BC_REFLINK_YES:
			break;
		}
		return bc_error_set(e, -EOPNOTSUPP, dst->name, "reflink",
				    "%s: the first clone decides", why);
	}
	if (src_off != dst_off)
		return bc_error_set(e, -EINVAL, dst->name, "FICLONERANGE",
				    "source and destination ranges differ");
	rc = bc_reflink_range(fp(src)->fd, fp(dst)->fd, src_off, len,
			      &untouched);
	if (rc == 0) {
		*done = len;	/* exactly what the kernel cloned */
		return 0;
	}
	/* A refusal only when it came before anything was remapped: the
	 * kernel may return EINVAL after a short remap. */
	if (untouched && (rc == -EXDEV || rc == -EOPNOTSUPP || rc == -EINVAL))
		return clone_error(e, rc, dst, dst_off, true,
				   "from %s, %" PRIu64 " bytes: refused; the destination's extents are unchanged",
				   src->name, len);
	return clone_error(e, rc, dst, dst_off, false,
			   untouched ? "from %s, %" PRIu64 " bytes" :
			   "from %s, %" PRIu64 " bytes: the destination may be partly cloned",
			   src->name, len);
}


static int file_resize(struct bc_volume *v, uint64_t size, struct bc_error *e)
{
	if (ftruncate(fp(v)->fd, (off_t)size) < 0)
		return bc_error_set(e, -errno, v->name, "ftruncate", NULL);
	v->size = size;
	return 0;
}

/*
 * A reflink's point in time (bc_volume_ops.capture): every data extent of
 * the source is cloned onto the destination now, so the destination
 * shares the source's blocks as they are at start and the filesystem
 * copies on the source's later writes; capture_copy then only confirms
 * what is already there.  This is the one capture that writes the
 * destination (the clone is the copy); what it keeps is the list of
 * cloned ranges, so a run is never told "done" for anything else.
 */
struct bc_capture {
	struct bc_volume *dst;
	size_t n;
	struct bc_extent *x;
};

static void file_capture_free(struct bc_capture *c)
{
	if (!c)
		return;
	free(c->x);
	free(c);
}

/*
 * A clone failed after others succeeded: the ranges cloned so far are
 * punched again, so no part of a point in time nobody will finish stays
 * behind (a file blkclone created reads zeros again); @how says whether
 * that worked.
 */
static void unclone(struct bc_volume *dst, const struct bc_extent *x,
		    size_t n, char *how, size_t len)
{
	struct bc_error pe = { 0 };

	for (size_t i = 0; i < n; i++)
		if (file_punch(dst, x[i].offset, x[i].length, &pe) < 0) {
			char what[200];

			bc_error_format(&pe, what, sizeof(what));
			snprintf(how, len, "punching the ranges cloned before failed too (%s): the destination holds part of the source",
				 what);
			return;
		}
	snprintf(how, len, "the %zu range%s cloned before %s punched again", n,
		 n == 1 ? "" : "s", n == 1 ? "was" : "were");
}

static int file_capture(struct bc_volume *src, struct bc_volume *dst,
			enum bc_method method, const struct bc_extent *x,
			size_t n, const struct bc_stop *stop,
			struct bc_capture **out, char *said, size_t said_len,
			struct bc_error *e)
{
	uint64_t size = dst->created && dst->size < src->size ? src->size : dst->size;
	uint64_t bytes = 0;
	struct bc_capture *c;
	char why[300];
	int rc;

	if (method != BC_METHOD_REFLINK || src->ops != dst->ops)
		return bc_error_set(e, -EOPNOTSUPP, dst->name, "start",
				    "files fix a point in time only with reflink");
	/* the filesystem's own "no" (another filesystem, no reflink, a
	 * partial last block): refused before anything is cloned */
	if (bc_reflink_pair(fp(src)->fd, src->size, fp(dst)->fd, size, why,
			    sizeof(why)) == BC_REFLINK_NO) {
		bc_error_set(e, -EOPNOTSUPP, dst->name, "reflink", "from %s: %s",
			     src->name, why);
		e->status.cat = BC_CAT_NOT_SUPPORTED;	/* refused */
		return -EOPNOTSUPP;
	}
	if (!(c = calloc(1, sizeof(*c))) ||
	    (n && !(c->x = calloc(n, sizeof(*c->x))))) {
		file_capture_free(c);
		return bc_error_set(e, -ENOMEM, dst->name, "start", NULL);
	}
	c->dst = dst;
	/* a file this copy created takes the source's length first, as the
	 * run would: a partial last block is cloned only to both ends */
	if (size != dst->size && (rc = file_resize(dst, size, e)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		bool untouched = false;
		char how[300];

		if (stop->cancel && *stop->cancel) {
			unclone(dst, c->x, c->n, how, sizeof(how));
			rc = bc_error_set_lba(e, -EINTR, dst->name, "FICLONERANGE",
					      x[i].offset / dst->block_size,
					      dst->block_size, "interrupted; %s", how);
			goto fail;
		}
		rc = bc_reflink_range(fp(src)->fd, fp(dst)->fd, x[i].offset,
				      x[i].length, &untouched);
		if (rc == 0) {
			c->x[c->n++] = x[i];
			bytes += x[i].length;
			continue;
		}
		/* refused before anything was cloned: as the run's refusal */
		if (!c->n && untouched &&
		    (rc == -EXDEV || rc == -EOPNOTSUPP || rc == -EINVAL)) {
			clone_error(e, rc, dst, x[i].offset, true,
				    "from %s, %" PRIu64 " bytes: refused; the destination's extents are unchanged",
				    src->name, x[i].length);
			goto fail;
		}
		/* part of the point in time is on the destination: that is
		 * written, not refused (no quiet fallback, see clone.c) */
		c->x[c->n++] = x[i];
		unclone(dst, c->x, c->n, how, sizeof(how));
		clone_error(e, rc, dst, x[i].offset, false,
			    "from %s, %" PRIu64 " bytes, extent %zu of %zu at start: %s",
			    src->name, x[i].length, i + 1, n, how);
		goto fail;
	}
	snprintf(said, said_len,
		 "FICLONERANGE of %zu data extent%s (%" PRIu64 " bytes) of %s, the destination now shares their blocks",
		 c->n, c->n == 1 ? "" : "s", bytes, src->name);
	*out = c;
	return 0;
fail:
	file_capture_free(c);
	return rc;
}

/* What file_capture cloned is there already: done, for ranges it cloned. */
static int file_capture_copy(struct bc_capture *c, struct bc_volume *src,
			     uint64_t src_off, struct bc_volume *dst,
			     uint64_t dst_off, uint64_t len,
			     const struct bc_stop *stop, uint64_t *done,
			     struct bc_error *e)
{
	(void)stop;
	*done = 0;
	if (dst != c->dst || src_off != dst_off)
		return bc_error_set(e, -EINVAL, dst->name, "FICLONERANGE",
				    "the point in time was fixed for another range");
	for (size_t i = 0; i < c->n; i++)
		if (src_off >= c->x[i].offset &&
		    src_off + len <= c->x[i].offset + c->x[i].length) {
			*done = len;
			return 0;
		}
	return bc_error_set_lba(e, -EINVAL, dst->name, "FICLONERANGE",
				src_off / src->block_size, src->block_size,
				"the range was not cloned at start");
}

static int file_unlink_created(struct bc_volume *v)
{
	struct stat st;

	/* Only remove what is still the file we made. */
	if (stat(fp(v)->path, &st) < 0 || st.st_ino != fp(v)->ino ||
	    st.st_dev != fp(v)->dev)
		return -ESTALE;
	return unlink(fp(v)->path) < 0 ? -errno : 0;
}

static void file_close(struct bc_volume *v)
{
	if (fp(v)->fd >= 0)
		close(fp(v)->fd);
}

static const struct bc_volume_ops file_ops = {
	.name = "file",
	.methods = BC_METHOD_BIT(BC_METHOD_REFLINK),
	.probe = file_probe,
	.read = file_read,
	.write = file_write,
	.map = file_map,
	.zero = file_zero,
	.discard = file_discard,
	.flush = file_flush,
	.drop_cache = file_drop_cache,
	.offload_copy = file_offload_copy,
	.capture = file_capture,
	.capture_copy = file_capture_copy,
	.capture_free = file_capture_free,
	.resize = file_resize,
	.unlink_created = file_unlink_created,
	.close = file_close,
};

int bc_file_open(const char *path, unsigned flags, unsigned mode,
		 struct bc_volume **out, struct bc_error *e)
{
	struct bc_volume *v;
	struct file_priv *p;
	struct statfs sfs;
	struct stat st;
	bool created = false;
	int fd;

	if (flags & BC_OPEN_WRITE) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && (flags & BC_OPEN_CREATE)) {
			/* the mode is set as the file appears: never a
			 * moment where others may open it */
			fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
				  (mode_t)(mode & 0777));
			created = fd >= 0;
		}
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return bc_error_set(e, -errno, path, "open", NULL);
	/* A documented, advisory lock: one writer, or any number of
	 * readers, per image file among cooperating tools (qemu uses
	 * OFD locks on other bytes; flock does not conflict with them). */
	if (flock(fd, ((flags & BC_OPEN_WRITE) ? LOCK_EX : LOCK_SH) |
		      LOCK_NB) < 0) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return bc_error_set(e, err, path, "flock",
				    "in use by another blkclone");
	}
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		int err = -errno;

		close(fd);
		return bc_error_set(e, err, path, "fstat", NULL);
	}
	v = bc_volume_alloc(&file_ops, path, sizeof(*p));
	if (!v) {
		close(fd);
		return bc_error_set(e, -ENOMEM, path, "open", NULL);
	}
	p = v->priv;
	p->fd = fd;
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	p->fs_type = (long)sfs.f_type;
	snprintf(p->path, sizeof(p->path), "%s", path);
	v->size = (uint64_t)st.st_size;
	v->block_size = FILE_BLOCK;
	v->writable = !!(flags & BC_OPEN_WRITE);
	v->io_threads = 4;	/* pread/pwrite on one fd are thread-safe */
	v->created = created;
	v->has_mode = true;
	v->mode = st.st_mode & 07777;
	*out = v;
	return 0;
}

static bool file_claims(const struct bc_open_req *r)
{
	return r->kind == BC_ADDR_FILE;
}

static int file_open(const struct bc_open_req *r, struct bc_volume **out,
		     struct bc_error *e)
{
	return bc_file_open(r->addr, r->flags, r->mode, out, e);
}

const struct bc_backend bc_backend_file = {
	.name = "file",
	.claims = file_claims,
	.open = file_open,
};
