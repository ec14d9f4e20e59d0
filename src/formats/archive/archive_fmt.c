/*
 * archive_fmt.c - 7z and other archive kinds through libarchive, read from
 * memory. Members are decoded under the caps of sink->lim (total output,
 * ratio of output to the whole archive's size, member count) and handed back;
 * encrypted members make the scan incomplete.
 *
 * libarchive is a third-party parser of hostile data: it runs in a forked
 * child with rlimits (address space, CPU time, no file writes) and a seccomp
 * allowlist (no open, no exec, no sockets), and talks to the parent only
 * through a pipe of small framed messages that the parent validates (bounded
 * lengths, finding codes instead of rule names). A child that dies (a
 * libarchive crash, a memory or CPU limit) makes the scan incomplete.
 * Must not: let libarchive touch the file system, enable libarchive's
 * zip/tar/filter readers (ours read those as the loaders do), hand back more
 * than the cap, or trust anything the child says beyond its framing.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "formats/archive/archive_fmt.h"
#include "core/codec.h"

enum akind { A_NONE, A_7Z, A_RAR, A_CAB, A_ISO, A_CPIO, A_XAR, A_AR };

static enum akind kind_of(const uint8_t *d, size_t len)
{
	if (len >= 6 && memcmp(d, "7z\xbc\xaf\x27\x1c", 6) == 0)
		return A_7Z;
	if (len >= 7 && memcmp(d, "Rar!\x1a\x07", 6) == 0 && (d[6] == 0 || d[6] == 1))
		return A_RAR;
	if (len >= 8 && memcmp(d, "MSCF\0\0\0\0", 8) == 0)
		return A_CAB;
	if (len >= 0x8006 && memcmp(d + 0x8001, "CD001", 5) == 0)
		return A_ISO;
	if (len >= 6 && (memcmp(d, "070701", 6) == 0 || memcmp(d, "070702", 6) == 0 ||
	                 memcmp(d, "070707", 6) == 0))
		return A_CPIO;
	if (len >= 4 && memcmp(d, "xar!", 4) == 0)
		return A_XAR;
	if (len >= 8 && memcmp(d, "!<arch>\n", 8) == 0)
		return A_AR;
	return A_NONE;
}

int bw_archive_detect(const uint8_t *data, size_t len)
{
	if (data == NULL)
		return 0;
	switch (kind_of(data, len)) {
	case A_7Z: case A_RAR: return 90;
	case A_CAB: return 85;
	case A_ISO: case A_CPIO: case A_XAR: return 80;
	case A_AR: return 70;
	case A_NONE: break;
	}
	return 0;
}

static const char *kind_name(enum akind k)
{
	static const char *const n[] = {"archive", "7z", "rar", "cab", "iso9660", "cpio", "xar", "ar"};

	return n[k];
}

static void stopf(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void stopf(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->incomplete(s->user, why, off, m);
}

static void findf(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void findf(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->finding(s->user, rule, off, m);
}

static int bad_path(const char *s)
{
	const char *p = s;

	if (s[0] == '/' || s[0] == '\\')
		return 1;
	while (*p) {
		const char *q = p;

		while (*q && *q != '/' && *q != '\\')
			q++;
		if (q - p == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p = *q ? q + 1 : q;
	}
	return 0;
}

static int says_encrypted(const char *msg)
{
	return msg != NULL && (strstr(msg, "ncrypt") != NULL || strstr(msg, "assphrase") != NULL);
}

enum bw_err bw_archive_scan_inproc(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct archive *a = NULL;
	struct archive_entry *ent;
	enum akind k;
	uint64_t total_left, cap;
	uint32_t members = 0;
	int ratio_bound, r;
	enum bw_err ret = BW_OK;
	uint8_t chunk[16384];

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	k = kind_of(data, len);
	if (k == A_NONE) {
		stopf(sink, BW_ERR_MALFORMED, 0, "not an archive kind read through libarchive");
		return BW_OK;
	}
	if (sink->format != NULL)
		sink->format(sink->user, kind_name(k));
	a = archive_read_new();
	if (a == NULL)
		return BW_ERR_NOMEM;
	switch (k) {
	case A_7Z: archive_read_support_format_7zip(a); break;
	case A_RAR: archive_read_support_format_rar(a); archive_read_support_format_rar5(a); break;
	case A_CAB: archive_read_support_format_cab(a); break;
	case A_ISO: archive_read_support_format_iso9660(a); break;
	case A_CPIO: archive_read_support_format_cpio(a); break;
	case A_XAR: archive_read_support_format_xar(a); break;
	case A_AR: archive_read_support_format_ar(a); break;
	case A_NONE: break;
	}
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		stopf(sink, BW_ERR_MALFORMED, 0, "%s: %s", kind_name(k), archive_error_string(a));
		goto out;
	}
	total_left = sink->lim->max_total_unpacked;
	for (;;) {
		struct bw_buf b;
		const char *name;
		char nbuf[64];
		la_ssize_t got;
		int stopped = 0;
		enum bw_err e = BW_OK;

		r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			const char *msg = archive_error_string(a);

			stopf(sink, says_encrypted(msg) ? BW_ERR_UNSUPPORTED : BW_ERR_MALFORMED, BW_NO_OFFSET,
			      "%s: %s", kind_name(k), msg != NULL ? msg : "cannot read the next entry");
			break;
		}
		if (++members > sink->lim->max_members) {
			stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET, "more than %u members: the rest is not scanned",
			      sink->lim->max_members);
			break;
		}
		name = archive_entry_pathname(ent);
		if (name == NULL) {
			snprintf(nbuf, sizeof nbuf, "<member %u>", members);
			name = nbuf;
		}
		if (bad_path(name))
			findf(sink, "archive.path-traversal", BW_NO_OFFSET,
			      "member \"%.200s\" escapes the extraction directory", name);
		if (archive_entry_filetype(ent) != AE_IFREG)
			continue;
		if (archive_entry_is_encrypted(ent)) {
			stopf(sink, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "\"%.200s\" is encrypted and cannot be scanned",
			      name);
			continue;
		}
		/* 7z/RAR solid blocks have no per-member compressed size: bound by the archive's. */
		cap = bw_codec_cap(total_left, sink->lim->max_ratio, len, &ratio_bound);
		bw_buf_init(&b, cap >= SIZE_MAX / 2 ? 0 : (size_t)cap);
		while ((got = archive_read_data(a, chunk, sizeof chunk)) > 0) {
			size_t room = (size_t)(cap - b.len);

			if ((size_t)got > room) {
				e = bw_buf_append(&b, chunk, room);
				if (e == BW_OK)
					e = BW_ERR_LIMIT;
				break;
			}
			e = bw_buf_append(&b, chunk, (size_t)got);
			if (e != BW_OK)
				break;
		}
		if (e == BW_ERR_NOMEM) {
			bw_buf_release(&b);
			ret = e;
			goto out;
		}
		if (e == BW_ERR_LIMIT) {
			if (ratio_bound)
				findf(sink, "archive.bomb", BW_NO_OFFSET,
				      "\"%.200s\" expands past %u times the archive's %zu bytes", name,
				      sink->lim->max_ratio, len);
			stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET,
			      "\"%.200s\": output cap reached after %zu bytes; the rest is not scanned", name, b.len);
			stopped = 1;
		} else if (got < 0) {
			const char *msg = archive_error_string(a);

			stopf(sink, says_encrypted(msg) ? BW_ERR_UNSUPPORTED : BW_ERR_MALFORMED, BW_NO_OFFSET,
			      "\"%.200s\": %s", name, msg != NULL ? msg : "data cannot be read");
			stopped = got == ARCHIVE_FATAL ? 2 : 1;
		}
		total_left -= b.len <= total_left ? b.len : total_left;
		if (b.len > 0 || !stopped)
			ret = sink->member(sink->user, name, b.data != NULL ? b.data : (const uint8_t *)"", b.len,
			                   BW_NO_OFFSET);
		bw_buf_release(&b);
		if (ret == BW_ERR_NOMEM)
			goto out;
		ret = BW_OK;
		if (stopped == 2 || total_left == 0)
			break;
	}
