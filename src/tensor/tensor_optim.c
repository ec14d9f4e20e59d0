/*
 * tensor/tensor_optim.c - SGD with momentum and Adam, both with L2 weight
 * decay added to the gradient (PyTorch's torch.optim.SGD/Adam semantics),
 * and a per-epoch learning-rate schedule (constant, step, cosine).
 * Optimiser state is allocated once in bw_optim_new; steps allocate nothing.
 */
#include <math.h>
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

void bw_optim_free(struct bw_optim *o)
{
	bw_free(o);
}
