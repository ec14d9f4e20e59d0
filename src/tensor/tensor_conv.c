/*
 * tensor/tensor_conv.c - convolution and fully-connected layers, forward and
 * backward, as im2col + OpenBLAS sgemm. The batch is split between the
 * engine's threads (tensor_par.c), each calling single-threaded sgemm on its
 * own images; within a worker, images are lowered one at a time when one
 * image's lowered matrix is large (it then stays in the L2 cache and the
 * product writes straight into the NCHW output), or a few at a time when it
 * is small (one wider product instead of many thin ones). Bias and an
 * optional ReLU are applied in the same pass that places the product.
 * Weight gradients are summed per worker and added up in worker order, so
 * a given thread count always gives the same bits.
 * Must not: read outside x (every window position is bounds-checked while
 * lowering) or allocate per call once the graph scratch has grown.
 */
#include <string.h>


#include "core/alloc.h"
#include "tensor/blas.h"
#include "tensor/dnnl.h"
#include "tensor/tensor_int.h"

/* Floats in one worker's lowered chunk (1 MiB: an L2 cache). */
#define CONV_COL_MAX ((size_t)1 << 18)
/* Below this many multiply-adds a layer runs on one thread. */
#define PAR_MIN_MACS ((double)(1 << 21))

/* Four floats; plain SSE2 on x86-64, generic vector code elsewhere. */
typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

static inline v4f ld4(const float *p)
{
	v4f v;

	memcpy(&v, p, sizeof v);
	return v;
}

static inline void st4(float *p, v4f v)
{
	memcpy(p, &v, sizeof v);
}

static inline void copy_run(float *d, const float *s, int n)
{
	int i = 0;

	for (; i + 4 <= n; i += 4)
		st4(d + i, ld4(s + i));
	if (i < n && n >= 4) {
		st4(d + n - 4, ld4(s + n - 4));
		return;
	}
	for (; i < n; i++)
		d[i] = s[i];
}

static inline void zero_run(float *d, int n)
{
	const v4f z = {0.0f, 0.0f, 0.0f, 0.0f};
	int i = 0;

	for (; i + 4 <= n; i += 4)
		st4(d + i, z);
	for (; i < n; i++)
		d[i] = 0.0f;
}

static inline void add_run(float *d, const float *s, int n)
{
	int i = 0;

	for (; i + 4 <= n; i += 4)
		st4(d + i, ld4(d + i) + ld4(s + i));
	for (; i < n; i++)
		d[i] += s[i];
}

/* d[i] = s[i] + bv, or max(s[i] + bv, 0) when relu (d may equal s). */
static inline void bias_act_run(float *d, const float *s, int n, float bv, int relu)
{
	const v4f b4 = {bv, bv, bv, bv}, z = {0.0f, 0.0f, 0.0f, 0.0f};
	int i = 0;

	if (relu) {
		for (; i + 4 <= n; i += 4) {
			v4f v = ld4(s + i) + b4;

			st4(d + i, (v4f)((v4i)v & (v > z)));
		}
		for (; i < n; i++) {
			float v = s[i] + bv;

			d[i] = v > 0.0f ? v : 0.0f;
		}
		return;
	}
	for (; i + 4 <= n; i += 4)
		st4(d + i, ld4(s + i) + b4);
	for (; i < n; i++)
		d[i] = s[i] + bv;
}

static inline float sum_run(const float *s, int n)
{
	v4f a = {0.0f, 0.0f, 0.0f, 0.0f};
	float r;
	int i = 0;

	for (; i + 4 <= n; i += 4)
		a += ld4(s + i);
	r = (a[0] + a[1]) + (a[2] + a[3]);
	for (; i < n; i++)
		r += s[i];
	return r;
}

struct conv_geom {
	int n, c, h, w, oc, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw, groups, cg, ocg, kg, ohw;
};

