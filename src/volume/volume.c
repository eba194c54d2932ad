// SPDX-License-Identifier: LGPL-2.1-or-later
/* Opening volumes: classify the address, hand it to its backend. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <blkclone/volume.h>

#include "volume/address.h"
#include "backend/backends.h"
#include "volume/devid.h"
#include "transport/iscsi/session.h"
#include "volume/lock.h"
#include "volume/stack.h"
#include "util/sysfs.h"

const char *bc_method_name(enum bc_method m)
{
	switch (m) {
	case BC_METHOD_XCOPY_LID1: return "xcopy-lid1";
	case BC_METHOD_TOKEN: return "token";
	case BC_METHOD_NVME_COPY: return "nvme-copy";
	case BC_METHOD_REFLINK: return "reflink";
	case BC_METHOD_HOST: return "host";
	case BC_METHOD_NONE: break;
	}
	return "none";
}

struct bc_volume *bc_volume_alloc(const struct bc_volume_ops *ops,
				  const char *name, size_t priv_size)
{
	struct bc_volume *v = calloc(1, sizeof(*v) + priv_size);

	if (!v)
		return NULL;
	v->ops = ops;
	snprintf(v->name, sizeof(v->name), "%s", name);
	if (priv_size)
		v->priv = (char *)v + sizeof(*v);
	return v;
}

void bc_volume_free(struct bc_volume *v)
{
	free(v);
}

void bc_feature_set(struct bc_feature *f, enum bc_support s, const char *fmt, ...)
{
	va_list ap;

	f->state = s;
	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
}

/* Is the block device @rdev a SCSI disk (an LU with an H:C:T:L)? */
static bool is_scsi_disk(dev_t rdev)
{
	unsigned h, c, t;
	uint64_t l;

	return bc_sysfs_scsi_address(true, rdev, &h, &c, &t, &l) == 0;
}

#define LOCK_KEY_MAX 128

