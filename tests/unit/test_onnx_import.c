/*
 * test_onnx_import.c - ONNX import from hand-encoded ModelProto bytes: a
 * small valid model computes the expected logits; unsupported operators and
 * domains are refused by name; truncated, inconsistent and external-data
 * tensors are refused with the right error.
 */
#include <string.h>

#include "harness.h"
#include "bulwark/tensor.h"

struct pbw {
	uint8_t b[8192];
	size_t n;
};

static void put(struct pbw *w, uint8_t c)
{
	if (w->n < sizeof w->b)
		w->b[w->n++] = c;
}

static void varint(struct pbw *w, uint64_t v)
{
	while (v >= 0x80) {
		put(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put(w, (uint8_t)v);
}

static void f_int(struct pbw *w, unsigned f, int64_t v)
{
	varint(w, (uint64_t)f << 3);
	varint(w, (uint64_t)v);
}

static void f_bytes(struct pbw *w, unsigned f, const void *p, size_t n)
{
	size_t i;

	varint(w, ((uint64_t)f << 3) | 2);
	varint(w, n);
	for (i = 0; i < n; i++)
		put(w, ((const uint8_t *)p)[i]);
}

static void f_str(struct pbw *w, unsigned f, const char *s)
{
	f_bytes(w, f, s, strlen(s));
}

static void f_msg(struct pbw *w, unsigned f, const struct pbw *sub)
{
	f_bytes(w, f, sub->b, sub->n);
}

static void tensor(struct pbw *t, const char *name, int nd, const int64_t *dims, const float *v,
                   size_t nv, int extra)
{
	int i;

	memset(t, 0, sizeof *t);
	for (i = 0; i < nd; i++)
		f_int(t, 1, dims[i]);
	f_int(t, 2, 1);
	f_str(t, 8, name);
	f_bytes(t, 9, v, nv * sizeof(float));
	if (extra == 1)
		f_int(t, 14, 1); /* data_location EXTERNAL */
}

static void node(struct pbw *n, const char *op, const char *in0, const char *in1, const char *in2,
                 const char *out, const struct pbw *attr, const char *domain)
{
	memset(n, 0, sizeof *n);
	if (in0)
		f_str(n, 1, in0);
	if (in1)
		f_str(n, 1, in1);
	if (in2)
		f_str(n, 1, in2);
	f_str(n, 2, out);
	f_str(n, 4, op);
	if (attr)
		f_msg(n, 5, attr);
	if (domain)
		f_str(n, 7, domain);
}

static void value_info(struct pbw *v, const char *name, int nd, const int64_t *dims)
{
	struct pbw shape = {0}, dim, tt = {0}, tp = {0};
	int i;

	for (i = 0; i < nd; i++) {
		memset(&dim, 0, sizeof dim);
		f_int(&dim, 1, dims[i]);
		f_msg(&shape, 1, &dim);
	}
	f_int(&tt, 1, 1);
	f_msg(&tt, 2, &shape);
	f_msg(&tp, 1, &tt);
	memset(v, 0, sizeof *v);
	f_str(v, 1, name);
	f_msg(v, 2, &tp);
}

/* x (1,1,2,2) -> Flatten -> Gemm(W (3,4), b (3), transB=1) [-> op] -> y */
static void build(struct pbw *model, const char *extra_op, const char *domain, int bad_tensor)
{
	static const int64_t xd[4] = {1, 1, 2, 2}, wd[2] = {3, 4}, bd[1] = {3}, yd[2] = {1, 3};
	static const float w[12] = {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1};
	static const float b[3] = {0.5f, -0.5f, 0};
	struct pbw g = {0}, t, n, a = {0}, vi, op = {0};

	tensor(&t, "W", 2, wd, w, bad_tensor == 2 ? 11 : 12, bad_tensor);
	f_msg(&g, 5, &t);
	tensor(&t, "b", 1, bd, b, 3, 0);
	f_msg(&g, 5, &t);
	node(&n, "Flatten", "x", NULL, NULL, "f", NULL, NULL);
	f_msg(&g, 1, &n);
	f_str(&a, 1, "transB");
	f_int(&a, 3, 1);
	f_int(&a, 20, 2);
	node(&n, "Gemm", "f", "W", "b", extra_op ? "g" : "y", &a, NULL);
	f_msg(&g, 1, &n);
	if (extra_op) {
		node(&n, extra_op, "g", NULL, NULL, "y", NULL, domain);
		f_msg(&g, 1, &n);
	}
	value_info(&vi, "x", 4, xd);
	f_msg(&g, 11, &vi);
	value_info(&vi, "y", 2, yd);
	f_msg(&g, 12, &vi);
	memset(model, 0, sizeof *model);
	f_int(model, 1, 8);
	f_str(&op, 1, "");
	f_int(&op, 2, 13);
	f_msg(model, 8, &op);
	f_msg(model, 7, &g);
}

static void test_valid(void)
{
	struct pbw m;
	struct bw_model *mod = NULL;
	struct bw_graph *g = NULL;
	struct bw_tensor *x, *y;
	struct bw_diag d;
	int shape[4] = {1, 1, 2, 2}, c, h, w;

	build(&m, "Relu", NULL, 0);
	bw_diag_clear(&d);
	CHECKF(bw_onnx_import(m.b, m.n, &mod, &d) == BW_OK, "%s", d.what);
	if (mod == NULL)
		return;
	bw_model_input_shape(mod, &c, &h, &w);
	CHECK(c == 1 && h == 2 && w == 2);
	CHECK(bw_graph_new(1, &g) == BW_OK);
	CHECK(bw_graph_tensor(g, 4, shape, 0, &x) == BW_OK);
	x->data[0] = 1; x->data[1] = 2; x->data[2] = 3; x->data[3] = -4;
	CHECK(bw_model_forward(mod, g, 1, &x, 0, &y) == BW_OK);
	/* W rows: e0, e1, ones; + b; relu */
	CHECK(y->numel == 3 && y->data[0] == 1.5f && y->data[1] == 1.5f && y->data[2] == 2.0f);
	bw_graph_free(g);
	bw_model_free(mod);
}

struct refuse {
	const char *name, *op, *domain;
	int bad_tensor;
	size_t cut;
	enum bw_err err;
	const char *what;
};

static void test_refused(void)
{
	static const struct refuse cases[] = {
		{"unsupported op", "Loop", NULL, 0, 0, BW_ERR_UNSUPPORTED, "'Loop'"},
		{"unsupported op 2", "NonMaxSuppression", NULL, 0, 0, BW_ERR_UNSUPPORTED, "'NonMaxSuppression'"},
		{"custom domain", "Relu", "com.example", 0, 0, BW_ERR_UNSUPPORTED, "com.example"},
		{"external data", NULL, NULL, 1, 0, BW_ERR_UNSUPPORTED, "external"},
		{"raw_data short", NULL, NULL, 2, 0, BW_ERR_MALFORMED, "less data"},
		{"truncated", NULL, NULL, 0, 7, BW_ERR_TRUNCATED, ""},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pbw m;
		struct bw_model *mod = NULL;
		struct bw_diag d;
		enum bw_err e;

		build(&m, cases[i].op, cases[i].domain, cases[i].bad_tensor);
		bw_diag_clear(&d);
		e = bw_onnx_import(m.b, m.n - cases[i].cut, &mod, &d);
		CHECKF(e == cases[i].err && mod == NULL, "%s: %s (%s)", cases[i].name, bw_err_str(e), d.what);
		CHECKF(strstr(d.what, cases[i].what) != NULL, "%s: '%s'", cases[i].name, d.what);
		bw_model_free(mod);
	}
	{
		struct bw_model *mod = NULL;
		static const uint8_t junk[] = "this is not a protobuf at all";

		CHECK(bw_onnx_import(junk, sizeof junk, &mod, NULL) != BW_OK && mod == NULL);
		CHECK(bw_onnx_import("", 0, &mod, NULL) == BW_ERR_MALFORMED && mod == NULL);
	}
}

int main(void)
{
	test_valid();
	test_refused();
	return bw_test_done();
}
