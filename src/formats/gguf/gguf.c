/*
 * formats/gguf/gguf.c - GGUF header, metadata and tensor-info checks.
 *
 * Layout (ggml/docs/gguf.md "File Structure"): magic "GGUF", uint32 version,
 * tensor_count, metadata_kv_count (uint32 in v1, uint64 since v2), the
 * key/value pairs (key: gguf_string; uint32 value type; value), the tensor
 * infos (name, uint32 n_dims, n_dims x dim, uint32 ggml_type, uint64 offset),
 * padding to general.alignment (default 32), then the data section. Strings
 * are a length (uint32 in v1, uint64 since v2) and bytes without NUL.
 *
 * Checks: every count and length against the bytes left and a named cap;
 * value types (arrays of arrays through an explicit stack of depth
 * BW_GGUF_MAX_ARRAY_DEPTH); duplicate keys and tensor names (ggml rejects
 * them, other readers keep the first or the last); general.alignment type and
 * power of two; tensor n_dims <= 4, known ggml type, first dimension a
 * multiple of the block size, byte size without overflow, offset aligned and
 * inside the data section, no overlaps; chat templates (gguf_template.c).
 * Must not: allocate per attacker count without a cap, or read tensor data.
 */
#include "formats/gguf/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/reader.h"

enum gguf_type {
	GT_U8 = 0, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STRING, GT_ARRAY,
	GT_U64, GT_I64, GT_F64, GT__COUNT
};

