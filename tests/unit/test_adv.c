/*
 * test_adv.c - unit tests of src/adv: attack defaults and argument checks,
 * the norm, range and success properties of every attack on a small trained
 * model, FGSM against the engine's own input gradient, determinism per seed,
 * no allocation in the steady-state attack loop, adversarial training, exact
 * resumption from optimiser state files (and their refusal when they do not
 * fit), and the .npy / SVG writers. Differential tests against PyTorch are in
 * tests/py/test_adv_torch.py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulwark/adv.h"
#include "core/alloc.h"
#include "harness.h"

#define HW 8
#define PER (HW * HW)

static uint64_t rng_state = 12345;

static float u01(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return (float)((z ^ (z >> 31)) >> 40) * (1.0f / 16777216.0f);
}

/* Two classes: class 1 is brighter on the left half. Separable but not by a wide margin. */
static void make_toy(struct bw_dataset *ds, int n)
{
	int i, j;

	ds->n = n; ds->c = 1; ds->h = HW; ds->w = HW; ds->n_classes = 2;
	ds->x = bw_calloc((size_t)n * PER, sizeof(float));
	ds->y = bw_calloc((size_t)n, sizeof(int32_t));
	for (i = 0; i < n; i++) {
		ds->y[i] = i % 2;
		for (j = 0; j < PER; j++)
			ds->x[(size_t)i * PER + (size_t)j] =
				0.6f * u01() + ((ds->y[i] == 1) == ((j % HW) < HW / 2) ? 0.3f : 0.0f);
	}
}

static void test_cfg(void)
{
	struct bw_adv_cfg c;
	static const struct {
		const char *what;
		int field;
		float v;
	} bad[] = {
		{"negative eps", 0, -0.1f}, {"negative alpha", 1, -1.0f}, {"negative steps", 2, -1},
		{"zero restarts", 3, 0},    {"lo >= hi", 4, 1.0f},         {"NaN eps", 0, NAN},
	};
	size_t i;

	bw_adv_cfg_default(&c, BW_ADV_PGD, BW_ADV_LINF, 0.1f);
	CHECK_EQ_INT(c.steps, 40);
	CHECK(fabsf(c.alpha - 2.5f * 0.1f / 40.0f) < 1e-9f);
	CHECK(c.random_start == 1 && c.restarts == 1 && c.lo == 0.0f && c.hi == 1.0f);
	CHECK(bw_adv_cfg_check(&c) == BW_OK);
	bw_adv_cfg_default(&c, BW_ADV_CW, BW_ADV_LINF, 0.0f);
	CHECK(c.norm == BW_ADV_L2 && c.cw_lr == 0.01f && c.cw_iters == 1000 && c.cw_search == 9 &&
	      c.cw_c0 == 1e-3f && c.cw_kappa == 0.0f);
	CHECK(bw_adv_cfg_check(&c) == BW_OK);
	bw_adv_cfg_fgsm_rs(&c, 0.1f);
	CHECK(c.attack == BW_ADV_PGD && c.steps == 1 && c.random_start && fabsf(c.alpha - 0.125f) < 1e-7f);
	bw_adv_cfg_default(&c, BW_ADV_FGSM, BW_ADV_L2, 0.2f);
	CHECK(c.norm == BW_ADV_LINF && c.random_start == 0);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bw_adv_cfg_default(&c, BW_ADV_PGD, BW_ADV_LINF, 0.1f);
		switch (bad[i].field) {
		case 0: c.eps = bad[i].v; break;
		case 1: c.alpha = bad[i].v; break;
		case 2: c.steps = (int)bad[i].v; break;
		case 3: c.restarts = (int)bad[i].v; break;
		default: c.lo = bad[i].v; break;
		}
		CHECKF(bw_adv_cfg_check(&c) == BW_ERR_ARG, "%s accepted", bad[i].what);
	}
	CHECK(bw_adv_cfg_check(NULL) == BW_ERR_ARG);
	CHECK(bw_adv_attack_from_name("pgd") == BW_ADV_PGD && bw_adv_attack_from_name("x") == 0);
	CHECK_STR(bw_adv_attack_name(BW_ADV_CW), "cw");
}

struct run {
	float *x, *l2, *li;
	int32_t *pc, *pa;
};

static void run_alloc(struct run *r, int n)
{
	r->x = bw_calloc((size_t)n * PER, sizeof(float));
	r->l2 = bw_calloc((size_t)n, sizeof(float));
	r->li = bw_calloc((size_t)n, sizeof(float));
	r->pc = bw_calloc((size_t)n, sizeof(int32_t));
	r->pa = bw_calloc((size_t)n, sizeof(int32_t));
}

static void run_free(struct run *r)
{
	bw_free(r->x); bw_free(r->l2); bw_free(r->li); bw_free(r->pc); bw_free(r->pa);
}

static enum bw_err attack(struct bw_model *m, struct bw_graph *g, struct bw_dataset *ds, int n,
                          const struct bw_adv_cfg *c, const int32_t *targets, struct run *r)
{
	struct bw_adv_out o = {r->x, r->pc, r->pa, r->li, r->l2, 0};

	return bw_adv_run(m, g, ds, n, 16, c, targets, &o, NULL, NULL);
}

