/*
 * Zeroing by UNMAP on the simulator, whose LUs here behave as an array
 * with an unmap granularity does: an UNMAP releases only whole granules
 * and a partial granule keeps its old data (unmap_granules_only).  The LU
 * has LBPRZ and UNMAP but no WRITE SAME with UNMAP (LBPWS=0), so the SCSI
 * volume must unmap whole granules and write the partial ones.  Checked on
 * the medium: every block of the range reads zero, blocks outside keep
 * their data, whole granules are deallocated; and the commands sent.
 *
 * Then destinations SBC-4 allows that do not read zero where they look
 * unmapped -- LBPRZ 000b and 010b, READ CAPACITY(16) disagreeing with VPD
 * 0xB2, anchored blocks, UNMAP that keeps granules or does nothing -- onto
 * which the source's holes must end up zero and are never skipped.
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

#include "backend/backends.h"
#include "scsi/lu.h"
#include "simlu.h"

#define BLOCKS 8192u
#define BS 512u
#define OLD 0xee

struct fx {
	struct bc_sim *sim;
	struct bc_volume *v;
	const struct bc_caps *caps;
};

/* An LBPRZ LU without WRITE SAME+UNMAP, granules of 8 at @align (0 =
 * UGAVALID=0), UNMAP limits @max_lba/@max_desc; old data everywhere. */
static void setup(struct fx *f, uint32_t align, uint32_t max_lba, uint32_t max_desc)
{
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_error e = { 0 };
	uint8_t *buf = malloc(BLOCKS * BS);

	assert_non_null(buf);
	f->sim = bc_sim_new();
	bc_sim_lu_cfg_spc(&c, BLOCKS, BS, 1);
	c.no_lbpws = true;
	c.unmap_granularity = 8;
	c.unmap_alignment = align;
	c.unmap_granules_only = true;
	c.max_unmap_lba_count = max_lba;
	c.max_unmap_desc = max_desc;
	assert_int_equal(bc_sim_add_lu(f->sim, &c), 0);
	memset(buf, OLD, BLOCKS * BS);
	assert_int_equal(bc_sim_write(f->sim, 0, 0, BLOCKS, buf), 0);
	free(buf);
	assert_int_equal(bc_sim_open(f->sim, 0, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &f->v, &e), 0);
	assert_int_equal(bc_volume_caps(f->v, &f->caps, &e), 0);
	bc_sim_reset_counters(f->sim);
}

static void teardown(struct fx *f)
{
	bc_volume_close(f->v);
	bc_sim_free(f->sim);
}

/* Does every block of [lba, lba + n) hold @byte on the medium? */
static bool holds(struct fx *f, uint64_t lba, uint64_t n, uint8_t byte)
{
	uint8_t b[BS];

	for (uint64_t l = lba; l < lba + n; l++) {
		assert_int_equal(bc_sim_read(f->sim, 0, l, 1, b), 0);
		for (unsigned i = 0; i < BS; i++)
			if (b[i] != byte)
				return false;
	}
	return true;
}

static unsigned long mapped_in(struct fx *f, uint64_t lba, uint64_t n)
{
	unsigned long k = 0;

	for (uint64_t l = lba; l < lba + n; l++)
		k += bc_sim_mapped(f->sim, 0, l);
	return k;
}

/* What the sim does with a plain UNMAP of the range: the partial granules
 * keep old data.  This is what the volume must not rely on. */
static void test_sim_keeps_partial_granules(void **state)
{
	struct fx f;
	struct bc_error e = { 0 };
	struct bc_scsi_transport *t;

	(void)state;
	setup(&f, 2, 0, 0);
	assert_int_equal(bc_sim_open(f.sim, 0, &t), 0);
	assert_int_equal(bc_lu_unmap(&(struct bc_lu){ t, BS }, 5, 1000, &e), 0);
	assert_true(holds(&f, 5, 5, OLD));		/* [5, 10): partial */
	assert_true(holds(&f, 10, 992, 0));
	assert_true(holds(&f, 1002, 3, OLD));		/* [1002, 1005) */
	bc_scsi_transport_close(t);
	teardown(&f);
}

