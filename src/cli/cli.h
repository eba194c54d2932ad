/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the CLI's subcommands; nothing here is library API. */
#ifndef BC_CLI_H
#define BC_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <blkclone/clone.h>
#include <blkclone/copy.h>
#include <blkclone/volume.h>

#include "util/json.h"

/* Exit codes: the contract callers (Proxmox, Cinder, scripts) rely on. */
#define BC_EXIT_OK		0
#define BC_EXIT_FAILED		1	/* failed while running */
#define BC_EXIT_REFUSED		2	/* refused before any write */
#define BC_EXIT_NO_OFFLOAD	3	/* offload required, unavailable */

struct bc_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int bc_cmd_probe(int argc, char **argv);
int bc_cmd_map(int argc, char **argv);
int bc_cmd_copy(int argc, char **argv);
int bc_cmd_job(int argc, char **argv);
int bc_cmd_zero(int argc, char **argv);

/* Print "blkclone: <error>" to stderr (msg.c). */
void bc_cli_error(const struct bc_error *e);
void bc_cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit codes from what the library says (exit.c, which the tests that
 * report blkclone's exit code link too). */
/* for a failure to open or check a volume */
int bc_cli_exit_for_refusal(int err);
/* for a clone session's outcome */
int bc_cli_exit_for_clone(const struct bc_clone_result *r);

/* Render capabilities and plans (report.c). */
void bc_report_caps_text(FILE *f, const char *addr, const struct bc_caps *c);
void bc_report_caps_json(struct bc_json *j, const char *addr,
			 const struct bc_caps *c);
void bc_report_plan_text(FILE *f, const struct bc_plan *p);
void bc_report_plan_json(struct bc_json *j, const char *key,
			 const struct bc_plan *p);
/* The copy's result as JSON or text, and on stderr its error with what
 * follows it ("continue with --resume-from=..."). */
void bc_report_copy_json(FILE *f, const struct bc_clone_result *r);
void bc_report_copy_text(FILE *f, const struct bc_clone_result *r);
void bc_report_copy_failure(const struct bc_clone_result *r);
const char *bc_support_name(enum bc_support s);
/* "1.50 GiB" */
const char *bc_human_bytes(unsigned long long v, char *buf, size_t len);

/* Progress output for --progress (progress.c). */
struct bc_progress {
	bool tty;
	int last_hundredths;
	FILE *out;
};
void bc_progress_init(struct bc_progress *p, FILE *out);
void bc_progress_cb(const struct bc_copy_stats *st, void *arg);
void bc_progress_end(struct bc_progress *p);

#endif
