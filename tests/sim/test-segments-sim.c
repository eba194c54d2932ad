/*
 * LVs of several segments on the in-memory SCSI target: a copy between
 * two volumes that are lists of windows onto their LUs (as an LVM LV of
 * several segments on a multipathed LU is) is cut at every window
 * boundary of either side into EXTENDED COPY commands of one range each.
 * The medium is compared block by block through the windows' own map,
 * the blocks outside the windows must keep their old bytes, and a COPY
 * ABORTED in the second piece must leave a resume offset at the end of
 * the first.
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
#include "simlu.h"

#define BLOCKS 131072u		/* 64 MiB of 512-byte blocks */
#define BS 512u
#define B(n) ((uint64_t)(n) * BS)

/* Source LV: 2048 blocks at LU block 50000, then 1024 at 100. */
static const struct bc_stack_seg src_segs[] = {
	{ B(0), B(2048), B(50000) },
	{ B(2048), B(1024), B(100) },
};
/* Destination LV: 1000 at 7000, 1500 at 200, 572 at 90000. */
static const struct bc_stack_seg dst_segs[] = {
	{ B(0), B(1000), B(7000) },
	{ B(1000), B(1500), B(200) },
	{ B(2500), B(572), B(90000) },
};
#define LV_BLOCKS 3072u

struct fx {
	struct bc_sim *sim;
	struct bc_volume *src, *dst;
};

static void setup(struct fx *f)
{
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_error e = { 0 };
	uint8_t *buf = malloc(4096 * BS);

	assert_non_null(buf);
	f->sim = bc_sim_new();
	for (unsigned n = 0; n < 2; n++) {
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, n + 1);
		c.xcopy = BC_SIM_XCOPY_SPC;
		assert_int_equal(bc_sim_add_lu(f->sim, &c), (int)n);
	}
	/* every block of both LUs says where it is */
	for (unsigned lu = 0; lu < 2; lu++)
		for (uint64_t l = 0; l < BLOCKS; l += 4096) {
			for (uint32_t i = 0; i < 4096; i++)
				memset(buf + (size_t)i * BS, (int)((l + i) * 13 + lu * 101 + 1), BS);
			assert_int_equal(bc_sim_write(f->sim, lu, l, 4096, buf), 0);
		}
	free(buf);
	assert_int_equal(bc_sim_open(f->sim, 0, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, &f->src, &e), 0);
	assert_int_equal(bc_sim_open(f->sim, 1, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &f->dst, &e), 0);
	assert_int_equal(bc_scsi_volume_set_windows(f->src, src_segs, 2, &e), 0);
	assert_int_equal(bc_scsi_volume_set_windows(f->dst, dst_segs, 3, &e), 0);
	assert_true(f->src->size == B(LV_BLOCKS) && f->dst->size == B(LV_BLOCKS));
}

static void teardown(struct fx *f)
{
	bc_volume_close(f->src);
	bc_volume_close(f->dst);
	bc_sim_free(f->sim);
}

/* The LU block under volume block @i of a list of windows. */
static uint64_t lu_block(const struct bc_stack_seg *s, size_t n, uint64_t i)
{
	for (size_t k = 0; k < n; k++)
		if (B(i) >= s[k].start && B(i) < s[k].start + s[k].length)
			return (s[k].offset + B(i) - s[k].start) / BS;
	fail();
	return 0;
}

/* The first @copied blocks of the destination LV hold the source LV's,
 * the rest of the destination LU its old bytes. */