static void test_probe_shows_granules(void **state)
{
	struct fx f;

	(void)state;
	setup(&f, 2, 64, 2);
	assert_int_equal(f.caps->write_same.state, BC_SUP_NO);
	assert_int_equal(f.caps->unmap.state, BC_SUP_YES);
	assert_int_equal(f.caps->zero_init.state, BC_SUP_YES);
	assert_int_equal(f.caps->unmap_lim.granularity, 8);
	assert_int_equal(f.caps->unmap_lim.alignment, 2);
	assert_true(f.caps->unmap_lim.ugavalid);
	assert_int_equal(f.caps->unmap_lim.max_lba_count, 64);
	assert_int_equal(f.caps->unmap_lim.max_descriptors, 2);
	assert_string_equal(f.caps->zeroout.reason,
			    "UNMAP of whole granules, kept only where GET LBA STATUS then shows them "
			    "deallocated (LBPRZ xx1b); partial granules and blocks left mapped or "
			    "anchored written with WRITE SAME(16) or WRITE(16)");
	/* RSOC lists WRITE SAME(16), but LBPWS=0 decides */
	assert_int_equal(f.caps->opcodes.state, BC_SUP_YES);
	assert_true(f.caps->opcodes.write_same16);
	assert_true(f.caps->opcodes.unmap);
	assert_non_null(strstr(f.caps->write_same.reason,
			       "RSOC lists 0x93 but VPD 0xB2 LBPWS=0: not used"));
	assert_non_null(strstr(f.caps->unmap.reason, "RSOC lists 0x42 too"));
	teardown(&f);
}

/* [5, 1005) with granules at 2 + 8k: [10, 1002) unmapped in commands of at
 * most 64 blocks, [5, 10) and [1002, 1005) written by WRITE SAME(16)
 * without UNMAP. */
static void test_zero_aligned_granules(void **state)
{
	struct bc_sim_log_entry log[BC_SIM_LOG_MAX];
	struct bc_error e = { 0 };
	struct fx f;
	size_t n;
	unsigned ws = 0;

	(void)state;
	setup(&f, 2, 64, 2);
	assert_int_equal(f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e), 0);
	assert_true(holds(&f, 5, 1000, 0));
	assert_true(holds(&f, 0, 5, OLD));		/* outside: untouched */
	assert_true(holds(&f, 1005, 100, OLD));
	assert_int_equal(mapped_in(&f, 10, 992), 0);	/* whole granules freed */
	assert_int_equal(mapped_in(&f, 5, 5), 5);	/* edges written */
	assert_int_equal(mapped_in(&f, 1002, 3), 3);
	/* 992 blocks in commands of 64 (the LBA-count limit, whole granules) */
	assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), 16);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x93, BC_SIM_ANY), 2);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x8a, BC_SIM_ANY), 0);
	n = bc_sim_log(f.sim, log, BC_SIM_LOG_MAX);
	for (size_t i = 0; i < n; i++) {
		if (log[i].cdb[0] != 0x93)
			continue;
		assert_int_equal(log[i].cdb[1] & 0x08, 0);	/* no UNMAP bit */
		assert_int_equal(log[i].status, 0);
		ws++;
	}
	assert_int_equal(ws, 2);
	teardown(&f);
}

/* UGAVALID=0 (the sim's granules sit at 0, but the LU does not say so):
 * every block still reads zero and old data outside stays. */
static void test_zero_alignment_unknown(void **state)
{
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, 0, 64, 1);
	assert_false(f.caps->unmap_lim.ugavalid);
	assert_int_equal(f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e), 0);
	assert_true(holds(&f, 5, 1000, 0));
	assert_true(holds(&f, 0, 5, OLD));
	assert_true(holds(&f, 1005, 100, OLD));
	/* pieces of 64, each with 7 blocks written at either end */
	assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), 16);
	assert_true(mapped_in(&f, 5, 1000) < 1000 / 2);
	teardown(&f);
}

/* A range inside one granule: no UNMAP at all, just written. */
static void test_zero_inside_granule(void **state)
{
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, 2, 0, 0);
	assert_int_equal(f.v->ops->zero(f.v, 11 * BS, 6 * BS, BC_ZERO_MAY_UNMAP, &e), 0);
	assert_true(holds(&f, 11, 6, 0));
	assert_true(holds(&f, 10, 1, OLD));
	assert_true(holds(&f, 17, 1, OLD));
	assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), 0);
	teardown(&f);
}

