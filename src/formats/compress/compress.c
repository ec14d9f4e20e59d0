/*
 * compress.c - scan a single compressed stream (see compress.h).
 *
 * Detection is by magic bytes only. The stream is decompressed under the caps
 * of sink->lim (max_total_unpacked, max_ratio; see codec.h for the ratio
 * floor) and the output is handed back as one member. Concatenated streams of
 * the same kind are joined, as Python's gzip/bz2/lzma modules join them.
 * Must not: hand back more than the cap, read past the input, guess a format
 * it cannot tell (a zlib stream is "zlib", not "joblib", unless the joblib
 * "ZF" header says so).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/codec.h"
#include "formats/compress/compress.h"

enum kind {
	K_NONE,
	K_GZIP,
	K_ZLIB,
	K_BZIP2,
	K_XZ,
	K_LZMA,
	K_ZSTD,
	K_ZFILE
};

/* joblib < 0.9.3 "ZF" files: "ZF", the hex length left-justified to 19 bytes, zlib data. */
#define ZFILE_HDR 21u

static int is_zlib_hdr(const uint8_t *d, size_t len)
{
	/* RFC 1950 2.2: CM = 8, CINFO <= 7, FCHECK makes CMF*256+FLG a multiple of 31, no FDICT. */
	if (len < 2 || (d[0] & 0x0f) != 8 || (d[0] >> 4) > 7)
		return 0;
	if (((unsigned)d[0] * 256u + d[1]) % 31u != 0)
		return 0;
	return (d[1] & 0x20) == 0;
}

static int is_lzma_alone(const uint8_t *d, size_t len)
{
	uint32_t dict;
	uint64_t usz = 0;
	int i;

	/* props byte (lc+lp*9+pb*45 < 225), dict size LE32, uncompressed size LE64 (or -1) */
	if (len < 13 || d[0] >= 225)
		return 0;
	dict = (uint32_t)d[1] | ((uint32_t)d[2] << 8) | ((uint32_t)d[3] << 16) | ((uint32_t)d[4] << 24);
	if (dict == 0 || (dict & (dict - 1)) != 0) {
		/* liblzma writes 2^n or 2^n + 2^(n-1) */
		uint32_t top = dict;

		while (top & (top - 1))
			top &= top - 1;
		if (dict != top + (top >> 1))
			return 0;
	}
	for (i = 0; i < 8; i++)
		usz |= (uint64_t)d[5 + i] << (8 * i);
	return usz == UINT64_MAX || usz < ((uint64_t)1 << 48);
}

static enum kind kind_of(const uint8_t *d, size_t len)
{
	if (len >= 3 && d[0] == 0x1f && d[1] == 0x8b && d[2] == 8)
		return K_GZIP;
	if (len >= 6 && memcmp(d, "\xfd" "7zXZ\0", 6) == 0)
		return K_XZ;
	if (len >= 4 && memcmp(d, "\x28\xb5\x2f\xfd", 4) == 0)
		return K_ZSTD;
	if (len >= 10 && d[0] == 'B' && d[1] == 'Z' && d[2] == 'h' && d[3] >= '1' && d[3] <= '9' &&
	    (memcmp(d + 4, "\x31\x41\x59\x26\x53\x59", 6) == 0 ||
	     memcmp(d + 4, "\x17\x72\x45\x38\x50\x90", 6) == 0))
		return K_BZIP2;
	if (len >= ZFILE_HDR + 2 && d[0] == 'Z' && d[1] == 'F' && d[2] == '0' && d[3] == 'x' &&
	    is_zlib_hdr(d + ZFILE_HDR, len - ZFILE_HDR))
		return K_ZFILE;
	if (is_zlib_hdr(d, len))
		return K_ZLIB;
	if (len >= 13 && d[0] == 0x5d && is_lzma_alone(d, len))
		return K_LZMA;
	return K_NONE;
}

/*
 * A two-byte zlib header (RFC 1950) matches one in about 1,000 random byte
 * pairs - raw tensor storages included. Inflate the first KiB: only a stream
 * that decodes so far is a zlib claim; one that is corrupt at once is a weak
 * claim (fmt.h), kept for whole files so a broken joblib file is still
 * reported as not fully scanned.
 */
static int zlib_plausible(const uint8_t *data, size_t len)
{
	z_stream zs;
	uint8_t out[4096];
	int rc;

	memset(&zs, 0, sizeof zs);
	if (inflateInit(&zs) != Z_OK)
		return 1; /* cannot tell: keep the claim */
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)(len < 1024 ? len : 1024);
	do {
		zs.next_out = out;
		zs.avail_out = sizeof out;
		rc = inflate(&zs, Z_NO_FLUSH);
	} while (rc == Z_OK && zs.avail_in > 0 && zs.total_out < (1u << 20));
	inflateEnd(&zs);
	return rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR;
}

