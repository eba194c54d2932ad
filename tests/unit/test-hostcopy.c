/* Host copy engine and verify, over in-memory volumes. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <blkclone/copy.h>

#include "memvol.h"

#define MiB (1024 * 1024)

/* 8 MiB source, 512-byte blocks, three data extents. */
static struct bc_volume *sparse_source(bool has_map)
{
	struct bc_volume *s = memvol_new("src", 8 * MiB, 512, has_map, true, false);

	memvol_fill(s, 0, 64 * 1024, 1);		/* at the start */
	memvol_fill(s, 3 * MiB + 512, 5 * 512, 2);	/* unaligned, small */
	memvol_fill(s, 8 * MiB - 1 * MiB, 1 * MiB, 3);	/* at the end */
	return s;
}

static const uint64_t SRC_DATA = 64 * 1024 + 5 * 512 + 1 * MiB;

/* Tests run once with one I/O thread and once with several. */
static unsigned threads_of(void **state)
{
	return *state ? (unsigned)(uintptr_t)*state : 1;
}

static struct bc_volume *with_threads(struct bc_volume *v, void **state)
{
	v->io_threads = threads_of(state);
	return v;
}

static void test_created_destination_skips_holes(void **state)
{
	struct bc_volume *s = with_threads(sparse_source(true), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 512, true, true, true), state);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	assert_int_equal(st.read_bytes, SRC_DATA);
	assert_int_equal(st.written_bytes, SRC_DATA);
	assert_int_equal(st.zeroed_bytes, 0);
	assert_int_equal(st.skipped_bytes, 8 * MiB - SRC_DATA);
	assert_int_equal(memvol_of(d)->zeros, 0);
	assert_int_equal(memvol_allocated_bytes(d), SRC_DATA);
	assert_int_equal(st.resume_offset, 8 * MiB);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_old_data_is_zeroed_and_thinned(void **state)
{
	struct bc_volume *s = with_threads(sparse_source(true), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 512, true, true, true), state);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	memvol_garbage(d, 99);
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	assert_int_equal(st.zeroed_bytes, 8 * MiB - SRC_DATA);
	assert_int_equal(st.skipped_bytes, 0);
	/* holes between two extents in one map reply cost one command each */
	if (threads_of(state) == 1)
		assert_int_equal(memvol_of(d)->zeros, 2);
	assert_int_equal(memvol_allocated_bytes(d), SRC_DATA);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_destination_map_proves_zero(void **state)
{
	struct bc_volume *s = sparse_source(true);
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	/* old data only in the first 2 MiB; the rest is deallocated */
	memvol_fill(d, 0, 2 * MiB, 5);
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	assert_int_equal(st.zeroed_bytes, 2 * MiB - 64 * 1024);
	assert_int_equal(st.skipped_bytes, 8 * MiB - SRC_DATA - (2 * MiB - 64 * 1024));
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_no_zero_op_writes_zeros(void **state)
{
	struct bc_volume *s = sparse_source(true);
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, false, false, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	memvol_garbage(d, 7);
	memvol_of(d)->no_zero_op = true;
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	assert_int_equal(st.written_bytes, 8 * MiB);
	assert_int_equal(st.zeroed_bytes, 0);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_no_map_zero_detection(void **state)
{
	struct bc_volume *s = sparse_source(false);
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	assert_int_equal(st.read_bytes, 8 * MiB);
	/* detection works in 4 KiB pieces: the 2.5 KiB extent costs 4 KiB */
	assert_int_equal(st.written_bytes, 64 * 1024 + 4096 + 1 * MiB);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_write_failure_names_lba_and_resumes(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 512, true, true, true), state);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	char msg[512];

	(void)state;
	memvol_fill(s, 0, 8 * MiB, 4);	/* fully allocated: 8 chunk writes */
	memvol_of(d)->fail_write_at = 4;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), -EIO);
	bc_error_format(&e, msg, sizeof(msg));
	if (threads_of(state) == 1) {
		assert_string_equal(msg, "dst: WRITE(16) at LBA 6144 (byte 3145728): injected: Input/output error");
		assert_int_equal(st.resume_offset, 3 * MiB);
	} else {
		/* the failed chunk's LBA, whichever thread met the fault */
		assert_true(e.has_lba);
		assert_true(st.resume_offset <= e.lba * 512);
	}
	/* resume from where it stopped: the result is complete */
	memvol_of(d)->fail_write_at = 0;
	o.start = st.resume_offset;
	memset(&st, 0, sizeof(st));
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	if (threads_of(state) == 1)
		assert_int_equal(st.read_bytes, 5 * MiB);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_read_failure(void **state)
{
	struct bc_volume *s = sparse_source(true);
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	memvol_of(s)->fail_read_at = 2;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), -EIO);
	assert_string_equal(e.op, "READ(16)");
	assert_true(e.has_lba);
	assert_int_equal(e.lba, (3 * MiB + 512) / 512);
	assert_true(st.resume_offset <= 3 * MiB + 512);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_mixed_block_sizes(void **state)
{
	struct bc_volume *s = with_threads(sparse_source(true), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 4096, true, true, true), state);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	memvol_garbage(d, 3);
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_cancel(void **state)
{
	struct bc_volume *s = sparse_source(true);
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);
	volatile sig_atomic_t stop = 1;
	struct bc_copy_opts o = { .cancel = &stop };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), -EINTR);
	assert_int_equal(memvol_of(d)->writes, 0);
	assert_int_equal(st.resume_offset, 0);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_verify(void **state)
{
	struct bc_volume *s = sparse_source(true);
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	assert_int_equal(bc_verify(s, d, &o, &e), 0);
	/* a byte that differs in data */
	memvol_of(d)->data[3 * MiB + 512 + 700] ^= 0xff;
	assert_int_equal(bc_verify(s, d, &o, &e), -EILSEQ);
	assert_int_equal(e.lba, (3 * MiB + 512 + 700) / 512);
	memvol_of(d)->data[3 * MiB + 512 + 700] ^= 0xff;
	/* a non-zero byte where the source has a hole */
	memvol_fill(d, 5 * MiB, 512, 9);
	assert_int_equal(bc_verify(s, d, &o, &e), -EILSEQ);
	assert_int_equal(e.lba, 5 * MiB / 512);
	bc_volume_close(s);
	bc_volume_close(d);
}

