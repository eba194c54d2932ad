/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Errors: every library call returns 0 or -errno.  What the device said
 * (SCSI sense, NVMe status) and where it happened (device, command, LBA)
 * goes into a struct bc_error out-parameter, so the caller can both decide
 * (by errno and status category) and tell a human exactly what failed.
 */
#ifndef BLKCLONE_ERROR_H
#define BLKCLONE_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bc_status_kind {
	BC_STATUS_NONE = 0,	/* no device status: an errno from the OS */
	BC_STATUS_SCSI,		/* SAM status byte (and sense data) */
	BC_STATUS_NVME,		/* NVMe completion status */
};

/* Categories that drive decisions, derived from the raw status. */
enum bc_status_cat {
	BC_CAT_OK = 0,
	BC_CAT_OTHER,		/* an error we have no special handling for */
	BC_CAT_NOT_SUPPORTED,	/* invalid opcode / field: capability absent */
	BC_CAT_RETRY,		/* UNIT ATTENTION, BUSY, TASK SET FULL, ... */
	BC_CAT_COPY_ABORTED,	/* copy manager gave up: segment not done */
	BC_CAT_INVALID_TOKEN,	/* ROD token rejected (ASC 0x23) */
	BC_CAT_MEDIUM,		/* medium or hardware error */
	BC_CAT_PROTECT,		/* write protected */
	BC_CAT_OUT_OF_RANGE,	/* LBA out of range */
	/* refused as malformed, and so not performed (SCSI ILLEGAL REQUEST
	 * that fits none of the narrower categories above, which say the
	 * same: NOT_SUPPORTED, OUT_OF_RANGE, INVALID_TOKEN) */
	BC_CAT_REJECTED,
};

#define BC_SENSE_MAX 252

struct bc_status {
	enum bc_status_kind kind;
	enum bc_status_cat cat;
	/* SCSI */
	uint8_t scsi_status;
	uint8_t sense_key;
	uint8_t asc;
	uint8_t ascq;
	bool info_valid;
	uint64_t information;
	bool cmd_specific_valid;
	uint64_t cmd_specific;
	uint8_t sense[BC_SENSE_MAX];
	uint16_t sense_len;
	/* NVMe */
	uint8_t nvme_sct;
	uint8_t nvme_sc;
	bool nvme_dnr;
};

struct bc_error {
	int err;		/* negative errno, 0 = no error recorded */
	char device[320];	/* address or path of the volume */
	char op[48];		/* command or operation, e.g. "READ(16)", "pwrite" */
	bool has_lba;
	uint64_t lba;		/* first LBA of the failed command */
	uint32_t block_size;	/* to convert the LBA to a byte offset */
	struct bc_status status;
	char detail[320];	/* decoded sense/status or other explanation */
};

void bc_error_clear(struct bc_error *e);

/*
 * Record an error.  Returns @err so callers can write
 * "return bc_error_set(e, -EIO, ...)".  @fmt fills detail (may be NULL).
 */
int bc_error_set(struct bc_error *e, int err, const char *device,
		 const char *op, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* As bc_error_set, and names the LBA the command started at. */
int bc_error_set_lba(struct bc_error *e, int err, const char *device,
		     const char *op, uint64_t lba, uint32_t block_size,
		     const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* "DEVICE: OP at LBA N: detail: strerror" in @buf; returns @buf. */
const char *bc_error_format(const struct bc_error *e, char *buf, size_t len);

/*
 * Did opening or checking a volume fail with @err because the request is
 * refused (no such file, no permission, busy, read-only, too small, ...)
 * rather than because something broke on the way (I/O, a lost target)?
 * Nothing was written in either case; callers tell the two apart.
 */
bool bc_error_is_refusal(int err);

#ifdef __cplusplus
}
#endif
#endif
