/*
 * tensor/tensor_dnnl.c - convolutions through oneDNN (tensor/dnnl.h), loaded
 * with dlopen on first use; <dnnl.h> is included for its types only.
 *
 * Why: on the Madry CNN's convolutions oneDNN's JIT kernels on blocked layouts
 * (nChw16c, weights OIhw16i16o) do the forward, backward-data and
 * backward-weights passes in about half the CPU time of the engine's lowering
 * + sgemm, reorders to and from NCHW included (bench/conv_dnnl_probe.c,
 * docs/tensor.md). The engine keeps NCHW everywhere else, so each call
 * reorders its inputs into oneDNN's preferred layouts and its results back.
 *
 * Threads: Debian's libdnnl2 is built with the OpenMP runtime (libgomp). The
 * engine already splits batches between its own fork-join workers, so oneDNN
 * runs with an OpenMP team of one inside each worker on that worker's images:
 * one thread pool, no spinning OpenMP threads competing with the engine's
 * workers on a shared machine (measured: OpenMP's own 2-thread runs with its
 * default spinning wait used 1.8-11x the CPU time of the split).
 * OMP_NUM_THREADS=1 is set before loading unless the user set it; a worker
 * that still sees more threads sets one for itself.
 *
 * Reuse: primitives, reorders and memory objects are built once per shape
 * (batch share, geometry, bias, ReLU, which gradients) and kept in a small
 * process-wide cache; intermediate blocked buffers and oneDNN's scratchpad
 * (user-managed) live in the graph's scratch, so a steady-state training loop
 * allocates nothing new. Weight and bias gradients are computed per worker and
 * added in worker order (same bits for a given thread count).
 * Must not: be used when the library cannot be loaded (callers fall back), or
 * write any output before every primitive of a call exists.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dnnl.h"
#include "tensor/tensor_int.h"

#ifdef BW_DNNL_SONAME
#include <dnnl.h>

#define DN_WORKERS 16
#define DN_CACHE 128
#define DN_BUFS 16
#define DN_STEPS 10
#define DN_ARGS 6

/* User pointers a call passes (per worker: its share of the batch). */
enum { U_X, U_W, U_B, U_Y, U_GY, U_DX, U_N };

struct dn_key {
	int bwd, nb, c, h, w, oc, kh, kw, oh, ow, sh, sw, pt, pl, pb, pr, dh, dw, groups;
	int bias, relu, want_dx, want_dw, want_db;
};

/* A buffer: a user pointer (user >= 0) or `off` floats into the worker's scratch. */
struct dn_buf {
	dnnl_memory_desc_t md;
	int user;
	size_t off;
};

struct dn_step {
	dnnl_primitive_t p;
	int n;
	int arg[DN_ARGS];
	int buf[DN_ARGS];
};

struct dn_ent {
	struct dn_key k;
	int used, ok;
	unsigned long stamp;
	int n_buf, n_step;
	struct dn_buf buf[DN_BUFS];
	struct dn_step step[DN_STEPS];
	size_t scr;                               /* scratch floats per worker */
	int b_dw, b_db;                           /* per-worker dW / db buffers (backward) */
	dnnl_memory_t mem[DN_WORKERS][DN_BUFS];   /* created for a worker on first use */
};

#define FN(name) __typeof__(&name) name
static struct {
	FN(dnnl_engine_create);
	FN(dnnl_stream_create);
	FN(dnnl_stream_wait);
	FN(dnnl_memory_desc_init_by_tag);
	FN(dnnl_memory_desc_equal);
	FN(dnnl_memory_desc_get_size);
	FN(dnnl_memory_create);
	FN(dnnl_memory_destroy);
	FN(dnnl_memory_set_data_handle);
	FN(dnnl_primitive_attr_create);
	FN(dnnl_primitive_attr_destroy);
	FN(dnnl_primitive_attr_set_scratchpad_mode);
	FN(dnnl_primitive_attr_set_post_ops);
	FN(dnnl_post_ops_create);
	FN(dnnl_post_ops_destroy);
	FN(dnnl_post_ops_append_eltwise);
	FN(dnnl_post_ops_append_sum);
	FN(dnnl_dilated_convolution_forward_desc_init);
	FN(dnnl_dilated_convolution_backward_data_desc_init);
	FN(dnnl_dilated_convolution_backward_weights_desc_init);
	FN(dnnl_primitive_desc_create);
	FN(dnnl_primitive_desc_destroy);
	FN(dnnl_primitive_desc_query_md);
	FN(dnnl_primitive_desc_query);
	FN(dnnl_reorder_primitive_desc_create);
	FN(dnnl_primitive_create);
	FN(dnnl_primitive_destroy);
	FN(dnnl_primitive_execute);
	FN(dnnl_version);
	int (*omp_get_max_threads)(void);
	void (*omp_set_num_threads)(int);
	dnnl_engine_t eng;
	dnnl_stream_t stream[DN_WORKERS];
	int loaded, enabled;
	char why[160];
	char impl[96];
} dn;
#undef FN

