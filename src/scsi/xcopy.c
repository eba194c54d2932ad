// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * EXTENDED COPY (LID1) parameter lists, byte for byte (SPC-4 6.4): pure
 * functions, tested in tests/unit/test-xcopy.c.
 */
#include <errno.h>
#include <string.h>

#include "scsi/xcopy.h"

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

const struct bc_designator *bc_xcopy_pick_designator(const struct bc_designator *d,
						     size_t n)
{
	const struct bc_designator *best = NULL;

	for (size_t i = 0; i < n; i++) {
		if (d[i].type != 3 || d[i].association != 0 || d[i].code_set != 1)
			continue;
		if (d[i].len != 8 && d[i].len != 16)
			continue;
		if (!best || d[i].len > best->len)
			best = &d[i];
	}
	return best;
}

/* 0xE4 identification CSCD descriptor (SPC-4 6.4.5.?, 32 bytes). */
static int put_cscd_e4(uint8_t *p, const struct bc_designator *d,
		       uint32_t block)
{
	if (!d || !d->len || d->len > 20 || block == 0 || block > 0xffffff)
		return -EINVAL;
	memset(p, 0, BC_XCOPY_CSCD_LEN);
	p[0] = 0xe4;
	p[1] = 0x00;		/* LU ID TYPE 00b: a LUN; PDT 0: block device */
	/* bytes 2-3: relative initiator port identifier 0 = any port */
	p[4] = d->code_set & 0x0f;	/* no protocol identifier, PIV 0 */
	p[5] = (uint8_t)((d->association & 3) << 4 | (d->type & 0x0f));
	p[7] = d->len;
	memcpy(p + 8, d->id, d->len);
	/* bytes 28-31: block device type parameters; PAD 0, DISK BLOCK LENGTH */
	p[29] = (uint8_t)(block >> 16);
	p[30] = (uint8_t)(block >> 8);
	p[31] = (uint8_t)block;
	return 0;
}

/* 0x02 block -> block segment descriptor (28 bytes). */
static void put_seg_02(uint8_t *p, const struct bc_xcopy_segment *s)
{
	memset(p, 0, BC_XCOPY_SEG_LEN);
	p[0] = 0x02;
	p[1] = 0x00;		/* DC 0: NUMBER OF BLOCKS counts source blocks */
	put_be16(p + 2, BC_XCOPY_SEG_LEN - 4);
	put_be16(p + 4, 0);	/* source CSCD index */
	put_be16(p + 6, 1);	/* destination CSCD index */
	put_be16(p + 10, s->blocks);
	put_be64(p + 12, s->src_lba);
	put_be64(p + 20, s->dst_lba);
}

int bc_xcopy_build_list(uint8_t *buf, size_t len,
			const struct bc_designator *src, uint32_t src_block,
			const struct bc_designator *dst, uint32_t dst_block,
			const struct bc_xcopy_segment *seg, size_t nseg)
{
	size_t need = BC_XCOPY_HDR_LEN + 2 * BC_XCOPY_CSCD_LEN +
		      nseg * BC_XCOPY_SEG_LEN;
	uint8_t *p = buf;
	int rc;

	if (nseg == 0 || nseg > 0xffff)
		return -EINVAL;
	if (need > len)
		return -ENOSPC;
	memset(buf, 0, need);
	p[0] = 0;			/* LIST IDENTIFIER: none */
	p[1] = 3 << 3;			/* LIST ID USAGE 11b, STR 0, priority 0 */
	put_be16(p + 2, 2 * BC_XCOPY_CSCD_LEN);
	put_be32(p + 8, (uint32_t)(nseg * BC_XCOPY_SEG_LEN));
	put_be32(p + 12, 0);		/* no inline data */
	p += BC_XCOPY_HDR_LEN;
	if ((rc = put_cscd_e4(p, src, src_block)) < 0 ||
	    (rc = put_cscd_e4(p + BC_XCOPY_CSCD_LEN, dst, dst_block)) < 0)
		return rc;
	p += 2 * BC_XCOPY_CSCD_LEN;
	for (size_t i = 0; i < nseg; i++) {
		/* zero blocks only alone: the pair check (SPC: not an error) */
		if (!seg[i].blocks && nseg > 1)
			return -EINVAL;
		put_seg_02(p + i * BC_XCOPY_SEG_LEN, &seg[i]);
	}
	return (int)need;
}

void bc_xcopy_build_cdb(uint8_t cdb[16], uint32_t list_len)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x83;		/* EXTENDED COPY */
	cdb[1] = 0x00;		/* service action LID1 */
	put_be32(cdb + 10, list_len);
}

int bc_xcopy_shape(const struct bc_xcopy_limits *l, uint32_t block_size,
		   struct bc_xcopy_shape *out)
{
	uint32_t blocks = BC_XCOPY_SEG_MAX_BLOCKS;
	uint32_t segs = l->max_segments ? l->max_segments : 1;

	if (!block_size)
		return -EINVAL;
	if (l->max_cscd && l->max_cscd < 2)
		return -EOPNOTSUPP;	/* cannot name source and destination */
	if (l->max_segment_len) {
		uint32_t b = l->max_segment_len / block_size;

		if (b == 0)
			return -EOPNOTSUPP;
		if (b < blocks)
			blocks = b;
	}
	if (l->max_desc_list_len) {
		uint32_t room;

		if (l->max_desc_list_len < 2 * BC_XCOPY_CSCD_LEN + BC_XCOPY_SEG_LEN)
			return -EOPNOTSUPP;
		room = (l->max_desc_list_len - 2 * BC_XCOPY_CSCD_LEN) /
		       BC_XCOPY_SEG_LEN;
		if (room < segs)
			segs = room;
	}
	/* keep one command's list small: a page of segments is plenty */
	if (segs > 128)
		segs = 128;
	out->seg_blocks = blocks;
	out->segs_per_cmd = segs;
	return 0;
}

size_t bc_xcopy_cut(const struct bc_xcopy_shape *s, uint64_t src_lba,
		    uint64_t dst_lba, uint64_t blocks,
		    struct bc_xcopy_segment *out, size_t max, uint64_t *covered)
{
	size_t k = 0;
	uint64_t done = 0;

	if (max > s->segs_per_cmd)
		max = s->segs_per_cmd;
	while (done < blocks && k < max) {
		uint64_t n = blocks - done;

		if (n > s->seg_blocks)
			n = s->seg_blocks;
		out[k++] = (struct bc_xcopy_segment){ src_lba + done,
						      dst_lba + done,
						      (uint16_t)n };
		done += n;
	}
	*covered = done;
	return k;
}

size_t bc_xcopy_segments_done(const struct bc_status *st, size_t nseg)
{
	if (st->kind != BC_STATUS_SCSI || st->sense_key != 0x0a ||
	    !st->cmd_specific_valid)
		return 0;
	return st->cmd_specific < nseg ? (size_t)st->cmd_specific : 0;
}

unsigned bc_xcopy_concurrency(const struct bc_xcopy_limits *l,
			      unsigned max_queue, unsigned cap)
{
	unsigned n = l->max_concurrent_copies ? l->max_concurrent_copies : 1;

	if (l->max_concurrent && l->max_concurrent < n)
		n = l->max_concurrent;
	if (max_queue && max_queue < n)
		n = max_queue;
	if (!max_queue)
		n = 1;
	if (cap < n)
		n = cap;
	return n ? n : 1;
}
