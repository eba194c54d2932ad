// SPDX-License-Identifier: GPL-2.0-or-later
/* blkclone map: the allocation map of a volume. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libsmartcols.h>
#include <stdlib.h>
#include <string.h>

#include "volume/address.h"
#include "volume/extent.h"
#include "volume/io.h"
#include "cli/cli.h"

#define BATCH 256

static void map_usage(FILE *f)
{
	fprintf(f,
		"Usage: blkclone map [OPTIONS] ADDR\n\n"
		"Show the allocation map: extents (start, length, state) and totals.\n"
		"Adjacent extents in one state are merged.  A volume with no\n"
		"allocation query shows one 'mapped' extent.\n\n"
		"Options:\n"
		"  -b, --bytes    offsets and lengths in bytes, not blocks\n"
		"  -h, --help     this text\n"
		"      --json     one JSON object on stdout (schema 1)\n");
}

static const char *state_name(enum bc_extent_state s)
{
	switch (s) {
	case BC_EXTENT_DEALLOCATED: return "deallocated";
	case BC_EXTENT_ANCHORED: return "anchored";
	case BC_EXTENT_MAPPED: break;
	}
	return "mapped";
}

struct extent_vec {
	struct bc_extent *v;
	size_t n, cap;
};

static int push(struct extent_vec *x, const struct bc_extent *ext)
{
	if (x->n && x->v[x->n - 1].state == ext->state &&
	    x->v[x->n - 1].offset + x->v[x->n - 1].length == ext->offset) {
		x->v[x->n - 1].length += ext->length;
		return 0;
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		struct bc_extent *nv = realloc(x->v, cap * sizeof(*nv));

		if (!nv)
			return -1;
		x->v = nv;
		x->cap = cap;
	}
	x->v[x->n++] = *ext;
	return 0;
}

/* The whole map, merged (push), and the bytes in each state. */
static int collect(struct bc_volume *v, struct extent_vec *x, uint64_t tot[3],
		   struct bc_error *e)
{
	struct bc_extent batch[BATCH], one;
	struct bc_extent_iter it;
	int rc;

	bc_extent_iter_init(&it, v, 0, v->size, batch, BATCH);
	while ((rc = bc_extent_next(&it, &one, e)) > 0) {
		if (push(x, &one) < 0)
			return bc_error_set(e, -ENOMEM, v->name, "map", NULL);
		tot[one.state] += one.length;
	}
	return rc;
}

static const char *source_name(const struct bc_volume *v,
			       const struct bc_caps *caps)
{
	if (!bc_volume_has_map(v, caps))
		return "none";
	switch (caps->map_source) {
	case BC_MAP_SEEK_HOLE: return "seek_hole";
	case BC_MAP_GET_LBA_STATUS: return "get_lba_status";
	case BC_MAP_BACKING_FILE: return "backing_file";
	case BC_MAP_NONE: break;
	}
	return "none";
}

static void print_json(const char *addr, const struct bc_volume *v,
		       const struct bc_caps *caps, const struct extent_vec *x,
		       const uint64_t tot[3])
{
	struct bc_json j;
	char shown[320];

	bc_json_init(&j, stdout, true);
	bc_json_open_object(&j, NULL);
	bc_json_u64(&j, "schema", 1);
	bc_json_string(&j, "address", bc_addr_display(addr, shown, sizeof(shown)));
	bc_json_u64(&j, "size_bytes", v->size);
	bc_json_u64(&j, "block_size", v->block_size);
	bc_json_string(&j, "source", source_name(v, caps));
	bc_json_open_array(&j, "extents");
	for (size_t i = 0; i < x->n; i++) {
		bc_json_open_object(&j, NULL);
		bc_json_u64(&j, "offset", x->v[i].offset);
		bc_json_u64(&j, "length", x->v[i].length);
		bc_json_u64(&j, "lba", x->v[i].offset / v->block_size);
		bc_json_u64(&j, "blocks", x->v[i].length / v->block_size);
		bc_json_string(&j, "state", state_name(x->v[i].state));
		bc_json_close_object(&j);
	}
	bc_json_close_array(&j);
	bc_json_open_object(&j, "totals");
	bc_json_u64(&j, "mapped_bytes", tot[BC_EXTENT_MAPPED]);
	bc_json_u64(&j, "deallocated_bytes", tot[BC_EXTENT_DEALLOCATED]);
	bc_json_u64(&j, "anchored_bytes", tot[BC_EXTENT_ANCHORED]);
	bc_json_close_object(&j);
	bc_json_close_object(&j);
	bc_json_finish(&j);
}

/* -1 if the table cannot be made. */
static int print_table(const struct bc_volume *v, const struct bc_caps *caps,
		       const struct extent_vec *x, const uint64_t tot[3],
		       bool bytes)
{
	struct libscols_table *tb = scols_new_table();
	uint64_t div = bytes ? 1 : v->block_size;
	char a[32], b[32], cc[32];

	if (!tb)
		return -1;
	scols_table_new_column(tb, bytes ? "OFFSET" : "LBA", 0.3, SCOLS_FL_RIGHT);
	scols_table_new_column(tb, bytes ? "LENGTH" : "BLOCKS", 0.3, SCOLS_FL_RIGHT);
	scols_table_new_column(tb, "STATE", 0.4, 0);
	for (size_t i = 0; i < x->n; i++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		char s0[32], s1[32];

		if (!ln)
			break;
		snprintf(s0, sizeof(s0), "%" PRIu64, x->v[i].offset / div);
		snprintf(s1, sizeof(s1), "%" PRIu64, x->v[i].length / div);
		scols_line_set_data(ln, 0, s0);
		scols_line_set_data(ln, 1, s1);
		scols_line_set_data(ln, 2, state_name(x->v[i].state));
	}
	scols_print_table(tb);
	scols_unref_table(tb);
	printf("mapped %s, deallocated %s, anchored %s (%s)\n",
	       bc_human_bytes(tot[0], a, sizeof(a)),
	       bc_human_bytes(tot[1], b, sizeof(b)),
	       bc_human_bytes(tot[2], cc, sizeof(cc)),
	       caps->extent_map.reason);
	return 0;
}

enum { OPT_JSON = 256 };

int bc_cmd_map(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bytes", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct extent_vec x = { 0 };
	struct bc_volume *v = NULL;
	const struct bc_caps *caps;
	struct bc_error e = { 0 };
	uint64_t tot[3] = { 0, 0, 0 };
	bool json = false, bytes = false;
	int c, rc, ex = BC_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "bh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': bytes = true; break;
		case OPT_JSON: json = true; break;
		case 'h': map_usage(stdout); return BC_EXIT_OK;
		default: map_usage(stderr); return BC_EXIT_REFUSED;
		}
	}
	if (argc - optind != 1) {
		bc_cli_msg("map takes one address");
		map_usage(stderr);
		return BC_EXIT_REFUSED;
	}
	rc = bc_volume_open(argv[optind], 0, &v, &e);
	if (rc < 0) {
		bc_cli_error(&e);
		return bc_cli_exit_for_refusal(rc);
	}
	if (bc_volume_caps(v, &caps, &e) < 0 ||
	    (bc_volume_can_flush(v) && bc_volume_flush(v, &e) < 0) ||
	    collect(v, &x, tot, &e) < 0)
		goto failed;
	if (json)
		print_json(argv[optind], v, caps, &x, tot);
	else if (print_table(v, caps, &x, tot, bytes) < 0)
		goto failed;
	goto out;
failed:
	bc_cli_error(&e);
	ex = BC_EXIT_FAILED;
out:
	free(x.v);
	bc_volume_close(v);
	return ex;
}
