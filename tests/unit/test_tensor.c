/*
 * test_tensor.c - the tensor engine: every operation's backward checked
 * against central finite differences of its forward (loss L = sum(w * y) with
 * fixed random w, accumulated in double), plus the graph arena's steady
 * state, optimiser determinism and a toy training run.
 * The float32 engine limits finite differences to about 1e-3 relative
 * accuracy, so the tolerance here is 1e-3; the 1e-4 comparison is against
 * PyTorch in float64 (tests/py/test_tensor_diff.py).
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "harness.h"
#include "bulwark/tensor.h"
#include "core/alloc.h"
#include "tensor/dnnl.h"
#include "tensor/tensor_int.h"

#define MAXIN 5

struct gc {
	const char *name;
	int n_in;
	int ndim[MAXIN];
	int shape[MAXIN][4];
	int kind[MAXIN]; /* 0 smooth, 1 away from 0, 2 distinct grid, 3 away from +-0.5, 4 positive */
	int nograd[MAXIN];
	enum bw_op op;
	struct bw_op_attr a;
	int training;
	int32_t labels[8];
};

static uint64_t rng_state = 42;

static float urand(void)
{
	return 2.0f * bw_u01(&rng_state) - 1.0f;
}

static enum bw_err run_op(struct bw_graph *g, const struct gc *c, struct bw_tensor **in,
                          struct bw_tensor **out)
{
	switch (c->op) {
	case BW_OP_CONV2D:
		return bw_t_conv2d(g, in[0], in[1], c->n_in > 2 ? in[2] : NULL, &c->a, out);
	case BW_OP_LINEAR:
		return bw_t_linear(g, in[0], in[1], c->n_in > 2 ? in[2] : NULL, out);
	case BW_OP_ADD: case BW_OP_MUL: case BW_OP_SUB: case BW_OP_DIV:
		return bw_t_binary(g, c->op, in[0], in[1], out);
	case BW_OP_BATCHNORM:
		return bw_t_batchnorm(g, in[0], in[1], in[2], in[3], in[4], &c->a, c->training, out);
	case BW_OP_CONCAT:
		return bw_t_concat(g, c->n_in, in, c->a.axis, out);
	case BW_OP_CROSS_ENTROPY:
		return bw_t_cross_entropy(g, in[0], c->labels, out);
	default:
		return bw_t_unary(g, c->op, in[0], &c->a, c->training, out);
	}
}

/* Forward on fresh tensors holding vals; returns sum(w*y) in double (or NAN). */
static double eval_loss(const struct gc *c, float **vals, const float *w, int *ny)
{
	struct bw_graph *g = NULL;
	struct bw_tensor *in[MAXIN], *y;
	double L = 0.0;
	int i;

	if (bw_graph_new(7, &g) != BW_OK)
		return NAN;
	for (i = 0; i < c->n_in; i++) {
		if (bw_graph_tensor(g, c->ndim[i], c->shape[i], 0, &in[i]) != BW_OK) {
			bw_graph_free(g);
			return NAN;
		}
		memcpy(in[i]->data, vals[i], sizeof(float) * (size_t)in[i]->numel);
	}
	if (run_op(g, c, in, &y) != BW_OK) {
		bw_graph_free(g);
		return NAN;
	}
	*ny = y->numel;
	if (w != NULL)
		for (i = 0; i < y->numel; i++)
			L += (double)w[i] * (double)y->data[i];
	bw_graph_free(g);
	return L;
}

static void fill(float *p, int n, int kind)
{
	int i;

	for (i = 0; i < n; i++) {
		float v = urand();

		if (kind == 1)
			v = v >= 0 ? 0.2f + v : -0.2f + v;
		else if (kind == 2)
			v = (float)((i * 37) % n) * 0.02f - 0.3f;
		else if (kind == 3)
			v = fabsf(fabsf(v) - 0.5f) < 0.05f ? v * 0.5f : v;
		else if (kind == 4)
			v = 0.5f + 0.5f * fabsf(v);
		p[i] = v;
	}
}

static void gradcheck(const struct gc *c)
{
	struct bw_graph *g = NULL;
	struct bw_tensor *in[MAXIN], *y;
	float *vals[MAXIN] = {NULL}, *ana[MAXIN] = {NULL}, *w = NULL;
	const float h = 1e-3f;
	double worst = 0.0;
	int i, j, ny = 0, n[MAXIN];

	CHECK(bw_graph_new(7, &g) == BW_OK);
	for (i = 0; i < c->n_in; i++) {
		CHECK(bw_graph_tensor(g, c->ndim[i], c->shape[i], !c->nograd[i], &in[i]) == BW_OK);
		n[i] = in[i]->numel;
		vals[i] = bw_calloc((size_t)n[i], sizeof(float));
		fill(vals[i], n[i], c->kind[i]);
		memcpy(in[i]->data, vals[i], sizeof(float) * (size_t)n[i]);
	}
	CHECKF(run_op(g, c, in, &y) == BW_OK, "%s forward", c->name);
	w = bw_calloc((size_t)y->numel, sizeof(float));
	for (j = 0; j < y->numel; j++)
		w[j] = urand();
	CHECKF(bw_graph_backward(g, y, w) == BW_OK, "%s backward", c->name);
	for (i = 0; i < c->n_in; i++) {
		ana[i] = bw_calloc((size_t)n[i], sizeof(float));
		if (in[i]->grad != NULL)
			memcpy(ana[i], in[i]->grad, sizeof(float) * (size_t)n[i]);
	}
	bw_graph_free(g);
	for (i = 0; i < c->n_in; i++) {
		if (c->nograd[i])
			continue;
		for (j = 0; j < n[i]; j++) {
			float save = vals[i][j];
			double lp, lm, num, err;

			vals[i][j] = save + h;
			lp = eval_loss(c, vals, w, &ny);
			vals[i][j] = save - h;
			lm = eval_loss(c, vals, w, &ny);
			vals[i][j] = save;
			num = (lp - lm) / (2.0 * (double)h);
			err = fabs(num - (double)ana[i][j]) / (fabs(num) > 1.0 ? fabs(num) : 1.0);
			if (err > worst)
				worst = err;
		}
	}
	CHECKF(worst < 1e-3, "%s: finite-difference error %.3g", c->name, worst);
	printf("gradcheck %-22s max error %.2e\n", c->name, worst);
	for (i = 0; i < c->n_in; i++) {
		bw_free(vals[i]);
		bw_free(ana[i]);
	}
	bw_free(w);
}

