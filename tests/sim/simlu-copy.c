// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The copy manager's EXTENDED COPY(LID1) and RECEIVE COPY RESULTS (see
 * simlu.h for the two personalities).  The LIO personality follows the
 * order of checks of Linux's target_core_xcopy.c, so its sense codes are
 * the ones a client sees from LIO; the SPC personality follows SPC-4.
 * The parameter list is parsed completely, within the lengths it claims
 * and the bytes actually sent, before anything is written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simlu-int.h"

#define HDR_LEN		16
#define CSCD_LEN	32
#define SEG_LEN		28
#define MAX_SEGS	1024	/* parser's own bound, whatever the limits say */

/* LIO's RECEIVE COPY OPERATING PARAMETERS (target_core_xcopy.h) */
#define LIO_MAX_CSCD		2
#define LIO_MAX_SEGS		1
#define LIO_MAX_LIST		1024
#define LIO_MAX_SEG_LEN		268435456u

struct xc_seg {
	uint16_t src, dst;	/* CSCD indexes */
	uint16_t blocks;
	bool dc;
	uint64_t slba, dlba;
};

struct xc_list {
	const uint8_t *cscd;	/* ncscd descriptors of CSCD_LEN bytes */
	unsigned ncscd;
	struct xc_seg seg[MAX_SEGS];
	unsigned nseg;
	uint8_t list_id, usage;
};

struct xc_limits {
	unsigned max_cscd, max_segs;
	uint32_t max_list, max_seg_len;
};

static void limits(const struct sim_lu *lu, struct xc_limits *l)
{
	const struct bc_sim_xcopy_limits *x = &lu->cfg.xcopy_lim;

	if (lu->cfg.xcopy == BC_SIM_XCOPY_LIO) {
		*l = (struct xc_limits){ LIO_MAX_CSCD, LIO_MAX_SEGS, LIO_MAX_LIST,
					 LIO_MAX_SEG_LEN };
		return;
	}
	l->max_cscd = x->max_cscd ? x->max_cscd : 8;
	l->max_segs = x->max_segments ? x->max_segments : 8;
	if (l->max_segs > MAX_SEGS)
		l->max_segs = MAX_SEGS;
	l->max_list = x->max_list_len ? x->max_list_len : 4096;
	l->max_seg_len = x->max_segment_len;
}

/* Parse one 0x02 segment at @d (SEG_LEN bytes available). */
static void seg02(const uint8_t *d, struct xc_seg *s)
{
	s->dc = d[1] & 0x02;
	s->src = sim_be16(d + 4);
	s->dst = sim_be16(d + 6);
	s->blocks = sim_be16(d + 10);
	s->slba = sim_be64(d + 12);
	s->dlba = sim_be64(d + 20);
}

/* --- LIO ------------------------------------------------------------------ */

/* An 0xE4 CSCD LIO accepts: binary NAA, association LU, 16-byte NAA-6. */
static bool lio_cscd_ok(const uint8_t *d)
{
	return (d[4] & 0x0f) == 0x01 && (d[5] & 0x30) == 0 &&
	       (d[5] & 0x0f) == 0x03 && d[7] == 16 && (d[8] & 0xf0) == 0x60;
}

/* 0, or -1 with the sense set.  @p has @plen bytes (>= HDR_LEN). */
static int lio_parse(struct sim_ctx *c, const uint8_t *p, size_t plen,
		     struct xc_list *x)
{
	uint64_t tdll = sim_be16(p + 2), sdll = sim_be32(p + 8);
	const uint8_t *seg = p + HDR_LEN + tdll;

	if (tdll + sdll > LIO_MAX_LIST) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH);
		return -1;
	}
	if (sim_be32(p + 12)) {			/* inline data */
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_PARAM_FIELD);
		return -1;
	}
	if (plen < HDR_LEN + tdll + sdll) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH);
		return -1;
	}
	/* segments first: LIO needs their CSCD indexes to read the CSCDs */
	if (sdll % SEG_LEN) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_UNSUP_SEGMENT_TYPE);
		return -1;
	}
	if (sdll > LIO_MAX_SEGS * SEG_LEN) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_TOO_MANY_SEGMENTS);
		return -1;
	}
	if (!sdll || seg[0] != 0x02 || sim_be16(seg + 2) != 0x18) {
		sim_sense(c, SK_ILLEGAL_REQUEST, !sdll || seg[0] == 0x02 ?
			  ASC_INVALID_PARAM_FIELD : ASC_UNSUP_SEGMENT_TYPE);
		return -1;
	}
	seg02(seg, &x->seg[0]);
	x->nseg = 1;
	if (x->seg[0].src > 1 || x->seg[0].dst > 1) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_PARAM_FIELD);
		return -1;
	}
	if (tdll % CSCD_LEN) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_UNSUP_CSCD_TYPE);
		return -1;
	}
	if (tdll > LIO_MAX_CSCD * CSCD_LEN) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_TOO_MANY_CSCD);
		return -1;
	}
	x->cscd = p + HDR_LEN;
	x->ncscd = (unsigned)(tdll / CSCD_LEN);
	for (unsigned i = 0; i < x->ncscd; i++) {
		const uint8_t *d = x->cscd + i * CSCD_LEN;

		if (d[0] != 0xe4) {
			sim_sense(c, SK_ILLEGAL_REQUEST, ASC_UNSUP_CSCD_TYPE);
			return -1;
		}
		if (!lio_cscd_ok(d)) {
			sim_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_PARAM_FIELD);
			return -1;
		}
	}
	return 0;
}

