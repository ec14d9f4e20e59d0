/*
 * tensor/tensor_int.h - internals shared by the files of src/tensor (graph
 * arena, tape, model layout). Not a public header; nothing outside src/tensor
 * and the tensor unit tests includes it.
 */
#ifndef BW_TENSOR_INT_H
#define BW_TENSOR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/tensor.h"

#define BW_TAPE_MAX 4096

struct bw_tape_ent {
	enum bw_op op;
	int n_in;
	int training;
	struct bw_tensor *in[BW_NODE_MAX_IN];
	struct bw_tensor *out;
	struct bw_op_attr a;
	void *aux;            /* op-specific saved state (argmax, mask, stats, log-probs) */
	int sole_reader;      /* in-place ReLU whose result has exactly one reader (set by the model) */
	int masked;           /* in-place ReLU: that reader's backward already applied the mask */
	const int32_t *labels;
};

struct bw_arena_blk;

struct bw_graph {
	/* Main block: reused across resets; overflow blocks are folded into it on reset. */
	unsigned char *mem;
	size_t cap, pos;
	struct bw_arena_blk *overflow;
	size_t overflow_bytes;
	size_t budget;      /* bytes one pass may use (0: unlimited) */
	/* Scratch for im2col and gemm staging: grows, never shrinks. */
	float *scratch;
	size_t scratch_cap; /* floats */
	struct bw_tape_ent *tape;
	int n_tape;
	uint64_t rng;
	uint64_t n_allocs;
};

/* Arena memory of the graph, 64-byte aligned; zeroed when zero != 0. NULL on failure. */
void *bw_g_alloc(struct bw_graph *g, size_t n, int zero);
/* A new graph tensor (not zeroed unless zero); requires_grad from the caller. */
struct bw_tensor *bw_g_tensor(struct bw_graph *g, int ndim, const int *shape, int zero);
/* Scratch of at least n floats (invalidated by the next call). */
float *bw_g_scratch(struct bw_graph *g, size_t n);
/* Push a tape entry for out; returns it (NULL when the tape is full). */
struct bw_tape_ent *bw_g_record(struct bw_graph *g, enum bw_op op, struct bw_tensor *out,
                                int n_in, struct bw_tensor *const *in);
/* Gradient buffer of t (allocated zeroed in the graph when absent); NULL on failure. */
float *bw_g_grad(struct bw_graph *g, struct bw_tensor *t);
/* Uniform float in [0,1) from the graph's generator. */
float bw_g_uniform(struct bw_graph *g);
/* 1 when any of the tensors needs a gradient. */
int bw_t_any_grad(int n, struct bw_tensor *const *t);

/*
 * ReLU that overwrites x with its result and returns a view of it. Only for an x no
 * other operation reads and whose producer's backward does not need its own output
 * (conv2d, linear, batchnorm, add): ReLU's backward mask x > 0 equals relu(x) > 0.
 */
enum bw_err bw_t_relu_inplace(struct bw_graph *g, struct bw_tensor *x, int applied,
                              struct bw_tensor **out);
/*
 * bw_t_conv2d, and when relu != 0 also ReLU applied to the result in the same
 * pass (the caller then records the ReLU with bw_t_relu_inplace(applied = 1)).
 */
enum bw_err bw_t_conv2d_ex(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                           struct bw_tensor *b, const struct bw_op_attr *a, int relu,
                           struct bw_tensor **out);

/* ---- safetensors files (tensor_io.c): models, gradients, optimiser state ---- */

/* One tensor of a file: its name, shape (ndim, shape, numel of *shape) and data. */
struct bw_st_item {
	const char *name;
	const struct bw_tensor *shape;
	const float *data;
};
/*
 * Write a safetensors file atomically: n_meta string pairs (meta_kv[2i] key,
 * meta_kv[2i+1] value) in __metadata__, then the n tensors as F32 in order.
 * Errors: BW_ERR_ARG, BW_ERR_UNSUPPORTED (two tensors with one name, or a
 * tensor named __metadata__), BW_ERR_IO, BW_ERR_NOMEM.
 */
enum bw_err bw_st_write(const char *path, int n_meta, const char *const *meta_kv, int n,
                        const struct bw_st_item *it);
