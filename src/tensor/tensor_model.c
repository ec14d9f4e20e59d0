/*
 * tensor/tensor_model.c - models: node/value/parameter tables, the built-in
 * architectures, parameter initialisation (PyTorch's defaults) and the
 * forward executor that runs nodes in order on a graph.
 * Must not: run a node whose inputs are not yet defined (bw_model_validate
 * checks every model, whatever its source, before it is used).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "tensor/tensor_int.h"

enum bw_err bw_model_alloc(struct bw_model **out)
{
	struct bw_model *m;

	*out = NULL;
	m = bw_calloc(1, sizeof *m);
	if (m == NULL)
		return BW_ERR_NOMEM;
	m->nodes = bw_calloc(BW_MODEL_MAX_NODES, sizeof *m->nodes);
	m->value_names = bw_calloc(BW_MODEL_MAX_VALUES, sizeof *m->value_names);
	m->value_param = bw_calloc(BW_MODEL_MAX_VALUES, sizeof *m->value_param);
	m->params = bw_calloc(BW_MODEL_MAX_VALUES, sizeof *m->params);
	m->vals = bw_calloc(BW_MODEL_MAX_VALUES, sizeof *m->vals);
	m->uses = bw_calloc(BW_MODEL_MAX_VALUES, sizeof *m->uses);
	m->producer = bw_calloc(BW_MODEL_MAX_VALUES, sizeof *m->producer);
	m->output = -1;
	if (m->nodes == NULL || m->value_names == NULL || m->value_param == NULL ||
	    m->params == NULL || m->vals == NULL || m->uses == NULL || m->producer == NULL) {
		bw_model_free(m);
		return BW_ERR_NOMEM;
	}
	*out = m;
	return BW_OK;
}

void bw_model_free(struct bw_model *m)
{
	int i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_values; i++)
		bw_free(m->value_names[i]);
	for (i = 0; i < m->n_params; i++) {
		bw_free(m->params[i].t.data);
		bw_free(m->params[i].t.grad);
		bw_free(m->params[i].state1);
		bw_free(m->params[i].state2);
	}
	bw_free(m->nodes);
	bw_free(m->value_names);
	bw_free(m->value_param);
	bw_free(m->params);
	bw_free(m->vals);
	bw_free(m->uses);
	bw_free(m->producer);
	bw_free(m);
}

int bw_model_find_value(const struct bw_model *m, const char *name)
{
	int i;

	for (i = 0; i < m->n_values; i++)
		if (strcmp(m->value_names[i], name) == 0)
			return i;
	return -1;
}

int bw_model_value(struct bw_model *m, const char *name)
{
	int i = bw_model_find_value(m, name);

	if (i >= 0)
		return i;
	if (m->n_values >= BW_MODEL_MAX_VALUES)
		return -1;
	m->value_names[m->n_values] = bw_strdup(name);
	if (m->value_names[m->n_values] == NULL)
		return -1;
	m->value_param[m->n_values] = -1;
	return m->n_values++;
}

int bw_model_add_param(struct bw_model *m, const char *name, int ndim, const int *shape,
                       int trainable)
{
	struct bw_param *p;
	long long n = 1;
	int v, i;

	if (ndim < 1 || ndim > BW_T_MAXDIM || m->n_params >= BW_MODEL_MAX_VALUES)
		return -1;
	for (i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return -1;
		n *= shape[i];
		if (n > BW_T_MAX_NUMEL)
			return -1;
	}
	v = bw_model_value(m, name);
	if (v < 0 || m->value_param[v] >= 0)
		return -1;
	p = &m->params[m->n_params];
	memset(p, 0, sizeof *p);
	p->name = m->value_names[v];
	p->trainable = trainable;
	p->t.ndim = ndim;
	for (i = 0; i < BW_T_MAXDIM; i++)
		p->t.shape[i] = i < ndim ? shape[i] : 1;
	p->t.numel = (int)n;
	p->t.flags = BW_T_PARAM;
	p->t.tape_id = -1;
	p->t.data = bw_calloc(n == 0 ? 1 : (size_t)n, sizeof(float));
	p->t.grad = bw_calloc(n == 0 ? 1 : (size_t)n, sizeof(float));
	if (p->t.data == NULL || p->t.grad == NULL) {
		bw_free(p->t.data);
		bw_free(p->t.grad);
		return -1;
	}
	m->value_param[v] = m->n_params;
	return m->n_params++;
}

static int node_arity_ok(const struct bw_node *nd)
{
	switch (nd->op) {
	case BW_OP_CONV2D: case BW_OP_LINEAR:
		return nd->n_in == 2 || nd->n_in == 3;
	case BW_OP_ADD: case BW_OP_MUL: case BW_OP_SUB: case BW_OP_DIV:
		return nd->n_in == 2;
	case BW_OP_BATCHNORM:
		return nd->n_in == 5;
	case BW_OP_CONCAT:
		return nd->n_in >= 1 && nd->n_in <= BW_NODE_MAX_IN;
	case BW_OP_CROSS_ENTROPY:
		return 0;
	default:
		return nd->op > 0 && nd->op < BW_OP__COUNT && nd->n_in == 1;
	}
}

enum bw_err bw_model_validate(const struct bw_model *m, struct bw_diag *d)
{
	unsigned char *defined = NULL;
	enum bw_err err = BW_OK;
	int i, j;

	if (m->n_inputs < 1 || m->output < 0 || m->output >= m->n_values)
		return bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "model has no input or output");
	defined = bw_calloc((size_t)m->n_values, 1);
	if (defined == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < m->n_inputs; i++) {
		if (m->inputs[i] < 0 || m->inputs[i] >= m->n_values || m->value_param[m->inputs[i]] >= 0) {
			err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "bad model input");
			goto out;
		}
		defined[m->inputs[i]] = 1;
	}
	for (i = 0; i < m->n_values; i++)
		if (m->value_param[i] >= 0)
			defined[i] = 1;
	for (i = 0; i < m->n_nodes; i++) {
		const struct bw_node *nd = &m->nodes[i];

		if (!node_arity_ok(nd)) {
			err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                  "node %d (%s) has %d inputs", i, bw_op_name(nd->op), nd->n_in);
			goto out;
		}
		for (j = 0; j < nd->n_in; j++)
			if (nd->in[j] < 0 || nd->in[j] >= m->n_values || !defined[nd->in[j]]) {
				err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET,
				                  "node %d (%s) uses a value before it is defined", i,
				                  bw_op_name(nd->op));
				goto out;
			}
		if (nd->out < 0 || nd->out >= m->n_values || defined[nd->out]) {
			err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                  "node %d (%s) redefines a value", i, bw_op_name(nd->op));
			goto out;
		}
		defined[nd->out] = 1;
	}
	if (!defined[m->output])
		err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "model output is never computed");
out:
	bw_free(defined);
	return err;
}

/* ---- forward ---- */