int bw_compress_detect(const uint8_t *data, size_t len)
{
	if (data == NULL)
		return 0;
	switch (kind_of(data, len)) {
	case K_GZIP: case K_XZ: case K_ZSTD: case K_BZIP2: case K_ZFILE: return 90;
	case K_ZLIB: return zlib_plausible(data, len) ? 60 : BW_DETECT_WEAK;
	case K_LZMA: return 50;
	case K_NONE: break;
	}
	return 0;
}

static void fmsg(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt,
                 ...) BW_PRINTF(4, 5);
static void fmsg(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
{
	char m[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->finding(s->user, rule, off, m);
}

static void imsg(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt,
                 ...) BW_PRINTF(4, 5);
static void imsg(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
{
	char m[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->incomplete(s->user, why, off, m);
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

enum bw_err bw_compress_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	enum kind k;
	enum bw_codec codec = BW_CODEC_GZIP;
	const char *fmt = "gzip", *mname = "<gzip>";
	size_t start = 0, pos;
	struct bw_buf out;
	uint64_t total, cap;
	int ratio_bound, streams = 0;
	enum bw_err e, ret = BW_OK;

	if (data == NULL || sink == NULL)
		return BW_ERR_ARG;
	k = kind_of(data, len);
	switch (k) {
	case K_GZIP: break;
	case K_ZLIB: codec = BW_CODEC_ZLIB; fmt = "zlib"; mname = "<zlib>"; break;
	case K_ZFILE:
		codec = BW_CODEC_ZLIB; fmt = "joblib-zfile"; mname = "<zlib>"; start = ZFILE_HDR;
		break;
	case K_BZIP2: codec = BW_CODEC_BZIP2; fmt = "bzip2"; mname = "<bzip2>"; break;
	case K_XZ: codec = BW_CODEC_XZ; fmt = "xz"; mname = "<xz>"; break;
	case K_LZMA: codec = BW_CODEC_LZMA_ALONE; fmt = "lzma"; mname = "<lzma>"; break;
	case K_ZSTD: codec = BW_CODEC_ZSTD; fmt = "zstd"; mname = "<zstd>"; break;
	case K_NONE:
		sink->incomplete(sink->user, BW_ERR_MALFORMED, 0, "not a known compressed stream");
		return BW_OK;
	}
	if (sink->format != NULL)
		sink->format(sink->user, fmt);

	total = sink->lim->max_total_unpacked;
	cap = bw_codec_cap(total, sink->lim->max_ratio, len - start, &ratio_bound);
	bw_buf_init(&out, cap >= SIZE_MAX / 2 ? 0 : (size_t)cap);
	pos = start;
	for (;;) {
		struct bw_codec_out r;

		e = bw_codec_decode(codec, data + pos, len - pos, cap - out.len, UINT64_MAX, &out, &r);
		streams++;
		if (e == BW_ERR_NOMEM) {
			ret = e;
			goto out;
		}
		if (e == BW_ERR_LIMIT) {
			if (ratio_bound) {
				fmsg(sink, "compress.bomb", pos,
				     "%s stream expands past %u times its %zu compressed bytes", fmt,
				     sink->lim->max_ratio, len - start);
			}
			imsg(sink, BW_ERR_LIMIT, pos, "%s output passes the %llu-byte cap; scanned the first part only",
			     fmt, (unsigned long long)cap);
			break;
		}
		if (e != BW_OK) {
			imsg(sink, e, pos + r.consumed, "%s stream %d: %s after %zu output bytes", fmt,
			     streams, e == BW_ERR_TRUNCATED ? "ends before its end marker" : "corrupt data",
			     out.len);
			break;
		}
		pos += r.consumed;
		if (pos >= len)
			break;
		/* Another stream of the same kind follows: decoders of this format join them. */
		if (k != K_ZLIB && k != K_ZFILE && k != K_LZMA && kind_of(data + pos, len - pos) == k &&
		    r.consumed > 0 && streams < 1024)
			continue;
		if (k == K_GZIP && all_zero(data + pos, len - pos))
			break; /* Python's gzip reader skips zero padding after a member */
		fmsg(sink, "compress.trailing-data", pos, "%zu bytes after the end of the %s stream", len - pos,
		     fmt);
		break;
	}
	e = sink->member(sink->user, mname, out.data != NULL ? out.data : (const uint8_t *)"", out.len,
	                 start);
	if (e == BW_ERR_NOMEM)
		ret = e;
out:
	bw_buf_release(&out);
	return ret;
}
