// SPDX-License-Identifier: LGPL-2.1-or-later
/* Streaming JSON writer (see json.h). */
#include <inttypes.h>
#include <math.h>

#include "json.h"

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

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
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
