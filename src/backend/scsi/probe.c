// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What a SCSI LU can do, into bc_caps: INQUIRY, VPD 0x00/0x80/0x83/0xB0/
 * 0xB2/0x8F, RECEIVE COPY RESULTS, GET LBA STATUS and REPORT SUPPORTED
 * OPERATION CODES, beside the READ CAPACITY(16) the volume was opened
 * with.  What the evidence decides also sets how the volume zeroes
 * (scsi_priv).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backends.h"
#include "backend/scsi/scsi-volume.h"
#include "volume/devid.h"
#include "scsi/lu.h"
#include "scsi/rsoc.h"
#include "scsi/token.h"
#include "volume/identity.h"

static void probe_xcopy(struct bc_volume *v, const struct bc_lu_inquiry *inq,
			struct bc_caps *c)
{
	struct bc_error e = { 0 };
	bool naa = false;

	for (size_t i = 0; i < c->id.n_designators; i++)
		if (c->id.designators[i].type == 3 && c->id.designators[i].association == 0)
			naa = true;
	if (!inq->tpc) {
		bc_feature_set(&c->xcopy, BC_SUP_NO, "INQUIRY 3PC bit is 0");
		return;
	}
	if (bc_lu_copy_operating_params(&sp(v)->lu, &c->xcopy_lim, &e) < 0) {
		char m[256];

		bc_feature_set(&c->xcopy, BC_SUP_NO,
		     "3PC set, but RECEIVE COPY RESULTS (operating parameters) failed: %s",
		     bc_error_format(&e, m, sizeof(m)));
		return;
	}
	if (!c->xcopy_lim.has_type_02 || !c->xcopy_lim.has_type_e4)
		bc_feature_set(&c->xcopy, BC_SUP_NO,
		     "copy manager lacks descriptor type %s",
		     !c->xcopy_lim.has_type_02 ? "0x02 (block to block)" :
						 "0xE4 (identification)");
	else if (!naa)
		bc_feature_set(&c->xcopy, BC_SUP_NO, "no NAA designator for an 0xE4 descriptor");
	else
		bc_feature_set(&c->xcopy, BC_SUP_YES,
		     "3PC set; RECEIVE COPY RESULTS lists descriptors 0x02 and 0xE4");
}

#define RSOC_MAX 512

/* Listed with service action @sa, or (for SA 0) without any. */
static bool rsoc_has(const struct bc_rsoc_cmd *l, size_t n, uint8_t op, int sa)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].opcode == op &&
		    (sa < 0 || (l[i].servactv ? l[i].sa == sa : sa == 0)))
			return true;
	return false;
}

/* REPORT SUPPORTED OPERATION CODES, all-commands form (the one-command
 * form is wrong on tgt): what it lists, as evidence. */
static void probe_rsoc(struct scsi_priv *p, struct bc_caps *c)
{
	struct bc_opcode_report *r = &c->opcodes;
	struct bc_rsoc_cmd *l = calloc(RSOC_MAX, sizeof(*l));
	struct bc_error e = { 0 };
	size_t n = 0;
	char m[256];

	memset(r, 0, sizeof(*r));
	if (!l) {
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		return;
	}
	if (bc_lu_rsoc_all(&p->lu, false, l, RSOC_MAX, &n, &r->truncated, &e) < 0) {
		r->state = BC_SUP_NO;
		snprintf(r->reason, sizeof(r->reason), "%.150s",
			 e.err == -EOPNOTSUPP ? "not implemented (ILLEGAL REQUEST)" :
			 e.detail[0] ? e.detail : bc_error_format(&e, m, sizeof(m)));
		free(l);
		return;
	}
	r->state = BC_SUP_YES;
	r->commands = (uint32_t)n;
	snprintf(r->reason, sizeof(r->reason),
		 "all-commands form lists %zu commands%s; evidence only", n,
		 r->truncated ? " (list cut short)" : "");
	r->extended_copy = rsoc_has(l, n, 0x83, 0x00);
	r->populate_token = rsoc_has(l, n, 0x83, 0x10);
	r->write_using_token = rsoc_has(l, n, 0x83, 0x11);
	r->receive_rod_token_info = rsoc_has(l, n, 0x84, 0x07);
	r->receive_copy_params = rsoc_has(l, n, 0x84, 0x03);
	r->write_same16 = rsoc_has(l, n, 0x93, -1);
	r->unmap = rsoc_has(l, n, 0x42, -1);
	r->get_lba_status = rsoc_has(l, n, 0x9e, 0x12);
	free(l);
}

