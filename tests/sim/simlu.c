// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The simulator's core (see simlu.h): the sim and its LUs, the transport
 * each bc_sim_open() returns, command dispatch through one table (which
 * also answers REPORT SUPPORTED OPERATION CODES), fault injection, the
 * command log, and the helpers handlers build replies with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlu-int.h"

/* One I_T nexus: what a transport's priv points to. */
struct sim_port {
	struct bc_sim *sim;
	unsigned lu;
	bool ua_new;			/* LIO's 3F/0E still to be reported */
	struct sim_list list[SIM_MAX_LISTS];
	struct bc_scsi_cmd *queue[8];	/* submitted, not yet run */
	unsigned queued;
};

/* --- presets ------------------------------------------------------------- */

static void cfg_base(struct bc_sim_lu_cfg *c, uint64_t blocks, uint32_t bs,
		     unsigned n, const char *product)
{
	memset(c, 0, sizeof(*c));
	c->blocks = blocks;
	c->block_size = bs;
	/* NAA-6 with LIO's OUI 0x001405 and @n in the vendor-specific part */
	c->naa[0] = 0x60;
	c->naa[1] = 0x01;
	c->naa[2] = 0x40;
	c->naa[3] = 0x5a;
	sim_put32(c->naa + 8, 0x51e00000u);
	sim_put32(c->naa + 12, n);
	snprintf(c->vendor, sizeof(c->vendor), "BCSIM");
	snprintf(c->product, sizeof(c->product), "%s", product);
	snprintf(c->serial, sizeof(c->serial), "sim%08x", n);
	c->thin = true;
}

void bc_sim_lu_cfg_lio(struct bc_sim_lu_cfg *c, uint64_t blocks,
		       uint32_t block_size, unsigned n)
{
	cfg_base(c, blocks, block_size, n, "lio-like");
	c->max_transfer = 8192;
	c->max_unmap_lba_count = 8192;
	c->max_unmap_desc = 1;
	c->max_write_same = 4096;
	c->ws_refuse_zero_len = true;
	c->ws_refuse_ndob = true;
	c->ua_new_nexus = true;
	c->xcopy = BC_SIM_XCOPY_LIO;
}

void bc_sim_lu_cfg_spc(struct bc_sim_lu_cfg *c, uint64_t blocks,
		       uint32_t block_size, unsigned n)
{
	cfg_base(c, blocks, block_size, n, "spc");
	c->lbprz = true;
	c->gls = true;
	c->rsoc = true;
	c->max_unmap_lba_count = 0x100000;
	c->max_unmap_desc = 64;
	c->max_write_same = 0x100000;
	c->xcopy = BC_SIM_XCOPY_SPC;
	c->token = true;
	c->copy_sparse = true;
}

/* --- the sim and its LUs ---------------------------------------------------- */

struct bc_sim *bc_sim_new(void)
{
	struct bc_sim *sim = calloc(1, sizeof(*sim));
	uint64_t x;

	if (!sim)
		return NULL;
	if (pthread_mutex_init(&sim->lock, NULL)) {
		free(sim);
		return NULL;
	}
	/* an identity and a token key from the sim's own address: unique
	 * among live sims, no global counter needed */
	x = (uint64_t)(uintptr_t)sim * 0x9e3779b97f4a7c15ull;
	snprintf(sim->id, sizeof(sim->id), "%012llx",
		 (unsigned long long)(x >> 16));
	sim->secret = x ^ 0x5bd1e9955bd1e995ull;
	sim->refs = 1;
	sim->next_token_id = 1;
	return sim;
}

static void sim_destroy(struct bc_sim *sim)
{
	for (unsigned i = 0; i < sim->nlu; i++) {
		sim_store_free(&sim->lu[i]->store);
		free(sim->lu[i]);
	}
	free(sim->lu);
	sim_tokens_free(sim);
	pthread_mutex_destroy(&sim->lock);
	free(sim);
}

/* Drop one reference; the caller holds the lock, which this releases. */
static void sim_unref_unlock(struct bc_sim *sim)
{
	bool last = --sim->refs == 0;

	pthread_mutex_unlock(&sim->lock);
	if (last)
		sim_destroy(sim);
}

