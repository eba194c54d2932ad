/*
 * The whole copy path (planner, offload walker, SCSI volume, token copy and
 * EXTENDED COPY executors) against the in-memory SCSI target, for what no
 * target here implements (token copy, EXTENDED COPY with progress in its
 * sense data) and for faults on demand.  Every copy is compared block for
 * block on the simulator's medium; the outcome of each fault is a
 * completed copy or a clean failure with the right offsets.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
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

struct fx {
	struct bc_sim *sim;
	struct bc_volume *src, *dst;
	uint64_t src_mapped;
};

/* Source: three extents of data; destination: old data everywhere. */
static void setup_lus(struct fx *f, bool xcopy, bool token,
		      const struct bc_sim_token_limits *tl)
{
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_error e = { 0 };
	uint8_t *buf = malloc(4096 * BS);

	assert_non_null(buf);
	f->sim = bc_sim_new();
	for (unsigned n = 0; n < 2; n++) {
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, n + 1);
		c.xcopy = xcopy ? BC_SIM_XCOPY_SPC : BC_SIM_XCOPY_NONE;
		c.token = token;
		if (tl)
			c.token_lim = *tl;
		assert_int_equal(bc_sim_add_lu(f->sim, &c), (int)n);
	}
	for (uint32_t i = 0; i < 4096 * BS; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(bc_sim_write(f->sim, 0, 100, 300, buf), 0);
	assert_int_equal(bc_sim_write(f->sim, 0, 40000, 4096, buf), 0);
	assert_int_equal(bc_sim_write(f->sim, 0, BLOCKS - 2000, 2000, buf + 11), 0);
	for (uint64_t l = 0; l < BLOCKS; l += 4096) {
		memset(buf, 0xee, 4096 * BS);
		assert_int_equal(bc_sim_write(f->sim, 1, l, 4096, buf), 0);
	}
	f->src_mapped = bc_sim_mapped_blocks(f->sim, 0);
	assert_int_equal(f->src_mapped, 300 + 4096 + 2000);
	free(buf);
	assert_int_equal(bc_sim_open(f->sim, 0, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, &f->src, &e), 0);
	assert_int_equal(bc_sim_open(f->sim, 1, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &f->dst, &e), 0);
}

static void teardown_lus(struct fx *f)
{
	bc_volume_close(f->src);
	bc_volume_close(f->dst);
	bc_sim_free(f->sim);
}

static bool same_medium(struct fx *f)
{
	uint8_t *a = malloc((size_t)BLOCKS * BS), *b = malloc((size_t)BLOCKS * BS);
	bool same;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(bc_sim_read(f->sim, 0, 0, BLOCKS, a), 0);
	assert_int_equal(bc_sim_read(f->sim, 1, 0, BLOCKS, b), 0);
	same = !memcmp(a, b, (size_t)BLOCKS * BS);
	free(a);
	free(b);
	return same;
}

static int copy_flush(struct fx *f, enum bc_offload_policy pol,
		      enum bc_flush_policy flush, uint64_t write_behind,
		      struct bc_copy_stats *st,
		      struct bc_fallback *fb, struct bc_plan *plan,
		      struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	struct bc_copy_opts o = { .offload = pol, .flush = flush,
				  .write_behind = write_behind };
	enum bc_method used;

	assert_int_equal(bc_volume_caps(f->src, &sc, e), 0);
	assert_int_equal(bc_volume_caps(f->dst, &dc, e), 0);
	bc_plan_make(sc, dc, pol, false, false, plan);
	return bc_copy_run(f->src, f->dst, plan, &o, st, &used, fb, e);
}

static int copy(struct fx *f, enum bc_offload_policy pol, struct bc_copy_stats *st,
		struct bc_fallback *fb, struct bc_plan *plan, struct bc_error *e)
{
	return copy_flush(f, pol, BC_FLUSH_END, 0, st, fb, plan, e);
}

#define POP(f) bc_sim_count((f)->sim, 0, 0x83, 0x10)
#define WUT(f) bc_sim_count((f)->sim, 1, 0x83, 0x11)
#define SRC_READS(f) bc_sim_count((f)->sim, 0, 0x88, BC_SIM_ANY)

