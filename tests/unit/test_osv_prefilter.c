/*
 * test_osv_prefilter.c - the OSV load prefilter (audit/osv.c want_file):
 * hand-written advisories it must never drop (names written with other case
 * or separators, quoted, in flow collections, in JSON, behind escapes,
 * anchors or explicit keys, UTF-16), files it may drop, and a soundness check
 * over every advisory of ../shared/testdata/osv-pypi: for each PyPI package a
 * full parse of the file finds, a load that wants only that package must
 * parse the file.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "audit/osv.h"
#include "core/fileio.h"
#include "harness.h"

struct pcase {
	const char *label;
	const char *doc;
	size_t len;    /* 0: strlen(doc) */
	int want;      /* expected decision: 1 parse, 0 skip */
	int keyed;     /* expected answer of the name-key judge: 1, 0, -1 */
};

#define ADV_HEAD "id: X-1\nsummary: s\naffected:\n- package:\n    ecosystem: PyPI\n"

static const struct pcase cases[] = {
	{"plain name", ADV_HEAD "    name: demo-pkg\n", 0, 1, 1},
	{"other case and separators", ADV_HEAD "    name: Demo_Pkg\n", 0, 1, 1},
	{"dots and runs of separators", ADV_HEAD "    name: DEMO.-_pkg\n", 0, 1, 1},
	{"double-quoted", ADV_HEAD "    name: \"Demo.Pkg\"\n", 0, 1, 1},
	{"single-quoted", ADV_HEAD "    name: 'demo_pkg'\n", 0, 1, 1},
	{"quoted key", ADV_HEAD "    \"name\": demo-pkg\n", 0, 1, 1},
	{"space before the colon", ADV_HEAD "    name   : demo-pkg\n", 0, 1, 1},
	{"flow mapping", "id: X-1\naffected:\n- package: {ecosystem: PyPI, name: demo.pkg}\n", 0, 1, 1},
	{"flow sequence", "id: X-1\naffected: [{package: {name: Demo-Pkg, ecosystem: PyPI}}]\n", 0, 1, 1},
	{"JSON", "{\"id\":\"X-1\",\"affected\":[{\"package\":{\"name\":\"DEMO-pkg\",\"ecosystem\":\"PyPI\"}}]}", 0, 1, 1},
	{"JSON, key and colon on two lines",
	 "{\"id\": \"X-1\", \"affected\": [{\"package\": {\"name\"\n  : \"demo_pkg\"}}]}", 0, 1, 1},
	{"second entry", ADV_HEAD "    name: other\n- package:\n    ecosystem: PyPI\n    name: demo-pkg\n", 0, 1, 1},
	{"other packages only, the wanted one in prose",
	 "id: X-1\ndetails: demo-pkg users see filename: demo-pkg\naffected:\n- package:\n    name: other\n", 0, 0, 0},
	{"longer keys are not the name key", ADV_HEAD "    name: other\n    names: demo-pkg\n    filename: demo-pkg\n",
	 0, 0, 0},
	{"JSON with escapes elsewhere, other package",
	 "{\"id\": \"X-1\", \"details\": \"a \\\"quoted\\\" demo-pkg\\nline\\u00e9\", \"affected\": "
	 "[{\"package\": {\"name\": \"other\", \"ecosystem\": \"PyPI\"}}]}", 0, 0, 0},
	{"JSON escaped key", "{\"affected\": [{\"package\": {\"n\\u0061me\": \"demo-pkg\"}}]}", 0, 1, 1},
	{"JSON escaped value", "{\"affected\": [{\"package\": {\"name\": \"Demo\\u005FPkg\"}}]}", 0, 1, 1},
	{"JSON number as the name (rewritten by the loader)", "{\"affected\": [{\"package\": {\"name\": 1.50}}]}", 0,
	 1, 1},
	{"JSON, no name key", "{\"id\": \"X-1\", \"details\": \"demo-pkg\"}", 0, 1, -1},
	{"JSON, unterminated", "{\"id\": \"X-1\", \"name\": \"demo", 0, 0, -1},
	/* the name-key judge gives up; the word scan keeps the file */
	{"escape in double quotes", ADV_HEAD "    name: \"demo\\x2dpkg\"\n", 0, 1, -1},
	{"escaped key", ADV_HEAD "    \"n\\u0061me\": demo-pkg\n", 0, 1, -1},
	{"value on the next line", ADV_HEAD "    name:\n      demo-pkg\n", 0, 1, -1},
	{"anchor", ADV_HEAD "    name: &a demo-pkg\n", 0, 1, -1},
	{"tag", ADV_HEAD "    name: !!str demo-pkg\n", 0, 1, -1},
	{"explicit key with a comment", ADV_HEAD "    ? name # the package\n    : demo-pkg\n", 0, 1, -1},
	{"no name key, broken, mentions the package", "id: [broken demo-pkg\n", 0, 1, -1},
	{"no name key, no mention", "id: X-1\nsummary: nothing\n", 0, 0, -1},
	{"UTF-16", "i\0d\0:\0 \0X\0\n\0n\0a\0m\0e\0:\0 \0d\0e\0m\0o\0-\0p\0k\0g\0\n\0", 42, 1, -1},
	{"empty", "", 0, 0, -1},
};

static void check_cases(void)
{
	static const char *const want[] = {"demo-pkg", "zzz"};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct pcase *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->doc);
		int keyed = -2;
		int r = bw_osv_prefilter(want, 2, (const uint8_t *)c->doc, len, &keyed);

		CHECKF(r == c->want, "%s: decision %d, want %d", c->label, r, c->want);
		CHECKF(keyed == c->keyed, "%s: name-key judge %d, want %d", c->label, keyed, c->keyed);
	}
	CHECK(bw_osv_prefilter(want, 0, (const uint8_t *)"x", 1, NULL) == -1);
}

static size_t n_files, n_names;

/* Every package a full parse of this file finds must keep the file. */
static void check_file(const char *path, const uint8_t *p, size_t n)
{
	struct bw_osv_db *db = NULL;
	size_t i;

	if (bw_osv_db_load_mem(path, p, n, &db, NULL) != BW_OK) {
		CHECKF(0, "%s: cannot load", path);
		return;
	}
	n_files++;
	for (i = 0; i < db->n_slots; i++) {
		const char *name = db->slots[i].name;

		if (name == NULL)
			continue;
		n_names++;
		CHECKF(bw_osv_prefilter(&name, 1, p, n, NULL) == 1, "%s: prefilter drops %s", path, name);
	}
	bw_osv_db_free(db);
}

static void walk(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	CHECKF(d != NULL, "cannot open %s", dir);
	if (d == NULL || depth > 4) {
		if (d != NULL)
			closedir(d);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		struct bw_file_map m;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(path, depth + 1);
			continue;
		}
		if (bw_file_map(path, 1 << 24, &m, NULL) != BW_OK) {
			CHECKF(0, "cannot read %s", path);
			continue;
		}
		check_file(path, m.data, m.len);
		bw_file_unmap(&m);
	}
	closedir(d);
}

int main(void)
{
	const char *td = bw_test_testdata();
	char path[4096];

	check_cases();
	snprintf(path, sizeof path, "%s/osv-pypi/vulns", td);
	walk(path, 0);
	printf("%zu advisories, %zu package names, none dropped by the prefilter\n", n_files, n_names);
	CHECK(n_files == 2661);
	CHECK(n_names >= 2661);
	return bw_test_done();
}
