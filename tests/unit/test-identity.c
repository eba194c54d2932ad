/*
 * Units beneath volumes (src/volume/identity.c): which designators name an LU,
 * the keys they become, and when two volumes share bytes of one unit.
 * Tables with literal expectations; no devices.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "volume/identity.h"

#define MiB (1024ULL * 1024)

struct dkey_row {
	uint8_t type, association, len;
	uint8_t id[BC_DESIGNATOR_MAX];
	int want_rc;		/* length, or -errno */
	const char *want;	/* the key */
};

static const struct dkey_row dkeys[] = {
	/* tgt's NAA 6 (IEEE registered extended) of tid 1, LUN 1 */
	{ 3, 0, 16, { 0x60, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 0, 0, 0, 1, 0, 1 }, 36,
	  "naa:60000000000000000e00000000010001" },
	/* LIO's NAA 6 */
	{ 3, 0, 16, { 0x60, 0x01, 0x40, 0x5b, 0x1c, 0x00, 0x00, 0x01, 0x0a, 0, 0, 0x01 }, 36,
	  "naa:6001405b1c0000010a00000100000000" },
	{ 3, 0, 8, { 0x50, 0x00, 0xc5, 0x00, 0x12, 0x34, 0x56, 0x78 }, 20, "naa:5000c50012345678" },
	{ 3, 0, 8, { 0x20, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 }, 20, "naa:2000001122334455" },
	/* NAA 3 is locally assigned: unique within the target only */
	{ 3, 0, 8, { 0x30, 0, 0, 1, 0, 0, 0, 1 }, -ENOENT, NULL },
	{ 2, 0, 8, { 0x00, 0x25, 0x38, 0xb1, 0x71, 0xd0, 0x00, 0x01 }, 22, "eui64:002538b171d00001" },
	/* an NGUID: the 16-byte EUI-64 form */
	{ 2, 0, 16, { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef },
	  38, "eui64:0123456789abcdef0123456789abcdef" },
	{ 8, 0, 8, { 'n', 'a', 'a', '.', '6', '0', '0', '1' }, 21, "name:6e61612e36303031" },
	/* SPC's UUID designator: flags, reserved, the UUID */
	{ 0xa, 0, 18, { 0x10, 0, 0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0, 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6 },
	  37, "uuid:f81d4fae7dec11d0a76500a0c91e6bf6" },
	/* an NVMe UUID, the 16 bytes alone: the same key */
	{ 0xa, 0, 16, { 0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0, 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6 },
	  37, "uuid:f81d4fae7dec11d0a76500a0c91e6bf6" },
	/* a target port's NAA and a target's name: not the LU */
	{ 3, 1, 8, { 0x50, 0x00, 0xc5, 0x00, 0x12, 0x34, 0x56, 0x78 }, -ENOENT, NULL },
	{ 8, 2, 8, { 'i', 'q', 'n', '.', '2', '0', '2', '6' }, -ENOENT, NULL },
	/* T10 vendor ID and vendor specific: not unique */
	{ 1, 0, 8, { 'L', 'I', 'O', '-', 'O', 'R', 'G', ' ' }, -ENOENT, NULL },
	{ 0, 0, 4, { 1, 2, 3, 4 }, -ENOENT, NULL },
	{ 3, 0, 0, { 0 }, -ENOENT, NULL },
};

static void test_designator_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dkeys) / sizeof(dkeys[0]); i++) {
		const struct dkey_row *r = &dkeys[i];
		struct bc_designator d = { .type = r->type, .association = r->association,
					   .len = r->len };
		char buf[BC_UNIT_KEY_MAX];
		int rc;

		memcpy(d.id, r->id, sizeof(d.id));
		rc = bc_identity_designator_key(buf, sizeof(buf), &d);
		print_message("row %zu\n", i);
		assert_int_equal(rc, r->want_rc);
		if (r->want)
			assert_string_equal(buf, r->want);
	}
}

static void test_designator_key_too_long(void **state)
{
	struct bc_designator d = { .type = 3, .len = 16, .id = { 0x60 } };
	char buf[20];

	(void)state;
	assert_int_equal(bc_identity_designator_key(buf, sizeof(buf), &d), -ENAMETOOLONG);
}

