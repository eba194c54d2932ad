/* NVMe Identify decoders: pages encoded through libnvme's own wire
 * structs (an independent statement of the layout), then decoded by ours;
 * and malformed pages that must be refused. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <cmocka.h>
#include <libnvme.h>

#include "fixture.h"
#include "core/holes.h"
#include "memvol.h"
#include "nvme/copy.h"
#include "backend/nvme/caps.h"
#include "backend/nvme/cut.h"
#include "nvme/identify.h"

_Static_assert(sizeof(struct nvme_id_ctrl) == BC_NVME_IDENTIFY_LEN, "id ctrl size");
_Static_assert(sizeof(struct nvme_id_ns) == BC_NVME_IDENTIFY_LEN, "id ns size");

/* What QEMU 7.2 reports for -device nvme-ns,mssrl=128,mcl=128,msrc=127 */
static void qemu_like_ns(struct nvme_id_ns *ns, uint8_t lbads)
{
	memset(ns, 0, sizeof(*ns));
	ns->nsze = htole64(2097152);
	ns->ncap = htole64(2097152);
	ns->nuse = htole64(2097152);
	ns->nsfeat = 0x1 | 0x10;
	ns->nlbaf = 7;
	ns->flbas = 4;
	ns->dlfeat = 0x09;
	ns->mssrl = htole16(128);
	ns->mcl = htole32(128);
	ns->msrc = 127;
	ns->npwg = htole16(7);
	ns->nows = htole16(7);
	ns->lbaf[0].ds = 9;
	ns->lbaf[4].ds = lbads;
	ns->lbaf[4].ms = htole16(0);
	ns->eui64[0] = 0x52;
	ns->eui64[7] = 0x01;
}

static void test_id_ns(void **state)
{
	struct nvme_id_ns ns;
	struct bc_nvme_ns_info o;

	(void)state;
	qemu_like_ns(&ns, 12);
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, sizeof(ns), &o), 0);
	assert_int_equal(o.nsze, 2097152);
	assert_int_equal(o.lba_size, 4096);
	assert_int_equal(o.lbaf_index, 4);
	assert_true(o.dealloc_reads_zero);
	assert_true(o.write_zeroes_deac);
	assert_true(o.thin);
	assert_true(o.has_perf_hints);
	assert_int_equal(o.npwg, 7);
	assert_int_equal(o.mssrl, 128);
	assert_int_equal(o.mcl, 128);
	assert_int_equal(o.msrc, 128);	/* 0's based on the wire */
	assert_true(o.has_eui64);
	assert_false(o.has_nguid);
	assert_int_equal(o.eui64[0], 0x52);
	/* read behaviour 0xFF is not zeros */
	ns.dlfeat = 0x02;
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, sizeof(ns), &o), 0);
	assert_false(o.dealloc_reads_zero);
	assert_false(o.write_zeroes_deac);
}

static void test_id_ns_malformed(void **state)
{
	struct nvme_id_ns ns;
	struct bc_nvme_ns_info o;

	(void)state;
	qemu_like_ns(&ns, 12);
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, 4095, &o), -ENODATA);
	assert_int_equal(bc_nvme_decode_id_ns(NULL, 4096, &o), -ENODATA);
	ns.flbas = 9;	/* index beyond NLBAF */
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, sizeof(ns), &o), -EBADMSG);
	qemu_like_ns(&ns, 0);	/* LBA data size 2^0 */
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, sizeof(ns), &o), -EBADMSG);
	qemu_like_ns(&ns, 40);	/* 2^40-byte blocks */
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, sizeof(ns), &o), -EBADMSG);
	qemu_like_ns(&ns, 9);
	ns.ncap = htole64(3000000);	/* capacity above size */
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, sizeof(ns), &o), -EBADMSG);
	qemu_like_ns(&ns, 9);
	ns.nlbaf = 64;
	assert_int_equal(bc_nvme_decode_id_ns((const uint8_t *)&ns, sizeof(ns), &o), -EBADMSG);
}

