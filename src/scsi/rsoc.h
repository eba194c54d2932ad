/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN 0xA3 / SA 0x0C, SPC-4
 * 6.35): the CDB builder and bounded parsers for both reply forms.  The
 * reply is evidence only -- tgt's one-command form calls 0x89 supported,
 * LIO does not implement the command -- so nothing is decided on it alone.
 */
#ifndef BC_SCSI_RSOC_H
#define BC_SCSI_RSOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BC_RSOC_CDB_LEN		12
#define BC_RSOC_HDR_LEN		4	/* all-commands: COMMAND DATA LENGTH */
#define BC_RSOC_DESC_LEN	8	/* command descriptor without timeouts */
#define BC_RSOC_TIMEOUTS_LEN	12	/* command timeouts descriptor */
#define BC_RSOC_USAGE_MAX	32	/* CDB usage bytes kept (one-command) */

/* REPORTING OPTIONS (CDB byte 2 bits 2-0). */
enum bc_rsoc_option {
	BC_RSOC_ALL = 0,		/* every command, descriptors */
	BC_RSOC_ONE_OPCODE = 1,		/* one opcode without service actions */
	BC_RSOC_ONE_SA = 2,		/* one opcode + service action */
	BC_RSOC_ONE_EITHER = 3,		/* SPC-4: either of the two above */
};

/* SUPPORT field of the one-command form (byte 1 bits 2-0). */
enum bc_rsoc_support {
	BC_RSOC_SUP_NO_DATA = 0,	/* data not currently available */
	BC_RSOC_SUP_NO = 1,		/* not supported */
	BC_RSOC_SUP_YES = 3,		/* supported as the standard says */
	BC_RSOC_SUP_VENDOR = 5,		/* supported in a vendor-specific way */
};

struct bc_rsoc_args {
	enum bc_rsoc_option option;
	bool rctd;			/* ask for command timeouts descriptors */
	uint8_t opcode;			/* one-command forms */
	uint16_t sa;			/* BC_RSOC_ONE_SA / _EITHER */
	uint32_t alloc_len;
};

struct bc_rsoc_timeouts {
	uint8_t cmd_specific;
	uint32_t nominal_s;		/* 0 = not reported */
	uint32_t recommended_s;
};

/* One command descriptor of the all-commands form. */
struct bc_rsoc_cmd {
	uint8_t opcode;
	uint16_t sa;			/* valid if servactv */
	bool servactv;
	uint16_t cdb_len;
	bool ctdp;			/* a timeouts descriptor followed */
	struct bc_rsoc_timeouts timeouts;
};

/* The one-command form. */
struct bc_rsoc_one {
	uint8_t support;		/* enum bc_rsoc_support, raw 3 bits */
	bool ctdp;
	uint16_t cdb_len;		/* CDB SIZE */
	uint8_t usage[BC_RSOC_USAGE_MAX];	/* first bytes of CDB USAGE DATA */
	struct bc_rsoc_timeouts timeouts;	/* if ctdp */
};

/* The CDB into @cdb (at least BC_RSOC_CDB_LEN bytes): its length, or
 * -EINVAL for an unknown option or a service action on BC_RSOC_ONE_OPCODE. */
int bc_rsoc_build_cdb(uint8_t *cdb, size_t len, const struct bc_rsoc_args *a);

/*
 * All-commands reply: at most @max descriptors into @out, *n = how many.
 * *truncated (may be NULL) says the reply was cut by the allocation length
 * (COMMAND DATA LENGTH reaches beyond @len): what fits is still returned.
 * -ENODATA when @len has no header; -EBADMSG when a descriptor overruns the
 * declared list or a timeouts descriptor has a wrong length.
 */
int bc_rsoc_parse_all(const uint8_t *p, size_t len, struct bc_rsoc_cmd *out,
		      size_t max, size_t *n, bool *truncated);

/*
 * One-command reply.  -ENODATA when @len is shorter than the 4-byte header,
 * the CDB usage data or the timeouts descriptor the header announces;
 * -EBADMSG for a CDB size below 6 on a supported command, a size over
 * 260 (SPC's largest CDB), or a timeouts descriptor of the wrong length.
 */
int bc_rsoc_parse_one(const uint8_t *p, size_t len, struct bc_rsoc_one *o);

/* Does the all-commands list name @opcode (and @sa, if >= 0)? */
bool bc_rsoc_lists(const struct bc_rsoc_cmd *c, size_t n, uint8_t opcode,
		   int sa);

#endif