#define S4(a, b, c, d) {a, b, c, d}

static void test_gradients(void)
{
	struct gc c;

	/* conv2d: stride, padding, dilation, groups, bias */
	memset(&c, 0, sizeof c);
	c.name = "conv2d";
	c.op = BW_OP_CONV2D;
	bw_op_attr_default(&c.a, c.op);
	c.a.stride[0] = 2; c.a.stride[1] = 1;
	c.a.pad[0] = 1; c.a.pad[1] = 2; c.a.pad[2] = 1; c.a.pad[3] = 0;
	c.a.dilation[0] = 1; c.a.dilation[1] = 2;
	c.a.groups = 2;
	c.n_in = 3;
	c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(2, 4, 5, 6), sizeof c.shape[0]);
	c.ndim[1] = 4; memcpy(c.shape[1], (int[])S4(6, 2, 3, 2), sizeof c.shape[1]);
	c.ndim[2] = 1; c.shape[2][0] = 6;
	gradcheck(&c);
	c.name = "conv2d-batched";
	c.a.groups = 1;
	c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(3, 2, 5, 5), sizeof c.shape[0]);
	memcpy(c.shape[1], (int[])S4(3, 2, 3, 3), sizeof c.shape[1]);
	c.shape[2][0] = 3;
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "linear";
	c.op = BW_OP_LINEAR;
	c.n_in = 3;
	c.ndim[0] = 2; c.shape[0][0] = 3; c.shape[0][1] = 5;
	c.ndim[1] = 2; c.shape[1][0] = 4; c.shape[1][1] = 5;
	c.ndim[2] = 1; c.shape[2][0] = 4;
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "add-broadcast";
	c.op = BW_OP_ADD;
	c.n_in = 2;
	c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(2, 3, 2, 2), sizeof c.shape[0]);
	c.ndim[1] = 3; memcpy(c.shape[1], (int[])S4(3, 1, 2, 1), sizeof c.shape[1]);
	gradcheck(&c);
	c.name = "mul-broadcast";
	c.op = BW_OP_MUL;
	gradcheck(&c);
	c.name = "sub-broadcast";
	c.op = BW_OP_SUB;
	gradcheck(&c);
	c.name = "div-broadcast";
	c.op = BW_OP_DIV;
	c.kind[1] = 4;
	gradcheck(&c);
	c.kind[1] = 0;
	c.op = BW_OP_MUL;
	c.name = "mul-same";
	c.ndim[1] = 4; memcpy(c.shape[1], c.shape[0], sizeof c.shape[1]);
	gradcheck(&c);

	{
		static const struct { const char *name; enum bw_op op; int kind; } un[] = {
			{"relu", BW_OP_RELU, 1}, {"leaky_relu", BW_OP_LEAKY_RELU, 1},
			{"sigmoid", BW_OP_SIGMOID, 0}, {"tanh", BW_OP_TANH, 0},
			{"clamp", BW_OP_CLAMP, 3}, {"sign", BW_OP_SIGN, 1},
			{"identity", BW_OP_IDENTITY, 0}, {"flatten", BW_OP_FLATTEN, 0},
			{"softmax", BW_OP_SOFTMAX, 0}, {"log_softmax", BW_OP_LOGSOFTMAX, 0},
			{"gap", BW_OP_GAP, 0}, {"dropout-eval", BW_OP_DROPOUT, 0},
		};
		size_t k;

		for (k = 0; k < sizeof un / sizeof un[0]; k++) {
			memset(&c, 0, sizeof c);
			c.name = un[k].name;
			c.op = un[k].op;
			bw_op_attr_default(&c.a, c.op);
			c.a.lo = -0.5f;
			c.a.hi = 0.5f;
			c.a.alpha = 0.1f;
			c.n_in = 1;
			c.kind[0] = un[k].kind;
			c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(2, 3, 2, 3), sizeof c.shape[0]);
			gradcheck(&c);
		}
	}
	memset(&c, 0, sizeof c);
	c.name = "softmax-axis1";
	c.op = BW_OP_SOFTMAX;
	bw_op_attr_default(&c.a, c.op);
	c.a.axis = 1;
	c.n_in = 1;
	c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(2, 3, 2, 2), sizeof c.shape[0]);
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "dropout-train";
	c.op = BW_OP_DROPOUT;
	bw_op_attr_default(&c.a, c.op);
	c.a.p = 0.3f;
	c.training = 1;
	c.n_in = 1;
	c.ndim[0] = 2; c.shape[0][0] = 4; c.shape[0][1] = 8;
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "reshape";
	c.op = BW_OP_RESHAPE;
	bw_op_attr_default(&c.a, c.op);
	c.a.shape_n = 3; c.a.shape[0] = 0; c.a.shape[1] = -1; c.a.shape[2] = 2;
	c.n_in = 1;
	c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(2, 3, 2, 2), sizeof c.shape[0]);
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "maxpool-pad-ceil";
	c.op = BW_OP_MAXPOOL;
	bw_op_attr_default(&c.a, c.op);
	c.a.kernel[0] = 3; c.a.kernel[1] = 2; c.a.stride[0] = 2; c.a.stride[1] = 2;
	c.a.pad[0] = 1; c.a.pad[2] = 1; c.a.ceil_mode = 1;
	c.n_in = 1;
	c.kind[0] = 2;
	c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(2, 2, 5, 5), sizeof c.shape[0]);
	gradcheck(&c);
	c.name = "avgpool-pad";
	c.op = BW_OP_AVGPOOL;
	c.kind[0] = 0;
	gradcheck(&c);
	c.name = "avgpool-count-pad";
	c.a.count_include_pad = 1;
	c.a.ceil_mode = 0;
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "batchnorm-train";
	c.op = BW_OP_BATCHNORM;
	bw_op_attr_default(&c.a, c.op);
	c.training = 1;
	c.n_in = 5;
	c.ndim[0] = 4; memcpy(c.shape[0], (int[])S4(3, 2, 2, 2), sizeof c.shape[0]);
	c.ndim[1] = c.ndim[2] = c.ndim[3] = c.ndim[4] = 1;
	c.shape[1][0] = c.shape[2][0] = c.shape[3][0] = c.shape[4][0] = 2;
	c.nograd[3] = c.nograd[4] = 1;
	c.kind[4] = 4;
	gradcheck(&c);
	c.name = "batchnorm-eval";
	c.training = 0;
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "concat-axis1";
	c.op = BW_OP_CONCAT;
	c.a.axis = 1;
	c.n_in = 3;
	c.ndim[0] = c.ndim[1] = c.ndim[2] = 4;
	memcpy(c.shape[0], (int[])S4(2, 1, 2, 2), sizeof c.shape[0]);
	memcpy(c.shape[1], (int[])S4(2, 3, 2, 2), sizeof c.shape[1]);
	memcpy(c.shape[2], (int[])S4(2, 2, 2, 2), sizeof c.shape[2]);
	gradcheck(&c);

	memset(&c, 0, sizeof c);
	c.name = "cross_entropy";
	c.op = BW_OP_CROSS_ENTROPY;
	c.n_in = 1;
	c.ndim[0] = 2; c.shape[0][0] = 4; c.shape[0][1] = 5;
	c.labels[0] = 1; c.labels[1] = 4; c.labels[2] = 0; c.labels[3] = 2;
	gradcheck(&c);
}

