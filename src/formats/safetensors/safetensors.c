/*
 * formats/safetensors/safetensors.c - safetensors header and layout checks.
 *
 * Layout (huggingface/safetensors README "Format"): 8 bytes little-endian
 * header length N, N bytes of UTF-8 JSON, then the byte buffer. The JSON maps
 * tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the buffer) plus an optional "__metadata__" string->string map.
 * The reference loader (tensor.rs) rejects N > 100 MB, a header past the
 * file, and offsets that do not tile the buffer exactly: sorted by offset,
 * each tensor must start where the previous ended, its byte length must equal
 * prod(shape) * dtype size, and the last must end at the end of the file.
 * We report each violation as its own finding, and go on checking the rest.
 *
 * Must not: trust any length before comparing it with the bytes present,
 * hand jansson an unbounded buffer (json_loadb gets exactly N bytes), or read
 * tensor data.
 */
#include "formats/safetensors/safetensors.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/reader.h"

/* dtype names and element sizes in bits (tensor.rs enum Dtype + Dtype::bitsize). */
static const struct {
	const char *name;
	unsigned bits;
} st_dtypes[] = {
	{"BOOL", 8},     {"U8", 8},       {"I8", 8},       {"F8_E5M2", 8}, {"F8_E4M3", 8},
	{"F8_E8M0", 8},  {"I16", 16},     {"U16", 16},     {"F16", 16},    {"BF16", 16},
	{"I32", 32},     {"U32", 32},     {"F32", 32},     {"F64", 64},    {"I64", 64},
	{"U64", 64},     {"C64", 64},     {"F4", 4},       {"F6_E2M3", 6}, {"F6_E3M2", 6},
};

struct st_tensor {
	const char *name; /* borrowed from the json tree */
	uint64_t begin, end;
};

struct st_ctx {
	const struct bw_fmt_sink *sink;
	uint64_t data_off; /* absolute offset of the byte buffer (8 + N) */
	uint64_t data_len;
	uint64_t hdr_off;  /* absolute offset of the JSON header (8) */
};

