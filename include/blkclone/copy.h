/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cloning one volume onto another: the planner's choice of method, the
 * policy for offload, and what a copy reports.
 */
#ifndef BLKCLONE_COPY_H
#define BLKCLONE_COPY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <blkclone/volume.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bc_offload_policy {
	BC_OFFLOAD_AUTO = 0,	/* in-array if possible, host for the rest */
	BC_OFFLOAD_REQUIRE,	/* in-array or fail; never fall back */
	BC_OFFLOAD_NEVER,	/* host copy only */
};

/*
 * When the destination is asked to make the copy durable (SYNCHRONIZE
 * CACHE, fsync).  END, the default: before the copy reports success every
 * byte written is on stable storage; the host copy may also flush along
 * the way (write-behind), which bounds the destination's dirty cache and
 * gives a failed flush a known-durable point to resume from, and promises
 * nothing more.  NEVER: no flush of the destination at all, for a caller
 * that flushes itself (a power cut before that may lose any of the copy).
 */
enum bc_flush_policy {
	BC_FLUSH_END = 0,
	BC_FLUSH_NEVER,
};

const char *bc_flush_policy_name(enum bc_flush_policy p);

struct bc_copy_stats {
	uint64_t total_bytes;		/* the source size */
	uint64_t offloaded_bytes;	/* copied inside the storage */
	uint64_t read_bytes;		/* read from the source by the host */
	uint64_t written_bytes;		/* data written to the destination */
	uint64_t zeroed_bytes;		/* made zero by a zeroing command */
	uint64_t skipped_bytes;		/* holes left alone: proven zero */
	uint64_t done_bytes;		/* progress: source bytes dealt with */
	uint64_t resume_offset;		/* on failure: first byte not copied */
	/* while running: every byte below is on the destination's stable
	 * storage (a flush that succeeded came after it was written), so a
	 * copy whose process died may resume here; the start until then.
	 * A progress report follows each advance. */
	uint64_t durable_offset;
	/* the host copy's I/O shape (0 when no host copy ran) */
	uint32_t chunk_bytes;		/* bytes per read */
	uint32_t workers;		/* reads and writes in flight at most */
	uint32_t flushes;		/* destination flushes before the last */
	uint32_t immed_flushes;		/* of those, answered early (IMMED) */
	uint32_t depth;			/* chunks in flight the host copy
					 * settled on last (<= workers) */
	uint64_t write_behind;		/* bytes between flushes, last */
	uint32_t dest_flushes;		/* destination flushes that succeeded,
					 * the last included */
	/* bytes written, zeroed or copied onto the destination since its
	 * last flush that succeeded (all of them under BC_FLUSH_NEVER) */
	uint64_t unflushed_bytes;
	/* a command that may have written the destination was sent (a
	 * failed copy command can leave part of its range written) */
	bool dest_modified;
	/* the copy manager refused this pair before anything was sent that
	 * could write: a property of the pair, worth remembering */
	bool offload_refused;
	double seconds;
};

typedef void (*bc_progress_fn)(const struct bc_copy_stats *st, void *arg);

/* A copy's content fixed before it runs (bc_copy_fix): opaque. */
struct bc_fixed;

/* The most commands a host copy keeps in flight (bc_copy_opts.depth). */
#define BC_COPY_MAX_DEPTH 16

struct bc_copy_opts {
	enum bc_offload_policy offload;
	bool dest_zeroed;	/* the caller vouches the destination reads zero */
	bool verify;		/* read both back and compare */
	uint64_t start;		/* byte offset to start from (resume) */
	uint32_t chunk;		/* host I/O size in bytes, 0 = default */
	/* host copy: chunks in flight at most (the controller moves the
	 * depth below it, never above), 0 = every worker the volumes
	 * allow; with depth_fixed, exactly this many on as many workers
	 * (the fan-out, which has no controller, runs this many workers
	 * either way).  Like chunk and write_behind, for callers that know
	 * their storage, and for comparing the controller with a fixed
	 * shape. */
	uint32_t depth;
	bool depth_fixed;
	/* host copy: flush the destination every this many bytes written,
	 * 0 = default (128 MiB) */
	uint64_t write_behind;
	enum bc_flush_policy flush;
	bc_progress_fn progress;
	void *progress_arg;
	volatile sig_atomic_t *cancel;	/* set non-zero to stop early */
	/* when the copy must be over: bc_copy_run sets it from timeout_s
	 * for all its parts (offload, host copy, verify); a caller of one
	 * part alone may set it, 0 = none */
	struct bc_deadline deadline;
	/* stop the whole copy (with -ETIME) once it has run this many
	 * seconds, verify included; 0 = no limit.  Checked between commands
	 * and while polling the storage: one command's own timeout comes on
	 * top. */
	unsigned timeout_s;
	/* the content bc_copy_fix fixed, from its start offset on, for the
	 * method it was fixed for: the offload writes that, never what the
	 * source holds by then, and no host copy follows a failure (it
	 * would copy a later state).  NULL: the copy reads the source as it
	 * goes (bulk). */
	const struct bc_fixed *fixed;
};

