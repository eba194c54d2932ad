/*
 * The clone session (src/core/clone.c) on files in a temporary directory:
 * a clean clone and its result, refusals that leave the destination as it
 * was (or remove the file the session created), the resume rule, offload
 * required between files that cannot clone, a stop before the first
 * write, a failure mid-copy, which keeps what was written and says where
 * to resume, and one in the verify, with nothing to resume.  The files' bytes and
 * modes are the oracle, read with plain stdio here.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <blkclone/clone.h>

#define MIB (1024 * 1024)

static char dir[64], src_path[128], dst_path[128];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bc-clone-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(src_path, sizeof(src_path), "%s/src.img", dir);
	snprintf(dst_path, sizeof(dst_path), "%s/dst.img", dir);
	/* no refusal memory from elsewhere, nor written there */
	return setenv("BLKCLONE_STATE_DIR", dir, 1);
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* @len bytes, each from @seed and its offset: no block reads zero. */
static void put_file(const char *path, size_t len, unsigned seed, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (size_t i = 0; i < len; i++)
		assert_int_not_equal(fputc((int)(1 + (i * 7 + seed) % 251), f), EOF);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static bool same_bytes(const char *a, const char *b)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	int ca, cb;

	assert_non_null(fa);
	assert_non_null(fb);
	do {
		ca = fgetc(fa);
		cb = fgetc(fb);
	} while (ca == cb && ca != EOF);
	fclose(fa);
	fclose(fb);
	return ca == cb;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int creates;

static void count_create(void *arg)
{
	assert_ptr_equal(arg, &creates);
	creates++;
}

/* What each test works with, fresh from its setup: host copies only,
 * unless the test says otherwise (the directory's filesystem may or may
 * not clone), and no refusal memory. */
static struct bc_clone_opts o;
static struct bc_error e;
static struct bc_clone *c;
static volatile sig_atomic_t cancel;

static int fresh(void **state)
{
	(void)state;
	o = (struct bc_clone_opts){
		.copy = { .offload = BC_OFFLOAD_NEVER },
		.no_refusal_memory = true,
		.before_create = count_create,
		.before_create_arg = &creates,
	};
	memset(&e, 0, sizeof(e));
	c = NULL;
	creates = 0;
	cancel = 0;
	return 0;
}

static void close_session(void)
{
	bc_clone_close(c);
	c = NULL;
}

/* Also after a failed test, so that the next starts afresh. */
static int clean_up(void **state)
{
	(void)state;
	close_session();
	unlink(dst_path);
	unlink(src_path);
	return 0;
}

/* Open SRC onto DST, which must succeed, and plan: the plan's return. */
static int open_plan(void)
{
	assert_int_equal(bc_clone_open(src_path, dst_path, &o, &c, &e), 0);
	return bc_clone_plan(c, &e);
}

/* The same, planned without fault, and run: the run's return. */
static int open_plan_run(void)
{
	assert_int_equal(open_plan(), 0);
	return bc_clone_run(c, &e);
}

static void test_clean_clone(void **state)
{
	const struct bc_clone_result *r;
	struct stat st;

	(void)state;
	put_file(src_path, 2 * MIB, 3, 0400);
	o.copy.verify = true;
	assert_int_equal(open_plan_run(), 0);
	assert_int_equal(creates, 1);
	r = bc_clone_result(c);
	assert_int_equal(r->outcome, BC_CLONE_OK);
	assert_int_equal(r->error.err, 0);
	assert_string_equal(r->source, src_path);
	assert_string_equal(r->destination, dst_path);
	assert_true(r->planned);
	assert_int_equal(r->plan.chosen, BC_METHOD_HOST);
	assert_int_equal(r->used, BC_METHOD_HOST);
	assert_false(r->fallback.happened);
	assert_int_equal(r->stats.total_bytes, 2 * MIB);
	assert_int_equal(r->stats.read_bytes, 2 * MIB);
	assert_int_equal(r->stats.written_bytes, 2 * MIB);
	assert_int_equal(r->stats.offloaded_bytes, 0);
	assert_true(r->verified);
	assert_true(r->dest_created);
	assert_true(r->dest_touched);
	assert_false(r->dest_removed);
	assert_int_equal(r->hint, BC_CLONE_HINT_NONE);
	close_session();
	assert_true(same_bytes(src_path, dst_path));
	/* made with the source's mode: a 0400 image gives a 0400 copy */
	assert_int_equal(stat(dst_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0400);
}

/* An existing destination: nothing is created, so no callback. */
static void test_existing_destination(void **state)
{

	(void)state;
	put_file(src_path, MIB, 3, 0600);
	put_file(dst_path, 2 * MIB, 9, 0600);
	assert_int_equal(open_plan_run(), 0);
	assert_int_equal(creates, 0);
	assert_false(bc_clone_result(c)->dest_created);
	close_session();
}

static void test_refused_smaller(void **state)
{
	const struct bc_clone_result *r;
	struct bc_error e2 = { 0 };
	char keep[128], m1[512], m2[512];

	(void)state;
	snprintf(keep, sizeof(keep), "%s/keep.img", dir);
	put_file(src_path, 2 * MIB, 3, 0600);
	put_file(dst_path, MIB, 9, 0600);
	put_file(keep, MIB, 9, 0600);
	assert_int_equal(bc_clone_open(src_path, dst_path, &o, &c, &e), -ENOSPC);
	assert_non_null(c);
	r = bc_clone_result(c);
	assert_int_equal(r->outcome, BC_CLONE_REFUSED);
	assert_int_equal(r->error.err, -ENOSPC);
	assert_string_equal(bc_error_format(&r->error, m1, sizeof(m1)),
			    bc_error_format(&e, m2, sizeof(m2)));
	assert_string_equal(r->error.device, dst_path);
	assert_string_equal(r->error.op, "check");
	assert_false(r->planned);
	assert_false(r->dest_touched);
	assert_false(r->dest_removed);
	assert_int_equal(r->hint, BC_CLONE_HINT_NONE);
	/* the steps after a failure do nothing and say it again */
	assert_int_equal(bc_clone_plan(c, &e2), -ENOSPC);
	assert_string_equal(e2.detail, e.detail);
	assert_false(r->planned);
	assert_int_equal(bc_clone_run(c, NULL), -ENOSPC);
	close_session();
	assert_true(same_bytes(dst_path, keep));
	unlink(keep);
}

static void test_refused_same_file(void **state)
{
	const struct bc_clone_result *r;
	char link[128];

	(void)state;
	snprintf(link, sizeof(link), "%s/link.img", dir);
	put_file(src_path, MIB, 3, 0600);
	assert_int_equal(symlink(src_path, link), 0);
	assert_int_equal(bc_clone_open(src_path, link, &o, &c, &e), -EINVAL);
	r = bc_clone_result(c);
	assert_int_equal(r->outcome, BC_CLONE_REFUSED);
	assert_string_equal(e.device, link);
	assert_string_equal(e.detail, "source and destination are the same volume");
	close_session();
	unlink(link);
}

/* Refused in the plan, after the file was created: it is removed. */
static void test_resume_beyond_end(void **state)
{
	const struct bc_clone_result *r;

	(void)state;
	put_file(src_path, MIB, 3, 0600);
	o.resume = true;
	o.resume_lba = MIB / 512 + 1;
	assert_int_equal(open_plan(), -EINVAL);
	r = bc_clone_result(c);
	assert_true(r->dest_created);
	assert_int_equal(r->outcome, BC_CLONE_REFUSED);
	assert_string_equal(e.device, src_path);
	assert_string_equal(e.detail, "--resume-from LBA 2049 is beyond the end of the source");
	assert_true(r->dest_removed);
	assert_false(r->dest_touched);
	assert_false(exists(dst_path));
	close_session();
}

static void test_resume_with_require(void **state)
{

	(void)state;
	put_file(src_path, MIB, 3, 0600);
	o.copy.offload = BC_OFFLOAD_REQUIRE;
	o.resume = true;
	o.resume_lba = 10;
	assert_int_equal(open_plan(), -EINVAL);
	assert_int_equal(bc_clone_result(c)->outcome, BC_CLONE_REFUSED);
	assert_string_equal(e.detail, "--resume-from continues a host copy; it cannot be combined with --offload=require");
	close_session();
	assert_false(exists(dst_path));
}

/* A resumed copy is a host copy from the LBA on, whatever the policy. */
static void test_resume(void **state)
{
	const struct bc_clone_result *r;

	(void)state;
	put_file(src_path, 2 * MIB, 3, 0600);
	put_file(dst_path, 2 * MIB, 9, 0600);
	o.copy.offload = BC_OFFLOAD_AUTO;
	o.resume = true;
	o.resume_lba = 2048;	/* the second MiB */
	assert_int_equal(open_plan(), 0);
	r = bc_clone_result(c);
	assert_int_equal(r->plan.chosen, BC_METHOD_HOST);
	assert_string_equal(r->plan.steps[0].reason, "--offload=never");
	assert_int_equal(bc_clone_run(c, &e), 0);
	assert_int_equal(r->stats.read_bytes, MIB);
	assert_int_equal(r->stats.written_bytes, MIB);
	close_session();
	assert_false(same_bytes(src_path, dst_path));
	o.resume_lba = 0;
	assert_int_equal(open_plan_run(), 0);
	close_session();
	assert_true(same_bytes(src_path, dst_path));
}

/* Files that cannot clone, with the offload required: refused by the
 * plan (the outcome behind exit 3), the created file removed. */
static void test_offload_required(void **state)
{
	const struct bc_clone_result *r;

	(void)state;
	put_file(src_path, MIB, 3, 0600);
	o.copy.offload = BC_OFFLOAD_REQUIRE;
	if (open_plan() == 0) {
		/* a filesystem that clones files (XFS, btrfs) takes it */
		close_session();
		skip();
	}
	r = bc_clone_result(c);
	assert_int_equal(e.err, -EOPNOTSUPP);
	assert_int_equal(r->outcome, BC_CLONE_NO_OFFLOAD);
	assert_string_equal(e.device, dst_path);
	assert_string_equal(e.op, "plan");
	assert_memory_equal(e.detail, "offload required but unavailable: xcopy-lid1: ",
			    strlen("offload required but unavailable: xcopy-lid1: "));
	assert_true(r->planned);
	assert_int_equal(r->plan.chosen, BC_METHOD_NONE);
	/* no method was refused: none was tried */
	assert_int_equal(r->hint, BC_CLONE_HINT_NONE);
	assert_true(r->dest_removed);
	assert_false(exists(dst_path));
	close_session();
}

/* Stopped before anything was written: the created file goes. */
static void test_cancel_before_run(void **state)
{
	const struct bc_clone_result *r;

	(void)state;
	put_file(src_path, MIB, 3, 0600);
	o.copy.cancel = &cancel;
	assert_int_equal(open_plan(), 0);
	cancel = 1;
	assert_int_equal(bc_clone_run(c, &e), -EINTR);
	r = bc_clone_result(c);
	assert_int_equal(r->outcome, BC_CLONE_FAILED);
	assert_int_equal(r->error.err, -EINTR);
	assert_false(r->dest_touched);
	assert_true(r->dest_removed);
	assert_int_equal(r->hint, BC_CLONE_HINT_REMOVED);
	assert_false(exists(dst_path));
	assert_false(r->verified);
	close_session();
}

/*
 * A write that fails half way (RLIMIT_FSIZE: no write at 8 MiB or past
 * it): what was written stays, the result says where to go on, and a
 * resumed copy from there finishes the job.
 */
static void test_fail_mid_copy(void **state)
{
	struct rlimit unlimited, low = { 8 * MIB, 8 * MIB };
	const struct bc_clone_result *r;
	uint64_t lba;
	int rc;

	(void)state;
	put_file(src_path, 16 * MIB, 3, 0600);
	put_file(dst_path, 16 * MIB, 9, 0600);
	o.copy.chunk = 256 * 1024;
	assert_int_equal(open_plan(), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &unlimited), 0);
	low.rlim_max = unlimited.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
	rc = bc_clone_run(c, &e);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &unlimited), 0);
	assert_int_equal(rc, -EFBIG);
	r = bc_clone_result(c);
	assert_int_equal(r->outcome, BC_CLONE_FAILED);
	assert_true(r->dest_touched);
	assert_false(r->dest_removed);
	assert_int_equal(r->hint, BC_CLONE_HINT_RESUME);
	assert_true(r->stats.resume_offset > 0);
	assert_true(r->stats.resume_offset <= 8 * MIB);
	assert_int_equal(r->resume_lba, r->stats.resume_offset / 512);
	lba = r->resume_lba;
	close_session();
	assert_true(exists(dst_path));
	o.resume = true;
	o.resume_lba = lba;
	assert_int_equal(open_plan_run(), 0);
	assert_int_equal(bc_clone_result(c)->stats.read_bytes, 16 * MIB - lba * 512);
	close_session();
	assert_true(same_bytes(src_path, dst_path));
}

