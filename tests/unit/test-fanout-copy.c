/*
 * The fan-out host copy (src/core/fanout-copy.c) over in-memory volumes:
 * one source read once for several destinations, each destination's
 * holes by its own rule, a failing destination dropped with its resume
 * offset while the others finish, a source failure stopping all, and
 * the buffer pool bounded whatever the number of destinations.
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

#include "core/fanout.h"
#include "memvol.h"

#define MiB (1024 * 1024)
#define NMAX 20

static unsigned threads_of(void **state)
{
	return *state ? (unsigned)(uintptr_t)*state : 1;
}

static struct bc_volume *with_threads(struct bc_volume *v, void **state)
{
	v->io_threads = threads_of(state);
	return v;
}

/* 8 MiB source, three data extents (as test-hostcopy.c's). */
static struct bc_volume *sparse_source(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);

	memvol_fill(s, 0, 64 * 1024, 1);
	memvol_fill(s, 3 * MiB + 512, 5 * 512, 2);
	memvol_fill(s, 7 * MiB, 1 * MiB, 3);
	return s;
}

static const uint64_t SRC_DATA = 64 * 1024 + 5 * 512 + 1 * MiB;

struct fan_run {
	size_t n;
	struct bc_fanout_dest d[NMAX];
	struct bc_copy_stats st[NMAX];
	struct bc_error e[NMAX];
};

static void set_dest(struct fan_run *r, size_t i, struct bc_volume *v,
		     bool proven_zero)
{
	r->d[i] = (struct bc_fanout_dest){ .dst = v, .proven_zero = proven_zero,
					   .st = &r->st[i], .e = &r->e[i] };
	memset(&r->st[i], 0, sizeof(r->st[i]));
	memset(&r->e[i], 0, sizeof(r->e[i]));
	if (i >= r->n)
		r->n = i + 1;
}

static void test_three_destinations_one_read(void **state)
{
	struct bc_volume *s = sparse_source(state);
	/* created (proven zero), old data with a map that proves zero where
	 * deallocated, and one with neither map nor zero op */
	struct bc_volume *fresh = with_threads(memvol_new("fresh", 8 * MiB, 512, true, true, true), state);
	struct bc_volume *dirty = with_threads(memvol_new("dirty", 8 * MiB, 512, true, true, true), state);
	struct bc_volume *plain = with_threads(memvol_new("plain", 8 * MiB, 512, false, false, true), state);
	struct bc_copy_opts o = { 0 };
	struct fan_run r = { 0 };

	memvol_garbage(dirty, 9);
	memvol_garbage(plain, 10);
	memvol_of(plain)->no_zero_op = true;
	set_dest(&r, 0, fresh, true);
	set_dest(&r, 1, dirty, false);
	set_dest(&r, 2, plain, false);
	assert_int_equal(bc_host_copy_fanout(s, r.d, r.n, &o), 0);
	/* the source was read once: its own counter, not the stats */
	assert_int_equal(memvol_of(s)->read_bytes, SRC_DATA);
	for (size_t i = 0; i < r.n; i++) {
		assert_int_equal(r.d[i].rc, 0);
		assert_int_equal(r.st[i].read_bytes, SRC_DATA);
		assert_int_equal(r.st[i].resume_offset, 8 * MiB);
		assert_int_equal(r.st[i].done_bytes, 8 * MiB);
		assert_int_equal(r.st[i].durable_offset, 8 * MiB);
		/* the I/O shape it ran with: every worker, 128 MiB write-behind */
		assert_true(r.st[i].workers >= 1);
		assert_int_equal(r.st[i].depth, r.st[i].workers);
		assert_int_equal(r.st[i].write_behind, 128 * MiB);
		assert_true(memvol_same(s, r.d[i].dst, 8 * MiB));
	}
	/* each by its own hole rule */
	assert_int_equal(r.st[0].skipped_bytes, 8 * MiB - SRC_DATA);
	assert_int_equal(r.st[0].zeroed_bytes, 0);
	assert_int_equal(memvol_of(fresh)->zeros, 0);
	assert_true(r.st[1].zeroed_bytes > 0);
	assert_int_equal(memvol_allocated_bytes(dirty), memvol_allocated_bytes(s));
	assert_int_equal(r.st[2].skipped_bytes, 0);
	assert_int_equal(r.st[2].written_bytes, 8 * MiB);	/* zeros written */
	bc_volume_close(s);
	for (size_t i = 0; i < r.n; i++)
		bc_volume_close(r.d[i].dst);
}