void bc_sim_free(struct bc_sim *sim)
{
	if (!sim)
		return;
	pthread_mutex_lock(&sim->lock);
	sim->freed = true;
	sim_unref_unlock(sim);
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int bc_sim_add_lu(struct bc_sim *sim, const struct bc_sim_lu_cfg *cfg)
{
	struct sim_lu *lu, **tab;
	int rc;

	if (!cfg->blocks || cfg->block_size < 512 || cfg->block_size > 65536 ||
	    !pow2(cfg->block_size) || cfg->blocks > UINT64_MAX / 2 / cfg->block_size ||
	    cfg->naa[0] >> 4 != 6)
		return -EINVAL;
	lu = calloc(1, sizeof(*lu));
	if (!lu)
		return -ENOMEM;
	lu->cfg = *cfg;
	/* strings from a caller may lack their terminator */
	lu->cfg.vendor[sizeof(lu->cfg.vendor) - 1] = '\0';
	lu->cfg.product[sizeof(lu->cfg.product) - 1] = '\0';
	lu->cfg.serial[sizeof(lu->cfg.serial) - 1] = '\0';
	if ((rc = sim_store_init(&lu->store, cfg->block_size)) < 0) {
		free(lu);
		return rc;
	}
	pthread_mutex_lock(&sim->lock);
	tab = realloc(sim->lu, (sim->nlu + 1) * sizeof(*tab));
	if (!tab) {
		pthread_mutex_unlock(&sim->lock);
		sim_store_free(&lu->store);
		free(lu);
		return -ENOMEM;
	}
	sim->lu = tab;
	lu->index = sim->nlu;
	sim->lu[sim->nlu++] = lu;
	pthread_mutex_unlock(&sim->lock);
	return (int)lu->index;
}

const struct bc_sim_lu_cfg *bc_sim_lu_cfg(const struct bc_sim *sim, unsigned lu)
{
	return lu < sim->nlu ? &sim->lu[lu]->cfg : NULL;
}

void bc_sim_advance(struct bc_sim *sim, uint64_t ms)
{
	pthread_mutex_lock(&sim->lock);
	sim->now_ms += ms;
	pthread_mutex_unlock(&sim->lock);
}

uint64_t bc_sim_now(const struct bc_sim *sim)
{
	return sim->now_ms;
}

/* --- LU helpers shared by the handlers ------------------------------------- */

struct sim_lu *sim_lu_by_naa(struct bc_sim *sim, const uint8_t *desig, uint8_t len)
{
	if (len != 16)
		return NULL;
	for (unsigned i = 0; i < sim->nlu; i++)
		if (!memcmp(sim->lu[i]->cfg.naa, desig, 16))
			return sim->lu[i];
	return NULL;
}

void sim_lu_read(struct sim_lu *lu, uint64_t lba, uint64_t n, uint8_t *out)
{
	/* a fully provisioned LU reads zeros where nothing was written */
	uint8_t fill = !lu->cfg.thin || lu->cfg.lbprz ? 0 : lu->cfg.unmapped_fill;

	sim_store_read(&lu->store, lba, n, out, fill);
}

int sim_lu_write(struct bc_sim *sim, struct sim_lu *lu, uint64_t lba,
		 uint64_t n, const uint8_t *in)
{
	sim_tokens_written(sim, lu->index, lba, n);
	return sim_store_write(&lu->store, lba, n, in);
}

static bool unmap_reads_zero(const struct sim_lu *lu)
{
	return lu->cfg.thin && (lu->cfg.lbprz || !lu->cfg.unmapped_fill);
}

int sim_lu_zero(struct bc_sim *sim, struct sim_lu *lu, uint64_t lba, uint64_t n)
{
	uint8_t *zero;
	int rc = 0;

	sim_tokens_written(sim, lu->index, lba, n);
	if (unmap_reads_zero(lu)) {
		sim_store_unmap(&lu->store, lba, n);
		return 0;
	}
	zero = calloc(1, SIM_CHUNK_BYTES > lu->cfg.block_size ?
			 SIM_CHUNK_BYTES : lu->cfg.block_size);
	if (!zero)
		return -ENOMEM;
	while (n && !rc) {
		uint64_t k = lu->store.chunk_blocks;

		if (k > n)
			k = n;
		rc = sim_store_write(&lu->store, lba, k, zero);
		lba += k;
		n -= k;
	}
	free(zero);
	return rc;
}

int sim_lu_copy(struct bc_sim *sim, struct sim_lu *src, uint64_t slba,
		struct sim_lu *dst, uint64_t dlba, uint64_t n)
{
	uint32_t bs = src->cfg.block_size;
	uint64_t step = 1048576 / bs ? 1048576 / bs : 1;
	bool sparse = dst->cfg.copy_sparse && unmap_reads_zero(dst) && src->cfg.thin;
	bool backward = src == dst && slba < dlba && dlba < slba + n;
	size_t piece = (size_t)(step < n ? step : n);
	uint8_t *buf = malloc(piece * bs), *map = malloc(piece);
	int rc = 0;

	if (!buf || !map) {
		free(buf);
		free(map);
		return -ENOMEM;
	}
	/*
	 * Piece by piece, each read whole (data and map) before any of it
	 * is written, and overlapping forward copies back to front, as
	 * memmove does: the source is never read after it was overwritten.
	 */
	while (n && !rc) {
		uint64_t k = n < step ? n : step;
		uint64_t s = backward ? slba + n - k : slba;
		uint64_t d = backward ? dlba + n - k : dlba;

		sim_lu_read(src, s, k, buf);
		memset(map, 1, (size_t)k);
		for (uint64_t j = 0; sparse && j < k;) {
			bool mapped;
			uint64_t run = sim_store_run(&src->store, s + j, k - j, &mapped);

			memset(map + j, mapped, (size_t)run);
			j += run;
		}
		for (uint64_t j = 0; j < k && !rc;) {
			uint64_t run = 1;

			while (j + run < k && map[j + run] == map[j])
				run++;
			if (map[j])
				rc = sim_lu_write(sim, dst, d + j, run, buf + j * bs);
			else
				rc = sim_lu_zero(sim, dst, d + j, run);
			j += run;
		}
		n -= k;
		if (!backward) {
			slba += k;
			dlba += k;
		}
	}
	free(buf);
	free(map);
	return rc;
}

/* --- direct access ------------------------------------------------------------ */

static struct sim_lu *lu_range(struct bc_sim *sim, unsigned lu, uint64_t lba,
			       uint64_t n)
{
	if (lu >= sim->nlu || lba > sim->lu[lu]->cfg.blocks ||
	    n > sim->lu[lu]->cfg.blocks - lba)
		return NULL;
	return sim->lu[lu];
}

int bc_sim_read(struct bc_sim *sim, unsigned lu, uint64_t lba, uint32_t blocks,
		void *buf)
{
	struct sim_lu *l;

	pthread_mutex_lock(&sim->lock);
	l = lu_range(sim, lu, lba, blocks);
	if (l)
		sim_lu_read(l, lba, blocks, buf);
	pthread_mutex_unlock(&sim->lock);
	return l ? 0 : -EINVAL;
}

int bc_sim_write(struct bc_sim *sim, unsigned lu, uint64_t lba, uint32_t blocks,
		 const void *buf)
{
	struct sim_lu *l;
	int rc = -EINVAL;

	pthread_mutex_lock(&sim->lock);
	l = lu_range(sim, lu, lba, blocks);
	if (l)
		rc = sim_lu_write(sim, l, lba, blocks, buf);
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

bool bc_sim_mapped(struct bc_sim *sim, unsigned lu, uint64_t lba)
{
	struct sim_lu *l;
	bool m = false;

	pthread_mutex_lock(&sim->lock);
	l = lu_range(sim, lu, lba, 1);
	if (l)
		m = !l->cfg.thin || sim_store_mapped(&l->store, lba);
	pthread_mutex_unlock(&sim->lock);
	return m;
}

uint64_t bc_sim_mapped_blocks(struct bc_sim *sim, unsigned lu)
{
	uint64_t n;

	pthread_mutex_lock(&sim->lock);
	n = lu < sim->nlu ? sim->lu[lu]->store.mapped : 0;
	pthread_mutex_unlock(&sim->lock);
	return n;
}

uint64_t bc_sim_memory(struct bc_sim *sim, unsigned lu)
{
	uint64_t n = 0;

	pthread_mutex_lock(&sim->lock);
	if (lu < sim->nlu) {
		const struct sim_store *st = &sim->lu[lu]->store;

		n = st->used * (sizeof(struct sim_chunk) +
				(uint64_t)st->chunk_blocks * st->bs) +
		    st->cap * sizeof(void *);
	}
	pthread_mutex_unlock(&sim->lock);
	return n;
}

/* --- reply helpers -------------------------------------------------------------- */

size_t sim_sense_bytes(uint8_t *s, uint8_t key, uint16_t ascq, bool info_valid,
		       uint32_t info, uint32_t cmd_specific, const uint8_t sks[3])
{
	memset(s, 0, 18);
	s[0] = (uint8_t)(0x70 | (info_valid ? 0x80 : 0));	/* current, fixed */
	s[2] = key & 0x0f;
	sim_put32(s + 3, info);
	s[7] = 10;					/* bytes 8..17 follow */
	sim_put32(s + 8, cmd_specific);
	s[12] = (uint8_t)(ascq >> 8);
	s[13] = (uint8_t)ascq;
	if (sks)
		memcpy(s + 15, sks, 3);
	return 18;
}

static void set_sense(struct sim_ctx *c, uint8_t key, uint16_t ascq,
		      bool info_valid, uint32_t info, uint32_t csi,
		      const uint8_t sks[3])
{
	struct bc_scsi_cmd *cmd = c->cmd;

	cmd->status = BC_SAM_CHECK_CONDITION;
	cmd->sense_len = sim_sense_bytes(cmd->sense, key, ascq, info_valid, info,
					 csi, sks);
	cmd->resid = cmd->dir == BC_SCSI_DIR_IN ? cmd->data_len : 0;
}

void sim_sense(struct sim_ctx *c, uint8_t key, uint16_t ascq)
{
	set_sense(c, key, ascq, false, 0, 0, NULL);
}

void sim_sense_full(struct sim_ctx *c, uint8_t key, uint16_t ascq,
		    bool info_valid, uint32_t info, uint32_t cmd_specific)
{
	set_sense(c, key, ascq, info_valid, info, cmd_specific, NULL);
}

void sim_bad_cdb(struct sim_ctx *c, unsigned byte)
{
	/* SKSV, C/D = 1 (the CDB), field pointer */
	uint8_t sks[3] = { 0xc0, (uint8_t)(byte >> 8), (uint8_t)byte };

	set_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_CDB_FIELD, false, 0, 0, sks);
}

void sim_bad_param(struct sim_ctx *c, uint16_t ascq, unsigned byte)
{
	/* SKSV, C/D = 0 (the parameter list), field pointer */
	uint8_t sks[3] = { 0x80, (uint8_t)(byte >> 8), (uint8_t)byte };

	set_sense(c, SK_ILLEGAL_REQUEST, ascq, false, 0, 0, byte > 0xffff ? NULL : sks);
}

void sim_data_in(struct sim_ctx *c, const void *buf, size_t len, size_t alloc)
{
	struct bc_scsi_cmd *cmd = c->cmd;
	size_t room = cmd->dir == BC_SCSI_DIR_IN && cmd->data ? cmd->data_len : 0;
	size_t n = len < alloc ? len : alloc;

	if (n > room)
		n = room;
	if (n)
		memcpy(cmd->data, buf, n);
	cmd->resid = room - n;
}

const uint8_t *sim_data_out(struct sim_ctx *c, size_t len)
{
	struct bc_scsi_cmd *cmd = c->cmd;

	if (!len)
		return NULL;
	if (cmd->dir != BC_SCSI_DIR_OUT || !cmd->data || cmd->data_len < len) {
		c->err = -EINVAL;
		c->why = "data-out buffer missing or shorter than the CDB's transfer length";
		return NULL;
	}
	return cmd->data;
}

/* --- held copy operations ------------------------------------------------------- */

struct sim_list *sim_list_find(struct sim_ctx *c, bool lid1, uint32_t id)
{
	for (unsigned i = 0; i < SIM_MAX_LISTS; i++) {
		struct sim_list *l = &c->port->list[i];

		if (l->state != SIM_LIST_FREE && l->lid1 == lid1 && l->id == id)
			return l;
	}
	return NULL;
}

static void list_release(struct sim_list *l)
{
	free(l->params);
	memset(l, 0, sizeof(*l));
}

struct sim_list *sim_list_new(struct sim_ctx *c, bool lid1, uint32_t id, uint8_t sa)
{
	struct sim_list *l = sim_list_find(c, lid1, id), *old = NULL;

	if (l && l->state == SIM_LIST_PENDING) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_OP_IN_PROGRESS);
		return NULL;
	}
	if (!l) {
		/* a free slot, else the oldest finished operation makes room */
		for (unsigned i = 0; i < SIM_MAX_LISTS && !l; i++) {
			struct sim_list *s = &c->port->list[i];

			if (s->state == SIM_LIST_FREE)
				l = s;
			else if (s->state != SIM_LIST_PENDING &&
				 (!old || s->seq < old->seq))
				old = s;
		}
		if (!l)
			l = old;
		if (!l) {
			sim_sense(c, SK_ILLEGAL_REQUEST, ASC_OP_IN_PROGRESS);
			return NULL;
		}
	}
	list_release(l);
	l->state = SIM_LIST_DONE;
	l->lid1 = lid1;
	l->id = id;
	l->sa = sa;
	l->seq = ++c->sim->next_seq;
	return l;
}

