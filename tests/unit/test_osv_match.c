/*
 * test_osv_match.c - the OSV matching rule on hand-written advisories: event
 * kinds and order, withdrawn, other ecosystems and range types, pre-release
 * and local versions, non-PEP 440 versions and events, range requirements,
 * ignores with expiry, fix suggestions, and advisories that must be refused.
 */
#include "bulwark/audit.h"
#include "harness.h"

struct mcase {
	const char *label;
	const char *advisory;   /* JSON or YAML */
	const char *name;
	const char *version;    /* NULL: spec */
	const char *spec;
	int pre;                /* ranges_include_prereleases */
	int hits;               /* expected number of hits */
	int via;                /* 1 versions, 2 ranges, 3 both (first hit) */
	const char *fix;        /* expected fix suggestion or NULL */
	const char *allowed;    /* first allowed version for range requirements */
};

#define ADV_RANGE(ev) \
	"{\"id\": \"T-1\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"Pkg_A\"}, " \
	"\"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [" ev "]}]}]}"

static const struct mcase cases[] = {
	{"introduced/fixed in", ADV_RANGE("{\"introduced\": \"1.0\"}, {\"fixed\": \"1.2\"}"), "pkg-a", "1.1", NULL, 0, 1, 2, "1.2", NULL},
	{"fixed excluded", ADV_RANGE("{\"introduced\": \"1.0\"}, {\"fixed\": \"1.2\"}"), "pkg.a", "1.2", NULL, 0, 0, 0, NULL, NULL},
	{"below introduced", ADV_RANGE("{\"introduced\": \"1.0\"}, {\"fixed\": \"1.2\"}"), "PKG_A", "0.9", NULL, 0, 0, 0, NULL, NULL},
	{"pre-release of introduced is before it", ADV_RANGE("{\"introduced\": \"1.0\"}, {\"fixed\": \"1.2\"}"), "pkg-a", "1.0rc1", NULL, 0, 0, 0, NULL, NULL},
	{"pre-release of fixed is affected", ADV_RANGE("{\"introduced\": \"1.0\"}, {\"fixed\": \"1.2\"}"), "pkg-a", "1.2rc1", NULL, 0, 1, 2, "1.2", NULL},
	{"local version inside", ADV_RANGE("{\"introduced\": \"0\"}, {\"fixed\": \"1.2\"}"), "pkg-a", "1.1+cu117", NULL, 0, 1, 2, "1.2", NULL},
	{"local version of fixed is fixed", ADV_RANGE("{\"introduced\": \"0\"}, {\"fixed\": \"1.2\"}"), "pkg-a", "1.2+cpu", NULL, 0, 0, 0, NULL, NULL},
	{"last_affected inclusive", ADV_RANGE("{\"introduced\": \"0\"}, {\"last_affected\": \"1.2\"}"), "pkg-a", "1.2", NULL, 0, 1, 2, NULL, NULL},
	{"after last_affected", ADV_RANGE("{\"introduced\": \"0\"}, {\"last_affected\": \"1.2\"}"), "pkg-a", "1.2.post1", NULL, 0, 0, 0, NULL, NULL},
	{"limit", ADV_RANGE("{\"introduced\": \"0\"}, {\"limit\": \"2.0\"}"), "pkg-a", "2.0", NULL, 0, 0, 0, NULL, NULL},
	{"events out of order are sorted", ADV_RANGE("{\"fixed\": \"2.1\"}, {\"introduced\": \"2.0\"}, {\"fixed\": \"1.2\"}, {\"introduced\": \"0\"}"),
	 "pkg-a", "2.0.5", NULL, 0, 1, 2, "2.1", NULL},
	{"between two ranges", ADV_RANGE("{\"introduced\": \"0\"}, {\"fixed\": \"1.2\"}, {\"introduced\": \"2.0\"}, {\"fixed\": \"2.1\"}"),
	 "pkg-a", "1.5", NULL, 0, 0, 0, NULL, NULL},
	{"fix skips a still-affected fix", ADV_RANGE("{\"introduced\": \"0\"}, {\"fixed\": \"1.2\"}, {\"introduced\": \"1.2\"}, {\"fixed\": \"1.3\"}"),
	 "pkg-a", "1.0", NULL, 0, 1, 2, "1.3", NULL},
	{"unparsable event skipped", ADV_RANGE("{\"introduced\": \"0\"}, {\"fixed\": \"2019-09-12\"}"), "pkg-a", "5.0", NULL, 0, 1, 2, NULL, NULL},
	{"non-PEP 440 version: listed", "{\"id\": \"T-2\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"b\"}, "
	 "\"versions\": [\"0.8.4p1\"], \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}]}]}",
	 "b", "0.8.4p1", NULL, 0, 1, 1, NULL, NULL},
	{"non-PEP 440 version: not listed, ranges cannot apply", "{\"id\": \"T-2\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"b\"}, "
	 "\"versions\": [\"0.8.4\"], \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}]}]}",
	 "b", "0.8.4p2", NULL, 0, 0, 0, NULL, NULL},
	{"listed exactly, not by equality", "{\"id\": \"T-3\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"c\"}, "
	 "\"versions\": [\"1.0\"]}]}", "c", "1.0.0", NULL, 0, 0, 0, NULL, NULL},
	{"withdrawn skipped", "{\"id\": \"T-4\", \"withdrawn\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"package\": "
	 "{\"ecosystem\": \"PyPI\", \"name\": \"c\"}, \"versions\": [\"1.0\"]}]}", "c", "1.0", NULL, 0, 0, 0, NULL, NULL},
	{"other ecosystem ignored", "{\"id\": \"T-5\", \"affected\": [{\"package\": {\"ecosystem\": \"npm\", \"name\": \"c\"}, "
	 "\"versions\": [\"1.0\"]}]}", "c", "1.0", NULL, 0, 0, 0, NULL, NULL},
	{"git and semver ranges ignored", "{\"id\": \"T-6\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"c\"}, "
	 "\"ranges\": [{\"type\": \"GIT\", \"repo\": \"x\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"abc\"}]}, "
	 "{\"type\": \"SEMVER\", \"events\": [{\"introduced\": \"0\"}]}]}]}", "c", "1.0", NULL, 0, 0, 0, NULL, NULL},
	{"git range before ecosystem range", "{\"id\": \"T-7\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"c\"}, "
	 "\"ranges\": [{\"type\": \"GIT\", \"repo\": \"x\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"abc\"}]}, "
	 "{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"1.1\"}]}]}]}", "c", "1.0", NULL, 0, 1, 2, "1.1", NULL},
	{"range requirement", "{\"id\": \"T-8\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"d\"}, "
	 "\"versions\": [\"1.5\", \"2.5\", \"0.5\"]}]}", "d", NULL, ">=1.0,<2", 0, 1, 1, NULL, "1.5"},
	{"range requirement misses", "{\"id\": \"T-8\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"d\"}, "
	 "\"versions\": [\"2.5\"]}]}", "d", NULL, ">=1.0,<2", 0, 0, 0, NULL, NULL},
	{"range requirement: range bound", ADV_RANGE("{\"introduced\": \"1.3\"}, {\"fixed\": \"1.4\"}"), "pkg-a", NULL, "~=1.0", 0, 1, 2, "1.4", "1.3"},
	{"unpinned excludes pre-releases", "{\"id\": \"T-9\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"d\"}, "
	 "\"versions\": [\"2.0rc1\"]}]}", "d", NULL, "", 0, 0, 0, NULL, NULL},
	{"unpinned with --pre", "{\"id\": \"T-9\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"d\"}, "
	 "\"versions\": [\"2.0rc1\"]}]}", "d", NULL, "", 1, 1, 1, NULL, "2.0rc1"},
	{"YAML advisory", "id: T-10\naffected:\n- package:\n    ecosystem: PyPI\n    name: e\n  ranges:\n  - type: ECOSYSTEM\n"
	 "    events:\n    - introduced: '0'\n    - fixed: '3.0'\n", "e", "2.9", NULL, 0, 1, 2, "3.0", NULL},
};

