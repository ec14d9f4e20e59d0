/*
 * formats/protobuf/protobuf.c - protocol buffers wire-format reader. See
 * protobuf.h. Encoding reference: protobuf.dev "Encoding": a tag is a varint
 * (field_number << 3 | wire_type); VARINT is base-128, I64/I32 are
 * little-endian fixed, LEN is a varint length then that many bytes.
 * Must not: allocate or recurse.
 */
#include <string.h>

#include "formats/protobuf/protobuf.h"

int bw_pb_next(struct bw_reader *r, struct bw_pb_field *f)
{
	uint64_t tag, n;
	unsigned wt;

	memset(f, 0, sizeof *f);
	if (!bw_rd_ok(r))
		return -1;
	if (bw_rd_left(r) == 0)
		return 0;
	f->off = bw_rd_off(r);
	tag = bw_rd_varint(r);
	if (!bw_rd_ok(r))
		return -1;
	wt = (unsigned)(tag & 7u);
	if ((tag >> 3) == 0 || (tag >> 3) > BW_PB_MAX_FIELD) {
		bw_rd_fail(r, BW_ERR_MALFORMED);
		return -1;
	}
	f->num = (uint32_t)(tag >> 3);
	switch (wt) {
	case BW_PB_VARINT:
		f->wire = BW_PB_VARINT;
		f->v = bw_rd_varint(r);
		break;
	case BW_PB_I64:
		f->wire = BW_PB_I64;
		f->v = bw_rd_u64le(r);
		break;
	case BW_PB_I32:
		f->wire = BW_PB_I32;
		f->v = bw_rd_u32le(r);
		break;
	case BW_PB_LEN:
		f->wire = BW_PB_LEN;
		n = bw_rd_varint(r);
		if (!bw_rd_ok(r))
			return -1;
		if (n > bw_rd_left(r)) {
			bw_rd_fail(r, BW_ERR_TRUNCATED);
			return -1;
		}
		bw_rd_sub(r, (size_t)n, &f->sub);
		break;
	case 3: case 4:
		bw_rd_fail(r, BW_ERR_UNSUPPORTED); /* groups */
		return -1;
	default:
		bw_rd_fail(r, BW_ERR_MALFORMED);
		return -1;
	}
	return bw_rd_ok(r) ? 1 : -1;
}

const uint8_t *bw_pb_bytes(const struct bw_pb_field *f, size_t *len)
{
	*len = 0;
	if (f->wire != BW_PB_LEN || f->sub.err != BW_OK)
		return NULL;
	*len = f->sub.len;
	return f->sub.len == 0 ? (const uint8_t *)"" : f->sub.p;
}

int bw_pb_ints(const struct bw_pb_field *f, int64_t *out, size_t max, size_t *n)
{
	struct bw_reader r;

	if (f->wire == BW_PB_VARINT) {
		if (*n >= max)
			return -1;
		out[(*n)++] = (int64_t)f->v;
		return 0;
	}
	if (f->wire != BW_PB_LEN)
		return -1;
	r = f->sub;
	while (bw_rd_left(&r) > 0) {
		uint64_t v = bw_rd_varint(&r);

		if (!bw_rd_ok(&r) || *n >= max)
			return -1;
		out[(*n)++] = (int64_t)v;
	}
	return bw_rd_ok(&r) ? 0 : -1;
}

float bw_pb_float(const struct bw_pb_field *f)
{
	uint32_t u = (uint32_t)f->v;
	float x;

	memcpy(&x, &u, sizeof x);
	return x;
}

long bw_pb_packed_fixed32_count(const struct bw_pb_field *f)
{
	if (f->wire != BW_PB_LEN || f->sub.len % 4 != 0)
		return -1;
	return (long)(f->sub.len / 4);
}

