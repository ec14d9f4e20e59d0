/*
 * test_protobuf.c - the shared protobuf wire-format reader: every wire type,
 * packed and unpacked repeated fields, nested messages, and the malformed
 * inputs it must refuse (truncated length, bad tag, field 0, groups,
 * over-long varint), each with the offset it reports; and the helpers the
 * ONNX/SavedModel scanners use (validate, str, streq, packed iteration,
 * sub-window confinement).
 */
#include <string.h>

#include "harness.h"
#include "formats/protobuf/protobuf.h"

static void test_fields(void)
{
	/* field 1 varint 150; field 2 fixed64; field 3 LEN "abc"; field 4 fixed32 1.5f;
	 * field 5 packed varints [1, 300, -1]; field 5 unpacked 7 */
	static const uint8_t msg[] = {
		0x08, 0x96, 0x01,
		0x11, 1, 2, 3, 4, 5, 6, 7, 8,
		0x1a, 0x03, 'a', 'b', 'c',
		0x25, 0x00, 0x00, 0xc0, 0x3f,
		0x2a, 0x0d, 0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
		0x28, 0x07,
	};
	struct bw_reader r;
	struct bw_pb_field f;
	int64_t ints[8];
	size_t n = 0, len;
	const uint8_t *p;

	bw_rd_init(&r, msg, sizeof msg, 100);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 1 && f.wire == BW_PB_VARINT && f.v == 150 && f.off == 100);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 2 && f.wire == BW_PB_I64 && f.v == 0x0807060504030201ull);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 3 && f.wire == BW_PB_LEN);
	p = bw_pb_bytes(&f, &len);
	CHECK(p != NULL && len == 3 && memcmp(p, "abc", 3) == 0 && f.sub.base == 100 + 14);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 4 && f.wire == BW_PB_I32 && bw_pb_float(&f) == 1.5f);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 5 && bw_pb_ints(&f, ints, 8, &n) == 0 && n == 3);
	CHECK(ints[0] == 1 && ints[1] == 300 && ints[2] == -1);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 5 && bw_pb_ints(&f, ints, 8, &n) == 0 && n == 4 && ints[3] == 7);
	CHECK(bw_pb_next(&r, &f) == 0);
	CHECK(bw_pb_next(&r, &f) == 0);
	/* the cap on stored values is enforced */
	n = 0;
	bw_rd_init(&r, msg + 22, 15, 0);
	CHECK(bw_pb_next(&r, &f) == 1 && bw_pb_ints(&f, ints, 2, &n) == -1);
}

struct bad {
	const char *name;
	const uint8_t *p;
	size_t len;
	enum bw_err err;
	uint64_t off;
};

static void test_malformed(void)
{
	static const uint8_t trunc_len[] = {0x0a, 0x05, 'a', 'b'};
	static const uint8_t field0[] = {0x00, 0x01};
	static const uint8_t group[] = {0x0b, 0x0c};
	static const uint8_t wt7[] = {0x0f};
	static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
	static const uint8_t trunc_varint[] = {0x08, 0x80};
	static const uint8_t trunc_fixed[] = {0x0d, 1, 2};
	static const uint8_t huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
	static const struct bad cases[] = {
		{"truncated LEN", trunc_len, sizeof trunc_len, BW_ERR_TRUNCATED, 2},
		{"field number 0", field0, sizeof field0, BW_ERR_MALFORMED, 1},
		{"group", group, sizeof group, BW_ERR_UNSUPPORTED, 1},
		{"wire type 7", wt7, sizeof wt7, BW_ERR_MALFORMED, 1},
		{"11-byte varint", long_varint, sizeof long_varint, BW_ERR_MALFORMED, 11},
		{"truncated varint", trunc_varint, sizeof trunc_varint, BW_ERR_TRUNCATED, 2},
		{"truncated fixed32", trunc_fixed, sizeof trunc_fixed, BW_ERR_TRUNCATED, 1},
		{"length past the end", huge_len, sizeof huge_len, BW_ERR_TRUNCATED, 6},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bw_reader r;
		struct bw_pb_field f;
		struct bw_pb_walk_stats st;
		int k;

		bw_rd_init(&r, cases[i].p, cases[i].len, 0);
		while ((k = bw_pb_next(&r, &f)) == 1)
			;
		CHECKF(k == -1 && r.err == cases[i].err, "%s: k=%d err=%s", cases[i].name, k,
		       bw_err_str(r.err));
		CHECKF(r.err_off == cases[i].off, "%s: offset %llu", cases[i].name,
		       (unsigned long long)r.err_off);
		CHECKF(bw_pb_walk(cases[i].p, cases[i].len, 8, &st) == cases[i].err, "%s: walk", cases[i].name);
	}
}

