// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which kind of point in time copy a POPULATE TOKEN gets in the simulator
 * (bc_sim_token_limits.pit), and the persistent kind's data: SPC-4 lets a
 * copy manager keep the represented blocks as they were when the token
 * was made (persistent), or cancel the token when they change (change
 * vulnerable), or refuse a ROD type it does not make.  A persistent token
 * here keeps a copy of its blocks, so a write to the source after
 * POPULATE TOKEN does not reach the copy.
 */
#include <errno.h>
#include <stdlib.h>

#include "simlu-int.h"

#define ROD_PIT_DEFAULT		0x00800000u
#define ROD_PIT_VULNERABLE	0x00800001u
#define ROD_PIT_PERSISTENT	0x00800002u

uint32_t sim_pit_rod_type(const struct sim_lu *lu, bool rtv, uint32_t asked)
{
	enum bc_sim_pit pit = lu->cfg.token_lim.pit;

	if (!rtv)	/* no type named: the sim's own kind, as always */
		return ROD_PIT_VULNERABLE;
	if (pit == BC_SIM_PIT_REFUSED)
		return 0;
	if (asked == ROD_PIT_VULNERABLE)
		return ROD_PIT_VULNERABLE;
	if (asked == ROD_PIT_DEFAULT)
		return pit == BC_SIM_PIT_PERSISTENT ? ROD_PIT_PERSISTENT :
		       ROD_PIT_VULNERABLE;
	if (asked == ROD_PIT_PERSISTENT && pit == BC_SIM_PIT_PERSISTENT)
		return ROD_PIT_PERSISTENT;
	return 0;
}

bool sim_pit_known(uint32_t rod_type)
{
	return rod_type == ROD_PIT_VULNERABLE || rod_type == ROD_PIT_PERSISTENT;
}

int sim_pit_snapshot(struct bc_sim *sim, struct sim_token *t)
{
	struct sim_lu *lu = sim->lu[t->lu];
	uint64_t at = 0;

	t->snap = malloc(t->blocks * t->bs);
	if (!t->snap)
		return -ENOMEM;
	for (size_t r = 0; r < t->nranges; r++) {
		sim_lu_read(lu, t->ranges[r][0], t->ranges[r][1], t->snap + at * t->bs);
		at += t->ranges[r][1];
	}
	return 0;
}

int sim_pit_write(struct bc_sim *sim, const struct sim_token *t, uint64_t rodpos,
		  struct sim_lu *dst, uint64_t dlba, uint64_t k)
{
	return sim_lu_write(sim, dst, dlba, k, t->snap + rodpos * t->bs);
}
