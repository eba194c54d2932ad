/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the simulator (see simlu.h): the LU, its sparse medium, the
 * per-nexus state, and the context one command runs in.  The command
 * handlers are split by area: simlu-cmd.c (block commands, inquiry, VPD),
 * simlu-copy.c (EXTENDED COPY, RECEIVE COPY RESULTS), simlu-token.c
 * (POPULATE TOKEN, WRITE USING TOKEN, ROD token bookkeeping).
 */
#ifndef BC_TEST_SIMLU_INT_H
#define BC_TEST_SIMLU_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simlu.h"

/* --- big-endian helpers --------------------------------------------------- */

static inline uint16_t sim_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t sim_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t sim_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t sim_be64(const uint8_t *p)
{
	return (uint64_t)sim_be32(p) << 32 | sim_be32(p + 4);
}

static inline void sim_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void sim_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void sim_put64(uint8_t *p, uint64_t v)
{
	sim_put32(p, (uint32_t)(v >> 32));
	sim_put32(p + 4, (uint32_t)v);
}

/* --- sense keys and the ASC/ASCQ pairs the sim uses ----------------------- */

#define SK_NOT_READY		0x2
#define SK_MEDIUM_ERROR		0x3
#define SK_HARDWARE_ERROR	0x4
#define SK_ILLEGAL_REQUEST	0x5
#define SK_UNIT_ATTENTION	0x6
#define SK_DATA_PROTECT		0x7
#define SK_COPY_ABORTED		0xa
#define SK_ABORTED_COMMAND	0xb

#define ASC_PARAM_LIST_LENGTH	0x1a00	/* parameter list length error */
#define ASC_INVALID_OPCODE	0x2000
#define ASC_LBA_OUT_OF_RANGE	0x2100
#define ASC_INVALID_CDB_FIELD	0x2400
#define ASC_INVALID_PARAM_FIELD	0x2600
#define ASC_TOO_MANY_CSCD	0x2606	/* too many target descriptors */
#define ASC_UNSUP_CSCD_TYPE	0x2607
#define ASC_TOO_MANY_SEGMENTS	0x2608
#define ASC_UNSUP_SEGMENT_TYPE	0x2609
#define ASC_INLINE_TOO_LONG	0x260b
#define ASC_INVALID_COPY_OP	0x260c	/* invalid op for copy source/dest */
#define ASC_TOKEN_UNKNOWN	0x2304	/* 23/xx: INVALID TOKEN OPERATION */
#define ASC_TOKEN_UNSUP_TYPE	0x2301
#define ASC_TOKEN_REMOTE	0x2302
#define ASC_TOKEN_CORRUPT	0x2305
#define ASC_TOKEN_EXPIRED	0x2307
#define ASC_TOKEN_CANCELLED	0x2308
#define ASC_TOKEN_DELETED	0x2309
#define ASC_TOKEN_LENGTH	0x230a
#define ASC_THIRD_PARTY_FAILURE	0x0d01
#define ASC_COPY_TARGET_UNREACH	0x0d02
#define ASC_OP_IN_PROGRESS	0x0016
#define ASC_NO_ROD_TOKEN_RES	0x550d	/* insufficient resources to create ROD token */
#define ASC_UA_POWER_ON		0x2900
#define ASC_UA_LUNS_CHANGED	0x3f0e
#define ASC_INTERNAL_FAILURE	0x4400

/* --- sparse medium (simlu-store.c) ---------------------------------------- */

/*
 * The medium is cut into chunks of 64 KiB (or one block, if larger), each
 * allocated on first write (or anchor) and freed when its last block is
 * deallocated, so a 1 GiB LU holding 10 MiB costs about 10 MiB.  Chunks live in an open
 * addressing hash table keyed by chunk index.
 */
#define SIM_CHUNK_BYTES 65536u

struct sim_chunk {
	uint64_t idx;
	uint64_t map[2];	/* mapped blocks, at most 128 per chunk */
	uint64_t anch[2];	/* anchored blocks (never mapped ones) */
	uint8_t data[];
};

/* A block's provisioning state, numbered as GET LBA STATUS reports it. */
enum sim_blk_state {
	SIM_BLK_MAPPED = 0,
	SIM_BLK_DEALLOCATED = 1,
	SIM_BLK_ANCHORED = 2,
};

