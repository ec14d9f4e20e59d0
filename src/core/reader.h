/*
 * core/reader.h - the bounded reader every parser of untrusted bytes uses.
 *
 * A reader is a window [0, len) over borrowed bytes with a position and a
 * sticky error: once a read fails, every later read returns zero/NULL and the
 * first error (with its absolute offset) is kept. Parsers can therefore read a
 * whole structure and check rd->err once. Sub-windows (bw_rd_sub) read a
 * length-prefixed structure without being able to run past it.
 * `base` is the absolute offset of byte 0 of the window in the original input,
 * so diagnostics always carry file offsets.
 * Never allocates. Not thread-safe per reader.
 */
#ifndef BW_CORE_READER_H
#define BW_CORE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

struct bw_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
	uint64_t base;
	enum bw_err err;
	uint64_t err_off; /* absolute offset of the first failure */
};

void bw_rd_init(struct bw_reader *r, const void *p, size_t len, uint64_t base);

static inline size_t bw_rd_left(const struct bw_reader *r)
{
	return r->err != BW_OK ? 0 : r->len - r->pos;
}
static inline uint64_t bw_rd_off(const struct bw_reader *r)
{
	return r->base + r->pos;
}
static inline int bw_rd_ok(const struct bw_reader *r)
{
	return r->err == BW_OK;
}

/* Set the sticky error (first one wins). */
void bw_rd_fail(struct bw_reader *r, enum bw_err e);

uint8_t bw_rd_u8(struct bw_reader *r);
uint16_t bw_rd_u16le(struct bw_reader *r);
uint32_t bw_rd_u32le(struct bw_reader *r);
uint64_t bw_rd_u64le(struct bw_reader *r);
uint32_t bw_rd_u32be(struct bw_reader *r);
/* Peek the next byte without consuming; -1 at end or on error. */
int bw_rd_peek(const struct bw_reader *r);
/* Borrow n bytes (pointer into the input); NULL (and BW_ERR_TRUNCATED) if fewer remain. */
const uint8_t *bw_rd_bytes(struct bw_reader *r, size_t n);
/* Skip n bytes. */
void bw_rd_skip(struct bw_reader *r, size_t n);
/* Seek to an absolute position inside the window. */
void bw_rd_seek(struct bw_reader *r, size_t pos);
/*
 * Borrow bytes up to and excluding the next '\n' (consumed), at most max
 * bytes; NULL with BW_ERR_TRUNCATED if no newline, BW_ERR_LIMIT if longer.
 */
const uint8_t *bw_rd_line(struct bw_reader *r, size_t max, size_t *len);
/*
 * Carve a sub-window of n bytes at the current position and advance past it.
 * On failure sub is an empty reader carrying the error.
 */
void bw_rd_sub(struct bw_reader *r, size_t n, struct bw_reader *sub);
/* Unsigned LEB128 (protobuf varint), at most 10 bytes. */
uint64_t bw_rd_varint(struct bw_reader *r);

#endif