/* Token copy of a sparse LU: byte-equal, as thin as the source, nothing
 * read by the host, the holes deallocated on the destination. */
static void test_token_sparse(void **state)
{
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, false, true, NULL);
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e), 0);
	assert_int_equal(plan.chosen, BC_METHOD_TOKEN);
	assert_int_equal(st.offloaded_bytes, f.src_mapped * BS);
	assert_int_equal(st.read_bytes + st.written_bytes, 0);
	assert_int_equal(SRC_READS(&f), 0);
	assert_true(same_medium(&f));
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 1), f.src_mapped);
	assert_int_equal(POP(&f), 3);	/* one token per extent */
	assert_int_equal(WUT(&f), 3);
	teardown_lus(&f);
}

/* Limits: at most 1000 blocks per token; the destination cuts each WRITE
 * USING TOKEN at 300 blocks and the rest follows at a larger ROD offset. */
static void test_token_limits_and_short_transfers(void **state)
{
	struct bc_sim_token_limits tl = { .max_transfer = 1000, .wut_max_blocks = 300 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, false, true, &tl);
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e), 0);
	assert_true(same_medium(&f));
	assert_int_equal(st.offloaded_bytes, f.src_mapped * BS);
	/* extents of 300, 4096 and 2000 blocks: 1 + 5 + 2 tokens */
	assert_int_equal(POP(&f), 8);
	/* each token of n blocks takes ceil(n / 300) writes */
	assert_int_equal(WUT(&f), 1 + (4 * 4 + 1) + (4 + 4));
	teardown_lus(&f);
}

/* An expired token is repopulated once and the copy completes. */
static void test_token_expired_once(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_CHECK, .lu = 1,
				    .opcode = 0x83, .sa = 0x11, .skip = 1,
				    .key = 0x05, .asc = 0x23, .ascq = 0x07 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, false, true, NULL);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e), 0);
	assert_int_equal(bc_sim_faults_fired(f.sim), 1);
	assert_int_equal(POP(&f), 4);	/* one extra token */
	assert_true(same_medium(&f));
	teardown_lus(&f);
}

/* The token goes stale after the destination took part of it: the new
 * token covers exactly what is left of that extent, nothing beyond. */
static void test_token_stale_after_short_transfer(void **state)
{
	struct bc_sim_token_limits tl = { .wut_max_blocks = 300 };
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_CHECK, .lu = 1,
				    .opcode = 0x83, .sa = 0x11, .skip = 2,
				    .key = 0x05, .asc = 0x23, .ascq = 0x08 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, false, true, &tl);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e), 0);
	assert_int_equal(bc_sim_faults_fired(f.sim), 1);
	assert_int_equal(st.offloaded_bytes, f.src_mapped * BS);
	assert_int_equal(POP(&f), 4);	/* one extra token */
	assert_true(same_medium(&f));
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 1), f.src_mapped);
	teardown_lus(&f);

	/* the executor alone, on the 4096-block extent: exactly that range
	 * is written, and the old data right after it is still there */
	setup_lus(&f, false, true, &tl);
	flt.skip = 1;
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	{
		uint64_t done = 0;
		uint8_t blk[BS];

		assert_int_equal(f.src->ops->offload_copy(f.src, 40000ull * BS, f.dst,
							  40000ull * BS, 4096ull * BS,
							  BC_METHOD_TOKEN, &(struct bc_stop){ 0 },
							  &done, &e), 0);
		assert_int_equal(done, 4096ull * BS);
		assert_int_equal(bc_sim_read(f.sim, 1, 44096, 1, blk), 0);
		assert_int_equal(blk[0], 0xee);
		assert_int_equal(blk[BS - 1], 0xee);
	}
	teardown_lus(&f);
}

/* The destination rejects the token every time (another array's token):
 * require fails before writing anything; auto copies on the host. */