struct sim_store {
	uint32_t bs;
	uint32_t chunk_blocks;	/* 1 .. 128 */
	struct sim_chunk **slot;
	size_t cap, used;	/* cap is a power of two */
	uint64_t mapped;	/* blocks */
};

int sim_store_init(struct sim_store *st, uint32_t bs);
void sim_store_free(struct sim_store *st);
/* Unmapped blocks read as @fill. */
void sim_store_read(const struct sim_store *st, uint64_t lba, uint64_t n,
		    uint8_t *out, uint8_t fill);
int sim_store_write(struct sim_store *st, uint64_t lba, uint64_t n,
		    const uint8_t *in);
/* Deallocate blocks (mapped or anchored). */
void sim_store_unmap(struct sim_store *st, uint64_t lba, uint64_t n);
/* Anchor blocks: unmapped, their data gone, reported anchored.  -ENOMEM. */
int sim_store_anchor(struct sim_store *st, uint64_t lba, uint64_t n);
bool sim_store_mapped(const struct sim_store *st, uint64_t lba);
enum sim_blk_state sim_store_state(const struct sim_store *st, uint64_t lba);
/* Length (<= @max) of the run of blocks from @lba in the state *state
 * (set to the state of @lba). */
uint64_t sim_store_run(const struct sim_store *st, uint64_t lba, uint64_t max,
		       enum sim_blk_state *state);

/* --- LUs, nexus state, the sim -------------------------------------------- */

/* Opcodes that have service actions, for per-SA counts. */
#define SIM_SA_OPS 4	/* 0x83, 0x84, 0x9e, 0xa3 */

struct sim_lu {
	struct bc_sim_lu_cfg cfg;
	unsigned index;
	struct sim_store store;
	unsigned long op_count[256];
	unsigned long sa_count[SIM_SA_OPS][32];
};

/* A copy operation held for RECEIVE COPY RESULTS / STATUS (per nexus). */
enum sim_list_state {
	SIM_LIST_FREE = 0,
	SIM_LIST_PENDING,	/* IMMED: accepted, not yet run */
	SIM_LIST_DONE,		/* completed without error */
	SIM_LIST_RESID,		/* completed, fewer blocks than asked */
	SIM_LIST_ERROR,		/* completed with an error (sense held) */
	SIM_LIST_ABORTED,	/* COPY OPERATION ABORT */
};

struct sim_list {
	enum sim_list_state state;
	bool lid1;		/* EXTENDED COPY(LID1): 8-bit identifier */
	uint32_t id;
	uint8_t sa;		/* 0x00 EXTENDED COPY, 0x10 PT, 0x11 WUT */
	uint64_t seq;		/* age, to evict the oldest finished one */
	uint16_t segs_done;
	uint64_t blocks_done;
	uint16_t ops_done;
	uint8_t sense[32];
	uint8_t sense_len;
	bool has_token;
	uint8_t token[512];
	unsigned polls_left;	/* PENDING: polls until it runs */
	uint8_t *params;	/* PENDING: the parameter list to run */
	size_t params_len;
};

#define SIM_MAX_LISTS 16

struct sim_port;

struct sim_fault {
	struct bc_sim_fault f;
	unsigned seen, fired;
	bool armed;
};

#define SIM_MAX_FAULTS 16

struct sim_token {
	uint64_t id;
	unsigned lu;
	uint32_t bs;
	uint64_t blocks;		/* represented */
	uint64_t (*ranges)[2];		/* lba, count */
	size_t nranges;
	uint64_t last_active_ms;
	uint32_t timeout_s;
	enum { TOK_VALID, TOK_CANCELLED, TOK_DELETED } state;
	uint32_t rod_type;
	uint8_t *snap;			/* a persistent token's blocks, else NULL */
};

struct bc_sim {
	pthread_mutex_t lock;
	char id[24];
	uint64_t secret;		/* keys token checksums */
	uint64_t now_ms;
	unsigned refs;			/* 1 for the sim + 1 per open transport */
	bool freed;
	struct sim_lu **lu;
	unsigned nlu;
	struct sim_fault fault[SIM_MAX_FAULTS];
	unsigned faults_fired;
	struct sim_token *tok;
	size_t ntok, captok;
	uint64_t next_token_id;
	uint64_t next_seq;
	struct bc_sim_log_entry log[BC_SIM_LOG_MAX];
	size_t log_next, log_len;
	/* EXTENDED COPY(LID1) in flight, and the gate (bc_sim_xcopy_gate) */
	unsigned xc_inflight, xc_max_inflight;
	unsigned gate_skip, gate_n, gate_seen;
	pthread_cond_t gate_cond;
};