static pthread_once_t dn_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t dn_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dn_ent dn_cache[DN_CACHE];
static unsigned long dn_clock, dn_calls;

#define SYM(lib, name) do { void *p_ = dlsym(lib, #name); if (p_ == NULL) return; \
	memcpy(&dn.name, &p_, sizeof p_); } while (0)

static void dn_load_syms(void *lib)
{
	SYM(lib, dnnl_engine_create);
	SYM(lib, dnnl_stream_create);
	SYM(lib, dnnl_stream_wait);
	SYM(lib, dnnl_memory_desc_init_by_tag);
	SYM(lib, dnnl_memory_desc_equal);
	SYM(lib, dnnl_memory_desc_get_size);
	SYM(lib, dnnl_memory_create);
	SYM(lib, dnnl_memory_destroy);
	SYM(lib, dnnl_memory_set_data_handle);
	SYM(lib, dnnl_primitive_attr_create);
	SYM(lib, dnnl_primitive_attr_destroy);
	SYM(lib, dnnl_primitive_attr_set_scratchpad_mode);
	SYM(lib, dnnl_primitive_attr_set_post_ops);
	SYM(lib, dnnl_post_ops_create);
	SYM(lib, dnnl_post_ops_destroy);
	SYM(lib, dnnl_post_ops_append_eltwise);
	SYM(lib, dnnl_post_ops_append_sum);
	SYM(lib, dnnl_dilated_convolution_forward_desc_init);
	SYM(lib, dnnl_dilated_convolution_backward_data_desc_init);
	SYM(lib, dnnl_dilated_convolution_backward_weights_desc_init);
	SYM(lib, dnnl_primitive_desc_create);
	SYM(lib, dnnl_primitive_desc_destroy);
	SYM(lib, dnnl_primitive_desc_query_md);
	SYM(lib, dnnl_primitive_desc_query);
	SYM(lib, dnnl_reorder_primitive_desc_create);
	SYM(lib, dnnl_primitive_create);
	SYM(lib, dnnl_primitive_destroy);
	SYM(lib, dnnl_primitive_execute);
	SYM(lib, dnnl_version);
	/* libgomp, loaded as libdnnl's dependency: dlsym searches it through the handle. */
	SYM(lib, omp_get_max_threads);
	SYM(lib, omp_set_num_threads);
	dn.loaded = 1;
}
#undef SYM

static void dn_load(void)
{
	const char *off = getenv("BW_TENSOR_NO_DNNL");
	void *lib;

	if (off != NULL && *off != '\0' && strcmp(off, "0") != 0) {
		snprintf(dn.why, sizeof dn.why, "none (disabled by BW_TENSOR_NO_DNNL)");
		return;
	}
	/* One OpenMP thread per calling thread: the engine's workers are the threads. */
	setenv("OMP_NUM_THREADS", "1", 0);
	lib = dlopen(BW_DNNL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		snprintf(dn.why, sizeof dn.why, "none (" BW_DNNL_SONAME " could not be loaded)");
		return;
	}
	dn_load_syms(lib);
	if (!dn.loaded || dn.dnnl_engine_create(&dn.eng, dnnl_cpu, 0) != dnnl_success) {
		dn.loaded = 0;
		snprintf(dn.why, sizeof dn.why, "none (" BW_DNNL_SONAME " lacks a symbol or a CPU engine)");
		return;
	}
	dn.enabled = 1;
}

static void dn_ensure(void)
{
	pthread_once(&dn_once, dn_load);
}

int bw_dnnl_on(void)
{
	dn_ensure();
	return dn.loaded && dn.enabled;
}

void bw_dnnl_set_enabled(int on)
{
	dn_ensure();
	dn.enabled = on && dn.loaded;
}

unsigned long bw_dnnl_n_calls(void)
{
	return dn_calls;
}

const char *bw_dnnl_describe(void)
{
	static char s[256];
	const dnnl_version_t *v;

	dn_ensure();
	if (!dn.loaded)
		return dn.why;
	v = dn.dnnl_version();
	snprintf(s, sizeof s, "oneDNN %d.%d.%d%s%s%s", v->major, v->minor, v->patch,
	         dn.enabled ? "" : " (disabled)", dn.impl[0] != '\0' ? ", conv " : "", dn.impl);
	return s;
}

