/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backends and the table that opens an address with one
 * (src/backend/open.c).  Each backend says which addresses it takes; the
 * volume layer below knows none of them.
 */
#ifndef BC_BACKENDS_H
#define BC_BACKENDS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <blkclone/volume.h>

#include "volume/address.h"
#include "volume/object.h"
#include "volume/stack.h"

/* What the table learned of an address before a backend takes it. */
struct bc_open_req {
	const char *addr;	/* as the user gave it */
	const char *shown;	/* for messages: no secret */
	enum bc_addr_kind kind;
	unsigned flags;		/* BC_OPEN_* */
	unsigned mode;		/* of a file BC_OPEN_CREATE makes */
	struct stat st;		/* a device node: what stat(2) said */
	bool stacked;		/* a block device whose stack resolved */
	struct bc_stack stack;
};

struct bc_backend {
	const char *name;
	/* Pure: does this backend open @r?  The table asks in its order,
	 * the most specific backend first. */
	bool (*claims)(const struct bc_open_req *r);
	int (*open)(const struct bc_open_req *r, struct bc_volume **out,
		    struct bc_error *e);
};

extern const struct bc_backend bc_backend_file;
extern const struct bc_backend bc_backend_iscsi;	/* scsi/hold.c */
extern const struct bc_backend bc_backend_sg;		/* scsi/hold.c */
extern const struct bc_backend bc_backend_nvme;
extern const struct bc_backend bc_backend_block;

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

/* SCSI over libiscsi; src/backend/scsi/lu-volume.c */
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

/* The same volume seen as windows onto its LU (an LV of several
 * segments, src/volume/segments.h): for the simulator's tests of
 * commands cut at window boundaries. */
int bc_scsi_volume_set_windows(struct bc_volume *v, const struct bc_stack_seg *segs,
			       size_t n, struct bc_error *e);

#endif
