/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Backend constructors, called by bc_volume_open() after classification. */
#ifndef BC_BACKENDS_H
#define BC_BACKENDS_H

#include <sys/types.h>

#include <blkclone/volume.h>

/* @mode: of a file BC_OPEN_CREATE makes (open(2) applies the umask) */
int bc_file_open(const char *path, unsigned flags, unsigned mode,
		 struct bc_volume **out, struct bc_error *e);
int bc_blk_open(const char *path, unsigned flags, struct bc_volume **out,
		struct bc_error *e);
struct bc_stack;
/* An NVMe namespace, or a window onto one (@stack, may be NULL). */
int bc_nvme_volume_open(const char *path, unsigned flags,
			const struct bc_stack *stack,
			struct bc_volume **out, struct bc_error *e);
/* Drop a block volume's page cache after the device was written behind
 * the kernel's back (SG_IO, a copy manager). */
int bc_blk_invalidate(struct bc_volume *v);
dev_t bc_blk_rdev(struct bc_volume *v);

/* SCSI over libiscsi; src/backend/scsi/volume.c */
int bc_scsi_volume_open(const char *addr, unsigned flags,
			struct bc_volume **out, struct bc_error *e);

/*
 * A SCSI LU over SG_IO, or a window onto one (@stack: a partition or a
 * dm-linear volume resolved to the LU beneath).  Data moves through the
 * block device @path itself (O_DIRECT, threads); SCSI commands go to the
 * LU with the window's offset added.
 */
int bc_scsi_sg_volume_open(const char *path, unsigned flags,
			   const struct bc_stack *stack,
			   struct bc_volume **out, struct bc_error *e);

/* A SCSI volume over a transport the caller made (the test simulator);
 * the volume owns @t from here on, also on failure. */
struct bc_scsi_transport;
int bc_scsi_volume_wrap(struct bc_scsi_transport *t, unsigned flags,
			struct bc_volume **out, struct bc_error *e);

/* Allocate a volume with @priv_size bytes of backend state after it. */
struct bc_volume *bc_volume_alloc(const struct bc_volume_ops *ops,
				  const char *name, size_t priv_size);
void bc_volume_free(struct bc_volume *v);

/* Set a capability's state and the evidence for it, printf-style. */
void bc_feature_set(struct bc_feature *f, enum bc_support s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
