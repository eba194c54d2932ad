/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A job record as JSON text and back (include/blkclone/job.h). */
#ifndef BC_JOB_RECORD_H
#define BC_JOB_RECORD_H

#include <stddef.h>

#include <blkclone/job.h>

/* The record as text (malloc'd), or NULL without memory. */
char *bc_job_record_format(const struct bc_job *j);

/* Parse @len bytes of @text into @j: 0, or -EBADMSG with what is wrong
 * in @why (the first key that is missing, of the wrong type or out of
 * range).  On failure @j holds nothing to release. */
int bc_job_record_parse(const char *text, size_t len, struct bc_job *j,
			char *why, size_t wlen);

#endif