static void test_token_refused(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_CHECK, .lu = 1,
				    .opcode = 0x83, .sa = 0x11, .count = 1000,
				    .key = 0x05, .asc = 0x23, .ascq = 0x02 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, false, true, NULL);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e), -EBADE);
	assert_false(st.dest_modified);
	assert_true(st.offload_refused);
	assert_int_equal(st.offloaded_bytes + st.written_bytes + st.zeroed_bytes, 0);
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 1), BLOCKS);	/* untouched */
	assert_string_equal(e.op, "WRITE USING TOKEN");
	teardown_lus(&f);

	setup_lus(&f, false, true, NULL);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_AUTO, &st, &fb, &plan, &e), 0);
	assert_true(fb.happened);
	assert_int_equal(fb.method, BC_METHOD_TOKEN);
	assert_int_equal(st.read_bytes, f.src_mapped * BS);
	assert_true(same_medium(&f));
	teardown_lus(&f);
}

/* COPY ABORTED part-way through a WRITE USING TOKEN: auto continues on
 * the host from exactly what the destination reported written; require
 * stops there and says so. */
static void test_token_aborted_part_way(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_COPY_ABORT, .lu = 1,
				    .opcode = 0x83, .sa = 0x11, .skip = 1,
				    .after_blocks = 1000 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, false, true, NULL);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e), -ECANCELED);
	assert_true(st.dest_modified);
	/* the first extent (300 blocks) was done; the second stopped after
	 * 1000 blocks, which RECEIVE ROD TOKEN INFORMATION reported */
	assert_int_equal(st.offloaded_bytes, 1300ull * BS);
	assert_int_equal(st.resume_offset, 41000ull * BS);
	teardown_lus(&f);

	setup_lus(&f, false, true, NULL);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_AUTO, &st, &fb, &plan, &e), 0);
	assert_true(fb.happened);
	assert_int_equal(st.offloaded_bytes, 1300ull * BS);
	assert_int_equal(st.read_bytes, (3096ull + 2000) * BS);
	assert_true(same_medium(&f));
	teardown_lus(&f);
}

/* EXTENDED COPY with several segments per command (SPC personality): a
 * COPY ABORTED whose sense says how many segments finished is resumed on
 * the host from the first unfinished one. */
static void test_xcopy_progress_from_sense(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_COPY_ABORT, .lu = 0,
				    .opcode = 0x83, .sa = 0x00, .skip = 1,	/* after the pair check */
				    .after_blocks = 70000 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, true, true, NULL);
	/* a full source: one command covers several 65535-block segments */
	{
		uint8_t *buf = malloc(4096 * BS);

		assert_non_null(buf);
		for (uint64_t l = 0; l < BLOCKS; l += 4096) {
			memset(buf, (int)(l / 4096 + 1), 4096 * BS);
			assert_int_equal(bc_sim_write(f.sim, 0, l, 4096, buf), 0);
		}
		free(buf);
	}
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_AUTO, &st, &fb, &plan, &e), 0);
	assert_int_equal(plan.chosen, BC_METHOD_XCOPY_LID1);
	assert_non_null(strstr(plan.steps[1].reason, "second to EXTENDED COPY"));
	assert_true(fb.happened);
	/* 70000 blocks written: segment 0 (65535) finished, segment 1 not */
	assert_int_equal(st.offloaded_bytes, 65535ull * BS);
	assert_int_equal(st.read_bytes, (BLOCKS - 65535ull) * BS);
	assert_true(same_medium(&f));
	teardown_lus(&f);
}

/* The connection drops under a token copy: a clean failure naming where
 * it stopped, nothing claimed that was not confirmed. */
static void test_token_disconnect(void **state)
{
	struct bc_sim_fault flt = { .kind = BC_SIM_FAULT_DISCONNECT, .lu = 1,
				    .opcode = 0x83, .sa = 0x11, .skip = 1 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };

	(void)state;
	setup_lus(&f, false, true, NULL);
	assert_int_equal(bc_sim_inject(f.sim, &flt), 0);
	assert_true(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e) < 0);
	assert_int_equal(st.offloaded_bytes, 300ull * BS);
	assert_int_equal(st.resume_offset, 40000ull * BS);
	assert_true(st.dest_modified);
	teardown_lus(&f);
}

/* GET LBA STATUS answering one descriptor at a time: the host copy
 * continues from each short reply, reads only the data, stays thin. */
