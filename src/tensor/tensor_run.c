/*
 * tensor/tensor_run.c - loops that run a model over a dataset: a training
 * epoch, batched inference, PGD (the L-infinity attack of Madry et al.,
 * "Towards Deep Learning Models Resistant to Adversarial Attacks", 2018) and
 * the loss gradients used by the differential tests. The graph is reset
 * before every batch, so after the first batch nothing is allocated.
 * Must not: print (the CLI reports progress through the callback).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "core/alloc.h"
#include "tensor/blas.h"
#include "tensor/dnnl.h"
#include "tensor/tensor_int.h"

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_once_init(void)
{
	/* The engine splits batches between its own threads (tensor_par.c); OpenBLAS
	 * threads inside them would only oversubscribe the cores. Loading OpenBLAS
	 * (tensor_blas.c) happens here, on the first use of the engine. */
	bw_blas_set_num_threads(1);
}

void bw_tensor_blas_init(void)
{
	pthread_once(&blas_once, blas_once_init);
}

const char *bw_tensor_blas_core(void)
{
	bw_tensor_blas_init();
	return bw_blas_corename();
}

const char *bw_tensor_conv_backend(void)
{
	return bw_dnnl_describe();
}

void bw_tensor_set_threads(int n)
{
	bw_tensor_blas_init();
	bw_t_set_threads(n);
}

static enum bw_err batch_input(struct bw_graph *g, const struct bw_dataset *ds, const int *idx,
                               int start, int nb, struct bw_tensor **x, int32_t **labels)
{
	int shape[4], i;
	size_t per = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;

	shape[0] = nb; shape[1] = ds->c; shape[2] = ds->h; shape[3] = ds->w;
	*x = bw_g_tensor(g, 4, shape, 0);
	*labels = bw_g_alloc(g, sizeof(int32_t) * (size_t)nb, 0);
	if (*x == NULL || *labels == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < nb; i++) {
		int k = idx != NULL ? idx[start + i] : start + i;

		memcpy((*x)->data + (size_t)i * per, ds->x + (size_t)k * per, sizeof(float) * per);
		(*labels)[i] = ds->y[k];
	}
	return BW_OK;
}

static int argmax_row(const float *p, int k)
{
	int j, b = 0;

	for (j = 1; j < k; j++)
		if (p[j] > p[b])
			b = j;
	return b;
}

static int check_ds(const struct bw_model *m, const struct bw_dataset *ds, int n, int batch)
{
	if (ds == NULL || ds->x == NULL || n < 1 || n > ds->n || batch < 1)
		return -1;
	if (m->in_c != 0 && (m->in_c != ds->c || m->in_h != ds->h || m->in_w != ds->w))
		return -1;
	return m->n_inputs == 1 ? 0 : -1;
}

