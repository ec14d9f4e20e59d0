/*
 * codec.c - capped decoders (zlib, libbz2, liblzma, libzstd). See codec.h.
 *
 * Every decoder writes into a fixed scratch chunk and copies at most what the
 * cap still allows into the output buffer; producing one byte more than the
 * cap stops the stream with BW_ERR_LIMIT. Input is handed to the libraries in
 * slices that fit their length types. Must not allocate more than the cap
 * (plus the libraries' own fixed state).
 */
#include <bzlib.h>
#include <limits.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "core/alloc.h"
#include "core/codec.h"

#define CHUNK 16384u

/* liblzma allocates through our allocator so budgets and failure tests see it. */
static void *lz_alloc(void *opaque, size_t nmemb, size_t size)
{
	(void)opaque;
	return bw_reallocarray(NULL, nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);
}
static void lz_free(void *opaque, void *ptr)
{
	(void)opaque;
	bw_free(ptr);
}
static const lzma_allocator lz_allocator = {lz_alloc, lz_free, NULL};

const char *bw_codec_name(enum bw_codec c)
{
	switch (c) {
	case BW_CODEC_DEFLATE_RAW: return "deflate";
	case BW_CODEC_ZLIB: return "zlib";
	case BW_CODEC_GZIP: return "gzip";
	case BW_CODEC_BZIP2: return "bzip2";
	case BW_CODEC_XZ: return "xz";
	case BW_CODEC_LZMA_ALONE: return "lzma";
	case BW_CODEC_LZMA_ZIP: return "lzma-zip";
	case BW_CODEC_ZSTD: return "zstd";
	case BW_CODEC__COUNT: break;
	}
	return "unknown";
}

/* Append n produced bytes, honouring the cap. */
static enum bw_err emit(struct bw_buf *out, uint64_t max_out, uint64_t *made, const uint8_t *p,
                        size_t n)
{
	uint64_t room = max_out - *made;
	enum bw_err e;

	if ((uint64_t)n > room) {
		e = bw_buf_append(out, p, (size_t)room);
		*made = max_out;
		return e != BW_OK ? e : BW_ERR_LIMIT;
	}
	e = bw_buf_append(out, p, n);
	if (e == BW_ERR_LIMIT) /* the caller's buffer cap is a cap too */
		return BW_ERR_LIMIT;
	if (e != BW_OK)
		return e;
	*made += n;
	return BW_OK;
}

static enum bw_err dec_zlib(int wbits, const uint8_t *in, size_t in_len, uint64_t max_out,
                            uint64_t expect, struct bw_buf *out, struct bw_codec_out *res)
{
	z_stream zs;
	uint8_t chunk[CHUNK];
	size_t fed = 0;
	uint64_t made = 0;
	enum bw_err e = BW_ERR_TRUNCATED;
	int zr;

	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, wbits) != Z_OK)
		return BW_ERR_NOMEM;
	for (;;) {
		if (zs.avail_in == 0 && fed < in_len) {
			size_t n = in_len - fed;

			if (n > UINT_MAX)
				n = UINT_MAX;
			zs.next_in = (Bytef *)(uintptr_t)(in + fed);
			zs.avail_in = (uInt)n;
			fed += n;
		}
		zs.next_out = chunk;
		zs.avail_out = CHUNK;
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR) {
			e = BW_ERR_MALFORMED;
			break;
		}
		if (zr == Z_MEM_ERROR) {
			e = BW_ERR_NOMEM;
			break;
		}
		if (CHUNK - zs.avail_out > 0) {
			e = emit(out, max_out, &made, chunk, CHUNK - zs.avail_out);
			if (e != BW_OK)
				break;
		}
		if (zr == Z_STREAM_END) {
			e = BW_OK;
			res->ended = 1;
			break;
		}
		if (zr == Z_BUF_ERROR && zs.avail_in == 0 && fed >= in_len) {
			e = (expect != UINT64_MAX && made == expect) ? BW_OK : BW_ERR_TRUNCATED;
			break;
		}
	}
	res->consumed = fed - zs.avail_in;
	inflateEnd(&zs);
	return e;
}

static enum bw_err dec_bz2(const uint8_t *in, size_t in_len, uint64_t max_out, uint64_t expect,
                           struct bw_buf *out, struct bw_codec_out *res)
{
	bz_stream bs;
	char chunk[CHUNK];
	size_t fed = 0;
	uint64_t made = 0;
	enum bw_err e = BW_ERR_TRUNCATED;
	int r;

