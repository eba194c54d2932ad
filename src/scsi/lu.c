// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SCSI commands over any transport (see lu.h): build the CDB, run it,
 * retry what the standard says to retry, decode the rest into bc_error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scsi/lu.h"
#include "scsi/rsoc.h"
#include "scsi/unmap.h"
#include "scsi/token.h"
#include "scsi/xcopy.h"

#define RETRIES 8

static void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Run @cmd; on a device error fill @e with the command name, @lba and the
 * decoded sense.  UNIT ATTENTION is retried at once (every new I_T nexus
 * gets one, LIO's 3F/0E among them); BUSY, TASK SET FULL and NOT READY
 * (becoming ready, ALUA transition) after growing pauses, about 2.5 s in
 * all, then reported.
 */
static int run(struct bc_lu *lu, struct bc_scsi_cmd *cmd, const char *name,
	       uint64_t lba, struct bc_error *e)
{
	struct bc_status st;
	char text[256];
	int rc;

	for (int attempt = 0;; attempt++) {
		cmd->status = 0;
		cmd->sense_len = 0;
		cmd->resid = 0;
		rc = bc_scsi_execute(lu->t, cmd, e);
		if (rc < 0) {
			/* the transport filled @e; say which command it was */
			if (e) {
				snprintf(e->op, sizeof(e->op), "%s", name);
				e->has_lba = true;
				e->lba = lba;
				e->block_size = lu->block_size;
			}
			return rc;
		}
		bc_lu_decode_sense(cmd->sense, cmd->sense_len, cmd->status, &st);
		if (st.cat == BC_CAT_OK)
			return 0;
		if (st.cat == BC_CAT_RETRY && attempt < RETRIES) {
			/* a UNIT ATTENTION is gone once reported; BUSY, TASK
			 * SET FULL and NOT READY (becoming ready) need time */
			if (cmd->status != BC_SAM_CHECK_CONDITION || st.sense_key != 0x6)
				pause_ms(20L << (attempt < 5 ? attempt : 5));
			continue;
		}
		break;
	}
	bc_lu_status_text(&st, text, sizeof(text));
	if (st.cat == BC_CAT_RETRY) {	/* say it was waited for */
		size_t n = strlen(text);

		snprintf(text + n, sizeof(text) - n, ", still after %d retries", RETRIES);
	}
	rc = st.cat == BC_CAT_NOT_SUPPORTED ? -EOPNOTSUPP :
	     st.cat == BC_CAT_OUT_OF_RANGE ? -ERANGE :
	     st.cat == BC_CAT_PROTECT ? -EROFS :
	     st.cat == BC_CAT_COPY_ABORTED ? -ECANCELED :
	     st.cat == BC_CAT_INVALID_TOKEN ? -EBADE :
	     st.cat == BC_CAT_RETRY ? -EAGAIN : -EIO;
	if (e) {
		e->status = st;
		bc_error_set_lba(e, rc, lu->t->name, name, lba, lu->block_size,
				 "%s", text);
	}
	return rc;
}

static void cdb(struct bc_scsi_cmd *c, const uint8_t *bytes, uint8_t n,
		enum bc_scsi_dir dir, void *data, size_t len)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->cdb, bytes, n);
	c->cdb_len = n;
	c->dir = dir;
	c->data = data;
	c->data_len = len;
}

int bc_lu_inquiry(struct bc_lu *lu, struct bc_lu_inquiry *o, struct bc_error *e)
{
	uint8_t buf[96] = { 0 }, c6[6] = { 0x12, 0, 0, 0, sizeof(buf), 0 };
	struct bc_scsi_cmd c;
	int rc;

	cdb(&c, c6, 6, BC_SCSI_DIR_IN, buf, sizeof(buf));
	rc = run(lu, &c, "INQUIRY", 0, e);
	if (rc < 0)
		return rc;
	rc = bc_lu_parse_inquiry(buf, sizeof(buf) - c.resid, o);
	if (rc < 0)
		return bc_error_set(e, rc, lu->t->name, "INQUIRY",
				    "malformed standard INQUIRY data");
	return 0;
}

