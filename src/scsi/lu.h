/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SCSI commands a volume needs, each as build -> execute -> decode:
 * CDB builders are pure, response parsers are bounded by the buffer and by
 * the page's own length field, and every failure lands in a bc_error that
 * names the device, the command, the LBA and the decoded sense.
 */
#ifndef BC_SCSI_LU_H
#define BC_SCSI_LU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/volume.h>

#include "scsi/rsoc.h"
#include "scsi/transport.h"

/* --- decoded responses ------------------------------------------------ */

struct bc_lu_inquiry {
	uint8_t pdt;		/* peripheral device type */
	uint8_t qualifier;
	bool tpc;		/* 3PC: EXTENDED COPY */
	uint8_t version;
	char vendor[9], product[17], revision[5];
};

struct bc_lu_capacity {
	uint64_t blocks;	/* last LBA + 1 */
	uint32_t block_size;
	uint8_t lbppbe;		/* logical per physical exponent */
	bool lbpme, lbprz;
	uint16_t lowest_aligned;
};

struct bc_lu_block_limits {	/* VPD 0xB0 */
	bool valid;
	uint32_t max_transfer;		/* blocks, 0 = none reported */
	uint32_t opt_transfer;
	uint32_t max_unmap_lba_count;
	uint32_t max_unmap_descriptors;
	uint32_t opt_unmap_granularity;
	bool ugavalid;
	uint32_t unmap_alignment;
	uint64_t max_write_same;
};

struct bc_lu_provisioning {	/* VPD 0xB2 */
	bool valid;
	bool lbpu, lbpws, lbpws10;
	uint8_t lbprz;		/* 3 bits; xx1b zeros, 010b pattern */
	bool anc_sup, dp;
	uint8_t type;		/* 0 full, 1 resource, 2 thin */
};

/* One GET LBA STATUS descriptor. */
struct bc_lu_lba_status {
	uint64_t lba;
	uint32_t blocks;
	uint8_t status;		/* 0 mapped/unknown, 1 deallocated, 2 anchored */
};

/* --- pure parts (tested without a device) ------------------------------ */

int bc_lu_parse_inquiry(const uint8_t *p, size_t len, struct bc_lu_inquiry *o);
int bc_lu_parse_capacity16(const uint8_t *p, size_t len, struct bc_lu_capacity *o);
int bc_lu_parse_block_limits(const uint8_t *p, size_t len, struct bc_lu_block_limits *o);
int bc_lu_parse_provisioning(const uint8_t *p, size_t len, struct bc_lu_provisioning *o);
/*
 * Do unmapped (deallocated or anchored) blocks read zero?  SBC-4: VPD
 * 0xB2's 3-bit LBPRZ field xx1b means zeros, 010b the provisioning
 * initialization pattern, 000b vendor specific; READ CAPACITY(16)'s LBPRZ
 * bit is bit 0 of that field.  Where the two disagree the answer is the
 * conservative one (no); without VPD 0xB2 (@lbp->valid false) the READ
 * CAPACITY(16) bit alone decides.  @why gets the reason.
 */
bool bc_lu_unmapped_reads_zero(const struct bc_lu_capacity *cap,
			       const struct bc_lu_provisioning *lbp,
			       char *why, size_t len);
/* VPD 0x83: all designators, at most @max; *n = how many. */
int bc_lu_parse_designators(const uint8_t *p, size_t len,
			    struct bc_designator *out, size_t max, size_t *n);
/* VPD 0x80: the unit serial number, printable ASCII with the blanks and
 * NULs that pad it removed, cut to fit @olen.  -ENODATA if empty. */
int bc_lu_parse_unit_serial(const uint8_t *p, size_t len, char *out, size_t olen);
/* VPD 0x00: is @page listed? */
bool bc_lu_vpd_lists(const uint8_t *p, size_t len, uint8_t page);
/*
 * GET LBA STATUS reply for a request starting at @start: descriptors
 * clipped to start at or after @start, contiguous, zero-length ones
 * dropped.  -EBADMSG for overlapping or out-of-order descriptors.
 */
int bc_lu_parse_lba_status(const uint8_t *p, size_t len, uint64_t start,
			   struct bc_lu_lba_status *out, size_t max, size_t *n);
/* RECEIVE COPY RESULTS, operating parameters (SA 3). */
int bc_lu_parse_copy_params(const uint8_t *p, size_t len,
			    struct bc_xcopy_limits *o);
