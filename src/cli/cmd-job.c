// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * blkclone job: start (cmd-job-start.c), status, wait, cancel, list,
 * forget.  Everything but start only reads records (include/blkclone/
 * job.h), so none of it ever blocks on the job; wait and cancel wait
 * on the job's process, or poll its record where they cannot.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli-parse.h"
#include "cli/job.h"

#define BC_EXIT_TIMEOUT 124	/* job wait --timeout, as timeout(1) */
#define POLL_NS (100 * 1000 * 1000)
/* the longest wait on the job's process before its record is read again */
#define WAKE_MS 1000
/* how long cancel waits for the job to reach a safe point and say so */
#define CANCEL_WAIT_S 600

static void job_usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone job start [OPTIONS] SRC DST [SRC DST ...]\n"
		"       blkclone job status [--json] ID\n"
		"       blkclone job wait [--timeout=SECONDS] ID\n"
		"       blkclone job cancel ID\n"
		"       blkclone job list [--json]\n"
		"       blkclone job forget ID\n\n"
		"Run a copy as a job in a process of its own and follow it; see\n"
		"blkclone(8), JOBS.\n");
}

/* Parse [--json] [--timeout=S] ID (or no ID for list): -1, or the exit code. */
static int parse_common(int argc, char **argv, bool want_id, bool *json,
			unsigned *timeout, const char **id)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (!json)
				goto bad;
			*json = true;
			break;
		case 't':
			if (!timeout)
				goto bad;
			if (bc_cli_parse_seconds(optarg, timeout) < 0) {
				bc_cli_msg("--timeout takes a number of seconds (1 or more), not '%s'",
					   optarg);
				return BC_EXIT_REFUSED;
			}
			break;
		case 'h': job_usage(stdout); return BC_EXIT_OK;
		default: goto bad;
		}
	}
	if (argc - optind != (want_id ? 1 : 0)) {
		bc_cli_msg("job %s takes %s", argv[0], want_id ? "one job id" : "no argument");
		goto bad;
	}
	if (want_id) {
		*id = argv[optind];
		if (bc_job_id_check(*id) < 0) {
			char shown[64];

			bc_cli_msg("malformed job id '%s': %d hex digits expected",
				   bc_job_id_shown(*id, shown, sizeof(shown)), BC_JOB_ID_LEN);
			return BC_EXIT_REFUSED;
		}
	}
	return -1;
bad:
	job_usage(stderr);
	return BC_EXIT_REFUSED;
}

/* Read @id's record: -1 when read, else the exit code (2: no such job, a
 * record not to trust or not blkclone's). */
static int load(const char *id, struct bc_job *j)
{
	struct bc_error e = { 0 };
	int dfd = bc_job_dir_open(false, &e), rc;

	if (dfd < 0) {
		bc_cli_error(&e);
		return BC_EXIT_REFUSED;
	}
	rc = bc_job_read(dfd, id, j, &e);
	close(dfd);
	if (rc < 0) {
		bc_cli_error(&e);
		return rc == -ENOMEM || rc == -EIO ? BC_EXIT_FAILED : BC_EXIT_REFUSED;
	}
	return -1;
}

static void status_json(const struct bc_job *j)
{
	struct bc_json js;

	bc_json_init(&js, stdout, true);
	bc_json_open_object(&js, NULL);
	bc_json_u64(&js, "schema", 1);
	bc_json_string(&js, "id", j->id);
	bc_json_string(&js, "state", bc_job_state_name(j->state));
	bc_json_double(&js, "progress", j->progress);
	bc_json_u64(&js, "bytes_done", j->bytes_done);
	bc_json_u64(&js, "bytes_total", j->bytes_total);
	bc_json_string(&js, "consistency", j->consistency);
	bc_json_i64(&js, "pid", j->pid);
	bc_json_i64(&js, "started", j->started);
	bc_json_i64(&js, "updated", j->updated);
	bc_json_string(&js, "error", j->error[0] ? j->error : NULL);
	if (j->exit_code < 0)
		bc_json_null(&js, "exit_code");
	else
		bc_json_i64(&js, "exit_code", j->exit_code);
	bc_json_string(&js, "resumed_from", j->resumed_from[0] ? j->resumed_from : NULL);
	bc_json_open_array(&js, "pairs");
	for (size_t i = 0; i < j->n; i++) {
		const struct bc_job_pair *p = &j->pairs[i];

		bc_json_open_object(&js, NULL);
		bc_json_string(&js, "source", p->source);
		bc_json_string(&js, "destination", p->destination);
		bc_json_string(&js, "method", p->method[0] ? p->method : NULL);
		bc_json_string(&js, "consistency", p->consistency[0] ? p->consistency : NULL);
		bc_json_u64(&js, "bytes_done", p->bytes_done);
		bc_json_u64(&js, "bytes_total", p->bytes_total);
		bc_json_u64(&js, "resume_offset", p->resume_offset);
		bc_json_u64(&js, "resume_lba", p->resume_lba);
		if (p->exit_code < 0)
			bc_json_null(&js, "exit_code");
		else
			bc_json_i64(&js, "exit_code", p->exit_code);
		bc_json_raw(&js, "report", p->report);
		bc_json_close_object(&js);
	}
	bc_json_close_array(&js);
	bc_json_close_object(&js);
	bc_json_finish(&js);
}

