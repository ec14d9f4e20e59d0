/*
 * convert_numpy.c - bulwark convert for NumPy files: .npy (one array) and
 * .npz (a zip of .npy members, each becoming a tensor named after its member
 * without ".npy", as numpy.load's NpzFile names them).
 *
 * The header is read by the scanner's .npy header parser (formats/npy) and the
 * archive by its zip reader (formats/zip); this file only maps a parsed header
 * to a safetensors tensor. Fortran-ordered arrays are described with
 * column-major strides so the writer gathers them into row-major order;
 * big-endian dtypes are marked for byte swapping. Object arrays (a pickle),
 * structured, complex, string, void and datetime dtypes are refused by name.
 * Must not: unpickle, evaluate the header, or trust a size before checking it
 * against the bytes present.
 */
#include <stdio.h>
#include <string.h>

#include "convert/convert_internal.h"
#include "core/alloc.h"
#include "formats/npy/npy.h"
#include "formats/zip/zip.h"

#define NPZ_MAX_MEMBER ((uint64_t)16 << 30)

/* numpy's dtype for a simple type string (numpy/core/_internal.py, dtype kinds). */
static enum bw_err npy_dtype(const struct bw_npy_header *h, const char *where,
                             enum bw_dtype *dt, struct bw_diag *diag)
{
	static const struct {
		char kind;
		uint64_t size;
		enum bw_dtype dt;
	} map[] = {
		{'f', 2, BW_DT_F16}, {'f', 4, BW_DT_F32}, {'f', 8, BW_DT_F64}, {'i', 1, BW_DT_I8},
		{'i', 2, BW_DT_I16}, {'i', 4, BW_DT_I32}, {'i', 8, BW_DT_I64}, {'u', 1, BW_DT_U8},
		{'u', 2, BW_DT_U16}, {'u', 4, BW_DT_U32}, {'u', 8, BW_DT_U64}, {'b', 1, BW_DT_BOOL},
		{'?', 1, BW_DT_BOOL},
	};
	size_t i;

	if (h->has_object)
		return bw_diag_set(diag, BW_ERR_UNSUPPORTED, h->header_offset,
		                   "refusing to convert: %s has an object dtype (%.40s): its data is a "
		                   "pickle", where, h->descr);
	if (h->structured)
		return bw_diag_set(diag, BW_ERR_UNSUPPORTED, h->header_offset,
		                   "%s: structured dtype %.40s has no safetensors equivalent", where,
		                   h->descr);
	/* 'b' without a size is numpy's character code for int8; 'b1' is bool */
	if (h->kind == 'b' && !h->size_given) {
		*dt = BW_DT_I8;
		return BW_OK;
	}
	for (i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (map[i].kind == h->kind && map[i].size == h->itemsize &&
		    (h->size_given || h->kind == '?')) {
			*dt = map[i].dt;
			return BW_OK;
		}
	}
	return bw_diag_set(diag, BW_ERR_UNSUPPORTED, h->header_offset,
	                   "%s: dtype %.40s (%s) has no safetensors equivalent", where, h->descr,
	                   h->kind == 'c'                     ? "complex"
	                   : h->kind == 'U' || h->kind == 'S' || h->kind == 'a' ? "string"
	                   : h->kind == 'M' || h->kind == 'm' ? "datetime"
	                   : h->kind == 'V'                   ? "void"
	                                                      : "unsupported size");
}

/*
 * Describe the array of one .npy (data[0..len)) as tensor t named name, whose
 * storage is blob. where names the file or member for messages.
 */
static enum bw_err npy_tensor(const uint8_t *data, size_t len, const char *name,
                              const char *where, struct bw_arena *a, struct bw_rtensor *t,
                              struct bw_convert_blob *blob, struct bw_diag *diag)
{
	struct bw_npy_header h;
	struct bw_diag hd;
	uint64_t need, s;
	unsigned d;
	enum bw_err e;

