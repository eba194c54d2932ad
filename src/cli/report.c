// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Rendering capabilities, plans and the result of a copy: text tables
 * through libsmartcols and JSON through json.c, both from the decoded
 * structs, never while probing or copying.
 */
#include <inttypes.h>
#include <libsmartcols.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

const char *bc_support_name(enum bc_support s)
{
	switch (s) {
	case BC_SUP_YES: return "supported";
	case BC_SUP_NO: return "unsupported";
	case BC_SUP_UNKNOWN: break;
	}
	return "unknown";
}

const char *bc_human_bytes(unsigned long long v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	size_t u = 0;

	while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", v);
	else
		snprintf(buf, len, "%.2f %s", d, units[u]);
	return buf;
}

static const char *prov_name(enum bc_provisioning p)
{
	switch (p) {
	case BC_PROV_FULL: return "full";
	case BC_PROV_RESOURCE: return "resource";
	case BC_PROV_THIN: return "thin";
	case BC_PROV_UNKNOWN: break;
	}
	return "unknown";
}

static const char *map_source_name(enum bc_map_source m)
{
	switch (m) {
	case BC_MAP_SEEK_HOLE: return "seek_hole";
	case BC_MAP_GET_LBA_STATUS: return "get_lba_status";
	case BC_MAP_BACKING_FILE: return "backing_file";
	case BC_MAP_NONE: break;
	}
	return "none";
}

static const char *designator_type_name(uint8_t t)
{
	switch (t) {
	case 0: return "vendor";
	case 1: return "t10";
	case 2: return "eui64";
	case 3: return "naa";
	case 4: return "relative_port";
	case 5: return "target_port_group";
	case 6: return "lu_group";
	case 7: return "md5";
	case 8: return "scsi_name";
	case 9: return "protocol_port";
	case 10: return "uuid";
	}
	return "reserved";
}

static void hex(char *buf, size_t len, const uint8_t *p, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o + 3 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", p[i]);
}

/* The rows every report shows, in one order for text and JSON. */
struct cap_row {
	const char *key;	/* JSON key */
	const char *label;	/* text label */
	const struct bc_feature *f;
};

static size_t cap_rows(const struct bc_caps *c, struct cap_row *r)
{
	size_t n = 0;

	r[n++] = (struct cap_row){ "xcopy_lid1", "Clone: EXTENDED COPY (LID1)", &c->xcopy };
	r[n++] = (struct cap_row){ "token_copy", "Clone: token copy (ODX)", &c->token };
	r[n++] = (struct cap_row){ "nvme_copy", "Clone: NVMe Copy", &c->nvme_copy };
	r[n++] = (struct cap_row){ "reflink", "Clone: reflink", &c->reflink };
	r[n++] = (struct cap_row){ "write_same_unmap", "Zero: WRITE SAME(16)+UNMAP", &c->write_same };
	r[n++] = (struct cap_row){ "zeroout", "Zero: zeroing command", &c->zeroout };
	r[n++] = (struct cap_row){ "unmap", "Delete: UNMAP/discard", &c->unmap };
	r[n++] = (struct cap_row){ "extent_map", "Extent map", &c->extent_map };
	r[n++] = (struct cap_row){ "zero_init", "Zero-init: deallocated reads 0", &c->zero_init };
	return n;
}

/* 0 and FFFFFFFFh: no limit reported. */
static void count_text(char *b, size_t len, uint32_t v, const char *what)
{
	if (!v || v == UINT32_MAX)
		snprintf(b, len, "%s unlimited", what);
	else
		snprintf(b, len, "max %u %s", v, what);
}

static void unmap_limits_text(const struct bc_unmap_limits *u, char *b,
			      size_t len)
{
	char cnt[32], desc[32], gran[80];

	count_text(cnt, sizeof(cnt), u->max_lba_count, "blocks");
	count_text(desc, sizeof(desc), u->max_descriptors, "descriptors");
	if (u->granularity <= 1)
		snprintf(gran, sizeof(gran), "granularity %s",
			 u->granularity ? "1 block" : "not reported");
	else if (u->ugavalid)
		snprintf(gran, sizeof(gran), "granularity %u blocks aligned at LBA %u",
			 u->granularity, u->alignment % u->granularity);
	else
		snprintf(gran, sizeof(gran),
			 "granularity %u blocks, alignment not reported (UGAVALID=0)",
			 u->granularity);
	snprintf(b, len, "%s, %s per UNMAP; %s", cnt, desc, gran);
}

