/*
 * tensor/tensor_onnx.c - import an ONNX model (ModelProto, onnx/onnx.proto,
 * IR version 3+) into a bulwark model, for the operators the engine has.
 * Reads with the shared protobuf reader (formats/protobuf); field numbers are
 * from onnx.proto: ModelProto graph=7 opset_import=8; GraphProto node=1
 * initializer=5 input=11 output=12; NodeProto input=1 output=2 op_type=4
 * attribute=5 domain=7; AttributeProto name=1 f=2 i=3 s=4 t=5 floats=7
 * ints=8 type=20; TensorProto dims=1 data_type=2 float_data=4 int64_data=7
 * name=8 raw_data=9 external_data=13 data_location=14; ValueInfoProto
 * name=1 type=2; TypeProto tensor_type=1; Tensor elem_type=1 shape=2;
 * TensorShapeProto dim=1; Dimension dim_value=1.
 * Operator semantics follow the ONNX operator documentation (Operators.md)
 * for the opset the model imports.
 * Must not: execute anything, follow external data, or accept an operator,
 * attribute value or tensor it cannot represent exactly: those are refused
 * by name (BW_ERR_UNSUPPORTED) rather than approximated.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/fileio.h"
#include "formats/protobuf/protobuf.h"
#include "tensor/tensor_int.h"

#define OX_MAX_NODES 4096
#define OX_MAX_INITS 4096
#define OX_MAX_IO 16
#define OX_MAX_ATTRS 32
#define OX_MAX_NODE_IO 8
#define OX_MAX_INTS 16
#define OX_MAX_NAME 4096
#define OX_ARENA_BUDGET ((size_t)64 << 20)
#define OX_MAX_FILE ((size_t)1 << 30)

enum { OX_FLOAT = 1, OX_INT64 = 7 };

struct ox_tensor {
	const char *name;
	struct bw_reader msg; /* the whole TensorProto, re-read to extract values */
	int dtype, ndim;
	int64_t dims[OX_MAX_INTS];
	long long numel;
	int transpose;        /* import as its transpose (Gemm transB=0, MatMul) */
	int used_plain;
	int bn_stat;          /* batch-norm running statistic: not trainable */
};

struct ox_attr {
	const char *name;
	int has_i, has_f, has_t, n_ints;
	int64_t i;
	float f;
	int64_t ints[OX_MAX_INTS];
	const uint8_t *s;
	size_t s_len;
	struct bw_reader t;
};

struct ox_node {
	const char *op, *domain;
	const char *in[OX_MAX_NODE_IO], *out[OX_MAX_NODE_IO];
	int n_in, n_out, n_attrs;
	struct ox_attr attrs[OX_MAX_ATTRS];
	uint64_t off;
};

struct ox_io {
	const char *name;
	int ndim;
	int64_t dims[OX_MAX_INTS];
};

#define OX_MAX_PADS 256

/* A zero Pad on H/W, folded into the Conv or AveragePool that consumes it. */
struct ox_pad {
	const char *out, *in;
	int pads[4]; /* top, left, bottom, right */
};

struct ox {
	struct ox_pad pads[OX_MAX_PADS];
	int n_pads;
	struct bw_arena arena;
	struct bw_diag *d;
	int64_t opset;
	struct ox_node **nodes; /* each in the arena: most graphs are small */
	int n_nodes;
	struct ox_tensor *inits; /* initializers, then Constant outputs */
	int n_inits;
	struct ox_io inputs[OX_MAX_IO], outputs[OX_MAX_IO];
	int n_inputs, n_outputs;
};

static enum bw_err ox_fail(struct ox *x, enum bw_err e, uint64_t off, const char *what)
{
	return bw_diag_set(x->d, e, off, "ONNX: %s", what);
}

static enum bw_err rd_err(struct ox *x, const struct bw_reader *r, const char *what)
{
	/* Never report success: a caller may get here for a failed check of its own. */
	enum bw_err e = r->err != BW_OK ? r->err : BW_ERR_MALFORMED;

	return bw_diag_set(x->d, e, r->err != BW_OK ? r->err_off : r->base, "ONNX: %s: %s", what,
	                   r->err != BW_OK ? bw_err_str(r->err) : "bad string");
}

static const char *ox_str(struct ox *x, const struct bw_pb_field *f)
{
	size_t n;
	const uint8_t *p = bw_pb_bytes(f, &n);

	if (p == NULL || n > OX_MAX_NAME || memchr(p, 0, n) != NULL)
		return NULL;
	return bw_arena_strndup(&x->arena, (const char *)p, n);
}

/* ---- messages ---- */

static enum bw_err parse_tensor(struct ox *x, struct bw_reader msg, struct ox_tensor *t)
{
	struct bw_reader r = msg;
	struct bw_pb_field f;
	size_t nd = 0;
	int k, i;

	memset(t, 0, sizeof *t);
	t->msg = msg;
	t->name = "";
	while ((k = bw_pb_next(&r, &f)) == 1) {
		switch (f.num) {
		case 1:
			if (bw_pb_ints(&f, t->dims, OX_MAX_INTS, &nd) != 0)
				return ox_fail(x, BW_ERR_LIMIT, f.off, "tensor has too many dims");
			break;
		case 2:
			t->dtype = (int)f.v;
			break;
		case 8:
			t->name = ox_str(x, &f);
			if (t->name == NULL)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "bad tensor name");
			break;
		case 13:
			return ox_fail(x, BW_ERR_UNSUPPORTED, f.off, "tensor with external data");
		case 14:
			if (f.v != 0)
				return ox_fail(x, BW_ERR_UNSUPPORTED, f.off, "tensor with external data");
			break;
		default:
			break;
		}
	}
	if (k < 0)
		return rd_err(x, &r, "TensorProto");
	t->ndim = (int)nd;
	t->numel = 1;
	for (i = 0; i < t->ndim; i++) {
		if (t->dims[i] < 0 || t->dims[i] > BW_T_MAX_NUMEL)
			return ox_fail(x, BW_ERR_LIMIT, msg.base, "tensor dimension out of range");
		t->numel *= t->dims[i];
		if (t->numel > BW_T_MAX_NUMEL)
			return ox_fail(x, BW_ERR_LIMIT, msg.base, "tensor too large");
	}
	return BW_OK;
}