out:
	archive_read_free(a);
	return ret;
}

/* ---- the sandbox: child side ---- */

#if defined(__SANITIZE_ADDRESS__)
#define BW_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BW_SANITIZED 1
#endif
#endif

/* Message frame: type, code, why, offset, string length, data length, string, data. */
struct frame {
	uint8_t type; /* 'F' finding, 'I' incomplete, 'M' member, 'T' format, 'E' end */
	uint8_t code; /* finding: 1 path traversal, 2 bomb */
	uint16_t pad;
	uint32_t why;
	uint64_t off;
	uint32_t slen;
	uint32_t pad2;
	uint64_t dlen;
};

#define STR_MAX 4096u

struct child {
	int fd;
	int broken;
};

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void send_frame(struct child *c, uint8_t type, uint8_t code, uint32_t why, uint64_t off,
                       const char *str, const uint8_t *data, size_t dlen)
{
	struct frame f;
	size_t sl = str != NULL ? strlen(str) : 0;

	if (c->broken)
		return;
	if (sl > STR_MAX)
		sl = STR_MAX;
	memset(&f, 0, sizeof f);
	f.type = type;
	f.code = code;
	f.why = why;
	f.off = off;
	f.slen = (uint32_t)sl;
	f.dlen = dlen;
	if (write_all(c->fd, &f, sizeof f) != 0 || (sl > 0 && write_all(c->fd, str, sl) != 0) ||
	    (dlen > 0 && write_all(c->fd, data, dlen) != 0))
		c->broken = 1;
}

