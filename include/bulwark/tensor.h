/*
 * bulwark/tensor.h - a small float32 tensor engine with reverse-mode automatic
 * differentiation, the models built from it, their safetensors+JSON files,
 * ONNX import and the datasets they train on (docs/tensor.md).
 *
 * Three objects:
 *  - struct bw_tensor: a float32 array of up to 4 dimensions (N,C,H,W order),
 *    optionally with a gradient buffer of the same shape.
 *  - struct bw_graph: the recorded computation of one forward pass. Every
 *    intermediate tensor lives in the graph's arena; bw_graph_reset() forgets
 *    them but keeps the memory, so a training loop allocates nothing once the
 *    first step has sized the arena. Operations record themselves on the tape
 *    only when one of their inputs needs a gradient.
 *  - struct bw_model: a list of nodes (operation + attributes + value ids) and
 *    named parameters. Built-in architectures, the JSON architecture files and
 *    ONNX import all produce this same structure.
 *
 * What this must not do: evaluate anything from a file beyond the fixed set of
 * operations below; every size read from a file is checked against a limit
 * before memory is taken. Thread safety: one graph and one model per thread;
 * convolution and linear layers split each batch between the engine's own
 * threads (bw_tensor_set_threads), with OpenBLAS single-threaded inside them.
 */
#ifndef BULWARK_TENSOR_H
#define BULWARK_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

#define BW_T_MAXDIM 4
/* Largest tensor the engine creates or loads (elements). */
#define BW_T_MAX_NUMEL ((int)1 << 28)

enum bw_t_flag {
	BW_T_REQ_GRAD = 1u, /* gradients flow into this tensor */
	BW_T_PARAM = 2u     /* a model parameter (owned by a model, grad persistent) */
};

struct bw_tensor {
	int ndim;
	int shape[BW_T_MAXDIM];
	int numel;
	unsigned flags;
	float *data;
	float *grad;     /* NULL until a backward pass reaches it (graph tensors) */
	int tape_id;     /* internal: tape entry that produced it, -1 for leaves */
};

/* ---- operations (the engine) ---- */

enum bw_op {
	BW_OP_CONV2D = 1,
	BW_OP_LINEAR,
	BW_OP_ADD,
	BW_OP_MUL,
	BW_OP_RELU,
	BW_OP_LEAKY_RELU,
	BW_OP_SIGMOID,
	BW_OP_TANH,
	BW_OP_MAXPOOL,
	BW_OP_AVGPOOL,
	BW_OP_GAP,         /* global average pooling: (N,C,H,W) -> (N,C,1,1) */
	BW_OP_BATCHNORM,
	BW_OP_DROPOUT,
	BW_OP_FLATTEN,     /* (N,...) -> (N, rest); attribute axis (default 1) */
	BW_OP_RESHAPE,     /* constant target shape, one -1 allowed, 0 copies */
	BW_OP_CONCAT,
	BW_OP_SOFTMAX,
	BW_OP_LOGSOFTMAX,
	BW_OP_CLAMP,
	BW_OP_SIGN,
	BW_OP_IDENTITY,
	BW_OP_SUB,
	BW_OP_DIV,
	BW_OP_CROSS_ENTROPY, /* loss; not a model node */
	BW_OP__COUNT
};

/* Stable lower-case name of an operation ("conv2d"); "?" when unknown. */
const char *bw_op_name(enum bw_op op);
/* Inverse of bw_op_name; 0 when unknown. */
enum bw_op bw_op_from_name(const char *name);

/* Attributes of a node; only the fields of its operation matter. */
struct bw_op_attr {
	int kernel[2], stride[2], pad[4], dilation[2]; /* pad: top, left, bottom, right */
	int groups;
	int ceil_mode;       /* pooling: ONNX ceil_mode */
	int count_include_pad; /* avgpool */
	int axis;            /* flatten, concat, softmax, log-softmax */
	int shape[BW_T_MAXDIM], shape_n; /* reshape target */
	float alpha;         /* leaky relu slope */
	float eps, momentum; /* batch norm (momentum as PyTorch: new = (1-m)*old + m*batch) */
	float p;             /* dropout probability */
	float lo, hi;        /* clamp bounds */
};

