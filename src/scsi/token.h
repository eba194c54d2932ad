/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Token copy (SBC-3 "ODX"): POPULATE TOKEN on the source, RECEIVE ROD
 * TOKEN INFORMATION for the 512-byte token and the transfer count, WRITE
 * USING TOKEN on the destination.  The pure parts: VPD 0x8F decoding,
 * parameter lists, the RRTI reply.  Every length is checked against the
 * buffer and the reply's own length fields before a field is read.
 */
#ifndef BC_SCSI_TOKEN_H
#define BC_SCSI_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/volume.h>

#define BC_TOKEN_LEN		512
#define BC_TOKEN_RANGE_LEN	16
#define BC_TOKEN_HDR_LEN	16
#define BC_ROD_TYPE_ZERO	0xffff0001u	/* block device zero ROD token */
/* SPC-4 ROD types of a point in time copy: the copy manager's default
 * kind (change vulnerable or persistent, its choice), and the two kinds */
#define BC_ROD_TYPE_PIT_DEFAULT		0x00800000u
#define BC_ROD_TYPE_PIT_VULNERABLE	0x00800001u
#define BC_ROD_TYPE_PIT_PERSISTENT	0x00800002u

/* What VPD 0x8F says about token copy. */
struct bc_tpc_info {
	bool populate_token;		/* 83h/10h */
	bool write_using_token;		/* 83h/11h */
	bool rrti;			/* 84h/07h */
	bool copy_abort;		/* 83h/1Ch */
	bool has_rod_limits;		/* descriptor 0000h present */
	bool zero_rod;			/* ROD type FFFF0001h accepted */
	struct bc_token_limits lim;
};

int bc_tpc_parse_vpd(const uint8_t *p, size_t len, struct bc_tpc_info *o);

/* One block device range descriptor. */
struct bc_token_range {
	uint64_t lba;
	uint32_t blocks;
};

/* POPULATE TOKEN parameter list (no IMMED, default ROD type and
 * timeout); returns its length or -ENOSPC / -EINVAL. */
int bc_token_build_populate(uint8_t *buf, size_t len, uint32_t inactivity_s,
			    const struct bc_token_range *r, size_t n);
/* The same naming ROD type @rod_type (RTV 1; 0: the default, RTV 0): a
 * point in time copy is BC_ROD_TYPE_PIT_DEFAULT.  A target that cannot
 * make that kind refuses the command (SPC-4 6.4.3). */
int bc_token_build_populate_rod(uint8_t *buf, size_t len, uint32_t inactivity_s,
				uint32_t rod_type, const struct bc_token_range *r,
				size_t n);

/* WRITE USING TOKEN parameter list: @token (512 bytes) at @rod_offset
 * blocks into the ROD, onto the ranges; @immed: return at once, the
 * outcome comes from RECEIVE ROD TOKEN INFORMATION. */
int bc_token_build_write(uint8_t *buf, size_t len, uint64_t rod_offset,
			 const uint8_t *token, const struct bc_token_range *r,
			 size_t n, bool immed);

/* The 16-byte CDBs. */
void bc_token_cdb_populate(uint8_t cdb[16], uint32_t list_id, uint32_t len);
void bc_token_cdb_write(uint8_t cdb[16], uint32_t list_id, uint32_t len);
void bc_token_cdb_rrti(uint8_t cdb[16], uint32_t list_id, uint32_t alloc);
void bc_token_cdb_abort(uint8_t cdb[16], uint32_t list_id);

/* RECEIVE ROD TOKEN INFORMATION reply. */
struct bc_token_status {
	uint8_t copy_status;		/* 01h done, 02h error, 04h done with
					 * a short transfer, 1xh in progress */
	uint64_t transfer_count;	/* blocks */
	uint32_t status_delay_ms;
	bool has_token;
	uint8_t token[BC_TOKEN_LEN];
};

int bc_token_parse_rrti(const uint8_t *p, size_t len, struct bc_token_status *o);

#endif