static void test_id_ctrl(void **state)
{
	struct nvme_id_ctrl c;
	struct bc_nvme_ctrl_info o;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.vid = htole16(0x1b36);
	memcpy(c.sn, "vmlab0001           ", 20);
	memcpy(c.mn, "QEMU NVMe Ctrl                          ", 40);
	memcpy(c.fr, "7.2.0   ", 8);
	c.mdts = 7;
	c.ver = htole32(0x00010400);
	c.oncs = htole16(0x015d);
	c.vwc = 0x07;
	c.ocfs = htole16(0x0001);
	strcpy(c.subnqn, "nqn.2019-08.org.qemu:vmlab0001");
	assert_int_equal(bc_nvme_decode_id_ctrl((const uint8_t *)&c, sizeof(c), &o), 0);
	assert_int_equal(o.vid, 0x1b36);
	assert_string_equal(o.serial, "vmlab0001");
	assert_string_equal(o.model, "QEMU NVMe Ctrl");
	assert_string_equal(o.firmware, "7.2.0");
	assert_int_equal(o.mdts, 7);
	assert_int_equal(o.version, 0x00010400);
	assert_true(o.oncs & BC_NVME_ONCS_COPY);
	assert_true(o.oncs & BC_NVME_ONCS_WRITE_ZEROES);
	assert_true(o.oncs & BC_NVME_ONCS_DSM);
	assert_int_equal(o.ocfs, 1);
	assert_true(o.volatile_cache);
	assert_string_equal(o.subnqn, "nqn.2019-08.org.qemu:vmlab0001");
	/* control characters never reach a terminal */
	c.sn[0] = '\033';
	assert_int_equal(bc_nvme_decode_id_ctrl((const uint8_t *)&c, sizeof(c), &o), 0);
	assert_int_equal(o.serial[0], '?');
	c.mdts = 31;
	assert_int_equal(bc_nvme_decode_id_ctrl((const uint8_t *)&c, sizeof(c), &o), -EBADMSG);
	assert_int_equal(bc_nvme_decode_id_ctrl((const uint8_t *)&c, 100, &o), -ENODATA);
}

static void test_status_strings(void **state)
{
	(void)state;
	assert_string_equal(bc_nvme_status_str(0, 0x02), "Invalid Field in Command");
	assert_string_equal(bc_nvme_status_str(0, 0x06), "Internal Error");
	assert_string_equal(bc_nvme_status_str(1, 0x0a), "Invalid Format");
	assert_string_equal(bc_nvme_status_str(7, 0xff), "unknown status");
}

/* Cutting respects MSSRL per range, MCL per command, MSRC ranges. */
static void test_copy_cut(void **state)
{
	struct bc_nvme_copy_limits l = { .mssrl = 128, .mcl = 1024, .msrc = 7 };
	struct bc_nvme_copy_range r[16];
	uint64_t covered;
	size_t n;

	(void)state;
	assert_int_equal(bc_nvme_copy_cut(&l, 1000, 5000, r, 16, &n, &covered), 0);
	assert_int_equal(n, 7);			/* MSRC */
	assert_int_equal(covered, 7 * 128);
	assert_int_equal(r[0].slba, 1000);
	assert_int_equal(r[6].slba, 1000 + 6 * 128);
	for (size_t i = 0; i < n; i++)
		assert_true(r[i].blocks <= 128);	/* MSSRL */
	l.msrc = 16;
	assert_int_equal(bc_nvme_copy_cut(&l, 0, 5000, r, 16, &n, &covered), 0);
	assert_int_equal(covered, 1024);	/* MCL */
	assert_int_equal(n, 8);
	assert_int_equal(bc_nvme_copy_cut(&l, 0, 100, r, 16, &n, &covered), 0);
	assert_int_equal(n, 1);
	assert_int_equal(covered, 100);
	l.mcl = 100;				/* MCL below MSSRL */
	assert_int_equal(bc_nvme_copy_cut(&l, 0, 5000, r, 16, &n, &covered), 0);
	assert_int_equal(covered, 100);
	l.mssrl = 0;
	assert_int_equal(bc_nvme_copy_cut(&l, 0, 5000, r, 16, &n, &covered), -EINVAL);
}

