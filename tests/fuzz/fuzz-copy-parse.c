/* libFuzzer: parsers of what copy managers return -- RECEIVE COPY
 * OPERATING PARAMETERS, VPD 0x8F, RECEIVE ROD TOKEN INFORMATION, COPY
 * ABORTED progress -- and of device-mapper linear and multipath table
 * and status lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/lu.h"
#include "scsi/token.h"
#include "scsi/xcopy.h"
#include "volume/dmtable.h"
#include "volume/stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_xcopy_limits xl;
	struct bc_tpc_info tpc;
	struct bc_token_status ts;
	struct bc_xcopy_shape sh;
	struct bc_status st;
	unsigned ma, mi;
	uint64_t sector;
	char *s;

	if (bc_lu_parse_copy_params(data, size, &xl) == 0 &&
	    bc_xcopy_shape(&xl, 512, &sh) == 0 &&
	    (sh.seg_blocks == 0 || sh.seg_blocks > 65535 || sh.segs_per_cmd == 0))
		__builtin_trap();
	bc_tpc_parse_vpd(data, size, &tpc);
	bc_token_parse_rrti(data, size, &ts);
	bc_lu_decode_sense(data, size, 2, &st);
	if (bc_xcopy_segments_done(&st, 4) > 4)
		__builtin_trap();
	s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
		bc_stack_parse_linear(s, &ma, &mi, &sector);
		for (int status = 0; status < 2; status++) {
			struct bc_mpath_path mp[4];
			size_t n = 0;

			/* never more paths than room, whatever it returns */
			bc_dm_parse_multipath(s, status, mp, 4, &n);
			if (n > 4)
				__builtin_trap();
		}
		free(s);
	}
	return 0;
}
