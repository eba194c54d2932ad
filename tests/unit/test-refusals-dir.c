/*
 * The refusal memory's files (src/core/refusals.c) in directories others may
 * have prepared: its .tmp or .lock planted as a symbolic link, the
 * directory a link, another user's, or writable by all.  Nothing is
 * written through a link and no file blkclone does not own changes; an
 * unsafe directory is neither read nor written.  (The CLI's refusal,
 * exit 2, is in doc/bad-inputs.md.)
 */
#include <errno.h>
#include <fcntl.h>
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

#include "core/refusals.h"

#define VICTIM "a file root must not write\n"

struct dirs {
	char top[64];		/* mkdtemp, removed at the end */
	char path[200];		/* $top/st/refusals */
	char victim[200];
};

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));
	char st[100];
	FILE *f;

	if (!d)
		return -1;
	snprintf(d->top, sizeof(d->top), "/tmp/bc-refusals.XXXXXX");
	if (!mkdtemp(d->top))
		return -1;
	snprintf(st, sizeof(st), "%s/st", d->top);
	snprintf(d->path, sizeof(d->path), "%s/refusals", st);
	snprintf(d->victim, sizeof(d->victim), "%s/victim", d->top);
	if (mkdir(st, 0755) < 0 || chmod(st, 0755) < 0 || !(f = fopen(d->victim, "w")))
		return -1;
	fputs(VICTIM, f);
	fclose(f);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;
	char cmd[120];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->top);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

static bool victim_intact(const struct dirs *d)
{
	char buf[128] = "";
	FILE *f = fopen(d->victim, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return !strcmp(buf, VICTIM);
}

static void plant_link(const struct dirs *d, const char *name, const char *to)
{
	char at[240];

	snprintf(at, sizeof(at), "%s/st/%s", d->top, name);
	assert_int_equal(symlink(to, at), 0);
}

/* A .tmp planted as a link to a victim: the victim keeps its bytes, and
 * the memory is a file of its own, holding the refusal. */
static void test_tmp_link(void **state)
{
	struct dirs *d = *state;
	struct stat st;
	char why[200];

	plant_link(d, "refusals.tmp", d->victim);
	assert_int_equal(bc_refusal_record(d->path, BC_METHOD_XCOPY_LID1, "s", "d", "no"), 0);
	assert_true(victim_intact(d));
	assert_int_equal(lstat(d->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_true(bc_refusal_find(d->path, BC_METHOD_XCOPY_LID1, "s", "d", why, sizeof(why)));
}

/* A .lock planted as a link (dangling): refused, nothing made where it
 * points, no memory written. */
static void test_lock_link(void **state)
{
	struct dirs *d = *state;
	char nowhere[200];

	snprintf(nowhere, sizeof(nowhere), "%s/made-through-a-link", d->top);
	plant_link(d, "refusals.lock", nowhere);
	assert_int_equal(bc_refusal_record(d->path, BC_METHOD_XCOPY_LID1, "s", "d", "no"), -EPERM);
	assert_int_equal(access(nowhere, F_OK), -1);
	assert_int_equal(access(d->path, F_OK), -1);
}

/* The memory itself a link to a file holding a refusal: not believed. */
static void test_memory_link(void **state)
{
	struct dirs *d = *state;
	char other[200], why[200];
	FILE *f;

	snprintf(other, sizeof(other), "%s/planted", d->top);
	assert_non_null(f = fopen(other, "w"));
	fputs("xcopy-lid1\ts\td\t0\tplanted\n", f);
	fclose(f);
	plant_link(d, "refusals", other);
	assert_false(bc_refusal_find(d->path, BC_METHOD_XCOPY_LID1, "s", "d", why, sizeof(why)));
}

/* Directories not to trust: a link to another, writable by all, another
 * user's (as root only).  Neither read nor written, nothing made there. */
static void test_unsafe_dirs(void **state)
{
	struct dirs *d = *state;
	char real[200], link[200], path[240], why[200], cmd[300];

	snprintf(real, sizeof(real), "%s/real", d->top);
	snprintf(link, sizeof(link), "%s/link", d->top);
	assert_int_equal(mkdir(real, 0755), 0);
	assert_int_equal(symlink(real, link), 0);
	snprintf(path, sizeof(path), "%s/refusals", link);
	assert_int_equal(bc_refusal_record(path, BC_METHOD_TOKEN, "s", "d", "no"), -EPERM);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", real);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(chmod(real, 0777), 0);
	snprintf(path, sizeof(path), "%s/refusals", real);
	assert_int_equal(bc_refusal_record(path, BC_METHOD_TOKEN, "s", "d", "no"), -EPERM);
	assert_false(bc_refusal_find(path, BC_METHOD_TOKEN, "s", "d", why, sizeof(why)));
	assert_int_equal(system(cmd), 0);

	if (geteuid() != 0)
		return;
	assert_int_equal(chmod(real, 0755), 0);
	assert_int_equal(chown(real, 65534, 65534), 0);
	assert_int_equal(bc_refusal_record(path, BC_METHOD_TOKEN, "s", "d", "no"), -EPERM);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tmp_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_dirs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
