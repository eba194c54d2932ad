/*
 * The pure parts of the stack walk: dm-multipath table and status lines
 * as the kernel prints them (src/volume/dmtable.h), and the cutting of a
 * copy at every segment boundary of two LVs (src/volume/segments.h).
 * Expected values are literals, not recomputed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "volume/dmtable.h"
#include "volume/segments.h"

#define MiB (1024ull * 1024)

struct mp_case {
	const char *line;
	bool status;
	int rc;
	size_t n;
	unsigned dev[4][2];	/* MAJ, MIN */
	unsigned group[4];
	bool active[4];		/* status lines */
	unsigned fails[4];
};

static const struct mp_case mp_cases[] = {
	/* multipathd's table for an ALUA LU over two paths */
	{ "0 1 alua 1 1 service-time 0 2 1 8:16 1 8:32 1", false, 0, 2,
	  { { 8, 16 }, { 8, 32 } }, { 1, 1 }, { 0 }, { 0 } },
	/* features and a hardware handler with an argument */
	{ "1 queue_if_no_path 2 emc 1 1 1 round-robin 0 2 1 8:16 1000 8:32 1000",
	  false, 0, 2, { { 8, 16 }, { 8, 32 } }, { 1, 1 }, { 0 }, { 0 } },
	{ "3 queue_if_no_path queue_mode bio 0 2 2 round-robin 0 1 1 65:0 1 "
	  "round-robin 0 1 1 65:16 1", false, 0, 2,
	  { { 65, 0 }, { 65, 16 } }, { 1, 2 }, { 0 }, { 0 } },
	/* the test VM's table (tests/vm/guest/test-identity.sh) */
	{ "0 0 1 1 round-robin 0 2 1 8:48 1000 8:80 1000\n", false, 0, 2,
	  { { 8, 48 }, { 8, 80 } }, { 1, 1 }, { 0 }, { 0 } },
	/* status: service-time prints two numbers per path */
	{ "2 0 0 0 1 1 A 0 2 2 8:16 A 0 0 1 8:32 F 3 0 1", true, 0, 2,
	  { { 8, 16 }, { 8, 32 } }, { 1, 1 }, { true, false }, { 0, 3 } },
	/* status: round-robin prints none; the second group enabled */
	{ "2 1 0 0 2 1 A 0 1 0 8:16 A 0 E 0 1 0 8:32 F 1", true, 0, 2,
	  { { 8, 16 }, { 8, 32 } }, { 1, 2 }, { true, false }, { 0, 1 } },
	/* malformed */
	{ "", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "0 0 1 1 round-robin 0 2 1 8:16 1000", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "0 0 1 1 round-robin 0 1 1 8:16 1000 extra", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "0 0 1 1 round-robin 0 1 1 sdb 1000", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "0 0 1 1 round-robin 0 1 1 8:16: 1000", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "0 0 1 2 round-robin 0 1 1 8:16 1000", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "0 0 0 0", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "99999999999 0 1 1 round-robin 0 1 1 8:16 1000", false, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "2 0 0 0 1 1 X 0 1 0 8:16 A 0", true, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "2 0 0 0 1 1 A 0 1 0 8:16 B 0", true, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	{ "2 0 0 0 1 1 A 0 1 0 8:16 A", true, -EINVAL, 0, { { 0 } }, { 0 }, { 0 }, { 0 } },
	/* more paths than the caller has room for (3 here) */
	{ "0 0 1 1 round-robin 0 4 1 8:0 1 8:16 1 8:32 1 8:48 1", false, -E2BIG, 0,
	  { { 0 } }, { 0 }, { 0 }, { 0 } },
};

static void test_multipath_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mp_cases) / sizeof(mp_cases[0]); i++) {
		const struct mp_case *c = &mp_cases[i];
		struct bc_mpath_path p[4];
		size_t n = 99;
		int rc = bc_dm_parse_multipath(c->line, c->status, p, 3, &n);

		print_message("case %zu: \"%s\"\n", i, c->line);
		assert_int_equal(rc, c->rc);
		if (rc < 0) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_int_equal(n, c->n);
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(p[k].maj, c->dev[k][0]);
			assert_int_equal(p[k].min, c->dev[k][1]);
			assert_int_equal(p[k].group, c->group[k]);
			if (c->status) {
				assert_int_equal(p[k].active, c->active[k]);
				assert_int_equal(p[k].fail_count, c->fails[k]);
			}
		}
	}
	assert_int_equal(bc_dm_parse_multipath(NULL, false, NULL, 0, &(size_t){ 0 }),
			 -EINVAL);
}

