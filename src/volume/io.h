/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The way into a volume's backend for the engine and the CLI, as QEMU's
 * block layer is for its drivers: each call checks the request against
 * the volume and answers -EOPNOTSUPP (with @e filled in) where the backend
 * has no such operation, so nothing above this layer reaches into v->ops.
 *
 * Checked: the offset is whole blocks and [off, off + len) lies inside the
 * volume.  A length that ends inside a block is left to the backend: a
 * file takes any (a source whose size is not whole blocks ends in one), a
 * device refuses it itself (core/copy.c's size rule).
 */
#ifndef BC_VOLUME_IO_H
#define BC_VOLUME_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/volume.h>

int bc_volume_read(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		   struct bc_error *e);
int bc_volume_write(struct bc_volume *v, const void *buf, uint64_t off,
		    size_t len, struct bc_error *e);
/* The backend's map as it answered (ops->map); volume/extent.h checks it. */
int bc_volume_map(struct bc_volume *v, uint64_t off, uint64_t len,
		  struct bc_extent *out, size_t max, size_t *n,
		  struct bc_error *e);
int bc_volume_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		   unsigned flags, struct bc_error *e);
int bc_volume_discard(struct bc_volume *v, uint64_t off, uint64_t len,
		      struct bc_error *e);
int bc_volume_flush(struct bc_volume *v, struct bc_error *e);
/* ops->flush_early, or ->flush (*early false) when the backend has none. */
int bc_volume_flush_early(struct bc_volume *v, bool *early, struct bc_error *e);
/* ops->offload_copy, with both ranges checked; *done is 0 if not sent.
 * @stop (may be NULL) bounds an operation the backend polls. */
int bc_volume_offload_copy(struct bc_volume *src, uint64_t src_off,
			   struct bc_volume *dst, uint64_t dst_off,
			   uint64_t len, enum bc_method method,
			   const struct bc_stop *stop, uint64_t *done,
			   struct bc_error *e);

/* A map the engine may use: the backend has one and @c, its probe's
 * answer (NULL: not probed), found it working. */
/* ops->capture: the extents checked (inside @src, whole blocks,
 * ascending), @method one the backend runs; -EOPNOTSUPP without one. */
int bc_volume_capture(struct bc_volume *src, struct bc_volume *dst,
		      enum bc_method method, const struct bc_extent *x,
		      size_t n, const struct bc_stop *stop,
		      struct bc_capture **out, char *said, size_t said_len,
		      struct bc_error *e);
/* ops->capture_copy, with both ranges checked; *done is 0 if not sent. */
int bc_volume_capture_copy(struct bc_capture *cap, struct bc_volume *src,
			   uint64_t src_off, struct bc_volume *dst,
			   uint64_t dst_off, uint64_t len,
			   const struct bc_stop *stop, uint64_t *done,
			   struct bc_error *e);
/* ops->capture_free of @src's backend; NULL is fine. */
void bc_volume_capture_free(struct bc_volume *src, struct bc_capture *cap);
/* Can @v fix a point in time for @method (ops->capture)? */
bool bc_volume_can_capture(const struct bc_volume *v, enum bc_method method);

bool bc_volume_has_map(const struct bc_volume *v, const struct bc_caps *c);
/* For callers to whom a missing operation is no error: a volume with
 * nothing to flush, a backend without a copy manager. */
bool bc_volume_can_flush(const struct bc_volume *v);
bool bc_volume_can_offload(const struct bc_volume *v);

#endif
