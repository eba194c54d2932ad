/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a volume lies on, and whether two volumes lie on one thing.  Each
 * backend names the unit beneath a volume (an LU, an NVMe namespace, a
 * file, a kernel device) by every key it goes by -- the unique
 * designators the device reports, the target name and LUN, the kernel
 * path, the device number, the inode -- and where on it the volume
 * starts (bc_identity.lu_offset).  One key in common makes one unit;
 * then the byte ranges decide.  A key is only ever equal to a key of its
 * own kind ("naa:..." never meets "dev:..."), so adding a name can only
 * find more sameness, never less: a wrong "same" refuses a copy, a wrong
 * "different" would let it overwrite its own source.  Pure, but for
 * nothing: tested in tests/unit/test-identity.c.
 */
#ifndef BC_IDENTITY_H
#define BC_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include <blkclone/volume.h>

/*
 * "naa", "eui64", "name" or "uuid" for a designator that names an LU
 * (association 0) uniquely: NAA 2, 5 and 6 (IEEE-assigned), EUI-64, SCSI
 * name string, UUID; NULL for one that does not (NAA 3 is locally
 * assigned, T10 vendor ID and vendor specific ones are not unique, and
 * target and port designators name something else).
 */
const char *bc_designator_kind(const struct bc_designator *d);

/* "naa:HEX" etc. for such a designator: length, or -ENOENT for one that
 * names nothing uniquely, -ENAMETOOLONG. */
int bc_identity_designator_key(char *buf, size_t len,
			       const struct bc_designator *d);

/* Add a key (printf-style); an equal one is not added twice.  0,
 * -ENOSPC when the list is full, -ENAMETOOLONG. */
int bc_identity_add_key(struct bc_identity *id, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Add a key for every unique designator of @id's own list; returns how
 * many keys were added. */
size_t bc_identity_add_designators(struct bc_identity *id);

/*
 * Fill id->identity from the unit word and the keys: "LU: naa:..., ...";
 * for a unit known only by the way it was reached (id->unit_weak), the
 * keys and @weak_why, which says what would go unrecognised.
 */
void bc_identity_describe(struct bc_identity *id, const char *weak_why);

/* Is @key one of the designator kinds (naa/eui64/name/uuid)? */
bool bc_identity_key_is_designator(const char *key);

/* The first of @a's keys that @b has too, or NULL. */
const char *bc_identity_shared_key(const struct bc_identity *a,
				   const struct bc_identity *b);

enum bc_overlap {
	BC_OVERLAP_NONE = 0,	/* other units, or apart on one unit */
	BC_OVERLAP_SAME,	/* one unit, the same bytes of it */
	BC_OVERLAP_PARTIAL,	/* one unit, byte ranges that overlap */
};

/*
 * Do the volumes (@a of @asize bytes, @b of @bsize) share bytes?  *@key is
 * the key that made them one unit (NULL when none did).
 */
enum bc_overlap bc_identity_overlap(const struct bc_identity *a, uint64_t asize,
				    const struct bc_identity *b, uint64_t bsize,
				    const char **key);

/*
 * For the plan: how the two were told apart or found on one unit, and
 * which of them was identified by the path it was reached on alone.
 */
void bc_identity_pair_text(char *buf, size_t len,
			   const struct bc_identity *s, uint64_t ssize,
			   const struct bc_identity *d, uint64_t dsize);

#endif
