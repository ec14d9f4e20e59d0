/*
 * tensor/tensor_io.c - the JSON architecture description and model files:
 * safetensors (https://github.com/huggingface/safetensors, "Format": an
 * 8-byte little-endian header length N, N bytes of JSON, then the tensor
 * bytes; data_offsets are relative to the end of the header) with the
 * architecture JSON stored as the string __metadata__["bulwark.arch"].
 * This is a deliberately small reader for bulwark's own model files: F32 only,
 * header at most ST_MAX_HEADER bytes, every offset range checked against the
 * file and against the other tensors. It is not the scanner's parser.
 * Must not: trust a size, shape or offset before checking it against a limit
 * and against the bytes present.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/fileio.h"
#include "tensor/tensor_int.h"

#define ST_MAX_HEADER ((size_t)16 << 20)
#define ST_MAX_FILE ((size_t)4 << 30)
#define ARCH_MAX_ATTR 65536

void bw_tensor_free_str(char *s)
{
	bw_free(s);
}

/* ---- architecture JSON ---- */

static json_t *int_array(const int *v, int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static json_t *node_json(const struct bw_model *m, const struct bw_node *nd)
{
	json_t *o = json_object(), *in = json_array();
	const struct bw_op_attr *a = &nd->a;
	int i;

	if (o == NULL || in == NULL) {
		json_decref(o);
		json_decref(in);
		return NULL;
	}
	json_object_set_new(o, "op", json_string(bw_op_name(nd->op)));
	for (i = 0; i < nd->n_in; i++)
		json_array_append_new(in, json_string(m->value_names[nd->in[i]]));
	json_object_set_new(o, "in", in);
	json_object_set_new(o, "out", json_string(m->value_names[nd->out]));
	switch (nd->op) {
	case BW_OP_CONV2D:
		json_object_set_new(o, "stride", int_array(a->stride, 2));
		json_object_set_new(o, "pad", int_array(a->pad, 4));
		json_object_set_new(o, "dilation", int_array(a->dilation, 2));
		json_object_set_new(o, "groups", json_integer(a->groups));
		break;
	case BW_OP_MAXPOOL: case BW_OP_AVGPOOL:
		json_object_set_new(o, "kernel", int_array(a->kernel, 2));
		json_object_set_new(o, "stride", int_array(a->stride, 2));
		json_object_set_new(o, "pad", int_array(a->pad, 4));
		json_object_set_new(o, "ceil_mode", json_integer(a->ceil_mode));
		json_object_set_new(o, "count_include_pad", json_integer(a->count_include_pad));
		break;
	case BW_OP_FLATTEN: case BW_OP_CONCAT: case BW_OP_SOFTMAX: case BW_OP_LOGSOFTMAX:
		json_object_set_new(o, "axis", json_integer(a->axis));
		break;
	case BW_OP_RESHAPE:
		json_object_set_new(o, "shape", int_array(a->shape, a->shape_n));
		break;
	case BW_OP_LEAKY_RELU:
		json_object_set_new(o, "alpha", json_real(a->alpha));
		break;
	case BW_OP_BATCHNORM:
		json_object_set_new(o, "eps", json_real(a->eps));
		json_object_set_new(o, "momentum", json_real(a->momentum));
		break;
	case BW_OP_DROPOUT:
		json_object_set_new(o, "p", json_real(a->p));
		break;
	case BW_OP_CLAMP:
		json_object_set_new(o, "min", json_real(a->lo));
		json_object_set_new(o, "max", json_real(a->hi));
		break;
	default:
		break;
	}
	return o;
}

static json_t *arch_json(const struct bw_model *m)
{
	json_t *root = json_object(), *nodes = json_array(), *params = json_array(), *ins = json_array();
	int i;

	if (root == NULL || nodes == NULL || params == NULL || ins == NULL) {
		json_decref(root);
		json_decref(nodes);
		json_decref(params);
		json_decref(ins);
		return NULL;
	}
	json_object_set_new(root, "format", json_string("bulwark-arch"));
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "input_shape", json_pack("[iii]", m->in_c, m->in_h, m->in_w));
	json_object_set_new(root, "classes", json_integer(m->n_classes));
	for (i = 0; i < m->n_inputs; i++)
		json_array_append_new(ins, json_string(m->value_names[m->inputs[i]]));
	json_object_set_new(root, "inputs", ins);
	json_object_set_new(root, "output", json_string(m->value_names[m->output]));
	for (i = 0; i < m->n_params; i++) {
		const struct bw_param *p = &m->params[i];

		json_array_append_new(params, json_pack("{s:s,s:o,s:b}", "name", p->name, "shape",
		                                        int_array(p->t.shape, p->t.ndim), "trainable",
		                                        p->trainable));
	}
	json_object_set_new(root, "params", params);
	for (i = 0; i < m->n_nodes; i++)
		json_array_append_new(nodes, node_json(m, &m->nodes[i]));
	json_object_set_new(root, "nodes", nodes);
	return root;
}