int bc_lu_vpd(struct bc_lu *lu, uint8_t page, uint8_t *buf, size_t len,
	      size_t *got, struct bc_error *e)
{
	uint8_t c6[6] = { 0x12, 0x01, page, 0, 0, 0 };
	struct bc_scsi_cmd c;
	char name[24];
	int rc;

	if (len > 0xffff)
		len = 0xffff;
	put_be16(c6 + 3, (uint16_t)len);
	memset(buf, 0, len);
	cdb(&c, c6, 6, BC_SCSI_DIR_IN, buf, len);
	snprintf(name, sizeof(name), "INQUIRY VPD 0x%02x", page);
	rc = run(lu, &c, name, 0, e);
	if (rc < 0)
		return rc;
	*got = len - (c.resid < len ? c.resid : len);
	if (*got < 4 || buf[1] != page)
		return bc_error_set(e, -EBADMSG, lu->t->name, name,
				    "reply is not page 0x%02x", page);
	return 0;
}

int bc_lu_read_capacity16(struct bc_lu *lu, struct bc_lu_capacity *o,
			  struct bc_error *e)
{
	uint8_t buf[32] = { 0 }, c16[16] = { 0x9e, 0x10 };
	struct bc_scsi_cmd c;
	int rc;

	put_be32(c16 + 10, sizeof(buf));
	cdb(&c, c16, 16, BC_SCSI_DIR_IN, buf, sizeof(buf));
	rc = run(lu, &c, "READ CAPACITY(16)", 0, e);
	if (rc < 0)
		return rc;
	rc = bc_lu_parse_capacity16(buf, sizeof(buf) - c.resid, o);
	if (rc < 0)
		return bc_error_set(e, -EBADMSG, lu->t->name, "READ CAPACITY(16)",
				    "impossible capacity or block length");
	return 0;
}

int bc_lu_get_lba_status(struct bc_lu *lu, uint64_t lba,
			 struct bc_lu_lba_status *out, size_t max, size_t *n,
			 struct bc_error *e)
{
	size_t len = 8 + 16 * max;
	uint8_t c16[16] = { 0x9e, 0x12 }, *buf;
	struct bc_scsi_cmd c;
	int rc;

	buf = calloc(1, len);
	if (!buf)
		return bc_error_set(e, -ENOMEM, lu->t->name, "GET LBA STATUS", NULL);
	put_be64(c16 + 2, lba);
	put_be32(c16 + 10, (uint32_t)len);
	cdb(&c, c16, 16, BC_SCSI_DIR_IN, buf, len);
	rc = run(lu, &c, "GET LBA STATUS", lba, e);
	if (rc == 0) {
		rc = bc_lu_parse_lba_status(buf, len - c.resid, lba, out, max, n);
		if (rc < 0)
			bc_error_set_lba(e, rc, lu->t->name, "GET LBA STATUS", lba,
					 lu->block_size, "malformed reply");
	}
	free(buf);
	return rc;
}

static int rw16(struct bc_lu *lu, uint8_t op, uint64_t lba, uint32_t blocks,
		void *buf, struct bc_error *e)
{
	uint8_t c16[16] = { op };
	struct bc_scsi_cmd c;
	size_t len = (size_t)blocks * lu->block_size;
	int rc;

	put_be64(c16 + 2, lba);
	put_be32(c16 + 10, blocks);
	cdb(&c, c16, 16, op == 0x88 ? BC_SCSI_DIR_IN : BC_SCSI_DIR_OUT, buf, len);
	rc = run(lu, &c, op == 0x88 ? "READ(16)" : "WRITE(16)", lba, e);
	if (rc == 0 && c.resid)
		return bc_error_set_lba(e, -EIO, lu->t->name,
					op == 0x88 ? "READ(16)" : "WRITE(16)",
					lba, lu->block_size,
					"short transfer: %zu bytes missing", c.resid);
	return rc;
}

int bc_lu_read16(struct bc_lu *lu, uint64_t lba, uint32_t blocks, void *buf,
		 struct bc_error *e)
{
	return rw16(lu, 0x88, lba, blocks, buf, e);
}

int bc_lu_write16(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
		  const void *buf, struct bc_error *e)
{
	return rw16(lu, 0x8a, lba, blocks, (void *)buf, e);
}

int bc_lu_write_same16(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
		       bool unmap, struct bc_error *e)
{
	uint8_t c16[16] = { 0x93, unmap ? 0x08 : 0x00 };
	const char *name = unmap ? "WRITE SAME(16) UNMAP" : "WRITE SAME(16)";
	struct bc_scsi_cmd c;
	void *zero;
	int rc;

	/* blocks == 0 means "to the end" on some targets: never send it */
	if (!blocks)
		return 0;
	zero = calloc(1, lu->block_size);
	if (!zero)
		return bc_error_set(e, -ENOMEM, lu->t->name, name, NULL);
	put_be64(c16 + 2, lba);
	put_be32(c16 + 10, blocks);
	cdb(&c, c16, 16, BC_SCSI_DIR_OUT, zero, lu->block_size);
	rc = run(lu, &c, name, lba, e);
	free(zero);
	return rc;
}

