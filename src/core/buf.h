/*
 * core/buf.h - growable byte buffer with a hard cap (internal).
 *
 * Every growable buffer has a cap: appends past it fail with BW_ERR_LIMIT and
 * leave the buffer unchanged. Heap memory via core/alloc.h.
 * Not thread-safe.
 */
#ifndef BW_CORE_BUF_H
#define BW_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

struct bw_buf {
	uint8_t *data;  /* NUL-terminated when len < cap (for text use) */
	size_t len;
	size_t cap;     /* allocated */
	size_t max;     /* hard cap on len */
};

/* Initialise empty (no allocation). max 0 means SIZE_MAX/2. */
void bw_buf_init(struct bw_buf *b, size_t max);
void bw_buf_release(struct bw_buf *b);
/* Detach the data (caller frees with bw_free); buffer becomes empty. */
uint8_t *bw_buf_take(struct bw_buf *b, size_t *len);

BW_MUST_CHECK enum bw_err bw_buf_reserve(struct bw_buf *b, size_t extra);
BW_MUST_CHECK enum bw_err bw_buf_append(struct bw_buf *b, const void *p, size_t n);
BW_MUST_CHECK enum bw_err bw_buf_putc(struct bw_buf *b, int c);
BW_MUST_CHECK enum bw_err bw_buf_puts(struct bw_buf *b, const char *s);
BW_MUST_CHECK enum bw_err bw_buf_printf(struct bw_buf *b, const char *fmt, ...) BW_PRINTF(2, 3);

#endif