/* --verify trusts a destination's map only where the copy does: an
 * anchored range is not proven zero (SBC lets it hold anything but on
 * an LBPRZ xx1b LU, and the copy writes it), so verify reads it. */
static void test_verify_reads_anchored(void **state)
{
	struct bc_volume *s = sparse_source(true);
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	struct memvol *m;

	(void)state;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	assert_int_equal(bc_verify(s, d, &o, &e), 0);
	/* a hole of both, reported anchored, that holds a non-zero byte */
	m = memvol_of(d);
	m->anchor_off = 5 * MiB;
	m->anchor_len = MiB;
	assert_false(m->allocated[5 * MiB / 512 + 3]);
	m->data[5 * MiB + 3 * 512 + 17] = 0x5a;
	assert_int_equal(bc_verify(s, d, &o, &e), -EILSEQ);
	assert_int_equal(e.lba, 5 * MiB / 512 + 3);
	bc_volume_close(s);
	bc_volume_close(d);
}

/* Write-behind: one flush of the destination per write_behind bytes
 * written, then the final one; the count is reported. */
static void test_write_behind_flushes(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 512, true, true, true), state);
	struct bc_copy_opts o = { .write_behind = 2 * MiB };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	memvol_fill(s, 0, 8 * MiB, 5);
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	assert_int_equal(st.chunk_bytes, 1 * MiB);
	assert_int_equal(st.workers, threads_of(state));
	assert_int_equal(st.flushes, 4);
	assert_int_equal(memvol_of(d)->flushes, 4 + 1);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * A flush that fails may lose every write since the last good one: the
 * copy fails naming SYNCHRONIZE CACHE, and resume_offset is no later than
 * the first lost byte, so resuming from it gives a complete copy.
 * @fail_at: which flush fails; @wb: write_behind (0 = default).
 */