	bw_diag_clear(&hd);
	e = bw_npy_header_parse(data, len, &h, &hd);
	if (e != BW_OK)
		return bw_diag_set(diag, e, hd.offset, "%s: %s (byte %llu)", where, hd.what,
		                   (unsigned long long)hd.offset);
	e = npy_dtype(&h, where, &t->dtype, diag);
	if (e != BW_OK)
		return e;
	if (h.ndim > BW_MAX_DIMS)
		return bw_diag_set(diag, BW_ERR_UNSUPPORTED, h.header_offset,
		                   "%s: %u dimensions, more than the %d this converter writes", where,
		                   h.ndim, BW_MAX_DIMS);
	if (h.count_overflow || __builtin_mul_overflow(h.count, h.itemsize, &need))
		return bw_diag_set(diag, BW_ERR_MALFORMED, h.header_offset,
		                   "%s: shape times item size overflows 64 bits", where);
	if (need > len - h.data_offset)
		return bw_diag_set(diag, BW_ERR_TRUNCATED, len,
		                   "%s: array data ends early: %llu bytes needed from byte %zu, %zu present",
		                   where, (unsigned long long)need, h.data_offset, len - h.data_offset);
	t->name = bw_arena_strdup(a, name);
	t->storage_key = t->name;
	if (t->name == NULL)
		return bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
	t->storage_numel = h.count;
	t->offset = 0;
	t->ndim = h.ndim;
	t->byteswap = (h.byteorder == '>' || h.byteorder == '!') && h.itemsize > 1;
	for (d = 0; d < h.ndim; d++)
		t->shape[d] = h.shape[d];
	/* element strides; every partial product is <= count, which fits (need <= len) */
	s = 1;
	if (h.count == 0) {
		for (d = 0; d < h.ndim; d++)
			t->stride[d] = 0;
	} else if (h.fortran_order) {
		for (d = 0; d < h.ndim; d++) {
			t->stride[d] = (int64_t)s;
			s *= h.shape[d];
		}
	} else {
		for (d = h.ndim; d > 0; d--) {
			t->stride[d - 1] = (int64_t)s;
			s *= h.shape[d - 1];
		}
	}
	blob->key = t->storage_key;
	blob->data = data + h.data_offset;
	blob->len = (size_t)need;
	return BW_OK;
}

enum bw_err bw_convert_npy(const uint8_t *data, size_t len, struct bw_arena *a,
                           struct bw_rresult *r, struct bw_buf *out, struct bw_diag *diag)
{
	struct bw_convert_blob blob;
	struct bw_convert_blobs src;
	struct bw_convert_source cs;
	enum bw_err e;

	memset(r, 0, sizeof *r);
	r->tensors = bw_arena_alloc(a, sizeof *r->tensors);
	if (r->tensors == NULL)
		return BW_ERR_NOMEM;
	e = npy_tensor(data, len, "array", "the .npy file", a, r->tensors, &blob, diag);
	if (e != BW_OK)
		return e;
	r->n_tensors = 1;
	r->st_format = "np";
	src.v = &blob;
	src.n = 1;
	cs.user = &src;
	cs.storage = bw_convert_blob_storage;
	return bw_convert_write(r, &cs, out, diag);
}

/* 1 when the zip at data looks like an .npz: a member named *.npy, none ending in "/data.pkl". */
int bw_convert_is_npz(const uint8_t *data, size_t len)
{
	struct bw_zip z;
	struct bw_zip_opts zo;
	size_t i, nl;
	int npy = 0, pkl = 0;

	memset(&zo, 0, sizeof zo);
	if (bw_zip_open(&z, data, len, &zo, NULL) == BW_OK) {
		for (i = 0; i < z.n_entries; i++) {
			nl = strlen(z.entries[i].name);
			npy |= nl > 4 && strcmp(z.entries[i].name + nl - 4, ".npy") == 0;
			pkl |= nl >= 9 && strcmp(z.entries[i].name + nl - 9, "/data.pkl") == 0;
		}
	}
	bw_zip_close(&z);
	return npy && !pkl;
}

/*
 * numpy.load of an .npz: NpzFile lists the members (zipfile), names each
 * after the member minus ".npy", and for a member that starts with the .npy
 * magic reads an array; other members come back as raw bytes (counted here
 * as values left out). zipfile checks CRC-32, so a mismatch is refused.
 */
