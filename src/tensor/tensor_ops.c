/*
 * tensor/tensor_ops.c - every operation except convolution and linear:
 * elementwise (with NumPy broadcasting), activations, pooling, batch norm,
 * dropout, shape operations, concat, softmax, cross-entropy; forward and
 * backward. Formulas follow PyTorch's definitions so the differential tests
 * (tests/py/test_tensor_diff.py) compare like with like.
 * Must not: index outside a tensor (all shapes are checked on entry).
 */
#include <math.h>
#include <string.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "core/alloc.h"
#include "tensor/tensor_int.h"

/* ---- broadcasting ---- */

struct bcast {
	int shape[4];      /* output shape, right-aligned to 4 dims */
	int sx[4], sy[4];  /* element strides of x and y (0 on broadcast dims) */
	int ndim;
};

static void right_align(const struct bw_tensor *t, int *s4)
{
	int i, off = 4 - t->ndim;

	for (i = 0; i < 4; i++)
		s4[i] = i < off ? 1 : t->shape[i - off];
}

static int make_bcast(const struct bw_tensor *x, const struct bw_tensor *y, struct bcast *b)
{
	int xs[4], ys[4], i, stx = 1, sty = 1;

	right_align(x, xs);
	right_align(y, ys);
	b->ndim = x->ndim > y->ndim ? x->ndim : y->ndim;
	for (i = 3; i >= 0; i--) {
		if (xs[i] != ys[i] && xs[i] != 1 && ys[i] != 1)
			return -1;
		b->shape[i] = xs[i] > ys[i] ? xs[i] : ys[i];
		if (xs[i] == 0 || ys[i] == 0)
			b->shape[i] = 0;
		b->sx[i] = xs[i] == 1 ? 0 : stx;
		b->sy[i] = ys[i] == 1 ? 0 : sty;
		stx *= xs[i];
		sty *= ys[i];
	}
	return 0;
}

static inline float binop(enum bw_op op, float a, float b)
{
	switch (op) {
	case BW_OP_ADD:
		return a + b;
	case BW_OP_SUB:
		return a - b;
	case BW_OP_MUL:
		return a * b;
	default:
		return a / b;
	}
}

enum bw_err bw_t_binary(struct bw_graph *g, enum bw_op op, struct bw_tensor *x,
                        struct bw_tensor *y, struct bw_tensor **out)
{
	struct bcast b;
	struct bw_tensor *z, *ins[2];
	int i0, i1, i2, i3, k = 0, same;

	*out = NULL;
	if ((op != BW_OP_ADD && op != BW_OP_MUL && op != BW_OP_SUB && op != BW_OP_DIV) ||
	    make_bcast(x, y, &b) != 0)
		return BW_ERR_ARG;
	z = bw_g_tensor(g, b.ndim, b.shape + 4 - b.ndim, 0);
	if (z == NULL)
		return BW_ERR_NOMEM;
	same = x->numel == z->numel && y->numel == z->numel;
	if (same) {
		for (k = 0; k < z->numel; k++)
			z->data[k] = binop(op, x->data[k], y->data[k]);
	} else {
		for (i0 = 0; i0 < b.shape[0]; i0++)
			for (i1 = 0; i1 < b.shape[1]; i1++)
				for (i2 = 0; i2 < b.shape[2]; i2++) {
					int bx = i0 * b.sx[0] + i1 * b.sx[1] + i2 * b.sx[2];
					int by = i0 * b.sy[0] + i1 * b.sy[1] + i2 * b.sy[2];

					for (i3 = 0; i3 < b.shape[3]; i3++, k++) {
						float xv = x->data[bx + i3 * b.sx[3]];
						float yv = y->data[by + i3 * b.sy[3]];

						z->data[k] = binop(op, xv, yv);
					}
				}
	}
	ins[0] = x;
	ins[1] = y;
	if (bw_t_any_grad(2, ins) && bw_g_record(g, op, z, 2, ins) == NULL)
		return BW_ERR_LIMIT;
	*out = z;
	return BW_OK;
}

static enum bw_err binary_backward(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0], *y = e->in[1], *z = e->out;
	float *dx = NULL, *dy = NULL;
	struct bcast b;
	int i0, i1, i2, i3, k = 0;

	if (make_bcast(x, y, &b) != 0)
		return BW_ERR_INTERNAL;
	if ((x->flags & BW_T_REQ_GRAD) && (dx = bw_g_grad(g, x)) == NULL)
		return BW_ERR_NOMEM;
	if ((y->flags & BW_T_REQ_GRAD) && (dy = bw_g_grad(g, y)) == NULL)
		return BW_ERR_NOMEM;
	for (i0 = 0; i0 < b.shape[0]; i0++)
		for (i1 = 0; i1 < b.shape[1]; i1++)
			for (i2 = 0; i2 < b.shape[2]; i2++) {
				int bx = i0 * b.sx[0] + i1 * b.sx[1] + i2 * b.sx[2];
				int by = i0 * b.sy[0] + i1 * b.sy[1] + i2 * b.sy[2];

				for (i3 = 0; i3 < b.shape[3]; i3++, k++) {
					int ix = bx + i3 * b.sx[3], iy = by + i3 * b.sy[3];
					float gz = z->grad[k];

					if (e->op == BW_OP_ADD || e->op == BW_OP_SUB) {
						if (dx != NULL)
							dx[ix] += gz;
						if (dy != NULL)
							dy[iy] += e->op == BW_OP_ADD ? gz : -gz;
					} else if (e->op == BW_OP_DIV) {
						float yv = y->data[iy];

						if (dx != NULL)
							dx[ix] += gz / yv;
						if (dy != NULL)
							dy[iy] -= gz * x->data[ix] / (yv * yv);
					} else {
						if (dx != NULL)
							dx[ix] += gz * y->data[iy];
						if (dy != NULL)
							dy[iy] += gz * x->data[ix];
					}
				}
			}
	return BW_OK;
}

