// SPDX-License-Identifier: LGPL-2.1-or-later
/* Checked calls into a volume's backend (see io.h). */
#include <errno.h>
#include <inttypes.h>

#include "volume/io.h"

static uint32_t block_of(const struct bc_volume *v)
{
	return v->block_size ? v->block_size : 1;
}

/* [off, off + len) inside @v, without overflowing on a huge @len. */
static int check_range(struct bc_volume *v, const char *op, uint64_t off,
		       uint64_t len, struct bc_error *e)
{
	uint32_t bs = block_of(v);

	if (off > v->size || len > v->size - off)
		return bc_error_set_lba(e, -EINVAL, v->name, op, off / bs, bs,
					"%" PRIu64 " bytes from here run past the end (%" PRIu64 " bytes)",
					len, v->size);
	return 0;
}

/* As check_range, and the offset whole blocks (see io.h for lengths). */
static int check_io(struct bc_volume *v, const char *op, uint64_t off,
		    uint64_t len, struct bc_error *e)
{
	uint32_t bs = block_of(v);

	if (off % bs)
		return bc_error_set_lba(e, -EINVAL, v->name, op, off / bs, bs,
					"offset %" PRIu64 " is not whole %u-byte blocks",
					off, bs);
	return check_range(v, op, off, len, e);
}

static int no_op(struct bc_volume *v, const char *op, struct bc_error *e)
{
	return bc_error_set(e, -EOPNOTSUPP, v->name, op, NULL);
}

int bc_volume_read(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		   struct bc_error *e)
{
	int rc = check_io(v, "read", off, len, e);

	if (rc < 0)
		return rc;
	if (!v->ops->read)
		return no_op(v, "read", e);
	return v->ops->read(v, buf, off, len, e);
}

int bc_volume_write(struct bc_volume *v, const void *buf, uint64_t off,
		    size_t len, struct bc_error *e)
{
	int rc = check_io(v, "write", off, len, e);

	if (rc < 0)
		return rc;
	if (!v->ops->write)
		return no_op(v, "write", e);
	return v->ops->write(v, buf, off, len, e);
}

/* Only the range: a file's map is in bytes (SEEK_DATA/SEEK_HOLE), so a
 * walk over it may stand at any byte. */
int bc_volume_map(struct bc_volume *v, uint64_t off, uint64_t len,
		  struct bc_extent *out, size_t max, size_t *n,
		  struct bc_error *e)
{
	int rc = check_range(v, "map", off, len, e);

	*n = 0;
	if (rc < 0)
		return rc;
	if (!v->ops->map)
		return no_op(v, "map", e);
	return v->ops->map(v, off, len, out, max, n, e);
}

int bc_volume_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		   unsigned flags, struct bc_error *e)
{
	int rc = check_io(v, "zero", off, len, e);

	if (rc < 0)
		return rc;
	if (!v->ops->zero)
		return no_op(v, "zero", e);
	return v->ops->zero(v, off, len, flags, e);
}

int bc_volume_discard(struct bc_volume *v, uint64_t off, uint64_t len,
		      struct bc_error *e)
{
	int rc = check_io(v, "discard", off, len, e);

	if (rc < 0)
		return rc;
	if (!v->ops->discard)
		return no_op(v, "discard", e);
	return v->ops->discard(v, off, len, e);
}

int bc_volume_flush(struct bc_volume *v, struct bc_error *e)
{
	if (!v->ops->flush)
		return no_op(v, "flush", e);
	return v->ops->flush(v, e);
}

int bc_volume_flush_early(struct bc_volume *v, bool *early, struct bc_error *e)
{
	*early = false;
	if (v->ops->flush_early)
		return v->ops->flush_early(v, early, e);
	return bc_volume_flush(v, e);
}

int bc_volume_offload_copy(struct bc_volume *src, uint64_t src_off,
			   struct bc_volume *dst, uint64_t dst_off,
			   uint64_t len, enum bc_method method,
			   const struct bc_stop *stop, uint64_t *done,
			   struct bc_error *e)
{
	int rc;

	*done = 0;
	if ((rc = check_io(src, "offload copy", src_off, len, e)) < 0 ||
	    (rc = check_io(dst, "offload copy", dst_off, len, e)) < 0)
		return rc;
	if (!src->ops->offload_copy)
		return bc_error_set(e, -EOPNOTSUPP, src->name, "offload copy",
				    "%s is not implemented for this volume",
				    bc_method_name(method));
	static const struct bc_stop never;

	return src->ops->offload_copy(src, src_off, dst, dst_off, len, method,
				      stop ? stop : &never, done, e);
}

bool bc_volume_can_capture(const struct bc_volume *v, enum bc_method method)
{
	return v->ops->capture && v->ops->capture_copy && v->ops->capture_free &&
	       (v->ops->methods & BC_METHOD_BIT(method));
}

int bc_volume_capture(struct bc_volume *src, struct bc_volume *dst,
		      enum bc_method method, const struct bc_extent *x,
		      size_t n, const struct bc_stop *stop,
		      struct bc_capture **out, char *said, size_t said_len,
		      struct bc_error *e)
{
	static const struct bc_stop never;
	uint64_t end = 0;
	int rc;

	*out = NULL;
	if (said_len)
		said[0] = '\0';
	if (!bc_volume_can_capture(src, method))
		return bc_error_set(e, -EOPNOTSUPP, src->name, "capture",
				    "%s cannot fix a point in time on this volume",
				    bc_method_name(method));
	for (size_t i = 0; i < n; i++) {
		if ((rc = check_io(src, "capture", x[i].offset, x[i].length, e)) < 0)
			return rc;
		if (x[i].offset < end || !x[i].length || x[i].length % block_of(src))
			return bc_error_set_lba(e, -EINVAL, src->name, "capture",
						x[i].offset / block_of(src), block_of(src),
						"extents must be whole blocks, ascending, not overlapping");
		end = x[i].offset + x[i].length;
	}
	return src->ops->capture(src, dst, method, x, n, stop ? stop : &never,
				 out, said, said_len, e);
}

int bc_volume_capture_copy(struct bc_capture *cap, struct bc_volume *src,
			   uint64_t src_off, struct bc_volume *dst,
			   uint64_t dst_off, uint64_t len,
			   const struct bc_stop *stop, uint64_t *done,
			   struct bc_error *e)
{
	static const struct bc_stop never;
	int rc;

	*done = 0;
	if ((rc = check_io(src, "copy", src_off, len, e)) < 0 ||
	    (rc = check_io(dst, "copy", dst_off, len, e)) < 0)
		return rc;
	if (!cap || !src->ops->capture_copy)
		return bc_error_set(e, -EINVAL, src->name, "copy",
				    "no point in time was fixed for this copy");
	return src->ops->capture_copy(cap, src, src_off, dst, dst_off, len,
				      stop ? stop : &never, done, e);
}

void bc_volume_capture_free(struct bc_volume *src, struct bc_capture *cap)
{
	if (cap && src->ops->capture_free)
		src->ops->capture_free(cap);
}

bool bc_volume_has_map(const struct bc_volume *v, const struct bc_caps *c)
{
	return v->ops->map && c && c->extent_map.state == BC_SUP_YES;
}

bool bc_volume_can_flush(const struct bc_volume *v)
{
	return v->ops->flush != NULL;
}

bool bc_volume_can_offload(const struct bc_volume *v)
{
	return v->ops->offload_copy != NULL;
}