static void test_attacks(struct bw_model *m, struct bw_graph *g, struct bw_dataset *ds, int n)
{
	struct {
		const char *name;
		enum bw_adv_attack a;
		enum bw_adv_norm norm;
		float eps;
		int steps, restarts, rs, targeted;
	} tab[] = {
		{"fgsm", BW_ADV_FGSM, BW_ADV_LINF, 0.15f, 1, 1, 0, 0},
		{"pgd-linf", BW_ADV_PGD, BW_ADV_LINF, 0.15f, 10, 1, 1, 0},
		{"pgd-linf restarts", BW_ADV_PGD, BW_ADV_LINF, 0.15f, 5, 3, 1, 0},
		{"pgd-linf no start", BW_ADV_PGD, BW_ADV_LINF, 0.15f, 10, 1, 0, 0},
		{"pgd-l2", BW_ADV_PGD, BW_ADV_L2, 1.2f, 10, 1, 1, 0},
		{"pgd-linf targeted", BW_ADV_PGD, BW_ADV_LINF, 0.15f, 10, 1, 1, 1},
		{"pgd-l2 restarts", BW_ADV_PGD, BW_ADV_L2, 1.2f, 5, 3, 1, 0},
		{"pgd-l2 targeted", BW_ADV_PGD, BW_ADV_L2, 1.2f, 10, 1, 1, 1},
		{"pgd-l2 targeted restarts", BW_ADV_PGD, BW_ADV_L2, 1.2f, 5, 2, 1, 1},
		{"cw", BW_ADV_CW, BW_ADV_L2, 0.0f, 0, 1, 0, 0},
		{"cw targeted", BW_ADV_CW, BW_ADV_L2, 0.0f, 0, 1, 0, 1},
	};
	struct run r;
	int32_t *tg = bw_calloc((size_t)n, sizeof(int32_t));
	size_t t;
	int i, clean = 0, fgsm_ok = -1, pgd_ok = -1;
	float *ig = bw_calloc((size_t)n * PER, sizeof(float));

	run_alloc(&r, n);
	for (i = 0; i < n; i++)
		tg[i] = 1 - ds->y[i];
	for (t = 0; t < sizeof tab / sizeof tab[0]; t++) {
		struct bw_adv_cfg c;
		int ok = 0, hit = 0, inrange = 1, inball = 1;

		bw_adv_cfg_default(&c, tab[t].a, tab[t].norm, tab[t].eps);
		if (tab[t].a == BW_ADV_PGD) {
			c.steps = tab[t].steps;
			c.alpha = 2.5f * c.eps / (float)c.steps;
			c.restarts = tab[t].restarts;
			c.random_start = tab[t].rs;
		}
		if (tab[t].a == BW_ADV_CW) {
			c.cw_iters = 60;
			c.cw_search = 4;
			c.cw_c0 = 0.1f;
			c.cw_lr = 0.05f;
		}
		c.targeted = tab[t].targeted;
		CHECKF(attack(m, g, ds, n, &c, c.targeted ? tg : NULL, &r) == BW_OK, "%s failed", tab[t].name);
		for (i = 0; i < n * PER; i++)
			inrange &= r.x[i] >= 0.0f && r.x[i] <= 1.0f;
		clean = 0;
		for (i = 0; i < n; i++) {
			clean += r.pc[i] == ds->y[i];
			ok += r.pa[i] == ds->y[i];
			hit += r.pa[i] == tg[i];
			if (tab[t].a != BW_ADV_CW)
				inball &= tab[t].norm == BW_ADV_LINF ? r.li[i] <= tab[t].eps + 1e-6f
				                                     : r.l2[i] <= tab[t].eps * 1.0001f;
		}
		CHECKF(inrange, "%s: an image left [0,1]", tab[t].name);
		CHECKF(inball, "%s: a perturbation left the eps-ball", tab[t].name);
		CHECKF(clean >= n * 8 / 10, "%s: the toy model is too weak (%d/%d)", tab[t].name, clean, n);
		if (tab[t].targeted)
			CHECKF(hit > n / 4 && hit == n - ok, "%s: only %d/%d reached the target", tab[t].name, hit, n);
		else
			CHECKF(ok < clean, "%s: accuracy did not drop (%d -> %d of %d)", tab[t].name, clean, ok, n);
		if (t == 0)
			fgsm_ok = ok;
		if (t == 1)
			pgd_ok = ok;
		if (tab[t].a == BW_ADV_CW) {
			/* an example is either a success with a small L2, or the unchanged image */
			int same = 1;

			for (i = 0; i < n; i++) {
				if (r.pa[i] == ds->y[i] && r.pc[i] == ds->y[i])
					same &= r.l2[i] == 0.0f;
			}
			CHECKF(same, "cw: a failed example was changed");
			CHECKF(ok < clean / 2, "cw: success too low (%d -> %d)", clean, ok);
		}
	}
	CHECKF(pgd_ok <= fgsm_ok, "PGD (%d correct) weaker than FGSM (%d)", pgd_ok, fgsm_ok);

	/* CW confidence: every changed example wins by at least kappa on the logits. */
	{
		struct bw_adv_cfg c;
		struct bw_dataset adv = *ds;
		float *lg = bw_calloc((size_t)n * 2, sizeof(float));
		int32_t *pr = bw_calloc((size_t)n, sizeof(int32_t));
		int k = 0, changed = 0, margin_ok = 1;
		const float kappa = 2.0f;

		bw_adv_cfg_default(&c, BW_ADV_CW, BW_ADV_L2, 0.0f);
		c.cw_iters = 80;
		c.cw_search = 4;
		c.cw_c0 = 0.1f;
		c.cw_lr = 0.05f;
		c.cw_kappa = kappa;
		CHECK(attack(m, g, ds, n, &c, NULL, &r) == BW_OK);
		adv.x = r.x;
		CHECK(bw_model_predict(m, g, &adv, n, 16, pr, lg, &k) == BW_OK && k == 2);
		for (i = 0; i < n; i++) {
			int y = ds->y[i];

			if (r.l2[i] == 0.0f)
				continue;
			changed++;
			margin_ok &= lg[2 * i + (1 - y)] - lg[2 * i + y] >= kappa - 1e-3f;
		}
		CHECKF(changed > n / 4, "cw kappa %.1f: only %d/%d examples found", (double)kappa, changed, n);
		CHECKF(margin_ok, "cw kappa %.1f: a returned example wins by less than kappa", (double)kappa);
		bw_free(lg);
		bw_free(pr);
	}

	/*
	 * CW early abort: without it every batch runs cw_search * cw_iters Adam steps;
	 * with it (the default) a search step ends once the loss stops falling, with
	 * fewer steps and the attack still effective.
	 */
	{
		struct bw_adv_cfg c;
		struct bw_adv_out o = {r.x, r.pc, r.pa, r.li, r.l2, 0};
		long long all_steps, early_steps;
		int ok_all = 0, ok_early = 0, clean_n = 0;
		const int batches = (n + 15) / 16;

		bw_adv_cfg_default(&c, BW_ADV_CW, BW_ADV_L2, 0.0f);
		CHECK(c.cw_abort_early == 1);
		c.cw_iters = 200;
		c.cw_search = 3;
		c.cw_c0 = 0.1f;
		c.cw_lr = 0.05f;
		c.cw_abort_early = 0;
		CHECK(bw_adv_run(m, g, ds, n, 16, &c, NULL, &o, NULL, NULL) == BW_OK);
		all_steps = o.cw_steps;
		for (i = 0; i < n; i++) {
			ok_all += r.pa[i] == ds->y[i];
			clean_n += r.pc[i] == ds->y[i];
		}
		c.cw_abort_early = 1;
		CHECK(bw_adv_run(m, g, ds, n, 16, &c, NULL, &o, NULL, NULL) == BW_OK);
		early_steps = o.cw_steps;
		for (i = 0; i < n; i++)
			ok_early += r.pa[i] == ds->y[i];
		CHECKF(all_steps == (long long)batches * 3 * 200, "cw without abort: %lld steps", all_steps);
		CHECKF(early_steps > 0 && early_steps < all_steps, "cw early abort: %lld of %lld steps",
		       early_steps, all_steps);
		CHECKF(ok_early < clean_n / 2 && ok_all < clean_n / 2,
		       "cw: accuracy under attack %d (early abort) / %d (none) of %d clean", ok_early, ok_all,
		       clean_n);
		fprintf(stderr, "cw early abort: %lld of %lld Adam steps, %d vs %d still correct\n",
		        early_steps, all_steps, ok_early, ok_all);
		c.cw_abort_early = 2;
		CHECK(bw_adv_cfg_check(&c) == BW_ERR_ARG);
	}

	/* FGSM equals x + eps * sign of the engine's own input gradient */
	{
		struct bw_adv_cfg c;
		float loss;
		int same = 1;

		bw_adv_cfg_default(&c, BW_ADV_FGSM, BW_ADV_LINF, 0.1f);
		CHECK(attack(m, g, ds, 16, &c, NULL, &r) == BW_OK);
		CHECK(bw_model_loss_grads(m, g, ds, 16, 0, &loss, ig) == BW_OK);
		bw_model_set_requires_grad(m, 0);
		for (i = 0; i < 16 * PER; i++) {
			float s = ig[i] > 0 ? 1.0f : ig[i] < 0 ? -1.0f : 0.0f;
			float v = ds->x[i] + 0.1f * s;

			v = v < 0 ? 0 : v > 1 ? 1 : v;
			same &= fabsf(v - r.x[i]) <= 1e-6f;
		}
		CHECKF(same, "FGSM differs from sign(input gradient)");
	}
	bw_free(ig);
	bw_free(tg);
	run_free(&r);
}

