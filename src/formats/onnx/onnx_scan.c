/*
 * formats/onnx/onnx_scan.c - ONNX ModelProto walk for the scanner.
 *
 * Graphs nest through attributes (AttributeProto.g = 6, .graphs = 11: If,
 * Loop, Scan bodies), model-local functions (ModelProto.functions = 25) and
 * training info (ModelProto.training_info = 20). Instead of recursing, every
 * graph/function body is queued with its depth in a bounded work list; a body
 * deeper than the limit is reported (onnx.nesting-limit) and not entered.
 * Field numbers below cite onnx.proto message.field.
 *
 * Checks:
 *   TensorProto.data_location (14) == EXTERNAL with external_data (13)
 *     "location" leaving the model folder -> onnx.external-data-path
 *     (onnxruntime and onnx.load_external_data read that path relative to
 *     the model, so "../../etc/passwd" or "/proc/self/environ" is read).
 *   NodeProto.domain (7) outside the standard/onnxruntime domains and not a
 *     model-local function -> onnx.custom-domain (needs a native custom-op
 *     library at run time).
 *   dims (1) product * element size against raw_data (9), typed data fields
 *     or the external "length" -> onnx.size-mismatch.
 * Must not: recurse, allocate per node, or trust any length (the protobuf reader checks).
 */
#include "formats/onnx/onnx_scan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "formats/protobuf/protobuf.h"

enum ox_kind { OX_GRAPH, OX_FUNCTION };

struct ox_work {
	struct bw_reader w;
	unsigned depth;
	enum ox_kind kind;
};

struct ox_name {
	const uint8_t *dom, *name;
	size_t dom_len, name_len;
};

struct ox_ctx {
	const struct bw_fmt_sink *sink;
	struct ox_work *q;
	size_t n_q, cap_q, n_total;
	struct ox_name funcs[BW_ONNX_MAX_FUNCS];
	size_t n_funcs;
	unsigned max_depth;
	int depth_reported, queue_reported, read_reported;
	uint64_t n_custom;
};

/* Report a read failure of a sub-structure once per model, then go on with the rest. */
static void ox_bad(struct ox_ctx *c, const struct bw_reader *r, const char *what)
{
	char m[160];

	if (c->read_reported++)
		return;
	snprintf(m, sizeof m, "onnx: %s could not be read (%s)", what, bw_err_str(r->err));
	c->sink->incomplete(c->sink->user, r->err != BW_OK ? r->err : BW_ERR_MALFORMED,
	                    r->err_off != BW_NO_OFFSET ? r->err_off : bw_rd_off(r), m);
}

int bw_onnx_detect(const uint8_t *data, size_t len)
{
	struct bw_reader r;
	struct bw_pb_field f;
	int rc, has_ir = 0, has_graph = 0, unknown = 0;

	if (data == NULL || len < 4 || data[0] != 0x08)
		return 0;
	bw_rd_init(&r, data, len, 0);
	while ((rc = bw_pb_next(&r, &f)) == 1) {
		switch (f.num) {
		case 1:
			has_ir = f.wire == BW_PB_VARINT && f.v >= 1 && f.v <= 64;
			break;
		case 7:
			has_graph = f.wire == BW_PB_LEN;
			break;
		case 2: case 3: case 4: case 6: case 8: case 14: case 20: case 25:
			unknown += f.wire != BW_PB_LEN;
			break;
		case 5:
			unknown += f.wire != BW_PB_VARINT;
			break;
		default:
			unknown++;
		}
	}
	if (!has_ir || !has_graph)
		return 0;
	if (rc != 0 || unknown)
		return 50;
	return 90;
}

int bw_onnx_path_escapes(const uint8_t *p, size_t len)
{
	size_t i, start = 0;

	if (len == 0)
		return 0;
	if (memchr(p, 0, len) != NULL)
		return 1;
	if (p[0] == '/' || p[0] == '\\' || p[0] == '~')
		return 1;
	if (len >= 2 && p[1] == ':')
		return 1; /* C:foo, C:\foo */
	for (i = 0; i + 2 < len && i < 16; i++)
		if (p[i] == ':' && p[i + 1] == '/' && p[i + 2] == '/')
			return 1; /* file://, http:// */
	for (i = 0; i <= len; i++) {
		if (i == len || p[i] == '/' || p[i] == '\\') {
			if (i - start == 2 && p[start] == '.' && p[start + 1] == '.')
				return 1;
			start = i + 1;
		}
	}
	return 0;
}

