/*
 * convert.c - bulwark convert: recognise the checkpoint container, evaluate
 * its pickle under the restricted rules, and write safetensors.
 *
 * Containers: PyTorch zip (the default torch.save format, read with the
 * scanner's zip reader, as PyTorch's reader finds members), the legacy
 * format (five pickles, then the storages), the legacy tar format
 * (convert_tar.c) and NumPy .npy/.npz (convert_numpy.c). Recognition is by
 * content: an .npz is a zip with a member named *.npy.
 */
#include <stdio.h>
#include <string.h>

#include "bulwark/convert.h"
#include "convert/convert_internal.h"
#include "core/alloc.h"
#include "core/fileio.h"
#include "core/reader.h"
#include "formats/zip/zip.h"

#define CONVERT_MAX_INPUT ((size_t)64 << 30)
#define CONVERT_ARENA_BUDGET ((size_t)2 << 30)

/* The legacy format's first pickle: the magic number 0x1950a86a20f9469cfc6c (torch/serialization.py). */
static const uint8_t legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                       0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

const uint8_t *bw_convert_blob_storage(void *user, const char *key, enum bw_dtype dtype,
                                       size_t *len, struct bw_diag *diag)
{
	struct bw_convert_blobs *s = user;
	size_t i;

	(void)dtype;
	for (i = 0; i < s->n; i++) {
		if (strcmp(s->v[i].key, key) == 0) {
			*len = s->v[i].len;
			return s->v[i].data;
		}
	}
	(void)bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
	                  "storage '%s' is used by a tensor but not in the file", key);
	return NULL;
}

/* Element size of storage key, from the tensors that use it (0 when unused). */
static size_t key_elem(const struct bw_rresult *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n_tensors; i++)
		if (strcmp(r->tensors[i].storage_key, key) == 0)
			return bw_dtype_size(r->tensors[i].dtype);
	return 0;
}

static enum bw_err convert_legacy(const uint8_t *data, size_t len, struct bw_arena *a,
                                  struct bw_rresult *main_r, struct bw_buf *out,
                                  struct bw_diag *diag)
{
	struct bw_rresult tmp, keys;
	struct bw_convert_blobs src;
	struct bw_convert_source cs;
	struct bw_reader rd;
	size_t pos = 0, used, i, elem;
	enum bw_err e;
	int k;

	/* magic, protocol version, sys_info: plain values only */
	for (k = 0; k < 3; k++) {
		e = bw_restricted_plain(data + pos, len - pos, a, 0, &tmp, &used, diag);
		if (e != BW_OK)
			return e;
		pos += used;
	}
	e = bw_restricted_load(data + pos, len - pos, a, main_r, &used, diag);
	if (e != BW_OK)
		return e;
	pos += used;
	e = bw_restricted_plain(data + pos, len - pos, a, 1, &keys, &used, diag);
	if (e != BW_OK)
		return e;
	pos += used;
	src.v = bw_arena_array(a, keys.n_storage_keys + 1, sizeof *src.v);
	if (src.v == NULL)
		return BW_ERR_NOMEM;
	src.n = keys.n_storage_keys;
	bw_rd_init(&rd, data + pos, len - pos, pos);
	/* each storage: i64 element count, then the elements (torch/serialization.py, legacy_load) */
	for (i = 0; i < keys.n_storage_keys; i++) {
		uint64_t numel = bw_rd_u64le(&rd);
		size_t bytes;

		elem = key_elem(main_r, keys.storage_keys[i]);
		if (elem == 0)
			return bw_diag_set(diag, BW_ERR_UNSUPPORTED, bw_rd_off(&rd),
			                   "storage '%s' is not used by any tensor", keys.storage_keys[i]);
		if (!bw_rd_ok(&rd) || numel > SIZE_MAX / elem || numel * elem > bw_rd_left(&rd))
			return bw_diag_set(diag, BW_ERR_TRUNCATED, bw_rd_off(&rd),
			                   "storage '%s' declares more bytes than the file holds",
			                   keys.storage_keys[i]);
		bytes = (size_t)numel * elem;
		src.v[i].key = keys.storage_keys[i];
		src.v[i].len = bytes;
		src.v[i].data = bw_rd_bytes(&rd, bytes);
	}
	cs.user = &src;
	cs.storage = bw_convert_blob_storage;
	return bw_convert_write(main_r, &cs, out, diag);
}

/* ---- PyTorch zip (torch.save default since 1.6) ---- */

#define ZIP_MAX_MEMBER ((uint64_t)16 << 30)

struct zip_src {
	struct bw_zip *z;
	const char *prefix;
	uint8_t **owned;   /* decoded (non-stored) storages, freed after writing */
	size_t n_owned, cap_owned;
};

static const uint8_t *zip_storage(void *user, const char *key, enum bw_dtype dtype, size_t *len,
                                  struct bw_diag *diag)
{
	struct zip_src *s = user;
	struct bw_zip_data zd;
	char name[512];
	long i;

	(void)dtype;
	snprintf(name, sizeof name, "%s/data/%s", s->prefix, key);
	i = bw_zip_find(s->z, name);
	if (i < 0) {
		(void)bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                  "storage '%s' is used by a tensor but the archive has no %s", key, name);
		return NULL;
	}
	if (bw_zip_extract(s->z, (size_t)i, ZIP_MAX_MEMBER, UINT32_MAX, &zd) != BW_OK) {
		bw_free(zd.owned);
		(void)bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "%s cannot be read", name);
		return NULL;
	}
	if (zd.owned != NULL) {
		if (s->n_owned == s->cap_owned) {
			size_t ncap = s->cap_owned ? s->cap_owned * 2 : 16;
			uint8_t **nv = bw_reallocarray(s->owned, ncap, sizeof *nv);
			if (nv == NULL) {
				bw_free(zd.owned);
				(void)bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
				return NULL;
			}
			s->owned = nv;
			s->cap_owned = ncap;
		}
		s->owned[s->n_owned++] = zd.owned;
	}
	*len = zd.len;
	return zd.data;
}

