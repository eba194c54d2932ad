// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * blkclone copy --to=DST ... SRC: one source onto several destinations in
 * this process (template fan-out, as job start --to does in a job's).
 *
 * Every destination is opened, checked (against the source by
 * bc_clone_open, against each other by bc_clone_check_dests) and planned
 * before anything is written, and the first refusal ends the command with
 * nothing written to any of them.  Then the sessions that copy on the
 * host from one source run as one fan-out (bc_clone_run_fanout: each
 * source extent read once, written to each destination); one planned as
 * an in-array copy runs alone, one command per destination.
 *
 * A destination that fails is its own failure: the others complete (seven
 * good clones and one to resume, not eight to redo), each reported with
 * its own outcome and resume offset; a failure of what all share (a
 * source read, a stop asked for, the deadline) stops every one still
 * going, each with its resume offset.  The exit code is the first failing
 * destination's, in the order given.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/copy-fanout.h"

/* The addresses said are the result's: a secret typed into an URL is
 * shown as "***", never echoed from the command line. */
static void report_failure(size_t i, const struct bc_clone_result *r)
{
	bc_cli_msg("destination %zu (%s) failed:", i + 1, r->destination);
	bc_report_copy_failure(r);
	if (r->hint == BC_CLONE_HINT_RESUME)
		bc_cli_msg("to finish it alone: blkclone copy --resume-from=%" PRIu64 " %s %s",
			   r->resume_lba, r->source, r->destination);
}

/* The pair object of job status (doc/json-schema.md), from a session. */
static void pair_json(struct bc_json *j, const struct bc_clone_result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ex = bc_cli_exit_for_clone(r);
	uint64_t resume = ex ? r->stats.resume_offset : r->source_size;
	uint32_t bs = r->source_block_size ? r->source_block_size : 1;

	bc_json_open_object(j, NULL);
	bc_json_string(j, "source", r->source);
	bc_json_string(j, "destination", r->destination);
	bc_json_string(j, "method", r->used != BC_METHOD_NONE ? bc_method_name(r->used) :
		       r->planned ? bc_method_name(r->plan.chosen) : NULL);
	bc_json_string(j, "consistency", r->consistency == BC_CONSISTENCY_NONE ? NULL :
		       bc_consistency_name(r->consistency));
	bc_json_u64(j, "bytes_done", ex ? r->stats.done_bytes : r->source_size);
	bc_json_u64(j, "bytes_total", r->source_size);
	bc_json_u64(j, "resume_offset", resume);
	bc_json_u64(j, "resume_lba", ex && r->hint == BC_CLONE_HINT_RESUME ?
		    r->resume_lba : resume / bs);
	bc_json_u64(j, "exit_code", (uint64_t)ex);
	if (f) {
		bc_report_copy_json(f, r);
		fclose(f);
	}
	if (buf)
		bc_json_raw(j, "report", buf);
	else
		bc_json_null(j, "report");
	free(buf);
	bc_json_close_object(j);
}

static void report_json(struct bc_clone *const *cl, size_t n, int ex)
{
	struct bc_json j;

	bc_json_init(&j, stdout, true);
	bc_json_open_object(&j, NULL);
	bc_json_u64(&j, "schema", 1);
	bc_json_string(&j, "source", n ? bc_clone_result(cl[0])->source : NULL);
	bc_json_string(&j, "status", ex ? "failed" : "ok");
	bc_json_u64(&j, "exit_code", (uint64_t)ex);
	bc_json_open_array(&j, "pairs");
	for (size_t i = 0; i < n; i++)
		pair_json(&j, bc_clone_result(cl[i]));
	bc_json_close_array(&j);
	bc_json_close_object(&j);
	bc_json_finish(&j);
}

/* A refusal before anything ran: said, every session closed (a file one
 * created is removed), the exit code. */
static int refused(struct bc_clone **cl, size_t n, size_t bad, bool json)
{
	const struct bc_clone_result *r = bc_clone_result(cl[bad]);
	int ex = bc_cli_exit_for_clone(r);

	if (!ex)
		ex = BC_EXIT_FAILED;
	bc_cli_msg("destination %zu (%s) refused: nothing was written to any destination",
		   bad + 1, r->destination);
	bc_report_copy_failure(r);
	if (json)
		report_json(cl, n, ex);
	for (size_t i = n; i-- > 0;)
		bc_clone_close(cl[i]);
	return ex;
}

/* A session's bc_clone_start failed: no copy runs.  A start may have
 * written (a reflink clones its extents there): each says its own. */
static int not_started(struct bc_clone **cl, size_t n, size_t bad, bool json)
{
	const struct bc_clone_result *r = bc_clone_result(cl[bad]);
	int ex = bc_cli_exit_for_clone(r);

	if (!ex)
		ex = BC_EXIT_FAILED;
	bc_cli_msg("destination %zu (%s) could not start: no copy ran", bad + 1,
		   r->destination);
	bc_report_copy_failure(r);
	for (size_t i = 0; i < bad; i++)
		if (bc_clone_result(cl[i])->dest_touched)
			bc_cli_msg("destination %zu (%s) was written while starting: copy it again",
				   i + 1, bc_clone_result(cl[i])->destination);
	if (json)
		report_json(cl, n, ex);
	for (size_t i = n; i-- > 0;)
		bc_clone_close(cl[i]);
	return ex;
}

static int run_all(struct bc_clone **cl, size_t n)
{
	size_t *group = calloc(n, sizeof(*group));

	if (!group) {
		bc_cli_msg("no memory for %zu destinations", n);
		return -1;
	}
	bc_clone_fanout_groups(cl, n, group);
	for (size_t lead = 0; lead < n; lead++) {
		struct bc_clone *g[BC_COPY_MAX_TO];
		size_t m = 0;

		if (group[lead] != lead)
			continue;
		for (size_t k = lead; k < n; k++)
			if (group[k] == lead)
				g[m++] = cl[k];
		if (m > 1)
			bc_cli_msg("%zu destinations share the source: read once, written %zu times",
				   m, m);
		/* each session's result says how it ended; every group runs
		 * (a stop asked for ends each at once, nothing written) */
		if (m > 1)
			bc_clone_run_fanout(g, m, &(struct bc_error){ 0 });
		else
			bc_clone_run(g[0], &(struct bc_error){ 0 });
	}
	free(group);
	return 0;
}

int bc_copy_fanout(const char *src, const char *const *dst, size_t n,
		   const struct bc_clone_opts *o, bool json)
{
	struct bc_clone *cl[BC_COPY_MAX_TO] = { NULL };
	struct bc_error e = { 0 };
	size_t a = 0, b = 0;
	int ex = BC_EXIT_OK;

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < i; k++)
			if (!strcmp(dst[k], dst[i])) {
				bc_cli_msg("--to: destination %zu is destination %zu again: each is written once",
					   i + 1, k + 1);
				for (size_t c = i; c-- > 0;)
					bc_clone_close(cl[c]);
				return BC_EXIT_REFUSED;
			}
		bc_clone_open(src, dst[i], o, &cl[i], &e);
		if (!cl[i]) {
			bc_cli_error(&e);
			for (size_t c = i; c-- > 0;)
				bc_clone_close(cl[c]);
			return BC_EXIT_FAILED;
		}
		/* our own lock on a destination already open, under
		 * another name: say which, not "in use" */
		if (bc_clone_result(cl[i])->error.err == -EBUSY &&
		    bc_clone_dest_clash(cl, i, dst[i], NULL, &e) < 0) {
			bc_cli_error(&e);
			bc_cli_msg("nothing was written to any destination");
			for (size_t c = i + 1; c-- > 0;)
				bc_clone_close(cl[c]);
			return BC_EXIT_REFUSED;
		}
		if (bc_clone_result(cl[i])->outcome != BC_CLONE_OK)
			return refused(cl, i + 1, i, json);
	}
	if (bc_clone_check_dests(cl, n, &a, &b, &e) < 0) {
		bc_cli_error(&e);
		bc_cli_msg("nothing was written to any destination");
		for (size_t i = n; i-- > 0;)
			bc_clone_close(cl[i]);
		return BC_EXIT_REFUSED;
	}
	for (size_t i = 0; i < n; i++)
		if (bc_clone_plan(cl[i], &e) < 0)
			return refused(cl, n, i, json);
	/* each point in time fixed before any copy runs, as a job does */
	for (size_t i = 0; i < n; i++)
		if (bc_clone_start(cl[i], &e) < 0)
			return not_started(cl, n, i, json);
	if (o->before_create)	/* from here a stop is asked, not forced */
		o->before_create(o->before_create_arg);
	if (run_all(cl, n) < 0)
		ex = BC_EXIT_FAILED;
	for (size_t i = 0; i < n; i++) {
		const struct bc_clone_result *r = bc_clone_result(cl[i]);
		int pex = bc_cli_exit_for_clone(r);

		if (pex && !ex)
			ex = pex;
		if (pex)
			report_failure(i, r);
		else if (!json)
			bc_report_copy_text(stdout, r);
	}
	if (!json && n > 1) {
		size_t ok = 0;

		for (size_t i = 0; i < n; i++)
			ok += bc_cli_exit_for_clone(bc_clone_result(cl[i])) == 0;
		printf("%zu of %zu destinations done%s\n", ok, n,
		       ok == n ? "" : "; the others failed (above)");
	}
	if (json)
		report_json(cl, n, ex);
	for (size_t i = n; i-- > 0;)
		bc_clone_close(cl[i]);
	return ex;
}
