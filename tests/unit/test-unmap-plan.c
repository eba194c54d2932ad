/*
 * Zeroing by UNMAP on an LBPRZ LU: the plan of whole granules, explicit
 * zeroing of the partial ones, commands cut to the LBA-count and
 * descriptor limits (scsi/unmap.c); and the parameter list builder.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scsi/unmap.h"

#define U32 0xffffffffu

struct row {
	const char *what;
	uint64_t lba, blocks;
	struct bc_unmap_geom g;
	/* expected */
	int rc;
	uint64_t head_lba, head_blocks;
	size_t n_desc;
	struct bc_unmap_range d[3];
	uint64_t tail_lba, tail_blocks;
	uint64_t consumed;
};

static const struct row rows[] = {
	{ "granularity not reported: all of it", 100, 1000, { 0, 0, false, 0, 0 },
	  0, 100, 0, 1, { { 100, 1000 } }, 0, 0, 1000 },
	{ "granularity 1", 100, 1000, { 1, 0, true, 0, 0 },
	  0, 100, 0, 1, { { 100, 1000 } }, 0, 0, 1000 },
	{ "granularity 8 alignment 2: partial granules at both ends", 5, 40, { 8, 2, true, 0, 0 },
	  0, 5, 5, 1, { { 10, 32 } }, 42, 3, 40 },
	{ "granularity 8 alignment 0", 5, 40, { 8, 0, true, 0, 0 },
	  0, 5, 3, 1, { { 8, 32 } }, 40, 5, 40 },
	{ "whole aligned granules: nothing to zero", 16, 32, { 8, 0, true, 0, 0 },
	  0, 16, 0, 1, { { 16, 32 } }, 0, 0, 32 },
	{ "smaller than a granule, inside one", 9, 5, { 8, 0, true, 0, 0 },
	  0, 9, 5, 0, { { 0, 0 } }, 0, 0, 5 },
	{ "two partial granules, no whole one", 6, 8, { 8, 0, true, 0, 0 },
	  0, 6, 8, 0, { { 0, 0 } }, 0, 0, 8 },
	{ "one block short of a whole granule at the end", 8, 7, { 8, 0, true, 0, 0 },
	  0, 8, 7, 0, { { 0, 0 } }, 0, 0, 7 },
	{ "below the alignment is a partial granule", 0, 20, { 8, 3, true, 0, 0 },
	  0, 0, 3, 1, { { 3, 16 } }, 19, 1, 20 },
	{ "alignment beyond a granule counts modulo", 0, 20, { 8, 11, true, 0, 0 },
	  0, 0, 3, 1, { { 3, 16 } }, 19, 1, 20 },
	{ "UGAVALID=0: one descriptor, g-1 zeroed at each end", 5, 100, { 8, 2, false, 0, 0 },
	  0, 5, 7, 1, { { 5, 100 } }, 98, 7, 100 },
	{ "UGAVALID=0: edges are all of it", 5, 14, { 8, 0, false, 0, 0 },
	  0, 5, 14, 0, { { 0, 0 } }, 0, 0, 14 },
	{ "UGAVALID=0: each command its own edges", 0, 100, { 8, 0, false, 50, 1 },
	  0, 0, 7, 1, { { 0, 50 } }, 43, 7, 50 },
	{ "LBA count 20 -> 16 (two granules), one descriptor", 4, 100, { 8, 0, true, 20, 1 },
	  0, 4, 4, 1, { { 8, 16 } }, 0, 0, 20 },
	{ "the next command starts aligned", 24, 80, { 8, 0, true, 20, 1 },
	  0, 24, 0, 1, { { 24, 16 } }, 0, 0, 16 },
	{ "the last command takes the tail", 88, 16, { 8, 0, true, 20, 1 },
	  0, 88, 0, 1, { { 88, 16 } }, 0, 0, 16 },
	{ "LBA count 8192, one descriptor (LIO)", 0, 20000, { 0, 0, false, 8192, 1 },
	  0, 0, 0, 1, { { 0, 8192 } }, 0, 0, 8192 },
	{ "limit below one granule: zero it all", 0, 64, { 16, 0, true, 8, 1 },
	  0, 0, 64, 0, { { 0, 0 } }, 0, 0, 64 },
	{ "no limits: 32-bit descriptors, several in one command", 0, 10737418240ull,
	  { 0, 0, false, U32, 3 },
	  0, 0, 0, 3, { { 0, U32 }, { U32, U32 }, { 2ull * U32, 2147483650u } }, 0, 0,
	  10737418240ull },
	{ "descriptor count not reported: one", 0, 10737418240ull, { 0, 0, false, 0, 0 },
	  0, 0, 0, 1, { { 0, U32 } }, 0, 0, U32 },
	{ "32-bit descriptors stay whole granules", 3, 8589934592ull,
	  { 4096, 3, true, 0, U32 },
	  0, 3, 0, 3, { { 3, 4294963200u }, { 4294963203ull, 4294963200u },
			{ 8589926403ull, 8192 } }, 8589934595ull - 0, 0, 8589934592ull },
	{ "empty", 7, 0, { 8, 0, true, 0, 0 }, 0, 0, 0, 0, { { 0, 0 } }, 0, 0, 0 },
	{ "wraps", UINT64_MAX - 2, 8, { 8, 0, true, 0, 0 }, -EINVAL, 0, 0, 0, { { 0, 0 } }, 0, 0, 0 },
};

