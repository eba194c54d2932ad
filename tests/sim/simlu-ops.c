// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * How the simulator answers (see simlu-int.h): the command table that
 * dispatches a CDB and also answers REPORT SUPPORTED OPERATION CODES, and
 * the helpers handlers build sense and data-in with.
 */
#include <errno.h>
#include <string.h>

#include "simlu-int.h"

/* --- reply helpers -------------------------------------------------------- */

size_t sim_sense_bytes(uint8_t *s, uint8_t key, uint16_t ascq, bool info_valid,
		       uint32_t info, uint32_t cmd_specific, const uint8_t sks[3])
{
	memset(s, 0, 18);
	s[0] = (uint8_t)(0x70 | (info_valid ? 0x80 : 0));	/* current, fixed */
	s[2] = key & 0x0f;
	sim_put32(s + 3, info);
	s[7] = 10;					/* bytes 8..17 follow */
	sim_put32(s + 8, cmd_specific);
	s[12] = (uint8_t)(ascq >> 8);
	s[13] = (uint8_t)ascq;
	if (sks)
		memcpy(s + 15, sks, 3);
	return 18;
}

static void set_sense(struct sim_ctx *c, uint8_t key, uint16_t ascq,
		      bool info_valid, uint32_t info, uint32_t csi,
		      const uint8_t sks[3])
{
	struct bc_scsi_cmd *cmd = c->cmd;

	cmd->status = BC_SAM_CHECK_CONDITION;
	cmd->sense_len = sim_sense_bytes(cmd->sense, key, ascq, info_valid, info,
					 csi, sks);
	cmd->resid = cmd->dir == BC_SCSI_DIR_IN ? cmd->data_len : 0;
}

void sim_sense(struct sim_ctx *c, uint8_t key, uint16_t ascq)
{
	set_sense(c, key, ascq, false, 0, 0, NULL);
}

void sim_sense_full(struct sim_ctx *c, uint8_t key, uint16_t ascq,
		    bool info_valid, uint32_t info, uint32_t cmd_specific)
{
	set_sense(c, key, ascq, info_valid, info, cmd_specific, NULL);
}

void sim_bad_cdb(struct sim_ctx *c, unsigned byte)
{
	/* SKSV, C/D = 1 (the CDB), field pointer */
	uint8_t sks[3] = { 0xc0, (uint8_t)(byte >> 8), (uint8_t)byte };

	set_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_CDB_FIELD, false, 0, 0, sks);
}

void sim_bad_param(struct sim_ctx *c, uint16_t ascq, unsigned byte)
{
	/* SKSV, C/D = 0 (the parameter list), field pointer */
	uint8_t sks[3] = { 0x80, (uint8_t)(byte >> 8), (uint8_t)byte };

	set_sense(c, SK_ILLEGAL_REQUEST, ascq, false, 0, 0, byte > 0xffff ? NULL : sks);
}

void sim_data_in(struct sim_ctx *c, const void *buf, size_t len, size_t alloc)
{
	struct bc_scsi_cmd *cmd = c->cmd;
	size_t room = cmd->dir == BC_SCSI_DIR_IN && cmd->data ? cmd->data_len : 0;
	size_t n = len < alloc ? len : alloc;

	if (n > room)
		n = room;
	if (n)
		memcpy(cmd->data, buf, n);
	cmd->resid = room - n;
}

const uint8_t *sim_data_out(struct sim_ctx *c, size_t len)
{
	struct bc_scsi_cmd *cmd = c->cmd;

	if (!len)
		return NULL;
	if (cmd->dir != BC_SCSI_DIR_OUT || !cmd->data || cmd->data_len < len) {
		c->err = -EINVAL;
		c->why = "data-out buffer missing or shorter than the CDB's transfer length";
		return NULL;
	}
	return cmd->data;
}

const uint8_t *sim_param_list(struct sim_ctx *c, uint32_t plen, size_t min,
			      size_t *usable)
{
	const uint8_t *p;

	if (plen < min) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH);
		return NULL;
	}
	if (!(p = sim_data_out(c, plen)))
		return NULL;
	/* the list's own length field, clamped to what was sent */
	*usable = (size_t)sim_be16(p) + 2;
	if (*usable > plen)
		*usable = plen;
	return p;
}

/* --- the command table ---------------------------------------------------- */

