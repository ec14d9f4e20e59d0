/*
 * test_savedmodel.c - SavedModel graph checks: an honest graph (with the
 * saver's SaveV2/RestoreV2 and a function library) scans clean; PyFunc,
 * file and debug ops in the graph or in library functions are reported;
 * keras_metadata.pb hands its layer JSON to the Keras checks.
 */
#include "harness.h"

#include "data/formats3/recsink.h"

static const struct rec_case cases[] = {
	{"sm_honest.pb", NULL, 0},
	{"sm_printv2_stderr.pb", NULL, 0},
	{"sm_pyfunc.pb", "savedmodel.op-python", 0},
	{"sm_fileio_in_function.pb", "savedmodel.op-file-read", 0},
	{"sm_fileio_in_function.pb", "savedmodel.op-file-write", 0},
	{"sm_debug.pb", "savedmodel.op-debug", 0},
	{"sm_printv2_file.pb", "savedmodel.op-file-write", 0},
	{"sm_network.pb", "savedmodel.op-network", 0},
	{"sm_immutable_const.pb", "savedmodel.op-file-read", 0},
	{"sm_dataset_io.pb", "savedmodel.op-file-read", 0},
	{"sm_dataset_io.pb", "savedmodel.op-file-write", 0},
	{"sm_debug_v3.pb", "savedmodel.op-debug", 0},
	{"sm_proto_desc_file.pb", "savedmodel.op-file-read", 0},
	{"sm_proto_desc_local.pb", NULL, 0},
	{"sm_truncated.pb", NULL, 1}, /* last: detection does not claim it (run below) */
};

static const struct rec_case km_cases[] = {
	{"km_honest.pb", NULL, 0},
	{"km_lambda.pb", "keras.lambda", 0},
};

int main(void)
{
	struct rec *r = calloc(1, sizeof *r);
	const char *why;

	CHECK(r != NULL);
	/* sm_truncated: expected incomplete and no finding (the cut node is lost) */
	CHECK_EQ_INT(rec_run_table(cases, sizeof cases / sizeof cases[0] - 1, bw_savedmodel_detect,
	                           bw_savedmodel_scan, "tf-savedmodel", r), 0);
	{
		size_t len;
		uint8_t *d = rec_read(rec_path("sm_truncated.pb"), &len);
		struct bw_fmt_sink s;

		CHECK(d != NULL);
		memset(r, 0, sizeof *r);
		rec_sink(r, &s, NULL);
		CHECK(d != NULL && bw_savedmodel_scan(d, len, &s) == BW_OK);
		CHECK_EQ_INT(r->n_incomplete, 1);
		free(d);
	}
	/* the PyFunc token is quoted */
	{
		static const struct rec_case one = {"sm_pyfunc.pb", "savedmodel.op-python", 0};

		CHECK_EQ_INT(rec_run_table(&one, 1, bw_savedmodel_detect, bw_savedmodel_scan, "tf-savedmodel", r), 0);
		CHECK(rec_msg_has(r, "pyfunc_0"));
	}
	{
		static const struct rec_case one = {"sm_debug.pb", "savedmodel.op-debug", 0};

		CHECK_EQ_INT(rec_run_table(&one, 1, bw_savedmodel_detect, bw_savedmodel_scan, "tf-savedmodel", r), 0);
		CHECK(rec_msg_has(r, "grpc://attacker:6064"));
	}
	CHECK_EQ_INT(rec_run_table(km_cases, 2, bw_keras_metadata_pb_detect, bw_keras_metadata_pb_scan,
	                           "tf-keras-metadata", r), 0);
	CHECK_EQ_INT(r->n_mem, 3);
	CHECK_STR(rec_str(r->members[2]), "keras_metadata/root.layer-1");
	/* op table */
	CHECK_STR(bw_savedmodel_op_rule((const uint8_t *)"EagerPyFunc", 11, &why), "savedmodel.op-python");
	CHECK(bw_savedmodel_op_rule((const uint8_t *)"SaveV2", 6, &why) == NULL);
	CHECK(bw_savedmodel_op_rule((const uint8_t *)"PyFun", 5, &why) == NULL);
	/* cross-detection: a SavedModel is not keras metadata, ONNX is not a SavedModel */
	{
		size_t len;
		uint8_t *d = rec_read(rec_path("sm_honest.pb"), &len);
		uint8_t *o = NULL;

		CHECK(d != NULL && bw_keras_metadata_pb_detect(d, len) == 0);
		free(d);
		o = rec_read(rec_path("onnx_honest_cnn.onnx"), &len);
		CHECK(o != NULL && bw_savedmodel_detect(o, len) == 0);
		free(o);
		d = rec_read(rec_path("km_honest.pb"), &len);
		CHECK(d != NULL && bw_savedmodel_detect(d, len) == 0);
		free(d);
	}
	CHECK_EQ_INT(rec_alloc_sweep("km_lambda.pb", bw_keras_metadata_pb_scan, r), 0);
	free(r);
	return bw_test_done();
}
