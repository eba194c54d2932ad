/*
 * EXTENDED COPY(LID1): the parameter list byte for byte, the cutting into
 * commands, progress after COPY ABORTED; and the offload walker and the
 * executor's policies over in-memory volumes with a copy manager.
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
#include "scsi/xcopy.h"
#include "scsi/token.h"

#define MiB (1024 * 1024)

static struct bc_designator naa6(uint8_t last)
{
	struct bc_designator d = { .code_set = 1, .association = 0, .type = 3,
				   .len = 16 };

	for (int i = 0; i < 16; i++)
		d.id[i] = (uint8_t)(0x60 + i);
	d.id[15] = last;
	return d;
}

static void test_list_bytes(void **state)
{
	struct bc_designator s = naa6(0x01), d = naa6(0x02);
	struct bc_xcopy_segment seg = { .src_lba = 0x0102030405060708ull,
					.dst_lba = 0x1112131415161718ull,
					.blocks = 0xfffe };
	uint8_t buf[256];
	int len;

	(void)state;
	len = bc_xcopy_build_list(buf, sizeof(buf), &s, 512, &d, 512, &seg, 1);
	assert_int_equal(len, 16 + 64 + 28);
	/* header */
	assert_int_equal(buf[0], 0);		/* list id */
	assert_int_equal(buf[1], 0x18);		/* LIST ID USAGE 11b */
	assert_int_equal(buf[2] << 8 | buf[3], 64);
	assert_int_equal(buf[8] << 24 | buf[9] << 16 | buf[10] << 8 | buf[11], 28);
	assert_int_equal(buf[12] | buf[13] | buf[14] | buf[15], 0);
	/* first CSCD: 0xE4, block device, NAA binary LU designator */
	assert_int_equal(buf[16], 0xe4);
	assert_int_equal(buf[17], 0x00);
	assert_int_equal(buf[20], 0x01);	/* code set binary */
	assert_int_equal(buf[21], 0x03);	/* association LU, type NAA */
	assert_int_equal(buf[23], 16);
	assert_memory_equal(buf + 24, s.id, 16);
	assert_int_equal(buf[16 + 29] << 16 | buf[16 + 30] << 8 | buf[16 + 31], 512);
	/* second CSCD names the destination */
	assert_int_equal(buf[48], 0xe4);
	assert_memory_equal(buf + 56, d.id, 16);
	/* segment */
	assert_int_equal(buf[80], 0x02);
	assert_int_equal(buf[82] << 8 | buf[83], 24);
	assert_int_equal(buf[84] << 8 | buf[85], 0);	/* source CSCD 0 */
	assert_int_equal(buf[86] << 8 | buf[87], 1);	/* destination CSCD 1 */
	assert_int_equal(buf[90] << 8 | buf[91], 0xfffe);
	assert_int_equal(buf[92], 0x01);
	assert_int_equal(buf[99], 0x08);
	assert_int_equal(buf[100], 0x11);
	assert_int_equal(buf[107], 0x18);

	uint8_t cdb[16];

	bc_xcopy_build_cdb(cdb, (uint32_t)len);
	assert_int_equal(cdb[0], 0x83);
	assert_int_equal(cdb[1], 0x00);
	assert_int_equal(cdb[13], len);
}

/* POPULATE TOKEN naming the point-in-time ROD type: RTV set, the type
 * in bytes 8-11, the inactivity timeout in 4-7; without a type, RTV 0. */
static void test_populate_rod_bytes(void **state)
{
	static const uint8_t want[32] = {
		0x00, 0x1e, 0x02, 0x00, 0x00, 0x00, 0x02, 0x58,	/* len, RTV, 600 s */
		0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,	/* PIT default; 16 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,	/* LBA 8192 */
		0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,	/* 8 blocks */
	};
	struct bc_token_range r = { 8192, 8 };
	uint8_t b[32];

	(void)state;
	assert_int_equal(bc_token_build_populate_rod(b, sizeof(b), 600,
						     BC_ROD_TYPE_PIT_DEFAULT, &r, 1), 32);
	assert_memory_equal(b, want, 32);
	assert_int_equal(bc_token_build_populate(b, sizeof(b), 600, &r, 1), 32);
	assert_int_equal(b[2], 0);
	assert_int_equal(b[8] | b[9] | b[10] | b[11], 0);
	assert_int_equal(bc_token_build_populate_rod(b, 31, 0, BC_ROD_TYPE_PIT_DEFAULT,
						     &r, 1), -ENOSPC);
}

