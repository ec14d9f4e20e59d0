/* test_core.c - unit tests of src/core: reader, buffer, arena, checked arithmetic, file loading. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/fileio.h"
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

/* Write n bytes of value v (v + i when step) into a new temporary file; its path in path. */
static int temp_file(char *path, size_t pathlen, size_t n, int v, int step)
{
	FILE *f;
	size_t i;
	int fd;

	snprintf(path, pathlen, "/tmp/bw_test_core_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "wb");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	for (i = 0; i < n; i++)
		fputc((v + (step ? (int)i : 0)) & 0xff, f);
	fclose(f);
	return 0;
}

static int head_seen;

/* whole(): yes for files starting with 'b' (and remembers it was asked) */
static int whole_b(const uint8_t *head, size_t n)
{
	head_seen = (int)n;
	return n > 0 && head[0] == 'b';
}

static int whole_no(const uint8_t *head, size_t n)
{
	(void)head;
	head_seen = (int)n;
	return 0;
}

static void test_file_load(void)
{
	char small[64], small2[64], big[64];
	struct bw_read_buf rb = {NULL, 0};
	struct bw_file_map m;
	struct bw_diag d;
	size_t i;
	int ok;

	CHECK(temp_file(small, sizeof small, 3000, 7, 1) == 0);
	CHECK(temp_file(small2, sizeof small2, 10, 'a', 0) == 0);
	CHECK(temp_file(big, sizeof big, BW_READ_BUF_MAX + 1, 'b', 0) == 0);
	/* a small file is read into the buffer: same bytes, nothing mapped */
	CHECK(bw_file_load(small, 1 << 20, &rb, NULL, &m, &d) == BW_OK);
	CHECK(m.len == 3000 && !m.mapped && m.data == rb.p && rb.cap >= 3000);
	for (i = 0, ok = 1; i < m.len; i++)
		ok &= m.data[i] == (uint8_t)(7 + i);
	CHECK(ok);
	bw_file_unmap(&m);
	/* the next file reuses the buffer */
	CHECK(bw_file_load(small2, 1 << 20, &rb, NULL, &m, &d) == BW_OK);
	CHECK(m.len == 10 && m.data == rb.p && memcmp(m.data, "aaaaaaaaaa", 10) == 0);
	bw_file_unmap(&m);
	/* the limit applies before reading */
	CHECK(bw_file_load(small, 100, &rb, NULL, &m, &d) == BW_ERR_LIMIT);
	/* a bigger file is mapped */
	CHECK(bw_file_load(big, BW_READ_BUF_MAX * 2, &rb, NULL, &m, &d) == BW_OK);
	CHECK(m.len == BW_READ_BUF_MAX + 1 && m.mapped && m.data[BW_READ_BUF_MAX] == 'b');
	bw_file_unmap(&m);
	/* ... unless whole() wants it read: then it is read into its own buffer, freed by unmap */
	head_seen = 0;
	CHECK(bw_file_load(big, BW_READ_BUF_MAX * 2, &rb, whole_b, &m, &d) == BW_OK);
	CHECK(head_seen == BW_READ_HEAD);
	CHECK(m.len == BW_READ_BUF_MAX + 1 && m.mapped == 2 && m.data != rb.p);
	CHECK(m.data[0] == 'b' && m.data[BW_READ_BUF_MAX] == 'b' && m.owned_len >= m.len);
	bw_file_unmap(&m);
	CHECK(m.data == NULL && m.owned == NULL);
	head_seen = 0;
	CHECK(bw_file_load(big, BW_READ_BUF_MAX * 2, NULL, whole_no, &m, &d) == BW_OK);
	CHECK(head_seen == BW_READ_HEAD && m.mapped == 1);
	bw_file_unmap(&m);
	/* small files never ask whole() (they go to the buffer anyway) */
	head_seen = -1;
	CHECK(bw_file_load(small2, 1 << 20, &rb, whole_b, &m, &d) == BW_OK);
	CHECK(head_seen == -1 && m.data == rb.p);
	bw_file_unmap(&m);
	CHECK(bw_file_load("/nonexistent/bw", 100, &rb, NULL, &m, &d) == BW_ERR_NOTFOUND);
	CHECK(bw_file_load("/tmp", 100, &rb, NULL, &m, &d) == BW_ERR_ARG);
	/* without a buffer every file is mapped */
	CHECK(bw_file_load(small2, 1 << 20, NULL, NULL, &m, &d) == BW_OK);
	CHECK(m.mapped && m.len == 10);
	bw_file_unmap(&m);
	bw_read_buf_release(&rb);
	CHECK(rb.p == NULL && rb.cap == 0);
	unlink(small);
	unlink(small2);
	unlink(big);
}

int main(void)
{
	test_reader();
	test_buf();
	test_arena();
	test_alloc();
	test_file_load();
	return bw_test_done();
}
