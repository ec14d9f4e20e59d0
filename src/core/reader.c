/*
 * reader.c - bounded reader with a sticky error. See core/reader.h.
 * Every read checks the remaining length before touching memory.
 */
#include <string.h>

#include "core/reader.h"

void bw_rd_init(struct bw_reader *r, const void *p, size_t len, uint64_t base)
{
	r->p = p;
	r->len = p == NULL ? 0 : len;
	r->pos = 0;
	r->base = base;
	r->err = BW_OK;
	r->err_off = BW_NO_OFFSET;
}

void bw_rd_fail(struct bw_reader *r, enum bw_err e)
{
	if (r->err != BW_OK)
		return;
	r->err = e;
	r->err_off = r->base + r->pos;
}

const uint8_t *bw_rd_bytes(struct bw_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err != BW_OK)
		return NULL;
	if (n > r->len - r->pos) {
		bw_rd_fail(r, BW_ERR_TRUNCATED);
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

uint8_t bw_rd_u8(struct bw_reader *r)
{
	const uint8_t *p = bw_rd_bytes(r, 1);

	return p == NULL ? 0 : p[0];
}

uint16_t bw_rd_u16le(struct bw_reader *r)
{
	const uint8_t *p = bw_rd_bytes(r, 2);

	return p == NULL ? 0 : (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t bw_rd_u32le(struct bw_reader *r)
{
	const uint8_t *p = bw_rd_bytes(r, 4);

	if (p == NULL)
		return 0;
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

uint32_t bw_rd_u32be(struct bw_reader *r)
{
	const uint8_t *p = bw_rd_bytes(r, 4);

	if (p == NULL)
		return 0;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
	       (uint32_t)p[3];
}

uint64_t bw_rd_u64le(struct bw_reader *r)
{
	const uint8_t *p = bw_rd_bytes(r, 8);
	uint64_t v = 0;
	int i;

	if (p == NULL)
		return 0;
	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int bw_rd_peek(const struct bw_reader *r)
{
	if (r->err != BW_OK || r->pos >= r->len)
		return -1;
	return r->p[r->pos];
}

void bw_rd_skip(struct bw_reader *r, size_t n)
{
	(void)bw_rd_bytes(r, n);
}

void bw_rd_seek(struct bw_reader *r, size_t pos)
{
	if (r->err != BW_OK)
		return;
	if (pos > r->len) {
		bw_rd_fail(r, BW_ERR_TRUNCATED);
		return;
	}
	r->pos = pos;
}

const uint8_t *bw_rd_line(struct bw_reader *r, size_t max, size_t *len)
{
	const uint8_t *start, *nl;
	size_t avail, scan;

	*len = 0;
	if (r->err != BW_OK)
		return NULL;
	start = r->p + r->pos;
	avail = r->len - r->pos;
	scan = avail < max + 1 ? avail : max + 1;
	nl = memchr(start, '\n', scan);
	if (nl == NULL) {
		bw_rd_fail(r, avail > max ? BW_ERR_LIMIT : BW_ERR_TRUNCATED);
		return NULL;
	}
	*len = (size_t)(nl - start);
	r->pos += *len + 1;
	return start;
}

void bw_rd_sub(struct bw_reader *r, size_t n, struct bw_reader *sub)
{
	uint64_t base = bw_rd_off(r);
	const uint8_t *p = bw_rd_bytes(r, n);

	if (p == NULL) {
		bw_rd_init(sub, NULL, 0, base);
		sub->err = r->err;
		sub->err_off = r->err_off;
		return;
	}
	bw_rd_init(sub, p, n, base);
}

uint64_t bw_rd_varint(struct bw_reader *r)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (shift >= 64) {
			bw_rd_fail(r, BW_ERR_MALFORMED);
			return 0;
		}
		b = bw_rd_u8(r);
		if (r->err != BW_OK)
			return 0;
		/* the 10th byte may only carry the top bit of a 64-bit value */
		if (shift == 63 && (b & 0x7e) != 0) {
			bw_rd_fail(r, BW_ERR_MALFORMED);
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	return v;
}