/* ---- pooling ---- */

struct pool_geom {
	int n, c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr;
};

static int pool_out(int in, int k, int s, int p0, int p1, int ceil_mode)
{
	int span = in + p0 + p1 - k, o;

	if (span < 0)
		return -1;
	o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
	/* PyTorch/ONNX: the last window must start inside the input or left padding. */
	if (ceil_mode && (o - 1) * s >= in + p0)
		o--;
	return o;
}

static int pool_geom(const struct bw_tensor *x, const struct bw_op_attr *a, struct pool_geom *q)
{
	if (x->ndim != 4 || a->kernel[0] < 1 || a->kernel[1] < 1 || a->stride[0] < 1 ||
	    a->stride[1] < 1)
		return -1;
	q->n = x->shape[0]; q->c = x->shape[1]; q->h = x->shape[2]; q->w = x->shape[3];
	q->kh = a->kernel[0]; q->kw = a->kernel[1];
	q->sh = a->stride[0]; q->sw = a->stride[1];
	q->pt = a->pad[0]; q->pl = a->pad[1]; q->pb = a->pad[2]; q->pr = a->pad[3];
	if (q->pt < 0 || q->pl < 0 || q->pb < 0 || q->pr < 0 || q->pt >= q->kh + 1 || q->pl >= q->kw + 1)
		return -1;
	q->oh = pool_out(q->h, q->kh, q->sh, q->pt, q->pb, a->ceil_mode);
	q->ow = pool_out(q->w, q->kw, q->sw, q->pl, q->pr, a->ceil_mode);
	return q->oh < 1 || q->ow < 1 ? -1 : 0;
}

/* 2x2 windows, stride 2, no padding, every window inside the input. */
static int pool_fast(const struct pool_geom *q)
{
	return q->kh == 2 && q->kw == 2 && q->sh == 2 && q->sw == 2 && q->pt == 0 && q->pl == 0 &&
	       q->oh * 2 <= q->h && q->ow * 2 <= q->w;
}

/*
 * Backward of the 2x2/2 case from the forward's codes. fresh: dx is
 * uninitialised and tiled exactly, so every element is written rather than
 * added to.
 */
static void pool_fast_backward(const struct pool_geom *q, const unsigned char *code,
                               const float *y, const float *gy, float *dx, int fresh, int relu)
{
	int plane, oy, ox, w = q->w, off[4];

	off[0] = 0; off[1] = 1; off[2] = w; off[3] = w + 1;
	for (plane = 0; plane < q->n * q->c; plane++) {
		float *dp = dx + (size_t)plane * (size_t)(q->h * q->w);
		size_t base = (size_t)plane * (size_t)(q->oh * q->ow);

		for (oy = 0; oy < q->oh; oy++)
			for (ox = 0; ox < q->ow; ox++) {
				size_t k = base + (size_t)(oy * q->ow + ox);
				float *d = dp + 2 * oy * w + 2 * ox, gv = gy[k];

				if (relu)
					gv = y[k] > 0.0f ? gv : 0.0f;
				if (fresh) {
					d[0] = 0.0f;
					d[1] = 0.0f;
					d[w] = 0.0f;
					d[w + 1] = 0.0f;
					d[off[code[k]]] = gv;
				} else {
					d[off[code[k]]] += gv;
				}
			}
	}
}

static enum bw_err pool_forward(struct bw_graph *g, enum bw_op op, struct bw_tensor *x,
                                const struct bw_op_attr *a, struct bw_tensor **out, int **argmax)
{
	struct pool_geom q;
	struct bw_tensor *y;
	int shape[4], plane, oy, ox, iy, ix, k = 0;
	int *am = NULL;

	if (pool_geom(x, a, &q) != 0)
		return BW_ERR_ARG;
	shape[0] = q.n; shape[1] = q.c; shape[2] = q.oh; shape[3] = q.ow;
	y = bw_g_tensor(g, 4, shape, 0);
	if (y == NULL)
		return BW_ERR_NOMEM;
	if (op == BW_OP_MAXPOOL && pool_fast(&q)) {
		/* The common 2x2/2 case: no clipping, no branches; which element of the window
		 * is the maximum is kept as a code 0..3 (reading order; the first maximum wins,
		 * as below). */
		unsigned char *code = NULL;

		if (x->flags & BW_T_REQ_GRAD) {
			code = bw_g_alloc(g, (size_t)y->numel, 0);
			if (code == NULL)
				return BW_ERR_NOMEM;
		}
		for (plane = 0; plane < q.n * q.c; plane++) {
			const float *xp = x->data + (size_t)plane * (size_t)(q.h * q.w);
			float *yp = y->data + (size_t)plane * (size_t)(q.oh * q.ow);

			for (oy = 0; oy < q.oh; oy++) {
				const float *r0 = xp + (size_t)(2 * oy) * (size_t)q.w, *r1 = r0 + q.w;

				ox = 0;
#if defined(__SSE2__)
				/* Four windows at a time, the same selections as the scalar loop below. */
				for (; ox + 4 <= q.ow; ox += 4) {
					__m128 u0 = _mm_loadu_ps(r0 + 2 * ox), u1 = _mm_loadu_ps(r0 + 2 * ox + 4);
					__m128 v0 = _mm_loadu_ps(r1 + 2 * ox), v1 = _mm_loadu_ps(r1 + 2 * ox + 4);
					__m128 a0 = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0));
					__m128 a1 = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
					__m128 a2 = _mm_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0));
					__m128 a3 = _mm_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
					__m128 c01 = _mm_cmpgt_ps(a1, a0), c23 = _mm_cmpgt_ps(a3, a2);
					__m128 m01 = _mm_or_ps(_mm_and_ps(c01, a1), _mm_andnot_ps(c01, a0));
					__m128 m23 = _mm_or_ps(_mm_and_ps(c23, a3), _mm_andnot_ps(c23, a2));
					__m128 c = _mm_cmpgt_ps(m23, m01);

					_mm_storeu_ps(yp + oy * q.ow + ox,
					              _mm_or_ps(_mm_and_ps(c, m23), _mm_andnot_ps(c, m01)));
					if (code != NULL) {
						__m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2);
						__m128i ci = _mm_castps_si128(c);
						__m128i k01 = _mm_and_si128(_mm_castps_si128(c01), one);
						__m128i k23 = _mm_add_epi32(_mm_and_si128(_mm_castps_si128(c23), one), two);
						__m128i kk = _mm_or_si128(_mm_and_si128(ci, k23), _mm_andnot_si128(ci, k01));
						int packed;

						kk = _mm_packs_epi32(kk, kk);
						packed = _mm_cvtsi128_si32(_mm_packus_epi16(kk, kk));
						memcpy(code + (size_t)plane * (size_t)(q.oh * q.ow) + (size_t)(oy * q.ow + ox),
						       &packed, 4);
					}
				}
