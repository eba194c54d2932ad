/*
 * The refusal memory (src/core/refusals.c): where the file lives, what a line
 * says and when, recording and forgetting a pair, the oldest pairs
 * dropped past 512, and files that are not what blkclone writes (junk
 * lines, binary, an overlong line, a last line without its newline, a
 * directory that cannot be made).  The file's bytes are the oracle: what
 * the tests write by hand is read back, what the code writes is read
 * with plain stdio here.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <blkclone/copy.h>

#include "core/refusals.h"
#include "tmpdir.h"

static void put_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The whole file, NUL-terminated (static buffer). */
static const char *get_file(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t lines(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_path(void **state)
{
	static const struct {
		const char *state_dir, *xdg, *home;
		int rc;
		const char *root, *user;	/* expected for euid 0 / others */
	} rows[] = {
		{ "/srv/bc", "/x", "/h", 0, "/srv/bc/refusals", "/srv/bc/refusals" },
		{ "", "/x", "/h", 0, "/var/lib/blkclone/refusals", "/x/blkclone/refusals" },
		{ NULL, NULL, "/h", 0, "/var/lib/blkclone/refusals",
		  "/h/.local/state/blkclone/refusals" },
		{ NULL, "", "", 0, "/var/lib/blkclone/refusals", NULL },
	};
	char *saved[3];
	const char *names[3] = { "BLKCLONE_STATE_DIR", "XDG_STATE_HOME", "HOME" };

	(void)state;
	for (int k = 0; k < 3; k++)
		saved[k] = getenv(names[k]) ? strdup(getenv(names[k])) : NULL;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *val[3] = { rows[i].state_dir, rows[i].xdg, rows[i].home };
		const char *want = geteuid() == 0 ? rows[i].root : rows[i].user;
		char buf[256];

		for (int k = 0; k < 3; k++)
			if (val[k])
				setenv(names[k], val[k], 1);
			else
				unsetenv(names[k]);
		if (!want) {
			assert_int_equal(bc_refusal_path(buf, sizeof(buf)), -ENOENT);
			continue;
		}
		assert_int_equal(bc_refusal_path(buf, sizeof(buf)), rows[i].rc);
		assert_string_equal(buf, want);
	}
	for (int k = 0; k < 3; k++) {
		if (saved[k])
			setenv(names[k], saved[k], 1);
		else
			unsetenv(names[k]);
		free(saved[k]);
	}
}

/* A file as a person or another version might leave it: junk, binary,
 * an unreadable time, a pair refused twice. */
static const char hand_made[] =
	"xcopy-lid1\tiscsi://a/t/1\tiscsi://a/t/2\t1700000000\tCOPY ABORTED: copy target device not reachable\n"
	"token\tiscsi://a/t/1\tiscsi://a/t/2\t1700003600\tINVALID TOKEN OPERATION\n"
	"garbage without tabs\n"
	"\n"
	"xcopy-lid1\tonly\tthree fields\n"
	"\x01\x02\xff binary\t\t\t\t\n"
	"xcopy-lid1\tiscsi://a/t/1\tiscsi://a/t/3\tnot-a-number\tcorrupt time\n"
	"xcopy-lid1\tiscsi://a/t/1\tiscsi://a/t/2\t1700007200\tsecond refusal, the last line wins\n";

static void test_find(void **state)
{
	static const struct {
		enum bc_method m;
		const char *src, *dst;
		bool found;
		const char *why;
	} rows[] = {
		{ BC_METHOD_XCOPY_LID1, "iscsi://a/t/1", "iscsi://a/t/2", true,
		  "second refusal, the last line wins, on 2023-11-15 00:13 UTC" },
		{ BC_METHOD_TOKEN, "iscsi://a/t/1", "iscsi://a/t/2", true,
		  "INVALID TOKEN OPERATION, on 2023-11-14 23:13 UTC" },
		{ BC_METHOD_XCOPY_LID1, "iscsi://a/t/2", "iscsi://a/t/1", false, "" },
		{ BC_METHOD_NVME_COPY, "iscsi://a/t/1", "iscsi://a/t/2", false, "" },
		{ BC_METHOD_XCOPY_LID1, "iscsi://a/t/1", "iscsi://a/t/3", true,
		  "corrupt time, on 1970-01-01 00:00 UTC" },
		{ BC_METHOD_XCOPY_LID1, "only", "three fields", false, "" },
		{ BC_METHOD_XCOPY_LID1, "", "", false, "" },
	};
	char path[128], why[800];

	(void)state;
	snprintf(path, sizeof(path), "%s/find", unit_dir);
	put_file(path, hand_made, sizeof(hand_made) - 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		strcpy(why, "");
		assert_int_equal(bc_refusal_find(path, rows[i].m, rows[i].src, rows[i].dst,
						 why, sizeof(why)), rows[i].found);
		assert_string_equal(why, rows[i].why);
	}
	/* no file: nothing refused */
	snprintf(path, sizeof(path), "%s/none", unit_dir);
	assert_false(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "a", "b", why, sizeof(why)));
}