/* ---- building one cache entry ---- */

static size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static int add_buf(struct dn_ent *e, const dnnl_memory_desc_t *md, int user)
{
	struct dn_buf *b;

	if (e->n_buf >= DN_BUFS)
		return -1;
	b = &e->buf[e->n_buf];
	b->md = *md;
	b->user = user;
	b->off = 0;
	if (user < 0) {
		b->off = e->scr;
		e->scr += round16(dn.dnnl_memory_desc_get_size(md) / sizeof(float));
	}
	return e->n_buf++;
}

static int add_step(struct dn_ent *e, dnnl_primitive_t p, int n, const int *arg, const int *buf)
{
	struct dn_step *s;
	int i;

	if (e->n_step >= DN_STEPS || n > DN_ARGS) {
		dn.dnnl_primitive_destroy(p);
		return -1;
	}
	s = &e->step[e->n_step++];
	s->p = p;
	s->n = n;
	for (i = 0; i < n; i++) {
		if (buf[i] < 0)
			return -1;
		s->arg[i] = arg[i];
		s->buf[i] = buf[i];
	}
	return 0;
}

static int prim_of(dnnl_primitive_desc_t pd, dnnl_primitive_t *p)
{
	return dn.dnnl_primitive_create(p, pd) == dnnl_success ? 0 : -1;
}

/* Reorder step from buffer `from` to `to`, adding into `to` when sum. */
static int add_reorder(struct dn_ent *e, int from, int to, int sum)
{
	dnnl_primitive_desc_t rpd = NULL;
	dnnl_primitive_attr_t at = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_t p = NULL;
	static const int arg[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
	int buf[2] = {from, to}, rc = -1;

	if (from < 0 || to < 0)
		return -1;
	if (dn.dnnl_primitive_attr_create(&at) != dnnl_success)
		return -1;
	if (sum && (dn.dnnl_post_ops_create(&po) != dnnl_success ||
	            dn.dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
	            dn.dnnl_primitive_attr_set_post_ops(at, po) != dnnl_success))
		goto out;
	if (dn.dnnl_reorder_primitive_desc_create(&rpd, &e->buf[from].md, dn.eng, &e->buf[to].md,
	                                          dn.eng, at) != dnnl_success)
		goto out;
	if (prim_of(rpd, &p) != 0)
		goto out;
	rc = add_step(e, p, 2, arg, buf);
out:
	if (rpd != NULL)
		dn.dnnl_primitive_desc_destroy(rpd);
	if (po != NULL)
		dn.dnnl_post_ops_destroy(po);
	dn.dnnl_primitive_attr_destroy(at);
	return rc;
}

/*
 * The buffer a primitive reads (to_prim) or writes in layout md: the user's
 * buffer `user` itself when the layouts agree, else scratch plus a reorder
 * from the user's buffer (added now when to_prim; the caller adds the
 * reorder back after the primitive otherwise).
 */
static int prim_buf(struct dn_ent *e, const dnnl_memory_desc_t *md, int user, int to_prim)
{
	int b;

	if (user < 0)
		return -1;
	if (dn.dnnl_memory_desc_equal(md, &e->buf[user].md))
		return user;
	b = add_buf(e, md, -1);
	if (b >= 0 && to_prim && add_reorder(e, user, b, 0) != 0)
		return -1;
	return b;
}

static int scratchpad_buf(struct dn_ent *e, dnnl_primitive_desc_t pd)
{
	const dnnl_memory_desc_t *md = dn.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);

	if (md == NULL || dn.dnnl_memory_desc_get_size(md) == 0)
		return -2; /* none needed */
	return add_buf(e, md, -1);
}

static int push_conv(struct dn_ent *e, dnnl_primitive_desc_t pd, int n, int *arg, int *buf)
{
	dnnl_primitive_t p;
	int sp = scratchpad_buf(e, pd);

	if (sp == -1)
		return -1;
	if (sp >= 0) {
		arg[n] = DNNL_ARG_SCRATCHPAD;
		buf[n++] = sp;
	}
	if (prim_of(pd, &p) != 0)
		return -1;
	return add_step(e, p, n, arg, buf);
}

/* User layouts (NCHW, OIHW or GOIHW, x) and "any" layouts for the primitive. */
struct dn_mds {
	dnnl_memory_desc_t ux, uw, ub, uy, ax, aw, ay;
};