/* "pid N writing ADDR since TIME": what a lock's holder says about itself */
static void holder_note(char *buf, size_t len, const char *shown)
{
	char when[40];
	time_t now = time(NULL);
	struct tm tm;

	if (!localtime_r(&now, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof(when), "?");
	snprintf(buf, len, "pid %d writing %.300s since %s", (int)getpid(),
		 shown, when);
}

/*
 * The host locks of an LU a destination lies on: one per designator that
 * names the LU uniquely (src/volume/lock.h), so the LU is held however it is
 * reached -- another portal or target name over iSCSI, /dev/sdX, /dev/sgN,
 * another path.  A window (a partition, an LV) shares them with other
 * windows' writers and keeps out only a writer of the whole LU; the
 * windows themselves are kept apart by O_EXCL and the overlap check.
 * @keys (room for BC_MAX_DESIGNATORS + 1) holds the names already taken
 * into *@locks, *@nkeys of them: a second flock of one file would
 * conflict with our own first.
 */
static int lock_designators(struct bc_volume *v, const char *shown,
			    const char *holder, bool shared,
			    struct bc_lock **locks, char (*keys)[LOCK_KEY_MAX],
			    size_t *nkeys, struct bc_error *e)
{
	const struct bc_caps *c;
	int rc = bc_volume_caps(v, &c, e);

	for (size_t i = 0; rc == 0 && i < c->id.n_designators; i++) {
		char *k = keys[*nkeys];
		bool seen = false;

		if (bc_lock_key_designator(k, LOCK_KEY_MAX, &c->id.designators[i]) < 0)
			continue;
		for (size_t j = 0; j < *nkeys; j++)
			seen = seen || !strcmp(keys[j], k);
		if (seen)
			continue;
		(*nkeys)++;
		rc = bc_lock_take(locks, k, shared, shown, holder, e);
	}
	return rc;
}

/*
 * An SG_IO destination is written through its block device, opened
 * O_EXCL (a mounted or claimed disk is refused), and takes the LU's
 * designator locks as an iSCSI destination does, so a writer of the same
 * LU through iSCSI or another path is refused too.  A /dev/sgN node is
 * resolved to the sd device the kernel made of it; one without an sd
 * device cannot be held and is refused as a destination.
 */
static int open_sg_dest(const char *addr, const struct stat *st,
			unsigned flags, struct bc_volume **out,
			struct bc_error *e)
{
	char keys[BC_MAX_DESIGNATORS + 1][LOCK_KEY_MAX], holder[400];
	char disk[80];
	struct bc_lock *locks = NULL;
	struct bc_stack stack;
	struct stat ds;
	size_t nkeys = 0;
	dev_t rdev = st->st_rdev;
	const char *path = addr;
	int rc;

	if (S_ISCHR(st->st_mode)) {
		if (bc_devid_sg_block(st->st_rdev, &rdev, disk, sizeof(disk)) < 0)
			return bc_error_set(e, -ENODEV, addr, "open",
					    "no SCSI disk (sd) device belongs to this SCSI generic node, "
					    "so it cannot be opened exclusively: refused as a destination");
		if (stat(disk, &ds) < 0 || !S_ISBLK(ds.st_mode) || ds.st_rdev != rdev)
			return bc_error_set(e, -ENODEV, addr, "open",
					    "its disk device %s is missing or is another device: "
					    "refused as a destination", disk);
		path = disk;
	}
	if (bc_stack_resolve(rdev, &stack, e) < 0)
		return e->err;
	rc = bc_scsi_sg_volume_open(path, flags, &stack, out, e);
	if (rc < 0) {
		if (path != addr) {	/* the sd device's refusal, told of the sg node */
			char d[200];

			snprintf(d, sizeof(d), "%.199s", e->detail);
			snprintf(e->detail, sizeof(e->detail), "%s%s(its disk device %s)",
				 d, d[0] ? " " : "", disk);
			snprintf(e->device, sizeof(e->device), "%s", addr);
		}
		return rc;
	}
	snprintf((*out)->name, sizeof((*out)->name), "%s", addr);
	holder_note(holder, sizeof(holder), addr);
	rc = lock_designators(*out, addr, holder, stack.depth > 0, &locks, keys,
			      &nkeys, e);
	if (rc < 0) {
		bc_lock_release(locks);
		bc_volume_close(*out);
		*out = NULL;
		return rc;
	}
	(*out)->lock = locks;
	return 0;
}

/*
 * Kernel block devices: a partition or dm-linear LV is followed down to
 * the device beneath.  A SCSI disk at the bottom makes a SCSI volume over
 * SG_IO (EXTENDED COPY, GET LBA STATUS, WRITE SAME), NVMe a namespace
 * volume, anything else a plain block volume.
 */
static int open_block(const char *addr, unsigned flags, struct bc_volume **out,
		      struct bc_error *e)
{
	struct bc_stack stack;
	struct stat st;

	if (stat(addr, &st) < 0)
		return bc_error_set(e, -errno, addr, "open", NULL);
	if (S_ISCHR(st.st_mode)) {	/* /dev/sgN */
		if (flags & BC_OPEN_WRITE)
			return open_sg_dest(addr, &st, flags, out, e);
		return bc_scsi_sg_volume_open(addr, flags, NULL, out, e);
	}
	if (S_ISBLK(st.st_mode) && bc_stack_resolve(st.st_rdev, &stack, NULL) == 0) {
		if (is_scsi_disk(stack.bottom_rdev))
			return flags & BC_OPEN_WRITE ?
			       open_sg_dest(addr, &st, flags, out, e) :
			       bc_scsi_sg_volume_open(addr, flags, &stack, out, e);
		if (!strncmp(stack.bottom, "/dev/nvme", 9))
			return bc_nvme_volume_open(addr, flags, &stack, out, e);
	}
	return bc_blk_open(addr, flags, out, e);
}

/*
 * An iSCSI LU has no kernel device to open exclusively, so a destination
 * takes a host lock (src/volume/lock.h) per name the LU goes by: its target name
 * and LUN, whatever the portal, before logging in; then each designator
 * that names it uniquely (the same LU behind another target name, or
 * through SG_IO), before anything is written.  Readers take none: a probe
 * or a copy from the LU is never refused.
 */
static int open_iscsi(const char *addr, const char *shown, unsigned flags,
		      struct bc_volume **out, struct bc_error *e)
{
	char keys[BC_MAX_DESIGNATORS + 1][LOCK_KEY_MAX], holder[400], why[256];
	struct bc_lock *locks = NULL;
	struct bc_iscsi_addr a;
	size_t nkeys = 0;
	int rc;

	if (!(flags & BC_OPEN_WRITE) ||
	    bc_iscsi_parse_url(addr, &a, why, sizeof(why)) < 0)	/* it says why */
		return bc_scsi_volume_open(addr, flags, out, e);
	holder_note(holder, sizeof(holder), shown);
	if (bc_lock_key_iscsi(keys[0], sizeof(keys[0]), a.iqn, a.lun) < 0)
		return bc_error_set(e, -ENAMETOOLONG, shown, "lock", "target name too long");
	nkeys = 1;
	rc = bc_lock_take(&locks, keys[0], false, shown, holder, e);
	if (rc < 0)
		return rc;
	rc = bc_scsi_volume_open(addr, flags, out, e);
	if (rc == 0)
		rc = lock_designators(*out, shown, holder, false, &locks, keys,
				      &nkeys, e);
	if (rc < 0) {
		bc_lock_release(locks);
		bc_volume_close(*out);
		*out = NULL;
		return rc;
	}
	(*out)->lock = locks;
	return 0;
}

unsigned bc_volume_create_mode(const struct bc_volume *src)
{
	return src && src->has_mode ? (src->mode & 0600) : 0600;
}

int bc_volume_open(const char *addr, unsigned flags, struct bc_volume **out,
		   struct bc_error *e)
{
	/* an image holds a whole disk: its owner's, nobody else's to read */
	return bc_volume_open_mode(addr, flags, 0600, out, e);
}

int bc_volume_open_mode(const char *addr, unsigned flags, unsigned mode,
			struct bc_volume **out, struct bc_error *e)
{
	char why[256] = "";
	enum bc_addr_kind kind;
	int err = 0;

	char shown[320];

	*out = NULL;
	bc_addr_display(addr, shown, sizeof(shown));
	kind = bc_addr_classify(addr, why, sizeof(why));
	if (kind == BC_ADDR_INVALID)
		return bc_error_set(e, -EINVAL, shown, "open", "%s", why);
	if (kind == BC_ADDR_FILE) {
		kind = bc_addr_resolve(addr, !!(flags & BC_OPEN_CREATE), &err,
				       why, sizeof(why));
		if (kind == BC_ADDR_INVALID)
			return bc_error_set(e, err ? err : -EINVAL, addr,
					    "open", "%s", why);
	}
	switch (kind) {
	case BC_ADDR_FILE:
		return bc_file_open(addr, flags, mode, out, e);
	case BC_ADDR_ISCSI:
		return open_iscsi(addr, shown, flags, out, e);
	case BC_ADDR_SCSI:
	case BC_ADDR_NVME:
	case BC_ADDR_BLOCK:
		return open_block(addr, flags, out, e);
	case BC_ADDR_INVALID:
		break;
	}
	return bc_error_set(e, -EINVAL, addr, "open", "unsupported address");
}

void bc_volume_close(struct bc_volume *v)
{
	if (!v)
		return;
	if (v->ops->close)
		v->ops->close(v);
	bc_lock_release(v->lock);	/* only once the LU is let go */
	bc_volume_free(v);
}

int bc_volume_caps(struct bc_volume *v, const struct bc_caps **caps,
		   struct bc_error *e)
{
	int rc;

	if (!v->caps_valid) {
		memset(&v->caps, 0, sizeof(v->caps));
		rc = v->ops->probe(v, &v->caps, e);
		if (rc < 0)
			return rc;
		v->caps_valid = true;
	}
	*caps = &v->caps;
	return 0;
}

int bc_volume_drop_cache(struct bc_volume *v, struct bc_error *e)
{
	return v->ops->drop_cache ? v->ops->drop_cache(v, e) : 0;
}

int bc_volume_set_size(struct bc_volume *v, uint64_t size, struct bc_error *e)
{
	if (!v->ops->resize)
		return bc_error_set(e, -EOPNOTSUPP, v->name, "resize",
				    "only files can be resized");
	return v->ops->resize(v, size, e);
}

int bc_volume_unlink_created(struct bc_volume *v)
{
	if (!v->created || !v->ops->unlink_created)
		return -EINVAL;
	return v->ops->unlink_created(v);
}