/* Format 0 descriptors, checked against libnvme's own struct layout. */
static void test_copy_build(void **state)
{
	struct bc_nvme_copy_range r[2] = { { 0x0102030405060708ull, 128 },
					   { 77, 1 } };
	uint8_t buf[64];
	struct nvme_copy_range *d = (struct nvme_copy_range *)buf;

	(void)state;
	assert_int_equal(sizeof(struct nvme_copy_range), BC_NVME_COPY_DESC_LEN);
	assert_int_equal(bc_nvme_copy_build(buf, sizeof(buf), r, 2), 64);
	assert_int_equal(le64toh(d[0].slba), 0x0102030405060708ull);
	assert_int_equal(le16toh(d[0].nlb), 127);	/* 0's based */
	assert_int_equal(le64toh(d[1].slba), 77);
	assert_int_equal(le16toh(d[1].nlb), 0);
	assert_int_equal(bc_nvme_copy_build(buf, 32, r, 2), -ENOSPC);
	r[1].blocks = 0;
	assert_int_equal(bc_nvme_copy_build(buf, sizeof(buf), r, 2), -EINVAL);
}

/* Identify data captured from QEMU's controller in the test VM, decoded
 * to what nvme-cli printed for the same device (fixtures/nvme/). */
/* Namespace Identification Descriptors (CNS 03h): literal lists. */
static void test_ns_descs(void **state)
{
	static const uint8_t uuid[16] = { 0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0,
					  0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6 };
	static const uint8_t nguid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	static const uint8_t eui[8] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x78, 0x9a };
	uint8_t page[4096];
	struct bc_nvme_ns_info n;
	size_t o;

	(void)state;
	/* EUI-64, NGUID, UUID, CSI, end: what QEMU lists */
	memset(page, 0, sizeof(page));
	o = 0;
	page[o] = 1; page[o + 1] = 8; memcpy(page + o + 4, eui, 8); o += 12;
	page[o] = 2; page[o + 1] = 16; memcpy(page + o + 4, nguid, 16); o += 20;
	page[o] = 3; page[o + 1] = 16; memcpy(page + o + 4, uuid, 16); o += 20;
	page[o] = 4; page[o + 1] = 1; page[o + 4] = 0; o += 5;
	memset(&n, 0, sizeof(n));
	assert_int_equal(bc_nvme_decode_ns_descs(page, sizeof(page), &n), 0);
	assert_true(n.has_uuid && n.has_nguid && n.has_eui64);
	assert_memory_equal(n.uuid, uuid, 16);
	assert_memory_equal(n.nguid, nguid, 16);
	assert_memory_equal(n.eui64, eui, 8);

	/* Identify Namespace's own NGUID is kept */
	memset(&n, 0, sizeof(n));
	n.has_nguid = true;
	n.nguid[0] = 0xaa;
	assert_int_equal(bc_nvme_decode_ns_descs(page, sizeof(page), &n), 0);
	assert_int_equal(n.nguid[0], 0xaa);

	/* an all-zero UUID is none */
	memset(page, 0, sizeof(page));
	page[0] = 3; page[1] = 16;
	memset(&n, 0, sizeof(n));
	assert_int_equal(bc_nvme_decode_ns_descs(page, sizeof(page), &n), 0);
	assert_false(n.has_uuid);

	/* a UUID of 12 bytes: malformed, and what came before stays */
	memset(page, 0, sizeof(page));
	page[0] = 1; page[1] = 8; memcpy(page + 4, eui, 8);
	page[12] = 3; page[13] = 12; memcpy(page + 16, uuid, 12);
	memset(&n, 0, sizeof(n));
	assert_int_equal(bc_nvme_decode_ns_descs(page, sizeof(page), &n), -EBADMSG);
	assert_true(n.has_eui64);
	assert_false(n.has_uuid);

	/* vendor types (0x80) are stepped over; a UUID at byte 4080 would
	 * run past the page */
	memset(page, 0, sizeof(page));
	for (o = 0; o < 15 * 259; o += 259) {
		page[o] = 0x80;
		page[o + 1] = 255;
	}
	page[o] = 0x80;
	page[o + 1] = (uint8_t)(4080 - o - 4);
	page[4080] = 3;
	page[4081] = 16;
	memset(&n, 0, sizeof(n));
	assert_int_equal(bc_nvme_decode_ns_descs(page, sizeof(page), &n), -EBADMSG);
	assert_false(n.has_uuid);
	page[4081] = 0;		/* a UUID of 0 bytes there: malformed too */
	assert_int_equal(bc_nvme_decode_ns_descs(page, sizeof(page), &n), -EBADMSG);
	page[4080] = 0;		/* the list ends there */
	assert_int_equal(bc_nvme_decode_ns_descs(page, sizeof(page), &n), 0);

	/* short */
	assert_int_equal(bc_nvme_decode_ns_descs(page, 100, &n), -ENODATA);
}

