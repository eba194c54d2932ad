// SPDX-License-Identifier: GPL-2.0-or-later
/* blkclone copy: clone SRC onto DST. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "volume/address.h"
#include "cli/cli.h"
#include "cli/cli-parse.h"
#include "core/refusals.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/*
 * From here on SIGINT and SIGTERM ask the copy to stop at its next safe
 * point, where it says how far it got and removes a file it created but
 * never wrote.  Before, they end blkclone at once, as by default: nothing
 * is created or written then, and a login or command that hangs is not
 * waited for.  No SA_RESTART: a wait that can be interrupted (a hung
 * state file, a FIFO) gives up rather than hold the stop back.
 */
static void stop_at_safe_points(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void copy_usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone copy [OPTIONS] SRC DST\n\n"
		"Clone SRC onto DST (same size or larger).  A DST file that does not\n"
		"exist is created with SRC's size.\n\n"
		"Options:\n"
		"      --dest-zeroed         DST is known to read zeros: skip its holes\n"
		"  -h, --help                this text\n"
		"      --json                one JSON object on stdout\n"
		"      --offload=POLICY      auto (default): in the array when possible,\n"
		"                            else on the host; require: in the array or\n"
		"                            fail (exit 3); never: host copy only\n"
		"      --progress            progress bar, or (NN.NN/100%%) lines\n"
		"      --resume-from=LBA     continue an interrupted host copy from LBA\n"
		"                            (in SRC's blocks, as printed when it stopped)\n"
		"      --timeout=SECONDS     stop the copy (exit 1, with the LBA to resume\n"
		"                            from) once it has run this long, --verify\n"
		"                            included; also bounds waiting on the array\n"
		"      --verify              read both back and compare\n");
}

