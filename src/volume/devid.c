// SPDX-License-Identifier: LGPL-2.1-or-later
/* The unit beneath a kernel block device (see devid.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "volume/devid.h"
#include "volume/identity.h"
#include "scsi/lu.h"
#include "volume/stack.h"
#include "util/sysfs.h"

/* "MAJ:MIN" in a sysfs dev file. */
static int read_dev(const char *path, dev_t *out)
{
	char buf[32];
	unsigned ma, mi;

	if (bc_sysfs_read_path(path, buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%u:%u", &ma, &mi) != 2)
		return -ENODEV;
	*out = makedev(ma, mi);
	return 0;
}

/*
 * A loop device's backing file, as the loop driver holds it (its device
 * and inode, not the path sysfs shows, which may name a file since
 * replaced), and the loop's offset into it.
 */
static int loop_backing(const char *kname, dev_t rdev, dev_t *fdev,
			uint64_t *ino, uint64_t *offset)
{
	struct loop_info64 li;
	struct stat st;
	char path[96];
	int fd;

	if (strncmp(kname, "loop", 4))
		return -ENOENT;
	snprintf(path, sizeof(path), "/dev/%s", kname);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memset(&li, 0, sizeof(li));
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) || st.st_rdev != rdev ||
	    ioctl(fd, LOOP_GET_STATUS64, &li) < 0) {
		close(fd);
		return -ENOENT;
	}
	close(fd);
	*fdev = (dev_t)li.lo_device;
	*ino = li.lo_inode;
	*offset = li.lo_offset;
	return 0;
}

/*
 * The paths of dm-multipath device @rdev: each path's SCSI address and
 * the unique designators in the VPD page 0x83 the kernel read when it
 * found the LU (/sys/.../device/vpd_pg83).  Returns the number of
 * designator keys added.
 */
static size_t multipath_paths(dev_t rdev, struct bc_identity *id)
{
	char dir[96], path[PATH_MAX];
	struct dirent *de;
	size_t strong = 0;
	bool listed = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u/slaves", major(rdev),
		 minor(rdev));
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned h, c, t;
		uint64_t l;
		dev_t pdev;
		uint8_t *vpd;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/dev", dir, de->d_name);
		if (read_dev(path, &pdev) < 0)
			continue;
		bc_identity_add_key(id, "dev:%u:%u", major(pdev), minor(pdev));
		if (bc_sysfs_scsi_address(true, pdev, &h, &c, &t, &l) < 0)
			continue;
		bc_identity_add_key(id, "scsi:%u:%u:%u:%" PRIu64, h, c, t, l);
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/device/vpd_pg83",
			 major(pdev), minor(pdev));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		vpd = fd >= 0 ? malloc(4096) : NULL;
		if (vpd) {
			ssize_t n = read(fd, vpd, 4096);
			struct bc_designator ds[BC_MAX_DESIGNATORS];
			size_t nd = 0;

			if (n > 0 && bc_lu_parse_designators(vpd, (size_t)n, ds,
							     BC_MAX_DESIGNATORS, &nd) == 0) {
				for (size_t i = 0; i < nd; i++) {
					char key[BC_UNIT_KEY_MAX];

					/* the first path's list is shown as the LU's */
					if (!listed && id->n_designators < BC_MAX_DESIGNATORS)
						id->designators[id->n_designators++] = ds[i];
					if (bc_identity_designator_key(key, sizeof(key), &ds[i]) >= 0 &&
					    bc_identity_add_key(id, "%s", key) == 0)
						strong++;
				}
				listed = listed || nd;
			}
			free(vpd);
		}
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	return strong;
}

/* The paths and the stop reason of stack @s into @id. */
static void stack_info(const struct bc_stack *s, struct bc_identity *id)
{
	id->multipath[0] = '\0';
	id->n_paths = 0;
	snprintf(id->stack_stopped, sizeof(id->stack_stopped), "%s",
		 s->why_stopped);
	if (!s->multipath)
		return;
	snprintf(id->multipath, sizeof(id->multipath), "%.31s",
		 strncmp(s->bottom, "/dev/", 5) ? s->bottom : s->bottom + 5);
	for (size_t i = 0; i < s->n_paths && i < BC_MAX_PATHS; i++) {
		const struct bc_stack_path *p = &s->paths[i];
		struct bc_path *o = &id->paths[id->n_paths++];

		memset(o, 0, sizeof(*o));
		snprintf(o->device, sizeof(o->device), "%s", p->name);
		snprintf(o->state, sizeof(o->state), "%s", p->state);
		snprintf(o->dm_state, sizeof(o->dm_state), "%s",
			 !p->has_dm_state ? "" : p->dm_active ? "active" : "failed");
		o->fail_count = p->fail_count;
		o->group = p->group;
		o->usable = p->usable;
		snprintf(o->designator, sizeof(o->designator), "%s", p->designator);
	}
}