static void test_determinism(struct bw_model *m, struct bw_graph *g, struct bw_dataset *ds, int n)
{
	struct run a, b;
	struct bw_adv_cfg c;

	run_alloc(&a, n);
	run_alloc(&b, n);
	bw_adv_cfg_default(&c, BW_ADV_PGD, BW_ADV_LINF, 0.1f);
	c.steps = 3;
	c.seed = 7;
	CHECK(attack(m, g, ds, n, &c, NULL, &a) == BW_OK);
	CHECK(attack(m, g, ds, n, &c, NULL, &b) == BW_OK);
	CHECK(memcmp(a.x, b.x, sizeof(float) * (size_t)n * PER) == 0);
	c.seed = 8;
	CHECK(attack(m, g, ds, n, &c, NULL, &b) == BW_OK);
	CHECK(memcmp(a.x, b.x, sizeof(float) * (size_t)n * PER) != 0);
	/* arguments */
	CHECK(attack(m, g, ds, n + 1, &c, NULL, &b) == BW_ERR_ARG);
	c.targeted = 1;
	CHECK(attack(m, g, ds, n, &c, NULL, &b) == BW_ERR_ARG); /* targeted without targets */
	run_free(&a);
	run_free(&b);
}

static void test_steady_state(struct bw_model *m, struct bw_graph *g, struct bw_dataset *ds)
{
	struct bw_adv *a = NULL;
	struct bw_adv_cfg c;
	float *xa = bw_calloc(16 * PER, sizeof(float));
	int32_t pred[16];
	uint64_t allocs;
	size_t bytes;
	int i;

	CHECK(bw_adv_new(16, 1, HW, HW, 2, &a) == BW_OK);
	bw_adv_free(a);
	CHECK(bw_adv_new(0, 1, HW, HW, 2, &a) == BW_ERR_ARG && a == NULL);
	CHECK(bw_adv_new(16, 1, HW, HW, 1, &a) == BW_ERR_ARG && a == NULL);
	CHECK(bw_adv_new(16, 1, HW, HW, 2, &a) == BW_OK);
	bw_adv_cfg_default(&c, BW_ADV_PGD, BW_ADV_LINF, 0.1f);
	c.steps = 2;
	CHECK(bw_adv_batch(a, m, g, &c, ds->x, ds->y, 16, xa, pred) == BW_OK);
	allocs = bw_graph_n_allocs(g);
	bytes = bw_graph_arena_bytes(g);
	for (i = 0; i < 3; i++)
		CHECK(bw_adv_batch(a, m, g, &c, ds->x, ds->y, 16, xa, pred) == BW_OK);
	CHECKF(bw_graph_n_allocs(g) == allocs, "attack loop allocated: %llu -> %llu",
	       (unsigned long long)allocs, (unsigned long long)bw_graph_n_allocs(g));
	CHECK(bw_graph_arena_bytes(g) == bytes);
	CHECK(bw_adv_batch(a, m, g, &c, ds->x, ds->y, 17, xa, pred) == BW_ERR_ARG);
	{
		int32_t badlab[16] = {5};

		CHECK(bw_adv_batch(a, m, g, &c, ds->x, badlab, 16, xa, pred) == BW_ERR_ARG);
	}
	bw_adv_free(a);
	bw_free(xa);
}