/* Two paths naming one object would otherwise trip over our own lock. */
static bool same_object(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void report_json(const char *src, const char *dst, int rc,
			const struct bc_error *e, enum bc_method used,
			const struct bc_plan *plan,
			const struct bc_copy_stats *st,
			const struct bc_fallback *fb, bool verified)
{
	struct bc_json j;
	char msg[1024];

	bc_json_init(&j, stdout, true);
	bc_json_open_object(&j, NULL);
	bc_json_u64(&j, "schema", 1);
	bc_json_string(&j, "source", src);
	bc_json_string(&j, "destination", dst);
	bc_json_string(&j, "status", rc == 0 ? "ok" : "failed");
	bc_json_string(&j, "error", rc == 0 ? NULL :
		       bc_error_format(e, msg, sizeof(msg)));
	bc_json_string(&j, "method", used == BC_METHOD_NONE ? NULL :
		       bc_method_name(used));
	bc_json_u64(&j, "size_bytes", st->total_bytes);
	bc_json_u64(&j, "offloaded_bytes", st->offloaded_bytes);
	bc_json_u64(&j, "read_bytes", st->read_bytes);
	bc_json_u64(&j, "written_bytes", st->written_bytes);
	bc_json_u64(&j, "zeroed_bytes", st->zeroed_bytes);
	bc_json_u64(&j, "skipped_bytes", st->skipped_bytes);
	bc_json_u64(&j, "resume_offset", st->resume_offset);
	bc_json_double(&j, "seconds", st->seconds);
	if (st->chunk_bytes) {
		bc_json_open_object(&j, "host_io");
		bc_json_u64(&j, "chunk_bytes", st->chunk_bytes);
		bc_json_u64(&j, "workers", st->workers);
		bc_json_u64(&j, "flushes", st->flushes);
		bc_json_close_object(&j);
	} else {
		bc_json_null(&j, "host_io");
	}
	bc_json_bool(&j, "verified", verified);
	if (fb->happened) {
		bc_json_open_object(&j, "fallback");
		bc_json_string(&j, "method", bc_method_name(fb->method));
		bc_json_string(&j, "reason", fb->reason);
		bc_json_close_object(&j);
	} else {
		bc_json_null(&j, "fallback");
	}
	if (plan)
		bc_report_plan_json(&j, "plan", plan);
	else
		bc_json_null(&j, "plan");
	bc_json_close_object(&j);
	bc_json_finish(&j);
}

/*
 * A copy manager that refused the pair up front is remembered so the next
 * auto clone skips it; one that copied for it is forgotten.  The memory is
 * an optimisation: failing to write it is not an error of the copy.
 */
static void remember_outcome(const struct bc_plan *plan,
			     const struct bc_copy_stats *st,
			     const struct bc_fallback *fb,
			     const struct bc_error *e, const struct bc_caps *sc,
			     const struct bc_caps *dc)
{
	char path[4200], why[400];

	if (plan->chosen == BC_METHOD_HOST || plan->chosen == BC_METHOD_NONE ||
	    bc_refusal_path(path, sizeof(path)) < 0)
		return;
	if (st->offload_refused) {
		if (fb->happened)
			snprintf(why, sizeof(why), "%s", fb->reason);
		else
			bc_error_format(e, why, sizeof(why));
		bc_refusal_record(path, plan->chosen, sc->id.location,
				  dc->id.location, why);
	} else if (st->offloaded_bytes) {
		bc_refusal_forget(path, plan->chosen, sc->id.location,
				  dc->id.location);
	}
}

static void report_text(const char *src, const char *dst, enum bc_method used,
			const struct bc_copy_stats *st,
			const struct bc_fallback *fb, bool verified)
{
	char a[32], b[32], c[32], d[32], f[32], g[32];
	double rate = st->seconds > 0 ? (double)st->total_bytes / st->seconds : 0;

	if (fb->happened)
		printf("offload %s refused, continued on the host: %s\n",
		       bc_method_name(fb->method), fb->reason);
	printf("%s -> %s: %s copy of %s in %.2f s (%s/s)%s\n", src, dst,
	       bc_method_name(used),
	       bc_human_bytes(st->total_bytes, a, sizeof(a)), st->seconds,
	       bc_human_bytes((unsigned long long)rate, b, sizeof(b)),
	       verified ? ", verified" : "");
	printf("  offloaded %s, read %s, wrote %s, zeroed %s, skipped %s\n",
	       bc_human_bytes(st->offloaded_bytes, c, sizeof(c)),
	       bc_human_bytes(st->read_bytes, d, sizeof(d)),
	       bc_human_bytes(st->written_bytes, f, sizeof(f)),
	       bc_human_bytes(st->zeroed_bytes, g, sizeof(g)),
	       bc_human_bytes(st->skipped_bytes, a, sizeof(a)));
}

enum { OPT_OFFLOAD = 256, OPT_DEST_ZEROED, OPT_VERIFY, OPT_PROGRESS, OPT_JSON,
       OPT_RESUME, OPT_TIMEOUT };

int bc_cmd_copy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dest-zeroed", no_argument, NULL, OPT_DEST_ZEROED },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "offload", required_argument, NULL, OPT_OFFLOAD },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "resume-from", required_argument, NULL, OPT_RESUME },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ NULL, 0, NULL, 0 },
	};
	struct bc_copy_opts o = { .offload = BC_OFFLOAD_AUTO };
	struct bc_volume *src = NULL, *dst = NULL;
	const struct bc_caps *sc, *dc;
	struct bc_copy_stats st = { 0 };
	struct bc_fallback fb = { 0 };
	struct bc_progress prog;
	struct bc_plan plan;
	struct bc_error e = { 0 };
	enum bc_method used = BC_METHOD_NONE;
	bool json = false, want_progress = false, planned = false;
	bool resume = false, removed;
	uint64_t resume_lba = 0;
	int c, rc, ex = BC_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_OFFLOAD:
			if (bc_cli_parse_offload(optarg, &o.offload) < 0) {
				bc_cli_msg("--offload must be auto, require or never, not '%s'",
					   optarg);
				return BC_EXIT_REFUSED;
			}
			break;
		case OPT_DEST_ZEROED: o.dest_zeroed = true; break;
		case OPT_VERIFY: o.verify = true; break;
		case OPT_PROGRESS: want_progress = true; break;
		case OPT_JSON: json = true; break;
		case OPT_RESUME:
			if (bc_cli_parse_lba(optarg, &resume_lba) < 0) {
				bc_cli_msg("--resume-from takes an LBA (a decimal block number), not '%s'",
					   optarg);
				return BC_EXIT_REFUSED;
			}
			resume = true;
			break;
		case OPT_TIMEOUT:
			if (bc_cli_parse_seconds(optarg, &o.timeout_s) < 0) {
				bc_cli_msg("--timeout takes a number of seconds (1 or more), not '%s'",
					   optarg);
				return BC_EXIT_REFUSED;
			}
			break;
		case 'h': copy_usage(stdout); return BC_EXIT_OK;
		default: copy_usage(stderr); return BC_EXIT_REFUSED;
		}
	}
	if (argc - optind != 2) {
		bc_cli_msg("copy needs exactly two addresses, SRC and DST");
		copy_usage(stderr);
		return BC_EXIT_REFUSED;
	}
	const char *sa = argv[optind], *da = argv[optind + 1];
	char sshown[320], dshown[320];

	/* what we print never carries a secret typed into an URL */
	bc_addr_display(sa, sshown, sizeof(sshown));
	bc_addr_display(da, dshown, sizeof(dshown));

	if (same_object(sa, da)) {
		bc_error_set(&e, -EINVAL, dshown, "check",
			     "source and destination are the same volume");
		ex = BC_EXIT_REFUSED;
		goto fail;
	}
	/* The source is opened and probed (an iSCSI login, commands that
	 * may hang) before a destination file is created: interrupted
	 * there, blkclone leaves nothing behind. */
	rc = bc_volume_open(sa, 0, &src, &e);
	if (rc < 0) {
		ex = bc_cli_exit_for_refusal(rc);
		goto fail;
	}
	if ((rc = bc_volume_caps(src, &sc, &e)) < 0) {
		ex = BC_EXIT_FAILED;
		goto fail;
	}
	{
		struct stat dst_st;

		/* a file about to be created is ours to remove again */
		if (stat(da, &dst_st) < 0 && errno == ENOENT)
			stop_at_safe_points();
	}
	rc = bc_volume_open_mode(da, BC_OPEN_WRITE | BC_OPEN_CREATE,
				 bc_volume_create_mode(src), &dst, &e);
	if (rc < 0) {
		ex = bc_cli_exit_for_refusal(rc);
		goto fail;
	}
	if ((rc = bc_volume_caps(dst, &dc, &e)) < 0) {
		ex = BC_EXIT_FAILED;
		goto fail;
	}
	if ((rc = bc_copy_check(src, dst, &e)) < 0) {
		ex = BC_EXIT_REFUSED;
		goto fail;
	}
	if (resume) {
		/* Resuming is a host copy: an in-array method would redo or
		 * skip ranges the first run handled differently. */
		if (resume_lba > src->size / src->block_size ||
		    o.offload == BC_OFFLOAD_REQUIRE) {
			bc_error_set(&e, -EINVAL, sshown, "check",
				     o.offload == BC_OFFLOAD_REQUIRE ?
				     "--resume-from continues a host copy; it cannot be combined with --offload=require" :
				     "--resume-from LBA %" PRIu64 " is beyond the end of the source",
				     resume_lba);
			ex = BC_EXIT_REFUSED;
			goto fail;
		}
		o.start = resume_lba * src->block_size;
		o.offload = BC_OFFLOAD_NEVER;
	}
	bc_plan_make(sc, dc, o.offload, dst->created, o.dest_zeroed, &plan);
	planned = true;
	if ((rc = bc_refusal_apply(&plan, o.offload, sc, dc, dshown, &e)) < 0) {
		ex = BC_EXIT_REFUSED;
		goto fail;
	}
	if (plan.chosen == BC_METHOD_NONE) {
		char why[600] = "";
		size_t n = 0;

		for (size_t i = 0; i < plan.n && n < sizeof(why); i++)
			if (plan.steps[i].method != BC_METHOD_HOST)
				n += (size_t)snprintf(why + n, sizeof(why) - n,
						      "%s%s: %s", n ? "; " : "",
						      bc_method_name(plan.steps[i].method),
						      plan.steps[i].reason);
		bc_error_set(&e, -EOPNOTSUPP, dshown, "plan",
			     "offload required but unavailable: %s", why);
		ex = BC_EXIT_NO_OFFLOAD;
		goto fail;
	}

	stop_at_safe_points();
	o.cancel = &interrupted;
	if (want_progress) {
		bc_progress_init(&prog, stderr);
		o.progress = bc_progress_cb;
		o.progress_arg = &prog;
	}
	rc = bc_copy_run(src, dst, &plan, &o, &st, &used, &fb, &e);
	remember_outcome(&plan, &st, &fb, &e, sc, dc);
	if (want_progress)
		bc_progress_end(&prog);
	if (rc < 0) {
		bool untouched = !st.dest_modified && !st.offloaded_bytes &&
				 !st.written_bytes &&
				 !st.zeroed_bytes;

		/* exit 3 says "refused, the host may copy"; a stop on
		 * request or out of time says nothing of the kind */
		if (o.offload == BC_OFFLOAD_REQUIRE && untouched &&
		    rc != -EINTR && rc != -ETIME)
			ex = BC_EXIT_NO_OFFLOAD;
		else
			ex = BC_EXIT_FAILED;
		goto fail;
	}
	if (json)
		report_json(sshown, dshown, 0, &e, used, &plan, &st, &fb, o.verify);
	else
		report_text(sshown, dshown, used, &st, &fb, o.verify);
	bc_volume_close(dst);
	bc_volume_close(src);
	return BC_EXIT_OK;

