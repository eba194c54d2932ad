/* SCSI response parsers (src/scsi/lu-parse.c) on literal bytes: the
 * layouts tgt returns, and malformed replies that must be refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scsi/lu.h"

static void test_inquiry(void **state)
{
	/* tgt 1.0.85: "IET     VIRTUAL-DISK    0001", 3PC clear */
	uint8_t b[36] = { 0x00, 0x00, 0x06, 0x02, 0x1f, 0x00, 0x00, 0x02,
		'I', 'E', 'T', ' ', ' ', ' ', ' ', ' ',
		'V', 'I', 'R', 'T', 'U', 'A', 'L', '-', 'D', 'I', 'S', 'K', ' ', ' ', ' ', ' ',
		'0', '0', '0', '1' };
	struct bc_lu_inquiry o;

	(void)state;
	assert_int_equal(bc_lu_parse_inquiry(b, sizeof(b), &o), 0);
	assert_string_equal(o.vendor, "IET");
	assert_string_equal(o.product, "VIRTUAL-DISK");
	assert_string_equal(o.revision, "0001");
	assert_false(o.tpc);
	assert_int_equal(o.version, 6);
	b[5] = 0x08;	/* LIO: 3PC */
	b[8] = 0x1b;	/* an escape byte never reaches a terminal */
	assert_int_equal(bc_lu_parse_inquiry(b, sizeof(b), &o), 0);
	assert_true(o.tpc);
	assert_int_equal(o.vendor[0], '?');
	assert_int_equal(bc_lu_parse_inquiry(b, 35, &o), -ENODATA);
}

static void test_capacity16(void **state)
{
	/* 1 GiB, 512-byte blocks, 8 per physical, LBPME+LBPRZ */
	uint8_t b[32] = { 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0, 0, 0x02, 0x00,
			  0, 0x03, 0xc0, 0x00 };
	struct bc_lu_capacity o;

	(void)state;
	assert_int_equal(bc_lu_parse_capacity16(b, sizeof(b), &o), 0);
	assert_int_equal(o.blocks, 2097152);
	assert_int_equal(o.block_size, 512);
	assert_int_equal(o.lbppbe, 3);
	assert_true(o.lbpme);
	assert_true(o.lbprz);
	assert_int_equal(o.lowest_aligned, 0);
	assert_int_equal(bc_lu_parse_capacity16(b, 15, &o), -ENODATA);
	b[10] = 0x03;	/* 768-byte blocks: not a power of two */
	assert_int_equal(bc_lu_parse_capacity16(b, sizeof(b), &o), -EBADMSG);
	b[10] = 0x02;
	memset(b, 0xff, 8);	/* last LBA 2^64-1 */
	assert_int_equal(bc_lu_parse_capacity16(b, sizeof(b), &o), -EBADMSG);
	b[0] = 0x7f;		/* fits blocks, but not bytes */
	assert_int_equal(bc_lu_parse_capacity16(b, sizeof(b), &o), -EBADMSG);
}

static void test_block_limits(void **state)
{
	uint8_t b[64] = { 0, 0xb0, 0, 0x3c };
	struct bc_lu_block_limits o;

	(void)state;
	b[11] = 0x80;		/* max transfer 128 blocks */
	b[15] = 0x08;		/* optimal 8 */
	b[22] = 0x20;		/* max unmap LBA count 8192 */
	b[27] = 1;		/* one descriptor */
	b[31] = 8;		/* granularity 8 */
	b[32] = 0x80; b[35] = 0;	/* UGAVALID, alignment 0 */
	b[42] = 0x10;		/* max write same 4096 */
	assert_int_equal(bc_lu_parse_block_limits(b, sizeof(b), &o), 0);
	assert_int_equal(o.max_transfer, 128);
	assert_int_equal(o.opt_transfer, 8);
	assert_int_equal(o.max_unmap_lba_count, 8192);
	assert_int_equal(o.max_unmap_descriptors, 1);
	assert_int_equal(o.opt_unmap_granularity, 8);
	assert_true(o.ugavalid);
	assert_int_equal(o.max_write_same, 4096);
	/* the page claims 0x3c bytes but only 20 arrived: the newer fields
	 * stay zero rather than being read past the buffer */
	assert_int_equal(bc_lu_parse_block_limits(b, 20, &o), 0);
	assert_int_equal(o.max_unmap_lba_count, 0);
	b[1] = 0xb2;		/* the wrong page */
	assert_int_equal(bc_lu_parse_block_limits(b, sizeof(b), &o), -EBADMSG);
}