static void limits_text(const struct bc_caps *c, const char *key, char *b,
			size_t len)
{
	b[0] = '\0';
	if (!strcmp(key, "xcopy_lid1") && c->xcopy.state == BC_SUP_YES)
		snprintf(b, len, "max %u CSCD, %u segments, list %u bytes, segment %u bytes",
			 c->xcopy_lim.max_cscd, c->xcopy_lim.max_segments,
			 c->xcopy_lim.max_desc_list_len,
			 c->xcopy_lim.max_segment_len);
	else if (!strcmp(key, "token_copy") && c->token.state == BC_SUP_YES)
		snprintf(b, len, "max %u ranges, %" PRIu64 " blocks per token",
			 c->token_lim.max_range_desc,
			 c->token_lim.max_token_transfer);
	else if (!strcmp(key, "nvme_copy") && c->nvme_copy.state == BC_SUP_YES)
		snprintf(b, len, "MSSRL %u, MCL %u, MSRC %u", c->nvme_lim.mssrl,
			 c->nvme_lim.mcl, c->nvme_lim.msrc);
	else if (!strcmp(key, "write_same_unmap") && c->write_same.state == BC_SUP_YES &&
		 c->max_write_same)
		snprintf(b, len, "max %" PRIu64 " blocks", c->max_write_same);
	else if (!strcmp(key, "unmap") && c->unmap.state == BC_SUP_YES)
		unmap_limits_text(&c->unmap_lim, b, len);
}