static char *dump_json(const json_t *j, size_t *len)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
	char *s;

	if (n == 0)
		return NULL;
	s = bw_malloc(n + 1);
	if (s == NULL)
		return NULL;
	if (json_dumpb(j, s, n, JSON_COMPACT) != n) {
		bw_free(s);
		return NULL;
	}
	s[n] = '\0';
	if (len != NULL)
		*len = n;
	return s;
}

enum bw_err bw_model_arch_json(const struct bw_model *m, char **out)
{
	json_t *j;

	*out = NULL;
	j = arch_json(m);
	if (j == NULL)
		return BW_ERR_NOMEM;
	*out = dump_json(j, NULL);
	json_decref(j);
	return *out == NULL ? BW_ERR_NOMEM : BW_OK;
}

/* Read an int array attribute of exactly n (or up to n when var) entries within [lo,hi]. */
static int get_ints(const json_t *o, const char *key, int *dst, int n, int var, int lo, int hi)
{
	const json_t *a = json_object_get(o, key);
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > (size_t)n || (!var && json_array_size(a) != (size_t)n))
		return -1;
	for (i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);

		if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
			return -1;
		dst[i] = (int)json_integer_value(v);
	}
	return (int)json_array_size(a);
}

static int get_int(const json_t *o, const char *key, int *dst, int lo, int hi)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*dst = (int)json_integer_value(v);
	return 1;
}

static int get_float(const json_t *o, const char *key, float *dst)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_number(v))
		return -1;
	*dst = (float)json_number_value(v);
	return 1;
}

static enum bw_err arch_node(struct bw_model *m, const json_t *jn, int idx, struct bw_diag *d)
{
	struct bw_node *nd = &m->nodes[idx];
	const json_t *in = json_object_get(jn, "in");
	const char *op = json_string_value(json_object_get(jn, "op"));
	const char *outn = json_string_value(json_object_get(jn, "out"));
	size_t i;
	int bad = 0;

	if (op == NULL || outn == NULL || !json_is_array(in))
		return bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "node %d lacks op/in/out", idx);
	nd->op = bw_op_from_name(op);
	if (nd->op == 0 || nd->op == BW_OP_CROSS_ENTROPY)
		return bw_diag_set(d, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "unsupported operation '%.64s'", op);
	if (json_array_size(in) > BW_NODE_MAX_IN)
		return bw_diag_set(d, BW_ERR_LIMIT, BW_NO_OFFSET, "node %d has too many inputs", idx);
	nd->n_in = (int)json_array_size(in);
	for (i = 0; i < json_array_size(in); i++) {
		const char *s = json_string_value(json_array_get(in, i));
		int v = s == NULL ? -1 : bw_model_find_value(m, s);

		if (v < 0)
			return bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                   "node %d uses an unknown value", idx);
		nd->in[i] = v;
	}
	if (bw_model_find_value(m, outn) >= 0)
		return bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "node %d redefines a value", idx);
	nd->out = bw_model_value(m, outn);
	if (nd->out < 0)
		return bw_diag_set(d, BW_ERR_LIMIT, BW_NO_OFFSET, "too many values");
	bw_op_attr_default(&nd->a, nd->op);
	bad |= get_ints(jn, "kernel", nd->a.kernel, 2, 0, 1, ARCH_MAX_ATTR) < 0;
	bad |= get_ints(jn, "stride", nd->a.stride, 2, 0, 1, ARCH_MAX_ATTR) < 0;
	bad |= get_ints(jn, "pad", nd->a.pad, 4, 0, 0, ARCH_MAX_ATTR) < 0;
	bad |= get_ints(jn, "dilation", nd->a.dilation, 2, 0, 1, ARCH_MAX_ATTR) < 0;
	bad |= get_int(jn, "groups", &nd->a.groups, 1, ARCH_MAX_ATTR) < 0;
	bad |= get_int(jn, "ceil_mode", &nd->a.ceil_mode, 0, 1) < 0;
	bad |= get_int(jn, "count_include_pad", &nd->a.count_include_pad, 0, 1) < 0;
	bad |= get_int(jn, "axis", &nd->a.axis, -4, 4) < 0;
	{
		int r = get_ints(jn, "shape", nd->a.shape, BW_T_MAXDIM, 1, -1, BW_T_MAX_NUMEL);

		bad |= r < 0;
		if (r > 0)
			nd->a.shape_n = r;
		if (nd->op == BW_OP_RESHAPE && r <= 0)
			bad = 1;
	}
	bad |= get_float(jn, "alpha", &nd->a.alpha) < 0;
	bad |= get_float(jn, "eps", &nd->a.eps) < 0;
	bad |= get_float(jn, "momentum", &nd->a.momentum) < 0;
	bad |= get_float(jn, "p", &nd->a.p) < 0;
	bad |= get_float(jn, "min", &nd->a.lo) < 0;
	bad |= get_float(jn, "max", &nd->a.hi) < 0;
	if (bad || !(nd->a.eps > 0.0f) || nd->a.p < 0.0f || nd->a.p > 1.0f)
		return bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                   "node %d (%s) has a bad attribute", idx, op);
	return BW_OK;
}