/* WRITE SAME(16) refused altogether: the edges go out as WRITE(16). */
static void test_zero_edges_by_write(void **state)
{
	struct bc_sim_fault ws = { .kind = BC_SIM_FAULT_CHECK, .lu = 0, .opcode = 0x93,
				   .sa = BC_SIM_ANY, .count = 100, .key = 0x5,
				   .asc = 0x20, .ascq = 0x00 };
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, 2, 0, 0);
	assert_int_equal(bc_sim_inject(f.sim, &ws), 0);
	assert_int_equal(f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e), 0);
	assert_true(holds(&f, 5, 1000, 0));
	assert_true(holds(&f, 1005, 1, OLD));
	assert_int_equal(mapped_in(&f, 10, 992), 0);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x93, BC_SIM_ANY), 1);	/* tried once */
	assert_int_equal(bc_sim_count(f.sim, 0, 0x8a, BC_SIM_ANY), 2);
	teardown(&f);
}

/* UNMAP refused: -EOPNOTSUPP (the engine writes zeros), nothing changed. */
static void test_zero_unmap_refused(void **state)
{
	struct bc_sim_fault um = { .kind = BC_SIM_FAULT_CHECK, .lu = 0, .opcode = 0x42,
				   .sa = BC_SIM_ANY, .count = 100, .key = 0x5,
				   .asc = 0x20, .ascq = 0x00 };
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, 2, 0, 0);
	assert_int_equal(bc_sim_inject(f.sim, &um), 0);
	assert_int_equal(f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e),
			 -EOPNOTSUPP);
	assert_true(holds(&f, 5, 1000, OLD));
	/* and not tried again */
	assert_int_equal(f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e),
			 -EOPNOTSUPP);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), 1);
	teardown(&f);
}

/* GET LBA STATUS refused after the UNMAP: nothing proves it, so
 * -EOPNOTSUPP (the engine writes zeros over the range) and UNMAP is not
 * used for zeroing again. */
static void test_zero_gls_refused_after_unmap(void **state)
{
	struct bc_sim_fault gls = { .kind = BC_SIM_FAULT_CHECK, .lu = 0, .opcode = 0x9e,
				    .sa = 0x12, .count = 100, .key = 0x5,
				    .asc = 0x20, .ascq = 0x00 };
	struct bc_error e = { 0 };
	struct fx f;

	(void)state;
	setup(&f, 2, 0, 0);
	assert_int_equal(bc_sim_inject(f.sim, &gls), 0);
	assert_int_equal(f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e),
			 -EOPNOTSUPP);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), 1);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x9e, 0x12), 1);
	bc_error_clear(&e);
	assert_int_equal(f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e),
			 -EOPNOTSUPP);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), 1);
	teardown(&f);
}

/*
 * The whole host copy onto such a LU holding old data: the source's holes
 * end up zero on the destination (none of the old data left), whole
 * granules inside them deallocated.
 */
static void test_copy_onto_old_data(void **state)
{
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_volume *src;
	struct bc_copy_opts o = { .offload = BC_OFFLOAD_NEVER };
	struct bc_copy_stats st = { 0 };
	struct bc_error e = { 0 };
	uint8_t *a = malloc(BLOCKS * BS), *b = malloc(BLOCKS * BS);
	struct fx f;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	setup(&f, 2, 64, 2);
	bc_sim_lu_cfg_spc(&c, BLOCKS, BS, 2);
	assert_int_equal(bc_sim_add_lu(f.sim, &c), 1);
	for (unsigned i = 0; i < 300 * BS; i++)
		a[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(bc_sim_write(f.sim, 1, 101, 300, a), 0);	/* unaligned */
	assert_int_equal(bc_sim_write(f.sim, 1, 5003, 300, a), 0);
	assert_int_equal(bc_sim_open(f.sim, 1, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, &src, &e), 0);
	assert_int_equal(bc_host_copy(src, f.v, false, &o, &st, &e), 0);
	assert_int_equal(bc_sim_read(f.sim, 1, 0, BLOCKS, a), 0);
	assert_int_equal(bc_sim_read(f.sim, 0, 0, BLOCKS, b), 0);
	assert_memory_equal(a, b, (size_t)BLOCKS * BS);
	/* thin: the holes' whole granules are gone; at most the partial
	 * granules around the two extents and the end stay mapped */
	assert_true(bc_sim_mapped_blocks(f.sim, 0) <= 600 + 4 * 7 + 8);
	assert_int_equal(mapped_in(&f, 2000, 3000), 0);
	assert_true(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY) > 0);
	bc_volume_close(src);
	teardown(&f);
	free(a);
	free(b);
}

