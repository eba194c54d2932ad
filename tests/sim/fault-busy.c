/*
 * A target that answers BUSY or TASK SET FULL in the middle of a host
 * copy.  tgt never sends either status (its SAM_STAT_BUSY is defined and
 * unused; a target set offline holds commands instead), so the simulator
 * does.  Each run arms the status on READ(16) of the source, or WRITE(16)
 * or WRITE SAME(16) of the destination, after a random number of commands,
 * for a few commands (blkclone must wait and get through) or for good (it
 * must fail naming device, command, LBA and status, and a run with the
 * resume offset must then finish the copy).  Every outcome is checked on
 * the simulator's medium.
 *
 *   fault-busy [busy|tsf|both [RUNS [SEED]]]    (default: both 2 1)
 *
 * One line per run, then "KIND runs=N completed=A clean=B bad=C"; exit 1
 * if any run was bad.  make check runs the default; bench/fault-table.sh
 * runs more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blkclone/copy.h>

#include "backend/backends.h"
#include "simlu.h"

#define BLOCKS 32768u		/* 16 MiB of 512-byte blocks */
#define BS 512u
#define CHUNK (64u * 1024)	/* small host I/O: many commands to hit */

struct lus {
	struct bc_sim *sim;
	struct bc_volume *src, *dst;
};

static int setup(struct lus *l, unsigned seed)
{
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_error e = { 0 };
	uint8_t *buf = malloc(2048 * BS);

	if (!buf)
		return -1;
	l->sim = bc_sim_new();
	for (unsigned n = 0; n < 2; n++) {
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, n + 1);
		if (bc_sim_add_lu(l->sim, &c) != (int)n)
			return -1;
	}
	/* source: a few extents of data; destination: old data everywhere */
	for (uint32_t i = 0; i < 2048 * BS; i++)
		buf[i] = (uint8_t)(i * 13 + seed);
	for (unsigned k = 0; k < 6; k++)
		bc_sim_write(l->sim, 0, (uint64_t)((seed * 7919u + k * 5003u) % (BLOCKS - 2048)),
			     256 + (k * 331u) % 1792, buf);
	memset(buf, 0xee, 2048 * BS);
	for (uint64_t b = 0; b < BLOCKS; b += 2048)
		bc_sim_write(l->sim, 1, b, 2048, buf);
	free(buf);
	if (bc_sim_open(l->sim, 0, &t) < 0 || bc_scsi_volume_wrap(t, 0, &l->src, &e) < 0 ||
	    bc_sim_open(l->sim, 1, &t) < 0 ||
	    bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &l->dst, &e) < 0)
		return -1;
	return 0;
}

static void teardown(struct lus *l)
{
	bc_volume_close(l->src);
	bc_volume_close(l->dst);
	bc_sim_free(l->sim);
}

static bool same_medium(struct lus *l)
{
	uint8_t *a = malloc((size_t)BLOCKS * BS), *b = malloc((size_t)BLOCKS * BS);
	bool same = a && b && bc_sim_read(l->sim, 0, 0, BLOCKS, a) == 0 &&
		    bc_sim_read(l->sim, 1, 0, BLOCKS, b) == 0 &&
		    !memcmp(a, b, (size_t)BLOCKS * BS);

	free(a);
	free(b);
	return same;
}

static int copy(struct lus *l, uint64_t start, struct bc_copy_stats *st,
		struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	struct bc_copy_opts o = { .offload = BC_OFFLOAD_NEVER, .verify = true,
				  .start = start, .chunk = CHUNK };
	struct bc_fallback fb;
	struct bc_plan plan;
	enum bc_method used;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = bc_volume_caps(l->src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(l->dst, &dc, e)) < 0)
		return rc;
	bc_plan_make(sc, dc, BC_OFFLOAD_NEVER, false, false, &plan);
	return bc_copy_run(l->src, l->dst, &plan, &o, st, &used, &fb, e);
}

enum outcome { COMPLETED, CLEAN, BAD };