static void test_host_copy_short_gls_replies(void **state)
{
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;

	(void)state;
	setup_lus(&f, false, false, NULL);
	/* a third LU whose map comes one descriptor per reply */
	bc_sim_lu_cfg_spc(&c, BLOCKS, BS, 3);
	c.xcopy = BC_SIM_XCOPY_NONE;
	c.token = false;
	c.gls_max_desc = 1;
	assert_int_equal(bc_sim_add_lu(f.sim, &c), 2);
	{
		uint8_t *buf = malloc((size_t)BLOCKS * BS);

		assert_non_null(buf);
		assert_int_equal(bc_sim_read(f.sim, 0, 0, BLOCKS, buf), 0);
		for (uint64_t l = 0; l < BLOCKS; l++)
			if (bc_sim_mapped(f.sim, 0, l))
				assert_int_equal(bc_sim_write(f.sim, 2, l, 1, buf + l * BS), 0);
		free(buf);
	}
	bc_volume_close(f.src);
	assert_int_equal(bc_sim_open(f.sim, 2, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, &f.src, &e), 0);
	assert_int_equal(copy(&f, BC_OFFLOAD_AUTO, &st, &fb, &plan, &e), 0);
	assert_int_equal(plan.chosen, BC_METHOD_HOST);
	assert_int_equal(st.read_bytes, f.src_mapped * BS);
	assert_true(bc_sim_count(f.sim, 2, 0x9e, 0x12) >= 6);	/* one per extent */
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 1), f.src_mapped);
	{
		uint8_t *a = malloc((size_t)BLOCKS * BS), *b = malloc((size_t)BLOCKS * BS);

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(bc_sim_read(f.sim, 2, 0, BLOCKS, a), 0);
		assert_int_equal(bc_sim_read(f.sim, 1, 0, BLOCKS, b), 0);
		assert_memory_equal(a, b, (size_t)BLOCKS * BS);
		free(a);
		free(b);
	}
	teardown_lus(&f);
}

/*
 * --flush: the SYNCHRONIZE CACHE commands the destination LU receives are
 * exactly one, for the whole medium and without IMMED (an IMMED flush may
 * return before the data is durable), after the last write under end
 * (64 MiB: below any write-behind), and none under never; the source is
 * flushed before it is read either way.  Host copy and token copy alike.
 */
static void flush_policy(enum bc_offload_policy pol, enum bc_flush_policy fl,
			 enum bc_method want)
{
	struct fx f;
	struct bc_copy_stats st = { 0 };
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };
	struct bc_sim_log_entry log[BC_SIM_LOG_MAX];
	size_t n;

	setup_lus(&f, false, true, NULL);
	/* under never, a write-behind of 1 MiB: a flush along the way
	 * would show (none may be sent) */
	assert_int_equal(copy_flush(&f, pol, fl, fl == BC_FLUSH_NEVER ? 1 << 20 : 0,
				    &st, &fb, &plan, &e), 0);
	assert_int_equal(plan.chosen, want);
	assert_true(same_medium(&f));
	assert_int_equal(bc_sim_count(f.sim, 0, 0x91, BC_SIM_ANY), 1);
	assert_int_equal(bc_sim_count(f.sim, 1, 0x35, BC_SIM_ANY), 0);
	if (fl == BC_FLUSH_NEVER) {
		assert_int_equal(bc_sim_count(f.sim, 1, 0x91, BC_SIM_ANY), 0);
		assert_int_equal(st.dest_flushes, 0);
		assert_int_equal(st.unflushed_bytes, st.written_bytes +
				 st.zeroed_bytes + st.offloaded_bytes);
		assert_true(st.unflushed_bytes > 0);
		/* nothing flushed: nothing known durable, the copy whole */
		assert_int_equal(st.durable_offset, 0);
		assert_int_equal(st.resume_offset, st.total_bytes);
		teardown_lus(&f);
		return;
	}
	assert_int_equal(st.durable_offset, st.total_bytes);
	assert_int_equal(bc_sim_count(f.sim, 1, 0x91, BC_SIM_ANY), 1);
	assert_int_equal(st.dest_flushes, 1);
	assert_int_equal(st.unflushed_bytes, 0);
	/* the newest command to LU 1 is that flush: nothing written after */
	n = bc_sim_log(f.sim, log, BC_SIM_LOG_MAX);
	while (n && log[n - 1].lu != 1)
		n--;
	assert_true(n > 0);
	assert_int_equal(log[n - 1].cdb[0], 0x91);
	assert_int_equal(log[n - 1].cdb[1] & 0x02, 0);		/* no IMMED */
	for (int i = 2; i < 14; i++)				/* LBA 0, all */
		assert_int_equal(log[n - 1].cdb[i], 0);
	assert_int_equal(log[n - 1].status, 0);
	teardown_lus(&f);
}