/* An LV of two segments on the LU: 4 MiB at 100 MiB, then 4 MiB at
 * 20 MiB (lvextend after another LV took the space between). */
static const struct bc_stack_seg two[] = {
	{ 0, 4 * MiB, 100 * MiB },
	{ 4 * MiB, 4 * MiB, 20 * MiB },
};
/* Three segments: 2, 3 and 3 MiB. */
static const struct bc_stack_seg three[] = {
	{ 0, 2 * MiB, 200 * MiB },
	{ 2 * MiB, 3 * MiB, 300 * MiB },
	{ 5 * MiB, 3 * MiB, 400 * MiB },
};
static const struct bc_stack_seg one[] = {
	{ 0, 8 * MiB, 50 * MiB },
};

static void test_segs_check_locate(void **state)
{
	struct bc_stack_seg gap[] = { { 0, MiB, 0 }, { 2 * MiB, MiB, 0 } };
	struct bc_stack_seg empty[] = { { 0, 0, 0 } };
	struct bc_stack_seg wrap[] = { { 0, 4096, UINT64_MAX - 100 } };
	uint64_t u = 0, r = 0;

	(void)state;
	assert_int_equal(bc_segs_check(two, 2), 0);
	assert_int_equal(bc_segs_check(three, 3), 0);
	assert_int_equal(bc_segs_check(gap, 2), -EINVAL);
	assert_int_equal(bc_segs_check(empty, 1), -EINVAL);
	assert_int_equal(bc_segs_check(wrap, 1), -EINVAL);
	assert_int_equal(bc_segs_check(two, 0), -EINVAL);

	assert_int_equal(bc_segs_locate(two, 2, 0, &u, &r), 0);
	assert_true(u == 100 * MiB && r == 4 * MiB);
	assert_int_equal(bc_segs_locate(two, 2, 4 * MiB - 512, &u, &r), 0);
	assert_true(u == 104 * MiB - 512 && r == 512);
	assert_int_equal(bc_segs_locate(two, 2, 4 * MiB, &u, &r), 0);
	assert_true(u == 20 * MiB && r == 4 * MiB);
	assert_int_equal(bc_segs_locate(two, 2, 8 * MiB, &u, &r), -ERANGE);
}

struct cut_case {
	const struct bc_stack_seg *s;
	size_t ns;
	uint64_t soff;
	const struct bc_stack_seg *d;
	size_t nd;
	uint64_t doff, len;
	size_t max;
	int rc;
	size_t n;
	uint64_t covered;
	struct bc_seg_piece p[5];
};