void bc_report_caps_text(FILE *f, const char *addr, const struct bc_caps *c)
{
	struct cap_row rows[12];
	size_t n = cap_rows(c, rows);
	struct libscols_table *tb;
	char sz[32];

	fprintf(f, "%s\n", addr);
	fprintf(f, "  backend:      %s\n", c->id.backend);
	fprintf(f, "  location:     %s\n", c->id.location);
	if (c->id.copy_domain[0])
		fprintf(f, "  copy domain:  %s\n", c->id.copy_domain);
	if (c->id.stack[0])
		fprintf(f, "  stacked on:   %s, at byte %" PRIu64 " of %s\n",
			c->id.stack, c->id.lu_offset, c->id.lu_location);
	if (c->id.n_lu_windows > 1) {
		uint64_t at = 0;

		fprintf(f, "  segments:     %zu windows onto %s:", c->id.n_lu_windows,
			c->id.lu_location);
		for (size_t i = 0; i < c->id.n_lu_windows && i < BC_MAX_LU_WINDOWS; i++) {
			fprintf(f, "%s bytes %" PRIu64 "+%" PRIu64 " at %" PRIu64,
				i ? "," : "", at, c->id.lu_windows[i].length,
				c->id.lu_windows[i].offset);
			at += c->id.lu_windows[i].length;
		}
		fputc('\n', f);
	}
	if (c->id.multipath[0]) {
		fprintf(f, "  multipath:    %s,", c->id.multipath);
		for (size_t i = 0; i < c->id.n_paths && i < BC_MAX_PATHS; i++) {
			const struct bc_path *p = &c->id.paths[i];

			fprintf(f, "%s %s %s%s%s%s", i ? "," : "", p->device, p->state,
				p->dm_state[0] ? " " : "", p->dm_state,
				p->usable ? " (usable)" : " (not usable)");
		}
		fputc('\n', f);
	}
	if (c->id.stack_stopped[0])
		fprintf(f, "  stack stops:  %s\n", c->id.stack_stopped);
	if (c->id.identity[0])
		fprintf(f, "  identity:     %s\n", c->id.identity);
	if (c->id.vendor[0] || c->id.product[0])
		fprintf(f, "  device:       %s %s %s\n", c->id.vendor,
			c->id.product, c->id.revision);
	if (c->id.serial[0])
		fprintf(f, "  serial:       %s\n", c->id.serial);
	for (size_t i = 0; i < c->id.n_designators; i++) {
		char h[2 * BC_DESIGNATOR_MAX + 1];

		hex(h, sizeof(h), c->id.designators[i].id,
		    c->id.designators[i].len);
		fprintf(f, "  designator:   %s %s\n",
			designator_type_name(c->id.designators[i].type), h);
	}
	fprintf(f, "  size:         %" PRIu64 " bytes (%s), %" PRIu64
		   " blocks of %u bytes\n", c->size,
		bc_human_bytes(c->size, sz, sizeof(sz)),
		c->block_size ? c->size / c->block_size : 0, c->block_size);
	if (c->physical_block_size)
		fprintf(f, "  physical:     %u-byte blocks\n",
			c->physical_block_size);
	fprintf(f, "  provisioning: %s%s\n", prov_name(c->provisioning),
		c->read_only ? ", read-only" : "");
	if (c->opcodes.state == BC_SUP_YES) {
		const struct bc_opcode_report *o = &c->opcodes;

		fprintf(f, "  RSOC:         %s\n"
			   "                EXTENDED COPY %s, POPULATE TOKEN %s, WRITE USING TOKEN %s,\n"
			   "                WRITE SAME(16) %s, UNMAP %s, GET LBA STATUS %s\n",
			o->reason, o->extended_copy ? "yes" : "no",
			o->populate_token ? "yes" : "no",
			o->write_using_token ? "yes" : "no",
			o->write_same16 ? "yes" : "no", o->unmap ? "yes" : "no",
			o->get_lba_status ? "yes" : "no");
	} else if (c->opcodes.state == BC_SUP_NO) {
		fprintf(f, "  RSOC:         %s\n", c->opcodes.reason);
	}
	fputc('\n', f);

	tb = scols_new_table();
	if (!tb)
		return;
	scols_table_new_column(tb, "CAPABILITY", 0.3, 0);
	scols_table_new_column(tb, "STATE", 0.1, 0);
	scols_table_new_column(tb, "WHY / LIMITS", 0.6, SCOLS_FL_WRAP);
	for (size_t i = 0; i < n; i++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		char lim[256], why[480];

		if (!ln)
			break;
		limits_text(c, rows[i].key, lim, sizeof(lim));
		snprintf(why, sizeof(why), "%s%s%s", rows[i].f->reason,
			 lim[0] ? "; " : "", lim);
		scols_line_set_data(ln, 0, rows[i].label);
		scols_line_set_data(ln, 1, bc_support_name(rows[i].f->state));
		scols_line_set_data(ln, 2, why);
	}
	scols_table_set_stream(tb, f);
	scols_print_table(tb);
	scols_unref_table(tb);
}

static void feature_json(struct bc_json *j, const char *key,
			 const struct bc_feature *f)
{
	bc_json_open_object(j, key);
	bc_json_string(j, "state", bc_support_name(f->state));
	bc_json_string(j, "reason", f->reason);
	bc_json_close_object(j);
}

/* A field of reported_opcodes: null unless the LU answered with a list. */
static void opcode_json(struct bc_json *j, const struct bc_opcode_report *o,
			const char *key, uint64_t v, bool number)
{
	if (o->state != BC_SUP_YES)
		bc_json_null(j, key);
	else if (number)
		bc_json_u64(j, key, v);
	else
		bc_json_bool(j, key, v);
}