/* Values of a FLOAT tensor into dst (numel floats). */
static enum bw_err tensor_floats(struct ox *x, const struct ox_tensor *t, float *dst)
{
	struct bw_reader r = t->msg;
	struct bw_pb_field f;
	size_t n = 0, len;
	const uint8_t *raw = NULL;
	int k;

	if (t->dtype != OX_FLOAT)
		return bw_diag_set(x->d, BW_ERR_UNSUPPORTED, t->msg.base,
		                   "ONNX: tensor '%.64s' has data type %d (float32 only)", t->name, t->dtype);
	while ((k = bw_pb_next(&r, &f)) == 1) {
		if (f.num == 9) {
			raw = bw_pb_bytes(&f, &len);
			if (raw == NULL || len != (size_t)t->numel * 4)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "raw_data length does not match dims");
		} else if (f.num == 4) {
			if (bw_pb_floats(&f, dst, (size_t)t->numel, &n) != 0)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "float_data does not match dims");
		}
	}
	if (k < 0)
		return rd_err(x, &r, "TensorProto");
	if (raw != NULL && n == 0) {
		memcpy(dst, raw, (size_t)t->numel * 4); /* little-endian, as ONNX stores raw_data */
		return BW_OK;
	}
	if (raw != NULL || n != (size_t)t->numel)
		return bw_diag_set(x->d, BW_ERR_MALFORMED, t->msg.base,
		                   "ONNX: tensor '%.64s' data does not match its dims", t->name);
	return BW_OK;
}

static enum bw_err tensor_ints(struct ox *x, const struct ox_tensor *t, int64_t *dst, size_t max)
{
	struct bw_reader r = t->msg;
	struct bw_pb_field f;
	size_t n = 0, len, i;
	const uint8_t *raw = NULL;
	int k;

	if (t->dtype != OX_INT64 || t->numel > (long long)max)
		return bw_diag_set(x->d, BW_ERR_UNSUPPORTED, t->msg.base,
		                   "ONNX: tensor '%.64s' is not a small int64 tensor", t->name);
	while ((k = bw_pb_next(&r, &f)) == 1) {
		if (f.num == 9) {
			raw = bw_pb_bytes(&f, &len);
			if (raw == NULL || len != (size_t)t->numel * 8)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "raw_data length does not match dims");
		} else if (f.num == 7) {
			if (bw_pb_ints(&f, dst, max, &n) != 0)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "int64_data does not match dims");
		}
	}
	if (k < 0)
		return rd_err(x, &r, "TensorProto");
	if (raw != NULL && n == 0) {
		for (i = 0; i < (size_t)t->numel; i++) {
			uint64_t u = 0;
			int b;

			for (b = 7; b >= 0; b--)
				u = (u << 8) | raw[i * 8 + (size_t)b];
			dst[i] = (int64_t)u;
		}
		return BW_OK;
	}
	if (raw != NULL || n != (size_t)t->numel)
		return ox_fail(x, BW_ERR_MALFORMED, t->msg.base, "int64 tensor data does not match dims");
	return BW_OK;
}

static enum bw_err parse_attr(struct ox *x, struct bw_reader r, struct ox_attr *a)
{
	struct bw_pb_field f;
	size_t n = 0;
	int k;

	memset(a, 0, sizeof *a);
	a->name = "";
	while ((k = bw_pb_next(&r, &f)) == 1) {
		switch (f.num) {
		case 1:
			a->name = ox_str(x, &f);
			if (a->name == NULL)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "bad attribute name");
			break;
		case 2:
			if (f.wire != BW_PB_I32)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "attribute f is not fixed32");
			a->f = bw_pb_float(&f);
			a->has_f = 1;
			break;
		case 3:
			if (f.wire != BW_PB_VARINT)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "attribute i is not a varint");
			a->i = (int64_t)f.v;
			a->has_i = 1;
			break;
		case 4:
			a->s = bw_pb_bytes(&f, &a->s_len);
			break;
		case 5:
			if (f.wire != BW_PB_LEN)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "attribute t is not a message");
			a->t = f.sub;
			a->has_t = 1;
			break;
		case 8:
			if (bw_pb_ints(&f, a->ints, OX_MAX_INTS, &n) != 0)
				return ox_fail(x, BW_ERR_LIMIT, f.off, "attribute has too many ints");
			a->n_ints = (int)n;
			break;
		default:
			break;
		}
	}
	return k < 0 ? rd_err(x, &r, "AttributeProto") : BW_OK;
}

static enum bw_err parse_node(struct ox *x, struct bw_reader r, struct ox_node *nd)
{
	struct bw_pb_field f;
	enum bw_err err;
	const char *s;
	int k;

