/*
 * test_compress.c - compressed streams: gzip (multi-member, trailing junk,
 * truncated, bomb), bzip2, xz, joblib's zlib and lzma output, zstd and the old
 * joblib "ZF" layout (built here with libzstd/zlib), and the codec layer's caps.
 */
#include <zlib.h>
#include <zstd.h>

#include "test_zip_sink.h"
#include "core/buf.h"
#include "core/codec.h"

static const struct row rows[] = {
	{"multi.gz", NULL, "<gzip>", BW_OK, "gzip"},
	{"trailing.gz", "compress.trailing-data", "<gzip>", BW_OK, "gzip"},
	{"truncated.gz", NULL, "<gzip>", BW_ERR_TRUNCATED, "gzip"},
	{"bomb.gz", "compress.bomb", "<gzip>", BW_ERR_LIMIT, "gzip"},
	{"payload.bz2", NULL, "<bzip2>", BW_OK, "bzip2"},
	{"payload.xz", NULL, "<xz>", BW_OK, "xz"},
	{"joblib_zlib.pkl.z", NULL, "<zlib>", BW_OK, "zlib"},
	{"joblib_lzma.pkl.lzma", NULL, "<lzma>", BW_OK, "lzma"},
};

static const uint8_t payload[] = "\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.";

static void test_multi_member_content(void)
{
	static struct rec r;
	size_t len;
	uint8_t *d = rec_load("multi.gz", &len);
	int m;

	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_compress_scan, d, len) == BW_OK);
	m = rec_member(&r, "<gzip>");
	CHECK(m >= 0 && r.member_len[m] == 76 && r.member_head[m][0] == 0x80 && r.member_head[m][1] == 2);
	free(d);
}

static void test_zstd_and_zfile(void)
{
	static struct rec r;
	uint8_t buf[256];
	size_t n = ZSTD_compress(buf, sizeof buf, payload, sizeof payload - 1, 3);
	int m;
	uLongf zl;

	CHECK(!ZSTD_isError(n));
	CHECK(bw_compress_detect(buf, n) == 90);
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_compress_scan, buf, n) == BW_OK);
	CHECK(rec_has_format(&r, "zstd"));
	m = rec_member(&r, "<zstd>");
	CHECK(m >= 0 && r.member_len[m] == sizeof payload - 1);
	CHECK_EQ_INT(r.n_inc, 0);
	/* truncated zstd frame */
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_compress_scan, buf, n - 3) == BW_OK);
	CHECK(rec_has_inc(&r, BW_ERR_TRUNCATED));

	/* joblib < 0.9.3: "ZF" + hex length padded to 19 bytes + zlib */
	memcpy(buf, "ZF0x10               ", 21);
	zl = sizeof buf - 21;
	CHECK(compress2(buf + 21, &zl, payload, sizeof payload - 1, 9) == Z_OK);
	CHECK(bw_compress_detect(buf, 21 + zl) == 90);
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_compress_scan, buf, 21 + zl) == BW_OK);
	CHECK(rec_has_format(&r, "joblib-zfile"));
	m = rec_member(&r, "<zlib>");
	CHECK(m >= 0 && r.member_len[m] == sizeof payload - 1);
}

static void test_codec_caps(void)
{
	static uint8_t zeros[1 << 16];
	uint8_t comp[1024];
	uLongf cl = sizeof comp;
	struct bw_buf b;
	struct bw_codec_out res;
	int rb;

	CHECK(compress2(comp, &cl, zeros, sizeof zeros, 9) == Z_OK);
	bw_buf_init(&b, 0);
	CHECK(bw_codec_decode(BW_CODEC_ZLIB, comp, cl, 1000, UINT64_MAX, &b, &res) == BW_ERR_LIMIT);
	CHECK_EQ_INT(b.len, 1000);
	bw_buf_release(&b);
	bw_buf_init(&b, 0);
	CHECK(bw_codec_decode(BW_CODEC_ZLIB, comp, cl, sizeof zeros, UINT64_MAX, &b, &res) == BW_OK);
	CHECK(b.len == sizeof zeros && res.ended == 1 && res.consumed == cl);
	bw_buf_release(&b);
	bw_buf_init(&b, 0);
	comp[cl - 1] ^= 0x55; /* Adler-32 (RFC 1950 2.2) */
	CHECK(bw_codec_decode(BW_CODEC_ZLIB, comp, cl, sizeof zeros, UINT64_MAX, &b, &res) != BW_OK);
	bw_buf_release(&b);
	bw_buf_init(&b, 0);
	CHECK(bw_codec_decode(BW_CODEC_BZIP2, (const uint8_t *)"BZh9garbage", 11, 100, UINT64_MAX, &b,
	                      &res) == BW_ERR_MALFORMED);
	bw_buf_release(&b);
	/* the ratio floor and bound */
	CHECK(bw_codec_cap(UINT64_MAX, 100, 10, &rb) == BW_CODEC_RATIO_FLOOR && rb == 1);
	CHECK(bw_codec_cap(5000, 100, 1 << 20, &rb) == 5000 && rb == 0);
	CHECK(bw_codec_cap(5000, 0, 1, &rb) == 5000 && rb == 0);
	CHECK(bw_codec_cap(UINT64_MAX, 1000, UINT64_MAX / 10, &rb) == UINT64_MAX);
}

static void test_truncation(void)
{
	static const char *const files[] = {"payload.xz", "payload.bz2", "multi.gz",
	                                    "joblib_lzma.pkl.lzma", "joblib_zlib.pkl.z"};
	size_t f, n;

	for (f = 0; f < 5; f++) {
		size_t len;
		uint8_t *d = rec_load(files[f], &len);
		int bad = 0;

		for (n = 0; n < len; n++) {
			static struct rec r;
			uint8_t *cut = malloc(n + 1);

			memcpy(cut, d, n);
			rec_init(&r, 0);
			/* never silently clean: a cut inside a stream is incomplete, a cut
			 * inside a following gzip header leaves trailing bytes (a finding) */
			if (rec_run(&r, bw_compress_scan, cut, n) != BW_OK ||
			    (r.n_inc == 0 && r.n_finding == 0 &&
			     !(n > 0 && n + 1 < len && d[n] == 0x1f && d[n + 1] == 0x8b)))
				bad++;
			free(cut);
		}
		CHECKF(bad == 0, "%s: %d truncated streams without an incomplete", files[f], bad);
		free(d);
	}
}

static void test_detect(void)
{
	CHECK(bw_compress_detect((const uint8_t *)"\x80\x02K\x01.", 5) == 0);
	CHECK(bw_compress_detect((const uint8_t *)"PK\3\4", 4) == 0);
	CHECK(bw_compress_detect((const uint8_t *)"\x78\x9c", 2) == 60);
	CHECK(bw_compress_detect(NULL, 0) == 0);
}

int main(void)
{
	run_rows(rows, sizeof rows / sizeof rows[0], bw_compress_scan, bw_compress_detect, 50);
	test_multi_member_content();
	test_zstd_and_zfile();
	test_codec_caps();
	test_truncation();
	test_detect();
	return bw_test_done();
}
