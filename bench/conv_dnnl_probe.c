/*
 * bench/conv_dnnl_probe.c - standalone measurement behind the oneDNN choice in
 * src/tensor/tensor_dnnl.c: the Madry CNN's two convolutions (batch 128) as
 * (a) the engine's lowering + OpenBLAS sgemm path, (b) oneDNN on plain NCHW,
 * (c) oneDNN on its preferred blocked layouts with the reorders counted, each
 * forward (bias + ReLU post-op), backward data, backward weights (+ bias).
 * oneDNN runs either with its own OpenMP threads from one caller ("omp") or
 * sequentially inside T pthreads that split the batch ("split"), which is
 * what the engine does. Reports the best of N runs of process CPU time and
 * wall time. Not part of the build (links libdnnl directly):
 *   cc -O2 -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *     bench/conv_dnnl_probe.c build/release/libbulwark.a -o /tmp/probe \
 *     $(pkg-config --libs openssl zlib libzstd liblzma libarchive jansson yaml-0.1 \
 *       libseccomp libisal) -lbz2 -ldnnl -lgomp -lpthread -lm -ldl
 * Usage: probe THREADS [REPS]
 */
#define _GNU_SOURCE
#include <dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/tensor_int.h"

#define CK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { \
	fprintf(stderr, "%s:%d %s -> %d\n", __FILE__, __LINE__, #x, (int)s_); exit(1); } } while (0)

static double now(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

struct shape { int n, c, h, w, oc, k, pad; };

static dnnl_engine_t eng;

/* One configuration of oneDNN primitives for a batch of nb images. */
struct dn {
	dnnl_primitive_t fwd, bwd_d, bwd_w;
	dnnl_primitive_t r_src, r_w, r_dst_out, r_ddst, r_dsrc_out, r_dw_out, r_w_bd;
	dnnl_memory_t u_src, u_w, u_b, u_dst, u_ddst, u_dsrc, u_dw, u_db;   /* user (NCHW) */
	dnnl_memory_t p_src, p_w, p_dst, p_ddst, p_dsrc, p_dw, p_w_bd;        /* primitive layouts */
	dnnl_memory_t sp_f, sp_d, sp_w;
	int blocked;
};

static dnnl_memory_t mem(const dnnl_memory_desc_t *md, void *h)
{
	dnnl_memory_t m;

	CK(dnnl_memory_create(&m, md, eng, h));
	return m;
}

static dnnl_memory_t sp_mem(dnnl_primitive_desc_t pd)
{
	const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);

	return mem(md, DNNL_MEMORY_ALLOCATE);
}

/* Memory in the primitive's layout md when it differs from the user's (and its reorder). */
static dnnl_memory_t need(const dnnl_memory_desc_t *md, dnnl_memory_t user, int to_prim,
                          dnnl_primitive_t *r)
{
	const dnnl_memory_desc_t *umd;
	dnnl_primitive_desc_t rpd;
	dnnl_memory_t m;

	CK(dnnl_memory_get_memory_desc(user, &umd));
	*r = NULL;
	if (dnnl_memory_desc_equal(md, umd))
		return user;
	m = mem(md, DNNL_MEMORY_ALLOCATE);
	if (to_prim)
		CK(dnnl_reorder_primitive_desc_create(&rpd, umd, eng, md, eng, NULL));
	else
		CK(dnnl_reorder_primitive_desc_create(&rpd, md, eng, umd, eng, NULL));
	CK(dnnl_primitive_create(r, rpd));
	dnnl_primitive_desc_destroy(rpd);
	return m;
}

static void dn_make(struct dn *d, const struct shape *s, int nb, int blocked, float *x, float *w,
                    float *b, float *y, float *gy, float *gx, float *gw, float *gb)
{
	dnnl_dims_t xd = {nb, s->c, s->h, s->w}, wd = {s->oc, s->c, s->k, s->k}, bd = {s->oc};
	dnnl_dims_t yd = {nb, s->oc, s->h, s->w}, st = {1, 1}, dil = {0, 0}, pd = {s->pad, s->pad};
	dnnl_memory_desc_t ux, uw, ub, uy, ax, aw, ay;
	dnnl_convolution_desc_t cd;
	dnnl_primitive_attr_t at, at2;
	dnnl_post_ops_t po;
	dnnl_primitive_desc_t fpd, dpd, wpd;

	memset(d, 0, sizeof *d);
	d->blocked = blocked;
	CK(dnnl_memory_desc_init_by_tag(&ux, 4, xd, dnnl_f32, dnnl_nchw));
	CK(dnnl_memory_desc_init_by_tag(&uw, 4, wd, dnnl_f32, dnnl_oihw));
	CK(dnnl_memory_desc_init_by_tag(&ub, 1, bd, dnnl_f32, dnnl_x));
	CK(dnnl_memory_desc_init_by_tag(&uy, 4, yd, dnnl_f32, dnnl_nchw));
	if (blocked) {
		CK(dnnl_memory_desc_init_by_tag(&ax, 4, xd, dnnl_f32, dnnl_format_tag_any));
		CK(dnnl_memory_desc_init_by_tag(&aw, 4, wd, dnnl_f32, dnnl_format_tag_any));
		CK(dnnl_memory_desc_init_by_tag(&ay, 4, yd, dnnl_f32, dnnl_format_tag_any));
	} else {
		ax = ux; aw = uw; ay = uy;
	}
	CK(dnnl_primitive_attr_create(&at));
	CK(dnnl_primitive_attr_set_scratchpad_mode(at, dnnl_scratchpad_mode_user));
	CK(dnnl_primitive_attr_create(&at2));
	CK(dnnl_primitive_attr_set_scratchpad_mode(at2, dnnl_scratchpad_mode_user));
	CK(dnnl_post_ops_create(&po));
	CK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
	CK(dnnl_primitive_attr_set_post_ops(at, po));
	CK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct,
	                                              &ax, &aw, &ub, &ay, st, dil, pd, pd));
	CK(dnnl_primitive_desc_create(&fpd, &cd, at, eng, NULL));
	CK(dnnl_dilated_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &ax, &aw, &ay,
	                                                    st, dil, pd, pd));
	CK(dnnl_primitive_desc_create(&dpd, &cd, at2, eng, fpd));
	CK(dnnl_dilated_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &ax, &aw,
	                                                       &ub, &ay, st, dil, pd, pd));
	CK(dnnl_primitive_desc_create(&wpd, &cd, at2, eng, fpd));
	{
		const char *i1, *i2, *i3;

		CK(dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &i1));
		CK(dnnl_primitive_desc_query(dpd, dnnl_query_impl_info_str, 0, &i2));
		CK(dnnl_primitive_desc_query(wpd, dnnl_query_impl_info_str, 0, &i3));
		fprintf(stderr, "  nb %d %s: fwd %s, bwd_d %s, bwd_w %s\n", nb, blocked ? "blocked" : "nchw",
		        i1, i2, i3);
	}
	CK(dnnl_primitive_create(&d->fwd, fpd));
	CK(dnnl_primitive_create(&d->bwd_d, dpd));
	CK(dnnl_primitive_create(&d->bwd_w, wpd));
	d->u_src = mem(&ux, x); d->u_w = mem(&uw, w); d->u_b = mem(&ub, b); d->u_dst = mem(&uy, y);
	d->u_ddst = mem(&uy, gy); d->u_dsrc = mem(&ux, gx); d->u_dw = mem(&uw, gw); d->u_db = mem(&ub, gb);
	d->p_src = need(dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0), d->u_src, 1, &d->r_src);
	d->p_w = need(dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0), d->u_w, 1, &d->r_w);
	d->p_dst = need(dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0), d->u_dst, 0,
	                &d->r_dst_out);
	d->p_ddst = need(dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0), d->u_ddst, 1,
	                 &d->r_ddst);
	d->p_dsrc = need(dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0), d->u_dsrc, 0,
	                 &d->r_dsrc_out);
	d->p_w_bd = need(dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0), d->u_w, 1,
	                 &d->r_w_bd);
	d->p_dw = need(dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), d->u_dw, 0,
	               &d->r_dw_out);
	d->sp_f = sp_mem(fpd); d->sp_d = sp_mem(dpd); d->sp_w = sp_mem(wpd);
}

