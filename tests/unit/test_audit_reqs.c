/*
 * test_audit_reqs.c - requirement readers (requirements.txt / pip freeze,
 * pyproject.toml incl. Poetry constraints, poetry.lock, uv.lock, pylock.toml,
 * CycloneDX), the TOML reader, and CVSS v3 scoring. Table-driven: each input
 * lists the (name, version | specifier) pairs it must yield and how many
 * problems it must report.
 */
#include "audit/tree.h"
#include "bulwark/audit.h"
#include "harness.h"

struct want {
	const char *name, *version, *spec;
};

struct rcase {
	const char *label;
	enum bw_req_format fmt;
	const char *text;
	size_t n_problems;
	struct want w[16];
};

static const struct rcase cases[] = {
	{"txt basic", BW_REQ_TXT,
	 "# comment\nJinja2==2.11.2\n  requests >= 2.0, <3 # trailing\nnumpy\n\n"
	 "torch==1.13.0+cu117; python_version>'3.8'\nfoo[extra1,extra2]==1.0\nbar===weird-1\n"
	 "baz == 1.*\nqux (==2.0)\n",
	 0,
	 {{"Jinja2", "2.11.2", NULL}, {"requests", NULL, ">= 2.0, <3"}, {"numpy", NULL, ""},
	  {"torch", "1.13.0+cu117", NULL}, {"foo", "1.0", NULL}, {"bar", "weird-1", NULL},
	  {"baz", NULL, "== 1.*"}, {"qux", "2.0", NULL}}},
	{"txt continuation, options, hashes", BW_REQ_TXT,
	 "--index-url https://x.invalid/simple\n-i https://y.invalid\nflask==2.0.0 \\\n  --hash=sha256:aa \\\n"
	 "  --hash=sha256:bb\n--pre\nclick==8.0 --hash=sha256:cc\n",
	 0, {{"flask", "2.0.0", NULL}, {"click", "8.0", NULL}}},
	{"pip freeze", BW_REQ_TXT,
	 "certifi==2023.7.22\npkg @ file:///tmp/pkg-1.0.whl\n-e git+https://github.com/o/r.git@abc#egg=edit_me\n"
	 "buildbot==0.8.4p1\n"
	 "Torch.Vision @ https://x.invalid/whl/torch_vision-0.14.1%2Bcu117-cp311-cp311-linux_x86_64.whl#sha256=00\n"
	 "other @ https://x.invalid/torch_vision-0.14.1-1-py3-none-any.whl\n"
	 "https://x.invalid/d/Pillow-9.0.0-cp311-cp311-manylinux_2_17_x86_64.whl\n",
	 0,
	 {{"certifi", "2023.7.22", NULL}, {"pkg", NULL, ""}, {"edit_me", NULL, ""}, {"buildbot", "0.8.4p1", NULL},
	  {"Torch.Vision", "0.14.1+cu117", NULL}, {"other", NULL, ""}, {"Pillow", "9.0.0", NULL}}},
	{"txt problems", BW_REQ_TXT, "./local\n-e ./here\n==1.0\nok==1\nhttps://x.invalid/a.whl\n-r https://x.invalid/r.txt\n"
	 "https://x.invalid/a-1.0-py3-any.whl\n", 6,
	 {{"ok", "1", NULL}}},
	{"pyproject", BW_REQ_PYPROJECT,
	 "[project]\nname = \"x\"\ndependencies = [\n  \"jinja2==2.11.2\",  # pinned\n  'requests>=2',\n]\n"
	 "[project.optional-dependencies]\ngpu = [\"torch==1.13.0\"]\n"
	 "[dependency-groups]\ndev = [\"pytest>=7\", {include-group = \"gpu\"}]\n"
	 "[tool.poetry.dependencies]\npython = \"^3.9\"\npillow = \"^9.1.2\"\nnumpy = { version = \"~1.24\", optional = true }\n"
	 "zero = \"^0.2.3\"\nexact = \"1.2.3\"\nstar = \"*\"\nor = \"^1.0 || ^2.0\"\nspaced = \">= 1.2, < 1.5\"\n",
	 0,
	 {{"jinja2", "2.11.2", NULL}, {"requests", NULL, ">=2"}, {"torch", "1.13.0", NULL}, {"pytest", NULL, ">=7"},
	  {"pillow", NULL, ">=9.1.2,<10"}, {"numpy", NULL, ">=1.24,<1.25"}, {"zero", NULL, ">=0.2.3,<0.3"},
	  {"exact", "1.2.3", NULL}, {"star", NULL, ""}, {"or", NULL, ">=1.0,<2"}, {"or", NULL, ">=2.0,<3"},
	  {"spaced", NULL, ">=1.2,<1.5"}}},
	{"poetry.lock", BW_REQ_POETRY_LOCK,
	 "[[package]]\nname = \"jinja2\"\nversion = \"2.11.2\"\n\n[package.dependencies]\nMarkupSafe = \">=0.23\"\n\n"
	 "[package.extras]\ni18n = [\"Babel>=0.8\"]\n\n[[package]]\nname = \"markupsafe\"\nversion = \"2.0.1\"\n"
	 "[metadata]\nlock-version = \"2.0\"\ncontent-hash = \"x\"\n",
	 0, {{"jinja2", "2.11.2", NULL}, {"markupsafe", "2.0.1", NULL}}},
	{"uv.lock", BW_REQ_UV_LOCK,
	 "version = 1\nrequires-python = \">=3.9\"\n\n[[package]]\nname = \"torch\"\nversion = \"2.0.0\"\n"
	 "source = { registry = \"https://pypi.org/simple\" }\ndependencies = [\n    { name = \"filelock\" },\n"
	 "    { name = \"sympy\", marker = \"python_version >= '3.9'\" },\n]\nwheels = [\n  { url = \"https://x/t.whl\", "
	 "hash = \"sha256:00\", size = 1 },\n]\n\n[[package]]\nname = \"app\"\nsource = { editable = \".\" }\n",
	 0, {{"torch", "2.0.0", NULL}, {"app", NULL, ""}}},
	{"pylock.toml", BW_REQ_PYLOCK,
	 "lock-version = '1.0'\ncreated-by = \"\"\"multi\nline\"\"\"\n[[packages]]\nname = \"py\"\nversion = \"1.11.0\"\n"
	 "[[packages.wheels]]\nurl = 'https://x/py.whl'\nhashes = {sha256 = \"00\"}\n[[packages]]\nname = \"attrs\"\nversion = \"23.1.0\"\n",
	 0, {{"py", "1.11.0", NULL}, {"attrs", "23.1.0", NULL}}},
	{"cyclonedx", BW_REQ_CYCLONEDX,
	 "{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.6\", \"components\": [\n"
	 " {\"type\": \"library\", \"name\": \"jinja2\", \"purl\": \"pkg:pypi/jinja2@2.11.2\"},\n"
	 " {\"type\": \"library\", \"name\": \"x\", \"purl\": \"pkg:npm/x@1\"},\n"
	 " {\"type\": \"library\", \"name\": \"torch\", \"purl\": \"pkg:pypi/torch@1.13.0%2Bcu117?x=y\",\n"
	 "  \"components\": [{\"type\": \"library\", \"name\": \"n\", \"purl\": \"pkg:pypi/nested\"}]},\n"
	 " {\"type\": \"library\", \"name\": \"nopurl\"}]}\n",
	 1, {{"jinja2", "2.11.2", NULL}, {"torch", "1.13.0+cu117", NULL}, {"nested", NULL, ""}}},
};

