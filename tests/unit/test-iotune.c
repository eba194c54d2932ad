/*
 * The adaptive I/O controller (src/core/iotune.h) over tables: targets
 * whose throughput at each queue depth is given, extent sizes, flush
 * latencies.  Pure: no clock, no devices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/iotune.h"

#define KiB 1024u
#define MiB (1024u * KiB)

static const struct bc_iotune_limits LIM = {
	.max_depth = 4, .min_chunk = 64 * KiB, .max_chunk = 1 * MiB,
	.gran = 4 * KiB, .min_wb = 32ull * MiB, .max_wb = 1024ull * MiB,
};

/* A target: bytes per second at depth 1..4, each interval's noise (a
 * factor on that rate: the neighbours on a shared host; 0 is 1), and the
 * depths the controller holds after each of the first steps.  A probe
 * is tried, the held depth measured again, the probe tried again: it is
 * kept only when both trials win against the highest rate the held
 * depth showed meanwhile. */
#define STEPS 20
struct climb {
	const char *what;
	unsigned max, start;
	double rate[5];		/* [depth] */
	unsigned want[STEPS];	/* depth after step i; 0 ends the list */
	unsigned min;		/* the limits' min_depth (0: none) */
	double noise[STEPS];	/* [step] */
};

static const struct climb climbs[] = {
	{ "saturates at 3: 3 twice, kept; 2 lost; waits; 4 lost", 4, 4,
	  { 0, 100, 190, 270, 275 }, { 3, 4, 3, 2, 3, 3, 3, 3, 3, 4, 3 }, 0, { 0 } },
	{ "more is always better: climbs to the top, tries one fewer, stays", 4, 2,
	  { 0, 100, 200, 300, 400 },
	  { 3, 2, 3, 4, 3, 4, 4, 3, 4, 4, 4, 4, 4, 3 }, 0, { 0 } },
	{ "a thrashing target: down to 1, tries 2, back to 1", 4, 4,
	  { 0, 300, 250, 200, 150 }, { 3, 4, 3, 2, 3, 2, 1, 2, 1, 1, 2, 1 }, 0, { 0 } },
	{ "as fast with fewer in flight: fewer", 4, 4,
	  { 0, 200, 200, 200, 200 }, { 3, 4, 3, 2, 3, 2, 1, 2, 1, 1, 2, 1 }, 0, { 0 } },
	/* each step down 4% slower than the last: within TOL of the one
	 * before, but the slide stops once 5% below the best seen */
	{ "a slow slide down does not add up", 4, 4,
	  { 0, 8847, 9216, 9600, 10000 }, { 3, 4, 3, 2, 3, 3, 3, 3, 3, 4, 3 }, 0, { 0 } },
	{ "one worker: nothing to try", 1, 1,
	  { 0, 100 }, { 1, 1, 1 }, 0, { 0 } },
	/* --io-depth: the caller fixed the depth */
	{ "fixed at 3: nothing tried, however the target answers", 3, 3,
	  { 0, 300, 250, 200, 150 }, { 3, 3, 3, 3, 3, 3 }, 3, { 0 } },
	{ "a floor of 2: the thrashing target's walk down stops there", 4, 4,
	  { 0, 300, 250, 200, 150 },
	  { 3, 4, 3, 2, 3, 2, 2, 3, 2, 2, 2, 2, 2, 3 }, 2, { 0 } },
	/* a noisy host: one interval's luck is not the depth's */
	{ "a probe down that lands in a quiet moment once is not kept", 4, 4,
	  { 0, 100, 200, 300, 400 }, { 3, 4, 3, 4, 4, 4, 4, 4, 3 }, 0,
	  { 0, 1.4 } },
	{ "nor when the held depth is measured again in a busy moment", 4, 4,
	  { 0, 100, 200, 300, 400 }, { 3, 4, 3, 4, 4, 4, 4, 4, 3 }, 0,
	  { 0, 1.3, 0.7 } },
};

static void test_depth_climbs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(climbs) / sizeof(climbs[0]); i++) {
		const struct climb *c = &climbs[i];
		struct bc_iotune_limits l = LIM;
		struct bc_iotune t;

		l.max_depth = c->max;
		l.min_depth = c->min;
		bc_iotune_init(&t, &l, c->start, 1 * MiB, 128ull * MiB);
		for (size_t s = 0; s < STEPS && c->want[s]; s++) {
			double noise = c->noise[s] ? c->noise[s] : 1;
			struct bc_iotune_obs o = {
				.seconds = 0.1,
				.bytes = (uint64_t)(c->rate[t.depth] * noise * 0.1 * MiB),
				.inflight = t.depth,
			};

			bc_iotune_step(&t, &l, &o);
			if (t.depth != c->want[s])
				fail_msg("%s: step %zu: depth %u, wanted %u", c->what, s,
					 t.depth, c->want[s]);
		}
	}
}

