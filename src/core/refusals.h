/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The refusal memory: a copy manager that refused a pair of volumes (for
 * example LIO's COPY ABORTED 0D/02 for a LU outside the session) is
 * remembered, so the next --offload=auto clone of that pair goes straight
 * to the host and says why.  One line per pair in a small text file:
 * $BLKCLONE_STATE_DIR/refusals, else /var/lib/blkclone/refusals for root,
 * else $XDG_STATE_HOME/blkclone/refusals (~/.local/state/...).  A
 * directory that is a link, another user's, or writable by others is
 * never read or written (see src/util/safedir.h).
 */
#ifndef BC_REFUSALS_H
#define BC_REFUSALS_H

#include <stdbool.h>
#include <stddef.h>

#include <blkclone/copy.h>
#include <blkclone/error.h>

/* The file's path; -ENOENT when no place can be found. */
int bc_refusal_path(char *buf, size_t len);

/* Was @m refused for this pair?  @why gets the reason and when.  False
 * also when the directory is not safe. */
bool bc_refusal_find(const char *path, enum bc_method m, const char *src,
		     const char *dst, char *why, size_t wlen);

/* Remember a refusal (replacing an older one for the pair); -EPERM when
 * the directory, the .lock or the .tmp is not safe. */
int bc_refusal_record(const char *path, enum bc_method m, const char *src,
		      const char *dst, const char *why);

/* The pair works now: forget its refusal, if any. */
int bc_refusal_forget(const char *path, enum bc_method m, const char *src,
		      const char *dst);

/* Mark the plan's methods refused before for this pair (see
 * bc_plan_known_refusal).  -EPERM, with @device and the reason in @e,
 * when the memory would be consulted and its directory is not safe
 * (src/util/safedir.h); a directory not made yet is fine. */
int bc_refusal_apply(struct bc_plan *p, enum bc_offload_policy policy,
		     const struct bc_caps *src, const struct bc_caps *dst,
		     const char *device, struct bc_error *e);

#endif
