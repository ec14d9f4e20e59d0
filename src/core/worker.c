/*
 * worker.c - confined short-lived children for third-party parsers (see
 * core/worker.h).
 *
 * Frames (little endian):
 *   request to the service:  u32 kind, u32 timeout_ms, u64 length, bytes
 *   request, service -> its child: u32 kind, u64 length (the bytes are
 *                            already in the channel's shared buffer)
 *   reply (child -> service or caller, service -> caller):
 *                            u32 status, u64 length, bytes
 * A child writes its reply into a pipe; the service reads the whole frame
 * before the deadline and only then forwards one clean frame, so a child that
 * dies or stalls mid-reply cannot desynchronise the protocol. A service child
 * may set CHILD_RETIRING in its status: it asks to be replaced after this
 * reply (the service strips the bit and never forwards it).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/sandbox.h"
#include "core/alloc.h"
#include "core/worker.h"

extern char **environ;

#if defined(__SANITIZE_ADDRESS__)
#define WORKER_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_SANITIZED 1
#endif
#endif
#ifndef WORKER_SANITIZED
#define WORKER_SANITIZED 0
#endif

#define CHILD_AS ((rlim_t)8 << 30)
/*
 * CPU seconds. RLIMIT_CPU counts over the child's whole life, and a service
 * child serves several requests: its limit is twice CHILD_CPU and it retires
 * (CHILD_RETIRING) once it has used CHILD_CPU, so every request starts with
 * at least CHILD_CPU seconds left - the bound a fresh child had. The real
 * per-request bound is the caller's wall-clock timeout (a single-threaded
 * child cannot use more CPU than wall time), enforced by whoever waits.
 */
#define CHILD_CPU ((rlim_t)120)
/* Heap a service child may keep between requests (leaks, fragmentation) before it retires. */
#define CHILD_HEAP_RETIRE ((size_t)1 << 30)
#define CHILD_RETIRING 0x80000000u
/* Requests one service child serves at most by default (bw_worker_start: 1 = a child per request). */
#define CHILD_PER_CHILD_DEFAULT 64u
#define CHILD_PER_CHILD_MAX 1024u

static bw_worker_handler g_handler;
static bw_worker_prepare g_prepare;

#define SVC_MAX_CHANNELS 4 /* channels of the service (one per core, at most this many) */

/* The caller's side of the service: one socket per channel, one request at a time on each. */
static struct svc_chan {
	pthread_mutex_t mu;
	int fd;
	int broken;
	int used; /* a request was written: stop lets the service finish it */
} svc_ch[SVC_MAX_CHANNELS] = {{PTHREAD_MUTEX_INITIALIZER, -1, 0, 0}, {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0},
                              {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0}, {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0}};

static struct {
	pthread_mutex_t mu; /* start/stop */
	pid_t pid;
	int n_ch;           /* channels; 0 when the service is not running */
	unsigned next;      /* round robin when every channel is busy */
} svc = {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0};

void bw_worker_set_handler(bw_worker_handler h)
{
	g_handler = h;
}

void bw_worker_set_prepare(bw_worker_prepare p)
{
	g_prepare = p;
}

/* ---- framing ---- */

