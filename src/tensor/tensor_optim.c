/*
 * tensor/tensor_optim.c - SGD with momentum and Adam, both with L2 weight
 * decay added to the gradient (PyTorch's torch.optim.SGD/Adam semantics),
 * and a per-epoch learning-rate schedule (constant, step, cosine).
 * Optimiser state is allocated once in bw_optim_new; steps allocate nothing.
 * bw_optim_save/bw_optim_load keep that state (and the step count Adam's bias
 * correction needs) in a safetensors file beside a checkpoint, so a resumed
 * run continues exactly where the interrupted one stopped.
 * Must not: accept a state file that does not fit the model parameter for
 * parameter, or change the optimiser when loading fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "core/alloc.h"
#include "tensor/tensor_int.h"

struct bw_optim {
	struct bw_model *m;
	struct bw_optim_cfg cfg;
	float lr;
	long long t;
};

void bw_optim_cfg_default(struct bw_optim_cfg *c, enum bw_optim_kind kind)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->lr = kind == BW_OPTIM_ADAM ? 1e-3f : 0.01f;
	c->momentum = 0.9f;
	c->beta1 = 0.9f;
	c->beta2 = 0.999f;
	c->eps = 1e-8f;
	c->sched = BW_LR_CONST;
	c->step_every = 1;
	c->step_gamma = 0.1f;
	c->total_epochs = 1;
}

enum bw_err bw_optim_new(struct bw_model *m, const struct bw_optim_cfg *c, struct bw_optim **out)
{
	struct bw_optim *o;
	int i;

	*out = NULL;
	if (m == NULL || c == NULL || (c->kind != BW_OPTIM_SGD && c->kind != BW_OPTIM_ADAM) ||
	    !(c->lr > 0.0f) || c->momentum < 0.0f || c->weight_decay < 0.0f)
		return BW_ERR_ARG;
	o = bw_calloc(1, sizeof *o);
	if (o == NULL)
		return BW_ERR_NOMEM;
	o->m = m;
	o->cfg = *c;
	o->lr = c->lr;
	for (i = 0; i < m->n_params; i++) {
		struct bw_param *p = &m->params[i];
		size_t n = p->t.numel == 0 ? 1 : (size_t)p->t.numel;

		if (!p->trainable)
			continue;
		if (p->state1 == NULL)
			p->state1 = bw_calloc(n, sizeof(float));
		if (c->kind == BW_OPTIM_ADAM && p->state2 == NULL)
			p->state2 = bw_calloc(n, sizeof(float));
		if (p->state1 == NULL || (c->kind == BW_OPTIM_ADAM && p->state2 == NULL)) {
			bw_free(o);
			return BW_ERR_NOMEM;
		}
		/* Buffers left by an earlier optimiser on this model: a new one starts at zero, as
		 * a new torch.optim object does. */
		memset(p->state1, 0, n * sizeof(float));
		if (p->state2 != NULL)
			memset(p->state2, 0, n * sizeof(float));
	}
	*out = o;
	return BW_OK;
}

void bw_optim_zero_grad(struct bw_optim *o)
{
	int i;

	for (i = 0; i < o->m->n_params; i++)
		memset(o->m->params[i].t.grad, 0, sizeof(float) * (size_t)o->m->params[i].t.numel);
}

