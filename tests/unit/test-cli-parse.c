/* Option values an admin types: --offload, --resume-from and --timeout. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/cli-parse.h"

static void test_offload(void **state)
{
	static const struct {
		const char *s;
		int rc;
		enum bc_offload_policy want;
	} t[] = {
		{ "auto", 0, BC_OFFLOAD_AUTO },
		{ "require", 0, BC_OFFLOAD_REQUIRE },
		{ "never", 0, BC_OFFLOAD_NEVER },
		{ "", -EINVAL, 0 },
		{ "Auto", -EINVAL, 0 },
		{ "req", -EINVAL, 0 },
		{ "never ", -EINVAL, 0 },
		{ " auto", -EINVAL, 0 },
		{ "requireX", -EINVAL, 0 },
		{ "maybe", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum bc_offload_policy p = (enum bc_offload_policy)77;

		assert_int_equal(bc_cli_parse_offload(t[i].s, &p), t[i].rc);
		assert_int_equal(p, t[i].rc ? 77 : (int)t[i].want);
	}
	assert_int_equal(bc_cli_parse_offload(NULL, &(enum bc_offload_policy){ 0 }), -EINVAL);
}

static void test_lba(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t want;
	} t[] = {
		{ "0", 0, 0 },
		{ "10", 0, 10 },
		{ "007", 0, 7 },
		{ "18446744073709551615", 0, 18446744073709551615ULL },
		{ "18446744073709551616", -EINVAL, 0 },	/* 2^64 */
		{ "99999999999999999999", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ " -5", -EINVAL, 0 },	/* strtoull made this 2^64 - 5 */
		{ "+5", -EINVAL, 0 },
		{ " 5", -EINVAL, 0 },
		{ "5 ", -EINVAL, 0 },
		{ "12x", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "abc", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 4242;

		assert_int_equal(bc_cli_parse_lba(t[i].s, &v), t[i].rc);
		assert_true(v == (t[i].rc ? 4242 : t[i].want));
	}
}

static void test_seconds(void **state)
{
	static const struct {
		const char *s;
		int rc;
		unsigned want;
	} t[] = {
		{ "1", 0, 1 },
		{ "30", 0, 30 },
		{ "0030", 0, 30 },
		{ "4294967295", 0, 4294967295u },
		{ "4294967296", -EINVAL, 0 },	/* 2^32 */
		{ "0", -EINVAL, 0 },		/* no time at all is not a bound */
		{ "000", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+5", -EINVAL, 0 },
		{ " 5", -EINVAL, 0 },
		{ "5s", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
		{ "soon", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned v = 4242;

		assert_int_equal(bc_cli_parse_seconds(t[i].s, &v), t[i].rc);
		assert_true(v == (t[i].rc ? 4242 : t[i].want));
	}
}

static void test_size(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t want;
	} t[] = {
		{ "0", 0, 0 },		/* the option says what is too small */
		{ "4096", 0, 4096 },
		{ "4K", 0, 4096 },
		{ "256K", 0, 262144 },
		{ "1M", 0, 1048576 },
		{ "64M", 0, 64ull << 20 },
		{ "1G", 0, 1ull << 30 },
		{ "1T", 0, 1ull << 40 },
		{ "16777215T", 0, 16777215ull << 40 },
		{ "16777216T", -EINVAL, 0 },	/* 2^64 */
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "K", -EINVAL, 0 },		/* a unit without a number */
		{ "1k", -EINVAL, 0 },		/* units are capitals, as printed */
		{ "1KB", -EINVAL, 0 },
		{ "1KiB", -EINVAL, 0 },
		{ "1.5M", -EINVAL, 0 },
		{ "-1M", -EINVAL, 0 },
		{ "+1M", -EINVAL, 0 },
		{ " 1M", -EINVAL, 0 },
		{ "1M ", -EINVAL, 0 },
		{ "1Q", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "99999999999999999999999999K", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 4242;
		int rc = bc_cli_parse_size(t[i].s, &v);

		if (rc != t[i].rc || (!rc && v != t[i].want) || (rc && v != 4242))
			fail_msg("'%s': rc %d value %llu", t[i].s, rc,
				 (unsigned long long)v);
	}
	assert_int_equal(bc_cli_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offload),
		cmocka_unit_test(test_lba),
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