/* --- SPC ------------------------------------------------------------------ */

static int spc_parse(struct sim_ctx *c, const uint8_t *p, size_t plen,
		     struct xc_list *x)
{
	struct xc_limits lim;
	uint64_t tdll = sim_be16(p + 2), sdll = sim_be32(p + 8);
	uint64_t inl = sim_be32(p + 12), off;

	limits(c->lu, &lim);
	x->list_id = p[0];
	x->usage = (p[1] >> 3) & 3;
	if (x->usage == 1) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 1);
		return -1;
	}
	if (x->usage == 3 && x->list_id) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 0);
		return -1;
	}
	if (inl) {				/* MAXIMUM INLINE DATA LENGTH 0 */
		sim_bad_param(c, ASC_INLINE_TOO_LONG, 12);
		return -1;
	}
	if (tdll + sdll > lim.max_list || plen < HDR_LEN + tdll + sdll) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH);
		return -1;
	}
	if (tdll % CSCD_LEN) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 2);
		return -1;
	}
	x->cscd = p + HDR_LEN;
	x->ncscd = (unsigned)(tdll / CSCD_LEN);
	if (x->ncscd > lim.max_cscd) {
		sim_bad_param(c, ASC_TOO_MANY_CSCD, 2);
		return -1;
	}
	for (unsigned i = 0; i < x->ncscd; i++) {
		const uint8_t *d = x->cscd + i * CSCD_LEN;
		unsigned at = HDR_LEN + i * CSCD_LEN;

		if (d[0] != 0xe4) {
			sim_bad_param(c, ASC_UNSUP_CSCD_TYPE, at);
			return -1;
		}
		/* LU ID TYPE 00b (LUN), NUL 0, peripheral type 0 (block);
		 * a designator that fits the 20 bytes it has */
		if (d[1] || d[7] > 20) {
			sim_bad_param(c, ASC_INVALID_PARAM_FIELD, at + (d[1] ? 1 : 7));
			return -1;
		}
	}
	for (off = 0; off < sdll; x->nseg++) {
		const uint8_t *d = p + HDR_LEN + tdll + off;
		unsigned at = (unsigned)(HDR_LEN + tdll + off);
		struct xc_seg *s = &x->seg[x->nseg < MAX_SEGS ? x->nseg : 0];
		uint32_t bs;

		if (x->nseg >= lim.max_segs) {
			sim_bad_param(c, ASC_TOO_MANY_SEGMENTS, 8);
			return -1;
		}
		if (sdll - off < 4 || d[0] != 0x02) {
			sim_bad_param(c, sdll - off < 4 ? ASC_INVALID_PARAM_FIELD
					: ASC_UNSUP_SEGMENT_TYPE, at);
			return -1;
		}
		if (sim_be16(d + 2) != SEG_LEN - 4 || sdll - off < SEG_LEN) {
			sim_bad_param(c, ASC_INVALID_PARAM_FIELD, at + 2);
			return -1;
		}
		seg02(d, s);
		if (s->src >= x->ncscd || s->dst >= x->ncscd) {
			sim_bad_param(c, ASC_INVALID_PARAM_FIELD,
				      at + (s->src >= x->ncscd ? 4 : 6));
			return -1;
		}
		/* MAXIMUM SEGMENT LENGTH counts bytes: the block length the
		 * CSCD declares, else this LU's */
		bs = sim_be24(x->cscd + (size_t)s->src * CSCD_LEN + 29);
		if (!bs)
			bs = c->lu->cfg.block_size;
		if (lim.max_seg_len && (uint64_t)s->blocks * bs > lim.max_seg_len) {
			sim_bad_param(c, ASC_INVALID_PARAM_FIELD, at + 10);
			return -1;
		}
		off += SEG_LEN;
	}
	if (!x->nseg) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 8);
		return -1;
	}
	return 0;
}

/* --- running the segments ------------------------------------------------- */

/* The LU a CSCD names, with the block length it declares checked. */
static struct sim_lu *cscd_lu(struct sim_ctx *c, const uint8_t *d, bool *bad_bs)
{
	struct sim_lu *lu = NULL;
	uint32_t bs = sim_be24(d + 29);

