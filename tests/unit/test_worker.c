/*
 * test_worker.c - confined worker children (core/worker.c), directly forked and
 * through the worker service with one channel per core: replies, refusals,
 * crashes and timeouts come back as statuses; a child holds no descriptor but
 * its pipes (it cannot write into the scanner's channels); several threads
 * calling at once each get their own reply. A service child serves several
 * requests of one kind (the pid it reports stays the same) and is replaced
 * after 64, after a crash, timeout or refusal (that file's status only; the
 * next file is read right by a fresh child), on a change of kind or a larger
 * buffer; a crash caused by an earlier request's leftovers is retried on a
 * fresh child; with per_child 1 every request gets its own child.
 * The service is a fork of this test: it keeps none of the test's descriptors,
 * and it and its children see no environment but OPENBLAS_NUM_THREADS=1.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/scan.h"
#include "core/worker.h"
#include "harness.h"

enum { K_ECHO, K_REFUSE, K_CRASH, K_SPIN, K_FDS, K_STATE, K_ENV };

extern char **environ;

/* A bad address the optimiser cannot see through (gcc -O2 rejects a constant one: -Warray-bounds). */
static volatile int *volatile bad_address = (volatile int *)(uintptr_t)8;

static int poisoned; /* K_STATE: set by "poison", makes the child's next K_STATE request crash */

static void spin(void)
{
	struct timespec t0, t;

	/* no sleeping syscall under the filter: spin on the clock */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while (t.tv_sec - t0.tv_sec < 20);
}

/* K_STATE: "<pid> <data>", or per data: poison, crash, spin, refuse. */
static int state(const uint8_t *data, size_t len, struct bw_buf *reply)
{
	char msg[32];

	if (len == 6 && memcmp(data, "poison", 6) == 0) {
		poisoned = 1;
		return bw_buf_puts(reply, "ok") == BW_OK ? 0 : 1;
	}
	if (poisoned || (len == 5 && memcmp(data, "crash", 5) == 0))
		*bad_address = 1;
	if (len == 4 && memcmp(data, "spin", 4) == 0)
		spin();
	if (len == 6 && memcmp(data, "refuse", 6) == 0)
		return bw_buf_puts(reply, "refused") == BW_OK ? 1 : 2;
	snprintf(msg, sizeof msg, "%ld ", (long)getpid());
	return bw_buf_puts(reply, msg) == BW_OK && bw_buf_append(reply, data, len) == BW_OK ? 0 : 1;
}

static int handler(uint32_t kind, const uint8_t *data, size_t len, struct bw_buf *reply)
{
	struct stat sb;
	int fd, open_fds = 0;
	char msg[32];

	switch (kind) {
	case K_ECHO:
		return bw_buf_append(reply, data, len) == BW_OK ? 0 : 1;
	case K_REFUSE:
		return bw_buf_puts(reply, "no thanks") == BW_OK ? 1 : 2;
	case K_CRASH: /* (an ASan build prints a SEGV report for this child: expected) */
		*bad_address = 1;
		return 0;
	case K_SPIN:
		spin();
		return 0;
	case K_FDS: /* fstat (allowed) tells an open descriptor from a closed one (EBADF) */
		for (fd = 3; fd < 256; fd++)
			if (fstat(fd, &sb) == 0)
				open_fds++;
		snprintf(msg, sizeof msg, "%d", open_fds);
		return bw_buf_puts(reply, msg) == BW_OK ? 0 : 1;
	case K_STATE:
		return state(data, len, reply);
	case K_ENV: /* the whole environment, ';'-separated */
		for (fd = 0; environ != NULL && environ[fd] != NULL; fd++)
			if (bw_buf_puts(reply, environ[fd]) != BW_OK || bw_buf_puts(reply, ";") != BW_OK)
				return 1;
		return 0;
	default:
		return 1;
	}
}

static enum bw_worker_status call(uint32_t kind, const char *in, int timeout_ms, char *out, size_t outlen)
{
	uint8_t *r = NULL;
	size_t rl = 0;
	enum bw_worker_status st = bw_worker_call(kind, (const uint8_t *)in, strlen(in), timeout_ms, &r, &rl);

	out[0] = '\0';
	if (r != NULL)
		snprintf(out, outlen, "%.*s", (int)rl, (const char *)r);
	free(r);
	return st;
}

