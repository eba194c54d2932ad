/*
 * A reflink's point in time in a clone session (src/core/clone.c) over
 * memvols that clone as file.c does (tests/unit/memvol.c): start writes
 * every data extent onto the destination, so a source changed afterwards
 * does not change the clone; a clone refused first is a refusal (require:
 * offload unavailable, untouched; auto: the host, bulk); one refused after
 * others were written is not: require fails with the destination touched,
 * auto goes on on the host with nothing taken as zero, and ends identical.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <blkclone/clone.h>

#include "memvol.h"
#include "volume/io.h"

#define BS 512u
#define SIZE (4u << 20)
#define KIB 1024u

struct fx {
	struct bc_volume *src, *dst;
	struct bc_clone *c;
	uint8_t *at_start;
};

/* Source: three extents, holes between; destination: old data all over. */
static void setup(struct fx *f, enum bc_offload_policy pol, unsigned fail_at,
		  int err)
{
	struct bc_clone_opts o = { .no_refusal_memory = true };
	struct bc_error e = { 0 };

	f->src = memvol_new("src", SIZE, BS, true, true, false);
	f->dst = memvol_new("dst", SIZE, BS, true, true, true);
	memvol_reflink(f->src);
	memvol_reflink(f->dst);
	memvol_fill(f->src, 64 * KIB, 128 * KIB, 1);
	memvol_fill(f->src, 1024 * KIB, 256 * KIB, 2);
	memvol_fill(f->src, 3072 * KIB, 64 * KIB, 3);
	memvol_garbage(f->dst, 9);
	memvol_of(f->src)->capture_fail_at = fail_at;
	memvol_of(f->src)->capture_err = err;
	f->at_start = malloc(SIZE);
	assert_non_null(f->at_start);
	memcpy(f->at_start, memvol_of(f->src)->data, SIZE);
	o.copy.offload = pol;
	assert_int_equal(bc_clone_attach(f->src, f->dst, NULL, NULL, &o, &f->c, &e), 0);
	assert_int_equal(bc_clone_plan(f->c, &e), 0);
	assert_int_equal(bc_clone_result(f->c)->plan.chosen, BC_METHOD_REFLINK);
	assert_int_equal(bc_clone_result(f->c)->plan.consistency, BC_CONSISTENCY_ATOMIC);
}

/* Does the destination read the source as it was at start? */
static bool dest_is_start(struct fx *f)
{
	uint8_t *b = malloc(SIZE);
	struct bc_error e = { 0 };
	bool same;

	assert_non_null(b);
	assert_int_equal(bc_volume_read(f->dst, b, 0, SIZE, &e), 0);
	same = !memcmp(b, f->at_start, SIZE);
	free(b);
	return same;
}

static void teardown(struct fx *f)
{
	bc_clone_close(f->c);
	free(f->at_start);
}

/* Cloned at start: the source written after it (over data, over a hole)
 * is not in the clone. */
static void test_atomic(void **state)
{
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, BC_OFFLOAD_REQUIRE, 0, 0);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	r = bc_clone_result(f.c);
	assert_int_equal(r->consistency, BC_CONSISTENCY_ATOMIC);
	assert_non_null(strstr(r->consistency_reason, "3 extents cloned"));
	memvol_fill(f.src, 64 * KIB, 4 * KIB, 77);	/* over data */
	memvol_fill(f.src, 2048 * KIB, 4 * KIB, 78);	/* over a hole */
	assert_int_equal(bc_clone_run(f.c, &e), 0);
	assert_int_equal(r->used, BC_METHOD_REFLINK);
	assert_int_equal(r->stats.offloaded_bytes, (128 + 256 + 64) * KIB);
	assert_true(dest_is_start(&f));
	teardown(&f);
}

/* The first clone refused, nothing written: as a token copy's refusal. */
static void test_refused_first(void **state)
{
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, BC_OFFLOAD_REQUIRE, 1, -EXDEV);
	assert_int_equal(bc_clone_start(f.c, &e), -EXDEV);
	r = bc_clone_result(f.c);
	assert_int_equal(r->outcome, BC_CLONE_NO_OFFLOAD);
	assert_false(r->dest_touched);
	teardown(&f);

	setup(&f, BC_OFFLOAD_AUTO, 1, -EXDEV);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	r = bc_clone_result(f.c);
	assert_int_equal(r->plan.chosen, BC_METHOD_HOST);
	assert_int_equal(r->consistency, BC_CONSISTENCY_BULK);
	assert_true(r->fallback.happened);
	assert_false(r->dest_touched);
	assert_int_equal(bc_clone_run(f.c, &e), 0);
	assert_true(dest_is_start(&f));
	teardown(&f);
}

/* The second clone refused after the first was written: never "refused,
 * untouched" (exit 3); under auto the host rewrites every byte. */
static void test_refused_part_way(void **state)
{
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, BC_OFFLOAD_REQUIRE, 2, -EINVAL);
	assert_int_equal(bc_clone_start(f.c, &e), -EINVAL);
	r = bc_clone_result(f.c);
	assert_int_equal(r->outcome, BC_CLONE_FAILED);
	assert_true(r->dest_touched);
	assert_string_equal(r->error.op, "FICLONERANGE");
	teardown(&f);

	setup(&f, BC_OFFLOAD_AUTO, 2, -EINVAL);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	r = bc_clone_result(f.c);
	assert_int_equal(r->plan.chosen, BC_METHOD_HOST);
	assert_int_equal(r->consistency, BC_CONSISTENCY_BULK);
	assert_true(r->fallback.happened);
	assert_true(r->dest_touched);
	assert_false(r->plan.dest_proven_zero);
	assert_int_equal(bc_clone_run(f.c, &e), 0);
	assert_true(r->dest_touched);
	assert_true(dest_is_start(&f));
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atomic),
		cmocka_unit_test(test_refused_first),
		cmocka_unit_test(test_refused_part_way),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
