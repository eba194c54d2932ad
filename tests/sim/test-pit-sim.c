/*
 * A clone session's point in time against the simulator's token copy:
 * bc_clone_start populates a point-in-time ROD token for every extent and
 * the run only writes them, so a source changed after start does not
 * change the clone; a token the copy manager no longer honours fails the
 * copy (never a new token, which would copy a later state); a target that
 * refuses the ROD type or runs out of tokens fails start before anything
 * was written.  Every copy is compared with the source's bytes as they
 * were at start.
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

#include "backend/backends.h"
#include "simlu.h"

#define BLOCKS 131072u		/* 64 MiB of 512-byte blocks */
#define BS 512u
#define LAST (BLOCKS - 2000)	/* the third extent */

struct fx {
	struct bc_sim *sim;
	struct bc_clone *c;
	uint8_t *at_start;	/* the source as it was when start returned */
};

/* Source: extents of 300, 4096 and 2000 blocks; destination: old data. */
static void setup(struct fx *f, const struct bc_sim_token_limits *tl,
		  enum bc_offload_policy pol)
{
	struct bc_clone_opts o = { .no_refusal_memory = true };
	struct bc_volume *src, *dst;
	struct bc_scsi_transport *t;
	struct bc_sim_lu_cfg c;
	struct bc_error e = { 0 };
	uint8_t *buf = malloc(4096 * BS);

	assert_non_null(buf);
	f->sim = bc_sim_new();
	for (unsigned n = 0; n < 2; n++) {
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, n + 1);
		c.xcopy = BC_SIM_XCOPY_NONE;	/* token copy is the plan */
		c.token_lim = *tl;
		assert_int_equal(bc_sim_add_lu(f->sim, &c), (int)n);
	}
	for (uint32_t i = 0; i < 4096 * BS; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(bc_sim_write(f->sim, 0, 100, 300, buf), 0);
	assert_int_equal(bc_sim_write(f->sim, 0, 40000, 4096, buf), 0);
	assert_int_equal(bc_sim_write(f->sim, 0, LAST, 2000, buf + 11), 0);
	memset(buf, 0xee, 4096 * BS);
	for (uint64_t l = 0; l < BLOCKS; l += 4096)
		assert_int_equal(bc_sim_write(f->sim, 1, l, 4096, buf), 0);
	free(buf);
	assert_int_equal(bc_sim_open(f->sim, 0, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, &src, &e), 0);
	assert_int_equal(bc_sim_open(f->sim, 1, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &dst, &e), 0);
	o.copy.offload = pol;
	assert_int_equal(bc_clone_attach(src, dst, "src", "dst", &o, &f->c, &e), 0);
	assert_int_equal(bc_clone_plan(f->c, &e), 0);
	assert_int_equal(bc_clone_result(f->c)->plan.chosen, BC_METHOD_TOKEN);
	assert_int_equal(bc_clone_result(f->c)->plan.consistency, BC_CONSISTENCY_ATOMIC);
	f->at_start = malloc((size_t)BLOCKS * BS);
	assert_non_null(f->at_start);
}

static void teardown(struct fx *f)
{
	bc_clone_close(f->c);
	bc_sim_free(f->sim);
	free(f->at_start);
}

static void keep_source(struct fx *f)
{
	assert_int_equal(bc_sim_read(f->sim, 0, 0, BLOCKS, f->at_start), 0);
}

/* Overwrite [lba, +n) of the source, as a guest thawed after start. */
static void scribble(struct fx *f, uint64_t lba, uint32_t n, uint8_t v)
{
	uint8_t *b = malloc((size_t)n * BS);

	assert_non_null(b);
	memset(b, v, (size_t)n * BS);
	assert_int_equal(bc_sim_write(f->sim, 0, lba, n, b), 0);
	free(b);
}

/* Does the destination hold the source as it was at start over
 * [0, blocks)? */
static bool dest_is_start(struct fx *f, uint64_t blocks)
{
	uint8_t *b = malloc((size_t)BLOCKS * BS);
	bool same;

	assert_non_null(b);
	assert_int_equal(bc_sim_read(f->sim, 1, 0, BLOCKS, b), 0);
	same = !memcmp(b, f->at_start, (size_t)blocks * BS);
	free(b);
	return same;
}

#define POP(f) bc_sim_count((f)->sim, 0, 0x83, 0x10)
#define WUT(f) bc_sim_count((f)->sim, 1, 0x83, 0x11)

