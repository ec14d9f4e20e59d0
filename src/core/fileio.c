/*
 * fileio.c - file mapping and atomic writes. The only place (besides cli/)
 * that opens files for parsers; must never follow a path it was not given.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fileio.h"

static void map_clear(struct bw_file_map *m)
{
	m->data = NULL;
	m->len = 0;
	m->mapped = 0;
	m->owned = NULL;
}

/* Read exactly len bytes of fd from offset 0 into p. */
static enum bw_err read_all(int fd, const char *path, uint8_t *p, size_t len, struct bw_diag *diag)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, p + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return bw_diag_set(diag, BW_ERR_IO, got, "%s: read: %s", path,
			                   n == 0 ? "file shrank while reading" : strerror(errno));
		got += (size_t)n;
	}
	return BW_OK;
}

enum bw_err bw_file_map_fd(int fd, const char *path, size_t max_len,
                           struct bw_file_map *m, struct bw_diag *diag)
{
	struct stat st;
	void *p;
	uint8_t *buf;
	size_t len;
	enum bw_err e;

	map_clear(m);
	if (fstat(fd, &st) != 0)
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "%s: not a regular file", path);
	if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max_len)
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET,
		                   "%s: file of %lld bytes is over the limit of %zu bytes",
		                   path, (long long)st.st_size, max_len);
	len = (size_t)st.st_size;
	if (len == 0) {
		m->data = (const uint8_t *)"";
		return BW_OK;
	}
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p != MAP_FAILED) {
		(void)madvise(p, len, MADV_SEQUENTIAL);
		m->data = p;
		m->len = len;
		m->mapped = 1;
		m->owned = p;
		return BW_OK;
	}
	buf = bw_malloc(len);
	if (buf == NULL)
		return bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "%s: out of memory", path);
	if ((e = read_all(fd, path, buf, len, diag)) != BW_OK) {
		bw_free(buf);
		return e;
	}
	m->data = buf;
	m->len = len;
	m->owned = buf;
	return BW_OK;
}

enum bw_err bw_file_map(const char *path, size_t max_len, struct bw_file_map *m,
                        struct bw_diag *diag)
{
	enum bw_err e;
	int fd;

	map_clear(m);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO,
		                   BW_NO_OFFSET, "%s: open: %s", path, strerror(errno));
	e = bw_file_map_fd(fd, path, max_len, m, diag);
	close(fd);
	return e;
}

void bw_file_unmap(struct bw_file_map *m)
{
	if (m == NULL)
		return;
	if (m->mapped)
		munmap(m->owned, m->len);
	else
		bw_free(m->owned);
	map_clear(m);
}

enum bw_err bw_file_load(const char *path, size_t max_len, struct bw_read_buf *rb,
                         struct bw_file_map *m, struct bw_diag *diag)
{
	struct stat st;
	enum bw_err e;
	int fd;

	map_clear(m);
	if (rb == NULL)
		return bw_file_map(path, max_len, m, diag);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO,
		                   BW_NO_OFFSET, "%s: open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > (uint64_t)BW_READ_BUF_MAX || (uint64_t)st.st_size > (uint64_t)max_len) {
		/* empty, big, not regular, over the limit: the mapping path decides and says why */
		e = bw_file_map_fd(fd, path, max_len, m, diag);
		close(fd);
		return e;
	}
	if ((size_t)st.st_size > rb->cap) {
		/* whole 2 MiB steps: the buffer is backed by huge pages where the kernel can */
		size_t cap = ((size_t)st.st_size + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);

		if (cap < rb->cap * 2)
			cap = rb->cap * 2;
		if (cap > BW_READ_BUF_MAX)
			cap = BW_READ_BUF_MAX;
		bw_read_buf_release(rb);
		rb->p = bw_reserve(cap);
		if (rb->p == NULL) {
			close(fd);
			return bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "%s: out of memory", path);
		}
		rb->cap = cap;
	}
	e = read_all(fd, path, rb->p, (size_t)st.st_size, diag);
	close(fd);
	if (e != BW_OK)
		return e;
	m->data = rb->p;
	m->len = (size_t)st.st_size;
	return BW_OK;
}

void bw_read_buf_release(struct bw_read_buf *rb)
{
	if (rb == NULL)
		return;
	bw_unreserve(rb->p, rb->cap);
	rb->p = NULL;
	rb->cap = 0;
}

enum bw_err bw_file_write_atomic(const char *path, const void *p, size_t n,
                                 int private_mode, struct bw_diag *diag)
{
	char tmp[4096];
	const uint8_t *b = p;
	size_t done = 0;
	ssize_t w;
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, private_mode ? 0600 : 0644);
	if (fd < 0)
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: create: %s", tmp, strerror(errno));
	while (done < n) {
		w = write(fd, b + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int saved = errno;
			close(fd);
			unlink(tmp);
			return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: write: %s", tmp, strerror(saved));
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		unlink(tmp);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: sync: %s", tmp, strerror(errno));
	}
	if (rename(tmp, path) != 0) {
		int saved = errno;
		unlink(tmp);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: rename: %s", path, strerror(saved));
	}
	return BW_OK;
}