#endif
				for (; ox < q.ow; ox++) {
					float a0 = r0[2 * ox], a1 = r0[2 * ox + 1], a2 = r1[2 * ox], a3 = r1[2 * ox + 1];
					float m01 = a1 > a0 ? a1 : a0, m23 = a3 > a2 ? a3 : a2;

					int c01 = a1 > a0, c23 = a3 > a2, c = m23 > m01;

					yp[oy * q.ow + ox] = c ? m23 : m01;
					if (code != NULL)
						code[(size_t)plane * (size_t)(q.oh * q.ow) + (size_t)(oy * q.ow + ox)] =
						    (unsigned char)(c ? 2 + c23 : c01);
				}
			}
		}
		*argmax = (int *)(void *)code;
		*out = y;
		return BW_OK;
	}
	if (op == BW_OP_MAXPOOL && (x->flags & BW_T_REQ_GRAD)) {
		am = bw_g_alloc(g, (size_t)y->numel * sizeof(int), 0);
		if (am == NULL)
			return BW_ERR_NOMEM;
	}
	for (plane = 0; plane < q.n * q.c; plane++) {
		const float *xp = x->data + (size_t)plane * (size_t)(q.h * q.w);

		for (oy = 0; oy < q.oh; oy++)
			for (ox = 0; ox < q.ow; ox++, k++) {
				int y0 = oy * q.sh - q.pt, x0 = ox * q.sw - q.pl;
				int y1 = y0 + q.kh, x1 = x0 + q.kw;
				int cy0 = y0 < 0 ? 0 : y0, cx0 = x0 < 0 ? 0 : x0;
				int cy1 = y1 > q.h ? q.h : y1, cx1 = x1 > q.w ? q.w : x1;

				if (op == BW_OP_MAXPOOL) {
					float best = -INFINITY;
					int bi = -1;

					for (iy = cy0; iy < cy1; iy++)
						for (ix = cx0; ix < cx1; ix++) {
							float v = xp[iy * q.w + ix];

							if (v > best || bi < 0 || isnan(v)) {
								best = v;
								bi = iy * q.w + ix;
							}
						}
					y->data[k] = best;
					if (am != NULL)
						am[k] = bi;
				} else {
					float s = 0.0f;
					int div;

					for (iy = cy0; iy < cy1; iy++)
						for (ix = cx0; ix < cx1; ix++)
							s += xp[iy * q.w + ix];
					if (a->count_include_pad) {
						int ey1 = y1 > q.h + q.pb ? q.h + q.pb : y1;
						int ex1 = x1 > q.w + q.pr ? q.w + q.pr : x1;

						div = (ey1 - y0) * (ex1 - x0);
					} else {
						div = (cy1 - cy0) * (cx1 - cx0);
					}
					y->data[k] = div > 0 ? s / (float)div : 0.0f;
				}
			}
	}
	*argmax = am;
	*out = y;
	return BW_OK;
}

static void pool_backward(struct bw_tape_ent *e, float *dx)
{
	struct pool_geom q;
	const struct bw_tensor *y = e->out;
	int plane, oy, ox, iy, ix, k = 0;

	if (pool_geom(e->in[0], &e->a, &q) != 0)
		return;
	for (plane = 0; plane < q.n * q.c; plane++) {
		float *dp = dx + (size_t)plane * (size_t)(q.h * q.w);

		for (oy = 0; oy < q.oh; oy++)
			for (ox = 0; ox < q.ow; ox++, k++) {
				float gy = y->grad[k];

				if (e->op == BW_OP_MAXPOOL) {
					int bi = ((const int *)e->aux)[k];

					if (bi >= 0)
						dp[bi] += gy;
				} else {
					int y0 = oy * q.sh - q.pt, x0 = ox * q.sw - q.pl;
					int y1 = y0 + q.kh, x1 = x0 + q.kw;
					int cy0 = y0 < 0 ? 0 : y0, cx0 = x0 < 0 ? 0 : x0;
					int cy1 = y1 > q.h ? q.h : y1, cx1 = x1 > q.w ? q.w : x1;
					int div;

					if (e->a.count_include_pad) {
						int ey1 = y1 > q.h + q.pb ? q.h + q.pb : y1;
						int ex1 = x1 > q.w + q.pr ? q.w + q.pr : x1;

						div = (ey1 - y0) * (ex1 - x0);
					} else {
						div = (cy1 - cy0) * (cx1 - cx0);
					}
					if (div <= 0)
						continue;
					gy /= (float)div;
					for (iy = cy0; iy < cy1; iy++)
						for (ix = cx0; ix < cx1; ix++)
							dp[iy * q.w + ix] += gy;
				}
			}
	}
}

