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

/* Append the safetensors serialisation of r to out. */
BW_MUST_CHECK enum bw_err bw_convert_write(const struct bw_rresult *r,
                                           const struct bw_convert_source *src,
                                           struct bw_buf *out, struct bw_diag *diag);

struct bw_convert_report;
/* Convert checkpoint bytes into safetensors bytes appended to out (no file I/O). */
BW_MUST_CHECK enum bw_err bw_convert_mem(const uint8_t *data, size_t len, struct bw_buf *out,
                                         struct bw_convert_report *rep, struct bw_diag *diag);

#endif