	*bad_bs = false;
	/* binary NAA designating a LU */
	if ((d[4] & 0x0f) == 0x01 && (d[5] & 0x30) == 0 && (d[5] & 0x0f) == 3)
		lu = sim_lu_by_naa(c->sim, d + 8, d[7]);
	if (lu && lu->cfg.xcopy == BC_SIM_XCOPY_NONE && c->lu->cfg.xcopy ==
	    BC_SIM_XCOPY_LIO)
		lu = NULL;	/* LIO only finds devices with emulate_3pc */
	if (lu && bs && bs != lu->cfg.block_size &&
	    c->lu->cfg.xcopy == BC_SIM_XCOPY_SPC)
		*bad_bs = true;	/* LIO ignores the declared length */
	return lu;
}

/* Record how the command ended in its held list, if it has one. */
static void finish(struct sim_ctx *c, struct sim_list *l, unsigned segs,
		   uint64_t blocks)
{
	if (!l)
		return;
	l->segs_done = (uint16_t)segs;
	l->blocks_done = blocks;
	if (c->cmd->status == BC_SAM_CHECK_CONDITION) {
		l->state = SIM_LIST_ERROR;
		l->sense_len = (uint8_t)(c->cmd->sense_len < sizeof(l->sense) ?
					 c->cmd->sense_len : sizeof(l->sense));
		memcpy(l->sense, c->cmd->sense, l->sense_len);
	} else {
		l->state = SIM_LIST_DONE;
	}
}

static void run(struct sim_ctx *c, struct xc_list *x, struct sim_list *l)
{
	bool lio = c->lu->cfg.xcopy == BC_SIM_XCOPY_LIO;
	struct sim_fault *sf;
	uint64_t done = 0;
	unsigned i;
	bool quiet;

	c->has_copy_lba = x->nseg > 0;
	c->copy_lba = x->nseg ? x->seg[0].slba : 0;
	sf = sim_copy_fault(c);
	quiet = lio || c->lu->cfg.xcopy_lim.no_progress || (sf && sf->f.no_progress);

	for (i = 0; i < x->nseg; i++) {
		const struct xc_seg *s = &x->seg[i];
		bool bad_src, bad_dst;
		struct sim_lu *src = cscd_lu(c, x->cscd + (size_t)s->src * CSCD_LEN, &bad_src);
		struct sim_lu *dst = cscd_lu(c, x->cscd + (size_t)s->dst * CSCD_LEN, &bad_dst);
		uint16_t why = 0;
		uint64_t n = s->blocks;

		if (!src || !dst)
			why = ASC_COPY_TARGET_UNREACH;
		else if (lio && src != c->lu && dst != c->lu)
			why = ASC_COPY_TARGET_UNREACH;	/* LIO: "CSCD IDs not found" */
		else if (bad_src || bad_dst || src->cfg.block_size != dst->cfg.block_size)
			why = lio ? ASC_COPY_TARGET_UNREACH : ASC_INVALID_COPY_OP;
		else if (s->slba > src->cfg.blocks || n > src->cfg.blocks - s->slba ||
			 s->dlba > dst->cfg.blocks || n > dst->cfg.blocks - s->dlba)
			why = lio ? ASC_COPY_TARGET_UNREACH : ASC_THIRD_PARTY_FAILURE;
		if (why) {
			/* SPC: COMMAND-SPECIFIC INFORMATION = the segment */
			sim_sense_full(c, SK_COPY_ABORTED, why, false, 0, quiet ? 0 : i);
			break;
		}
		if (sf && done + n > sf->f.after_blocks)
			n = sf->f.after_blocks - done;
		if (n && sim_lu_copy(c->sim, src, s->slba, dst, s->dlba, n) < 0) {
			sim_sense_full(c, SK_COPY_ABORTED, lio ? ASC_COPY_TARGET_UNREACH :
				       ASC_THIRD_PARTY_FAILURE, false, 0, quiet ? 0 : i);
			break;
		}
		done += n;
		if (n < s->blocks) {
			uint16_t ascq = sf->f.asc || sf->f.ascq ?
				(uint16_t)(sf->f.asc << 8 | sf->f.ascq) :
				ASC_COPY_TARGET_UNREACH;

			/* INFORMATION: the blocks of segment i not copied */
			if (quiet)
				sim_sense(c, SK_COPY_ABORTED, ascq);
			else
				sim_sense_full(c, SK_COPY_ABORTED, ascq, true,
					       (uint32_t)(s->blocks - n), i);
			break;
		}
	}
	/* a fault whose block count was never reached still fails the
	 * command, after everything was written: a lost completion */
	if (sf && i == x->nseg && c->cmd->status == BC_SAM_GOOD) {
		uint16_t ascq = sf->f.asc || sf->f.ascq ?
			(uint16_t)(sf->f.asc << 8 | sf->f.ascq) : ASC_COPY_TARGET_UNREACH;

		sim_sense_full(c, SK_COPY_ABORTED, ascq, false, 0, quiet ? 0 : i);
	}
	finish(c, l, i, done);
}