static void ex(dnnl_primitive_t p, dnnl_stream_t s, int n, const dnnl_exec_arg_t *a)
{
	CK(dnnl_primitive_execute(p, s, n, a));
}

static void reord(dnnl_primitive_t r, dnnl_stream_t s, dnnl_memory_t from, dnnl_memory_t to)
{
	dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};

	if (r != NULL)
		ex(r, s, 2, a);
}

/* which: 0 forward, 1 backward data, 2 backward weights */
static void dn_run(struct dn *d, dnnl_stream_t s, int which)
{
	if (which == 0) {
		dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, d->p_src}, {DNNL_ARG_WEIGHTS, d->p_w},
		                        {DNNL_ARG_BIAS, d->u_b}, {DNNL_ARG_DST, d->p_dst},
		                        {DNNL_ARG_SCRATCHPAD, d->sp_f}};

		reord(d->r_src, s, d->u_src, d->p_src);
		reord(d->r_w, s, d->u_w, d->p_w);
		ex(d->fwd, s, 5, a);
		reord(d->r_dst_out, s, d->p_dst, d->u_dst);
	} else if (which == 1) {
		dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, d->p_ddst}, {DNNL_ARG_WEIGHTS, d->p_w_bd},
		                        {DNNL_ARG_DIFF_SRC, d->p_dsrc}, {DNNL_ARG_SCRATCHPAD, d->sp_d}};

		reord(d->r_ddst, s, d->u_ddst, d->p_ddst);
		reord(d->r_w_bd, s, d->u_w, d->p_w_bd);
		ex(d->bwd_d, s, 4, a);
		reord(d->r_dsrc_out, s, d->p_dsrc, d->u_dsrc);
	} else {
		dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, d->p_src}, {DNNL_ARG_DIFF_DST, d->p_ddst},
		                        {DNNL_ARG_DIFF_WEIGHTS, d->p_dw}, {DNNL_ARG_DIFF_BIAS, d->u_db},
		                        {DNNL_ARG_SCRATCHPAD, d->sp_w}};

		reord(d->r_src, s, d->u_src, d->p_src);
		reord(d->r_ddst, s, d->u_ddst, d->p_ddst);
		ex(d->bwd_w, s, 5, a);
		reord(d->r_dw_out, s, d->p_dw, d->u_dw);
	}
	CK(dnnl_stream_wait(s));
}