/* --- faults ---------------------------------------------------------------------- */

int bc_sim_inject(struct bc_sim *sim, const struct bc_sim_fault *f)
{
	int rc = -ENOSPC;

	if (f->kind < BC_SIM_FAULT_CHECK || f->kind > BC_SIM_FAULT_COPY_ABORT)
		return -EINVAL;
	pthread_mutex_lock(&sim->lock);
	for (unsigned i = 0; i < SIM_MAX_FAULTS; i++) {
		if (sim->fault[i].armed)
			continue;
		sim->fault[i] = (struct sim_fault){ .f = *f, .armed = true };
		if (!sim->fault[i].f.count)
			sim->fault[i].f.count = 1;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

void bc_sim_clear_faults(struct bc_sim *sim)
{
	pthread_mutex_lock(&sim->lock);
	memset(sim->fault, 0, sizeof(sim->fault));
	pthread_mutex_unlock(&sim->lock);
}

unsigned bc_sim_faults_fired(const struct bc_sim *sim)
{
	return sim->faults_fired;
}

static bool fault_matches(const struct sim_fault *sf, const struct sim_ctx *c)
{
	const struct bc_sim_fault *f = &sf->f;

	return sf->armed &&
	       (f->lu == BC_SIM_ANY || (unsigned)f->lu == c->lu->index) &&
	       (f->opcode == BC_SIM_ANY || f->opcode == c->cdb[0]) &&
	       (f->sa == BC_SIM_ANY || f->sa == (c->cdb[1] & 0x1f));
}

/* The fault of @kind that fires on this command, if any (counted). */
static struct sim_fault *fault_take(struct sim_ctx *c, enum bc_sim_fault_kind kind)
{
	for (unsigned i = 0; i < SIM_MAX_FAULTS; i++) {
		struct sim_fault *sf = &c->sim->fault[i];

		if (sf->f.kind != kind || !fault_matches(sf, c))
			continue;
		if (sf->seen++ < sf->f.skip)
			continue;
		if (++sf->fired >= sf->f.count)
			sf->armed = false;
		c->sim->faults_fired++;
		return sf;
	}
	return NULL;
}

struct sim_fault *sim_copy_fault(struct sim_ctx *c)
{
	return fault_take(c, BC_SIM_FAULT_COPY_ABORT);
}

/* Faults that replace the command; true when one fired. */
static bool fault_replaces(struct sim_ctx *c)
{
	struct sim_fault *sf;

	if ((sf = fault_take(c, BC_SIM_FAULT_STATUS))) {
		c->cmd->status = sf->f.status;
		return true;
	}
	if ((sf = fault_take(c, BC_SIM_FAULT_UNIT_ATTENTION))) {
		sim_sense(c, SK_UNIT_ATTENTION, sf->f.asc || sf->f.ascq ?
			  (uint16_t)(sf->f.asc << 8 | sf->f.ascq) : ASC_UA_POWER_ON);
		return true;
	}
	if ((sf = fault_take(c, BC_SIM_FAULT_CHECK))) {
		sim_sense_full(c, sf->f.key, (uint16_t)(sf->f.asc << 8 | sf->f.ascq),
			       sf->f.info_valid, sf->f.information, 0);
		return true;
	}
	return false;
}

/* --- counters and log -------------------------------------------------------------- */

static int sa_slot(uint8_t op)
{
	switch (op) {
	case 0x83: return 0;
	case 0x84: return 1;
	case 0x9e: return 2;
	case 0xa3: return 3;
	default: return -1;
	}
}

unsigned long bc_sim_count(const struct bc_sim *csim, int lu, uint8_t opcode, int sa)
{
	struct bc_sim *sim = (struct bc_sim *)csim;	/* the lock is not state */
	unsigned long n = 0;
	int slot = sa_slot(opcode);

	pthread_mutex_lock(&sim->lock);
	for (unsigned i = 0; i < sim->nlu; i++) {
		if (lu != BC_SIM_ANY && (unsigned)lu != i)
			continue;
		if (sa == BC_SIM_ANY || slot < 0)
			n += sim->lu[i]->op_count[opcode];
		else if (sa >= 0 && sa < 32)
			n += sim->lu[i]->sa_count[slot][sa];
	}
	pthread_mutex_unlock(&sim->lock);
	return n;
}

size_t bc_sim_log(const struct bc_sim *csim, struct bc_sim_log_entry *out, size_t max)
{
	struct bc_sim *sim = (struct bc_sim *)csim;
	size_t n, first;

	pthread_mutex_lock(&sim->lock);
	n = sim->log_len < max ? sim->log_len : max;
	/* the newest @n entries, oldest first */
	first = (sim->log_next + BC_SIM_LOG_MAX - n) % BC_SIM_LOG_MAX;
	for (size_t i = 0; i < n; i++)
		out[i] = sim->log[(first + i) % BC_SIM_LOG_MAX];
	pthread_mutex_unlock(&sim->lock);
	return n;
}

void bc_sim_reset_counters(struct bc_sim *sim)
{
	pthread_mutex_lock(&sim->lock);
	for (unsigned i = 0; i < sim->nlu; i++) {
		memset(sim->lu[i]->op_count, 0, sizeof(sim->lu[i]->op_count));
		memset(sim->lu[i]->sa_count, 0, sizeof(sim->lu[i]->sa_count));
	}
	sim->log_len = sim->log_next = 0;
	pthread_mutex_unlock(&sim->lock);
}

static void count(struct sim_ctx *c)
{
	int slot = sa_slot(c->cdb[0]);

	c->lu->op_count[c->cdb[0]]++;
	if (slot >= 0 && c->cdb_len > 1)
		c->lu->sa_count[slot][c->cdb[1] & 0x1f]++;
}

static void log_cmd(struct sim_ctx *c)
{
	struct bc_sim_log_entry *e = &c->sim->log[c->sim->log_next];
	const struct bc_scsi_cmd *cmd = c->cmd;

	memset(e, 0, sizeof(*e));
	e->lu = c->lu->index;
	e->cdb_len = c->cdb_len > 16 ? 16 : c->cdb_len;
	memcpy(e->cdb, c->cdb, e->cdb_len);
	e->status = cmd->status;
	if (cmd->status == BC_SAM_CHECK_CONDITION && cmd->sense_len >= 14) {
		e->key = cmd->sense[2] & 0x0f;
		e->asc = cmd->sense[12];
		e->ascq = cmd->sense[13];
	}
	c->sim->log_next = (c->sim->log_next + 1) % BC_SIM_LOG_MAX;
	if (c->sim->log_len < BC_SIM_LOG_MAX)
		c->sim->log_len++;
}

/* --- the command table ------------------------------------------------------------- */

enum { NEED_THIN = 1, NEED_GLS = 2, NEED_XCOPY = 4, NEED_XCOPY_SPC = 8,
       NEED_TOKEN = 16, NEED_RSOC = 32 };

struct sim_op {
	uint8_t op;
	int sa;			/* -1: the opcode has no service actions */
	uint8_t cdb_len;
	unsigned need;
	void (*run)(struct sim_ctx *c);
	const char *name;
};

static void sim_cmd_rsoc(struct sim_ctx *c);

static const struct sim_op ops[] = {
	{ 0x00, -1, 6, 0, sim_cmd_tur, "TEST UNIT READY" },
	{ 0x12, -1, 6, 0, sim_cmd_inquiry, "INQUIRY" },
	{ 0x25, -1, 10, 0, sim_cmd_read_capacity10, "READ CAPACITY(10)" },
	{ 0x28, -1, 10, 0, sim_cmd_rw, "READ(10)" },
	{ 0x2a, -1, 10, 0, sim_cmd_rw, "WRITE(10)" },
	{ 0x35, -1, 10, 0, sim_cmd_sync_cache, "SYNCHRONIZE CACHE(10)" },
	{ 0x41, -1, 10, 0, sim_cmd_write_same, "WRITE SAME(10)" },
	{ 0x42, -1, 10, NEED_THIN, sim_cmd_unmap, "UNMAP" },
	{ 0x83, 0x00, 16, NEED_XCOPY, sim_cmd_xcopy_lid1, "EXTENDED COPY(LID1)" },
	{ 0x83, 0x10, 16, NEED_TOKEN, sim_cmd_populate_token, "POPULATE TOKEN" },
	{ 0x83, 0x11, 16, NEED_TOKEN, sim_cmd_write_using_token, "WRITE USING TOKEN" },
	{ 0x83, 0x1c, 16, NEED_TOKEN, sim_cmd_copy_abort, "COPY OPERATION ABORT" },
	{ 0x84, 0x00, 16, NEED_XCOPY_SPC, sim_cmd_rcr_lid1, "RECEIVE COPY STATUS(LID1)" },
	{ 0x84, 0x01, 16, NEED_XCOPY_SPC, sim_cmd_rcr_lid1, "RECEIVE COPY DATA(LID1)" },
	{ 0x84, 0x03, 16, NEED_XCOPY, sim_cmd_rcr_lid1, "RECEIVE COPY OPERATING PARAMETERS" },
	{ 0x84, 0x04, 16, NEED_XCOPY_SPC, sim_cmd_rcr_lid1, "RECEIVE COPY FAILURE DETAILS(LID1)" },
	{ 0x84, 0x05, 16, NEED_TOKEN, sim_cmd_rcs_lid4, "RECEIVE COPY STATUS(LID4)" },
	{ 0x84, 0x07, 16, NEED_TOKEN, sim_cmd_rcs_lid4, "RECEIVE ROD TOKEN INFORMATION" },
	{ 0x88, -1, 16, 0, sim_cmd_rw, "READ(16)" },
	{ 0x8a, -1, 16, 0, sim_cmd_rw, "WRITE(16)" },
	{ 0x91, -1, 16, 0, sim_cmd_sync_cache, "SYNCHRONIZE CACHE(16)" },
	{ 0x93, -1, 16, 0, sim_cmd_write_same, "WRITE SAME(16)" },
	{ 0x9e, 0x10, 16, 0, sim_cmd_read_capacity16, "READ CAPACITY(16)" },
	{ 0x9e, 0x12, 16, NEED_GLS, sim_cmd_get_lba_status, "GET LBA STATUS" },
	{ 0xa0, -1, 12, 0, sim_cmd_report_luns, "REPORT LUNS" },
	{ 0xa3, 0x0c, 12, NEED_RSOC, sim_cmd_rsoc, "REPORT SUPPORTED OPERATION CODES" },
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

static bool op_enabled(const struct sim_op *o, const struct sim_lu *lu)
{
	const struct bc_sim_lu_cfg *cfg = &lu->cfg;

	return (!(o->need & NEED_THIN) || cfg->thin) &&
	       (!(o->need & NEED_GLS) || cfg->gls) &&
	       (!(o->need & NEED_XCOPY) || cfg->xcopy != BC_SIM_XCOPY_NONE) &&
	       (!(o->need & NEED_XCOPY_SPC) || cfg->xcopy == BC_SIM_XCOPY_SPC) &&
	       (!(o->need & NEED_TOKEN) || cfg->token) &&
	       (!(o->need & NEED_RSOC) || cfg->rsoc);
}

/* Does this LU implement @op at all (any service action)? */
static bool opcode_known(uint8_t op, const struct sim_lu *lu)
{
	for (size_t i = 0; i < NOPS; i++)
		if (ops[i].op == op && op_enabled(&ops[i], lu))
			return true;
	return false;
}

static const struct sim_op *op_find(uint8_t op, int sa)
{
	for (size_t i = 0; i < NOPS; i++)
		if (ops[i].op == op && (ops[i].sa < 0 || ops[i].sa == sa))
			return &ops[i];
	return NULL;
}

static size_t rsoc_desc(uint8_t *p, const struct sim_op *o, bool rctd)
{
	memset(p, 0, rctd ? 20 : 8);
	p[0] = o->op;
	sim_put16(p + 2, o->sa < 0 ? 0 : (uint16_t)o->sa);
	p[5] = (uint8_t)((o->sa >= 0 ? 0x01 : 0) | (rctd ? 0x02 : 0));
	sim_put16(p + 6, o->cdb_len);
	if (rctd)
		sim_put16(p + 8, 10);	/* timeouts descriptor: all zero */
	return rctd ? 20 : 8;
}

static void sim_cmd_rsoc(struct sim_ctx *c)
{
	uint8_t buf[4 + NOPS * 20], opt = c->cdb[2] & 0x07, req = c->cdb[3];
	uint16_t rsa = sim_be16(c->cdb + 4);
	uint32_t alloc = sim_be32(c->cdb + 6);
	bool rctd = c->cdb[2] & 0x80, has_sa = false;
	const struct sim_op *o = NULL;
	size_t n = 4;

	if (opt == 0) {
		for (size_t i = 0; i < NOPS; i++)
			if (op_enabled(&ops[i], c->lu))
				n += rsoc_desc(buf + n, &ops[i], rctd);
		sim_put32(buf, (uint32_t)(n - 4));
		sim_data_in(c, buf, n, alloc);
		return;
	}
	if (opt > 3) {
		sim_bad_cdb(c, 2);
		return;
	}
	for (size_t i = 0; i < NOPS; i++) {
		if (ops[i].op != req)
			continue;
		has_sa = ops[i].sa >= 0;
		if (!has_sa || ops[i].sa == rsa)
			o = &ops[i];
	}
	/* option 1 names an opcode without service actions, option 2 one
	 * with; option 3 either */
	if ((opt == 1 && has_sa) || (opt == 2 && !has_sa && (o || opcode_known(req, c->lu)))) {
		sim_bad_cdb(c, 2);
		return;
	}
	memset(buf, 0, sizeof(buf));
	if (o && op_enabled(o, c->lu)) {
		buf[1] = (uint8_t)(0x03 | (rctd ? 0x80 : 0));	/* supported */
		sim_put16(buf + 2, o->cdb_len);
		/* CDB usage data: which bits of each byte the sim looks at */
		buf[4] = o->op;
		for (unsigned i = 1; i < o->cdb_len; i++)
			buf[4 + i] = 0xff;
		if (o->sa >= 0)
			buf[5] = 0x1f;
		n = 4 + o->cdb_len;
		if (rctd) {
			sim_put16(buf + n, 10);
			n += 12;
		}
	} else {
		buf[1] = 0x01;		/* not supported */
	}
	sim_data_in(c, buf, n, alloc);
}

static void dispatch(struct sim_ctx *c)
{
	const struct sim_op *o;
	int sa = c->cdb_len > 1 ? c->cdb[1] & 0x1f : 0;

	if (!opcode_known(c->cdb[0], c->lu)) {
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		return;
	}
	o = op_find(c->cdb[0], sa);
	if (!o || !op_enabled(o, c->lu)) {
		sim_bad_cdb(c, 1);		/* a service action we lack */
		return;
	}
	if (c->cdb_len < o->cdb_len) {
		sim_bad_cdb(c, c->cdb_len);	/* a truncated CDB */
		return;
	}
	o->run(c);
}

/* --- the transport ---------------------------------------------------------------- */

static int run_cmd(struct sim_port *p, struct bc_scsi_cmd *cmd, struct bc_error *e,
		   const char *tname)
{
	struct bc_sim *sim = p->sim;
	struct sim_ctx c = { .sim = sim, .port = p, .cmd = cmd, .cdb = cmd->cdb };
	int rc = 0;

	cmd->status = BC_SAM_GOOD;
	cmd->sense_len = 0;
	cmd->resid = 0;
	if (!cmd->cdb_len || cmd->cdb_len > sizeof(cmd->cdb))
		return bc_error_set(e, -EINVAL, tname, "sim", "CDB length %u",
				    cmd->cdb_len);
	c.cdb_len = cmd->cdb_len;
	pthread_mutex_lock(&sim->lock);
	c.lu = sim->lu[p->lu];
	if (fault_take(&c, BC_SIM_FAULT_DISCONNECT)) {
		pthread_mutex_unlock(&sim->lock);
		return bc_error_set(e, -ECONNRESET, tname, "sim",
				    "connection reset (injected)");
	}
	count(&c);
	if (p->ua_new) {
		/* LIO: every new initiator first hears "reported LUNs data
		 * has changed"; INQUIRY and REPORT LUNS are exempt (SAM) */
		if (cmd->cdb[0] != 0x12 && cmd->cdb[0] != 0xa0) {
			p->ua_new = false;
			sim_sense(&c, SK_UNIT_ATTENTION, ASC_UA_LUNS_CHANGED);
		}
	}
	if (cmd->status == BC_SAM_GOOD && !fault_replaces(&c))
		dispatch(&c);
	if (c.err) {
		rc = c.err;
	} else {
		log_cmd(&c);
	}
	pthread_mutex_unlock(&sim->lock);
	if (rc)
		bc_error_set(e, rc, tname, "sim", "%s", c.why ? c.why : "refused");
	return rc;
}

static int sim_execute(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		       struct bc_error *e)
{
	return run_cmd(t->priv, cmd, e, t->name);
}

static int sim_submit(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		      struct bc_error *e)
{
	struct sim_port *p = t->priv;

	if (p->queued >= sizeof(p->queue) / sizeof(p->queue[0]))
		return bc_error_set(e, -EAGAIN, t->name, "sim", "queue full");
	p->queue[p->queued++] = cmd;
	return 0;
}

static int sim_poll(struct bc_scsi_transport *t, int timeout_ms, struct bc_error *e)
{
	struct sim_port *p = t->priv;
	struct bc_scsi_cmd *q[8];
	unsigned n = p->queued;

	(void)timeout_ms;
	/* callbacks may submit again: run a snapshot of the queue */
	memcpy(q, p->queue, n * sizeof(q[0]));
	p->queued = 0;
	for (unsigned i = 0; i < n; i++) {
		struct bc_error ce;
		int rc;

		bc_error_clear(&ce);
		rc = run_cmd(p, q[i], &ce, t->name);
		if (rc && e)
			*e = ce;
		if (q[i]->done)
			q[i]->done(q[i], rc, q[i]->done_arg);
	}
	return (int)n;
}

static unsigned sim_inflight(struct bc_scsi_transport *t)
{
	return ((struct sim_port *)t->priv)->queued;
}

static void sim_close(struct bc_scsi_transport *t)
{
	struct sim_port *p = t->priv;
	struct bc_sim *sim = p->sim;

	pthread_mutex_lock(&sim->lock);
	for (unsigned i = 0; i < SIM_MAX_LISTS; i++)
		list_release(&p->list[i]);
	free(p);
	free(t);
	sim_unref_unlock(sim);
}

static const struct bc_scsi_transport_ops sim_ops = {
	.name = "sim",
	.execute = sim_execute,
	.submit = sim_submit,
	.poll = sim_poll,
	.inflight = sim_inflight,
	.close = sim_close,
};

int bc_sim_open(struct bc_sim *sim, unsigned lu, struct bc_scsi_transport **out)
{
	struct bc_scsi_transport *t;
	struct sim_port *p;

	*out = NULL;
	pthread_mutex_lock(&sim->lock);
	if (lu >= sim->nlu || sim->freed) {
		pthread_mutex_unlock(&sim->lock);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	p = calloc(1, sizeof(*p));
	if (!t || !p) {
		pthread_mutex_unlock(&sim->lock);
		free(t);
		free(p);
		return -ENOMEM;
	}
	p->sim = sim;
	p->lu = lu;
	p->ua_new = sim->lu[lu]->cfg.ua_new_nexus;
	sim->refs++;
	t->ops = &sim_ops;
	t->priv = p;
	t->lun = lu;
	t->max_queue = sizeof(p->queue) / sizeof(p->queue[0]);
	snprintf(t->name, sizeof(t->name), "sim:%s/%u", sim->id, lu);
	snprintf(t->target_id, sizeof(t->target_id), "sim:%s", sim->id);
	snprintf(t->copy_domain, sizeof(t->copy_domain), "sim:%s", sim->id);
	pthread_mutex_unlock(&sim->lock);
	*out = t;
	return 0;
}
