// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * REPORT SUPPORTED OPERATION CODES (see rsoc.h).  Replies are untrusted:
 * each field is read only after the buffer and the reply's own length
 * fields are known to reach it.
 */
#include <errno.h>
#include <string.h>

#include "scsi/rsoc.h"

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SPC's largest CDB: a variable-length one of 260 bytes. */
#define CDB_MAX 260
/* The timeouts descriptor's DESCRIPTOR LENGTH: the 10 bytes after it. */
#define TIMEOUTS_DLEN 0x0a

int bc_rsoc_build_cdb(uint8_t *cdb, size_t len, const struct bc_rsoc_args *a)
{
	if (len < BC_RSOC_CDB_LEN || a->option > BC_RSOC_ONE_EITHER ||
	    (a->option == BC_RSOC_ONE_OPCODE && a->sa) ||
	    (a->option == BC_RSOC_ALL && (a->opcode || a->sa)))
		return -EINVAL;
	memset(cdb, 0, BC_RSOC_CDB_LEN);
	cdb[0] = 0xa3;			/* MAINTENANCE IN */
	cdb[1] = 0x0c;			/* REPORT SUPPORTED OPERATION CODES */
	cdb[2] = (uint8_t)((a->rctd ? 0x80 : 0) | a->option);
	cdb[3] = a->opcode;
	cdb[4] = (uint8_t)(a->sa >> 8);
	cdb[5] = (uint8_t)a->sa;
	cdb[6] = (uint8_t)(a->alloc_len >> 24);
	cdb[7] = (uint8_t)(a->alloc_len >> 16);
	cdb[8] = (uint8_t)(a->alloc_len >> 8);
	cdb[9] = (uint8_t)a->alloc_len;
	return BC_RSOC_CDB_LEN;
}

/* A command timeouts descriptor at @p (BC_RSOC_TIMEOUTS_LEN bytes known
 * to be there). */
static int parse_timeouts(const uint8_t *p, struct bc_rsoc_timeouts *t)
{
	if (be16(p) != TIMEOUTS_DLEN)
		return -EBADMSG;
	t->cmd_specific = p[3];
	t->nominal_s = be32(p + 4);
	t->recommended_s = be32(p + 8);
	return 0;
}

int bc_rsoc_parse_all(const uint8_t *p, size_t len, struct bc_rsoc_cmd *out,
		      size_t max, size_t *n, bool *truncated)
{
	size_t end, off = BC_RSOC_HDR_LEN;
	bool cut = false;

	*n = 0;
	if (truncated)
		*truncated = false;
	if (len < BC_RSOC_HDR_LEN)
		return -ENODATA;
	end = BC_RSOC_HDR_LEN + (size_t)be32(p);
	if (end > len) {		/* the allocation length cut the list */
		end = len;
		cut = true;
	}
	while (off < end) {
		struct bc_rsoc_cmd c = { 0 };
		size_t dlen = BC_RSOC_DESC_LEN;

		if (off + BC_RSOC_DESC_LEN > end)
			goto partial;
		c.opcode = p[off];
		c.servactv = p[off + 5] & 0x01;
		c.ctdp = p[off + 5] & 0x02;
		c.sa = c.servactv ? be16(p + off + 2) : 0;
		c.cdb_len = be16(p + off + 6);
		if (c.ctdp) {
			dlen += BC_RSOC_TIMEOUTS_LEN;
			if (off + dlen > end)
				goto partial;
			if (parse_timeouts(p + off + BC_RSOC_DESC_LEN, &c.timeouts) < 0)
				return -EBADMSG;
		}
		if (*n < max)
			out[(*n)++] = c;
		off += dlen;
	}
	if (truncated)
		*truncated = cut;
	return 0;
partial:
	/* a descriptor cut by the allocation length is expected; one that
	 * overruns the list's own length is a lie */
	if (!cut)
		return -EBADMSG;
	if (truncated)
		*truncated = true;
	return 0;
}

int bc_rsoc_parse_one(const uint8_t *p, size_t len, struct bc_rsoc_one *o)
{
	size_t need;

	memset(o, 0, sizeof(*o));
	if (len < 4)
		return -ENODATA;
	o->support = p[1] & 0x07;
	o->ctdp = p[1] & 0x80;
	o->cdb_len = be16(p + 2);
	if (o->cdb_len > CDB_MAX ||
	    ((o->support == BC_RSOC_SUP_YES || o->support == BC_RSOC_SUP_VENDOR) &&
	     o->cdb_len < 6))
		return -EBADMSG;
	need = 4 + (size_t)o->cdb_len;
	if (len < need)
		return -ENODATA;
	memcpy(o->usage, p + 4,
	       o->cdb_len < BC_RSOC_USAGE_MAX ? o->cdb_len : BC_RSOC_USAGE_MAX);
	if (o->ctdp) {
		if (len < need + BC_RSOC_TIMEOUTS_LEN)
			return -ENODATA;
		if (parse_timeouts(p + need, &o->timeouts) < 0)
			return -EBADMSG;
	}
	return 0;
}

bool bc_rsoc_lists(const struct bc_rsoc_cmd *c, size_t n, uint8_t opcode,
		   int sa)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].opcode == opcode &&
		    (sa < 0 || (c[i].servactv && c[i].sa == (uint16_t)sa)))
			return true;
	return false;
}