void bw_optim_step(struct bw_optim *o)
{
	const struct bw_optim_cfg *c = &o->cfg;
	float bc1 = 1.0f, bc2 = 1.0f;
	int i, j;

	o->t++;
	if (c->kind == BW_OPTIM_ADAM) {
		bc1 = 1.0f - powf(c->beta1, (float)o->t);
		bc2 = 1.0f - powf(c->beta2, (float)o->t);
	}
	for (i = 0; i < o->m->n_params; i++) {
		struct bw_param *p = &o->m->params[i];
		float *w = p->t.data, *gr = p->t.grad, *s1 = p->state1, *s2 = p->state2;

		if (!p->trainable || s1 == NULL)
			continue;
		if (c->kind == BW_OPTIM_SGD) {
			for (j = 0; j < p->t.numel; j++) {
				float gv = gr[j] + c->weight_decay * w[j];

				/* PyTorch: the first step initialises the buffer with the gradient. */
				s1[j] = o->t == 1 ? gv : c->momentum * s1[j] + gv;
				w[j] -= o->lr * (c->momentum > 0.0f ? s1[j] : gv);
			}
		} else {
			float sbc2 = sqrtf(bc2);

			j = 0;
#if defined(__SSE2__)
			{
				/* The same operations in the same order, four lanes at a time. */
				const __m128 b1 = _mm_set1_ps(c->beta1), b2 = _mm_set1_ps(c->beta2);
				const __m128 ob1 = _mm_set1_ps(1.0f - c->beta1), ob2 = _mm_set1_ps(1.0f - c->beta2);
				const __m128 wd = _mm_set1_ps(c->weight_decay), step = _mm_set1_ps(o->lr / bc1);
				const __m128 sb = _mm_set1_ps(sbc2), ep = _mm_set1_ps(c->eps);

				for (; j + 4 <= p->t.numel; j += 4) {
					__m128 wv = _mm_loadu_ps(w + j);
					__m128 gv = _mm_add_ps(_mm_loadu_ps(gr + j), _mm_mul_ps(wd, wv));
					__m128 m1 = _mm_add_ps(_mm_mul_ps(b1, _mm_loadu_ps(s1 + j)), _mm_mul_ps(ob1, gv));
					__m128 m2 = _mm_add_ps(_mm_mul_ps(b2, _mm_loadu_ps(s2 + j)),
					                       _mm_mul_ps(_mm_mul_ps(ob2, gv), gv));
					__m128 den = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(m2), sb), ep);

					_mm_storeu_ps(s1 + j, m1);
					_mm_storeu_ps(s2 + j, m2);
					_mm_storeu_ps(w + j, _mm_sub_ps(wv, _mm_div_ps(_mm_mul_ps(step, m1), den)));
				}
			}
#endif
			for (; j < p->t.numel; j++) {
				float gv = gr[j] + c->weight_decay * w[j];

				s1[j] = c->beta1 * s1[j] + (1.0f - c->beta1) * gv;
				s2[j] = c->beta2 * s2[j] + (1.0f - c->beta2) * gv * gv;
				w[j] -= o->lr / bc1 * s1[j] / (sqrtf(s2[j]) / sbc2 + c->eps);
			}
		}
	}
}

void bw_optim_epoch(struct bw_optim *o, int epoch)
{
	const struct bw_optim_cfg *c = &o->cfg;

	switch (c->sched) {
	case BW_LR_STEP:
		o->lr = c->lr * powf(c->step_gamma, (float)(epoch / (c->step_every > 0 ? c->step_every : 1)));
		break;
	case BW_LR_COSINE: {
		int tot = c->total_epochs > 0 ? c->total_epochs : 1;

		o->lr = c->lr * 0.5f * (1.0f + cosf(3.14159265f * (float)epoch / (float)tot));
		break;
	}
	default:
		o->lr = c->lr;
		break;
	}
}

float bw_optim_lr(const struct bw_optim *o)
{
	return o->lr;
}

long long bw_optim_steps(const struct bw_optim *o)
{
	return o->t;
}

/* ---- state files ---- */

#define OPT_MAX_STEP 1000000000000000LL /* 1e15 updates: far past any real run */
#define OPT_NAME_MAX 300

static const char *kind_name(enum bw_optim_kind k)
{
	return k == BW_OPTIM_ADAM ? "adam" : "sgd";
}

/* Buffers of one kind, in PyTorch's state_dict names: SGD momentum_buffer, Adam exp_avg and exp_avg_sq. */
static int n_bufs(enum bw_optim_kind k)
{
	return k == BW_OPTIM_ADAM ? 2 : 1;
}

static const char *buf_name(enum bw_optim_kind k, int b)
{
	return k == BW_OPTIM_ADAM ? (b == 0 ? "exp_avg" : "exp_avg_sq") : "momentum_buffer";
}

/* Count of the file's tensors: one per buffer of every trainable parameter. */
static int n_items(const struct bw_optim *o)
{
	int i, n = 0;

	for (i = 0; i < o->m->n_params; i++)
		n += o->m->params[i].trainable ? n_bufs(o->cfg.kind) : 0;
	return n;
}

/* "<buffer>/<parameter>" into a names table of OPT_NAME_MAX-byte rows; -1 when too long. */
static int item_name(char *dst, enum bw_optim_kind k, int b, const char *param)
{
	int r = snprintf(dst, OPT_NAME_MAX, "%s/%s", buf_name(k, b), param);

	return r < 0 || r >= OPT_NAME_MAX ? -1 : 0;
}

enum bw_err bw_optim_save(const struct bw_optim *o, const char *path)
{
	struct bw_st_item *it = NULL;
	char *names = NULL, step[32];
	const char *meta[6];
	enum bw_err err = BW_ERR_NOMEM;
	int i, b, k = 0, n;