static void test_flush_end_host(void **state)
{
	(void)state;
	flush_policy(BC_OFFLOAD_NEVER, BC_FLUSH_END, BC_METHOD_HOST);
}

static void test_flush_never_host(void **state)
{
	(void)state;
	flush_policy(BC_OFFLOAD_NEVER, BC_FLUSH_NEVER, BC_METHOD_HOST);
}

static void test_flush_end_token(void **state)
{
	(void)state;
	flush_policy(BC_OFFLOAD_REQUIRE, BC_FLUSH_END, BC_METHOD_TOKEN);
}

static void test_flush_never_token(void **state)
{
	(void)state;
	flush_policy(BC_OFFLOAD_REQUIRE, BC_FLUSH_NEVER, BC_METHOD_TOKEN);
}

/*
 * Write-behind flushes go out with IMMED (the final one without); a LU
 * that refuses IMMED gets the flush again without it, and every later
 * one is sent without it straight away: one refusal per volume.  Byte-
 * equal either way, and the failure never reaches the copy.
 */
static void immed_flushes(bool refuse)
{
	struct fx f;
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	struct bc_copy_opts o = { .offload = BC_OFFLOAD_NEVER,
				  .write_behind = 1u << 20 };
	struct bc_sim_log_entry log[BC_SIM_LOG_MAX];
	unsigned long immed = 0, plain = 0, refused = 0;
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	uint8_t *a = malloc((size_t)BLOCKS * BS), *b = malloc((size_t)BLOCKS * BS);
	size_t n;

	assert_non_null(a);
	assert_non_null(b);
	setup_lus(&f, false, false, NULL);
	/* the destination: a third LU, refusing IMMED or not */
	bc_sim_lu_cfg_spc(&c, BLOCKS, BS, 3);
	c.xcopy = BC_SIM_XCOPY_NONE;
	c.token = false;
	c.sync_no_immed = refuse;
	assert_int_equal(bc_sim_add_lu(f.sim, &c), 2);
	bc_volume_close(f.dst);
	assert_int_equal(bc_sim_open(f.sim, 2, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &f.dst, &e), 0);
	bc_sim_reset_counters(f.sim);
	assert_int_equal(bc_host_copy(f.src, f.dst, false, &o, &st, &e), 0);
	assert_int_equal(bc_sim_read(f.sim, 0, 0, BLOCKS, a), 0);
	assert_int_equal(bc_sim_read(f.sim, 2, 0, BLOCKS, b), 0);
	assert_memory_equal(a, b, (size_t)BLOCKS * BS);
	free(a);
	free(b);
	/* 3.1 MiB of data written (the holes zeroed by WRITE SAME): at
	 * least two runs of 1 MiB written since the last flush asked */
	if (st.flushes < 2)
		fail_msg("flushes %u written %llu", st.flushes,
			 (unsigned long long)st.written_bytes);
	assert_int_equal(st.dest_flushes, st.flushes + 1);
	assert_int_equal(st.unflushed_bytes, 0);
	assert_int_equal(st.immed_flushes, refuse ? 0 : st.flushes);
	n = bc_sim_log(f.sim, log, BC_SIM_LOG_MAX);
	for (size_t i = 0; i < n; i++) {
		if (log[i].lu != 2 || log[i].cdb[0] != 0x91)
			continue;
		if (log[i].cdb[1] & 0x02) {
			immed++;
			refused += log[i].status != 0;
		} else {
			plain++;
			assert_int_equal(log[i].status, 0);
		}
	}
	/* the log holds the last 64 commands: count what it holds */
	assert_int_equal(bc_sim_count(f.sim, 2, 0x91, BC_SIM_ANY),
			 st.flushes + 1 + (refuse ? 1 : 0));
	if (refuse) {
		assert_true(refused <= 1 && immed == refused);
	} else {
		assert_int_equal(refused, 0);
		assert_true(plain >= 1);
	}
	/* the newest flush is the final one, without IMMED */
	while (n && !(log[n - 1].lu == 2 && log[n - 1].cdb[0] == 0x91))
		n--;
	assert_true(n > 0);
	assert_int_equal(log[n - 1].cdb[1] & 0x02, 0);
	teardown_lus(&f);
}