	memset(nd, 0, sizeof *nd);
	nd->off = r.base;
	nd->op = "";
	nd->domain = "";
	while ((k = bw_pb_next(&r, &f)) == 1) {
		switch (f.num) {
		case 1: case 2:
			s = ox_str(x, &f);
			if (s == NULL)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "bad node input/output name");
			if (f.num == 1) {
				if (nd->n_in >= OX_MAX_NODE_IO)
					return ox_fail(x, BW_ERR_LIMIT, f.off, "node has too many inputs");
				nd->in[nd->n_in++] = s;
			} else {
				if (nd->n_out >= OX_MAX_NODE_IO)
					return ox_fail(x, BW_ERR_LIMIT, f.off, "node has too many outputs");
				nd->out[nd->n_out++] = s;
			}
			break;
		case 4: case 7:
			s = ox_str(x, &f);
			if (s == NULL)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "bad op_type or domain");
			if (f.num == 4)
				nd->op = s;
			else
				nd->domain = s;
			break;
		case 5:
			if (f.wire != BW_PB_LEN || nd->n_attrs >= OX_MAX_ATTRS)
				return ox_fail(x, BW_ERR_LIMIT, f.off, "too many attributes");
			err = parse_attr(x, f.sub, &nd->attrs[nd->n_attrs++]);
			if (err != BW_OK)
				return err;
			break;
		default:
			break;
		}
	}
	return k < 0 ? rd_err(x, &r, "NodeProto") : BW_OK;
}

static enum bw_err parse_valueinfo(struct ox *x, struct bw_reader r, struct ox_io *io)
{
	struct bw_pb_field f, f2, f3, f4, f5;
	struct bw_reader tp, tt, sh, dm;
	int k;

	memset(io, 0, sizeof *io);
	io->name = "";
	while ((k = bw_pb_next(&r, &f)) == 1) {
		if (f.num == 1) {
			io->name = ox_str(x, &f);
			if (io->name == NULL)
				return ox_fail(x, BW_ERR_MALFORMED, f.off, "bad value name");
		} else if (f.num == 2 && f.wire == BW_PB_LEN) {
			/* TypeProto.tensor_type(1).shape(2).dim(1).dim_value(1) */
			tp = f.sub;
			while (bw_pb_next(&tp, &f2) == 1) {
				if (f2.num != 1 || f2.wire != BW_PB_LEN)
					continue;
				tt = f2.sub;
				while (bw_pb_next(&tt, &f3) == 1) {
					if (f3.num != 2 || f3.wire != BW_PB_LEN)
						continue;
					sh = f3.sub;
					while (bw_pb_next(&sh, &f4) == 1) {
						int64_t v = -1;

						if (f4.num != 1 || f4.wire != BW_PB_LEN)
							continue;
						dm = f4.sub;
						while (bw_pb_next(&dm, &f5) == 1)
							if (f5.num == 1 && f5.wire == BW_PB_VARINT)
								v = (int64_t)f5.v;
						if (io->ndim < OX_MAX_INTS)
							io->dims[io->ndim++] = v;
					}
				}
			}
		}
	}
	return k < 0 ? rd_err(x, &r, "ValueInfoProto") : BW_OK;
}

static enum bw_err parse_graph(struct ox *x, struct bw_reader r)
{
	struct bw_pb_field f;
	enum bw_err err;
	int k;

	while ((k = bw_pb_next(&r, &f)) == 1) {
		if (f.wire != BW_PB_LEN)
			continue;
		switch (f.num) {
		case 1:
			if (x->n_nodes >= OX_MAX_NODES)
				return ox_fail(x, BW_ERR_LIMIT, f.off, "too many nodes");
			x->nodes[x->n_nodes] = bw_arena_alloc(&x->arena, sizeof(struct ox_node));
			if (x->nodes[x->n_nodes] == NULL)
				return ox_fail(x, BW_ERR_LIMIT, f.off, "graph over the import memory budget");
			err = parse_node(x, f.sub, x->nodes[x->n_nodes++]);
			if (err != BW_OK)
				return err;
			break;
		case 5:
			if (x->n_inits >= OX_MAX_INITS)
				return ox_fail(x, BW_ERR_LIMIT, f.off, "too many initializers");
			err = parse_tensor(x, f.sub, &x->inits[x->n_inits++]);
			if (err != BW_OK)
				return err;
			break;
		case 11: case 12:
			if ((f.num == 11 ? x->n_inputs : x->n_outputs) >= OX_MAX_IO)
				return ox_fail(x, BW_ERR_LIMIT, f.off, "too many graph inputs/outputs");
			err = parse_valueinfo(x, f.sub, f.num == 11 ? &x->inputs[x->n_inputs++] :
			                                               &x->outputs[x->n_outputs++]);
			if (err != BW_OK)
				return err;
			break;
		case 15:
			return ox_fail(x, BW_ERR_UNSUPPORTED, f.off, "sparse initializers");
		default:
			break;
		}
	}
	return k < 0 ? rd_err(x, &r, "GraphProto") : BW_OK;
}

/* ---- building ---- */

static const struct ox_attr *attr(const struct ox_node *nd, const char *name)
{
	int i;

	for (i = 0; i < nd->n_attrs; i++)
		if (strcmp(nd->attrs[i].name, name) == 0)
			return &nd->attrs[i];
	return NULL;
}

static struct ox_tensor *find_init(struct ox *x, const char *name)
{
	int i;

	for (i = x->n_inits - 1; i >= 0; i--)
		if (strcmp(x->inits[i].name, name) == 0)
			return &x->inits[i];
	return NULL;
}

static enum bw_err unsupported(struct ox *x, const struct ox_node *nd, const char *why)
{
	return bw_diag_set(x->d, BW_ERR_UNSUPPORTED, nd->off, "ONNX operator '%.64s' %s", nd->op, why);
}

