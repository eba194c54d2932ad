/* Small core pieces: JSON writer, address classification, zero
 * detection, error formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <blkclone/error.h>

#include "volume/address.h"
#include "transport/iscsi/session.h"
#include "util/json.h"
#include "util/zerodetect.h"

static void test_json_escaping_and_nesting(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct bc_json j;

	(void)state;
	bc_json_init(&j, f, false);
	bc_json_open_object(&j, NULL);
	bc_json_string(&j, "s", "a\"b\\c\n\x01");
	bc_json_u64(&j, "n", 18446744073709551615ULL);
	bc_json_open_array(&j, "a");
	bc_json_bool(&j, NULL, true);
	bc_json_null(&j, NULL);
	bc_json_open_object(&j, NULL);
	bc_json_close_object(&j);
	bc_json_close_array(&j);
	bc_json_open_array(&j, "empty");
	bc_json_close_array(&j);
	bc_json_string(&j, "nul", NULL);
	bc_json_close_object(&j);
	fclose(f);
	assert_string_equal(buf,
		"{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"n\":18446744073709551615,"
		"\"a\":[true,null,{}],\"empty\":[],\"nul\":null}");
	free(buf);
}

/*
 * Strings are emitted as UTF-8 JSON whatever bytes they hold (a file name
 * is any bytes but '/' and NUL): valid UTF-8 passes through, control
 * characters and every byte that is not part of a valid sequence become
 * \u00XX of that byte.  Input bytes -> the exact document.
 */