static enum bw_err ox_push(struct ox_ctx *c, const struct bw_reader *w, unsigned depth, enum ox_kind kind)
{
	if (depth > c->max_depth) {
		if (!c->depth_reported++) {
			bw_fmt_finding(c->sink, "onnx.nesting-limit", w->base,
			        "graphs nested deeper than %u levels (If/Loop/Scan bodies); deeper bodies were not checked",
			        c->max_depth);
			c->sink->incomplete(c->sink->user, BW_ERR_LIMIT, w->base, "onnx: graph nesting limit reached");
		}
		return BW_OK;
	}
	if (c->n_total >= BW_ONNX_MAX_GRAPHS) {
		if (!c->queue_reported++)
			c->sink->incomplete(c->sink->user, BW_ERR_LIMIT, w->base, "onnx: more subgraphs than the scan limit");
		return BW_OK;
	}
	if (c->n_q == c->cap_q) {
		size_t nc = c->cap_q ? c->cap_q * 2 : 16;
		struct ox_work *nq = bw_reallocarray(c->q, nc, sizeof *nq);

		if (nq == NULL)
			return BW_ERR_NOMEM;
		c->q = nq;
		c->cap_q = nc;
	}
	c->q[c->n_q].w = *w;
	c->q[c->n_q].depth = depth;
	c->q[c->n_q].kind = kind;
	c->n_q++;
	c->n_total++;
	return BW_OK;
}

/* Element size in bits of TensorProto.DataType; 0 when unknown or variable (STRING). */
static unsigned ox_bits(uint64_t t)
{
	switch (t) {
	case 2: case 3: case 9: case 17: case 18: case 19: case 20:
		return 8; /* UINT8 INT8 BOOL FLOAT8* */
	case 4: case 5: case 10: case 16:
		return 16; /* UINT16 INT16 FLOAT16 BFLOAT16 */
	case 1: case 6: case 12:
		return 32; /* FLOAT INT32 UINT32 */
	case 7: case 11: case 13: case 14:
		return 64; /* INT64 DOUBLE UINT64 COMPLEX64 */
	case 15:
		return 128; /* COMPLEX128 */
	case 21: case 22: case 23:
		return 4; /* UINT4 INT4 FLOAT4E2M1 */
	default:
		return 0;
	}
}