/* Persistent tokens: start populates them all (and writes nothing); the
 * source is then overwritten everywhere, its holes too; the run writes
 * the source as it was at start, and populates nothing. */
static void test_source_changed_after_start(void **state)
{
	struct bc_sim_token_limits tl = { .pit = BC_SIM_PIT_PERSISTENT };
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, &tl, BC_OFFLOAD_REQUIRE);
	keep_source(&f);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	r = bc_clone_result(f.c);
	assert_int_equal(r->consistency, BC_CONSISTENCY_ATOMIC);
	assert_non_null(strstr(r->consistency_reason, "1 point-in-time ROD token "));
	assert_non_null(strstr(r->consistency_reason, "inactivity timeout asked: 600 s"));
	assert_int_equal(POP(&f), 1);	/* three extents, one token of 3 ranges */
	assert_int_equal(WUT(&f), 0);
	scribble(&f, 100, 300, 0x11);
	scribble(&f, 40000, 4096, 0x22);
	scribble(&f, LAST, 2000, 0x33);
	scribble(&f, 5000, 10, 0x44);	/* a hole at start */
	assert_int_equal(bc_clone_run(f.c, &e), 0);
	assert_int_equal(r->used, BC_METHOD_TOKEN);
	assert_int_equal(r->stats.offloaded_bytes, (300 + 4096 + 2000) * BS);
	assert_int_equal(POP(&f), 1);
	assert_true(WUT(&f) >= 3);
	assert_true(dest_is_start(&f, BLOCKS));
	assert_int_equal(r->consistency, BC_CONSISTENCY_ATOMIC);
	assert_false(r->fallback.happened);
	teardown(&f);
}

/* The limits: at most 2 ranges and 1000 blocks per token, 6396 blocks:
 * seven tokens, all at start; the destination cuts WRITE USING TOKEN at
 * 300 blocks and the rest follows at a larger ROD offset. */
static void test_tokens_within_limits(void **state)
{
	struct bc_sim_token_limits tl = { .pit = BC_SIM_PIT_PERSISTENT,
					  .max_ranges = 2, .max_transfer = 1000,
					  .wut_max_blocks = 300 };
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, &tl, BC_OFFLOAD_REQUIRE);
	keep_source(&f);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	assert_int_equal(POP(&f), 7);
	assert_non_null(strstr(bc_clone_result(f.c)->consistency_reason,
			       "7 point-in-time ROD tokens (ROD type 00800000h) for 6396 blocks"));
	scribble(&f, 40000, 4096, 0x22);
	assert_int_equal(bc_clone_run(f.c, &e), 0);
	assert_int_equal(POP(&f), 7);
	assert_true(dest_is_start(&f, BLOCKS));
	teardown(&f);
}

/* Change vulnerable tokens (the target's default kind): a write to the
 * third extent after start cancels its token.  The copy fails there with
 * the point in time lost, after the first two extents, never with a new
 * token; the destination is incomplete from the third extent on. */
static void test_token_cancelled_fails(void **state)
{
	struct bc_sim_token_limits tl = { .max_ranges = 1 };
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, &tl, BC_OFFLOAD_AUTO);
	keep_source(&f);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	assert_int_equal(POP(&f), 3);
	scribble(&f, LAST + 10, 1, 0x55);
	assert_int_equal(bc_clone_run(f.c, &e), -EBADE);
	r = bc_clone_result(f.c);
	assert_int_equal(POP(&f), 3);		/* never repopulated */
	assert_int_equal(r->outcome, BC_CLONE_FAILED);
	assert_false(r->fallback.happened);	/* nor copied on the host */
	assert_int_equal(r->stats.read_bytes, 0);
	assert_string_equal(r->error.op, "WRITE USING TOKEN");
	assert_true(r->error.has_lba);
	assert_int_equal(r->error.lba, LAST);
	assert_int_equal(r->error.status.asc, 0x23);
	assert_int_equal(r->error.status.ascq, 0x08);
	assert_non_null(strstr(r->error.detail, "the point in time fixed at start was lost"));
	assert_int_equal(r->hint, BC_CLONE_HINT_RESUME);
	assert_int_equal(r->resume_lba, LAST);
	assert_true(dest_is_start(&f, LAST));
	teardown(&f);
}

