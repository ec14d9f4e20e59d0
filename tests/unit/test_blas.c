/*
 * test_blas.c - the BLAS loader of the tensor engine (tensor/blas.h):
 * OpenBLAS is found and loaded, and the plain-loop fallback gives the same
 * products as OpenBLAS for every order/transpose combination and beta.
 */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "tensor/blas.h"

#define M 7
#define N 5
#define K 6

static float frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

int main(void)
{
	static const enum CBLAS_TRANSPOSE tr[2] = {CblasNoTrans, CblasTrans};
	static const enum CBLAS_ORDER ord[2] = {CblasRowMajor, CblasColMajor};
	float a[M * K], b[K * N], c0[M * N], c1[M * N], c2[M * N];
	unsigned seed = 42;
	int o, i, j, bt, n;
	const char *core = bw_blas_corename();

	CHECKF(strncmp(core, "none", 4) != 0, "OpenBLAS not loaded: %s", core);
	for (i = 0; i < M * K; i++)
		a[i] = frand(&seed);
	for (i = 0; i < K * N; i++)
		b[i] = frand(&seed);
	for (i = 0; i < M * N; i++)
		c0[i] = frand(&seed);
	for (o = 0; o < 2; o++)
		for (i = 0; i < 2; i++)
			for (j = 0; j < 2; j++)
				for (bt = 0; bt < 2; bt++) {
					/* leading dimensions for the stored (possibly transposed) shapes */
					int rowm = ord[o] == CblasRowMajor;
					int lda = (tr[i] == CblasNoTrans) == rowm ? K : M;
					int ldb = (tr[j] == CblasNoTrans) == rowm ? N : K;
					int ldc = rowm ? N : M;
					float beta = bt ? 0.5f : 0.0f;
					double worst = 0.0;

					memcpy(c1, c0, sizeof c0);
					memcpy(c2, c0, sizeof c0);
					bw_blas_sgemm(ord[o], tr[i], tr[j], M, N, K, 1.5f, a, lda, b, ldb, beta, c1, ldc);
					bw_blas_ref_sgemm(ord[o], tr[i], tr[j], M, N, K, 1.5f, a, lda, b, ldb, beta, c2, ldc);
					for (n = 0; n < M * N; n++) {
						double d = fabs((double)c1[n] - (double)c2[n]);

						if (d > worst)
							worst = d;
					}
					CHECKF(worst < 1e-5, "order %d ta %d tb %d beta %.1f: max diff %g", o, i, j,
					       (double)beta, worst);
				}
	bw_blas_set_num_threads(1);
	return bw_test_done();
}