/* --- destinations whose unmapped blocks need not read zero -------------- */

/*
 * Personalities SBC-4 allows for a destination, and what blkclone must do
 * with the source's holes on each: every hole ends up reading zero (the
 * sim's own medium is the oracle), and a hole is skipped only where the
 * destination's GET LBA STATUS shows deallocated blocks on a LU whose
 * LBPRZ field is xx1b and whose READ CAPACITY(16) agrees.  Nothing else
 * proves zeros: not LBPRZ 000b/010b, not anchored blocks, not an UNMAP.
 */
struct dest_row {
	const char *name;
	bool lbprz;		/* unmapped blocks read zero ... */
	uint8_t fill;		/* ... else this */
	bool vpd_set;		/* VPD 0xB2 LBPRZ field = vpd */
	uint8_t vpd;
	bool rc16_flip;		/* READ CAPACITY(16) disagrees */
	bool no_lbpws;		/* no WRITE SAME(16) with UNMAP */
	bool no_gls;		/* no GET LBA STATUS */
	unsigned keep;		/* UNMAP keeps every Nth granule */
	bool resource;		/* unmap operations anchor */
	uint64_t skipped;	/* expected skipped_bytes */
	unsigned long unmaps;	/* UNMAP commands expected: 0, or 1 = some */
};

static const struct dest_row dest_rows[] = {
	{ "LBPRZ 001b with GET LBA STATUS (skips deallocated)", true, 0, false, 0,
	  false, false, false, 0, false, 2048 * BS, 0 },
	{ "LBPRZ 001b, UNMAP only", true, 0, false, 0,
	  false, true, false, 0, false, 2048 * BS, 1 },
	{ "LBPRZ 000b, unmapped blocks read A5h", false, 0xa5, false, 0,
	  false, false, false, 0, false, 0, 0 },
	{ "LBPRZ 000b, UNMAP only", false, 0xa5, false, 0,
	  false, true, false, 0, false, 0, 0 },
	{ "LBPRZ 010b, provisioning initialization pattern 5Ah", false, 0x5a, true, 2,
	  false, false, false, 0, false, 0, 0 },
	{ "LBPRZ 010b, UNMAP only", false, 0x5a, true, 2,
	  false, true, false, 0, false, 0, 0 },
	{ "LBPRZ 010b but READ CAPACITY(16) LBPRZ=1", false, 0x5a, true, 2,
	  true, false, false, 0, false, 0, 0 },
	{ "LBPRZ 001b but READ CAPACITY(16) LBPRZ=0", true, 0, false, 0,
	  true, false, false, 0, false, 0, 0 },
	{ "LBPRZ 011b (xx1b: zeros)", true, 0, true, 3,
	  false, false, false, 0, false, 2048 * BS, 0 },
	{ "UNMAP keeps every granule", true, 0, false, 0,
	  false, true, false, 1, false, 2048 * BS, 1 },
	{ "UNMAP keeps every 2nd granule", true, 0, false, 0,
	  false, true, false, 2, false, 2048 * BS, 1 },
	{ "UNMAP keeps every granule, no GET LBA STATUS", true, 0, false, 0,
	  false, true, true, 1, false, 0, 0 },
	{ "resource provisioned: UNMAP anchors", true, 0, false, 0,
	  false, true, false, 0, true, 0, 1 },
	{ "resource provisioned, LBPRZ 000b", false, 0xa5, false, 0,
	  false, false, false, 0, true, 0, 0 },
};

/*
 * The destination: old data in [0, 2048) and [6144, 8192), [2048, 4096)
 * never written (deallocated, or anchored on a resource provisioned LU),
 * [4096, 6144) anchored.  The source: data at [101, 401) and [5003, 5303),
 * holes elsewhere.  Index 0 is the destination, 1 the source.
 */