/* Fixed sizes of the scalar value types; 0 for string/array. */
static const uint8_t gguf_scalar_size[GT__COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* ggml_type -> block size (elements) and bytes per block (ggml.c type_traits). 0 = removed/unknown. */
static const struct {
	uint16_t blck;
	uint16_t size;
	const char *name;
} ggml_types[] = {
	[0] = {1, 4, "F32"},        [1] = {1, 2, "F16"},         [2] = {32, 18, "Q4_0"},
	[3] = {32, 20, "Q4_1"},     [6] = {32, 22, "Q5_0"},      [7] = {32, 24, "Q5_1"},
	[8] = {32, 34, "Q8_0"},     [9] = {32, 36, "Q8_1"},      [10] = {256, 84, "Q2_K"},
	[11] = {256, 110, "Q3_K"},  [12] = {256, 144, "Q4_K"},   [13] = {256, 176, "Q5_K"},
	[14] = {256, 210, "Q6_K"},  [15] = {256, 292, "Q8_K"},   [16] = {256, 66, "IQ2_XXS"},
	[17] = {256, 74, "IQ2_XS"}, [18] = {256, 98, "IQ3_XXS"}, [19] = {256, 50, "IQ1_S"},
	[20] = {32, 18, "IQ4_NL"},  [21] = {256, 110, "IQ3_S"},  [22] = {256, 82, "IQ2_S"},
	[23] = {256, 136, "IQ4_XS"}, [24] = {1, 1, "I8"},        [25] = {1, 2, "I16"},
	[26] = {1, 4, "I32"},       [27] = {1, 8, "I64"},        [28] = {1, 8, "F64"},
	[29] = {256, 56, "IQ1_M"},  [30] = {1, 2, "BF16"},       [34] = {256, 54, "TQ1_0"},
	[35] = {256, 66, "TQ2_0"},  [39] = {32, 17, "MXFP4"},
};
#define GGML_N_TYPES (sizeof ggml_types / sizeof ggml_types[0])

struct gguf_name {
	const uint8_t *p;
	size_t len;
	uint64_t off;
};

struct gguf_tensor {
	uint64_t begin, end; /* relative to the data section */
	uint64_t info_off;
	const uint8_t *name;
	size_t name_len;
};

struct gguf_ctx {
	const struct bw_fmt_sink *sink;
	struct bw_reader r;
	unsigned version;
	uint64_t max_string;
	uint64_t alignment;
	uint64_t align_off;
};

int bw_gguf_detect(const uint8_t *data, size_t len)
{
	uint32_t v;

	if (data == NULL || len < 8 || memcmp(data, "GGUF", 4) != 0)
		return 0;
	v = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24;
	return (v >= 1 && v <= 3) ? 100 : 80;
}

/* A count or length field: uint32 in v1, uint64 since v2. */
static uint64_t gg_len(struct gguf_ctx *c)
{
	return c->version == 1 ? bw_rd_u32le(&c->r) : bw_rd_u64le(&c->r);
}

/* Read a gguf_string; returns the borrowed bytes or NULL (sticky error set). */
static const uint8_t *gg_str(struct gguf_ctx *c, size_t *n, uint64_t cap)
{
	uint64_t l = gg_len(c);

	*n = 0;
	if (!bw_rd_ok(&c->r))
		return NULL;
	if (l > bw_rd_left(&c->r)) {
		bw_rd_fail(&c->r, BW_ERR_TRUNCATED);
		return NULL;
	}
	if (l > cap) {
		bw_rd_fail(&c->r, BW_ERR_LIMIT);
		return NULL;
	}
	*n = (size_t)l;
	return bw_rd_bytes(&c->r, (size_t)l);
}

static int gg_keyeq(const uint8_t *k, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(k, s, n) == 0;
}

static void gg_template(struct gguf_ctx *c, const uint8_t *key, size_t key_len, const uint8_t *v,
                        size_t n, uint64_t off)
{
	size_t hit, a, b;
	const char *why;
	char snip[200], kb[96];

	if (!bw_gguf_template_ssti((const char *)v, n, &hit, &why))
		return;
	a = hit > 60 ? hit - 60 : 0;
	b = hit + 100 < n ? hit + 100 : n;
	bw_fmt_clip(v + a, b - a, snip, sizeof snip);
	bw_fmt_clip(key, key_len, kb, sizeof kb);
	bw_fmt_finding(c->sink, "gguf.chat-template-ssti", off + hit, "%s: %s: ...%s...", kb, why, snip);
}

/*
 * Skip one value of type t; arrays are walked with an explicit stack.
 * Returns 0 on success, -1 when the reader failed (sticky error) or the
 * structure is invalid (reported).
 */
static int gg_value(struct gguf_ctx *c, uint32_t t, const uint8_t *key, size_t key_len)
{
	struct {
		uint32_t type;
		uint64_t left;
	} st[BW_GGUF_MAX_ARRAY_DEPTH];
	unsigned depth = 0;
	uint64_t start = bw_rd_off(&c->r);
	char kb[96];

	bw_fmt_clip(key, key_len, kb, sizeof kb);
	for (;;) {
		/* read one value of type t */
		if (t >= GT__COUNT) {
			bw_fmt_finding(c->sink, "gguf.bad-value-type", start, "key \"%s\": unknown value type %u", kb, t);
			return -1;
		}
		if (t == GT_STRING) {
			size_t n;
			uint64_t off = bw_rd_off(&c->r);
			const uint8_t *s = gg_str(c, &n, c->max_string);

			if (s == NULL)
				return -1;
			if (depth == 0 && key_len >= 23 && memcmp(key, "tokenizer.chat_template", 23) == 0)
				gg_template(c, key, key_len, s, n, off + (c->version == 1 ? 4 : 8));
		} else if (t == GT_ARRAY) {
			uint32_t et = bw_rd_u32le(&c->r);
			uint64_t n = gg_len(c);

			if (!bw_rd_ok(&c->r))
				return -1;
			if (depth == BW_GGUF_MAX_ARRAY_DEPTH) {
				bw_fmt_finding(c->sink, "gguf.array-nesting", start,
				        "key \"%s\": arrays nested deeper than %u", kb, BW_GGUF_MAX_ARRAY_DEPTH);
				bw_rd_fail(&c->r, BW_ERR_LIMIT);
				return -1;
			}
			if (et >= GT__COUNT) {
				bw_fmt_finding(c->sink, "gguf.bad-value-type", start, "key \"%s\": unknown array element type %u",
				        kb, et);
				return -1;
			}
			if (et != GT_STRING && et != GT_ARRAY) {
				/* fixed-size elements: check and skip in one step */
				size_t total;

				if (n > bw_rd_left(&c->r) ||
				    bw_mul_ovf((size_t)n, gguf_scalar_size[et], &total) || total > bw_rd_left(&c->r)) {
					bw_fmt_finding(c->sink, "gguf.count-bounds", start,
					        "key \"%s\": array of %llu elements runs past the end of the file", kb,
					        (unsigned long long)n);
					bw_rd_fail(&c->r, BW_ERR_TRUNCATED);
					return -1;
				}
				bw_rd_skip(&c->r, total);
			} else {
				/* every string/array element takes at least 4 bytes */
				if (n > bw_rd_left(&c->r) / 4) {
					bw_fmt_finding(c->sink, "gguf.count-bounds", start,
					        "key \"%s\": array of %llu elements runs past the end of the file", kb,
					        (unsigned long long)n);
					bw_rd_fail(&c->r, BW_ERR_TRUNCATED);
					return -1;
				}
				st[depth].type = et;
				st[depth].left = n;
				depth++;
			}
		} else {
			bw_rd_skip(&c->r, gguf_scalar_size[t]);
		}
		if (!bw_rd_ok(&c->r))
			return -1;
		/* next element of the innermost open array, popping finished ones */
		while (depth > 0 && st[depth - 1].left == 0)
			depth--;
		if (depth == 0)
			return 0;
		st[depth - 1].left--;
		t = st[depth - 1].type;
	}
}

static int gg_name_cmp(const void *a, const void *b)
{
	const struct gguf_name *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->p, y->p, n);

	if (r != 0)
		return r;
	return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

static void gg_dups(const struct gguf_ctx *c, struct gguf_name *v, size_t n, const char *rule, const char *what)
{
	size_t i;
	char nb[96];

	if (n < 2)
		return;
	qsort(v, n, sizeof *v, gg_name_cmp);
	for (i = 1; i < n; i++) {
		if (gg_name_cmp(&v[i - 1], &v[i]) == 0) {
			bw_fmt_clip(v[i].p, v[i].len, nb, sizeof nb);
			bw_fmt_finding(c->sink, rule, v[i].off, "%s \"%s\" appears more than once (readers disagree on which counts)",
			        what, nb);
		}
	}
}

static int gg_tensor_cmp(const void *a, const void *b)
{
	const struct gguf_tensor *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Read one tensor info; returns 1 with t filled, 0 when it has no usable extent, -1 on read failure. */
static int gg_tensor_info(struct gguf_ctx *c, struct gguf_tensor *t, struct gguf_name *nm)
{
	uint64_t off = bw_rd_off(&c->r), dims[BW_GGUF_MAX_DIMS], n_el = 1, nbytes;
	uint32_t n_dims, type, i;
	size_t name_len;
	const uint8_t *name = gg_str(c, &name_len, c->max_string);
	char nb[96];
	int ok = 1;

	if (name == NULL)
		return -1;
	bw_fmt_clip(name, name_len, nb, sizeof nb);
	nm->p = name;
	nm->len = name_len;
	nm->off = off;
	if (name_len >= BW_GGUF_MAX_NAME)
		bw_fmt_finding(c->sink, "gguf.tensor-info", off, "tensor \"%s\": name is %zu bytes (ggml allows %u)", nb,
		        name_len, BW_GGUF_MAX_NAME - 1);
	n_dims = bw_rd_u32le(&c->r);
	if (!bw_rd_ok(&c->r))
		return -1;
	if (n_dims > BW_GGUF_MAX_DIMS) {
		bw_fmt_finding(c->sink, "gguf.tensor-info", off, "tensor \"%s\": %u dimensions (ggml allows %u)", nb, n_dims,
		        BW_GGUF_MAX_DIMS);
		/* the dims still have to be skipped to find the next info */
		if ((uint64_t)n_dims * 8 > bw_rd_left(&c->r)) {
			bw_rd_fail(&c->r, BW_ERR_TRUNCATED);
			return -1;
		}
		bw_rd_skip(&c->r, (size_t)n_dims * 8);
		ok = 0;
	} else {
		for (i = 0; i < n_dims; i++) {
			dims[i] = c->version == 1 ? bw_rd_u32le(&c->r) : bw_rd_u64le(&c->r);
			if ((int64_t)dims[i] < 0 || bw_mul_ovf(n_el, dims[i], &n_el) || n_el > INT64_MAX) {
				if (bw_rd_ok(&c->r))
					bw_fmt_finding(c->sink, "gguf.tensor-info", off,
					        "tensor \"%s\": element count overflows", nb);
				ok = 0;
			}
		}
	}
	type = bw_rd_u32le(&c->r);
	t->begin = bw_rd_u64le(&c->r);
	if (!bw_rd_ok(&c->r))
		return -1;
	t->info_off = off;
	t->name = name;
	t->name_len = name_len;
	if (type >= GGML_N_TYPES || ggml_types[type].blck == 0) {
		bw_fmt_finding(c->sink, "gguf.tensor-info", off, "tensor \"%s\": unknown ggml type %u", nb, type);
		return 0;
	}
	if (!ok)
		return 0;
	if (n_dims > 0 && dims[0] % ggml_types[type].blck != 0) {
		bw_fmt_finding(c->sink, "gguf.tensor-info", off,
		        "tensor \"%s\": first dimension %llu is not a multiple of the %s block size %u", nb,
		        (unsigned long long)dims[0], ggml_types[type].name, ggml_types[type].blck);
		return 0;
	}
	if (bw_mul_ovf(n_el / ggml_types[type].blck, ggml_types[type].size, &nbytes) ||
	    bw_add_ovf64(t->begin, nbytes, &t->end)) {
		bw_fmt_finding(c->sink, "gguf.tensor-info", off, "tensor \"%s\": byte size overflows", nb);
		return 0;
	}
	if (t->begin % c->alignment != 0)
		bw_fmt_finding(c->sink, "gguf.tensor-misaligned", off,
		        "tensor \"%s\": offset %llu is not a multiple of the alignment %llu", nb,
		        (unsigned long long)t->begin, (unsigned long long)c->alignment);
	return 1;
}

enum bw_err bw_gguf_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct gguf_ctx c;
	struct gguf_name *keys = NULL, *tnames = NULL;
	struct gguf_tensor *tens = NULL;
	uint64_t n_tensors, n_kv, i, data_start, data_len, pos;
	size_t n_keys = 0, n_tens = 0, n_tnames = 0;
	enum bw_err ret = BW_OK;
	uint32_t magic;
	const char *stage = "header";

	if (sink->format != NULL)
		sink->format(sink->user, "gguf");
	memset(&c, 0, sizeof c);
	c.sink = sink;
	c.alignment = 32;
	c.align_off = BW_NO_OFFSET;
	c.max_string = sink->lim->max_string != 0 ? sink->lim->max_string : ((uint64_t)1 << 30);
	bw_rd_init(&c.r, data, len, 0);
	magic = bw_rd_u32le(&c.r);
	c.version = bw_rd_u32le(&c.r);
	if (!bw_rd_ok(&c.r) || magic != 0x46554747u) {
		sink->incomplete(sink->user, BW_ERR_MALFORMED, 0, "gguf: no GGUF magic");
		goto out;
	}
	if (c.version < 1 || c.version > 3) {
		char m[96];

		snprintf(m, sizeof m, "gguf: version %u is not supported (big-endian files are 0x%08x)", c.version,
		         c.version);
		sink->incomplete(sink->user, BW_ERR_UNSUPPORTED, 4, m);
		goto out;
	}
	n_tensors = gg_len(&c);
	n_kv = gg_len(&c);
	if (!bw_rd_ok(&c.r))
		goto fail;
	/* each kv takes at least 12 bytes (v1: 4+0+4+1 = 9), each tensor info 24 */
	if (n_kv > bw_rd_left(&c.r) / 9 || n_tensors > bw_rd_left(&c.r) / 20) {
		bw_fmt_finding(c.sink, "gguf.count-bounds", 8, "%llu tensors / %llu metadata entries cannot fit in the file",
		        (unsigned long long)n_tensors, (unsigned long long)n_kv);
		sink->incomplete(sink->user, BW_ERR_MALFORMED, 8, "gguf: counts past the end of the file");
		goto out;
	}
	if (n_kv > BW_GGUF_MAX_KV || n_tensors > BW_GGUF_MAX_TENSORS) {
		sink->incomplete(sink->user, BW_ERR_LIMIT, 8, "gguf: more tensors or metadata entries than the scan limit");
		goto out;
	}
	keys = bw_calloc((size_t)n_kv + 1, sizeof *keys);
	tnames = bw_calloc((size_t)n_tensors + 1, sizeof *tnames);
	tens = bw_calloc((size_t)n_tensors + 1, sizeof *tens);
	if (keys == NULL || tnames == NULL || tens == NULL) {
		ret = BW_ERR_NOMEM;
		goto out;
	}
	stage = "metadata";
	for (i = 0; i < n_kv; i++) {
		uint64_t koff = bw_rd_off(&c.r);
		size_t kl;
		const uint8_t *k = gg_str(&c, &kl, BW_GGUF_MAX_KEY);
		uint32_t t = bw_rd_u32le(&c.r);
		uint64_t voff = bw_rd_off(&c.r);

		if (!bw_rd_ok(&c.r))
			goto fail;
		keys[n_keys].p = k;
		keys[n_keys].len = kl;
		keys[n_keys++].off = koff;
		if (gg_keyeq(k, kl, "general.alignment")) {
			if (t != GT_U32) {
				bw_fmt_finding(c.sink, "gguf.bad-alignment", koff, "general.alignment has type %u, not uint32", t);
			} else if (bw_rd_left(&c.r) >= 4) {
				uint32_t a = (uint32_t)data[voff] | (uint32_t)data[voff + 1] << 8 |
				             (uint32_t)data[voff + 2] << 16 | (uint32_t)data[voff + 3] << 24;

				if (a == 0 || (a & (a - 1)) != 0)
					bw_fmt_finding(c.sink, "gguf.bad-alignment", koff,
					        "general.alignment %u is not a power of two", a);
				else
					c.alignment = a;
			}
		}
		if (gg_value(&c, t, k, kl) != 0) {
			if (bw_rd_ok(&c.r))
				bw_rd_fail(&c.r, BW_ERR_MALFORMED);
			goto fail;
		}
	}
	gg_dups(&c, keys, n_keys, "gguf.duplicate-key", "metadata key");
	stage = "tensor infos";
	for (i = 0; i < n_tensors; i++) {
		int rc = gg_tensor_info(&c, &tens[n_tens], &tnames[n_tnames]);

		if (rc < 0)
			goto fail;
		n_tnames++;
		if (rc == 1)
			n_tens++;
	}
	gg_dups(&c, tnames, n_tnames, "gguf.duplicate-tensor", "tensor name");
	/* data section: next multiple of the alignment after the infos */
	pos = bw_rd_off(&c.r);
	data_start = (pos + c.alignment - 1) / c.alignment * c.alignment;
	if (n_tensors > 0 && data_start > len) {
		bw_fmt_finding(c.sink, "gguf.tensor-out-of-bounds", pos, "file ends before the data section");
		sink->incomplete(sink->user, BW_ERR_TRUNCATED, pos, "gguf: no data section");
		goto out;
	}
	data_len = data_start <= len ? len - data_start : 0;
	qsort(tens, n_tens, sizeof *tens, gg_tensor_cmp);
	pos = 0;
	for (i = 0; i < n_tens; i++) {
		char nb[96];

		bw_fmt_clip(tens[i].name, tens[i].name_len, nb, sizeof nb);
		if (tens[i].end > data_len)
			bw_fmt_finding(c.sink, "gguf.tensor-out-of-bounds", tens[i].info_off,
			        "tensor \"%s\": bytes [%llu, %llu) run past the %llu-byte data section", nb,
			        (unsigned long long)tens[i].begin, (unsigned long long)tens[i].end,
			        (unsigned long long)data_len);
		if (tens[i].begin < pos)
			bw_fmt_finding(c.sink, "gguf.tensor-overlap", tens[i].info_off,
			        "tensor \"%s\": bytes [%llu, %llu) overlap another tensor", nb,
			        (unsigned long long)tens[i].begin, (unsigned long long)tens[i].end);
		if (tens[i].end > pos)
			pos = tens[i].end;
	}
	goto out;
fail:
	{
		char m[120];

		snprintf(m, sizeof m, "gguf: %s could not be read (%s)", stage, bw_err_str(c.r.err));
		sink->incomplete(sink->user, c.r.err != BW_OK ? c.r.err : BW_ERR_MALFORMED,
		                 c.r.err_off != BW_NO_OFFSET ? c.r.err_off : bw_rd_off(&c.r), m);
	}
out:
	bw_free(keys);
	bw_free(tnames);
	bw_free(tens);
	return ret;
}