static void check_medium(struct fx *f, uint64_t copied)
{
	uint8_t *a = malloc(BS), *b = malloc(BS), *old = malloc(BS);
	uint8_t *was = calloc(BLOCKS, 1);

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(old);
	assert_non_null(was);
	for (uint64_t i = 0; i < LV_BLOCKS; i++) {
		uint64_t d = lu_block(dst_segs, 3, i);

		assert_int_equal(bc_sim_read(f->sim, 1, d, 1, b), 0);
		if (i < copied) {
			assert_int_equal(bc_sim_read(f->sim, 0, lu_block(src_segs, 2, i), 1, a), 0);
			assert_memory_equal(a, b, BS);
			was[d] = 1;
		}
	}
	for (uint64_t l = 0; l < BLOCKS; l++) {
		if (was[l])
			continue;
		memset(old, (int)(l * 13 + 101 + 1), BS);
		assert_int_equal(bc_sim_read(f->sim, 1, l, 1, b), 0);
		assert_memory_equal(old, b, BS);
	}
	free(a);
	free(b);
	free(old);
	free(was);
}

static int copy(struct fx *f, enum bc_offload_policy pol, struct bc_copy_stats *st,
		struct bc_plan *plan, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	struct bc_copy_opts o = { .offload = pol };
	struct bc_fallback fb;
	enum bc_method used;

	assert_int_equal(bc_volume_caps(f->src, &sc, e), 0);
	assert_int_equal(bc_volume_caps(f->dst, &dc, e), 0);
	bc_plan_make(sc, dc, pol, false, false, plan);
	return bc_copy_run(f->src, f->dst, plan, &o, st, &used, &fb, e);
}

#define XCOPIES(f) bc_sim_count((f)->sim, 0, 0x83, 0x00)

/* Boundaries at 1000, 2048 and 2500 blocks: four pieces, one EXTENDED
 * COPY each (and the pair check), nothing through the host. */
static void test_cut_at_every_boundary(void **state)
{
	struct fx f;
	struct bc_copy_stats st;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup(&f);
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &plan, &e), 0);
	assert_int_equal(plan.chosen, BC_METHOD_XCOPY_LID1);
	assert_true(st.offloaded_bytes == B(LV_BLOCKS));
	assert_true(st.read_bytes + st.written_bytes == 0);
	assert_int_equal(XCOPIES(&f), 1 + 4);
	check_medium(&f, LV_BLOCKS);
	teardown(&f);
}

/* COPY ABORTED in the second piece (blocks 1000..2047): the first piece
 * is done and nothing else counts, so the resume offset is its end. */
static void test_abort_in_second_piece(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_COPY_ABORT, .lu = 0,
				    .opcode = 0x83, .sa = 0x00,
				    .skip = 2,	/* the pair check, the first piece */
				    .after_blocks = 10 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup(&f);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_not_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &plan, &e), 0);
	assert_int_equal(bc_sim_faults_fired(f.sim), 1);
	assert_true(st.offloaded_bytes == B(1000));
	assert_true(st.resume_offset == B(1000));
	teardown(&f);
}

/* Reads through the windows (the host copy's path) cross boundaries. */
static void test_host_copy_through_windows(void **state)
{
	struct fx f;
	struct bc_copy_stats st;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup(&f);
	assert_int_equal(copy(&f, BC_OFFLOAD_NEVER, &st, &plan, &e), 0);
	assert_int_equal(plan.chosen, BC_METHOD_HOST);
	check_medium(&f, LV_BLOCKS);
	teardown(&f);
}

static void test_windows_checked(void **state)
{
	static const struct bc_stack_seg gap[] = { { 0, B(8), 0 }, { B(16), B(8), 0 } };
	static const struct bc_stack_seg past[] = { { 0, B(16), B(BLOCKS - 8) } };
	static const struct bc_stack_seg odd[] = { { 0, 1000, 0 } };
	struct fx f;
	struct bc_error e = { 0 };

	(void)state;
	setup(&f);
	assert_int_equal(bc_scsi_volume_set_windows(f.src, gap, 2, &e), -EINVAL);
	assert_int_equal(bc_scsi_volume_set_windows(f.src, past, 1, &e), -EINVAL);
	assert_int_equal(bc_scsi_volume_set_windows(f.src, odd, 1, &e), -EINVAL);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_at_every_boundary),
		cmocka_unit_test(test_abort_in_second_piece),
		cmocka_unit_test(test_host_copy_through_windows),
		cmocka_unit_test(test_windows_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