	memset(&bs, 0, sizeof bs);
	if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK)
		return BW_ERR_NOMEM;
	for (;;) {
		unsigned int before_in;

		if (bs.avail_in == 0 && fed < in_len) {
			size_t n = in_len - fed;

			if (n > UINT_MAX)
				n = UINT_MAX;
			bs.next_in = (char *)(uintptr_t)(in + fed);
			bs.avail_in = (unsigned int)n;
			fed += n;
		}
		before_in = bs.avail_in;
		bs.next_out = chunk;
		bs.avail_out = CHUNK;
		r = BZ2_bzDecompress(&bs);
		if (r == BZ_MEM_ERROR) {
			e = BW_ERR_NOMEM;
			break;
		}
		if (r != BZ_OK && r != BZ_STREAM_END) {
			e = BW_ERR_MALFORMED;
			break;
		}
		if (CHUNK - bs.avail_out > 0) {
			e = emit(out, max_out, &made, (const uint8_t *)chunk, CHUNK - bs.avail_out);
			if (e != BW_OK)
				break;
		}
		if (r == BZ_STREAM_END) {
			e = BW_OK;
			res->ended = 1;
			break;
		}
		if (bs.avail_in == 0 && fed >= in_len && bs.avail_out != 0) {
			e = (expect != UINT64_MAX && made == expect) ? BW_OK : BW_ERR_TRUNCATED;
			break;
		}
		if (before_in == bs.avail_in && bs.avail_out == CHUNK && fed >= in_len) {
			e = BW_ERR_TRUNCATED;
			break;
		}
	}
	res->consumed = fed - bs.avail_in;
	BZ2_bzDecompressEnd(&bs);
	return e;
}

/* Zip method 14 (APPNOTE 5.8.8): version(2) props_size(2) props(props_size) raw LZMA1. */
static enum bw_err lzma_zip_init(lzma_stream *ls, const uint8_t *in, size_t in_len, uint64_t max_out,
                                 size_t *hdr)
{
	lzma_options_lzma *opt;
	lzma_filter f[2];
	size_t psz;
	lzma_ret r;

	if (in_len < 4)
		return BW_ERR_TRUNCATED;
	psz = (size_t)in[2] | ((size_t)in[3] << 8);
	if (psz != 5)
		return BW_ERR_UNSUPPORTED;
	if (in_len < 4 + psz)
		return BW_ERR_TRUNCATED;
	f[0].id = LZMA_FILTER_LZMA1;
	f[0].options = NULL;
	f[1].id = LZMA_VLI_UNKNOWN;
	f[1].options = NULL;
	r = lzma_properties_decode(&f[0], &lz_allocator, in + 4, psz);
	if (r == LZMA_MEM_ERROR)
		return BW_ERR_NOMEM;
	if (r != LZMA_OK)
		return BW_ERR_MALFORMED;
	/*
	 * The raw decoder has no memory limit: bound the dictionary here. No match
	 * can reach further back than the output so far, so a dictionary of
	 * max_out bytes decodes everything we will keep.
	 */
	opt = f[0].options;
	if ((uint64_t)opt->dict_size > max_out)
		opt->dict_size = max_out < 4096 ? 4096 : (uint32_t)max_out;
	if (opt->dict_size > (256u << 20)) {
		bw_free(f[0].options);
		return BW_ERR_UNSUPPORTED;
	}
	r = lzma_raw_decoder(ls, f);
	bw_free(f[0].options);
	if (r == LZMA_MEM_ERROR)
		return BW_ERR_NOMEM;
	if (r != LZMA_OK)
		return BW_ERR_MALFORMED;
	*hdr = 4 + psz;
	return BW_OK;
}

static enum bw_err dec_lzma(enum bw_codec c, const uint8_t *in, size_t in_len, uint64_t max_out,
                            uint64_t expect, struct bw_buf *out, struct bw_codec_out *res)
{
	lzma_stream ls = LZMA_STREAM_INIT;
	uint8_t chunk[CHUNK];
	size_t hdr = 0;
	uint64_t made = 0;
	enum bw_err e = BW_ERR_TRUNCATED;
	lzma_ret r;

	ls.allocator = &lz_allocator;
	/* 256 MiB of dictionary/decoder memory at most: a header asking for more is refused. */
	if (c == BW_CODEC_XZ)
		r = lzma_stream_decoder(&ls, 256u << 20, 0);
	else if (c == BW_CODEC_LZMA_ALONE)
		r = lzma_alone_decoder(&ls, 256u << 20);
	else {
		e = lzma_zip_init(&ls, in, in_len, max_out, &hdr);
		if (e != BW_OK) {
			res->consumed = 0;
			return e;
		}
		r = LZMA_OK;
	}
	if (r != LZMA_OK) {
		lzma_end(&ls);
		return r == LZMA_MEM_ERROR ? BW_ERR_NOMEM : BW_ERR_UNSUPPORTED;
	}
	ls.next_in = in + hdr;
	ls.avail_in = in_len - hdr;
	for (;;) {
		ls.next_out = chunk;
		ls.avail_out = CHUNK;
		r = lzma_code(&ls, LZMA_RUN);
		if (CHUNK - ls.avail_out > 0) {
			e = emit(out, max_out, &made, chunk, CHUNK - ls.avail_out);
			if (e != BW_OK)
				break;
		}
		if (r == LZMA_STREAM_END) {
			e = BW_OK;
			res->ended = 1;
			break;
		}
		if (r == LZMA_MEM_ERROR) {
			e = BW_ERR_NOMEM;
			break;
		}
		if (r == LZMA_MEMLIMIT_ERROR || r == LZMA_OPTIONS_ERROR) {
			e = BW_ERR_UNSUPPORTED;
			break;
		}
		if (r == LZMA_BUF_ERROR || (r == LZMA_OK && ls.avail_in == 0 && ls.avail_out != 0)) {
			e = (expect != UINT64_MAX && made == expect) ? BW_OK : BW_ERR_TRUNCATED;
			break;
		}
		if (r != LZMA_OK) {
			e = BW_ERR_MALFORMED;
			break;
		}
	}
	res->consumed = in_len - ls.avail_in;
	lzma_end(&ls);
	return e;
}

