/*
 * test_pep440.c - PEP 440 parsing, ordering, specifiers and PEP 503 names,
 * against ../shared/testdata/osv-pypi/pep440-vectors.json (computed with
 * pip's vendored packaging) plus hand-written edge cases.
 */
#include <jansson.h>

#include "audit/pep440.h"
#include "harness.h"

static void check_parse_vectors(json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		const char *in = json_string_value(json_object_get(e, "input"));
		struct bw_pep440 v;
		char buf[BW_PEP440_MAX_CANON];
		enum bw_err err = bw_pep440_parse(in, &v);
		json_t *rel = json_object_get(e, "release"), *pre = json_object_get(e, "pre");
		json_t *loc = json_object_get(e, "local");
		size_t j;

		CHECKF(err == BW_OK, "parse '%s': %d", in, err);
		if (err != BW_OK)
			continue;
		CHECK_STR(bw_pep440_str(&v, buf, sizeof buf), json_string_value(json_object_get(e, "canonical")));
		CHECK_STR(bw_pep440_public_str(&v, buf, sizeof buf), json_string_value(json_object_get(e, "public")));
		CHECK_STR(bw_pep440_base_str(&v, buf, sizeof buf), json_string_value(json_object_get(e, "base_version")));
		CHECK_EQ_INT(v.epoch, json_integer_value(json_object_get(e, "epoch")));
		CHECK_EQ_INT(v.n_release, json_array_size(rel));
		for (j = 0; j < json_array_size(rel) && j < v.n_release; j++)
			CHECK_EQ_INT(v.release[j], json_integer_value(json_array_get(rel, j)));
		if (json_is_null(pre)) {
			CHECK_EQ_INT(v.pre_kind, BW_PEP440_PRE_NONE);
		} else {
			const char *l = json_string_value(json_array_get(pre, 0));
			int k = strcmp(l, "a") == 0 ? BW_PEP440_PRE_A : strcmp(l, "b") == 0 ? BW_PEP440_PRE_B : BW_PEP440_PRE_RC;

			CHECK_EQ_INT(v.pre_kind, k);
			CHECK_EQ_INT(v.pre, json_integer_value(json_array_get(pre, 1)));
		}
		CHECK_EQ_INT(v.has_post, !json_is_null(json_object_get(e, "post")));
		CHECK_EQ_INT(v.has_dev, !json_is_null(json_object_get(e, "dev")));
		if (json_is_null(loc))
			CHECK_STR(v.local, "");
		else
			CHECK_STR(v.local, json_string_value(loc));
		CHECK_EQ_INT(bw_pep440_is_prerelease(&v), json_is_true(json_object_get(e, "is_prerelease")));
		CHECK_EQ_INT(bw_pep440_is_postrelease(&v), json_is_true(json_object_get(e, "is_postrelease")));
		CHECK_EQ_INT(bw_pep440_is_devrelease(&v), json_is_true(json_object_get(e, "is_devrelease")));
	}
}

static void check_invalid_vectors(json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		const char *in = json_string_value(json_object_get(e, "input"));
		struct bw_pep440 v;
		int valid = bw_pep440_parse(in, &v) == BW_OK;

		CHECKF(valid == json_is_true(json_object_get(e, "valid")), "'%s' valid=%d", in, valid);
	}
}

static void check_order_vectors(json_t *groups)
{
	size_t gi, gj, a, b;
	json_t *ga, *gb;

	/* every member of an earlier group sorts before every member of a later one */
	json_array_foreach(groups, gi, ga) {
		json_array_foreach(groups, gj, gb) {
			for (a = 0; a < json_array_size(ga); a++)
				for (b = 0; b < json_array_size(gb); b++) {
					const char *sa = json_string_value(json_array_get(ga, a));
					const char *sb = json_string_value(json_array_get(gb, b));
					struct bw_pep440 va, vb;
					int want = (gi > gj) - (gi < gj), got;

					if (bw_pep440_parse(sa, &va) != BW_OK || bw_pep440_parse(sb, &vb) != BW_OK) {
						CHECKF(0, "unparsable %s / %s", sa, sb);
						continue;
					}
					got = bw_pep440_cmp(&va, &vb);
					CHECKF(got == want, "cmp(%s, %s) = %d, want %d", sa, sb, got, want);
				}
		}
	}
}

