// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The clone session (include/blkclone/clone.h): the order in which a copy
 * opens, checks, plans and runs, and what a failure means for the caller:
 * refused, offload unavailable with the destination untouched, or failed,
 * and what is left to say after it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <blkclone/clone.h>

#include "core/clone-priv.h"
#include "core/refusals.h"
#include "volume/address.h"

static struct bc_clone *session_new(const struct bc_clone_opts *o)
{
	struct bc_clone *c = calloc(1, sizeof(*c));

	if (c && o) {
		c->o = *o;
		c->r.flush = o->copy.flush;
	}
	return c;
}

static bool nothing_written(const struct bc_copy_stats *st)
{
	return !st->written_bytes && !st->offloaded_bytes && !st->zeroed_bytes;
}

/* A file this session created and never wrote is not left behind. */
static bool remove_unwritten(struct bc_clone *c)
{
	return c->dst && c->dst->created && nothing_written(&c->r.stats) &&
	       bc_volume_unlink_created(c->dst) == 0;
}

/* What is left to say after the failure, beside the error itself. */
static void set_hint(struct bc_clone_result *r, uint32_t block_size)
{
	const struct bc_copy_stats *st = &r->stats;

	if (r->outcome == BC_CLONE_NO_OFFLOAD && r->planned &&
	    r->plan.chosen != BC_METHOD_NONE) {
		r->hint = BC_CLONE_HINT_UNTOUCHED;
	} else if (r->outcome != BC_CLONE_FAILED) {
		r->hint = BC_CLONE_HINT_NONE;
	} else if (r->dest_removed) {
		r->hint = BC_CLONE_HINT_REMOVED;
	} else if (st->total_bytes && st->resume_offset < st->total_bytes) {
		r->hint = BC_CLONE_HINT_RESUME;
		r->resume_lba = st->resume_offset / (block_size ? block_size : 512);
	} else if (st->total_bytes) {
		/* a failed flush or read-back must not read as a half-done copy */
		r->hint = BC_CLONE_HINT_ALL_WRITTEN;
	}
}

/* Record a failure of class @oc; returns @rc. */
static int fail(struct bc_clone *c, enum bc_clone_outcome oc, int rc,
		const struct bc_error *e)
{
	struct bc_clone_result *r = &c->r;

	r->outcome = oc;
	r->error = *e;
	if (!r->error.err)
		r->error.err = rc;
	r->dest_removed = remove_unwritten(c);
	set_hint(r, c->src ? c->src->block_size : 0);
	return rc;
}

/* A step after a failure: the same error again. */
static int again(const struct bc_clone *c, struct bc_error *e)
{
	*e = c->r.error;
	return c->r.error.err ? c->r.error.err : -EINVAL;
}

/* A step that needs the plan: 1 to go on; else what to return (the
 * earlier failure again, or -EINVAL when called before bc_clone_plan). */
static int after_plan(const struct bc_clone *c, const char *op,
		      const char *fn, struct bc_error *e)
{
	if (c->r.outcome != BC_CLONE_OK)
		return again(c, e);
	if (!c->r.planned)
		return bc_error_set(e, -EINVAL, c->r.destination, op,
				    "%s before bc_clone_plan", fn);
	return 1;
}

static enum bc_clone_outcome open_outcome(int rc)
{
	return bc_error_is_refusal(rc) ? BC_CLONE_REFUSED : BC_CLONE_FAILED;
}