/* Everything one command runs with. */
struct sim_ctx {
	struct bc_sim *sim;
	struct sim_lu *lu;
	struct sim_port *port;
	struct bc_scsi_cmd *cmd;
	const uint8_t *cdb;
	uint8_t cdb_len;
	bool has_copy_lba;	/* EXTENDED COPY: its first source LBA, for */
	uint64_t copy_lba;	/* faults with at_lba */
	int err;		/* set to -errno: execute fails (initiator bug) */
	const char *why;	/* text for that error */
};

/* --- running a command ---------------------------------------------------- */

/* simlu-ops.c: run the CDB in @c through the command table. */
void sim_dispatch(struct sim_ctx *c);
/* simlu-fault.c: the armed fault of @kind that fires on this command, if
 * any (its counters move); faults that replace the command (true when one
 * fired); counting and logging a command. */
struct sim_fault *sim_fault_take(struct sim_ctx *c, enum bc_sim_fault_kind kind);
bool sim_fault_replaces(struct sim_ctx *c);
void sim_count_cmd(struct sim_ctx *c);
void sim_log_cmd(struct sim_ctx *c);
/* An EXTENDED COPY(LID1) arrives (held at the gate, lock dropped while
 * waiting) / is answered; the caller holds the lock. */
void sim_xcopy_enter(struct bc_sim *sim);
void sim_xcopy_leave(struct bc_sim *sim);

/* --- building replies (simlu-ops.c) --------------------------------------- */

/* CHECK CONDITION with fixed-format sense (key, ASC/ASCQ as 0xAAQQ). */
void sim_sense(struct sim_ctx *c, uint8_t key, uint16_t ascq);
/* As sim_sense, with INFORMATION / COMMAND-SPECIFIC fields. */
void sim_sense_full(struct sim_ctx *c, uint8_t key, uint16_t ascq,
		    bool info_valid, uint32_t info, uint32_t cmd_specific);
/* ILLEGAL REQUEST 24/00 pointing at CDB byte @byte. */
void sim_bad_cdb(struct sim_ctx *c, unsigned byte);
/* ILLEGAL REQUEST @ascq pointing at parameter list byte @byte. */
void sim_bad_param(struct sim_ctx *c, uint16_t ascq, unsigned byte);
/* Build the fixed sense bytes into @s (>= 18 bytes); returns 18. */
size_t sim_sense_bytes(uint8_t *s, uint8_t key, uint16_t ascq, bool info_valid,
		       uint32_t info, uint32_t cmd_specific, const uint8_t sks[3]);
/* Send @len bytes of data-in, clipped to the allocation length and the
 * buffer; sets resid. */
void sim_data_in(struct sim_ctx *c, const void *buf, size_t len, size_t alloc);
/*
 * The data-out buffer for a parameter list of @len bytes (the CDB's
 * transfer length).  NULL, with c->err set, when the initiator gave a
 * smaller or wrong-direction buffer; NULL with no error when @len is 0.
 */
const uint8_t *sim_data_out(struct sim_ctx *c, size_t len);
/*
 * A parameter list of @plen bytes that must hold at least @min (else
 * PARAMETER LIST LENGTH ERROR): its bytes, and in *usable how many of them
 * its own 2-byte length field (+2) covers, clamped to @plen.  NULL when
 * the command has already been answered.
 */
const uint8_t *sim_param_list(struct sim_ctx *c, uint32_t plen, size_t min,
			      size_t *usable);

/* --- shared by the handlers (simlu.c) ------------------------------------- */

/* The LU of this sim with a 16-byte NAA designator, or NULL. */
struct sim_lu *sim_lu_by_naa(struct bc_sim *sim, const uint8_t *desig, uint8_t len);
/* Read blocks of @lu as the LU presents them (unmapped = zero or fill). */
void sim_lu_read(struct sim_lu *lu, uint64_t lba, uint64_t n, uint8_t *out);
/* Write blocks; invalidates ROD tokens over them.  -ENOMEM. */
int sim_lu_write(struct bc_sim *sim, struct sim_lu *lu, uint64_t lba,
		 uint64_t n, const uint8_t *in);