static void ch_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	uint8_t code = strcmp(rule, "archive.path-traversal") == 0 ? 1 : strcmp(rule, "archive.bomb") == 0 ? 2 : 0;

	send_frame(u, 'F', code, 0, off, msg, NULL, 0);
}

static void ch_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	send_frame(u, 'I', 0, (uint32_t)why, off, msg, NULL, 0);
}

static enum bw_err ch_member(void *u, const char *name, const uint8_t *data, size_t len, uint64_t off)
{
	struct child *c = u;

	send_frame(c, 'M', 0, 0, off, name, data, len);
	return c->broken ? BW_ERR_NOMEM : BW_OK;
}

static void ch_format(void *u, const char *f)
{
	send_frame(u, 'T', 0, 0, 0, f, NULL, 0);
}

/* rlimits and a seccomp allowlist: memory, CPU, the pipe and nothing else. */
static int confine(uint64_t mem)
{
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = 60;
	if (setrlimit(RLIMIT_CPU, &rl) != 0)
		return -1;
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0 || setrlimit(RLIMIT_CORE, &rl) != 0)
		return -1;
#ifndef BW_SANITIZED
	{
		static const int allowed[] = {
			SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close), SCMP_SYS(exit),
			SCMP_SYS(exit_group), SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap),
			SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(mprotect), SCMP_SYS(rt_sigreturn),
			SCMP_SYS(rt_sigprocmask), SCMP_SYS(futex), SCMP_SYS(clock_gettime),
			SCMP_SYS(gettimeofday), SCMP_SYS(getpid), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
			SCMP_SYS(lseek), SCMP_SYS(getrandom)};
		scmp_filter_ctx sc;
		size_t i;
		int bad = 0;

		rl.rlim_cur = rl.rlim_max = (rlim_t)mem;
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			return -1;
		sc = seccomp_init(SCMP_ACT_KILL_PROCESS);
		if (sc == NULL)
			return -1;
		for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
			bad |= seccomp_rule_add(sc, SCMP_ACT_ALLOW, allowed[i], 0) != 0;
		bad |= seccomp_load(sc) != 0;
		seccomp_release(sc);
		if (bad)
			return -1;
	}
#else
	(void)mem;
#endif
	return 0;
}

static void child_main(int fd, const uint8_t *data, size_t len, const struct bw_fmt_sink *parent)
{
	struct child c = {fd, 0};
	struct bw_fmt_sink s;
	uint64_t mem;

	memset(&s, 0, sizeof s);
	s.user = &c;
	s.finding = ch_finding;
	s.incomplete = ch_incomplete;
	s.member = ch_member;
	s.format = ch_format;
	s.lim = parent->lim;
	s.depth = parent->depth;
	/* the input is already mapped; allow the output cap twice plus 1 GiB for libarchive */
	mem = parent->lim->max_total_unpacked > ((uint64_t)8 << 30) ? ((uint64_t)8 << 30)
	                                                              : parent->lim->max_total_unpacked;
	mem = (uint64_t)len + 2 * mem + ((uint64_t)1 << 30);
	if (confine(mem) != 0)
		_exit(3);
	if (bw_archive_scan_inproc(data, len, &s) != BW_OK)
		_exit(2);
	/* the end frame: without it the parent never takes the scan as complete */
	send_frame(&c, 'E', 0, 0, 0, NULL, NULL, 0);
	_exit(c.broken ? 2 : 0);
}

/* ---- the sandbox: parent side ---- */

