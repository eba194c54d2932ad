// SPDX-License-Identifier: LGPL-2.1-or-later
/* Address classification (see address.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "transport/iscsi/url.h"
#include "volume/address.h"
#include "util/sysfs.h"

const char *bc_addr_kind_name(enum bc_addr_kind k)
{
	switch (k) {
	case BC_ADDR_ISCSI: return "iscsi";
	case BC_ADDR_FILE: return "file";
	case BC_ADDR_BLOCK: return "block";
	case BC_ADDR_SCSI: return "scsi";
	case BC_ADDR_NVME: return "nvme";
	case BC_ADDR_INVALID: break;
	}
	return "invalid";
}

/* iscsi:// is the one scheme with a user part: the transport that parses
 * it also hides a secret typed into it. */
const char *bc_addr_display(const char *addr, char *buf, size_t len)
{
	return bc_iscsi_url_display(addr, buf, len);
}

enum bc_addr_kind bc_addr_classify(const char *addr, char *why, size_t whylen)
{
	const char *colon;

	if (!addr || !*addr) {
		snprintf(why, whylen, "empty address");
		return BC_ADDR_INVALID;
	}
	colon = strstr(addr, "://");
	if (colon) {
		if ((size_t)(colon - addr) == 5 && !strncasecmp(addr, "iscsi", 5))
			return BC_ADDR_ISCSI;
		snprintf(why, whylen,
			 "unknown address scheme '%.*s' (known: iscsi://, or a path)",
			 (int)(colon - addr > 32 ? 32 : colon - addr), addr);
		return BC_ADDR_INVALID;
	}
	if (strlen(addr) >= 4096) {
		snprintf(why, whylen, "path too long");
		return BC_ADDR_INVALID;
	}
	return BC_ADDR_FILE;
}

enum bc_addr_kind bc_addr_kind_of_blockdev(const char *kname, int is_partition)
{
	unsigned a, b;
	char tail;

	if (is_partition)
		return BC_ADDR_BLOCK;	/* resolved through its parent later */
	/* sd[a-z]+ : a SCSI disk, reachable with SG_IO */
	if (!strncmp(kname, "sd", 2) && kname[2]) {
		const char *p = kname + 2;

		while (*p >= 'a' && *p <= 'z')
			p++;
		if (!*p)
			return BC_ADDR_SCSI;
	}
	/* nvme<ctrl>n<ns> without a partition suffix */
	if (sscanf(kname, "nvme%un%u%c", &a, &b, &tail) == 2)
		return BC_ADDR_NVME;
	return BC_ADDR_BLOCK;
}

static int sysfs_is_partition(dev_t rdev)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/partition", major(rdev),
		 minor(rdev));
	return access(p, F_OK) == 0;
}

/* Is the directory @path would be created in /dev (or below it)?  A
 * mistyped device name (/dev/sdx) must not become a file in devtmpfs. */
static int in_dev_dir(const char *path)
{
	char dir[PATH_MAX], real[PATH_MAX], *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return 0;
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (!realpath(dir, real))
		return 0;
	return !strcmp(real, "/dev") || !strncmp(real, "/dev/", 5);
}

enum bc_addr_kind bc_addr_resolve(const char *path, int may_create, int *err,
				  char *why, size_t whylen)
{
	struct stat st;
	char kname[64];

	*err = 0;
	if (stat(path, &st) < 0) {
		*err = -errno;
		if (errno == ENOENT && may_create) {
			if (!in_dev_dir(path))
				return BC_ADDR_FILE;
			*err = -ENODEV;
			snprintf(why, whylen,
				 "no such device (blkclone creates image files, never files under /dev)");
			return BC_ADDR_INVALID;
		}
		snprintf(why, whylen, "%s", strerror(errno));
		return BC_ADDR_INVALID;
	}
	if (S_ISREG(st.st_mode))
		return BC_ADDR_FILE;
	if (S_ISBLK(st.st_mode)) {
		if (bc_sysfs_kname(st.st_rdev, kname, sizeof(kname)) < 0)
			return BC_ADDR_BLOCK;
		return bc_addr_kind_of_blockdev(kname,
						sysfs_is_partition(st.st_rdev));
	}
	if (S_ISCHR(st.st_mode)) {
		char p[80];

		snprintf(p, sizeof(p), "/sys/dev/char/%u:%u/device/scsi_generic",
			 major(st.st_rdev), minor(st.st_rdev));
		if (access(p, F_OK) == 0)
			return BC_ADDR_SCSI;
		*err = -ENODEV;
		snprintf(why, whylen,
			 "character device is not a SCSI generic (sg) node");
		return BC_ADDR_INVALID;
	}
	*err = -EINVAL;
	snprintf(why, whylen, "not a regular file or block device");
	return BC_ADDR_INVALID;
}