/* Check one TensorProto payload. */
static void ox_tensor(struct ox_ctx *c, struct bw_reader w, const char *where)
{
	struct bw_pb_field f;
	uint64_t n_el = 1, dtype = 0, raw_len = 0, typed = 0, ext_len = 0, tensor_off = w.base;
	int rc, has_raw = 0, external = 0, dims_ok = 1, has_ext_len = 0;
	char name[96] = "", loc[200];
	const uint8_t *loc_p = NULL;
	size_t loc_len = 0;

	while ((rc = bw_pb_next(&w, &f)) == 1) {
		switch (f.num) {
		case 1: { /* dims, packed or not */
			struct bw_pb_packed it;
			uint64_t d;
			int prc;

			bw_pb_packed_init(&it, &f);
			while ((prc = bw_pb_packed_next(&it, &d)) == 1) {
				if ((int64_t)d < 0 || bw_mul_ovf(n_el, d, &n_el))
					dims_ok = 0;
			}
			if (prc < 0)
				dims_ok = 0;
			break;
		}
		case 2:
			dtype = f.v;
			break;
		case 8:
			bw_pb_str(&f, name, sizeof name);
			break;
		case 9:
			has_raw = 1;
			raw_len = f.sub.len;
			break;
		case 4: /* float_data: packed fixed32 */
			typed += f.wire == BW_PB_LEN ? f.sub.len / 4 : 1;
			break;
		case 10: /* double_data: packed fixed64 */
			typed += f.wire == BW_PB_LEN ? f.sub.len / 8 : 1;
			break;
		case 11: /* uint64_data: varints */
		case 5: case 7: { /* int32_data, int64_data, uint64_data: varints */
			struct bw_pb_packed it;
			uint64_t d;

			bw_pb_packed_init(&it, &f);
			while (bw_pb_packed_next(&it, &d) == 1)
				typed++;
			break;
		}
		case 13: { /* external_data: StringStringEntryProto {key = 1, value = 2} */
			struct bw_reader e = f.sub;
			struct bw_pb_field kf;
			const uint8_t *key = NULL, *val = NULL;
			size_t kl = 0, vl = 0;

			while (bw_pb_next(&e, &kf) == 1) {
				if (kf.num == 1 && kf.wire == BW_PB_LEN) {
					key = kf.sub.p;
					kl = kf.sub.len;
				} else if (kf.num == 2 && kf.wire == BW_PB_LEN) {
					val = kf.sub.p;
					vl = kf.sub.len;
				}
			}
			if (key != NULL && kl == 8 && memcmp(key, "location", 8) == 0 && val != NULL) {
				loc_p = val;
				loc_len = vl;
			} else if (key != NULL && kl == 6 && memcmp(key, "length", 6) == 0 && val != NULL && vl > 0 &&
			           vl < 20) {
				size_t i;

				has_ext_len = 1;
				ext_len = 0;
				for (i = 0; i < vl; i++) {
					if (val[i] < '0' || val[i] > '9') {
						has_ext_len = 0;
						break;
					}
					ext_len = ext_len * 10 + (uint64_t)(val[i] - '0');
				}
			}
			break;
		}
		case 14:
			external = f.v == 1;
			break;
		default:
			break;
		}
	}
	if (rc < 0) {
		ox_bad(c, &w, "a tensor");
		return;
	}
	if (loc_p != NULL) {
		bw_fmt_clip(loc_p, loc_len, loc, sizeof loc);
		if (bw_onnx_path_escapes(loc_p, loc_len))
			bw_fmt_finding(c->sink, "onnx.external-data-path", tensor_off,
			        "%s tensor \"%s\": external data location \"%s\" resolves outside the model's folder",
			        where, name, loc);
		if (!external)
			bw_fmt_finding(c->sink, "onnx.external-data-path", tensor_off,
			        "%s tensor \"%s\": external_data \"%s\" without data_location EXTERNAL (loaders disagree)",
			        where, name, loc);
	} else if (external) {
		bw_fmt_finding(c->sink, "onnx.size-mismatch", tensor_off,
		        "%s tensor \"%s\": data_location EXTERNAL without a location", where, name);
	}
	if (!dims_ok) {
		bw_fmt_finding(c->sink, "onnx.size-mismatch", tensor_off, "%s tensor \"%s\": dims are negative or their product overflows",
		        where, name);
		return;
	}
	{
		unsigned bits = ox_bits(dtype);
		uint64_t need_bits, need;

		if (bits == 0)
			return;
		if (bw_mul_ovf(n_el, bits, &need_bits)) {
			bw_fmt_finding(c->sink, "onnx.size-mismatch", tensor_off, "%s tensor \"%s\": byte size overflows", where, name);
			return;
		}
		need = (need_bits + 7) / 8;
		if (has_raw && raw_len != need)
			bw_fmt_finding(c->sink, "onnx.size-mismatch", tensor_off,
			        "%s tensor \"%s\": dims need %llu bytes but raw_data holds %llu", where, name,
			        (unsigned long long)need, (unsigned long long)raw_len);
		else if (external && has_ext_len && ext_len != need)
			bw_fmt_finding(c->sink, "onnx.size-mismatch", tensor_off,
			        "%s tensor \"%s\": dims need %llu bytes but external length is %llu", where, name,
			        (unsigned long long)need, (unsigned long long)ext_len);
		else if (!has_raw && !external && typed > 0 && dtype != 14 && dtype != 15 && bits >= 8 &&
		         typed != n_el)
			bw_fmt_finding(c->sink, "onnx.size-mismatch", tensor_off,
			        "%s tensor \"%s\": dims give %llu elements but the data fields hold %llu", where, name,
			        (unsigned long long)n_el, (unsigned long long)typed);
		else if (!has_raw && !external && typed == 0 && n_el > 0)
			bw_fmt_finding(c->sink, "onnx.size-mismatch", tensor_off,
			        "%s tensor \"%s\": declares %llu bytes with no data", where, name, (unsigned long long)need);
	}
}