static void run_case(const struct rcase *c)
{
	struct bw_audit_reqs *r = NULL;
	struct bw_diag d;
	size_t i, n_want = 0;

	bw_diag_clear(&d);
	CHECKF(bw_audit_reqs_parse(c->label, c->fmt, (const uint8_t *)c->text, strlen(c->text), &r, &d) == BW_OK,
	       "%s: %s", c->label, d.what);
	if (r == NULL)
		return;
	while (n_want < 16 && c->w[n_want].name != NULL)
		n_want++;
	CHECKF(r->n == n_want, "%s: %zu requirements, want %zu", c->label, r->n, n_want);
	CHECKF(r->n_problems == c->n_problems, "%s: %zu problems, want %zu", c->label, r->n_problems, c->n_problems);
	for (i = 0; i < r->n_problems; i++)
		printf("  %s problem: %s: %s\n", c->label, r->problems[i].file, r->problems[i].what);
	for (i = 0; i < n_want && i < r->n; i++) {
		const struct bw_audit_req *q = &r->items[i];
		const struct want *w = &c->w[i];

		CHECK_STR(q->name, w->name);
		if (w->version != NULL)
			CHECK_STR(q->version, w->version);
		else
			CHECKF(q->version == NULL, "%s: %s pinned to %s", c->label, q->name, q->version);
		if (w->spec != NULL)
			CHECK_STR(q->spec, w->spec);
	}
	bw_audit_reqs_free(r);
}

