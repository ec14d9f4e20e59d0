/*
 * test_keras_h5.c - Keras HDF5 model_config reader (no libhdf5): h5py-written
 * files with variable- and fixed-length string attributes, superblock v0 and
 * v3 (object header v1 and v2), continuation blocks; dense attribute storage
 * is reported as unsupported; the shared corpus's Keras .h5 samples match
 * their MANIFEST expectation (malicious_lambda -> keras.lambda, safe -> clean).
 */
#include "harness.h"

#include "data/formats3/recsink.h"

static const struct rec_case cases[] = {
	{"h5_honest.h5", NULL, 0},
	{"h5_honest_fixed.h5", NULL, 0},
	{"h5_honest_latest.h5", NULL, 0},
	{"h5_lambda.h5", "keras.lambda", 0},
	{"h5_lambda_fixed.h5", "keras.lambda", 0},
	{"h5_lambda_latest.h5", "keras.lambda", 0},
	{"h5_lambda_many_attrs.h5", "keras.lambda", 0},
};

static void corpus(struct rec *r)
{
	static const struct {
		const char *path;
		const char *rule;
	} cc[] = {
		{"modelaudit/tests/assets/samples/keras/malicious_lambda.h5", "keras.lambda"},
		{"modelaudit/tests/assets/samples/keras/safe_model.h5", NULL},
	};
	const char *td = bw_test_testdata();
	char path[4096];
	size_t i;

	for (i = 0; i < sizeof cc / sizeof cc[0]; i++) {
		size_t len;
		uint8_t *d;
		struct bw_fmt_sink s;

		snprintf(path, sizeof path, "%s/corpus/%s", td, cc[i].path);
		d = rec_read(path, &len);
		CHECKF(d != NULL, "cannot read %s", path);
		if (d == NULL)
			continue;
		memset(r, 0, sizeof *r);
		r->verbose = getenv("BW_REC_VERBOSE") != NULL;
		rec_sink(r, &s, NULL);
		CHECK(bw_keras_h5_detect(d, len) >= 50);
		CHECK(bw_keras_h5_scan(d, len, &s) == BW_OK);
		CHECK_EQ_INT(r->n_incomplete, 0);
		if (cc[i].rule != NULL)
			CHECKF(rec_has(r, cc[i].rule), "%s: expected %s", cc[i].path, cc[i].rule);
		else
			CHECKF(r->n_find == 0, "%s: expected clean, got %zu findings", cc[i].path, r->n_find);
		free(d);
	}
}

int main(void)
{
	struct rec *r = calloc(1, sizeof *r);

	CHECK(r != NULL);
	CHECK_EQ_INT(rec_run_table(cases, sizeof cases / sizeof cases[0], bw_keras_h5_detect, bw_keras_h5_scan,
	                           "keras-h5", r), 0);
	/* the lambda's code names are shown, from the vlen string in the global heap */
	{
		static const struct rec_case one = {"h5_lambda.h5", "keras.lambda", 0};

		CHECK_EQ_INT(rec_run_table(&one, 1, bw_keras_h5_detect, bw_keras_h5_scan, "keras-h5", r), 0);
		CHECK(rec_msg_has(r, "__import__"));
	}
	/* dense attribute storage: not read, said so */
	{
		static const struct rec_case one = {"h5_dense_attrs.h5", NULL, 1};
		size_t len;
		uint8_t *d = rec_read(rec_path(one.file), &len);
		struct bw_fmt_sink s;

		CHECK(d != NULL);
		memset(r, 0, sizeof *r);
		rec_sink(r, &s, NULL);
		CHECK(d != NULL && bw_keras_h5_scan(d, len, &s) == BW_OK);
		CHECK_EQ_INT(r->n_incomplete, 1);
		free(d);
	}
	/* non-Keras HDF5 and non-HDF5 are not claimed */
	CHECK_EQ_INT(bw_keras_h5_detect((const uint8_t *)"\x89HDF\r\n\x1a\n\0\0\0\0", 12), 0);
	CHECK_EQ_INT(bw_keras_h5_detect((const uint8_t *)"model_config", 12), 0);
	corpus(r);
	CHECK_EQ_INT(rec_alloc_sweep("h5_lambda.h5", bw_keras_h5_scan, r), 0);
	free(r);
	return bw_test_done();
}