/* Copy ints attribute of exactly n values within [lo, hi]; absent keeps dst. */
static int attr_ints(const struct ox_node *nd, const char *name, int *dst, int n, int lo, int hi)
{
	const struct ox_attr *a = attr(nd, name);
	int i;

	if (a == NULL)
		return 0;
	if (a->n_ints != n)
		return -1;
	for (i = 0; i < n; i++) {
		if (a->ints[i] < lo || a->ints[i] > hi)
			return -1;
		dst[i] = (int)a->ints[i];
	}
	return 1;
}

static int auto_pad_ok(const struct ox_node *nd)
{
	const struct ox_attr *a = attr(nd, "auto_pad");

	if (a == NULL || a->s == NULL)
		return 1;
	return (a->s_len == 6 && memcmp(a->s, "NOTSET", 6) == 0) ||
	       (a->s_len == 5 && memcmp(a->s, "VALID", 5) == 0);
}

static int value_of(struct bw_model *m, const char *name)
{
	return bw_model_find_value(m, name);
}

static float scalar_of(struct ox *x, struct bw_model *m, const char *name, int *ok)
{
	int v = value_of(m, name);
	struct ox_tensor *t;

	*ok = 0;
	if (v >= 0 && m->value_param[v] >= 0 && m->params[m->value_param[v]].t.numel == 1) {
		*ok = 1;
		return m->params[m->value_param[v]].t.data[0];
	}
	t = find_init(x, name);
	(void)t;
	return 0.0f;
}

/* Float values the TensorProto actually carries (raw_data bytes / 4 + float_data count). */
static long long tensor_float_avail(const struct ox_tensor *t)
{
	struct bw_reader r = t->msg;
	struct bw_pb_field f;
	long long n = 0;

	while (bw_pb_next(&r, &f) == 1) {
		if (f.num == 9 && f.wire == BW_PB_LEN)
			n += (long long)(f.sub.len / 4);
		else if (f.num == 4 && f.wire == BW_PB_LEN)
			n += (long long)(f.sub.len / 4);
		else if (f.num == 4 && f.wire == BW_PB_I32)
			n++;
	}
	return n;
}

static enum bw_err add_float_param(struct ox *x, struct bw_model *m, struct ox_tensor *t,
                                   const char *name)
{
	int shape[BW_T_MAXDIM], i, p, nd = t->ndim;
	struct bw_tensor *pt;
	enum bw_err err;

	if (nd > BW_T_MAXDIM)
		return bw_diag_set(x->d, BW_ERR_UNSUPPORTED, t->msg.base,
		                   "ONNX: tensor '%.64s' has %d dims (4 at most)", t->name, nd);
	if (nd == 0) { /* scalar */
		nd = 1;
		shape[0] = 1;
	}
	for (i = 0; i < t->ndim; i++)
		shape[i] = (int)t->dims[i];
	if (t->transpose) {
		if (t->ndim != 2)
			return ox_fail(x, BW_ERR_UNSUPPORTED, t->msg.base, "transposed weight is not 2-D");
		shape[0] = (int)t->dims[1];
		shape[1] = (int)t->dims[0];
	}
	/* Check the data is there before taking memory for it. */
	if (t->dtype == OX_FLOAT && tensor_float_avail(t) < t->numel)
		return bw_diag_set(x->d, BW_ERR_MALFORMED, t->msg.base,
		                   "ONNX: tensor '%.64s' has less data than its dims", t->name);
	p = bw_model_add_param(m, name, nd, shape, !t->bn_stat);
	if (p < 0)
		return ox_fail(x, BW_ERR_LIMIT, t->msg.base, "too many parameters");
	pt = &m->params[p].t;
	err = tensor_floats(x, t, pt->data);
	if (err != BW_OK)
		return err;
	if (t->transpose) {
		float *tmp = bw_calloc((size_t)pt->numel, sizeof(float));
		int r, c, rows = (int)t->dims[0], cols = (int)t->dims[1];

		if (tmp == NULL)
			return BW_ERR_NOMEM;
		for (r = 0; r < rows; r++)
			for (c = 0; c < cols; c++)
				tmp[(size_t)c * (size_t)rows + (size_t)r] = pt->data[(size_t)r * (size_t)cols + (size_t)c];
		memcpy(pt->data, tmp, sizeof(float) * (size_t)pt->numel);
		bw_free(tmp);
	}
	return BW_OK;
}

/* Value id of a node input; params are created on first use from initializers. */
static int input_value(struct ox *x, struct bw_model *m, const char *name, enum bw_err *err)
{
	int v = value_of(m, name);
	struct ox_tensor *t;

	*err = BW_OK;
	if (v >= 0)
		return v;
	t = find_init(x, name);
	if (t == NULL) {
		int i;

		for (i = 0; i < x->n_pads; i++)
			if (strcmp(x->pads[i].out, name) == 0) {
				*err = bw_diag_set(x->d, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
				                   "ONNX operator 'Pad' is supported only as zero padding "
				                   "feeding Conv or AveragePool");
				return -1;
			}
		*err = bw_diag_set(x->d, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                   "ONNX: value '%.64s' is used before it is defined", name);
		return -1;
	}
	if (t->dtype != OX_FLOAT) {
		*err = bw_diag_set(x->d, BW_ERR_UNSUPPORTED, t->msg.base,
		                   "ONNX: tensor '%.64s' (type %d) used as data; float32 only", name, t->dtype);
		return -1;
	}
	*err = add_float_param(x, m, t, name);
	if (*err != BW_OK)
		return -1;
	return value_of(m, name);
}