/* One run: the status on one opcode after @skip commands, @count times. */
static enum outcome run_one(uint8_t status, uint8_t opcode, unsigned skip,
			    unsigned count, unsigned seed, char *why, size_t wlen)
{
	static const char *const opname[256] = {
		[0x88] = "READ(16)", [0x8a] = "WRITE(16)", [0x93] = "WRITE SAME(16)",
	};
	struct bc_sim_fault f = {
		.kind = BC_SIM_FAULT_STATUS, .lu = opcode == 0x88 ? 0 : 1,
		.opcode = opcode, .sa = BC_SIM_ANY, .skip = skip, .count = count,
		.status = status,
	};
	const char *sname = status == BC_SAM_BUSY ? "(BUSY)" : "(TASK SET FULL)";
	struct bc_copy_stats st;
	struct bc_error e = { 0 };
	struct lus l = { 0 };
	enum outcome out = BAD;
	char msg[1024];
	int rc;

	why[0] = '\0';
	if (setup(&l, seed) < 0 || bc_sim_inject(l.sim, &f) < 0) {
		snprintf(why, wlen, "setup failed");
		goto done;
	}
	rc = copy(&l, 0, &st, &e);
	if (rc == 0) {
		if (!same_medium(&l))
			snprintf(why, wlen, "exit 0 but the copy differs");
		else if (!bc_sim_faults_fired(l.sim))
			snprintf(why, wlen, "completed (fault never fired)");
		else
			out = COMPLETED;
		goto done;
	}
	bc_error_format(&e, msg, sizeof(msg));
	if (!strstr(msg, l.dst->name) && !strstr(msg, l.src->name))
		snprintf(why, wlen, "message names no device: %s", msg);
	else if (!opname[opcode] || !strstr(msg, opname[opcode]))
		snprintf(why, wlen, "message names the wrong command: %s", msg);
	else if (!strstr(msg, " at LBA ") || !strstr(msg, sname))
		snprintf(why, wlen, "message lacks the LBA or status: %s", msg);
	else if (!e.has_lba || st.resume_offset > e.lba * BS ||
		 st.resume_offset >= st.total_bytes)
		snprintf(why, wlen, "resume offset %" PRIu64 " past the failed LBA %" PRIu64,
			 st.resume_offset, e.lba);
	else {
		uint64_t from = st.resume_offset;

		bc_sim_clear_faults(l.sim);
		bc_error_clear(&e);
		rc = copy(&l, from, &st, &e);
		if (rc < 0)
			snprintf(why, wlen, "resume failed: %s",
				 bc_error_format(&e, msg, sizeof(msg)));
		else if (!same_medium(&l))
			snprintf(why, wlen, "resumed from byte %" PRIu64 ", copy differs", from);
		else {
			snprintf(why, wlen, "%s; resumed from LBA %" PRIu64, msg, from / BS);
			out = CLEAN;
		}
	}
done:
	teardown(&l);
	return out;
}

static int run_kind(const char *kind, uint8_t status, unsigned runs, unsigned seed)
{
	static const uint8_t ops[] = { 0x88, 0x8a, 0x93 };
	unsigned n[3] = { 0 };

	srand(seed);
	for (unsigned i = 0; i < runs; i++) {
		uint8_t op = ops[(unsigned)rand() % 3];
		/* WRITE SAME is sent once per hole: a small skip reaches one */
		unsigned skip = (unsigned)rand() % (op == 0x93 ? 3 : 40);
		/* even runs pass after a few answers, odd runs never do */
		unsigned count = i % 2 ? 1000 : 1 + (unsigned)rand() % 6;
		char why[1200];
		enum outcome o = run_one(status, op, skip, count, seed + i, why, sizeof(why));

		n[o]++;
		printf("%s run %u: opcode 0x%02x after %u commands, %u times: %s%s%s\n",
		       kind, i + 1, op, skip, count,
		       o == COMPLETED ? "completed, verified" :
		       o == CLEAN ? "failed cleanly, resumed identical" : "BAD",
		       why[0] ? " -- " : "", why);
	}
	printf("%s runs=%u completed=%u clean=%u bad=%u\n", kind, runs, n[COMPLETED],
	       n[CLEAN], n[BAD]);
	return n[BAD] ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "both";
	unsigned runs = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2;
	unsigned seed = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1;
	int rc = 0;

	if (strcmp(kind, "busy") && strcmp(kind, "tsf") && strcmp(kind, "both")) {
		fprintf(stderr, "usage: %s [busy|tsf|both [RUNS [SEED]]]\n", argv[0]);
		return 2;
	}
	if (strcmp(kind, "tsf"))
		rc |= run_kind("busy", BC_SAM_BUSY, runs, seed);
	if (strcmp(kind, "busy"))
		rc |= run_kind("task-set-full", BC_SAM_TASK_SET_FULL, runs, seed + 1000);
	return rc;
}