/* Tell an in-place ReLU's backward that value v (its result y) has one reader. */
static void mark_sole_reader(const struct bw_model *m, struct bw_graph *g, int v,
                             const struct bw_tensor *y)
{
	if (m->uses[v] == 1 && v != m->output && y->tape_id >= 0 && y->tape_id < g->n_tape)
		g->tape[y->tape_id].sole_reader = 1;
}

enum bw_err bw_model_forward(struct bw_model *m, struct bw_graph *g, int n_in,
                             struct bw_tensor *const *in, int training, struct bw_tensor **out)
{
	enum bw_err err = BW_OK;
	int i, j;

	*out = NULL;
	if (m == NULL || g == NULL || n_in != m->n_inputs)
		return BW_ERR_ARG;
	for (i = 0; i < m->n_values; i++) {
		m->vals[i] = m->value_param[i] >= 0 ? &m->params[m->value_param[i]].t : NULL;
		m->uses[i] = 0;
		m->producer[i] = 0;
	}
	for (i = 0; i < n_in; i++)
		m->vals[m->inputs[i]] = in[i];
	for (i = 0; i < m->n_nodes; i++)
		for (j = 0; j < m->nodes[i].n_in; j++)
			m->uses[m->nodes[i].in[j]]++;
	for (i = 0; i < m->n_nodes; i++) {
		const struct bw_node *nd = &m->nodes[i];
		struct bw_tensor *x[BW_NODE_MAX_IN] = {NULL}, *y = NULL;
		enum bw_op pop;

		for (j = 0; j < nd->n_in; j++) {
			x[j] = m->vals[nd->in[j]];
			if (x[j] == NULL)
				return BW_ERR_ARG;
		}
		m->producer[nd->out] = (int)nd->op;
		/* ReLU straight after an op whose backward ignores its output, and the only
		 * reader of that output: apply it in place (one pass and one tensor fewer). */
		pop = (enum bw_op)m->producer[nd->in[0]];
		if (nd->op == BW_OP_RELU && m->uses[nd->in[0]] == 1 && nd->in[0] != m->output &&
		    (pop == BW_OP_CONV2D || pop == BW_OP_LINEAR || pop == BW_OP_BATCHNORM ||
		     pop == BW_OP_ADD)) {
			err = bw_t_relu_inplace(g, x[0], 0, &y);
			if (err != BW_OK)
				return err;
			mark_sole_reader(m, g, nd->out, y);
			m->vals[nd->out] = y;
			continue;
		}
		/* Convolution whose only reader is the ReLU that follows: one pass for both. */
		if (nd->op == BW_OP_CONV2D && i + 1 < m->n_nodes && m->nodes[i + 1].op == BW_OP_RELU &&
		    m->nodes[i + 1].in[0] == nd->out && m->uses[nd->out] == 1 && nd->out != m->output) {
			struct bw_tensor *c = NULL;

			err = bw_t_conv2d_ex(g, x[0], x[1], nd->n_in > 2 ? x[2] : NULL, &nd->a, 1, &c);
			if (err == BW_OK)
				err = bw_t_relu_inplace(g, c, 1, &y);
			if (err != BW_OK)
				return err;
			m->vals[nd->out] = c;
			mark_sole_reader(m, g, m->nodes[i + 1].out, y);
			m->producer[m->nodes[i + 1].out] = (int)BW_OP_RELU;
			m->vals[m->nodes[i + 1].out] = y;
			i++;
			continue;
		}
		switch (nd->op) {
		case BW_OP_CONV2D:
			err = bw_t_conv2d(g, x[0], x[1], nd->n_in > 2 ? x[2] : NULL, &nd->a, &y);
			break;
		case BW_OP_LINEAR:
			err = bw_t_linear(g, x[0], x[1], nd->n_in > 2 ? x[2] : NULL, &y);
			break;
		case BW_OP_ADD: case BW_OP_MUL: case BW_OP_SUB: case BW_OP_DIV:
			err = bw_t_binary(g, nd->op, x[0], x[1], &y);
			break;
		case BW_OP_BATCHNORM:
			err = bw_t_batchnorm(g, x[0], x[1], x[2], x[3], x[4], &nd->a, training, &y);
			break;
		case BW_OP_CONCAT:
			err = bw_t_concat(g, nd->n_in, x, nd->a.axis, &y);
			break;
		default:
			err = bw_t_unary(g, nd->op, x[0], &nd->a, training, &y);
			break;
		}
		if (err != BW_OK)
			return err;
		m->vals[nd->out] = y;
	}
	*out = m->vals[m->output];
	return *out == NULL ? BW_ERR_INTERNAL : BW_OK;
}