void bc_devid_stack_info(dev_t rdev, struct bc_identity *id)
{
	struct bc_stack *s = malloc(sizeof(*s));

	id->multipath[0] = id->stack_stopped[0] = '\0';
	id->n_paths = 0;
	if (s && bc_stack_resolve(rdev, s, NULL) == 0)
		stack_info(s, id);
	free(s);
}

void bc_devid_block(dev_t rdev, struct bc_identity *id)
{
	struct bc_stack s;
	dev_t fdev = 0;
	uint64_t ino = 0, off = 0;
	char kname[64];

	id->n_unit_keys = 0;
	id->unit_weak = false;
	if (bc_stack_resolve(rdev, &s, NULL) < 0) {
		memset(&s, 0, sizeof(s));
		s.bottom_rdev = rdev;
	}
	id->lu_offset = s.offset;
	/* an LV of several segments: each a window on the unit, for the
	 * overlap check (a loop device's offset is added below) */
	id->n_lu_windows = 0;
	if (s.n_segs > 1 && s.n_segs <= BC_MAX_LU_WINDOWS) {
		for (size_t i = 0; i < s.n_segs; i++)
			id->lu_windows[i] = (struct bc_lu_window){ s.segs[i].offset,
								   s.segs[i].length };
		id->n_lu_windows = s.n_segs;
	}
	if (s.depth || s.multipath)
		snprintf(id->stack, sizeof(id->stack), "%s", s.layers);
	stack_info(&s, id);
	bc_sysfs_kname(s.bottom_rdev, kname, sizeof(kname));
	if (loop_backing(kname, s.bottom_rdev, &fdev, &ino, &off) == 0) {
		/* the same form as a file's own key: a file and a loop
		 * device over it are one unit */
		snprintf(id->unit, sizeof(id->unit), "file");
		bc_identity_add_key(id, "file:%u:%u:%" PRIu64, major(fdev),
				    minor(fdev), ino);
		id->lu_offset += off;
		for (size_t i = 0; i < id->n_lu_windows; i++)
			id->lu_windows[i].offset += off;
		bc_identity_add_key(id, "dev:%u:%u", major(s.bottom_rdev),
				    minor(s.bottom_rdev));
		bc_identity_describe(id, NULL);
	} else if (!strcmp(s.bottom_dm_target, "multipath")) {
		size_t strong;

		snprintf(id->unit, sizeof(id->unit), "LU");
		bc_identity_add_key(id, "dev:%u:%u", major(s.bottom_rdev),
				    minor(s.bottom_rdev));
		strong = multipath_paths(s.bottom_rdev, id);
		id->unit_weak = !strong;
		bc_identity_describe(id,
			"its paths report no unique designator (VPD 0x83 in sysfs), so the LU "
			"is not recognised through a device that is not one of these paths");
	} else {
		snprintf(id->unit, sizeof(id->unit), "device");
		bc_identity_add_key(id, "dev:%u:%u", major(s.bottom_rdev),
				    minor(s.bottom_rdev));
		bc_identity_describe(id, NULL);
	}
	snprintf(id->lu_location, sizeof(id->lu_location), "%s",
		 id->n_unit_keys ? id->unit_keys[0] : "");
}

int bc_devid_sg_block(dev_t chr, dev_t *blk, char *path, size_t len)
{
	char dir[96], p[PATH_MAX];
	struct dirent *de;
	int rc = -ENODEV;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/dev/char/%u:%u/device/block",
		 major(chr), minor(chr));
	d = opendir(dir);
	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/dev", dir, de->d_name);
		if (read_dev(p, blk) == 0) {
			snprintf(path, len, "/dev/%s", de->d_name);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}