enum bw_err bw_convert_npz(const uint8_t *data, size_t len, struct bw_arena *a,
                           struct bw_rresult *r, struct bw_buf *out, struct bw_diag *diag)
{
	struct bw_zip z;
	struct bw_zip_opts zo;
	struct bw_zip_data *zd = NULL;
	struct bw_convert_blobs src;
	struct bw_convert_source cs;
	char where[120];
	size_t i, n_zd = 0;
	enum bw_err e;

	memset(r, 0, sizeof *r);
	memset(&zo, 0, sizeof zo);
	memset(&src, 0, sizeof src);
	e = bw_zip_open(&z, data, len, &zo, diag);
	if (e != BW_OK)
		goto out;
	r->st_format = "np";
	r->tensors = bw_arena_array(a, z.n_entries + 1, sizeof *r->tensors);
	src.v = bw_arena_array(a, z.n_entries + 1, sizeof *src.v);
	zd = bw_calloc(z.n_entries + 1, sizeof *zd);
	if (r->tensors == NULL || src.v == NULL || zd == NULL) {
		e = bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
		goto out;
	}
	for (i = 0; i < z.n_entries; i++) {
		const struct bw_zip_entry *ze = &z.entries[i];
		char *name;

		if (ze->name_len > 0 && ze->name[ze->name_len - 1] == '/')
			continue; /* a directory entry: no data */
		snprintf(where, sizeof where, "member '%.80s'", ze->name);
		if (ze->name_len != strlen(ze->name)) {
			e = bw_diag_set(diag, BW_ERR_MALFORMED, ze->cd_pos,
			                "%s: the name holds a NUL byte (central directory byte %llu)", where,
			                (unsigned long long)ze->cd_pos);
			goto out;
		}
		if (ze->uncomp_size > NPZ_MAX_MEMBER) {
			e = bw_diag_set(diag, BW_ERR_LIMIT, ze->cd_pos,
			                "%s declares %llu bytes, over the %llu-byte member cap", where,
			                (unsigned long long)ze->uncomp_size,
			                (unsigned long long)NPZ_MAX_MEMBER);
			goto out;
		}
		/* no more than the declared size: zipfile stops there too (and then fails the CRC) */
		e = bw_zip_extract(&z, i, ze->uncomp_size, UINT32_MAX, &zd[n_zd]);
		n_zd++;
		if (e != BW_OK) {
			e = bw_diag_set(diag, e == BW_ERR_NOMEM ? e : BW_ERR_MALFORMED, ze->lho,
			                "%s cannot be read: %s (local header at byte %llu)", where,
			                bw_err_str(e), (unsigned long long)ze->lho);
			goto out;
		}
		if (!zd[n_zd - 1].crc_ok) {
			e = bw_diag_set(diag, BW_ERR_MALFORMED, ze->lho,
			                "%s fails its CRC-32 check (numpy's zipfile refuses it)", where);
			goto out;
		}
		if (zd[n_zd - 1].len < 6 || memcmp(zd[n_zd - 1].data, "\x93NUMPY", 6) != 0) {
			r->n_other_leaves++; /* numpy returns such a member as bytes */
			continue;
		}
		name = bw_arena_strdup(a, ze->name);
		if (name == NULL) {
			e = bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
			goto out;
		}
		if (ze->name_len > 4 && strcmp(name + ze->name_len - 4, ".npy") == 0)
			name[ze->name_len - 4] = '\0';
		e = npy_tensor(zd[n_zd - 1].data, zd[n_zd - 1].len, name, where, a,
		               &r->tensors[r->n_tensors], &src.v[src.n], diag);
		if (e != BW_OK)
			goto out;
		r->n_tensors++;
		src.n++;
	}
	cs.user = &src;
	cs.storage = bw_convert_blob_storage;
	e = bw_convert_write(r, &cs, out, diag);
out:
	for (i = 0; zd != NULL && i < n_zd; i++)
		bw_free(zd[i].owned);
	bw_free(zd);
	bw_zip_close(&z);
	return e;
}