int bw_safetensors_detect(const uint8_t *data, size_t len)
{
	struct bw_reader r;
	uint64_t n;
	size_t i, end;
	int sane;

	if (data == NULL || len < 10)
		return 0;
	bw_rd_init(&r, data, len, 0);
	n = bw_rd_u64le(&r);
	/* the header is a JSON object: '{' then whitespace and '"' or '}' */
	if (data[8] != '{')
		return 0;
	sane = n >= 2 && n <= BW_ST_MAX_HEADER && n <= len - 8;
	end = sane ? 8 + (size_t)n : len;
	for (i = 9; i < end; i++) {
		if (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')
			continue;
		if (data[i] != '"' && data[i] != '}')
			return 0;
		/* a broken length still looks like safetensors: scan it to report the damage */
		return sane ? 95 : (n > 0 && data[i] == '"') ? 60 : 0;
	}
	return 0;
}

/* Look for code, shell and markup in a metadata value (nothing executes it, but
 * it is how payloads for downstream tools or social engineering are planted). */
static const char *st_code_pattern(const char *v)
{
	static const char *const pats[] = {
		"import os", "import subprocess", "__import__", "exec(", "eval(", "os.system",
		"subprocess.", "os.popen", "<script", "rm -rf", "wget ", "curl ", "chmod ",
		"b64decode", "/bin/sh", "/bin/bash", "powershell", "pickle.loads",
	};
	size_t i;

	for (i = 0; i < sizeof pats / sizeof pats[0]; i++)
		if (strstr(v, pats[i]) != NULL)
			return pats[i];
	return NULL;
}

static void st_check_metadata(const struct st_ctx *c, json_t *meta)
{
	const char *k;
	json_t *v;
	size_t n = 0;
	char kb[96], vb[160];

	if (!json_is_object(meta)) {
		bw_fmt_finding(c->sink, "safetensors.metadata-type", c->hdr_off,
		        "__metadata__ is a JSON %s, not a string-to-string object (the reference loader rejects it)",
		        json_is_array(meta) ? "array" : json_is_string(meta) ? "string" : "scalar");
		return;
	}
	json_object_foreach(meta, k, v) {
		const char *s, *pat;

		if (++n > BW_ST_MAX_META_ENTRIES) {
			bw_fmt_finding(c->sink, "safetensors.metadata-limit", c->hdr_off,
			        "__metadata__ has more than %u entries; the rest were not checked",
			        BW_ST_MAX_META_ENTRIES);
			return;
		}
		bw_fmt_clips(k, kb, sizeof kb);
		if (!json_is_string(v)) {
			bw_fmt_finding(c->sink, "safetensors.metadata-type", c->hdr_off,
			         "__metadata__[\"%s\"] is not a string (the reference loader rejects it)", kb);
			continue;
		}
		s = json_string_value(v);
		if (json_string_length(v) > BW_ST_MAX_META_VALUE) {
			bw_fmt_finding(c->sink, "safetensors.metadata-limit", c->hdr_off,
			        "__metadata__[\"%s\"] is %zu bytes long", kb, json_string_length(v));
			continue;
		}
		pat = st_code_pattern(s);
		if (pat != NULL) {
			bw_fmt_clips(s, vb, sizeof vb);
			bw_fmt_finding(c->sink, "safetensors.metadata-code", c->hdr_off,
			        "__metadata__[\"%s\"] contains code or shell text (\"%s\"): \"%s\"", kb, pat, vb);
		} else if (strstr(s, "http://") != NULL || strstr(s, "https://") != NULL ||
		           strstr(s, "ftp://") != NULL) {
			bw_fmt_clips(s, vb, sizeof vb);
			bw_fmt_finding(c->sink, "safetensors.metadata-url", c->hdr_off, "__metadata__[\"%s\"] holds a URL: \"%s\"",
			        kb, vb);
		}
	}
}

/* Element size in bits of a dtype name, 0 if unknown. */
static unsigned st_dtype_bits(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
		if (strcmp(s, st_dtypes[i].name) == 0)
			return st_dtypes[i].bits;
	return 0;
}

/*
 * Check one tensor entry; on success fill t with its offsets (returns 1), or
 * report and return 0 when the offsets cannot be used for the layout check.
 */
static int st_check_tensor(const struct st_ctx *c, const char *name, json_t *info, struct st_tensor *t)
{
	json_t *dt, *shape, *offs, *x, *b, *e;
	char nb[128];
	unsigned bits = 0;
	size_t i, n_elem = 1;
	int shape_ok = 1;
	const char *k;
	json_t *v;

	bw_fmt_clips(name, nb, sizeof nb);
	if (!json_is_object(info)) {
		bw_fmt_finding(c->sink, "safetensors.bad-tensor-info", c->hdr_off, "tensor \"%s\": entry is not an object", nb);
		return 0;
	}
	json_object_foreach(info, k, v) {
		if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 && strcmp(k, "data_offsets") != 0) {
			char kb[64];

			bw_fmt_clips(k, kb, sizeof kb);
			bw_fmt_finding(c->sink, "safetensors.bad-tensor-info", c->hdr_off,
			        "tensor \"%s\": unexpected key \"%s\"", nb, kb);
		}
	}
	dt = json_object_get(info, "dtype");
	shape = json_object_get(info, "shape");
	offs = json_object_get(info, "data_offsets");
	if (json_is_string(dt))
		bits = st_dtype_bits(json_string_value(dt));
	if (bits == 0) {
		char db[64];

		bw_fmt_clips(json_is_string(dt) ? json_string_value(dt) : "(missing)", db, sizeof db);
		bw_fmt_finding(c->sink, "safetensors.bad-dtype", c->hdr_off, "tensor \"%s\": unknown dtype \"%s\"", nb, db);
	}
	if (!json_is_array(shape)) {
		bw_fmt_finding(c->sink, "safetensors.bad-shape", c->hdr_off, "tensor \"%s\": shape is missing or not a list", nb);
		shape_ok = 0;
	} else {
		json_array_foreach(shape, i, x) {
			json_int_t d = json_is_integer(x) ? json_integer_value(x) : -1;

			if (d < 0) {
				bw_fmt_finding(c->sink, "safetensors.bad-shape", c->hdr_off,
				        "tensor \"%s\": shape[%zu] is not a non-negative integer", nb, i);
				shape_ok = 0;
				break;
			}
			if (bw_mul_ovf(n_elem, (size_t)d, &n_elem)) {
				bw_fmt_finding(c->sink, "safetensors.bad-shape", c->hdr_off,
				        "tensor \"%s\": shape product overflows", nb);
				shape_ok = 0;
				break;
			}
		}
	}
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    !json_is_integer(b = json_array_get(offs, 0)) || !json_is_integer(e = json_array_get(offs, 1)) ||
	    json_integer_value(b) < 0 || json_integer_value(e) < 0) {
		bw_fmt_finding(c->sink, "safetensors.bad-tensor-info", c->hdr_off,
		        "tensor \"%s\": data_offsets is not a pair of non-negative integers", nb);
		return 0;
	}
	t->name = name;
	t->begin = (uint64_t)json_integer_value(b);
	t->end = (uint64_t)json_integer_value(e);
	if (t->end < t->begin) {
		bw_fmt_finding(c->sink, "safetensors.offsets-out-of-bounds", c->data_off,
		        "tensor \"%s\": data_offsets end %llu is before begin %llu", nb,
		        (unsigned long long)t->end, (unsigned long long)t->begin);
		return 0;
	}
	if (t->end > c->data_len) {
		bw_fmt_finding(c->sink, "safetensors.offsets-out-of-bounds", c->data_off,
		        "tensor \"%s\": data_offsets [%llu, %llu) run past the %llu-byte data buffer", nb,
		        (unsigned long long)t->begin, (unsigned long long)t->end,
		        (unsigned long long)c->data_len);
	}
	if (bits != 0 && shape_ok) {
		size_t nbits;

		if (bw_mul_ovf(n_elem, bits, &nbits)) {
			bw_fmt_finding(c->sink, "safetensors.bad-shape", c->hdr_off,
			        "tensor \"%s\": byte size of the shape overflows", nb);
		} else if (nbits % 8 != 0 || nbits / 8 != t->end - t->begin) {
			bw_fmt_finding(c->sink, "safetensors.size-mismatch", c->data_off + t->begin,
			        "tensor \"%s\": shape and dtype need %zu%s bytes but data_offsets span %llu", nb,
			        nbits / 8, nbits % 8 ? " and a fraction of" : "",
			        (unsigned long long)(t->end - t->begin));
		}
	}
	return 1;
}