/*
 * Bounded reader: bw_st_open maps the file (at most 4 GiB), checks the header
 * length against the file and a 16 MiB cap and parses the header JSON
 * (duplicate keys refused). bw_st_read_f32 copies one named tensor into dst
 * after checking dtype F32, the exact shape of t and the data offsets against
 * the data section; bw_st_check_overlap then refuses overlapping tensors.
 * bw_st_meta returns a __metadata__ string (NULL when absent), valid until
 * bw_st_close. Errors carry the failed check in d.
 */
struct bw_st;
enum bw_err bw_st_open(const char *path, struct bw_st **out, struct bw_diag *d);
const char *bw_st_meta(const struct bw_st *s, const char *key);
size_t bw_st_n_tensors(const struct bw_st *s);
uint64_t bw_st_data_len(const struct bw_st *s);
enum bw_err bw_st_read_f32(struct bw_st *s, const char *name, const struct bw_tensor *t,
                           float *dst, struct bw_diag *d);
enum bw_err bw_st_check_overlap(struct bw_st *s, struct bw_diag *d);
void bw_st_close(struct bw_st *s); /* NULL allowed */

/* ---- the engine's threads (tensor_par.c) ---- */

/* Worker i of n; every worker of one bw_t_par call gets the same ctx. */
typedef void (*bw_t_par_fn)(void *ctx, int i, int n);
/* Threads the layers may use (0: every online core). */
void bw_t_set_threads(int n);
int bw_t_threads(void);
/* Run fn on n workers (the caller is worker 0) and wait for all of them. */
void bw_t_par(int n, bw_t_par_fn fn, void *ctx);
/* Worker i's share [lo, hi) of total items split as evenly as possible between n. */
void bw_t_split(int total, int i, int n, int *lo, int *hi);

/* Backward of one tape entry; grads accumulate into inputs that need them. */
enum bw_err bw_t_backward_conv(struct bw_graph *g, struct bw_tape_ent *e);
enum bw_err bw_t_backward_linear(struct bw_graph *g, struct bw_tape_ent *e);
enum bw_err bw_t_backward_misc(struct bw_graph *g, struct bw_tape_ent *e);

/* SplitMix64 step; used for initialisation, shuffling and dropout. */
static inline uint64_t bw_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}
static inline float bw_u01(uint64_t *s)
{
	return (float)(bw_splitmix64(s) >> 40) * (1.0f / 16777216.0f);
}

/* ---- models ---- */

struct bw_node {
	enum bw_op op;
	int n_in;
	int in[BW_NODE_MAX_IN]; /* value ids */
	int out;                /* value id */
	struct bw_op_attr a;
};

struct bw_param {
	char *name;
	struct bw_tensor t;
	int trainable;          /* 0 for batch-norm running statistics and constants */
	float *state1, *state2; /* optimiser state */
};

struct bw_model {
	int n_nodes, n_values, n_params, n_inputs, output;
	struct bw_node *nodes;   /* BW_MODEL_MAX_NODES */
	char **value_names;      /* BW_MODEL_MAX_VALUES */
	int *value_param;        /* param index or -1 */
	struct bw_param *params; /* BW_MODEL_MAX_VALUES */
	int inputs[BW_MODEL_MAX_INPUTS];
	int in_c, in_h, in_w, n_classes;
	struct bw_tensor **vals; /* forward workspace, n_values entries */
	int *uses;               /* forward workspace: readers of each value */
	int *producer;           /* forward workspace: op that produced each value (0: none) */
};

/* Empty model with the fixed-capacity tables allocated. */
enum bw_err bw_model_alloc(struct bw_model **out);
/* Value id of name, creating it when absent; -1 on overflow. */
int bw_model_value(struct bw_model *m, const char *name);
/* Value id of an existing name or -1. */
int bw_model_find_value(const struct bw_model *m, const char *name);
/* New parameter (zeroed) bound to value `name`; its index or -1. */
int bw_model_add_param(struct bw_model *m, const char *name, int ndim, const int *shape,
                       int trainable);
/* Check node arity and that every value is defined before use. */
enum bw_err bw_model_validate(const struct bw_model *m, struct bw_diag *d);

#endif