/* ---- softmax family: view x as (outer, d, inner) around axis ---- */

static int axis_split(const struct bw_tensor *x, int axis, int *outer, int *d, int *inner)
{
	int i;

	if (axis < 0)
		axis += x->ndim;
	if (axis < 0 || axis >= x->ndim)
		return -1;
	*outer = 1;
	*inner = 1;
	for (i = 0; i < axis; i++)
		*outer *= x->shape[i];
	for (i = axis + 1; i < x->ndim; i++)
		*inner *= x->shape[i];
	*d = x->shape[axis];
	return axis;
}

static void softmax_fwd(const float *x, float *y, int outer, int d, int inner, int logsm)
{
	int o, i, j;

	for (o = 0; o < outer; o++)
		for (i = 0; i < inner; i++) {
			const float *xp = x + (size_t)o * (size_t)d * (size_t)inner + i;
			float *yp = y + (size_t)o * (size_t)d * (size_t)inner + i;
			float mx = -INFINITY;
			double s = 0.0;

			for (j = 0; j < d; j++)
				if (xp[j * inner] > mx)
					mx = xp[j * inner];
			for (j = 0; j < d; j++)
				s += exp((double)(xp[j * inner] - mx));
			for (j = 0; j < d; j++) {
				if (logsm)
					yp[j * inner] = (float)((double)(xp[j * inner] - mx) - log(s));
				else
					yp[j * inner] = (float)(exp((double)(xp[j * inner] - mx)) / s);
			}
		}
}

/* ---- unary ops ---- */

static int reshape_target(const struct bw_tensor *x, const struct bw_op_attr *a, int *shape)
{
	long long known = 1;
	int i, neg = -1;

	if (a->shape_n < 1 || a->shape_n > BW_T_MAXDIM)
		return -1;
	for (i = 0; i < a->shape_n; i++) {
		int s = a->shape[i];

		if (s == 0) { /* ONNX: copy the input dimension */
			if (i >= x->ndim)
				return -1;
			s = x->shape[i];
		}
		if (s == -1) {
			if (neg >= 0)
				return -1;
			neg = i;
			shape[i] = 1;
			continue;
		}
		if (s < 0)
			return -1;
		shape[i] = s;
		known *= s;
		if (known > BW_T_MAX_NUMEL)
			return -1;
	}
	if (neg >= 0) {
		if (known == 0 || x->numel % known != 0)
			return -1;
		shape[neg] = (int)(x->numel / known);
		known *= shape[neg];
	}
	return known == x->numel ? a->shape_n : -1;
}

