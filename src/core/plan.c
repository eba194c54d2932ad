// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The planner: a pure function from two volumes' capabilities and the
 * offload policy to an ordered list of methods, each with the reason it
 * can or cannot be used.  No I/O here, so it is tested over a table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <blkclone/copy.h>

#include "volume/identity.h"

static void step(struct bc_plan *p, enum bc_method m, bool usable,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void step(struct bc_plan *p, enum bc_method m, bool usable,
		 const char *fmt, ...)
{
	struct bc_plan_step *s;
	va_list ap;

	if (p->n >= BC_PLAN_MAX)
		return;
	s = &p->steps[p->n++];
	s->method = m;
	s->usable = usable;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

static bool same_domain(const struct bc_caps *s, const struct bc_caps *d)
{
	return s->id.copy_domain[0] &&
	       !strcmp(s->id.copy_domain, d->id.copy_domain);
}


static const char *state_word(enum bc_support s)
{
	return s == BC_SUP_YES ? "supported" :
	       s == BC_SUP_NO ? "unsupported" : "unknown";
}

/* One in-array method that needs support on both sides and one domain. */
static void plan_array(struct bc_plan *p, enum bc_method m,
		       const struct bc_feature *fs, const struct bc_feature *fd,
		       const struct bc_caps *s, const struct bc_caps *d,
		       const char *what)
{
	if (fs->state != BC_SUP_YES) {
		step(p, m, false, "source: %s", fs->reason[0] ? fs->reason :
		     state_word(fs->state));
		return;
	}
	if (fd->state != BC_SUP_YES) {
		step(p, m, false, "destination: %s", fd->reason[0] ? fd->reason :
		     state_word(fd->state));
		return;
	}
	if (!same_domain(s, d)) {
		step(p, m, false,
		     "source and destination are not in one copy domain (%s vs %s)",
		     s->id.copy_domain[0] ? s->id.copy_domain : "none",
		     d->id.copy_domain[0] ? d->id.copy_domain : "none");
		return;
	}
	if (s->block_size != d->block_size) {
		step(p, m, false, "%s needs equal block sizes", what);
		return;
	}
	if (m == BC_METHOD_TOKEN && s->xcopy.state == BC_SUP_YES &&
	    d->xcopy.state == BC_SUP_YES)
		step(p, m, true, "%s supported on both volumes, one copy domain (%s); "
		     "second to EXTENDED COPY, which needs no token round trip",
		     what, s->id.copy_domain);
	else
		step(p, m, true, "%s supported on both volumes, one copy domain (%s)",
		     what, s->id.copy_domain);
}

const char *bc_flush_policy_name(enum bc_flush_policy p)
{
	return p == BC_FLUSH_NEVER ? "never" : "end";
}

const char *bc_consistency_name(enum bc_consistency c)
{
	switch (c) {
	case BC_CONSISTENCY_BULK: return "bulk";
	case BC_CONSISTENCY_ATOMIC: return "atomic";
	case BC_CONSISTENCY_NONE: break;
	}
	return "none";
}

/*
 * The point in time each usable method gives a clone session.  Atomic
 * needs the content fixed by bc_clone_start: a token copy populates every
 * token there (point-in-time ROD tokens the storage keeps for us) and the
 * run only writes them; a reflink shares every data extent with the
 * destination there (the filesystem copies on the source's later writes)
 * and the run only settles holes.  Everything else reads the source while
 * the run copies.
 */
static void consistency_of(struct bc_plan_step *st, const struct bc_caps *s)
{
	const char *what = NULL;
	uint32_t max_s = s->token_lim.max_inactivity_s;

	st->consistency = BC_CONSISTENCY_NONE;
	st->consistency_reason[0] = '\0';
	if (!st->usable)
		return;
	st->consistency = BC_CONSISTENCY_BULK;
	switch (st->method) {
	case BC_METHOD_TOKEN:
		st->consistency = BC_CONSISTENCY_ATOMIC;
		if (max_s)
			snprintf(st->consistency_reason, sizeof(st->consistency_reason),
				 "start populates a point-in-time ROD token for every extent (kept up to %u s unused, the source's maximum) and the run only writes them: the source may change once start returned",
				 max_s);
		else
			snprintf(st->consistency_reason, sizeof(st->consistency_reason),
				 "start populates a point-in-time ROD token for every extent (kept for the source's default inactivity timeout) and the run only writes them: the source may change once start returned");
		return;
	case BC_METHOD_XCOPY_LID1:
		what = "the copy manager reads the source while EXTENDED COPY runs";
		break;
	case BC_METHOD_NVME_COPY:
		what = "the controller reads the source namespace while NVMe Copy runs";
		break;
	case BC_METHOD_REFLINK:
		/* a filesystem that may clone only if its server does (NFS,
		 * FUSE) is found out by the run's first clone */
		if (s->reflink.state != BC_SUP_YES) {
			what = "the filesystem clones only if its server does, which the run finds out, from the source as it is then";
			break;
		}
		st->consistency = BC_CONSISTENCY_ATOMIC;
		snprintf(st->consistency_reason, sizeof(st->consistency_reason),
			 "start clones every data extent onto the destination (FICLONERANGE): it shares the source's blocks as they were then, the run only settles the holes mapped then; the source may change once start returned");
		return;
	case BC_METHOD_HOST:
		what = "this host reads the source until the copy ends";
		break;
	case BC_METHOD_NONE:
		break;
	}
	snprintf(st->consistency_reason, sizeof(st->consistency_reason),
		 "%s: keep the source still (frozen or unused) until the copy ends",
		 what ? what : "the source is read while the copy runs");
}

static void choose(struct bc_plan *p)
{
	p->chosen = BC_METHOD_NONE;
	p->consistency = BC_CONSISTENCY_NONE;
	p->consistency_reason[0] = '\0';
	for (size_t i = 0; i < p->n; i++) {
		if (p->steps[i].usable) {
			p->chosen = p->steps[i].method;
			p->consistency = p->steps[i].consistency;
			snprintf(p->consistency_reason, sizeof(p->consistency_reason),
				 "%s", p->steps[i].consistency_reason);
			break;
		}
	}
}

void bc_plan_refused_at_start(struct bc_plan *p, enum bc_method method,
			      const char *why)
{
	for (size_t i = 0; i < p->n; i++) {
		struct bc_plan_step *st = &p->steps[i];

		if (st->method != method || !st->usable)
			continue;
		st->usable = false;
		snprintf(st->reason, sizeof(st->reason),
			 "refused when the copy was started: %.200s", why);
		st->consistency = BC_CONSISTENCY_NONE;
		st->consistency_reason[0] = '\0';
	}
	choose(p);
	if (p->chosen == BC_METHOD_HOST || p->chosen == BC_METHOD_NONE)
		p->note[0] = '\0';
}

void bc_plan_known_refusal(struct bc_plan *p, enum bc_method method,
			   enum bc_offload_policy policy, const char *why)
{
	for (size_t i = 0; i < p->n; i++) {
		struct bc_plan_step *st = &p->steps[i];

		if (st->method != method || !st->usable)
			continue;
		if (policy == BC_OFFLOAD_REQUIRE) {
			snprintf(st->reason, sizeof(st->reason),
				 "refused for this pair before (%.150s); tried again: --offload=require",
				 why);
		} else {
			st->usable = false;
			snprintf(st->reason, sizeof(st->reason),
				 "refused by the target for this pair before: %.190s", why);
			st->consistency = BC_CONSISTENCY_NONE;
			st->consistency_reason[0] = '\0';
		}
	}
	choose(p);
	if (p->chosen == BC_METHOD_HOST || p->chosen == BC_METHOD_NONE)
		p->note[0] = '\0';
}

void bc_plan_make(const struct bc_caps *s, const struct bc_caps *d,
		  enum bc_offload_policy policy, bool dest_created,
		  bool dest_zeroed, struct bc_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (policy == BC_OFFLOAD_NEVER) {
		step(p, BC_METHOD_XCOPY_LID1, false, "--offload=never");
		step(p, BC_METHOD_TOKEN, false, "--offload=never");
		step(p, BC_METHOD_NVME_COPY, false, "--offload=never");
		step(p, BC_METHOD_REFLINK, false, "--offload=never");
	} else {
		plan_array(p, BC_METHOD_XCOPY_LID1, &s->xcopy, &d->xcopy, s, d,
			   "EXTENDED COPY (LID1)");
		plan_array(p, BC_METHOD_TOKEN, &s->token, &d->token, s, d,
			   "token copy");
		plan_array(p, BC_METHOD_NVME_COPY, &s->nvme_copy, &d->nvme_copy,
			   s, d, "NVMe Copy");
		if (!(s->methods & d->methods & BC_METHOD_BIT(BC_METHOD_REFLINK)))
			step(p, BC_METHOD_REFLINK, false,
			     "reflink needs two files");
		else if (!same_domain(s, d))
			step(p, BC_METHOD_REFLINK, false,
			     "files are on different filesystems");
		else if (s->reflink.state == BC_SUP_NO)
			step(p, BC_METHOD_REFLINK, false, "source: %s",
			     s->reflink.reason[0] ? s->reflink.reason :
			     "no reflink");
		else
			step(p, BC_METHOD_REFLINK, true, "%s (%s)",
			     s->reflink.reason,
			     state_word(s->reflink.state));
	}
	if (policy == BC_OFFLOAD_REQUIRE)
		step(p, BC_METHOD_HOST, false,
		     "--offload=require: no host copy");
	else
		step(p, BC_METHOD_HOST, true,
		     "always possible: data moves through this host");

	for (size_t i = 0; i < p->n; i++)
		consistency_of(&p->steps[i], s);
	choose(p);
	bc_identity_pair_text(p->identity, sizeof(p->identity), &s->id, s->size,
			      &d->id, d->size);
	if (p->chosen != BC_METHOD_NONE && p->chosen != BC_METHOD_HOST &&
	    p->chosen != BC_METHOD_REFLINK && s->extent_map.state != BC_SUP_YES)
		snprintf(p->note, sizeof(p->note),
			 "the source has no allocation map, so the copy manager copies every block: "
			 "the destination ends up fully allocated");
	if (dest_created) {
		p->dest_proven_zero = true;
		snprintf(p->dest_zero_reason, sizeof(p->dest_zero_reason),
			 "destination file created by blkclone");
	} else if (dest_zeroed) {
		p->dest_proven_zero = true;
		snprintf(p->dest_zero_reason, sizeof(p->dest_zero_reason),
			 "caller asserted --dest-zeroed");
	} else {
		snprintf(p->dest_zero_reason, sizeof(p->dest_zero_reason),
			 d->zero_init.state == BC_SUP_YES && d->extent_map.state == BC_SUP_YES ?
			 "skipped only where the destination's map shows deallocated blocks (which read as zeros), zeroed elsewhere" :
			 "zeroed: the destination is not proven to read zeros");
	}
}
