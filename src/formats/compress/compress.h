/*
 * formats/compress/compress.h - single compressed streams: gzip (multi-member),
 * zlib, bzip2, xz, legacy lzma ("alone", joblib), zstd, joblib's old "ZF" files.
 *
 * Detects by magic only, decompresses under the caps of sink->lim and hands
 * the decompressed bytes back as ONE member ("<gzip>", "<zlib>", ...).
 */
#ifndef BW_FORMATS_COMPRESS_COMPRESS_H
#define BW_FORMATS_COMPRESS_COMPRESS_H

#include "formats/fmt.h"

int bw_compress_detect(const uint8_t *data, size_t len);
BW_MUST_CHECK enum bw_err bw_compress_scan(const uint8_t *data, size_t len,
                                           const struct bw_fmt_sink *sink);

#endif