static int st_cmp(const void *a, const void *b)
{
	const struct st_tensor *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* Offsets must tile [0, data_len) exactly (tensor.rs Metadata::validate + read_metadata). */
static void st_check_layout(const struct st_ctx *c, struct st_tensor *t, size_t n)
{
	uint64_t pos = 0;
	size_t i;
	char nb[128];

	qsort(t, n, sizeof *t, st_cmp);
	for (i = 0; i < n; i++) {
		bw_fmt_clips(t[i].name, nb, sizeof nb);
		if (t[i].begin < pos) {
			bw_fmt_finding(c->sink, "safetensors.offsets-overlap", c->data_off + t[i].begin,
			        "tensor \"%s\" [%llu, %llu) overlaps the previous tensor (ends at %llu)", nb,
			        (unsigned long long)t[i].begin, (unsigned long long)t[i].end,
			        (unsigned long long)pos);
		} else if (t[i].begin > pos) {
			bw_fmt_finding(c->sink, "safetensors.offsets-gap", c->data_off + pos,
			        "%llu unreferenced bytes before tensor \"%s\" (the reference loader rejects gaps)",
			        (unsigned long long)(t[i].begin - pos), nb);
		}
		if (t[i].end > pos)
			pos = t[i].end;
	}
	if (pos < c->data_len)
		bw_fmt_finding(c->sink, "safetensors.trailing-data", c->data_off + pos,
		        "%llu bytes after the last tensor are not referenced by the header (the reference loader rejects them)",
		        (unsigned long long)(c->data_len - pos));
}

enum bw_err bw_safetensors_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct st_ctx c;
	struct bw_reader r;
	json_t *root = NULL, *meta = NULL, *v;
	json_error_t jerr;
	struct st_tensor *tens = NULL;
	size_t n_tens = 0, n_keys;
	uint64_t n;
	const char *k;
	enum bw_err ret = BW_OK;

	if (sink->format != NULL)
		sink->format(sink->user, "safetensors");
	memset(&c, 0, sizeof c);
	c.sink = sink;
	c.hdr_off = 8;
	bw_rd_init(&r, data, len, 0);
	n = bw_rd_u64le(&r);
	if (!bw_rd_ok(&r)) {
		sink->incomplete(sink->user, BW_ERR_TRUNCATED, 0, "safetensors: file shorter than the 8-byte header length");
		goto out;
	}
	if (n > BW_ST_MAX_HEADER || n > len - 8) {
		bw_fmt_finding(c.sink, "safetensors.header-bounds", 0,
		        "header length %llu is %s", (unsigned long long)n,
		        n > len - 8 ? "past the end of the file" : "over the 100 MB limit of the reference loader");
		sink->incomplete(sink->user, n > len - 8 ? BW_ERR_TRUNCATED : BW_ERR_LIMIT, 0,
		                 "safetensors: JSON header cannot be read");
		goto out;
	}
	if (sink->lim->mem_budget != 0 && n > sink->lim->mem_budget / 8) {
		sink->incomplete(sink->user, BW_ERR_LIMIT, 8, "safetensors: JSON header too large for the memory budget");
		goto out;
	}
	c.data_off = 8 + n;
	c.data_len = len - c.data_off;
	if (n == 0 || data[8] != '{')
		bw_fmt_finding(c.sink, "safetensors.json-invalid", 8, "header does not start with '{'");
	/* Exactly n bytes: jansson never sees the tensor data. */
	root = json_loadb((const char *)data + 8, (size_t)n, 0, &jerr);
	if (root == NULL || !json_is_object(root)) {
		bw_fmt_finding(c.sink, "safetensors.json-invalid", root == NULL ? 8 + (uint64_t)jerr.position : 8,
		        "header is not a JSON object: %s", root == NULL ? jerr.text : "wrong top-level type");
		sink->incomplete(sink->user, BW_ERR_MALFORMED, 8, "safetensors: JSON header could not be parsed");
		goto out;
	}
	/*
	 * Duplicate keys: jansson and serde_json's HashMap both keep the last one,
	 * but other readers keep the first, so two tools can see different tensors.
	 */
	{
		json_t *strict = json_loadb((const char *)data + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);

		if (strict == NULL)
			bw_fmt_finding(c.sink, "safetensors.duplicate-key", 8 + (uint64_t)jerr.position,
			        "header repeats a key (%s): readers disagree on which entry counts", jerr.text);
		json_decref(strict);
	}
	n_keys = json_object_size(root);
	tens = bw_calloc(n_keys ? n_keys : 1, sizeof *tens);
	if (tens == NULL) {
		ret = BW_ERR_NOMEM;
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "__metadata__") == 0) {
			meta = v;
			continue;
		}
		if (st_check_tensor(&c, k, v, &tens[n_tens]))
			n_tens++;
	}
	if (meta != NULL)
		st_check_metadata(&c, meta);
	st_check_layout(&c, tens, n_tens);
out:
	bw_free(tens);
	json_decref(root);
	return ret;
}