static void dest_setup(struct fx *f, const struct dest_row *r, struct bc_volume **src)
{
	struct bc_sim_lu_cfg c;
	struct bc_scsi_transport *t;
	struct bc_error e = { 0 };
	uint8_t *buf = malloc(2048 * BS);

	assert_non_null(buf);
	f->sim = bc_sim_new();
	bc_sim_lu_cfg_spc(&c, BLOCKS, BS, 1);
	c.lbprz = r->lbprz;
	c.unmapped_fill = r->fill;
	c.vpd_lbprz_set = r->vpd_set;
	c.vpd_lbprz = r->vpd;
	c.rc16_lbprz_flip = r->rc16_flip;
	c.no_lbpws = r->no_lbpws;
	c.gls = !r->no_gls;
	c.unmap_keep_every = r->keep;
	c.resource = r->resource;
	c.unmap_granularity = 8;
	c.unmap_alignment = 2;
	c.unmap_granules_only = true;
	assert_int_equal(bc_sim_add_lu(f->sim, &c), 0);
	bc_sim_lu_cfg_spc(&c, BLOCKS, BS, 2);
	assert_int_equal(bc_sim_add_lu(f->sim, &c), 1);
	if (r->resource)
		assert_int_equal(bc_sim_anchor(f->sim, 0, 0, BLOCKS), 0);
	memset(buf, OLD, 2048 * BS);
	assert_int_equal(bc_sim_write(f->sim, 0, 0, 2048, buf), 0);
	assert_int_equal(bc_sim_write(f->sim, 0, 6144, 2048, buf), 0);
	assert_int_equal(bc_sim_anchor(f->sim, 0, 4096, 2048), 0);
	for (unsigned i = 0; i < 300 * BS; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(bc_sim_write(f->sim, 1, 101, 300, buf), 0);
	assert_int_equal(bc_sim_write(f->sim, 1, 5003, 300, buf), 0);
	free(buf);
	assert_int_equal(bc_sim_open(f->sim, 0, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &f->v, &e), 0);
	assert_int_equal(bc_volume_caps(f->v, &f->caps, &e), 0);
	assert_int_equal(bc_sim_open(f->sim, 1, &t), 0);
	assert_int_equal(bc_scsi_volume_wrap(t, 0, src, &e), 0);
	bc_sim_reset_counters(f->sim);
}

/* Both LUs read the same, on the sim's medium. */
static bool dest_same(struct fx *f)
{
	uint8_t *a = malloc(BLOCKS * BS), *b = malloc(BLOCKS * BS);
	bool same;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(bc_sim_read(f->sim, 1, 0, BLOCKS, a), 0);
	assert_int_equal(bc_sim_read(f->sim, 0, 0, BLOCKS, b), 0);
	same = !memcmp(a, b, (size_t)BLOCKS * BS);
	if (!same)
		for (uint64_t l = 0; l < BLOCKS; l++)
			if (memcmp(a + l * BS, b + l * BS, BS)) {
				print_message("  first difference at LBA %llu (%02xh, want %02xh)\n",
					      (unsigned long long)l, b[l * BS], a[l * BS]);
				break;
			}
	free(a);
	free(b);
	return same;
}

static void test_holes_by_personality(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dest_rows) / sizeof(dest_rows[0]); i++) {
		const struct dest_row *r = &dest_rows[i];

		for (int token = 0; token < 2; token++) {
			struct bc_copy_opts o = { .offload = token ? BC_OFFLOAD_REQUIRE :
								     BC_OFFLOAD_NEVER };
			struct bc_copy_stats st = { 0 };
			struct bc_error e = { 0 };
			struct bc_volume *src;
			struct fx f;

			print_message("%s, %s\n", r->name, token ? "token copy" : "host copy");
			dest_setup(&f, r, &src);
			if (token)
				assert_int_equal(bc_offload_copy(src, f.v, BC_METHOD_TOKEN,
								 false, &o, &st, &e), 0);
			else
				assert_int_equal(bc_host_copy(src, f.v, false, &o, &st, &e), 0);
			assert_true(dest_same(&f));
			assert_int_equal(st.skipped_bytes, r->skipped);
			if (r->unmaps)
				assert_true(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY) > 0);
			else
				assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), 0);
			bc_volume_close(src);
			teardown(&f);
		}
	}
}

