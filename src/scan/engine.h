/*
 * scan/engine.h - internal helpers of the scan engine shared with the walker.
 */
#ifndef BW_SCAN_ENGINE_H
#define BW_SCAN_ENGINE_H

#include "bulwark/scan.h"
#include "core/fileio.h"

/* Recompute verdict and max_severity from findings and incompleteness. */
void bw_result_finish(struct bw_scan_result *r);
/* Mark a result as not scanned at all because of err (e.g. unreadable). */
void bw_result_set_error(struct bw_scan_result *r, enum bw_err err, uint64_t offset,
                         const char *msg);
/*
 * A result for a path that was not scanned, with one finding of anomaly rule
 * `rule` (a string with static lifetime) and msg; incomplete when asked.
 */
BW_MUST_CHECK enum bw_err bw_result_new_note(const char *path, const struct bw_scan_opts *o,
                                             const char *rule, const char *msg, int incomplete,
                                             struct bw_scan_result **out);
/* A result for a path that could not be read at all: no finding, incomplete. */
BW_MUST_CHECK enum bw_err bw_result_new_error(const char *path, enum bw_err err, const char *msg,
                                              struct bw_scan_result **out);

/*
 * 1 when the file starting with h[0..n) is read whole by its parser (a pickle
 * with PROTO that is not PyTorch's legacy format nor a joblib array, gzip,
 * bzip2, xz): bw_scan_file_buf then reads a big one instead of mapping it.
 */
int bw_scan_reads_whole(const uint8_t *h, size_t n);

/*
 * bw_scan_file, reading a small file into rb (reused from one file to the
 * next by one thread; NULL: map every file). See bw_file_load.
 */
BW_MUST_CHECK enum bw_err bw_scan_file_buf(const struct bw_scan_opts *o, const char *path,
                                           struct bw_read_buf *rb, struct bw_scan_result **out);

/* Install the worker handler table for direct forks (idempotent). */
void bw_scan_workers_init(void);

#endif