static void statuses(const char *how, const char *n_fds)
{
	char out[128];

	fprintf(stderr, "%s\n", how);
	CHECK_EQ_INT(call(K_ECHO, "hello", 10000, out, sizeof out), BW_WORKER_OK);
	CHECKF(strcmp(out, "hello") == 0, "%s", out);
	CHECK_EQ_INT(call(K_REFUSE, "x", 10000, out, sizeof out), BW_WORKER_REFUSED);
	CHECKF(strcmp(out, "no thanks") == 0, "%s", out);
	CHECK_EQ_INT(call(K_CRASH, "x", 10000, out, sizeof out), BW_WORKER_CRASHED);
	CHECK_EQ_INT(call(K_SPIN, "x", 300, out, sizeof out), BW_WORKER_TIMEOUT);
	/* only the reply pipe (a service child: and its request pipe) is open in the child */
	CHECK_EQ_INT(call(K_FDS, "x", 10000, out, sizeof out), BW_WORKER_OK);
	CHECKF(strcmp(out, n_fds) == 0, "%s descriptors open, want %s", out, n_fds);
	/* still usable after a crash and a timeout */
	CHECK_EQ_INT(call(K_ECHO, "again", 10000, out, sizeof out), BW_WORKER_OK);
	CHECKF(strcmp(out, "again") == 0, "%s", out);
}

static int thread_bad[4];

static void *hammer(void *arg)
{
	int id = (int)(intptr_t)arg, i;
	char in[64], out[64];

	for (i = 0; i < 25; i++) {
		snprintf(in, sizeof in, "thread %d call %d", id, i);
		if (call(K_ECHO, in, 10000, out, sizeof out) != BW_WORKER_OK || strcmp(in, out) != 0)
			thread_bad[id]++;
	}
	return NULL;
}

/* A K_STATE call that must succeed with "<pid> <in>"; returns the pid (0 on failure). */
static long state_pid(const char *in)
{
	char out[128], *end;
	long pid;
	enum bw_worker_status st = call(K_STATE, in, 10000, out, sizeof out);

	CHECKF(st == BW_WORKER_OK, "'%s': status %d", in, (int)st);
	if (st != BW_WORKER_OK)
		return 0;
	pid = strtol(out, &end, 10);
	CHECKF(pid > 0 && *end == ' ' && strcmp(end + 1, in) == 0, "'%s' answered '%s'", in, out);
	return pid;
}

/* Single-threaded calls all go to channel 0, so they meet the same child while it lives. */
static void reuse(void)
{
	char out[128];
	char *big;
	long a, b, p, prev;
	int i, n_pids;

	fprintf(stderr, "one child, several requests\n");
	a = state_pid("first");
	CHECKF(a > 0 && state_pid("second, longer than the first") == a, "not the same child");
	CHECKF(state_pid("3") == a, "shorter request read in place by the same child");

	/* a crash in the middle: that file's status; the next file is read by a fresh child */
	CHECK_EQ_INT(call(K_STATE, "crash", 10000, out, sizeof out), BW_WORKER_CRASHED);
	b = state_pid("after the crash");
	CHECKF(b > 0 && b != a, "after a crash: pid %ld, before %ld", b, a);
	CHECKF(state_pid("and again") == b, "the fresh child is reused");

	/* a timeout likewise */
	CHECK_EQ_INT(call(K_STATE, "spin", 300, out, sizeof out), BW_WORKER_TIMEOUT);
	a = state_pid("after the timeout");
	CHECKF(a > 0 && a != b, "after a timeout: pid %ld, before %ld", a, b);

	/* a refused file: its message, and the child is not trusted with the next one */
	CHECK_EQ_INT(call(K_STATE, "refuse", 10000, out, sizeof out), BW_WORKER_REFUSED);
	CHECKF(strcmp(out, "refused") == 0, "%s", out);
	b = state_pid("after the refusal");
	CHECKF(b > 0 && b != a, "after a refusal: pid %ld, before %ld", b, a);

	/* leftovers of an earlier request crash the reused child: retried on a fresh one */
	CHECK_EQ_INT(call(K_STATE, "poison", 10000, out, sizeof out), BW_WORKER_OK);
	a = state_pid("after the poison");
	CHECKF(a > 0 && a != b, "after poison: pid %ld, before %ld", a, b);

	/* another kind replaces the child; coming back needs a new one again */
	CHECK_EQ_INT(call(K_ECHO, "echo", 10000, out, sizeof out), BW_WORKER_OK);
	b = state_pid("after an echo");
	CHECKF(b > 0 && b != a, "after another kind: pid %ld, before %ld", b, a);

	/* a request larger than the child's mapping: a new buffer and a new child */
	big = malloc((size_t)3 << 20);
	CHECK(big != NULL);
	if (big != NULL) {
		memset(big, 'x', ((size_t)3 << 20) - 1);
		big[((size_t)3 << 20) - 1] = '\0';
		CHECK_EQ_INT(call(K_STATE, big, 10000, out, sizeof out), BW_WORKER_OK);
		p = strtol(out, NULL, 10);
		CHECKF(p > 0 && p != b, "after growing the buffer: pid %ld, before %ld", p, b);
		free(big);
	}

	/* at most 64 requests per child: 130 requests meet 3 children (64 + 64 + 2) */
	CHECK_EQ_INT(call(K_ECHO, "a fresh child next", 10000, out, sizeof out), BW_WORKER_OK);
	a = state_pid("start");
	prev = a;
	n_pids = 1;
	for (i = 1; i < 130; i++) {
		p = state_pid(i % 2 ? "odd" : "even");
		if (p != prev)
			n_pids++;
		CHECKF(p != prev ? i % 64 == 0 : 1, "new child at request %d", i);
		prev = p;
	}
	CHECK_EQ_INT(n_pids, 3);
}