static void test_list_refusals(void **state)
{
	struct bc_designator s = naa6(1), bad = naa6(2);
	struct bc_xcopy_segment seg = { 0, 0, 8 }, zero = { 0, 0, 0 };
	uint8_t buf[256];

	(void)state;
	bad.len = 21;
	assert_int_equal(bc_xcopy_build_list(buf, sizeof(buf), &s, 512, &bad, 512, &seg, 1),
			 -EINVAL);
	assert_int_equal(bc_xcopy_build_list(buf, sizeof(buf), &s, 512, NULL, 512, &seg, 1),
			 -EINVAL);
	assert_int_equal(bc_xcopy_build_list(buf, 100, &s, 512, &s, 512, &seg, 1),
			 -ENOSPC);
	struct bc_xcopy_segment two[2] = { { 0, 0, 8 }, { 8, 8, 0 } };

	assert_int_equal(bc_xcopy_build_list(buf, sizeof(buf), &s, 512, &s, 512, &zero, 1),
			 16 + 64 + 28);	/* the pair check */
	assert_int_equal(bc_xcopy_build_list(buf, sizeof(buf), &s, 512, &s, 512, two, 2),
			 -EINVAL);
	assert_int_equal(bc_xcopy_build_list(buf, sizeof(buf), &s, 512, &s, 512, &seg, 0),
			 -EINVAL);
}

static void test_pick_designator(void **state)
{
	struct bc_designator d[4] = { naa6(1), naa6(2), naa6(3), naa6(4) };

	(void)state;
	d[0].association = 1;		/* target port: not the LU */
	d[1].len = 8;			/* NAA-3 (tgt) */
	d[2].type = 2;			/* EUI-64 */
	assert_ptr_equal(bc_xcopy_pick_designator(d, 4), &d[3]);
	assert_ptr_equal(bc_xcopy_pick_designator(d, 3), &d[1]);
	assert_null(bc_xcopy_pick_designator(d, 1));
}

static void test_shape(void **state)
{
	/* LIO: 2 CSCDs, 1 segment, list 1024, 256 MiB per segment */
	struct bc_xcopy_limits lio = { .max_cscd = 2, .max_segments = 1,
				       .max_desc_list_len = 1024,
				       .max_segment_len = 256u << 20 };
	struct bc_xcopy_limits small = { .max_cscd = 4, .max_segments = 16,
					 .max_desc_list_len = 64 + 3 * 28,
					 .max_segment_len = 1u << 20 };
	struct bc_xcopy_limits one = { .max_cscd = 1, .max_segments = 1 };
	struct bc_xcopy_shape sh;
	struct bc_xcopy_segment seg[8];
	uint64_t covered;
	size_t n;

	(void)state;
	assert_int_equal(bc_xcopy_shape(&lio, 512, &sh), 0);
	assert_int_equal(sh.seg_blocks, 65535);
	assert_int_equal(sh.segs_per_cmd, 1);
	assert_int_equal(bc_xcopy_shape(&small, 4096, &sh), 0);
	assert_int_equal(sh.seg_blocks, 256);
	assert_int_equal(sh.segs_per_cmd, 3);
	assert_int_equal(bc_xcopy_shape(&one, 512, &sh), -EOPNOTSUPP);

	bc_xcopy_shape(&small, 4096, &sh);
	n = bc_xcopy_cut(&sh, 1000, 5000, 600, seg, 8, &covered);
	assert_int_equal(n, 3);
	assert_int_equal(covered, 600);
	assert_int_equal(seg[0].src_lba, 1000);
	assert_int_equal(seg[0].dst_lba, 5000);
	assert_int_equal(seg[0].blocks, 256);
	assert_int_equal(seg[2].src_lba, 1512);
	assert_int_equal(seg[2].blocks, 88);
	n = bc_xcopy_cut(&sh, 0, 0, 10000, seg, 8, &covered);
	assert_int_equal(n, 3);
	assert_int_equal(covered, 768);
}

