/*
 * worker.c - confined short-lived children for third-party parsers (see
 * core/worker.h).
 *
 * Frames (little endian):
 *   request to the service:  u32 kind, u32 timeout_ms, u64 length, bytes
 *   reply (child -> service or caller, service -> caller):
 *                            u32 status, u64 length, bytes
 * A child writes its reply into a pipe (or its own socket); the service reads
 * it completely, checks the child exited normally, and only then forwards one
 * clean frame, so a child that dies mid-reply cannot desynchronise the
 * protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
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
#define CHILD_CPU ((rlim_t)120)

static bw_worker_handler g_handler;
static bw_worker_prepare g_prepare;

static struct {
	pthread_mutex_t mu;
	pid_t pid;
	int fd;
	int running;
	int broken;
} svc = {PTHREAD_MUTEX_INITIALIZER, -1, -1, 0, 0};

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

	rl.rlim_cur = rl.rlim_max = CHILD_CPU;
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

/* In a fresh child: confine, handle, write the reply frame to fd, exit. */
static void child_run(bw_worker_handler h, uint32_t kind, const uint8_t *data, size_t len, int fd)
{
	struct bw_buf reply;
	int rc;

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

/*
 * Fork a child for one request, collect its reply into *payload, enforce the
 * deadline. Used by the service and by direct calls.
 */
static enum bw_worker_status run_child(bw_worker_handler h, uint32_t kind, const uint8_t *data,
                                       size_t len, int timeout_ms, uint8_t **payload,
                                       size_t *plen)
{
	int p[2], status = 0, r;
	pid_t pid;
	uint32_t st = 0;
	int64_t deadline = now_ms() + timeout_ms;

	*payload = NULL;
	*plen = 0;
	if (pipe2(p, O_CLOEXEC) != 0)
		return BW_WORKER_UNAVAILABLE;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return BW_WORKER_UNAVAILABLE;
	}
	if (pid == 0) {
		close(p[0]);
		child_run(h, kind, data, len, p[1]);
	}
	close(p[1]);
	r = read_reply(p[0], deadline, &st, payload, plen);
	close(p[0]);
	if (r == -2)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == -2) {
		bw_free(*payload);
		*payload = NULL;
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

/* ---- the service ---- */

/*
 * The request buffer of the service: one MAP_SHARED anonymous mapping, kept
 * across requests and grown in 1 MiB steps. Shared, not malloc'd, because of
 * fork: a private buffer is write-protected in the service at every fork, so
 * receiving the next request faulted on every page again (and a fresh
 * malloc'd buffer per request faulted them in from zero), while the child
 * only reads the few pages its parser touches. A shared mapping is neither
 * copied nor write-protected by fork; the child maps in just the pages it
 * reads. (About 1,300 page faults per 1 MB HDF5 file before, see
 * docs/formats3.md; faults are the dominant cost on virtual machines.)
 * Children only read it: a child cannot change what the next one sees,
 * because the service overwrites the bytes it uses before each fork.
 */
static uint8_t *req_buf;
static size_t req_cap;

static uint8_t *req_reserve(uint64_t len)
{
	size_t want;
	void *p;

	if (len <= req_cap && req_buf != NULL)
		return req_buf;
	want = (size_t)((len + ((uint64_t)1 << 20)) & ~(((uint64_t)1 << 20) - 1));
	if (req_buf != NULL)
		munmap(req_buf, req_cap);
	req_buf = NULL;
	req_cap = 0;
	p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	req_buf = p;
	req_cap = want;
	return req_buf;
}

int bw_worker_serve(int fd, bw_worker_handler h)
{
	uint8_t hdr[16], *data, *payload;
	uint32_t kind, timeout_ms;
	uint64_t len;
	size_t plen;
	enum bw_worker_status st;

	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		if (read_all(fd, hdr, sizeof hdr, -1) != 0)
			return 0; /* the scanner closed the socket */
		kind = get32(hdr);
		timeout_ms = get32(hdr + 4);
		len = get64(hdr + 8);
		if (len > BW_WORKER_MAX_REQUEST)
			return 1;
		data = req_reserve(len);
		if (data == NULL || read_all(fd, data, (size_t)len, -1) != 0)
			return 1;
		if (g_prepare != NULL)
			g_prepare(kind); /* once here, so the children inherit it */
		st = run_child(h, kind, data, (size_t)len, (int)timeout_ms, &payload, &plen);
		if (write_reply(fd, st, payload, plen) != 0)
			return 1;
		bw_free(payload);
	}
}

