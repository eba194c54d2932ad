// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Planning UNMAP by granules (see unmap.h).  Granule boundaries are the
 * LBAs alignment + k * granularity; the region below the alignment is a
 * partial granule too.  An alignment of a granule or more is taken modulo
 * the granularity (the lattice is the same).
 */
#include <errno.h>
#include <string.h>

#include "scsi/unmap.h"

static void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* A limit field: 0 and FFFFFFFFh both mean "none" for the LBA count. */
static uint64_t cmd_limit(uint32_t v)
{
	return v == 0 || v == UINT32_MAX ? UINT64_MAX : v;
}

static size_t desc_limit(uint32_t v)
{
	/* 0 = not reported: one descriptor is what every UNMAP takes */
	if (v == 0)
		return 1;
	return v > BC_UNMAP_STEP_DESC ? BC_UNMAP_STEP_DESC : v;
}

/* Everything zeroed explicitly: no whole granule fits. */
static int all_head(uint64_t lba, uint64_t blocks, struct bc_unmap_step *o)
{
	o->head_lba = lba;
	o->head_blocks = blocks;
	o->consumed = blocks;
	return 0;
}

/*
 * UGAVALID=0 with a granularity: boundaries unknown.  Any partial granule
 * of a piece lies in its first or last g-1 blocks, so one descriptor
 * covers the piece and those edges are zeroed after it.  Each piece is a
 * command of its own, so a split never leaves an unzeroed partial granule.
 */
static int plan_unaligned(uint64_t lba, uint64_t blocks, uint64_t gran,
			  uint64_t cmd_max, struct bc_unmap_step *o)
{
	uint64_t k = blocks, edge = gran - 1;

	if (k > cmd_max)
		k = cmd_max;
	if (k > UINT32_MAX)
		k = UINT32_MAX;
	if (k <= 2 * edge)		/* the edges are all of it */
		return all_head(lba, k, o);
	o->desc[0] = (struct bc_unmap_range){ lba, (uint32_t)k };
	o->n_desc = 1;
	o->head_lba = lba;
	o->head_blocks = edge;
	o->tail_lba = lba + k - edge;
	o->tail_blocks = edge;
	o->consumed = k;
	return 0;
}

int bc_unmap_plan_step(uint64_t lba, uint64_t blocks,
		       const struct bc_unmap_geom *g, struct bc_unmap_step *o)
{
	uint64_t gran = g->granularity > 1 ? g->granularity : 1;
	uint64_t a, r, first, last, end = lba + blocks, cmd_max, desc_max, take = 0;
	size_t maxd = desc_limit(g->max_descriptors);

	memset(o, 0, sizeof(*o));
	if (end < lba)
		return -EINVAL;
	if (!blocks)
		return 0;
	cmd_max = cmd_limit(g->max_lba_count);
	if (gran > 1 && !g->ugavalid)
		return plan_unaligned(lba, blocks, gran, cmd_max, o);

	/* whole granules only, and each command a whole number of them, so
	 * the boundary between two commands is a granule boundary */
	cmd_max = cmd_max / gran * gran;
	desc_max = UINT32_MAX / gran * gran;
	a = g->alignment % gran;
	if (lba < a) {
		first = a;
	} else {
		r = (lba - a) % gran;
		if (r && gran - r >= blocks)
			return all_head(lba, blocks, o);
		first = r ? lba + (gran - r) : lba;
	}
	last = end < a ? 0 : a + (end - a) / gran * gran;
	if (first >= end || last <= first || !cmd_max)
		return all_head(lba, blocks, o);

	o->head_lba = lba;
	o->head_blocks = first - lba;
	while (o->n_desc < maxd && first + take < last && take < cmd_max) {
		uint64_t d = last - first - take;

		if (d > desc_max)
			d = desc_max;
		if (d > cmd_max - take)
			d = cmd_max - take;
		o->desc[o->n_desc++] = (struct bc_unmap_range){ first + take, (uint32_t)d };
		take += d;
	}
	if (first + take == last) {
		o->tail_lba = last;
		o->tail_blocks = end - last;
		o->consumed = blocks;
	} else {
		o->consumed = first + take - lba;
	}
	return 0;
}

int bc_unmap_build_list(uint8_t *buf, size_t len,
			const struct bc_unmap_range *r, size_t n)
{
	size_t need = BC_UNMAP_HDR_LEN + n * BC_UNMAP_DESC_LEN;

	/* the list length travels in 16 bits (CDB and header) */
	if (!n || need > 0xffff)
		return -EINVAL;
	if (len < need)
		return -ENOSPC;
	memset(buf, 0, need);
	put_be16(buf, (uint16_t)(need - 2));		/* UNMAP DATA LENGTH */
	put_be16(buf + 2, (uint16_t)(n * BC_UNMAP_DESC_LEN));
	for (size_t i = 0; i < n; i++) {
		uint8_t *d = buf + BC_UNMAP_HDR_LEN + i * BC_UNMAP_DESC_LEN;

		put_be32(d, (uint32_t)(r[i].lba >> 32));
		put_be32(d + 4, (uint32_t)r[i].lba);
		put_be32(d + 8, r[i].blocks);
	}
	return (int)need;
}