fail:
	/* A file we created and never wrote is not left behind. */
	removed = dst && dst->created && !st.written_bytes &&
		  !st.offloaded_bytes && !st.zeroed_bytes &&
		  bc_volume_unlink_created(dst) == 0;
	bc_cli_error(&e);
	if (ex == BC_EXIT_NO_OFFLOAD && planned && plan.chosen != BC_METHOD_NONE)
		bc_cli_msg("%s was refused before anything was written: the destination is untouched (--offload=require: no host copy)",
			   bc_method_name(plan.chosen));
	if (ex == BC_EXIT_FAILED && removed)
		bc_cli_msg("nothing was written: %s, which this copy had created, was removed",
			   dshown);
	else if (ex == BC_EXIT_FAILED && st.resume_offset < st.total_bytes &&
		 st.total_bytes)
		bc_cli_msg("stopped at byte %" PRIu64 " of %" PRIu64
			   "; the destination is incomplete: continue with --resume-from=%" PRIu64,
			   st.resume_offset, st.total_bytes,
			   st.resume_offset / (src ? src->block_size : 512));
	else if (ex == BC_EXIT_FAILED && st.total_bytes &&
		 st.resume_offset >= st.total_bytes)
		/* a failed flush or read-back must not read as a half-done copy */
		bc_cli_msg("every block was written before this failure (in the final flush or --verify): nothing to resume; copy again with --verify to be sure of the data");
	if (json)
		report_json(sshown, dshown, -1, &e, used,
			    planned ? &plan : NULL, &st, &fb, false);
	bc_volume_close(dst);
	bc_volume_close(src);
	return ex;
}