enum bw_err bw_t_unary(struct bw_graph *g, enum bw_op op, struct bw_tensor *x,
                       const struct bw_op_attr *a, int training, struct bw_tensor **out)
{
	struct bw_tensor *y = NULL;
	struct bw_op_attr def;
	void *aux = NULL;
	int i, n = x->numel, shape[4], nd, outer, d, inner;
	enum bw_err err;

	*out = NULL;
	if (a == NULL) {
		bw_op_attr_default(&def, op);
		a = &def;
	}
	switch (op) {
	case BW_OP_RELU: case BW_OP_LEAKY_RELU: case BW_OP_SIGMOID: case BW_OP_TANH:
	case BW_OP_CLAMP: case BW_OP_SIGN: case BW_OP_SOFTMAX: case BW_OP_LOGSOFTMAX:
	case BW_OP_DROPOUT:
		y = bw_g_tensor(g, x->ndim, x->shape, 0);
		if (y == NULL)
			return BW_ERR_NOMEM;
		break;
	case BW_OP_IDENTITY: case BW_OP_FLATTEN: case BW_OP_RESHAPE:
	case BW_OP_MAXPOOL: case BW_OP_AVGPOOL: case BW_OP_GAP:
		break;
	default:
		return BW_ERR_ARG;
	}
	switch (op) {
	case BW_OP_RELU:
		for (i = 0; i < n; i++)
			y->data[i] = x->data[i] > 0.0f ? x->data[i] : 0.0f;
		break;
	case BW_OP_LEAKY_RELU:
		for (i = 0; i < n; i++)
			y->data[i] = x->data[i] > 0.0f ? x->data[i] : a->alpha * x->data[i];
		break;
	case BW_OP_SIGMOID:
		for (i = 0; i < n; i++)
			y->data[i] = 1.0f / (1.0f + expf(-x->data[i]));
		break;
	case BW_OP_TANH:
		for (i = 0; i < n; i++)
			y->data[i] = tanhf(x->data[i]);
		break;
	case BW_OP_CLAMP:
		if (a->lo > a->hi)
			return BW_ERR_ARG;
		for (i = 0; i < n; i++) {
			float v = x->data[i];

			y->data[i] = v < a->lo ? a->lo : v > a->hi ? a->hi : v;
		}
		break;
	case BW_OP_SIGN:
		for (i = 0; i < n; i++)
			y->data[i] = x->data[i] > 0.0f ? 1.0f : x->data[i] < 0.0f ? -1.0f : 0.0f;
		break;
	case BW_OP_DROPOUT:
		if (!training || a->p <= 0.0f) {
			memcpy(y->data, x->data, sizeof(float) * (size_t)n);
			break;
		}
		if (a->p >= 1.0f) {
			memset(y->data, 0, sizeof(float) * (size_t)n);
			aux = bw_g_alloc(g, sizeof(float) * (size_t)n, 1);
			if (aux == NULL)
				return BW_ERR_NOMEM;
			break;
		} else {
			float keep = 1.0f / (1.0f - a->p);
			float *mask = bw_g_alloc(g, sizeof(float) * (size_t)n, 0);

			if (mask == NULL)
				return BW_ERR_NOMEM;
			for (i = 0; i < n; i++) {
				mask[i] = bw_g_uniform(g) < a->p ? 0.0f : keep;
				y->data[i] = x->data[i] * mask[i];
			}
			aux = mask;
		}
		break;
	case BW_OP_SOFTMAX: case BW_OP_LOGSOFTMAX:
		if (axis_split(x, a->axis, &outer, &d, &inner) < 0)
			return BW_ERR_ARG;
		softmax_fwd(x->data, y->data, outer, d, inner, op == BW_OP_LOGSOFTMAX);
		break;
	case BW_OP_IDENTITY: case BW_OP_FLATTEN: case BW_OP_RESHAPE:
		if (op == BW_OP_IDENTITY) {
			nd = x->ndim;
			memcpy(shape, x->shape, sizeof shape);
		} else if (op == BW_OP_FLATTEN) {
			int ax = a->axis < 0 ? a->axis + x->ndim : a->axis;

			if (ax < 0 || ax > x->ndim)
				return BW_ERR_ARG;
			shape[0] = 1;
			shape[1] = 1;
			for (i = 0; i < x->ndim; i++)
				shape[i < ax ? 0 : 1] *= x->shape[i];
			nd = 2;
		} else {
			nd = reshape_target(x, a, shape);
			if (nd < 0)
				return BW_ERR_ARG;
		}
		/* A view: shares x's data, has its own gradient. */
		y = bw_g_alloc(g, sizeof *y, 1);
		if (y == NULL)
			return BW_ERR_NOMEM;
		y->ndim = nd;
		for (i = 0; i < BW_T_MAXDIM; i++)
			y->shape[i] = i < nd ? shape[i] : 1;
		y->numel = x->numel;
		y->data = x->data;
		y->tape_id = -1;
		break;
	case BW_OP_MAXPOOL: case BW_OP_AVGPOOL:
		err = pool_forward(g, op, x, a, &y, (int **)&aux);
		if (err != BW_OK)
			return err;
		break;
	case BW_OP_GAP: {
		int hw;

		if (x->ndim != 4)
			return BW_ERR_ARG;
		shape[0] = x->shape[0]; shape[1] = x->shape[1]; shape[2] = 1; shape[3] = 1;
		y = bw_g_tensor(g, 4, shape, 0);
		if (y == NULL)
			return BW_ERR_NOMEM;
		hw = x->shape[2] * x->shape[3];
		for (i = 0; i < y->numel; i++) {
			const float *p = x->data + (size_t)i * (size_t)hw;
			float s = 0.0f;
			int j;

			for (j = 0; j < hw; j++)
				s += p[j];
			y->data[i] = hw > 0 ? s / (float)hw : 0.0f;
		}
		break;
	}
	default:
		return BW_ERR_ARG;
	}
	if (bw_t_any_grad(1, &x)) {
		struct bw_tape_ent *e = bw_g_record(g, op, y, 1, &x);

		if (e == NULL)
			return BW_ERR_LIMIT;
		e->a = *a;
		e->aux = aux;
		e->training = training;
	}
	*out = y;
	return BW_OK;
}

enum bw_err bw_t_relu_inplace(struct bw_graph *g, struct bw_tensor *x, int applied,
                              struct bw_tensor **out)
{
	struct bw_tensor *y;
	int i;

	*out = NULL;
	y = bw_g_alloc(g, sizeof *y, 1);
	if (y == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; !applied && i < x->numel; i++)
		x->data[i] = x->data[i] > 0.0f ? x->data[i] : 0.0f;
	y->ndim = x->ndim;
	memcpy(y->shape, x->shape, sizeof y->shape);
	y->numel = x->numel;
	y->data = x->data;
	y->tape_id = -1;
	if (bw_t_any_grad(1, &x)) {
		struct bw_tape_ent *e = bw_g_record(g, BW_OP_RELU, y, 1, &x);

		if (e == NULL)
			return BW_ERR_LIMIT;
		bw_op_attr_default(&e->a, BW_OP_RELU);
	}
	*out = y;
	return BW_OK;
}