/*
 * The zero operation alone on an LBPRZ LU whose UNMAP keeps whole
 * granules: GET LBA STATUS shows them mapped afterwards, so they are
 * written.  Without GET LBA STATUS nothing can prove what an UNMAP did:
 * no UNMAP at all, the engine writes zeros (-EOPNOTSUPP).
 */
static void test_zero_unmap_keeps_granules(void **state)
{
	static const struct {
		const char *name;
		unsigned keep;
		bool gls, resource;
		int rc;
		unsigned long unmaps, mapped;	/* in [10, 1002) afterwards */
	} rows[] = {
		{ "UNMAP keeps all, GET LBA STATUS", 1, true, false, 0, 16, 992 },
		{ "UNMAP keeps every 2nd, GET LBA STATUS", 2, true, false, 0, 16, 496 },
		{ "UNMAP keeps all, no GET LBA STATUS", 1, false, false, -EOPNOTSUPP, 0, 992 },
		{ "UNMAP releases all, no GET LBA STATUS", 0, false, false, -EOPNOTSUPP, 0, 992 },
		/* anchored is not deallocated: written, none left anchored */
		{ "UNMAP anchors (resource provisioned)", 0, true, true, 0, 16, 992 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bc_sim_lu_cfg c;
		struct bc_scsi_transport *t;
		struct bc_error e = { 0 };
		uint8_t *buf = malloc(BLOCKS * BS);
		struct fx f;
		int rc;

		print_message("%s\n", rows[i].name);
		assert_non_null(buf);
		f.sim = bc_sim_new();
		bc_sim_lu_cfg_spc(&c, BLOCKS, BS, 1);
		c.no_lbpws = true;
		c.unmap_granularity = 8;
		c.unmap_alignment = 2;
		c.unmap_granules_only = true;
		c.max_unmap_lba_count = 64;
		c.unmap_keep_every = rows[i].keep;
		c.gls = rows[i].gls;
		c.resource = rows[i].resource;
		assert_int_equal(bc_sim_add_lu(f.sim, &c), 0);
		memset(buf, OLD, BLOCKS * BS);
		assert_int_equal(bc_sim_write(f.sim, 0, 0, BLOCKS, buf), 0);
		free(buf);
		assert_int_equal(bc_sim_open(f.sim, 0, &t), 0);
		assert_int_equal(bc_scsi_volume_wrap(t, BC_OPEN_WRITE, &f.v, &e), 0);
		assert_int_equal(bc_volume_caps(f.v, &f.caps, &e), 0);
		assert_string_equal(f.caps->zeroout.reason, rows[i].gls ?
				    "UNMAP of whole granules, kept only where GET LBA STATUS then "
				    "shows them deallocated (LBPRZ xx1b); partial granules and blocks "
				    "left mapped or anchored written with WRITE SAME(16) or WRITE(16)" :
				    "written zeros");
		bc_sim_reset_counters(f.sim);
		rc = f.v->ops->zero(f.v, 5 * BS, 1000 * BS, BC_ZERO_MAY_UNMAP, &e);
		assert_int_equal(rc, rows[i].rc);
		if (rc == 0)
			assert_true(holds(&f, 5, 1000, 0));
		else
			assert_true(holds(&f, 5, 1000, OLD));	/* nothing done */
		assert_true(holds(&f, 0, 5, OLD));
		assert_true(holds(&f, 1005, 100, OLD));
		assert_int_equal(bc_sim_count(f.sim, 0, 0x42, BC_SIM_ANY), rows[i].unmaps);
		assert_int_equal(mapped_in(&f, 10, 992), rows[i].mapped);
		for (uint64_t l = 5; l < 1005; l++)
			assert_false(bc_sim_anchored(f.sim, 0, l));
		teardown(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_keeps_partial_granules),
		cmocka_unit_test(test_probe_shows_granules),
		cmocka_unit_test(test_zero_aligned_granules),
		cmocka_unit_test(test_zero_alignment_unknown),
		cmocka_unit_test(test_zero_inside_granule),
		cmocka_unit_test(test_zero_edges_by_write),
		cmocka_unit_test(test_zero_unmap_refused),
		cmocka_unit_test(test_zero_gls_refused_after_unmap),
		cmocka_unit_test(test_copy_onto_old_data),
		cmocka_unit_test(test_holes_by_personality),
		cmocka_unit_test(test_zero_unmap_keeps_granules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