static void test_add_key(void **state)
{
	struct bc_identity id = { 0 };

	(void)state;
	assert_int_equal(bc_identity_add_key(&id, "dev:%u:%u", 8u, 16u), 0);
	assert_int_equal(bc_identity_add_key(&id, "dev:8:16"), 0);	/* once */
	assert_int_equal((int)id.n_unit_keys, 1);
	for (unsigned i = 1; i < BC_MAX_UNIT_KEYS; i++)
		assert_int_equal(bc_identity_add_key(&id, "dev:9:%u", i), 0);
	assert_int_equal(bc_identity_add_key(&id, "dev:10:1"), -ENOSPC);
	assert_int_equal(bc_identity_add_key(&id, "dev:9:1"), 0);	/* known */
	assert_int_equal((int)id.n_unit_keys, BC_MAX_UNIT_KEYS);
	assert_string_equal(id.unit_keys[0], "dev:8:16");
	{
		char big[BC_UNIT_KEY_MAX + 8];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(bc_identity_add_key(&id, "%s", big), -ENAMETOOLONG);
	}
}

static void test_add_designators(void **state)
{
	struct bc_identity id = {
		.n_designators = 3,
		.designators = {
			{ .type = 3, .len = 8, .id = { 0x30, 0, 0, 1, 0, 0, 0, 1 } },
			{ .type = 3, .len = 8, .id = { 0x60, 0, 0, 0, 0, 0, 0, 7 } },
			{ .type = 1, .len = 8, .id = { 'I', 'E', 'T', ' ', ' ', ' ', ' ', ' ' } },
		},
	};

	(void)state;
	assert_int_equal((int)bc_identity_add_designators(&id), 1);
	assert_int_equal((int)id.n_unit_keys, 1);
	assert_string_equal(id.unit_keys[0], "naa:6000000000000007");
	assert_true(bc_identity_key_is_designator("naa:6000000000000007"));
	assert_true(bc_identity_key_is_designator("uuid:00"));
	assert_false(bc_identity_key_is_designator("iscsi-lun:iqn.x:t/1"));
	assert_false(bc_identity_key_is_designator("dev:8:16"));
}

/* up to four keys a side, then offset and size */
struct ov_row {
	const char *what;
	const char *a[4];
	uint64_t aoff, asize;
	const char *b[4];
	uint64_t boff, bsize;
	enum bc_overlap want;
	const char *want_key;
};

#define NAA1 "naa:60000000000000000e00000000010001"
#define NAA2 "naa:60000000000000000e00000000010002"

