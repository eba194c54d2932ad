// SPDX-License-Identifier: LGPL-2.1-or-later
/* sysfs attribute readers (see sysfs.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/sysfs.h"

int bc_sysfs_read_path(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

int bc_sysfs_read_str(dev_t rdev, const char *attr, char *buf, size_t len)
{
	char path[256];
	int rc;

	if (!len)
		return -EINVAL;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", major(rdev),
		 minor(rdev), attr);
	rc = bc_sysfs_read_path(path, buf, len);
	if (rc == -ENOENT) {
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../%s",
			 major(rdev), minor(rdev), attr);
		rc = bc_sysfs_read_path(path, buf, len);
	}
	return rc;
}

int bc_sysfs_read_u64(dev_t rdev, const char *attr, uint64_t *out)
{
	char buf[64], *end;
	unsigned long long v;
	int rc = bc_sysfs_read_str(rdev, attr, buf, sizeof(buf));

	if (rc < 0)
		return rc;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*out = v;
	return 0;
}

int bc_sysfs_kname(dev_t rdev, char *buf, size_t len)
{
	char p[64], target[512];
	const char *slash;
	ssize_t n;

	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
	n = readlink(p, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(buf, len, "%u:%u", major(rdev), minor(rdev));
		return -errno;
	}
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(buf, len, "%s", slash ? slash + 1 : target);
	return 0;
}

int bc_sysfs_scsi_address(bool block, dev_t rdev, unsigned *h, unsigned *c,
			  unsigned *t, uint64_t *lun)
{
	char link[64], real[PATH_MAX];
	unsigned long long l;
	const char *base;

	snprintf(link, sizeof(link), "/sys/dev/%s/%u:%u/device",
		 block ? "block" : "char", major(rdev), minor(rdev));
	if (!realpath(link, real))
		return -ENODEV;
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	if (sscanf(base, "%u:%u:%u:%llu", h, c, t, &l) != 4)
		return -ENODEV;
	*lun = l;
	return 0;
}