static enum bw_err emit(struct ox *x, struct bw_model *m, const struct ox_node *nd, enum bw_op op,
                        int n_in, const struct bw_op_attr *a)
{
	struct bw_node *bn;
	enum bw_err err;
	int i;

	if (m->n_nodes >= BW_MODEL_MAX_NODES)
		return ox_fail(x, BW_ERR_LIMIT, nd->off, "too many nodes");
	if (nd->n_out < 1 || nd->out[0][0] == '\0')
		return unsupported(x, nd, "has no output");
	for (i = 1; i < nd->n_out; i++)
		if (nd->out[i][0] != '\0')
			return unsupported(x, nd, "with more than one output");
	bn = &m->nodes[m->n_nodes];
	memset(bn, 0, sizeof *bn);
	bn->op = op;
	bn->n_in = n_in;
	for (i = 0; i < n_in; i++) {
		if (i >= nd->n_in || nd->in[i][0] == '\0')
			return unsupported(x, nd, "is missing an input");
		bn->in[i] = input_value(x, m, nd->in[i], &err);
		if (bn->in[i] < 0)
			return err;
	}
	if (value_of(m, nd->out[0]) >= 0)
		return ox_fail(x, BW_ERR_MALFORMED, nd->off, "a value is defined twice");
	bn->out = bw_model_value(m, nd->out[0]);
	if (bn->out < 0)
		return ox_fail(x, BW_ERR_LIMIT, nd->off, "too many values");
	if (a != NULL)
		bn->a = *a;
	else
		bw_op_attr_default(&bn->a, op);
	m->n_nodes++;
	return BW_OK;
}

static const struct ox_pad *find_pad(const struct ox *x, const char *name)
{
	int i;

	for (i = 0; i < x->n_pads; i++)
		if (strcmp(x->pads[i].out, name) == 0)
			return &x->pads[i];
	return NULL;
}

static enum bw_err map_pad(struct ox *x, const struct ox_node *nd)
{
	const struct ox_attr *at = attr(nd, "mode");
	int64_t pv[8];
	struct ox_pad *pd;
	int i;

	if (at != NULL && at->s != NULL && !(at->s_len == 8 && memcmp(at->s, "constant", 8) == 0))
		return unsupported(x, nd, "other than constant mode");
	if (nd->n_in < 1 || nd->n_out != 1 || x->n_pads >= OX_MAX_PADS)
		return unsupported(x, nd, "with this form");
	if (x->opset >= 11) {
		struct ox_tensor *t = nd->n_in > 1 ? find_init(x, nd->in[1]) : NULL;
		enum bw_err err;

		if (t == NULL || t->numel != 8)
			return unsupported(x, nd, "with pads that are not a constant for 4 dimensions");
		err = tensor_ints(x, t, pv, 8);
		if (err != BW_OK)
			return err;
		if (nd->n_in > 2 && nd->in[2][0] != '\0') {
			struct ox_tensor *cv = find_init(x, nd->in[2]);
			float v = 1.0f;

			if (cv == NULL || cv->numel != 1 || tensor_floats(x, cv, &v) != BW_OK || v != 0.0f)
				return unsupported(x, nd, "with a value other than 0");
		}
	} else {
		at = attr(nd, "pads");
		if (at == NULL || at->n_ints != 8)
			return unsupported(x, nd, "with pads that are not for 4 dimensions");
		memcpy(pv, at->ints, sizeof pv);
		if ((at = attr(nd, "value")) != NULL && at->f != 0.0f)
			return unsupported(x, nd, "with a value other than 0");
	}
	/* ONNX pads: [x1_begin, x2_begin, x3_begin, x4_begin, x1_end, ...] */
	if (pv[0] != 0 || pv[1] != 0 || pv[4] != 0 || pv[5] != 0)
		return unsupported(x, nd, "on the batch or channel axis");
	for (i = 0; i < 8; i++)
		if (pv[i] < 0 || pv[i] > 65536)
			return unsupported(x, nd, "with negative or huge pads");
	pd = &x->pads[x->n_pads++];
	pd->out = nd->out[0];
	pd->in = nd->in[0];
	pd->pads[0] = (int)pv[2];
	pd->pads[1] = (int)pv[3];
	pd->pads[2] = (int)pv[6];
	pd->pads[3] = (int)pv[7];
	return BW_OK;
}

/* If nd's first input is a folded Pad, emit from its source with the pads added. */
static enum bw_err emit_padded(struct ox *x, struct bw_model *m, const struct ox_node *nd,
                               enum bw_op op, int n_in, struct bw_op_attr *a)
{
	const struct ox_pad *pd = nd->n_in > 0 ? find_pad(x, nd->in[0]) : NULL;
	struct ox_node *cp;
	enum bw_err err;
	int i, any = 0;

	if (pd == NULL)
		return emit(x, m, nd, op, n_in, a);
	for (i = 0; i < 4; i++)
		any |= pd->pads[i] != 0;
	if (op == BW_OP_AVGPOOL && any) {
		int own = a->pad[0] | a->pad[1] | a->pad[2] | a->pad[3];

		if (own && !a->count_include_pad)
			return unsupported(x, nd, "after Pad with its own pads excluded from the count");
		a->count_include_pad = 1; /* the padded zeros are real elements */
	}
	for (i = 0; i < 4; i++)
		a->pad[i] += pd->pads[i];
	cp = bw_malloc(sizeof *cp);
	if (cp == NULL)
		return BW_ERR_NOMEM;
	*cp = *nd;
	cp->in[0] = pd->in;
	err = emit(x, m, cp, op, n_in, a);
	bw_free(cp);
	return err;
}

static enum bw_err map_node(struct ox *x, struct bw_model *m, const struct ox_node *nd)
{
	const char *op = nd->op;
	struct bw_op_attr a;
	const struct ox_attr *at;
	int k2[2];

