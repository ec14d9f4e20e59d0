/*
 * formats/archive/archive_fmt.h - archive kinds read through libarchive:
 * 7z, RAR (4 and 5), CAB, ISO 9660, cpio, xar, ar. (zip and tar have their
 * own readers in formats/zip and formats/tar and are never given to
 * libarchive; nor are compressed streams, see formats/compress.)
 */
#ifndef BW_FORMATS_ARCHIVE_ARCHIVE_FMT_H
#define BW_FORMATS_ARCHIVE_ARCHIVE_FMT_H

#include "formats/fmt.h"

int bw_archive_detect(const uint8_t *data, size_t len);
BW_MUST_CHECK enum bw_err bw_archive_scan(const uint8_t *data, size_t len,
                                          const struct bw_fmt_sink *sink);

/*
 * The same reader WITHOUT the sandbox (no fork, no rlimits, no seccomp): for
 * the fuzz target (forking under libFuzzer+ASan deadlocks on the fuzzer's own
 * threads) and for callers already confined. Never for ordinary scans.
 */
BW_MUST_CHECK enum bw_err bw_archive_scan_inproc(const uint8_t *data, size_t len,
                                                 const struct bw_fmt_sink *sink);

#endif
