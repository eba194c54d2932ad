// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bounded parsers for the SCSI responses a volume needs (see lu.h).
 * Targets are untrusted: every field is read only after checking that the
 * buffer, and the page's own length field, reach it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <scsi/sg_lib.h>

#include "scsi/lu.h"

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* ASCII field: printable only, trailing blanks trimmed. */
static void ascii(char *dst, size_t dlen, const uint8_t *src, size_t slen)
{
	size_t n = 0;

	for (size_t i = 0; i < slen && n + 1 < dlen; i++)
		dst[n++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

int bc_lu_parse_inquiry(const uint8_t *p, size_t len, struct bc_lu_inquiry *o)
{
	memset(o, 0, sizeof(*o));
	if (len < 36)
		return -ENODATA;
	o->qualifier = p[0] >> 5;
	o->pdt = p[0] & 0x1f;
	o->version = p[2];
	o->tpc = p[5] & 0x08;
	ascii(o->vendor, sizeof(o->vendor), p + 8, 8);
	ascii(o->product, sizeof(o->product), p + 16, 16);
	ascii(o->revision, sizeof(o->revision), p + 32, 4);
	return 0;
}

int bc_lu_parse_capacity16(const uint8_t *p, size_t len, struct bc_lu_capacity *o)
{
	uint64_t last;

	memset(o, 0, sizeof(*o));
	if (len < 16)
		return -ENODATA;
	last = be64(p);
	o->block_size = be32(p + 8);
	o->lbppbe = p[13] & 0x0f;
	o->lbpme = p[14] & 0x80;
	o->lbprz = p[14] & 0x40;
	o->lowest_aligned = be16(p + 14) & 0x3fff;
	/* a block size that is not a power of two from 512 to 64 KiB, or a
	 * capacity that overflows bytes, is a lie */
	if (last == UINT64_MAX || o->block_size < 512 || o->block_size > 65536 ||
	    (o->block_size & (o->block_size - 1)) ||
	    last + 1 > UINT64_MAX / o->block_size)
		return -EBADMSG;
	o->blocks = last + 1;
	return 0;
}

/* Length a VPD page claims, clamped to what we have. */
static size_t vpd_len(const uint8_t *p, size_t len, uint8_t page)
{
	size_t n;

	if (len < 4 || p[1] != page)
		return 0;
	n = 4 + (size_t)be16(p + 2);
	return n < len ? n : len;
}

int bc_lu_parse_unit_serial(const uint8_t *p, size_t len, char *out, size_t olen)
{
	size_t n = vpd_len(p, len, 0x80), i = 4, k = 0;

	if (!olen)
		return -EINVAL;
	out[0] = '\0';
	if (n <= 4)
		return n ? -ENODATA : -EBADMSG;
	while (i < n && p[i] == ' ')	/* right-aligned */
		i++;
	/* LIO pads with NUL; trailing spaces are padding too */
	for (; i < n && p[i] && k + 1 < olen; i++)
		out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	while (k && out[k - 1] == ' ')
		k--;
	out[k] = '\0';
	return 0;
}

int bc_lu_parse_block_limits(const uint8_t *p, size_t len, struct bc_lu_block_limits *o)
{
	size_t n = vpd_len(p, len, 0xb0);

	memset(o, 0, sizeof(*o));
	if (n < 16)
		return n ? -ENODATA : -EBADMSG;
	o->valid = true;
	o->max_transfer = be32(p + 8);
	o->opt_transfer = be32(p + 12);
	if (n >= 36) {
		o->max_unmap_lba_count = be32(p + 20);
		o->max_unmap_descriptors = be32(p + 24);
		o->opt_unmap_granularity = be32(p + 28);
		o->ugavalid = p[32] & 0x80;
		o->unmap_alignment = be32(p + 32) & 0x7fffffff;
	}
	if (n >= 44)
		o->max_write_same = be64(p + 36);
	return 0;
}

int bc_lu_parse_provisioning(const uint8_t *p, size_t len, struct bc_lu_provisioning *o)
{
	size_t n = vpd_len(p, len, 0xb2);

	memset(o, 0, sizeof(*o));
	if (n < 8)
		return n ? -ENODATA : -EBADMSG;
	o->valid = true;
	o->lbpu = p[5] & 0x80;
	o->lbpws = p[5] & 0x40;
	o->lbpws10 = p[5] & 0x20;
	o->lbprz = (p[5] >> 2) & 0x7;
	o->anc_sup = p[5] & 0x02;
	o->dp = p[5] & 0x01;
	o->type = p[6] & 0x07;
	return 0;
}

bool bc_lu_unmapped_reads_zero(const struct bc_lu_capacity *cap,
			       const struct bc_lu_provisioning *lbp,
			       char *why, size_t len)
{
	static const char *const bits[8] = {
		"000b", "001b", "010b", "011b", "100b", "101b", "110b", "111b"
	};
	uint8_t f = lbp->lbprz & 0x7;
	bool rz = f & 1;

	if (!cap->lbpme) {
		snprintf(why, len, "READ CAPACITY(16): LBPME=0, no logical block provisioning");
		return false;
	}
	if (!lbp->valid) {
		snprintf(why, len, cap->lbprz ?
			 "READ CAPACITY(16) LBPRZ=1 (no VPD 0xB2): unmapped blocks read as zeros" :
			 "READ CAPACITY(16) LBPRZ=0 (no VPD 0xB2): unmapped blocks may hold anything");
		return cap->lbprz;
	}
	if (rz != cap->lbprz) {
		snprintf(why, len,
			 "VPD 0xB2 LBPRZ %s but READ CAPACITY(16) LBPRZ=%d: they disagree, "
			 "unmapped blocks are not relied on to read zeros",
			 bits[f], cap->lbprz ? 1 : 0);
		return false;
	}
	if (rz)
		snprintf(why, len, "VPD 0xB2 LBPRZ %s, READ CAPACITY(16) LBPRZ=1: "
			 "unmapped blocks read as zeros", bits[f]);
	else if (f == 0)
		snprintf(why, len, "VPD 0xB2 LBPRZ 000b: unmapped blocks read vendor-specific data");
	else if (f == 2)
		snprintf(why, len, "VPD 0xB2 LBPRZ 010b: unmapped blocks read the "
			 "provisioning initialization pattern");
	else
		snprintf(why, len, "VPD 0xB2 LBPRZ %s (reserved): unmapped blocks are "
			 "not relied on to read zeros", bits[f]);
	return rz;
}

int bc_lu_parse_designators(const uint8_t *p, size_t len,
			    struct bc_designator *out, size_t max, size_t *n)
{
	size_t end = vpd_len(p, len, 0x83), off = 4;

	*n = 0;
	if (!end)
		return -EBADMSG;
	while (off + 4 <= end) {
		size_t dlen = p[off + 3];

		if (off + 4 + dlen > end)
			return -EBADMSG;	/* a descriptor overruns the page */
		if (*n < max && dlen <= BC_DESIGNATOR_MAX) {
			struct bc_designator *d = &out[(*n)++];

			d->protocol_id = p[off] >> 4;
			d->code_set = p[off] & 0x0f;
			d->piv = p[off + 1] & 0x80;
			d->association = (p[off + 1] >> 4) & 0x3;
			d->type = p[off + 1] & 0x0f;
			d->len = (uint8_t)dlen;
			memcpy(d->id, p + off + 4, dlen);
		}
		off += 4 + dlen;
	}
	return 0;
}

bool bc_lu_vpd_lists(const uint8_t *p, size_t len, uint8_t page)
{
	size_t n = vpd_len(p, len, 0x00);

	for (size_t i = 4; i < n; i++)
		if (p[i] == page)
			return true;
	return false;
}

int bc_lu_parse_lba_status(const uint8_t *p, size_t len, uint64_t start,
			   struct bc_lu_lba_status *out, size_t max, size_t *n)
{
	size_t end, off = 8;
	uint64_t next = start;
	bool said_here = false;

	*n = 0;
	if (len < 8)
		return -ENODATA;
	end = 4 + (size_t)be32(p);
	if (end > len)
		end = len;
	while (off + 16 <= end && *n < max) {
		uint64_t lba = be64(p + off);
		uint64_t cnt = be32(p + off + 8);
		uint8_t st = p[off + 12] & 0x0f;

		off += 16;
		if (!cnt) {
			/* where we asked, but no length: tgt's count of
			 * exactly 2^32 blocks, wrapped to 0 (below) */
			said_here |= lba == next;
			continue;
		}
		if (lba + cnt < lba)
			return -EBADMSG;
		/* Some targets start the first descriptor before the request:
		 * keep only the part from where we asked. */
		if (lba < next) {
			if (lba + cnt <= next)
				continue;
			cnt -= next - lba;
			lba = next;
		}
		/* A gap: the map is not contiguous.  Nothing said of where
		 * we asked is malformed; otherwise keep what came before --
		 * the caller asks again from its end (and takes a reply with
		 * nothing usable as one mapped block).  tgt puts a hole of
		 * 2^32 blocks or more into the 32-bit count unsplit: the count
		 * wraps, the next descriptor starts where the hole really
		 * ends, and refusing the whole reply left a 16 TiB LU with
		 * data past a 2 TiB hole without a map. */
		if (lba != next)
			return *n || said_here ? 0 : -EBADMSG;
		if (cnt > UINT32_MAX)
			cnt = UINT32_MAX;
		out[(*n)++] = (struct bc_lu_lba_status){ lba, (uint32_t)cnt,
							  st > 2 ? 0 : st };
		next = lba + cnt;
	}
	return 0;
}

void bc_lu_decode_sense(const uint8_t *s, size_t len, uint8_t status,
			struct bc_status *st)
{
	uint8_t code;

	memset(st, 0, sizeof(*st));
	st->kind = BC_STATUS_SCSI;
	st->scsi_status = status;
	if (len > BC_SENSE_MAX)
		len = BC_SENSE_MAX;
	if (len)
		memcpy(st->sense, s, len);
	st->sense_len = (uint16_t)len;
	if (len >= 2) {
		code = s[0] & 0x7f;
		if ((code == 0x70 || code == 0x71) && len >= 3) {
			size_t end = len >= 8 ? 8 + (size_t)s[7] : len;

			if (end > len)
				end = len;
			st->sense_key = s[2] & 0x0f;
			if (end >= 7 && (s[0] & 0x80)) {
				st->info_valid = true;
				st->information = be32(s + 3);
			}
			if (end >= 12) {
				st->cmd_specific_valid = true;
				st->cmd_specific = be32(s + 8);
			}
			if (end >= 14) {
				st->asc = s[12];
				st->ascq = s[13];
			}
		} else if ((code == 0x72 || code == 0x73) && len >= 4) {
			size_t end = len >= 8 ? 8 + (size_t)s[7] : len, off = 8;

			if (end > len)
				end = len;
			st->sense_key = s[1] & 0x0f;
			st->asc = s[2];
			st->ascq = s[3];
			while (off + 2 <= end) {
				size_t dl = 2 + (size_t)s[off + 1];

				if (off + dl > end)
					break;
				if (s[off] == 0x00 && dl >= 12) {
					st->info_valid = s[off + 2] & 0x80;
					st->information = be64(s + off + 4);
				} else if (s[off] == 0x01 && dl >= 12) {
					st->cmd_specific_valid = true;
					st->cmd_specific = be64(s + off + 4);
				}
				off += dl;
			}
		}
	}
	if (status == BC_SAM_GOOD || status == BC_SAM_CONDITION_MET)
		st->cat = BC_CAT_OK;
	else if (status == BC_SAM_BUSY || status == BC_SAM_TASK_SET_FULL)
		st->cat = BC_CAT_RETRY;
	else if (status != BC_SAM_CHECK_CONDITION)
		st->cat = BC_CAT_OTHER;
	else switch (st->sense_key) {
	case 0x6:	/* UNIT ATTENTION */
		st->cat = BC_CAT_RETRY;
		break;
	case 0x2:	/* NOT READY: becoming ready, or an ALUA state
			 * transition -- both pass; medium not present does not */
		st->cat = st->asc == 0x04 && (st->ascq == 0x01 || st->ascq == 0x0a) ?
			  BC_CAT_RETRY : BC_CAT_OTHER;
		break;
	case 0x5:	/* ILLEGAL REQUEST: the device did not perform it */
		st->cat = st->asc == 0x21 ? BC_CAT_OUT_OF_RANGE :
			  st->asc == 0x23 ? BC_CAT_INVALID_TOKEN :
			  (st->asc == 0x20 || st->asc == 0x24 || st->asc == 0x26) ?
			  BC_CAT_NOT_SUPPORTED : BC_CAT_REJECTED;
		break;
	case 0xa:	/* COPY ABORTED */
		st->cat = BC_CAT_COPY_ABORTED;
		break;
	case 0x3: case 0x4:
		st->cat = BC_CAT_MEDIUM;
		break;
	case 0x7:
		st->cat = BC_CAT_PROTECT;
		break;
	default:
		st->cat = BC_CAT_OTHER;
	}
}

const char *bc_lu_status_text(const struct bc_status *st, char *buf, size_t len)
{
	char key[64], asc[128];

	if (st->scsi_status != BC_SAM_CHECK_CONDITION) {
		snprintf(buf, len, "SCSI status 0x%02x%s", st->scsi_status,
			 st->scsi_status == BC_SAM_BUSY ? " (BUSY)" :
			 st->scsi_status == BC_SAM_TASK_SET_FULL ? " (TASK SET FULL)" :
			 st->scsi_status == BC_SAM_RESERVATION_CONFLICT ?
			 " (RESERVATION CONFLICT)" : "");
		return buf;
	}
	sg_get_sense_key_str(st->sense_key, sizeof(key), key);
	sg_get_asc_ascq_str(st->asc, st->ascq, sizeof(asc), asc);
	snprintf(buf, len, "%s: %s (%02x/%02x)", key, asc, st->asc, st->ascq);
	return buf;
}

int bc_lu_parse_copy_params(const uint8_t *buf, size_t got,
			    struct bc_xcopy_limits *o)
{
	size_t n;

	memset(o, 0, sizeof(*o));
	if (got < 44)
		return -EBADMSG;
	n = 4 + (size_t)((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
			 (uint32_t)buf[2] << 8 | buf[3]);
	if (n > got)
		n = got;
	o->max_cscd = (uint16_t)(buf[8] << 8 | buf[9]);
	o->max_segments = (uint16_t)(buf[10] << 8 | buf[11]);
	o->max_desc_list_len = (uint32_t)buf[12] << 24 | (uint32_t)buf[13] << 16 |
			       (uint32_t)buf[14] << 8 | buf[15];
	o->max_segment_len = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 |
			     (uint32_t)buf[18] << 8 | buf[19];
	o->max_concurrent = (uint16_t)(buf[34] << 8 | buf[35]);
	o->max_concurrent_copies = buf[36];
	for (size_t i = 0; i < buf[43] && 44 + i < n; i++) {
		if (buf[44 + i] == 0x02)
			o->has_type_02 = true;
		if (buf[44 + i] == 0xe4)
			o->has_type_e4 = true;
	}
	return 0;
}