static void put32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n bytes before the deadline (ms, monotonic; < 0: none). 0, -1 EOF/error, -2 timeout. */
static int read_all(int fd, void *p, size_t n, int64_t deadline)
{
	uint8_t *b = p;
	struct pollfd pfd;
	ssize_t r;
	int pr, wait;

	while (n > 0) {
		if (deadline >= 0) {
			wait = (int)(deadline - now_ms());
			if (wait <= 0)
				return -2;
			pfd.fd = fd;
			pfd.events = POLLIN;
			pr = poll(&pfd, 1, wait);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0)
				return -2;
			if (pr < 0)
				return -1;
		}
		r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read one reply frame; *payload is bw_malloc'd. 0, -1 broken, -2 timeout. */
static int read_reply(int fd, int64_t deadline, uint32_t *status, uint8_t **payload, size_t *len)
{
	uint8_t hdr[12];
	uint64_t n;
	int r;

	*payload = NULL;
	*len = 0;
	r = read_all(fd, hdr, sizeof hdr, deadline);
	if (r != 0)
		return r;
	*status = get32(hdr);
	n = get64(hdr + 4);
	if (n > BW_WORKER_MAX_REPLY)
		return -1;
	*payload = bw_malloc((size_t)n + 1);
	if (*payload == NULL)
		return -1;
	r = read_all(fd, *payload, (size_t)n, deadline);
	if (r != 0) {
		bw_free(*payload);
		*payload = NULL;
		return r;
	}
	(*payload)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static int write_reply(int fd, uint32_t status, const void *p, size_t n)
{
	uint8_t hdr[12];

	put32(hdr, status);
	put64(hdr + 4, n);
	if (write_all(fd, hdr, sizeof hdr) != 0)
		return -1;
	return n ? write_all(fd, p, n) : 0;
}

/* ---- the child ---- */

static int confine(void)
{
	static const char *const allowed[] = {
		"read", "write", "close", "fstat", "newfstatat", "lseek", "mmap", "munmap", "mremap",
		"mprotect", "brk", "madvise", "futex", "exit", "exit_group", "rt_sigreturn",
		"rt_sigprocmask", "clock_gettime", "gettimeofday", "getpid", "gettid", "getrandom",
		"sched_yield", "pread64", "sendto", "recvfrom",
	};
	scmp_filter_ctx ctx;
	struct rlimit rl;
	struct bw_diag d;
	size_t i;
	int rc = 0, sc;

	rl.rlim_cur = rl.rlim_max = 2 * CHILD_CPU; /* see CHILD_CPU */
	(void)setrlimit(RLIMIT_CPU, &rl);
	rl.rlim_cur = rl.rlim_max = 0;
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)setrlimit(RLIMIT_FSIZE, &rl);
	if (WORKER_SANITIZED) /* sanitizer runtimes need more than the allow-list */
		return bw_sandbox_enter(&d) == BW_OK ? 0 : -1;
	rl.rlim_cur = rl.rlim_max = CHILD_AS;
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return -1;
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (ctx == NULL)
		return -1;
	for (i = 0; i < sizeof allowed / sizeof allowed[0] && rc == 0; i++) {
		sc = seccomp_syscall_resolve_name(allowed[i]);
		if (sc != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc, 0);
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

/* A direct fork, in the child: confine, handle the one request, write the reply frame to fd, exit. */
static void child_run(bw_worker_handler h, uint32_t kind, const uint8_t *data, size_t len, int fd)
{
	struct bw_buf reply;
	int rc;

	/* Keep only the reply pipe (and stdio): the inherited sockets to the scanner and the
	 * reply pipes of sibling children would let a subverted parser forge their replies. */
	if (fd > 3)
		(void)close_range(3, (unsigned)fd - 1, 0);
	(void)close_range((unsigned)fd + 1, ~0u, 0);
	if (g_prepare != NULL)
		g_prepare(kind);
	if (h == NULL || confine() != 0)
		_exit(3);
	bw_buf_init(&reply, BW_WORKER_MAX_REPLY);
	rc = h(kind, data, len, &reply);
	if (write_reply(fd, rc == 0 ? BW_WORKER_OK : BW_WORKER_REFUSED, reply.data, reply.len) != 0)
		_exit(4);
	_exit(0);
}

/* Fork a direct child for one request; its reply comes on *rfd. 0, or -1 (no child). */
static int start_child(bw_worker_handler h, uint32_t kind, const uint8_t *data, size_t len, pid_t *pid,
                       int *rfd)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	*pid = fork();
	if (*pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (*pid == 0) {
		close(p[0]);
		child_run(h, kind, data, len, p[1]);
	}
	close(p[1]);
	*rfd = p[0];
	return 0;
}

/* Collect a direct child's reply into *payload before the deadline, then reap it. */
static enum bw_worker_status finish_child(pid_t pid, int rfd, int64_t deadline, uint8_t **payload,
                                          size_t *plen)
{
	int status = 0, r;
	uint32_t st = 0;

	r = read_reply(rfd, deadline, &st, payload, plen);
	close(rfd);
	if (r == -2)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == -2) {
		bw_free(*payload);
		*payload = NULL;
		*plen = 0;
		return BW_WORKER_TIMEOUT;
	}
	if (r != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    (st != BW_WORKER_OK && st != BW_WORKER_REFUSED)) {
		bw_free(*payload);
		*payload = NULL;
		*plen = 0;
		return BW_WORKER_CRASHED;
	}
	return (enum bw_worker_status)st;
}

/*
 * Fork a child for one request, collect its reply into *payload, enforce the
 * deadline. Used by direct calls (no service): one child per request.
 */
static enum bw_worker_status run_child(bw_worker_handler h, uint32_t kind, const uint8_t *data,
                                       size_t len, int timeout_ms, uint8_t **payload,
                                       size_t *plen)
{
	pid_t pid;
	int rfd;
	int64_t deadline = now_ms() + timeout_ms;

	*payload = NULL;
	*plen = 0;
	if (start_child(h, kind, data, len, &pid, &rfd) != 0)
		return BW_WORKER_UNAVAILABLE;
	return finish_child(pid, rfd, deadline, payload, plen);
}

/* ---- the service ---- */

/*
 * The service talks to the scanner over up to SVC_MAX_CHANNELS sockets (fds
 * 3 .. 3+n-1, set up by bw_worker_start): each is strictly request/reply, so scan threads on
 * different channels have their children run at the same time (one core each)
 * instead of queueing behind one another.
 *
 * Each channel's request buffer is one MAP_SHARED anonymous mapping, kept
 * across requests and grown by doubling (at least 1 MiB). Shared, not
 * malloc'd, because of fork: a private buffer is write-protected in the
 * service at every fork, while the child only reads the few pages its parser
 * touches; the child reads the request bytes in place from it (docs/formats3.md
 * has the numbers).
 *
 * Each channel has at most one confined child at a time, bound to one request
 * kind. It serves up to per_child requests of that kind (bw_worker_start's
 * argument, default 64; 1 restores a child per request): the service writes (kind,
 * length) into the child's request pipe, the child reads the bytes from the
 * shared buffer and replies on its reply pipe. The child is replaced (killed
 * and reaped BEFORE the next one is forked, and before any other bytes enter
 * the buffer it maps) when it crashes, times out, refuses a file (libhdf5's
 * state after a malformed file is not trusted), asks to retire (CPU or heap
 * used), has served per_child requests, the next request is of another kind
 * or does not fit its mapping, or its channel closes. A child unmaps the
 * other channels' buffers and closes every descriptor but its two pipes, so
 * it sees only the bytes of its own channel's requests. The security argument
 * (what a subverted child can still do) is in docs/ARCHITECTURE.md, step 5.
 *
 * A crash of a child that had already served requests may come from an
 * earlier file's leftover state (a heap corrupted by file A detected while
 * reading file B): the request is retried once on a fresh child, whose
 * outcome is the file's.
 */

struct chan {
	int fd;           /* socket to the scanner; -1 once closed */
	uint8_t *buf;     /* request buffer (MAP_SHARED) */
	size_t cap;
	pid_t pid;        /* the channel's child, or -1 */
	int qfd;          /* its request pipe (write end, non-blocking) */
	int rfd;          /* its reply pipe (read end) */
	uint32_t kind;    /* the request kind it serves */
	unsigned served;  /* requests it has answered */
	int busy;         /* a request is in flight */
	int retried;      /* the request in flight was retried on a fresh child */
	uint32_t req_kind;
	uint32_t req_timeout_ms;
	uint64_t req_len;
	int64_t deadline; /* of the request in flight */
};

static struct chan *g_ch; /* the service's channels, for a child to unmap the others' buffers */
static int g_n_ch;
static unsigned g_per_child = CHILD_PER_CHILD_DEFAULT;

/* Kill and reap a channel's child (idle or not). */
static void chan_retire(struct chan *c)
{
	if (c->pid < 0)
		return;
	kill(c->pid, SIGKILL);
	close(c->qfd);
	close(c->rfd);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
	c->qfd = c->rfd = -1;
	c->served = 0;
}

static uint8_t *req_reserve(struct chan *c, uint64_t len)
{
	size_t want = (size_t)1 << 20;
	void *p;

	if (len <= c->cap && c->buf != NULL)
		return c->buf;
	/* a child maps the old buffer: it must be gone before the bytes go elsewhere */
	chan_retire(c);
	while ((uint64_t)want < len + 1)
		want *= 2;
	if (c->buf != NULL)
		munmap(c->buf, c->cap);
	c->buf = NULL;
	c->cap = 0;
	p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	c->buf = p;
	c->cap = want;
	return c->buf;
}

/* Heap kept by this process (glibc's accounting, no system call); 0 when unknown. */
static size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

/* Should a service child ask to be replaced after its current request? */
static int child_should_retire(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0 && (rlim_t)ts.tv_sec >= CHILD_CPU)
		return 1;
	return heap_in_use() >= CHILD_HEAP_RETIRE;
}

/*
 * A service child: keep the request pipe (as fd 3) and the reply pipe (fd 4),
 * unmap the other channels' buffers, confine, then serve requests of `kind`
 * read in place from buf[0..cap) until the request pipe closes.
 */
static void child_serve(bw_worker_handler h, const struct chan *self, int qfd, int rfd)
{
	const uint8_t *buf = self->buf;
	size_t cap = self->cap;
	uint32_t kind = self->kind, st;
	struct bw_buf reply;
	uint8_t hdr[12];
	uint64_t len;
	int q, r, i, rc;

	/* above any descriptor we keep, then into place: the two may sit at 3 or 4 already */
	q = fcntl(qfd, F_DUPFD, 10);
	r = fcntl(rfd, F_DUPFD, 10);
	if (q < 0 || r < 0 || dup2(q, 3) != 3 || dup2(r, 4) != 4)
		_exit(3);
	/* the scanner's channels, the other children's pipes: a subverted parser could forge replies */
	(void)close_range(5, ~0u, 0);
	/* stdout is the scanner's report: the service's stdin (/dev/null, bw_worker_start) takes
	 * its place; stderr stays for diagnostics */
	if (dup2(0, 1) != 1)
		_exit(3);
	for (i = 0; i < g_n_ch; i++)
		if (&g_ch[i] != self && g_ch[i].buf != NULL)
			(void)munmap(g_ch[i].buf, g_ch[i].cap);
	if (h == NULL || confine() != 0)
		_exit(3);
	for (;;) {
		if (read_all(3, hdr, sizeof hdr, -1) != 0)
			_exit(0); /* the service closed the pipe: retired */
		len = get64(hdr + 4);
		if (get32(hdr) != kind || len > cap)
			_exit(5);
		bw_buf_init(&reply, BW_WORKER_MAX_REPLY);
		rc = h(kind, buf, (size_t)len, &reply);
		st = rc == 0 ? BW_WORKER_OK : BW_WORKER_REFUSED;
		if (child_should_retire())
			st |= CHILD_RETIRING;
		if (write_reply(4, st, reply.data, reply.len) != 0)
			_exit(4);
		bw_buf_release(&reply);
	}
}

/* Fork the channel's child for kind (the old one is gone). 0, or -1. */
static int chan_fork(struct chan *c, bw_worker_handler h, uint32_t kind)
{
	int q[2], r[2];
	pid_t pid;

	if (pipe2(q, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(r, O_CLOEXEC) != 0) {
		close(q[0]);
		close(q[1]);
		return -1;
	}
	c->kind = kind;
	pid = fork();
	if (pid == 0)
		child_serve(h, c, q[0], r[1]);
	close(q[0]);
	close(r[1]);
	if (pid < 0) {
		close(q[1]);
		close(r[0]);
		return -1;
	}
	/* a (subverted) child that stops reading must not block the service */
	(void)fcntl(q[1], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->qfd = q[1];
	c->rfd = r[0];
	c->served = 0;
	return 0;
}

/* Hand the request in the buffer to the channel's child, forking one if needed. 0, or -1 (no child). */
static int chan_dispatch(struct chan *c, bw_worker_handler h)
{
	uint8_t hdr[12];
	int attempt;

	put32(hdr, c->req_kind);
	put64(hdr + 4, c->req_len);
	for (attempt = 0; attempt < 2; attempt++) {
		if (c->pid < 0 && chan_fork(c, h, c->req_kind) != 0)
			return -1;
		/* 12 bytes into an empty pipe: all or nothing */
		if (write(c->qfd, hdr, sizeof hdr) == (ssize_t)sizeof hdr)
			break;
		/* an idle child that died (or stopped reading) before this request: not this file's doing */
		chan_retire(c);
	}
	if (attempt == 2)
		return -1;
	c->busy = 1;
	c->deadline = now_ms() + c->req_timeout_ms;
	return 0;
}

static void chan_close(struct chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	chan_retire(c);
}

/* A request has arrived on an idle channel: read it and hand it to a child. */
static void chan_request(struct chan *c, bw_worker_handler h)
{
	uint8_t hdr[16], *data;
	uint64_t len;

	if (read_all(c->fd, hdr, sizeof hdr, -1) != 0) {
		chan_close(c); /* the scanner closed the socket */
		return;
	}
	c->req_kind = get32(hdr);
	c->req_timeout_ms = get32(hdr + 4);
	c->req_len = len = get64(hdr + 8);
	c->retried = 0;
	/* before the bytes enter the buffer: a child bound to another kind never sees them */
	if (c->pid >= 0 && c->kind != c->req_kind)
		chan_retire(c);
	data = len <= BW_WORKER_MAX_REQUEST ? req_reserve(c, len) : NULL;
	if (data == NULL || read_all(c->fd, data, (size_t)len, -1) != 0) {
		chan_close(c); /* protocol broken: the caller sees EOF and stops using it */
		return;
	}
	if (g_prepare != NULL)
		g_prepare(c->req_kind); /* once here, so the children inherit it */
	if (chan_dispatch(c, h) != 0 && write_reply(c->fd, BW_WORKER_UNAVAILABLE, NULL, 0) != 0)
		chan_close(c);
}

/* The channel's child replied, died or ran out of time: answer the scanner. */
static void chan_finish(struct chan *c, bw_worker_handler h)
{
	uint8_t *payload = NULL;
	size_t plen = 0;
	uint32_t st = 0;
	enum bw_worker_status res;
	int r = read_reply(c->rfd, c->deadline, &st, &payload, &plen);

	if (r == -2) {
		res = BW_WORKER_TIMEOUT;
		chan_retire(c);
	} else if (r != 0 || ((st & ~CHILD_RETIRING) != BW_WORKER_OK &&
	                      (st & ~CHILD_RETIRING) != BW_WORKER_REFUSED)) {
		res = BW_WORKER_CRASHED;
		if (c->served > 0 && !c->retried) {
			/* maybe an earlier file's leftovers: the file gets a fresh child of its own */
			chan_retire(c);
			bw_free(payload);
			payload = NULL;
			c->retried = 1;
			c->busy = 0;
			if (chan_dispatch(c, h) == 0)
				return;
		}
		chan_retire(c);
	} else {
		res = (enum bw_worker_status)(st & ~CHILD_RETIRING);
		c->served++;
		if ((st & CHILD_RETIRING) || res != BW_WORKER_OK || c->served >= g_per_child)
			chan_retire(c);
	}
	if (res != BW_WORKER_OK && res != BW_WORKER_REFUSED) {
		bw_free(payload);
		payload = NULL;
		plen = 0;
	}
	c->busy = 0;
	if (c->fd >= 0 && write_reply(c->fd, res, payload, plen) != 0)
		chan_close(c);
	bw_free(payload);
}

/* The service's main loop on channels fd .. fd+n_ch-1; returns the process exit code. */
static int serve(int fd, int n_ch, unsigned per_child, bw_worker_handler h)
{
	struct chan ch[SVC_MAX_CHANNELS];
	struct pollfd pf[SVC_MAX_CHANNELS];
	int idx[SVC_MAX_CHANNELS];
	int i, n, wait, pr, rc = 0;
	int64_t now;

	g_per_child = per_child;
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < n_ch; i++) {
		ch[i].fd = fd + i;
		ch[i].buf = NULL;
		ch[i].cap = 0;
		ch[i].pid = -1;
		ch[i].qfd = ch[i].rfd = -1;
		ch[i].kind = 0;
		ch[i].served = 0;
		ch[i].busy = 0;
		ch[i].retried = 0;
		ch[i].deadline = 0;
	}
	g_ch = ch;
	g_n_ch = n_ch;
	for (;;) {
		n = 0;
		wait = -1;
		now = now_ms();
		for (i = 0; i < n_ch; i++) {
			if (ch[i].busy) {
				int left = ch[i].deadline > now ? (int)(ch[i].deadline - now) : 0;

				pf[n].fd = ch[i].rfd;
				wait = wait < 0 || left < wait ? left : wait;
			} else if (ch[i].fd >= 0) {
				pf[n].fd = ch[i].fd;
			} else {
				continue;
			}
			pf[n].events = POLLIN;
			pf[n].revents = 0;
			idx[n++] = i;
		}
		if (n == 0)
			break; /* every channel closed, no request in flight */
		pr = poll(pf, (nfds_t)n, wait);
		if (pr < 0 && errno != EINTR) {
			rc = 1;
			break;
		}
		now = now_ms();
		for (i = 0; i < n; i++) {
			struct chan *c = &ch[idx[i]];

			if (c->busy) {
				if (pf[i].revents != 0 || now >= c->deadline)
					chan_finish(c, h);
			} else if (pf[i].revents != 0) {
				chan_request(c, h);
			}
		}
	}
	for (i = 0; i < n_ch; i++)
		chan_close(&ch[i]);
	g_ch = NULL;
	g_n_ch = 0;
	return rc;
}

/*
 * The environment is wiped in the service: nothing it runs needs it, and a
 * parser subverted by a hostile file must not find a secret there to put in
 * its reply (BULWARK_KEY_PASSPHRASE of `gate --log-key`, tokens of a CI job).
 * The bytes are cleared, not just unlinked from environ: the service's memory
 * is a copy of the caller's. OPENBLAS_NUM_THREADS=1: the service never does
 * linear algebra, and OpenBLAS (if anything loads it) would start a spinning
 * thread per core that takes CPU from the scan.
 */
static void wipe_environment(void)
{
	size_t i;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		explicit_bzero(environ[i], strlen(environ[i]));
	(void)clearenv();
	(void)setenv("OPENBLAS_NUM_THREADS", "1", 1);
}

/*
 * In the forked service: its channels (the socketpair ends in ends[]) onto
 * fds 3 .. 3+n-1, every other descriptor of the caller closed (its output
 * file, its inputs, the caller's ends), stdin and stdout on /dev/null (stdout
 * is the caller's report), the environment wiped; then serve. Never returns.
 */
static void service_main(const int *ends, int n_ch, unsigned per_child, bw_worker_handler h)
{
	int tmp[SVC_MAX_CHANNELS], i, nul;

	for (i = 0; i < n_ch; i++) {
		/* above every target first: an end may sit where another must go */
		tmp[i] = fcntl(ends[i], F_DUPFD, 3 + SVC_MAX_CHANNELS);
		if (tmp[i] < 0)
			_exit(3);
	}
	for (i = 0; i < n_ch; i++)
		if (dup2(tmp[i], 3 + i) != 3 + i)
			_exit(3);
	(void)close_range((unsigned)(3 + n_ch), ~0u, 0);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0 || dup2(nul, 0) != 0 || dup2(nul, 1) != 1)
		_exit(3);
	close(nul);
	wipe_environment();
	_exit(serve(3, n_ch, per_child, h));
}

enum bw_err bw_worker_start(unsigned per_child, struct bw_diag *diag)
{
	int sv[SVC_MAX_CHANNELS][2], ends[SVC_MAX_CHANNELS], rc, i, n_ch;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t pid;

	pthread_mutex_lock(&svc.mu);
	if (svc.n_ch > 0) {
		pthread_mutex_unlock(&svc.mu);
		return BW_OK;
	}
	if (g_handler == NULL) {
		pthread_mutex_unlock(&svc.mu);
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "starting the worker service: no handler set");
	}
	/* one channel per core (the scan runs one thread per core), so children run side by side */
	n_ch = ncpu < 1 ? 1 : ncpu > SVC_MAX_CHANNELS ? SVC_MAX_CHANNELS : (int)ncpu;
	if (per_child == 0)
		per_child = CHILD_PER_CHILD_DEFAULT;
	if (per_child > CHILD_PER_CHILD_MAX)
		per_child = CHILD_PER_CHILD_MAX;
	for (i = 0; i < n_ch; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]) != 0) {
			rc = errno;
			while (i-- > 0) {
				close(sv[i][0]);
				close(sv[i][1]);
			}
			pthread_mutex_unlock(&svc.mu);
			return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "socketpair: %s", strerror(rc));
		}
		ends[i] = sv[i][1];
	}
	/*
	 * fork without exec: the caller is single-threaded here (see worker.h),
	 * and the service needs no fresh image; an exec'd one spent ~5 ms of CPU
	 * loading libraries again on the core the scan was about to use.
	 */
	pid = fork();
	if (pid == 0)
		service_main(ends, n_ch, per_child, g_handler);
	rc = errno;
	for (i = 0; i < n_ch; i++)
		close(sv[i][1]);
	if (pid < 0) {
		for (i = 0; i < n_ch; i++)
			close(sv[i][0]);
		pthread_mutex_unlock(&svc.mu);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "starting the worker service: fork: %s",
		                   strerror(rc));
	}
	for (i = 0; i < n_ch; i++) {
		svc_ch[i].fd = sv[i][0];
		svc_ch[i].broken = 0;
	}
	svc.pid = pid;
	svc.n_ch = n_ch;
	pthread_mutex_unlock(&svc.mu);
	return BW_OK;
}

