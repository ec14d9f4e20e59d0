/*
 * test_onnx_scan.c - ONNX scanner: honest models (torch.onnx.export CNN,
 * onnx.helper graphs, external data saved by onnx, a model-local function)
 * scan clean; external paths, custom domains (also inside If branches), size
 * mismatches and nesting past the limit are reported; path rule table.
 */
#include "harness.h"

#include "data/formats3/recsink.h"

static const struct rec_case cases[] = {
	{"onnx_honest_cnn.onnx", NULL, 0},
	{"onnx_honest_add.onnx", NULL, 0},
	{"onnx_honest_external.onnx", NULL, 0},
	{"onnx_honest_local_function.onnx", NULL, 0},
	{"onnx_ext_abs.onnx", "onnx.external-data-path", 0},
	{"onnx_ext_dotdot.onnx", "onnx.external-data-path", 0},
	{"onnx_ext_length.onnx", "onnx.size-mismatch", 0},
	{"onnx_custom_domain.onnx", "onnx.custom-domain", 0},
	{"onnx_nested_custom.onnx", "onnx.custom-domain", 0},
	{"onnx_size_mismatch.onnx", "onnx.size-mismatch", 0},
	{"onnx_deep_nesting.onnx", "onnx.nesting-limit", 1},
};

static const struct {
	const char *p;
	int escapes;
} paths[] = {
	{"weights.bin", 0},
	{"data/weights.bin", 0},
	{"a..b/c", 0},
	{"..data", 0},
	{"/etc/passwd", 1},
	{"\\\\server\\share\\x", 1},
	{"C:\\Windows\\win.ini", 1},
	{"c:foo", 1},
	{"~/.ssh/id_rsa", 1},
	{"../x", 1},
	{"a/../../x", 1},
	{"a\\..\\x", 1},
	{"..", 1},
	{"file:///etc/passwd", 1},
	{"http://example.com/w.bin", 1},
};

int main(void)
{
	struct rec *r = calloc(1, sizeof *r);
	size_t i;

	CHECK(r != NULL);
	CHECK_EQ_INT(rec_run_table(cases, sizeof cases / sizeof cases[0], bw_onnx_detect, bw_onnx_scan, "onnx", r), 0);
	for (i = 0; i < sizeof paths / sizeof paths[0]; i++)
		CHECKF(bw_onnx_path_escapes((const uint8_t *)paths[i].p, strlen(paths[i].p)) == paths[i].escapes,
		       "path \"%s\"", paths[i].p);
	CHECK_EQ_INT(bw_onnx_path_escapes((const uint8_t *)"a\0b", 3), 1);
	/* the nested custom op is named with its domain */
	{
		static const struct rec_case one = {"onnx_nested_custom.onnx", "onnx.custom-domain", 0};

		CHECK_EQ_INT(rec_run_table(&one, 1, bw_onnx_detect, bw_onnx_scan, "onnx", r), 0);
		CHECK(rec_msg_has(r, "Leak") && rec_msg_has(r, "com.attacker.ops"));
	}
	/* detection: not a SavedModel, not random bytes */
	{
		size_t len;
		uint8_t *d = rec_read(rec_path("sm_honest.pb"), &len);

		CHECK(d != NULL && bw_onnx_detect(d, len) == 0);
		free(d);
		CHECK_EQ_INT(bw_onnx_detect((const uint8_t *)"\x08\x07", 2), 0);
		CHECK_EQ_INT(bw_onnx_detect((const uint8_t *)"hello world", 11), 0);
	}
	CHECK_EQ_INT(rec_alloc_sweep("onnx_nested_custom.onnx", bw_onnx_scan, r), 0);
	CHECK_EQ_INT(rec_alloc_sweep("onnx_honest_cnn.onnx", bw_onnx_scan, r), 0);
	free(r);
	return bw_test_done();
}
