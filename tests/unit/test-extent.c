/*
 * The extent walk (src/volume/extent.h) over a memvol whose map can lie:
 * every reply that cannot be trusted stops the walk with an error naming
 * the map's command and the LBA, and nothing past the last good extent is
 * ever handed out -- so no consumer can pass over data.
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

#include "memvol.h"
#include "volume/extent.h"

#define KiB 1024
#define SIZE (64 * KiB)

/* Data at [0, 8K) and [32K, 40K), deallocated elsewhere; a map that says
 * it comes from GET LBA STATUS. */
static struct bc_volume *volume(bool has_map)
{
	struct bc_volume *v = memvol_new("lu0", SIZE, 512, has_map, true, true);

	memvol_fill(v, 0, 8 * KiB, 1);
	memvol_fill(v, 32 * KiB, 8 * KiB, 2);
	memvol_of(v)->map_source = BC_MAP_GET_LBA_STATUS;
	return v;
}

static void probe(struct bc_volume *v)
{
	const struct bc_caps *c;
	struct bc_error e = { 0 };

	assert_int_equal(bc_volume_caps(v, &c, &e), 0);
}

/* Walk [start, SIZE) with room for @cap extents a query; returns the
 * walk's last answer (0 at the end, or -errno) and the extents got. */
static int walk(struct bc_volume *v, uint64_t start, size_t cap,
		struct bc_extent *got, size_t *n, struct bc_error *e)
{
	struct bc_extent buf[8], x;
	struct bc_extent_iter it;
	int rc;

	*n = 0;
	bc_extent_iter_init(&it, v, start, SIZE, buf, cap);
	while ((rc = bc_extent_next(&it, &x, e)) > 0)
		got[(*n)++] = x;
	return rc;
}

/* No map: one mapped extent, and the backend is never asked. */
static void test_no_map_is_one_mapped_extent(void **state)
{
	struct bc_volume *v = volume(false), *u = volume(true);
	struct bc_extent got[8];
	struct bc_error e = { 0 };
	size_t n;

	(void)state;
	probe(v);
	assert_int_equal(walk(v, 4 * KiB, 4, got, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].offset, 4 * KiB);
	assert_int_equal(got[0].length, SIZE - 4 * KiB);
	assert_int_equal(got[0].state, BC_EXTENT_MAPPED);
	/* a map not probed yet is not used either: everything is read */
	assert_int_equal(walk(u, 0, 4, got, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].length, SIZE);
	assert_int_equal(got[0].state, BC_EXTENT_MAPPED);
	assert_int_equal(memvol_of(u)->maps, 0);
	bc_volume_close(v);
	bc_volume_close(u);
}

/* An honest map, two extents a query: all of it, in order, in 2 queries. */
static void test_honest_map(void **state)
{
	static const struct bc_extent want[] = {
		{ 0, 8 * KiB, BC_EXTENT_MAPPED },
		{ 8 * KiB, 24 * KiB, BC_EXTENT_DEALLOCATED },
		{ 32 * KiB, 8 * KiB, BC_EXTENT_MAPPED },
		{ 40 * KiB, 24 * KiB, BC_EXTENT_DEALLOCATED },
	};
	struct bc_volume *v = volume(true);
	struct bc_extent got[8];
	struct bc_error e = { 0 };
	size_t n;

	(void)state;
	probe(v);
	assert_int_equal(walk(v, 0, 2, got, &n, &e), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(got[i].offset, want[i].offset);
		assert_int_equal(got[i].length, want[i].length);
		assert_int_equal(got[i].state, want[i].state);
	}
	assert_int_equal(memvol_of(v)->maps, 2);
	bc_volume_close(v);
}

/*
 * The second query (at 32 KiB, room for 2) answers a bad map, or fails.
 * The walk must hand out the first two extents, then fail at the LBA
 * where the reply went wrong, naming GET LBA STATUS and what was wrong.
 */
static const struct {
	const char *name;
	struct bc_extent x[3];
	size_t n;
	uint64_t lba;
	const char *what;
	int fail;		/* the query fails with this errno instead */
} bad[] = {
	{ "gap first", { { 36 * KiB, 4 * KiB, 0 } }, 1, 64, "leaves a gap", 0 },
	{ "gap later", { { 32 * KiB, 4 * KiB, 0 }, { 40 * KiB, 4 * KiB, 1 } },
	  2, 72, "leaves a gap", 0 },
	{ "overlap first", { { 28 * KiB, 8 * KiB, 0 } }, 1, 64, "overlaps", 0 },
	{ "overlap later", { { 32 * KiB, 8 * KiB, 0 }, { 36 * KiB, 4 * KiB, 1 } },
	  2, 80, "overlaps", 0 },
	{ "empty first", { { 32 * KiB, 0, 0 } }, 1, 64, "an empty extent", 0 },
	{ "empty later", { { 32 * KiB, 4 * KiB, 1 }, { 36 * KiB, 0, 0 } },
	  2, 72, "an empty extent", 0 },
	{ "past the end", { { 32 * KiB, 32 * KiB + 512, 0 } }, 1, 64,
	  "runs past the asked range", 0 },
	{ "past the end later", { { 32 * KiB, 4 * KiB, 0 }, { 36 * KiB, 32 * KiB, 1 } },
	  2, 72, "runs past the asked range", 0 },
	{ "more than asked", { { 32 * KiB, 4 * KiB, 0 }, { 36 * KiB, 4 * KiB, 1 },
			       { 40 * KiB, 4 * KiB, 0 } },
	  3, 64, "claims 3 extents, room was for 2", 0 },
	{ "none", { { 0, 0, 0 } }, 0, 64, "holds no extent", 0 },
	{ "unknown state", { { 32 * KiB, 4 * KiB, 9 } }, 1, 64, "unknown state 9", 0 },
	/* the backend's own error, as it said it */
	{ "a failing map", { { 0, 0, 0 } }, 0, 64, "injected", -EIO },
};

