/*
 * tensor/tensor_conv.c - convolution and fully-connected layers, forward and
 * backward, as im2col + OpenBLAS sgemm. Images are lowered in chunks so one
 * sgemm covers many images (a wide matrix keeps both cores busy) while the
 * lowered matrix stays under CONV_COL_MAX floats.
 * Must not: read outside x (every window position is bounds-checked while
 * lowering) or allocate per call once the graph scratch has grown.
 */
#include <string.h>

#include <cblas.h>

#include "core/alloc.h"
#include "tensor/tensor_int.h"

/* Floats in one lowered chunk (4 MiB): small enough that im2col's output is still in
 * cache when sgemm packs it (measured: 15% less CPU than 24 MiB chunks on the Madry CNN). */
#define CONV_COL_MAX ((size_t)1 << 20)

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

/* Images per chunk so that kg * nb * ohw stays under the cap (at least 1). */
static int conv_chunk(const struct conv_geom *q)
{
	size_t per = (size_t)q->kg * (size_t)q->ohw;
	size_t nb = per == 0 ? 1 : CONV_COL_MAX / per;

	if (nb < 1)
		nb = 1;
	if (nb > (size_t)q->n)
		nb = (size_t)q->n;
	return (int)nb;
}

/* Lower images [n0, n0+nb) of group gi into col (kg rows, nb*ohw columns). */
static void im2col(const struct conv_geom *q, const float *x, int n0, int nb, int gi, float *col)
{
	int cols = nb * q->ohw;
	int ci, ki, kj, b, oy, ox;

	for (ci = 0; ci < q->cg; ci++)
		for (ki = 0; ki < q->kh; ki++)
			for (kj = 0; kj < q->kw; kj++) {
				float *row = col + (size_t)((ci * q->kh + ki) * q->kw + kj) * (size_t)cols;
				int offx = kj * q->dw - q->pl;
				/* ow range where 0 <= ox*sw + offx < w */
				int lo = offx >= 0 ? 0 : (-offx + q->sw - 1) / q->sw;
				int hi = (q->w - 1 - offx) < 0 ? 0 : (q->w - 1 - offx) / q->sw + 1;

				if (hi > q->ow)
					hi = q->ow;
				if (lo > hi)
					lo = hi;
				for (b = 0; b < nb; b++) {
					const float *xc = x + ((size_t)(n0 + b) * (size_t)q->c +
					                       (size_t)(gi * q->cg + ci)) * (size_t)(q->h * q->w);
					float *r = row + (size_t)b * (size_t)q->ohw;

					for (oy = 0; oy < q->oh; oy++, r += q->ow) {
						int iy = oy * q->sh + ki * q->dh - q->pt;
						const float *xr;

						if (iy < 0 || iy >= q->h) {
							memset(r, 0, sizeof(float) * (size_t)q->ow);
							continue;
						}
						xr = xc + (size_t)iy * (size_t)q->w + offx;
						for (ox = 0; ox < lo; ox++)
							r[ox] = 0.0f;
						if (q->sw == 1) {
							if (hi > lo)
								memcpy(r + lo, xr + lo, sizeof(float) * (size_t)(hi - lo));
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
	int ci, ki, kj, b, oy, ox;

	for (ci = 0; ci < q->cg; ci++)
		for (ki = 0; ki < q->kh; ki++)
			for (kj = 0; kj < q->kw; kj++) {
				const float *row = col + (size_t)((ci * q->kh + ki) * q->kw + kj) * (size_t)cols;
				int offx = kj * q->dw - q->pl;
				int lo = offx >= 0 ? 0 : (-offx + q->sw - 1) / q->sw;
				int hi = (q->w - 1 - offx) < 0 ? 0 : (q->w - 1 - offx) / q->sw + 1;

				if (hi > q->ow)
					hi = q->ow;
				if (lo > hi)
					lo = hi;
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
						for (ox = lo; ox < hi; ox++)
							xr[ox * q->sw] += r[ox];
					}
				}
			}
}

enum bw_err bw_t_conv2d(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                        struct bw_tensor *b, const struct bw_op_attr *a, struct bw_tensor **out)
{
	struct conv_geom q;
	struct bw_tensor *y;
	struct bw_tensor *ins[3];
	int shape[4], n0, nb, gi, oc, bi, chunk;
	float *col, *tmp;
	size_t col_n, tmp_n;

	*out = NULL;
	if (conv_geom(x, w, a, &q) != 0)
		return BW_ERR_ARG;
	if (b != NULL && b->numel != q.oc)
		return BW_ERR_ARG;
	shape[0] = q.n; shape[1] = q.oc; shape[2] = q.oh; shape[3] = q.ow;
	y = bw_g_tensor(g, 4, shape, 0);
	if (y == NULL)
		return BW_ERR_NOMEM;
	chunk = conv_chunk(&q);
	col_n = (size_t)q.kg * (size_t)chunk * (size_t)q.ohw;
	tmp_n = chunk > 1 ? (size_t)q.ocg * (size_t)chunk * (size_t)q.ohw : 0;
	col = bw_g_scratch(g, col_n + tmp_n);
	if (col == NULL)
		return BW_ERR_NOMEM;
	tmp = col + col_n;
	for (n0 = 0; n0 < q.n; n0 += chunk) {
		nb = q.n - n0 < chunk ? q.n - n0 : chunk;
		for (gi = 0; gi < q.groups; gi++) {
			const float *wg = w->data + (size_t)gi * (size_t)q.ocg * (size_t)q.kg;
			int cols = nb * q.ohw;

			im2col(&q, x->data, n0, nb, gi, col);
			if (nb == 1) {
				float *yo = y->data + ((size_t)n0 * (size_t)q.oc + (size_t)gi * (size_t)q.ocg) *
				                          (size_t)q.ohw;
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q.ocg, cols, q.kg, 1.0f,
				            wg, q.kg, col, cols, 0.0f, yo, cols);
				for (oc = 0; b != NULL && oc < q.ocg; oc++) {
					float bv = b->data[gi * q.ocg + oc];
					int p;

					for (p = 0; p < q.ohw; p++)
						yo[(size_t)oc * (size_t)q.ohw + (size_t)p] += bv;
				}
				continue;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q.ocg, cols, q.kg, 1.0f, wg,
			            q.kg, col, cols, 0.0f, tmp, cols);
			/* Scatter (ocg, nb*ohw) into NCHW, adding the bias on the way. */
			for (oc = 0; oc < q.ocg; oc++) {
				float bv = b != NULL ? b->data[gi * q.ocg + oc] : 0.0f;

				for (bi = 0; bi < nb; bi++) {
					float *dst = y->data + ((size_t)(n0 + bi) * (size_t)q.oc +
					                        (size_t)(gi * q.ocg + oc)) * (size_t)q.ohw;
					const float *src = tmp + (size_t)oc * (size_t)cols + (size_t)bi * (size_t)q.ohw;
					int p;

					for (p = 0; p < q.ohw; p++)
						dst[p] = src[p] + bv;
				}
			}
		}
	}
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

enum bw_err bw_t_backward_conv(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0], *w = e->in[1], *b = e->in[2], *y = e->out;
	struct conv_geom q;
	int need_x, need_w, n0, nb, gi, oc, bi, chunk;
	float *col, *tmp, *dx = NULL, *dw = NULL;
	size_t col_n, tmp_n;

	if (conv_geom(x, w, &e->a, &q) != 0)
		return BW_ERR_INTERNAL;
	need_x = (x->flags & BW_T_REQ_GRAD) != 0;
	need_w = (w->flags & BW_T_REQ_GRAD) != 0;
	if (b != NULL && (b->flags & BW_T_REQ_GRAD)) {
		float *db = bw_g_grad(g, b);

		if (db == NULL)
			return BW_ERR_NOMEM;
		for (bi = 0; bi < q.n; bi++)
			for (oc = 0; oc < q.oc; oc++) {
				const float *gy = y->grad + ((size_t)bi * (size_t)q.oc + (size_t)oc) * (size_t)q.ohw;
				float s = 0.0f;
				int p;

				for (p = 0; p < q.ohw; p++)
					s += gy[p];
				db[oc] += s;
			}
	}
	if (!need_x && !need_w)
		return BW_OK;
	if (need_x && (dx = bw_g_grad(g, x)) == NULL)
		return BW_ERR_NOMEM;
	if (need_w && (dw = bw_g_grad(g, w)) == NULL)
		return BW_ERR_NOMEM;
	chunk = conv_chunk(&q);
	col_n = (size_t)q.kg * (size_t)chunk * (size_t)q.ohw;
	tmp_n = (size_t)q.ocg * (size_t)chunk * (size_t)q.ohw;
	col = bw_g_scratch(g, col_n + tmp_n);
	if (col == NULL)
		return BW_ERR_NOMEM;
	tmp = col + col_n;
	for (n0 = 0; n0 < q.n; n0 += chunk) {
		nb = q.n - n0 < chunk ? q.n - n0 : chunk;
		for (gi = 0; gi < q.groups; gi++) {
			int cols = nb * q.ohw;
			const float *gy;

			/* Gather dY of this chunk and group as (ocg, nb*ohw). */
			if (nb == 1) {
				gy = y->grad + ((size_t)n0 * (size_t)q.oc + (size_t)gi * (size_t)q.ocg) *
				                   (size_t)q.ohw;
			} else {
				for (oc = 0; oc < q.ocg; oc++)
					for (bi = 0; bi < nb; bi++)
						memcpy(tmp + (size_t)oc * (size_t)cols + (size_t)bi * (size_t)q.ohw,
						       y->grad + ((size_t)(n0 + bi) * (size_t)q.oc +
						                  (size_t)(gi * q.ocg + oc)) * (size_t)q.ohw,
						       sizeof(float) * (size_t)q.ohw);
				gy = tmp;
			}
			if (need_w) {
				im2col(&q, x->data, n0, nb, gi, col);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q.ocg, q.kg, cols, 1.0f, gy,
				            cols, col, cols, 1.0f,
				            dw + (size_t)gi * (size_t)q.ocg * (size_t)q.kg, q.kg);
			}
			if (need_x) {
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, q.kg, cols, q.ocg, 1.0f,
				            w->data + (size_t)gi * (size_t)q.ocg * (size_t)q.kg, q.kg, gy, cols,
				            0.0f, col, cols);
				col2im(&q, col, n0, nb, gi, dx);
			}
		}
	}
	return BW_OK;
}