enum bw_err bw_train_epoch(struct bw_model *m, struct bw_optim *o, struct bw_graph *g,
                           const struct bw_dataset *ds, int limit, int batch, uint64_t seed,
                           bw_train_progress_fn progress, void *ctx, double *out_loss,
                           double *out_acc)
{
	int n = limit > 0 && limit < ds->n ? limit : ds->n;
	int *idx = NULL, i, start, correct = 0;
	double loss_sum = 0.0;
	uint64_t s = seed;
	enum bw_err err = BW_OK;

	*out_loss = 0.0;
	*out_acc = 0.0;
	if (check_ds(m, ds, n, batch) != 0)
		return BW_ERR_ARG;
	idx = bw_calloc((size_t)n, sizeof *idx);
	if (idx == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = n - 1; i > 0; i--) { /* Fisher-Yates */
		int j = (int)(bw_splitmix64(&s) % (uint64_t)(i + 1)), t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	bw_model_set_requires_grad(m, 1);
	for (start = 0; start < n; start += batch) {
		int nb = n - start < batch ? n - start : batch;
		struct bw_tensor *x, *logits, *loss;
		int32_t *lab;

		if (nb < 2 && start > 0)
			break; /* a 1-image batch breaks batch norm statistics; PyTorch drop_last-like */
		bw_graph_reset(g);
		err = batch_input(g, ds, idx, start, nb, &x, &lab);
		if (err == BW_OK)
			err = bw_model_forward(m, g, 1, &x, 1, &logits);
		if (err == BW_OK)
			err = bw_t_cross_entropy(g, logits, lab, &loss);
		if (err != BW_OK)
			goto out;
		bw_optim_zero_grad(o);
		err = bw_graph_backward(g, loss, NULL);
		if (err != BW_OK)
			goto out;
		bw_optim_step(o);
		loss_sum += (double)loss->data[0] * nb;
		for (i = 0; i < nb; i++)
			correct += argmax_row(logits->data + (size_t)i * (size_t)logits->shape[1],
			                      logits->shape[1]) == lab[i];
		if (progress != NULL)
			progress(ctx, start + nb, n, loss_sum / (start + nb), (double)correct / (start + nb));
	}
	*out_loss = loss_sum / n;
	*out_acc = (double)correct / n;
out:
	bw_free(idx);
	return err;
}

enum bw_err bw_model_predict(struct bw_model *m, struct bw_graph *g, const struct bw_dataset *ds,
                             int n, int batch, int32_t *pred, float *logits, int *n_classes)
{
	int start, i;
	enum bw_err err;

	if (check_ds(m, ds, n, batch) != 0 || pred == NULL)
		return BW_ERR_ARG;
	bw_model_set_requires_grad(m, 0);
	for (start = 0; start < n; start += batch) {
		int nb = n - start < batch ? n - start : batch, k;
		struct bw_tensor *x, *y;
		int32_t *lab;

		bw_graph_reset(g);
		err = batch_input(g, ds, NULL, start, nb, &x, &lab);
		if (err == BW_OK)
			err = bw_model_forward(m, g, 1, &x, 0, &y);
		if (err != BW_OK)
			return err;
		if (y->ndim < 2 || y->shape[0] != nb)
			return BW_ERR_ARG;
		k = y->numel / nb;
		if (n_classes != NULL)
			*n_classes = k;
		for (i = 0; i < nb; i++)
			pred[start + i] = argmax_row(y->data + (size_t)i * (size_t)k, k);
		if (logits != NULL)
			memcpy(logits + (size_t)start * (size_t)k, y->data, sizeof(float) * (size_t)y->numel);
	}
	return BW_OK;
}

enum bw_err bw_model_pgd(struct bw_model *m, struct bw_graph *g, const struct bw_dataset *ds,
                         int n, int batch, float eps, float alpha, int steps, int random_start,
                         uint64_t seed, int32_t *pred)
{
	size_t per;
	int start, i, s;
	uint64_t rng = seed;
	float *xadv = NULL;
	enum bw_err err = BW_OK;

	if (check_ds(m, ds, n, batch) != 0 || pred == NULL || eps < 0.0f || alpha < 0.0f || steps < 0)
		return BW_ERR_ARG;
	per = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
	xadv = bw_calloc((size_t)batch * per, sizeof(float));
	if (xadv == NULL)
		return BW_ERR_NOMEM;
	bw_model_set_requires_grad(m, 0);
	for (start = 0; start < n; start += batch) {
		int nb = n - start < batch ? n - start : batch, k;
		const float *x0 = ds->x + (size_t)start * per;
		size_t tot = (size_t)nb * per, j;

		for (j = 0; j < tot; j++) {
			float v = x0[j];

			if (random_start)
				v += (2.0f * bw_u01(&rng) - 1.0f) * eps;
			xadv[j] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
		}
		for (s = 0; s <= steps; s++) {
			struct bw_tensor *x, *y, *loss;
			int32_t *lab;

			bw_graph_reset(g);
			err = batch_input(g, ds, NULL, start, nb, &x, &lab);
			if (err != BW_OK)
				goto out;
			memcpy(x->data, xadv, sizeof(float) * tot);
			if (s == steps) { /* final evaluation */
				err = bw_model_forward(m, g, 1, &x, 0, &y);
				if (err != BW_OK)
					goto out;
				k = y->numel / nb;
				for (i = 0; i < nb; i++)
					pred[start + i] = argmax_row(y->data + (size_t)i * (size_t)k, k);
				break;
			}
			x->flags |= BW_T_REQ_GRAD;
			err = bw_model_forward(m, g, 1, &x, 0, &y);
			if (err == BW_OK)
				err = bw_t_cross_entropy(g, y, lab, &loss);
			if (err == BW_OK)
				err = bw_graph_backward(g, loss, NULL);
			if (err != BW_OK)
				goto out;
			for (j = 0; j < tot; j++) {
				float gv = x->grad != NULL ? x->grad[j] : 0.0f, v = xadv[j];
				float lo = x0[j] - eps, hi = x0[j] + eps;

				v += gv > 0.0f ? alpha : gv < 0.0f ? -alpha : 0.0f;
				v = v < lo ? lo : v > hi ? hi : v;
				xadv[j] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
			}
		}
	}
out:
	bw_free(xadv);
	return err;
}

enum bw_err bw_model_loss_grads(struct bw_model *m, struct bw_graph *g,
                                const struct bw_dataset *ds, int n, int training, float *loss_out,
                                float *input_grad)
{
	struct bw_tensor *x, *y, *loss;
	int32_t *lab;
	enum bw_err err;
	int i;

	if (check_ds(m, ds, n, n) != 0)
		return BW_ERR_ARG;
	bw_model_set_requires_grad(m, 1);
	for (i = 0; i < m->n_params; i++)
		memset(m->params[i].t.grad, 0, sizeof(float) * (size_t)m->params[i].t.numel);
	bw_graph_reset(g);
	err = batch_input(g, ds, NULL, 0, n, &x, &lab);
	if (err != BW_OK)
		return err;
	x->flags |= BW_T_REQ_GRAD;
	err = bw_model_forward(m, g, 1, &x, training, &y);
	if (err == BW_OK)
		err = bw_t_cross_entropy(g, y, lab, &loss);
	if (err == BW_OK)
		err = bw_graph_backward(g, loss, NULL);
	if (err != BW_OK)
		return err;
	if (loss_out != NULL)
		*loss_out = loss->data[0];
	if (input_grad != NULL) {
		if (x->grad != NULL)
			memcpy(input_grad, x->grad, sizeof(float) * (size_t)x->numel);
		else
			memset(input_grad, 0, sizeof(float) * (size_t)x->numel);
	}
	return BW_OK;
}