static int conv_geom(const struct bw_tensor *x, const struct bw_tensor *w,
                     const struct bw_op_attr *a, struct conv_geom *q)
{
	long long k, eh, ew;

	if (x->ndim != 4 || w->ndim != 4 || a->groups < 1)
		return -1;
	q->n = x->shape[0]; q->c = x->shape[1]; q->h = x->shape[2]; q->w = x->shape[3];
	q->oc = w->shape[0]; q->kh = w->shape[2]; q->kw = w->shape[3];
	q->sh = a->stride[0]; q->sw = a->stride[1];
	q->pt = a->pad[0]; q->pl = a->pad[1];
	q->dh = a->dilation[0]; q->dw = a->dilation[1];
	q->groups = a->groups;
	if (q->sh < 1 || q->sw < 1 || q->dh < 1 || q->dw < 1 || a->pad[0] < 0 || a->pad[1] < 0 ||
	    a->pad[2] < 0 || a->pad[3] < 0)
		return -1;
	if (q->c % q->groups != 0 || q->oc % q->groups != 0 || w->shape[1] != q->c / q->groups)
		return -1;
	q->cg = q->c / q->groups;
	q->ocg = q->oc / q->groups;
	eh = (long long)q->h + a->pad[0] + a->pad[2] - (long long)q->dh * (q->kh - 1) - 1;
	ew = (long long)q->w + a->pad[1] + a->pad[3] - (long long)q->dw * (q->kw - 1) - 1;
	if (eh < 0 || ew < 0)
		return -1;
	q->oh = (int)(eh / q->sh + 1);
	q->ow = (int)(ew / q->sw + 1);
	k = (long long)q->cg * q->kh * q->kw;
	if (k > BW_T_MAX_NUMEL || (long long)q->oh * q->ow > BW_T_MAX_NUMEL)
		return -1;
	q->kg = (int)k;
	q->ohw = q->oh * q->ow;
	return 0;
}

/* Images per chunk so that kg * nb * ohw stays under the cap (at least 1, at most max). */
static int conv_chunk(const struct conv_geom *q, int max)
{
	size_t per = (size_t)q->kg * (size_t)q->ohw;
	size_t nb = per == 0 ? 1 : CONV_COL_MAX / per;

	if (nb < 1)
		nb = 1;
	if (nb > (size_t)max)
		nb = (size_t)max;
	return (int)nb;
}

/* Columns [lo, hi) of an output row where 0 <= ox*sw + offx < w. */
static void col_range(const struct conv_geom *q, int offx, int *lo, int *hi)
{
	int l = offx >= 0 ? 0 : (-offx + q->sw - 1) / q->sw;
	int h = (q->w - 1 - offx) < 0 ? 0 : (q->w - 1 - offx) / q->sw + 1;

	if (h > q->ow)
		h = q->ow;
	if (l > h)
		l = h;
	*lo = l;
	*hi = h;
}

/* Lower images [n0, n0+nb) of group gi into col (kg rows, nb*ohw columns). */
static void im2col(const struct conv_geom *q, const float *x, int n0, int nb, int gi, float *col)
{
	int cols = nb * q->ohw;
	int ci, ki, kj, b, oy, ox, lo, hi;

	for (ci = 0; ci < q->cg; ci++)
		for (ki = 0; ki < q->kh; ki++)
			for (kj = 0; kj < q->kw; kj++) {
				float *row = col + (size_t)((ci * q->kh + ki) * q->kw + kj) * (size_t)cols;
				int offx = kj * q->dw - q->pl;

				col_range(q, offx, &lo, &hi);
				for (b = 0; b < nb; b++) {
					const float *xc = x + ((size_t)(n0 + b) * (size_t)q->c +
					                       (size_t)(gi * q->cg + ci)) * (size_t)(q->h * q->w);
					float *r = row + (size_t)b * (size_t)q->ohw;

					for (oy = 0; oy < q->oh; oy++, r += q->ow) {
						int iy = oy * q->sh + ki * q->dh - q->pt;
						const float *xr;

						if (iy < 0 || iy >= q->h) {
							zero_run(r, q->ow);
							continue;
						}
						xr = xc + (size_t)iy * (size_t)q->w + offx;
						for (ox = 0; ox < lo; ox++)
							r[ox] = 0.0f;
						if (q->sw == 1) {
							copy_run(r + lo, xr + lo, hi - lo);
						} else {
							for (ox = lo; ox < hi; ox++)
								r[ox] = xr[ox * q->sw];
						}
						for (ox = hi; ox < q->ow; ox++)
							r[ox] = 0.0f;
					}
				}
			}
}

