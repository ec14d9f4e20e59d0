/*
 * test_archive.c - archives through libarchive: 7z and cpio written here with
 * libarchive's writers (members handed back, traversal names, a 7z bomb under
 * the ratio cap, the member cap), encrypted 7z made by the 7z tool (data and
 * header encryption: incomplete), truncation at every length.
 */
#include <archive.h>
#include <archive_entry.h>

#include "test_zip_sink.h"

static const uint8_t payload[] = "\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.";

struct file {
	const char *name;
	const uint8_t *data;
	size_t len;
};

static size_t make(int fmt_7z, const struct file *f, size_t n, uint8_t *out, size_t cap)
{
	struct archive *a = archive_write_new();
	size_t used = 0, i;

	if (fmt_7z)
		archive_write_set_format_7zip(a);
	else
		archive_write_set_format_cpio_newc(a);
	if (archive_write_open_memory(a, out, cap, &used) != ARCHIVE_OK)
		return 0;
	for (i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, f[i].name);
		archive_entry_set_size(e, (la_int64_t)f[i].len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_write_header(a, e);
		archive_write_data(a, f[i].data, f[i].len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

static uint8_t buf[1 << 20];

static void test_7z(void)
{
	static struct rec r;
	struct file f[2] = {{"model/data.pkl", payload, sizeof payload - 1}, {"../up.pkl", payload, 4}};
	size_t n = make(1, f, 2, buf, sizeof buf);
	int m;

	CHECK(n > 32);
	CHECK(bw_archive_detect(buf, n) == 90);
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_archive_scan, buf, n) == BW_OK);
	CHECK(rec_has_format(&r, "7z"));
	m = rec_member(&r, "model/data.pkl");
	CHECK(m >= 0 && r.member_len[m] == sizeof payload - 1 && r.member_head[m][0] == 0x80);
	CHECK(rec_member(&r, "../up.pkl") >= 0);
	CHECK(rec_has_finding(&r, "archive.path-traversal"));
	CHECK_EQ_INT(r.n_inc, 0);

	/* member cap */
	rec_init(&r, 0);
	r.lim.max_members = 1;
	CHECK(rec_run(&r, bw_archive_scan, buf, n) == BW_OK);
	CHECK(rec_has_inc(&r, BW_ERR_LIMIT));
	CHECK_EQ_INT(r.n_member, 1);

	/* truncation at every length: never a crash, never silently clean */
	{
		size_t k;
		int bad = 0;
		uint8_t *cut;

		for (k = 0; k < n; k++) {
			cut = malloc(k + 1);
			memcpy(cut, buf, k);
			rec_init(&r, 0);
			if (rec_run(&r, bw_archive_scan, cut, k) != BW_OK || r.n_inc == 0)
				bad++;
			free(cut);
		}
		CHECKF(bad == 0, "%d truncated 7z archives without an incomplete", bad);
	}
}

static void test_7z_bomb(void)
{
	static struct rec r;
	static uint8_t zeros[8 << 20];
	struct file f = {"zeros.bin", zeros, sizeof zeros};
	size_t n = make(1, &f, 1, buf, sizeof buf);
	int m;

	CHECK(n > 0 && n < 100000);
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_archive_scan, buf, n) == BW_OK);
	CHECK(rec_has_finding(&r, "archive.bomb"));
	CHECK(rec_has_inc(&r, BW_ERR_LIMIT));
	m = rec_member(&r, "zeros.bin");
	CHECK(m >= 0 && r.member_len[m] <= (1u << 20));
}

static void test_cpio(void)
{
	static struct rec r;
	struct file f = {"w.pkl", payload, sizeof payload - 1};
	size_t n = make(0, &f, 1, buf, sizeof buf);

	CHECK(bw_archive_detect(buf, n) == 80);
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_archive_scan, buf, n) == BW_OK);
	CHECK(rec_has_format(&r, "cpio"));
	CHECK(rec_member(&r, "w.pkl") >= 0);
	CHECK_EQ_INT(r.n_inc, 0);
}

static void test_encrypted(void)
{
	static const char *const files[] = {"encrypted.7z", "encrypted_headers.7z"};
	int i;

	for (i = 0; i < 2; i++) {
		static struct rec r;
		size_t len;
		uint8_t *d = rec_load(files[i], &len);

		rec_init(&r, 0);
		CHECK(rec_run(&r, bw_archive_scan, d, len) == BW_OK);
		CHECKF(rec_has_inc(&r, BW_ERR_UNSUPPORTED), "%s: expected unsupported (encrypted)", files[i]);
		CHECKF(r.n_member == 0, "%s: encrypted member handed back", files[i]);
		free(d);
	}
}

/* fuzz/regress/archive/7z-huge-alloc: libarchive asks for ~745 GB; the sandbox makes it a clean stop */
static void test_hostile_header(void)
{
	static struct rec r;
	size_t len;
	uint8_t *d = rec_load("huge_alloc.7z", &len);

	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_archive_scan, d, len) == BW_OK);
	CHECK(r.n_inc > 0);
	CHECK_EQ_INT(r.n_member, 0);
	free(d);
}

static void test_detect(void)
{
	CHECK(bw_archive_detect((const uint8_t *)"PK\3\4", 4) == 0);
	CHECK(bw_archive_detect((const uint8_t *)"Rar!\x1a\x07\x01\x00", 8) == 90);
	CHECK(bw_archive_detect(NULL, 0) == 0);
}

int main(void)
{
	test_7z();
	test_7z_bomb();
	test_cpio();
	test_encrypted();
	test_hostile_header();
	test_detect();
	return bw_test_done();
}
