/*
 * test_safetensors.c - safetensors parser: honest files scan clean, every
 * structural check fires on its malformed file, detection by content.
 */
#include "harness.h"

#include "data/formats3/recsink.h"

static const struct rec_case cases[] = {
	{"st_honest.safetensors", NULL, 0},
	{"st_honest_empty.safetensors", NULL, 0},
	{"st_overlap.safetensors", "safetensors.offsets-overlap", 0},
	{"st_gap.safetensors", "safetensors.offsets-gap", 0},
	{"st_trailing.safetensors", "safetensors.trailing-data", 0},
	{"st_size_mismatch.safetensors", "safetensors.size-mismatch", 0},
	{"st_oob.safetensors", "safetensors.offsets-out-of-bounds", 0},
	{"st_header_bounds.safetensors", "safetensors.header-bounds", 1},
	{"st_dup_key.safetensors", "safetensors.duplicate-key", 0},
	{"st_bad_dtype.safetensors", "safetensors.bad-dtype", 0},
	{"st_bad_shape.safetensors", "safetensors.bad-shape", 0},
	{"st_overflow.safetensors", "safetensors.bad-shape", 0},
	{"st_meta_nonstring.safetensors", "safetensors.metadata-type", 0},
	{"st_meta_code.safetensors", "safetensors.metadata-code", 0},
	{"st_json_invalid.safetensors", "safetensors.json-invalid", 1},
	{"st_meta_url.safetensors", "safetensors.metadata-url", 0},
	{"st_meta_many.safetensors", "safetensors.metadata-limit", 0},
	{"st_bad_tensor_info.safetensors", "safetensors.bad-tensor-info", 0},
};

/* In-memory edge cases that need no file. */
static void test_edges(void)
{
	struct rec r;
	struct bw_fmt_sink s;
	static const uint8_t shorty[4] = {1, 0, 0, 0};
	static const uint8_t notjson[] = {4, 0, 0, 0, 0, 0, 0, 0, '[', '1', ']', ' '};
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};

	memset(&r, 0, sizeof r);
	rec_sink(&r, &s, NULL);
	CHECK(bw_safetensors_scan(shorty, sizeof shorty, &s) == BW_OK);
	CHECK(r.n_incomplete == 1);
	CHECK(bw_safetensors_detect(shorty, sizeof shorty) == 0);

	memset(&r, 0, sizeof r);
	CHECK(bw_safetensors_scan(notjson, sizeof notjson, &s) == BW_OK);
	CHECK(rec_has(&r, "safetensors.json-invalid"));
	CHECK(bw_safetensors_detect(notjson, sizeof notjson) == 0);

	memset(&r, 0, sizeof r);
	CHECK(bw_safetensors_scan(huge, sizeof huge, &s) == BW_OK);
	CHECK(rec_has(&r, "safetensors.header-bounds"));
	CHECK(bw_safetensors_detect(huge, sizeof huge) == 0); /* "{}" with a broken length: nothing to report */
	CHECK(bw_safetensors_detect(NULL, 0) == 0);

	/* a metadata value over BW_ST_MAX_META_VALUE is reported, not inspected */
	{
		static const char pre[] = "{\"__metadata__\":{\"blob\":\"";
		static const char post[] = "\"}}";
		size_t vlen = BW_ST_MAX_META_VALUE + 1, hlen = sizeof pre - 1 + vlen + sizeof post - 1;
		uint8_t *f = malloc(8 + hlen);
		size_t i;

		CHECK(f != NULL);
		if (f != NULL) {
			for (i = 0; i < 8; i++)
				f[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
			memcpy(f + 8, pre, sizeof pre - 1);
			memset(f + 8 + sizeof pre - 1, 'A', vlen);
			memcpy(f + 8 + sizeof pre - 1 + vlen, post, sizeof post - 1);
			memset(&r, 0, sizeof r);
			CHECK(bw_safetensors_scan(f, 8 + hlen, &s) == BW_OK);
			CHECK(rec_has(&r, "safetensors.metadata-limit"));
			CHECK(r.n_incomplete == 0);
			free(f);
		}
	}
}

int main(void)
{
	struct rec *r = calloc(1, sizeof *r);

	CHECK(r != NULL);
	CHECK_EQ_INT(rec_run_table(cases, sizeof cases / sizeof cases[0], bw_safetensors_detect,
	                           bw_safetensors_scan, "safetensors", r), 0);
	test_edges();
	CHECK_EQ_INT(rec_alloc_sweep("st_honest.safetensors", bw_safetensors_scan, r), 0);
	CHECK_EQ_INT(rec_alloc_sweep("st_overlap.safetensors", bw_safetensors_scan, r), 0);
	free(r);
	return bw_test_done();
}
