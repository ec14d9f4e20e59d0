/*
 * core/fileio.h - read-only file mapping and whole-file reads (internal).
 *
 * bw_file_map maps a regular file read-only (falls back to reading it when
 * mmap is impossible) so parsers see one contiguous byte range. Files larger
 * than max_len are refused with BW_ERR_LIMIT before any mapping.
 * Thread-safe (no shared state).
 */
#ifndef BW_CORE_FILEIO_H
#define BW_CORE_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

struct bw_file_map {
	const uint8_t *data;
	size_t len;
	int mapped;   /* 1: munmap on release; 0: bw_free */
	void *owned;
};

/* On success *m is filled; on failure *m is empty and errno-derived diag set. */
BW_MUST_CHECK enum bw_err bw_file_map(const char *path, size_t max_len,
                                      struct bw_file_map *m, struct bw_diag *diag);
/* Same, from an already open descriptor (not closed). */
BW_MUST_CHECK enum bw_err bw_file_map_fd(int fd, const char *path, size_t max_len,
                                         struct bw_file_map *m, struct bw_diag *diag);
void bw_file_unmap(struct bw_file_map *m);

/* Write all bytes to path atomically (temp file + rename), mode 0644 or 0600. */
BW_MUST_CHECK enum bw_err bw_file_write_atomic(const char *path, const void *p, size_t n,
                                               int private_mode, struct bw_diag *diag);

#endif
