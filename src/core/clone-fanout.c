// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Clone sessions run together as one template fan-out
 * (bc_clone_run_fanout, include/blkclone/clone.h): what bc_copy_run does
 * before and after a host copy, per destination, around one fan-out host
 * copy (fanout-copy.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clone-priv.h"
#include "core/fanout.h"
#include "util/deadline.h"

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
