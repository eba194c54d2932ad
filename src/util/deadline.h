/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copy's deadline (copy --timeout, struct bc_deadline): the engines
 * look at it between commands, and a backend polling the storage for a
 * long operation (token copy) while it waits.
 */
#ifndef BC_DEADLINE_H
#define BC_DEADLINE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <blkclone/error.h>
#include <blkclone/volume.h>

static inline uint64_t bc_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* A deadline @seconds from now (0: none). */
static inline struct bc_deadline bc_deadline_in(unsigned seconds)
{
	struct bc_deadline d = { 0, seconds };

	if (seconds)
		d.at_ms = bc_now_ms() + (uint64_t)seconds * 1000u;
	return d;
}

static inline bool bc_deadline_passed(const struct bc_deadline *d)
{
	return d->at_ms && bc_now_ms() >= d->at_ms;
}

/* -ETIME ("timer expired"; -ETIMEDOUT is a device's silence): the copy
 * stopped at byte @off of @device. */
static inline int bc_deadline_error(struct bc_error *e, const char *device,
				    const char *op, uint64_t off, uint32_t bs,
				    const struct bc_deadline *d)
{
	return bc_error_set_lba(e, -ETIME, device, op, off / (bs ? bs : 1), bs,
				"stopped: the copy's --timeout=%u s ran out", d->seconds);
}

#endif