static double pgd_acc(struct bw_model *m, struct bw_graph *g, struct bw_dataset *ds, int n, float eps)
{
	struct run r;
	struct bw_adv_cfg c;
	int i, ok = 0;

	run_alloc(&r, n);
	bw_adv_cfg_default(&c, BW_ADV_PGD, BW_ADV_LINF, eps);
	c.steps = 10;
	c.alpha = 2.5f * eps / 10.0f;
	if (attack(m, g, ds, n, &c, NULL, &r) != BW_OK)
		ok = -1;
	for (i = 0; ok >= 0 && i < n; i++)
		ok += r.pa[i] == ds->y[i];
	run_free(&r);
	return (double)ok / n;
}

static void test_adv_training(struct bw_dataset *ds, int n)
{
	struct bw_model *m = NULL;
	struct bw_optim *o = NULL;
	struct bw_optim_cfg oc;
	struct bw_graph *g = NULL;
	struct bw_adv *a = NULL;
	struct bw_adv_cfg c;
	double loss = 0, acc = 0, before, after, loss0 = 0;
	int ep;

	CHECK(bw_model_builtin("mlp", 1, HW, HW, 2, 5, &m) == BW_OK);
	bw_optim_cfg_default(&oc, BW_OPTIM_ADAM);
	oc.lr = 0.01f;
	CHECK(bw_optim_new(m, &oc, &o) == BW_OK);
	CHECK(bw_graph_new(1, &g) == BW_OK);
	CHECK(bw_adv_new(16, 1, HW, HW, 2, &a) == BW_OK);
	for (ep = 0; ep < 4; ep++)
		CHECK(bw_train_epoch(m, o, g, ds, 0, 16, (uint64_t)ep, NULL, NULL, &loss, &acc) == BW_OK);
	before = pgd_acc(m, g, ds, n, 0.12f);
	bw_adv_cfg_default(&c, BW_ADV_PGD, BW_ADV_LINF, 0.12f);
	c.steps = 5;
	c.alpha = 2.5f * 0.12f / 5.0f;
	bw_optim_free(o);
	oc.lr = 0.002f;
	CHECK(bw_optim_new(m, &oc, &o) == BW_OK);
	for (ep = 0; ep < 10; ep++) {
		CHECK(bw_adv_train_epoch(m, o, g, a, &c, ds, 0, 16, (uint64_t)ep, NULL, NULL, &loss, &acc) ==
		      BW_OK);
		if (ep == 0)
			loss0 = loss;
	}
	after = pgd_acc(m, g, ds, n, 0.12f);
	CHECKF(after > before && after >= 0.98, "PGD training did not raise PGD accuracy: %.3f -> %.3f",
	       before, after);
	CHECKF(loss < 0.7 * loss0, "adversarial loss did not fall: %.4f -> %.4f", loss0, loss);
	bw_adv_cfg_fgsm_rs(&c, 0.15f);
	CHECK(bw_adv_train_epoch(m, o, g, a, &c, ds, 0, 16, 9, NULL, NULL, &loss, &acc) == BW_OK);
	bw_adv_cfg_default(&c, BW_ADV_CW, BW_ADV_L2, 0.12f);
	CHECK(bw_adv_train_epoch(m, o, g, a, &c, ds, 0, 16, 9, NULL, NULL, &loss, &acc) == BW_ERR_ARG);
	bw_adv_free(a);
	bw_graph_free(g);
	bw_optim_free(o);
	bw_model_free(m);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = bw_calloc((size_t)n + 1, 1);
	if (p != NULL && fread(p, 1, (size_t)n, f) != (size_t)n) {
		bw_free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void test_writers(void)
{
	static const struct {
		int ndim, shape[4];
		const char *hdr;
	} npy[] = {
		{1, {6}, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }"},
		{2, {2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
		{4, {1, 1, 2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 3), }"},
	};
	char path[] = "/tmp/bw_test_adv_XXXXXX";
	float v[6] = {0, 0.5f, 1, -1, 2, 3};
	int32_t iv[3] = {1, -2, 3};
	size_t i, len;
	char *p;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	for (i = 0; i < sizeof npy / sizeof npy[0]; i++) {
		size_t hl;

		CHECK(bw_adv_write_npy_f32(path, v, npy[i].ndim, npy[i].shape) == BW_OK);
		p = slurp(path, &len);
		CHECK(p != NULL && memcmp(p, "\x93NUMPY\x01\x00", 8) == 0);
		if (p == NULL)
			continue;
		hl = (size_t)(unsigned char)p[8] | (size_t)(unsigned char)p[9] << 8;
		CHECKF((10 + hl) % 64 == 0 && len == 10 + hl + 6 * 4 && p[10 + hl - 1] == '\n' &&
		       strncmp(p + 10, npy[i].hdr, strlen(npy[i].hdr)) == 0,
		       "npy header %zu: %.80s", i, p + 10);
		CHECK(memcmp(p + 10 + hl, v, sizeof v) == 0);
		bw_free(p);
	}
	{
		int sh[1] = {3};

		CHECK(bw_adv_write_npy_i32(path, iv, 1, sh) == BW_OK);
		p = slurp(path, &len);
		CHECK(p != NULL && strstr(p + 10, "'<i4'") != NULL && len == 128 + 12);
		bw_free(p);
		CHECK(bw_adv_write_npy_f32(path, v, 5, sh) == BW_ERR_ARG);
		CHECK(bw_adv_write_npy_f32("/nonexistent-dir/x.npy", v, 1, sh) == BW_ERR_IO);
	}
	{
		double e[3] = {0, 0.05, 0.1}, acc[3] = {0.9, 0.5, 0.1};
		struct bw_adv_series s = {"a <b> & \"c\"", 3, e, acc, 0};

		CHECK(bw_adv_write_plot_svg(path, "t", 1, &s) == BW_OK);
		p = slurp(path, &len);
		CHECK(p != NULL && strstr(p, "a &lt;b&gt; &amp; &quot;c&quot;") != NULL &&
		      strstr(p, "<b>") == NULL && strstr(p, "</svg>\n") != NULL &&
		      strstr(p, "<polyline") != NULL);
		bw_free(p);
		CHECK(bw_adv_write_plot_svg(path, "t", 0, &s) == BW_ERR_ARG);
	}
	{
		float x[2 * 4] = {0, 1, 0.5f, 0.25f, 0, 0, 0, 0}, xa[2 * 4] = {0.1f, 0.9f, 0.5f, 0.25f};
		int32_t y[2] = {0, 1}, pc[2] = {0, 1}, pa[2] = {1, 1};
		const char *names[2] = {"cat<", "dog"};

		CHECK(bw_adv_write_grid_svg(path, 2, 1, 2, 2, x, xa, y, pc, pa, names, 2) == BW_OK);
		p = slurp(path, &len);
		CHECK(p != NULL && strstr(p, "cat&lt;") != NULL && strstr(p, "fill=\"#ffffff\"") != NULL &&
		      strstr(p, "</svg>") != NULL);
		bw_free(p);
	}
	unlink(path);
}

/* ---- exact resumption: optimiser state files (bw_optim_save / bw_optim_load) ---- */

enum run_kind { RUN_ADAM, RUN_SGD_COSINE, RUN_PGD_ADAM };
#define RES_EPOCHS 4

static void run_cfg_for(enum run_kind k, struct bw_optim_cfg *oc)
{
	bw_optim_cfg_default(oc, k == RUN_SGD_COSINE ? BW_OPTIM_SGD : BW_OPTIM_ADAM);
	oc->lr = k == RUN_SGD_COSINE ? 0.05f : 0.01f;
	oc->weight_decay = k == RUN_SGD_COSINE ? 1e-3f : 0.0f;
	oc->sched = k == RUN_SGD_COSINE ? BW_LR_COSINE : BW_LR_CONST;
	oc->total_epochs = RES_EPOCHS;
}

/* Epochs [from, to) of one training run, as cmd_train does them. */
static void run_epochs(enum run_kind k, struct bw_model *m, struct bw_optim *o, struct bw_graph *g,
                       struct bw_dataset *ds, int from, int to)
{
	struct bw_adv *a = NULL;
	struct bw_adv_cfg c;
	double loss, acc;
	int ep;

	bw_adv_cfg_default(&c, BW_ADV_PGD, BW_ADV_LINF, 0.1f);
	c.steps = 3;
	c.alpha = 2.5f * 0.1f / 3.0f;
	CHECK(bw_adv_new(16, 1, HW, HW, 2, &a) == BW_OK);
	for (ep = from; ep < to; ep++) {
		bw_optim_epoch(o, ep);
		if (k == RUN_PGD_ADAM)
			CHECK(bw_adv_train_epoch(m, o, g, a, &c, ds, 0, 16, 100u + (uint64_t)ep, NULL, NULL,
			                         &loss, &acc) == BW_OK);
		else
			CHECK(bw_train_epoch(m, o, g, ds, 0, 16, 100u + (uint64_t)ep, NULL, NULL, &loss, &acc) ==
			      BW_OK);
	}
	bw_adv_free(a);
}

/* Train RES_EPOCHS straight into `whole`; then stop after `k` epochs, save the model and optimiser
 * state, start again from the files (with load_state 0: from the model file only), finish, save to
 * `resumed`. */
static void train_split(enum run_kind k, struct bw_dataset *ds, const char *dir, int split,
                        int load_state, const char *whole, const char *resumed)
{
	char ck[512], opt[512];
	struct bw_model *m = NULL;
	struct bw_optim *o = NULL;
	struct bw_optim_cfg oc;
	struct bw_graph *g = NULL;
	struct bw_diag d;
	uint64_t rng;
	long long steps;

	snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
	snprintf(opt, sizeof opt, "%s/ck.optim.safetensors", dir);
	run_cfg_for(k, &oc);
	CHECK(bw_model_builtin("mlp", 1, HW, HW, 2, 7, &m) == BW_OK);
	CHECK(bw_optim_new(m, &oc, &o) == BW_OK);
	CHECK(bw_graph_new(11, &g) == BW_OK);
	if (whole != NULL) {
		run_epochs(k, m, o, g, ds, 0, RES_EPOCHS);
		CHECK(bw_model_save(m, whole) == BW_OK);
		goto done;
	}
	run_epochs(k, m, o, g, ds, 0, split);
	CHECK(bw_model_save(m, ck) == BW_OK);
	CHECK(bw_optim_save(o, opt) == BW_OK);
	steps = bw_optim_steps(o);
	CHECK_EQ_INT(steps, split * (ds->n / 16));
	rng = bw_graph_rng_state(g);
	bw_graph_free(g);
	bw_optim_free(o);
	bw_model_free(m);
	g = NULL;
	o = NULL;
	m = NULL;
	/* A new process: everything from the files, a graph made with another seed. */
	bw_diag_clear(&d);
	CHECK(bw_model_load(ck, &m, &d) == BW_OK);
	CHECK(bw_optim_new(m, &oc, &o) == BW_OK);
	CHECK(bw_graph_new(999, &g) == BW_OK);
	if (load_state) {
		CHECKF(bw_optim_load(o, opt, &d) == BW_OK, "bw_optim_load: %s", d.what);
		CHECK_EQ_INT(bw_optim_steps(o), steps);
		bw_graph_set_rng_state(g, rng);
	}
	run_epochs(k, m, o, g, ds, split, RES_EPOCHS);
	CHECK(bw_model_save(m, resumed) == BW_OK);
done:
	bw_graph_free(g);
	bw_optim_free(o);
	bw_model_free(m);
}

static int files_equal(const char *a, const char *b)
{
	size_t la = 0, lb = 0;
	char *pa = slurp(a, &la), *pb = slurp(b, &lb);
	int eq = pa != NULL && pb != NULL && la == lb && memcmp(pa, pb, la) == 0;

	bw_free(pa);
	bw_free(pb);
	return eq;
}

/* Overwrite n bytes at the first occurrence of `what` in the file (same length). */
static int patch_file(const char *path, const char *what, const char *with)
{
	size_t len, i, n = strlen(what);
	char *p = slurp(path, &len);
	FILE *f;
	int r = -1;

	for (i = 0; p != NULL && i + n <= len; i++)
		if (memcmp(p + i, what, n) == 0) {
			memcpy(p + i, with, n);
			f = fopen(path, "wb");
			r = f != NULL && fwrite(p, 1, len, f) == len ? 0 : -1;
			if (f != NULL)
				fclose(f);
			break;
		}
	bw_free(p);
	return r;
}

/* Overwrite float `idx` of the data section (after the 8-byte length and the header). */
static int patch_float(const char *path, size_t idx, float v)
{
	size_t len, hl = 0;
	char *p = slurp(path, &len);
	FILE *f;
	int i, r = -1;

	if (p == NULL || len < 8)
		goto out;
	for (i = 7; i >= 0; i--)
		hl = (hl << 8) | (unsigned char)p[i];
	if (8 + hl + (idx + 1) * sizeof v > len)
		goto out;
	memcpy(p + 8 + hl + idx * sizeof v, &v, sizeof v);
	f = fopen(path, "wb");
	r = f != NULL && fwrite(p, 1, len, f) == len ? 0 : -1;
	if (f != NULL)
		fclose(f);
out:
	bw_free(p);
	return r;
}

/* Every refused state file: a clear reason in d, and the optimiser untouched. */
static void test_optim_load_refusals(const char *dir)
{
	char opt[512], sgd[512], other[512], model[512], before[512], after[512];
	struct bw_model *m = NULL, *m2 = NULL;
	struct bw_optim *o = NULL, *o2 = NULL;
	struct bw_optim_cfg oc;
	struct bw_dataset ds = {0};
	struct bw_graph *g = NULL;
	struct bw_diag d;
	double loss, acc;
	size_t n0;
	int i;
	static const char *const bad_step[] = {"\"bulwark.step\":\"x\"", "\"bulwark.step\":\"-\""};

	snprintf(opt, sizeof opt, "%s/a.optim", dir);
	snprintf(sgd, sizeof sgd, "%s/s.optim", dir);
	snprintf(other, sizeof other, "%s/o.optim", dir);
	snprintf(model, sizeof model, "%s/m.safetensors", dir);
	snprintf(before, sizeof before, "%s/before.optim", dir);
	snprintf(after, sizeof after, "%s/after.optim", dir);
	make_toy(&ds, 32);
	bw_optim_cfg_default(&oc, BW_OPTIM_ADAM);
	CHECK(bw_model_builtin("mlp", 1, HW, HW, 2, 3, &m) == BW_OK);
	CHECK(bw_optim_new(m, &oc, &o) == BW_OK);
	CHECK(bw_graph_new(1, &g) == BW_OK);
	CHECK(bw_train_epoch(m, o, g, &ds, 0, 16, 1, NULL, NULL, &loss, &acc) == BW_OK);
	CHECK(bw_optim_save(o, opt) == BW_OK);
	CHECK(bw_optim_save(o, before) == BW_OK);
	CHECK(bw_model_save(m, model) == BW_OK);
	/* Same kind, same tensor count, other shapes: an mlp for 6x6 images. */
	CHECK(bw_model_builtin("mlp", 1, 6, 6, 2, 3, &m2) == BW_OK);
	CHECK(bw_optim_new(m2, &oc, &o2) == BW_OK);
	CHECK(bw_optim_save(o2, other) == BW_OK);
	bw_optim_free(o2);
	oc.kind = BW_OPTIM_SGD;
	CHECK(bw_optim_new(m2, &oc, &o2) == BW_OK);
	CHECK(bw_optim_save(o2, sgd) == BW_OK);
	bw_optim_free(o2);
	bw_model_free(m2);

	CHECK(bw_optim_load(NULL, opt, NULL) == BW_ERR_ARG && bw_optim_load(o, NULL, NULL) == BW_ERR_ARG);
	CHECK(bw_optim_save(NULL, opt) == BW_ERR_ARG && bw_optim_save(o, NULL) == BW_ERR_ARG);
	bw_diag_clear(&d);
	CHECK(bw_optim_load(o, other, &d) == BW_ERR_MALFORMED);
	CHECKF(strstr(d.what, "shape differs") != NULL, "other shapes: %s", d.what);
	bw_diag_clear(&d);
	CHECK(bw_optim_load(o, sgd, &d) == BW_ERR_MALFORMED);
	CHECKF(strstr(d.what, "is for 'sgd'") != NULL, "other kind: %s", d.what);
	bw_diag_clear(&d);
	CHECK(bw_optim_load(o, model, &d) == BW_ERR_UNSUPPORTED);
	CHECKF(strstr(d.what, "not an optimiser state file") != NULL, "model file: %s", d.what);
	bw_diag_clear(&d);
	CHECK(bw_optim_load(o, "/nonexistent-dir/x.optim", &d) == BW_ERR_NOTFOUND);
	for (i = 0; i < 2; i++) {
		CHECK(bw_optim_save(o, opt) == BW_OK);
		CHECK(patch_file(opt, "\"bulwark.step\":\"2\"", bad_step[i]) == 0);
		bw_diag_clear(&d);
		CHECK(bw_optim_load(o, opt, &d) == BW_ERR_MALFORMED);
		CHECKF(strstr(d.what, "bulwark.step") != NULL, "bad step: %s", d.what);
	}
	n0 = (size_t)bw_model_param(m, 0, NULL)->numel;
	CHECK(bw_optim_save(o, opt) == BW_OK);
	CHECK(patch_float(opt, 5, NAN) == 0); /* exp_avg of the first parameter */
	bw_diag_clear(&d);
	CHECK(bw_optim_load(o, opt, &d) == BW_ERR_MALFORMED);
	CHECKF(strstr(d.what, "non-finite") != NULL, "NaN: %s", d.what);
	CHECK(bw_optim_save(o, opt) == BW_OK);
	CHECK(patch_float(opt, n0 + 5, -1.0f) == 0); /* exp_avg_sq of the first parameter */
	bw_diag_clear(&d);
	CHECK(bw_optim_load(o, opt, &d) == BW_ERR_MALFORMED);
	CHECKF(strstr(d.what, "negative") != NULL, "negative second moment: %s", d.what);
	CHECK(bw_optim_save(o, opt) == BW_OK);
	CHECK(truncate(opt, 100) == 0);
	bw_diag_clear(&d);
	CHECK(bw_optim_load(o, opt, &d) != BW_OK && d.what[0] != '\0');
	/* None of the refusals changed the optimiser. */
	CHECK_EQ_INT(bw_optim_steps(o), 2);
	CHECK(bw_optim_save(o, after) == BW_OK);
	CHECK(files_equal(before, after));
	/* A state file loads back into an optimiser that has taken other steps. */
	CHECK(bw_train_epoch(m, o, g, &ds, 0, 16, 2, NULL, NULL, &loss, &acc) == BW_OK);
	CHECK(bw_optim_load(o, before, &d) == BW_OK && bw_optim_steps(o) == 2);
	CHECK(bw_optim_save(o, after) == BW_OK);
	CHECK(files_equal(before, after));
	bw_graph_free(g);
	bw_optim_free(o);
	bw_model_free(m);
	bw_data_release(&ds);
	remove(opt); remove(sgd); remove(other); remove(model); remove(before); remove(after);
}

static void test_resume(struct bw_dataset *ds)
{
	char dir[] = "/tmp/bw_test_resume_XXXXXX", whole[512], resumed[512];
	struct bw_graph *g = NULL;
	struct bw_tensor *x = NULL, *y1 = NULL, *y2 = NULL;
	struct bw_op_attr at;
	int k, split, shape[2] = {4, 64};
	static const char *const names[] = {"adam", "sgd+cosine", "pgd+adam"};

	CHECK(mkdtemp(dir) != NULL);
	snprintf(whole, sizeof whole, "%s/whole.safetensors", dir);
	snprintf(resumed, sizeof resumed, "%s/resumed.safetensors", dir);
	for (k = RUN_ADAM; k <= RUN_PGD_ADAM; k++) {
		train_split((enum run_kind)k, ds, dir, 0, 1, whole, NULL);
		for (split = 1; split < RES_EPOCHS; split += 2) {
			train_split((enum run_kind)k, ds, dir, split, 1, NULL, resumed);
			CHECKF(files_equal(whole, resumed), "%s: %d epochs, resume, %d more: not byte-identical",
			       names[k], split, RES_EPOCHS - split);
		}
		/* The control: without the optimiser state the resumed run differs. */
		train_split((enum run_kind)k, ds, dir, 1, 0, NULL, resumed);
		CHECKF(!files_equal(whole, resumed), "%s: resuming without the state file changed nothing",
		       names[k]);
	}
	/* The graph generator (dropout masks) restarts where it was set. */
	CHECK(bw_graph_new(5, &g) == BW_OK);
	CHECK(bw_graph_tensor(g, 2, shape, 0, &x) == BW_OK);
	for (k = 0; k < x->numel; k++)
		x->data[k] = 1.0f;
	bw_op_attr_default(&at, BW_OP_DROPOUT);
	bw_graph_set_rng_state(g, 42);
	CHECK(bw_t_unary(g, BW_OP_DROPOUT, x, &at, 1, &y1) == BW_OK);
	CHECK(bw_graph_rng_state(g) != 42);
	bw_graph_set_rng_state(g, 42);
	CHECK(bw_t_unary(g, BW_OP_DROPOUT, x, &at, 1, &y2) == BW_OK);
	CHECK(memcmp(y1->data, y2->data, sizeof(float) * (size_t)x->numel) == 0);
	bw_graph_free(g);
	test_optim_load_refusals(dir);
	remove(whole);
	remove(resumed);
	{
		char p[600];

		snprintf(p, sizeof p, "%s/ck.safetensors", dir);
		remove(p);
		snprintf(p, sizeof p, "%s/ck.optim.safetensors", dir);
		remove(p);
	}
	CHECK(rmdir(dir) == 0);
}


int main(void)
{
	struct bw_dataset ds = {0};
	struct bw_model *m = NULL;
	struct bw_optim *o = NULL;
	struct bw_optim_cfg oc;
	struct bw_graph *g = NULL;
	double loss, acc;
	int ep, n = 64;

	test_cfg();
	test_writers();
	make_toy(&ds, n);
	CHECK(bw_model_builtin("mlp", 1, HW, HW, 2, 3, &m) == BW_OK);
	bw_optim_cfg_default(&oc, BW_OPTIM_ADAM);
	oc.lr = 0.01f;
	CHECK(bw_optim_new(m, &oc, &o) == BW_OK);
	CHECK(bw_graph_new(3, &g) == BW_OK);
	for (ep = 0; ep < 6; ep++)
		CHECK(bw_train_epoch(m, o, g, &ds, 0, 16, (uint64_t)ep, NULL, NULL, &loss, &acc) == BW_OK);
	CHECKF(acc > 0.9, "toy training accuracy %.3f", acc);
	test_attacks(m, g, &ds, n);
	test_determinism(m, g, &ds, n);
	test_steady_state(m, g, &ds);
	test_adv_training(&ds, n);
	test_resume(&ds);
	bw_graph_free(g);
	bw_optim_free(o);
	bw_model_free(m);
	bw_data_release(&ds);
	return bw_test_done();
}
