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
	BC_OPT_IO_DEPTH,
	BC_OPT_CHUNK,
	BC_OPT_WRITE_BEHIND,
	BC_OPT_CMD,
};

/* the shared options' struct option entries */
#define BC_COPY_LONGOPTS \
	{ "chunk", required_argument, NULL, BC_OPT_CHUNK }, \
	{ "dest-zeroed", no_argument, NULL, BC_OPT_DEST_ZEROED }, \
	{ "flush", required_argument, NULL, BC_OPT_FLUSH }, \
	{ "io-depth", required_argument, NULL, BC_OPT_IO_DEPTH }, \
	{ "offload", required_argument, NULL, BC_OPT_OFFLOAD }, \
	{ "timeout", required_argument, NULL, BC_OPT_TIMEOUT }, \
	{ "verify", no_argument, NULL, BC_OPT_VERIFY }, \
	{ "write-behind", required_argument, NULL, BC_OPT_WRITE_BEHIND }

/*
 * Take getopt's @c (with @arg) into @co: 1 when it was a shared option,
 * 0 when it is none (the command's own), -1 when its value is bad (said
 * on stderr: exit 2).
 */
int bc_cli_copy_option(int c, const char *arg, struct bc_copy_opts *co);

/* After the last option: the shared options together make sense; 0, or
 * -1 when they do not (said on stderr: exit 2). */
int bc_cli_copy_options_check(const struct bc_copy_opts *co);

/* The I/O shape options' lines of a usage text (copy's, job start's). */
#define BC_USAGE_CHUNK \
	"      --chunk=SIZE          bytes per read and write of a host copy (4K-8M,\n" \
	"                            whole 4K: 256K, 1M), at most the LU's maximum\n" \
	"                            transfer and 32M over the chunks in flight;\n" \
	"                            default: chosen as the copy goes\n"
#define BC_USAGE_IO_DEPTH \
	"      --io-depth=N          chunks a host copy keeps in flight (1-16), at\n" \
	"                            most what the volumes take; default: chosen\n" \
	"                            as the copy goes\n"
#define BC_USAGE_WRITE_BEHIND \
	"      --write-behind=SIZE   flush DST every SIZE written (1M-1T: 64M, 1G);\n" \
	"                            default: chosen as the copy goes\n"

#endif