/*
 * Add what RSOC said to a capability's reason: agreement, or the
 * disagreement and that the other evidence decided ("RSOC lists 0x83 but
 * INQUIRY 3PC=0: not used").
 */
static void rsoc_note(struct bc_feature *f, const struct bc_opcode_report *r,
		      bool listed, const char *cmd, const char *why_not)
{
	size_t l = strlen(f->reason);

	if (r->state != BC_SUP_YES || l + 1 >= sizeof(f->reason))
		return;
	if (f->state == BC_SUP_YES)
		snprintf(f->reason + l, sizeof(f->reason) - l, listed ?
			 "; RSOC lists %s too" :
			 "; RSOC does not list %s (used: the evidence above decides)", cmd);
	else if (listed)
		snprintf(f->reason + l, sizeof(f->reason) - l,
			 "; RSOC lists %s but %s: not used", cmd, why_not);
}

/* A block limit in bytes: the LU's numbers are untrusted and 32 bits, so
 * a large one must not wrap to a small size. */
static uint32_t blocks_to_bytes32(uint32_t blocks, uint32_t block_size)
{
	uint64_t b = (uint64_t)blocks * block_size;

	return b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
}

/*
 * The LU by every name it goes by: its unique designators, whichever way
 * it is reached, and the transport's name for it (the target name and
 * LUN over iSCSI, the kernel's H:C:T:L over SG_IO).  Without a unique
 * designator only the second is left, and the identity says what that
 * cannot see.
 */
static void lu_identity(struct scsi_priv *p, struct bc_caps *c)
{
	const char *t = p->lu.t->unit_key;
	size_t strong;

	snprintf(c->id.unit, sizeof(c->id.unit), "LU");
	strong = bc_identity_add_designators(&c->id);
	if (t[0])
		bc_identity_add_key(&c->id, "%s", t);
	c->id.unit_weak = !strong;
	bc_identity_describe(&c->id, !strncmp(t, "iscsi-lun:", 10) ?
		"it reports no unique designator (VPD 0x83: NAA 2/5/6, EUI-64, SCSI name string or UUID), "
		"so under another target name it is not recognised as this LU" :
		"it reports no unique designator (VPD 0x83: NAA 2/5/6, EUI-64, SCSI name string or UUID), "
		"so on another path (another HBA, session or target port) it is not recognised as this LU");
}

/* The LU's names and where it is: the transport's, INQUIRY's, and the
 * window onto it. */
static void probe_names(struct bc_volume *v, const struct bc_lu_inquiry *inq,
			struct bc_caps *c)
{
	struct scsi_priv *p = sp(v);

	snprintf(c->id.backend, sizeof(c->id.backend), "%s", p->lu.t->ops->name);
	snprintf(c->id.lu_location, sizeof(c->id.lu_location), "%.200s/%" PRIu64,
		 p->lu.t->target_id, p->lu.t->lun);
	c->id.lu_offset = p->base_lba * v->block_size;
	/* a block device: its multipath paths and states, for probe */
	if (p->data)
		bc_devid_stack_info(bc_blk_rdev(p->data), &c->id);
	c->id.n_lu_windows = 0;
	if (p->n_segs > 1 && p->n_segs <= BC_MAX_LU_WINDOWS) {
		for (size_t i = 0; i < p->n_segs; i++)
			c->id.lu_windows[i] = (struct bc_lu_window){ p->segs[i].offset,
								     p->segs[i].length };
		c->id.n_lu_windows = p->n_segs;
	}
	if (p->base_lba || p->layers[0])
		snprintf(c->id.location, sizeof(c->id.location), "%.200s+%" PRIu64,
			 c->id.lu_location, c->id.lu_offset);
	else
		snprintf(c->id.location, sizeof(c->id.location), "%s",
			 c->id.lu_location);
	snprintf(c->id.stack, sizeof(c->id.stack), "%s", p->layers);
	snprintf(c->id.copy_domain, sizeof(c->id.copy_domain), "%s",
		 p->lu.t->copy_domain);
	snprintf(c->id.vendor, sizeof(c->id.vendor), "%s", inq->vendor);
	snprintf(c->id.product, sizeof(c->id.product), "%s", inq->product);
	snprintf(c->id.revision, sizeof(c->id.revision), "%s", inq->revision);
}