/*
 * One namespace for Copy format 0: what the controller reports (SUBNQN,
 * serial, NSID) and the kernel device it was reached through must all
 * agree.  A namespace that reports another's SUBNQN, serial and NSID (a
 * cloned or misconfigured target) is another namespace: a Copy sent to
 * the first with the second's LBAs would overwrite the first.
 */
static void test_same_namespace(void **state)
{
	const struct {
		const char *what;
		struct bc_nvme_ns_ref a, b;
		bool same;
	} rows[] = {
		{ "two windows on nvme0n1",
		  { "nqn.2019-08.org.qemu:blkclone0001", "blkclone0001", 1, makedev(259, 0) },
		  { "nqn.2019-08.org.qemu:blkclone0001", "blkclone0001", 1, makedev(259, 0) }, true },
		{ "nvme0n1 and nvme0n2",
		  { "nqn.2019-08.org.qemu:blkclone0001", "blkclone0001", 1, makedev(259, 0) },
		  { "nqn.2019-08.org.qemu:blkclone0001", "blkclone0001", 2, makedev(259, 1) }, false },
		{ "another device reporting the same SUBNQN, serial and NSID",
		  { "nqn.2019-08.org.qemu:blkclone0001", "blkclone0001", 1, makedev(259, 0) },
		  { "nqn.2019-08.org.qemu:blkclone0001", "blkclone0001", 1, makedev(259, 5) }, false },
		{ "no SUBNQN on either, another device",
		  { "", "S1", 1, makedev(259, 0) }, { "", "S1", 1, makedev(259, 2) }, false },
		{ "another serial, one device (cannot be: not the same)",
		  { "nqn.x", "S1", 1, makedev(259, 0) }, { "nqn.x", "S2", 1, makedev(259, 0) }, false },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char da[256], db[256];

		print_message("%s\n", rows[i].what);
		assert_int_equal(bc_nvme_same_namespace(&rows[i].a, &rows[i].b), rows[i].same);
		assert_true(bc_nvme_copy_domain(da, sizeof(da), &rows[i].a) > 0);
		assert_true(bc_nvme_copy_domain(db, sizeof(db), &rows[i].b) > 0);
		/* the planner's view agrees: equal domains only for one namespace */
		assert_int_equal(!strcmp(da, db), rows[i].same);
	}
}