static void test_bad_maps(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(bad) / sizeof(bad[0]); r++) {
		struct bc_volume *v = volume(true);
		struct memvol *m = memvol_of(v);
		struct bc_extent got[8];
		struct bc_error e = { 0 };
		size_t n;

		print_message("%s\n", bad[r].name);
		probe(v);
		m->map_lie = true;
		m->map_lie_at = 32 * KiB;
		memcpy(m->map_lie_ext, bad[r].x, sizeof(bad[r].x));
		m->map_lie_n = bad[r].n;
		m->map_fail = bad[r].fail;
		assert_int_equal(walk(v, 0, 2, got, &n, &e), -EIO);
		/* nothing handed out past what the good reply said */
		assert_int_equal(n, 2);
		assert_int_equal(got[1].offset + got[1].length, 32 * KiB);
		assert_string_equal(e.device, "lu0");
		assert_string_equal(e.op, "GET LBA STATUS");
		assert_true(e.has_lba);
		assert_int_equal(e.lba, bad[r].lba);
		assert_non_null(strstr(e.detail, bad[r].what));
		bc_volume_close(v);
	}
}

/* Messages name the map's command by its source. */
static void test_names_the_command(void **state)
{
	static const struct {
		enum bc_map_source src;
		const char *op;
	} rows[] = {
		{ BC_MAP_SEEK_HOLE, "SEEK_DATA/SEEK_HOLE" },
		{ BC_MAP_BACKING_FILE, "SEEK_DATA/SEEK_HOLE on the backing file" },
		{ BC_MAP_NONE, "map" },
	};

	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct bc_volume *v = volume(true);
		struct bc_extent got[8];
		struct bc_error e = { 0 };
		size_t n;

		memvol_of(v)->map_source = rows[r].src;
		memvol_of(v)->map_lie = true;	/* at 0: no extent */
		probe(v);
		assert_int_equal(walk(v, 0, 2, got, &n, &e), -EIO);
		assert_string_equal(e.op, rows[r].op);
		bc_volume_close(v);
	}
}

/*
 * The engines over a source whose map leaves a gap: each fails, and a
 * resume starts no later than the gap.
 */
static struct bc_volume *lying_source(void)
{
	struct bc_volume *s = volume(true);
	struct memvol *m = memvol_of(s);

	m->offload = true;
	m->map_lie = true;
	m->map_lie_at = 0;
	m->map_lie_ext[0] = (struct bc_extent){ 0, 8 * KiB, BC_EXTENT_MAPPED };
	m->map_lie_ext[1] = (struct bc_extent){ 16 * KiB, 48 * KiB,
						BC_EXTENT_DEALLOCATED };
	m->map_lie_n = 2;
	return s;
}

static void test_engines_stop_on_a_bad_map(void **state)
{
	struct bc_volume *s = lying_source();
	struct bc_volume *d = memvol_new("dst", SIZE, 512, true, true, true);
	struct bc_copy_opts o = { 0 };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };

	(void)state;
	memvol_of(d)->offload = true;
	assert_int_equal(bc_host_copy(s, d, false, &o, &st, &e), -EIO);
	assert_int_equal(st.resume_offset, 0);
	assert_non_null(strstr(e.detail, "leaves a gap"));
	memset(&st, 0, sizeof(st));
	assert_int_equal(bc_offload_copy(s, d, BC_METHOD_XCOPY_LID1, false, &o,
					 &st, &e), -EIO);
	assert_int_equal(st.resume_offset, 0);
	assert_int_equal(st.offloaded_bytes, 0);
	assert_int_equal(bc_verify(s, d, &o, &e), -EIO);
	assert_non_null(strstr(e.detail, "leaves a gap"));
	bc_volume_close(s);
	bc_volume_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_map_is_one_mapped_extent),
		cmocka_unit_test(test_honest_map),
		cmocka_unit_test(test_bad_maps),
		cmocka_unit_test(test_names_the_command),
		cmocka_unit_test(test_engines_stop_on_a_bad_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