static void lost_flush(void **state, unsigned fail_at, uint64_t wb,
		       uint64_t want_resume)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 512, true, true, true), state);
	struct bc_copy_opts o = { .write_behind = wb };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	struct memvol *m = memvol_of(d);
	uint64_t first_lost = UINT64_MAX;

	memvol_fill(s, 0, 8 * MiB, 6);
	m->volatile_cache = true;
	m->fail_flush_at = fail_at;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), -EIO);
	assert_string_equal(e.op, "SYNCHRONIZE CACHE(10)");
	assert_string_equal(e.device, "dst");
	for (uint64_t b = 0; b < m->nblocks && first_lost == UINT64_MAX; b++)
		if (m->data[b * 512] == 0xee && m->data[b * 512 + 1] == 0xee)
			first_lost = b * 512;
	/* With no write-behind the failing flush is the only one, after
	 * every write: the fault did lose data, however many threads.
	 * Write-behind flushes are sent by the flusher thread while the
	 * workers go on (hostcopy-flush.c), so an earlier good flush may
	 * have taken every write before the failing one runs, leaving it
	 * nothing to lose; the resume offset is exact all the same (one
	 * thread, below): it is the mark of the last good flush. */
	if (!wb)
		assert_true(first_lost != UINT64_MAX);
	assert_true(st.resume_offset <= first_lost);
	if (threads_of(state) == 1 && want_resume != UINT64_MAX)
		assert_int_equal(st.resume_offset, want_resume);

	m->fail_flush_at = 0;
	o.start = st.resume_offset;
	memset(&st, 0, sizeof(st));
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * durable_offset, what a job records while it runs (a crash resumes
 * there): it only grows, is told by a progress report at each advance,
 * and never passes a byte that a failing flush then loses.  The third
 * flush (every MiB) fails on a destination that loses unflushed writes.
 */
struct durable_seen {
	uint64_t last, reports;
	bool went_back;
};

static void note_durable(const struct bc_copy_stats *st, void *arg)
{
	struct durable_seen *d = arg;

	if (st->durable_offset < d->last)
		d->went_back = true;
	if (st->durable_offset > d->last)
		d->reports++;
	d->last = st->durable_offset;
}

static void test_durable_offset(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 512, true, true, true), state);
	struct durable_seen seen = { 0 };
	struct bc_copy_opts o = { .write_behind = 1 * MiB, .progress = note_durable,
				  .progress_arg = &seen };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	struct memvol *m = memvol_of(d);
	uint64_t first_lost = UINT64_MAX;

	memvol_fill(s, 0, 8 * MiB, 9);
	m->volatile_cache = true;
	m->fail_flush_at = 3;
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), -EIO);
	for (uint64_t b = 0; b < m->nblocks && first_lost == UINT64_MAX; b++)
		if (m->data[b * 512] == 0xee && m->data[b * 512 + 1] == 0xee)
			first_lost = b * 512;
	assert_false(seen.went_back);
	assert_true(seen.last <= first_lost);
	assert_true(seen.last % 512 == 0);
	/* one thread: two flushes succeeded after whole chunks, each told */
	if (threads_of(state) == 1) {
		assert_true(seen.last > 0);
		assert_true(seen.reports >= 1);
	}
	/* a copy that ends well: everything is durable, and said so */
	m->fail_flush_at = 0;
	memset(&seen, 0, sizeof(seen));
	memset(&st, 0, sizeof(st));
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	assert_false(seen.went_back);
	assert_int_equal(seen.last, 8 * MiB);
	assert_int_equal(st.durable_offset, 8 * MiB);
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * A flush that completes while every worker is held (a source that hangs
 * past the point it made durable) is still reported at once: a job's
 * record must show the offset a kill -9 would resume from even when no
 * chunk completes after the flush.  One worker, 1 MiB chunks, a flush
 * asked after 4 MiB written: its mark is the chunk then in flight, 3 MiB.
 * Every read at or past 4 MiB is held; that flush waits until the worker
 * is held there, then completes; the reads are let go only once a
 * progress report has said durable_offset 3 MiB, or after a 60 s bound
 * (then the test fails: no report came while the worker was held).
 */
