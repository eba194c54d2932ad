/*
 * A target that lies about its limits, for the bad-input table
 * (doc/bad-inputs.md): no real target here can.  The simulated copy
 * manager reports EXTENDED COPY (3PC, RECEIVE COPY OPERATING PARAMETERS
 * with 8 segments per list, types 02 and E4) and then refuses every list
 * with ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST (05/26/00):
 *
 *   lying-target require|auto
 *
 * Or, with "hang", a copy manager that offers token copy only, with a
 * default inactivity timeout of 1 s in VPD 0x8F, and then reports every
 * WRITE USING TOKEN in progress forever (--offload=require).
 *
 * Prints one line, "exit N: MESSAGE", with the exit code blkclone copy
 * gives for the outcome: the copy runs as a clone session
 * (blkclone/clone.h), as blkclone copy runs it, and its result goes
 * through the CLI's own mapping (src/cli/exit.c).  Exits 1 if the
 * destination does not hold what it must: the source after a fallback
 * (auto), its old data after a refusal (require) or a hang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blkclone/clone.h>

#include "backend/backends.h"
#include "cli/cli.h"
#include "simlu.h"

#define BLOCKS 8192u
#define BS 512u

static int fill(struct bc_sim *sim, unsigned lu, uint8_t seed)
{
	static uint8_t buf[1024 * BS];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + seed);
	for (uint64_t l = 0; l < BLOCKS; l += 1024)
		if (bc_sim_write(sim, lu, l, 1024, buf) < 0)
			return -1;
	return 0;
}

static int same(struct bc_sim *sim, unsigned a, unsigned b)
{
	uint8_t *x = malloc((size_t)BLOCKS * BS), *y = malloc((size_t)BLOCKS * BS);
	int r = x && y && bc_sim_read(sim, a, 0, BLOCKS, x) == 0 &&
		bc_sim_read(sim, b, 0, BLOCKS, y) == 0 &&
		!memcmp(x, y, (size_t)BLOCKS * BS);

	free(x);
	free(y);
	return r;
}

int main(int argc, char **argv)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_volume *src = NULL, *dst = NULL;
	/* the refusal memory stays out of it: a row must not teach the next */
	struct bc_clone_opts o = { .no_refusal_memory = true };
	const struct bc_clone_result *r;
	struct bc_clone *cl;
	struct bc_error e = { 0 };
	char msg[1024];
	int rc, ok;

	bool hang = argc == 2 && !strcmp(argv[1], "hang");

	if (argc != 2 || (strcmp(argv[1], "require") && strcmp(argv[1], "auto") && !hang)) {
		fprintf(stderr, "usage: lying-target require|auto|hang\n");
		return 2;
	}
	o.copy.offload = !strcmp(argv[1], "auto") ? BC_OFFLOAD_AUTO : BC_OFFLOAD_REQUIRE;
	if (!sim)
		return 1;
	for (unsigned n = 0; n < 3; n++) {	/* LU 2 keeps the old data */
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, n + 1);
		c.xcopy = hang ? BC_SIM_XCOPY_NONE : BC_SIM_XCOPY_SPC;
		c.token_lim.never_completes = hang;
		c.token_lim.default_inactivity_s = hang ? 1 : 0;
		if (bc_sim_add_lu(sim, &c) != (int)n || fill(sim, n, n ? 0xee : 3) < 0)
			return 1;
	}
	/* a blkclone that polls a hung copy manager forever loses the
	 * connection after 2000 polls (20 s) rather than hang the test */
	if (hang && bc_sim_inject(sim, &(struct bc_sim_fault){
			.kind = BC_SIM_FAULT_DISCONNECT, .lu = 1, .opcode = 0x84,
			.sa = 0x07, .skip = 2000 }) < 0)
		return 1;
	/* the lie: every EXTENDED COPY (0x83 SA 0) refused */
	if (!hang && bc_sim_inject(sim, &(struct bc_sim_fault){
			.kind = BC_SIM_FAULT_CHECK, .lu = BC_SIM_ANY, .opcode = 0x83,
			.sa = 0, .count = 100000, .key = 0x05, .asc = 0x26, .ascq = 0x00 }) < 0)
		return 1;
	if (bc_sim_open(sim, 0, &t) < 0 || bc_scsi_volume_wrap(t, 0, &src, &e) < 0 ||
	    bc_sim_open(sim, 1, &t) < 0 ||
	    bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &dst, &e) < 0 ||
	    bc_copy_check(src, dst, &e) < 0 ||
	    bc_clone_attach(src, dst, NULL, NULL, &o, &cl, &e) < 0)
		return 1;
	rc = bc_clone_plan(cl, &e);
	if (rc == 0)
		rc = bc_clone_run(cl, &e);
	r = bc_clone_result(cl);
	if (rc < 0) {
		bc_error_format(&r->error, msg, sizeof(msg));
		/* a hung operation never ran: the old data, though the
		 * copy cannot know it */
		ok = (!r->dest_touched || hang) && same(sim, 1, 2);
	} else {
		snprintf(msg, sizeof(msg), "%s (fell back: %s)", bc_method_name(r->used),
			 r->fallback.happened ? r->fallback.reason : "no");
		ok = same(sim, 0, 1);
	}
	printf("exit %d: %s\n", bc_cli_exit_for_clone(r), msg);
	bc_clone_close(cl);
	bc_sim_free(sim);
	return ok ? 0 : 1;
}