void sim_cmd_xcopy_lid1(struct sim_ctx *c)
{
	uint32_t plen = sim_be32(c->cdb + 10);
	struct sim_list *l = NULL;
	struct xc_list *x;
	const uint8_t *p;
	int rc;

	if (!plen)
		return;			/* SPC: not an error, nothing to do */
	if (plen < HDR_LEN) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH);
		return;
	}
	if (!(p = sim_data_out(c, plen)))
		return;
	x = calloc(1, sizeof(*x));
	if (!x) {
		sim_sense(c, SK_HARDWARE_ERROR, ASC_INTERNAL_FAILURE);
		return;
	}
	if (c->lu->cfg.xcopy == BC_SIM_XCOPY_LIO)
		rc = lio_parse(c, p, plen, x);
	else
		rc = spc_parse(c, p, plen, x);
	if (rc == 0) {
		/* LIST ID USAGE 00b/10b: keep the outcome for RECEIVE COPY
		 * RESULTS; LIO supports no list identifier at all */
		if (c->lu->cfg.xcopy == BC_SIM_XCOPY_SPC && x->usage != 3)
			l = sim_list_new(c, true, x->list_id, 0x00);
		if (l || c->lu->cfg.xcopy == BC_SIM_XCOPY_LIO || x->usage == 3)
			run(c, x, l);
	}
	free(x);
}

/* --- RECEIVE COPY RESULTS ------------------------------------------------- */

static void operating_params(struct sim_ctx *c, uint32_t alloc)
{
	struct xc_limits lim;
	uint8_t buf[46] = { 0 }, conc;
	bool lio = c->lu->cfg.xcopy == BC_SIM_XCOPY_LIO;

	if (c->lu->cfg.xcopy == BC_SIM_XCOPY_LIO && (alloc < 54 || c->cdb[2])) {
		sim_bad_cdb(c, c->cdb[2] ? 2 : 10);	/* as LIO */
		return;
	}
	limits(c->lu, &lim);
	sim_put32(buf, sizeof(buf) - 4);
	buf[4] = 0x01;				/* SNLID */
	sim_put16(buf + 8, (uint16_t)lim.max_cscd);
	sim_put16(buf + 10, (uint16_t)lim.max_segs);
	sim_put32(buf + 12, lim.max_list);
	sim_put32(buf + 16, lim.max_seg_len);
	/* max inline 0, held data limit 0, max stream transfer 0 */
	conc = lio || !c->lu->cfg.xcopy_lim.max_concurrent ? 1 :
	       c->lu->cfg.xcopy_lim.max_concurrent;
	sim_put16(buf + 34, conc);		/* total concurrent copies */
	buf[36] = conc;				/* maximum concurrent copies */
	buf[43] = 2;
	buf[44] = 0x02;				/* block -> block */
	buf[45] = 0xe4;				/* identification CSCD */
	sim_data_in(c, buf, sizeof(buf), alloc);
}

void sim_cmd_rcr_lid1(struct sim_ctx *c)
{
	uint8_t sa = c->cdb[1] & 0x1f, buf[64 + sizeof(((struct sim_list *)0)->sense)];
	uint32_t alloc = sim_be32(c->cdb + 10);
	struct sim_list *l;
	size_t n;

	if (sa == 0x03) {
		operating_params(c, alloc);
		return;
	}
	l = sim_list_find(c, true, c->cdb[2]);
	if (!l) {
		sim_bad_cdb(c, 2);
		return;
	}
	memset(buf, 0, sizeof(buf));
	switch (sa) {
	case 0x00:				/* copy status */
		buf[4] = l->state == SIM_LIST_ERROR ? 0x02 : 0x01;
		sim_put16(buf + 5, l->segs_done);
		buf[7] = 0xf1;			/* transfer count in blocks */
		sim_put32(buf + 8, l->blocks_done > 0xffffffffu ? 0xffffffffu :
			  (uint32_t)l->blocks_done);
		n = 12;
		break;
	case 0x01:				/* no data is ever held */
		n = 4;
		break;
	default:				/* 0x04: failure details */
		n = 60;
		if (l->state == SIM_LIST_ERROR) {
			buf[56] = 0x02;
			sim_put16(buf + 58, l->sense_len);
			memcpy(buf + 60, l->sense, l->sense_len);
			n += l->sense_len;
		}
		break;
	}
	if (n > 4 && (sa != 0x04 || l->state == SIM_LIST_ERROR))
		sim_put32(buf, (uint32_t)(n - 4));
	sim_data_in(c, buf, n, alloc);
}
