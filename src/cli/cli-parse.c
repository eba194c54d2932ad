// SPDX-License-Identifier: GPL-2.0-or-later
/* Option values (see cli-parse.h). */
#include <errno.h>
#include <string.h>

#include "cli/cli-parse.h"

int bc_cli_parse_flush(const char *s, enum bc_flush_policy *out)
{
	if (s && !strcmp(s, "end"))
		*out = BC_FLUSH_END;
	else if (s && !strcmp(s, "never"))
		*out = BC_FLUSH_NEVER;
	else
		return -EINVAL;
	return 0;
}

int bc_cli_parse_offload(const char *s, enum bc_offload_policy *out)
{
	static const struct {
		const char *name;
		enum bc_offload_policy policy;
	} names[] = {
		{ "auto", BC_OFFLOAD_AUTO },
		{ "require", BC_OFFLOAD_REQUIRE },
		{ "never", BC_OFFLOAD_NEVER },
	};

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name)) {
			*out = names[i].policy;
			return 0;
		}
	return -EINVAL;
}

/* The first @n characters of @s as a decimal number: digits only. */
static int parse_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	/* by hand rather than strtoull, which takes leading spaces, '+'
	 * and '-' (" -5" would become 2^64 - 5) */
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int bc_cli_parse_lba(const char *s, uint64_t *out)
{
	return s ? parse_digits(s, strlen(s), out) : -EINVAL;
}

int bc_cli_parse_seconds(const char *s, unsigned *out)
{
	uint64_t v;

	if (bc_cli_parse_lba(s, &v) < 0 || !v || v > UINT32_MAX)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int bc_cli_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	size_t n;
	uint64_t v;
	unsigned shift = 0;

	if (!s)
		return -EINVAL;
	n = strlen(s);
	/* a unit is the last character, and only that */
	if (n > 1 && (u = strchr(units, s[n - 1])) && *u) {
		shift = 10 * (unsigned)(u - units + 1);
		n--;
	}
	if (parse_digits(s, n, &v) < 0 || (shift && v > UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}