static void run_case(const struct mcase *c)
{
	struct bw_osv_db *db = NULL;
	struct bw_audit_result *r = NULL;
	struct bw_audit_req req;
	struct bw_audit_opts o;
	struct bw_diag d;

	bw_diag_clear(&d);
	CHECKF(bw_osv_db_load_mem(c->label, (const uint8_t *)c->advisory, strlen(c->advisory), &db, &d) == BW_OK,
	       "%s: %s", c->label, d.what);
	if (db == NULL)
		return;
	memset(&req, 0, sizeof req);
	req.name = c->name;
	req.version = c->version;
	req.spec = c->spec;
	bw_audit_opts_default(&o);
	o.ranges_include_prereleases = c->pre;
	CHECK(bw_audit_run(db, &req, 1, &o, &r) == BW_OK);
	if (r != NULL) {
		const struct bw_audit_pkg *p = &r->pkgs[0];

		CHECKF((int)p->n_hits == c->hits, "%s: %zu hits, want %d", c->label, p->n_hits, c->hits);
		if (p->n_hits > 0 && c->hits > 0) {
			int via = (p->hits[0].via_versions ? 1 : 0) | (p->hits[0].via_ranges ? 2 : 0);

			CHECKF(via == c->via, "%s: via %d want %d", c->label, via, c->via);
			CHECKF(p->status == BW_AUDIT_VULNERABLE, "%s: status", c->label);
			if (c->fix != NULL)
				CHECKF(p->fix != NULL && strcmp(p->fix, c->fix) == 0, "%s: fix %s want %s", c->label,
				       p->fix ? p->fix : "(none)", c->fix);
			else
				CHECKF(p->fix == NULL, "%s: unexpected fix %s", c->label, p->fix);
			if (c->allowed != NULL)
				CHECKF(p->hits[0].n_allowed > 0 && strcmp(p->hits[0].allowed[0], c->allowed) == 0,
				       "%s: allowed", c->label);
		}
		if (c->hits == 0)
			CHECK(p->status == BW_AUDIT_OK);
	}
	bw_audit_result_free(r);
	bw_osv_db_free(db);
}