static void test_forward_values(void)
{
	struct bw_graph *g = NULL;
	struct bw_tensor *x, *w, *y;
	struct bw_op_attr a;
	int sx[4] = {1, 1, 3, 3}, sw[4] = {1, 1, 2, 2}, i;

	CHECK(bw_graph_new(1, &g) == BW_OK);
	CHECK(bw_graph_tensor(g, 4, sx, 0, &x) == BW_OK);
	CHECK(bw_graph_tensor(g, 4, sw, 0, &w) == BW_OK);
	for (i = 0; i < 9; i++)
		x->data[i] = (float)(i + 1);
	for (i = 0; i < 4; i++)
		w->data[i] = 1.0f;
	bw_op_attr_default(&a, BW_OP_CONV2D);
	CHECK(bw_t_conv2d(g, x, w, NULL, &a, &y) == BW_OK);
	/* 2x2 box sums of 1..9 */
	CHECK(y->numel == 4 && y->data[0] == 12.0f && y->data[1] == 16.0f && y->data[2] == 24.0f &&
	      y->data[3] == 28.0f);
	bw_op_attr_default(&a, BW_OP_MAXPOOL);
	CHECK(bw_t_unary(g, BW_OP_MAXPOOL, x, &a, 0, &y) == BW_OK);
	CHECK(y->numel == 1 && y->data[0] == 5.0f);
	/* a budget bounds what one pass may take */
	{
		struct bw_graph *gb = NULL;
		struct bw_tensor *big;
		int sbig[2] = {1024, 1024};

		CHECK(bw_graph_new(1, &gb) == BW_OK);
		bw_graph_set_budget(gb, (size_t)1 << 20);
		CHECK(bw_graph_tensor(gb, 2, sbig, 0, &big) != BW_OK);
		bw_graph_set_budget(gb, (size_t)8 << 20);
		CHECK(bw_graph_tensor(gb, 2, sbig, 0, &big) == BW_OK);
		bw_graph_free(gb);
	}
	/* shape errors are refused, not computed */
	sw[1] = 2;
	CHECK(bw_graph_tensor(g, 4, sw, 0, &w) == BW_OK);
	bw_op_attr_default(&a, BW_OP_CONV2D);
	CHECK(bw_t_conv2d(g, x, w, NULL, &a, &y) == BW_ERR_ARG);
	bw_graph_free(g);

	/* A batch gives the same result as its images one at a time. */
	{
		int s3[4] = {3, 8, 85, 85}, s1[4] = {1, 8, 85, 85}, sk[4] = {4, 8, 3, 3}, sb = 4, k;
		struct bw_tensor *x3, *x1, *wk, *bk, *y3, *y1;
		size_t per = 8 * 85 * 85, oper;
		int same = 1;

		CHECK(bw_graph_new(1, &g) == BW_OK);
		CHECK(bw_graph_tensor(g, 4, s3, 0, &x3) == BW_OK);
		CHECK(bw_graph_tensor(g, 4, sk, 0, &wk) == BW_OK);
		CHECK(bw_graph_tensor(g, 1, &sb, 0, &bk) == BW_OK);
		for (i = 0; i < x3->numel; i++)
			x3->data[i] = urand();
		for (i = 0; i < wk->numel; i++)
			wk->data[i] = urand();
		for (i = 0; i < 4; i++)
			bk->data[i] = urand();
		bw_op_attr_default(&a, BW_OP_CONV2D);
		a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
		CHECK(bw_t_conv2d(g, x3, wk, bk, &a, &y3) == BW_OK);
		oper = (size_t)y3->numel / 3;
		for (k = 0; k < 3; k++) {
			CHECK(bw_graph_tensor(g, 4, s1, 0, &x1) == BW_OK);
			memcpy(x1->data, x3->data + (size_t)k * per, per * sizeof(float));
			CHECK(bw_t_conv2d(g, x1, wk, bk, &a, &y1) == BW_OK);
			for (i = 0; i < (int)oper; i++)
				same &= fabsf(y1->data[i] - y3->data[(size_t)k * oper + (size_t)i]) < 1e-5f;
		}
		CHECK(same);
		bw_graph_free(g);
	}
}

