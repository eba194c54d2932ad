// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opening SCSI LUs for the table (src/backend/open.c), with the host locks
 * a destination holds.  An LU has more names than the kernel can hold
 * exclusively: iSCSI has no kernel device at all, and an LU reached over
 * SG_IO under one name may be written under another (a second path,
 * iSCSI).  So a destination takes a host lock (src/volume/lockset.h) per
 * name that identifies its LU, before anything is written.  Readers take
 * none: a probe or a copy from the LU is never refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backends.h"
#include "transport/iscsi/session.h"
#include "util/sysfs.h"
#include "volume/devid.h"
#include "volume/lockset.h"

static int lock_key_iscsi(char *buf, size_t len, const char *iqn, unsigned lun)
{
	size_t n = strlen(iqn), k = 0;

	/* "iscsi-" + name + "-lun" + 5 digits + NUL */
	if (len < n + 16)
		return -ENAMETOOLONG;
	k = (size_t)snprintf(buf, len, "iscsi-");
	for (size_t i = 0; i < n; i++) {
		char c = iqn[i];

		/* a target name never holds '/', but a file name must not */
		buf[k++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') :
			   c == '/' ? '_' : c;
	}
	k += (size_t)snprintf(buf + k, len - k, "-lun%u", lun);
	return (int)k;
}

/*
 * An iSCSI destination takes the lock of its target name and LUN,
 * whatever the portal, before logging in; then each designator that
 * names the LU uniquely (the same LU behind another target name, or
 * through SG_IO).
 */
static int open_iscsi(const struct bc_open_req *r, struct bc_volume **out,
		      struct bc_error *e)
{
	char key[BC_LOCK_KEY_MAX], why[256];
	struct bc_lockset locks;
	struct bc_iscsi_addr a;
	int rc;

	if (!(r->flags & BC_OPEN_WRITE) ||
	    bc_iscsi_parse_url(r->addr, &a, why, sizeof(why)) < 0)	/* it says why */
		return bc_scsi_volume_open(r->addr, r->flags, out, e);
	bc_lockset_init(&locks, r->shown);
	if (lock_key_iscsi(key, sizeof(key), a.iqn, a.lun) < 0)
		return bc_error_set(e, -ENAMETOOLONG, r->shown, "lock",
				    "target name too long");
	rc = bc_lockset_take(&locks, key, false, e);
	if (rc == 0)
		rc = bc_scsi_volume_open(r->addr, r->flags, out, e);
	if (rc == 0)
		rc = bc_lockset_take_designators(&locks, *out, false, e);
	return bc_lockset_settle(&locks, rc, out);
}

/* A refusal of the sd device behind a /dev/sgN node, told of the node. */
static void told_of_node(struct bc_error *e, const char *node, const char *disk)
{
	char d[200];

	snprintf(d, sizeof(d), "%.199s", e->detail);
	snprintf(e->detail, sizeof(e->detail), "%s%s(its disk device %s)", d,
		 d[0] ? " " : "", disk);
	snprintf(e->device, sizeof(e->device), "%s", node);
}

/*
 * An SG_IO destination is written through its block device, opened
 * O_EXCL (a mounted or claimed disk is refused), and takes the LU's
 * designator locks as an iSCSI destination does, so a writer of the same
 * LU through iSCSI or another path is refused too.  A /dev/sgN node is
 * resolved to the sd device the kernel made of it; one without an sd
 * device cannot be held and is refused as a destination.
 */
static int open_sg_dest(const struct bc_open_req *r, struct bc_volume **out,
			struct bc_error *e)
{
	struct bc_lockset locks;
	struct bc_stack stack;
	struct stat ds;
	dev_t rdev = r->st.st_rdev;
	const char *path = r->addr;
	char disk[80];
	int rc;

	if (S_ISCHR(r->st.st_mode)) {
		if (bc_devid_sg_block(r->st.st_rdev, &rdev, disk, sizeof(disk)) < 0)
			return bc_error_set(e, -ENODEV, r->addr, "open",
					    "no SCSI disk (sd) device belongs to this SCSI generic node, "
					    "so it cannot be opened exclusively: refused as a destination");
		if (stat(disk, &ds) < 0 || !S_ISBLK(ds.st_mode) || ds.st_rdev != rdev)
			return bc_error_set(e, -ENODEV, r->addr, "open",
					    "its disk device %s is missing or is another device: "
					    "refused as a destination", disk);
		path = disk;
	}
	if (bc_stack_resolve(rdev, &stack, e) < 0)
		return e->err;
	rc = bc_scsi_sg_volume_open(path, r->flags, &stack, out, e);
	if (rc < 0) {
		if (path != r->addr)
			told_of_node(e, r->addr, disk);
		return rc;
	}
	snprintf((*out)->name, sizeof((*out)->name), "%s", r->addr);
	bc_lockset_init(&locks, r->addr);
	rc = bc_lockset_take_designators(&locks, *out, stack.depth > 0, e);
	return bc_lockset_settle(&locks, rc, out);
}

static bool is_device(const struct bc_open_req *r)
{
	return r->kind == BC_ADDR_SCSI || r->kind == BC_ADDR_NVME ||
	       r->kind == BC_ADDR_BLOCK;
}

/* Is the block device @rdev a SCSI disk (an LU with an H:C:T:L)? */
static bool is_scsi_disk(dev_t rdev)
{
	unsigned h, c, t;
	uint64_t l;

	return bc_sysfs_scsi_address(true, rdev, &h, &c, &t, &l) == 0;
}

/* a SCSI disk, its /dev/sgN node, a window onto one, or a dm-multipath
 * map whose paths are SCSI disks naming one LU (or a window onto it) */
static bool sg_claims(const struct bc_open_req *r)
{
	return is_device(r) && (S_ISCHR(r->st.st_mode) ||
				(r->stacked && (is_scsi_disk(r->stack.bottom_rdev) ||
						r->stack.multipath_ok)));
}

/* SG_IO (EXTENDED COPY, GET LBA STATUS, WRITE SAME) to a SCSI disk, a
 * /dev/sgN node, or a window onto a SCSI disk */
static int sg_open(const struct bc_open_req *r, struct bc_volume **out,
		   struct bc_error *e)
{
	if (r->flags & BC_OPEN_WRITE)
		return open_sg_dest(r, out, e);
	return bc_scsi_sg_volume_open(r->addr, r->flags,
				      S_ISCHR(r->st.st_mode) ? NULL : &r->stack,
				      out, e);
}

static bool iscsi_claims(const struct bc_open_req *r)
{
	return r->kind == BC_ADDR_ISCSI;
}

const struct bc_backend bc_backend_iscsi = {
	.name = "iscsi",
	.claims = iscsi_claims,
	.open = open_iscsi,
};

const struct bc_backend bc_backend_sg = {
	.name = "sg",
	.claims = sg_claims,
	.open = sg_open,
};