struct chunk_row {
	const char *what;
	uint64_t extents, extent_bytes;
	uint32_t want;
};

static const struct chunk_row chunks[] = {
	{ "no extent queued: unchanged", 0, 0, 512 * KiB },
	{ "100 KiB extents: 128 KiB", 10, 1000 * KiB, 128 * KiB },
	{ "1 KiB extents: the floor, 64 KiB", 100, 100 * KiB, 64 * KiB },
	{ "5 MiB extents: the buffers' size, 1 MiB", 3, 15 * MiB, 1 * MiB },
	{ "exactly 256 KiB: 256 KiB", 4, 1 * MiB, 256 * KiB },
};

static void test_chunk_from_extents(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct bc_iotune t;
		struct bc_iotune_obs o = { .seconds = 1, .bytes = MiB,
					   .extents = chunks[i].extents,
					   .extent_bytes = chunks[i].extent_bytes };

		bc_iotune_init(&t, &LIM, 4, 512 * KiB, 128ull * MiB);
		bc_iotune_step(&t, &LIM, &o);
		if (t.chunk != chunks[i].want)
			fail_msg("%s: chunk %u, wanted %u", chunks[i].what, t.chunk,
				 chunks[i].want);
		assert_int_equal(t.chunk % LIM.gran, 0);
	}
}

struct wb_row {
	const char *what;
	uint64_t min, max, start;
	unsigned flushes;
	double flush_seconds;	/* of a 1 s interval */
	uint64_t want;
};

static const struct wb_row wbs[] = {
	{ "no flush in the interval: unchanged", 32, 1024, 128, 0, 0, 128 },
	{ "flushing 80% of the time: twice the bytes per flush", 32, 1024, 128, 2, 0.8, 256 },
	{ "flushing 5% of the time: half", 32, 1024, 128, 3, 0.05, 64 },
	{ "flushing 30% of the time: unchanged", 32, 1024, 128, 1, 0.3, 128 },
	{ "not above the ceiling", 32, 1024, 1024, 1, 0.9, 1024 },
	{ "not below the floor", 32, 1024, 32, 5, 0.01, 32 },
	{ "the caller's fixed value never moves", 8, 8, 8, 9, 0.99, 8 },
};

static void test_write_behind_from_flush_latency(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(wbs) / sizeof(wbs[0]); i++) {
		const struct wb_row *r = &wbs[i];
		struct bc_iotune_limits l = LIM;
		struct bc_iotune t;
		struct bc_iotune_obs o = { .seconds = 1, .bytes = MiB,
					   .flushes = r->flushes,
					   .flush_seconds = r->flush_seconds };

		l.min_wb = r->min * MiB;
		l.max_wb = r->max * MiB;
		bc_iotune_init(&t, &l, 4, 1 * MiB, r->start * MiB);
		bc_iotune_step(&t, &l, &o);
		if (t.write_behind != r->want * MiB)
			fail_msg("%s: %llu MiB, wanted %llu", r->what,
				 (unsigned long long)(t.write_behind / MiB),
				 (unsigned long long)r->want);
	}
}

/* An empty interval (no time, or nothing completed) changes nothing, and
 * the start values are clamped into the limits. */
static void test_empty_and_clamped(void **state)
{
	struct bc_iotune t, before;
	struct bc_iotune_obs none = { 0 }, idle = { .seconds = 1 };

	(void)state;
	bc_iotune_init(&t, &LIM, 9, 100 * MiB, 1ull << 40);
	assert_int_equal(t.depth, 4);
	assert_int_equal(t.chunk, 1 * MiB);
	assert_true(t.write_behind == 1024ull * MiB);
	bc_iotune_init(&t, &LIM, 0, 1, 1);
	assert_int_equal(t.depth, 1);
	assert_int_equal(t.chunk, 64 * KiB);
	assert_true(t.write_behind == 32ull * MiB);
	before = t;
	bc_iotune_step(&t, &LIM, &none);
	bc_iotune_step(&t, &LIM, &idle);
	assert_memory_equal(&t, &before, sizeof(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depth_climbs),
		cmocka_unit_test(test_chunk_from_extents),
		cmocka_unit_test(test_write_behind_from_flush_latency),
		cmocka_unit_test(test_empty_and_clamped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
