/* libFuzzer: option values an admin types (--offload, --resume-from,
 * --timeout, the sizes of --chunk and --write-behind). */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum bc_offload_policy pol;
	char *s = malloc(size + 1), back[32];
	const char *digits;
	uint64_t lba, bytes;
	unsigned secs;
	size_t n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (bc_cli_parse_offload(s, &pol) == 0 &&
	    strcmp(s, pol == BC_OFFLOAD_AUTO ? "auto" :
		      pol == BC_OFFLOAD_REQUIRE ? "require" : "never"))
		__builtin_trap();	/* only the exact three words */
	if (bc_cli_parse_lba(s, &lba) == 0) {
		/* accepted: all digits, and the value prints back as typed
		 * (less leading zeros) */
		digits = s + strspn(s, "0");
		if (!*s || s[strspn(s, "0123456789")])
			__builtin_trap();
		snprintf(back, sizeof(back), "%" PRIu64, lba);
		if (strcmp(back, *digits ? digits : "0"))
			__builtin_trap();
	} else if (*s && !s[strspn(s, "0123456789")] &&
		   strlen(s + strspn(s, "0")) < 20) {
		__builtin_trap();	/* a plain number below 10^19 refused */
	}
	/* seconds: exactly the LBAs from 1 to 2^32 - 1 */
	if (bc_cli_parse_seconds(s, &secs) == 0 &&
	    (bc_cli_parse_lba(s, &lba) < 0 || lba != secs || !secs))
		__builtin_trap();
	if (bc_cli_parse_seconds(s, &secs) < 0 && bc_cli_parse_lba(s, &lba) == 0 &&
	    lba && lba <= UINT32_MAX)
		__builtin_trap();
	/* a size: a number, or a number and one of K M G T that does not
	 * overflow; the number alone parses as an LBA */
	n = strlen(s);
	if (bc_cli_parse_size(s, &bytes) == 0) {
		const char *u = n > 1 ? strchr("KMGT", s[n - 1]) : NULL;
		unsigned shift = u && *u ? 10 * (unsigned)(u - "KMGT" + 1) : 0;

		if (shift)
			s[n - 1] = '\0';
		if (bc_cli_parse_lba(s, &lba) < 0 || (lba << shift) >> shift != lba ||
		    lba << shift != bytes)
			__builtin_trap();
	} else if (bc_cli_parse_lba(s, &lba) == 0) {
		__builtin_trap();	/* a plain number refused */
	}
	free(s);
	return 0;
}
