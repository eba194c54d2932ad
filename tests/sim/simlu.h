/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An in-memory SCSI target for tests: a set of block LUs that share one
 * copy manager, each reachable as a struct bc_scsi_transport, so the
 * project's own CDB builders and parsers run against it.  It exists for
 * what no open target implements (token copy) and for faults that real
 * targets do not produce on demand.
 *
 * Everything hangs off one struct bc_sim; there is no global state.  The
 * sim has its own clock (milliseconds, starting at 0) that only the test
 * advances, so token expiry is deterministic.
 *
 *   struct bc_sim *sim = bc_sim_new();
 *   struct bc_sim_lu_cfg c;
 *   bc_sim_lu_cfg_spc(&c, 2048, 512, 1);	(or bc_sim_lu_cfg_lio)
 *   bc_sim_add_lu(sim, &c);			-> LU index 0
 *   bc_sim_open(sim, 0, &t);			-> a transport (one I_T nexus)
 *   ... bc_lu_inquiry(&(struct bc_lu){ t, 512 }, ...) ...
 *   bc_scsi_transport_close(t); bc_sim_free(sim);	(any order)
 *
 * Every call is serialised by one lock in the sim, so transports of one
 * sim may be used from several threads.
 *
 * What an LU answers: TEST UNIT READY, INQUIRY (3PC; VPD 00 80 83 8F B0
 * B1 B2), REPORT LUNS, READ CAPACITY(10/16) (LBPME/LBPRZ), REPORT
 * SUPPORTED OPERATION CODES, READ/WRITE(10/16), WRITE SAME(10/16) with
 * UNMAP and NDOB, UNMAP, GET LBA STATUS, SYNCHRONIZE CACHE(10/16),
 * EXTENDED COPY(LID1), RECEIVE COPY RESULTS (SA 0 1 3 4), POPULATE TOKEN,
 * WRITE USING TOKEN, COPY OPERATION ABORT, RECEIVE COPY STATUS(LID4),
 * RECEIVE ROD TOKEN INFORMATION -- each only where the LU's configuration
 * says it has it; anything else is ILLEGAL REQUEST 20/00 (unknown opcode)
 * or 24/00 (unknown service action).  Sense is fixed format, with the
 * SKSV field pointer on ILLEGAL REQUEST where the sim knows the field.
 * Copy operations with a list identifier are held per nexus (transport).
 * Blocks of a thin LU are mapped, deallocated or anchored; which of them
 * read zero, what READ CAPACITY(16) and VPD 0xB2 claim about it, and what
 * an UNMAP really releases are each configured (see bc_sim_lu_cfg), so
 * every provisioning behaviour SBC-4 allows can be had.
 */
#ifndef BC_TEST_SIMLU_H
#define BC_TEST_SIMLU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi/transport.h"

struct bc_sim;

/* How EXTENDED COPY (LID1) behaves. */
enum bc_sim_xcopy {
	BC_SIM_XCOPY_NONE = 0,	/* 3PC = 0, opcode 0x83/0x84 SA 0-4 invalid */
	/*
	 * As LIO (kernel 6.1) does, see ../shared/TARGETS.md: only 0xE4 CSCDs
	 * holding a 16-byte NAA-6, only 0x02 segments, 2 CSCDs, 1 segment,
	 * 1024-byte list, no inline data, the LU receiving the command must
	 * be the source or the destination, RECEIVE COPY RESULTS only SA 3
	 * (and only with an allocation length >= 54), and every failure after
	 * parsing is COPY ABORTED 0D/02 with no progress information.
	 */
	BC_SIM_XCOPY_LIO,
	/*
	 * As SPC-4 describes, with the limits in bc_sim_lu_cfg.xcopy_lim:
	 * any LU of the sim can be named, held list identifiers (LIST ID
	 * USAGE 00b/10b) for RECEIVE COPY RESULTS SA 0/1/4, and a COPY
	 * ABORTED sense that says how far the copy got: COMMAND-SPECIFIC
	 * INFORMATION = index of the segment being processed (= segments
	 * finished), INFORMATION (VALID=1) = blocks of that segment not copied.
	 */
	BC_SIM_XCOPY_SPC,
};