/*
 * PyTorch's reader: the archive name is the first entry's top folder; the
 * pickle is <name>/data.pkl, each storage <name>/data/<key>
 * (caffe2/serialize/inline_container.cc).
 */
static enum bw_err convert_zip(const uint8_t *data, size_t len, struct bw_arena *a,
                               struct bw_rresult *r, struct bw_buf *out, struct bw_diag *diag)
{
	struct bw_zip z;
	struct bw_zip_opts zo;
	struct bw_zip_data pk;
	struct zip_src src;
	struct bw_convert_source cs;
	char prefix[256], name[300];
	const char *slash;
	size_t used, i;
	long pi;
	enum bw_err e;

	memset(&zo, 0, sizeof zo);
	memset(&pk, 0, sizeof pk);
	memset(&src, 0, sizeof src);
	e = bw_zip_open(&z, data, len, &zo, diag);
	if (e != BW_OK)
		return e;
	if (z.n_entries == 0 || (slash = strchr(z.entries[0].name, '/')) == NULL ||
	    (size_t)(slash - z.entries[0].name) >= sizeof prefix) {
		e = bw_diag_set(diag, BW_ERR_UNSUPPORTED, 0, "not a PyTorch zip checkpoint");
		goto out;
	}
	memcpy(prefix, z.entries[0].name, (size_t)(slash - z.entries[0].name));
	prefix[slash - z.entries[0].name] = '\0';
	snprintf(name, sizeof name, "%s/data.pkl", prefix);
	pi = bw_zip_find(&z, name);
	if (pi < 0) {
		e = bw_diag_set(diag, BW_ERR_UNSUPPORTED, 0, "not a PyTorch zip checkpoint (no %s)", name);
		goto out;
	}
	e = bw_zip_extract(&z, (size_t)pi, (uint64_t)1 << 30, UINT32_MAX, &pk);
	if (e != BW_OK) {
		e = bw_diag_set(diag, BW_ERR_MALFORMED, z.entries[pi].data_offset, "%s cannot be read", name);
		goto out;
	}
	e = bw_restricted_load(pk.data, pk.len, a, r, &used, diag);
	if (e != BW_OK)
		goto out;
	src.z = &z;
	src.prefix = prefix;
	cs.user = &src;
	cs.storage = zip_storage;
	e = bw_convert_write(r, &cs, out, diag);
out:
	for (i = 0; i < src.n_owned; i++)
		bw_free(src.owned[i]);
	bw_free(src.owned);
	bw_free(pk.owned);
	bw_zip_close(&z);
	return e;
}

enum bw_err bw_convert_mem(const uint8_t *data, size_t len, struct bw_buf *out,
                           struct bw_convert_report *rep, struct bw_diag *diag)
{
	struct bw_arena a;
	struct bw_rresult r;
	enum bw_err e;

	memset(rep, 0, sizeof *rep);
	bw_arena_init(&a, CONVERT_ARENA_BUDGET);
	if (len >= sizeof legacy_magic && memcmp(data, legacy_magic, sizeof legacy_magic) == 0) {
		rep->input_format = "pytorch-legacy";
		e = convert_legacy(data, len, &a, &r, out, diag);
	} else if (len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0 && bw_convert_is_npz(data, len)) {
		rep->input_format = "numpy-npz";
		e = bw_convert_npz(data, len, &a, &r, out, diag);
	} else if (len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0) {
		rep->input_format = "pytorch-zip";
		e = convert_zip(data, len, &a, &r, out, diag);
	} else if (len >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) {
		rep->input_format = "numpy";
		e = bw_convert_npy(data, len, &a, &r, out, diag);
	} else if (bw_convert_is_torch_tar(data, len)) {
		rep->input_format = "pytorch-tar";
		e = bw_convert_tar(data, len, &a, &r, out, diag);
	} else {
		e = bw_diag_set(diag, BW_ERR_UNSUPPORTED, 0,
		                "not a format this build converts (PyTorch zip, legacy or tar; NumPy "
		                ".npy or .npz)");
	}
	if (e == BW_OK) {
		rep->n_tensors = r.n_tensors;
		rep->n_other_leaves = r.n_other_leaves;
		rep->bytes_written = out->len;
	}
	bw_arena_release(&a);
	return e;
}

enum bw_err bw_convert_file(const char *in_path, const char *out_path,
                            struct bw_convert_report *rep, struct bw_diag *diag)
{
	struct bw_file_map m;
	struct bw_buf out;
	enum bw_err e;

	memset(rep, 0, sizeof *rep);
	bw_buf_init(&out, 0);
	e = bw_file_map(in_path, CONVERT_MAX_INPUT, &m, diag);
	if (e != BW_OK)
		return e;
	e = bw_convert_mem(m.data, m.len, &out, rep, diag);
	if (e == BW_OK)
		e = bw_file_write_atomic(out_path, out.data, out.len, 0, diag);
	bw_file_unmap(&m);
	bw_buf_release(&out);
	return e;
}