static void test_qemu_fixtures(void **state)
{
	uint8_t buf[4096];
	struct bc_nvme_ctrl_info c;
	struct bc_nvme_ns_info ns;

	(void)state;
	assert_int_equal(fixture_load("nvme/qemu-id-ctrl.hex", buf, sizeof(buf)), 4096);
	assert_int_equal(bc_nvme_decode_id_ctrl(buf, 4096, &c), 0);
	assert_string_equal(c.serial, "blkclone0001");
	assert_string_equal(c.model, "QEMU NVMe Ctrl");
	assert_int_equal(c.oncs, 0x15d);
	assert_true(c.oncs & BC_NVME_ONCS_COPY);
	assert_int_equal(c.ocfs, 0x3);
	assert_int_equal(c.mdts, 7);
	assert_true(c.volatile_cache);

	assert_int_equal(fixture_load("nvme/qemu-id-ns-1.hex", buf, sizeof(buf)), 4096);
	assert_int_equal(bc_nvme_decode_id_ns(buf, 4096, &ns), 0);
	assert_int_equal(ns.nsze, 0x180000);
	assert_int_equal(ns.lba_size, 512);
	assert_int_equal(ns.mssrl, 128);
	assert_int_equal(ns.mcl, 1024);
	assert_int_equal(ns.msrc, 8);		/* 7, 0's based */
	assert_int_equal(ns.dlfeat, 1);
	assert_true(ns.dealloc_reads_zero);

	assert_int_equal(fixture_load("nvme/qemu-id-ns-3-4k.hex", buf, sizeof(buf)), 4096);
	assert_int_equal(bc_nvme_decode_id_ns(buf, 4096, &ns), 0);
	assert_int_equal(ns.lba_size, 4096);
	assert_int_equal(ns.lbaf_index, 4);
	assert_int_equal(ns.nsze, 0x10000);

	assert_int_equal(fixture_load("nvme/qemu-id-ns-4-nocopy.hex", buf, sizeof(buf)), 4096);
	assert_int_equal(bc_nvme_decode_id_ns(buf, 4096, &ns), 0);
	assert_int_equal(ns.mssrl, 0);
	assert_int_equal(ns.mcl, 0);
}

/*
 * Holes onto an NVMe namespace: only DLFEAT read behaviour 001b says
 * deallocated blocks read zero; 000b (not reported), 010b (FFh) and the
 * reserved values do not.  The namespace's caps come from QEMU's Identify
 * Namespace with DLFEAT patched; a destination with those caps whose
 * deallocated blocks hold old data has a hole settled on it -- with the
 * extent map NVMe lacks forced on, so only zero_init stands between the
 * old data and a skip.  Everything must end up zero and nothing skipped
 * unless DLFEAT is 001b.
 */
