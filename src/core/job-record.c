// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A job record as JSON text and back (see include/blkclone/job.h), with
 * json-c.  The text read back may be anyone's: it is parsed with a depth
 * limit, every key's type is checked, strings are bounded, and a record
 * that is not one blkclone wrote is refused as a whole, never half used.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blkclone/copy.h>

#include "core/job-record.h"

#define RECORD_DEPTH 16

const char *bc_job_state_name(enum bc_job_state s)
{
	switch (s) {
	case BC_JOB_RUNNING: return "running";
	case BC_JOB_COMPLETE: return "complete";
	case BC_JOB_FAILED: return "failed";
	case BC_JOB_CANCELLED: return "cancelled";
	}
	return "failed";
}

static int state_parse(const char *s, enum bc_job_state *out)
{
	for (int i = BC_JOB_RUNNING; i <= BC_JOB_CANCELLED; i++)
		if (!strcmp(s, bc_job_state_name((enum bc_job_state)i))) {
			*out = (enum bc_job_state)i;
			return 0;
		}
	return -EBADMSG;
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v && *v ? json_object_new_string(v) : NULL);
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static struct json_object *pair_json(const struct bc_job_pair *p)
{
	struct json_object *o = json_object_new_object(), *rep = NULL;

	add_str(o, "source", p->source);
	add_str(o, "destination", p->destination);
	add_str(o, "method", p->method);
	add_str(o, "consistency", p->consistency);
	add_u64(o, "bytes_done", p->bytes_done);
	add_u64(o, "bytes_total", p->bytes_total);
	add_u64(o, "resume_offset", p->resume_offset);
	add_u64(o, "resume_lba", p->resume_lba);
	json_object_object_add(o, "exit_code", p->exit_code < 0 ? NULL :
			       json_object_new_int(p->exit_code));
	if (p->report)
		rep = json_tokener_parse(p->report);
	json_object_object_add(o, "report", rep);
	return o;
}

static struct json_object *opts_json(const struct bc_job_opts *op)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "offload", op->offload);
	json_object_object_add(o, "verify", json_object_new_boolean(op->verify));
	json_object_object_add(o, "dest_zeroed", json_object_new_boolean(op->dest_zeroed));
	add_str(o, "flush", op->flush_never ? "never" : "end");
	add_u64(o, "timeout", op->timeout_s);
	add_u64(o, "stall_timeout", op->stall_timeout_s);
	add_u64(o, "io_depth", op->io_depth);
	add_u64(o, "chunk", op->chunk);
	add_u64(o, "write_behind", op->write_behind);
	return o;
}

char *bc_job_record_format(const struct bc_job *j)
{
	struct json_object *o = json_object_new_object(), *pairs;
	char *text;

	if (!o)
		return NULL;
	add_u64(o, "schema", 1);
	add_str(o, "id", j->id);
	add_str(o, "state", bc_job_state_name(j->state));
	add_str(o, "consistency", j->consistency);
	json_object_object_add(o, "progress", json_object_new_double(j->progress));
	add_u64(o, "bytes_done", j->bytes_done);
	add_u64(o, "bytes_total", j->bytes_total);
	add_int(o, "pid", j->pid);
	add_u64(o, "pid_start", j->pid_start);
	add_str(o, "boot_id", j->boot_id);
	add_int(o, "started", j->started);
	add_int(o, "updated", j->updated);
	add_str(o, "error", j->error);
	json_object_object_add(o, "exit_code", j->exit_code < 0 ? NULL :
			       json_object_new_int(j->exit_code));
	add_str(o, "resumed_from", j->resumed_from);
	json_object_object_add(o, "options", opts_json(&j->opts));
	pairs = json_object_new_array();
	for (size_t i = 0; i < j->n; i++)
		json_object_array_add(pairs, pair_json(&j->pairs[i]));
	json_object_object_add(o, "pairs", pairs);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

/* --- reading: every key checked ---------------------------------------- */

struct rd {
	struct json_object *o;
	const char *where;	/* "record", "pair 2", for messages */
	char *why;
	size_t wlen;
};

static int bad(struct rd *r, const char *key, const char *what)
{
	snprintf(r->why, r->wlen, "%s: %s %s", r->where, key, what);
	return -EBADMSG;
}

static int get(struct rd *r, const char *key, enum json_type t, bool nullable,
	       struct json_object **out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(r->o, key, &v))
		return bad(r, key, "is missing");
	if (!v && nullable) {
		*out = NULL;
		return 0;
	}
	/* a JSON number is a number: 100 and 100.0 are one percentage */
	if (!json_object_is_type(v, t) &&
	    !(t == json_type_double && json_object_is_type(v, json_type_int)))
		return bad(r, key, "has the wrong type");
	*out = v;
	return 0;
}