/* Scatter-add col back into dx (the adjoint of im2col). */
static void col2im(const struct conv_geom *q, const float *col, int n0, int nb, int gi, float *dx)
{
	int cols = nb * q->ohw;
	int ci, ki, kj, b, oy, ox, lo, hi;

	for (ci = 0; ci < q->cg; ci++)
		for (ki = 0; ki < q->kh; ki++)
			for (kj = 0; kj < q->kw; kj++) {
				const float *row = col + (size_t)((ci * q->kh + ki) * q->kw + kj) * (size_t)cols;
				int offx = kj * q->dw - q->pl;

				col_range(q, offx, &lo, &hi);
				for (b = 0; b < nb; b++) {
					float *xc = dx + ((size_t)(n0 + b) * (size_t)q->c +
					                  (size_t)(gi * q->cg + ci)) * (size_t)(q->h * q->w);
					const float *r = row + (size_t)b * (size_t)q->ohw;

					for (oy = 0; oy < q->oh; oy++, r += q->ow) {
						int iy = oy * q->sh + ki * q->dh - q->pt;
						float *xr;

						if (iy < 0 || iy >= q->h)
							continue;
						xr = xc + (size_t)iy * (size_t)q->w + offx;
						if (q->sw == 1) {
							add_run(xr + lo, r + lo, hi - lo);
						} else {
							for (ox = lo; ox < hi; ox++)
								xr[ox * q->sw] += r[ox];
						}
					}
				}
			}
}

/*
 * Stride-1 rows: with sh = dh = 1, output row oy reads input rows oy+ki-pt, so
 * a matrix lowered over (ci, kj) only -- rows ci*kw+kj, columns r*ow+ox for
 * every padded input row r in [0, oh+kh-1) -- serves all kh kernel rows: kernel
 * row ki reads its columns from offset ki*ow on. The product becomes kh
 * products of depth cg*kw over the same lowered matrix, kh times smaller than
 * im2col's, and so are the lowering and its adjoint. Weights are used reordered
 * as wr[gi][ki][oc][ci*kw+kj].
 */
static int rows_ok(const struct conv_geom *q, int chunk)
{
	return q->sh == 1 && q->dh == 1 && q->kh > 1 && chunk == 1;
}

static int rows_r(const struct conv_geom *q)
{
	return q->oh + q->kh - 1;
}

/* w (oc, cg, kh, kw) -> wr, or back (adding) when to_w. */
static void rows_reorder(const struct conv_geom *q, const float *src, float *dst, int to_w)
{
	int kp = q->cg * q->kw, gi, ki, oc, ci, kj;

	for (gi = 0; gi < q->groups; gi++)
		for (ki = 0; ki < q->kh; ki++)
			for (oc = 0; oc < q->ocg; oc++)
				for (ci = 0; ci < q->cg; ci++)
					for (kj = 0; kj < q->kw; kj++) {
						size_t r = ((size_t)(gi * q->kh + ki) * (size_t)q->ocg + (size_t)oc) *
						               (size_t)kp + (size_t)(ci * q->kw + kj);
						size_t o = (((size_t)(gi * q->ocg + oc) * (size_t)q->cg + (size_t)ci) *
						                (size_t)q->kh + (size_t)ki) * (size_t)q->kw + (size_t)kj;

						if (to_w)
							dst[o] += src[r];
						else
							dst[r] = src[o];
					}
}

static void rows_lower(const struct conv_geom *q, const float *x, int n, int gi, float *col)
{
	int rr = rows_r(q), cols = rr * q->ow, ci, kj, r, ox, lo, hi;

	for (ci = 0; ci < q->cg; ci++) {
		const float *xc = x + ((size_t)n * (size_t)q->c + (size_t)(gi * q->cg + ci)) *
		                          (size_t)(q->h * q->w);

		for (kj = 0; kj < q->kw; kj++) {
			float *row = col + (size_t)(ci * q->kw + kj) * (size_t)cols;
			int offx = kj * q->dw - q->pl;

			col_range(q, offx, &lo, &hi);
			for (r = 0; r < rr; r++, row += q->ow) {
				int iy = r - q->pt;
				const float *xr;

				if (iy < 0 || iy >= q->h) {
					zero_run(row, q->ow);
					continue;
				}
				xr = xc + (size_t)iy * (size_t)q->w + offx;
				for (ox = 0; ox < lo; ox++)
					row[ox] = 0.0f;
				if (q->sw == 1) {
					copy_run(row + lo, xr + lo, hi - lo);
				} else {
					for (ox = lo; ox < hi; ox++)
						row[ox] = xr[ox * q->sw];
				}
				for (ox = hi; ox < q->ow; ox++)
					row[ox] = 0.0f;
			}
		}
	}
}