void bc_report_caps_json(struct bc_json *j, const char *addr,
			 const struct bc_caps *c)
{
	struct cap_row rows[12];
	size_t n = cap_rows(c, rows);
	const struct bc_opcode_report *o = &c->opcodes;

	bc_json_open_object(j, NULL);
	bc_json_string(j, "address", addr);
	bc_json_string(j, "backend", c->id.backend);
	bc_json_string(j, "location", c->id.location);
	bc_json_string(j, "copy_domain", c->id.copy_domain[0] ? c->id.copy_domain : NULL);
	bc_json_string(j, "lu_location", c->id.lu_location[0] ? c->id.lu_location : NULL);
	bc_json_u64(j, "lu_offset", c->id.lu_offset);
	bc_json_string(j, "stack", c->id.stack[0] ? c->id.stack : NULL);
	/* the windows onto the unit: one, or one per segment of an LV */
	bc_json_open_array(j, "segments");
	if (c->id.n_lu_windows > 1) {
		uint64_t at = 0;

		for (size_t i = 0; i < c->id.n_lu_windows && i < BC_MAX_LU_WINDOWS; i++) {
			bc_json_open_object(j, NULL);
			bc_json_u64(j, "start", at);
			bc_json_u64(j, "length", c->id.lu_windows[i].length);
			bc_json_u64(j, "lu_offset", c->id.lu_windows[i].offset);
			bc_json_close_object(j);
			at += c->id.lu_windows[i].length;
		}
	} else {
		bc_json_open_object(j, NULL);
		bc_json_u64(j, "start", 0);
		bc_json_u64(j, "length", c->size);
		bc_json_u64(j, "lu_offset", c->id.lu_offset);
		bc_json_close_object(j);
	}
	bc_json_close_array(j);
	if (c->id.multipath[0]) {
		bc_json_open_object(j, "multipath");
		bc_json_string(j, "map", c->id.multipath);
		bc_json_open_array(j, "paths");
		for (size_t i = 0; i < c->id.n_paths && i < BC_MAX_PATHS; i++) {
			const struct bc_path *p = &c->id.paths[i];

			bc_json_open_object(j, NULL);
			bc_json_string(j, "device", p->device);
			bc_json_string(j, "state", p->state);
			bc_json_string(j, "dm_state", p->dm_state[0] ? p->dm_state : NULL);
			bc_json_u64(j, "fail_count", p->fail_count);
			bc_json_u64(j, "group", p->group);
			bc_json_bool(j, "usable", p->usable);
			bc_json_string(j, "designator", p->designator[0] ? p->designator : NULL);
			bc_json_close_object(j);
		}
		bc_json_close_array(j);
		bc_json_close_object(j);
	} else {
		bc_json_null(j, "multipath");
	}
	bc_json_string(j, "stack_stopped", c->id.stack_stopped[0] ? c->id.stack_stopped : NULL);
	bc_json_string(j, "unit", c->id.unit[0] ? c->id.unit : NULL);
	bc_json_open_array(j, "unit_keys");
	for (size_t i = 0; i < c->id.n_unit_keys && i < BC_MAX_UNIT_KEYS; i++)
		bc_json_string(j, NULL, c->id.unit_keys[i]);
	bc_json_close_array(j);
	bc_json_bool(j, "unit_known_by_path_only", c->id.unit_weak);
	bc_json_string(j, "identity", c->id.identity);
	bc_json_string(j, "vendor", c->id.vendor);
	bc_json_string(j, "product", c->id.product);
	bc_json_string(j, "revision", c->id.revision);
	bc_json_string(j, "serial", c->id.serial);
	bc_json_open_array(j, "designators");
	for (size_t i = 0; i < c->id.n_designators; i++) {
		const struct bc_designator *d = &c->id.designators[i];
		char h[2 * BC_DESIGNATOR_MAX + 1];

		hex(h, sizeof(h), d->id, d->len);
		bc_json_open_object(j, NULL);
		bc_json_string(j, "type", designator_type_name(d->type));
		bc_json_u64(j, "association", d->association);
		bc_json_u64(j, "code_set", d->code_set);
		bc_json_string(j, "hex", h);
		bc_json_close_object(j);
	}
	bc_json_close_array(j);
	bc_json_u64(j, "size_bytes", c->size);
	bc_json_u64(j, "logical_block_size", c->block_size);
	bc_json_u64(j, "physical_block_size", c->physical_block_size);
	bc_json_u64(j, "optimal_transfer_bytes", c->opt_transfer);
	bc_json_u64(j, "maximum_transfer_bytes", c->max_transfer);
	bc_json_bool(j, "read_only", c->read_only);
	bc_json_string(j, "provisioning", prov_name(c->provisioning));
	bc_json_string(j, "map_source", map_source_name(c->map_source));
	/* Cinder's capability name: only device evidence makes it true. */
	bc_json_bool(j, "sparse_copy_volume", c->zero_init.state == BC_SUP_YES);
	bc_json_open_object(j, "capabilities");
	for (size_t i = 0; i < n; i++)
		feature_json(j, rows[i].key, rows[i].f);
	bc_json_close_object(j);
	bc_json_open_object(j, "limits");
	bc_json_open_object(j, "xcopy_lid1");
	bc_json_u64(j, "max_cscd_descriptors", c->xcopy_lim.max_cscd);
	bc_json_u64(j, "max_segment_descriptors", c->xcopy_lim.max_segments);
	bc_json_u64(j, "max_descriptor_list_length", c->xcopy_lim.max_desc_list_len);
	bc_json_u64(j, "max_segment_length", c->xcopy_lim.max_segment_len);
	/* SPC-4 RECEIVE COPY OPERATING PARAMETERS: byte 36 and bytes 34-35
	 * (the total over every initiator); the fewer is what blkclone keeps
	 * in flight */
	bc_json_u64(j, "max_concurrent_copies", c->xcopy_lim.max_concurrent_copies);
	bc_json_u64(j, "total_concurrent_copies", c->xcopy_lim.max_concurrent);
	bc_json_close_object(j);
	bc_json_open_object(j, "token_copy");
	bc_json_u64(j, "max_range_descriptors", c->token_lim.max_range_desc);
	bc_json_u64(j, "max_inactivity_timeout", c->token_lim.max_inactivity_s);
	bc_json_u64(j, "default_inactivity_timeout", c->token_lim.default_inactivity_s);
	bc_json_u64(j, "max_token_transfer_blocks", c->token_lim.max_token_transfer);
	bc_json_u64(j, "optimal_transfer_blocks", c->token_lim.optimal_transfer);
	bc_json_close_object(j);
	bc_json_open_object(j, "nvme_copy");
	bc_json_u64(j, "mssrl", c->nvme_lim.mssrl);
	bc_json_u64(j, "mcl", c->nvme_lim.mcl);
	bc_json_u64(j, "msrc", c->nvme_lim.msrc);
	bc_json_close_object(j);
	bc_json_open_object(j, "unmap");
	bc_json_u64(j, "max_lba_count", c->unmap_lim.max_lba_count);
	bc_json_u64(j, "max_descriptors", c->unmap_lim.max_descriptors);
	bc_json_u64(j, "granularity", c->unmap_lim.granularity);
	bc_json_u64(j, "alignment", c->unmap_lim.alignment);
	bc_json_bool(j, "alignment_valid", c->unmap_lim.ugavalid);
	bc_json_close_object(j);
	bc_json_u64(j, "max_write_same_blocks", c->max_write_same);
	bc_json_close_object(j);
	/* evidence only; the listed flags are null where no list came back */
	bc_json_open_object(j, "reported_opcodes");
	bc_json_string(j, "state", bc_support_name(o->state));
	bc_json_string(j, "reason", o->reason[0] ? o->reason : "not asked");
	opcode_json(j, o, "commands", o->commands, true);
	opcode_json(j, o, "truncated", o->truncated, false);
	opcode_json(j, o, "extended_copy", o->extended_copy, false);
	opcode_json(j, o, "populate_token", o->populate_token, false);
	opcode_json(j, o, "write_using_token", o->write_using_token, false);
	opcode_json(j, o, "receive_rod_token_information", o->receive_rod_token_info, false);
	opcode_json(j, o, "receive_copy_operating_parameters", o->receive_copy_params, false);
	opcode_json(j, o, "write_same_16", o->write_same16, false);
	opcode_json(j, o, "unmap", o->unmap, false);
	opcode_json(j, o, "get_lba_status", o->get_lba_status, false);
	bc_json_close_object(j);
	bc_json_close_object(j);
}