/* ---- convolution against a direct loop, every lowering form, 1 and 2 threads ---- */

struct convcase {
	const char *name;
	int n, c, oc, h, w, kh, kw, groups;
	int stride[2], dil[2], pad[4];
};

/* The convolution attributes of case k. */
static void conv_attr(const struct convcase *k, struct bw_op_attr *a)
{
	bw_op_attr_default(a, BW_OP_CONV2D);
	a->kernel[0] = k->kh;
	a->kernel[1] = k->kw;
	a->stride[0] = k->stride[0];
	a->stride[1] = k->stride[1];
	a->dilation[0] = k->dil[0];
	a->dilation[1] = k->dil[1];
	memcpy(a->pad, k->pad, sizeof a->pad);
	a->groups = k->groups;
}

static float x_at(const float *x, const struct convcase *k, int n, int ci, int iy, int ix)
{
	if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w)
		return 0.0f;
	return x[(((size_t)n * (size_t)k->c + (size_t)ci) * (size_t)k->h + (size_t)iy) * (size_t)k->w +
	         (size_t)ix];
}

/* y, dx, dw, db by the definition, in double. */
static void conv_ref(const struct convcase *k, int oh, int ow, const float *x, const float *w,
                     const float *b, const float *gy, double *y, double *dx, double *dw, double *db)
{
	int cg = k->c / k->groups, ocg = k->oc / k->groups, n, oc, oy, ox, ci, ki, kj;

	for (n = 0; n < k->n; n++)
		for (oc = 0; oc < k->oc; oc++)
			for (oy = 0; oy < oh; oy++)
				for (ox = 0; ox < ow; ox++) {
					size_t yi = (((size_t)n * (size_t)k->oc + (size_t)oc) * (size_t)oh + (size_t)oy) *
					                (size_t)ow + (size_t)ox;
					double acc = b[oc], gv = gy[yi];
					int g0 = (oc / ocg) * cg;

					db[oc] += gv;
					for (ci = 0; ci < cg; ci++)
						for (ki = 0; ki < k->kh; ki++)
							for (kj = 0; kj < k->kw; kj++) {
								int iy = oy * k->stride[0] + ki * k->dil[0] - k->pad[0];
								int ix = ox * k->stride[1] + kj * k->dil[1] - k->pad[1];
								size_t wi = (((size_t)oc * (size_t)cg + (size_t)ci) * (size_t)k->kh +
								             (size_t)ki) * (size_t)k->kw + (size_t)kj;
								double xv = x_at(x, k, n, g0 + ci, iy, ix);

								acc += (double)w[wi] * xv;
								dw[wi] += gv * xv;
								if (iy >= 0 && iy < k->h && ix >= 0 && ix < k->w)
									dx[(((size_t)n * (size_t)k->c + (size_t)(g0 + ci)) *
									        (size_t)k->h + (size_t)iy) * (size_t)k->w + (size_t)ix] +=
									    gv * (double)w[wi];
							}
					y[yi] = acc;
				}
}

static int close_all(const float *got, const double *want, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!(fabs((double)got[i] - want[i]) <= 1e-3 * (1.0 + fabs(want[i]))))
			return 0;
	return 1;
}

