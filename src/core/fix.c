// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fixing a copy's point in time before it runs (bc_copy_fix, copy.h): the
 * source's map is read once and kept, and the backend holds the content
 * of every extent that is data (a token copy populates its tokens), so
 * the run writes what the source held here even after it changed.  A
 * hole needs no hold: it read zero now, and the run settles it as one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <blkclone/copy.h>

#include "core/fixed.h"
#include "volume/extent.h"
#include "volume/io.h"

#define MAP_BATCH 64

void bc_fixed_free(struct bc_fixed *f)
{
	if (!f)
		return;
	bc_volume_capture_free(f->src, f->cap);
	free(f->x);
	free(f);
}

/* Append @x to @f's map, and its data to @data (a hole that reads zero
 * on the source needs no hold). */
static int keep(struct bc_fixed *f, size_t *cap, struct bc_extent **data,
		size_t *nd, const struct bc_extent *x, bool src_zero)
{
	struct bc_extent k = *x;

	k.state = x->state != BC_EXTENT_MAPPED && src_zero ?
		  BC_EXTENT_DEALLOCATED : BC_EXTENT_MAPPED;
	if (f->n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		struct bc_extent *a = realloc(f->x, c * sizeof(*a));
		struct bc_extent *b = realloc(*data, c * sizeof(*b));

		if (a)
			f->x = a;
		if (b)
			*data = b;
		if (!a || !b)
			return -ENOMEM;
		*cap = c;
	}
	f->x[f->n++] = k;
	if (k.state == BC_EXTENT_MAPPED)
		(*data)[(*nd)++] = k;
	return 0;
}

/* The source's map from f->start on, kept in @f and its data in @data. */
static int read_map(struct bc_fixed *f, const struct bc_caps *sc,
		    struct bc_extent **data, size_t *nd, struct bc_error *e)
{
	struct bc_volume *src = f->src;
	struct bc_extent ext[MAP_BATCH], x;
	struct bc_extent_iter it;
	size_t cap = 0;
	int rc;

	bc_extent_iter_init(&it, src, f->start, f->end, ext, MAP_BATCH);
	while ((rc = bc_extent_next(&it, &x, e)) > 0) {
		if (x.length % src->block_size)
			return bc_error_set_lba(e, -EIO, src->name, "map",
						x.offset / src->block_size,
						src->block_size,
						"extent is not whole blocks");
		if (keep(f, &cap, data, nd, &x, sc->zero_init.state == BC_SUP_YES) < 0)
			return bc_error_set(e, -ENOMEM, src->name, "map", NULL);
	}
	return rc;
}

int bc_copy_fix(struct bc_volume *src, struct bc_volume *dst,
		enum bc_method method, const struct bc_copy_opts *o,
		struct bc_fixed **out, char *said, size_t said_len,
		struct bc_error *e)
{
	const struct bc_stop stop = { o->cancel, o->deadline };
	const struct bc_caps *sc, *dc;
	struct bc_extent *data = NULL;
	struct bc_fixed *f;
	size_t nd = 0;
	int rc;

	*out = NULL;
	if (!bc_volume_can_capture(src, method))
		return bc_error_set(e, -EOPNOTSUPP, src->name, "start",
				    "%s cannot fix a point in time on this volume",
				    bc_method_name(method));
	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (o->start % src->block_size || src->size % src->block_size)
		return bc_error_set(e, -EINVAL, src->name, "start",
				    "an in-array copy moves whole blocks");
	if (!(f = calloc(1, sizeof(*f))))
		return bc_error_set(e, -ENOMEM, src->name, "start", NULL);
	*f = (struct bc_fixed){ .src = src, .method = method, .start = o->start,
				.end = src->size };
	/* Data other writers left in a cache must be on the medium the
	 * copy manager fixes. */
	if (bc_volume_can_flush(src) && (rc = bc_volume_flush(src, e)) < 0)
		goto fail;
	if ((rc = read_map(f, sc, &data, &nd, e)) < 0)
		goto fail;
	rc = bc_volume_capture(src, dst, method, data, nd, &stop, &f->cap,
			       said, said_len, e);
	if (rc < 0)
		goto fail;
	free(data);
	*out = f;
	return 0;
fail:
	free(data);
	bc_fixed_free(f);
	return rc;
}