/* Total parameter bytes an architecture declares, or -1 past the limit or on a bad shape. */
static long long arch_param_bytes(const json_t *params, long long limit)
{
	const json_t *jv;
	long long total = 0;
	size_t i;

	json_array_foreach(params, i, jv) {
		const json_t *sh = json_object_get(jv, "shape"), *dv;
		long long n = 4;
		size_t k;

		if (!json_is_array(sh))
			return -1;
		json_array_foreach(sh, k, dv) {
			if (!json_is_integer(dv) || json_integer_value(dv) < 0 ||
			    json_integer_value(dv) > BW_T_MAX_NUMEL)
				return -1;
			n *= json_integer_value(dv);
			if (n > limit)
				return -1;
		}
		total += n;
		if (total > limit)
			return -1;
	}
	return total;
}

static enum bw_err arch_build(const json_t *root, struct bw_model **out, struct bw_diag *d,
                              long long max_bytes)
{
	const json_t *params = json_object_get(root, "params"), *nodes = json_object_get(root, "nodes");
	const json_t *ins = json_object_get(root, "inputs"), *jv;
	const char *fmt = json_string_value(json_object_get(root, "format"));
	const char *outn = json_string_value(json_object_get(root, "output"));
	struct bw_model *m = NULL;
	enum bw_err err;
	int ish[3] = {0, 0, 0};
	size_t i;

	*out = NULL;
	if (fmt == NULL || strcmp(fmt, "bulwark-arch") != 0 || !json_is_array(params) ||
	    !json_is_array(nodes) || !json_is_array(ins) || outn == NULL)
		return bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "not a bulwark architecture");
	if (json_array_size(nodes) > BW_MODEL_MAX_NODES || json_array_size(params) > BW_MODEL_MAX_VALUES / 2 ||
	    json_array_size(ins) > BW_MODEL_MAX_INPUTS || json_array_size(ins) < 1)
		return bw_diag_set(d, BW_ERR_LIMIT, BW_NO_OFFSET, "architecture too large");
	/* Refuse before allocating: a small file must not make us reserve gigabytes. */
	if (arch_param_bytes(params, max_bytes) < 0)
		return bw_diag_set(d, BW_ERR_LIMIT, BW_NO_OFFSET,
		                   "parameters over %lld bytes or with a bad shape", max_bytes);
	err = bw_model_alloc(&m);
	if (err != BW_OK)
		return err;
	if (get_ints(root, "input_shape", ish, 3, 0, 0, 65536) < 0 ||
	    get_int(root, "classes", &m->n_classes, 0, 1 << 24) < 0) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "bad input_shape or classes");
		goto out;
	}
	m->in_c = ish[0];
	m->in_h = ish[1];
	m->in_w = ish[2];
	for (i = 0; i < json_array_size(ins); i++) {
		const char *s = json_string_value(json_array_get(ins, i));

		if (s == NULL || bw_model_find_value(m, s) >= 0) {
			err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "bad input name");
			goto out;
		}
		m->inputs[m->n_inputs++] = bw_model_value(m, s);
	}
	json_array_foreach(params, i, jv) {
		const char *name = json_string_value(json_object_get(jv, "name"));
		int shape[BW_T_MAXDIM], nd;
		const json_t *tr = json_object_get(jv, "trainable");

		nd = get_ints(jv, "shape", shape, BW_T_MAXDIM, 1, 0, BW_T_MAX_NUMEL);
		if (name == NULL || nd < 1 || bw_model_find_value(m, name) >= 0) {
			err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, "bad parameter %zu", i);
			goto out;
		}
		if (bw_model_add_param(m, name, nd, shape, tr == NULL || json_is_true(tr)) < 0) {
			err = bw_diag_set(d, BW_ERR_LIMIT, BW_NO_OFFSET, "parameter %zu over a limit", i);
			goto out;
		}
	}
	json_array_foreach(nodes, i, jv) {
		err = arch_node(m, jv, (int)i, d);
		if (err != BW_OK)
			goto out;
		m->n_nodes++;
	}
	m->output = bw_model_find_value(m, outn);
	err = bw_model_validate(m, d);