void bc_report_plan_text(FILE *f, const struct bc_plan *p)
{
	struct libscols_table *tb = scols_new_table();

	fprintf(f, "\nPlan: %s\n", p->chosen == BC_METHOD_NONE ?
		"no usable method" : bc_method_name(p->chosen));
	if (!tb)
		return;
	scols_table_new_column(tb, "METHOD", 0.15, 0);
	scols_table_new_column(tb, "USABLE", 0.1, 0);
	scols_table_new_column(tb, "WHY", 0.75, SCOLS_FL_WRAP);
	for (size_t i = 0; i < p->n; i++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);

		if (!ln)
			break;
		scols_line_set_data(ln, 0, bc_method_name(p->steps[i].method));
		scols_line_set_data(ln, 1, p->steps[i].usable ? "yes" : "no");
		scols_line_set_data(ln, 2, p->steps[i].reason);
	}
	scols_table_set_stream(tb, f);
	scols_print_table(tb);
	scols_unref_table(tb);
	fprintf(f, "Holes: %s%s\n",
		p->dest_proven_zero ? "skipped, " : "", p->dest_zero_reason);
	/* what a clone session started now would capture, per usable method */
	for (size_t i = 0, n = 0; i < p->n; i++)
		if (p->steps[i].consistency != BC_CONSISTENCY_NONE)
			fprintf(f, "%s%s: %s: %s\n", n++ ? "  " : "Point in time:\n  ",
				bc_method_name(p->steps[i].method),
				bc_consistency_name(p->steps[i].consistency),
				p->steps[i].consistency_reason);
	if (p->note[0])
		fprintf(f, "Note: %s\n", p->note);
	if (p->identity[0])
		fprintf(f, "Identity: %s\n", p->identity);
}

