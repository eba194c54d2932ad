/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A clone session: what "blkclone copy" decides between two addresses and
 * its exit code, for any program that links the library.
 *
 *	bc_clone_open	same-object check, source, destination (a file is
 *			created), bc_copy_check
 *	bc_clone_plan	the resume rule, the plan, the refusal memory
 *	bc_clone_start	fix the copy's point in time (optional: run does
 *			it when it was not called)
 *	bc_clone_run	the copy; the refusal memory learns from it
 *	bc_clone_result	what happened, as data: outcome, stats, plan, hint
 *	bc_clone_close	closes; a created file never written is removed
 *
 * Each step returns 0 or -errno with the reason in @e.  After a failure
 * the later steps do nothing and return the same error again (and copy it
 * into @e), so a caller may run them all and look at the result once.  A
 * failure removes a destination file the session created and nothing
 * wrote; the result says so.  Nothing here prints.
 */
#ifndef BLKCLONE_CLONE_H
#define BLKCLONE_CLONE_H

#include <stdbool.h>
#include <stdint.h>

#include <blkclone/copy.h>
#include <blkclone/error.h>
#include <blkclone/volume.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bc_clone_opts {
	/* policy, verify, timeout, progress; copy.cancel, when set, stops
	 * the run at its next safe point.  copy.start is the session's:
	 * see resume. */
	struct bc_copy_opts copy;
	/* continue an interrupted host copy from @resume_lba (in the
	 * source's blocks): a host copy, refused with BC_OFFLOAD_REQUIRE
	 * and beyond the source's end */
	bool resume;
	uint64_t resume_lba;
	/* neither consult nor update the refusal memory (src/core/refusals.h):
	 * a simulator, a test, a caller that keeps its own */
	bool no_refusal_memory;
	/* Called once, just before bc_clone_open creates a destination file
	 * (when the destination address names nothing yet): from there on a
	 * stop is best asked for through copy.cancel, so the file is removed
	 * again, not left behind by a killed process.  May be NULL. */
	void (*before_create)(void *arg);
	void *before_create_arg;
};

enum bc_clone_outcome {
	BC_CLONE_OK = 0,	/* done, or no step has failed yet */
	BC_CLONE_REFUSED,	/* refused before anything was written */
	/* offload required, but unavailable or refused: the destination is
	 * untouched and a host copy may still do it */
	BC_CLONE_NO_OFFLOAD,
	BC_CLONE_FAILED,	/* failed while opening or running */
};

/* What to tell after a failure, beside the error itself. */
enum bc_clone_hint {
	BC_CLONE_HINT_NONE = 0,
	/* plan.chosen was refused before anything was written (offload
	 * required: no host copy) */
	BC_CLONE_HINT_UNTOUCHED,
	/* nothing was written; the file this session created was removed */
	BC_CLONE_HINT_REMOVED,
	/* the destination is incomplete: stats.resume_offset is the first
	 * byte not copied, resume_lba the same in the source's blocks */
	BC_CLONE_HINT_RESUME,
	/* every block was written before the failure (in the final flush or
	 * the verify): nothing to resume, only to copy again */
	BC_CLONE_HINT_ALL_WRITTEN,
};

struct bc_clone_result {
	enum bc_clone_outcome outcome;
	struct bc_error error;		/* the failure; err 0 when none */
	/* the addresses for messages and reports: a secret typed into an
	 * URL is shown as "***" */
	char source[320];
	char destination[320];
	/* the source's, once opened (0 before): what a caller shows as
	 * the work to do before the run has counted anything */
	uint64_t source_size;
	uint32_t source_block_size;
	bool planned;			/* @plan holds the plan */
	struct bc_plan plan;
	enum bc_method used;		/* NONE until the run chose one */
	struct bc_fallback fallback;
	struct bc_copy_stats stats;	/* zero until the run */
	enum bc_flush_policy flush;	/* the run's (o.copy.flush) */
	bool verified;			/* done, and read back equal */
	bool dest_created;		/* the session created the file */
	/* something was or may have been written to the destination */
	bool dest_touched;
	bool dest_removed;		/* created, never written, removed */
	enum bc_clone_hint hint;
	uint64_t resume_lba;		/* with BC_CLONE_HINT_RESUME */
	/* from bc_clone_start (enum in copy.h): what the clone's content
	 * is a copy of, why, and what was asked of the storage for it */
	enum bc_consistency consistency;
	char consistency_reason[400];
	/* bc_clone_run_fanout: how many destinations shared this copy's
	 * source reads (this one included); 0 when it ran alone */
	unsigned fanout;
};

struct bc_clone;

/*
 * Open @src for reading and @dst for writing, creating a missing file
 * (with bc_volume_create_mode of the source), and refuse what must be
 * refused before any write.  @o is copied.  As with sqlite3_open, *out is
 * set also on failure (NULL only without memory): read its result, then
 * close it.
 */
int bc_clone_open(const char *src, const char *dst,
		  const struct bc_clone_opts *o, struct bc_clone **out,
		  struct bc_error *e);

/*
 * A session over two volumes the caller opened (a simulator's, or a
 * probe's opened read-only): they are the session's from here, closed by
 * bc_clone_close, also when this fails.  Nothing is checked: call
 * bc_copy_check first where a copy will run.  @src_name and @dst_name
 * name them in messages (NULL: the volumes' own names).
 */
int bc_clone_attach(struct bc_volume *src, struct bc_volume *dst,
		    const char *src_name, const char *dst_name,
		    const struct bc_clone_opts *o, struct bc_clone **out,
		    struct bc_error *e);