static void rows_raise(const struct conv_geom *q, const float *col, int n, int gi, float *dx)
{
	int rr = rows_r(q), cols = rr * q->ow, ci, kj, r, ox, lo, hi;

	for (ci = 0; ci < q->cg; ci++) {
		float *xc = dx + ((size_t)n * (size_t)q->c + (size_t)(gi * q->cg + ci)) *
		                     (size_t)(q->h * q->w);

		for (kj = 0; kj < q->kw; kj++) {
			const float *row = col + (size_t)(ci * q->kw + kj) * (size_t)cols;
			int offx = kj * q->dw - q->pl;

			col_range(q, offx, &lo, &hi);
			for (r = 0; r < rr; r++, row += q->ow) {
				int iy = r - q->pt;
				float *xr;

				if (iy < 0 || iy >= q->h)
					continue;
				xr = xc + (size_t)iy * (size_t)q->w + offx;
				if (q->sw == 1) {
					add_run(xr + lo, row + lo, hi - lo);
				} else {
					for (ox = lo; ox < hi; ox++)
						xr[ox * q->sw] += row[ox];
				}
			}
		}
	}
}

/* y (ocg, ohw) of image n, group gi = sum over ki of wr[gi][ki] x col[:, ki*ow...]. */
static void rows_fwd(const struct conv_geom *q, const float *wr, const float *col, float *y)
{
	int kp = q->cg * q->kw, ld = rows_r(q) * q->ow, ki;

	for (ki = 0; ki < q->kh; ki++)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q->ocg, q->ohw, kp, 1.0f,
		            wr + (size_t)ki * (size_t)q->ocg * (size_t)kp, kp, col + (size_t)ki * (size_t)q->ow,
		            ld, ki == 0 ? 0.0f : 1.0f, y, q->ohw);
}

/* What the workers of one convolution share; each has `per_worker` floats of scratch. */
struct conv_job {
	const struct conv_geom *q;
	const float *x, *w, *b, *gy;
	const float *wr;      /* reordered weights when the stride-1 rows form is used */
	float *y, *dx, *dw, *db;
	float *scratch;
	size_t per_worker, col_n, tmp_n;
	int chunk, relu, rows;
};

/* Scratch floats per worker, rounded to whole cache lines. */
static size_t conv_scratch(const struct conv_geom *q, int chunk, int backward, size_t *col_n,
                           size_t *tmp_n)
{
	size_t per;

	*col_n = rows_ok(q, chunk) ? (size_t)q->cg * (size_t)q->kw * (size_t)rows_r(q) * (size_t)q->ow
	                           : (size_t)q->kg * (size_t)chunk * (size_t)q->ohw;
	*tmp_n = chunk > 1 ? (size_t)q->ocg * (size_t)chunk * (size_t)q->ohw : 0;
	per = *col_n + *tmp_n;
	if (backward)
		per += (size_t)q->oc * (size_t)q->kg + (size_t)q->oc;
	return (per + 15) & ~(size_t)15;
}

/* The same convolution for tensor/dnnl.h. */
static void conv_dnnl_geom(const struct conv_geom *q, const struct bw_op_attr *a,
                           struct bw_dnnl_conv *d)
{
	d->n = q->n; d->c = q->c; d->h = q->h; d->w = q->w; d->oc = q->oc;
	d->kh = q->kh; d->kw = q->kw; d->oh = q->oh; d->ow = q->ow;
	d->sh = q->sh; d->sw = q->sw; d->dh = q->dh; d->dw = q->dw; d->groups = q->groups;
	d->pt = a->pad[0]; d->pl = a->pad[1]; d->pb = a->pad[2]; d->pr = a->pad[3];
}

static int conv_workers(const struct conv_geom *q)
{
	double macs = (double)q->n * (double)q->oc * (double)q->kg * (double)q->ohw;
	int t = bw_t_threads();

	if (macs < PAR_MIN_MACS || t < 2)
		return 1;
	return t > q->n ? q->n : t;
}