out:
	if (err != BW_OK)
		bw_model_free(m);
	else
		*out = m;
	return err;
}

#define ARCH_MAX_PARAM_BYTES (4LL << 30)

static enum bw_err from_arch(const char *json, size_t len, struct bw_model **out,
                             struct bw_diag *d, long long max_bytes)
{
	json_error_t je;
	json_t *root;
	enum bw_err err;

	*out = NULL;
	if (len > ST_MAX_HEADER)
		return bw_diag_set(d, BW_ERR_LIMIT, 0, "architecture JSON over %zu bytes", ST_MAX_HEADER);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return bw_diag_set(d, BW_ERR_MALFORMED, (uint64_t)je.position,
		                   "architecture JSON: %.100s", je.text);
	err = arch_build(root, out, d, max_bytes);
	json_decref(root);
	return err;
}

enum bw_err bw_model_from_arch(const char *json, size_t len, struct bw_model **out,
                               struct bw_diag *d)
{
	return from_arch(json, len, out, d, ARCH_MAX_PARAM_BYTES);
}

/* ---- safetensors ---- */

/*
 * The writer shared by model, gradient and optimiser-state files: metadata
 * string pairs, then the tensors in the given order, data 8-byte aligned after
 * a space-padded header. Two items with one name are refused (the JSON header
 * would silently keep one of them).
 */
enum bw_err bw_st_write(const char *path, int n_meta, const char *const *meta_kv, int n,
                        const struct bw_st_item *it)
{
	json_t *hdr = NULL, *meta = NULL;
	char *hdr_s = NULL;
	unsigned char *buf = NULL;
	size_t hlen = 0, padded, total, off = 0, data_len = 0;
	enum bw_err err = BW_ERR_NOMEM;
	int i;

	if (path == NULL || n < 0 || n_meta < 0 || (n > 0 && it == NULL) ||
	    (n_meta > 0 && meta_kv == NULL))
		return BW_ERR_ARG;
	hdr = json_object();
	meta = json_object();
	if (hdr == NULL || meta == NULL)
		goto out;
	for (i = 0; i < n_meta; i++)
		if (json_object_set_new(meta, meta_kv[2 * i], json_string(meta_kv[2 * i + 1])) != 0)
			goto out;
	json_object_set_new(hdr, "__metadata__", meta);
	meta = NULL;
	for (i = 0; i < n; i++) {
		const struct bw_tensor *t = it[i].shape;
		size_t nb = (size_t)t->numel * sizeof(float);

		if (json_object_get(hdr, it[i].name) != NULL) {
			err = BW_ERR_UNSUPPORTED; /* duplicate name, or "__metadata__" */
			goto out;
		}
		json_object_set_new(hdr, it[i].name,
		                    json_pack("{s:s,s:o,s:[II]}", "dtype", "F32", "shape",
		                              int_array(t->shape, t->ndim), "data_offsets",
		                              (json_int_t)data_len, (json_int_t)(data_len + nb)));
		data_len += nb;
	}
	hdr_s = dump_json(hdr, &hlen);
	if (hdr_s == NULL)
		goto out;
	padded = (hlen + 7) & ~(size_t)7;
	total = 8 + padded + data_len;
	buf = bw_malloc(total);
	if (buf == NULL)
		goto out;
	for (i = 0; i < 8; i++)
		buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	memcpy(buf + 8, hdr_s, hlen);
	memset(buf + 8 + hlen, ' ', padded - hlen);
	off = 8 + padded;
	for (i = 0; i < n; i++) {
		size_t nb = (size_t)it[i].shape->numel * sizeof(float);

		/* little-endian float32 is the in-memory layout on every target we build for */
		if (nb > 0)
			memcpy(buf + off, it[i].data, nb);
		off += nb;
	}
	err = bw_file_write_atomic(path, buf, total, 0, NULL);
out:
	json_decref(hdr);
	json_decref(meta);
	bw_free(hdr_s);
	bw_free(buf);
	return err;
}