double bw_model_flops(const struct bw_model *m)
{
	/* Shape inference on a 1-image dummy pass would need a graph; count conv/linear from params. */
	double f = 0.0;
	int i, h = m->in_h, w = m->in_w;

	for (i = 0; i < m->n_nodes; i++) {
		const struct bw_node *nd = &m->nodes[i];

		if (nd->op == BW_OP_CONV2D) {
			const struct bw_tensor *wt = &m->params[m->value_param[nd->in[1]]].t;
			int oh = (h + nd->a.pad[0] + nd->a.pad[2] - nd->a.dilation[0] * (wt->shape[2] - 1) - 1) /
			         nd->a.stride[0] + 1;
			int ow = (w + nd->a.pad[1] + nd->a.pad[3] - nd->a.dilation[1] * (wt->shape[3] - 1) - 1) /
			         nd->a.stride[1] + 1;

			f += 2.0 * (double)wt->numel * oh * ow;
			h = oh;
			w = ow;
		} else if (nd->op == BW_OP_MAXPOOL || nd->op == BW_OP_AVGPOOL) {
			h = (h + nd->a.pad[0] + nd->a.pad[2] - nd->a.kernel[0]) / nd->a.stride[0] + 1;
			w = (w + nd->a.pad[1] + nd->a.pad[3] - nd->a.kernel[1]) / nd->a.stride[1] + 1;
		} else if (nd->op == BW_OP_LINEAR && m->value_param[nd->in[1]] >= 0) {
			f += 2.0 * (double)m->params[m->value_param[nd->in[1]]].t.numel;
		}
	}
	return f;
}

