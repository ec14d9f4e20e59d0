/*
 * test_sbom.c - SBOM building blocks: SHA-256 known answers (FIPS 180-4
 * examples) through bw_sbom_hash_file, case-correct SPDX identifiers, the
 * model-folder reader (config.json, README front matter, file walk), the
 * requirement index behind dependency edges (spellings of one name, a
 * package listed twice, self-dependencies, top-level packages), and argument
 * errors of bw_sbom_build.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulwark/sbom.h"
#include "core/arena.h"
#include "harness.h"
#include "sbom/sbom_int.h"

static char dir[256];

static void put(const char *rel, const char *data)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, rel);
	f = fopen(p, "wb");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(data, f);
		fclose(f);
	}
}

static void hex(const uint8_t *h, char *out)
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static void test_req_index(void)
{
	static const char *const deps_a[] = {"Requests", "a", "nope"}; /* a lists itself */
	static const char *const deps_r[] = {"URLLIB3", "charset_normalizer"};
	static const char *const deps_u[] = {"A"};
	const struct bw_audit_req reqs[] = {
		{"a", "1", NULL, NULL, 1, NULL, 3, deps_a},
		{"requests", "2", NULL, NULL, 2, NULL, 2, deps_r},
		{"urllib3", "3", NULL, NULL, 3, NULL, 0, NULL},
		{"Charset-Normalizer", "4", NULL, NULL, 4, NULL, 0, NULL},
		{"urllib_3", "5", NULL, NULL, 5, NULL, 0, NULL}, /* not urllib3: "urllib-3" */
		{"URLlib3", "3", NULL, NULL, 6, NULL, 1, deps_u}, /* urllib3 again */
		{"lonely", "6", NULL, NULL, 7, NULL, 0, NULL},
		{"bad name!", "7", NULL, NULL, 8, NULL, 0, NULL},
	};
	const char *refs[8] = {"a", "requests", "urllib3", "cn", "u3", "urllib3-dup", "lonely", "bad"};
	const char *refs_no_first[8] = {"a", "requests", NULL, "cn", "u3", "urllib3-dup", "lonely", "bad"};
	struct bw_sbom_opts o;
	struct bw_sbom_index ix;
	struct bw_arena a;

	bw_arena_init(&a, 0);
	bw_sbom_opts_default(&o);
	o.reqs = reqs;
	o.n_reqs = sizeof reqs / sizeof reqs[0];
	CHECK(bw_sbom_index_build(&a, &o, &ix) == BW_OK);
	CHECK(bw_sbom_index_find(&ix, "Requests", 0, refs) == 1);
	CHECK(bw_sbom_index_find(&ix, "urllib3", 1, refs) == 2);       /* the first of two listings */
	CHECK(bw_sbom_index_find(&ix, "urllib3", 1, refs_no_first) == 5); /* ... that has a ref */
	CHECK(bw_sbom_index_find(&ix, "urllib3", 2, refs) == 5);       /* never itself */
	CHECK(bw_sbom_index_find(&ix, "charset.normalizer", 1, refs) == 3);
	CHECK(bw_sbom_index_find(&ix, "a", 0, refs) == SIZE_MAX);      /* a self-dependency is no edge */
	CHECK(bw_sbom_index_find(&ix, "nope", 0, refs) == SIZE_MAX);
	CHECK(bw_sbom_index_find(&ix, "bad name!", 0, refs) == SIZE_MAX);
	/* roots: nothing else depends on them (a depends on itself only, and urllib3-dup on a) */
	CHECK(!bw_sbom_index_is_root(&ix, 0)); /* URLlib3 (index 5) depends on A */
	CHECK(!bw_sbom_index_is_root(&ix, 1));
	CHECK(!bw_sbom_index_is_root(&ix, 2) && !bw_sbom_index_is_root(&ix, 5));
	CHECK(!bw_sbom_index_is_root(&ix, 3));
	CHECK(bw_sbom_index_is_root(&ix, 4) && bw_sbom_index_is_root(&ix, 6) && bw_sbom_index_is_root(&ix, 7));
	bw_arena_release(&a);
}