static int dn_mds_init(const struct dn_key *k, struct dn_mds *m)
{
	dnnl_dims_t xd = {k->nb, k->c, k->h, k->w}, yd = {k->nb, k->oc, k->oh, k->ow}, bd = {k->oc};
	dnnl_dims_t wd = {k->oc, k->c / k->groups, k->kh, k->kw};
	dnnl_dims_t gwd = {k->groups, k->oc / k->groups, k->c / k->groups, k->kh, k->kw};
	int g = k->groups > 1;

	if (dn.dnnl_memory_desc_init_by_tag(&m->ux, 4, xd, dnnl_f32, dnnl_nchw) != dnnl_success ||
	    dn.dnnl_memory_desc_init_by_tag(&m->uy, 4, yd, dnnl_f32, dnnl_nchw) != dnnl_success ||
	    dn.dnnl_memory_desc_init_by_tag(&m->ub, 1, bd, dnnl_f32, dnnl_x) != dnnl_success ||
	    dn.dnnl_memory_desc_init_by_tag(&m->uw, g ? 5 : 4, g ? gwd : wd, dnnl_f32,
	                                    g ? dnnl_goihw : dnnl_oihw) != dnnl_success ||
	    dn.dnnl_memory_desc_init_by_tag(&m->ax, 4, xd, dnnl_f32, dnnl_format_tag_any) !=
	        dnnl_success ||
	    dn.dnnl_memory_desc_init_by_tag(&m->ay, 4, yd, dnnl_f32, dnnl_format_tag_any) !=
	        dnnl_success ||
	    dn.dnnl_memory_desc_init_by_tag(&m->aw, g ? 5 : 4, g ? gwd : wd, dnnl_f32,
	                                    dnnl_format_tag_any) != dnnl_success)
		return -1;
	return 0;
}

/* Forward primitive descriptor (training: the backward passes take it as their hint). */
static dnnl_primitive_desc_t fwd_pd(const struct dn_key *k, const struct dn_mds *m, int relu)
{
	dnnl_dims_t st = {k->sh, k->sw}, dil = {k->dh - 1, k->dw - 1};
	dnnl_dims_t pl = {k->pt, k->pl}, pr = {k->pb, k->pr};
	dnnl_convolution_desc_t cd;
	dnnl_primitive_attr_t at = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd = NULL;

	if (dn.dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training,
	                                                  dnnl_convolution_direct, &m->ax, &m->aw,
	                                                  k->bias ? &m->ub : NULL, &m->ay, st, dil, pl,
	                                                  pr) != dnnl_success ||
	    dn.dnnl_primitive_attr_create(&at) != dnnl_success)
		return NULL;
	if (dn.dnnl_primitive_attr_set_scratchpad_mode(at, dnnl_scratchpad_mode_user) != dnnl_success)
		goto out;
	if (relu && (dn.dnnl_post_ops_create(&po) != dnnl_success ||
	             dn.dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) !=
	                 dnnl_success ||
	             dn.dnnl_primitive_attr_set_post_ops(at, po) != dnnl_success))
		goto out;
	if (dn.dnnl_primitive_desc_create(&pd, &cd, at, dn.eng, NULL) != dnnl_success)
		pd = NULL;
out:
	if (po != NULL)
		dn.dnnl_post_ops_destroy(po);
	dn.dnnl_primitive_attr_destroy(at);
	return pd;
}

static const dnnl_memory_desc_t *qmd(dnnl_primitive_desc_t pd, dnnl_query_t what)
{
	return dn.dnnl_primitive_desc_query_md(pd, what, 0);
}

