/* libFuzzer: address classification (the string a user types). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "volume/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char why[256];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	why[0] = '\0';
	if (bc_addr_classify(s, why, sizeof(why)) == BC_ADDR_INVALID &&
	    !why[0])
		__builtin_trap();	/* every refusal says why */
	bc_addr_kind_of_blockdev(s, size & 1);
	free(s);
	return 0;
}
