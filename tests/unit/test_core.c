/* test_core.c - unit tests of src/core: reader, buffer, arena, checked arithmetic. */
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/reader.h"
#include "harness.h"

static void test_reader(void)
{
	static const uint8_t d[] = {1, 2, 0, 3, 0, 0, 0, 'a', '\n', 0x96, 0x01};
	struct bw_reader r, sub;
	size_t n;
	const uint8_t *line;

	bw_rd_init(&r, d, sizeof d, 100);
	CHECK_EQ_INT(bw_rd_u8(&r), 1);
	CHECK_EQ_INT(bw_rd_u16le(&r), 2);
	CHECK_EQ_INT(bw_rd_u32le(&r), 3);
	line = bw_rd_line(&r, 10, &n);
	CHECK(line != NULL && n == 1 && line[0] == 'a');
	CHECK_EQ_INT(bw_rd_varint(&r), 150);
	CHECK_EQ_INT(bw_rd_left(&r), 0);
	CHECK_EQ_INT(bw_rd_u8(&r), 0);
	CHECK_EQ_INT(r.err, BW_ERR_TRUNCATED);
	CHECK_EQ_INT(r.err_off, 100 + sizeof d);
	/* sticky: later reads fail even if they would fit */
	bw_rd_seek(&r, 0);
	CHECK_EQ_INT(bw_rd_u8(&r), 0);

	bw_rd_init(&r, d, sizeof d, 0);
	bw_rd_sub(&r, 3, &sub);
	CHECK_EQ_INT(sub.base, 0);
	CHECK_EQ_INT(bw_rd_u32le(&sub), 0);
	CHECK_EQ_INT(sub.err, BW_ERR_TRUNCATED);
	CHECK_EQ_INT(bw_rd_off(&r), 3);
	bw_rd_sub(&r, 100, &sub);
	CHECK_EQ_INT(r.err, BW_ERR_TRUNCATED);
	CHECK_EQ_INT(sub.err, BW_ERR_TRUNCATED);

	/* over-long varint */
	{
		static const uint8_t v[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
		bw_rd_init(&r, v, sizeof v, 0);
		(void)bw_rd_varint(&r);
		CHECK_EQ_INT(r.err, BW_ERR_MALFORMED);
	}
	/* line over the limit */
	{
		static const char t[] = "abcdef\n";
		bw_rd_init(&r, t, 7, 0);
		CHECK(bw_rd_line(&r, 3, &n) == NULL);
		CHECK_EQ_INT(r.err, BW_ERR_LIMIT);
	}
}

static void test_buf(void)
{
	struct bw_buf b;

	bw_buf_init(&b, 8);
	CHECK_EQ_INT(bw_buf_puts(&b, "abcd"), BW_OK);
	CHECK_EQ_INT(bw_buf_printf(&b, "%d", 123), BW_OK);
	CHECK_STR((char *)b.data, "abcd123");
	CHECK_EQ_INT(bw_buf_puts(&b, "xy"), BW_ERR_LIMIT);
	CHECK_EQ_INT(b.len, 7);
	bw_buf_release(&b);
}

static void test_arena(void)
{
	struct bw_arena a;
	char *s;
	void *big;
	int i;

	bw_arena_init(&a, 64 * 1024);
	s = bw_arena_printf(&a, "%s-%d", "x", 5);
	CHECK_STR(s, "x-5");
	for (i = 0; i < 100; i++)
		CHECK(bw_arena_alloc(&a, 100) != NULL);
	big = bw_arena_alloc(&a, 1 << 20);
	CHECK(big == NULL);
	CHECK(a.over_budget);
	CHECK(bw_arena_array(&a, SIZE_MAX / 2, 4) == NULL);
	bw_arena_release(&a);
}

static void test_alloc(void)
{
	size_t out;
	void *p;

	CHECK(bw_mul_ovf(SIZE_MAX, 2, &out));
	CHECK(!bw_mul_ovf(3, 4, &out) && out == 12);
	CHECK(bw_calloc(SIZE_MAX, 2) == NULL);
	(void)bw_alloc_fail_after(1);
	p = bw_malloc(10);
	CHECK(p == NULL);
	(void)bw_alloc_fail_after(0);
	p = bw_malloc(10);
	CHECK(p != NULL);
	bw_free(p);
	CHECK(bw_ct_memcmp("abc", "abc", 3) == 0);
	CHECK(bw_ct_memcmp("abc", "abd", 3) != 0);
}

int main(void)
{
	test_reader();
	test_buf();
	test_arena();
	test_alloc();
	return bw_test_done();
}
