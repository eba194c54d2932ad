// SPDX-License-Identifier: LGPL-2.1-or-later
/* The allocation map, walked as checked extents (see extent.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "volume/extent.h"
#include "volume/io.h"

/* The command behind the map, for messages: what a user can look up. */
static const char *map_command(const struct bc_volume *v)
{
	switch (v->caps_valid ? v->caps.map_source : BC_MAP_NONE) {
	case BC_MAP_GET_LBA_STATUS: return "GET LBA STATUS";
	case BC_MAP_SEEK_HOLE: return "SEEK_DATA/SEEK_HOLE";
	case BC_MAP_BACKING_FILE: return "SEEK_DATA/SEEK_HOLE on the backing file";
	case BC_MAP_NONE: break;
	}
	return "map";
}

static int bad_map(struct bc_volume *v, uint64_t at, struct bc_error *e,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int bad_map(struct bc_volume *v, uint64_t at, struct bc_error *e,
		   const char *fmt, ...)
{
	uint32_t bs = v->block_size ? v->block_size : 1;
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return bc_error_set_lba(e, -EIO, v->name, map_command(v), at / bs, bs,
				"%s", what);
}

/* Each extent where the last one ended, and the whole reply inside
 * [off, end): see extent.h. */
static int check_reply(struct bc_volume *v, uint64_t off, uint64_t end,
		       const struct bc_extent *x, size_t got, size_t max,
		       struct bc_error *e)
{
	uint64_t pos = off;

	if (!got)
		return bad_map(v, pos, e, "allocation map: the reply holds no extent");
	if (got > max)
		return bad_map(v, pos, e, "allocation map: the reply claims %zu extents, room was for %zu",
			       got, max);
	for (size_t i = 0; i < got; i++) {
		if (x[i].offset != pos)
			return bad_map(v, pos, e, "allocation map does not continue at this LBA: the next extent %s at byte %" PRIu64,
				       x[i].offset < pos ? "overlaps it, starting" :
				       "leaves a gap, starting", x[i].offset);
		if (!x[i].length)
			return bad_map(v, pos, e, "allocation map: an empty extent");
		if (x[i].length > end - pos)
			return bad_map(v, pos, e, "allocation map: an extent of %" PRIu64 " bytes runs past the asked range (%" PRIu64 " bytes were left)",
				       x[i].length, end - pos);
		if (x[i].state != BC_EXTENT_MAPPED &&
		    x[i].state != BC_EXTENT_DEALLOCATED &&
		    x[i].state != BC_EXTENT_ANCHORED)
			return bad_map(v, pos, e, "allocation map: an extent in unknown state %d",
				       (int)x[i].state);
		pos += x[i].length;
	}
	return 0;
}

int bc_extent_query(struct bc_volume *v, uint64_t off, uint64_t end,
		    struct bc_extent *out, size_t max, size_t *n,
		    struct bc_error *e)
{
	size_t got = 0;
	int rc;

	*n = 0;
	if (off >= end || end > v->size || !max)
		return bc_error_set(e, -EINVAL, v->name, "map",
				    "nothing to ask for (bytes %" PRIu64 " to %" PRIu64 ", room for %zu)",
				    off, end, max);
	if (!bc_volume_has_map(v, v->caps_valid ? &v->caps : NULL)) {
		out[0] = (struct bc_extent){ off, end - off, BC_EXTENT_MAPPED };
		*n = 1;
		return 0;
	}
	rc = bc_volume_map(v, off, end - off, out, max, &got, e);
	if (rc < 0)
		return rc;
	rc = check_reply(v, off, end, out, got, max, e);
	if (rc < 0)
		return rc;
	*n = got;
	return 0;
}

void bc_extent_iter_init(struct bc_extent_iter *it, struct bc_volume *v,
			 uint64_t start, uint64_t end, struct bc_extent *buf,
			 size_t cap)
{
	*it = (struct bc_extent_iter){ .v = v, .buf = buf, .cap = cap,
				       .pos = start, .end = end };
}

int bc_extent_next(struct bc_extent_iter *it, struct bc_extent *x,
		   struct bc_error *e)
{
	if (it->i == it->n) {
		int rc;

		if (it->pos >= it->end)
			return 0;
		it->i = it->n = 0;
		rc = bc_extent_query(it->v, it->pos, it->end, it->buf, it->cap,
				     &it->n, e);
		if (rc < 0)
			return rc;
	}
	*x = it->buf[it->i++];
	it->pos = x->offset + x->length;
	return 1;
}
