// SPDX-License-Identifier: GPL-2.0-or-later
/* blkclone probe: capabilities of a volume, and the plan for a pair. */
#include <getopt.h>
#include <string.h>

#include "volume/address.h"
#include "cli/cli.h"
#include "cli/cli-parse.h"

static void probe_usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone probe [OPTIONS] ADDR [ADDR2]\n\n"
		"Show what a volume can do: identity, sizes, and for clone, zero,\n"
		"delete, extent map and zero-init whether it is supported, why, and\n"
		"the limits reported.  With ADDR2, also the plan for copying ADDR to\n"
		"ADDR2.  Nothing is written.\n\n"
		"Options:\n"
		"  -h, --help     this text\n"
		"      --json     one JSON object on stdout (schema 1)\n"
		"      --offload=POLICY  plan as 'copy --offload=POLICY' would\n");
}

enum { OPT_JSON = 256, OPT_OFFLOAD };

int bc_cmd_probe(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "offload", required_argument, NULL, OPT_OFFLOAD },
		{ NULL, 0, NULL, 0 },
	};
	struct bc_clone_opts o = { .copy.offload = BC_OFFLOAD_AUTO };
	struct bc_volume *v[2] = { NULL, NULL };
	const struct bc_caps *caps[2];
	const struct bc_plan *p = NULL;
	struct bc_clone *cl = NULL;
	struct bc_error e = { 0 };
	char shown[320];
	bool json = false;
	int c, n, ex = BC_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: json = true; break;
		case OPT_OFFLOAD:
			if (bc_cli_parse_offload(optarg, &o.copy.offload) < 0) {
				bc_cli_msg("--offload must be auto, require or never, not '%s'",
					   optarg);
				return BC_EXIT_REFUSED;
			}
			break;
		case 'h': probe_usage(stdout); return BC_EXIT_OK;
		default: probe_usage(stderr); return BC_EXIT_REFUSED;
		}
	}
	n = argc - optind;
	if (n < 1 || n > 2) {
		bc_cli_msg("probe takes one or two addresses");
		probe_usage(stderr);
		return BC_EXIT_REFUSED;
	}
	for (int i = 0; i < n; i++) {
		int rc = bc_volume_open(argv[optind + i], 0, &v[i], &e);

		if (rc < 0) {
			bc_cli_error(&e);
			ex = bc_cli_exit_for_refusal(rc);
			goto out;
		}
		if (bc_volume_caps(v[i], &caps[i], &e) < 0) {
			bc_cli_error(&e);
			ex = BC_EXIT_FAILED;
			goto out;
		}
	}
	/* the plan first, as copy would make it: a refusal (an unsafe
	 * refusal memory) prints nothing but the reason; no method left
	 * (offload required) is what the plan shows */
	if (n == 2) {
		const struct bc_clone_result *r = NULL;
		int rc = bc_clone_attach(v[0], v[1], argv[optind], argv[optind + 1],
					 &o, &cl, &e);

		v[0] = v[1] = NULL;	/* the session's now */
		if (rc == 0)
			rc = bc_clone_plan(cl, &e);
		if (cl)
			r = bc_clone_result(cl);
		if (rc < 0 && (!r || r->outcome != BC_CLONE_NO_OFFLOAD)) {
			bc_cli_error(&e);
			ex = r ? bc_cli_exit_for_clone(r) : BC_EXIT_FAILED;
			goto out;
		}
		p = &r->plan;
	}
	if (json) {
		struct bc_json j;

		bc_json_init(&j, stdout, true);
		bc_json_open_object(&j, NULL);
		bc_json_u64(&j, "schema", 1);
		bc_json_open_array(&j, "volumes");
		for (int i = 0; i < n; i++)
			bc_report_caps_json(&j, bc_addr_display(argv[optind + i], shown, sizeof(shown)), caps[i]);
		bc_json_close_array(&j);
		if (n == 2)
			bc_report_plan_json(&j, "plan", p);
		else
			bc_json_null(&j, "plan");
		bc_json_close_object(&j);
		bc_json_finish(&j);
	} else {
		for (int i = 0; i < n; i++) {
			if (i)
				putchar('\n');
			bc_report_caps_text(stdout, bc_addr_display(argv[optind + i], shown, sizeof(shown)), caps[i]);
		}
		if (n == 2)
			bc_report_plan_text(stdout, p);
	}
out:
	bc_clone_close(cl);
	bc_volume_close(v[1]);
	bc_volume_close(v[0]);
	return ex;
}