static void test_conv_forms(void)
{
	/* Sizes pick each form: one image per product in the stride-1 rows form (a and b),
	 * one image by full lowering (c: vertical stride), several images per product (d). */
	static const struct convcase cases[] = {
		{"rows 5x5", 3, 16, 8, 24, 24, 5, 5, 1, {1, 1}, {1, 1}, {2, 2, 2, 2}},
		{"rows groups/stride-w/dil-w/asym pad", 2, 32, 8, 60, 60, 3, 3, 2, {1, 2}, {1, 2},
		 {1, 2, 0, 1}},
		{"one image, stride 2", 2, 16, 8, 48, 48, 5, 5, 1, {2, 2}, {1, 1}, {2, 2, 2, 2}},
		{"chunked", 8, 8, 16, 20, 20, 3, 3, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
	};
	size_t ci;
	int th, dn;

	/* dn = 1: through oneDNN when it is loaded (tensor_dnnl.c); 0: lowering + sgemm. */
	for (dn = 0; dn <= 1; dn++)
	for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
		for (th = 1; th <= 2; th++) {
			const struct convcase *k = &cases[ci];
			struct bw_graph *g = NULL;
			struct bw_tensor *x, *w, *b, *y;
			struct bw_op_attr a;
			int sx[4] = {k->n, k->c, k->h, k->w}, sw[4] = {k->oc, k->c / k->groups, k->kh, k->kw};
			int oh, ow, i;
			float *gy = NULL;
			double *ry = NULL, *rdx = NULL, *rdw = NULL, *rdb = NULL;

			bw_t_set_threads(th);
			bw_dnnl_set_enabled(dn);
			conv_attr(k, &a);
			CHECK(bw_graph_new(1, &g) == BW_OK);
			CHECK(bw_graph_tensor(g, 4, sx, 1, &x) == BW_OK);
			CHECK(bw_graph_tensor(g, 4, sw, 1, &w) == BW_OK);
			CHECK(bw_graph_tensor(g, 1, &k->oc, 1, &b) == BW_OK);
			for (i = 0; i < x->numel; i++)
				x->data[i] = urand();
			for (i = 0; i < w->numel; i++)
				w->data[i] = urand();
			for (i = 0; i < b->numel; i++)
				b->data[i] = urand();
			CHECKF(bw_t_conv2d(g, x, w, b, &a, &y) == BW_OK, "%s forward", k->name);
			oh = y->shape[2];
			ow = y->shape[3];
			gy = bw_calloc((size_t)y->numel, sizeof *gy);
			ry = bw_calloc((size_t)y->numel, sizeof *ry);
			rdx = bw_calloc((size_t)x->numel, sizeof *rdx);
			rdw = bw_calloc((size_t)w->numel, sizeof *rdw);
			rdb = bw_calloc((size_t)k->oc, sizeof *rdb);
			CHECK(gy != NULL && ry != NULL && rdx != NULL && rdw != NULL && rdb != NULL);
			for (i = 0; i < y->numel; i++)
				gy[i] = urand();
			CHECKF(bw_graph_backward(g, y, gy) == BW_OK, "%s backward", k->name);
			conv_ref(k, oh, ow, x->data, w->data, b->data, gy, ry, rdx, rdw, rdb);
			CHECKF(close_all(y->data, ry, y->numel), "%s y, %d threads, dnnl %d", k->name, th, dn);
			CHECKF(x->grad != NULL && close_all(x->grad, rdx, x->numel),
			       "%s dx, %d threads, dnnl %d", k->name, th, dn);
			CHECKF(w->grad != NULL && close_all(w->grad, rdw, w->numel),
			       "%s dw, %d threads, dnnl %d", k->name, th, dn);
			CHECKF(b->grad != NULL && close_all(b->grad, rdb, k->oc), "%s db, %d threads, dnnl %d",
			       k->name, th, dn);
			bw_free(gy);
			bw_free(ry);
			bw_free(rdx);
			bw_free(rdw);
			bw_free(rdb);
			bw_graph_free(g);
		}
	bw_t_set_threads(0);
	bw_dnnl_set_enabled(1);
}

/* 1 when a library whose path contains name is mapped into this process. */
static int mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, name) != NULL)
			found = 1;
	fclose(f);
	return found;
}

/*
 * One convolution (x, w, b, optional fused ReLU) forward and backward with
 * oneDNN on or off: y, and dx, dw, db after two backward passes (checks that
 * gradients are added, not overwritten); r->calls counts the oneDNN calls.
 */
struct dnrun {
	float *y, *dx, *dw, *db;
	unsigned long calls;
};