static void conv_fwd_worker(void *ctx, int wi, int nw)
{
	const struct conv_job *j = ctx;
	const struct conv_geom *q = j->q;
	float *col = j->scratch + (size_t)wi * j->per_worker, *tmp = col + j->col_n;
	int lo, hi, n0, nb, gi, oc, bi;

	bw_t_split(q->n, wi, nw, &lo, &hi);
	for (n0 = lo; n0 < hi; n0 += nb) {
		nb = hi - n0 < j->chunk ? hi - n0 : j->chunk;
		for (gi = 0; gi < q->groups; gi++) {
			const float *wg = j->w + (size_t)gi * (size_t)q->ocg * (size_t)q->kg;
			int cols = nb * q->ohw;

			if (nb == 1) {
				float *yo = j->y + ((size_t)n0 * (size_t)q->oc + (size_t)gi * (size_t)q->ocg) *
				                       (size_t)q->ohw;

				if (j->rows) {
					rows_lower(q, j->x, n0, gi, col);
					rows_fwd(q, j->wr + (size_t)gi * (size_t)q->ocg * (size_t)q->kg, col, yo);
				} else {
					im2col(q, j->x, n0, nb, gi, col);
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q->ocg, cols, q->kg,
					            1.0f, wg, q->kg, col, cols, 0.0f, yo, cols);
				}
				if (j->b != NULL || j->relu)
					for (oc = 0; oc < q->ocg; oc++) {
						float *r = yo + (size_t)oc * (size_t)q->ohw;

						bias_act_run(r, r, q->ohw,
						             j->b != NULL ? j->b[gi * q->ocg + oc] : 0.0f, j->relu);
					}
				continue;
			}
			im2col(q, j->x, n0, nb, gi, col);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q->ocg, cols, q->kg, 1.0f, wg,
			            q->kg, col, cols, 0.0f, tmp, cols);
			/* Scatter (ocg, nb*ohw) into NCHW, adding the bias on the way. */
			for (oc = 0; oc < q->ocg; oc++) {
				float bv = j->b != NULL ? j->b[gi * q->ocg + oc] : 0.0f;

				for (bi = 0; bi < nb; bi++)
					bias_act_run(j->y + ((size_t)(n0 + bi) * (size_t)q->oc +
					                     (size_t)(gi * q->ocg + oc)) * (size_t)q->ohw,
					             tmp + (size_t)oc * (size_t)cols + (size_t)bi * (size_t)q->ohw,
					             q->ohw, bv, j->relu);
			}
		}
	}
}

enum bw_err bw_t_conv2d_ex(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                           struct bw_tensor *b, const struct bw_op_attr *a, int relu,
                           struct bw_tensor **out)
{
	struct conv_geom q;
	struct conv_job j;
	struct bw_tensor *y;
	struct bw_tensor *ins[3];
	int shape[4], nw;
	size_t wr_n;

	*out = NULL;
	if (conv_geom(x, w, a, &q) != 0)
		return BW_ERR_ARG;
	if (b != NULL && b->numel != q.oc)
		return BW_ERR_ARG;
	shape[0] = q.n; shape[1] = q.oc; shape[2] = q.oh; shape[3] = q.ow;
	y = bw_g_tensor(g, 4, shape, 0);
	if (y == NULL)
		return BW_ERR_NOMEM;
	if (q.n > 0 && q.oc > 0 && q.ohw > 0) {
		struct bw_dnnl_conv dq;
		int rc;

		nw = conv_workers(&q);
		/* oneDNN first (tensor_dnnl.c); 1 means it is off or does not cover this form. */
		conv_dnnl_geom(&q, a, &dq);
		rc = bw_dnnl_conv_fwd(g, &dq, x->data, w->data, b != NULL ? b->data : NULL, y->data,
		                      relu, nw);
		if (rc < 0)
			return BW_ERR_NOMEM;
		if (rc == 0)
			goto record;
		memset(&j, 0, sizeof j);
		j.q = &q;
		j.x = x->data; j.w = w->data; j.b = b != NULL ? b->data : NULL; j.y = y->data;
		j.relu = relu;
		j.chunk = conv_chunk(&q, (q.n + nw - 1) / nw);
		j.per_worker = conv_scratch(&q, j.chunk, 0, &j.col_n, &j.tmp_n);
		wr_n = rows_ok(&q, j.chunk) ? ((size_t)q.oc * (size_t)q.kg + 15) & ~(size_t)15 : 0;
		j.scratch = bw_g_scratch(g, wr_n + j.per_worker * (size_t)nw);
		if (j.scratch == NULL)
			return BW_ERR_NOMEM;
		if (wr_n != 0) {
			rows_reorder(&q, w->data, j.scratch, 0);
			j.wr = j.scratch;
			j.rows = 1;
			j.scratch += wr_n;
		}
		bw_t_par(nw, conv_fwd_worker, &j);
	}
record:
	ins[0] = x; ins[1] = w; ins[2] = b;
	if (bw_t_any_grad(3, ins)) {
		struct bw_tape_ent *e = bw_g_record(g, BW_OP_CONV2D, y, 3, ins);

		if (e == NULL)
			return BW_ERR_LIMIT;
		e->a = *a;
	}
	*out = y;
	return BW_OK;
}

