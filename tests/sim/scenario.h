/*
 * The shared SCSI scenario list (tests/scenarios/common.scn): parsing a
 * row, checking a reply against an expectation, and the rules that keep
 * the simulator's rows equal to the real targets' (scn_lint_row).  Pure
 * functions over bounded buffers, no I/O, so tests/fuzz/fuzz-scenario.c
 * can feed them anything.  The row format is described at the top of
 * common.scn.
 */
#ifndef BC_TEST_SCENARIO_H
#define BC_TEST_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCN_MAX_LINE	16384	/* longer lines are an error */
#define SCN_MAX_NAME	128
#define SCN_MAX_TEXT	200	/* an expectation's text, for messages */
#define SCN_MAX_FIELDS	8	/* label fields and markers after the data */
#define SCN_MAX_CHECKS	8	/* byte checks per expectation */
#define SCN_MAX_BYTES	16	/* bytes per "bytes N = ..." check */
#define SCN_MAX_DATA	8192	/* data-in or data-out per command */
#define SCN_MAX_REFS	4	/* "@OFF+LEN" pieces per data-out */

/* The targets a row can speak for. */
enum scn_label {
	SCN_LIO,	/* LIO (kernel 6.1) in the test VM */
	SCN_SIM_LIO,	/* the simulator's LIO personality */
	SCN_SIM_SPC,	/* the simulator's SPC personality */
	SCN_TGT,	/* tgt 1.0.85 on 127.0.0.1 */
	SCN_NLABELS
};

enum scn_dir { SCN_DIR_NONE, SCN_DIR_IN, SCN_DIR_OUT };

struct scn_check {		/* data-in bytes [off, off + len) */
	uint32_t off;
	uint8_t len;		/* 1 .. SCN_MAX_BYTES */
	uint8_t mask;		/* "byte N & MASK = V" (len 1); else 0xff */
	uint8_t val[SCN_MAX_BYTES];
};

struct scn_expect {
	bool good;		/* else CHECK CONDITION with key (and ASC/ASCQ) */
	bool has_asc;
	uint8_t key, asc, ascq;
	unsigned nchecks;
	struct scn_check check[SCN_MAX_CHECKS];
};

/* data-out bytes [at, at + len) = the last data-in reply's [off, off + len) */
struct scn_ref {
	uint32_t at, off, len;
};

struct scn_field {
	unsigned labels;	/* 1u << enum scn_label */
	struct scn_expect ex;
	char text[SCN_MAX_TEXT];
};

struct scn_row {
	char name[SCN_MAX_NAME];
	uint8_t cdb[16];
	uint8_t cdb_len;
	enum scn_dir dir;
	uint32_t data_len;	/* data-in allocation or data-out length */
	uint8_t data[SCN_MAX_DATA];
	struct scn_ref ref[SCN_MAX_REFS];
	unsigned nref;
	struct scn_field field[SCN_MAX_FIELDS];
	unsigned nfields;
	unsigned unverified;	/* labels not yet run on the real target */
	unsigned differs[2];	/* "A != B: why": the two labels, or 0 */
	char why[SCN_MAX_TEXT];
};

/* "lio" -> SCN_LIO ...; -1 for anything else. */
int scn_label_parse(const char *s, size_t len);
const char *scn_label_name(enum scn_label l);

/*
 * Parse one line (no newline needed) into @r.  1: a row; 0: blank or a
 * comment; -1: malformed, with the reason in @err.
 */
int scn_parse_row(const char *line, struct scn_row *r, char *err, size_t errlen);

/* The field that speaks for @l, or NULL. */
const struct scn_field *scn_row_field(const struct scn_row *r, enum scn_label l);

bool scn_expect_equal(const struct scn_expect *a, const struct scn_expect *b);

/*
 * The rules that keep the simulator honest (0, or -1 with @err):
 *  - lio and sim-lio: both or neither, and the same expectation;
 *  - sim-spc and tgt: both or neither; the same expectation unless the
 *    row says "sim-spc != tgt: WHY" (and then they must really differ);
 *  - no other "!=" pair; "unverified:" names only labels of the row.
 */
int scn_lint_row(const struct scn_row *r, char *err, size_t errlen);

/*
 * Does the outcome match?  @status is the SAM status; @key/@asc/@ascq
 * the decoded sense; @data/@len what came back.  On a mismatch, @why
 * says what was seen.
 */
bool scn_expect_match(const struct scn_expect *ex, uint8_t status, uint8_t key,
		      uint8_t asc, uint8_t ascq, const uint8_t *data, size_t len,
		      char *why, size_t wlen);

/*
 * Fill @r's "@OFF+LEN" pieces of data-out from @prev (@prev_len bytes,
 * the last data-in reply); bytes beyond @prev_len become zero.
 */
void scn_fill_refs(struct scn_row *r, const uint8_t *prev, size_t prev_len);

#endif