struct stalled {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned held, workers, flushes;
	const struct memvol *dst;	/* whose flushes count */
	bool open;
	uint64_t durable_seen;	/* by a report while the reads were held */
};

static void stall_io(struct memvol *m, bool flush, uint64_t off, size_t len,
		     void *arg)
{
	struct stalled *t = arg;

	(void)len;
	pthread_mutex_lock(&t->lock);
	if (flush && m == t->dst) {
		/* the first one completes only with every worker held (the
		 * source's own flush before it is read goes by) */
		if (++t->flushes == 1)
			while (t->held < t->workers && !t->open)
				pthread_cond_wait(&t->cv, &t->lock);
	} else if (!flush && m != t->dst && off >= 4 * MiB) {
		t->held++;
		pthread_cond_broadcast(&t->cv);
		while (!t->open)
			pthread_cond_wait(&t->cv, &t->lock);
		t->held--;
	}
	pthread_mutex_unlock(&t->lock);
}

static void stall_report(const struct bc_copy_stats *st, void *arg)
{
	struct stalled *t = arg;

	pthread_mutex_lock(&t->lock);
	if (!t->open && st->durable_offset > t->durable_seen)
		t->durable_seen = st->durable_offset;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
}

static void *stall_opener(void *arg)
{
	struct stalled *t = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;	/* a bound for the failing case, not a wait */
	pthread_mutex_lock(&t->lock);
	while (t->durable_seen < 3 * MiB &&
	       pthread_cond_timedwait(&t->cv, &t->lock, &until) != ETIMEDOUT)
		;
	t->open = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void test_durable_reported_while_workers_hang(void **state)
{
	struct bc_volume *s = memvol_new("src", 16 * MiB, 512, true, true, false);
	struct bc_volume *d = memvol_new("dst", 16 * MiB, 512, true, true, true);
	struct stalled t = { .lock = PTHREAD_MUTEX_INITIALIZER,
			     .cv = PTHREAD_COND_INITIALIZER, .workers = 1 };
	struct bc_copy_opts o = { .write_behind = 4 * MiB, .chunk = 1 * MiB,
				  .progress = stall_report, .progress_arg = &t };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	pthread_t opener;

	(void)state;
	s->io_threads = d->io_threads = 1;
	memvol_fill(s, 0, 16 * MiB, 5);
	memvol_of(s)->before_io = stall_io;
	memvol_of(s)->before_io_arg = &t;
	memvol_of(d)->before_io = stall_io;
	memvol_of(d)->before_io_arg = &t;
	t.dst = memvol_of(d);
	assert_int_equal(pthread_create(&opener, NULL, stall_opener, &t), 0);
	assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
	pthread_join(opener, NULL);
	assert_int_equal(st.workers, 1);
	assert_true(memvol_same(s, d, 16 * MiB));
	/* told while the worker was held, not only once it went on */
	assert_int_equal(t.durable_seen, 3 * MiB);
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * The source's holes are settled by the workers, several at once: a
 * WRITE SAME is a round trip behind the data queued on the destination,
 * and one at a time in the producer (as before) made a copy onto old data
 * twice as slow as qemu-img against tgt.  Four data extents with holes
 * between them, onto old data: the first zero op is held until a second
 * one runs beside it.
 */
static void test_holes_settled_in_parallel(void **state)
{
	struct bc_volume *s, *d;
	struct memvol_overlap t = MEMVOL_OVERLAP_INIT;
	struct bc_copy_opts o = { .chunk = 1 * MiB };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	memvol_overlap_pair(&s, &d, &t);
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), 0);
	assert_true(t.seen);
	assert_true(memvol_same(s, d, 64 * MiB));
	assert_int_equal(st.zeroed_bytes, 60 * MiB);
	assert_int_equal(st.written_bytes, 4 * MiB);
	assert_int_equal(st.resume_offset, 64 * MiB);
	assert_int_equal(memvol_allocated_bytes(d), 4 * MiB);
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * The destination's map is asked about a hole only where no earlier
 * answer covers it (core/holes.h): 40 holes of 768 KiB between 40 data
 * extents, one I/O thread (in order).  The first hole asks to the end of
 * the volume, and that answer settles the other 39: onto old data all
 * zeroed, old data in the first half 20 zeroed and 20 skipped, thin all
 * skipped.  Asked once per hole, as before, it was 40 queries each.
 */
static void map_queries(uint64_t old_bytes, unsigned want_maps,
			uint64_t want_zeroed)
{
	struct bc_volume *s = memvol_new("src", 40 * MiB, 512, true, true, false);
	struct bc_volume *d = memvol_new("dst", 40 * MiB, 512, true, true, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	for (unsigned i = 0; i < 40; i++)
		memvol_fill(s, i * MiB, 256 * 1024, 30 + i);
	if (old_bytes)
		memvol_fill(d, 0, old_bytes, 31);
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 40 * MiB));
	assert_int_equal(memvol_of(d)->maps, want_maps);
	assert_int_equal(st.zeroed_bytes, want_zeroed);
	assert_int_equal(st.skipped_bytes, 30 * MiB - want_zeroed);
	assert_int_equal(memvol_allocated_bytes(d), 10 * MiB);
	bc_volume_close(s);
	bc_volume_close(d);
}