static int build_fwd(struct dn_ent *e, const struct dn_mds *m)
{
	dnnl_primitive_desc_t pd = fwd_pd(&e->k, m, e->k.relu);
	int ux, uw, ub = -1, uy, px, pw, py, n = 0, rc = -1;
	int arg[DN_ARGS], buf[DN_ARGS];
	const char *impl = NULL;

	if (pd == NULL)
		return -1;
	if (dn.dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
	    impl != NULL) {
		size_t i;

		/* Kept to a safe alphabet: it ends up in JSON output. */
		for (i = 0; impl[i] != '\0' && i + 1 < sizeof dn.impl; i++)
			dn.impl[i] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-",
			                    impl[i]) != NULL ? impl[i] : '_';
		dn.impl[i] = '\0';
	}
	ux = add_buf(e, &m->ux, U_X);
	uw = add_buf(e, &m->uw, U_W);
	if (e->k.bias)
		ub = add_buf(e, &m->ub, U_B);
	uy = add_buf(e, &m->uy, U_Y);
	px = prim_buf(e, qmd(pd, dnnl_query_src_md), ux, 1);
	pw = prim_buf(e, qmd(pd, dnnl_query_weights_md), uw, 1);
	py = prim_buf(e, qmd(pd, dnnl_query_dst_md), uy, 0);
	arg[n] = DNNL_ARG_SRC; buf[n++] = px;
	arg[n] = DNNL_ARG_WEIGHTS; buf[n++] = pw;
	if (e->k.bias) {
		arg[n] = DNNL_ARG_BIAS; buf[n++] = ub;
	}
	arg[n] = DNNL_ARG_DST; buf[n++] = py;
	if (push_conv(e, pd, n, arg, buf) != 0)
		goto out;
	if (py != uy && add_reorder(e, py, uy, 0) != 0)
		goto out;
	rc = 0;
out:
	dn.dnnl_primitive_desc_destroy(pd);
	return rc;
}

static int build_bwd(struct dn_ent *e, const struct dn_mds *m)
{
	const struct dn_key *k = &e->k;
	dnnl_dims_t st = {k->sh, k->sw}, dil = {k->dh - 1, k->dw - 1};
	dnnl_dims_t pl = {k->pt, k->pl}, pr = {k->pb, k->pr};
	dnnl_primitive_desc_t fpd = fwd_pd(k, m, 0), dpd = NULL, wpd = NULL;
	dnnl_primitive_attr_t at = NULL;
	dnnl_convolution_desc_t cd;
	int ux, uw, ugy, udx, n, rc = -1, gy_d = -1;
	int arg[DN_ARGS], buf[DN_ARGS];

	if (fpd == NULL || dn.dnnl_primitive_attr_create(&at) != dnnl_success ||
	    dn.dnnl_primitive_attr_set_scratchpad_mode(at, dnnl_scratchpad_mode_user) != dnnl_success)
		goto out;
	ux = add_buf(e, &m->ux, U_X);
	uw = add_buf(e, &m->uw, U_W);
	ugy = add_buf(e, &m->uy, U_GY);
	if (k->want_dx) {
		/*
		 * When oneDNN keeps plain NCHW for the forward input (few input channels:
		 * its "first convolution" kernels), the blocked backward-data pass pads
		 * the channels to 16 and ran 5x slower than plain NCHW on the Madry CNN's
		 * first layer (1 channel); use plain layouts for it then.
		 */
		int plain = dn.dnnl_memory_desc_equal(qmd(fpd, dnnl_query_src_md), &m->ux);
		int pdx, pw;

		udx = add_buf(e, &m->ux, U_DX);
		if (dn.dnnl_dilated_convolution_backward_data_desc_init(
		        &cd, dnnl_convolution_direct, plain ? &m->ux : &m->ax, plain ? &m->uw : &m->aw,
		        plain ? &m->uy : &m->ay, st, dil, pl, pr) != dnnl_success ||
		    dn.dnnl_primitive_desc_create(&dpd, &cd, at, dn.eng, fpd) != dnnl_success) {
			dpd = NULL;
			goto out;
		}
		gy_d = prim_buf(e, qmd(dpd, dnnl_query_diff_dst_md), ugy, 1);
		pw = prim_buf(e, qmd(dpd, dnnl_query_weights_md), uw, 1);
		/* Always a separate buffer: the result is added to dx by the reorder. */
		pdx = add_buf(e, qmd(dpd, dnnl_query_diff_src_md), -1);
		n = 0;
		arg[n] = DNNL_ARG_DIFF_DST; buf[n++] = gy_d;
		arg[n] = DNNL_ARG_WEIGHTS; buf[n++] = pw;
		arg[n] = DNNL_ARG_DIFF_SRC; buf[n++] = pdx;
		if (push_conv(e, dpd, n, arg, buf) != 0 || add_reorder(e, pdx, udx, 1) != 0)
			goto out;
	}
	if (k->want_dw || k->want_db) {
		int px, gy_w, pdw;

		if (dn.dnnl_dilated_convolution_backward_weights_desc_init(
		        &cd, dnnl_convolution_direct, &m->ax, &m->aw, k->want_db ? &m->ub : NULL, &m->ay,
		        st, dil, pl, pr) != dnnl_success ||
		    dn.dnnl_primitive_desc_create(&wpd, &cd, at, dn.eng, fpd) != dnnl_success) {
			wpd = NULL;
			goto out;
		}
		px = prim_buf(e, qmd(wpd, dnnl_query_src_md), ux, 1);
		if (gy_d >= 0 && dn.dnnl_memory_desc_equal(qmd(wpd, dnnl_query_diff_dst_md), &e->buf[gy_d].md))
			gy_w = gy_d; /* already reordered for the backward-data pass */
		else
			gy_w = prim_buf(e, qmd(wpd, dnnl_query_diff_dst_md), ugy, 1);
		/* This worker's dW and db, in the user's layouts, summed by the caller. */
		e->b_dw = add_buf(e, &m->uw, -1);
		e->b_db = add_buf(e, &m->ub, -1);
		pdw = prim_buf(e, qmd(wpd, dnnl_query_diff_weights_md), e->b_dw, 0);
		n = 0;
		arg[n] = DNNL_ARG_SRC; buf[n++] = px;
		arg[n] = DNNL_ARG_DIFF_DST; buf[n++] = gy_w;
		arg[n] = DNNL_ARG_DIFF_WEIGHTS; buf[n++] = pdw;
		if (k->want_db) {
			arg[n] = DNNL_ARG_DIFF_BIAS; buf[n++] = e->b_db;
		}
		if (push_conv(e, wpd, n, arg, buf) != 0)
			goto out;
		if (pdw != e->b_dw && add_reorder(e, pdw, e->b_dw, 0) != 0)
			goto out;
	}
	rc = 0;
out:
	if (wpd != NULL)
		dn.dnnl_primitive_desc_destroy(wpd);
	if (dpd != NULL)
		dn.dnnl_primitive_desc_destroy(dpd);
	if (fpd != NULL)
		dn.dnnl_primitive_desc_destroy(fpd);
	if (at != NULL)
		dn.dnnl_primitive_attr_destroy(at);
	return rc;
}

