// SPDX-License-Identifier: LGPL-2.1-or-later
/* Token copy: VPD 0x8F, parameter lists and the RRTI reply (see token.h). */
#include <errno.h>
#include <string.h>

#include "scsi/token.h"

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }

/* Supported Commands descriptor: opcode, count, service actions... */
static void parse_commands(const uint8_t *d, size_t dlen, struct bc_tpc_info *o)
{
	size_t n, i;

	if (dlen < 1)
		return;
	n = d[0];
	if (n > dlen - 1)
		n = dlen - 1;
	d++;
	for (i = 0; i + 2 <= n;) {
		uint8_t op = d[i], cnt = d[i + 1];

		i += 2;
		for (size_t k = 0; k < cnt && i < n; k++, i++) {
			if (op == 0x83 && d[i] == 0x10)
				o->populate_token = true;
			if (op == 0x83 && d[i] == 0x11)
				o->write_using_token = true;
			if (op == 0x83 && d[i] == 0x1c)
				o->copy_abort = true;
			if (op == 0x84 && d[i] == 0x07)
				o->rrti = true;
		}
	}
}

int bc_tpc_parse_vpd(const uint8_t *p, size_t len, struct bc_tpc_info *o)
{
	size_t end, off;

	memset(o, 0, sizeof(*o));
	if (len < 4 || p[1] != 0x8f)
		return -EBADMSG;
	end = 4 + (size_t)be16(p + 2);
	if (end > len)
		end = len;
	for (off = 4; off + 4 <= end;) {
		uint16_t type = be16(p + off), dl = be16(p + off + 2);
		const uint8_t *d = p + off + 4;	/* the descriptor's body */
		size_t have = end - off - 4;

		if (dl > have)
			break;		/* truncated: keep what was whole */
		switch (type) {
		case 0x0000:		/* block device ROD token limits */
			if (dl >= 0x20) {
				o->has_rod_limits = true;
				o->lim.max_range_desc = be16(d + 6);
				o->lim.max_inactivity_s = be32(d + 8);
				o->lim.default_inactivity_s = be32(d + 12);
				o->lim.max_token_transfer = be64(d + 16);
				o->lim.optimal_transfer = be64(d + 24);
			}
			break;
		case 0x0001:
			parse_commands(d, dl, o);
			break;
		case 0x0108:		/* supported ROD types: 64-byte entries */
			if (dl >= 4) {
				size_t n = be16(d + 2);

				if (n > (size_t)dl - 4)
					n = (size_t)dl - 4;
				for (size_t i = 0; i + 64 <= n; i += 64)
					if (be32(d + 4 + i) == BC_ROD_TYPE_ZERO)
						o->zero_rod = true;
			}
			break;
		default:
			break;
		}
		off += 4 + dl;
	}
	return 0;
}

static int put_ranges(uint8_t *p, const struct bc_token_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!r[i].blocks)
			return -EINVAL;
		memset(p + i * BC_TOKEN_RANGE_LEN, 0, BC_TOKEN_RANGE_LEN);
		put64(p + i * BC_TOKEN_RANGE_LEN, r[i].lba);
		put32(p + i * BC_TOKEN_RANGE_LEN + 8, r[i].blocks);
	}
	return 0;
}

int bc_token_build_populate_rod(uint8_t *buf, size_t len, uint32_t inactivity_s,
				uint32_t rod_type, const struct bc_token_range *r,
				size_t n)
{
	size_t need = BC_TOKEN_HDR_LEN + n * BC_TOKEN_RANGE_LEN;

	if (!n || n > 0xffff / BC_TOKEN_RANGE_LEN)
		return -EINVAL;
	if (need > len)
		return -ENOSPC;
	memset(buf, 0, BC_TOKEN_HDR_LEN);
	put16(buf, (uint16_t)(need - 2));	/* POPULATE TOKEN DATA LENGTH */
	/* byte 2: RTV (a ROD type is named), IMMED 0 */
	if (rod_type) {
		buf[2] = 0x02;
		put32(buf + 8, rod_type);
	}
	put32(buf + 4, inactivity_s);		/* 0 = the default */
	put16(buf + 14, (uint16_t)(n * BC_TOKEN_RANGE_LEN));
	if (put_ranges(buf + BC_TOKEN_HDR_LEN, r, n) < 0)
		return -EINVAL;
	return (int)need;
}