/* Did the reason come back as "@why, on YYYY-MM-DD HH:MM UTC"? */
static void assert_why(const char *got, const char *why)
{
	size_t n = strlen(why);

	assert_int_equal(strncmp(got, why, n), 0);
	assert_int_equal(strlen(got), n + strlen(", on 2026-01-01 00:00 UTC"));
	assert_int_equal(strncmp(got + n, ", on ", 5), 0);
	assert_string_equal(got + strlen(got) - 4, " UTC");
}

static void test_record_and_forget(void **state)
{
	char path[128], tmp[140], why[800], *before;

	(void)state;
	/* directories are made on the way */
	snprintf(path, sizeof(path), "%s/state/deeper/refusals", unit_dir);
	assert_int_equal(bc_refusal_record(path, BC_METHOD_XCOPY_LID1, "s1", "d1",
					   "first"), 0);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s1", "d1", why, sizeof(why)));
	assert_why(why, "first");
	/* a second refusal of the pair replaces the first */
	assert_int_equal(bc_refusal_record(path, BC_METHOD_XCOPY_LID1, "s1", "d1",
					   "second"), 0);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s1", "d1", why, sizeof(why)));
	assert_why(why, "second");
	assert_int_equal(lines(get_file(path)), 1);
	assert_int_equal(strncmp(get_file(path), "xcopy-lid1\ts1\td1\t", 17), 0);
	/* another method of the same pair is another line */
	assert_int_equal(bc_refusal_record(path, BC_METHOD_TOKEN, "s1", "d1", "tok"), 0);
	assert_int_equal(lines(get_file(path)), 2);
	/* tabs and newlines in names and reasons cannot break a line */
	assert_int_equal(bc_refusal_record(path, BC_METHOD_XCOPY_LID1, "a\tb", "c\nd",
					   "x\ny\tz"), 0);
	assert_int_equal(lines(get_file(path)), 3);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "a\tb", "c\nd", why, sizeof(why)));
	assert_why(why, "x y z");
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "a b", "c d", why, sizeof(why)));
	/* forget one pair; the others stay */
	assert_int_equal(bc_refusal_forget(path, BC_METHOD_XCOPY_LID1, "s1", "d1"), 0);
	assert_false(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s1", "d1", why, sizeof(why)));
	assert_true(bc_refusal_find(path, BC_METHOD_TOKEN, "s1", "d1", why, sizeof(why)));
	assert_int_equal(lines(get_file(path)), 2);
	/* forgetting a pair that is not there changes nothing */
	before = strdup(get_file(path));
	assert_non_null(before);
	assert_int_equal(bc_refusal_forget(path, BC_METHOD_REFLINK, "s1", "d1"), 0);
	assert_string_equal(get_file(path), before);
	free(before);
	/* no temporary file is left behind */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
}

/*
 * A file blkclone did not write: junk lines are dropped when it is
 * rewritten, valid ones kept, each on its own line -- also a last line
 * without its newline and the pieces of a line longer than a line may be.
 */