/* Every byte copied; the stop comes in the verify. */
static void cancel_once_copied(const struct bc_copy_stats *st, void *arg)
{
	(void)arg;
	if (st->total_bytes && st->resume_offset == st->total_bytes)
		cancel = 1;
}

static void test_fail_in_verify(void **state)
{
	const struct bc_clone_result *r;

	(void)state;
	put_file(src_path, 2 * MIB, 3, 0600);
	o.copy.cancel = &cancel;
	o.copy.verify = true;
	o.copy.progress = cancel_once_copied;
	assert_int_equal(open_plan_run(), -EINTR);
	r = bc_clone_result(c);
	assert_string_equal(e.op, "verify");
	assert_int_equal(r->outcome, BC_CLONE_FAILED);
	assert_int_equal(r->stats.resume_offset, 2 * MIB);
	assert_int_equal(r->hint, BC_CLONE_HINT_ALL_WRITTEN);
	assert_false(r->dest_removed);
	assert_false(r->verified);
	close_session();
	assert_true(same_bytes(src_path, dst_path));
}

/* Volumes the caller opened (as probe does, read-only): the session
 * takes them, plans, and names them as it is told. */
static void test_attach(void **state)
{
	const struct bc_clone_result *r;
	struct bc_volume *sv, *dv;

	(void)state;
	put_file(src_path, MIB, 3, 0600);
	put_file(dst_path, MIB, 9, 0600);
	assert_int_equal(bc_volume_open(src_path, 0, &sv, &e), 0);
	assert_int_equal(bc_volume_open(dst_path, 0, &dv, &e), 0);
	assert_int_equal(bc_clone_attach(sv, dv, NULL, "shown-dst", &o, &c, &e), 0);
	r = bc_clone_result(c);
	assert_string_equal(r->source, src_path);
	assert_string_equal(r->destination, "shown-dst");
	assert_false(r->dest_created);
	assert_int_equal(bc_clone_plan(c, &e), 0);
	assert_int_equal(r->plan.chosen, BC_METHOD_HOST);
	close_session();
	assert_true(exists(dst_path));
}

/* Planned, never run: closing removes the file the session created. */
static void test_close_unrun(void **state)
{

	(void)state;
	put_file(src_path, MIB, 3, 0600);
	assert_int_equal(open_plan(), 0);
	assert_true(exists(dst_path));
	close_session();
	assert_false(exists(dst_path));
}

/* every test with its own session, files and options */
#define SESSION_TEST(f) cmocka_unit_test_setup_teardown(f, fresh, clean_up)

int main(void)
{
	const struct CMUnitTest tests[] = {
		SESSION_TEST(test_clean_clone),
		SESSION_TEST(test_existing_destination),
		SESSION_TEST(test_refused_smaller),
		SESSION_TEST(test_refused_same_file),
		SESSION_TEST(test_resume_beyond_end),
		SESSION_TEST(test_resume_with_require),
		SESSION_TEST(test_resume),
		SESSION_TEST(test_offload_required),
		SESSION_TEST(test_cancel_before_run),
		SESSION_TEST(test_fail_mid_copy),
		SESSION_TEST(test_fail_in_verify),
		SESSION_TEST(test_attach),
		SESSION_TEST(test_close_unrun),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
