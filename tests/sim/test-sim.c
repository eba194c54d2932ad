/*
 * The SCSI simulator (tests/sim/simlu.h), exercised through the project's
 * own command set (src/scsi/lu.h, xcopy.h) where it has the command, and
 * through raw CDBs where it does not (token copy, malformed lists).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scsi/lu.h"
#include "scsi/xcopy.h"
#include "simlu.h"

#define BS 512
#define NBLK 4096

/* --- helpers -------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

#define KEY(c) ((c).sense[2] & 0x0f)
#define ASC(c) ((c).sense[12] << 8 | (c).sense[13])

/* One sim with @n LUs made by @mk, a transport and a bc_lu on each. */
struct fx {
	struct bc_sim *sim;
	struct bc_scsi_transport *t[3];
	struct bc_lu lu[3];
	unsigned n;
};

typedef void (*mk_cfg)(struct bc_sim_lu_cfg *, uint64_t, uint32_t, unsigned);

static void fx_open(struct fx *f, unsigned n, mk_cfg mk, uint64_t blocks)
{
	struct bc_sim_lu_cfg c;

	memset(f, 0, sizeof(*f));
	f->sim = bc_sim_new();
	assert_non_null(f->sim);
	f->n = n;
	for (unsigned i = 0; i < n; i++) {
		mk(&c, blocks, BS, i + 1);
		assert_int_equal(bc_sim_add_lu(f->sim, &c), (int)i);
		assert_int_equal(bc_sim_open(f->sim, i, &f->t[i]), 0);
		f->lu[i] = (struct bc_lu){ f->t[i], BS };
	}
}

static void fx_close(struct fx *f)
{
	for (unsigned i = 0; i < f->n; i++)
		bc_scsi_transport_close(f->t[i]);
	bc_sim_free(f->sim);
}

static int raw(struct bc_scsi_transport *t, struct bc_scsi_cmd *c,
	       const uint8_t *cdb, uint8_t n, enum bc_scsi_dir dir, void *buf,
	       size_t len)
{
	struct bc_error e;

	memset(c, 0, sizeof(*c));
	memcpy(c->cdb, cdb, n);
	c->cdb_len = n;
	c->dir = dir;
	c->data = buf;
	c->data_len = len;
	bc_error_clear(&e);
	return bc_scsi_execute(t, c, &e);
}

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

static void write_pattern(struct bc_lu *lu, uint64_t lba, uint32_t n, unsigned seed)
{
	uint8_t *b = malloc((size_t)n * BS);
	struct bc_error e;

	pattern(b, (size_t)n * BS, seed);
	assert_int_equal(bc_lu_write16(lu, lba, n, b, &e), 0);
	free(b);
}

static bool blocks_equal(struct bc_sim *sim, unsigned a, uint64_t alba,
			 unsigned b, uint64_t blba, uint32_t n)
{
	uint8_t *x = malloc((size_t)n * BS), *y = malloc((size_t)n * BS);
	bool eq;

	assert_int_equal(bc_sim_read(sim, a, alba, n, x), 0);
	assert_int_equal(bc_sim_read(sim, b, blba, n, y), 0);
	eq = !memcmp(x, y, (size_t)n * BS);
	free(x);
	free(y);
	return eq;
}

static bool reads_byte(struct bc_sim *sim, unsigned lu, uint64_t lba, uint32_t n,
		       uint8_t v)
{
	uint8_t *x = malloc((size_t)n * BS);
	bool ok = true;

	assert_int_equal(bc_sim_read(sim, lu, lba, n, x), 0);
	for (size_t i = 0; i < (size_t)n * BS; i++)
		ok &= x[i] == v;
	free(x);
	return ok;
}

static struct bc_designator naa_of(struct bc_lu *lu)
{
	uint8_t buf[256];
	struct bc_designator ds[8];
	const struct bc_designator *d;
	struct bc_error e;
	size_t got, n;

	assert_int_equal(bc_lu_vpd(lu, 0x83, buf, sizeof(buf), &got, &e), 0);
	assert_int_equal(bc_lu_parse_designators(buf, got, ds, 8, &n), 0);
	d = bc_xcopy_pick_designator(ds, n);
	assert_non_null(d);
	return *d;
}

/* EXTENDED COPY from LU @s to LU @d through @via, one segment per entry. */
static int xcopy(struct fx *f, unsigned via, unsigned s, unsigned d,
		 const struct bc_xcopy_segment *seg, size_t nseg, struct bc_error *e)
{
	struct bc_designator ds = naa_of(&f->lu[s]), dd = naa_of(&f->lu[d]);
	uint8_t list[2048];
	int len = bc_xcopy_build_list(list, sizeof(list), &ds, BS, &dd, BS, seg, nseg);

	assert_true(len > 0);
	bc_error_clear(e);
	return bc_lu_extended_copy(&f->lu[via], list, (uint32_t)len, seg[0].src_lba, 0, e);
}

/* --- token copy CDBs (blkclone has no builders for them yet) -------------- */

static int populate(struct bc_scsi_transport *t, uint32_t id, const uint64_t (*r)[2],
		    size_t n, uint32_t timeout, uint8_t flags, struct bc_scsi_cmd *c)
{
	uint8_t cdb[16] = { 0x83, 0x10 }, p[16 + 16 * 64] = { 0 };
	size_t len = 16 + 16 * n;

	put16(p, (uint16_t)(len - 2));
	p[2] = flags;
	put32(p + 4, timeout);
	put16(p + 14, (uint16_t)(16 * n));
	for (size_t i = 0; i < n; i++) {
		put64(p + 16 + 16 * i, r[i][0]);
		put32(p + 24 + 16 * i, (uint32_t)r[i][1]);
	}
	put32(cdb + 6, id);
	put32(cdb + 10, (uint32_t)len);
	return raw(t, c, cdb, 16, BC_SCSI_DIR_OUT, p, len);
}

static int rrti(struct bc_scsi_transport *t, uint32_t id, uint8_t *buf, size_t len,
		struct bc_scsi_cmd *c)
{
	uint8_t cdb[16] = { 0x84, 0x07 };

	put32(cdb + 2, id);
	put32(cdb + 10, (uint32_t)len);
	return raw(t, c, cdb, 16, BC_SCSI_DIR_IN, buf, len);
}