static void test_json_utf8(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} t[] = {
		{ "plain", "\"plain\"" },
		{ "\x1f\x7f", "\"\\u001f\\u007f\"" },		/* controls, DEL */
		{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },		/* U+00E9, 2 bytes */
		{ "\xe2\x82\xac", "\"\xe2\x82\xac\"" },		/* U+20AC, 3 bytes */
		{ "\xf0\x9f\x92\xbe", "\"\xf0\x9f\x92\xbe\"" },	/* U+1F4BE, 4 bytes */
		{ "\xef\xbf\xbf", "\"\xef\xbf\xbf\"" },		/* U+FFFF */
		{ "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"" },	/* U+10FFFF, the last */
		{ "a\xffz", "\"a\\u00ffz\"" },			/* never in UTF-8 */
		{ "\x80", "\"\\u0080\"" },			/* lone continuation */
		{ "\xe9t\xe9", "\"\\u00e9t\\u00e9\"" },		/* Latin-1 "ete" */
		{ "\xc3", "\"\\u00c3\"" },			/* cut at the end */
		{ "\xc3(", "\"\\u00c3(\"" },			/* bad continuation */
		{ "\xe2\x82", "\"\\u00e2\\u0082\"" },		/* 3-byte lead, 1 more */
		{ "\xc0\xaf", "\"\\u00c0\\u00af\"" },		/* overlong '/' */
		{ "\xc1\xbf", "\"\\u00c1\\u00bf\"" },		/* overlong */
		{ "\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\"" },	/* overlong, 3 */
		{ "\xf0\x80\x80\xaf", "\"\\u00f0\\u0080\\u0080\\u00af\"" },	/* overlong, 4 */
		{ "\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"" },	/* surrogate D800 */
		{ "\xed\x9f\xbf", "\"\xed\x9f\xbf\"" },		/* U+D7FF is fine */
		{ "\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\"" },	/* > U+10FFFF */
		{ "\xf5\x80\x80\x80", "\"\\u00f5\\u0080\\u0080\\u0080\"" },
		{ "\xf8\x88\x80\x80\x80", "\"\\u00f8\\u0088\\u0080\\u0080\\u0080\"" },	/* 5 bytes */
		{ "\xc3\xa9\xa9", "\"\xc3\xa9\\u00a9\"" },	/* one too many */
		{ "\"\xfe\\", "\"\\\"\\u00fe\\\\\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct bc_json j;

		assert_non_null(f);
		bc_json_init(&j, f, false);
		bc_json_string(&j, NULL, t[i].in);
		fclose(f);
		if (strcmp(buf, t[i].out))
			fail_msg("row %zu: got %s, wanted %s", i, buf, t[i].out);
		free(buf);
	}
}

static void test_address_classify(void **state)
{
	static const struct {
		const char *addr;
		enum bc_addr_kind kind;
	} t[] = {
		{ "iscsi://127.0.0.1/iqn.2026-11.test:t1/1", BC_ADDR_ISCSI },
		{ "ISCSI://h/iqn.x:y/0", BC_ADDR_ISCSI },
		{ "/dev/sda", BC_ADDR_FILE },	/* refined by resolve */
		{ "image.raw", BC_ADDR_FILE },
		{ "nbd://h/x", BC_ADDR_INVALID },
		{ "://x", BC_ADDR_INVALID },
		{ "", BC_ADDR_INVALID },
	};
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why[0] = '\0';
		assert_int_equal(bc_addr_classify(t[i].addr, why, sizeof(why)), t[i].kind);
		if (t[i].kind == BC_ADDR_INVALID)
			assert_true(why[0] != '\0');
	}
	assert_int_equal(bc_addr_kind_of_blockdev("sda", 0), BC_ADDR_SCSI);
	assert_int_equal(bc_addr_kind_of_blockdev("sdaa", 0), BC_ADDR_SCSI);
	assert_int_equal(bc_addr_kind_of_blockdev("sda1", 1), BC_ADDR_BLOCK);
	assert_int_equal(bc_addr_kind_of_blockdev("nvme0n1", 0), BC_ADDR_NVME);
	assert_int_equal(bc_addr_kind_of_blockdev("nvme0n1p1", 1), BC_ADDR_BLOCK);
	assert_int_equal(bc_addr_kind_of_blockdev("nvme0c0n1", 0), BC_ADDR_BLOCK);
	assert_int_equal(bc_addr_kind_of_blockdev("dm-0", 0), BC_ADDR_BLOCK);
	assert_int_equal(bc_addr_kind_of_blockdev("loop0", 0), BC_ADDR_BLOCK);
}

static void test_address_resolve(void **state)
{
	char why[128];
	int err;

	(void)state;
	assert_int_equal(bc_addr_resolve("/nonexistent/x", 0, &err, why, sizeof(why)),
			 BC_ADDR_INVALID);
	assert_int_equal(err, -ENOENT);
	assert_int_equal(bc_addr_resolve("/nonexistent-file-here", 1, &err, why, sizeof(why)),
			 BC_ADDR_FILE);
	/* a mistyped device name is not created as a file in /dev */
	assert_int_equal(bc_addr_resolve("/dev/blkclone-no-such-disk", 1, &err, why, sizeof(why)),
			 BC_ADDR_INVALID);
	assert_int_equal(err, -ENODEV);
	assert_non_null(strstr(why, "never files under /dev"));
	assert_int_equal(bc_addr_resolve("/dev/../tmp/blkclone-no-such-file", 1, &err, why, sizeof(why)),
			 BC_ADDR_FILE);
	assert_int_equal(bc_addr_resolve("/", 0, &err, why, sizeof(why)), BC_ADDR_INVALID);
	assert_int_equal(bc_addr_resolve("/dev/null", 0, &err, why, sizeof(why)),
			 BC_ADDR_INVALID);
	assert_int_equal(err, -ENODEV);
}

static void test_zero_detect(void **state)
{
	uint8_t b[8192];

	(void)state;
	memset(b, 0, sizeof(b));
	assert_true(bc_is_zero(b, 0));
	assert_true(bc_is_zero(b, 1));
	assert_true(bc_is_zero(b, 15));
	assert_true(bc_is_zero(b, sizeof(b)));
	for (size_t at = 0; at < sizeof(b); at += 997) {
		b[at] = 1;
		assert_false(bc_is_zero(b, sizeof(b)));
		assert_true(bc_is_zero(b, at));
		b[at] = 0;
	}
	b[sizeof(b) - 1] = 0x80;
	assert_false(bc_is_zero(b, sizeof(b)));
}

/* Runs of whole pieces of one kind: the host copy writes the data runs
 * and settles the zero runs as holes. */
static void test_zero_run(void **state)
{
	static uint8_t b[10000];
	bool zero = false;

	(void)state;
	assert_int_equal(bc_zero_run(b, sizeof(b), 4096, &zero), 10000);
	assert_true(zero);
	b[4097] = 1;
	b[9000] = 1;
	assert_int_equal(bc_zero_run(b, sizeof(b), 4096, &zero), 4096);
	assert_true(zero);
	/* two pieces with data, the second a short tail */
	assert_int_equal(bc_zero_run(b + 4096, 5904, 4096, &zero), 5904);
	assert_false(zero);
	b[9000] = 0;
	assert_int_equal(bc_zero_run(b + 4096, 5904, 4096, &zero), 4096);
	assert_false(zero);
	assert_int_equal(bc_zero_run(b + 8192, 1808, 4096, &zero), 1808);
	assert_true(zero);
	/* no granule, or one larger than the buffer: the whole of it */
	assert_int_equal(bc_zero_run(b, 6000, 0, &zero), 6000);
	assert_false(zero);
	assert_int_equal(bc_zero_run(b, 100, 4096, &zero), 100);
	assert_true(zero);
}

static void test_error_format(void **state)
{
	struct bc_error e = { 0 };
	char buf[256];

	(void)state;
	bc_error_set_lba(&e, -EIO, "iscsi://h/iqn.x:t/1", "WRITE(16)", 2048, 512,
			 "MEDIUM ERROR: Write error (0x0c/0x00)");
	e.status.kind = BC_STATUS_SCSI;
	assert_string_equal(bc_error_format(&e, buf, sizeof(buf)),
		"iscsi://h/iqn.x:t/1: WRITE(16) at LBA 2048 (byte 1048576): MEDIUM ERROR: Write error (0x0c/0x00)");
	bc_error_set(&e, -ENOENT, "/x.img", "open", NULL);
	assert_string_equal(bc_error_format(&e, buf, sizeof(buf)),
			    "/x.img: open: No such file or directory");
	/* truncation is safe */
	bc_error_format(&e, buf, 8);
	assert_int_equal(strlen(buf), 7);
}

static void test_iscsi_url(void **state)
{
	static const struct {
		const char *url;
		int rc;
		const char *host, *iqn, *user;
		unsigned port, lun;
	} t[] = {
		{ "iscsi://127.0.0.1/iqn.2026-11.test:t1/1", 0, "127.0.0.1", "iqn.2026-11.test:t1", "", 3260, 1 },
		{ "iscsi://127.0.0.1:3290/iqn.2026-11.test:t1/0", 0, "127.0.0.1", "iqn.2026-11.test:t1", "", 3290, 0 },
		{ "ISCSI://array.example.com/iqn.x:y/16383", 0, "array.example.com", "iqn.x:y", "", 3260, 16383 },
		{ "iscsi://admin@10.0.0.5:860/iqn.a.b:c/7", 0, "10.0.0.5", "iqn.a.b:c", "admin", 860, 7 },
		{ "iscsi://[::1]:3260/iqn.x:y/2", 0, "[::1]", "iqn.x:y", "", 3260, 2 },
		{ "iscsi://[fe80::1]/eui.0123456789abcdef/3", 0, "[fe80::1]", "eui.0123456789abcdef", "", 3260, 3 },
		{ "iscsi://h/naa.60000000000000000e00000000010001/0", 0, "h", "naa.60000000000000000e00000000010001", "", 3260, 0 },
		{ .url = "iscsi://u:secret@h/iqn.x:y/1", .rc = -EINVAL },	/* password */
		{ .url = "iscsi://u%secret@h/iqn.x:y/1", .rc = -EINVAL },	/* libiscsi's form */
		{ .url = "iscsi://h/iqn.x:y/16384", .rc = -EINVAL },		/* LUN range */
		{ .url = "iscsi://h/iqn.x:y/-1", .rc = -EINVAL },
		{ .url = "iscsi://h/iqn.x:y/1x", .rc = -EINVAL },
		{ .url = "iscsi://h/iqn.x:y/", .rc = -EINVAL },
		{ .url = "iscsi://h/iqn.x:y", .rc = -EINVAL },
		{ .url = "iscsi://h//1", .rc = -EINVAL },
		{ .url = "iscsi://h/target/1", .rc = -EINVAL },		/* not iqn./eui./naa. */
		{ .url = "iscsi://h/iqn.x y/1", .rc = -EINVAL },
		{ .url = "iscsi://h:0/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "iscsi://h:65536/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "iscsi://h:32a/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "iscsi://h:/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "iscsi:///iqn.x:y/1", .rc = -EINVAL },		/* no host */
		{ .url = "iscsi://@h/iqn.x:y/1", .rc = -EINVAL },		/* empty user */
		{ .url = "iscsi://[::1/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "iscsi://[::1]x/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "iscsi://h_x/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "http://h/iqn.x:y/1", .rc = -EINVAL },
		{ .url = "iscsi://h", .rc = -EINVAL },
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bc_iscsi_addr a;
		int rc;

		why[0] = '\0';
		rc = bc_iscsi_parse_url(t[i].url, &a, why, sizeof(why));
		if (rc != t[i].rc)
			fail_msg("%s: rc %d, wanted %d (%s)", t[i].url, rc, t[i].rc, why);
		if (rc) {
			assert_true(why[0] != '\0');
			assert_null(strstr(why, "secret"));
			continue;
		}
		assert_string_equal(a.host, t[i].host);
		assert_string_equal(a.iqn, t[i].iqn);
		assert_string_equal(a.user, t[i].user);
		assert_int_equal(a.port, t[i].port);
		assert_int_equal(a.lun, t[i].lun);
	}
}

static void test_addr_display(void **state)
{
	char b[128];

	(void)state;
	assert_string_equal(bc_addr_display("iscsi://u:secret@h/iqn.x:y/1", b, sizeof(b)),
			    "iscsi://u:***@h/iqn.x:y/1");
	assert_string_equal(bc_addr_display("iscsi://u%secret@h/iqn.x:y/1", b, sizeof(b)),
			    "iscsi://u%***@h/iqn.x:y/1");
	assert_string_equal(bc_addr_display("iscsi://u@h:3260/iqn.x:y/1", b, sizeof(b)),
			    "iscsi://u@h:3260/iqn.x:y/1");
	assert_string_equal(bc_addr_display("iscsi://h:3260/iqn.x:y@z/1", b, sizeof(b)),
			    "iscsi://h:3260/iqn.x:y@z/1");
	assert_string_equal(bc_addr_display("/dev/sda", b, sizeof(b)), "/dev/sda");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escaping_and_nesting),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_address_classify),
		cmocka_unit_test(test_address_resolve),
		cmocka_unit_test(test_zero_detect),
		cmocka_unit_test(test_zero_run),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test(test_iscsi_url),
		cmocka_unit_test(test_addr_display),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