static void test_corrupt_file(void **state)
{
	char path[128], why[800], *big;
	const char *f;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/corrupt", unit_dir);
	put_file(path, hand_made, sizeof(hand_made) - 1);
	assert_int_equal(bc_refusal_record(path, BC_METHOD_REFLINK, "f1", "f2", "new"), 0);
	f = get_file(path);
	assert_string_equal(strstr(f, "reflink\tf1\tf2\t") == NULL ? "missing" : "ok", "ok");
	/* every line with its five fields stays -- both of the pair refused
	 * twice, the unreadable time, and the binary one: a method this
	 * version does not know may be a newer version's -- and the new one;
	 * the lines without five fields go */
	assert_int_equal(lines(f), 6);
	assert_null(strstr(f, "garbage"));
	assert_null(strstr(f, "three fields"));
	assert_null(strstr(f, "\n\n"));
	assert_non_null(strstr(f, "\x01\x02\xff binary\t\t\t\t\n"));
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "iscsi://a/t/1",
				    "iscsi://a/t/2", why, sizeof(why)));
	assert_string_equal(why, "second refusal, the last line wins, on 2023-11-15 00:13 UTC");
	assert_true(bc_refusal_find(path, BC_METHOD_TOKEN, "iscsi://a/t/1",
				    "iscsi://a/t/2", why, sizeof(why)));

	/* the last line has no newline (a hand edit, a crash of another
	 * writer): a new refusal must still be a line of its own */
	put_file(path, "xcopy-lid1\ts1\td1\t1700000000\tno newline",
		 strlen("xcopy-lid1\ts1\td1\t1700000000\tno newline"));
	assert_int_equal(bc_refusal_record(path, BC_METHOD_TOKEN, "s2", "d2", "after"), 0);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s1", "d1", why, sizeof(why)));
	assert_string_equal(why, "no newline, on 2023-11-14 22:13 UTC");
	assert_true(bc_refusal_find(path, BC_METHOD_TOKEN, "s2", "d2", why, sizeof(why)));
	assert_why(why, "after");
	assert_int_equal(lines(get_file(path)), 2);

	/* a line of 3000 bytes with valid fields, then a valid line */
	n = 3000;
	big = malloc(n + 200);
	assert_non_null(big);
	strcpy(big, "xcopy-lid1\tbig\tbig\t1700000000\t");
	memset(big + strlen(big), 'x', n - strlen(big));
	big[n] = '\0';
	strcat(big, "\nxcopy-lid1\ts3\td3\t1700003600\tafter the long one\n");
	put_file(path, big, strlen(big));
	free(big);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s3", "d3", why, sizeof(why)));
	assert_string_equal(why, "after the long one, on 2023-11-14 23:13 UTC");
	assert_int_equal(bc_refusal_record(path, BC_METHOD_TOKEN, "s4", "d4", "new"), 0);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s3", "d3", why, sizeof(why)));
	assert_true(bc_refusal_find(path, BC_METHOD_TOKEN, "s4", "d4", why, sizeof(why)));
	f = get_file(path);
	for (const char *l = f; *l; l = strchr(l, '\n') + 1) {
		/* every line has its five fields */
		const char *e = strchr(l, '\n');
		int tabs = 0;

		assert_non_null(e);
		for (const char *c = l; c < e; c++)
			tabs += *c == '\t';
		assert_int_equal(tabs, 4);
	}
}

