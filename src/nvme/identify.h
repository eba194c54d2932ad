/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decoders for NVMe Identify Controller and Identify Namespace data.  The
 * 4096-byte pages come from the device and are untrusted: lengths and
 * indexes are checked before use, and what we need is copied into small
 * structs before anything is printed or decided.
 */
#ifndef BC_NVME_IDENTIFY_H
#define BC_NVME_IDENTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BC_NVME_IDENTIFY_LEN 4096

/* ONCS bits (Identify Controller, Optional NVM Command Support). */
#define BC_NVME_ONCS_DSM		(1u << 2)
#define BC_NVME_ONCS_WRITE_ZEROES	(1u << 3)
#define BC_NVME_ONCS_COPY		(1u << 8)

struct bc_nvme_ctrl_info {
	char serial[21];
	char model[41];
	char firmware[9];
	uint16_t vid;
	uint8_t mdts;		/* 2^mdts * minimum page size, 0 = no limit */
	uint32_t version;
	uint16_t oncs;
	uint16_t ocfs;		/* copy formats: bit N = format N */
	bool volatile_cache;
	char subnqn[257];
};

struct bc_nvme_ns_info {
	uint64_t nsze;		/* blocks */
	uint64_t ncap;
	uint64_t nuse;
	uint32_t lba_size;	/* bytes, from the active LBA format */
	uint16_t metadata_size;
	uint8_t lbaf_index;
	uint8_t dlfeat;
	bool dealloc_reads_zero;	/* DLFEAT read behaviour 001b */
	bool write_zeroes_deac;		/* DLFEAT bit 3 */
	bool thin;			/* NSFEAT bit 0: thin provisioning */
	bool has_perf_hints;		/* NSFEAT bit 4: NPWG/NOWS valid */
	uint16_t npwg;			/* 0's based */
	uint16_t nows;			/* 0's based */
	uint16_t mssrl;		/* blocks per source range, 0 = none */
	uint32_t mcl;		/* blocks per copy command */
	uint16_t msrc;		/* source ranges per command, 1-based here */
	bool has_nguid, has_eui64, has_uuid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	uint8_t uuid[16];	/* from the descriptor list only */
};

/* 0, or -EBADMSG when a field is impossible, -ENODATA when short. */
int bc_nvme_decode_id_ctrl(const uint8_t *p, size_t len,
			   struct bc_nvme_ctrl_info *out);
int bc_nvme_decode_id_ns(const uint8_t *p, size_t len,
			 struct bc_nvme_ns_info *out);

/*
 * The Namespace Identification Descriptor list (Identify CNS 03h) into
 * @out, after bc_nvme_decode_id_ns(): the UUID, and an EUI-64 or NGUID
 * the Identify Namespace page left zero.  Entries are NIDT (1), NIDL
 * (1), two reserved bytes and NIDL bytes of NID; the list ends at NIDT 0
 * or the page's end.  0; -ENODATA when shorter than a page; -EBADMSG for
 * an entry whose length does not fit its type or the page (what came
 * before it is kept).  All-zero identifiers count as absent.
 */
int bc_nvme_decode_ns_descs(const uint8_t *p, size_t len,
			    struct bc_nvme_ns_info *out);

/* "Invalid Field in Command" etc. for an NVMe status (SCT, SC). */
const char *bc_nvme_status_str(uint8_t sct, uint8_t sc);

#endif
