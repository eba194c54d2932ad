// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SCSI logical units as volumes, over any transport (iSCSI today, SG_IO
 * next).  probe reads INQUIRY, VPD 0x00/0x80/0x83/0xB0/0xB2, READ
 * CAPACITY(16) and RECEIVE COPY RESULTS into bc_caps; the map is GET LBA
 * STATUS; zeroing prefers WRITE SAME(16) with UNMAP, which reads zero
 * afterwards whether or not the target deallocates.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backends.h"
#include "util/deadline.h"
#include "volume/identity.h"
#include "transport/iscsi/session.h"
#include "transport/sg.h"
#include "scsi/lu.h"
#include "scsi/rsoc.h"
#include "scsi/token.h"
#include "scsi/unmap.h"
#include "scsi/xcopy.h"
#include "volume/stack.h"

#define GLS_BATCH 256
#define DEFAULT_MAX_XFER (1u << 20)

struct scsi_priv {
	struct bc_lu lu;
	/* SG_IO volumes: data through the block device (O_DIRECT, threads),
	 * commands to the LU beneath at base_lba (a partition or LV window) */
	struct bc_volume *data;
	uint64_t base_lba;
	char layers[256];
	struct bc_lu_capacity cap;
	struct bc_lu_block_limits bl;
	struct bc_lu_provisioning lbp;
	bool gls;		/* GET LBA STATUS works */
	bool ws_unmap;		/* WRITE SAME(16)+UNMAP usable */
	/* UNMAP may make zeros (LBPU, LBPRZ xx1b, GET LBA STATUS): whole
	 * granules unmapped, the partial ones written (scsi/unmap.h), and
	 * what GET LBA STATUS then shows mapped or anchored written too */
	bool unmap_zeroes;
	struct bc_unmap_geom ugeom;
	bool ws_plain_bad;	/* WRITE SAME(16) without UNMAP refused */
	uint32_t max_xfer_blocks;
	struct bc_tpc_info tpc;	/* VPD 0x8F */
	uint32_t list_seq;	/* token copy list identifiers */
};

static struct scsi_priv *sp(struct bc_volume *v)
{
	return v->priv;
}

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
	if (bc_lu_get_lba_status(&p->lu, 0, st, 4, &n, &ge) == 0 && n) {
		p->gls = true;
		bc_feature_set(&c->extent_map, BC_SUP_YES, "GET LBA STATUS");
		c->map_source = BC_MAP_GET_LBA_STATUS;
	} else {
		bc_feature_set(&c->extent_map, BC_SUP_NO,
		     "GET LBA STATUS refused (%s); zero detection on the data read",
		     ge.detail[0] ? ge.detail : bc_error_format(&ge, m, sizeof(m)));
	}
}

/* How a range is made to read zero (scsi_zero), from what the steps
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
static int scsi_probe(struct bc_volume *v, struct bc_caps *c,
		      struct bc_error *e)
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
	bc_feature_set(&c->nvme_copy, BC_SUP_NO, "not an NVMe namespace");
	bc_feature_set(&c->reflink, BC_SUP_NO, "not a file");
	probe_unmap(p, c);
	probe_extent_map(p, c);
	probe_zeroout(p, c);
	probe_rsoc(p, c);
	rsoc_notes(p, &inq, &pg, c);
out:
	free(buf);
	return rc;
}

static int scsi_rw(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		   bool write, struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	uint64_t lba = off / v->block_size + p->base_lba;
	uint64_t blocks = len / v->block_size;
	char *b = buf;

	if (p->data)
		return write ? p->data->ops->write(p->data, buf, off, len, e) :
			       p->data->ops->read(p->data, buf, off, len, e);
	if (off % v->block_size || len % v->block_size)
		return bc_error_set_lba(e, -EINVAL, v->name, write ? "WRITE(16)" : "READ(16)",
					lba, v->block_size, "unaligned request");
	while (blocks) {
		uint32_t n = blocks > p->max_xfer_blocks ? p->max_xfer_blocks :
							   (uint32_t)blocks;
		int rc = write ? bc_lu_write16(&p->lu, lba, n, b, e)
			       : bc_lu_read16(&p->lu, lba, n, b, e);

		if (rc < 0)
			return rc;
		lba += n;
		blocks -= n;
		b += (size_t)n * v->block_size;
	}
	return 0;
}

static int scsi_read(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		     struct bc_error *e)
{
	return scsi_rw(v, buf, off, len, false, e);
}

static int scsi_write(struct bc_volume *v, const void *buf, uint64_t off,
		      size_t len, struct bc_error *e)
{
	return scsi_rw(v, (void *)buf, off, len, true, e);
}

static int scsi_map(struct bc_volume *v, uint64_t off, uint64_t len,
		    struct bc_extent *out, size_t max, size_t *n,
		    struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	struct bc_lu_lba_status st[GLS_BATCH];
	uint64_t bs = v->block_size, base = p->base_lba, lba = off / bs + base;
	uint64_t end = (off + len > v->size ? v->size : off + len) / bs + base;
	size_t got = 0, k = 0;
	int rc;

	if (!p->gls)
		return bc_error_set(e, -EOPNOTSUPP, v->name, "GET LBA STATUS", NULL);
	rc = bc_lu_get_lba_status(&p->lu, lba, st, max < GLS_BATCH ? max : GLS_BATCH,
				  &got, e);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < got && k < max && lba < end; i++) {
		uint64_t cnt = st[i].blocks;

		if (st[i].lba != lba)
			break;
		if (cnt > end - lba)	/* tgt answers beyond the end */
			cnt = end - lba;
		out[k++] = (struct bc_extent){
			(lba - base) * bs, cnt * bs,
			st[i].status == 1 ? BC_EXTENT_DEALLOCATED :
			st[i].status == 2 ? BC_EXTENT_ANCHORED : BC_EXTENT_MAPPED };
		lba += cnt;
	}
	if (!k)	/* a reply that says nothing: treat one block as mapped */
		out[k++] = (struct bc_extent){ (lba - base) * bs, bs, BC_EXTENT_MAPPED };
	*n = k;
	return 0;
}

