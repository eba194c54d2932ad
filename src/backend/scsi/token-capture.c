// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A token copy whose content is fixed before it is written: POPULATE
 * TOKEN of every extent of the source with the point in time ROD type,
 * the tokens held in memory, and later WRITE USING TOKEN of them only.
 * SPC-4 lets a copy manager keep the represented data as it was
 * (persistent) or invalidate the token when the data changes (change
 * vulnerable), and drop any token left unused for its inactivity timeout:
 * either way a token is the content of its point in time or nothing.
 * So a token that died is never replaced by a new one, which would copy
 * a later state: the copy fails and says so.
 *
 * Tokens are bearer credentials: they stay in this process's memory,
 * wiped when freed, and no message carries their bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/scsi/scsi-volume.h"

/* One token: the source ranges it represents, in ROD order. */
struct tok {
	size_t nr;
	struct bc_token_range r[BC_TOKEN_POPULATE_RANGES];
	uint64_t blocks;
	uint8_t token[BC_TOKEN_LEN];
};

struct bc_capture {
	size_t n, cap;
	struct tok *t;
	uint32_t stall_s;
};

void bc_scsi_capture_free(struct bc_capture *c)
{
	if (!c)
		return;
	if (c->t)
		explicit_bzero(c->t, c->cap * sizeof(*c->t));
	free(c->t);
	free(c);
}

static struct tok *tok_next(struct bc_capture *c)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct tok *t = calloc(cap, sizeof(*t));

		if (!t)
			return NULL;
		if (c->t) {
			memcpy(t, c->t, c->n * sizeof(*t));
			explicit_bzero(c->t, c->cap * sizeof(*t));
			free(c->t);
		}
		c->t = t;
		c->cap = cap;
	}
	return &c->t[c->n];
}

/* Where the capture stands in the extents: extent @i, @in blocks into it. */
struct cursor {
	const struct bc_extent *x;
	size_t n, i;
	uint64_t in;
	uint32_t bs;
	uint64_t base;		/* the LU's LBA of the volume's first block */
};

/* The next token's ranges from @cur, within the limits; the cursor is
 * left where it was (the token may represent less). */
static size_t next_ranges(const struct cursor *cur, size_t max_ranges,
			  uint64_t max_blocks, struct bc_token_range *r)
{
	size_t k = 0, i = cur->i;
	uint64_t in = cur->in, total = 0;

	while (i < cur->n && k < max_ranges && total < max_blocks) {
		uint64_t len = cur->x[i].length / cur->bs, take = len - in;

		if (take > UINT32_MAX)
			take = UINT32_MAX;
		if (take > max_blocks - total)
			take = max_blocks - total;
		r[k].lba = cur->base + cur->x[i].offset / cur->bs + in;
		r[k++].blocks = (uint32_t)take;
		total += take;
		if ((in += take) == len) {
			i++;
			in = 0;
		}
	}
	return k;
}

/* The token kept @rep blocks of its ranges: trim them, move on. */
static void took(struct cursor *cur, struct tok *t, uint64_t rep)
{
	uint64_t left = rep;

	for (size_t k = 0; k < t->nr; k++) {
		if (t->r[k].blocks >= left) {
			t->r[k].blocks = (uint32_t)left;
			t->nr = k + 1;
			break;
		}
		left -= t->r[k].blocks;
	}
	t->blocks = rep;
	for (left = rep; left;) {
		uint64_t room = cur->x[cur->i].length / cur->bs - cur->in;
		uint64_t k = left < room ? left : room;

		left -= k;
		if ((cur->in += k) == cur->x[cur->i].length / cur->bs) {
			cur->i++;
			cur->in = 0;
		}
	}
}

