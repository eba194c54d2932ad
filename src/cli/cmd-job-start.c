// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * blkclone job start: fork the job's process first, then let it open
 * everything (cmd-job-run.c); this process only waits for its word on a
 * pipe and prints it.  The exit code is the one "copy" would give for a
 * refusal, so a caller sees no difference between the two until the
 * copy runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/copy-opts.h"
#include "cli/cli-parse.h"
#include "cli/job.h"

static void start_usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone job start [OPTIONS] SRC DST [SRC DST ...]\n"
		"       blkclone job start [OPTIONS] --to=DST [--to=DST ...] SRC\n"
		"       blkclone job start [--json] [--stall-timeout=SECONDS] --resume=ID\n\n"
		"Start one job copying each SRC onto its DST in a process of its own;\n"
		"return once every pair is planned, accepted and its point in time fixed,\n"
		"printing the job's id.  Pairs whose SRC is one volume and that copy on\n"
		"the host read it once for all their destinations (template fan-out).\n\n"
		"Options:\n"
		BC_USAGE_CHUNK
		"      --dest-zeroed         DST is known to read zeros: skip its holes\n"
		"      --flush=WHEN          end (default) or never, as for copy\n"
		"  -h, --help                this text\n"
		BC_USAGE_IO_DEPTH
		"      --json                the job as one JSON object on stdout\n"
		"      --offload=POLICY      auto (default), require or never, as for copy\n"
		"      --resume=ID           continue a failed or cancelled job's pairs\n"
		"                            from their resume offsets\n"
		"      --stall-timeout=SECONDS  fail the job when no byte was copied for\n"
		"                            this long\n"
		"      --timeout=SECONDS     as for copy, for each pair\n"
		"      --to=DST              a destination of the one SRC given; repeat\n"
		"                            for each (SRC DST1 SRC DST2 ... in one)\n"
		"      --verify              read both back and compare\n"
		BC_USAGE_WRITE_BEHIND);
}

enum { OPT_JSON = BC_OPT_CMD, OPT_STALL, OPT_RESUME, OPT_TO };

/* -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct bc_job_spec *s,
		      const char **resume, bool *stall_given, size_t *n_to)
{
	static const struct option longopts[] = {
		BC_COPY_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "resume", required_argument, NULL, OPT_RESUME },
		{ "stall-timeout", required_argument, NULL, OPT_STALL },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 },
	};
	struct bc_copy_opts *co = &s->o.copy;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int shared = bc_cli_copy_option(c, optarg, co);

		if (shared < 0)
			return BC_EXIT_REFUSED;
		/* the record keeps the options a --resume continues with */
		if (c == BC_OPT_OFFLOAD)
			snprintf(s->jo.offload, sizeof(s->jo.offload), "%s", optarg);
		s->jo.dest_zeroed = co->dest_zeroed;
		s->jo.verify = co->verify;
		s->jo.flush_never = co->flush == BC_FLUSH_NEVER;
		s->jo.timeout_s = co->timeout_s;
		s->jo.io_depth = co->depth;
		s->jo.chunk = co->chunk;
		s->jo.write_behind = co->write_behind;
		if (shared)
			continue;
		switch (c) {
		case OPT_JSON: s->json = true; break;
		case OPT_RESUME: *resume = optarg; break;
		case OPT_TO:
			/* one address per --to: a path may hold a comma */
			if (*n_to == BC_JOB_MAX_PAIRS) {
				bc_cli_msg("a job copies at most %d pairs: too many --to",
					   BC_JOB_MAX_PAIRS);
				return BC_EXIT_REFUSED;
			}
			if (!optarg[0]) {
				bc_cli_msg("--to takes a destination address, not an empty one");
				return BC_EXIT_REFUSED;
			}
			s->dst[(*n_to)++] = optarg;
			break;
		case OPT_STALL:
			if (bc_cli_parse_seconds(optarg, &s->jo.stall_timeout_s) < 0) {
				bc_cli_msg("--stall-timeout takes a number of seconds (1 or more), not '%s'",
					   optarg);
				return BC_EXIT_REFUSED;
			}
			*stall_given = true;
			break;
		case 'h': start_usage(stdout); return BC_EXIT_OK;
		default: start_usage(stderr); return BC_EXIT_REFUSED;
		}
	}
	if (bc_cli_copy_options_check(co) < 0)
		return BC_EXIT_REFUSED;
	return -1;
}

/* The pairs from the command line: SRC DST pairs, or one SRC and the
 * destinations given with --to (already in s->dst). */
static int pairs_from_args(int argc, char **argv, struct bc_job_spec *s,
			   size_t n_to)
{
	int n = argc - optind;

	if (n_to) {
		if (n != 1) {
			bc_cli_msg("with --to, job start takes exactly one SRC (%d address%s given)",
				   n, n == 1 ? "" : "es");
			return BC_EXIT_REFUSED;
		}
		for (size_t i = 0; i < n_to; i++)
			s->src[i] = argv[optind];
		s->n = n_to;
		return -1;
	}
	if (n < 2 || n % 2) {
		bc_cli_msg("job start needs pairs of addresses: SRC DST [SRC DST ...]");
		start_usage(stderr);
		return BC_EXIT_REFUSED;
	}
	if (n / 2 > BC_JOB_MAX_PAIRS) {
		bc_cli_msg("a job copies at most %d pairs, not %d", BC_JOB_MAX_PAIRS, n / 2);
		return BC_EXIT_REFUSED;
	}
	for (int i = 0; i < n / 2; i++) {
		s->src[i] = argv[optind + 2 * i];
		s->dst[i] = argv[optind + 2 * i + 1];
	}
	s->n = (size_t)n / 2;
	return -1;
}

