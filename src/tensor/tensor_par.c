/*
 * tensor/tensor_par.c - the engine's own threads: how many the caller asked
 * for (bw_tensor_set_threads) and a fork-join "run this on n workers" used by
 * the convolution and linear layers, which split a batch between workers and
 * call OpenBLAS single-threaded inside each (two thread pools on two cores only
 * oversubscribe). The split depends only on the thread count, so results are
 * the same from run to run for a given count.
 * Must not: allocate through the bulwark allocator (threads only), or fail:
 * when a thread cannot be started its share runs on the calling thread.
 */
#include <pthread.h>
#include <unistd.h>

#include "tensor/tensor_int.h"

#define PAR_MAX 64

static int g_threads; /* 0: not chosen yet (every online core) */

void bw_t_set_threads(int n)
{
	if (n > PAR_MAX)
		n = PAR_MAX;
	g_threads = n;
}

int bw_t_threads(void)
{
	long n = g_threads;

	if (n <= 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
		if (n > PAR_MAX)
			n = PAR_MAX;
	}
	return (int)n;
}

struct par_job {
	bw_t_par_fn fn;
	void *ctx;
	int i, n;
};

static void *par_main(void *arg)
{
	struct par_job *j = arg;

	j->fn(j->ctx, j->i, j->n);
	return NULL;
}

void bw_t_par(int n, bw_t_par_fn fn, void *ctx)
{
	pthread_t th[PAR_MAX];
	struct par_job jobs[PAR_MAX];
	int started[PAR_MAX];
	int i;

	if (n > PAR_MAX)
		n = PAR_MAX;
	if (n <= 1) {
		fn(ctx, 0, 1);
		return;
	}
	for (i = 1; i < n; i++) {
		jobs[i].fn = fn;
		jobs[i].ctx = ctx;
		jobs[i].i = i;
		jobs[i].n = n;
		started[i] = pthread_create(&th[i], NULL, par_main, &jobs[i]) == 0;
	}
	fn(ctx, 0, n);
	for (i = 1; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			fn(ctx, i, n);
	}
}

void bw_t_split(int total, int i, int n, int *lo, int *hi)
{
	long long a = (long long)total * i / n, b = (long long)total * (i + 1) / n;

	*lo = (int)a;
	*hi = (int)b;
}
