// SPDX-License-Identifier: LGPL-2.1-or-later
/* Whole-buffer I/O helpers (see fdio.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>

#include <blkclone/volume.h>

#include "util/fdio.h"

int bc_fd_read_full(int fd, void *buf, size_t len, uint64_t off,
		    const char *dev, uint32_t bs, struct bc_error *e)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return bc_error_set_lba(e, -errno, dev, "read",
						(off + done) / bs, bs, NULL);
		}
		if (n == 0) {
			/* End of a file: what lies beyond reads as zeros. */
			memset(p + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

int bc_fd_write_full(int fd, const void *buf, size_t len, uint64_t off,
		     const char *dev, uint32_t bs, struct bc_error *e)
{
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done,
				   (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return bc_error_set_lba(e, -errno, dev, "write",
						(off + done) / bs, bs, NULL);
		}
		if (n == 0)
			return bc_error_set_lba(e, -EIO, dev, "write",
						(off + done) / bs, bs,
						"device accepted no data");
		done += (size_t)n;
	}
	return 0;
}

int bc_fd_write_zeros(int fd, uint64_t off, uint64_t len, bool direct,
		      const char *dev, uint32_t bs, struct bc_error *e)
{
	const size_t chunk = 1 << 20;
	void *zeros;
	int rc = 0;

	(void)direct;	/* the buffer is aligned for O_DIRECT either way */
	if (posix_memalign(&zeros, 4096, chunk))
		return bc_error_set(e, -ENOMEM, dev, "write zeros", NULL);
	memset(zeros, 0, chunk);
	while (len && !rc) {
		size_t n = len < chunk ? (size_t)len : chunk;

		rc = bc_fd_write_full(fd, zeros, n, off, dev, bs, e);
		off += n;
		len -= n;
	}
	free(zeros);
	return rc;
}

int bc_fd_seek_map(int fd, uint64_t base, uint64_t off, uint64_t end,
		   uint32_t gran, struct bc_extent *out, size_t max, size_t *n,
		   const char *dev, uint32_t bs, struct bc_error *e)
{
	size_t i = 0;

	while (off < end && i < max) {
		off_t pos = lseek(fd, (off_t)(off + base), SEEK_DATA);
		uint64_t data, hole;

		if (pos < 0 && errno != ENXIO)
			return bc_error_set_lba(e, -errno, dev, "lseek(SEEK_DATA)",
						off / bs, bs, NULL);
		/* ENXIO: no data from here to the end of the file */
		data = pos < 0 ? end : ((uint64_t)pos - base) / gran * gran;
		if (data > end)
			data = end;
		if (data > off) {
			out[i++] = (struct bc_extent){ off, data - off,
						       BC_EXTENT_DEALLOCATED };
			off = data;
			if (off >= end || i == max)
				break;
		}
		pos = lseek(fd, (off_t)(off + base), SEEK_HOLE);
		if (pos < 0)
			return bc_error_set_lba(e, -errno, dev, "lseek(SEEK_HOLE)",
						off / bs, bs, NULL);
		hole = ((uint64_t)pos - base + gran - 1) / gran * gran;
		/* a race with a writer may report a hole at @off: never stall */
		if (hole <= off)
			hole = off + gran;
		if (hole > end)
			hole = end;
		out[i++] = (struct bc_extent){ off, hole - off, BC_EXTENT_MAPPED };
		off = hole;
	}
	*n = i;
	return 0;
}
