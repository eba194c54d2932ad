// SPDX-License-Identifier: LGPL-2.1-or-later
/* NVMe Identify decoders (see identify.h).  Offsets are the NVM Express
 * Base/NVM Command Set layout; tests check them against libnvme's wire
 * structs. */
#include <errno.h>
#include <string.h>

#include "identify.h"

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ASCII field, space padded: printable characters only, trimmed. */
static void ascii(char *dst, size_t dlen, const uint8_t *src, size_t slen)
{
	size_t n = 0;

	for (size_t i = 0; i < slen && n + 1 < dlen; i++) {
		if (!src[i])
			break;
		dst[n++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	}
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

enum {
	CTRL_VID = 0, CTRL_SN = 4, CTRL_MN = 24, CTRL_FR = 64, CTRL_MDTS = 77,
	CTRL_VER = 80, CTRL_ONCS = 520, CTRL_VWC = 525, CTRL_OCFS = 534,
	CTRL_SUBNQN = 768,
};

int bc_nvme_decode_id_ctrl(const uint8_t *p, size_t len,
			   struct bc_nvme_ctrl_info *o)
{
	memset(o, 0, sizeof(*o));
	if (!p || len < BC_NVME_IDENTIFY_LEN)
		return -ENODATA;
	o->vid = le16(p + CTRL_VID);
	ascii(o->serial, sizeof(o->serial), p + CTRL_SN, 20);
	ascii(o->model, sizeof(o->model), p + CTRL_MN, 40);
	ascii(o->firmware, sizeof(o->firmware), p + CTRL_FR, 8);
	o->mdts = p[CTRL_MDTS];
	o->version = le32(p + CTRL_VER);
	o->oncs = le16(p + CTRL_ONCS);
	o->volatile_cache = p[CTRL_VWC] & 1;
	o->ocfs = le16(p + CTRL_OCFS);
	ascii(o->subnqn, sizeof(o->subnqn), p + CTRL_SUBNQN, 256);
	/* MDTS is a power of two of the page size: beyond 2^20 pages
	 * nothing real exists, and shifts would overflow. */
	if (o->mdts > 20)
		return -EBADMSG;
	return 0;
}

enum {
	NS_NSZE = 0, NS_NCAP = 8, NS_NUSE = 16, NS_NSFEAT = 24, NS_NLBAF = 25,
	NS_FLBAS = 26, NS_DLFEAT = 33, NS_NPWG = 64, NS_NOWS = 72,
	NS_MSSRL = 74, NS_MCL = 76, NS_MSRC = 80, NS_NGUID = 104,
	NS_EUI64 = 120, NS_LBAF = 128,
};

int bc_nvme_decode_id_ns(const uint8_t *p, size_t len,
			 struct bc_nvme_ns_info *o)
{
	unsigned idx, nlbaf;
	const uint8_t *lbaf;

	memset(o, 0, sizeof(*o));
	if (!p || len < BC_NVME_IDENTIFY_LEN)
		return -ENODATA;
	o->nsze = le64(p + NS_NSZE);
	o->ncap = le64(p + NS_NCAP);
	o->nuse = le64(p + NS_NUSE);
	o->thin = p[NS_NSFEAT] & 1;
	o->has_perf_hints = p[NS_NSFEAT] & (1u << 4);
	nlbaf = p[NS_NLBAF];		/* 0's based */
	/* FLBAS: bits 3:0 and, for more than 16 formats, bits 6:5 */
	idx = (p[NS_FLBAS] & 0x0f) | ((p[NS_FLBAS] >> 5 & 0x3) << 4);
	if (nlbaf > 63 || idx > nlbaf)
		return -EBADMSG;
	o->lbaf_index = (uint8_t)idx;
	lbaf = p + NS_LBAF + 4 * idx;	/* MS (2), LBADS (1), RP (1) */
	o->metadata_size = le16(lbaf);
	if (lbaf[2] < 9 || lbaf[2] > 16)	/* 512 B .. 64 KiB */
		return -EBADMSG;
	o->lba_size = 1u << lbaf[2];
	o->dlfeat = p[NS_DLFEAT];
	o->dealloc_reads_zero = (o->dlfeat & 0x7) == 1;
	o->write_zeroes_deac = o->dlfeat & (1u << 3);
	o->npwg = le16(p + NS_NPWG);
	o->nows = le16(p + NS_NOWS);
	o->mssrl = le16(p + NS_MSSRL);
	o->mcl = le32(p + NS_MCL);
	o->msrc = (uint16_t)(p[NS_MSRC] + 1);
	memcpy(o->nguid, p + NS_NGUID, 16);
	memcpy(o->eui64, p + NS_EUI64, 8);
	o->has_nguid = !all_zero(o->nguid, 16);
	o->has_eui64 = !all_zero(o->eui64, 8);
	if (o->nsze == 0 || o->ncap > o->nsze || o->nuse > o->ncap)
		return -EBADMSG;
	return 0;
}

int bc_nvme_decode_ns_descs(const uint8_t *p, size_t len,
			    struct bc_nvme_ns_info *o)
{
	size_t off = 0;

	if (!p || len < BC_NVME_IDENTIFY_LEN)
		return -ENODATA;
	len = BC_NVME_IDENTIFY_LEN;
	while (off + 4 <= len && p[off] != 0) {
		uint8_t type = p[off], nidl = p[off + 1];
		const uint8_t *nid = p + off + 4;
		size_t want = type == 1 ? 8 : type == 2 || type == 3 ? 16 :
			      type == 4 ? 1 : nidl;

		if (off + 4 + (size_t)nidl > len || nidl != want)
			return -EBADMSG;
		if (type == 1 && !o->has_eui64 && !all_zero(nid, 8)) {
			memcpy(o->eui64, nid, 8);
			o->has_eui64 = true;
		} else if (type == 2 && !o->has_nguid && !all_zero(nid, 16)) {
			memcpy(o->nguid, nid, 16);
			o->has_nguid = true;
		} else if (type == 3 && !o->has_uuid && !all_zero(nid, 16)) {
			memcpy(o->uuid, nid, 16);
			o->has_uuid = true;
		}
		off += 4 + nidl;
	}
	return 0;
}

const char *bc_nvme_status_str(uint8_t sct, uint8_t sc)
{
	static const struct {
		uint8_t sct, sc;
		const char *s;
	} t[] = {
		{ 0, 0x00, "Successful Completion" },
		{ 0, 0x01, "Invalid Command Opcode" },
		{ 0, 0x02, "Invalid Field in Command" },
		{ 0, 0x04, "Data Transfer Error" },
		{ 0, 0x06, "Internal Error" },
		{ 0, 0x07, "Command Abort Requested" },
		{ 0, 0x0b, "Invalid Namespace or Format" },
		{ 0, 0x80, "LBA Out of Range" },
		{ 0, 0x81, "Capacity Exceeded" },
		{ 0, 0x82, "Namespace Not Ready" },
		{ 1, 0x0a, "Invalid Format" },
		{ 1, 0x80, "Conflicting Attributes" },
		{ 1, 0x82, "Attempted Write to Read Only Range" },
		{ 1, 0x83, "Command Size Limit Exceeded" },
		{ 2, 0x80, "Write Fault" },
		{ 2, 0x81, "Unrecovered Read Error" },
		{ 2, 0x86, "Access Denied" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].sct == sct && t[i].sc == sc)
			return t[i].s;
	return "unknown status";
}