static enum bw_err unary_backward(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0], *y = e->out;
	const float *gy = y->grad;
	float *dx;
	int i, n = x->numel, outer, d, inner, o, j;

	if (!(x->flags & BW_T_REQ_GRAD))
		return BW_OK;
	/*
	 * A view (reshape, flatten, identity, in-place ReLU) whose input has no gradient
	 * yet: y's gradient is complete (y's readers all ran) and nothing reads it again,
	 * so it becomes x's gradient, masked in place for ReLU (x > 0 there equals
	 * relu(x) > 0). Saves a zeroed buffer and a pass per view.
	 */
	if (x->grad == NULL && y->data == x->data && y->grad != NULL && !(x->flags & BW_T_PARAM) &&
	    (e->op == BW_OP_RELU || e->op == BW_OP_IDENTITY || e->op == BW_OP_FLATTEN ||
	     e->op == BW_OP_RESHAPE)) {
		float *gw = y->grad;

		if (e->op == BW_OP_RELU && !e->masked)
			for (i = 0; i < n; i++)
				gw[i] = x->data[i] > 0.0f ? gw[i] : 0.0f;
		x->grad = gw;
		return BW_OK;
	}
	if (e->op == BW_OP_MAXPOOL) {
		struct pool_geom q;

		if (pool_geom(x, &e->a, &q) != 0)
			return BW_ERR_INTERNAL;
		if (pool_fast(&q)) {
			/* A fresh gradient of an exactly tiled input is written, not zeroed and added to. */
			int fresh = x->grad == NULL && q.oh * 2 == q.h && q.ow * 2 == q.w;

			struct bw_tape_ent *pe = NULL;

			dx = fresh ? bw_g_alloc(g, (size_t)n * sizeof(float), 0) : bw_g_grad(g, x);
			if (dx == NULL)
				return BW_ERR_NOMEM;
			x->grad = dx;
			/* x made by an in-place ReLU: x at the maximum is y, so applying its mask
			 * here (y > 0) leaves nothing for its own backward pass to do. */
			if (fresh && x->tape_id >= 0 && x->tape_id < g->n_tape) {
				pe = &g->tape[x->tape_id];
				if (pe->op != BW_OP_RELU || pe->out != x || pe->in[0]->data != x->data ||
				    !pe->sole_reader)
					pe = NULL;
			}
			pool_fast_backward(&q, e->aux, y->data, gy, dx, fresh, pe != NULL);
			if (pe != NULL)
				pe->masked = 1;
			return BW_OK;
		}
	}
	dx = bw_g_grad(g, x);
	if (dx == NULL)
		return BW_ERR_NOMEM;
	switch (e->op) {
	case BW_OP_RELU:
		for (i = 0; i < n; i++)
			if (x->data[i] > 0.0f)
				dx[i] += gy[i];
		break;
	case BW_OP_LEAKY_RELU:
		for (i = 0; i < n; i++)
			dx[i] += x->data[i] > 0.0f ? gy[i] : e->a.alpha * gy[i];
		break;
	case BW_OP_SIGMOID:
		for (i = 0; i < n; i++)
			dx[i] += gy[i] * y->data[i] * (1.0f - y->data[i]);
		break;
	case BW_OP_TANH:
		for (i = 0; i < n; i++)
			dx[i] += gy[i] * (1.0f - y->data[i] * y->data[i]);
		break;
	case BW_OP_CLAMP:
		for (i = 0; i < n; i++)
			if (x->data[i] >= e->a.lo && x->data[i] <= e->a.hi)
				dx[i] += gy[i];
		break;
	case BW_OP_SIGN:
		break; /* zero almost everywhere, as PyTorch defines it */
	case BW_OP_DROPOUT:
		if (e->aux == NULL) {
			for (i = 0; i < n; i++)
				dx[i] += gy[i];
		} else {
			const float *mask = e->aux;

			for (i = 0; i < n; i++)
				dx[i] += gy[i] * mask[i];
		}
		break;
	case BW_OP_IDENTITY: case BW_OP_FLATTEN: case BW_OP_RESHAPE:
		for (i = 0; i < n; i++)
			dx[i] += gy[i];
		break;
	case BW_OP_SOFTMAX: case BW_OP_LOGSOFTMAX:
		if (axis_split(x, e->a.axis, &outer, &d, &inner) < 0)
			return BW_ERR_INTERNAL;
		for (o = 0; o < outer; o++)
			for (i = 0; i < inner; i++) {
				size_t base = (size_t)o * (size_t)d * (size_t)inner + (size_t)i;
				double s = 0.0;

				if (e->op == BW_OP_SOFTMAX) {
					for (j = 0; j < d; j++)
						s += (double)gy[base + (size_t)(j * inner)] *
						     (double)y->data[base + (size_t)(j * inner)];
					for (j = 0; j < d; j++) {
						size_t k = base + (size_t)(j * inner);

						dx[k] += y->data[k] * (gy[k] - (float)s);
					}
				} else {
					for (j = 0; j < d; j++)
						s += (double)gy[base + (size_t)(j * inner)];
					for (j = 0; j < d; j++) {
						size_t k = base + (size_t)(j * inner);

						dx[k] += gy[k] - expf(y->data[k]) * (float)s;
					}
				}
			}
		break;
	case BW_OP_MAXPOOL: case BW_OP_AVGPOOL:
		pool_backward(e, dx);
		break;
	case BW_OP_GAP: {
		int hw = x->shape[2] * x->shape[3];

		for (i = 0; i < y->numel; i++) {
			float v = hw > 0 ? gy[i] / (float)hw : 0.0f;

			for (j = 0; j < hw; j++)
				dx[(size_t)i * (size_t)hw + (size_t)j] += v;
		}
		break;
	}
	default:
		return BW_ERR_INTERNAL;
	}
	return BW_OK;
}

/* ---- batch norm ---- */

struct bn_saved {
	float *mean, *invstd;
};

enum bw_err bw_t_batchnorm(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *gamma,
                           struct bw_tensor *beta, struct bw_tensor *rmean,
                           struct bw_tensor *rvar, const struct bw_op_attr *a, int training,
                           struct bw_tensor **out)
{
	struct bw_tensor *y, *ins[5];
	struct bn_saved *sv;
	int n, c, inner, ci, b, i;
	size_t m;