static int ox_std_domain(const uint8_t *d, size_t n)
{
	static const char *const std[] = {
		"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "ai.onnx.preview",
		"com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc",
		"com.microsoft.dml", "pkg.onnxscript.torch_lib", "pkg.onnxscript.torch_lib.common", "pkg.torch.onnx",
	};
	size_t i;

	for (i = 0; i < sizeof std / sizeof std[0]; i++)
		if (strlen(std[i]) == n && memcmp(std[i], d, n) == 0)
			return 1;
	return 0;
}

static int ox_local_func(const struct ox_ctx *c, const uint8_t *d, size_t dn, const uint8_t *op, size_t on)
{
	size_t i;

	for (i = 0; i < c->n_funcs; i++)
		if (c->funcs[i].dom_len == dn && c->funcs[i].name_len == on &&
		    memcmp(c->funcs[i].dom, d, dn) == 0 && memcmp(c->funcs[i].name, op, on) == 0)
			return 1;
	return 0;
}

static enum bw_err ox_attribute(struct ox_ctx *c, struct bw_reader w, unsigned depth)
{
	struct bw_pb_field f;
	int rc;
	enum bw_err e = BW_OK;

	while (e == BW_OK && (rc = bw_pb_next(&w, &f)) == 1) {
		if (f.wire != BW_PB_LEN)
			continue;
		switch (f.num) {
		case 5: case 10: /* t, tensors */
			ox_tensor(c, f.sub, "attribute");
			break;
		case 6: case 11: /* g, graphs */
			e = ox_push(c, &f.sub, depth + 1, OX_GRAPH);
			break;
		case 22: case 23: { /* sparse_tensor(s): values = 1, indices = 2 */
			struct bw_reader s = f.sub;
			struct bw_pb_field sf;

			while (bw_pb_next(&s, &sf) == 1)
				if ((sf.num == 1 || sf.num == 2) && sf.wire == BW_PB_LEN)
					ox_tensor(c, sf.sub, "sparse attribute");
			break;
		}
		default:
			break;
		}
	}
	if (e == BW_OK && rc < 0)
		ox_bad(c, &w, "an attribute");
	return e;
}

static enum bw_err ox_node(struct ox_ctx *c, struct bw_reader w, unsigned depth)
{
	struct bw_reader n2 = w;
	struct bw_pb_field f;
	const uint8_t *dom = NULL, *op = NULL;
	size_t dl = 0, ol = 0;
	int rc;
	enum bw_err e = BW_OK;

	while ((rc = bw_pb_next(&w, &f)) == 1) {
		if (f.num == 4 && f.wire == BW_PB_LEN) {
			op = f.sub.p;
			ol = f.sub.len;
		} else if (f.num == 7 && f.wire == BW_PB_LEN) {
			dom = f.sub.p;
			dl = f.sub.len;
		}
	}
	if (rc < 0) {
		ox_bad(c, &w, "a node");
		return BW_OK;
	}
	if (dom != NULL && !ox_std_domain(dom, dl) && !ox_local_func(c, dom, dl, op, ol)) {
		char db[96], ob[96];

		bw_fmt_clip(dom, dl, db, sizeof db);
		bw_fmt_clip(op != NULL ? op : (const uint8_t *)"", op != NULL ? ol : 0, ob, sizeof ob);
		if (c->n_custom++ < 32)
			bw_fmt_finding(c->sink, "onnx.custom-domain", n2.base,
			        "node %s in domain \"%s\": a custom operator that needs a native library at run time",
			        ob, db);
	}
	while (e == BW_OK && bw_pb_next(&n2, &f) == 1)
		if (f.num == 5 && f.wire == BW_PB_LEN)
			e = ox_attribute(c, f.sub, depth);
	return e;
}