static void check_spec_vectors(json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		const char *sp = json_string_value(json_object_get(e, "spec"));
		const char *ver = json_string_value(json_object_get(e, "version"));
		struct bw_pep440_spec spec;
		struct bw_pep440 v;

		if (bw_pep440_spec_parse(sp, &spec) != BW_OK || bw_pep440_parse(ver, &v) != BW_OK) {
			CHECKF(0, "unparsable spec '%s' or version '%s'", sp, ver);
			continue;
		}
		CHECKF(bw_pep440_spec_contains(&spec, &v, -1) == json_is_true(json_object_get(e, "contains_default")),
		       "'%s' contains '%s' (default)", sp, ver);
		CHECKF(bw_pep440_spec_contains(&spec, &v, 1) == json_is_true(json_object_get(e, "contains_prereleases_true")),
		       "'%s' contains '%s' (prereleases)", sp, ver);
	}
}

static void check_names(json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		const char *in = json_string_value(json_object_get(e, "input"));
		char buf[128];
		const char *out = buf;

		CHECK(bw_pep503_normalize(in, strlen(in), buf, sizeof buf) == BW_OK);
		CHECK_STR(out, json_string_value(json_object_get(e, "normalized")));
	}
}

/* Edge cases written from the PEP text, independent of the vector file. */
static void check_edges(void)
{
	static const struct {
		const char *in;
		const char *canon; /* NULL: must be rejected */
	} cases[] = {
		{"1.0a.post", "1.0a0.post0"},
		{"1.0-dev", "1.0.dev0"},
		{"1.0dev-", "1.0.dev0"},
		{"1.0.r", "1.0.post0"},
		{"1.0-", NULL},
		{"1.0+local-", NULL},
		{"1.0+", NULL},
		{"", NULL},
		{"v", NULL},
		{"1!", NULL},
		{"1.0.post1.post2", NULL},
		{"1.13.0+cu117", "1.13.0+cu117"},
		{"2.0.0+CPU", "2.0.0+cpu"},
		{"18446744073709551615", "18446744073709551615"},
		{"18446744073709551616", NULL},
		{"0.8.4p1", NULL},
		{"2019-09-12", NULL},
		{"1.0RC1", "1.0rc1"},
		{"01.02.03", "1.2.3"},
	};
	static const struct {
		const char *spec;
		const char *ver;
		int pre;   /* prereleases argument */
		int want;  /* 1 contained, 0 not, -1 spec rejected */
	} sp[] = {
		{"==1.*", "1.5", -1, 1},
		{"==1.*", "2.0", -1, 0},
		{"==1.0+cu117", "1.0", -1, 0},
		{"==1.0+cu117", "1.0+cu117", -1, 1},
		{"==1.0", "1.0+cu117", -1, 1},
		{"<2.0", "2.0rc1", 1, 0},
		{"<2.0rc2", "2.0rc1", -1, 0},
		{"<2.0rc2", "2.0rc1", 1, 1},
		{">1.0", "1.0.post1", -1, 0},
		{">1.0", "1.0+local", -1, 0},
		{">1.0", "1.1", -1, 1},
		{"~=1", "1.0", -1, -1},
		{">=1.0+local", "1.0", -1, -1},
		{"==1.0.dev1.*", "1.0", -1, -1},
		{"==1.0+l.*", "1.0", -1, -1},
		{"", "1.0", -1, 1},
		{"", "1.0a1", -1, 0},
		{"", "1.0a1", 1, 1},
		{">=1.0,", "1.0", -1, -1},
		{"===1.0", "1.0", -1, 1},
		{"===1.0", "1.0.0", -1, 0},
		{"~=2.2", "3.0", -1, 0},
		{"~=2.2", "2.9", -1, 1},
		{"~=1!2.2", "1!2.5", -1, 1},
		{"~=1!2.2", "2.5", -1, 0},
		{">=1.0a1", "1.0b1", -1, 1},
		{"!=1.0", "1.0a1", -1, 0},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bw_pep440 v;
		char buf[BW_PEP440_MAX_CANON];
		enum bw_err e = bw_pep440_parse(cases[i].in, &v);

		if (cases[i].canon == NULL) {
			CHECKF(e != BW_OK, "'%s' should be rejected", cases[i].in);
		} else {
			CHECKF(e == BW_OK, "'%s' should parse", cases[i].in);
			CHECK_STR(bw_pep440_str(&v, buf, sizeof buf), cases[i].canon);
		}
	}
	for (i = 0; i < sizeof sp / sizeof sp[0]; i++) {
		struct bw_pep440_spec s;
		struct bw_pep440 v;
		enum bw_err e = bw_pep440_spec_parse(sp[i].spec, &s);

		if (sp[i].want < 0) {
			CHECKF(e != BW_OK, "spec '%s' should be rejected", sp[i].spec);
			continue;
		}
		CHECKF(e == BW_OK, "spec '%s' should parse", sp[i].spec);
		CHECK(bw_pep440_parse(sp[i].ver, &v) == BW_OK);
		CHECKF(bw_pep440_spec_contains(&s, &v, sp[i].pre) == sp[i].want, "'%s' contains '%s'",
		       sp[i].spec, sp[i].ver);
	}
	{
		char out[8];

		CHECK(bw_pep503_normalize("averyveryverylongname", 21, out, sizeof out) == BW_ERR_LIMIT);
		CHECK(bw_pep503_normalize("bad name", 8, out, sizeof out) == BW_ERR_MALFORMED);
		CHECK(bw_pep503_normalize("", 0, out, sizeof out) == BW_ERR_MALFORMED);
	}
}