/* The ROD token a finished POPULATE TOKEN @id made. */
static void token_of(struct bc_scsi_transport *t, uint32_t id, uint8_t tok[512])
{
	uint8_t buf[1024];
	struct bc_scsi_cmd c;
	size_t off;

	assert_int_equal(rrti(t, id, buf, sizeof(buf), &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_int_equal(buf[4], 0x10);		/* response to POPULATE TOKEN */
	assert_int_equal(buf[5], 0x01);		/* completed */
	off = 32 + buf[13];
	assert_int_equal(get32(buf + off), 514);
	memcpy(tok, buf + off + 6, 512);
}

static int wut(struct bc_scsi_transport *t, uint32_t id, const uint8_t tok[512],
	       uint64_t off, const uint64_t (*r)[2], size_t n, uint8_t flags,
	       struct bc_scsi_cmd *c)
{
	uint8_t cdb[16] = { 0x83, 0x11 }, p[536 + 16 * 64] = { 0 };
	size_t len = 536 + 16 * n;

	put16(p, (uint16_t)(len - 2));
	p[2] = flags;
	put64(p + 8, off);
	memcpy(p + 16, tok, 512);
	put16(p + 534, (uint16_t)(16 * n));
	for (size_t i = 0; i < n; i++) {
		put64(p + 536 + 16 * i, r[i][0]);
		put32(p + 544 + 16 * i, (uint32_t)r[i][1]);
	}
	put32(cdb + 6, id);
	put32(cdb + 10, (uint32_t)len);
	return raw(t, c, cdb, 16, BC_SCSI_DIR_OUT, p, len);
}

/* --- discovery ------------------------------------------------------------ */

static void test_discovery_spc(void **state)
{
	struct fx f;
	struct bc_lu_inquiry inq;
	struct bc_lu_capacity cap;
	struct bc_lu_block_limits bl;
	struct bc_lu_provisioning pv;
	struct bc_designator d;
	struct bc_error e;
	uint8_t buf[512];
	size_t got;

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	assert_int_equal(bc_lu_inquiry(&f.lu[0], &inq, &e), 0);
	assert_true(inq.tpc);
	assert_int_equal(inq.pdt, 0);
	assert_string_equal(inq.vendor, "BCSIM");
	assert_int_equal(bc_lu_read_capacity16(&f.lu[0], &cap, &e), 0);
	assert_int_equal(cap.blocks, NBLK);
	assert_int_equal(cap.block_size, BS);
	assert_true(cap.lbpme);
	assert_true(cap.lbprz);
	assert_int_equal(bc_lu_vpd(&f.lu[0], 0x00, buf, sizeof(buf), &got, &e), 0);
	assert_true(bc_lu_vpd_lists(buf, got, 0x8f));
	assert_true(bc_lu_vpd_lists(buf, got, 0xb0));
	assert_true(bc_lu_vpd_lists(buf, got, 0xb2));
	assert_int_equal(bc_lu_vpd(&f.lu[0], 0xb0, buf, sizeof(buf), &got, &e), 0);
	assert_int_equal(bc_lu_parse_block_limits(buf, got, &bl), 0);
	assert_int_equal(bl.max_unmap_lba_count, 0x100000);
	assert_int_equal(bl.max_unmap_descriptors, 64);
	assert_int_equal(bl.max_write_same, 0x100000);
	assert_int_equal(bc_lu_vpd(&f.lu[0], 0xb2, buf, sizeof(buf), &got, &e), 0);
	assert_int_equal(bc_lu_parse_provisioning(buf, got, &pv), 0);
	assert_true(pv.lbpu && pv.lbpws);
	assert_int_equal(pv.lbprz, 1);
	assert_int_equal(pv.type, 2);
	d = naa_of(&f.lu[0]);
	assert_int_equal(d.len, 16);
	assert_memory_equal(d.id, bc_sim_lu_cfg(f.sim, 0)->naa, 16);
	/* VPD 0x8F: descriptors walk to the end, ROD limits first */
	assert_int_equal(bc_lu_vpd(&f.lu[0], 0x8f, buf, sizeof(buf), &got, &e), 0);
	assert_int_equal(buf[4] << 8 | buf[5], 0x0000);
	assert_int_equal(buf[6] << 8 | buf[7], 0x20);
	assert_int_equal(buf[14] << 8 | buf[15], 16);		/* max ranges */
	assert_int_equal(get32(buf + 16), 600);
	assert_int_equal(get32(buf + 20), 60);
	{
		size_t off = 4, n = 0;
		bool srt = false;

		while (off + 4 <= got) {
			unsigned type = buf[off] << 8 | buf[off + 1];

			srt |= type == 0x0108;
			off += 4 + (buf[off + 2] << 8 | buf[off + 3]);
			n++;
		}
		assert_int_equal(off, got);
		assert_int_equal(n, 6);
		assert_true(srt);
	}
	/* REPORT LUNS, READ CAPACITY(10) */
	{
		struct bc_scsi_cmd c;
		uint8_t rl[12] = { 0xa0 }, rc10[10] = { 0x25 };

		put32(rl + 6, sizeof(buf));
		assert_int_equal(raw(f.t[0], &c, rl, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
		assert_int_equal(get32(buf), 8);
		assert_int_equal(c.resid, sizeof(buf) - 16);
		assert_int_equal(raw(f.t[0], &c, rc10, 10, BC_SCSI_DIR_IN, buf, 8), 0);
		assert_int_equal(get32(buf), NBLK - 1);
		assert_int_equal(get32(buf + 4), BS);
	}
	/* the two LUs of a sim are one target */
	assert_string_equal(f.t[0]->target_id, f.t[0]->copy_domain);
	assert_memory_equal(f.t[0]->target_id, "sim:", 4);
	fx_close(&f);
}

static void test_discovery_lio(void **state)
{
	struct fx f;
	struct bc_lu_capacity cap;
	struct bc_lu_block_limits bl;
	struct bc_xcopy_limits xl;
	struct bc_scsi_cmd c;
	struct bc_error e;
	uint8_t buf[512], tur[6] = { 0 }, inq[6] = { 0x12, 0, 0, 0, 96, 0 };
	size_t got;

	(void)state;
	fx_open(&f, 2, bc_sim_lu_cfg_lio, NBLK);
	/* a new nexus: INQUIRY is exempt, then one UNIT ATTENTION 3F/0E */
	assert_int_equal(raw(f.t[0], &c, inq, 6, BC_SCSI_DIR_IN, buf, 96), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_int_equal(raw(f.t[0], &c, tur, 6, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(c.status, BC_SAM_CHECK_CONDITION);
	assert_int_equal(KEY(c), 0x6);
	assert_int_equal(ASC(c), 0x3f0e);
	assert_int_equal(raw(f.t[0], &c, tur, 6, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	/* bc_lu retries the UA on the other nexus by itself */
	assert_int_equal(bc_lu_read_capacity16(&f.lu[1], &cap, &e), 0);
	assert_true(cap.lbpme);
	assert_false(cap.lbprz);
	assert_int_equal(bc_lu_vpd(&f.lu[0], 0x00, buf, sizeof(buf), &got, &e), 0);
	assert_false(bc_lu_vpd_lists(buf, got, 0x8f));
	assert_int_equal(bc_lu_vpd(&f.lu[0], 0x8f, buf, sizeof(buf), &got, &e), -EOPNOTSUPP);
	assert_int_equal(bc_lu_vpd(&f.lu[0], 0xb0, buf, sizeof(buf), &got, &e), 0);
	assert_int_equal(bc_lu_parse_block_limits(buf, got, &bl), 0);
	assert_int_equal(bl.max_unmap_lba_count, 8192);
	assert_int_equal(bl.max_unmap_descriptors, 1);
	assert_int_equal(bl.max_write_same, 4096);
	/* RECEIVE COPY RESULTS operating parameters, as LIO answers */
	assert_int_equal(bc_lu_copy_operating_params(&f.lu[0], &xl, &e), 0);
	assert_int_equal(xl.max_cscd, 2);
	assert_int_equal(xl.max_segments, 1);
	assert_int_equal(xl.max_desc_list_len, 1024);
	assert_int_equal(xl.max_segment_len, 268435456);
	assert_int_equal(xl.max_concurrent, 1);
	assert_true(xl.has_type_02 && xl.has_type_e4);
	fx_close(&f);
}

/* --- block commands ------------------------------------------------------- */

static void test_read_write(void **state)
{
	struct fx f;
	struct bc_error e;
	struct bc_scsi_cmd c;
	uint8_t *w = malloc(64 * BS), *r = malloc(64 * BS);
	uint8_t cdb10[10] = { 0x28 }, wcdb10[10] = { 0x2a };

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	pattern(w, 64 * BS, 5);
	assert_int_equal(bc_lu_write16(&f.lu[0], 100, 64, w, &e), 0);
	assert_int_equal(bc_lu_read16(&f.lu[0], 100, 64, r, &e), 0);
	assert_memory_equal(w, r, 64 * BS);
	/* unwritten blocks read as zeros (LBPRZ) */
	assert_int_equal(bc_lu_read16(&f.lu[0], 0, 64, r, &e), 0);
	assert_true(reads_byte(f.sim, 0, 0, 64, 0));
	/* READ(10)/WRITE(10) */
	put32(wcdb10 + 2, 3000);
	put16(wcdb10 + 7, 2);
	assert_int_equal(raw(f.t[0], &c, wcdb10, 10, BC_SCSI_DIR_OUT, w, 2 * BS), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	put32(cdb10 + 2, 3000);
	put16(cdb10 + 7, 2);
	memset(r, 0, 4 * BS);
	assert_int_equal(raw(f.t[0], &c, cdb10, 10, BC_SCSI_DIR_IN, r, 4 * BS), 0);
	assert_int_equal(c.resid, 2 * BS);
	assert_memory_equal(w, r, 2 * BS);
	/* past the end: LBA OUT OF RANGE */
	assert_int_equal(bc_lu_read16(&f.lu[0], NBLK - 1, 2, r, &e), -ERANGE);
	assert_int_equal(e.status.sense_key, 0x5);
	assert_int_equal(e.status.asc, 0x21);
	/* a data-out buffer shorter than the CDB's: the initiator's bug */
	assert_int_equal(raw(f.t[0], &c, wcdb10, 10, BC_SCSI_DIR_OUT, w, BS), -EINVAL);
	/* one SYNCHRONIZE CACHE is fine */
	assert_int_equal(bc_lu_sync_cache16(&f.lu[0], &e), 0);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x8a, BC_SIM_ANY), 1);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x88, BC_SIM_ANY), 3);
	free(w);
	free(r);
	fx_close(&f);
}

static void test_sparse_memory(void **state)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_sim_lu_cfg cfg;
	uint8_t *buf = malloc(1 << 20);

	(void)state;
	/* 1 GiB LU, 10 MiB written: memory follows the data */
	bc_sim_lu_cfg_spc(&cfg, (1ull << 30) / BS, BS, 1);
	assert_int_equal(bc_sim_add_lu(sim, &cfg), 0);
	pattern(buf, 1 << 20, 1);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(bc_sim_write(sim, 0, (uint64_t)i * 100000, 2048, buf), 0);
	assert_int_equal(bc_sim_mapped_blocks(sim, 0), 10 * 2048);
	assert_true(bc_sim_memory(sim, 0) < 11 * (1 << 20));
	assert_true(bc_sim_memory(sim, 0) >= 10 * (1 << 20));
	free(buf);
	bc_sim_free(sim);
}

static void test_lba_status(void **state)
{
	struct fx f;
	struct bc_lu_lba_status st[16];
	struct bc_error e;
	size_t n;

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 100, 50, 1);
	write_pattern(&f.lu[0], 1000, 200, 2);
	assert_int_equal(bc_lu_get_lba_status(&f.lu[0], 0, st, 16, &n, &e), 0);
	assert_int_equal(n, 5);
	assert_int_equal(st[0].lba, 0);
	assert_int_equal(st[0].blocks, 100);
	assert_int_equal(st[0].status, 1);
	assert_int_equal(st[1].lba, 100);
	assert_int_equal(st[1].blocks, 50);
	assert_int_equal(st[1].status, 0);
	assert_int_equal(st[2].blocks, 850);
	assert_int_equal(st[3].lba, 1000);
	assert_int_equal(st[3].blocks, 200);
	assert_int_equal(st[4].lba, 1200);
	assert_int_equal(st[4].blocks, NBLK - 1200);
	/* UNMAP and WRITE SAME(16)+UNMAP deallocate; both read zeros */
	assert_int_equal(bc_lu_unmap(&f.lu[0], 110, 10, &e), 0);
	assert_int_equal(bc_lu_write_same16_unmap(&f.lu[0], 1000, 100, &e), 0);
	assert_int_equal(bc_lu_get_lba_status(&f.lu[0], 100, st, 16, &n, &e), 0);
	assert_int_equal(st[0].lba, 100);
	assert_int_equal(st[0].blocks, 10);
	assert_int_equal(st[0].status, 0);
	assert_int_equal(st[1].lba, 110);
	assert_int_equal(st[1].blocks, 10);
	assert_int_equal(st[1].status, 1);
	assert_int_equal(st[2].blocks, 30);
	assert_int_equal(st[3].lba, 150);
	assert_int_equal(st[3].blocks, 950);
	assert_int_equal(st[3].status, 1);
	assert_int_equal(st[4].lba, 1100);
	assert_int_equal(st[4].status, 0);
	assert_true(reads_byte(f.sim, 0, 110, 10, 0));
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 0), 40 + 100);
	/* a reply with room for one descriptor covers less: loop on */
	assert_int_equal(bc_lu_get_lba_status(&f.lu[0], 0, st, 1, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st[0].blocks, 100);
	assert_int_equal(bc_lu_get_lba_status(&f.lu[0], NBLK, st, 1, &n, &e), -ERANGE);
	fx_close(&f);
}

static void test_lio_provisioning(void **state)
{
	struct fx f;
	struct bc_lu_lba_status st[4];
	struct bc_scsi_cmd c;
	struct bc_sim_lu_cfg cfg;
	struct bc_error e;
	uint8_t ws[16] = { 0x93, 0x08 }, zero[BS] = { 0 }, up[40] = { 0 }, um[10] = { 0x42 };
	size_t n;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.sim = bc_sim_new();
	bc_sim_lu_cfg_lio(&cfg, 4 * NBLK, BS, 1);
	cfg.unmapped_fill = 0xa5;	/* LBPRZ 0: unmapped blocks read garbage */
	cfg.ua_new_nexus = false;
	assert_int_equal(bc_sim_add_lu(f.sim, &cfg), 0);
	assert_int_equal(bc_sim_open(f.sim, 0, &f.t[0]), 0);
	f.lu[0] = (struct bc_lu){ f.t[0], BS };
	f.n = 1;
	assert_true(reads_byte(f.sim, 0, 0, 8, 0xa5));
	/* no GET LBA STATUS: capability absent */
	assert_int_equal(bc_lu_get_lba_status(&f.lu[0], 0, st, 4, &n, &e), -EOPNOTSUPP);
	assert_int_equal(e.status.asc, 0x24);
	/* UNMAP: 8192 blocks at most, one descriptor */
	write_pattern(&f.lu[0], 0, 16, 3);
	assert_int_equal(bc_lu_unmap(&f.lu[0], 0, 8193, &e), -EOPNOTSUPP);
	assert_int_equal(e.status.asc, 0x26);
	assert_int_equal(bc_lu_unmap(&f.lu[0], 0, 8, &e), 0);
	assert_true(reads_byte(f.sim, 0, 0, 8, 0xa5));		/* not zeros */
	put16(up, 38);
	put16(up + 2, 32);
	put64(up + 8, 8);
	put32(up + 16, 1);
	put64(up + 24, 9);
	put32(up + 32, 1);
	put16(um + 7, 40);
	assert_int_equal(raw(f.t[0], &c, um, 10, BC_SCSI_DIR_OUT, up, 40), 0);
	assert_int_equal(c.status, BC_SAM_CHECK_CONDITION);
	assert_int_equal(ASC(c), 0x2600);
	/* WRITE SAME+UNMAP of zeros reads zeros though unmapped blocks
	 * would not: the sim writes them */
	assert_int_equal(bc_lu_write_same16_unmap(&f.lu[0], 8, 8, &e), 0);
	assert_true(reads_byte(f.sim, 0, 8, 8, 0));
	assert_true(bc_sim_mapped(f.sim, 0, 8));
	/* > 4096 blocks, 0 blocks and NDOB are refused */
	assert_int_equal(bc_lu_write_same16_unmap(&f.lu[0], 0, 4097, &e), -EOPNOTSUPP);
	put32(ws + 10, 0);
	assert_int_equal(raw(f.t[0], &c, ws, 16, BC_SCSI_DIR_OUT, zero, BS), 0);
	assert_int_equal(ASC(c), 0x2400);
	ws[1] = 0x09;
	put32(ws + 10, 8);
	assert_int_equal(raw(f.t[0], &c, ws, 16, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ASC(c), 0x2400);
	assert_int_equal(c.sense[15], 0xc0);	/* SKSV, in the CDB ... */
	assert_int_equal(c.sense[17], 1);	/* ... byte 1 */
	fx_close(&f);
}

static void test_unmap_lists(void **state)
{
	struct fx f;
	struct bc_scsi_cmd c;
	uint8_t um[10] = { 0x42 }, p[24] = { 0 }, ws[16] = { 0x93, 0x09 };

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 64, 1);
	/* too short for its header */
	put16(um + 7, 4);
	assert_int_equal(raw(f.t[0], &c, um, 10, BC_SCSI_DIR_OUT, p, 4), 0);
	assert_int_equal(ASC(c), 0x1a00);
	/* a block descriptor length that is not a multiple of 16 */
	put16(um + 7, 24);
	put16(p, 22);
	put16(p + 2, 15);
	assert_int_equal(raw(f.t[0], &c, um, 10, BC_SCSI_DIR_OUT, p, 24), 0);
	assert_int_equal(ASC(c), 0x2600);
	assert_int_equal(c.sense[16] << 8 | c.sense[17], 2);
	/* a descriptor past the end of the LU changes nothing */
	put16(p + 2, 16);
	put64(p + 8, NBLK - 1);
	put32(p + 16, 2);
	assert_int_equal(raw(f.t[0], &c, um, 10, BC_SCSI_DIR_OUT, p, 24), 0);
	assert_int_equal(ASC(c), 0x2100);
	/* the list claims more than was sent: clamped, one descriptor is
	 * not complete, so nothing is done */
	put16(p, 200);
	put16(p + 2, 32);
	put64(p + 8, 0);
	put32(p + 16, 8);
	assert_int_equal(raw(f.t[0], &c, um, 10, BC_SCSI_DIR_OUT, p, 24), 0);
	assert_int_equal(ASC(c), 0x2600);
	assert_true(bc_sim_mapped(f.sim, 0, 0));
	/* NDOB with UNMAP deallocates without a data-out buffer */
	put64(ws + 2, 0);
	put32(ws + 10, 32);
	assert_int_equal(raw(f.t[0], &c, ws, 16, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_false(bc_sim_mapped(f.sim, 0, 31));
	assert_true(bc_sim_mapped(f.sim, 0, 32));
	fx_close(&f);
}

/*
 * Provisioning personalities SBC-4 allows: what READ CAPACITY(16) and VPD
 * 0xB2 say, and what an UNMAP of [0, 64) (granules of 8) leaves, as GET
 * LBA STATUS reports it and as the blocks read.
 */
static void test_provisioning_personalities(void **state)
{
	static const struct {
		const char *name;
		bool lbprz, vpd_set, flip, resource;
		uint8_t vpd, fill;
		unsigned keep;
		/* expected */
		uint8_t lbprz_field, type;
		bool rc16_lbprz, anc_sup;
		uint8_t status[3];	/* of [0, 8), [8, 16), [16, 24) */
		uint8_t reads;		/* block 16 after the UNMAP, 0 or fill */
		bool keeps_data;	/* block 8 still holds the data */
	} rows[] = {
		{ "LBPRZ 001b", true, false, false, false, 0, 0, 0,
		  1, 2, true, false, { 1, 1, 1 }, 0x00, false },
		{ "LBPRZ 000b, fill", false, false, false, false, 0, 0xa5, 0,
		  0, 2, false, false, { 1, 1, 1 }, 0xa5, false },
		{ "LBPRZ 010b, pattern", false, true, false, false, 2, 0x5a, 0,
		  2, 2, false, false, { 1, 1, 1 }, 0x5a, false },
		{ "LBPRZ 011b", true, true, false, false, 3, 0, 0,
		  3, 2, true, false, { 1, 1, 1 }, 0x00, false },
		{ "010b, READ CAPACITY(16) says 1", false, true, true, false, 2, 0x5a, 0,
		  2, 2, true, false, { 1, 1, 1 }, 0x5a, false },
		{ "001b, READ CAPACITY(16) says 0", true, false, true, false, 0, 0, 0,
		  1, 2, false, false, { 1, 1, 1 }, 0x00, false },
		{ "UNMAP keeps every granule", true, false, false, false, 0, 0, 1,
		  1, 2, true, false, { 0, 0, 0 }, 0xff, true },
		{ "UNMAP keeps every 2nd granule", true, false, false, false, 0, 0, 2,
		  1, 2, true, false, { 1, 0, 1 }, 0x00, true },
		{ "resource provisioned: anchored", true, false, false, true, 0, 0, 0,
		  1, 1, true, true, { 2, 2, 2 }, 0x00, false },
	};

	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct bc_sim_lu_cfg cfg;
		struct bc_lu_capacity cap;
		struct bc_lu_provisioning pv;
		struct bc_lu_lba_status st[8];
		struct bc_error e;
		struct fx f;
		uint8_t buf[64], b8[BS], want[BS];
		size_t got, n;

		print_message("%s\n", rows[r].name);
		memset(&f, 0, sizeof(f));
		f.sim = bc_sim_new();
		bc_sim_lu_cfg_spc(&cfg, NBLK, BS, 1);
		cfg.lbprz = rows[r].lbprz;
		cfg.unmapped_fill = rows[r].fill;
		cfg.vpd_lbprz_set = rows[r].vpd_set;
		cfg.vpd_lbprz = rows[r].vpd;
		cfg.rc16_lbprz_flip = rows[r].flip;
		cfg.unmap_keep_every = rows[r].keep;
		cfg.resource = rows[r].resource;
		cfg.unmap_granularity = 8;
		assert_int_equal(bc_sim_add_lu(f.sim, &cfg), 0);
		assert_int_equal(bc_sim_open(f.sim, 0, &f.t[0]), 0);
		f.lu[0] = (struct bc_lu){ f.t[0], BS };
		f.n = 1;
		assert_int_equal(bc_lu_read_capacity16(&f.lu[0], &cap, &e), 0);
		assert_true(cap.lbpme);
		assert_int_equal(cap.lbprz, rows[r].rc16_lbprz);
		assert_int_equal(bc_lu_vpd(&f.lu[0], 0xb2, buf, sizeof(buf), &got, &e), 0);
		assert_int_equal(bc_lu_parse_provisioning(buf, got, &pv), 0);
		assert_int_equal(pv.lbprz, rows[r].lbprz_field);
		assert_int_equal(pv.type, rows[r].type);
		assert_int_equal(pv.anc_sup, rows[r].anc_sup);
		write_pattern(&f.lu[0], 0, 64, 9);
		assert_int_equal(bc_sim_read(f.sim, 0, 8, 1, want), 0);
		assert_int_equal(bc_lu_unmap(&f.lu[0], 0, 64, &e), 0);
		assert_int_equal(bc_lu_get_lba_status(&f.lu[0], 0, st, 8, &n, &e), 0);
		for (unsigned k = 0; k < 3; k++) {
			size_t i = 0;
			uint64_t at = 8 * k;

			while (i < n && st[i].lba + st[i].blocks <= at)
				i++;
			assert_true(i < n);
			assert_int_equal(st[i].status, rows[r].status[k]);
		}
		assert_int_equal(bc_sim_read(f.sim, 0, 8, 1, b8), 0);
		if (rows[r].keeps_data)
			assert_memory_equal(b8, want, BS);
		else
			assert_memory_not_equal(b8, want, BS);
		if (rows[r].reads != 0xff)
			assert_true(reads_byte(f.sim, 0, 16, 1, rows[r].reads));
		assert_int_equal(bc_sim_anchored(f.sim, 0, 16), rows[r].status[2] == 2);
		/* the ANCHOR bit needs ANC_SUP */
		{
			uint8_t um[10] = { 0x42, 0x01 }, pl[24] = { 0 };
			struct bc_scsi_cmd c;

			put16(um + 7, 24);
			put16(pl, 22);
			put16(pl + 2, 16);
			put64(pl + 8, 100);
			put32(pl + 16, 4);
			assert_int_equal(raw(f.t[0], &c, um, 10, BC_SCSI_DIR_OUT, pl, 24), 0);
			if (rows[r].anc_sup) {
				assert_int_equal(c.status, 0);
				assert_true(bc_sim_anchored(f.sim, 0, 101));
			} else {
				assert_int_equal(c.status, BC_SAM_CHECK_CONDITION);
				assert_int_equal(ASC(c), 0x2400);
			}
		}
		/* a write ends the anchored state */
		assert_int_equal(bc_sim_anchor(f.sim, 0, 200, 2), 0);
		assert_true(bc_sim_anchored(f.sim, 0, 201));
		write_pattern(&f.lu[0], 201, 1, 3);
		assert_false(bc_sim_anchored(f.sim, 0, 201));
		assert_true(bc_sim_mapped(f.sim, 0, 201));
		assert_true(bc_sim_anchored(f.sim, 0, 200));
		fx_close(&f);
	}
}

static void test_unmap_granules(void **state)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_scsi_transport *t;
	struct bc_sim_lu_cfg cfg;
	struct bc_error e;
	struct bc_lu lu;

	(void)state;
	bc_sim_lu_cfg_spc(&cfg, NBLK, BS, 1);
	cfg.unmap_granularity = 8;
	cfg.unmap_alignment = 2;
	cfg.unmap_granules_only = true;
	assert_int_equal(bc_sim_add_lu(sim, &cfg), 0);
	assert_int_equal(bc_sim_open(sim, 0, &t), 0);
	lu = (struct bc_lu){ t, BS };
	write_pattern(&lu, 0, 64, 1);
	/* [5, 40): only the granules [10, 34) go */
	assert_int_equal(bc_lu_unmap(&lu, 5, 35, &e), 0);
	assert_true(bc_sim_mapped(sim, 0, 9));
	assert_false(bc_sim_mapped(sim, 0, 10));
	assert_false(bc_sim_mapped(sim, 0, 33));
	assert_true(bc_sim_mapped(sim, 0, 34));
	assert_false(reads_byte(sim, 0, 5, 5, 0));	/* old data stays */
	bc_scsi_transport_close(t);
	bc_sim_free(sim);
}

static void test_rsoc_and_opcodes(void **state)
{
	struct fx f, g;
	struct bc_scsi_cmd c;
	uint8_t buf[2048], rsoc[12] = { 0xa3, 0x0c }, bad[16] = { 0xc0 };
	uint8_t gls_bad_sa[16] = { 0x9e, 0x1f }, rc16[16] = { 0x9e, 0x10 };
	bool seen_wut = false;
	uint32_t len;

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	put32(rsoc + 6, sizeof(buf));
	assert_int_equal(raw(f.t[0], &c, rsoc, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	len = get32(buf);
	assert_int_equal(len % 8, 0);
	for (uint32_t off = 4; off < 4 + len; off += 8)
		seen_wut |= buf[off] == 0x83 && buf[off + 3] == 0x11 && (buf[off + 5] & 1);
	assert_true(seen_wut);
	/* one command: WRITE(16) supported, 0x89 not */
	rsoc[2] = 0x01;
	rsoc[3] = 0x8a;
	assert_int_equal(raw(f.t[0], &c, rsoc, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(buf[1] & 7, 3);
	assert_int_equal(buf[2] << 8 | buf[3], 16);
	rsoc[3] = 0x89;
	assert_int_equal(raw(f.t[0], &c, rsoc, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(buf[1] & 7, 1);
	/* option 1 for an opcode with service actions is an error; 2 works */
	rsoc[3] = 0x83;
	assert_int_equal(raw(f.t[0], &c, rsoc, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(ASC(c), 0x2400);
	rsoc[2] = 0x02;
	put16(rsoc + 4, 0x10);
	assert_int_equal(raw(f.t[0], &c, rsoc, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(buf[1] & 7, 3);
	/* unknown opcode, unknown service action, truncated CDB */
	assert_int_equal(raw(f.t[0], &c, bad, 16, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(KEY(c), 0x5);
	assert_int_equal(ASC(c), 0x2000);
	assert_int_equal(raw(f.t[0], &c, gls_bad_sa, 16, BC_SCSI_DIR_IN, buf, 32), 0);
	assert_int_equal(ASC(c), 0x2400);
	assert_int_equal(raw(f.t[0], &c, rc16, 6, BC_SCSI_DIR_IN, buf, 32), 0);
	assert_int_equal(ASC(c), 0x2400);
	assert_int_equal(c.sense[17], 6);
	fx_close(&f);
	/* LIO has no RSOC at all */
	fx_open(&g, 1, bc_sim_lu_cfg_lio, NBLK);
	rsoc[2] = 0;
	assert_int_equal(raw(g.t[0], &c, rsoc, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(raw(g.t[0], &c, rsoc, 12, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(ASC(c), 0x2000);
	fx_close(&g);
}

/* --- EXTENDED COPY -------------------------------------------------------- */

static void test_xcopy_spc(void **state)
{
	struct fx f;
	struct bc_error e;
	struct bc_xcopy_limits xl;
	struct bc_xcopy_segment seg[3] = {
		{ 0, 1000, 100 }, { 200, 1100, 50 }, { 300, 1150, 1 } };

	(void)state;
	fx_open(&f, 2, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 400, 9);
	assert_int_equal(bc_lu_copy_operating_params(&f.lu[0], &xl, &e), 0);
	assert_int_equal(xl.max_cscd, 8);
	assert_int_equal(xl.max_segments, 8);
	assert_true(xl.has_type_02 && xl.has_type_e4);
	assert_int_equal(xcopy(&f, 0, 0, 1, seg, 3, &e), 0);
	assert_true(blocks_equal(f.sim, 0, 0, 1, 1000, 100));
	assert_true(blocks_equal(f.sim, 0, 200, 1, 1100, 50));
	assert_true(blocks_equal(f.sim, 0, 300, 1, 1150, 1));
	assert_true(reads_byte(f.sim, 1, 1151, 100, 0));
	/* the other way, sent to the source (LU 1) */
	assert_int_equal(xcopy(&f, 1, 1, 0, seg, 1, &e), 0);
	assert_int_equal(bc_sim_count(f.sim, BC_SIM_ANY, 0x83, 0x00), 2);
	/* the pair check: one segment of 0 blocks writes nothing */
	seg[0].blocks = 0;
	assert_int_equal(xcopy(&f, 0, 0, 1, seg, 1, &e), 0);
	/* within one LU, overlapping: memmove semantics */
	seg[0] = (struct bc_xcopy_segment){ 0, 10, 100 };
	write_pattern(&f.lu[0], 0, 110, 4);
	{
		uint8_t *want = malloc(100 * BS), *got = malloc(100 * BS);

		assert_int_equal(bc_sim_read(f.sim, 0, 0, 100, want), 0);
		assert_int_equal(xcopy(&f, 0, 0, 0, seg, 1, &e), 0);
		assert_int_equal(bc_sim_read(f.sim, 0, 10, 100, got), 0);
		assert_memory_equal(want, got, 100 * BS);
		free(want);
		free(got);
	}
	fx_close(&f);
}

static void test_xcopy_sparse(void **state)
{
	struct fx f, g;
	struct bc_error e;
	struct bc_xcopy_segment seg = { 0, 0, 1000 };

	(void)state;
	/* an SPC array copies allocation: holes stay holes */
	fx_open(&f, 2, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 100, 10, 1);
	assert_int_equal(xcopy(&f, 0, 0, 1, &seg, 1, &e), 0);
	assert_int_equal(bc_sim_mapped_blocks(f.sim, 1), 10);
	assert_true(blocks_equal(f.sim, 0, 0, 1, 0, 1000));
	fx_close(&f);
	/* LIO writes what it reads: the whole destination is allocated */
	fx_open(&g, 2, bc_sim_lu_cfg_lio, NBLK);
	write_pattern(&g.lu[0], 100, 10, 1);
	assert_int_equal(xcopy(&g, 0, 0, 1, &seg, 1, &e), 0);
	assert_int_equal(bc_sim_mapped_blocks(g.sim, 1), 1000);
	fx_close(&g);
}

static void test_xcopy_unreachable(void **state)
{
	struct fx f;
	struct bc_error e;
	struct bc_sim_lu_cfg other;
	struct bc_designator src, foreign = { .code_set = 1, .type = 3, .len = 16 };
	struct bc_xcopy_segment seg = { 0, 0, 8 };
	uint8_t list[256];
	int len;

	(void)state;
	fx_open(&f, 3, bc_sim_lu_cfg_spc, NBLK);
	/* an LU of another array: COPY ABORTED, copy target not reachable */
	bc_sim_lu_cfg_spc(&other, NBLK, BS, 99);
	memcpy(foreign.id, other.naa, 16);
	src = naa_of(&f.lu[0]);
	len = bc_xcopy_build_list(list, sizeof(list), &src, BS, &foreign, BS, &seg, 1);
	assert_int_equal(bc_lu_extended_copy(&f.lu[0], list, (uint32_t)len, 0, 0, &e),
			 -ECANCELED);
	assert_int_equal(e.status.cat, BC_CAT_COPY_ABORTED);
	assert_int_equal(e.status.sense_key, 0x0a);
	assert_int_equal(e.status.asc, 0x0d);
	assert_int_equal(e.status.ascq, 0x02);
	assert_true(e.status.cmd_specific_valid);
	assert_int_equal(e.status.cmd_specific, 0);	/* segment 0 */
	fx_close(&f);
}

static void test_xcopy_lio(void **state)
{
	struct fx f;
	struct bc_error e;
	struct bc_scsi_cmd c;
	struct bc_designator a, b;
	struct bc_xcopy_segment seg[2] = { { 0, 0, 16 }, { 16, 16, 16 } };
	uint8_t list[2048], cdb[16], rcr[16] = { 0x84, 0x03 }, buf[64];
	int len;

	(void)state;
	fx_open(&f, 3, bc_sim_lu_cfg_lio, NBLK);
	write_pattern(&f.lu[0], 0, 64, 2);
	/* to the source or the destination LU; not to a third one */
	assert_int_equal(xcopy(&f, 0, 0, 1, seg, 1, &e), 0);
	assert_int_equal(xcopy(&f, 1, 0, 1, seg, 1, &e), 0);
	assert_true(blocks_equal(f.sim, 0, 0, 1, 0, 16));
	assert_int_equal(xcopy(&f, 2, 0, 1, seg, 1, &e), -ECANCELED);
	assert_int_equal(e.status.asc << 8 | e.status.ascq, 0x0d02);
	/* two segments: TOO MANY SEGMENT DESCRIPTORS */
	assert_int_equal(xcopy(&f, 0, 0, 1, seg, 2, &e), -EOPNOTSUPP);
	assert_int_equal(e.status.sense_key, 0x5);
	assert_int_equal(e.status.asc << 8 | e.status.ascq, 0x2608);
	/* three CSCDs: TOO MANY TARGET DESCRIPTORS */
	a = naa_of(&f.lu[0]);
	b = naa_of(&f.lu[1]);
	len = bc_xcopy_build_list(list, sizeof(list), &a, BS, &b, BS, seg, 1);
	memmove(list + 16 + 96, list + 16 + 64, 28);
	memcpy(list + 16 + 64, list + 16, 32);
	put16(list + 2, 96);
	bc_xcopy_build_cdb(cdb, (uint32_t)len + 32);
	assert_int_equal(raw(f.t[0], &c, cdb, 16, BC_SCSI_DIR_OUT, list, (size_t)len + 32), 0);
	assert_int_equal(ASC(c), 0x2606);
	/* inline data, and a list over 1024 bytes */
	len = bc_xcopy_build_list(list, sizeof(list), &a, BS, &b, BS, seg, 1);
	put32(list + 12, 4);
	bc_xcopy_build_cdb(cdb, (uint32_t)len + 4);
	assert_int_equal(raw(f.t[0], &c, cdb, 16, BC_SCSI_DIR_OUT, list, (size_t)len + 4), 0);
	assert_int_equal(ASC(c), 0x2600);
	put32(list + 12, 0);
	put32(list + 8, 1000);
	assert_int_equal(raw(f.t[0], &c, cdb, 16, BC_SCSI_DIR_OUT, list, (size_t)len + 4), 0);
	assert_int_equal(ASC(c), 0x1a00);
	/* RECEIVE COPY RESULTS: SA 3 needs 54 bytes, SA 0 does not exist */
	put32(rcr + 10, 53);
	assert_int_equal(raw(f.t[0], &c, rcr, 16, BC_SCSI_DIR_IN, buf, 53), 0);
	assert_int_equal(ASC(c), 0x2400);
	rcr[1] = 0x00;
	put32(rcr + 10, sizeof(buf));
	assert_int_equal(raw(f.t[0], &c, rcr, 16, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(ASC(c), 0x2400);
	fx_close(&f);
}

static void test_xcopy_spc_limits(void **state)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_scsi_transport *t;
	struct bc_sim_lu_cfg cfg;
	struct bc_scsi_cmd c;
	struct bc_designator d;
	struct bc_xcopy_segment seg[9];
	struct bc_lu lu;
	uint8_t list[2048], cdb[16];
	int len;

	(void)state;
	bc_sim_lu_cfg_spc(&cfg, NBLK, BS, 1);
	cfg.xcopy_lim.max_segments = 4;
	cfg.xcopy_lim.max_segment_len = 64 * BS;
	assert_int_equal(bc_sim_add_lu(sim, &cfg), 0);
	assert_int_equal(bc_sim_open(sim, 0, &t), 0);
	lu = (struct bc_lu){ t, BS };
	d = naa_of(&lu);
	for (unsigned i = 0; i < 9; i++)
		seg[i] = (struct bc_xcopy_segment){ i * 10, 1000 + i * 10, 10 };
	len = bc_xcopy_build_list(list, sizeof(list), &d, BS, &d, BS, seg, 5);
	bc_xcopy_build_cdb(cdb, (uint32_t)len);
	assert_int_equal(raw(t, &c, cdb, 16, BC_SCSI_DIR_OUT, list, (size_t)len), 0);
	assert_int_equal(ASC(c), 0x2608);
	/* a segment longer than MAXIMUM SEGMENT LENGTH: the field pointer
	 * names its NUMBER OF BLOCKS */
	seg[1].blocks = 65;
	len = bc_xcopy_build_list(list, sizeof(list), &d, BS, &d, BS, seg, 2);
	bc_xcopy_build_cdb(cdb, (uint32_t)len);
	assert_int_equal(raw(t, &c, cdb, 16, BC_SCSI_DIR_OUT, list, (size_t)len), 0);
	assert_int_equal(ASC(c), 0x2600);
	assert_int_equal(c.sense[15], 0x80);
	assert_int_equal(c.sense[16] << 8 | c.sense[17], 16 + 64 + 28 + 10);
	/* an unknown segment type, a truncated list */
	seg[1].blocks = 10;
	len = bc_xcopy_build_list(list, sizeof(list), &d, BS, &d, BS, seg, 2);
	list[16 + 64 + 28] = 0x03;
	bc_xcopy_build_cdb(cdb, (uint32_t)len);
	assert_int_equal(raw(t, &c, cdb, 16, BC_SCSI_DIR_OUT, list, (size_t)len), 0);
	assert_int_equal(ASC(c), 0x2609);
	bc_xcopy_build_cdb(cdb, (uint32_t)len - 1);
	assert_int_equal(raw(t, &c, cdb, 16, BC_SCSI_DIR_OUT, list, (size_t)len - 1), 0);
	assert_int_equal(ASC(c), 0x1a00);
	bc_scsi_transport_close(t);
	bc_sim_free(sim);
}

static void test_xcopy_abort_progress(void **state)
{
	struct fx f;
	struct bc_error e;
	struct bc_scsi_cmd c;
	struct bc_designator a, b;
	struct bc_xcopy_segment seg[3] = {
		{ 0, 1000, 64 }, { 64, 1064, 64 }, { 128, 1128, 64 } };
	struct bc_sim_fault fault = { .kind = BC_SIM_FAULT_COPY_ABORT, .lu = BC_SIM_ANY,
				      .opcode = 0x83, .sa = 0, .after_blocks = 100 };
	uint8_t list[512], rcr[16] = { 0x84, 0x00, 7 }, buf[128];
	int len;

	(void)state;
	fx_open(&f, 2, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 192, 3);
	assert_int_equal(bc_sim_inject(f.sim, &fault), 0);
	assert_int_equal(xcopy(&f, 0, 0, 1, seg, 3, &e), -ECANCELED);
	/* SPC: segment 1 was being processed, 28 of its blocks not copied */
	assert_int_equal(e.status.asc << 8 | e.status.ascq, 0x0d02);
	assert_int_equal(e.status.cmd_specific, 1);
	assert_true(e.status.info_valid);
	assert_int_equal(e.status.information, 28);
	assert_int_equal(bc_xcopy_segments_done(&e.status, 3), 1);
	assert_true(blocks_equal(f.sim, 0, 0, 1, 1000, 100));
	assert_true(reads_byte(f.sim, 1, 1100, 92, 0));
	assert_int_equal(bc_sim_faults_fired(f.sim), 1);
	/* with a held list identifier RECEIVE COPY RESULTS tells the same */
	fault.after_blocks = 70;
	assert_int_equal(bc_sim_inject(f.sim, &fault), 0);
	a = naa_of(&f.lu[0]);
	b = naa_of(&f.lu[1]);
	len = bc_xcopy_build_list(list, sizeof(list), &a, BS, &b, BS, seg, 3);
	list[0] = 7;
	list[1] = 0x10;				/* LIST ID USAGE 10b */
	assert_int_equal(bc_lu_extended_copy(&f.lu[0], list, (uint32_t)len, 0, 0, &e),
			 -ECANCELED);
	put32(rcr + 10, sizeof(buf));
	assert_int_equal(raw(f.t[0], &c, rcr, 16, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_int_equal(buf[4], 0x02);			/* completed with error */
	assert_int_equal(buf[5] << 8 | buf[6], 1);	/* segments processed */
	assert_int_equal(buf[7], 0xf1);
	assert_int_equal(get32(buf + 8), 70);
	rcr[1] = 0x04;					/* failure details */
	assert_int_equal(raw(f.t[0], &c, rcr, 16, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(buf[56], 0x02);
	assert_int_equal(buf[58] << 8 | buf[59], 18);
	assert_int_equal(buf[60 + 2] & 0x0f, 0x0a);
	/* an unknown list identifier */
	rcr[1] = 0x00;
	rcr[2] = 8;
	assert_int_equal(raw(f.t[0], &c, rcr, 16, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(ASC(c), 0x2400);
	fx_close(&f);
}

static void test_xcopy_abort_lio(void **state)
{
	struct fx f;
	struct bc_error e;
	struct bc_xcopy_segment seg = { 0, 0, 64 };
	struct bc_sim_fault fault = { .kind = BC_SIM_FAULT_COPY_ABORT, .lu = 0,
				      .opcode = BC_SIM_ANY, .sa = BC_SIM_ANY,
				      .after_blocks = 10 };

	(void)state;
	fx_open(&f, 2, bc_sim_lu_cfg_lio, NBLK);
	write_pattern(&f.lu[0], 0, 64, 3);
	assert_int_equal(bc_sim_inject(f.sim, &fault), 0);
	assert_int_equal(xcopy(&f, 0, 0, 1, &seg, 1, &e), -ECANCELED);
	/* LIO says nothing about progress, though 10 blocks landed */
	assert_int_equal(e.status.asc << 8 | e.status.ascq, 0x0d02);
	assert_false(e.status.info_valid);
	assert_int_equal(e.status.cmd_specific, 0);
	assert_int_equal(bc_xcopy_segments_done(&e.status, 1), 0);
	assert_true(blocks_equal(f.sim, 0, 0, 1, 0, 10));
	assert_true(bc_sim_mapped(f.sim, 1, 9));
	assert_false(bc_sim_mapped(f.sim, 1, 10));
	/* fired once: the next copy completes */
	assert_int_equal(xcopy(&f, 0, 0, 1, &seg, 1, &e), 0);
	fx_close(&f);
}

/* --- token copy ----------------------------------------------------------- */

static void test_token_round_trip(void **state)
{
	struct fx f;
	struct bc_scsi_cmd c;
	uint8_t tok[512], buf[1024];
	const uint64_t src[2][2] = { { 0, 100 }, { 200, 100 } };
	const uint64_t dst[2][2] = { { 1000, 150 }, { 2000, 50 } };

	(void)state;
	fx_open(&f, 2, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 300, 7);
	assert_int_equal(populate(f.t[0], 1, src, 2, 0, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	token_of(f.t[0], 1, tok);
	assert_int_equal(get32(tok), 0x00800001);
	assert_int_equal(tok[6] << 8 | tok[7], 0x1f8);
	assert_int_equal(tok[16], 0xe4);		/* creator LU */
	assert_memory_equal(tok + 24, bc_sim_lu_cfg(f.sim, 0)->naa, 16);
	assert_int_equal(get64(tok + 56), 200 * BS);	/* bytes represented */
	/* written through LU 1: the ROD is the two source ranges, in order */
	assert_int_equal(wut(f.t[1], 2, tok, 0, dst, 2, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_true(blocks_equal(f.sim, 0, 0, 1, 1000, 100));
	assert_true(blocks_equal(f.sim, 0, 200, 1, 1100, 50));
	assert_true(blocks_equal(f.sim, 0, 250, 1, 2000, 50));
	assert_int_equal(rrti(f.t[1], 2, buf, sizeof(buf), &c), 0);
	assert_int_equal(buf[4], 0x11);
	assert_int_equal(buf[5], 0x01);
	assert_int_equal(get64(buf + 16), 200);
	/* an offset into the ROD; the ROD ends before the destination does */
	assert_int_equal(wut(f.t[1], 3, tok, 150, dst, 1, 0, &c), 0);
	assert_true(blocks_equal(f.sim, 0, 250, 1, 1000, 50));
	assert_int_equal(rrti(f.t[1], 3, buf, sizeof(buf), &c), 0);
	assert_int_equal(buf[5], 0x04);			/* check the count */
	assert_int_equal(get64(buf + 16), 50);
	/* an offset past the ROD */
	assert_int_equal(wut(f.t[1], 4, tok, 200, dst, 1, 0, &c), 0);
	assert_int_equal(ASC(c), 0x2600);
	assert_int_equal(c.sense[16] << 8 | c.sense[17], 8);
	/* the same token works again, on the source LU too */
	assert_int_equal(wut(f.t[0], 5, tok, 0, dst, 1, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	fx_close(&f);
}

static void test_token_short_transfer(void **state)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_scsi_transport *t;
	struct bc_sim_lu_cfg cfg;
	struct bc_scsi_cmd c;
	uint8_t tok[512], buf[1024];
	const uint64_t r[1][2] = { { 0, 1000 } }, d[1][2] = { { 2000, 1000 } };
	uint8_t *data = malloc(1000 * BS);

	(void)state;
	bc_sim_lu_cfg_spc(&cfg, NBLK, BS, 1);
	cfg.token_lim.wut_max_blocks = 256;
	assert_int_equal(bc_sim_add_lu(sim, &cfg), 0);
	assert_int_equal(bc_sim_open(sim, 0, &t), 0);
	pattern(data, 1000 * BS, 3);
	assert_int_equal(bc_sim_write(sim, 0, 0, 1000, data), 0);
	free(data);
	assert_int_equal(populate(t, 1, r, 1, 0, 0, &c), 0);
	token_of(t, 1, tok);
	/* the array moves 256 blocks: GOOD, and a count that says so */
	assert_int_equal(wut(t, 2, tok, 0, d, 1, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_int_equal(rrti(t, 2, buf, sizeof(buf), &c), 0);
	assert_int_equal(buf[5], 0x04);
	assert_int_equal(get64(buf + 16), 256);
	assert_true(bc_sim_mapped(sim, 0, 2255));
	assert_false(bc_sim_mapped(sim, 0, 2256));
	assert_true(blocks_equal(sim, 0, 0, 0, 2000, 256));
	bc_scsi_transport_close(t);
	bc_sim_free(sim);
}

static void test_token_refusals(void **state)
{
	struct fx f, g;
	struct bc_scsi_cmd c;
	struct bc_error e;
	uint8_t tok[512], bad[512], other[512];
	const uint64_t src[1][2] = { { 0, 100 } }, dst[1][2] = { { 1000, 100 } };

	(void)state;
	fx_open(&f, 2, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 100, 1);
	assert_int_equal(populate(f.t[0], 1, src, 1, 10, 0, &c), 0);
	token_of(f.t[0], 1, tok);
	/* garbled: TOKEN CORRUPT */
	memcpy(bad, tok, 512);
	bad[300] ^= 1;
	assert_int_equal(wut(f.t[1], 2, bad, 0, dst, 1, 0, &c), 0);
	assert_int_equal(KEY(c), 0x5);
	assert_int_equal(ASC(c), 0x2305);
	/* not a ROD type this copy manager makes; a wrong length */
	memcpy(bad, tok, 512);
	put32(bad, 0x00010000);
	assert_int_equal(wut(f.t[1], 2, bad, 0, dst, 1, 0, &c), 0);
	assert_int_equal(ASC(c), 0x2301);
	memcpy(bad, tok, 512);
	bad[7] = 0;
	assert_int_equal(wut(f.t[1], 2, bad, 0, dst, 1, 0, &c), 0);
	assert_int_equal(ASC(c), 0x230a);
	/* another array's token: REMOTE TOKEN USAGE NOT SUPPORTED */
	fx_open(&g, 1, bc_sim_lu_cfg_spc, NBLK);
	assert_int_equal(populate(g.t[0], 1, src, 1, 0, 0, &c), 0);
	token_of(g.t[0], 1, other);
	assert_int_equal(wut(f.t[1], 2, other, 0, dst, 1, 0, &c), 0);
	assert_int_equal(ASC(c), 0x2302);
	fx_close(&g);
	/* the decode the engine sees */
	{
		struct bc_status st;

		bc_lu_decode_sense(c.sense, c.sense_len, c.status, &st);
		assert_int_equal(st.cat, BC_CAT_INVALID_TOKEN);
	}
	/* nothing was written by the refusals */
	assert_true(reads_byte(f.sim, 1, 1000, 100, 0));
	/* expiry: 10 s of inactivity */
	bc_sim_advance(f.sim, 10000);
	assert_int_equal(wut(f.t[1], 2, tok, 0, dst, 1, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);	/* used: timer restarts */
	bc_sim_advance(f.sim, 10001);
	assert_int_equal(wut(f.t[1], 3, tok, 0, dst, 1, 0, &c), 0);
	assert_int_equal(ASC(c), 0x2307);
	/* a write to the source cancels a point-in-time token */
	assert_int_equal(populate(f.t[0], 4, src, 1, 0, 0, &c), 0);
	token_of(f.t[0], 4, tok);
	write_pattern(&f.lu[0], 99, 1, 2);
	assert_int_equal(wut(f.t[1], 5, tok, 0, dst, 1, 0, &c), 0);
	assert_int_equal(ASC(c), 0x2308);
	/* DEL_TKN: used once, then deleted */
	assert_int_equal(populate(f.t[0], 6, src, 1, 0, 0, &c), 0);
	token_of(f.t[0], 6, tok);
	assert_int_equal(wut(f.t[1], 7, tok, 0, dst, 1, 0x02, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_int_equal(wut(f.t[1], 8, tok, 0, dst, 1, 0, &c), 0);
	assert_int_equal(ASC(c), 0x2309);
	/* POPULATE TOKEN limits: 17 ranges, a timeout over 600 s */
	{
		uint64_t many[17][2];

		for (unsigned i = 0; i < 17; i++) {
			many[i][0] = i * 10;
			many[i][1] = 5;
		}
		assert_int_equal(populate(f.t[0], 9, many, 17, 0, 0, &c), 0);
		assert_int_equal(ASC(c), 0x2608);
		many[1][0] = 2;		/* overlapping ranges */
		assert_int_equal(populate(f.t[0], 9, many, 2, 0, 0, &c), 0);
		assert_int_equal(ASC(c), 0x2600);
	}
	assert_int_equal(populate(f.t[0], 9, src, 1, 601, 0, &c), 0);
	assert_int_equal(ASC(c), 0x2600);
	assert_int_equal(c.sense[16] << 8 | c.sense[17], 4);
	(void)e;
	fx_close(&f);
}

static void test_token_table_full(void **state)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_scsi_transport *t;
	struct bc_sim_lu_cfg cfg;
	struct bc_scsi_cmd c;
	const uint64_t r[1][2] = { { 0, 8 } };

	(void)state;
	bc_sim_lu_cfg_spc(&cfg, NBLK, BS, 1);
	cfg.token_lim.max_tokens = 2;
	assert_int_equal(bc_sim_add_lu(sim, &cfg), 0);
	assert_int_equal(bc_sim_open(sim, 0, &t), 0);
	assert_int_equal(populate(t, 1, r, 1, 1, 0, &c), 0);
	assert_int_equal(populate(t, 2, r, 1, 1, 0, &c), 0);
	assert_int_equal(populate(t, 3, r, 1, 1, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_CHECK_CONDITION);
	assert_int_equal(ASC(c), 0x550d);
	/* expired tokens make room */
	bc_sim_advance(sim, 1001);
	assert_int_equal(populate(t, 3, r, 1, 1, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	bc_scsi_transport_close(t);
	bc_sim_free(sim);
}

static void test_token_zero_rod(void **state)
{
	struct fx f;
	struct bc_scsi_cmd c;
	uint8_t zero_tok[512] = { 0xff, 0xff, 0x00, 0x01, 0, 0, 0x01, 0xf8 };
	const uint64_t d[2][2] = { { 10, 20 }, { 100, 5 } };

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 200, 1);
	assert_int_equal(wut(f.t[0], 1, zero_tok, 0, d, 2, 0, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_true(reads_byte(f.sim, 0, 10, 20, 0));
	assert_true(reads_byte(f.sim, 0, 100, 5, 0));
	assert_false(bc_sim_mapped(f.sim, 0, 10));	/* thin + LBPRZ: deallocated */
	assert_true(bc_sim_mapped(f.sim, 0, 30));
	assert_false(reads_byte(f.sim, 0, 30, 1, 0));
	fx_close(&f);
}

static void test_token_immed_and_abort(void **state)
{
	struct fx f;
	struct bc_scsi_cmd c;
	uint8_t tok[512], buf[1024], coa[16] = { 0x83, 0x1c }, rcs[16] = { 0x84, 0x05 };
	const uint64_t src[1][2] = { { 0, 64 } }, dst[1][2] = { { 500, 64 } };
	const uint64_t dst2[1][2] = { { 700, 64 } };

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 64, 1);
	/* IMMED POPULATE TOKEN: in progress at the first poll */
	assert_int_equal(populate(f.t[0], 1, src, 1, 0, 0x01, &c), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	assert_int_equal(rrti(f.t[0], 1, buf, sizeof(buf), &c), 0);
	assert_int_equal(buf[5], 0x12);
	assert_int_equal(get32(buf + 8), 10);		/* status update delay */
	assert_int_equal(get32(buf + 32), 0);		/* no token yet */
	/* the same list identifier while it runs: OPERATION IN PROGRESS */
	assert_int_equal(populate(f.t[0], 1, src, 1, 0, 0, &c), 0);
	assert_int_equal(ASC(c), 0x0016);
	token_of(f.t[0], 1, tok);
	/* IMMED WRITE USING TOKEN: nothing moves until polled */
	assert_int_equal(wut(f.t[0], 2, tok, 0, dst, 1, 0x01, &c), 0);
	assert_true(reads_byte(f.sim, 0, 500, 64, 0));
	put32(rcs + 2, 2);
	put32(rcs + 10, sizeof(buf));
	assert_int_equal(raw(f.t[0], &c, rcs, 16, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(buf[5], 0x12);
	assert_int_equal(raw(f.t[0], &c, rcs, 16, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(buf[4], 0x11);
	assert_int_equal(buf[5], 0x01);
	assert_int_equal(get64(buf + 16), 64);
	assert_true(blocks_equal(f.sim, 0, 0, 0, 500, 64));
	/* COPY OPERATION ABORT before the first poll: nothing written */
	assert_int_equal(wut(f.t[0], 3, tok, 0, dst2, 1, 0x01, &c), 0);
	put32(coa + 2, 3);
	assert_int_equal(raw(f.t[0], &c, coa, 16, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(c.status, BC_SAM_GOOD);
	put32(rcs + 2, 3);
	assert_int_equal(raw(f.t[0], &c, rcs, 16, BC_SCSI_DIR_IN, buf, sizeof(buf)), 0);
	assert_int_equal(buf[5], 0x60);
	assert_true(reads_byte(f.sim, 0, 700, 64, 0));
	/* abort of an unknown list identifier */
	put32(coa + 2, 99);
	assert_int_equal(raw(f.t[0], &c, coa, 16, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ASC(c), 0x2400);
	fx_close(&f);
}

static void test_token_copy_abort_fault(void **state)
{
	struct fx f;
	struct bc_scsi_cmd c;
	uint8_t tok[512], buf[1024];
	const uint64_t src[1][2] = { { 0, 64 } }, dst[1][2] = { { 500, 64 } };
	struct bc_sim_fault fault = { .kind = BC_SIM_FAULT_COPY_ABORT, .lu = BC_SIM_ANY,
				      .opcode = 0x83, .sa = 0x11, .after_blocks = 20,
				      .asc = 0x0d, .ascq = 0x01 };

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	write_pattern(&f.lu[0], 0, 64, 1);
	assert_int_equal(populate(f.t[0], 1, src, 1, 0, 0, &c), 0);
	token_of(f.t[0], 1, tok);
	assert_int_equal(bc_sim_inject(f.sim, &fault), 0);
	assert_int_equal(wut(f.t[0], 2, tok, 0, dst, 1, 0, &c), 0);
	assert_int_equal(KEY(c), 0x0a);
	assert_int_equal(ASC(c), 0x0d01);
	assert_int_equal(rrti(f.t[0], 2, buf, sizeof(buf), &c), 0);
	assert_int_equal(buf[5], 0x02);
	assert_int_equal(get64(buf + 16), 20);
	assert_int_equal(buf[14], 18);			/* the sense is held */
	assert_int_equal(buf[32 + 2] & 0x0f, 0x0a);
	assert_true(blocks_equal(f.sim, 0, 0, 0, 500, 20));
	assert_true(reads_byte(f.sim, 0, 520, 44, 0));
	fx_close(&f);
}

/* --- faults --------------------------------------------------------------- */

static void test_fault_check(void **state)
{
	struct fx f;
	struct bc_error e;
	uint8_t buf[8 * BS];
	struct bc_sim_fault fault = { .kind = BC_SIM_FAULT_CHECK, .lu = 0, .opcode = 0x88,
				      .sa = BC_SIM_ANY, .skip = 1, .key = 0x3, .asc = 0x11,
				      .info_valid = true, .information = 5 };

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	assert_int_equal(bc_sim_inject(f.sim, &fault), 0);
	assert_int_equal(bc_lu_read16(&f.lu[0], 0, 8, buf, &e), 0);
	assert_int_equal(bc_lu_read16(&f.lu[0], 5, 8, buf, &e), -EIO);
	assert_int_equal(e.status.cat, BC_CAT_MEDIUM);
	assert_int_equal(e.status.asc, 0x11);
	assert_true(e.status.info_valid);
	assert_int_equal(e.status.information, 5);
	assert_string_equal(e.op, "READ(16)");
	assert_int_equal(e.lba, 5);
	assert_int_equal(bc_lu_read16(&f.lu[0], 0, 8, buf, &e), 0);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x88, BC_SIM_ANY), 3);
	fx_close(&f);
}

static void test_fault_busy_and_ua(void **state)
{
	struct fx f;
	struct bc_error e;
	struct bc_scsi_cmd c;
	struct bc_sim_log_entry log[BC_SIM_LOG_MAX];
	uint8_t buf[BS], tur[6] = { 0 };
	struct bc_sim_fault busy = { .kind = BC_SIM_FAULT_STATUS, .lu = BC_SIM_ANY,
				     .opcode = 0x88, .sa = BC_SIM_ANY, .count = 2,
				     .status = BC_SAM_BUSY };
	struct bc_sim_fault tsf = { .kind = BC_SIM_FAULT_STATUS, .lu = BC_SIM_ANY,
				    .opcode = BC_SIM_ANY, .sa = BC_SIM_ANY,
				    .status = BC_SAM_TASK_SET_FULL };
	struct bc_sim_fault ua = { .kind = BC_SIM_FAULT_UNIT_ATTENTION, .lu = BC_SIM_ANY,
				   .opcode = BC_SIM_ANY, .sa = BC_SIM_ANY };
	size_t n;

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	/* BUSY twice: bc_lu retries after a pause and gets through */
	assert_int_equal(bc_sim_inject(f.sim, &busy), 0);
	assert_int_equal(bc_lu_read16(&f.lu[0], 0, 1, buf, &e), 0);
	assert_int_equal(bc_sim_count(f.sim, 0, 0x88, BC_SIM_ANY), 3);
	/* TASK SET FULL, as the transport delivers it */
	assert_int_equal(bc_sim_inject(f.sim, &tsf), 0);
	assert_int_equal(raw(f.t[0], &c, tur, 6, BC_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(c.status, BC_SAM_TASK_SET_FULL);
	assert_int_equal(c.sense_len, 0);
	/* a UNIT ATTENTION once: retried at once */
	assert_int_equal(bc_sim_inject(f.sim, &ua), 0);
	assert_int_equal(bc_lu_read16(&f.lu[0], 0, 1, buf, &e), 0);
	n = bc_sim_log(f.sim, log, BC_SIM_LOG_MAX);
	assert_int_equal(n, 6);
	assert_int_equal(log[0].cdb[0], 0x88);
	assert_int_equal(log[0].status, BC_SAM_BUSY);
	assert_int_equal(log[2].status, BC_SAM_GOOD);
	assert_int_equal(log[3].status, BC_SAM_TASK_SET_FULL);
	assert_int_equal(log[4].key, 0x6);
	assert_int_equal(log[4].asc, 0x29);
	assert_int_equal(log[5].status, BC_SAM_GOOD);
	assert_int_equal(bc_sim_log(f.sim, log, 2), 2);
	assert_int_equal(log[0].key, 0x6);			/* the newest two */
	assert_int_equal(bc_sim_faults_fired(f.sim), 4);
	bc_sim_reset_counters(f.sim);
	assert_int_equal(bc_sim_log(f.sim, log, BC_SIM_LOG_MAX), 0);
	assert_int_equal(bc_sim_count(f.sim, BC_SIM_ANY, 0x88, BC_SIM_ANY), 0);
	fx_close(&f);
}

static void test_fault_disconnect(void **state)
{
	struct fx f;
	struct bc_error e;
	uint8_t buf[4 * BS];
	struct bc_sim_fault drop = { .kind = BC_SIM_FAULT_DISCONNECT, .lu = BC_SIM_ANY,
				     .opcode = 0x8a, .sa = BC_SIM_ANY };

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	pattern(buf, sizeof(buf), 1);
	assert_int_equal(bc_sim_inject(f.sim, &drop), 0);
	assert_int_equal(bc_lu_write16(&f.lu[0], 8, 4, buf, &e), -ECONNRESET);
	assert_string_equal(e.op, "WRITE(16)");
	assert_true(e.has_lba);
	assert_int_equal(e.lba, 8);
	assert_false(bc_sim_mapped(f.sim, 0, 8));		/* not delivered */
	assert_int_equal(bc_sim_count(f.sim, 0, 0x8a, BC_SIM_ANY), 0);
	assert_int_equal(bc_lu_write16(&f.lu[0], 8, 4, buf, &e), 0);
	assert_true(bc_sim_mapped(f.sim, 0, 8));
	fx_close(&f);
}

static void test_fault_args(void **state)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_sim_fault f = { .kind = BC_SIM_FAULT_CHECK, .lu = BC_SIM_ANY,
				  .opcode = BC_SIM_ANY, .sa = BC_SIM_ANY };
	struct bc_sim_lu_cfg cfg;
	struct bc_scsi_transport *t;

	(void)state;
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(bc_sim_inject(sim, &f), 0);
	assert_int_equal(bc_sim_inject(sim, &f), -ENOSPC);
	bc_sim_clear_faults(sim);
	assert_int_equal(bc_sim_inject(sim, &f), 0);
	f.kind = 0;
	assert_int_equal(bc_sim_inject(sim, &f), -EINVAL);
	bc_sim_lu_cfg_spc(&cfg, NBLK, 1000, 1);
	assert_int_equal(bc_sim_add_lu(sim, &cfg), -EINVAL);
	bc_sim_lu_cfg_spc(&cfg, NBLK, BS, 1);
	cfg.naa[0] = 0x30;
	assert_int_equal(bc_sim_add_lu(sim, &cfg), -EINVAL);
	assert_int_equal(bc_sim_open(sim, 0, &t), -EINVAL);
	bc_sim_free(sim);
}

/* --- transport ------------------------------------------------------------ */

static void done_cb(struct bc_scsi_cmd *cmd, int rc, const struct bc_error *e,
		    void *arg)
{
	int *n = arg;

	(void)cmd;
	(void)e;
	if (rc == 0)
		(*n)++;
}

static void test_async_and_lifetime(void **state)
{
	struct fx f;
	struct bc_scsi_cmd c[3];
	struct bc_error e;
	uint8_t buf[3][BS];
	int done = 0;

	(void)state;
	fx_open(&f, 1, bc_sim_lu_cfg_spc, NBLK);
	for (int i = 0; i < 3; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].cdb[0] = 0x88;
		c[i].cdb[13] = 1;
		c[i].cdb_len = 16;
		c[i].dir = BC_SCSI_DIR_IN;
		c[i].data = buf[i];
		c[i].data_len = BS;
		c[i].done = done_cb;
		c[i].done_arg = &done;
		assert_int_equal(f.t[0]->ops->submit(f.t[0], &c[i], &e), 0);
	}
	assert_int_equal(f.t[0]->ops->inflight(f.t[0]), 3);
	assert_int_equal(f.t[0]->ops->poll(f.t[0], 0, &e), 3);
	assert_int_equal(done, 3);
	assert_int_equal(f.t[0]->ops->inflight(f.t[0]), 0);
	/* the sim may be freed before its transports are closed */
	bc_sim_free(f.sim);
	assert_int_equal(bc_lu_read16(&f.lu[0], 0, 1, buf[0], &e), 0);
	bc_scsi_transport_close(f.t[0]);
}

struct worker {
	struct bc_scsi_transport *t;
	unsigned n;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct bc_lu lu = { w->t, BS };
	uint8_t out[8 * BS], in[8 * BS];
	struct bc_error e;

	for (unsigned i = 0; i < 200; i++) {
		uint64_t lba = w->n * 1000 + (i % 100) * 8;

		pattern(out, sizeof(out), w->n * 1000 + i);
		if (bc_lu_write16(&lu, lba, 8, out, &e) < 0 ||
		    bc_lu_read16(&lu, lba, 8, in, &e) < 0 || memcmp(in, out, sizeof(in)))
			w->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct bc_sim *sim = bc_sim_new();
	struct bc_sim_lu_cfg cfg;
	struct worker w[4];
	pthread_t th[4];

	(void)state;
	bc_sim_lu_cfg_spc(&cfg, NBLK, BS, 1);
	assert_int_equal(bc_sim_add_lu(sim, &cfg), 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ .n = i };
		assert_int_equal(bc_sim_open(sim, 0, &w[i].t), 0);
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
		bc_scsi_transport_close(w[i].t);
	}
	assert_int_equal(bc_sim_count(sim, 0, 0x8a, BC_SIM_ANY), 800);
	bc_sim_free(sim);
}

/* --- fuzz smoke ----------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random CDBs and parameter lists against every command: under the
 * sanitizers this checks the bounds of every parser.  Half the CDBs take
 * an opcode the sim knows, and lists start from valid-looking headers.
 */
static void test_fuzz_smoke(void **state)
{
	static const uint8_t known[] = { 0x00, 0x12, 0x25, 0x28, 0x2a, 0x35, 0x41, 0x42,
					 0x83, 0x84, 0x88, 0x8a, 0x91, 0x93, 0x9e, 0xa0, 0xa3 };
	struct fx f;
	uint64_t s = 0x2545f4914f6cdd1dull;
	uint8_t *buf = malloc(70000);

	(void)state;
	fx_open(&f, 2, bc_sim_lu_cfg_spc, 256);
	for (unsigned i = 0; i < 40000; i++) {
		struct bc_scsi_cmd c;
		struct bc_error e;
		uint8_t cdb[16];
		size_t len = rnd(&s) % 4 ? rnd(&s) % 1100 : rnd(&s) % 70000;
		unsigned lu = rnd(&s) & 1;
		int rc;

		for (int k = 0; k < 16; k++)
			cdb[k] = (uint8_t)rnd(&s);
		if (i & 1)
			cdb[0] = known[rnd(&s) % sizeof(known)];
		/* keep LBAs and lengths small often enough to reach the depths */
		if (rnd(&s) % 2) {
			memset(cdb + 2, 0, 8);
			cdb[9] = (uint8_t)(rnd(&s) % 256);
			cdb[10] = cdb[11] = 0;
			put16(cdb + 12, (uint16_t)(len < 0xffff ? len : 0xffff));
		}
		if (cdb[0] == 0x83 || cdb[0] == 0x84 || cdb[0] == 0x9e || cdb[0] == 0xa3)
			cdb[1] = (uint8_t)(cdb[1] & 0x1f) % 0x20;
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rnd(&s);
		if (len >= 16 && rnd(&s) % 2) {
			/* plausible list headers: small lengths */
			put16(buf, (uint16_t)(len - 2));
			put16(buf + 2, (uint16_t)(32 * (rnd(&s) % 4)));
			put32(buf + 8, (uint32_t)(28 * (rnd(&s) % 4)));
			put32(buf + 12, 0);
			put16(buf + 14, (uint16_t)(16 * (rnd(&s) % 3)));
		}
		rc = raw(f.t[lu], &c, cdb, (uint8_t)(6 + rnd(&s) % 11),
			 rnd(&s) % 2 ? BC_SCSI_DIR_OUT : BC_SCSI_DIR_IN, buf, len);
		(void)e;
		assert_true(rc == 0 || rc == -EINVAL);
		assert_true(c.sense_len <= BC_SENSE_MAX);
		assert_true(c.resid <= len);
	}
	free(buf);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery_spc),
		cmocka_unit_test(test_discovery_lio),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_sparse_memory),
		cmocka_unit_test(test_lba_status),
		cmocka_unit_test(test_lio_provisioning),
		cmocka_unit_test(test_unmap_lists),
		cmocka_unit_test(test_unmap_granules),
		cmocka_unit_test(test_provisioning_personalities),
		cmocka_unit_test(test_rsoc_and_opcodes),
		cmocka_unit_test(test_xcopy_spc),
		cmocka_unit_test(test_xcopy_sparse),
		cmocka_unit_test(test_xcopy_unreachable),
		cmocka_unit_test(test_xcopy_lio),
		cmocka_unit_test(test_xcopy_spc_limits),
		cmocka_unit_test(test_xcopy_abort_progress),
		cmocka_unit_test(test_xcopy_abort_lio),
		cmocka_unit_test(test_token_round_trip),
		cmocka_unit_test(test_token_short_transfer),
		cmocka_unit_test(test_token_refusals),
		cmocka_unit_test(test_token_table_full),
		cmocka_unit_test(test_token_zero_rod),
		cmocka_unit_test(test_token_immed_and_abort),
		cmocka_unit_test(test_token_copy_abort_fault),
		cmocka_unit_test(test_fault_check),
		cmocka_unit_test(test_fault_busy_and_ua),
		cmocka_unit_test(test_fault_disconnect),
		cmocka_unit_test(test_fault_args),
		cmocka_unit_test(test_async_and_lifetime),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_fuzz_smoke),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