static int get_str(struct rd *r, const char *key, bool nullable, char *buf,
		   size_t len)
{
	struct json_object *v;
	int rc = get(r, key, json_type_string, nullable, &v);

	if (rc < 0)
		return rc;
	buf[0] = '\0';
	if (!v)
		return 0;
	if ((size_t)json_object_get_string_len(v) >= len)
		return bad(r, key, "is too long");
	memcpy(buf, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	if (strlen(buf) != (size_t)json_object_get_string_len(v))
		return bad(r, key, "holds a NUL");
	return 0;
}

static int get_u64(struct rd *r, const char *key, uint64_t *out)
{
	struct json_object *v;
	int rc = get(r, key, json_type_int, false, &v);

	if (rc < 0)
		return rc;
	if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) < (1ULL << 63))
		return bad(r, key, "is negative");
	*out = json_object_get_uint64(v);
	return 0;
}

static int get_i64(struct rd *r, const char *key, int64_t lo, int64_t hi,
		   bool nullable, int64_t *out)
{
	struct json_object *v;
	int rc = get(r, key, json_type_int, nullable, &v);
	int64_t x;

	if (rc < 0)
		return rc;
	if (!v) {
		*out = -1;
		return 0;
	}
	x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return bad(r, key, "is out of range");
	*out = x;
	return 0;
}

static int get_bool(struct rd *r, const char *key, bool *out)
{
	struct json_object *v;
	int rc = get(r, key, json_type_boolean, false, &v);

	if (rc == 0)
		*out = json_object_get_boolean(v);
	return rc;
}

static int read_pair(struct rd *r, struct bc_job_pair *p)
{
	struct json_object *rep;
	int64_t x;
	int rc;

	if ((rc = get_str(r, "source", false, p->source, sizeof(p->source))) ||
	    (rc = get_str(r, "destination", false, p->destination, sizeof(p->destination))) ||
	    (rc = get_str(r, "method", true, p->method, sizeof(p->method))) ||
	    (rc = get_str(r, "consistency", true, p->consistency, sizeof(p->consistency))) ||
	    (rc = get_u64(r, "bytes_done", &p->bytes_done)) ||
	    (rc = get_u64(r, "bytes_total", &p->bytes_total)) ||
	    (rc = get_u64(r, "resume_offset", &p->resume_offset)) ||
	    (rc = get_u64(r, "resume_lba", &p->resume_lba)) ||
	    (rc = get_i64(r, "exit_code", 0, 3, true, &x)) ||
	    (rc = get(r, "report", json_type_object, true, &rep)))
		return rc;
	p->exit_code = (int)x;
	if (rep && !(p->report = strdup(json_object_to_json_string_ext(rep,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))))
		return -ENOMEM;
	return 0;
}

/* The I/O shape a job was started with; a record written before the
 * options existed has none: chosen as the copy goes (0).  Bounded as
 * the command line bounds them: the record may be anyone's. */
static int read_io_shape(struct rd *r, struct bc_job_opts *op)
{
	static const struct {
		const char *key;
		uint64_t max;
	} keys[] = {
		{ "io_depth", BC_COPY_MAX_DEPTH },
		{ "chunk", 8u << 20 },
		{ "write_behind", 1ull << 40 },
	};
	uint64_t v[3] = { 0 };
	int rc;

	for (size_t i = 0; i < 3; i++) {
		if (!json_object_object_get_ex(r->o, keys[i].key, NULL))
			continue;
		if ((rc = get_u64(r, keys[i].key, &v[i])))
			return rc;
		if (v[i] > keys[i].max)
			return bad(r, keys[i].key, "is out of range");
	}
	op->io_depth = (uint32_t)v[0];
	op->chunk = (uint32_t)v[1];
	op->write_behind = v[2];
	return 0;
}