static void status_text(const struct bc_job *j)
{
	char a[32], b[32], when[32];
	time_t t = (time_t)j->started;
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	printf("job %s: %s, %.2f%% (%s of %s), %s, pid %d, started %s\n", j->id,
	       bc_job_state_name(j->state), j->progress,
	       bc_human_bytes(j->bytes_done, a, sizeof(a)),
	       bc_human_bytes(j->bytes_total, b, sizeof(b)),
	       j->consistency[0] ? j->consistency : "-", j->pid, when);
	if (j->error[0])
		printf("  error: %s\n", j->error);
	for (size_t i = 0; i < j->n; i++) {
		const struct bc_job_pair *p = &j->pairs[i];

		printf("  %s -> %s: %s, %s of %s, resume offset %" PRIu64 " (LBA %" PRIu64 ")%s\n",
		       p->source, p->destination, p->method[0] ? p->method : "-",
		       bc_human_bytes(p->bytes_done, a, sizeof(a)),
		       bc_human_bytes(p->bytes_total, b, sizeof(b)), p->resume_offset,
		       p->resume_lba, p->exit_code == 0 ? ", done" :
		       p->exit_code > 0 ? ", stopped" : "");
	}
}

static int job_status(int argc, char **argv)
{
	static struct bc_job j;
	const char *id = NULL;
	bool json = false;
	int ex;

	if ((ex = parse_common(argc, argv, true, &json, NULL, &id)) >= 0)
		return ex;
	if ((ex = load(id, &j)) >= 0)
		return ex;
	if (json)
		status_json(&j);
	else
		status_text(&j);
	bc_job_release(&j);
	return BC_EXIT_OK;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for @id to end: its exit code as copy's, or BC_EXIT_TIMEOUT after
 * @timeout seconds (0: none); -2 read error with @ex set.  Woken by the
 * end of the job's process (bc_job_wait_exit), then the record read
 * again; where that cannot be waited on, or the record still says
 * running after the process ended, the record is polled. */
static int wait_end(const char *id, unsigned timeout, struct bc_job *j, int *ex)
{
	const struct timespec pause = { 0, POLL_NS };
	double end = mono() + timeout;
	bool ended = false;

	for (;;) {
		int ms = WAKE_MS, rc;

		if ((*ex = load(id, j)) >= 0)
			return -2;
		if (j->state != BC_JOB_RUNNING)
			return j->exit_code >= 0 ? j->exit_code : BC_EXIT_FAILED;
		if (timeout) {
			double left = end - mono();

			if (left <= 0) {
				bc_job_release(j);
				return BC_EXIT_TIMEOUT;
			}
			if (left * 1000 < ms)
				ms = (int)(left * 1000) + 1;
		}
		rc = ended ? -EAGAIN : bc_job_wait_exit(j, ms);
		bc_job_release(j);
		if (rc < 0)
			nanosleep(&pause, NULL);
		ended = rc == 1;
	}
}

static int job_wait(int argc, char **argv)
{
	static struct bc_job j;
	const char *id = NULL;
	unsigned timeout = 0;
	int ex, rc;

	if ((ex = parse_common(argc, argv, true, NULL, &timeout, &id)) >= 0)
		return ex;
	rc = wait_end(id, timeout, &j, &ex);
	if (rc == -2)
		return ex;
	if (rc == BC_EXIT_TIMEOUT) {
		bc_cli_msg("job %s still runs after %u s", id, timeout);
		return rc;
	}
	if (j.error[0])
		bc_cli_msg("job %s %s: %s", id, bc_job_state_name(j.state), j.error);
	bc_job_release(&j);
	return rc;
}

static int job_cancel(int argc, char **argv)
{
	static struct bc_job j;
	const char *id = NULL;
	int ex, rc;

	if ((ex = parse_common(argc, argv, true, NULL, NULL, &id)) >= 0)
		return ex;
	if ((ex = load(id, &j)) >= 0)
		return ex;
	if (j.state == BC_JOB_RUNNING) {
		/* the process is the job's own (pid, start time, boot), read
		 * just now: a pid reused since is never signalled */
		if (!bc_job_alive(&j) || kill(j.pid, SIGTERM) < 0) {
			bc_job_release(&j);
			if ((ex = load(id, &j)) >= 0)
				return ex;
		} else {
			fprintf(stderr, "blkclone: job %s: sent SIGTERM to pid %d, waiting for it to stop\n",
				id, j.pid);
			bc_job_release(&j);
			rc = wait_end(id, CANCEL_WAIT_S, &j, &ex);
			if (rc == -2)
				return ex;
			if (rc == BC_EXIT_TIMEOUT) {
				bc_cli_msg("job %s did not stop within %d s", id, CANCEL_WAIT_S);
				return BC_EXIT_FAILED;
			}
		}
	}
	status_text(&j);
	bc_job_release(&j);
	return BC_EXIT_OK;
}

static int job_list(int argc, char **argv)
{
	static char ids[1024][BC_JOB_ID_LEN + 1];
	static struct bc_job j;
	struct bc_error e = { 0 };
	struct bc_json js;
	bool json = false;
	size_t n = 0;
	int ex, dfd;

	if ((ex = parse_common(argc, argv, false, &json, NULL, NULL)) >= 0)
		return ex;
	dfd = bc_job_dir_open(false, &e);
	if (dfd < 0 && dfd != -ENOENT) {
		bc_cli_error(&e);
		return BC_EXIT_REFUSED;
	}
	if (dfd >= 0 && bc_job_list(dfd, ids, sizeof(ids) / sizeof(ids[0]), &n, &e) < 0) {
		bc_cli_error(&e);
		close(dfd);
		return BC_EXIT_FAILED;
	}
	if (json) {
		bc_json_init(&js, stdout, true);
		bc_json_open_object(&js, NULL);
		bc_json_u64(&js, "schema", 1);
		bc_json_open_array(&js, "jobs");
	}
	for (size_t i = 0; i < n; i++) {
		/* one bad record is said and skipped: it never hides others */
		if (bc_job_read(dfd, ids[i], &j, &e) < 0) {
			bc_cli_error(&e);
			continue;
		}
		if (json) {
			bc_json_open_object(&js, NULL);
			bc_json_string(&js, "id", j.id);
			bc_json_string(&js, "state", bc_job_state_name(j.state));
			bc_json_double(&js, "progress", j.progress);
			bc_json_u64(&js, "pairs", j.n);
			bc_json_i64(&js, "started", j.started);
			bc_json_close_object(&js);
		} else {
			printf("%s %-9s %6.2f%% %zu pair%s %s\n", j.id, bc_job_state_name(j.state),
			       j.progress, j.n, j.n == 1 ? "" : "s", j.pairs[0].destination);
		}
		bc_job_release(&j);
	}
	if (json) {
		bc_json_close_array(&js);
		bc_json_close_object(&js);
		bc_json_finish(&js);
	}
	if (dfd >= 0)
		close(dfd);
	return BC_EXIT_OK;
}

static int job_forget(int argc, char **argv)
{
	static struct bc_job j;
	struct bc_error e = { 0 };
	const char *id = NULL;
	int ex, dfd, rc;

	if ((ex = parse_common(argc, argv, true, NULL, NULL, &id)) >= 0)
		return ex;
	if ((ex = load(id, &j)) >= 0)
		return ex;
	rc = j.state == BC_JOB_RUNNING;
	bc_job_release(&j);
	if (rc) {
		bc_cli_msg("job %s is running: cancel it first", id);
		return BC_EXIT_REFUSED;
	}
	if ((dfd = bc_job_dir_open(false, &e)) < 0 || bc_job_remove(dfd, id, &e) < 0) {
		bc_cli_error(&e);
		if (dfd >= 0)
			close(dfd);
		return BC_EXIT_FAILED;
	}
	close(dfd);
	return BC_EXIT_OK;
}

static const struct bc_cmd subcommands[] = {
	{ "cancel", job_cancel, "stop a job, and say where it stopped" },
	{ "forget", job_forget, "remove a finished job's record" },
	{ "list", job_list, "the jobs and their states" },
	{ "start", bc_job_cmd_start, "start a job for one or more pairs" },
	{ "status", job_status, "a job's state and progress" },
	{ "wait", job_wait, "wait until a job ends; exit as copy would" },
};

int bc_cmd_job(int argc, char **argv)
{
	if (argc < 2) {
		job_usage(stderr);
		return BC_EXIT_REFUSED;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		job_usage(stdout);
		return BC_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	bc_cli_msg("unknown job command '%s' (try 'blkclone job --help')", argv[1]);
	return BC_EXIT_REFUSED;
}