int bw_pb_floats(const struct bw_pb_field *f, float *out, size_t max, size_t *n)
{
	struct bw_reader r;

	if (f->wire == BW_PB_I32) {
		if (*n >= max)
			return -1;
		out[(*n)++] = bw_pb_float(f);
		return 0;
	}
	if (bw_pb_packed_fixed32_count(f) < 0)
		return -1;
	r = f->sub;
	while (bw_rd_left(&r) > 0) {
		uint32_t u = bw_rd_u32le(&r);

		if (*n >= max)
			return -1;
		memcpy(&out[*n], &u, sizeof u);
		(*n)++;
	}
	return 0;
}

long bw_pb_validate(const struct bw_reader *w)
{
	struct bw_reader r = *w;
	struct bw_pb_field f;
	long n = 0;
	int rc;

	while ((rc = bw_pb_next(&r, &f)) == 1)
		n++;
	return rc == 0 ? n : -1;
}

int bw_pb_str(const struct bw_pb_field *f, char *out, size_t out_len)
{
	size_t n = f->wire == BW_PB_LEN ? f->sub.len : 0, i;
	int whole = 1;

	if (n > out_len - 1) {
		n = out_len - 1;
		whole = 0;
	}
	for (i = 0; i < n; i++) {
		uint8_t c = f->sub.p[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
	return whole;
}

int bw_pb_streq(const struct bw_pb_field *f, const char *s)
{
	size_t n = strlen(s);

	return f->wire == BW_PB_LEN && f->sub.len == n && (n == 0 || memcmp(f->sub.p, s, n) == 0);
}

void bw_pb_packed_init(struct bw_pb_packed *it, const struct bw_pb_field *f)
{
	memset(it, 0, sizeof *it);
	if (f->wire == BW_PB_LEN) {
		it->r = f->sub;
		return;
	}
	bw_rd_init(&it->r, NULL, 0, f->off);
	if (f->wire == BW_PB_VARINT) {
		it->single = 1;
		it->value = f->v;
	} else {
		bw_rd_fail(&it->r, BW_ERR_MALFORMED);
	}
}

int bw_pb_packed_next(struct bw_pb_packed *it, uint64_t *v)
{
	if (it->single) {
		it->single = 0;
		*v = it->value;
		return 1;
	}
	if (!bw_rd_ok(&it->r))
		return -1;
	if (bw_rd_left(&it->r) == 0)
		return 0;
	*v = bw_rd_varint(&it->r);
	return bw_rd_ok(&it->r) ? 1 : -1;
}

#define PB_WALK_MAX_DEPTH 64

/* Does the whole window parse as fields? (no descent) */
static int parses_as_message(struct bw_reader r)
{
	struct bw_pb_field f;
	int k;

	if (bw_rd_left(&r) == 0)
		return 0;
	while ((k = bw_pb_next(&r, &f)) == 1)
		;
	return k == 0;
}

enum bw_err bw_pb_walk(const void *p, size_t len, int max_depth, struct bw_pb_walk_stats *st)
{
	struct bw_reader stack[PB_WALK_MAX_DEPTH];
	struct bw_pb_field f;
	int top = 0, k;

	memset(st, 0, sizeof *st);
	if (max_depth < 1 || max_depth > PB_WALK_MAX_DEPTH)
		max_depth = PB_WALK_MAX_DEPTH;
	bw_rd_init(&stack[0], p, len, 0);
	st->messages = 1;
	for (;;) {
		k = bw_pb_next(&stack[top], &f);
		if (k < 0) {
			if (top == 0)
				return stack[0].err;
			return BW_ERR_INTERNAL; /* nested windows were validated before descent */
		}
		if (k == 0) {
			if (top == 0)
				return BW_OK;
			top--;
			continue;
		}
		st->fields++;
		if (f.wire == BW_PB_LEN && top + 1 < max_depth && parses_as_message(f.sub)) {
			stack[++top] = f.sub;
			st->messages++;
			if (top > st->max_depth_seen)
				st->max_depth_seen = top;
		}
	}
}