/* Two paths naming one object would otherwise trip over our own lock. */
bool bc_clone_same_object(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void before_create(const struct bc_clone_opts *o, const char *dst)
{
	struct stat st;

	/* a file about to be created is ours to remove again */
	if (o->before_create && stat(dst, &st) < 0 && errno == ENOENT)
		o->before_create(o->before_create_arg);
}

int bc_clone_open(const char *src, const char *dst,
		  const struct bc_clone_opts *o, struct bc_clone **out,
		  struct bc_error *e)
{
	struct bc_error scratch = { 0 };
	struct bc_clone *c;
	struct bc_clone_result *r;
	int rc;

	if (!e)
		e = &scratch;
	*out = c = session_new(o);
	if (!c)
		return bc_error_set(e, -ENOMEM, NULL, "clone", NULL);
	r = &c->r;
	/* what we say never carries a secret typed into an URL */
	bc_addr_display(src, r->source, sizeof(r->source));
	bc_addr_display(dst, r->destination, sizeof(r->destination));
	if (bc_clone_same_object(src, dst))
		return fail(c, BC_CLONE_REFUSED,
			    bc_error_set(e, -EINVAL, r->destination, "check",
					 "source and destination are the same volume"), e);
	/* The source is opened and probed (an iSCSI login, commands that
	 * may hang) before a destination file is created: stopped there,
	 * a copy leaves nothing behind. */
	if ((rc = bc_volume_open(src, 0, &c->src, e)) < 0)
		return fail(c, open_outcome(rc), rc, e);
	r->source_size = c->src->size;
	r->source_block_size = c->src->block_size;
	if ((rc = bc_volume_caps(c->src, &c->sc, e)) < 0)
		return fail(c, BC_CLONE_FAILED, rc, e);
	before_create(&c->o, dst);
	rc = bc_volume_open_mode(dst, BC_OPEN_WRITE | BC_OPEN_CREATE,
				 bc_volume_create_mode(c->src), &c->dst, e);
	if (rc < 0)
		return fail(c, open_outcome(rc), rc, e);
	r->dest_created = c->dst->created;
	if ((rc = bc_volume_caps(c->dst, &c->dc, e)) < 0)
		return fail(c, BC_CLONE_FAILED, rc, e);
	if ((rc = bc_copy_check(c->src, c->dst, e)) < 0)
		return fail(c, BC_CLONE_REFUSED, rc, e);
	return 0;
}

int bc_clone_attach(struct bc_volume *src, struct bc_volume *dst,
		    const char *src_name, const char *dst_name,
		    const struct bc_clone_opts *o, struct bc_clone **out,
		    struct bc_error *e)
{
	struct bc_error scratch = { 0 };
	struct bc_clone *c;
	int rc;

	if (!e)
		e = &scratch;
	*out = c = session_new(o);
	if (!c) {
		bc_volume_close(dst);
		bc_volume_close(src);
		return bc_error_set(e, -ENOMEM, NULL, "clone", NULL);
	}
	c->src = src;
	c->dst = dst;
	bc_addr_display(src_name ? src_name : src->name, c->r.source,
			sizeof(c->r.source));
	bc_addr_display(dst_name ? dst_name : dst->name, c->r.destination,
			sizeof(c->r.destination));
	c->r.dest_created = dst->created;
	c->r.source_size = src->size;
	c->r.source_block_size = src->block_size;
	if ((rc = bc_volume_caps(src, &c->sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &c->dc, e)) < 0)
		return fail(c, BC_CLONE_FAILED, rc, e);
	return 0;
}

/* Resuming is a host copy: an in-array method would redo or skip ranges
 * the first run handled differently. */
static int resume_rule(struct bc_clone *c, struct bc_error *e)
{
	struct bc_copy_opts *co = &c->o.copy;

	co->start = 0;
	if (!c->o.resume)
		return 0;
	if (co->offload == BC_OFFLOAD_REQUIRE)
		return bc_error_set(e, -EINVAL, c->r.source, "check",
				    "--resume-from continues a host copy; it cannot be combined with --offload=require");
	if (c->o.resume_lba > c->src->size / c->src->block_size)
		return bc_error_set(e, -EINVAL, c->r.source, "check",
				    "--resume-from LBA %" PRIu64 " is beyond the end of the source",
				    c->o.resume_lba);
	co->start = c->o.resume_lba * c->src->block_size;
	co->offload = BC_OFFLOAD_NEVER;
	return 0;
}

/* "offload required but unavailable: " and why, method by method. */
static int no_method(const struct bc_clone *c, struct bc_error *e)
{
	const struct bc_plan *p = &c->r.plan;
	char why[600] = "";
	size_t n = 0;

	for (size_t i = 0; i < p->n && n < sizeof(why); i++)
		if (p->steps[i].method != BC_METHOD_HOST)
			n += (size_t)snprintf(why + n, sizeof(why) - n,
					      "%s%s: %s", n ? "; " : "",
					      bc_method_name(p->steps[i].method),
					      p->steps[i].reason);
	return bc_error_set(e, -EOPNOTSUPP, c->r.destination, "plan",
			    "offload required but unavailable: %s", why);
}

int bc_clone_plan(struct bc_clone *c, struct bc_error *e)
{
	struct bc_error scratch = { 0 };
	const struct bc_copy_opts *co = &c->o.copy;
	struct bc_clone_result *r = &c->r;
	int rc;

	if (!e)
		e = &scratch;
	if (r->outcome != BC_CLONE_OK)
		return again(c, e);
	if ((rc = resume_rule(c, e)) < 0)
		return fail(c, BC_CLONE_REFUSED, rc, e);
	bc_plan_make(c->sc, c->dc, co->offload, c->dst->created,
		     co->dest_zeroed, &r->plan);
	r->planned = true;
	if (!c->o.no_refusal_memory &&
	    (rc = bc_refusal_apply(&r->plan, co->offload, c->sc, c->dc,
				   r->destination, e)) < 0)
		return fail(c, BC_CLONE_REFUSED, rc, e);
	if (r->plan.chosen == BC_METHOD_NONE)
		return fail(c, BC_CLONE_NO_OFFLOAD, no_method(c, e), e);
	return 0;
}

/*
 * A copy manager that refused the pair up front is remembered so the next
 * auto clone skips it; one that copied for it is forgotten.  The memory is
 * an optimisation: failing to write it is not an error of the copy.
 */
static void remember_outcome(const struct bc_clone *c, const struct bc_error *e)
{
	const struct bc_clone_result *r = &c->r;
	char path[4200], why[400];

	if (c->o.no_refusal_memory || r->plan.chosen == BC_METHOD_HOST ||
	    r->plan.chosen == BC_METHOD_NONE ||
	    bc_refusal_path(path, sizeof(path)) < 0)
		return;
	if (r->stats.offload_refused) {
		if (r->fallback.happened)
			snprintf(why, sizeof(why), "%s", r->fallback.reason);
		else
			bc_error_format(e, why, sizeof(why));
		bc_refusal_record(path, r->plan.chosen, c->sc->id.location,
				  c->dc->id.location, why);
	} else if (r->stats.offloaded_bytes) {
		bc_refusal_forget(path, r->plan.chosen, c->sc->id.location,
				  c->dc->id.location);
	}
}

/* The tokens are credentials and cost the storage: not kept past use. */
static void release_fixed(struct bc_clone *c)
{
	bc_fixed_free(c->fixed);
	c->fixed = NULL;
	c->o.copy.fixed = NULL;
}

int bc_clone_run_begin(struct bc_clone *c, struct bc_error *e)
{
	int rc;

	if ((rc = after_plan(c, "copy", "bc_clone_run", e)) != 1)
		return rc;
	return bc_clone_start(c, e);
}

int bc_clone_run_end(struct bc_clone *c, int rc, struct bc_error *e)
{
	struct bc_clone_result *r = &c->r;
	const struct bc_copy_stats *st = &r->stats;

	release_fixed(c);
	/* a method refused at start is a fallback too */
	if (!r->fallback.happened && c->start_fb.happened)
		r->fallback = c->start_fb;
	remember_outcome(c, e);
	r->dest_touched = r->dest_touched || st->dest_modified || !nothing_written(st);
	if (rc < 0) {
		/* exit 3 says "refused, the host may copy"; a stop on
		 * request or out of time says nothing of the kind */
		bool no_offload = c->o.copy.offload == BC_OFFLOAD_REQUIRE &&
				  !r->dest_touched && rc != -EINTR && rc != -ETIME;

		return fail(c, no_offload ? BC_CLONE_NO_OFFLOAD : BC_CLONE_FAILED,
			    rc, e);
	}
	c->ran_ok = true;
	r->verified = c->o.copy.verify;
	return 0;
}

int bc_clone_run(struct bc_clone *c, struct bc_error *e)
{
	struct bc_error scratch = { 0 };
	struct bc_clone_result *r = &c->r;
	int rc;

	if (!e)
		e = &scratch;
	if ((rc = bc_clone_run_begin(c, e)) < 0)
		return rc;
	rc = bc_copy_run(c->src, c->dst, &r->plan, &c->o.copy, &r->stats,
			 &r->used, &r->fallback, e);
	return bc_clone_run_end(c, rc, e);
}

/*
 * The storage refused to fix the point in time (or could not) before
 * anything was written: under --offload=auto the plan goes on to the next
 * method, as a refused copy goes on on the host, and the result says the
 * point in time changed and why; under --offload=require that is all.
 */
static int start_refused(struct bc_clone *c, int rc, struct bc_error *e)
{
	struct bc_clone_result *r = &c->r;
	enum bc_method m = r->plan.chosen;
	char why[320];

	/* A capture that may have written the destination (a reflink
	 * refused part-way; file.c punched its clones again) leaves it
	 * touched: under --offload=require that is a failure, not "refused,
	 * untouched"; under auto the host copy below proves nothing of it
	 * zero and so rewrites every byte (holes by the destination's map). */
	if (e->status.kind == BC_STATUS_NONE && e->status.cat == BC_CAT_OTHER) {
		r->dest_touched = true;
		if (c->o.copy.offload == BC_OFFLOAD_REQUIRE)
			return fail(c, BC_CLONE_FAILED, rc, e);
		r->plan.dest_proven_zero = false;
		snprintf(r->plan.dest_zero_reason, sizeof(r->plan.dest_zero_reason),
			 "not proven zero: %s wrote part of it at start", bc_method_name(m));
	}
	if (c->o.copy.offload == BC_OFFLOAD_REQUIRE || rc == -EINTR || rc == -ETIME)
		return fail(c, c->o.copy.offload == BC_OFFLOAD_REQUIRE && rc != -EINTR &&
			    rc != -ETIME ? BC_CLONE_NO_OFFLOAD : BC_CLONE_FAILED, rc, e);
	bc_error_format(e, why, sizeof(why));
	bc_plan_refused_at_start(&r->plan, m, why);
	if (r->plan.chosen == BC_METHOD_NONE)
		return fail(c, BC_CLONE_NO_OFFLOAD, rc, e);
	bc_error_clear(e);
	c->start_fb.happened = true;
	c->start_fb.method = m;
	snprintf(c->start_fb.reason, sizeof(c->start_fb.reason), "%s", why);
	r->fallback = c->start_fb;
	r->consistency = r->plan.consistency;
	snprintf(r->consistency_reason, sizeof(r->consistency_reason),
		 "%s could not fix the point in time at start (%.120s), so %s: %.200s",
		 bc_method_name(m), why, bc_method_name(r->plan.chosen),
		 r->plan.consistency_reason);
	return 0;
}

/*
 * A method whose plan step says atomic has its content fixed here
 * (bc_copy_fix: a token copy populates every token), so the run writes
 * the source as it was when this returned; any other reads the source
 * while it runs (bulk), and this only says so.
 */
int bc_clone_start(struct bc_clone *c, struct bc_error *e)
{
	struct bc_error scratch = { 0 };
	struct bc_clone_result *r = &c->r;
	char said[240];
	int rc;

	if (!e)
		e = &scratch;
	if ((rc = after_plan(c, "start", "bc_clone_start", e)) != 1)
		return rc;
	if (r->consistency != BC_CONSISTENCY_NONE)
		return 0;
	if (r->plan.consistency == BC_CONSISTENCY_ATOMIC) {
		rc = bc_copy_fix(c->src, c->dst, r->plan.chosen, &c->o.copy,
				 &c->fixed, said, sizeof(said), e);
		if (rc < 0)
			return start_refused(c, rc, e);
		c->o.copy.fixed = c->fixed;
		r->consistency = BC_CONSISTENCY_ATOMIC;
		snprintf(r->consistency_reason, sizeof(r->consistency_reason),
			 "%s fixed the content at start: %s; the source may change from here on",
			 bc_method_name(r->plan.chosen), said);
		return 0;
	}
	r->consistency = BC_CONSISTENCY_BULK;
	snprintf(r->consistency_reason, sizeof(r->consistency_reason), "%s: %s",
		 bc_method_name(r->plan.chosen), r->plan.consistency_reason);
	return 0;
}

const struct bc_clone_result *bc_clone_result(const struct bc_clone *c)
{
	return &c->r;
}

void bc_clone_close(struct bc_clone *c)
{
	if (!c)
		return;
	/* opened or planned, never run: nothing to keep */
	if (!c->ran_ok && c->r.outcome == BC_CLONE_OK)
		remove_unwritten(c);
	release_fixed(c);
	bc_volume_close(c->dst);
	bc_volume_close(c->src);
	free(c);
}