struct bc_sim_xcopy_limits {	/* BC_SIM_XCOPY_SPC only; 0 = the default */
	uint16_t max_cscd;		/* default 8 */
	uint16_t max_segments;		/* default 8 */
	uint32_t max_list_len;		/* CSCD + segment bytes, default 4096 */
	uint32_t max_segment_len;	/* bytes; 0 = not reported, no limit */
	bool no_progress;		/* COPY ABORTED says nothing, as LIO */
	/* TOTAL and MAXIMUM CONCURRENT COPIES in RECEIVE COPY OPERATING
	 * PARAMETERS: 0 = the default, 1 (LIO's) */
	uint8_t max_concurrent;
};

/* What a POPULATE TOKEN that names a point in time ROD type (RTV=1) gets;
 * without RTV a token is always change vulnerable (00800001h). */
enum bc_sim_pit {
	/* 00800000h (the default kind) and 00800001h: change vulnerable, a
	 * write to the source cancels it (23/08); 00800002h refused */
	BC_SIM_PIT_VULNERABLE = 0,
	/* 00800000h and 00800002h: persistent, the token keeps the blocks
	 * as they were when it was made; 00800001h change vulnerable */
	BC_SIM_PIT_PERSISTENT,
	/* any named ROD type: INVALID FIELD IN PARAMETER LIST (byte 8) */
	BC_SIM_PIT_REFUSED,
};

struct bc_sim_token_limits {	/* VPD 0x8F, 0 = the default */
	uint16_t max_ranges;		/* range descriptors per command, default 16 */
	uint32_t max_inactivity_s;	/* default 600 */
	uint32_t default_inactivity_s;	/* default 60 */
	uint64_t max_transfer;		/* blocks per token/command, 0 = no limit */
	uint64_t optimal_transfer;	/* blocks, reported only */
	/*
	 * A WRITE USING TOKEN moves at most this many blocks (0 = all),
	 * completing with GOOD and copy status 0x04 ("completed, check the
	 * transfer count") in RECEIVE ROD TOKEN INFORMATION, as an array that
	 * cuts long transfers short does.
	 */
	uint64_t wut_max_blocks;
	/* RECEIVE COPY STATUS / ROD TOKEN INFORMATION polls that report an
	 * IMMED operation still in progress before it runs (default 1). */
	unsigned immed_polls;
	uint32_t status_delay_ms;	/* ESTIMATED STATUS UPDATE DELAY, default 10 */
	unsigned max_tokens;		/* live tokens per sim, default 64 */
	/* A copy manager that hangs: an IMMED operation is reported in
	 * progress (copy status 12h, no blocks) however often it is polled,
	 * and never runs; COPY OPERATION ABORT still stops it. */
	bool never_completes;
	/* COPY OPERATION ABORT answers GOOD and stops nothing. */
	bool abort_ignored;
	enum bc_sim_pit pit;
};