static void check_ignores(void)
{
	const char *adv = "{\"id\": \"T-1\", \"aliases\": [\"CVE-1\"], \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", "
	                  "\"name\": \"a\"}, \"versions\": [\"1\"]}]}";
	struct bw_osv_db *db = NULL;
	struct bw_audit_req req = {0};
	struct bw_audit_ignore ig[2] = {{"CVE-1", "2025-06-30", "accepted risk"}, {"OTHER", NULL, NULL}};
	struct bw_audit_opts o;
	struct bw_audit_result *r = NULL;

	CHECK(bw_osv_db_load_mem("x", (const uint8_t *)adv, strlen(adv), &db, NULL) == BW_OK);
	req.name = "a";
	req.version = "1";
	bw_audit_opts_default(&o);
	o.ignores = ig;
	o.n_ignores = 2;
	o.today = "2025-06-30"; /* the last day counts */
	CHECK(bw_audit_run(db, &req, 1, &o, &r) == BW_OK);
	CHECK(r != NULL && r->pkgs[0].status == BW_AUDIT_IGNORED && r->pkgs[0].hits[0].ignored && r->n_hits == 0);
	CHECK(r != NULL && !bw_audit_hit_fails(&r->pkgs[0].hits[0], BW_SEV_INFO));
	bw_audit_result_free(r);
	r = NULL;
	o.today = "2025-07-01";
	CHECK(bw_audit_run(db, &req, 1, &o, &r) == BW_OK);
	CHECK(r != NULL && r->pkgs[0].status == BW_AUDIT_VULNERABLE && r->pkgs[0].hits[0].ignore_expired);
	CHECK(r != NULL && bw_audit_hit_fails(&r->pkgs[0].hits[0], BW_SEV_CRITICAL)); /* unknown severity */
	bw_audit_result_free(r);
	r = NULL;
	o.today = "July 1";
	CHECK(bw_audit_run(db, &req, 1, &o, &r) == BW_ERR_ARG && r == NULL);
	{
		/* reports are deterministic and name the advisory */
		char *s1 = NULL, *s2 = NULL;
		size_t l1 = 0, l2 = 0;
		int f;

		o.today = "2025-07-01";
		CHECK(bw_audit_run(db, &req, 1, &o, &r) == BW_OK);
		for (f = BW_AUDIT_TEXT; r != NULL && f <= BW_AUDIT_CYCLONEDX; f++) {
			CHECK(bw_audit_report(r, (enum bw_audit_format)f, &s1, &l1) == BW_OK);
			CHECK(bw_audit_report(r, (enum bw_audit_format)f, &s2, &l2) == BW_OK);
			CHECK(s1 != NULL && s2 != NULL && l1 == l2 && memcmp(s1, s2, l1) == 0 && strstr(s1, "T-1") != NULL);
			bw_audit_str_free(s1);
			bw_audit_str_free(s2);
		}
		bw_audit_result_free(r);
	}
	bw_osv_db_free(db);
}

static void check_refused(void)
{
	static const char *const bad[] = {
		"{\"affected\": []}",                          /* no id */
		"{\"id\": \"X\", \"affected\": {}}",             /* affected not a list */
		"id: X\naffected: &a [1]\nb: *a\n",             /* YAML alias */
		"{\"id\": \"X\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"bad name\"}}]}",
		("{\"id\": \"X\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"a\"}, "
		 "\"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"bogus\": \"1\"}]}]}]}"),
		"{\"id\": \"X\", \"id\": \"Y\"}",                /* duplicate key */
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct bw_osv_db *db = NULL;
		struct bw_osv_db_info info;

		CHECK(bw_osv_db_load_mem("bad", (const uint8_t *)bad[i], strlen(bad[i]), &db, NULL) == BW_OK);
		bw_osv_db_info(db, &info);
		CHECKF(info.n_problems == 1, "bad advisory %zu: %zu problems", i, info.n_problems);
		bw_osv_db_free(db);
	}
}

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
	check_ignores();
	check_refused();
	return bw_test_done();
}