enum bw_err bw_t_conv2d(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                        struct bw_tensor *b, const struct bw_op_attr *a, struct bw_tensor **out)
{
	return bw_t_conv2d_ex(g, x, w, b, a, 0, out);
}

/* Backward of images [lo, hi) in the stride-1 rows form; dwr: this worker's reordered dW sum. */
static void rows_bwd(const struct conv_job *j, float *col, float *dwr, int lo, int hi)
{
	const struct conv_geom *q = j->q;
	int kp = q->cg * q->kw, ld = rows_r(q) * q->ow, n, gi, ki, r;

	if (j->dw != NULL)
		memset(dwr, 0, sizeof(float) * (size_t)q->oc * (size_t)q->kg);
	for (n = lo; n < hi; n++)
		for (gi = 0; gi < q->groups; gi++) {
			const float *gy = j->gy + ((size_t)n * (size_t)q->oc + (size_t)gi * (size_t)q->ocg) *
			                              (size_t)q->ohw;
			size_t wo = (size_t)gi * (size_t)q->ocg * (size_t)q->kg;

			if (j->dw != NULL) {
				rows_lower(q, j->x, n, gi, col);
				for (ki = 0; ki < q->kh; ki++)
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q->ocg, kp, q->ohw, 1.0f,
					            gy, q->ohw, col + (size_t)ki * (size_t)q->ow, ld, 1.0f,
					            dwr + wo + (size_t)ki * (size_t)q->ocg * (size_t)kp, kp);
			}
			if (j->dx != NULL) {
				/* Kernel row 0 writes columns [0, ohw) of each row; zero the rest first. */
				for (r = 0; r < kp; r++)
					zero_run(col + (size_t)r * (size_t)ld + (size_t)q->ohw, ld - q->ohw);
				for (ki = 0; ki < q->kh; ki++)
					cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kp, q->ohw, q->ocg, 1.0f,
					            j->wr + wo + (size_t)ki * (size_t)q->ocg * (size_t)kp, kp, gy,
					            q->ohw, ki == 0 ? 0.0f : 1.0f, col + (size_t)ki * (size_t)q->ow, ld);
				rows_raise(q, col, n, gi, j->dx);
			}
		}
}

static void conv_bwd_worker(void *ctx, int wi, int nw)
{
	const struct conv_job *j = ctx;
	const struct conv_geom *q = j->q;
	float *col = j->scratch + (size_t)wi * j->per_worker, *tmp = col + j->col_n;
	float *dwp = tmp + j->tmp_n, *dbp = dwp + (size_t)q->oc * (size_t)q->kg;
	int lo, hi, n0, nb, gi, oc, bi;

	bw_t_split(q->n, wi, nw, &lo, &hi);
	/* Worker 0 adds into the gradients themselves, the others into their own sums. */
	if (wi == 0) {
		dwp = j->dw;
		dbp = j->db;
	} else {
		if (j->dw != NULL)
			memset(dwp, 0, sizeof(float) * (size_t)q->oc * (size_t)q->kg);
		if (j->db != NULL)
			memset(dbp, 0, sizeof(float) * (size_t)q->oc);
	}
	if (j->db != NULL)
		for (bi = lo; bi < hi; bi++)
			for (oc = 0; oc < q->oc; oc++)
				dbp[oc] += sum_run(j->gy + ((size_t)bi * (size_t)q->oc + (size_t)oc) *
				                               (size_t)q->ohw, q->ohw);
	if (j->dw == NULL && j->dx == NULL)
		return;
	if (j->rows) {
		rows_bwd(j, col, tmp + j->tmp_n, lo, hi);
		return;
	}
	for (n0 = lo; n0 < hi; n0 += nb) {
		nb = hi - n0 < j->chunk ? hi - n0 : j->chunk;
		for (gi = 0; gi < q->groups; gi++) {
			int cols = nb * q->ohw;
			const float *gy;

			/* dY of this chunk and group as (ocg, nb*ohw). */
			if (nb == 1) {
				gy = j->gy + ((size_t)n0 * (size_t)q->oc + (size_t)gi * (size_t)q->ocg) *
				                 (size_t)q->ohw;
			} else {
				for (oc = 0; oc < q->ocg; oc++)
					for (bi = 0; bi < nb; bi++)
						copy_run(tmp + (size_t)oc * (size_t)cols + (size_t)bi * (size_t)q->ohw,
						         j->gy + ((size_t)(n0 + bi) * (size_t)q->oc +
						                  (size_t)(gi * q->ocg + oc)) * (size_t)q->ohw,
						         q->ohw);
				gy = tmp;
			}
			if (j->dw != NULL) {
				im2col(q, j->x, n0, nb, gi, col);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q->ocg, q->kg, cols, 1.0f, gy,
				            cols, col, cols, 1.0f,
				            dwp + (size_t)gi * (size_t)q->ocg * (size_t)q->kg, q->kg);
			}
			if (j->dx != NULL) {
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, q->kg, cols, q->ocg, 1.0f,
				            j->w + (size_t)gi * (size_t)q->ocg * (size_t)q->kg, q->kg, gy, cols,
				            0.0f, col, cols);
				col2im(q, col, n0, nb, gi, j->dx);
			}
		}
	}
}

