/*
 * EXTENDED COPY commands in flight at once (src/backend/scsi/xcopy-exec.c)
 * against the simulator: as many as RECEIVE COPY OPERATING PARAMETERS
 * allows, capped, one while it allows one; and when a piece in the middle
 * fails, only the contiguous prefix counts, whatever finished after it.
 * The simulator's gate holds commands until the expected number is out,
 * so what is checked is what was in flight, never how long anything took.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <blkclone/copy.h>

#include "backend/backends.h"
#include "volume/io.h"
#include "simlu.h"

#define BLOCKS 4096u
#define BS 512u
/* 2 segments of 100 blocks per command: a 1000-block copy is 5 commands */
#define SEG_BLOCKS 100u
#define CMD_BLOCKS (2 * SEG_BLOCKS)
#define COPY_BLOCKS 1000u

struct fx {
	struct bc_sim *sim;
	struct bc_volume *src, *dst;
};

/* Two LUs with an SPC copy manager that allows @conc copies at once
 * (0: says nothing, which is 1); the source holds a pattern, the
 * destination 0xee everywhere. */
static void setup(struct fx *f, uint8_t conc)
{
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_error e = { 0 };
	uint8_t *buf = malloc((size_t)BLOCKS * BS);

	assert_non_null(buf);
	f->sim = bc_sim_new();
	assert_non_null(f->sim);
	for (unsigned n = 0; n < 2; n++) {
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, n + 1);
		c.xcopy_lim.max_segments = 2;
		c.xcopy_lim.max_segment_len = SEG_BLOCKS * BS;
		c.xcopy_lim.max_concurrent = conc;
		assert_int_equal(bc_sim_add_lu(f->sim, &c), (int)n);
	}
	for (size_t i = 0; i < (size_t)BLOCKS * BS; i++)
		buf[i] = (uint8_t)(i * 13 + i / BS);
	assert_int_equal(bc_sim_write(f->sim, 0, 0, BLOCKS, buf), 0);
	memset(buf, 0xee, (size_t)BLOCKS * BS);
	assert_int_equal(bc_sim_write(f->sim, 1, 0, BLOCKS, buf), 0);
	free(buf);
	assert_int_equal(bc_sim_open(f->sim, 0, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, &f->src, &e), 0);
	assert_int_equal(bc_sim_open(f->sim, 1, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &f->dst, &e), 0);
	bc_sim_reset_counters(f->sim);
}

static void teardown(struct fx *f)
{
	bc_volume_close(f->src);
	bc_volume_close(f->dst);
	bc_sim_free(f->sim);
}

/* Destination blocks [lba, lba + n) equal the source's (@copied) or
 * still hold 0xee. */
static void expect(struct fx *f, uint64_t lba, uint32_t n, bool copied)
{
	uint8_t *a = malloc((size_t)n * BS), *b = malloc((size_t)n * BS);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(bc_sim_read(f->sim, 0, lba, n, a), 0);
	assert_int_equal(bc_sim_read(f->sim, 1, lba, n, b), 0);
	if (!copied)
		memset(a, 0xee, (size_t)n * BS);
	assert_memory_equal(a, b, (size_t)n * BS);
	free(a);
	free(b);
}

static int xcopy(struct fx *f, uint64_t *done, struct bc_error *e)
{
	return bc_volume_offload_copy(f->src, 0, f->dst, 0, COPY_BLOCKS * BS,
				      BC_METHOD_XCOPY_LID1, NULL, done, e);
}

/* The copy manager allows 3: after the first command (alone), 3 are out
 * at once, and all 1000 blocks are copied. */
static void test_three_in_flight(void **state)
{
	struct fx f;
	struct bc_error e = { 0 };
	uint64_t done = 0;

	(void)state;
	setup(&f, 3);
	bc_sim_xcopy_gate(f.sim, 1, 3);
	assert_int_equal(xcopy(&f, &done, &e), 0);
	assert_int_equal(done, COPY_BLOCKS * BS);
	assert_int_equal(bc_sim_xcopy_max_inflight(f.sim), 3);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x83, 0), COPY_BLOCKS / CMD_BLOCKS);
	expect(&f, 0, COPY_BLOCKS, true);
	expect(&f, COPY_BLOCKS, BLOCKS - COPY_BLOCKS, false);
	teardown(&f);
}