int main(void)
{
	test_req_index();
	uint8_t h[32];
	char hx[65], p[512];
	const char *hs = hx;
	struct bw_arena a;
	struct bw_model_info m;
	struct bw_diag d;
	struct bw_sbom_opts o;
	char *out = NULL;
	size_t len = 0;

	snprintf(dir, sizeof dir, "/tmp/bw_test_sbom_XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	/* FIPS 180-4 / NIST example vectors */
	put("abc", "abc");
	put("empty", "");
	snprintf(p, sizeof p, "%s/abc", dir);
	CHECK(bw_sbom_hash_file(p, h, NULL) == BW_OK);
	hex(h, hx);
	CHECK_STR(hs, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	snprintf(p, sizeof p, "%s/empty", dir);
	CHECK(bw_sbom_hash_file(p, h, NULL) == BW_OK);
	hex(h, hx);
	CHECK_STR(hs, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	snprintf(p, sizeof p, "%s/missing", dir);
	CHECK(bw_sbom_hash_file(p, h, NULL) == BW_ERR_NOTFOUND);

	CHECK_STR(bw_sbom_spdx_id("apache-2.0"), "Apache-2.0");
	CHECK_STR(bw_sbom_spdx_id("MIT"), "MIT");
	CHECK_STR(bw_sbom_spdx_id("bsd-3-clause"), "BSD-3-Clause");
	CHECK_STR(bw_sbom_spdx_id("cc-by-nc-sa-4.0"), "CC-BY-NC-SA-4.0");
	CHECK(bw_sbom_spdx_id("openrail") == NULL);
	CHECK(bw_sbom_spdx_id("other") == NULL);
	CHECK(bw_sbom_spdx_id("") == NULL);

	put("config.json", "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 4096,"
	                   " \"rope_theta\": 10000.0, \"_x\": 1, \"nested\": {\"a\": 1}}");
	put("README.md", "---\r\nlicense: [llama2]\r\ndatasets: one-dataset\r\nbase_model:\r\n- a/b\r\n- c/d\r\n---\r\ntext\n");
	put("model-00001-of-00002.safetensors", "x");
	bw_arena_init(&a, 0);
	bw_diag_clear(&d);
	CHECKF(bw_model_read(&a, dir, 100, &m, &d) == BW_OK, "%s", d.what);
	CHECK_STR(m.model_type, "llama");
	CHECK(m.n_arch == 1);
	CHECK_STR(m.license, "llama2");
	CHECK(m.n_datasets == 1 && strcmp(m.datasets[0], "one-dataset") == 0);
	CHECK(m.n_base == 2);
	CHECK(m.n_hyper == 2); /* hidden_size, rope_theta: not "_x", not the nested object */
	CHECK(m.n_hyper == 2 && strcmp(m.hyper[0].key, "hidden_size") == 0 && strcmp(m.hyper[1].value, "10000.0") == 0);
	CHECK_EQ_INT(m.n_files, 5);
	CHECK_STR(m.formats, "safetensors");
	CHECK(strncmp(m.name, "bw_test_sbom_", 13) == 0);
	CHECK(bw_model_read(&a, dir, 2, &m, &d) == BW_ERR_LIMIT);
	put("README.md", "---\nlicense: mit\n");
	CHECK(bw_model_read(&a, dir, 100, &m, NULL) == BW_ERR_MALFORMED);
	put("README.md", "no front matter\n");
	CHECK(bw_model_read(&a, dir, 100, &m, NULL) == BW_OK && m.license == NULL);
	bw_arena_release(&a);

	bw_sbom_opts_default(&o);
	CHECK(bw_sbom_build(&o, &out, &len, NULL) == BW_ERR_ARG);
	o.model_dir = dir;
	o.timestamp = 0;
	CHECK(bw_sbom_build(&o, &out, &len, NULL) == BW_OK && out != NULL && strstr(out, "1970-01-01T00:00:00Z") != NULL);
	bw_sbom_str_free(out);
	o.format = BW_SBOM_SPDX_3;
	CHECK(bw_sbom_build(&o, &out, &len, NULL) == BW_OK && out != NULL && strstr(out, "ai_AIPackage") != NULL);
	bw_sbom_str_free(out);

	snprintf(p, sizeof p, "rm -rf '%s'", dir);
	CHECK(system(p) == 0);
	return bw_test_done();
}
