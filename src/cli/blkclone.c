// SPDX-License-Identifier: GPL-2.0-or-later
/* blkclone: clone block volumes as cheaply as the storage allows. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "cli/cli.h"
#include "transport/iscsi/secret.h"

static const struct bc_cmd commands[] = {
	{ "copy", bc_cmd_copy, "clone SRC onto DST, in the array when possible" },
	{ "job", bc_cmd_job, "run copies in the background and follow them" },
	{ "map", bc_cmd_map, "show the allocation map of a volume" },
	{ "probe", bc_cmd_probe, "show capabilities, and the plan for SRC to DST" },
	{ "zero", bc_cmd_zero, "make a volume read as zeros, thin where possible" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone COMMAND [OPTIONS] ARGS\n\n"
		"Clone block volumes (SCSI LUs over SG_IO or iSCSI, NVMe namespaces,\n"
		"block devices, image files) as cheaply as the storage allows.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\nAddresses: iscsi://[user@]host[:port]/iqn/lun, /dev/sdX, /dev/sgN,\n"
		"/dev/nvmeXnY, any block device, or an image file.\n\n"
		"Exit status: 0 done; 1 failed while running; 2 refused before any\n"
		"write; 3 offload required but unavailable; 124 job wait timed out.\n\n"
		"'blkclone COMMAND --help' shows a command's options; see blkclone(8).\n");
}

int main(int argc, char **argv)
{
	/* libiscsi writes to its socket with writev(), not send() with
	 * MSG_NOSIGNAL: a target that drops the connection (tgt set offline)
	 * raised SIGPIPE and killed a copy that should reconnect or fail
	 * naming the LBA.  A lost peer is an EPIPE to handle, never a
	 * signal. */
	signal(SIGPIPE, SIG_IGN);
	/* before anything else runs: other users may read this process's
	 * initial environment in /proc/PID/environ (ps e) */
	bc_iscsi_secret_hide_env();
	if (argc < 2) {
		usage(stderr);
		return BC_EXIT_REFUSED;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return BC_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("blkclone %s\n", PACKAGE_VERSION);
		return BC_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	bc_cli_msg("unknown command '%s' (try 'blkclone --help')", argv[1]);
	return BC_EXIT_REFUSED;
}