/* An unmap operation: anchor (with @anchor or on a resource provisioned
 * LU) or deallocate.  Tokens are the caller's business.  -ENOMEM. */
int sim_lu_release(struct sim_lu *lu, uint64_t lba, uint64_t n, bool anchor);
/* Make blocks read as zeros: unmap if thin (and LBPRZ or a zero fill),
 * else write zeros.  Invalidates ROD tokens.  -ENOMEM. */
int sim_lu_zero(struct bc_sim *sim, struct sim_lu *lu, uint64_t lba, uint64_t n);
/*
 * Copy blocks between LUs (possibly the same one, overlapping) the way
 * the copy manager does, honouring copy_sparse of @dst.  -ENOMEM.
 */
int sim_lu_copy(struct bc_sim *sim, struct sim_lu *src, uint64_t slba,
		struct sim_lu *dst, uint64_t dlba, uint64_t n);
/* An armed COPY_ABORT fault for this command, or NULL (counts it). */
struct sim_fault *sim_copy_fault(struct sim_ctx *c);

/* Held copy operations of this nexus. */
struct sim_list *sim_list_find(struct sim_ctx *c, bool lid1, uint32_t id);
/* A slot for a new operation; NULL with OPERATION IN PROGRESS sent when
 * @id is held by a running one. */
struct sim_list *sim_list_new(struct sim_ctx *c, bool lid1, uint32_t id, uint8_t sa);

/* simlu-cmd.c */
void sim_cmd_tur(struct sim_ctx *c);
void sim_cmd_inquiry(struct sim_ctx *c);
void sim_cmd_report_luns(struct sim_ctx *c);
void sim_cmd_read_capacity10(struct sim_ctx *c);
void sim_cmd_read_capacity16(struct sim_ctx *c);
void sim_cmd_get_lba_status(struct sim_ctx *c);
void sim_cmd_rw(struct sim_ctx *c);
void sim_cmd_write_same(struct sim_ctx *c);
void sim_cmd_unmap(struct sim_ctx *c);
void sim_cmd_sync_cache(struct sim_ctx *c);

/* simlu-copy.c */
void sim_cmd_xcopy_lid1(struct sim_ctx *c);
void sim_cmd_rcr_lid1(struct sim_ctx *c);	/* 0x84 SA 0, 1, 3, 4 */

/* simlu-token.c; the defaults of bc_sim_token_limits live there too */
struct sim_tok_limits {
	unsigned max_ranges;
	uint32_t max_inactivity_s, default_inactivity_s;
	uint64_t max_transfer, optimal_transfer, wut_max_blocks;
	unsigned immed_polls, max_tokens;
	uint32_t status_delay_ms;
	bool never_completes, abort_ignored;
};

void sim_tok_limits(const struct sim_lu *lu, struct sim_tok_limits *t);
void sim_cmd_populate_token(struct sim_ctx *c);
void sim_cmd_write_using_token(struct sim_ctx *c);
void sim_cmd_copy_abort(struct sim_ctx *c);
void sim_cmd_rcs_lid4(struct sim_ctx *c);	/* 0x84 SA 5 and 7 */
/* simlu-pit.c: the ROD type a POPULATE TOKEN gets (0: refused, RTV the
 * bit, @asked its type), whether a token's type is one the sim makes,
 * a persistent token's blocks kept, and written from at ROD block
 * @rodpos.  -ENOMEM. */
uint32_t sim_pit_rod_type(const struct sim_lu *lu, bool rtv, uint32_t asked);
bool sim_pit_known(uint32_t rod_type);
int sim_pit_snapshot(struct bc_sim *sim, struct sim_token *t);
int sim_pit_write(struct bc_sim *sim, const struct sim_token *t, uint64_t rodpos,
		  struct sim_lu *dst, uint64_t dlba, uint64_t k);
/* Invalidate tokens whose source overlaps [lba, lba + n) of @lu. */
void sim_tokens_written(struct bc_sim *sim, unsigned lu, uint64_t lba, uint64_t n);
/* Drop tokens of a sim being freed. */
void sim_tokens_free(struct bc_sim *sim);
/* Run a PENDING token operation now (its last poll came). */
void sim_token_run_pending(struct sim_ctx *c, struct sim_list *l);

#endif