static const struct ov_row ovs[] = {
	{ "one LU through two portals: designator and target name agree",
	  { NAA1, "iscsi-lun:iqn.x:t/1" }, 0, 8 * MiB,
	  { NAA1, "iscsi-lun:iqn.x:t/1" }, 0, 8 * MiB, BC_OVERLAP_SAME, NAA1 },
	{ "two LUNs of one target",
	  { NAA1, "iscsi-lun:iqn.x:t/1" }, 0, 8 * MiB,
	  { NAA2, "iscsi-lun:iqn.x:t/2" }, 0, 8 * MiB, BC_OVERLAP_NONE, NULL },
	{ "one LU under two target names: the designator alone",
	  { NAA1, "iscsi-lun:iqn.x:t/1" }, 0, 8 * MiB,
	  { NAA1, "iscsi-lun:iqn.x:alias/1" }, 0, 8 * MiB, BC_OVERLAP_SAME, NAA1 },
	{ "no designator: the target name and LUN, any portal",
	  { "iscsi-lun:iqn.x:t/1" }, 0, 8 * MiB,
	  { "iscsi-lun:iqn.x:t/1" }, 0, 8 * MiB, BC_OVERLAP_SAME, "iscsi-lun:iqn.x:t/1" },
	{ "/dev/sgN and /dev/sdX of one LU without designators",
	  { "scsi:2:0:0:3" }, 0, 64 * MiB,
	  { "scsi:2:0:0:3" }, 0, 64 * MiB, BC_OVERLAP_SAME, "scsi:2:0:0:3" },
	{ "two paths of one LU: the designator",
	  { NAA1, "scsi:2:0:0:3" }, 0, 64 * MiB,
	  { NAA1, "scsi:3:0:0:3" }, 0, 64 * MiB, BC_OVERLAP_SAME, NAA1 },
	{ "a partition and the whole LU",
	  { NAA1, "scsi:2:0:0:3" }, 1 * MiB, 16 * MiB,
	  { NAA1, "scsi:3:0:0:3" }, 0, 64 * MiB, BC_OVERLAP_PARTIAL, NAA1 },
	{ "overlapping partitions",
	  { NAA1 }, 1 * MiB, 16 * MiB,
	  { NAA1 }, 10 * MiB, 16 * MiB, BC_OVERLAP_PARTIAL, NAA1 },
	{ "adjacent partitions",
	  { NAA1 }, 1 * MiB, 16 * MiB,
	  { NAA1 }, 17 * MiB, 16 * MiB, BC_OVERLAP_NONE, NAA1 },
	{ "a loop partition and its file",
	  { "file:254:0:12", "dev:7:0" }, 1 * MiB, 2 * MiB,
	  { "file:254:0:12" }, 0, 8 * MiB, BC_OVERLAP_PARTIAL, "file:254:0:12" },
	{ "kinds never meet",
	  { "dev:8:16" }, 0, 8 * MiB,
	  { "scsi:8:16" }, 0, 8 * MiB, BC_OVERLAP_NONE, NULL },
	{ "an empty volume shares no byte",
	  { "dev:8:16" }, 4 * MiB, 0,
	  { "dev:8:16" }, 0, 8 * MiB, BC_OVERLAP_NONE, "dev:8:16" },
	{ "ends past 2^64 are the end of the unit",
	  { "dev:8:16" }, UINT64_MAX - 4096, 8192,
	  { "dev:8:16" }, UINT64_MAX - 1, 8192, BC_OVERLAP_PARTIAL, "dev:8:16" },
	{ "no keys at all",
	  { NULL }, 0, 8 * MiB,
	  { NULL }, 0, 8 * MiB, BC_OVERLAP_NONE, NULL },
};

static void fill(struct bc_identity *id, const char *const *keys, uint64_t off)
{
	memset(id, 0, sizeof(*id));
	for (size_t i = 0; i < 4 && keys[i]; i++)
		assert_int_equal(bc_identity_add_key(id, "%s", keys[i]), 0);
	id->lu_offset = off;
}

static void test_overlap(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ovs) / sizeof(ovs[0]); i++) {
		const struct ov_row *r = &ovs[i];
		struct bc_identity a, b;
		const char *key = (const char *)1;

		fill(&a, r->a, r->aoff);
		fill(&b, r->b, r->boff);
		print_message("%s\n", r->what);
		assert_int_equal(bc_identity_overlap(&a, r->asize, &b, r->bsize, &key),
				 r->want);
		if (r->want_key)
			assert_string_equal(key, r->want_key);
		else
			assert_null(key);
		/* symmetric */
		assert_int_equal(bc_identity_overlap(&b, r->bsize, &a, r->asize, &key),
				 r->want);
	}
}

/* LVs of several segments on one multipathed LU: each a list of windows
 * (struct bc_identity.lu_windows), so a gap between one LV's segments
 * holds another LV, and only shared bytes make an overlap. */
static void set_windows(struct bc_identity *id, const struct bc_lu_window *w,
			size_t n)
{
	memset(id, 0, sizeof(*id));
	assert_int_equal(bc_identity_add_key(id, "%s", NAA1), 0);
	id->lu_offset = w[0].offset;
	for (size_t i = 0; i < n; i++)
		id->lu_windows[i] = w[i];
	id->n_lu_windows = n;
}