/* Wall-clock bound on one sandboxed read (a child blocked forever is killed). */
#define WALL_SECONDS 120

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 read all, 0 clean end of stream before any byte, -1 short read, -2 deadline passed. */
static int read_all(int fd, void *p, size_t n, int64_t deadline)
{
	uint8_t *b = p;
	size_t got = 0;

	while (got < n) {
		struct pollfd pf = {fd, POLLIN, 0};
		int64_t left = deadline - now_ms();
		ssize_t r;
		int pr;

		if (left <= 0)
			return -2;
		pr = poll(&pf, 1, left > 1000000 ? 1000000 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return -2;
		if (pr < 0)
			return -1;
		r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return 1;
}

enum bw_err bw_archive_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	int fds[2], status = 0, protocol_error = 0;
	pid_t pid;
	enum bw_err ret = BW_OK;
	char str[STR_MAX + 1];
	uint8_t *buf = NULL;
	uint64_t data_cap;
	int64_t deadline;
	int timed_out = 0, ended = 0;

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	if (kind_of(data, len) == A_NONE) {
		stopf(sink, BW_ERR_MALFORMED, 0, "not an archive kind read through libarchive");
		return BW_OK;
	}
	if (pipe(fds) != 0) {
		stopf(sink, BW_ERR_LIMIT, 0, "cannot start the sandboxed archive reader (pipe)");
		return BW_OK;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		stopf(sink, BW_ERR_LIMIT, 0, "cannot start the sandboxed archive reader (fork)");
		return BW_OK;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], data, len, sink);
	}
	close(fds[1]);
	data_cap = sink->lim->max_total_unpacked;
	deadline = now_ms() + WALL_SECONDS * 1000;
	for (;;) {
		struct frame f;
		int r = read_all(fds[0], &f, sizeof f, deadline);

		if (r == 0)
			break;
		if (ended) { /* nothing may follow the end frame */
			protocol_error = 1;
			break;
		}
		if (r == -2) {
			timed_out = 1;
			break;
		}
		if (r < 0 || f.slen > STR_MAX || f.dlen > data_cap ||
		    (f.type != 'M' && f.dlen != 0) || f.dlen > SIZE_MAX / 2) {
			protocol_error = 1;
			break;
		}
		if (f.slen > 0 && read_all(fds[0], str, f.slen, deadline) != 1) {
			protocol_error = 1;
			break;
		}
		str[f.slen] = 0;
		if (strlen(str) != f.slen) { /* an embedded NUL: not something our child sends */
			protocol_error = 1;
			break;
		}
		if (f.dlen > 0) {
			buf = bw_malloc((size_t)f.dlen);
			if (buf == NULL) {
				ret = BW_ERR_NOMEM;
				break;
			}
			if (read_all(fds[0], buf, (size_t)f.dlen, deadline) != 1) {
				protocol_error = 1;
				break;
			}
		}
		switch (f.type) {
		case 'F':
			if (f.code == 1 || f.code == 2)
				sink->finding(sink->user, f.code == 1 ? "archive.path-traversal" : "archive.bomb",
				              f.off, str);
			else
				protocol_error = 1;
			break;
		case 'I':
			if (f.why != BW_ERR_TRUNCATED && f.why != BW_ERR_MALFORMED && f.why != BW_ERR_LIMIT &&
			    f.why != BW_ERR_UNSUPPORTED)
				f.why = BW_ERR_MALFORMED;
			sink->incomplete(sink->user, (enum bw_err)f.why, f.off, str);
			break;
		case 'M':
			ret = sink->member(sink->user, str, buf != NULL ? buf : (const uint8_t *)"",
			                   (size_t)f.dlen, f.off);
			if (ret != BW_ERR_NOMEM)
				ret = BW_OK;
			break;
		case 'T':
			if (sink->format != NULL && f.slen > 0 && f.slen < 16)
				sink->format(sink->user, str);
			break;
		case 'E':
			ended = 1;
			break;
		default:
			protocol_error = 1;
		}
		bw_free(buf);
		buf = NULL;
		if (protocol_error || ret != BW_OK)
			break;
	}
	bw_free(buf);
	close(fds[0]);
	if (protocol_error || timed_out || ret != BW_OK)
		kill(pid, SIGKILL); /* our own child, by its id */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == BW_OK && timed_out) {
		stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET,
		      "the sandboxed archive reader ran longer than %d seconds and was stopped", WALL_SECONDS);
	} else if (ret == BW_OK &&
	           (protocol_error || !ended || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		if (WIFSIGNALED(status))
			stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET,
			      "the sandboxed archive reader was stopped by signal %d (memory, CPU or syscall "
			      "limit, or a crash in libarchive)",
			      WTERMSIG(status));
		else
			stopf(sink, BW_ERR_MALFORMED, BW_NO_OFFSET,
			      "the sandboxed archive reader failed (status %d%s)",
			      WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			      protocol_error ? ", bad message" : "");
	}
	return ret;
}