static enum bw_err dec_zstd(const uint8_t *in, size_t in_len, uint64_t max_out,
                            struct bw_buf *out, struct bw_codec_out *res)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	uint8_t chunk[CHUNK];
	ZSTD_inBuffer ib = {in, in_len, 0};
	uint64_t made = 0;
	enum bw_err e = BW_ERR_TRUNCATED;

	if (dc == NULL)
		return BW_ERR_NOMEM;
	/* window at most 2^27 (128 MiB), zstd's default limit for untrusted frames */
	if (ZSTD_isError(ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 27))) {
		ZSTD_freeDCtx(dc);
		return BW_ERR_NOMEM;
	}
	for (;;) {
		ZSTD_outBuffer ob = {chunk, CHUNK, 0};
		size_t before = ib.pos;
		size_t r = ZSTD_decompressStream(dc, &ob, &ib);

		if (ZSTD_isError(r)) {
			e = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? BW_ERR_NOMEM
			    : ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge
				    ? BW_ERR_UNSUPPORTED
				    : BW_ERR_MALFORMED;
			break;
		}
		if (ob.pos > 0) {
			e = emit(out, max_out, &made, chunk, ob.pos);
			if (e != BW_OK)
				break;
		}
		if (r == 0) { /* a frame is complete */
			e = BW_OK;
			res->ended = 1;
			break;
		}
		if (ib.pos == in_len && ob.pos < CHUNK) {
			e = BW_ERR_TRUNCATED;
			break;
		}
		if (ib.pos == before && ob.pos == 0) {
			e = BW_ERR_TRUNCATED;
			break;
		}
	}
	res->consumed = ib.pos;
	ZSTD_freeDCtx(dc);
	return e;
}

enum bw_err bw_codec_decode(enum bw_codec c, const uint8_t *in, size_t in_len, uint64_t max_out,
                            uint64_t expect_out, struct bw_buf *out, struct bw_codec_out *res)
{
	res->consumed = 0;
	res->ended = 0;
	if (in == NULL && in_len > 0)
		return BW_ERR_ARG;
	if (in == NULL)
		in = (const uint8_t *)"";
	switch (c) {
	case BW_CODEC_DEFLATE_RAW: return dec_zlib(-15, in, in_len, max_out, expect_out, out, res);
	case BW_CODEC_ZLIB: return dec_zlib(15, in, in_len, max_out, expect_out, out, res);
	case BW_CODEC_GZIP: return dec_zlib(16 + 15, in, in_len, max_out, expect_out, out, res);
	case BW_CODEC_BZIP2: return dec_bz2(in, in_len, max_out, expect_out, out, res);
	case BW_CODEC_XZ:
	case BW_CODEC_LZMA_ALONE:
	case BW_CODEC_LZMA_ZIP: return dec_lzma(c, in, in_len, max_out, expect_out, out, res);
	case BW_CODEC_ZSTD: return dec_zstd(in, in_len, max_out, out, res);
	case BW_CODEC__COUNT: break;
	}
	return BW_ERR_ARG;
}

uint64_t bw_codec_cap(uint64_t total_left, uint32_t max_ratio, uint64_t in_len, int *ratio_bound)
{
	uint64_t r;

	*ratio_bound = 0;
	if (max_ratio == 0)
		return total_left;
	if (__builtin_mul_overflow(in_len, (uint64_t)max_ratio, &r))
		r = UINT64_MAX;
	if (r < BW_CODEC_RATIO_FLOOR)
		r = BW_CODEC_RATIO_FLOOR;
	if (r < total_left) {
		*ratio_bound = 1;
		return r;
	}
	return total_left;
}