static void test_overlap_windows(void **state)
{
	/* 4 MiB at 100 MiB, then 4 MiB at 20 MiB */
	static const struct bc_lu_window two[] = { { 100 * MiB, 4 * MiB },
						   { 20 * MiB, 4 * MiB } };
	static const struct bc_lu_window gap[] = { { 24 * MiB, 76 * MiB } };
	static const struct bc_lu_window in2nd[] = { { 23 * MiB, 2 * MiB } };
	static const struct bc_lu_window swapped[] = { { 20 * MiB, 4 * MiB },
						       { 100 * MiB, 4 * MiB } };
	struct bc_identity a, b;
	const char *key;

	(void)state;
	set_windows(&a, two, 2);
	set_windows(&b, gap, 1);
	/* one window given as lu_offset and size is the same as a list of one */
	b.n_lu_windows = 0;
	assert_int_equal(bc_identity_overlap(&a, 8 * MiB, &b, 76 * MiB, &key),
			 BC_OVERLAP_NONE);
	assert_string_equal(key, NAA1);
	set_windows(&b, in2nd, 1);
	assert_int_equal(bc_identity_overlap(&a, 8 * MiB, &b, 2 * MiB, &key),
			 BC_OVERLAP_PARTIAL);
	assert_int_equal(bc_identity_overlap(&b, 2 * MiB, &a, 8 * MiB, &key),
			 BC_OVERLAP_PARTIAL);
	/* the whole LU (the multipath map itself) holds every LV */
	memset(&b, 0, sizeof(b));
	assert_int_equal(bc_identity_add_key(&b, "%s", NAA1), 0);
	assert_int_equal(bc_identity_overlap(&a, 8 * MiB, &b, 1024 * MiB, &key),
			 BC_OVERLAP_PARTIAL);
	/* the same LV reached twice */
	set_windows(&b, two, 2);
	assert_int_equal(bc_identity_overlap(&a, 8 * MiB, &b, 8 * MiB, &key),
			 BC_OVERLAP_SAME);
	/* the same bytes in another order are another volume */
	set_windows(&b, swapped, 2);
	assert_int_equal(bc_identity_overlap(&a, 8 * MiB, &b, 8 * MiB, &key),
			 BC_OVERLAP_PARTIAL);
}

static void test_describe_and_pair_text(void **state)
{
	struct bc_identity s, d;
	char buf[600];

	(void)state;
	fill(&s, (const char *const[]){ NAA1, "iscsi-lun:iqn.x:t/1", NULL }, 0);
	strcpy(s.unit, "LU");
	bc_identity_describe(&s, "never shown");
	assert_string_equal(s.identity,
			    "LU known as " NAA1 ", iscsi-lun:iqn.x:t/1");
	fill(&d, (const char *const[]){ "iscsi-lun:iqn.x:t/2", NULL }, 0);
	strcpy(d.unit, "LU");
	d.unit_weak = true;
	bc_identity_describe(&d, "no unique designator");
	assert_string_equal(d.identity,
			    "LU known only as iscsi-lun:iqn.x:t/2: no unique designator");
	bc_identity_pair_text(buf, sizeof(buf), &s, 8 * MiB, &d, 8 * MiB);
	assert_string_equal(buf, "LU and LU with no name in common; destination: "
			    "LU known only as iscsi-lun:iqn.x:t/2: no unique designator");
	fill(&d, (const char *const[]){ NAA1, NULL }, 8 * MiB);
	strcpy(d.unit, "LU");
	bc_identity_pair_text(buf, sizeof(buf), &s, 8 * MiB, &d, 8 * MiB);
	assert_string_equal(buf, "one LU (" NAA1 " on both): bytes 0+8388608 and "
			    "8388608+8388608 do not overlap");
	d.lu_offset = 0;
	bc_identity_pair_text(buf, sizeof(buf), &s, 8 * MiB, &d, 8 * MiB);
	assert_string_equal(buf, "one LU (" NAA1 " on both), the same bytes of it");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_designator_keys),
		cmocka_unit_test(test_designator_key_too_long),
		cmocka_unit_test(test_add_key),
		cmocka_unit_test(test_add_designators),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_overlap_windows),
		cmocka_unit_test(test_describe_and_pair_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
