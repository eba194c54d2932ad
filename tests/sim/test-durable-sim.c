/*
 * An offloaded copy's durable offset (bc_copy_stats.durable_offset, what a
 * job records as its resume offset while it runs) against the simulator:
 * it moves on as segments complete, only past what a SYNCHRONIZE CACHE of
 * the destination sent after them covers, and stops at the last segment
 * done before a COPY ABORTED strikes a known command.  A copy resumed from
 * it finishes byte-identical.  Token copy (its tokens fixed at start) and
 * EXTENDED COPY (LID1).
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
#define EXTENTS 6u
#define STRIDE 8192u		/* an extent every 4 MiB ... */
#define EXT 2048u		/* ... of 1 MiB, holes between */
#define FAIL_AT 3u		/* the command of the fourth extent fails */
#define CADENCE (1ull << 20)	/* a flush per MiB written (else 128 MiB) */

/* What each advance of the durable offset came with. */
struct seen {
	struct bc_sim *sim;
	uint64_t durable;	/* the last one reported */
	unsigned long syncs;	/* SYNCHRONIZE CACHE on the destination then */
	unsigned advances;
	bool unflushed;		/* one came without a flush since the last */
	/* at this advance, make the destination's next flush fail */
	unsigned fail_flush_after;
};

static unsigned long syncs(struct bc_sim *sim)
{
	return bc_sim_count(sim, 1, 0x35, BC_SIM_ANY) +
	       bc_sim_count(sim, 1, 0x91, BC_SIM_ANY);
}

/* As a job's record takes it (cmd-job-run.c): each report of a larger
 * durable offset. */
static void on_progress(const struct bc_copy_stats *st, void *arg)
{
	struct seen *s = arg;
	unsigned long n;

	if (st->durable_offset <= s->durable)
		return;
	n = syncs(s->sim);
	/* every segment here writes the destination: each advance needs a
	 * flush after it */
	if (n <= s->syncs)
		s->unflushed = true;
	s->syncs = n;
	s->durable = st->durable_offset;
	s->advances++;
	if (s->advances == s->fail_flush_after) {
		/* a write error on SYNCHRONIZE CACHE, (10) or (16) */
		struct bc_sim_fault f = { .kind = BC_SIM_FAULT_CHECK, .lu = 1,
					  .opcode = 0x91, .sa = BC_SIM_ANY,
					  .key = 0x3, .asc = 0x0c, .ascq = 0x00 };

		assert_int_equal(bc_sim_inject(s->sim, &f), 0);
		f.opcode = 0x35;
		assert_int_equal(bc_sim_inject(s->sim, &f), 0);
	}
}

static struct bc_sim *make_sim(bool token)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_sim_lu_cfg c;
	uint8_t *buf = malloc(STRIDE * BS);

	assert_non_null(sim);
	assert_non_null(buf);
	for (unsigned n = 0; n < 2; n++) {
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, n + 1);
		c.xcopy = token ? BC_SIM_XCOPY_NONE : BC_SIM_XCOPY_SPC;
		c.token = token;
		c.token_lim.pit = BC_SIM_PIT_PERSISTENT;
		c.token_lim.max_ranges = 1;	/* a token per extent */
		assert_int_equal(bc_sim_add_lu(sim, &c), (int)n);
	}
	for (uint32_t x = 0; x < EXTENTS; x++) {
		for (uint32_t i = 0; i < EXT * BS; i++)
			buf[i] = (uint8_t)(i * 13 + x * 7 + 1);
		assert_int_equal(bc_sim_write(sim, 0, (uint64_t)x * STRIDE, EXT, buf), 0);
	}
	/* the destination holds old data everywhere: its holes are zeroed */
	memset(buf, 0xee, STRIDE * BS);
	for (uint64_t l = 0; l < BLOCKS; l += STRIDE)
		assert_int_equal(bc_sim_write(sim, 1, l, STRIDE, buf), 0);
	free(buf);
	return sim;
}

static struct bc_clone *session(struct bc_sim *sim, struct bc_clone_opts *o)
{
	struct bc_volume *src, *dst;
	struct bc_scsi_transport *t;
	struct bc_clone *c;
	struct bc_error e = { 0 };

	o->no_refusal_memory = true;
	assert_int_equal(bc_sim_open(sim, 0, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, &src, &e), 0);
	assert_int_equal(bc_sim_open(sim, 1, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &dst, &e), 0);
	assert_int_equal(bc_clone_attach(src, dst, "src", "dst", o, &c, &e), 0);
	assert_int_equal(bc_clone_plan(c, &e), 0);
	return c;
}

static bool same(struct bc_sim *sim)
{
	uint8_t *a = malloc((size_t)BLOCKS * BS), *b = malloc((size_t)BLOCKS * BS);
	bool eq;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(bc_sim_read(sim, 0, 0, BLOCKS, a), 0);
	assert_int_equal(bc_sim_read(sim, 1, 0, BLOCKS, b), 0);
	eq = !memcmp(a, b, (size_t)BLOCKS * BS);
	free(a);
	free(b);
	return eq;
}

