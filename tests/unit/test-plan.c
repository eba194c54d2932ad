/* The planner over a table of capability combinations: no devices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <blkclone/copy.h>

enum kind { SCSI_XCOPY, SCSI_TOKEN, SCSI_BOTH, SCSI_PLAIN, NVME, FILE_REFLINK, FILE_PLAIN, BLOCK };

static void caps_of(enum kind k, const char *domain, uint32_t bs, struct bc_caps *c)
{
	memset(c, 0, sizeof(*c));
	c->block_size = bs;
	snprintf(c->id.copy_domain, sizeof(c->id.copy_domain), "%s", domain);
	c->xcopy.state = c->token.state = c->nvme_copy.state = c->reflink.state = BC_SUP_NO;
	switch (k) {
	case SCSI_XCOPY: strcpy(c->id.backend, "iscsi"); c->xcopy.state = BC_SUP_YES; break;
	case SCSI_TOKEN: strcpy(c->id.backend, "iscsi"); c->token.state = BC_SUP_YES; break;
	case SCSI_BOTH: strcpy(c->id.backend, "iscsi");
		c->xcopy.state = c->token.state = BC_SUP_YES; break;
	case SCSI_PLAIN: strcpy(c->id.backend, "iscsi"); break;
	case NVME: strcpy(c->id.backend, "nvme"); c->nvme_copy.state = BC_SUP_YES; break;
	case FILE_REFLINK: strcpy(c->id.backend, "file"); c->reflink.state = BC_SUP_YES; break;
	case FILE_PLAIN: strcpy(c->id.backend, "file"); break;
	case BLOCK: strcpy(c->id.backend, "block"); break;
	}
	/* the methods each kind of backend runs (its ops.methods) */
	c->methods = k <= SCSI_PLAIN ? BC_METHOD_BIT(BC_METHOD_XCOPY_LID1) | BC_METHOD_BIT(BC_METHOD_TOKEN) :
		     k == NVME ? BC_METHOD_BIT(BC_METHOD_NVME_COPY) :
		     k == BLOCK ? 0 : BC_METHOD_BIT(BC_METHOD_REFLINK);
}

struct row {
	enum kind s, d;
	const char *sdom, *ddom;
	uint32_t sbs, dbs;
	enum bc_offload_policy policy;
	enum bc_method want;
	const char *why_fragment;	/* in the reason of the first step */
	/* the point in time a session gets from the chosen method */
	enum bc_consistency want_c;
};

#define A BC_CONSISTENCY_ATOMIC
#define B BC_CONSISTENCY_BULK
#define N BC_CONSISTENCY_NONE

static const struct row rows[] = {
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_XCOPY_LID1, "one copy domain", B },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:b/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "not in one copy domain", B },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:b/t", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "not in one copy domain", N },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 4096, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "equal block sizes", B },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_NEVER, BC_METHOD_HOST, "--offload=never", B },
	{ SCSI_XCOPY, SCSI_PLAIN, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "destination", B },
	{ SCSI_PLAIN, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "source", N },
	{ SCSI_TOKEN, SCSI_TOKEN, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_TOKEN, "source", A },
	{ SCSI_BOTH, SCSI_BOTH, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_XCOPY_LID1, "one copy domain", B },
	{ NVME, NVME, "nvme:ns1", "nvme:ns1", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_NVME_COPY, "source", B },
	{ NVME, NVME, "nvme:ns1", "nvme:ns2", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "source", N },
	{ FILE_REFLINK, FILE_REFLINK, "fs:1", "fs:1", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_REFLINK, "source", A },
	{ FILE_REFLINK, FILE_REFLINK, "fs:1", "fs:2", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "source", B },
	{ FILE_PLAIN, FILE_PLAIN, "fs:1", "fs:1", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "source", N },
	{ BLOCK, FILE_PLAIN, "", "fs:1", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "source", B },
	/* an empty domain never matches, even another empty one */
	{ SCSI_XCOPY, SCSI_XCOPY, "", "", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "none vs none", B },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct bc_caps s, d;
		struct bc_plan p;

		caps_of(r->s, r->sdom, r->sbs, &s);
		caps_of(r->d, r->ddom, r->dbs, &d);
		bc_plan_make(&s, &d, r->policy, false, false, &p);
		if (p.chosen != r->want)
			fail_msg("row %zu: chose %s, wanted %s", i,
				 bc_method_name(p.chosen), bc_method_name(r->want));
		/* every method is listed, with a reason, best first */
		assert_int_equal(p.n, 5);
		assert_int_equal(p.steps[0].method, BC_METHOD_XCOPY_LID1);
		assert_int_equal(p.steps[4].method, BC_METHOD_HOST);
		if (!strstr(p.steps[0].reason, r->why_fragment) &&
		    !(r->want != BC_METHOD_XCOPY_LID1 && r->want != BC_METHOD_HOST &&
		      r->want != BC_METHOD_NONE))
			fail_msg("row %zu: reason '%s' lacks '%s'", i,
				 p.steps[0].reason, r->why_fragment);
		for (size_t k = 0; k < p.n; k++)
			assert_true(p.steps[k].reason[0] != '\0');
		assert_int_equal(p.steps[4].usable, r->policy != BC_OFFLOAD_REQUIRE);
		if (p.consistency != r->want_c)
			fail_msg("row %zu: consistency %s, wanted %s", i,
				 bc_consistency_name(p.consistency),
				 bc_consistency_name(r->want_c));
		assert_int_equal(p.consistency_reason[0] != '\0', r->want_c != N);
		/* every usable step says what it gives and why; others nothing */
		for (size_t k = 0; k < p.n; k++) {
			assert_int_equal(p.steps[k].consistency != N, p.steps[k].usable);
			assert_int_equal(p.steps[k].consistency_reason[0] != '\0',
					 p.steps[k].usable);
		}
	}
}