enum bw_err bw_t_backward_conv(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0], *w = e->in[1], *b = e->in[2], *y = e->out;
	struct conv_geom q;
	struct conv_job j;
	int nw, i;
	size_t wr_n;

	if (conv_geom(x, w, &e->a, &q) != 0)
		return BW_ERR_INTERNAL;
	memset(&j, 0, sizeof j);
	if (b != NULL && (b->flags & BW_T_REQ_GRAD) && (j.db = bw_g_grad(g, b)) == NULL)
		return BW_ERR_NOMEM;
	if ((x->flags & BW_T_REQ_GRAD) && (j.dx = bw_g_grad(g, x)) == NULL)
		return BW_ERR_NOMEM;
	if ((w->flags & BW_T_REQ_GRAD) && (j.dw = bw_g_grad(g, w)) == NULL)
		return BW_ERR_NOMEM;
	if ((j.db == NULL && j.dx == NULL && j.dw == NULL) || q.n == 0 || q.oc == 0 || q.ohw == 0)
		return BW_OK;
	nw = conv_workers(&q);
	{
		struct bw_dnnl_conv dq;
		int rc;

		conv_dnnl_geom(&q, &e->a, &dq);
		rc = bw_dnnl_conv_bwd(g, &dq, x->data, w->data, y->grad, j.dx, j.dw, j.db, nw);
		if (rc < 0)
			return BW_ERR_NOMEM;
		if (rc == 0)
			return BW_OK;
	}
	j.q = &q;
	j.x = x->data; j.w = w->data; j.gy = y->grad;
	j.chunk = conv_chunk(&q, (q.n + nw - 1) / nw);
	j.per_worker = conv_scratch(&q, j.chunk, 1, &j.col_n, &j.tmp_n);
	j.rows = rows_ok(&q, j.chunk);
	wr_n = j.rows ? ((size_t)q.oc * (size_t)q.kg + 15) & ~(size_t)15 : 0;
	j.scratch = bw_g_scratch(g, wr_n + j.per_worker * (size_t)nw);
	if (j.scratch == NULL)
		return BW_ERR_NOMEM;
	if (j.rows) {
		rows_reorder(&q, w->data, j.scratch, 0);
		j.wr = j.scratch;
		j.scratch += wr_n;
	}
	bw_t_par(nw, conv_bwd_worker, &j);
	/* Add the workers' sums in worker order (worker 0 wrote dW itself unless in rows form). */
	for (i = 0; i < nw; i++) {
		const float *dwp = j.scratch + (size_t)i * j.per_worker + j.col_n + j.tmp_n;

		if (j.rows && j.dw != NULL)
			rows_reorder(&q, dwp, j.dw, 1);
		if (i == 0)
			continue;
		if (j.dw != NULL && !j.rows)
			add_run(j.dw, dwp, q.oc * q.kg);
		if (j.db != NULL)
			add_run(j.db, dwp + (size_t)q.oc * (size_t)q.kg, q.oc);
	}
	return BW_OK;
}

/* ---- fully connected: rows of the batch (or of the weight gradient) split between workers ---- */

struct lin_job {
	const float *x, *w, *b, *gy;
	float *y, *dx, *dw, *db;
	int n, m, k;
};