static enum bw_err ox_body(struct ox_ctx *c, const struct ox_work *wk)
{
	struct bw_reader w = wk->w;
	struct bw_pb_field f;
	int rc;
	enum bw_err e = BW_OK;
	uint32_t node_field = wk->kind == OX_GRAPH ? 1 : 7;

	while (e == BW_OK && (rc = bw_pb_next(&w, &f)) == 1) {
		if (f.wire != BW_PB_LEN)
			continue;
		if (f.num == node_field) {
			e = ox_node(c, f.sub, wk->depth);
		} else if (wk->kind == OX_GRAPH && f.num == 5) {
			ox_tensor(c, f.sub, "initializer");
		} else if (wk->kind == OX_GRAPH && f.num == 15) {
			struct bw_reader s = f.sub;
			struct bw_pb_field sf;

			while (bw_pb_next(&s, &sf) == 1)
				if ((sf.num == 1 || sf.num == 2) && sf.wire == BW_PB_LEN)
					ox_tensor(c, sf.sub, "sparse initializer");
		}
	}
	if (e == BW_OK && rc < 0)
		ox_bad(c, &w, wk->kind == OX_GRAPH ? "a graph" : "a function");
	return e;
}

enum bw_err bw_onnx_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct ox_ctx *c;
	struct bw_reader r;
	struct bw_pb_field f;
	int rc;
	enum bw_err e = BW_OK;

	if (sink->format != NULL)
		sink->format(sink->user, "onnx");
	c = bw_calloc(1, sizeof *c);
	if (c == NULL)
		return BW_ERR_NOMEM;
	c->sink = sink;
	c->max_depth = BW_ONNX_MAX_DEPTH;
	if (sink->lim->max_nesting != 0 && sink->lim->max_nesting < c->max_depth)
		c->max_depth = sink->lim->max_nesting;
	/* pass 1: model-local functions (so their (domain, name) are not custom ops) */
	bw_rd_init(&r, data, len, 0);
	while ((rc = bw_pb_next(&r, &f)) == 1) {
		if (f.num == 25 && f.wire == BW_PB_LEN && c->n_funcs < BW_ONNX_MAX_FUNCS) {
			struct bw_reader fr = f.sub;
			struct bw_pb_field ff;
			struct ox_name *fn = &c->funcs[c->n_funcs];

			memset(fn, 0, sizeof *fn);
			while (bw_pb_next(&fr, &ff) == 1) {
				if (ff.num == 1 && ff.wire == BW_PB_LEN) {
					fn->name = ff.sub.p;
					fn->name_len = ff.sub.len;
				} else if (ff.num == 10 && ff.wire == BW_PB_LEN) {
					fn->dom = ff.sub.p;
					fn->dom_len = ff.sub.len;
				}
			}
			if (fn->name != NULL && fn->dom != NULL)
				c->n_funcs++;
		}
	}
	if (rc < 0)
		ox_bad(c, &r, "the model");
	/* pass 2: queue the top-level bodies */
	bw_rd_init(&r, data, len, 0);
	while (e == BW_OK && bw_pb_next(&r, &f) == 1) {
		if (f.wire != BW_PB_LEN)
			continue;
		if (f.num == 7) {
			e = ox_push(c, &f.sub, 1, OX_GRAPH);
		} else if (f.num == 25) {
			e = ox_push(c, &f.sub, 1, OX_FUNCTION);
		} else if (f.num == 20) { /* TrainingInfoProto: initialization = 1, algorithm = 2 */
			struct bw_reader t = f.sub;
			struct bw_pb_field tf;

			while (e == BW_OK && bw_pb_next(&t, &tf) == 1)
				if ((tf.num == 1 || tf.num == 2) && tf.wire == BW_PB_LEN)
					e = ox_push(c, &tf.sub, 1, OX_GRAPH);
		}
	}
	while (e == BW_OK && c->n_q > 0) {
		struct ox_work wk = c->q[--c->n_q];

		e = ox_body(c, &wk);
	}
	bw_free(c->q);
	bw_free(c);
	return e;
}