struct bc_sim_lu_cfg {
	uint64_t blocks;
	uint32_t block_size;		/* 512 .. 65536, a power of two */
	uint8_t naa[16];		/* NAA-6 designator (naa[0] >> 4 == 6) */
	char vendor[9], product[17], serial[33];
	/* provisioning */
	bool thin;			/* LBPME; UNMAP and WRITE SAME+UNMAP deallocate */
	/* VPD 0xB2 PROVISIONING TYPE 000b (not reported) although thin, as
	 * LIO 6.1's spc_emulate_evpd_b2 leaves byte 6 */
	bool prov_type_unreported;
	bool lbprz;			/* unmapped blocks read as zeros ... */
	uint8_t unmapped_fill;		/* ... else as this byte */
	/*
	 * What VPD 0xB2's 3-bit LBPRZ field says when vpd_lbprz_set (SBC-4:
	 * 000b vendor specific, xx1b zeros, 010b the provisioning
	 * initialization pattern); else 001b with lbprz, 000b without.  What
	 * unmapped blocks read still follows lbprz and unmapped_fill, so
	 * 010b with a fill is the pattern, and 011b with lbprz zeros.
	 */
	bool vpd_lbprz_set;
	uint8_t vpd_lbprz;
	/* READ CAPACITY(16)'s LBPRZ bit is the opposite of bit 0 of the VPD
	 * field (SBC-4 wants them equal): the two disagree */
	bool rc16_lbprz_flip;
	/*
	 * UNMAP leaves every Nth granule it would release as it was, mapped
	 * with its data (1: all of them, an UNMAP that unmaps nothing; 0:
	 * none).  SBC-4 4.7.3.4.2: one UNMAP may result in zero unmap
	 * operations.  WRITE SAME with UNMAP still reads zero afterwards.
	 */
	unsigned unmap_keep_every;
	/*
	 * Resource provisioned (VPD 0xB2 provisioning type 001b, ANC_SUP):
	 * unmap operations anchor LBAs instead of deallocating them, and GET
	 * LBA STATUS reports them anchored (2).  UNMAP's ANCHOR bit works.
	 * Anchored blocks read as deallocated ones do (zeros or the fill).
	 */
	bool resource;
	bool gls;			/* GET LBA STATUS */
	/* GET LBA STATUS returns at most this many descriptors (0 = as many
	 * as fit): short replies the initiator must continue from */
	unsigned gls_max_desc;
	bool rsoc;			/* REPORT SUPPORTED OPERATION CODES */
	/* SYNCHRONIZE CACHE with IMMED set is refused with ILLEGAL
	 * REQUEST, INVALID FIELD IN CDB (SBC-4 lets a device) */
	bool sync_no_immed;
	/* block limits (VPD 0xB0), 0 = no limit */
	uint32_t max_transfer;		/* blocks per READ/WRITE */
	uint32_t max_unmap_lba_count;
	uint32_t max_unmap_desc;
	uint32_t unmap_granularity;
	uint32_t unmap_alignment;	/* UGAVALID when non-zero */
	/* UNMAP releases only whole granules (granularity + alignment); the
	 * partial ones at either end keep their old data, as SBC allows */
	bool unmap_granules_only;
	/* VPD 0xB2 LBPWS=0 and LBPWS10=0: WRITE SAME with UNMAP is refused
	 * (ILLEGAL REQUEST, invalid field in CDB), UNMAP still works */
	bool no_lbpws;
	uint64_t max_write_same;
	bool ws_refuse_zero_len;	/* WRITE SAME of 0 blocks is refused, not
					 * "to the end of the LU" (LIO) */
	bool ws_refuse_ndob;		/* NDOB refused (LIO) */
	/* LIO: each new I_T nexus's first command gets UA 3F/0E */
	bool ua_new_nexus;
	/* copy manager */
	enum bc_sim_xcopy xcopy;
	struct bc_sim_xcopy_limits xcopy_lim;
	bool token;			/* POPULATE TOKEN, WRITE USING TOKEN, VPD 0x8F */
	struct bc_sim_token_limits token_lim;
	/* The copy manager leaves a destination block unmapped where the
	 * source is unmapped and the destination is thin with LBPRZ (an
	 * array that copies allocation); otherwise it writes what it reads,
	 * as LIO does (TARGETS.md pitfall 6). */
	bool copy_sparse;
};

/*
 * Presets.  @n makes the NAA designator and serial unique within a test
 * (two LUs with the same @n look like one LU to a copy manager).
 * _lio: thin without LBPRZ, no GET LBA STATUS, no RSOC, UNMAP 1 descriptor
 *       of <= 8192 blocks with granularity 1 and no provisioning type (as
 *       a fileio backstore on a file), WRITE SAME <= 4096 blocks (no 0, no
 *       NDOB), UA on new nexus, EXTENDED COPY as LIO, no token copy.
 * _spc: thin with LBPRZ, GET LBA STATUS, RSOC, generous limits, EXTENDED
 *       COPY per SPC (8 CSCDs, 8 segments), token copy, copy_sparse.
 */
