// SPDX-License-Identifier: LGPL-2.1-or-later
/* The state directory's path (see statedir.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/statedir.h"

int bc_state_dir(char *buf, size_t len)
{
	const char *d = getenv("BLKCLONE_STATE_DIR"), *home;

	if (d && *d)
		snprintf(buf, len, "%s", d);
	else if (geteuid() == 0)
		snprintf(buf, len, "/var/lib/blkclone");
	else if ((d = getenv("XDG_STATE_HOME")) && *d)
		snprintf(buf, len, "%s/blkclone", d);
	else if ((home = getenv("HOME")) && *home)
		snprintf(buf, len, "%s/.local/state/blkclone", home);
	else
		return -ENOENT;
	return 0;
}

int bc_state_mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}
