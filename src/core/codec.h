/*
 * core/codec.h - capped one-shot decoders over borrowed bytes
 * (internal; core so that formats can share it without including each other).
 *
 * A codec turns compressed bytes into at most max_out bytes of output. It
 * never produces more than the cap: a stream that would is stopped with
 * BW_ERR_LIMIT (a bomb, or simply too big), the first max_out bytes kept.
 * This is a leaf utility (zlib, libbz2, liblzma, libzstd), not a format
 * parser: it reports nothing to a sink and knows nothing about containers.
 * Thread-safe (no shared state); heap through core/alloc.h.
 */
#ifndef BW_CORE_CODEC_H
#define BW_CORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "core/buf.h"

enum bw_codec {
	BW_CODEC_DEFLATE_RAW, /* RFC 1951 (zip method 8) */
	BW_CODEC_ZLIB,        /* RFC 1950 */
	BW_CODEC_GZIP,        /* RFC 1952, one member */
	BW_CODEC_BZIP2,       /* bzip2 stream ("BZh"), one stream */
	BW_CODEC_XZ,          /* .xz container, one stream */
	BW_CODEC_LZMA_ALONE,  /* legacy .lzma (13-byte header; joblib's lzma) */
	BW_CODEC_LZMA_ZIP,    /* zip method 14: 2-byte version, 2-byte props size, props, raw LZMA1 */
	BW_CODEC_ZSTD,        /* one zstd frame (skippable frames are skipped) */
	BW_CODEC__COUNT
};

/* "deflate", "zlib", ... never NULL. */
const char *bw_codec_name(enum bw_codec c);

struct bw_codec_out {
	size_t consumed; /* input bytes used up to the end of the stream (or where it stopped) */
	int ended;       /* 1 when the codec saw a proper end of stream */
};

/*
 * Decode in[0..in_len) with codec c, appending at most max_out bytes to out
 * (out->max should be at least out->len + max_out). expect_out, when not
 * UINT64_MAX, is the output size the container declares: a stream that has
 * produced exactly that much when its input runs out counts as ended (zip
 * LZMA without an end marker).
 * Returns BW_OK (stream ended; res->consumed tells where), BW_ERR_LIMIT (the
 * output would pass max_out; out holds the first max_out bytes),
 * BW_ERR_TRUNCATED (input ended first), BW_ERR_MALFORMED (corrupt data),
 * BW_ERR_UNSUPPORTED (codec options we do not handle), BW_ERR_NOMEM.
 * res is always filled (consumed = bytes read so far on error).
 */
BW_MUST_CHECK enum bw_err bw_codec_decode(enum bw_codec c, const uint8_t *in, size_t in_len,
                                          uint64_t max_out, uint64_t expect_out,
                                          struct bw_buf *out, struct bw_codec_out *res);

/*
 * Ratio bound: a member may always expand to BW_CODEC_RATIO_FLOOR bytes; past
 * that its output may be at most max_ratio times its compressed size. (Tiny
 * honest streams of zeros exceed any ratio; bombs are about big outputs.)
 */
#define BW_CODEC_RATIO_FLOOR ((uint64_t)1 << 20)

/*
 * Output cap of one member: min(total_left, max(in_len * max_ratio, floor)).
 * max_ratio 0 means no ratio bound. *ratio_bound (non-NULL) is set to 1 when
 * the ratio, not total_left, is the smaller bound, so a LIMIT means a bomb.
 */
uint64_t bw_codec_cap(uint64_t total_left, uint32_t max_ratio, uint64_t in_len, int *ratio_bound);

#endif
