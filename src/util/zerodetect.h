/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef BC_ZERODETECT_H
#define BC_ZERODETECT_H

#include <stdbool.h>
#include <stddef.h>

/* True when all @len bytes of @p are zero (len may be 0). */
bool bc_is_zero(const void *p, size_t len);

/*
 * The run at the start of @p (@len > 0 bytes) of @gran-byte pieces, the
 * last perhaps shorter, that are all zero or all not: its length (at least
 * one piece, so a caller always moves on), and in *zero which kind.
 */
size_t bc_zero_run(const void *p, size_t len, size_t gran, bool *zero);

#endif