/* Default attributes for an operation (stride 1, dilation 1, groups 1, ...). */
void bw_op_attr_default(struct bw_op_attr *a, enum bw_op op);

struct bw_graph;

/*
 * Create/free a graph. A graph owns every tensor its operations return; those
 * pointers are valid until bw_graph_reset() or bw_graph_free(). seed makes
 * dropout deterministic. Errors: BW_ERR_NOMEM.
 */
enum bw_err bw_graph_new(uint64_t seed, struct bw_graph **out) BW_MUST_CHECK;
void bw_graph_reset(struct bw_graph *g);
void bw_graph_free(struct bw_graph *g); /* NULL allowed */
/*
 * Cap on the bytes one pass may hold in the graph arena (default
 * BW_GRAPH_DEFAULT_BUDGET; 0 = none). A model from a file cannot make a small
 * input allocate more: operations past the cap fail with BW_ERR_NOMEM.
 */
#define BW_GRAPH_DEFAULT_BUDGET ((size_t)4 << 30)
void bw_graph_set_budget(struct bw_graph *g, size_t bytes);
/* Bytes the graph arena currently holds (for the steady-state check). */
size_t bw_graph_arena_bytes(const struct bw_graph *g);
/* Number of heap allocations the graph made since creation (tests). */
uint64_t bw_graph_n_allocs(const struct bw_graph *g);
/*
 * The state of the graph's random generator (dropout masks; it starts as the
 * seed of bw_graph_new). A training checkpoint saves it and a resumed run sets
 * it back, so dropout draws the same masks as an uninterrupted run. g non-NULL.
 */
uint64_t bw_graph_rng_state(const struct bw_graph *g);
void bw_graph_set_rng_state(struct bw_graph *g, uint64_t state);

/*
 * New tensor in the graph, zeroed; ndim 1..4. requires_grad makes it a leaf
 * whose gradient is kept after bw_graph_backward (for gradients with respect
 * to the input). Errors: BW_ERR_ARG (shape), BW_ERR_LIMIT, BW_ERR_NOMEM.
 */
enum bw_err bw_graph_tensor(struct bw_graph *g, int ndim, const int *shape, int requires_grad,
                            struct bw_tensor **out) BW_MUST_CHECK;

/*
 * Operations. Each takes tensors that live in this graph or in a model, and
 * returns a new graph tensor in *out. `training` selects batch-norm batch
 * statistics and active dropout. Errors: BW_ERR_ARG on shapes that do not fit
 * (the message is in no diag: callers know their shapes), BW_ERR_NOMEM.
 * b (bias) may be NULL for conv2d and linear; w of linear is (out, in) like
 * PyTorch's nn.Linear.
 */
enum bw_err bw_t_conv2d(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                        struct bw_tensor *b, const struct bw_op_attr *a,
                        struct bw_tensor **out) BW_MUST_CHECK;
enum bw_err bw_t_linear(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *w,
                        struct bw_tensor *b, struct bw_tensor **out) BW_MUST_CHECK;
/* Elementwise add, sub, mul, div with NumPy broadcasting (up to 4 dims). */
enum bw_err bw_t_binary(struct bw_graph *g, enum bw_op op, struct bw_tensor *x,
                        struct bw_tensor *y, struct bw_tensor **out) BW_MUST_CHECK;
/* relu, leaky_relu, sigmoid, tanh, clamp, sign, identity, dropout, softmax,
 * log-softmax, flatten, reshape, maxpool, avgpool, gap: one input. */
enum bw_err bw_t_unary(struct bw_graph *g, enum bw_op op, struct bw_tensor *x,
                       const struct bw_op_attr *a, int training,
                       struct bw_tensor **out) BW_MUST_CHECK;
/* Batch norm over axis 1. running_mean/var are updated in training mode. */
enum bw_err bw_t_batchnorm(struct bw_graph *g, struct bw_tensor *x, struct bw_tensor *gamma,
                           struct bw_tensor *beta, struct bw_tensor *rmean,
                           struct bw_tensor *rvar, const struct bw_op_attr *a, int training,
                           struct bw_tensor **out) BW_MUST_CHECK;
