// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The copy executor: refuse what must be refused before any write, run
 * the planned method, and on an offload refusal either stop
 * (--offload=require) or carry on on the host from the first byte the
 * offload did not copy (--offload=auto).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <blkclone/copy.h>

#include "util/deadline.h"
#include "volume/identity.h"

/*
 * Volumes found one LU by a designator alone, reached under different
 * names: either one LU behind two target names, or two LUs whose targets
 * report one designator (tgt derives its designators from the target id
 * and LUN, so two tgt servers do).  Both are refused; the message says
 * how to tell two such LUs apart.
 */
static const char *same_designator_hint(const struct bc_caps *s,
					const struct bc_caps *d, const char *key)
{
	for (size_t i = 0; i < s->id.n_unit_keys; i++) {
		const char *k = s->id.unit_keys[i];

		if (!bc_identity_key_is_designator(k))
			for (size_t j = 0; j < d->id.n_unit_keys; j++)
				if (!strcmp(k, d->id.unit_keys[j]))
					return "";	/* one path name too */
	}
	if (!bc_identity_key_is_designator(key))
		return "";
	return "; two different LUs reporting one designator are taken for one "
	       "(tgt derives its designators from target id and LUN: give one "
	       "LU its own scsi_id; see IDENTITY in man blkclone)";
}

int bc_copy_check(struct bc_volume *src, struct bc_volume *dst,
		  struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	const char *key;
	int rc;

	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (!strcmp(sc->id.location, dc->id.location))
		return bc_error_set(e, -EINVAL, dst->name, "check",
				    "source and destination are the same volume (%s)",
				    sc->id.location);
	/* One unit reached two ways (another portal, /dev/sgN and /dev/sdX,
	 * another target name), or two windows (partitions, LVs) onto one
	 * that overlap: the copy would read blocks it has already
	 * overwritten. */
	switch (bc_identity_overlap(&sc->id, src->size, &dc->id, dst->size, &key)) {
	case BC_OVERLAP_SAME:
		return bc_error_set(e, -EINVAL, dst->name, "check",
				    "source and destination are the same volume: the same %s (%s on both)%s",
				    sc->id.unit[0] ? sc->id.unit : "unit", key,
				    same_designator_hint(sc, dc, key));
	case BC_OVERLAP_PARTIAL:
		return bc_error_set(e, -EINVAL, dst->name, "check",
				    "source and destination overlap on %s (bytes %" PRIu64 "+%" PRIu64
				    " and %" PRIu64 "+%" PRIu64 ")%s",
				    key, sc->id.lu_offset, src->size,
				    dc->id.lu_offset, dst->size,
				    same_designator_hint(sc, dc, key));
	case BC_OVERLAP_NONE:
		break;
	}
	if (!dst->writable || dc->read_only)
		return bc_error_set(e, -EROFS, dst->name, "check",
				    "destination is read-only");
	if (!dst->created && dst->size < src->size)
		return bc_error_set(e, -ENOSPC, dst->name, "check",
				    "destination (%" PRIu64 " bytes) is smaller than the source (%" PRIu64 " bytes)",
				    dst->size, src->size);
	/* A file takes any length; a device only whole blocks. */
	if (src->size % dst->block_size && !dc->any_length)
		return bc_error_set(e, -EINVAL, dst->name, "check",
				    "source size %" PRIu64 " is not a multiple of the destination's %u-byte blocks",
				    src->size, dst->block_size);
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int bc_copy_run(struct bc_volume *src, struct bc_volume *dst,
		const struct bc_plan *plan, const struct bc_copy_opts *o,
		struct bc_copy_stats *st, enum bc_method *used,
		struct bc_fallback *fb, struct bc_error *e)
{
	struct bc_copy_opts run = *o;
	uint64_t start = o->start;
	double t0 = now_s();
	int rc;

	memset(st, 0, sizeof(*st));
	memset(fb, 0, sizeof(*fb));
	/* one deadline for every part: offload, host copy, verify */
	if (!run.deadline.at_ms)
		run.deadline = bc_deadline_in(o->timeout_s);
	o = &run;
	st->total_bytes = src->size;
	st->resume_offset = start;
	st->durable_offset = start;
	*used = plan->chosen;
	if (plan->chosen == BC_METHOD_NONE)
		return bc_error_set(e, -EOPNOTSUPP, dst->name, "plan",
				    "no usable copy method: %s",
				    plan->n ? plan->steps[0].reason : "none");
	/* a signal that came while opening and planning */
	if (o->cancel && *o->cancel)
		return bc_error_set(e, -EINTR, dst->name, "copy",
				    "interrupted before anything was written");
	if (dst->created && dst->size < src->size &&
	    (rc = bc_volume_set_size(dst, src->size, e)) < 0)
		return rc;
	/* Another opener's dirty pages go to the destination now, before
	 * its map is read and anything is written beside the cache: later
	 * they would land over the copy (a skipped hole, an offload). */
	if ((rc = bc_volume_drop_cache(dst, e)) < 0)
		goto out;

	if (plan->chosen != BC_METHOD_HOST) {
		struct bc_copy_opts oo = *o;

		oo.start = start;
		rc = bc_offload_copy(src, dst, plan->chosen,
				     plan->dest_proven_zero, &oo, st, e);
		if (rc == 0)
			goto done;
		/* a point in time fixed at start is not traded for the
		 * source's later state on the host */
		if (o->offload == BC_OFFLOAD_REQUIRE || o->fixed)
			goto out;
		/* a copy manager that may still be writing the destination
		 * is not written over; nor does a copy out of time go on */
		if (rc == -EINPROGRESS || bc_deadline_passed(&o->deadline))
			goto out;
		/* auto: the refusal is reported, the host does the rest. */
		fb->happened = true;
		fb->method = plan->chosen;
		bc_error_format(e, fb->reason, sizeof(fb->reason));
		bc_error_clear(e);
		start = st->resume_offset;
		*used = BC_METHOD_HOST;
	}
	{
		struct bc_copy_opts ho = *o;
		struct bc_copy_stats hs = *st;

		ho.start = start;
		rc = bc_host_copy(src, dst, plan->dest_proven_zero, &ho, &hs, e);
		/* keep what an earlier offload did */
		hs.offloaded_bytes = st->offloaded_bytes;
		*st = hs;
		if (rc < 0)
			goto out;
	}
done:
	if (o->verify)
		rc = bc_verify(src, dst, o, e);
out:
	st->seconds = now_s() - t0;
	return rc;
}
