/*
 * test_npy.c - .npy parser: arrays written by numpy (v1 and a v2 header),
 * object arrays whose pickle is handed back, size mismatches, trailing bytes,
 * and a table of crafted headers that the literal parser must refuse or accept.
 */
#include "test_zip_sink.h"

static const struct row rows[] = {
	{"float.npy", NULL, NULL, BW_OK, "numpy"},
	{"v2.npy", NULL, NULL, BW_OK, "numpy"},
	{"object.npy", NULL, "<object array pickle>", BW_OK, "numpy-object"},
	{"struct_obj.npy", NULL, "<object array pickle>", BW_OK, "numpy-object"},
	{"short.npy", "npy.size-mismatch", NULL, BW_ERR_TRUNCATED, "numpy"},
	{"trailing.npy", "npy.trailing-data", "<npy trailing>", BW_OK, "numpy"},
};

struct hdr_case {
	const char *header;   /* dict text (newline added) */
	size_t data_len;      /* bytes after the header */
	enum bw_err incomplete;
	const char *finding;
	int object;
};

static const struct hdr_case hdrs[] = {
	{"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, BW_OK, NULL, 0},
	{"{'descr': '|u1', 'fortran_order': True, 'shape': (), }", 1, BW_OK, NULL, 0},
	{"{'shape': (0, 5), 'descr': '<i4', 'fortran_order': False}", 0, BW_OK, NULL, 0},
	{"{'descr': [('a', '<i4'), ('b', '<f8', (2, 2))], 'fortran_order': False, 'shape': (1,)}", 36,
	 BW_OK, NULL, 0},
	{"{'descr': [(('t', 'a'), '<U3'), ('o', '|O')], 'fortran_order': False, 'shape': (1,)}", 4,
	 BW_OK, NULL, 1},
	{"{'descr': [('n', [('x', 'O')])], 'fortran_order': False, 'shape': (1,)}", 4, BW_OK, NULL, 1},
	{"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,)}", 8, BW_OK, NULL, 0},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16)}", 0, BW_OK,
	 "npy.size-mismatch", 0},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 8, BW_ERR_TRUNCATED,
	 "npy.size-mismatch", 0},
	{"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}", 12, BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': '<f4', 'shape': (3,)}", 12, BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'evil': __import__('os')}", 12,
	 BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", 12, BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)", 12, BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': '<q9', 'fortran_order': False, 'shape': (3,)}", 12, BW_ERR_UNSUPPORTED, NULL, 0},
	{"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 12,
	 BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk", 12, BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': '<f4", 12, BW_ERR_MALFORMED, NULL, 0},
	{"{'descr': 'u, 'fortran_order': False, 'shape': (3,)}", 12, BW_ERR_UNSUPPORTED, NULL, 0},
	{"{'descr': [[[[[[[[[[[[[[[[[[[[('a','<f4')]]]]]]]]]]]]]]]]]]]], 'fortran_order': False, 'shape': ()}", 4,
	 BW_ERR_MALFORMED, NULL, 0},
};

static void test_headers(void)
{
	size_t i;

	for (i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		static struct rec r;
		static uint8_t buf[4096];
		size_t hl = strlen(hdrs[i].header) + 1, n;

		memcpy(buf, "\x93NUMPY\x01\x00", 8);
		buf[8] = (uint8_t)(hl & 0xff);
		buf[9] = (uint8_t)(hl >> 8);
		memcpy(buf + 10, hdrs[i].header, hl - 1);
		buf[10 + hl - 1] = '\n';
		n = 10 + hl;
		memset(buf + n, 0x80, hdrs[i].data_len);
		n += hdrs[i].data_len;
		rec_init(&r, 0);
		CHECK(rec_run(&r, bw_npy_scan, buf, n) == BW_OK);
		if (hdrs[i].incomplete == BW_OK)
			CHECKF(r.n_inc == 0, "case %zu: unexpected incomplete", i);
		else
			CHECKF(rec_has_inc(&r, hdrs[i].incomplete), "case %zu: expected %s", i,
			       bw_err_str(hdrs[i].incomplete));
		if (hdrs[i].finding != NULL)
			CHECKF(rec_has_finding(&r, hdrs[i].finding), "case %zu: expected %s", i, hdrs[i].finding);
		else
			CHECKF(r.n_finding == 0, "case %zu: unexpected finding %s", i, r.finding[0]);
		CHECKF(rec_has_format(&r, "numpy-object") == hdrs[i].object, "case %zu: object flag", i);
	}
}

