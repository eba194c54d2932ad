/*
 * REPORT SUPPORTED OPERATION CODES: the CDB builder, and both parsers on
 * replies captured from tgt 1.0.85 (fixtures/scsi/tgt/rsoc-*.hex, made with
 * tests/tools/scsi-capture) and on malformed variants of them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "scsi/rsoc.h"

static uint8_t buf[8192];
static struct bc_rsoc_cmd cmds[128];

static void test_build_cdb(void **state)
{
	/* the bytes sent to tgt for the fixtures (their "# cdb:" lines) */
	static const uint8_t all[12] = { 0xa3, 0x0c, 0x00, 0, 0, 0, 0, 0, 0x20, 0, 0, 0 };
	static const uint8_t rctd[12] = { 0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x20, 0, 0, 0 };
	static const uint8_t one[12] = { 0xa3, 0x0c, 0x01, 0x89, 0, 0, 0, 0, 0x02, 0, 0, 0 };
	static const uint8_t sa[12] = { 0xa3, 0x0c, 0x02, 0x83, 0x00, 0x10, 0, 0, 0x02, 0, 0, 0 };
	uint8_t c[16];

	(void)state;
	assert_int_equal(bc_rsoc_build_cdb(c, sizeof(c), &(struct bc_rsoc_args){
				.option = BC_RSOC_ALL, .alloc_len = 8192 }), 12);
	assert_memory_equal(c, all, 12);
	assert_int_equal(bc_rsoc_build_cdb(c, sizeof(c), &(struct bc_rsoc_args){
				.option = BC_RSOC_ALL, .rctd = true, .alloc_len = 8192 }), 12);
	assert_memory_equal(c, rctd, 12);
	assert_int_equal(bc_rsoc_build_cdb(c, sizeof(c), &(struct bc_rsoc_args){
				.option = BC_RSOC_ONE_OPCODE, .opcode = 0x89, .alloc_len = 512 }), 12);
	assert_memory_equal(c, one, 12);
	assert_int_equal(bc_rsoc_build_cdb(c, sizeof(c), &(struct bc_rsoc_args){
				.option = BC_RSOC_ONE_SA, .opcode = 0x83, .sa = 0x10,
				.alloc_len = 512 }), 12);
	assert_memory_equal(c, sa, 12);
	/* refused: unknown option, SA on the opcode-only form, an opcode on
	 * the all-commands form, a short buffer */
	assert_int_equal(bc_rsoc_build_cdb(c, sizeof(c), &(struct bc_rsoc_args){
				.option = 4 }), -EINVAL);
	assert_int_equal(bc_rsoc_build_cdb(c, sizeof(c), &(struct bc_rsoc_args){
				.option = BC_RSOC_ONE_OPCODE, .opcode = 0x83, .sa = 0x10 }), -EINVAL);
	assert_int_equal(bc_rsoc_build_cdb(c, sizeof(c), &(struct bc_rsoc_args){
				.option = BC_RSOC_ALL, .opcode = 0x42 }), -EINVAL);
	assert_int_equal(bc_rsoc_build_cdb(c, 10, &(struct bc_rsoc_args){
				.option = BC_RSOC_ALL }), -EINVAL);
}