static void test_segments_done(void **state)
{
	struct bc_status st = { .kind = BC_STATUS_SCSI, .sense_key = 0x0a,
				.asc = 0x0d, .ascq = 0x02 };

	(void)state;
	assert_int_equal(bc_xcopy_segments_done(&st, 4), 0);	/* LIO */
	st.cmd_specific_valid = true;
	st.cmd_specific = 2;
	assert_int_equal(bc_xcopy_segments_done(&st, 4), 2);
	st.cmd_specific = 9;	/* nonsense: trust nothing */
	assert_int_equal(bc_xcopy_segments_done(&st, 4), 0);
	st.sense_key = 0x05;
	st.cmd_specific = 2;
	assert_int_equal(bc_xcopy_segments_done(&st, 4), 0);
}

/* Commands in flight: the copy manager's word, the transport's, a cap. */
static void test_concurrency(void **state)
{
	static const struct {
		uint16_t total;		/* TOTAL CONCURRENT COPIES */
		uint8_t max;		/* MAXIMUM CONCURRENT COPIES */
		unsigned queue, cap, want;
	} t[] = {
		{ 1, 1, 8, 4, 1 },	/* LIO */
		{ 0, 0, 8, 4, 1 },	/* not reported: one */
		{ 0, 3, 8, 4, 3 },
		{ 16, 3, 8, 4, 3 },
		{ 2, 3, 8, 4, 2 },	/* the smaller of the two fields */
		{ 0, 200, 8, 4, 4 },	/* the cap */
		{ 0, 200, 2, 4, 2 },	/* the transport */
		{ 0, 200, 0, 4, 1 },	/* a transport that says nothing */
		{ 0, 200, 8, 0, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bc_xcopy_limits l = { .max_concurrent = t[i].total,
					     .max_concurrent_copies = t[i].max };

		assert_int_equal(bc_xcopy_concurrency(&l, t[i].queue, t[i].cap),
				 t[i].want);
	}
}

/* --- the walker and the executor over memvols ------------------------ */

static struct bc_volume *source(bool map)
{
	struct bc_volume *s = memvol_new("src", 8 * MiB, 512, map, true, false);

	memvol_of(s)->offload = true;
	memvol_fill(s, 1 * MiB, 64 * 1024, 1);
	memvol_fill(s, 5 * MiB, 2 * MiB, 2);
	return s;
}

static struct bc_volume *old_dest(void)
{
	struct bc_volume *d = memvol_new("dst", 8 * MiB, 512, true, true, true);

	memvol_of(d)->offload = true;
	memvol_garbage(d, 9);
	return d;
}

static int run(struct bc_volume *s, struct bc_volume *d,
	       enum bc_offload_policy pol, struct bc_copy_stats *st,
	       struct bc_fallback *fb, enum bc_method *used, struct bc_error *e)
{
	const struct bc_caps *sc, *dc;
	struct bc_copy_opts o = { .offload = pol };
	struct bc_plan plan;

	assert_int_equal(bc_volume_caps(s, &sc, e), 0);
	assert_int_equal(bc_volume_caps(d, &dc, e), 0);
	bc_plan_make(sc, dc, pol, false, false, &plan);
	return bc_copy_run(s, d, &plan, &o, st, used, fb, e);
}

/* Only the allocated extents go to the copy manager; holes are zeroed. */
static void test_offload_sends_only_data(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e), 0);
	assert_int_equal(used, BC_METHOD_XCOPY_LID1);
	assert_int_equal(st.offloaded_bytes, 64 * 1024 + 2 * MiB);
	assert_int_equal(memvol_of(s)->offloaded_bytes, 64 * 1024 + 2 * MiB);
	assert_int_equal(st.read_bytes, 0);
	assert_int_equal(st.written_bytes, 0);
	assert_int_equal(st.zeroed_bytes, 8 * MiB - 64 * 1024 - 2 * MiB);
	assert_int_equal(memvol_of(s)->read_bytes, 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	assert_false(fb.happened);
	bc_volume_close(s);
	bc_volume_close(d);
}

