/*
 * test_worker.c - confined worker children (core/worker.c), directly forked and
 * through the worker service with one channel per core: replies, refusals,
 * crashes and timeouts come back as statuses; a child holds no descriptor but
 * its reply pipe (it cannot write into the scanner's channels); several
 * threads calling at once each get their own reply.
 * The executable is its own service: `test_worker __worker FD`.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/scan.h"
#include "core/worker.h"
#include "harness.h"

enum { K_ECHO, K_REFUSE, K_CRASH, K_SPIN, K_FDS };

static int handler(uint32_t kind, const uint8_t *data, size_t len, struct bw_buf *reply)
{
	struct timespec t0, t;
	int fd, open_fds = 0;
	char msg[32];

	switch (kind) {
	case K_ECHO:
		return bw_buf_append(reply, data, len) == BW_OK ? 0 : 1;
	case K_REFUSE:
		return bw_buf_puts(reply, "no thanks") == BW_OK ? 1 : 2;
	case K_CRASH: /* (an ASan build prints a SEGV report for this child: expected) */
		*(volatile int *)(uintptr_t)8 = 1;
		return 0;
	case K_SPIN: /* no sleeping syscall under the filter: spin on the clock */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while (t.tv_sec - t0.tv_sec < 20);
		return 0;
	case K_FDS: /* a zero-byte write tells an open descriptor from a closed one (EBADF) */
		for (fd = 3; fd < 256; fd++)
			if (write(fd, "", 0) == 0)
				open_fds++;
		snprintf(msg, sizeof msg, "%d", open_fds);
		return bw_buf_puts(reply, msg) == BW_OK ? 0 : 1;
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

static void statuses(const char *how)
{
	char out[128];

	fprintf(stderr, "%s\n", how);
	CHECK_EQ_INT(call(K_ECHO, "hello", 10000, out, sizeof out), BW_WORKER_OK);
	CHECKF(strcmp(out, "hello") == 0, "%s", out);
	CHECK_EQ_INT(call(K_REFUSE, "x", 10000, out, sizeof out), BW_WORKER_REFUSED);
	CHECKF(strcmp(out, "no thanks") == 0, "%s", out);
	CHECK_EQ_INT(call(K_CRASH, "x", 10000, out, sizeof out), BW_WORKER_CRASHED);
	CHECK_EQ_INT(call(K_SPIN, "x", 300, out, sizeof out), BW_WORKER_TIMEOUT);
	/* only the reply pipe is open in the child */
	CHECK_EQ_INT(call(K_FDS, "x", 10000, out, sizeof out), BW_WORKER_OK);
	CHECKF(strcmp(out, "1") == 0, "%s descriptors open", out);
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

int main(int argc, char **argv)
{
	pthread_t th[4];
	struct bw_diag d;
	int i;

	if (argc == 3 && strcmp(argv[1], "__worker") == 0)
		return bw_worker_serve(atoi(argv[2]), handler);
	bw_worker_set_handler(handler);
	statuses("direct children");

	bw_diag_clear(&d);
	CHECK_EQ_INT(bw_worker_start("/proc/self/exe", "__worker", &d), BW_OK);
	statuses("through the service");
	for (i = 0; i < 4; i++)
		CHECK_EQ_INT(pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECKF(thread_bad[i] == 0, "thread %d: %d bad replies", i, thread_bad[i]);
	}
	bw_worker_stop();
	return bw_test_done();
}
