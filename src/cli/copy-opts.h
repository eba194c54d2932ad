/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The options `copy` and `job start` share (copy-opts.c). */
#ifndef BC_CLI_COPY_OPTS_H
#define BC_CLI_COPY_OPTS_H

#include <getopt.h>

#include <blkclone/copy.h>

/* getopt values of the shared options; a command numbers its own from
 * BC_OPT_CMD on */
enum {
	BC_OPT_OFFLOAD = 256,
	BC_OPT_DEST_ZEROED,
	BC_OPT_VERIFY,
	BC_OPT_TIMEOUT,
	BC_OPT_FLUSH,
	BC_OPT_CMD,
};

/* the shared options' struct option entries */
#define BC_COPY_LONGOPTS \
	{ "dest-zeroed", no_argument, NULL, BC_OPT_DEST_ZEROED }, \
	{ "flush", required_argument, NULL, BC_OPT_FLUSH }, \
	{ "offload", required_argument, NULL, BC_OPT_OFFLOAD }, \
	{ "timeout", required_argument, NULL, BC_OPT_TIMEOUT }, \
	{ "verify", no_argument, NULL, BC_OPT_VERIFY }

/*
 * Take getopt's @c (with @arg) into @co: 1 when it was a shared option,
 * 0 when it is none (the command's own), -1 when its value is bad (said
 * on stderr: exit 2).
 */
int bc_cli_copy_option(int c, const char *arg, struct bc_copy_opts *co);

#endif