static void conv_run(const struct convcase *k, int relu, int bias, int dn, int th, struct dnrun *r)
{
	struct bw_graph *g = NULL;
	struct bw_tensor *x, *w, *b = NULL, *y, *ins[2];
	struct bw_op_attr a;
	int sx[4] = {k->n, k->c, k->h, k->w}, sw[4] = {k->oc, k->c / k->groups, k->kh, k->kw}, i;
	unsigned long c0;
	float *gy;
	uint64_t keep = rng_state;

	memset(r, 0, sizeof *r);
	rng_state = 7; /* same data for every mode */
	bw_t_set_threads(th);
	bw_dnnl_set_enabled(dn);
	conv_attr(k, &a);
	CHECK(bw_graph_new(1, &g) == BW_OK);
	CHECK(bw_graph_tensor(g, 4, sx, 1, &x) == BW_OK);
	CHECK(bw_graph_tensor(g, 4, sw, 1, &w) == BW_OK);
	if (bias)
		CHECK(bw_graph_tensor(g, 1, &k->oc, 1, &b) == BW_OK);
	for (i = 0; i < x->numel; i++)
		x->data[i] = urand();
	for (i = 0; i < w->numel; i++)
		w->data[i] = urand();
	for (i = 0; bias && i < b->numel; i++)
		b->data[i] = urand();
	c0 = bw_dnnl_n_calls();
	CHECKF(bw_t_conv2d_ex(g, x, w, b, &a, relu, &y) == BW_OK, "%s forward", k->name);
	if (relu) {
		ins[0] = y;
		CHECK(bw_t_relu_inplace(g, y, 1, &ins[1]) == BW_OK);
		y = ins[1];
	}
	gy = bw_calloc((size_t)y->numel, sizeof *gy);
	CHECK(gy != NULL);
	for (i = 0; i < y->numel; i++)
		gy[i] = urand();
	CHECKF(bw_graph_backward(g, y, gy) == BW_OK, "%s backward", k->name);
	CHECKF(bw_graph_backward(g, y, gy) == BW_OK, "%s backward again", k->name);
	r->calls = bw_dnnl_n_calls() - c0;
	r->y = bw_calloc((size_t)y->numel, sizeof(float));
	r->dx = bw_calloc((size_t)x->numel, sizeof(float));
	r->dw = bw_calloc((size_t)w->numel, sizeof(float));
	r->db = bw_calloc((size_t)k->oc, sizeof(float));
	CHECK(r->y && r->dx && r->dw && r->db && x->grad != NULL && w->grad != NULL);
	memcpy(r->y, y->data, sizeof(float) * (size_t)y->numel);
	memcpy(r->dx, x->grad, sizeof(float) * (size_t)x->numel);
	memcpy(r->dw, w->grad, sizeof(float) * (size_t)w->numel);
	if (bias) {
		CHECK(b->grad != NULL);
		memcpy(r->db, b->grad, sizeof(float) * (size_t)k->oc);
	}
	bw_free(gy);
	bw_graph_free(g);
	rng_state = keep;
}

static int close_f(const float *a, const float *b, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!(fabsf(a[i] - b[i]) <= 1e-3f * (1.0f + fabsf(b[i]))))
			return 0;
	return 1;
}

static void dnrun_free(struct dnrun *r)
{
	bw_free(r->y);
	bw_free(r->dx);
	bw_free(r->dw);
	bw_free(r->db);
}

/* The oneDNN path against the lowering + sgemm path, forward and all gradients. */
static void test_conv_dnnl(void)
{
	static const struct convcase cases[] = {
		{"madry conv1", 9, 1, 32, 28, 28, 5, 5, 1, {1, 1}, {1, 1}, {2, 2, 2, 2}},
		{"madry conv2", 7, 32, 64, 14, 14, 5, 5, 1, {1, 1}, {1, 1}, {2, 2, 2, 2}},
		{"3x3 resnet-like", 4, 16, 32, 16, 16, 3, 3, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
		{"1x1 stride 2", 3, 16, 32, 15, 15, 1, 1, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}},
		{"groups, dilation, asym pad", 2, 32, 8, 20, 18, 3, 3, 2, {1, 2}, {2, 1}, {1, 2, 0, 1}},
	};
	size_t ci;
	int th, relu, on = bw_dnnl_on();

	if (!on)
		fprintf(stderr, "note: %s: only the fallback is checked\n", bw_dnnl_describe());
	for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
		for (th = 1; th <= 2; th++)
			for (relu = 0; relu <= 1; relu++) {
				const struct convcase *k = &cases[ci];
				struct dnrun p, d;
				int oh = (k->h + k->pad[0] + k->pad[2] - k->dil[0] * (k->kh - 1) - 1) / k->stride[0] + 1;
				int ow = (k->w + k->pad[1] + k->pad[3] - k->dil[1] * (k->kw - 1) - 1) / k->stride[1] + 1;
				int bias = relu || ci % 2 == 0; /* some without bias */

				conv_run(k, relu, bias, 0, th, &p);
				conv_run(k, relu, bias, 1, th, &d);
				CHECKF(p.calls == 0, "%s: plain path ran oneDNN", k->name);
				CHECKF(d.calls == (on ? 3u : 0u), "%s: oneDNN calls %lu (on %d)", k->name, d.calls,
				       on);
				CHECKF(close_f(d.y, p.y, k->n * k->oc * oh * ow), "%s y, %d threads, relu %d",
				       k->name, th, relu);
				CHECKF(close_f(d.dx, p.dx, k->n * k->c * k->h * k->w), "%s dx, %d threads, relu %d",
				       k->name, th, relu);
				CHECKF(close_f(d.dw, p.dw, k->oc * (k->c / k->groups) * k->kh * k->kw),
				       "%s dw, %d threads, relu %d", k->name, th, relu);
				CHECKF(close_f(d.db, p.db, k->oc), "%s db, %d threads, relu %d", k->name, th, relu);
				dnrun_free(&p);
				dnrun_free(&d);
			}
	bw_t_set_threads(0);
	bw_dnnl_set_enabled(1);
}

/*
 * Run in a child process with BW_TENSOR_NO_DNNL=1: oneDNN must be neither used
 * nor mapped, and a convolution must still work (the fallback).
 */
static void child_no_dnnl(void)
{
	static const struct convcase k = {"child", 2, 4, 8, 10, 10, 3, 3, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}};
	struct dnrun r;

	CHECK(!bw_dnnl_on());
	CHECK(strstr(bw_dnnl_describe(), "BW_TENSOR_NO_DNNL") != NULL);
	conv_run(&k, 1, 1, 1, 2, &r);
	CHECK(r.calls == 0);
	CHECK(mapped("libdnnl") == 0);
	dnrun_free(&r);
}

