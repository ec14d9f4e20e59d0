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
	int mapped;   /* 1: munmap on release; 2: bw_unreserve (owned_len bytes); 0: bw_free */
	void *owned;
	size_t owned_len;
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
 * read a header only: a safetensors shard, a GGUF file), unless the caller's
 * whole() says from the file's first bytes that its parser reads every byte
 * (a raw pickle, a compressed stream): those, up to BW_READ_WHOLE_MAX bytes
 * (a cost bounded for a file whose parser skips parts after all),
 * are read into a buffer of their own backed by huge pages, freed by
 * bw_file_unmap. Reading a 64 MiB pickle so instead of mapping it halves the
 * whole scan's time there (docs/pickle.md).
 */
#define BW_READ_BUF_MAX ((size_t)8 << 20)
#define BW_READ_WHOLE_MAX ((size_t)128 << 20)
/* Bytes of the file's start that bw_file_load shows whole() (fewer for a shorter file). */
#define BW_READ_HEAD 64u

struct bw_read_buf {
	uint8_t *p;
	size_t cap;
};

/* Does the parser of a file starting with head[0..n) read all of it? 1 yes, 0 no. */
typedef int (*bw_read_whole_fn)(const uint8_t *head, size_t n);

/*
 * bw_file_map, except that a file of at most BW_READ_BUF_MAX bytes is read
 * into rb (grown as needed, kept for the next call; rb NULL: always map),
 * and a bigger one of at most BW_READ_WHOLE_MAX bytes for which whole (may
 * be NULL) returns 1 is read into its own buffer. The bytes in rb stay valid
 * until the next call with rb or bw_read_buf_release; bw_file_unmap(m) is
 * still called (it frees an own buffer or mapping). When memory for a whole
 * read is short, the file is mapped instead. Not thread-safe for one rb.
 */
BW_MUST_CHECK enum bw_err bw_file_load(const char *path, size_t max_len, struct bw_read_buf *rb,
                                       bw_read_whole_fn whole, struct bw_file_map *m,
                                       struct bw_diag *diag);
/* Free rb's buffer (rb NULL allowed); rb is empty afterwards. */
void bw_read_buf_release(struct bw_read_buf *rb);

/* Write all bytes to path atomically (temp file + rename), mode 0644 or 0600. */
BW_MUST_CHECK enum bw_err bw_file_write_atomic(const char *path, const void *p, size_t n,
                                               int private_mode, struct bw_diag *diag);

#endif
