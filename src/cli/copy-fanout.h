/* SPDX-License-Identifier: GPL-2.0-or-later */
/* copy --to=DST ... SRC: one source onto several destinations (copy-fanout.c). */
#ifndef BC_CLI_COPY_FANOUT_H
#define BC_CLI_COPY_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <blkclone/clone.h>
#include <blkclone/job.h>

/* destinations one copy writes at most: as many as a job's pairs, so
 * that a job start --to that is accepted is accepted by copy too */
#define BC_COPY_MAX_TO BC_JOB_MAX_PAIRS

/*
 * Copy @src onto each of @dst[0..n) (1 <= n <= BC_COPY_MAX_TO) with @o,
 * reporting each destination (text on stdout, or one JSON object with
 * @json; failures on stderr).  Returns the exit code.
 */
int bc_copy_fanout(const char *src, const char *const *dst, size_t n,
		   const struct bc_clone_opts *o, bool json);

#endif