static void test_dlfeat_holes(void **state)
{
	static const struct {
		uint8_t dlfeat;
		enum bc_support zero_init;
		bool deac;		/* Write Zeroes sets DEAC */
		uint64_t skipped;	/* of the 64 KiB settled, half deallocated */
	} rows[] = {
		{ 0x00, BC_SUP_UNKNOWN, false, 0 },	/* no DLFEAT at all */
		{ 0x01, BC_SUP_YES, false, 32768 },
		{ 0x02, BC_SUP_NO, false, 0 },		/* reads FFh */
		{ 0x03, BC_SUP_NO, false, 0 },		/* reserved */
		{ 0x04, BC_SUP_NO, false, 0 },		/* reserved */
		{ 0x07, BC_SUP_NO, false, 0 },		/* reserved */
		{ 0x08, BC_SUP_UNKNOWN, false, 0 },	/* DEAC bit, reads not reported */
		{ 0x09, BC_SUP_YES, true, 32768 },
		{ 0x0a, BC_SUP_NO, false, 0 },
		{ 0x10, BC_SUP_UNKNOWN, false, 0 },	/* guard CRC bit only */
		{ 0x19, BC_SUP_YES, true, 32768 },
	};
	uint8_t buf[4096];
	struct bc_nvme_ctrl_info ctrl;

	(void)state;
	assert_int_equal(fixture_load("nvme/qemu-id-ctrl.hex", buf, sizeof(buf)), 4096);
	assert_int_equal(bc_nvme_decode_id_ctrl(buf, 4096, &ctrl), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bc_nvme_ns_info ns;
		struct bc_caps caps;
		struct bc_copy_stats st = { 0 };
		struct bc_dest_holes h;
		struct bc_error e = { 0 };
		struct bc_volume *dst;
		struct memvol *m;
		uint8_t *back;

		print_message("DLFEAT %02xh\n", rows[i].dlfeat);
		assert_int_equal(fixture_load("nvme/qemu-id-ns-1.hex", buf, sizeof(buf)), 4096);
		buf[33] = rows[i].dlfeat;
		assert_int_equal(bc_nvme_decode_id_ns(buf, 4096, &ns), 0);
		memset(&caps, 0, sizeof(caps));
		bc_nvme_zero_caps(&ctrl, &ns, &caps);
		assert_int_equal(caps.zero_init.state, rows[i].zero_init);
		assert_int_equal(caps.extent_map.state, BC_SUP_NO);
		assert_int_equal(caps.zeroout.state, BC_SUP_YES);	/* ONCS bit 3 */
		assert_int_equal(bc_nvme_write_zeroes_deac(&ns), rows[i].deac);

		/* 64 KiB of old data, the second half deallocated (reading the
		 * old data unless DLFEAT is 001b) */
		dst = memvol_new("nvme", 65536, 512, true,
				 rows[i].zero_init == BC_SUP_YES, true);
		memvol_garbage(dst, 7);
		m = memvol_of(dst);
		for (unsigned b = 64; b < 128; b++)
			m->allocated[b] = false;
		caps.extent_map.state = BC_SUP_YES;	/* as if NVMe had a map */
		bc_dest_holes_init(&h, dst, &caps, false, &st);
		assert_int_equal(bc_dest_settle(&h, NULL, 0, 65536, &e), 0);
		assert_int_equal(st.skipped_bytes, rows[i].skipped);
		back = malloc(65536);
		assert_non_null(back);
		assert_int_equal(dst->ops->read(dst, back, 0, 65536, &e), 0);
		for (size_t k = 0; k < 65536; k++)
			assert_int_equal(back[k], 0);
		free(back);
		bc_volume_close(dst);
	}
}

/*
 * A namespace of 64 blocks of 512 bytes in memory, and what each command
 * the NVMe backend would issue did to it: the piece function copies
 * blocks (as Copy does) and fails at a set namespace LBA after copying
 * the blocks before it (a prefix, as a failed Copy confirms).
 */
#define NS_BS 512u
#define NS_BLOCKS 64u

struct fake_ns {
	uint8_t data[NS_BLOCKS * NS_BS];
	uint64_t fail_lba;		/* UINT64_MAX: never */
	bool lie;			/* report one block short, no error */
	size_t n;
	struct { uint64_t vlba, slba, dlba, blocks; } cmd[32];
};

static int fake_copy(void *ctx, uint64_t vlba, uint64_t slba, uint64_t dlba,
		     uint64_t blocks, uint64_t *done_blocks)
{
	struct fake_ns *f = ctx;

	assert_true(f->n < 32);
	f->cmd[f->n].vlba = vlba;
	f->cmd[f->n].slba = slba;
	f->cmd[f->n].dlba = dlba;
	f->cmd[f->n].blocks = blocks;
	f->n++;
	assert_true(slba + blocks <= NS_BLOCKS && dlba + blocks <= NS_BLOCKS);
	*done_blocks = 0;
	for (uint64_t i = 0; i < blocks; i++) {
		if (slba + i == f->fail_lba)
			return -EIO;
		memmove(f->data + (dlba + i) * NS_BS, f->data + (slba + i) * NS_BS, NS_BS);
		*done_blocks = i + 1;
	}
	if (f->lie)
		*done_blocks = blocks - 1;
	return 0;
}

