// SPDX-License-Identifier: LGPL-2.1-or-later
/* A unit test's scratch directory (tmpdir.h). */
#include <stdio.h>
#include <stdlib.h>

#include "tmpdir.h"

char unit_dir[64];

int unit_dir_make(void **state)
{
	(void)state;
	snprintf(unit_dir, sizeof(unit_dir), "/tmp/bc-unit-XXXXXX");
	return mkdtemp(unit_dir) ? 0 : -1;
}

int unit_dir_remove(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", unit_dir);
	return system(cmd) == 0 ? 0 : -1;
}
