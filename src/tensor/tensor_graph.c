/*
 * tensor/tensor_graph.c - the graph: its arena, tensor creation, the tape and
 * the reverse pass. Intermediate tensors live in one block of memory that is
 * reused after bw_graph_reset(); if a pass needs more, the extra goes to
 * overflow blocks that are folded into a larger main block at the next reset,
 * so a steady-state training loop makes no heap allocation.
 * Must not: keep pointers into the arena across resets.
 */
#include <string.h>

#include "core/alloc.h"
#include "tensor/tensor_int.h"

#define G_ALIGN ((size_t)64)

struct bw_arena_blk {
	struct bw_arena_blk *next;
	size_t len;
	_Alignas(64) unsigned char data[];
};

static const char *const op_names[BW_OP__COUNT] = {
	[BW_OP_CONV2D] = "conv2d", [BW_OP_LINEAR] = "linear", [BW_OP_ADD] = "add",
	[BW_OP_MUL] = "mul", [BW_OP_RELU] = "relu", [BW_OP_LEAKY_RELU] = "leaky_relu",
	[BW_OP_SIGMOID] = "sigmoid", [BW_OP_TANH] = "tanh", [BW_OP_MAXPOOL] = "maxpool",
	[BW_OP_AVGPOOL] = "avgpool", [BW_OP_GAP] = "global_avgpool",
	[BW_OP_BATCHNORM] = "batchnorm", [BW_OP_DROPOUT] = "dropout",
	[BW_OP_FLATTEN] = "flatten", [BW_OP_RESHAPE] = "reshape", [BW_OP_CONCAT] = "concat",
	[BW_OP_SOFTMAX] = "softmax", [BW_OP_LOGSOFTMAX] = "log_softmax", [BW_OP_CLAMP] = "clamp",
	[BW_OP_SIGN] = "sign", [BW_OP_IDENTITY] = "identity", [BW_OP_SUB] = "sub",
	[BW_OP_DIV] = "div",
	[BW_OP_CROSS_ENTROPY] = "cross_entropy",
};

const char *bw_op_name(enum bw_op op)
{
	if ((int)op <= 0 || op >= BW_OP__COUNT || op_names[op] == NULL)
		return "?";
	return op_names[op];
}

enum bw_op bw_op_from_name(const char *name)
{
	int i;

	for (i = 1; i < BW_OP__COUNT; i++)
		if (op_names[i] != NULL && strcmp(op_names[i], name) == 0)
			return (enum bw_op)i;
	return (enum bw_op)0;
}

void bw_op_attr_default(struct bw_op_attr *a, enum bw_op op)
{
	memset(a, 0, sizeof *a);
	a->kernel[0] = a->kernel[1] = 1;
	a->stride[0] = a->stride[1] = 1;
	a->dilation[0] = a->dilation[1] = 1;
	a->groups = 1;
	a->axis = 1;
	a->alpha = 0.01f;
	a->eps = 1e-5f;
	a->momentum = 0.1f;
	a->p = 0.5f;
	a->lo = -3.4e38f;
	a->hi = 3.4e38f;
	if (op == BW_OP_SOFTMAX || op == BW_OP_LOGSOFTMAX)
		a->axis = -1;
	if (op == BW_OP_MAXPOOL || op == BW_OP_AVGPOOL) {
		a->kernel[0] = a->kernel[1] = 2;
		a->stride[0] = a->stride[1] = 2;
	}
}

enum bw_err bw_graph_new(uint64_t seed, struct bw_graph **out)
{
	struct bw_graph *g;

	*out = NULL;
	bw_tensor_blas_init();
	g = bw_calloc(1, sizeof *g);
	if (g == NULL)
		return BW_ERR_NOMEM;
	g->tape = bw_calloc(BW_TAPE_MAX, sizeof *g->tape);
	if (g->tape == NULL) {
		bw_free(g);
		return BW_ERR_NOMEM;
	}
	g->rng = seed;
	g->budget = BW_GRAPH_DEFAULT_BUDGET;
	g->n_allocs = 2;
	*out = g;
	return BW_OK;
}

static void free_overflow(struct bw_graph *g)
{
	struct bw_arena_blk *b, *n;

	for (b = g->overflow; b != NULL; b = n) {
		n = b->next;
		bw_free(b);
	}
	g->overflow = NULL;
}

void bw_graph_reset(struct bw_graph *g)
{
	if (g == NULL)
		return;
	if (g->overflow != NULL) {
		/* Grow the main block to what the last pass needed, plus a margin. */
		size_t want = g->cap + g->overflow_bytes + g->overflow_bytes / 4;
		unsigned char *m;

		free_overflow(g);
		bw_free(g->mem);
		g->mem = NULL;
		g->cap = 0;
		m = bw_malloc(want);
		if (m != NULL) {
			g->mem = m;
			g->cap = want;
			g->n_allocs++;
		}
	}
	g->overflow_bytes = 0;
	g->pos = 0;
	g->n_tape = 0;
}

void bw_graph_free(struct bw_graph *g)
{
	if (g == NULL)
		return;
	free_overflow(g);
	bw_free(g->mem);
	bw_free(g->scratch);
	bw_free(g->tape);
	bw_free(g);
}

void bw_graph_set_budget(struct bw_graph *g, size_t bytes)
{
	g->budget = bytes;
}

size_t bw_graph_arena_bytes(const struct bw_graph *g)
{
	return g->cap + g->overflow_bytes;
}

uint64_t bw_graph_n_allocs(const struct bw_graph *g)
{
	return g->n_allocs;
}