	if (nd->domain[0] != '\0' && strcmp(nd->domain, "ai.onnx") != 0)
		return bw_diag_set(x->d, BW_ERR_UNSUPPORTED, nd->off,
		                   "ONNX operator '%.64s' from domain '%.64s' is not supported", op,
		                   nd->domain);
	if (strcmp(op, "Conv") == 0) {
		bw_op_attr_default(&a, BW_OP_CONV2D);
		if (!auto_pad_ok(nd) || attr_ints(nd, "strides", a.stride, 2, 1, 65536) < 0 ||
		    attr_ints(nd, "pads", a.pad, 4, 0, 65536) < 0 ||
		    attr_ints(nd, "dilations", a.dilation, 2, 1, 65536) < 0 ||
		    attr_ints(nd, "kernel_shape", k2, 2, 1, 65536) < 0)
			return unsupported(x, nd, "with these attributes (2-D convolution only, no auto_pad SAME)");
		if ((at = attr(nd, "group")) != NULL) {
			if (at->i < 1 || at->i > 65536)
				return unsupported(x, nd, "with this group count");
			a.groups = (int)at->i;
		}
		return emit_padded(x, m, nd, BW_OP_CONV2D, nd->n_in >= 3 && nd->in[2][0] ? 3 : 2, &a);
	}
	if (strcmp(op, "Gemm") == 0) {
		const struct ox_attr *ta = attr(nd, "transA"), *tb = attr(nd, "transB");
		const struct ox_attr *al = attr(nd, "alpha"), *be = attr(nd, "beta");
		struct ox_tensor *w;

		if ((ta != NULL && ta->i != 0) || (al != NULL && al->f != 1.0f) ||
		    (be != NULL && be->f != 1.0f))
			return unsupported(x, nd, "with transA, alpha or beta other than 0, 1, 1");
		if (tb == NULL || tb->i == 0) {
			if (nd->n_in < 2 || (w = find_init(x, nd->in[1])) == NULL ||
			    value_of(m, nd->in[1]) >= 0)
				return unsupported(x, nd, "with transB=0 needs a constant B");
			w->transpose = 1;
		}
		return emit(x, m, nd, BW_OP_LINEAR, nd->n_in >= 3 && nd->in[2][0] ? 3 : 2, NULL);
	}
	if (strcmp(op, "MatMul") == 0) {
		struct ox_tensor *w;

		if (nd->n_in != 2 || (w = find_init(x, nd->in[1])) == NULL || w->ndim != 2 ||
		    value_of(m, nd->in[1]) >= 0)
			return unsupported(x, nd, "other than (N,K) x constant (K,M)");
		w->transpose = 1;
		return emit(x, m, nd, BW_OP_LINEAR, 2, NULL);
	}
	if (strcmp(op, "Add") == 0)
		return emit(x, m, nd, BW_OP_ADD, 2, NULL);
	if (strcmp(op, "Sub") == 0)
		return emit(x, m, nd, BW_OP_SUB, 2, NULL);
	if (strcmp(op, "Mul") == 0)
		return emit(x, m, nd, BW_OP_MUL, 2, NULL);
	if (strcmp(op, "Div") == 0)
		return emit(x, m, nd, BW_OP_DIV, 2, NULL);
	if (strcmp(op, "Relu") == 0)
		return emit(x, m, nd, BW_OP_RELU, 1, NULL);
	if (strcmp(op, "Sigmoid") == 0)
		return emit(x, m, nd, BW_OP_SIGMOID, 1, NULL);
	if (strcmp(op, "Tanh") == 0)
		return emit(x, m, nd, BW_OP_TANH, 1, NULL);
	if (strcmp(op, "Sign") == 0)
		return emit(x, m, nd, BW_OP_SIGN, 1, NULL);
	if (strcmp(op, "Identity") == 0)
		return emit(x, m, nd, BW_OP_IDENTITY, 1, NULL);
	if (strcmp(op, "Dropout") == 0) /* inference: identity (ONNX Dropout, training_mode false) */
		return emit(x, m, nd, BW_OP_IDENTITY, 1, NULL);
	if (strcmp(op, "LeakyRelu") == 0) {
		bw_op_attr_default(&a, BW_OP_LEAKY_RELU);
		if ((at = attr(nd, "alpha")) != NULL)
			a.alpha = at->f;
		return emit(x, m, nd, BW_OP_LEAKY_RELU, 1, &a);
	}
	if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) {
		enum bw_op bop = op[0] == 'M' ? BW_OP_MAXPOOL : BW_OP_AVGPOOL;
		int dil[2] = {1, 1};

		bw_op_attr_default(&a, bop);
		a.stride[0] = a.stride[1] = 1; /* ONNX default stride is 1 */
		if (!auto_pad_ok(nd) || attr_ints(nd, "kernel_shape", a.kernel, 2, 1, 65536) != 1 ||
		    attr_ints(nd, "strides", a.stride, 2, 1, 65536) < 0 ||
		    attr_ints(nd, "pads", a.pad, 4, 0, 65536) < 0 ||
		    attr_ints(nd, "dilations", dil, 2, 1, 1) < 0)
			return unsupported(x, nd, "with these attributes (2-D, no dilation, no auto_pad SAME)");
		if ((at = attr(nd, "ceil_mode")) != NULL)
			a.ceil_mode = at->i != 0;
		if ((at = attr(nd, "count_include_pad")) != NULL)
			a.count_include_pad = at->i != 0;
		if (bop == BW_OP_AVGPOOL)
			return emit_padded(x, m, nd, bop, 1, &a);
		return emit(x, m, nd, bop, 1, &a);
	}
	if (strcmp(op, "GlobalAveragePool") == 0)
		return emit(x, m, nd, BW_OP_GAP, 1, NULL);
	if (strcmp(op, "BatchNormalization") == 0) {
		struct ox_tensor *t;
		int i;

		bw_op_attr_default(&a, BW_OP_BATCHNORM);
		if ((at = attr(nd, "epsilon")) != NULL)
			a.eps = at->f;
		if ((at = attr(nd, "momentum")) != NULL)
			a.momentum = 1.0f - at->f; /* ONNX: running = running*momentum + batch*(1-momentum) */
		if (((at = attr(nd, "training_mode")) != NULL && at->i != 0) || !(a.eps > 0.0f))
			return unsupported(x, nd, "in training mode");
		for (i = 3; i < 5 && i < nd->n_in; i++)
			if ((t = find_init(x, nd->in[i])) != NULL)
				t->bn_stat = 1;
		return emit(x, m, nd, BW_OP_BATCHNORM, 5, &a);
	}
	if (strcmp(op, "Flatten") == 0) {
		bw_op_attr_default(&a, BW_OP_FLATTEN);
		if ((at = attr(nd, "axis")) != NULL) {
			if (at->i < -4 || at->i > 4)
				return unsupported(x, nd, "with this axis");
			a.axis = (int)at->i;
		}
		return emit(x, m, nd, BW_OP_FLATTEN, 1, &a);
	}
	if (strcmp(op, "Reshape") == 0) {
		struct ox_tensor *t;
		int64_t sh[BW_T_MAXDIM];
		enum bw_err err;
		int i;

		if (nd->n_in != 2 || (t = find_init(x, nd->in[1])) == NULL)
			return unsupported(x, nd, "with a shape that is not a constant");
		if ((at = attr(nd, "allowzero")) != NULL && at->i != 0)
			return unsupported(x, nd, "with allowzero=1");
		if (t->ndim != 1 || t->numel < 1 || t->numel > BW_T_MAXDIM)
			return unsupported(x, nd, "to more than 4 dimensions");
		err = tensor_ints(x, t, sh, BW_T_MAXDIM);
		if (err != BW_OK)
			return err;
		bw_op_attr_default(&a, BW_OP_RESHAPE);
		a.shape_n = (int)t->numel;
		for (i = 0; i < a.shape_n; i++) {
			if (sh[i] < -1 || sh[i] > BW_T_MAX_NUMEL)
				return unsupported(x, nd, "with a bad shape value");
			a.shape[i] = (int)sh[i];
		}
		return emit(x, m, nd, BW_OP_RESHAPE, 1, &a);
	}
	if (strcmp(op, "Concat") == 0) {
		bw_op_attr_default(&a, BW_OP_CONCAT);
		if ((at = attr(nd, "axis")) == NULL || at->i < -4 || at->i > 3)
			return unsupported(x, nd, "without a valid axis");
		a.axis = (int)at->i;
		if (nd->n_in < 1 || nd->n_in > BW_NODE_MAX_IN)
			return unsupported(x, nd, "with more than 5 inputs");
		return emit(x, m, nd, BW_OP_CONCAT, nd->n_in, &a);
	}
	if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0) {
		enum bw_op bop = op[0] == 'S' ? BW_OP_SOFTMAX : BW_OP_LOGSOFTMAX;

		bw_op_attr_default(&a, bop);
		a.axis = x->opset >= 13 ? -1 : 1;
		if ((at = attr(nd, "axis")) != NULL) {
			if (at->i < -4 || at->i > 3)
				return unsupported(x, nd, "with this axis");
			a.axis = (int)at->i;
		}
		/* Before opset 13 the input was coerced to 2-D at axis; the same as a per-axis
		 * softmax only when axis is the last dimension, which PyTorch always exports. */
		if (x->opset < 13 && a.axis != -1 && a.axis != 1)
			return unsupported(x, nd, "with opset < 13 and an inner axis");
		return emit(x, m, nd, bop, 1, &a);
	}
	if (strcmp(op, "Clip") == 0) {
		int ok;

		bw_op_attr_default(&a, BW_OP_CLAMP);
		if (x->opset < 11) {
			if ((at = attr(nd, "min")) != NULL)
				a.lo = at->f;
			if ((at = attr(nd, "max")) != NULL)
				a.hi = at->f;
		} else {
			if (nd->n_in > 1 && nd->in[1][0] != '\0') {
				enum bw_err err;

				if (input_value(x, m, nd->in[1], &err) < 0)
					return err;
				a.lo = scalar_of(x, m, nd->in[1], &ok);
				if (!ok)
					return unsupported(x, nd, "with a min that is not a constant scalar");
			}
			if (nd->n_in > 2 && nd->in[2][0] != '\0') {
				enum bw_err err;

				if (input_value(x, m, nd->in[2], &err) < 0)
					return err;
				a.hi = scalar_of(x, m, nd->in[2], &ok);
				if (!ok)
					return unsupported(x, nd, "with a max that is not a constant scalar");
			}
		}
		if (a.lo > a.hi)
			return unsupported(x, nd, "with min > max");
		return emit(x, m, nd, BW_OP_CLAMP, 1, &a);
	}
	if (strcmp(op, "Pad") == 0)
		return map_pad(x, nd);
	if (strcmp(op, "Constant") == 0) {
		struct ox_tensor *t;
		enum bw_err err;

		at = attr(nd, "value");
		if (at == NULL || !at->has_t || nd->n_out != 1)
			return unsupported(x, nd, "other than a 'value' tensor");
		if (x->n_inits >= OX_MAX_INITS)
			return ox_fail(x, BW_ERR_LIMIT, nd->off, "too many constants");
		t = &x->inits[x->n_inits];
		err = parse_tensor(x, at->t, t);
		if (err != BW_OK)
			return err;
		t->name = nd->out[0];
		x->n_inits++;
		return BW_OK; /* materialised as a parameter when a node uses it */
	}
	return unsupported(x, nd, "is not supported");
}

