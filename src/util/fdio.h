/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whole-buffer pread/pwrite for file descriptors, shared by backends. */
#ifndef BC_FDIO_H
#define BC_FDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/error.h>

/* Read exactly @len bytes at @off; a read past EOF fills zeros (files). */
int bc_fd_read_full(int fd, void *buf, size_t len, uint64_t off,
		    const char *dev, uint32_t bs, struct bc_error *e);
int bc_fd_write_full(int fd, const void *buf, size_t len, uint64_t off,
		     const char *dev, uint32_t bs, struct bc_error *e);
/* Write zeros with plain writes, the fallback of every zeroing path. */
int bc_fd_write_zeros(int fd, uint64_t off, uint64_t len, bool direct,
		      const char *dev, uint32_t bs, struct bc_error *e);

struct bc_extent;

/*
 * Allocation map of [off, end) from a file's SEEK_DATA/SEEK_HOLE, where
 * byte X of the volume is byte X + @base of file @fd.  Boundaries are
 * rounded outward to @gran bytes so data never shrinks.  Fills at most
 * @max contiguous extents from @off.
 */
int bc_fd_seek_map(int fd, uint64_t base, uint64_t off, uint64_t end,
		   uint32_t gran, struct bc_extent *out, size_t max, size_t *n,
		   const char *dev, uint32_t bs, struct bc_error *e);

#endif