/*
 * Write zeros over [lba, +blocks) of the LU: WRITE SAME(16) without UNMAP
 * (one block on the wire), else WRITE(16) of a zero buffer.  For the
 * partial granules at the edges of an UNMAP, so they are short.
 */
static int zero_blocks(struct scsi_priv *p, uint64_t lba, uint64_t blocks,
		       struct bc_error *e)
{
	uint64_t step = p->bl.max_write_same ? p->bl.max_write_same : 65536;
	uint32_t bs = p->lu.block_size, chunk;
	void *z;
	int rc;

	if (step > UINT32_MAX)
		step = UINT32_MAX;
	while (blocks && !p->ws_plain_bad) {
		uint32_t n = blocks > step ? (uint32_t)step : (uint32_t)blocks;

		rc = bc_lu_write_same16(&p->lu, lba, n, false, e);
		if (rc == -EOPNOTSUPP) {
			p->ws_plain_bad = true;		/* WRITE(16) from here on */
			bc_error_clear(e);
			break;
		}
		if (rc < 0)
			return rc;
		lba += n;
		blocks -= n;
	}
	if (!blocks)
		return 0;
	chunk = blocks < p->max_xfer_blocks ? (uint32_t)blocks : p->max_xfer_blocks;
	z = calloc(chunk, bs);
	if (!z)
		return bc_error_set(e, -ENOMEM, p->lu.t->name, "WRITE(16)", NULL);
	for (rc = 0; blocks && !rc;) {
		uint32_t n = blocks > chunk ? chunk : (uint32_t)blocks;

		rc = bc_lu_write16(&p->lu, lba, n, z, e);
		lba += n;
		blocks -= n;
	}
	free(z);
	return rc;
}

/*
 * What an UNMAP of [lba, +blocks) did, as GET LBA STATUS reports it: an
 * UNMAP may unmap nothing at all (SBC-4 4.7.3.4.2), so blocks count as
 * zero only where they are reported deallocated (on a LU whose
 * deallocated blocks read zero, checked at probe).  Every block still
 * mapped or anchored, or that a malformed reply leaves unaccounted for,
 * is written with zeros.
 */
static int unmap_prove(struct scsi_priv *p, uint64_t lba, uint64_t blocks,
		       struct bc_error *e)
{
	struct bc_lu_lba_status st[64];
	uint64_t end = lba + blocks;

	while (lba < end) {
		size_t n = 0;
		int rc = bc_lu_get_lba_status(&p->lu, lba, st, 64, &n, e);

		if (rc == -EBADMSG || (rc == 0 && !n)) {
			/* nothing to go by: written */
			bc_error_clear(e);
			return zero_blocks(p, lba, end - lba, e);
		}
		if (rc == -EOPNOTSUPP) {
			p->unmap_zeroes = false;
			return rc;
		}
		if (rc < 0)
			return rc;
		/* the descriptors start at @lba and are contiguous */
		for (size_t i = 0; i < n && lba < end; i++) {
			uint64_t k = st[i].blocks < end - lba ? st[i].blocks : end - lba;

			if (st[i].status != 1 && (rc = zero_blocks(p, lba, k, e)) < 0)
				return rc;
			lba += k;
		}
	}
	return 0;
}

/*
 * Zero [lba, +blocks) on an LU where deallocated blocks read zero: UNMAP
 * of whole granules, cut to the LU's limits, the partial granules at the
 * edges written (scsi/unmap.h), and whatever GET LBA STATUS does not show
 * deallocated afterwards written too.  -EOPNOTSUPP if the LU refuses UNMAP
 * or GET LBA STATUS: the engine then writes zeros over all of it, which is
 * right whatever part was done.
 */
static int zero_by_unmap(struct scsi_priv *p, uint64_t lba, uint64_t blocks,
			 struct bc_error *e)
{
	uint8_t list[BC_UNMAP_HDR_LEN + BC_UNMAP_STEP_DESC * BC_UNMAP_DESC_LEN];
	int rc;

