// SPDX-License-Identifier: GPL-2.0-or-later
/* blkclone copy: clone SRC onto DST. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli-parse.h"
#include "cli/copy-fanout.h"
#include "cli/copy-opts.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	/* said at once (write(2) is async-signal-safe): a copy may take a
	 * while to reach its next safe point, and a caller -- a person at the
	 * terminal, a test holding a read -- knows the stop was heard */
	static const char heard[] =
		"blkclone: stop asked for: stopping at the next safe point\n";

	int saved = errno;	/* of the code the signal interrupted */

	(void)sig;
	if (!interrupted && write(STDERR_FILENO, heard, sizeof(heard) - 1) < 0) {
		/* nowhere to say it; the stop goes on */
	}
	interrupted = 1;
	errno = saved;
}

/*
 * From here on SIGINT and SIGTERM ask the copy to stop at its next safe
 * point, where it says how far it got and removes a file it created but
 * never wrote.  Before, they end blkclone at once, as by default: nothing
 * is created or written then, and a login or command that hangs is not
 * waited for.  No SA_RESTART: a wait that can be interrupted (a hung
 * state file, a FIFO) gives up rather than hold the stop back.  Called
 * by bc_clone_open just before it creates a destination file, and before
 * the run.
 */
static void stop_at_safe_points(void *unused)
{
	struct sigaction sa;

	(void)unused;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void copy_usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone copy [OPTIONS] SRC DST\n"
		"       blkclone copy [OPTIONS] --to=DST [--to=DST ...] SRC\n\n"
		"Clone SRC onto DST (same size or larger).  A DST file that does not\n"
		"exist is created with SRC's size.  With --to, SRC onto each DST: a\n"
		"host copy reads SRC once for all of them (template fan-out).\n\n"
		"Options:\n"
		BC_USAGE_CHUNK
		"      --dest-zeroed         DST is known to read zeros: skip its holes\n"
		"      --flush=WHEN          end (default): DST's cache is flushed (SYNCHRONIZE\n"
		"                            CACHE, fsync) before success is reported, and\n"
		"                            along the way; never: no flush (the caller\n"
		"                            flushes; a power cut may lose the copy)\n"
		"  -h, --help                this text\n"
		BC_USAGE_IO_DEPTH
		"      --json                one JSON object on stdout\n"
		"      --offload=POLICY      auto (default): in the array when possible,\n"
		"                            else on the host; require: in the array or\n"
		"                            fail (exit 3); never: host copy only\n"
		"      --progress            progress bar, or (NN.NN/100%%) lines\n"
		"      --resume-from=LBA     continue an interrupted host copy from LBA\n"
		"                            (in SRC's blocks, as printed when it stopped)\n"
		"      --to=DST              a destination of the one SRC given; repeat for\n"
		"                            each (at most %d); not with --progress or\n"
		"                            --resume-from\n"
		"      --timeout=SECONDS     stop the copy (exit 1, with the LBA to resume\n"
		"                            from) once it has run this long, --verify\n"
		"                            included; also bounds waiting on the array\n"
		"      --verify              read both back and compare\n"
		BC_USAGE_WRITE_BEHIND, BC_COPY_MAX_TO);
}

enum { OPT_PROGRESS = BC_OPT_CMD, OPT_JSON, OPT_RESUME, OPT_TO };

struct copy_args {
	struct bc_clone_opts o;
	bool json, progress;
	const char *src, *dst;
	const char *to[BC_COPY_MAX_TO];	/* --to destinations */
	size_t n_to;
};

/* With --to: one SRC, and no option that speaks of one destination.
 * -1 to go on, else the exit code. */