/* The copy manager allows 200: never more than the cap of 4. */
static void test_capped(void **state)
{
	struct fx f;
	struct bc_error e = { 0 };
	uint64_t done = 0;

	(void)state;
	setup(&f, 200);
	bc_sim_xcopy_gate(f.sim, 1, 4);
	assert_int_equal(xcopy(&f, &done, &e), 0);
	assert_int_equal(done, COPY_BLOCKS * BS);
	assert_int_equal(bc_sim_xcopy_max_inflight(f.sim), 4);
	expect(&f, 0, COPY_BLOCKS, true);
	teardown(&f);
}

/* It says nothing (0) or 1 (LIO): one command at a time. */
static void test_one_at_a_time(void **state)
{
	for (uint8_t conc = 0; conc < 2; conc++) {
		struct fx f;
		struct bc_error e = { 0 };
		uint64_t done = 0;

		(void)state;
		setup(&f, conc);
		assert_int_equal(xcopy(&f, &done, &e), 0);
		assert_int_equal(done, COPY_BLOCKS * BS);
		assert_int_equal(bc_sim_xcopy_max_inflight(f.sim), 1);
		assert_int_equal(bc_sim_count(f.sim, 0, 0x83, 0), COPY_BLOCKS / CMD_BLOCKS);
		expect(&f, 0, COPY_BLOCKS, true);
		teardown(&f);
	}
}

/*
 * Three out at once (pieces 2, 3 and 4, after piece 1 alone); piece 2
 * (source LBA 200) is aborted after its first segment, which its sense
 * data reports; pieces 3 and 4 finish.  Done is piece 1 and the one
 * segment, not what pieces 3 and 4 wrote; the error is piece 2's; no
 * piece is sent after the failure.
 */
static void test_middle_piece_fails(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_COPY_ABORT, .lu = 0,
				    .opcode = 0x83, .sa = 0x00, .at_lba = true,
				    .lba = CMD_BLOCKS, .after_blocks = SEG_BLOCKS + 50 };
	struct fx f;
	struct bc_error e = { 0 };
	uint64_t done = 0;

	(void)state;
	setup(&f, 3);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	bc_sim_xcopy_gate(f.sim, 1, 3);
	assert_int_equal(xcopy(&f, &done, &e), -ECANCELED);
	assert_int_equal(bc_sim_faults_fired(f.sim), 1);
	assert_int_equal(bc_sim_xcopy_max_inflight(f.sim), 3);
	assert_int_equal(done, (CMD_BLOCKS + SEG_BLOCKS) * BS);
	assert_true(e.has_lba);
	assert_int_equal(e.lba, CMD_BLOCKS);
	assert_string_equal(e.op, "EXTENDED COPY(LID1)");
	assert_int_equal(e.status.cat, BC_CAT_COPY_ABORTED);
	assert_int_equal(e.status.sense_key, 0x0a);
	/* pieces 1-4 sent, piece 5 not */
	assert_int_equal(bc_sim_count(f.sim, 0, 0x83, 0), 4);
	expect(&f, 0, CMD_BLOCKS + SEG_BLOCKS + 50, true);
	expect(&f, CMD_BLOCKS + SEG_BLOCKS + 50, 50, false);
	expect(&f, 2 * CMD_BLOCKS, 2 * CMD_BLOCKS, true);	/* 3 and 4 */
	expect(&f, 4 * CMD_BLOCKS, BLOCKS - 4 * CMD_BLOCKS, false);
	teardown(&f);
}

/* The first piece fails: nothing is done and nothing else was sent, so
 * "refused, nothing written" stays true for the caller. */
static void test_first_piece_fails_alone(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_CHECK, .lu = 0,
				    .opcode = 0x83, .sa = 0x00, .key = 0x05,
				    .asc = 0x26, .ascq = 0x00 };
	struct fx f;
	struct bc_error e = { 0 };
	uint64_t done = 0;

	(void)state;
	setup(&f, 3);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_not_equal(xcopy(&f, &done, &e), 0);
	assert_int_equal(done, 0);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x83, 0), 1);
	assert_int_equal(bc_sim_xcopy_max_inflight(f.sim), 1);
	assert_int_equal(e.lba, 0);
	expect(&f, 0, BLOCKS, false);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_in_flight),
		cmocka_unit_test(test_capped),
		cmocka_unit_test(test_one_at_a_time),
		cmocka_unit_test(test_middle_piece_fails),
		cmocka_unit_test(test_first_piece_fails_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
