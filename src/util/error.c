// SPDX-License-Identifier: LGPL-2.1-or-later
/* Recording and formatting errors (see include/blkclone/error.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <blkclone/error.h>

void bc_error_clear(struct bc_error *e)
{
	if (e)
		memset(e, 0, sizeof(*e));
}

static void copy_str(char *dst, size_t len, const char *src)
{
	if (!src)
		src = "";
	snprintf(dst, len, "%s", src);
}

static int error_vset(struct bc_error *e, int err, const char *device,
		      const char *op, bool has_lba, uint64_t lba,
		      uint32_t block_size, const char *fmt, va_list ap)
{
	if (!e)
		return err;
	/* Keep the device status if a lower layer already filled it in for
	 * this same failure; everything else describes the new error. */
	struct bc_status keep = e->status;
	memset(e, 0, sizeof(*e));
	e->status = keep;
	e->err = err;
	copy_str(e->device, sizeof(e->device), device);
	copy_str(e->op, sizeof(e->op), op);
	e->has_lba = has_lba;
	e->lba = lba;
	e->block_size = block_size;
	if (fmt)
		vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	return err;
}

int bc_error_set(struct bc_error *e, int err, const char *device,
		 const char *op, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	/* an OS error: no device status, and so no category left over from
	 * an earlier one (a probe's benign ILLEGAL REQUEST), which would
	 * read as "refused" (offload.c) */
	if (e)
		memset(&e->status, 0, sizeof(e->status));
	rc = error_vset(e, err, device, op, false, 0, 0, fmt, ap);
	va_end(ap);
	return rc;
}

int bc_error_set_lba(struct bc_error *e, int err, const char *device,
		     const char *op, uint64_t lba, uint32_t block_size,
		     const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = error_vset(e, err, device, op, true, lba, block_size, fmt, ap);
	va_end(ap);
	return rc;
}

const char *bc_error_format(const struct bc_error *e, char *buf, size_t len)
{
	size_t n = 0;

#define APPEND(...)							\
	do {								\
		if (n < len) {						\
			int w = snprintf(buf + n, len - n, __VA_ARGS__); \
			if (w > 0)					\
				n += (size_t)w;				\
		}							\
	} while (0)

	if (!len)
		return buf;
	buf[0] = '\0';
	if (e->device[0])
		APPEND("%s: ", e->device);
	if (e->op[0])
		APPEND("%s", e->op);
	if (e->has_lba) {
		APPEND(" at LBA %" PRIu64, e->lba);
		if (e->block_size)
			APPEND(" (byte %" PRIu64 ")",
			       e->lba * (uint64_t)e->block_size);
	}
	if (e->detail[0])
		APPEND("%s%s", n ? ": " : "", e->detail);
	if (e->err && e->status.kind == BC_STATUS_NONE)
		APPEND("%s%s", n ? ": " : "", strerror(-e->err));
#undef APPEND
	return buf;
}

bool bc_error_is_refusal(int err)
{
	switch (err) {
	case -ENOENT: case -EINVAL: case -EBUSY: case -EACCES: case -EPERM:
	case -EROFS: case -ENOSPC: case -ENOTBLK: case -ENODEV:
	case -EPROTONOSUPPORT: case -EISDIR: case -EXDEV: case -ENOLCK:
		return true;
	}
	return false;
}