/* Without a source map the copy manager copies everything. */
static void test_offload_without_map_copies_all(void **state)
{
	struct bc_volume *s = source(false), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	assert_int_equal(run(s, d, BC_OFFLOAD_AUTO, &st, &fb, &used, &e), 0);
	assert_int_equal(st.offloaded_bytes, 8 * MiB);
	assert_int_equal(st.zeroed_bytes, 0);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

/* A refusal of the first command under require: exit-3 material, the
 * destination untouched (holes before the first data were not zeroed). */
static void test_require_refused_leaves_destination(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;
	uint8_t *before = malloc(8 * MiB);

	(void)state;
	assert_non_null(before);
	memcpy(before, memvol_of(d)->data, 8 * MiB);
	memvol_of(s)->offload_refuse = true;
	assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e), -ECANCELED);
	assert_int_equal(st.offloaded_bytes + st.written_bytes + st.zeroed_bytes, 0);
	assert_memory_equal(before, memvol_of(d)->data, 8 * MiB);
	assert_int_equal(memvol_of(d)->zeros + memvol_of(d)->writes, 0);
	assert_int_equal(st.resume_offset, 0);
	free(before);
	bc_volume_close(s);
	bc_volume_close(d);
}

/* The same refusal under auto: the host does all of it, and says why. */
static void test_auto_refused_falls_back(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	memvol_of(s)->offload_refuse = true;
	assert_int_equal(run(s, d, BC_OFFLOAD_AUTO, &st, &fb, &used, &e), 0);
	assert_true(fb.happened);
	assert_int_equal(fb.method, BC_METHOD_XCOPY_LID1);
	assert_non_null(strstr(fb.reason, "COPY ABORTED"));
	assert_int_equal(used, BC_METHOD_HOST);
	assert_int_equal(st.offloaded_bytes, 0);
	assert_int_equal(st.read_bytes, 64 * 1024 + 2 * MiB);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

/* Aborted part-way: auto continues on the host exactly where the copy
 * manager stopped -- nothing read twice, nothing skipped. */
static void test_auto_partial_continues(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	memvol_of(s)->offload_fail_after = 64 * 1024 + 1 * MiB;
	assert_int_equal(run(s, d, BC_OFFLOAD_AUTO, &st, &fb, &used, &e), 0);
	assert_true(fb.happened);
	assert_int_equal(st.offloaded_bytes, 64 * 1024 + 1 * MiB);
	assert_int_equal(st.read_bytes, 1 * MiB);	/* only the rest */
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

/* Aborted part-way under require: fails, naming where it stopped. */
static void test_require_partial_reports_offset(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	memvol_of(s)->offload_fail_after = 64 * 1024 + 1 * MiB;
	assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e), -ECANCELED);
	assert_false(fb.happened);
	assert_int_equal(st.resume_offset, 6 * MiB);
	assert_int_equal(st.offloaded_bytes, 64 * 1024 + 1 * MiB);
	assert_int_equal(st.read_bytes, 0);
	assert_true(e.has_lba);
	assert_int_equal(e.lba, 6 * MiB / 512);
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * An OS error says through its category whether the destination may have
 * been written (a file's clone: FICLONERANGE may fail after a short
 * remap).  Refused before anything was remapped: untouched, exit-3
 * material.
 */
static void test_os_refusal_leaves_destination(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;
	uint8_t *before = malloc(8 * MiB);

	(void)state;
	assert_non_null(before);
	memcpy(before, memvol_of(d)->data, 8 * MiB);
	memvol_of(s)->pair_cannot_ask = true;
	memvol_of(s)->offload_os_err = -EINVAL;
	memvol_of(s)->offload_os_cat = BC_CAT_NOT_SUPPORTED;
	assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e), -EINVAL);
	assert_false(st.dest_modified);
	assert_false(st.offload_refused);	/* a filesystem is asked again */
	assert_int_equal(st.offloaded_bytes + st.written_bytes + st.zeroed_bytes, 0);
	assert_memory_equal(before, memvol_of(d)->data, 8 * MiB);
	free(before);
	bc_volume_close(s);
	bc_volume_close(d);
}

/* The same errno after part of the range was remapped: not a refusal. */
static void test_os_failure_may_have_written(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	memvol_of(s)->pair_cannot_ask = true;
	memvol_of(s)->offload_os_err = -EINVAL;
	memvol_of(s)->offload_os_cat = BC_CAT_OTHER;
	memvol_of(s)->offload_os_partial = true;
	assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e), -EINVAL);
	assert_true(st.dest_modified);
	assert_int_equal(st.resume_offset, 0);
	bc_volume_close(s);
	bc_volume_close(d);
}