static void fake_fill(struct fake_ns *f)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < sizeof(f->data); i++)
		f->data[i] = (uint8_t)(i / NS_BS * 7 + i % 251);
	f->fail_lba = UINT64_MAX;
}

#define SEG(start, len, off) { (start) * NS_BS, (len) * NS_BS, (off) * NS_BS }

/*
 * A source LV of two segments (8 blocks at LBA 40, then 8 at LBA 4) onto
 * a destination of one (16 blocks at LBA 20): two Copy pieces at the
 * source's boundary, onto the right destination LBAs, the bytes of the
 * namespace outside the destination window unchanged.
 */
static void test_cut_two_to_one(void **state)
{
	static const struct bc_stack_seg s[] = { SEG(0, 8, 40), SEG(8, 8, 4) };
	static const struct bc_stack_seg d[] = { SEG(0, 16, 20) };
	struct fake_ns *f = malloc(sizeof(*f)), *orig = malloc(sizeof(*orig));
	uint64_t done = 1;

	(void)state;
	assert_non_null(f);
	assert_non_null(orig);
	fake_fill(f);
	*orig = *f;
	assert_int_equal(bc_nvme_cut_run(s, 2, 0, d, 1, 0, 16 * NS_BS, NS_BS,
					 fake_copy, f, &done), 0);
	assert_int_equal(done, 16 * NS_BS);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->cmd[0].slba, 40);
	assert_int_equal(f->cmd[0].dlba, 20);
	assert_int_equal(f->cmd[0].blocks, 8);
	assert_int_equal(f->cmd[0].vlba, 0);
	assert_int_equal(f->cmd[1].slba, 4);
	assert_int_equal(f->cmd[1].dlba, 28);
	assert_int_equal(f->cmd[1].blocks, 8);
	assert_int_equal(f->cmd[1].vlba, 8);
	/* the destination window holds the source's blocks in volume order */
	assert_memory_equal(f->data + 20 * NS_BS, orig->data + 40 * NS_BS, 8 * NS_BS);
	assert_memory_equal(f->data + 28 * NS_BS, orig->data + 4 * NS_BS, 8 * NS_BS);
	/* guards before, between and after the windows */
	assert_memory_equal(f->data, orig->data, 20 * NS_BS);
	assert_memory_equal(f->data + 36 * NS_BS, orig->data + 36 * NS_BS,
			    (NS_BLOCKS - 36) * NS_BS);
	free(f);
	free(orig);
}

/*
 * Boundaries on both sides (source 3 | 5 | 8 blocks, destination 6 | 10)
 * starting mid-volume: every piece lies in one window of each, in order.
 */
static void test_cut_both_sides(void **state)
{
	static const struct bc_stack_seg s[] = { SEG(0, 3, 50), SEG(3, 5, 10), SEG(8, 8, 30) };
	static const struct bc_stack_seg d[] = { SEG(0, 6, 0), SEG(6, 10, 40) };
	static const uint64_t want[][4] = {	/* vlba, slba, dlba, blocks */
		{ 1, 51, 1, 2 }, { 3, 10, 3, 3 }, { 6, 13, 40, 2 }, { 8, 30, 42, 6 },
	};
	struct fake_ns *f = malloc(sizeof(*f));
	uint64_t done = 0;

	(void)state;
	assert_non_null(f);
	fake_fill(f);
	/* source bytes [1, 15) blocks onto destination [1, 15) */
	assert_int_equal(bc_nvme_cut_run(s, 3, 1 * NS_BS, d, 2, 1 * NS_BS,
					 13 * NS_BS, NS_BS, fake_copy, f, &done), 0);
	assert_int_equal(done, 13 * NS_BS);
	assert_int_equal(f->n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(f->cmd[i].vlba, want[i][0]);
		assert_int_equal(f->cmd[i].slba, want[i][1]);
		assert_int_equal(f->cmd[i].dlba, want[i][2]);
		assert_int_equal(f->cmd[i].blocks, want[i][3]);
	}
	free(f);
}

