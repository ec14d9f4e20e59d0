/*
 * test_osv_yaml.c - the fast YAML subset reader against libyaml on every
 * advisory of ../shared/testdata/osv-pypi: whenever the fast path accepts a
 * file, its tree must equal libyaml's; it must accept the bulk of them; and
 * hand-written documents outside the subset must be refused (not misread).
 */
#include <dirent.h>
#include <sys/stat.h>

#include "audit/tree.h"
#include "core/arena.h"
#include "core/fileio.h"
#include "harness.h"

static size_t n_files, n_fast;

static void check_doc(const char *name, const uint8_t *p, size_t n)
{
	struct bw_arena a;
	struct bw_tnode *t1 = NULL, *t2 = NULL;
	struct bw_diag d;
	enum bw_err e1, e2;

	bw_arena_init(&a, 0);
	bw_diag_clear(&d);
	e1 = bw_tree_parse_yaml_fast(&a, p, n, &t1);
	e2 = bw_tree_parse_yaml_libyaml(&a, p, n, &t2, &d);
	if (e1 == BW_OK) {
		n_fast++;
		CHECKF(e2 == BW_OK && bw_tree_equal(t1, t2), "%s: fast reader disagrees with libyaml", name);
	} else {
		CHECKF(e1 == BW_ERR_UNSUPPORTED, "%s: fast reader error %d", name, e1);
	}
	bw_arena_release(&a);
}

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	CHECKF(d != NULL, "cannot open %s", dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(path);
		} else {
			struct bw_file_map m;

			if (bw_file_map(path, 1 << 24, &m, NULL) != BW_OK) {
				CHECKF(0, "cannot read %s", path);
				continue;
			}
			n_files++;
			check_doc(path, m.data, m.len);
			bw_file_unmap(&m);
		}
	}
	closedir(d);
}

static void check_refused(void)
{
	static const char *const docs[] = {
		"a: &x 1\nb: *x\n", "a: !!str 1\n", "a: [1, 2]\n", "a: {b: 1}\n", "a: >\n  text\n",
		"a: \"x\\ty\"\n", "# c\na: 1\n", "---\na: 1\n", "a: b: c\n", "a: 1\n  b: 2\n",
		"a:\n- 1\n  - 2\n", "a: 'x\n", "? a\n: b\n", "a: x #c\n",
		/* literal block scalars outside the subset */
		"a: |2\n  text\n", "a: | # c\n  text\n", "a: |\n  text", "a: |\n\n", "a: |\n    \n  x\n",
		"- |\n  x\n", "a:\n  b: |\n  x\n",
		/* UTF-8 the fast reader leaves to libyaml: NEL, LS, BOM, C1, malformed, overlong, surrogate */
		"a: x\xc2\x85y\n", "a: x\xe2\x80\xa8y\n", "a: \xef\xbb\xbfx\n", "a: \xc2\x9f\n", "a: \xc3(\n",
		"a: \xc0\xaf\n", "a: \xed\xa0\x80\n", "a: \xf4\x90\x80\x80\n", "a: \xe2\x82\n",
	};
	static const struct {
		const char *doc;
		int fast_ok;
	} same[] = {
		{"a: 1\nb:\n- x\n- y: 2\n  z: '3'\nc: plain\n  continued\n\n  para\n", 1},
		{"a:\n  b:\n    c: d\ne: ''\nf:\ng: 'it''s'\n", 1},
		{"- a\n- - b\n-\n  c: d\n", 0},
		{"k: \"two\n  lines\"\n", 1},
		{"k: x\n", 1},
		{"a: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d\n", 1},
		/* literal block scalars: clip, strip, keep; blank lines inside and after;
		 * deeper lines; a blank line with extra spaces; leading blank lines */
		{"a: |\n  one\n    two\n\n  three\nb: x\n", 1},
		{"a: |-\n  one\n\n\nb: x\n", 1},
		{"a: |+\n  one\n\n \n\nb: x\n", 1},
		{"a: |+\n  one\n", 1},
		{"a: |\n  one\n      \n  two\n", 1},
		{"a: |\n\n\n  one\n", 1},
		{"a: |\n  # not a comment\n  [x] {y} 'z' \"w\" - v: u\n", 1},
		{"- k: |\n    x\n  j: 2\n", 1},
		{"m:\n  k: |-\n    x\n     y\n  j: 2\n", 1},
		/* plain continuation lines starting with indicator characters */
		{"a: text\n  [link](u) *b* &c !d |e >f 'g' \"h\" %i @j `k` ,l ?m\n", 1},
	};
	size_t i;

	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct bw_arena a;
		struct bw_tnode *t = NULL;

		bw_arena_init(&a, 0);
		CHECKF(bw_tree_parse_yaml_fast(&a, (const uint8_t *)docs[i], strlen(docs[i]), &t) == BW_ERR_UNSUPPORTED,
		       "fast reader should refuse doc %zu", i);
		bw_arena_release(&a);
	}
	for (i = 0; i < sizeof same / sizeof same[0]; i++) {
		struct bw_arena a;
		struct bw_tnode *t1 = NULL, *t2 = NULL;
		enum bw_err e;

		bw_arena_init(&a, 0);
		e = bw_tree_parse_yaml_fast(&a, (const uint8_t *)same[i].doc, strlen(same[i].doc), &t1);
		if (same[i].fast_ok)
			CHECKF(e == BW_OK, "fast reader should accept doc %zu (%d)", i, e);
		CHECK(bw_tree_parse_yaml_libyaml(&a, (const uint8_t *)same[i].doc, strlen(same[i].doc), &t2, NULL) == BW_OK);
		if (e == BW_OK)
			CHECKF(bw_tree_equal(t1, t2), "doc %zu differs from libyaml", i);
		bw_arena_release(&a);
	}
}

int main(void)
{
	const char *td = bw_test_testdata();
	char path[4096];

	snprintf(path, sizeof path, "%s/osv-pypi/vulns", td);
	walk(path);
	printf("%zu advisories, %zu read by the fast path\n", n_files, n_fast);
	CHECK_EQ_INT(n_files, 2661);
	CHECK(n_fast * 10 > n_files * 9);
	check_refused();
	return bw_test_done();
}