/* At most 512 pairs: a new one pushes the oldest out. */
static void test_oldest_dropped(void **state)
{
	char path[128], why[800], *text, *p;

	(void)state;
	snprintf(path, sizeof(path), "%s/full", unit_dir);
	text = malloc(512 * 64);
	assert_non_null(text);
	p = text;
	for (int i = 0; i < 512; i++)
		p += sprintf(p, "xcopy-lid1\ts%d\td\t1700000000\tr%d\n", i, i);
	put_file(path, text, (size_t)(p - text));
	free(text);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s0", "d", why, sizeof(why)));
	assert_int_equal(bc_refusal_record(path, BC_METHOD_XCOPY_LID1, "s512", "d", "r512"), 0);
	assert_int_equal(lines(get_file(path)), 512);
	assert_false(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s0", "d", why, sizeof(why)));
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s1", "d", why, sizeof(why)));
	assert_string_equal(why, "r1, on 2023-11-14 22:13 UTC");
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s512", "d", why, sizeof(why)));
	/* re-recording a pair moves it to the end instead of dropping one */
	assert_int_equal(bc_refusal_record(path, BC_METHOD_XCOPY_LID1, "s1", "d", "again"), 0);
	assert_int_equal(lines(get_file(path)), 512);
	assert_true(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s2", "d", why, sizeof(why)));
}

/* A place that cannot hold the file: an error, and nothing is refused. */
static void test_unwritable(void **state)
{
	char file[128], path[160], why[800];

	(void)state;
	snprintf(file, sizeof(file), "%s/a-file", unit_dir);
	put_file(file, "x", 1);
	snprintf(path, sizeof(path), "%s/refusals", file);
	assert_int_equal(bc_refusal_record(path, BC_METHOD_XCOPY_LID1, "s", "d", "w"),
			 -ENOTDIR);
	assert_false(bc_refusal_find(path, BC_METHOD_XCOPY_LID1, "s", "d", why, sizeof(why)));
	assert_int_equal(bc_refusal_forget(path, BC_METHOD_XCOPY_LID1, "s", "d"), 0);
}

/* The plan under each policy, with a refusal of EXTENDED COPY on file. */
static void test_apply(void **state)
{
	static const struct {
		enum bc_offload_policy policy;
		enum bc_method chosen;
		const char *reason;	/* of the EXTENDED COPY step */
	} rows[] = {
		{ BC_OFFLOAD_AUTO, BC_METHOD_HOST,
		  "refused by the target for this pair before: COPY ABORTED 0D/02, on 2023-11-14 22:13 UTC" },
		{ BC_OFFLOAD_REQUIRE, BC_METHOD_XCOPY_LID1,
		  "refused for this pair before (COPY ABORTED 0D/02, on 2023-11-14 22:13 UTC); tried again: --offload=require" },
		{ BC_OFFLOAD_NEVER, BC_METHOD_HOST, "--offload=never" },
	};
	static const char line[] = "xcopy-lid1\tsim:t/0\tsim:t/1\t1700000000\tCOPY ABORTED 0D/02\n";
	char path[128], *saved = getenv("BLKCLONE_STATE_DIR") ?
				 strdup(getenv("BLKCLONE_STATE_DIR")) : NULL;
	struct bc_caps s, d;

	(void)state;
	snprintf(path, sizeof(path), "%s/refusals", unit_dir);
	put_file(path, line, sizeof(line) - 1);
	setenv("BLKCLONE_STATE_DIR", unit_dir, 1);
	memset(&s, 0, sizeof(s));
	s.block_size = 512;
	snprintf(s.id.backend, sizeof(s.id.backend), "iscsi");
	snprintf(s.id.copy_domain, sizeof(s.id.copy_domain), "sim:t");
	s.xcopy.state = BC_SUP_YES;
	s.token.state = s.nvme_copy.state = s.reflink.state = BC_SUP_NO;
	d = s;
	snprintf(s.id.location, sizeof(s.id.location), "sim:t/0");
	snprintf(d.id.location, sizeof(d.id.location), "sim:t/1");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bc_plan p;
		struct bc_error e = { 0 };

		bc_plan_make(&s, &d, rows[i].policy, false, false, &p);
		assert_int_equal(bc_refusal_apply(&p, rows[i].policy, &s, &d, "sim:t/1", &e), 0);
		assert_int_equal(p.chosen, rows[i].chosen);
		assert_int_equal(p.steps[0].method, BC_METHOD_XCOPY_LID1);
		assert_string_equal(p.steps[0].reason, rows[i].reason);
	}
	if (saved)
		setenv("BLKCLONE_STATE_DIR", saved, 1);
	else
		unsetenv("BLKCLONE_STATE_DIR");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_record_and_forget),
		cmocka_unit_test(test_corrupt_file),
		cmocka_unit_test(test_oldest_dropped),
		cmocka_unit_test(test_unwritable),
		cmocka_unit_test(test_apply),
	};

	return cmocka_run_group_tests(tests, unit_dir_make, unit_dir_remove);
}
