// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The simulator's block and inquiry commands (see simlu-int.h): TEST UNIT
 * READY, INQUIRY and its VPD pages, REPORT LUNS, READ CAPACITY, GET LBA
 * STATUS, READ/WRITE(10/16), WRITE SAME(10/16), UNMAP, SYNCHRONIZE CACHE.
 * Every length and LBA the initiator sends is checked before use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlu-int.h"

/* [lba, lba + n) inside the LU?  Else LBA OUT OF RANGE. */
static bool range_ok(struct sim_ctx *c, uint64_t lba, uint64_t n)
{
	uint64_t blocks = c->lu->cfg.blocks;

	if (lba > blocks || n > blocks - lba) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

/* Out of memory while writing: what a target says when its backend fails. */
static void store_failed(struct sim_ctx *c)
{
	sim_sense(c, SK_HARDWARE_ERROR, ASC_INTERNAL_FAILURE);
}

void sim_cmd_tur(struct sim_ctx *c)
{
	(void)c;
}

/* --- INQUIRY -------------------------------------------------------------- */

static size_t std_inquiry(const struct sim_lu *lu, uint8_t *p)
{
	const struct bc_sim_lu_cfg *cfg = &lu->cfg;

	memset(p, 0, 96);
	p[0] = 0x00;			/* connected, direct access block device */
	p[2] = 0x06;			/* SPC-4 */
	p[3] = 0x12;			/* HISUP, response data format 2 */
	p[4] = 96 - 5;
	if (cfg->xcopy != BC_SIM_XCOPY_NONE || cfg->token)
		p[5] = 0x08;		/* 3PC */
	p[7] = 0x02;			/* CMDQUE */
	memset(p + 8, ' ', 28);
	memcpy(p + 8, cfg->vendor, strnlen(cfg->vendor, 8));
	memcpy(p + 16, cfg->product, strnlen(cfg->product, 16));
	memcpy(p + 32, "0001", 4);
	return 96;
}

static size_t vpd_pages(const struct sim_lu *lu, uint8_t *p)
{
	size_t n = 4;

	p[n++] = 0x00;
	p[n++] = 0x80;
	p[n++] = 0x83;
	if (lu->cfg.token || lu->cfg.xcopy == BC_SIM_XCOPY_SPC)
		p[n++] = 0x8f;
	p[n++] = 0xb0;
	p[n++] = 0xb1;
	p[n++] = 0xb2;
	return n;
}

static size_t vpd_serial(const struct sim_lu *lu, uint8_t *p)
{
	size_t len = strnlen(lu->cfg.serial, sizeof(lu->cfg.serial) - 1);

	memcpy(p + 4, lu->cfg.serial, len);
	return 4 + len;
}

static size_t vpd_ident(const struct bc_sim *sim, const struct sim_lu *lu, uint8_t *p)
{
	size_t n = 4, slen = strnlen(lu->cfg.serial, sizeof(lu->cfg.serial) - 1);
	size_t name_len;
	char name[48];

	/* NAA-6 of the LU: what EXTENDED COPY's 0xE4 CSCDs name */
	p[n] = 0x01;			/* binary */
	p[n + 1] = 0x03;		/* association LU, NAA */
	p[n + 3] = 16;
	memcpy(p + n + 4, lu->cfg.naa, 16);
	n += 20;
	/* T10 vendor ID: vendor + serial */
	p[n] = 0x02;			/* ASCII */
	p[n + 1] = 0x01;		/* association LU, T10 vendor ID */
	p[n + 3] = (uint8_t)(8 + slen);
	memset(p + n + 4, ' ', 8);
	memcpy(p + n + 4, lu->cfg.vendor, strnlen(lu->cfg.vendor, 8));
	memcpy(p + n + 12, lu->cfg.serial, slen);
	n += 12 + slen;
	/* relative target port 1 */
	p[n] = 0x01;
	p[n + 1] = 0x14;		/* association target port, type 4 */
	p[n + 3] = 4;
	p[n + 7] = 1;
	n += 8;
	/* the target's SCSI name string: one for all LUs of the sim */
	memset(name, 0, sizeof(name));
	name_len = (size_t)snprintf(name, sizeof(name), "sim.%s", sim->id) + 1;
	name_len = (name_len + 3) & ~(size_t)3;	/* NUL-padded to 4 */
	p[n] = 0x03;			/* UTF-8 */
	p[n + 1] = 0x28;		/* association target device, type 8 */
	p[n + 3] = (uint8_t)name_len;
	memcpy(p + n + 4, name, name_len);
	n += 4 + name_len;
	return n;
}

static size_t vpd_block_limits(const struct sim_lu *lu, uint8_t *p)
{
	const struct bc_sim_lu_cfg *cfg = &lu->cfg;

	if (cfg->ws_refuse_zero_len)
		p[4] = 0x01;		/* WSNZ: WRITE SAME of 0 blocks refused */
	sim_put16(p + 6, 1);
	sim_put32(p + 8, cfg->max_transfer);
	if (cfg->thin) {
		sim_put32(p + 20, cfg->max_unmap_lba_count ? cfg->max_unmap_lba_count
							   : 0xffffffffu);
		sim_put32(p + 24, cfg->max_unmap_desc ? cfg->max_unmap_desc
						      : 0xffffffffu);
		sim_put32(p + 28, cfg->unmap_granularity);
		if (cfg->unmap_alignment)
			sim_put32(p + 32, 0x80000000u | cfg->unmap_alignment);
	}
	sim_put64(p + 36, cfg->max_write_same);
	return 64;
}

static size_t vpd_characteristics(uint8_t *p)
{
	sim_put16(p + 4, 1);		/* non-rotating medium */
	return 64;
}

/* VPD 0xB2's 3-bit LBPRZ field. */
static uint8_t lbprz_field(const struct bc_sim_lu_cfg *cfg)
{
	if (cfg->vpd_lbprz_set)
		return cfg->vpd_lbprz & 0x7;
	return cfg->lbprz ? 1 : 0;
}

static size_t vpd_provisioning(const struct sim_lu *lu, uint8_t *p)
{
	if (lu->cfg.thin) {
		/* LBPU, LBPWS, LBPWS10, LBPRZ, ANC_SUP */
		p[5] = (uint8_t)((lu->cfg.no_lbpws ? 0x80 : 0xe0) |
				 lbprz_field(&lu->cfg) << 2 |
				 (lu->cfg.resource ? 0x02 : 0));
		/* resource / thin; LIO's fileio leaves the type unreported */
		p[6] = lu->cfg.prov_type_unreported ? 0 :
		       lu->cfg.resource ? 0x01 : 0x02;
	}
	return 8;
}

/* --- VPD 0x8F: third-party copy ------------------------------------------- */

static size_t desc_hdr(uint8_t *p, uint16_t type, uint16_t len)
{
	sim_put16(p, type);
	sim_put16(p + 2, len);
	return 4 + (size_t)len;
}

static size_t vpd_tpc(const struct sim_lu *lu, uint8_t *buf)
{
	bool spc = lu->cfg.xcopy == BC_SIM_XCOPY_SPC, tok = lu->cfg.token;
	uint8_t *p = buf + 4, *l;
	struct sim_tok_limits t;
	size_t n;

	sim_tok_limits(lu, &t);
	if (tok) {			/* block device ROD token limits */
		sim_put16(p + 10, (uint16_t)t.max_ranges);
		sim_put32(p + 12, t.max_inactivity_s);
		sim_put32(p + 16, t.default_inactivity_s);
		sim_put64(p + 20, t.max_transfer);
		sim_put64(p + 28, t.optimal_transfer);
		p += desc_hdr(p, 0x0000, 0x20);
	}
	/* supported commands: opcode, SA count, SAs */
	l = p + 5;
	*l++ = 0x83;
	*l++ = (uint8_t)((spc ? 1 : 0) + (tok ? 3 : 0));
	if (spc)
		*l++ = 0x00;
	if (tok) {
		*l++ = 0x10;
		*l++ = 0x11;
		*l++ = 0x1c;
	}
	*l++ = 0x84;
	*l++ = (uint8_t)((spc ? 4 : 0) + (tok ? 2 : 0));
	if (spc) {
		*l++ = 0x00;
		*l++ = 0x01;
		*l++ = 0x03;
		*l++ = 0x04;
	}
	if (tok) {
		*l++ = 0x05;
		*l++ = 0x07;
	}
	p[4] = (uint8_t)(l - (p + 5));
	p += desc_hdr(p, 0x0001, (uint16_t)((1 + p[4] + 3) & ~3));
	if (spc) {			/* parameter data */
		const struct bc_sim_xcopy_limits *x = &lu->cfg.xcopy_lim;

		sim_put16(p + 8, x->max_cscd ? x->max_cscd : 8);
		sim_put16(p + 10, x->max_segments ? x->max_segments : 8);
		sim_put32(p + 12, x->max_list_len ? x->max_list_len : 4096);
		p += desc_hdr(p, 0x0004, 0x1c);
		/* supported descriptors */
		p[4] = 2;
		p[5] = 0x02;
		p[6] = 0xe4;
		p += desc_hdr(p, 0x0008, 4);
	}
	if (tok) {			/* supported ROD types */
		sim_put16(p + 6, 2 * 64);
		sim_put32(p + 8, 0x00800001u /* PIT, change vulnerable */);
		p[8 + 4] = 0x03;	/* TOUT | TIN: made and taken here */
		sim_put32(p + 8 + 64, 0xffff0001u /* block device zero */);
		p[8 + 64 + 4] = 0x02;	/* TIN */
		p += desc_hdr(p, 0x0108, 4 + 2 * 64);
	}
	/* general copy operations */
	sim_put32(p + 4, SIM_MAX_LISTS);
	sim_put32(p + 8, SIM_MAX_LISTS);
	sim_put32(p + 12, spc ? lu->cfg.xcopy_lim.max_segment_len : 0);
	p += desc_hdr(p, 0x8001, 0x20);
	n = (size_t)(p - buf);
	return n;
}

void sim_cmd_inquiry(struct sim_ctx *c)
{
	uint8_t buf[1024];
	size_t alloc = sim_be16(c->cdb + 3), n;
	uint8_t page = c->cdb[2];

	memset(buf, 0, sizeof(buf));
	if (!(c->cdb[1] & 0x01)) {
		if (page) {
			sim_bad_cdb(c, 2);
			return;
		}
		sim_data_in(c, buf, std_inquiry(c->lu, buf), alloc);
		return;
	}
	switch (page) {
	case 0x00:
		n = vpd_pages(c->lu, buf);
		break;
	case 0x80:
		n = vpd_serial(c->lu, buf);
		break;
	case 0x83:
		n = vpd_ident(c->sim, c->lu, buf);
		break;
	case 0x8f:
		if (!c->lu->cfg.token && c->lu->cfg.xcopy != BC_SIM_XCOPY_SPC) {
			sim_bad_cdb(c, 2);
			return;
		}
		n = vpd_tpc(c->lu, buf);
		break;
	case 0xb0:
		n = vpd_block_limits(c->lu, buf);
		break;
	case 0xb1:
		n = vpd_characteristics(buf);
		break;
	case 0xb2:
		n = vpd_provisioning(c->lu, buf);
		break;
	default:
		sim_bad_cdb(c, 2);
		return;
	}
	buf[1] = page;
	sim_put16(buf + 2, (uint16_t)(n - 4));
	sim_data_in(c, buf, n, alloc);
}

/* --- REPORT LUNS, READ CAPACITY ------------------------------------------- */

void sim_cmd_report_luns(struct sim_ctx *c)
{
	size_t n = 8 + 8 * (size_t)c->sim->nlu;
	uint8_t *buf = calloc(1, n);

	if (!buf) {
		store_failed(c);
		return;
	}
	sim_put32(buf, (uint32_t)(n - 8));
	for (unsigned i = 0; i < c->sim->nlu; i++) {
		uint8_t *l = buf + 8 + 8 * i;

		if (i < 256) {
			l[1] = (uint8_t)i;			/* peripheral */
		} else {
			l[0] = (uint8_t)(0x40 | (i >> 8));	/* flat space */
			l[1] = (uint8_t)i;
		}
	}
	sim_data_in(c, buf, n, sim_be32(c->cdb + 6));
	free(buf);
}

void sim_cmd_read_capacity10(struct sim_ctx *c)
{
	uint8_t buf[8];
	uint64_t last = c->lu->cfg.blocks - 1;

	sim_put32(buf, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	sim_put32(buf + 4, c->lu->cfg.block_size);
	sim_data_in(c, buf, sizeof(buf), sizeof(buf));
}

void sim_cmd_read_capacity16(struct sim_ctx *c)
{
	uint8_t buf[32] = { 0 };

	sim_put64(buf, c->lu->cfg.blocks - 1);
	sim_put32(buf + 8, c->lu->cfg.block_size);
	/* SBC-4: LBPRZ is one exactly when the VPD field is xx1b */
	if (c->lu->cfg.thin)
		buf[14] = (uint8_t)(0x80 |
			  (((lbprz_field(&c->lu->cfg) & 1) ^ c->lu->cfg.rc16_lbprz_flip) ?
			   0x40 : 0));
	sim_data_in(c, buf, sizeof(buf), sim_be32(c->cdb + 10));
}

/* --- GET LBA STATUS ------------------------------------------------------- */

#define GLS_MAX_DESC 1024

/*
 * Descriptors from @lba, at most GLS_MAX_DESC (or gls_max_desc: a short
 * reply the initiator continues from).  The allocation length only cuts
 * the transfer: PARAMETER DATA LENGTH still counts every descriptor
 * (SPC-4 4.2.5.6), as tgt does.
 */
void sim_cmd_get_lba_status(struct sim_ctx *c)
{
	uint64_t lba = sim_be64(c->cdb + 2), blocks = c->lu->cfg.blocks;
	uint32_t alloc = sim_be32(c->cdb + 10);
	size_t max = GLS_MAX_DESC, n = 0;
	uint8_t *buf;

	if (lba >= blocks) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (c->lu->cfg.gls_max_desc && max > c->lu->cfg.gls_max_desc)
		max = c->lu->cfg.gls_max_desc;
	buf = calloc(1, 8 + 16 * max);
	if (!buf) {
		store_failed(c);
		return;
	}
	while (n < max && lba < blocks) {
		uint8_t *d = buf + 8 + 16 * n++;
		uint64_t run = blocks - lba;
		enum sim_blk_state st = SIM_BLK_MAPPED;

		if (run > 0xffffffffu)
			run = 0xffffffffu;
		if (c->lu->cfg.thin)
			run = sim_store_run(&c->lu->store, lba, run, &st);
		sim_put64(d, lba);
		sim_put32(d + 8, (uint32_t)run);
		d[12] = (uint8_t)st;	/* mapped / deallocated / anchored */
		lba += run;
	}
	sim_put32(buf, (uint32_t)(4 + 16 * n));
	sim_data_in(c, buf, 8 + 16 * n, alloc);
	free(buf);
}

/* --- READ / WRITE --------------------------------------------------------- */

void sim_cmd_rw(struct sim_ctx *c)
{
	bool is16 = c->cdb[0] == 0x88 || c->cdb[0] == 0x8a;
	bool rd = c->cdb[0] == 0x28 || c->cdb[0] == 0x88;
	uint64_t lba = is16 ? sim_be64(c->cdb + 2) : sim_be32(c->cdb + 2);
	uint32_t n = is16 ? sim_be32(c->cdb + 10) : sim_be16(c->cdb + 7);
	uint32_t bs = c->lu->cfg.block_size;
	struct bc_scsi_cmd *cmd = c->cmd;

	if (c->lu->cfg.max_transfer && n > c->lu->cfg.max_transfer) {
		sim_bad_cdb(c, is16 ? 10 : 7);
		return;
	}
	if (!range_ok(c, lba, n))
		return;
	if (rd) {
		size_t room = cmd->dir == BC_SCSI_DIR_IN && cmd->data ? cmd->data_len : 0;
		uint64_t whole = room / bs < n ? room / bs : n;
		uint8_t *out = cmd->data;

		/* a buffer shorter than the CDB gets what fits (overflow) */
		if (whole)
			sim_lu_read(c->lu, lba, whole, out);
		if (whole < n && room % bs) {
			uint8_t *tmp = malloc(bs);

			if (!tmp) {
				store_failed(c);
				return;
			}
			sim_lu_read(c->lu, lba + whole, 1, tmp);
			memcpy(out + whole * bs, tmp, room % bs);
			free(tmp);
		}
		cmd->resid = room > (uint64_t)n * bs ? room - (size_t)n * bs : 0;
		return;
	}
	{
		const uint8_t *in = sim_data_out(c, (size_t)n * bs);

		if (in && sim_lu_write(c->sim, c->lu, lba, n, in) < 0)
			store_failed(c);
	}
}

/* --- WRITE SAME, UNMAP ---------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Write @block over [lba, lba + n). */
static int write_repeated(struct sim_ctx *c, const uint8_t *block, uint64_t lba,
			  uint64_t n)
{
	uint32_t bs = c->lu->cfg.block_size, per = c->lu->store.chunk_blocks;
	uint8_t *buf = malloc((size_t)per * bs);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < per; i++)
		memcpy(buf + (size_t)i * bs, block, bs);
	while (n && !rc) {
		uint64_t k = n < per ? n : per;

		rc = sim_lu_write(c->sim, c->lu, lba, k, buf);
		lba += k;
		n -= k;
	}
	free(buf);
	return rc;
}

void sim_cmd_write_same(struct sim_ctx *c)
{
	const struct bc_sim_lu_cfg *cfg = &c->lu->cfg;
	bool is16 = c->cdb[0] == 0x93;
	uint8_t flags = c->cdb[1];
	uint64_t lba = is16 ? sim_be64(c->cdb + 2) : sim_be32(c->cdb + 2);
	uint64_t n = is16 ? sim_be32(c->cdb + 10) : sim_be16(c->cdb + 7);
	bool unmap = flags & 0x08, ndob = is16 && (flags & 0x01);
	const uint8_t *block;
	uint8_t *zero = NULL;
	int rc;

	/* ANCHOR, PBDATA, LBDATA: not implemented; UNMAP without LBPWS */
	if (flags & 0x16 || (ndob && cfg->ws_refuse_ndob) ||
	    (unmap && cfg->no_lbpws)) {
		sim_bad_cdb(c, 1);
		return;
	}
	if (!n) {
		if (cfg->ws_refuse_zero_len) {
			sim_bad_cdb(c, is16 ? 10 : 7);
			return;
		}
		/* SBC: 0 blocks = to the end of the LU */
		n = lba < cfg->blocks ? cfg->blocks - lba : 0;
	}
	if (cfg->max_write_same && n > cfg->max_write_same) {
		sim_bad_cdb(c, is16 ? 10 : 7);
		return;
	}
	if (!range_ok(c, lba, n))
		return;
	if (ndob) {
		block = zero = calloc(1, cfg->block_size);
		if (!zero) {
			store_failed(c);
			return;
		}
	} else {
		block = sim_data_out(c, cfg->block_size);
		if (!block)
			return;
	}
	/* with UNMAP a zero block may deallocate; anything else is written */
	if (unmap && all_zero(block, cfg->block_size))
		rc = sim_lu_zero(c->sim, c->lu, lba, n);
	else
		rc = write_repeated(c, block, lba, n);
	if (rc < 0)
		store_failed(c);
	free(zero);
}

/*
 * One unmap operation over [lba, lba + n): every granule released, except
 * every unmap_keep_every-th one, which keeps its data.  Granules are
 * numbered from the alignment (the part below it is granule 0).
 */
static int unmap_granules(struct sim_lu *lu, uint64_t lba, uint64_t n, bool anchor)
{
	const struct bc_sim_lu_cfg *cfg = &lu->cfg;
	uint64_t g = cfg->unmap_granularity > 1 ? cfg->unmap_granularity : 1;
	uint64_t a = cfg->unmap_alignment % g, end = lba + n;
	int rc = 0;

	if (!cfg->unmap_keep_every)
		return sim_lu_release(lu, lba, n, anchor);
	for (uint64_t l = lba; l < end && !rc;) {
		uint64_t gi = l < a ? 0 : (l - a) / g + 1;
		uint64_t gend = l < a ? a : a + (gi * g);

		if (gend > end)
			gend = end;
		if (gi % cfg->unmap_keep_every)
			rc = sim_lu_release(lu, l, gend - l, anchor);
		l = gend;
	}
	return rc;
}

void sim_cmd_unmap(struct sim_ctx *c)
{
	const struct bc_sim_lu_cfg *cfg = &c->lu->cfg;
	size_t plen = sim_be16(c->cdb + 7), usable, dlen, nd;
	uint64_t total = 0;
	const uint8_t *p;
	bool anchor = c->cdb[1] & 0x01;
	int rc = 0;

	if (anchor && !cfg->resource) {		/* ANCHOR without ANC_SUP */
		sim_bad_cdb(c, 1);
		return;
	}
	if (!plen)
		return;				/* nothing to do, not an error */
	if (!(p = sim_param_list(c, plen, 8, &usable)))
		return;
	dlen = sim_be16(p + 2);
	if (usable < 8 || dlen % 16 || 8 + dlen > usable) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, usable < 8 ? 0 : 2);
		return;
	}
	nd = dlen / 16;
	if (cfg->max_unmap_desc && nd > cfg->max_unmap_desc) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 2);
		return;
	}
	/* check every descriptor before changing anything */
	for (size_t i = 0; i < nd; i++) {
		const uint8_t *d = p + 8 + 16 * i;
		uint64_t lba = sim_be64(d), cnt = sim_be32(d + 8);

		if (!range_ok(c, lba, cnt))
			return;
		total += cnt;
	}
	if (cfg->max_unmap_lba_count && total > cfg->max_unmap_lba_count) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 8);
		return;
	}
	for (size_t i = 0; i < nd && !rc; i++) {
		const uint8_t *d = p + 8 + 16 * i;
		uint64_t lba = sim_be64(d), cnt = sim_be32(d + 8);

		sim_tokens_written(c->sim, c->lu->index, lba, cnt);
		if (cfg->unmap_granules_only && cfg->unmap_granularity > 1) {
			/* only whole granules are released: the partial
			 * ones at either end keep their old data */
			uint64_t g = cfg->unmap_granularity, a = cfg->unmap_alignment % g;
			uint64_t first = lba < a ? a : a + (lba - a + g - 1) / (g) * g;
			uint64_t end = lba + cnt < a ? 0 : a + (lba + cnt - a) / g * g;

			if (end > first)
				rc = unmap_granules(c->lu, first, end - first, anchor);
		} else if (cnt) {
			rc = unmap_granules(c->lu, lba, cnt, anchor);
		}
	}
	if (rc < 0)
		store_failed(c);
}

void sim_cmd_sync_cache(struct sim_ctx *c)
{
	bool is16 = c->cdb[0] == 0x91;
	uint64_t lba = is16 ? sim_be64(c->cdb + 2) : sim_be32(c->cdb + 2);
	uint64_t n = is16 ? sim_be32(c->cdb + 10) : sim_be16(c->cdb + 7);

	if ((c->cdb[1] & 0x02) && c->lu->cfg.sync_no_immed) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_CDB_FIELD);
		return;
	}
	/* nothing is cached; only the range is checked */
	range_ok(c, lba, n);
}
