/*
 * Send one CDB to an iSCSI LU and print the reply as a fixture file:
 *   scsi-capture URL CDB-HEX [ALLOC-LEN] [SOURCE-NOTE]
 * Data-in (or sense, on CHECK CONDITION) is printed as commented hex,
 * 16 bytes a line, the format tests/unit/fixture.c reads.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/iscsi/session.h"
#include "scsi/transport.h"

int main(int argc, char **argv)
{
	struct bc_scsi_transport *t;
	struct bc_scsi_cmd c = { 0 };
	struct bc_error e = { 0 };
	size_t alloc = argc > 3 ? strtoul(argv[3], NULL, 0) : 4096, n;
	const char *hex = argc > 2 ? argv[2] : "";
	uint8_t *buf;
	char msg[512];

	if (argc < 3) {
		fprintf(stderr, "usage: %s URL CDB-HEX [ALLOC-LEN] [NOTE]\n", argv[0]);
		return 2;
	}
	for (n = 0; hex[2 * n] && hex[2 * n + 1] && n < sizeof(c.cdb); n++) {
		unsigned v;

		if (sscanf(hex + 2 * n, "%2x", &v) != 1)
			return 2;
		c.cdb[n] = (uint8_t)v;
	}
	c.cdb_len = (uint8_t)n;
	buf = calloc(1, alloc);
	c.dir = alloc ? BC_SCSI_DIR_IN : BC_SCSI_DIR_NONE;
	c.data = buf;
	c.data_len = alloc;
	if (bc_iscsi_connect(argv[1], &t, &e) < 0 || bc_scsi_execute(t, &c, &e) < 0) {
		fprintf(stderr, "%s\n", bc_error_format(&e, msg, sizeof(msg)));
		return 1;
	}
	printf("# source: %s\n", argc > 4 ? argv[4] : argv[1]);
	printf("# cdb: %s\n", hex);
	printf("# status: 0x%02x%s\n", c.status,
	       c.status == BC_SAM_CHECK_CONDITION ? " (sense data follows)" : "");
	if (c.status == BC_SAM_CHECK_CONDITION) {
		n = c.sense_len;
		memcpy(buf, c.sense, n);
	} else {
		n = alloc - c.resid;
	}
	for (size_t i = 0; i < n; i++)
		printf("%02x%s", buf[i], (i % 16 == 15 || i + 1 == n) ? "\n" : " ");
	bc_scsi_transport_close(t);
	free(buf);
	return 0;
}
