/*
 * test_pbwire.c - protobuf wire reader: known-answer field decoding, packed
 * varints, every malformed tag/length class, sub-window confinement.
 */
#include "harness.h"

#include "formats/pbwire/pbwire.h"

/* A pointer the compiler cannot prove non-NULL (CHECK_STR tests for NULL). */
static const char *str_of(const char *p)
{
	return p;
}

static void test_fields(void)
{
	/* field 1 varint 150; field 2 "hi"; field 3 fixed32; field 4 fixed64; field 5 packed [1, 300] */
	static const uint8_t msg[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i', 0x1d, 1, 0, 0, 0,
	                              0x21, 2, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0x03, 0x01, 0xac, 0x02};
	struct bw_reader r;
	struct bw_pbw_field f;
	struct bw_pbw_packed it;
	uint64_t v;
	char s[8];

	bw_rd_init(&r, msg, sizeof msg, 100);
	CHECK_EQ_INT(bw_pbw_validate(&r), 5);
	CHECK(bw_pbw_next(&r, &f) == 1 && f.num == 1 && f.wire == BW_PBW_VARINT && f.v == 150 && f.off == 100);
	CHECK(bw_pbw_next(&r, &f) == 1 && f.num == 2 && f.wire == BW_PBW_LEN && f.sub.len == 2 && f.sub.base == 105);
	CHECK(bw_pbw_streq(&f, "hi") && !bw_pbw_streq(&f, "h") && !bw_pbw_streq(&f, "hii"));
	CHECK(bw_pbw_str(&f, s, sizeof s) == 1);
	CHECK_STR(str_of(s), "hi");
	CHECK(bw_pbw_str(&f, s, 2) == 0);
	CHECK_STR(str_of(s), "h");
	CHECK(bw_pbw_next(&r, &f) == 1 && f.num == 3 && f.wire == BW_PBW_I32 && f.v == 1);
	CHECK(bw_pbw_next(&r, &f) == 1 && f.num == 4 && f.wire == BW_PBW_I64 && f.v == 2);
	CHECK(bw_pbw_next(&r, &f) == 1 && f.num == 5);
	bw_pbw_packed_init(&it, &f);
	CHECK(bw_pbw_packed_next(&it, &v) == 1 && v == 1);
	CHECK(bw_pbw_packed_next(&it, &v) == 1 && v == 300);
	CHECK(bw_pbw_packed_next(&it, &v) == 0);
	CHECK(bw_pbw_next(&r, &f) == 0);
	/* a plain varint field iterates as one element */
	bw_rd_init(&r, msg, 3, 0);
	CHECK(bw_pbw_next(&r, &f) == 1);
	bw_pbw_packed_init(&it, &f);
	CHECK(bw_pbw_packed_next(&it, &v) == 1 && v == 150);
	CHECK(bw_pbw_packed_next(&it, &v) == 0);
}

static const struct {
	const char *name;
	uint8_t b[12];
	size_t n;
	enum bw_err err;
} bad[] = {
	{"field number 0", {0x00, 0x01}, 2, BW_ERR_MALFORMED},
	{"wire type 6", {0x0e, 0x01}, 2, BW_ERR_MALFORMED},
	{"wire type 7", {0x0f}, 1, BW_ERR_MALFORMED},
	{"start group", {0x0b}, 1, BW_ERR_UNSUPPORTED},
	{"end group", {0x0c}, 1, BW_ERR_UNSUPPORTED},
	{"length past end", {0x0a, 0x05, 'a'}, 3, BW_ERR_TRUNCATED},
	{"huge length", {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 11, BW_ERR_TRUNCATED},
	{"varint cut", {0x08, 0x80}, 2, BW_ERR_TRUNCATED},
	{"varint 11 bytes", {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 12,
	 BW_ERR_MALFORMED},
	{"fixed32 cut", {0x0d, 1, 2}, 3, BW_ERR_TRUNCATED},
	{"fixed64 cut", {0x09, 1, 2, 3}, 4, BW_ERR_TRUNCATED},
	{"tag > 32 bits", {0xf8, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}, 7, BW_ERR_MALFORMED},
};

static void test_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct bw_reader r;
		struct bw_pbw_field f;
		int rc;

		bw_rd_init(&r, bad[i].b, bad[i].n, 0);
		CHECKF(bw_pbw_validate(&r) == -1, "%s validates", bad[i].name);
		rc = bw_pbw_next(&r, &f);
		CHECKF(rc == -1 && r.err == bad[i].err, "%s: rc %d err %s", bad[i].name, rc, bw_err_str(r.err));
		/* sticky */
		CHECK(bw_pbw_next(&r, &f) == -1);
	}
}

static void test_confined(void)
{
	/* field 1 { field 2 varint 7 } then field 3 varint 9: reading the sub-window stops at its end */
	static const uint8_t msg[] = {0x0a, 0x02, 0x10, 0x07, 0x18, 0x09};
	struct bw_reader r, sub;
	struct bw_pbw_field f, g;

	bw_rd_init(&r, msg, sizeof msg, 0);
	CHECK(bw_pbw_next(&r, &f) == 1);
	sub = f.sub;
	CHECK(bw_pbw_next(&sub, &g) == 1 && g.num == 2 && g.v == 7 && g.off == 2);
	CHECK(bw_pbw_next(&sub, &g) == 0);
	CHECK(bw_pbw_next(&r, &f) == 1 && f.num == 3 && f.v == 9);
	/* empty window */
	bw_rd_init(&r, msg, 0, 0);
	CHECK(bw_pbw_next(&r, &f) == 0);
	CHECK_EQ_INT(bw_pbw_validate(&r), 0);
}

int main(void)
{
	test_fields();
	test_bad();
	test_confined();
	return bw_test_done();
}