/* ---- accessors ---- */

void bw_model_input_shape(const struct bw_model *m, int *c, int *h, int *w)
{
	*c = m->in_c;
	*h = m->in_h;
	*w = m->in_w;
}

int bw_model_n_params(const struct bw_model *m)
{
	return m->n_params;
}

size_t bw_model_n_weights(const struct bw_model *m)
{
	size_t n = 0;
	int i;

	for (i = 0; i < m->n_params; i++)
		n += (size_t)m->params[i].t.numel;
	return n;
}

struct bw_tensor *bw_model_param(struct bw_model *m, int i, const char **name)
{
	if (i < 0 || i >= m->n_params)
		return NULL;
	if (name != NULL)
		*name = m->params[i].name;
	return &m->params[i].t;
}

void bw_model_set_requires_grad(struct bw_model *m, int on)
{
	int i;

	for (i = 0; i < m->n_params; i++) {
		if (on && m->params[i].trainable)
			m->params[i].t.flags |= BW_T_REQ_GRAD;
		else
			m->params[i].t.flags &= ~(unsigned)BW_T_REQ_GRAD;
	}
}

/* ---- built-in architectures ---- */

struct builder {
	struct bw_model *m;
	uint64_t rng;
	int cur;        /* current value id */
	int c, h, w;    /* current activation shape (w==0: flat with c features) */
	int n_tmp;
	enum bw_err err;
};

static int b_tmp(struct builder *b)
{
	char name[32];
	int v;

	snprintf(name, sizeof name, "t%d", b->n_tmp++);
	v = bw_model_value(b->m, name);
	if (v < 0)
		b->err = BW_ERR_LIMIT;
	return v;
}

static void b_uniform(struct builder *b, struct bw_tensor *t, float bound)
{
	int i;

	for (i = 0; i < t->numel; i++)
		t->data[i] = (2.0f * bw_u01(&b->rng) - 1.0f) * bound;
}

static int b_param(struct builder *b, const char *name, int ndim, const int *shape, int trainable)
{
	int p = bw_model_add_param(b->m, name, ndim, shape, trainable);

	if (p < 0) {
		b->err = BW_ERR_LIMIT;
		return -1;
	}
	return bw_model_find_value(b->m, name);
}

static int b_node(struct builder *b, enum bw_op op, int n_in, const int *in,
                  const struct bw_op_attr *a)
{
	struct bw_node *nd;
	int out, i;

	if (b->err != BW_OK)
		return -1;
	if (b->m->n_nodes >= BW_MODEL_MAX_NODES) {
		b->err = BW_ERR_LIMIT;
		return -1;
	}
	out = b_tmp(b);
	if (out < 0)
		return -1;
	nd = &b->m->nodes[b->m->n_nodes++];
	nd->op = op;
	nd->n_in = n_in;
	for (i = 0; i < n_in; i++)
		nd->in[i] = in[i];
	nd->out = out;
	if (a != NULL)
		nd->a = *a;
	else
		bw_op_attr_default(&nd->a, op);
	return out;
}

static void b_conv(struct builder *b, const char *name, int oc, int k, int stride, int pad,
                   int bias)
{
	char wn[64], bn[64];
	int shape[4], in[3], n_in = 2;
	struct bw_op_attr a;
	float bound;

	if (b->err != BW_OK)
		return;
	snprintf(wn, sizeof wn, "%s.weight", name);
	snprintf(bn, sizeof bn, "%s.bias", name);
	shape[0] = oc; shape[1] = b->c; shape[2] = k; shape[3] = k;
	in[0] = b->cur;
	in[1] = b_param(b, wn, 4, shape, 1);
	if (b->err != BW_OK)
		return;
	bound = 1.0f / sqrtf((float)(b->c * k * k));
	b_uniform(b, &b->m->params[b->m->value_param[in[1]]].t, bound);
	if (bias) {
		in[2] = b_param(b, bn, 1, &oc, 1);
		if (b->err != BW_OK)
			return;
		b_uniform(b, &b->m->params[b->m->value_param[in[2]]].t, bound);
		n_in = 3;
	}
	bw_op_attr_default(&a, BW_OP_CONV2D);
	a.kernel[0] = a.kernel[1] = k;
	a.stride[0] = a.stride[1] = stride;
	a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = pad;
	b->cur = b_node(b, BW_OP_CONV2D, n_in, in, &a);
	b->c = oc;
	b->h = (b->h + 2 * pad - k) / stride + 1;
	b->w = (b->w + 2 * pad - k) / stride + 1;
}