int bc_token_build_populate(uint8_t *buf, size_t len, uint32_t inactivity_s,
			    const struct bc_token_range *r, size_t n)
{
	return bc_token_build_populate_rod(buf, len, inactivity_s, 0, r, n);
}

int bc_token_build_write(uint8_t *buf, size_t len, uint64_t rod_offset,
			 const uint8_t *token, const struct bc_token_range *r,
			 size_t n, bool immed)
{
	size_t hdr = BC_TOKEN_HDR_LEN + BC_TOKEN_LEN + 8;	/* 536 */
	size_t need = hdr + n * BC_TOKEN_RANGE_LEN;

	if (!n || n > 0xffff / BC_TOKEN_RANGE_LEN || !token)
		return -EINVAL;
	if (need > len)
		return -ENOSPC;
	memset(buf, 0, hdr);
	put16(buf, (uint16_t)(need - 2));	/* WRITE USING TOKEN DATA LENGTH */
	buf[2] = immed ? 0x01 : 0x00;		/* DEL_TKN 0, IMMED */
	put64(buf + 8, rod_offset);		/* OFFSET INTO ROD, blocks */
	memcpy(buf + 16, token, BC_TOKEN_LEN);
	put16(buf + hdr - 2, (uint16_t)(n * BC_TOKEN_RANGE_LEN));
	if (put_ranges(buf + hdr, r, n) < 0)
		return -EINVAL;
	return (int)need;
}

static void cdb_83(uint8_t cdb[16], uint8_t sa, uint32_t list_id, uint32_t len)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x83;
	cdb[1] = sa;
	put32(cdb + 6, list_id);
	put32(cdb + 10, len);
}

void bc_token_cdb_populate(uint8_t cdb[16], uint32_t list_id, uint32_t len)
{
	cdb_83(cdb, 0x10, list_id, len);
}

void bc_token_cdb_write(uint8_t cdb[16], uint32_t list_id, uint32_t len)
{
	cdb_83(cdb, 0x11, list_id, len);
}

void bc_token_cdb_abort(uint8_t cdb[16], uint32_t list_id)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x83;
	cdb[1] = 0x1c;		/* COPY OPERATION ABORT */
	put32(cdb + 2, list_id);
}

void bc_token_cdb_rrti(uint8_t cdb[16], uint32_t list_id, uint32_t alloc)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x84;
	cdb[1] = 0x07;
	put32(cdb + 2, list_id);
	put32(cdb + 10, alloc);
}

int bc_token_parse_rrti(const uint8_t *p, size_t len, struct bc_token_status *o)
{
	size_t end, sense, off;

	memset(o, 0, sizeof(*o));
	if (len < 32)
		return -EBADMSG;
	end = 4 + (size_t)be32(p);
	if (end > len)
		end = len;
	if (end < 32)
		return -EBADMSG;
	o->copy_status = p[5] & 0x7f;
	o->status_delay_ms = be32(p + 8);
	/* TRANSFER COUNT UNITS F1h = logical blocks; others are not ours */
	if (p[15] != 0xf1 && p[15] != 0)
		return -EBADMSG;
	o->transfer_count = be64(p + 16);
	sense = p[13];		/* LENGTH OF THE SENSE DATA FIELD */
	off = 32 + sense;
	if (off + 4 <= end) {
		size_t tl = be32(p + off);

		off += 4;
		if (tl >= 2 + BC_TOKEN_LEN && off + 2 + BC_TOKEN_LEN <= end) {
			memcpy(o->token, p + off + 2, BC_TOKEN_LEN);
			o->has_token = true;
		}
	}
	return 0;
}
