// SPDX-License-Identifier: GPL-2.0-or-later
/* What the CLI says on stderr: "blkclone: ..." (apart from main, which
 * dispatches to the commands that say it). */
#include <stdarg.h>
#include <stdio.h>

#include "cli/cli.h"

void bc_cli_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("blkclone: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void bc_cli_error(const struct bc_error *e)
{
	char buf[1024];

	bc_cli_msg("%s", bc_error_format(e, buf, sizeof(buf)));
}