static int read_opts(struct rd *r, struct bc_job_opts *op)
{
	uint64_t t, s;
	int rc;

	if ((rc = get_str(r, "offload", false, op->offload, sizeof(op->offload))) ||
	    (rc = get_bool(r, "verify", &op->verify)) ||
	    (rc = get_bool(r, "dest_zeroed", &op->dest_zeroed)) ||
	    (rc = get_u64(r, "timeout", &t)) || (rc = get_u64(r, "stall_timeout", &s)))
		return rc;
	if (t > UINT32_MAX || s > UINT32_MAX)
		return bad(r, "timeout", "is out of range");
	op->timeout_s = (unsigned)t;
	op->stall_timeout_s = (unsigned)s;
	/* a record written before --flush existed has none: end */
	if (json_object_object_get_ex(r->o, "flush", NULL)) {
		char fl[8];

		if ((rc = get_str(r, "flush", false, fl, sizeof(fl))))
			return rc;
		if (strcmp(fl, "end") && strcmp(fl, "never"))
			return bad(r, "flush", "is neither end nor never");
		op->flush_never = !strcmp(fl, "never");
	}
	return read_io_shape(r, op);
}

static int read_top(struct rd *r, struct bc_job *j)
{
	struct json_object *v;
	char state[16];
	int64_t pid, started, updated, ex;
	uint64_t schema;
	int rc;

	if ((rc = get_u64(r, "schema", &schema)))
		return rc;
	if (schema != 1)
		return bad(r, "schema", "is not 1");
	if ((rc = get_str(r, "id", false, j->id, sizeof(j->id))) ||
	    (rc = get_str(r, "state", false, state, sizeof(state))) ||
	    (rc = get_str(r, "consistency", true, j->consistency, sizeof(j->consistency))) ||
	    (rc = get(r, "progress", json_type_double, false, &v)) ||
	    (rc = get_u64(r, "bytes_done", &j->bytes_done)) ||
	    (rc = get_u64(r, "bytes_total", &j->bytes_total)) ||
	    (rc = get_i64(r, "pid", 1, INT32_MAX, false, &pid)) ||
	    (rc = get_u64(r, "pid_start", &j->pid_start)) ||
	    (rc = get_str(r, "boot_id", false, j->boot_id, sizeof(j->boot_id))) ||
	    (rc = get_i64(r, "started", 0, INT64_MAX, false, &started)) ||
	    (rc = get_i64(r, "updated", 0, INT64_MAX, false, &updated)) ||
	    (rc = get_str(r, "error", true, j->error, sizeof(j->error))) ||
	    (rc = get_i64(r, "exit_code", 0, 3, true, &ex)) ||
	    (rc = get_str(r, "resumed_from", true, j->resumed_from, sizeof(j->resumed_from))))
		return rc;
	if (state_parse(state, &j->state) < 0)
		return bad(r, "state", "is not a job state");
	j->progress = json_object_get_double(v);
	if (!(j->progress >= 0 && j->progress <= 100))
		return bad(r, "progress", "is not a percentage");
	j->pid = (int)pid;
	j->started = started;
	j->updated = updated;
	j->exit_code = (int)ex;
	return 0;
}

int bc_job_record_parse(const char *text, size_t len, struct bc_job *j,
			char *why, size_t wlen)
{
	struct json_tokener *tok = json_tokener_new_ex(RECORD_DEPTH);
	struct json_object *root, *pairs, *opts;
	struct rd r = { .where = "record", .why = why, .wlen = wlen };
	int rc;

	memset(j, 0, sizeof(*j));
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_parse_end(tok) != len) {
		snprintf(why, wlen, "not JSON (%s)",
			 root ? "data after the object" :
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(root);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		snprintf(why, wlen, "not a JSON object");
		return -EBADMSG;
	}
	r.o = root;
	rc = read_top(&r, j);
	if (!rc && !(rc = get(&r, "options", json_type_object, false, &opts))) {
		r.o = opts;
		r.where = "options";
		rc = read_opts(&r, &j->opts);
		r.o = root;
		r.where = "record";
	}
	if (!rc && !(rc = get(&r, "pairs", json_type_array, false, &pairs))) {
		size_t n = json_object_array_length(pairs);
		char where[32];

		if (n == 0 || n > BC_JOB_MAX_PAIRS)
			rc = bad(&r, "pairs", "has no pair or too many");
		for (size_t i = 0; !rc && i < n; i++) {
			r.o = json_object_array_get_idx(pairs, i);
			snprintf(where, sizeof(where), "pair %zu", i + 1);
			r.where = where;
			if (!json_object_is_type(r.o, json_type_object)) {
				rc = bad(&r, "pair", "is not an object");
				break;
			}
			j->n = i + 1;
			rc = read_pair(&r, &j->pairs[i]);
		}
	}
	json_object_put(root);
	if (rc)
		bc_job_release(j);
	return rc;
}

void bc_job_release(struct bc_job *j)
{
	for (size_t i = 0; i < BC_JOB_MAX_PAIRS; i++) {
		free(j->pairs[i].report);
		j->pairs[i].report = NULL;
	}
}
