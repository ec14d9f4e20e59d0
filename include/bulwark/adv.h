/*
 * bulwark/adv.h - adversarial examples against models of the tensor engine
 * (FGSM, PGD under L-infinity and L2, Carlini-Wagner L2), adversarial
 * training (Madry PGD training, fast FGSM with random start) and the pieces
 * of a robustness report (.npy, SVG plot, SVG image grid). docs/adversarial.md.
 *
 * All attacks are white-box: they need input gradients, which the tensor
 * engine computes. They work on batches, run the model in evaluation mode
 * (batch-norm running statistics, no dropout), keep every image inside the
 * valid range [lo, hi], and are deterministic for a given seed. The attack
 * loop reuses one graph (its arena) and the scratch of a struct bw_adv: after
 * the first step of the first batch nothing is allocated.
 *
 * Must not: print, or change a model's parameters (adversarial training does,
 * through the optimiser, and only there). Thread safety: one struct bw_adv,
 * graph and model per thread.
 */
#ifndef BULWARK_ADV_H
#define BULWARK_ADV_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "bulwark/tensor.h"

enum bw_adv_attack {
	BW_ADV_FGSM = 1, /* Goodfellow, Shlens, Szegedy 2015 (always L-inf) */
	BW_ADV_PGD,      /* Madry, Makelov, Schmidt, Tsipras, Vladu 2018 */
	BW_ADV_CW        /* Carlini, Wagner 2017, the L2 attack */
};

enum bw_adv_norm { BW_ADV_LINF = 1, BW_ADV_L2 };

/*
 * Attack parameters. bw_adv_cfg_default fills the papers' defaults:
 *  FGSM  x' = clip(x + eps * sign(grad_x CE)) (targeted: minus, towards the target).
 *  PGD   L-inf: alpha = 2.5 * eps / steps, steps 40, uniform random start in the
 *        eps-ball, projection after every step, 1 restart.
 *        L2: steps along grad / ||grad||_2, projection onto the L2 ball, random
 *        start uniform in the ball; alpha = 2.5 * eps / steps.
 *        Restarts keep, per example, the worst case: a successful example
 *        first, otherwise the highest loss (lowest target loss when targeted).
 *  CW    w-space via x = lo + (hi-lo) * (tanh(w) + 1) / 2, Adam lr 0.01,
 *        9 binary-search steps over c starting at 1e-3, 1000 iterations,
 *        confidence kappa 0, objective f6 on the logits:
 *        max(Z_y - max_{i!=y} Z_i, -kappa) (targeted: max(max_{i!=t} Z_i - Z_t, -kappa)).
 *        The result is the smallest-L2 successful example found, or the
 *        original image when none was. Early abort (on by default, as in the
 *        authors' code): a binary-search step stops when the batch's loss
 *        (sum of ||x - x0||^2 + c * max(f6 + kappa, 0)) has not fallen below
 *        0.9999 of its value a tenth of cw_iters earlier.
 */
struct bw_adv_cfg {
	enum bw_adv_attack attack;
	enum bw_adv_norm norm;  /* PGD only; FGSM is L-inf, CW is L2 */
	float eps;              /* radius of the ball (FGSM, PGD); CW ignores it */
	float alpha;            /* PGD step size */
	int steps;              /* PGD steps */
	int random_start;       /* PGD: start from a uniform point in the ball */
	int restarts;           /* PGD: >= 1 */
	int targeted;           /* labels passed to the attack are targets */
	float lo, hi;           /* valid input range, default [0, 1] */
	uint64_t seed;          /* random starts */
	float cw_lr;            /* Adam learning rate */
	int cw_iters;           /* Adam steps per binary-search step */
	int cw_search;          /* binary-search steps over c */
	float cw_c0;            /* initial c */
	float cw_kappa;         /* confidence */
	int cw_abort_early;     /* stop a search step when the loss stops falling (1 default) */
};

/* The defaults above for an attack and norm at radius eps. */
void bw_adv_cfg_default(struct bw_adv_cfg *c, enum bw_adv_attack attack, enum bw_adv_norm norm,
                        float eps);
/* BW_ERR_ARG when a field is out of range (eps < 0, steps < 0, restarts < 1, lo >= hi, ...). */
enum bw_err bw_adv_cfg_check(const struct bw_adv_cfg *c) BW_MUST_CHECK;
/* "fgsm", "pgd", "cw"; "linf", "l2". NULL / 0 when unknown. */
const char *bw_adv_attack_name(enum bw_adv_attack a);
enum bw_adv_attack bw_adv_attack_from_name(const char *s);

struct bw_adv;

/* CW Adam steps a has taken since bw_adv_new (every batch, every search step). */
long long bw_adv_cw_steps(const struct bw_adv *a);

/*
 * Scratch for attacks on batches of at most `batch` images of shape (c,h,w)
 * against a model with n_classes outputs. Errors: BW_ERR_ARG, BW_ERR_NOMEM.
 */
enum bw_err bw_adv_new(int batch, int c, int h, int w, int n_classes,
                       struct bw_adv **out) BW_MUST_CHECK;
