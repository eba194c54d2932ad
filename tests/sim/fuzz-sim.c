/*
 * libFuzzer: the simulator as a target (it parses everything an initiator
 * sends).  The input is a script of up to 32 commands, each
 *   byte 0: LU (low 2 bits), data direction (bits 2-3), advance clock (bit 4)
 *   byte 1: CDB length (6..16)
 *   16 bytes of CDB
 *   2 bytes: data-out length N, then N bytes (data-in gets a buffer of N)
 * against two SPC LUs and a LIO-like one of 64 blocks.  Build with
 *   clang -fsanitize=fuzzer,address,undefined -include config.h -Iinclude -Isrc
 *     tests/sim/fuzz-sim.c tests/sim/simlu*.c src/util/error.c -lpthread
 */
#include <stdlib.h>
#include <string.h>

#include "simlu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_scsi_transport *t[3];
	struct bc_sim *sim = bc_sim_new();
	struct bc_sim_lu_cfg cfg;
	static uint8_t buf[65536 + 16];
	size_t off = 0;

	if (!sim)
		return 0;
	for (unsigned i = 0; i < 3; i++) {
		if (i < 2)
			bc_sim_lu_cfg_spc(&cfg, 64, 512, i + 1);
		else
			bc_sim_lu_cfg_lio(&cfg, 64, 512, i + 1);
		cfg.token_lim.max_tokens = 4;
		if (bc_sim_add_lu(sim, &cfg) < 0 || bc_sim_open(sim, i, &t[i]) < 0)
			__builtin_trap();
	}
	for (int n = 0; n < 32 && off + 20 <= size; n++) {
		struct bc_scsi_cmd c;
		struct bc_error e;
		uint8_t ctl = data[off], len = data[off + 1];
		size_t dlen = (size_t)data[off + 18] << 8 | data[off + 19];
		int rc;

		memset(&c, 0, sizeof(c));
		c.cdb_len = (uint8_t)(6 + len % 11);
		memcpy(c.cdb, data + off + 2, 16);
		off += 20;
		c.dir = (enum bc_scsi_dir)((ctl >> 2) % 3);
		if (c.dir == BC_SCSI_DIR_OUT) {
			if (dlen > size - off)
				dlen = size - off;
			memcpy(buf, data + off, dlen);
			off += dlen;
		}
		c.data = buf;
		c.data_len = dlen;
		if (ctl & 0x10)
			bc_sim_advance(sim, 61000);
		rc = t[(ctl & 3) % 3]->ops->execute(t[(ctl & 3) % 3], &c, &e);
		if ((rc && rc != -22) || c.sense_len > BC_SENSE_MAX || c.resid > dlen)
			__builtin_trap();
	}
	for (unsigned i = 0; i < 3; i++)
		t[i]->ops->close(t[i]);
	bc_sim_free(sim);
	return 0;
}