int bc_lu_write_same16_unmap(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
			     struct bc_error *e)
{
	return bc_lu_write_same16(lu, lba, blocks, true, e);
}

int bc_lu_unmap(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
		struct bc_error *e)
{
	struct bc_unmap_range r = { lba, blocks };
	uint8_t param[BC_UNMAP_HDR_LEN + BC_UNMAP_DESC_LEN];
	int l = bc_unmap_build_list(param, sizeof(param), &r, 1);

	if (l < 0)
		return bc_error_set(e, l, lu->t->name, "UNMAP", "parameter list");
	return bc_lu_unmap_list(lu, param, (uint16_t)l, lba, e);
}

int bc_lu_unmap_list(struct bc_lu *lu, const uint8_t *param, uint16_t len,
		     uint64_t lba, struct bc_error *e)
{
	uint8_t c10[10] = { 0x42 };
	struct bc_scsi_cmd c;

	put_be16(c10 + 7, len);
	cdb(&c, c10, 10, BC_SCSI_DIR_OUT, (void *)param, len);
	return run(lu, &c, "UNMAP", lba, e);
}

int bc_lu_rsoc_all(struct bc_lu *lu, bool rctd, struct bc_rsoc_cmd *out,
		   size_t max, size_t *n, bool *truncated, struct bc_error *e)
{
	struct bc_rsoc_args a = { .option = BC_RSOC_ALL, .rctd = rctd,
				  .alloc_len = 16384 };
	const char *name = "REPORT SUPPORTED OPERATION CODES";
	struct bc_scsi_cmd c;
	uint8_t c12[BC_RSOC_CDB_LEN], *buf;
	int rc;

	*n = 0;
	buf = calloc(1, a.alloc_len);
	if (!buf)
		return bc_error_set(e, -ENOMEM, lu->t->name, name, NULL);
	bc_rsoc_build_cdb(c12, sizeof(c12), &a);
	cdb(&c, c12, sizeof(c12), BC_SCSI_DIR_IN, buf, a.alloc_len);
	rc = run(lu, &c, name, 0, e);
	if (rc == 0) {
		size_t got = a.alloc_len - (c.resid < a.alloc_len ? c.resid : a.alloc_len);

		rc = bc_rsoc_parse_all(buf, got, out, max, n, truncated);
		if (rc < 0)
			bc_error_set(e, rc, lu->t->name, name,
				     "malformed all-commands reply (%zu bytes)", got);
	}
	free(buf);
	return rc;
}

int bc_lu_rsoc_one(struct bc_lu *lu, enum bc_rsoc_option option, uint8_t opcode,
		   uint16_t sa, struct bc_rsoc_one *o, struct bc_error *e)
{
	struct bc_rsoc_args a = { .option = option, .opcode = opcode, .sa = sa,
				  .alloc_len = 512 };
	const char *name = "REPORT SUPPORTED OPERATION CODES";
	struct bc_scsi_cmd c;
	uint8_t c12[BC_RSOC_CDB_LEN], buf[512] = { 0 };
	int rc;

	if (option == BC_RSOC_ALL || bc_rsoc_build_cdb(c12, sizeof(c12), &a) < 0)
		return bc_error_set(e, -EINVAL, lu->t->name, name, "not a one-command form");
	cdb(&c, c12, sizeof(c12), BC_SCSI_DIR_IN, buf, sizeof(buf));
	rc = run(lu, &c, name, 0, e);
	if (rc == 0 && (rc = bc_rsoc_parse_one(buf, sizeof(buf) - c.resid, o)) < 0)
		bc_error_set(e, rc, lu->t->name, name, "malformed one-command reply");
	return rc;
}

int bc_lu_sync_cache16(struct bc_lu *lu, struct bc_error *e)
{
	return bc_lu_sync_cache16_immed(lu, false, e);
}

int bc_lu_sync_cache16_immed(struct bc_lu *lu, bool immed,
			     struct bc_error *e)
{
	uint8_t c16[16] = { 0x91, immed ? 0x02 : 0x00 };	/* SBC-4 5.27 */
	struct bc_scsi_cmd c;