/*
 * A failure in the second piece: *done is the first piece plus the
 * blocks the failing command confirmed (a prefix, for resume), no piece
 * after it runs, and the error is the piece's own.
 */
static void test_cut_failure_prefix(void **state)
{
	static const struct bc_stack_seg s[] = { SEG(0, 8, 40), SEG(8, 8, 4) };
	static const struct bc_stack_seg d[] = { SEG(0, 4, 20), SEG(4, 12, 50) };
	struct fake_ns *f = malloc(sizeof(*f));
	uint64_t done = 0;

	(void)state;
	assert_non_null(f);
	fake_fill(f);
	f->fail_lba = 46;	/* the 3rd block of the second piece (40..47 -> 50..) */
	assert_int_equal(bc_nvme_cut_run(s, 2, 0, d, 2, 0, 16 * NS_BS, NS_BS,
					 fake_copy, f, &done), -EIO);
	assert_int_equal(f->n, 2);
	assert_int_equal(done, (4 + 2) * NS_BS);

	/* a piece that reports less than it was given without an error */
	fake_fill(f);
	f->lie = true;
	assert_int_equal(bc_nvme_cut_run(s, 2, 0, d, 2, 0, 16 * NS_BS, NS_BS,
					 fake_copy, f, &done), -EIO);
	assert_int_equal(f->n, 1);
	assert_int_equal(done, 3 * NS_BS);
	free(f);
}

/* Ranges past the windows or not whole blocks run nothing. */
static void test_cut_refusals(void **state)
{
	static const struct bc_stack_seg s[] = { SEG(0, 8, 40), SEG(8, 8, 4) };
	static const struct bc_stack_seg d[] = { SEG(0, 16, 20) };
	static const struct bc_stack_seg odd[] = { { 0, 8 * NS_BS, 100 } };
	struct fake_ns *f = malloc(sizeof(*f));
	uint64_t done = 7;

	(void)state;
	assert_non_null(f);
	fake_fill(f);
	assert_int_equal(bc_nvme_cut_run(s, 2, NS_BS, d, 1, 0, 16 * NS_BS, NS_BS,
					 fake_copy, f, &done), -ERANGE);
	/* the source ends a block early: nothing runs, not even the pieces
	 * that lie inside both */
	assert_int_equal(done, 0);
	assert_int_equal(f->n, 0);
	assert_int_equal(bc_nvme_cut_run(s, 2, 0, d, 1, 0, 16 * NS_BS + 1, NS_BS,
					 fake_copy, f, &done), -ERANGE);
	assert_int_equal(done, 0);
	assert_int_equal(bc_nvme_cut_run(odd, 1, 0, d, 1, 0, 8 * NS_BS, NS_BS,
					 fake_copy, f, &done), -ERANGE);
	assert_int_equal(done, 0);
	assert_int_equal(f->n, 0);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_ns),
		cmocka_unit_test(test_id_ns_malformed),
		cmocka_unit_test(test_id_ctrl),
		cmocka_unit_test(test_status_strings),
		cmocka_unit_test(test_copy_cut),
		cmocka_unit_test(test_copy_build),
		cmocka_unit_test(test_same_namespace),
		cmocka_unit_test(test_ns_descs),
		cmocka_unit_test(test_qemu_fixtures),
		cmocka_unit_test(test_dlfeat_holes),
		cmocka_unit_test(test_cut_two_to_one),
		cmocka_unit_test(test_cut_both_sides),
		cmocka_unit_test(test_cut_failure_prefix),
		cmocka_unit_test(test_cut_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