	while (blocks) {
		struct bc_unmap_step s;

		rc = bc_unmap_plan_step(lba, blocks, &p->ugeom, &s);
		if (rc < 0 || !s.consumed)
			return bc_error_set_lba(e, -EINVAL, p->lu.t->name, "UNMAP", lba,
						p->lu.block_size, "range outside the LU");
		if (s.n_desc) {
			int l = bc_unmap_build_list(list, sizeof(list), s.desc, s.n_desc);

			if (l < 0)
				return bc_error_set(e, l, p->lu.t->name, "UNMAP",
						    "parameter list");
			rc = bc_lu_unmap_list(&p->lu, list, (uint16_t)l, s.desc[0].lba, e);
			if (rc == -EOPNOTSUPP) {
				p->unmap_zeroes = false;
				return rc;
			}
			if (rc < 0)
				return rc;
		}
		/* after the UNMAP: with UGAVALID=0 the edges overlap it */
		if (s.head_blocks &&
		    (rc = zero_blocks(p, s.head_lba, s.head_blocks, e)) < 0)
			return rc;
		if (s.tail_blocks &&
		    (rc = zero_blocks(p, s.tail_lba, s.tail_blocks, e)) < 0)
			return rc;
		if (s.n_desc) {
			/* the descriptors are contiguous; the edges written
			 * above need no proof */
			uint64_t a = s.desc[0].lba;
			uint64_t b = s.desc[s.n_desc - 1].lba + s.desc[s.n_desc - 1].blocks;

			if (s.head_blocks && a < s.head_lba + s.head_blocks)
				a = s.head_lba + s.head_blocks;
			if (s.tail_blocks && b > s.tail_lba)
				b = s.tail_lba;
			if (a < b && (rc = unmap_prove(p, a, b - a, e)) < 0)
				return rc;
		}
		lba += s.consumed;
		blocks -= s.consumed;
	}
	return 0;
}

/*
 * Make a range read zero.  WRITE SAME(16)+UNMAP of a zero block reads
 * zero afterwards whatever the target does (SBC-4 4.7.3.4.4: it may not
 * unmap where that would change what is read); it is bounded by the
 * reported maximum WRITE SAME length (and 32 bits of blocks).  Without it,
 * on an LBPRZ xx1b LU with GET LBA STATUS, UNMAP by whole granules, proven
 * afterwards, with everything not proven written.
 */
static int scsi_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		     unsigned flags, struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	uint64_t lba = off / v->block_size + p->base_lba;
	uint64_t blocks = len / v->block_size, first = lba;
	uint64_t step = p->bl.max_write_same ? p->bl.max_write_same : 65536;
	int rc = 0;

	if (!(flags & BC_ZERO_MAY_UNMAP) || (!p->ws_unmap && !p->unmap_zeroes))
		return -EOPNOTSUPP;	/* the engine writes zeros */
	if (step > UINT32_MAX)
		step = UINT32_MAX;
	while (blocks && p->ws_unmap) {
		uint32_t n = blocks > step ? (uint32_t)step : (uint32_t)blocks;

		rc = bc_lu_write_same16_unmap(&p->lu, lba, n, e);
		if (rc == -EOPNOTSUPP && lba == first) {
			p->ws_unmap = false;	/* not really supported */
			if (!p->unmap_zeroes)
				return rc;
			bc_error_clear(e);
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		lba += n;
		blocks -= n;
	}
	if (!rc && blocks)
		rc = zero_by_unmap(p, lba, blocks, e);
	/* the LU changed behind the block device's page cache */
	if (p->data)
		bc_blk_invalidate(p->data);
	return rc;
}

/*
 * Deallocate a range (no promise of zeros): UNMAP cut to the LU's LBA-count
 * and descriptor limits.  Partial granules are left to the LU.
 */
static int scsi_discard(struct bc_volume *v, uint64_t off, uint64_t len,
			struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	struct bc_unmap_geom g = p->ugeom;
	uint8_t list[BC_UNMAP_HDR_LEN + BC_UNMAP_STEP_DESC * BC_UNMAP_DESC_LEN];
	uint64_t lba = off / v->block_size + p->base_lba;
	uint64_t blocks = len / v->block_size;
	int rc = 0;

	g.granularity = 1;	/* every block asked for; the LU drops partials */
	while (blocks && rc == 0) {
		struct bc_unmap_step s;
		int l;

		if (bc_unmap_plan_step(lba, blocks, &g, &s) < 0 || !s.n_desc)
			return bc_error_set_lba(e, -EINVAL, v->name, "UNMAP", lba,
						v->block_size, "range outside the LU");
		l = bc_unmap_build_list(list, sizeof(list), s.desc, s.n_desc);
		rc = l < 0 ? bc_error_set(e, l, v->name, "UNMAP", "parameter list") :
		     bc_lu_unmap_list(&p->lu, list, (uint16_t)l, lba, e);
		lba += s.consumed;
		blocks -= s.consumed;
	}
	if (p->data)
		bc_blk_invalidate(p->data);
	return rc;
}

