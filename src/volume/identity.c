// SPDX-License-Identifier: LGPL-2.1-or-later
/* Units beneath volumes, and when two volumes share one (see identity.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "volume/identity.h"

const char *bc_designator_kind(const struct bc_designator *d)
{
	if (d->association != 0 || !d->len || d->len > BC_DESIGNATOR_MAX)
		return NULL;
	switch (d->type) {
	case 2:
		return "eui64";
	case 3:		/* NAA 2, 5, 6 are IEEE-assigned; 3 is local */
		return d->id[0] >> 4 == 2 || d->id[0] >> 4 == 5 ||
		       d->id[0] >> 4 == 6 ? "naa" : NULL;
	case 8:
		return "name";
	case 0xa:
		return "uuid";
	}
	return NULL;
}

int bc_identity_designator_key(char *buf, size_t len,
			       const struct bc_designator *d)
{
	const char *kind = bc_designator_kind(d);
	const uint8_t *p;
	size_t n, k;

	if (!kind)
		return -ENOENT;
	p = d->id;
	n = d->len;
	/* SPC's UUID designator: a byte of flags, a reserved byte, then the
	 * UUID, which is what an NVMe namespace reports as its UUID */
	if (d->type == 0xa && n == 18) {
		p += 2;
		n = 16;
	}
	if (len < strlen(kind) + 1 + 2 * n + 1)
		return -ENAMETOOLONG;
	k = (size_t)snprintf(buf, len, "%s:", kind);
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(buf + k, len - k, "%02x", p[i]);
	return (int)k;
}

int bc_identity_add_key(struct bc_identity *id, const char *fmt, ...)
{
	char key[BC_UNIT_KEY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(key))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < id->n_unit_keys; i++)
		if (!strcmp(id->unit_keys[i], key))
			return 0;
	if (id->n_unit_keys >= BC_MAX_UNIT_KEYS)
		return -ENOSPC;
	memcpy(id->unit_keys[id->n_unit_keys++], key, (size_t)n + 1);
	return 0;
}

size_t bc_identity_add_designators(struct bc_identity *id)
{
	size_t added = 0;

	for (size_t i = 0; i < id->n_designators && i < BC_MAX_DESIGNATORS; i++) {
		char key[BC_UNIT_KEY_MAX];

		if (bc_identity_designator_key(key, sizeof(key),
					       &id->designators[i]) < 0)
			continue;
		if (bc_identity_add_key(id, "%s", key) == 0)
			added++;
	}
	return added;
}

void bc_identity_describe(struct bc_identity *id, const char *weak_why)
{
	size_t len = sizeof(id->identity), n;

	n = (size_t)snprintf(id->identity, len, "%s %s", id->unit[0] ? id->unit : "volume",
			     id->unit_weak ? "known only as" : "known as");
	for (size_t i = 0; i < id->n_unit_keys && n < len; i++)
		n += (size_t)snprintf(id->identity + n, len - n, "%s%s",
				      i ? ", " : " ", id->unit_keys[i]);
	if (!id->n_unit_keys && n < len)
		n += (size_t)snprintf(id->identity + n, len - n, " nothing");
	if (id->unit_weak && weak_why && n < len)
		snprintf(id->identity + n, len - n, ": %s", weak_why);
}

bool bc_identity_key_is_designator(const char *key)
{
	static const char *const kinds[] = { "naa:", "eui64:", "name:", "uuid:" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncmp(key, kinds[i], strlen(kinds[i])))
			return true;
	return false;
}

const char *bc_identity_shared_key(const struct bc_identity *a,
				   const struct bc_identity *b)
{
	for (size_t i = 0; i < a->n_unit_keys && i < BC_MAX_UNIT_KEYS; i++)
		for (size_t j = 0; j < b->n_unit_keys && j < BC_MAX_UNIT_KEYS; j++)
			if (a->unit_keys[i][0] &&
			    !strcmp(a->unit_keys[i], b->unit_keys[j]))
				return a->unit_keys[i];
	return NULL;
}

/* @id's windows on its unit: its list, or the one [lu_offset, +size). */
static size_t windows(const struct bc_identity *id, uint64_t size,
		      struct bc_lu_window *w)
{
	size_t n = id->n_lu_windows;

	if (n && n <= BC_MAX_LU_WINDOWS) {
		for (size_t i = 0; i < n; i++)
			w[i] = id->lu_windows[i];
		return n;
	}
	w[0] = (struct bc_lu_window){ id->lu_offset, size };
	return 1;
}

enum bc_overlap bc_identity_overlap(const struct bc_identity *a, uint64_t asize,
				    const struct bc_identity *b, uint64_t bsize,
				    const char **key)
{
	struct bc_lu_window wa[BC_MAX_LU_WINDOWS], wb[BC_MAX_LU_WINDOWS];
	size_t na, nb;
	bool same, any = false;

	*key = bc_identity_shared_key(a, b);
	if (!*key)
		return BC_OVERLAP_NONE;
	na = windows(a, asize, wa);
	nb = windows(b, bsize, wb);
	same = na == nb;
	for (size_t i = 0; i < na; i++) {
		uint64_t a0 = wa[i].offset;
		/* an end past 2^64 is the end of the unit */
		uint64_t a1 = wa[i].length > UINT64_MAX - a0 ? UINT64_MAX :
			      a0 + wa[i].length;

		if (same && (wa[i].offset != wb[i].offset ||
			     wa[i].length != wb[i].length))
			same = false;
		for (size_t j = 0; j < nb; j++) {
			uint64_t b0 = wb[j].offset;
			uint64_t b1 = wb[j].length > UINT64_MAX - b0 ? UINT64_MAX :
				      b0 + wb[j].length;

			/* empty ranges share no byte */
			if (a0 < b1 && b0 < a1 && a0 < a1 && b0 < b1)
				any = true;
		}
	}
	if (same)
		return BC_OVERLAP_SAME;
	return any ? BC_OVERLAP_PARTIAL : BC_OVERLAP_NONE;
}

static const char *unit_word(const struct bc_identity *id)
{
	return id->unit[0] ? id->unit : "volume";
}

void bc_identity_pair_text(char *buf, size_t len,
			   const struct bc_identity *s, uint64_t ssize,
			   const struct bc_identity *d, uint64_t dsize)
{
	const char *key;
	enum bc_overlap o = bc_identity_overlap(s, ssize, d, dsize, &key);
	size_t n;

	if (!len)
		return;
	if (o == BC_OVERLAP_SAME)
		n = (size_t)snprintf(buf, len, "one %s (%s on both), the same bytes of it",
				     unit_word(s), key);
	else if (key)
		n = (size_t)snprintf(buf, len,
				     "one %s (%s on both): bytes %" PRIu64 "+%" PRIu64
				     " and %" PRIu64 "+%" PRIu64 " %s",
				     unit_word(s), key, s->lu_offset, ssize,
				     d->lu_offset, dsize,
				     o == BC_OVERLAP_PARTIAL ? "overlap" : "do not overlap");
	else
		n = (size_t)snprintf(buf, len, "%s and %s with no name in common",
				     unit_word(s), unit_word(d));
	/* who was known only by the way it was reached */
	if (n < len && s->unit_weak)
		n += (size_t)snprintf(buf + n, len - n, "; source: %s", s->identity);
	if (n < len && d->unit_weak)
		snprintf(buf + n, len - n, "; destination: %s", d->identity);
}
