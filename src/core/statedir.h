/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where blkclone keeps what outlives a run (the refusal memory, job
 * records): $BLKCLONE_STATE_DIR, else /var/lib/blkclone for root, else
 * $XDG_STATE_HOME/blkclone (~/.local/state/blkclone).  Only the path:
 * callers open it with src/util/safedir.h.
 */
#ifndef BC_STATEDIR_H
#define BC_STATEDIR_H

#include <stddef.h>

/* The directory's path; -ENOENT when no place can be found. */
int bc_state_dir(char *buf, size_t len);

/* mkdir -p @path (mode 0755); @path is restored before returning. */
int bc_state_mkdirs(char *path);

#endif
