/*
 * formats/pbwire/pbwire.c - bounded protobuf wire-format field reader.
 *
 * Implements the encoding of https://protobuf.dev/programming-guides/encoding/
 * ("Message Structure", "Varints", "Length-Delimited Records"). Every
 * length is checked against the bytes left in the window before use; a payload
 * is carved with bw_rd_sub so nothing can read past it. Must not allocate,
 * interpret schemas, or recurse.
 */
#include "formats/pbwire/pbwire.h"

#include <string.h>

int bw_pbw_next(struct bw_reader *r, struct bw_pbw_field *f)
{
	uint64_t tag, n;

	memset(f, 0, sizeof *f);
	if (!bw_rd_ok(r))
		return -1;
	if (bw_rd_left(r) == 0)
		return 0;
	f->off = bw_rd_off(r);
	tag = bw_rd_varint(r);
	if (!bw_rd_ok(r))
		return -1;
	/* the tag is a uint32 varint: (field_number << 3) | wire_type */
	if (tag > 0xffffffffu || (tag >> 3) == 0 || (tag >> 3) > BW_PBW_MAX_FIELD) {
		bw_rd_fail(r, BW_ERR_MALFORMED);
		return -1;
	}
	f->num = (uint32_t)(tag >> 3);
	f->wire = (enum bw_pbw_wire)(tag & 7u);
	switch (f->wire) {
	case BW_PBW_VARINT:
		f->v = bw_rd_varint(r);
		break;
	case BW_PBW_I64:
		f->v = bw_rd_u64le(r);
		break;
	case BW_PBW_I32:
		f->v = bw_rd_u32le(r);
		break;
	case BW_PBW_LEN:
		n = bw_rd_varint(r);
		if (!bw_rd_ok(r))
			return -1;
		if (n > bw_rd_left(r)) {
			bw_rd_fail(r, BW_ERR_TRUNCATED);
			return -1;
		}
		bw_rd_sub(r, (size_t)n, &f->sub);
		break;
	case BW_PBW_SGROUP:
	case BW_PBW_EGROUP:
		bw_rd_fail(r, BW_ERR_UNSUPPORTED);
		return -1;
	default:
		bw_rd_fail(r, BW_ERR_MALFORMED);
		return -1;
	}
	return bw_rd_ok(r) ? 1 : -1;
}

long bw_pbw_validate(const struct bw_reader *w)
{
	struct bw_reader r = *w;
	struct bw_pbw_field f;
	long n = 0;
	int rc;

	while ((rc = bw_pbw_next(&r, &f)) == 1)
		n++;
	return rc == 0 ? n : -1;
}

int bw_pbw_str(const struct bw_pbw_field *f, char *out, size_t out_len)
{
	size_t n = f->sub.len, i;
	int whole = 1;

	if (f->wire != BW_PBW_LEN)
		n = 0;
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

int bw_pbw_streq(const struct bw_pbw_field *f, const char *s)
{
	size_t n = strlen(s);

	return f->wire == BW_PBW_LEN && f->sub.len == n && memcmp(f->sub.p, s, n) == 0;
}

void bw_pbw_packed_init(struct bw_pbw_packed *it, const struct bw_pbw_field *f)
{
	memset(it, 0, sizeof *it);
	if (f->wire == BW_PBW_LEN) {
		it->r = f->sub;
	} else if (f->wire == BW_PBW_VARINT) {
		it->single = 1;
		it->value = f->v;
		bw_rd_init(&it->r, NULL, 0, f->off);
	} else {
		bw_rd_init(&it->r, NULL, 0, f->off);
		bw_rd_fail(&it->r, BW_ERR_MALFORMED);
	}
}

int bw_pbw_packed_next(struct bw_pbw_packed *it, uint64_t *v)
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
