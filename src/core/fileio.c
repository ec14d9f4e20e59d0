/*
 * fileio.c - file mapping and atomic writes. The only place (besides cli/)
 * that opens files for parsers; must never follow a path it was not given.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
	m->owned_len = 0;
}

/* Read exactly len bytes of fd from offset off into p. */
static enum bw_err read_range(int fd, const char *path, uint8_t *p, size_t off, size_t len,
                              struct bw_diag *diag)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, p + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return bw_diag_set(diag, BW_ERR_IO, off + got, "%s: read: %s", path,
			                   n == 0 ? "file shrank while reading" : strerror(errno));
		got += (size_t)n;
	}
	return BW_OK;
}

/* Read exactly len bytes of fd from offset 0 into p. */
static enum bw_err read_all(int fd, const char *path, uint8_t *p, size_t len, struct bw_diag *diag)
{
	return read_range(fd, path, p, 0, len, diag);
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
	if (m->mapped == 2)
		bw_unreserve(m->owned, m->owned_len);
	else if (m->mapped)
		munmap(m->owned, m->len);
	else
		bw_free(m->owned);
	map_clear(m);
}

/* 2 MiB steps: a buffer of whole huge pages where the kernel has them. */
static size_t huge_round(size_t n)
{
	return (n + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
}

/* The second half of a whole read, on a thread of its own. */
struct half_read {
	int fd;
	const char *path;
	uint8_t *p;
	size_t off, len;
	struct bw_diag diag;
	enum bw_err e;
};

static void *half_read_main(void *arg)
{
	struct half_read *h = arg;

	h->e = read_range(h->fd, h->path, h->p + h->off, h->off, h->len, &h->diag);
	return NULL;
}

/* Whole reads at least this big are split between two threads. */
#define WHOLE_SPLIT_MIN ((size_t)16 << 20)

/*
 * A file bigger than the reusable buffer that whole() wants read: into a
 * reservation of its own (m->mapped 2). BW_OK with m filled; BW_ERR_NOMEM
 * (nothing set) when there is no memory for it, so the caller maps instead;
 * BW_ERR_IO from the read. Most of the time of such a read goes to the kernel
 * clearing and filling fresh pages, so a big file is read in two halves at
 * once, one on a second thread (when one can be started).
 */
static enum bw_err load_whole(int fd, const char *path, size_t len, struct bw_file_map *m,
                              struct bw_diag *diag)
{
	size_t cap = huge_round(len);
	uint8_t *p = bw_reserve(cap);
	struct half_read h;
	pthread_t t;
	int split;
	enum bw_err e;

	if (p == NULL)
		return BW_ERR_NOMEM;
	memset(&h, 0, sizeof h);
	h.fd = fd;
	h.path = path;
	h.p = p;
	h.off = huge_round(len / 2); /* the halves start on huge-page boundaries */
	h.len = len - h.off;
	split = len >= WHOLE_SPLIT_MIN && pthread_create(&t, NULL, half_read_main, &h) == 0;
	e = read_all(fd, path, p, split ? h.off : len, diag);
	if (split) {
		pthread_join(t, NULL);
		if (e == BW_OK && h.e != BW_OK) {
			e = h.e;
			if (diag != NULL)
				*diag = h.diag;
		}
	}
	if (e != BW_OK) {
		bw_unreserve(p, cap);
		return e;
	}
	m->data = p;
	m->len = len;
	m->mapped = 2;
	m->owned = p;
	m->owned_len = cap;
	return BW_OK;
}

/* 1 when whole() wants the len-byte file read (its first bytes read with pread). */
static int wants_whole(int fd, size_t len, bw_read_whole_fn whole)
{
	uint8_t head[BW_READ_HEAD];
	size_t n = len < sizeof head ? len : sizeof head;
	ssize_t got;

	if (whole == NULL || len <= BW_READ_BUF_MAX || len > BW_READ_WHOLE_MAX)
		return 0;
	do
		got = pread(fd, head, n, 0);
	while (got < 0 && errno == EINTR);
	return got > 0 && whole(head, (size_t)got) == 1;
}

enum bw_err bw_file_load(const char *path, size_t max_len, struct bw_read_buf *rb,
                         bw_read_whole_fn whole, struct bw_file_map *m, struct bw_diag *diag)
{
	struct stat st;
	enum bw_err e;
	int fd;

	map_clear(m);
	if (rb == NULL && whole == NULL)
		return bw_file_map(path, max_len, m, diag);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO,
		                   BW_NO_OFFSET, "%s: open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > (uint64_t)max_len ||
	    ((rb == NULL || (uint64_t)st.st_size > (uint64_t)BW_READ_BUF_MAX) &&
	     !wants_whole(fd, (size_t)st.st_size, whole))) {
		/* empty, big, not regular, over the limit: the mapping path decides and says why */
		e = bw_file_map_fd(fd, path, max_len, m, diag);
		close(fd);
		return e;
	}
	if (rb == NULL || (size_t)st.st_size > BW_READ_BUF_MAX) {
		e = load_whole(fd, path, (size_t)st.st_size, m, diag);
		if (e == BW_ERR_NOMEM)
			e = bw_file_map_fd(fd, path, max_len, m, diag);
		close(fd);
		return e;
	}
	if ((size_t)st.st_size > rb->cap) {
		/* whole 2 MiB steps: the buffer is backed by huge pages where the kernel can */
		size_t cap = huge_round((size_t)st.st_size);

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