static void step_consistency_json(struct bc_json *j, const struct bc_plan_step *st)
{
	bool none = st->consistency == BC_CONSISTENCY_NONE;

	bc_json_string(j, "consistency", none ? NULL :
		       bc_consistency_name(st->consistency));
	bc_json_string(j, "consistency_reason", none ? NULL : st->consistency_reason);
}

void bc_report_plan_json(struct bc_json *j, const char *key,
			 const struct bc_plan *p)
{
	bc_json_open_object(j, key);
	bc_json_string(j, "method", p->chosen == BC_METHOD_NONE ? NULL :
		       bc_method_name(p->chosen));
	bc_json_open_array(j, "steps");
	for (size_t i = 0; i < p->n; i++) {
		bc_json_open_object(j, NULL);
		bc_json_string(j, "method", bc_method_name(p->steps[i].method));
		bc_json_bool(j, "usable", p->steps[i].usable);
		bc_json_string(j, "reason", p->steps[i].reason);
		step_consistency_json(j, &p->steps[i]);
		bc_json_close_object(j);
	}
	bc_json_close_array(j);
	bc_json_bool(j, "destination_proven_zero", p->dest_proven_zero);
	bc_json_string(j, "holes", p->dest_zero_reason);
	bc_json_string(j, "note", p->note[0] ? p->note : NULL);
	bc_json_string(j, "identity", p->identity);
	bc_json_string(j, "consistency", p->consistency == BC_CONSISTENCY_NONE ?
		       NULL : bc_consistency_name(p->consistency));
	bc_json_string(j, "consistency_reason", p->consistency == BC_CONSISTENCY_NONE ?
		       NULL : p->consistency_reason);
	bc_json_close_object(j);
}

void bc_report_copy_json(FILE *f, const struct bc_clone_result *r)
{
	const struct bc_copy_stats *st = &r->stats;
	bool ok = r->outcome == BC_CLONE_OK;
	struct bc_json j;
	char msg[1024];

	bc_json_init(&j, f, true);
	bc_json_open_object(&j, NULL);
	bc_json_u64(&j, "schema", 1);
	bc_json_string(&j, "source", r->source);
	bc_json_string(&j, "destination", r->destination);
	bc_json_string(&j, "status", ok ? "ok" : "failed");
	bc_json_string(&j, "error", ok ? NULL :
		       bc_error_format(&r->error, msg, sizeof(msg)));
	bc_json_string(&j, "method", r->used == BC_METHOD_NONE ? NULL :
		       bc_method_name(r->used));
	bc_json_u64(&j, "size_bytes", st->total_bytes);
	bc_json_u64(&j, "offloaded_bytes", st->offloaded_bytes);
	bc_json_u64(&j, "read_bytes", st->read_bytes);
	bc_json_u64(&j, "written_bytes", st->written_bytes);
	bc_json_u64(&j, "zeroed_bytes", st->zeroed_bytes);
	bc_json_u64(&j, "skipped_bytes", st->skipped_bytes);
	bc_json_u64(&j, "resume_offset", st->resume_offset);
	bc_json_double(&j, "seconds", st->seconds);
	if (st->chunk_bytes) {
		bc_json_open_object(&j, "host_io");
		bc_json_u64(&j, "chunk_bytes", st->chunk_bytes);
		bc_json_u64(&j, "workers", st->workers);
		bc_json_u64(&j, "flushes", st->flushes);
		bc_json_u64(&j, "immed_flushes", st->immed_flushes);
		bc_json_u64(&j, "depth", st->depth);
		bc_json_u64(&j, "write_behind_bytes", st->write_behind);
		bc_json_close_object(&j);
	} else {
		bc_json_null(&j, "host_io");
	}
	bc_json_open_object(&j, "flush");
	bc_json_string(&j, "policy", bc_flush_policy_name(r->flush));
	bc_json_u64(&j, "count", st->dest_flushes);
	bc_json_u64(&j, "unflushed_bytes", st->unflushed_bytes);
	bc_json_u64(&j, "durable_offset", st->durable_offset);
	bc_json_close_object(&j);
	bc_json_bool(&j, "verified", r->verified);
	/* 0: the copy read its source for itself alone */
	bc_json_u64(&j, "fanout", r->fanout);
	if (r->fallback.happened) {
		bc_json_open_object(&j, "fallback");
		bc_json_string(&j, "method", bc_method_name(r->fallback.method));
		bc_json_string(&j, "reason", r->fallback.reason);
		bc_json_close_object(&j);
	} else {
		bc_json_null(&j, "fallback");
	}
	if (r->planned)
		bc_report_plan_json(&j, "plan", &r->plan);
	else
		bc_json_null(&j, "plan");
	bc_json_close_object(&j);
	bc_json_finish(&j);
}