static void test_plan_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct bc_unmap_step s;
		int rc = bc_unmap_plan_step(r->lba, r->blocks, &r->g, &s);

		print_message("%s\n", r->what);
		assert_int_equal(rc, r->rc);
		if (rc < 0)
			continue;
		assert_int_equal(s.n_desc, r->n_desc);
		for (size_t k = 0; k < r->n_desc; k++) {
			assert_int_equal(s.desc[k].lba, r->d[k].lba);
			assert_int_equal(s.desc[k].blocks, r->d[k].blocks);
		}
		if (r->head_blocks) {
			assert_int_equal(s.head_lba, r->head_lba);
		}
		assert_int_equal(s.head_blocks, r->head_blocks);
		if (r->tail_blocks) {
			assert_int_equal(s.tail_lba, r->tail_lba);
		}
		assert_int_equal(s.tail_blocks, r->tail_blocks);
		assert_int_equal(s.consumed, r->consumed);
	}
}

/*
 * The property that matters, checked exhaustively on small ranges: after
 * every step, each block of the range is either zeroed explicitly or lies
 * in a granule that one UNMAP descriptor covers whole -- for the true
 * alignment, and with UGAVALID=0 for every alignment the LU could have.
 * And every command keeps to the limits.
 */
static void walk(uint64_t lba, uint64_t blocks, const struct bc_unmap_geom *g)
{
	uint64_t gran = g->granularity > 1 ? g->granularity : 1;
	uint64_t end = lba + blocks, at = lba;
	uint8_t *zeroed = calloc(blocks + 1, 1);
	uint8_t *freed = calloc(blocks + 1, gran);	/* [alignment][block] */
	unsigned steps = 0;

	assert_non_null(zeroed);
	assert_non_null(freed);
	while (at < end) {
		struct bc_unmap_step s;
		uint64_t total = 0;

		assert_int_equal(bc_unmap_plan_step(at, end - at, g, &s), 0);
		assert_true(s.consumed > 0 && s.consumed <= end - at);
		assert_true(s.n_desc <= (g->max_descriptors ? g->max_descriptors : 1));
		for (size_t k = 0; k < s.n_desc; k++) {
			const struct bc_unmap_range *d = &s.desc[k];

			assert_true(d->lba >= at && d->lba + d->blocks <= at + s.consumed);
			total += d->blocks;
			/* what a granule-only device frees, per alignment */
			for (uint64_t a = 0; a < gran; a++) {
				if (g->ugavalid && a != g->alignment % gran)
					continue;
				for (uint64_t b = d->lba; b < d->lba + d->blocks; b++) {
					uint64_t gs = b < a ? 0 : a + (b - a) / gran * gran;
					bool whole = b >= a && gs >= d->lba &&
						     gs + gran <= d->lba + d->blocks;

					if (gran == 1 || whole)
						freed[a * (blocks + 1) + (b - lba)] = 1;
				}
			}
		}
		if (g->max_lba_count && g->max_lba_count != U32)
			assert_true(total <= g->max_lba_count);
		for (uint64_t b = s.head_lba; b < s.head_lba + s.head_blocks; b++) {
			assert_true(b >= at && b < at + s.consumed);
			zeroed[b - lba] = 1;
		}
		for (uint64_t b = s.tail_lba; b < s.tail_lba + s.tail_blocks; b++) {
			assert_true(b >= at && b < at + s.consumed);
			zeroed[b - lba] = 1;
		}
		at += s.consumed;
		assert_true(++steps <= blocks);
	}
	for (uint64_t a = 0; a < gran; a++) {
		if (g->ugavalid && a != g->alignment % gran)
			continue;
		for (uint64_t b = 0; b < blocks; b++)
			if (!zeroed[b] && !freed[a * (blocks + 1) + b])
				fail_msg("block %llu of [%llu,+%llu) left with old data "
					 "(g %u, align %llu, ugavalid %d, max %u/%u)",
					 (unsigned long long)(lba + b), (unsigned long long)lba,
					 (unsigned long long)blocks, g->granularity,
					 (unsigned long long)a, g->ugavalid,
					 g->max_lba_count, g->max_descriptors);
	}
	free(zeroed);
	free(freed);
}

