/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small streaming JSON writer for the CLI's --json output: objects,
 * arrays, strings (escaped), integers, booleans, null.  Keys are API and
 * are documented in the man page; this only gets the syntax right.
 */
#ifndef BC_JSON_H
#define BC_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BC_JSON_DEPTH 16

struct bc_json {
	FILE *out;
	int depth;
	bool first[BC_JSON_DEPTH];
	bool pretty;
};

void bc_json_init(struct bc_json *j, FILE *out, bool pretty);
/* @key is NULL inside arrays and at the top level. */
void bc_json_open_object(struct bc_json *j, const char *key);
void bc_json_close_object(struct bc_json *j);
void bc_json_open_array(struct bc_json *j, const char *key);
void bc_json_close_array(struct bc_json *j);
void bc_json_string(struct bc_json *j, const char *key, const char *val);
void bc_json_u64(struct bc_json *j, const char *key, uint64_t val);
void bc_json_i64(struct bc_json *j, const char *key, int64_t val);
void bc_json_double(struct bc_json *j, const char *key, double val);
void bc_json_bool(struct bc_json *j, const char *key, bool val);
void bc_json_null(struct bc_json *j, const char *key);
/* @text, a JSON value the caller has checked (json-c wrote it), as it is;
 * NULL is null. */
void bc_json_raw(struct bc_json *j, const char *key, const char *text);
/* Ends the document with a newline. */
void bc_json_finish(struct bc_json *j);

#endif
