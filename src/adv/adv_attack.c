/*
 * adv/adv_attack.c - white-box evasion attacks on tensor-engine models:
 * FGSM (Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial
 * Examples", ICLR 2015), PGD under L-inf and L2 (Madry et al., "Towards Deep
 * Learning Models Resistant to Adversarial Attacks", ICLR 2018, section 2)
 * and the Carlini-Wagner L2 attack (Carlini, Wagner, "Towards Evaluating the
 * Robustness of Neural Networks", IEEE S&P 2017, section V-A).
 *
 * Gradients come from the engine: the batch becomes a graph leaf that needs a
 * gradient, the model runs in evaluation mode, and the backward pass starts at
 * the logits with a seed this file computes (dLoss/dlogits), so one code path
 * serves cross-entropy (FGSM, PGD) and the CW margin objective. The graph is
 * reset before every step and every buffer lives in struct bw_adv, so the
 * attack loop allocates nothing after its first step.
 * Must not: print; change parameters; read outside the caller's arrays.
 */
#include <math.h>
#include <string.h>

#include "bulwark/adv.h"
#include "core/alloc.h"

struct bw_adv {
	int batch, c, h, w, k;
	long long cw_steps;   /* CW Adam steps taken (bw_adv_cw_steps) */
	size_t per;           /* floats per image */
	float *xadv;          /* current iterate */
	float *best;          /* best example so far (restarts, CW) */
	float *grad;          /* input gradient */
	float *wv, *am, *av;  /* CW: w-space variable, Adam moments */
	float *xin, *xout;    /* training / run staging */
	float *loss, *best_score, *cw_c, *cw_lo, *cw_hi, *cw_best;
	int32_t *pred, *ylab, *bpred;
	int *best_ok, *cw_succ;
	uint64_t rng;
};

/* SplitMix64 (Steele, Lea, Flood 2014): the same generator the engine uses. */
static uint64_t sm64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static float u01(uint64_t *s)
{
	return (float)(sm64(s) >> 40) * (1.0f / 16777216.0f);
}