static void ent_clear(struct dn_ent *e)
{
	int i, j;

	for (i = 0; i < e->n_step; i++)
		dn.dnnl_primitive_destroy(e->step[i].p);
	for (i = 0; i < DN_WORKERS; i++)
		for (j = 0; j < DN_BUFS; j++)
			if (e->mem[i][j] != NULL)
				dn.dnnl_memory_destroy(e->mem[i][j]);
	memset(e, 0, sizeof *e);
}

/* The cache entry for k (built on first use; ok == 0 when oneDNN cannot do it). Locked. */
static struct dn_ent *ent_get(const struct dn_key *k)
{
	struct dn_ent *e = NULL, *old = &dn_cache[0];
	struct dn_mds m;
	int i;

	for (i = 0; i < DN_CACHE; i++) {
		if (dn_cache[i].used && memcmp(&dn_cache[i].k, k, sizeof *k) == 0) {
			dn_cache[i].stamp = ++dn_clock;
			return &dn_cache[i];
		}
		if (e == NULL && !dn_cache[i].used)
			e = &dn_cache[i];
		if (dn_cache[i].stamp < old->stamp)
			old = &dn_cache[i];
	}
	if (e == NULL) {
		ent_clear(old); /* least recently used */
		e = old;
	}
	e->k = *k;
	e->used = 1;
	e->stamp = ++dn_clock;
	e->b_dw = e->b_db = -1;
	if (dn.omp_get_max_threads() != 1)
		dn.omp_set_num_threads(1); /* oneDNN sizes its work split for this count */
	if (dn_mds_init(k, &m) == 0 && (k->bwd ? build_bwd(e, &m) : build_fwd(e, &m)) == 0) {
		e->ok = 1;
		return e;
	}
	/* Keep the key with ok = 0 so the form is not retried on every call. */
	for (i = 0; i < e->n_step; i++)
		dn.dnnl_primitive_destroy(e->step[i].p);
	e->n_step = 0;
	return e;
}

/* Memory objects and stream of worker wi for e. Locked. */
static int ent_slot(struct dn_ent *e, int wi)
{
	int i;

	if (dn.stream[wi] == NULL &&
	    dn.dnnl_stream_create(&dn.stream[wi], dn.eng, dnnl_stream_default_flags) != dnnl_success) {
		dn.stream[wi] = NULL;
		return -1;
	}
	for (i = 0; i < e->n_buf; i++)
		if (e->mem[wi][i] == NULL &&
		    dn.dnnl_memory_create(&e->mem[wi][i], &e->buf[i].md, dn.eng, DNNL_MEMORY_NONE) !=
		        dnnl_success) {
			e->mem[wi][i] = NULL;
			return -1;
		}
	return 0;
}

