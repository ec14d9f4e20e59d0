/*
 * safetensors_out.c - serialise tensors found by the restricted unpickler
 * into the safetensors format.
 *
 * Layout (safetensors spec): u64 LE header length N, N bytes of JSON
 * {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}} padded with spaces to a multiple of 8, then the
 * tensor bytes back to back in header order. Each tensor is gathered from its
 * storage following shape/stride/offset (so views and non-contiguous tensors
 * come out row-major), after checking every element it touches lies inside
 * the storage bytes. Big-endian inputs (NumPy '>' dtypes) are swapped to the
 * little-endian order safetensors prescribes.
 */
#include <string.h>

#include "convert/convert_internal.h"
#include "core/alloc.h"
#include "core/json.h"

/* Bytes span [lo, hi) of a strided tensor within its storage, in elements. */
static int tensor_extent(const struct bw_rtensor *t, uint64_t *numel, uint64_t *last)
{
	uint64_t n = 1, far = t->offset;
	unsigned d;

	for (d = 0; d < t->ndim; d++) {
		if (__builtin_mul_overflow(n, t->shape[d], &n))
			return -1;
	}
	*numel = n;
	if (n == 0) {
		*last = 0;
		return 0;
	}
	for (d = 0; d < t->ndim; d++) {
		uint64_t step;
		if (__builtin_mul_overflow(t->shape[d] - 1, (uint64_t)t->stride[d], &step) ||
		    __builtin_add_overflow(far, step, &far))
			return -1;
	}
	*last = far; /* index of the last element touched */
	return 0;
}

/* Reverse the bytes of each of n elements of elem bytes (big-endian input). */
static void byteswap(uint8_t *p, size_t elem, uint64_t n)
{
	uint64_t k;
	size_t i;
	uint8_t tmp;

	for (k = 0; k < n; k++, p += elem) {
		for (i = 0; i < elem / 2; i++) {
			tmp = p[i];
			p[i] = p[elem - 1 - i];
			p[elem - 1 - i] = tmp;
		}
	}
}

/* Copy a strided tensor into dst (row-major), elem bytes per element. */
static void gather(const struct bw_rtensor *t, const uint8_t *src, size_t elem, uint8_t *dst,
                   uint64_t numel)
{
	uint64_t idx[BW_MAX_DIMS] = {0}, k;
	uint64_t pos = t->offset;
	unsigned d;

	if (t->ndim == 0) {
		memcpy(dst, src + pos * elem, elem);
		return;
	}
	for (k = 0; k < numel; k++) {
		memcpy(dst + k * elem, src + pos * elem, elem);
		/* odometer increment of the multi-index, updating pos incrementally */
		for (d = t->ndim; d > 0; d--) {
			idx[d - 1]++;
			pos += (uint64_t)t->stride[d - 1];
			if (idx[d - 1] < t->shape[d - 1])
				break;
			pos -= (uint64_t)t->stride[d - 1] * t->shape[d - 1];
			idx[d - 1] = 0;
		}
	}
}

enum bw_err bw_convert_write(const struct bw_rresult *r, const struct bw_convert_source *src,
                             struct bw_buf *out, struct bw_diag *diag)
{
	json_t *hdr = json_object(), *meta = json_object();
	uint64_t *sizes = NULL, offset = 0, numel = 0, last = 0;
	char *text = NULL;
	size_t i, hlen, pad, elem, slen;
	const uint8_t *sbytes;
	uint8_t lenb[8];
	enum bw_err e = BW_OK;
	unsigned d;

	if (hdr == NULL || meta == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	sizes = bw_calloc(r->n_tensors + 1, sizeof *sizes);
	if (sizes == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < r->n_tensors; i++) {
		const struct bw_rtensor *t = &r->tensors[i];
		json_t *shape = json_array(), *ent;

		elem = bw_dtype_size(t->dtype);
		if (tensor_extent(t, &numel, &last) != 0 || numel > UINT64_MAX / elem) {
			e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                "tensor '%s' has a size that overflows", t->name);
			json_decref(shape);
			goto out;
		}
		if (json_object_get(hdr, t->name) != NULL || strcmp(t->name, "__metadata__") == 0) {
			e = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
			                "two tensors are named '%s'", t->name);
			json_decref(shape);
			goto out;
		}
		for (d = 0; d < t->ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
		sizes[i] = numel * elem;
		ent = json_object();
		json_object_set_new(ent, "dtype", json_string(bw_dtype_name(t->dtype)));
		json_object_set_new(ent, "shape", shape);
		json_object_set_new(ent, "data_offsets", json_pack("[I,I]", (json_int_t)offset,
		                                                    (json_int_t)(offset + sizes[i])));
		if (json_object_set_new(hdr, t->name, ent) != 0) {
			e = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
			                "tensor name '%s' is not valid UTF-8", t->name);
			goto out;
		}
		offset += sizes[i];
	}
	json_object_set_new(meta, "format", json_string(r->st_format ? r->st_format : "pt"));
	json_object_set_new(meta, "converted_by", json_string("bulwark " BW_VERSION));
	json_object_set_new(hdr, "__metadata__", meta);
	meta = NULL;
	text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	hlen = strlen(text);
	pad = (8 - hlen % 8) % 8;
	for (i = 0; i < 8; i++)
		lenb[i] = (uint8_t)((uint64_t)(hlen + pad) >> (8 * i));
	if ((e = bw_buf_reserve(out, 8 + hlen + pad + (size_t)offset)) != BW_OK ||
	    (e = bw_buf_append(out, lenb, 8)) != BW_OK || (e = bw_buf_append(out, text, hlen)) != BW_OK)
		goto out;
	for (i = 0; i < pad; i++)
		if ((e = bw_buf_putc(out, ' ')) != BW_OK)
			goto out;
	for (i = 0; i < r->n_tensors; i++) {
		const struct bw_rtensor *t = &r->tensors[i];

		elem = bw_dtype_size(t->dtype);
		(void)tensor_extent(t, &numel, &last);
		sbytes = src->storage(src->user, t->storage_key, t->dtype, &slen, diag);
		if (sbytes == NULL) {
			e = diag && diag->code ? diag->code : BW_ERR_NOTFOUND;
			goto out;
		}
		if (numel > 0 && (last >= slen / elem)) {
			e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                "tensor '%s' reaches element %llu of storage '%s', which holds %zu",
			                t->name, (unsigned long long)last, t->storage_key, slen / elem);
			goto out;
		}
		gather(t, sbytes, elem, out->data + out->len, numel);
		if (t->byteswap && elem > 1)
			byteswap(out->data + out->len, elem, numel);
		out->len += (size_t)sizes[i];
	}
out:
	free(text);
	json_decref(hdr);
	json_decref(meta);
	bw_free(sizes);
	return e;
}