static void test_map_asked_only_where_unknown(void **state)
{
	(void)state;
	map_queries(40 * MiB, 1, 30 * MiB);
	map_queries(20 * MiB, 1, 15 * MiB);
	map_queries(0, 1, 0);
}

/* The third of the flushes every MiB fails: the second one made all
 * before the chunk it followed durable (1 MiB), the rest may be lost. */
static void test_failed_write_behind_flush(void **state)
{
	lost_flush(state, 3, 1 * MiB, 1 * MiB);
}

/* Flushes after 3 and 6 MiB, then the final one fails: it loses the last
 * 2 MiB, and the copy resumes from before the chunk the second followed. */
static void test_failed_final_flush_after_write_behind(void **state)
{
	lost_flush(state, 3, 3 * MiB, 5 * MiB);
}

/* Without write-behind (8 MiB < 128 MiB) a failed final flush leaves
 * nothing known durable: resume from the start, not from the end. */
static void test_failed_final_flush_resumes_from_start(void **state)
{
	lost_flush(state, 1, 0, 0);
}

/* The I/O size follows the optimal transfer length the volumes report,
 * within bounds, under either's maximum and the buffer pool's share. */
static void test_chunk_from_block_limits(void **state)
{
	static const struct {
		uint32_t s_opt, d_opt, s_max, d_max;
		unsigned threads;
		uint32_t want;
	} t[] = {
		{ 0, 0, 0, 0, 1, 1 << 20 },			/* nothing said: 1 MiB */
		{ 4 << 20, 0, 0, 0, 1, 4 << 20 },		/* the source's optimum */
		{ 64 << 10, 2 << 20, 0, 0, 1, 2 << 20 },	/* the larger one */
		{ 4 << 20, 0, 0, 0, 16, 2 << 20 },		/* 32 MiB pool / 16 */
		{ 16 << 10, 0, 0, 0, 1, 64 << 10 },		/* at least 64 KiB */
		{ 100u << 20, 0, 0, 0, 1, 8 << 20 },		/* at most 8 MiB */
		{ 0, 0, 0, 256 << 10, 1, 256 << 10 },		/* the maximum rules */
		{ 4 << 20, 0, 512 << 10, 1 << 20, 1, 512 << 10 },
		{ (3 << 20) + 512, 0, 0, 0, 1, 3 << 20 },	/* whole 4 KiB granules */
		{ UINT32_MAX, UINT32_MAX, UINT32_MAX, 0, 4, 8 << 20 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bc_volume *s = memvol_new("src", 8 * MiB, 512, true, true, false);
		struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);
		struct bc_copy_opts o = { 0 };
		struct bc_copy_stats st = { 0 };
		struct bc_error e = { 0 };

		memvol_fill(s, 0, 8 * MiB, 7);
		memvol_of(s)->opt_transfer = t[i].s_opt;
		memvol_of(d)->opt_transfer = t[i].d_opt;
		memvol_of(s)->max_transfer = t[i].s_max;
		memvol_of(d)->max_transfer = t[i].d_max;
		s->io_threads = d->io_threads = t[i].threads;
		assert_int_equal(bc_host_copy(s, d, true, &o, &st, &e), 0);
		if (st.chunk_bytes != t[i].want)
			fail_msg("row %zu: chunk %u, want %u", i, st.chunk_bytes, t[i].want);
		assert_true(memvol_same(s, d, 8 * MiB));
		bc_volume_close(s);
		bc_volume_close(d);
	}
}