#define VPD_BUF 4096

/* The VPD pages worth asking for: those VPD 0x00 lists, or without it
 * the ones an LU should have anyway (0x8F is then not tried). */
struct vpd_pages {
	bool have00, b0, b2, b8f;
};

/*
 * VPD 0x00, then the serial number (0x80), the designators (0x83) and
 * from them the identity, the block limits (0xB0) and the provisioning
 * (0xB2).  A page that cannot be read leaves its fields empty.
 */
static void probe_vpd(struct scsi_priv *p, uint8_t *buf, struct vpd_pages *pg,
		      struct bc_caps *c)
{
	size_t got;

	pg->have00 = bc_lu_vpd(&p->lu, 0x00, buf, VPD_BUF, &got, NULL) == 0;
	pg->b0 = !pg->have00 || bc_lu_vpd_lists(buf, got, 0xb0);
	pg->b2 = !pg->have00 || bc_lu_vpd_lists(buf, got, 0xb2);
	pg->b8f = pg->have00 && bc_lu_vpd_lists(buf, got, 0x8f);
	if ((!pg->have00 || bc_lu_vpd_lists(buf, got, 0x80)) &&
	    bc_lu_vpd(&p->lu, 0x80, buf, VPD_BUF, &got, NULL) == 0)
		bc_lu_parse_unit_serial(buf, got, c->id.serial, sizeof(c->id.serial));
	if (bc_lu_vpd(&p->lu, 0x83, buf, VPD_BUF, &got, NULL) == 0)
		bc_lu_parse_designators(buf, got, c->id.designators,
					BC_MAX_DESIGNATORS, &c->id.n_designators);
	lu_identity(p, c);
	if (pg->b0 && bc_lu_vpd(&p->lu, 0xb0, buf, VPD_BUF, &got, NULL) == 0)
		bc_lu_parse_block_limits(buf, got, &p->bl);
	if (p->bl.max_transfer && p->bl.max_transfer < p->max_xfer_blocks)
		p->max_xfer_blocks = p->bl.max_transfer;
	if (pg->b2 && bc_lu_vpd(&p->lu, 0xb2, buf, VPD_BUF, &got, NULL) == 0)
		bc_lu_parse_provisioning(buf, got, &p->lbp);
}

/* Size, blocks, transfer limits and provisioning, from READ CAPACITY(16)
 * and VPD 0xB0/0xB2. */
static void probe_geometry(struct bc_volume *v, struct bc_caps *c)
{
	struct scsi_priv *p = sp(v);

	c->size = v->size;
	c->block_size = v->block_size;
	c->physical_block_size = v->block_size << p->cap.lbppbe;
	c->lowest_aligned_lba = p->cap.lowest_aligned;
	c->max_transfer = blocks_to_bytes32(p->bl.max_transfer, v->block_size);
	c->opt_transfer = blocks_to_bytes32(p->bl.opt_transfer, v->block_size);
	c->provisioning = !p->lbp.valid ? (p->cap.lbpme ? BC_PROV_THIN : BC_PROV_UNKNOWN) :
			  p->lbp.type == 2 ? BC_PROV_THIN :
			  p->lbp.type == 1 ? BC_PROV_RESOURCE : BC_PROV_FULL;
}

/* Token copy: VPD 0x8F (third-party copy) must offer all three commands
 * and the block device ROD token limits. */
