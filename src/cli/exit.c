// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Exit codes (cli.h) from what the library says.  On its own so that a
 * test reporting the exit code blkclone would give (tests/sim/lying-target.c)
 * links this file rather than deciding it again.
 */
#include "cli/cli.h"

int bc_cli_exit_for_refusal(int err)
{
	return bc_error_is_refusal(err) ? BC_EXIT_REFUSED : BC_EXIT_FAILED;
}

int bc_cli_exit_for_clone(const struct bc_clone_result *r)
{
	switch (r->outcome) {
	case BC_CLONE_OK: return BC_EXIT_OK;
	case BC_CLONE_REFUSED: return BC_EXIT_REFUSED;
	case BC_CLONE_NO_OFFLOAD: return BC_EXIT_NO_OFFLOAD;
	case BC_CLONE_FAILED: break;
	}
	return BC_EXIT_FAILED;
}