void bw_worker_stop(void)
{
	int i, broken = 0, used = 0;

	pthread_mutex_lock(&svc.mu);
	if (svc.n_ch > 0) {
		for (i = 0; i < svc.n_ch; i++) {
			pthread_mutex_lock(&svc_ch[i].mu);
			broken |= svc_ch[i].broken;
			used |= svc_ch[i].used;
			svc_ch[i].used = 0;
			close(svc_ch[i].fd);
			svc_ch[i].fd = -1;
			pthread_mutex_unlock(&svc_ch[i].mu);
		}
		/*
		 * A broken service is not waited for; an unused one holds nothing
		 * (no child, no request) and may still be loading its libraries:
		 * waiting for it to notice the closed sockets would add that time
		 * to every scan that needed no worker.
		 */
		if (broken || !used)
			kill(svc.pid, SIGKILL);
		while (waitpid(svc.pid, NULL, 0) < 0 && errno == EINTR)
			;
		svc.n_ch = 0;
		svc.pid = -1;
	}
	pthread_mutex_unlock(&svc.mu);
}

/* A free channel (locked), or wait for one in turn. NULL when the service is not running. */
static struct svc_chan *chan_acquire(void)
{
	int i, n;
	unsigned k;

	pthread_mutex_lock(&svc.mu);
	n = svc.n_ch;
	k = svc.next++;
	pthread_mutex_unlock(&svc.mu);
	if (n == 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (pthread_mutex_trylock(&svc_ch[i].mu) == 0)
			return &svc_ch[i];
	pthread_mutex_lock(&svc_ch[k % (unsigned)n].mu);
	return &svc_ch[k % (unsigned)n];
}

enum bw_worker_status bw_worker_call(uint32_t kind, const uint8_t *data, size_t len, int timeout_ms,
                                     uint8_t **reply, size_t *reply_len)
{
	uint8_t hdr[16];
	uint32_t st = 0;
	struct svc_chan *c;
	int r;

	*reply = NULL;
	*reply_len = 0;
	if ((uint64_t)len > BW_WORKER_MAX_REQUEST)
		return BW_WORKER_UNAVAILABLE;
	c = chan_acquire();
	if (c == NULL)
		return run_child(g_handler, kind, data, len, timeout_ms, reply, reply_len);
	if (c->broken || c->fd < 0) {
		pthread_mutex_unlock(&c->mu);
		return BW_WORKER_UNAVAILABLE;
	}
	c->used = 1;
	put32(hdr, kind);
	put32(hdr + 4, (uint32_t)timeout_ms);
	put64(hdr + 8, len);
	if (write_all(c->fd, hdr, sizeof hdr) != 0 || write_all(c->fd, data, len) != 0) {
		c->broken = 1;
		pthread_mutex_unlock(&c->mu);
		return BW_WORKER_UNAVAILABLE;
	}
	/* the service enforces timeout_ms on the child, and may retry once on a fresh child
	 * (a reused child's crash): allow both, and time to report */
	r = read_reply(c->fd, now_ms() + 2 * (int64_t)timeout_ms + 10000, &st, reply, reply_len);
	if (r != 0 || st > BW_WORKER_UNAVAILABLE) {
		c->broken = 1;
		bw_free(*reply);
		*reply = NULL;
		*reply_len = 0;
		pthread_mutex_unlock(&c->mu);
		return BW_WORKER_UNAVAILABLE;
	}
	pthread_mutex_unlock(&c->mu);
	if (st != BW_WORKER_OK && st != BW_WORKER_REFUSED) {
		bw_free(*reply);
		*reply = NULL;
		*reply_len = 0;
	}
	return (enum bw_worker_status)st;
}
