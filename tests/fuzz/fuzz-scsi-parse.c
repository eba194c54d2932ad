/* libFuzzer: every SCSI response parser in src/scsi/lu-parse.c and
 * src/scsi/rsoc.c: INQUIRY, VPD 0x00/0x80/0x83/0xB0/0xB2, READ
 * CAPACITY(16), GET LBA STATUS, REPORT SUPPORTED OPERATION CODES, sense
 * (fixed and descriptor). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scsi/lu.h"
#include "scsi/rsoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_lu_inquiry inq;
	struct bc_lu_capacity cap;
	struct bc_lu_block_limits bl;
	struct bc_lu_provisioning lbp;
	struct bc_designator d[BC_MAX_DESIGNATORS];
	struct bc_lu_lba_status s[32];
	struct bc_status st;
	struct bc_rsoc_cmd rc[64];
	struct bc_rsoc_one one;
	bool cut;
	char text[256], serial[64];
	size_t slen = size % sizeof(serial) + 1;	/* short outputs too */
	uint64_t start = size >= 8 ? (uint64_t)data[0] << 8 | data[1] : 0;
	size_t n;

	bc_lu_parse_inquiry(data, size, &inq);
	if (bc_lu_parse_capacity16(data, size, &cap) == 0 &&
	    (cap.block_size < 512 || cap.blocks == 0))
		__builtin_trap();
	bc_lu_parse_block_limits(data, size, &bl);
	bc_lu_parse_provisioning(data, size, &lbp);
	if (bc_lu_parse_designators(data, size, d, BC_MAX_DESIGNATORS, &n) == 0 &&
	    n > BC_MAX_DESIGNATORS)
		__builtin_trap();
	bc_lu_vpd_lists(data, size, 0xb2);
	if (bc_lu_parse_unit_serial(data, size, serial, slen) == 0) {
		if (strlen(serial) >= slen)
			__builtin_trap();
		for (const char *c = serial; *c; c++)
			if (*c < 0x20 || *c >= 0x7f)
				__builtin_trap();
	}
	if (bc_lu_parse_lba_status(data, size, start, s, 32, &n) == 0) {
		uint64_t next = start;

		for (size_t i = 0; i < n; i++) {	/* contiguous from start */
			if (s[i].lba != next || !s[i].blocks)
				__builtin_trap();
			next += s[i].blocks;
		}
	}
	if (bc_rsoc_parse_all(data, size, rc, 64, &n, &cut) == 0 && n > 64)
		__builtin_trap();
	if (bc_rsoc_parse_one(data, size, &one) == 0 &&
	    (one.cdb_len > 260 || size < 4u + one.cdb_len))
		__builtin_trap();
	bc_lu_decode_sense(data, size, size ? data[0] : 2, &st);
	bc_lu_status_text(&st, text, sizeof(text));
	return 0;
}