int bc_scsi_token_capture(struct bc_volume *src, struct bc_volume *dst,
			  const struct bc_extent *x, size_t n,
			  const struct bc_stop *stop, struct bc_capture **out,
			  char *said, size_t said_len, struct bc_error *e)
{
	const struct bc_token_limits *lim = &src->caps.token_lim;
	struct cursor cur = { x, n, 0, 0, src->block_size, sp(src)->base_lba };
	size_t max_ranges = lim->max_range_desc ? lim->max_range_desc : 1;
	uint64_t max_blocks = lim->max_token_transfer ? lim->max_token_transfer : UINT64_MAX;
	/* as long as the LU allows: the tokens wait for the run, and each
	 * for the ones written before it */
	uint32_t ask_s = lim->max_inactivity_s;
	struct bc_capture *c;
	uint64_t blocks = 0;

	if (src->block_size != dst->block_size)
		return bc_error_set(e, -EINVAL, dst->name, "token copy",
				    "ranges must be whole blocks of one size");
	if (max_ranges > BC_TOKEN_POPULATE_RANGES)
		max_ranges = BC_TOKEN_POPULATE_RANGES;
	if (!(c = calloc(1, sizeof(*c))))
		return bc_error_set(e, -ENOMEM, src->name, "POPULATE TOKEN", NULL);
	c->stall_s = bc_scsi_token_stall_s(src);
	while (cur.i < cur.n) {
		struct tok *t = tok_next(c);
		uint64_t rep = 0;
		int rc;

		if (stop->cancel && *stop->cancel)
			rc = bc_error_set_lba(e, -EINTR, src->name, "POPULATE TOKEN",
					      cur.base + x[cur.i].offset / cur.bs + cur.in,
					      cur.bs, "interrupted");
		else if (!t)
			rc = bc_error_set(e, -ENOMEM, src->name, "POPULATE TOKEN", NULL);
		else
			rc = 0;
		if (rc == 0) {
			t->nr = next_ranges(&cur, max_ranges, max_blocks, t->r);
			rc = bc_scsi_token_populate(src, t->r, t->nr,
						    BC_ROD_TYPE_PIT_DEFAULT, ask_s,
						    t->token, &rep, e);
		}
		if (rc < 0) {
			/* tokens made so far die on their own (inactivity) */
			bc_scsi_capture_free(c);
			return rc;
		}
		took(&cur, t, rep);
		blocks += rep;
		c->n++;
	}
	snprintf(said, said_len,
		 "%zu point-in-time ROD token%s (ROD type 00800000h) for %llu blocks of %s; inactivity timeout asked: %s%u s",
		 c->n, c->n == 1 ? "" : "s", (unsigned long long)blocks, src->name,
		 ask_s ? "" : "the LU's default, ", ask_s ? ask_s : lim->default_inactivity_s);
	*out = c;
	return 0;
}

/* A token the copy manager no longer honours: the point in time is gone. */
static int lost(struct bc_error *e)
{
	char was[sizeof(e->detail)];

	snprintf(was, sizeof(was), "%s", e->detail);
	snprintf(e->detail, sizeof(e->detail),
		 "the point in time fixed at start was lost: %.200s (a new token would copy a later state)",
		 was[0] ? was : "ROD token invalid");
	return e->err;
}

int bc_scsi_token_capture_copy(struct bc_capture *c, struct bc_volume *src,
			       uint64_t src_off, struct bc_volume *dst,
			       uint64_t dst_off, uint64_t len,
			       const struct bc_stop *stop, uint64_t *done,
			       struct bc_error *e)
{
	uint64_t lba = scsi_lba(src, src_off, NULL);
	uint64_t dlba = scsi_lba(dst, dst_off, NULL);
	uint64_t blocks = len / src->block_size, got = 0;

	*done = 0;
	for (size_t i = 0; i < c->n && got < blocks; i++) {
		const struct tok *t = &c->t[i];
		uint64_t rod = 0;

		for (size_t k = 0; k < t->nr && got < blocks; rod += t->r[k++].blocks) {
			uint64_t at = lba + got, in, n, w = 0;
			int rc;

			if (at < t->r[k].lba || at >= t->r[k].lba + t->r[k].blocks)
				continue;
			in = at - t->r[k].lba;
			n = t->r[k].blocks - in;
			if (n > blocks - got)
				n = blocks - got;
			rc = bc_scsi_token_write(dst, t->token, rod + in, dlba + got, n,
						 c->stall_s, stop, &w, e);
			got += w;
			*done = got * src->block_size;
			if (rc < 0)
				return e->status.cat == BC_CAT_INVALID_TOKEN ? lost(e) : rc;
		}
	}
	if (got < blocks)
		return bc_error_set_lba(e, -EINVAL, src->name, "WRITE USING TOKEN",
					lba + got, src->block_size,
					"no token was populated for this block at start");
	return 0;
}