static void test_versions(void)
{
	static struct rec r;

	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_npy_scan, (const uint8_t *)"\x93NUMPY\x04\x00\x10\x00", 10) == BW_OK);
	CHECK(rec_has_inc(&r, BW_ERR_UNSUPPORTED));
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_npy_scan, (const uint8_t *)"\x93NUMPY\x01\x00\xff\x00{", 11) == BW_OK);
	CHECK(rec_has_inc(&r, BW_ERR_TRUNCATED));
	rec_init(&r, 0);
	CHECK(rec_run(&r, bw_npy_scan, (const uint8_t *)"\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12) == BW_OK);
	CHECK(rec_has_inc(&r, BW_ERR_LIMIT));
	CHECK(bw_npy_detect((const uint8_t *)"\x93NUMP", 5) == 0);
}

static void test_truncation(void)
{
	size_t len, n;
	uint8_t *d = rec_load("object.npy", &len);
	int bad = 0;

	for (n = 0; n < 128 && n < len; n++) {
		static struct rec r;
		uint8_t *cut = malloc(n + 1);

		memcpy(cut, d, n);
		rec_init(&r, 0);
		if (rec_run(&r, bw_npy_scan, cut, n) != BW_OK || r.n_inc == 0)
			bad++;
		free(cut);
	}
	CHECKF(bad == 0, "%d truncated headers without an incomplete", bad);
	free(d);
}

/* What bw_npy_header_parse hands bulwark convert: order, kind, size, shape, layout. */
static void test_header_fields(void)
{
	static const struct {
		const char *header;
		enum bw_err want;
		char order, kind;
		int size_given, fortran, structured, object;
		uint64_t itemsize;
		unsigned ndim;
		uint64_t shape0, count;
	} cases[] = {
		{"{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }", BW_OK, '>', 'f', 1, 1, 0,
		 0, 8, 2, 2, 6},
		{"{'descr': '|b1', 'fortran_order': False, 'shape': (), }", BW_OK, '|', 'b', 1, 0, 0, 0, 1,
		 0, 0, 1},
		{"{'descr': 'b', 'fortran_order': False, 'shape': (0, 4)}", BW_OK, 0, 'b', 0, 0, 0, 0, 1, 2,
		 0, 0},
		{"{'descr': '<u2', 'fortran_order': False, 'shape': (7,)}", BW_OK, '<', 'u', 1, 0, 0, 0, 2,
		 1, 7, 7},
		{"{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,)}", BW_OK, 0, 0, 0, 0, 1, 0,
		 4, 1, 1, 1},
		{"{'descr': '|O', 'fortran_order': False, 'shape': (3,)}", BW_OK, '|', 'O', 0, 0, 0, 1, 8, 1,
		 3, 3},
		{"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,)}", BW_ERR_MALFORMED, 0, 0, 0, 0, 0,
		 0, 0, 0, 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		static uint8_t buf[512];
		struct bw_npy_header h;
		struct bw_diag d;
		size_t hl = strlen(cases[i].header) + 1;
		enum bw_err e;

		memcpy(buf, "\x93NUMPY\x01\x00", 8);
		buf[8] = (uint8_t)hl;
		buf[9] = 0;
		memcpy(buf + 10, cases[i].header, hl - 1);
		buf[10 + hl - 1] = '\n';
		bw_diag_clear(&d);
		e = bw_npy_header_parse(buf, 10 + hl + 64, &h, &d);
		CHECKF(e == cases[i].want, "fields %zu: %s (%s)", i, bw_err_str(e), d.what);
		if (e != BW_OK || cases[i].want != BW_OK)
			continue;
		CHECKF(h.byteorder == cases[i].order && h.kind == cases[i].kind &&
		       h.size_given == cases[i].size_given, "fields %zu: descr parts", i);
		CHECKF(h.fortran_order == cases[i].fortran && h.structured == cases[i].structured &&
		       h.has_object == cases[i].object, "fields %zu: flags", i);
		CHECKF(h.itemsize == cases[i].itemsize && h.ndim == cases[i].ndim &&
		       h.count == cases[i].count, "fields %zu: size/shape", i);
		CHECKF(h.ndim == 0 || h.shape[0] == cases[i].shape0, "fields %zu: shape[0]", i);
		CHECKF(h.data_offset == 10 + hl && h.newline_end, "fields %zu: data offset", i);
	}
}

int main(void)
{
	run_rows(rows, sizeof rows / sizeof rows[0], bw_npy_scan, bw_npy_detect, 90);
	test_headers();
	test_versions();
	test_truncation();
	test_header_fields();
	return bw_test_done();
}