static void make_toy(struct bw_dataset *ds, int n)
{
	int i, j;

	ds->n = n; ds->c = 1; ds->h = 8; ds->w = 8; ds->n_classes = 2;
	ds->x = bw_calloc((size_t)n * 64, sizeof(float));
	ds->y = bw_calloc((size_t)n, sizeof(int32_t));
	for (i = 0; i < n; i++) {
		ds->y[i] = i % 2;
		for (j = 0; j < 64; j++) /* class 1: bright left half */
			ds->x[(size_t)i * 64 + (size_t)j] = 0.5f * bw_u01(&rng_state) +
			    ((ds->y[i] == 1) == ((j % 8) < 4) ? 0.4f : 0.0f);
	}
}

static void test_training(void)
{
	struct bw_dataset ds = {0};
	struct bw_model *m = NULL, *m2 = NULL;
	struct bw_optim *o = NULL;
	struct bw_optim_cfg cfg;
	struct bw_graph *g = NULL;
	double loss0 = 0, loss = 0, acc = 0;
	uint64_t allocs = 0;
	size_t bytes = 0;
	unsigned long dn_calls;
	int ep, i;
	const char *arch;

	make_toy(&ds, 64);
	CHECK(bw_model_builtin("lenet", 1, 8, 8, 2, 3, &m) == BW_ERR_ARG ||
	      m != NULL); /* 8x8 is too small for LeNet's second conv: refused or built */
	bw_model_free(m);
	m = NULL;
	CHECK(bw_model_builtin("resnet-mini", 1, 8, 8, 2, 3, &m) == BW_OK);
	bw_optim_cfg_default(&cfg, BW_OPTIM_ADAM);
	cfg.lr = 0.01f;
	CHECK(bw_optim_new(m, &cfg, &o) == BW_OK);
	CHECK(bw_graph_new(3, &g) == BW_OK);
	dn_calls = bw_dnnl_n_calls();
	for (ep = 0; ep < 6; ep++) {
		CHECK(bw_train_epoch(m, o, g, &ds, 0, 16, 5, NULL, NULL, &loss, &acc) == BW_OK);
		if (ep == 0)
			loss0 = loss;
		if (ep == 1) {
			allocs = bw_graph_n_allocs(g);
			bytes = bw_graph_arena_bytes(g);
		}
	}
	CHECKF(loss < loss0 * 0.8, "training did not reduce the loss: %g -> %g", loss0, loss);
	CHECKF(bw_graph_n_allocs(g) == allocs, "steady-state training allocated: %llu -> %llu",
	       (unsigned long long)allocs, (unsigned long long)bw_graph_n_allocs(g));
	CHECK(bw_graph_arena_bytes(g) == bytes);
	/* ... with its convolutions through oneDNN when it is loaded */
	CHECK(!bw_dnnl_on() || bw_dnnl_n_calls() > dn_calls);
	/* save, load, same predictions */
	{
		char path[] = "/tmp/bw_test_tensor_XXXXXX";
		int fd = mkstemp(path);
		int32_t p1[64], p2[64];
		float l1[128], l2[128];
		int k1 = 0, k2 = 0;

		CHECK(fd >= 0);
		close(fd);
		CHECK(bw_model_save(m, path) == BW_OK);
		CHECK(bw_model_load(path, &m2, NULL) == BW_OK);
		CHECK(m2 != NULL && bw_model_n_weights(m2) == bw_model_n_weights(m));
		if (m2 != NULL) {
			CHECK(bw_model_predict(m, g, &ds, 64, 10, p1, l1, &k1) == BW_OK);
			CHECK(bw_model_predict(m2, g, &ds, 64, 10, p2, l2, &k2) == BW_OK);
			CHECK(k1 == 2 && k2 == 2 && memcmp(l1, l2, sizeof l1) == 0);
		}
		unlink(path);
	}
	bw_model_free(m2);
	bw_optim_free(o);
	bw_model_free(m);
	/* determinism: two runs from the same seed give identical weights */
	for (i = 0; (arch = bw_model_builtin_names()[i]) != NULL; i++) {
		struct bw_model *a = NULL, *b = NULL;
		struct bw_optim *oa = NULL, *ob = NULL;
		int p, same = 1;

		if (strcmp(arch, "lenet") == 0)
			continue; /* needs 28x28 */
		CHECK(bw_model_builtin(arch, 1, 8, 8, 2, 9, &a) == BW_OK);
		CHECK(bw_model_builtin(arch, 1, 8, 8, 2, 9, &b) == BW_OK);
		if (a == NULL || b == NULL)
			continue;
		bw_optim_cfg_default(&cfg, BW_OPTIM_SGD);
		cfg.weight_decay = 1e-4f;
		CHECK(bw_optim_new(a, &cfg, &oa) == BW_OK);
		CHECK(bw_optim_new(b, &cfg, &ob) == BW_OK);
		CHECK(bw_train_epoch(a, oa, g, &ds, 32, 8, 11, NULL, NULL, &loss, &acc) == BW_OK);
		CHECK(bw_train_epoch(b, ob, g, &ds, 32, 8, 11, NULL, NULL, &loss, &acc) == BW_OK);
		for (p = 0; p < bw_model_n_params(a); p++) {
			struct bw_tensor *ta = bw_model_param(a, p, NULL), *tb = bw_model_param(b, p, NULL);

			same &= memcmp(ta->data, tb->data, sizeof(float) * (size_t)ta->numel) == 0;
		}
		CHECKF(same, "%s: training is not deterministic", arch);
		bw_optim_free(oa);
		bw_optim_free(ob);
		bw_model_free(a);
		bw_model_free(b);
	}
	bw_graph_free(g);
	bw_data_release(&ds);
}