/*
 * A zeroing command fails while holes are settled outside the engine lock
 * (by the producer and by workers finding zero runs in data): everything
 * below resume_offset is already right, and resuming from it completes
 * the copy.
 */
static void test_failed_zeroing_resumes_below_the_hole(void **state)
{
	struct bc_volume *s = with_threads(memvol_new("src", 8 * MiB, 512, true, true, false), state);
	struct bc_volume *d = with_threads(memvol_new("dst", 8 * MiB, 512, true, true, true), state);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	static const char zeros[64 * 1024];

	/* 128 KiB of data every 512 KiB, each with 64 KiB of mapped zeros */
	for (uint64_t off = 0; off < 8 * MiB; off += 512 * 1024) {
		memvol_fill(s, off, 128 * 1024, 8);
		assert_int_equal(s->ops->write(s, zeros, off + 32 * 1024,
					       sizeof(zeros), &e), 0);
	}
	memvol_garbage(d, 98);
	memvol_of(d)->fail_zero_at = 9;
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), -EIO);
	assert_string_equal(e.op, "WRITE SAME(16)");
	assert_true(e.has_lba);
	assert_true(st.resume_offset <= e.lba * 512);
	if (st.resume_offset)
		assert_true(memvol_same(s, d, st.resume_offset));

	memvol_of(d)->fail_zero_at = 0;
	o.start = st.resume_offset;
	memset(&st, 0, sizeof(st));
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * pool_join must return whatever the workers were waiting for.  Before
 * 503abc5 a worker done with a chunk woke one waiting worker: with the
 * depth below the workers (4 workers, 1 chunk in flight) the others wait
 * with chunks queued, and once the queue ran dry after the producer was
 * done, each completion woke one of them, which saw nothing left and
 * exited without waking the next: the last waiter slept for ever and
 * bc_host_copy never returned (bench-iscsi.sh hung in pool_join).  The
 * copy runs in a thread of its own and a hang is a failure that says so
 * (a watchdog of 60 s, far above the milliseconds it takes), not a
 * stalled suite; the faults (a failed write, a cancel) strike at a
 * known chunk.
 */
struct joined {
	struct bc_volume *s, *d;
	struct bc_copy_opts o;
	struct bc_copy_stats st;
	struct bc_error e;
	int rc;
	bool done;
	pthread_mutex_t lock;
	pthread_cond_t cv;
};

