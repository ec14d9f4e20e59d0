/*
 * convert/convert_internal.h - pieces of bulwark convert shared between the
 * input readers (convert.c) and the safetensors writer.
 */
#ifndef BW_CONVERT_INTERNAL_H
#define BW_CONVERT_INTERNAL_H

#include "convert/restricted.h"
#include "core/buf.h"

/* Where the bytes of a storage come from (zip member, legacy stream, tar member). */
struct bw_convert_source {
	void *user;
	/*
	 * Bytes of storage `key` holding elements of dtype; valid until the source
	 * is released. NULL (with diag set) when the storage is missing.
	 */
	const uint8_t *(*storage)(void *user, const char *key, enum bw_dtype dtype, size_t *len,
	                          struct bw_diag *diag);
};

/* A storage source over a table of named byte ranges (legacy, tar, NumPy inputs). */
struct bw_convert_blob {
	const char *key;
	const uint8_t *data;
	size_t len; /* bytes */
};

struct bw_convert_blobs {
	struct bw_convert_blob *v;
	size_t n;
};

/* bw_convert_source.storage over a struct bw_convert_blobs (user): first entry named key. */
const uint8_t *bw_convert_blob_storage(void *user, const char *key, enum bw_dtype dtype,
                                       size_t *len, struct bw_diag *diag);

/* Append the safetensors serialisation of r to out. */
BW_MUST_CHECK enum bw_err bw_convert_write(const struct bw_rresult *r,
                                           const struct bw_convert_source *src,
                                           struct bw_buf *out, struct bw_diag *diag);

struct bw_convert_report;
/* Convert checkpoint bytes into safetensors bytes appended to out (no file I/O). */
BW_MUST_CHECK enum bw_err bw_convert_mem(const uint8_t *data, size_t len, struct bw_buf *out,
                                         struct bw_convert_report *rep, struct bw_diag *diag);

/*
 * The input readers other than PyTorch zip/legacy (convert_numpy.c,
 * convert_tar.c). Each fills r (arena memory) and appends the safetensors
 * bytes to out; errors as bw_convert_file, with diag naming the member and
 * byte offset. Refusals (objects outside the subset) are BW_ERR_UNSUPPORTED
 * with a message starting "refusing to convert".
 */
BW_MUST_CHECK enum bw_err bw_convert_npy(const uint8_t *data, size_t len, struct bw_arena *a,
                                         struct bw_rresult *r, struct bw_buf *out,
                                         struct bw_diag *diag);
BW_MUST_CHECK enum bw_err bw_convert_npz(const uint8_t *data, size_t len, struct bw_arena *a,
                                         struct bw_rresult *r, struct bw_buf *out,
                                         struct bw_diag *diag);
BW_MUST_CHECK enum bw_err bw_convert_tar(const uint8_t *data, size_t len, struct bw_arena *a,
                                         struct bw_rresult *r, struct bw_buf *out,
                                         struct bw_diag *diag);
/* 1 when the zip archive at data has a member named *.npy (an .npz). */
int bw_convert_is_npz(const uint8_t *data, size_t len);
/* 1 when data is a tar archive holding the members of a PyTorch tar checkpoint. */
int bw_convert_is_torch_tar(const uint8_t *data, size_t len);

#endif