static int to_args(int argc, char **argv, struct copy_args *a)
{
	int n = argc - optind;

	if (n != 1) {
		bc_cli_msg("with --to, copy takes exactly one SRC (%d address%s given)",
			   n, n == 1 ? "" : "es");
		return BC_EXIT_REFUSED;
	}
	if (a->o.resume) {
		bc_cli_msg("--resume-from continues one destination: with --to each stops at its own offset; resume each alone (copy --resume-from=LBA SRC DST)");
		return BC_EXIT_REFUSED;
	}
	if (a->progress) {
		bc_cli_msg("--progress shows one copy: not with --to (--json reports each destination)");
		return BC_EXIT_REFUSED;
	}
	a->src = argv[optind];
	return -1;
}

/* -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct copy_args *a)
{
	static const struct option longopts[] = {
		BC_COPY_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "resume-from", required_argument, NULL, OPT_RESUME },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 },
	};
	struct bc_copy_opts *co = &a->o.copy;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int shared = bc_cli_copy_option(c, optarg, co);

		if (shared < 0)
			return BC_EXIT_REFUSED;
		if (shared)
			continue;
		switch (c) {
		case OPT_PROGRESS: a->progress = true; break;
		case OPT_JSON: a->json = true; break;
		case OPT_RESUME:
			if (bc_cli_parse_lba(optarg, &a->o.resume_lba) < 0) {
				bc_cli_msg("--resume-from takes an LBA (a decimal block number), not '%s'",
					   optarg);
				return BC_EXIT_REFUSED;
			}
			a->o.resume = true;
			break;
		case OPT_TO:
			if (a->n_to == BC_COPY_MAX_TO) {
				bc_cli_msg("copy writes at most %d destinations: too many --to",
					   BC_COPY_MAX_TO);
				return BC_EXIT_REFUSED;
			}
			if (!optarg[0]) {
				bc_cli_msg("--to takes a destination address, not an empty one");
				return BC_EXIT_REFUSED;
			}
			a->to[a->n_to++] = optarg;
			break;
		case 'h': copy_usage(stdout); return BC_EXIT_OK;
		default: copy_usage(stderr); return BC_EXIT_REFUSED;
		}
	}
	if (bc_cli_copy_options_check(co) < 0)
		return BC_EXIT_REFUSED;
	if (a->n_to)
		return to_args(argc, argv, a);
	if (argc - optind != 2) {
		bc_cli_msg("copy needs exactly two addresses, SRC and DST");
		copy_usage(stderr);
		return BC_EXIT_REFUSED;
	}
	a->src = argv[optind];
	a->dst = argv[optind + 1];
	return -1;
}

int bc_cmd_copy(int argc, char **argv)
{
	struct copy_args a = {
		.o.copy = { .offload = BC_OFFLOAD_AUTO, .cancel = &interrupted },
		.o.before_create = stop_at_safe_points,
	};
	const struct bc_clone_result *r;
	struct bc_progress prog;
	struct bc_clone *cl;
	struct bc_error e = { 0 };
	int rc, ex;

	if ((ex = parse_args(argc, argv, &a)) >= 0)
		return ex;
	if (a.n_to)
		return bc_copy_fanout(a.src, a.to, a.n_to, &a.o, a.json);
	if (a.progress) {
		bc_progress_init(&prog, stderr);
		a.o.copy.progress = bc_progress_cb;
		a.o.copy.progress_arg = &prog;
	}
	rc = bc_clone_open(a.src, a.dst, &a.o, &cl, &e);
	if (!cl) {
		bc_cli_error(&e);
		return BC_EXIT_FAILED;
	}
	if (rc == 0)
		rc = bc_clone_plan(cl, &e);
	if (rc == 0) {
		stop_at_safe_points(NULL);
		rc = bc_clone_run(cl, &e);
		if (a.progress)
			bc_progress_end(&prog);
	}
	r = bc_clone_result(cl);
	ex = bc_cli_exit_for_clone(r);
	if (rc < 0)
		bc_report_copy_failure(r);
	if (a.json)
		bc_report_copy_json(stdout, r);
	else if (rc == 0)
		bc_report_copy_text(stdout, r);
	bc_clone_close(cl);
	return ex;
}
