/*
 * scsi-scenario [-v] LABEL TARGET FILE: run the scenarios of FILE (see
 * tests/scenarios/common.scn) against TARGET and check the expectations
 * written for LABEL.  TARGET is an iscsi:// URL, or "sim-lio" / "sim-spc"
 * for a fresh simulator LU of that personality.  Rows run in order on
 * one LU; a row without an expectation for LABEL is not sent.  -v prints
 * each reply's data-in as hex (for writing new rows).  Prints TAP; exits
 * 1 on any failed expectation, 77 if no scenario has one for LABEL.
 *
 * scsi-scenario --check FILE: parse every row and apply the rules that
 * keep the simulator's rows equal to the real targets' (scn_lint_row in
 * scenario.c); print the rows per label.  Exits 1 on any problem.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blkclone/error.h>

#include "transport/iscsi/session.h"
#include "scsi/lu.h"
#include "scsi/transport.h"
#include "scenario.h"
#include "simlu.h"

static struct scn_row row;		/* 8 KiB of data: not on the stack */
static uint8_t reply[SCN_MAX_DATA];
static char line[SCN_MAX_LINE + 2];

/* The next line of @f into line[]: 1, 0 at the end, -1 if too long. */
static int next_line(FILE *f)
{
	size_t n;

	if (!fgets(line, sizeof(line), f))
		return 0;
	n = strlen(line);
	if (n && line[n - 1] == '\n') {
		line[n - 1] = '\0';
		return 1;
	}
	if (n < sizeof(line) - 1)
		return 1;		/* the last line, without a newline */
	while (fgets(line, sizeof(line), f) && !strchr(line, '\n'))
		;
	return -1;
}

static int lint(const char *path)
{
	unsigned rows = 0, problems = 0, lineno = 0, count[SCN_NLABELS] = { 0 };
	unsigned unverified[SCN_NLABELS] = { 0 }, differ = 0, same = 0;
	char err[300];
	FILE *f = fopen(path, "re");
	int rc;

	if (!f) {
		perror(path);
		return 2;
	}
	while ((rc = next_line(f))) {
		lineno++;
		if (rc < 0 || (rc = scn_parse_row(line, &row, err, sizeof(err))) < 0 ||
		    (rc && scn_lint_row(&row, err, sizeof(err)) < 0)) {
			printf("not ok - %s:%u: %s\n", path, lineno,
			       rc < 0 && !err[0] ? "line too long" : err);
			problems++;
			continue;
		}
		if (!rc)
			continue;
		rows++;
		for (int l = 0; l < SCN_NLABELS; l++) {
			count[l] += scn_row_field(&row, (enum scn_label)l) != NULL;
			unverified[l] += !!(row.unverified & 1u << l);
		}
		if (scn_row_field(&row, SCN_SIM_SPC))
			row.differs[0] ? differ++ : same++;
	}
	fclose(f);
	printf("# %u rows\n", rows);
	for (int l = 0; l < SCN_NLABELS; l++)
		printf("# %s: %u rows, %u of them not yet run on the real target\n",
		       scn_label_name((enum scn_label)l), count[l], unverified[l]);
	printf("# sim-spc = tgt on %u rows, differs (with a reason) on %u\n", same, differ);
	printf("# %u problems\n", problems);
	return problems ? 1 : 0;
}

static int open_target(const char *target, struct bc_sim **sim,
		       struct bc_scsi_transport **t)
{
	struct bc_error e = { 0 };
	struct bc_sim_lu_cfg c;

	if (!strcmp(target, "sim-lio") || !strcmp(target, "sim-spc")) {
		*sim = bc_sim_new();
		if (!*sim)
			return -ENOMEM;
		/* the LUs the list runs on: 64 MiB of 512-byte blocks, as
		 * tgt's scenario LUN and LIO's backstore t (tests/vm/init,
		 * which sets unmap_zeroes_data: LBPRZ) */
		if (target[4] == 'l') {
			bc_sim_lu_cfg_lio(&c, 131072, 512, 1);
			c.lbprz = true;
		} else {
			bc_sim_lu_cfg_spc(&c, 131072, 512, 1);
		}
		if (bc_sim_add_lu(*sim, &c) < 0)
			return -EINVAL;
		return bc_sim_open(*sim, 0, t);
	}
	if (bc_iscsi_connect(target, t, &e) < 0) {
		char m[400];

		fprintf(stderr, "scsi-scenario: %s\n", bc_error_format(&e, m, sizeof(m)));
		return e.err;
	}
	return 0;
}

