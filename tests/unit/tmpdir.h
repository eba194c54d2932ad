/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fresh directory under /tmp for a unit test's real files, as cmocka
 * setup and teardown (test-refusals, test-safedir): unit_dir_make makes
 * /tmp/bc-unit-XXXXXX into unit_dir, unit_dir_remove removes it with
 * everything in it.  Both return 0 or -1, as cmocka wants.
 */
#ifndef BC_TEST_TMPDIR_H
#define BC_TEST_TMPDIR_H

extern char unit_dir[64];

int unit_dir_make(void **state);
int unit_dir_remove(void **state);

#endif
