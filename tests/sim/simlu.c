// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The simulator's core (see simlu.h): the sim and its LUs, the medium as
 * the copy manager and the handlers use it, held copy operations, and the
 * transport each bc_sim_open() returns.  Dispatch and replies are in
 * simlu-ops.c, faults and counters in simlu-fault.c.
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

/* --- presets -------------------------------------------------------------- */

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
	c->unmap_granularity = 1;	/* target_core_file.c, for a file */
	c->prov_type_unreported = true;
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

/* --- the sim and its LUs -------------------------------------------------- */

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
	if (pthread_cond_init(&sim->gate_cond, NULL)) {
		pthread_mutex_destroy(&sim->lock);
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
	pthread_cond_destroy(&sim->gate_cond);
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

uint64_t bc_sim_now(const struct bc_sim *csim)
{
	struct bc_sim *sim = (struct bc_sim *)csim;	/* the lock is not state */
	uint64_t now;

	pthread_mutex_lock(&sim->lock);
	now = sim->now_ms;
	pthread_mutex_unlock(&sim->lock);
	return now;
}

/* --- LU helpers shared by the handlers ------------------------------------ */

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

int sim_lu_release(struct sim_lu *lu, uint64_t lba, uint64_t n, bool anchor)
{
	if (anchor || lu->cfg.resource)
		return sim_store_anchor(&lu->store, lba, n);
	sim_store_unmap(&lu->store, lba, n);
	return 0;
}

int sim_lu_zero(struct bc_sim *sim, struct sim_lu *lu, uint64_t lba, uint64_t n)
{
	uint8_t *zero;
	int rc = 0;

	sim_tokens_written(sim, lu->index, lba, n);
	if (unmap_reads_zero(lu))
		return sim_lu_release(lu, lba, n, false);
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
			enum sim_blk_state st;
			uint64_t run = sim_store_run(&src->store, s + j, k - j, &st);

			memset(map + j, st == SIM_BLK_MAPPED, (size_t)run);
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

/* --- direct access -------------------------------------------------------- */

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

int bc_sim_anchor(struct bc_sim *sim, unsigned lu, uint64_t lba, uint32_t blocks)
{
	struct sim_lu *l;
	int rc = -EINVAL;

	pthread_mutex_lock(&sim->lock);
	l = lu_range(sim, lu, lba, blocks);
	if (l && l->cfg.thin) {
		sim_tokens_written(sim, l->index, lba, blocks);
		rc = sim_store_anchor(&l->store, lba, blocks);
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

bool bc_sim_anchored(struct bc_sim *sim, unsigned lu, uint64_t lba)
{
	struct sim_lu *l;
	bool a = false;

	pthread_mutex_lock(&sim->lock);
	l = lu_range(sim, lu, lba, 1);
	if (l)
		a = l->cfg.thin && sim_store_state(&l->store, lba) == SIM_BLK_ANCHORED;
	pthread_mutex_unlock(&sim->lock);
	return a;
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

/* --- held copy operations ------------------------------------------------- */

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

/* --- the transport -------------------------------------------------------- */

static int run_cmd(struct sim_port *p, struct bc_scsi_cmd *cmd, struct bc_error *e,
		   const char *tname)
{
	struct bc_sim *sim = p->sim;
	struct sim_ctx c = { .sim = sim, .port = p, .cmd = cmd, .cdb = cmd->cdb };
	bool xcopy;
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
	if (sim_fault_take(&c, BC_SIM_FAULT_DISCONNECT)) {
		pthread_mutex_unlock(&sim->lock);
		return bc_error_set(e, -ECONNRESET, tname, "sim",
				    "connection reset (injected)");
	}
	sim_count_cmd(&c);
	xcopy = cmd->cdb[0] == 0x83 && cmd->cdb_len > 1 && !(cmd->cdb[1] & 0x1f);
	if (xcopy)
		sim_xcopy_enter(sim);
	if (p->ua_new) {
		/* LIO: every new initiator first hears "reported LUNs data
		 * has changed"; INQUIRY and REPORT LUNS are exempt (SAM) */
		if (cmd->cdb[0] != 0x12 && cmd->cdb[0] != 0xa0) {
			p->ua_new = false;
			sim_sense(&c, SK_UNIT_ATTENTION, ASC_UA_LUNS_CHANGED);
		}
	}
	if (cmd->status == BC_SAM_GOOD && !sim_fault_replaces(&c))
		sim_dispatch(&c);
	if (c.err) {
		rc = c.err;
	} else {
		sim_log_cmd(&c);
	}
	if (xcopy)
		sim_xcopy_leave(sim);
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
	bool full;

	pthread_mutex_lock(&p->sim->lock);
	full = p->queued >= sizeof(p->queue) / sizeof(p->queue[0]);
	if (!full)
		p->queue[p->queued++] = cmd;
	pthread_mutex_unlock(&p->sim->lock);
	return full ? bc_error_set(e, -EAGAIN, t->name, "sim", "queue full") : 0;
}

static int sim_poll(struct bc_scsi_transport *t, int timeout_ms, struct bc_error *e)
{
	struct sim_port *p = t->priv;
	struct bc_scsi_cmd *q[8];
	unsigned n;

	(void)timeout_ms;
	/* callbacks may submit again: run a snapshot of the queue */
	pthread_mutex_lock(&p->sim->lock);
	n = p->queued;
	memcpy(q, p->queue, n * sizeof(q[0]));
	p->queued = 0;
	pthread_mutex_unlock(&p->sim->lock);
	for (unsigned i = 0; i < n; i++) {
		struct bc_error ce;
		int rc;

		bc_error_clear(&ce);
		rc = run_cmd(p, q[i], &ce, t->name);
		if (rc && e)
			*e = ce;
		if (q[i]->done)
			q[i]->done(q[i], rc, rc ? &ce : NULL, q[i]->done_arg);
	}
	return (int)n;
}

static unsigned sim_inflight(struct bc_scsi_transport *t)
{
	struct sim_port *p = t->priv;
	unsigned n;

	pthread_mutex_lock(&p->sim->lock);
	n = p->queued;
	pthread_mutex_unlock(&p->sim->lock);
	return n;
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