static void test_flush_immed_honoured(void **state)
{
	(void)state;
	immed_flushes(false);
}

static void test_flush_immed_refused_once(void **state)
{
	(void)state;
	immed_flushes(true);
}

static volatile sig_atomic_t cancel_flag;

static void *cancel_soon(void *arg)
{
	struct timespec t = { 0, 100 * 1000000L };

	(void)arg;
	nanosleep(&t, NULL);
	cancel_flag = 1;
	return NULL;
}

/* SIGINT during an IMMED WRITE USING TOKEN that the array takes its time
 * over: COPY OPERATION ABORT is sent, and the copy stops cleanly with
 * nothing claimed. */
static void test_token_cancel_aborts(void **state)
{
	struct bc_sim_token_limits tl = { .immed_polls = 100000, .status_delay_ms = 10 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };
	const struct bc_caps *sc, *dc;
	struct bc_copy_opts o = { .offload = BC_OFFLOAD_REQUIRE, .cancel = &cancel_flag };
	enum bc_method used;
	pthread_t th;

	(void)state;
	setup_lus(&f, false, true, &tl);
	assert_int_equal(bc_volume_caps(f.src, &sc, &e), 0);
	assert_int_equal(bc_volume_caps(f.dst, &dc, &e), 0);
	bc_plan_make(sc, dc, BC_OFFLOAD_REQUIRE, false, false, &plan);
	cancel_flag = 0;
	assert_int_equal(pthread_create(&th, NULL, cancel_soon, NULL), 0);
	assert_int_equal(bc_copy_run(f.src, f.dst, &plan, &o, &st, &used, &fb, &e), -EINTR);
	pthread_join(th, NULL);
	assert_int_equal(bc_sim_count(f.sim, 1, 0x83, 0x1c), 1);	/* COPY OPERATION ABORT */
	assert_int_equal(st.offloaded_bytes, 0);
	assert_int_equal(st.resume_offset, 0);
	assert_non_null(strstr(e.detail, "COPY OPERATION ABORT"));
	teardown_lus(&f);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * A bound for the tests of copy managers that never finish: after this
 * many RECEIVE ROD TOKEN INFORMATIONs (at least 10 ms apart, 20 s) the
 * destination drops the connection, so a blkclone that polls forever
 * fails the test with a lost connection instead of hanging it.
 */
#define RRTI_WATCHDOG 2000

static void arm_watchdog(struct fx *f)
{
	struct bc_sim_fault w = { .kind = BC_SIM_FAULT_DISCONNECT, .lu = 1,
				  .opcode = 0x84, .sa = 0x07, .skip = RRTI_WATCHDOG };

	assert_int_equal(bc_sim_inject(f->sim, &w), 0);
}

#define RRTI(f) bc_sim_count((f)->sim, 1, 0x84, 0x07)
#define ABORTS(f) bc_sim_count((f)->sim, 1, 0x83, 0x1c)

/* A WRITE USING TOKEN the copy manager reports "in progress" forever: no
 * progress for the token's inactivity timeout (VPD 0x8F, 1 s here) stops
 * it with COPY OPERATION ABORT, and the copy fails naming RECEIVE ROD
 * TOKEN INFORMATION and the LBA, with nothing claimed. */
static void test_token_in_progress_forever(void **state)
{
	struct bc_sim_token_limits tl = { .never_completes = true,
					  .default_inactivity_s = 1 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };
	double t0;

	(void)state;
	setup_lus(&f, false, true, &tl);
	arm_watchdog(&f);
	t0 = now_s();
	assert_int_equal(copy(&f, BC_OFFLOAD_REQUIRE, &st, &fb, &plan, &e), -ETIMEDOUT);
	assert_true(now_s() - t0 < 20);		/* generous: the bound is 1 s */
	assert_int_equal(bc_sim_faults_fired(f.sim), 0);	/* not the watchdog */
	assert_string_equal(e.op, "RECEIVE ROD TOKEN INFORMATION");
	assert_true(e.has_lba);
	assert_int_equal(e.lba, 100);		/* the first extent */
	assert_non_null(strstr(e.detail, "inactivity timeout"));
	assert_int_equal(ABORTS(&f), 1);
	assert_true(st.dest_modified);		/* the copy manager had it */
	assert_int_equal(st.offloaded_bytes, 0);
	assert_int_equal(st.resume_offset, 0);
	teardown_lus(&f);
}

/* The same copy manager with the default inactivity timeout (60 s), and
 * the copy given --timeout=1: the deadline stops the poll the same way,
 * and under auto no host copy starts after it. */
static void test_token_timeout_option(void **state)
{
	struct bc_sim_token_limits tl = { .never_completes = true };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };
	const struct bc_caps *sc, *dc;
	struct bc_copy_opts o = { .offload = BC_OFFLOAD_AUTO, .timeout_s = 1 };
	enum bc_method used;
	double t0;

	(void)state;
	setup_lus(&f, false, true, &tl);
	arm_watchdog(&f);
	assert_int_equal(bc_volume_caps(f.src, &sc, &e), 0);
	assert_int_equal(bc_volume_caps(f.dst, &dc, &e), 0);
	assert_int_equal(dc->token_lim.default_inactivity_s, 60);
	bc_plan_make(sc, dc, o.offload, false, false, &plan);
	t0 = now_s();
	assert_int_equal(bc_copy_run(f.src, f.dst, &plan, &o, &st, &used, &fb, &e),
			 -ETIME);
	assert_true(now_s() - t0 < 20);		/* generous: the bound is 1 s */
	assert_int_equal(bc_sim_faults_fired(f.sim), 0);
	assert_string_equal(e.op, "RECEIVE ROD TOKEN INFORMATION");
	assert_int_equal(e.lba, 100);
	assert_non_null(strstr(e.detail, "--timeout=1 s"));
	assert_int_equal(ABORTS(&f), 1);
	assert_false(fb.happened);
	assert_int_equal(SRC_READS(&f), 0);
	teardown_lus(&f);
}