enum bw_err bw_t_concat(struct bw_graph *g, int n, struct bw_tensor *const *xs, int axis,
                        struct bw_tensor **out) BW_MUST_CHECK;
/* Mean cross-entropy of logits (N,K) against labels in [0,K); scalar out. */
enum bw_err bw_t_cross_entropy(struct bw_graph *g, struct bw_tensor *logits,
                               const int32_t *labels, struct bw_tensor **out) BW_MUST_CHECK;

/*
 * Reverse pass from `root`. seed is the gradient of root (root->numel floats),
 * NULL meaning all ones (a scalar loss). Gradients are accumulated into every
 * tensor that requires one: parameters (their persistent grad, which the
 * optimiser clears) and leaves (graph memory). Errors: BW_ERR_ARG, BW_ERR_NOMEM.
 */
enum bw_err bw_graph_backward(struct bw_graph *g, struct bw_tensor *root,
                              const float *seed) BW_MUST_CHECK;

/* ---- models ---- */

#define BW_MODEL_MAX_NODES 512
#define BW_MODEL_MAX_VALUES 1024
#define BW_MODEL_MAX_INPUTS 4
#define BW_NODE_MAX_IN 5

struct bw_model;

/*
 * A built-in architecture: "madry-cnn" (the MNIST challenge CNN), "lenet",
 * "mlp", "resnet-mini" (ResNet-18 style basic blocks with batch norm and
 * residual connections). Input shape (c,h,w), n_classes outputs, parameters
 * initialised as PyTorch does (Kaiming uniform) from seed.
 * Errors: BW_ERR_NOTFOUND (unknown name), BW_ERR_ARG, BW_ERR_NOMEM.
 */
enum bw_err bw_model_builtin(const char *arch, int c, int h, int w, int n_classes,
                             uint64_t seed, struct bw_model **out) BW_MUST_CHECK;
/* Names of the built-in architectures, NULL-terminated. */
const char *const *bw_model_builtin_names(void);

/*
 * The JSON architecture description (docs/tensor.md): nodes, values, inputs,
 * outputs, parameter shapes. bw_model_arch_json returns a heap string the
 * caller frees with bw_tensor_free_str. bw_model_from_arch builds a model
 * with zeroed parameters. Errors: BW_ERR_MALFORMED, BW_ERR_LIMIT,
 * BW_ERR_UNSUPPORTED (unknown op, by name in d), BW_ERR_NOMEM.
 */
enum bw_err bw_model_arch_json(const struct bw_model *m, char **out) BW_MUST_CHECK;
enum bw_err bw_model_from_arch(const char *json, size_t len, struct bw_model **out,
                               struct bw_diag *d) BW_MUST_CHECK;
void bw_tensor_free_str(char *s);

/* Save as safetensors with the architecture JSON in __metadata__["bulwark.arch"]. */
enum bw_err bw_model_save(const struct bw_model *m, const char *path) BW_MUST_CHECK;
/*
 * Load a model saved by bw_model_save (bounded safetensors reader: header at
 * most 16 MiB, F32 tensors only, offsets inside the file, no overlap).
 * Errors: BW_ERR_IO, BW_ERR_TRUNCATED, BW_ERR_MALFORMED, BW_ERR_LIMIT,
 * BW_ERR_UNSUPPORTED, BW_ERR_NOMEM; d says which check failed.
 */
enum bw_err bw_model_load(const char *path, struct bw_model **out,
                          struct bw_diag *d) BW_MUST_CHECK;
/*
 * Import an ONNX model (ModelProto bytes) exported by PyTorch. Supported
 * operators: Conv Gemm MatMul Add Sub Mul Div Relu LeakyRelu Sigmoid Tanh
 * MaxPool AveragePool GlobalAveragePool BatchNormalization Dropout Flatten
 * Reshape (constant shape) Concat Softmax LogSoftmax Clip Sign Identity
 * Constant, and Pad (zeros on H/W) when it feeds Conv or AveragePool.
 * Anything else is BW_ERR_UNSUPPORTED with the operator's name in d.
 * The bytes are only borrowed during the call.
 */