static void test_tgt_all(void **state)
{
	size_t len = fixture_load("scsi/tgt/rsoc-all.hex", buf, sizeof(buf)), n;
	bool cut = true;

	(void)state;
	assert_int_equal(len, 404);
	assert_int_equal(bc_rsoc_parse_all(buf, len, cmds, 128, &n, &cut), 0);
	assert_false(cut);
	assert_int_equal(n, 50);
	/* first: TEST UNIT READY, 6-byte CDB, no service action */
	assert_int_equal(cmds[0].opcode, 0x00);
	assert_false(cmds[0].servactv);
	assert_false(cmds[0].ctdp);
	assert_int_equal(cmds[0].cdb_len, 6);
	/* what the probe looks for */
	assert_true(bc_rsoc_lists(cmds, n, 0x42, -1));		/* UNMAP */
	assert_true(bc_rsoc_lists(cmds, n, 0x93, -1));		/* WRITE SAME(16) */
	assert_true(bc_rsoc_lists(cmds, n, 0x9e, 0x12));	/* GET LBA STATUS */
	assert_true(bc_rsoc_lists(cmds, n, 0x9e, 0x10));	/* READ CAPACITY(16) */
	assert_true(bc_rsoc_lists(cmds, n, 0xa3, 0x0c));
	assert_false(bc_rsoc_lists(cmds, n, 0x9e, 0x11));
	assert_false(bc_rsoc_lists(cmds, n, 0x83, -1));		/* no EXTENDED COPY */
	assert_false(bc_rsoc_lists(cmds, n, 0x84, -1));
	/* the all-commands form is right about COMPARE AND WRITE */
	assert_false(bc_rsoc_lists(cmds, n, 0x89, -1));
	/* last: 0xAF, 12-byte CDB */
	assert_int_equal(cmds[49].opcode, 0xaf);
	assert_int_equal(cmds[49].cdb_len, 12);
	/* fewer slots than descriptors: the first ones, no error */
	assert_int_equal(bc_rsoc_parse_all(buf, len, cmds, 3, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_int_equal(cmds[2].opcode, 0x04);
}

static void test_tgt_all_rctd(void **state)
{
	size_t len = fixture_load("scsi/tgt/rsoc-all-rctd.hex", buf, sizeof(buf)), n;
	bool cut = true;

	(void)state;
	assert_int_equal(len, 1004);
	assert_int_equal(bc_rsoc_parse_all(buf, len, cmds, 128, &n, &cut), 0);
	assert_false(cut);
	assert_int_equal(n, 50);
	for (size_t i = 0; i < n; i++) {
		assert_true(cmds[i].ctdp);
		assert_int_equal(cmds[i].timeouts.nominal_s, 0);	/* tgt: none */
		assert_int_equal(cmds[i].timeouts.recommended_s, 0);
	}
	assert_true(bc_rsoc_lists(cmds, n, 0x9e, 0x12));
	assert_int_equal(cmds[n - 1].opcode, 0xaf);
}

/* Malformed variants of the captured all-commands reply. */
static void test_all_malformed(void **state)
{
	uint8_t m[1100];
	size_t len = fixture_load("scsi/tgt/rsoc-all-rctd.hex", buf, sizeof(buf)), n;
	bool cut;

	(void)state;
	/* no header */
	assert_int_equal(bc_rsoc_parse_all(buf, 3, cmds, 128, &n, &cut), -ENODATA);
	assert_int_equal(n, 0);
	/* cut by the allocation length inside the 11th descriptor: the ten
	 * whole ones, flagged */
	assert_int_equal(bc_rsoc_parse_all(buf, 4 + 10 * 20 + 13, cmds, 128, &n, &cut), 0);
	assert_true(cut);
	assert_int_equal(n, 10);
	/* cut exactly between descriptors: flagged too */
	assert_int_equal(bc_rsoc_parse_all(buf, 4 + 10 * 20, cmds, 128, &n, &cut), 0);
	assert_true(cut);
	assert_int_equal(n, 10);
	/* a lying length: 998 declared, so the last descriptor overruns it */
	memcpy(m, buf, len);
	m[2] = 0x03;
	m[3] = 0xe6;
	assert_int_equal(bc_rsoc_parse_all(m, len, cmds, 128, &n, &cut), -EBADMSG);
	/* a length that ends after a descriptor's first 8 bytes while CTDP
	 * announces 12 more */
	m[2] = 0x00;
	m[3] = 20 + 8;
	assert_int_equal(bc_rsoc_parse_all(m, len, cmds, 128, &n, &cut), -EBADMSG);
	/* a timeouts descriptor of the wrong length */
	memcpy(m, buf, len);
	m[4 + 20 + 8 + 1] = 0x0b;
	assert_int_equal(bc_rsoc_parse_all(m, len, cmds, 128, &n, &cut), -EBADMSG);
	/* an empty list */
	memset(m, 0, 4);
	assert_int_equal(bc_rsoc_parse_all(m, 4, cmds, 128, &n, &cut), 0);
	assert_int_equal(n, 0);
	assert_false(cut);
	/* a huge declared length over a short buffer: only what is there */
	memcpy(m, buf, 4 + 40);
	m[0] = 0xff;
	assert_int_equal(bc_rsoc_parse_all(m, 4 + 40, cmds, 128, &n, &cut), 0);
	assert_true(cut);
	assert_int_equal(n, 2);
}

static void test_tgt_one(void **state)
{
	struct bc_rsoc_one o;
	size_t len;

	(void)state;
	/* tgt's one-command form claims COMPARE AND WRITE (it has none: see
	 * TARGETS.md); the parser reports what was said */
	len = fixture_load("scsi/tgt/rsoc-one-89.hex", buf, sizeof(buf));
	assert_int_equal(len, 20);
	assert_int_equal(bc_rsoc_parse_one(buf, len, &o), 0);
	assert_int_equal(o.support, BC_RSOC_SUP_YES);
	assert_false(o.ctdp);
	assert_int_equal(o.cdb_len, 16);
	assert_int_equal(o.usage[0], 0x89);
	assert_int_equal(o.usage[1], 0xfa);
	/* UNMAP: 10 bytes, ANCHOR is the only byte-1 bit tgt looks at */
	len = fixture_load("scsi/tgt/rsoc-one-42.hex", buf, sizeof(buf));
	assert_int_equal(bc_rsoc_parse_one(buf, len, &o), 0);
	assert_int_equal(o.support, BC_RSOC_SUP_YES);
	assert_int_equal(o.cdb_len, 10);
	assert_int_equal(o.usage[0], 0x42);
	assert_int_equal(o.usage[1], 0x01);
	assert_int_equal(o.usage[9], 0x07);
	/* WRITE SAME(16): the UNMAP bit (byte 1 bit 3) is in the usage data */
	len = fixture_load("scsi/tgt/rsoc-one-93.hex", buf, sizeof(buf));
	assert_int_equal(bc_rsoc_parse_one(buf, len, &o), 0);
	assert_int_equal(o.cdb_len, 16);
	assert_int_equal(o.usage[1] & 0x08, 0x08);
}

static void test_one_malformed(void **state)
{
	/* hand-made: header, usage, timeouts */
	static const uint8_t ok_ctdp[] = {
		0x00, 0x83, 0x00, 0x0a, 0x42, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07,
		0x00, 0x0a, 0x00, 0x05, 0, 0, 0, 30, 0, 0, 0, 60 };
	static const uint8_t not_sup[] = { 0x00, 0x01, 0x00, 0x00 };
	uint8_t m[64];
	struct bc_rsoc_one o;
	size_t len = fixture_load("scsi/tgt/rsoc-one-89.hex", buf, sizeof(buf));

	(void)state;
	assert_int_equal(bc_rsoc_parse_one(buf, 3, &o), -ENODATA);
	/* CDB SIZE 16 but the usage data is cut */
	assert_int_equal(bc_rsoc_parse_one(buf, len - 1, &o), -ENODATA);
	/* a CDB larger than any SPC allows */
	memcpy(m, buf, len);
	m[2] = 0x01;
	m[3] = 0x2c;
	assert_int_equal(bc_rsoc_parse_one(m, len, &o), -EBADMSG);
	/* supported with a CDB of 0 bytes */
	m[2] = m[3] = 0;
	assert_int_equal(bc_rsoc_parse_one(m, len, &o), -EBADMSG);
	/* not supported: no usage data needed */
	assert_int_equal(bc_rsoc_parse_one(not_sup, sizeof(not_sup), &o), 0);
	assert_int_equal(o.support, BC_RSOC_SUP_NO);
	/* with timeouts */
	assert_int_equal(bc_rsoc_parse_one(ok_ctdp, sizeof(ok_ctdp), &o), 0);
	assert_true(o.ctdp);
	assert_int_equal(o.timeouts.cmd_specific, 5);
	assert_int_equal(o.timeouts.nominal_s, 30);
	assert_int_equal(o.timeouts.recommended_s, 60);
	/* CTDP with the timeouts descriptor missing, or of the wrong length */
	assert_int_equal(bc_rsoc_parse_one(ok_ctdp, sizeof(ok_ctdp) - 1, &o), -ENODATA);
	memcpy(m, ok_ctdp, sizeof(ok_ctdp));
	m[15] = 0x09;
	assert_int_equal(bc_rsoc_parse_one(m, sizeof(ok_ctdp), &o), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_cdb),
		cmocka_unit_test(test_tgt_all),
		cmocka_unit_test(test_tgt_all_rctd),
		cmocka_unit_test(test_all_malformed),
		cmocka_unit_test(test_tgt_one),
		cmocka_unit_test(test_one_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