/* What the clone's content is a copy of (bc_clone_start). */
enum bc_consistency {
	BC_CONSISTENCY_NONE = 0,	/* not started; a step not usable */
	/* the copy reads the source until it ends: the source must stay
	 * still (or be mirrored) until then (EXTENDED COPY, NVMe Copy, a
	 * host copy) */
	BC_CONSISTENCY_BULK,
	/* the content was fixed when bc_clone_start returned: the source
	 * may change afterwards (token copy with every token populated at
	 * start) */
	BC_CONSISTENCY_ATOMIC,
};

const char *bc_consistency_name(enum bc_consistency c);

/* Why a method was or was not chosen, and the point in time it gives
 * a clone session (bc_clone_start; NONE when not usable). */
struct bc_plan_step {
	enum bc_method method;
	bool usable;
	char reason[240];
	enum bc_consistency consistency;
	char consistency_reason[240];
};

#define BC_PLAN_MAX 6

struct bc_plan {
	size_t n;
	struct bc_plan_step steps[BC_PLAN_MAX];	/* every method, best first */
	enum bc_method chosen;			/* first usable, or NONE */
	/* the chosen step's point in time and why */
	enum bc_consistency consistency;
	char consistency_reason[240];
	bool dest_proven_zero;			/* holes may be skipped */
	char dest_zero_reason[200];
	/* what the chosen method will do that a user should know, e.g. a
	 * copy manager without the source's map allocates everything */
	char note[240];
	/* how the volumes were identified: on one unit or not, and by
	 * which name; says so when one was known only by the path it was
	 * reached on (src/volume/identity.h) */
	char identity[800];
};

/*
 * Pure: from the two volumes' capabilities and the policy, the methods in
 * order of preference with a reason for each.  Same-volume, size and
 * block-size checks are bc_copy_check()'s job, not the planner's.
 */
void bc_plan_make(const struct bc_caps *src, const struct bc_caps *dst,
		  enum bc_offload_policy policy, bool dest_created,
		  bool dest_zeroed, struct bc_plan *out);

/*
 * Pure: mark @method unusable because the target refused it for this pair
 * before (@why, from the refusal memory), and choose again.  Under
 * --offload=require the step stays usable (the target may have changed)
 * and only the reason says so.
 */
void bc_plan_known_refusal(struct bc_plan *p, enum bc_method method,
			   enum bc_offload_policy policy, const char *why);

/*
 * Pure: mark @method unusable because the storage refused it when the
 * copy was started (bc_clone_start could not fix its point in time,
 * @why), and choose again, whatever the policy: nothing was written.
 */
void bc_plan_refused_at_start(struct bc_plan *p, enum bc_method method,
			      const char *why);

/* Refusals before any write; -EINVAL/-EXDEV etc. with a reason in @e. */
int bc_copy_check(struct bc_volume *src, struct bc_volume *dst,
		  struct bc_error *e);

/*
 * Copy @src onto @dst following @plan.  Fills @st also on failure.  On an
 * offload refusal under BC_OFFLOAD_AUTO the host copy continues from the
 * first byte not copied; the refusal is recorded in @fallback.
 */
struct bc_fallback {
	bool happened;
	enum bc_method method;
	char reason[320];
};

int bc_copy_run(struct bc_volume *src, struct bc_volume *dst,
		const struct bc_plan *plan, const struct bc_copy_opts *o,
		struct bc_copy_stats *st, enum bc_method *used,
		struct bc_fallback *fb, struct bc_error *e);

/* The host copy engine alone, from o->start to the end of the source. */
int bc_host_copy(struct bc_volume *src, struct bc_volume *dst,
		 bool dest_proven_zero, const struct bc_copy_opts *o,
		 struct bc_copy_stats *st, struct bc_error *e);

/*
 * An in-array copy with @method from o->start to the end: the source's
 * allocated extents go to the backend's offload_copy, its holes are
 * settled on the destination (skipped only where proven zero).  On
 * failure st->resume_offset is the first byte not done.
 */
int bc_offload_copy(struct bc_volume *src, struct bc_volume *dst,
		    enum bc_method method, bool dest_proven_zero,
		    const struct bc_copy_opts *o, struct bc_copy_stats *st,
		    struct bc_error *e);

/*
 * Fix now the content of @src from o->start to its end for a copy with
 * @method onto @dst, writing nothing (but a reflink's clones, which are
 * the copy's data, see bc_volume_ops.capture): the source's map is read
 * and kept, and the backend holds every extent that is not a hole known to read
 * zero (bc_volume_ops.capture: a token copy populates point-in-time ROD
 * tokens).  Pass the result as o->fixed to bc_copy_run.  @said says what
 * was asked of the storage.  -EOPNOTSUPP when @method cannot; a refusal
 * of the storage as for a copy, nothing written.
 */
int bc_copy_fix(struct bc_volume *src, struct bc_volume *dst,
		enum bc_method method, const struct bc_copy_opts *o,
		struct bc_fixed **out, char *said, size_t said_len,
		struct bc_error *e);
/* Release what it holds; NULL is fine.  Before closing its source. */
void bc_fixed_free(struct bc_fixed *f);

/* Compare the two volumes over the source's size; -EILSEQ on mismatch
 * with the first differing LBA in @e. */
int bc_verify(struct bc_volume *src, struct bc_volume *dst,
	      const struct bc_copy_opts *o, struct bc_error *e);

#ifdef __cplusplus
}
#endif
#endif