/* SIGINT while the copy manager hangs, and it refuses COPY OPERATION
 * ABORT: a bounded number of polls, then the copy fails naming COPY
 * OPERATION ABORT and saying the destination may still be written --
 * and under auto the host does not copy over a copy manager that may
 * still be writing. */
static void test_token_abort_refused(void **state)
{
	struct bc_sim_token_limits tl = { .never_completes = true };
	struct bc_sim_fault refuse = { .kind = BC_SIM_FAULT_CHECK, .lu = 1,
				       .opcode = 0x83, .sa = 0x1c, .count = 1000,
				       .key = 0x05, .asc = 0x24, .ascq = 0x00 };
	static const enum bc_offload_policy pol[] = { BC_OFFLOAD_REQUIRE, BC_OFFLOAD_AUTO };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct fx f;
		struct bc_copy_stats st;
		struct bc_fallback fb;
		struct bc_plan plan;
		struct bc_error e = { 0 };
		const struct bc_caps *sc, *dc;
		struct bc_copy_opts o = { .offload = pol[i], .cancel = &cancel_flag };
		enum bc_method used;
		pthread_t th;
		double t0;

		setup_lus(&f, false, true, &tl);
		arm_watchdog(&f);
		assert_int_equal(bc_sim_inject(f.sim, &refuse), 0);
		assert_int_equal(bc_volume_caps(f.src, &sc, &e), 0);
		assert_int_equal(bc_volume_caps(f.dst, &dc, &e), 0);
		bc_plan_make(sc, dc, pol[i], false, false, &plan);
		cancel_flag = 0;
		assert_int_equal(pthread_create(&th, NULL, cancel_soon, NULL), 0);
		t0 = now_s();
		assert_int_equal(bc_copy_run(f.src, f.dst, &plan, &o, &st, &used, &fb, &e),
				 -EINPROGRESS);
		pthread_join(th, NULL);
		assert_true(now_s() - t0 < 20);
		assert_int_equal(bc_sim_faults_fired(f.sim), 1);	/* the refusal */
		assert_int_equal(ABORTS(&f), 1);
		assert_string_equal(e.op, "COPY OPERATION ABORT");
		assert_true(e.has_lba);
		assert_int_equal(e.lba, 100);
		assert_non_null(strstr(e.detail, "refused"));
		assert_non_null(strstr(e.detail, "may still be writing"));
		assert_true(st.dest_modified);
		assert_false(fb.happened);
		assert_int_equal(SRC_READS(&f), 0);
		teardown_lus(&f);
	}
}