static void b_linear(struct builder *b, const char *name, int out)
{
	char wn[64], bn[64];
	int shape[2], in[3], fan = b->w == 0 ? b->c : b->c * b->h * b->w;
	float bound = 1.0f / sqrtf((float)fan);

	if (b->err != BW_OK)
		return;
	snprintf(wn, sizeof wn, "%s.weight", name);
	snprintf(bn, sizeof bn, "%s.bias", name);
	shape[0] = out;
	shape[1] = fan;
	in[0] = b->cur;
	in[1] = b_param(b, wn, 2, shape, 1);
	in[2] = b_param(b, bn, 1, &out, 1);
	if (b->err != BW_OK)
		return;
	b_uniform(b, &b->m->params[b->m->value_param[in[1]]].t, bound);
	b_uniform(b, &b->m->params[b->m->value_param[in[2]]].t, bound);
	b->cur = b_node(b, BW_OP_LINEAR, 3, in, NULL);
	b->c = out;
	b->h = 1;
	b->w = 0;
}

static void b_unary(struct builder *b, enum bw_op op)
{
	b->cur = b_node(b, op, 1, &b->cur, NULL);
}

static void b_pool(struct builder *b, int k)
{
	struct bw_op_attr a;

	bw_op_attr_default(&a, BW_OP_MAXPOOL);
	a.kernel[0] = a.kernel[1] = k;
	a.stride[0] = a.stride[1] = k;
	b->cur = b_node(b, BW_OP_MAXPOOL, 1, &b->cur, &a);
	b->h /= k;
	b->w /= k;
}

static void b_flatten(struct builder *b)
{
	b->cur = b_node(b, BW_OP_FLATTEN, 1, &b->cur, NULL);
	b->c = b->c * b->h * (b->w == 0 ? 1 : b->w);
	b->h = 1;
	b->w = 0;
}

static void b_bn(struct builder *b, const char *name)
{
	static const char *const sfx[4] = {"weight", "bias", "running_mean", "running_var"};
	char pn[64];
	int in[5], i, j;

	if (b->err != BW_OK)
		return;
	in[0] = b->cur;
	for (i = 0; i < 4; i++) {
		snprintf(pn, sizeof pn, "%s.%s", name, sfx[i]);
		in[i + 1] = b_param(b, pn, 1, &b->c, i < 2);
		if (b->err != BW_OK)
			return;
		if (i == 0 || i == 3) {
			struct bw_tensor *t = &b->m->params[b->m->value_param[in[i + 1]]].t;

			for (j = 0; j < t->numel; j++)
				t->data[j] = 1.0f;
		}
	}
	b->cur = b_node(b, BW_OP_BATCHNORM, 5, in, NULL);
}

/* ResNet basic block: conv3x3-bn-relu-conv3x3-bn (+ shortcut) then relu. */
static void b_block(struct builder *b, const char *name, int oc, int stride)
{
	char n1[64];
	int in_v = b->cur, in_c = b->c, in_h = b->h, in_w = b->w, sc = b->cur, two[2];

	snprintf(n1, sizeof n1, "%s.conv1", name);
	b_conv(b, n1, oc, 3, stride, 1, 0);
	snprintf(n1, sizeof n1, "%s.bn1", name);
	b_bn(b, n1);
	b_unary(b, BW_OP_RELU);
	snprintf(n1, sizeof n1, "%s.conv2", name);
	b_conv(b, n1, oc, 3, 1, 1, 0);
	snprintf(n1, sizeof n1, "%s.bn2", name);
	b_bn(b, n1);
	if (stride != 1 || in_c != oc) {
		int main_v = b->cur, oh = b->h, ow = b->w;

		b->cur = in_v;
		b->c = in_c;
		b->h = in_h;
		b->w = in_w;
		snprintf(n1, sizeof n1, "%s.shortcut.0", name);
		b_conv(b, n1, oc, 1, stride, 0, 0);
		snprintf(n1, sizeof n1, "%s.shortcut.1", name);
		b_bn(b, n1);
		sc = b->cur;
		b->cur = main_v;
		b->h = oh;
		b->w = ow;
	}
	two[0] = b->cur;
	two[1] = sc;
	b->cur = b_node(b, BW_OP_ADD, 2, two, NULL);
	b_unary(b, BW_OP_RELU);
}

