/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host-side locks for what the kernel cannot hold exclusively: SCSI LUs
 * reached over libiscsi, and an LU reached through SG_IO under another
 * name than the sd device held with O_EXCL (another path, or iSCSI).
 * Which names a volume takes is its backend's policy (src/volume/lockset.h,
 * src/backend/scsi/hold.c); this file only holds them.
 * One lock file per name under $BLKCLONE_LOCK_DIR, else
 * /run/lock/blkclone, held with flock for as long as the volume is open
 * for writing.  They keep two blkclone
 * processes on one host from writing one LU at once; they do nothing
 * against other hosts or other programs.
 *
 * The directory must be root's (or the caller's) and writable by no one
 * else, and a lock file the caller's own regular file with one link
 * (src/util/safedir.h): anything else is refused, never followed or truncated.
 * Lock files are mode 0600, so no other user can hold one to stop a copy.
 */
#ifndef BC_LOCK_H
#define BC_LOCK_H

#include <stdbool.h>
#include <stddef.h>

#include <blkclone/error.h>
#include <blkclone/volume.h>

struct bc_lock;

/*
 * Pure: the lock name of an LU designator, or -ENOENT for one that does
 * not name an LU uniquely (a target port or a target, NAA locally
 * assigned, T10 vendor ID, vendor specific), or -ENAMETOOLONG.
 */
int bc_lock_key_designator(char *buf, size_t len, const struct bc_designator *d);

/*
 * Take the lock @key without waiting and add it to the chain *@chain:
 * exclusive, or with @shared a lock others may share but no one may hold
 * exclusively meanwhile (writers of windows -- partitions, LVs -- on one
 * LU share it; a writer of the whole LU excludes them all).  @device
 * names the volume in errors, @holder is written into the lock file for
 * whoever finds it taken.  -EBUSY (with a holder's own words in @e) when
 * another open file holds it; -ENOLCK when the lock cannot be taken at
 * all, the directory or the file is not safe among them (the reason in
 * @e).  Either way nothing was written.
 */
int bc_lock_take(struct bc_lock **chain, const char *key, bool shared,
		 const char *device, const char *holder, struct bc_error *e);

/* Release every lock of the chain (NULL is fine).  Lock files stay. */
void bc_lock_release(struct bc_lock *chain);

#endif
