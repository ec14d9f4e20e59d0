/*
 * tensor/dnnl.h - convolutions through oneDNN (Debian's libdnnl), loaded with
 * dlopen on first use like OpenBLAS (tensor/blas.h), so bulwark processes that
 * never train or evaluate a model never map it. tensor_conv.c asks here first
 * and keeps its own lowering + sgemm path when oneDNN cannot be loaded, is
 * disabled (BW_TENSOR_NO_DNNL=1 in the environment, or bw_dnnl_set_enabled(0)),
 * or cannot build a primitive for the form at hand.
 * Threads: oneDNN runs single-threaded (OpenMP team of one) inside the engine's
 * own fork-join workers (tensor_par.c); each worker takes a share of the batch.
 * Internal to src/tensor and its tests.
 */
#ifndef BW_TENSOR_DNNL_H
#define BW_TENSOR_DNNL_H

#include <stddef.h>

struct bw_graph;

/* One convolution: NCHW input (n, c, h, w), weights (oc, c/groups, kh, kw). */
struct bw_dnnl_conv {
	int n, c, h, w, oc, kh, kw, oh, ow;
	int sh, sw, pt, pl, pb, pr, dh, dw, groups;
};

/* 1 when oneDNN is loaded and enabled (loads it on the first call; thread-safe). */
int bw_dnnl_on(void);
/* Turn the oneDNN path on or off for the process (tests; not while layers run). */
void bw_dnnl_set_enabled(int on);
/* Convolutions run through oneDNN since start-up (tests check the path was taken). */
unsigned long bw_dnnl_n_calls(void);
/* "oneDNN 2.6.3 (jit:avx512_core, ...)" or why it is not used. Static storage. */
const char *bw_dnnl_describe(void);

/*
 * y = conv(x, w) + b (b may be NULL), then ReLU when relu != 0, over nw
 * workers. Returns 0 when done, 1 when oneDNN is off or does not cover this
 * form (y untouched: the caller runs its own path), -1 on failure (out of
 * memory for the graph scratch).
 */
int bw_dnnl_conv_fwd(struct bw_graph *g, const struct bw_dnnl_conv *q, const float *x,
                     const float *w, const float *b, float *y, int relu, int nw);
/*
 * Gradients of the convolution from gy, ADDED to dx, dw, db (each may be NULL:
 * not wanted). Same return values; on 1 nothing was written.
 */
int bw_dnnl_conv_bwd(struct bw_graph *g, const struct bw_dnnl_conv *q, const float *x,
                     const float *w, const float *gy, float *dx, float *dw, float *db, int nw);

#endif
