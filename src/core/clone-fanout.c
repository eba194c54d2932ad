// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Clone sessions run together as one template fan-out
 * (bc_clone_run_fanout, include/blkclone/clone.h): what bc_copy_run does
 * before and after a host copy, per destination, around one fan-out host
 * copy (fanout-copy.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clone-priv.h"
#include "core/fanout.h"
#include "util/deadline.h"
#include "volume/identity.h"

size_t bc_clone_fanout_groups(struct bc_clone *const *c, size_t n,
			      size_t *group)
{
	struct bc_fanout_pair *p = calloc(n ? n : 1, sizeof(*p));
	size_t shared;

	if (!p) {
		/* no memory to plan with: every session alone */
		for (size_t i = 0; i < n; i++)
			group[i] = i;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct bc_clone *s = c[i];
		bool ok = s && s->src && s->sc && s->r.planned &&
			  s->r.outcome == BC_CLONE_OK;

		p[i] = (struct bc_fanout_pair){
			.src_id = ok ? &s->sc->id : NULL,
			.src_size = ok ? s->src->size : 0,
			.src_block = ok ? s->src->block_size : 0,
			.method = ok ? s->r.plan.chosen : BC_METHOD_NONE,
			.start = ok ? s->o.copy.start : 0,
		};
	}
	shared = bc_fanout_plan(p, n, group);
	free(p);
	return shared;
}

/* Are destinations @ia (@x, @xs bytes) and @ib (@y, @ys) one volume or
 * overlapping windows of one?  0, else -EINVAL naming both (the words of
 * bc_copy_check) against @name. */
static int dests_apart(const struct bc_identity *x, uint64_t xs, size_t ia,
		       const struct bc_identity *y, uint64_t ys, size_t ib,
		       const char *name, struct bc_error *e)
{
	const char *key = NULL;

	if (!strcmp(x->location, y->location))
		return bc_error_set(e, -EINVAL, name, "check",
				    "destinations %zu and %zu are the same volume (%s): each must be written once",
				    ia + 1, ib + 1, x->location);
	switch (bc_identity_overlap(x, xs, y, ys, &key)) {
	case BC_OVERLAP_SAME:
		return bc_error_set(e, -EINVAL, name, "check",
				    "destinations %zu and %zu are the same volume: the same %s (%s on both): each must be written once",
				    ia + 1, ib + 1, x->unit[0] ? x->unit : "unit", key);
	case BC_OVERLAP_PARTIAL:
		return bc_error_set(e, -EINVAL, name, "check",
				    "destinations %zu and %zu overlap on %s (bytes %" PRIu64 "+%" PRIu64
				    " and %" PRIu64 "+%" PRIu64 "): one copy would write over the other",
				    ia + 1, ib + 1, key, x->lu_offset, xs, y->lu_offset, ys);
	case BC_OVERLAP_NONE:
		break;
	}
	return 0;
}

static bool is_open(const struct bc_clone *c)
{
	return c && c->dst && c->dc;
}

int bc_clone_check_dests(struct bc_clone *const *c, size_t n, size_t *first,
			 size_t *second, struct bc_error *e)
{
	struct bc_error scratch = { 0 };

	if (!e)
		e = &scratch;
	for (size_t j = 1; j < n; j++)
		for (size_t i = 0; i < j; i++) {
			int rc;

			if (!is_open(c[i]) || !is_open(c[j]))
				return bc_error_set(e, -EINVAL, "fan-out", "check",
						    "destination %zu is not open",
						    (is_open(c[i]) ? j : i) + 1);
			rc = dests_apart(&c[i]->dc->id, c[i]->dst->size, i,
					 &c[j]->dc->id, c[j]->dst->size, j,
					 c[j]->r.destination, e);
			if (rc < 0) {
				if (first)
					*first = i;
				if (second)
					*second = j;
				return rc;
			}
		}
	return 0;
}

int bc_clone_dest_clash(struct bc_clone *const *c, size_t n, const char *dst,
			size_t *which, struct bc_error *e)
{
	struct bc_error scratch = { 0 };
	const struct bc_caps *caps;
	struct bc_volume *v = NULL;
	int rc;

	if (!e)
		e = &scratch;
	/* a file or device node under another path: a file's lock is on
	 * the file itself, so even a read-only open would find it held */
	for (size_t i = 0; i < n; i++)
		if (is_open(c[i]) && bc_clone_same_object(c[i]->r.destination, dst)) {
			if (which)
				*which = i;
			return bc_error_set(e, -EINVAL, dst, "check",
					    "destinations %zu and %zu are the same %s (%s and %s): each must be written once",
					    i + 1, n + 1, "file or device", c[i]->r.destination, dst);
		}
	/* another name of one LU, a window onto one: read-only, no lock
	 * taken, nothing written */
	if (bc_volume_open(dst, 0, &v, &scratch) < 0 ||
	    bc_volume_caps(v, &caps, &scratch) < 0) {
		bc_volume_close(v);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_open(c[i]))
			continue;
		rc = dests_apart(&c[i]->dc->id, c[i]->dst->size, i, &caps->id,
				 v->size, n, dst, e);
		if (rc < 0) {
			if (which)
				*which = i;
			bc_volume_close(v);
			return rc;
		}
	}
	bc_volume_close(v);
	return 0;
}

