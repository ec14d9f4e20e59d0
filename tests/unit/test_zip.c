/*
 * test_zip.c - zip reader and zip scan: honest archives from Python's zipfile,
 * torch.save, numpy.savez and a Keras-like writer; one crafted file per
 * anomaly (tests/py/test_containers_gen.py made them and checks what the
 * reference loaders do with them); ZIP64; a bomb; truncation at every length;
 * allocation failures; the reader API.
 */
#include "test_zip_sink.h"
#include "core/alloc.h"
#include "core/codec.h"

static const struct row rows[] = {
	{"honest.zip", NULL, "model/data.pkl", BW_OK, "zip"},
	{"torch.pt", NULL, "archive/data.pkl", BW_OK, "pytorch-zip"},
	{"arrays.npz", NULL, "a.npy", BW_OK, "numpy-npz"},
	{"model.keras", NULL, "config.json", BW_OK, "keras"},
	{"zip64.zip", NULL, "archive/data.pkl", BW_OK, "pytorch-zip"},
	{"methods.zip", NULL, "lz.pkl", BW_OK, "zip"},
	{"crc.zip", "zip.crc-mismatch", "archive/data.pkl", BW_OK, "pytorch-zip"},
	{"name_mismatch.zip", "zip.name-mismatch", "archive/data.pkl", BW_OK, NULL},
	{"overlap.zip", "zip.overlap", "archive/other.pkl", BW_OK, NULL},
	{"prefix_fixed.zip", "zip.prefix-data", "<zip prefix>", BW_OK, NULL},
	{"prefix_shift.zip", "zip.prefix-data", "archive/data.pkl", BW_OK, NULL},
	{"trailing.zip", "zip.trailing-data", "<zip trailing>", BW_OK, NULL},
	{"dup.zip", "zip.duplicate-name", "archive/data.pkl", BW_OK, NULL},
	{"dup_case.zip", "zip.duplicate-name", "ARCHIVE/DATA.PKL", BW_OK, NULL},
	{"multi_eocd.zip", "zip.multiple-eocd", "archive/data.pkl", BW_OK, NULL},
	{"traversal.zip", "zip.path-traversal", "../../etc/evil.pkl", BW_OK, NULL},
	{"count_mismatch.zip", "zip.count-mismatch", "archive/hidden.pkl", BW_OK, NULL},
	{"bomb.zip", "zip.bomb", "bomb.bin", BW_ERR_LIMIT, NULL},
	/* flag bit 0 set over plain data: PyTorch loads it (CVE-2025-1945), so do we, and say so */
	{"encrypted.zip", "zip.encryption-flag", NULL, BW_OK, NULL},
	{"cd_gap.zip", "zip.cd-gap", "archive/data.pkl", BW_OK, NULL},
	{"nul_name.zip", "zip.name-nul", "archive/data.pkl", BW_OK, NULL},
	{"truncated.zip", NULL, NULL, BW_ERR_MALFORMED, NULL},
};

static void test_bomb_bounded(void)
{
	static struct rec r;
	size_t len;
	uint8_t *d = rec_load("bomb.zip", &len);
	int m;

	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_zip_scan, d, len) == BW_OK);
	m = rec_member(&r, "bomb.bin");
	CHECK(m >= 0);
	/* ratio 100 on ~8 KiB is under the 1 MiB floor: output stops at the floor */
	CHECK(m >= 0 && r.member_len[m] == (size_t)BW_CODEC_RATIO_FLOOR);
	/* with no ratio bound the total cap stops it */
	rec_init(&r, 0);
	r.lim.max_ratio = 0;
	r.lim.max_total_unpacked = 4096;
	CHECK(rec_run(&r, bw_zip_scan, d, len) == BW_OK);
	CHECK(!rec_has_finding(&r, "zip.bomb"));
	CHECK(rec_has_inc(&r, BW_ERR_LIMIT));
	m = rec_member(&r, "bomb.bin");
	CHECK(m >= 0 && r.member_len[m] == 4096);
	free(d);
}

/* bzip2 (12), LZMA (14) and deflate members decode to the same bytes */
static void test_methods(void)
{
	static struct rec r;
	static const char *const names[] = {"bz.pkl", "lz.pkl", "df.pkl"};
	size_t len;
	uint8_t *d = rec_load("methods.zip", &len);
	int i, m;

	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_zip_scan, d, len) == BW_OK);
	for (i = 0; i < 3; i++) {
		m = rec_member(&r, names[i]);
		CHECKF(m >= 0 && r.member_len[m] == 76 && r.member_head[m][0] == 0x80, "%s", names[i]);
	}
	CHECK_EQ_INT(r.n_finding, 0);
	free(d);
}

static void test_member_limit(void)
{
	static struct rec r;
	size_t len;
	uint8_t *d = rec_load("torch.pt", &len);

	/* stored members are slices of the input: the decode cap does not apply */
	rec_init(&r, 0);
	r.lim.max_total_unpacked = 4;
	CHECK(rec_run(&r, bw_zip_scan, d, len) == BW_OK);
	CHECK_EQ_INT(r.n_inc, 0);
	CHECK_EQ_INT(r.n_member, 3);

	rec_init(&r, 0);
	r.lim.max_members = 1;
	CHECK(rec_run(&r, bw_zip_scan, d, len) == BW_OK);
	CHECK(rec_has_inc(&r, BW_ERR_LIMIT));
	CHECK_EQ_INT(r.n_member, 1);
	free(d);
}