	if (o == NULL || path == NULL)
		return BW_ERR_ARG;
	n = n_items(o);
	it = bw_calloc((size_t)n + 1, sizeof *it);
	names = bw_calloc((size_t)n + 1, OPT_NAME_MAX);
	if (it == NULL || names == NULL)
		goto out;
	for (i = 0; i < o->m->n_params; i++) {
		const struct bw_param *p = &o->m->params[i];

		if (!p->trainable)
			continue;
		for (b = 0; b < n_bufs(o->cfg.kind); b++, k++) {
			if (item_name(names + (size_t)k * OPT_NAME_MAX, o->cfg.kind, b, p->name) != 0) {
				err = BW_ERR_UNSUPPORTED;
				goto out;
			}
			it[k].name = names + (size_t)k * OPT_NAME_MAX;
			it[k].shape = &p->t;
			it[k].data = b == 0 ? p->state1 : p->state2;
		}
	}
	snprintf(step, sizeof step, "%lld", o->t);
	meta[0] = "bulwark.content";
	meta[1] = "optimizer";
	meta[2] = "bulwark.optim";
	meta[3] = kind_name(o->cfg.kind);
	meta[4] = "bulwark.step";
	meta[5] = step;
	err = bw_st_write(path, 3, meta, n, it);
out:
	bw_free(it);
	bw_free(names);
	return err;
}

/* A decimal step count: digits only, no sign or spaces, at most OPT_MAX_STEP. */
static int parse_step(const char *s, long long *out)
{
	long long v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 16)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > OPT_MAX_STEP)
		return -1;
	*out = v;
	return 0;
}

/* Moments are finite; Adam's second moment (a mean of squares) is also never negative. */
static int check_values(const float *v, int n, int nonneg)
{
	int i;

	for (i = 0; i < n; i++)
		if (!isfinite(v[i]) || (nonneg && v[i] < 0.0f))
			return -1;
	return 0;
}

enum bw_err bw_optim_load(struct bw_optim *o, const char *path, struct bw_diag *d)
{
	struct bw_st *s = NULL;
	const char *content, *kind;
	char name[OPT_NAME_MAX];
	float *stage = NULL;
	size_t total = 0, off = 0;
	long long step = 0;
	enum bw_err err;
	int i, b;

	if (o == NULL || path == NULL)
		return BW_ERR_ARG;
	err = bw_st_open(path, &s, d);
	if (err != BW_OK)
		return err;
	content = bw_st_meta(s, "bulwark.content");
	kind = bw_st_meta(s, "bulwark.optim");
	if (content == NULL || strcmp(content, "optimizer") != 0) {
		err = bw_diag_set(d, BW_ERR_UNSUPPORTED, 8,
		                  "no __metadata__[\"bulwark.content\"] \"optimizer\": not an optimiser state file");
		goto out;
	}
	if (kind == NULL || strcmp(kind, kind_name(o->cfg.kind)) != 0) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 8, "optimiser state is for '%.16s', this optimiser is %s",
		                  kind != NULL ? kind : "(none)", kind_name(o->cfg.kind));
		goto out;
	}
	if (parse_step(bw_st_meta(s, "bulwark.step"), &step) != 0) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 8,
		                  "__metadata__[\"bulwark.step\"] is not a step count in [0, 1e15]");
		goto out;
	}
	if (bw_st_n_tensors(s) != (size_t)n_items(o)) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 8,
		                  "optimiser state holds %zu tensors, the model's trainable parameters need %d",
		                  bw_st_n_tensors(s), n_items(o));
		goto out;
	}
	/* Stage everything first: o stays as it was unless the whole file fits. */
	for (i = 0; i < o->m->n_params; i++)
		if (o->m->params[i].trainable)
			total += (size_t)n_bufs(o->cfg.kind) * (size_t)o->m->params[i].t.numel;
	stage = bw_calloc(total + 1, sizeof(float));
	if (stage == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < o->m->n_params && err == BW_OK; i++) {
		const struct bw_param *p = &o->m->params[i];

		if (!p->trainable)
			continue;
		for (b = 0; b < n_bufs(o->cfg.kind) && err == BW_OK; b++) {
			if (item_name(name, o->cfg.kind, b, p->name) != 0) {
				err = bw_diag_set(d, BW_ERR_UNSUPPORTED, 8, "parameter name '%.64s' too long", p->name);
				break;
			}
			err = bw_st_read_f32(s, name, &p->t, stage + off, d);
			if (err == BW_OK && check_values(stage + off, p->t.numel, b == 1) != 0)
				err = bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor '%.64s' holds %s", name,
				                  b == 1 ? "a negative or non-finite value" : "a non-finite value");
			off += (size_t)p->t.numel;
		}
	}
	if (err == BW_OK)
		err = bw_st_check_overlap(s, d);
	if (err != BW_OK)
		goto out;
	off = 0;
	for (i = 0; i < o->m->n_params; i++) {
		struct bw_param *p = &o->m->params[i];
		size_t nb = sizeof(float) * (size_t)p->t.numel;

		if (!p->trainable)
			continue;
		memcpy(p->state1, stage + off, nb);
		off += (size_t)p->t.numel;
		if (n_bufs(o->cfg.kind) == 2) {
			memcpy(p->state2, stage + off, nb);
			off += (size_t)p->t.numel;
		}
	}
	o->t = step;
out:
	bw_free(stage);
	bw_st_close(s);
	return err;
}

void bw_optim_free(struct bw_optim *o)
{
	bw_free(o);
}