static void dump(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s%02x%s", i % 16 ? "" : "#   ", p[i],
		       i % 16 == 15 || i + 1 == n ? "\n" : " ");
}

int main(int argc, char **argv)
{
	struct bc_scsi_transport *t = NULL;
	struct bc_sim *sim = NULL;
	unsigned ran = 0, failed = 0, lineno = 0;
	size_t prev_len = 0;
	bool verbose = argc > 1 && !strcmp(argv[1], "-v");
	int label, rc;
	FILE *f;

	if (argc == 3 && !strcmp(argv[1], "--check"))
		return lint(argv[2]);
	argv += verbose;
	argc -= verbose;
	if (argc != 4) {
		fprintf(stderr, "usage: scsi-scenario [-v] LABEL TARGET FILE\n"
			"       scsi-scenario --check FILE\n");
		return 2;
	}
	label = scn_label_parse(argv[1], strlen(argv[1]));
	if (label < 0) {
		fprintf(stderr, "scsi-scenario: unknown label %s\n", argv[1]);
		return 2;
	}
	f = fopen(argv[3], "re");
	if (!f || open_target(argv[2], &sim, &t) < 0) {
		perror(argv[3]);
		return 2;
	}
	/* every new I_T nexus may start with a UNIT ATTENTION: take it */
	for (int i = 0; i < 3; i++) {
		struct bc_scsi_cmd c = { .cdb = { 0 }, .cdb_len = 6 };
		struct bc_error e = { 0 };

		bc_scsi_execute(t, &c, &e);
	}
	while ((rc = next_line(f))) {
		const struct scn_field *fl;
		struct bc_scsi_cmd c;
		struct bc_status st;
		struct bc_error e = { 0 };
		char why[300];
		size_t got;

		lineno++;
		if (rc < 0 || (rc = scn_parse_row(line, &row, why, sizeof(why))) < 0) {
			printf("not ok - line %u: %s\n", lineno, rc < 0 && !why[0] ?
			       "line too long" : why);
			failed++;
			continue;
		}
		if (!rc || !(fl = scn_row_field(&row, (enum scn_label)label)))
			continue;	/* nothing said for this target */
		memset(&c, 0, sizeof(c));
		memcpy(c.cdb, row.cdb, sizeof(c.cdb));
		c.cdb_len = row.cdb_len;
		c.data_len = row.data_len;
		if (row.dir == SCN_DIR_IN) {
			c.dir = BC_SCSI_DIR_IN;
			c.data = reply;
			memset(reply, 0, sizeof(reply));
		} else if (row.dir == SCN_DIR_OUT) {
			scn_fill_refs(&row, reply, prev_len);
			c.dir = BC_SCSI_DIR_OUT;
			c.data = row.data;
		}
		ran++;
		if (bc_scsi_execute(t, &c, &e) < 0) {
			printf("not ok - %s: not delivered: %s\n", row.name, e.detail);
			failed++;
			continue;
		}
		bc_lu_decode_sense(c.sense, c.sense_len, c.status, &st);
		got = 0;
		if (row.dir == SCN_DIR_IN) {
			got = c.resid < c.data_len ? c.data_len - c.resid : 0;
			prev_len = got;
		}
		if (scn_expect_match(&fl->ex, c.status, st.sense_key, st.asc, st.ascq,
				     reply, got, why, sizeof(why)))
			printf("ok - %s: %s\n", row.name, fl->text);
		else {
			printf("not ok - %s: wanted %s, got %s\n", row.name, fl->text, why);
			failed++;
		}
		if (row.unverified & 1u << label)
			printf("# \"%s\" had not been run on %s before: once it passes, "
			       "remove its \"unverified: %s\"\n", row.name, argv[1], argv[1]);
		if (verbose && got)
			dump(reply, got);
		if (verbose && c.status)
			printf("#   sense %x/%02x/%02x\n", st.sense_key, st.asc, st.ascq);
	}
	fclose(f);
	bc_scsi_transport_close(t);
	if (sim)
		bc_sim_free(sim);
	printf("# %s: %u scenarios, %u failed\n", argv[1], ran, failed);
	return failed ? 1 : ran ? 0 : 77;
}
