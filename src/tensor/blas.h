/*
 * tensor/blas.h - the BLAS the tensor engine calls, loaded on first use.
 *
 * libopenblas is not linked into libbulwark: OpenBLAS starts its thread pool
 * and resolves thousands of symbols when it is loaded, a cost every bulwark
 * process (scan, audit, ...) would pay at start-up for code only train, eval,
 * attack and robustness run. tensor/tensor_blas.c loads it with dlopen (soname
 * from the build, BW_OPENBLAS_SONAME) the first time a BLAS function is called.
 * Include this header instead of <cblas.h>: it keeps cblas.h's types and
 * enums and routes the few functions used here to the loader. If the library
 * cannot be loaded, sgemm runs plain C loops (correct, slow) and
 * bw_tensor_blas_core() says so.
 */
#ifndef BW_TENSOR_BLAS_H
#define BW_TENSOR_BLAS_H

#include <cblas.h>

void bw_blas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                   const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n, const blasint k,
                   const float alpha, const float *a, const blasint lda, const float *b,
                   const blasint ldb, const float beta, float *c, const blasint ldc);
void bw_blas_set_num_threads(int n);
/* The fallback sgemm (plain loops), exposed for the tests. */
void bw_blas_ref_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                       blasint m, blasint n, blasint k, float alpha, const float *a, blasint lda,
                       const float *b, blasint ldb, float beta, float *c, blasint ldc);
/* OpenBLAS's kernel name ("SkylakeX", ...), or a note that the fallback runs. */
const char *bw_blas_corename(void);

#define cblas_sgemm bw_blas_sgemm
#define openblas_set_num_threads bw_blas_set_num_threads

#endif