int main(void)
{
	const char *td = bw_test_testdata();
	char path[4096];
	json_error_t jerr;
	json_t *root;

	snprintf(path, sizeof path, "%s/osv-pypi/pep440-vectors.json", td);
	root = json_load_file(path, 0, &jerr);
	if (root == NULL) {
		fprintf(stderr, "cannot read %s: %s\n", path, jerr.text);
		return 1;
	}
	/* every case of the vector file is run (sizes as shipped; a shorter file is an error, not a pass) */
	CHECK_EQ_INT(json_array_size(json_object_get(root, "parse")), 62);
	CHECK_EQ_INT(json_array_size(json_object_get(root, "invalid")), 11);
	CHECK_EQ_INT(json_array_size(json_object_get(root, "ascending_groups_of_equal_versions")), 39);
	CHECK_EQ_INT(json_array_size(json_object_get(root, "specifier_tests")), 330);
	CHECK_EQ_INT(json_array_size(json_object_get(root, "name_normalization_pep503")), 11);
	printf("pep440-vectors.json: %zu parse, %zu invalid, %zu ordering groups, %zu specifier cases, %zu names\n",
	       json_array_size(json_object_get(root, "parse")), json_array_size(json_object_get(root, "invalid")),
	       json_array_size(json_object_get(root, "ascending_groups_of_equal_versions")),
	       json_array_size(json_object_get(root, "specifier_tests")),
	       json_array_size(json_object_get(root, "name_normalization_pep503")));
	check_parse_vectors(json_object_get(root, "parse"));
	check_invalid_vectors(json_object_get(root, "invalid"));
	check_order_vectors(json_object_get(root, "ascending_groups_of_equal_versions"));
	check_spec_vectors(json_object_get(root, "specifier_tests"));
	check_names(json_object_get(root, "name_normalization_pep503"));
	check_edges();
	json_decref(root);
	return bw_test_done();
}