/* A copy manager that answers COPY OPERATION ABORT with GOOD and goes on:
 * the same bounded end, naming the abort that did not take. */
static void test_token_abort_ignored(void **state)
{
	struct bc_sim_token_limits tl = { .never_completes = true, .abort_ignored = true,
					  .default_inactivity_s = 1 };
	struct fx f;
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_plan plan;
	struct bc_error e = { 0 };
	double t0;

	(void)state;
	setup_lus(&f, false, true, &tl);
	arm_watchdog(&f);
	t0 = now_s();
	assert_int_equal(copy(&f, BC_OFFLOAD_AUTO, &st, &fb, &plan, &e), -EINPROGRESS);
	assert_true(now_s() - t0 < 20);
	assert_int_equal(bc_sim_faults_fired(f.sim), 0);
	assert_int_equal(ABORTS(&f), 1);
	assert_string_equal(e.op, "COPY OPERATION ABORT");
	assert_int_equal(e.lba, 100);
	assert_non_null(strstr(e.detail, "still in progress"));
	assert_non_null(strstr(e.detail, "may still be writing"));
	assert_false(fb.happened);
	assert_int_equal(SRC_READS(&f), 0);
	teardown_lus(&f);
}

/* VPD B0's lengths are untrusted 32-bit block counts: in bytes they must
 * saturate, not wrap (1 Mi blocks of 4096 bytes is 2^32, which wrapped to
 * "not reported" and a 4 GiB LU limit read as none); a LIO-like limit of
 * 8192 blocks is 4 MiB, above the host copy's 1 MiB default. */
static void test_block_limits_in_bytes(void **state)
{
	static const struct { uint32_t bs, max_blocks, want; } t[] = {
		{ 4096, 1u << 20, UINT32_MAX },
		{ 4096, UINT32_MAX, UINT32_MAX },
		{ 512, 8192, 4u << 20 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bc_sim *sim = bc_sim_new();
		struct bc_sim_lu_cfg c;
		struct bc_scsi_transport *tr;
		struct bc_volume *v;
		const struct bc_caps *caps;
		struct bc_error e = { 0 };

		bc_sim_lu_cfg_spc(&c, 2048, t[i].bs, 1);
		c.max_transfer = t[i].max_blocks;
		assert_int_equal(bc_sim_add_lu(sim, &c), 0);
		assert_int_equal(bc_sim_open(sim, 0, &tr), 0);
		assert_int_equal(bc_scsi_volume_wrap(tr, 0, &v, &e), 0);
		assert_int_equal(bc_volume_caps(v, &caps, &e), 0);
		assert_int_equal(caps->max_transfer, t[i].want);
		bc_volume_close(v);
		bc_sim_free(sim);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_sparse),
		cmocka_unit_test(test_token_limits_and_short_transfers),
		cmocka_unit_test(test_token_expired_once),
		cmocka_unit_test(test_token_stale_after_short_transfer),
		cmocka_unit_test(test_token_refused),
		cmocka_unit_test(test_token_aborted_part_way),
		cmocka_unit_test(test_xcopy_progress_from_sense),
		cmocka_unit_test(test_token_disconnect),
		cmocka_unit_test(test_token_cancel_aborts),
		cmocka_unit_test(test_token_in_progress_forever),
		cmocka_unit_test(test_token_timeout_option),
		cmocka_unit_test(test_token_abort_refused),
		cmocka_unit_test(test_token_abort_ignored),
		cmocka_unit_test(test_host_copy_short_gls_replies),
		cmocka_unit_test(test_block_limits_in_bytes),
		cmocka_unit_test(test_flush_end_host),
		cmocka_unit_test(test_flush_never_host),
		cmocka_unit_test(test_flush_end_token),
		cmocka_unit_test(test_flush_never_token),
		cmocka_unit_test(test_flush_immed_honoured),
		cmocka_unit_test(test_flush_immed_refused_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