/* A pair the filesystem refuses is refused before any command that could
 * write: only the zero-length check was sent. */
static void test_pair_os_refused(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	memvol_of(s)->pair_os_refuse = true;
	assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e), -EOPNOTSUPP);
	assert_int_equal(memvol_of(s)->offload_calls, 1);
	assert_false(st.dest_modified);
	assert_false(st.offload_refused);
	assert_int_equal(memvol_of(d)->zeros + memvol_of(d)->writes, 0);
	bc_volume_close(s);
	bc_volume_close(d);
}

/*
 * A device's failure of the first data command, told by its category
 * alone: refused as malformed (BC_CAT_REJECTED is what an ILLEGAL REQUEST
 * of no narrower kind decodes to, beside NOT_SUPPORTED, OUT_OF_RANGE and
 * INVALID_TOKEN) means not performed: the destination is untouched and
 * the pair remembered as refused.  Any other may have written.
 */
static void test_device_failure_by_category(void **state)
{
	static const struct {
		enum bc_status_cat cat;
		bool performed;
	} rows[] = {
		{ BC_CAT_REJECTED, false },
		{ BC_CAT_NOT_SUPPORTED, false },
		{ BC_CAT_OUT_OF_RANGE, false },
		{ BC_CAT_INVALID_TOKEN, false },
		{ BC_CAT_MEDIUM, true },
		{ BC_CAT_OTHER, true },
		{ BC_CAT_COPY_ABORTED, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bc_volume *s = source(true), *d = old_dest();
		struct bc_copy_stats st;
		struct bc_fallback fb;
		struct bc_error e = { 0 };
		enum bc_method used;

		print_message("category %d\n", (int)rows[i].cat);
		memvol_of(s)->pair_cannot_ask = true;
		memvol_of(s)->offload_dev_cat = rows[i].cat;
		assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e),
				 -EIO);
		assert_int_equal(st.dest_modified, rows[i].performed);
		assert_int_equal(st.offload_refused, !rows[i].performed);
		if (!rows[i].performed)
			assert_int_equal(memvol_of(d)->zeros + memvol_of(d)->writes, 0);
		bc_volume_close(s);
		bc_volume_close(d);
	}
}

/* A category left in the error by an earlier, benign device refusal (a
 * probe's ILLEGAL REQUEST) does not turn "cannot ask" into "refused". */
static void test_stale_category_is_not_a_refusal(void **state)
{
	struct bc_volume *s = source(true), *d = old_dest();
	struct bc_copy_stats st;
	struct bc_fallback fb;
	struct bc_error e = { 0 };
	enum bc_method used;

	(void)state;
	e.status.kind = BC_STATUS_SCSI;
	e.status.cat = BC_CAT_NOT_SUPPORTED;
	e.status.sense_key = 0x05;
	memvol_of(s)->pair_cannot_ask = true;
	assert_int_equal(run(s, d, BC_OFFLOAD_REQUIRE, &st, &fb, &used, &e), 0);
	assert_int_equal(st.offloaded_bytes, 64 * 1024 + 2 * MiB);
	assert_true(memvol_same(s, d, 8 * MiB));
	bc_volume_close(s);
	bc_volume_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_bytes),
		cmocka_unit_test(test_list_refusals),
		cmocka_unit_test(test_populate_rod_bytes),
		cmocka_unit_test(test_pick_designator),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_segments_done),
		cmocka_unit_test(test_offload_sends_only_data),
		cmocka_unit_test(test_offload_without_map_copies_all),
		cmocka_unit_test(test_require_refused_leaves_destination),
		cmocka_unit_test(test_auto_refused_falls_back),
		cmocka_unit_test(test_auto_partial_continues),
		cmocka_unit_test(test_require_partial_reports_offset),
		cmocka_unit_test(test_os_refusal_leaves_destination),
		cmocka_unit_test(test_os_failure_may_have_written),
		cmocka_unit_test(test_pair_os_refused),
		cmocka_unit_test(test_device_failure_by_category),
		cmocka_unit_test(test_stale_category_is_not_a_refusal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
