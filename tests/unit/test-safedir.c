// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Files in a trusted directory (src/util/safedir.c), the checks made on
 * an open descriptor.  A job record is replaced by a rename while
 * `blkclone job wait` polls it: a reader can open the old record just
 * before the rename and fstat it just after, when it has no name left.
 * That file was ours and complete when it was opened, so reading it is
 * safe; writing a file that lost its name (or has a second one) is not.
 * The window is made here without a race: the file is opened, then
 * unlinked or linked, then checked.
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
#include <unistd.h>

#include <cmocka.h>

#include "util/safedir.h"
#include "tmpdir.h"

/* open unit_dir/name through the checked call, with @flags */
static int open_in(const char *name, int flags, char *why, size_t len)
{
	int dfd = bc_safedir_open(unit_dir, false, "test directory", why, len);
	int fd;

	assert_true(dfd >= 0);
	fd = bc_safedir_openat(dfd, unit_dir, name, flags, 0600, "test file", why, len);
	close(dfd);
	return fd;
}

static int open_raw(const char *name, int flags)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", unit_dir, name);
	return open(path, flags | O_CREAT, 0600);
}

/* replaced after it was opened: still readable, not writable */
static void test_replaced_file(void **state)
{
	char path[600], why[600];
	int fd, wfd;

	(void)state;
	fd = open_raw("rec.json", O_RDONLY);
	wfd = open_raw("lock", O_RDWR);
	assert_true(fd >= 0 && wfd >= 0);
	snprintf(path, sizeof(path), "%s/rec.json", unit_dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/lock", unit_dir);
	assert_int_equal(unlink(path), 0);

	why[0] = 0;
	assert_int_equal(bc_safedir_check(fd, O_RDONLY, unit_dir, "rec.json", "job record",
					  why, sizeof(why)), 0);
	assert_int_equal(bc_safedir_check(wfd, O_RDWR, unit_dir, "lock", "lock file", why,
					  sizeof(why)), -EPERM);
	snprintf(path, sizeof(path),
		 "lock file %s/lock has no name left: it was removed or replaced after it was opened",
		 unit_dir);
	assert_string_equal(why, path);
	close(fd);
	close(wfd);
}

/* a second name: refused for reading as for writing */
static void test_second_name(void **state)
{
	char a[128], b[128], why[600];
	int fd;

	(void)state;
	fd = open_raw("one", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	snprintf(a, sizeof(a), "%s/one", unit_dir);
	snprintf(b, sizeof(b), "%s/two", unit_dir);
	assert_int_equal(link(a, b), 0);
	assert_int_equal(open_in("one", O_RDONLY, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "/one has 2 links; it may be another file's name"));
	assert_int_equal(open_in("two", O_RDWR, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "/two has 2 links; it may be another file's name"));
	assert_int_equal(unlink(b), 0);
	fd = open_in("one", O_RDONLY, why, sizeof(why));
	assert_true(fd >= 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replaced_file, unit_dir_make, unit_dir_remove),
		cmocka_unit_test_setup_teardown(test_second_name, unit_dir_make, unit_dir_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