static void test_arch_json(void)
{
	struct bw_model *m = NULL, *m2 = NULL;
	struct bw_diag d;
	char *js = NULL, *js2 = NULL;
	static const char bad_op[] =
		"{\"format\":\"bulwark-arch\",\"inputs\":[\"x\"],\"output\":\"y\",\"params\":[],"
		"\"nodes\":[{\"op\":\"eval\",\"in\":[\"x\"],\"out\":\"y\"}]}";
	static const char use_before_def[] =
		"{\"format\":\"bulwark-arch\",\"inputs\":[\"x\"],\"output\":\"y\",\"params\":[],"
		"\"nodes\":[{\"op\":\"relu\",\"in\":[\"z\"],\"out\":\"y\"}]}";

	CHECK(bw_model_builtin("madry-cnn", 1, 28, 28, 10, 1, &m) == BW_OK);
	CHECK(bw_model_n_weights(m) == 32 * 25 + 32 + 64 * 32 * 25 + 64 + 3136 * 1024 + 1024 + 10240 + 10);
	CHECK(bw_model_arch_json(m, &js) == BW_OK);
	CHECK(js != NULL && bw_model_from_arch(js, strlen(js), &m2, NULL) == BW_OK);
	CHECK(m2 != NULL && bw_model_arch_json(m2, &js2) == BW_OK && js2 != NULL && strcmp(js, js2) == 0);
	bw_model_free(m2);
	m2 = NULL;
	bw_diag_clear(&d);
	CHECK(bw_model_from_arch(bad_op, sizeof bad_op - 1, &m2, &d) == BW_ERR_UNSUPPORTED);
	CHECK(strstr(d.what, "eval") != NULL);
	bw_diag_clear(&d);
	CHECK(bw_model_from_arch(use_before_def, sizeof use_before_def - 1, &m2, &d) == BW_ERR_MALFORMED);
	CHECK(bw_model_from_arch("{", 1, &m2, NULL) == BW_ERR_MALFORMED);
	{
		/* a tiny file whose architecture declares a 512 MiB parameter is refused before
		 * anything is allocated for it */
		static const char arch[] =
			"{\\\"format\\\":\\\"bulwark-arch\\\",\\\"inputs\\\":[\\\"x\\\"],"
			"\\\"output\\\":\\\"y\\\",\\\"params\\\":[{\\\"name\\\":\\\"w\\\","
			"\\\"shape\\\":[134217728]}],\\\"nodes\\\":[{\\\"op\\\":\\\"mul\\\","
			"\\\"in\\\":[\\\"x\\\",\\\"w\\\"],\\\"out\\\":\\\"y\\\"}]}";
		char hdr[1024], path[] = "/tmp/bw_test_st_XXXXXX";
		unsigned char len8[8];
		int fd = mkstemp(path), k, n;
		FILE *f;

		n = snprintf(hdr, sizeof hdr,
		             "{\"__metadata__\":{\"bulwark.arch\":\"%s\"},"
		             "\"w\":{\"dtype\":\"F32\",\"shape\":[134217728],\"data_offsets\":[0,536870912]}}",
		             arch);
		for (k = 0; k < 8; k++)
			len8[k] = (unsigned char)((uint64_t)n >> (8 * k));
		CHECK(fd >= 0);
		f = fdopen(fd, "wb");
		fwrite(len8, 1, 8, f);
		fwrite(hdr, 1, (size_t)n, f);
		fwrite("\0\0\0\0", 1, 4, f);
		fclose(f);
		bw_diag_clear(&d);
		CHECKF(bw_model_load(path, &m2, &d) == BW_ERR_LIMIT && m2 == NULL, "%s", d.what);
		unlink(path);
	}
	bw_tensor_free_str(js);
	bw_tensor_free_str(js2);
	bw_model_free(m);
}

int main(int argc, char **argv)
{
	char cmd[4200];
	int rc;

	(void)argc;
	if (getenv("BW_TEST_NO_DNNL_CHILD") != NULL) {
		child_no_dnnl();
		return bw_test_done();
	}
	/* Loaded on first use only: nothing has run a convolution yet. */
	CHECK(mapped("libdnnl") == 0);
	/* The fallback when BW_TENSOR_NO_DNNL=1 (checked in a child: the variable is read once). */
	snprintf(cmd, sizeof cmd, "BW_TENSOR_NO_DNNL=1 BW_TEST_NO_DNNL_CHILD=1 '%s'", argv[0]);
	rc = system(cmd);
	CHECKF(rc == 0, "child with BW_TENSOR_NO_DNNL=1: status %d", rc);
	test_forward_values();
	test_conv_forms();
	test_conv_dnnl();
	CHECK(!bw_dnnl_on() || mapped("libdnnl") == 1);
	test_gradients();
	test_arch_json();
	test_training();
	return bw_test_done();
}