static void run(bool token)
{
	/* token: WRITE USING TOKEN goes to the destination; EXTENDED COPY
	 * to the source, the first one the pair check */
	struct bc_sim_fault flt = {
		.kind = BC_SIM_FAULT_COPY_ABORT, .lu = token ? 1 : 0,
		.opcode = 0x83, .sa = token ? 0x11 : 0x00,
		.skip = token ? FAIL_AT : FAIL_AT + 1, .after_blocks = 100 };
	struct bc_sim *sim = make_sim(token);
	struct seen s = { .sim = sim };
	struct bc_clone_opts o = { 0 };
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct bc_clone *c;
	uint64_t want = (uint64_t)FAIL_AT * STRIDE * BS;

	o.copy.offload = BC_OFFLOAD_REQUIRE;
	o.copy.write_behind = CADENCE;
	o.copy.progress = on_progress;
	o.copy.progress_arg = &s;
	c = session(sim, &o);
	r = bc_clone_result(c);
	assert_int_equal(r->plan.chosen, token ? BC_METHOD_TOKEN : BC_METHOD_XCOPY_LID1);
	assert_int_equal(bc_sim_inject(sim, &flt), 0);
	assert_true(bc_clone_run(c, &e) < 0);
	assert_int_equal(bc_sim_faults_fired(sim), 1);
	assert_int_equal(r->outcome, BC_CLONE_FAILED);
	/* the last one reported (what a job whose process died keeps) is
	 * where the failing extent begins: the three before it and the
	 * holes after them done, and flushed */
	if (s.durable != want)
		fail_msg("%s: durable offset %llu, wanted %llu (the end of segment %u and its hole)",
			 token ? "token" : "xcopy", (unsigned long long)s.durable,
			 (unsigned long long)want, FAIL_AT);
	/* one per extent and one per hole before the fault */
	assert_int_equal(s.advances, 2 * FAIL_AT);
	assert_false(s.unflushed);
	assert_true(r->stats.durable_offset == want);
	assert_true(r->stats.resume_offset >= want);
	bc_clone_close(c);

	/* resumed from it (a host copy, as job start --resume does) */
	bc_sim_clear_faults(sim);
	memset(&o, 0, sizeof(o));
	o.resume = true;
	o.resume_lba = s.durable / BS;
	c = session(sim, &o);
	assert_int_equal(bc_clone_run(c, &e), 0);
	r = bc_clone_result(c);
	assert_int_equal(r->used, BC_METHOD_HOST);
	assert_int_equal(r->stats.read_bytes,
			 (uint64_t)(EXTENTS - FAIL_AT) * EXT * BS);
	bc_clone_close(c);
	assert_true(same(sim));
	bc_sim_free(sim);
}

/* A flush that fails: nothing after the last good one is known to be on
 * the medium, so the copy stops with its resume offset there, not at the
 * first byte not copied; resumed from it, the copy is whole. */
static void test_failed_flush(void **state)
{
	struct bc_sim *sim = make_sim(false);
	struct seen s = { .sim = sim, .fail_flush_after = 2 };
	struct bc_clone_opts o = { 0 };
	const struct bc_clone_result *r;
	struct bc_error e = { 0 };
	struct bc_clone *c;

	(void)state;
	o.copy.offload = BC_OFFLOAD_REQUIRE;
	o.copy.write_behind = CADENCE;
	o.copy.progress = on_progress;
	o.copy.progress_arg = &s;
	c = session(sim, &o);
	assert_true(bc_clone_run(c, &e) < 0);
	r = bc_clone_result(c);
	assert_int_equal(bc_sim_faults_fired(sim), 1);
	assert_non_null(strstr(r->error.op, "SYNCHRONIZE CACHE"));
	/* extent 1 and its hole were made durable; extent 2 was copied,
	 * its flush failed */
	assert_int_equal(s.advances, 2);
	assert_int_equal(s.durable, (uint64_t)STRIDE * BS);
	assert_int_equal(r->stats.resume_offset, s.durable);
	assert_int_equal(r->hint, BC_CLONE_HINT_RESUME);
	bc_clone_close(c);
	bc_sim_clear_faults(sim);
	memset(&o, 0, sizeof(o));
	o.resume = true;
	o.resume_lba = s.durable / BS;
	c = session(sim, &o);
	assert_int_equal(bc_clone_run(c, &e), 0);
	bc_clone_close(c);
	assert_true(same(sim));
	bc_sim_free(sim);
}

static void test_token_durable(void **state)
{
	(void)state;
	run(true);
}

static void test_xcopy_durable(void **state)
{
	(void)state;
	run(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_durable),
		cmocka_unit_test(test_xcopy_durable),
		cmocka_unit_test(test_failed_flush),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