static void check_lock_deps(void)
{
	const char *lock = "[[package]]\nname = \"a\"\nversion = \"1\"\n[package.dependencies]\nb = \"*\"\nc = {version=\"1\"}\n";
	struct bw_audit_reqs *r = NULL;

	CHECK(bw_audit_reqs_parse("poetry.lock", BW_REQ_AUTO, (const uint8_t *)lock, strlen(lock), &r, NULL) == BW_OK);
	if (r != NULL) {
		CHECK_EQ_INT(r->n, 1);
		CHECK_EQ_INT(r->items[0].n_deps, 2);
		if (r->items[0].n_deps == 2) {
			CHECK_STR(r->items[0].deps[0], "b");
			CHECK_STR(r->items[0].deps[1], "c");
		}
	}
	bw_audit_reqs_free(r);
}

/* Wide and nested CycloneDX: every component is read, nested ones right after
 * their parent (document order), metadata.component too; none is dropped when
 * many siblings carry nested lists (regression: a fixed-size work stack once
 * lost nested lists beyond its 64th pending entry). */
static void check_cyclonedx_wide(void)
{
	const size_t n_top = 100;
	size_t cap = 64 + n_top * 200, len = 0, i;
	char *doc = malloc(cap);
	struct bw_audit_reqs *r = NULL;
	struct bw_diag d;

	if (doc == NULL)
		return;
	len += (size_t)snprintf(doc + len, cap - len,
	                        "{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.6\", \"metadata\": {\"component\": "
	                        "{\"type\": \"application\", \"name\": \"app\", \"purl\": \"pkg:pypi/app@0.1\"}},"
	                        " \"components\": [");
	for (i = 0; i < n_top; i++)
		len += (size_t)snprintf(doc + len, cap - len,
		                        "%s{\"type\": \"library\", \"name\": \"p%zu\", \"purl\": \"pkg:pypi/p%zu@1.%zu\", "
		                        "\"components\": [{\"type\": \"library\", \"name\": \"c%zu\", "
		                        "\"purl\": \"pkg:pypi/c%zu@2.%zu\"}]}",
		                        i ? ", " : "", i, i, i, i, i, i);
	len += (size_t)snprintf(doc + len, cap - len, "]}");
	CHECK(len < cap);
	bw_diag_clear(&d);
	CHECKF(bw_audit_reqs_parse("wide.cdx.json", BW_REQ_CYCLONEDX, (const uint8_t *)doc, len, &r, &d) == BW_OK,
	       "%s", d.what);
	if (r != NULL) {
		CHECK_EQ_INT(r->n, 1 + 2 * n_top);
		CHECK_EQ_INT(r->n_problems, 0);
		if (r->n == 1 + 2 * n_top) {
			char want[32];

			CHECK_STR(r->items[0].name, "app");
			CHECK_STR(r->items[0].version, "0.1");
			for (i = 0; i < n_top; i++) {
				snprintf(want, sizeof want, "p%zu", i);
				CHECK_STR(r->items[1 + 2 * i].name, want);
				snprintf(want, sizeof want, "c%zu", i);
				CHECK_STR(r->items[2 + 2 * i].name, want);
				snprintf(want, sizeof want, "2.%zu", i);
				CHECK_STR(r->items[2 + 2 * i].version, want);
			}
		}
	}
	bw_audit_reqs_free(r);
	free(doc);
}