static int lin_workers(int n, int m, int k)
{
	double macs = (double)n * (double)m * (double)k;
	int t = bw_t_threads();

	if (macs < PAR_MIN_MACS || t < 2)
		return 1;
	return t;
}

static void lin_fwd_worker(void *ctx, int wi, int nw)
{
	const struct lin_job *j = ctx;
	int lo, hi, i;

	bw_t_split(j->n, wi, nw, &lo, &hi);
	if (hi <= lo)
		return;
	if (j->b != NULL)
		for (i = lo; i < hi; i++)
			memcpy(j->y + (size_t)i * (size_t)j->m, j->b, sizeof(float) * (size_t)j->m);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, j->m, j->k, 1.0f,
	            j->x + (size_t)lo * (size_t)j->k, j->k, j->w, j->k, j->b != NULL ? 1.0f : 0.0f,
	            j->y + (size_t)lo * (size_t)j->m, j->m);
}

enum bw_err bw_t_linear(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                        struct bw_tensor *b, struct bw_tensor **out)
{
	struct bw_tensor *y, *ins[3];
	struct lin_job j;
	int n, k, m, shape[2];

	*out = NULL;
	if (w->ndim != 2 || x->ndim < 1)
		return BW_ERR_ARG;
	n = x->shape[0];
	m = w->shape[0];
	k = w->shape[1];
	if (n == 0 || (long long)n * k != x->numel || (b != NULL && b->numel != m))
		return BW_ERR_ARG;
	shape[0] = n;
	shape[1] = m;
	y = bw_g_tensor(g, 2, shape, 0);
	if (y == NULL)
		return BW_ERR_NOMEM;
	memset(&j, 0, sizeof j);
	j.x = x->data; j.w = w->data; j.b = b != NULL ? b->data : NULL; j.y = y->data;
	j.n = n; j.m = m; j.k = k;
	bw_t_par(lin_workers(n, m, k) > n ? n : lin_workers(n, m, k), lin_fwd_worker, &j);
	ins[0] = x; ins[1] = w; ins[2] = b;
	if (bw_t_any_grad(3, ins) && bw_g_record(g, BW_OP_LINEAR, y, 3, ins) == NULL)
		return BW_ERR_LIMIT;
	*out = y;
	return BW_OK;
}

static void lin_bwd_worker(void *ctx, int wi, int nw)
{
	const struct lin_job *j = ctx;
	int lo, hi, i, c;

	/* Rows [lo, hi) of dW and entries of db: dW (m,k) += dY^T (m,n) X (n,k). */
	bw_t_split(j->m, wi, nw, &lo, &hi);
	if (hi > lo && j->db != NULL)
		for (i = 0; i < j->n; i++)
			for (c = lo; c < hi; c++)
				j->db[c] += j->gy[(size_t)i * (size_t)j->m + (size_t)c];
	if (hi > lo && j->dw != NULL)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, j->k, j->n, 1.0f,
		            j->gy + lo, j->m, j->x, j->k, 1.0f, j->dw + (size_t)lo * (size_t)j->k, j->k);
	/* Rows [lo, hi) of dX (n,k) += dY (n,m) W (m,k). */
	bw_t_split(j->n, wi, nw, &lo, &hi);
	if (hi > lo && j->dx != NULL)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, j->k, j->m, 1.0f,
		            j->gy + (size_t)lo * (size_t)j->m, j->m, j->w, j->k, 1.0f,
		            j->dx + (size_t)lo * (size_t)j->k, j->k);
}

enum bw_err bw_t_backward_linear(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0], *w = e->in[1], *b = e->in[2], *y = e->out;
	struct lin_job j;

	memset(&j, 0, sizeof j);
	j.n = x->shape[0]; j.m = w->shape[0]; j.k = w->shape[1];
	j.x = x->data; j.w = w->data; j.gy = y->grad;
	if (b != NULL && (b->flags & BW_T_REQ_GRAD) && (j.db = bw_g_grad(g, b)) == NULL)
		return BW_ERR_NOMEM;
	if ((w->flags & BW_T_REQ_GRAD) && (j.dw = bw_g_grad(g, w)) == NULL)
		return BW_ERR_NOMEM;
	if ((x->flags & BW_T_REQ_GRAD) && (j.dx = bw_g_grad(g, x)) == NULL)
		return BW_ERR_NOMEM;
	bw_t_par(lin_workers(j.n, j.m, j.k), lin_bwd_worker, &j);
	return BW_OK;
}