/* Is @name (pair @n's @role) the @other_role of open session @i: @id
 * and @size of that one?  Same node or one LU / overlapping windows. */
static int role_apart(const struct bc_clone *ci, size_t i, bool other_is_src,
		      const char *name, size_t n, bool is_src,
		      const struct bc_identity *id, uint64_t size,
		      struct bc_error *e)
{
	const struct bc_identity *x = other_is_src ? &ci->sc->id : &ci->dc->id;
	uint64_t xs = other_is_src ? ci->src->size : ci->dst->size;
	const char *key = NULL;
	const char *why = is_src ? "a job cannot read a volume while it writes it" :
			  other_is_src ? "a job cannot write a volume while it reads it" :
			  "each must be written once";
	enum bc_overlap ov;

	if (!id)
		ov = BC_OVERLAP_SAME;
	else if (!strcmp(x->location, id->location))
		ov = BC_OVERLAP_SAME;
	else
		ov = bc_identity_overlap(x, xs, id, size, &key);
	if (ov == BC_OVERLAP_NONE)
		return 0;
	return bc_error_set(e, -EINVAL, name, "check",
			    "pair %zu's %s is pair %zu's %s (%s%s): %s",
			    n + 1, is_src ? "source" : "destination", i + 1,
			    other_is_src ? "source" : "destination",
			    ov == BC_OVERLAP_SAME ? "the same volume" : "overlapping on ",
			    ov == BC_OVERLAP_SAME ? "" : key, why);
}

int bc_clone_pair_clash(struct bc_clone *const *c, size_t n, const char *name,
			bool is_src, size_t *which, struct bc_error *e)
{
	struct bc_error scratch = { 0 };
	const struct bc_caps *caps;
	struct bc_volume *v = NULL;
	int rc = 0;

	if (!e)
		e = &scratch;
	/* a file or device node under another name first: a file's lock is
	 * on the file itself, so even a read-only open would find it held;
	 * then another name of one LU or a window onto one (read-only, no
	 * lock taken, nothing written).  A source clashes with what is
	 * written, a destination with both roles */
	for (int pass = 0; pass < 2 && !rc; pass++) {
		if (pass == 1 && (bc_volume_open(name, 0, &v, &scratch) < 0 ||
				  bc_volume_caps(v, &caps, &scratch) < 0))
			break;
		for (size_t i = 0; i < n && !rc; i++) {
			if (!is_open(c[i]) || !c[i]->src || !c[i]->sc)
				continue;
			for (int other_src = is_src ? 0 : 1; other_src >= 0 && !rc; other_src--) {
				const char *on = other_src ? c[i]->r.source :
							     c[i]->r.destination;

				if (pass == 0 && !bc_clone_same_object(on, name))
					continue;
				rc = role_apart(c[i], i, other_src, name, n, is_src,
						pass ? &caps->id : NULL,
						pass ? v->size : 0, e);
				if (rc < 0 && which)
					*which = i;
			}
		}
	}
	bc_volume_close(v);
	return rc;
}

int bc_clone_check_pairs(struct bc_clone *const *c, size_t n,
			 struct bc_error *e)
{
	struct bc_error scratch = { 0 };

	if (!e)
		e = &scratch;
	for (size_t j = 0; j < n; j++)
		for (size_t i = 0; i < n; i++) {
			int rc;

			if (i == j)
				continue;
			if (!is_open(c[i]) || !is_open(c[j]) || !c[j]->src || !c[j]->sc)
				return bc_error_set(e, -EINVAL, "job", "check",
						    "pair %zu is not open",
						    (is_open(c[i]) ? j : i) + 1);
			rc = role_apart(c[i], i, false, c[j]->r.source, j, true,
					&c[j]->sc->id, c[j]->src->size, e);
			if (rc < 0)
				return rc;
		}
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* What bc_copy_run does to a destination before a host copy. */
static int prepare(struct bc_clone *c, const struct bc_copy_opts *o,
		   struct bc_error *e)
{
	struct bc_clone_result *r = &c->r;
	int rc;