void bw_adv_free(struct bw_adv *a); /* NULL allowed */

/*
 * Attack one batch: x0 (nb images, C order), labels (true labels, or targets
 * when cfg->targeted). Writes the adversarial images to x_adv (nb images; may
 * equal neither x0 nor labels) and, when pred != NULL, the model's predictions
 * on them. The model's parameters are set not to need gradients. g is reset.
 * Errors: BW_ERR_ARG (sizes, cfg, a model output that is not (nb, n_classes)),
 * BW_ERR_NOMEM.
 */
enum bw_err bw_adv_batch(struct bw_adv *a, struct bw_model *m, struct bw_graph *g,
                         const struct bw_adv_cfg *cfg, const float *x0, const int32_t *labels,
                         int nb, float *x_adv, int32_t *pred) BW_MUST_CHECK;

/* Per-dataset results of bw_adv_run; arrays are owned by the caller. */
struct bw_adv_out {
	float *x_adv;        /* n * c*h*w, may be NULL (not kept) */
	int32_t *pred_clean; /* n, may be NULL */
	int32_t *pred_adv;   /* n, required */
	float *linf, *l2;    /* n perturbation norms, may be NULL */
	long long cw_steps;  /* set by bw_adv_run: CW Adam steps taken over all batches (early
	                      * abort makes it fewer than batches * cw_search * cw_iters) */
};

typedef void (*bw_adv_progress_fn)(void *ctx, int done, int total);

/*
 * Attack the first n images of ds in batches. targets (n) makes a targeted
 * attack (cfg->targeted must be set); otherwise the true labels are used.
 * Errors as bw_adv_batch; BW_ERR_ARG when n is out of range or shapes differ.
 */
enum bw_err bw_adv_run(struct bw_model *m, struct bw_graph *g, const struct bw_dataset *ds,
                       int n, int batch, const struct bw_adv_cfg *cfg, const int32_t *targets,
                       struct bw_adv_out *out, bw_adv_progress_fn progress,
                       void *pctx) BW_MUST_CHECK;

/*
 * One epoch of adversarial training: every batch (seeded shuffled order, as
 * bw_train_epoch) is replaced by its adversarial version under cfg (made with
 * the model in evaluation mode, parameters frozen), then the model takes an
 * optimiser step on the mean cross-entropy of the adversarial batch in
 * training mode. Madry PGD training: cfg = PGD L-inf with random start;
 * fast FGSM (Wong, Rice, Kolter 2020): bw_adv_cfg_fgsm_rs. out_acc is the
 * running accuracy on the adversarial batches (before each update).
 * Errors as bw_train_epoch and bw_adv_batch.
 */
enum bw_err bw_adv_train_epoch(struct bw_model *m, struct bw_optim *o, struct bw_graph *g,
                               struct bw_adv *a, const struct bw_adv_cfg *cfg,
                               const struct bw_dataset *ds, int limit, int batch, uint64_t seed,
                               bw_train_progress_fn progress, void *pctx, double *out_loss,
                               double *out_acc) BW_MUST_CHECK;
/* fgsm-rs: one L-inf step of alpha = 1.25 * eps from a uniform start, projected. */
void bw_adv_cfg_fgsm_rs(struct bw_adv_cfg *c, float eps);

/* ---- report writers (adv_report.c) ---- */

/*
 * Write a C-order little-endian .npy (format 1.0) of float32 ("<f4") or int32
 * ("<i4") with up to 4 dimensions. Errors: BW_ERR_ARG, BW_ERR_IO.
 */
enum bw_err bw_adv_write_npy_f32(const char *path, const float *p, int ndim,
                                 const int *shape) BW_MUST_CHECK;
enum bw_err bw_adv_write_npy_i32(const char *path, const int32_t *p, int ndim,
                                 const int *shape) BW_MUST_CHECK;

/* One line of the accuracy-against-eps plot. */
struct bw_adv_series {
	const char *label;   /* "model, PGD" */
	int n;               /* points */
	const double *eps;   /* n */
	const double *acc;   /* n, in [0,1] */
	int dashed;
};
/*
 * A self-contained SVG line plot of accuracy (0-100%) against eps.
 * Labels are XML-escaped. Errors: BW_ERR_ARG, BW_ERR_IO.
 */
enum bw_err bw_adv_write_plot_svg(const char *path, const char *title, int n_series,
                                  const struct bw_adv_series *s) BW_MUST_CHECK;
/*
 * An SVG grid: one row per image, columns original, adversarial and the
 * perturbation (scaled to the full grey range), each pixel a rectangle
 * (single-channel images, or the channel mean). Captions give the true
 * label and both predictions (class_names may be NULL: numbers).
 * Errors: BW_ERR_ARG, BW_ERR_IO.
 */
enum bw_err bw_adv_write_grid_svg(const char *path, int n, int c, int h, int w, const float *x,
                                  const float *x_adv, const int32_t *y, const int32_t *pred_clean,
                                  const int32_t *pred_adv, const char *const *class_names,
                                  int n_class_names) BW_MUST_CHECK;

#endif