static enum bw_err st_write(const struct bw_model *m, const char *path, int grads)
{
	json_t *arch = NULL;
	char *arch_s = NULL;
	struct bw_st_item *it = NULL;
	const char *meta[4];
	enum bw_err err = BW_ERR_NOMEM;
	int i;

	if (m == NULL || path == NULL)
		return BW_ERR_ARG;
	if (!grads) {
		arch = arch_json(m);
		if (arch == NULL || (arch_s = dump_json(arch, NULL)) == NULL)
			goto out;
	}
	it = bw_calloc((size_t)m->n_params + 1, sizeof *it);
	if (it == NULL)
		goto out;
	for (i = 0; i < m->n_params; i++) {
		it[i].name = m->params[i].name;
		it[i].shape = &m->params[i].t;
		it[i].data = grads ? m->params[i].t.grad : m->params[i].t.data;
	}
	meta[0] = "format";
	meta[1] = "pt";
	meta[2] = grads ? "bulwark.content" : "bulwark.arch";
	meta[3] = grads ? "gradients" : arch_s;
	err = bw_st_write(path, 2, meta, m->n_params, it);
out:
	json_decref(arch);
	bw_free(arch_s);
	bw_free(it);
	return err;
}

enum bw_err bw_model_save(const struct bw_model *m, const char *path)
{
	return st_write(m, path, 0);
}

enum bw_err bw_model_save_grads(const struct bw_model *m, const char *path)
{
	return st_write(m, path, 1);
}

struct range {
	uint64_t b, e;
};

struct bw_st {
	struct bw_file_map fm;
	json_t *hdr;
	uint64_t hlen, data_len;
	struct range *rs; /* one per tensor read so far */
	size_t n_rs, cap_rs;
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->b < y->b ? -1 : x->b > y->b ? 1 : 0;
}

void bw_st_close(struct bw_st *s)
{
	if (s == NULL)
		return;
	json_decref(s->hdr);
	bw_file_unmap(&s->fm);
	bw_free(s->rs);
	bw_free(s);
}

enum bw_err bw_st_open(const char *path, struct bw_st **out, struct bw_diag *d)
{
	struct bw_st *s;
	json_error_t je;
	enum bw_err err;
	int i;

	*out = NULL;
	s = bw_calloc(1, sizeof *s);
	if (s == NULL)
		return BW_ERR_NOMEM;
	err = bw_file_map(path, ST_MAX_FILE, &s->fm, d);
	if (err != BW_OK)
		goto out;
	if (s->fm.len < 8) {
		err = bw_diag_set(d, BW_ERR_TRUNCATED, 0, "file shorter than the 8-byte header length");
		goto out;
	}
	for (i = 7; i >= 0; i--)
		s->hlen = (s->hlen << 8) | s->fm.data[i];
	if (s->hlen > ST_MAX_HEADER) {
		err = bw_diag_set(d, BW_ERR_LIMIT, 0, "header length %llu over %zu",
		                  (unsigned long long)s->hlen, ST_MAX_HEADER);
		goto out;
	}
	if (s->hlen > s->fm.len - 8) {
		err = bw_diag_set(d, BW_ERR_TRUNCATED, 0, "header runs past the end of the file");
		goto out;
	}
	s->data_len = s->fm.len - 8 - s->hlen;
	s->hdr = json_loadb((const char *)s->fm.data + 8, (size_t)s->hlen, JSON_REJECT_DUPLICATES, &je);
	if (s->hdr == NULL || !json_is_object(s->hdr)) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 8 + (uint64_t)je.position, "header JSON: %.100s",
		                  s->hdr == NULL ? je.text : "not an object");
		goto out;
	}
	s->cap_rs = json_object_size(s->hdr);
	s->rs = bw_calloc(s->cap_rs + 1, sizeof *s->rs);
	if (s->rs == NULL)
		err = BW_ERR_NOMEM;