static void probe_token(struct scsi_priv *p, uint8_t *buf,
			const struct vpd_pages *pg, struct bc_caps *c)
{
	size_t got;

	if (pg->b8f && bc_lu_vpd(&p->lu, 0x8f, buf, VPD_BUF, &got, NULL) == 0 &&
	    bc_tpc_parse_vpd(buf, got, &p->tpc) == 0) {
		c->token_lim = p->tpc.lim;
		if (p->tpc.populate_token && p->tpc.write_using_token &&
		    p->tpc.rrti && p->tpc.has_rod_limits)
			bc_feature_set(&c->token, BC_SUP_YES,
			     "VPD 0x8F: POPULATE TOKEN, WRITE USING TOKEN, RECEIVE ROD TOKEN INFORMATION%s",
			     p->tpc.zero_rod ? "; block device zero ROD token" : "");
		else
			bc_feature_set(&c->token, BC_SUP_NO,
			     "VPD 0x8F lacks %s",
			     !p->tpc.populate_token ? "POPULATE TOKEN" :
			     !p->tpc.write_using_token ? "WRITE USING TOKEN" :
			     !p->tpc.rrti ? "RECEIVE ROD TOKEN INFORMATION" :
			     "the block device ROD token limits");
	} else if (pg->b8f)
		bc_feature_set(&c->token, BC_SUP_NO, "VPD 0x8F listed but unreadable");
	else
		bc_feature_set(&c->token, BC_SUP_NO, "%s", pg->have00 ?
		     "VPD 0x8F (third-party copy) not in the supported pages" :
		     "VPD 0x00 unreadable: no evidence of token copy");
}

/* Whether unmapped blocks read zero, WRITE SAME(16) with UNMAP, UNMAP and
 * its limits: from READ CAPACITY(16) and VPD 0xB0/0xB2, no command sent. */
static void probe_unmap(struct scsi_priv *p, struct bc_caps *c)
{
	char why[sizeof(c->zero_init.reason)];
	bool rz = bc_lu_unmapped_reads_zero(&p->cap, &p->lbp, why, sizeof(why));

	bc_feature_set(&c->zero_init, rz ? BC_SUP_YES : BC_SUP_NO, "%s", why);
	p->ws_unmap = p->cap.lbpme && (!p->lbp.valid || p->lbp.lbpws);
	if (p->ws_unmap)
		bc_feature_set(&c->write_same, BC_SUP_YES, "WRITE SAME(16) with UNMAP (%s)",
		     p->lbp.valid ? "VPD 0xB2 LBPWS=1" : "LBPME=1");
	else
		bc_feature_set(&c->write_same, BC_SUP_NO, "%s",
		     !p->cap.lbpme ? "LBPME=0" : "VPD 0xB2 LBPWS=0");
	c->max_write_same = p->bl.max_write_same;
	p->ugeom = (struct bc_unmap_geom){
		.granularity = p->bl.opt_unmap_granularity,
		.alignment = p->bl.unmap_alignment,
		.ugavalid = p->bl.ugavalid,
		.max_lba_count = p->bl.max_unmap_lba_count,
		.max_descriptors = p->bl.max_unmap_descriptors,
	};
	if (p->cap.lbpme && p->lbp.valid && p->lbp.lbpu)
		bc_feature_set(&c->unmap, BC_SUP_YES, "UNMAP (VPD 0xB2 LBPU=1)");
	else
		bc_feature_set(&c->unmap, BC_SUP_NO, "%s",
		     !p->cap.lbpme ? "LBPME=0" : "VPD 0xB2 LBPU=0");
	c->unmap_lim.max_lba_count = p->bl.max_unmap_lba_count;
	c->unmap_lim.max_descriptors = p->bl.max_unmap_descriptors;
	c->unmap_lim.granularity = p->bl.opt_unmap_granularity;
	c->unmap_lim.alignment = p->bl.unmap_alignment;
	c->unmap_lim.ugavalid = p->bl.ugavalid;
}

/* GET LBA STATUS: only a reply proves it (LIO rejects it). */
static void probe_extent_map(struct scsi_priv *p, struct bc_caps *c)
{
	struct bc_lu_lba_status st[4];
	struct bc_error ge = { 0 };
	size_t n = 0;
	char m[256];

	if (!p->cap.lbpme) {
		bc_feature_set(&c->extent_map, BC_SUP_NO,
		     "LBPME=0: no GET LBA STATUS; zero detection on the data read");
		return;
	}
	/* A reply with nothing usable at LBA 0 is asked once more at LBA 1:
	 * tgt wraps the count of a first hole of exactly 2^32 blocks to 0
	 * (lu-parse.c), which is no refusal. */
	if (bc_lu_get_lba_status(&p->lu, 0, st, 4, &n, &ge) == 0 && !n &&
	    p->cap.blocks > 1)
		(void)bc_lu_get_lba_status(&p->lu, 1, st, 4, &n, &ge);
	if (!ge.err && n) {
		p->gls = true;
		bc_feature_set(&c->extent_map, BC_SUP_YES, "GET LBA STATUS");
		c->map_source = BC_MAP_GET_LBA_STATUS;
	} else {
		bc_feature_set(&c->extent_map, BC_SUP_NO,
		     "GET LBA STATUS refused (%s); zero detection on the data read",
		     ge.detail[0] ? ge.detail : bc_error_format(&ge, m, sizeof(m)));
	}
}

