/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For backends: making a volume object and stating its capabilities (object.c). */
#ifndef BC_VOLUME_OBJECT_H
#define BC_VOLUME_OBJECT_H

#include <stddef.h>

#include <blkclone/volume.h>

/* Allocate a volume with @priv_size bytes of backend state after it. */
struct bc_volume *bc_volume_alloc(const struct bc_volume_ops *ops,
				  const char *name, size_t priv_size);
void bc_volume_free(struct bc_volume *v);

/* Set a capability's state and the evidence for it, printf-style. */
void bc_feature_set(struct bc_feature *f, enum bc_support s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
