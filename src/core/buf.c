/*
 * buf.c - capped growable buffer. Keeps one spare byte so text stays
 * NUL-terminated.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

void bw_buf_init(struct bw_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max == 0 ? SIZE_MAX / 2 : max;
}

void bw_buf_release(struct bw_buf *b)
{
	if (b == NULL)
		return;
	bw_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

uint8_t *bw_buf_take(struct bw_buf *b, size_t *len)
{
	uint8_t *d = b->data;

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return d;
}

enum bw_err bw_buf_reserve(struct bw_buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *p;

	if (bw_add_ovf(b->len, extra, &need) || need > b->max)
		return BW_ERR_LIMIT;
	need += 1; /* terminator */
	if (need <= b->cap)
		return BW_OK;
	ncap = b->cap < 64 ? 64 : b->cap;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return BW_ERR_LIMIT;
		ncap *= 2;
	}
	p = bw_reallocarray(b->data, ncap, 1);
	if (p == NULL)
		return BW_ERR_NOMEM;
	b->data = p;
	b->cap = ncap;
	return BW_OK;
}

enum bw_err bw_buf_append(struct bw_buf *b, const void *p, size_t n)
{
	enum bw_err e = bw_buf_reserve(b, n);

	if (e != BW_OK)
		return e;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return BW_OK;
}

enum bw_err bw_buf_putc(struct bw_buf *b, int c)
{
	unsigned char ch = (unsigned char)c;

	return bw_buf_append(b, &ch, 1);
}

enum bw_err bw_buf_puts(struct bw_buf *b, const char *s)
{
	return bw_buf_append(b, s, strlen(s));
}

enum bw_err bw_buf_printf(struct bw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	enum bw_err e;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return BW_ERR_INTERNAL;
	e = bw_buf_reserve(b, (size_t)n);
	if (e != BW_OK)
		return e;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return BW_OK;
}
