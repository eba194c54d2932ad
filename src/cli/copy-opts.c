// SPDX-License-Identifier: GPL-2.0-or-later
/* The options `copy` and `job start` share, parsed once for both. */
#include "cli/cli.h"
#include "cli/cli-parse.h"
#include "cli/copy-opts.h"

/* What an admin may fix of the host copy's I/O shape: whole pages up to
 * the engine's largest chunk; write-behind from a size worth a flush to
 * one that still bounds what a power cut can lose. */
#define MIN_CHUNK (4u << 10)
#define MAX_CHUNK (8u << 20)
#define MIN_WRITE_BEHIND (1ull << 20)
#define MAX_WRITE_BEHIND (1ull << 40)

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
	case BC_OPT_IO_DEPTH: {
		uint64_t d;

		if (bc_cli_parse_lba(arg, &d) < 0 || !d || d > BC_COPY_MAX_DEPTH) {
			bc_cli_msg("--io-depth takes a number of chunks in flight from 1 to %d, not '%s'",
				   BC_COPY_MAX_DEPTH, arg);
			return -1;
		}
		co->depth = (uint32_t)d;
		co->depth_fixed = true;
		return 1;
	}
	case BC_OPT_CHUNK: {
		uint64_t n;

		if (bc_cli_parse_size(arg, &n) < 0 || n < MIN_CHUNK ||
		    n > MAX_CHUNK || n % MIN_CHUNK) {
			bc_cli_msg("--chunk takes a size from 4K to 8M in whole 4K (as 256K or 1M), not '%s'",
				   arg);
			return -1;
		}
		co->chunk = (uint32_t)n;
		return 1;
	}
	case BC_OPT_WRITE_BEHIND: {
		uint64_t n;

		if (bc_cli_parse_size(arg, &n) < 0 || n < MIN_WRITE_BEHIND ||
		    n > MAX_WRITE_BEHIND) {
			bc_cli_msg("--write-behind takes a size from 1M to 1T (as 64M or 1G), not '%s'",
				   arg);
			return -1;
		}
		co->write_behind = n;
		return 1;
	}
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

int bc_cli_copy_options_check(const struct bc_copy_opts *co)
{
	if (co->write_behind && co->flush == BC_FLUSH_NEVER) {
		bc_cli_msg("--write-behind says how often to flush: not with --flush=never");
		return -1;
	}
	return 0;
}
