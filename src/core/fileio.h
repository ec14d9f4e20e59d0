/*
 * core/fileio.h - read-only file mapping and whole-file reads (internal).
 *
 * bw_file_map maps a regular file read-only (falls back to reading it when
 * mmap is impossible) so parsers see one contiguous byte range. Files larger
 * than max_len are refused with BW_ERR_LIMIT before any mapping.
 * bw_file_load reads small files into a reusable buffer instead.
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

/*
 * A read buffer reused from one file to the next (one per scanning thread).
 * Mapping a file costs a page-table entry per 4 KiB page touched, and a fresh
 * anonymous buffer a page fault per page; on the virtual machines bulwark is
 * measured on either is several times the cost of copying the bytes with
 * read() into memory that is already mapped. So files up to BW_READ_BUF_MAX
 * bytes are read into this buffer; bigger ones are mapped (their parsers often
 * read a header only: a safetensors shard, a GGUF file).
 */
#define BW_READ_BUF_MAX ((size_t)8 << 20)

struct bw_read_buf {
	uint8_t *p;
	size_t cap;
};

/*
 * bw_file_map, except that a file of at most BW_READ_BUF_MAX bytes is read
 * into rb (grown as needed, kept for the next call; rb NULL: always map).
 * The bytes stay valid until the next call with rb or bw_read_buf_release;
 * bw_file_unmap(m) is still called (it does nothing for them). Not thread-safe
 * for one rb.
 */
BW_MUST_CHECK enum bw_err bw_file_load(const char *path, size_t max_len, struct bw_read_buf *rb,
                                       struct bw_file_map *m, struct bw_diag *diag);
/* Free rb's buffer (rb NULL allowed); rb is empty afterwards. */
void bw_read_buf_release(struct bw_read_buf *rb);

/* Write all bytes to path atomically (temp file + rename), mode 0644 or 0600. */
BW_MUST_CHECK enum bw_err bw_file_write_atomic(const char *path, const void *p, size_t n,
                                               int private_mode, struct bw_diag *diag);

#endif