/* The pid of our one child process (the service), from /proc/PID/stat; -1 if none. */
static long child_pid(void)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	long found = -1, ppid;
	DIR *d = opendir("/proc");
	FILE *f;
	size_t n;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* pid (comm) state ppid ...: comm may hold spaces, so from the last ')' */
		p = strrchr(buf, ')');
		if (p != NULL && sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == (long)getpid())
			found = atol(de->d_name);
	}
	closedir(d);
	return found;
}

/* The service holds none of the caller's descriptors; children see no caller environment. */
static void service_hygiene(const char *marker)
{
	char out[512], dir[64], link[PATH_MAX + 300], target[PATH_MAX];
	struct dirent *de;
	DIR *d;
	long svc;
	ssize_t n;
	int seen = 0;

	CHECK_EQ_INT(call(K_ENV, "x", 10000, out, sizeof out), BW_WORKER_OK);
	CHECKF(strcmp(out, "OPENBLAS_NUM_THREADS=1;") == 0, "child environment: %s", out);
	svc = child_pid();
	CHECKF(svc > 1, "no child process (the service) found");
	snprintf(dir, sizeof dir, "/proc/%ld/fd", svc);
	d = opendir(dir);
	CHECKF(d != NULL, "cannot list %s", dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof link, "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		seen++;
		CHECKF(strcmp(target, marker) != 0, "the service holds the caller's %s (fd %s)", marker,
		       de->d_name);
	}
	closedir(d);
	CHECKF(seen >= 4, "only %d descriptors listed for the service", seen);
}

static void isolated(void)
{
	struct bw_diag d;
	long a, b;

	fprintf(stderr, "per_child 1: a fresh child per request\n");
	bw_diag_clear(&d);
	CHECK_EQ_INT(bw_worker_start(1, &d), BW_OK);
	a = state_pid("one");
	b = state_pid("two");
	CHECKF(a > 0 && b > 0 && a != b, "pids %ld %ld", a, b);
	CHECKF(state_pid("three") != b, "reused with per_child 1");
	statuses("isolated children", "2");
	bw_worker_stop();
}

int main(int argc, char **argv)
{
	pthread_t th[4];
	struct bw_diag d;
	char marker[] = "/tmp/bw_test_worker_XXXXXX";
	int i, marker_fd;

	(void)argc;
	(void)argv;
	bw_worker_set_handler(handler);
	statuses("direct children", "1");

	/* a descriptor and a secret the service must not keep */
	marker_fd = mkstemp(marker);
	CHECKF(marker_fd >= 0, "mkstemp %s", marker);
	CHECK(setenv("BW_TEST_SECRET", "hunter2", 1) == 0);
	bw_diag_clear(&d);
	CHECK_EQ_INT(bw_worker_start(0, &d), BW_OK);
	statuses("through the service", "2");
	service_hygiene(marker);
	close(marker_fd);
	unlink(marker);
	reuse();
	for (i = 0; i < 4; i++)
		CHECK_EQ_INT(pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECKF(thread_bad[i] == 0, "thread %d: %d bad replies", i, thread_bad[i]);
	}
	bw_worker_stop();
	isolated();
	return bw_test_done();
}