enum bw_err bw_t_linear(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                        struct bw_tensor *b, struct bw_tensor **out)
{
	struct bw_tensor *y, *ins[3];
	int n, k, m, shape[2], i, j;

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
	if (b != NULL)
		for (i = 0; i < n; i++)
			memcpy(y->data + (size_t)i * (size_t)m, b->data, sizeof(float) * (size_t)m);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x->data, k, w->data, k,
	            b != NULL ? 1.0f : 0.0f, y->data, m);
	(void)j;
	ins[0] = x; ins[1] = w; ins[2] = b;
	if (bw_t_any_grad(3, ins) && bw_g_record(g, BW_OP_LINEAR, y, 3, ins) == NULL)
		return BW_ERR_LIMIT;
	*out = y;
	return BW_OK;
}

enum bw_err bw_t_backward_linear(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0], *w = e->in[1], *b = e->in[2], *y = e->out;
	int n = x->shape[0], m = w->shape[0], k = w->shape[1], i, j;

	if (b != NULL && (b->flags & BW_T_REQ_GRAD)) {
		float *db = bw_g_grad(g, b);

		if (db == NULL)
			return BW_ERR_NOMEM;
		for (i = 0; i < n; i++)
			for (j = 0; j < m; j++)
				db[j] += y->grad[(size_t)i * (size_t)m + (size_t)j];
	}
	if (w->flags & BW_T_REQ_GRAD) {
		float *dw = bw_g_grad(g, w);

		if (dw == NULL)
			return BW_ERR_NOMEM;
		/* dW (m,k) += dY^T (m,n) X (n,k) */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, k, n, 1.0f, y->grad, m, x->data,
		            k, 1.0f, dw, k);
	}
	if (x->flags & BW_T_REQ_GRAD) {
		float *dx = bw_g_grad(g, x);

		if (dx == NULL)
			return BW_ERR_NOMEM;
		/* dX (n,k) += dY (n,m) W (m,k) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, m, 1.0f, y->grad, m, w->data,
		            k, 1.0f, dx, k);
	}
	return BW_OK;
}