/* Every prefix of honest archives: never a crash, always a reason. */
static void test_truncation(void)
{
	static const char *const files[] = {"torch.pt", "zip64.zip", "honest.zip"};
	size_t f, n;

	for (f = 0; f < 3; f++) {
		size_t len;
		uint8_t *d = rec_load(files[f], &len);
		int bad = 0;

		for (n = 0; n < len; n++) {
			static struct rec r;
			uint8_t *cut = malloc(n + 1);

			memcpy(cut, d, n);
			rec_init(&r, 0);
			if (rec_run(&r, bw_zip_scan, cut, n) != BW_OK || r.n_inc == 0)
				bad++;
			free(cut);
		}
		CHECKF(bad == 0, "%s: %d truncated inputs scanned without an incomplete", files[f], bad);
		free(d);
	}
}

static void test_alloc_failures(void)
{
	size_t len;
	uint8_t *d = rec_load("torch.pt", &len);
	uint64_t i;
	int odd = 0;

	for (i = 1; i < 40; i++) {
		static struct rec r;
		enum bw_err e;

		rec_init(&r, 0);
		(void)bw_alloc_fail_after(i);
		e = rec_run(&r, bw_zip_scan, d, len);
		(void)bw_alloc_fail_after(0);
		if (e != BW_OK && e != BW_ERR_NOMEM)
			odd++;
	}
	CHECK(odd == 0);
	free(d);
}

static void test_reader_api(void)
{
	struct bw_zip z;
	struct bw_zip_opts o;
	struct bw_zip_data zd;
	struct bw_diag diag;
	size_t len;
	uint8_t *d = rec_load("zip64.zip", &len);
	long i;

	memset(&o, 0, sizeof o);
	CHECK(bw_zip_open(&z, d, len, &o, &diag) == BW_OK);
	CHECK(z.zip64 == 1);
	CHECK_EQ_INT(z.n_entries, 2);
	i = bw_zip_find(&z, "archive/data.pkl");
	CHECK(i == 0);
	CHECK(bw_zip_find(&z, "nope") == -1);
	CHECK(z.entries[0].method == BW_ZIP_DEFLATE);
	CHECK(bw_zip_extract(&z, 0, 1 << 20, 100, &zd) == BW_OK);
	CHECK(zd.crc_ok == 1 && zd.len == z.entries[0].uncomp_size && zd.data[0] == 0x80);
	bw_free(zd.owned);
	CHECK(bw_zip_extract(&z, 0, 5, 100, &zd) == BW_ERR_LIMIT);
	CHECK(zd.len == 5 && zd.ratio_limited == 0);
	bw_free(zd.owned);
	CHECK(bw_zip_extract(&z, 7, 5, 100, &zd) == BW_ERR_ARG);
	/* stored entries are returned without a copy */
	CHECK(bw_zip_extract(&z, 1, 100, 100, &zd) == BW_OK);
	CHECK(zd.owned == NULL && zd.len == 2 && memcmp(zd.data, "3\n", 2) == 0);
	bw_zip_close(&z);
	bw_zip_close(&z); /* idempotent */

	CHECK(bw_zip_open(&z, (const uint8_t *)"not a zip at all, just some text.....", 37, &o, &diag) ==
	      BW_ERR_MALFORMED);
	CHECK(diag.code == BW_ERR_MALFORMED);
	bw_zip_close(&z);
	free(d);
}

/* A member that inflates to more than it declares, and one that declares more. */
static void test_detect(void)
{
	static const uint8_t pk[] = "PK\3\4xxxxxxxxxxxxxxxxxxxxxxxxxx";

	CHECK(bw_zip_detect(pk, sizeof pk) == 90);
	CHECK(bw_zip_detect((const uint8_t *)"PK", 2) == 0);
	CHECK(bw_zip_detect(NULL, 0) == 0);
}

/*
 * Anomalies made by patching one field of honest.zip ("notes.txt", deflated,
 * local header at 0; no archive comment): each must be reported.
 */
static void test_patched_fields(void)
{
	static const struct {
		size_t off_from; /* 0: from the start, 1: from the end */
		size_t off;
		uint8_t v;
		const char *rule;
	} p[] = {
		{0, 22, 0xe7, "zip.size-mismatch"},    /* local uncompressed size (APPNOTE 4.3.7) */
		{0, 8, 0, "zip.header-mismatch"},      /* local method: stored, central says deflate */
		{1, 22 - 20, 50, "zip.comment-length"}, /* end record's comment length past the end */
	};
	static struct rec r;
	size_t len, i;
	uint8_t *d = rec_load("honest.zip", &len);

	for (i = 0; d != NULL && i < sizeof p / sizeof p[0]; i++) {
		uint8_t *c = malloc(len);
		size_t at = p[i].off_from ? len - p[i].off : p[i].off;

		CHECK(c != NULL);
		if (c == NULL)
			break;
		memcpy(c, d, len);
		c[at] = p[i].v;
		rec_init(&r, 0);
		CHECK(rec_run(&r, bw_zip_scan, c, len) == BW_OK);
		CHECKF(rec_has_finding(&r, p[i].rule), "patched honest.zip: %s", p[i].rule);
		free(c);
	}
	free(d);
}

int main(void)
{
	run_rows(rows, sizeof rows / sizeof rows[0], bw_zip_scan, bw_zip_detect, 50);
	test_bomb_bounded();
	test_patched_fields();
	test_methods();
	test_member_limit();
	test_truncation();
	test_alloc_failures();
	test_reader_api();
	test_detect();
	return bw_test_done();
}
