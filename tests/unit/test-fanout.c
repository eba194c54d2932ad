/*
 * Template fan-out planning (src/core/fanout-plan.c): which pairs of a job
 * share their source reads.  Sources are told apart by their identity
 * (the unit keys and the byte range on the unit), never by the address
 * typed; only host copies that start at the same offset share.  Tables
 * with literal expected groups; no devices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/fanout.h"

#define GiB (1024ULL * 1024 * 1024)
#define MAXP 6

/* A source as a row names it: its unit keys (";"-separated), the window's
 * offset on the unit, its size and block size. */
struct src_row {
	const char *keys;
	uint64_t lu_offset, size;
	uint32_t block;
};

struct plan_row {
	const char *what;
	size_t n;
	struct src_row src[MAXP];	/* keys NULL: a session not planned */
	enum bc_method method[MAXP];
	uint64_t start[MAXP];
	size_t want_group[MAXP];
	size_t want_shared;
};

#define H BC_METHOD_HOST
#define X BC_METHOD_XCOPY_LID1
#define T1 { "iscsi-lun:iqn.2026-11.t:tpl/1;naa:60000000000000000e00000000010001", 0, 4 * GiB, 512 }
/* the same LU reached on another portal: only the location differs, and
 * the planner never sees locations or addresses */
#define T1_OTHER_PORTAL T1
/* the same LU by its designator alone (a second target name for it) */
#define T1_BY_NAA { "naa:60000000000000000e00000000010001", 0, 4 * GiB, 512 }
#define T2 { "iscsi-lun:iqn.2026-11.t:tpl/2;naa:60000000000000000e00000000010002", 0, 4 * GiB, 512 }
#define F1 { "file:8:1:1234", 0, 4 * GiB, 512 }

static const struct plan_row rows[] = {
	{ "one source, three destinations: one group", 3,
	  { T1, T1_OTHER_PORTAL, T1_BY_NAA }, { H, H, H }, { 0, 0, 0 },
	  { 0, 0, 0 }, 3 },
	{ "a pair alone shares nothing", 1, { T1 }, { H }, { 0 }, { 0 }, 0 },
	{ "two templates interleaved: two groups", 4,
	  { T1, T2, T1, T2 }, { H, H, H, H }, { 0, 0, 0, 0 },
	  { 0, 1, 0, 1 }, 4 },
	{ "an in-array pair runs alone, one command per pair", 3,
	  { T1, T1, T1 }, { H, X, H }, { 0, 0, 0 }, { 0, 1, 0 }, 2 },
	{ "every pair in-array: nothing shared", 2,
	  { T1, T1 }, { X, X }, { 0, 0 }, { 0, 1 }, 0 },
	{ "a resumed pair that stopped elsewhere copies alone", 3,
	  { T1, T1, T1 }, { H, H, H }, { 0, 1 << 20, 0 }, { 0, 1, 0 }, 2 },
	{ "two windows (partitions) of one unit are not one source", 2,
	  { { "dev:8:0", 0, 1 * GiB, 512 }, { "dev:8:0", 1 * GiB, 1 * GiB, 512 } },
	  { H, H }, { 0, 0 }, { 0, 1 }, 0 },
	{ "one unit, overlapping windows of other sizes: not the same bytes", 2,
	  { { "dev:8:0", 0, 2 * GiB, 512 }, { "dev:8:0", 0, 1 * GiB, 512 } },
	  { H, H }, { 0, 0 }, { 0, 1 }, 0 },
	{ "the same bytes in other block sizes: not shared", 2,
	  { { "dev:8:0", 0, 1 * GiB, 512 }, { "dev:8:0", 0, 1 * GiB, 4096 } },
	  { H, H }, { 0, 0 }, { 0, 1 }, 0 },
	{ "keys of other kinds never meet", 2,
	  { T1, F1 }, { H, H }, { 0, 0 }, { 0, 1 }, 0 },
	{ "a session not planned joins nothing", 3,
	  { T1, { NULL, 0, 0, 0 }, T1 }, { H, H, H }, { 0, 0, 0 },
	  { 0, 1, 0 }, 2 },
	{ "an offload member in the middle keeps the group of the rest", 5,
	  { T2, T1, T1, T2, T1 }, { H, H, X, H, H }, { 0, 0, 0, 0, 0 },
	  { 0, 1, 2, 0, 1 }, 4 },
};

static void fill_id(struct bc_identity *id, const struct src_row *r)
{
	char keys[512], *save = NULL;

	memset(id, 0, sizeof(*id));
	snprintf(id->location, sizeof(id->location), "somewhere");
	id->lu_offset = r->lu_offset;
	snprintf(keys, sizeof(keys), "%s", r->keys);
	for (char *k = strtok_r(keys, ";", &save); k; k = strtok_r(NULL, ";", &save))
		snprintf(id->unit_keys[id->n_unit_keys++], BC_UNIT_KEY_MAX, "%s", k);
}

static void test_plan_table(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof(rows) / sizeof(rows[0]); t++) {
		const struct plan_row *r = &rows[t];
		static struct bc_identity ids[MAXP];
		struct bc_fanout_pair p[MAXP];
		size_t group[MAXP], shared;

		for (size_t i = 0; i < r->n; i++) {
			if (r->src[i].keys)
				fill_id(&ids[i], &r->src[i]);
			p[i] = (struct bc_fanout_pair){
				.src_id = r->src[i].keys ? &ids[i] : NULL,
				.src_size = r->src[i].size,
				.src_block = r->src[i].block,
				.method = r->method[i],
				.start = r->start[i],
			};
		}
		shared = bc_fanout_plan(p, r->n, group);
		for (size_t i = 0; i < r->n; i++) {
			if (group[i] != r->want_group[i])
				fail_msg("%s: pair %zu in group %zu, want %zu", r->what,
					 i, group[i], r->want_group[i]);
		}
		if (shared != r->want_shared)
			fail_msg("%s: %zu pairs share, want %zu", r->what, shared,
				 r->want_shared);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