/* Per method: which point in time, and the reason names what must stay
 * still (bulk) or what start fixes (atomic). */
static void test_consistency_per_method(void **state)
{
	static const struct {
		enum kind k;
		const char *dom;
		enum bc_method m;
		enum bc_consistency c;
		const char *why;
	} t[] = {
		{ SCSI_TOKEN, "iscsi:a/t", BC_METHOD_TOKEN, A, "point-in-time ROD token for every extent" },
		{ SCSI_XCOPY, "iscsi:a/t", BC_METHOD_XCOPY_LID1, B, "EXTENDED COPY runs: keep the source still" },
		{ NVME, "nvme:ns1", BC_METHOD_NVME_COPY, B, "NVMe Copy runs: keep the source still" },
		{ FILE_REFLINK, "fs:1", BC_METHOD_REFLINK, A, "start clones every data extent" },
		{ FILE_PLAIN, "fs:1", BC_METHOD_HOST, B, "this host reads the source until the copy ends" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bc_caps s, d;
		struct bc_plan p;

		caps_of(t[i].k, t[i].dom, 512, &s);
		caps_of(t[i].k, t[i].dom, 512, &d);
		s.token_lim.max_inactivity_s = 600;
		bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, false, false, &p);
		assert_int_equal(p.chosen, t[i].m);
		if (p.consistency != t[i].c || !strstr(p.consistency_reason, t[i].why))
			fail_msg("row %zu: %s '%s', wanted %s '%s'", i,
				 bc_consistency_name(p.consistency), p.consistency_reason,
				 bc_consistency_name(t[i].c), t[i].why);
		/* the host step beside it is always bulk */
		assert_int_equal(p.steps[4].consistency, B);
	}
}

/* A token copy the storage refused at start: the host copy is chosen,
 * and with it bulk. */
static void test_refused_at_start(void **state)
{
	struct bc_caps s, d;
	struct bc_plan p;

	(void)state;
	caps_of(SCSI_TOKEN, "iscsi:a/t", 512, &s);
	caps_of(SCSI_TOKEN, "iscsi:a/t", 512, &d);
	s.token_lim.max_inactivity_s = 300;
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, false, false, &p);
	assert_int_equal(p.consistency, A);
	assert_non_null(strstr(p.consistency_reason, "up to 300 s"));
	bc_plan_refused_at_start(&p, BC_METHOD_TOKEN, "ROD type refused");
	assert_int_equal(p.chosen, BC_METHOD_HOST);
	assert_int_equal(p.consistency, B);
	assert_false(p.steps[1].usable);
	assert_int_equal(p.steps[1].consistency, N);
	assert_non_null(strstr(p.steps[1].reason, "started: ROD type refused"));
	/* under require nothing is left */
	bc_plan_make(&s, &d, BC_OFFLOAD_REQUIRE, false, false, &p);
	bc_plan_refused_at_start(&p, BC_METHOD_TOKEN, "ROD type refused");
	assert_int_equal(p.chosen, BC_METHOD_NONE);
	assert_int_equal(p.consistency, N);
	/* and a refusal remembered from before takes atomic away too */
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, false, false, &p);
	bc_plan_known_refusal(&p, BC_METHOD_TOKEN, BC_OFFLOAD_AUTO, "no");
	assert_int_equal(p.consistency, B);
	assert_int_equal(p.steps[1].consistency, N);
}

/* A filesystem known to clone fixes the point in time at start; one
 * that may clone only if its server does (NFS, FUSE) is bulk: the run's
 * first clone finds out. */
static void test_reflink_atomic_only_when_known(void **state)
{
	struct bc_caps s, d;
	struct bc_plan p;

	(void)state;
	caps_of(FILE_REFLINK, "fs:1", 512, &s);
	caps_of(FILE_REFLINK, "fs:1", 512, &d);
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, true, false, &p);
	assert_int_equal(p.chosen, BC_METHOD_REFLINK);
	assert_int_equal(p.consistency, A);
	s.reflink.state = BC_SUP_UNKNOWN;
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, true, false, &p);
	assert_int_equal(p.chosen, BC_METHOD_REFLINK);
	assert_int_equal(p.consistency, B);
	assert_non_null(strstr(p.consistency_reason, "only if its server does"));
}

static void test_dest_zero_proof(void **state)
{
	struct bc_caps s, d;
	struct bc_plan p;

	(void)state;
	caps_of(FILE_PLAIN, "fs:1", 512, &s);
	caps_of(BLOCK, "", 512, &d);
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, false, false, &p);
	assert_false(p.dest_proven_zero);
	assert_non_null(strstr(p.dest_zero_reason, "not proven"));
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, true, false, &p);
	assert_true(p.dest_proven_zero);
	assert_non_null(strstr(p.dest_zero_reason, "created"));
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, false, true, &p);
	assert_true(p.dest_proven_zero);
	assert_non_null(strstr(p.dest_zero_reason, "--dest-zeroed"));
	/* a thin destination with a map is still not proven as a whole */
	d.zero_init.state = BC_SUP_YES;
	d.extent_map.state = BC_SUP_YES;
	bc_plan_make(&s, &d, BC_OFFLOAD_AUTO, false, false, &p);
	assert_false(p.dest_proven_zero);
	assert_non_null(strstr(p.dest_zero_reason, "map"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_dest_zero_proof),
		cmocka_unit_test(test_consistency_per_method),
		cmocka_unit_test(test_refused_at_start),
		cmocka_unit_test(test_reflink_atomic_only_when_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