	*out = NULL;
	if (x->ndim < 2)
		return BW_ERR_ARG;
	n = x->shape[0];
	c = x->shape[1];
	inner = c == 0 ? 0 : x->numel / (n * c);
	if (gamma->numel != c || beta->numel != c || rmean->numel != c || rvar->numel != c)
		return BW_ERR_ARG;
	m = (size_t)n * (size_t)inner;
	if (training && m < 2)
		return BW_ERR_ARG;
	y = bw_g_tensor(g, x->ndim, x->shape, 0);
	sv = bw_g_alloc(g, sizeof *sv, 1);
	if (y == NULL || sv == NULL)
		return BW_ERR_NOMEM;
	sv->mean = bw_g_alloc(g, sizeof(float) * (size_t)c, 0);
	sv->invstd = bw_g_alloc(g, sizeof(float) * (size_t)c, 0);
	if (sv->mean == NULL || sv->invstd == NULL)
		return BW_ERR_NOMEM;
	for (ci = 0; ci < c; ci++) {
		double mean, var;

		if (training) {
			double s = 0.0, s2 = 0.0;

			for (b = 0; b < n; b++) {
				const float *p = x->data + ((size_t)b * (size_t)c + (size_t)ci) * (size_t)inner;

				for (i = 0; i < inner; i++)
					s += p[i];
			}
			mean = s / (double)m;
			for (b = 0; b < n; b++) {
				const float *p = x->data + ((size_t)b * (size_t)c + (size_t)ci) * (size_t)inner;

				for (i = 0; i < inner; i++)
					s2 += ((double)p[i] - mean) * ((double)p[i] - mean);
			}
			var = s2 / (double)m;
			rmean->data[ci] = (1.0f - a->momentum) * rmean->data[ci] + a->momentum * (float)mean;
			rvar->data[ci] = (1.0f - a->momentum) * rvar->data[ci] +
			                 a->momentum * (float)(s2 / (double)(m - 1));
		} else {
			mean = rmean->data[ci];
			var = rvar->data[ci];
		}
		sv->mean[ci] = (float)mean;
		sv->invstd[ci] = (float)(1.0 / sqrt(var + (double)a->eps));
		for (b = 0; b < n; b++) {
			size_t off = ((size_t)b * (size_t)c + (size_t)ci) * (size_t)inner;
			float sc = gamma->data[ci] * sv->invstd[ci];
			float sh = beta->data[ci] - sv->mean[ci] * sc;

			for (i = 0; i < inner; i++)
				y->data[off + (size_t)i] = x->data[off + (size_t)i] * sc + sh;
		}
	}
	ins[0] = x; ins[1] = gamma; ins[2] = beta; ins[3] = rmean; ins[4] = rvar;
	if (bw_t_any_grad(3, ins)) {
		struct bw_tape_ent *e = bw_g_record(g, BW_OP_BATCHNORM, y, 5, ins);

		if (e == NULL)
			return BW_ERR_LIMIT;
		e->a = *a;
		e->aux = sv;
		e->training = training;
	}
	*out = y;
	return BW_OK;
}

static enum bw_err bn_backward(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0], *gamma = e->in[1], *beta = e->in[2], *y = e->out;
	const struct bn_saved *sv = e->aux;
	float *dx = NULL, *dg = NULL, *db = NULL;
	int n = x->shape[0], c = x->shape[1], inner = x->numel / (n * c), ci, b, i;
	double m = (double)n * (double)inner;

	if ((x->flags & BW_T_REQ_GRAD) && (dx = bw_g_grad(g, x)) == NULL)
		return BW_ERR_NOMEM;
	if ((gamma->flags & BW_T_REQ_GRAD) && (dg = bw_g_grad(g, gamma)) == NULL)
		return BW_ERR_NOMEM;
	if ((beta->flags & BW_T_REQ_GRAD) && (db = bw_g_grad(g, beta)) == NULL)
		return BW_ERR_NOMEM;
	for (ci = 0; ci < c; ci++) {
		double sdy = 0.0, sdyx = 0.0;
		float mu = sv->mean[ci], is = sv->invstd[ci];

		for (b = 0; b < n; b++) {
			size_t off = ((size_t)b * (size_t)c + (size_t)ci) * (size_t)inner;

			for (i = 0; i < inner; i++) {
				float gyv = y->grad[off + (size_t)i];

				sdy += gyv;
				sdyx += (double)gyv * (double)((x->data[off + (size_t)i] - mu) * is);
			}
		}
		if (dg != NULL)
			dg[ci] += (float)sdyx;
		if (db != NULL)
			db[ci] += (float)sdy;
		if (dx == NULL)
			continue;
		for (b = 0; b < n; b++) {
			size_t off = ((size_t)b * (size_t)c + (size_t)ci) * (size_t)inner;

			for (i = 0; i < inner; i++) {
				float gyv = y->grad[off + (size_t)i];

				if (e->training) {
					float xh = (x->data[off + (size_t)i] - mu) * is;

					dx[off + (size_t)i] += gamma->data[ci] * is *
					    (gyv - (float)(sdy / m) - xh * (float)(sdyx / m));
				} else {
					dx[off + (size_t)i] += gamma->data[ci] * is * gyv;
				}
			}
		}
	}
	return BW_OK;
}

/* ---- concat ---- */

enum bw_err bw_t_concat(struct bw_graph *g, int n, struct bw_tensor *const *xs, int axis,
                        struct bw_tensor **out)
{
	struct bw_tensor *y;
	int shape[4], i, j, outer = 1, inner, off = 0, o;