static void *unconst(const float *p)
{
	void *r;

	memcpy(&r, &p, sizeof r);
	return r;
}

struct dn_job {
	const struct bw_dnnl_conv *q;
	struct dn_ent *ent[2];   /* for a share of nb_lo images and of nb_lo + 1 */
	int nb_lo;
	float *scratch;
	size_t per_worker;
	const float *x, *w, *b, *gy;
	float *y, *dx;
	int failed[DN_WORKERS];
};

static void dn_worker(void *ctx, int wi, int nw)
{
	struct dn_job *j = ctx;
	const struct bw_dnnl_conv *q = j->q;
	struct dn_ent *e;
	float *scr = j->scratch + (size_t)wi * j->per_worker;
	void *user[U_N];
	dnnl_exec_arg_t args[DN_ARGS];
	size_t xo, yo;
	int lo, hi, i, a;

	bw_t_split(q->n, wi, nw, &lo, &hi);
	if (hi <= lo)
		return;
	e = j->ent[hi - lo == j->nb_lo ? 0 : 1];
	if (dn.omp_get_max_threads() != 1)
		dn.omp_set_num_threads(1);
	xo = (size_t)lo * (size_t)q->c * (size_t)q->h * (size_t)q->w;
	yo = (size_t)lo * (size_t)q->oc * (size_t)q->oh * (size_t)q->ow;
	user[U_X] = unconst(j->x + xo);
	user[U_W] = unconst(j->w);
	user[U_B] = unconst(j->b);
	user[U_Y] = j->y != NULL ? j->y + yo : NULL;
	user[U_GY] = j->gy != NULL ? unconst(j->gy + yo) : NULL;
	user[U_DX] = j->dx != NULL ? j->dx + xo : NULL;
	for (i = 0; i < e->n_buf; i++)
		if (dn.dnnl_memory_set_data_handle(e->mem[wi][i], e->buf[i].user >= 0
		                                                      ? user[e->buf[i].user]
		                                                      : (void *)(scr + e->buf[i].off)) !=
		    dnnl_success) {
			j->failed[wi] = 1;
			return;
		}
	for (i = 0; i < e->n_step; i++) {
		const struct dn_step *s = &e->step[i];

		for (a = 0; a < s->n; a++) {
			args[a].arg = s->arg[a];
			args[a].memory = e->mem[wi][s->buf[a]];
		}
		if (dn.dnnl_primitive_execute(s->p, dn.stream[wi], s->n, args) != dnnl_success) {
			j->failed[wi] = 1;
			return;
		}
	}
	if (dn.dnnl_stream_wait(dn.stream[wi]) != dnnl_success)
		j->failed[wi] = 1;
}

/*
 * Entries for both share sizes of this call, their worker slots, and the graph
 * scratch. 1: not covered (nothing written), -1: out of memory, 0: ready.
 * Called with dn_lock held; the lock is held until the workers are done, as the
 * memory objects belong to (entry, worker index), so two graphs running
 * convolutions on different threads take turns.
 */
static int dn_prepare(struct bw_graph *g, struct dn_job *j, const struct dn_key *base, int nw)
{
	const struct bw_dnnl_conv *q = j->q;
	struct dn_key k = *base;
	size_t per = 0;
	int s, wi, rc = 1;

	j->nb_lo = q->n / nw;
	for (s = 0; s < 2; s++) {
		j->ent[s] = NULL;
		k.nb = j->nb_lo + s;
		if (k.nb == 0 || (s == 1 && q->n % nw == 0))
			continue;
		j->ent[s] = ent_get(&k);
		if (!j->ent[s]->ok)
			goto out;
		for (wi = 0; wi < nw; wi++)
			if (ent_slot(j->ent[s], wi) != 0)
				goto out;
		if (j->ent[s]->scr > per)
			per = j->ent[s]->scr;
	}
	/* Both entries of this call stay (the cache holds more than two). */
	j->per_worker = per;
	j->scratch = bw_g_scratch(g, per * (size_t)nw + 16);
	if (j->scratch == NULL) {
		rc = -1;
		goto out;
	}
	dn_calls++;
	rc = 0;
out:
	return rc;
}

static void dn_key_init(struct dn_key *k, const struct bw_dnnl_conv *q)
{
	memset(k, 0, sizeof *k);
	k->c = q->c; k->h = q->h; k->w = q->w; k->oc = q->oc; k->kh = q->kh; k->kw = q->kw;
	k->oh = q->oh; k->ow = q->ow; k->sh = q->sh; k->sw = q->sw;
	k->pt = q->pt; k->pl = q->pl; k->pb = q->pb; k->pr = q->pr;
	k->dh = q->dh; k->dw = q->dw; k->groups = q->groups;
}