static void test_provisioning(void **state)
{
	uint8_t b[8] = { 0, 0xb2, 0, 4, 0, 0xe4, 0x02, 0 };
	struct bc_lu_provisioning o;

	(void)state;
	assert_int_equal(bc_lu_parse_provisioning(b, sizeof(b), &o), 0);
	assert_true(o.lbpu);
	assert_true(o.lbpws);
	assert_true(o.lbpws10);
	assert_int_equal(o.lbprz, 1);
	assert_int_equal(o.type, 2);
	assert_int_equal(bc_lu_parse_provisioning(b, 7, &o), -ENODATA);
}

/*
 * Do unmapped blocks read zero?  READ CAPACITY(16) byte 14 and VPD 0xB2
 * byte 5 as a LU returns them.  SBC-4: the LBPRZ field is xx1b for zeros,
 * 010b for the provisioning initialization pattern, 000b vendor specific;
 * the READ CAPACITY(16) bit is bit 0 of it.  Where they disagree: not
 * zeros.
 */
static void test_unmapped_reads_zero(void **state)
{
	static const struct {
		uint8_t rc16_14;	/* LBPME 80h, LBPRZ 40h */
		bool has_b2;
		uint8_t b2_5;		/* LBPRZ field in bits 4..2 */
		bool zero;
		const char *why;
	} rows[] = {
		{ 0xc0, true, 0x04, true, "VPD 0xB2 LBPRZ 001b, READ CAPACITY(16) LBPRZ=1: unmapped blocks read as zeros" },
		{ 0xc0, true, 0x0c, true, "VPD 0xB2 LBPRZ 011b, READ CAPACITY(16) LBPRZ=1: unmapped blocks read as zeros" },
		{ 0xc0, true, 0x14, true, "VPD 0xB2 LBPRZ 101b, READ CAPACITY(16) LBPRZ=1: unmapped blocks read as zeros" },
		{ 0xc0, true, 0x1c, true, "VPD 0xB2 LBPRZ 111b, READ CAPACITY(16) LBPRZ=1: unmapped blocks read as zeros" },
		{ 0xc0, true, 0xe4, true, "VPD 0xB2 LBPRZ 001b, READ CAPACITY(16) LBPRZ=1: unmapped blocks read as zeros" },
		{ 0x80, true, 0x00, false, "VPD 0xB2 LBPRZ 000b: unmapped blocks read vendor-specific data" },
		{ 0x80, true, 0x08, false, "VPD 0xB2 LBPRZ 010b: unmapped blocks read the provisioning initialization pattern" },
		{ 0xc0, true, 0x08, false, "VPD 0xB2 LBPRZ 010b but READ CAPACITY(16) LBPRZ=1: they disagree, unmapped blocks are not relied on to read zeros" },
		{ 0x80, true, 0x04, false, "VPD 0xB2 LBPRZ 001b but READ CAPACITY(16) LBPRZ=0: they disagree, unmapped blocks are not relied on to read zeros" },
		{ 0x80, true, 0x10, false, "VPD 0xB2 LBPRZ 100b (reserved): unmapped blocks are not relied on to read zeros" },
		{ 0xc0, true, 0x18, false, "VPD 0xB2 LBPRZ 110b but READ CAPACITY(16) LBPRZ=1: they disagree, unmapped blocks are not relied on to read zeros" },
		{ 0xc0, false, 0, true, "READ CAPACITY(16) LBPRZ=1 (no VPD 0xB2): unmapped blocks read as zeros" },
		{ 0x80, false, 0, false, "READ CAPACITY(16) LBPRZ=0 (no VPD 0xB2): unmapped blocks may hold anything" },
		{ 0x40, true, 0x04, false, "READ CAPACITY(16): LBPME=0, no logical block provisioning" },
		{ 0x00, false, 0, false, "READ CAPACITY(16): LBPME=0, no logical block provisioning" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t rc[32] = { 0, 0, 0, 0, 0, 0, 0x0f, 0xff, 0, 0, 0x02, 0x00 };
		uint8_t b2[8] = { 0, 0xb2, 0, 4, 0, 0, 0x02, 0 };
		struct bc_lu_capacity cap;
		struct bc_lu_provisioning lbp;
		char why[200];

		rc[14] = rows[i].rc16_14;
		b2[5] = rows[i].b2_5;
		assert_int_equal(bc_lu_parse_capacity16(rc, sizeof(rc), &cap), 0);
		if (rows[i].has_b2)
			assert_int_equal(bc_lu_parse_provisioning(b2, sizeof(b2), &lbp), 0);
		else
			memset(&lbp, 0, sizeof(lbp));
		print_message("row %zu: %s\n", i, rows[i].why);
		assert_int_equal(bc_lu_unmapped_reads_zero(&cap, &lbp, why, sizeof(why)),
				 rows[i].zero);
		assert_string_equal(why, rows[i].why);
	}
}

static void test_designators(void **state)
{
	/* tgt: NAA-3 (8 bytes) and NAA-6 (16 bytes), then a T10 id */
	uint8_t b[] = { 0, 0x83, 0, 48,
		0x01, 0x03, 0, 8, 0x30, 0, 0, 1, 0, 0, 0, 1,
		0x01, 0x03, 0, 16, 0x60, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 0, 0, 0, 1, 0, 1,
		0x02, 0x01, 0, 8, 'I', 'E', 'T', ' ', 'x', 'y', 'z', 'w' };
	struct bc_designator d[8];
	size_t n;

	(void)state;
	assert_int_equal(bc_lu_parse_designators(b, sizeof(b), d, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(d[0].type, 3);
	assert_int_equal(d[0].len, 8);
	assert_int_equal(d[1].len, 16);
	assert_int_equal(d[1].id[0], 0x60);
	assert_int_equal(d[2].type, 1);
	assert_int_equal(d[2].code_set, 2);
	/* at most @max kept */
	assert_int_equal(bc_lu_parse_designators(b, sizeof(b), d, 1, &n), 0);
	assert_int_equal(n, 1);
	/* a descriptor whose length runs past the page */
	b[19] = 40;
	assert_int_equal(bc_lu_parse_designators(b, sizeof(b), d, 8, &n), -EBADMSG);
}

static void put64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v; }

static void test_lba_status(void **state)
{
	uint8_t b[8 + 3 * 16] = { 0 };
	struct bc_lu_lba_status s[8];
	size_t n;

	(void)state;
	put32(b, 4 + 3 * 16);
	/* tgt may start a descriptor before the asked LBA: 0..99 mapped */
	put64(b + 8, 0); put32(b + 16, 100); b[20] = 0;
	put64(b + 24, 100); put32(b + 32, 50); b[36] = 1;
	put64(b + 40, 150); put32(b + 48, 10); b[52] = 2;
	assert_int_equal(bc_lu_parse_lba_status(b, sizeof(b), 40, s, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].lba, 40);
	assert_int_equal(s[0].blocks, 60);
	assert_int_equal(s[1].status, 1);
	assert_int_equal(s[2].status, 2);
	/* a short reply: the parameter length claims more than arrived */
	assert_int_equal(bc_lu_parse_lba_status(b, 8 + 16, 40, s, 8, &n), 0);
	assert_int_equal(n, 1);
	/* a gap between descriptors: what came before it is kept, the
	 * caller asks again from its end (tgt puts a hole of 2^32 blocks or
	 * more into the 32-bit count unsplit, so the count wraps and the
	 * next descriptor starts where the hole really ends) */
	put64(b + 24, 120);
	assert_int_equal(bc_lu_parse_lba_status(b, sizeof(b), 40, s, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].lba, 40);
	assert_int_equal(s[0].blocks, 60);
	/* ...but a first descriptor that starts after the asked LBA says
	 * nothing of it: a malformed map */
	put64(b + 8, 41);
	assert_int_equal(bc_lu_parse_lba_status(b, sizeof(b), 40, s, 8, &n), -EBADMSG);
	put64(b + 8, 0);
	/* an LBA + count that wraps */
	put64(b + 24, 100); put64(b + 40, UINT64_MAX - 2);
	assert_int_equal(bc_lu_parse_lba_status(b, sizeof(b), 40, s, 8, &n), -EBADMSG);
	assert_int_equal(bc_lu_parse_lba_status(b, 7, 0, s, 8, &n), -ENODATA);
}

/* tgt's reply (usr/sbc.c) at LBA 0 of a 16 TiB LU of 512-byte blocks
 * with 4 MiB of data at 0 and at 3 TiB: the hole's 6,442,442,752 blocks
 * wrapped to 2,147,475,456 in the 32-bit count. */
static void test_lba_status_tgt_wrapped(void **state)
{
	uint8_t b[8 + 4 * 16] = { 0 };
	struct bc_lu_lba_status s[8];
	uint64_t tib3 = 3ull << 31;	/* 3 TiB in blocks */
	size_t n;

	(void)state;
	put32(b, 4 + 4 * 16);
	put64(b + 8, 0); put32(b + 16, 8192); b[20] = 0;
	put64(b + 24, 8192); put32(b + 32, (uint32_t)(tib3 - 8192)); b[36] = 1;
	put64(b + 40, tib3); put32(b + 48, 8192); b[52] = 0;
	put64(b + 56, tib3 + 8192); put32(b + 64, (uint32_t)((1ull << 35) - tib3 - 8192)); b[68] = 1;
	assert_int_equal(bc_lu_parse_lba_status(b, sizeof(b), 0, s, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(s[1].lba, 8192);
	assert_int_equal(s[1].blocks, 2147475456u);
	assert_int_equal(s[1].status, 1);
	/* asked again at the end of that (LBA 2^31): the 2^32 blocks to the
	 * data at 3 TiB wrap to 0 -- nothing usable, not malformed */
	memset(b, 0, sizeof(b));
	put32(b, 4 + 3 * 16);
	put64(b + 8, 1ull << 31); put32(b + 16, 0); b[20] = 1;
	put64(b + 24, tib3); put32(b + 32, 8192); b[36] = 0;
	put64(b + 40, tib3 + 8192); put32(b + 48, 1000); b[52] = 1;
	assert_int_equal(bc_lu_parse_lba_status(b, 8 + 3 * 16, 1ull << 31, s, 8, &n), 0);
	assert_int_equal(n, 0);
	/* a zero count elsewhere says nothing of where we asked */
	put64(b + 8, (1ull << 31) + 1);
	assert_int_equal(bc_lu_parse_lba_status(b, 8 + 3 * 16, 1ull << 31, s, 8, &n), -EBADMSG);
}

static void test_sense(void **state)
{
	/* fixed: ILLEGAL REQUEST, invalid command operation code */
	uint8_t fixed[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0x00 };
	/* descriptor: COPY ABORTED 0D/02 with INFORMATION 0x1234 */
	uint8_t desc[20] = { 0x72, 0x0a, 0x0d, 0x02, 0, 0, 0, 12,
			     0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34 };
	uint8_t ua[18] = { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x3f, 0x0e };
	struct bc_status st;
	char buf[128];

	(void)state;
	bc_lu_decode_sense(fixed, sizeof(fixed), BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.sense_key, 5);
	assert_int_equal(st.asc, 0x20);
	assert_int_equal(st.cat, BC_CAT_NOT_SUPPORTED);
	bc_lu_status_text(&st, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Illegal Request"));
	assert_non_null(strstr(buf, "(20/00)"));
	bc_lu_decode_sense(desc, sizeof(desc), BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.cat, BC_CAT_COPY_ABORTED);
	assert_int_equal(st.asc, 0x0d);
	assert_int_equal(st.ascq, 0x02);
	assert_true(st.info_valid);
	assert_int_equal(st.information, 0x1234);
	bc_lu_decode_sense(ua, sizeof(ua), BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.cat, BC_CAT_RETRY);
	bc_lu_decode_sense(NULL, 0, BC_SAM_BUSY, &st);
	assert_int_equal(st.cat, BC_CAT_RETRY);
	/* an additional length past the buffer is clamped, not followed */
	desc[7] = 200;
	bc_lu_decode_sense(desc, sizeof(desc), BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.information, 0x1234);
	bc_lu_decode_sense(fixed, 3, BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.sense_key, 5);
	assert_int_equal(st.asc, 0);
	/* ILLEGAL REQUEST of no narrower kind: still not performed */
	assert_int_equal(st.cat, BC_CAT_REJECTED);
	fixed[12] = 0x2c;	/* COMMAND SEQUENCE ERROR */
	bc_lu_decode_sense(fixed, sizeof(fixed), BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.cat, BC_CAT_REJECTED);
	fixed[12] = 0x21;	/* LBA OUT OF RANGE */
	bc_lu_decode_sense(fixed, sizeof(fixed), BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.cat, BC_CAT_OUT_OF_RANGE);
	fixed[2] = 0x0b;	/* ABORTED COMMAND, same ASC: may have run */
	bc_lu_decode_sense(fixed, sizeof(fixed), BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.cat, BC_CAT_OTHER);
}

/* VPD 0x80: tgt right-aligns with blanks, LIO pads with NULs; the page
 * length field bounds the serial, not the buffer */
static void test_unit_serial(void **state)
{
	static const struct {
		const char *what;
		uint8_t page[16];
		size_t len, olen;
		int rc;
		const char *want;
	} t[] = {
		{ "tgt", { 0, 0x80, 0, 8, ' ', ' ', 'b', 'e', 'a', 'f', '1', '1' }, 12, 64, 0, "beaf11" },
		{ "LIO, NUL padded", { 0, 0x80, 0, 6, 'a', 'b', 'c', 0, 0, 0 }, 10, 64, 0, "abc" },
		{ "trailing blanks", { 0, 0x80, 0, 4, 'x', 'y', ' ', ' ' }, 8, 64, 0, "xy" },
		{ "non-printable", { 0, 0x80, 0, 3, 'a', 0x07, 0xff }, 7, 64, 0, "a??" },
		{ "page length beyond the buffer", { 0, 0x80, 0, 200, 'q', 'r' }, 6, 64, 0, "qr" },
		{ "page length shorter than the buffer", { 0, 0x80, 0, 1, 'q', 'r', 's' }, 7, 64, 0, "q" },
		{ "cut to the output", { 0, 0x80, 0, 6, '1', '2', '3', '4', '5', '6' }, 10, 4, 0, "123" },
		{ "empty serial", { 0, 0x80, 0, 0 }, 4, 64, -ENODATA, "" },
		{ "wrong page", { 0, 0x83, 0, 2, 'a', 'b' }, 6, 64, -EBADMSG, "" },
		{ "too short", { 0, 0x80, 0 }, 3, 64, -EBADMSG, "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[64];

		memset(out, 'Z', sizeof(out));
		if (bc_lu_parse_unit_serial(t[i].page, t[i].len, out, t[i].olen) != t[i].rc ||
		    strcmp(out, t[i].want))
			fail_msg("%s: got '%s'", t[i].what, out);
	}
	assert_int_equal(bc_lu_parse_unit_serial(t[0].page, 12, (char[1]){ 'Z' }, 0), -EINVAL);
}

static void test_vpd_list(void **state)
{
	uint8_t b[] = { 0, 0, 0, 6, 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };

	(void)state;
	assert_true(bc_lu_vpd_lists(b, sizeof(b), 0xb2));
	assert_false(bc_lu_vpd_lists(b, sizeof(b), 0x8f));
	assert_false(bc_lu_vpd_lists(b, 9, 0xb2));	/* cut short */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inquiry),
		cmocka_unit_test(test_capacity16),
		cmocka_unit_test(test_block_limits),
		cmocka_unit_test(test_provisioning),
		cmocka_unit_test(test_unmapped_reads_zero),
		cmocka_unit_test(test_designators),
		cmocka_unit_test(test_lba_status),
		cmocka_unit_test(test_lba_status_tgt_wrapped),
		cmocka_unit_test(test_sense),
		cmocka_unit_test(test_vpd_list),
		cmocka_unit_test(test_unit_serial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
