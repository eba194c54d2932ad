// SPDX-License-Identifier: LGPL-2.1-or-later
/* Streaming JSON writer (see json.h). */
#include <inttypes.h>
#include <math.h>

#include "util/json.h"

void bc_json_init(struct bc_json *j, FILE *out, bool pretty)
{
	j->out = out;
	j->depth = 0;
	j->first[0] = true;
	j->pretty = pretty;
}

static void indent(struct bc_json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->out);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->out);
}

/*
 * Length of the valid UTF-8 sequence at @p (RFC 3629: shortest form, no
 * surrogates, nothing above U+10FFFF), or 0 if @p does not start one.
 * The string ends with NUL, which is never a continuation byte, so this
 * never reads past it.
 */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* the second byte's range rules out overlongs, surrogates and
	 * code points past U+10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * A JSON string that is valid UTF-8 whatever @s holds: names come from
 * the command line and file systems, which allow any bytes.  Valid UTF-8
 * passes through; a byte that starts no valid sequence becomes \u00XX,
 * the code point of the same number (doc/json-schema.md).
 */
static void put_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n;

		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(f, "\\u%04x", *p);
			} else if (*p < 0x80) {
				fputc(*p, f);
			} else if ((n = utf8_len(p))) {
				fwrite(p, 1, n, f);
				p += n;
				continue;
			} else {
				fprintf(f, "\\u%04x", *p);
			}
		}
		p++;
	}
	fputc('"', f);
}

/* Separator, indentation and key before a value. */
static void member(struct bc_json *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->first[j->depth])
			fputc(',', j->out);
		indent(j);
	}
	j->first[j->depth] = false;
	if (key) {
		put_string(j->out, key);
		fputs(j->pretty ? ": " : ":", j->out);
	}
}

static void open_(struct bc_json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->out);
	if (j->depth < BC_JSON_DEPTH - 1)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct bc_json *j, char c)
{
	bool empty = j->first[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (!empty)
		indent(j);
	fputc(c, j->out);
}

void bc_json_open_object(struct bc_json *j, const char *key) { open_(j, key, '{'); }
void bc_json_close_object(struct bc_json *j) { close_(j, '}'); }
void bc_json_open_array(struct bc_json *j, const char *key) { open_(j, key, '['); }
void bc_json_close_array(struct bc_json *j) { close_(j, ']'); }

void bc_json_string(struct bc_json *j, const char *key, const char *val)
{
	member(j, key);
	if (val)
		put_string(j->out, val);
	else
		fputs("null", j->out);
}

void bc_json_u64(struct bc_json *j, const char *key, uint64_t val)
{
	member(j, key);
	fprintf(j->out, "%" PRIu64, val);
}

void bc_json_i64(struct bc_json *j, const char *key, int64_t val)
{
	member(j, key);
	fprintf(j->out, "%" PRId64, val);
}

void bc_json_double(struct bc_json *j, const char *key, double val)
{
	member(j, key);
	if (isfinite(val))
		fprintf(j->out, "%.6f", val);
	else
		fputs("null", j->out);
}

void bc_json_bool(struct bc_json *j, const char *key, bool val)
{
	member(j, key);
	fputs(val ? "true" : "false", j->out);
}

void bc_json_null(struct bc_json *j, const char *key)
{
	member(j, key);
	fputs("null", j->out);
}

void bc_json_finish(struct bc_json *j)
{
	fputc('\n', j->out);
	fflush(j->out);
}

void bc_json_raw(struct bc_json *j, const char *key, const char *text)
{
	member(j, key);
	fputs(text ? text : "null", j->out);
}
