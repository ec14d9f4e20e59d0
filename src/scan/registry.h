/*
 * scan/registry.h - the table of format parsers, dispatched by content.
 * Formats are listed in scan/formats.def (one line each); detection asks
 * every format for a confidence and runs the most confident one.
 */
#ifndef BW_SCAN_REGISTRY_H
#define BW_SCAN_REGISTRY_H

#include "formats/fmt.h"

struct bw_format {
	const char *name;
	int (*detect)(const uint8_t *data, size_t len);
	enum bw_err (*scan)(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);
};

struct bw_candidate {
	const struct bw_format *fmt;
	int score;
};

/*
 * Every format that claims these bytes (score > 0), most confident first
 * (ties in table order). Returns how many were written (at most max).
 */
size_t bw_registry_candidates(const uint8_t *data, size_t len, struct bw_candidate *out, size_t max);

/* The most confident format for these bytes, or NULL when none claims them. */
const struct bw_format *bw_registry_detect(const uint8_t *data, size_t len, int *score);
size_t bw_registry_count(void);
const struct bw_format *bw_registry_at(size_t i);

#endif