static const char *const builtin_names[] = {"madry-cnn", "lenet", "mlp", "resnet-mini", NULL};

const char *const *bw_model_builtin_names(void)
{
	return builtin_names;
}

enum bw_err bw_model_builtin(const char *arch, int c, int h, int w, int n_classes,
                             uint64_t seed, struct bw_model **out)
{
	struct builder b;
	enum bw_err err;

	*out = NULL;
	if (arch == NULL || c < 1 || h < 4 || w < 4 || n_classes < 2 || c > 64 || h > 512 || w > 512 ||
	    n_classes > 100000)
		return BW_ERR_ARG;
	memset(&b, 0, sizeof b);
	err = bw_model_alloc(&b.m);
	if (err != BW_OK)
		return err;
	b.rng = seed ^ 0x6275777761726bull;
	b.cur = bw_model_value(b.m, "input");
	b.m->inputs[0] = b.cur;
	b.m->n_inputs = 1;
	b.m->in_c = b.c = c;
	b.m->in_h = b.h = h;
	b.m->in_w = b.w = w;
	b.m->n_classes = n_classes;
	if (strcmp(arch, "madry-cnn") == 0) {
		b_conv(&b, "conv1", 32, 5, 1, 2, 1);
		b_unary(&b, BW_OP_RELU);
		b_pool(&b, 2);
		b_conv(&b, "conv2", 64, 5, 1, 2, 1);
		b_unary(&b, BW_OP_RELU);
		b_pool(&b, 2);
		b_flatten(&b);
		b_linear(&b, "fc1", 1024);
		b_unary(&b, BW_OP_RELU);
		b_linear(&b, "fc2", n_classes);
	} else if (strcmp(arch, "lenet") == 0) {
		b_conv(&b, "conv1", 6, 5, 1, 2, 1);
		b_unary(&b, BW_OP_RELU);
		b_pool(&b, 2);
		b_conv(&b, "conv2", 16, 5, 1, 0, 1);
		b_unary(&b, BW_OP_RELU);
		b_pool(&b, 2);
		b_flatten(&b);
		b_linear(&b, "fc1", 120);
		b_unary(&b, BW_OP_RELU);
		b_linear(&b, "fc2", 84);
		b_unary(&b, BW_OP_RELU);
		b_linear(&b, "fc3", n_classes);
	} else if (strcmp(arch, "mlp") == 0) {
		b_flatten(&b);
		b_linear(&b, "fc1", 256);
		b_unary(&b, BW_OP_RELU);
		b_linear(&b, "fc2", n_classes);
	} else if (strcmp(arch, "resnet-mini") == 0) {
		b_conv(&b, "conv1", 16, 3, 1, 1, 0);
		b_bn(&b, "bn1");
		b_unary(&b, BW_OP_RELU);
		b_block(&b, "layer1.0", 16, 1);
		b_block(&b, "layer2.0", 32, 2);
		b_block(&b, "layer3.0", 64, 2);
		b.cur = b_node(&b, BW_OP_GAP, 1, &b.cur, NULL);
		b.h = 1;
		b.w = 1;
		b_flatten(&b);
		b_linear(&b, "fc", n_classes);
	} else {
		bw_model_free(b.m);
		return BW_ERR_NOTFOUND;
	}
	if (b.err == BW_OK && (b.h < 1 || b.c < 1))
		b.err = BW_ERR_ARG;
	if (b.err != BW_OK) {
		bw_model_free(b.m);
		return b.err;
	}
	b.m->output = b.cur;
	err = bw_model_validate(b.m, NULL);
	if (err != BW_OK) {
		bw_model_free(b.m);
		return err;
	}
	*out = b.m;
	return BW_OK;
}