static void test_plan_covers(void **state)
{
	static const uint32_t grans[] = { 0, 1, 2, 3, 8 };
	static const uint32_t maxes[] = { 0, 5, 8, 16, 17 };
	static const uint32_t descs[] = { 0, 1, 2, U32 };

	(void)state;
	for (size_t gi = 0; gi < 5; gi++)
		for (uint32_t al = 0; al < 9; al++)
			for (int uv = 0; uv < 2; uv++)
				for (size_t mi = 0; mi < 5; mi++)
					for (size_t di = 0; di < 4; di++) {
						struct bc_unmap_geom g = {
							grans[gi], al, uv, maxes[mi], descs[di] };

						for (uint64_t lba = 0; lba < 10; lba++)
							for (uint64_t n = 1; n < 40; n += 3)
								walk(lba, n, &g);
					}
}

static void test_build_list(void **state)
{
	static const uint8_t want[40] = {
		0x00, 0x26, 0x00, 0x20, 0, 0, 0, 0,
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,	/* LBA 0x100000002 */
		0x00, 0x00, 0x00, 0x10, 0, 0, 0, 0,		/* 16 blocks */
		0, 0, 0, 0, 0, 0, 0x20, 0x00,			/* LBA 0x2000 */
		0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	struct bc_unmap_range r[2] = { { 0x100000002ull, 16 }, { 0x2000, U32 } };
	struct bc_unmap_range *many = calloc(4096, sizeof(*many));
	uint8_t buf[64];

	(void)state;
	assert_int_equal(bc_unmap_build_list(buf, sizeof(buf), r, 2), 40);
	assert_memory_equal(buf, want, 40);
	assert_int_equal(bc_unmap_build_list(buf, 39, r, 2), -ENOSPC);
	assert_int_equal(bc_unmap_build_list(buf, sizeof(buf), r, 0), -EINVAL);
	/* 4096 descriptors do not fit the 16-bit list length */
	assert_non_null(many);
	assert_int_equal(bc_unmap_build_list(buf, sizeof(buf), many, 4096), -EINVAL);
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_table),
		cmocka_unit_test(test_plan_covers),
		cmocka_unit_test(test_build_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
