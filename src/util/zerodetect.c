// SPDX-License-Identifier: LGPL-2.1-or-later
/* Zero detection, on the host copy's hot path. */
#include <stdint.h>
#include <string.h>

#include "util/zerodetect.h"

bool bc_is_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t head = 0;

	/* Check a short prefix byte by byte so most data blocks are
	 * rejected at once; then compare the buffer with itself shifted by
	 * that prefix, which memcmp does with wide loads. */
	while (head < len && head < 16) {
		if (b[head])
			return false;
		head++;
	}
	if (head == len)
		return true;
	return memcmp(b, b + head, len - head) == 0;
}
