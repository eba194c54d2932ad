// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fault injection and what the initiator sent (see simlu.h): armed faults
 * matched against each command, per-opcode counts, the CDB log.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "simlu-int.h"

/* --- faults --------------------------------------------------------------- */

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

unsigned bc_sim_faults_fired(const struct bc_sim *csim)
{
	struct bc_sim *sim = (struct bc_sim *)csim;	/* the lock is not state */
	unsigned n;

	pthread_mutex_lock(&sim->lock);
	n = sim->faults_fired;
	pthread_mutex_unlock(&sim->lock);
	return n;
}

static bool fault_matches(const struct sim_fault *sf, const struct sim_ctx *c)
{
	const struct bc_sim_fault *f = &sf->f;

	return sf->armed &&
	       (!f->at_lba || (c->has_copy_lba && c->copy_lba == f->lba)) &&
	       (f->lu == BC_SIM_ANY || (unsigned)f->lu == c->lu->index) &&
	       (f->opcode == BC_SIM_ANY || f->opcode == c->cdb[0]) &&
	       (f->sa == BC_SIM_ANY || f->sa == (c->cdb[1] & 0x1f));
}

struct sim_fault *sim_fault_take(struct sim_ctx *c, enum bc_sim_fault_kind kind)
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
	return sim_fault_take(c, BC_SIM_FAULT_COPY_ABORT);
}

bool sim_fault_replaces(struct sim_ctx *c)
{
	struct sim_fault *sf;

	if ((sf = sim_fault_take(c, BC_SIM_FAULT_STATUS))) {
		c->cmd->status = sf->f.status;
		return true;
	}
	if ((sf = sim_fault_take(c, BC_SIM_FAULT_UNIT_ATTENTION))) {
		sim_sense(c, SK_UNIT_ATTENTION, sf->f.asc || sf->f.ascq ?
			  (uint16_t)(sf->f.asc << 8 | sf->f.ascq) : ASC_UA_POWER_ON);
		return true;
	}
	if ((sf = sim_fault_take(c, BC_SIM_FAULT_CHECK))) {
		sim_sense_full(c, sf->f.key, (uint16_t)(sf->f.asc << 8 | sf->f.ascq),
			       sf->f.info_valid, sf->f.information, 0);
		return true;
	}
	return false;
}

/* --- counters and log ----------------------------------------------------- */

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
	sim->xc_max_inflight = sim->xc_inflight;
	for (unsigned i = 0; i < sim->nlu; i++) {
		memset(sim->lu[i]->op_count, 0, sizeof(sim->lu[i]->op_count));
		memset(sim->lu[i]->sa_count, 0, sizeof(sim->lu[i]->sa_count));
	}
	sim->log_len = sim->log_next = 0;
	pthread_mutex_unlock(&sim->lock);
}

void sim_count_cmd(struct sim_ctx *c)
{
	int slot = sa_slot(c->cdb[0]);

	c->lu->op_count[c->cdb[0]]++;
	if (slot >= 0 && c->cdb_len > 1)
		c->lu->sa_count[slot][c->cdb[1] & 0x1f]++;
}

void sim_log_cmd(struct sim_ctx *c)
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


/* --- EXTENDED COPY in flight ---------------------------------------------- */

void bc_sim_xcopy_gate(struct bc_sim *sim, unsigned skip, unsigned n)
{
	pthread_mutex_lock(&sim->lock);
	sim->gate_skip = skip;
	sim->gate_n = n;
	sim->gate_seen = 0;
	pthread_cond_broadcast(&sim->gate_cond);
	pthread_mutex_unlock(&sim->lock);
}

unsigned bc_sim_xcopy_max_inflight(const struct bc_sim *csim)
{
	struct bc_sim *sim = (struct bc_sim *)csim;	/* the lock is not state */
	unsigned n;

	pthread_mutex_lock(&sim->lock);
	n = sim->xc_max_inflight;
	pthread_mutex_unlock(&sim->lock);
	return n;
}

void sim_xcopy_enter(struct bc_sim *sim)
{
	struct timespec guard;

	if (++sim->xc_inflight > sim->xc_max_inflight)
		sim->xc_max_inflight = sim->xc_inflight;
	if (!sim->gate_n || sim->gate_seen++ < sim->gate_skip)
		return;
	if (sim->xc_inflight >= sim->gate_n) {
		sim->gate_n = 0;	/* reached: open for good */
		pthread_cond_broadcast(&sim->gate_cond);
		return;
	}
	/* a guard against a hang, not a measurement: see simlu.h */
	clock_gettime(CLOCK_REALTIME, &guard);
	guard.tv_sec += 30;
	while (sim->gate_n)
		if (pthread_cond_timedwait(&sim->gate_cond, &sim->lock, &guard) ==
		    ETIMEDOUT)
			sim->gate_n = 0;
}

void sim_xcopy_leave(struct bc_sim *sim)
{
	sim->xc_inflight--;
}