void *bw_g_alloc(struct bw_graph *g, size_t n, int zero)
{
	size_t need, total;
	struct bw_arena_blk *b;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	need = (n + G_ALIGN - 1) & ~(G_ALIGN - 1);
	if (need == 0)
		need = G_ALIGN;
	if (g->budget != 0 && (g->pos + g->overflow_bytes > g->budget ||
	                       need > g->budget - g->pos - g->overflow_bytes))
		return NULL;
	if (g->mem != NULL && g->cap - g->pos >= need) {
		p = g->mem + g->pos;
		g->pos += need;
	} else {
		if (bw_add_ovf(need, sizeof *b, &total))
			return NULL;
		b = bw_malloc(total);
		if (b == NULL)
			return NULL;
		g->n_allocs++;
		b->len = need;
		b->next = g->overflow;
		g->overflow = b;
		g->overflow_bytes += need + G_ALIGN;
		p = b->data;
	}
	if (zero)
		memset(p, 0, n);
	return p;
}

float *bw_g_scratch(struct bw_graph *g, size_t n)
{
	float *p;

	if (n <= g->scratch_cap)
		return g->scratch;
	p = bw_reallocarray(NULL, n, sizeof *p);
	if (p == NULL)
		return NULL;
	g->n_allocs++;
	bw_free(g->scratch);
	g->scratch = p;
	g->scratch_cap = n;
	return p;
}

struct bw_tensor *bw_g_tensor(struct bw_graph *g, int ndim, const int *shape, int zero)
{
	struct bw_tensor *t;
	long long n = 1;
	int i;

	if (ndim < 1 || ndim > BW_T_MAXDIM)
		return NULL;
	for (i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return NULL;
		n *= shape[i];
		if (n > BW_T_MAX_NUMEL)
			return NULL;
	}
	t = bw_g_alloc(g, sizeof *t, 1);
	if (t == NULL)
		return NULL;
	t->ndim = ndim;
	for (i = 0; i < BW_T_MAXDIM; i++)
		t->shape[i] = i < ndim ? shape[i] : 1;
	t->numel = (int)n;
	t->tape_id = -1;
	t->data = bw_g_alloc(g, (size_t)n * sizeof(float), zero);
	if (t->data == NULL)
		return NULL;
	return t;
}

enum bw_err bw_graph_tensor(struct bw_graph *g, int ndim, const int *shape, int requires_grad,
                            struct bw_tensor **out)
{
	int i;

	*out = NULL;
	if (g == NULL || shape == NULL || ndim < 1 || ndim > BW_T_MAXDIM)
		return BW_ERR_ARG;
	for (i = 0; i < ndim; i++)
		if (shape[i] < 0)
			return BW_ERR_ARG;
	*out = bw_g_tensor(g, ndim, shape, 1);
	if (*out == NULL)
		return BW_ERR_LIMIT;
	if (requires_grad)
		(*out)->flags |= BW_T_REQ_GRAD;
	return BW_OK;
}

float *bw_g_grad(struct bw_graph *g, struct bw_tensor *t)
{
	if (t->grad == NULL)
		t->grad = bw_g_alloc(g, (size_t)t->numel * sizeof(float), 1);
	return t->grad;
}

uint64_t bw_graph_rng_state(const struct bw_graph *g)
{
	return g->rng;
}

void bw_graph_set_rng_state(struct bw_graph *g, uint64_t state)
{
	g->rng = state;
}

float bw_g_uniform(struct bw_graph *g)
{
	return bw_u01(&g->rng);
}

int bw_t_any_grad(int n, struct bw_tensor *const *t)
{
	int i;

	for (i = 0; i < n; i++)
		if (t[i] != NULL && (t[i]->flags & BW_T_REQ_GRAD))
			return 1;
	return 0;
}

struct bw_tape_ent *bw_g_record(struct bw_graph *g, enum bw_op op, struct bw_tensor *out,
                                int n_in, struct bw_tensor *const *in)
{
	struct bw_tape_ent *e;
	int i;

	if (g->n_tape >= BW_TAPE_MAX || n_in > BW_NODE_MAX_IN)
		return NULL;
	e = &g->tape[g->n_tape];
	memset(e, 0, sizeof *e);
	e->op = op;
	e->n_in = n_in;
	for (i = 0; i < n_in; i++)
		e->in[i] = in[i];
	e->out = out;
	out->flags |= BW_T_REQ_GRAD;
	out->tape_id = g->n_tape;
	g->n_tape++;
	return e;
}

enum bw_err bw_graph_backward(struct bw_graph *g, struct bw_tensor *root, const float *seed)
{
	float *gr;
	int i;
	enum bw_err err;

	if (g == NULL || root == NULL)
		return BW_ERR_ARG;
	if (!(root->flags & BW_T_REQ_GRAD))
		return BW_ERR_ARG;
	gr = bw_g_grad(g, root);
	if (gr == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < root->numel; i++)
		gr[i] += seed != NULL ? seed[i] : 1.0f;
	/* The tape is in execution order, so reverse order is a valid topological order. */
	for (i = root->tape_id; i >= 0; i--) {
		struct bw_tape_ent *e = &g->tape[i];

		if (e->out->grad == NULL)
			continue; /* no gradient reached this result */
		switch (e->op) {
		case BW_OP_CONV2D:
			err = bw_t_backward_conv(g, e);
			break;
		case BW_OP_LINEAR:
			err = bw_t_backward_linear(g, e);
			break;
		default:
			err = bw_t_backward_misc(g, e);
			break;
		}
		if (err != BW_OK)
			return err;
	}
	return BW_OK;
}