static void *copy_thread(void *arg)
{
	struct joined *j = arg;
	int rc = bc_host_copy(j->s, j->d, true, &j->o, &j->st, &j->e);

	pthread_mutex_lock(&j->lock);
	j->rc = rc;
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

#define JOIN_WATCHDOG_S 60

/* Run the copy of @j; false when it did not return within the watchdog
 * (its thread is left behind, stuck: the process ends with the test). */
static bool copy_returns(struct joined *j)
{
	pthread_condattr_t ca;
	struct timespec until;
	pthread_t t;
	bool done;

	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	assert_int_equal(pthread_create(&t, NULL, copy_thread, j), 0);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += JOIN_WATCHDOG_S;
	pthread_mutex_lock(&j->lock);
	while (!j->done &&
	       pthread_cond_timedwait(&j->cv, &j->lock, &until) != ETIMEDOUT)
		;
	done = j->done;
	pthread_mutex_unlock(&j->lock);
	if (!done) {
		pthread_detach(t);
		return false;
	}
	pthread_join(t, NULL);
	return true;
}

static void depth_below_workers(unsigned chunks, unsigned fail_write_at)
{
	static struct joined j;	/* a stuck copy's thread may still use it */

	memset(&j, 0, sizeof(j));
	j.s = memvol_new("src", 64 * MiB, 512, true, true, false);
	j.d = memvol_new("dst", 64 * MiB, 512, true, true, true);
	j.s->io_threads = j.d->io_threads = 4;
	memvol_fill(j.s, 0, chunks * MiB, 7);
	memvol_of(j.d)->fail_write_at = fail_write_at;
	j.o = (struct bc_copy_opts){ .chunk = 1 * MiB, .depth = 1 };
	if (!copy_returns(&j))
		fail_msg("bc_host_copy of %u chunks (4 workers, depth 1%s) did not return in %d s: "
			 "a worker was left waiting and pool_join never joined it",
			 chunks, fail_write_at ? ", a write failing" : "", JOIN_WATCHDOG_S);
	assert_int_equal(j.st.workers, 4);
	assert_int_equal(j.st.depth, 1);
	if (fail_write_at) {
		assert_int_equal(j.rc, -EIO);
		assert_true(j.st.resume_offset < chunks * MiB);
		assert_true(memvol_same(j.s, j.d, j.st.resume_offset));
	} else {
		assert_int_equal(j.rc, 0);
		assert_true(memvol_same(j.s, j.d, 64 * MiB));
	}
	bc_volume_close(j.s);
	bc_volume_close(j.d);
}

static void test_join_depth_below_workers(void **state)
{
	(void)state;
	/* fewer chunks than the queue holds, and more (2 * MAX_WORKERS) */
	static const unsigned n[] = { 2, 3, 4, 5, 8, 40 };

	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		depth_below_workers(n[i], 0);
}

static void test_join_after_write_failure(void **state)
{
	(void)state;
	depth_below_workers(6, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_created_destination_skips_holes),
		cmocka_unit_test(test_old_data_is_zeroed_and_thinned),
		cmocka_unit_test(test_destination_map_proves_zero),
		cmocka_unit_test(test_no_zero_op_writes_zeros),
		cmocka_unit_test(test_no_map_zero_detection),
		cmocka_unit_test(test_write_failure_names_lba_and_resumes),
		cmocka_unit_test(test_read_failure),
		cmocka_unit_test(test_mixed_block_sizes),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_verify_reads_anchored),
		cmocka_unit_test(test_write_behind_flushes),
		cmocka_unit_test(test_chunk_from_block_limits),
		cmocka_unit_test(test_failed_zeroing_resumes_below_the_hole),
		cmocka_unit_test(test_failed_write_behind_flush),
		cmocka_unit_test(test_durable_offset),
		cmocka_unit_test(test_durable_reported_while_workers_hang),
		cmocka_unit_test(test_holes_settled_in_parallel),
		cmocka_unit_test(test_map_asked_only_where_unknown),
		cmocka_unit_test(test_failed_final_flush_after_write_behind),
		cmocka_unit_test(test_failed_final_flush_resumes_from_start),
		cmocka_unit_test(test_join_depth_below_workers),
		cmocka_unit_test(test_join_after_write_failure),
		/* the same with four I/O threads */
		cmocka_unit_test_prestate(test_created_destination_skips_holes, (void *)4),
		cmocka_unit_test_prestate(test_old_data_is_zeroed_and_thinned, (void *)4),
		cmocka_unit_test_prestate(test_write_failure_names_lba_and_resumes, (void *)4),
		cmocka_unit_test_prestate(test_mixed_block_sizes, (void *)4),
		cmocka_unit_test_prestate(test_write_behind_flushes, (void *)4),
		cmocka_unit_test_prestate(test_failed_zeroing_resumes_below_the_hole, (void *)4),
		cmocka_unit_test_prestate(test_failed_write_behind_flush, (void *)4),
		cmocka_unit_test_prestate(test_durable_offset, (void *)4),
		cmocka_unit_test_prestate(test_failed_final_flush_after_write_behind, (void *)4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