void bc_report_copy_text(FILE *f, const struct bc_clone_result *r)
{
	const struct bc_copy_stats *st = &r->stats;
	const struct bc_fallback *fb = &r->fallback;
	char a[32], b[32], c[32], d[32], g[32], h[32];
	double rate = st->seconds > 0 ? (double)st->total_bytes / st->seconds : 0;

	if (fb->happened)
		fprintf(f, "offload %s refused, continued on the host: %s\n",
			bc_method_name(fb->method), fb->reason);
	fprintf(f, "%s -> %s: %s copy of %s in %.2f s (%s/s)%s\n", r->source,
		r->destination, bc_method_name(r->used),
		bc_human_bytes(st->total_bytes, a, sizeof(a)), st->seconds,
		bc_human_bytes((unsigned long long)rate, b, sizeof(b)),
		r->verified ? ", verified" : "");
	fprintf(f, "  offloaded %s, read %s, wrote %s, zeroed %s, skipped %s\n",
		bc_human_bytes(st->offloaded_bytes, c, sizeof(c)),
		bc_human_bytes(st->read_bytes, d, sizeof(d)),
		bc_human_bytes(st->written_bytes, g, sizeof(g)),
		bc_human_bytes(st->zeroed_bytes, h, sizeof(h)),
		bc_human_bytes(st->skipped_bytes, a, sizeof(a)));
	if (r->flush == BC_FLUSH_NEVER)
		fprintf(f, "  not flushed (--flush=never): %s may still be in %s's cache\n",
			bc_human_bytes(st->unflushed_bytes, b, sizeof(b)),
			r->destination);
}

void bc_report_copy_failure(const struct bc_clone_result *r)
{
	const struct bc_copy_stats *st = &r->stats;

	bc_cli_error(&r->error);
	switch (r->hint) {
	case BC_CLONE_HINT_UNTOUCHED:
		bc_cli_msg("%s was refused before anything was written: the destination is untouched (--offload=require: no host copy)",
			   bc_method_name(r->plan.chosen));
		break;
	case BC_CLONE_HINT_REMOVED:
		bc_cli_msg("nothing was written: %s, which this copy had created, was removed",
			   r->destination);
		break;
	case BC_CLONE_HINT_RESUME:
		bc_cli_msg("stopped at byte %" PRIu64 " of %" PRIu64
			   "; the destination is incomplete: continue with --resume-from=%" PRIu64,
			   st->resume_offset, st->total_bytes, r->resume_lba);
		break;
	case BC_CLONE_HINT_ALL_WRITTEN:
		bc_cli_msg("every block was written before this failure (in the final flush or --verify): nothing to resume; copy again with --verify to be sure of the data");
		break;
	case BC_CLONE_HINT_NONE:
		break;
	}
}
