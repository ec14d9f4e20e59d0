/*
 * formats/zip/zip.h - a zip reader that reads what PyTorch's loader reads
 * (internal API for the scan parser, and later the Keras/npz readers and
 * `bulwark convert`), plus the scan entry points of the "zip" format.
 *
 * Reading model (docs/containers.md has the long version):
 *  - the end of central directory record (EOCD) is the LAST "PK\5\6" at least
 *    22 bytes before the end, searched in the last 64 KiB + 22 bytes (miniz's
 *    mz_zip_reader_locate_header_sig, which PyTorchStreamReader uses; Python's
 *    zipfile picks the same record); a ZIP64 locator right before it makes the
 *    ZIP64 EOCD authoritative (APPNOTE 4.3.14-4.3.15);
 *  - the central directory is walked by the EOCD's entry count (miniz) AND by
 *    its byte size (zipfile); entries either reader would see are returned;
 *  - names, sizes, CRC, method and local header offset come from the central
 *    directory; the data starts after the LOCAL header's name and extra field;
 *  - offsets are absolute as written (miniz); when the central directory is
 *    only found after shifting every offset by the prepended bytes (zipfile's
 *    "concat" rule) the shift is applied and reported;
 *  - CRC-32 is checked by bw_zip_extract (PyTorch builds miniz with
 *    MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS and never checks it; zipfile does).
 * Every difference between the two readers and every structural trick is
 * reported through bw_zip_opts.anomaly with a rule id of
 * rules/30-container-anomalies.rules; opening never fails because of one.
 *
 * Memory: entries and names live in the bw_zip's arena (budget given in the
 * options); extraction output is heap (core/alloc.h) owned by the caller.
 * Thread safety: a struct bw_zip is immutable after bw_zip_open and may be
 * read (bw_zip_extract) from several threads at once.
 */
#ifndef BW_FORMATS_ZIP_ZIP_H
#define BW_FORMATS_ZIP_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "core/arena.h"
#include "formats/fmt.h"

/* General purpose flag bits (APPNOTE 4.4.4). */
#define BW_ZIP_FLAG_ENCRYPTED  0x0001u
#define BW_ZIP_FLAG_DESCRIPTOR 0x0008u
#define BW_ZIP_FLAG_PATCHED    0x0020u
#define BW_ZIP_FLAG_STRONG_ENC 0x0040u
#define BW_ZIP_FLAG_UTF8       0x0800u
#define BW_ZIP_FLAG_MASKED_CD  0x2000u

/* Compression methods (APPNOTE 4.4.5) that bw_zip_extract decodes. */
#define BW_ZIP_STORED  0u
#define BW_ZIP_DEFLATE 8u
#define BW_ZIP_BZIP2   12u
#define BW_ZIP_LZMA    14u
#define BW_ZIP_ZSTD    93u
#define BW_ZIP_XZ      95u

struct bw_zip_entry {
	const char *name;        /* central directory name, NUL-terminated copy */
	size_t name_len;         /* bytes as stored (a NUL inside is kept in name_len) */
	uint16_t flags;          /* central general purpose bits */
	uint16_t method;         /* central compression method */
	uint32_t crc32;          /* central CRC-32 */
	uint64_t comp_size;      /* central sizes, ZIP64-resolved */
	uint64_t uncomp_size;
	uint64_t lho;            /* absolute local header offset (after any prefix shift) */
	uint64_t cd_pos;         /* absolute offset of this central directory record */
	int local_ok;            /* 1 when the local header was read */
	uint64_t data_offset;    /* absolute offset of the data (valid when local_ok) */
	uint64_t data_end;       /* data_offset + comp_size, clamped to the input */
	int data_complete;       /* 1 when all comp_size bytes are inside the input */
	int in_count;            /* 1 when inside the EOCD count (PyTorch/miniz sees it) */
};

struct bw_zip {
	const uint8_t *data;
	size_t len;
	struct bw_zip_entry *entries; /* in central directory order */
	size_t n_entries;
	uint64_t eocd_offset;
	uint64_t cd_offset;       /* absolute, after any prefix shift */
	uint64_t cd_size;
	uint64_t declared_count;  /* entries according to the (ZIP64) EOCD */
	uint64_t shift;           /* bytes prepended without fixing offsets (zipfile's concat) */
	uint64_t prefix_len;      /* bytes before the first local header / central directory */
	uint64_t end;             /* offset just past the EOCD record and its comment */
	int zip64;
	int truncated_cd;         /* 1 when the central directory walk stopped early */
	struct bw_arena arena;
};

struct bw_zip_opts {
	uint32_t max_entries;     /* central directory records to read (0: 1,000,000) */
	uint64_t mem_budget;      /* arena bytes for entries and names (0: unlimited) */
	/* Anomalies and incompleteness (both may be NULL): */
	void *user;
	void (*anomaly)(void *user, const char *rule, uint64_t offset, const char *msg);
	void (*incomplete)(void *user, enum bw_err why, uint64_t offset, const char *msg);
};

/*
 * Read the archive structure of data[0..len) (borrowed: must outlive z).
 * z is initialised by this call in every case; release with bw_zip_close.
 * Returns BW_OK when an EOCD and a central directory were found (entries may
 * still be fewer than declared: see truncated_cd and the incomplete callback),
 * BW_ERR_MALFORMED when there is no usable EOCD/central directory,
 * BW_ERR_UNSUPPORTED for split (multi-disk) archives, BW_ERR_NOMEM (allocation
 * or mem_budget), BW_ERR_ARG (NULL z/opts, or NULL data with len > 0).
 * diag (may be NULL) says which check failed and where.
 */
BW_MUST_CHECK enum bw_err bw_zip_open(struct bw_zip *z, const uint8_t *data, size_t len,
                                      const struct bw_zip_opts *opts, struct bw_diag *diag);
/* Free everything bw_zip_open allocated; NULL and repeated calls allowed. */
void bw_zip_close(struct bw_zip *z);

/* Index of the first entry whose name equals name exactly, or -1. */
long bw_zip_find(const struct bw_zip *z, const char *name);

struct bw_zip_data {
	const uint8_t *data;  /* the member's bytes (into the input for stored entries) */
	size_t len;
	uint8_t *owned;       /* heap buffer to bw_free() when decoded, else NULL */
	int crc_ok;           /* 1 when CRC-32 of the bytes equals the central CRC */
	int ratio_limited;    /* 1 when output stopped at the ratio bound (a bomb) */
};

/*
 * Extract entry i into out (cleared first). max_out caps the decoded bytes;
 * max_ratio bounds output/compressed size past BW_CODEC_RATIO_FLOOR (0 = no
 * bound). Stored entries are returned without copying.
 * Returns BW_OK; BW_ERR_LIMIT when the output passed max_out or the ratio
 * (out holds the first bytes, out->ratio_limited says which);
 * BW_ERR_TRUNCATED (data past the end of input or an unfinished stream: out
 * holds what was decoded); BW_ERR_MALFORMED (corrupt stream, no local header);
 * BW_ERR_UNSUPPORTED (encrypted, or a method not listed above); BW_ERR_NOMEM;
 * BW_ERR_ARG (i out of range). The caller frees out->owned in every case.
 */
BW_MUST_CHECK enum bw_err bw_zip_extract(const struct bw_zip *z, size_t i, uint64_t max_out,
                                         uint32_t max_ratio, struct bw_zip_data *out);

/* ---- the "zip" format of the scan engine (formats/fmt.h) ---- */
int bw_zip_detect(const uint8_t *data, size_t len);
BW_MUST_CHECK enum bw_err bw_zip_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

#endif