/*
 * The resume rule, then the plan (bc_plan_make) with what the refusal
 * memory knows of the pair.  Fails with BC_CLONE_NO_OFFLOAD when no
 * method is left (offload required); the plan is in the result either way.
 */
int bc_clone_plan(struct bc_clone *c, struct bc_error *e);

/*
 * Fix the point in time the clone will hold, for the method planned, and
 * say which kind it is (result.consistency, with the reason and what was
 * asked of the storage; the plan says it per method beforehand).  Token
 * copy: every extent's point-in-time ROD token is populated here, held
 * in memory, and the run only writes them; a refusal (ROD type, no room
 * for the tokens) fails here with nothing written, or under
 * --offload=auto moves the plan on (result.fallback).  Reflink: every
 * data extent is cloned onto the destination here, the run settles the
 * holes; a clone refused before any other moves on as a token refusal
 * does; one refused later (the clones punched again, dest_touched) fails
 * under --offload=require, and under auto moves on with the destination
 * no longer proven zero.  After 0 a
 * BC_CONSISTENCY_ATOMIC clone no longer depends on the source; a
 * BC_CONSISTENCY_BULK one reads the source until bc_clone_run ends.  A
 * caller that freezes a guest calls this for every disk, then thaws.
 * -EINVAL before bc_clone_plan.
 */
int bc_clone_start(struct bc_clone *c, struct bc_error *e);

/* Copy as planned (bc_copy_run), then tell the refusal memory whether
 * the chosen method was refused for this pair or worked.  -EINVAL, the
 * session left as it was, before bc_clone_plan. */
int bc_clone_run(struct bc_clone *c, struct bc_error *e);

/*
 * Template fan-out.  Which of @n planned sessions can share their source
 * reads: @group[i] is the index of the first session of i's group
 * (group[i] == i for a leader and for one alone).  Sessions join when
 * their sources are the same bytes of one unit by the identity the copy
 * check computes (not by the address typed), both are planned as host
 * copies and both start at the same offset; an in-array copy reads
 * nothing through the host and runs alone, one command per pair.
 * Returns how many sessions share a read with another.
 */
size_t bc_clone_fanout_groups(struct bc_clone *const *c, size_t n,
			      size_t *group);

/*
 * Run @n sessions of one group (bc_clone_fanout_groups) as one host copy:
 * each source extent is read once and written to every destination, each
 * destination's holes settled by its own rule, with one bounded buffer
 * pool whatever @n.  Each session's result is its own (stats, outcome,
 * resume offset, result.fanout = @n), as after bc_clone_run.  A
 * destination that fails fails its session and the others go on; a
 * source read, a stop asked for or the deadline fails all.  The first
 * session's copy options (start, cancel, timeout, chunk, write-behind)
 * are the run's; each session keeps its own progress callback and
 * verify.  Returns 0 when every session succeeded, else the first
 * failure (in @e); -EINVAL (nothing run) when they are not one group.
 */
int bc_clone_run_fanout(struct bc_clone *const *c, size_t n,
			struct bc_error *e);

/*
 * Several sessions of one source onto several destinations (a fan-out):
 * no two destinations may be one volume or overlap (the copy check's
 * rule, bc_copy_check, between destinations), or one copy would write
 * over the other's bytes.  Call after bc_clone_open of each and before
 * anything runs.  0, or -EINVAL naming both (a refusal: nothing was
 * written); *first and *second (may be NULL) are their indexes.
 */
int bc_clone_check_dests(struct bc_clone *const *c, size_t n, size_t *first,
			 size_t *second, struct bc_error *e);

/*
 * Why @dst, the destination of session @n of a fan-out, could not be
 * opened for writing (-EBUSY: its lock is held): it may be one of the
 * @n sessions' destinations already open (another name for it, a window
 * overlapping it), whose lock this process holds.  @dst is opened
 * read-only to tell: -EINVAL naming both (*which the other's index) when
 * so, else 0 (held by someone else, or not to be opened).
 */
int bc_clone_dest_clash(struct bc_clone *const *c, size_t n, const char *dst,
			size_t *which, struct bc_error *e);

/*
 * The same for a job's pairs across roles: @name, pair @n's source
 * (@is_src) or destination, whose lock was held, may be what one of the
 * @n sessions already open writes (for a source) or reads or writes (for
 * a destination): a job would read a volume while it writes it.  -EINVAL
 * naming both pairs (*which the other's index) when so, else 0.
 */
int bc_clone_pair_clash(struct bc_clone *const *c, size_t n, const char *name,
			bool is_src, size_t *which, struct bc_error *e);

/*
 * A job's pairs, all open: no pair may read a volume that another pair
 * writes (one volume, or overlapping windows of one LU, under any
 * names).  Pairs are started together (their points in time fixed at
 * once) and run one group after another, so a chain A->B, B->C would
 * copy an old B, a half-written B or the new one, depending on methods
 * and timing: refused.  0, or -EINVAL naming both pairs (nothing run).
 */
int bc_clone_check_pairs(struct bc_clone *const *c, size_t n,
			 struct bc_error *e);

/* Valid until bc_clone_close. */
const struct bc_clone_result *bc_clone_result(const struct bc_clone *c);

/* Close both volumes (the destination first); a file the session created
 * and nothing wrote is removed unless the run succeeded.  NULL is fine. */
void bc_clone_close(struct bc_clone *c);

#ifdef __cplusplus
}
#endif
#endif