static enum bw_err build(struct ox *x, struct bw_model **out)
{
	struct bw_model *m = NULL;
	enum bw_err err;
	int i, j;

	err = bw_model_alloc(&m);
	if (err != BW_OK)
		return err;
	for (i = 0; i < x->n_inputs; i++) {
		const struct ox_io *io = &x->inputs[i];

		if (find_init(x, io->name) != NULL)
			continue; /* IR < 4 lists initializers among the inputs */
		if (m->n_inputs >= BW_MODEL_MAX_INPUTS || io->name[0] == '\0') {
			err = ox_fail(x, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "more than 4 graph inputs");
			goto out;
		}
		m->inputs[m->n_inputs++] = bw_model_value(m, io->name);
		if (m->n_inputs == 1 && io->ndim == 4)
			for (j = 1; j < 4; j++)
				if (io->dims[j] > 0 && io->dims[j] < 65536)
					(&m->in_c)[j - 1] = (int)io->dims[j];
	}
	/* Mark transposes first (they depend on every use), then map in order. */
	for (i = 0; i < x->n_nodes; i++) {
		err = map_node(x, m, x->nodes[i]);
		if (err != BW_OK)
			goto out;
	}
	if (x->n_outputs < 1) {
		err = ox_fail(x, BW_ERR_MALFORMED, BW_NO_OFFSET, "graph has no output");
		goto out;
	}
	m->output = value_of(m, x->outputs[0].name);
	if (x->outputs[0].ndim == 2 && x->outputs[0].dims[1] > 0 && x->outputs[0].dims[1] < 1 << 24)
		m->n_classes = (int)x->outputs[0].dims[1];
	if (m->in_c == 0 || m->in_h == 0 || m->in_w == 0)
		m->in_c = m->in_h = m->in_w = 0;
	err = bw_model_validate(m, x->d);
out:
	if (err != BW_OK)
		bw_model_free(m);
	else
		*out = m;
	return err;
}