static const struct cut_case cuts[] = {
	/* two segments onto one: cut where the source's segment ends */
	{ two, 2, 0, one, 1, 0, 8 * MiB, 8, 0, 2, 8 * MiB,
	  { { 0, 0, 100 * MiB, 50 * MiB, 4 * MiB },
	    { 4 * MiB, 4 * MiB, 20 * MiB, 54 * MiB, 4 * MiB } } },
	/* one onto three: cut at the destination's boundaries */
	{ one, 1, 0, three, 3, 0, 8 * MiB, 8, 0, 3, 8 * MiB,
	  { { 0, 0, 50 * MiB, 200 * MiB, 2 * MiB },
	    { 2 * MiB, 2 * MiB, 52 * MiB, 300 * MiB, 3 * MiB },
	    { 5 * MiB, 5 * MiB, 55 * MiB, 400 * MiB, 3 * MiB } } },
	/* two onto three: every boundary of either side (2, 4, 5 MiB) */
	{ two, 2, 0, three, 3, 0, 8 * MiB, 8, 0, 4, 8 * MiB,
	  { { 0, 0, 100 * MiB, 200 * MiB, 2 * MiB },
	    { 2 * MiB, 2 * MiB, 102 * MiB, 300 * MiB, 2 * MiB },
	    { 4 * MiB, 4 * MiB, 20 * MiB, 302 * MiB, 1 * MiB },
	    { 5 * MiB, 5 * MiB, 21 * MiB, 400 * MiB, 3 * MiB } } },
	/* a resume from inside a segment: 3 MiB in, 3 MiB long */
	{ two, 2, 3 * MiB, three, 3, 3 * MiB, 3 * MiB, 8, 0, 3, 3 * MiB,
	  { { 3 * MiB, 3 * MiB, 103 * MiB, 301 * MiB, 1 * MiB },
	    { 4 * MiB, 4 * MiB, 20 * MiB, 302 * MiB, 1 * MiB },
	    { 5 * MiB, 5 * MiB, 21 * MiB, 400 * MiB, 1 * MiB } } },
	/* room for two pieces: a prefix, the caller goes on from there */
	{ two, 2, 0, three, 3, 0, 8 * MiB, 2, 0, 2, 4 * MiB,
	  { { 0, 0, 100 * MiB, 200 * MiB, 2 * MiB },
	    { 2 * MiB, 2 * MiB, 102 * MiB, 300 * MiB, 2 * MiB } } },
	/* source and destination at different volume offsets */
	{ one, 1, 1 * MiB, two, 2, 3 * MiB, 2 * MiB, 8, 0, 2, 2 * MiB,
	  { { 1 * MiB, 3 * MiB, 51 * MiB, 103 * MiB, 1 * MiB },
	    { 2 * MiB, 4 * MiB, 52 * MiB, 20 * MiB, 1 * MiB } } },
	/* past the end of the source's segments */
	{ two, 2, 6 * MiB, one, 1, 0, 4 * MiB, 8, -ERANGE, 0, 0, { { 0 } } },
	/* nothing to cut */
	{ two, 2, 0, one, 1, 0, 0, 8, 0, 0, 0, { { 0 } } },
};

static void test_segs_cut(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		const struct cut_case *c = &cuts[i];
		struct bc_seg_piece p[8];
		size_t n = 99;
		uint64_t covered = 99;
		int rc = bc_segs_cut(c->s, c->ns, c->soff, c->d, c->nd, c->doff,
				     c->len, p, c->max, &n, &covered);

		print_message("cut case %zu\n", i);
		assert_int_equal(rc, c->rc);
		if (rc < 0)
			continue;
		assert_int_equal(n, c->n);
		assert_true(covered == c->covered);
		for (size_t k = 0; k < n; k++) {
			assert_true(p[k].src_off == c->p[k].src_off);
			assert_true(p[k].dst_off == c->p[k].dst_off);
			assert_true(p[k].src_unit == c->p[k].src_unit);
			assert_true(p[k].dst_unit == c->p[k].dst_unit);
			assert_true(p[k].length == c->p[k].length);
		}
	}
}

static void test_segs_overlap(void **state)
{
	/* another LV in the gap between two's segments (24..100 MiB) */
	static const struct bc_stack_seg between[] = { { 0, 76 * MiB, 24 * MiB } };
	static const struct bc_stack_seg touching[] = { { 0, 1 * MiB, 104 * MiB } };
	static const struct bc_stack_seg inside[] = { { 0, 512, 22 * MiB } };
	static const struct bc_stack_seg whole[] = { { 0, 1024 * MiB, 0 } };

	(void)state;
	assert_int_equal(bc_segs_overlap(two, 2, between, 1), 0);
	assert_int_equal(bc_segs_overlap(two, 2, touching, 1), 0);
	assert_int_equal(bc_segs_overlap(two, 2, inside, 1), 1);
	assert_int_equal(bc_segs_overlap(inside, 1, two, 2), 1);
	assert_int_equal(bc_segs_overlap(two, 2, whole, 1), 1);
	assert_int_equal(bc_segs_overlap(two, 2, three, 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multipath_lines),
		cmocka_unit_test(test_segs_check_locate),
		cmocka_unit_test(test_segs_cut),
		cmocka_unit_test(test_segs_overlap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
