// SPDX-License-Identifier: LGPL-2.1-or-later
/* Device-mapper table and status lines (see dmtable.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "volume/dmtable.h"

/* No table the kernel makes comes near these; more is garbage. */
#define MAX_ARGS 64
#define MAX_GROUPS 64
#define TOKEN_MAX 64

struct cursor {
	const char *p;
};

/* The next space-separated word into @buf; -EINVAL at the end of the
 * line or for a word longer than any the kernel prints. */
static int word(struct cursor *c, char *buf, size_t len)
{
	size_t n = 0;

	while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n')
		c->p++;
	if (!*c->p)
		return -EINVAL;
	while (*c->p && *c->p != ' ' && *c->p != '\t' && *c->p != '\n') {
		if (n + 1 >= len)
			return -EINVAL;
		buf[n++] = *c->p++;
	}
	buf[n] = '\0';
	return 0;
}

/* A decimal count no larger than @max. */
static int count(struct cursor *c, unsigned max, unsigned *out)
{
	char w[TOKEN_MAX];
	uint64_t v = 0;

	if (word(c, w, sizeof(w)) < 0)
		return -EINVAL;
	for (const char *q = w; *q; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*q - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int skip(struct cursor *c, unsigned n)
{
	char w[TOKEN_MAX];

	while (n--)
		if (word(c, w, sizeof(w)) < 0)
			return -EINVAL;
	return 0;
}

/* "MAJ:MIN", both decimal, nothing else. */
static int devnum(const char *w, unsigned *maj, unsigned *min)
{
	unsigned long v[2] = { 0, 0 };
	int k = 0;
	bool digit = false;

	for (const char *q = w; *q; q++) {
		if (*q == ':' && k == 0 && digit) {
			k = 1;
			digit = false;
			continue;
		}
		if (*q < '0' || *q > '9')
			return -EINVAL;
		v[k] = v[k] * 10 + (unsigned long)(*q - '0');
		if (v[k] > 0xfffff)	/* 12-bit major, 20-bit minor */
			return -EINVAL;
		digit = true;
	}
	if (k != 1 || !digit)
		return -EINVAL;
	*maj = (unsigned)v[0];
	*min = (unsigned)v[1];
	return 0;
}

int bc_dm_parse_multipath(const char *params, bool status,
			  struct bc_mpath_path *out, size_t max, size_t *n)
{
	struct cursor c = { params };
	char w[TOKEN_MAX];
	unsigned k, groups, first;
	size_t got = 0;

	*n = 0;
	if (!params)
		return -EINVAL;
	/* features, then the hardware handler: counted words we pass over */
	if (count(&c, MAX_ARGS, &k) < 0 || skip(&c, k) < 0 ||
	    count(&c, MAX_ARGS, &k) < 0 || skip(&c, k) < 0)
		return -EINVAL;
	if (count(&c, MAX_GROUPS, &groups) < 0 || count(&c, MAX_GROUPS, &first) < 0)
		return -EINVAL;
	if (!groups || first > groups)	/* 0 only when there are no groups */
		return -EINVAL;
	for (unsigned g = 1; g <= groups; g++) {
		unsigned paths, path_args;

		/* the selector's name (table) or the group's state (status) */
		if (word(&c, w, sizeof(w)) < 0)
			return -EINVAL;
		if (status && (strlen(w) != 1 || !strchr("AED", w[0])))
			return -EINVAL;
		if (count(&c, MAX_ARGS, &k) < 0 || skip(&c, k) < 0)
			return -EINVAL;
		if (count(&c, MAX_ARGS, &paths) < 0 ||
		    count(&c, MAX_ARGS, &path_args) < 0 || !paths)
			return -EINVAL;
		for (unsigned i = 0; i < paths; i++) {
			struct bc_mpath_path p = { .group = g };

			if (word(&c, w, sizeof(w)) < 0 ||
			    devnum(w, &p.maj, &p.min) < 0)
				return -EINVAL;
			if (status) {
				if (word(&c, w, sizeof(w)) < 0 ||
				    (strcmp(w, "A") && strcmp(w, "F")))
					return -EINVAL;
				p.active = w[0] == 'A';
				if (count(&c, UINT32_MAX, &p.fail_count) < 0)
					return -EINVAL;
			}
			if (skip(&c, path_args) < 0)
				return -EINVAL;
			if (got >= max)
				return -E2BIG;
			out[got++] = p;
		}
	}
	while (*c.p == ' ' || *c.p == '\t' || *c.p == '\n')
		c.p++;
	if (*c.p)
		return -EINVAL;
	*n = got;
	return 0;
}
