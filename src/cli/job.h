/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "blkclone job": the subcommands (cmd-job.c), starting one
 * (cmd-job-start.c) and the detached process that runs it
 * (cmd-job-run.c).  Nothing here is library API: the record is
 * include/blkclone/job.h.
 */
#ifndef BC_CLI_JOB_H
#define BC_CLI_JOB_H

#include <blkclone/clone.h>
#include <blkclone/job.h>

/* What a job runs, from the command line or from the record it resumes. */
struct bc_job_spec {
	struct bc_clone_opts o;		/* for every pair; cancel is the job's */
	struct bc_job_opts jo;		/* the same, as the record keeps it */
	bool json;
	size_t n;
	const char *src[BC_JOB_MAX_PAIRS], *dst[BC_JOB_MAX_PAIRS];
	uint64_t resume_lba[BC_JOB_MAX_PAIRS];	/* 0: from the start */
	char resumed_from[BC_JOB_ID_LEN + 1];
};

int bc_job_cmd_start(int argc, char **argv);

/*
 * In the forked child: become the job (a session of its own, stdio to its
 * log), open, plan and start every pair, tell the parent through
 * @report_fd (one byte, the exit code as a digit, then what to print on
 * stdout), run the pairs and leave the final record.  Never returns.
 */
void bc_job_child(const struct bc_job_spec *s, int report_fd)
	__attribute__((noreturn));

#endif