static int scsi_flush(struct bc_volume *v, struct bc_error *e)
{
	int rc;

	/* what the kernel holds for the block device goes down first */
	if (sp(v)->data && (rc = sp(v)->data->ops->flush(sp(v)->data, e)) < 0)
		return rc;
	rc = bc_lu_sync_cache16(&sp(v)->lu, e);

	/* A target without a cache may not implement it: nothing to flush. */
	return rc == -EOPNOTSUPP ? 0 : rc;
}

/* SG_IO volumes: the block device's cache; iSCSI: none on this host */
static int scsi_drop_cache(struct bc_volume *v, struct bc_error *e)
{
	return sp(v)->data ? bc_volume_drop_cache(sp(v)->data, e) : 0;
}

/* Generous: a copy manager may take long for 65535 blocks on slow media. */
#define XCOPY_TIMEOUT_MS 120000

static struct scsi_priv *scsi_lu_of(const struct bc_volume *v);
static int token_copy(struct bc_volume *src, struct bc_volume *dst,
		      uint64_t lba, uint64_t dlba, uint64_t blocks,
		      uint64_t *done_blocks, struct bc_error *e);

/*
 * Token copy of [src_off, src_off+len) onto dst_off, both SCSI LUs:
 * token_copy on whole blocks; *done is what the destination confirmed.
 */
static int token_exec(struct bc_volume *src, uint64_t src_off,
		      struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		      uint64_t *done, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	uint64_t blocks = 0;
	int rc;

	if (!len)	/* a token cannot be tried without writing */
		return bc_error_set(e, -EOPNOTSUPP, src->name, "token copy",
				    "the pair cannot be checked without copying");
	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (src->block_size != dst->block_size || src_off % src->block_size ||
	    dst_off % src->block_size || len % src->block_size)
		return bc_error_set(e, -EINVAL, dst->name, "token copy",
				    "ranges must be whole blocks of one size");
	rc = token_copy(src, dst, src_off / src->block_size + sp(src)->base_lba,
			dst_off / dst->block_size + sp(dst)->base_lba,
			len / src->block_size, &blocks, e);
	*done = blocks * src->block_size;
	if (sp(dst)->data && *done)
		bc_blk_invalidate(sp(dst)->data);
	return rc;
}

/*
 * A zero-block segment: SPC says nothing is copied and it is not an
 * error, but the copy manager must find both LUs -- LIO answers COPY
 * ABORTED 0D/02 here for a LU it cannot reach.  So the pair is confirmed
 * without writing.
 */
static int xcopy_confirm_pair(struct bc_volume *src, const struct bc_designator *sd,
			      struct bc_volume *dst, const struct bc_designator *dd,
			      uint64_t lba, uint64_t dlba, struct bc_error *e)
{
	uint8_t list[BC_XCOPY_HDR_LEN + 2 * BC_XCOPY_CSCD_LEN + BC_XCOPY_SEG_LEN];
	struct bc_xcopy_segment probe = { lba, dlba, 0 };
	int l = bc_xcopy_build_list(list, sizeof(list), sd, src->block_size,
				    dd, dst->block_size, &probe, 1);

	if (l < 0)
		return bc_error_set(e, l, src->name, "EXTENDED COPY(LID1)",
				    "cannot build the parameter list");
	return bc_lu_extended_copy(&sp(src)->lu, list, (uint32_t)l, lba,
				   XCOPY_TIMEOUT_MS, e);
}

/*
 * EXTENDED COPY(LID1) of [src_off, src_off+len) onto dst_off, both SCSI
 * LUs, sent to the source LU: commands cut to the copy manager's limits,
 * one after the other.  On COPY ABORTED the segments the sense data
 * reports finished count as done and nothing else does; *done is always
 * exact.
 */