static int dn_workers(const struct bw_dnnl_conv *q, int nw)
{
	if (nw > DN_WORKERS)
		nw = DN_WORKERS;
	if (nw > q->n)
		nw = q->n;
	return nw < 1 ? 1 : nw;
}

/* Prepare the primitives for key k and run them on nw workers; caller holds dn_lock. */
static int dn_run_locked(struct bw_graph *g, struct dn_job *j, const struct dn_key *k, int nw)
{
	int rc = dn_prepare(g, j, k, nw), i;

	if (rc == 0) {
		bw_t_par(nw, dn_worker, j);
		for (i = 0; i < nw; i++)
			if (j->failed[i])
				rc = -1;
	}
	return rc;
}

int bw_dnnl_conv_fwd(struct bw_graph *g, const struct bw_dnnl_conv *q, const float *x,
                     const float *w, const float *b, float *y, int relu, int nw)
{
	struct dn_key k;
	struct dn_job j;
	int rc;

	if (!bw_dnnl_on() || q->n < 1)
		return 1;
	nw = dn_workers(q, nw);
	dn_key_init(&k, q);
	k.bias = b != NULL;
	k.relu = relu != 0;
	memset(&j, 0, sizeof j);
	j.q = q;
	j.x = x; j.w = w; j.b = b; j.y = y;
	pthread_mutex_lock(&dn_lock);
	rc = dn_run_locked(g, &j, &k, nw);
	pthread_mutex_unlock(&dn_lock);
	return rc;
}

int bw_dnnl_conv_bwd(struct bw_graph *g, const struct bw_dnnl_conv *q, const float *x,
                     const float *w, const float *gy, float *dx, float *dw, float *db, int nw)
{
	struct dn_key k;
	struct dn_job j;
	int rc, i, lo, hi;
	size_t nwt = (size_t)q->oc * (size_t)(q->c / q->groups) * (size_t)q->kh * (size_t)q->kw, t;

	if (!bw_dnnl_on() || q->n < 1)
		return 1;
	if (dx == NULL && dw == NULL && db == NULL)
		return 0;
	nw = dn_workers(q, nw);
	dn_key_init(&k, q);
	k.bwd = 1;
	k.bias = db != NULL;
	k.want_dx = dx != NULL;
	k.want_dw = dw != NULL;
	k.want_db = db != NULL;
	memset(&j, 0, sizeof j);
	j.q = q;
	j.x = x; j.w = w; j.gy = gy; j.dx = dx;
	pthread_mutex_lock(&dn_lock);
	rc = dn_run_locked(g, &j, &k, nw);
	/* Add each worker's dW and db in worker order. */
	for (i = 0; i < nw && rc == 0; i++) {
		const struct dn_ent *e;
		const float *scr = j.scratch + (size_t)i * j.per_worker;

		bw_t_split(q->n, i, nw, &lo, &hi);
		if (hi <= lo)
			continue;
		e = j.ent[hi - lo == j.nb_lo ? 0 : 1];
		if (dw != NULL)
			for (t = 0; t < nwt; t++)
				dw[t] += scr[e->buf[e->b_dw].off + t];
		if (db != NULL)
			for (t = 0; t < (size_t)q->oc; t++)
				db[t] += scr[e->buf[e->b_db].off + t];
	}
	pthread_mutex_unlock(&dn_lock);
	return rc;
}

#else /* built without oneDNN's headers: the engine's own path only */

int bw_dnnl_on(void)
{
	return 0;
}

void bw_dnnl_set_enabled(int on)
{
	(void)on;
}

unsigned long bw_dnnl_n_calls(void)
{
	return 0;
}

const char *bw_dnnl_describe(void)
{
	return "none (built without oneDNN headers)";
}

int bw_dnnl_conv_fwd(struct bw_graph *g, const struct bw_dnnl_conv *q, const float *x,
                     const float *w, const float *b, float *y, int relu, int nw)
{
	(void)g; (void)q; (void)x; (void)w; (void)b; (void)y; (void)relu; (void)nw;
	return 1;
}

int bw_dnnl_conv_bwd(struct bw_graph *g, const struct bw_dnnl_conv *q, const float *x,
                     const float *w, const float *gy, float *dx, float *dw, float *db, int nw)
{
	(void)g; (void)q; (void)x; (void)w; (void)gy; (void)dx; (void)dw; (void)db; (void)nw;
	return 1;
}

#endif