/* Sense data (fixed or descriptor format) into @st; text into @buf. */
void bc_lu_decode_sense(const uint8_t *sense, size_t len, uint8_t status,
			struct bc_status *st);
const char *bc_lu_status_text(const struct bc_status *st, char *buf, size_t len);

/* --- commands ----------------------------------------------------------- */

struct bc_lu {
	struct bc_scsi_transport *t;
	uint32_t block_size;	/* for LBAs in messages */
};

int bc_lu_inquiry(struct bc_lu *lu, struct bc_lu_inquiry *o, struct bc_error *e);
/* EVPD page into @buf (at most @len); *got = the page's length. */
int bc_lu_vpd(struct bc_lu *lu, uint8_t page, uint8_t *buf, size_t len,
	      size_t *got, struct bc_error *e);
int bc_lu_read_capacity16(struct bc_lu *lu, struct bc_lu_capacity *o,
			  struct bc_error *e);
int bc_lu_get_lba_status(struct bc_lu *lu, uint64_t lba,
			 struct bc_lu_lba_status *out, size_t max, size_t *n,
			 struct bc_error *e);
int bc_lu_read16(struct bc_lu *lu, uint64_t lba, uint32_t blocks, void *buf,
		 struct bc_error *e);
int bc_lu_write16(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
		  const void *buf, struct bc_error *e);
/* WRITE SAME(16) of one zero block, with or without UNMAP. */
int bc_lu_write_same16(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
		       bool unmap, struct bc_error *e);
int bc_lu_write_same16_unmap(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
			     struct bc_error *e);
/* UNMAP of one range; of a list from bc_unmap_build_list() (@lba, the
 * first descriptor's, is for messages). */
int bc_lu_unmap(struct bc_lu *lu, uint64_t lba, uint32_t blocks,
		struct bc_error *e);
int bc_lu_unmap_list(struct bc_lu *lu, const uint8_t *param, uint16_t len,
		     uint64_t lba, struct bc_error *e);
/*
 * REPORT SUPPORTED OPERATION CODES (scsi/rsoc.h), all-commands form: at
 * most @max descriptors.  A LU without it answers -EOPNOTSUPP.
 */
int bc_lu_rsoc_all(struct bc_lu *lu, bool rctd, struct bc_rsoc_cmd *out,
		   size_t max, size_t *n, bool *truncated, struct bc_error *e);
int bc_lu_rsoc_one(struct bc_lu *lu, enum bc_rsoc_option option, uint8_t opcode,
		   uint16_t sa, struct bc_rsoc_one *o, struct bc_error *e);
int bc_lu_sync_cache16(struct bc_lu *lu, struct bc_error *e);
/* With IMMED set the device may answer once it has checked the CDB,
 * before the cache is written back (SBC-4): a later SYNCHRONIZE CACHE
 * without IMMED is what makes the data durable. */
int bc_lu_sync_cache16_immed(struct bc_lu *lu, bool immed,
			     struct bc_error *e);
/* RECEIVE COPY RESULTS, operating parameters (SA 3), raw. */
int bc_lu_copy_operating_params(struct bc_lu *lu, struct bc_xcopy_limits *o,
				struct bc_error *e);

/*
 * EXTENDED COPY(LID1) with a parameter list from bc_xcopy_build_list();
 * @lba (the first source LBA) is for messages.  COPY ABORTED returns
 * -ECANCELED with the sense in e->status.
 */
int bc_lu_extended_copy(struct bc_lu *lu, const uint8_t *list, uint32_t len,
			uint64_t lba, unsigned timeout_ms, struct bc_error *e);

/* Token copy (see scsi/token.h): parameter lists from its builders. */
struct bc_token_status;
int bc_lu_populate_token(struct bc_lu *lu, uint32_t list_id, const uint8_t *pl,
			 uint32_t len, uint64_t lba, struct bc_error *e);
int bc_lu_write_using_token(struct bc_lu *lu, uint32_t list_id,
			    const uint8_t *pl, uint32_t len, uint64_t lba,
			    struct bc_error *e);
/* @lba: where the operation of @list_id starts, for messages */
int bc_lu_rrti(struct bc_lu *lu, uint32_t list_id, uint64_t lba,
	       struct bc_token_status *o, struct bc_error *e);
int bc_lu_copy_abort(struct bc_lu *lu, uint32_t list_id, uint64_t lba,
		     struct bc_error *e);

#endif
