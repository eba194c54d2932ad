/* The SCSI parsers on responses captured from tgt 1.0.85 (fixtures/scsi/tgt,
 * made with tests/tools/scsi-capture), with the values tgt really sent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "scsi/lu.h"

static uint8_t buf[4096];

static void test_tgt_inquiry(void **state)
{
	struct bc_lu_inquiry o;
	size_t n = fixture_load("scsi/tgt/inquiry.hex", buf, sizeof(buf));

	(void)state;
	assert_int_equal(bc_lu_parse_inquiry(buf, n, &o), 0);
	assert_string_equal(o.vendor, "IET");
	assert_string_equal(o.product, "VIRTUAL-DISK");
	assert_false(o.tpc);
	assert_int_equal(o.pdt, 0);
}

static void test_tgt_vpd(void **state)
{
	struct bc_lu_block_limits bl;
	struct bc_lu_provisioning lbp;
	struct bc_designator d[8];
	size_t n, nd;

	(void)state;
	n = fixture_load("scsi/tgt/vpd-00.hex", buf, sizeof(buf));
	assert_true(bc_lu_vpd_lists(buf, n, 0x83));
	assert_true(bc_lu_vpd_lists(buf, n, 0xb2));
	assert_false(bc_lu_vpd_lists(buf, n, 0x8f));	/* no third-party copy page */
	n = fixture_load("scsi/tgt/vpd-83.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_designators(buf, n, d, 8, &nd), 0);
	assert_true(nd >= 2);
	assert_int_equal(d[0].type, 3);		/* NAA-3 (tid << 32 | lun) */
	assert_int_equal(d[0].len, 8);
	n = fixture_load("scsi/tgt/vpd-b0.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_block_limits(buf, n, &bl), 0);
	n = fixture_load("scsi/tgt/vpd-b2-thin.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_provisioning(buf, n, &lbp), 0);
	assert_true(lbp.lbpu);
	assert_true(lbp.lbpws);
}

static void test_tgt_capacity(void **state)
{
	struct bc_lu_capacity c;
	size_t n;

	(void)state;
	n = fixture_load("scsi/tgt/rc16-thin-512.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_capacity16(buf, n, &c), 0);
	assert_int_equal(c.blocks, 131072);
	assert_int_equal(c.block_size, 512);
	assert_true(c.lbpme);
	assert_true(c.lbprz);
	n = fixture_load("scsi/tgt/rc16-thick-512.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_capacity16(buf, n, &c), 0);
	assert_false(c.lbpme);
	assert_false(c.lbprz);
	n = fixture_load("scsi/tgt/rc16-thin-4096.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_capacity16(buf, n, &c), 0);
	assert_int_equal(c.blocks, 16384);
	assert_int_equal(c.block_size, 4096);
}

static void test_tgt_lba_status(void **state)
{
	struct bc_lu_lba_status s[16];
	size_t n, k;

	(void)state;
	/* data at 640 KiB (128 KiB) and at 40 MiB (1 MiB) of a 64 MiB LUN */
	n = fixture_load("scsi/tgt/gls-lba0.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_lba_status(buf, n, 0, s, 16, &k), 0);
	assert_int_equal(k, 5);
	assert_int_equal(s[0].lba, 0);
	assert_int_equal(s[0].blocks, 1280);
	assert_int_equal(s[0].status, 1);
	assert_int_equal(s[1].lba, 1280);
	assert_int_equal(s[1].blocks, 256);
	assert_int_equal(s[1].status, 0);
	assert_int_equal(s[3].lba, 81920);
	assert_int_equal(s[3].blocks, 2048);
	/* asked from inside the first data extent: tgt starts the reply at
	 * the asked LBA here; the parser would clip one that began earlier */
	n = fixture_load("scsi/tgt/gls-lba1280.hex", buf, sizeof(buf));
	assert_int_equal(bc_lu_parse_lba_status(buf, n, 1280, s, 16, &k), 0);
	assert_int_equal(s[0].lba, 1280);
	assert_int_equal(bc_lu_parse_lba_status(buf, n, 1300, s, 16, &k), 0);
	assert_int_equal(s[0].lba, 1300);
	assert_int_equal(s[0].blocks, 236);
}

static void test_tgt_sense(void **state)
{
	struct bc_status st;
	size_t n;

	(void)state;
	/* EXTENDED COPY on tgt: ILLEGAL REQUEST, invalid opcode -> "absent" */
	n = fixture_load("scsi/tgt/xcopy-sense.hex", buf, sizeof(buf));
	bc_lu_decode_sense(buf, n, BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.sense_key, 5);
	assert_int_equal(st.asc, 0x20);
	assert_int_equal(st.cat, BC_CAT_NOT_SUPPORTED);
	n = fixture_load("scsi/tgt/rcop-sense.hex", buf, sizeof(buf));
	bc_lu_decode_sense(buf, n, BC_SAM_CHECK_CONDITION, &st);
	assert_int_equal(st.cat, BC_CAT_NOT_SUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tgt_inquiry),
		cmocka_unit_test(test_tgt_vpd),
		cmocka_unit_test(test_tgt_capacity),
		cmocka_unit_test(test_tgt_lba_status),
		cmocka_unit_test(test_tgt_sense),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