static void check_toml(void)
{
	static const struct {
		const char *doc;
		int ok;
	} t[] = {
		{"a = 1\nb = 'x'\nc = \"\\u00e9\\n\"\nd = [1, [2, 3], {e = 4}]\n[t]\nx.y = true\n", 1},
		{"a = 1\na = 2\n", 0},
		{"a = \"unterminated\n", 0},
		{"[a]\nb = 1\n[a.b]\n", 0},
		{"a = [1, 2\n", 0},
		{"a = {b = 1,}\n", 0},
		{"a = 1 junk\n", 0},
		{"s = '''\nraw \\n'''\nd = 1979-05-27 07:32:00Z\n", 1},
		{"[[x]]\n[[x]]\n[x.y]\nz = 1\n", 1},
		{"a = \"\\q\"\n", 0},
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct bw_arena a;
		struct bw_tnode *root = NULL;

		bw_arena_init(&a, 0);
		CHECKF((bw_tree_parse_toml(&a, (const uint8_t *)t[i].doc, strlen(t[i].doc), &root, NULL) == BW_OK) == t[i].ok,
		       "toml doc %zu", i);
		if (i == 0 && root != NULL) {
			const struct bw_tnode *d = bw_tree_get(root, "d");

			CHECK_STR(bw_tree_get_str(root, "c"), "\xc3\xa9\n");
			CHECK(d != NULL && d->type == BW_T_SEQ && d->n == 3);
			CHECK_STR(bw_tree_get_str(bw_tree_get(bw_tree_get(root, "t"), "x"), "y"), "true");
		}
		if (i == 8 && root != NULL) {
			const struct bw_tnode *x = bw_tree_get(root, "x");

			CHECK(x != NULL && x->type == BW_T_SEQ && x->n == 2);
			CHECK_STR(bw_tree_get_str(bw_tree_get(x->kids[1], "y"), "z"), "1");
		}
		bw_arena_release(&a);
	}
}

static void check_cvss(void)
{
	static const struct {
		const char *v;
		double score;
		enum bw_severity sev;
	} t[] = {
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, BW_SEV_CRITICAL},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, BW_SEV_MEDIUM},
		{"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, BW_SEV_MEDIUM},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", 5.9, BW_SEV_MEDIUM},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, BW_SEV_CRITICAL},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, BW_SEV_LOW},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, BW_SEV_INFO},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8, BW_SEV_CRITICAL},
	};
	static const char *const bad[] = {"CVSS:2.0/AV:N", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
	                                  "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	                                  "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "AV:N"};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		double s;
		enum bw_severity sev;

		CHECK(bw_cvss3_score(t[i].v, &s, &sev) == BW_OK);
		CHECKF(s > t[i].score - 0.001 && s < t[i].score + 0.001, "%s: %.1f want %.1f", t[i].v, s, t[i].score);
		CHECK_EQ_INT(sev, t[i].sev);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		double s;
		enum bw_severity sev;

		CHECKF(bw_cvss3_score(bad[i], &s, &sev) != BW_OK, "%s accepted", bad[i]);
	}
}

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
	check_lock_deps();
	check_cyclonedx_wide();
	check_toml();
	check_cvss();
	return bw_test_done();
}
