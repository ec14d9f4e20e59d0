/*
 * test_safetensors_corpus.c - the formats3 parsers over the shared corpus
 * (../shared/testdata/corpus, MANIFEST.txt): safetensors samples from
 * ModelAudit and the TF SavedModel stubs. Files are only scanned, never
 * loaded. Expectations follow the MANIFEST: EXPECT CLEAN must give no finding
 * and no incomplete; SUSPICIOUS-CONTENT must give a metadata finding;
 * MALICIOUS (PyFunc) must give savedmodel.op-python.
 */
#include "harness.h"

#include "data/formats3/recsink.h"

struct corpus_case {
	const char *path; /* under corpus/ */
	const char *rule; /* NULL: clean */
	const char *alt;  /* another acceptable rule, or NULL */
	int (*detect)(const uint8_t *, size_t);
	enum bw_err (*scan)(const uint8_t *, size_t, const struct bw_fmt_sink *);
};

#define ST "modelaudit/tests/assets/samples/safetensors/"
#define TF "modelaudit/tests/assets/samples/tensorflow/"

static const struct corpus_case cases[] = {
	{ST "safe_model.safetensors", NULL, NULL, bw_safetensors_detect, bw_safetensors_scan},
	{ST "malicious_import.safetensors", "safetensors.metadata-code", NULL, bw_safetensors_detect, bw_safetensors_scan},
	{ST "multiple_patterns.safetensors", "safetensors.metadata-code", NULL, bw_safetensors_detect, bw_safetensors_scan},
	{ST "obfuscated_metadata.safetensors", "safetensors.metadata-code", NULL, bw_safetensors_detect, bw_safetensors_scan},
	{ST "script_injection.safetensors", "safetensors.metadata-code", NULL, bw_safetensors_detect, bw_safetensors_scan},
	{ST "shell_commands.safetensors", "safetensors.metadata-code", NULL, bw_safetensors_detect, bw_safetensors_scan},
	{ST "suspicious_url.safetensors", "safetensors.metadata-url", NULL, bw_safetensors_detect, bw_safetensors_scan},
	{TF "malicious_pyfunc/saved_model.pb", "savedmodel.op-python", NULL, bw_savedmodel_detect, bw_savedmodel_scan},
	{TF "safe_savedmodel/saved_model.pb", NULL, NULL, bw_savedmodel_detect, bw_savedmodel_scan},
};

int main(void)
{
	const char *td = bw_test_testdata();
	struct rec *r = calloc(1, sizeof *r);
	size_t i;
	char path[4096];

	CHECK(r != NULL);
	for (i = 0; r != NULL && i < sizeof cases / sizeof cases[0]; i++) {
		size_t len;
		uint8_t *d;
		struct bw_fmt_sink s;

		snprintf(path, sizeof path, "%s/corpus/%s", td, cases[i].path);
		d = rec_read(path, &len);
		CHECKF(d != NULL, "cannot read %s", path);
		if (d == NULL)
			continue;
		memset(r, 0, sizeof *r);
		r->verbose = getenv("BW_REC_VERBOSE") != NULL;
		if (r->verbose)
			printf("%s\n", cases[i].path);
		rec_sink(r, &s, NULL);
		CHECKF(cases[i].detect(d, len) >= 50, "%s: not detected", cases[i].path);
		CHECK(cases[i].scan(d, len, &s) == BW_OK);
		if (cases[i].rule == NULL)
			CHECKF(r->n_find == 0 && r->n_incomplete == 0, "%s: expected clean, got %zu findings (%s) %zu incomplete",
			       cases[i].path, r->n_find, r->n_find ? r->msgs[0] : "-", r->n_incomplete);
		else
			CHECKF(rec_has(r, cases[i].rule) || (cases[i].alt && rec_has(r, cases[i].alt)),
			       "%s: expected %s, got %zu findings (%s)", cases[i].path, cases[i].rule, r->n_find,
			       r->n_find ? r->rules[0] : "-");
		free(d);
	}
	free(r);
	return bw_test_done();
}