void bc_sim_lu_cfg_lio(struct bc_sim_lu_cfg *c, uint64_t blocks,
		       uint32_t block_size, unsigned n);
void bc_sim_lu_cfg_spc(struct bc_sim_lu_cfg *c, uint64_t blocks,
		       uint32_t block_size, unsigned n);

struct bc_sim *bc_sim_new(void);
/* Frees the sim once every transport opened on it is closed too. */
void bc_sim_free(struct bc_sim *sim);
/* Returns the new LU's index (0, 1, ...) or -EINVAL / -ENOMEM. */
int bc_sim_add_lu(struct bc_sim *sim, const struct bc_sim_lu_cfg *cfg);
/* The LU's configuration (NULL for a bad index); not while another
 * thread adds LUs. */
const struct bc_sim_lu_cfg *bc_sim_lu_cfg(const struct bc_sim *sim, unsigned lu);

/*
 * A transport to LU @lu: a new I_T nexus each time.  All LUs of one sim
 * share target_id and copy_domain "sim:<id>"; lun = @lu.  Commands run in
 * ->execute; ->submit queues up to 8 and ->poll runs them.  Returns 0 or
 * -EINVAL (no such LU) / -ENOMEM.
 */
int bc_sim_open(struct bc_sim *sim, unsigned lu, struct bc_scsi_transport **out);

/* The clock: token inactivity timeouts count in it. */
void bc_sim_advance(struct bc_sim *sim, uint64_t ms);
uint64_t bc_sim_now(const struct bc_sim *sim);

/* --- direct access to the medium (not counted, no faults) ----------------- */

/* Read/write whole blocks of LU @lu; -EINVAL outside the LU. */
int bc_sim_read(struct bc_sim *sim, unsigned lu, uint64_t lba, uint32_t blocks,
		void *buf);
int bc_sim_write(struct bc_sim *sim, unsigned lu, uint64_t lba, uint32_t blocks,
		 const void *buf);
/* Is @lba mapped (allocated)?  Always true on a fully provisioned LU. */
bool bc_sim_mapped(struct bc_sim *sim, unsigned lu, uint64_t lba);
/* Anchor blocks of a thin LU (their data is gone; GET LBA STATUS says
 * anchored); -EINVAL outside the LU or on a fully provisioned one. */
int bc_sim_anchor(struct bc_sim *sim, unsigned lu, uint64_t lba, uint32_t blocks);
bool bc_sim_anchored(struct bc_sim *sim, unsigned lu, uint64_t lba);
/* Blocks mapped on a thin LU; bytes of memory its data takes. */
uint64_t bc_sim_mapped_blocks(struct bc_sim *sim, unsigned lu);
uint64_t bc_sim_memory(struct bc_sim *sim, unsigned lu);

/* --- fault injection ------------------------------------------------------ */

enum bc_sim_fault_kind {
	/* CHECK CONDITION with sense key/ASC/ASCQ (and INFORMATION if
	 * info_valid) instead of running the command. */
	BC_SIM_FAULT_CHECK = 1,
	/* SAM status without sense (BUSY, TASK SET FULL, RESERVATION
	 * CONFLICT, ...) instead of running the command. */
	BC_SIM_FAULT_STATUS,
	/* UNIT ATTENTION key/ASC/ASCQ (default 29/00) on the next matching
	 * command; meant with count 1. */
	BC_SIM_FAULT_UNIT_ATTENTION,
	/* ->execute returns -ECONNRESET: the command was not delivered (the
	 * medium is untouched). */
	BC_SIM_FAULT_DISCONNECT,
	/*
	 * EXTENDED COPY or WRITE USING TOKEN stops after @after_blocks blocks
	 * are written and fails with COPY ABORTED (ASC/ASCQ default 0D/02).
	 * EXTENDED COPY's sense reports progress per SPC (see
	 * BC_SIM_XCOPY_SPC) unless @no_progress or the copy manager is
	 * LIO-like; a held list identifier's RECEIVE COPY RESULTS, and WRITE
	 * USING TOKEN's RECEIVE ROD TOKEN INFORMATION, count the blocks.  A
	 * command with fewer blocks writes them all and still fails: a lost
	 * completion.  An IMMED operation meets the fault when it runs.
	 */
	BC_SIM_FAULT_COPY_ABORT,
};

