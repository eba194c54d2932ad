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
};

static const struct row rows[] = {
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_XCOPY_LID1, "one copy domain" },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:b/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "not in one copy domain" },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:b/t", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "not in one copy domain" },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 4096, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "equal block sizes" },
	{ SCSI_XCOPY, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_NEVER, BC_METHOD_HOST, "--offload=never" },
	{ SCSI_XCOPY, SCSI_PLAIN, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "destination" },
	{ SCSI_PLAIN, SCSI_XCOPY, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "source" },
	{ SCSI_TOKEN, SCSI_TOKEN, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_TOKEN, "source" },
	{ SCSI_BOTH, SCSI_BOTH, "iscsi:a/t", "iscsi:a/t", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_XCOPY_LID1, "one copy domain" },
	{ NVME, NVME, "nvme:ns1", "nvme:ns1", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_NVME_COPY, "source" },
	{ NVME, NVME, "nvme:ns1", "nvme:ns2", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "source" },
	{ FILE_REFLINK, FILE_REFLINK, "fs:1", "fs:1", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_REFLINK, "source" },
	{ FILE_REFLINK, FILE_REFLINK, "fs:1", "fs:2", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "source" },
	{ FILE_PLAIN, FILE_PLAIN, "fs:1", "fs:1", 512, 512, BC_OFFLOAD_REQUIRE, BC_METHOD_NONE, "source" },
	{ BLOCK, FILE_PLAIN, "", "fs:1", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "source" },
	/* an empty domain never matches, even another empty one */
	{ SCSI_XCOPY, SCSI_XCOPY, "", "", 512, 512, BC_OFFLOAD_AUTO, BC_METHOD_HOST, "none vs none" },
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
	}
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