/* One destination's holes settled by several workers at once (as
 * test-hostcopy.c's test_holes_settled_in_parallel): the first zero op is
 * held until a second one on the same destination runs beside it. */
static void test_holes_settled_in_parallel(void **state)
{
	struct bc_volume *s, *d;
	struct memvol_overlap t = MEMVOL_OVERLAP_INIT;
	struct bc_copy_opts o = { .chunk = 1 * MiB };
	struct fan_run r = { 0 };

	(void)state;
	memvol_overlap_pair(&s, &d, &t);
	set_dest(&r, 0, d, false);
	assert_int_equal(bc_host_copy_fanout(s, r.d, r.n, &o), 0);
	assert_true(t.seen);
	assert_int_equal(r.d[0].rc, 0);
	assert_true(memvol_same(s, d, 64 * MiB));
	assert_int_equal(r.st[0].zeroed_bytes, 60 * MiB);
	assert_int_equal(r.st[0].resume_offset, 64 * MiB);
	assert_int_equal(memvol_allocated_bytes(d), 4 * MiB);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_failing_destination_alone(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	struct fan_run r = { 0 };
	uint64_t off;

	memvol_fill(s, 0, 8 * MiB, 4);	/* 8 chunks of data */
	for (size_t i = 0; i < 3; i++)
		set_dest(&r, i, with_threads(memvol_new(i == 1 ? "bad" : "good", 8 * MiB, 512,
							true, true, true), state), true);
	memvol_of(r.d[1].dst)->fail_write_at = 4;
	assert_int_equal(bc_host_copy_fanout(s, r.d, r.n, &o), -EIO);
	assert_int_equal(r.d[0].rc, 0);
	assert_int_equal(r.d[2].rc, 0);
	assert_int_equal(r.d[1].rc, -EIO);
	assert_string_equal(r.e[1].device, "bad");
	assert_true(r.e[1].has_lba);
	/* at or below the failed write (chunks other workers held then
	 * count as not done) */
	off = r.st[1].resume_offset;
	assert_true(off <= r.e[1].lba * 512);
	/* never flushed after its failure: not durable past where it was */
	assert_true(r.st[1].durable_offset <= off);
	assert_int_equal(r.st[0].durable_offset, 8 * MiB);
	/* the others went on to the end; the source was read once */
	assert_int_equal(memvol_of(s)->read_bytes, 8 * MiB);
	assert_true(memvol_same(s, r.d[0].dst, 8 * MiB));
	assert_true(memvol_same(s, r.d[2].dst, 8 * MiB));
	/* below its resume offset the failed one is copied; it resumes */
	assert_true(memvol_same(s, r.d[1].dst, off));
	memvol_of(r.d[1].dst)->fail_write_at = 0;
	o.start = off;
	assert_int_equal(bc_host_copy(s, r.d[1].dst, true, &o, &st, &e), 0);
	assert_true(memvol_same(s, r.d[1].dst, 8 * MiB));
	bc_volume_close(s);
	for (size_t i = 0; i < r.n; i++)
		bc_volume_close(r.d[i].dst);
}

/*
 * --flush=never: nothing is flushed, so nothing is known durable -- a
 * completed destination's durable_offset stays where the run started
 * (what a job records as the point a crash resumes from), while its
 * resume_offset says the copy is whole; a failed one's resume offset
 * still lets a resume finish it.
 */
static void test_flush_never_nothing_durable(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_copy_opts o = { .flush = BC_FLUSH_NEVER, .write_behind = 1 * MiB };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	struct fan_run r = { 0 };
	uint64_t off;

	memvol_fill(s, 0, 8 * MiB, 5);
	for (size_t i = 0; i < 3; i++)
		set_dest(&r, i, with_threads(memvol_new(i == 1 ? "bad" : "good", 8 * MiB, 512,
							true, true, true), state), true);
	memvol_of(r.d[1].dst)->fail_write_at = 4;
	assert_int_equal(bc_host_copy_fanout(s, r.d, r.n, &o), -EIO);
	for (size_t i = 0; i < 3; i += 2) {
		assert_int_equal(r.d[i].rc, 0);
		assert_int_equal(memvol_of(r.d[i].dst)->flushes, 0);
		assert_int_equal(r.st[i].dest_flushes, 0);
		assert_int_equal(r.st[i].resume_offset, 8 * MiB);
		assert_int_equal(r.st[i].durable_offset, 0);
		assert_int_equal(r.st[i].unflushed_bytes, 8 * MiB);
		assert_true(memvol_same(s, r.d[i].dst, 8 * MiB));
	}
	assert_int_equal(r.st[1].durable_offset, 0);
	off = r.st[1].resume_offset;
	assert_true(off <= r.e[1].lba * 512);
	/* which chunk the 4th write belongs to depends on the workers'
	 * order (it may be the first: a resume from 0); the resume below
	 * finishes it whatever it is */
	memvol_of(r.d[1].dst)->fail_write_at = 0;
	o.start = off;
	assert_int_equal(bc_host_copy(s, r.d[1].dst, true, &o, &st, &e), 0);
	assert_true(memvol_same(s, r.d[1].dst, 8 * MiB));
	assert_int_equal(st.resume_offset, 8 * MiB);
	assert_true(st.durable_offset <= off);	/* nothing past its start */
	bc_volume_close(s);
	for (size_t i = 0; i < r.n; i++)
		bc_volume_close(r.d[i].dst);
}

static void test_source_failure_stops_all(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_copy_opts o = { 0 };
	struct fan_run r = { 0 };

	memvol_fill(s, 0, 8 * MiB, 5);
	memvol_of(s)->fail_read_at = 3;
	for (size_t i = 0; i < 2; i++)
		set_dest(&r, i, with_threads(memvol_new("d", 8 * MiB, 512, true, true, true), state),
			 true);
	assert_int_equal(bc_host_copy_fanout(s, r.d, r.n, &o), -EIO);
	for (size_t i = 0; i < r.n; i++) {
		assert_int_equal(r.d[i].rc, -EIO);
		assert_string_equal(r.e[i].device, "src");
		assert_true(r.st[i].resume_offset <= r.e[i].lba * 512);
		assert_true(memvol_same(s, r.d[i].dst, r.st[i].resume_offset));
	}
	bc_volume_close(s);
	for (size_t i = 0; i < r.n; i++)
		bc_volume_close(r.d[i].dst);
}

/* Twenty destinations of four I/O threads each: the buffers stay the
 * single copy's pool (at most 16 workers, 32 MiB in all). */
static void test_pool_bounded(void **state)
{
	struct bc_volume *s = sparse_source(state);
	struct bc_copy_opts o = { 0 };
	struct fan_run r = { 0 };

	(void)state;
	s->io_threads = 4;
	for (size_t i = 0; i < NMAX; i++) {
		struct bc_volume *d = memvol_new("d", 8 * MiB, 512, true, true, true);

		d->io_threads = 4;
		set_dest(&r, i, d, true);
	}
	assert_int_equal(bc_host_copy_fanout(s, r.d, r.n, &o), 0);
	assert_true(r.st[0].workers <= 16);
	assert_true((uint64_t)r.st[0].workers * r.st[0].chunk_bytes <= 32 * MiB);
	assert_int_equal(memvol_of(s)->read_bytes, SRC_DATA);
	for (size_t i = 0; i < r.n; i++)
		assert_true(memvol_same(s, r.d[i].dst, 8 * MiB));
	bc_volume_close(s);
	for (size_t i = 0; i < r.n; i++)
		bc_volume_close(r.d[i].dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_destinations_one_read),
		cmocka_unit_test(test_failing_destination_alone),
		cmocka_unit_test(test_holes_settled_in_parallel),
		cmocka_unit_test(test_source_failure_stops_all),
		cmocka_unit_test(test_flush_never_nothing_durable),
		cmocka_unit_test(test_pool_bounded),
		/* the same with four I/O threads per volume */
		cmocka_unit_test_prestate(test_three_destinations_one_read, (void *)4),
		cmocka_unit_test_prestate(test_failing_destination_alone, (void *)4),
		cmocka_unit_test_prestate(test_source_failure_stops_all, (void *)4),
		cmocka_unit_test_prestate(test_flush_never_nothing_durable, (void *)4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
