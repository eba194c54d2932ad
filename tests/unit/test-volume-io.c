/* The checked calls into a volume's backend (src/volume/io.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memvol.h"
#include "volume/io.h"

/* A backend with no operation at all beside its name. */
static const struct bc_volume_ops bare_ops = { .name = "bare" };

static struct bc_volume bare(void)
{
	return (struct bc_volume){ .ops = &bare_ops, .name = "bare",
				   .size = 8192, .block_size = 512 };
}

/* A request outside the volume or off a block boundary never reaches
 * the backend. */
static void test_rejected_before_the_backend(void **state)
{
	struct bc_volume *v = memvol_new("v", 64 * 1024, 512, true, true, true);
	struct memvol *m = memvol_of(v);
	struct bc_error e = { 0 };
	char buf[1024] = { 0 };
	struct bc_extent x[4];
	size_t n = 9;

	(void)state;
	assert_int_equal(bc_volume_read(v, buf, 100, 512, &e), -EINVAL);
	assert_string_equal(e.op, "read");
	assert_non_null(strstr(e.detail, "not whole 512-byte blocks"));
	assert_int_equal(bc_volume_write(v, buf, 64 * 1024 - 512, 1024, &e), -EINVAL);
	assert_true(e.has_lba);
	assert_int_equal(e.lba, 127);
	assert_non_null(strstr(e.detail, "past the end"));
	assert_int_equal(bc_volume_read(v, buf, 64 * 1024 + 512, 0, &e), -EINVAL);
	/* a length that wraps around 64 bits */
	assert_int_equal(bc_volume_zero(v, 512, UINT64_MAX - 100, 0, &e), -EINVAL);
	assert_int_equal(bc_volume_discard(v, 512, UINT64_MAX, &e), -EINVAL);
	assert_int_equal(bc_volume_map(v, 1024, 64 * 1024, x, 4, &n, &e), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(m->reads + m->writes + m->zeros + m->maps, 0);
	bc_volume_close(v);
}

/* In range: the backend answers, a map also at a byte offset (a file's
 * SEEK_DATA/SEEK_HOLE), a length ending inside a block left to it. */
static void test_passed_to_the_backend(void **state)
{
	struct bc_volume *v = memvol_new("v", 64 * 1024, 512, true, true, true);
	struct memvol *m = memvol_of(v);
	struct bc_error e = { 0 };
	char buf[1024] = { 0 };
	struct bc_extent x[4];
	uint64_t done = 7;
	size_t n = 0;

	(void)state;
	memvol_fill(v, 0, 4096, 1);
	assert_int_equal(bc_volume_read(v, buf, 63 * 1024, 1024, &e), 0);
	assert_int_equal(bc_volume_write(v, buf, 0, 1024, &e), 0);
	assert_int_equal(bc_volume_map(v, 0, 64 * 1024, x, 4, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bc_volume_map(v, 100, 1000, x, 4, &n, &e), 0);
	assert_int_equal(bc_volume_zero(v, 4096, 4096, 0, &e), 0);
	assert_int_equal(bc_volume_flush(v, &e), 0);
	assert_int_equal(m->reads, 1);
	assert_int_equal(m->writes, 1);
	assert_int_equal(m->maps, 2);
	assert_int_equal(m->zeros, 1);
	assert_int_equal(m->flushes, 1);
	/* memvol refuses it itself, with its own word */
	assert_int_equal(bc_volume_read(v, buf, 512, 100, &e), -EINVAL);
	assert_string_equal(e.detail, "unaligned");
	m->offload = true;
	assert_int_equal(bc_volume_offload_copy(v, 0, v, 8192, 4096,
						BC_METHOD_XCOPY_LID1, NULL, &done,
						&e), 0);
	assert_int_equal(done, 4096);
	assert_int_equal(bc_volume_offload_copy(v, 0, v, 62 * 1024, 4096,
						BC_METHOD_XCOPY_LID1, NULL, &done,
						&e), -EINVAL);
	assert_int_equal(done, 0);
	assert_int_equal(m->offload_calls, 1);
	bc_volume_close(v);
}

/* No such operation: -EOPNOTSUPP, said in @e; no map, nothing to flush,
 * no copy manager. */
static void test_missing_operations(void **state)
{
	struct bc_volume v = bare();
	struct bc_caps c = { .extent_map.state = BC_SUP_YES };
	struct bc_error e = { 0 };
	struct bc_extent x[2];
	char buf[512];
	uint64_t done = 7;
	size_t n = 3;

	(void)state;
	assert_int_equal(bc_volume_read(&v, buf, 0, 512, &e), -EOPNOTSUPP);
	assert_int_equal(e.err, -EOPNOTSUPP);
	assert_string_equal(e.op, "read");
	assert_int_equal(bc_volume_write(&v, buf, 0, 512, &e), -EOPNOTSUPP);
	assert_string_equal(e.op, "write");
	assert_int_equal(bc_volume_map(&v, 0, 512, x, 2, &n, &e), -EOPNOTSUPP);
	assert_int_equal(n, 0);
	assert_int_equal(bc_volume_zero(&v, 0, 512, 0, &e), -EOPNOTSUPP);
	assert_string_equal(e.op, "zero");
	assert_string_equal(e.device, "bare");
	assert_int_equal(bc_volume_discard(&v, 0, 512, &e), -EOPNOTSUPP);
	assert_int_equal(bc_volume_flush(&v, &e), -EOPNOTSUPP);
	assert_int_equal(bc_volume_offload_copy(&v, 0, &v, 4096, 512,
						BC_METHOD_TOKEN, NULL, &done, &e),
			 -EOPNOTSUPP);
	assert_int_equal(done, 0);
	assert_non_null(strstr(e.detail, "is not implemented for this volume"));
	assert_false(bc_volume_has_map(&v, &c));
	assert_false(bc_volume_can_flush(&v));
	assert_false(bc_volume_can_offload(&v));
}

/* A map is used only where the backend has one and the probe found it
 * working. */
static void test_has_map(void **state)
{
	struct bc_volume *v = memvol_new("v", 4096, 512, true, true, false);
	struct bc_caps c = { .extent_map.state = BC_SUP_YES };

	(void)state;
	assert_true(bc_volume_has_map(v, &c));
	assert_false(bc_volume_has_map(v, NULL));
	c.extent_map.state = BC_SUP_UNKNOWN;
	assert_false(bc_volume_has_map(v, &c));
	assert_true(bc_volume_can_flush(v));
	assert_true(bc_volume_can_offload(v));
	bc_volume_close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rejected_before_the_backend),
		cmocka_unit_test(test_passed_to_the_backend),
		cmocka_unit_test(test_missing_operations),
		cmocka_unit_test(test_has_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