/* How a range is made to read zero (zero.c), from what the steps
 * above found. */
static void probe_zeroout(struct scsi_priv *p, struct bc_caps *c)
{
	/*
	 * UNMAP need not unmap anything (SBC-4 4.7.3.4.2), so it makes zeros
	 * only where GET LBA STATUS shows the blocks deallocated afterwards
	 * on a LU whose deallocated blocks read zero; the rest is written.
	 * Without GET LBA STATUS it never counts as zeroing.
	 */
	p->unmap_zeroes = p->cap.lbpme && p->lbp.valid && p->lbp.lbpu && p->gls &&
			  c->zero_init.state == BC_SUP_YES;
	if (p->ws_unmap)
		bc_feature_set(&c->zeroout, BC_SUP_YES, "%s",
		     p->unmap_zeroes ?
		     "WRITE SAME(16)+UNMAP; else UNMAP of whole granules, kept only where GET LBA STATUS then shows them deallocated (LBPRZ xx1b), the rest written; else written zeros" :
		     "WRITE SAME(16)+UNMAP, else written zeros");
	else
		bc_feature_set(&c->zeroout, BC_SUP_YES, "%s",
		     p->unmap_zeroes ?
		     "UNMAP of whole granules, kept only where GET LBA STATUS then shows them deallocated (LBPRZ xx1b); partial granules and blocks left mapped or anchored written with WRITE SAME(16) or WRITE(16)" :
		     "written zeros");
}

/* What REPORT SUPPORTED OPERATION CODES says beside each capability. */
static void rsoc_notes(const struct scsi_priv *p, const struct bc_lu_inquiry *inq,
		       const struct vpd_pages *pg, struct bc_caps *c)
{
	rsoc_note(&c->xcopy, &c->opcodes, c->opcodes.extended_copy, "0x83",
		  inq->tpc ? "the copy manager is unusable" : "INQUIRY 3PC=0");
	rsoc_note(&c->token, &c->opcodes,
		  c->opcodes.populate_token && c->opcodes.write_using_token,
		  "POPULATE TOKEN/WRITE USING TOKEN",
		  pg->b8f ? "VPD 0x8F does not confirm" : "VPD 0x8F is absent");
	rsoc_note(&c->write_same, &c->opcodes, c->opcodes.write_same16, "0x93",
		  !p->cap.lbpme ? "LBPME=0" : "VPD 0xB2 LBPWS=0");
	rsoc_note(&c->unmap, &c->opcodes, c->opcodes.unmap, "0x42",
		  !p->cap.lbpme ? "LBPME=0" : "VPD 0xB2 LBPU=0");
	rsoc_note(&c->extent_map, &c->opcodes, c->opcodes.get_lba_status,
		  "GET LBA STATUS", "the command failed");
}

/*
 * Everything the LU can do, into @c.  Only INQUIRY must answer; the rest
 * is evidence, asked for in this order: the VPD pages, RECEIVE COPY
 * RESULTS, VPD 0x8F, GET LBA STATUS, REPORT SUPPORTED OPERATION CODES.
 */
int bc_scsi_probe(struct bc_volume *v, struct bc_caps *c, struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	struct bc_lu_inquiry inq;
	struct vpd_pages pg;
	uint8_t *buf;
	int rc;

	buf = malloc(VPD_BUF);
	if (!buf)
		return bc_error_set(e, -ENOMEM, v->name, "probe", NULL);
	rc = bc_lu_inquiry(&p->lu, &inq, e);
	if (rc < 0)
		goto out;
	probe_names(v, &inq, c);
	probe_vpd(p, buf, &pg, c);
	probe_geometry(v, c);
	probe_xcopy(v, &inq, c);
	probe_token(p, buf, &pg, c);
	probe_unmap(p, c);
	probe_extent_map(p, c);
	probe_zeroout(p, c);
	probe_rsoc(p, c);
	rsoc_notes(p, &inq, &pg, c);
out:
	free(buf);
	return rc;
}