enum { NEED_THIN = 1, NEED_GLS = 2, NEED_XCOPY = 4, NEED_XCOPY_SPC = 8,
       NEED_TOKEN = 16, NEED_RSOC = 32 };

struct sim_op {
	uint8_t op;
	int sa;			/* -1: the opcode has no service actions */
	uint8_t cdb_len;
	unsigned need;
	void (*run)(struct sim_ctx *c);
	const char *name;
};

static void sim_cmd_rsoc(struct sim_ctx *c);

static const struct sim_op ops[] = {
	{ 0x00, -1, 6, 0, sim_cmd_tur, "TEST UNIT READY" },
	{ 0x12, -1, 6, 0, sim_cmd_inquiry, "INQUIRY" },
	{ 0x25, -1, 10, 0, sim_cmd_read_capacity10, "READ CAPACITY(10)" },
	{ 0x28, -1, 10, 0, sim_cmd_rw, "READ(10)" },
	{ 0x2a, -1, 10, 0, sim_cmd_rw, "WRITE(10)" },
	{ 0x35, -1, 10, 0, sim_cmd_sync_cache, "SYNCHRONIZE CACHE(10)" },
	{ 0x41, -1, 10, 0, sim_cmd_write_same, "WRITE SAME(10)" },
	{ 0x42, -1, 10, NEED_THIN, sim_cmd_unmap, "UNMAP" },
	{ 0x83, 0x00, 16, NEED_XCOPY, sim_cmd_xcopy_lid1, "EXTENDED COPY(LID1)" },
	{ 0x83, 0x10, 16, NEED_TOKEN, sim_cmd_populate_token, "POPULATE TOKEN" },
	{ 0x83, 0x11, 16, NEED_TOKEN, sim_cmd_write_using_token, "WRITE USING TOKEN" },
	{ 0x83, 0x1c, 16, NEED_TOKEN, sim_cmd_copy_abort, "COPY OPERATION ABORT" },
	{ 0x84, 0x00, 16, NEED_XCOPY_SPC, sim_cmd_rcr_lid1, "RECEIVE COPY STATUS(LID1)" },
	{ 0x84, 0x01, 16, NEED_XCOPY_SPC, sim_cmd_rcr_lid1, "RECEIVE COPY DATA(LID1)" },
	{ 0x84, 0x03, 16, NEED_XCOPY, sim_cmd_rcr_lid1, "RECEIVE COPY OPERATING PARAMETERS" },
	{ 0x84, 0x04, 16, NEED_XCOPY_SPC, sim_cmd_rcr_lid1, "RECEIVE COPY FAILURE DETAILS" },
	{ 0x84, 0x05, 16, NEED_TOKEN, sim_cmd_rcs_lid4, "RECEIVE COPY STATUS(LID4)" },
	{ 0x84, 0x07, 16, NEED_TOKEN, sim_cmd_rcs_lid4, "RECEIVE ROD TOKEN INFORMATION" },
	{ 0x88, -1, 16, 0, sim_cmd_rw, "READ(16)" },
	{ 0x8a, -1, 16, 0, sim_cmd_rw, "WRITE(16)" },
	{ 0x91, -1, 16, 0, sim_cmd_sync_cache, "SYNCHRONIZE CACHE(16)" },
	{ 0x93, -1, 16, 0, sim_cmd_write_same, "WRITE SAME(16)" },
	{ 0x9e, 0x10, 16, 0, sim_cmd_read_capacity16, "READ CAPACITY(16)" },
	{ 0x9e, 0x12, 16, NEED_GLS, sim_cmd_get_lba_status, "GET LBA STATUS" },
	{ 0xa0, -1, 12, 0, sim_cmd_report_luns, "REPORT LUNS" },
	{ 0xa3, 0x0c, 12, NEED_RSOC, sim_cmd_rsoc, "REPORT SUPPORTED OPERATION CODES" },
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

static bool op_enabled(const struct sim_op *o, const struct sim_lu *lu)
{
	const struct bc_sim_lu_cfg *cfg = &lu->cfg;

	return (!(o->need & NEED_THIN) || cfg->thin) &&
	       (!(o->need & NEED_GLS) || cfg->gls) &&
	       (!(o->need & NEED_XCOPY) || cfg->xcopy != BC_SIM_XCOPY_NONE) &&
	       (!(o->need & NEED_XCOPY_SPC) || cfg->xcopy == BC_SIM_XCOPY_SPC) &&
	       (!(o->need & NEED_TOKEN) || cfg->token) &&
	       (!(o->need & NEED_RSOC) || cfg->rsoc);
}

/* Does this LU implement @op at all (any service action)? */
static bool opcode_known(uint8_t op, const struct sim_lu *lu)
{
	for (size_t i = 0; i < NOPS; i++)
		if (ops[i].op == op && op_enabled(&ops[i], lu))
			return true;
	return false;
}

static const struct sim_op *op_find(uint8_t op, int sa)
{
	for (size_t i = 0; i < NOPS; i++)
		if (ops[i].op == op && (ops[i].sa < 0 || ops[i].sa == sa))
			return &ops[i];
	return NULL;
}

static size_t rsoc_desc(uint8_t *p, const struct sim_op *o, bool rctd)
{
	memset(p, 0, rctd ? 20 : 8);
	p[0] = o->op;
	sim_put16(p + 2, o->sa < 0 ? 0 : (uint16_t)o->sa);
	p[5] = (uint8_t)((o->sa >= 0 ? 0x01 : 0) | (rctd ? 0x02 : 0));
	sim_put16(p + 6, o->cdb_len);
	if (rctd)
		sim_put16(p + 8, 10);	/* timeouts descriptor: all zero */
	return rctd ? 20 : 8;
}

static void sim_cmd_rsoc(struct sim_ctx *c)
{
	uint8_t buf[4 + NOPS * 20], opt = c->cdb[2] & 0x07, req = c->cdb[3];
	uint16_t rsa = sim_be16(c->cdb + 4);
	uint32_t alloc = sim_be32(c->cdb + 6);
	bool rctd = c->cdb[2] & 0x80, has_sa = false;
	const struct sim_op *o = NULL;
	size_t n = 4;

	if (opt == 0) {
		for (size_t i = 0; i < NOPS; i++)
			if (op_enabled(&ops[i], c->lu))
				n += rsoc_desc(buf + n, &ops[i], rctd);
		sim_put32(buf, (uint32_t)(n - 4));
		sim_data_in(c, buf, n, alloc);
		return;
	}
	if (opt > 3) {
		sim_bad_cdb(c, 2);
		return;
	}
	for (size_t i = 0; i < NOPS; i++) {
		if (ops[i].op != req)
			continue;
		has_sa = ops[i].sa >= 0;
		if (!has_sa || ops[i].sa == rsa)
			o = &ops[i];
	}
	/* option 1 names an opcode without service actions, option 2 one
	 * with; option 3 either */
	if ((opt == 1 && has_sa) || (opt == 2 && !has_sa && (o || opcode_known(req, c->lu)))) {
		sim_bad_cdb(c, 2);
		return;
	}
	memset(buf, 0, sizeof(buf));
	if (o && op_enabled(o, c->lu)) {
		buf[1] = (uint8_t)(0x03 | (rctd ? 0x80 : 0));	/* supported */
		sim_put16(buf + 2, o->cdb_len);
		/* CDB usage data: which bits of each byte the sim looks at */
		buf[4] = o->op;
		for (unsigned i = 1; i < o->cdb_len; i++)
			buf[4 + i] = 0xff;
		if (o->sa >= 0)
			buf[5] = 0x1f;
		n = 4 + o->cdb_len;
		if (rctd) {
			sim_put16(buf + n, 10);
			n += 12;
		}
	} else {
		buf[1] = 0x01;		/* not supported */
	}
	sim_data_in(c, buf, n, alloc);
}

void sim_dispatch(struct sim_ctx *c)
{
	const struct sim_op *o;
	int sa = c->cdb_len > 1 ? c->cdb[1] & 0x1f : 0;

	if (!opcode_known(c->cdb[0], c->lu)) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		return;
	}
	o = op_find(c->cdb[0], sa);
	if (!o || !op_enabled(o, c->lu)) {
		/* LIO hands opcode 0x83 to its EXTENDED COPY code whatever
		 * the service action, and that refuses all but 0 as an
		 * unsupported opcode (target_do_xcopy) */
		if (c->cdb[0] == 0x83 && c->lu->cfg.xcopy == BC_SIM_XCOPY_LIO)
			sim_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		else
			sim_bad_cdb(c, 1);	/* a service action we lack */
		return;
	}
	if (c->cdb_len < o->cdb_len) {
		sim_bad_cdb(c, c->cdb_len);	/* a truncated CDB */
		return;
	}
	o->run(c);
}

