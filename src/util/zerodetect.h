/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef BC_ZERODETECT_H
#define BC_ZERODETECT_H

#include <stdbool.h>
#include <stddef.h>

/* True when all @len bytes of @p are zero (len may be 0). */
bool bc_is_zero(const void *p, size_t len);

#endif