struct split_job {
	struct dn *d;
	dnnl_stream_t s;
	int which;
};

static void *split_main(void *arg)
{
	struct split_job *j = arg;

	omp_set_num_threads(1);
	dn_run(j->d, j->s, j->which);
	return NULL;
}

static float *rnd(size_t n)
{
	float *p = aligned_alloc(64, (n * 4 + 63) & ~(size_t)63);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
	return p;
}

static void report(const char *what, double cpu, double wall, double flops)
{
	printf("  %-34s cpu %7.2f ms  wall %7.2f ms  %6.1f GFLOP/s per CPU-s x2 cores\n", what,
	       cpu * 1e3, wall * 1e3, flops / cpu * 2.0 / 1e9);
}

#define BEST(code, cpu, wall) do { int r_; cpu = wall = 1e9; for (r_ = 0; r_ < reps; r_++) { \
	double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC); code; \
	double c1 = now(CLOCK_PROCESS_CPUTIME_ID) - c0, w1 = now(CLOCK_MONOTONIC) - w0; \
	if (c1 < cpu) cpu = c1; if (w1 < wall) wall = w1; } } while (0)

int main(int argc, char **argv)
{
	static const struct shape sh[2] = {{128, 1, 28, 28, 32, 5, 2}, {128, 32, 14, 14, 64, 5, 2}};
	int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 10;
	int si, t;

	bw_tensor_set_threads(threads);
	CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
	printf("threads %d, best of %d\n", threads, reps);
	for (si = 0; si < 2; si++) {
		const struct shape *s = &sh[si];
		size_t nx = (size_t)s->n * s->c * s->h * s->w, nw = (size_t)s->oc * s->c * s->k * s->k;
		size_t ny = (size_t)s->n * s->oc * s->h * s->w;
		double fl = 2.0 * (double)ny * s->c * s->k * s->k, cpu, wall;
		float *x = rnd(nx), *w = rnd(nw), *b = rnd((size_t)s->oc), *y = rnd(ny), *gy = rnd(ny);
		float *gx = rnd(nx), *gw = rnd(nw), *gb = rnd((size_t)s->oc);
		struct bw_graph *g, *g0;
		struct bw_tensor *tx, *tw, *tb, *ty;
		struct bw_op_attr a;
		int xs[4] = {s->n, s->c, s->h, s->w}, ws[4] = {s->oc, s->c, s->k, s->k}, bs[1] = {s->oc};
		int blocked;

		printf("conv %dx%d %d->%d pad %d on %dx%d, batch %d (%.3f GFLOP per pass)\n", s->k, s->k,
		       s->c, s->oc, s->pad, s->h, s->w, s->n, fl / 1e9);
		/* (a) the engine */
		/* Inputs in their own graph; g is reset before each forward so its arena is reused. */
		if (bw_graph_new(1, &g0) != BW_OK || bw_graph_new(1, &g) != BW_OK ||
		    bw_graph_tensor(g0, 4, xs, 1, &tx) != BW_OK ||
		    bw_graph_tensor(g0, 4, ws, 1, &tw) != BW_OK || bw_graph_tensor(g0, 1, bs, 1, &tb) != BW_OK)
			return 1;
		memcpy(tx->data, x, nx * 4); memcpy(tw->data, w, nw * 4); memcpy(tb->data, b, (size_t)s->oc * 4);
		bw_op_attr_default(&a, BW_OP_CONV2D);
		a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = s->pad;
		if (bw_t_conv2d_ex(g, tx, tw, tb, &a, 1, &ty) != BW_OK)
			return 1;
		BEST(bw_graph_reset(g); if (bw_t_conv2d_ex(g, tx, tw, tb, &a, 1, &ty) != BW_OK) return 1, cpu, wall);
		report("engine forward (+bias+relu)", cpu, wall, fl);
		memcpy(bw_g_grad(g, ty), gy, ny * 4);
		{
			struct bw_tensor *keep_x = tx;

			tx->flags &= ~BW_T_REQ_GRAD;
			BEST(if (bw_t_backward_conv(g, &g->tape[0]) != BW_OK) return 1, cpu, wall);
			report("engine backward weights+bias", cpu, wall, fl);
			keep_x->flags |= BW_T_REQ_GRAD;
			tw->flags &= ~BW_T_REQ_GRAD; tb->flags &= ~BW_T_REQ_GRAD;
			BEST(if (bw_t_backward_conv(g, &g->tape[0]) != BW_OK) return 1, cpu, wall);
			report("engine backward data", cpu, wall, fl);
		}
		bw_graph_free(g);
		bw_graph_free(g0);
		for (blocked = 0; blocked < 2; blocked++) {
			struct dn d, dsplit[8];
			dnnl_stream_t st, sts[8];
			int which;
			static const char *wn[3] = {"forward (+bias+relu)", "backward data", "backward weights+bias"};
			char lab[96];

			/* (b/c) oneDNN with its own OpenMP threads */
			omp_set_num_threads(threads);
			dn_make(&d, s, s->n, blocked, x, w, b, y, gy, gx, gw, gb);
			CK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
			for (which = 0; which < 3; which++) {
				dn_run(&d, st, which);
				BEST(dn_run(&d, st, which), cpu, wall);
				snprintf(lab, sizeof lab, "dnnl %s omp %s", blocked ? "blk" : "nchw", wn[which]);
				report(lab, cpu, wall, fl);
			}
			if (threads < 2)
				continue;
			/* oneDNN sequential in each of T pthreads, batch split */
			omp_set_num_threads(1);
			for (t = 0; t < threads; t++) {
				int nb = s->n / threads;
				size_t ox = (size_t)t * nb * s->c * s->h * s->w, oy = (size_t)t * nb * s->oc * s->h * s->w;

				dn_make(&dsplit[t], s, nb, blocked, x + ox, w, b, y + oy, gy + oy, gx + ox,
				        rnd(nw), rnd((size_t)s->oc));
				CK(dnnl_stream_create(&sts[t], eng, dnnl_stream_default_flags));
			}
			for (which = 0; which < 3; which++) {
				struct split_job jb[8];
				pthread_t th[8];

				BEST(for (t = 0; t < threads; t++) { jb[t].d = &dsplit[t]; jb[t].s = sts[t];
				     jb[t].which = which; pthread_create(&th[t], NULL, split_main, &jb[t]); }
				     for (t = 0; t < threads; t++) pthread_join(th[t], NULL), cpu, wall);
				snprintf(lab, sizeof lab, "dnnl %s split %s", blocked ? "blk" : "nchw", wn[which]);
				report(lab, cpu, wall, fl);
			}
		}
	}
	return 0;
}