enum bw_err bw_onnx_import(const void *bytes, size_t len, struct bw_model **out,
                           struct bw_diag *d) BW_MUST_CHECK;
/*
 * Open a model file by its content: a bulwark safetensors file (bw_model_load)
 * or an ONNX ModelProto (bw_onnx_import; at most 1 GiB). Errors as those.
 */
enum bw_err bw_model_open(const char *path, struct bw_model **out,
                          struct bw_diag *d) BW_MUST_CHECK;
void bw_model_free(struct bw_model *m); /* NULL allowed */

/* Input shape the model was built for (c,h,w; 0 when unknown), class count. */
void bw_model_input_shape(const struct bw_model *m, int *c, int *h, int *w);
int bw_model_n_params(const struct bw_model *m); /* parameter tensors */
size_t bw_model_n_weights(const struct bw_model *m); /* scalar weights */
/* Parameter i (0 <= i < n_params), its name; NULL out of range. */
struct bw_tensor *bw_model_param(struct bw_model *m, int i, const char **name);
/* Mark parameters as needing gradients (training) or not (attacks, eval). */
void bw_model_set_requires_grad(struct bw_model *m, int on);

/*
 * Run the model on n_in graph tensors (usually one batch (N,C,H,W)); the
 * output (logits) is a graph tensor. training: batch-norm batch statistics,
 * dropout active. Errors: BW_ERR_ARG (shape mismatch), BW_ERR_NOMEM.
 */
enum bw_err bw_model_forward(struct bw_model *m, struct bw_graph *g, int n_in,
                             struct bw_tensor *const *in, int training,
                             struct bw_tensor **out) BW_MUST_CHECK;
/* Estimated floating-point operations of one forward pass for one image. */
double bw_model_flops(const struct bw_model *m);

/* ---- optimisers ---- */

enum bw_optim_kind { BW_OPTIM_SGD = 1, BW_OPTIM_ADAM };
enum bw_lr_sched { BW_LR_CONST = 0, BW_LR_STEP, BW_LR_COSINE };

struct bw_optim_cfg {
	enum bw_optim_kind kind;
	float lr, momentum, weight_decay; /* momentum for SGD */
	float beta1, beta2, eps;          /* Adam */
	enum bw_lr_sched sched;
	int step_every; float step_gamma; /* BW_LR_STEP: lr *= gamma every step_every epochs */
	int total_epochs;                 /* BW_LR_COSINE */
};
struct bw_optim;

void bw_optim_cfg_default(struct bw_optim_cfg *c, enum bw_optim_kind kind);
/*
 * An optimiser for m's trainable parameters. Its state buffers (SGD momentum,
 * Adam's first and second moments) are kept with the parameters inside m and
 * start at zero, also when an earlier optimiser used m: one optimiser per model
 * at a time, and m must outlive it. Errors: BW_ERR_ARG (NULL, kind, lr <= 0,
 * negative momentum or weight decay), BW_ERR_NOMEM.
 */
enum bw_err bw_optim_new(struct bw_model *m, const struct bw_optim_cfg *c,
                         struct bw_optim **out) BW_MUST_CHECK;