static void test_walk(void)
{
	/* 1: { 2: { 3: varint 1 } } and a string that is not a message */
	static const uint8_t nested[] = {0x0a, 0x04, 0x12, 0x02, 0x18, 0x01, 0x22, 0x02, 0xff, 0xff};
	uint8_t deep[120];
	struct bw_pb_walk_stats st;
	int i;

	CHECK(bw_pb_walk(nested, sizeof nested, 8, &st) == BW_OK);
	CHECK(st.fields == 4 && st.max_depth_seen == 2);
	CHECK(bw_pb_walk(nested, sizeof nested, 2, &st) == BW_OK && st.max_depth_seen == 1);
	/* 60 levels of nesting (one-byte lengths): the walker stops descending at its limit */
	for (i = 0; i < 60; i++) {
		deep[2 * i] = 0x0a;
		deep[2 * i + 1] = (uint8_t)(2 * (59 - i));
	}
	CHECK(bw_pb_walk(deep, 120, 20, &st) == BW_OK);
	CHECKF(st.max_depth_seen == 19, "depth %d", st.max_depth_seen);
	CHECK(bw_pb_walk(deep, 120, 0, &st) == BW_OK && st.max_depth_seen == 59);
	CHECK(bw_pb_walk("", 0, 8, &st) == BW_OK && st.fields == 0);
}

/* A pointer the compiler cannot prove non-NULL (CHECK_STR tests for NULL). */
static const char *str_of(const char *p)
{
	return p;
}

static void test_scan_fields(void)
{
	/* field 1 varint 150; field 2 "hi"; field 3 fixed32; field 4 fixed64; field 5 packed [1, 300] */
	static const uint8_t msg[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i', 0x1d, 1, 0, 0, 0,
	                              0x21, 2, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0x03, 0x01, 0xac, 0x02};
	struct bw_reader r;
	struct bw_pb_field f;
	struct bw_pb_packed it;
	uint64_t v;
	char s[8];

	bw_rd_init(&r, msg, sizeof msg, 100);
	CHECK_EQ_INT(bw_pb_validate(&r), 5);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 1 && f.wire == BW_PB_VARINT && f.v == 150 && f.off == 100);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 2 && f.wire == BW_PB_LEN && f.sub.len == 2 && f.sub.base == 105);
	CHECK(bw_pb_streq(&f, "hi") && !bw_pb_streq(&f, "h") && !bw_pb_streq(&f, "hii"));
	CHECK(bw_pb_str(&f, s, sizeof s) == 1);
	CHECK_STR(str_of(s), "hi");
	CHECK(bw_pb_str(&f, s, 2) == 0);
	CHECK_STR(str_of(s), "h");
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 3 && f.wire == BW_PB_I32 && f.v == 1);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 4 && f.wire == BW_PB_I64 && f.v == 2);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 5);
	bw_pb_packed_init(&it, &f);
	CHECK(bw_pb_packed_next(&it, &v) == 1 && v == 1);
	CHECK(bw_pb_packed_next(&it, &v) == 1 && v == 300);
	CHECK(bw_pb_packed_next(&it, &v) == 0);
	CHECK(bw_pb_next(&r, &f) == 0);
	/* a plain varint field iterates as one element */
	bw_rd_init(&r, msg, 3, 0);
	CHECK(bw_pb_next(&r, &f) == 1);
	bw_pb_packed_init(&it, &f);
	CHECK(bw_pb_packed_next(&it, &v) == 1 && v == 150);
	CHECK(bw_pb_packed_next(&it, &v) == 0);
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

static void test_scan_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct bw_reader r;
		struct bw_pb_field f;
		int rc;

		bw_rd_init(&r, bad[i].b, bad[i].n, 0);
		CHECKF(bw_pb_validate(&r) == -1, "%s validates", bad[i].name);
		rc = bw_pb_next(&r, &f);
		CHECKF(rc == -1 && r.err == bad[i].err, "%s: rc %d err %s", bad[i].name, rc, bw_err_str(r.err));
		/* sticky */
		CHECK(bw_pb_next(&r, &f) == -1);
	}
}

static void test_scan_confined(void)
{
	/* field 1 { field 2 varint 7 } then field 3 varint 9: reading the sub-window stops at its end */
	static const uint8_t msg[] = {0x0a, 0x02, 0x10, 0x07, 0x18, 0x09};
	struct bw_reader r, sub;
	struct bw_pb_field f, g;

	bw_rd_init(&r, msg, sizeof msg, 0);
	CHECK(bw_pb_next(&r, &f) == 1);
	sub = f.sub;
	CHECK(bw_pb_next(&sub, &g) == 1 && g.num == 2 && g.v == 7 && g.off == 2);
	CHECK(bw_pb_next(&sub, &g) == 0);
	CHECK(bw_pb_next(&r, &f) == 1 && f.num == 3 && f.v == 9);
	/* empty window */
	bw_rd_init(&r, msg, 0, 0);
	CHECK(bw_pb_next(&r, &f) == 0);
	CHECK_EQ_INT(bw_pb_validate(&r), 0);
}

int main(void)
{
	test_fields();
	test_malformed();
	test_walk();
	test_scan_fields();
	test_scan_bad();
	test_scan_confined();
	return bw_test_done();
}
