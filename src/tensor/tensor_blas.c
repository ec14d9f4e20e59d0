/*
 * tensor/tensor_blas.c - OpenBLAS loaded with dlopen on first use (see
 * tensor/blas.h), with a plain C sgemm when it cannot be loaded.
 *
 * Kernel choice: OpenBLAS's DYNAMIC_ARCH build (Debian's) picks its kernels
 * from the CPU model number. Virtual CPUs that report an unknown model
 * ("Intel Xeon Processor") get the SSE3 "Prescott" kernels, 3-4x slower than
 * the AVX-512/AVX2 ones the CPU has. When that happens and the user has not
 * chosen a core (OPENBLAS_CORETYPE), the core the CPU's feature flags support
 * is set and OpenBLAS's own selection is re-run (gotoblas_dynamic_quit/init).
 * Loading sets OPENBLAS_NUM_THREADS=1 in the environment unless it is set.
 * Must not: be called before main (it reads the environment once).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tensor/blas.h"

#undef cblas_sgemm
#undef openblas_set_num_threads

static struct {
	__typeof__(&cblas_sgemm) sgemm;
	void (*set_threads)(int);
	char *(*corename)(void);
	void (*dyn_init)(void);
	void (*dyn_quit)(void);
	int loaded;
} blas;

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void *sym(void *lib, const char *name)
{
	return dlsym(lib, name);
}

static void fix_core(void)
{
	const char *core;

	if (getenv("OPENBLAS_CORETYPE") != NULL || blas.dyn_init == NULL || blas.dyn_quit == NULL ||
	    blas.corename == NULL)
		return;
	core = blas.corename();
	if (core == NULL || strcasecmp(core, "prescott") != 0)
		return;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
	else if (__builtin_cpu_supports("avx2"))
		setenv("OPENBLAS_CORETYPE", "Haswell", 0);
	else
		return;
	blas.dyn_quit();
	blas.dyn_init();
}

static void load(void)
{
	void *lib;
	void *p;

	/* The engine runs OpenBLAS single-threaded inside its own threads
	 * (tensor_par.c): without this OpenBLAS would start a thread pool that
	 * spins at start-up. A value the user set is kept. */
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	lib = dlopen(BW_OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL)
		return;
	p = sym(lib, "cblas_sgemm");
	memcpy(&blas.sgemm, &p, sizeof p);
	p = sym(lib, "openblas_set_num_threads");
	memcpy(&blas.set_threads, &p, sizeof p);
	p = sym(lib, "openblas_get_corename");
	memcpy(&blas.corename, &p, sizeof p);
	p = sym(lib, "gotoblas_dynamic_init");
	memcpy(&blas.dyn_init, &p, sizeof p);
	p = sym(lib, "gotoblas_dynamic_quit");
	memcpy(&blas.dyn_quit, &p, sizeof p);
	if (blas.sgemm == NULL)
		return;
	blas.loaded = 1;
	fix_core();
}

static void ensure(void)
{
	pthread_once(&blas_once, load);
}

/* C = alpha * op(A) op(B) + beta * C, row- or column-major, in plain loops. */
void bw_blas_ref_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                      blasint m, blasint n, blasint k, float alpha, const float *a, blasint lda,
                      const float *b, blasint ldb, float beta, float *c, blasint ldc)
{
	blasint i, j, l;

	if (order == CblasColMajor) {
		/* column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T */
		bw_blas_ref_sgemm(CblasRowMajor, tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
		return;
	}
	for (i = 0; i < m; i++)
		for (j = 0; j < n; j++) {
			float s = 0.0f;

			for (l = 0; l < k; l++) {
				float x = ta == CblasNoTrans ? a[i * lda + l] : a[l * lda + i];
				float y = tb == CblasNoTrans ? b[l * ldb + j] : b[j * ldb + l];

				s += x * y;
			}
			c[i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
		}
}

void bw_blas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                   const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n, const blasint k,
                   const float alpha, const float *a, const blasint lda, const float *b,
                   const blasint ldb, const float beta, float *c, const blasint ldc)
{
	ensure();
	if (blas.loaded)
		blas.sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	else
		bw_blas_ref_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void bw_blas_set_num_threads(int n)
{
	ensure();
	if (blas.set_threads != NULL)
		blas.set_threads(n);
}

const char *bw_blas_corename(void)
{
	const char *c;

	ensure();
	if (!blas.loaded)
		return "none (" BW_OPENBLAS_SONAME " could not be loaded: plain C loops)";
	c = blas.corename != NULL ? blas.corename() : NULL;
	return c != NULL ? c : "unknown";
}