/* Clear every parameter gradient. */
void bw_optim_zero_grad(struct bw_optim *o);
/* One update from the accumulated gradients (PyTorch semantics). */
void bw_optim_step(struct bw_optim *o);
/* Set the learning rate for an epoch from the schedule (epoch from 0). */
void bw_optim_epoch(struct bw_optim *o, int epoch);
float bw_optim_lr(const struct bw_optim *o);
/* Updates taken so far (bw_optim_step calls, plus the count restored by bw_optim_load). */
long long bw_optim_steps(const struct bw_optim *o);
/*
 * Optimiser state for exact resumption (docs/adversarial.md, "Checkpoints").
 *
 * bw_optim_save writes o's state as a safetensors file, atomically (temporary
 * file and rename): for every trainable parameter NAME of the model, in model
 * order, F32 tensors of the parameter's shape named as PyTorch's state_dict
 * calls them, "exp_avg/NAME" and "exp_avg_sq/NAME" (Adam) or
 * "momentum_buffer/NAME" (SGD), and __metadata__ {"bulwark.content":
 * "optimizer", "bulwark.optim": "adam"|"sgd", "bulwark.step": decimal update
 * count}. The learning rate is not stored: bw_optim_epoch derives it from the
 * configuration and the epoch. Neither argument may be NULL (BW_ERR_ARG).
 * Errors: BW_ERR_ARG, BW_ERR_UNSUPPORTED (a buffer name over 299 bytes or two
 * equal names), BW_ERR_IO, BW_ERR_NOMEM.
 *
 * bw_optim_load reads such a file into o, which bw_optim_new made for a model
 * of the same architecture with the same kind. The file is untrusted: read
 * with the bounded reader of bw_model_load (header at most 16 MiB, F32 only,
 * offsets inside the file, no overlap), it must hold exactly the tensors above
 * with exactly the parameters' shapes, finite values (Adam's exp_avg_sq also
 * non-negative) and a step count in [0, 1e15]. On any error o is unchanged.
 * The path is only read during the call. Not thread-safe with bw_optim_step
 * on the same o. Errors: BW_ERR_ARG (NULL), BW_ERR_IO and BW_ERR_NOTFOUND (as
 * bw_file_map), BW_ERR_TRUNCATED, BW_ERR_LIMIT, BW_ERR_UNSUPPORTED (not an
 * optimiser state file), BW_ERR_MALFORMED (bad header, or state that does not
 * fit o: other kind, missing, extra or differently shaped tensors, bad
 * values or step), BW_ERR_NOMEM; d (may be NULL) names the failed check.
 */
enum bw_err bw_optim_save(const struct bw_optim *o, const char *path) BW_MUST_CHECK;
enum bw_err bw_optim_load(struct bw_optim *o, const char *path,
                          struct bw_diag *d) BW_MUST_CHECK;
void bw_optim_free(struct bw_optim *o);

/* ---- datasets ---- */

#define BW_DATA_MAX_ITEMS 10000000
struct bw_dataset {
	int n, c, h, w, n_classes;
	float *x;       /* n*c*h*w, scaled to [0,1] for byte images */
	int32_t *y;     /* n labels */
};

/*
 * IDX (optionally gzip-compressed, as Fashion-MNIST ships) images + labels.
 * Images: magic 0x00000803 uint8 (n,h,w); labels 0x00000801 (n).
 * Errors: BW_ERR_IO, BW_ERR_TRUNCATED, BW_ERR_MALFORMED, BW_ERR_LIMIT, BW_ERR_NOMEM.
 */
enum bw_err bw_data_load_idx(const char *images, const char *labels, struct bw_dataset *out,
                             struct bw_diag *d) BW_MUST_CHECK;
/*
 * NumPy .npy arrays: images uint8 (scaled by 1/255) or float32 of shape
 * (n,h,w) or (n,c,h,w); labels uint8/int32/int64 (n). Little-endian, C order.
 */
enum bw_err bw_data_load_npy(const char *images, const char *labels, struct bw_dataset *out,
                             struct bw_diag *d) BW_MUST_CHECK;
/*
 * "fashion-mnist" (train or test split) from the Debian package
 * dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, or the directory
 * in $BW_FASHION_MNIST). Errors as bw_data_load_idx; BW_ERR_NOTFOUND if absent.
 */
enum bw_err bw_data_fashion_mnist(int train, struct bw_dataset *out,
                                  struct bw_diag *d) BW_MUST_CHECK;
/*
 * A dataset named on a command line: "fashion-mnist" (train selects the
 * split), "idx:IMAGES,LABELS" or "npy:IMAGES,LABELS". BW_ERR_ARG for an
 * unknown form; otherwise as the loaders above.
 */
enum bw_err bw_data_load_spec(const char *spec, int train, struct bw_dataset *out,
                              struct bw_diag *d) BW_MUST_CHECK;