static int xcopy_exec(struct bc_volume *src, uint64_t src_off,
		      struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		      uint64_t *done, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	const struct bc_designator *sd, *dd;
	struct bc_xcopy_segment seg[128];
	struct bc_xcopy_shape shape;
	uint8_t list[BC_XCOPY_HDR_LEN + 2 * BC_XCOPY_CSCD_LEN +
		     128 * BC_XCOPY_SEG_LEN];
	uint64_t bs = src->block_size, lba, dlba, left;
	int rc;

	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	if (src->block_size != dst->block_size || src_off % bs ||
	    dst_off % bs || len % bs)
		return bc_error_set(e, -EINVAL, dst->name, "EXTENDED COPY(LID1)",
				    "ranges must be whole blocks of one size");
	sd = bc_xcopy_pick_designator(sc->id.designators, sc->id.n_designators);
	dd = bc_xcopy_pick_designator(dc->id.designators, dc->id.n_designators);
	if (!sd || !dd)
		return bc_error_set(e, -EOPNOTSUPP, !sd ? src->name : dst->name,
				    "EXTENDED COPY(LID1)",
				    "no NAA designator to name the LU in an 0xE4 descriptor");
	if (bc_xcopy_shape(&sc->xcopy_lim, src->block_size, &shape) < 0)
		return bc_error_set(e, -EOPNOTSUPP, src->name, "EXTENDED COPY(LID1)",
				    "the copy manager's limits leave no room for a segment");
	lba = src_off / bs + sp(src)->base_lba;
	dlba = dst_off / bs + sp(dst)->base_lba;
	left = len / bs;
	if (!len)
		return xcopy_confirm_pair(src, sd, dst, dd, lba, dlba, e);
	while (left) {
		uint64_t covered = 0;
		size_t n = bc_xcopy_cut(&shape, lba, dlba, left, seg, 128, &covered);
		int l = bc_xcopy_build_list(list, sizeof(list), sd, src->block_size,
					    dd, dst->block_size, seg, n);

		if (l < 0)
			return bc_error_set(e, l, src->name, "EXTENDED COPY(LID1)",
					    "cannot build the parameter list");
		rc = bc_lu_extended_copy(&sp(src)->lu, list, (uint32_t)l, lba,
					 XCOPY_TIMEOUT_MS, e);
		if (rc < 0) {
			size_t k = rc == -ECANCELED ?
				   bc_xcopy_segments_done(&e->status, n) : 0;

			for (size_t i = 0; i < k; i++)
				*done += (uint64_t)seg[i].blocks * bs;
			break;
		}
		lba += covered;
		dlba += covered;
		left -= covered;
		*done += covered * bs;
	}
	/* the copy manager wrote behind the kernel's page cache */
	if (sp(dst)->data && *done)
		bc_blk_invalidate(sp(dst)->data);
	return rc;
}

/*
 * The copy manager's copy of [src_off, src_off+len) onto dst_off, by
 * @method: both are SCSI-to-SCSI, so a destination that is no SCSI LU
 * (a file, a block device, an NVMe namespace) is refused.
 */
static int scsi_offload_copy(struct bc_volume *src, uint64_t src_off,
			     struct bc_volume *dst, uint64_t dst_off,
			     uint64_t len, enum bc_method method,
			     uint64_t *done, struct bc_error *e)
{
	bool dst_is_lu = scsi_lu_of(dst) != NULL;

	*done = 0;
	if (method == BC_METHOD_TOKEN && dst_is_lu)
		return token_exec(src, src_off, dst, dst_off, len, done, e);
	if (method != BC_METHOD_XCOPY_LID1 || !dst_is_lu)
		return bc_error_set(e, -EOPNOTSUPP, src->name, "EXTENDED COPY(LID1)",
				    "%s needs SCSI LUs on both sides",
				    bc_method_name(method));
	return xcopy_exec(src, src_off, dst, dst_off, len, done, e);
}

/*
 * List identifiers are per I_T nexus; a nexus may be shared with other
 * processes (SG_IO on one host port), so the pid is part of the id.
 */
static uint32_t next_list_id(struct scsi_priv *p)
{
	p->list_seq = (p->list_seq + 1) & 0xfff;
	return ((uint32_t)getpid() & 0xfffff) << 12 | p->list_seq;
}

/* POPULATE TOKEN for [lba, lba+blocks) of @src; the token and how many
 * blocks it represents. */
static int token_populate(struct bc_volume *src, uint64_t lba, uint64_t blocks,
			  uint8_t *token, uint64_t *represented,
			  struct bc_error *e)
{
	struct scsi_priv *p = sp(src);
	struct bc_token_range r = { lba, (uint32_t)blocks };
	struct bc_token_status ts;
	uint8_t pl[BC_TOKEN_HDR_LEN + BC_TOKEN_RANGE_LEN];
	uint32_t id = next_list_id(p);
	int l = bc_token_build_populate(pl, sizeof(pl), 0, &r, 1), rc;

	if (l < 0)
		return bc_error_set(e, l, src->name, "POPULATE TOKEN", "parameter list");
	rc = bc_lu_populate_token(&p->lu, id, pl, (uint32_t)l, lba, e);
	if (rc < 0)
		return rc;
	rc = bc_lu_rrti(&p->lu, id, lba, &ts, e);
	if (rc < 0)
		return rc;
	if (!ts.has_token || !ts.transfer_count || ts.transfer_count > blocks)
		return bc_error_set_lba(e, -EIO, src->name, "POPULATE TOKEN", lba,
					src->block_size,
					"no usable token (copy status %#x, %llu blocks)",
					ts.copy_status, (unsigned long long)ts.transfer_count);
	memcpy(token, ts.token, BC_TOKEN_LEN);
	*represented = ts.transfer_count;
	return 0;
}

/* RECEIVE ROD TOKEN INFORMATION polls after COPY OPERATION ABORT before
 * blkclone stops waiting for the operation to end (at most about 10 s at
 * the longest status delay honoured). */
#define ABORT_POLLS 10
/* How long a copy manager may show no progress when VPD 0x8F gives no
 * default inactivity timeout. */
#define TOKEN_STALL_S 60