/*
 * The pairs a failed or cancelled job did not finish, with its options
 * and where each stopped.  @old stays allocated: the addresses are its.
 */
static int pairs_from_record(const char *id, struct bc_job *old,
			     struct bc_job_spec *s, bool stall_given)
{
	struct bc_error e = { 0 };
	int dfd, rc;

	if (bc_job_id_check(id) < 0) {
		char shown[64];

		bc_cli_msg("malformed job id '%s': %d hex digits expected",
			   bc_job_id_shown(id, shown, sizeof(shown)), BC_JOB_ID_LEN);
		return BC_EXIT_REFUSED;
	}
	if ((dfd = bc_job_dir_open(false, &e)) < 0 ||
	    (rc = bc_job_read(dfd, id, old, &e)) < 0) {
		if (dfd >= 0)
			close(dfd);
		bc_cli_error(&e);
		return BC_EXIT_REFUSED;
	}
	close(dfd);
	if (old->state == BC_JOB_RUNNING || old->state == BC_JOB_COMPLETE) {
		bc_cli_msg("job %s is %s: only a failed or cancelled job can be resumed",
			   id, bc_job_state_name(old->state));
		return BC_EXIT_REFUSED;
	}
	if (bc_cli_parse_offload(old->opts.offload, &s->o.copy.offload) < 0) {
		bc_cli_msg("job %s: the record's offload policy '%s' is not one", id,
			   old->opts.offload);
		return BC_EXIT_REFUSED;
	}
	snprintf(s->jo.offload, sizeof(s->jo.offload), "%s", old->opts.offload);
	s->o.copy.verify = s->jo.verify = old->opts.verify;
	s->o.copy.dest_zeroed = s->jo.dest_zeroed = old->opts.dest_zeroed;
	s->o.copy.timeout_s = s->jo.timeout_s = old->opts.timeout_s;
	s->jo.flush_never = old->opts.flush_never;
	s->o.copy.flush = old->opts.flush_never ? BC_FLUSH_NEVER : BC_FLUSH_END;
	s->o.copy.depth = s->jo.io_depth = old->opts.io_depth;
	s->o.copy.depth_fixed = old->opts.io_depth != 0;
	s->o.copy.chunk = s->jo.chunk = old->opts.chunk;
	s->o.copy.write_behind = s->jo.write_behind = old->opts.write_behind;
	if (!stall_given)
		s->jo.stall_timeout_s = old->opts.stall_timeout_s;
	snprintf(s->resumed_from, sizeof(s->resumed_from), "%s", id);
	for (size_t i = 0; i < old->n; i++) {
		if (old->pairs[i].exit_code == 0)
			continue;	/* done already */
		s->src[s->n] = old->pairs[i].source;
		s->dst[s->n] = old->pairs[i].destination;
		s->resume_lba[s->n++] = old->pairs[i].resume_lba;
	}
	return -1;
}

/* Wait for the child's word: the exit code and what to print. */
static int hear_child(int fd, pid_t pid)
{
	char buf[4096];
	ssize_t n;
	int code = -1;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (code < 0) {
			code = buf[0] >= '0' && buf[0] <= '3' ? buf[0] - '0' : BC_EXIT_FAILED;
			fwrite(buf + 1, 1, (size_t)n - 1, stdout);
		} else {
			fwrite(buf, 1, (size_t)n, stdout);
		}
	}
	close(fd);
	if (code < 0) {
		bc_cli_msg("the job's process (pid %d) ended before the job started",
			   (int)pid);
		code = BC_EXIT_FAILED;
	}
	/* a refused child has exited: reap it; a running one is not ours to
	 * wait for (it is in a session of its own; init reaps it) */
	if (code != BC_EXIT_OK)
		waitpid(pid, NULL, 0);
	return code;
}

int bc_job_cmd_start(int argc, char **argv)
{
	static struct bc_job old;	/* the record resumed: large */
	struct bc_job_spec s = {
		.o.copy = { .offload = BC_OFFLOAD_AUTO },
		.jo.offload = "auto",
	};
	const char *resume = NULL;
	bool stall_given = false;
	size_t n_to = 0;
	int ex, pfd[2];
	pid_t pid;

	if ((ex = parse_args(argc, argv, &s, &resume, &stall_given, &n_to)) >= 0)
		return ex;
	if (resume && (argc > optind || n_to)) {
		bc_cli_msg("--resume takes the pairs from the job's record: no addresses");
		return BC_EXIT_REFUSED;
	}
	ex = resume ? pairs_from_record(resume, &old, &s, stall_given) :
		      pairs_from_args(argc, argv, &s, n_to);
	if (ex >= 0)
		return ex;
	if (s.n == 0) {
		bc_cli_msg("job %s has no pair left to copy", resume);
		return BC_EXIT_REFUSED;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		bc_cli_msg("pipe: %s", strerror(errno));
		return BC_EXIT_FAILED;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		bc_cli_msg("fork: %s", strerror(errno));
		return BC_EXIT_FAILED;
	}
	if (pid == 0) {
		close(pfd[0]);
		bc_job_child(&s, pfd[1]);
	}
	close(pfd[1]);
	return hear_child(pfd[0], pid);
}