void bw_data_release(struct bw_dataset *ds);

/* ---- running models on datasets (tensor_run.c) ---- */

/*
 * Threads the layers may split a batch between (0 = every online core); OpenBLAS
 * itself runs single-threaded inside each. Results are bit-identical from run to
 * run for a given count; weight gradients are summed per thread, so different
 * counts can differ in the last bits. Also runs bw_tensor_blas_init(). Process-wide;
 * not thread-safe with running layers.
 */
void bw_tensor_set_threads(int n);
/*
 * Once per process (thread-safe): if OpenBLAS fell back to its generic SSE3
 * kernels on a CPU it did not recognise and OPENBLAS_CORETYPE is unset,
 * select the AVX-512 or AVX2 kernels the CPU supports (docs/tensor.md).
 * bw_graph_new calls it.
 */
void bw_tensor_blas_init(void);
/* Name of the OpenBLAS kernel set in use ("SkylakeX"). */
const char *bw_tensor_blas_core(void);
/*
 * What runs the convolutions: "oneDNN 2.6.3, conv jit:avx512_core" (loaded
 * with dlopen on the first convolution; the kernel named is the one chosen for
 * the latest shape), or "none (...)" with the reason when the engine's own
 * lowering + sgemm path runs (library missing, BW_TENSOR_NO_DNNL=1). Static
 * storage; thread-safe to call, not while layers run.
 */
const char *bw_tensor_conv_backend(void);

/* Called after each batch: images done so far in this epoch, running mean loss, accuracy. */
typedef void (*bw_train_progress_fn)(void *ctx, int done, int total, double loss, double acc);

/*
 * One training epoch over ds (first `limit` items when limit > 0) in a
 * seeded shuffled order, batches of `batch`, mean cross-entropy loss.
 * g is reused (reset before every batch); out_loss/out_acc are the epoch's
 * running means. Errors: BW_ERR_ARG (shapes), BW_ERR_NOMEM.
 */
enum bw_err bw_train_epoch(struct bw_model *m, struct bw_optim *o, struct bw_graph *g,
                           const struct bw_dataset *ds, int limit, int batch, uint64_t seed,
                           bw_train_progress_fn progress, void *ctx, double *out_loss,
                           double *out_acc) BW_MUST_CHECK;
/*
 * Inference over the first n items (n <= ds->n): predicted class per item and,
 * when logits != NULL, the logits (n * classes floats; classes from the model
 * output, written to *n_classes).
 */
enum bw_err bw_model_predict(struct bw_model *m, struct bw_graph *g, const struct bw_dataset *ds,
                             int n, int batch, int32_t *pred, float *logits,
                             int *n_classes) BW_MUST_CHECK;
/*
 * Projected gradient descent in the L-infinity ball (Madry et al. 2018): from
 * x0 (+ a seeded uniform start when random_start), `steps` steps of size alpha
 * along the sign of the input gradient of the cross-entropy, projected back to
 * [x0-eps, x0+eps] and [0,1]. Writes the predictions on the final images.
 */
enum bw_err bw_model_pgd(struct bw_model *m, struct bw_graph *g, const struct bw_dataset *ds,
                         int n, int batch, float eps, float alpha, int steps, int random_start,
                         uint64_t seed, int32_t *pred) BW_MUST_CHECK;
/*
 * Gradients of the mean cross-entropy over the first n items taken as one
 * batch: with respect to the input (input_grad, n*c*h*w floats, may be NULL)
 * and to every parameter (left in the parameters' grad buffers, see
 * bw_model_save_grads). training selects batch-norm batch statistics (and
 * updates the running statistics) and active dropout.
 */
enum bw_err bw_model_loss_grads(struct bw_model *m, struct bw_graph *g,
                                const struct bw_dataset *ds, int n, int training, float *loss,
                                float *input_grad) BW_MUST_CHECK;
/* Parameter gradients as a safetensors file (same names as the parameters). */
enum bw_err bw_model_save_grads(const struct bw_model *m, const char *path) BW_MUST_CHECK;

#endif