enum bw_err bw_onnx_import(const void *bytes, size_t len, struct bw_model **out,
                           struct bw_diag *d)
{
	struct ox *x = NULL;
	struct bw_reader r, gr;
	struct bw_pb_field f, f2;
	enum bw_err err = BW_OK;
	int k, have_graph = 0;

	*out = NULL;
	if (bytes == NULL && len != 0)
		return BW_ERR_ARG;
	x = bw_calloc(1, sizeof *x);
	if (x == NULL)
		return BW_ERR_NOMEM;
	bw_arena_init(&x->arena, OX_ARENA_BUDGET);
	x->d = d;
	x->opset = 1;
	x->nodes = bw_calloc(OX_MAX_NODES, sizeof *x->nodes);
	x->inits = bw_calloc(OX_MAX_INITS, sizeof *x->inits);
	if (x->nodes == NULL || x->inits == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	bw_rd_init(&r, bytes, len, 0);
	memset(&gr, 0, sizeof gr);
	while ((k = bw_pb_next(&r, &f)) == 1) {
		if (f.num == 7) {
			if (f.wire != BW_PB_LEN || have_graph) {
				err = ox_fail(x, BW_ERR_MALFORMED, f.off, "ModelProto.graph repeated or not a message");
				goto out;
			}
			gr = f.sub;
			have_graph = 1;
		} else if (f.num == 8 && f.wire == BW_PB_LEN) {
			struct bw_reader os = f.sub;
			const char *dom = "";
			int64_t ver = 0;

			while ((k = bw_pb_next(&os, &f2)) == 1) {
				if (f2.num == 1)
					dom = ox_str(x, &f2);
				else if (f2.num == 2 && f2.wire == BW_PB_VARINT)
					ver = (int64_t)f2.v;
			}
			if (k < 0 || dom == NULL) {
				err = rd_err(x, &os, "OperatorSetIdProto");
				goto out;
			}
			if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0)
				x->opset = ver;
		}
	}
	if (k < 0) {
		err = rd_err(x, &r, "ModelProto");
		goto out;
	}
	if (!have_graph) {
		err = ox_fail(x, BW_ERR_MALFORMED, 0, "no graph (not an ONNX model)");
		goto out;
	}
	err = parse_graph(x, gr);
	if (err == BW_OK)
		err = build(x, out);
	if (err == BW_OK && *out == NULL)
		err = BW_ERR_INTERNAL;
out:
	if (x != NULL) {
		bw_arena_release(&x->arena);
		bw_free(x->nodes);
		bw_free(x->inits);
		bw_free(x);
	}
	return err;
}

enum bw_err bw_model_open(const char *path, struct bw_model **out, struct bw_diag *d)
{
	struct bw_file_map fm = {0};
	enum bw_err err;
	uint64_t hl = 0;
	int i;

	*out = NULL;
	err = bw_file_map(path, OX_MAX_FILE, &fm, d);
	if (err != BW_OK)
		return err;
	/* safetensors: 8-byte length, then a JSON object */
	for (i = 7; fm.len >= 9 && i >= 0; i--)
		hl = (hl << 8) | fm.data[i];
	if (fm.len >= 9 && fm.data[8] == '{' && hl <= fm.len - 8) {
		bw_file_unmap(&fm);
		return bw_model_load(path, out, d);
	}
	err = bw_onnx_import(fm.data, fm.len, out, d);
	bw_file_unmap(&fm);
	return err;
}