/* Standard normal by Box-Muller (one value per call; simplicity over speed). */
static float gauss(uint64_t *s)
{
	double u1 = ((double)(sm64(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
	double u2 = (double)(sm64(s) >> 11) * (1.0 / 9007199254740992.0);

	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void bw_adv_cfg_default(struct bw_adv_cfg *c, enum bw_adv_attack attack, enum bw_adv_norm norm,
                        float eps)
{
	memset(c, 0, sizeof *c);
	c->attack = attack;
	c->norm = attack == BW_ADV_PGD ? norm : attack == BW_ADV_CW ? BW_ADV_L2 : BW_ADV_LINF;
	c->eps = eps;
	c->steps = attack == BW_ADV_PGD ? 40 : 1;
	c->alpha = attack == BW_ADV_FGSM ? eps : 2.5f * eps / (float)c->steps;
	c->random_start = attack == BW_ADV_PGD;
	c->restarts = 1;
	c->lo = 0.0f;
	c->hi = 1.0f;
	c->seed = 1;
	c->cw_lr = 0.01f;
	c->cw_iters = 1000;
	c->cw_search = 9;
	c->cw_c0 = 1e-3f;
	c->cw_kappa = 0.0f;
	c->cw_abort_early = 1;
}

void bw_adv_cfg_fgsm_rs(struct bw_adv_cfg *c, float eps)
{
	bw_adv_cfg_default(c, BW_ADV_PGD, BW_ADV_LINF, eps);
	c->steps = 1;
	c->alpha = 1.25f * eps;
	c->random_start = 1;
}

enum bw_err bw_adv_cfg_check(const struct bw_adv_cfg *c)
{
	if (c == NULL || (c->attack != BW_ADV_FGSM && c->attack != BW_ADV_PGD && c->attack != BW_ADV_CW))
		return BW_ERR_ARG;
	if (c->norm != BW_ADV_LINF && c->norm != BW_ADV_L2)
		return BW_ERR_ARG;
	if (!(c->eps >= 0.0f) || !(c->alpha >= 0.0f) || c->steps < 0 || c->steps > 100000 ||
	    c->restarts < 1 || c->restarts > 1000 || !(c->lo < c->hi) || !isfinite(c->lo) ||
	    !isfinite(c->hi) || !isfinite(c->eps) || !isfinite(c->alpha))
		return BW_ERR_ARG;
	if (c->attack == BW_ADV_CW &&
	    (!(c->cw_lr > 0.0f) || c->cw_iters < 1 || c->cw_iters > 1000000 || c->cw_search < 1 ||
	     c->cw_search > 100 || !(c->cw_c0 > 0.0f) || !(c->cw_kappa >= 0.0f) ||
	     (c->cw_abort_early != 0 && c->cw_abort_early != 1)))
		return BW_ERR_ARG;
	return BW_OK;
}

const char *bw_adv_attack_name(enum bw_adv_attack a)
{
	switch (a) {
	case BW_ADV_FGSM: return "fgsm";
	case BW_ADV_PGD: return "pgd";
	case BW_ADV_CW: return "cw";
	}
	return NULL;
}

enum bw_adv_attack bw_adv_attack_from_name(const char *s)
{
	if (s == NULL)
		return (enum bw_adv_attack)0;
	if (strcmp(s, "fgsm") == 0)
		return BW_ADV_FGSM;
	if (strcmp(s, "pgd") == 0)
		return BW_ADV_PGD;
	if (strcmp(s, "cw") == 0)
		return BW_ADV_CW;
	return (enum bw_adv_attack)0;
}

void bw_adv_free(struct bw_adv *a)
{
	if (a == NULL)
		return;
	bw_free(a->xadv); bw_free(a->best); bw_free(a->grad);
	bw_free(a->wv); bw_free(a->am); bw_free(a->av);
	bw_free(a->xin); bw_free(a->xout);
	bw_free(a->loss); bw_free(a->best_score);
	bw_free(a->cw_c); bw_free(a->cw_lo); bw_free(a->cw_hi); bw_free(a->cw_best);
	bw_free(a->pred); bw_free(a->ylab); bw_free(a->bpred);
	bw_free(a->best_ok); bw_free(a->cw_succ);
	bw_free(a);
}

enum bw_err bw_adv_new(int batch, int c, int h, int w, int n_classes, struct bw_adv **out)
{
	struct bw_adv *a;
	size_t per, tot;

	*out = NULL;
	if (batch < 1 || c < 1 || h < 1 || w < 1 || n_classes < 2 || n_classes > 100000)
		return BW_ERR_ARG;
	if (bw_mul_ovf((size_t)c * (size_t)h, (size_t)w, &per) || bw_mul_ovf(per, (size_t)batch, &tot) ||
	    tot > (size_t)BW_T_MAX_NUMEL)
		return BW_ERR_LIMIT;
	a = bw_calloc(1, sizeof *a);
	if (a == NULL)
		return BW_ERR_NOMEM;
	a->batch = batch; a->c = c; a->h = h; a->w = w; a->k = n_classes; a->per = per;
	a->xadv = bw_calloc(tot, sizeof(float));
	a->best = bw_calloc(tot, sizeof(float));
	a->grad = bw_calloc(tot, sizeof(float));
	a->wv = bw_calloc(tot, sizeof(float));
	a->am = bw_calloc(tot, sizeof(float));
	a->av = bw_calloc(tot, sizeof(float));
	a->xin = bw_calloc(tot, sizeof(float));
	a->xout = bw_calloc(tot, sizeof(float));
	a->loss = bw_calloc((size_t)batch, sizeof(float));
	a->best_score = bw_calloc((size_t)batch, sizeof(float));
	a->cw_c = bw_calloc((size_t)batch, sizeof(float));
	a->cw_lo = bw_calloc((size_t)batch, sizeof(float));
	a->cw_hi = bw_calloc((size_t)batch, sizeof(float));
	a->cw_best = bw_calloc((size_t)batch, sizeof(float));
	a->pred = bw_calloc((size_t)batch, sizeof(int32_t));
	a->ylab = bw_calloc((size_t)batch, sizeof(int32_t));
	a->bpred = bw_calloc((size_t)batch, sizeof(int32_t));
	a->best_ok = bw_calloc((size_t)batch, sizeof(int));
	a->cw_succ = bw_calloc((size_t)batch, sizeof(int));
	if (a->xadv == NULL || a->best == NULL || a->grad == NULL || a->wv == NULL || a->am == NULL ||
	    a->av == NULL || a->xin == NULL || a->xout == NULL || a->loss == NULL ||
	    a->best_score == NULL || a->cw_c == NULL || a->cw_lo == NULL || a->cw_hi == NULL ||
	    a->cw_best == NULL || a->pred == NULL || a->ylab == NULL || a->bpred == NULL || a->best_ok == NULL ||
	    a->cw_succ == NULL) {
		bw_adv_free(a);
		return BW_ERR_NOMEM;
	}
	*out = a;
	return BW_OK;
}

static int argmax(const float *p, int k)
{
	int j, b = 0;

	for (j = 1; j < k; j++)
		if (p[j] > p[b])
			b = j;
	return b;
}

/*
 * Forward the nb images in x through m (evaluation mode). With want_grad the
 * input is a leaf that needs a gradient; *xt and *logits are graph tensors.
 */
static enum bw_err forward(struct bw_adv *a, struct bw_model *m, struct bw_graph *g,
                           const float *x, int nb, int want_grad, struct bw_tensor **xt,
                           struct bw_tensor **logits)
{
	int shape[4];
	enum bw_err err;

	shape[0] = nb; shape[1] = a->c; shape[2] = a->h; shape[3] = a->w;
	bw_graph_reset(g);
	err = bw_graph_tensor(g, 4, shape, want_grad, xt);
	if (err != BW_OK)
		return err;
	memcpy((*xt)->data, x, sizeof(float) * (size_t)nb * a->per);
	err = bw_model_forward(m, g, 1, xt, 0, logits);
	if (err != BW_OK)
		return err;
	if ((*logits)->numel != nb * a->k || (*logits)->shape[0] != nb)
		return BW_ERR_ARG;
	return BW_OK;
}

/*
 * Per-example cross-entropy of the logits against labels (into a->loss), the
 * predictions (a->pred) and, when seed != NULL, dMeanCE/dlogits into seed:
 * (softmax - onehot) / nb, PyTorch's F.cross_entropy gradient.
 */
static void ce_rows(struct bw_adv *a, const float *z, const int32_t *lab, int nb, float *seed)
{
	int i, j, k = a->k;

	for (i = 0; i < nb; i++) {
		const float *r = z + (size_t)i * (size_t)k;
		double mx = r[0], s = 0.0;

		for (j = 1; j < k; j++)
			if (r[j] > mx)
				mx = r[j];
		for (j = 0; j < k; j++)
			s += exp((double)r[j] - mx);
		a->loss[i] = (float)(mx + log(s) - (double)r[lab[i]]);
		a->pred[i] = argmax(r, k);
		if (seed != NULL)
			for (j = 0; j < k; j++)
				seed[(size_t)i * (size_t)k + (size_t)j] =
					(float)((exp((double)r[j] - mx) / s - (j == lab[i] ? 1.0 : 0.0)) / nb);
	}
}

/* Input gradient of the mean cross-entropy at x into a->grad; losses and predictions in a. */
static enum bw_err ce_grad(struct bw_adv *a, struct bw_model *m, struct bw_graph *g,
                           const float *x, const int32_t *lab, int nb)
{
	struct bw_tensor *xt, *z, *sd;
	int shape[2];
	enum bw_err err;

	err = forward(a, m, g, x, nb, 1, &xt, &z);
	if (err != BW_OK)
		return err;
	shape[0] = nb; shape[1] = a->k;
	err = bw_graph_tensor(g, 2, shape, 0, &sd);
	if (err != BW_OK)
		return err;
	ce_rows(a, z->data, lab, nb, sd->data);
	err = bw_graph_backward(g, z, sd->data);
	if (err != BW_OK)
		return err;
	if (xt->grad != NULL)
		memcpy(a->grad, xt->grad, sizeof(float) * (size_t)nb * a->per);
	else
		memset(a->grad, 0, sizeof(float) * (size_t)nb * a->per);
	return BW_OK;
}

/* Losses and predictions at x (no gradient). */
static enum bw_err evaluate(struct bw_adv *a, struct bw_model *m, struct bw_graph *g,
                            const float *x, const int32_t *lab, int nb)
{
	struct bw_tensor *xt, *z;
	enum bw_err err = forward(a, m, g, x, nb, 0, &xt, &z);

	if (err == BW_OK)
		ce_rows(a, z->data, lab, nb, NULL);
	return err;
}

/* Random start in the eps-ball around x0 (clipped to the valid range), or x0 itself. */
static void pgd_start(struct bw_adv *a, const struct bw_adv_cfg *cfg, const float *x0, int nb)
{
	size_t per = a->per, i, j;
	int e;

	if (!cfg->random_start || cfg->eps == 0.0f) {
		memcpy(a->xadv, x0, sizeof(float) * (size_t)nb * per);
		return;
	}
	if (cfg->norm == BW_ADV_LINF) {
		for (i = 0; i < (size_t)nb * per; i++)
			a->xadv[i] = clampf(x0[i] + (2.0f * u01(&a->rng) - 1.0f) * cfg->eps, cfg->lo, cfg->hi);
		return;
	}
	/* L2: a uniform point in the ball: Gaussian direction, radius eps * u^(1/d). */
	for (e = 0; e < nb; e++) {
		float *d = a->xadv + (size_t)e * per;
		const float *o = x0 + (size_t)e * per;
		double nrm = 0.0, r;

		for (j = 0; j < per; j++) {
			d[j] = gauss(&a->rng);
			nrm += (double)d[j] * d[j];
		}
		r = (double)cfg->eps * pow((double)u01(&a->rng), 1.0 / (double)per) /
		    (nrm > 0.0 ? sqrt(nrm) : 1.0);
		for (j = 0; j < per; j++)
			d[j] = clampf(o[j] + (float)(d[j] * r), cfg->lo, cfg->hi);
	}
}

/* One PGD step from a->xadv along a->grad (dir +1 ascends the loss), then projection and clipping. */
static void pgd_step(struct bw_adv *a, const struct bw_adv_cfg *cfg, const float *x0, int nb,
                     float dir, float alpha)
{
	size_t per = a->per, j;
	int e;

	for (e = 0; e < nb; e++) {
		float *x = a->xadv + (size_t)e * per;
		const float *gr = a->grad + (size_t)e * per, *o = x0 + (size_t)e * per;

		if (cfg->norm == BW_ADV_LINF) {
			for (j = 0; j < per; j++) {
				float gv = gr[j], v = x[j];

				v += gv > 0.0f ? dir * alpha : gv < 0.0f ? -dir * alpha : 0.0f;
				v = clampf(v, o[j] - cfg->eps, o[j] + cfg->eps);
				x[j] = clampf(v, cfg->lo, cfg->hi);
			}
		} else {
			double gn = 0.0, dn = 0.0, sc;

			for (j = 0; j < per; j++)
				gn += (double)gr[j] * gr[j];
			gn = sqrt(gn);
			sc = gn > 0.0 ? dir * alpha / gn : 0.0;
			for (j = 0; j < per; j++) {
				x[j] += (float)(gr[j] * sc);
				dn += (double)(x[j] - o[j]) * (x[j] - o[j]);
			}
			dn = sqrt(dn);
			sc = dn > cfg->eps ? cfg->eps / dn : 1.0;
			for (j = 0; j < per; j++)
				x[j] = clampf(o[j] + (float)((x[j] - o[j]) * sc), cfg->lo, cfg->hi);
		}
	}
}

/* Did example e succeed, given prediction p: untargeted misclassified, targeted hit. */
static int success(const struct bw_adv_cfg *cfg, int32_t p, int32_t lab)
{
	return cfg->targeted ? p == lab : p != lab;
}

static enum bw_err attack_pgd(struct bw_adv *a, struct bw_model *m, struct bw_graph *g,
                              const struct bw_adv_cfg *cfg, const float *x0, const int32_t *lab,
                              int nb, float *x_adv, int32_t *pred)
{
	float dir = cfg->targeted ? -1.0f : 1.0f;
	int r, s, e, steps = cfg->attack == BW_ADV_FGSM ? 1 : cfg->steps;
	float alpha = cfg->attack == BW_ADV_FGSM ? cfg->eps : cfg->alpha;
	int restarts = cfg->attack == BW_ADV_FGSM ? 1 : cfg->restarts;
	size_t per = a->per;
	enum bw_err err;

	for (r = 0; r < restarts; r++) {
		if (cfg->attack == BW_ADV_FGSM)
			memcpy(a->xadv, x0, sizeof(float) * (size_t)nb * per);
		else
			pgd_start(a, cfg, x0, nb);
		for (s = 0; s < steps; s++) {
			err = ce_grad(a, m, g, a->xadv, lab, nb);
			if (err != BW_OK)
				return err;
			pgd_step(a, cfg, x0, nb, dir, alpha);
		}
		if (restarts == 1) {
			if (pred != NULL) {
				err = evaluate(a, m, g, a->xadv, lab, nb);
				if (err != BW_OK)
					return err;
				memcpy(pred, a->pred, sizeof(int32_t) * (size_t)nb);
			}
			memcpy(x_adv, a->xadv, sizeof(float) * (size_t)nb * per);
			return BW_OK;
		}
		err = evaluate(a, m, g, a->xadv, lab, nb);
		if (err != BW_OK)
			return err;
		for (e = 0; e < nb; e++) {
			int ok = success(cfg, a->pred[e], lab[e]);
			float sc = cfg->targeted ? -a->loss[e] : a->loss[e];

			if (r == 0 || (ok && !a->best_ok[e]) || (ok == a->best_ok[e] && sc > a->best_score[e])) {
				a->best_ok[e] = ok;
				a->best_score[e] = sc;
				a->bpred[e] = a->pred[e];
				memcpy(a->best + (size_t)e * per, a->xadv + (size_t)e * per, sizeof(float) * per);
			}
		}
	}
	memcpy(x_adv, a->best, sizeof(float) * (size_t)nb * per);
	if (pred != NULL)
		memcpy(pred, a->bpred, sizeof(int32_t) * (size_t)nb);
	return BW_OK;
}

/*
 * Carlini-Wagner L2 (section V-A): minimise ||x - x0||_2^2 + c * f6(x) over w
 * with x = lo + (hi - lo) * (tanh(w) + 1) / 2, Adam, and a per-example binary
 * search over c (multiply by 10 until the first success, then bisect).
 */
static enum bw_err attack_cw(struct bw_adv *a, struct bw_model *m, struct bw_graph *g,
                             const struct bw_adv_cfg *cfg, const float *x0, const int32_t *lab,
                             int nb, float *x_adv, int32_t *pred)
{
	const float b1 = 0.9f, b2 = 0.999f, aeps = 1e-8f, span = cfg->hi - cfg->lo;
	size_t per = a->per, tot = (size_t)nb * per, j;
	int bs, it, e, k = a->k;
	enum bw_err err;

	for (e = 0; e < nb; e++) {
		a->cw_c[e] = cfg->cw_c0;
		a->cw_lo[e] = 0.0f;
		a->cw_hi[e] = 1e10f;
		a->cw_best[e] = INFINITY;
		a->best_ok[e] = 0;
	}
	memcpy(a->best, x0, sizeof(float) * tot);
	for (bs = 0; bs < cfg->cw_search; bs++) {
		float p1 = 1.0f, p2 = 1.0f;
		/* early abort, as l2_attack.py: the loss checked every tenth of the iterations */
		const int check = cfg->cw_abort_early && cfg->cw_iters >= 10 ? cfg->cw_iters / 10 : 0;
		double prev = 1e6;

		for (j = 0; j < tot; j++) {
			/* atanh of the image mapped to (-1,1); the margin keeps it finite at the bounds */
			float v = clampf((x0[j] - cfg->lo) / span * 2.0f - 1.0f, -1.0f + 1e-6f, 1.0f - 1e-6f);

			a->wv[j] = atanhf(v);
			a->am[j] = 0.0f;
			a->av[j] = 0.0f;
		}
		for (e = 0; e < nb; e++)
			a->cw_succ[e] = 0;
		for (it = 0; it < cfg->cw_iters; it++) {
			struct bw_tensor *xt, *z, *sd;
			int shape[2];
			double loss = 0.0;

			for (j = 0; j < tot; j++)
				a->xadv[j] = cfg->lo + span * (tanhf(a->wv[j]) + 1.0f) * 0.5f;
			err = forward(a, m, g, a->xadv, nb, 1, &xt, &z);
			if (err != BW_OK)
				return err;
			shape[0] = nb; shape[1] = k;
			err = bw_graph_tensor(g, 2, shape, 0, &sd);
			if (err != BW_OK)
				return err;
			for (e = 0; e < nb; e++) {
				const float *r = z->data + (size_t)e * (size_t)k;
				float *sr = sd->data + (size_t)e * (size_t)k;
				int t = lab[e], o = -1, i;
				float real, l2 = 0.0f;
				int ok;

				for (i = 0; i < k; i++)
					if (i != t && (o < 0 || r[i] > r[o]))
						o = i;
				/* untargeted: real = Z_y - max other; targeted: max other - Z_t */
				real = cfg->targeted ? r[o] - r[t] : r[t] - r[o];
				ok = real + cfg->cw_kappa < 0.0f;
				if (real > -cfg->cw_kappa) { /* f6 is active: its gradient is +-c on two logits */
					sr[cfg->targeted ? o : t] = a->cw_c[e];
					sr[cfg->targeted ? t : o] = -a->cw_c[e];
				}
				for (j = 0; j < per; j++) {
					float d = a->xadv[(size_t)e * per + j] - x0[(size_t)e * per + j];

					l2 += d * d;
				}
				loss += (double)l2 + (double)a->cw_c[e] * (real + cfg->cw_kappa > 0.0f
				                                           ? (double)(real + cfg->cw_kappa) : 0.0);
				if (ok) {
					a->cw_succ[e] = 1;
					if (l2 < a->cw_best[e]) {
						a->cw_best[e] = l2;
						a->best_ok[e] = 1;
						memcpy(a->best + (size_t)e * per, a->xadv + (size_t)e * per,
						       sizeof(float) * per);
					}
				}
			}
			if (check > 0 && it % check == 0) {
				if (loss > prev * 0.9999)
					break; /* the examples of this step were recorded above */
				prev = loss;
			}
			err = bw_graph_backward(g, z, sd->data);
			if (err != BW_OK)
				return err;
			a->cw_steps++;
			p1 *= b1;
			p2 *= b2;
			for (j = 0; j < tot; j++) {
				float gx = (xt->grad != NULL ? xt->grad[j] : 0.0f) + 2.0f * (a->xadv[j] - x0[j]);
				float th = (a->xadv[j] - cfg->lo) / span * 2.0f - 1.0f;
				float gw = gx * span * 0.5f * (1.0f - th * th);

				a->am[j] = b1 * a->am[j] + (1.0f - b1) * gw;
				a->av[j] = b2 * a->av[j] + (1.0f - b2) * gw * gw;
				a->wv[j] -= cfg->cw_lr * (a->am[j] / (1.0f - p1)) /
				           (sqrtf(a->av[j] / (1.0f - p2)) + aeps);
			}
		}
		for (e = 0; e < nb; e++) {
			if (a->cw_succ[e]) {
				a->cw_hi[e] = a->cw_hi[e] < a->cw_c[e] ? a->cw_hi[e] : a->cw_c[e];
				a->cw_c[e] = (a->cw_lo[e] + a->cw_hi[e]) * 0.5f;
			} else {
				a->cw_lo[e] = a->cw_lo[e] > a->cw_c[e] ? a->cw_lo[e] : a->cw_c[e];
				a->cw_c[e] = a->cw_hi[e] < 1e9f ? (a->cw_lo[e] + a->cw_hi[e]) * 0.5f
				                                : a->cw_c[e] * 10.0f;
			}
		}
	}
	memcpy(x_adv, a->best, sizeof(float) * tot);
	if (pred != NULL) {
		err = evaluate(a, m, g, x_adv, lab, nb);
		if (err != BW_OK)
			return err;
		memcpy(pred, a->pred, sizeof(int32_t) * (size_t)nb);
	}
	return BW_OK;
}

long long bw_adv_cw_steps(const struct bw_adv *a)
{
	return a != NULL ? a->cw_steps : 0;
}

enum bw_err bw_adv_batch(struct bw_adv *a, struct bw_model *m, struct bw_graph *g,
                         const struct bw_adv_cfg *cfg, const float *x0, const int32_t *labels,
                         int nb, float *x_adv, int32_t *pred)
{
	int e;

	if (a == NULL || m == NULL || g == NULL || x0 == NULL || labels == NULL || x_adv == NULL ||
	    nb < 1 || nb > a->batch || bw_adv_cfg_check(cfg) != BW_OK)
		return BW_ERR_ARG;
	for (e = 0; e < nb; e++)
		if (labels[e] < 0 || labels[e] >= a->k)
			return BW_ERR_ARG;
	bw_model_set_requires_grad(m, 0);
	if (cfg->attack == BW_ADV_CW)
		return attack_cw(a, m, g, cfg, x0, labels, nb, x_adv, pred);
	return attack_pgd(a, m, g, cfg, x0, labels, nb, x_adv, pred);
}

enum bw_err bw_adv_run(struct bw_model *m, struct bw_graph *g, const struct bw_dataset *ds,
                       int n, int batch, const struct bw_adv_cfg *cfg, const int32_t *targets,
                       struct bw_adv_out *out, bw_adv_progress_fn progress, void *pctx)
{
	struct bw_adv *a = NULL;
	int mc, mh, mw, start, e;
	enum bw_err err;

	if (m == NULL || g == NULL || ds == NULL || ds->x == NULL || out == NULL ||
	    out->pred_adv == NULL || n < 1 || n > ds->n || batch < 1 || bw_adv_cfg_check(cfg) != BW_OK ||
	    (targets != NULL) != (cfg->targeted != 0))
		return BW_ERR_ARG;
	bw_model_input_shape(m, &mc, &mh, &mw);
	if (mc != 0 && (mc != ds->c || mh != ds->h || mw != ds->w))
		return BW_ERR_ARG;
	if (batch > n)
		batch = n;
	err = bw_adv_new(batch, ds->c, ds->h, ds->w, ds->n_classes > 1 ? ds->n_classes : 2, &a);
	if (err != BW_OK)
		return err;
	/* the class count comes from the model's output, found on the first batch */
	{
		struct bw_tensor *xt, *z;
		int shape[4];

		shape[0] = 1; shape[1] = ds->c; shape[2] = ds->h; shape[3] = ds->w;
		bw_model_set_requires_grad(m, 0);
		bw_graph_reset(g);
		err = bw_graph_tensor(g, 4, shape, 0, &xt);
		if (err == BW_OK) {
			memcpy(xt->data, ds->x, sizeof(float) * a->per);
			err = bw_model_forward(m, g, 1, &xt, 0, &z);
		}
		if (err != BW_OK)
			goto out;
		if (z->numel < 2 || z->numel > 100000) {
			err = BW_ERR_ARG;
			goto out;
		}
		a->k = z->numel;
	}
	for (start = 0; start < n; start += batch) {
		int nb = n - start < batch ? n - start : batch;
		const float *x0 = ds->x + (size_t)start * a->per;
		const int32_t *lab = targets != NULL ? targets + start : ds->y + start;
		float *xa = out->x_adv != NULL ? out->x_adv + (size_t)start * a->per : a->xout;

		if (out->pred_clean != NULL) {
			err = evaluate(a, m, g, x0, ds->y + start, nb);
			if (err != BW_OK)
				goto out;
			memcpy(out->pred_clean + start, a->pred, sizeof(int32_t) * (size_t)nb);
		}
		a->rng = cfg->seed * (uint64_t)0x9E3779B97F4A7C15u + (uint64_t)(unsigned)start;
		err = bw_adv_batch(a, m, g, cfg, x0, lab, nb, xa, out->pred_adv + start);
		if (err != BW_OK)
			goto out;
		for (e = 0; e < nb; e++) {
			const float *p = xa + (size_t)e * a->per, *o = x0 + (size_t)e * a->per;
			double l2 = 0.0, li = 0.0;
			size_t j;

			for (j = 0; j < a->per; j++) {
				double d = (double)p[j] - o[j];

				l2 += d * d;
				li = fabs(d) > li ? fabs(d) : li;
			}
			if (out->l2 != NULL)
				out->l2[start + e] = (float)sqrt(l2);
			if (out->linf != NULL)
				out->linf[start + e] = (float)li;
		}
		if (progress != NULL)
			progress(pctx, start + nb, n);
	}
out:
	out->cw_steps = bw_adv_cw_steps(a);
	bw_adv_free(a);
	return err;
}

enum bw_err bw_adv_train_epoch(struct bw_model *m, struct bw_optim *o, struct bw_graph *g,
                               struct bw_adv *a, const struct bw_adv_cfg *cfg,
                               const struct bw_dataset *ds, int limit, int batch, uint64_t seed,
                               bw_train_progress_fn progress, void *pctx, double *out_loss,
                               double *out_acc)
{
	int n, *idx = NULL, i, start, correct = 0;
	double loss_sum = 0.0;
	uint64_t s = seed;
	enum bw_err err = BW_OK;

	*out_loss = 0.0;
	*out_acc = 0.0;
	if (m == NULL || o == NULL || g == NULL || a == NULL || ds == NULL || ds->x == NULL ||
	    batch < 1 || batch > a->batch || bw_adv_cfg_check(cfg) != BW_OK || cfg->targeted || cfg->attack == BW_ADV_CW ||
	    ds->c != a->c || ds->h != a->h || ds->w != a->w)
		return BW_ERR_ARG;
	n = limit > 0 && limit < ds->n ? limit : ds->n;
	idx = bw_calloc((size_t)n, sizeof *idx);
	if (idx == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = n - 1; i > 0; i--) { /* Fisher-Yates, as bw_train_epoch */
		int j = (int)(sm64(&s) % (uint64_t)(i + 1)), t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	a->rng = seed ^ 0xA5A5A5A5DEADBEEFull;
	for (start = 0; start < n; start += batch) {
		int nb = n - start < batch ? n - start : batch, shape[4];
		struct bw_tensor *x, *z, *loss;

		if (nb < 2 && start > 0)
			break; /* a 1-image batch breaks batch-norm statistics */
		for (i = 0; i < nb; i++) {
			int k = idx[start + i];

			memcpy(a->xin + (size_t)i * a->per, ds->x + (size_t)k * a->per, sizeof(float) * a->per);
			a->ylab[i] = ds->y[k];
			if (a->ylab[i] < 0 || a->ylab[i] >= a->k) {
				err = BW_ERR_ARG;
				goto out;
			}
		}
		bw_model_set_requires_grad(m, 0);
		err = attack_pgd(a, m, g, cfg, a->xin, a->ylab, nb, a->xout, NULL);
		if (err != BW_OK)
			goto out;
		bw_model_set_requires_grad(m, 1);
		bw_graph_reset(g);
		shape[0] = nb; shape[1] = a->c; shape[2] = a->h; shape[3] = a->w;
		err = bw_graph_tensor(g, 4, shape, 0, &x);
		if (err != BW_OK)
			goto out;
		memcpy(x->data, a->xout, sizeof(float) * (size_t)nb * a->per);
		err = bw_model_forward(m, g, 1, &x, 1, &z);
		if (err == BW_OK && z->numel != nb * a->k)
			err = BW_ERR_ARG;
		if (err == BW_OK)
			err = bw_t_cross_entropy(g, z, a->ylab, &loss);
		if (err != BW_OK)
			goto out;
		bw_optim_zero_grad(o);
		err = bw_graph_backward(g, loss, NULL);
		if (err != BW_OK)
			goto out;
		bw_optim_step(o);
		loss_sum += (double)loss->data[0] * nb;
		for (i = 0; i < nb; i++)
			correct += argmax(z->data + (size_t)i * (size_t)a->k, a->k) == a->ylab[i];
		if (progress != NULL)
			progress(pctx, start + nb, n, loss_sum / (start + nb), (double)correct / (start + nb));
	}
	*out_loss = loss_sum / n;
	*out_acc = (double)correct / n;
out:
	bw_model_set_requires_grad(m, 0);
	bw_free(idx);
	return err;
}
