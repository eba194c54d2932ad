// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Resolve partitions and dm-linear volumes to the device beneath and an
 * offset (see stack.h).  Partitions come from sysfs ("partition",
 * "start", the parent directory); device-mapper tables from the
 * DM_TABLE_STATUS ioctl, parsed with every length checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "volume/stack.h"
#include "util/sysfs.h"

/* One attribute of exactly this device (no fallback to the parent). */
static int read_attr(const char *dir, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	return bc_sysfs_read_path(path, buf, len);
}

static int read_u64(const char *dir, const char *attr, uint64_t *out)
{
	char buf[64], *end;
	int rc = read_attr(dir, attr, buf, sizeof(buf));

	if (rc < 0)
		return rc;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

int bc_stack_parse_linear(const char *params, unsigned *maj, unsigned *min,
			  uint64_t *sector)
{
	unsigned long long s;
	char tail;

	if (!params)
		return -EINVAL;
	/* the kernel prints the device as MAJ:MIN, the offset in sectors */
	if (sscanf(params, "%u:%u %llu %c", maj, min, &s, &tail) != 3)
		return -EINVAL;
	*sector = s;
	return 0;
}

/* The one linear target of dm device @rdev, or why there is none. */
static int dm_linear(dev_t rdev, unsigned *maj, unsigned *min,
		     uint64_t *sector, uint64_t *sectors, char *why, size_t wlen,
		     char *type, size_t tlen)
{
	union {
		struct dm_ioctl io;
		char raw[16384];
	} *b;
	struct dm_target_spec *ts;
	size_t start;
	int fd, rc = -EINVAL;

	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wlen, "cannot open /dev/mapper/control: %s",
			 strerror(errno));
		return -errno;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	b->io.version[0] = DM_VERSION_MAJOR;
	b->io.data_size = sizeof(*b);
	b->io.data_start = sizeof(struct dm_ioctl);
	b->io.dev = makedev(major(rdev), minor(rdev));
	b->io.flags = DM_STATUS_TABLE_FLAG;
	if (ioctl(fd, DM_TABLE_STATUS, &b->io) < 0) {
		rc = -errno;
		snprintf(why, wlen, "DM_TABLE_STATUS: %s", strerror(errno));
		goto out;
	}
	if (b->io.flags & DM_BUFFER_FULL_FLAG) {
		snprintf(why, wlen, "device-mapper table too large");
		goto out;
	}
	if (b->io.target_count != 1) {
		snprintf(why, wlen, "device-mapper table has %u targets (one linear target needed)",
			 b->io.target_count);
		rc = -EOPNOTSUPP;
		goto out;
	}
	start = b->io.data_start;
	if (start > sizeof(*b) || sizeof(*b) - start < sizeof(*ts) + 1 ||
	    b->io.data_size > sizeof(*b)) {
		snprintf(why, wlen, "malformed device-mapper reply");
		goto out;
	}
	ts = (struct dm_target_spec *)(b->raw + start);
	b->raw[sizeof(*b) - 1] = '\0';	/* the params string ends in the buffer */
	ts->target_type[DM_MAX_TYPE_NAME - 1] = '\0';
	snprintf(type, tlen, "%s", ts->target_type);
	if (strcmp(ts->target_type, "linear")) {
		snprintf(why, wlen, "device-mapper target \"%s\" is not linear",
			 ts->target_type);
		rc = -EOPNOTSUPP;
		goto out;
	}
	if (ts->sector_start != 0) {
		snprintf(why, wlen, "linear target does not start at sector 0");
		goto out;
	}
	rc = bc_stack_parse_linear((char *)(ts + 1), maj, min, sector);
	if (rc < 0)
		snprintf(why, wlen, "cannot parse linear table \"%.60s\"",
			 (char *)(ts + 1));
	*sectors = ts->length;
out:
	free(b);
	close(fd);
	return rc;
}

static void add_layer(struct bc_stack *s, const char *name, const char *kind)
{
	size_t n = strlen(s->layers);

	snprintf(s->layers + n, sizeof(s->layers) - n, "%s%s%s%s%s",
		 n ? " > " : "", name, kind ? " (" : "", kind ? kind : "",
		 kind ? ")" : "");
}

int bc_stack_resolve(dev_t rdev, struct bc_stack *s, struct bc_error *e)
{
	char dir[PATH_MAX], name[64], buf[64];
	uint64_t size;
	dev_t cur = rdev;

	memset(s, 0, sizeof(*s));
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
	if (read_u64(dir, "size", &size) < 0)
		return bc_error_set(e, -ENODEV, dir, "sysfs", "no size attribute");
	s->length = size * 512;

	for (;;) {
		snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(cur), minor(cur));
		bc_sysfs_kname(cur, name, sizeof(name));
		if (s->depth >= BC_STACK_DEPTH) {
			snprintf(s->why_stopped, sizeof(s->why_stopped),
				 "more than %d layers", BC_STACK_DEPTH);
			break;
		}
		if (read_attr(dir, "partition", buf, sizeof(buf)) == 0) {
			char parent[PATH_MAX + 4], real[PATH_MAX];
			unsigned ma, mi;
			uint64_t start;

			if (!realpath(dir, real) || read_u64(dir, "start", &start) < 0) {
				snprintf(s->why_stopped, sizeof(s->why_stopped),
					 "partition without a start in sysfs");
				break;
			}
			snprintf(parent, sizeof(parent), "%s/..", real);
			if (read_attr(parent, "dev", buf, sizeof(buf)) < 0 ||
			    sscanf(buf, "%u:%u", &ma, &mi) != 2) {
				snprintf(s->why_stopped, sizeof(s->why_stopped),
					 "partition's parent device unknown");
				break;
			}
			add_layer(s, name, "partition");
			s->offset += start * 512;
			cur = makedev(ma, mi);
			s->depth++;
			continue;
		}
		if (read_attr(dir, "dm/name", buf, sizeof(buf)) == 0) {
			unsigned ma, mi;
			uint64_t sector = 0, sectors = 0;
			char why[128] = "";

			if (dm_linear(cur, &ma, &mi, &sector, &sectors, why,
				      sizeof(why), s->bottom_dm_target,
				      sizeof(s->bottom_dm_target)) < 0) {
				snprintf(s->why_stopped, sizeof(s->why_stopped),
					 "%s: %s", name, why);
				break;
			}
			s->bottom_dm_target[0] = '\0';
			add_layer(s, name, "linear");
			s->offset += sector * 512;
			cur = makedev(ma, mi);
			s->depth++;
			continue;
		}
		break;
	}
	add_layer(s, name, NULL);
	snprintf(s->bottom, sizeof(s->bottom), "/dev/%s", name);
	s->bottom_rdev = cur;
	return 0;
}
