/*
 * test_tar.c - tar parser: ustar, pax and GNU long names from Python's
 * tarfile; the legacy PyTorch tar layout; crafted anomalies (bad checksum,
 * duplicate names, traversal, content after the end, pax size override);
 * truncation at every length; nested zip in tar in gzip.
 */
#include "test_zip_sink.h"

#define LONG150(c) c c c c c c c c c c c c c c c

static const struct row rows[] = {
	{"honest.tar", NULL, "dir/b.pkl", BW_OK, "tar"},
	{"torch_tar.tar", NULL, "storages", BW_OK, "pytorch-tar"},
	{"badsum.tar", "tar.bad-checksum", "hidden.pkl", BW_OK, NULL},
	{"dup.tar", "tar.duplicate-name", "x.pkl", BW_OK, NULL},
	{"traversal.tar", "tar.path-traversal", "../evil.pkl", BW_OK, NULL},
	{"trailing.tar", "tar.trailing-data", "<tar trailing>", BW_OK, NULL},
	{"pax_size.tar", "tar.size-mismatch", "p.pkl", BW_OK, NULL},
};

static void test_long_names(void)
{
	static const char *const files[] = {"pax_long.tar", "gnu_long.tar"};
	static const char *const names[] = {
		"d/" LONG150("xxxxxxxxxx") ".pkl",
		"g/" LONG150("yyyyyyyyyy") ".pkl",
	};
	int i;

	for (i = 0; i < 2; i++) {
		static struct rec r;
		size_t len;
		uint8_t *d = rec_load(files[i], &len);
		int m;

		rec_init(&r, 0);
		CHECK(rec_run(&r, bw_tar_scan, d, len) == BW_OK);
		m = rec_member(&r, names[i]);
		CHECKF(m >= 0, "%s: long name not recovered (first member %s)", files[i],
		       r.n_member ? r.member[0] : "-");
		CHECK(m >= 0 && r.member_len[m] == 76 && r.member_head[m][0] == 0x80);
		CHECK_EQ_INT(r.n_finding, 0);
		CHECK_EQ_INT(r.n_inc, 0);
		free(d);
	}
}

static void test_pax_size(void)
{
	static struct rec r;
	size_t len;
	uint8_t *d = rec_load("pax_size.tar", &len);
	int m;

	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_tar_scan, d, len) == BW_OK);
	m = rec_member(&r, "p.pkl");
	/* the pax size wins, as in tarfile */
	CHECK(m >= 0 && r.member_len[m] == 76);
	free(d);
}

static void test_truncation(void)
{
	size_t len, n;
	uint8_t *d = rec_load("honest.tar", &len);
	int bad = 0;

	for (n = 1; n < 2048; n++) {
		static struct rec r;
		uint8_t *cut = malloc(n);

		memcpy(cut, d, n);
		rec_init(&r, 0);
		/* a cut header or member data is incomplete; a cut at a member boundary
		 * is what tarfile reads too (end-of-archive blocks are optional) */
		int must = (n < 512) || (n > 1024 && n < 1536 + 76);

		if (rec_run(&r, bw_tar_scan, cut, n) != BW_OK || (must && r.n_inc == 0))
			bad++;
		free(cut);
	}
	CHECKF(bad == 0, "%d truncated tars scanned without an incomplete", bad);
	free(d);
}

static void test_nested(void)
{
	static struct rec r;
	size_t len;
	uint8_t *d = rec_load("nested.tar.gz", &len);

	rec_init(&r, 1);
	CHECK(rec_scan(&r, "", 0, d, len) == BW_OK);
	CHECK(rec_member(&r, "<gzip>") >= 0);
	CHECK(rec_member(&r, "<gzip>/inner/model.zip") >= 0);
	CHECK(rec_member(&r, "<gzip>/inner/model.zip/model/data.pkl") >= 0);
	CHECK(rec_has_format(&r, "gzip") && rec_has_format(&r, "tar") && rec_has_format(&r, "zip"));
	CHECK_EQ_INT(r.n_finding, 0);
	CHECK_EQ_INT(r.n_inc, 0);
	/* depth bound: with max_depth 2 the zip inside is handed back but not opened */
	rec_init(&r, 1);
	r.lim.max_depth = 2;
	CHECK(rec_scan(&r, "", 0, d, len) == BW_OK);
	CHECK(rec_member(&r, "<gzip>/inner/model.zip") >= 0);
	CHECK(rec_member(&r, "<gzip>/inner/model.zip/model/data.pkl") < 0);
	free(d);
}

static void test_member_limit(void)
{
	static struct rec r;
	size_t len;
	uint8_t *d = rec_load("torch_tar.tar", &len);

	rec_init(&r, 0);
	r.lim.max_members = 2;
	CHECK(rec_run(&r, bw_tar_scan, d, len) == BW_OK);
	CHECK(rec_has_inc(&r, BW_ERR_LIMIT));
	CHECK_EQ_INT(r.n_member, 2);
	free(d);
}

int main(void)
{
	run_rows(rows, sizeof rows / sizeof rows[0], bw_tar_scan, bw_tar_detect, 50);
	test_long_names();
	test_pax_size();
	test_truncation();
	test_nested();
	test_member_limit();
	return bw_test_done();
}
