// SPDX-License-Identifier: GPL-2.0-or-later
/* blkclone zero: make a volume read as zeros, thin where possible. */
#include <errno.h>
#include <getopt.h>
#include <time.h>

#include "volume/address.h"
#include "volume/io.h"
#include "cli/cli.h"

static void zero_usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone zero [OPTIONS] ADDR\n\n"
		"Make the whole volume read as zeros with the cheapest command that\n"
		"guarantees it (deallocating where the device reads deallocated\n"
		"blocks as zeros).  This destroys the volume's contents.\n\n"
		"Options:\n"
		"  -h, --help     this text\n"
		"      --json     one JSON object on stdout (schema 1)\n");
}

enum { OPT_JSON = 256 };

int bc_cmd_zero(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct bc_volume *v = NULL;
	const struct bc_caps *caps;
	struct bc_error e = { 0 };
	struct timespec t0, t1;
	uint64_t pos = 0;
	char shown[320];
	bool json = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: json = true; break;
		case 'h': zero_usage(stdout); return BC_EXIT_OK;
		default: zero_usage(stderr); return BC_EXIT_REFUSED;
		}
	}
	if (argc - optind != 1) {
		bc_cli_msg("zero takes one address");
		zero_usage(stderr);
		return BC_EXIT_REFUSED;
	}
	rc = bc_volume_open(argv[optind], BC_OPEN_WRITE, &v, &e);
	if (rc < 0) {
		bc_cli_error(&e);
		return bc_cli_exit_for_refusal(rc);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = bc_volume_caps(v, &caps, &e);
	/* In slices, so a huge device reports how far it got on failure. */
	while (!rc && pos < v->size) {
		uint64_t len = v->size - pos;

		if (len > (1ULL << 30))
			len = 1ULL << 30;
		rc = bc_volume_zero(v, pos, len, BC_ZERO_MAY_UNMAP, &e);
		if (!rc)
			pos += len;
	}
	if (!rc && bc_volume_can_flush(v))
		rc = bc_volume_flush(v, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc < 0)
		bc_cli_error(&e);
	if (json) {
		struct bc_json j;
		char msg[1024];

		bc_json_init(&j, stdout, true);
		bc_json_open_object(&j, NULL);
		bc_json_u64(&j, "schema", 1);
		bc_json_string(&j, "address", bc_addr_display(argv[optind], shown, sizeof(shown)));
		bc_json_string(&j, "status", rc ? "failed" : "ok");
		bc_json_string(&j, "error", rc ? bc_error_format(&e, msg, sizeof(msg)) : NULL);
		bc_json_u64(&j, "size_bytes", v->size);
		bc_json_u64(&j, "zeroed_bytes", pos);
		bc_json_double(&j, "seconds", (double)(t1.tv_sec - t0.tv_sec) +
				   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		bc_json_close_object(&j);
		bc_json_finish(&j);
	} else if (!rc) {
		char a[32];

		printf("%s: %s now read as zeros\n", bc_addr_display(argv[optind], shown, sizeof(shown)),
		       bc_human_bytes(pos, a, sizeof(a)));
	}
	bc_volume_close(v);
	return rc ? BC_EXIT_FAILED : BC_EXIT_OK;
}
