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

size_t bc_zero_run(const void *p, size_t len, size_t gran, bool *zero)
{
	const unsigned char *b = p;
	size_t run;

	if (!gran || gran > len)
		gran = len;
	*zero = bc_is_zero(b, gran);
	for (run = gran; run < len; ) {
		size_t piece = len - run < gran ? len - run : gran;

		if (bc_is_zero(b + run, piece) != *zero)
			break;
		run += piece;
	}
	return run;
}