static bool in_progress(const struct bc_token_status *ts)
{
	return (ts->copy_status & 0x70) == 0x10;
}

/* The device's estimated status update delay, within 10 ms..1 s. */
static void status_pause(const struct bc_token_status *ts)
{
	uint32_t ms = ts->status_delay_ms;
	struct timespec t;

	ms = ms < 10 ? 10 : ms > 1000 ? 1000 : ms;
	t.tv_sec = ms / 1000;
	t.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&t, NULL);
}

/*
 * Stop WRITE USING TOKEN list @id, for a cancel (@err -EINTR, @why NULL)
 * or because it ran past a bound (@err -ETIME for the copy's deadline,
 * -ETIMEDOUT for a stall; @why says which): COPY OPERATION ABORT, then at
 * most ABORT_POLLS polls for the operation to end.  It fails either way:
 * with @err once it ended (a bound names RECEIVE ROD TOKEN INFORMATION);
 * -EINPROGRESS naming COPY OPERATION ABORT if it may still be writing the
 * destination (the copy executor then does not go on on the host).  *ts
 * holds the last status.
 */
static int token_stop(struct bc_volume *dst, uint32_t id, uint64_t lba,
		      int err, const char *why, struct bc_token_status *ts,
		      struct bc_error *e)
{
	struct scsi_priv *p = sp(dst);
	struct bc_error ae = { 0 };
	char abort_said[360] = "";
	bool ended = false;

	if (!p->tpc.copy_abort)
		snprintf(abort_said, sizeof(abort_said),
			 "not offered by the LU (VPD 0x8F)");
	else if (bc_lu_copy_abort(&p->lu, id, lba, &ae) < 0)
		snprintf(abort_said, sizeof(abort_said), "refused (%.340s)",
			 ae.detail[0] ? ae.detail : strerror(-ae.err));
	for (int i = 0; i < ABORT_POLLS; i++) {
		struct bc_error re = { 0 };

		if (bc_lu_rrti(&p->lu, id, lba, ts, &re) < 0)
			break;		/* no answer: it may still run */
		if (!in_progress(ts)) {
			ended = true;
			break;
		}
		status_pause(ts);
	}
	if (ended && !why)
		return bc_error_set_lba(e, -EINTR, dst->name, "WRITE USING TOKEN", lba,
					dst->block_size, "aborted (COPY OPERATION ABORT) after %llu blocks",
					(unsigned long long)ts->transfer_count);
	if (ended)
		return bc_error_set_lba(e, err, dst->name,
					"RECEIVE ROD TOKEN INFORMATION", lba, dst->block_size,
					"%s; stopped with COPY OPERATION ABORT after %llu blocks",
					why, (unsigned long long)ts->transfer_count);
	/* no sense status in @e: the failure is not the device refusing the
	 * copy (that would read as "nothing written") */
	return bc_error_set_lba(e, -EINPROGRESS, dst->name, "COPY OPERATION ABORT", lba,
				dst->block_size,
				"%s, and the operation is still in progress after %d polls of RECEIVE ROD TOKEN INFORMATION (%s): the copy manager may still be writing the destination; let it finish before copying again",
				abort_said[0] ? abort_said : "accepted", ABORT_POLLS,
				why ? why : "interrupted");
}

/*
 * Wait for WRITE USING TOKEN list @id: RECEIVE ROD TOKEN INFORMATION until
 * the operation is no longer in progress, honouring the device's
 * estimated status update delay.  Bounded: a cancel, the copy's deadline,
 * or @stall_s seconds without the transfer count moving stop it
 * (token_stop).  *ts holds the last status either way.
 */
static int token_wait(struct bc_volume *dst, uint32_t id, uint64_t lba,
		      uint32_t stall_s, struct bc_token_status *ts,
		      struct bc_error *e)
{
	struct scsi_priv *p = sp(dst);
	uint64_t count = UINT64_MAX, since = bc_now_ms();
	char why[200];

	for (;;) {
		int rc = bc_lu_rrti(&p->lu, id, lba, ts, e);
		uint64_t now = bc_now_ms();

		if (rc < 0)
			return rc;
		if (!in_progress(ts))
			break;
		if (ts->transfer_count != count) {
			count = ts->transfer_count;
			since = now;
		}
		if (dst->cancel && *dst->cancel)
			return token_stop(dst, id, lba, -EINTR, NULL, ts, e);
		if (bc_deadline_passed(&dst->deadline)) {
			snprintf(why, sizeof(why),
				 "still in progress when the copy's --timeout=%u s ran out",
				 dst->deadline.seconds);
			return token_stop(dst, id, lba, -ETIME, why, ts, e);
		}
		if (now - since >= (uint64_t)stall_s * 1000u) {
			snprintf(why, sizeof(why),
				 "still in progress, without progress for %u s (the ROD token inactivity timeout, VPD 0x8F)",
				 stall_s);
			return token_stop(dst, id, lba, -ETIMEDOUT, why, ts, e);
		}
		status_pause(ts);
	}
	if (ts->copy_status == 0x60)
		return bc_error_set_lba(e, -EINTR, dst->name, "WRITE USING TOKEN", lba,
					dst->block_size, "aborted (COPY OPERATION ABORT) after %llu blocks",
					(unsigned long long)ts->transfer_count);
	if (ts->copy_status == 0x02)
		return bc_error_set_lba(e, -ECANCELED, dst->name, "WRITE USING TOKEN", lba,
					dst->block_size, "the copy failed after %llu blocks",
					(unsigned long long)ts->transfer_count);
	return 0;
}