	*out = NULL;
	if (n < 1 || n > BW_NODE_MAX_IN)
		return BW_ERR_ARG;
	if (axis < 0)
		axis += xs[0]->ndim;
	if (axis < 0 || axis >= xs[0]->ndim)
		return BW_ERR_ARG;
	memcpy(shape, xs[0]->shape, sizeof shape);
	shape[axis] = 0;
	for (i = 0; i < n; i++) {
		if (xs[i]->ndim != xs[0]->ndim)
			return BW_ERR_ARG;
		for (j = 0; j < xs[0]->ndim; j++)
			if (j != axis && xs[i]->shape[j] != xs[0]->shape[j])
				return BW_ERR_ARG;
		shape[axis] += xs[i]->shape[axis];
	}
	y = bw_g_tensor(g, xs[0]->ndim, shape, 0);
	if (y == NULL)
		return BW_ERR_NOMEM;
	for (j = 0; j < axis; j++)
		outer *= shape[j];
	inner = outer == 0 || shape[axis] == 0 ? 0 : y->numel / (outer * shape[axis]);
	for (i = 0; i < n; i++) {
		int len = xs[i]->shape[axis] * inner;

		for (o = 0; o < outer; o++)
			memcpy(y->data + (size_t)o * (size_t)(shape[axis] * inner) + (size_t)off,
			       xs[i]->data + (size_t)o * (size_t)len, sizeof(float) * (size_t)len);
		off += len;
	}
	if (bw_t_any_grad(n, xs)) {
		struct bw_tape_ent *e = bw_g_record(g, BW_OP_CONCAT, y, n, xs);

		if (e == NULL)
			return BW_ERR_LIMIT;
		e->a.axis = axis;
	}
	*out = y;
	return BW_OK;
}

static enum bw_err concat_backward(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *y = e->out;
	int axis = e->a.axis, outer = 1, inner, i, j, o, off = 0, k;

	for (j = 0; j < axis; j++)
		outer *= y->shape[j];
	inner = outer == 0 || y->shape[axis] == 0 ? 0 : y->numel / (outer * y->shape[axis]);
	for (i = 0; i < e->n_in; i++) {
		struct bw_tensor *x = e->in[i];
		int len = x->shape[axis] * inner;

		if (x->flags & BW_T_REQ_GRAD) {
			float *dx = bw_g_grad(g, x);

			if (dx == NULL)
				return BW_ERR_NOMEM;
			for (o = 0; o < outer; o++)
				for (k = 0; k < len; k++)
					dx[(size_t)o * (size_t)len + (size_t)k] +=
					    y->grad[(size_t)o * (size_t)(y->shape[axis] * inner) + (size_t)off +
					            (size_t)k];
		}
		off += len;
	}
	return BW_OK;
}

/* ---- cross-entropy ---- */

enum bw_err bw_t_cross_entropy(struct bw_graph *g, struct bw_tensor *logits,
                               const int32_t *labels, struct bw_tensor **out)
{
	struct bw_tensor *y;
	float *logp;
	int n, k, i, one = 1;
	double loss = 0.0;

	*out = NULL;
	if (logits->ndim != 2 || labels == NULL)
		return BW_ERR_ARG;
	n = logits->shape[0];
	k = logits->shape[1];
	if (n < 1 || k < 1)
		return BW_ERR_ARG;
	for (i = 0; i < n; i++)
		if (labels[i] < 0 || labels[i] >= k)
			return BW_ERR_ARG;
	y = bw_g_tensor(g, 1, &one, 0);
	logp = bw_g_alloc(g, sizeof(float) * (size_t)logits->numel, 0);
	if (y == NULL || logp == NULL)
		return BW_ERR_NOMEM;
	softmax_fwd(logits->data, logp, n, k, 1, 1);
	for (i = 0; i < n; i++)
		loss -= logp[(size_t)i * (size_t)k + (size_t)labels[i]];
	y->data[0] = (float)(loss / n);
	if (bw_t_any_grad(1, &logits)) {
		struct bw_tape_ent *e = bw_g_record(g, BW_OP_CROSS_ENTROPY, y, 1, &logits);

		if (e == NULL)
			return BW_ERR_LIMIT;
		e->aux = logp;
		e->labels = labels;
	}
	*out = y;
	return BW_OK;
}

static enum bw_err xent_backward(struct bw_graph *g, struct bw_tape_ent *e)
{
	struct bw_tensor *x = e->in[0];
	const float *logp = e->aux;
	int n = x->shape[0], k = x->shape[1], i, j;
	float s, *dx;

	if (!(x->flags & BW_T_REQ_GRAD))
		return BW_OK;
	dx = bw_g_grad(g, x);
	if (dx == NULL)
		return BW_ERR_NOMEM;
	s = e->out->grad[0] / (float)n;
	for (i = 0; i < n; i++)
		for (j = 0; j < k; j++) {
			size_t idx = (size_t)i * (size_t)k + (size_t)j;

			dx[idx] += s * (expf(logp[idx]) - (j == e->labels[i] ? 1.0f : 0.0f));
		}
	return BW_OK;
}

enum bw_err bw_t_backward_misc(struct bw_graph *g, struct bw_tape_ent *e)
{
	switch (e->op) {
	case BW_OP_ADD: case BW_OP_MUL: case BW_OP_SUB: case BW_OP_DIV:
		return binary_backward(g, e);
	case BW_OP_BATCHNORM:
		return bn_backward(g, e);
	case BW_OP_CONCAT:
		return concat_backward(g, e);
	case BW_OP_CROSS_ENTROPY:
		return xent_backward(g, e);
	default:
		return unary_backward(g, e);
	}
}
