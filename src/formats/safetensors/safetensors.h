/*
 * formats/safetensors/safetensors.h - safetensors structural checks (scan side).
 *
 * Contract: src/formats/fmt.h. The parser validates the 8-byte header length,
 * the JSON header, every tensor's dtype/shape/data_offsets and __metadata__,
 * following the reference loader (huggingface/safetensors, tensor.rs
 * read_metadata + Metadata::validate). It never loads tensor data.
 * Thread-safe: no global state besides jansson's (thread-safe since 2.x).
 */
#ifndef BW_FORMATS_SAFETENSORS_H
#define BW_FORMATS_SAFETENSORS_H

#include "formats/fmt.h"

/* Largest JSON header the reference loader accepts (MAX_HEADER_SIZE, 100 MB). */
#define BW_ST_MAX_HEADER ((uint64_t)100000000)
/* Largest __metadata__ entry count and one value we look at. */
#define BW_ST_MAX_META_ENTRIES 4096u
#define BW_ST_MAX_META_VALUE ((size_t)1 << 20)

int bw_safetensors_detect(const uint8_t *data, size_t len);
enum bw_err bw_safetensors_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

#endif
