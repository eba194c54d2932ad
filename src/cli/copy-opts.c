// SPDX-License-Identifier: GPL-2.0-or-later
/* The options `copy` and `job start` share, parsed once for both. */
#include "cli/cli.h"
#include "cli/cli-parse.h"
#include "cli/copy-opts.h"

int bc_cli_copy_option(int c, const char *arg, struct bc_copy_opts *co)
{
	switch (c) {
	case BC_OPT_OFFLOAD:
		if (bc_cli_parse_offload(arg, &co->offload) < 0) {
			bc_cli_msg("--offload must be auto, require or never, not '%s'",
				   arg);
			return -1;
		}
		return 1;
	case BC_OPT_FLUSH:
		if (bc_cli_parse_flush(arg, &co->flush) < 0) {
			bc_cli_msg("--flush must be end or never, not '%s'", arg);
			return -1;
		}
		return 1;
	case BC_OPT_DEST_ZEROED:
		co->dest_zeroed = true;
		return 1;
	case BC_OPT_VERIFY:
		co->verify = true;
		return 1;
	case BC_OPT_TIMEOUT:
		if (bc_cli_parse_seconds(arg, &co->timeout_s) < 0) {
			bc_cli_msg("--timeout takes a number of seconds (1 or more), not '%s'",
				   arg);
			return -1;
		}
		return 1;
	}
	return 0;
}
