/*
 * scsi-scenario LABEL TARGET FILE: run the scenarios of FILE (see
 * tests/scenarios/common.scn) against TARGET and check the expectations
 * written for LABEL.  TARGET is an iscsi:// URL, or "sim-lio" / "sim-spc"
 * for a fresh simulator LU of that personality.  The same file runs
 * against the simulator and against tgt and LIO, so the simulator cannot
 * drift from what the real targets answer.  Prints TAP; exits 1 on any
 * failed expectation, 77 if no scenario has one for LABEL.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blkclone/error.h>

#include "iscsi/session.h"
#include "scsi/lu.h"
#include "scsi/transport.h"
#include "simlu.h"


#define MAX_DATA 8192

/* Hex bytes with "XX*N" for N copies; returns the count or -1. */
static int parse_hex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (*s) {
		unsigned v, rep = 1;
		char *end;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		v = (unsigned)strtoul(s, &end, 16);
		if (end == s || v > 0xff)
			return -1;
		s = end;
		if (*s == '*') {
			rep = (unsigned)strtoul(s + 1, &end, 10);
			if (end == s + 1)
				return -1;
			s = end;
		}
		while (rep--) {
			if (n == max)
				return -1;
			out[n++] = (uint8_t)v;
		}
	}
	return (int)n;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Does the comma-separated label list @labels name @label? */
static bool names(const char *labels, const char *label)
{
	size_t n = strlen(label);

	for (const char *p = labels; *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		while (l && isspace((unsigned char)*p)) {
			p++;
			l--;
		}
		while (l && isspace((unsigned char)p[l - 1]))
			l--;
		if (l == n && !strncmp(p, label, n))
			return true;
		if (!c)
			break;
		p = c + 1;
	}
	return false;
}

/*
 * Check one expectation against the command's outcome: "good",
 * "check K[/ASC/ASCQ]", optionally followed by "; byte N [& MASK] = V".
 */
static bool expect(const char *ex, const struct bc_scsi_cmd *c,
		   const struct bc_status *st, char *why, size_t wlen)
{
	const char *b = strstr(ex, "byte");
	unsigned k, asc, ascq;
	int n;

	if (!strncmp(ex, "good", 4)) {
		if (c->status != 0) {
			snprintf(why, wlen, "status %#x, sense %x/%02x/%02x", c->status,
				 st->sense_key, st->asc, st->ascq);
			return false;
		}
	} else if (!strncmp(ex, "check", 5)) {
		n = sscanf(ex + 5, " %x/%x/%x", &k, &asc, &ascq);
		if (c->status != BC_SAM_CHECK_CONDITION || n < 1 || st->sense_key != k ||
		    (n == 3 && (st->asc != asc || st->ascq != ascq))) {
			snprintf(why, wlen, "status %#x, sense %x/%02x/%02x", c->status,
				 st->sense_key, st->asc, st->ascq);
			return false;
		}
	} else {
		snprintf(why, wlen, "bad expectation \"%s\"", ex);
		return false;
	}
	if (b) {
		unsigned off, mask = 0xff, val;

		if (sscanf(b, "byte %u & %x = %x", &off, &mask, &val) != 3 &&
		    sscanf(b, "byte %u = %x", &off, &val) != 2) {
			snprintf(why, wlen, "bad byte expectation \"%s\"", b);
			return false;
		}
		if (off >= c->data_len - c->resid ||
		    (((const uint8_t *)c->data)[off] & mask) != val) {
			snprintf(why, wlen, "byte %u is %#x", off,
				 off < c->data_len - c->resid ?
				 ((const uint8_t *)c->data)[off] : 0x100);
			return false;
		}
	}
	return true;
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
		if (target[4] == 'l')
			bc_sim_lu_cfg_lio(&c, 131072, 512, 1);
		else
			bc_sim_lu_cfg_spc(&c, 131072, 512, 1);
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

int main(int argc, char **argv)
{
	struct bc_scsi_transport *t = NULL;
	struct bc_sim *sim = NULL;
	char line[16384];
	unsigned ran = 0, failed = 0, lineno = 0;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: scsi-scenario LABEL TARGET FILE\n");
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
	while (fgets(line, sizeof(line), f)) {
		char *field[8], *p = line, *name, *ex = NULL, why[200] = "";
		static uint8_t data[MAX_DATA];
		struct bc_scsi_cmd c;
		struct bc_status st;
		struct bc_error e = { 0 };
		int nf = 0, n;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!*trim(line) || *trim(line) == '#')
			continue;
		while (nf < 8 && (field[nf] = strsep(&p, "|")))
			nf++;
		if (nf < 4) {
			printf("not ok - line %u: needs name | cdb | data | expectations\n", lineno);
			failed++;
			continue;
		}
		name = trim(field[0]);
		for (int i = 3; i < nf; i++) {
			char *x = trim(field[i]), *colon = strchr(x, ':');

			if (colon && (*colon = '\0', names(x, argv[1])))
				ex = trim(colon + 1);
		}
		if (!ex)
			continue;	/* nothing said for this target */
		memset(&c, 0, sizeof(c));
		n = parse_hex(trim(field[1]), c.cdb, sizeof(c.cdb));
		if (n != 6 && n != 10 && n != 12 && n != 16) {
			printf("not ok - %s: bad CDB\n", name);
			failed++;
			continue;
		}
		c.cdb_len = (uint8_t)n;
		{
			char *d = trim(field[2]);

			memset(data, 0, sizeof(data));
			if (!strncmp(d, "in ", 3)) {
				c.dir = BC_SCSI_DIR_IN;
				c.data_len = strtoul(d + 3, NULL, 10);
			} else if (!strncmp(d, "out ", 4)) {
				n = parse_hex(d + 4, data, sizeof(data));
				c.dir = BC_SCSI_DIR_OUT;
				c.data_len = n < 0 ? 0 : (size_t)n;
			}
			if (c.data_len > sizeof(data)) {
				printf("not ok - %s: data too long\n", name);
				failed++;
				continue;
			}
			c.data = data;
		}
		ran++;
		if (bc_scsi_execute(t, &c, &e) < 0) {
			printf("not ok - %s: not delivered: %s\n", name, e.detail);
			failed++;
			continue;
		}
		bc_lu_decode_sense(c.sense, c.sense_len, c.status, &st);
		if (expect(ex, &c, &st, why, sizeof(why)))
			printf("ok - %s: %s\n", name, ex);
		else {
			printf("not ok - %s: wanted %s, got %s\n", name, ex, why);
			failed++;
		}
	}
	fclose(f);
	bc_scsi_transport_close(t);
	if (sim)
		bc_sim_free(sim);
	printf("# %s: %u scenarios, %u failed\n", argv[1], ran, failed);
	return failed ? 1 : ran ? 0 : 77;
}