	memset(&r->stats, 0, sizeof(r->stats));
	memset(&r->fallback, 0, sizeof(r->fallback));
	r->stats.total_bytes = c->src->size;
	r->stats.resume_offset = o->start;
	r->stats.durable_offset = o->start;
	r->used = BC_METHOD_HOST;
	if (o->cancel && *o->cancel)
		return bc_error_set(e, -EINTR, c->dst->name, "copy",
				    "interrupted before anything was written");
	if (c->dst->created && c->dst->size < c->src->size &&
	    (rc = bc_volume_set_size(c->dst, c->src->size, e)) < 0)
		return rc;
	/* another opener's dirty pages must not land over the copy later */
	return bc_volume_drop_cache(c->dst, e);
}

static int one_group(struct bc_clone *const *c, size_t n)
{
	size_t *group = calloc(n, sizeof(*group));
	bool one = group != NULL;

	if (one)
		bc_clone_fanout_groups(c, n, group);
	for (size_t i = 0; one && i < n; i++)
		one = group[i] == 0;
	free(group);
	return one ? 0 : -EINVAL;
}

int bc_clone_run_fanout(struct bc_clone *const *c, size_t n,
			struct bc_error *e)
{
	struct bc_error scratch = { 0 }, *errs = NULL;
	struct bc_fanout_dest *d = NULL;
	struct bc_copy_opts run;
	size_t *idx = NULL, k = 0;
	int *rcs = NULL, first = 0;
	double t0 = now_s();

	if (!e)
		e = &scratch;
	if (n == 1)
		return bc_clone_run(c[0], e);
	if (!n || one_group(c, n) < 0)
		return bc_error_set(e, -EINVAL, "fan-out", "copy",
				    "the sessions are not one fan-out group (one source, host copies, one start)");
	errs = calloc(n, sizeof(*errs));
	d = calloc(n, sizeof(*d));
	idx = calloc(n, sizeof(*idx));
	rcs = calloc(n, sizeof(*rcs));
	if (!errs || !d || !idx || !rcs) {
		free(errs);
		free(d);
		free(idx);
		free(rcs);
		return bc_error_set(e, -ENOMEM, "fan-out", "copy", NULL);
	}
	/* the first session's options are the run's, with one deadline for
	 * every part as bc_copy_run sets it */
	run = c[0]->o.copy;
	if (!run.deadline.at_ms)
		run.deadline = bc_deadline_in(run.timeout_s);
	for (size_t i = 0; i < n; i++) {
		if ((rcs[i] = bc_clone_run_begin(c[i], &errs[i])) < 0)
			continue;
		if ((rcs[i] = prepare(c[i], &run, &errs[i])) < 0)
			continue;
		d[k] = (struct bc_fanout_dest){
			.dst = c[i]->dst,
			.proven_zero = c[i]->r.plan.dest_proven_zero,
			.progress = c[i]->o.copy.progress,
			.progress_arg = c[i]->o.copy.progress_arg,
			.st = &c[i]->r.stats,
			.e = &errs[i],
		};
		idx[k++] = i;
	}
	/* the source is the first session's still going: every one's is the
	 * same bytes (one_group) */
	if (k)
		bc_host_copy_fanout(c[idx[0]]->src, d, k, &run);
	for (size_t j = 0; j < k; j++) {
		size_t i = idx[j];

		rcs[i] = d[j].rc;
		c[i]->r.fanout = (unsigned)k;
		if (rcs[i] == 0 && c[i]->o.copy.verify)
			rcs[i] = bc_verify(c[i]->src, c[i]->dst, &run, &errs[i]);
		c[i]->r.stats.seconds = now_s() - t0;
	}
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] < 0 && c[i]->r.outcome != BC_CLONE_OK)
			continue;	/* begin failed: the session said so */
		bc_clone_run_end(c[i], rcs[i], &errs[i]);
	}
	for (size_t i = 0; i < n && !first; i++)
		if (rcs[i] < 0) {
			first = rcs[i];
			*e = errs[i];
		}
	free(errs);
	free(d);
	free(idx);
	free(rcs);
	return first;
}