/* Tokens outlive the LU's default inactivity timeout (60 s) because
 * start asks for its maximum (600 s); past that they expire, and the
 * copy fails with the point in time lost.  The sim's clock moves. */
static void test_token_expired_fails(void **state)
{
	struct bc_sim_token_limits tl = { .pit = BC_SIM_PIT_PERSISTENT };
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, &tl, BC_OFFLOAD_REQUIRE);
	keep_source(&f);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	bc_sim_advance(f.sim, 300 * 1000);	/* beyond the default */
	assert_int_equal(bc_clone_run(f.c, &e), 0);
	assert_true(dest_is_start(&f, BLOCKS));
	teardown(&f);

	setup(&f, &tl, BC_OFFLOAD_AUTO);
	keep_source(&f);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	bc_sim_advance(f.sim, 601 * 1000);
	assert_int_equal(bc_clone_run(f.c, &e), -EBADE);
	r = bc_clone_result(f.c);
	assert_int_equal(POP(&f), 1);
	assert_int_equal(r->error.status.ascq, 0x07);	/* expired */
	assert_non_null(strstr(r->error.detail, "the point in time fixed at start was lost"));
	assert_false(r->fallback.happened);
	assert_int_equal(r->hint, BC_CLONE_HINT_RESUME);
	assert_int_equal(r->resume_lba, 0);	/* nothing copied, holes unsettled */
	teardown(&f);
}

/* A target that refuses the point-in-time ROD type: start fails before
 * anything is written; under auto the host copies instead, bulk, and the
 * result says why the point in time changed. */
static void test_rod_type_refused(void **state)
{
	struct bc_sim_token_limits tl = { .pit = BC_SIM_PIT_REFUSED };
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, &tl, BC_OFFLOAD_REQUIRE);
	assert_int_equal(bc_clone_start(f.c, &e), -EOPNOTSUPP);
	r = bc_clone_result(f.c);
	assert_int_equal(r->outcome, BC_CLONE_NO_OFFLOAD);
	assert_int_equal(r->hint, BC_CLONE_HINT_UNTOUCHED);
	assert_string_equal(r->error.op, "POPULATE TOKEN");
	assert_int_equal(WUT(&f), 0);
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 1), BLOCKS);	/* untouched */
	teardown(&f);

	setup(&f, &tl, BC_OFFLOAD_AUTO);
	keep_source(&f);
	assert_int_equal(bc_clone_start(f.c, &e), 0);
	r = bc_clone_result(f.c);
	assert_int_equal(r->consistency, BC_CONSISTENCY_BULK);
	assert_non_null(strstr(r->consistency_reason,
			       "token could not fix the point in time at start"));
	assert_true(r->fallback.happened);
	assert_int_equal(r->fallback.method, BC_METHOD_TOKEN);
	assert_int_equal(r->plan.chosen, BC_METHOD_HOST);
	assert_int_equal(bc_clone_run(f.c, &e), 0);
	assert_int_equal(r->used, BC_METHOD_HOST);
	assert_true(r->fallback.happened);
	assert_int_equal(WUT(&f), 0);
	assert_true(dest_is_start(&f, BLOCKS));
	teardown(&f);
}

/* More tokens than the target holds (2, one range each): the third
 * POPULATE TOKEN is refused, start fails, nothing was written. */
static void test_too_many_tokens(void **state)
{
	struct bc_sim_token_limits tl = { .pit = BC_SIM_PIT_PERSISTENT,
					  .max_ranges = 1, .max_tokens = 2 };
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, &tl, BC_OFFLOAD_REQUIRE);
	assert_true(bc_clone_start(f.c, &e) < 0);
	r = bc_clone_result(f.c);
	assert_int_equal(POP(&f), 3);
	assert_int_equal(r->error.status.asc, 0x55);
	assert_int_equal(r->error.lba, LAST);
	assert_int_equal(r->outcome, BC_CLONE_NO_OFFLOAD);
	assert_int_equal(WUT(&f), 0);
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 1), BLOCKS);
	assert_int_equal(bc_clone_run(f.c, &e), r->error.err);	/* the same again */
	assert_int_equal(WUT(&f), 0);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_changed_after_start),
		cmocka_unit_test(test_tokens_within_limits),
		cmocka_unit_test(test_token_cancelled_fails),
		cmocka_unit_test(test_token_expired_fails),
		cmocka_unit_test(test_rod_type_refused),
		cmocka_unit_test(test_too_many_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