out:
	if (err != BW_OK)
		bw_st_close(s);
	else
		*out = s;
	return err;
}

const char *bw_st_meta(const struct bw_st *s, const char *key)
{
	return json_string_value(json_object_get(json_object_get(s->hdr, "__metadata__"), key));
}

size_t bw_st_n_tensors(const struct bw_st *s)
{
	return json_object_size(s->hdr) - (json_object_get(s->hdr, "__metadata__") != NULL);
}

uint64_t bw_st_data_len(const struct bw_st *s)
{
	return s->data_len;
}

enum bw_err bw_st_read_f32(struct bw_st *s, const char *name, const struct bw_tensor *t,
                           float *dst, struct bw_diag *d)
{
	const json_t *e = json_object_get(s->hdr, name);
	const json_t *sh = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
	const char *dt = json_string_value(json_object_get(e, "dtype"));
	json_int_t b, en;
	size_t k;

	if (e == NULL || dt == NULL || !json_is_array(sh) || !json_is_array(offs) ||
	    json_array_size(offs) != 2)
		return bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor '%.64s' missing or incomplete", name);
	if (strcmp(dt, "F32") != 0)
		return bw_diag_set(d, BW_ERR_UNSUPPORTED, 8, "tensor '%.64s' has dtype %.16s (F32 only)",
		                   name, dt);
	if (json_array_size(sh) != (size_t)t->ndim)
		return bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor '%.64s' rank differs", name);
	for (k = 0; k < json_array_size(sh); k++)
		if (!json_is_integer(json_array_get(sh, k)) ||
		    json_integer_value(json_array_get(sh, k)) != t->shape[k])
			return bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor '%.64s' shape differs", name);
	b = json_integer_value(json_array_get(offs, 0));
	en = json_integer_value(json_array_get(offs, 1));
	if (!json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)) ||
	    b < 0 || en < b || (uint64_t)en > s->data_len ||
	    (uint64_t)(en - b) != (uint64_t)t->numel * sizeof(float))
		return bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor '%.64s' has bad data_offsets", name);
	if (s->n_rs >= s->cap_rs)
		return bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor '%.64s' read twice", name);
	s->rs[s->n_rs].b = (uint64_t)b;
	s->rs[s->n_rs].e = (uint64_t)en;
	s->n_rs++;
	if (en > b)
		memcpy(dst, s->fm.data + 8 + s->hlen + (uint64_t)b, (size_t)(en - b));
	return BW_OK;
}

enum bw_err bw_st_check_overlap(struct bw_st *s, struct bw_diag *d)
{
	size_t i;

	qsort(s->rs, s->n_rs, sizeof *s->rs, range_cmp);
	for (i = 1; i < s->n_rs; i++)
		if (s->rs[i].b < s->rs[i - 1].e)
			return bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor data ranges overlap");
	return BW_OK;
}

enum bw_err bw_model_load(const char *path, struct bw_model **out, struct bw_diag *d)
{
	struct bw_st *s = NULL;
	struct bw_model *m = NULL;
	const char *arch_s;
	enum bw_err err;
	int i;

	*out = NULL;
	err = bw_st_open(path, &s, d);
	if (err != BW_OK)
		return err;
	arch_s = bw_st_meta(s, "bulwark.arch");
	if (arch_s == NULL) {
		err = bw_diag_set(d, BW_ERR_UNSUPPORTED, 8,
		                  "no __metadata__[\"bulwark.arch\"]: not a bulwark model file");
		goto out;
	}
	/* the parameters must fit in the data section that follows the header */
	err = from_arch(arch_s, strlen(arch_s), &m, d, (long long)bw_st_data_len(s));
	if (err != BW_OK)
		goto out;
	if (bw_st_n_tensors(s) != (size_t)m->n_params) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 8, "tensor entries do not match the architecture");
		goto out;
	}
	for (i = 0; i < m->n_params && err == BW_OK; i++)
		err = bw_st_read_f32(s, m->params[i].name, &m->params[i].t, m->params[i].t.data, d);
	if (err == BW_OK)
		err = bw_st_check_overlap(s, d);
out:
	bw_st_close(s);
	if (err != BW_OK)
		bw_model_free(m);
	else
		*out = m;
	return err;
}