/*
 * The worker's environment: ours plus OPENBLAS_NUM_THREADS=1 unless set. The
 * worker never does linear algebra, and OpenBLAS starts one thread per core at
 * load time that spins (sched_yield) for a while, taking CPU from the scan.
 * NULL on allocation failure (the caller then passes environ unchanged).
 */
static char **worker_env(void)
{
	size_t n = 0, i;
	char **env;
	int has = 0;

	for (; environ != NULL && environ[n] != NULL; n++)
		has |= strncmp(environ[n], "OPENBLAS_NUM_THREADS=", 21) == 0;
	env = bw_calloc(n + 2, sizeof *env);
	if (env == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		env[i] = environ[i];
	if (!has)
		env[n] = (char *)"OPENBLAS_NUM_THREADS=1";
	return env;
}

enum bw_err bw_worker_start(const char *exe, const char *argv1, struct bw_diag *diag)
{
	int sv[2], rc;
	char *argv[4];
	char **env;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	pthread_mutex_lock(&svc.mu);
	if (svc.running) {
		pthread_mutex_unlock(&svc.mu);
		return BW_OK;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		pthread_mutex_unlock(&svc.mu);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "socketpair: %s", strerror(errno));
	}
	argv[0] = (char *)"bulwark-worker";
	argv[1] = (char *)argv1;
	argv[2] = (char *)"3";
	argv[3] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	env = worker_env();
	rc = posix_spawn(&pid, exe, &fa, NULL, argv, env != NULL ? env : environ);
	bw_free(env);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		pthread_mutex_unlock(&svc.mu);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "starting the worker service: %s",
		                   strerror(rc));
	}
	svc.pid = pid;
	svc.fd = sv[0];
	svc.running = 1;
	svc.broken = 0;
	pthread_mutex_unlock(&svc.mu);
	return BW_OK;
}

void bw_worker_stop(void)
{
	pthread_mutex_lock(&svc.mu);
	if (svc.running) {
		close(svc.fd);
		if (svc.broken)
			kill(svc.pid, SIGKILL);
		while (waitpid(svc.pid, NULL, 0) < 0 && errno == EINTR)
			;
		svc.running = 0;
		svc.fd = -1;
		svc.pid = -1;
	}
	pthread_mutex_unlock(&svc.mu);
}

enum bw_worker_status bw_worker_call(uint32_t kind, const uint8_t *data, size_t len, int timeout_ms,
                                     uint8_t **reply, size_t *reply_len)
{
	uint8_t hdr[16];
	uint32_t st = 0;
	int r;

	*reply = NULL;
	*reply_len = 0;
	if ((uint64_t)len > BW_WORKER_MAX_REQUEST)
		return BW_WORKER_UNAVAILABLE;
	pthread_mutex_lock(&svc.mu);
	if (!svc.running) {
		pthread_mutex_unlock(&svc.mu);
		return run_child(g_handler, kind, data, len, timeout_ms, reply, reply_len);
	}
	if (svc.broken) {
		pthread_mutex_unlock(&svc.mu);
		return BW_WORKER_UNAVAILABLE;
	}
	put32(hdr, kind);
	put32(hdr + 4, (uint32_t)timeout_ms);
	put64(hdr + 8, len);
	if (write_all(svc.fd, hdr, sizeof hdr) != 0 || write_all(svc.fd, data, len) != 0) {
		svc.broken = 1;
		pthread_mutex_unlock(&svc.mu);
		return BW_WORKER_UNAVAILABLE;
	}
	/* the service enforces timeout_ms on the child; allow it time to report */
	r = read_reply(svc.fd, now_ms() + timeout_ms + 10000, &st, reply, reply_len);
	if (r != 0 || st > BW_WORKER_UNAVAILABLE) {
		svc.broken = 1;
		bw_free(*reply);
		*reply = NULL;
		*reply_len = 0;
		pthread_mutex_unlock(&svc.mu);
		return BW_WORKER_UNAVAILABLE;
	}
	pthread_mutex_unlock(&svc.mu);
	if (st != BW_WORKER_OK && st != BW_WORKER_REFUSED) {
		bw_free(*reply);
		*reply = NULL;
		*reply_len = 0;
	}
	return (enum bw_worker_status)st;
}