	cdb(&c, c16, 16, BC_SCSI_DIR_NONE, NULL, 0);
	return run(lu, &c, "SYNCHRONIZE CACHE(16)", 0, e);
}

int bc_lu_copy_operating_params(struct bc_lu *lu, struct bc_xcopy_limits *o,
				struct bc_error *e)
{
	uint8_t buf[512] = { 0 }, c16[16] = { 0x84, 0x03 };
	struct bc_scsi_cmd c;
	int rc;

	memset(o, 0, sizeof(*o));
	put_be32(c16 + 10, sizeof(buf));
	cdb(&c, c16, 16, BC_SCSI_DIR_IN, buf, sizeof(buf));
	rc = run(lu, &c, "RECEIVE COPY RESULTS (operating parameters)", 0, e);
	if (rc < 0)
		return rc;
	if (bc_lu_parse_copy_params(buf, sizeof(buf) - c.resid, o) < 0)
		return bc_error_set(e, -EBADMSG, lu->t->name,
				    "RECEIVE COPY RESULTS (operating parameters)",
				    "reply of %zu bytes is too short", sizeof(buf) - c.resid);
	return 0;
}

int bc_lu_extended_copy(struct bc_lu *lu, const uint8_t *list, uint32_t len,
			uint64_t lba, unsigned timeout_ms, struct bc_error *e)
{
	uint8_t c16[16];
	struct bc_scsi_cmd c;

	bc_xcopy_build_cdb(c16, len);
	cdb(&c, c16, 16, BC_SCSI_DIR_OUT, (void *)list, len);
	c.timeout_ms = timeout_ms;
	return run(lu, &c, "EXTENDED COPY(LID1)", lba, e);
}

static int token_out(struct bc_lu *lu, bool write, uint32_t list_id,
		     const uint8_t *pl, uint32_t len, uint64_t lba,
		     struct bc_error *e)
{
	uint8_t c16[16];
	struct bc_scsi_cmd c;

	if (write)
		bc_token_cdb_write(c16, list_id, len);
	else
		bc_token_cdb_populate(c16, list_id, len);
	cdb(&c, c16, 16, BC_SCSI_DIR_OUT, (void *)pl, len);
	c.timeout_ms = 120000;
	return run(lu, &c, write ? "WRITE USING TOKEN" : "POPULATE TOKEN", lba, e);
}

int bc_lu_populate_token(struct bc_lu *lu, uint32_t list_id, const uint8_t *pl,
			 uint32_t len, uint64_t lba, struct bc_error *e)
{
	return token_out(lu, false, list_id, pl, len, lba, e);
}

int bc_lu_write_using_token(struct bc_lu *lu, uint32_t list_id,
			    const uint8_t *pl, uint32_t len, uint64_t lba,
			    struct bc_error *e)
{
	return token_out(lu, true, list_id, pl, len, lba, e);
}

int bc_lu_rrti(struct bc_lu *lu, uint32_t list_id, uint64_t lba,
	       struct bc_token_status *o, struct bc_error *e)
{
	uint8_t c16[16], *buf;
	struct bc_scsi_cmd c;
	const size_t len = 1024;
	int rc;

	buf = calloc(1, len);
	if (!buf)
		return bc_error_set(e, -ENOMEM, lu->t->name, "RECEIVE ROD TOKEN INFORMATION", NULL);
	bc_token_cdb_rrti(c16, list_id, (uint32_t)len);
	cdb(&c, c16, 16, BC_SCSI_DIR_IN, buf, len);
	rc = run(lu, &c, "RECEIVE ROD TOKEN INFORMATION", lba, e);
	if (rc == 0 && bc_token_parse_rrti(buf, len - c.resid, o) < 0)
		rc = bc_error_set_lba(e, -EBADMSG, lu->t->name,
				      "RECEIVE ROD TOKEN INFORMATION", lba, lu->block_size,
				      "malformed reply");
	free(buf);
	return rc;
}

int bc_lu_copy_abort(struct bc_lu *lu, uint32_t list_id, uint64_t lba,
		     struct bc_error *e)
{
	uint8_t c16[16];
	struct bc_scsi_cmd c;

	bc_token_cdb_abort(c16, list_id);
	cdb(&c, c16, 16, BC_SCSI_DIR_NONE, NULL, 0);
	return run(lu, &c, "COPY OPERATION ABORT", lba, e);
}