/* An expired or invalidated token (INVALID TOKEN OPERATION, ASC 23h with
 * ASCQ 07h/08h/09h) is worth one new token; others are refusals. */
static bool token_stale(const struct bc_error *e)
{
	return e->status.cat == BC_CAT_INVALID_TOKEN &&
	       (e->status.ascq == 0x07 || e->status.ascq == 0x08 ||
		e->status.ascq == 0x09);
}

/*
 * Token copy of [src_lba, +blocks) onto dst_lba: populate a token for as
 * much as the limits allow, write it, continue at the transfer count the
 * destination reports (a larger offset into the ROD), repopulate once if
 * the token went stale.  *done counts blocks the destination confirmed.
 */
static int token_copy(struct bc_volume *src, struct bc_volume *dst,
		      uint64_t lba, uint64_t dlba, uint64_t blocks,
		      uint64_t *done_blocks, struct bc_error *e)
{
	const struct bc_caps *sc = &src->caps;
	uint64_t max = sc->token_lim.max_token_transfer;
	/* a token lives this long unused (we ask for the default): a copy
	 * manager that shows no progress for as long is taken for stuck */
	uint32_t stall_s = sc->token_lim.default_inactivity_s ?
			   sc->token_lim.default_inactivity_s : TOKEN_STALL_S;
	uint8_t *token, *pl;
	size_t pl_len = 536 + BC_TOKEN_RANGE_LEN;
	int rc = 0;

	*done_blocks = 0;
	if (!max || max > UINT32_MAX)
		max = UINT32_MAX;
	if (sc->token_lim.optimal_transfer && sc->token_lim.optimal_transfer < max)
		max = sc->token_lim.optimal_transfer;
	token = malloc(BC_TOKEN_LEN);
	pl = malloc(pl_len);
	if (!token || !pl) {
		free(token);
		free(pl);
		return bc_error_set(e, -ENOMEM, src->name, "token copy", NULL);
	}
	while (*done_blocks < blocks && rc == 0) {
		uint64_t want = blocks - *done_blocks, rep = 0, off = 0;
		uint64_t s = lba + *done_blocks, d = dlba + *done_blocks;
		const uint64_t s0 = s;	/* where this token's window starts */
		bool repopulated = false;

		if (want > max)
			want = max;
		rc = token_populate(src, s, want, token, &rep, e);
		while (rc == 0 && off < rep) {
			struct bc_token_range r = { d + off, (uint32_t)(rep - off) };
			struct bc_token_status ts;
			uint32_t id = next_list_id(sp(dst));
			/* IMMED where the operation can be aborted: a cancel
			 * then stops the copy manager too */
			bool immed = sp(dst)->tpc.copy_abort;
			int l = bc_token_build_write(pl, pl_len, off, token, &r, 1, immed);

			if (l < 0) {
				rc = bc_error_set(e, l, dst->name, "WRITE USING TOKEN",
						  "parameter list");
				break;
			}
			rc = bc_lu_write_using_token(&sp(dst)->lu, id, pl, (uint32_t)l,
						     d + off, e);
			if (rc < 0 && token_stale(e) && !repopulated) {
				/* once: a new token for what is left of this
				 * window, and not one block past it (*done_blocks
				 * has moved on with the blocks already written) */
				repopulated = true;
				s += off;
				d += off;
				rep = 0;
				off = 0;
				bc_error_clear(e);
				rc = token_populate(src, s, want - (s - s0), token, &rep, e);
				continue;
			}
			if (rc == -ECANCELED) {
				/* COPY ABORTED: the list's status says how far
				 * the destination got */
				struct bc_error re = { 0 };

				if (bc_lu_rrti(&sp(dst)->lu, id, d + off, &ts, &re) == 0 &&
				    ts.transfer_count && ts.transfer_count <= rep - off)
					*done_blocks = d + off + ts.transfer_count - dlba;
			}
			if (rc < 0)
				break;
			rc = token_wait(dst, id, d + off, stall_s, &ts, e);
			if (rc < 0) {
				/* what the destination confirmed before it stopped */
				if (ts.transfer_count && ts.transfer_count <= rep - off)
					*done_blocks = d + off + ts.transfer_count - dlba;
				break;
			}
			if (!ts.transfer_count || ts.transfer_count > rep - off) {
				rc = bc_error_set_lba(e, -EIO, dst->name, "WRITE USING TOKEN",
						      d + off, dst->block_size,
						      "transfer count %llu of %llu blocks",
						      (unsigned long long)ts.transfer_count,
						      (unsigned long long)(rep - off));
				break;
			}
			off += ts.transfer_count;
			*done_blocks = d + off - dlba;
		}
	}
	free(token);
	free(pl);
	return rc;
}