#define BC_SIM_ANY (-1)

struct bc_sim_fault {
	enum bc_sim_fault_kind kind;
	int lu;			/* LU index or BC_SIM_ANY */
	int opcode;		/* CDB byte 0 or BC_SIM_ANY */
	int sa;			/* service action (CDB byte 1 & 0x1f) or BC_SIM_ANY */
	unsigned skip;		/* let this many matching commands pass first */
	unsigned count;		/* then fire this many times (0 = once) */
	uint8_t status;		/* _STATUS: SAM status */
	uint8_t key, asc, ascq;	/* _CHECK, _UNIT_ATTENTION, _COPY_ABORT */
	bool info_valid;	/* _CHECK: VALID + INFORMATION */
	uint32_t information;
	uint64_t after_blocks;	/* _COPY_ABORT */
	bool no_progress;	/* _COPY_ABORT: say nothing about progress */
	/* _COPY_ABORT: only an EXTENDED COPY whose first segment starts at
	 * source LBA @lba matches (commands in flight at once arrive in any
	 * order; this picks one by what it copies, not by when it came) */
	bool at_lba;
	uint64_t lba;
};

/*
 * Arm a fault (at most 16 armed at once).  Faults are checked in the order
 * DISCONNECT, STATUS, UNIT_ATTENTION, CHECK; COPY_ABORT when a copy runs.
 * 0, -ENOSPC or -EINVAL.
 */
int bc_sim_inject(struct bc_sim *sim, const struct bc_sim_fault *f);
/* Disarm every fault. */
void bc_sim_clear_faults(struct bc_sim *sim);
/* How many times armed faults fired since the sim was made. */
unsigned bc_sim_faults_fired(const struct bc_sim *sim);

/*
 * Hold EXTENDED COPY(LID1) commands, after the first @skip that arrive,
 * until @n of them are in flight at once; then they all run, and later
 * ones are not held (@n = 0: no gate).  This makes "the initiator keeps
 * @n commands out" observable without timing.  An initiator that never
 * has @n out would hang its test: after 30 s the gate opens anyway, and
 * bc_sim_xcopy_max_inflight() tells the test what it got.
 */
void bc_sim_xcopy_gate(struct bc_sim *sim, unsigned skip, unsigned n);
/* The most EXTENDED COPY(LID1) commands in flight at once (received and
 * not yet answered, held by the gate or not) since the sim was made or
 * its counters were reset. */
unsigned bc_sim_xcopy_max_inflight(const struct bc_sim *sim);

/* --- what the initiator sent ---------------------------------------------- */

/* Commands LU @lu (or BC_SIM_ANY) received with @opcode and service
 * action @sa (BC_SIM_ANY: all).  Faulted commands count too; commands
 * lost to a DISCONNECT fault do not. */
unsigned long bc_sim_count(const struct bc_sim *sim, int lu, uint8_t opcode,
			   int sa);

#define BC_SIM_LOG_MAX 64

struct bc_sim_log_entry {
	unsigned lu;
	uint8_t cdb[16];
	uint8_t cdb_len;
	uint8_t status;
	uint8_t key, asc, ascq;	/* when status is CHECK CONDITION */
};

/* The last commands (at most BC_SIM_LOG_MAX), oldest first; returns how
 * many were copied into @out. */
size_t bc_sim_log(const struct bc_sim *sim, struct bc_sim_log_entry *out,
		  size_t max);
/* Forget counts and log. */
void bc_sim_reset_counters(struct bc_sim *sim);

#endif
