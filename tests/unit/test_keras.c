/*
 * test_keras.c - Keras configuration checks: honest Keras 3 config.json and
 * Keras 2 model_config scan clean; Lambda layers (Keras 2 and 3, nested in
 * wrappers and sub-models), external modules, get_file /
 * enable_unsafe_deserialization gadgets and TorchModuleWrapper are reported;
 * the wrapper's pickle is handed back as a member.
 */
#include "harness.h"

#include "data/formats3/recsink.h"

static const struct rec_case cases[] = {
	{"keras_honest_config.json", NULL, 0},
	{"keras_honest_h5_model_config.json", NULL, 0},
	{"keras_lambda_k3.json", "keras.lambda", 0},
	{"keras_lambda_h5_model_config.json", "keras.lambda", 0},
	{"keras_lambda_nested.json", "keras.lambda", 0},
	{"keras_lambda_named_fn.json", "keras.lambda", 0},
	{"keras_lambda_arg.json", "keras.lambda", 0},
	{"keras_external_module.json", "keras.external-module", 0},
	{"keras_get_file.json", "keras.unsafe-function", 0},
	{"keras_unsafe_deser.json", "keras.unsafe-function", 0},
	{"keras_torch_wrapper.json", "keras.torch-module-wrapper", 0},
};

static struct rec *run1(const char *file, struct rec *r)
{
	struct rec_case one = {file, "keras.lambda", 0};

	(void)rec_run_table(&one, 1, bw_keras_config_detect, bw_keras_config_scan, "keras-config", r);
	return r;
}

int main(void)
{
	struct rec *r = calloc(1, sizeof *r);
	size_t n = sizeof cases / sizeof cases[0];

	CHECK(r != NULL);
	CHECK_EQ_INT(rec_run_table(cases, n, bw_keras_config_detect, bw_keras_config_scan, "keras-config", r), 0);

	/* the lambda's marshalled code names what it calls, and a call is reported */
	run1("keras_lambda_k3.json", r);
	CHECK(rec_msg_has(r, "system"));
	CHECK_EQ_INT(r->n_call, 1);
	CHECK_STR(rec_str(r->calls[0]), "__main__.<lambda>");
	run1("keras_lambda_h5_model_config.json", r);
	CHECK(rec_msg_has(r, "__import__"));
	/* nested three levels down: found exactly once */
	run1("keras_lambda_nested.json", r);
	CHECK_EQ_INT(r->n_find, 1);
	/* a Keras 2 named-function Lambda imports os.system */
	run1("keras_lambda_named_fn.json", r);
	CHECK(rec_has_import(r, "os.system"));
	/* external module: import reported for the rules */
	{
		struct rec_case one = {"keras_external_module.json", "keras.external-module", 0};

		CHECK_EQ_INT(rec_run_table(&one, 1, bw_keras_config_detect, bw_keras_config_scan, "keras-config", r), 0);
		CHECK(rec_has_import(r, "os.system"));
	}
	/* enable_unsafe_deserialization plus the Lambda it unlocks */
	{
		struct rec_case one = {"keras_unsafe_deser.json", "keras.lambda", 0};

		CHECK_EQ_INT(rec_run_table(&one, 1, bw_keras_config_detect, bw_keras_config_scan, "keras-config", r), 0);
		CHECK(rec_has(r, "keras.unsafe-function"));
	}
	/* TorchModuleWrapper: the torch.save zip comes back as a member */
	{
		struct rec_case one = {"keras_torch_wrapper.json", "keras.torch-module-wrapper", 0};

		CHECK_EQ_INT(rec_run_table(&one, 1, bw_keras_config_detect, bw_keras_config_scan, "keras-config", r), 0);
		CHECK_EQ_INT(r->n_mem, 1);
		CHECK(r->member_len[0] > 100 && memcmp(r->member_head[0], "PK\x03\x04", 4) == 0);
		CHECK_STR(rec_str(r->members[0]), "TorchModuleWrapper/tw");
	}
	/* nesting past the limit: incomplete, no crash, no unbounded recursion */
	{
		struct rec_case one = {"keras_deep.json", NULL, 1};
		struct bw_fmt_sink s;
		size_t len;
		uint8_t *d = rec_read(rec_path(one.file), &len);
		struct bw_limits lim = rec_lim_default;

		CHECK(d != NULL);
		memset(r, 0, sizeof *r);
		lim.max_nesting = 100;
		rec_sink(r, &s, &lim);
		CHECK(d != NULL && bw_keras_config_scan(d, len, &s) == BW_OK);
		CHECK_EQ_INT(r->n_incomplete, 1);
		free(d);
	}
	/* invalid JSON is incomplete; non-JSON is not detected */
	{
		struct rec_case one = {"keras_invalid.json", NULL, 1};
		struct bw_fmt_sink s;
		size_t len;
		uint8_t *d = rec_read(rec_path(one.file), &len);

		CHECK(d != NULL);
		memset(r, 0, sizeof *r);
		rec_sink(r, &s, NULL);
		CHECK(d != NULL && bw_keras_config_scan(d, len, &s) == BW_OK);
		CHECK_EQ_INT(r->n_incomplete, 1);
		free(d);
		CHECK_EQ_INT(bw_keras_config_detect((const uint8_t *)"[1,2]", 5), 0);
		CHECK_EQ_INT(bw_keras_config_detect((const uint8_t *)"{\"a\": 1}", 8), 0);
		CHECK(bw_keras_config_detect((const uint8_t *)"{\"class_name\": \"Dense\", \"config\": {}}", 38) > 0);
	}
	CHECK_EQ_INT(rec_alloc_sweep("keras_lambda_nested.json", bw_keras_config_scan, r), 0);
	CHECK_EQ_INT(rec_alloc_sweep("keras_torch_wrapper.json", bw_keras_config_scan, r), 0);
	free(r);
	return bw_test_done();
}