static void scsi_close(struct bc_volume *v)
{
	bc_scsi_transport_close(sp(v)->lu.t);
	if (sp(v)->data)
		bc_volume_close(sp(v)->data);
}

static const struct bc_volume_ops scsi_ops = {
	.name = "scsi",
	.probe = scsi_probe,
	.read = scsi_read,
	.write = scsi_write,
	.map = scsi_map,
	.zero = scsi_zero,
	.discard = scsi_discard,
	.flush = scsi_flush,
	.drop_cache = scsi_drop_cache,
	.offload_copy = scsi_offload_copy,
	.close = scsi_close,
};

/* The LU behind @v, or NULL when @v is no SCSI LU volume. */
static struct scsi_priv *scsi_lu_of(const struct bc_volume *v)
{
	return v->ops == &scsi_ops ? v->priv : NULL;
}

/*
 * Every SCSI volume starts here: a volume over transport @t (owned from
 * here on, also on failure), sized by READ CAPACITY(16), data through
 * READ/WRITE(16) one command at a time until a caller says otherwise.
 */
int bc_scsi_volume_wrap(struct bc_scsi_transport *t, unsigned flags,
			struct bc_volume **out, struct bc_error *e)
{
	struct bc_volume *v;
	struct scsi_priv *p;
	int rc;

	v = bc_volume_alloc(&scsi_ops, t->name, sizeof(*p));
	if (!v) {
		bc_scsi_transport_close(t);
		return bc_error_set(e, -ENOMEM, t->name, "open", NULL);
	}
	p = v->priv;
	p->lu.t = t;
	p->lu.block_size = 512;
	rc = bc_lu_read_capacity16(&p->lu, &p->cap, e);
	if (rc < 0) {
		bc_volume_close(v);
		return rc;
	}
	p->lu.block_size = p->cap.block_size;
	v->block_size = p->cap.block_size;
	v->size = p->cap.blocks * p->cap.block_size;
	v->writable = !!(flags & BC_OPEN_WRITE);
	v->io_threads = 1;	/* one transport, one command at a time */
	p->max_xfer_blocks = DEFAULT_MAX_XFER / v->block_size;
	*out = v;
	return 0;
}

int bc_scsi_volume_open(const char *addr, unsigned flags,
			struct bc_volume **out, struct bc_error *e)
{
	struct bc_scsi_transport *t;
	unsigned depth;
	int rc = bc_iscsi_connect(addr, &t, e);

	if (rc < 0)
		return rc;
	depth = t->max_queue;
	rc = bc_scsi_volume_wrap(t, flags, out, e);
	/* the session pipelines commands: one engine thread per slot */
	if (rc == 0 && depth > 1)
		(*out)->io_threads = depth;
	return rc;
}

int bc_scsi_sg_volume_open(const char *path, unsigned flags,
			   const struct bc_stack *stack,
			   struct bc_volume **out, struct bc_error *e)
{
	static const struct bc_stack itself;	/* /dev/sgN: no block device */
	struct bc_scsi_transport *t;
	struct bc_volume *data = NULL, *v;
	struct scsi_priv *p;
	uint64_t lu_bytes;
	int rc;

	/* the block device first: O_EXCL on a destination refuses a mounted
	 * or claimed device before any SCSI command is sent */
	if (!stack)
		stack = &itself;
	else if ((rc = bc_blk_open(path, flags, &data, e)) < 0)
		return rc;
	rc = bc_sg_open(stack->bottom[0] ? stack->bottom : path,
			!!(flags & BC_OPEN_WRITE), &t, e);
	if (rc == 0)
		rc = bc_scsi_volume_wrap(t, flags, &v, e);
	if (rc < 0) {
		if (data)
			bc_volume_close(data);
		return rc;
	}
	snprintf(v->name, sizeof(v->name), "%s", path);
	p = v->priv;
	p->data = data;
	if (!data) {
		*out = v;
		return 0;
	}
	lu_bytes = v->size;
	if (p->cap.block_size != data->block_size ||
	    stack->offset % p->cap.block_size ||
	    stack->offset + data->size > lu_bytes) {
		rc = bc_error_set(e, -EINVAL, path, "open",
				  "%s does not fit the LU beneath (%s: %u-byte blocks, %" PRIu64
				  " bytes; window at %" PRIu64 ")",
				  path, stack->bottom, p->cap.block_size, lu_bytes,
				  stack->offset);
		bc_volume_close(v);
		return rc;
	}
	p->base_lba = stack->offset / p->cap.block_size;
	if (stack->depth)
		snprintf(p->layers, sizeof(p->layers), "%s", stack->layers);
	v->size = data->size;
	v->writable = data->writable;
	v->has_mode = data->has_mode;
	v->mode = data->mode;
	v->io_threads = data->io_threads;
	*out = v;
	return 0;
}
